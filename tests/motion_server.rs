//! The MMCP HTTP server in process on a free port, against the reference server's captured answers
//! (tests/fixtures/mmcp-captures/out/*.http) and with the built-in models.

use std::sync::Arc;

use serde_json::{Value, json};
use stagecraft::motion::backbone::{Backbone, Backbones, NullBackbone, ProceduralBackbone};
use stagecraft::motion::wire::Capabilities;
use stagecraft::motion::{gltf, procedural, server};
use tokio_util::sync::CancellationToken;

/// The reference server's answers, kept in the repository (tests/fixtures/mmcp-captures/README.md).
/// A missing capture fails the test: it is a broken checkout, never a reason to pass quietly.
const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mmcp-captures");

struct Running {
    base: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(models: Backbones) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server::serve(models, listener, shutdown.clone()));
        Running {
            base,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), self.task).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "graceful shutdown");
    }
}

fn http_capture(name: &str) -> Option<(u16, Value, String)> {
    let text = std::fs::read_to_string(format!("{CAPTURES}/out/{name}.http")).ok()?;
    let text = &text[text.rfind("HTTP/1.1 ")?..];
    let status: u16 = text.get(9..12)?.parse().ok()?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))?;
    Some((
        status,
        serde_json::from_str(body.trim()).unwrap_or(Value::Null),
        head.to_lowercase(),
    ))
}

/// The reference `null` model: the SDK's five-joint skeleton from its capabilities capture.
fn sdk_null() -> Backbones {
    let (_, caps, _) = http_capture("01-capabilities").expect("out/01-capabilities.http");
    let caps: Capabilities = serde_json::from_value(caps).expect("capabilities capture");
    let skeleton = caps
        .models
        .first()
        .expect("the capture lists the null model")
        .canonical_skeleton
        .clone();
    Backbones::new(vec![Arc::new(NullBackbone {
        id: "null".into(),
        fps: 30.0,
        skeleton,
    })])
    .expect("registry")
}

