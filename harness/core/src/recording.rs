//! The observer's recording as a fold: each thing a watch or a probe reports arrives as an
//! [`Observed`], [`Recording::apply`] folds it in, and [`Recording::finish`] gives the
//! [`Observation`] the verdicts read. No clock, no I/O: times come with the inputs.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::{Event, Node, Pod};

use crate::observation::{
    ApiRead, BatchPod, CreateOutcome, DnsRead, EventSighting, GrantWait, InPodNetRead, NetnsRead,
    Observation, PeerRead, PodSighting, Probe, RegistryRead, RuntimeRead, SchedulerState,
    StoreRead, WatchGap, WatchName,
};
use crate::path::{self, Course, PathState};
use crate::result::Provider;

/// What a pod watch reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Modified,
    Deleted,
    /// Read by the list that followed an expired resourceVersion.
    Relisted,
}

impl Change {
    /// The name a sighting keeps (the watch event type).
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "ADDED",
            Change::Modified => "MODIFIED",
            Change::Deleted => "DELETED",
            Change::Relisted => "RELISTED",
        }
    }
}

/// When a read of the pod was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    AfterCreate,
    AfterRunning,
}

/// One thing the observer saw, with when (milliseconds from the create).
#[derive(Debug, Clone)]
pub enum Observed {
    /// The case's pod, as its watch (or the list after an expired watch) showed it.
    Pod {
        at_ms: f64,
        change: Change,
        pod: Pod,
    },
    /// A core/v1 Event about the pod. Only new Events count (added, or found by a re-list):
    /// a repeated Event's count going up is not a new Event.
    Event {
        at_ms: f64,
        change: Change,
        event: Event,
    },
    /// Any pod of the namespace, as the batch watch showed it.
    BatchPod {
        at_ms: f64,
        change: Change,
        pod: Pod,
    },
    /// A watch broke (an error, an expired resourceVersion, the server closing it early).
    WatchBroke {
        watch: WatchName,
        at_ms: f64,
        reason: String,
    },
    /// A broken watch is open again, from its last resourceVersion or after a re-list.
    WatchResumed {
        watch: WatchName,
        at_ms: f64,
        relisted: bool,
    },
    /// The identity's RBAC grant, as found before the create.
    Grant(GrantWait),

    /// The apiserver's answer to the case's create.
    Created(CreateOutcome),
    /// The create of one more copy of a batch: when it was sent, the answer's code.
    CopyCreated {
        name: String,
        created_ms: f64,
        code: u16,
    },
    Store {
        moment: Moment,
        read: Probe<StoreRead>,
    },
    Api {
        moment: Moment,
        read: ApiRead,
    },
    Runtime(Probe<RuntimeRead>),
    Registry(Probe<RegistryRead>),
    Netns(Probe<NetnsRead>),
    InPodNet(Probe<InPodNetRead>),
    Peer(Probe<PeerRead>),
    Dns(Probe<DnsRead>),
    /// Nodes, all pods, and the two Service IPs, read once the path ended.
    Cluster {
        nodes: Vec<Node>,
        pods: Vec<Pod>,
        kubernetes_service_ip: Option<String>,
        cluster_dns_ip: Option<String>,
    },
    /// The wait for the path's end is over (and again once a `staysReadyFor` window was
    /// watched: the observer watched until `observed_ms`).
    WaitEnded {
        observed_ms: f64,
        timed_out: bool,
    },
    /// The external scheduler under test, as found when watching stopped.
    Scheduler(SchedulerState),
}

/// What is known of the case before anything is observed.
#[derive(Debug, Clone)]
pub struct CaseFacts {
    pub identity: String,
    pub namespace: String,
    pub pod_name: String,
    pub apiserver: Provider,
    /// The pod networks the cluster declares, read with the target's facts.
    pub pod_networks: Vec<crate::pod_network::PodNetwork>,
    /// Cluster node name → the suite's name for it, where the suite's nodes were mapped
    /// onto a cluster's (see [`crate::node_map`]).
    pub node_aliases: std::collections::BTreeMap<String, String>,
}

