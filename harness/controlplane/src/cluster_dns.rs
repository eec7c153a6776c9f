//! Cluster DNS: an authoritative server for the cluster zone (default `cluster.local`).
//!
//! It follows the Kubernetes DNS-Based Service Discovery specification, schema version
//! 1.1.0:
//!
//! - `dns-version.<zone>` TXT → `1.1.0`;
//! - `<service>.<ns>.svc.<zone>` A/AAAA → the Service's ClusterIPs (one per family);
//! - a headless Service's name → A/AAAA, one per address of a _ready_ endpoint (its
//!   EndpointSlices'; every endpoint when the Service publishes not-ready addresses), and
//!   NXDOMAIN while none is ready;
//! - `<hostname>.<service>.<ns>.svc.<zone>` A/AAAA → a ready endpoint's addresses, where the
//!   _hostname_ is the endpoint's `hostname`, else its dashed address (`10-244-1-7`), the
//!   system-assigned identifier CoreDNS also uses;
//! - `_<port>._<proto>.<service>.<ns>.svc.<zone>` SRV for each named port: one record to the
//!   Service's name for a ClusterIP Service; for a headless one, N ready endpoints × M
//!   named ports of their slices, each to `<hostname>.<service>…`;
//! - `<d>.<c>.<b>.<a>.in-addr.arpa` and the `ip6.arpa` nibble form PTR → the Service
//!   owning that ClusterIP, and `<hostname>.<service>…` for a ready headless endpoint;
//! - an ExternalName Service's name → CNAME to the external name (not followed);
//! - `<a-b-c-d>.<ns>.pod.<zone>` A (and dashed IPv6 for AAAA), the deprecated records of
//!   section 2.6, as CoreDNS's `pods insecure` mode: any well-formed dashed address answers;
//! - the apex (SOA), `svc.<zone>`, `pod.<zone>`, `<ns>.svc.<zone>`, `<ns>.pod.<zone>` and
//!   `_<proto>.<service>…` above an SRV name exist, as empty non-terminals, and answer
//!   NOERROR with no records.
//!
//! Names are matched case-insensitively; answers carry the query's spelling. Anything else
//! in the zone is NXDOMAIN; reverse names of addresses the cluster does not own are
//! NXDOMAIN; other names outside the zone are REFUSED. Unless an upstream on loopback is
//! configured: then, as kubeadm's Corefile (`kubernetes ZONE in-addr.arpa ip6.arpa {
//! fallthrough in-addr.arpa ip6.arpa }` and `forward . /etc/resolv.conf`), names outside the
//! zone, and reverse names the cluster does not own, are forwarded there and its answer
//! relayed ([`route`], `crate::dns_forward`). It sends no other traffic of its own.
//!
//! Not covered: NS records for the apex, wildcard queries, and the Additional section of
//! SRV answers (the specification allows, not requires, it).
//!
//! The wire protocol is hickory-server's; this module only decides the answers.

use std::{
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use hickory_proto::{
    ProtoError,
    op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode},
    rr::{
        DNSClass, Name, RData, Record, RecordType,
        rdata::{A, AAAA, CNAME, PTR, SOA, SRV, TXT},
    },
};
use hickory_server::{
    Server,
    net::runtime::Time,
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponseBuilder,
};
use tokio::net::{TcpListener, UdpSocket};
use tracing::{debug, warn};

pub use crate::dns_forward::Forward;

/// The schema version of the Kubernetes DNS specification this server implements.
pub const SCHEMA_VERSION: &str = "1.1.0";

/// TTL of every record we serve, and of negative answers (via the SOA minimum): CoreDNS's
/// kubernetes plugin uses 5 s, short enough that Service changes show up quickly.
const TTL: u32 = 5;

/// The SRV priority of every record: all targets are equal (RFC 2782 leaves it to us).
const SRV_PRIORITY: u16 = 0;

/// How many times to pick a new ephemeral UDP port when TCP cannot bind the same one.
const BIND_ATTEMPTS: usize = 8;

/// A TCP connection that sends nothing for this long is closed.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Responses queued per TCP connection before the sender waits.
const TCP_RESPONSE_BUFFER: usize = 32;

/// How long `shutdown` waits for the listeners to stop before aborting them.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);

/// What the DNS server knows about the cluster; the control plane implements it from the
/// Kubernetes API (reflectors over Services and EndpointSlices). Lookups are synchronous
/// and cheap.
pub trait ClusterRecords: Send + Sync + 'static {
    /// The Service `name` in `namespace`, if it exists (names as stored: lowercase).
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceRecord>;

    /// Calls `visit(namespace, name, service)` for every Service, for reverse lookups.
    fn visit_services(&self, visit: &mut dyn FnMut(&str, &str, &ServiceRecord));
}

/// What DNS needs to know about one Service, by the records it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceRecord {
    /// A Service with ClusterIPs (one per IP family) and its ports.
    ClusterIp {
        ips: Vec<IpAddr>,
        ports: Vec<ServicePort>,
    },
    /// `clusterIP: None`: its records come from its endpoints.
    Headless { endpoints: Vec<Endpoint> },
    /// `type: ExternalName`: a CNAME to `external_name`.
    ExternalName { external_name: String },
}

impl ServiceRecord {
    /// A ClusterIP Service with one address and no ports.
    pub fn cluster_ip(ip: IpAddr) -> Self {
        ServiceRecord::ClusterIp {
            ips: vec![ip],
            ports: Vec::new(),
        }
    }
}

/// A port of a Service or of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Empty for an unnamed port, which has no SRV record.
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    pub port: u16,
}

/// One endpoint of a headless Service (from an EndpointSlice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub addresses: Vec<IpAddr>,
    /// The endpoint's `hostname` field.
    pub hostname: Option<String>,
    /// Ready as the specification means it: the `ready` condition (absent means ready),
    /// or any endpoint of a Service that publishes not-ready addresses.
    pub ready: bool,
    /// The ports of the EndpointSlice the endpoint is in.
    pub ports: Vec<ServicePort>,
}

/// How to run the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// The cluster zone, e.g. `cluster.local` (trailing dot optional, any case).
    pub zone: String,
    /// Where to listen on both UDP and TCP; port 0 picks an ephemeral port.
    pub listen: SocketAddr,
    /// Where names the cluster does not own go; `None`: they are refused.
    pub forward: Option<Forward>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The configured zone is not a valid domain name.
    #[error("invalid cluster zone {zone:?}")]
    InvalidZone {
        /// The zone as configured.
        zone: String,
        /// Why it does not parse.
        #[source]
        source: ProtoError,
    },
    /// The configured zone is the DNS root, which would make the server claim every name.
    #[error("the cluster zone must not be the dns root")]
    RootZone,
    /// The UDP socket could not be bound.
    #[error("failed to bind udp socket on {addr}")]
    BindUdp {
        /// The address we tried.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: io::Error,
    },
    /// The TCP listener could not be bound on the UDP socket's port.
    #[error("failed to bind tcp listener on {addr}")]
    BindTcp {
        /// The address we tried (the UDP socket's).
        addr: SocketAddr,
        /// The bind error of the last attempt.
        #[source]
        source: io::Error,
    },
    /// The bound UDP socket would not tell its local address.
    #[error("failed to read the local address of the udp socket")]
    LocalAddr(#[source] io::Error),
}

