//! `/metrics`: `apiserver_request_total` in Prometheus' text format, counted as
//! kube-apiserver counts it (staging/src/k8s.io/apiserver/pkg/endpoints/metrics/metrics.go):
//! one count per resource request that passed authentication and authorization, labelled
//! `verb` (GET vs LIST vs WATCH, POST, PUT, PATCH or APPLY, DELETE, CONNECT for exec and log),
//! `dry_run`, `group`, `version`, `resource`, `subresource`, `scope` (resource, namespace,
//! cluster), `component` and `code`. One difference: a watch is counted when it opens, with
//! the 200 it opens with (kube-apiserver counts it when it ends), so that a harness sees its
//! watches while they run.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::request::{ResourceRequest, Verb};

/// `apiserver_request_total`'s help, as kube-apiserver registers it (a STABLE metric).
const HELP: &str = "[STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.";
/// The component label of everything this apiserver serves itself.
const COMPONENT: &str = "apiserver";
/// Subresources kube-apiserver counts as CONNECT (`validConnectRequests`).
const CONNECT_SUBRESOURCES: [&str; 5] = ["log", "exec", "portforward", "attach", "proxy"];
/// The patch type that is a server-side apply.
const APPLY_CONTENT_TYPE: &str = "application/apply-patch+yaml";

/// The labels of one count, in the order Prometheus prints them (sorted by name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestLabels {
    pub code: u16,
    pub dry_run: String,
    pub group: String,
    pub resource: String,
    pub scope: &'static str,
    pub subresource: String,
    pub verb: &'static str,
    pub version: String,
}

/// What of a request besides its path the labels depend on.
#[derive(Debug, Clone, Default)]
pub struct RequestDetails<'a> {
    pub content_type: &'a str,
    /// The `dryRun` query values.
    pub dry_run: Vec<&'a str>,
    /// An exact `metadata.name=` / `metadata.namespace=` of a list's field selector.
    pub selected_name: Option<&'a str>,
    pub selected_namespace: Option<&'a str>,
}

impl RequestLabels {
    /// The labels kube-apiserver gives `req`, answered with `code`.
    pub fn of(req: &ResourceRequest, details: &RequestDetails<'_>, code: u16) -> Self {
        let listing = matches!(req.verb, Verb::List | Verb::Watch);
        // CleanScope / CleanListScope: a name (or a create) is a resource's scope.
        let name = req
            .name
            .as_deref()
            .or(details.selected_name.filter(|_| listing));
        let namespace = req
            .namespace
            .as_deref()
            .or(details.selected_namespace.filter(|_| listing));
        let scope = if name.is_some() || req.verb == Verb::Create {
            "resource"
        } else if namespace.is_some() {
            "namespace"
        } else {
            "cluster"
        };
        let connect = req
            .subresource
            .as_deref()
            .is_some_and(|s| CONNECT_SUBRESOURCES.contains(&s));
        let verb = match req.verb {
            _ if connect => "CONNECT",
            Verb::Get => "GET",
            Verb::List => "LIST",
            Verb::Watch => "WATCH",
            Verb::Create => "POST",
            Verb::Update => "PUT",
            Verb::Patch if details.content_type.starts_with(APPLY_CONTENT_TYPE) => "APPLY",
            Verb::Patch => "PATCH",
            Verb::Delete | Verb::DeleteCollection => "DELETE",
        };
        let mut dry_run: Vec<&str> = details.dry_run.clone();
        dry_run.sort_unstable();
        dry_run.dedup();
        RequestLabels {
            code,
            dry_run: dry_run.join(","),
            group: req.group.clone(),
            resource: req.resource.clone(),
            scope,
            subresource: req.subresource.clone().unwrap_or_default(),
            verb,
            version: req.version.clone(),
        }
    }
}

/// The counts so far.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestLabels, u64>>,
}

impl Metrics {
    pub fn count(&self, labels: RequestLabels) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(labels)
            .or_default() += 1;
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let counts = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        render(&counts)
    }
}

/// Prometheus' text format of `apiserver_request_total`.
fn render(counts: &BTreeMap<RequestLabels, u64>) -> String {
    let mut out =
        format!("# HELP apiserver_request_total {HELP}\n# TYPE apiserver_request_total counter\n");
    for (l, n) in counts {
        out.push_str(&format!(
            "apiserver_request_total{{code=\"{}\",component=\"{COMPONENT}\",dry_run=\"{}\",group=\"{}\",resource=\"{}\",scope=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{}\"}} {n}\n",
            l.code,
            escape(&l.dry_run),
            escape(&l.group),
            escape(&l.resource),
            l.scope,
            escape(&l.subresource),
            l.verb,
            escape(&l.version),
        ));
    }
    out
}

