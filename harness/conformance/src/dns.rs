//! The `kind: DnsSuite` runner: a cluster DNS server checked against the Kubernetes
//! DNS-Based Service Discovery specification by querying it directly.
//!
//! [`run`] creates a namespace and the suite's setup objects through the Kubernetes API,
//! asks the server every case's question (UDP, or TCP where the case says; a truncated UDP
//! answer is asked again over TCP) until every case passes or the suite's deadline ends —
//! the server learns of the objects through its own watches, so it lags them — and turns
//! the last round into one conformance case each, with the checks `rcode`, `answers` and
//! `ttl`. The namespace is deleted at the end, whatever happened.
//!
//! Queries go only to the server address given, and nowhere else.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use podcheck_core::conformance::dns::{
    Bindings, DnsCase, DnsSuite, ExpectedRecord, QueryName, Rcode, RecordKind, Transport, expand,
};
use podcheck_core::result::{
    CaseResult, CheckResult, ComponentUnderTest, Evidence, Source, SuiteResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::ConformanceError;

/// How long one query may wait for its response.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause between rounds while the server catches up with the setup.
const ROUND_INTERVAL: Duration = Duration::from_millis(200);
/// How long one Kubernetes API request of the setup or cleanup may take.
const API_DEADLINE: Duration = Duration::from_secs(30);
/// The UDP payload we announce with EDNS, so N × M SRV answers fit.
const UDP_PAYLOAD: u16 = 4096;

/// Runs `suite` against the DNS server at `server`, with the setup objects created through
/// `client` (an administrator) in `namespace`, which must not exist yet and gets `labels`
/// (the caller's run label, so an interrupted run's cleanup finds it).
pub async fn run(
    suite: &DnsSuite,
    client: kube::Client,
    server: SocketAddr,
    namespace: &str,
    labels: &[(&str, &str)],
) -> Result<SuiteResult, ConformanceError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut all_labels = serde_json::Map::new();
    all_labels.insert("podcheck.dev/suite".into(), suite.name.clone().into());
    for (k, v) in labels {
        all_labels.insert((*k).into(), (*v).into());
    }
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": namespace, "labels": all_labels},
    }))
    .expect("a namespace object");
    let created =
        tokio::time::timeout(API_DEADLINE, namespaces.create(&PostParams::default(), &ns))
            .await
            .map_err(|_| late(&format!("the namespace {namespace}")))?;
    created.map_err(|source| ConformanceError::Kubernetes {
        what: format!("create the namespace {namespace}"),
        source,
    })?;
    let result = run_in(suite, &client, server, namespace).await;
    // Cleanup whatever happened; a failed delete must not hide the result.
    let deleted = tokio::time::timeout(
        API_DEADLINE,
        namespaces.delete(namespace, &DeleteParams::default()),
    )
    .await;
    match deleted {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::warn!(%namespace, %error, "could not delete the dns suite's namespace")
        }
        Err(_) => tracing::warn!(%namespace, "the dns suite's namespace was not deleted in time"),
    }
    result
}

/// The error of an API request that did not finish within [`API_DEADLINE`].
fn late(what: &str) -> ConformanceError {
    ConformanceError::Start {
        what: what.to_string(),
        message: format!("the Kubernetes API did not answer within {API_DEADLINE:?}"),
    }
}

