//! `stagecraft skills check` on a folder of broken skills, and `skills list` beside it.

use std::path::PathBuf;
use std::process::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken-skills")
}

fn stagecraft(args: &[&str]) -> std::process::Output {
    let empty = tempfile::NamedTempFile::new().expect("temp config");
    Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(args)
        .env("STAGECRAFT_CONFIG", empty.path())
        .output()
        .expect("run stagecraft")
}

#[test]
fn check_prints_one_diagnostic_per_broken_skill_and_exits_1() {
    let dir = fixtures();
    let out = stagecraft(&["skills", "check", dir.to_str().expect("utf-8 path")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for broken in [
        "bad-yaml",
        "unknown-key",
        "camel-case",
        "not-a-schema",
        "later-dup-tool",
        "escaping-script",
        "both-bindings",
    ] {
        let count = stdout
            .lines()
            .filter(|l| l.contains(&format!("/{broken}/SKILL.md")))
            .count();
        assert_eq!(count, 1, "{broken}: expected one diagnostic in\n{stdout}");
    }
    assert_eq!(stdout.matches("\n  fix: ").count(), 7, "{stdout}");
    assert!(
        stdout.contains("`inputSchema` is spelled `input_schema`"),
        "{stdout}"
    );
    assert!(stdout.contains("escapes the skill folder"), "{stdout}");
    assert!(stdout.contains("colour"), "{stdout}");
    assert!(stdout.contains("7 problems"), "{stdout}");
}

#[test]
fn good_skills_beside_broken_ones_still_load() {
    let dir = fixtures();
    let out = stagecraft(&[
        "skills",
        "list",
        "--skills",
        dir.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("fixture_list"), "{stdout}");
    assert!(
        stdout.contains("fixture_hello") && stdout.contains("hidden"),
        "{stdout}"
    );
    assert!(
        stdout.contains("set_transform"),
        "built-in skills load too:\n{stdout}"
    );
}

#[test]
fn shipped_skills_have_no_diagnostics() {
    let out = stagecraft(&["skills", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 problems"), "{stdout}");
}

#[test]
fn bad_config_is_a_clear_error() {
    let mut config = tempfile::NamedTempFile::new().expect("temp config");
    std::io::Write::write_all(
        &mut config,
        b"[skills]\nwatch = true\nallow_script = true\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args([
            "--config",
            config.path().to_str().expect("utf-8"),
            "skills",
            "list",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":3:") && stderr.contains("allow_script"),
        "{stderr}"
    );
}

#[test]
fn example_skills_are_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/skills");
    let out = stagecraft(&["skills", "check", dir.to_str().expect("utf-8 path")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
}