/// The recording so far.
#[derive(Debug, Clone)]
pub struct Recording {
    facts: CaseFacts,
    grant: Option<GrantWait>,
    create: CreateOutcome,
    sightings: Vec<PodSighting>,
    events: Vec<EventSighting>,
    /// The uids of the Events recorded, so a re-list adds only new ones.
    event_uids: HashSet<String>,
    /// For a batch: when each pod of the namespace was first seen with a node, and which.
    bound: HashMap<String, (f64, String)>,
    /// The batch's other copies: name, when sent, the answer's code.
    copies: Vec<(String, f64, u16)>,
    gaps: Vec<WatchGap>,
    store_after_create: Probe<StoreRead>,
    store_after_running: Probe<StoreRead>,
    api_after_create: Option<ApiRead>,
    api_after_running: Option<ApiRead>,
    runtime: Probe<RuntimeRead>,
    registry: Probe<RegistryRead>,
    netns: Probe<NetnsRead>,
    in_pod_net: Probe<InPodNetRead>,
    peer: Probe<PeerRead>,
    dns: Probe<DnsRead>,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    kubernetes_service_ip: Option<String>,
    cluster_dns_ip: Option<String>,
    observed_ms: f64,
    timed_out: bool,
    scheduler_under_test: Option<SchedulerState>,
}

const NEVER_RAN: &str = "the pod never ran";

impl Recording {
    /// Nothing seen yet; the probes that need a running pod stay unavailable unless run.
    pub fn new(facts: CaseFacts) -> Self {
        Recording {
            facts,
            grant: None,
            create: CreateOutcome::default(),
            sightings: Vec::new(),
            events: Vec::new(),
            event_uids: HashSet::new(),
            bound: HashMap::new(),
            copies: Vec::new(),
            gaps: Vec::new(),
            store_after_create: Probe::Unavailable("the store was not read".into()),
            store_after_running: Probe::Unavailable(NEVER_RAN.into()),
            api_after_create: None,
            api_after_running: None,
            runtime: Probe::Unavailable("no container was reported".into()),
            registry: Probe::Unavailable("no image was reported".into()),
            netns: Probe::Unavailable(NEVER_RAN.into()),
            in_pod_net: Probe::Unavailable(NEVER_RAN.into()),
            peer: Probe::Unavailable(NEVER_RAN.into()),
            dns: Probe::Unavailable(NEVER_RAN.into()),
            nodes: Vec::new(),
            pods: Vec::new(),
            kubernetes_service_ip: None,
            cluster_dns_ip: None,
            observed_ms: 0.0,
            timed_out: false,
            scheduler_under_test: None,
        }
    }

