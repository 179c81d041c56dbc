//! The MMCP HTTP client (docs/mmcp.md#endpoints, #errors, #client): capabilities (cached, refreshable), generate with
//! async jobs, retries, deadlines, a bounded response body, and every failure shape servers produce.
//!
//! Policy, in one place:
//! - Every request runs under one overall deadline: the backend's `timeout_seconds`, or the caller's
//!   deadline when sooner. Connecting has its own shorter `connect_timeout_seconds`.
//! - Retries only for 429 / 503 / 504 and for connection failures before the request was sent
//!   (nothing reached the server), at most [`MAX_RETRIES`], exponential backoff that honours
//!   `Retry-After` (seconds or HTTP-date), and never past the deadline. `quota_exceeded` is never
//!   retried even though it travels as 429. One `Idempotency-Key` (the tool call's id) for all tries.
//! - A 202 job is polled at the latest `Retry-After` (floor 0.5 s, default 2 s). If the wait ends
//!   any other way than a terminal answer (cancellation, deadline, the future dropped), the job is
//!   deleted with `DELETE <Location>` from a detached task so the server stops working for nobody.
//! - A body larger than `max_response_mb` is refused while streaming, never buffered whole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use tokio::sync::RwLock;

use super::MotionError;
use super::wire::{Capabilities, ErrorEnvelope, GenerateRequest, MmcpError};
use crate::call::CallContext;
use crate::config::BackendConfig;

/// Retries after the first attempt.
pub const MAX_RETRIES: u32 = 3;
/// First backoff step; doubled per retry unless the server says otherwise.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const POLL_FLOOR: Duration = Duration::from_millis(500);
const POLL_DEFAULT: Duration = Duration::from_secs(2);
const CAPABILITIES_TIMEOUT: Duration = Duration::from_secs(10);
const DELETE_TIMEOUT: Duration = Duration::from_secs(5);
const ACCEPT: &str = "model/gltf+json, application/json, model/gltf-binary;q=0.9";

/// A successful generate answer, not decoded yet (decoding runs off the async threads).
#[derive(Debug)]
pub struct GltfBody {
    pub bytes: bytes::Bytes,
    pub glb: bool,
}

/// One configured MMCP backend reached over HTTP.
pub struct HttpBackend {
    pub name: String,
    base: Url,
    http: reqwest::Client,
    api_key_env: Option<String>,
    timeout: Duration,
    max_response_bytes: u64,
    caps: RwLock<Option<Arc<Capabilities>>>,
}

