//! Races and limits of the bridge layer (src/bridge/), over real sockets and real processes: a
//! request racing `close()`, the listening websocket under idle or half-open connections, an
//! embedded DCC flooding its stderr, and callers queued behind a reconnect.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stagecraft::bridge::{self, Bridge, BridgeConfig, BridgeError};
use stagecraft::call::CallContext;
use stagecraft::config::BridgeKind;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

mod common;
use common::{free_port, open_fds, rss_kib, toy};

const TEST_MAX_MESSAGE: usize = 1024 * 1024;

/// A toy adapter process, killed when dropped.
struct Toy(Child);

impl Drop for Toy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A toy adapter that dials in to a listening stagecraft at `port`.
fn toy_dialling_in(port: u16) -> Toy {
    let child = Command::new("python3")
        .arg(toy())
        .args(["--ws-connect", &format!("ws://127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    Toy(child)
}

fn config(kind: BridgeKind, endpoint: Option<String>) -> BridgeConfig {
    BridgeConfig {
        kind,
        endpoint,
        listen: false,
        command: vec![],
        token: None,
        max_message_bytes: TEST_MAX_MESSAGE,
    }
}

/// A bridge that listens for the DCC on a free port (retrying if another test took the port).
fn listening_bridge() -> (Arc<dyn Bridge>, u16) {
    for _ in 0..10 {
        let port = free_port();
        let config = BridgeConfig {
            listen: true,
            ..config(
                BridgeKind::Websocket,
                Some(format!("ws://127.0.0.1:{port}")),
            )
        };
        if let Ok(bridge) = bridge::open(config, CancellationToken::new()) {
            return (bridge, port);
        }
    }
    panic!("no free port to listen on");
}

fn is_connection_failed(result: &Result<Value, BridgeError>) -> bool {
    matches!(result, Err(BridgeError::ConnectionFailed(_)))
}

/// A named-pipe "DCC" that answers `dcc.hello` and then stops reading, like a DCC whose main
/// thread hangs with the socket open: what stagecraft writes piles up until the socket is full.
async fn dcc_that_stops_reading(path: PathBuf) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::UnixListener::bind(&path).expect("bind a unix socket");
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        // One connection only: a reconnection attempt is refused at once.
        drop(listener);
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let Ok(Some(hello)) = lines.next_line().await else {
            return;
        };
        let id = serde_json::from_str::<Value>(&hello).expect("hello is JSON")["id"].clone();
        let answer = json!({"jsonrpc": "2.0", "id": id, "result": {"protocol": bridge::PROTOCOL}});
        let _ = write.write_all(format!("{answer}\n").as_bytes()).await;
        // Keep the connection open, reading nothing, until the test ends.
        std::future::pending::<()>().await;
        drop(lines);
    })
}

/// docs/bridge-protocol.md#deadlines-cancellation-and-failures: when the connection closes, every
/// pending request fails at once with CONNECTION_FAILED. That includes requests still waiting to be
/// written because the DCC stopped reading, and `close()` itself must not hang on that writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_stuck_behind_a_full_socket_fail_at_once_when_the_bridge_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dcc.sock");
    let dcc = dcc_that_stops_reading(path.clone()).await;
    let bridge = bridge::open(
        config(BridgeKind::NamedPipe, Some(path.display().to_string())),
        CancellationToken::new(),
    )
    .unwrap();
    bridge
        .hello(&CallContext::new(Duration::from_secs(20)))
        .await
        .expect("handshake");

    // 64 KiB each: the socket buffers (a few hundred KiB) and the link's queue (64 messages) fill
    // long before 100.
    let params = json!({"pad": "x".repeat(64 * 1024)});
    let mut calls = Vec::new();
    for _ in 0..100 {
        let bridge = bridge.clone();
        let params = params.clone();
        calls.push(tokio::spawn(async move {
            let options = CallContext::new(Duration::from_secs(120));
            bridge.request("toy.echo", params, &options).await
        }));
    }
    // Let the writer block on the full socket and later callers block on the full queue.
    tokio::time::sleep(Duration::from_millis(500)).await;

    tokio::time::timeout(Duration::from_secs(4), bridge.close())
        .await
        .expect("close() returns promptly even though the DCC stopped reading");
    // Far less than the calls' 120 s deadline, and generous for a loaded machine.
    let results = tokio::time::timeout(Duration::from_secs(20), futures::future::join_all(calls))
        .await
        .expect("requests racing close() must not wait out their deadline");
    for result in results {
        let result = result.unwrap();
        assert!(
            is_connection_failed(&result),
            "expected CONNECTION_FAILED, got {result:?}"
        );
    }
    dcc.abort();
}

/// A connection that never finishes the websocket upgrade is dropped after
/// `bridge::HANDSHAKE_TIMEOUT`, instead of holding a task and a descriptor for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_drops_a_connection_that_never_finishes_its_handshake() {
    let (bridge, port) = listening_bridge();
    let mut idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the listener accepts TCP");
    // Half an upgrade request, then nothing.
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(
        bridge::HANDSHAKE_TIMEOUT + Duration::from_secs(10),
        idle.read(&mut buf),
    )
    .await
    .expect("the listener closes a connection stuck in its handshake");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected the connection closed, read {read:?}"
    );
    assert!(started.elapsed() >= bridge::HANDSHAKE_TIMEOUT - Duration::from_millis(500));
    bridge.close().await;
}

