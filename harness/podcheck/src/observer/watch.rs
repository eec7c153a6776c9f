//! The recording tasks: the watches on the pod, its Events and (for a batch) every pod of
//! the namespace, each fed into the recording as it arrives.
//!
//! A watch that breaks is opened again from the last resourceVersion it delivered, and
//! after a list when that version has expired (410 Gone); the gap goes into the recording.
//! This is a loop over `Api::watch` rather than `kube::runtime::watcher`: the verdicts read
//! ADDED, MODIFIED and DELETED apart (the pending stage wants the first event to be ADDED),
//! which the runtime watcher folds into `Apply`/`Delete`, and the first watch must open
//! from the version listed *before* the create, which the runtime watcher lists itself.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::serde::de::DeserializeOwned;
use kube::Resource;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use podcheck_core::load::CaseSpec;
use podcheck_core::observation::WatchName;
use podcheck_core::recording::{Change, Observed};

use super::{Recorder, SetupError};

/// The longest pause between two attempts to open a broken watch again.
const REOPEN_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The open watches; their tasks stop when this is dropped.
pub(super) struct Watches(Vec<tokio::task::AbortHandle>);

impl Drop for Watches {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Opens the watches before the create, so the first state is seen, and starts recording.
pub(super) async fn open(
    admin: &kube::Client,
    ns: &str,
    pod_name: &str,
    case: &CaseSpec,
    recorder: &Recorder,
) -> Result<Watches, SetupError> {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
    let events: Api<Event> = Api::namespaced(admin.clone(), ns);
    let pod_rv = listed_version(&pods, "pods").await?;
    let event_rv = listed_version(&events, "events").await?;
    // A pod that must stay Ready is watched after the probes too, for its window.
    let window = case
        .stays_ready_for
        .map_or(Duration::ZERO, |w| w.0 + super::PROBES_BUDGET);
    let until = Instant::now() + Duration::from_secs(case.timeout.0.as_secs().max(1) + 5) + window;
    let pod_watch = Follow {
        api: pods.clone(),
        name: WatchName::Pod,
        fields: Some(format!("metadata.name={pod_name}")),
        until,
        recorder: recorder.clone(),
        observed: |at_ms, change, pod| Observed::Pod { at_ms, change, pod },
    };
    let event_watch = Follow {
        api: events,
        name: WatchName::Events,
        fields: Some(format!("involvedObject.name={pod_name}")),
        until,
        recorder: recorder.clone(),
        observed: |at_ms, change, event| Observed::Event {
            at_ms,
            change,
            event,
        },
    };
    let mut watches = Watches(vec![
        pod_watch.start(&pod_rv, "watching pods").await?,
        event_watch.start(&event_rv, "watching events").await?,
    ]);
    // A batch: one more watch, on every pod of the namespace, for when each is bound.
    if case.replicas > 1 {
        let batch_watch = Follow {
            api: pods,
            name: WatchName::Batch,
            fields: None,
            until,
            recorder: recorder.clone(),
            observed: |at_ms, change, pod| Observed::BatchPod { at_ms, change, pod },
        };
        watches
            .0
            .push(batch_watch.start(&pod_rv, "watching pods").await?);
    }
    Ok(watches)
}

async fn listed_version<K>(api: &Api<K>, what: &str) -> Result<String, SetupError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(|e| SetupError(format!("listing {what}: {e}")))?
        .metadata
        .resource_version
        .unwrap_or_default())
}

type Events<K> = BoxStream<'static, kube::Result<WatchEvent<K>>>;

/// One watch kept open until `until`.
struct Follow<K> {
    api: Api<K>,
    name: WatchName,
    fields: Option<String>,
    /// The server ends the watch then (its timeoutSeconds); that end is not a gap.
    until: Instant,
    recorder: Recorder,
    /// What an object the watch delivered is to the recording.
    observed: fn(f64, Change, K) -> Observed,
}

/// Why a watch stopped delivering.
struct Broke {
    reason: String,
    /// The resourceVersion expired: list before watching again.
    gone: bool,
}

