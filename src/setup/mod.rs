//! `stagecraft setup`: connect the MCP clients and Blender installed on this machine to
//! stagecraft, in one step.
//!
//! 1. Blender: every Blender 4.2+ found gets the stagecraft extension in its user extensions
//!    repository, enabled ([`blender`]).
//! 2. A bridge token is generated once into stagecraft's config folder
//!    ([`crate::config::blender_token_file`]); stagecraft's `[[dcc]]` entry and the add-on both
//!    read it, so nothing is copied by hand, and the add-on starts its bridge when it finds it.
//! 3. stagecraft's config gets the `[[dcc]]` entry for that bridge ([`stagecraft_toml`]).
//! 4. Each MCP client's config gets a `stagecraft` server entry ([`clients`]).
//!
//! Files are merged (other servers, keys and comments stay), backed up beside themselves before
//! they change, and left alone when already right: a second run changes nothing.

pub mod blender;
pub mod clients;
pub mod stagecraft_toml;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

pub use clients::{Client, Dirs};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("no home folder: HOME (or USERPROFILE on Windows) is not set")]
    NoHome,
    #[error("no folder for stagecraft's config: set XDG_CONFIG_HOME or HOME, or pass --config")]
    NoConfigDir,
    #[error("cannot find the running stagecraft binary: {0}")]
    NoBinary(std::io::Error),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no terminal to ask whether to apply these changes: nothing was changed")]
    NeedsConsent,
}

impl SetupError {
    /// What to do about it, one line.
    pub fn hint(&self) -> &'static str {
        match self {
            SetupError::NoHome | SetupError::NoConfigDir => {
                "run setup as the user whose clients you want to connect"
            }
            SetupError::NoBinary(_) => "run stagecraft by its full path",
            SetupError::Io { .. } => "check the file's permissions, then run setup again",
            SetupError::NeedsConsent => {
                "pass --yes to apply without asking, or --dry-run to see the diff"
            }
        }
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SetupError {
    let path = path.to_path_buf();
    move |source| SetupError::Io {
        action,
        path,
        source,
    }
}

#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    /// Clients to configure; empty: every client found.
    pub clients: Vec<Client>,
    pub remove: bool,
    pub dry_run: bool,
    pub yes: bool,
    /// A Blender executable, or a Python with `bpy`; None: search.
    pub blender: Option<PathBuf>,
    pub no_blender: bool,
    /// stagecraft's config file to write (from `--config`; default: `$STAGECRAFT_CONFIG`, else
    /// the user's config file).
    pub config: Option<PathBuf>,
}

/// One file setup writes.
struct FileEdit {
    label: String,
    path: PathBuf,
    before: Option<String>,
    after: String,
    /// Owner-only permissions (the token).
    private: bool,
}

/// What a run found and will do, before anything is written.
#[derive(Default)]
struct Plan {
    edits: Vec<FileEdit>,
    /// Blender programs whose extension is missing, outdated or disabled.
    installs: Vec<PathBuf>,
    /// One line per thing already in place.
    settled: Vec<String>,
    /// One line per thing to do by hand or that could not be done.
    notes: Vec<String>,
    /// False when something asked for cannot be done (the exit status).
    ok: bool,
}

impl Plan {
    fn edit(&mut self, label: &str, path: &Path, before: Option<String>, after: String) {
        self.edits.push(FileEdit {
            label: label.into(),
            path: path.to_path_buf(),
            before,
            after,
            private: false,
        });
    }

    fn problem(&mut self, line: String) {
        self.ok = false;
        self.notes.push(line);
    }

    fn writes(&self, path: &Path) -> bool {
        self.edits.iter().any(|e| e.path == path)
    }

    fn print(&self, dry_run: bool) {
        for line in self.settled.iter().chain(&self.notes) {
            println!("{line}");
        }
        for edit in &self.edits {
            let what = if edit.before.is_some() {
                "update"
            } else {
                "create"
            };
            println!("{:<15} {}: {what}", edit.label, edit.path.display());
            if dry_run && !edit.private {
                let before = edit.before.as_deref().unwrap_or("");
                print!("{}", diff(&edit.path, before, &edit.after));
            }
        }
    }
}

