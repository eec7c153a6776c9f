//! One store watch per resource, decoded once and handed only to the watches that want each
//! event, as kube-apiserver's cacher does. Pods are indexed by `spec.nodeName` (the
//! cacher's trigger): a pod's event reaches the kubelet of its node and the watches of all
//! pods, and no other kubelet decodes it or even wakes for it. Without this, every event
//! cost one JSON decode per open watch: pods × nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::resources::Resource;
use crate::store::{Revision, Store, StoreError, WatchEvent, WatchStream};

/// How many events a watch may have waiting before it is cut off and must list again.
const SUBSCRIBER_BUFFER: usize = 4096;

/// The field whose exact value indexes a resource's watches: pods' node.
const TRIGGER: &str = "spec.nodeName";

fn indexed(r: &Resource) -> bool {
    r.group.is_empty() && r.plural == "pods"
}

/// A store event with its objects decoded once, in their served form.
#[derive(Debug)]
pub struct Decoded {
    pub revision: Revision,
    /// The object after the change; None for a delete.
    pub new: Option<Value>,
    /// The object before it, if it existed.
    pub old: Option<Value>,
    /// `new` as JSON, written by the first watch that sends it as it is.
    new_json: OnceLock<Bytes>,
}

impl Decoded {
    pub fn of(r: &Resource, event: &WatchEvent) -> Decoded {
        let (new, old) = match event {
            WatchEvent::Put { kv, prev } => {
                (Some(r.decode(kv)), prev.as_ref().map(|p| r.decode(p)))
            }
            WatchEvent::Delete { prev, .. } => (None, Some(r.decode(prev))),
        };
        Decoded {
            revision: event.revision(),
            new,
            old,
            new_json: OnceLock::new(),
        }
    }

    /// The changed object's JSON, shared by every watch that sends it unchanged.
    pub fn new_json(&self) -> Option<&Bytes> {
        let new = self.new.as_ref()?;
        Some(
            self.new_json
                .get_or_init(|| Bytes::from(serde_json::to_vec(new).unwrap_or_default())),
        )
    }
}

/// What a watch receives: decoded events, or why its feed ended.
pub type Feed = mpsc::Receiver<Result<Arc<Decoded>, StoreError>>;

/// A watch's place in a resource's fan-out.
pub struct Subscription {
    pub feed: Feed,
    /// Events after the watch's start that the hub had already handed out: they come from
    /// the store, up to and including this revision, before the feed.
    pub catch_up: Option<(WatchStream, Revision)>,
}

struct Subscriber {
    /// Keys the watch covers (a namespace's, or all).
    prefix: String,
    /// Only events after this revision.
    after: Revision,
    tx: mpsc::Sender<Result<Arc<Decoded>, StoreError>>,
}

#[derive(Default)]
struct HubState {
    /// The revision of the last event handed out (or where the hub's store watch began).
    dispatched: Revision,
    closed: bool,
    /// Watches with an exact trigger value, by that value.
    by_trigger: HashMap<String, Vec<Subscriber>>,
    everyone: Vec<Subscriber>,
}

impl HubState {
    fn is_empty(&self) -> bool {
        self.everyone.is_empty() && self.by_trigger.is_empty()
    }
}

struct Hub {
    state: Mutex<HubState>,
}

fn lock(state: &Mutex<HubState>) -> MutexGuard<'_, HubState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fan-outs of every resource that is being watched.
#[derive(Default)]
pub struct FanOut {
    hubs: Mutex<HashMap<String, Arc<Hub>>>,
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut").finish_non_exhaustive()
    }
}

