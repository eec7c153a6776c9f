//! `pods/log`: a container's log as the runtime wrote it (CRI log format), with `follow`,
//! `tailLines`, `timestamps`, `sinceSeconds` and `limitBytes`, as kube-apiserver proxies it
//! from the kubelet.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::exec::{container_id, container_status, node_runtime};
use super::http::ApiState;
use super::resources;
use super::status::ApiError;
use podcheck_node::runtime::{ContainerState, Runtime};

/// How often a followed log is read again, and the container's state checked.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Whether the request is `GET …/pods/NAME/log`.
pub fn is_log(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        parts.as_slice(),
        ["api", "v1", "namespaces", _, "pods", _, "log"]
    )
}

/// One line of a CRI log file: `TIMESTAMP STREAM TAG CONTENT`, TAG `F` (full) or `P` (partial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub timestamp: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    pub content: &'a str,
}

/// Parses one CRI log line; None for a malformed one.
pub fn parse_line(line: &str) -> Option<LogLine<'_>> {
    let mut parts = line.splitn(4, ' ');
    let timestamp = parts.next()?;
    let stream = parts.next()?;
    let tag = parts.next()?;
    let content = parts.next().unwrap_or("");
    if !matches!(stream, "stdout" | "stderr") {
        return None;
    }
    Some(LogLine {
        timestamp,
        stream,
        partial: tag.split(':').next() == Some("P"),
        content,
    })
}

/// What the client asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub timestamps: bool,
    pub tail_lines: Option<usize>,
    pub since_seconds: Option<i64>,
    pub limit_bytes: Option<usize>,
    pub previous: bool,
}

impl LogOptions {
    fn parse(query: Option<&str>) -> Result<LogOptions, ApiError> {
        let mut o = LogOptions::default();
        let flag = |v: &str| v == "true" || v == "1";
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let number = |what: &str| {
                v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{what} must be a non-negative integer, got {v:?}"
                    ))
                })
            };
            match k.as_ref() {
                "container" => o.container = Some(v.to_string()),
                "follow" => o.follow = flag(&v),
                "timestamps" => o.timestamps = flag(&v),
                "previous" => o.previous = flag(&v),
                "tailLines" => o.tail_lines = Some(number("tailLines")? as usize),
                "sinceSeconds" => o.since_seconds = Some(number("sinceSeconds")?),
                "limitBytes" => o.limit_bytes = Some(number("limitBytes")? as usize),
                _ => {}
            }
        }
        Ok(o)
    }
}

