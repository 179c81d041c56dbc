//! A call's progress (`crate::call::Progress`) -> MCP `notifications/progress`, in order, and never
//! after the response.

use std::sync::Mutex;

use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::Peer;
use tokio::sync::mpsc;

/// Queues progress for one call; a task sends it so that a slow client never blocks the work.
pub struct McpProgress {
    tx: Mutex<Option<mpsc::UnboundedSender<ProgressNotificationParam>>>,
    token: ProgressToken,
    /// The spec wants progress to increase: reports that go backwards are dropped.
    last: Mutex<f64>,
}

impl McpProgress {
    /// Starts the sender task; `finish` must be awaited before the response goes out.
    pub fn start(
        peer: Peer<RoleServer>,
        token: ProgressToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<ProgressNotificationParam>();
        let task = tokio::spawn(async move {
            while let Some(param) = rx.recv().await {
                if peer.notify_progress(param).await.is_err() {
                    break;
                }
            }
        });
        (
            Self {
                tx: Mutex::new(Some(tx)),
                token,
                last: Mutex::new(f64::NEG_INFINITY),
            },
            task,
        )
    }

    /// Stops accepting progress (the call is over).
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }

    pub fn report(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        if !progress.is_finite() {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if progress <= *last {
            return;
        }
        *last = progress;
        let mut param = ProgressNotificationParam::new(self.token.clone(), progress);
        if let Some(total) = total.filter(|t| t.is_finite()) {
            param = param.with_total(total);
        }
        if let Some(message) = message {
            param = param.with_message(message.to_string());
        }
        if let Ok(tx) = self.tx.lock()
            && let Some(tx) = tx.as_ref()
        {
            let _ = tx.send(param);
        }
    }
}
