//! Motion backend faults the fixture of tests/motion_client.rs does not stage: DNS failure, a
//! backend that trickles its answer byte by byte, 503 with `Retry-After` (retried, then success;
//! and retries that run out), async jobs that expire (404) or fail, a configured backend that is
//! down while the built-in models are there. Each case asserts the exact outcome, and after every
//! fault the same hub still generates from a healthy backend.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use stagecraft::call::CallContext;
use stagecraft::config::{BackendConfig, Config};
use stagecraft::motion::client::HttpBackend;
use stagecraft::motion::take::{Sample, Skeleton, Take};
use stagecraft::motion::wire::GenerateRequest;
use stagecraft::motion::{Backend, GenerateArgs, MotionError, MotionHub, gltf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mmcp");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
}

#[derive(Default)]
struct Fx {
    /// (method, path, idempotency key) of every request.
    hits: Mutex<Vec<(String, String, Option<String>)>>,
    counters: Mutex<HashMap<String, u32>>,
}

impl Fx {
    fn bump(&self, key: &str) -> u32 {
        let mut c = self.counters.lock().unwrap();
        let n = c.entry(key.to_string()).or_insert(0);
        *n += 1;
        *n
    }
    fn hits(&self, scenario: &str, method: &str) -> Vec<(String, String, Option<String>)> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.0 == method && h.1.starts_with(&format!("/{scenario}/")))
            .cloned()
            .collect()
    }
}

/// The request skeleton at rest, the root walking along +Z: a valid answer to any request.
fn answer(req: &GenerateRequest) -> Vec<u8> {
    let skeleton = Skeleton::from_wire(&req.skeleton).expect("skeleton");
    let frames = req.total_frames() as usize;
    let jn = skeleton.joints.len();
    let take = Take {
        model: req.model.clone(),
        version: "1.4".into(),
        fps: 30.0,
        num_frames: frames,
        skeleton,
        samples: vec![Sample {
            rotations: vec![[0.0, 0.0, 0.0, 1.0]; frames * jn],
            root_positions: (0..frames).map(|t| [0.0, 0.95, t as f32 * 0.04]).collect(),
            ..Sample::default()
        }],
        ..Take::default()
    };
    gltf::encode_gltf_json(&take)
}

fn envelope(status: u16, code: &str, retry_after: Option<&str>) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": {"code": code, "message": format!("fixture says {code}"), "details": {}}})
            .to_string(),
    )
        .into_response();
    if let Some(ra) = retry_after {
        r.headers_mut().insert("retry-after", ra.parse().unwrap());
    }
    r
}

fn trickle(bytes: Vec<u8>, chunk: usize, every: Duration, forever: bool) -> Body {
    let stream = futures::stream::unfold((bytes, 0usize), move |(bytes, at)| async move {
        tokio::time::sleep(every).await;
        if at >= bytes.len() {
            if !forever {
                return None;
            }
            // Keep the connection busy with whitespace (valid JSON padding) for ever.
            return Some((Ok::<_, Infallible>(Bytes::from_static(b" ")), (bytes, at)));
        }
        let end = (at + chunk).min(bytes.len());
        let piece = Bytes::copy_from_slice(&bytes[at..end]);
        Some((Ok(piece), (bytes, end)))
    });
    Body::from_stream(stream)
}

