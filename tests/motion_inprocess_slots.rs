//! The built-in backbones run in process under the same cap as `stagecraft motion-server`: one
//! generation per core at a time; a call beyond that waits for a free slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use stagecraft::call::CallContext;
use stagecraft::motion::backbone::{Backbone, builtin_backbones};
use stagecraft::motion::take::Take;
use stagecraft::motion::wire::{GenerateRequest, MmcpError, ModelSpec};
use stagecraft::motion::{Backend, GenerateArgs, MotionHub};

/// The built-in procedural model, slowed down and watched: how many of its generations overlap.
struct Watched {
    model: Arc<dyn Backbone>,
    running: AtomicUsize,
    peak: AtomicUsize,
    done: AtomicUsize,
}

impl Backbone for Watched {
    fn capabilities(&self) -> ModelSpec {
        self.model.capabilities()
    }

    fn generate(&self, request: &GenerateRequest) -> Result<Take, MmcpError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        // Long enough that calls started together overlap on a loaded machine.
        std::thread::sleep(Duration::from_millis(500));
        let take = self.model.generate(request);
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.done.fetch_add(1, Ordering::SeqCst);
        take
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_generation_runs_at_most_one_per_core() {
    let slots = std::thread::available_parallelism().map_or(1, |n| n.get());
    let watched = Arc::new(Watched {
        model: builtin_backbones().remove(0),
        running: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
    });
    let hub = MotionHub::with_backends(
        vec![("builtin".into(), Backend::InProcess(watched.clone()))],
        64,
    );
    let choice = hub.resolve(Some("builtin"), None).await.expect("model");
    let args = GenerateArgs {
        prompt: Some("a person walks".into()),
        seconds: Some(1.0),
        ..GenerateArgs::default()
    };
    let opts = CallContext::new(Duration::from_secs(60));
    let calls = (0..=slots).map(|_| hub.generate(&choice, &args, None, &opts));
    let results = futures::future::join_all(calls).await;
    for r in &results {
        assert!(r.is_ok(), "every call gets its turn: {r:?}");
    }
    assert_eq!(watched.done.load(Ordering::SeqCst), slots + 1);
    assert_eq!(
        watched.peak.load(Ordering::SeqCst),
        slots,
        "{} calls at once on {slots} slots: at most {slots} may run together (and {slots} did)",
        slots + 1
    );
}
