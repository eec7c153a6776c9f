//! Which implementation serves each component — real where it is installed and usable,
//! simulated otherwise — and why. `podcheck doctor` prints this; `--require-real` checks it.

use std::path::Path;

use crate::store::DEFAULT_ETCD_BINARY;

/// The components that have a real and a simulated provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    Store,
    Runtime,
    Network,
    Dns,
}

impl Component {
    pub const ALL: [Component; 4] = [
        Component::Store,
        Component::Runtime,
        Component::Network,
        Component::Dns,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Component::Store => "store",
            Component::Runtime => "runtime",
            Component::Network => "network",
            Component::Dns => "dns",
        }
    }

    pub fn parse(s: &str) -> Option<Component> {
        Component::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// What `auto` chose for a component, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub component: Component,
    /// `etcd`, `memory`, `sim`, …
    pub provider: String,
    pub real: bool,
    pub why: String,
}

/// How the store is chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreChoice {
    /// etcd when its binary is installed, else memory.
    #[default]
    Auto,
    Memory,
    /// Spawn etcd (error if it is not installed).
    Etcd,
    /// Use a running etcd at this endpoint (`http://127.0.0.1:2379`).
    Endpoint(String),
}

/// The etcd binary podcheck would start, if installed.
pub fn etcd_binary() -> Option<&'static Path> {
    let p = Path::new(DEFAULT_ETCD_BINARY);
    p.is_file().then_some(p)
}

/// What each component would use, given the store choice.
pub fn choose(store: &StoreChoice) -> Vec<Choice> {
    let store_choice = match store {
        StoreChoice::Memory => Choice {
            component: Component::Store,
            provider: "memory".into(),
            real: false,
            why: "--store memory".into(),
        },
        StoreChoice::Endpoint(e) => Choice {
            component: Component::Store,
            provider: "etcd".into(),
            real: true,
            why: format!("the etcd at {e}"),
        },
        StoreChoice::Etcd | StoreChoice::Auto => match etcd_binary() {
            Some(p) => Choice {
                component: Component::Store,
                provider: "etcd".into(),
                real: true,
                why: format!(
                    "{} is installed; podcheck starts it with its data on tmpfs",
                    p.display()
                ),
            },
            None if *store == StoreChoice::Etcd => Choice {
                component: Component::Store,
                provider: "etcd".into(),
                real: false,
                why: format!(
                    "--store etcd, but {DEFAULT_ETCD_BINARY} is missing (install the Debian package etcd-server)"
                ),
            },
            None => Choice {
                component: Component::Store,
                provider: "memory".into(),
                real: false,
                why: format!(
                    "{DEFAULT_ETCD_BINARY} is missing (install the Debian package etcd-server)"
                ),
            },
        },
    };
    let found = |bin: &str| Path::new(bin).is_file();
    let runtime_seen = match (
        found("/usr/bin/containerd"),
        found("/usr/sbin/runc") || found("/usr/bin/runc"),
    ) {
        (true, true) => "containerd and runc are installed, but ",
        _ => "",
    };
    let cni_seen = if found("/usr/lib/cni/bridge") {
        "the CNI plugins are installed in /usr/lib/cni, but "
    } else {
        ""
    };
    vec![
        store_choice,
        Choice { component: Component::Runtime, provider: "sim".into(), real: false, why: format!("{runtime_seen}podcheck's containerd provider is not built yet: the simulated runtime keeps sandboxes and containers without running processes") },
        Choice { component: Component::Network, provider: "sim-ipam".into(), real: false, why: format!("{cni_seen}podcheck's CNI provider is not built yet: addresses come from a simulated IPAM, no interfaces are made") },
        Choice { component: Component::Dns, provider: "builtin".into(), real: false, why: "the builtin DNS server answers real queries on loopback, but lookups are made by the observer with the pod's resolv.conf rules, not from inside a container".into() },
    ]
}

/// The components in `required` that would not be real; each with why.
pub fn missing_real<'a>(choices: &'a [Choice], required: &[Component]) -> Vec<&'a Choice> {
    choices
        .iter()
        .filter(|c| required.contains(&c.component) && !c.real)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_never_real_and_requirements_name_it() {
        let choices = choose(&StoreChoice::Memory);
        let missing = missing_real(&choices, &[Component::Store, Component::Runtime]);
        let names: Vec<_> = missing.iter().map(|c| c.component.name()).collect();
        assert_eq!(names, ["store", "runtime"]);
        assert!(
            missing_real(
                &choose(&StoreChoice::Endpoint("http://127.0.0.1:1".into())),
                &[Component::Store]
            )
            .is_empty()
        );
    }

    #[test]
    fn components_parse_by_name() {
        assert_eq!(Component::parse("network"), Some(Component::Network));
        assert_eq!(Component::parse("cpu"), None);
    }
}
