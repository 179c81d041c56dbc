//! rmcp ServerHandler: tools/resources/prompts from the skill registry, the stdio and Streamable
//! HTTP transports, progress and cancellation. The only module that knows MCP.

mod handler;
mod http;
mod progress;

pub use handler::StagecraftServer;
pub use http::{HttpOptions, serve_http};

use tokio_util::sync::CancellationToken;

/// Serves MCP on stdin/stdout until the client closes stdin or `shutdown` fires.
pub async fn serve_stdio(
    server: StagecraftServer,
    shutdown: CancellationToken,
) -> Result<(), std::io::Error> {
    use rmcp::ServiceExt;
    use rmcp::service::ServerInitializeError;
    let running = match server
        .serve_with_ct(rmcp::transport::stdio_pipes(), shutdown.child_token())
        .await
    {
        Ok(running) => running,
        // The client went away (stdin closed) or we were asked to stop before it said anything.
        Err(ServerInitializeError::ConnectionClosed(_) | ServerInitializeError::Cancelled) => {
            return Ok(());
        }
        Err(e) => return Err(std::io::Error::other(e.to_string())),
    };
    running
        .waiting()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}
