//! The generic checks against the reference server's own answers (tests/fixtures/mmcp-captures), in process.

use super::*;

/// The reference server's answers, kept in the repository (tests/fixtures/mmcp-captures/README.md).
/// A missing capture fails the test: it is a broken checkout, never a reason to pass quietly.
const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mmcp-captures");

/// The reference `null` model of the captures: the SDK's five-joint skeleton.
fn sdk_null() -> Backbones {
    let (_, caps) = capture("01-capabilities").expect("out/01-capabilities.http");
    let caps: Capabilities = serde_json::from_value(caps).expect("capabilities capture");
    let skeleton = caps
        .models
        .first()
        .map(|m| m.canonical_skeleton.clone())
        .expect("the capture lists the null model");
    Backbones::new(vec![Arc::new(NullBackbone {
        id: "null".into(),
        fps: 30.0,
        skeleton,
    })])
    .expect("registry")
}

/// What the server does with a parsed body: (status, body).
fn answer(models: &Backbones, raw: &Value) -> (u16, Value) {
    if raw.get("requests").is_some() && raw.is_object() {
        return match models.generate_batch(raw) {
            Ok(v) => (200, v),
            Err(e) => (
                e.status,
                serde_json::to_value(e.to_envelope()).expect("envelope"),
            ),
        };
    }
    match models.generate(raw, None) {
        Ok(take) => (200, gltf::encode_document(&take)),
        Err(e) => (
            e.status,
            serde_json::to_value(e.to_envelope()).expect("envelope"),
        ),
    }
}

fn capture(name: &str) -> Option<(u16, Value)> {
    let text = std::fs::read_to_string(format!("{CAPTURES}/out/{name}.http")).ok()?;
    // Skip interim 100 Continue responses.
    let last = text.rfind("HTTP/1.1 ")?;
    let text = &text[last..];
    let status: u16 = text.get(9..12)?.parse().ok()?;
    let (_, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))?;
    Some((
        status,
        serde_json::from_str(body.trim()).unwrap_or(Value::Null),
    ))
}

#[test]
fn every_captured_request_gets_the_reference_status_and_code() {
    let dir = std::fs::read_dir(format!("{CAPTURES}/req")).expect("req/ captures");
    let models = sdk_null();
    let mut checked = 0;
    for entry in dir.flatten() {
        let path = entry.path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let Some((status, body)) = capture(&name) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let raw: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            // Not JSON (15a–d) or Python-only NaN literals (17*): the server's parse step answers these.
            Err(_) => continue,
        };
        let (got_status, got) = answer(&models, &raw);
        assert_eq!(got_status, status, "{name}: {got}");
        if status == 200 {
            checked += 1;
            continue;
        }
        assert_eq!(got["error"]["code"], body["error"]["code"], "{name}: {got}");
        assert_eq!(got["error"]["message"], body["error"]["message"], "{name}");
        assert_eq!(got["error"]["details"], body["error"]["details"], "{name}");
        checked += 1;
    }
    assert!(checked >= 35, "only {checked} captures compared");
}

#[test]
fn batch_capture_matches_item_by_item() {
    let text = std::fs::read_to_string(format!("{CAPTURES}/req/05-batch-mixed.json"))
        .expect("req/05-batch-mixed.json");
    let raw: Value = serde_json::from_str(&text).expect("json");
    let (status, got) = answer(&sdk_null(), &raw);
    let (_, want) = capture("05-batch-mixed").expect("capture");
    assert_eq!(status, 200);
    let (got, want) = (
        got["results"].as_array().expect("results"),
        want["results"].as_array().expect("results"),
    );
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.get("gltf").is_some(), w.get("gltf").is_some());
        assert_eq!(g["error"], w["error"]);
    }
}

fn walk_request(model: &str) -> Value {
    let skeleton = procedural::standard_skeleton().to_wire();
    json!({
        "protocol_version": "1.4", "model": model, "skeleton": skeleton,
        "segments": [{"type": "text", "prompt": "walk forward", "duration_frames": 60}],
        "constraints": [{"type": "root_path", "frames": [0, 59], "positions_xz": [[0, 0], [0, 1.5]]}],
        "options": {"num_samples": 2, "seed": 3, "loop": false}
    })
}

#[test]
fn builtin_models_generate_and_are_checked_in_process() {
    let models = Backbones::builtin();
    assert_eq!(
        models.ids(),
        vec![procedural::MODEL_ID.to_string(), "null".to_string()]
    );
    let take = models
        .generate(&walk_request(procedural::MODEL_ID), None)
        .expect("take");
    assert_eq!((take.num_frames, take.samples.len()), (60, 2));
    assert_eq!(take.model, procedural::MODEL_ID);
    let null = models
        .generate(&walk_request("null"), None)
        .expect("null take");
    assert!(
        null.samples[0]
            .rotations
            .iter()
            .all(|q| *q == [0.0, 0.0, 0.0, 1.0])
    );

    // The same checks without a registry.
    let backbone = ProceduralBackbone;
    assert!(generate_checked(&backbone, &walk_request(procedural::MODEL_ID)).is_ok());
    let err = check_request(&backbone.capabilities(), &walk_request("other")).expect_err("unknown");
    assert_eq!((err.status, err.code.as_str()), (400, "unknown_model"));
    let mut effector = walk_request(procedural::MODEL_ID);
    effector["constraints"] = json!([{"type": "effector_target", "joint": "LeftHand", "frames": [1], "positions": [[0.3, 1.2, 0.5]]}]);
    assert!(generate_checked(&backbone, &effector).is_ok());
    effector["constraints"][0]["joint"] = json!("Spine");
    let err = generate_checked(&backbone, &effector).expect_err("not an effector");
    assert_eq!((err.status, err.code.as_str()), (400, "unknown_joint"));
    effector["constraints"] = json!([{"type": "ground_height", "points": [[0, 0, 0]]}]);
    let err = check_request(&backbone.capabilities(), &effector).expect_err("honest flags");
    assert_eq!(err.code, "unsupported_constraint");
}

