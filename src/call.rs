//! One call's context, from the MCP handler down to the bridge session: when the call must be over
//! (an absolute deadline), whether it is still wanted (a cancellation token), where its progress
//! goes, and its id. Every layer takes it by reference; a layer that needs a sooner deadline or a
//! token of its own derives one with [`CallContext::within`] or [`CallContext::child`].
//!
//! Deadlines nest, and both rules live here and nowhere else:
//! - a limit of a layer's own inside a call (a backend's `timeout_seconds`, a connect timeout)
//!   never extends the caller's deadline: [`CallContext::within`];
//! - a guard around a call (the MCP handler's backstop around the dispatcher, the DCC hub's limit
//!   around a bridge request) gives up only after the call's own deadline, so that the call fails
//!   first, with its own precise error (a bridge sends `$/cancel` at its deadline and then pings;
//!   docs/bridge-protocol.md#deadlines-cancellation-and-failures): [`CallContext::backstop`].
//!
//! A leaf module: used by `bridge`, `dcc`, `motion`, `dispatch` and `mcp`, it imports none of them.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

type ReportFn = dyn Fn(f64, Option<f64>, Option<&str>) + Send + Sync;

/// Where a call's progress goes: progress so far, the total when known, and a message. The MCP
/// layer forwards it as `notifications/progress` when the client asked for it; otherwise (and on
/// the CLI paths without a progress bar) it goes nowhere.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<ReportFn>>);

impl Progress {
    /// Progress that goes nowhere.
    pub fn none() -> Self {
        Self(None)
    }

    pub fn new(report: impl Fn(f64, Option<f64>, Option<&str>) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(report)))
    }

    pub fn report(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        if let Some(report) = &self.0 {
            report(progress, total, message);
        }
    }

    /// True when someone listens (so that work done only to report progress can be skipped).
    pub fn is_wanted(&self) -> bool {
        self.0.is_some()
    }
}

/// Everything a call carries besides its arguments.
#[derive(Clone)]
pub struct CallContext {
    /// When the call must be over: the tool's `timeout_seconds` from the moment it started.
    pub deadline: Instant,
    /// Cancelled when the client cancels the call, its deadline's guard gives up, or the server
    /// shuts down.
    pub cancel: CancellationToken,
    pub progress: Progress,
    /// Unique per tool call; motion requests send it as their `Idempotency-Key`.
    pub call_id: Arc<str>,
}

impl CallContext {
    /// A call that must be over `timeout` from now, with its own token, no progress and a new id.
    pub fn new(timeout: Duration) -> Self {
        Self {
            deadline: Instant::now() + timeout,
            cancel: CancellationToken::new(),
            progress: Progress::none(),
            call_id: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// The time left until the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// This call with at most `limit` left from now: a layer's own limit may make the deadline
    /// sooner, never later.
    pub fn within(&self, limit: Duration) -> Self {
        Self {
            deadline: self.deadline.min(Instant::now() + limit),
            ..self.clone()
        }
    }

    /// This call with a child token, so that a guard around it can cancel it alone: the caller's
    /// own cancellation still reaches it.
    pub fn child(&self) -> Self {
        Self {
            cancel: self.cancel.child_token(),
            ..self.clone()
        }
    }

    /// When a guard around this call gives up on it: `margin` after the deadline, so that the call
    /// ends first at its deadline and reports why.
    pub fn backstop(&self, margin: Duration) -> Instant {
        self.deadline + margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_limits_never_extend_and_guards_always_outlast_the_deadline() {
        let call = CallContext::new(Duration::from_secs(10));

        // A backend's own timeout shorter than the caller's makes the deadline sooner ...
        let before = Instant::now();
        let backend = call.within(Duration::from_secs(3));
        assert!(backend.deadline >= before + Duration::from_secs(3));
        assert!(backend.deadline < call.deadline);
        assert_eq!(backend.call_id, call.call_id, "still the same call");
        // ... and a longer one leaves the caller's deadline as it is.
        assert_eq!(call.within(Duration::from_secs(60)).deadline, call.deadline);

        // A guard around the call gives up after the call's own deadline, whatever the margin.
        for margin in [
            Duration::ZERO,
            Duration::from_millis(1),
            Duration::from_secs(5),
        ] {
            assert!(call.backstop(margin) >= call.deadline);
        }
        assert!(call.backstop(Duration::from_millis(1)) > call.deadline);

        assert!(call.remaining() <= Duration::from_secs(10));
        assert!(call.remaining() > Duration::from_secs(5));
        let spent = CallContext::new(Duration::ZERO);
        assert_eq!(spent.remaining(), Duration::ZERO, "past its deadline");
    }

    #[test]
    fn a_child_is_cancelled_with_its_parent_but_not_the_other_way_round() {
        let call = CallContext::new(Duration::from_secs(1));
        let child = call.child();
        child.cancel.cancel();
        assert!(!call.cancel.is_cancelled());
        let other = call.child();
        call.cancel.cancel();
        assert!(other.cancel.is_cancelled());
    }

    #[test]
    fn progress_goes_where_it_is_wanted() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let progress = Progress::new(move |p, total, message| {
            if let Ok(mut seen) = sink.lock() {
                seen.push((p, total, message.map(str::to_string)));
            }
        });
        assert!(progress.is_wanted());
        progress.report(1.0, Some(2.0), Some("half"));
        assert!(!Progress::none().is_wanted());
        Progress::none().report(1.0, None, None);
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen, vec![(1.0, Some(2.0), Some("half".to_string()))]);
    }
}
