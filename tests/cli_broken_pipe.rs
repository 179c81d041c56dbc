//! `stagecraft skills list | head`: a reader that stops early closes the pipe, and the listing
//! ends quietly, as other command-line tools do, instead of panicking in `println!`.

use std::process::{Command, Stdio};

/// Runs the real binary with its stdout a pipe whose reading end is already closed, so the
/// first write fails with EPIPE (Rust ignores SIGPIPE, so the write returns the error).
fn run_with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run stagecraft")
}

fn assert_quiet_exit(args: &[&str]) {
    let out = run_with_closed_stdout(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
}

#[test]
fn skills_list_into_a_closed_pipe_exits_quietly() {
    assert_quiet_exit(&["skills", "list"]);
}

#[test]
fn skills_list_json_into_a_closed_pipe_exits_quietly() {
    assert_quiet_exit(&["skills", "list", "--json"]);
}

#[test]
fn skills_check_into_a_closed_pipe_exits_quietly() {
    assert_quiet_exit(&["skills", "check"]);
}
