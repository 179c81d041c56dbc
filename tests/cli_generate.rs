//! `stagecraft generate` as a person runs it: a short summary, the full JSON with `--json`, no
//! progress drawing when stderr is not a terminal, and errors as what happened + what to do.

use std::process::{Command, Output};

fn generate(dir: &std::path::Path, extra: &[&str]) -> Output {
    let config = dir.join("empty.toml");
    std::fs::write(&config, "").expect("config");
    Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(["generate", "a person walks forward", "--seconds", "1"])
        .args(extra)
        .env("STAGECRAFT_CONFIG", &config)
        .output()
        .expect("stagecraft runs")
}

#[test]
fn the_summary_is_short_and_json_is_asked_for() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("walk.glb");
    let png = dir.path().join("walk.png");
    let out_s = out.to_str().expect("utf-8 path");
    let png_s = png.to_str().expect("utf-8 path");
    let human = generate(dir.path(), &["--out", out_s, "--preview", png_s]);
    assert!(human.status.success(), "{human:?}");
    let text = String::from_utf8(human.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(
            "1.0 s of motion (30 frames at 30 fps, 22 joints, 1 sample) from builtin/"
        ),
        "{text}"
    );
    assert!(
        lines[1].contains(out_s) && lines[1].ends_with("KB)"),
        "{text}"
    );
    assert!(lines[2].contains(png_s), "{text}");
    let stderr = String::from_utf8(human.stderr).expect("utf-8");
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "no progress drawing off a terminal: {stderr:?}"
    );

    let json = generate(dir.path(), &["--out", out_s, "--json"]);
    assert!(json.status.success(), "{json:?}");
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON on stdout");
    assert_eq!(summary["saved"]["path"], out_s);
    assert_eq!(summary["backend"], "builtin");
    assert!(
        summary["elapsed_seconds"]
            .as_f64()
            .is_some_and(|s| s >= 0.0)
    );
}

#[test]
fn an_error_says_what_happened_and_what_to_do() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("no-such-folder").join("walk.glb");
    let failed = generate(
        dir.path(),
        &["--out", missing.to_str().expect("utf-8 path")],
    );
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8(failed.stderr).expect("utf-8");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("note:")).collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("error: cannot write ") && lines[0].contains("no-such-folder"),
        "{stderr}"
    );
    assert!(lines[1].starts_with("  fix: "), "{stderr}");
}
