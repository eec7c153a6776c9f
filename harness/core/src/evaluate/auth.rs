//! auth: whether the apiserver answered the create as the case expects (created, denied
//! with a code, or invalid at a field), and that a denied pod never reached the store.

use super::{api, failed, from, result};
use crate::load::CaseSpec;
use crate::observation::{Observation, Probe};
use crate::result::{Evidence, Source, StageResult, StageStatus};
use crate::stage::Stage;
use crate::suite::AuthExpectation;

pub(super) fn auth(case: &CaseSpec, obs: &Observation) -> StageResult {
    let c = &obs.create;
    let status_words = match (&c.reason, &c.message) {
        (Some(reason), Some(message)) => format!("{} {reason}: {message}", c.code),
        _ => format!("{} {}", c.code, if c.code == 201 { "Created" } else { "" })
            .trim()
            .to_string(),
    };
    let mut evidence = vec![api(
        obs,
        format!("POST pods as {} → {status_words}", obs.identity),
        Some(c.at_ms),
    )];
    if let Some(g) = &obs.grant {
        let how = if g.allowed { "live" } else { "still not live" };
        evidence.push(api(
            obs,
            format!(
                "RBAC grant to {} {how} after {:.0} ms ({} SelfSubjectAccessReview(s) as {} before the create)",
                g.asked, g.waited_ms, g.reviews, obs.identity
            ),
            None,
        ));
    }
    let stored = stored_after_create(obs);
    match (&stored, c.code) {
        (Some((true, ev)), _) | (Some((false, ev)), _) => evidence.push(ev.clone()),
        _ => {}
    }
    let expectation = case.expect.auth.clone().unwrap_or(AuthExpectation::Allowed);
    let r = result(
        Stage::Auth,
        false,
        status_words.clone(),
        Some(c.at_ms),
        evidence,
    );
    match expectation {
        AuthExpectation::Allowed | AuthExpectation::Skip(_) => {
            if c.code == 201 {
                StageResult {
                    status: StageStatus::Passed,
                    ..r
                }
            } else {
                let hint = match c.code {
                    401 => {
                        "the apiserver did not recognise the credentials: check the token or certificate of this identity"
                    }
                    403 => {
                        "the identity is authenticated but not authorized: check its RBAC Roles and bindings for `create pods`"
                    }
                    422 => "the pod is invalid: fix the fields named in the causes",
                    _ => "look at the Status message for the apiserver's reason",
                };
                failed(r, format!("the create was rejected: {status_words}"), hint)
            }
        }
        AuthExpectation::Denied(code) => {
            let mut r = r;
            if anonymous_forbidden(obs, code) {
                // kube-apiserver's default (kind and kubeadm leave it on): a request without
                // credentials is authenticated as system:anonymous, and RBAC refuses it.
                r.evidence.push(api(
                    obs,
                    "anonymous auth is on: the request ran as system:anonymous and RBAC answered 403, which is the denial a 401 expects",
                    Some(c.at_ms),
                ));
            } else if c.code != code {
                return failed(
                    r,
                    format!(
                        "expected the create to be denied with {code}, but the apiserver answered {status_words}"
                    ),
                    "check authentication (401) or authorization (403) for this identity",
                );
            }
            match stored {
                Some((true, _)) => failed(
                    r,
                    "the request was denied, yet the pod is in the store",
                    "a rejected request must not reach the store: the apiserver wrote before it checked",
                ),
                Some((false, _)) => StageResult {
                    status: StageStatus::Passed,
                    ..r
                },
                None => failed(
                    r,
                    "denied as expected, but nothing could confirm that the store is untouched",
                    "the observer needs a store probe or an admin API read",
                ),
            }
        }
        AuthExpectation::Invalid(field) => {
            let named = c.causes.iter().any(|(f, _)| {
                f == &field
                    || f.starts_with(&format!("{field}."))
                    || f.starts_with(&format!("{field}["))
            });
            if c.code == 422 && named {
                StageResult {
                    status: StageStatus::Passed,
                    ..r
                }
            } else if c.code == 422 {
                let fields: Vec<&str> = c.causes.iter().map(|(f, _)| f.as_str()).collect();
                failed(
                    r,
                    format!("rejected as invalid, but the causes name {fields:?}, not {field}"),
                    "the expected field is not what the apiserver objects to",
                )
            } else {
                failed(
                    r,
                    format!("expected 422 Invalid at {field}, observed {status_words}"),
                    "the apiserver's validation accepted what the case expects it to reject",
                )
            }
        }
    }
}

