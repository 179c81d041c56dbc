//! `http`: one JSON-RPC request per `POST`, the answer in the response body, a bearer token for
//! auth. No notifications either way (no progress, no `$/cancel`): at the deadline the request is
//! simply abandoned. The handshake runs before the first request and again after a failure.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{
    Bridge, BridgeConfig, BridgeError, BridgeStatus, check_hello, hello_params, remote_error,
};
use crate::call::CallContext;
use crate::config::BridgeKind;

pub struct HttpBridge {
    url: String,
    client: reqwest::Client,
    token: Option<String>,
    max: usize,
    next_id: AtomicU64,
    hello: Mutex<Option<Value>>,
    status: Mutex<BridgeStatus>,
}

impl HttpBridge {
    pub fn new(endpoint: &str, config: BridgeConfig) -> Result<Self, String> {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!(
                "http endpoint {endpoint:?} must start with http:// or https://"
            ));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(super::CONNECT_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            url: endpoint.to_string(),
            client,
            token: config.token,
            max: config.max_message_bytes,
            next_id: AtomicU64::new(1),
            hello: Mutex::new(None),
            status: Mutex::new(BridgeStatus::default()),
        })
    }

    fn set_status(&self, connected: bool, error: Option<String>) {
        if let Ok(mut s) = self.status.lock() {
            s.connected = connected;
            if error.is_some() || connected {
                s.last_error = error;
            }
        }
    }

    async fn post(
        &self,
        method: &str,
        params: Value,
        call: &CallContext,
    ) -> Result<Value, BridgeError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let started = Instant::now();
        let timeout = BridgeError::Timeout {
            method: method.to_string(),
            seconds: 0.0,
        };
        let mut request = self.client.post(&self.url).json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let exchange = async {
            let mut response = request.send().await.map_err(|e| {
                if e.is_timeout() {
                    timeout.clone()
                } else {
                    BridgeError::ConnectionFailed(format!("cannot reach {}: {e}", self.url))
                }
            })?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED
                || status == reqwest::StatusCode::FORBIDDEN
            {
                return Err(BridgeError::Remote {
                    rpc_code: -32000,
                    code: Some("PERMISSION_DENIED".into()),
                    message: format!("{} refused the token (HTTP {status})", self.url),
                    recoverable: Some(false),
                    details: None,
                });
            }
            // Read the body in chunks so an oversized answer is refused without holding it all.
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| {
                BridgeError::ConnectionFailed(format!(
                    "reading the answer from {} failed: {e}",
                    self.url
                ))
            })? {
                if bytes.len() + chunk.len() > self.max {
                    return Err(BridgeError::ConnectionFailed(format!(
                        "{} answered with more than {} bytes; answer dropped",
                        self.url, self.max
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            let answer: Value = serde_json::from_slice(&bytes).map_err(|_| {
                BridgeError::ConnectionFailed(format!(
                    "{} answered HTTP {status} with something that is not JSON-RPC; answer dropped",
                    self.url
                ))
            })?;
            if answer.get("id").and_then(Value::as_u64) != Some(id) && answer.get("error").is_none()
            {
                return Err(BridgeError::ConnectionFailed(format!(
                    "{} answered request {id} with another id",
                    self.url
                )));
            }
            match (answer.get("result"), answer.get("error")) {
                (_, Some(error)) if !error.is_null() => Err(remote_error(error)),
                (Some(result), _) => Ok(result.clone()),
                _ => Err(BridgeError::ConnectionFailed(format!(
                    "{} answered without result or error",
                    self.url
                ))),
            }
        };
        tokio::select! {
            r = tokio::time::timeout_at(call.deadline, exchange) => match r {
                Ok(Err(BridgeError::Timeout { .. })) | Err(_) => Err(BridgeError::Timeout {
                    method: method.to_string(),
                    seconds: started.elapsed().as_secs_f64(),
                }),
                Ok(other) => other,
            },
            _ = call.cancel.cancelled() => Err(BridgeError::Cancelled),
        }
    }

    async fn ensure_hello(&self, call: &CallContext) -> Result<Value, BridgeError> {
        if let Some(hello) = self.hello.lock().ok().and_then(|h| h.clone()) {
            return Ok(hello);
        }
        let result = self
            .post("dcc.hello", hello_params(self.token.as_deref()), call)
            .await
            .and_then(|hello| check_hello(&hello).map(|_| hello));
        match &result {
            Ok(hello) => {
                if let Ok(mut h) = self.hello.lock() {
                    *h = Some(hello.clone());
                }
                self.set_status(true, None);
            }
            Err(e) => self.set_status(false, Some(e.to_string())),
        }
        result
    }
}

#[async_trait]
impl Bridge for HttpBridge {
    async fn request(
        &self,
        method: &str,
        params: Value,
        call: &CallContext,
    ) -> Result<Value, BridgeError> {
        self.ensure_hello(call).await?;
        let mut result = self.post(method, params, call).await;
        // Busy or frozen? A live adapter answers dcc.ping even while a request runs.
        if let Err(BridgeError::Timeout { seconds, .. }) = &result
            && method != "dcc.ping"
        {
            let ping = CallContext::new(super::PING_TIMEOUT);
            if let Err(BridgeError::Timeout { .. }) = self.post("dcc.ping", json!({}), &ping).await
            {
                result = Err(BridgeError::NotResponding {
                    method: method.to_string(),
                    seconds: *seconds,
                });
            }
        }
        if let Err(BridgeError::ConnectionFailed(reason)) = &result {
            // The adapter may have restarted: handshake again next time.
            if let Ok(mut h) = self.hello.lock() {
                *h = None;
            }
            self.set_status(false, Some(reason.clone()));
        }
        result
    }

    async fn hello(&self, call: &CallContext) -> Result<Value, BridgeError> {
        self.ensure_hello(call).await
    }

    fn status(&self) -> BridgeStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn kind(&self) -> BridgeKind {
        BridgeKind::Http
    }

    fn endpoint(&self) -> String {
        self.url.clone()
    }

    async fn close(&self) {
        if let Ok(mut h) = self.hello.lock() {
            *h = None;
        }
        self.set_status(false, None);
    }
}
