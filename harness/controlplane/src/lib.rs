//! An embedded Kubernetes control plane on loopback.
//!
//! [`ControlPlane::start`] brings up a store, an apiserver serving the Kubernetes API over
//! HTTPS on `127.0.0.1`, the builtin scheduler, one kubelet per simulated node and the
//! cluster DNS server. Everything but the store talks through the API with kube-rs, as the
//! real components do, so what is observed here means what it would on a real cluster.
//! Runtime and network sit behind CRI- and CNI-shaped traits ([`kubelet::runtime`]).

pub mod apiserver;
pub mod cluster;
pub mod cluster_dns;
mod dns_forward;
pub mod fault;
pub mod identity;
pub mod image_registry;
mod pki;
pub mod profile;
pub mod providers;
pub mod scheduler;
mod service_directory;
pub mod store;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use apiserver::ApiServer;
use apiserver::http::ApiState;
use apiserver::registry::Registry;
use apiserver::resources;
use identity::{Identity, TokenAuthenticator};
use image_registry::ImageRegistry;
use kubelet::pod_dns::ClusterDnsSettings;
use kubelet::{NodeConfig, NodeSpec};
use podcheck_host::error_chain;
use podcheck_host::run_dir::{RUN_ROOT, unique_name};
use podcheck_node::fault::Faulty;
use podcheck_node::images::catalog::Catalog;
use podcheck_node::ipam::BlockPool;
use podcheck_node::not_ready::NotReadyYet;
use podcheck_node::runtime::{Runtime, SimNetwork, SimRuntime};
use podcheck_node::static_pod::{StaticPod, WithStaticPods};
use podcheck_node::{RUN_DIR_PREFIX, cri, kubelet, network};
use providers::StoreChoice;
use store::{EtcdProcess, EtcdStore, MemoryStore, Store, WatchCache};

pub use cluster::ClusterFacts;
pub use ipnet::Ipv4Net;
pub use podcheck_node::ipam::PodIpam;
pub use profile::{Like, Upstream};

