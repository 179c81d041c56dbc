//! `stagecraft setup` against fake home folders holding real config files of each MCP client,
//! with other servers and other keys in them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

struct FakeHome {
    dir: tempfile::TempDir,
}

impl FakeHome {
    fn new() -> FakeHome {
        FakeHome {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn xdg(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// `stagecraft setup ARGS` with HOME, XDG_CONFIG_HOME and APPDATA in the fake home, and no
    /// Blender (PATH holds none; --no-blender keeps the usual install folders out).
    fn setup(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_stagecraft"))
            .arg("setup")
            .args(args)
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.xdg())
            .env("APPDATA", self.dir.path().join("appdata"))
            .env_remove("STAGECRAFT_CONFIG")
            .output()
            .expect("stagecraft runs")
    }

    fn write(&self, path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// Every file under the fake home with its bytes, to tell exactly what a run changed.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push((path.clone(), std::fs::read(&path).expect("read")));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out.sort();
        out
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("valid JSON")
}

/// The five clients' files, as each client writes them, with a server of the user's own.
fn client_files(h: &FakeHome) -> Vec<(&'static str, PathBuf, &'static str, Value)> {
    let home = h.home();
    let xdg = h.xdg();
    vec![
        (
            "claude-desktop",
            xdg.join("Claude/claude_desktop_config.json"),
            "mcpServers",
            json!({
                "mcpServers": {"filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]}},
                "globalShortcut": "Ctrl+Space"
            }),
        ),
        (
            "claude-code",
            home.join(".claude.json"),
            "mcpServers",
            json!({
                "numStartups": 12,
                "projects": {"/work/app": {"allowedTools": [], "mcpServers": {}}},
                "mcpServers": {"github": {"type": "stdio", "command": "gh-mcp", "args": [], "env": {"GH_HOST": "github.com"}}},
                "userID": "abc"
            }),
        ),
        (
            "cursor",
            home.join(".cursor/mcp.json"),
            "mcpServers",
            json!({"mcpServers": {"linear": {"url": "https://mcp.linear.app/sse"}}}),
        ),
        (
            "vscode",
            xdg.join("Code/User/mcp.json"),
            "servers",
            json!({"servers": {"playwright": {"type": "stdio", "command": "npx", "args": ["@playwright/mcp@latest"]}}, "inputs": []}),
        ),
        (
            "windsurf",
            home.join(".codeium/windsurf/mcp_config.json"),
            "mcpServers",
            json!({"mcpServers": {"git": {"command": "uvx", "args": ["mcp-server-git"], "disabled": true}}}),
        ),
    ]
}

#[test]
fn setup_merges_every_client_is_idempotent_and_remove_restores_the_rest() {
    let h = FakeHome::new();
    let clients = client_files(&h);
    for (_, path, _, original) in &clients {
        h.write(path, &serde_json::to_string_pretty(original).expect("json"));
    }
    let bin = std::fs::canonicalize(env!("CARGO_BIN_EXE_stagecraft")).expect("binary");

    let first = h.setup(&["--yes", "--no-blender"]);
    assert!(first.status.success(), "{}", text(&first));
    for (name, path, key, original) in &clients {
        let merged = read_json(path);
        let entry = &merged[key]["stagecraft"];
        assert_eq!(
            Path::new(entry["command"].as_str().expect("command")),
            bin,
            "{name}: the running binary's absolute path"
        );
        assert_eq!(entry["args"], json!(["serve"]), "{name}");
        // Everything else is as it was.
        let mut rest = merged.clone();
        rest[key]
            .as_object_mut()
            .expect("servers")
            .remove("stagecraft");
        assert_eq!(&rest, original, "{name}: other servers and keys untouched");
        let backups: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".bak"))
            .collect();
        assert_eq!(backups.len(), 1, "{name}: one backup beside the file");
        assert_eq!(
            read_json(&backups[0].path()),
            *original,
            "{name}: the backup is the file as it was"
        );
    }
    // Claude Code and VS Code spell the transport out.
    assert_eq!(
        read_json(&clients[1].1)["mcpServers"]["stagecraft"]["type"],
        "stdio"
    );
    assert_eq!(
        read_json(&clients[3].1)["servers"]["stagecraft"]["type"],
        "stdio"
    );
    // Key order is the file's: the user's keys first, stagecraft's entry last.
    let claude_code = std::fs::read_to_string(&clients[1].1).expect("read");
    let at = |s: &str| claude_code.find(s).expect(s);
    assert!(at("numStartups") < at("projects") && at("projects") < at("\"userID\""));
    assert!(at("\"github\"") < at("\"stagecraft\""));

    let before = h.snapshot();
    let second = h.setup(&["--yes", "--no-blender"]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("Nothing to change."),
        "{}",
        text(&second)
    );
    assert_eq!(
        h.snapshot(),
        before,
        "a second run changes nothing, no new backup"
    );

    let removed = h.setup(&["--yes", "--no-blender", "--remove"]);
    assert!(removed.status.success(), "{}", text(&removed));
    for (name, path, _, original) in &clients {
        assert_eq!(
            &read_json(path),
            original,
            "{name}: --remove restores the rest"
        );
    }
}

#[test]
fn dry_run_shows_a_diff_and_writes_nothing() {
    let h = FakeHome::new();
    let (_, cursor, _, original) = client_files(&h).swap_remove(2);
    h.write(
        &cursor,
        &serde_json::to_string_pretty(&original).expect("json"),
    );
    let before = h.snapshot();
    let out = h.setup(&[
        "--dry-run",
        "--no-blender",
        "--client",
        "cursor",
        "--client",
        "windsurf",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!("--- {}", cursor.display())),
        "{shown}"
    );
    assert!(shown.contains("+    \"stagecraft\": {"), "{shown}");
    // Windsurf has no file yet: the diff creates it.
    assert!(shown.contains("@@ -0,0 +1,"), "{shown}");
    assert!(shown.contains("Dry run: nothing was changed."), "{shown}");
    assert_eq!(h.snapshot(), before);
}

#[test]
fn only_the_clients_found_or_named_are_touched() {
    let h = FakeHome::new();
    std::fs::create_dir_all(h.home().join(".cursor")).expect("mkdir");
    let out = h.setup(&["--yes", "--no-blender"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(h.home().join(".cursor/mcp.json").is_file());
    assert!(
        !h.home().join(".codeium").exists(),
        "windsurf is not installed"
    );
    assert!(
        !h.xdg().join("Claude").exists(),
        "claude desktop is not installed"
    );
    let named = h.setup(&["--yes", "--no-blender", "--client", "windsurf"]);
    assert!(named.status.success(), "{}", text(&named));
    assert!(h.home().join(".codeium/windsurf/mcp_config.json").is_file());
}

#[test]
fn a_file_with_comments_and_trailing_commas_is_edited_keeping_them() {
    let h = FakeHome::new();
    let vscode = h.xdg().join("Code/User/mcp.json");
    let original = "{\n\t// my servers\n\t\"servers\": {\n\t\t\"playwright\": {\"command\": \"npx\", \"args\": [\"@playwright/mcp@latest\"]}, // browser\n\t},\n\t\"inputs\": [],\n}\n";
    h.write(&vscode, original);
    let out = h.setup(&["--yes", "--no-blender", "--client", "vscode"]);
    assert!(out.status.success(), "{}", text(&out));
    let edited = std::fs::read_to_string(&vscode).expect("read");
    assert!(
        edited.starts_with("{\n\t// my servers\n\t\"servers\": {\n\t\t\"playwright\": {\"command\": \"npx\", \"args\": [\"@playwright/mcp@latest\"]}, // browser\n\t\t\"stagecraft\": {\n"),
        "{edited}"
    );
    assert!(edited.ends_with("\t},\n\t\"inputs\": [],\n}\n"), "{edited}");
    let json = jsonc_parser::cst::CstRootNode::parse(&edited, &Default::default())
        .expect("still JSONC")
        .to_serde_value()
        .expect("a value");
    assert_eq!(
        json["servers"]["playwright"],
        json!({"command": "npx", "args": ["@playwright/mcp@latest"]})
    );
    assert_eq!(json["inputs"], json!([]));
    assert_eq!(json["servers"]["stagecraft"]["args"], json!(["serve"]));

    let removed = h.setup(&["--yes", "--no-blender", "--client", "vscode", "--remove"]);
    assert!(removed.status.success(), "{}", text(&removed));
    assert_eq!(std::fs::read_to_string(&vscode).expect("read"), original);
}

#[test]
fn a_file_that_does_not_parse_is_refused_untouched_with_the_entry_to_paste() {
    let h = FakeHome::new();
    let vscode = h.xdg().join("Code/User/mcp.json");
    let original = "{\n\t// my servers\n\t\"servers\": {\n";
    h.write(&vscode, original);
    let out = h.setup(&["--yes", "--no-blender", "--client", "vscode"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("not JSON") && shown.contains("\"stagecraft\": {"),
        "{shown}"
    );
    assert_eq!(std::fs::read_to_string(&vscode).expect("read"), original);
    assert_eq!(
        std::fs::read_dir(vscode.parent().expect("dir"))
            .expect("ls")
            .count(),
        1,
        "no backup"
    );
}

#[test]
fn without_a_terminal_setup_asks_for_yes_and_changes_nothing() {
    let h = FakeHome::new();
    std::fs::create_dir_all(h.home().join(".cursor")).expect("mkdir");
    let out = h.setup(&["--no-blender"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert!(!h.home().join(".cursor/mcp.json").exists());
}

#[test]
fn the_dcc_entry_goes_into_stagecraft_config_keeping_its_comments() {
    // Blender is not needed to test the TOML side: --remove of an entry setup wrote, and a
    // user's own "blender" entry, which setup leaves alone.
    let h = FakeHome::new();
    let config = h.xdg().join("stagecraft/config.toml");
    let token = h.xdg().join("stagecraft/blender.token");
    let original = "# my settings\n[skills]\nallow_scripts = true   # yes, on purpose\n";
    h.write(
        &config,
        &format!(
            "{original}\n[[dcc]]\nname = \"blender\"\nbridge = \"websocket\"\nendpoint = \"ws://127.0.0.1:9876\"\ntoken_file = \"{}\"\n",
            token.display()
        ),
    );
    let out = h.setup(&["--yes", "--no-blender", "--remove"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&config).expect("read"), original);

    let users = format!(
        "{original}\n[[dcc]]\nname = \"blender\"\nbridge = \"embedded\"\ncommand = [\"blender\"]\n"
    );
    h.write(&config, &users);
    let out = h.setup(&["--yes", "--no-blender", "--remove"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&config).expect("read"),
        users,
        "not setup's entry"
    );
}

#[test]
fn doctor_checks_each_client_entry_and_says_what_to_fix() {
    let h = FakeHome::new();
    std::fs::create_dir_all(h.home().join(".cursor")).expect("mkdir");
    let windsurf = h.home().join(".codeium/windsurf/mcp_config.json");
    h.write(
        &windsurf,
        r#"{"mcpServers": {"stagecraft": {"command": "/gone/stagecraft", "args": ["serve"]}}}"#,
    );
    let setup = h.setup(&["--yes", "--no-blender", "--client", "cursor"]);
    assert!(setup.status.success(), "{}", text(&setup));
    let doctor = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .arg("doctor")
        .env("HOME", h.home())
        .env("XDG_CONFIG_HOME", h.xdg())
        .env_remove("STAGECRAFT_CONFIG")
        .output()
        .expect("doctor runs");
    let shown = text(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("client   cursor") && shown.contains("mcp.json: ok: starts"),
        "{shown}"
    );
    assert!(
        shown.contains("starts /gone/stagecraft, which is not there"),
        "{shown}"
    );
    assert!(
        shown.contains("fix: run `stagecraft setup --client windsurf`"),
        "{shown}"
    );
}
