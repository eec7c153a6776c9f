//! Targets: the embedded control plane, or any cluster by kubeconfig. Both are reached
//! the same way — the Kubernetes API with kube-rs — plus the narrow probes a target offers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use kube::config::{KubeConfigOptions, Kubeconfig};
use podcheck_controlplane::image_registry::ServedLog;
use podcheck_controlplane::providers::{self, Component};
use podcheck_controlplane::store::Store;
use podcheck_controlplane::{Config, ControlPlane};
use podcheck_core::load::{ExternalScheduler, Suite};
use podcheck_core::observation::{NetnsRead, Probe, RegistryRead, RuntimeRead, StoreRead};
use podcheck_core::result::{ComponentUnderTest, Provider, TargetInfo};
use podcheck_node::kubelet::NodeSpec;
use podcheck_node::network::{self, NodeNetwork};
use podcheck_node::runtime::{ContainerState, Runtime};

use crate::Error;

/// Which providers the embedded target uses, and which must be real.
#[derive(Debug, Clone, Default)]
pub struct ProviderOptions {
    pub selection: providers::Selection,
    pub require_real: Vec<Component>,
    /// The real pod network's conflist template and plugin dir.
    pub cni: podcheck_node::network::CniConfig,
    /// Which scheduler runs: the suite's choice unless the command line overrides it.
    pub scheduler: SchedulerOverride,
    /// Image archives the nodes can pull from (`--image-archive`), beside the suite's.
    pub image_archives: Vec<std::path::PathBuf>,
}

impl ProviderOptions {
    /// Refuses a start where a component the user requires real would be simulated
    /// (`--require-real`), naming each and why.
    pub fn check_required_real(&self) -> Result<(), crate::error::UserError> {
        let choices = providers::choose(&self.selection);
        let missing = providers::missing_real(&choices, &self.require_real);
        if missing.is_empty() {
            return Ok(());
        }
        let why = missing
            .iter()
            .map(|c| (c.component.name().to_string(), c.why.clone()));
        Err(crate::error::UserError::NotReal(why.collect()))
    }

    /// The user's own scheduler (`--scheduler-command`), if one replaces the suite's.
    pub fn external_scheduler(&self) -> Option<ExternalScheduler> {
        match &self.scheduler {
            SchedulerOverride::External(e) => Some(e.clone()),
            SchedulerOverride::Suite | SchedulerOverride::None => None,
        }
    }
}

/// What the command line says about the scheduler of the embedded target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SchedulerOverride {
    /// The suite's own (`spec.components.scheduler`), else the builtin one.
    #[default]
    Suite,
    /// No scheduler at all: pods stay Pending.
    None,
    /// This command, instead of the suite's.
    External(ExternalScheduler),
}

/// Narrow probes into the components, where the target allows them.
#[async_trait]
pub trait Probes: Send + Sync {
    /// Reads a key of the store.
    async fn store(&self, key: &str, t0: Instant) -> Probe<StoreRead>;
    /// Asks the runtime of `node` for the state of these containers (IDs without scheme).
    async fn runtime(
        &self,
        node: &str,
        containers: &[(String, String)],
        t0: Instant,
    ) -> Probe<RuntimeRead>;
    /// What the registry served since `t0` for these images (`imageID`s, `repo@digest`).
    async fn registry(&self, images: &[String], t0: Instant) -> Probe<RegistryRead>;
    /// What the pod's network namespace holds, and whether the node reaches `pod_ip`.
    async fn netns(
        &self,
        node: &str,
        pod_uid: &str,
        pod_ip: Option<&str>,
        t0: Instant,
    ) -> Probe<NetnsRead>;
}