/// Runs setup; returns whether everything asked for is in place (the exit status).
pub fn run(options: &SetupOptions) -> Result<bool, SetupError> {
    let dirs = Dirs::from_env().ok_or(SetupError::NoHome)?;
    let binary = std::env::current_exe().map_err(SetupError::NoBinary)?;
    // The file `stagecraft` itself would load, except ./stagecraft.toml: clients do not start
    // stagecraft in the folder setup runs in.
    let explicit = options.config.clone().or_else(|| {
        std::env::var_os("STAGECRAFT_CONFIG")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    });
    let config_file = match explicit {
        Some(path) => std::path::absolute(&path).map_err(io_error("resolve", &path))?,
        None => crate::config::user_config_file().ok_or(SetupError::NoConfigDir)?,
    };
    let token_file = crate::config::blender_token_file().ok_or(SetupError::NoConfigDir)?;
    let mut plan = Plan {
        ok: true,
        ..Plan::default()
    };

    // Blender first: whether one is there decides whether stagecraft gets a [[dcc]] for it.
    let with_blender = if options.no_blender || options.remove {
        false
    } else {
        plan_blender(&mut plan, options.blender.as_deref())
    };
    if with_blender && !token_file.exists() {
        plan.edits.push(FileEdit {
            label: "token".into(),
            path: token_file.clone(),
            before: None,
            after: format!("{}\n", uuid::Uuid::new_v4().simple()),
            private: true,
        });
    }
    if with_blender || options.remove {
        let text = read_optional(&config_file)?;
        match stagecraft_toml::plan(&config_file, text.as_deref(), &token_file, options.remove) {
            stagecraft_toml::TomlPlan::Write { before, after } => {
                plan.edit("config", &config_file, before, after)
            }
            stagecraft_toml::TomlPlan::Unchanged => {}
            stagecraft_toml::TomlPlan::Refused(why) => {
                plan.problem(format!("config          {}: {why}", config_file.display()))
            }
        }
    }
    if options.remove && !options.no_blender {
        plan.notes.push(
            "blender         the extension stays installed: Blender > Preferences > Add-ons removes it"
                .into(),
        );
    }

    // Clients run `stagecraft --config FILE serve` when there is a config, so that a client
    // started from a desktop (without the shell's XDG_CONFIG_HOME) reads the same file.
    let mut args = Vec::new();
    if config_file.is_file() || plan.writes(&config_file) {
        args.push("--config".to_string());
        args.push(config_file.to_string_lossy().into_owned());
    }
    args.push("serve".into());
    plan_clients(&mut plan, options, &dirs, &binary, &args)?;

    plan.print(options.dry_run);
    if plan.edits.is_empty() && plan.installs.is_empty() {
        println!("Nothing to change.");
        return Ok(plan.ok);
    }
    if options.dry_run {
        println!("Dry run: nothing was changed.");
        return Ok(plan.ok);
    }
    if !options.yes && !confirm()? {
        println!("Nothing was changed.");
        return Ok(false);
    }
    apply(&mut plan)?;
    if options.remove {
        println!("Done. Restart your MCP clients.");
    } else if with_blender {
        println!(
            "Done. Restart your MCP clients and Blender (the stagecraft bridge starts with it); \
             `stagecraft doctor` checks the connections."
        );
    } else {
        println!("Done. Restart your MCP clients; `stagecraft doctor` checks the connections.");
    }
    Ok(plan.ok)
}