/// How often the store's history is compacted, keeping one interval of it (as kube-apiserver).
const COMPACTION_INTERVAL: Duration = Duration::from_secs(300);

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listening socket could not be opened.
    #[error("could not listen for the {what}")]
    Bind {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The configuration asks for a cluster that cannot be made (here).
    #[error("invalid control plane configuration: {0}")]
    Invalid(String),
    /// Certificates or TLS settings could not be made.
    #[error("could not set up TLS: {0}")]
    Pki(String),
    /// The API client for a component could not be built.
    #[error("could not configure an API client")]
    Client(#[source] kube::Error),
    /// The cluster's initial objects could not be written.
    #[error("could not create {what}: {message}")]
    Bootstrap { what: String, message: String },
    /// The store could not be started or reached.
    #[error("could not set up the store")]
    Store(#[source] store::StoreError),
    /// The cluster DNS server could not start.
    #[error("could not start the cluster DNS server")]
    Dns(#[source] cluster_dns::DnsError),
    /// A node's real runtime or pod network could not be set up.
    #[error("could not set up the real {what} of {node}: {message}")]
    RealNode {
        node: String,
        what: &'static str,
        message: String,
    },
    /// The image registry could not start, or an image archive could not be read.
    #[error("could not set up the image registry: {0}")]
    Images(String),
    /// The kubeconfig could not be written.
    #[error("could not write the kubeconfig to {path}")]
    Kubeconfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// How to build the control plane.
pub struct Config {
    /// How many simulated nodes (kubelets) to run, named `node-1`, `node-2`, …; ignored
    /// when `node_specs` is not empty.
    pub nodes: u16,
    /// The simulated nodes, when they need names, labels, taints or capacities of their own.
    pub node_specs: Vec<NodeSpec>,
    /// The store: chosen (`auto`: etcd where installed, else memory), or given.
    pub store: StoreChoice,
    /// A store to use as is (tests); overrides `store`.
    pub store_instance: Option<Arc<dyn Store>>,
    /// The nodes' container runtime and pod network: simulated unless asked (the CLI asks
    /// for `auto`). A real runtime is a containerd per node on a bridge of its own.
    pub runtime: providers::RuntimeChoice,
    /// Whether the builtin scheduler runs (off when the user brings their own).
    pub scheduler: bool,
    /// Whether requests without credentials are served as `system:anonymous` (also when
    /// the upstream behaviours say so).
    pub anonymous: bool,
    /// The cluster domain (`--cluster-domain`): the DNS zone and the pods' search path.
    pub cluster_domain: String,
    /// The Services' range (`--service-cluster-ip-range`); the `kubernetes` Service takes
    /// its first address, kube-dns its tenth. 10.96.0.0/16, kind's, by default.
    pub service_cidr: Ipv4Net,
    /// Where pod IPs come from: the node's podCIDR (default), or per-node /26 blocks of a
    /// pool, as Calico's IPAM (simulated network only).
    pub pod_ipam: PodIpam,
    /// Where the cluster DNS forwards names outside its zones (a loopback address only);
    /// `None` refuses them.
    pub dns_upstream: Option<SocketAddr>,
    /// Which cluster the control plane behaves like.
    pub like: Like,
    /// The upstream behaviours, when they are to differ from what `like` turns on (a test
    /// switches one on alone).
    pub upstream: Option<Upstream>,
    /// The host's resolv.conf the kubelets read (`--resolv-conf`): `dnsPolicy: Default` pods
    /// get it, and `ClusterFirst` ones its search domains where the upstream behaviours say.
    pub resolv_conf: PathBuf,
    /// Where the DNS server listens; 127.0.0.1:0 by default.
    pub dns_listen: SocketAddr,
    /// The real pod network's CNI conflist template and plugin dir (the built-in
    /// `bridge` + `host-local` unless the user brings their own); unused when simulated.
    pub cni: network::CniConfig,
    /// Image archives (OCI layout or `docker save` tars) whose images the nodes can pull,
    /// beside the built-in ones (`--image-archive`).
    pub image_archives: Vec<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nodes: 1,
            node_specs: Vec::new(),
            store: StoreChoice::default(),
            store_instance: None,
            runtime: providers::RuntimeChoice::Sim,
            scheduler: true,
            anonymous: false,
            cluster_domain: cluster::DEFAULT_CLUSTER_DOMAIN.into(),
            service_cidr: cluster::DEFAULT_SERVICE_CIDR,
            pod_ipam: PodIpam::NodePodCidr,
            dns_upstream: None,
            like: Like::Podcheck,
            upstream: None,
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            dns_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            cni: network::CniConfig::builtin(),
            image_archives: Vec::new(),
        }
    }
}

impl Config {
    /// The upstream behaviours in force: `upstream` if given, else the profile's.
    pub fn upstream(&self) -> Upstream {
        self.upstream
            .clone()
            .unwrap_or_else(|| self.like.upstream())
    }

    /// How many nodes run: those of `node_specs`, or `nodes` numbered ones.
    pub fn node_count(&self) -> usize {
        if self.node_specs.is_empty() {
            usize::from(self.nodes)
        } else {
            self.node_specs.len()
        }
    }

    /// The cluster facts this configuration serves.
    pub fn facts(&self) -> ClusterFacts {
        ClusterFacts {
            like: self.like,
            service_cidr: self.service_cidr,
            cluster_domain: self.cluster_domain.clone(),
            // With a pool, kubeadm init's --pod-network-cidr is the pool (as Calico's docs
            // have it), and the podCIDRs are carved from it.
            pod_subnet: match self.pod_ipam {
                PodIpam::Pool(pool) => pool.trunc(),
                PodIpam::NodePodCidr => cluster::pod_subnet_for(self.node_count()),
            },
            pod_ipam: self.pod_ipam,
            dns_upstream: self.dns_upstream,
        }
    }

    /// Whether the nodes get a real runtime: pool IPAM exists only in the simulated
    /// network, so `auto` picks that one then, and an explicit real runtime is an error.
    fn real_runtime(&self) -> Result<bool, Error> {
        let pooled = matches!(self.pod_ipam, PodIpam::Pool(_));
        let refuse = |what: &str| {
            Err(Error::Invalid(format!(
                "pod IPs from a pool ({}) need the simulated runtime: the real pod network's \
                 host-local IPAM allocates from each node's podCIDR, and {what} cannot do otherwise",
                self.pod_ipam
            )))
        };
        match &self.runtime {
            providers::RuntimeChoice::Sim => Ok(false),
            providers::RuntimeChoice::Containerd if pooled => refuse("containerd"),
            providers::RuntimeChoice::Containerd => Ok(true),
            providers::RuntimeChoice::CriSocket(_) if pooled => refuse("a CRI socket's runtime"),
            providers::RuntimeChoice::CriSocket(_) => Ok(false),
            providers::RuntimeChoice::Auto => {
                Ok(!pooled && providers::real_runtime_usable().is_ok())
            }
        }
    }
}

/// A user the control plane knows, with its token.
#[derive(Debug, Clone)]
pub struct Credential {
    pub identity: Identity,
    pub token: String,
}

/// A running control plane. Dropping it stops every component; [`ControlPlane::shutdown`]
/// also waits for them.
pub struct ControlPlane {
    apiserver: Option<ApiServer>,
    dns: Option<cluster_dns::ClusterDns>,
    store: Arc<dyn Store>,
    /// The etcd podcheck started, if any: stopped (and its data removed) at shutdown.
    etcd: Option<EtcdProcess>,
    ca_pem: String,
    /// The CA, for client certificates.
    pki: Arc<pki::Pki>,
    admin: Credential,
    nodes: Vec<(NodeConfig, Arc<dyn Runtime>)>,
    /// The containerd and the bridge of each node with a real runtime.
    real_nodes: Vec<RealNode>,
    /// The images the nodes can pull: served by `image_registry` to real nodes, known to
    /// simulated ones.
    images: Arc<Catalog>,
    /// The registry on loopback the real nodes' containerds pull from.
    image_registry: Option<ImageRegistry>,
    /// `/run/podcheck/cp-PID-…`: the real nodes' files; removed at shutdown.
    run_dir: Option<PathBuf>,
    components: JoinSet<()>,
    shutdown: CancellationToken,
    /// Who has listed or watched pods (see [`ControlPlane::pod_readers`]).
    pod_readers: tokio::sync::watch::Receiver<Vec<Identity>>,
    /// What the cluster serves: its Service CIDR, domain, IPAM, DNS upstream, profile.
    facts: ClusterFacts,
    /// The switches a case's `faults:` throw.
    faults: fault::Faults,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("server", &self.server_url())
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Starts every component and returns once the API answers and the nodes registered.
    pub async fn start(config: Config) -> Result<ControlPlane, Error> {
        let facts = config.facts();
        facts.check().map_err(Error::Invalid)?;
        let node_count = config.node_count();
        if let PodIpam::Pool(pool) = facts.pod_ipam
            && cluster::node_pod_cidrs(pool).count() <= node_count
        {
            return Err(Error::Invalid(format!(
                "the pod IP pool {pool} holds {} /{} podCIDRs: too few for {node_count} node(s) \
                 and blocks of pod IPs outside them",
                cluster::node_pod_cidrs(pool).count(),
                cluster::NODE_CIDR_PREFIX
            )));
        }
        let upstream = config.upstream();
        let real = config.real_runtime()?;
        let shutdown = CancellationToken::new();
        let (store, etcd) = open_store(&config).await?;
        let write_delay = Arc::new(store::WriteDelay::default());
        let store_provider = store.provider();
        let store: Arc<dyn Store> = Arc::new(store::SlowWrites::new(store, write_delay.clone()));
        let pki = pki::Pki::generate(&facts.cluster_domain, facts.kubernetes_service_ip())?;
        let authn = TokenAuthenticator::default();
        let admin = Credential {
            identity: Identity::admin(),
            token: identity::new_token(),
        };
        authn.insert(admin.token.clone(), admin.identity.clone());
        let scheduler_cred = Credential {
            identity: Identity {
                user: "system:kube-scheduler".into(),
                groups: vec!["system:authenticated".into()],
            },
            token: identity::new_token(),
        };
        authn.insert(
            scheduler_cred.token.clone(),
            scheduler_cred.identity.clone(),
        );
        let mut node_configs = node_configs(&config, &facts, &upstream);
        let etcd_pod = match (&etcd, upstream.etcd_static_pod) {
            (Some(etcd), true) => Some(Arc::new(cluster::etcd_static_pod(
                etcd,
                &store.provider().version,
            ))),
            _ => None,
        };
        if let (Some(pod), Some(first)) = (&etcd_pod, node_configs.first_mut()) {
            first.static_pods.push(pod.clone());
        }
        // Built on a blocking thread while the networks are set up: compressing the
        // built-in images is the slow part of a real start.
        let archives = config.image_archives.clone();
        let images = tokio::task::spawn_blocking(move || node_images(real, &archives));
        let mut networks: Vec<network::NodeNetwork> = Vec::new();
        let run_dir = if real {
            let dir = real_run_dir()?;
            networks = setup_networks(&dir, &node_configs, &config.cni, &facts).await?;
            for (node, net) in node_configs.iter_mut().zip(&networks) {
                node.pod_cidr = net.subnet();
            }
            Some(dir)
        } else if let providers::RuntimeChoice::CriSocket(_) = config.runtime {
            Some(real_run_dir()?)
        } else {
            None
        };
        let images = Arc::new(
            images
                .await
                .map_err(|e| Error::Images(format!("building the images failed: {e}")))??,
        );
        let node_creds: Vec<Credential> = node_configs
            .iter()
            .map(|n| Credential {
                identity: Identity {
                    user: format!("system:node:{}", n.name),
                    groups: vec!["system:nodes".into(), "system:authenticated".into()],
                },
                token: identity::new_token(),
            })
            .collect();
        for c in &node_creds {
            authn.insert(c.token.clone(), c.identity.clone());
        }
        let registry = Arc::new(Registry::new(store.clone()).with_service_cidr(facts.service_cidr));
        let runtimes: apiserver::exec::NodeRuntimes = Arc::default();
        let authorizer = Arc::new(apiserver::rbac::Authorizer::new(upstream.rbac_propagation));
        let api_shutdown = shutdown.child_token();
        let pod_readers = tokio::sync::watch::Sender::new(Vec::new());
        let apiserver = ApiServer::start(
            |addr| {
                Arc::new(ApiState {
                    registry: registry.clone(),
                    authn,
                    server_address: addr.to_string(),
                    shutdown: api_shutdown,
                    anonymous: config.anonymous || upstream.anonymous,
                    runtimes: runtimes.clone(),
                    authorizer: authorizer.clone(),
                    pod_readers: pod_readers.clone(),
                    metrics: Arc::default(),
                })
            },
            &pki,
        )?;
        let mut cp = ControlPlane {
            apiserver: Some(apiserver),
            dns: None,
            store: store.clone(),
            etcd,
            ca_pem: pki.ca_pem.clone(),
            pki: Arc::new(pki),
            admin,
            nodes: Vec::new(),
            real_nodes: Vec::new(),
            images: images.clone(),
            image_registry: None,
            run_dir,
            components: JoinSet::new(),
            shutdown: shutdown.clone(),
            pod_readers: pod_readers.subscribe(),
            facts: facts.clone(),
            faults: fault::Faults {
                scheduler: None,
                dns: None,
                store: write_delay,
                store_provider: (store_provider.name.to_string(), store_provider.real),
                nodes: Vec::new(),
            },
        };
        let directory = Arc::new(service_directory::ServiceDirectory::default());
        let dns = cluster_dns::ClusterDns::start(
            cluster_dns::DnsConfig {
                zone: config.cluster_domain.clone(),
                listen: config.dns_listen,
                forward: facts.dns_upstream.map(cluster_dns::Forward::coredns),
            },
            directory.clone(),
        )
        .await
        .map_err(Error::Dns)?;
        let dns_addr = dns.addr();
        cp.faults.dns = Some(dns.faults());
        cp.dns = Some(dns);
        if let (Some(dir), true) = (cp.run_dir.clone(), real) {
            // From here on, a failure tears down what exists through `cp`'s drop.
            let registry = ImageRegistry::start(images.clone())
                .await
                .map_err(|source| Error::Bind {
                    what: "image registry",
                    source,
                })?;
            let registry_addr = registry.addr();
            cp.image_registry = Some(registry);
            cp.real_nodes = start_real_nodes(
                &dir,
                &node_configs,
                networks,
                cp.dns.as_mut(),
                registry_addr,
            )
            .await?;
        }
        // `--cri-socket`: the first node's kubelet uses the user's runtime.
        let mut external: Option<Arc<dyn Runtime>> = match (&config.runtime, cp.run_dir.clone()) {
            (providers::RuntimeChoice::CriSocket(socket), Some(dir)) => {
                let (runtime, net) = external_node_runtime(
                    socket,
                    dir.join("pod-logs"),
                    cp.dns.as_mut(),
                    facts.dns_service_ip(),
                )
                .await
                .map_err(|e| Error::RealNode {
                    node: node_configs
                        .first()
                        .map(|n| n.name.clone())
                        .unwrap_or_default(),
                    what: "container runtime",
                    message: error_chain(&e),
                })?;
                if let (Some(node), Some(subnet)) = (node_configs.first_mut(), net.subnet) {
                    node.pod_cidr = subnet;
                }
                Some(Arc::new(runtime))
            }
            _ => None,
        };
        bootstrap(&registry, cp.api_addr(), dns_addr, &facts).await?;
        if upstream.kubeadm_config_maps {
            write_kubeadm_config_maps(&registry, &facts).await?;
        }
        let bootstrapped = store.revision().await.map_err(Error::Store)?;
        authorizer.reset(bootstrapped);
        let directory_client = cp.client_for(&cp.admin.token).await?;
        // The directory is filled before start returns, so the first lookup already answers.
        let follow = directory
            .follow(directory_client, shutdown.child_token())
            .await?;
        cp.components.spawn(follow);

        let (nodes_seen, mut scheduler_nodes) = tokio::sync::watch::channel(0usize);
        if config.scheduler {
            let client = cp.client_for(&scheduler_cred.token).await?;
            let (gate, gate_rx) = tokio::sync::watch::channel(scheduler::Gate::Running);
            cp.faults.scheduler = Some(Arc::new(gate));
            cp.components.spawn(scheduler::supervised(
                client,
                shutdown.child_token(),
                nodes_seen,
                upstream.scheduler_events_api,
                gate_rx,
            ));
        }
        let pool = pod_ip_pool(&facts, &node_configs)?;
        for (i, (node, cred)) in node_configs.into_iter().zip(node_creds).enumerate() {
            let runtime: Arc<dyn Runtime> = match cp.real_nodes.get(i) {
                Some(real) => real.runtime.clone(),
                None => external.take().unwrap_or_else(|| {
                    let network = Arc::new(match &pool {
                        Some(pool) => SimNetwork::from_pool(pool.clone(), &node.name),
                        None => SimNetwork::new(node.pod_cidr),
                    });
                    Arc::new(SimRuntime::with_images(network, images.clone()))
                }),
            };
            let runtime = NotReadyYet::wrap(runtime, upstream.first_failures);
            let runtime = WithStaticPods::wrap(runtime, &node.static_pods);
            if let Some(real) = cp.real_nodes.get(i) {
                node.faults.attach_daemon(&real.containerd);
            }
            cp.faults.nodes.push(fault::NodeSwitches {
                cni_plug: cp.real_nodes.get(i).and_then(|r| r.cni_plug.clone()),
                faults: node.faults.clone(),
                runtime: runtime.provider(),
                network: runtime.network_provider(),
            });
            let runtime = Faulty::wrap(runtime, node.faults.clone());
            let client = cp.client_for(&cred.token).await?;
            runtimes
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(node.name.clone(), runtime.clone());
            cp.components.spawn(kubelet::run(
                client,
                node.clone(),
                runtime.clone(),
                shutdown.child_token(),
            ));
            cp.nodes.push((node, runtime));
        }
        let compactor_store = store.clone();
        let token = shutdown.child_token();
        cp.components
            .spawn(async move { compact_periodically(compactor_store, token).await });
        cp.wait_for_nodes(Duration::from_secs(10)).await?;
        if let Some(pod) = &etcd_pod {
            cp.wait_for_mirror_pod(pod, Duration::from_secs(10)).await?;
        }
        if config.scheduler {
            // Pods created right after start must meet a scheduler that knows every node.
            let want = cp.nodes.len();
            tokio::time::timeout(
                Duration::from_secs(10),
                scheduler_nodes.wait_for(|n| *n >= want),
            )
            .await
            .map_err(|_| Error::Bootstrap {
                what: "the scheduler's node cache".into(),
                message: format!("it did not see {want} nodes within 10 s"),
            })?
            .map_err(|_| Error::Bootstrap {
                what: "the scheduler".into(),
                message: "it stopped".into(),
            })?;
        }
        Ok(cp)
    }

    async fn wait_for_nodes(&self, deadline: Duration) -> Result<(), Error> {
        let want = self.nodes.len();
        let client = self.client().await?;
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
        let registered = tokio::time::timeout(deadline, async {
            loop {
                if let Ok(list) = nodes.list(&Default::default()).await
                    && list.items.len() >= want
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        registered.map_err(|_| Error::Bootstrap {
            what: "nodes".into(),
            message: format!("{want} kubelets did not register within {deadline:?}"),
        })
    }

    /// Waits until the first node's kubelet reports a static pod's mirror pod Running.
    async fn wait_for_mirror_pod(&self, pod: &StaticPod, deadline: Duration) -> Result<(), Error> {
        let Some((node, _)) = self.nodes.first() else {
            return Ok(());
        };
        let name = pod.mirror_name(&node.name);
        let client = self.client().await?;
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(client, &pod.namespace);
        let running = tokio::time::timeout(deadline, async {
            loop {
                if let Ok(p) = pods.get(&name).await
                    && p.status.and_then(|s| s.phase).as_deref() == Some("Running")
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        running.map_err(|_| Error::Bootstrap {
            what: format!("the mirror pod {}/{name}", pod.namespace),
            message: format!(
                "{} did not report it Running within {deadline:?}",
                node.name
            ),
        })
    }

    /// The switches a case's `faults:` throw.
    pub fn faults(&self) -> fault::Faults {
        self.faults.clone()
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.apiserver
            .as_ref()
            .map(|a| a.addr)
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    pub fn server_url(&self) -> String {
        format!("https://{}", self.api_addr())
    }

    /// The cluster facts served: Service CIDR and IPs, cluster domain, IPAM, DNS upstream,
    /// profile.
    pub fn cluster(&self) -> &ClusterFacts {
        &self.facts
    }

    /// Where the cluster DNS server answers (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns
            .as_ref()
            .map(|d| d.addr())
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// The CA that signed the apiserver's certificate, PEM-encoded.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn admin(&self) -> &Credential {
        &self.admin
    }

    /// The store, for probes that read raw keys (the `etcdWrite` evidence).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The images the nodes can pull.
    pub fn images(&self) -> &Arc<Catalog> {
        &self.images
    }

    /// Adds the images of an archive (a suite's `spec.images`); pulls see them at once.
    pub fn add_image_archive(&self, path: &Path) -> Result<Vec<String>, Error> {
        add_image_archive(&self.images, path)
    }

    /// The registry the real nodes pull from, if the nodes are real: its address and what
    /// it served (the `criLaunch` evidence).
    pub fn image_registry(&self) -> Option<&ImageRegistry> {
        self.image_registry.as_ref()
    }

    /// The simulated nodes and the runtimes behind them, for runtime probes.
    pub fn nodes(&self) -> impl Iterator<Item = (&NodeConfig, &Arc<dyn Runtime>)> {
        self.nodes.iter().map(|(n, r)| (n, r))
    }

    /// The pod network of a node with a real runtime, for the netns and reachability probes.
    pub fn node_network(&self, node: &str) -> Option<Arc<network::NodeNetwork>> {
        self.real_nodes
            .iter()
            .find(|r| r.name == node)
            .and_then(|r| r.network.clone())
    }

    /// A kubeconfig for `user` in `groups`, with a client certificate signed by the
    /// control plane's CA (CN = user, O = groups): no token, and no impersonation.
    pub fn kubeconfig_for_user(&self, user: &str, groups: &[String]) -> Result<Kubeconfig, Error> {
        use base64::Engine;
        let cert = self.pki.client_certificate(user, groups)?;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let mut kc = self.kubeconfig_for(user, "");
        if let Some(a) = kc.auth_infos[0].auth_info.as_mut() {
            a.token = None;
            a.client_certificate_data = Some(b64(&cert.cert_pem));
            a.client_key_data = Some(b64(&cert.key_pem).into());
        }
        Ok(kc)
    }

    /// The identities that have listed or watched pods so far, as they change: a
    /// scheduler is running once its identity is among them.
    pub fn pod_readers(&self) -> tokio::sync::watch::Receiver<Vec<Identity>> {
        self.pod_readers.clone()
    }

    /// A kubeconfig for the admin, with the CA embedded.
    pub fn kubeconfig(&self) -> Kubeconfig {
        self.kubeconfig_for("podcheck-admin", &self.admin.token)
    }

    fn kubeconfig_for(&self, user: &str, token: &str) -> Kubeconfig {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes());
        Kubeconfig {
            clusters: vec![NamedCluster {
                name: "podcheck".into(),
                cluster: Some(Cluster {
                    server: Some(self.server_url()),
                    certificate_authority_data: Some(ca),
                    ..Cluster::default()
                }),
                other: Default::default(),
            }],
            auth_infos: vec![NamedAuthInfo {
                name: user.into(),
                auth_info: Some(AuthInfo {
                    token: Some(token.to_string().into()),
                    ..AuthInfo::default()
                }),
                other: Default::default(),
            }],
            contexts: vec![NamedContext {
                name: "podcheck".into(),
                context: Some(Context {
                    cluster: "podcheck".into(),
                    user: Some(user.into()),
                    namespace: Some("default".into()),
                    ..Context::default()
                }),
                other: Default::default(),
            }],
            current_context: Some("podcheck".into()),
            api_version: Some("v1".into()),
            kind: Some("Config".into()),
            ..Kubeconfig::default()
        }
    }

    /// Writes the admin kubeconfig to `path`, readable by the owner only.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        let err = |source| Error::Kubeconfig {
            path: path.display().to_string(),
            source,
        };
        let yaml = serde_saphyr::to_string(&self.kubeconfig())
            .map_err(|e| err(std::io::Error::other(e.to_string())))?;
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        file.write_all(yaml.as_bytes()).map_err(err)
    }

    /// An admin client.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        self.client_for(&self.admin.token.clone()).await
    }

    async fn client_for(&self, token: &str) -> Result<kube::Client, Error> {
        let config = kube::Config::from_custom_kubeconfig(
            self.kubeconfig_for("component", token),
            &KubeConfigOptions::default(),
        )
        .await
        .map_err(|e| Error::Client(kube::Error::InferKubeconfig(e)))?;
        kube::Client::try_from(config).map_err(Error::Client)
    }

    /// Stops every component and waits for them (bounded).
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while self.components.join_next().await.is_some() {}
        })
        .await;
        if let Some(api) = self.apiserver.take() {
            api.shutdown().await;
        }
        // The kubelets have stopped their sandboxes; containerd removes what is left.
        let real: Vec<RealNode> = std::mem::take(&mut self.real_nodes);
        futures::future::join_all(real.into_iter().map(RealNode::shutdown)).await;
        if let Some(registry) = self.image_registry.take() {
            registry.shutdown().await;
        }
        if let Some(dir) = self.run_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(dns) = self.dns.take() {
            dns.shutdown().await;
        }
        if let Some(etcd) = self.etcd.take() {
            self.store.close();
            etcd.shutdown().await;
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // Tasks see the cancellation and end on their own; the real nodes' processes,
        // mounts, cgroups and bridges are removed by their own drops (best effort).
        self.shutdown.cancel();
        self.components.abort_all();
        self.real_nodes.clear();
        if let Some(dir) = self.run_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A node with a real runtime: its containerd and its bridge.
struct RealNode {
    name: String,
    runtime: Arc<dyn Runtime>,
    /// Shared with the node's fault switches (a `runtimeKilled` fault kills and restarts it).
    containerd: podcheck_node::fault::SharedContainerd,
    /// Shared with probes; torn down once they are gone (else by its drop).
    network: Option<Arc<network::NodeNetwork>>,
    /// Where containerd finds the CNI plugins, for `cniAddFails` faults.
    cni_plug: Option<podcheck_node::fault::CniPlug>,
}

impl RealNode {
    async fn shutdown(mut self) {
        let containerd = self.containerd.lock().await.take();
        if let Some(c) = containerd {
            c.shutdown().await;
        }
        if let Some(n) = self.network.take() {
            match Arc::try_unwrap(n) {
                Ok(n) => {
                    if let Err(e) = n.teardown().await {
                        tracing::warn!(node = %self.name, error = %e, "pod network teardown failed");
                    }
                }
                Err(shared) => drop(shared),
            }
        }
    }
}

/// The images the nodes can pull: real nodes pull the built-in images too, simulated ones
/// only need their names; then the user's archives.
fn node_images(real: bool, archives: &[PathBuf]) -> Result<Catalog, Error> {
    let images = if real {
        Catalog::builtin().map_err(|e| Error::Images(error_chain(&e)))?
    } else {
        Catalog::default()
    };
    for path in archives {
        add_image_archive(&images, path)?;
    }
    Ok(images)
}

/// Reads an image archive into the catalog.
fn add_image_archive(images: &Catalog, path: &Path) -> Result<Vec<String>, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Images(format!("cannot read image archive {}: {e}", path.display())))?;
    images
        .add_archive(&bytes, &path.display().to_string())
        .map_err(|e| Error::Images(error_chain(&e)))
}

/// Where the real nodes of this control plane keep their files: on tmpfs (`/run`), named
/// after this process so that leftovers can be traced to it.
fn real_run_dir() -> Result<PathBuf, Error> {
    let dir = Path::new(RUN_ROOT).join(unique_name(RUN_DIR_PREFIX));
    std::fs::create_dir_all(&dir).map_err(|e| Error::RealNode {
        node: "all nodes".into(),
        what: "run directory",
        message: format!("{}: {e}", dir.display()),
    })?;
    Ok(dir)
}

/// The nodes' pod network: one segment (one bridge) for them all, a /24 and a CNI
/// configuration per node, so that every pod reaches every other without NAT.
async fn setup_networks(
    dir: &Path,
    nodes: &[NodeConfig],
    cni: &network::CniConfig,
    facts: &ClusterFacts,
) -> Result<Vec<network::NodeNetwork>, Error> {
    let opts = network::SegmentOptions {
        node_dirs: nodes
            .iter()
            .map(|n| dir.join(&n.name).join("net"))
            .collect(),
        service_cidr: facts.service_cidr,
        dns_service_ip: facts.dns_service_ip(),
        cni_bin_dir: cni.bin_dir.clone(),
        template: cni.conflist.clone(),
    };
    network::NodeNetwork::setup_segment(opts)
        .await
        .map_err(|e| Error::RealNode {
            node: match nodes {
                [one] => one.name.clone(),
                _ => "all nodes".into(),
            },
            what: "pod network",
            message: e.to_string(),
        })
}

/// A containerd per node, on that node's network, and the DNS server on each bridge.
async fn start_real_nodes(
    dir: &Path,
    nodes: &[NodeConfig],
    networks: Vec<network::NodeNetwork>,
    mut dns: Option<&mut cluster_dns::ClusterDns>,
    registry: SocketAddr,
) -> Result<Vec<RealNode>, Error> {
    for (node, net) in nodes.iter().zip(&networks) {
        if let Some(dns) = dns.as_deref_mut() {
            dns.listen_also(SocketAddr::from((net.gateway(), 53)))
                .await
                .map_err(|e| Error::RealNode {
                    node: node.name.clone(),
                    what: "DNS listener on the bridge",
                    message: error_chain(&e),
                })?;
        }
    }
    let mut plugs = Vec::new();
    for (node, net) in nodes.iter().zip(&networks) {
        let plug = podcheck_node::fault::CniPlug::prepare(
            &dir.join(&node.name).join("cni-bin"),
            net.cni_bin_dir(),
            net.conf_file(),
        )
        .map_err(|e| Error::RealNode {
            node: node.name.clone(),
            what: "CNI plugin dir",
            message: error_chain(&e),
        })?;
        plugs.push(plug);
    }
    let started = futures::future::join_all(nodes.iter().zip(&networks).zip(&plugs).map(
        |((node, net), plug)| {
            let mut opts = cri::containerd::ContainerdOptions::new(
                dir.join(&node.name).join("containerd"),
                net.conf_dir(),
            );
            opts.cni_bin_dir = plug.dir().to_path_buf();
            opts.registry = Some(registry);
            cri::containerd::ContainerdProcess::start(opts)
        },
    ))
    .await;
    let mut real = Vec::new();
    let mut first_error = None;
    for (((node, net), c), plug) in nodes.iter().zip(networks).zip(started).zip(plugs) {
        match c {
            Ok(c) => {
                let runtime: Arc<dyn Runtime> = Arc::new(c.runtime(net.provider()));
                real.push(RealNode {
                    name: node.name.clone(),
                    runtime,
                    containerd: Arc::new(tokio::sync::Mutex::new(Some(c))),
                    network: Some(Arc::new(net)),
                    cni_plug: Some(plug),
                });
            }
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some(Error::RealNode {
                        node: node.name.clone(),
                        what: "container runtime",
                        message: error_chain(&e),
                    });
                }
                drop(net);
            }
        }
    }
    match first_error {
        Some(e) => {
            futures::future::join_all(real.into_iter().map(RealNode::shutdown)).await;
            Err(e)
        }
        None => {
            // What dead runs left inside their run dirs was swept by the containerd and
            // network sweeps above; now the emptied dirs go.
            podcheck_host::sweep::remove_dead_run_dirs(dir.parent().unwrap_or(dir), RUN_DIR_PREFIX);
            Ok(real)
        }
    }
}

