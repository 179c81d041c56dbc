//! The MMCP client against a fixture MMCP server (axum, 127.0.0.1, port 0) that answers each way
//! real servers and proxies do: glTF JSON and GLB, sparse channels, several samples, async jobs,
//! retries, and every malformed or hostile answer of docs/mmcp.md#errors and #client.
//!
//! The fixture server picks its behaviour from the first path segment: a backend configured with
//! url `http://127.0.0.1:PORT/<scenario>` gets `<scenario>`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use glam::Quat;
use serde_json::{Value, json};
use stagecraft::call::{CallContext, Progress};
use stagecraft::config::{BackendConfig, Config};
use stagecraft::dispatch::Dispatcher;
use stagecraft::motion::client::HttpBackend;
use stagecraft::motion::take::{Sample, Skeleton, Take};
use stagecraft::motion::wire::GenerateRequest;
use stagecraft::motion::{Backend, BackendKind, GenerateArgs, MotionError, MotionHub, gltf};
use stagecraft::skills::{Binding, ToolSpec};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mmcp");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

#[derive(Debug, Clone)]
struct Hit {
    method: String,
    path: String,
    idempotency_key: Option<String>,
}

#[derive(Default)]
struct Fixture {
    hits: Mutex<Vec<Hit>>,
    counters: Mutex<HashMap<String, u32>>,
    deletes: AtomicUsize,
}

impl Fixture {
    fn count(&self, key: &str) -> u32 {
        let mut c = self.counters.lock().expect("lock");
        let n = c.entry(key.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    fn hits(&self, scenario: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .expect("lock")
            .iter()
            .filter(|h| h.path.starts_with(&format!("/{scenario}/")))
            .cloned()
            .collect()
    }
}

/// A take on the request skeleton: sample b rotates the root by 0.1·b rad per frame about Y.
fn answer_take(req: &GenerateRequest) -> Take {
    let skeleton = Skeleton::from_wire(&req.skeleton).expect("fixture gets valid skeletons");
    let frames = req.total_frames() as usize;
    let jn = skeleton.joints.len();
    let samples = (0..req.num_samples())
        .map(|b| {
            let mut rotations = Vec::with_capacity(frames * jn);
            for t in 0..frames {
                for j in 0..jn {
                    rotations.push(if j == 0 {
                        Quat::from_rotation_y(0.1 * b as f32 * t as f32).to_array()
                    } else {
                        [0.0, 0.0, 0.0, 1.0]
                    });
                }
            }
            Sample {
                rotations,
                root_positions: (0..frames).map(|t| [0.0, 0.95, t as f32 * 0.04]).collect(),
                ..Sample::default()
            }
        })
        .collect();
    Take {
        model: req.model.clone(),
        version: "1.4".into(),
        fps: 30.0,
        num_frames: frames,
        skeleton,
        samples,
        notes: vec![
            json!({"code": "fixture", "severity": "info", "message": "made by the fixture"}),
        ],
        ..Take::default()
    }
}

fn gltf_json(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "model/gltf+json")], bytes).into_response()
}

fn envelope(status: u16, code: &str, message: &str, details: Value) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": {"code": code, "message": message, "details": details}}).to_string(),
    )
        .into_response()
}