async fn run_in(
    suite: &DnsSuite,
    client: &kube::Client,
    server: SocketAddr,
    namespace: &str,
) -> Result<SuiteResult, ConformanceError> {
    let mut bindings = Bindings {
        namespace: namespace.to_string(),
        zone: suite.zone.trim_end_matches('.').to_string(),
        cluster_ips: Default::default(),
    };
    for object in &suite.setup {
        let created = tokio::time::timeout(API_DEADLINE, create(client, namespace, object))
            .await
            .map_err(|_| late("the dns suite's setup objects"))??;
        if created.types.as_ref().is_some_and(|t| t.kind == "Service")
            && let Some(ip) = created
                .data
                .pointer("/spec/clusterIP")
                .and_then(|v| v.as_str())
            && ip.parse::<IpAddr>().is_ok()
        {
            let name = created.metadata.name.clone().unwrap_or_default();
            bindings.cluster_ips.insert(name, ip.to_string());
        }
    }

    let version = schema_version(server, &bindings.zone).await;
    let started = Instant::now();
    let deadline = started + suite.timeout.0;
    let mut round: Vec<CaseResult>;
    loop {
        round = Vec::new();
        for case in &suite.cases {
            let began = Instant::now();
            // Each question within what is left of the suite's deadline, so an unresponsive
            // server costs the timeout, not a query timeout per case.
            let left = deadline.saturating_duration_since(began);
            let checks = match tokio::time::timeout(left, ask(case, &bindings, server)).await {
                Ok(checks) => checks,
                Err(_) => vec![CheckResult::failed(
                    "deadline",
                    "an answer within the suite's timeout",
                    format!("no answer within {} ms", left.as_millis()),
                    vec![],
                    format!(
                        "the server did not answer within the suite's timeout ({})",
                        suite.timeout
                    ),
                    hint(case),
                )],
            };
            let ms = began.elapsed().as_secs_f64() * 1000.0;
            let mut result =
                CaseResult::conformance(&case.name, &case.description, checks, ms, None);
            result.namespace = namespace.to_string();
            round.push(result);
        }
        let all_passed = round
            .iter()
            .all(|c| c.verdict == podcheck_core::result::Verdict::Passed);
        if all_passed || Instant::now() + ROUND_INTERVAL >= deadline {
            break;
        }
        tokio::time::sleep(ROUND_INTERVAL).await;
    }
    Ok(SuiteResult {
        name: suite.name.clone(),
        path: suite.path.display().to_string(),
        kind: "dns".into(),
        components: vec![ComponentUnderTest {
            component: "dns".into(),
            name: server.to_string(),
            version: if version.is_empty() {
                version
            } else {
                format!("dns-version {version}")
            },
        }],
        skipped: None,
        cases: round,
    })
}

/// Creates one setup object in `namespace`, whatever its kind (the apiserver's discovery
/// says where it is served).
async fn create(
    client: &kube::Client,
    namespace: &str,
    object: &serde_json::Value,
) -> Result<DynamicObject, ConformanceError> {
    let text = |p: &str| object.pointer(p).and_then(|v| v.as_str()).unwrap_or("");
    let (api_version, kind, name) = (text("/apiVersion"), text("/kind"), text("/metadata/name"));
    let what = format!("create the setup object {kind} {name}");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|source| ConformanceError::Kubernetes {
            what: what.clone(),
            source,
        })?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let object: DynamicObject =
        serde_json::from_value(object.clone()).map_err(|e| ConformanceError::Kubernetes {
            what: what.clone(),
            source: kube::Error::SerdeError(e),
        })?;
    api.create(&PostParams::default(), &object)
        .await
        .map_err(|source| ConformanceError::Kubernetes { what, source })
}