/// A target ready for cases.
pub struct Target {
    pub admin: kube::Client,
    /// The admin kubeconfig: identities are derived from it.
    pub kubeconfig: Kubeconfig,
    pub info: TargetInfo,
    pub probes: Arc<dyn Probes>,
    /// The pod networks the cluster declares, read once through the API.
    pub pod_networks: Vec<podcheck_core::pod_network::PodNetwork>,
    /// Cluster node name → the suite's name, while the suite's nodes are mapped onto the
    /// cluster's (`crate::node_map`).
    pub node_aliases: std::collections::BTreeMap<String, String>,
    /// The second pods that reach case pods over the pod network.
    pub peers: crate::observer::Peers,
    /// Labels the run's namespaces.
    pub run_id: String,
    /// The user's components this target runs (an external scheduler), as they identified
    /// themselves.
    pub components: Vec<ComponentUnderTest>,
    /// The schedulerName for case pods that name none: the external scheduler's, when it
    /// serves another name than `default-scheduler` (else the builtin, still running for
    /// `default-scheduler`, would bind them and the report would credit the wrong one).
    pub pods_scheduler: Option<String>,
    /// The external scheduler's process, stopped before the control plane.
    scheduler: Option<crate::scheduler::SchedulerProcess>,
    local: Option<ControlPlane>,
}

fn ms(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}

