//! MMCP wire types, client (reqwest), glTF decode/encode, takes, the built-in procedural backend,
//! and the MMCP server side (`stagecraft motion-server`).

pub mod backbone;
pub mod gltf;
pub mod procedural;
pub mod server;
pub mod take;
pub mod wire;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum MotionError {
    #[error("{0}")]
    Config(String),
}

/// Every configured motion backend (or the built-in one), the take store, and their clients.
pub struct MotionHub {}

impl MotionHub {
    pub fn new(_config: &Config) -> Result<Self, MotionError> {
        Ok(Self {})
    }
}

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
}

/// `stagecraft generate`: one-shot generation from the terminal, progress on stderr.
pub async fn generate_cli(_config: &Config, _options: GenerateOptions) -> Result<(), MotionError> {
    Err(MotionError::Config(
        "generate is not implemented yet".into(),
    ))
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
