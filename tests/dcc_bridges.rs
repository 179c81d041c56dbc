//! The toy adapter (examples/adapter/toy_adapter.py) over each of the four bridges, through
//! `DccHub`: the conformance suite passes on each, and faults (hang, crash, disconnect, wrong token,
//! garbage, oversized messages, wrong ids) end as the protocol says, with the next call working.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stagecraft::call::{CallContext, Progress};
use stagecraft::config::{BridgeKind, Config, DccConfig};
use stagecraft::dcc::check::run_suite;
use stagecraft::dcc::{AdapterCheckOptions, DccHub, HubOptions, adapter_check};
use tokio_util::sync::CancellationToken;

mod common;
use common::{free_port, toy};

/// Messages above this are refused by the hubs of these tests (the toy's oversize answer is 2 MiB).
const TEST_MAX_MESSAGE: usize = 1024 * 1024;

/// A toy adapter server process, killed when dropped.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_toy(args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new("python3");
    cmd.arg(toy())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server {
        child: cmd.spawn().expect("python3 runs"),
    }
}

/// Starts a toy that listens (`--ws` or `--http`) on a port the OS picks, and returns that port:
/// asking the OS for a free port first and passing it on would race with other tests.
fn spawn_listening_toy(
    mode: &str,
    flags: &[&str],
    env: &[(&str, &str)],
    dir: &std::path::Path,
) -> (Server, u16) {
    let port_file = dir.join(format!("port-{}", mode.trim_start_matches('-')));
    let _ = std::fs::remove_file(&port_file);
    let port_file_s = port_file.display().to_string();
    let mut args = vec![mode, "127.0.0.1:0", "--port-file", port_file_s.as_str()];
    args.extend_from_slice(flags);
    let server = spawn_toy(&args, env);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(port) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            wait_for_tcp(port);
            return (server, port);
        }
        assert!(Instant::now() < until, "the toy adapter did not start");
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// A hub that listens for the DCC on a free port (retrying if another test took the port first).
fn listening_hub(token_env: Option<&str>) -> (DccHub, u16) {
    for _ in 0..10 {
        let port = free_port();
        let config = Config {
            dcc: vec![DccConfig {
                name: "toy".into(),
                bridge: BridgeKind::Websocket,
                endpoint: Some(format!("ws://127.0.0.1:{port}")),
                listen: true,
                token_env: token_env.map(str::to_string),
                token_file: None,
                command: vec![],
                timeout_seconds: 30,
            }],
            ..Config::default()
        };
        let options = HubOptions {
            max_message_bytes: TEST_MAX_MESSAGE,
        };
        if let Ok(hub) = DccHub::with_options(&config, CancellationToken::new(), options) {
            return (hub, port);
        }
    }
    panic!("no free port to listen on");
}

fn wait_for_tcp(port: u16) {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the toy adapter did not start on port {port}");
}

fn wait_for_path(path: &std::path::Path) {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the toy adapter did not create {}", path.display());
}

enum Transport {
    Embedded,
    Http,
    Ws,
    Pipe,
}

/// A running toy adapter plus a hub connected to it as `toy`.
struct Rig {
    hub: DccHub,
    _server: Option<Server>,
    _dir: tempfile::TempDir,
}

fn dcc_config(
    bridge: BridgeKind,
    endpoint: Option<String>,
    command: Vec<String>,
    token_env: Option<&str>,
) -> Config {
    Config {
        dcc: vec![DccConfig {
            name: "toy".into(),
            bridge,
            endpoint,
            listen: false,
            token_env: token_env.map(str::to_string),
            token_file: None,
            command,
            timeout_seconds: 30,
        }],
        ..Config::default()
    }
}

fn hub(config: &Config) -> DccHub {
    DccHub::with_options(
        config,
        CancellationToken::new(),
        HubOptions {
            max_message_bytes: TEST_MAX_MESSAGE,
        },
    )
    .expect("hub")
}