/// The answer to one question, before it is put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// NOERROR with these answer records; empty means the name exists without data of
    /// the asked type (NODATA).
    Records(Vec<Record>),
    /// The name does not exist in the zone.
    NxDomain,
    /// The name is outside the zone (or the query is one we never serve).
    Refused,
}

/// What to do with a question.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Answer it from the cluster's records.
    Answer(Answer),
    /// Pass it to the upstream and relay what it says.
    Forward,
}

/// Whether the server answers a question or, with an upstream (`forwarding`), forwards it:
/// names outside the cluster zone and the reverse zones, and reverse names the cluster has
/// no record of (CoreDNS's `fallthrough in-addr.arpa ip6.arpa`), go upstream; zone
/// transfers never do.
pub fn route(
    zone: &str,
    name: &str,
    qtype: RecordType,
    records: &dyn ClusterRecords,
    forwarding: bool,
) -> Route {
    let Ok(zone) = Zone::parse(zone) else {
        return Route::Answer(Answer::Refused);
    };
    let Ok(mut qname) = Name::from_ascii(name).or_else(|_| Name::from_utf8(name)) else {
        return Route::Answer(Answer::Refused);
    };
    qname.set_fqdn(true);
    zone.route(&qname, qtype, records, forwarding)
}

/// The pure answer logic, testable without sockets.
///
/// `name` is the query name, with or without trailing dot, in any case; answer records
/// carry it as given. An invalid `zone` or `name` yields [`Answer::Refused`], since we
/// cannot be authoritative for it.
pub fn answer(zone: &str, name: &str, qtype: RecordType, records: &dyn ClusterRecords) -> Answer {
    let Ok(zone) = Zone::parse(zone) else {
        return Answer::Refused;
    };
    let Ok(mut qname) = Name::from_ascii(name).or_else(|_| Name::from_utf8(name)) else {
        return Answer::Refused;
    };
    qname.set_fqdn(true);
    zone.answer(&qname, qtype, records)
}

/// The zone apex and its SOA, parsed once.
#[derive(Debug, Clone)]
struct Zone {
    apex: Name,
    soa: Record,
}

/// The reverse zones we answer PTR queries in.
const REVERSE_ZONES: [&str; 2] = ["in-addr.arpa.", "ip6.arpa."];

impl Zone {
    fn parse(zone: &str) -> Result<Self, DnsError> {
        let invalid = |source| DnsError::InvalidZone {
            zone: zone.to_owned(),
            source,
        };
        let mut apex = Name::from_ascii(zone).map_err(invalid)?.to_lowercase();
        apex.set_fqdn(true);
        if apex.is_root() {
            return Err(DnsError::RootZone);
        }
        // Same SOA shape as CoreDNS; the serial is fixed because there are no secondaries
        // to notice changes, and the minimum bounds negative caching to our TTL.
        let mname = Name::from_ascii("ns.dns")
            .and_then(|n| n.append_domain(&apex))
            .map_err(invalid)?;
        let rname = Name::from_ascii("hostmaster")
            .and_then(|n| n.append_domain(&apex))
            .map_err(invalid)?;
        let soa = SOA::new(mname, rname, 1, 7200, 1800, 86400, TTL);
        let soa = Record::from_rdata(apex.clone(), TTL, RData::SOA(soa));
        Ok(Self { apex, soa })
    }

    /// Whether negative answers for `qname` carry our SOA: only names in the cluster zone.
    fn owns(&self, qname: &Name) -> bool {
        self.apex.zone_of(qname)
    }

