//! Two jobs before the crate compiles:
//!
//! - Rebuild the crate when a file that `include_dir!` compiles in changes (the shipped skills, and
//!   the Blender extension `stagecraft setup` installs): a proc macro cannot tell cargo which files
//!   it read, so without this an edited add-on would ship stale until some Rust file changed.
//!   Python caches are skipped: importing the add-on in the tests must not trigger a rebuild.
//! - Parse the shipped skills' YAML frontmatter into JSON (`$OUT_DIR/shipped_frontmatter.json`,
//!   `{folder: frontmatter}`), with the same parser the crate uses: parsing that YAML was half the
//!   time `serve` took to start. A skill whose YAML does not parse is left out, and the crate parses
//!   it at load, which reports the problem like any other skill's.

use std::path::Path;

#[path = "src/skills/frontmatter.rs"]
mod frontmatter;

fn main() {
    for dir in ["skills", "adapters/blender/stagecraft_blender"] {
        watch(Path::new(dir));
    }
    let mut shipped = serde_json::Map::new();
    let mut folders: Vec<_> = std::fs::read_dir("skills")
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    folders.sort();
    for folder in folders {
        let (Some(name), Ok(text)) = (
            folder.file_name().and_then(|n| n.to_str()),
            std::fs::read_to_string(folder.join("SKILL.md")),
        ) else {
            continue;
        };
        if let Some((yaml, _)) = frontmatter::split_frontmatter(&text)
            && let Ok(value) = serde_saphyr::from_str::<serde_json::Value>(yaml)
        {
            shipped.insert(name.to_string(), value);
        }
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("shipped_frontmatter.json");
    let json = serde_json::Value::Object(shipped).to_string();
    std::fs::write(&out, json).expect("OUT_DIR is writable");
}

fn watch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "__pycache__") {
            continue;
        }
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