impl FanOut {
    /// Subscribes a watch of `prefix` (within `r`'s keys) to the events after `after`;
    /// `trigger` is its field selector's exact value of the resource's trigger field.
    pub async fn subscribe(
        &self,
        store: &Arc<dyn Store>,
        r: &'static Resource,
        prefix: String,
        after: Revision,
        trigger: Option<String>,
    ) -> Result<Subscription, StoreError> {
        let (tx, feed) = mpsc::channel(SUBSCRIBER_BUFFER);
        let mut subscriber = Subscriber {
            prefix: prefix.clone(),
            after,
            tx,
        };
        // A hub whose store watch ended between lookup and joining is replaced.
        let dispatched = loop {
            let hub = self.hub(store, r).await?;
            match join(&hub, subscriber, trigger.clone()) {
                Ok(dispatched) => break dispatched,
                Err(back) => subscriber = back,
            }
        };
        let catch_up = if after < dispatched {
            Some((store.watch(&prefix, after).await?, dispatched))
        } else {
            None
        };
        Ok(Subscription { feed, catch_up })
    }

    /// The resource's hub, started on its first watch.
    async fn hub(
        &self,
        store: &Arc<dyn Store>,
        r: &'static Resource,
    ) -> Result<Arc<Hub>, StoreError> {
        let root = r.key(None, None);
        if let Some(hub) = self.open_hub(&root) {
            return Ok(hub);
        }
        let start = store.revision().await?;
        let stream = store.watch(&root, start).await?;
        let mut hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner());
        // Another watch may have started one meanwhile.
        if let Some(hub) = hubs.get(&root).filter(|h| !lock(&h.state).closed) {
            return Ok(hub.clone());
        }
        let hub = Arc::new(Hub {
            state: Mutex::new(HubState {
                dispatched: start,
                ..HubState::default()
            }),
        });
        hubs.insert(root, hub.clone());
        tokio::spawn(dispatch(hub.clone(), r, stream));
        Ok(hub)
    }

    fn open_hub(&self, root: &str) -> Option<Arc<Hub>> {
        let hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner());
        hubs.get(root).filter(|h| !lock(&h.state).closed).cloned()
    }
}

/// Adds a watch to a hub; the revision the hub has handed out up to, or the subscriber
/// back when the hub has closed.
fn join(hub: &Hub, mut s: Subscriber, trigger: Option<String>) -> Result<Revision, Subscriber> {
    let mut state = lock(&hub.state);
    if state.closed {
        return Err(s);
    }
    s.after = s.after.max(state.dispatched);
    match trigger {
        Some(value) => state.by_trigger.entry(value).or_default().push(s),
        None => state.everyone.push(s),
    }
    Ok(state.dispatched)
}

/// Reads the resource's store watch and hands each event to the watches that want it,
/// until the store watch ends or nobody watches.
async fn dispatch(hub: Arc<Hub>, r: &'static Resource, mut stream: WatchStream) {
    let indexed = indexed(r);
    while let Some(item) = stream.next().await {
        let mut state = lock(&hub.state);
        let event = match item {
            Ok(event) => event,
            Err(e) => {
                // The store cut the hub off: so are its watches, which must list again.
                let message = e.to_string();
                for s in all_subscribers(&mut state) {
                    let _ = s.tx.try_send(Err(StoreError::Backend {
                        message: message.clone(),
                    }));
                }
                state.closed = true;
                return;
            }
        };
        state.dispatched = event.revision();
        let mut decoded: Option<Arc<Decoded>> = None;
        let mut deliver = |subscribers: &mut Vec<Subscriber>| {
            subscribers.retain(|s| {
                if event.revision() <= s.after || !event.key().starts_with(&s.prefix) {
                    return !s.tx.is_closed();
                }
                let d = decoded.get_or_insert_with(|| Arc::new(Decoded::of(r, &event)));
                // A full feed has fallen behind: dropping it ends that watch with a 410.
                s.tx.try_send(Ok(d.clone())).is_ok()
            });
        };
        deliver(&mut state.everyone);
        if indexed {
            for value in nodes_of(&event) {
                if let Some(subscribers) = state.by_trigger.get_mut(&value) {
                    deliver(subscribers);
                    if subscribers.is_empty() {
                        state.by_trigger.remove(&value);
                    }
                }
            }
        }
        if state.is_empty() {
            state.closed = true;
            return;
        }
    }
    lock(&hub.state).closed = true;
}