async fn handle(
    State(fx): State<Arc<Fixture>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    fx.hits.lock().expect("lock").push(Hit {
        method: method.to_string(),
        path: path.clone(),
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let scenario = parts.next().unwrap_or_default().to_string();
    let rest = parts.next().unwrap_or_default().to_string();

    if rest == "capabilities" {
        if scenario == "v2" {
            let mut v: Value =
                serde_json::from_slice(&fixture("capabilities-null.json")).expect("caps");
            v["protocol_version"] = json!("2.0");
            v["brand_new_field"] = json!({"x": 1});
            return ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response();
        }
        let caps = if scenario == "full" {
            fixture("capabilities-full.json")
        } else {
            fixture("capabilities-null.json")
        };
        return ([(header::CONTENT_TYPE, "application/json")], caps).into_response();
    }
    if rest.starts_with("generate/jobs/") {
        if method == Method::DELETE {
            fx.deletes.fetch_add(1, Ordering::SeqCst);
            return StatusCode::NO_CONTENT.into_response();
        }
        if scenario == "asyncslow" {
            return (
                StatusCode::ACCEPTED,
                [("retry-after", "0.5")],
                "{\"status\":\"running\"}",
            )
                .into_response();
        }
        let n = fx.count(&format!("{scenario}-poll"));
        if n == 1 {
            return (
                StatusCode::ACCEPTED,
                [("retry-after", "0.5"), ("content-type", "application/json")],
                "{\"status\":\"running\",\"progress\":0.5}",
            )
                .into_response();
        }
        return gltf_json(fixture("02-dense.gltf"));
    }
    if rest != "generate" || method != Method::POST {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"detail\":\"Not Found\"}",
        )
            .into_response();
    }
    let req: Option<GenerateRequest> = serde_json::from_slice(&body).ok();
    let ok = |req: &Option<GenerateRequest>| match req {
        Some(r) => gltf_json(gltf::encode_gltf_json(&answer_take(r))),
        None => envelope(422, "schema_validation", "bad request body", json!({})),
    };
    match scenario.as_str() {
        "ok" | "full" | "samples" => ok(&req),
        "glb" => match &req {
            Some(r) => (
                [(header::CONTENT_TYPE, "model/gltf-binary")],
                gltf::encode_glb(&answer_take(r)),
            )
                .into_response(),
            None => envelope(422, "schema_validation", "bad", json!({})),
        },
        "sparse" => gltf_json(fixture("d01-sparse.gltf")),
        "retry429" => {
            if fx.count("retry429") == 1 {
                let mut r = envelope(429, "rate_limited", "slow down", json!({}));
                r.headers_mut()
                    .insert("retry-after", "1".parse().expect("hv"));
                r
            } else {
                ok(&req)
            }
        }
        "quota" => envelope(
            429,
            "quota_exceeded",
            "quota used up",
            json!({"upgrade_url": "https://x"}),
        ),
        "async" => (
            StatusCode::ACCEPTED,
            // An absolute Location on a foreign host: only its path may be used.
            [
                ("location", "http://203.0.113.9:9/async/generate/jobs/j1"),
                ("retry-after", "0.5"),
            ],
            "{\"job_id\":\"j1\"}",
        )
            .into_response(),
        "asyncslow" => (
            StatusCode::ACCEPTED,
            [
                ("location", "/asyncslow/generate/jobs/j2"),
                ("retry-after", "0.5"),
            ],
            "",
        )
            .into_response(),
        "nolocation" => StatusCode::ACCEPTED.into_response(),
        "envelope" => envelope(
            400,
            "unknown_joint",
            "joint 'LeftHand' is not in the request skeleton",
            json!({"skeleton_joints": ["Head", "Hips"]}),
        ),
        "text500" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Internal Server Error",
        )
            .into_response(),
        "fastapi" => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"detail\":\"Method Not Allowed\"}",
        )
            .into_response(),
        "html502" => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        )
            .into_response(),
        "empty200" => gltf_json(Vec::new()),
        "truncated" => {
            let b = fixture("02-dense.gltf");
            gltf_json(b[..b.len() / 2].to_vec())
        }
        "oob" => {
            let mut doc: Value = serde_json::from_slice(&fixture("02-dense.gltf")).expect("json");
            doc["accessors"][3]["count"] = json!(400);
            gltf_json(serde_json::to_vec(&doc).expect("json"))
        }
        "nan" => {
            let take = answer_take(req.as_ref().expect("request"));
            let mut doc: Value =
                serde_json::from_slice(&gltf::encode_gltf_json(&take)).expect("json");
            let uri = doc["buffers"][0]["uri"].as_str().expect("uri").to_string();
            let (head, b64) = uri.split_once(',').expect("data uri");
            use base64::Engine as _;
            let mut bin = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("b64");
            // Byte 20 lies in the first rotation output (after the clock of a few frames).
            let at = bin.len() - 8;
            bin[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
            doc["buffers"][0]["uri"] = json!(format!(
                "{head},{}",
                base64::engine::general_purpose::STANDARD.encode(&bin)
            ));
            gltf_json(serde_json::to_vec(&doc).expect("json"))
        }
        "huge" => {
            // 110 MiB streamed without Content-Length: the client must stop reading at its bound.
            let chunks = futures::stream::iter(
                (0..110).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b' '; 1 << 20]))),
            );
            (
                [(header::CONTENT_TYPE, "model/gltf+json")],
                Body::from_stream(chunks),
            )
                .into_response()
        }
        "hugelen" => {
            let body = vec![b' '; 70 << 20];
            gltf_json(body)
        }
        "hang" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        "auth" => {
            let want = format!("Bearer {}", std::env::var("PATH").unwrap_or_default());
            if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str()) {
                ok(&req)
            } else {
                envelope(401, "unauthorized", "token missing", json!({}))
            }
        }
        _ => envelope(500, "internal_error", "unknown scenario", json!({})),
    }
}

