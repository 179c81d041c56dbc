//! Streamable HTTP at `/mcp`: loopback by default, Host and Origin validation (DNS rebinding),
//! an optional bearer token, a request size limit, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::{MAX_REQUEST_BYTES, StagecraftServer};

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub addr: SocketAddr,
    /// The bearer token clients must send, when set.
    pub token: Option<String>,
    /// Extra browser origins to allow besides loopback ones (e.g. `https://app.example.com`).
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Serves until `shutdown`; calls `on_ready` with the bound address (port 0 picks a free one).
pub async fn serve_http(
    server: StagecraftServer,
    options: HttpOptions,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), HttpError> {
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|source| HttpError::Bind {
            addr: options.addr,
            source,
        })?;
    let local = listener.local_addr().map_err(HttpError::Serve)?;

    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if !local.ip().is_loopback() {
        tracing::warn!(addr = %local, "listening on a non-loopback address: use --token-env");
        if !local.ip().is_unspecified() {
            hosts.push(local.ip().to_string());
        }
    }
    let mut origins: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .flat_map(|h| [format!("http://{h}:*"), format!("https://{h}:*")])
        .collect();
    origins.extend(options.allowed_origins.iter().map(|o| with_default_port(o)));

    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .with_max_request_body_bytes(MAX_REQUEST_BYTES)
        // A request that sends nothing before its answer gets plain JSON, not a one-event SSE
        // stream (rmcp falls back to SSE when progress or notifications come first). rmcp applies
        // this to stateless requests, i.e. the 2026-07-28 era; legacy sessions stay on SSE.
        .with_json_response(true)
        .with_cancellation_token(shutdown.child_token());
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        LocalSessionManager::default().into(),
        config,
    );
    let token = Arc::new(options.token);
    let router = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn(session_end_is_ok))
        .layer(middleware::from_fn_with_state(token, require_token));

    on_ready(local);
    // Answers go out as soon as they are written: with Nagle's algorithm on, a response written in
    // two parts waits for the client's delayed ACK (~40 ms) before its second part.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(HttpError::Serve)
}

async fn require_token(
    State(token): State<Arc<Option<String>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(expected) = token.as_deref() {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
            let mut response = (
                StatusCode::UNAUTHORIZED,
                "401 Unauthorized: send Authorization: Bearer <token>\n",
            )
                .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"stagecraft\""),
            );
            return response;
        }
    }
    next.run(request).await
}

/// rmcp answers the DELETE that ends a session with 202 Accepted, but the session is closed by
/// then, and MCP clients expect 200 or 204 (the Python SDK logs "Session termination failed: 202"
/// after every session otherwise): the completed deletion is answered 200.
async fn session_end_is_ok(request: Request, next: Next) -> Response {
    let is_delete = request.method() == Method::DELETE;
    let mut response = next.run(request).await;
    if is_delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::OK;
    }
    response
}

/// Compares without stopping at the first difference, so response timing does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An origin as browsers send it names one port: `https://app.example.com` is port 443 only. rmcp
/// reads an allowed origin without a port as "any port", so the default port is made explicit.
/// Origins with a port (or `:*`), and schemes other than http(s), are left as given.
fn with_default_port(origin: &str) -> String {
    let trimmed = origin.trim_end_matches('/');
    let Some((scheme, host)) = trimmed.split_once("://") else {
        return origin.to_string();
    };
    let port = match scheme.to_ascii_lowercase().as_str() {
        "https" => 443,
        "http" => 80,
        _ => return origin.to_string(),
    };
    // After an IPv6 literal's `]`, or anywhere in a name, a `:` starts the port.
    let has_port = match host.rfind(']') {
        Some(end) => host[end..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        trimmed.to_string()
    } else {
        format!("{trimmed}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::with_default_port;

    #[test]
    fn allowed_origins_get_their_scheme_default_port() {
        assert_eq!(
            with_default_port("https://app.example.com"),
            "https://app.example.com:443"
        );
        assert_eq!(
            with_default_port("http://app.example.com/"),
            "http://app.example.com:80"
        );
        assert_eq!(
            with_default_port("https://app.example.com:8443"),
            "https://app.example.com:8443"
        );
        assert_eq!(
            with_default_port("http://localhost:*"),
            "http://localhost:*"
        );
        assert_eq!(with_default_port("https://[::1]"), "https://[::1]:443");
        assert_eq!(
            with_default_port("https://[::1]:9000"),
            "https://[::1]:9000"
        );
        assert_eq!(with_default_port("null"), "null");
        assert_eq!(with_default_port("app://x"), "app://x");
    }
}
