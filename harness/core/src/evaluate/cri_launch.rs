//! criLaunch: every container is reported running, the runtime runs each under the reported
//! id, and the kubelet recorded Pulled, Created and Started.

use super::{api, failed, from, result, unavailable};
use crate::observation::{Observation, Probe};
use crate::result::{Source, StageResult};
use crate::stage::Stage;

pub(super) fn cri_launch(obs: &Observation) -> StageResult {
    let running = obs.sightings.iter().find(|s| {
        let st = s
            .pod
            .status
            .as_ref()
            .and_then(|st| st.container_statuses.as_ref());
        let want = s.pod.spec.as_ref().map_or(0, |sp| sp.containers.len());
        st.is_some_and(|cs| {
            cs.len() == want
                && want > 0
                && cs.iter().all(|c| {
                    c.container_id.is_some()
                        && c.state.as_ref().and_then(|x| x.running.as_ref()).is_some()
                })
        })
    });
    let Some(s) = running else {
        let waiting: Vec<String> = obs
            .sightings
            .last()
            .and_then(|s| s.pod.status.as_ref()?.container_statuses.clone())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| {
                let w = c.state.as_ref()?.waiting.as_ref()?;
                Some(format!(
                    "{}: {} {}",
                    c.name,
                    w.reason.clone().unwrap_or_default(),
                    w.message.clone().unwrap_or_default()
                ))
            })
            .collect();
        let r = result(
            Stage::CriLaunch,
            false,
            "containers not running".into(),
            None,
            vec![api(
                obs,
                format!("containerStatuses never all running; waiting: {waiting:?}"),
                None,
            )],
        );
        let failed_event = obs.events.iter().find(|e| {
            e.warning
                && matches!(
                    e.reason.as_str(),
                    "Failed" | "FailedCreatePodSandBox" | "BackOff"
                )
        });
        let hint = failed_event.map_or("the kubelet or the runtime did not start the containers: look at the kubelet's events and the runtime's logs".to_string(), |e| format!("{}: {}", e.reason, e.message));
        return failed(r, "the containers never all ran", hint);
    };
    let statuses = s
        .pod
        .status
        .as_ref()
        .and_then(|st| st.container_statuses.clone())
        .unwrap_or_default();
    let ids: Vec<String> = statuses
        .iter()
        .map(|c| format!("{}={}", c.name, c.container_id.clone().unwrap_or_default()))
        .collect();
    let mut evidence = vec![api(
        obs,
        format!("containerStatuses running: {}", ids.join(", ")),
        Some(s.at_ms),
    )];
    let mut missing_events = Vec::new();
    for reason in ["Pulled", "Created", "Started"] {
        match obs.events.iter().find(|e| e.reason == reason) {
            Some(e) => evidence.push(api(
                obs,
                format!("event {reason} from {}: {}", e.component, e.message),
                Some(e.at_ms),
            )),
            None => missing_events.push(reason),
        }
    }
    let mut mismatches: Vec<String> = Vec::new();
    match &obs.runtime {
        Probe::Seen(rt) => {
            for c in &statuses {
                let id = c.container_id.clone().unwrap_or_default();
                let bare = id
                    .split_once("://")
                    .map_or(id.as_str(), |(_, b)| b)
                    .to_string();
                match rt.containers.iter().find(|(_, rid, _)| *rid == bare) {
                    Some((_, _, state)) if state == "running" => evidence.push(from(
                        Source::Cri,
                        &rt.provider,
                        format!("ContainerStatus {}: RUNNING", short(&bare)),
                        rt.at_ms,
                    )),
                    Some((_, _, state)) => mismatches.push(format!(
                        "the runtime reports container {} as {state}",
                        c.name
                    )),
                    None => mismatches.push(format!(
                        "the runtime does not know container {} ({})",
                        c.name,
                        short(&bare)
                    )),
                }
            }
        }
        Probe::Unavailable(why) => evidence.push(unavailable(Source::Cri, why)),
    }
    let r = result(
        Stage::CriLaunch,
        true,
        format!("{} container(s) running", statuses.len()),
        Some(s.at_ms),
        evidence,
    );
    if !mismatches.is_empty() {
        return failed(
            r,
            mismatches.join("; "),
            "the kubelet reports a container the runtime does not run: the status is not backed by the runtime",
        );
    }
    if !missing_events.is_empty() {
        return failed(
            r,
            format!("no {} event(s)", missing_events.join("/")),
            "the kubelet records Pulled, Created and Started for each container",
        );
    }
    r
}

