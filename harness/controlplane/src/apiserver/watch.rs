//! Watches: store events turned into Kubernetes watch events, one JSON object a line.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::object;
use super::registry::{ListOptions, Registry, matches, parse_rv};
use super::resources::Resource;
use super::status::{ApiError, status_json};
use super::table::{self, IncludeObject};
use crate::store::{StoreError, WatchEvent};

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

/// What a watch request asked for besides selection.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub list: ListOptions,
    pub timeout: Option<Duration>,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    /// Table rendering, for `kubectl get -w`.
    pub table: Option<IncludeObject>,
}

/// Starts a watch; its events arrive as newline-terminated JSON chunks on the receiver,
/// which closes when the watch ends (timeout, shutdown, or an error event).
pub async fn start(
    registry: Arc<Registry>,
    r: &'static Resource,
    ns: Option<String>,
    opts: WatchOptions,
    shutdown: CancellationToken,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let prefix = r.key(if r.namespaced { ns.as_deref() } else { None }, None);
    let rv = opts
        .list
        .resource_version
        .as_deref()
        .filter(|rv| !rv.is_empty() && *rv != "0");
    // RV unset or "0": the current state as ADDED events, then the changes after it.
    let (initial, start) = match rv {
        Some(rv) if !opts.send_initial_events => (Vec::new(), parse_rv(rv)?),
        _ => {
            let listing = registry.store.list(&prefix, None).await?;
            let items = listing
                .items
                .iter()
                .map(|kv| r.decode(kv))
                .filter(|o| matches(r, o, &opts.list))
                .collect();
            (items, listing.revision)
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let stream = match registry.store.watch(&prefix, start).await {
        Ok(s) => s,
        Err(e @ StoreError::Compacted { .. }) => {
            // Kubernetes answers 200 and then a single ERROR event carrying the 410.
            let status = ApiError::from(e).to_status();
            let _ = tx.try_send(line("ERROR", &status_json(&status)));
            return Ok(rx);
        }
        Err(e) => return Err(e.into()),
    };
    tokio::spawn(async move {
        let send = |kind: &str, obj: &Value| {
            let obj = match opts.table {
                Some(include) if kind != "BOOKMARK" && kind != "ERROR" => {
                    let rv = object::resource_version(obj).unwrap_or("").to_string();
                    table::table(
                        r,
                        std::slice::from_ref(obj),
                        include,
                        &rv,
                        k8s_openapi::jiff::Timestamp::now(),
                    )
                }
                _ => obj.clone(),
            };
            line(kind, &obj)
        };
        for obj in &initial {
            if tx.send(send("ADDED", obj)).await.is_err() {
                return;
            }
        }
        let mut last_rev = start;
        let bookmark = |rev: i64, initial_end: bool| {
            let mut meta = json!({"resourceVersion": rev.to_string()});
            if initial_end {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            json!({"kind": r.kind, "apiVersion": r.api_version(), "metadata": meta})
        };
        if opts.send_initial_events
            && opts.bookmarks
            && tx
                .send(send("BOOKMARK", &bookmark(last_rev, true)))
                .await
                .is_err()
        {
            return;
        }
        let deadline = opts.timeout.map(|t| tokio::time::Instant::now() + t);
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(timeout);
        let mut stream = stream;
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut timeout => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if opts.bookmarks => {
                    if tx.send(send("BOOKMARK", &bookmark(last_rev, false))).await.is_err() {
                        return;
                    }
                    continue;
                }
                e = stream.next() => e,
            };
            let event = match event {
                None => return,
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    // A watcher that fell behind must list again: tell it with a 410.
                    let status = match e {
                        StoreError::WatchLagged { .. } => ApiError::gone(e.to_string()),
                        other => ApiError::internal(other.to_string()),
                    };
                    let _ = tx
                        .send(line("ERROR", &status_json(&status.to_status())))
                        .await;
                    return;
                }
            };
            last_rev = event.revision();
            if let Some((kind, obj)) = convert(r, &opts.list, &event)
                && tx.send(send(kind, &obj)).await.is_err()
            {
                return;
            }
        }
    });
    Ok(rx)
}

/// The watch event a store event becomes for this watcher's selectors: an object that
/// starts matching is ADDED, one that stops matching is DELETED.
fn convert(r: &Resource, opts: &ListOptions, event: &WatchEvent) -> Option<(&'static str, Value)> {
    match event {
        WatchEvent::Put { kv, prev } => {
            let new = r.decode(kv);
            let old = prev.as_ref().map(|p| r.decode(p));
            let now = matches(r, &new, opts);
            let before = old.as_ref().is_some_and(|o| matches(r, o, opts));
            match (before, now) {
                (_, true) if old.is_none() => Some(("ADDED", new)),
                (true, true) => Some(("MODIFIED", new)),
                (false, true) => Some(("ADDED", new)),
                (true, false) => {
                    let mut gone = old.expect("matched before");
                    object::set_resource_version(&mut gone, kv.mod_revision);
                    Some(("DELETED", gone))
                }
                (false, false) => None,
            }
        }
        WatchEvent::Delete { prev, revision } => {
            let mut old = r.decode(prev);
            if !matches(r, &old, opts) {
                return None;
            }
            object::set_resource_version(&mut old, *revision);
            Some(("DELETED", old))
        }
    }
}

fn line(kind: &str, obj: &Value) -> Bytes {
    let mut buf = serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
    buf.push(b'\n');
    Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::lookup;
    use crate::apiserver::selector::FieldSelector;
    use crate::store::KeyValue;

    fn kv(rev: i64, node: &str) -> KeyValue {
        KeyValue {
            key: "/registry/pods/ns/p".into(),
            value: Bytes::from(
                json!({"metadata": {"name": "p"}, "spec": {"nodeName": node}}).to_string(),
            ),
            create_revision: 2,
            mod_revision: rev,
        }
    }

    #[test]
    fn selectors_turn_transitions_into_added_and_deleted() {
        let pods = lookup("", "v1", "pods").unwrap();
        let unscheduled = ListOptions {
            fields: FieldSelector::parse("spec.nodeName=").unwrap(),
            ..ListOptions::default()
        };
        let bind = WatchEvent::Put {
            kv: kv(3, "n1"),
            prev: Some(kv(2, "")),
        };
        let (kind, obj) = convert(pods, &unscheduled, &bind).unwrap();
        assert_eq!(kind, "DELETED");
        assert_eq!(obj["metadata"]["resourceVersion"], "3");
        let on_n1 = ListOptions {
            fields: FieldSelector::parse("spec.nodeName=n1").unwrap(),
            ..ListOptions::default()
        };
        assert_eq!(convert(pods, &on_n1, &bind).unwrap().0, "ADDED");
        assert_eq!(
            convert(pods, &ListOptions::default(), &bind).unwrap().0,
            "MODIFIED"
        );
        let unrelated = WatchEvent::Put {
            kv: kv(4, "n2"),
            prev: Some(kv(3, "n2")),
        };
        assert!(convert(pods, &on_n1, &unrelated).is_none());
    }
}
