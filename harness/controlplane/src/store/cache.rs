//! A watch cache in front of a store, as kube-apiserver keeps one in front of etcd: one
//! store watch on the whole registry, fanned out in memory. Watches that start within the
//! cached history are served at once; etcd would otherwise hold every watch that starts
//! behind its current revision until its unsynced-watcher loop runs (every 100 ms).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{
    KeyValue, Listing, Revision, Store, StoreError, StoreProvider, WatchEvent, WatchStream,
};

/// How many events the cache keeps; older watches go to the store itself.
const CAPACITY: usize = 100_000;
/// How far a watcher may fall behind before it is cut off and must list again.
const FAN_OUT_BUFFER: usize = 1 << 16;

#[derive(Debug)]
struct Log {
    /// Events after this revision are all in `events` (while `healthy`).
    start: Revision,
    events: VecDeque<Arc<WatchEvent>>,
    /// False once the store watch ended: everything then goes to the store.
    healthy: bool,
}

/// A store whose watches are served from one shared store watch.
pub struct WatchCache {
    inner: Arc<dyn Store>,
    log: Arc<Mutex<Log>>,
    tx: broadcast::Sender<Arc<WatchEvent>>,
    stop: CancellationToken,
}

impl std::fmt::Debug for WatchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchCache").finish_non_exhaustive()
    }
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

impl WatchCache {
    /// Starts the shared watch at the store's current revision.
    pub async fn new(inner: Arc<dyn Store>) -> Result<Self, StoreError> {
        let start = inner.revision().await?;
        let mut stream = inner.watch("/", start).await?;
        let (tx, _) = broadcast::channel(FAN_OUT_BUFFER);
        let log = Arc::new(Mutex::new(Log {
            start,
            events: VecDeque::new(),
            healthy: true,
        }));
        let stop = CancellationToken::new();
        let (feed_log, feed_tx, feed_stop) = (log.clone(), tx.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = feed_stop.cancelled() => None,
                    e = stream.next() => e,
                };
                let mut l = lock(&feed_log);
                match next {
                    Some(Ok(event)) => {
                        let event = Arc::new(event);
                        l.events.push_back(event.clone());
                        while l.events.len() > CAPACITY {
                            if let Some(old) = l.events.pop_front() {
                                l.start = old.revision();
                            }
                        }
                        // Sent under the lock, so a new watcher sees each event once: either
                        // in the history it copies or on the channel it subscribed to.
                        let _ = feed_tx.send(event);
                    }
                    other => {
                        if let Some(Err(e)) = other {
                            tracing::warn!(error = %e, "the watch cache lost its store watch; watches go to the store");
                        }
                        l.healthy = false;
                        return;
                    }
                }
            }
        });
        Ok(WatchCache {
            inner,
            log,
            tx,
            stop,
        })
    }
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[async_trait]
impl Store for WatchCache {
    fn close(&self) {
        self.stop.cancel();
    }

    fn provider(&self) -> StoreProvider {
        self.inner.provider()
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        self.inner.create(key, value).await
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.inner.get(key).await
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        self.inner.update(key, value, expected).await
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(KeyValue, Revision), StoreError> {
        self.inner.delete(key, expected).await
    }

    async fn list(&self, prefix: &str, at: Option<Revision>) -> Result<Listing, StoreError> {
        self.inner.list(prefix, at).await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        // Subscribing and copying the history under one lock: no event is missed or doubled.
        let served = {
            let l = lock(&self.log);
            (l.healthy && after >= l.start).then(|| {
                let rx = self.tx.subscribe();
                // In revision order: start at the first event after `after`.
                let first = l.events.partition_point(|e| e.revision() <= after);
                let history: Vec<Arc<WatchEvent>> = l
                    .events
                    .range(first..)
                    .filter(|e| e.key().starts_with(prefix))
                    .cloned()
                    .collect();
                let seen = l.events.back().map_or(l.start, |e| e.revision());
                (rx, history, seen)
            })
        };
        let Some((rx, history, seen)) = served else {
            return self.inner.watch(prefix, after).await;
        };
        Ok(super::replay_then_follow(
            history,
            rx,
            seen,
            after,
            prefix.to_string(),
        ))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.inner.compact(revision).await?;
        // Compacted history cannot be watched from the store either: drop it here too.
        let mut l = lock(&self.log);
        if revision > l.start {
            while l.events.front().is_some_and(|e| e.revision() <= revision) {
                l.events.pop_front();
            }
            l.start = revision;
        }
        Ok(())
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        self.inner.revision().await
    }
}
