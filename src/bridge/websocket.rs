//! `websocket`: one JSON message per text frame. Usually stagecraft dials the adapter
//! (`ws://127.0.0.1:9876`); with `listen = true` stagecraft listens there and the DCC dials in,
//! for DCCs that can only make outgoing connections.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use super::link::{Inbound, Link, SHUTDOWN_GRACE};
use super::stream::Connector;
use super::{HANDSHAKE_TIMEOUT, MAX_PENDING_HANDSHAKES};

fn ws_config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Turns a websocket into a link: a writer task and a reader task.
fn ws_link<S>(ws: WebSocketStream<S>) -> Link
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let kill = CancellationToken::new();
    let (out_tx, mut out_rx) = mpsc::channel::<String>(64);
    let (in_tx, in_rx) = mpsc::channel::<Inbound>(64);
    let writer_kill = kill.clone();
    let writer = tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                m = out_rx.recv() => m,
                _ = writer_kill.cancelled() => None,
            };
            let Some(msg) = msg else { break };
            // A DCC that stops reading blocks the send for ever: the kill switch must still work.
            let ok = tokio::select! {
                r = sink.send(Message::text(msg)) => r.is_ok(),
                _ = writer_kill.cancelled() => false,
            };
            if !ok {
                break;
            }
        }
        let goodbye = async {
            let _ = sink.send(Message::Close(None)).await;
            let _ = sink.close().await;
        };
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, goodbye).await;
    });
    let reader_kill = kill.clone();
    let reader = tokio::spawn(async move {
        let reason = loop {
            let frame = tokio::select! {
                f = stream.next() => f,
                _ = reader_kill.cancelled() => break "closed by stagecraft".to_string(),
            };
            match frame {
                Some(Ok(Message::Text(text))) => {
                    if in_tx
                        .send(Inbound::Message(text.to_string()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    break "the DCC sent a binary frame (the bridge speaks text frames); connection dropped".to_string();
                }
                Some(Ok(Message::Close(_))) | None => {
                    break "the DCC closed the websocket".to_string();
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("websocket error: {e}; connection dropped"),
            }
        };
        // Whatever ended the reader ends the writer too.
        reader_kill.cancel();
        let _ = in_tx.send(Inbound::Closed(reason)).await;
    });
    Link {
        tx: out_tx,
        rx: in_rx,
        kill,
        tasks: vec![writer, reader],
    }
}

pub struct DialConnector {
    url: String,
    max: usize,
}

impl DialConnector {
    pub fn new(endpoint: &str, max: usize) -> Result<Self, String> {
        if !(endpoint.starts_with("ws://") || endpoint.starts_with("wss://")) {
            return Err(format!(
                "websocket endpoint {endpoint:?} must start with ws:// or wss://"
            ));
        }
        Ok(Self {
            url: endpoint.to_string(),
            max,
        })
    }
}

#[async_trait]
impl Connector for DialConnector {
    fn endpoint(&self) -> String {
        self.url.clone()
    }

    async fn connect(&self) -> Result<Link, String> {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(
            self.url.as_str(),
            Some(ws_config(self.max)),
            true,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(ws_link(ws))
    }
}

type Accepted = WebSocketStream<tokio::net::TcpStream>;

/// First and longest pause after a failed `accept`.
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(50);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Decides a DCC's upgrade request. The error type is tungstenite's `Callback` contract, not ours
/// to shrink.
#[allow(clippy::result_large_err)]
fn check_upgrade(
    request: &Request,
    response: Response,
    token: Option<&str>,
) -> Result<Response, ErrorResponse> {
    let refuse = |status: StatusCode, why: &str| {
        let mut refused = ErrorResponse::new(Some(why.to_string()));
        *refused.status_mut() = status;
        Err(refused)
    };
    // A web page can open a websocket to any loopback port, and would then play the DCC (its
    // answers reach the agent). DCCs send no Origin.
    if request.headers().contains_key("origin") {
        return refuse(StatusCode::FORBIDDEN, "requests from web pages are refused");
    }
    let Some(token) = token else {
        return Ok(response);
    };
    let shown = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Constant time, so how long a refusal takes says nothing about how much of the token matched.
    match shown {
        Some(shown) if bool::from(shown.as_bytes().ct_eq(token.as_bytes())) => Ok(response),
        _ => refuse(StatusCode::UNAUTHORIZED, "wrong or missing token"),
    }
}

/// Listens for the DCC; each accepted websocket waits in a queue until a session takes it.
pub struct ListenConnector {
    addr: String,
    max: usize,
    /// With a token, a DCC that dials in must show it (`Authorization: Bearer`) in the upgrade
    /// request: stagecraft would otherwise hand `dcc.hello` (and the token) to whoever connects.
    token: Option<String>,
    shutdown: CancellationToken,
    queue: tokio::sync::Mutex<Option<mpsc::Receiver<Accepted>>>,
    started: Mutex<bool>,
    pending_rx: Mutex<Option<mpsc::Receiver<Accepted>>>,
}

impl ListenConnector {
    pub fn new(
        endpoint: &str,
        max: usize,
        token: Option<String>,
        shutdown: CancellationToken,
    ) -> Result<Self, String> {
        let addr = endpoint
            .strip_prefix("ws://")
            .unwrap_or(endpoint)
            .trim_end_matches('/')
            .to_string();
        let connector = Self {
            addr,
            max,
            token,
            shutdown,
            queue: tokio::sync::Mutex::new(None),
            started: Mutex::new(false),
            pending_rx: Mutex::new(None),
        };
        // Listen right away when a runtime is there, so the DCC can dial in before the first call.
        if tokio::runtime::Handle::try_current().is_ok() {
            connector.start()?;
        }
        Ok(connector)
    }

    fn start(&self) -> Result<(), String> {
        let mut started = self.started.lock().map_err(|_| "listener state poisoned")?;
        if *started {
            return Ok(());
        }
        let std_listener = std::net::TcpListener::bind(&self.addr)
            .map_err(|e| format!("cannot listen on {}: {e}", self.addr))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let listener =
            tokio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel::<Accepted>(4);
        let max = self.max;
        let token = self.token.clone();
        let shutdown = self.shutdown.clone();
        tracing::info!("waiting for a DCC to dial in at ws://{}", self.addr);
        // The accept loop ends (and the port is released) at shutdown.
        let addr = self.addr.clone();
        tokio::spawn(async move {
            let handshakes = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
            let mut backoff = ACCEPT_BACKOFF_FIRST;
            loop {
                // A handshake slot first: beyond the cap, connections wait in the kernel's backlog
                // instead of each costing a task and a descriptor here.
                let slot = tokio::select! {
                    s = handshakes.clone().acquire_owned() => s,
                    _ = shutdown.cancelled() => return,
                };
                let Ok(slot) = slot else { return };
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = shutdown.cancelled() => return,
                };
                let (tcp, peer) = match accepted {
                    Ok(accepted) => {
                        backoff = ACCEPT_BACKOFF_FIRST;
                        accepted
                    }
                    Err(e) => {
                        // Errors such as running out of descriptors last a while: retrying at
                        // once would spin a core.
                        tracing::warn!(
                            "accepting a connection at ws://{addr} failed: {e}; retrying in {backoff:?}"
                        );
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown.cancelled() => return,
                        }
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                        continue;
                    }
                };
                let queue = tx.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    // The error type is tungstenite's `Callback` contract, not ours to shrink.
                    #[allow(clippy::result_large_err)]
                    let check = move |request: &Request, response: Response| {
                        check_upgrade(request, response, token.as_deref())
                    };
                    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(
                        tcp,
                        check,
                        Some(ws_config(max)),
                    );
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, upgrade).await {
                        Ok(Ok(ws)) => {
                            tracing::info!("a DCC dialled in from {peer}");
                            let _ = queue.send(ws).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!("websocket handshake from {peer} failed: {e}")
                        }
                        Err(_) => tracing::debug!(
                            "websocket handshake from {peer} not done within {HANDSHAKE_TIMEOUT:?}; dropped"
                        ),
                    }
                    // Held until the websocket is queued, so waiting ones count against the cap.
                    drop(slot);
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        if let Ok(mut p) = self.pending_rx.lock() {
            *p = Some(rx);
        }
        *started = true;
        Ok(())
    }
}

#[async_trait]
impl Connector for ListenConnector {
    fn endpoint(&self) -> String {
        format!("ws://{} (listening)", self.addr)
    }

    async fn connect(&self) -> Result<Link, String> {
        self.start()?;
        let mut queue = self.queue.lock().await;
        if queue.is_none() {
            *queue = self.pending_rx.lock().ok().and_then(|mut p| p.take());
        }
        let rx = queue.as_mut().ok_or("the listener is not running")?;
        match rx.recv().await {
            Some(ws) => Ok(ws_link(ws)),
            None => Err("the listener stopped".into()),
        }
    }
}
