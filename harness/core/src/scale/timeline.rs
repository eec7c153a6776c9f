//! Per-pod timestamps as a fold: what the load run saw (the create sent and answered, each
//! pod watch event) in, the first time each pod reached each milestone out.
//!
//! Every time is the harness's monotonic clock when the event reached it, never a time the
//! cluster wrote (those are whole seconds: `creationTimestamp`, `startedAt`); so a
//! milestone is "when the watch showed it", as ClusterLoader2's `watch` phase is.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

use super::Millis;

/// What the load run saw, in the order it saw it.
#[derive(Debug, Clone, Copy)]
pub enum LoadEvent<'a> {
    /// The create request for the `index`th pod went out.
    CreateSent { index: usize, at: Millis },
    /// Its answer came back: the pod was stored, or `refused` says why not.
    CreateAnswered {
        index: usize,
        at: Millis,
        refused: Option<&'a str>,
    },
    /// The pod watch showed this pod (ADDED or MODIFIED, or the watcher's re-list).
    Watched { pod: &'a Pod, at: Millis },
}

/// When one pod reached each milestone, first (`None`: not yet, or never).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTimes {
    pub name: String,
    pub create_sent: Option<Millis>,
    /// The create's answer: authentication, authorization, admission and the store write.
    pub create_answered: Option<Millis>,
    /// Why the create was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// First in the watch (phase Pending: a pod is Pending until its containers run).
    pub pending: Option<Millis>,
    /// First with `spec.nodeName` or `PodScheduled=True`.
    pub scheduled: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// First with every container in state running.
    pub containers_running: Option<Millis>,
    /// The latest container `startedAt` the kubelet wrote (RFC 3339, whole seconds: kept
    /// for the record, not measured with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// First with `status.podIP`.
    pub pod_ip: Option<Millis>,
    /// First with phase Running.
    pub running: Option<Millis>,
    /// First with phase Running and `Ready=True`.
    pub ready: Option<Millis>,
    /// The phase the pod ended in instead of running (Failed or Succeeded), with its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

impl PodTimes {
    /// Whether nothing more is to come for this pod: it is Ready, ended, or was refused.
    pub fn settled(&self) -> bool {
        self.ready.is_some() || self.ended.is_some() || self.refused.is_some()
    }
}

/// The load run's pods, each with its milestones.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pods: Vec<PodTimes>,
    by_name: HashMap<String, usize>,
}

/// How many pods reached each milestone: where a run that timed out got to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub pods: usize,
    pub sent: usize,
    pub created: usize,
    pub refused: usize,
    pub pending: usize,
    pub scheduled: usize,
    pub containers_running: usize,
    pub pod_ip: usize,
    pub running: usize,
    pub ready: usize,
    pub ended: usize,
}

impl Timeline {
    /// The pods the run creates, by name, in creation order.
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let pods: Vec<PodTimes> = names
            .into_iter()
            .map(|name| PodTimes {
                name,
                ..PodTimes::default()
            })
            .collect();
        let by_name = pods
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        Timeline { pods, by_name }
    }

    /// Folds one event in; a pod of another name (not this run's) is ignored.
    pub fn apply(&mut self, event: LoadEvent<'_>) {
        match event {
            LoadEvent::CreateSent { index, at } => {
                if let Some(p) = self.pods.get_mut(index) {
                    first(&mut p.create_sent, at);
                }
            }
            LoadEvent::CreateAnswered { index, at, refused } => {
                if let Some(p) = self.pods.get_mut(index) {
                    first(&mut p.create_answered, at);
                    if let Some(why) = refused {
                        p.refused.get_or_insert_with(|| why.to_string());
                    }
                }
            }
            LoadEvent::Watched { pod, at } => {
                let index = pod
                    .metadata
                    .name
                    .as_deref()
                    .and_then(|n| self.by_name.get(n));
                if let Some(&i) = index {
                    watched(&mut self.pods[i], pod, at);
                }
            }
        }
    }

    pub fn pods(&self) -> &[PodTimes] {
        &self.pods
    }

    /// Whether every pod is settled (Ready, ended or refused).
    pub fn settled(&self) -> bool {
        self.pods.iter().all(PodTimes::settled)
    }

    pub fn progress(&self) -> Progress {
        let count = |f: fn(&PodTimes) -> bool| self.pods.iter().filter(|p| f(p)).count();
        Progress {
            pods: self.pods.len(),
            sent: count(|p| p.create_sent.is_some()),
            created: count(|p| p.create_answered.is_some() && p.refused.is_none()),
            refused: count(|p| p.refused.is_some()),
            pending: count(|p| p.pending.is_some()),
            scheduled: count(|p| p.scheduled.is_some()),
            containers_running: count(|p| p.containers_running.is_some()),
            pod_ip: count(|p| p.pod_ip.is_some()),
            running: count(|p| p.running.is_some()),
            ready: count(|p| p.ready.is_some()),
            ended: count(|p| p.ended.is_some()),
        }
    }
}