/// The node's runtime at `socket`, and the pod network it gives: where the cluster DNS
/// server is given, it also answers on that network's gateway (port 53), where the DNS
/// Service IP is routed from pods. A gateway that is not this host's own address only
/// costs the in-pod lookups (logged).
async fn external_node_runtime(
    socket: &Path,
    log_root: PathBuf,
    dns: Option<&mut cluster_dns::ClusterDns>,
    dns_service_ip: Ipv4Addr,
) -> Result<(cri::CriRuntime, cri::external::PodNetwork), cri::CriError> {
    let (runtime, version) = cri::external::connect(socket, log_root).await?;
    tracing::debug!(
        socket = %socket.display(),
        runtime = %version.runtime_name,
        version = %version.runtime_version,
        "using the CRI runtime at the socket"
    );
    let network = cri::external::probe_pod_network(&runtime, dns_service_ip).await?;
    if let Some(dns) = dns {
        match network.gateway {
            Some(gateway) => {
                if let Err(e) = dns.listen_also(SocketAddr::from((gateway, 53))).await {
                    tracing::warn!(%gateway, error = %podcheck_host::error_chain(&e), "the cluster DNS cannot listen on the pod network's gateway: lookups from pods may fail");
                }
            }
            None => tracing::warn!(
                "the runtime's pods have no route via a gateway to the DNS Service IP: lookups from pods may fail"
            ),
        }
    }
    Ok((runtime, network))
}