/// The server's `dns-version.<zone>` TXT answer, empty when it gives none.
async fn schema_version(server: SocketAddr, zone: &str) -> String {
    let Ok(name) = Name::from_ascii(format!("dns-version.{zone}.")) else {
        return String::new();
    };
    match exchange(server, &name, RecordType::TXT, Transport::Udp).await {
        Ok(response) => response
            .answers
            .iter()
            .find_map(|r| match &r.data {
                RData::TXT(txt) => Some(txt_text(txt)),
                _ => None,
            })
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Asks one case's question and checks the response.
async fn ask(case: &DnsCase, bindings: &Bindings, server: SocketAddr) -> Vec<CheckResult> {
    let evidence = |detail: String| {
        vec![Evidence {
            source: Source::Dns,
            provider: server.to_string(),
            real: true,
            detail,
            at_ms: None,
        }]
    };
    let qname = match query_name(&case.query.name, bindings) {
        Ok(name) => name,
        Err(message) => {
            return vec![CheckResult::failed(
                "query",
                "a question the suite can ask",
                message.clone(),
                evidence(message.clone()),
                message,
                None,
            )];
        }
    };
    let qtype = record_type(case.query.record_type);
    let transport = match case.query.transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    let asked = format!("{qname} {qtype} over {transport} to {server}");
    match exchange(server, &qname, qtype, case.query.transport).await {
        Ok(response) => {
            let detail = format!("{asked}: {}", summary(&response));
            evaluate(case, bindings, &qname, &response, &evidence(detail))
        }
        Err(error) => {
            let message = format!("{asked}: {error}");
            vec![CheckResult::failed(
                "rcode",
                case.expect.rcode.as_str(),
                "no response",
                evidence(message.clone()),
                message,
                Some("is the server listening at this address, for this protocol?".into()),
            )]
        }
    }
}

/// The checks of one response against the case: pure, so it is tested without a server.
fn evaluate(
    case: &DnsCase,
    bindings: &Bindings,
    qname: &Name,
    response: &Message,
    evidence: &[Evidence],
) -> Vec<CheckResult> {
    let mut checks = Vec::new();
    let expected_rcode = case.expect.rcode.as_str();
    let rcode = rcode_text(response.metadata.response_code);
    checks.push(if rcode == expected_rcode {
        CheckResult::passed("rcode", expected_rcode, rcode.clone(), evidence.to_vec())
    } else {
        CheckResult::failed(
            "rcode",
            expected_rcode,
            rcode.clone(),
            evidence.to_vec(),
            format!("the server answered {rcode}, the specification requires {expected_rcode}"),
            hint(case),
        )
    });

    if let Some(expected) = &case.expect.answers {
        let expand = |s: &str| expand(s, bindings).unwrap_or_else(|e| e);
        let expected_words: Vec<String> = expected.iter().map(|e| e.describe(&expand)).collect();
        let expected_text = if expected.is_empty() {
            "no answer records".to_string()
        } else if case.expect.complete {
            expected_words.join(", ")
        } else {
            format!("at least {}", expected_words.join(", "))
        };
        let observed: Vec<String> = response.answers.iter().map(describe).collect();
        let observed_text = if observed.is_empty() {
            "no answer records".to_string()
        } else {
            observed.join(", ")
        };
        let mut unmatched: Vec<&Record> = response.answers.iter().collect();
        let mut missing = Vec::new();
        // Exact records claim their answers first: a wildcard (`*.svc…`, an endpoint the
        // server names itself) must not take a record an exact expectation needs.
        let mut order: Vec<(&ExpectedRecord, &String)> =
            expected.iter().zip(&expected_words).collect();
        order.sort_by_key(|(want, _)| is_wildcard(want));
        for (want, words) in order {
            match unmatched
                .iter()
                .position(|r| record_matches(want, r, qname, bindings))
            {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => missing.push(words.clone()),
            }
        }
        let extra: Vec<String> = if case.expect.complete {
            unmatched.iter().map(|r| describe(r)).collect()
        } else {
            Vec::new()
        };
        checks.push(if missing.is_empty() && extra.is_empty() {
            CheckResult::passed("answers", &expected_text, observed_text, evidence.to_vec())
        } else {
            let mut why = Vec::new();
            if !missing.is_empty() {
                why.push(format!("missing {}", missing.join(", ")));
            }
            if !extra.is_empty() {
                why.push(format!("unexpected {}", extra.join(", ")));
            }
            CheckResult::failed(
                "answers",
                &expected_text,
                observed_text,
                evidence.to_vec(),
                why.join("; "),
                hint(case),
            )
        });
    }

    // RFC 2181 5.2: the records of one RRset share a TTL; 8: it fits in 31 bits.
    if !response.answers.is_empty() {
        let mut mixed = Vec::new();
        for r in &response.answers {
            let first = response
                .answers
                .iter()
                .find(|o| o.name == r.name && o.record_type() == r.record_type())
                .map_or(r.ttl, |o| o.ttl);
            if first != r.ttl || r.ttl > i32::MAX as u32 {
                mixed.push(describe(r));
            }
        }
        let ttls: Vec<String> = response.answers.iter().map(|r| r.ttl.to_string()).collect();
        let expected = "one TTL per RRset, below 2^31";
        checks.push(if mixed.is_empty() {
            CheckResult::passed(
                "ttl",
                expected,
                format!("TTLs {}", ttls.join(", ")),
                evidence.to_vec(),
            )
        } else {
            CheckResult::failed(
                "ttl",
                expected,
                format!("TTLs {}", ttls.join(", ")),
                evidence.to_vec(),
                format!(
                    "records of one RRset with different TTLs: {}",
                    mixed.join(", ")
                ),
                None,
            )
        });
    }
    checks
}

/// Where to look when a case fails: its description quotes the specification.
fn hint(case: &DnsCase) -> Option<String> {
    (!case.description.is_empty()).then(|| format!("the specification: {}", case.description))
}

/// Whether `record` is the answer `want` describes, at the query's name.
fn record_matches(
    want: &ExpectedRecord,
    record: &Record,
    qname: &Name,
    bindings: &Bindings,
) -> bool {
    let Ok(text) = (match want {
        ExpectedRecord::Srv { target, .. } => expand(target, bindings),
        ExpectedRecord::A(s)
        | ExpectedRecord::Aaaa(s)
        | ExpectedRecord::Ptr(s)
        | ExpectedRecord::Cname(s)
        | ExpectedRecord::Txt(s) => expand(s, bindings),
    }) else {
        return false;
    };
    if !same_name(&record.name, &qname.to_ascii()) {
        return false;
    }
    match (want, &record.data) {
        (ExpectedRecord::A(_), RData::A(a)) => text.parse::<IpAddr>().ok() == Some(IpAddr::V4(a.0)),
        (ExpectedRecord::Aaaa(_), RData::AAAA(a)) => {
            text.parse::<IpAddr>().ok() == Some(IpAddr::V6(a.0))
        }
        (ExpectedRecord::Srv { port, .. }, RData::SRV(srv)) => {
            srv.port == *port && same_name(&srv.target, &text)
        }
        (ExpectedRecord::Ptr(_), RData::PTR(ptr)) => same_name(&ptr.0, &text),
        (ExpectedRecord::Cname(_), RData::CNAME(cname)) => same_name(&cname.0, &text),
        (ExpectedRecord::Txt(_), RData::TXT(txt)) => txt_text(txt) == text,
        _ => false,
    }
}

/// Whether an expected record names its target by a wildcard.
fn is_wildcard(want: &ExpectedRecord) -> bool {
    match want {
        ExpectedRecord::Srv { target, .. } => target.starts_with("*."),
        ExpectedRecord::Ptr(name) | ExpectedRecord::Cname(name) => name.starts_with("*."),
        _ => false,
    }
}

/// Whether `name` is `pattern` (any case, trailing dot optional), where a leading `*`
/// label of the pattern stands for any one label.
fn same_name(name: &Name, pattern: &str) -> bool {
    let fqdn = |s: &str| {
        let s = s.to_ascii_lowercase();
        if s.ends_with('.') { s } else { format!("{s}.") }
    };
    let name = fqdn(&name.to_ascii());
    let pattern = fqdn(pattern);
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => name == pattern,
    }
}

/// The name a query asks for: the case's, with placeholders, or an address's reverse name.
fn query_name(name: &QueryName, bindings: &Bindings) -> Result<Name, String> {
    match name {
        QueryName::Name(template) => {
            let text = expand(template, bindings)?;
            let mut name =
                Name::from_ascii(&text).map_err(|e| format!("{text:?} is not a name: {e}"))?;
            name.set_fqdn(true);
            Ok(name)
        }
        QueryName::ReverseOf(template) => {
            let text = expand(template, bindings)?;
            let ip: IpAddr = text
                .parse()
                .map_err(|_| format!("{text:?} is not an IP address"))?;
            Ok(Name::from(ip))
        }
    }
}

fn record_type(kind: RecordKind) -> RecordType {
    match kind {
        RecordKind::A => RecordType::A,
        RecordKind::Aaaa => RecordType::AAAA,
        RecordKind::Srv => RecordType::SRV,
        RecordKind::Ptr => RecordType::PTR,
        RecordKind::Cname => RecordType::CNAME,
        RecordKind::Txt => RecordType::TXT,
        RecordKind::Soa => RecordType::SOA,
    }
}

fn rcode_text(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => Rcode::NoError.as_str().into(),
        ResponseCode::NXDomain => Rcode::NxDomain.as_str().into(),
        ResponseCode::Refused => Rcode::Refused.as_str().into(),
        other => other.to_str().to_ascii_uppercase(),
    }
}

