//! `kind: DnsSuite`: the Kubernetes DNS-Based Service Discovery specification (schema
//! 1.1.0), checked by querying a cluster DNS server directly. The runner
//! (`podcheck_conformance::dns`) creates the suite's `setup` objects (Services,
//! EndpointSlices) in a namespace of its own, then asks each case's question and checks
//! the response code, the answers and their TTLs.
//!
//! ```yaml
//! apiVersion: podcheck.dev/v1alpha1
//! kind: DnsSuite
//! metadata: {name: dns}
//! spec:
//!   setup:
//!     - apiVersion: v1
//!       kind: Service
//!       metadata: {name: web}
//!       spec: {ports: [{name: http, port: 80}]}
//!   cases:
//!     - name: a-cluster-ip
//!       query: {name: "web.${NAMESPACE}.svc.${ZONE}.", type: A}
//!       expect:
//!         answers: [{a: "${CLUSTER_IP:web}"}]
//!     - name: ptr-cluster-ip
//!       query: {reverseOf: "${CLUSTER_IP:web}", type: PTR}
//!       expect:
//!         answers: [{ptr: "web.${NAMESPACE}.svc.${ZONE}."}]
//! ```
//!
//! Strings in queries and answers may use `${NAMESPACE}` (the run's namespace), `${ZONE}`
//! (the cluster domain) and `${CLUSTER_IP:<service>}` (the ClusterIP the apiserver gave a
//! setup Service). A name target may start with a `*` label, which matches any one label
//! (a headless endpoint's system-assigned hostname, which the specification leaves open).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::{Location, Spanned};

use crate::duration::Duration;
use crate::load::{
    Problem, ReadFile, SuiteError, case_name_problem, is_label, problem, suite_name_problem,
    syntax_problem,
};

/// The cluster domain unless the suite names another.
pub const DEFAULT_ZONE: &str = "cluster.local";
/// How long the runner waits for the server to answer every case as expected (it reads
/// its records from the API, so it lags the setup) unless the suite says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration(std::time::Duration::from_secs(15));

/// A dns conformance suite ready to run.
#[derive(Debug, Clone)]
pub struct DnsSuite {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    /// The cluster domain the server is authoritative for.
    pub zone: String,
    /// The deadline for the server to show the setup.
    pub timeout: Duration,
    /// Kubernetes objects to create, in order, in the run's namespace.
    pub setup: Vec<Value>,
    pub cases: Vec<DnsCase>,
}

/// One question and what the specification says the answer is.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsCase {
    pub name: String,
    /// The line of the case's `name:` in the suite file (1-based), where reports point.
    pub line: usize,
    pub description: String,
    pub query: DnsQuery,
    pub expect: DnsExpect,
}

/// What to ask, with placeholders still in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuery {
    pub name: QueryName,
    pub record_type: RecordKind,
    pub transport: Transport,
}

/// The query's name: given, or the reverse (`in-addr.arpa`/`ip6.arpa`) name of an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryName {
    Name(String),
    ReverseOf(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DnsExpect {
    pub rcode: Rcode,
    /// `None`: the answers are not checked.
    pub answers: Option<Vec<ExpectedRecord>>,
    /// Whether the listed answers must be all of them (else other records may follow,
    /// such as the records a server adds for a CNAME's target).
    pub complete: bool,
}

/// A record an answer must hold; strings may carry placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedRecord {
    A(String),
    Aaaa(String),
    /// Priority and weight are the server's to choose (the specification does not
    /// prescribe them).
    Srv {
        port: u16,
        target: String,
    },
    Ptr(String),
    Cname(String),
    Txt(String),
}

impl ExpectedRecord {
    pub fn kind(&self) -> RecordKind {
        match self {
            ExpectedRecord::A(_) => RecordKind::A,
            ExpectedRecord::Aaaa(_) => RecordKind::Aaaa,
            ExpectedRecord::Srv { .. } => RecordKind::Srv,
            ExpectedRecord::Ptr(_) => RecordKind::Ptr,
            ExpectedRecord::Cname(_) => RecordKind::Cname,
            ExpectedRecord::Txt(_) => RecordKind::Txt,
        }
    }

    /// The record in zone-file words (`SRV 80 web.ns.svc.cluster.local.`), placeholders
    /// expanded by `expand`.
    pub fn describe(&self, expand: &dyn Fn(&str) -> String) -> String {
        match self {
            ExpectedRecord::Srv { port, target } => format!("SRV {port} {}", expand(target)),
            ExpectedRecord::A(s)
            | ExpectedRecord::Aaaa(s)
            | ExpectedRecord::Ptr(s)
            | ExpectedRecord::Cname(s)
            | ExpectedRecord::Txt(s) => format!("{} {}", self.kind().as_str(), expand(s)),
        }
    }
}