impl Target {
    /// Starts an embedded control plane shaped by the suite (its nodes).
    pub async fn local(suite: &Suite, providers: &ProviderOptions) -> Result<Target, Error> {
        let mut required = providers.require_real.clone();
        for name in &suite.require_real {
            if let Some(c) = Component::parse(name)
                && !required.contains(&c)
            {
                required.push(c);
            }
        }
        // The suite's own conflist, unless `--cni-conflist` names another: it needs the real
        // network (on the simulated one it would be ignored).
        let mut cni = providers.cni.clone();
        if let Some(path) = &suite.cni_conflist {
            if cni.conflist == network::ConflistTemplate::Builtin {
                cni.conflist = network::ConflistTemplate::File(path.clone());
            }
            if let providers::RuntimeChoice::CriSocket(socket) = &providers.selection.runtime {
                tracing::warn!(suite = %suite.name, socket = %socket.display(), "the runtime at the CRI socket calls the CNI plugins of its own configuration: the suite's CNI conflist is not used");
            }
            if !required.contains(&Component::Network) {
                required.push(Component::Network);
            }
        }
        let choices = providers::choose(&providers.selection);
        let missing = providers::missing_real(&choices, &required);
        if !missing.is_empty() {
            let why: Vec<String> = missing
                .iter()
                .map(|c| format!("{}: {}", c.component.name(), c.why))
                .collect();
            return Err(Error::RequireReal(why.join("; ")));
        }
        let node_specs = suite
            .nodes
            .iter()
            .map(|n| NodeSpec {
                name: n.name.clone(),
                labels: n.labels.clone(),
                taints: n
                    .taints
                    .iter()
                    .map(|t| {
                        (
                            t.key.clone(),
                            t.value.clone(),
                            t.effect.as_str().to_string(),
                        )
                    })
                    .collect(),
                capacity: n.capacity.clone(),
                unschedulable: n.unschedulable,
            })
            .collect();
        let external = match &providers.scheduler {
            SchedulerOverride::Suite => suite.scheduler.clone(),
            SchedulerOverride::None => None,
            SchedulerOverride::External(e) => Some(e.clone()),
        };
        // The builtin scheduler serves `default-scheduler` unless the external one does.
        let builtin = providers.scheduler != SchedulerOverride::None
            && external.as_ref().is_none_or(|e| !e.replaces_default());
        let cp = ControlPlane::start(Config {
            node_specs,
            scheduler: builtin,
            store: providers.selection.store.clone(),
            runtime: providers.selection.runtime.clone(),
            cni: cni.clone(),
            image_archives: providers
                .image_archives
                .iter()
                .cloned()
                .chain(suite.images.iter().map(|i| i.path.clone()))
                .collect(),
            ..Config::default()
        })
        .await
        .map_err(Error::ControlPlane)?;
        let admin = cp.client().await.map_err(Error::ControlPlane)?;
        let pod_networks = crate::cluster_facts::pod_networks(&admin).await;
        let scheduler = match &external {
            Some(e) => match crate::scheduler::SchedulerProcess::start(&cp, e).await {
                Ok(p) => Some(p),
                Err(err) => {
                    cp.shutdown().await;
                    return Err(err);
                }
            },
            None => None,
        };
        let store = cp.store();
        let runtimes: HashMap<String, Arc<dyn Runtime>> = cp
            .nodes()
            .map(|(n, r)| (n.name.clone(), r.clone()))
            .collect();
        let store_provider = store.provider();
        let runtime_provider = cp
            .nodes()
            .next()
            .map(|(_, r)| (r.provider(), r.network_provider()));
        let cri_socket = match &providers.selection.runtime {
            providers::RuntimeChoice::CriSocket(socket) => Some(socket),
            _ => None,
        };
        let custom_cni = (cni != podcheck_node::network::CniConfig::builtin()).then_some(cni);
        let mut providers = vec![
            Provider {
                component: "apiserver".into(),
                name: "podcheck-embedded".into(),
                real: true,
                version: "v1.33.0-podcheck".into(),
            },
            Provider {
                component: "store".into(),
                name: store_provider.name.into(),
                real: store_provider.real,
                version: store_provider.version.clone(),
            },
            Provider {
                component: "dns".into(),
                name: "builtin".into(),
                real: true,
                version: env!("CARGO_PKG_VERSION").into(),
            },
        ];
        let mut schedulers = Vec::new();
        if builtin {
            schedulers.push(Provider {
                component: "scheduler".into(),
                name: "builtin".into(),
                real: true,
                version: env!("CARGO_PKG_VERSION").into(),
            });
        }
        if let Some(p) = &scheduler {
            schedulers.push(Provider {
                component: "scheduler".into(),
                name: p.component.name.clone(),
                real: true,
                version: p.component.version.clone(),
            });
        }
        if schedulers.is_empty() {
            schedulers.push(Provider {
                component: "scheduler".into(),
                name: "none".into(),
                real: false,
                version: String::new(),
            });
        }
        providers.splice(2..2, schedulers);
        let mut components: Vec<ComponentUnderTest> = scheduler
            .as_ref()
            .map(|p| p.component.clone())
            .into_iter()
            .collect();
        if let Some((runtime, network)) = runtime_provider {
            // The user's own runtime or pod network is what the run validates: name it.
            if let Some(socket) = cri_socket {
                components.push(ComponentUnderTest {
                    component: "runtime".into(),
                    name: socket.display().to_string(),
                    version: format!("{} {}", runtime.name, runtime.version),
                });
            }
            if let Some(cni) = custom_cni.as_ref().filter(|_| network.real) {
                components.push(ComponentUnderTest {
                    component: "network".into(),
                    name: format!(
                        "{} ({} from {})",
                        cni.conflist,
                        network.name,
                        cni.bin_dir.display()
                    ),
                    version: network.version.clone(),
                });
            }
            providers.push(Provider {
                component: "runtime".into(),
                name: runtime.name,
                real: runtime.real,
                version: runtime.version,
            });
            providers.push(Provider {
                component: "network".into(),
                name: network.name,
                real: network.real,
                version: network.version,
            });
        }
        let info = TargetInfo {
            kind: "local".into(),
            server: cp.server_url(),
            version: "v1.33.0-podcheck".into(),
            providers,
        };
        Ok(Target {
            admin,
            kubeconfig: cp.kubeconfig(),
            info,
            probes: Arc::new(EmbeddedProbes {
                store,
                networks: cp
                    .nodes()
                    .filter_map(|(n, _)| Some((n.name.clone(), cp.node_network(&n.name)?)))
                    .collect(),
                runtimes,
                store_provider: providers_of(&store_provider),
                registry: cp.image_registry().map(|r| r.served_log()),
            }),
            pod_networks,
            node_aliases: Default::default(),
            peers: Default::default(),
            run_id: String::new(),
            components,
            pods_scheduler: external
                .as_ref()
                .filter(|e| !e.replaces_default())
                .map(|e| e.scheduler_name.clone()),
            scheduler,
            local: Some(cp),
        })
    }

