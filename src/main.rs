//! The `stagecraft` command line: parse arguments, build the app, run it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use stagecraft::config::{BridgeKind, Config};
use stagecraft::dispatch::{self, Dispatcher};
use stagecraft::mcp::{HttpOptions, StagecraftServer};
use stagecraft::skills::{SharedRegistry, SkillSources};

#[derive(Parser)]
#[command(
    name = "stagecraft",
    version,
    about = "MCP server for character motion and DCC scenes: generate motion with MMCP models, put it on rigs in Blender or the built-in stage scene."
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// Config file (default: $STAGECRAFT_CONFIG, ./stagecraft.toml, $XDG_CONFIG_HOME/stagecraft/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// An extra skill folder (a skill, or a folder of skills); repeatable; loaded after the config's paths.
    #[arg(long = "skills", global = true, value_name = "DIR")]
    skills: Vec<PathBuf>,
    /// Log level for stderr: error, warn, info, debug, trace (or a tracing filter).
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the MCP server on stdio (what Claude Desktop runs), or on Streamable HTTP with --http.
    Serve(ServeArgs),
    /// Generate motion from a prompt and write it to a .glb, .gltf or .bvh file (no config needed).
    Generate(GenerateArgs),
    /// Serve the built-in procedural motion model as an MMCP 1.4 HTTP server.
    MotionServer(MotionServerArgs),
    /// List or check skills.
    #[command(subcommand)]
    Skills(SkillsCommand),
    /// Connect the MCP clients and Blender on this machine to stagecraft (merges, with backups).
    Setup(SetupArgs),
    /// Check the config, the MCP clients' entries, each motion backend and each DCC connection.
    Doctor,
    /// Run the bridge conformance suite against a DCC adapter; exits 1 on any failure.
    AdapterCheck(AdapterCheckArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Serve Streamable HTTP at http://ADDR/mcp instead of stdio, e.g. 127.0.0.1:8765.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Require `Authorization: Bearer <value of $NAME>` on HTTP.
    #[arg(long, value_name = "NAME", requires = "http")]
    token_env: Option<String>,
    /// Also allow this browser Origin on HTTP (loopback origins are always allowed); repeatable.
    #[arg(long, value_name = "ORIGIN", requires = "http")]
    allow_origin: Vec<String>,
}

#[derive(Args)]
struct GenerateArgs {
    /// What the character does, e.g. "a person walks forward and waves".
    prompt: String,
    /// Length in seconds.
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// Output file: .glb, .gltf or .bvh.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Also write a PNG contact sheet of the take.
    #[arg(long, value_name = "FILE.png")]
    preview: Option<PathBuf>,
    /// Model id (default: the backend's first model).
    #[arg(long)]
    model: Option<String>,
    /// A backend name from the config, or an MMCP base URL (default: the built-in model).
    #[arg(long)]
    backend: Option<String>,
    #[arg(long)]
    seed: Option<u64>,
    /// Number of samples to generate.
    #[arg(long)]
    samples: Option<u32>,
    /// Print the full JSON summary (take, skeleton, notes) instead of the short one.
    #[arg(long)]
    json: bool,
    /// Open the result in the system's viewer for .glb/.gltf files.
    #[arg(long)]
    open: bool,
}

#[derive(Args)]
struct SetupArgs {
    /// Only this client (repeatable; default: every client found).
    #[arg(long = "client", value_name = "NAME")]
    clients: Vec<ClientArg>,
    /// Take stagecraft out of the clients' configs and its [[dcc]] entry out of stagecraft's.
    #[arg(long)]
    remove: bool,
    /// Show what would change, as a diff, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// The Blender to set up (its executable, or a Python with the bpy module); default: search.
    #[arg(long, value_name = "PATH", conflicts_with = "no_blender")]
    blender: Option<PathBuf>,
    /// Leave Blender alone.
    #[arg(long)]
    no_blender: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ClientArg {
    ClaudeDesktop,
    ClaudeCode,
    Cursor,
    #[value(alias = "vs-code")]
    Vscode,
    Windsurf,
}

impl From<ClientArg> for stagecraft::setup::Client {
    fn from(c: ClientArg) -> Self {
        use stagecraft::setup::Client;
        match c {
            ClientArg::ClaudeDesktop => Client::ClaudeDesktop,
            ClientArg::ClaudeCode => Client::ClaudeCode,
            ClientArg::Cursor => Client::Cursor,
            ClientArg::Vscode => Client::VsCode,
            ClientArg::Windsurf => Client::Windsurf,
        }
    }
}

#[derive(Args)]
struct MotionServerArgs {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 8000)]
    port: u16,
}

