//! resolv.conf and its search rules, as a resolver in the pod applies them: which fully
//! qualified names a lookup of `name` tries, in which order.

use std::net::IpAddr;

use crate::observation::LookupAttempt;

/// The parts of resolv.conf that decide lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub ndots: usize,
    /// Every `options` word as written, in order (the kubelet passes a host's on to pods).
    pub options: Vec<String>,
}

impl ResolvConf {
    pub fn parse(text: &str) -> Self {
        let mut conf = ResolvConf {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            options: Vec::new(),
        };
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => conf.nameservers.extend(words.next().map(str::to_string)),
                // The last `search` or `domain` line wins, as in glibc.
                Some("search" | "domain") => conf.search = words.map(str::to_string).collect(),
                Some("options") => {
                    for opt in words {
                        conf.options.push(opt.to_string());
                        if let Some(n) = opt
                            .strip_prefix("ndots:")
                            .and_then(|n| n.parse::<usize>().ok())
                        {
                            conf.ndots = n.min(15);
                        }
                    }
                }
                _ => {}
            }
        }
        conf
    }

    /// The cluster domain a kubelet wrote into a ClusterFirst pod's search path: what follows
    /// `NAMESPACE.svc.` in its first entry of that form.
    pub fn cluster_domain(&self, namespace: &str) -> Option<String> {
        let prefix = format!("{namespace}.svc.");
        self.search
            .iter()
            .find_map(|d| d.strip_prefix(&prefix))
            .map(|d| d.trim_end_matches('.').to_string())
            .filter(|d| !d.is_empty())
    }

    /// The names a lookup of `name` tries, in order: an absolute name only itself; a name
    /// with at least `ndots` dots first as is, then with each search domain; a shorter
    /// one with each search domain first, then as is.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![format!("{absolute}.")];
        }
        let searched = self
            .search
            .iter()
            .map(|d| format!("{name}.{}.", d.trim_end_matches('.')));
        let as_is = format!("{name}.");
        if name.matches('.').count() >= self.ndots {
            std::iter::once(as_is).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(as_is)).collect()
        }
    }
}

/// What busybox `nslookup NAME` printed, as the answer's addresses: the `Address` lines
/// after the first `Name:` line (the ones before it are the server's own). An `Err` carries
/// the resolver's complaint (`NXDOMAIN`, `No answer`, a timeout…).
pub fn parse_nslookup(stdout: &str, exit_code: i32) -> Result<Vec<IpAddr>, String> {
    let mut in_answer = false;
    let mut ips = Vec::new();
    let mut complaint = None;
    for line in stdout.lines() {
        let line = line.trim();
        if line.starts_with("Name:") {
            in_answer = true;
        } else if let Some(rest) = line.strip_prefix("Address:").or_else(|| {
            line.strip_prefix("Address ")
                .and_then(|r| r.split_once(':').map(|(_, a)| a))
        }) {
            if in_answer && let Ok(ip) = rest.trim().parse() {
                ips.push(ip);
            }
        } else if let Some(why) = line.strip_prefix("** server can't find ") {
            complaint = Some(why.rsplit(": ").next().unwrap_or(why).to_string());
        } else if line.starts_with(";; connection timed out") {
            complaint = Some("timed out".into());
        } else if line.starts_with("*** Can't find") {
            complaint = Some(line.rsplit(": ").next().unwrap_or(line).to_string());
        }
    }
    match (ips.is_empty(), complaint) {
        (false, _) => Ok(ips),
        (true, Some(c)) => Err(c),
        // A NOERROR answer without records (an empty non-terminal, or another type only).
        (true, None) if exit_code == 0 => Err("No answer".into()),
        (true, None) => Err(format!("no address in the answer (exit code {exit_code})")),
    }
}

/// The record types to ask for a name: A, then AAAA, unless the expected addresses are of
/// one family only.
pub fn query_types(expected: &[IpAddr]) -> Vec<QueryType> {
    let v4 = expected.iter().any(IpAddr::is_ipv4);
    let v6 = expected.iter().any(IpAddr::is_ipv6);
    match (v4, v6) {
        (true, false) => vec![QueryType::A],
        (false, true) => vec![QueryType::Aaaa],
        _ => vec![QueryType::A, QueryType::Aaaa],
    }
}

/// An address record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryType {
    A,
    Aaaa,
}

impl QueryType {
    /// busybox nslookup's `-type=` word.
    pub fn nslookup_word(self) -> &'static str {
        match self {
            QueryType::A => "a",
            QueryType::Aaaa => "aaaa",
        }
    }
}

