//! The DNS server's view of the cluster: Services and EndpointSlices, kept current by
//! watches on the API, as CoreDNS's kubernetes plugin keeps its informers.
//!
//! A Service is a ClusterIP one (its `clusterIPs`), headless (`clusterIP: None`: its
//! endpoints are those of the EndpointSlices labelled `kubernetes.io/service-name` with its
//! name) or ExternalName. An endpoint is ready unless its `ready` condition is false, or
//! always when the Service publishes not-ready addresses (`publishNotReadyAddresses`, or
//! the older `service.alpha.kubernetes.io/tolerate-unready-endpoints: "true"`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::cluster_dns::{ClusterRecords, Endpoint, ServicePort, ServiceRecord};

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The annotation that predates `publishNotReadyAddresses`; the specification names it.
const TOLERATE_UNREADY: &str = "service.alpha.kubernetes.io/tolerate-unready-endpoints";
/// How long the first lists may take before start-up fails.
const SYNC_DEADLINE: Duration = Duration::from_secs(10);

/// A Service as DNS needs it, before its endpoints are joined in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    ClusterIp {
        ips: Vec<IpAddr>,
        ports: Vec<ServicePort>,
    },
    Headless {
        publish_not_ready: bool,
    },
    ExternalName(String),
}

/// An EndpointSlice's part: the Service it belongs to and its endpoints (ready as the
/// slice says).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slice {
    service: String,
    endpoints: Vec<Endpoint>,
}

#[derive(Default)]
struct Maps {
    /// (namespace, name) → Service.
    services: HashMap<(String, String), Kind>,
    /// (namespace, slice name) → slice.
    slices: HashMap<(String, String), Slice>,
}

/// Services and their endpoints, by namespace and name.
#[derive(Default)]
pub(crate) struct ServiceDirectory(RwLock<Maps>);

impl ClusterRecords for ServiceDirectory {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceRecord> {
        let maps = self.0.read().unwrap_or_else(|e| e.into_inner());
        let kind = maps
            .services
            .get(&(namespace.to_string(), name.to_string()))?;
        Some(record(&maps, namespace, name, kind))
    }

    fn visit_services(&self, visit: &mut dyn FnMut(&str, &str, &ServiceRecord)) {
        let maps = self.0.read().unwrap_or_else(|e| e.into_inner());
        for ((namespace, name), kind) in &maps.services {
            visit(namespace, name, &record(&maps, namespace, name, kind));
        }
    }
}

/// Joins a Service with the endpoints of its slices.
fn record(maps: &Maps, namespace: &str, name: &str, kind: &Kind) -> ServiceRecord {
    match kind {
        Kind::ClusterIp { ips, ports } => ServiceRecord::ClusterIp {
            ips: ips.clone(),
            ports: ports.clone(),
        },
        Kind::ExternalName(external_name) => ServiceRecord::ExternalName {
            external_name: external_name.clone(),
        },
        Kind::Headless { publish_not_ready } => {
            // Slices in a stable order, so answers do not shuffle between queries.
            let mut slices: Vec<(&String, &Slice)> = maps
                .slices
                .iter()
                .filter(|((ns, _), s)| ns == namespace && s.service == name)
                .map(|((_, slice_name), s)| (slice_name, s))
                .collect();
            slices.sort_by_key(|(n, _)| *n);
            let endpoints = slices
                .into_iter()
                .flat_map(|(_, s)| s.endpoints.iter().cloned())
                .map(|mut e| {
                    e.ready |= publish_not_ready;
                    e
                })
                .collect();
            ServiceRecord::Headless { endpoints }
        }
    }
}

impl ServiceDirectory {
    fn apply_service(&self, svc: &Service, present: bool) {
        let key = key(&svc.metadata);
        let mut maps = self.0.write().unwrap_or_else(|e| e.into_inner());
        match service_kind(svc).filter(|_| present) {
            Some(kind) => maps.services.insert(key, kind),
            None => maps.services.remove(&key),
        };
    }

    fn apply_slice(&self, slice: &EndpointSlice, present: bool) {
        let key = key(&slice.metadata);
        let mut maps = self.0.write().unwrap_or_else(|e| e.into_inner());
        match slice_of(slice).filter(|_| present) {
            Some(s) => maps.slices.insert(key, s),
            None => maps.slices.remove(&key),
        };
    }

