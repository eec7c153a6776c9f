//! The probes: what the target lets the observer read besides the watches, after the
//! create and once the pod's path ended. Which probes run is the recording's call (the
//! pod runs, containers were reported); these functions only read and report.

use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, ListParams};
use podcheck_core::load::CaseSpec;
use podcheck_core::observation::ApiRead;
use podcheck_core::recording::{Moment, Observed};

use super::lookups::dns_probe;
use super::{Recorder, ms};
use crate::target::Target;

/// The pod as the case's namespace holds it: its store key, and the admin's API on it.
pub(super) struct PodAt<'a> {
    pub pods: &'a Api<Pod>,
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

/// Everything read once the path ended: the store and the API again, the runtime, the
/// network namespace and DNS when the pod runs, and the cluster's nodes, pods and
/// Services.
pub(super) async fn after_path(
    target: &Target,
    case: &CaseSpec,
    pod: &PodAt<'_>,
    t0: Instant,
    recorder: &Recorder,
) {
    let (runs, last, containers, images) = recorder.read(|r| {
        (
            r.runs(),
            r.last_pod().cloned(),
            r.reported_containers(),
            r.reported_images(),
        )
    });
    if runs {
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
    let node = last
        .as_ref()
        .and_then(|p| p.spec.as_ref()?.node_name.clone())
        .unwrap_or_default();
    if !containers.is_empty() {
        let read = target.probes.runtime(&node, &containers, t0).await;
        recorder.apply(Observed::Runtime(read));
    }
    if !images.is_empty() {
        let read = target.probes.registry(&images, t0).await;
        recorder.apply(Observed::Registry(read));
    }
    if let Some(p) = last.as_ref().filter(|_| runs) {
        let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone());
        let uid = p.metadata.uid.clone().unwrap_or_default();
        let read = target.probes.netns(&node, &uid, ip.as_deref(), t0).await;
        recorder.apply(Observed::Netns(read));
    }
    let services = ClusterServices::list(&target.admin).await;
    if runs {
        let read = dns_probe(
            target,
            pod.pods,
            pod.name,
            case,
            services.kubernetes_ip.as_deref(),
            services.kube_dns.as_ref(),
            t0,
        )
        .await;
        recorder.apply(Observed::Dns(read));
    }
    let nodes = list_all::<Node>(&target.admin).await;
    let pods = list_all::<Pod>(&target.admin).await;
    recorder.apply(Observed::Cluster {
        nodes,
        pods,
        kubernetes_service_ip: services.kubernetes_ip,
        cluster_dns_ip: services.kube_dns.and_then(|s| s.spec?.cluster_ip),
    });
}

/// The two Services a pod's DNS depends on.
struct ClusterServices {
    /// The `kubernetes` Service's ClusterIP.
    kubernetes_ip: Option<String>,
    /// The cluster DNS Service (`kube-system/kube-dns`).
    kube_dns: Option<Service>,
}

impl ClusterServices {
    async fn list(admin: &kube::Client) -> Self {
        let services = list_all::<Service>(admin).await;
        let find = |ns: &str, name: &str| {
            services
                .iter()
                .find(|s| {
                    s.metadata.namespace.as_deref() == Some(ns)
                        && s.metadata.name.as_deref() == Some(name)
                })
                .cloned()
        };
        ClusterServices {
            kubernetes_ip: find("default", "kubernetes").and_then(|s| s.spec?.cluster_ip),
            kube_dns: find("kube-system", "kube-dns"),
        }
    }
}

/// Every object of a kind, or none when the list fails (the verdicts say what is missing).
async fn list_all<K>(admin: &kube::Client) -> Vec<K>
where
    K: kube::Resource + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    Api::<K>::all(admin.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
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