/// The namespaces and Services every cluster starts with.
/// Opens the store the config asks for; `auto` takes etcd where it is installed.
async fn open_store(config: &Config) -> Result<(Arc<dyn Store>, Option<EtcdProcess>), Error> {
    if let Some(given) = &config.store_instance {
        return Ok((given.clone(), None));
    }
    let spawn = match &config.store {
        StoreChoice::Memory => false,
        StoreChoice::Auto => providers::etcd_binary().is_some(),
        StoreChoice::Etcd => true,
        StoreChoice::Endpoint(endpoint) => {
            let store = EtcdStore::connect(endpoint).await.map_err(Error::Store)?;
            let cached = WatchCache::new(Arc::new(store))
                .await
                .map_err(Error::Store)?;
            return Ok((Arc::new(cached), None));
        }
    };
    if !spawn {
        return Ok((Arc::new(MemoryStore::new()), None));
    }
    let etcd = EtcdProcess::start().await.map_err(Error::Store)?;
    let cached = match etcd.connect().await {
        Ok(store) => WatchCache::new(Arc::new(store)).await,
        Err(e) => Err(e),
    };
    match cached {
        Ok(store) => Ok((Arc::new(store), Some(etcd))),
        Err(e) => {
            etcd.shutdown().await;
            Err(Error::Store(e))
        }
    }
}