    /// Lists Services and EndpointSlices through `client` until both are synced (so the
    /// first query already answers), then returns the task that follows their watches
    /// until `token` is cancelled.
    pub(crate) async fn follow(
        self: Arc<Self>,
        client: kube::Client,
        token: CancellationToken,
    ) -> Result<impl Future<Output = ()> + Send + 'static, Error> {
        enum Event {
            Service(Box<watcher::Event<Service>>),
            Slice(Box<watcher::Event<EndpointSlice>>),
        }
        let services = watcher(
            kube::Api::<Service>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .filter_map(|e| async move { e.ok().map(|e| Event::Service(Box::new(e))) });
        let slices = watcher(
            kube::Api::<EndpointSlice>::all(client),
            watcher::Config::default(),
        )
        .default_backoff()
        .filter_map(|e| async move { e.ok().map(|e| Event::Slice(Box::new(e))) });
        let mut events = stream::select(services.boxed(), slices.boxed());
        let directory = self;
        let mut relists = Relists::default();
        let mut apply = move |directory: &ServiceDirectory, event: Event| match event {
            Event::Service(e) => relists.service(directory, *e),
            Event::Slice(e) => relists.slice(directory, *e),
        };
        let synced = tokio::time::timeout(SYNC_DEADLINE, async {
            let mut done = 0;
            while let Some(event) = events.next().await {
                if apply(&directory, event) {
                    done += 1;
                    if done == 2 {
                        return true;
                    }
                }
            }
            false
        })
        .await;
        if synced != Ok(true) {
            return Err(Error::Bootstrap {
                what: "the DNS service directory".into(),
                message: "the Service and EndpointSlice watches did not sync".into(),
            });
        }
        Ok(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    event = events.next() => match event {
                        Some(event) => {
                            apply(&directory, event);
                        }
                        None => return,
                    },
                }
            }
        })
    }
}

/// What each type's current (re)list has shown: when a watch restarts, objects deleted
/// while it was down appear in no `InitApply`, and `InitDone` drops them.
#[derive(Default)]
struct Relists {
    services: HashSet<(String, String)>,
    slices: HashSet<(String, String)>,
}

impl Relists {
    /// Applies a Service event; true when it completed a (re)list.
    fn service(&mut self, directory: &ServiceDirectory, event: watcher::Event<Service>) -> bool {
        relist(
            &mut self.services,
            event,
            |s, present| directory.apply_service(s, present),
            |seen| {
                let mut maps = directory.0.write().unwrap_or_else(|e| e.into_inner());
                maps.services.retain(|k, _| seen.contains(k));
            },
        )
    }

    /// Applies an EndpointSlice event; true when it completed a (re)list.
    fn slice(
        &mut self,
        directory: &ServiceDirectory,
        event: watcher::Event<EndpointSlice>,
    ) -> bool {
        relist(
            &mut self.slices,
            event,
            |s, present| directory.apply_slice(s, present),
            |seen| {
                let mut maps = directory.0.write().unwrap_or_else(|e| e.into_inner());
                maps.slices.retain(|k, _| seen.contains(k));
            },
        )
    }
}

/// One watch event of a type: `apply` it (present or deleted), remembering what the current
/// (re)list showed in `seen`; at its end, `retain` only that. True when a (re)list ended.
fn relist<K: kube::Resource>(
    seen: &mut HashSet<(String, String)>,
    event: watcher::Event<K>,
    apply: impl Fn(&K, bool),
    retain: impl FnOnce(&HashSet<(String, String)>),
) -> bool {
    match event {
        watcher::Event::Init => seen.clear(),
        watcher::Event::InitApply(o) => {
            seen.insert(key(o.meta()));
            apply(&o, true);
        }
        watcher::Event::Apply(o) => apply(&o, true),
        watcher::Event::Delete(o) => apply(&o, false),
        watcher::Event::InitDone => {
            retain(seen);
            return true;
        }
    }
    false
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// What DNS serves for a Service; `None` for one without any record (no usable ClusterIP).
fn service_kind(svc: &Service) -> Option<Kind> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return spec
            .external_name
            .as_ref()
            .map(|n| Kind::ExternalName(n.clone()));
    }
    if spec.cluster_ip.as_deref() == Some("None") {
        let tolerate = svc
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(TOLERATE_UNREADY))
            .is_some_and(|v| v == "true");
        return Some(Kind::Headless {
            publish_not_ready: spec.publish_not_ready_addresses == Some(true) || tolerate,
        });
    }
    let mut unique: Vec<IpAddr> = Vec::new();
    let ips = spec
        .cluster_ips
        .iter()
        .flatten()
        .chain(spec.cluster_ip.iter());
    for ip in ips.filter_map(|ip| ip.parse::<IpAddr>().ok()) {
        if !unique.contains(&ip) {
            unique.push(ip);
        }
    }
    if unique.is_empty() {
        return None;
    }
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(ServicePort {
                name: p.name.clone().unwrap_or_default(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: u16::try_from(p.port).ok()?,
            })
        })
        .collect();
    Some(Kind::ClusterIp { ips: unique, ports })
}