    fn route(
        &self,
        qname: &Name,
        qtype: RecordType,
        records: &dyn ClusterRecords,
        forwarding: bool,
    ) -> Route {
        let answer = self.answer(qname, qtype, records);
        if !forwarding || self.owns(qname) || matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Route::Answer(answer);
        }
        match answer {
            // Outside every zone we serve, or a reverse name the cluster has nothing for.
            Answer::Refused | Answer::NxDomain => Route::Forward,
            found => Route::Answer(found),
        }
    }

    /// `<labels…>.<zone>.`, lowercase, for record data (targets).
    fn name(&self, labels: &[&str]) -> Option<Name> {
        Name::from_labels(labels.iter().map(|l| l.as_bytes()))
            .ok()?
            .append_domain(&self.apex)
            .ok()
    }

    fn answer(&self, qname: &Name, qtype: RecordType, records: &dyn ClusterRecords) -> Answer {
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Answer::Refused;
        }
        if !self.apex.zone_of(qname) {
            let reverse = REVERSE_ZONES
                .iter()
                .filter_map(|z| Name::from_ascii(z).ok())
                .any(|z| z.zone_of(qname));
            return if reverse {
                self.reverse(qname, qtype, records)
            } else {
                Answer::Refused
            };
        }
        // Count raw labels: `num_labels` discounts a leading `*`, which would make
        // `*.ZONE` look like the apex.
        let depth = qname.iter().len().saturating_sub(self.apex.iter().len());
        // The labels below the apex, nearest to it first, lowercased for matching;
        // a label that is not UTF-8 cannot name anything of ours.
        let Ok(mut labels) = qname
            .iter()
            .take(depth)
            .map(|label| std::str::from_utf8(label).map(str::to_ascii_lowercase))
            .collect::<Result<Vec<_>, _>>()
        else {
            return Answer::NxDomain;
        };
        labels.reverse();

        let wants = |t: RecordType| qtype == t || qtype == RecordType::ANY;
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        match labels.as_slice() {
            [] if wants(RecordType::SOA) => Answer::Records(vec![self.soa.clone()]),
            ["dns-version"] if wants(RecordType::TXT) => {
                let txt = TXT::new(vec![SCHEMA_VERSION.to_owned()]);
                Answer::Records(vec![Record::from_rdata(
                    qname.clone(),
                    TTL,
                    RData::TXT(txt),
                )])
            }
            // Names that exist, but not with the asked type (or only as empty non-terminals).
            [] | ["dns-version"] | ["svc" | "pod"] | ["svc" | "pod", _] => {
                Answer::Records(Vec::new())
            }
            ["svc", namespace, service, below @ ..] => match records.service(namespace, service) {
                Some(record) => {
                    self.service_answer(qname, qtype, namespace, service, &record, below)
                }
                None => Answer::NxDomain,
            },
            ["pod", _namespace, pod] => match pod_ip(pod) {
                Some(ip) => addresses_answer(qname, &[ip], qtype),
                None => Answer::NxDomain,
            },
            _ => Answer::NxDomain,
        }
    }

    /// Names at and below `<service>.<namespace>.svc.<zone>`; `below` are the labels under
    /// the Service's name, nearest first.
    fn service_answer(
        &self,
        qname: &Name,
        qtype: RecordType,
        namespace: &str,
        service: &str,
        record: &ServiceRecord,
        below: &[&str],
    ) -> Answer {
        let wants = |t: RecordType| qtype == t || qtype == RecordType::ANY;
        match (record, below) {
            (ServiceRecord::ClusterIp { ips, .. }, []) => addresses_answer(qname, ips, qtype),
            (ServiceRecord::Headless { endpoints }, []) => {
                let ready = ready_addresses(endpoints);
                if ready.is_empty() {
                    return Answer::NxDomain;
                }
                let ips: Vec<IpAddr> = ready.iter().map(|(_, ip, _)| *ip).collect();
                addresses_answer(qname, &ips, qtype)
            }
            (ServiceRecord::Headless { endpoints }, [hostname]) if !hostname.starts_with('_') => {
                let ips: Vec<IpAddr> = ready_addresses(endpoints)
                    .into_iter()
                    .filter(|(h, _, _)| h == hostname)
                    .map(|(_, ip, _)| ip)
                    .collect();
                if ips.is_empty() {
                    return Answer::NxDomain;
                }
                addresses_answer(qname, &ips, qtype)
            }
            (ServiceRecord::ExternalName { external_name }, []) => {
                match Name::from_ascii(external_name) {
                    Ok(mut target) => {
                        target.set_fqdn(true);
                        // A CNAME stands for every type at its name (RFC 1034 3.6.2).
                        Answer::Records(vec![Record::from_rdata(
                            qname.clone(),
                            TTL,
                            RData::CNAME(CNAME(target)),
                        )])
                    }
                    Err(_) => Answer::NxDomain,
                }
            }
            (_, [proto]) if proto.starts_with('_') => {
                // `_<proto>.<service>…` exists when an SRV name lies below it.
                let exists = self
                    .srv_records(qname, namespace, service, record, None, proto)
                    .is_some_and(|r| !r.is_empty());
                if exists {
                    Answer::Records(Vec::new())
                } else {
                    Answer::NxDomain
                }
            }
            (_, [proto, port]) if proto.starts_with('_') && port.starts_with('_') => {
                match self.srv_records(qname, namespace, service, record, Some(port), proto) {
                    Some(srv) if !srv.is_empty() => Answer::Records(if wants(RecordType::SRV) {
                        srv
                    } else {
                        Vec::new()
                    }),
                    _ => Answer::NxDomain,
                }
            }
            _ => Answer::NxDomain,
        }
    }

    /// The SRV records of `_<port>._<proto>.<service>…` (any named port when `port` is
    /// `None`); `None` when the Service cannot have any.
    fn srv_records(
        &self,
        qname: &Name,
        namespace: &str,
        service: &str,
        record: &ServiceRecord,
        port: Option<&str>,
        proto: &str,
    ) -> Option<Vec<Record>> {
        let matches = |p: &ServicePort| {
            !p.name.is_empty()
                && proto.strip_prefix('_') == Some(p.protocol.to_ascii_lowercase().as_str())
                && port.is_none_or(|port| {
                    port.strip_prefix('_') == Some(p.name.to_ascii_lowercase().as_str())
                })
        };
        // (target, port number)
        let mut targets: Vec<(Name, u16)> = Vec::new();
        match record {
            ServiceRecord::ClusterIp { ports, .. } => {
                let target = self.name(&[service, namespace, "svc"])?;
                for p in ports.iter().filter(|p| matches(p)) {
                    targets.push((target.clone(), p.port));
                }
            }
            ServiceRecord::Headless { endpoints } => {
                for (hostname, _, ports) in ready_addresses(endpoints) {
                    let target = self.name(&[&hostname, service, namespace, "svc"])?;
                    for p in ports.iter().filter(|p| matches(p)) {
                        if !targets.contains(&(target.clone(), p.port)) {
                            targets.push((target.clone(), p.port));
                        }
                    }
                }
            }
            ServiceRecord::ExternalName { .. } => return None,
        }
        // Equal shares of weight, as CoreDNS gives them.
        let weight = u16::try_from(100 / targets.len().max(1))
            .unwrap_or(1)
            .max(1);
        Some(
            targets
                .into_iter()
                .map(|(target, number)| {
                    let srv = SRV::new(SRV_PRIORITY, weight, number, target);
                    Record::from_rdata(qname.clone(), TTL, RData::SRV(srv))
                })
                .collect(),
        )
    }

    /// PTR answers for `in-addr.arpa` and `ip6.arpa` names.
    fn reverse(&self, qname: &Name, qtype: RecordType, records: &dyn ClusterRecords) -> Answer {
        let Ok(net) = qname.parse_arpa_name() else {
            return Answer::Refused;
        };
        // Only a whole address names something; shorter names are not ours to claim.
        if net.prefix_len() != net.max_prefix_len() {
            return Answer::Refused;
        }
        let ip = net.addr();
        let mut targets: Vec<Name> = Vec::new();
        records.visit_services(&mut |namespace, service, record| {
            let names: Vec<Option<Name>> = match record {
                ServiceRecord::ClusterIp { ips, .. } if ips.contains(&ip) => {
                    vec![self.name(&[service, namespace, "svc"])]
                }
                ServiceRecord::Headless { endpoints } => ready_addresses(endpoints)
                    .into_iter()
                    .filter(|(_, a, _)| *a == ip)
                    .map(|(hostname, _, _)| self.name(&[&hostname, service, namespace, "svc"]))
                    .collect(),
                _ => Vec::new(),
            };
            for name in names.into_iter().flatten() {
                if !targets.contains(&name) {
                    targets.push(name);
                }
            }
        });
        if targets.is_empty() {
            return Answer::NxDomain;
        }
        if qtype != RecordType::PTR && qtype != RecordType::ANY {
            return Answer::Records(Vec::new());
        }
        targets.sort();
        Answer::Records(
            targets
                .into_iter()
                .map(|t| Record::from_rdata(qname.clone(), TTL, RData::PTR(PTR(t))))
                .collect(),
        )
    }
}

