//! One SKILL.md text -> a checked [`ParsedSkill`], or the diagnostics that explain why it was skipped.
//!
//! Parsing is strict on purpose: an unknown key is usually a typo (`inputSchema`, `read-only`) and
//! silently dropping it would change what a tool does. Every problem found is reported, with the
//! line where it can be located and how to fix it.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::frontmatter::split_frontmatter;
use super::{Binding, Diagnostic, LazyValidator, ToolSpec};

/// Longest skill description allowed (agentskills.io).
const MAX_DESCRIPTION: usize = 1024;
/// Longest `compatibility` text allowed (agentskills.io).
const MAX_COMPATIBILITY: usize = 500;
/// Longest tool deadline a SKILL.md may ask for: one day. Longer is almost certainly a unit mistake.
const MAX_TIMEOUT_SECONDS: u64 = 86_400;
/// Default deadline of DCC tools (docs/skills.md#tool-level-keys).
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
/// Default deadline of motion tools (docs/skills.md#tool-level-keys): generation can take minutes on a cold backend.
pub const DEFAULT_MOTION_TIMEOUT_SECONDS: u64 = 600;

/// ScriptLanguage of docs/bridge-protocol.md#data-types.
const SCRIPT_LANGUAGES: &[&str] = &[
    "python",
    "mel",
    "maxscript",
    "hscript",
    "vex",
    "lua",
    "csharp",
    "blueprint",
];

/// Spellings people (and other MCP servers) use for our keys, and the right spelling.
const MISSPELLINGS: &[(&str, &str)] = &[
    ("inputSchema", "input_schema"),
    ("outputSchema", "output_schema"),
    ("readOnly", "read_only"),
    ("read-only", "read_only"),
    ("readOnlyHint", "read_only"),
    ("destructiveHint", "destructive"),
    ("idempotentHint", "idempotent"),
    ("openWorld", "open_world"),
    ("openWorldHint", "open_world"),
    ("timeout", "timeout_seconds"),
    ("timeoutSeconds", "timeout_seconds"),
    ("parameters", "input_schema"),
    ("allowed_tools", "allowed-tools"),
    ("allowedTools", "allowed-tools"),
    ("uiResource", "ui_resource"),
    ("resourceUri", "ui_resource"),
];

/// Knows which `call:` targets exist, which bindings talk to a DCC, and which capabilities a DCC
/// can have. Supplied by the dispatcher, so that this module does not depend on it.
#[derive(Clone, Copy)]
pub struct BindingRules {
    pub is_known_method: fn(&str) -> bool,
    pub is_dcc_binding: fn(&Binding) -> bool,
    /// The DccCapabilities names (docs/bridge-protocol.md#data-types) that `requires:` may list.
    pub capabilities: &'static [&'static str],
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Frontmatter {
    name: String,
    description: String,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    compatibility: Option<String>,
    #[serde(default, rename = "allowed-tools")]
    #[allow(dead_code)] // kept, not interpreted (agentskills)
    allowed_tools: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)] // kept, not interpreted (agentskills)
    metadata: Option<Value>,
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    dcc: Vec<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    tools: Vec<ToolDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolDecl {
    name: String,
    #[serde(default)]
    title: Option<String>,
    description: String,
    input_schema: Value,
    #[serde(default)]
    output_schema: Option<Value>,
    #[serde(default)]
    call: Option<String>,
    #[serde(default)]
    script: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    read_only: Option<bool>,
    #[serde(default)]
    destructive: Option<bool>,
    #[serde(default)]
    idempotent: Option<bool>,
    #[serde(default)]
    open_world: Option<bool>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    ui_resource: Option<String>,
}

/// A skill that passed every check.
#[derive(Debug, Clone)]
pub struct ParsedSkill {
    pub name: String,
    pub description: String,
    pub license: Option<String>,
    pub version: Option<String>,
    /// DCC types the tools work with (`blender`, `stage`, `any`, ...).
    pub dcc: Vec<String>,
    /// The frontmatter as JSON, verbatim (served through the MCP Skills extension).
    pub frontmatter: Map<String, Value>,
    /// The whole SKILL.md text.
    pub text: String,
    pub tools: Vec<ToolSpec>,
}

