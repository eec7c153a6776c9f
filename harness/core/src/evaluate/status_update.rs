//! statusUpdate: the pod reported Running with every condition True, and the store holds it;
//! where the case asks (`staysReadyFor`), it stayed Ready for that long. A container that
//! exits is the kubelet's to report, so its exits (terminated, restarted, CrashLoopBackOff)
//! are this stage's evidence, in the words `kubectl describe pod` uses.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};

use super::{api, condition, failed, from, phase_of, result, unavailable};
use crate::duration::Duration;
use crate::load::CaseSpec;
use crate::observation::{Observation, PodSighting, Probe};
use crate::path::{self, ReadyWindow};
use crate::result::{Source, StageResult};
use crate::stage::Stage;

/// What the hints say of a container that exits: whose it is and where to look.
const EXIT_HINT: &str = "the kubelet reports what the container did; the app (its command, its configuration) is yours: `kubectl logs POD --previous` shows the last run's output, `kubectl describe pod POD` its Last State";

pub(super) fn status_update(case: &CaseSpec, obs: &Observation) -> StageResult {
    let r = running_and_stored(obs);
    if r.status != crate::result::StageStatus::Passed {
        return r;
    }
    match case.stays_ready_for {
        Some(window) => stays_ready(obs, r, window),
        // Without a window, what was seen while the probes ran still counts.
        None => match path::ready_window(&obs.sightings, f64::INFINITY, obs.observed_ms) {
            ReadyWindow::Broke { from_ms, at } => broke(
                obs,
                r,
                from_ms,
                at,
                "the pod did not stay Ready while it was observed",
            ),
            _ => r,
        },
    }
}

fn running_and_stored(obs: &Observation) -> StageResult {
    let complete = |p: &Pod| {
        let st = p.status.as_ref();
        let cond = |k: &str| condition(p, k).is_some_and(|c| c.status == "True");
        phase_of(p) == Some("Running")
            && cond("Initialized")
            && cond("ContainersReady")
            && cond("Ready")
            && st.and_then(|s| s.pod_ip.as_ref()).is_some()
            && st.and_then(|s| s.host_ip.as_ref()).is_some()
            && st.and_then(|s| s.start_time.as_ref()).is_some()
    };
    let Some(s) = obs.sightings.iter().find(|s| complete(&s.pod)) else {
        if let Some(r) = kept_exiting(obs) {
            return r;
        }
        let last = obs.sightings.last().map(|s| &s.pod);
        let phase = last.and_then(phase_of).unwrap_or("<none>").to_string();
        let not_true: Vec<String> = ["Initialized", "ContainersReady", "Ready"]
            .iter()
            .filter(|k| {
                last.and_then(|p| condition(p, k))
                    .is_none_or(|c| c.status != "True")
            })
            .map(|k| k.to_string())
            .collect();
        let r = result(
            Stage::StatusUpdate,
            false,
            format!("phase {phase}"),
            None,
            vec![api(
                obs,
                format!("last phase {phase}; conditions not True: {not_true:?}"),
                None,
            )],
        );
        return failed(
            r,
            "the pod never reported Running with all conditions True",
            "the kubelet reports status through the apiserver; check that it can patch pods/status",
        );
    };
    let mut evidence = vec![api(
        obs,
        "phase Running; Initialized, ContainersReady, Ready True; podIP, hostIP, startTime set",
        Some(s.at_ms),
    )];
    let persisted = match &obs.store_after_running {
        // kube-apiserver stores protobuf, which etcdctl cannot show as JSON: then the key's
        // revision shows whether the Running state's write is in the store.
        Probe::Seen(read) if read.value.is_none() && read.mod_revision.is_some() => {
            let running_rv: Option<i64> = s
                .pod
                .metadata
                .resource_version
                .as_deref()
                .and_then(|rv| rv.parse().ok());
            let mod_revision = read.mod_revision.unwrap_or_default();
            evidence.push(from(
                Source::Store,
                &read.provider,
                format!(
                    "{} at mod revision {mod_revision}; the Running state was resourceVersion {} (the value is not JSON, so its revision is compared)",
                    read.key,
                    running_rv.map_or("-".into(), |r| r.to_string())
                ),
                read.at_ms,
            ));
            running_rv.is_some_and(|rv| mod_revision >= rv)
        }
        Probe::Seen(read) => {
            let phase = read
                .value
                .as_ref()
                .and_then(|v| v.pointer("/status/phase"))
                .and_then(|v| v.as_str())
                .map(str::to_string);
            evidence.push(from(
                Source::Store,
                &read.provider,
                format!(
                    "{} holds phase {}",
                    read.key,
                    phase.clone().unwrap_or_else(|| "<none>".into())
                ),
                read.at_ms,
            ));
            phase.as_deref() == Some("Running")
        }
        Probe::Unavailable(why) => {
            evidence.push(unavailable(Source::Store, why));
            match &obs.api_after_running {
                Some(a) => {
                    let phase = a
                        .pod
                        .as_ref()
                        .and_then(phase_of)
                        .unwrap_or("<none>")
                        .to_string();
                    evidence.push(api(obs, format!("GET pod → phase {phase} (consistent read, weaker evidence than a store read)"), Some(a.at_ms)));
                    phase == "Running"
                }
                None => false,
            }
        }
    };
    let r = result(
        Stage::StatusUpdate,
        true,
        "Running".into(),
        Some(s.at_ms),
        evidence,
    );
    if persisted {
        r
    } else {
        failed(
            r,
            "the Running status was not found persisted",
            "the apiserver answered the status update but the store does not hold it",
        )
    }
}