/// A headless Service's ready (hostname, address, ports), each address once per hostname;
/// the hostname is lowercase, and the dashed address when the endpoint has none.
fn ready_addresses(endpoints: &[Endpoint]) -> Vec<(String, IpAddr, &[ServicePort])> {
    let mut out: Vec<(String, IpAddr, &[ServicePort])> = Vec::new();
    for endpoint in endpoints.iter().filter(|e| e.ready) {
        for ip in &endpoint.addresses {
            let hostname = match &endpoint.hostname {
                Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
                _ => dashed(*ip),
            };
            if !out.iter().any(|(h, a, _)| *h == hostname && a == ip) {
                out.push((hostname, *ip, &endpoint.ports));
            }
        }
    }
    out
}

/// `10-244-1-7` for 10.244.1.7, `fd00--7` for fd00::7: an address as one DNS label.
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// A and AAAA records for those of `ips` in the family the query asks, else NODATA.
fn addresses_answer(qname: &Name, ips: &[IpAddr], qtype: RecordType) -> Answer {
    let mut out: Vec<Record> = Vec::new();
    for ip in ips {
        let rdata = match (ip, qtype) {
            (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => RData::A(A(*v4)),
            (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => RData::AAAA(AAAA(*v6)),
            _ => continue,
        };
        let record = Record::from_rdata(qname.clone(), TTL, rdata);
        if !out.contains(&record) {
            out.push(record);
        }
    }
    Answer::Records(out)
}

/// The address a pod label spells: `10-1-2-3` for IPv4, `fd00--1` for IPv6 (as CoreDNS).
fn pod_ip(label: &str) -> Option<IpAddr> {
    // std's parsers are strict (no leading zeros, exactly four IPv4 octets), which is the
    // "well-formed" we want.
    let v4 = label.replace('-', ".").parse::<Ipv4Addr>().map(IpAddr::V4);
    v4.or_else(|_| label.replace('-', ":").parse::<Ipv6Addr>().map(IpAddr::V6))
        .ok()
}

/// The response code, flags and sections of one reply.
struct Reply {
    code: ResponseCode,
    authoritative: bool,
    answers: Vec<Record>,
    with_soa: bool,
    /// An upstream's authority and additional sections, relayed as they came.
    authorities: Vec<Record>,
    additionals: Vec<Record>,
    recursion_available: bool,
}

impl Reply {
    fn error(code: ResponseCode) -> Self {
        Self {
            code,
            authoritative: false,
            answers: Vec::new(),
            with_soa: false,
            authorities: Vec::new(),
            additionals: Vec::new(),
            recursion_available: false,
        }
    }

    /// The upstream's answer, as it came.
    fn relayed(upstream: hickory_proto::op::Message) -> Self {
        Self {
            code: upstream.metadata.response_code,
            authoritative: upstream.metadata.authoritative,
            recursion_available: upstream.metadata.recursion_available,
            answers: upstream.answers,
            authorities: upstream.authorities,
            additionals: upstream.additionals,
            with_soa: false,
        }
    }
}

/// A fault of the server's (`dnsDrops`, `dnsDelays`): queries go unanswered, or late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsFault {
    Drop,
    Delay(std::time::Duration),
}

/// The server's fault switch, shared with whoever injects it.
#[derive(Debug, Default)]
pub struct DnsFaults(std::sync::Mutex<Option<DnsFault>>);

impl DnsFaults {
    pub fn set(&self, fault: Option<DnsFault>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    pub fn is_set(&self) -> bool {
        self.get().is_some()
    }

    fn get(&self) -> Option<DnsFault> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Adapts [`Zone::route`] to hickory-server's request handling.
struct Handler {
    zone: Zone,
    records: Arc<dyn ClusterRecords>,
    forward: Option<Forward>,
    faults: Arc<DnsFaults>,
}

impl Handler {
    async fn reply(&self, request: &Request) -> Reply {
        if request.metadata.op_code != OpCode::Query {
            return Reply::error(ResponseCode::NotImp);
        }
        let [query] = request.queries.queries() else {
            return Reply::error(ResponseCode::FormErr);
        };
        if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
            return Reply::error(ResponseCode::Refused);
        }
        // The original (not lowercased) name, so answers echo the client's spelling.
        let qname = query.original().name();
        let route = self.zone.route(
            qname,
            query.query_type(),
            self.records.as_ref(),
            self.forward.is_some(),
        );
        let answer = match (route, &self.forward) {
            (Route::Answer(answer), _) => answer,
            (Route::Forward, Some(forward)) => {
                let tcp = request.protocol() == hickory_server::net::xfer::Protocol::Tcp;
                return match forward.exchange(request.as_slice(), tcp).await {
                    Some(upstream) => Reply::relayed(upstream),
                    None => Reply::error(ResponseCode::ServFail),
                };
            }
            (Route::Forward, None) => Answer::Refused,
        };
        // Negative answers carry the SOA so resolvers can cache them (RFC 2308), where
        // the SOA is ours: not for reverse names.
        let ours = self.zone.owns(qname);
        debug!(name = %query.name(), qtype = %query.query_type(), ?answer, "dns query");
        match answer {
            Answer::Records(answers) => Reply {
                code: ResponseCode::NoError,
                authoritative: true,
                with_soa: answers.is_empty() && ours,
                answers,
                ..Reply::error(ResponseCode::NoError)
            },
            Answer::NxDomain => Reply {
                code: ResponseCode::NXDomain,
                authoritative: true,
                with_soa: ours,
                ..Reply::error(ResponseCode::NXDomain)
            },
            Answer::Refused => Reply::error(ResponseCode::Refused),
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        match self.faults.get() {
            // Unanswered: the client's own timeout decides (hickory-server sends nothing
            // for a handler that does not).
            Some(DnsFault::Drop) => {
                debug!("dns query dropped (fault)");
                return unanswered(request);
            }
            Some(DnsFault::Delay(d)) => tokio::time::sleep(d).await,
            None => {}
        }
        // Echo EDNS when the client used it (RFC 6891); we only speak version 0.
        let response_edns = request.edns.as_ref().map(|edns| {
            let mut response = Edns::new();
            response.set_max_payload(edns.max_payload().max(512));
            response.set_version(0);
            response
        });
        let reply = match &request.edns {
            Some(edns) if edns.version() > 0 => Reply::error(ResponseCode::BADVERS),
            _ => self.reply(request).await,
        };

        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = reply.code;
        metadata.authoritative = reply.authoritative;
        metadata.recursion_available = reply.recursion_available;
        let soa = reply.with_soa.then_some(&self.zone.soa);
        let response = MessageResponseBuilder::new(&request.queries, response_edns.as_ref()).build(
            metadata,
            &reply.answers,
            &reply.authorities,
            soa,
            &reply.additionals,
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                warn!(%error, "failed to send dns response");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// What the handler reports for a query it did not answer.
fn unanswered(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

/// A running server; stops when dropped or on [`ClusterDns::shutdown`].
pub struct ClusterDns {
    faults: Arc<DnsFaults>,
    addr: SocketAddr,
    zone: Name,
    // Dropping the server aborts its listener tasks, which closes the sockets.
    server: Server<Handler>,
}

impl fmt::Debug for ClusterDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterDns")
            .field("addr", &self.addr)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

impl ClusterDns {
    /// Binds UDP and TCP on the same address and starts answering.
    pub async fn start(
        config: DnsConfig,
        records: Arc<dyn ClusterRecords>,
    ) -> Result<ClusterDns, DnsError> {
        let zone = Zone::parse(&config.zone)?;
        let (udp, tcp, addr) = bind(config.listen).await?;
        let apex = zone.apex.clone();
        let faults = Arc::new(DnsFaults::default());
        let mut server = Server::new(Handler {
            zone,
            records,
            forward: config.forward,
            faults: faults.clone(),
        });
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        debug!(%addr, zone = %apex, "cluster dns listening");
        Ok(Self {
            faults,
            addr,
            zone: apex,
            server,
        })
    }

    /// Also answers on `addr` (UDP and TCP): where pods reach the server, such as a
    /// node bridge's gateway address.
    pub async fn listen_also(&mut self, addr: SocketAddr) -> Result<SocketAddr, DnsError> {
        let (udp, tcp, addr) = bind(addr).await?;
        self.server.register_socket(udp);
        self.server
            .register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        debug!(%addr, "cluster dns also listening");
        Ok(addr)
    }

    /// The server's fault switch.
    pub fn faults(&self) -> Arc<DnsFaults> {
        self.faults.clone()
    }

    /// The address both the UDP socket and the TCP listener are bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting queries and waits, up to a deadline, for the listeners to end;
    /// whatever is left then is aborted.
    pub async fn shutdown(mut self) {
        match tokio::time::timeout(SHUTDOWN_DEADLINE, self.server.shutdown_gracefully()).await {
            Ok(Ok(())) => debug!(addr = %self.addr, "cluster dns stopped"),
            Ok(Err(error)) => warn!(%error, "cluster dns stopped with an error"),
            Err(_) => warn!("cluster dns did not stop in time; aborting it"),
        }
    }
}

/// Binds UDP first, then TCP on the port UDP got. With an ephemeral port, another process
/// may hold that TCP port, so we retry with a fresh UDP port a few times.
async fn bind(listen: SocketAddr) -> Result<(UdpSocket, TcpListener, SocketAddr), DnsError> {
    let attempts = if listen.port() == 0 { BIND_ATTEMPTS } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let udp = UdpSocket::bind(listen)
            .await
            .map_err(|source| DnsError::BindUdp {
                addr: listen,
                source,
            })?;
        let addr = udp.local_addr().map_err(DnsError::LocalAddr)?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp, addr)),
            Err(error) if error.kind() == io::ErrorKind::AddrInUse && attempt < attempts => {
                debug!(%addr, %error, "tcp port taken; retrying with a new udp port");
            }
            Err(source) => return Err(DnsError::BindTcp { addr, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Message, Query};
    use hickory_resolver::{
        TokioResolver,
        config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts},
        net::runtime::TokioRuntimeProvider,
    };
    use rstest::rstest;

    use super::*;

    const ZONE: &str = "cluster.local";

    /// A fixed set of Services keyed by (namespace, name).
    #[derive(Default)]
    struct Fixed(Vec<((String, String), ServiceRecord)>);

    impl Fixed {
        fn with(self, namespace: &str, name: &str, cluster_ip: Option<IpAddr>) -> Self {
            let record = match cluster_ip {
                Some(ip) => ServiceRecord::cluster_ip(ip),
                None => ServiceRecord::Headless {
                    endpoints: Vec::new(),
                },
            };
            self.with_record(namespace, name, record)
        }

        fn with_record(mut self, namespace: &str, name: &str, record: ServiceRecord) -> Self {
            self.0
                .push(((namespace.to_owned(), name.to_owned()), record));
            self
        }
    }

    impl ClusterRecords for Fixed {
        fn service(&self, namespace: &str, name: &str) -> Option<ServiceRecord> {
            self.0
                .iter()
                .find(|((ns, n), _)| ns == namespace && n == name)
                .map(|(_, r)| r.clone())
        }

        fn visit_services(&self, visit: &mut dyn FnMut(&str, &str, &ServiceRecord)) {
            for ((ns, n), r) in &self.0 {
                visit(ns, n, r);
            }
        }
    }

    fn port(name: &str, protocol: &str, port: u16) -> ServicePort {
        ServicePort {
            name: name.to_owned(),
            protocol: protocol.to_owned(),
            port,
        }
    }

    fn endpoint(ip: &str, hostname: Option<&str>, ready: bool) -> Endpoint {
        Endpoint {
            addresses: vec![ip.parse().unwrap()],
            hostname: hostname.map(str::to_owned),
            ready,
            ports: vec![
                port("http", "TCP", 8080),
                port("", "TCP", 9000),
                port("dns", "UDP", 53),
            ],
        }
    }

    fn cluster() -> Fixed {
        Fixed::default()
            .with_record(
                "default",
                "kubernetes",
                ServiceRecord::ClusterIp {
                    ips: vec![[10, 96, 0, 1].into()],
                    ports: vec![port("https", "TCP", 443), port("", "TCP", 8443)],
                },
            )
            .with("kube-system", "dual", Some("fd00::10".parse().unwrap()))
            .with_record(
                "default",
                "both",
                ServiceRecord::ClusterIp {
                    ips: vec![[10, 96, 0, 20].into(), "fd00::20".parse().unwrap()],
                    ports: vec![],
                },
            )
            .with("default", "headless", None)
            .with_record(
                "default",
                "web",
                ServiceRecord::Headless {
                    endpoints: vec![
                        endpoint("10.244.1.7", Some("web-0"), true),
                        endpoint("10.244.1.8", None, true),
                        endpoint("10.244.1.9", Some("web-2"), false),
                        endpoint("fd00::7", Some("Web-0"), true),
                    ],
                },
            )
            .with_record(
                "default",
                "down",
                ServiceRecord::Headless {
                    endpoints: vec![endpoint("10.244.2.1", Some("down-0"), false)],
                },
            )
            .with_record(
                "default",
                "ext",
                ServiceRecord::ExternalName {
                    external_name: "www.example.com".to_owned(),
                },
            )
    }

    fn record(name: &str, rdata: RData) -> Record {
        Record::from_rdata(Name::from_ascii(name).unwrap(), TTL, rdata)
    }

    fn a(name: &str, ip: [u8; 4]) -> Answer {
        Answer::Records(vec![record(name, RData::A(A(ip.into())))])
    }

    fn nodata() -> Answer {
        Answer::Records(Vec::new())
    }

    fn records(name: &str, rdata: Vec<RData>) -> Answer {
        Answer::Records(rdata.into_iter().map(|d| record(name, d)).collect())
    }

    fn v4(ip: [u8; 4]) -> RData {
        RData::A(A(ip.into()))
    }

    fn v6(ip: &str) -> RData {
        RData::AAAA(AAAA(ip.parse().unwrap()))
    }

    fn srv(weight: u16, port: u16, target: &str) -> RData {
        RData::SRV(SRV::new(0, weight, port, Name::from_ascii(target).unwrap()))
    }

    fn ptr(target: &str) -> RData {
        RData::PTR(PTR(Name::from_ascii(target).unwrap()))
    }

    const WEB: &str = "web.default.svc.cluster.local.";

    /// The records of the specification's sections 2.3 to 2.5, beyond plain A records.
    #[rstest]
    #[case::dual_stack_a("both.default.svc.cluster.local.", RecordType::A, records("both.default.svc.cluster.local.", vec![v4([10, 96, 0, 20])]))]
    #[case::dual_stack_aaaa("both.default.svc.cluster.local.", RecordType::AAAA, records("both.default.svc.cluster.local.", vec![v6("fd00::20")]))]
    #[case::srv_cluster_ip("_https._tcp.kubernetes.default.svc.cluster.local.", RecordType::SRV, records("_https._tcp.kubernetes.default.svc.cluster.local.", vec![srv(100, 443, "kubernetes.default.svc.cluster.local.")]))]
    #[case::srv_case_insensitive("_HTTPS._Tcp.Kubernetes.default.svc.cluster.local.", RecordType::SRV, records("_HTTPS._Tcp.Kubernetes.default.svc.cluster.local.", vec![srv(100, 443, "kubernetes.default.svc.cluster.local.")]))]
    #[case::srv_wrong_protocol(
        "_https._udp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
        Answer::NxDomain
    )]
    #[case::srv_unknown_port(
        "_http._tcp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
        Answer::NxDomain
    )]
    #[case::srv_name_a_nodata(
        "_https._tcp.kubernetes.default.svc.cluster.local.",
        RecordType::A,
        nodata()
    )]
    #[case::srv_proto_ent(
        "_tcp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
        nodata()
    )]
    #[case::srv_proto_without_ports(
        "_sctp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
        Answer::NxDomain
    )]
    #[case::srv_unnamed_port_has_none(
        "_._tcp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
        Answer::NxDomain
    )]
    #[case::below_cluster_ip_service(
        "web-0.kubernetes.default.svc.cluster.local.",
        RecordType::A,
        Answer::NxDomain
    )]
    #[case::headless_a(WEB, RecordType::A, records(WEB, vec![v4([10, 244, 1, 7]), v4([10, 244, 1, 8])]))]
    #[case::headless_aaaa(WEB, RecordType::AAAA, records(WEB, vec![v6("fd00::7")]))]
    #[case::headless_case_insensitive("WEB.Default.svc.cluster.local.", RecordType::A, records("WEB.Default.svc.cluster.local.", vec![v4([10, 244, 1, 7]), v4([10, 244, 1, 8])]))]
    #[case::headless_none_ready("down.default.svc.cluster.local.", RecordType::A, Answer::NxDomain)]
    #[case::headless_none_ready_aaaa(
        "down.default.svc.cluster.local.",
        RecordType::AAAA,
        Answer::NxDomain
    )]
    #[case::hostname_a("web-0.web.default.svc.cluster.local.", RecordType::A, records("web-0.web.default.svc.cluster.local.", vec![v4([10, 244, 1, 7])]))]
    #[case::hostname_aaaa_any_case("WEB-0.web.default.svc.cluster.local.", RecordType::AAAA, records("WEB-0.web.default.svc.cluster.local.", vec![v6("fd00::7")]))]
    #[case::hostname_assigned("10-244-1-8.web.default.svc.cluster.local.", RecordType::A, records("10-244-1-8.web.default.svc.cluster.local.", vec![v4([10, 244, 1, 8])]))]
    #[case::hostname_not_ready(
        "web-2.web.default.svc.cluster.local.",
        RecordType::A,
        Answer::NxDomain
    )]
    #[case::hostname_unknown(
        "web-9.web.default.svc.cluster.local.",
        RecordType::A,
        Answer::NxDomain
    )]
    #[case::hostname_of_down(
        "down-0.down.default.svc.cluster.local.",
        RecordType::A,
        Answer::NxDomain
    )]
    #[case::srv_headless_n_by_m("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV, records("_http._tcp.web.default.svc.cluster.local.", vec![
        // web-0 has two addresses (IPv4 and IPv6): one target.
        srv(50, 8080, "web-0.web.default.svc.cluster.local."),
        srv(50, 8080, "10-244-1-8.web.default.svc.cluster.local."),
    ]))]
    #[case::srv_headless_udp("_dns._udp.web.default.svc.cluster.local.", RecordType::SRV, records("_dns._udp.web.default.svc.cluster.local.", vec![
        srv(50, 53, "web-0.web.default.svc.cluster.local."),
        srv(50, 53, "10-244-1-8.web.default.svc.cluster.local."),
    ]))]
    #[case::srv_headless_none_ready(
        "_http._tcp.down.default.svc.cluster.local.",
        RecordType::SRV,
        Answer::NxDomain
    )]
    #[case::ptr_cluster_ip("1.0.96.10.in-addr.arpa.", RecordType::PTR, records("1.0.96.10.in-addr.arpa.", vec![ptr("kubernetes.default.svc.cluster.local.")]))]
    #[case::ptr_cluster_ip_a_nodata("1.0.96.10.in-addr.arpa.", RecordType::A, nodata())]
    #[case::ptr_ipv6_cluster_ip("0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", RecordType::PTR, records("0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", vec![ptr("both.default.svc.cluster.local.")]))]
    #[case::ptr_headless_hostname("7.1.244.10.in-addr.arpa.", RecordType::PTR, records("7.1.244.10.in-addr.arpa.", vec![ptr("web-0.web.default.svc.cluster.local.")]))]
    #[case::ptr_headless_assigned("8.1.244.10.IN-ADDR.ARPA.", RecordType::PTR, records("8.1.244.10.IN-ADDR.ARPA.", vec![ptr("10-244-1-8.web.default.svc.cluster.local.")]))]
    #[case::ptr_not_ready("9.1.244.10.in-addr.arpa.", RecordType::PTR, Answer::NxDomain)]
    #[case::ptr_unknown("4.3.2.1.in-addr.arpa.", RecordType::PTR, Answer::NxDomain)]
    #[case::ptr_partial("96.10.in-addr.arpa.", RecordType::PTR, Answer::Refused)]
    #[case::ptr_malformed("x.0.96.10.in-addr.arpa.", RecordType::PTR, Answer::Refused)]
    #[case::external_name_a("ext.default.svc.cluster.local.", RecordType::A, records("ext.default.svc.cluster.local.", vec![RData::CNAME(CNAME(Name::from_ascii("www.example.com.").unwrap()))]))]
    #[case::external_name_cname("Ext.default.svc.cluster.local.", RecordType::CNAME, records("Ext.default.svc.cluster.local.", vec![RData::CNAME(CNAME(Name::from_ascii("www.example.com.").unwrap()))]))]
    #[case::external_name_no_srv(
        "_http._tcp.ext.default.svc.cluster.local.",
        RecordType::SRV,
        Answer::NxDomain
    )]
    #[case::below_external_name(
        "x.ext.default.svc.cluster.local.",
        RecordType::A,
        Answer::NxDomain
    )]
    fn spec_records(#[case] name: &str, #[case] qtype: RecordType, #[case] expected: Answer) {
        assert_eq!(answer(ZONE, name, qtype, &cluster()), expected);
    }

    #[rstest]
    #[case::service_a("kubernetes.default.svc.cluster.local.", RecordType::A, a("kubernetes.default.svc.cluster.local.", [10, 96, 0, 1]))]
    #[case::no_trailing_dot("kubernetes.default.svc.cluster.local", RecordType::A, a("kubernetes.default.svc.cluster.local.", [10, 96, 0, 1]))]
    #[case::case_insensitive_echoes_name("Kubernetes.DEFAULT.svc.Cluster.Local.", RecordType::A, a("Kubernetes.DEFAULT.svc.Cluster.Local.", [10, 96, 0, 1]))]
    #[case::any_type("kubernetes.default.svc.cluster.local.", RecordType::ANY, a("kubernetes.default.svc.cluster.local.", [10, 96, 0, 1]))]
    #[case::aaaa_nodata("kubernetes.default.svc.cluster.local.", RecordType::AAAA, nodata())]
    #[case::mx_nodata("kubernetes.default.svc.cluster.local.", RecordType::MX, nodata())]
    #[case::ipv6_service("dual.kube-system.svc.cluster.local.", RecordType::AAAA, Answer::Records(vec![record("dual.kube-system.svc.cluster.local.", RData::AAAA(AAAA("fd00::10".parse().unwrap())))]))]
    #[case::ipv6_service_a_nodata("dual.kube-system.svc.cluster.local.", RecordType::A, nodata())]
    #[case::missing_service("nope.default.svc.cluster.local.", RecordType::A, Answer::NxDomain)]
    #[case::wrong_namespace("kubernetes.other.svc.cluster.local.", RecordType::A, Answer::NxDomain)]
    #[case::headless_without_endpoints(
        "headless.default.svc.cluster.local.",
        RecordType::A,
        Answer::NxDomain
    )]
    #[case::below_service(
        "x.kubernetes.default.svc.cluster.local.",
        RecordType::A,
        Answer::NxDomain
    )]
    #[case::pod("10-244-1-7.default.pod.cluster.local.", RecordType::A, a("10-244-1-7.default.pod.cluster.local.", [10, 244, 1, 7]))]
    #[case::pod_aaaa_nodata("10-244-1-7.default.pod.cluster.local.", RecordType::AAAA, nodata())]
    #[case::pod_ipv6("fd00--7.default.pod.cluster.local.", RecordType::AAAA, Answer::Records(vec![record("fd00--7.default.pod.cluster.local.", RData::AAAA(AAAA("fd00::7".parse().unwrap())))]))]
    #[case::pod_three_octets(
        "10-244-1.default.pod.cluster.local.",
        RecordType::A,
        Answer::NxDomain
    )]
    #[case::pod_octet_too_big(
        "10-244-1-256.default.pod.cluster.local.",
        RecordType::A,
        Answer::NxDomain
    )]
    #[case::pod_leading_zero(
        "10-244-01-7.default.pod.cluster.local.",
        RecordType::A,
        Answer::NxDomain
    )]
    #[case::pod_not_an_ip("web-0.default.pod.cluster.local.", RecordType::A, Answer::NxDomain)]
    #[case::dns_version("dns-version.cluster.local.", RecordType::TXT, Answer::Records(vec![record("dns-version.cluster.local.", RData::TXT(TXT::new(vec!["1.1.0".to_owned()])))]))]
    #[case::dns_version_a_nodata("dns-version.cluster.local.", RecordType::A, nodata())]
    #[case::namespace_ent("default.svc.cluster.local.", RecordType::A, nodata())]
    #[case::svc_ent("svc.cluster.local.", RecordType::A, nodata())]
    #[case::pod_ent("pod.cluster.local.", RecordType::A, nodata())]
    #[case::pod_namespace_ent("default.pod.cluster.local.", RecordType::A, nodata())]
    #[case::apex_a_nodata("cluster.local.", RecordType::A, nodata())]
    #[case::unknown_in_zone("foo.cluster.local.", RecordType::A, Answer::NxDomain)]
    #[case::unknown_subtree("a.b.c.cluster.local.", RecordType::A, Answer::NxDomain)]
    #[case::outside_zone("example.com.", RecordType::A, Answer::Refused)]
    #[case::suffix_not_label(
        "kubernetes.default.svc.notcluster.local.",
        RecordType::A,
        Answer::Refused
    )]
    #[case::parent_of_zone("local.", RecordType::SOA, Answer::Refused)]
    #[case::root(".", RecordType::NS, Answer::Refused)]
    #[case::wildcard_is_not_the_apex("*.cluster.local.", RecordType::SOA, Answer::NxDomain)]
    #[case::wildcard_service("*.default.svc.cluster.local.", RecordType::A, Answer::NxDomain)]
    #[case::zone_transfer("cluster.local.", RecordType::AXFR, Answer::Refused)]
    fn answers(#[case] name: &str, #[case] qtype: RecordType, #[case] expected: Answer) {
        assert_eq!(answer(ZONE, name, qtype, &cluster()), expected);
    }

    #[test]
    fn apex_soa() {
        let Answer::Records(records) = answer(
            "Cluster.Local.",
            "cluster.local",
            RecordType::SOA,
            &cluster(),
        ) else {
            panic!("expected records");
        };
        let [soa] = records.as_slice() else {
            panic!("expected one record, got {records:?}");
        };
        let RData::SOA(soa) = &soa.data else {
            panic!("expected a SOA, got {soa:?}");
        };
        assert_eq!(
            &soa.mname,
            &Name::from_ascii("ns.dns.cluster.local.").unwrap()
        );
        assert_eq!(soa.minimum, TTL);
    }

    #[test]
    fn custom_zone() {
        let expected = a("kubernetes.default.svc.corp.example.", [10, 96, 0, 1]);
        let got = answer(
            "corp.example",
            "kubernetes.default.svc.corp.example.",
            RecordType::A,
            &cluster(),
        );
        assert_eq!(got, expected);
        let outside = answer(
            "corp.example",
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
            &cluster(),
        );
        assert_eq!(outside, Answer::Refused);
    }

    #[rstest]
    #[case::outside("www.example.com.", RecordType::A, true)]
    #[case::outside_aaaa("www.example.com.", RecordType::AAAA, true)]
    #[case::other_cluster_domain("kubernetes.default.svc.corp.example.", RecordType::A, true)]
    #[case::host_search_domain_appended("no-such-service.corp.example.", RecordType::A, true)]
    #[case::unknown_reverse("1.2.0.192.in-addr.arpa.", RecordType::PTR, true)]
    #[case::partial_reverse("96.10.in-addr.arpa.", RecordType::PTR, true)]
    #[case::service("kubernetes.default.svc.cluster.local.", RecordType::A, false)]
    #[case::zone_nxdomain("nope.default.svc.cluster.local.", RecordType::A, false)]
    #[case::zone_nodata("kubernetes.default.svc.cluster.local.", RecordType::MX, false)]
    #[case::owned_reverse("1.0.96.10.in-addr.arpa.", RecordType::PTR, false)]
    #[case::transfer("example.com.", RecordType::AXFR, false)]
    fn what_goes_upstream(#[case] name: &str, #[case] qtype: RecordType, #[case] forwarded: bool) {
        let got = route(ZONE, name, qtype, &cluster(), true);
        assert_eq!(got == Route::Forward, forwarded, "{name} {qtype}: {got:?}");
        // Without an upstream, nothing is forwarded and everything is answered as before.
        assert_eq!(
            route(ZONE, name, qtype, &cluster(), false),
            Route::Answer(answer(ZONE, name, qtype, &cluster()))
        );
    }

    #[rstest]
    #[case::root(".")]
    #[case::empty("")]
    #[case::bad_label("a..b")]
    fn invalid_zones_refuse_everything(#[case] zone: &str) {
        assert!(Zone::parse(zone).is_err());
        let got = answer(
            zone,
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
            &cluster(),
        );
        assert_eq!(got, Answer::Refused);
    }

    async fn start() -> ClusterDns {
        let config = DnsConfig {
            zone: ZONE.to_owned(),
            listen: ([127, 0, 0, 1], 0).into(),
            forward: None,
        };
        let records = Fixed::default().with("default", "kubernetes", Some([10, 96, 0, 1].into()));
        ClusterDns::start(config, Arc::new(records)).await.unwrap()
    }

    /// A resolver that asks only `addr` over one protocol: no system config, no search
    /// domains, no hosts file, no cache.
    fn resolver(addr: SocketAddr, tcp: bool) -> TokioResolver {
        let mut server = if tcp {
            NameServerConfig::tcp(addr.ip())
        } else {
            NameServerConfig::udp(addr.ip())
        };
        for connection in &mut server.connections {
            connection.port = addr.port();
        }
        let mut options = ResolverOpts::default();
        options.cache_size = 0;
        options.attempts = 1;
        options.timeout = Duration::from_secs(2);
        options.use_hosts_file = ResolveHosts::Never;
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![server]),
            TokioRuntimeProvider::default(),
        )
        .with_options(options)
        .build()
        .unwrap()
    }

    #[rstest]
    #[case::udp(false)]
    #[case::tcp(true)]
    #[tokio::test]
    async fn resolves_over_the_wire(#[case] tcp: bool) {
        let dns = start().await;
        assert!(dns.addr().port() != 0);
        let resolver = resolver(dns.addr(), tcp);

        let found = resolver
            .lookup("kubernetes.default.svc.cluster.local.", RecordType::A)
            .await
            .unwrap();
        let ips: Vec<_> = found
            .answers()
            .iter()
            .filter_map(|r| match r.data {
                RData::A(A(ip)) => Some(ip),
                _ => None,
            })
            .collect();
        assert_eq!(ips, [Ipv4Addr::new(10, 96, 0, 1)]);

        let missing = resolver
            .lookup("nope.default.svc.cluster.local.", RecordType::A)
            .await
            .unwrap_err();
        assert!(missing.is_nx_domain(), "{missing:?}");

        dns.shutdown().await;
    }

    /// One raw query over UDP, to check header bits and sections the resolver hides.
    async fn exchange(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
        let socket = UdpSocket::bind(("127.0.0.1", 0)).await.unwrap();
        let mut query = Message::query();
        query.metadata.id = 4242;
        query.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        socket
            .send_to(&query.to_vec().unwrap(), addr)
            .await
            .unwrap();
        let mut buf = vec![0; 4096];
        let len = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf))
            .await
            .expect("no response in time")
            .unwrap();
        let response = Message::from_vec(&buf[..len]).unwrap();
        assert_eq!(response.metadata.id, 4242);
        response
    }

    #[tokio::test]
    async fn response_flags_and_sections() {
        let dns = start().await;

        let found = exchange(
            dns.addr(),
            "KUBERNETES.default.svc.cluster.local.",
            RecordType::A,
        )
        .await;
        assert_eq!(found.metadata.response_code, ResponseCode::NoError);
        assert!(found.metadata.authoritative);
        assert!(!found.metadata.recursion_available);
        assert_eq!(found.answers.len(), 1);
        assert_eq!(
            found.answers[0].name.to_ascii(),
            "KUBERNETES.default.svc.cluster.local."
        );

        let missing = exchange(dns.addr(), "nope.default.svc.cluster.local.", RecordType::A).await;
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
        assert!(missing.metadata.authoritative);
        assert_eq!(missing.authorities.len(), 1);
        assert_eq!(missing.authorities[0].record_type(), RecordType::SOA);

        let nodata = exchange(dns.addr(), "default.svc.cluster.local.", RecordType::A).await;
        assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        assert_eq!(nodata.authorities.len(), 1);

        let outside = exchange(dns.addr(), "example.com.", RecordType::A).await;
        assert_eq!(outside.metadata.response_code, ResponseCode::Refused);
        assert!(!outside.metadata.authoritative);
        assert!(outside.answers.is_empty() && outside.authorities.is_empty());

        dns.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_frees_the_port() {
        let dns = start().await;
        let addr = dns.addr();
        dns.shutdown().await;
        // Both sockets are closed, so the same port can be bound again.
        let _udp = UdpSocket::bind(addr).await.unwrap();
        let _tcp = TcpListener::bind(addr).await.unwrap();
    }

    #[tokio::test]
    async fn rejects_a_root_zone() {
        let config = DnsConfig {
            zone: ".".to_owned(),
            listen: ([127, 0, 0, 1], 0).into(),
            forward: None,
        };
        let error = ClusterDns::start(config, Arc::new(Fixed::default()))
            .await
            .unwrap_err();
        assert!(matches!(error, DnsError::RootZone), "{error:?}");
    }
}