    /// Connects to the cluster of a kubeconfig.
    pub async fn kubeconfig(path: &std::path::Path) -> Result<Target, Error> {
        Self::kubeconfig_with_nodes(path, None).await
    }

    /// [`Target::kubeconfig`], with the runtime and network probes through the nodes where
    /// podcheck reaches them (kind's node containers).
    pub async fn kubeconfig_with_nodes(
        path: &std::path::Path,
        nodes: Option<crate::kind::node_probes::NodeProbes>,
    ) -> Result<Target, Error> {
        let kubeconfig = Kubeconfig::read_from(path)
            .map_err(|e| Error::Kubeconfig(path.display().to_string(), e.to_string()))?;
        current_user(&kubeconfig).map_err(|e| Error::Kubeconfig(path.display().to_string(), e))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Kubeconfig(path.display().to_string(), e.to_string()))?;
        let server = config.cluster_url.to_string();
        let admin = kube::Client::try_from(config).map_err(|e| Error::Connect(e.to_string()))?;
        let version = admin
            .apiserver_version()
            .await
            .map_err(|e| Error::Connect(e.to_string()))?;
        let pod_networks = crate::cluster_facts::pod_networks(&admin).await;
        let probes = Arc::new(ClusterProbes {
            etcd: EtcdPod::find(&admin).await,
            admin: admin.clone(),
            nodes,
        });
        let info = TargetInfo {
            kind: "kubeconfig".into(),
            server,
            version: version.git_version.clone(),
            providers: vec![Provider {
                component: "apiserver".into(),
                name: "kube-apiserver".into(),
                real: true,
                version: version.git_version,
            }],
        };
        Ok(Target {
            admin,
            kubeconfig,
            info,
            probes,
            pod_networks,
            node_aliases: Default::default(),
            peers: Default::default(),
            run_id: String::new(),
            components: Vec::new(),
            pods_scheduler: None,
            scheduler: None,
            local: None,
        })
    }

    /// A client that acts as `identity` in `namespace`: the admin; nobody; a user — by a
    /// client certificate from the embedded CA, or by impersonation on other targets; or a
    /// ServiceAccount of the namespace, by a token from the TokenRequest API.
    pub async fn client_as(
        &self,
        identity: &podcheck_core::load::Identity,
        namespace: &str,
    ) -> Result<kube::Client, Error> {
        use podcheck_core::load::Identity;
        let mut kc = self.kubeconfig.clone();
        if let (Identity::User { name, groups }, Some(cp)) = (identity, &self.local) {
            kc = cp
                .kubeconfig_for_user(name, groups)
                .map_err(|e| Error::Connect(e.to_string()))?;
            return client_from(kc).await;
        }
        let token = match identity {
            Identity::ServiceAccount { name } => {
                let sas: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
                    kube::Api::namespaced(self.admin.clone(), namespace);
                let request: k8s_openapi::api::authentication::v1::TokenRequest =
                    serde_json::from_value(
                        serde_json::json!({"spec": {"audiences": [], "expirationSeconds": 3600}}),
                    )
                    .map_err(|e| Error::Connect(e.to_string()))?;
                let issued = sas
                    .create_token_request(name, &Default::default(), &request)
                    .await
                    .map_err(|e| {
                        Error::Connect(format!(
                            "no token for ServiceAccount {namespace}/{name} (create it in the case's setup): {e}"
                        ))
                    })?;
                issued.status.map(|s| s.token)
            }
            _ => None,
        };
        let user = current_user(&kc).map_err(Error::Connect)?.to_string();
        // The user exists (checked above); an entry without settings acts with none.
        if let Some(named) = kc.auth_infos.iter_mut().find(|a| a.name == user) {
            let auth = named.auth_info.get_or_insert_with(Default::default);
            match identity {
                Identity::Admin => {}
                Identity::Anonymous => *auth = kube::config::AuthInfo::default(),
                Identity::User { name, groups } => {
                    auth.impersonate = Some(name.clone());
                    auth.impersonate_groups = (!groups.is_empty()).then(|| groups.clone());
                }
                Identity::ServiceAccount { .. } => {
                    *auth = kube::config::AuthInfo {
                        token: token.map(Into::into),
                        ..Default::default()
                    }
                }
            }
        }
        client_from(kc).await
    }

    /// The external scheduler under test, if this target runs one, and whether it runs now.
    pub fn scheduler_under_test(&self) -> Option<podcheck_core::observation::SchedulerState> {
        self.scheduler
            .as_ref()
            .map(|p| podcheck_core::observation::SchedulerState {
                command: p.component.name.clone(),
                running: p.is_running(),
            })
    }

    /// The embedded control plane's fault switches, and the suite's scheduler process if
    /// any; `None` elsewhere (a case with faults is skipped there).
    pub fn faults(&self) -> Option<crate::observer::Switchboard> {
        self.local.as_ref().map(|cp| crate::observer::Switchboard {
            control_plane: cp.faults(),
            scheduler: self.scheduler.as_ref().and_then(|s| s.process_group()),
        })
    }

    /// The embedded control plane's DNS server (UDP and TCP on loopback); `None` elsewhere.
    pub fn dns_server(&self) -> Option<std::net::SocketAddr> {
        self.local.as_ref().map(|cp| cp.dns_addr())
    }

    pub async fn shutdown(self) {
        self.peers.remove(&self.admin).await;
        // The probes share the nodes' networks: let go of them so the bridges come down now.
        drop(self.probes);
        if let Some(p) = self.scheduler {
            p.stop().await;
        }
        if let Some(cp) = self.local {
            cp.shutdown().await;
        }
    }
}