/// A pod that never became Ready because a container kept exiting: the exit, as the last
/// sighting that shows one has it.
fn kept_exiting(obs: &Observation) -> Option<StageResult> {
    let (s, exit) = obs
        .sightings
        .iter()
        .rev()
        .find_map(|s| Some((s, exit_of(&s.pod)?)))?;
    let mut evidence = vec![api(obs, describe(&s.pod), Some(s.at_ms))];
    evidence.extend(back_off_event(obs));
    let r = result(
        Stage::StatusUpdate,
        false,
        format!("container {} exited", exit.container),
        Some(s.at_ms),
        evidence,
    );
    Some(failed(
        r,
        format!(
            "the pod never became Ready: container {} {} ({})",
            exit.container,
            if exit.restarts > 0 || exit.waiting.is_some() {
                "keeps exiting"
            } else {
                "exited"
            },
            exit.words()
        ),
        EXIT_HINT,
    ))
}

/// The kubelet's `BackOff` Event (Back-off restarting failed container), if it came.
fn back_off_event(obs: &Observation) -> Option<crate::result::Evidence> {
    let e = obs.events.iter().find(|e| e.reason == "BackOff")?;
    Some(api(
        obs,
        format!("event BackOff from {}: {}", e.component, e.message),
        Some(e.at_ms),
    ))
}

/// `staysReadyFor`: the Ready pod stayed so for `window`, with no container terminated or
/// restarted, as far as the observer watched (`observed_ms`, after the window's watch).
fn stays_ready(obs: &Observation, mut r: StageResult, window: Duration) -> StageResult {
    let window_ms = window.0.as_secs_f64() * 1e3;
    match path::ready_window(&obs.sightings, window_ms, obs.observed_ms) {
        ReadyWindow::Held { from_ms, until_ms } => {
            r.evidence.push(api(
                obs,
                format!(
                    "stayed Running and Ready for {window} (watched from {from_ms:.0} to {:.0} ms): no container terminated or restarted",
                    obs.observed_ms
                ),
                Some(until_ms),
            ));
            r.observed = format!("Running, Ready for {window}");
            r
        }
        ReadyWindow::Broke { from_ms, at } => broke(
            obs,
            r,
            from_ms,
            at,
            &format!("the pod did not stay Ready for {window}"),
        ),
        ReadyWindow::Open { from_ms, .. } => {
            let watched = ((obs.observed_ms - from_ms) / 1e3).max(0.0);
            r.evidence.push(api(
                obs,
                format!(
                    "Ready from {from_ms:.0} ms; watched until {:.0} ms",
                    obs.observed_ms
                ),
                None,
            ));
            failed(
                r,
                format!(
                    "the pod was watched for only {watched:.1} s of its staysReadyFor window ({window})"
                ),
                "the observer stopped before the window ended: the case's time ran out",
            )
        }
        ReadyWindow::NeverReady => failed(
            r,
            "the pod was never Running and Ready, so it could not stay so",
            "the kubelet reports Ready once every container runs (and passes its readiness probe)",
        ),
    }
}