#[test]
fn duplicate_ids_are_refused() {
    let twice: Vec<Arc<dyn Backbone>> = vec![
        Arc::new(NullBackbone::default()),
        Arc::new(NullBackbone::default()),
    ];
    assert_eq!(
        Backbones::new(twice).err(),
        Some(RegistryError::DuplicateModel("null".into()))
    );
}

#[test]
fn too_high_fps_is_refused_not_allocated() {
    let mut raw = walk_request(procedural::MODEL_ID);
    raw["timing"] = json!({"fps": 1.0e6});
    raw["segments"][0]["duration_frames"] = json!(1000);
    raw["constraints"] = json!([]);
    let err = Backbones::builtin()
        .generate(&raw, None)
        .expect_err("refused");
    assert_eq!(err.code, "invalid_options");
}

#[test]
fn oversized_takes_are_refused_before_allocation() {
    let mut raw = walk_request(procedural::MODEL_ID);
    let joints: Vec<Value> = (0..2000)
        .map(|i| {
            let parent = if i == 0 { Value::Null } else { json!(format!("j{}", i - 1)) };
            json!({"name": format!("j{i}"), "parent": parent, "rest_translation": [0, 0.01, 0], "rest_rotation": [0, 0, 0, 1]})
        })
        .collect();
    raw["skeleton"] = json!({"joints": joints});
    raw["constraints"] = json!([]);
    raw["timing"] = json!({"fps": 240});
    raw["segments"][0]["duration_frames"] = json!(7000);
    raw["options"]["num_samples"] = json!(16);
    let err = Backbones::builtin()
        .generate(&raw, None)
        .expect_err("too big");
    assert_eq!(err.code, "invalid_options", "{err:?}");
}

/// A small deterministic generator of hostile JSON: nothing may panic, every answer is an envelope or a take.
#[test]
fn random_json_never_panics() {
    let models = Backbones::builtin();
    let base = walk_request(procedural::MODEL_ID);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let atoms = [
        json!(null),
        json!(true),
        json!(-1),
        json!(0),
        json!(1e300),
        json!(-0.5),
        json!("4"),
        json!(""),
        json!("x"),
        json!([]),
        json!({}),
        json!([1, 2]),
        json!([0, 0, 0, 1]),
        json!({"type": "text"}),
        json!(u64::MAX),
    ];
    for _ in 0..3000 {
        let mut raw = base.clone();
        // Replace a few random nodes with random atoms.
        for _ in 0..(1 + next() % 3) {
            let mut pointer = String::new();
            let mut node = &raw;
            for _ in 0..(next() % 5) {
                let step = match node {
                    Value::Object(m) if !m.is_empty() => {
                        let k = m
                            .keys()
                            .nth((next() as usize) % m.len())
                            .cloned()
                            .unwrap_or_default();
                        m.get(&k)
                            .map(|c| (k.replace('~', "~0").replace('/', "~1"), c))
                    }
                    Value::Array(a) if !a.is_empty() => {
                        let i = (next() as usize) % a.len();
                        a.get(i).map(|c| (i.to_string(), c))
                    }
                    _ => None,
                };
                match step {
                    Some((k, c)) => {
                        pointer.push('/');
                        pointer.push_str(&k);
                        node = c;
                    }
                    None => break,
                }
            }
            let atom = atoms[(next() as usize) % atoms.len()].clone();
            if let Some(slot) = raw.pointer_mut(&pointer) {
                *slot = atom;
            }
        }
        match models.generate(&raw, None) {
            Ok(take) => assert!(gltf::check_take(&take).is_ok()),
            Err(e) => assert!(e.status >= 400 && !e.code.is_empty()),
        }
    }
}

#[test]
fn guidance_the_procedural_model_ignores_is_noted_not_refused() {
    let raw: serde_json::Value = serde_json::json!({
        "protocol_version": "1.4",
        "model": procedural::MODEL_ID,
        "skeleton": {"joints": procedural::standard_skeleton().joints.iter().map(|j| serde_json::json!({
            "name": j.name,
            "parent": j.parent.map(|p| procedural::standard_skeleton().joints[p].name.clone()),
            "rest_translation": j.rest_translation,
            "rest_rotation": [0.0, 0.0, 0.0, 1.0],
        })).collect::<Vec<_>>()},
        "segments": [{"type": "text", "prompt": "walk", "duration_frames": 10}],
        "options": {"guidance": {"type": "separated", "weight": [2.0, 2.0]}},
    });
    let models = Backbones::builtin();
    let take = models.generate(&raw, None).expect("accepted");
    assert!(
        take.notes.iter().any(|n| n["code"] == "options_ignored"
            && n["message"].as_str().unwrap_or("").contains("guidance")),
        "{:?}",
        take.notes
    );
}
