//! `stagecraft doctor`: what works and what does not, one line each, exit 1 on any failure.

use std::process::Command;

fn doctor(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stagecraft.toml");
    std::fs::write(&path, config).expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(["--config", path.to_str().expect("utf-8"), "doctor"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run doctor");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn defaults_are_healthy() {
    let (code, out) = doctor("");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("stagecraft-procedural"), "{out}");
    assert!(
        out.contains("dcc      stage") && out.contains("(default)"),
        "{out}"
    );
}

#[test]
fn reports_a_dead_backend_and_a_live_dcc() {
    let config = r#"
[[motion.backends]]
name = "gone"
url = "http://127.0.0.1:9"
connect_timeout_seconds = 2
timeout_seconds = 5

[[dcc]]
name = "toy"
bridge = "embedded"
command = ["python3", "examples/adapter/toy_adapter.py", "--stdio"]
"#;
    let (code, out) = doctor(config);
    assert_eq!(code, 1, "{out}");
    let motion = out
        .lines()
        .find(|l| l.contains("motion   gone"))
        .expect("backend line");
    assert!(motion.contains("FAILED"), "{out}");
    let dcc = out
        .lines()
        .find(|l| l.contains("dcc      toy"))
        .expect("dcc line");
    assert!(dcc.contains("ok:") && dcc.contains("(default)"), "{out}");
    // The built-in model is still there after the configured backend.
    assert!(out.contains("stagecraft-procedural"), "{out}");
}
