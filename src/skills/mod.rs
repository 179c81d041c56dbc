//! SKILL.md discovery, frontmatter parsing, validation, diagnostics, hot reload -> [`Registry`].
//!
//! The shipped skills in `skills/` are compiled into the binary, so `cargo install` works with no
//! checkout. User skill folders (config `[skills] paths` and `--skills`) load after them:
//! - a user skill with the name of a built-in skill replaces it whole;
//! - a skill in a later path replaces one of the same name from an earlier path;
//! - two skills of one name in the same path, or one tool name in two skills, are a diagnostic and
//!   the later skill is skipped.
//!
//! A bad skill is skipped with diagnostics; every other skill still loads.

mod frontmatter;
mod listing;
mod parse;
mod watch;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use serde_json::{Map, Value};

pub use parse::{
    BindingRules, DEFAULT_MOTION_TIMEOUT_SECONDS, DEFAULT_TIMEOUT_SECONDS, ParsedSkill, Source,
    parse_skill,
};
pub use watch::{SharedRegistry, Watcher};

/// The shipped skills, compiled in.
static BUILTIN_SKILLS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/skills");

/// The shipped skills' frontmatter, parsed from YAML into JSON by build.rs: `{folder: frontmatter}`.
/// Reading JSON at start-up instead of YAML halves the time `serve` takes to answer (BENCHMARKS.md,
/// benches/NOTES.md). A skill whose YAML did not parse is missing here and is parsed at load, which
/// reports the problem as for any skill.
static SHIPPED_FRONTMATTER: &str =
    include_str!(concat!(env!("OUT_DIR"), "/shipped_frontmatter.json"));

/// [`SHIPPED_FRONTMATTER`], read.
fn shipped_frontmatter() -> Map<String, Value> {
    serde_json::from_str(SHIPPED_FRONTMATTER).unwrap_or_default()
}

/// What a tool runs: an adapter method / built-in, or a script inside the DCC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    Call(String),
    Script { path: PathBuf, language: String },
}

/// One loaded tool, ready to list and dispatch.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    /// The input schema as listed (with the `dcc` property added for DCC tools).
    pub input_schema: Arc<Map<String, Value>>,
    pub output_schema: Option<Arc<Map<String, Value>>>,
    pub binding: Binding,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
    pub timeout_seconds: u64,
    /// True when the SKILL.md set `timeout_seconds`; otherwise a DCC tool uses its connection's
    /// `timeout_seconds` from the config.
    pub timeout_explicit: bool,
    /// The MCP Apps view (`ui://...`) that shows the tool's results in clients that render views
    /// (docs/viewer.md); announced in the tool's `_meta.ui.resourceUri`.
    pub ui_resource: Option<String>,
    /// The skill that declared the tool.
    pub skill: String,
    /// DccCapabilities the DCC must report for this tool to work.
    pub requires: Vec<String>,
    /// The compiled `input_schema`, shared by clones of this spec.
    pub validator: Arc<LazyValidator>,
}

/// A tool's argument validator, compiled from its input schema on first use.
///
/// Compiling every validator was a measurable part of `serve`'s start-up (38 shipped tools) and most
/// tools of a session are never called, so the shipped skills compile theirs on their first call
/// (a unit test compiles every one of them, so that cannot fail at run time). Skills from user
/// folders are compiled while loading, as before, so that a bad schema is a diagnostic at load.
#[derive(Debug, Default)]
pub struct LazyValidator(std::sync::OnceLock<Result<jsonschema::Validator, String>>);

impl LazyValidator {
    /// Already compiled (user skills, whose schema errors are load-time diagnostics).
    pub fn compiled(validator: jsonschema::Validator) -> Self {
        Self(std::sync::OnceLock::from(Ok(validator)))
    }

