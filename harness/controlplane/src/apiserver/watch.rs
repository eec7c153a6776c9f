//! Watches: store events turned into Kubernetes watch events, one JSON object a line.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::fan_out::{self, Decoded, Feed, Subscription};
use super::object;
use super::registry::{ListOptions, Registry, matches, parse_rv};
use super::resources::Resource;
use super::status::{ApiError, status_json};
use super::table::{self, IncludeObject};
use crate::store::{Revision, StoreError, WatchStream};

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
    let trigger = fan_out::trigger_of(r, &opts.list.fields);
    let subscription = registry
        .fan_out
        .subscribe(&registry.store, r, prefix.clone(), start, trigger)
        .await;
    let Subscription { mut feed, catch_up } = match subscription {
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
        for obj in &initial {
            if tx.send(render(r, "ADDED", obj, opts.table)).await.is_err() {
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
                .send(line("BOOKMARK", &bookmark(last_rev, true)))
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
        let mut catch_up = catch_up;
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut timeout => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if opts.bookmarks => {
                    if tx.send(line("BOOKMARK", &bookmark(last_rev, false))).await.is_err() {
                        return;
                    }
                    continue;
                }
                e = next(&mut catch_up, &mut feed, r) => e,
            };
            let event = match event {
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    let _ = tx.send(lost(e)).await;
                    return;
                }
                // The fan-out dropped this watch: it fell behind and must list again.
                None if !shutdown.is_cancelled() => {
                    let _ = tx.send(lost(StoreError::WatchLagged { missed: 0 })).await;
                    return;
                }
                None => return,
            };
            last_rev = event.revision;
            if let Some(line) = convert(r, &opts.list, &event, opts.table)
                && tx.send(line).await.is_err()
            {
                return;
            }
        }
    });
    Ok(rx)
}

/// A watch's next event: from its catch-up (events the fan-out had handed out before the
/// watch joined, read from the store up to that revision) while it lasts, then its feed.
async fn next(
    catch_up: &mut Option<(WatchStream, Revision)>,
    feed: &mut Feed,
    r: &Resource,
) -> Option<Result<Arc<Decoded>, StoreError>> {
    if let Some((stream, until)) = catch_up {
        match stream.next().await {
            Some(Ok(e)) if e.revision() <= *until => {
                if e.revision() == *until {
                    *catch_up = None;
                }
                return Some(Ok(Arc::new(Decoded::of(r, &e))));
            }
            Some(Err(e)) => return Some(Err(e)),
            // Past `until`: the feed has that event and those after it.
            _ => *catch_up = None,
        }
    }
    feed.recv().await
}

/// The ERROR event of a watch that lost its feed: a 410 for one that fell behind, which
/// must list again.
fn lost(e: StoreError) -> Bytes {
    let status = match e {
        StoreError::WatchLagged { .. } => ApiError::gone(e.to_string()),
        other => ApiError::internal(other.to_string()),
    };
    line("ERROR", &status_json(&status.to_status()))
}

/// The watch line a store event becomes for this watcher's selectors: an object that
/// starts matching is ADDED, one that stops matching is DELETED.
fn convert(
    r: &Resource,
    opts: &ListOptions,
    event: &Decoded,
    table: Option<IncludeObject>,
) -> Option<Bytes> {
    let now = event.new.as_ref().is_some_and(|o| matches(r, o, opts));
    let before = event.old.as_ref().is_some_and(|o| matches(r, o, opts));
    let kind = match (before, now) {
        (_, true) if event.old.is_none() => "ADDED",
        (true, true) => "MODIFIED",
        (false, true) => "ADDED",
        (true, false) => "DELETED",
        (false, false) => return None,
    };
    if kind == "DELETED" {
        let mut gone = event.old.clone().expect("matched before");
        object::set_resource_version(&mut gone, event.revision);
        return Some(render(r, kind, &gone, table));
    }
    match table {
        Some(_) => Some(render(r, kind, event.new.as_ref()?, table)),
        // The common case: the object's JSON, written once for every watch that sends it.
        None => Some(line_of_json(kind, event.new_json()?)),
    }
}

/// One event line, as a table row for `kubectl get -w`.
fn render(r: &Resource, kind: &str, obj: &Value, table: Option<IncludeObject>) -> Bytes {
    match table {
        Some(include) => {
            let rv = object::resource_version(obj).unwrap_or("").to_string();
            let rows = table::table(
                r,
                std::slice::from_ref(obj),
                include,
                &rv,
                k8s_openapi::jiff::Timestamp::now(),
            );
            line(kind, &rows)
        }
        None => line(kind, obj),
    }
}

fn line(kind: &str, obj: &Value) -> Bytes {
    line_of_json(kind, &serde_json::to_vec(obj).unwrap_or_default())
}

/// `{"type":KIND,"object":OBJECT}` and a newline, around an object already written.
fn line_of_json(kind: &str, object: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(object.len() + 32);
    buf.extend_from_slice(b"{\"type\":\"");
    buf.extend_from_slice(kind.as_bytes());
    buf.extend_from_slice(b"\",\"object\":");
    buf.extend_from_slice(object);
    buf.extend_from_slice(b"}\n");
    Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::lookup;
    use crate::apiserver::selector::FieldSelector;
    use crate::store::{KeyValue, WatchEvent};

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

    fn kind_of(line: Option<Bytes>) -> Option<String> {
        let v: Value = serde_json::from_slice(&line?).unwrap();
        Some(v["type"].as_str().unwrap().to_string())
    }

    #[test]
    fn selectors_turn_transitions_into_added_and_deleted() {
        let pods = lookup("", "v1", "pods").unwrap();
        let unscheduled = ListOptions {
            fields: FieldSelector::parse("spec.nodeName=").unwrap(),
            ..ListOptions::default()
        };
        let bind = Decoded::of(
            pods,
            &WatchEvent::Put {
                kv: kv(3, "n1"),
                prev: Some(kv(2, "")),
            },
        );
        let line = convert(pods, &unscheduled, &bind, None).unwrap();
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["type"], "DELETED");
        assert_eq!(v["object"]["metadata"]["resourceVersion"], "3");
        let on_n1 = ListOptions {
            fields: FieldSelector::parse("spec.nodeName=n1").unwrap(),
            ..ListOptions::default()
        };
        assert_eq!(
            kind_of(convert(pods, &on_n1, &bind, None)).as_deref(),
            Some("ADDED")
        );
        let all = convert(pods, &ListOptions::default(), &bind, None);
        assert_eq!(kind_of(all.clone()).as_deref(), Some("MODIFIED"));
        let v: Value = serde_json::from_slice(&all.unwrap()).unwrap();
        assert_eq!(v["object"]["spec"]["nodeName"], "n1");
        let unrelated = Decoded::of(
            pods,
            &WatchEvent::Put {
                kv: kv(4, "n2"),
                prev: Some(kv(3, "n2")),
            },
        );
        assert!(convert(pods, &on_n1, &unrelated, None).is_none());
    }
}