/// The pod left Ready (Ready from `from_ms`) at sighting `at`: the failure, `headline`
/// first, with the sighting and the kubelet's next report as evidence.
fn broke(
    obs: &Observation,
    mut r: StageResult,
    from_ms: f64,
    at: usize,
    headline: &str,
) -> StageResult {
    let broke = &obs.sightings[at];
    let what = what_broke(&obs.sightings, at);
    let after = (broke.at_ms - from_ms) / 1e3;
    r.evidence
        .push(api(obs, describe(&broke.pod), Some(broke.at_ms)));
    // The kubelet goes on: a restart, CrashLoopBackOff, seen before the observer stopped.
    if let Some(last) = obs.sightings.last().filter(|l| l.at_ms > broke.at_ms) {
        r.evidence.push(api(
            obs,
            format!("then {}", describe(&last.pod)),
            Some(last.at_ms),
        ));
    }
    r.evidence.extend(back_off_event(obs));
    r.observed = format!("left Ready after {after:.1} s");
    r.at_ms = Some(super::round(broke.at_ms));
    failed(
        r,
        format!("{headline}: {what} {after:.1} s after it became Ready"),
        EXIT_HINT,
    )
}

/// What ended the window at sighting `at`, in words: a container's exit or restart, Ready
/// False, or the deletion.
fn what_broke(sightings: &[PodSighting], at: usize) -> String {
    let p = &sightings[at].pod;
    if sightings[at].kind == "DELETED" {
        return "the pod was deleted".into();
    }
    if let Some(exit) = exit_of(p) {
        let verb = if exit.running_again {
            "restarted after it exited"
        } else {
            "exited"
        };
        return format!("container {} {verb} ({})", exit.container, exit.words());
    }
    match condition(p, "Ready") {
        Some(c) if c.status != "True" => format!(
            "it left Ready ({})",
            c.reason.as_deref().unwrap_or("no reason given")
        ),
        _ => "it left Running".into(),
    }
}

/// A container's exit, as the pod's status shows it: terminated now, or restarted (its
/// last state terminated), or waiting to restart after one.
#[derive(Debug, Clone, PartialEq)]
struct Exit {
    container: String,
    reason: String,
    exit_code: i32,
    restarts: i32,
    /// Running again after the exit.
    running_again: bool,
    /// Waiting to restart (CrashLoopBackOff: back-off 10s …).
    waiting: Option<String>,
}

impl Exit {
    fn words(&self) -> String {
        let mut w = format!("{}, exit code {}", self.reason, self.exit_code);
        if self.restarts > 0 {
            w.push_str(&format!("; restartCount {}", self.restarts));
        }
        if let Some(waiting) = &self.waiting {
            w.push_str(&format!("; {waiting}"));
        }
        w
    }
}