/// The annotation on the cluster DNS Service that tells observers where the server behind
/// its ClusterIP answers on this machine (the ClusterIP itself is not routed here).
pub const DNS_ENDPOINT_ANNOTATION: &str = "podcheck.dev/dns-endpoint";

async fn bootstrap(
    registry: &Registry,
    api: SocketAddr,
    dns: SocketAddr,
    facts: &ClusterFacts,
) -> Result<(), Error> {
    let lookup = |plural| resources::lookup("", "v1", plural).expect("served resource");
    let fail = |what: &str| {
        let what = what.to_string();
        move |e: apiserver::status::ApiError| Error::Bootstrap {
            what,
            message: e.message,
        }
    };
    for (plural, object) in apiserver::rbac::bootstrap_objects() {
        let r = resources::lookup(apiserver::rbac::GROUP, "v1", plural).expect("served resource");
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        registry
            .create(r, None, object)
            .await
            .map_err(fail(&format!("{plural} {name}")))?;
    }
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        registry
            .create(
                lookup("namespaces"),
                None,
                json!({"metadata": {"name": ns}}),
            )
            .await
            .map_err(fail(&format!("namespace {ns}")))?;
    }
    let kubernetes = json!({
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": facts.kubernetes_service_ip().to_string(), "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api.port()}]},
    });
    registry
        .create(lookup("services"), Some("default"), kubernetes)
        .await
        .map_err(fail("the kubernetes Service"))?;
    let endpoints = json!({
        "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": api.ip().to_string()}], "ports": [{"name": "https", "port": api.port(), "protocol": "TCP"}]}],
    });
    registry
        .create(lookup("endpoints"), Some("default"), endpoints)
        .await
        .map_err(fail("the kubernetes Endpoints"))?;
    let kube_dns = json!({
        "metadata": {"name": "kube-dns", "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
                     "annotations": {DNS_ENDPOINT_ANNOTATION: dns.to_string()}},
        "spec": {"clusterIP": facts.dns_service_ip().to_string(), "selector": {"k8s-app": "kube-dns"}, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
        ]},
    });
    registry
        .create(lookup("services"), Some("kube-system"), kube_dns)
        .await
        .map_err(fail("the kube-dns Service"))?;
    Ok(())
}

