//! criLaunch: every container is reported running, the runtime runs each under the reported
//! id, and the kubelet recorded Pulled, Created and Started — or, where the case expects
//! it, the image pull fails in the runtime's words.

use super::{api, failed, from, result, unavailable};
use k8s_openapi::api::core::v1::ContainerStatus;

use crate::load::CaseSpec;
use crate::observation::{Observation, Probe};
use crate::result::{Evidence, Source, StageResult};
use crate::stage::Stage;
use crate::suite::CriLaunchExpectation;

pub(super) fn cri_launch(case: &CaseSpec, obs: &Observation) -> StageResult {
    if let Some(CriLaunchExpectation::PullFails(words)) = &case.expect.cri_launch {
        return pull_fails(obs, words);
    }
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
        if let Some(r) = network_refused(obs) {
            return r;
        }
        if let Some(r) = started_then_exited(obs) {
            return r;
        }
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
        let mut evidence = vec![api(
            obs,
            format!("containerStatuses never all running; waiting: {waiting:?}"),
            None,
        )];
        evidence.extend(failed_attempts(obs, f64::INFINITY, RETRIED));
        let r = result(
            Stage::CriLaunch,
            false,
            "containers not running".into(),
            None,
            evidence,
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
    let mut evidence = failed_attempts(obs, s.at_ms, RETRIED);
    evidence.push(api(
        obs,
        format!("containerStatuses running: {}", ids.join(", ")),
        Some(s.at_ms),
    ));
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
            // Named in a mismatch: which runtime, asked how (`crictl inspect on node …`).
            let runtime = format!("{} {}", rt.provider.name, rt.provider.version);
            let runtime = runtime.trim();
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
                    // It ran, then exited (or was started again), and the kubelet reported
                    // the exit: statusUpdate's to judge, not a status without a runtime.
                    found if exit_reported(obs, &c.name) => evidence.push(from(
                        Source::Cri,
                        &rt.provider,
                        format!(
                            "ContainerStatus {}: {} (it exited after it ran, as the kubelet reported)",
                            short(&bare),
                            found.map_or("not found".to_string(), |f| f.2.to_uppercase())
                        ),
                        rt.at_ms,
                    )),
                    Some((_, _, state)) => mismatches.push(format!(
                        "the runtime ({runtime}) reports container {} as {state}",
                        c.name
                    )),
                    None => mismatches.push(format!(
                        "the runtime ({runtime}) does not know container {} ({})",
                        c.name,
                        short(&bare)
                    )),
                }
            }
        }
        Probe::Unavailable(why) => evidence.push(unavailable(Source::Cri, why)),
    }
    let unserved = pull_evidence(obs, &statuses, &mut evidence);
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
    if !unserved.is_empty() {
        return failed(
            r,
            unserved.join("; "),
            "the kubelet says it pulled the image, but the registry served another (or none): the imageID is not the image pulled",
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

/// Containers that never ran because every sandbox the kubelet asked for was refused by the
/// pod network: the kubelet → runtime call was made and answered, so this stage did its
/// part and cniAttach owns the failure.
fn network_refused(obs: &Observation) -> Option<StageResult> {
    let refusals = super::network_refusals(obs);
    let first = refusals.first()?;
    let other_failures = obs.events.iter().any(|e| {
        e.warning
            && RETRIED.contains(&e.reason.as_str())
            && !refusals.iter().any(|r| std::ptr::eq(*r, e))
    });
    if other_failures {
        return None;
    }
    let evidence = refusals
        .iter()
        .map(|e| {
            api(
                obs,
                format!(
                    "the kubelet asked the runtime for a sandbox: {} from {}: {}",
                    e.reason, e.component, e.message
                ),
                Some(e.at_ms),
            )
        })
        .collect();
    Some(result(
        Stage::CriLaunch,
        true,
        format!(
            "the runtime was asked for the sandbox {} time(s); its pod network refused it (see cniAttach)",
            refusals.len()
        ),
        Some(first.at_ms),
        evidence,
    ))
}

/// Whether a sighting showed container `name` exited (terminated, or restarted after it).
fn exit_reported(obs: &Observation, name: &str) -> bool {
    obs.sightings.iter().any(|s| {
        s.pod
            .status
            .as_ref()
            .and_then(|st| st.container_statuses.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.name == name
                        && (c.state.as_ref().is_some_and(|st| st.terminated.is_some())
                            || c.last_state
                                .as_ref()
                                .is_some_and(|st| st.terminated.is_some()))
                })
            })
    })
}