/// Sets a milestone the first time only.
fn first(slot: &mut Option<Millis>, at: Millis) {
    slot.get_or_insert(at);
}

fn watched(times: &mut PodTimes, pod: &Pod, at: Millis) {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    first(&mut times.pending, at);
    let condition = |kind: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
    };
    let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    if node.is_some() || condition("PodScheduled") {
        first(&mut times.scheduled, at);
        if times.node.is_none() {
            times.node = node.map(str::to_string);
        }
    }
    let wanted = pod.spec.as_ref().map_or(0, |s| s.containers.len());
    let statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let running: Vec<_> = statuses
        .iter()
        .filter_map(|c| c.state.as_ref()?.running.as_ref())
        .collect();
    if wanted > 0 && running.len() >= wanted {
        first(&mut times.containers_running, at);
        if times.started_at.is_none() {
            times.started_at = running
                .iter()
                .filter_map(|r| r.started_at.as_ref())
                .max_by_key(|t| t.0)
                .map(|t| t.0.to_string());
        }
    }
    if status
        .and_then(|s| s.pod_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty())
    {
        first(&mut times.pod_ip, at);
    }
    match phase {
        "Running" => {
            first(&mut times.running, at);
            if condition("Ready") {
                first(&mut times.ready, at);
            }
        }
        "Failed" | "Succeeded" if times.ended.is_none() => {
            let reason = status.and_then(|s| s.reason.as_deref());
            times.ended = Some(match reason {
                Some(r) => format!("{phase} ({r})"),
                None => phase.to_string(),
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    /// A pod as the watch shows it: `stage` 0 unbound, 1 bound, 2 sandbox with its IP,
    /// 3 container running, 4 Running and Ready.
    fn pod(name: &str, stage: u8) -> Pod {
        let mut p = json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
            "status": {"phase": "Pending"}
        });
        if stage >= 1 {
            p["spec"]["nodeName"] = json!("node-1");
            p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True"}]);
        }
        if stage >= 2 {
            p["status"]["podIP"] = json!("10.244.1.5");
        }
        if stage >= 3 {
            p["status"]["containerStatuses"] = json!([{
                "name": "c", "image": "busybox:1.36", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-12-07T05:00:01Z"}}
            }]);
        }
        if stage >= 4 {
            p["status"]["phase"] = json!("Running");
            p["status"]["conditions"] = json!([
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "True"}
            ]);
        }
        serde_json::from_value(p).unwrap()
    }

    fn walk(stages: &[(u8, Millis)]) -> PodTimes {
        let mut t = Timeline::new(["p-0".to_string()]);
        t.apply(LoadEvent::CreateSent { index: 0, at: 1.0 });
        t.apply(LoadEvent::CreateAnswered {
            index: 0,
            at: 3.0,
            refused: None,
        });
        for &(stage, at) in stages {
            t.apply(LoadEvent::Watched {
                pod: &pod("p-0", stage),
                at,
            });
        }
        t.pods()[0].clone()
    }

    #[test]
    fn each_milestone_is_the_first_event_that_showed_it() {
        let p = walk(&[
            (0, 2.0),
            (0, 4.0),
            (1, 10.0),
            (2, 20.0),
            (3, 30.0),
            (4, 40.0),
            (4, 50.0),
        ]);
        assert_eq!(p.create_sent, Some(1.0));
        assert_eq!(p.create_answered, Some(3.0));
        // The watch may show the pod before the create's answer arrives.
        assert_eq!(p.pending, Some(2.0));
        assert_eq!(p.scheduled, Some(10.0));
        assert_eq!(p.node.as_deref(), Some("node-1"));
        assert_eq!(p.pod_ip, Some(20.0));
        assert_eq!(p.containers_running, Some(30.0));
        assert_eq!(p.started_at.as_deref(), Some("2026-12-07T05:00:01Z"));
        assert_eq!(p.running, Some(40.0));
        assert_eq!(p.ready, Some(40.0));
        assert!(p.settled());
    }

    #[test]
    fn one_status_update_can_carry_several_milestones() {
        let p = walk(&[(0, 2.0), (4, 9.0)]);
        assert_eq!(
            [
                p.scheduled,
                p.pod_ip,
                p.containers_running,
                p.running,
                p.ready
            ],
            [Some(9.0); 5]
        );
    }

    #[test]
    fn running_without_ready_is_not_settled() {
        let mut p = pod("p-0", 4);
        p.status.as_mut().unwrap().conditions.as_mut().unwrap()[1].status = "False".into();
        let mut t = Timeline::new(["p-0".to_string()]);
        t.apply(LoadEvent::Watched { pod: &p, at: 5.0 });
        assert_eq!(t.pods()[0].running, Some(5.0));
        assert_eq!(t.pods()[0].ready, None);
        assert!(!t.settled());
    }

    #[rstest]
    #[case("Failed", Some("Evicted"), "Failed (Evicted)")]
    #[case("Succeeded", None, "Succeeded")]
    fn a_pod_that_ends_instead_of_running_is_settled(
        #[case] phase: &str,
        #[case] reason: Option<&str>,
        #[case] ended: &str,
    ) {
        let mut p = pod("p-0", 1);
        let status = p.status.as_mut().unwrap();
        status.phase = Some(phase.into());
        status.reason = reason.map(Into::into);
        let mut t = Timeline::new(["p-0".to_string()]);
        t.apply(LoadEvent::Watched { pod: &p, at: 5.0 });
        assert_eq!(t.pods()[0].ended.as_deref(), Some(ended));
        assert!(t.settled());
    }

    #[test]
    fn refusals_and_other_pods_and_progress() {
        let mut t = Timeline::new(["a".to_string(), "b".to_string()]);
        t.apply(LoadEvent::CreateSent { index: 0, at: 0.0 });
        t.apply(LoadEvent::CreateSent { index: 1, at: 0.0 });
        t.apply(LoadEvent::CreateAnswered {
            index: 1,
            at: 1.0,
            refused: Some("quota"),
        });
        t.apply(LoadEvent::Watched {
            pod: &pod("not-ours", 4),
            at: 1.0,
        });
        t.apply(LoadEvent::Watched {
            pod: &pod("a", 1),
            at: 2.0,
        });
        assert_eq!(t.pods()[1].refused.as_deref(), Some("quota"));
        assert!(!t.settled());
        let progress = t.progress();
        assert_eq!(
            (
                progress.pods,
                progress.sent,
                progress.created,
                progress.refused
            ),
            (2, 2, 0, 1)
        );
        assert_eq!(
            (progress.pending, progress.scheduled, progress.ready),
            (1, 1, 0)
        );
    }
}
