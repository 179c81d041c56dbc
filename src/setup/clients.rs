//! Where each MCP client keeps its server list, and how a `stagecraft` entry is merged into it.
//!
//! | client | file | key |
//! |---|---|---|
//! | Claude Desktop | `claude_desktop_config.json` in `~/Library/Application Support/Claude` (macOS), `%APPDATA%\Claude` (Windows), `$XDG_CONFIG_HOME/Claude` (Linux) | `mcpServers` |
//! | Claude Code | `~/.claude.json` (user scope) | `mcpServers` |
//! | Cursor | `~/.cursor/mcp.json` | `mcpServers` |
//! | VS Code | `mcp.json` in the user profile: `~/Library/Application Support/Code/User`, `%APPDATA%\Code\User`, `$XDG_CONFIG_HOME/Code/User` | `servers` |
//! | Windsurf | `~/.codeium/windsurf/mcp_config.json` | `mcpServers` |

use std::path::{Path, PathBuf};

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde_json::{Value, json};

/// The server's name in every client's list.
pub const SERVER_NAME: &str = "stagecraft";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    ClaudeDesktop,
    ClaudeCode,
    Cursor,
    VsCode,
    Windsurf,
}

impl Client {
    pub const ALL: [Client; 5] = [
        Client::ClaudeDesktop,
        Client::ClaudeCode,
        Client::Cursor,
        Client::VsCode,
        Client::Windsurf,
    ];

    /// The name `--client` takes.
    pub fn id(self) -> &'static str {
        match self {
            Client::ClaudeDesktop => "claude-desktop",
            Client::ClaudeCode => "claude-code",
            Client::Cursor => "cursor",
            Client::VsCode => "vscode",
            Client::Windsurf => "windsurf",
        }
    }

    fn servers_key(self) -> &'static str {
        match self {
            Client::VsCode => "servers",
            _ => "mcpServers",
        }
    }

    /// The client's config file.
    pub fn config_file(self, dirs: &Dirs) -> PathBuf {
        match self {
            Client::ClaudeDesktop => dirs
                .app_config
                .join("Claude")
                .join("claude_desktop_config.json"),
            Client::ClaudeCode => dirs.home.join(".claude.json"),
            Client::Cursor => dirs.home.join(".cursor").join("mcp.json"),
            Client::VsCode => dirs.app_config.join("Code").join("User").join("mcp.json"),
            Client::Windsurf => dirs
                .home
                .join(".codeium")
                .join("windsurf")
                .join("mcp_config.json"),
        }
    }

    /// Whether the client looks installed: its config file, or the folder it keeps it in.
    pub fn is_present(self, dirs: &Dirs) -> bool {
        let file = self.config_file(dirs);
        file.is_file()
            || match self {
                // `~/.claude.json` appears on first run; `~/.claude` with the install.
                Client::ClaudeCode => dirs.home.join(".claude").is_dir(),
                _ => file.parent().is_some_and(Path::is_dir),
            }
    }

    /// The entry that starts stagecraft on stdio, in this client's dialect: its keys in the
    /// order they are written.
    fn entry(self, command: &Path, args: &[String]) -> Vec<(&'static str, Value)> {
        let command = json!(command.to_string_lossy());
        let args = json!(args);
        match self {
            // Both write `type` themselves for stdio servers they add.
            Client::ClaudeCode | Client::VsCode => {
                vec![
                    ("type", json!("stdio")),
                    ("command", command),
                    ("args", args),
                ]
            }
            _ => vec![("command", command), ("args", args)],
        }
    }
}

/// The folders client config paths are made of, from the environment.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub home: PathBuf,
    /// Per-user application settings: `~/Library/Application Support` (macOS), `%APPDATA%`
    /// (Windows), `$XDG_CONFIG_HOME` or `~/.config` (elsewhere).
    pub app_config: PathBuf,
}

impl Dirs {
    pub fn from_env() -> Option<Dirs> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = var("HOME").or_else(|| var("USERPROFILE"))?;
        let app_config = if cfg!(target_os = "macos") {
            home.join("Library").join("Application Support")
        } else if cfg!(windows) {
            var("APPDATA").unwrap_or_else(|| home.join("AppData").join("Roaming"))
        } else {
            var("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"))
        };
        Some(Dirs { home, app_config })
    }
}

/// What setup does to one client's file.
#[derive(Debug)]
pub enum ClientPlan {
    /// Write `after` (the whole new file text); `before` is `None` for a new file.
    Write {
        before: Option<String>,
        after: String,
    },
    Unchanged,
    /// The file cannot be edited safely; the message says why and what to do by hand.
    Refused(String),
}

