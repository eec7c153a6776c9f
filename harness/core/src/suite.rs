//! The suite format, `podcheck.dev/v1alpha1` `kind: Suite`: what a suite file may say.
//!
//! Every type denies unknown fields and uses camelCase, so a typo is an error with a
//! location, never a silently ignored setting. The JSON schema committed at
//! `suites/schema/suite.v1alpha1.json` is generated from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::duration::Duration;

/// The one API version this module reads.
pub const API_VERSION: &str = "podcheck.dev/v1alpha1";

/// A suite file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "podcheck Suite",
    description = "A podcheck suite: cases that each create one pod and check the eight stages of its creation."
)]
pub struct SuiteFile {
    /// Always `podcheck.dev/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `Suite`.
    pub kind: SuiteKind,
    pub metadata: SuiteMetadata,
    pub spec: SuiteSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "podcheck.dev/v1alpha1")]
    V1Alpha1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum SuiteKind {
    Suite,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SuiteMetadata {
    /// The suite's name: a DNS-1123 label.
    #[schemars(with = "DnsLabel")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SuiteSpec {
    /// The nodes of the embedded control plane (ignored on other targets). Default: one
    /// node, `node-1`.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// Users the cases may create pods as (the embedded target makes a token for each).
    #[serde(default)]
    pub identities: Vec<IdentitySpec>,
    /// Deadline for each case unless it sets its own. Default 30s.
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Components that must be real on the embedded target (`store`, `runtime`, `network`,
    /// `dns`); a simulated one is then an environment error.
    #[serde(default)]
    pub require_real: Vec<RealComponent>,
    /// The user's own components that the suite validates (embedded target only).
    #[serde(default)]
    pub components: Components,
    /// Image archives (an OCI image layout tar, or a `docker save` tar), relative to the
    /// suite file, whose images the embedded nodes can pull beside the built-in ones
    /// (embedded target only; `--image-archive` adds more).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub images: Vec<Spanned<String>>,
    pub cases: Vec<Case>,
}

/// Components under test that podcheck starts itself, against the embedded control plane.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Components {
    /// A scheduler of your own, run as a process with `KUBECONFIG` pointing at the
    /// embedded apiserver (as `system:kube-scheduler`). `--scheduler-command` overrides it.
    #[serde(default)]
    pub scheduler: Option<SchedulerComponent>,
    /// A CNI conflist template of your own for the nodes' real pod network, relative to
    /// the suite file (placeholders as in `fixtures/cni/README.md`: `{{podNetwork}}`,
    /// `{{rangeStart}}`, …). The suite needs the real runtime and network: where they
    /// cannot run, it is skipped with the reason. `--cni-conflist` overrides it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cni_conflist: Option<Spanned<String>>,
}

/// An external scheduler: the command that runs it, and the `schedulerName` it serves.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SchedulerComponent {
    /// The program and its arguments. A program with a `/` is relative to the suite file;
    /// a bare name is looked up in `PATH`.
    #[schemars(with = "Vec<String>", length(min = 1))]
    pub command: Spanned<Vec<String>>,
    /// The `spec.schedulerName` it serves. Default `default-scheduler`: the builtin
    /// scheduler is then switched off; for any other name it keeps serving
    /// `default-scheduler`.
    #[serde(default)]
    pub scheduler_name: Option<String>,
}

/// A component with a real and a simulated provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RealComponent {
    Store,
    Runtime,
    Network,
    Dns,
}

impl RealComponent {
    pub fn name(self) -> &'static str {
        match self {
            RealComponent::Store => "store",
            RealComponent::Runtime => "runtime",
            RealComponent::Network => "network",
            RealComponent::Dns => "dns",
        }
    }
}

/// A node of the embedded control plane.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSpec {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<TaintSpec>,
    /// Capacity (and allocatable) as quantities: cpu, memory, pods, …. Defaults: cpu 8,
    /// memory 32Gi, pods 110.
    #[serde(default)]
    pub capacity: BTreeMap<String, String>,
    /// Cordoned (`spec.unschedulable`).
    #[serde(default)]
    pub unschedulable: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TaintSpec {
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// A user the suite declares: a user with groups (a client certificate on the embedded
/// target, impersonation elsewhere), or a ServiceAccount of the case's namespace (a token
/// from the TokenRequest API, on any target).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdentitySpec {
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// The identity is the ServiceAccount `name` in the case's namespace (create it, and
    /// its RoleBinding, in the case's `setup`).
    #[serde(default)]
    pub service_account: bool,
}

