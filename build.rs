//! Rebuilds the crate when a file that `include_dir!` compiles in changes (the shipped skills,
//! and the Blender extension `stagecraft setup` installs): a proc macro cannot tell cargo which
//! files it read, so without this an edited add-on would ship stale until some Rust file changed.
//! Python caches are skipped: importing the add-on in the tests must not trigger a rebuild.

use std::path::Path;

fn main() {
    for dir in ["skills", "adapters/blender/stagecraft_blender"] {
        watch(Path::new(dir));
    }
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
