//! The in-memory store: a multi-version map with a watch log, the default for `local` runs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::broadcast;

use super::{
    KeyValue, Listing, Revision, Store, StoreError, StoreProvider, WatchEvent, WatchStream,
};

/// How many events a watcher may fall behind before it is cut off and must list again.
const WATCH_BUFFER: usize = 1 << 16;
/// The history kept at least, in events. This store is both etcd and kube-apiserver's watch
/// cache, in this process: its history is bounded as that cache's is, and not only by the
/// 5-minute compaction (10,000 pods leave some 80,000 versions within 5 minutes: hundreds of
/// MiB). A watch or list older than what is kept gets a 410 and lists again.
const HISTORY: usize = 20_000;

/// One value of a key; `value: None` is a deletion (a tombstone).
#[derive(Debug, Clone)]
struct Version {
    mod_revision: Revision,
    create_revision: Revision,
    value: Option<Bytes>,
}

#[derive(Debug, Default)]
struct State {
    revision: Revision,
    compacted: Revision,
    /// Every version of every key since the compaction revision, oldest first.
    keys: BTreeMap<String, Vec<Version>>,
    /// Every event since the compaction revision, for watches that start in the past.
    log: VecDeque<Arc<WatchEvent>>,
}

impl State {
    fn latest(&self, key: &str) -> Option<KeyValue> {
        let v = self.keys.get(key)?.last()?;
        to_kv(key, v)
    }

    fn commit(&mut self, event: WatchEvent, tx: &broadcast::Sender<Arc<WatchEvent>>) {
        let event = Arc::new(event);
        self.log.push_back(event.clone());
        // No receivers is fine: nobody is watching.
        let _ = tx.send(event);
        // Compacting walks every key: done once per HISTORY events, it costs little each.
        if self.log.len() > 2 * HISTORY {
            let keep_after = self.log[self.log.len() - HISTORY - 1].revision();
            self.compact_to(keep_after);
        }
    }

    /// Forgets history at and before `revision` (not after the current one).
    fn compact_to(&mut self, revision: Revision) {
        if revision <= self.compacted {
            return;
        }
        self.compacted = revision;
        // Keep, per key, the newest version at or before the compaction revision (it is what a
        // list at that revision sees) and everything after; drop keys whose last word is a
        // deletion before it.
        self.keys.retain(|_, versions| {
            let keep_from = versions
                .iter()
                .rposition(|v| v.mod_revision <= revision)
                .unwrap_or(0);
            versions.drain(..keep_from);
            !(versions.len() == 1
                && versions[0].value.is_none()
                && versions[0].mod_revision <= revision)
        });
        while self.log.front().is_some_and(|e| e.revision() <= revision) {
            self.log.pop_front();
        }
    }
}

fn to_kv(key: &str, v: &Version) -> Option<KeyValue> {
    Some(KeyValue {
        key: key.to_string(),
        value: v.value.clone()?,
        create_revision: v.create_revision,
        mod_revision: v.mod_revision,
    })
}