/// Whether a case that expects a request without credentials to be refused (401) met an
/// apiserver with anonymous auth on: 403 for `system:anonymous`, as its Status says.
fn anonymous_forbidden(obs: &Observation, expected: u16) -> bool {
    let c = &obs.create;
    expected == 401
        && obs.identity == "none"
        && c.code == 403
        && c.message
            .as_deref()
            .is_some_and(|m| m.contains("\"system:anonymous\""))
}

/// Whether the pod reached the store after the create, and the evidence that says so.
fn stored_after_create(obs: &Observation) -> Option<(bool, Evidence)> {
    match &obs.store_after_create {
        Probe::Seen(read) => {
            let present = read.create_revision.is_some();
            let detail = if present {
                format!("{} is present", read.key)
            } else {
                format!("{} is absent", read.key)
            };
            Some((
                present,
                from(Source::Store, &read.provider, detail, read.at_ms),
            ))
        }
        Probe::Unavailable(_) => obs.api_after_create.as_ref().map(|a| {
            let present = a.code == 200;
            (
                present,
                api(
                    obs,
                    format!(
                        "GET pod as admin → {} (consistent read; weaker than a store read)",
                        a.code
                    ),
                    Some(a.at_ms),
                ),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::evaluate::evaluate;
    use crate::evaluate::test_support::*;
    use crate::observation::CreateOutcome;

    fn created() -> CreateOutcome {
        running().create
    }

    #[rstest]
    #[case::allowed_201(None, created(), Stored::Present, StageStatus::Passed, None, None)]
    #[case::explicitly_allowed_201(
        Some(AuthExpectation::Allowed),
        created(),
        Stored::Present,
        StageStatus::Passed,
        None,
        None
    )]
    #[case::allowed_but_401(
        None,
        rejected(401, "Unauthorized", "Unauthorized"),
        Stored::Absent,
        StageStatus::Failed,
        Some("the create was rejected: 401 Unauthorized: Unauthorized"),
        Some("did not recognise the credentials")
    )]
    #[case::allowed_but_403(
        None,
        rejected(
            403,
            "Forbidden",
            "pods is forbidden: User \"alice\" cannot create resource \"pods\""
        ),
        Stored::Absent,
        StageStatus::Failed,
        Some("the create was rejected: 403 Forbidden: pods is forbidden"),
        Some("check its RBAC Roles and bindings for `create pods`")
    )]
    #[case::allowed_but_422(
        None,
        invalid("spec.containers[0].image"),
        Stored::Absent,
        StageStatus::Failed,
        Some("the create was rejected: 422 Invalid: Pod \"web\" is invalid"),
        Some("fix the fields named in the causes")
    )]
    #[case::allowed_but_500(
        None,
        rejected(500, "InternalError", "etcdserver: request timed out"),
        Stored::Absent,
        StageStatus::Failed,
        Some("500 InternalError"),
        Some("look at the Status message")
    )]
    #[case::denied_and_key_absent(
        Some(AuthExpectation::Denied(401)),
        rejected(401, "Unauthorized", "Unauthorized"),
        Stored::Absent,
        StageStatus::Passed,
        None,
        None
    )]
    #[case::denied_but_key_present(
        Some(AuthExpectation::Denied(401)),
        rejected(401, "Unauthorized", "Unauthorized"),
        Stored::Present,
        StageStatus::Failed,
        Some("the request was denied, yet the pod is in the store"),
        Some("the apiserver wrote before it checked")
    )]
    #[case::denied_and_admin_read_404(
        Some(AuthExpectation::Denied(403)),
        rejected(403, "Forbidden", "pods is forbidden"),
        Stored::ApiRead(404),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::denied_but_admin_read_200(
        Some(AuthExpectation::Denied(403)),
        rejected(403, "Forbidden", "pods is forbidden"),
        Stored::ApiRead(200),
        StageStatus::Failed,
        Some("yet the pod is in the store"),
        None
    )]
    #[case::denied_without_evidence(
        Some(AuthExpectation::Denied(401)),
        rejected(401, "Unauthorized", "Unauthorized"),
        Stored::Nothing,
        StageStatus::Failed,
        Some("nothing could confirm that the store is untouched"),
        Some("needs a store probe or an admin API read")
    )]
    #[case::denied_but_created(
        Some(AuthExpectation::Denied(401)),
        created(),
        Stored::Present,
        StageStatus::Failed,
        Some("expected the create to be denied with 401, but the apiserver answered 201 Created"),
        Some("check authentication (401) or authorization (403)")
    )]
    #[case::denied_with_another_code(
        Some(AuthExpectation::Denied(403)),
        rejected(401, "Unauthorized", "Unauthorized"),
        Stored::Absent,
        StageStatus::Failed,
        Some("denied with 403, but the apiserver answered 401 Unauthorized"),
        None
    )]
    #[case::invalid_at_the_named_field(
        Some(AuthExpectation::Invalid("spec.containers[0].image".into())),
        invalid("spec.containers[0].image"),
        Stored::Absent,
        StageStatus::Passed,
        None,
        None
    )]
    #[case::invalid_below_the_named_field(
        Some(AuthExpectation::Invalid("spec.containers[0]".into())),
        invalid("spec.containers[0].image"),
        Stored::Absent,
        StageStatus::Passed,
        None,
        None
    )]
    #[case::invalid_at_an_index_of_the_named_field(
        Some(AuthExpectation::Invalid("spec.containers".into())),
        invalid("spec.containers[0].image"),
        Stored::Absent,
        StageStatus::Passed,
        None,
        None
    )]
    #[case::invalid_at_another_field(
        Some(AuthExpectation::Invalid("spec.containers[0].image".into())),
        invalid("spec.containers[0].name"),
        Stored::Absent,
        StageStatus::Failed,
        Some(r#"the causes name ["spec.containers[0].name"], not spec.containers[0].image"#),
        Some("the expected field is not what the apiserver objects to")
    )]
    #[case::invalid_at_a_field_sharing_a_prefix(
        Some(AuthExpectation::Invalid("spec.containers[0].image".into())),
        invalid("spec.containers[0].imagePullPolicy"),
        Stored::Absent,
        StageStatus::Failed,
        Some("not spec.containers[0].image"),
        None
    )]
    #[case::invalid_but_created(
        Some(AuthExpectation::Invalid("spec.containers[0].image".into())),
        created(),
        Stored::Present,
        StageStatus::Failed,
        Some("expected 422 Invalid at spec.containers[0].image, observed 201 Created"),
        Some("validation accepted what the case expects it to reject")
    )]
    #[case::invalid_but_forbidden(
        Some(AuthExpectation::Invalid("spec.containers[0].image".into())),
        rejected(403, "Forbidden", "pods is forbidden"),
        Stored::Absent,
        StageStatus::Failed,
        Some("expected 422 Invalid at spec.containers[0].image, observed 403 Forbidden"),
        None
    )]
    fn auth_verdicts(
        #[case] expect: Option<AuthExpectation>,
        #[case] create: CreateOutcome,
        #[case] stored: Stored,
        #[case] status: StageStatus,
        #[case] message: Option<&str>,
        #[case] hint: Option<&str>,
    ) {
        let case = Case::new().auth(expect).build();
        let mut obs = running();
        obs.create = create;
        with_stored(&mut obs, stored);
        let r = verdict(&case, &obs, Stage::Auth);
        assert_verdict(&r, status, message, hint);
        let post = evidence(&r, Source::Api, "POST pods as admin → ");
        assert_eq!(post.provider, "kube-apiserver");
        assert_eq!(post.at_ms, Some(obs.create.at_ms));
        assert_eq!(r.at_ms, Some(obs.create.at_ms));
    }

    #[test]
    fn the_wait_for_the_rbac_grant_is_evidence() {
        let mut obs = running();
        obs.grant = Some(crate::observation::GrantWait {
            asked: "create pods in team".into(),
            allowed: true,
            waited_ms: 512.4,
            reviews: 4,
        });
        let r = verdict(&Case::new().build(), &obs, Stage::Auth);
        assert_eq!(r.status, StageStatus::Passed);
        evidence(
            &r,
            Source::Api,
            "RBAC grant to create pods in team live after 512 ms (4 SelfSubjectAccessReview(s) as admin before the create)",
        );
    }

    #[test]
    fn a_denial_confirmed_by_a_store_read_cites_the_store() {
        let case = Case::new().auth(Some(AuthExpectation::Denied(401))).build();
        let mut obs = running();
        obs.create = rejected(401, "Unauthorized", "Unauthorized");
        with_stored(&mut obs, Stored::Absent);
        let r = verdict(&case, &obs, Stage::Auth);
        let store = evidence(&r, Source::Store, &format!("{KEY} is absent"));
        assert_eq!(store.provider, "etcd 3.5.21");
        assert!(store.real);
        assert_eq!(r.observed, "401 Unauthorized: Unauthorized");
    }

    #[test]
    fn without_credentials_a_403_for_system_anonymous_is_the_denial_a_401_expects() {
        let case = Case::new().auth(Some(AuthExpectation::Denied(401))).build();
        let forbidden = rejected(
            403,
            "Forbidden",
            "pods is forbidden: User \"system:anonymous\" cannot create resource \"pods\" in API group \"\" in the namespace \"team\"",
        );
        let mut obs = running();
        obs.identity = "none".into();
        obs.create = forbidden.clone();
        with_stored(&mut obs, Stored::Absent);
        let r = verdict(&case, &obs, Stage::Auth);
        assert_verdict(&r, StageStatus::Passed, None, None);
        evidence(&r, Source::Api, "anonymous auth is on");
        // Still nothing may be stored.
        with_stored(&mut obs, Stored::Present);
        let r = verdict(&case, &obs, Stage::Auth);
        assert_eq!(r.status, StageStatus::Failed);
        // A named identity's 403 is no anonymous one; nor is another user's.
        let mut named = running();
        named.create = forbidden;
        with_stored(&mut named, Stored::Absent);
        assert_eq!(
            verdict(&case, &named, Stage::Auth).status,
            StageStatus::Failed
        );
        let mut other = running();
        other.identity = "none".into();
        other.create = rejected(
            403,
            "Forbidden",
            "pods is forbidden: User \"mallory\" cannot",
        );
        with_stored(&mut other, Stored::Absent);
        assert_eq!(
            verdict(&case, &other, Stage::Auth).status,
            StageStatus::Failed
        );
    }

    #[test]
    fn a_denial_confirmed_by_an_admin_read_says_the_evidence_is_weaker() {
        let case = Case::new().auth(Some(AuthExpectation::Denied(401))).build();
        let mut obs = running();
        obs.create = rejected(401, "Unauthorized", "Unauthorized");
        with_stored(&mut obs, Stored::ApiRead(404));
        let r = verdict(&case, &obs, Stage::Auth);
        assert_verdict(&r, StageStatus::Passed, None, None);
        let read = evidence(&r, Source::Api, "GET pod as admin → 404");
        assert!(read.detail.contains("weaker than a store read"), "{read:?}");
        assert!(!r.evidence.iter().any(|e| e.source == Source::Store));
    }

    #[rstest]
    #[case::unauthorized(
        AuthExpectation::Denied(401),
        rejected(401, "Unauthorized", "Unauthorized")
    )]
    #[case::forbidden(
        AuthExpectation::Denied(403),
        rejected(403, "Forbidden", "pods is forbidden")
    )]
    #[case::invalid(
        AuthExpectation::Invalid("spec.containers[0].image".into()),
        invalid("spec.containers[0].image")
    )]
    #[case::unexpectedly_rejected(AuthExpectation::Allowed, rejected(403, "Forbidden", "no"))]
    fn later_stages_are_skipped_when_the_create_was_not_201(
        #[case] expect: AuthExpectation,
        #[case] create: CreateOutcome,
    ) {
        let case = Case::new().auth(Some(expect)).build();
        let mut obs = unscheduled();
        let code = create.code;
        obs.create = create;
        obs.sightings.clear();
        obs.events.clear();
        with_stored(&mut obs, Stored::Absent);
        let results = evaluate(&case, &obs);
        assert_eq!(results.len(), 8);
        assert_later_skipped(
            &results,
            Stage::Auth,
            &format!("the pod was not created: the apiserver answered {code}"),
        );
        assert_eq!(of(&results, Stage::EtcdWrite).expected, "pass");
    }

    #[test]
    fn a_created_pod_that_was_expected_denied_is_still_followed() {
        let case = Case::new().auth(Some(AuthExpectation::Denied(401))).build();
        let results = evaluate(&case, &running());
        assert_eq!(of(&results, Stage::Auth).status, StageStatus::Failed);
        for r in results.iter().filter(|r| r.stage != Stage::Auth) {
            assert_eq!(r.status, StageStatus::Passed, "{r:#?}");
        }
    }
}