impl HttpBackend {
    pub fn new(config: &BackendConfig) -> Result<Self, MotionError> {
        let mut base = Url::parse(&config.url).map_err(|e| {
            MotionError::Config(format!(
                "backend {:?}: url {:?}: {e}",
                config.name, config.url
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(MotionError::Config(format!(
                "backend {:?}: url must be http(s)",
                config.name
            )));
        }
        // A base with a path (`https://host/mmcp`) must keep it when joining `capabilities`.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(config.connect_timeout_seconds.max(1)))
            .user_agent(concat!("stagecraft/", env!("CARGO_PKG_VERSION")))
            // Redirects could carry the bearer token elsewhere; MMCP servers do not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| MotionError::Config(format!("backend {:?}: {e}", config.name)))?;
        Ok(Self {
            name: config.name.clone(),
            base,
            http,
            api_key_env: config.api_key_env.clone(),
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
            max_response_bytes: config.max_response_mb.max(1).saturating_mul(1024 * 1024),
            caps: RwLock::new(None),
        })
    }

    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn endpoint(&self, path: &str) -> Result<Url, MotionError> {
        self.base
            .join(path)
            .map_err(|e| self.bad(format!("cannot build URL {path}: {e}")))
    }

    fn token(&self) -> Option<String> {
        let var = self.api_key_env.as_deref()?;
        std::env::var(var).ok().filter(|v| !v.is_empty())
    }

    fn with_auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.token() {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    fn bad(&self, message: String) -> MotionError {
        MotionError::BadResponse {
            backend: self.name.clone(),
            message,
        }
    }

    fn unreachable(&self, message: String) -> MotionError {
        MotionError::Unreachable {
            backend: self.name.clone(),
            url: self.base.to_string(),
            message,
        }
    }

    /// Capabilities, from the cache unless `refresh` (or nothing cached yet).
    pub async fn capabilities(&self, refresh: bool) -> Result<Arc<Capabilities>, MotionError> {
        if !refresh && let Some(c) = self.caps.read().await.as_ref() {
            return Ok(c.clone());
        }
        let caps = Arc::new(self.fetch_capabilities().await?);
        *self.caps.write().await = Some(caps.clone());
        Ok(caps)
    }

    async fn fetch_capabilities(&self) -> Result<Capabilities, MotionError> {
        let url = self.endpoint("capabilities")?;
        let limit = CAPABILITIES_TIMEOUT.min(self.timeout);
        let deadline = Instant::now() + limit;
        let req = self
            .with_auth(self.http.get(url))
            .header(reqwest::header::ACCEPT, "application/json");
        let resp = match tokio::time::timeout_at(deadline.into(), req.send()).await {
            Err(_) => return Err(self.deadline(limit)),
            Ok(Err(e)) => return Err(self.unreachable(transport_message(&e))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = self.read_body(resp, deadline, limit).await?;
        if !status.is_success() {
            return Err(self.error_from_response(status, &headers, &body, "capabilities", None));
        }
        let ct = content_type(&headers);
        if !ct.contains("json") && !body.starts_with(b"{") {
            return Err(self.bad(format!(
                "/capabilities answered Content-Type {ct:?}, not JSON"
            )));
        }
        let caps = serde_json::from_slice::<Capabilities>(&body)
            .map_err(|e| self.bad(format!("/capabilities is not valid capabilities JSON: {e}")))?;
        // Minor versions are additive; another major is another protocol.
        match super::wire::parse_version(&caps.protocol_version) {
            Some((1, _)) => Ok(caps),
            _ => Err(MotionError::Mmcp {
                backend: self.name.clone(),
                error: Box::new(
                    MmcpError::new(
                        "version_unsupported",
                        format!(
                            "the backend speaks MMCP {:?}; stagecraft speaks 1.x",
                            caps.protocol_version
                        ),
                    )
                    .with_details(json!({"supported_majors": ["1"], "protocol_version": caps.protocol_version})),
                ),
                extra: json!({"phase": "capabilities", "local": true}),
            }),
        }
    }

    /// The deadline of one request to this backend: its own `timeout_seconds`, or the caller's
    /// deadline when sooner; and how long that is from now (for the error that names it).
    fn deadline_of(&self, call: &CallContext) -> (Instant, Duration) {
        let request = call.within(self.timeout);
        (request.deadline.into_std(), request.remaining())
    }

    fn deadline(&self, after: Duration) -> MotionError {
        MotionError::Deadline {
            backend: self.name.clone(),
            seconds: after.as_secs_f64(),
        }
    }

    /// Reads a response body up to `max_response_mb`, refusing anything larger while streaming.
    async fn read_body(
        &self,
        mut resp: reqwest::Response,
        deadline: Instant,
        limit: Duration,
    ) -> Result<bytes::Bytes, MotionError> {
        let max = self.max_response_bytes;
        let too_big = |n: u64| {
            self.bad(format!(
                "the response is larger than max_response_mb ({} MB){}",
                max / (1024 * 1024),
                if n > 0 {
                    format!(": {n} bytes")
                } else {
                    String::new()
                }
            ))
        };
        if let Some(len) = resp.content_length()
            && len > max
        {
            return Err(too_big(len));
        }
        let mut buf = bytes::BytesMut::with_capacity(
            resp.content_length().unwrap_or(64 * 1024).min(max) as usize,
        );
        loop {
            let chunk = match tokio::time::timeout_at(deadline.into(), resp.chunk()).await {
                Err(_) => return Err(self.deadline(limit)),
                Ok(Err(e)) => {
                    return Err(self.bad(format!(
                        "the connection broke while reading the answer: {}",
                        transport_message(&e)
                    )));
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(c))) => c,
            };
            if buf.len() as u64 + chunk.len() as u64 > max {
                // Stop reading: dropping the response closes the connection.
                return Err(too_big(0));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Turns a non-2xx answer into an error: the MMCP envelope when there is one, otherwise the best
    /// message the body offers (FastAPI `detail`, an HTML `<title>`, plain text, or nothing).
    fn error_from_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        phase: &str,
        location: Option<&str>,
    ) -> MotionError {
        let code = status.as_u16();
        let mut extra = json!({"status": code, "phase": phase});
        if let Some(l) = location {
            extra["location"] = json!(l);
        }
        if let Some(ra) = retry_after(headers) {
            extra["retry_after"] = json!(ra.as_secs_f64());
        }
        if let Some(id) =
            header_str(headers, "x-request-id").or_else(|| header_str(headers, "x-job-id"))
        {
            extra["request_id"] = json!(id);
        }
        if let Ok(env) = serde_json::from_slice::<ErrorEnvelope>(body) {
            let mut err = MmcpError::from_body(code, env.error);
            if code == 401 {
                // Any 401 is "auth required", whatever the envelope says (docs/mmcp.md#errors).
                err.code = "unauthorized".into();
            }
            return MotionError::Mmcp {
                backend: self.name.clone(),
                error: Box::new(err),
                extra,
            };
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
        let detail = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
            let d = v.get("detail")?;
            Some(match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        });
        let message = if let Some(d) = detail {
            d
        } else if let Some(title) = html_title(&text) {
            title
        } else if text.trim().is_empty() {
            status.canonical_reason().unwrap_or("no body").to_string()
        } else {
            text.trim().chars().take(300).collect()
        };
        extra["envelope"] = json!(false);
        let mmcp_code = match code {
            401 => "unauthorized",
            403 => "forbidden",
            413 => "payload_too_large",
            422 => "schema_validation",
            429 => "rate_limited",
            500 => "internal_error",
            503 => "model_unavailable",
            504 => "timeout",
            // 502 and other gateway failures: the proxy could not reach the model server.
            502 => {
                return MotionError::Unreachable {
                    backend: self.name.clone(),
                    url: self.base.to_string(),
                    message: format!("HTTP 502 from a gateway: {message}"),
                };
            }
            _ => {
                return MotionError::BadResponse {
                    backend: self.name.clone(),
                    message: format!(
                        "HTTP {code} without an MMCP error envelope ({message}); is the url the MMCP base URL?"
                    ),
                };
            }
        };
        MotionError::Mmcp {
            backend: self.name.clone(),
            error: Box::new(
                MmcpError::new(mmcp_code, format!("HTTP {code}: {message}")).with_status(code),
            ),
            extra,
        }
    }

    /// `POST /generate`, following a 202 job to its end; returns the raw glTF body.
    pub async fn generate(
        &self,
        request: &GenerateRequest,
        call: &CallContext,
    ) -> Result<GltfBody, MotionError> {
        // serde_json refuses NaN/Infinity: that is a client-side bug, reported before sending.
        let body = serde_json::to_vec(request).map_err(|e| {
            MotionError::InvalidArguments(format!("the request cannot be encoded: {e}"))
        })?;
        // Bytes: each retry re-sends the same body without copying it.
        let body = bytes::Bytes::from(body);
        let (deadline, limit) = self.deadline_of(call);
        let url = self.endpoint("generate")?;
        let started = Instant::now();

        let mut attempt = 0u32;
        let resp = loop {
            let req = self
                .with_auth(self.http.post(url.clone()))
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )
                .header(reqwest::header::ACCEPT, ACCEPT)
                .header("Idempotency-Key", &*call.call_id)
                .body(body.clone());
            let sent = tokio::select! {
                r = tokio::time::timeout_at(deadline.into(), req.send()) => r,
                _ = call.cancel.cancelled() => return Err(MotionError::Cancelled),
            };
            let failure = match sent {
                Err(_) => return Err(self.deadline(limit)),
                Ok(Err(e)) if e.is_connect() => (self.unreachable(transport_message(&e)), None),
                Ok(Err(e)) => return Err(self.unreachable(transport_message(&e))),
                Ok(Ok(r)) => {
                    let status = r.status();
                    if !is_retryable(status) {
                        break r;
                    }
                    let headers = r.headers().clone();
                    let ra = retry_after(&headers);
                    let b = self.read_body(r, deadline, limit).await?;
                    let err = self.error_from_response(status, &headers, &b, "generate", None);
                    if let MotionError::Mmcp { error, .. } = &err
                        && error.code == "quota_exceeded"
                    {
                        return Err(err);
                    }
                    (err, ra)
                }
            };
            let (err, ra) = failure;
            if attempt >= MAX_RETRIES {
                return Err(err);
            }
            let delay = ra.unwrap_or(BACKOFF_BASE * 2u32.pow(attempt));
            if Instant::now() + delay >= deadline {
                return Err(err);
            }
            attempt += 1;
            call.progress.report(
                started.elapsed().as_secs_f64(),
                None,
                Some(&format!(
                    "{}: {}; retry {attempt}/{MAX_RETRIES} in {:.1} s",
                    self.name,
                    err,
                    delay.as_secs_f64()
                )),
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = call.cancel.cancelled() => return Err(MotionError::Cancelled),
            }
        };

        match resp.status() {
            StatusCode::OK => self.gltf_body(resp, deadline, limit, "generate").await,
            StatusCode::ACCEPTED => self.follow_job(resp, call, deadline, limit, started).await,
            s if s.is_success() => Err(self.bad(format!(
                "unexpected HTTP {} to /generate (expected 200 or 202)",
                s.as_u16()
            ))),
            s => {
                let headers = resp.headers().clone();
                let b = self.read_body(resp, deadline, limit).await?;
                Err(self.error_from_response(s, &headers, &b, "generate", None))
            }
        }
    }

    async fn gltf_body(
        &self,
        resp: reqwest::Response,
        deadline: Instant,
        limit: Duration,
        phase: &str,
    ) -> Result<GltfBody, MotionError> {
        let ct = content_type(resp.headers());
        let bytes = self.read_body(resp, deadline, limit).await?;
        if bytes.is_empty() {
            return Err(self.bad(format!("the {phase} answer is 200 with an empty body")));
        }
        let glb = ct.contains("gltf-binary") || crate::gltf_buffers::is_glb(&bytes);
        if !(glb || ct.contains("json") || (ct.is_empty() && bytes.starts_with(b"{"))) {
            return Err(self.bad(format!(
                "the {phase} answer has Content-Type {ct:?}, not model/gltf+json or model/gltf-binary"
            )));
        }
        Ok(GltfBody { bytes, glb })
    }

    async fn follow_job(
        &self,
        resp: reqwest::Response,
        call: &CallContext,
        deadline: Instant,
        limit: Duration,
        started: Instant,
    ) -> Result<GltfBody, MotionError> {
        let Some(location) = header_str(resp.headers(), "location") else {
            return Err(self.bad("202 Accepted without a Location header".into()));
        };
        let job_url = self.resolve_location(&location)?;
        let mut wait = retry_after(resp.headers())
            .unwrap_or(POLL_DEFAULT)
            .max(POLL_FLOOR);
        // From here on the server holds a job: delete it unless it ends on its own.
        let mut guard = JobGuard {
            http: self.http.clone(),
            url: Some(job_url.clone()),
            token: self.token(),
        };
        drop(resp);
        let loc = job_url.to_string();
        loop {
            call.progress.report(
                started.elapsed().as_secs_f64(),
                None,
                Some(&format!(
                    "{}: job queued/running ({:.0} s)",
                    self.name,
                    started.elapsed().as_secs_f64()
                )),
            );
            if Instant::now() + wait >= deadline {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline.into()) => {}
                    _ = call.cancel.cancelled() => return Err(MotionError::Cancelled),
                }
                return Err(self.deadline(limit));
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = call.cancel.cancelled() => return Err(MotionError::Cancelled),
            }
            let req = self
                .with_auth(self.http.get(job_url.clone()))
                .header(reqwest::header::ACCEPT, ACCEPT);
            let sent = tokio::select! {
                r = tokio::time::timeout_at(deadline.into(), req.send()) => r,
                _ = call.cancel.cancelled() => return Err(MotionError::Cancelled),
            };
            let r = match sent {
                Err(_) => return Err(self.deadline(limit)),
                // A failed poll does not end the job; the next poll may succeed.
                Ok(Err(e)) if e.is_connect() => {
                    wait = (wait * 2).min(Duration::from_secs(10));
                    continue;
                }
                Ok(Err(e)) => return Err(self.unreachable(transport_message(&e))),
                Ok(Ok(r)) => r,
            };
            match r.status() {
                StatusCode::OK => {
                    guard.disarm();
                    return self.gltf_body(r, deadline, limit, "poll").await;
                }
                StatusCode::ACCEPTED => {
                    if let Some(ra) = retry_after(r.headers()) {
                        wait = ra.max(POLL_FLOOR);
                    }
                    let b = self.read_body(r, deadline, limit).await.unwrap_or_default();
                    if let Ok(v) = serde_json::from_slice::<Value>(&b) {
                        let p = v.get("progress").and_then(Value::as_f64);
                        let status = v.get("status").and_then(Value::as_str).unwrap_or("running");
                        let pct = p.filter(|p| p.is_finite()).map(|p| {
                            let frac = if p > 1.0 { p / 100.0 } else { p };
                            format!(" {:.0}%", frac.clamp(0.0, 1.0) * 100.0)
                        });
                        // Progress values stay elapsed seconds (MCP wants them increasing); the
                        // job's own progress goes in the message.
                        call.progress.report(
                            started.elapsed().as_secs_f64(),
                            None,
                            Some(&format!(
                                "{}: job {status}{}",
                                self.name,
                                pct.unwrap_or_default()
                            )),
                        );
                    }
                }
                s if is_retryable(s) => {
                    if let Some(ra) = retry_after(r.headers()) {
                        wait = ra.max(POLL_FLOOR);
                    }
                }
                s => {
                    // A terminal failure: the job is gone or failed, nothing to delete.
                    guard.disarm();
                    let headers = r.headers().clone();
                    let b = self.read_body(r, deadline, limit).await?;
                    return Err(self.error_from_response(s, &headers, &b, "poll", Some(&loc)));
                }
            }
        }
    }

    /// A `Location` may be absolute or relative; an absolute one on another origin keeps only its
    /// path (the bearer token must never go to a host the user did not configure).
    fn resolve_location(&self, location: &str) -> Result<Url, MotionError> {
        let joined = self
            .base
            .join(location)
            .map_err(|e| self.bad(format!("202 Location {location:?} is not a URL: {e}")))?;
        if joined.origin() == self.base.origin() {
            return Ok(joined);
        }
        let mut same = self.base.clone();
        same.set_path(joined.path());
        same.set_query(joined.query());
        Ok(same)
    }

    /// `POST /generate` with a batch body; one result per request, in order.
    pub async fn generate_batch(
        &self,
        requests: &[GenerateRequest],
        call: &CallContext,
    ) -> Result<Vec<Result<super::take::Take, MotionError>>, MotionError> {
        let items: Vec<Value> = requests
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .map_err(|e| {
                MotionError::InvalidArguments(format!("a request cannot be encoded: {e}"))
            })?;
        let body = json!({"protocol_version": super::wire::PROTOCOL_VERSION, "requests": items});
        let (deadline, limit) = self.deadline_of(call);
        let req = self
            .with_auth(self.http.post(self.endpoint("generate")?))
            .header("Idempotency-Key", &*call.call_id)
            .json(&body);
        let r = tokio::select! {
            r = tokio::time::timeout_at(deadline.into(), req.send()) => r,
            _ = call.cancel.cancelled() => return Err(MotionError::Cancelled),
        };
        let r = match r {
            Err(_) => return Err(self.deadline(limit)),
            Ok(Err(e)) => return Err(self.unreachable(transport_message(&e))),
            Ok(Ok(r)) => r,
        };
        let status = r.status();
        let headers = r.headers().clone();
        let b = self.read_body(r, deadline, limit).await?;
        if !status.is_success() {
            return Err(self.error_from_response(status, &headers, &b, "generate", None));
        }
        let parsed: super::wire::BatchResponse = serde_json::from_slice(&b).map_err(|e| {
            self.bad(format!(
                "the batch answer is not {{\"results\": [...]}}: {e}"
            ))
        })?;
        if parsed.results.len() != requests.len() {
            return Err(self.bad(format!(
                "the batch answer has {} results for {} requests",
                parsed.results.len(),
                requests.len()
            )));
        }
        Ok(parsed
            .results
            .into_iter()
            .map(|item| match item {
                super::wire::BatchItem::Gltf { gltf } => super::gltf::decode_value(&gltf)
                    .map_err(|e| self.bad(format!("batch item: {e}"))),
                super::wire::BatchItem::Error { error } => {
                    let status = MmcpError::status_for(&error.code);
                    Err(MotionError::Mmcp {
                        backend: self.name.clone(),
                        error: Box::new(MmcpError::from_body(status, error)),
                        extra: json!({"phase": "generate"}),
                    })
                }
            })
            .collect())
    }
}

/// Deletes an unfinished job when dropped (cancellation, deadline, or the caller gave up).
struct JobGuard {
    http: reqwest::Client,
    url: Option<Url>,
    token: Option<String>,
}

impl JobGuard {
    fn disarm(&mut self) {
        self.url = None;
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        let Some(url) = self.url.take() else { return };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut req = self.http.delete(url).timeout(DELETE_TIMEOUT);
        if let Some(t) = self.token.take() {
            req = req.bearer_auth(t);
        }
        // Detached: the caller's future is being dropped, so nothing may await this.
        handle.spawn(async move {
            if let Err(e) = req.send().await {
                tracing::debug!("DELETE of an abandoned MMCP job failed: {e}");
            }
        });
    }
}

fn is_retryable(s: StatusCode) -> bool {
    matches!(s.as_u16(), 429 | 503 | 504)
}

fn content_type(headers: &HeaderMap) -> String {
    header_str(headers, "content-type")
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

/// `Retry-After` as seconds (fractions allowed) or an IMF-fixdate; capped at one hour.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = header_str(headers, "retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let when = parse_http_date(&v)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(when.saturating_sub(now).min(3600)))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → Unix seconds.
fn parse_http_date(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u64
        + 1;
    let year: u64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4]
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    // Range checks first: the date arithmetic below must never overflow on a hostile header.
    if hms.len() != 3
        || !(1970..=9999).contains(&year)
        || !(1..=31).contains(&day)
        || hms[0] > 23
        || hms[1] > 59
        || hms[2] > 60
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + 7;
    let end = lower[start..].find("</title>")? + start;
    let t = text.get(start..end)?.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn transport_message(e: &reqwest::Error) -> String {
    // reqwest's Display omits the cause ("error sending request"); the source chain says why.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_and_titles() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date("Sun, 00 Mar 2026 00:00:00 GMT"), None);
        assert_eq!(
            parse_http_date("Sun, 99999999999999999999 Mar 2026 00:00:00 GMT"),
            None
        );
        assert_eq!(
            html_title("<html><head><TITLE>502 Bad Gateway</TITLE></head></html>").as_deref(),
            Some("502 Bad Gateway")
        );
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("1.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    }
}
