//! Property-based fuzzing of bridge framing and the JSON-RPC session above it (src/bridge/link.rs,
//! session.rs, stream.rs): a fake DCC on a Unix socket (the named_pipe transport, one JSON message
//! per line) says hello properly, then answers a request with an arbitrary sequence of frames —
//! the right answer, answers with wrong or odd ids, error answers, `$/progress` / `$/log` /
//! `$/event` notifications with arbitrary params, requests from the DCC, garbage bytes, non-UTF-8,
//! JSON that is not an object, deeply nested JSON, lines over the size limit, blank lines — and then
//! hangs up or stays connected.
//!
//! Properties: nothing panics; the call ends within its deadline (plus the liveness ping), with the
//! exact answer when the first frame is the right answer, and with `CONNECTION_FAILED` when the DCC
//! sent only garbage and hung up; and the next call on the same hub works (the session recovers,
//! reconnecting when needed). Bounded case count for CI; `PROPTEST_CASES` raises it.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value, json};
use stagecraft::call::CallContext;
use stagecraft::config::{BridgeKind, Config, DccConfig};
use stagecraft::dcc::{DccHub, HubOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

/// Lines above this are refused by the hub under test (small, so oversize is cheap to stage).
const MAX: usize = 4096;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
});

const HELLO: &str = r#"{"protocol": "stagecraft-bridge/1", "info": {"dcc_type": "fuzz", "version": "1.0", "platform": "linux", "pid": 1, "metadata": {}}, "capabilities": {"script_languages": [], "scene_info": true, "snapshot": false, "undo_redo": false, "progress_reporting": true, "file_operations": false, "selection": true, "scene_manager": true, "transform": true, "render_capture": false, "hierarchy": true, "animation": false, "has_embedded_python": false, "extensions": {}}, "methods": ["dcc.hello", "dcc.ping", "scene.list_objects", "scene.get_selection"]}"#;

fn objects() -> Value {
    json!([{"name": "Cube", "long_name": "Cube", "object_type": "cube", "parent": null, "visible": true, "metadata": {}}])
}

#[derive(Debug, Clone)]
enum Frame {
    /// The right answer to the request.
    Answer,
    /// A result of the wrong shape for scene.list_objects.
    WrongShape(Value),
    /// An answer under an id that is not pending (never one of the next few ids).
    OtherId(Value),
    /// A JSON-RPC error answer.
    Error(String, i64),
    Progress(Value),
    Log(Value),
    Event(Value),
    /// The DCC sends a request of its own (stagecraft answers -32601).
    Request(String),
    Garbage(Vec<u8>),
    NotAnObject(Value),
    Nested(usize),
    Overlong(usize),
    BadUtf8,
    Blank,
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_$]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        2 => Just(Frame::Answer),
        1 => any_json().prop_map(Frame::WrongShape),
        2 => prop_oneof![
            Just(json!(0)),
            Just(json!(-1)),
            Just(json!(1_000_000)),
            Just(json!(u64::MAX)),
            Just(json!(2.5)),
            Just(json!("2")),
            Just(Value::Null),
            Just(json!([2])),
        ].prop_map(Frame::OtherId),
        1 => ("[A-Z_]{0,20}", any::<i64>()).prop_map(|(c, n)| Frame::Error(c, n)),
        2 => any_json().prop_map(Frame::Progress),
        1 => any_json().prop_map(Frame::Log),
        1 => any_json().prop_map(Frame::Event),
        1 => "[a-z./$]{0,16}".prop_map(Frame::Request),
        2 => proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 1..64)
            .prop_map(Frame::Garbage),
        1 => prop_oneof![Just(json!([1, 2])), Just(json!(3)), Just(json!("x")), Just(Value::Null)]
            .prop_map(Frame::NotAnObject),
        1 => (100usize..400).prop_map(Frame::Nested),
        1 => (MAX + 1..MAX * 3).prop_map(Frame::Overlong),
        1 => Just(Frame::BadUtf8),
        1 => Just(Frame::Blank),
    ]
}