    /// Folds one observation in.
    pub fn apply(&mut self, observed: Observed) {
        match observed {
            Observed::Pod { at_ms, change, pod } => self.sight(at_ms, change, pod),
            Observed::Event {
                at_ms,
                change: Change::Added | Change::Relisted,
                event,
            } => self.event(at_ms, event),
            Observed::Event { .. } => {}
            Observed::BatchPod {
                change: Change::Deleted,
                ..
            } => {}
            Observed::BatchPod { at_ms, pod, .. } => {
                let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
                if let Some(node) = node {
                    let name = pod.metadata.name.unwrap_or_default();
                    self.bound.entry(name).or_insert((at_ms, node));
                }
            }
            Observed::WatchBroke {
                watch,
                at_ms,
                reason,
            } => {
                // A watch that fails again while reopening is still the same gap.
                if self.open_gap(watch).is_none() {
                    self.gaps.push(WatchGap {
                        watch,
                        from_ms: at_ms,
                        until_ms: None,
                        reason,
                        relisted: false,
                    });
                }
            }
            Observed::WatchResumed {
                watch,
                at_ms,
                relisted,
            } => {
                if let Some(gap) = self.open_gap(watch) {
                    gap.until_ms = Some(at_ms);
                    gap.relisted = relisted;
                }
            }
            Observed::Grant(grant) => self.grant = Some(grant),
            Observed::Created(create) => self.create = create,
            Observed::CopyCreated {
                name,
                created_ms,
                code,
            } => self.copies.push((name, created_ms, code)),
            Observed::Store { moment, read } => match moment {
                Moment::AfterCreate => self.store_after_create = read,
                Moment::AfterRunning => self.store_after_running = read,
            },
            Observed::Api { moment, read } => match moment {
                Moment::AfterCreate => self.api_after_create = Some(read),
                Moment::AfterRunning => self.api_after_running = Some(read),
            },
            Observed::Runtime(read) => self.runtime = read,
            Observed::Registry(read) => self.registry = read,
            Observed::Netns(read) => self.netns = read,
            Observed::InPodNet(read) => self.in_pod_net = read,
            Observed::Peer(read) => self.peer = read,
            Observed::Dns(read) => self.dns = read,
            Observed::Cluster {
                nodes,
                pods,
                kubernetes_service_ip,
                cluster_dns_ip,
            } => {
                self.nodes = nodes;
                self.pods = pods;
                self.kubernetes_service_ip = kubernetes_service_ip;
                self.cluster_dns_ip = cluster_dns_ip;
            }
            Observed::WaitEnded {
                observed_ms,
                timed_out,
            } => {
                self.observed_ms = observed_ms;
                self.timed_out = timed_out;
            }
            Observed::Scheduler(state) => self.scheduler_under_test = Some(state),
        }
    }

    fn sight(&mut self, at_ms: f64, change: Change, pod: Pod) {
        // A re-list that finds the pod as last seen adds nothing.
        let same = |s: &PodSighting| {
            pod.metadata.resource_version.is_some()
                && s.pod.metadata.resource_version == pod.metadata.resource_version
        };
        if change == Change::Relisted && self.sightings.last().is_some_and(same) {
            return;
        }
        self.sightings.push(PodSighting {
            at_ms,
            kind: change.as_str().into(),
            pod,
        });
    }

    fn event(&mut self, at_ms: f64, e: Event) {
        if let Some(uid) = e.metadata.uid.clone()
            && !self.event_uids.insert(uid)
        {
            return;
        }
        let component = e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .filter(|c| !c.is_empty())
            .or_else(|| e.reporting_component.clone())
            .unwrap_or_default();
        self.events.push(EventSighting {
            at_ms,
            reason: e.reason.unwrap_or_default(),
            message: e.message.unwrap_or_default(),
            warning: e.type_.as_deref() == Some("Warning"),
            component,
            field_path: e.involved_object.field_path,
        });
    }

    fn open_gap(&mut self, watch: WatchName) -> Option<&mut WatchGap> {
        self.gaps
            .iter_mut()
            .rev()
            .find(|g| g.watch == watch && g.until_ms.is_none())
    }

    /// The answer to the case's create.
    pub fn create(&self) -> &CreateOutcome {
        &self.create
    }

    /// Where the pod's path stands `now_ms` after the create.
    pub fn path(&self, course: Course<'_>, now_ms: f64) -> PathState {
        path::state(course, &self.create, &self.sightings, &self.events, now_ms)
    }

    /// Where a `staysReadyFor` window of `window_ms` stands `now_ms` after the create.
    pub fn ready_window(&self, window_ms: f64, now_ms: f64) -> path::ReadyWindow {
        path::ready_window(&self.sightings, window_ms, now_ms)
    }

    /// Whether reading resolv.conf in the pod (the first exec into it) failed: its container
    /// may have exited, which the kubelet reports at its next relist.
    pub fn in_pod_exec_failed(&self) -> bool {
        matches!(&self.dns, Probe::Seen(d) if d.resolv_conf.is_err())
    }

    /// The pod as last seen.
    pub fn last_pod(&self) -> Option<&Pod> {
        self.sightings.last().map(|s| &s.pod)
    }

    /// The stage whose work the pod waits for, as far as it has been seen (for a live view).
    pub fn stage_at(&self) -> crate::stage::Stage {
        crate::progress::stage_at(self.create.code != 0, self.last_pod())
    }