/// kube-system's `kubeadm-config` and `kubelet-config`, as `kubeadm init` writes them.
async fn write_kubeadm_config_maps(registry: &Registry, facts: &ClusterFacts) -> Result<(), Error> {
    let config_maps = resources::lookup("", "v1", "configmaps").expect("served resource");
    for cm in cluster::kubeadm_config_maps(facts) {
        let name = cm["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        registry
            .create(config_maps, Some("kube-system"), cm)
            .await
            .map_err(|e| Error::Bootstrap {
                what: format!("the {name} ConfigMap"),
                message: e.message,
            })?;
    }
    Ok(())
}

/// Each node's settings: its name, podCIDR and capacity, and what its kubelet does as the
/// cluster facts and the upstream behaviours say.
fn node_configs(config: &Config, facts: &ClusterFacts, upstream: &Upstream) -> Vec<NodeConfig> {
    let host = podcheck_core::resolv::ResolvConf::parse(
        &std::fs::read_to_string(&config.resolv_conf).unwrap_or_default(),
    )
    .into();
    let dns = ClusterDnsSettings {
        servers: vec![facts.dns_service_ip().to_string()],
        domain: facts.cluster_domain.clone(),
        host,
        append_host_search: upstream.host_search_domains,
    };
    let numbered = |i: u16| {
        let mut node = NodeConfig::numbered(i, dns.clone());
        node.graceful_termination = upstream.graceful_termination;
        node
    };
    let mut nodes: Vec<NodeConfig> = if config.node_specs.is_empty() {
        (0..config.nodes).map(numbered).collect()
    } else {
        (0u16..)
            .zip(&config.node_specs)
            .map(|(i, spec)| numbered(i).with_spec(spec))
            .collect()
    };
    // podCIDRs from the pod subnet, a /24 each in order, as kube-controller-manager's range
    // allocator hands them out (`--node-cidr-mask-size` 24); the real network replaces them
    // with the /24s it claims.
    for (node, cidr) in nodes
        .iter_mut()
        .zip(cluster::node_pod_cidrs(facts.pod_subnet))
    {
        node.pod_cidr = cidr;
    }
    nodes
}

/// The pool pod IPs come from, shared by the nodes, when they do not come from podCIDRs;
/// its blocks stay clear of every node's podCIDR.
fn pod_ip_pool(
    facts: &ClusterFacts,
    nodes: &[NodeConfig],
) -> Result<Option<Arc<Mutex<BlockPool>>>, Error> {
    let PodIpam::Pool(pool) = facts.pod_ipam else {
        return Ok(None);
    };
    let avoid = nodes.iter().map(|n| n.pod_cidr).collect();
    let pool = BlockPool::new(pool, avoid).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(Some(Arc::new(Mutex::new(pool))))
}

/// Compacts the store every interval to the revision seen an interval earlier, so watches
/// can resume within one interval, as kube-apiserver's compactor does.
async fn compact_periodically(store: Arc<dyn Store>, shutdown: CancellationToken) {
    let mut previous = None;
    let mut tick = tokio::time::interval(COMPACTION_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Some(rev) = previous
                    && let Err(e) = store.compact(rev).await
                {
                    tracing::debug!(error = %e, "compaction failed");
                }
                previous = store.revision().await.ok();
            }
        }
    }
}