/// Containers the runtime started that then exited on their own before the pod was ever
/// seen with all of them running (an app that exits at once, in CrashLoopBackOff): the
/// kubelet and the runtime did their part, which the Started Events and the runtime's own
/// state show; the exit is the app's, and statusUpdate reports it.
fn started_then_exited(obs: &Observation) -> Option<StageResult> {
    // Terminated in the runtime's words for a start that failed is not the app's exit.
    let ran = |st: &k8s_openapi::api::core::v1::ContainerState| {
        st.terminated.as_ref().is_some_and(|t| {
            !matches!(
                t.reason.as_deref(),
                Some("StartError" | "ContainerCannotRun")
            )
        })
    };
    let launched = |c: &ContainerStatus| {
        c.container_id.is_some()
            && (c
                .state
                .as_ref()
                .is_some_and(|st| st.running.is_some() || ran(st))
                || c.last_state.as_ref().is_some_and(ran))
    };
    let s = obs.sightings.iter().rev().find(|s| {
        let want = s.pod.spec.as_ref().map_or(0, |sp| sp.containers.len());
        let cs = s
            .pod
            .status
            .as_ref()
            .and_then(|st| st.container_statuses.as_ref());
        cs.is_some_and(|cs| want > 0 && cs.len() == want && cs.iter().all(launched))
    })?;
    let started = obs.events.iter().find(|e| e.reason == "Started")?;
    let statuses = s
        .pod
        .status
        .as_ref()
        .and_then(|st| st.container_statuses.clone())
        .unwrap_or_default();
    let mut evidence = Vec::new();
    for reason in ["Pulled", "Created", "Started"] {
        if let Some(e) = obs.events.iter().find(|e| e.reason == reason) {
            evidence.push(api(
                obs,
                format!("event {reason} from {}: {}", e.component, e.message),
                Some(e.at_ms),
            ));
        }
    }
    let words: Vec<String> = statuses
        .iter()
        .map(|c| {
            let restarts = c.restart_count;
            let ended = c
                .state
                .as_ref()
                .and_then(|st| st.terminated.as_ref())
                .or_else(|| c.last_state.as_ref()?.terminated.as_ref());
            match ended {
                Some(t) => format!(
                    "{} exited after it started ({}, exit code {}; restartCount {restarts})",
                    c.name,
                    t.reason.as_deref().unwrap_or("Error"),
                    t.exit_code
                ),
                None => format!("{} running (restartCount {restarts})", c.name),
            }
        })
        .collect();
    evidence.push(api(
        obs,
        format!(
            "containerStatuses: {}; the exit is statusUpdate's to report",
            words.join(", ")
        ),
        Some(s.at_ms),
    ));
    if let Probe::Seen(rt) = &obs.runtime {
        for (name, id, state) in &rt.containers {
            evidence.push(from(
                Source::Cri,
                &rt.provider,
                format!(
                    "ContainerStatus {} ({name}): {}",
                    short(id),
                    state.to_uppercase()
                ),
                rt.at_ms,
            ));
        }
    }
    Some(result(
        Stage::CriLaunch,
        true,
        format!("{} container(s) started, then exited", statuses.len()),
        Some(started.at_ms),
        evidence,
    ))
}

/// The kubelet's Events for attempts it retries.
const RETRIED: &[&str] = &["FailedCreatePodSandBox", "Failed", "BackOff"];

/// The kubelet's attempts that failed before `until`, of these `reasons`: a refused sandbox, a failed pull or
/// container. A real kubelet retries each on its next sync, so they are evidence of the
/// path, not its end.
fn failed_attempts(obs: &Observation, until: f64, reasons: &[&str]) -> Vec<Evidence> {
    obs.events
        .iter()
        .filter(|e| e.warning && e.at_ms <= until && reasons.contains(&e.reason.as_str()))
        .map(|e| {
            api(
                obs,
                format!(
                    "attempt failed, the kubelet retries: {} from {}: {}",
                    e.reason, e.component, e.message
                ),
                Some(e.at_ms),
            )
        })
        .collect()
}

