//! The store behind the apiserver: a key-value store with etcd's semantics.
//!
//! One global revision counts every write. Each key remembers the revision that created it
//! and the one that last modified it; the apiserver hands the latter out as the object's
//! `resourceVersion`, exactly as kube-apiserver does on etcd. Keys follow Kubernetes'
//! layout: `/registry/RESOURCE/NAMESPACE/NAME` (cluster-scoped: `/registry/RESOURCE/NAME`).

mod cache;
mod etcd;
mod etcd_process;
mod memory;
mod slow_writes;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub use cache::WatchCache;
pub use etcd::{DEFAULT_REQUEST_TIMEOUT, EtcdStore};
pub use etcd_process::{DEFAULT_ETCD_BINARY, EtcdProcess};
pub use memory::MemoryStore;
pub use slow_writes::{SlowWrites, WriteDelay};

/// A store revision: etcd's `int64` revision, the apiserver's `resourceVersion`.
pub type Revision = i64;

/// One key at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// The revision of the write that created the key.
    pub create_revision: Revision,
    /// The revision of the last write to the key.
    pub mod_revision: Revision,
}

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The key was created or updated; `prev` is its value before, if it existed.
    Put {
        kv: KeyValue,
        prev: Option<KeyValue>,
    },
    /// The key was deleted at `revision`; `prev` is its last value.
    Delete { prev: KeyValue, revision: Revision },
}

impl WatchEvent {
    /// The revision of the write that caused the event.
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Put { kv, .. } => kv.mod_revision,
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put { kv, .. } => &kv.key,
            WatchEvent::Delete { prev, .. } => &prev.key,
        }
    }
}

/// The keys under a prefix at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub items: Vec<KeyValue>,
    /// The revision the listing was read at.
    pub revision: Revision,
}

/// A watch: every change after the start revision, in revision order, until dropped.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, StoreError>> + Send>>;

/// A watch served from memory: the `history` copied from a log, then the live events of a
/// broadcast subscribed under the same lock, keeping only those after `after` (and after the
/// history, up to `seen`) under `prefix`. A watcher that lags has lost events: its stream ends
/// after the error, and it must list again.
fn replay_then_follow(
    history: Vec<std::sync::Arc<WatchEvent>>,
    rx: tokio::sync::broadcast::Receiver<std::sync::Arc<WatchEvent>>,
    seen: Revision,
    after: Revision,
    prefix: String,
) -> WatchStream {
    use futures::StreamExt;
    use tokio_stream::wrappers::BroadcastStream;
    use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
    let threshold = seen.max(after);
    let history = futures::stream::iter(history.into_iter().map(Ok));
    let live = BroadcastStream::new(rx).filter_map(move |item| {
        let keep = match item {
            Ok(e) if e.revision() > threshold && e.key().starts_with(&prefix) => Some(Ok(e)),
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                Some(Err(StoreError::WatchLagged { missed }))
            }
        };
        futures::future::ready(keep)
    });
    let stream = history.chain(live).scan(false, |failed, item| {
        let out = if *failed {
            None
        } else {
            *failed = item.is_err();
            Some(item.map(|e: std::sync::Arc<WatchEvent>| (*e).clone()))
        };
        futures::future::ready(out)
    });
    Box::pin(stream)
}

/// Which implementation serves the store, for the evidence in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreProvider {
    /// `memory` or `etcd`.
    pub name: &'static str,
    /// Whether a real, separate store process holds the data.
    pub real: bool,
    pub version: String,
}

/// What a store operation can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Create found the key already present.
    #[error("key {key} already exists")]
    AlreadyExists { key: String },
    /// Update or delete found no such key.
    #[error("key {key} not found")]
    NotFound { key: String },
    /// Compare-and-swap lost: the key's revision is not the one expected.
    #[error("key {key} is at revision {actual}, not {expected}")]
    Conflict {
        key: String,
        expected: Revision,
        actual: Revision,
    },
    /// The revision asked for has been compacted away.
    #[error("revision {requested} has been compacted (oldest available is {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    /// The revision asked for is in the future.
    #[error("revision {requested} is newer than the store's {current}")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    /// A watcher fell too far behind the writes and was cut off; it must list again.
    #[error("watch fell behind by {missed} events")]
    WatchLagged { missed: u64 },
    /// The store backend failed (I/O, connection).
    #[error("store backend failed: {message}")]
    Backend { message: String },
}

/// A key-value store with etcd's semantics, shared by every apiserver handler.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn provider(&self) -> StoreProvider;

    /// Stops background work (a cache's store watch) before the backend goes away.
    fn close(&self) {}

    /// Creates `key` if absent.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError>;

    /// Reads the latest value of `key`.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// Replaces `key` if its mod revision is still `expected` (compare-and-swap).
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError>;

    /// Deletes `key`, if given only when its mod revision is still `expected`; returns the
    /// deleted value and the revision of the delete.
    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(KeyValue, Revision), StoreError>;

    /// Lists the keys under `prefix`, at `at` or the latest revision.
    async fn list(&self, prefix: &str, at: Option<Revision>) -> Result<Listing, StoreError>;

    /// Watches the keys under `prefix` for changes after revision `after`.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError>;

    /// Forgets history before `revision`: older revisions can no longer be read or watched.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// The current revision.
    async fn revision(&self) -> Result<Revision, StoreError>;
}
