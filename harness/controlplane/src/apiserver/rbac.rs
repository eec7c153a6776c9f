//! Authorization by RBAC (`rbac.authorization.k8s.io/v1`), as kube-apiserver's RBAC
//! authorizer decides: a request is allowed when a rule of a role bound to the user (or one
//! of its groups, or its ServiceAccount) covers its verb, API group, resource (with
//! subresource) and name. `system:masters` is allowed everything before RBAC is asked.
//!
//! Non-resource paths (`/metrics`, discovery) are authorized by the `nonResourceURLs`
//! rules of ClusterRoles, as upstream's.
//!
//! The decision is pure ([`Policy::authorize`], [`Policy::authorize_path`]); [`Authorizer`]
//! keeps the policy read from the store, rebuilt after every write to an RBAC object — at
//! once, or a propagation delay later, as kube-apiserver's informer-fed authorizer lags.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::registry::{ListOptions, Registry};
use super::resources;
use super::status::ApiError;
use crate::identity::Identity;
use crate::store::Revision;

pub const GROUP: &str = "rbac.authorization.k8s.io";

/// What is asked: Kubernetes' `authorizer.Attributes` for resource requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Attributes {
    /// kube-apiserver's words for a denial.
    pub fn forbidden_message(&self, user: &str) -> String {
        let resource = match &self.subresource {
            Some(s) => format!("{}/{s}", self.resource),
            None => self.resource.clone(),
        };
        let subject = match &self.name {
            Some(n) => format!("{} \"{n}\"", self.qualified()),
            None => self.qualified(),
        };
        let scope = match &self.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".into(),
        };
        format!(
            "{subject} is forbidden: User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            self.verb, self.api_group
        )
    }

    fn qualified(&self) -> String {
        if self.api_group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.api_group)
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rule {
    verbs: Vec<String>,
    api_groups: Vec<String>,
    resources: Vec<String>,
    resource_names: Vec<String>,
    non_resource_urls: Vec<String>,
}

impl Rule {
    fn parse(v: &Value) -> Rule {
        let list = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Rule {
            verbs: list("verbs"),
            api_groups: list("apiGroups"),
            resources: list("resources"),
            resource_names: list("resourceNames"),
            non_resource_urls: list("nonResourceURLs"),
        }
    }

    /// A non-resource request: the verb, and the path exactly or under a `prefix*` URL.
    fn allows_path(&self, verb: &str, path: &str) -> bool {
        let verb_ok = self.verbs.iter().any(|v| v == "*" || v == verb);
        verb_ok
            && self
                .non_resource_urls
                .iter()
                .any(|u| match u.strip_suffix('*') {
                    Some(prefix) => path.starts_with(prefix),
                    None => u == path,
                })
    }

    fn allows(&self, a: &Attributes) -> bool {
        let any = |l: &[String], x: &str| l.iter().any(|v| v == "*" || v == x);
        let combined = match &a.subresource {
            Some(s) => format!("{}/{s}", a.resource),
            None => a.resource.clone(),
        };
        let resource = self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || a.subresource
                    .as_deref()
                    .is_some_and(|s| r.strip_prefix("*/") == Some(s))
        });
        let name = self.resource_names.is_empty()
            || a.name
                .as_deref()
                .is_some_and(|n| self.resource_names.iter().any(|r| r == n));
        any(&self.verbs, &a.verb) && any(&self.api_groups, &a.api_group) && resource && name
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    /// The RoleBinding's namespace; None for a ClusterRoleBinding.
    namespace: Option<String>,
    name: String,
    role_kind: String,
    role_name: String,
    subjects: Vec<Value>,
}

impl Binding {
    fn parse(v: &Value, namespaced: bool) -> Option<Binding> {
        Some(Binding {
            namespace: namespaced
                .then(|| {
                    v.pointer("/metadata/namespace")?
                        .as_str()
                        .map(str::to_string)
                })
                .flatten(),
            name: v.pointer("/metadata/name")?.as_str()?.to_string(),
            role_kind: v.pointer("/roleRef/kind")?.as_str()?.to_string(),
            role_name: v.pointer("/roleRef/name")?.as_str()?.to_string(),
            subjects: v
                .get("subjects")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        })
    }

