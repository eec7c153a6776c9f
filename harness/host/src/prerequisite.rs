//! What this machine lacks for a real component: root, a program, a kernel feature, each with
//! the Debian package that provides it where a package does. The real runtime, the pod
//! network and the conformance suites list theirs with it, so that a suite that cannot run
//! here can say so and name the command that fixes it.

/// One thing a real component needs and this machine does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// As a sentence names it: `root (running as uid 1000)`, `the nft command (nftables)`.
    pub what: String,
    /// The Debian package that provides it; none for root or a kernel feature.
    pub package: Option<&'static str>,
}

impl Missing {
    pub fn new(what: impl Into<String>, package: Option<&'static str>) -> Missing {
        Missing {
            what: what.into(),
            package,
        }
    }

    /// Root, when this process is not: every real component podcheck starts needs it.
    pub fn root() -> Option<Missing> {
        let euid = rustix::process::geteuid();
        (!euid.is_root())
            .then(|| Missing::new(format!("root (running as uid {})", euid.as_raw()), None))
    }
}

/// `a`, `a and b`, `a, b and c`.
pub fn sentence(missing: &[Missing]) -> String {
    let whats: Vec<&str> = missing.iter().map(|m| m.what.as_str()).collect();
    match whats.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `apt-get install -y containerd runc`: the packages that provide what is missing, each once,
/// in order; none when no package would help (only root, or a kernel feature, is missing).
pub fn install_command(missing: &[Missing]) -> Option<String> {
    let mut packages: Vec<&str> = Vec::new();
    for p in missing.iter().filter_map(|m| m.package) {
        if !packages.contains(&p) {
            packages.push(p);
        }
    }
    (!packages.is_empty()).then(|| format!("apt-get install -y {}", packages.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_joins_with_commas_and_and() {
        let m = |w: &str| Missing::new(w, None);
        assert_eq!(sentence(&[]), "");
        assert_eq!(sentence(&[m("a")]), "a");
        assert_eq!(sentence(&[m("a"), m("b")]), "a and b");
        assert_eq!(sentence(&[m("a"), m("b"), m("c")]), "a, b and c");
    }

    #[test]
    fn the_install_command_names_each_package_once_and_nothing_for_root() {
        let missing = [
            Missing::new("containerd", Some("containerd")),
            Missing::new("root", None),
            Missing::new("ctr", Some("containerd")),
            Missing::new("runc", Some("runc")),
        ];
        assert_eq!(
            install_command(&missing).as_deref(),
            Some("apt-get install -y containerd runc")
        );
        assert_eq!(install_command(&[Missing::new("root", None)]), None);
    }
}