/// The user of the kubeconfig's current context. A context without a user, or one that
/// names a user the file does not hold, would silently run as nobody — and every identity
/// derived from it (impersonation) as nobody too — so it is an error.
fn current_user(kc: &Kubeconfig) -> Result<&str, String> {
    let current = kc
        .current_context
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or("it sets no current-context")?;
    let context = kc
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| format!("its current-context {current:?} is not among its contexts"))?;
    let user = context
        .user
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("context {current:?} names no user"))?;
    if !kc.auth_infos.iter().any(|a| a.name == user) {
        return Err(format!(
            "context {current:?} names user {user:?}, which is not among its users"
        ));
    }
    Ok(user)
}

async fn client_from(kc: Kubeconfig) -> Result<kube::Client, Error> {
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Connect(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| Error::Connect(e.to_string()))
}

fn providers_of(p: &podcheck_controlplane::store::StoreProvider) -> Provider {
    Provider {
        component: "store".into(),
        name: p.name.into(),
        real: p.real,
        version: p.version.clone(),
    }
}

struct EmbeddedProbes {
    store: Arc<dyn Store>,
    runtimes: HashMap<String, Arc<dyn Runtime>>,
    /// The pod networks of nodes with a real runtime.
    networks: HashMap<String, Arc<NodeNetwork>>,
    store_provider: Provider,
    /// What the registry of real nodes served.
    registry: Option<ServedLog>,
}

#[async_trait]
impl Probes for EmbeddedProbes {
    async fn store(&self, key: &str, t0: Instant) -> Probe<StoreRead> {
        match self.store.get(key).await {
            Ok(kv) => Probe::Seen(StoreRead {
                key: key.to_string(),
                create_revision: kv.as_ref().map(|k| k.create_revision),
                mod_revision: kv.as_ref().map(|k| k.mod_revision),
                value: kv.and_then(|k| serde_json::from_slice(&k.value).ok()),
                provider: self.store_provider.clone(),
                at_ms: ms(t0),
            }),
            Err(e) => Probe::Unavailable(format!("the store did not answer: {e}")),
        }
    }