/// Finds the Blenders to set up and checks each (without changing it); returns whether one
/// can take the extension.
fn plan_blender(plan: &mut Plan, explicit: Option<&Path>) -> bool {
    let programs = blender::find(explicit);
    if programs.is_empty() {
        plan.notes.push(
            "blender         none found (PATH and the usual install folders): \
             run `stagecraft setup --blender /path/to/blender` to add it"
                .into(),
        );
        return false;
    }
    let mut usable = false;
    for program in programs {
        let report = blender::run(&program, false);
        usable |= report.usable();
        let shown = program.display();
        let version = report.blender.as_deref().unwrap_or("?");
        match (&report.error, report.state.as_deref()) {
            (Some(e), _) => plan.problem(format!("blender         {shown}: {e}")),
            (None, Some("too_old")) => plan.settled.push(format!(
                "blender {version:<7} {shown}: older than 4.2, skipped"
            )),
            (None, Some("unchanged")) => plan.settled.push(format!(
                "blender {version:<7} {shown}: extension installed and enabled"
            )),
            (None, state) => {
                let verb = match state {
                    Some("outdated") => "will update",
                    Some("disabled") => "will enable",
                    _ => "will install",
                };
                let repository = report
                    .repository
                    .as_deref()
                    .map_or("the user extensions".into(), |p| p.display().to_string());
                plan.notes.push(format!(
                    "blender {version:<7} {shown}: {verb} the extension into {repository}"
                ));
                plan.installs.push(program.clone());
            }
        }
    }
    usable
}

/// Plans each client's edit: the ones named, else every client that looks installed.
fn plan_clients(
    plan: &mut Plan,
    options: &SetupOptions,
    dirs: &Dirs,
    binary: &Path,
    args: &[String],
) -> Result<(), SetupError> {
    let chosen: Vec<Client> = if options.clients.is_empty() {
        Client::ALL
            .into_iter()
            .filter(|c| c.is_present(dirs))
            .collect()
    } else {
        options.clients.clone()
    };
    if chosen.is_empty() {
        plan.notes
            .push("clients         none found: pass --client NAME to configure one anyway".into());
    }
    for client in chosen {
        let path = client.config_file(dirs);
        let text = read_optional(&path)?;
        let label = format!("{:<15} {}", client.id(), path.display());
        match clients::plan(client, text.as_deref(), binary, args, options.remove) {
            clients::ClientPlan::Write { before, after } => {
                plan.edit(client.id(), &path, before, after)
            }
            clients::ClientPlan::Unchanged if options.remove => {
                plan.settled.push(format!("{label}: no stagecraft entry"))
            }
            clients::ClientPlan::Unchanged => plan.settled.push(format!("{label}: already set up")),
            clients::ClientPlan::Refused(why) => plan.problem(format!("{label}: {why}")),
        }
    }
    Ok(())
}

/// Writes the planned files (backups first), then installs the extension where needed.
fn apply(plan: &mut Plan) -> Result<(), SetupError> {
    for edit in &plan.edits {
        if let Some(backup) = write_with_backup(edit)? {
            println!("{:<15} backup: {}", edit.label, backup.display());
        }
    }
    for program in &plan.installs {
        let report = blender::run(program, true);
        let shown = program.display();
        match (&report.error, report.state.as_deref()) {
            (None, Some("installed" | "unchanged")) => {
                println!("blender         {shown}: extension installed and enabled")
            }
            (error, state) => {
                plan.ok = false;
                let why = error.as_deref().or(state).unwrap_or("no report");
                println!("blender         {shown}: install failed: {why}");
            }
        }
    }
    Ok(())
}

/// One MCP client's stagecraft entry, as `stagecraft doctor` reports it.
#[derive(Debug, Clone)]
pub struct ClientCheck {
    pub client: Client,
    /// The client's config file.
    pub path: PathBuf,
    pub status: clients::EntryStatus,
}

impl ClientCheck {
    /// False when the entry starts a program that is gone.
    pub fn passed(&self) -> bool {
        !matches!(self.status, clients::EntryStatus::Missing(_))
    }
}

/// `stagecraft doctor`'s line for the entry (and a `fix:` line when it failed).
impl std::fmt::Display for ClientCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use clients::EntryStatus;
        let id = self.client.id();
        let shown = self.path.display();
        match &self.status {
            EntryStatus::Ok(command) => {
                writeln!(f, "client   {id} {shown}: ok: starts {}", command.display())
            }
            EntryStatus::NoEntry => writeln!(
                f,
                "client   {id} {shown}: no stagecraft entry (`stagecraft setup --client {id}` adds it)"
            ),
            EntryStatus::Missing(command) => {
                writeln!(
                    f,
                    "client   {id} {shown}: FAILED: starts {}, which is not there",
                    command.display()
                )?;
                writeln!(
                    f,
                    "  fix: run `stagecraft setup --client {id}` with the stagecraft you use now"
                )
            }
            // The client's own file is broken or unreadable: worth a line, not a fault in stagecraft.
            EntryStatus::Unreadable(why) => {
                writeln!(f, "client   {id} {shown}: not checked: {why}")
            }
        }
    }
}

