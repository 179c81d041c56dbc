//! `stagecraft.toml` + environment + CLI flags -> [`Config`].
//!
//! The file is optional: with none at all, the built-in skills load, the built-in procedural motion
//! backend serves `generate_motion`, and the built-in `stage` DCC is the default DCC. Unknown keys are
//! errors (a typo must not silently switch a setting off), and every error names the file and line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Default per-call deadline for DCC tools, seconds (docs/skills.md#tool-level-keys).
pub const DEFAULT_DCC_TIMEOUT_SECONDS: u64 = 30;
/// Default deadline for motion tools and motion backends, seconds.
pub const DEFAULT_MOTION_TIMEOUT_SECONDS: u64 = 600;
/// Default bound on one MMCP response body, MiB (docs/mmcp.md#client).
pub const DEFAULT_MAX_RESPONSE_MB: u64 = 64;

/// The environment variables [`Config::add_from_environment`] reads.
pub const BLENDER_ENDPOINT_ENV: &str = "STAGECRAFT_BLENDER_ENDPOINT";
pub const BLENDER_TOKEN_ENV: &str = "STAGECRAFT_BLENDER_TOKEN";
pub const MOTION_BACKENDS_ENV: &str = "STAGECRAFT_MOTION_BACKENDS";
pub const MOTION_API_KEY_ENV: &str = "STAGECRAFT_MOTION_API_KEY";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub skills: SkillsConfig,
    #[serde(default)]
    pub motion: MotionConfig,
    #[serde(default)]
    pub dcc: Vec<DccConfig>,
    #[serde(default)]
    pub files: FilesConfig,
    /// Where the config came from (None: built-in defaults).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillsConfig {
    /// Added after the built-in skills; later paths override earlier ones by skill name.
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// Tools bound to scripts and `execute_script` are hidden unless true.
    #[serde(default)]
    pub allow_scripts: bool,
    /// Hot reload + `notifications/tools/list_changed`.
    #[serde(default = "yes")]
    pub watch: bool,
}

impl Default for SkillsConfig {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            allow_scripts: false,
            watch: true,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotionConfig {
    #[serde(default)]
    pub backends: Vec<BackendConfig>,
    /// How many takes are kept in memory before the least recently used goes.
    #[serde(default)]
    pub max_takes: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    /// Base URL; MMCP paths (`/capabilities`, `/generate`) are appended.
    pub url: String,
    /// Environment variable holding a bearer token.
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default = "default_motion_timeout")]
    pub timeout_seconds: u64,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
    #[serde(default = "default_max_response_mb")]
    pub max_response_mb: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BridgeKind {
    Embedded,
    Http,
    Websocket,
    NamedPipe,
}

impl BridgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BridgeKind::Embedded => "embedded",
            BridgeKind::Http => "http",
            BridgeKind::Websocket => "websocket",
            BridgeKind::NamedPipe => "named_pipe",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DccConfig {
    /// What the agent passes as `dcc`; the first one is the default.
    pub name: String,
    pub bridge: BridgeKind,
    /// `http(s)://…/rpc`, `ws://…`, a socket path or pipe name. Not used by `embedded`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Websocket only: listen at `endpoint` and let the DCC dial in, instead of dialling out.
    #[serde(default)]
    pub listen: bool,
    /// Environment variable holding the shared secret sent in `dcc.hello`.
    #[serde(default)]
    pub token_env: Option<String>,
    /// A file holding the shared secret (what `stagecraft setup` writes, and the Blender add-on
    /// reads: [`blender_token_file`]); used when `token_env` is not set.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// `embedded` only: the DCC command line, program first.
    #[serde(default)]
    pub command: Vec<String>,
    /// Default per-request deadline for this connection (tools may set their own).
    #[serde(default = "default_dcc_timeout")]
    pub timeout_seconds: u64,
}

/// Where file tools may read and write. Empty means anywhere the user running stagecraft may.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    #[serde(default)]
    pub roots: Vec<PathBuf>,
}