async fn handle(
    State(fx): State<Arc<Fx>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    fx.hits.lock().unwrap().push((
        method.to_string(),
        path.clone(),
        headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    ));
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let scenario = parts.next().unwrap_or_default().to_string();
    let rest = parts.next().unwrap_or_default().to_string();
    if rest == "capabilities" {
        return (
            [(header::CONTENT_TYPE, "application/json")],
            fixture("capabilities-null.json"),
        )
            .into_response();
    }
    if let Some(job) = rest.strip_prefix("generate/jobs/") {
        if method == Method::DELETE {
            return StatusCode::NO_CONTENT.into_response();
        }
        return match (scenario.as_str(), job) {
            // Retention expired: the job is gone.
            ("job404", _) => (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"detail\":\"Not Found\"}",
            )
                .into_response(),
            ("jobfail", _) => {
                if fx.bump("jobfail-poll") == 1 {
                    (
                        StatusCode::ACCEPTED,
                        [("retry-after", "0.5")],
                        "{\"status\":\"running\"}",
                    )
                        .into_response()
                } else {
                    envelope(500, "job_failed", None)
                }
            }
            _ => envelope(500, "internal_error", None),
        };
    }
    let req: GenerateRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return envelope(422, "schema_validation", None),
    };
    let gltf_json =
        |bytes: Vec<u8>| ([(header::CONTENT_TYPE, "model/gltf+json")], bytes).into_response();
    match scenario.as_str() {
        "ok" => gltf_json(answer(&req)),
        "retry503" => {
            if fx.bump("retry503") == 1 {
                envelope(503, "model_unavailable", Some("1"))
            } else {
                gltf_json(answer(&req))
            }
        }
        "busy503" => envelope(503, "resource_exhausted", Some("0.2")),
        "slowok" => (
            [(header::CONTENT_TYPE, "model/gltf+json")],
            trickle(answer(&req), 512, Duration::from_millis(5), false),
        )
            .into_response(),
        "slowbytes" => (
            [(header::CONTENT_TYPE, "model/gltf+json")],
            trickle(answer(&req), 1, Duration::from_millis(50), true),
        )
            .into_response(),
        "job404" | "jobfail" => (
            StatusCode::ACCEPTED,
            [
                ("location", format!("/{scenario}/generate/jobs/j1")),
                ("retry-after", "0.5".to_string()),
            ],
            "{\"job_id\":\"j1\"}",
        )
            .into_response(),
        _ => envelope(500, "internal_error", None),
    }
}

async fn start() -> (String, Arc<Fx>) {
    let fx = Arc::new(Fx::default());
    let app = Router::new().fallback(handle).with_state(fx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fx)
}

fn cfg(name: &str, url: String, timeout: u64) -> BackendConfig {
    BackendConfig {
        name: name.into(),
        url,
        api_key_env: None,
        timeout_seconds: timeout,
        connect_timeout_seconds: 2,
        max_response_mb: 64,
    }
}

/// One hub with a healthy backend (`ok`) and every faulty one, as a server would hold them.
fn hub(base: &str) -> MotionHub {
    let mut backends = vec![];
    for (name, timeout) in [
        ("ok", 30),
        ("retry503", 30),
        ("busy503", 30),
        ("slowok", 30),
        ("slowbytes", 2),
        ("job404", 30),
        ("jobfail", 30),
    ] {
        let c = cfg(name, format!("{base}/{name}"), timeout);
        backends.push((
            name.to_string(),
            Backend::Http(Arc::new(HttpBackend::new(&c).unwrap())),
        ));
    }
    let dns = cfg("dns", "http://stagecraft-fault-test.invalid:8000".into(), 5);
    backends.push((
        "dns".into(),
        Backend::Http(Arc::new(HttpBackend::new(&dns).unwrap())),
    ));
    MotionHub::with_backends(backends, 16)
}

fn args() -> GenerateArgs {
    GenerateArgs {
        prompt: Some("walk".into()),
        seconds: Some(0.2),
        ..GenerateArgs::default()
    }
}

async fn generate(
    hub: &MotionHub,
    backend: &str,
) -> Result<stagecraft::motion::Generated, MotionError> {
    let choice = hub.resolve(Some(backend), None).await?;
    hub.generate(
        &choice,
        &args(),
        None,
        &CallContext::new(Duration::from_secs(60)),
    )
    .await
}

/// After a fault, the same hub keeps working.
async fn next_call_works(hub: &MotionHub) {
    let g = generate(hub, "ok")
        .await
        .expect("the healthy backend still answers");
    assert_eq!(g.take.num_frames, 6);
}

#[tokio::test]
async fn dns_failure_is_backend_unreachable_quickly() {
    let (base, _fx) = start().await;
    let hub = hub(&base);
    let t0 = Instant::now();
    let e = generate(&hub, "dns").await.unwrap_err();
    assert_eq!(e.code(), "backend_unreachable", "{e}");
    assert!(e.message().contains("stagecraft-fault-test.invalid"), "{e}");
    assert!(!e.hint().is_empty());
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    next_call_works(&hub).await;
}