impl<K> Follow<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    /// Opens the watch from `rv` (a failure here is the case's setup failing) and records
    /// from it in a task of its own.
    async fn start(self, rv: &str, what: &str) -> Result<tokio::task::AbortHandle, SetupError> {
        let stream = self
            .watch(rv)
            .await
            .map_err(|e| SetupError(format!("{what}: {e}")))?;
        let rv = rv.to_string();
        Ok(tokio::spawn(self.record(stream, rv)).abort_handle())
    }

    async fn watch(&self, rv: &str) -> kube::Result<Events<K>> {
        let left = self.until.saturating_duration_since(Instant::now());
        let mut params = WatchParams::default().timeout(left.as_secs_f64().ceil().max(1.0) as u32);
        if let Some(fields) = &self.fields {
            params = params.fields(fields);
        }
        Ok(self.api.watch(&params, rv).await?.boxed())
    }

    fn list_params(&self) -> ListParams {
        match &self.fields {
            Some(fields) => ListParams::default().fields(fields),
            None => ListParams::default(),
        }
    }

    /// Records until the watch ends at `until`, opening it again whenever it breaks.
    async fn record(self, mut stream: Events<K>, mut rv: String) {
        loop {
            let Some(broke) = self.deliver(&mut stream, &mut rv).await else {
                return;
            };
            self.recorder.apply(Observed::WatchBroke {
                watch: self.name,
                at_ms: self.recorder.now_ms(),
                reason: broke.reason,
            });
            let Some((reopened, relisted)) = self.reopen(&mut rv, broke.gone).await else {
                return;
            };
            stream = reopened;
            self.recorder.apply(Observed::WatchResumed {
                watch: self.name,
                at_ms: self.recorder.now_ms(),
                relisted,
            });
        }
    }

    /// Feeds the stream's objects into the recording until it breaks (Some) or ends at
    /// its timeout (None).
    async fn deliver(&self, stream: &mut Events<K>, rv: &mut String) -> Option<Broke> {
        while let Some(event) = stream.next().await {
            let (change, object) = match event {
                Ok(WatchEvent::Added(o)) => (Change::Added, o),
                Ok(WatchEvent::Modified(o)) => (Change::Modified, o),
                Ok(WatchEvent::Deleted(o)) => (Change::Deleted, o),
                Ok(WatchEvent::Bookmark(b)) => {
                    *rv = b.metadata.resource_version;
                    continue;
                }
                Ok(WatchEvent::Error(status)) => {
                    return Some(Broke {
                        gone: status.code == 410,
                        reason: format!("{} ({} {})", status.message, status.code, status.reason),
                    });
                }
                Err(e) => {
                    return Some(Broke {
                        reason: e.to_string(),
                        gone: false,
                    });
                }
            };
            if let Some(version) = object.meta().resource_version.clone() {
                *rv = version;
            }
            let at_ms = self.recorder.now_ms();
            self.recorder.apply((self.observed)(at_ms, change, object));
        }
        (Instant::now() < self.until).then(|| Broke {
            reason: "the server closed the watch before its timeout".into(),
            gone: false,
        })
    }

    /// Opens the watch again from `rv`, listing first when it expired; None once `until`
    /// passed. Also says whether it listed.
    async fn reopen(&self, rv: &mut String, mut gone: bool) -> Option<(Events<K>, bool)> {
        let mut relisted = false;
        let mut backoff = Duration::from_millis(50);
        while Instant::now() < self.until {
            if gone {
                match self.api.list(&self.list_params()).await {
                    Ok(list) => {
                        let at_ms = self.recorder.now_ms();
                        for object in list.items {
                            self.recorder
                                .apply((self.observed)(at_ms, Change::Relisted, object));
                        }
                        *rv = list.metadata.resource_version.unwrap_or_default();
                        relisted = true;
                        gone = false;
                    }
                    Err(e) => self.still_broken(format!("re-listing: {e}")),
                }
            }
            if !gone {
                match self.watch(rv).await {
                    Ok(stream) => return Some((stream, relisted)),
                    Err(kube::Error::Api(s)) if s.code == 410 => gone = true,
                    Err(e) => self.still_broken(e.to_string()),
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(REOPEN_BACKOFF_MAX);
        }
        None
    }

    /// A failed attempt to reopen: the gap it belongs to is already open.
    fn still_broken(&self, reason: String) {
        tracing::debug!(watch = %self.name, %reason, "watch not reopened yet");
        self.recorder.apply(Observed::WatchBroke {
            watch: self.name,
            at_ms: self.recorder.now_ms(),
            reason,
        });
    }
}

#[cfg(test)]
mod tests;