    async fn runtime(
        &self,
        node: &str,
        containers: &[(String, String)],
        t0: Instant,
    ) -> Probe<RuntimeRead> {
        let Some(rt) = self.runtimes.get(node) else {
            return Probe::Unavailable(format!("no runtime probe for node {node}"));
        };
        let p = rt.provider();
        let mut seen = Vec::new();
        for (name, id) in containers {
            let state = match rt.container_state(id).await {
                Ok(ContainerState::Running { .. }) => Some("running"),
                Ok(ContainerState::Created) => Some("created"),
                Ok(ContainerState::Exited { .. }) => Some("exited"),
                Err(_) => None,
            };
            if let Some(state) = state {
                seen.push((name.clone(), id.clone(), state.to_string()));
            }
        }
        Probe::Seen(RuntimeRead {
            provider: Provider {
                component: "runtime".into(),
                name: p.name,
                real: p.real,
                version: p.version,
            },
            containers: seen,
            at_ms: ms(t0),
        })
    }

    async fn registry(&self, images: &[String], t0: Instant) -> Probe<RegistryRead> {
        let Some(log) = &self.registry else {
            return Probe::Unavailable(
                "podcheck runs no registry for these nodes (simulated, or the user's runtime)"
                    .into(),
            );
        };
        let repositories: Vec<&str> = images
            .iter()
            .map(|i| i.split_once('@').map_or(i.as_str(), |(r, _)| r))
            .collect();
        let served = log
            .since(t0)
            .into_iter()
            .filter(|s| repositories.contains(&s.repository.as_str()))
            .map(|s| (s.repository, s.reference, s.digest))
            .collect();
        Probe::Seen(RegistryRead {
            provider: Provider {
                component: "registry".into(),
                name: "podcheck-registry".into(),
                real: true,
                version: env!("CARGO_PKG_VERSION").into(),
            },
            served,
            at_ms: ms(t0),
        })
    }

    async fn netns(
        &self,
        node: &str,
        pod_uid: &str,
        pod_ip: Option<&str>,
        t0: Instant,
    ) -> Probe<NetnsRead> {
        let (Some(rt), Some(net)) = (self.runtimes.get(node), self.networks.get(node)) else {
            return Probe::Unavailable(
                "the simulated network creates no network namespaces".into(),
            );
        };
        let sandbox = match rt.sandbox_of_pod(pod_uid).await {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Probe::Unavailable(format!(
                    "the runtime of {node} has no sandbox for the pod"
                ));
            }
            Err(e) => {
                return Probe::Unavailable(format!("the runtime of {node} did not answer: {e}"));
            }
        };
        let path = match rt.sandbox_netns(&sandbox).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Probe::Unavailable(format!("sandbox {sandbox} has no network namespace"));
            }
            Err(e) => {
                return Probe::Unavailable(format!("the runtime of {node} did not answer: {e}"));
            }
        };
        let addresses = match network::netns_addresses(&path).await {
            Ok(a) => a,
            Err(e) => {
                return Probe::Unavailable(format!(
                    "could not read the addresses in {}: {e}",
                    path.display()
                ));
            }
        };
        let reach = match pod_ip.and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok()) {
            Some(ip) => Some(net.reach(ip).await.map(|d| {
                format!(
                    "a TCP probe from the host was answered by the pod in {:.1} ms",
                    d.as_secs_f64() * 1e3
                )
            })),
            None => None,
        };
        let p = net.provider();
        Probe::Seen(NetnsRead {
            provider: Provider {
                component: "network".into(),
                name: p.name,
                real: p.real,
                version: p.version,
            },
            addresses,
            reach,
            at_ms: ms(t0),
        })
    }
}

/// Any other cluster: the API, and what can be read through it — the store by `etcdctl`
/// in the etcd static pod where the cluster runs one (kind, kubeadm) — and, on kind, the
/// runtime and the pod's network namespace by crictl on the node (`crate::kind::node_probes`).
struct ClusterProbes {
    admin: kube::Client,
    /// Where to run etcdctl, if the cluster shows its etcd as a pod.
    etcd: Option<EtcdPod>,
    /// crictl on the nodes, where podcheck reaches them (kind): the runtime and netns probes.
    nodes: Option<crate::kind::node_probes::NodeProbes>,
}

