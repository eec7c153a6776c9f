//! The probes: what the target lets the observer read besides the watches, after the
//! create and once the pod's path ended. Which probes run is the recording's call (the
//! pod runs, containers were reported); these functions only read and report.

use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, ListParams};
use podcheck_core::load::CaseSpec;
use podcheck_core::observation::{ApiRead, InPodNetRead, Probe, parse_ip_addr};
use podcheck_core::recording::{Moment, Observed};

use super::exec::InPod;
use super::lookups::{DnsFacts, dns_probe};
use super::{Recorder, ms};
use crate::target::Target;

/// The pod as the case's namespace holds it: its store key, and the admin's API on it.
pub(super) struct PodAt<'a> {
    pub pods: &'a Api<Pod>,
    pub namespace: &'a str,
    pub name: &'a str,
    pub key: &'a str,
}

/// The store and a consistent API read, right after the create.
pub(super) async fn after_create(
    target: &Target,
    pod: &PodAt<'_>,
    t0: Instant,
    recorder: &Recorder,
) {
    let read = target.probes.store(pod.key, t0).await;
    recorder.apply(Observed::Store {
        moment: Moment::AfterCreate,
        read,
    });
    let read = api_read(pod.pods, pod.name, t0).await;
    recorder.apply(Observed::Api {
        moment: Moment::AfterCreate,
        read,
    });
}

/// What the recording says of the pod once its path ended: what the probes ask about.
struct Ended {
    runs: bool,
    node: String,
    ip: Option<String>,
    uid: String,
    containers: Vec<(String, String)>,
    images: Vec<String>,
    /// The nodes the case's pods were bound to.
    nodes: Vec<String>,
}

impl Ended {
    fn read(recorder: &Recorder) -> Ended {
        recorder.read(|r| {
            let last = r.last_pod();
            Ended {
                runs: r.runs(),
                node: last
                    .and_then(|p| p.spec.as_ref()?.node_name.clone())
                    .unwrap_or_default(),
                ip: last
                    .and_then(|p| p.status.as_ref()?.pod_ip.clone())
                    .filter(|ip| !ip.is_empty()),
                uid: last
                    .and_then(|p| p.metadata.uid.clone())
                    .unwrap_or_default(),
                containers: r.reported_containers(),
                images: r.reported_images(),
                nodes: r.bound_nodes(),
            }
        })
    }
}

/// Everything read once the path ended: the target's narrow probes (store, runtime,
/// registry, the sandbox's netns), what the pod shows from inside when it runs (its
/// interfaces, a second pod's reach, DNS), and the cluster around the pod — its nodes, the
/// pods on them or with its IP, the two Services DNS depends on — read by name and field
/// selector, never by listing the whole cluster.
pub(super) async fn after_path(
    target: &Target,
    case: &CaseSpec,
    pod: &PodAt<'_>,
    t0: Instant,
    recorder: &Recorder,
) {
    let ended = Ended::read(recorder);
    narrow_probes(target, pod, &ended, t0, recorder).await;
    let services = ClusterServices::read(&target.admin).await;
    if ended.runs {
        from_inside(target, case, pod, &ended, &services, t0, recorder).await;
    }
    let (nodes, pods) = around(
        &target.admin,
        pod.namespace,
        &ended.nodes,
        ended.ip.as_deref(),
    )
    .await;
    recorder.apply(Observed::Cluster {
        nodes,
        pods,
        kubernetes_service_ip: services.kubernetes.and_then(|s| s.spec?.cluster_ip),
        cluster_dns_ip: services.kube_dns.and_then(|s| s.spec?.cluster_ip),
    });
}

/// The target's own probes: the store and the API again once the pod runs, the runtime,
/// the registry, the sandbox's network namespace.
async fn narrow_probes(
    target: &Target,
    pod: &PodAt<'_>,
    ended: &Ended,
    t0: Instant,
    recorder: &Recorder,
) {
    if ended.runs {
        let read = target.probes.store(pod.key, t0).await;
        recorder.apply(Observed::Store {
            moment: Moment::AfterRunning,
            read,
        });
        let read = api_read(pod.pods, pod.name, t0).await;
        recorder.apply(Observed::Api {
            moment: Moment::AfterRunning,
            read,
        });
    }
    if !ended.containers.is_empty() {
        let read = target
            .probes
            .runtime(&ended.node, &ended.containers, t0)
            .await;
        recorder.apply(Observed::Runtime(read));
    }
    if !ended.images.is_empty() {
        let read = target.probes.registry(&ended.images, t0).await;
        recorder.apply(Observed::Registry(read));
    }
    if ended.runs {
        let read = target
            .probes
            .netns(&ended.node, &ended.uid, ended.ip.as_deref(), t0)
            .await;
        recorder.apply(Observed::Netns(read));
    }
}