    /// The validator for `schema`, compiling it on the first call.
    pub fn get(&self, schema: &Map<String, Value>) -> Result<&jsonschema::Validator, &str> {
        self.0
            .get_or_init(|| {
                jsonschema::validator_for(&Value::Object(schema.clone())).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// One argument that broke the input schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgumentError {
    /// JSON pointer to the offending value (`/translate/2`), empty for the whole object.
    pub field: String,
    pub message: String,
}

impl ToolSpec {
    /// What the tool costs in the context of every conversation of a client that lists it: the
    /// bytes of its name, description and input schema as `tools/list` sends them (compact JSON).
    /// `stagecraft skills list` prints it so that skill authors see their cost.
    pub fn context_bytes(&self) -> usize {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "inputSchema": &*self.input_schema,
        })
        .to_string()
        .len()
    }

    /// Checks arguments against the input schema; every violation, each naming its field.
    pub fn validate(&self, args: &Value) -> Result<(), Vec<ArgumentError>> {
        let validator = match self.validator.get(&self.input_schema) {
            Ok(v) => v,
            Err(e) => {
                return Err(vec![ArgumentError {
                    field: String::new(),
                    message: format!("the tool's input_schema cannot be compiled: {e}"),
                }]);
            }
        };
        let errors: Vec<ArgumentError> = validator
            .iter_errors(args)
            .map(|e| {
                use jsonschema::error::ValidationErrorKind as Kind;
                let at = e.instance_path().to_string();
                let join = |name: &str| format!("{at}/{name}");
                match e.kind() {
                    // Name the offending key itself, not the object that holds it.
                    Kind::AdditionalProperties { unexpected } => ArgumentError {
                        field: join(&unexpected.join(",")),
                        message: format!(
                            "unknown argument{} {}",
                            if unexpected.len() == 1 { "" } else { "s" },
                            unexpected.join(", ")
                        ),
                    },
                    Kind::Required { property } => ArgumentError {
                        field: join(property.as_str().unwrap_or_default()),
                        message: format!("{property} is required"),
                    },
                    Kind::FalseSchema => ArgumentError {
                        field: at,
                        message: "this argument is not accepted by the tool".into(),
                    },
                    _ => ArgumentError {
                        field: at,
                        message: e.to_string(),
                    },
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Fills in the `default` of every top-level property the caller left out, so that a skill can
    /// fix an argument of the method it binds (e.g. `object_type: {const: camera, default: camera}`).
    pub fn apply_defaults(&self, args: &mut Value) {
        let (Some(props), Value::Object(given)) = (
            self.input_schema
                .get("properties")
                .and_then(Value::as_object),
            args,
        ) else {
            return;
        };
        for (name, schema) in props {
            if let Some(default) = schema.get("default")
                && !given.contains_key(name)
            {
                given.insert(name.clone(), default.clone());
            }
        }
    }

    /// True for tools that run code inside the DCC (hidden unless `allow_scripts = true`).
    pub fn runs_scripts(&self) -> bool {
        match &self.binding {
            Binding::Script { .. } => true,
            Binding::Call(method) => method == "script.execute",
        }
    }
}

/// A problem with one SKILL.md: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message)?,
            None => write!(f, "{}: {}", self.file.display(), self.message)?,
        }
        write!(f, "\n  fix: {}", self.fix)
    }
}

/// A loaded skill.
#[derive(Debug, Clone)]
pub struct Skill {
    pub name: String,
    pub description: String,
    /// `skill://<name>/SKILL.md`
    pub uri: String,
    /// The whole SKILL.md.
    pub text: String,
    pub frontmatter: Map<String, Value>,
    /// The skill folder, or None for a built-in skill.
    pub dir: Option<PathBuf>,
    pub tools: Vec<String>,
}

/// Where skills are loaded from, and what is allowed.
#[derive(Debug, Clone, Default)]
pub struct SkillSources {
    /// Load the compiled-in skills first (false only in tests and `skills check PATH`).
    pub builtin: bool,
    /// User skill paths, in order: each is a skill folder or a folder of skill folders.
    pub paths: Vec<PathBuf>,
    pub allow_scripts: bool,
}

/// Every loaded skill and tool, and the diagnostics of what was skipped.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub skills: BTreeMap<String, Skill>,
    /// Tools the client sees, by name (sorted: `tools/list` order is stable).
    pub tools: BTreeMap<String, Arc<ToolSpec>>,
    /// Script tools hidden because `allow_scripts` is false; calling one says so.
    pub hidden: BTreeMap<String, Arc<ToolSpec>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Registry {
    /// Loads every source. Never fails: problems become diagnostics.
    pub fn load(sources: &SkillSources, rules: BindingRules) -> Registry {
        let mut parsed: Vec<(ParsedSkill, Option<PathBuf>)> = Vec::new();
        let mut diagnostics = Vec::new();

        if sources.builtin {
            let mut prebuilt = shipped_frontmatter();
            for dir in BUILTIN_SKILLS.dirs() {
                let Some(file) = dir.get_file(dir.path().join("SKILL.md")) else {
                    continue;
                };
                let folder = dir.path().to_string_lossy().to_string();
                let shown = Path::new("skills").join(file.path());
                let text = String::from_utf8_lossy(file.contents());
                let source = Source {
                    file: &shown,
                    folder: &folder,
                    dir: None,
                };
                let frontmatter = match prebuilt.remove(&folder) {
                    Some(Value::Object(map)) => Some(map),
                    _ => None,
                };
                match parse::parse_skill_checked(
                    &text,
                    &source,
                    rules,
                    parse::Checks::Shipped,
                    frontmatter,
                ) {
                    Ok(skill) => parsed.push((skill, None)),
                    Err(d) => diagnostics.extend(d),
                }
            }
        }
        let builtin_names: Vec<String> = parsed.iter().map(|(s, _)| s.name.clone()).collect();

        for root in &sources.paths {
            let mut in_this_path: BTreeMap<String, PathBuf> = BTreeMap::new();
            for dir in skill_dirs(root, &mut diagnostics) {
                let file = dir.join("SKILL.md");
                let text = match std::fs::read_to_string(&file) {
                    Ok(text) => text,
                    Err(e) => {
                        diagnostics.push(Diagnostic {
                            file: file.clone(),
                            line: None,
                            message: format!("cannot read: {e}"),
                            fix: "make the file readable UTF-8 text".into(),
                        });
                        continue;
                    }
                };
                let folder = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let source = Source {
                    file: &file,
                    folder: &folder,
                    dir: Some(&dir),
                };
                let skill = match parse_skill(&text, &source, rules) {
                    Ok(skill) => skill,
                    Err(d) => {
                        diagnostics.extend(d);
                        continue;
                    }
                };
                if let Some(first) = in_this_path.get(&skill.name) {
                    diagnostics.push(Diagnostic {
                        file: file.clone(),
                        line: Some(2),
                        message: format!(
                            "a skill named {:?} is already loaded from {}",
                            skill.name,
                            first.display()
                        ),
                        fix: "rename one of the two skills".into(),
                    });
                    continue;
                }
                in_this_path.insert(skill.name.clone(), file.clone());
                if let Some(pos) = parsed.iter().position(|(s, _)| s.name == skill.name) {
                    let replaced = if builtin_names.contains(&skill.name) {
                        "built-in skill"
                    } else {
                        "skill from an earlier path"
                    };
                    tracing::info!(skill = %skill.name, file = %file.display(), "replaces the {replaced}");
                    parsed.remove(pos);
                }
                parsed.push((skill, Some(dir)));
            }
        }

        let mut registry = Registry {
            diagnostics,
            ..Registry::default()
        };
        for (skill, dir) in parsed {
            let clash = skill.tools.iter().find_map(|t| {
                registry
                    .tools
                    .get(&t.name)
                    .or_else(|| registry.hidden.get(&t.name))
                    .map(|other| (t.name.clone(), other.skill.clone()))
            });
            if let Some((tool, other)) = clash {
                let file = dir
                    .as_ref()
                    .map(|d| d.join("SKILL.md"))
                    .unwrap_or_else(|| Path::new("skills").join(&skill.name).join("SKILL.md"));
                registry.diagnostics.push(Diagnostic {
                    file,
                    line: None,
                    message: format!(
                        "tool {tool:?} is already declared by skill {other:?}; skill {:?} is skipped",
                        skill.name
                    ),
                    fix: "tool names are global: rename the tool, or give your skill the same name as the one it replaces".into(),
                });
                continue;
            }
            let mut names = Vec::new();
            for tool in skill.tools {
                names.push(tool.name.clone());
                let tool = Arc::new(tool);
                if tool.runs_scripts() && !sources.allow_scripts {
                    registry.hidden.insert(tool.name.clone(), tool);
                } else {
                    registry.tools.insert(tool.name.clone(), tool);
                }
            }
            registry.skills.insert(
                skill.name.clone(),
                Skill {
                    uri: format!("skill://{}/SKILL.md", skill.name),
                    name: skill.name,
                    description: skill.description,
                    text: skill.text,
                    frontmatter: skill.frontmatter,
                    dir,
                    tools: names,
                },
            );
        }
        registry
    }

    /// The names and schemas the client sees; used to tell whether a reload changed anything.
    pub fn tool_fingerprint(&self) -> Vec<(String, String)> {
        self.tools
            .values()
            .map(|t| {
                let shape = serde_json::json!([
                    t.title,
                    t.description,
                    *t.input_schema,
                    t.output_schema.as_deref(),
                    [t.read_only, t.destructive, t.idempotent, t.open_world]
                ]);
                (t.name.clone(), shape.to_string())
            })
            .collect()
    }
}

/// The skill folders under `root`: `root` itself when it holds a SKILL.md, else its subfolders
/// that do (sorted, so that load order and "the later one" are well defined).
fn skill_dirs(root: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    if root.join("SKILL.md").is_file() {
        return vec![root.to_path_buf()];
    }
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(Diagnostic {
                file: root.to_path_buf(),
                line: None,
                message: format!("cannot read skill folder: {e}"),
                fix: "check the path in [skills] paths or --skills".into(),
            });
            return Vec::new();
        }
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("SKILL.md").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> BindingRules {
        crate::dispatch::binding_rules()
    }

    fn write_skill(root: &Path, folder: &str, name: &str, tool: &str) {
        let dir = root.join(folder);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("SKILL.md"),
            format!(
                "---\nname: {name}\ndescription: test skill\ntools:\n  - name: {tool}\n    description: a tool\n    input_schema: {{type: object, additionalProperties: false}}\n    call: scene.get_selection\n---\nbody\n"
            ),
        )
        .expect("write");
    }

