//! The HTTP face of the apiserver: routing, authentication, content negotiation.

use super::rbac::Attributes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::metrics::{Metrics, RequestDetails, RequestLabels};
use super::registry::{DeleteOptions, ListOptions, PatchType, Registry};
use super::request::{self, ApiPath, ResourceRequest, Verb};
use super::resources::{self, Resource, Served};
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, success};
use super::table::{self, IncludeObject};
use super::watch::{self, WatchOptions};
use crate::identity::{Identity, TokenAuthenticator};

/// Kubernetes' default request body limit.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// What every handler shares.
pub struct ApiState {
    pub registry: Arc<Registry>,
    pub authn: TokenAuthenticator,
    /// `127.0.0.1:PORT`, for discovery's serverAddressByClientCIDRs.
    pub server_address: String,
    pub shutdown: CancellationToken,
    /// Whether requests without credentials are served as `system:anonymous`.
    pub anonymous: bool,
    /// The runtimes of the nodes, for `pods/exec`.
    pub runtimes: super::exec::NodeRuntimes,
    /// RBAC: who may do what.
    pub authorizer: Arc<super::rbac::Authorizer>,
    /// The identities that have listed or watched pods: how a harness knows that a
    /// scheduler it started is running.
    pub pod_readers: tokio::sync::watch::Sender<Vec<Identity>>,
    /// `apiserver_request_total`, served at `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// The apiserver's routes, testable without a socket.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .fallback(serve)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// Paths served without credentials, like kube-apiserver's anonymous-allowed endpoints.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/livez" | "/version")
}

async fn authenticate(
    State(state): State<Arc<ApiState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let identity = bearer(req.headers())
        .and_then(|t| state.authn.authenticate(t))
        .or_else(|| {
            // Without a token, a client certificate (already verified against the CA).
            bearer(req.headers()).is_none().then(|| {
                req.extensions()
                    .get::<super::CertificateUser>()
                    .map(|u| u.0.clone())
            })?
        });
    let identity = match identity {
        Some(id) => id,
        // A wrong token is 401 even where anonymous access is on, as in Kubernetes.
        None if bearer(req.headers()).is_some() => return ApiError::unauthorized().into_response(),
        None if state.anonymous || is_public(req.uri().path()) => Identity::anonymous(),
        None => return ApiError::unauthorized().into_response(),
    };
    let identity = match impersonate(&identity, req.headers()) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(identity);
    next.run(req).await
}

/// `Impersonate-User` and `Impersonate-Group`: act as another user. Only members of
/// `system:masters` may, until RBAC grants the `impersonate` verb.
/// The NodeRestriction admission plugin's rule for pod creates: a node (`system:node:NAME`
/// in `system:nodes`) may create only mirror pods bound to itself; RBAC's `system:node`
/// role lets it create pods at all. In kube-apiserver's words.
pub(crate) fn node_restriction(identity: &Identity, pod: &Value) -> Result<(), String> {
    let Some(node) = identity.user.strip_prefix("system:node:") else {
        return Ok(());
    };
    if !identity.groups.iter().any(|g| g == "system:nodes") {
        return Ok(());
    }
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let forbidden = |why: String| Err(format!("pods \"{name}\" is forbidden: {why}"));
    let mirror = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(podcheck_node::static_pod::MIRROR_ANNOTATION));
    if !mirror {
        return forbidden(format!(
            "pod does not have \"{}\" annotation, node \"{node}\" can only create mirror pods",
            podcheck_node::static_pod::MIRROR_ANNOTATION
        ));
    }
    if pod.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
        return forbidden(format!(
            "node \"{node}\" can only create pods with spec.nodeName set to itself"
        ));
    }
    Ok(())
}