fn render(frame: &Frame, id: &Value) -> Vec<u8> {
    let mut line = match frame {
        Frame::Answer => json!({"jsonrpc": "2.0", "id": id, "result": objects()}).to_string().into_bytes(),
        Frame::WrongShape(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}).to_string().into_bytes(),
        Frame::OtherId(other) => json!({"jsonrpc": "2.0", "id": other, "result": objects()}).to_string().into_bytes(),
        Frame::Error(code, n) => json!({"jsonrpc": "2.0", "id": id, "error": {"code": n, "message": "fuzz", "data": {"code": code, "recoverable": n % 2 == 0}}}).to_string().into_bytes(),
        Frame::Progress(p) => {
            let mut params = json!({"id": id, "progress": 1, "total": 3});
            if let (Value::Object(m), Value::Object(extra)) = (&mut params, p) {
                m.extend(extra.clone());
            } else {
                params = p.clone();
            }
            json!({"jsonrpc": "2.0", "method": "$/progress", "params": params}).to_string().into_bytes()
        }
        Frame::Log(p) => json!({"jsonrpc": "2.0", "method": "$/log", "params": p}).to_string().into_bytes(),
        Frame::Event(p) => json!({"jsonrpc": "2.0", "method": "$/event", "params": p}).to_string().into_bytes(),
        Frame::Request(m) => json!({"jsonrpc": "2.0", "id": 77, "method": m, "params": {}}).to_string().into_bytes(),
        Frame::Garbage(b) => b.clone(),
        Frame::NotAnObject(v) => v.to_string().into_bytes(),
        Frame::Nested(depth) => {
            let mut s = String::from("{\"jsonrpc\":\"2.0\",\"id\":");
            s.push_str(&id.to_string());
            s.push_str(",\"result\":");
            s.push_str(&"[".repeat(*depth));
            s.push_str(&"]".repeat(*depth));
            s.push('}');
            s.into_bytes()
        }
        Frame::Overlong(n) => {
            let mut s = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":\"");
            s.push_str(&"x".repeat(*n));
            s.push_str("\"}");
            s.into_bytes()
        }
        Frame::BadUtf8 => {
            let mut b = json!({"jsonrpc": "2.0", "id": id, "result": "AB"}).to_string().into_bytes();
            let at = b.len() - 4;
            b[at] = 0xff;
            b[at + 1] = 0xfe;
            b
        }
        Frame::Blank => b"   ".to_vec(),
    };
    line.push(b'\n');
    line
}

/// Serves connections on `listener`: hello and ping always; the first other request of the first
/// connection gets `frames`, then the connection is dropped (`hang_up`) or keeps answering.
async fn fake_dcc(
    listener: UnixListener,
    frames: Vec<Frame>,
    hang_up: bool,
    accepted: &'static AtomicUsize,
) {
    let mut first = true;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        accepted.fetch_add(1, Ordering::SeqCst);
        let fuzz = std::mem::take(&mut first).then(|| frames.clone());
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r).lines();
            let mut fuzz = fuzz;
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let Some(id) = msg.get("id").cloned() else {
                    continue;
                };
                let method = msg["method"].as_str().unwrap_or_default().to_string();
                let answer = match method.as_str() {
                    "dcc.hello" => {
                        format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{HELLO}}}\n")
                            .into_bytes()
                    }
                    "dcc.ping" => json!({"jsonrpc": "2.0", "id": id, "result": {"busy": false}})
                        .to_string()
                        .into_bytes(),
                    _ => match fuzz.take() {
                        Some(frames) => {
                            let bytes: Vec<u8> =
                                frames.iter().flat_map(|f| render(f, &id)).collect();
                            if w.write_all(&bytes).await.is_err() || hang_up {
                                return;
                            }
                            continue;
                        }
                        None => json!({"jsonrpc": "2.0", "id": id, "result": objects()})
                            .to_string()
                            .into_bytes(),
                    },
                };
                let mut answer = answer;
                if answer.last() != Some(&b'\n') {
                    answer.push(b'\n');
                }
                if w.write_all(&answer).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn hub_for(path: &std::path::Path) -> DccHub {
    let config = Config {
        dcc: vec![DccConfig {
            name: "fz".into(),
            bridge: BridgeKind::NamedPipe,
            endpoint: Some(path.display().to_string()),
            listen: false,
            token_env: None,
            token_file: None,
            command: vec![],
            timeout_seconds: 30,
        }],
        ..Config::default()
    };
    DccHub::with_options(
        &config,
        CancellationToken::new(),
        HubOptions {
            max_message_bytes: MAX,
        },
    )
    .expect("hub")
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(150)
}