/// Starts the toy on `transport` with extra flags; `server_env` goes to the server process.
fn rig(
    transport: Transport,
    flags: &[&str],
    server_env: &[(&str, &str)],
    token_env: Option<&str>,
) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let (server, config) = match transport {
        Transport::Embedded => {
            let mut command = vec!["python3".to_string(), toy(), "--stdio".into()];
            command.extend(flags.iter().map(|s| s.to_string()));
            (
                None,
                dcc_config(BridgeKind::Embedded, None, command, token_env),
            )
        }
        Transport::Http => {
            let (server, port) = spawn_listening_toy("--http", flags, server_env, dir.path());
            let addr = format!("127.0.0.1:{port}");
            (
                Some(server),
                dcc_config(
                    BridgeKind::Http,
                    Some(format!("http://{addr}/rpc")),
                    vec![],
                    token_env,
                ),
            )
        }
        Transport::Ws => {
            let (server, port) = spawn_listening_toy("--ws", flags, server_env, dir.path());
            let addr = format!("127.0.0.1:{port}");
            (
                Some(server),
                dcc_config(
                    BridgeKind::Websocket,
                    Some(format!("ws://{addr}")),
                    vec![],
                    token_env,
                ),
            )
        }
        Transport::Pipe => {
            let path = dir.path().join("toy.sock");
            let path_s = path.display().to_string();
            let mut args = vec!["--pipe", path_s.as_str()];
            args.extend_from_slice(flags);
            let server = spawn_toy(&args, server_env);
            wait_for_path(&path);
            (
                Some(server),
                dcc_config(
                    BridgeKind::NamedPipe,
                    Some(path_s.clone()),
                    vec![],
                    token_env,
                ),
            )
        }
    };
    Rig {
        hub: hub(&config),
        _server: server,
        _dir: dir,
    }
}

fn call(timeout_secs: f64) -> CallContext {
    CallContext::new(Duration::from_secs_f64(timeout_secs))
}

async fn ok(hub: &DccHub, method: &str, params: Value) -> Value {
    match hub.call(Some("toy"), method, params, &call(20.0)).await {
        Ok(v) => v,
        Err(e) => panic!("{method} failed: {e:?}"),
    }
}

async fn suite_passes(transport: Transport) {
    let rig = rig(transport, &[], &[], None);
    let report = run_suite(&rig.hub, Some("toy"), Duration::from_secs(20)).await;
    assert!(report.passed(), "{}", report.table());
    assert!(
        report
            .rows
            .iter()
            .filter(|r| r.passed == Some(true))
            .count()
            >= 40,
        "{}",
        report.table()
    );
    rig.hub.shutdown().await;
}

#[tokio::test]
async fn embedded_toy_passes_adapter_check() {
    suite_passes(Transport::Embedded).await;
}

#[tokio::test]
async fn http_toy_passes_adapter_check() {
    suite_passes(Transport::Http).await;
}

#[tokio::test]
async fn websocket_toy_passes_adapter_check() {
    suite_passes(Transport::Ws).await;
}

#[tokio::test]
async fn named_pipe_toy_passes_adapter_check() {
    suite_passes(Transport::Pipe).await;
}

#[tokio::test]
async fn adapter_check_entry_point_runs_an_embedded_adapter() {
    let ok = adapter_check(AdapterCheckOptions {
        bridge: BridgeKind::Embedded,
        endpoint: None,
        command: vec![
            "python3".into(),
            toy(),
            "--stdio".into(),
            "--scripts".into(),
        ],
        token_env: None,
        timeout_seconds: 20,
    })
    .await
    .expect("runs");
    assert!(ok);
    // An adapter that is not there fails the check (no hang, no panic).
    let missing = adapter_check(AdapterCheckOptions {
        bridge: BridgeKind::Websocket,
        endpoint: Some(format!("ws://127.0.0.1:{}", free_port())),
        command: vec![],
        token_env: None,
        timeout_seconds: 2,
    })
    .await
    .expect("runs");
    assert!(!missing);
}

#[tokio::test]
async fn websocket_listen_mode_lets_the_dcc_dial_in() {
    let (hub, port) = listening_hub(None);
    let url = format!("ws://127.0.0.1:{port}");
    let _server = spawn_toy(&["--ws-connect", &url], &[]);
    let report = run_suite(&hub, Some("toy"), Duration::from_secs(20)).await;
    assert!(report.passed(), "{}", report.table());
    hub.shutdown().await;
}

#[tokio::test]
async fn websocket_listen_mode_wants_the_token_from_the_dcc() {
    let (hub, port) = listening_hub(Some("PATH"));
    let url = format!("ws://127.0.0.1:{port}");
    // A DCC without the right token is refused at the upgrade and never gets a hello.
    let rogue = spawn_toy(
        &["--ws-connect", &url, "--token-env", "TOY_TOKEN"],
        &[("TOY_TOKEN", "guess")],
    );
    let err = hub
        .call(Some("toy"), "scene.list_objects", json!({}), &call(2.0))
        .await
        .unwrap_err();
    assert_eq!(err.code, "connection_failed", "{err:?}");
    drop(rogue);
    let path = std::env::var("PATH").unwrap();
    let _good = spawn_toy(
        &["--ws-connect", &url, "--token-env", "TOY_TOKEN"],
        &[("TOY_TOKEN", &path)],
    );
    assert!(ok(&hub, "scene.list_objects", json!({})).await.is_array());
    hub.shutdown().await;
}

