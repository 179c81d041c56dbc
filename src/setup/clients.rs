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

use super::json::{Json, Object};

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

    /// The entry that starts stagecraft on stdio, in this client's dialect.
    fn entry(self, command: &Path, args: &[String]) -> Object {
        let command = Json::string(command.to_string_lossy());
        let args = Json::strings(args);
        match self {
            // Both write `type` themselves for stdio servers they add.
            Client::ClaudeCode | Client::VsCode => Object::from_pairs([
                ("type", Json::string("stdio")),
                ("command", command),
                ("args", args),
            ]),
            _ => Object::from_pairs([("command", command), ("args", args)]),
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

/// Plans adding (or, with `remove`, taking out) the stagecraft entry in `client`'s `text`
/// (`None`: no file yet). Other servers and other keys stay as they are, in their order.
pub fn plan(
    client: Client,
    text: Option<&str>,
    command: &Path,
    args: &[String],
    remove: bool,
) -> ClientPlan {
    let key = client.servers_key();
    let entry = client.entry(command, args);
    let by_hand = || {
        let snippet = Json::Object(Object::from_pairs([(
            key,
            Json::Object(Object::from_pairs([(
                SERVER_NAME,
                Json::Object(entry.clone()),
            )])),
        )]));
        snippet.to_pretty("  ")
    };
    let mut root = match text {
        None if remove => return ClientPlan::Unchanged,
        None => Json::Object(Object::default()),
        Some(t) if t.trim().is_empty() => Json::Object(Object::default()),
        Some(t) => match serde_json::from_str::<Json>(t) {
            Ok(json) => json,
            Err(e) => {
                return ClientPlan::Refused(format!(
                    "not plain JSON ({e}; comments and trailing commas are not edited, to keep them): \
                     left as it is. Add stagecraft by hand:\n{}",
                    by_hand()
                ));
            }
        },
    };
    let Some(object) = root.as_object_mut() else {
        return ClientPlan::Refused("the file is JSON but not an object: left as it is".into());
    };
    if object.get(key).is_none() {
        if remove {
            return ClientPlan::Unchanged;
        }
        object.insert(key, Json::Object(Object::default()));
    }
    let Some(servers) = object.get_mut(key).and_then(Json::as_object_mut) else {
        return ClientPlan::Refused(format!(
            "\"{key}\" is not an object: left as it is. Add stagecraft by hand:\n{}",
            by_hand()
        ));
    };
    if remove {
        if servers.remove(SERVER_NAME).is_none() {
            return ClientPlan::Unchanged;
        }
    } else {
        // Keys of an existing entry that setup does not write (`env`, `disabled`, ...) stay.
        let mut merged = match servers.get(SERVER_NAME) {
            Some(Json::Object(existing)) => existing.clone(),
            _ => Object::default(),
        };
        for (k, v) in entry.pairs() {
            merged.insert(k, v.clone());
        }
        if servers.get(SERVER_NAME) == Some(&Json::Object(merged.clone())) {
            return ClientPlan::Unchanged;
        }
        servers.insert(SERVER_NAME, Json::Object(merged));
    }
    ClientPlan::Write {
        before: text.map(str::to_string),
        after: root.to_pretty(&indent_of(text.unwrap_or(""))),
    }
}

/// The file's indent (its first indented line's), so that a rewrite changes only what setup
/// changed; two spaces for a new file.
fn indent_of(text: &str) -> String {
    text.lines()
        .skip(1)
        .map(|line| {
            let rest = line.trim_start_matches([' ', '\t']);
            &line[..line.len() - rest.len()]
        })
        .find(|indent| !indent.is_empty())
        .unwrap_or("  ")
        .to_string()
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
        Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Err(e) => EntryStatus::Unreadable(format!("not plain JSON: {e}")),
            Ok(json) => match json[client.servers_key()][SERVER_NAME]["command"].as_str() {
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

    #[test]
    fn the_files_indent_is_kept() {
        assert_eq!(indent_of("{\n\t\"a\": 1\n}"), "\t");
        assert_eq!(indent_of("{\n    \"a\": 1\n}"), "    ");
        assert_eq!(indent_of(""), "  ");
    }
}