/// An EndpointSlice's endpoints, if it names its Service.
fn slice_of(slice: &EndpointSlice) -> Option<Slice> {
    let service = slice
        .metadata
        .labels
        .as_ref()?
        .get(SERVICE_NAME_LABEL)?
        .clone();
    let ports: Vec<ServicePort> = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(ServicePort {
                name: p.name.clone().unwrap_or_default(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: u16::try_from(p.port?).ok()?,
            })
        })
        .collect();
    let endpoints = slice
        .endpoints
        .iter()
        .map(|e| Endpoint {
            addresses: e.addresses.iter().filter_map(|a| a.parse().ok()).collect(),
            hostname: e.hostname.clone(),
            // "A nil value should be interpreted as ready" (discovery/v1).
            ready: e.conditions.as_ref().and_then(|c| c.ready) != Some(false),
            ports: ports.clone(),
        })
        .collect();
    Some(Slice { service, endpoints })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn service(spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn slice(name: &str, endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints,
        }))
        .unwrap()
    }

    /// A watch that restarts relists: what was deleted meanwhile is in no InitApply, and
    /// must stop resolving once the relist is done.
    #[test]
    fn a_relist_drops_what_was_deleted_while_the_watch_was_down() {
        let d = ServiceDirectory::default();
        let mut relists = Relists::default();
        let web = service(json!({"clusterIP": "10.96.0.5", "ports": [{"port": 80}]}));
        let mut other = web.clone();
        other.metadata.name = Some("other".into());
        for e in [
            watcher::Event::Init,
            watcher::Event::InitApply(web.clone()),
            watcher::Event::InitApply(other.clone()),
        ] {
            assert!(!relists.service(&d, e));
        }
        assert!(relists.service(&d, watcher::Event::InitDone));
        assert!(d.service("ns", "other").is_some());
        // `other` was deleted while the watch was down: the relist shows only `web`.
        relists.service(&d, watcher::Event::Init);
        relists.service(&d, watcher::Event::InitApply(web));
        assert!(
            d.service("ns", "other").is_some(),
            "kept until the relist is done"
        );
        assert!(relists.service(&d, watcher::Event::InitDone));
        assert!(d.service("ns", "other").is_none());
        assert!(d.service("ns", "web").is_some());

        let s = slice("web-a", json!([{"addresses": ["10.244.0.9"]}]));
        relists.slice(&d, watcher::Event::Init);
        relists.slice(&d, watcher::Event::InitApply(s));
        relists.slice(&d, watcher::Event::InitDone);
        relists.slice(&d, watcher::Event::Init);
        relists.slice(&d, watcher::Event::InitDone);
        assert!(d.0.read().unwrap().slices.is_empty());
    }

    #[test]
    fn cluster_ip_services_keep_their_addresses_and_ports() {
        let d = ServiceDirectory::default();
        d.apply_service(
            &service(
                json!({"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5", "fd00::5"],
                "ports": [{"name": "http", "port": 80}]}),
            ),
            true,
        );
        assert_eq!(
            d.service("ns", "web"),
            Some(ServiceRecord::ClusterIp {
                ips: vec!["10.96.0.5".parse().unwrap(), "fd00::5".parse().unwrap()],
                ports: vec![ServicePort {
                    name: "http".into(),
                    protocol: "TCP".into(),
                    port: 80
                }],
            })
        );
        d.apply_service(&service(json!({})), false);
        assert_eq!(d.service("ns", "web"), None);
    }

    #[test]
    fn headless_services_join_their_slices() {
        let d = ServiceDirectory::default();
        d.apply_service(&service(json!({"clusterIP": "None"})), true);
        d.apply_slice(
            &slice(
                "web-b",
                json!([{"addresses": ["10.0.0.2"], "conditions": {"ready": false}}]),
            ),
            true,
        );
        d.apply_slice(
            &slice(
                "web-a",
                json!([{"addresses": ["10.0.0.1"], "hostname": "web-0"}]),
            ),
            true,
        );
        let Some(ServiceRecord::Headless { endpoints }) = d.service("ns", "web") else {
            panic!("headless expected");
        };
        let seen: Vec<(String, bool)> = endpoints
            .iter()
            .map(|e| (e.addresses[0].to_string(), e.ready))
            .collect();
        assert_eq!(
            seen,
            [("10.0.0.1".into(), true), ("10.0.0.2".into(), false)]
        );
        assert_eq!(endpoints[0].hostname.as_deref(), Some("web-0"));
        assert_eq!(endpoints[0].ports[0].port, 8080);

        // Publishing not-ready addresses makes every endpoint count.
        d.apply_service(
            &service(json!({"clusterIP": "None", "publishNotReadyAddresses": true})),
            true,
        );
        let Some(ServiceRecord::Headless { endpoints }) = d.service("ns", "web") else {
            panic!("headless expected");
        };
        assert!(endpoints.iter().all(|e| e.ready));

        d.apply_slice(&slice("web-a", json!([])), false);
        let Some(ServiceRecord::Headless { endpoints }) = d.service("ns", "web") else {
            panic!("headless expected");
        };
        assert_eq!(endpoints.len(), 1);
    }

    #[test]
    fn external_names_and_reverse_visits() {
        let d = ServiceDirectory::default();
        d.apply_service(
            &service(json!({"type": "ExternalName", "externalName": "www.example.com"})),
            true,
        );
        assert_eq!(
            d.service("ns", "web"),
            Some(ServiceRecord::ExternalName {
                external_name: "www.example.com".into()
            })
        );
        let mut seen = Vec::new();
        d.visit_services(&mut |ns, name, _| seen.push(format!("{ns}/{name}")));
        assert_eq!(seen, ["ns/web"]);
    }
}