fn impersonate(identity: &Identity, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let Some(user) = headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(identity.clone());
    };
    if !identity.groups.iter().any(|g| g == "system:masters") {
        return Err(ApiError::forbidden(format!(
            "users \"{user}\" is forbidden: User \"{}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope",
            identity.user
        )));
    }
    let mut groups: Vec<String> = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    Ok(Identity {
        user: user.to_string(),
        groups,
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

struct Query(HashMap<String, String>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }

    /// Every value of a repeated parameter (`dryRun=All`), from the raw query.
    fn all(&self, k: &str) -> Vec<&str> {
        self.0.get(k).map(String::as_str).into_iter().collect()
    }

    /// The value an exact `FIELD=VALUE` requirement of the field selector asks for.
    fn selected(&self, field: &str) -> Option<&str> {
        self.get("fieldSelector")?
            .split(',')
            .filter_map(|r| r.split_once('='))
            .find(|(f, v)| *f == field && !v.starts_with('='))
            .map(|(_, v)| v)
    }

    fn list_options(&self) -> Result<ListOptions, ApiError> {
        let bad = |e: super::selector::SelectorError| ApiError::bad_request(e.to_string());
        Ok(ListOptions {
            labels: LabelSelector::parse(self.get("labelSelector").unwrap_or("")).map_err(bad)?,
            fields: FieldSelector::parse(self.get("fieldSelector").unwrap_or("")).map_err(bad)?,
            limit: self.get("limit").and_then(|l| l.parse().ok()),
            continue_token: self
                .get("continue")
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            resource_version: self.get("resourceVersion").map(str::to_string),
            resource_version_match: self.get("resourceVersionMatch").map(str::to_string),
        })
    }
}

async fn serve(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    let identity = req
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or_else(Identity::anonymous);
    let path = req.uri().path().to_string();
    let pod_sub = |sub: &str, verb: &str| {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        Attributes {
            verb: verb.into(),
            api_group: String::new(),
            resource: "pods".into(),
            subresource: Some(sub.into()),
            namespace: parts.get(3).map(|s| s.to_string()),
            name: parts.get(5).map(|s| s.to_string()),
        }
    };
    // exec and log are answered apart from the other resource requests, and counted here.
    let connected = match request::parse(req.method(), &path, false) {
        Ok(ApiPath::Resource(r)) => Some(r),
        _ => None,
    };
    if super::exec::is_exec(&path) {
        // Since Kubernetes 1.30, a WebSocket exec needs `create` on pods/exec, as SPDY did.
        let a = pod_sub("exec", "create");
        if let Err(e) = state.authorizer.check(&state.registry, &identity, &a).await {
            return e.into_response();
        }
        let response = super::exec::handle(state.clone(), req).await;
        count(&state, connected.as_ref(), &response);
        return response;
    }
    if req.method() == Method::GET && super::logs::is_log(&path) {
        let a = pod_sub("log", "get");
        if let Err(e) = state.authorizer.check(&state.registry, &identity, &a).await {
            return e.into_response();
        }
        let response = super::logs::handle(state.clone(), req).await;
        count(&state, connected.as_ref(), &response);
        return response;
    }
    let (parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    let path = parts.uri.path();
    let api = ["/api", "/apis"].contains(&path)
        || path.starts_with("/api/")
        || path.starts_with("/apis/");
    // Non-resource paths are authorized by nonResourceURLs, discovery's below.
    if parts.method == Method::GET
        && !api
        && let Err(e) = state
            .authorizer
            .check_path(&state.registry, &identity, "get", path)
            .await
    {
        return e.into_response();
    }
    match (parts.method.clone(), path) {
        (Method::GET, "/healthz" | "/readyz" | "/livez") => {
            return (StatusCode::OK, "ok").into_response();
        }
        (Method::GET, "/version") => return json_response(StatusCode::OK, &version()),
        (Method::GET, "/metrics") => {
            return (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                state.metrics.render(),
            )
                .into_response();
        }
        (Method::GET, "/openapi/v2") => {
            // An empty document: kubectl then applies without client-side validation.
            return (
                [(header::CONTENT_TYPE, "application/octet-stream")],
                Bytes::new(),
            )
                .into_response();
        }
        _ => {}
    }
    let api_path = match request::parse(&parts.method, path, query.flag("watch")) {
        Ok(p) => p,
        Err(_) => return ApiError::no_route().into_response(),
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return ApiError::too_large().into_response(),
    };
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !matches!(api_path, ApiPath::Resource(_))
        && let Err(e) = state
            .authorizer
            .check_path(&state.registry, &identity, "get", path)
            .await
    {
        return e.into_response();
    }
    match api_path {
        ApiPath::CoreVersions => json_response(
            StatusCode::OK,
            &resources::core_versions(&state.server_address),
        ),
        ApiPath::Groups => json_response(StatusCode::OK, &resources::group_list()),
        ApiPath::Group(g) => match resources::group(&g) {
            Some(doc) => json_response(StatusCode::OK, &doc),
            None => ApiError::no_route().into_response(),
        },
        ApiPath::Resources { group, version } => {
            if group.is_empty() && version != "v1"
                || !group.is_empty() && !resources::group_exists(&group, &version)
            {
                return ApiError::no_route().into_response();
            }
            json_response(StatusCode::OK, &resources::resource_list(&group, &version))
        }
        ApiPath::Resource(req) => {
            let ctx = Ctx {
                state: &state,
                identity: &identity,
                query: &query,
                accept: &accept,
                content_type: &content_type,
            };
            match handle(ctx, req, body).await {
                Ok(resp) => resp,
                Err(e) => e.into_response(),
            }
        }
    }
}

struct Ctx<'a> {
    state: &'a Arc<ApiState>,
    identity: &'a Identity,
    query: &'a Query,
    accept: &'a str,
    content_type: &'a str,
}

async fn handle(ctx: Ctx<'_>, req: ResourceRequest, body: Bytes) -> Result<Response, ApiError> {
    let r = resources::lookup(&req.group, &req.version, &req.resource)
        .ok_or_else(ApiError::no_route)?;
    let registry = &ctx.state.registry;
    let ns = req.namespace.as_deref();
    if r.namespaced && req.name.is_some() && ns.is_none() {
        return Err(ApiError::no_route());
    }
    if let Some(sub) = req.subresource.as_deref() {
        let served = r
            .subresource(sub)
            .is_some_and(|s| s.verbs.contains(&req.verb.as_str()));
        if !served {
            return Err(if r.subresource(sub).is_some() {
                ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                )
            } else {
                ApiError::no_route()
            });
        }
    } else if !r.verbs().contains(&req.verb.as_str()) {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let attributes = Attributes {
        verb: req.verb.as_str().into(),
        api_group: req.group.clone(),
        resource: req.resource.clone(),
        subresource: req.subresource.clone(),
        namespace: req.namespace.clone(),
        name: req.name.clone(),
    };
    ctx.state
        .authorizer
        .check(registry, ctx.identity, &attributes)
        .await?;
    let result = serve_authorized(&ctx, r, &req, body).await;
    let details = RequestDetails {
        content_type: ctx.content_type,
        dry_run: ctx.query.all("dryRun"),
        selected_name: ctx.query.selected("metadata.name"),
        selected_namespace: ctx.query.selected("metadata.namespace"),
    };
    let code = match &result {
        Ok(response) => response.status().as_u16(),
        Err(e) => e.code,
    };
    ctx.state
        .metrics
        .count(RequestLabels::of(&req, &details, code));
    result
}

/// A request that passed authorization.
async fn serve_authorized(
    ctx: &Ctx<'_>,
    r: &'static Resource,
    req: &ResourceRequest,
    body: Bytes,
) -> Result<Response, ApiError> {
    if r.plural == "pods"
        && req.subresource.is_none()
        && matches!(req.verb, Verb::List | Verb::Watch)
    {
        ctx.state.pod_readers.send_if_modified(|readers| {
            let new = !readers.contains(ctx.identity);
            if new {
                readers.push(ctx.identity.clone());
            }
            new
        });
    }
    if let Served::AccessReview { own } = r.strategy.served_as() {
        let review = access_review(ctx, own, parse_body(&body)?).await?;
        return Ok(json_response(StatusCode::CREATED, &review));
    }
    let writes = !matches!(req.verb, Verb::Get | Verb::List | Verb::Watch);
    let result = serve_resource(ctx, r, req, body).await;
    if writes && r.strategy.changes_authorization() {
        match ctx.state.registry.store.revision().await {
            Ok(revision) => ctx.state.authorizer.changed(revision),
            Err(e) => tracing::warn!(error = %e, "the store's revision after an RBAC write"),
        }
    }
    result
}

/// Counts a request that was served (exec and log answer outside `handle`).
fn count(state: &ApiState, req: Option<&ResourceRequest>, response: &Response) {
    if let Some(req) = req {
        state.metrics.count(RequestLabels::of(
            req,
            &RequestDetails::default(),
            response.status().as_u16(),
        ));
    }
}

/// SelfSubjectAccessReview (`own`: about the requester) and SubjectAccessReview: the
/// authorizer's answer for a subject.
async fn access_review(ctx: &Ctx<'_>, own: bool, mut review: Value) -> Result<Value, ApiError> {
    let spec = review.get("spec").cloned().unwrap_or_default();
    let subject = if own {
        ctx.identity.clone()
    } else {
        let user = spec.get("user").and_then(Value::as_str).unwrap_or_default();
        let groups = spec
            .get("groups")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if user.is_empty() {
            return Err(ApiError::bad_request(
                "spec.user or spec.groups must be set in a SubjectAccessReview",
            ));
        }
        Identity {
            user: user.into(),
            groups,
        }
    };
    let (allowed, reason) = match spec.get("resourceAttributes") {
        Some(ra) => {
            let field = |k: &str| {
                ra.get(k)
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            };
            let a = Attributes {
                verb: field("verb").unwrap_or_default(),
                api_group: field("group").unwrap_or_default(),
                resource: field("resource").unwrap_or_default(),
                subresource: field("subresource"),
                namespace: field("namespace"),
                name: field("name"),
            };
            let policy = ctx.state.authorizer.policy(&ctx.state.registry).await?;
            match policy.authorize(&subject, &a) {
                super::rbac::Decision::Allow(why) => (true, why),
                super::rbac::Decision::Deny(why) => (false, why),
            }
        }
        // Non-resource paths (discovery, /version, /metrics): the ClusterRoles'
        // nonResourceURLs, as kube-apiserver's system:discovery, system:public-info-viewer
        // and system:monitoring give them.
        None => {
            let attrs = spec.get("nonResourceAttributes");
            let field = |k: &str| {
                attrs
                    .and_then(|a| a.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let policy = ctx.state.authorizer.policy(&ctx.state.registry).await?;
            match policy.authorize_path(&subject, &field("verb"), &field("path")) {
                super::rbac::Decision::Allow(why) => (true, why),
                super::rbac::Decision::Deny(why) => (false, why),
            }
        }
    };
    let mut status = json!({"allowed": allowed});
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    review["status"] = status;
    review["metadata"] = json!({"creationTimestamp": null});
    Ok(review)
}

/// TokenRequest (`serviceaccounts/NAME/token`): a bearer token for the ServiceAccount, valid
/// for `spec.expirationSeconds` (default one hour), as `kubectl create token` gets one.
async fn token_request(
    ctx: &Ctx<'_>,
    ns: &str,
    name: &str,
    mut request: Value,
) -> Result<Value, ApiError> {
    let sa = resources::lookup("", "v1", "serviceaccounts").expect("served");
    ctx.state.registry.get(sa, Some(ns), name).await?;
    let seconds = request
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    if seconds < 600 {
        return Err(ApiError::invalid(
            sa,
            name,
            vec![super::status::cause(
                "FieldValueInvalid",
                "spec.expirationSeconds",
                format!(
                    "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
            )],
        ));
    }
    let token = crate::identity::new_token();
    ctx.state.authn.insert_expiring(
        token.clone(),
        Identity::service_account(ns, name),
        std::time::Instant::now() + Duration::from_secs(seconds as u64),
    );
    let expires =
        k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(seconds);
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["kind"] = json!("TokenRequest");
    request["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": null});
    request["spec"]["expirationSeconds"] = json!(seconds);
    request["status"] = json!({"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()});
    Ok(request)
}

async fn serve_resource(
    ctx: &Ctx<'_>,
    r: &'static resources::Resource,
    req: &ResourceRequest,
    body: Bytes,
) -> Result<Response, ApiError> {
    let registry = &ctx.state.registry;
    let ns = req.namespace.as_deref();
    let name = req.name.as_deref().unwrap_or("");
    let table = table::wants_table(ctx.accept)
        .then(|| IncludeObject::parse(ctx.query.get("includeObject")));
    match (req.verb, req.subresource.as_deref()) {
        (Verb::Get, _) => {
            let obj = registry.get(r, ns, name).await?;
            Ok(render(r, obj, table, false))
        }
        (Verb::List, _) => {
            let list = registry.list(r, ns, &ctx.query.list_options()?).await?;
            Ok(render(r, list, table, true))
        }
        (Verb::Watch, _) => {
            let mut list = ctx.query.list_options()?;
            if let Some(n) = req.name.as_deref() {
                list.fields =
                    FieldSelector::parse(&format!("metadata.name={n}")).expect("a valid selector");
            }
            let opts = WatchOptions {
                list,
                timeout: ctx
                    .query
                    .get("timeoutSeconds")
                    .and_then(|t| t.parse().ok())
                    .map(Duration::from_secs),
                bookmarks: ctx.query.flag("allowWatchBookmarks"),
                send_initial_events: ctx.query.flag("sendInitialEvents"),
                table,
            };
            let rx = watch::start(
                registry.clone(),
                r,
                req.namespace.clone(),
                opts,
                ctx.state.shutdown.clone(),
            )
            .await?;
            let body =
                Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>));
            Ok(Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::TRANSFER_ENCODING, "chunked")
                .body(body)
                .expect("a valid response"))
        }
        (Verb::Create, Some("binding")) => {
            registry
                .bind(ns.unwrap_or_default(), name, &parse_body(&body)?)
                .await?;
            Ok(json_response(StatusCode::CREATED, &success(201)))
        }
        (Verb::Create, Some("token")) => {
            let review =
                token_request(ctx, ns.unwrap_or_default(), name, parse_body(&body)?).await?;
            Ok(json_response(StatusCode::CREATED, &review))
        }
        (Verb::Create, None) if r.strategy.served_as() == Served::Binding => {
            let binding = parse_body(&body)?;
            let pod = super::object::name(&binding)
                .ok_or_else(|| ApiError::bad_request("a binding needs metadata.name"))?
                .to_string();
            registry
                .bind(ns.unwrap_or_default(), &pod, &binding)
                .await?;
            Ok(json_response(StatusCode::CREATED, &success(201)))
        }
        (Verb::Create, _) => {
            let body = parse_body(&body)?;
            if r.group.is_empty() && r.plural == "pods" {
                node_restriction(ctx.identity, &body).map_err(ApiError::forbidden)?;
            }
            let obj = registry.create(r, ns, body).await?;
            Ok(json_response(StatusCode::CREATED, &obj))
        }
        (Verb::Update, sub) => {
            let obj = registry
                .update(r, ns, name, sub, parse_body(&body)?)
                .await?;
            Ok(json_response(StatusCode::OK, &obj))
        }
        (Verb::Patch, sub) => {
            let kind = PatchType::from_content_type(ctx.content_type)?;
            let obj = registry
                .patch(r, ns, name, sub, kind, parse_body(&body)?)
                .await?;
            Ok(json_response(StatusCode::OK, &obj))
        }
        (Verb::Delete, _) => {
            let mut opts = if body.is_empty() {
                DeleteOptions::default()
            } else {
                DeleteOptions::from_body(&parse_body(&body)?)
            };
            if let Some(g) = ctx
                .query
                .get("gracePeriodSeconds")
                .and_then(|g| g.parse().ok())
            {
                opts.grace_period_seconds = Some(g);
            }
            let obj = registry.delete(r, ns, name, &opts).await?;
            if r.strategy.terminates() {
                spawn_namespace_finalizer(ctx.state, name);
            }
            Ok(json_response(StatusCode::OK, &obj))
        }
        (Verb::DeleteCollection, _) => Err(ApiError::method_not_allowed(
            "deletecollection is not served by the embedded apiserver",
        )),
    }
}

/// Empties a terminating namespace in the background, as the namespace controller does.
pub fn spawn_namespace_finalizer(state: &Arc<ApiState>, ns: &str) {
    let registry = state.registry.clone();
    let shutdown = state.shutdown.clone();
    let ns = ns.to_string();
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        tokio::select! {
            _ = shutdown.cancelled() => {}
            result = registry.finalize_namespace(&ns, deadline) => {
                if let Err(e) = result {
                    tracing::warn!(namespace = %ns, error = %e.message, "namespace finalization stopped");
                }
            }
        }
    });
}