/// One case: one pod, created as one identity, with what each stage should show; or a load
/// of many pods (`load:`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("anyOf" = [{"required": ["pod"]}, {"required": ["load"]}]))]
pub struct Case {
    /// A DNS-1123 label, unique in the suite.
    #[schemars(with = "DnsLabel")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The pod: a path relative to the suite file, or the Pod inline. Required, except in
    /// a `load:` case, where it is the template of every pod (default: the seed's busybox).
    #[serde(default)]
    #[schemars(with = "Option<PodSourceSchema>")]
    pub pod: Option<Spanned<serde_json::Value>>,
    /// Instead of one pod walked through the eight stages, many created at once (as
    /// `podcheck load`): the case checks that every pod ran and each SLO held. It runs
    /// alone, after the suite's other cases.
    #[serde(default)]
    #[schemars(with = "Option<LoadSpec>")]
    pub load: Option<Spanned<LoadSpec>>,
    /// Who sends the create: `admin` (default), `none` (no credentials), or a name from
    /// `spec.identities`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub identity: Option<Spanned<String>>,
    /// Objects to create in the case's namespace first (Services, ConfigMaps, …).
    #[serde(default)]
    #[schemars(with = "Vec<SetupObjectSchema>")]
    pub setup: Vec<Spanned<serde_json::Value>>,
    /// What each stage should show. Stages not named must pass.
    #[serde(default)]
    pub expect: Expectations,
    /// Per-stage deadlines, from the create request.
    #[serde(default)]
    #[schemars(with = "DeadlinesSchema")]
    pub deadlines: BTreeMap<crate::stage::Stage, Duration>,
    /// Deadline for the whole case; default the suite's.
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Names to resolve from the pod's point of view, besides `kubernetes.default`.
    #[serde(default)]
    pub dns_lookups: Vec<DnsLookup>,
    /// Create this many copies of the pod at once (`NAME`, `NAME-1`, …): the first is
    /// followed through every stage, and `binding` also checks every copy and reports the
    /// binding latency p50/p99 of the batch. Default 1, at most 500.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 500))]
    pub replicas: Option<Spanned<u32>>,
    /// Components to break while the case runs (embedded target only; a case with faults
    /// is skipped on other targets, and runs alone, after the suite's other cases).
    #[serde(default)]
    #[schemars(with = "Vec<FaultSchema>")]
    pub faults: Vec<FaultSpec>,
    /// Once the pod is Running and Ready, it must stay so for this long: the observer
    /// keeps watching it, and `statusUpdate` fails if the pod leaves Ready or a container
    /// terminates or restarts in that time (an app that exits after a few seconds). The
    /// window comes after the case's `timeout`, which still bounds the way to Ready.
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub stays_ready_for: Option<Spanned<Duration>>,
}

/// A load case's load: how many pods, how fast, and the SLOs they must hold.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadSpec {
    /// How many pods to create, 1 to 100000.
    #[schemars(with = "u32", range(min = 1, max = 100000))]
    pub pods: Spanned<u32>,
    /// At most this many creates waiting for their answer. Default 64.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 10000))]
    pub in_flight: Option<Spanned<u32>>,
    /// At most this many creates a second. Default: as fast as `inFlight` allows.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub qps: Option<Spanned<f64>>,
    /// How long the pods may take to run, from the first create. Default: 2m, plus 100ms
    /// a pod.
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Service level objectives, `METRIC.PERCENTILE<DURATION` (or `<=`), e.g.
    /// `pod_startup.p99<5s`, `binding.p50<=200ms`: each is a check of the case.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub slo: Vec<Spanned<String>>,
}

