//! Hot reload: watch the user skill folders, reload the registry when a SKILL.md (or a script)
//! changes, and publish a new generation only when the tools the client sees have changed.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::watch;

use super::{BindingRules, Registry, SkillSources};

/// How long to wait for a burst of file events (editors write in several steps) to settle.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// The current registry, swapped whole on reload; readers clone the `Arc` and never wait long.
#[derive(Clone)]
pub struct SharedRegistry {
    current: Arc<RwLock<Arc<Registry>>>,
    sources: Arc<SkillSources>,
    rules: BindingRules,
    /// Bumped each time the tool list changes.
    changed: watch::Sender<u64>,
}

impl SharedRegistry {
    pub fn load(sources: SkillSources, rules: BindingRules) -> SharedRegistry {
        let registry = Registry::load(&sources, rules);
        for d in &registry.diagnostics {
            tracing::warn!("skipped skill: {d}");
        }
        let (changed, _) = watch::channel(0);
        SharedRegistry {
            current: Arc::new(RwLock::new(Arc::new(registry))),
            sources: Arc::new(sources),
            rules,
            changed,
        }
    }

    pub fn get(&self) -> Arc<Registry> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Receives a new value each time the tool list changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Reloads from disk; returns true (and notifies subscribers) when the tool list changed.
    pub fn reload(&self) -> bool {
        let fresh = Registry::load(&self.sources, self.rules);
        for d in &fresh.diagnostics {
            tracing::warn!("skipped skill: {d}");
        }
        let before = self.get();
        let changed = before.tool_fingerprint() != fresh.tool_fingerprint()
            || before.skills.keys().ne(fresh.skills.keys());
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(fresh);
        drop(guard);
        if changed {
            tracing::info!("skills reloaded: tool list changed");
            self.changed.send_modify(|g| *g += 1);
        }
        changed
    }

    /// Starts watching the user skill paths. The watcher stops when the returned value is dropped.
    pub fn watch(&self) -> Result<Watcher, notify::Error> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && !matches!(event.kind, notify::EventKind::Access(_))
                {
                    let _ = tx.send(());
                }
            })?;
        let mut watched: Vec<PathBuf> = Vec::new();
        for path in &self.sources.paths {
            if path.exists() {
                watcher.watch(path, RecursiveMode::Recursive)?;
                watched.push(path.clone());
            } else {
                tracing::warn!(path = %path.display(), "skill path does not exist; not watched");
            }
        }
        let shared = self.clone();
        let task = tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // Collect the rest of the burst before reloading once.
                loop {
                    match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                let shared = shared.clone();
                let _ = tokio::task::spawn_blocking(move || shared.reload()).await;
            }
        });
        Ok(Watcher {
            _watcher: watcher,
            task,
            watched,
        })
    }
}

/// A running watch; dropping it stops both the OS watcher and the reload task.
pub struct Watcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
    pub watched: Vec<PathBuf>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