async fn start() -> (String, Arc<Fixture>) {
    let fx = Arc::new(Fixture::default());
    let app = Router::new().fallback(handle).with_state(fx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fx)
}

fn backend_config(base: &str, scenario: &str, timeout: u64) -> BackendConfig {
    BackendConfig {
        name: scenario.to_string(),
        url: format!("{base}/{scenario}"),
        api_key_env: None,
        timeout_seconds: timeout,
        connect_timeout_seconds: 2,
        max_response_mb: 64,
    }
}

fn hub_for(cfg: &BackendConfig) -> MotionHub {
    let b = HttpBackend::new(cfg).expect("backend");
    MotionHub::with_backends(vec![(cfg.name.clone(), Backend::Http(Arc::new(b)))], 8)
}

fn args(prompt: &str, seconds: f64) -> GenerateArgs {
    GenerateArgs {
        prompt: Some(prompt.into()),
        seconds: Some(seconds),
        ..GenerateArgs::default()
    }
}

async fn run(
    base: &str,
    scenario: &str,
    timeout: u64,
    a: &GenerateArgs,
) -> Result<stagecraft::motion::Generated, MotionError> {
    let cfg = backend_config(base, scenario, timeout);
    let hub = hub_for(&cfg);
    let choice = hub.resolve(None, None).await?;
    hub.generate(&choice, a, None, &CallContext::new(Duration::from_secs(60)))
        .await
}

#[tokio::test]
async fn generates_json_and_glb_with_several_samples() {
    let (base, fx) = start().await;
    let mut a = args("a person walks", 1.0);
    a.num_samples = Some(3);
    a.seed = Some(7);
    for scenario in ["samples", "glb"] {
        let g = run(&base, scenario, 30, &a).await.expect(scenario);
        assert_eq!(g.take.num_frames, 30, "{scenario}");
        assert_eq!(g.take.samples.len(), 3);
        assert_eq!(g.model, "null");
        assert!(g.take_id.starts_with("take_"));
        // Sample 2 turns the root 0.2 rad per frame; sample 0 not at all.
        let jn = g.take.skeleton.joints.len();
        let q2 = Quat::from_array(g.take.samples[2].rotations[10 * jn]);
        assert!(
            (q2.angle_between(Quat::IDENTITY) - 2.0).abs() < 1e-3,
            "{q2:?}"
        );
        assert_eq!(g.take.samples[0].rotations[10 * jn], [0.0, 0.0, 0.0, 1.0]);
        assert!((g.take.samples[1].root_positions[29][2] - 29.0 * 0.04).abs() < 1e-5);
        assert_eq!(g.take.notes[0]["code"], "fixture");
    }
    // The request carried only advertised options, with num_samples and seed.
    let post = fx
        .hits("samples")
        .into_iter()
        .find(|h| h.method == "POST")
        .expect("post");
    assert!(post.idempotency_key.is_some());
}

