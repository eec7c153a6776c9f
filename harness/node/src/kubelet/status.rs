//! The pod status a kubelet reports, computed from what it observed — pure, so every
//! transition is testable without a runtime.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::runtime::ContainerState;

/// What the kubelet saw of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerObservation {
    pub name: String,
    pub image: String,
    pub image_id: Option<String>,
    /// `scheme://id`, once created.
    pub container_id: Option<String>,
    /// None until the container exists; a waiting reason while it does not run.
    pub state: Option<ContainerState>,
    pub waiting_reason: String,
    pub waiting_message: Option<String>,
    /// How many times the kubelet started it again after it exited.
    pub restart_count: i32,
    /// Its previous run's end (an `Exited` state), once it was restarted or waits to be.
    pub last_termination: Option<ContainerState>,
}

/// What the kubelet saw of the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodObservation {
    pub host_ip: String,
    pub pod_ip: Option<String>,
    pub sandbox_ready: bool,
    pub start_time: String,
    pub containers: Vec<ContainerObservation>,
}

/// The pod's status (the whole `status` object) for `obs`, keeping the transition times
/// of conditions that did not change.
pub fn pod_status(pod: &Pod, obs: &PodObservation, now: &str) -> Value {
    let old = pod.status.clone().unwrap_or_default();
    let old_conditions = old.conditions.unwrap_or_default();
    let condition = |kind: &str, ok: bool, reason: Option<String>, message: Option<String>| {
        let status = if ok { "True" } else { "False" };
        let since = old_conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == status)
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| crate::clock::timestamp(t.0))
            .unwrap_or_else(|| now.to_string());
        let mut c = json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
        c
    };
    let running =
        |c: &ContainerObservation| matches!(c.state, Some(ContainerState::Running { .. }));
    let unready: Vec<&str> = obs
        .containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| c.name.as_str())
        .collect();
    let all_ready = unready.is_empty() && !obs.containers.is_empty();
    let not_ready_message =
        (!all_ready).then(|| format!("containers with unready status: [{}]", unready.join(" ")));
    let not_ready_reason = (!all_ready).then(|| "ContainersNotReady".to_string());
    let scheduled = old_conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .and_then(|c| serde_json::to_value(c).ok())
        .unwrap_or_else(|| condition("PodScheduled", true, None, None));
    let mut conditions = vec![
        condition("PodReadyToStartContainers", obs.sandbox_ready, None, None),
        condition("Initialized", true, None, None),
        condition(
            "Ready",
            all_ready,
            not_ready_reason.clone(),
            not_ready_message.clone(),
        ),
        condition(
            "ContainersReady",
            all_ready,
            not_ready_reason,
            not_ready_message,
        ),
        scheduled,
    ];
    // The status is sent as a merge patch, which replaces the list: keep the conditions
    // other writers own (readiness gates, a controller's), as the kubelet does.
    const OWN: [&str; 5] = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ];
    conditions.extend(
        old_conditions
            .iter()
            .filter(|c| !OWN.contains(&c.type_.as_str()))
            .filter_map(|c| serde_json::to_value(c).ok()),
    );
    // As getPhase counts them: a container that waits to restart after an exit is stopped,
    // with its last exit.
    let exited: Vec<i32> = obs
        .containers
        .iter()
        .filter_map(|c| match (&c.state, &c.last_termination) {
            (Some(ContainerState::Exited { exit_code, .. }), _) => Some(*exit_code),
            (
                Some(ContainerState::Created) | None,
                Some(ContainerState::Exited { exit_code, .. }),
            ) => Some(*exit_code),
            _ => None,
        })
        .collect();
    let restart = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    // As the kubelet's getPhase: when every container has exited, `Always` (and
    // `OnFailure` after a failure) means they are restarting, so the pod is still Running.
    let phase = if all_ready {
        "Running"
    } else if !obs.containers.is_empty() && exited.len() == obs.containers.len() {
        match (restart, exited.iter().all(|c| *c == 0)) {
            ("Always", _) => "Running",
            (_, true) => "Succeeded",
            ("Never", false) => "Failed",
            _ => "Running",
        }
    } else if obs.containers.iter().any(running) {
        "Running"
    } else {
        "Pending"
    };
    let statuses: Vec<Value> = obs
        .containers
        .iter()
        .map(|c| {
            let state = match &c.state {
                Some(ContainerState::Running { started_at }) => json!({"running": {"startedAt": started_at}}),
                Some(ContainerState::Exited { exit_code, reason, finished_at }) => {
                    json!({"terminated": {"exitCode": exit_code, "reason": reason, "finishedAt": finished_at, "containerID": c.container_id}})
                }
                Some(ContainerState::Created) | None => {
                    let mut w = json!({"reason": c.waiting_reason});
                    if let Some(m) = &c.waiting_message {
                        w["message"] = json!(m);
                    }
                    json!({"waiting": w})
                }
            };
            let last_state = match &c.last_termination {
                Some(ContainerState::Exited { exit_code, reason, finished_at }) => {
                    json!({"terminated": {"exitCode": exit_code, "reason": reason, "finishedAt": finished_at}})
                }
                _ => json!({}),
            };
            let mut s = json!({
                "name": c.name,
                "image": c.image,
                "imageID": c.image_id.clone().unwrap_or_default(),
                "ready": running(c),
                "started": running(c),
                "restartCount": c.restart_count,
                "state": state,
                "lastState": last_state,
            });
            if let Some(id) = &c.container_id {
                s["containerID"] = json!(id);
            }
            s
        })
        .collect();
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": obs.host_ip,
        "hostIPs": [{"ip": obs.host_ip}],
        "startTime": obs.start_time,
        "containerStatuses": statuses,
        "qosClass": old.qos_class.unwrap_or_else(|| "BestEffort".into()),
    });
    if let Some(ip) = &obs.pod_ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Pending", "qosClass": "BestEffort", "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-27T00:00:00Z"}]}
        }))
        .unwrap()
    }

    fn obs(state: Option<ContainerState>) -> PodObservation {
        PodObservation {
            host_ip: "127.0.1.1".into(),
            pod_ip: Some("10.244.0.2".into()),
            sandbox_ready: true,
            start_time: "2026-11-27T00:00:01Z".into(),
            containers: vec![ContainerObservation {
                name: "c".into(),
                image: "busybox".into(),
                image_id: None,
                container_id: state.as_ref().map(|_| "sim://abc".into()),
                state,
                waiting_reason: "ContainerCreating".into(),
                waiting_message: None,
                restart_count: 0,
                last_termination: None,
            }],
        }
    }

    fn condition<'a>(s: &'a Value, kind: &str) -> &'a Value {
        s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap()
    }

    #[test]
    fn creating_then_running() {
        let now = "2026-11-27T00:00:02Z";
        let s = pod_status(&pod(), &obs(None), now);
        assert_eq!(s["phase"], "Pending");
        assert_eq!(s["podIP"], "10.244.0.2");
        assert_eq!(condition(&s, "Ready")["status"], "False");
        assert_eq!(
            condition(&s, "Ready")["message"],
            "containers with unready status: [c]"
        );
        assert_eq!(
            condition(&s, "PodScheduled")["lastTransitionTime"],
            "2026-11-27T00:00:00Z"
        );
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );

        let running = obs(Some(ContainerState::Running {
            started_at: now.into(),
        }));
        let s = pod_status(&pod(), &running, now);
        assert_eq!(s["phase"], "Running");
        assert_eq!(condition(&s, "ContainersReady")["status"], "True");
        assert_eq!(s["containerStatuses"][0]["containerID"], "sim://abc");
        assert_eq!(
            s["containerStatuses"][0]["state"]["running"]["startedAt"],
            now
        );
    }

    #[test]
    fn exited_containers_finish_pods_that_do_not_restart() {
        let mut p = pod();
        p.spec.as_mut().unwrap().restart_policy = Some("Never".into());
        let done = obs(Some(ContainerState::Exited {
            exit_code: 1,
            reason: "Error".into(),
            finished_at: "t".into(),
        }));
        assert_eq!(pod_status(&p, &done, "t")["phase"], "Failed");
    }

    #[rstest::rstest]
    #[case("Always", 0, "Running")]
    #[case("Always", 1, "Running")]
    #[case("OnFailure", 0, "Succeeded")]
    #[case("OnFailure", 1, "Running")]
    #[case("Never", 0, "Succeeded")]
    #[case("Never", 1, "Failed")]
    fn the_phase_of_exited_containers_follows_the_restart_policy(
        #[case] policy: &str,
        #[case] exit_code: i32,
        #[case] phase: &str,
    ) {
        let mut p = pod();
        p.spec.as_mut().unwrap().restart_policy = Some(policy.into());
        let done = obs(Some(ContainerState::Exited {
            exit_code,
            reason: "Completed".into(),
            finished_at: "t".into(),
        }));
        assert_eq!(pod_status(&p, &done, "t")["phase"], phase);
    }

    #[test]
    fn a_container_that_exited_and_waits_to_restart_is_in_crash_loop_back_off() {
        let exit = ContainerState::Exited {
            exit_code: 1,
            reason: "Error".into(),
            finished_at: "2026-11-27T00:00:03Z".into(),
        };
        let now = "2026-11-27T00:00:04Z";
        // Just exited: terminated, the pod out of Ready, still Running (restartPolicy Always).
        let s = pod_status(&pod(), &obs(Some(exit.clone())), now);
        assert_eq!(s["phase"], "Running");
        assert_eq!(
            s["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            1
        );
        assert_eq!(condition(&s, "Ready")["status"], "False");
        assert_eq!(condition(&s, "Ready")["reason"], "ContainersNotReady");
        // Restarted once, exited again, and waiting out the back-off.
        let mut waiting = obs(None);
        let c = &mut waiting.containers[0];
        c.container_id = Some("sim://abc".into());
        c.waiting_reason = "CrashLoopBackOff".into();
        c.waiting_message = Some("back-off 10s restarting failed container=c pod=p_ns(uid)".into());
        c.restart_count = 1;
        c.last_termination = Some(exit);
        let s = pod_status(&pod(), &waiting, now);
        assert_eq!(s["phase"], "Running", "stopped, and Always restarts it");
        let status = &s["containerStatuses"][0];
        assert_eq!(status["restartCount"], 1);
        assert_eq!(status["ready"], false);
        assert_eq!(status["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(
            status["lastState"]["terminated"],
            json!({"exitCode": 1, "reason": "Error", "finishedAt": "2026-11-27T00:00:03Z"})
        );
        // It parses as the API's type.
        let _: k8s_openapi::api::core::v1::PodStatus = serde_json::from_value(s).unwrap();
    }

    #[test]
    fn conditions_of_other_writers_are_kept() {
        let mut p = pod();
        p.status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()
            .push(
                serde_json::from_value(json!({"type": "example.com/Gate", "status": "True"}))
                    .unwrap(),
            );
        let s = pod_status(&p, &obs(None), "2026-11-27T00:00:01Z");
        let types: Vec<&str> = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert!(types.contains(&"example.com/Gate"), "{types:?}");
        assert_eq!(types.iter().filter(|t| **t == "PodScheduled").count(), 1);
    }
}