    fn binds(&self, user: &Identity) -> bool {
        self.subjects.iter().any(|s| {
            let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
            match s.get("kind").and_then(Value::as_str) {
                Some("User") => user.user == name,
                Some("Group") => user.groups.iter().any(|g| g == name),
                Some("ServiceAccount") => {
                    let ns = s
                        .get("namespace")
                        .and_then(Value::as_str)
                        .or(self.namespace.as_deref())
                        .unwrap_or_default();
                    user.user == format!("system:serviceaccount:{ns}:{name}")
                }
                _ => false,
            }
        })
    }
}

/// Every Role, ClusterRole and binding, as read from the store.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    roles: HashMap<(String, String), Vec<Rule>>,
    cluster_roles: HashMap<String, Vec<Rule>>,
    bindings: Vec<Binding>,
}

/// Why a request was allowed or denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(String),
    Deny(String),
}

impl Policy {
    /// Builds the policy from the four kinds of RBAC objects.
    pub fn from_objects(
        roles: &[Value],
        cluster_roles: &[Value],
        role_bindings: &[Value],
        cluster_role_bindings: &[Value],
    ) -> Policy {
        let rules = |v: &Value| -> Vec<Rule> {
            v.get("rules")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(Rule::parse).collect())
                .unwrap_or_default()
        };
        let name = |v: &Value, p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Policy {
            roles: roles
                .iter()
                .map(|r| {
                    (
                        (name(r, "/metadata/namespace"), name(r, "/metadata/name")),
                        rules(r),
                    )
                })
                .collect(),
            cluster_roles: cluster_roles
                .iter()
                .map(|r| (name(r, "/metadata/name"), rules(r)))
                .collect(),
            bindings: role_bindings
                .iter()
                .filter_map(|b| Binding::parse(b, true))
                .chain(
                    cluster_role_bindings
                        .iter()
                        .filter_map(|b| Binding::parse(b, false)),
                )
                .collect(),
        }
    }

    /// The RBAC authorizer's decision, with its reason (as in SubjectAccessReview status).
    pub fn authorize(&self, user: &Identity, a: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == "system:masters") {
            return Decision::Allow("system:masters may do everything".into());
        }
        for b in &self.bindings {
            // A RoleBinding grants only in its own namespace.
            if let Some(ns) = &b.namespace
                && a.namespace.as_deref() != Some(ns.as_str())
            {
                continue;
            }
            if !b.binds(user) {
                continue;
            }
            let rules = match (b.role_kind.as_str(), &b.namespace) {
                ("ClusterRole", _) => self.cluster_roles.get(&b.role_name),
                ("Role", Some(ns)) => self.roles.get(&(ns.clone(), b.role_name.clone())),
                _ => None,
            };
            if rules.is_some_and(|rs| rs.iter().any(|r| r.allows(a))) {
                let how = match &b.namespace {
                    Some(ns) => {
                        format!(
                            "RoleBinding \"{}\" of {} \"{}\" to",
                            b.name, b.role_kind, b.role_name
                        ) + &format!(" {} in \"{ns}\"", user.user)
                    }
                    None => format!(
                        "ClusterRoleBinding \"{}\" of ClusterRole \"{}\" to {}",
                        b.name, b.role_name, user.user
                    ),
                };
                return Decision::Allow(format!("RBAC: allowed by {how}"));
            }
        }
        Decision::Deny(String::new())
    }

    /// A non-resource request (`GET /metrics`): only ClusterRoles hold `nonResourceURLs`,
    /// so only ClusterRoleBindings grant them.
    pub fn authorize_path(&self, user: &Identity, verb: &str, path: &str) -> Decision {
        if user.groups.iter().any(|g| g == "system:masters") {
            return Decision::Allow("system:masters may do everything".into());
        }
        let granted = self.bindings.iter().find(|b| {
            b.namespace.is_none()
                && b.role_kind == "ClusterRole"
                && b.binds(user)
                && self
                    .cluster_roles
                    .get(&b.role_name)
                    .is_some_and(|rules| rules.iter().any(|r| r.allows_path(verb, path)))
        });
        match granted {
            Some(b) => Decision::Allow(format!(
                "RBAC: allowed by ClusterRoleBinding \"{}\" of ClusterRole \"{}\" to {}",
                b.name, b.role_name, user.user
            )),
            None => Decision::Deny(String::new()),
        }
    }
}

/// kube-apiserver's words for a denied non-resource request.
pub fn forbidden_path_message(user: &str, verb: &str, path: &str) -> String {
    format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\"")
}

/// The policy of the running apiserver: rebuilt from the store when an RBAC object changed,
/// at once or `propagation` later.
#[derive(Default)]
pub struct Authorizer {
    propagation: Option<Duration>,
    state: Mutex<AuthorizerState>,
}