/// Where a SKILL.md came from: `dir` is the skill folder on disk (None for a built-in skill, whose
/// folder name is `folder`), `file` is what diagnostics print.
pub struct Source<'a> {
    pub file: &'a Path,
    pub folder: &'a str,
    pub dir: Option<&'a Path>,
}

/// Parses and checks one SKILL.md. On any problem the skill is skipped and every problem returned.
pub fn parse_skill(
    text: &str,
    source: &Source<'_>,
    rules: BindingRules,
) -> Result<ParsedSkill, Vec<Diagnostic>> {
    parse_skill_checked(text, source, rules, Checks::All, None)
}

/// Which load-time checks a SKILL.md gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checks {
    /// Every check, now: user skills, `skills check`, tests.
    All,
    /// The skills compiled into the binary. Their schemas cannot change after the build and unit
    /// tests check them (`every_shipped_schema_is_valid`, `every_shipped_validator_compiles`), so
    /// `serve` does not pay at start-up for checking them against the JSON Schema meta-schema (the
    /// meta-schema's own one-time compile is ~1 ms) nor for compiling their validators, which
    /// compile on first use instead (`LazyValidator`).
    Shipped,
}

/// [`parse_skill`] with a choice of checks (the registry parses shipped skills with `Shipped`), and
/// the frontmatter already read into JSON when build.rs did that (the shipped skills).
pub(crate) fn parse_skill_checked(
    text: &str,
    source: &Source<'_>,
    rules: BindingRules,
    checks: Checks,
    prebuilt_frontmatter: Option<Map<String, Value>>,
) -> Result<ParsedSkill, Vec<Diagnostic>> {
    let diag = |line: Option<usize>, message: String, fix: &str| Diagnostic {
        file: source.file.to_path_buf(),
        line,
        message,
        fix: fix.to_string(),
    };
    let Some((yaml, yaml_first_line)) = split_frontmatter(text) else {
        return Err(vec![diag(
            Some(1),
            "no YAML frontmatter".into(),
            "start the file with a line `---`, the frontmatter, and a closing `---` line",
        )]);
    };
    // Parsing YAML was most of the time `serve` took to start (the shipped frontmatter is ~54 KB):
    // the shipped skills' frontmatter comes parsed into JSON by build.rs, and any other is parsed
    // once, into JSON. The typed view is read from that JSON. Only when the typed view does not fit
    // (a bad or misspelled key, a number where a string goes, ...) is the YAML parsed again, typed,
    // exactly as before: that parse decides, and its error carries the line number the diagnostic
    // shows.
    let as_json = match prebuilt_frontmatter {
        Some(map) => Ok(Value::Object(map)),
        None => serde_saphyr::from_str::<Value>(yaml),
    };
    let (front, frontmatter): (Frontmatter, Map<String, Value>) = match as_json {
        Ok(value @ Value::Object(_)) => {
            let fast = Frontmatter::deserialize(&value);
            let Value::Object(map) = value else {
                unreachable!("matched an object")
            };
            match fast {
                Ok(front) => (front, map),
                Err(_) => match serde_saphyr::from_str(yaml) {
                    Ok(front) => (front, map),
                    Err(e) => {
                        return Err(vec![yaml_error(&e, yaml, yaml_first_line, source.file)]);
                    }
                },
            }
        }
        _ => match serde_saphyr::from_str(yaml) {
            Ok(front) => (front, Map::new()),
            Err(e) => return Err(vec![yaml_error(&e, yaml, yaml_first_line, source.file)]),
        },
    };
    let line_of = |needle: &str| find_line(yaml, needle).map(|l| l + yaml_first_line - 1);

    let mut problems = Vec::new();
    if !is_skill_name(&front.name) {
        problems.push(diag(
            line_of("name:"),
            format!("skill name {:?} is not kebab-case", front.name),
            "use 1-64 lowercase letters, digits and single hyphens, e.g. `my-tools`",
        ));
    } else if front.name != source.folder {
        problems.push(diag(
            line_of("name:"),
            format!(
                "skill name {:?} differs from its folder name {:?}",
                front.name, source.folder
            ),
            "rename the folder or the skill so that they are equal",
        ));
    }
    if front.description.trim().is_empty() || front.description.chars().count() > MAX_DESCRIPTION {
        problems.push(diag(
            line_of("description:"),
            "the skill description must be 1-1024 characters".into(),
            "say in a sentence or two what the skill is for and when to use it",
        ));
    }
    if let Some(c) = &front.compatibility
        && c.chars().count() > MAX_COMPATIBILITY
    {
        problems.push(diag(
            line_of("compatibility:"),
            "`compatibility` is longer than 500 characters".into(),
            "shorten it",
        ));
    }
    for cap in &front.requires {
        if !rules.capabilities.contains(&cap.as_str()) {
            problems.push(diag(
                line_of("requires:"),
                format!("`requires` names an unknown capability {cap:?}"),
                &format!(
                    "use DccCapabilities names: {}",
                    rules.capabilities.join(", ")
                ),
            ));
        }
    }

    let mut tools = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for decl in front.tools {
        let line = line_of(&format!("name: {}", decl.name));
        match check_tool(decl, &front.name, &front.requires, source, rules, checks) {
            Ok(tool) => {
                if !seen.insert(tool.name.clone()) {
                    problems.push(diag(
                        line,
                        format!("tool {:?} is declared twice in this skill", tool.name),
                        "give every tool its own name",
                    ));
                } else {
                    tools.push(tool);
                }
            }
            Err((message, fix)) => problems.push(diag(line, message, &fix)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ParsedSkill {
        name: front.name,
        description: front.description,
        license: front.license,
        version: front.version.map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        }),
        dcc: front.dcc,
        frontmatter,
        text: text.to_string(),
        tools,
    })
}