/// The first container that exited, as `p` shows it.
fn exit_of(p: &Pod) -> Option<Exit> {
    let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find_map(|c| {
        let state = c.state.as_ref();
        let (t, running_again) = match (
            state.and_then(|s| s.terminated.as_ref()),
            c.last_state.as_ref().and_then(|s| s.terminated.as_ref()),
        ) {
            (Some(now), _) => (now, false),
            (None, Some(last)) => (last, state.is_some_and(|s| s.running.is_some())),
            (None, None) => return None,
        };
        let waiting = state.and_then(|s| s.waiting.as_ref()).map(|w| {
            let reason = w.reason.clone().unwrap_or_default();
            match w.message.as_deref() {
                Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                _ => reason,
            }
        });
        Some(Exit {
            container: c.name.clone(),
            reason: t.reason.clone().unwrap_or_else(|| "Error".into()),
            exit_code: t.exit_code,
            restarts: c.restart_count,
            running_again,
            waiting,
        })
    })
}

/// Whether a container of a sighting was seen exited: nothing then runs in it (the dns
/// stage's exec cannot), and this stage reports why.
pub(super) fn exited_container(obs: &Observation) -> Option<String> {
    obs.sightings.iter().rev().find_map(|s| {
        let exit = exit_of(&s.pod)?;
        Some(format!(
            "container {} exited ({})",
            exit.container,
            exit.words()
        ))
    })
}

/// The pod's containers and Ready condition as `kubectl describe pod` shows them.
fn describe(p: &Pod) -> String {
    let mut parts: Vec<String> = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(container_words).collect())
        .unwrap_or_default();
    if let Some(c) = condition(p, "Ready") {
        let mut ready = format!("Ready {}", c.status);
        if let Some(t) = &c.last_transition_time {
            ready.push_str(&format!(" since {}", t.0));
        }
        match (&c.reason, &c.message) {
            (Some(reason), Some(message)) => ready.push_str(&format!(" ({reason}: {message})")),
            (Some(reason), None) => ready.push_str(&format!(" ({reason})")),
            _ => {}
        }
        parts.push(ready);
    }
    format!(
        "phase {}; {}",
        phase_of(p).unwrap_or("<none>"),
        parts.join("; ")
    )
}