/// A `kind: DnsSuite` file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "podcheck DnsSuite",
    description = "A cluster DNS conformance suite: Services and EndpointSlices to create, and questions whose answers the Kubernetes DNS specification prescribes."
)]
pub struct DnsSuiteFile {
    /// Always `podcheck.dev/v1alpha1`.
    pub api_version: DnsApiVersion,
    /// Always `DnsSuite`.
    pub kind: DnsSuiteKind,
    pub metadata: DnsMetadata,
    pub spec: DnsSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum DnsApiVersion {
    #[serde(rename = "podcheck.dev/v1alpha1")]
    V1Alpha1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum DnsSuiteKind {
    DnsSuite,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsMetadata {
    /// The suite's name: a DNS-1123 label.
    #[schemars(with = "crate::suite::DnsLabel")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsSpec {
    /// The cluster domain. Default `cluster.local`.
    #[serde(default)]
    pub zone: Option<String>,
    /// How long the server may take to show the setup in its answers. Default 15s.
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Kubernetes objects created, in order, in the run's namespace (which they must not
    /// name): Services of each type, EndpointSlices with ready and not-ready endpoints.
    #[serde(default)]
    #[schemars(with = "Vec<serde_json::Map<String, Value>>")]
    pub setup: Vec<Spanned<Value>>,
    pub cases: Vec<CaseFile>,
}

/// One question and its expected answer.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CaseFile {
    /// A DNS-1123 label, unique in the suite.
    #[schemars(with = "crate::suite::DnsLabel")]
    pub name: Spanned<String>,
    /// The requirement, in the specification's words (and section).
    #[serde(default)]
    pub description: String,
    pub query: QueryFile,
    #[serde(default)]
    pub expect: ExpectFile,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct QueryFile {
    /// The name to ask for, e.g. `web.${NAMESPACE}.svc.${ZONE}.`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// Instead of `name`: ask for the reverse name of this address (PTR).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub reverse_of: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub record_type: RecordKind,
    /// `udp` (default) or `tcp`.
    #[serde(default)]
    pub transport: Transport,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExpectFile {
    /// Default `NOERROR`.
    #[serde(default)]
    pub rcode: Rcode,
    /// The answer section, in any order; absent: not checked; `[]`: no records (NODATA,
    /// or what NXDOMAIN has).
    #[serde(default)]
    pub answers: Option<Vec<RecordFile>>,
    /// Whether `answers` lists every answer record (default) or only some.
    #[serde(default = "yes")]
    pub complete: bool,
}

fn yes() -> bool {
    true
}

/// An expected record, by type.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum RecordFile {
    /// An IPv4 address.
    #[schemars(with = "String")]
    A(Spanned<String>),
    /// An IPv6 address.
    #[schemars(with = "String")]
    Aaaa(Spanned<String>),
    Srv(SrvFile),
    /// The target name.
    #[schemars(with = "String")]
    Ptr(Spanned<String>),
    /// The target name.
    #[schemars(with = "String")]
    Cname(Spanned<String>),
    /// The text (one string).
    #[schemars(with = "String")]
    Txt(Spanned<String>),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SrvFile {
    pub port: u16,
    /// The target name; a leading `*` label matches any one label.
    #[schemars(with = "String")]
    pub target: Spanned<String>,
}

/// The record types the specification defines (and `ANY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum RecordKind {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "SRV")]
    Srv,
    #[serde(rename = "PTR")]
    Ptr,
    #[serde(rename = "CNAME")]
    Cname,
    #[serde(rename = "TXT")]
    Txt,
    #[serde(rename = "SOA")]
    Soa,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::A => "A",
            RecordKind::Aaaa => "AAAA",
            RecordKind::Srv => "SRV",
            RecordKind::Ptr => "PTR",
            RecordKind::Cname => "CNAME",
            RecordKind::Txt => "TXT",
            RecordKind::Soa => "SOA",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}

/// The response codes a case may expect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum Rcode {
    #[default]
    #[serde(rename = "NOERROR")]
    NoError,
    #[serde(rename = "NXDOMAIN")]
    NxDomain,
    #[serde(rename = "REFUSED")]
    Refused,
}

impl Rcode {
    pub fn as_str(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::Refused => "REFUSED",
        }
    }
}

/// What placeholders stand for in one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bindings {
    pub namespace: String,
    pub zone: String,
    /// Service name → its ClusterIP, for the setup's Services that have one.
    pub cluster_ips: BTreeMap<String, String>,
}