/// The etcd static pod: where it runs and how it serves.
struct EtcdPod {
    namespace: String,
    name: String,
    container: String,
    /// Its command line, whose flags give etcdctl's endpoint and certificates.
    command: Vec<String>,
    image: String,
}

impl EtcdPod {
    /// kubeadm labels its etcd static pod `component=etcd, tier=control-plane`.
    async fn find(admin: &kube::Client) -> Option<EtcdPod> {
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(admin.clone(), "kube-system");
        let list = pods
            .list(
                &kube::api::ListParams::default()
                    .labels("component=etcd")
                    .limit(10),
            )
            .await
            .ok()?;
        list.items.into_iter().find_map(|p| {
            let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
            let spec = p.spec.as_ref()?;
            let c = spec
                .containers
                .iter()
                .find(|c| c.name == "etcd")
                .or(spec.containers.first())?;
            let command: Vec<String> = c
                .command
                .iter()
                .flatten()
                .chain(c.args.iter().flatten())
                .cloned()
                .collect();
            running.then(|| EtcdPod {
                namespace: "kube-system".into(),
                name: p.metadata.name.clone().unwrap_or_default(),
                container: c.name.clone(),
                command,
                image: c.image.clone().unwrap_or_default(),
            })
        })
    }
}

#[async_trait]
impl Probes for ClusterProbes {
    async fn store(&self, key: &str, t0: Instant) -> Probe<StoreRead> {
        let Some(etcd) = &self.etcd else {
            return Probe::Unavailable(
                "the cluster shows no etcd pod in kube-system (a managed control plane keeps its store out of reach)"
                    .into(),
            );
        };
        let command = match podcheck_core::etcdctl::get_command(&etcd.command, key) {
            Ok(c) => c,
            Err(e) => return Probe::Unavailable(e),
        };
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        let stdout = match crate::observer::exec_in(
            &self.admin,
            &etcd.namespace,
            &etcd.name,
            &etcd.container,
            &command,
        )
        .await
        {
            Ok(out) => out,
            Err(why) => {
                return Probe::Unavailable(format!(
                    "etcdctl in {}/{}: {why}",
                    etcd.namespace, etcd.name
                ));
            }
        };
        match podcheck_core::etcdctl::parse_get(&stdout) {
            Ok(got) => Probe::Seen(StoreRead {
                key: key.to_string(),
                create_revision: got.create_revision,
                mod_revision: got.mod_revision,
                value: got.json(),
                provider: Provider {
                    component: "store".into(),
                    name: format!("etcd (etcdctl in {}/{})", etcd.namespace, etcd.name),
                    real: true,
                    version: etcd
                        .image
                        .rsplit_once(':')
                        .map_or(String::new(), |(_, tag)| tag.to_string()),
                },
                at_ms: ms(t0),
            }),
            Err(e) => {
                Probe::Unavailable(format!("etcdctl in {}/{}: {e}", etcd.namespace, etcd.name))
            }
        }
    }

    async fn runtime(
        &self,
        node: &str,
        containers: &[(String, String)],
        t0: Instant,
    ) -> Probe<RuntimeRead> {
        match &self.nodes {
            Some(nodes) => nodes.runtime(node, containers, t0).await,
            None => Probe::Unavailable(
                "the runtimes of a kubeconfig target are not reachable from podcheck".into(),
            ),
        }
    }

    async fn registry(&self, _: &[String], _: Instant) -> Probe<RegistryRead> {
        Probe::Unavailable(
            "the registries a kubeconfig target pulls from are not podcheck's".into(),
        )
    }

    async fn netns(
        &self,
        node: &str,
        pod_uid: &str,
        pod_ip: Option<&str>,
        t0: Instant,
    ) -> Probe<NetnsRead> {
        match &self.nodes {
            Some(nodes) => nodes.netns(node, pod_uid, pod_ip, t0).await,
            None => Probe::Unavailable(
                "the nodes of a kubeconfig target are not reachable from podcheck".into(),
            ),
        }
    }
}
