//! The take store: generated takes kept in memory under ids like `take_1a2b3c4d`, bounded, least
//! recently used first out (a take can be tens of MB; an agent session makes many).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::take::Take;

/// Default bound when `motion.max_takes` is not set.
pub const DEFAULT_MAX_TAKES: usize = 32;

/// Where a take came from, for summaries and resources.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TakeInfo {
    pub backend: String,
    pub prompt: Option<String>,
    pub seed: Option<i64>,
    /// Unix seconds.
    pub created_at: u64,
}

struct Entry {
    take: Arc<Take>,
    info: TakeInfo,
    last_used: u64,
}

pub struct TakeStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    clock: u64,
}

impl TakeStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is one
        // insert/remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a take and returns its new id; evicts the least recently used beyond capacity.
    pub fn insert(&self, take: Take, info: TakeInfo) -> String {
        let mut inner = self.lock();
        let id = loop {
            let bytes = uuid::Uuid::new_v4();
            let b = bytes.as_bytes();
            let id = format!("take_{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3]);
            if !inner.entries.contains_key(&id) {
                break id;
            }
        };
        inner.clock += 1;
        let now = inner.clock;
        inner.entries.insert(
            id.clone(),
            Entry {
                take: Arc::new(take),
                info,
                last_used: now,
            },
        );
        while inner.entries.len() > self.capacity {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    inner.entries.remove(&k);
                }
                None => break,
            }
        }
        id
    }

    /// The take and its info, marking it recently used.
    pub fn get(&self, id: &str) -> Option<(Arc<Take>, TakeInfo)> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let e = inner.entries.get_mut(id)?;
        e.last_used = now;
        Some((e.take.clone(), e.info.clone()))
    }

    /// Ids, most recently used first.
    pub fn ids(&self) -> Vec<String> {
        let inner = self.lock();
        let mut v: Vec<(&String, u64)> = inner
            .entries
            .iter()
            .map(|(k, e)| (k, e.last_used))
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1));
        v.into_iter().map(|(k, _)| k.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_lru_eviction() {
        let store = TakeStore::new(2);
        let a = store.insert(Take::default(), TakeInfo::default());
        assert!(a.starts_with("take_") && a.len() == 13);
        assert!(a[5..].chars().all(|c| c.is_ascii_hexdigit()));
        let b = store.insert(Take::default(), TakeInfo::default());
        assert!(store.get(&a).is_some()); // a is now more recent than b
        let c = store.insert(Take::default(), TakeInfo::default());
        assert!(store.get(&b).is_none(), "b was least recently used");
        assert!(store.get(&a).is_some() && store.get(&c).is_some());
        assert_eq!(store.len(), 2);
        assert_eq!(store.ids()[0], c);
    }
}