/// A placeholder in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Placeholder {
    Namespace,
    Zone,
    ClusterIp(String),
}

/// The pieces of `template`: literal text and placeholders; `Err` names a malformed or
/// unknown placeholder.
fn parse_template(template: &str) -> Result<Vec<Result<&str, Placeholder>>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        parts.push(Ok(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {template:?}"))?;
        let inner = &after[..end];
        parts.push(Err(match inner.split_once(':') {
            None if inner == "NAMESPACE" => Placeholder::Namespace,
            None if inner == "ZONE" => Placeholder::Zone,
            Some(("CLUSTER_IP", service)) if is_label(service) => {
                Placeholder::ClusterIp(service.to_string())
            }
            _ => {
                return Err(format!(
                    "unknown placeholder ${{{inner}}}: write ${{NAMESPACE}}, ${{ZONE}} or ${{CLUSTER_IP:<service>}}"
                ));
            }
        }));
        rest = &after[end + 1..];
    }
    parts.push(Ok(rest));
    Ok(parts)
}

/// `template` with its placeholders replaced; `Err` names what is unknown.
pub fn expand(template: &str, bindings: &Bindings) -> Result<String, String> {
    let mut out = String::new();
    for part in parse_template(template)? {
        match part {
            Ok(text) => out.push_str(text),
            Err(Placeholder::Namespace) => out.push_str(&bindings.namespace),
            Err(Placeholder::Zone) => out.push_str(&bindings.zone),
            Err(Placeholder::ClusterIp(service)) => match bindings.cluster_ips.get(&service) {
                Some(ip) => out.push_str(ip),
                None => return Err(format!("the Service {service:?} has no ClusterIP")),
            },
        }
    }
    Ok(out)
}

/// Where a check reports a problem: location, message, label, help.
type Report<'a> = dyn FnMut(&Location, String, &str, Option<String>) + 'a;

/// Parses and checks a `kind: DnsSuite` file whose text is `source`.
pub fn load(
    path: &Path,
    file: &str,
    source: &str,
    _read: ReadFile<'_>,
) -> Result<DnsSuite, SuiteError> {
    let parsed: DnsSuiteFile = serde_saphyr::from_str(source)
        .map_err(|e| SuiteError(vec![syntax_problem(file, source, &e)]))?;
    check(path, file, source, parsed)
}

