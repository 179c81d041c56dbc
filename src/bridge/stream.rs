//! The [`Bridge`] of the link-based transports (embedded, websocket, named_pipe): opens a link on
//! demand, handshakes, keeps the session, and reconnects with backoff after it dies.
//!
//! A network session that dies is reopened by the next request. An embedded DCC that dies is
//! restarted at once in the background (it may take seconds to start, and the next call should
//! not pay for that), a few times at most; after that the next request tries again. Failed attempts
//! back off (0.25 s doubling to 5 s) so that a DCC that keeps dying is not restarted in a tight
//! loop; a request waits out the backoff only if its deadline allows, and otherwise fails at once
//! with the last error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::link::Link;
use super::session::Session;
use super::{
    Bridge, BridgeConfig, BridgeError, BridgeStatus, CONNECT_TIMEOUT, PING_TIMEOUT, StatusCell,
    check_hello, hello_params,
};
use crate::call::CallContext;
use crate::config::BridgeKind;

const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Background restarts of an embedded DCC in a row before leaving it to the next request.
const EAGER_RESTARTS: u32 = 5;

/// How a transport opens a link.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    async fn connect(&self) -> Result<Link, String>;
    fn endpoint(&self) -> String;
}

struct Live {
    session: Arc<Session>,
    hello: Value,
}

#[derive(Default)]
struct ConnState {
    live: Option<Live>,
    failures: u32,
    retry_at: Option<Instant>,
}

pub struct StreamBridge<C: Connector> {
    inner: Arc<Inner<C>>,
}

struct Inner<C: Connector> {
    connector: C,
    kind: BridgeKind,
    token: Option<String>,
    state: tokio::sync::Mutex<ConnState>,
    status: StatusCell,
    shutdown: CancellationToken,
    /// Set by `close`: a session that ends after it is not restarted in the background.
    closing: AtomicBool,
}

impl<C: Connector> StreamBridge<C> {
    pub fn new(connector: C, config: BridgeConfig, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                connector,
                kind: config.kind,
                token: config.token,
                state: tokio::sync::Mutex::new(ConnState::default()),
                status: StatusCell::default(),
                shutdown,
                closing: AtomicBool::new(false),
            }),
        }
    }
}