    /// The shipped schemas are not checked against the meta-schema at start-up (`Checks::Shipped`):
    /// this test does it instead, for every input and output schema.
    #[test]
    fn every_shipped_schema_is_valid() {
        for dir in BUILTIN_SKILLS.dirs() {
            let Some(file) = dir.get_file(dir.path().join("SKILL.md")) else {
                continue;
            };
            let text = String::from_utf8_lossy(file.contents());
            let folder = dir.path().to_string_lossy().to_string();
            let source = Source {
                file: file.path(),
                folder: &folder,
                dir: None,
            };
            // `parse_skill` runs every check, meta-schema included.
            if let Err(d) = parse_skill(&text, &source, rules()) {
                panic!("{}: {d:?}", file.path().display());
            }
        }
    }

    /// build.rs parses the shipped frontmatter at build time: what it wrote must be what the YAML
    /// parser gives at run time, for every shipped skill (a missing one would be parsed at load).
    #[test]
    fn shipped_frontmatter_is_the_yaml_parsed() {
        let prebuilt = shipped_frontmatter();
        let mut folders = Vec::new();
        for dir in BUILTIN_SKILLS.dirs() {
            let Some(file) = dir.get_file(dir.path().join("SKILL.md")) else {
                continue;
            };
            let folder = dir.path().to_string_lossy().to_string();
            let text = String::from_utf8_lossy(file.contents());
            let (yaml, _) = frontmatter::split_frontmatter(&text).expect("shipped frontmatter");
            let parsed: Value = serde_saphyr::from_str(yaml).expect("shipped YAML parses");
            assert_eq!(prebuilt.get(&folder), Some(&parsed), "{folder}");
            folders.push(folder);
        }
        assert_eq!(folders.len(), prebuilt.len(), "one entry per shipped skill");
        assert!(folders.len() >= 8, "{folders:?}");
    }