    /// Whether the pod, as last seen, runs: the probes that need a running pod look then.
    pub fn runs(&self) -> bool {
        self.last_pod().is_some_and(path::ready)
    }

    /// The pods of a batch that must be bound: the case's pod and each copy created.
    pub fn batch_names(&self) -> Vec<String> {
        std::iter::once(self.facts.pod_name.clone())
            .chain(
                self.copies
                    .iter()
                    .filter(|c| c.2 == 201)
                    .map(|c| c.0.clone()),
            )
            .collect()
    }

    /// Whether every pod of the batch was seen bound.
    pub fn batch_bound(&self) -> bool {
        self.batch_names()
            .iter()
            .all(|n| self.bound.contains_key(n))
    }

    /// The nodes the case's pods were seen bound to: the pod's own, then each copy's.
    pub fn bound_nodes(&self) -> Vec<String> {
        let own = self
            .sightings
            .iter()
            .find_map(|s| s.pod.spec.as_ref()?.node_name.clone())
            .filter(|n| !n.is_empty());
        let mut nodes: Vec<String> = own.into_iter().collect();
        for (_, node) in self.bound.values() {
            if !nodes.contains(node) {
                nodes.push(node.clone());
            }
        }
        nodes
    }

    /// Whether the case has copies (a batch whose first create was admitted).
    pub fn has_copies(&self) -> bool {
        !self.copies.is_empty()
    }

    /// The containers the last sighting reports with an ID: (name, ID without scheme).
    /// The `imageID` of each container the pod reports one for.
    pub fn reported_images(&self) -> Vec<String> {
        self.last_pod()
            .and_then(|p| p.status.as_ref()?.container_statuses.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.image_id)
            .filter(|i| !i.is_empty())
            .collect()
    }

    pub fn reported_containers(&self) -> Vec<(String, String)> {
        self.last_pod()
            .and_then(|p| p.status.as_ref()?.container_statuses.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| {
                let id = c.container_id?;
                Some((
                    c.name,
                    id.split_once("://")
                        .map_or(id.clone(), |(_, i)| i.to_string()),
                ))
            })
            .collect()
    }

    /// Everything recorded, as the verdicts read it.
    pub fn finish(self) -> Observation {
        let batch = if self.copies.is_empty() {
            Vec::new()
        } else {
            std::iter::once((self.facts.pod_name.clone(), 0.0, self.create.code))
                .chain(self.copies)
                .map(|(name, created_ms, code)| {
                    let bound = self.bound.get(&name);
                    BatchPod {
                        created_ms,
                        code,
                        bound_ms: bound.map(|b| b.0),
                        node: bound.map(|b| b.1.clone()),
                        name,
                    }
                })
                .collect()
        };
        Observation {
            identity: self.facts.identity,
            grant: self.grant,
            namespace: self.facts.namespace,
            pod_name: self.facts.pod_name,
            create: self.create,
            sightings: self.sightings,
            events: self.events,
            watch_gaps: self.gaps,
            nodes: self.nodes,
            pods: self.pods,
            batch,
            store_after_create: self.store_after_create,
            store_after_running: self.store_after_running,
            api_after_create: self.api_after_create,
            api_after_running: self.api_after_running,
            runtime: self.runtime,
            registry: self.registry,
            netns: self.netns,
            in_pod_net: self.in_pod_net,
            peer: self.peer,
            dns: self.dns,
            pod_networks: self.facts.pod_networks,
            node_aliases: self.facts.node_aliases,
            kubernetes_service_ip: self.kubernetes_service_ip,
            cluster_dns_ip: self.cluster_dns_ip,
            apiserver: self.facts.apiserver,
            observed_ms: self.observed_ms,
            timed_out: self.timed_out,
            scheduler_under_test: self.scheduler_under_test,
            faults: Vec::new(),
        }
    }
}

#[cfg(test)]
#[path = "recording_tests.rs"]
mod tests;