/// What client config files are read as: JSON with comments and trailing commas (JSONC, which
/// VS Code's `mcp.json` is), and nothing looser that the clients themselves would not read.
const JSONC: ParseOptions = ParseOptions {
    allow_comments: true,
    allow_trailing_commas: true,
    allow_loose_object_property_names: false,
    allow_missing_commas: false,
    allow_single_quoted_strings: false,
    allow_hexadecimal_numbers: false,
    allow_unary_plus_numbers: false,
    allow_bare_decimal_point_numbers: false,
    allow_non_finite_numbers: false,
    allow_extended_string_escapes: false,
};

/// Plans adding (or, with `remove`, taking out) the stagecraft entry in `client`'s `text`
/// (`None`: no file yet). The file is edited as a concrete syntax tree, so everything else in it
/// (other servers and keys, their order, comments, indentation, trailing commas) stays as written.
pub fn plan(
    client: Client,
    text: Option<&str>,
    command: &Path,
    args: &[String],
    remove: bool,
) -> ClientPlan {
    let key = client.servers_key();
    let entry = client.entry(command, args);
    let by_hand = || format!("Add stagecraft by hand:\n{}", snippet(key, &entry));
    // A blank file (a client may create one) is written as a new one.
    let existing = text.filter(|t| !t.trim().is_empty()).unwrap_or("");
    let root = match CstRootNode::parse(existing, &JSONC) {
        Ok(root) => root,
        Err(e) => {
            return ClientPlan::Refused(format!("not JSON ({e}): left as it is. {}", by_hand()));
        }
    };
    if remove {
        let ours = root
            .object_value()
            .and_then(|object| object.object_value(key))
            .and_then(|servers| servers.get(SERVER_NAME));
        match ours {
            Some(prop) => prop.remove(),
            None => return ClientPlan::Unchanged,
        }
    } else {
        let Some(object) = root.object_value_or_create() else {
            return ClientPlan::Refused("the file is JSON but not an object: left as it is".into());
        };
        let Some(servers) = object.object_value_or_create(key) else {
            return ClientPlan::Refused(format!(
                "\"{key}\" is not an object: left as it is. {}",
                by_hand()
            ));
        };
        merge_entry(&servers, &entry);
    }
    let after = root.to_string();
    if text == Some(after.as_str()) {
        return ClientPlan::Unchanged;
    }
    ClientPlan::Write {
        before: text.map(str::to_string),
        after,
    }
}

/// Writes the stagecraft entry into `servers`. Of an existing entry, only the keys setup writes
/// and whose values differ are set; the user's own keys (`env`, `disabled`, ...) stay.
fn merge_entry(servers: &CstObject, entry: &[(&str, Value)]) {
    let Some(existing) = servers.get(SERVER_NAME) else {
        servers.append(SERVER_NAME, object_input(entry));
        return;
    };
    let Some(existing_entry) = existing.object_value() else {
        existing.set_value(object_input(entry));
        return;
    };
    for (name, value) in entry {
        match existing_entry.get(name) {
            Some(prop) if prop.to_serde_value().as_ref() == Some(value) => {}
            Some(prop) => prop.set_value(input(value)),
            None => {
                existing_entry.append(name, input(value));
            }
        }
    }
}

/// The entry inside its servers key, as a new file holds it: what to paste by hand.
fn snippet(key: &str, entry: &[(&str, Value)]) -> String {
    // The empty text always parses: a document without a value yet.
    CstRootNode::parse("", &JSONC)
        .map(|root| {
            let servers = vec![(SERVER_NAME.to_string(), object_input(entry))];
            root.set_value(CstInputValue::Object(vec![(
                key.to_string(),
                CstInputValue::Object(servers),
            )]));
            root.to_string()
        })
        .unwrap_or_default()
}

fn object_input(entry: &[(&str, Value)]) -> CstInputValue {
    CstInputValue::Object(
        entry
            .iter()
            .map(|(name, value)| (name.to_string(), input(value)))
            .collect(),
    )
}

/// jsonc-parser inserts values of its own type; the entry is held as serde_json values so that it
/// can be compared with what the file has (`to_serde_value`).
fn input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(input).collect()),
        Value::Object(members) => CstInputValue::Object(
            members
                .iter()
                .map(|(name, value)| (name.clone(), input(value)))
                .collect(),
        ),
    }
}

/// What `stagecraft doctor` reports for one client's config.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryStatus {
    /// The entry starts this program.
    Ok(PathBuf),
    /// The entry starts a program that is not there (moved, or uninstalled).
    Missing(PathBuf),
    NoEntry,
    Unreadable(String),
}