impl<C: Connector> Inner<C> {
    /// The live session, opening one (link + handshake) if needed.
    async fn session(
        self: &Arc<Self>,
        call: &CallContext,
    ) -> Result<(Arc<Session>, Value), BridgeError> {
        if self.shutdown.is_cancelled() {
            return Err(BridgeError::ConnectionFailed(
                "stagecraft is shutting down".into(),
            ));
        }
        // Held by whoever is (re)connecting, through connect and handshake: the others wait for
        // that session within their own deadline. Past it, the honest answer is that there is no
        // connection yet (CONNECTION_FAILED), not that a DCC is busy (TIMEOUT; docs/bridge-protocol.md#errors).
        let waiting = Instant::now();
        let mut state = tokio::select! {
            state = tokio::time::timeout_at(call.deadline, self.state.lock()) => match state {
                Ok(state) => state,
                Err(_) => return Err(self.still_connecting(waiting)),
            },
            _ = call.cancel.cancelled() => return Err(BridgeError::Cancelled),
        };
        // Shutdown may have closed the session while this call waited: open no new one.
        if self.shutdown.is_cancelled() {
            return Err(BridgeError::ConnectionFailed(
                "stagecraft is shutting down".into(),
            ));
        }
        if let Some(live) = &state.live {
            if !live.session.is_closed() {
                return Ok((live.session.clone(), live.hello.clone()));
            }
            let reason = live.session.close_reason();
            live.session.join().await;
            state.live = None;
            self.status.set(false, reason);
        }
        if let Some(at) = state.retry_at
            && at > Instant::now()
        {
            if at > call.deadline {
                let last = self.status.last_error().unwrap_or_default();
                return Err(BridgeError::ConnectionFailed(format!(
                    "{last} (next reconnection attempt in {:.1} s)",
                    at.saturating_duration_since(Instant::now()).as_secs_f64()
                )));
            }
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = call.cancel.cancelled() => return Err(BridgeError::Cancelled),
            }
        }
        match self.open(call).await {
            Ok((session, hello)) => {
                state.failures = 0;
                state.retry_at = None;
                state.live = Some(Live {
                    session: session.clone(),
                    hello: hello.clone(),
                });
                self.status.set(true, None);
                if self.kind == BridgeKind::Embedded {
                    self.restart_when_dead(session.clone());
                }
                Ok((session, hello))
            }
            Err(e) => {
                state.failures = state.failures.saturating_add(1);
                let delay = BACKOFF_FIRST
                    .saturating_mul(1u32 << (state.failures - 1).min(8))
                    .min(BACKOFF_MAX);
                state.retry_at = Some(Instant::now() + delay);
                if !matches!(e, BridgeError::Cancelled) {
                    self.status.set(false, Some(e.to_string()));
                }
                Err(e)
            }
        }
    }

    /// The error of a call whose deadline passed while another call was opening the session.
    fn still_connecting(&self, waiting_since: Instant) -> BridgeError {
        let last = self
            .status
            .last_error()
            .map(|e| format!("; the last error was: {e}"))
            .unwrap_or_default();
        BridgeError::ConnectionFailed(format!(
            "not connected to {}: waited {:.1} s for a connection attempt that was still under way{last}",
            self.connector.endpoint(),
            waiting_since.elapsed().as_secs_f64(),
        ))
    }

    /// Restarts an embedded DCC in the background once its session ends (unless stagecraft is
    /// closing it). Holds the bridge weakly, so a dropped bridge is not kept alive by it.
    fn restart_when_dead(self: &Arc<Self>, session: Arc<Session>) {
        let weak = Arc::downgrade(self);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = session.closed() => {}
                _ = shutdown.cancelled() => return,
            }
            drop(session);
            for _ in 0..EAGER_RESTARTS {
                let Some(inner) = weak.upgrade() else { return };
                if inner.closing.load(Ordering::SeqCst) || shutdown.is_cancelled() {
                    return;
                }
                tracing::info!(
                    "the DCC process ended; restarting {}",
                    inner.connector.endpoint()
                );
                // `session` waits out the backoff of earlier failures itself.
                let call = CallContext::new(CONNECT_TIMEOUT + BACKOFF_MAX);
                if inner.session(&call).await.is_ok() {
                    return; // the new session has its own watcher
                }
            }
        });
    }

    async fn open(&self, call: &CallContext) -> Result<(Arc<Session>, Value), BridgeError> {
        // Connect and handshake get at most CONNECT_TIMEOUT, whatever the caller's deadline.
        let handshake = call.within(CONNECT_TIMEOUT);
        let link = tokio::select! {
            r = tokio::time::timeout_at(handshake.deadline, self.connector.connect()) => match r {
                Ok(Ok(link)) => link,
                Ok(Err(e)) => return Err(BridgeError::ConnectionFailed(format!(
                    "cannot connect to {}: {e}", self.connector.endpoint()
                ))),
                Err(_) => return Err(BridgeError::ConnectionFailed(format!(
                    "cannot connect to {}: no connection within the deadline", self.connector.endpoint()
                ))),
            },
            _ = call.cancel.cancelled() => return Err(BridgeError::Cancelled),
        };
        let session = Session::start(link);
        let answer = session
            .request("dcc.hello", hello_params(self.token.as_deref()), &handshake)
            .await;
        let failure = match answer {
            Ok(hello) => match check_hello(&hello) {
                Ok(()) => return Ok((session, hello)),
                Err(e) => e,
            },
            Err(BridgeError::Timeout { .. }) => BridgeError::ConnectionFailed(format!(
                "{} accepted the connection but did not answer dcc.hello",
                self.connector.endpoint()
            )),
            Err(e) => e,
        };
        session.close("the handshake failed");
        session.join().await;
        Err(failure)
    }
}

#[async_trait]
impl<C: Connector> Bridge for StreamBridge<C> {
    async fn request(
        &self,
        method: &str,
        params: Value,
        call: &CallContext,
    ) -> Result<Value, BridgeError> {
        let inner = &self.inner;
        let (session, _) = inner.session(call).await?;
        let mut result = session.request(method, params, call).await;
        // Busy or frozen? A live adapter answers dcc.ping off its main thread even while busy.
        if let Err(BridgeError::Timeout { seconds, .. }) = &result
            && method != "dcc.ping"
        {
            let ping = CallContext::new(PING_TIMEOUT);
            if let Err(BridgeError::Timeout { .. }) = session
                .request("dcc.ping", serde_json::json!({}), &ping)
                .await
            {
                result = Err(BridgeError::NotResponding {
                    method: method.to_string(),
                    seconds: *seconds,
                });
            }
        }
        if let Err(BridgeError::ConnectionFailed(reason)) = &result {
            inner.status.set(false, Some(reason.clone()));
        }
        result
    }

    async fn hello(&self, call: &CallContext) -> Result<Value, BridgeError> {
        self.inner.session(call).await.map(|(_, hello)| hello)
    }

    fn status(&self) -> BridgeStatus {
        let inner = &self.inner;
        let mut status = inner.status.get();
        // A session that died since the last call is reported as such without waiting for one.
        if let Ok(state) = inner.state.try_lock()
            && let Some(live) = &state.live
            && live.session.is_closed()
        {
            status.connected = false;
            status.last_error = live.session.close_reason();
        }
        status
    }

    fn kind(&self) -> BridgeKind {
        self.inner.kind
    }

    fn endpoint(&self) -> String {
        self.inner.connector.endpoint()
    }

    async fn close(&self) {
        let inner = &self.inner;
        inner.closing.store(true, Ordering::SeqCst);
        let mut state = inner.state.lock().await;
        if let Some(live) = state.live.take() {
            live.session.close("closed by stagecraft");
            live.session.join().await;
        }
        inner.status.set(false, None);
    }
}
