//! JSON-RPC 2.0 over a link: request ids, several requests in flight, deadlines with `$/cancel`,
//! `$/progress` routed to the request it belongs to, `$/log` and `$/event` into tracing.
//!
//! A message that is not JSON-RPC (garbage) closes the link: after a framing error nothing that
//! follows can be trusted, and reopening is cheap. Closing fails every pending request at once
//! with `ConnectionFailed`, which is how a dead DCC is told from a busy one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::link::{Inbound, Link};
use super::{BridgeError, remote_error};
use crate::call::{CallContext, Progress};

struct Pending {
    answer: oneshot::Sender<Result<Value, BridgeError>>,
    progress: Progress,
}

pub struct Session {
    tx: mpsc::Sender<String>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: AtomicU64,
    closed: CancellationToken,
    close_reason: Mutex<Option<String>>,
    kill: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Session {
    /// Takes over a link and starts reading from it.
    pub fn start(link: Link) -> Arc<Session> {
        let Link {
            tx,
            mut rx,
            kill,
            tasks,
        } = link;
        let session = Arc::new(Session {
            tx,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closed: CancellationToken::new(),
            close_reason: Mutex::new(None),
            kill,
            tasks: Mutex::new(tasks),
        });
        // The pump holds only a weak reference, so a session nobody uses any more can go.
        let weak = Arc::downgrade(&session);
        let closed = session.closed.clone();
        tokio::spawn(async move {
            loop {
                let inbound = tokio::select! {
                    m = rx.recv() => m,
                    _ = closed.cancelled() => return,
                };
                let Some(session) = weak.upgrade() else {
                    return;
                };
                match inbound {
                    Some(Inbound::Message(text)) => session.on_message(&text),
                    Some(Inbound::Closed(reason)) => {
                        session.close(&reason);
                        return;
                    }
                    None => {
                        session.close("the connection ended");
                        return;
                    }
                }
            }
        });
        session
    }

    /// Resolves when the session has ended.
    pub async fn closed(&self) {
        self.closed.cancelled().await;
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    pub fn close_reason(&self) -> Option<String> {
        self.close_reason.lock().ok().and_then(|r| r.clone())
    }

    /// Closes the link and fails every pending request with `reason`.
    pub fn close(&self, reason: &str) {
        if let Ok(mut r) = self.close_reason.lock()
            && r.is_none()
        {
            *r = Some(reason.to_string());
        }
        self.closed.cancel();
        self.kill.cancel();
        let pending: Vec<Pending> = match self.pending.lock() {
            Ok(mut p) => p.drain().map(|(_, v)| v).collect(),
            Err(_) => Vec::new(),
        };
        for p in pending {
            let _ = p
                .answer
                .send(Err(BridgeError::ConnectionFailed(reason.to_string())));
        }
    }

    /// Waits (bounded) for the link's tasks, so an embedded process is reaped before we return.
    pub async fn join(&self) {
        let tasks: Vec<JoinHandle<()>> = match self.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for task in tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
    }

    fn on_message(&self, text: &str) {
        let msg: Value = match serde_json::from_str(text) {
            Ok(Value::Object(m)) => Value::Object(m),
            _ => {
                let shown: String = text.chars().take(80).collect();
                tracing::warn!(
                    "DCC sent a message that is not a JSON-RPC object ({shown:?}); reopening the connection"
                );
                self.close("the DCC sent a malformed message; the connection was dropped and will be reopened");
                return;
            }
        };
        if let Some(method) = msg.get("method").and_then(Value::as_str) {
            let params = msg.get("params").cloned().unwrap_or(Value::Null);
            match (method, msg.get("id")) {
                ("$/progress", _) => self.on_progress(&params),
                ("$/log", _) => log(&params),
                ("$/event", _) => {
                    tracing::info!(event = ?params.get("event"), data = ?params.get("data"), "DCC event")
                }
                (_, Some(id)) => {
                    // We serve no requests; say so rather than leave the DCC waiting.
                    let answer = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("stagecraft does not serve {method}")}});
                    let _ = self.tx.try_send(answer.to_string());
                }
                _ => tracing::debug!("ignoring DCC notification {method}"),
            }
            return;
        }
        let Some(id) = msg.get("id").and_then(Value::as_u64) else {
            tracing::debug!("ignoring a DCC answer without a usable id");
            return;
        };
        let pending = self.pending.lock().ok().and_then(|mut p| p.remove(&id));
        let Some(pending) = pending else {
            // Late (cancelled, timed out) or wrong ids are dropped: their caller has moved on.
            tracing::debug!("ignoring a DCC answer for unknown request id {id}");
            return;
        };
        let result = match (msg.get("result"), msg.get("error")) {
            (_, Some(error)) if !error.is_null() => Err(remote_error(error)),
            (Some(result), _) => Ok(result.clone()),
            _ => Ok(Value::Null),
        };
        let _ = pending.answer.send(result);
    }

    fn on_progress(&self, params: &Value) {
        let Some(id) = params.get("id").and_then(Value::as_u64) else {
            return;
        };
        let Some(progress) = params.get("progress").and_then(Value::as_f64) else {
            return;
        };
        let total = params.get("total").and_then(Value::as_f64);
        let message = params.get("message").and_then(Value::as_str);
        // Cloned out of the lock: reporting may take a while, answers must not wait for it.
        let reporter = self
            .pending
            .lock()
            .ok()
            .and_then(|p| p.get(&id).map(|p| p.progress.clone()));
        if let Some(reporter) = reporter {
            reporter.report(progress, total, message);
        }
    }

    pub fn notify(&self, method: &str, params: Value) {
        let msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        // Best effort: a full queue or a closed link means the notification has no one to reach.
        let _ = self.tx.try_send(msg.to_string());
    }

    /// Sends a request and waits for its answer until the deadline or cancellation; at either,
    /// sends `$/cancel` and gives up on the answer.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
        call: &CallContext,
    ) -> Result<Value, BridgeError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, rx) = oneshot::channel();
        {
            // Checked under the lock `close` drains with (after marking the session closed), so a
            // request racing `close` is either drained by it or sees it: never left unanswered.
            let mut pending = self.pending.lock().map_err(|_| self.closed_error())?;
            if self.is_closed() {
                return Err(self.closed_error());
            }
            pending.insert(
                id,
                Pending {
                    answer,
                    progress: call.progress.clone(),
                },
            );
        }
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let started = tokio::time::Instant::now();
        // A DCC that stops reading fills the socket and then the queue: a request waiting for room
        // must still fail at once when the session closes (docs/bridge-protocol.md#deadlines-cancellation-and-failures).
        let sent = tokio::select! {
            r = self.tx.send(msg.to_string()) => r.is_ok(),
            _ = self.closed.cancelled() => false,
            _ = tokio::time::sleep_until(call.deadline) => false,
        };
        if !sent {
            self.forget(id);
            return Err(BridgeError::ConnectionFailed(
                self.close_reason()
                    .unwrap_or_else(|| "could not send to the DCC".into()),
            ));
        }
        tokio::select! {
            // An answer that came in before the session closed still counts.
            biased;
            answer = rx => match answer {
                Ok(result) => result,
                Err(_) => Err(self.closed_error()),
            },
            _ = self.closed.cancelled() => {
                self.forget(id);
                Err(self.closed_error())
            }
            _ = tokio::time::sleep_until(call.deadline) => {
                self.forget(id);
                self.notify("$/cancel", json!({"id": id}));
                Err(BridgeError::Timeout {
                    method: method.to_string(),
                    seconds: started.elapsed().as_secs_f64(),
                })
            }
            _ = call.cancel.cancelled() => {
                self.forget(id);
                self.notify("$/cancel", json!({"id": id}));
                Err(BridgeError::Cancelled)
            }
        }
    }

    fn closed_error(&self) -> BridgeError {
        BridgeError::ConnectionFailed(
            self.close_reason()
                .unwrap_or_else(|| "the connection is closed".into()),
        )
    }

    fn forget(&self, id: u64) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&id);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.closed.cancel();
        self.kill.cancel();
    }
}

fn log(params: &Value) {
    let message = params.get("message").and_then(Value::as_str).unwrap_or("");
    match params
        .get("level")
        .and_then(Value::as_str)
        .unwrap_or("info")
    {
        "debug" => tracing::debug!(target: "stagecraft::dcc", "{message}"),
        "warning" => tracing::warn!(target: "stagecraft::dcc", "{message}"),
        "error" => tracing::error!(target: "stagecraft::dcc", "{message}"),
        _ => tracing::info!(target: "stagecraft::dcc", "{message}"),
    }
}