fn run_case(frames: Vec<Frame>, hang_up: bool) -> Result<(), TestCaseError> {
    static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
    RT.block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("dcc.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let server = tokio::spawn(fake_dcc(listener, frames.clone(), hang_up, &ACCEPTED));
        let hub = hub_for(&path);
        // The handshake first, so the fuzzed frames answer a request, not the hello.
        hub.call(
            Some("fz"),
            "dcc.ping",
            json!({}),
            &CallContext::new(Duration::from_secs(5)),
        )
        .await
        .map_err(|e| TestCaseError::fail(format!("ping before the fuzz: {e:?}")))?;

        let deadline = Duration::from_millis(400);
        let t0 = Instant::now();
        let r = hub
            .call(
                Some("fz"),
                "scene.list_objects",
                json!({}),
                &CallContext::new(deadline),
            )
            .await;
        let took = t0.elapsed();
        // The deadline, then at most the liveness ping (1.5 s) and slack for a loaded CI machine.
        prop_assert!(
            took < Duration::from_millis(4500),
            "took {took:?} for {frames:?}"
        );
        match (&frames[0], &r) {
            (Frame::Answer, Ok(v)) => prop_assert_eq!(v, &objects()),
            (Frame::Answer, Err(e)) => {
                prop_assert!(false, "the right answer came first, got {e:?}")
            }
            (_, Err(e)) => {
                prop_assert!(
                    !e.code.as_str().is_empty() && !e.message.is_empty(),
                    "{e:?}"
                );
                let garbage_only = frames.iter().all(|f| {
                    matches!(
                        f,
                        Frame::Garbage(_) | Frame::NotAnObject(_) | Frame::Overlong(_)
                    )
                });
                if garbage_only && hang_up {
                    prop_assert_eq!(e.code.as_str(), "connection_failed", "{:?}", e);
                }
            }
            (_, Ok(_)) => {}
        }
        // The next call works: on the same session when it survived, else after a reconnection
        // (a short backoff at most).
        let mut next = None;
        for _ in 0..3 {
            match hub
                .call(
                    Some("fz"),
                    "scene.list_objects",
                    json!({}),
                    &CallContext::new(Duration::from_secs(5)),
                )
                .await
            {
                Ok(v) => {
                    next = Some(v);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
        prop_assert_eq!(next, Some(objects()), "no recovery after {:?}", frames);
        hub.shutdown().await;
        server.abort();
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_adapter_frames_end_cleanly_and_the_next_call_works(
        frames in proptest::collection::vec(frame(), 1..6),
        hang_up in any::<bool>(),
    ) {
        run_case(frames, hang_up)?;
    }
}

/// A few named sequences, always run (whatever proptest happens to draw).
#[test]
fn named_frame_sequences() {
    let cases: Vec<(Vec<Frame>, bool)> = vec![
        (vec![Frame::Garbage(b"not json".to_vec())], true),
        (vec![Frame::Overlong(MAX * 2), Frame::Answer], false),
        (vec![Frame::OtherId(json!(u64::MAX)), Frame::Answer], false),
        (
            vec![Frame::Progress(json!({"progress": "NaN"})), Frame::Answer],
            false,
        ),
        (vec![Frame::Nested(300)], false),
        (vec![Frame::BadUtf8], true),
        (
            vec![Frame::Request("scene.list_objects".into()), Frame::Answer],
            false,
        ),
        (
            vec![
                Frame::Blank,
                Frame::Log(json!({"level": "error", "message": 5})),
                Frame::Answer,
            ],
            true,
        ),
        (vec![Frame::Error("SCENE_ERROR".into(), -32000)], false),
    ];
    for (frames, hang_up) in cases {
        run_case(frames.clone(), hang_up).unwrap_or_else(|e| panic!("{frames:?}: {e}"));
    }
}