#[tokio::test]
async fn a_backend_trickling_bytes_ends_at_the_deadline() {
    let (base, _fx) = start().await;
    let hub = hub(&base);
    // Slow but steady: the answer arrives in 512-byte pieces and is used.
    let g = generate(&hub, "slowok")
        .await
        .expect("a slow answer inside the deadline");
    assert_eq!(g.take.num_frames, 6);
    // One byte every 50 ms for ever: bytes keep coming, so only an overall deadline ends it.
    let t0 = Instant::now();
    let e = generate(&hub, "slowbytes").await.unwrap_err();
    assert_eq!(e.code(), "timeout", "{e}");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "{took:?}"
    );
    next_call_works(&hub).await;
}

#[tokio::test]
async fn retries_503_honouring_retry_after_then_succeeds() {
    let (base, fx) = start().await;
    let hub = hub(&base);
    let t0 = Instant::now();
    let g = generate(&hub, "retry503")
        .await
        .expect("succeeds on the retry");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert_eq!(g.take.num_frames, 6);
    let posts = fx.hits("retry503", "POST");
    assert_eq!(posts.len(), 2, "one retry");
    assert!(
        posts[0].2.is_some() && posts[0].2 == posts[1].2,
        "one Idempotency-Key"
    );

    // Always 503: three retries (four POSTs), then the backend's own code, well inside the deadline.
    let t0 = Instant::now();
    let e = generate(&hub, "busy503").await.unwrap_err();
    assert_eq!(e.code(), "resource_exhausted", "{e}");
    assert_eq!(e.details()["http_status"], 503);
    assert_eq!(fx.hits("busy503", "POST").len(), 4);
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    next_call_works(&hub).await;
}

#[tokio::test]
async fn async_jobs_that_expire_or_fail_end_cleanly() {
    let (base, fx) = start().await;
    let hub = hub(&base);
    // The job expired (404 on poll): a clean error, no DELETE for a job that is gone.
    let t0 = Instant::now();
    let e = generate(&hub, "job404").await.unwrap_err();
    assert_eq!(e.code(), "bad_response", "{e}");
    assert!(e.message().contains("404"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(fx.hits("job404", "DELETE").is_empty());
    // The job failed: the server's code passes through, with the phase and the job's location.
    let e = generate(&hub, "jobfail").await.unwrap_err();
    assert_eq!(e.code(), "job_failed", "{e}");
    assert_eq!(e.details()["phase"], "poll", "{:?}", e.details());
    assert!(
        e.details()["location"]
            .as_str()
            .is_some_and(|l| l.ends_with("/jobfail/generate/jobs/j1")),
        "{:?}",
        e.details()
    );
    assert_eq!(
        fx.hits("jobfail", "GET")
            .iter()
            .filter(|h| h.1.contains("/jobs/"))
            .count(),
        2
    );
    assert!(fx.hits("jobfail", "DELETE").is_empty());
    next_call_works(&hub).await;
}

/// Regression: with the configured backend down, `generate_motion` without a model silently used
/// the built-in procedural model instead, and with an explicit model it said `unknown_model`
/// (sending the agent to look for another model) instead of saying the backend is unreachable.
#[tokio::test]
async fn a_configured_backend_that_is_down_is_reported_not_replaced() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let toml = format!(
        "[[motion.backends]]\nname = \"kimodo\"\nurl = \"http://127.0.0.1:{port}\"\ntimeout_seconds = 5\n"
    );
    let config = Config::parse(&toml, std::path::Path::new("/tmp/stagecraft.toml")).unwrap();
    let hub = MotionHub::new(&config).unwrap();
    let e = hub.resolve(None, None).await.unwrap_err();
    assert_eq!(e.code(), "backend_unreachable", "{e}");
    assert!(e.message().contains("kimodo"), "{e}");
    let e = hub.resolve(None, Some("kimodo-v1")).await.unwrap_err();
    assert_eq!(e.code(), "backend_unreachable", "{e}");
    // The built-in models stay reachable by name, and a model nobody serves is still unknown
    // when every backend answered.
    let choice = hub
        .resolve(None, Some("stagecraft-procedural"))
        .await
        .expect("by name");
    assert_eq!(choice.backend, "builtin");
    let e = hub
        .resolve(Some("builtin"), Some("nope"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_model", "{e}");
    let listed = hub.list_models(false, false).await;
    assert!(!listed.backends[0].ok);
    assert!(listed.default.is_none(), "{listed:?}");
}
