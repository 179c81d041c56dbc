//! The wire types against the reference server's captured capabilities, requests and errors.

use super::*;

/// The reference server's answers, kept in the repository (tests/fixtures/mmcp-captures/README.md).
const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mmcp-captures");

fn capture_text(path: &str) -> String {
    std::fs::read_to_string(format!("{CAPTURES}/{path}"))
        .unwrap_or_else(|e| panic!("capture {path}: {e}"))
}

fn http_body(path: &str) -> String {
    let text = capture_text(path);
    let (_, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or_else(|| panic!("capture {path}: no HTTP body"));
    body.to_string()
}

#[test]
fn parses_null_and_full_capabilities() {
    let body = http_body("out/01-capabilities.http");
    let caps: Capabilities = serde_json::from_str(&body).expect("null caps");
    let null = caps.model("NULL").expect("case-insensitive id");
    assert_eq!(null.id, "null");
    assert_eq!(null.canonical_skeleton.joints.len(), 5);
    assert!(null.supports_batch && !null.supports_loop);
    let sk =
        crate::motion::take::Skeleton::from_wire(&null.canonical_skeleton).expect("valid skeleton");
    assert_eq!(sk.joints[3].parent, Some(0));

    let body = http_body("out-demo/d00-capabilities-full.http");
    let caps: Capabilities = serde_json::from_str(&body).expect("full caps");
    let m = &caps.models[0];
    assert_eq!(m.model_options.len(), 5);
    assert_eq!(m.model_options[3].kind, "enum");
    assert_eq!(m.limits.max_reference_frames, Some(300));
    assert!(m.supports_segment("video_reference"));
}

#[test]
fn lenient_capabilities_default_missing_fields_and_ignore_unknown() {
    let caps: Capabilities = serde_json::from_str(
        r#"{"models":[{"id":"m","fps":30,"future_flag":true,
            "canonical_skeleton":{"joints":[{"name":"Hips","parent":null,"rest_translation":[0,1,0]}]}}],
            "something_new":{"a":1}}"#,
    )
    .expect("lenient");
    let m = &caps.models[0];
    assert!(!m.supports_joint_translation && m.model_options.is_empty());
    assert_eq!(m.supported_segments, vec!["text", "unconditioned"]);
    assert_eq!(m.limits.max_num_samples, 16);
    assert_eq!(
        m.canonical_skeleton.joints[0].rest_rotation,
        [0.0, 0.0, 0.0, 1.0]
    );
}

#[test]
fn request_captures_round_trip_and_unknown_fields_refused() {
    for name in [
        "req/02-generate-valid-text.json",
        "req/03-generate-valid-2samples-constraints.json",
        "req/04-generate-valid-constraints-only.json",
        "req-demo/d01-keyframes-jointtranslation-contacts-notes.json",
        "req-demo/d11-motion-reference-ok.json",
        "req-demo/d16-video-reference-inline-ok.json",
        "req-demo/d20-ground-height-ok.json",
    ] {
        let text = capture_text(name);
        let req: GenerateRequest =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = serde_json::to_value(&req).expect("serialise");
        let again: GenerateRequest = serde_json::from_value(back).expect("reparse");
        assert_eq!(req, again, "{name}");
    }
    let err = serde_json::from_str::<GenerateRequest>(
        r#"{"protocol_version":"1.4","model":"m","skeleton":{"joints":[]},
            "segments":[{"type":"text","prompt":"x","duration_frames":3,"fidelity":1}]}"#,
    );
    assert!(err.is_err());
}

#[test]
fn envelope_and_status() {
    let body = r#"{"error":{"code":"unknown_joint","message":"m","details":null}}"#;
    let env: ErrorEnvelope = serde_json::from_str(body).expect("envelope");
    assert_eq!(env.error.details, serde_json::json!({}));
    assert_eq!(MmcpError::new("frame_out_of_range", "x").status, 400);
    assert_eq!(MmcpError::new("rate_limited", "x").status, 429);
    assert_eq!(parse_version("1.10"), Some((1, 10)));
    assert_eq!(parse_version("1"), None);
}