async fn hang_then_recover(transport: Transport) {
    let rig = rig(
        transport,
        &["--hang-method", "scene.get_selection"],
        &[],
        None,
    );
    ok(&rig.hub, "scene.list_objects", json!({})).await;
    let started = Instant::now();
    let err = rig
        .hub
        .call(Some("toy"), "scene.get_selection", json!({}), &call(1.0))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.code, "timeout", "{err:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The DCC is alive: the next call works on the same connection.
    let listed = ok(&rig.hub, "scene.list_objects", json!({})).await;
    assert!(listed.is_array());
    rig.hub.shutdown().await;
}

async fn frozen_is_not_responding(transport: Transport) {
    let rig = rig(
        transport,
        &["--freeze-on", "scene.get_selection"],
        &[],
        None,
    );
    ok(&rig.hub, "scene.list_objects", json!({})).await;
    let started = Instant::now();
    let err = rig
        .hub
        .call(Some("toy"), "scene.get_selection", json!({}), &call(1.0))
        .await
        .unwrap_err();
    assert_eq!(err.code, "not_responding", "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    rig.hub.shutdown().await;
}

#[tokio::test]
async fn frozen_dcc_is_not_responding() {
    frozen_is_not_responding(Transport::Ws).await;
    frozen_is_not_responding(Transport::Http).await;
    frozen_is_not_responding(Transport::Embedded).await;
}

#[tokio::test]
async fn hang_times_out_at_the_deadline_embedded() {
    hang_then_recover(Transport::Embedded).await;
}

#[tokio::test]
async fn hang_times_out_at_the_deadline_websocket() {
    hang_then_recover(Transport::Ws).await;
}

#[tokio::test]
async fn hang_times_out_at_the_deadline_pipe() {
    hang_then_recover(Transport::Pipe).await;
}

#[tokio::test]
async fn hang_times_out_at_the_deadline_http() {
    hang_then_recover(Transport::Http).await;
}

#[tokio::test]
async fn crash_fails_every_pending_call_at_once_and_embedded_restarts() {
    let rig = rig(
        Transport::Embedded,
        &[
            "--crash-method",
            "scene.get_selection",
            "--hang-method",
            "scene.get_scene_info",
        ],
        &[],
        None,
    );
    let first = ok(&rig.hub, "dcc.hello", json!({})).await;
    let pid = first["info"]["pid"].as_u64().unwrap();
    let hub = Arc::new(rig.hub);
    // One call hangs, then another crashes the process: both fail at once, long before their deadline.
    let hanging = {
        let hub = hub.clone();
        tokio::spawn(async move {
            hub.call(Some("toy"), "scene.get_scene_info", json!({}), &call(20.0))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let crashed = hub
        .call(Some("toy"), "scene.get_selection", json!({}), &call(20.0))
        .await
        .unwrap_err();
    assert_eq!(crashed.code, "connection_failed", "{crashed:?}");
    assert!(crashed.message.contains("exited"), "{crashed:?}");
    let hung = hanging.await.unwrap().unwrap_err();
    assert_eq!(hung.code, "connection_failed", "{hung:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The old process is gone (reaped, not a zombie), and a new one is started in the background
    // without waiting for a call.
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "process {pid} still there"
    );
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = hub.list_connections(Duration::from_secs(1)).await;
        if listed[0].state == "connected" {
            let new_pid = listed[0].info.as_ref().unwrap().pid as u64;
            assert_ne!(new_pid, pid);
            break;
        }
        assert!(
            Instant::now() < until,
            "the embedded DCC was not restarted: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = ok(&hub, "dcc.hello", json!({})).await;
    assert_ne!(again["info"]["pid"].as_u64().unwrap(), pid);
    ok(&hub, "scene.list_objects", json!({})).await;
    hub.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_the_embedded_process() {
    let rig = rig(Transport::Embedded, &[], &[], None);
    let hello = ok(&rig.hub, "dcc.hello", json!({})).await;
    let pid = hello["info"]["pid"].as_u64().unwrap();
    assert!(PathBuf::from(format!("/proc/{pid}")).exists());
    rig.hub.shutdown().await;
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "process {pid} left behind"
    );
    let err = rig
        .hub
        .call(Some("toy"), "scene.list_objects", json!({}), &call(2.0))
        .await
        .unwrap_err();
    assert_eq!(err.code, "connection_failed");
}

#[tokio::test]
async fn disconnect_then_reconnect_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = spawn_listening_toy("--ws", &[], &[], dir.path());
    let addr = format!("127.0.0.1:{port}");
    let hub = hub(&dcc_config(
        BridgeKind::Websocket,
        Some(format!("ws://{addr}")),
        vec![],
        None,
    ));
    ok(
        &hub,
        "scene.create_object",
        json!({"object_type": "cube", "name": "A"}),
    )
    .await;
    drop(server);
    let err = hub
        .call(Some("toy"), "scene.list_objects", json!({}), &call(2.0))
        .await
        .unwrap_err();
    assert_eq!(err.code, "connection_failed", "{err:?}");
    let listed = hub.list_connections(Duration::from_secs(1)).await;
    assert_eq!(listed[0].state, "error");
    assert!(listed[0].last_error.is_some());
    // What the DCC said about itself the last time it was up is still shown.
    assert_eq!(listed[0].info.as_ref().unwrap().dcc_type, "toy");
    assert_eq!(
        hub.supports(Some("toy"), "animation.apply_motion"),
        Some(true)
    );
    // The DCC comes back: the next call reconnects (after a short backoff) and works.
    let _server = spawn_toy(&["--ws", &addr], &[]);
    wait_for_tcp(port);
    let objects = ok(&hub, "scene.list_objects", json!({})).await;
    assert_eq!(objects, json!([]), "a new adapter process has a new scene");
    let listed = hub.list_connections(Duration::from_secs(2)).await;
    assert_eq!(listed[0].state, "connected");
    assert_eq!(listed[0].info.as_ref().unwrap().dcc_type, "toy");
    assert!(
        listed[0]
            .methods
            .iter()
            .any(|m| m == "animation.apply_motion")
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn dropped_connection_reconnects_pipe() {
    let rig = rig(
        Transport::Pipe,
        &["--drop-on", "scene.get_selection"],
        &[],
        None,
    );
    ok(
        &rig.hub,
        "scene.create_object",
        json!({"object_type": "cube", "name": "Kept"}),
    )
    .await;
    let err = rig
        .hub
        .call(Some("toy"), "scene.get_selection", json!({}), &call(10.0))
        .await
        .unwrap_err();
    assert_eq!(err.code, "connection_failed", "{err:?}");
    // Same adapter process, new connection: the scene is still there.
    let objects = ok(&rig.hub, "scene.list_objects", json!({})).await;
    assert_eq!(objects[0]["name"], "Kept");
}

async fn wrong_token(transport: Transport) {
    // The client's token is $PATH (always set); the adapter expects something else.
    let rig = rig(
        transport,
        &["--token-env", "TOY_TOKEN"],
        &[("TOY_TOKEN", "not-the-path")],
        Some("PATH"),
    );
    let err = rig
        .hub
        .call(Some("toy"), "scene.list_objects", json!({}), &call(5.0))
        .await
        .unwrap_err();
    assert_eq!(err.code, "permission_denied", "{err:?}");
    assert!(!err.recoverable);
}

async fn right_token(transport: Transport) {
    let path = std::env::var("PATH").unwrap();
    let rig = rig(
        transport,
        &["--token-env", "TOY_TOKEN"],
        &[("TOY_TOKEN", &path)],
        Some("PATH"),
    );
    ok(&rig.hub, "scene.list_objects", json!({})).await;
}

#[tokio::test]
async fn wrong_token_is_permission_denied_websocket() {
    wrong_token(Transport::Ws).await;
    right_token(Transport::Ws).await;
}

#[tokio::test]
async fn wrong_token_is_permission_denied_http() {
    wrong_token(Transport::Http).await;
    right_token(Transport::Http).await;
}

#[tokio::test]
async fn wrong_token_is_permission_denied_pipe() {
    wrong_token(Transport::Pipe).await;
}

async fn bad_frame_then_recover(transport: Transport, flag: &str) {
    let rig = rig(transport, &[flag, "scene.get_selection"], &[], None);
    ok(&rig.hub, "scene.list_objects", json!({})).await;
    let err = rig
        .hub
        .call(Some("toy"), "scene.get_selection", json!({}), &call(10.0))
        .await
        .unwrap_err();
    assert_eq!(err.code, "connection_failed", "{flag}: {err:?}");
    let objects = ok(&rig.hub, "scene.list_objects", json!({})).await;
    assert!(objects.is_array());
    rig.hub.shutdown().await;
}

#[tokio::test]
async fn garbage_is_dropped_and_the_connection_reopened() {
    bad_frame_then_recover(Transport::Ws, "--garbage-on").await;
    bad_frame_then_recover(Transport::Pipe, "--garbage-on").await;
    bad_frame_then_recover(Transport::Embedded, "--garbage-on").await;
    bad_frame_then_recover(Transport::Http, "--garbage-on").await;
}

#[tokio::test]
async fn oversized_messages_are_dropped_and_the_connection_reopened() {
    bad_frame_then_recover(Transport::Ws, "--oversize-on").await;
    bad_frame_then_recover(Transport::Pipe, "--oversize-on").await;
    bad_frame_then_recover(Transport::Embedded, "--oversize-on").await;
    bad_frame_then_recover(Transport::Http, "--oversize-on").await;
}

#[tokio::test]
async fn answers_with_a_wrong_id_are_ignored() {
    for transport in [Transport::Ws, Transport::Embedded] {
        let rig = rig(
            transport,
            &["--wrong-id-on", "scene.get_selection"],
            &[],
            None,
        );
        assert_eq!(
            ok(&rig.hub, "scene.get_selection", json!({})).await,
            json!([])
        );
        rig.hub.shutdown().await;
    }
}

#[tokio::test]
async fn progress_is_forwarded_and_requests_pipeline() {
    let rig = rig(
        Transport::Ws,
        &["--progress-on", "scene.get_scene_info"],
        &[],
        None,
    );
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let mut c = call(10.0);
    c.progress = Progress::new(move |p, total, _msg| {
        assert!(p >= 1.0 && total == Some(3.0));
        counter.fetch_add(1, Ordering::SeqCst);
    });
    ok(&rig.hub, "scene.get_scene_info", json!({})).await;
    rig.hub
        .call(Some("toy"), "scene.get_scene_info", json!({}), &c)
        .await
        .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 3);

    // Many requests in flight on one connection, matched by id.
    let hub = Arc::new(rig.hub);
    let calls: Vec<_> = (0..12)
        .map(|i| {
            let hub = hub.clone();
            tokio::spawn(async move {
                hub.call(
                    Some("toy"),
                    "scene.create_object",
                    json!({"object_type": "empty", "name": format!("E{i}")}),
                    &call(10.0),
                )
                .await
            })
        })
        .collect();
    for (i, task) in calls.into_iter().enumerate() {
        let o = task.await.unwrap().unwrap();
        assert_eq!(o["name"], format!("E{i}"));
    }
    assert_eq!(
        ok(&hub, "scene.list_objects", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        12
    );
}

#[tokio::test]
async fn remote_errors_keep_their_codes_and_unknown_connections_are_no_dcc() {
    let rig = rig(Transport::Pipe, &[], &[], None);
    let err = rig
        .hub
        .call(
            Some("toy"),
            "transform.get_transform",
            json!({"object_name": "Ghost"}),
            &call(5.0),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "scene_error");
    let err = rig
        .hub
        .call(
            Some("toy"),
            "script.execute",
            json!({"language": "python", "code": "1"}),
            &call(5.0),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code, "unsupported",
        "the toy without --scripts does not advertise scripts"
    );
    let err = rig
        .hub
        .call(Some("nope"), "dcc.ping", json!({}), &call(5.0))
        .await
        .unwrap_err();
    assert_eq!(err.code, "no_dcc");
    // The stage DCC is always there too, after the configured ones.
    assert_eq!(rig.hub.names(), vec!["toy", "stage"]);
    assert_eq!(
        rig.hub
            .call(None, "dcc.ping", json!({}), &call(5.0))
            .await
            .unwrap(),
        json!({"busy": false})
    );
}

#[tokio::test]
async fn nothing_listening_is_connection_failed_quickly() {
    let config = dcc_config(
        BridgeKind::NamedPipe,
        Some("/nonexistent/stagecraft-test.sock".into()),
        vec![],
        None,
    );
    let pipe_hub = hub(&config);
    let started = Instant::now();
    let err = pipe_hub
        .call(Some("toy"), "scene.list_objects", json!({}), &call(10.0))
        .await
        .unwrap_err();
    assert_eq!(err.code, "connection_failed");
    assert!(started.elapsed() < Duration::from_secs(2));
    let config = dcc_config(
        BridgeKind::Embedded,
        None,
        vec!["/nonexistent/dcc".into()],
        None,
    );
    let hub2 = hub(&config);
    let err = hub2
        .call(Some("toy"), "scene.list_objects", json!({}), &call(10.0))
        .await
        .unwrap_err();
    assert_eq!(err.code, "connection_failed");
    assert!(err.message.contains("cannot start"), "{err:?}");
}
