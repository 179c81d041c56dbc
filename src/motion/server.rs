//! The MMCP 1.4 HTTP server (docs/mmcp.md#endpoints): `GET /capabilities`, `POST /generate` (single and batch), a
//! small `GET /health`, the error envelope on every failure (404/405/500 included, where the reference server
//! answers FastAPI's `{"detail"}`), `X-Request-ID` echoed or made up, `Retry-After` on 503, the body cap
//! enforced before and while reading, graceful shutdown on a token.
//!
//! HTTP is all this file does: the checks and the models are [`super::backbone::Backbones`], shared with the
//! in-process backend, and generation runs on the blocking pool so a long take never stalls the listener.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::backbone::{Backbones, GenerationSlots, QUEUE_WAIT, payload_too_large};
use super::gltf;
use super::wire::MmcpError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
struct AppState {
    models: Backbones,
    /// A request that waits `QUEUE_WAIT` for a slot is told to come back (503 + Retry-After).
    slots: GenerationSlots,
}

/// The router for `models`, for callers that want to mount it or serve it their own way.
pub fn router(models: Backbones) -> Router {
    let state = AppState {
        models,
        slots: GenerationSlots::per_core(),
    };
    Router::new()
        .route(
            "/capabilities",
            get(capabilities).fallback(|| async { method_not_allowed("GET") }),
        )
        .route(
            "/generate",
            post(generate).fallback(|| async { method_not_allowed("POST") }),
        )
        .route(
            "/health",
            get(health).fallback(|| async { method_not_allowed("GET") }),
        )
        .fallback(not_found)
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Serve `models` on `listener` until `shutdown` is cancelled; in-flight requests are finished first.
/// Calls every backbone's `setup` before the first request and `teardown` after the last one.
pub async fn serve(
    models: Backbones,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let setup = models.clone();
    tokio::task::spawn_blocking(move || setup.setup())
        .await
        .map_err(std::io::Error::other)?
        .map_err(|e| std::io::Error::other(format!("a model failed to set up: {e}")))?;
    let app = router(models.clone());
    // No Nagle delay on answers (see mcp/http.rs).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    let teardown = models.clone();
    let _ = tokio::task::spawn_blocking(move || teardown.teardown()).await;
    served
}

/// `X-Request-ID` on every answer: the caller's own when it sent a sane one, else a fresh UUID.
async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| v.len() <= 128 && v.as_bytes().iter().all(|b| b.is_ascii_graphic()))
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or(HeaderValue::from_static("unknown"))
        });
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

fn json_response(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The MMCP envelope with its status; `Retry-After` where the protocol asks for one.
fn error_response(error: &MmcpError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&error.to_envelope()).unwrap_or_default();
    let mut response = json_response(status, "application/json", body);
    if matches!(error.status, 429 | 503) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    }
    response
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    error_response(
        &MmcpError::new(
            "not_found",
            format!(
                "no such endpoint: {method} {}; MMCP serves GET /capabilities and POST /generate",
                uri.path()
            ),
        )
        .with_status(404),
    )
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = error_response(
        &MmcpError::new(
            "method_not_allowed",
            format!("use {allow} on this endpoint"),
        )
        .with_status(405),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

async fn capabilities(State(state): State<AppState>) -> Response {
    let mut caps = state.models.capabilities();
    caps.response_formats = vec!["gltf_2.0_json".into(), "gltf_2.0_binary".into()];
    json_response(
        StatusCode::OK,
        "application/json",
        serde_json::to_vec(&caps).unwrap_or_default(),
    )
}

async fn health(State(state): State<AppState>) -> Response {
    let body = json!({"status": "ok", "retargeting": "ready", "models": state.models.ids()});
    json_response(
        StatusCode::OK,
        "application/json",
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// Read at most `cap` bytes: refused from `Content-Length` before reading, else as soon as the stream passes it.
async fn read_body(headers: &HeaderMap, body: Body, cap: u64) -> Result<Vec<u8>, MmcpError> {
    if let Some(declared) = headers.get(header::CONTENT_LENGTH) {
        let n: u64 = declared
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| MmcpError::new("schema_validation", "invalid Content-Length"))?;
        if n > cap {
            return Err(payload_too_large(Some(n as usize), cap));
        }
    }
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            MmcpError::new("schema_validation", format!("could not read the body: {e}"))
        })?;
        if (bytes.len() + chunk.len()) as u64 > cap {
            return Err(payload_too_large(None, cap));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Prefer GLB only when the caller asks for it and not for JSON glTF (the SDK client asks for both and means JSON).
fn wants_glb(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    accept.contains("model/gltf-binary") && !accept.contains("model/gltf+json")
}

async fn generate(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let mut response = match generate_inner(&state, &headers, body).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    };
    // Idempotency keys are not remembered here: say so, so a client does not assume a retry is deduplicated.
    if headers.contains_key("idempotency-key") {
        response
            .headers_mut()
            .insert("idempotency-status", HeaderValue::from_static("declined"));
    }
    response
}

async fn generate_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, MmcpError> {
    let bytes = read_body(headers, body, state.models.max_request_bytes()).await?;
    let size = bytes.len();
    let raw: Value = serde_json::from_slice(&bytes).map_err(|e| {
        MmcpError::new(
            "schema_validation",
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    drop(bytes);
    let glb = wants_glb(headers);

    let permit = state.slots.acquire(QUEUE_WAIT).await?;
    let models = state.models.clone();
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        if raw.is_object() && raw.get("requests").is_some() {
            let results = models.generate_batch(&raw)?;
            return Ok((
                serde_json::to_vec(&results).unwrap_or_default(),
                "application/json",
            ));
        }
        let take = models.generate(&raw, Some(size))?;
        Ok(if glb {
            (gltf::encode_glb(&take), "model/gltf-binary")
        } else {
            (gltf::encode_gltf_json(&take), "model/gltf+json")
        })
    });
    let (body, content_type) = work
        .await
        .map_err(|e| MmcpError::new("internal_error", format!("generation failed: {e}")))??;
    Ok(json_response(StatusCode::OK, content_type, body))
}