fn short(id: &str) -> &str {
    &id[..id.len().min(13)]
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::evaluate::test_support::*;
    use crate::observation::RuntimeRead;
    use crate::result::StageStatus;

    fn never_running(o: &mut Observation) {
        let mut p = web(1);
        let st = p.status.as_mut().expect("status");
        st.container_statuses = Some(vec![
            serde_json::from_value(json!({
                "name": "app",
                "image": "busybox:nope",
                "imageID": "",
                "ready": false,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"busybox:nope\""}},
            }))
            .expect("a ContainerStatus"),
        ]);
        o.sightings[2].pod = p;
        o.events.retain(|e| e.reason == "Scheduled");
        let mut backoff = event(
            90.0,
            "BackOff",
            "kubelet",
            "Back-off pulling image \"busybox:nope\"",
        );
        backoff.warning = true;
        o.events.push(backoff);
        o.runtime = Probe::Seen(RuntimeRead {
            containers: Vec::new(),
            ..runtime_read(o).clone()
        });
    }

    #[rstest]
    #[case::running_and_backed_by_the_runtime(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
    #[case::runtime_says_exited(
        |o: &mut Observation| runtime_read(o).containers[0].2 = "exited".into(),
        StageStatus::Failed,
        Some("the runtime reports container app as exited"),
        Some("the status is not backed by the runtime")
    )]
    #[case::runtime_does_not_know_the_id(
        |o: &mut Observation| runtime_read(o).containers[0].1 = "fedcba9876543210".into(),
        StageStatus::Failed,
        Some("the runtime does not know container app (0123456789abc)"),
        Some("the status is not backed by the runtime")
    )]
    #[case::runtime_probe_unavailable(
        |o: &mut Observation| o.runtime = Probe::Unavailable("no CRI socket".into()),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::no_started_event(
        |o: &mut Observation| o.events.retain(|e| e.reason != "Started"),
        StageStatus::Failed,
        Some("no Started event(s)"),
        Some("the kubelet records Pulled, Created and Started for each container")
    )]
    #[case::no_kubelet_events(
        |o: &mut Observation| o.events.retain(|e| e.reason == "Scheduled"),
        StageStatus::Failed,
        Some("no Pulled/Created/Started event(s)"),
        None
    )]
    #[case::never_running(
        never_running,
        StageStatus::Failed,
        Some("the containers never all ran"),
        Some("BackOff: Back-off pulling image \"busybox:nope\"")
    )]
    #[case::never_running_without_a_warning(
        |o: &mut Observation| {
            never_running(o);
            o.events.retain(|e| !e.warning);
        },
        StageStatus::Failed,
        Some("the containers never all ran"),
        Some("look at the kubelet's events and the runtime's logs")
    )]
    #[case::running_without_a_container_id(
        |o: &mut Observation| {
            let st = o.sightings[2].pod.status.as_mut().and_then(|s| s.container_statuses.as_mut());
            if let Some(cs) = st {
                cs[0].container_id = None;
            }
        },
        StageStatus::Failed,
        Some("the containers never all ran"),
        None
    )]
    #[case::one_of_two_containers_running(
        |o: &mut Observation| each_web(o, |p| {
            if let Some(spec) = p.spec.as_mut() {
                let mut second = spec.containers[0].clone();
                second.name = "sidecar".into();
                spec.containers.push(second);
            }
        }),
        StageStatus::Failed,
        Some("the containers never all ran"),
        None
    )]
    fn cri_launch_verdicts(
        #[case] vary: fn(&mut Observation),
        #[case] status: StageStatus,
        #[case] message: Option<&str>,
        #[case] hint: Option<&str>,
    ) {
        assert_varied(
            &Case::new().build(),
            Stage::CriLaunch,
            vary,
            status,
            message,
            hint,
        );
    }

    #[test]
    fn cri_launch_cites_the_runtime() {
        let r = verdict(&Case::new().build(), &running(), Stage::CriLaunch);
        assert_eq!(r.observed, "1 container(s) running");
        assert_eq!(r.at_ms, Some(120.0));
        evidence(
            &r,
            Source::Api,
            &format!("containerStatuses running: app=containerd://{CONTAINER_ID}"),
        );
        for reason in ["Pulled", "Created", "Started"] {
            evidence(&r, Source::Api, &format!("event {reason} from kubelet"));
        }
        let cri = evidence(&r, Source::Cri, "ContainerStatus 0123456789abc: RUNNING");
        assert_eq!(cri.provider, "containerd 2.0.4");
        assert!(cri.real);
        assert_eq!(cri.at_ms, Some(125.0));
    }

    #[test]
    fn cri_launch_without_a_runtime_probe_says_so() {
        let mut obs = running();
        obs.runtime = Probe::Unavailable("no CRI socket".into());
        let r = verdict(&Case::new().build(), &obs, Stage::CriLaunch);
        let e = evidence(&r, Source::Cri, "probe unavailable: no CRI socket");
        assert_eq!(e.provider, "none");
        assert!(!e.real);
    }
}