/// The case expects the pull to fail: a container waits for its image with `words` in the
/// message, and the kubelet said so in a `Failed` event.
fn pull_fails(obs: &Observation, words: &str) -> StageResult {
    // Every failed pull seen; the one in the expected words if any (a registry's 429 may
    // come first, and the kubelet pulls again).
    let failures: Vec<(f64, String, String, String)> = obs
        .sightings
        .iter()
        .filter_map(|s| {
            s.pod
                .status
                .as_ref()?
                .container_statuses
                .as_ref()?
                .iter()
                .find_map(|c| {
                    let w = c.state.as_ref()?.waiting.as_ref()?;
                    let reason = w.reason.as_deref()?;
                    let message = w.message.as_deref().unwrap_or_default();
                    matches!(reason, "ErrImagePull" | "ImagePullBackOff").then(|| {
                        (
                            s.at_ms,
                            c.name.clone(),
                            reason.to_string(),
                            message.to_string(),
                        )
                    })
                })
        })
        .collect();
    let waiting = failures
        .iter()
        .find(|f| f.3.contains(words))
        .or(failures.first())
        .cloned();
    let failed_pull = obs.events.iter().find(|e| {
        e.warning && e.reason == "Failed" && e.message.starts_with("Failed to pull image")
    });
    // The failed pulls are the expectation itself; a refused sandbox before them is not.
    let mut evidence = failed_attempts(obs, f64::INFINITY, &["FailedCreatePodSandBox"]);
    if let Some((at, name, reason, message)) = &waiting {
        evidence.push(api(
            obs,
            format!("container {name} waiting: {reason}: {message}"),
            Some(*at),
        ));
    }
    if let Some(e) = failed_pull {
        evidence.push(api(
            obs,
            format!("event Failed from {}: {}", e.component, e.message),
            Some(e.at_ms),
        ));
    }
    let Some((at, name, reason, message)) = waiting else {
        let r = result(
            Stage::CriLaunch,
            false,
            "no container waits for its image".into(),
            None,
            evidence,
        );
        return failed(
            r,
            "the image pull did not fail",
            "the case expects ErrImagePull or ImagePullBackOff: is the image in a registry the nodes reach?",
        );
    };
    let r = result(
        Stage::CriLaunch,
        true,
        format!("{name}: {reason}"),
        Some(at),
        evidence,
    );
    if !message.contains(words) {
        return failed(
            r,
            format!("the pull failed, but not with {words:?}: {message}"),
            "the runtime's error is not the one the case expects",
        );
    }
    if failed_pull.is_none() {
        return failed(
            r,
            "no Failed event for the pull",
            "the kubelet records `Failed to pull image` when a pull fails",
        );
    }
    r
}