/// A fault injected into the embedded control plane while a case runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultSpec {
    /// What breaks.
    #[serde(rename = "break")]
    pub breaks: Spanned<FaultKind>,
    /// When: once the pod reaches this stage. Default `auth`: before the create.
    #[serde(default)]
    pub at: Option<Spanned<crate::stage::Stage>>,
    /// How long it lasts; absent: until the case ends.
    #[serde(default, rename = "for")]
    pub lasts: Option<Spanned<Duration>>,
    /// Once it ends, the stage it acts on must pass within this long.
    #[serde(default)]
    pub recover_within: Option<Spanned<Duration>>,
}

/// What a fault breaks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    /// The scheduler stops (the builtin scheduler's task ends, a scheduler process is
    /// killed); it is started again, with empty caches, when the fault ends.
    SchedulerStopped,
    /// The scheduler is paused (a scheduler process gets SIGSTOP) and resumed when the
    /// fault ends.
    SchedulerPaused,
    /// Every node's CNI ADD fails with this CNI error (a plugin podcheck puts first in the
    /// chain on a real network).
    CniAddFails(CniError),
    /// The cluster DNS server drops every query.
    DnsDrops,
    /// The cluster DNS server answers this late.
    DnsDelays(Duration),
    /// Every write to the store waits this long first.
    StoreWritesDelayed(Duration),
    /// The container runtime dies right after it starts a pod sandbox: from then on the
    /// kubelet's CRI calls meet a socket that refuses them (podcheck answers as a dead
    /// containerd's socket does), until the fault ends.
    RuntimeKilled,
    /// The kubelets send each pod status update this late.
    StatusUpdatesDelayed(Duration),
}

/// A CNI error result (the CNI spec's `code` and `msg`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CniError {
    /// The CNI error code: 1-99 are the spec's (7 invalid network config, 11 try again
    /// later), 100 and up the plugin's own.
    pub code: u32,
    pub msg: String,
}

/// For the schema only: a fault.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct FaultSchema {
    /// What breaks.
    #[serde(rename = "break")]
    breaks: FaultKind,
    /// When: once the pod reaches this stage. Default `auth`: before the create.
    at: Option<crate::stage::Stage>,
    /// How long it lasts; absent: until the case ends.
    #[serde(rename = "for")]
    lasts: Option<Duration>,
    /// Once it ends, the stage it acts on must pass within this long.
    recover_within: Option<Duration>,
}

/// For the schema only: a DNS-1123 label (every suite kind's names).
pub(crate) struct DnsLabel;

impl JsonSchema for DnsLabel {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DnsLabel".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "maxLength": 63,
            "description": "A DNS-1123 label: lower-case letters, digits and '-'.",
        })
    }
}

/// For the schema only: an IPv4 or IPv6 address.
struct IpSchema;

impl JsonSchema for IpSchema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "IpAddress".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}],
        })
    }
}

/// For the schema only: an object to create first.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SetupObjectSchema {
    api_version: String,
    kind: String,
    metadata: SetupMetadataSchema,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct SetupMetadataSchema {
    name: String,
}

/// For the schema only: a deadline per stage.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct DeadlinesSchema {
    auth: Option<Duration>,
    etcd_write: Option<Duration>,
    pending: Option<Duration>,
    binding: Option<Duration>,
    cri_launch: Option<Duration>,
    cni_attach: Option<Duration>,
    dns: Option<Duration>,
    status_update: Option<Duration>,
}

/// For the schema only: what `pod:` accepts.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PodSourceSchema {
    /// A file with one Pod, relative to the suite.
    File(String),
    /// A Pod (apiVersion and kind may be left out).
    Inline(BTreeMap<String, serde_json::Value>),
}

/// A name to resolve and what it must resolve to.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsLookup {
    /// As a program in the pod would write it: search path and ndots apply.
    /// `$(CLUSTER_DOMAIN)` stands for the cluster's domain, as the kubelet wrote it into the
    /// pod's search path (`kubernetes.default.svc.$(CLUSTER_DOMAIN)`).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// What it must resolve to: an address, or `{service: NAME}` (a Service of the case's
    /// namespace) or `{service: NAMESPACE/NAME}` for that Service's ClusterIPs, read from
    /// the cluster. Absent: it must not resolve (NXDOMAIN).
    #[serde(default)]
    #[schemars(with = "Option<LookupAddressSchema>")]
    pub address: Option<LookupAddress>,
}

