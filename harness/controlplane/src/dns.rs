//! Cluster DNS: an authoritative server for the cluster zone (default `cluster.local`).
//!
//! It follows the Kubernetes DNS-Based Service Discovery specification, schema version
//! 1.1.0, for the subset the control plane needs today:
//!
//! - `<service>.<ns>.svc.<zone>` A/AAAA → the Service's ClusterIP;
//! - `<a-b-c-d>.<ns>.pod.<zone>` A (and dashed IPv6 for AAAA), as CoreDNS's
//!   `pods insecure` mode: any well-formed dashed address answers;
//! - `dns-version.<zone>` TXT → `1.1.0`;
//! - the apex (SOA), `svc.<zone>`, `pod.<zone>`, `<ns>.svc.<zone>` and
//!   `<ns>.pod.<zone>` exist, as empty non-terminals, and answer NOERROR with no records.
//!
//! Anything else in the zone is NXDOMAIN; names outside it are REFUSED. The server never
//! recurses or forwards, so it sends no traffic of its own.
//!
//! Not covered yet: headless Services (NXDOMAIN until endpoints are known here), SRV
//! records for named ports, ExternalName Services (CNAME), PTR records, multiple
//! ClusterIPs of dual-stack Services, NS records for the apex, and wildcard queries.
//!
//! The wire protocol is hickory-server's; this module only decides the answers.

use std::{
    fmt, io, iter,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use hickory_proto::{
    ProtoError,
    op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode},
    rr::{
        DNSClass, Name, RData, Record, RecordType,
        rdata::{A, AAAA, SOA, TXT},
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

/// The schema version of the Kubernetes DNS specification this server implements.
pub const SCHEMA_VERSION: &str = "1.1.0";

/// TTL of every record we serve, and of negative answers (via the SOA minimum): CoreDNS's
/// kubernetes plugin uses 5 s, short enough that Service changes show up quickly.
const TTL: u32 = 5;

/// How many times to pick a new ephemeral UDP port when TCP cannot bind the same one.
const BIND_ATTEMPTS: usize = 8;

/// A TCP connection that sends nothing for this long is closed.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Responses queued per TCP connection before the sender waits.
const TCP_RESPONSE_BUFFER: usize = 32;

/// How long `shutdown` waits for the listeners to stop before aborting them.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);

/// What the DNS server knows about the cluster; the control plane implements it from the
/// Kubernetes API (a reflector over Services). Lookups are synchronous and cheap.
pub trait ClusterRecords: Send + Sync + 'static {
    /// The Service `name` in `namespace`, if it exists.
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceRecord>;
}

/// What DNS needs to know about one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The ClusterIP; `None` for a headless Service, which answers NXDOMAIN for now because
    /// this server does not know endpoints yet.
    pub cluster_ip: Option<IpAddr>,
}

/// How to run the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// The cluster zone, e.g. `cluster.local` (trailing dot optional, any case).
    pub zone: String,
    /// Where to listen on both UDP and TCP; port 0 picks an ephemeral port.
    pub listen: SocketAddr,
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

    fn answer(&self, qname: &Name, qtype: RecordType, records: &dyn ClusterRecords) -> Answer {
        if !self.apex.zone_of(qname) || matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Answer::Refused;
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
            ["svc", namespace, service] => match records.service(namespace, service) {
                Some(ServiceRecord {
                    cluster_ip: Some(ip),
                }) => address_answer(qname, ip, qtype),
                // Headless Services need endpoints, which we do not have yet.
                Some(ServiceRecord { cluster_ip: None }) | None => Answer::NxDomain,
            },
            ["pod", _namespace, pod] => match pod_ip(pod) {
                Some(ip) => address_answer(qname, ip, qtype),
                None => Answer::NxDomain,
            },
            _ => Answer::NxDomain,
        }
    }
}

/// The A or AAAA record for `ip` if the query asks for its family, else NODATA.
fn address_answer(qname: &Name, ip: IpAddr, qtype: RecordType) -> Answer {
    let rdata = match (ip, qtype) {
        (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => RData::A(A(v4)),
        (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => RData::AAAA(AAAA(v6)),
        _ => return Answer::Records(Vec::new()),
    };
    Answer::Records(vec![Record::from_rdata(qname.clone(), TTL, rdata)])
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
}

impl Reply {
    fn error(code: ResponseCode) -> Self {
        Self {
            code,
            authoritative: false,
            answers: Vec::new(),
            with_soa: false,
        }
    }
}

/// Adapts [`Zone::answer`] to hickory-server's request handling.
struct Handler {
    zone: Zone,
    records: Arc<dyn ClusterRecords>,
}

impl Handler {
    fn reply(&self, request: &Request) -> Reply {
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
        let answer = self.zone.answer(
            query.original().name(),
            query.query_type(),
            self.records.as_ref(),
        );
        debug!(name = %query.name(), qtype = %query.query_type(), ?answer, "dns query");
        match answer {
            Answer::Records(answers) => Reply {
                code: ResponseCode::NoError,
                authoritative: true,
                // Negative answers carry the SOA so resolvers can cache them (RFC 2308).
                with_soa: answers.is_empty(),
                answers,
            },
            Answer::NxDomain => Reply {
                code: ResponseCode::NXDomain,
                authoritative: true,
                answers: Vec::new(),
                with_soa: true,
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
        // Echo EDNS when the client used it (RFC 6891); we only speak version 0.
        let response_edns = request.edns.as_ref().map(|edns| {
            let mut response = Edns::new();
            response.set_max_payload(edns.max_payload().max(512));
            response.set_version(0);
            response
        });
        let reply = match &request.edns {
            Some(edns) if edns.version() > 0 => Reply::error(ResponseCode::BADVERS),
            _ => self.reply(request),
        };

        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = reply.code;
        metadata.authoritative = reply.authoritative;
        let soa = reply.with_soa.then_some(&self.zone.soa);
        let response = MessageResponseBuilder::new(&request.queries, response_edns.as_ref()).build(
            metadata,
            &reply.answers,
            soa,
            iter::empty(),
            iter::empty(),
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

/// A running server; stops when dropped or on [`ClusterDns::shutdown`].
pub struct ClusterDns {
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
        let mut server = Server::new(Handler { zone, records });
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        debug!(%addr, zone = %apex, "cluster dns listening");
        Ok(Self {
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
    use std::collections::HashMap;

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
    struct Fixed(HashMap<(String, String), ServiceRecord>);

    impl Fixed {
        fn with(mut self, namespace: &str, name: &str, cluster_ip: Option<IpAddr>) -> Self {
            self.0.insert(
                (namespace.to_owned(), name.to_owned()),
                ServiceRecord { cluster_ip },
            );
            self
        }
    }

    impl ClusterRecords for Fixed {
        fn service(&self, namespace: &str, name: &str) -> Option<ServiceRecord> {
            self.0
                .get(&(namespace.to_owned(), name.to_owned()))
                .cloned()
        }
    }

    fn cluster() -> Fixed {
        Fixed::default()
            .with("default", "kubernetes", Some([10, 96, 0, 1].into()))
            .with("kube-system", "dual", Some("fd00::10".parse().unwrap()))
            .with("default", "headless", None)
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
    #[case::headless_unsupported(
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
        };
        let error = ClusterDns::start(config, Arc::new(Fixed::default()))
            .await
            .unwrap_err();
        assert!(matches!(error, DnsError::RootZone), "{error:?}");
    }
}