/// Reads a JSON body (clients such as the Python one send it without a Content-Type), or
/// a protobuf one of the kinds kubectl's typed clients send.
fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.starts_with(super::protobuf::MAGIC) {
        return super::protobuf::decode(body);
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })
}

fn render(r: &Resource, obj: Value, table: Option<IncludeObject>, list: bool) -> Response {
    let Some(include) = table else {
        return json_response(StatusCode::OK, &obj);
    };
    let continue_token = obj.pointer("/metadata/continue").cloned();
    let (items, rv) = if list {
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        (
            obj.get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            rv,
        )
    } else {
        let rv = super::object::resource_version(&obj)
            .unwrap_or("")
            .to_string();
        (vec![obj], rv)
    };
    let mut t = table::table(r, &items, include, &rv, k8s_openapi::jiff::Timestamp::now());
    if let Some(c) = continue_token {
        t["metadata"]["continue"] = c;
    }
    json_response(StatusCode::OK, &t)
}

fn json_response(code: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// `/version`: a v1.33 server, so the machine's kubectl dispatcher picks kubectl 1.33.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.0-podcheck",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-27T00:00:00Z",
        "goVersion": format!("rust{}", env!("CARGO_PKG_RUST_VERSION")),
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_creates_only_mirror_pods_bound_to_itself() {
        let node = Identity {
            user: "system:node:node-1".into(),
            groups: vec!["system:nodes".into(), "system:authenticated".into()],
        };
        let pod = |annotated: bool, node_name: &str| {
            let annotations = if annotated {
                json!({"kubernetes.io/config.mirror": "abc"})
            } else {
                json!({})
            };
            json!({"metadata": {"name": "etcd-node-1", "annotations": annotations},
                   "spec": {"nodeName": node_name}})
        };
        assert_eq!(node_restriction(&node, &pod(true, "node-1")), Ok(()));
        let err = node_restriction(&node, &pod(false, "node-1")).unwrap_err();
        assert_eq!(
            err,
            "pods \"etcd-node-1\" is forbidden: pod does not have \"kubernetes.io/config.mirror\" \
             annotation, node \"node-1\" can only create mirror pods"
        );
        let err = node_restriction(&node, &pod(true, "node-2")).unwrap_err();
        assert!(err.contains("spec.nodeName set to itself"), "{err}");
        // Anyone else is RBAC's business alone.
        let admin = Identity::admin();
        assert_eq!(node_restriction(&admin, &pod(false, "")), Ok(()));
        let pretender = Identity {
            user: "system:node:node-1".into(),
            groups: vec!["system:authenticated".into()],
        };
        assert_eq!(node_restriction(&pretender, &pod(false, "")), Ok(()));
    }
}
