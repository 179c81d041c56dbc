//! rmcp ServerHandler: tools/resources/prompts from the skill registry, the stdio and Streamable
//! HTTP transports, progress and cancellation, the MCP Apps views. The only module that knows MCP.

mod apps;
mod handler;
mod http;
mod progress;
pub(crate) mod stdio;

pub use handler::StagecraftServer;
pub use http::{HttpOptions, serve_http};

use tokio_util::sync::CancellationToken;

/// Largest JSON-RPC request accepted, over HTTP and on stdio (a script or a motion reference can be
/// large; a request bigger than this is a mistake or an attack). rmcp's stdio line limit is the same.
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// Serves MCP on stdin/stdout until the client closes stdin or `shutdown` fires. A request over
/// the size limit gets an error answer (see `stdio.rs`).
pub async fn serve_stdio(
    server: StagecraftServer,
    shutdown: CancellationToken,
) -> Result<(), std::io::Error> {
    use rmcp::ServiceExt;
    use rmcp::service::ServerInitializeError;
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let running = match server
        .serve_with_ct((stdio::guarded(stdin), stdout), shutdown.child_token())
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