fn check(
    path: &Path,
    file: &str,
    source: &str,
    suite: DnsSuiteFile,
) -> Result<DnsSuite, SuiteError> {
    // Shared by the `at` reporter and the name checks, so problems keep their order.
    let problems: std::cell::RefCell<Vec<Problem>> = Default::default();
    let mut at = |loc: &Location, message: String, label: &str, help: Option<String>| {
        problems
            .borrow_mut()
            .push(problem(file, source, loc, message, label, help));
    };
    let name = suite.metadata.name.value.clone();
    problems
        .borrow_mut()
        .extend(suite_name_problem(file, source, &suite.metadata.name));

    // Setup objects: typed enough to be created, in the run's namespace, and the Services
    // that will have a ClusterIP.
    let mut with_cluster_ip: BTreeSet<String> = BTreeSet::new();
    let mut seen_objects: BTreeSet<(String, String)> = BTreeSet::new();
    let mut setup = Vec::new();
    for object in &suite.spec.setup {
        let v = &object.value;
        let text = |p: &str| v.pointer(p).and_then(Value::as_str);
        let (Some(_), Some(kind), Some(obj_name)) =
            (text("/apiVersion"), text("/kind"), text("/metadata/name"))
        else {
            at(
                &object.referenced,
                "a setup object needs apiVersion, kind and metadata.name".into(),
                "this object",
                Some("for example: {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {...}}".into()),
            );
            continue;
        };
        if v.pointer("/metadata/namespace").is_some() {
            at(
                &object.referenced,
                format!("the setup object {kind} {obj_name} names a namespace"),
                "this object",
                Some("setup objects are created in the run's own namespace; remove metadata.namespace".into()),
            );
        }
        if !seen_objects.insert((kind.to_string(), obj_name.to_string())) {
            at(
                &object.referenced,
                format!("{kind} {obj_name} is set up twice"),
                "second definition",
                None,
            );
        }
        if kind == "Service" {
            let headless = text("/spec/clusterIP") == Some("None");
            let external = text("/spec/type") == Some("ExternalName");
            if !headless && !external {
                with_cluster_ip.insert(obj_name.to_string());
            }
        }
        setup.push(v.clone());
    }

    // Templates are checked against what the setup provides.
    let check_template = |s: &Spanned<String>, problems_at: &mut Report<'_>| match parse_template(
        &s.value,
    ) {
        Err(message) => problems_at(&s.referenced, message, "here", None),
        Ok(parts) => {
            for part in parts {
                if let Err(Placeholder::ClusterIp(service)) = part
                    && !with_cluster_ip.contains(&service)
                {
                    problems_at(
                        &s.referenced,
                        format!(
                            "${{CLUSTER_IP:{service}}}: no Service {service:?} with a ClusterIP is set up"
                        ),
                        "unknown Service",
                        Some(
                            "set up the Service under spec.setup (not headless, not ExternalName)"
                                .into(),
                        ),
                    );
                }
            }
        }
    };

    let mut names = BTreeSet::new();
    let mut cases = Vec::new();
    for case in suite.spec.cases {
        let case_name = case.name.value.clone();
        problems
            .borrow_mut()
            .extend(case_name_problem(file, source, &case.name, &mut names, ""));
        let query_name = match (&case.query.name, &case.query.reverse_of) {
            (Some(n), None) => {
                check_template(n, &mut at);
                Some(QueryName::Name(n.value.clone()))
            }
            (None, Some(r)) => {
                check_template(r, &mut at);
                Some(QueryName::ReverseOf(r.value.clone()))
            }
            (Some(n), Some(_)) => {
                at(
                    &n.referenced,
                    "a query has a name or a reverseOf address, not both".into(),
                    "name",
                    None,
                );
                None
            }
            (None, None) => {
                at(
                    &case.name.referenced,
                    format!("case {case_name:?} has a query without name or reverseOf"),
                    "this case",
                    Some("write query: {name: \"web.${NAMESPACE}.svc.${ZONE}.\", type: A}".into()),
                );
                None
            }
        };
        let answers = case.expect.answers.map(|answers| {
            answers
                .into_iter()
                .map(|r| {
                    let mut text = |s: Spanned<String>| {
                        check_template(&s, &mut at);
                        s.value
                    };
                    match r {
                        RecordFile::A(s) => ExpectedRecord::A(text(s)),
                        RecordFile::Aaaa(s) => ExpectedRecord::Aaaa(text(s)),
                        RecordFile::Ptr(s) => ExpectedRecord::Ptr(text(s)),
                        RecordFile::Cname(s) => ExpectedRecord::Cname(text(s)),
                        RecordFile::Txt(s) => ExpectedRecord::Txt(text(s)),
                        RecordFile::Srv(srv) => ExpectedRecord::Srv {
                            port: srv.port,
                            target: text(srv.target),
                        },
                    }
                })
                .collect::<Vec<_>>()
        });
        if let Some(name) = query_name {
            cases.push(DnsCase {
                line: case.name.referenced.line() as usize,
                name: case_name,
                description: case.description,
                query: DnsQuery {
                    name,
                    record_type: case.query.record_type,
                    transport: case.query.transport,
                },
                expect: DnsExpect {
                    rcode: case.expect.rcode,
                    answers,
                    complete: case.expect.complete,
                },
            });
        }
    }
    let problems = problems.into_inner();
    if !problems.is_empty() {
        return Err(SuiteError(problems));
    }
    Ok(DnsSuite {
        path: path.to_path_buf(),
        name,
        description: suite.metadata.description,
        zone: suite.spec.zone.unwrap_or_else(|| DEFAULT_ZONE.to_string()),
        timeout: suite.spec.timeout.unwrap_or(DEFAULT_TIMEOUT),
        setup,
        cases,
    })
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn parse(text: &str) -> Result<DnsSuite, SuiteError> {
        load(Path::new("s.yaml"), "s.yaml", text, &|_| unreachable!())
    }

    const HEAD: &str = "apiVersion: podcheck.dev/v1alpha1\nkind: DnsSuite\nmetadata: {name: dns}\n";

    #[test]
    fn a_suite_loads_with_its_defaults() {
        let suite = parse(&format!(
            "{HEAD}spec:\n  setup:\n    - {{apiVersion: v1, kind: Service, metadata: {{name: web}}, spec: {{ports: [{{name: http, port: 80}}]}}}}\n  cases:\n    - name: a\n      query: {{name: \"web.${{NAMESPACE}}.svc.${{ZONE}}.\", type: A}}\n      expect:\n        answers: [{{a: \"${{CLUSTER_IP:web}}\"}}]\n    - name: srv\n      query: {{name: \"_http._tcp.web.${{NAMESPACE}}.svc.${{ZONE}}.\", type: SRV, transport: tcp}}\n      expect:\n        answers: [{{srv: {{port: 80, target: \"web.${{NAMESPACE}}.svc.${{ZONE}}.\"}}}}]\n    - name: ptr\n      query: {{reverseOf: \"${{CLUSTER_IP:web}}\", type: PTR}}\n    - name: missing\n      query: {{name: nope.svc.cluster.local., type: A}}\n      expect: {{rcode: NXDOMAIN, answers: []}}\n"
        ))
        .unwrap();
        assert_eq!(suite.zone, "cluster.local");
        assert_eq!(suite.timeout, DEFAULT_TIMEOUT);
        assert_eq!(suite.setup.len(), 1);
        assert_eq!(suite.cases.len(), 4);
        assert_eq!(
            suite.cases[1].expect.answers,
            Some(vec![ExpectedRecord::Srv {
                port: 80,
                target: "web.${NAMESPACE}.svc.${ZONE}.".into()
            }])
        );
        assert_eq!(suite.cases[1].query.transport, Transport::Tcp);
        assert_eq!(
            suite.cases[2].query.name,
            QueryName::ReverseOf("${CLUSTER_IP:web}".into())
        );
        assert_eq!(suite.cases[2].expect.answers, None);
        assert_eq!(suite.cases[3].expect.rcode, Rcode::NxDomain);
        assert!(suite.cases[3].expect.complete);
    }

    #[rstest]
    #[case::unknown_field("spec:\n  cases: []\n  bogus: 1\n", 6, "unknown field")]
    #[case::bad_case_name(
        "spec:\n  cases:\n    - name: Bad\n      query: {name: a., type: A}\n",
        6,
        "not a DNS-1123 label"
    )]
    #[case::unknown_type(
        "spec:\n  cases:\n    - name: a\n      query: {name: a., type: MX}\n",
        7,
        "unknown value"
    )]
    #[case::no_name(
        "spec:\n  cases:\n    - name: a\n      query: {type: A}\n",
        6,
        "without name or reverseOf"
    )]
    #[case::unknown_placeholder(
        "spec:\n  cases:\n    - name: a\n      query: {name: \"${NS}.x.\", type: A}\n",
        7,
        "unknown placeholder ${NS}"
    )]
    #[case::cluster_ip_of_nothing(
        "spec:\n  cases:\n    - name: a\n      query: {reverseOf: \"${CLUSTER_IP:web}\", type: PTR}\n",
        7,
        "no Service \"web\""
    )]
    #[case::cluster_ip_of_headless(
        "spec:\n  setup:\n    - {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {clusterIP: None}}\n  cases:\n    - name: a\n      query: {name: a., type: A}\n      expect: {answers: [{a: \"${CLUSTER_IP:web}\"}]}\n",
        10,
        "no Service \"web\""
    )]
    #[case::namespaced_setup(
        "spec:\n  setup:\n    - {apiVersion: v1, kind: Service, metadata: {name: web, namespace: x}}\n  cases: []\n",
        6,
        "names a namespace"
    )]
    #[case::setup_without_kind(
        "spec:\n  setup:\n    - {metadata: {name: web}}\n  cases: []\n",
        6,
        "needs apiVersion, kind"
    )]
    fn problems_point_at_the_line(#[case] spec: &str, #[case] line: u64, #[case] message: &str) {
        let error = parse(&format!("{HEAD}{spec}")).unwrap_err();
        let problem = &error.0[0];
        assert!(
            problem.message.contains(message),
            "{message:?} not in {:?}",
            problem.message
        );
        assert_eq!(problem.line, line, "{}", problem.rendered);
    }

    #[test]
    fn placeholders_expand() {
        let bindings = Bindings {
            namespace: "ns-1".into(),
            zone: "cluster.local".into(),
            cluster_ips: [("web".to_string(), "10.96.0.5".to_string())].into(),
        };
        assert_eq!(
            expand("web.${NAMESPACE}.svc.${ZONE}.", &bindings).unwrap(),
            "web.ns-1.svc.cluster.local."
        );
        assert_eq!(expand("${CLUSTER_IP:web}", &bindings).unwrap(), "10.96.0.5");
        assert!(expand("${CLUSTER_IP:db}", &bindings).is_err());
        assert!(expand("${NAMESPACE", &bindings).is_err());
    }

    #[test]
    fn the_schema_names_the_record_types() {
        let schema = crate::conformance::json_schema();
        for t in [
            "\"SRV\"",
            "\"PTR\"",
            "\"CNAME\"",
            "\"NXDOMAIN\"",
            "reverseOf",
        ] {
            assert!(schema.contains(t), "{t} missing from the schema");
        }
    }
}
