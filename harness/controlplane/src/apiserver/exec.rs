//! `pods/exec` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`), answered by the
//! runtime of the pod's node, as kube-apiserver proxies exec to the kubelet.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::http::ApiState;
use super::resources;
use super::status::ApiError;
use crate::kubelet::runtime::Runtime;

/// The runtimes behind each node, as the apiserver reaches kubelets.
pub type NodeRuntimes = Arc<RwLock<HashMap<String, Arc<dyn Runtime>>>>;

/// How long a command may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;

/// Whether the request is `GET|POST …/pods/NAME/exec`.
pub fn is_exec(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        parts.as_slice(),
        ["api", "v1", "namespaces", _, "pods", _, "exec"]
    )
}

pub async fn handle(state: Arc<ApiState>, req: Request) -> Response {
    match prepare(state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn prepare(state: Arc<ApiState>, req: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = req.into_parts();
    let segments: Vec<String> = parts
        .uri
        .path()
        .trim_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    let (ns, name) = (segments[3].clone(), segments[5].clone());
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let command: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let pods = resources::lookup("", "v1", "pods").expect("pods are served");
    let pod = state.registry.get(pods, Some(&ns), &name).await?;
    let container = match query.iter().find(|(k, _)| k == "container") {
        Some((_, c)) => c.clone(),
        None => pod
            .pointer("/spec/containers/0/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    let status = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container.as_str()))
        });
    let Some(id) = status
        .and_then(|c| c.get("containerID"))
        .and_then(Value::as_str)
    else {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    };
    if status.and_then(|c| c.pointer("/state/running")).is_none() {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )));
    }
    let id = id.split_once("://").map_or(id, |(_, i)| i).to_string();
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let runtime = state
        .runtimes
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&node)
        .cloned()
        .ok_or_else(|| ApiError::internal(format!("no kubelet for node {node:?} is reachable")))?;
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &state)
        .await
        .map_err(|_| ApiError::bad_request("exec needs a WebSocket upgrade with v5.channel.k8s.io or v4.channel.k8s.io; SPDY is not served"))?;
    Ok(ws
        .protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |socket| run(socket, runtime, id, command)))
}

async fn run(mut socket: WebSocket, runtime: Arc<dyn Runtime>, id: String, command: Vec<String>) {
    let outcome = tokio::time::timeout(EXEC_TIMEOUT, runtime.exec_sync(&id, &command)).await;
    let status = match outcome {
        Ok(Ok(result)) => {
            for (channel, data) in [(STDOUT, result.stdout), (STDERR, result.stderr)] {
                if !data.is_empty() {
                    let _ = socket.send(frame(channel, &data)).await;
                }
            }
            if result.exit_code == 0 {
                json!({"metadata": {}, "status": "Success"})
            } else {
                json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                       "message": format!("command terminated with non-zero exit code: error executing command {command:?}, exit code {}", result.exit_code),
                       "details": {"causes": [{"reason": "ExitCode", "message": result.exit_code.to_string()}]}})
            }
        }
        Ok(Err(e)) => {
            json!({"metadata": {}, "status": "Failure", "reason": "InternalError", "message": e.to_string()})
        }
        Err(_) => {
            json!({"metadata": {}, "status": "Failure", "reason": "Timeout", "message": format!("the command did not finish within {EXEC_TIMEOUT:?}")})
        }
    };
    let _ = socket
        .send(frame(ERROR, status.to_string().as_bytes()))
        .await;
    // A close without a status code (1005) is an error to kubectl: end normally (1000).
    let _ = socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut buf = Vec::with_capacity(data.len() + 1);
    buf.push(channel);
    buf.extend_from_slice(data);
    Message::Binary(buf.into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn exec_paths() {
        assert!(super::is_exec(
            "/api/v1/namespaces/default/pods/busybox/exec"
        ));
        assert!(!super::is_exec(
            "/api/v1/namespaces/default/pods/busybox/log"
        ));
        assert!(!super::is_exec("/api/v1/namespaces/default/pods/exec"));
    }
}
