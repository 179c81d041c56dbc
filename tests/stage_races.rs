//! The built-in `stage` DCC under concurrency: heavy work (rendering, glTF encoding, file I/O) runs
//! off the async workers, so other calls and deadlines are not held by it; `scene.open_file` checks
//! for unsaved changes and replaces the scene atomically, so a concurrent edit is never lost.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stagecraft::call::CallContext;
use stagecraft::config::Config;
use stagecraft::dcc::DccHub;
use stagecraft::dispatch::Dispatcher;
use tokio_util::sync::CancellationToken;

fn hub() -> DccHub {
    DccHub::new(&Config::default(), CancellationToken::new()).expect("hub")
}

fn opts() -> CallContext {
    CallContext::new(Duration::from_secs(120))
}

async fn ok(hub: &DccHub, method: &str, params: Value) -> Value {
    match hub.call(None, method, params.clone(), &opts()).await {
        Ok(v) => v,
        Err(e) => panic!("{method} {params} failed: {e:?}"),
    }
}

/// Fills the scene with `count` spheres, so that rendering, saving and loading it take a while.
async fn crowd(hub: &DccHub, count: usize) {
    for i in 0..count {
        let x = (i % 40) as f64 * 30.0 - 600.0;
        let z = (i / 40) as f64 * 30.0 - 600.0;
        ok(
            hub,
            "scene.create_object",
            json!({"name": format!("ball{i}"), "object_type": "sphere", "translate": [x, 0.0, z]}),
        )
        .await;
    }
}

/// A capture that takes a while: software rendering and PNG encoding of 4 megapixels.
fn big_capture() -> Value {
    json!({"width": 2048, "height": 2048})
}

// One worker thread: if the render ran on it, nothing else could run until the render ended.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_capture_does_not_hold_other_calls_or_deadlines() {
    let hub = std::sync::Arc::new(hub());
    crowd(&hub, 20).await;

    // Another call answers while the capture is still rendering.
    let capture = tokio::spawn({
        let hub = hub.clone();
        async move {
            hub.call(None, "render.capture_viewport", big_capture(), &opts())
                .await
        }
    });
    tokio::task::yield_now().await; // let the capture start
    let started = Instant::now();
    let ping = tokio::time::timeout(
        Duration::from_secs(5),
        hub.call(None, "dcc.ping", json!({}), &opts()),
    )
    .await
    .expect("dcc.ping answers while a capture renders");
    assert_eq!(ping.expect("ping"), json!({"busy": false}));
    assert!(
        !capture.is_finished(),
        "the capture should still be rendering when dcc.ping answered (in {:?})",
        started.elapsed()
    );
    let image = capture.await.expect("join").expect("capture");
    assert_eq!(image["width"], 2048);

    // A deadline shorter than the render fires on time instead of when the render ends.
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let err = hub
        .call(
            None,
            "render.capture_viewport",
            big_capture(),
            &CallContext::new(deadline),
        )
        .await
        .expect_err("a 2048x2048 capture does not fit in 300 ms");
    let took = started.elapsed();
    assert_eq!(err.code, "timeout", "{err:?}");
    assert!(
        took < deadline + Duration::from_secs(3),
        "the deadline of {deadline:?} fired after {took:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_save_does_not_hold_other_calls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = std::sync::Arc::new(hub());
    crowd(&hub, 600).await;
    let path = dir.path().join("crowd.gltf");
    let save = tokio::spawn({
        let hub = hub.clone();
        let path = path.display().to_string();
        async move {
            hub.call(None, "scene.save_file", json!({"file_path": path}), &opts())
                .await
        }
    });
    tokio::task::yield_now().await; // let the save start
    let ping = tokio::time::timeout(
        Duration::from_secs(5),
        hub.call(None, "dcc.ping", json!({}), &opts()),
    )
    .await
    .expect("dcc.ping answers while the scene is saved");
    assert_eq!(ping.expect("ping"), json!({"busy": false}));
    assert!(
        !save.is_finished(),
        "the save should still be running when dcc.ping answered"
    );
    save.await.expect("join").expect("save");
    assert!(path.is_file());
}