/// Renders the complete lines of a CRI log as `kubectl logs` shows them: partial lines
/// joined, the last `tail` lines, only those at or after `since` (RFC 3339, compared as
/// text: CRI timestamps are fixed-width UTC), with the timestamp in front if asked.
pub fn render(text: &str, options: &LogOptions, since: Option<&str>) -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let Some(l) = parse_line(raw) else { continue };
        pending.push_str(l.content);
        if l.partial {
            continue;
        }
        if since.is_none_or(|s| l.timestamp >= s) {
            lines.push((l.timestamp.to_string(), std::mem::take(&mut pending)));
        } else {
            pending.clear();
        }
    }
    let skip = options
        .tail_lines
        .map_or(0, |t| lines.len().saturating_sub(t));
    let mut out = String::new();
    for (ts, content) in &lines[skip..] {
        if options.timestamps {
            out.push_str(ts);
            out.push(' ');
        }
        out.push_str(content);
        out.push('\n');
    }
    if let Some(limit) = options.limit_bytes
        && out.len() > limit
    {
        let mut cut = limit;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

pub async fn handle(state: Arc<ApiState>, req: Request) -> Response {
    match serve(state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn serve(state: Arc<ApiState>, req: Request) -> Result<Response, ApiError> {
    let segments: Vec<String> = req
        .uri()
        .path()
        .trim_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    let (ns, name) = (segments[3].clone(), segments[5].clone());
    let options = LogOptions::parse(req.uri().query())?;
    let pods = resources::lookup("", "v1", "pods").expect("pods are served");
    let pod = state.registry.get(pods, Some(&ns), &name).await?;
    let container = super::exec::named_container(&pod, &name, options.container.as_deref())?;
    if options.previous {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    let status = container_status(&pod, &container);
    let Some(id) = status.and_then(container_id) else {
        let reason = status
            .and_then(|c| c.pointer("/state/waiting/reason"))
            .and_then(Value::as_str)
            .unwrap_or("ContainerCreating");
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    };
    let runtime = node_runtime(&state, &pod)?;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let path = runtime
        .container_log(&id)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "the {} runtime of node {node} keeps no container logs",
                runtime.provider().name
            ))
        })?;
    let since = options.since_seconds.map(|s| {
        let t =
            k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(s);
        t.strftime("%Y-%m-%dT%H:%M:%S").to_string()
    });
    let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
    let first = render(&text, &options, since.as_deref());
    let plain = |body: Body| {
        let mut r = (StatusCode::OK, body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        r
    };
    if !options.follow {
        return Ok(plain(Body::from(first)));
    }
    let stream = follow(
        path,
        text.len() as u64,
        first,
        options,
        runtime,
        id,
        state.shutdown.clone(),
    );
    Ok(plain(Body::from_stream(stream)))
}

/// The log so far, then what the runtime appends, until the container exits, the client
/// goes away or the apiserver shuts down.
fn follow(
    path: PathBuf,
    offset: u64,
    first: String,
    options: LogOptions,
    runtime: Arc<dyn Runtime>,
    id: String,
    shutdown: tokio_util::sync::CancellationToken,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let live = LogOptions {
        tail_lines: None,
        ..options
    };
    futures::stream::unfold(
        (Some(first), offset, String::new(), false),
        move |(first, mut offset, mut carry, done)| {
            let (path, runtime, id, shutdown, live) = (
                path.clone(),
                runtime.clone(),
                id.clone(),
                shutdown.clone(),
                live.clone(),
            );
            async move {
                if let Some(f) = first {
                    return Some((Ok(Bytes::from(f)), (None, offset, carry, false)));
                }
                if done {
                    return None;
                }
                loop {
                    let exited = matches!(
                        runtime.container_state(&id).await,
                        Ok(ContainerState::Exited { .. }) | Err(_)
                    );
                    let mut chunk = String::new();
                    if let Ok(mut f) = tokio::fs::File::open(&path).await
                        && f.seek(std::io::SeekFrom::Start(offset)).await.is_ok()
                    {
                        let mut buf = Vec::new();
                        if let Ok(n) = f.read_to_end(&mut buf).await {
                            offset += n as u64;
                            carry.push_str(&String::from_utf8_lossy(&buf));
                        }
                    }
                    // Only whole lines: the runtime may be in the middle of writing one.
                    if let Some(end) = carry.rfind('\n') {
                        let complete: String = carry.drain(..=end).collect();
                        chunk = render(&complete, &live, None);
                    }
                    if !chunk.is_empty() {
                        return Some((Ok(Bytes::from(chunk)), (None, offset, carry, exited)));
                    }
                    if exited {
                        return None;
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(FOLLOW_POLL) => {}
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2026-11-27T10:00:00.000000001Z stdout F hello\n\
2026-11-27T10:00:01.000000000Z stderr P par\n\
2026-11-27T10:00:01.000000001Z stderr F tial\n\
garbage\n\
2026-11-27T10:00:02.000000000Z stdout F \n\
2026-11-27T10:00:03.000000000Z stdout F last line\n";

    #[test]
    fn parses_cri_lines() {
        assert_eq!(
            parse_line("2026-11-27T10:00:00Z stdout F hi there"),
            Some(LogLine {
                timestamp: "2026-11-27T10:00:00Z",
                stream: "stdout",
                partial: false,
                content: "hi there"
            })
        );
        assert!(parse_line("2026 stdin F x").is_none());
        assert!(parse_line("oneword").is_none());
    }

    #[test]
    fn renders_like_kubectl_logs() {
        let all = render(LOG, &LogOptions::default(), None);
        assert_eq!(all, "hello\npartial\n\nlast line\n");
        let tail = LogOptions {
            tail_lines: Some(2),
            timestamps: true,
            ..LogOptions::default()
        };
        assert_eq!(
            render(LOG, &tail, None),
            "2026-11-27T10:00:02.000000000Z \n2026-11-27T10:00:03.000000000Z last line\n"
        );
        let since = render(LOG, &LogOptions::default(), Some("2026-11-27T10:00:02"));
        assert_eq!(since, "\nlast line\n");
        let limited = LogOptions {
            limit_bytes: Some(3),
            ..LogOptions::default()
        };
        assert_eq!(render(LOG, &limited, None), "hel");
        let none = LogOptions {
            tail_lines: Some(0),
            ..LogOptions::default()
        };
        assert_eq!(render(LOG, &none, None), "");
    }

    #[test]
    fn log_paths() {
        assert!(is_log("/api/v1/namespaces/default/pods/busybox/log"));
        assert!(!is_log("/api/v1/namespaces/default/pods/busybox/exec"));
    }
}
