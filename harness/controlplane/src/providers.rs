//! Which implementation serves each component — real where it is installed and usable,
//! simulated otherwise — and why. `podcheck doctor` prints this; `--require-real` checks it.

use std::path::{Path, PathBuf};

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

/// How the container runtime (and with it the pod network and in-pod DNS) is chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// containerd + runc with the CNI plugins where installed and usable, else simulated.
    #[default]
    Auto,
    Sim,
    /// containerd (error if it cannot run here).
    Containerd,
    /// The CRI runtime listening at this socket (`--cri-socket`), with its own CNI
    /// configuration: the first node's kubelet uses it instead of starting containerd.
    /// Made with [`RuntimeChoice::cri_socket`].
    CriSocket(PathBuf),
}

impl RuntimeChoice {
    pub fn parse(s: &str) -> Option<RuntimeChoice> {
        match s {
            "auto" => Some(RuntimeChoice::Auto),
            "sim" => Some(RuntimeChoice::Sim),
            "containerd" => Some(RuntimeChoice::Containerd),
            _ => None,
        }
    }

    /// The runtime at `socket`.
    pub fn cri_socket(socket: impl Into<PathBuf>) -> RuntimeChoice {
        RuntimeChoice::CriSocket(socket.into())
    }
}

/// What the caller asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub store: StoreChoice,
    pub runtime: RuntimeChoice,
}

/// Whether containerd, runc and the CNI plugins can run pods here; why not otherwise.
pub use podcheck_node::real_runtime_usable;

/// What each component would use, given the selection.
pub fn choose(selection: &Selection) -> Vec<Choice> {
    let store = &selection.store;
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
    let usable = match &selection.runtime {
        RuntimeChoice::Sim => Err("--runtime sim".to_string()),
        RuntimeChoice::Auto | RuntimeChoice::Containerd => real_runtime_usable(),
        RuntimeChoice::CriSocket(socket) => {
            let mut all = vec![store_choice];
            all.extend(cri_socket_choices(socket));
            return all;
        }
    };
    let rest = match usable {
        Ok(()) => vec![
            Choice { component: Component::Runtime, provider: "containerd".into(), real: true, why: "containerd and runc are installed and podcheck runs as root: it starts a containerd of its own per node, with images it builds".into() },
            Choice { component: Component::Network, provider: "bridge+host-local".into(), real: true, why: "the CNI plugins are installed in /usr/lib/cni: containerd calls them on a bridge and subnet of podcheck's own".into() },
            Choice { component: Component::Dns, provider: "in-pod lookup".into(), real: true, why: "lookups run inside the container (busybox nslookup), through the pod's network to the builtin DNS server behind the DNS Service IP".into() },
        ],
        Err(why) => {
            let why = why.trim_end_matches('.');
            let strict = selection.runtime == RuntimeChoice::Containerd;
            let (runtime, network) = if strict {
                (format!("--runtime containerd, but {why}"), format!("the CNI plugins are called by the real runtime, which cannot run: {why}"))
            } else {
                (format!("simulated, because {why}: sandboxes and containers are kept without processes"), format!("simulated, because {why}: addresses come from a simulated IPAM, no interfaces are made"))
            };
            vec![
                Choice { component: Component::Runtime, provider: if strict { "containerd" } else { "sim" }.into(), real: false, why: runtime },
                Choice { component: Component::Network, provider: if strict { "bridge+host-local" } else { "sim-ipam" }.into(), real: false, why: network },
                Choice { component: Component::Dns, provider: "builtin".into(), real: false, why: "the builtin DNS server answers real queries on loopback, but without a real runtime the lookups are made by the observer with the pod's resolv.conf rules, not from inside a container".into() },
            ]
        }
    };
    let mut all = vec![store_choice];
    all.extend(rest);
    all
}

/// Runtime, network and DNS with a user's CRI runtime: real when its socket is there.
fn cri_socket_choices(socket: &Path) -> Vec<Choice> {
    let there = socket.exists();
    let at = socket.display();
    let missing = format!("--cri-socket {at}, but there is no such socket");
    vec![
        Choice {
            component: Component::Runtime,
            provider: "cri".into(),
            real: there,
            why: if there {
                format!(
                    "--cri-socket {at}: the first node's kubelet uses the runtime there, reported by its CRI Version answer"
                )
            } else {
                missing.clone()
            },
        },
        Choice {
            component: Component::Network,
            provider: "the runtime's CNI".into(),
            real: there,
            why: if there {
                format!("the runtime at {at} calls the CNI plugins of its own configuration")
            } else {
                missing.clone()
            },
        },
        Choice {
            component: Component::Dns,
            provider: "in-pod lookup".into(),
            real: there,
            why: if there {
                "lookups run inside the container, through the runtime's pod network; the builtin DNS server also listens on that network's gateway".into()
            } else {
                missing
            },
        },
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
        let choices = choose(&Selection {
            store: StoreChoice::Memory,
            runtime: RuntimeChoice::Sim,
        });
        let missing = missing_real(&choices, &[Component::Store, Component::Runtime]);
        let names: Vec<_> = missing.iter().map(|c| c.component.name()).collect();
        assert_eq!(names, ["store", "runtime"]);
        assert!(
            missing_real(
                &choose(&Selection {
                    store: StoreChoice::Endpoint("http://127.0.0.1:1".into()),
                    runtime: RuntimeChoice::Sim,
                }),
                &[Component::Store]
            )
            .is_empty()
        );
    }

    #[test]
    fn a_cri_socket_is_real_where_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let choices = choose(&Selection {
            store: StoreChoice::Memory,
            runtime: RuntimeChoice::cri_socket(dir.path()),
        });
        assert!(missing_real(&choices, &[Component::Runtime, Component::Network]).is_empty());
        assert_eq!(choices[1].provider, "cri");
        let choices = choose(&Selection {
            store: StoreChoice::Memory,
            runtime: RuntimeChoice::cri_socket("/nonexistent/cri.sock"),
        });
        let missing = missing_real(&choices, &[Component::Runtime]);
        assert!(
            missing[0].why.contains("/nonexistent/cri.sock"),
            "{missing:?}"
        );
    }

    #[test]
    fn components_parse_by_name() {
        assert_eq!(Component::parse("network"), Some(Component::Network));
        assert_eq!(Component::parse("cpu"), None);
    }
}