#[derive(Default)]
struct AuthorizerState {
    policy: Option<Arc<Policy>>,
    /// The revision the next read is at; `None`: the latest.
    read_at: Option<Revision>,
    /// Bumped whenever the policy is forgotten: a read that began before is not kept.
    generation: u64,
    /// RBAC writes not yet in force: when each is, and the store's revision after it.
    pending: VecDeque<(Instant, Revision)>,
}

/// Takes the writes due at `now` off the front of `pending` (deadlines only grow); the
/// newest revision among them.
fn due_revision(pending: &mut VecDeque<(Instant, Revision)>, now: Instant) -> Option<Revision> {
    let mut due = None;
    while let Some((at, rev)) = pending.front().copied() {
        if at > now {
            break;
        }
        pending.pop_front();
        due = Some(due.map_or(rev, |d: Revision| d.max(rev)));
    }
    due
}

impl Authorizer {
    /// An authorizer whose policy follows RBAC writes `propagation` later (`None`: at once).
    pub fn new(propagation: Option<Duration>) -> Self {
        Authorizer {
            propagation,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthorizerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts over from the policy as of `revision` (the bootstrap's); with no propagation
    /// delay, from the latest.
    pub fn reset(&self, revision: Revision) {
        let mut st = self.lock();
        st.generation += 1;
        st.policy = None;
        st.pending.clear();
        st.read_at = self.propagation.map(|_| revision);
    }

    /// An RBAC object changed; `revision` is the store's revision after the write.
    pub fn changed(&self, revision: Revision) {
        let mut st = self.lock();
        match self.propagation {
            Some(delay) => st.pending.push_back((Instant::now() + delay, revision)),
            None => {
                st.generation += 1;
                st.policy = None;
                st.read_at = None;
            }
        }
    }

    pub async fn policy(&self, registry: &Registry) -> Result<Arc<Policy>, ApiError> {
        let (read_at, generation) = {
            let mut st = self.lock();
            if let Some(rev) = due_revision(&mut st.pending, Instant::now()) {
                st.generation += 1;
                st.policy = None;
                st.read_at = Some(st.read_at.map_or(rev, |r| r.max(rev)));
            }
            if let Some(p) = &st.policy {
                return Ok(p.clone());
            }
            (st.read_at, st.generation)
        };
        let policy = match read_policy(registry, read_at).await {
            // The revision due has been compacted away (an idle apiserver): the latest then.
            Err(e) if e.code == 410 && read_at.is_some() => read_policy(registry, None).await?,
            other => other?,
        };
        let policy = Arc::new(policy);
        let mut st = self.lock();
        // A change since the read began: keep nothing, the next request reads again.
        if st.generation == generation {
            st.policy = Some(policy.clone());
        }
        Ok(policy)
    }

    /// Allows or refuses `a` for `user`: a 403 `Status` in Kubernetes' words.
    pub async fn check(
        &self,
        registry: &Registry,
        user: &Identity,
        a: &Attributes,
    ) -> Result<(), ApiError> {
        if user.groups.iter().any(|g| g == "system:masters") {
            return Ok(());
        }
        match self.policy(registry).await?.authorize(user, a) {
            Decision::Allow(_) => Ok(()),
            Decision::Deny(_) => Err(ApiError::forbidden(a.forbidden_message(&user.user))),
        }
    }

    /// Allows or refuses a non-resource request (`get /metrics`).
    pub async fn check_path(
        &self,
        registry: &Registry,
        user: &Identity,
        verb: &str,
        path: &str,
    ) -> Result<(), ApiError> {
        if user.groups.iter().any(|g| g == "system:masters") {
            return Ok(());
        }
        match self
            .policy(registry)
            .await?
            .authorize_path(user, verb, path)
        {
            Decision::Allow(_) => Ok(()),
            Decision::Deny(_) => Err(ApiError::forbidden(forbidden_path_message(
                &user.user, verb, path,
            ))),
        }
    }
}

/// The four kinds of RBAC objects as of `at` (`None`: the latest), as one policy.
async fn read_policy(registry: &Registry, at: Option<Revision>) -> Result<Policy, ApiError> {
    let options = ListOptions {
        resource_version: at.map(|r| r.to_string()),
        resource_version_match: at.map(|_| "Exact".to_string()),
        ..ListOptions::default()
    };
    let mut lists = Vec::new();
    for plural in [
        "roles",
        "clusterroles",
        "rolebindings",
        "clusterrolebindings",
    ] {
        let r = resources::lookup(GROUP, "v1", plural).expect("RBAC resources are served");
        let list = registry.list(r, None, &options).await?;
        lists.push(
            list.get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
    }
    Ok(Policy::from_objects(
        &lists[0], &lists[1], &lists[2], &lists[3],
    ))
}

/// The roles the control plane's own components need, and their bindings, as kube-apiserver
/// bootstraps them (trimmed to what podcheck's components do), plus the user-facing
/// `cluster-admin`, `admin`, `edit` and `view`.
pub fn bootstrap_objects() -> Vec<(&'static str, Value)> {
    let all = json!([
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"nonResourceURLs": ["*"], "verbs": ["*"]},
    ]);
    let read = ["get", "list", "watch"];
    let write = ["create", "update", "patch", "delete", "deletecollection"];
    let rw: Vec<&str> = read.iter().chain(write.iter()).copied().collect();
    let cluster_role = |name: &str, rules: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
               "rules": rules})
    };
    let binding = |name: &str, role: &str, subject: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
               "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
               "subjects": [subject]})
    };
    let user = |n: &str| json!({"apiGroup": GROUP, "kind": "User", "name": n});
    let group = |n: &str| json!({"apiGroup": GROUP, "kind": "Group", "name": n});
    let workloads = json!([
        "pods",
        "pods/exec",
        "pods/log",
        "pods/status",
        "services",
        "endpoints",
        "configmaps",
        "serviceaccounts",
        "events"
    ]);
    let paths = |urls: &[&str]| json!([{"nonResourceURLs": urls, "verbs": ["get"]}]);
    vec![
        ("clusterroles", cluster_role("cluster-admin", all)),
        (
            "clusterroles",
            cluster_role(
                "system:discovery",
                paths(&[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/openapi",
                    "/openapi/*",
                    "/version",
                    "/version/",
                ]),
            ),
        ),
        (
            "clusterroles",
            cluster_role(
                "system:public-info-viewer",
                paths(&["/healthz", "/livez", "/readyz", "/version", "/version/"]),
            ),
        ),
        (
            "clusterroles",
            cluster_role(
                "system:monitoring",
                paths(&[
                    "/healthz",
                    "/healthz/*",
                    "/livez",
                    "/livez/*",
                    "/metrics",
                    "/metrics/slis",
                    "/readyz",
                    "/readyz/*",
                ]),
            ),
        ),
        (
            "clusterroles",
            cluster_role(
                "admin",
                json!([
                    {"apiGroups": [""], "resources": workloads, "verbs": rw},
                    {"apiGroups": [GROUP], "resources": ["roles", "rolebindings"], "verbs": rw},
                ]),
            ),
        ),
        (
            "clusterroles",
            cluster_role(
                "edit",
                json!([
                    {"apiGroups": [""], "resources": workloads, "verbs": rw},
                ]),
            ),
        ),
        (
            "clusterroles",
            cluster_role(
                "view",
                json!([
                    {"apiGroups": [""], "resources": ["pods", "pods/log", "pods/status", "services", "endpoints", "configmaps", "events"], "verbs": read},
                ]),
            ),
        ),
        (
            "clusterroles",
            cluster_role(
                "system:basic-user",
                json!([
                    {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                ]),
            ),
        ),
        (
            "clusterroles",
            cluster_role(
                "system:kube-scheduler",
                json!([
                    {"apiGroups": [""], "resources": ["pods", "nodes", "namespaces", "services"], "verbs": read},
                    {"apiGroups": [""], "resources": ["pods/binding", "bindings"], "verbs": ["create"]},
                    {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch", "update"]},
                    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
                    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": rw},
                ]),
            ),
        ),
        (
            "clusterroles",
            cluster_role(
                "system:node",
                json!([
                    {"apiGroups": [""], "resources": ["pods", "services", "endpoints", "configmaps", "namespaces"], "verbs": read},
                    // Mirror pods of static pods, as upstream's system:node role has it.
                    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete"]},
                    {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch", "update"]},
                    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch", "create", "update", "patch"]},
                    {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch", "update"]},
                    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
                    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": rw},
                ]),
            ),
        ),
        (
            "clusterrolebindings",
            binding("cluster-admin", "cluster-admin", group("system:masters")),
        ),
        (
            "clusterrolebindings",
            binding(
                "system:discovery",
                "system:discovery",
                group("system:authenticated"),
            ),
        ),
        (
            "clusterrolebindings",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "system:public-info-viewer", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
                   "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "system:public-info-viewer"},
                   "subjects": [group("system:authenticated"), group("system:unauthenticated")]}),
        ),
        (
            "clusterrolebindings",
            binding(
                "system:monitoring",
                "system:monitoring",
                group("system:monitoring"),
            ),
        ),
        (
            "clusterrolebindings",
            binding(
                "system:basic-user",
                "system:basic-user",
                group("system:authenticated"),
            ),
        ),
        (
            "clusterrolebindings",
            binding(
                "system:kube-scheduler",
                "system:kube-scheduler",
                user("system:kube-scheduler"),
            ),
        ),
        (
            "clusterrolebindings",
            binding("system:node", "system:node", group("system:nodes")),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> Identity {
        Identity {
            user: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn attrs(
        verb: &str,
        resource: &str,
        sub: Option<&str>,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            api_group: String::new(),
            resource: resource.into(),
            subresource: sub.map(str::to_string),
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
        }
    }

    fn policy() -> Policy {
        let role = json!({"metadata": {"namespace": "dev", "name": "pod-maker"}, "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["*/status"], "verbs": ["get"]},
        ]});
        let viewer = json!({"metadata": {"name": "viewer"}, "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]},
        ]});
        let rb = json!({"metadata": {"namespace": "dev", "name": "makers"},
            "roleRef": {"kind": "Role", "name": "pod-maker"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "builder"}]});
        let crb = json!({"metadata": {"name": "viewers"},
            "roleRef": {"kind": "ClusterRole", "name": "viewer"},
            "subjects": [{"kind": "Group", "name": "auditors"}]});
        Policy::from_objects(&[role], &[viewer], &[rb], &[crb])
    }

    #[test]
    fn rules_match_verbs_resources_subresources_names_and_namespaces() {
        let p = policy();
        let alice = user("alice", &["system:authenticated"]);
        let allowed =
            |u: &Identity, a: Attributes| matches!(p.authorize(u, &a), Decision::Allow(_));
        assert!(allowed(
            &alice,
            attrs("create", "pods", None, Some("dev"), None)
        ));
        assert!(
            !allowed(&alice, attrs("create", "pods", None, Some("prod"), None)),
            "a RoleBinding grants only in its namespace"
        );
        assert!(!allowed(
            &alice,
            attrs("delete", "pods", None, Some("dev"), Some("x"))
        ));
        assert!(
            !allowed(
                &alice,
                attrs("create", "pods", Some("exec"), Some("dev"), Some("x"))
            ),
            "pods does not cover pods/exec"
        );
        assert!(
            allowed(
                &alice,
                attrs("get", "pods", Some("status"), Some("dev"), Some("x"))
            ),
            "*/status"
        );
        assert!(allowed(
            &alice,
            attrs("get", "configmaps", None, Some("dev"), Some("settings"))
        ));
        assert!(
            !allowed(
                &alice,
                attrs("get", "configmaps", None, Some("dev"), Some("other"))
            ),
            "resourceNames"
        );
        assert!(
            !allowed(&alice, attrs("list", "configmaps", None, Some("dev"), None)),
            "resourceNames never cover a list"
        );
        let sa = user(
            "system:serviceaccount:dev:builder",
            &["system:serviceaccounts"],
        );
        assert!(
            allowed(&sa, attrs("create", "pods", None, Some("dev"), None)),
            "a ServiceAccount subject in the binding's namespace"
        );
        let other_sa = user("system:serviceaccount:prod:builder", &[]);
        assert!(!allowed(
            &other_sa,
            attrs("create", "pods", None, Some("dev"), None)
        ));
        let auditor = user("bob", &["auditors"]);
        assert!(
            allowed(&auditor, attrs("list", "nodes", None, None, None)),
            "wildcards in a ClusterRole"
        );
        assert!(!allowed(
            &auditor,
            attrs("get", "nodes", None, None, Some("n"))
        ));
        let nobody = user("mallory", &["system:authenticated"]);
        assert!(!allowed(
            &nobody,
            attrs("get", "pods", None, Some("dev"), Some("x"))
        ));
        let admin = user("root", &["system:masters"]);
        assert!(allowed(
            &admin,
            attrs("delete", "nodes", None, None, Some("n"))
        ));
    }

    #[test]
    fn denials_read_as_kube_apiserver_writes_them() {
        assert_eq!(
            attrs("create", "pods", None, Some("x"), None).forbidden_message("alice"),
            "pods is forbidden: User \"alice\" cannot create resource \"pods\" in API group \"\" in the namespace \"x\""
        );
        let mut a = attrs("get", "nodes", None, None, Some("node-1"));
        assert_eq!(
            a.forbidden_message("bob"),
            "nodes \"node-1\" is forbidden: User \"bob\" cannot get resource \"nodes\" in API group \"\" at the cluster scope"
        );
        a.api_group = "coordination.k8s.io".into();
        a.resource = "leases".into();
        a.namespace = Some("kube-node-lease".into());
        assert_eq!(
            a.forbidden_message("bob"),
            "leases.coordination.k8s.io \"node-1\" is forbidden: User \"bob\" cannot get resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"kube-node-lease\""
        );
    }

    #[test]
    fn rbac_writes_come_into_force_in_order_once_due() {
        let t0 = Instant::now();
        let mut pending = VecDeque::from([
            (t0 + Duration::from_millis(500), 7),
            (t0 + Duration::from_millis(600), 9),
            (t0 + Duration::from_millis(900), 12),
        ]);
        assert_eq!(due_revision(&mut pending, t0), None);
        assert_eq!(
            due_revision(&mut pending, t0 + Duration::from_millis(650)),
            Some(9)
        );
        assert_eq!(pending.len(), 1);
        assert_eq!(
            due_revision(&mut pending, t0 + Duration::from_secs(5)),
            Some(12)
        );
        assert!(pending.is_empty());
    }

    #[test]
    fn non_resource_paths_follow_cluster_roles_urls() {
        let objs = bootstrap_objects();
        let of = |kind: &str| -> Vec<Value> {
            objs.iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let p = Policy::from_objects(&[], &of("clusterroles"), &[], &of("clusterrolebindings"));
        let allowed = |u: &Identity, path: &str| {
            matches!(p.authorize_path(u, "get", path), Decision::Allow(_))
        };
        let anonymous = Identity::anonymous();
        let alice = user("alice", &["system:authenticated"]);
        let prometheus = user("prometheus", &["system:monitoring", "system:authenticated"]);
        assert!(allowed(&anonymous, "/healthz") && allowed(&anonymous, "/version"));
        assert!(
            !allowed(&anonymous, "/api"),
            "discovery is for the authenticated"
        );
        assert!(allowed(&alice, "/api") && allowed(&alice, "/apis/events.k8s.io/v1"));
        assert!(!allowed(&alice, "/metrics"));
        assert!(allowed(&prometheus, "/metrics"));
        assert!(allowed(&Identity::admin(), "/metrics"));
        assert!(!matches!(
            p.authorize_path(&prometheus, "post", "/metrics"),
            Decision::Allow(_)
        ));
        assert_eq!(
            forbidden_path_message("system:anonymous", "get", "/metrics"),
            "forbidden: User \"system:anonymous\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn the_bootstrap_policy_lets_components_do_their_work_and_nothing_more() {
        let objs = bootstrap_objects();
        let of = |kind: &str| -> Vec<Value> {
            objs.iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let p = Policy::from_objects(&[], &of("clusterroles"), &[], &of("clusterrolebindings"));
        let scheduler = user("system:kube-scheduler", &["system:authenticated"]);
        let node = user(
            "system:node:node-1",
            &["system:nodes", "system:authenticated"],
        );
        let allowed =
            |u: &Identity, a: Attributes| matches!(p.authorize(u, &a), Decision::Allow(_));
        assert!(allowed(
            &scheduler,
            attrs("create", "pods", Some("binding"), Some("d"), Some("p"))
        ));
        assert!(!allowed(
            &scheduler,
            attrs("delete", "pods", None, Some("d"), Some("p"))
        ));
        assert!(allowed(
            &node,
            attrs("patch", "pods", Some("status"), Some("d"), Some("p"))
        ));
        // Mirror pods, as upstream's system:node role has it; NodeRestriction
        // (`http::node_restriction`) holds a node to mirror pods bound to itself.
        assert!(allowed(
            &node,
            attrs("create", "pods", None, Some("d"), None)
        ));
        assert!(!allowed(
            &node,
            attrs("update", "pods", None, Some("d"), Some("p"))
        ));
        assert!(!allowed(
            &node,
            attrs("create", "secrets", None, Some("d"), None)
        ));
        let someone = user("alice", &["system:authenticated"]);
        assert!(!allowed(
            &someone,
            attrs("list", "pods", None, Some("d"), None)
        ));
    }
}