fn yes() -> bool {
    true
}
fn default_motion_timeout() -> u64 {
    DEFAULT_MOTION_TIMEOUT_SECONDS
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_max_response_mb() -> u64 {
    DEFAULT_MAX_RESPONSE_MB
}
fn default_dcc_timeout() -> u64 {
    DEFAULT_DCC_TIMEOUT_SECONDS
}

impl Config {
    /// Finds and loads the config: `explicit` (from `--config`), `$STAGECRAFT_CONFIG`,
    /// `./stagecraft.toml`, `$XDG_CONFIG_HOME/stagecraft/config.toml`; none is valid.
    pub fn discover(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = Config::discover_file(explicit)?;
        config.add_from_environment()?;
        Ok(config)
    }

    fn discover_file(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        if let Some(path) = explicit {
            return Config::load(path);
        }
        if let Some(path) = std::env::var_os("STAGECRAFT_CONFIG").filter(|p| !p.is_empty()) {
            return Config::load(Path::new(&path));
        }
        let local = PathBuf::from("stagecraft.toml");
        if local.is_file() {
            return Config::load(&local);
        }
        if let Some(path) = user_config_file()
            && path.is_file()
        {
            return Config::load(&path);
        }
        Ok(Config::default())
    }

    /// Settings passed as environment variables, for hosts that configure a server only through
    /// its environment (the MCPB bundle's `user_config`, see scripts/build-mcpb.sh); empty
    /// values count as unset:
    /// - `STAGECRAFT_BLENDER_ENDPOINT` (`ws://…`, `http://…/rpc` or a socket path) replaces the
    ///   `[[dcc]]` named `blender`, or becomes the first (default) one, with its token in
    ///   `STAGECRAFT_BLENDER_TOKEN`, else in `stagecraft setup`'s token file when there is one;
    /// - `STAGECRAFT_MOTION_BACKENDS`, MMCP base URLs separated by commas or spaces, are added as
    ///   `[[motion.backends]]` named by their URL, with the bearer token in
    ///   `STAGECRAFT_MOTION_API_KEY` when it is set.
    pub fn add_from_environment(&mut self) -> Result<(), ConfigError> {
        let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(endpoint) = set(BLENDER_ENDPOINT_ENV) {
            let endpoint = endpoint.trim().to_string();
            let bridge = if endpoint.starts_with("ws://") || endpoint.starts_with("wss://") {
                BridgeKind::Websocket
            } else if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
                BridgeKind::Http
            } else {
                BridgeKind::NamedPipe
            };
            let (token_env, token_file) = if set(BLENDER_TOKEN_ENV).is_some() {
                (Some(BLENDER_TOKEN_ENV.to_string()), None)
            } else {
                (None, blender_token_file().filter(|f| f.is_file()))
            };
            let blender = DccConfig {
                name: "blender".into(),
                bridge,
                endpoint: Some(endpoint),
                listen: false,
                token_env,
                token_file,
                command: Vec::new(),
                timeout_seconds: DEFAULT_DCC_TIMEOUT_SECONDS,
            };
            match self.dcc.iter_mut().find(|d| d.name == "blender") {
                Some(existing) => *existing = blender,
                None => self.dcc.insert(0, blender),
            }
        }
        if let Some(urls) = set(MOTION_BACKENDS_ENV) {
            let api_key_env = set(MOTION_API_KEY_ENV).map(|_| MOTION_API_KEY_ENV.to_string());
            for url in urls.split([',', ' ', '\n', '\t']).filter(|u| !u.is_empty()) {
                if self.motion.backends.iter().any(|b| b.name == url) {
                    continue;
                }
                self.motion.backends.push(BackendConfig {
                    name: url.to_string(),
                    url: url.to_string(),
                    api_key_env: api_key_env.clone(),
                    timeout_seconds: DEFAULT_MOTION_TIMEOUT_SECONDS,
                    connect_timeout_seconds: default_connect_timeout(),
                    max_response_mb: DEFAULT_MAX_RESPONSE_MB,
                });
            }
        }
        self.check(Path::new("(environment)"))
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text, path)?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and checks a config text; `path` is only used in messages and to resolve
    /// relative skill paths against the config file's folder.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in &mut config.skills.paths {
            *p = resolve_path(p, base);
        }
        for p in &mut config.files.roots {
            *p = resolve_path(p, base);
        }
        for dcc in &mut config.dcc {
            if let Some(p) = &mut dcc.token_file {
                *p = resolve_path(p, base);
            }
        }
        config.check(path)?;
        Ok(config)
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut names = std::collections::BTreeSet::new();
        for dcc in &self.dcc {
            if dcc.name.trim().is_empty() {
                return Err(invalid("a [[dcc]] entry has an empty `name`".into()));
            }
            if !names.insert(dcc.name.as_str()) {
                return Err(invalid(format!(
                    "two [[dcc]] entries are named {:?}; give each connection its own name",
                    dcc.name
                )));
            }
            match dcc.bridge {
                BridgeKind::Embedded if dcc.command.is_empty() => {
                    return Err(invalid(format!(
                        "[[dcc]] {:?}: bridge = \"embedded\" needs `command = [\"program\", \"arg\", ...]`",
                        dcc.name
                    )));
                }
                BridgeKind::Http | BridgeKind::Websocket | BridgeKind::NamedPipe
                    if dcc.endpoint.as_deref().unwrap_or("").is_empty() =>
                {
                    return Err(invalid(format!(
                        "[[dcc]] {:?}: bridge = \"{}\" needs `endpoint`",
                        dcc.name,
                        dcc.bridge.as_str()
                    )));
                }
                _ => {}
            }
            if dcc.token_env.is_some() && dcc.token_file.is_some() {
                return Err(invalid(format!(
                    "[[dcc]] {:?}: set `token_env` or `token_file`, not both",
                    dcc.name
                )));
            }
            if dcc.timeout_seconds == 0 {
                return Err(invalid(format!(
                    "[[dcc]] {:?}: timeout_seconds must be at least 1",
                    dcc.name
                )));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for backend in &self.motion.backends {
            if !names.insert(backend.name.as_str()) {
                return Err(invalid(format!(
                    "two [[motion.backends]] entries are named {:?}",
                    backend.name
                )));
            }
            if !(backend.url.starts_with("http://") || backend.url.starts_with("https://")) {
                return Err(invalid(format!(
                    "[[motion.backends]] {:?}: url {:?} must start with http:// or https://",
                    backend.name, backend.url
                )));
            }
            if backend.timeout_seconds == 0 || backend.max_response_mb == 0 {
                return Err(invalid(format!(
                    "[[motion.backends]] {:?}: timeout_seconds and max_response_mb must be at least 1",
                    backend.name
                )));
            }
        }
        Ok(())
    }
}

