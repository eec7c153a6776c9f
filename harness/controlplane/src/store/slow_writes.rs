//! A store whose writes can be made to wait (`storeWritesDelayed` faults): every create,
//! update and delete sleeps first while the delay is set; reads and watches are untouched.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{KeyValue, Listing, Revision, Store, StoreError, StoreProvider, WatchStream};

/// The delay switch, shared with whoever injects the fault.
#[derive(Debug, Default)]
pub struct WriteDelay(Mutex<Option<Duration>>);

impl WriteDelay {
    pub fn set(&self, delay: Option<Duration>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = delay;
    }

    pub fn is_set(&self) -> bool {
        self.get().is_some()
    }

    fn get(&self) -> Option<Duration> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn wait(&self) {
        if let Some(d) = self.get() {
            tokio::time::sleep(d).await;
        }
    }
}

/// `inner`, with its writes delayed while [`WriteDelay`] says so.
pub struct SlowWrites {
    inner: Arc<dyn Store>,
    delay: Arc<WriteDelay>,
}

impl SlowWrites {
    pub fn new(inner: Arc<dyn Store>, delay: Arc<WriteDelay>) -> Self {
        SlowWrites { inner, delay }
    }
}

#[async_trait]
impl Store for SlowWrites {
    fn provider(&self) -> StoreProvider {
        self.inner.provider()
    }

    fn close(&self) {
        self.inner.close()
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        self.delay.wait().await;
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
        self.delay.wait().await;
        self.inner.update(key, value, expected).await
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(KeyValue, Revision), StoreError> {
        self.delay.wait().await;
        self.inner.delete(key, expected).await
    }

    async fn list(&self, prefix: &str, at: Option<Revision>) -> Result<Listing, StoreError> {
        self.inner.list(prefix, at).await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        self.inner.watch(prefix, after).await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.inner.compact(revision).await
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        self.inner.revision().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn writes_wait_while_the_delay_is_set_and_reads_never() {
        let delay = Arc::new(WriteDelay::default());
        let store = SlowWrites::new(Arc::new(MemoryStore::new()), delay.clone());
        delay.set(Some(Duration::from_millis(200)));
        let t = std::time::Instant::now();
        store.create("/k", Bytes::from_static(b"v")).await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(200));
        let t = std::time::Instant::now();
        store.get("/k").await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(100));
        delay.set(None);
        let t = std::time::Instant::now();
        store.create("/k2", Bytes::from_static(b"v")).await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(100));
    }
}
