//! resolv.conf and its search rules, as a resolver in the pod applies them: which fully
//! qualified names a lookup of `name` tries, in which order.

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
pub fn parse_nslookup(stdout: &str, exit_code: i32) -> Result<Vec<std::net::IpAddr>, String> {
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
        (true, None) => Err(format!("no address in the answer (exit code {exit_code})")),
    }
}

/// A shell script that resolves each name's candidates in order with busybox `nslookup`
/// (fully qualified, A only), stopping at the first that answers with a record (an empty
/// NOERROR answer, as for an empty non-terminal, moves on) — all names in one exec.
/// Each attempt prints a `### <name index> <exit code> <candidate>` header, then its output.
pub fn nslookup_script(names: &[Vec<String>]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut script = String::new();
    for (i, candidates) in names.iter().enumerate() {
        let list: Vec<String> = candidates
            .iter()
            .map(|c| quote(&format!("{}.", c.trim_end_matches('.'))))
            .collect();
        script.push_str(&format!(
            "for c in {}; do out=$(nslookup -type=a \"$c\" 2>&1); rc=$?; echo \"### {i} $rc $c\"; echo \"$out\"; if [ $rc = 0 ]; then case \"$out\" in *Name:*) break;; esac; fi; done\n",
            list.join(" ")
        ));
    }
    script
}

/// One attempt of [`nslookup_script`]: the candidate (without the final dot), the exit
/// code and what nslookup printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptAttempt {
    pub name_index: usize,
    pub candidate: String,
    pub exit_code: i32,
    pub output: String,
}

/// Splits the script's stdout into its attempts.
pub fn parse_nslookup_script(stdout: &str) -> Vec<ScriptAttempt> {
    let mut attempts: Vec<ScriptAttempt> = Vec::new();
    for line in stdout.lines() {
        if let Some(header) = line.strip_prefix("### ") {
            let mut parts = header.splitn(3, ' ');
            let index = parts.next().and_then(|p| p.parse().ok());
            let code = parts.next().and_then(|p| p.parse().ok());
            let candidate = parts.next();
            if let (Some(name_index), Some(exit_code), Some(candidate)) = (index, code, candidate) {
                attempts.push(ScriptAttempt {
                    name_index,
                    candidate: candidate.trim_end_matches('.').to_string(),
                    exit_code,
                    output: String::new(),
                });
                continue;
            }
        }
        if let Some(last) = attempts.last_mut() {
            last.output.push_str(line);
            last.output.push('\n');
        }
    }
    attempts
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
    }

    #[test]
    fn one_script_resolves_every_name() {
        let script = nslookup_script(&[
            vec!["a.ns.svc.cluster.local".into(), "a".into()],
            vec!["it's".into()],
        ]);
        assert!(script.contains("for c in 'a.ns.svc.cluster.local.' 'a.'; do"));
        assert!(script.contains("'it'\\''s.'"));
        let out = "### 0 1 a.ns.svc.cluster.local.\n** server can't find a.ns.svc.cluster.local: NXDOMAIN\n### 0 0 a.\nName:\ta\nAddress: 10.0.0.1\n### 1 1 it's.\n";
        let attempts = parse_nslookup_script(out);
        assert_eq!(attempts.len(), 3);
        assert_eq!(attempts[0].candidate, "a.ns.svc.cluster.local");
        assert_eq!(attempts[0].exit_code, 1);
        assert_eq!(
            parse_nslookup(&attempts[1].output, 0),
            Ok(vec!["10.0.0.1".parse().unwrap()])
        );
        assert_eq!(attempts[2].name_index, 1);
    }
}