/// What a running pod shows through the API: its interfaces, a second pod reaching it,
/// its DNS.
async fn from_inside(
    target: &Target,
    case: &CaseSpec,
    pod: &PodAt<'_>,
    ended: &Ended,
    services: &ClusterServices,
    t0: Instant,
    recorder: &Recorder,
) {
    let in_pod = InPod {
        pods: pod.pods,
        pod: pod.name,
        container: &first_container(case),
    };
    let read = in_pod_interfaces(&in_pod, t0).await;
    recorder.apply(Observed::InPodNet(read));
    if let Some(ip) = ended.ip.as_deref() {
        let read = target
            .peers
            .reach(&target.admin, &target.run_id, &ended.node, ip, t0)
            .await;
        recorder.apply(Observed::Peer(read));
    }
    let facts = DnsFacts {
        kubernetes: services.kubernetes.as_ref(),
        admin: &target.admin,
        namespace: pod.namespace,
    };
    let read = dns_probe(
        target,
        &in_pod,
        case,
        &facts,
        services.kube_dns.as_ref(),
        t0,
    )
    .await;
    recorder.apply(Observed::Dns(read));
}

/// The pod's interfaces, from inside: the API's own view of its network namespace.
async fn in_pod_interfaces(in_pod: &InPod<'_>, t0: Instant) -> Probe<InPodNetRead> {
    match in_pod
        .output(&["ip", "-o", "addr"], std::time::Duration::from_secs(10))
        .await
    {
        Ok(out) => Probe::Seen(InPodNetRead {
            addresses: parse_ip_addr(&out),
            at_ms: ms(t0),
        }),
        Err(why) => Probe::Unavailable(format!("`ip -o addr` in the pod: {why}")),
    }
}

/// The first container of the case's pod: where commands run.
fn first_container(case: &CaseSpec) -> String {
    case.pod
        .pointer("/spec/containers/0/name")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// The cluster around the case's pod, as the verdicts need it: the nodes its pods were
/// bound to; the pods of its namespace, of those nodes (for the oracle's resource fit) and
/// with its IP (for uniqueness).
async fn around(
    admin: &kube::Client,
    namespace: &str,
    nodes: &[String],
    ip: Option<&str>,
) -> (Vec<Node>, Vec<Pod>) {
    let node_api: Api<Node> = Api::all(admin.clone());
    let mut found = Vec::new();
    for name in nodes {
        if let Ok(Some(n)) = node_api.get_opt(name).await {
            found.push(n);
        }
    }
    let all: Api<Pod> = Api::all(admin.clone());
    let mut pods = list_paged(&Api::namespaced(admin.clone(), namespace), None).await;
    for name in nodes {
        pods.extend(list_paged(&all, Some(format!("spec.nodeName={name}"))).await);
    }
    if let Some(ip) = ip {
        pods.extend(list_paged(&all, Some(format!("status.podIP={ip}"))).await);
    }
    let mut seen = std::collections::HashSet::new();
    pods.retain(|p| seen.insert(p.metadata.uid.clone()));
    (found, pods)
}

/// The two Services a pod's DNS depends on.
struct ClusterServices {
    /// `default/kubernetes`.
    kubernetes: Option<Service>,
    /// The cluster DNS Service (`kube-system/kube-dns`, the name kubeadm, kind and most
    /// distributions give CoreDNS's Service).
    kube_dns: Option<Service>,
}

impl ClusterServices {
    async fn read(admin: &kube::Client) -> Self {
        let get = |ns: &str, name: &str| {
            let api: Api<Service> = Api::namespaced(admin.clone(), ns);
            let name = name.to_string();
            async move { api.get_opt(&name).await.ok().flatten() }
        };
        ClusterServices {
            kubernetes: get("default", "kubernetes").await,
            kube_dns: get("kube-system", "kube-dns").await,
        }
    }
}

/// Every object a selector names, 500 a page; what was read before an error otherwise
/// (the verdicts say what is missing).
async fn list_paged<K>(api: &Api<K>, fields: Option<String>) -> Vec<K>
where
    K: kube::Resource + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut params = ListParams::default().limit(500);
    if let Some(f) = &fields {
        params = params.fields(f);
    }
    let mut items = Vec::new();
    loop {
        let Ok(page) = api.list(&params).await else {
            return items;
        };
        items.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return items,
        }
    }
}

async fn api_read(pods: &Api<Pod>, name: &str, t0: Instant) -> ApiRead {
    match pods.get(name).await {
        Ok(p) => ApiRead {
            code: 200,
            pod: Some(p),
            at_ms: ms(t0),
        },
        Err(kube::Error::Api(s)) => ApiRead {
            code: s.code,
            pod: None,
            at_ms: ms(t0),
        },
        Err(_) => ApiRead {
            code: 0,
            pod: None,
            at_ms: ms(t0),
        },
    }
}
