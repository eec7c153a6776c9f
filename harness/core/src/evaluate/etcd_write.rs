//! etcdWrite: the created pod is in the store, written at the revision the API answered as
//! its resourceVersion (or, without a store probe, readable back through the API).

use super::{api, failed, from, result, unavailable};
use crate::observation::{Observation, Probe};
use crate::result::{Source, StageResult};
use crate::stage::Stage;

pub(super) fn etcd_write(obs: &Observation) -> StageResult {
    let rv = obs.create.resource_version.clone().unwrap_or_default();
    match &obs.store_after_create {
        Probe::Seen(read) => {
            let ev = from(
                Source::Store,
                &read.provider,
                format!(
                    "{} create revision {}, mod revision {}; API resourceVersion {rv}",
                    read.key,
                    revision(read.create_revision),
                    revision(read.mod_revision)
                ),
                read.at_ms,
            );
            let ok = read.create_revision.map(|r| r.to_string()) == Some(rv.clone());
            let r = result(
                Stage::EtcdWrite,
                ok,
                format!(
                    "key written at revision {}",
                    read.create_revision.map_or("-".into(), |r| r.to_string())
                ),
                Some(read.at_ms),
                vec![ev],
            );
            if ok {
                r
            } else if read.create_revision.is_none() {
                failed(
                    r,
                    format!("{} is not in the store", read.key),
                    "the apiserver answered 201 but did not persist the pod",
                )
            } else {
                failed(
                    r,
                    format!(
                        "the key was created at revision {}, but the API answered resourceVersion {rv}",
                        revision(read.create_revision)
                    ),
                    "resourceVersion must be the store revision of the write",
                )
            }
        }
        Probe::Unavailable(why) => {
            let mut evidence = vec![unavailable(Source::Store, why)];
            match &obs.api_after_create {
                Some(a) => {
                    let uid_ok = a
                        .pod
                        .as_ref()
                        .is_some_and(|p| p.metadata.uid == obs.create.uid);
                    evidence.push(api(
                        obs,
                        format!(
                            "GET pod → {} (consistent read, weaker evidence than a store read)",
                            a.code
                        ),
                        Some(a.at_ms),
                    ));
                    let ok = a.code == 200 && uid_ok;
                    let r = result(
                        Stage::EtcdWrite,
                        ok,
                        "readable through the API (store not inspected)".into(),
                        Some(a.at_ms),
                        evidence,
                    );
                    if ok {
                        r
                    } else {
                        failed(
                            r,
                            "the created pod could not be read back",
                            "the write did not persist",
                        )
                    }
                }
                None => failed(
                    result(
                        Stage::EtcdWrite,
                        false,
                        "no evidence".into(),
                        None,
                        evidence,
                    ),
                    "no store probe and no API read",
                    "run against a target with a store probe, or allow the admin to read pods",
                ),
            }
        }
    }
}

/// A revision in words: absent when the key is.
fn revision(r: Option<i64>) -> String {
    r.map_or("- (no such key)".into(), |r| r.to_string())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::evaluate::test_support::*;
    use crate::result::StageStatus;

    #[rstest]
    #[case::revision_matches(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
    #[case::revision_differs(
        |o: &mut Observation| o.store_after_create = Probe::Seen(store_read(Some(41), None, 15.0)),
        StageStatus::Failed,
        Some("the key was created at revision 41, but the API answered resourceVersion 42"),
        Some("resourceVersion must be the store revision of the write")
    )]
    #[case::no_resource_version(
        |o: &mut Observation| o.create.resource_version = None,
        StageStatus::Failed,
        Some("but the API answered resourceVersion "),
        None
    )]
    #[case::key_absent(
        |o: &mut Observation| o.store_after_create = Probe::Seen(store_read(None, None, 15.0)),
        StageStatus::Failed,
        Some("/registry/pods/team/web is not in the store"),
        Some("answered 201 but did not persist the pod")
    )]
    #[case::store_unavailable_api_read_same_uid(
        |o: &mut Observation| with_stored(o, Stored::ApiRead(200)),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::store_unavailable_api_read_other_uid(
        |o: &mut Observation| {
            with_stored(o, Stored::ApiRead(200));
            if let Some(a) = o.api_after_create.as_mut() {
                a.pod = Some(pod(json!({"metadata": {"name": "web", "uid": "uid-someone-else"}})));
            }
        },
        StageStatus::Failed,
        Some("the created pod could not be read back"),
        Some("the write did not persist")
    )]
    #[case::store_unavailable_api_read_404(
        |o: &mut Observation| with_stored(o, Stored::ApiRead(404)),
        StageStatus::Failed,
        Some("the created pod could not be read back"),
        None
    )]
    #[case::store_unavailable_no_api_read(
        |o: &mut Observation| with_stored(o, Stored::Nothing),
        StageStatus::Failed,
        Some("no store probe and no API read"),
        Some("run against a target with a store probe")
    )]
    fn etcd_write_verdicts(
        #[case] vary: fn(&mut Observation),
        #[case] status: StageStatus,
        #[case] message: Option<&str>,
        #[case] hint: Option<&str>,
    ) {
        assert_varied(
            &Case::new().build(),
            Stage::EtcdWrite,
            vary,
            status,
            message,
            hint,
        );
    }

    #[test]
    fn etcd_write_from_the_store_cites_both_revisions() {
        let r = verdict(&Case::new().build(), &running(), Stage::EtcdWrite);
        assert_eq!(r.observed, "key written at revision 42");
        assert_eq!(r.at_ms, Some(15.0));
        let e = evidence(&r, Source::Store, "create revision 42");
        assert!(e.detail.contains("API resourceVersion 42"), "{e:?}");
        assert_eq!(e.provider, "etcd 3.5.21");
    }

    #[test]
    fn etcd_write_from_an_api_read_says_the_evidence_is_weaker() {
        let mut obs = running();
        with_stored(&mut obs, Stored::ApiRead(200));
        let r = verdict(&Case::new().build(), &obs, Stage::EtcdWrite);
        assert_verdict(&r, StageStatus::Passed, None, None);
        assert_eq!(r.observed, "readable through the API (store not inspected)");
        let unavailable = evidence(
            &r,
            Source::Store,
            "probe unavailable: no store access on this target",
        );
        assert!(!unavailable.real);
        let read = evidence(&r, Source::Api, "GET pod → 200");
        assert!(read.detail.contains("weaker evidence"), "{read:?}");
        assert_eq!(read.at_ms, Some(12.0));
    }
}