/// The stagecraft entry in `client`'s config, if the client looks installed.
pub fn entry_status(client: Client, dirs: &Dirs) -> Option<(PathBuf, EntryStatus)> {
    if !client.is_present(dirs) {
        return None;
    }
    let path = client.config_file(dirs);
    let status = match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => EntryStatus::NoEntry,
        Err(e) => EntryStatus::Unreadable(e.to_string()),
        Ok(text) => match CstRootNode::parse(&text, &JSONC) {
            Err(e) => EntryStatus::Unreadable(format!("not JSON: {e}")),
            Ok(root) => match root.to_serde_value().unwrap_or_default()[client.servers_key()]
                [SERVER_NAME]["command"]
                .as_str()
            {
                None => EntryStatus::NoEntry,
                Some(command) if Path::new(command).is_file() => {
                    EntryStatus::Ok(PathBuf::from(command))
                }
                Some(command) => EntryStatus::Missing(PathBuf::from(command)),
            },
        },
    };
    Some((path, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(plan: ClientPlan) -> serde_json::Value {
        match plan {
            ClientPlan::Write { after, .. } => serde_json::from_str(&after).expect("valid JSON"),
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn an_existing_entry_is_updated_and_keeps_the_users_keys() {
        let text = r#"{"mcpServers": {"stagecraft": {"command": "/old/stagecraft", "args": ["serve"], "env": {"STAGECRAFT_LOG": "debug"}, "disabled": false}}}"#;
        let args = ["serve".to_string()];
        let json = after(plan(
            Client::Cursor,
            Some(text),
            Path::new("/new/stagecraft"),
            &args,
            false,
        ));
        let entry = &json["mcpServers"]["stagecraft"];
        assert_eq!(entry["command"], "/new/stagecraft");
        assert_eq!(entry["env"]["STAGECRAFT_LOG"], "debug");
        assert_eq!(entry["disabled"], false);
    }

    #[test]
    fn a_servers_key_that_is_not_an_object_is_refused() {
        let plan = plan(
            Client::VsCode,
            Some(r#"{"servers": []}"#),
            Path::new("/bin/stagecraft"),
            &["serve".to_string()],
            false,
        );
        assert!(
            matches!(plan, ClientPlan::Refused(ref why) if why.contains("\"servers\" is not an object")),
            "{plan:?}"
        );
    }

    fn written(plan: ClientPlan) -> String {
        match plan {
            ClientPlan::Write { after, .. } => after,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn a_jsonc_file_keeps_its_comments_trailing_commas_and_indent() {
        let text = "{\n\t// my servers\n\t\"servers\": {\n\t\t\"playwright\": {\"command\": \"npx\"}, // browser\n\t},\n}\n";
        let args = ["serve".to_string()];
        let bin = Path::new("/bin/stagecraft");
        let added = written(plan(Client::VsCode, Some(text), bin, &args, false));
        assert_eq!(
            added,
            "{\n\t// my servers\n\t\"servers\": {\n\t\t\"playwright\": {\"command\": \"npx\"}, // browser\n\t\t\"stagecraft\": {\n\t\t\t\"type\": \"stdio\",\n\t\t\t\"command\": \"/bin/stagecraft\",\n\t\t\t\"args\": [\"serve\"],\n\t\t},\n\t},\n}\n"
        );
        assert!(matches!(
            plan(Client::VsCode, Some(&added), bin, &args, false),
            ClientPlan::Unchanged
        ));
        let removed = written(plan(Client::VsCode, Some(&added), bin, &args, true));
        assert_eq!(removed, text, "--remove gives back the file as it was");
    }

    #[test]
    fn updating_an_entry_changes_only_what_differs() {
        let text = "{\n  \"mcpServers\": {\n    // ours\n    \"stagecraft\": {\n      \"command\": \"/old/stagecraft\", // moved since\n      \"args\": [\"serve\"],\n      \"env\": {\"STAGECRAFT_LOG\": \"debug\"}\n    }\n  }\n}\n";
        let updated = written(plan(
            Client::Cursor,
            Some(text),
            Path::new("/new/stagecraft"),
            &["serve".to_string()],
            false,
        ));
        assert_eq!(updated, text.replace("/old/", "/new/"));
    }

    #[test]
    fn a_blank_file_is_written_as_a_new_one() {
        let new = |text| {
            written(plan(
                Client::Cursor,
                text,
                Path::new("/bin/stagecraft"),
                &["serve".to_string()],
                false,
            ))
        };
        assert_eq!(new(Some(" \n")), new(None));
        assert!(new(None).starts_with("{\n  \"mcpServers\": {\n"));
    }

    #[test]
    fn a_file_that_does_not_parse_is_refused_with_the_entry_to_paste() {
        let plan = plan(
            Client::Cursor,
            Some("{\"mcpServers\": {"),
            Path::new("/bin/stagecraft"),
            &["serve".to_string()],
            false,
        );
        let ClientPlan::Refused(why) = plan else {
            panic!("expected a refusal, got {plan:?}");
        };
        assert!(why.contains("not JSON"), "{why}");
        assert!(
            why.ends_with("{\n  \"mcpServers\": {\n    \"stagecraft\": {\n      \"command\": \"/bin/stagecraft\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n"),
            "{why}"
        );
    }
}