/// Many idle connections do not each get a handshake task and a descriptor: at most
/// `bridge::MAX_PENDING_HANDSHAKES` are taken off the backlog at a time, and once they go a real DCC
/// dials in as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_caps_concurrent_handshakes() {
    const IDLE: usize = 120;
    let (bridge, port) = listening_bridge();
    let before = open_fds();
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("the kernel queues the connection"),
        );
    }
    // Give an uncapped listener ample time to accept them all (it takes milliseconds).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown = open_fds().saturating_sub(before);
    // Our own IDLE client sockets, the accepted ones, and slack for other tests in this binary.
    assert!(
        grown <= IDLE + bridge::MAX_PENDING_HANDSHAKES + 16,
        "{grown} new descriptors for {IDLE} idle connections: the listener accepted them all"
    );

    drop(idle);
    let _toy = toy_dialling_in(port);
    bridge
        .hello(&CallContext::new(Duration::from_secs(30)))
        .await
        .expect("a real DCC dials in once the idle connections are gone");
    bridge.close().await;
}

/// An embedded DCC that writes a huge stderr line (no newline) must not make stagecraft hold it in
/// memory: stderr lines are bounded like stdout lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_stderr_line_does_not_grow_memory() {
    const FLOOD_MIB: u64 = 384;
    let script = format!(
        "head -c {} /dev/zero >&2; exec python3 {} --stdio",
        FLOOD_MIB * 1024 * 1024,
        shlex_quote(&toy())
    );
    let bridge = bridge::open(
        BridgeConfig {
            command: vec!["sh".into(), "-c".into(), script],
            ..config(BridgeKind::Embedded, None)
        },
        CancellationToken::new(),
    )
    .unwrap();
    let before = rss_kib();
    // `head` only finishes (and the toy only starts) once stagecraft has read the whole flood.
    bridge
        .hello(&CallContext::new(Duration::from_secs(60)))
        .await
        .expect("the DCC starts after its stderr flood");
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    bridge.close().await;
    assert!(
        grown_mib < FLOOD_MIB / 4,
        "memory grew by {grown_mib} MiB reading a {FLOOD_MIB} MiB stderr line"
    );
}

fn shlex_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A call that arrives while another call is (re)connecting waits for that connection within its
/// own deadline; if the deadline passes first it says so (CONNECTION_FAILED), not "the DCC is busy"
/// (TIMEOUT) after 0.0 s. A call with time to spare gets the new session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_behind_a_reconnect_wait_within_their_deadline_and_get_an_honest_error() {
    let (bridge, port) = listening_bridge();
    // The first call connects: it waits for a DCC to dial in.
    let connecting = {
        let bridge = bridge.clone();
        tokio::spawn(async move {
            bridge
                .hello(&CallContext::new(Duration::from_secs(60)))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let short = bridge
        .request(
            "scene.get_selection",
            json!({}),
            &CallContext::new(Duration::from_secs(1)),
        )
        .await;
    let waited = started.elapsed();
    match &short {
        Err(BridgeError::ConnectionFailed(message)) => assert!(
            message.contains("connect"),
            "the error should say a connection is under way: {message}"
        ),
        other => panic!("expected CONNECTION_FAILED, got {other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "the call should wait out its own 1 s deadline, waited {waited:?}"
    );

    // A call with time to spare waits for the connection and then succeeds.
    let patient = {
        let bridge = bridge.clone();
        tokio::spawn(async move {
            bridge
                .request(
                    "scene.get_selection",
                    json!({}),
                    &CallContext::new(Duration::from_secs(60)),
                )
                .await
        })
    };
    let _toy = toy_dialling_in(port);
    connecting
        .await
        .unwrap()
        .expect("the connecting call gets the DCC");
    patient
        .await
        .unwrap()
        .expect("the waiting call gets the same session");
    bridge.close().await;
}

/// CPU time (user + system, in clock ticks) a process has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of proc(5); here, after `pid (comm)`, at 11 and 12.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// When `accept` fails (here: the process is out of descriptors while a connection waits in the
/// backlog), the listener backs off instead of retrying in a loop that burns a core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_backs_off_when_accept_fails() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("stagecraft.toml");
    std::fs::write(
        &config,
        format!(
            "[[dcc]]\nname = \"toy\"\nbridge = \"websocket\"\nendpoint = \"ws://127.0.0.1:{port}\"\nlisten = true\n"
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(["serve", "--log-level", "error"])
        .env("STAGECRAFT_CONFIG", &config)
        // The MCP server runs on stdio and ends when stdin closes: keep it open.
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("stagecraft runs");
    let server = Toy(child);
    let pid = server.0.id();

    let until = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < until,
            "stagecraft never listened on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Limit descriptors to those below the lowest free one: the next accept fails with EMFILE.
    let open: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let lowest_free = (0..).find(|n| !open.contains(n)).unwrap();
    let limited = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={lowest_free}"),
        ])
        .status()
        .expect("prlimit runs");
    assert!(limited.success());
    let waiting = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the kernel queues the connection");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid) - before;
    // Clock ticks are 1/100 s: 50 ticks in 2 s is a quarter of a core. Idle is near 0; a retry loop
    // takes as much of a core as it can get.
    assert!(
        used < 50,
        "stagecraft used {used} CPU ticks in 2 s while accept kept failing"
    );
    drop(waiting);
}