// The same for `save_motion`: the take is encoded and written on the blocking pool.
#[tokio::test(flavor = "current_thread")]
async fn saving_a_take_does_not_hold_other_calls() {
    let registry = stagecraft::dispatch::shipped_registry(false);
    let tool = |name: &str| {
        registry
            .tools
            .get(name)
            .expect("shipped tool")
            .as_ref()
            .clone()
    };
    let ctx = || CallContext::new(Duration::from_secs(120));
    let d = std::sync::Arc::new(
        Dispatcher::new(
            std::sync::Arc::new(Config::default()),
            CancellationToken::new(),
        )
        .expect("dispatcher"),
    );
    let made = d
        .call(
            &tool("generate_motion"),
            json!({"prompt": "a person walks in a circle", "seconds": 10.0, "num_samples": 4}),
            &ctx(),
        )
        .await
        .expect("generate");
    let take_id = made.structured["take_id"]
        .as_str()
        .expect("take_id")
        .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("walk.gltf");
    let save = tokio::spawn({
        let d = d.clone();
        let args = json!({"take_id": take_id, "path": path});
        let save_tool = tool("save_motion");
        async move { d.call(&save_tool, args, &ctx()).await }
    });
    tokio::task::yield_now().await; // let the save start
    let ping = tokio::time::timeout(
        Duration::from_secs(5),
        d.dccs.call(None, "dcc.ping", json!({}), &opts()),
    )
    .await
    .expect("dcc.ping answers while a take is saved");
    assert_eq!(ping.expect("ping"), json!({"busy": false}));
    assert!(
        !save.is_finished(),
        "the save should still be running when dcc.ping answered"
    );
    let saved = save.await.expect("join").expect("save");
    assert!(saved.structured["bytes"].as_u64().is_some_and(|n| n > 1000));
}

/// Saves a scene big enough that loading it takes a noticeable time, and returns its path.
async fn big_file(dir: &Path) -> String {
    let hub = hub();
    crowd(&hub, 600).await;
    let path = dir.join("big.gltf").display().to_string();
    ok(&hub, "scene.save_file", json!({"file_path": path})).await;
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_racing_open_file_is_never_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = big_file(dir.path()).await;
    let hub = std::sync::Arc::new(hub());
    let mut raced = 0;
    for round in 0..4 {
        // A saved (unmodified) scene: open_file may replace it without `force`.
        ok(&hub, "scene.new_scene", json!({})).await;
        let open = tokio::spawn({
            let hub = hub.clone();
            let path = path.clone();
            async move {
                hub.call(None, "scene.open_file", json!({"file_path": path}), &opts())
                    .await
            }
        });
        // Give open_file a moment to get past its check; the assertions below hold either way.
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Edit while open_file runs; each acknowledged edit must survive, whatever open_file does:
        // either it came first (and open_file refuses: unsaved changes) or it lands on the new scene.
        let mut made = Vec::new();
        let mut during = 0;
        while !open.is_finished() {
            let name = format!("edit{round}_{}", made.len());
            ok(
                &hub,
                "scene.create_object",
                json!({"name": name, "object_type": "empty"}),
            )
            .await;
            made.push(name);
            during += 1;
        }
        let opened = open.await.expect("join");
        if let Err(e) = &opened {
            assert_eq!(e.code, "scene_error", "{e:?}");
            assert!(e.message.contains("unsaved changes"), "{e:?}");
        } else if during > 0 {
            raced += 1;
        }
        let names: HashSet<String> = ok(&hub, "scene.list_objects", json!({}))
            .await
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|o| o["name"].as_str().map(str::to_string))
            .collect();
        let lost: Vec<&String> = made.iter().filter(|n| !names.contains(*n)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: open_file ({}) threw away {} of {} acknowledged edits, the first {:?}",
            if opened.is_ok() {
                "succeeded"
            } else {
                "refused"
            },
            lost.len(),
            made.len(),
            lost.first()
        );
    }
    assert!(
        raced > 0,
        "no round had an edit running alongside a successful open_file; the race was not exercised"
    );
}