/// The variable a lookup name may hold.
pub const CLUSTER_DOMAIN_VARIABLE: &str = "$(CLUSTER_DOMAIN)";

/// How errors in a lookup's `address` begin (the loader turns them into a located hint).
pub const LOOKUP_ADDRESS_ERROR: &str = "not a lookup address";

/// What a lookup must resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAddress {
    Ip(std::net::IpAddr),
    /// The ClusterIPs of a Service; no namespace means the case's.
    Service {
        namespace: Option<String>,
        name: String,
    },
}

impl std::fmt::Display for LookupAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupAddress::Ip(ip) => write!(f, "{ip}"),
            LookupAddress::Service {
                namespace: Some(ns),
                name,
            } => write!(f, "Service {ns}/{name}"),
            LookupAddress::Service {
                namespace: None,
                name,
            } => write!(f, "Service {name}"),
        }
    }
}

impl<'de> Deserialize<'de> for LookupAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = LookupAddress;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an IP address, or {service: NAME} or {service: NAMESPACE/NAME}")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map(LookupAddress::Ip).map_err(|_| {
                    E::custom(format!(
                        "{LOOKUP_ADDRESS_ERROR}: {v:?} is not an IP address"
                    ))
                })
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut service: Option<String> = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "service" || service.is_some() {
                        return Err(serde::de::Error::custom(format!(
                            "{LOOKUP_ADDRESS_ERROR}: unknown or repeated field `{key}`"
                        )));
                    }
                    service = Some(map.next_value()?);
                }
                let service = service.ok_or_else(|| serde::de::Error::missing_field("service"))?;
                let (namespace, name) = match service.split_once('/') {
                    Some((ns, name)) => (Some(ns.to_string()), name.to_string()),
                    None => (None, service.clone()),
                };
                let label = crate::dns_name::is_label;
                if !label(&name) || namespace.as_deref().is_some_and(|ns| !label(ns)) {
                    return Err(serde::de::Error::custom(format!(
                        "{LOOKUP_ADDRESS_ERROR}: {service:?} is not NAME or NAMESPACE/NAME"
                    )));
                }
                Ok(LookupAddress::Service { namespace, name })
            }
        }
        d.deserialize_any(Visit)
    }
}

/// For the schema only: an address, or a Service whose ClusterIPs are the address.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum LookupAddressSchema {
    Ip(IpSchema),
    Service(ServiceAddressSchema),
}

/// For the schema only.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ServiceAddressSchema {
    /// `NAME` (in the case's namespace) or `NAMESPACE/NAME`.
    service: String,
}

/// What the stages should show; each absent stage must pass.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expectations {
    pub auth: Option<AuthExpectation>,
    pub etcd_write: Option<Expectation>,
    pub pending: Option<Expectation>,
    pub binding: Option<BindingExpectation>,
    pub cri_launch: Option<CriLaunchExpectation>,
    pub cni_attach: Option<Expectation>,
    pub dns: Option<Expectation>,
    pub status_update: Option<Expectation>,
}

impl Expectations {
    /// The words a stage is expected to fail with, where the case says it fails.
    pub fn failed_words(&self, stage: crate::stage::Stage) -> Option<&str> {
        use crate::stage::Stage;
        match stage {
            Stage::CriLaunch => match &self.cri_launch {
                Some(CriLaunchExpectation::Failed(words)) => Some(words),
                _ => None,
            },
            other => match self.generic(other) {
                Some(Expectation::Failed(words)) => Some(words),
                _ => None,
            },
        }
    }

    /// The expectation of a stage that has only `pass`, `failed` or `skip` (not auth,
    /// binding or criLaunch).
    fn generic(&self, stage: crate::stage::Stage) -> Option<&Expectation> {
        use crate::stage::Stage;
        match stage {
            Stage::Auth | Stage::Binding | Stage::CriLaunch => None,
            Stage::EtcdWrite => self.etcd_write.as_ref(),
            Stage::Pending => self.pending.as_ref(),
            Stage::CniAttach => self.cni_attach.as_ref(),
            Stage::Dns => self.dns.as_ref(),
            Stage::StatusUpdate => self.status_update.as_ref(),
        }
    }