#[tokio::test]
async fn every_capture_gets_the_reference_status_and_code_over_http() {
    let models = sdk_null();
    let server = Running::start(models).await;
    let client = reqwest::Client::new();
    let dir = std::fs::read_dir(format!("{CAPTURES}/req")).expect("req/ captures");
    let mut compared = 0;
    for entry in dir.flatten() {
        let path = entry.path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        // NaN literals are not JSON; this server refuses them at the parse step (see below).
        if name.starts_with("17") {
            continue;
        }
        let Some((status, want, _)) = http_capture(&name) else {
            continue;
        };
        let body = std::fs::read(&path).expect("request body");
        let response = client
            .post(format!("{}/generate", server.base))
            .header("content-type", "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), status, "{name}");
        assert!(response.headers().contains_key("x-request-id"), "{name}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        let got: Value = response.json().await.expect("json body");
        if status == 200 {
            let expected = if want.get("results").is_some() {
                "application/json"
            } else {
                "model/gltf+json"
            };
            assert_eq!(content_type, expected, "{name}");
        } else {
            assert_eq!(content_type, "application/json", "{name}");
            assert_eq!(got["error"]["code"], want["error"]["code"], "{name}: {got}");
        }
        compared += 1;
    }
    assert!(compared >= 45, "compared {compared}");
    server.stop().await;
}

#[tokio::test]
async fn transport_errors_use_the_envelope() {
    let models = sdk_null();
    let server = Running::start(models).await;
    let client = reqwest::Client::new();
    let base = &server.base;

    // NaN (a Python-only literal) is not JSON: 422 schema_validation, never a 500.
    let nan = std::fs::read(format!(
        "{CAPTURES}/req/17e-nan-skeleton-rest-translation.json"
    ))
    .expect("req/17e capture");
    let r = client
        .post(format!("{base}/generate"))
        .body(nan)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 422);

    // Too big, by Content-Length and chunked.
    let big = vec![b' '; 1_100_000];
    let r = client
        .post(format!("{base}/generate"))
        .body(big.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 413);
    let env: Value = r.json().await.expect("json");
    assert_eq!(
        env["error"]["details"],
        json!({"max_request_bytes": 1048576, "request_bytes": 1100000})
    );
    let chunks = futures::stream::iter(
        big.chunks(65536)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = client
        .post(format!("{base}/generate"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 413);
    let env: Value = r.json().await.expect("json");
    assert_eq!(
        env["error"]["details"],
        json!({"max_request_bytes": 1048576})
    );

    // Wrong paths and methods: 404/405 with the envelope (and Allow), where FastAPI sends {"detail"}.
    for (method, path, status, allow) in [
        (reqwest::Method::GET, "/generate", 405, Some("POST")),
        (reqwest::Method::POST, "/capabilities", 405, Some("GET")),
        (reqwest::Method::GET, "/generate/jobs/abc", 404, None),
        (reqwest::Method::DELETE, "/generate/jobs/abc", 404, None),
    ] {
        let r = client
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        if let Some(allow) = allow {
            assert_eq!(r.headers()["allow"], allow);
        }
        let env: Value = r.json().await.expect("envelope");
        assert!(env["error"]["code"].is_string() && env["error"]["details"].is_object());
    }

    // X-Request-ID is echoed; Idempotency-Key is declined out loud.
    let r = client
        .get(format!("{base}/capabilities"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let body = std::fs::read(format!("{CAPTURES}/req/02-generate-valid-text.json"))
        .expect("req/02 capture");
    let r = client
        .post(format!("{base}/generate"))
        .header("idempotency-key", "k1")
        .body(body.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["idempotency-status"], "declined");

    // GLB only when asked for it alone.
    let r = client
        .post(format!("{base}/generate"))
        .header("accept", "model/gltf-binary")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["content-type"], "model/gltf-binary");
    let bytes = r.bytes().await.expect("glb");
    assert!(gltf::decode(&bytes).is_ok());
    server.stop().await;
}

fn procedural_request(prompt: &str, frames: u32) -> Value {
    json!({
        "protocol_version": "1.4",
        "model": procedural::MODEL_ID,
        "skeleton": procedural::standard_skeleton().to_wire(),
        "segments": [{"type": "text", "prompt": prompt, "duration_frames": frames}],
        "options": {"seed": 1, "num_samples": 2}
    })
}

#[tokio::test]
async fn builtin_models_over_http() {
    let server = Running::start(Backbones::builtin()).await;
    let client = reqwest::Client::new();
    let caps: Value = client
        .get(format!("{}/capabilities", server.base))
        .send()
        .await
        .expect("caps")
        .json()
        .await
        .expect("json");
    assert_eq!(caps["protocol_version"], "1.4");
    let ids: Vec<&str> = caps["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, vec![procedural::MODEL_ID, "null"]);
    assert_eq!(caps["models"][0]["supports_retargeting"], true);
    assert_eq!(caps["models"][0]["supports_loop"], true);

    let r = client
        .post(format!("{}/generate", server.base))
        .json(&procedural_request("a person walks forward and waves", 120))
        .send()
        .await
        .expect("generate");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "model/gltf+json");
    let doc: Value = r.json().await.expect("gltf");
    let ext = &doc["extensions"]["MMCP_motion"];
    assert_eq!(ext["version"], "1.4");
    assert_eq!(ext["fps"], 30.0);
    assert_eq!(ext["samples"].as_array().map(Vec::len), Some(2));
    assert_eq!(ext["samples"][0]["num_frames"], 120);
    assert!(ext["samples"][0]["foot_contacts"]["LeftFoot"].is_array());
    let take = gltf::decode_value(&doc).expect("decodes");
    let s = &take.samples[0];
    assert!(s.root_positions[119][2] - s.root_positions[0][2] > 4.0 * 1.0 * 0.9 * 0.9);

    // A batch: one good item, one refused.
    let batch = json!({"protocol_version": "1.4", "requests": [procedural_request("jump", 30), {"model": "nope"}]});
    let r = client
        .post(format!("{}/generate", server.base))
        .json(&batch)
        .send()
        .await
        .expect("batch");
    assert_eq!(r.status().as_u16(), 200);
    let results: Value = r.json().await.expect("json");
    assert!(results["results"][0]["gltf"].is_object());
    assert_eq!(results["results"][1]["error"]["code"], "schema_validation");
    server.stop().await;
}

#[tokio::test]
async fn serve_builtin_binds_and_stops() {
    // Port 0 is fine for a smoke test of the public entry point.
    let token = CancellationToken::new();
    let task = tokio::spawn(stagecraft::motion::serve_builtin(
        "127.0.0.1",
        0,
        token.clone(),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    token.cancel();
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
    assert!(matches!(result, Ok(Ok(Ok(())))));
    assert_eq!(ProceduralBackbone.model_id(), procedural::MODEL_ID);
}

/// A rig turned in its scene (Proscenium sends world-space offsets): the canonical skeleton with its
/// offsets turned `degrees` about +Y. Over plain HTTP the built-in model must walk it the way it faces,
/// knees forward, hips at their usual height.
#[tokio::test]
async fn builtin_model_walks_a_turned_rig_the_way_it_faces() {
    use glam::{Quat, Vec3};
    let server = Running::start(Backbones::builtin()).await;
    let client = reqwest::Client::new();
    for degrees in [90.0f32, 180.0] {
        let turn = Quat::from_rotation_y(degrees.to_radians());
        let mut skeleton = procedural::standard_skeleton();
        for j in skeleton.joints.iter_mut().filter(|j| j.parent.is_some()) {
            j.rest_translation = (turn * Vec3::from(j.rest_translation)).to_array();
        }
        let mut request = procedural_request("a person walks forward", 90);
        request["skeleton"] = serde_json::to_value(skeleton.to_wire()).expect("skeleton json");
        let r = client
            .post(format!("{}/generate", server.base))
            .json(&request)
            .send()
            .await
            .expect("generate");
        assert_eq!(r.status().as_u16(), 200, "{degrees}°");
        let take = gltf::decode_value(&r.json().await.expect("gltf")).expect("decodes");
        let s = &take.samples[0];
        let facing = turn * Vec3::Z;
        let travel = Vec3::from(s.root_positions[89]) - Vec3::from(s.root_positions[0]);
        assert!(
            travel.dot(facing) > 2.5,
            "{degrees}°: travelled {travel} while facing {facing}"
        );
        let index = |n: &str| take.skeleton.index_of(n).expect("joint");
        for t in (0..90).step_by(5) {
            let p = take.world_positions(s, t);
            assert!(p[index("Hips")].y > 0.8, "{degrees}°: hips sank at {t}");
            for side in ["Left", "Right"] {
                let (hip, knee, ankle) = (
                    p[index(&format!("{side}UpLeg"))],
                    p[index(&format!("{side}Leg"))],
                    p[index(&format!("{side}Foot"))],
                );
                let bend = knee - (hip + ankle) * 0.5;
                assert!(
                    bend.dot(facing) > -0.01,
                    "{degrees}°: {side} knee bends backwards at {t}"
                );
                assert!(
                    bend.dot(Vec3::Y.cross(facing)).abs() < 0.08,
                    "{degrees}°: {side} knee bends sideways at {t}"
                );
            }
        }
    }
    server.stop().await;
}