/// The nodes a pod's event concerns ("" for none): before and after, once each.
fn nodes_of(event: &WatchEvent) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Spec {
        #[serde(rename = "nodeName")]
        node_name: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Object {
        spec: Option<Spec>,
    }
    // Reads spec.nodeName alone, without building the whole object.
    let value_of = |kv: &crate::store::KeyValue| {
        serde_json::from_slice::<Object>(&kv.value)
            .ok()
            .and_then(|o| o.spec)
            .and_then(|s| s.node_name)
            .unwrap_or_default()
    };
    let (new, old) = match event {
        WatchEvent::Put { kv, prev } => (Some(value_of(kv)), prev.as_ref().map(value_of)),
        WatchEvent::Delete { prev, .. } => (None, Some(value_of(prev))),
    };
    let mut values: Vec<String> = new.into_iter().chain(old).collect();
    values.dedup();
    values
}

fn all_subscribers(state: &mut HubState) -> Vec<Subscriber> {
    let mut all = std::mem::take(&mut state.everyone);
    for (_, s) in state.by_trigger.drain() {
        all.extend(s);
    }
    all
}

/// The node a watch's field selector names exactly, for a resource indexed by node.
pub fn trigger_of(r: &Resource, fields: &super::selector::FieldSelector) -> Option<String> {
    if !indexed(r) {
        return None;
    }
    fields.exact(TRIGGER).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::lookup;
    use crate::store::MemoryStore;
    use serde_json::json;

    fn pod(node: &str) -> Bytes {
        Bytes::from(
            json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": node}})
                .to_string(),
        )
    }

    async fn next(feed: &mut Feed) -> Option<Arc<Decoded>> {
        tokio::time::timeout(std::time::Duration::from_millis(200), feed.recv())
            .await
            .ok()
            .flatten()
            .map(|e| e.unwrap())
    }

    #[tokio::test]
    async fn a_pods_event_reaches_its_nodes_watch_and_the_watches_of_all_pods_only() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let pods = lookup("", "v1", "pods").unwrap();
        let fan_out = FanOut::default();
        let start = store.revision().await.unwrap();
        let root = pods.key(None, None);
        let watch = |node: Option<&str>| {
            fan_out.subscribe(&store, pods, root.clone(), start, node.map(str::to_string))
        };
        let (mut on_a, mut on_b, mut all) = (
            watch(Some("a")).await.unwrap(),
            watch(Some("b")).await.unwrap(),
            watch(None).await.unwrap(),
        );
        assert!(on_a.catch_up.is_none(), "nothing was handed out before");
        let created = store.create("/registry/pods/ns/p", pod("")).await.unwrap();
        store
            .update("/registry/pods/ns/p", pod("a"), created.mod_revision)
            .await
            .unwrap();
        // The create (no node) reaches only the watch of all pods; the binding to `a`
        // reaches `a`'s watch too, decoded once for both.
        let first = next(&mut all.feed).await.unwrap();
        assert_eq!(first.new.as_ref().unwrap()["spec"]["nodeName"], "");
        let bound = next(&mut all.feed).await.unwrap();
        let for_a = next(&mut on_a.feed).await.unwrap();
        assert!(Arc::ptr_eq(&bound, &for_a));
        assert!(next(&mut on_a.feed).await.is_none());
        assert!(
            next(&mut on_b.feed).await.is_none(),
            "b never wakes for a's pod"
        );

        // A watch that starts behind what was handed out reads the gap from the store.
        let late = watch(Some("a")).await.unwrap();
        let (mut gap, until) = late.catch_up.expect("a gap to read");
        assert_eq!(until, bound.revision);
        let mut revisions = Vec::new();
        while let Some(Ok(e)) = futures::StreamExt::next(&mut gap).await {
            revisions.push(e.revision());
            if e.revision() == until {
                break;
            }
        }
        assert_eq!(revisions, vec![created.mod_revision, bound.revision]);
    }
}
