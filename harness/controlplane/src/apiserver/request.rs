//! What a request asks for, read from its method and path as kube-apiserver's
//! `RequestInfoFactory` reads it.

use http::Method;

/// The Kubernetes verb of a resource request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// A request for a resource: `/api/v1/namespaces/NS/pods/NAME/status` and its kin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub verb: Verb,
}

/// Every path the apiserver answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiPath {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/GROUP`
    Group(String),
    /// `/api/v1`, `/apis/GROUP/VERSION`
    Resources {
        group: String,
        version: String,
    },
    Resource(ResourceRequest),
}

/// Why a path is not an API path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApiPath;

/// Parses an API path. `watch` is the `watch` query parameter.
pub fn parse(method: &Method, path: &str, watch: bool) -> Result<ApiPath, NotApiPath> {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api"] => return Ok(ApiPath::CoreVersions),
        ["apis"] => return Ok(ApiPath::Groups),
        ["apis", group] => return Ok(ApiPath::Group(group.to_string())),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(NotApiPath),
    };
    if rest.is_empty() {
        return Ok(ApiPath::Resources {
            group: group.into(),
            version: version.into(),
        });
    }
    // The deprecated `/api/v1/watch/...` form.
    let (rest, watch) = match rest {
        ["watch", rest @ ..] => (rest, true),
        rest => (rest, watch),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, resource, rest @ ..] if !matches!(*resource, "status" | "finalize") => (
            Some(ns.to_string()),
            std::iter::once(*resource)
                .chain(rest.iter().copied())
                .collect::<Vec<_>>(),
        ),
        rest => (None, rest.to_vec()),
    };
    let (resource, name, subresource) = match rest.as_slice() {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(name.to_string()), None),
        [resource, name, sub] => (*resource, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(NotApiPath),
    };
    // `/api/v1/namespaces/NS` names the namespace itself.
    let (namespace, name) = match (resource, namespace, name) {
        ("namespaces", None, Some(n)) => (Some(n.clone()), Some(n)),
        (_, ns, name) => (ns, name),
    };
    let verb = match *method {
        Method::GET | Method::HEAD if watch => Verb::Watch,
        Method::GET | Method::HEAD if name.is_some() => Verb::Get,
        Method::GET | Method::HEAD => Verb::List,
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE if name.is_some() => Verb::Delete,
        Method::DELETE => Verb::DeleteCollection,
        _ => return Err(NotApiPath),
    };
    Ok(ApiPath::Resource(ResourceRequest {
        group: group.into(),
        version: version.into(),
        namespace,
        resource: resource.into(),
        name,
        subresource,
        verb,
    }))
}

#[cfg(test)]
#[allow(clippy::too_many_arguments)] // rstest cases are wide tables
mod tests {
    use super::*;
    use rstest::rstest;

    fn req(method: Method, path: &str, watch: bool) -> ResourceRequest {
        match parse(&method, path, watch).unwrap() {
            ApiPath::Resource(r) => r,
            other => panic!("not a resource request: {other:?}"),
        }
    }

    #[rstest]
    #[case(
        Method::GET,
        "/api/v1/namespaces/ns/pods",
        false,
        Some("ns"),
        "pods",
        None,
        None,
        Verb::List
    )]
    #[case(
        Method::GET,
        "/api/v1/namespaces/ns/pods",
        true,
        Some("ns"),
        "pods",
        None,
        None,
        Verb::Watch
    )]
    #[case(
        Method::GET,
        "/api/v1/watch/namespaces/ns/pods",
        false,
        Some("ns"),
        "pods",
        None,
        None,
        Verb::Watch
    )]
    #[case(
        Method::GET,
        "/api/v1/pods",
        false,
        None,
        "pods",
        None,
        None,
        Verb::List
    )]
    #[case(
        Method::POST,
        "/api/v1/namespaces/ns/pods/p/binding",
        false,
        Some("ns"),
        "pods",
        Some("p"),
        Some("binding"),
        Verb::Create
    )]
    #[case(
        Method::PATCH,
        "/api/v1/namespaces/ns/pods/p/status",
        false,
        Some("ns"),
        "pods",
        Some("p"),
        Some("status"),
        Verb::Patch
    )]
    #[case(
        Method::GET,
        "/api/v1/namespaces/ns",
        false,
        Some("ns"),
        "namespaces",
        Some("ns"),
        None,
        Verb::Get
    )]
    #[case(
        Method::PUT,
        "/api/v1/namespaces/ns/status",
        false,
        Some("ns"),
        "namespaces",
        Some("ns"),
        Some("status"),
        Verb::Update
    )]
    #[case(
        Method::DELETE,
        "/api/v1/nodes/n1",
        false,
        None,
        "nodes",
        Some("n1"),
        None,
        Verb::Delete
    )]
    #[case(
        Method::PUT,
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
        false,
        Some("kube-node-lease"),
        "leases",
        Some("n1"),
        None,
        Verb::Update
    )]
    fn resource_paths(
        #[case] method: Method,
        #[case] path: &str,
        #[case] watch: bool,
        #[case] namespace: Option<&str>,
        #[case] resource: &str,
        #[case] name: Option<&str>,
        #[case] sub: Option<&str>,
        #[case] verb: Verb,
    ) {
        let r = req(method, path, watch);
        assert_eq!(r.namespace.as_deref(), namespace);
        assert_eq!(r.resource, resource);
        assert_eq!(r.name.as_deref(), name);
        assert_eq!(r.subresource.as_deref(), sub);
        assert_eq!(r.verb, verb);
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(
            parse(&Method::GET, "/api", false),
            Ok(ApiPath::CoreVersions)
        );
        assert_eq!(parse(&Method::GET, "/apis/", false), Ok(ApiPath::Groups));
        assert_eq!(
            parse(&Method::GET, "/apis/coordination.k8s.io/v1", false),
            Ok(ApiPath::Resources {
                group: "coordination.k8s.io".into(),
                version: "v1".into()
            })
        );
        assert_eq!(parse(&Method::GET, "/metrics", false), Err(NotApiPath));
    }
}