    /// Why the case asks to skip `stage`, if it does.
    pub fn skip_reason(&self, stage: crate::stage::Stage) -> Option<&str> {
        use crate::stage::Stage;
        match stage {
            Stage::Auth => match &self.auth {
                Some(AuthExpectation::Skip(why)) => Some(why),
                _ => None,
            },
            Stage::Binding => match &self.binding {
                Some(BindingExpectation::Skip(why)) => Some(why),
                _ => None,
            },
            Stage::CriLaunch => match &self.cri_launch {
                Some(CriLaunchExpectation::Skip(why)) => Some(why),
                _ => None,
            },
            other => match self.generic(other) {
                Some(Expectation::Skip(why)) => Some(why),
                _ => None,
            },
        }
    }

    /// The expectation of `stage`, in words, for reports.
    pub fn words(&self, stage: crate::stage::Stage) -> String {
        use crate::stage::Stage;
        match stage {
            Stage::Auth => match &self.auth {
                None | Some(AuthExpectation::Allowed) => "allowed (201)".into(),
                Some(AuthExpectation::Denied(code)) => format!("denied ({code})"),
                Some(AuthExpectation::Invalid(field)) => format!("invalid (422) at {field}"),
                Some(AuthExpectation::Skip(why)) => format!("skip: {why}"),
            },
            Stage::Binding => match &self.binding {
                None | Some(BindingExpectation::Pass) => "bound to a feasible node".into(),
                Some(BindingExpectation::ScheduledTo(n)) => format!("bound to {n}"),
                Some(BindingExpectation::Unschedulable(r)) => format!("unschedulable: {r}"),
                Some(BindingExpectation::LeftAlone(d)) => format!("left alone for {d}"),
                Some(BindingExpectation::Skip(why)) => format!("skip: {why}"),
            },
            Stage::CriLaunch => match &self.cri_launch {
                None | Some(CriLaunchExpectation::Pass) => "pass".into(),
                Some(CriLaunchExpectation::PullFails(m)) => format!("the image pull fails: {m}"),
                Some(CriLaunchExpectation::Failed(m)) => format!("fails: {m}"),
                Some(CriLaunchExpectation::Skip(why)) => format!("skip: {why}"),
            },
            other => match self.generic(other) {
                None | Some(Expectation::Pass) => "pass".to_string(),
                Some(Expectation::Failed(m)) => format!("fails: {m}"),
                Some(Expectation::Skip(why)) => format!("skip: {why}"),
            },
        }
    }
}

/// `pass` (the default), `{failed: "words"}` or `{skip: "why"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Expectation {
    Pass,
    /// The stage fails, with these words in what it shows (its message or evidence); the
    /// pod's path ends there, and later stages are not evaluated.
    Failed(String),
    /// Do not evaluate this stage, for the reason given.
    Skip(String),
}

/// What the kubelet and the runtime should do with the pod's containers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CriLaunchExpectation {
    /// Every container runs (the default).
    Pass,
    /// The image pull fails: a container waits in `ErrImagePull` or `ImagePullBackOff`
    /// with this text in its message (the runtime's words, e.g. `not found`).
    PullFails(String),
    /// The stage fails, with these words in what it shows (its message or evidence); the
    /// pod's path ends there.
    Failed(String),
    Skip(String),
}

/// What the apiserver should answer to the create.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthExpectation {
    /// 201 Created (the default).
    Allowed,
    /// Rejected with this code: 401 (unauthenticated) or 403 (forbidden); nothing stored.
    Denied(u16),
    /// Rejected as invalid (422) with a cause naming this field, e.g. `spec.containers[0].image`.
    Invalid(String),
    Skip(String),
}

/// What the scheduler should do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BindingExpectation {
    /// Bound to a feasible node (the default).
    Pass,
    /// Bound to this node.
    ScheduledTo(String),
    /// Left unscheduled: `PodScheduled=False` (Unschedulable) and a `FailedScheduling`
    /// event whose message contains this text.
    Unschedulable(String),
    /// Left alone for this long: the pod asks for a scheduler that is not running, and no
    /// other may bind it, mark it or report on it.
    LeftAlone(Duration),
    Skip(String),
}
