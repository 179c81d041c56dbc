//! The terminal side of motion: `stagecraft generate` and `stagecraft motion-server`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::backbone;
use super::client::HttpBackend;
use super::error::MotionError;
use super::export::{save_take, take_summary};
use super::hub::{Backend, GenerateArgs, MotionHub};
use super::{preview, server};
use crate::call::{CallContext, Progress};
use crate::config::{BackendConfig, Config};

/// Options of `stagecraft generate`.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub prompt: String,
    pub seconds: f64,
    pub out: std::path::PathBuf,
    pub preview: Option<std::path::PathBuf>,
    pub model: Option<String>,
    /// A backend name from the config, or an MMCP base URL.
    pub backend: Option<String>,
    pub seed: Option<u64>,
    pub samples: Option<u32>,
    /// Print the full JSON summary instead of the short human one.
    pub json: bool,
    /// Open the written file in the system's viewer for it.
    pub open: bool,
}

/// `stagecraft generate`: one-shot generation from the terminal: a progress bar on stderr (when
/// it is a terminal), then a short summary on stdout, or the full JSON one with `json`.
pub async fn generate_cli(config: &Config, options: GenerateOptions) -> Result<(), MotionError> {
    let mut backend_name = options.backend.clone();
    let hub = match options.backend.as_deref() {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            let cfg = BackendConfig {
                name: url.to_string(),
                url: url.to_string(),
                api_key_env: None,
                timeout_seconds: crate::config::DEFAULT_MOTION_TIMEOUT_SECONDS,
                connect_timeout_seconds: 10,
                max_response_mb: crate::config::DEFAULT_MAX_RESPONSE_MB,
            };
            let b = Backend::Http(Arc::new(HttpBackend::new(&cfg)?));
            MotionHub::with_backends(vec![(url.to_string(), b)], 4)
        }
        _ => MotionHub::new(config)?,
    };
    if backend_name.as_deref().is_some_and(|b| b.contains("://")) {
        backend_name = Some(hub.backend_names().into_iter().next().unwrap_or_default());
    }
    let choice = hub
        .resolve(backend_name.as_deref(), options.model.as_deref())
        .await?;
    let seed = match options.seed {
        Some(s) => Some(
            i64::try_from(s)
                .map_err(|_| MotionError::InvalidArguments(format!("--seed {s} is too large")))?,
        ),
        None => None,
    };
    let args = GenerateArgs {
        prompt: Some(options.prompt.clone()),
        seconds: Some(options.seconds),
        num_samples: options.samples,
        seed,
        ..GenerateArgs::default()
    };
    let timeout = Duration::from_secs(crate::config::DEFAULT_MOTION_TIMEOUT_SECONDS);
    let bar = progress_bar(&choice.spec.id);
    let shown = bar.clone();
    let call = CallContext::new(timeout).with_progress(Progress::new(move |done, total, msg| {
        let msg = msg.unwrap_or_default();
        match total {
            Some(total) if total > 0.0 => shown.set_message(format!(
                "{msg} ({:.0}%)",
                (done / total * 100.0).clamp(0.0, 100.0)
            )),
            _ => shown.set_message(msg.to_string()),
        }
    }));
    let cancel = call.cancel.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    let result = hub.generate(&choice, &args, None, &call).await;
    ctrl_c.abort();
    bar.finish_and_clear();
    let g = result?;
    let written = save_take(&g.take, &options.out)?;
    let mut summary = take_summary(&g.take_id, &g.take, None);
    summary["backend"] = json!(g.backend);
    summary["saved"] = json!({"path": options.out, "bytes": written});
    summary["client_notes"] = json!(g.client_notes);
    summary["elapsed_seconds"] = json!(g.elapsed.as_secs_f64());
    if let Some(p) = &options.preview {
        let png = preview::contact_sheet(&g.take, 0).map_err(|e| MotionError::Io(e.to_string()))?;
        std::fs::write(p, &png)
            .map_err(|e| MotionError::Io(format!("cannot write {}: {e}", p.display())))?;
        summary["preview"] = json!(p);
    }
    for n in &g.take.notes {
        eprintln!(
            "note: {}",
            n.get("message")
                .and_then(Value::as_str)
                .unwrap_or(&n.to_string())
        );
    }
    let text = if options.json {
        serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n"
    } else {
        let mut lines = format!(
            "{:.1} s of motion ({} frames at {} fps, {} joints, {} sample{}) from {}/{} in {:.1} s\n  take     {} ({})\n",
            g.take.seconds(),
            g.take.num_frames,
            g.take.fps,
            g.take.skeleton.joints.len(),
            g.take.samples.len(),
            if g.take.samples.len() == 1 { "" } else { "s" },
            g.backend,
            g.model,
            g.elapsed.as_secs_f64(),
            options.out.display(),
            human_bytes(written),
        );
        if let Some(p) = &options.preview {
            lines.push_str(&format!("  preview  {}\n", p.display()));
        }
        lines
    };
    print!("{text}");
    if options.open {
        // Not a failure of the command: the file is written and its path printed.
        if let Err(e) = opener::open(&options.out) {
            eprintln!(
                "note: cannot open {} in a viewer ({e}); open it in Blender or any glTF viewer",
                options.out.display()
            );
        }
    }
    Ok(())
}

/// A spinner with the model's progress messages on stderr; indicatif draws nothing when stderr
/// is not a terminal, so logs and pipes get no control characters.
fn progress_bar(model: &str) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix}: {msg}")
    {
        bar.set_style(style);
    }
    bar.set_prefix(model.to_string());
    bar.set_message("generating");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn human_bytes(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} KB", b as f64 / (1 << 10) as f64),
        b => format!("{b} bytes"),
    }
}

/// `stagecraft motion-server`: the built-in backbones served as an MMCP 1.4 HTTP server until `shutdown`.
pub async fn serve_builtin(
    host: &str,
    port: u16,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), MotionError> {
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| {
            MotionError::Config(format!("motion-server cannot listen on {host}:{port}: {e}"))
        })?;
    let models = backbone::Backbones::builtin();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, models = ?models.ids(), "MMCP motion server listening on http://{addr}");
    }
    server::serve(models, listener, shutdown)
        .await
        .map_err(|e| MotionError::Config(format!("motion-server stopped: {e}")))
}