fn check_tool(
    decl: ToolDecl,
    skill: &str,
    requires: &[String],
    source: &Source<'_>,
    rules: BindingRules,
    checks: Checks,
) -> Result<ToolSpec, (String, String)> {
    let name = decl.name;
    if !is_tool_name(&name) {
        return Err((
            format!("tool name {name:?} is not valid"),
            "use a lowercase letter followed by up to 63 lowercase letters, digits or `_`".into(),
        ));
    }
    if decl.description.trim().is_empty() {
        return Err((
            format!("tool {name:?} has an empty description"),
            "describe what the tool does, with units and conventions".into(),
        ));
    }
    let meta = checks == Checks::All;
    let input_schema = schema_object(decl.input_schema, &name, "input_schema", meta)?;
    if input_schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err((
            format!("tool {name:?}: input_schema must have `type: object`"),
            "MCP tool arguments are an object: declare `type: object` and `properties`".into(),
        ));
    }
    let output_schema = decl
        .output_schema
        .map(|s| schema_object(s, &name, "output_schema", meta))
        .transpose()?;

    let binding = match (decl.call, decl.script) {
        (Some(_), Some(_)) => {
            return Err((
                format!("tool {name:?} has both `call` and `script`"),
                "keep exactly one of them".into(),
            ));
        }
        (None, None) => {
            return Err((
                format!("tool {name:?} has neither `call` nor `script`"),
                "bind it with `call: <method>` or `script: scripts/<file>`".into(),
            ));
        }
        (Some(method), None) => {
            if !(rules.is_known_method)(&method) {
                return Err((
                    format!("tool {name:?}: unknown call method {method:?}"),
                    "use a method of docs/bridge-protocol.md such as `transform.get_transform`, or a built-in such as `motion.generate`".into(),
                ));
            }
            if decl.language.is_some() {
                return Err((
                    format!("tool {name:?}: `language` only applies to `script` tools"),
                    "remove `language`".into(),
                ));
            }
            Binding::Call(method)
        }
        (None, Some(script)) => {
            let path = script_path(&script, source.dir).map_err(|why| {
                (
                    format!("tool {name:?}: script {script:?} {why}"),
                    "put the script inside the skill folder and give its path relative to SKILL.md, e.g. `scripts/do_it.py`".to_string(),
                )
            })?;
            let language = match decl.language {
                Some(lang) => lang,
                None => language_from_extension(&path).ok_or_else(|| {
                    (
                        format!("tool {name:?}: cannot tell the language of {script:?}"),
                        "add `language: python` (or mel, maxscript, hscript, vex, lua, csharp, blueprint)".to_string(),
                    )
                })?,
            };
            if !SCRIPT_LANGUAGES.contains(&language.as_str()) {
                return Err((
                    format!("tool {name:?}: unknown script language {language:?}"),
                    format!("use one of {}", SCRIPT_LANGUAGES.join(", ")),
                ));
            }
            Binding::Script { path, language }
        }
    };
    let motion = matches!(&binding, Binding::Call(m) if m.starts_with("motion."));
    let timeout_seconds = decl.timeout_seconds.unwrap_or(if motion {
        DEFAULT_MOTION_TIMEOUT_SECONDS
    } else {
        DEFAULT_TIMEOUT_SECONDS
    });
    if timeout_seconds == 0 || timeout_seconds > MAX_TIMEOUT_SECONDS {
        return Err((
            format!("tool {name:?}: timeout_seconds must be between 1 and 86400"),
            "give the deadline in seconds".into(),
        ));
    }

    if let Some(uri) = &decl.ui_resource
        && !is_ui_uri(uri)
    {
        return Err((
            format!("tool {name:?}: ui_resource {uri:?} is not a ui:// URI"),
            "name an MCP Apps view the server serves, e.g. `ui://stagecraft/take-viewer` (docs/viewer.md)".into(),
        ));
    }

    let mut input_schema = input_schema;
    if (rules.is_dcc_binding)(&binding) {
        add_dcc_property(&mut input_schema);
    }
    // Shipped skills compile their validator on first use (see `LazyValidator`); a user's skill is
    // compiled now, so that a schema the validator cannot build is a diagnostic at load.
    let validator = if checks == Checks::All {
        let compiled =
            jsonschema::validator_for(&Value::Object(input_schema.clone())).map_err(|e| {
                (
                    format!("tool {name:?}: input_schema is not a valid JSON Schema: {e}"),
                    "fix the schema (JSON Schema 2020-12)".to_string(),
                )
            })?;
        LazyValidator::compiled(compiled)
    } else {
        LazyValidator::default()
    };

    Ok(ToolSpec {
        name,
        title: decl.title,
        description: decl.description,
        input_schema: Arc::new(input_schema),
        output_schema: output_schema.map(Arc::new),
        binding,
        read_only: decl.read_only.unwrap_or(false),
        destructive: decl.destructive.unwrap_or(false),
        idempotent: decl.idempotent.unwrap_or(false),
        open_world: decl.open_world.unwrap_or(false),
        timeout_seconds,
        timeout_explicit: decl.timeout_seconds.is_some(),
        ui_resource: decl.ui_resource,
        skill: skill.to_string(),
        requires: requires.to_vec(),
        validator: Arc::new(validator),
    })
}