    /// The shipped tools compile their validators lazily (`LazyValidator`): every one must compile.
    #[test]
    fn every_shipped_validator_compiles() {
        let registry = Registry::load(
            &SkillSources {
                builtin: true,
                paths: vec![],
                allow_scripts: true,
            },
            rules(),
        );
        assert_eq!(registry.tools.len(), 40);
        for tool in registry.tools.values() {
            if let Err(e) = tool.validator.get(&tool.input_schema) {
                panic!("{}: {e}", tool.name);
            }
        }
    }

    #[test]
    fn argument_errors_name_the_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_skill(dir.path(), "one", "one", "tool_one");
        let registry = Registry::load(
            &SkillSources {
                builtin: false,
                paths: vec![dir.path().into()],
                allow_scripts: false,
            },
            rules(),
        );
        let tool = &registry.tools["tool_one"];
        // DCC tools get the optional `dcc` argument.
        assert!(
            tool.validate(&serde_json::json!({"dcc": "blender"}))
                .is_ok()
        );
        let errors = tool.validate(&serde_json::json!({"dcc": 3})).unwrap_err();
        assert_eq!(errors[0].field, "/dcc");
        let errors = tool
            .validate(&serde_json::json!({"colour": "red"}))
            .unwrap_err();
        assert_eq!(errors[0].field, "/colour");
        assert!(errors[0].message.contains("unknown argument"), "{errors:?}");
    }

    #[test]
    fn defaults_fill_missing_arguments_only() {
        let text = "---\nname: cams\ndescription: d\ntools:\n  - name: list_cameras\n    description: d\n    input_schema:\n      type: object\n      properties:\n        object_type: {const: camera, default: camera}\n    call: scene.list_objects\n---\n";
        let source = Source {
            file: Path::new("cams/SKILL.md"),
            folder: "cams",
            dir: None,
        };
        let skill = parse_skill(text, &source, rules()).expect("valid");
        let tool = &skill.tools[0];
        let mut args = serde_json::json!({});
        tool.apply_defaults(&mut args);
        assert_eq!(args["object_type"], "camera");
        assert!(tool.validate(&args).is_ok());
        let mut args = serde_json::json!({"object_type": "light"});
        tool.apply_defaults(&mut args);
        assert!(tool.validate(&args).is_err(), "const still enforced");
        assert!(!tool.timeout_explicit);
    }

    #[test]
    fn the_handshake_cannot_be_bound() {
        assert!(!crate::dispatch::is_known_method("dcc.hello"));
        assert!(crate::dispatch::is_known_method("dcc.ping"));
        assert!(crate::dispatch::is_known_method("motion.generate"));
    }

    #[test]
    fn user_paths_load_override_and_clash() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        write_skill(a.path(), "one", "one", "tool_one");
        write_skill(a.path(), "two", "two", "tool_two");
        write_skill(b.path(), "one", "one", "tool_one_b");
        write_skill(b.path(), "three", "three", "tool_two");
        write_skill(b.path(), "bad", "Bad", "x");
        let registry = Registry::load(
            &SkillSources {
                builtin: false,
                paths: vec![a.path().into(), b.path().into()],
                allow_scripts: false,
            },
            rules(),
        );
        // `one` from b replaced `one` from a.
        assert!(registry.tools.contains_key("tool_one_b"));
        assert!(!registry.tools.contains_key("tool_one"));
        assert!(registry.tools.contains_key("tool_two"));
        // `three` declares tool_two again: skipped with a diagnostic.
        assert!(!registry.skills.contains_key("three"));
        assert_eq!(registry.diagnostics.len(), 2, "{:#?}", registry.diagnostics);
        assert_eq!(registry.skills["one"].uri, "skill://one/SKILL.md");
    }
}