#[derive(Subcommand)]
enum SkillsCommand {
    /// List loaded skills and their tools.
    List {
        /// Print JSON (skills, tools with schemas and annotations, diagnostics) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check skills and print every diagnostic; exits 1 if any skill is invalid.
    Check {
        /// Skill folders to check (default: the configured ones).
        paths: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct AdapterCheckArgs {
    /// Check the built-in `stage` DCC (in process) instead of an adapter over a bridge.
    #[arg(long, conflicts_with_all = ["bridge", "endpoint", "command", "token_env"])]
    stage: bool,
    /// embedded | http | websocket | named_pipe
    #[arg(long, required_unless_present = "stage")]
    bridge: Option<BridgeArg>,
    /// http(s)://…/rpc, ws://…, or a socket path / pipe name.
    #[arg(long)]
    endpoint: Option<String>,
    /// embedded: the DCC command line as one string, split like a shell.
    #[arg(long)]
    command: Option<String>,
    /// Environment variable holding the adapter's token.
    #[arg(long, value_name = "NAME")]
    token_env: Option<String>,
    /// Per-request deadline in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BridgeArg {
    Embedded,
    Http,
    Websocket,
    #[value(name = "named_pipe", alias = "named-pipe")]
    NamedPipe,
}

impl From<BridgeArg> for BridgeKind {
    fn from(b: BridgeArg) -> Self {
        match b {
            BridgeArg::Embedded => BridgeKind::Embedded,
            BridgeArg::Http => BridgeKind::Http,
            BridgeArg::Websocket => BridgeKind::Websocket,
            BridgeArg::NamedPipe => BridgeKind::NamedPipe,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.common.log_level.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // One line of what happened, one of what to do.
            eprintln!("error: {e:#}");
            eprintln!("  fix: {}", what_to_do(&e));
            ExitCode::FAILURE
        }
    }
}

fn what_to_do(e: &anyhow::Error) -> String {
    use stagecraft::motion::MotionError;
    if let Some(e) = e.downcast_ref::<stagecraft::setup::SetupError>() {
        return e.hint().into();
    }
    if e.downcast_ref::<stagecraft::config::ConfigError>()
        .is_some()
    {
        return "correct the config where the message says, then run `stagecraft doctor`".into();
    }
    if let Some(e) = e.downcast_ref::<MotionError>() {
        return match e {
            MotionError::Unreachable { .. } | MotionError::Deadline { .. } => {
                "start the backend or correct its URL; `stagecraft doctor` checks every backend"
                    .into()
            }
            MotionError::NoBackend(_) => {
                "pass --backend with a name from the config or an MMCP URL; `stagecraft doctor` lists them"
                    .into()
            }
            MotionError::Io(_) => "check the path and that its folder exists and is writable".into(),
            MotionError::InvalidArguments(_) => {
                "correct the option named above (`stagecraft generate --help`)".into()
            }
            other if other.code() == "unknown_model" => {
                "pass --model with one of the model ids `stagecraft doctor` lists (or leave it out)"
                    .into()
            }
            other => other.hint(),
        };
    }
    "run `stagecraft doctor` to check the config, motion backends and DCC connections".into()
}

fn init_logging(level: Option<&str>) {
    let filter = level
        .map(str::to_string)
        .or_else(|| std::env::var("STAGECRAFT_LOG").ok())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    let mut filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The websocket library traces every frame with its payload, and `dcc.hello` carries the
    // bridge token: its frame-level tracing stays at debug whatever the filter asks for.
    if filter
        .max_level_hint()
        .is_none_or(|l| l == tracing_subscriber::filter::LevelFilter::TRACE)
        && let Ok(quiet) = "tungstenite::protocol=debug".parse()
    {
        filter = filter.add_directive(quiet);
    }
    // stdout carries MCP on stdio: logs go to stderr only.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

fn skill_sources(config: &Config, common: &Common) -> SkillSources {
    let mut paths = config.skills.paths.clone();
    paths.extend(common.skills.iter().cloned());
    SkillSources {
        builtin: true,
        paths,
        allow_scripts: config.skills.allow_scripts,
    }
}

/// Cancelled on SIGINT or SIGTERM.
fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {},
                        _ = term.recv() => {},
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
        t.cancel();
    });
    token
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let config = match cli.command {
        // Setup writes the config: it must start without a valid one.
        Command::Setup(_) => Config::default(),
        _ => Config::discover(cli.common.config.as_deref())?,
    };
    if let Some(source) = &config.source {
        tracing::debug!(config = %source.display(), "config loaded");
    }
    match cli.command {
        Command::Serve(args) => serve(config, &cli.common, args).await,
        Command::Generate(args) => {
            let options = stagecraft::motion::GenerateOptions {
                prompt: args.prompt,
                seconds: args.seconds,
                out: args.out,
                preview: args.preview,
                model: args.model,
                backend: args.backend,
                seed: args.seed,
                samples: args.samples,
                json: args.json,
                open: args.open,
            };
            stagecraft::motion::generate_cli(&config, options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::MotionServer(args) => {
            let shutdown = shutdown_on_signals();
            stagecraft::motion::serve_builtin(&args.host, args.port, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Skills(SkillsCommand::List { json }) => {
            let registry = stagecraft::skills::Registry::load(
                &skill_sources(&config, &cli.common),
                dispatch::binding_rules(),
            );
            let listing = if json {
                serde_json::to_string_pretty(&registry.to_json())? + "\n"
            } else {
                registry.listing()
            };
            print_listing(&listing)?;
            for d in &registry.diagnostics {
                eprintln!("{d}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Skills(SkillsCommand::Check { paths }) => {
            let mut sources = skill_sources(&config, &cli.common);
            if !paths.is_empty() {
                sources.paths = paths;
            }
            let registry = stagecraft::skills::Registry::load(&sources, dispatch::binding_rules());
            let report = registry.check_report();
            print_listing(&report)?;
            Ok(if registry.diagnostics.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Setup(args) => {
            let options = stagecraft::setup::SetupOptions {
                clients: args.clients.into_iter().map(Into::into).collect(),
                remove: args.remove,
                dry_run: args.dry_run,
                yes: args.yes,
                blender: args.blender,
                no_blender: args.no_blender,
                config: cli.common.config,
            };
            // It runs Blender and asks on the terminal: blocking work.
            let ok =
                tokio::task::spawn_blocking(move || stagecraft::setup::run(&options)).await??;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Doctor => doctor(config, &cli.common).await,
        Command::AdapterCheck(args) if args.stage => {
            let ok = stagecraft::dcc::adapter_check_stage().await;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::AdapterCheck(args) => {
            let Some(bridge) = args.bridge else {
                bail!("--bridge is required (or --stage)");
            };
            let command = match &args.command {
                Some(line) => shlex::split(line).context("--command: unbalanced quotes")?,
                None => Vec::new(),
            };
            let bridge: BridgeKind = bridge.into();
            if bridge == BridgeKind::Embedded && command.is_empty() {
                bail!("--bridge embedded needs --command \"PROGRAM ARGS\"");
            }
            if bridge != BridgeKind::Embedded && args.endpoint.is_none() {
                bail!("--bridge {} needs --endpoint", bridge.as_str());
            }
            let ok = stagecraft::dcc::adapter_check(stagecraft::dcc::AdapterCheckOptions {
                bridge,
                endpoint: args.endpoint,
                command,
                token_env: args.token_env,
                timeout_seconds: args.timeout.max(1),
            })
            .await?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

async fn serve(config: Config, common: &Common, args: ServeArgs) -> Result<ExitCode> {
    let shutdown = shutdown_on_signals();
    let registry = SharedRegistry::load(skill_sources(&config, common), dispatch::binding_rules());
    let watch = config.skills.watch;
    let config = Arc::new(config);
    let dispatcher = Arc::new(Dispatcher::new(config.clone(), shutdown.clone())?);
    let server = StagecraftServer::new(registry.clone(), dispatcher.clone());
    let _watcher = if watch {
        match registry.watch() {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("cannot watch skill folders, hot reload is off: {e}");
                None
            }
        }
    } else {
        None
    };
    let notifier = server.spawn_change_notifier(shutdown.clone());
    {
        let r = registry.get();
        tracing::info!(
            skills = r.skills.len(),
            tools = r.tools.len(),
            problems = r.diagnostics.len(),
            "skills loaded"
        );
    }

    let result = match args.http {
        Some(addr) => {
            let token = match &args.token_env {
                Some(name) => match std::env::var(name) {
                    Ok(v) if !v.is_empty() => Some(v),
                    _ => bail!("--token-env {name}: the environment variable is not set or empty"),
                },
                None => None,
            };
            let options = HttpOptions {
                addr,
                token,
                allowed_origins: args.allow_origin,
            };
            stagecraft::mcp::serve_http(server, options, shutdown.clone(), |local| {
                tracing::info!("MCP on http://{local}/mcp");
                eprintln!("stagecraft: MCP on http://{local}/mcp");
            })
            .await
            .map_err(anyhow::Error::from)
        }
        None => stagecraft::mcp::serve_stdio(server, shutdown.clone())
            .await
            .map_err(anyhow::Error::from),
    };
    shutdown.cancel();
    notifier.abort();
    // Ends embedded DCC processes and closes bridges, bounded so that exit never hangs.
    let _ = tokio::time::timeout(Duration::from_secs(10), dispatcher.shutdown()).await;
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Writes a CLI listing to stdout. A reader that stops early (`stagecraft skills list | head`)
/// closes the pipe: the listing then ends quietly, as other command-line tools do, where
/// `println!` would panic.
fn print_listing(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}

async fn doctor(config: Config, common: &Common) -> Result<ExitCode> {
    let sources = skill_sources(&config, common);
    let report = stagecraft::doctor::DoctorReport::run(config, &sources).await?;
    print!("{report}");
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