/// `ui://<host>/<path>`: the scheme MCP Apps reserves for views, with something after it.
fn is_ui_uri(uri: &str) -> bool {
    uri.strip_prefix("ui://")
        .is_some_and(|rest| !rest.is_empty() && !rest.chars().any(char::is_whitespace))
}

/// A schema given as a YAML map or as a JSON string, checked against the JSON Schema meta-schema
/// when `meta` (see [`Checks`]).
fn schema_object(
    value: Value,
    tool: &str,
    key: &str,
    meta: bool,
) -> Result<Map<String, Value>, (String, String)> {
    let value = match value {
        Value::String(text) => serde_json::from_str(&text).map_err(|e| {
            (
                format!("tool {tool:?}: {key} is a string but not JSON: {e}"),
                "write the schema as a YAML map, or as a valid JSON string".to_string(),
            )
        })?,
        other => other,
    };
    let Value::Object(map) = value else {
        return Err((
            format!("tool {tool:?}: {key} must be a JSON Schema object"),
            "write it as a map, e.g. `{type: object, properties: {...}}`".into(),
        ));
    };
    let as_value = Value::Object(map);
    if !meta {
        return match as_value {
            Value::Object(map) => Ok(map),
            _ => unreachable!("an object"),
        };
    }
    if let Err(e) = jsonschema::meta::validate(&as_value) {
        let at = e.instance_path().to_string();
        let at = if at.is_empty() {
            String::new()
        } else {
            format!(" at {at}")
        };
        return Err((
            format!("tool {tool:?}: {key} is not a valid JSON Schema{at}: {e}"),
            "fix the schema (JSON Schema 2020-12)".into(),
        ));
    }
    match as_value {
        Value::Object(map) => Ok(map),
        _ => unreachable!("checked above"),
    }
}