/// The pull behind the containers' images: the kubelet's Pulling event, and the manifest the
/// registry served, which must be the image each container reports (`imageID`) when the
/// kubelet says it pulled one. Returns the containers whose image the registry did not serve.
fn pull_evidence(
    obs: &Observation,
    statuses: &[ContainerStatus],
    evidence: &mut Vec<Evidence>,
) -> Vec<String> {
    let mut unserved = Vec::new();
    if let Some(e) = obs.events.iter().find(|e| e.reason == "Pulling") {
        evidence.push(api(
            obs,
            format!("event Pulling from {}: {}", e.component, e.message),
            Some(e.at_ms),
        ));
    }
    let pulled = obs
        .events
        .iter()
        .any(|e| e.reason == "Pulled" && e.message.starts_with("Successfully pulled"));
    let registry = match &obs.registry {
        Probe::Seen(r) => r,
        Probe::Unavailable(why) => {
            evidence.push(unavailable(Source::Registry, why));
            return unserved;
        }
    };
    for c in statuses {
        let id = c.image_id.as_str();
        let (repository, digest) = id.split_once('@').unwrap_or((id, ""));
        let served: Vec<&(String, String, String)> = registry
            .served
            .iter()
            .filter(|(r, _, d)| r == repository && d == digest)
            .collect();
        // The resolve names the tag; the fetch that follows, the digest.
        let asked = served
            .iter()
            .find(|(_, reference, _)| !reference.starts_with("sha256:"))
            .or(served.first());
        match asked {
            Some((r, reference, d)) => evidence.push(from(
                Source::Registry,
                &registry.provider,
                format!("served {r}:{reference} as {d}, the imageID of {}", c.name),
                registry.at_ms,
            )),
            None if pulled => unserved.push(format!(
                "container {} reports image {id:?}, which the registry did not serve in this run",
                c.name
            )),
            None => evidence.push(from(
                Source::Registry,
                &registry.provider,
                format!("no pull of {repository} in this run: the node had the image"),
                registry.at_ms,
            )),
        }
    }
    unserved
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
    use crate::suite::CriLaunchExpectation;

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
        Some("the runtime (containerd 2.0.4) reports container app as exited"),
        Some("the status is not backed by the runtime")
    )]
    #[case::runtime_does_not_know_the_id(
        |o: &mut Observation| runtime_read(o).containers[0].1 = "fedcba9876543210".into(),
        StageStatus::Failed,
        Some("the runtime (containerd 2.0.4) does not know container app (0123456789abc)"),
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
    #[case::pulled_and_served(
        |o: &mut Observation| pulled(o, "sha256:00"),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::pulled_but_not_served(
        |o: &mut Observation| pulled(o, "sha256:ff"),
        StageStatus::Failed,
        Some("container app reports image \"docker.io/library/busybox@sha256:00\", which the registry did not serve in this run"),
        Some("the imageID is not the image pulled")
    )]
    #[case::pulled_without_a_registry_probe(
        |o: &mut Observation| {
            pulled(o, "sha256:ff");
            o.registry = Probe::Unavailable("no registry".into());
        },
        StageStatus::Passed,
        None,
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

    /// The kubelet pulled the image, and the registry served `digest` for it.
    fn pulled(o: &mut Observation, digest: &str) {
        for e in &mut o.events {
            if e.reason == "Pulled" {
                e.message =
                    "Successfully pulled image \"busybox\" in 0.1s (0.1s including waiting)".into();
            }
        }
        o.events.push(event(
            55.0,
            "Pulling",
            "kubelet",
            "Pulling image \"busybox\"",
        ));
        if let Probe::Seen(r) = &mut o.registry {
            r.served = vec![
                (
                    "docker.io/library/busybox".into(),
                    "latest".into(),
                    digest.into(),
                ),
                (
                    "docker.io/library/busybox".into(),
                    digest.into(),
                    digest.into(),
                ),
            ];
        }
    }

    #[test]
    fn cri_launch_cites_the_registry_that_served_the_pull() {
        let mut obs = running();
        pulled(&mut obs, "sha256:00");
        let r = verdict(&Case::new().build(), &obs, Stage::CriLaunch);
        evidence(
            &r,
            Source::Api,
            "event Pulling from kubelet: Pulling image \"busybox\"",
        );
        let e = evidence(
            &r,
            Source::Registry,
            "served docker.io/library/busybox:latest as sha256:00, the imageID of app",
        );
        assert_eq!(e.provider, "podcheck-registry 0.1.0");
        let r = verdict(&Case::new().build(), &running(), Stage::CriLaunch);
        evidence(
            &r,
            Source::Registry,
            "no pull of docker.io/library/busybox in this run: the node had the image",
        );
    }

    #[test]
    fn an_expected_pull_failure_passes_only_in_the_runtimes_words() {
        let expecting = |words: &str| {
            Case::new()
                .cri_launch(CriLaunchExpectation::PullFails(words.into()))
                .build()
        };
        let mut obs = running();
        never_running(&mut obs);
        let mut failed_pull = event(
            85.0,
            "Failed",
            "kubelet",
            "Failed to pull image \"busybox:nope\": rpc error: code = NotFound desc = … not found",
        );
        failed_pull.warning = true;
        obs.events.push(failed_pull);
        let r = verdict(&expecting("busybox:nope"), &obs, Stage::CriLaunch);
        assert_eq!(r.status, StageStatus::Passed, "{r:#?}");
        assert_eq!(r.observed, "app: ImagePullBackOff");
        evidence(
            &r,
            Source::Api,
            "event Failed from kubelet: Failed to pull image",
        );
        let r = verdict(&expecting("unauthorized"), &obs, Stage::CriLaunch);
        assert_eq!(r.status, StageStatus::Failed);
        assert!(r.message.unwrap().contains("not with \"unauthorized\""));
        obs.events.retain(|e| e.reason != "Failed");
        let r = verdict(&expecting("busybox:nope"), &obs, Stage::CriLaunch);
        assert_eq!(r.message.as_deref(), Some("no Failed event for the pull"));
        let r = verdict(&expecting("not found"), &running(), Stage::CriLaunch);
        assert_eq!(r.message.as_deref(), Some("the image pull did not fail"));
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

    /// A fresh node refuses the first sandbox (CNI not ready yet) and a registry answers
    /// 429 once: the kubelet retries both, the stage passes and shows each attempt.
    #[test]
    fn attempts_the_kubelet_retried_are_evidence_not_failures() {
        let mut obs = running();
        let mut attempts = Vec::new();
        for (at, reason, message) in [
            (
                50.0,
                "FailedCreatePodSandBox",
                "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"abc\": cni plugin not initialized",
            ),
            (
                70.0,
                "Failed",
                "Failed to pull image \"busybox\": 429 Too Many Requests - Server message: toomanyrequests",
            ),
        ] {
            let mut e = event(at, reason, "kubelet", message);
            e.warning = true;
            attempts.push(e);
        }
        obs.events.extend(attempts.clone());
        let r = verdict(&Case::new().build(), &obs, Stage::CriLaunch);
        assert_eq!(r.status, StageStatus::Passed, "{r:#?}");
        let first = evidence(
            &r,
            Source::Api,
            "attempt failed, the kubelet retries: FailedCreatePodSandBox from kubelet: Failed to create pod sandbox",
        );
        assert_eq!(first.at_ms, Some(50.0));
        evidence(
            &r,
            Source::Api,
            "attempt failed, the kubelet retries: Failed from kubelet: Failed to pull image \"busybox\": 429",
        );
        never_running(&mut obs);
        obs.events.extend(attempts);
        let r = verdict(&Case::new().build(), &obs, Stage::CriLaunch);
        assert_eq!(r.status, StageStatus::Failed);
        evidence(
            &r,
            Source::Api,
            "attempt failed, the kubelet retries: FailedCreatePodSandBox",
        );
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