#[tokio::test]
async fn sends_only_what_the_model_advertises() {
    let (base, _fx) = start().await;
    let cfg = backend_config(&base, "ok", 30);
    let hub = hub_for(&cfg);
    let choice = hub
        .resolve(None, Some("NULL"))
        .await
        .expect("case-insensitive model");
    // `null` supports neither loop nor segment seeds nor ground_height.
    let mut a = args("wave", 1.0);
    a.loop_ = Some(true);
    let e = MotionHub::build_request(&choice, &a, None).unwrap_err();
    assert_eq!(e.code(), "invalid_options");
    let a = GenerateArgs {
        segments: Some(vec![
            json!({"prompt": "walk", "seconds": 1.0, "seed": 3}),
            json!({"seconds": 0.5}),
        ]),
        ..GenerateArgs::default()
    };
    let (req, notes) = MotionHub::build_request(&choice, &a, None).expect("request");
    let v = serde_json::to_value(&req).expect("json");
    assert_eq!(
        v["segments"][0],
        json!({"type": "text", "prompt": "walk", "duration_frames": 30})
    );
    assert_eq!(
        v["segments"][1],
        json!({"type": "unconditioned", "duration_frames": 15})
    );
    assert!(v.get("options").is_none(), "{v}");
    assert!(notes[0].contains("seed"), "{notes:?}");
    // Local checks mirror the server's codes.
    let bad = |c: Value| GenerateArgs {
        constraints: Some(vec![c]),
        ..args("walk", 1.0)
    };
    let e = MotionHub::build_request(
        &choice,
        &bad(json!({"type": "ground_height", "points": [[0, 0, 0]]})),
        None,
    )
    .unwrap_err();
    assert_eq!(e.code(), "unsupported_constraint");
    let e = MotionHub::build_request(
        &choice,
        &bad(json!({"type": "effector_target", "joint": "LeftHand", "frames": [1], "positions": [[0, 1, 0]]})),
        None,
    )
    .unwrap_err();
    assert_eq!(e.code(), "unknown_joint");
    assert!(
        e.details()["skeleton_joints"]
            .as_array()
            .is_some_and(|a| a.len() == 5)
    );
    let e = MotionHub::build_request(
        &choice,
        &bad(json!({"type": "root_path", "frames": [0, 30], "positions_xz": [[0, 0], [1, 0]]})),
        None,
    )
    .unwrap_err();
    assert_eq!(e.code(), "frame_out_of_range");
    assert_eq!(e.details()["total_frames"], 30);
    let e = hub.resolve(None, Some("kimodo")).await.unwrap_err();
    assert_eq!(e.code(), "unknown_model");
    assert_eq!(e.details()["available_models"], json!(["null"]));
    // The full model accepts the same extras.
    let cfg = backend_config(&base, "full", 30);
    let hub = hub_for(&cfg);
    let choice = hub.resolve(None, None).await.expect("demo-full");
    let mut a = args("walk", 1.0);
    a.loop_ = Some(true);
    a.options = serde_json::from_value(json!({
        "keyframe_budget": 0.01, "model_options": {"style": "happy"},
        "guidance": {"type": "separated", "weight": [2.0, 1.5]}, "diffusion_steps": 25
    }))
    .expect("options");
    let (req, _) = MotionHub::build_request(&choice, &a, None).expect("loop ok");
    let o = &serde_json::to_value(&req).expect("json")["options"];
    assert_eq!(o["loop"], true);
    assert_eq!(o["keyframe_budget"], 0.01);
    assert_eq!(o["model_options"]["style"], "happy");
    assert_eq!(o["diffusion_steps"], 25);
    a.options = serde_json::from_value(json!({"model_options": {"colour": 1}})).expect("options");
    let e = MotionHub::build_request(&choice, &a, None).unwrap_err();
    assert_eq!(e.code(), "invalid_options");
    assert_eq!(e.details()["option"], "colour");
    // ...and the null model refuses keyframe_budget locally.
    let cfg = backend_config(&base, "ok", 30);
    let choice = hub_for(&cfg).resolve(None, None).await.expect("null");
    let mut a = args("walk", 1.0);
    a.options = serde_json::from_value(json!({"keyframe_budget": 0.01})).expect("options");
    assert_eq!(
        MotionHub::build_request(&choice, &a, None)
            .unwrap_err()
            .code(),
        "invalid_options"
    );
}

#[tokio::test]
async fn sparse_channels_from_the_wire() {
    let (base, _fx) = start().await;
    let g = run(&base, "sparse", 30, &args("x", 0.2))
        .await
        .expect("sparse");
    assert_eq!(g.take.num_frames, 6);
    let s = &g.take.samples[0];
    assert!((s.rotations[3 * 6 + 1][1] - 0.17903).abs() < 1e-5);
    assert!((s.root_positions[3][2] - 0.12).abs() < 1e-4);
    assert_eq!(s.foot_contacts["LeftFoot"], vec![true; 6]);
}

#[tokio::test]
async fn retries_429_honouring_retry_after_with_one_idempotency_key() {
    let (base, fx) = start().await;
    let t0 = Instant::now();
    let g = run(&base, "retry429", 30, &args("walk", 0.5))
        .await
        .expect("after retry");
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(950), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(g.take.num_frames, 15);
    let posts: Vec<Hit> = fx
        .hits("retry429")
        .into_iter()
        .filter(|h| h.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(posts[0].idempotency_key.is_some());
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
    // quota_exceeded travels as 429 but is never retried.
    let e = run(&base, "quota", 30, &args("walk", 0.5))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "quota_exceeded");
    assert_eq!(
        fx.hits("quota")
            .iter()
            .filter(|h| h.method == "POST")
            .count(),
        1
    );
}

struct Recorder(Mutex<Vec<(f64, Option<f64>, String)>>);

impl Recorder {
    fn report(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        self.0.lock().expect("lock").push((
            progress,
            total,
            message.unwrap_or_default().to_string(),
        ));
    }
}