/// A store that lives in this process and is gone when it ends.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<WatchEvent>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(WATCH_BUFFER);
        // Revision 1 is etcd's revision of an empty store.
        let state = State {
            revision: 1,
            ..State::default()
        };
        MemoryStore {
            state: Mutex::new(state),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written state (every write is a
        // single push), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn provider(&self) -> StoreProvider {
        StoreProvider {
            name: "memory",
            real: false,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        let mut s = self.lock();
        if s.latest(key).is_some() {
            return Err(StoreError::AlreadyExists { key: key.into() });
        }
        s.revision += 1;
        let rev = s.revision;
        let version = Version {
            mod_revision: rev,
            create_revision: rev,
            value: Some(value),
        };
        let kv = to_kv(key, &version).expect("a created version has a value");
        s.keys.entry(key.to_string()).or_default().push(version);
        s.commit(
            WatchEvent::Put {
                kv: kv.clone(),
                prev: None,
            },
            &self.tx,
        );
        Ok(kv)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.lock().latest(key))
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        let mut s = self.lock();
        let prev = s
            .latest(key)
            .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        if prev.mod_revision != expected {
            return Err(StoreError::Conflict {
                key: key.into(),
                expected,
                actual: prev.mod_revision,
            });
        }
        s.revision += 1;
        let version = Version {
            mod_revision: s.revision,
            create_revision: prev.create_revision,
            value: Some(value),
        };
        let kv = to_kv(key, &version).expect("an updated version has a value");
        s.keys.entry(key.to_string()).or_default().push(version);
        s.commit(
            WatchEvent::Put {
                kv: kv.clone(),
                prev: Some(prev),
            },
            &self.tx,
        );
        Ok(kv)
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(KeyValue, Revision), StoreError> {
        let mut s = self.lock();
        let prev = s
            .latest(key)
            .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        if let Some(expected) = expected
            && prev.mod_revision != expected
        {
            return Err(StoreError::Conflict {
                key: key.into(),
                expected,
                actual: prev.mod_revision,
            });
        }
        s.revision += 1;
        let rev = s.revision;
        s.keys.entry(key.to_string()).or_default().push(Version {
            mod_revision: rev,
            create_revision: prev.create_revision,
            value: None,
        });
        s.commit(
            WatchEvent::Delete {
                prev: prev.clone(),
                revision: rev,
            },
            &self.tx,
        );
        Ok((prev, rev))
    }

    async fn list(&self, prefix: &str, at: Option<Revision>) -> Result<Listing, StoreError> {
        let s = self.lock();
        let at = at.unwrap_or(s.revision);
        if at < s.compacted {
            return Err(StoreError::Compacted {
                requested: at,
                compacted: s.compacted,
            });
        }
        if at > s.revision {
            return Err(StoreError::FutureRevision {
                requested: at,
                current: s.revision,
            });
        }
        let items = s
            .keys
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, versions)| {
                let v = versions.iter().rev().find(|v| v.mod_revision <= at)?;
                to_kv(k, v)
            })
            .collect();
        Ok(Listing {
            items,
            revision: at,
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        let s = self.lock();
        if after < s.compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted: s.compacted,
            });
        }
        // Subscribing under the lock makes history and live events meet without a gap.
        let rx = self.tx.subscribe();
        let prefix = prefix.to_string();
        // The log is in revision order: start at the first event after `after`.
        let first = s.log.partition_point(|e| e.revision() <= after);
        let history: Vec<Arc<WatchEvent>> = s
            .log
            .range(first..)
            .filter(|e| e.key().starts_with(&prefix))
            .cloned()
            .collect();
        let last_seen = s.revision;
        drop(s);

        Ok(super::replay_then_follow(
            history, rx, last_seen, after, prefix,
        ))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut s = self.lock();
        if revision > s.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: s.revision,
            });
        }
        s.compact_to(revision);
        Ok(())
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        Ok(self.lock().revision)
    }
}

// Behaviour is tested in tests/etcd_store.rs, with the same cases for memory and etcd.

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn history_is_bounded_and_what_is_kept_can_still_be_watched() {
        let store = MemoryStore::new();
        let mut kv = store.create("/registry/k", Bytes::from("0")).await.unwrap();
        for i in 1..=2 * HISTORY {
            kv = store
                .update("/registry/k", Bytes::from(i.to_string()), kv.mod_revision)
                .await
                .unwrap();
        }
        let last = kv.mod_revision;
        assert!(matches!(
            store.watch("/registry/", 1).await,
            Err(StoreError::Compacted { .. })
        ));
        let kept = last - Revision::try_from(HISTORY).unwrap();
        assert!(store.watch("/registry/", kept).await.is_ok());
        assert!(store.lock().log.len() <= 2 * HISTORY);
        assert_eq!(
            store.list("/registry/", None).await.unwrap().items,
            vec![kv]
        );
    }
}