/// Adds the optional `dcc` connection argument, unless the tool declares one itself. It has no
/// description: `list_dccs` explains it once, instead of every DCC tool's schema repeating it in
/// every client's context (the budget of `skills list`). Nor a `minLength`: an empty name fails
/// as any unknown one does, with `no_dcc` listing the connections there are.
fn add_dcc_property(schema: &mut Map<String, Value>) {
    let properties = schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(props) = properties
        && !props.contains_key("dcc")
    {
        props.insert("dcc".into(), serde_json::json!({"type": "string"}));
    }
}

/// Resolves a `script:` path: relative, no `..`, inside the skill folder, and an existing file.
fn script_path(script: &str, dir: Option<&Path>) -> Result<PathBuf, &'static str> {
    let rel = Path::new(script);
    if rel.is_absolute() {
        return Err("is absolute");
    }
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err("escapes the skill folder");
    }
    let Some(dir) = dir else {
        return Err("cannot be used in a built-in skill");
    };
    let full = dir.join(rel);
    // A symlink inside the folder may still point outside it.
    let (Ok(real), Ok(root)) = (full.canonicalize(), dir.canonicalize()) else {
        return Err("does not exist");
    };
    if !real.starts_with(&root) {
        return Err("escapes the skill folder");
    }
    if !real.is_file() {
        return Err("is not a file");
    }
    Ok(real)
}

fn language_from_extension(path: &Path) -> Option<String> {
    let lang = match path.extension()?.to_str()? {
        "py" => "python",
        "mel" => "mel",
        "ms" | "mcr" => "maxscript",
        "cmd" | "hscript" => "hscript",
        "vex" | "vfl" => "vex",
        "lua" => "lua",
        "cs" => "csharp",
        _ => return None,
    };
    Some(lang.to_string())
}

