//! statusUpdate: the pod reported Running with every condition True, and the store holds it.

use k8s_openapi::api::core::v1::Pod;

use super::{api, condition, failed, from, phase_of, result, unavailable};
use crate::observation::{Observation, Probe};
use crate::result::{Source, StageResult};
use crate::stage::Stage;

pub(super) fn status_update(obs: &Observation) -> StageResult {
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
}