/// stagecraft's folder of user settings: `$XDG_CONFIG_HOME/stagecraft`, else
/// `~/.config/stagecraft`, else (Windows, no HOME) `%APPDATA%\stagecraft`. The Blender add-on
/// finds the token file by the same rule (adapters/blender/stagecraft_blender/panel.py).
pub fn user_config_dir() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let base = non_empty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".config")))
        .or_else(|| non_empty("APPDATA").map(PathBuf::from))?;
    Some(base.join("stagecraft"))
}

/// The user's config file, the last place [`Config::discover`] looks.
pub fn user_config_file() -> Option<PathBuf> {
    user_config_dir().map(|dir| dir.join("config.toml"))
}

/// The Blender bridge token `stagecraft setup` writes once, for stagecraft and the add-on.
pub fn blender_token_file() -> Option<PathBuf> {
    user_config_dir().map(|dir| dir.join("blender.token"))
}

/// Expands a leading `~/` and makes relative paths relative to the config file's folder.
pub fn resolve_path(path: &Path, base: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    if path.is_relative() {
        base.join(path)
    } else {
        path.to_path_buf()
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/sc/stagecraft.toml"))
    }

    #[test]
    fn empty_config_is_valid() {
        let config = parse("").expect("empty config");
        assert!(config.dcc.is_empty());
        assert!(config.motion.backends.is_empty());
        assert!(config.skills.watch);
        assert!(!config.skills.allow_scripts);
    }

    #[test]
    fn full_example_parses() {
        let config = parse(
            r#"
[skills]
paths = ["skills", "/abs"]
allow_scripts = true

[[motion.backends]]
name = "kimodo"
url = "http://127.0.0.1:8000"
api_key_env = "MMCP_API_KEY"
timeout_seconds = 600

[[dcc]]
name = "blender"
bridge = "websocket"
endpoint = "ws://127.0.0.1:9876"
token_env = "TOK"

[[dcc]]
name = "batch"
bridge = "embedded"
command = ["blender", "--background"]
"#,
        )
        .expect("valid config");
        assert_eq!(config.skills.paths[0], PathBuf::from("/etc/sc/skills"));
        assert_eq!(config.skills.paths[1], PathBuf::from("/abs"));
        assert_eq!(config.dcc[0].bridge, BridgeKind::Websocket);
        assert_eq!(config.dcc[1].command, vec!["blender", "--background"]);
        assert_eq!(config.motion.backends[0].max_response_mb, 64);
    }

    #[test]
    fn unknown_key_names_line() {
        let err = parse("[skills]\nwatch = true\nallow_script = true\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/etc/sc/stagecraft.toml:3:"), "{text}");
        assert!(text.contains("allow_script"), "{text}");
    }

    #[test]
    fn wrong_type_is_an_error_with_line() {
        let err = parse("[skills]\n\nwatch = \"yes\"\n").unwrap_err();
        assert!(err.to_string().contains(":3:"), "{err}");
    }

    #[test]
    fn embedded_needs_command() {
        let err = parse("[[dcc]]\nname = \"b\"\nbridge = \"embedded\"\n").unwrap_err();
        assert!(err.to_string().contains("command"), "{err}");
    }

    #[test]
    fn duplicate_dcc_names_refused() {
        let err = parse(
            "[[dcc]]\nname = \"b\"\nbridge = \"http\"\nendpoint = \"http://127.0.0.1:1/rpc\"\n\
             [[dcc]]\nname = \"b\"\nbridge = \"http\"\nendpoint = \"http://127.0.0.1:2/rpc\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("two [[dcc]]"), "{err}");
    }

    #[test]
    fn token_file_is_relative_to_the_config_and_excludes_token_env() {
        let config = parse(
            "[[dcc]]\nname = \"b\"\nbridge = \"websocket\"\nendpoint = \"ws://127.0.0.1:1\"\ntoken_file = \"b.token\"\n",
        )
        .expect("valid config");
        assert_eq!(
            config.dcc[0].token_file.as_deref(),
            Some(Path::new("/etc/sc/b.token"))
        );
        let err = parse(
            "[[dcc]]\nname = \"b\"\nbridge = \"websocket\"\nendpoint = \"ws://127.0.0.1:1\"\n\
             token_file = \"b.token\"\ntoken_env = \"T\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
    }

    #[test]
    fn bad_backend_url_refused() {
        let err =
            parse("[[motion.backends]]\nname = \"k\"\nurl = \"127.0.0.1:8000\"\n").unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
    }
}