#[tokio::test]
async fn async_job_polls_to_completion_on_the_configured_origin() {
    let (base, fx) = start().await;
    let cfg = backend_config(&base, "async", 30);
    let hub = hub_for(&cfg);
    let choice = hub.resolve(None, None).await.expect("choice");
    let seen = Arc::new(Mutex::new(Vec::<(f64, String)>::new()));
    let s2 = seen.clone();
    let mut opts = CallContext::new(Duration::from_secs(30));
    opts.progress = Progress::new(move |p, _t, m| {
        let m = m.unwrap_or_default();
        s2.lock().expect("lock").push((p, m.to_string()));
    });
    let g = hub
        .generate(&choice, &args("walk", 0.2), None, &opts)
        .await
        .expect("job result");
    assert_eq!(g.take.num_frames, 4); // the dense capture the job returns
    let polls = fx
        .hits("async")
        .into_iter()
        .filter(|h| h.method == "GET" && h.path.contains("/jobs/"))
        .count();
    assert_eq!(polls, 2);
    let seen = seen.lock().expect("lock").clone();
    assert!(seen.iter().any(|(_, m)| m.contains("50%")), "{seen:?}");
    // MCP progress must increase with every notification.
    assert!(seen.windows(2).all(|w| w[1].0 > w[0].0), "{seen:?}");
    let e = run(&base, "nolocation", 30, &args("walk", 0.2))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "bad_response");
}

#[tokio::test]
async fn cancelling_an_async_job_deletes_it() {
    let (base, fx) = start().await;
    let cfg = backend_config(&base, "asyncslow", 30);
    let hub = Arc::new(hub_for(&cfg));
    let choice = hub.resolve(None, None).await.expect("choice");
    let opts = CallContext::new(Duration::from_secs(30));
    let cancel = opts.cancel.clone();
    let h2 = hub.clone();
    let task =
        tokio::spawn(async move { h2.generate(&choice, &args("walk", 0.2), None, &opts).await });
    tokio::time::sleep(Duration::from_millis(1200)).await;
    cancel.cancel();
    let r = tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("returns promptly")
        .expect("join");
    assert_eq!(r.unwrap_err().code(), "cancelled");
    let t0 = Instant::now();
    while fx.deletes.load(Ordering::SeqCst) == 0 && t0.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        fx.deletes.load(Ordering::SeqCst),
        1,
        "DELETE /generate/jobs/j2 seen"
    );
    assert!(
        fx.hits("asyncslow")
            .iter()
            .any(|h| h.method == "DELETE" && h.path == "/asyncslow/generate/jobs/j2")
    );
}

#[tokio::test]
async fn every_malformed_answer_is_a_clean_error() {
    let (base, _fx) = start().await;
    let a = args("walk", 0.2);
    let cases = [
        ("envelope", "unknown_joint"),
        ("text500", "internal_error"),
        ("fastapi", "bad_response"),
        ("html502", "backend_unreachable"),
        ("empty200", "bad_response"),
        ("truncated", "bad_response"),
        ("oob", "bad_response"),
        ("nan", "bad_response"),
    ];
    for (scenario, code) in cases {
        let e = run(&base, scenario, 30, &a).await.unwrap_err();
        assert_eq!(e.code(), code, "{scenario}: {e}");
        assert!(!e.hint().is_empty());
    }
    let e = run(&base, "envelope", 30, &a).await.unwrap_err();
    assert_eq!(e.details()["skeleton_joints"], json!(["Head", "Hips"]));
    assert_eq!(e.details()["http_status"], 400);
    assert!(e.message().contains("LeftHand"));
    let e = run(&base, "html502", 30, &a).await.unwrap_err();
    assert!(e.message().contains("502 Bad Gateway"), "{e}");
    let e = run(&base, "nan", 30, &a).await.unwrap_err();
    assert!(e.message().contains("non-finite"), "{e}");
    let e = run(&base, "v2", 30, &a).await.unwrap_err();
    assert_eq!(e.code(), "version_unsupported");
    let e = run(&base, "fastapi", 30, &a).await.unwrap_err();
    assert!(e.message().contains("Method Not Allowed"), "{e}");
}

#[tokio::test]
async fn oversized_answers_are_refused_without_buffering() {
    let (base, _fx) = start().await;
    for scenario in ["huge", "hugelen"] {
        let t0 = Instant::now();
        let e = run(&base, scenario, 60, &args("walk", 0.2))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "bad_response", "{scenario}: {e}");
        assert!(e.message().contains("max_response_mb"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(30));
    }
}