/// busybox `nslookup` of one fully qualified name and type (busybox applies neither
/// `ndots` nor the search list faithfully, so each candidate is asked for on its own).
pub fn nslookup_command(candidate: &str, qtype: QueryType) -> Vec<String> {
    vec![
        "nslookup".into(),
        format!("-type={}", qtype.nslookup_word()),
        format!("{}.", candidate.trim_end_matches('.')),
    ]
}

/// The order in which a resolver in the pod asks for a name: each candidate of the search
/// path in turn, each address type in turn; a candidate that does not exist (NXDOMAIN)
/// moves on to the next candidate, one that answers with addresses ends the lookup. The
/// I/O is the caller's: it asks [`LookupPlan::next_query`], sends it, and records the answer.
#[derive(Debug, Clone)]
pub struct LookupPlan {
    candidates: Vec<String>,
    types: Vec<QueryType>,
    candidate: usize,
    qtype: usize,
    attempts: Vec<LookupAttempt>,
    done: bool,
}

impl LookupPlan {
    pub fn new(candidates: Vec<String>, types: Vec<QueryType>) -> Self {
        LookupPlan {
            done: candidates.is_empty() || types.is_empty(),
            candidates,
            types,
            candidate: 0,
            qtype: 0,
            attempts: Vec::new(),
        }
    }

    /// The next name and type to ask for, or None once the lookup is over.
    pub fn next_query(&self) -> Option<(&str, QueryType)> {
        (!self.done).then(|| {
            (
                self.candidates[self.candidate].as_str(),
                self.types[self.qtype],
            )
        })
    }

    /// The answer to [`LookupPlan::next_query`]: addresses (none for an empty answer), or
    /// the resolver's complaint (`NXDOMAIN`, `No answer`, `SERVFAIL`, `timed out`, …).
    pub fn record(&mut self, answer: Result<Vec<IpAddr>, String>) {
        let Some((candidate, _)) = self.next_query() else {
            return;
        };
        let candidate = candidate.to_string();
        let found = matches!(&answer, Ok(ips) if !ips.is_empty());
        // Only "no record of this type" asks for the next type; a name that does not exist,
        // a server that fails or does not answer moves on to the next candidate.
        let no_data = answer.is_ok() || matches!(&answer, Err(e) if e == "No answer");
        // One attempt per candidate: its addresses, else what its first type said.
        match self.attempts.last_mut() {
            Some(last) if last.candidate == candidate => {
                if found {
                    last.answer = answer;
                }
            }
            _ => self.attempts.push(LookupAttempt { candidate, answer }),
        }
        if found {
            self.done = true;
        } else if !no_data || self.qtype + 1 == self.types.len() {
            self.qtype = 0;
            self.candidate += 1;
            self.done = self.candidate == self.candidates.len();
        } else {
            self.qtype += 1;
        }
    }

    /// What each candidate tried answered.
    pub fn attempts(self) -> Vec<LookupAttempt> {
        self.attempts
    }
}