/// Each installed MCP client's stagecraft entry (clients not installed are left out).
pub fn check_clients() -> Vec<ClientCheck> {
    let Some(dirs) = Dirs::from_env() else {
        return Vec::new();
    };
    Client::ALL
        .into_iter()
        .filter_map(|client| {
            let (path, status) = clients::entry_status(client, &dirs)?;
            Some(ClientCheck {
                client,
                path,
                status,
            })
        })
        .collect()
}

fn read_optional(path: &Path) -> Result<Option<String>, SetupError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path)(e)),
    }
}

fn confirm() -> Result<bool, SetupError> {
    if !std::io::stdin().is_terminal() {
        return Err(SetupError::NeedsConsent);
    }
    print!("Apply these changes? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Writes the edit through a temporary file and a rename (a crash leaves the old file whole),
/// after copying an existing file to `<name>.stagecraft-<unix seconds>.bak` beside it.
fn write_with_backup(edit: &FileEdit) -> Result<Option<PathBuf>, SetupError> {
    let path = &edit.path;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error("create the folder of", path))?;
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let backup = match &edit.before {
        Some(_) => {
            let seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let backup = path.with_file_name(format!("{name}.stagecraft-{seconds}.bak"));
            std::fs::copy(path, &backup).map_err(io_error("back up", path))?;
            Some(backup)
        }
        None => None,
    };
    let temporary = path.with_file_name(format!(".{name}.stagecraft-tmp"));
    let mut file = std::fs::File::create(&temporary).map_err(io_error("write", &temporary))?;
    #[cfg(unix)]
    if edit.private {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_error("protect", &temporary))?;
    }
    file.write_all(edit.after.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error("write", &temporary))?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io_error("replace", path))?;
    Ok(backup)
}

/// A unified diff of one hunk: the lines between the common start and the common end. Setup's
/// edits are one entry in one place, so one hunk shows them whole.
pub fn diff(path: &Path, before: &str, after: &str) -> String {
    const CONTEXT: usize = 3;
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    if prefix == old.len() && prefix == new.len() {
        return String::new();
    }
    let start = prefix.saturating_sub(CONTEXT);
    let old_end = (old.len() - suffix + CONTEXT).min(old.len());
    let new_end = (new.len() - suffix + CONTEXT).min(new.len());
    let mut out = format!("--- {0}\n+++ {0}\n", path.display());
    // An empty range is numbered by the line before it (0 for the start of a file).
    let range = |len: usize| format!("{},{len}", if len == 0 { start } else { start + 1 });
    out.push_str(&format!(
        "@@ -{} +{} @@\n",
        range(old_end - start),
        range(new_end - start)
    ));
    for line in &old[start..prefix] {
        out.push_str(&format!(" {line}\n"));
    }
    for line in &old[prefix..old.len() - suffix] {
        out.push_str(&format!("-{line}\n"));
    }
    for line in &new[prefix..new.len() - suffix] {
        out.push_str(&format!("+{line}\n"));
    }
    for line in &old[old.len() - suffix..old_end] {
        out.push_str(&format!(" {line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_one_hunk_with_context() {
        let before = "a\nb\nc\nd\ne\nf\n";
        let after = "a\nb\nc\nX\nd\ne\nf\n";
        let d = diff(Path::new("f.json"), before, after);
        assert_eq!(
            d,
            "--- f.json\n+++ f.json\n@@ -1,6 +1,7 @@\n a\n b\n c\n+X\n d\n e\n f\n"
        );
        assert_eq!(diff(Path::new("f"), before, before), "");
    }
}