/// A label value as the text format writes it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::request::{ApiPath, parse};
    use http::Method;
    use rstest::rstest;

    fn labels(
        method: Method,
        path: &str,
        watch: bool,
        details: RequestDetails<'_>,
    ) -> RequestLabels {
        match parse(&method, path, watch).unwrap() {
            ApiPath::Resource(r) => RequestLabels::of(&r, &details, 200),
            other => panic!("{other:?}"),
        }
    }

    #[rstest]
    #[case(
        Method::GET,
        "/api/v1/namespaces/ns/pods/p",
        false,
        "GET",
        "resource",
        ""
    )]
    #[case(
        Method::GET,
        "/api/v1/namespaces/ns/pods",
        false,
        "LIST",
        "namespace",
        ""
    )]
    #[case(Method::GET, "/api/v1/pods", false, "LIST", "cluster", "")]
    #[case(
        Method::GET,
        "/api/v1/namespaces/ns/pods",
        true,
        "WATCH",
        "namespace",
        ""
    )]
    #[case(Method::GET, "/api/v1/watch/nodes", false, "WATCH", "cluster", "")]
    #[case(
        Method::POST,
        "/api/v1/namespaces/ns/pods",
        false,
        "POST",
        "resource",
        ""
    )]
    #[case(
        Method::POST,
        "/api/v1/namespaces/ns/pods/p/binding",
        false,
        "POST",
        "resource",
        "binding"
    )]
    #[case(
        Method::PUT,
        "/api/v1/nodes/n/status",
        false,
        "PUT",
        "resource",
        "status"
    )]
    #[case(
        Method::PATCH,
        "/api/v1/namespaces/ns/pods/p/status",
        false,
        "PATCH",
        "resource",
        "status"
    )]
    #[case(
        Method::DELETE,
        "/api/v1/namespaces/ns/pods/p",
        false,
        "DELETE",
        "resource",
        ""
    )]
    #[case(
        Method::GET,
        "/api/v1/namespaces/ns/pods/p/log",
        false,
        "CONNECT",
        "resource",
        "log"
    )]
    #[case(
        Method::GET,
        "/api/v1/namespaces/ns/pods/p/exec",
        false,
        "CONNECT",
        "resource",
        "exec"
    )]
    fn verbs_and_scopes_as_kube_apiserver_labels_them(
        #[case] method: Method,
        #[case] path: &str,
        #[case] watch: bool,
        #[case] verb: &str,
        #[case] scope: &str,
        #[case] subresource: &str,
    ) {
        let l = labels(method, path, watch, RequestDetails::default());
        assert_eq!(
            (l.verb, l.scope, l.subresource.as_str()),
            (verb, scope, subresource)
        );
    }

    #[test]
    fn a_list_of_one_name_is_a_resources_scope_and_apply_is_its_own_verb() {
        let one = RequestDetails {
            selected_name: Some("p"),
            ..RequestDetails::default()
        };
        assert_eq!(
            labels(Method::GET, "/api/v1/namespaces/ns/pods", true, one).scope,
            "resource"
        );
        let in_ns = RequestDetails {
            selected_namespace: Some("ns"),
            ..RequestDetails::default()
        };
        assert_eq!(
            labels(Method::GET, "/api/v1/pods", false, in_ns).scope,
            "namespace"
        );
        let apply = RequestDetails {
            content_type: "application/apply-patch+yaml",
            dry_run: vec!["All", "All"],
            ..RequestDetails::default()
        };
        let l = labels(
            Method::PATCH,
            "/apis/events.k8s.io/v1/namespaces/ns/events/e",
            false,
            apply,
        );
        assert_eq!((l.verb, l.dry_run.as_str()), ("APPLY", "All"));
        assert_eq!(
            (l.group.as_str(), l.version.as_str()),
            ("events.k8s.io", "v1")
        );
    }

    #[test]
    fn the_text_format_counts_each_label_set() {
        let metrics = Metrics::default();
        let get = labels(
            Method::GET,
            "/api/v1/namespaces/ns/pods/p",
            false,
            RequestDetails::default(),
        );
        metrics.count(get.clone());
        metrics.count(get);
        metrics.count(RequestLabels {
            code: 404,
            ..labels(
                Method::GET,
                "/api/v1/nodes/x",
                false,
                RequestDetails::default(),
            )
        });
        let text = metrics.render();
        assert!(
            text.starts_with(
                "# HELP apiserver_request_total [STABLE] Counter of apiserver requests"
            )
        );
        assert!(text.contains("# TYPE apiserver_request_total counter\n"));
        assert!(text.contains(
            "apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"resource\",subresource=\"\",verb=\"GET\",version=\"v1\"} 2\n"
        ), "{text}");
        assert!(text.contains(
            "code=\"404\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"nodes\""
        ));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