#[tokio::test]
async fn unreachable_and_silent_backends_end_within_their_deadline() {
    let (base, _fx) = start().await;
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cfg = BackendConfig {
        name: "gone".into(),
        url: format!("http://127.0.0.1:{port}"),
        api_key_env: None,
        timeout_seconds: 3,
        connect_timeout_seconds: 1,
        max_response_mb: 64,
    };
    let hub = hub_for(&cfg);
    let t0 = Instant::now();
    let e = hub.resolve(None, None).await.unwrap_err();
    assert_eq!(e.code(), "backend_unreachable", "{e}");
    assert!(t0.elapsed() < Duration::from_secs(3));
    // POST to a refused port: retried with backoff, still inside timeout_seconds.
    let b = HttpBackend::new(&cfg).expect("backend");
    let req: GenerateRequest = serde_json::from_value(json!({
        "protocol_version": "1.4", "model": "null",
        "skeleton": {"joints": [{"name": "Hips", "parent": null, "rest_translation": [0, 1, 0]}]},
        "segments": [{"type": "text", "prompt": "x", "duration_frames": 3}]
    }))
    .expect("request");
    let t0 = Instant::now();
    let e = b
        .generate(&req, &CallContext::new(Duration::from_secs(60)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "backend_unreachable");
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "retried: {:?}",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    // A backend that accepts and never answers: the deadline, not a hang.
    let t0 = Instant::now();
    let e = run(&base, "hang", 1, &args("walk", 0.2)).await.unwrap_err();
    assert_eq!(e.code(), "timeout", "{e}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn bearer_token_from_api_key_env() {
    let (base, _fx) = start().await;
    let mut cfg = backend_config(&base, "auth", 30);
    // PATH is always set: the token is its value, no environment mutation needed.
    cfg.api_key_env = Some("PATH".into());
    let hub = hub_for(&cfg);
    let choice = hub.resolve(None, None).await.expect("choice");
    hub.generate(
        &choice,
        &args("walk", 0.2),
        None,
        &CallContext::new(Duration::from_secs(10)),
    )
    .await
    .expect("authorised");
    let cfg = backend_config(&base, "auth", 30);
    let e = run(&base, &cfg.name, 30, &args("walk", 0.2))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unauthorized");
}

/// The shipped tool of that name, as the server would dispatch it.
fn tool(name: &str, method: &str) -> ToolSpec {
    let registry = stagecraft::dispatch::shipped_registry(false);
    let spec = registry
        .tools
        .get(name)
        .expect("shipped tool")
        .as_ref()
        .clone();
    assert_eq!(spec.binding, Binding::Call(method.into()));
    spec
}

#[tokio::test]
async fn tools_generate_preview_save_and_errors() {
    let (base, _fx) = start().await;
    let toml = format!("[[motion.backends]]\nname = \"fx\"\nurl = \"{base}/async\"\n");
    let config =
        Config::parse(&toml, std::path::Path::new("/tmp/stagecraft.toml")).expect("config");
    let d = Dispatcher::new(Arc::new(config), tokio_util::sync::CancellationToken::new())
        .expect("dispatcher");
    let rec = Arc::new(Recorder(Mutex::new(Vec::new())));
    let mut ctx = CallContext::new(Duration::from_secs(30));
    let sink = rec.clone();
    ctx.progress = Progress::new(move |p, total, message| sink.report(p, total, message));

    let listed = d
        .call(
            &tool("list_motion_models", "motion.list_models"),
            json!({}),
            &ctx.clone(),
        )
        .await
        .expect("list");
    let b = &listed.structured["backends"][0];
    assert_eq!(b["name"], "fx");
    assert_eq!(b["models"][0]["id"], "null");
    // The summary names the joints; `full` adds the rest skeleton.
    assert_eq!(b["models"][0]["joints"].as_array().map(Vec::len), Some(5));
    assert!(b["models"][0].get("canonical_skeleton").is_none(), "{b}");
    let full = d
        .call(
            &tool("list_motion_models", "motion.list_models"),
            json!({"full": true}),
            &ctx.clone(),
        )
        .await
        .expect("list full");
    assert_eq!(
        full.structured["backends"][0]["models"][0]["canonical_skeleton"]["joints"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );

    let dir = tempfile::tempdir().expect("tmp");
    let save_path = dir.path().join("walk.glb");
    let out = d
        .call(
            &tool("generate_motion", "motion.generate"),
            json!({"prompt": "walk", "seconds": 0.2, "save_path": save_path}),
            &ctx.clone(),
        )
        .await
        .expect("generate");
    let s = &out.structured;
    let take_id = s["take_id"].as_str().expect("take_id").to_string();
    assert_eq!(s["backend"], "fx");
    assert_eq!(s["frames"], 4);
    assert!(s["saved"]["bytes"].as_u64().is_some_and(|n| n > 100));
    assert!(gltf::decode(&std::fs::read(&save_path).expect("saved")).is_ok());
    assert!(
        !rec.0.lock().expect("lock").is_empty(),
        "progress was reported"
    );
    assert!(d.motion.list_takes().contains(&take_id));
    assert_eq!(d.motion.read_take(&take_id).expect("resource")["frames"], 4);

    let p = d
        .call(
            &tool("preview_motion", "motion.preview"),
            json!({"take_id": take_id}),
            &ctx.clone(),
        )
        .await
        .expect("preview");
    assert_eq!(p.images.len(), 1);
    assert_eq!(p.images[0].mime_type, "image/png");

    let gltf_path = dir.path().join("walk.gltf");
    let saved = d
        .call(
            &tool("save_motion", "motion.save"),
            json!({"take_id": take_id, "path": gltf_path}),
            &ctx.clone(),
        )
        .await
        .expect("save");
    assert_eq!(saved.structured["format"], "gltf");
    let e = d
        .call(
            &tool("save_motion", "motion.save"),
            json!({"take_id": take_id, "path": dir.path().join("walk.fbx")}),
            &ctx.clone(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_arguments");
    // The DCC side is not built in this branch: apply fails cleanly and keeps the take id.
    let e = d
        .call(
            &tool("apply_motion", "motion.apply"),
            json!({"take_id": take_id, "armature": "Armature"}),
            &ctx.clone(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.details["take_id"], json!(take_id));
    assert!(e.hint.is_some());
    let e = d
        .call(
            &tool("preview_motion", "motion.preview"),
            json!({"take_id": "take_00000000"}),
            &ctx.clone(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "unknown_take");
    assert!(e.hint.is_some());
}

/// Against the real Python reference server (`python -m motionmcp.null_backbone`), when
/// `MMCP_REFERENCE_URL` names it: list, generate, decode, and every error code it produces.
#[tokio::test]
async fn reference_server_when_configured() {
    let Some(url) = std::env::var("MMCP_REFERENCE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let cfg = BackendConfig {
        name: "reference".into(),
        url,
        api_key_env: None,
        timeout_seconds: 60,
        connect_timeout_seconds: 5,
        max_response_mb: 64,
    };
    let hub = hub_for(&cfg);
    let listed = hub.list_models(true, false).await;
    assert!(listed.backends[0].ok, "{listed:?}");
    assert_eq!(listed.backends[0].protocol_version.as_deref(), Some("1.4"));
    let choice = hub.resolve(None, Some("null")).await.expect("null model");

    let mut a = args("a person waves", 1.0);
    a.num_samples = Some(2);
    a.seed = Some(3);
    a.constraints = Some(vec![json!({
        "type": "root_path", "frames": [0, 29], "positions_xz": [[0.0, 0.0], [0.5, 0.2]]
    })]);
    let g = hub
        .generate(
            &choice,
            &a,
            None,
            &CallContext::new(Duration::from_secs(60)),
        )
        .await
        .expect("generate");
    assert_eq!(g.take.num_frames, 30);
    assert_eq!(g.take.samples.len(), 2);
    assert_eq!(g.take.version, "1.4");
    let names: Vec<&str> = g.take.skeleton.names().collect();
    let canonical: Vec<&str> = choice.spec.canonical_skeleton.names().collect();
    assert_eq!(names, canonical);
    assert!(g.take.samples[0].trajectory.is_some());

    // Raw requests past the local checks, to see the server's own codes.
    let backend = HttpBackend::new(&cfg).expect("backend");
    let base = serde_json::to_value(
        MotionHub::build_request(&choice, &args("walk", 1.0), None)
            .expect("request")
            .0,
    )
    .expect("json");
    let send = |mutate: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        mutate(&mut v);
        serde_json::from_value::<GenerateRequest>(v).expect("typed")
    };
    let cases: Vec<(&str, GenerateRequest)> = vec![
        ("unknown_model", send(&|v| v["model"] = json!("nope"))),
        (
            "invalid_skeleton",
            send(&|v| v["skeleton"]["joints"][1]["parent"] = Value::Null),
        ),
        (
            "retargeting_unsupported",
            send(&|v| v["skeleton"]["joints"][2]["name"] = json!("Skull")),
        ),
        (
            "frame_out_of_range",
            send(&|v| {
                v["constraints"] =
                    json!([{"type": "root_path", "frames": [30], "positions_xz": [[0, 0]]}])
            }),
        ),
        (
            "unknown_joint",
            send(
                &|v| v["constraints"] = json!([{"type": "effector_target", "joint": "LeftHand", "frames": [1], "positions": [[0, 1, 0]]}]),
            ),
        ),
        (
            "unsupported_constraint",
            send(&|v| v["constraints"] = json!([{"type": "ground_height", "points": [[0, 0, 0]]}])),
        ),
        (
            "unsupported_segment",
            send(&|v| v["segments"] = json!([{"type": "pose", "prompt": "t-pose"}])),
        ),
        (
            "invalid_options",
            send(&|v| v["segments"][0]["duration_frames"] = json!(5000)),
        ),
        (
            "schema_validation",
            send(&|v| {
                v["constraints"] = json!([{"type": "root_path", "frames": [5, 2], "positions_xz": [[0, 0], [1, 0]]}])
            }),
        ),
    ];
    for (code, req) in cases {
        let e = backend
            .generate(&req, &CallContext::new(Duration::from_secs(30)))
            .await
            .expect_err(code);
        assert_eq!(e.code(), code, "{e}");
        assert!(!e.hint().is_empty());
        if code == "unknown_joint" {
            assert!(
                e.details()["skeleton_joints"]
                    .as_array()
                    .is_some_and(|a| a.len() == 5)
            );
        }
        if code == "frame_out_of_range" {
            assert_eq!(e.details()["total_frames"], 30);
        }
    }
}

#[tokio::test]
async fn generate_cli_writes_glb_and_preview_from_a_backend_url() {
    let (base, _fx) = start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("walk.glb");
    let png = dir.path().join("walk.png");
    stagecraft::motion::generate_cli(
        &Config::default(),
        stagecraft::motion::GenerateOptions {
            prompt: "a person walks".into(),
            seconds: 1.0,
            out: out.clone(),
            preview: Some(png.clone()),
            model: None,
            backend: Some(format!("{base}/glb")),
            seed: Some(1),
            samples: Some(2),
            json: true,
            open: false,
        },
    )
    .await
    .expect("generate");
    let take = gltf::decode(&std::fs::read(&out).expect("glb")).expect("decode");
    assert_eq!((take.num_frames, take.samples.len()), (30, 2));
    assert!(std::fs::read(&png).expect("png").starts_with(b"\x89PNG"));
}

/// A tiny in-process model: the request skeleton at rest, the root moving along +Z.
struct StillModel;

impl stagecraft::motion::backbone::Backbone for StillModel {
    fn capabilities(&self) -> stagecraft::motion::wire::ModelSpec {
        let caps: stagecraft::motion::wire::Capabilities =
            serde_json::from_slice(&fixture("capabilities-null.json")).expect("caps");
        let mut spec = caps.models[0].clone();
        spec.id = "still".into();
        spec
    }

    fn generate(
        &self,
        request: &GenerateRequest,
    ) -> Result<Take, stagecraft::motion::wire::MmcpError> {
        if request.segments.iter().any(|s| match s {
            stagecraft::motion::wire::Segment::Text(t) => t.prompt == "fail",
            _ => false,
        }) {
            return Err(stagecraft::motion::wire::MmcpError::new(
                "resource_exhausted",
                "out of memory",
            ));
        }
        let mut take = answer_take(request);
        take.model = "still".into();
        Ok(take)
    }
}

#[tokio::test]
async fn in_process_backend_generates_and_passes_errors_through() {
    let hub = MotionHub::with_backends(
        vec![("builtin".into(), Backend::InProcess(Arc::new(StillModel)))],
        4,
    );
    let listed = hub.list_models(false, false).await;
    assert_eq!(listed.backends[0].kind, BackendKind::Builtin);
    assert_eq!(
        listed.default.as_ref().map(|d| d.model.as_str()),
        Some("still")
    );
    let choice = hub.resolve(Some("builtin"), None).await.expect("choice");
    let mut a = args("walk", 0.5);
    a.num_samples = Some(2);
    let g = hub
        .generate(
            &choice,
            &a,
            None,
            &CallContext::new(Duration::from_secs(10)),
        )
        .await
        .expect("in-process");
    assert_eq!((g.take.num_frames, g.take.samples.len()), (15, 2));
    assert_eq!(
        hub.read_take(&g.take_id).expect("summary")["backend"],
        "builtin"
    );
    let e = hub
        .generate(
            &choice,
            &args("fail", 0.5),
            None,
            &CallContext::new(Duration::from_secs(10)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "resource_exhausted");
    assert_eq!(e.details()["http_status"], 503);
    let e = hub.resolve(Some("nope"), None).await.unwrap_err();
    assert_eq!(e.code(), "no_backend");
}
