//! Property-based fuzzing of the inputs an outsider controls: SKILL.md files, config files and tool
//! arguments. Each property feeds arbitrary or mutated input and checks that nothing panics and
//! that failures come back as diagnostics or errors that say where the problem is. The case count
//! is bounded so that this runs in CI in seconds (`PROPTEST_CASES` raises it for a longer run).

use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};
use stagecraft::config::Config;
use stagecraft::skills::{BindingRules, Registry, SkillSources, Source, parse_skill};

fn rules() -> BindingRules {
    stagecraft::dispatch::binding_rules()
}

const VALID_SKILL: &str = "---\nname: fuzz\ndescription: A skill.\ntools:\n  - name: move_it\n    description: Move it.\n    input_schema:\n      type: object\n      required: [object_name]\n      properties:\n        object_name: {type: string, minLength: 1}\n        translate: {type: array, items: {type: number}, minItems: 3, maxItems: 3}\n    call: transform.set_transform\n    timeout_seconds: 10\n---\n# body\n";

const VALID_CONFIG: &str = "[skills]\npaths = [\"a\"]\nallow_scripts = false\n\n[[motion.backends]]\nname = \"k\"\nurl = \"http://127.0.0.1:8000\"\ntimeout_seconds = 60\n\n[[dcc]]\nname = \"b\"\nbridge = \"websocket\"\nendpoint = \"ws://127.0.0.1:9876\"\n";

/// Applies a byte-level edit to a valid document: the mutations a fuzzer would try first.
fn mutate(base: &str, at: usize, op: u8, fill: &str) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    let at = at % (chars.len() + 1);
    match op % 4 {
        0 => chars.splice(at..at, fill.chars()).for_each(drop),
        1 => {
            let end = (at + fill.len().max(1)).min(chars.len());
            chars.drain(at..end);
        }
        2 => chars.truncate(at),
        _ => {
            let end = (at + fill.chars().count()).min(chars.len());
            chars.splice(at..end, fill.chars()).for_each(drop);
        }
    }
    chars.into_iter().collect()
}

fn parse(text: &str) {
    let source = Source {
        file: Path::new("fuzz/SKILL.md"),
        folder: "fuzz",
        dir: None,
    };
    match parse_skill(text, &source, rules()) {
        Ok(skill) => {
            // Whatever loaded must be usable: its tools validate arbitrary arguments without panicking.
            for tool in &skill.tools {
                let _ = tool.validate(&json!({"object_name": "x", "translate": [1, 2, 3]}));
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty());
            for d in diagnostics {
                assert!(!d.message.is_empty() && !d.fix.is_empty(), "{d:?}");
            }
        }
    }
}

fn shipped() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| {
        let sources = SkillSources {
            builtin: true,
            paths: vec![],
            allow_scripts: true,
        };
        Registry::load(&sources, rules())
    })
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(400)
    ))]

    #[test]
    fn skill_md_arbitrary_text_never_panics(text in "(---\n)?(.|\n){0,400}") {
        parse(&text);
    }

    #[test]
    fn skill_md_mutations_never_panic(at in 0usize..600, op in any::<u8>(), fill in "(.|\n){0,12}") {
        parse(&mutate(VALID_SKILL, at, op, &fill));
    }

    #[test]
    fn config_mutations_never_panic(at in 0usize..400, op in any::<u8>(), fill in "(.|\n){0,12}") {
        let text = mutate(VALID_CONFIG, at, op, &fill);
        if let Err(e) = Config::parse(&text, Path::new("fuzz.toml")) {
            prop_assert!(e.to_string().starts_with("fuzz.toml"), "{e}");
        }
    }

    #[test]
    fn tool_arguments_of_every_shipped_tool_never_panic(args in arbitrary_json()) {
        for tool in shipped().tools.values() {
            if let Err(errors) = tool.validate(&args) {
                prop_assert!(!errors.is_empty());
            }
        }
    }
}
