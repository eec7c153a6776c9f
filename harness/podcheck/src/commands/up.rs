//! `podcheck up`: the embedded control plane, served until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Instant;

use podcheck_controlplane::{Config, ControlPlane, Ipv4Net, Like, PodIpam};

use crate::error::UserError;
use crate::scheduler::SchedulerProcess;
use crate::target::{ProviderOptions, SchedulerOverride};

/// What to serve.
pub struct UpRequest {
    /// Nodes (kubelets), 1 to 5,000.
    pub nodes: u16,
    /// Where to write the admin kubeconfig (removed on exit); default: in a run directory.
    pub kubeconfig: Option<PathBuf>,
    /// Serve requests without credentials as system:anonymous.
    pub anonymous: bool,
    /// Which cluster the control plane behaves like.
    pub like: Like,
    pub service_cidr: Ipv4Net,
    pub cluster_domain: String,
    pub pod_ipam: PodIpam,
    /// A DNS server on loopback for names outside the cluster.
    pub dns_upstream: Option<std::net::SocketAddr>,
    /// The nodes' resolv.conf (the kubelet's `--resolv-conf`).
    pub resolv_conf: PathBuf,
    pub providers: ProviderOptions,
}

/// Starts the control plane (and the user's scheduler), prints how to reach it, and serves
/// until signalled; then stops everything and removes the kubeconfig.
pub async fn up(request: UpRequest, started: Instant) -> Result<(), UserError> {
    // Before anything is printed: whoever reads "Press Ctrl-C" may signal at once.
    let signals = super::Signals::listen();
    let run_dir = tempfile::Builder::new()
        .prefix("podcheck-up-")
        .tempdir()
        .map_err(UserError::RunDir)?;
    let kubeconfig = request
        .kubeconfig
        .clone()
        .unwrap_or_else(|| run_dir.path().join("kubeconfig"));
    let options = &request.providers;
    options.check_required_real()?;
    let external = options.external_scheduler();
    let config = Config {
        nodes: request.nodes,
        anonymous: request.anonymous,
        like: request.like,
        service_cidr: request.service_cidr,
        cluster_domain: request.cluster_domain.clone(),
        pod_ipam: request.pod_ipam,
        dns_upstream: request.dns_upstream,
        resolv_conf: request.resolv_conf.clone(),
        store: options.selection.store.clone(),
        runtime: options.selection.runtime.clone(),
        cni: options.cni.clone(),
        image_archives: options.image_archives.clone(),
        // The builtin scheduler serves default-scheduler unless the user's does, or none runs.
        scheduler: options.scheduler != SchedulerOverride::None
            && external
                .as_ref()
                .is_none_or(|e| e.scheduler_name != "default-scheduler"),
        ..Config::default()
    };
    let cp = ControlPlane::start(config).await?;
    let scheduler = match &external {
        Some(e) => match SchedulerProcess::start(&cp, e).await {
            Ok(p) => {
                let version = match p.component.version.as_str() {
                    "" => "no --version",
                    v => v,
                };
                println!("scheduler: {} ({version})", p.component.name);
                Some(p)
            }
            Err(e) => {
                cp.shutdown().await;
                return Err(e.into());
            }
        },
        None => None,
    };
    if let Err(e) = cp.write_kubeconfig(&kubeconfig) {
        cp.shutdown().await;
        return Err(e.into());
    }
    print_endpoints(&cp, request.nodes, started, &kubeconfig);
    signals.received().await;
    eprintln!("podcheck: stopping");
    if let Some(p) = scheduler {
        p.stop().await;
    }
    cp.shutdown().await;
    if request.kubeconfig.is_some() {
        let _ = std::fs::remove_file(&kubeconfig);
    }
    drop(run_dir);
    Ok(())
}

/// What is up and how to reach it.
fn print_endpoints(cp: &ControlPlane, nodes: u16, started: Instant, kubeconfig: &std::path::Path) {
    let provider = cp.store().provider();
    let runtime = cp
        .nodes()
        .next()
        .map(|(_, r)| (r.provider().name, r.network_provider().name))
        .unwrap_or_default();
    println!(
        "podcheck: control plane up in {} ms: {nodes} node(s), store {}, runtime {}, network {}",
        started.elapsed().as_millis(),
        provider.name,
        runtime.0,
        runtime.1,
    );
    println!("apiserver: {}", cp.server_url());
    let cluster = cp.cluster();
    let domain = &cluster.cluster_domain;
    println!(
        "dns: {} (udp and tcp), zone {domain}; try: dig @{} -p {} kubernetes.default.svc.{domain}",
        cp.dns_addr(),
        cp.dns_addr().ip(),
        cp.dns_addr().port()
    );
    println!(
        "cluster: like {}; service CIDR {} (kubernetes {}, kube-dns {}); cluster domain {domain}; pod IPs from {}; names outside the cluster: {}",
        cluster.like.name(),
        cluster.service_cidr,
        cluster.kubernetes_service_ip(),
        cluster.dns_service_ip(),
        cluster.pod_ipam,
        match cluster.dns_upstream {
            Some(upstream) => format!("forwarded to {upstream}"),
            None => "refused".into(),
        },
    );
    if let Some(registry) = cp.image_registry() {
        println!(
            "registry: http://{} serves {} for the nodes (podcheck images lists its images)",
            registry.addr(),
            podcheck_node::images::catalog::MIRRORED_REGISTRIES.join(", ")
        );
    }
    println!("export KUBECONFIG={}", kubeconfig.display());
    println!("Press Ctrl-C to stop.");
}
