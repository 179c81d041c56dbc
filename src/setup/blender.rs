//! Finding Blender installations and installing the stagecraft extension into them.
//!
//! The extension's files are compiled into the binary (an installed stagecraft has no
//! checkout); setup unpacks them and runs adapters/blender/install.py inside each Blender,
//! which installs them with Blender's own extension installer into the `user_default`
//! repository, enables the add-on and saves the preferences.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use include_dir::{Dir, include_dir};
use serde::Deserialize;

static EXTENSION: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/adapters/blender/stagecraft_blender");
const INSTALL_SCRIPT: &str = include_str!("../../adapters/blender/install.py");
const REPORT_PREFIX: &str = "STAGECRAFT_SETUP ";
/// Blender starts in a few seconds; a first start after an upgrade can take much longer.
const BLENDER_DEADLINE: Duration = Duration::from_secs(300);

/// What install.py found or did in one Blender.
#[derive(Debug, Clone, Deserialize)]
pub struct BlenderReport {
    #[serde(default)]
    pub blender: Option<String>,
    #[serde(default)]
    pub repository: Option<PathBuf>,
    /// unchanged | missing | outdated | disabled | installed | too_old
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

impl BlenderReport {
    pub fn usable(&self) -> bool {
        self.error.is_none() && self.state.as_deref() != Some("too_old")
    }
}

/// Blender programs to set up: `explicit` alone when given, else `blender` on PATH and the
/// standard install locations of this OS. A Python with the `bpy` module counts too.
pub fn find(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_path_buf()];
    }
    let mut found: Vec<PathBuf> = Vec::new();
    let mut add = |path: PathBuf| {
        if path.is_file() {
            let real = path.canonicalize().unwrap_or(path);
            if !found.contains(&real) {
                found.push(real);
            }
        }
    };
    let exe = if cfg!(windows) {
        "blender.exe"
    } else {
        "blender"
    };
    for dir in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
    {
        add(dir.join(exe));
    }
    for path in standard_locations() {
        add(path);
    }
    found
}

fn standard_locations() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut paths = Vec::new();
    if cfg!(target_os = "macos") {
        let app = Path::new("Blender.app/Contents/MacOS/Blender");
        paths.push(Path::new("/Applications").join(app));
        if let Some(home) = &home {
            paths.push(home.join("Applications").join(app));
        }
    } else if cfg!(windows) {
        // One folder per version: C:\Program Files\Blender Foundation\Blender 4.5\blender.exe
        for root in ["ProgramFiles", "ProgramW6432"] {
            if let Some(root) = std::env::var_os(root) {
                paths.extend(subfolders(
                    &PathBuf::from(root).join("Blender Foundation"),
                    "blender.exe",
                ));
            }
        }
    } else {
        paths.extend(
            [
                "/usr/bin/blender",
                "/usr/local/bin/blender",
                "/snap/bin/blender",
            ]
            .map(PathBuf::from),
        );
        paths.push(PathBuf::from(
            "/var/lib/flatpak/exports/bin/org.blender.Blender",
        ));
        // Unpacked release archives: /opt/blender-4.5.1-linux-x64/blender
        paths.extend(subfolders(Path::new("/opt"), "blender"));
        if let Some(home) = &home {
            paths.extend(subfolders(home, "blender"));
        }
    }
    paths
}

/// `dir/*blender*/program`, for release folders named by version.
fn subfolders(dir: &Path, program: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .to_lowercase()
                .contains("blender")
        })
        .map(|e| e.path().join(program))
        .collect();
    paths.sort();
    paths
}

/// Whether `program` is a Python (run a script as `program script.py`) rather than Blender.
fn is_python(program: &Path) -> bool {
    program
        .file_name()
        .is_some_and(|n| n.to_string_lossy().to_lowercase().starts_with("python"))
}

/// Runs install.py in `program`: `install` false only looks. The extension is unpacked in a
/// temporary folder that is removed afterwards.
pub fn run(program: &Path, install: bool) -> BlenderReport {
    let failed = |error: String| BlenderReport {
        blender: None,
        repository: None,
        state: None,
        error: Some(error),
    };
    let work = std::env::temp_dir().join(format!(
        "stagecraft-setup-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let source = work.join("stagecraft_blender");
    let script = work.join("install.py");
    let prepared =
        unpack(&EXTENSION, &source).and_then(|()| std::fs::write(&script, INSTALL_SCRIPT));
    let report = match prepared {
        Err(e) => failed(format!(
            "cannot unpack the extension in {}: {e}",
            work.display()
        )),
        Ok(()) => {
            let mut command = Command::new(program);
            if is_python(program) {
                command.arg(&script);
            } else {
                command.arg("--background").arg("--python").arg(&script);
            }
            command.env("STAGECRAFT_EXTENSION_SOURCE", &source).env(
                "STAGECRAFT_INSTALL_MODE",
                if install { "install" } else { "check" },
            );
            match output_within(command, BLENDER_DEADLINE) {
                Err(e) => failed(format!("cannot run {}: {e}", program.display())),
                Ok((stdout, stderr)) => match stdout
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix(REPORT_PREFIX))
                {
                    Some(json) => match serde_json::from_str::<BlenderReport>(json) {
                        // No version: the script did not get as far as `import bpy`.
                        Ok(report) if report.blender.is_none() => failed(format!(
                            "{} is not a Blender 4.2+ (or a Python with bpy): {}",
                            program.display(),
                            report.error.as_deref().unwrap_or("no version reported")
                        )),
                        Ok(report) => report,
                        Err(e) => failed(format!("unreadable report {json:?}: {e}")),
                    },
                    None => failed(format!(
                        "{} is not a Blender 4.2+ (or a Python with bpy): {}",
                        program.display(),
                        last_line(&stderr).unwrap_or("it printed no report")
                    )),
                },
            }
        }
    };
    let _ = std::fs::remove_dir_all(&work);
    report
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().rev().map(str::trim).find(|l| !l.is_empty())
}

/// Runs `command` to the end or until `deadline`, whichever is first (then it is killed).
fn output_within(mut command: Command, deadline: Duration) -> std::io::Result<(String, String)> {
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let start = std::time::Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", deadline.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    ))
}

/// Writes an embedded folder to `to`, without Python caches (include_dir embeds whatever the
/// folder held at build time).
fn unpack(dir: &Dir<'_>, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for file in dir.files() {
        let name = file.path().file_name().unwrap_or_default();
        if Path::new(name)
            .extension()
            .is_some_and(|e| e == "pyc" || e == "pyo")
        {
            continue;
        }
        std::fs::write(to.join(name), file.contents())?;
    }
    for sub in dir.dirs() {
        let name = sub.path().file_name().unwrap_or_default();
        if name == "__pycache__" {
            continue;
        }
        unpack(sub, &to.join(name))?;
    }
    Ok(())
}