fn txt_text(txt: &hickory_proto::rr::rdata::TXT) -> String {
    txt.txt_data
        .iter()
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

/// A record in zone-file words, without class: `name ttl TYPE data`.
fn describe(record: &Record) -> String {
    let data = match &record.data {
        RData::TXT(txt) => format!("{:?}", txt_text(txt)),
        other => other.to_string(),
    };
    format!(
        "{} {} {} {data}",
        record.name,
        record.ttl,
        record.record_type()
    )
}

/// The response's code, flags and answers, for evidence.
fn summary(response: &Message) -> String {
    let mut s = rcode_text(response.metadata.response_code);
    if response.metadata.authoritative {
        s.push_str(" aa");
    }
    let answers: Vec<String> = response.answers.iter().map(describe).collect();
    s.push_str(&format!(", {} answer(s)", answers.len()));
    if !answers.is_empty() {
        s.push_str(&format!(": {}", answers.join("; ")));
    }
    s
}

/// One question to `server`; a truncated UDP answer is asked again over TCP.
async fn exchange(
    server: SocketAddr,
    name: &Name,
    qtype: RecordType,
    transport: Transport,
) -> Result<Message, String> {
    let mut query = Message::query();
    query.metadata.id = rand_id();
    query.metadata.recursion_desired = false;
    query.add_query(Query::query(name.clone(), qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    query.set_edns(edns);
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let response = match transport {
        Transport::Udp => {
            let response =
                tokio::time::timeout(QUERY_TIMEOUT, udp(server, &bytes, query.metadata.id))
                    .await
                    .map_err(|_| format!("no udp response within {QUERY_TIMEOUT:?}"))??;
            if !response.metadata.truncation {
                return Ok(response);
            }
            tokio::time::timeout(QUERY_TIMEOUT, tcp(server, &bytes))
                .await
                .map_err(|_| format!("no tcp response within {QUERY_TIMEOUT:?}"))??
        }
        Transport::Tcp => tokio::time::timeout(QUERY_TIMEOUT, tcp(server, &bytes))
            .await
            .map_err(|_| format!("no tcp response within {QUERY_TIMEOUT:?}"))??,
    };
    if response.metadata.id != query.metadata.id {
        return Err("the response's id does not match the query's".into());
    }
    Ok(response)
}

async fn udp(server: SocketAddr, bytes: &[u8], id: u16) -> Result<Message, String> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("udp bind: {e}"))?;
    socket
        .connect(server)
        .await
        .map_err(|e| format!("udp connect: {e}"))?;
    socket
        .send(bytes)
        .await
        .map_err(|e| format!("udp send: {e}"))?;
    let mut buf = vec![0; 65535];
    loop {
        let len = socket
            .recv(&mut buf)
            .await
            .map_err(|e| format!("udp receive: {e}"))?;
        // Anything else on the socket (a late answer to nothing) is skipped.
        if let Ok(message) = Message::from_vec(&buf[..len])
            && message.metadata.id == id
        {
            return Ok(message);
        }
    }
}

async fn tcp(server: SocketAddr, bytes: &[u8]) -> Result<Message, String> {
    let mut stream = TcpStream::connect(server)
        .await
        .map_err(|e| format!("tcp connect: {e}"))?;
    let len = u16::try_from(bytes.len()).map_err(|_| "query too long".to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("tcp send: {e}"))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| format!("tcp receive: {e}"))?;
    let mut buf = vec![0; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| format!("tcp receive: {e}"))?;
    Message::from_vec(&buf).map_err(|e| format!("malformed response: {e}"))
}