/// One container: State, Last State, Restart Count.
fn container_words(c: &ContainerStatus) -> String {
    let terminated = |t: &ContainerStateTerminated| {
        let mut w = format!(
            "Terminated ({}, exit code {}",
            t.reason.as_deref().unwrap_or("Error"),
            t.exit_code
        );
        if let Some(f) = &t.finished_at {
            w.push_str(&format!(", finished {}", f.0));
        }
        w.push(')');
        w
    };
    let state = match c.state.as_ref() {
        Some(s) if s.running.is_some() => "Running".to_string(),
        Some(s) => match (&s.terminated, &s.waiting) {
            (Some(t), _) => terminated(t),
            (None, Some(w)) => format!(
                "Waiting ({}{})",
                w.reason.as_deref().unwrap_or_default(),
                w.message
                    .as_deref()
                    .filter(|m| !m.is_empty())
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            (None, None) => "unknown".into(),
        },
        None => "unknown".into(),
    };
    let last = c
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| format!(", Last State {}", terminated(t)))
        .unwrap_or_default();
    format!(
        "container {}: State {state}{last}, Restart Count {}",
        c.name, c.restart_count
    )
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::evaluate::test_support::*;
    use crate::observation::ApiRead;
    use crate::result::StageStatus;

    #[rstest]
    #[case::running_and_persisted(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
    #[case::store_shows_pending(
        |o: &mut Observation| o.store_after_running = Probe::Seen(store_read(Some(42), Some(json!({"status": {"phase": "Pending"}})), 130.0)),
        StageStatus::Failed,
        Some("the Running status was not found persisted"),
        Some("the store does not hold it")
    )]
    // Unreadable, and last written before the Running state's write.
    #[case::store_value_unreadable(
        |o: &mut Observation| {
            let last = o.sightings.len() - 1;
            o.sightings[last].pod.metadata.resource_version = Some("47".into());
            o.store_after_running = Probe::Seen(store_read(Some(42), None, 130.0));
        },
        StageStatus::Failed,
        Some("the Running status was not found persisted"),
        None
    )]
    // A protobuf value: the key's revision stands for it.
    #[case::protobuf_value_at_the_running_revision(
        |o: &mut Observation| {
            let rv = o.sightings.iter().rev().find_map(|s| s.pod.metadata.resource_version.clone()).unwrap();
            let mut read = store_read(Some(42), None, 130.0);
            read.mod_revision = rv.parse().ok();
            o.store_after_running = Probe::Seen(read);
        },
        StageStatus::Passed,
        None,
        None
    )]
    #[case::protobuf_value_before_the_running_revision(
        |o: &mut Observation| {
            let mut read = store_read(Some(42), None, 130.0);
            read.mod_revision = Some(1);
            o.store_after_running = Probe::Seen(read);
        },
        StageStatus::Failed,
        Some("the Running status was not found persisted"),
        None
    )]
    #[case::store_unavailable_api_read_running(
        |o: &mut Observation| {
            o.store_after_running = Probe::Unavailable("no store access".into());
            o.api_after_running = Some(ApiRead { code: 200, pod: Some(web(2)), at_ms: 131.0 });
        },
        StageStatus::Passed,
        None,
        None
    )]
    #[case::store_unavailable_api_read_pending(
        |o: &mut Observation| {
            o.store_after_running = Probe::Unavailable("no store access".into());
            o.api_after_running = Some(ApiRead { code: 200, pod: Some(web(1)), at_ms: 131.0 });
        },
        StageStatus::Failed,
        Some("the Running status was not found persisted"),
        None
    )]
    #[case::store_unavailable_no_api_read(
        |o: &mut Observation| o.store_after_running = Probe::Unavailable("no store access".into()),
        StageStatus::Failed,
        Some("the Running status was not found persisted"),
        None
    )]
    #[case::never_running(
        |o: &mut Observation| o.sightings.truncate(2),
        StageStatus::Failed,
        Some("the pod never reported Running with all conditions True"),
        Some("check that it can patch pods/status")
    )]
    #[case::running_but_not_ready(
        |o: &mut Observation| {
            let cs = o.sightings[2].pod.status.as_mut().and_then(|s| s.conditions.as_mut());
            if let Some(cs) = cs {
                for c in cs.iter_mut().filter(|c| c.type_ == "Ready") {
                    c.status = "False".into();
                }
            }
        },
        StageStatus::Failed,
        Some("the pod never reported Running with all conditions True"),
        None
    )]
    #[case::running_without_start_time(
        |o: &mut Observation| {
            if let Some(st) = o.sightings[2].pod.status.as_mut() {
                st.start_time = None;
            }
        },
        StageStatus::Failed,
        Some("the pod never reported Running with all conditions True"),
        None
    )]
    fn status_update_verdicts(
        #[case] vary: fn(&mut Observation),
        #[case] status: StageStatus,
        #[case] message: Option<&str>,
        #[case] hint: Option<&str>,
    ) {
        assert_varied(
            &Case::new().build(),
            Stage::StatusUpdate,
            vary,
            status,
            message,
            hint,
        );
    }

    #[test]
    fn status_update_cites_the_store() {
        let r = verdict(&Case::new().build(), &running(), Stage::StatusUpdate);
        assert_eq!(r.observed, "Running");
        assert_eq!(r.at_ms, Some(120.0));
        evidence(
            &r,
            Source::Api,
            "phase Running; Initialized, ContainersReady, Ready True",
        );
        let store = evidence(&r, Source::Store, &format!("{KEY} holds phase Running"));
        assert_eq!(store.at_ms, Some(130.0));
    }

    #[test]
    fn status_update_from_an_api_read_says_the_evidence_is_weaker() {
        let mut obs = running();
        obs.store_after_running = Probe::Unavailable("no store access".into());
        obs.api_after_running = Some(ApiRead {
            code: 200,
            pod: Some(web(2)),
            at_ms: 131.0,
        });
        let r = verdict(&Case::new().build(), &obs, Stage::StatusUpdate);
        evidence(&r, Source::Store, "probe unavailable: no store access");
        evidence(
            &r,
            Source::Api,
            "GET pod → phase Running (consistent read, weaker evidence than a store read)",
        );
    }

    #[test]
    fn status_update_names_the_conditions_that_were_not_true() {
        let mut obs = running();
        obs.sightings.truncate(2);
        let r = verdict(&Case::new().build(), &obs, Stage::StatusUpdate);
        assert_eq!(r.observed, "phase Pending");
        assert_eq!(r.at_ms, None);
        evidence(
            &r,
            Source::Api,
            r#"last phase Pending; conditions not True: ["Initialized", "ContainersReady", "Ready"]"#,
        );
    }

    // --- staysReadyFor and exits ---------------------------------------------------------

    /// `running()` watched for a 5s window after Ready (at 120), with `after` seen after it.
    fn watched(after: Vec<PodSighting>) -> Observation {
        let mut o = running();
        o.sightings.extend(after);
        o.observed_ms = 5130.0;
        o
    }

    #[rstest]
    #[case::held(vec![], 5130.0, StageStatus::Passed, None)]
    #[case::exited(
        vec![sighting(2100.0, "MODIFIED", web_exited(0, false))],
        2100.0,
        StageStatus::Failed,
        Some("the pod did not stay Ready for 5s: container app exited (Error, exit code 1) 2.0 s after it became Ready")
    )]
    // Restarted between two sightings: Ready again, restartCount 1.
    #[case::restarted(
        vec![sighting(3120.0, "MODIFIED", web_exited(1, true))],
        3200.0,
        StageStatus::Failed,
        Some("container app restarted after it exited (Error, exit code 1; restartCount 1) 3.0 s after it became Ready")
    )]
    #[case::watched_too_short(vec![], 2000.0, StageStatus::Failed, Some("the pod was watched for only 1.9 s of its staysReadyFor window (5s)"))]
    fn status_update_with_a_window(
        #[case] after: Vec<PodSighting>,
        #[case] observed_ms: f64,
        #[case] status: StageStatus,
        #[case] message: Option<&str>,
    ) {
        let mut obs = watched(after);
        obs.observed_ms = observed_ms;
        let r = verdict(
            &Case::new().stays_ready_for("5s").build(),
            &obs,
            Stage::StatusUpdate,
        );
        assert_verdict(&r, status, message, None);
    }

    #[test]
    fn a_window_that_held_says_how_long_it_was_watched() {
        let r = verdict(
            &Case::new().stays_ready_for("5s").build(),
            &watched(vec![]),
            Stage::StatusUpdate,
        );
        assert_eq!(r.observed, "Running, Ready for 5s");
        assert_eq!(r.at_ms, Some(120.0));
        evidence(
            &r,
            Source::Api,
            "stayed Running and Ready for 5s (watched from 120 to 5130 ms): no container terminated or restarted",
        );
    }

    #[test]
    fn an_exit_in_the_window_shows_what_kubectl_describe_shows() {
        let mut obs = watched(vec![
            sighting(2100.0, "MODIFIED", web_exited(0, false)),
            sighting(2400.0, "MODIFIED", web_exited(1, false)),
        ]);
        obs.events.push(event(
            2450.0,
            "BackOff",
            "kubelet",
            "Back-off restarting failed container app in pod web_team(uid-web)",
        ));
        obs.observed_ms = 2100.0;
        let r = verdict(
            &Case::new().stays_ready_for("5s").build(),
            &obs,
            Stage::StatusUpdate,
        );
        assert_eq!(r.observed, "left Ready after 2.0 s");
        assert_eq!(r.at_ms, Some(2100.0));
        assert!(
            r.hint
                .as_deref()
                .unwrap()
                .contains("kubectl logs POD --previous")
        );
        evidence(
            &r,
            Source::Api,
            "phase Running; container app: State Terminated (Error, exit code 1, finished 2025-01-01T00:00:03Z), Restart Count 0; Ready False since 2025-01-01T00:00:03Z",
        );
        evidence(
            &r,
            Source::Api,
            "(ContainersNotReady: containers with unready status: [app])",
        );
        evidence(
            &r,
            Source::Api,
            "then phase Running; container app: State Waiting (CrashLoopBackOff: back-off 10s restarting failed container=app pod=web_team(uid-web)), Last State Terminated (Error, exit code 1, finished 2025-01-01T00:00:03Z), Restart Count 1",
        );
        evidence(
            &r,
            Source::Api,
            "event BackOff from kubelet: Back-off restarting failed container app",
        );
    }

    #[test]
    fn without_a_window_an_exit_seen_while_observed_still_counts() {
        // Ready, then exited while the probes ran (an app that exits at once).
        let r = verdict(
            &Case::new().build(),
            &watched(vec![sighting(400.0, "MODIFIED", web_exited(0, false))]),
            Stage::StatusUpdate,
        );
        assert_verdict(
            &r,
            StageStatus::Failed,
            Some(
                "the pod did not stay Ready while it was observed: container app exited (Error, exit code 1) 0.3 s after it became Ready",
            ),
            Some("kubectl logs POD --previous"),
        );
    }

    /// A container that exits before the pod is ever Ready: CrashLoopBackOff.
    fn crash_looping() -> Observation {
        let mut o = running();
        o.sightings.truncate(2);
        o.sightings
            .push(sighting(300.0, "MODIFIED", web_exited(0, false)));
        o.sightings
            .push(sighting(1300.0, "MODIFIED", web_exited(2, false)));
        o.store_after_running = Probe::Unavailable("the pod never ran".into());
        o.dns = Probe::Unavailable("the pod never ran".into());
        o.timed_out = true;
        o
    }

    #[test]
    fn a_container_that_keeps_exiting_fails_status_update_not_dns() {
        let results = crate::evaluate::evaluate(&Case::new().build(), &crash_looping());
        let dns = of(&results, Stage::Dns);
        assert_eq!(dns.status, StageStatus::Skipped, "{dns:#?}");
        assert_eq!(
            dns.message.as_deref(),
            Some(
                "not checked: container app exited (Error, exit code 1; restartCount 2; CrashLoopBackOff: back-off 10s restarting failed container=app pod=web_team(uid-web)), so nothing could run in the pod; statusUpdate reports it"
            )
        );
        // The kubelet and the runtime started it: criLaunch did its part.
        let cri = of(&results, Stage::CriLaunch);
        assert_eq!(cri.status, StageStatus::Passed, "{cri:#?}");
        assert_eq!(cri.observed, "1 container(s) started, then exited");
        evidence(
            cri,
            Source::Api,
            "containerStatuses: app exited after it started (Error, exit code 1; restartCount 2)",
        );
        let first_failed = results.iter().find(|r| r.status == StageStatus::Failed);
        assert_eq!(first_failed.map(|r| r.stage), Some(Stage::StatusUpdate));
        let r = of(&results, Stage::StatusUpdate);
        assert_verdict(
            r,
            StageStatus::Failed,
            Some(
                "the pod never became Ready: container app keeps exiting (Error, exit code 1; restartCount 2; CrashLoopBackOff",
            ),
            Some("the app (its command, its configuration) is yours"),
        );
        assert_eq!(r.observed, "container app exited");
        evidence(r, Source::Api, "Last State Terminated (Error, exit code 1");
    }

    #[test]
    fn dns_that_failed_in_a_running_pod_is_still_a_dns_failure() {
        // The exec failed, yet no container exited: the dns stage's own failure.
        let mut obs = running();
        obs.dns = Probe::Unavailable("no exec".into());
        let r = verdict(&Case::new().build(), &obs, Stage::Dns);
        assert_eq!(r.status, StageStatus::Failed);
    }
}