/// Whether a fully qualified name lies in the cluster's zone (`zone` or below it).
pub fn in_zone(name: &str, zone: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    name == zone || name.ends_with(&format!(".{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_conf() -> ResolvConf {
        ResolvConf::parse(
            "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
        )
    }

    #[test]
    fn parses_the_kubelets_resolv_conf() {
        let c = pod_conf();
        assert_eq!(c.nameservers, ["10.96.0.10"]);
        assert_eq!(c.search.len(), 3);
        assert_eq!(c.ndots, 5);
        assert_eq!(c.options, ["ndots:5"]);
    }

    #[test]
    fn short_names_try_the_search_path_first() {
        assert_eq!(
            pod_conf().candidates("kubernetes.default"),
            [
                "kubernetes.default.team.svc.cluster.local.",
                "kubernetes.default.svc.cluster.local.",
                "kubernetes.default.cluster.local.",
                "kubernetes.default.",
            ]
        );
    }

    #[test]
    fn names_with_enough_dots_and_absolute_names() {
        let c = ResolvConf::parse("search a.example\noptions ndots:1\n");
        assert_eq!(
            c.candidates("www.example.org"),
            ["www.example.org.", "www.example.org.a.example."]
        );
        assert_eq!(
            pod_conf().candidates("kubernetes.default.svc.cluster.local."),
            ["kubernetes.default.svc.cluster.local."]
        );
    }

    #[test]
    fn busybox_nslookup_answers() {
        let ok = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\nName:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n\n";
        assert_eq!(
            parse_nslookup(ok, 0),
            Ok(vec!["10.96.0.1".parse().unwrap()])
        );
        let nx = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n** server can't find nope.default.svc.cluster.local: NXDOMAIN\n\n";
        assert_eq!(parse_nslookup(nx, 1), Err("NXDOMAIN".into()));
        let timeout = ";; connection timed out; no servers could be reached\n";
        assert_eq!(parse_nslookup(timeout, 1), Err("timed out".into()));
        assert_eq!(
            parse_nslookup("", 1),
            Err("no address in the answer (exit code 1)".into())
        );
        let empty = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n";
        assert_eq!(parse_nslookup(empty, 0), Err("No answer".into()));
    }

    #[test]
    fn the_cluster_domain_is_read_from_the_search_path() {
        assert_eq!(
            pod_conf().cluster_domain("team").as_deref(),
            Some("cluster.local")
        );
        let other =
            ResolvConf::parse("search team.svc.corp.example. svc.corp.example corp.example\n");
        assert_eq!(
            other.cluster_domain("team").as_deref(),
            Some("corp.example")
        );
        assert_eq!(pod_conf().cluster_domain("other"), None);
        assert_eq!(
            ResolvConf::parse("nameserver 1.1.1.1\n").cluster_domain("team"),
            None
        );
    }

    #[test]
    fn zones_contain_their_names_and_no_others() {
        assert!(in_zone("web.team.svc.cluster.local.", "cluster.local"));
        assert!(in_zone("Cluster.Local", "cluster.local."));
        assert!(!in_zone("web.example.org.", "cluster.local"));
        assert!(!in_zone("notcluster.local.", "cluster.local"));
    }

    #[test]
    fn query_types_follow_the_expected_families() {
        let v4: IpAddr = "10.96.0.1".parse().unwrap();
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(query_types(&[v4]), [QueryType::A]);
        assert_eq!(query_types(&[v6]), [QueryType::Aaaa]);
        assert_eq!(query_types(&[v4, v6]), [QueryType::A, QueryType::Aaaa]);
        assert_eq!(query_types(&[]), [QueryType::A, QueryType::Aaaa]);
        assert_eq!(
            nslookup_command("web.team.svc.cluster.local", QueryType::Aaaa),
            ["nslookup", "-type=aaaa", "web.team.svc.cluster.local."]
        );
    }

    fn ips(s: &str) -> Result<Vec<IpAddr>, String> {
        Ok(vec![s.parse().unwrap()])
    }

    fn err(s: &str) -> Result<Vec<IpAddr>, String> {
        Err(s.to_string())
    }

    /// Drives a plan with scripted answers; returns the queries asked, in order.
    fn drive(plan: &mut LookupPlan, answers: &[Result<Vec<IpAddr>, String>]) -> Vec<String> {
        let mut asked = Vec::new();
        for a in answers {
            let Some((name, t)) = plan.next_query() else {
                break;
            };
            asked.push(format!("{name} {}", t.nslookup_word()));
            plan.record(a.clone());
        }
        assert!(plan.next_query().is_none(), "the plan is over: {asked:?}");
        asked
    }

    #[test]
    fn a_lookup_moves_on_after_nxdomain_and_stops_at_the_first_answer() {
        let mut plan = LookupPlan::new(
            vec![
                "a.ns.svc.cluster.local.".into(),
                "a.svc.cluster.local.".into(),
                "a.".into(),
            ],
            vec![QueryType::A],
        );
        let asked = drive(&mut plan, &[err("NXDOMAIN"), ips("10.96.0.7")]);
        assert_eq!(
            asked,
            ["a.ns.svc.cluster.local. a", "a.svc.cluster.local. a"]
        );
        let attempts = plan.attempts();
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[1].answer, ips("10.96.0.7"));
    }

    #[test]
    fn no_answer_for_a_tries_aaaa_and_nxdomain_skips_it() {
        let mut plan = LookupPlan::new(
            vec!["v6.ns.svc.cluster.local.".into(), "v6.".into()],
            vec![QueryType::A, QueryType::Aaaa],
        );
        let asked = drive(&mut plan, &[err("No answer"), ips("fd00::7")]);
        assert_eq!(
            asked,
            [
                "v6.ns.svc.cluster.local. a",
                "v6.ns.svc.cluster.local. aaaa"
            ]
        );
        let attempts = plan.attempts();
        assert_eq!(attempts.len(), 1, "one attempt per candidate");
        assert_eq!(attempts[0].answer, ips("fd00::7"));

        let mut plan = LookupPlan::new(
            vec!["x.ns.svc.cluster.local.".into(), "x.example.org.".into()],
            vec![QueryType::A, QueryType::Aaaa],
        );
        let asked = drive(&mut plan, &[err("NXDOMAIN"), err("timed out")]);
        assert_eq!(asked, ["x.ns.svc.cluster.local. a", "x.example.org. a"]);
        let attempts = plan.attempts();
        assert_eq!(attempts[0].answer, err("NXDOMAIN"));
        assert_eq!(attempts[1].answer, err("timed out"));
    }
}