/// A query id that differs between queries (no cryptographic need: loopback only).
fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u16);
    seed ^ NEXT.fetch_add(7919, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::rdata::{A, SRV};
    use podcheck_core::conformance::dns::{DnsExpect, DnsQuery};
    use podcheck_core::result::StageStatus;
    use rstest::rstest;

    use super::*;

    fn bindings() -> Bindings {
        Bindings {
            namespace: "ns".into(),
            zone: "cluster.local".into(),
            cluster_ips: [("web".to_string(), "10.96.0.5".to_string())].into(),
        }
    }

    fn case(rcode: Rcode, answers: Option<Vec<ExpectedRecord>>, complete: bool) -> DnsCase {
        DnsCase {
            name: "c".into(),
            line: 1,
            description: "2.3.1".into(),
            query: DnsQuery {
                name: QueryName::Name("web.${NAMESPACE}.svc.${ZONE}.".into()),
                record_type: RecordKind::A,
                transport: Transport::Udp,
            },
            expect: DnsExpect {
                rcode,
                answers,
                complete,
            },
        }
    }

    fn response(code: ResponseCode, answers: Vec<(u32, RData)>) -> Message {
        let mut m = Message::response(1, hickory_proto::op::OpCode::Query);
        m.metadata.response_code = code;
        for (ttl, data) in answers {
            m.add_answer(Record::from_rdata(
                Name::from_ascii("WEB.ns.svc.cluster.local.").unwrap(),
                ttl,
                data,
            ));
        }
        m
    }

    fn statuses(checks: &[CheckResult]) -> Vec<(String, StageStatus)> {
        checks.iter().map(|c| (c.name.clone(), c.status)).collect()
    }

    fn a(ip: [u8; 4]) -> RData {
        RData::A(A(ip.into()))
    }

    #[rstest]
    #[case::right(response(ResponseCode::NoError, vec![(5, a([10, 96, 0, 5]))]), true, true, true)]
    #[case::wrong_address(response(ResponseCode::NoError, vec![(5, a([10, 96, 0, 6]))]), true, false, true)]
    #[case::extra_record(response(ResponseCode::NoError, vec![(5, a([10, 96, 0, 5])), (5, a([10, 96, 0, 6]))]), true, false, true)]
    #[case::mixed_ttls(response(ResponseCode::NoError, vec![(5, a([10, 96, 0, 5])), (9, a([10, 96, 0, 5]))]), true, false, false)]
    #[case::nxdomain(response(ResponseCode::NXDomain, vec![]), false, false, true)]
    fn checks_name_what_failed(
        #[case] response: Message,
        #[case] rcode_ok: bool,
        #[case] answers_ok: bool,
        #[case] ttl_ok: bool,
    ) {
        let case = case(
            Rcode::NoError,
            Some(vec![ExpectedRecord::A("${CLUSTER_IP:web}".into())]),
            true,
        );
        let qname = query_name(&case.query.name, &bindings()).unwrap();
        let checks = evaluate(&case, &bindings(), &qname, &response, &[]);
        let status = |ok: bool| {
            if ok {
                StageStatus::Passed
            } else {
                StageStatus::Failed
            }
        };
        let mut expected = vec![
            ("rcode".to_string(), status(rcode_ok)),
            ("answers".to_string(), status(answers_ok)),
        ];
        if !response.answers.is_empty() {
            expected.push(("ttl".to_string(), status(ttl_ok)));
        }
        assert_eq!(statuses(&checks), expected);
    }

    #[test]
    fn srv_targets_may_leave_the_first_label_open() {
        let case = case(
            Rcode::NoError,
            Some(vec![
                ExpectedRecord::Srv {
                    port: 80,
                    target: "web-0.web.${NAMESPACE}.svc.${ZONE}.".into(),
                },
                ExpectedRecord::Srv {
                    port: 80,
                    target: "*.web.${NAMESPACE}.svc.${ZONE}.".into(),
                },
            ]),
            true,
        );
        let srv = |target: &str| RData::SRV(SRV::new(0, 50, 80, Name::from_ascii(target).unwrap()));
        let qname = Name::from_ascii("web.ns.svc.cluster.local.").unwrap();
        let good = response(
            ResponseCode::NoError,
            vec![
                (5, srv("10-1-2-3.web.ns.svc.cluster.local.")),
                (5, srv("web-0.web.ns.svc.cluster.local.")),
            ],
        );
        let checks = evaluate(&case, &bindings(), &qname, &good, &[]);
        assert!(
            checks.iter().all(|c| c.status == StageStatus::Passed),
            "{checks:?}"
        );
        let deeper = response(
            ResponseCode::NoError,
            vec![
                (5, srv("a.b.web.ns.svc.cluster.local.")),
                (5, srv("web-0.web.ns.svc.cluster.local.")),
            ],
        );
        let checks = evaluate(&case, &bindings(), &qname, &deeper, &[]);
        assert_eq!(checks[1].status, StageStatus::Failed);
        assert!(
            checks[1]
                .message
                .as_deref()
                .unwrap()
                .contains("missing SRV 80 *.web")
        );
    }

    #[test]
    fn incomplete_answers_allow_more_records() {
        let case = case(
            Rcode::NoError,
            Some(vec![ExpectedRecord::A("10.96.0.5".into())]),
            false,
        );
        let qname = query_name(&case.query.name, &bindings()).unwrap();
        let two = response(
            ResponseCode::NoError,
            vec![(5, a([10, 96, 0, 5])), (5, a([10, 96, 0, 6]))],
        );
        let checks = evaluate(&case, &bindings(), &qname, &two, &[]);
        assert!(checks.iter().all(|c| c.status == StageStatus::Passed));
    }

    #[test]
    fn reverse_names_are_built_from_addresses() {
        let name = query_name(
            &QueryName::ReverseOf("${CLUSTER_IP:web}".into()),
            &bindings(),
        )
        .unwrap();
        assert_eq!(name.to_ascii(), "5.0.96.10.in-addr.arpa.");
        let v6 = query_name(&QueryName::ReverseOf("fd00::1".into()), &bindings()).unwrap();
        assert!(v6.to_ascii().ends_with(".0.0.d.f.ip6.arpa."), "{v6}");
    }
}