fn find_line(yaml: &str, needle: &str) -> Option<usize> {
    yaml.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

fn yaml_error(e: &serde_saphyr::Error, yaml: &str, first_line: usize, file: &Path) -> Diagnostic {
    let message = e.to_string();
    let mut line = e
        .location()
        .map(|l| l.line() as usize + first_line - 1)
        .filter(|l| *l >= first_line);
    let mut fix = "fix the YAML frontmatter (see docs/skills.md for the keys)".to_string();
    for (wrong, right) in MISSPELLINGS {
        if message.contains(&format!("`{wrong}`")) {
            fix = format!("`{wrong}` is spelled `{right}` in a SKILL.md");
            if line.is_none() {
                line = find_line(yaml, &format!("{wrong}:")).map(|l| l + first_line - 1);
            }
            break;
        }
    }
    if fix.starts_with("fix the YAML") && message.contains("unknown field") {
        fix = "remove the key or correct its spelling (see docs/skills.md for the keys)".into();
    }
    Diagnostic {
        file: file.to_path_buf(),
        line,
        message: first_line_of(&message),
        fix,
    }
}

/// The first line of a parser message, without the parser's own YAML-relative location
/// (`error: line 2 column 14: ...`): the diagnostic already carries the file line.
fn first_line_of(text: &str) -> String {
    let line = text.lines().next().unwrap_or(text).trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    if line.starts_with("line ")
        && let Some((location, rest)) = line.split_once(": ")
        && location.contains("column")
    {
        return rest.to_string();
    }
    line.to_string()
}

/// kebab-case, 1-64 characters (agentskills.io).
fn is_skill_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `^[a-z][a-z0-9_]{0,63}$` (docs/skills.md#tool-level-keys).
fn is_tool_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> BindingRules {
        BindingRules {
            is_known_method: |m| m == "transform.get_transform" || m == "motion.generate",
            is_dcc_binding: |b| matches!(b, Binding::Call(m) if m.starts_with("transform.")),
            capabilities: crate::dcc::types::DccCapabilities::FLAGS,
        }
    }

    /// The one-parse path (YAML → JSON → typed) reads every shipped SKILL.md exactly as the typed
    /// YAML parse does, and needs no second parse.
    #[test]
    fn typed_view_from_json_equals_the_typed_yaml_parse() {
        let mut checked = 0;
        for dir in crate::skills::BUILTIN_SKILLS.dirs() {
            let Some(file) = dir.get_file(dir.path().join("SKILL.md")) else {
                continue;
            };
            let text = String::from_utf8_lossy(file.contents());
            let (yaml, _) = split_frontmatter(&text).expect("frontmatter");
            let typed: Frontmatter = serde_saphyr::from_str(yaml).expect("typed parse");
            let value: Value = serde_saphyr::from_str(yaml).expect("JSON parse");
            let fast = Frontmatter::deserialize(&value).expect("typed view of the JSON");
            assert_eq!(
                format!("{typed:?}"),
                format!("{fast:?}"),
                "{}",
                dir.path().display()
            );
            checked += 1;
        }
        assert_eq!(checked, 8);
    }

    /// A value that only the typed YAML parse accepts (a number where a string goes) still loads,
    /// through the fallback.
    #[test]
    fn typed_yaml_parse_still_decides_when_the_json_view_does_not_fit() {
        let text = "---\nname: transform\ndescription: 2024\ntools: []\n---\nbody\n";
        let typed: Result<Frontmatter, _> =
            serde_saphyr::from_str(split_frontmatter(text).unwrap().0);
        let skill = parse(text);
        assert_eq!(typed.is_ok(), skill.is_ok(), "{skill:?}");
        if let Ok(skill) = skill {
            assert_eq!(skill.description, "2024");
        }
    }

    fn parse(text: &str) -> Result<ParsedSkill, Vec<Diagnostic>> {
        parse_skill(
            text,
            &Source {
                file: Path::new("skills/transform/SKILL.md"),
                folder: "transform",
                dir: None,
            },
            rules(),
        )
    }

    const GOOD: &str = "---\nname: transform\ndescription: Move things.\ntools:\n  - name: get_transform\n    description: Read a transform.\n    input_schema:\n      type: object\n      required: [object_name]\n      properties:\n        object_name: {type: string}\n    call: transform.get_transform\n    read_only: true\n---\n# Body\n";

    #[test]
    fn good_skill_parses_and_gets_dcc_property() {
        let skill = parse(GOOD).expect("valid");
        assert_eq!(skill.tools.len(), 1);
        let tool = &skill.tools[0];
        assert!(tool.read_only);
        assert_eq!(tool.timeout_seconds, DEFAULT_TIMEOUT_SECONDS);
        assert!(tool.input_schema["properties"]["dcc"].is_object());
        assert_eq!(skill.frontmatter["name"], "transform");
    }

    #[test]
    fn camel_case_input_schema_names_the_right_spelling() {
        let text = GOOD.replace("input_schema:", "inputSchema:");
        let diags = parse(&text).unwrap_err();
        assert_eq!(diags.len(), 1);
        assert!(diags[0].fix.contains("input_schema"), "{:?}", diags[0]);
        assert_eq!(diags[0].line, Some(7), "{:?}", diags[0]);
    }

    #[test]
    fn schema_as_json_string_is_accepted() {
        let text = GOOD.replace(
            "    input_schema:\n      type: object\n      required: [object_name]\n      properties:\n        object_name: {type: string}\n",
            "    input_schema: '{\"type\": \"object\", \"properties\": {\"object_name\": {\"type\": \"string\"}}}'\n",
        );
        let skill = parse(&text).expect("valid");
        assert!(skill.tools[0].input_schema["properties"]["object_name"].is_object());
    }

    #[test]
    fn invalid_schema_is_reported() {
        let text = GOOD.replace("object_name: {type: string}", "object_name: {type: 17}");
        let diags = parse(&text).unwrap_err();
        assert!(
            diags[0].message.contains("not a valid JSON Schema"),
            "{:?}",
            diags
        );
    }

    #[test]
    fn unknown_method_and_both_bindings_are_reported() {
        let diags =
            parse(&GOOD.replace("transform.get_transform", "transform.teleport")).unwrap_err();
        assert!(
            diags[0].message.contains("unknown call method"),
            "{diags:?}"
        );
        let diags = parse(&GOOD.replace(
            "call: transform.get_transform",
            "call: transform.get_transform\n    script: x.py",
        ))
        .unwrap_err();
        assert!(diags[0].message.contains("both"), "{diags:?}");
    }

    #[test]
    fn folder_mismatch_and_bad_names() {
        let diags = parse(&GOOD.replace("name: transform", "name: Transform")).unwrap_err();
        assert!(diags[0].message.contains("kebab-case"), "{diags:?}");
        let diags = parse(&GOOD.replace("name: get_transform", "name: Get-Transform")).unwrap_err();
        assert!(diags[0].message.contains("not valid"), "{diags:?}");
    }

    #[test]
    fn script_escaping_folder_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let skill_dir = dir.path().join("transform");
        std::fs::create_dir_all(&skill_dir).expect("mkdir");
        std::fs::write(dir.path().join("evil.py"), "print(1)").expect("write");
        let text = GOOD.replace("call: transform.get_transform", "script: ../evil.py");
        let diags = parse_skill(
            &text,
            &Source {
                file: &skill_dir.join("SKILL.md"),
                folder: "transform",
                dir: Some(&skill_dir),
            },
            rules(),
        )
        .unwrap_err();
        assert!(diags[0].message.contains("escapes"), "{diags:?}");
    }

    #[test]
    fn missing_frontmatter_and_bad_yaml() {
        assert!(
            parse("# just a body\n").unwrap_err()[0]
                .message
                .contains("frontmatter")
        );
        let diags = parse("---\nname: [unclosed\n---\n").unwrap_err();
        assert_eq!(diags.len(), 1);
        assert!(diags[0].line.is_some(), "{diags:?}");
    }

    #[test]
    fn motion_tools_default_to_long_deadline() {
        let text = GOOD.replace("call: transform.get_transform", "call: motion.generate");
        let skill = parse(&text).expect("valid");
        assert_eq!(
            skill.tools[0].timeout_seconds,
            DEFAULT_MOTION_TIMEOUT_SECONDS
        );
        assert!(
            !skill.tools[0].input_schema["properties"]
                .as_object()
                .is_some_and(|p| p.contains_key("dcc"))
        );
    }

    #[test]
    fn ui_resource_is_a_ui_uri() {
        let with = |uri: &str| {
            GOOD.replace(
                "call: transform.get_transform",
                &format!("call: transform.get_transform\n    ui_resource: {uri:?}"),
            )
        };
        let skill = parse(&with("ui://studio/shot")).expect("valid");
        assert_eq!(
            skill.tools[0].ui_resource.as_deref(),
            Some("ui://studio/shot")
        );
        assert_eq!(parse(GOOD).expect("valid").tools[0].ui_resource, None);
        for bad in ["https://studio/shot.html", "ui://", "ui://a b"] {
            let diags = parse(&with(bad)).unwrap_err();
            assert!(diags[0].message.contains("not a ui:// URI"), "{diags:?}");
        }
    }
}
