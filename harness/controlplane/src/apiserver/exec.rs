//! `pods/exec`, answered by the runtime of the pod's node, as kube-apiserver proxies exec to
//! the kubelet: over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`; kubectl 1.30+,
//! kube-rs) or over SPDY/3.1 with the `v4.channel.k8s.io` stream protocol (kubectl up to 1.29,
//! and 1.30+ when WebSocket is refused).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::http::ApiState;
use super::resources;
use super::status::ApiError;
use podcheck_node::runtime::Runtime;

/// The runtimes behind each node, as the apiserver reaches kubelets.
pub type NodeRuntimes = Arc<RwLock<HashMap<String, Arc<dyn Runtime>>>>;

/// How long a command may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;

/// The container a request names, as kube-apiserver picks it for exec, attach and logs:
/// the one asked for, or the only one; a pod with several needs `container=`
/// (`pkg/registry/core/pod/strategy.go`).
pub(super) fn named_container(
    pod: &Value,
    name: &str,
    asked: Option<&str>,
) -> Result<String, ApiError> {
    let containers: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let container = match (asked, containers.as_slice()) {
        (Some(c), _) => c,
        (None, [only]) => only,
        (None, _) => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    if !containers.contains(&container) {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    Ok(container.to_string())
}

/// The status of one of the pod's containers.
pub(super) fn container_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    pod.pointer("/status/containerStatuses")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
}

/// A container status's runtime ID, without the `containerd://` scheme.
pub(super) fn container_id(status: &Value) -> Option<String> {
    let id = status.get("containerID")?.as_str()?;
    Some(id.split_once("://").map_or(id, |(_, i)| i).to_string())
}

/// The runtime of the node the pod is bound to, as kube-apiserver reaches its kubelet.
pub(super) fn node_runtime(state: &ApiState, pod: &Value) -> Result<Arc<dyn Runtime>, ApiError> {
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    state
        .runtimes
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(node)
        .cloned()
        .ok_or_else(|| ApiError::internal(format!("no kubelet for node {node:?} is reachable")))
}

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
    let asked = query
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, c)| c.as_str());
    let container = named_container(&pod, &name, asked)?;
    let status = container_status(&pod, &container);
    let Some(id) = status.and_then(container_id) else {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    };
    if status.and_then(|c| c.pointer("/state/running")).is_none() {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )));
    }
    let runtime = node_runtime(&state, &pod)?;
    if spdy::requested(&parts.headers) {
        return spdy::upgrade(&mut parts, &query, runtime, id, command);
    }
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &state)
        .await
        .map_err(|_| {
            ApiError::bad_request(
                "Upgrade request required: exec is served over WebSocket (v5.channel.k8s.io, \
                 v4.channel.k8s.io) or SPDY/3.1 (v4.channel.k8s.io)",
            )
        })?;
    Ok(ws
        .protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |socket| run(socket, runtime, id, command)))
}

/// What a finished command sends back: its output and its `v4.channel.k8s.io` status.
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// A `metav1.Status`: `Success`, or a `Failure` whose `NonZeroExitCode` reason and
    /// `ExitCode` cause make kubectl exit with the command's code.
    status: Value,
}

async fn execute(runtime: &dyn Runtime, id: &str, command: &[String]) -> Outcome {
    let outcome = tokio::time::timeout(EXEC_TIMEOUT, runtime.exec_sync(id, command)).await;
    let (stdout, stderr, status) = match outcome {
        Ok(Ok(result)) => {
            let status = if result.exit_code == 0 {
                json!({"metadata": {}, "status": "Success"})
            } else {
                json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                       "message": format!("command terminated with non-zero exit code: error executing command {command:?}, exit code {}", result.exit_code),
                       "details": {"causes": [{"reason": "ExitCode", "message": result.exit_code.to_string()}]}})
            };
            (result.stdout, result.stderr, status)
        }
        Ok(Err(e)) => (
            Vec::new(),
            Vec::new(),
            json!({"metadata": {}, "status": "Failure", "reason": "InternalError", "message": e.to_string()}),
        ),
        Err(_) => (
            Vec::new(),
            Vec::new(),
            json!({"metadata": {}, "status": "Failure", "reason": "Timeout", "message": format!("the command did not finish within {EXEC_TIMEOUT:?}")}),
        ),
    };
    Outcome {
        stdout,
        stderr,
        status,
    }
}

async fn run(mut socket: WebSocket, runtime: Arc<dyn Runtime>, id: String, command: Vec<String>) {
    let outcome = execute(runtime.as_ref(), &id, &command).await;
    for (channel, data) in [(STDOUT, outcome.stdout), (STDERR, outcome.stderr)] {
        if !data.is_empty() {
            let _ = socket.send(frame(channel, &data)).await;
        }
    }
    let _ = socket
        .send(frame(ERROR, outcome.status.to_string().as_bytes()))
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

/// SPDY/3.1, as kubelet serves exec to kubectl 1.20–1.29: the client opens one stream per
/// channel (`streamtype: error|stdin|stdout|stderr|resize`) and waits for each reply; the
/// server writes the output, then the `v4.channel.k8s.io` status on the error stream, and
/// ends every stream.
mod spdy {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    /// How long the client has to open its streams (kubelet's stream creation timeout).
    const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
    /// How long to wait for the client to hang up once everything is sent.
    const LINGER: Duration = Duration::from_secs(10);
    /// The largest DATA frame written.
    const MAX_DATA: usize = 32 * 1024;
    /// The stream protocol served over SPDY: the one every kubectl since 1.11 offers first.
    const PROTOCOL: &str = "v4.channel.k8s.io";
    const PROTOCOL_HEADER: &str = "x-stream-protocol-version";

    const SYN_STREAM: u16 = 1;
    const SYN_REPLY: u16 = 2;
    const PING: u16 = 6;
    const GOAWAY: u16 = 7;
    const HEADERS: u16 = 8;
    const FLAG_FIN: u8 = 1;

    /// Whether the request asks to upgrade to SPDY/3.1.
    pub fn requested(headers: &HeaderMap) -> bool {
        headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|u| u.trim().eq_ignore_ascii_case("SPDY/3.1"))
    }

    /// Answers `101 Switching Protocols` and serves the exec on the upgraded connection.
    pub fn upgrade(
        parts: &mut http::request::Parts,
        query: &[(String, String)],
        runtime: Arc<dyn Runtime>,
        id: String,
        command: Vec<String>,
    ) -> Result<Response, ApiError> {
        let offered: Vec<String> = parts
            .headers
            .get_all(PROTOCOL_HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if !offered.iter().any(|p| p == PROTOCOL) {
            return Err(ApiError::forbidden(format!(
                "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [\"{PROTOCOL}\"]"
            )));
        }
        let flag = |k: &str| {
            query
                .iter()
                .any(|(key, v)| key == k && matches!(v.as_str(), "true" | "1"))
        };
        let (stdin, stdout, stderr, tty) =
            (flag("stdin"), flag("stdout"), flag("stderr"), flag("tty"));
        if !(stdin || stdout || stderr) {
            return Err(ApiError::bad_request(
                "you must specify at least 1 of stdin, stdout, stderr",
            ));
        }
        let mut want = vec!["error"];
        want.extend(stdin.then_some("stdin"));
        want.extend(stdout.then_some("stdout"));
        // A terminal merges stderr into stdout; it has a resize stream instead.
        want.extend((stderr && !tty).then_some("stderr"));
        want.extend(tty.then_some("resize"));
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(|| ApiError::bad_request("this connection cannot be upgraded"))?;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = hyper_util::rt::TokioIo::new(upgraded);
                    if let Err(e) = serve(io, &want, runtime, id, command).await {
                        tracing::debug!(error = %e, "SPDY exec ended early");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "SPDY upgrade failed"),
            }
        });
        Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "SPDY/3.1")
            .header(PROTOCOL_HEADER, PROTOCOL)
            .body(Body::empty())
            .expect("a valid response"))
    }

    /// What the client's frames mean to the server.
    #[derive(Debug, PartialEq)]
    enum Event {
        /// A stream the client opened, with its `streamtype`.
        Stream { id: u32, kind: String },
        /// A ping, to be echoed.
        Ping(Vec<u8>),
    }

    async fn serve<S>(
        io: S,
        want: &[&str],
        runtime: Arc<dyn Runtime>,
        id: String,
        command: Vec<String>,
    ) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, mut wr) = tokio::io::split(io);
        let (tx, mut rx) = mpsc::channel(16);
        let reader = tokio::spawn(read_events(rd, tx));
        let result = async {
            let mut replies = HeaderEncoder::default();
            let mut streams: HashMap<String, u32> = HashMap::new();
            let opened = tokio::time::timeout(STREAM_CREATION_TIMEOUT, async {
                while !want.iter().all(|w| streams.contains_key(*w)) {
                    match rx.recv().await {
                        Some(Event::Stream { id, kind }) => {
                            wr.write_all(&syn_reply(id, &mut replies)).await?;
                            streams.insert(kind, id);
                        }
                        Some(Event::Ping(p)) => wr.write_all(&control(PING, 0, &p)).await?,
                        None => return Err(eof("the client hung up before opening its streams")),
                    }
                }
                Ok(())
            })
            .await;
            match opened {
                Ok(r) => r?,
                Err(_) => return Err(eof("the client did not open its streams in time")),
            }
            // Pings are answered while the command runs.
            let exec = execute(runtime.as_ref(), &id, &command);
            tokio::pin!(exec);
            let outcome = loop {
                tokio::select! {
                    o = &mut exec => break o,
                    e = rx.recv() => match e {
                        Some(Event::Ping(p)) => wr.write_all(&control(PING, 0, &p)).await?,
                        Some(Event::Stream { id, .. }) => wr.write_all(&syn_reply(id, &mut replies)).await?,
                        None => return Err(eof("the client hung up while the command ran")),
                    },
                }
            };
            let mut out = Vec::new();
            let stdout = streams.get("stdout").copied();
            let stderr = streams.get("stderr").copied().or(stdout);
            for (stream, bytes) in [(stdout, &outcome.stdout), (stderr, &outcome.stderr)] {
                if let Some(s) = stream {
                    for chunk in bytes.chunks(MAX_DATA) {
                        out.extend(data(s, 0, chunk));
                    }
                }
            }
            out.extend(data(streams["error"], 0, outcome.status.to_string().as_bytes()));
            let mut ids: Vec<u32> = streams.values().copied().collect();
            ids.sort_unstable();
            for s in &ids {
                out.extend(data(*s, FLAG_FIN, &[]));
            }
            wr.write_all(&out).await?;
            wr.flush().await?;
            // kubectl hangs up once it has read every stream to its end; a client that does
            // not is told to go away.
            let hung_up = tokio::time::timeout(LINGER, async {
                while let Some(e) = rx.recv().await {
                    if let Event::Ping(p) = e {
                        let _ = wr.write_all(&control(PING, 0, &p)).await;
                    }
                }
            })
            .await
            .is_ok();
            if !hung_up {
                let last = ids.last().copied().unwrap_or(0);
                let mut payload = last.to_be_bytes().to_vec();
                payload.extend(0u32.to_be_bytes());
                wr.write_all(&control(GOAWAY, 0, &payload)).await?;
            }
            wr.shutdown().await
        }
        .await;
        reader.abort();
        result
    }

    fn eof(why: &str) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, why.to_string())
    }

    /// Reads the client's frames until it hangs up, sending on what the server acts on.
    async fn read_events(mut rd: impl AsyncRead + Unpin, tx: mpsc::Sender<Event>) {
        let mut headers = HeaderDecoder::new();
        loop {
            let event = match read_frame(&mut rd).await {
                Ok(Frame::Control { kind, payload }) => {
                    match frame_event(kind, &payload, &mut headers) {
                        Ok(e) => e,
                        Err(e) => {
                            tracing::debug!(error = %e, "a bad SPDY frame ends the exec");
                            return;
                        }
                    }
                }
                // Stdin, which the runtime's one-shot exec does not take.
                Ok(Frame::Data) => None,
                Err(_) => return,
            };
            if let Some(e) = event
                && tx.send(e).await.is_err()
            {
                return;
            }
        }
    }

    /// The event a control frame makes, decoding every header block (they share one zlib
    /// stream, so none may be skipped).
    fn frame_event(
        kind: u16,
        payload: &[u8],
        headers: &mut HeaderDecoder,
    ) -> Result<Option<Event>, String> {
        let stream_id = |p: &[u8]| -> Result<u32, String> {
            p.get(..4)
                .map(|b| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]))
                .ok_or_else(|| "a control frame too short for its stream id".to_string())
        };
        match kind {
            SYN_STREAM => {
                let id = stream_id(payload)?;
                let block = payload.get(10..).ok_or("a SYN_STREAM too short")?;
                let pairs = parse_header_block(&headers.decode(block)?)?;
                let kind = pairs
                    .into_iter()
                    .find(|(n, _)| n == "streamtype")
                    .map(|(_, v)| v)
                    .unwrap_or_default();
                Ok(Some(Event::Stream { id, kind }))
            }
            SYN_REPLY | HEADERS => {
                stream_id(payload)?;
                headers.decode(&payload[4..])?;
                Ok(None)
            }
            PING => Ok(Some(Event::Ping(payload.to_vec()))),
            _ => Ok(None),
        }
    }

    /// A frame as read: a control frame's type and payload; data frames only carry stdin.
    #[derive(Debug)]
    enum Frame {
        Control { kind: u16, payload: Vec<u8> },
        Data,
    }

    async fn read_frame(rd: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Frame> {
        let mut h = [0u8; 8];
        rd.read_exact(&mut h).await?;
        let len = u32::from_be_bytes([0, h[5], h[6], h[7]]) as usize;
        let mut payload = vec![0; len];
        rd.read_exact(&mut payload).await?;
        if h[0] & 0x80 == 0 {
            return Ok(Frame::Data);
        }
        let version = u16::from_be_bytes([h[0] & 0x7f, h[1]]);
        if version != 3 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("SPDY version {version}, not 3"),
            ));
        }
        Ok(Frame::Control {
            kind: u16::from_be_bytes([h[2], h[3]]),
            payload,
        })
    }

    fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80, 3];
        f.extend(kind.to_be_bytes());
        f.push(flags);
        f.extend(&(payload.len() as u32).to_be_bytes()[1..]);
        f.extend(payload);
        f
    }

    fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
        f.push(flags);
        f.extend(&(payload.len() as u32).to_be_bytes()[1..]);
        f.extend(payload);
        f
    }

    /// A SYN_REPLY without headers: what the client waits for before using a stream.
    fn syn_reply(id: u32, headers: &mut HeaderEncoder) -> Vec<u8> {
        let mut payload = id.to_be_bytes().to_vec();
        payload.extend(headers.block(&0u32.to_be_bytes()));
        control(SYN_REPLY, 0, &payload)
    }

    /// `(name, value)` pairs of a decompressed SPDY/3 header block: a count, then
    /// length-prefixed names and values.
    fn parse_header_block(block: &[u8]) -> Result<Vec<(String, String)>, String> {
        let mut reader = HeaderReader(block);
        let count = reader.len()?;
        let mut pairs = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let name = reader.string()?;
            let value = reader.string()?;
            pairs.push((name, value));
        }
        Ok(pairs)
    }

    struct HeaderReader<'a>(&'a [u8]);

    impl HeaderReader<'_> {
        fn take(&mut self, n: usize) -> Result<&[u8], String> {
            if self.0.len() < n {
                return Err("a truncated header block".into());
            }
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            Ok(head)
        }

        fn len(&mut self) -> Result<usize, String> {
            let b = self.take(4)?;
            Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        }

        fn string(&mut self) -> Result<String, String> {
            let n = self.len()?;
            Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
        }
    }

    /// Inflates the client's header blocks: one zlib stream across all of them, with SPDY/3's
    /// preset dictionary. The dictionary is fed to a raw inflater as a stored block first, so
    /// back-references into it resolve (the Rust backend of flate2 takes no dictionary).
    struct HeaderDecoder {
        inflate: Decompress,
        started: bool,
    }

    impl HeaderDecoder {
        fn new() -> Self {
            let mut inflate = Decompress::new(false);
            let dict = dictionary();
            let mut sink = Vec::with_capacity(dict.len() + 64);
            let _ = inflate.decompress_vec(&stored_block(dict), &mut sink, FlushDecompress::Sync);
            debug_assert_eq!(sink, dict);
            HeaderDecoder {
                inflate,
                started: false,
            }
        }

        fn decode(&mut self, block: &[u8]) -> Result<Vec<u8>, String> {
            let mut input = block;
            if !self.started {
                let zlib_with_dictionary = block.len() >= 6
                    && block[0] & 0x0f == 8
                    && u16::from_be_bytes([block[0], block[1]]).is_multiple_of(31)
                    && block[1] & 0x20 != 0
                    && block[2..6] == dictionary_id().to_be_bytes();
                if !zlib_with_dictionary {
                    return Err(
                        "the first header block does not start a zlib stream with SPDY/3's dictionary"
                            .into(),
                    );
                }
                self.started = true;
                input = &block[6..];
            }
            let mut out = Vec::with_capacity(input.len() * 4 + 64);
            loop {
                let before = self.inflate.total_in();
                self.inflate
                    .decompress_vec(input, &mut out, FlushDecompress::Sync)
                    .map_err(|e| format!("a header block does not inflate: {e}"))?;
                let used = (self.inflate.total_in() - before) as usize;
                input = &input[used..];
                let room = out.len() < out.capacity();
                if input.is_empty() && room {
                    return Ok(out);
                }
                if used == 0 && room {
                    return Err("a header block does not inflate: no progress".into());
                }
                out.reserve(out.capacity().max(256));
            }
        }
    }

    /// Deflates the server's header blocks: a zlib stream declaring SPDY/3's dictionary (the
    /// client checks its id), each block stored uncompressed and sync-flushed.
    #[derive(Default)]
    struct HeaderEncoder {
        started: bool,
    }

    impl HeaderEncoder {
        fn block(&mut self, headers: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            if !self.started {
                self.started = true;
                // CMF 0x78: deflate, 32 KiB window; FLG 0xF9: level 3, preset dictionary,
                // and a check making CMF·256+FLG a multiple of 31.
                out.extend([0x78, 0xF9]);
                out.extend(dictionary_id().to_be_bytes());
            }
            out.extend(stored_block(headers));
            // A sync flush: an empty stored block, on which Go's inflater hands out what it
            // holds (on the block before, it would read on past the end of the frame).
            out.extend(stored_block(&[]));
            out
        }
    }

    /// A deflate stored block that is not the last one (BFINAL 0, BTYPE 00).
    fn stored_block(bytes: &[u8]) -> Vec<u8> {
        let len = u16::try_from(bytes.len()).expect("header blocks are small");
        let mut b = vec![0];
        b.extend(len.to_le_bytes());
        b.extend((!len).to_le_bytes());
        b.extend(bytes);
        b
    }

    /// SPDY/3's header compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1):
    /// length-prefixed header names and values, then common value fragments.
    const DICTIONARY_WORDS: [&str; 65] = [
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const DICTIONARY_TAIL: [&str; 8] = [
        "10010120120220520630030230330430530630740240540640740840941041141241341441541641",
        "7502504505203 Non-Authoritative Information204 No Content301 Moved Permanently40",
        "0 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
        "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept O",
        "ct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,imag",
        "e/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/",
        "javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1",
        ",utf-,*,enq=0.",
    ];

    fn dictionary() -> &'static [u8] {
        static DICTIONARY: OnceLock<Vec<u8>> = OnceLock::new();
        DICTIONARY.get_or_init(|| {
            let mut d = Vec::new();
            for w in DICTIONARY_WORDS {
                d.extend((w.len() as u32).to_be_bytes());
                d.extend(w.as_bytes());
            }
            for piece in DICTIONARY_TAIL {
                d.extend(piece.as_bytes());
            }
            d
        })
    }

    /// The dictionary's id in a zlib header: its Adler-32.
    fn dictionary_id() -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in dictionary() {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    #[cfg(test)]
    mod tests {
        use serde_json::json;

        /// A sidecar makes a pod of two containers: exec must name one, as on kube-apiserver.
        #[test]
        fn exec_names_its_container_where_a_pod_has_several() {
            let one = json!({"spec": {"containers": [{"name": "app"}]}});
            assert_eq!(super::named_container(&one, "p", None).unwrap(), "app");
            let two = json!({"spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]}});
            assert_eq!(
                super::named_container(&two, "p", None).unwrap_err().message,
                "a container name must be specified for pod p, choose one of: [app istio-proxy]"
            );
            assert_eq!(
                super::named_container(&two, "p", Some("istio-proxy")).unwrap(),
                "istio-proxy"
            );
            assert!(super::named_container(&two, "p", Some("nope")).is_err());
        }

        use super::*;

        #[test]
        fn the_dictionary_is_spdy3s() {
            assert_eq!(dictionary().len(), 1423);
            assert_eq!(dictionary_id(), 0xe3c6_a7c2);
        }

        #[test]
        fn kubectls_header_blocks_inflate() {
            // The header blocks of the SYN_STREAMs kubectl 1.27 opens for `exec`, as sent.
            let blocks: [&[u8]; 3] = [
                &[
                    120, 249, 227, 198, 167, 194, 98, 96, 96, 96, 4, 167, 179, 146, 162, 212, 196,
                    92, 104, 81, 194, 154, 10, 10, 104, 0, 0, 0, 0, 255, 255,
                ],
                &[194, 42, 197, 86, 92, 146, 146, 95, 90, 2, 0, 0, 0, 255, 255],
                &[194, 41, 151, 90, 84, 4, 0, 0, 0, 255, 255],
            ];
            let mut dec = HeaderDecoder::new();
            let kinds: Vec<Vec<(String, String)>> = blocks
                .iter()
                .map(|b| parse_header_block(&dec.decode(b).unwrap()).unwrap())
                .collect();
            let pair = |v: &str| vec![("streamtype".to_string(), v.to_string())];
            assert_eq!(kinds, [pair("error"), pair("stdout"), pair("stderr")]);
        }

        #[test]
        fn a_stream_without_the_dictionary_is_refused() {
            let mut dec = HeaderDecoder::new();
            assert!(dec.decode(&[0x78, 0x9c, 0, 0, 0, 0, 0]).is_err());
        }

        #[test]
        fn server_header_blocks_inflate_with_the_dictionary() {
            let mut enc = HeaderEncoder::default();
            let mut dec = HeaderDecoder::new();
            let mut block = 1u32.to_be_bytes().to_vec();
            for s in ["streamtype", "stdout"] {
                block.extend((s.len() as u32).to_be_bytes());
                block.extend(s.as_bytes());
            }
            for _ in 0..3 {
                let pairs = parse_header_block(&dec.decode(&enc.block(&block)).unwrap()).unwrap();
                assert_eq!(pairs, [("streamtype".to_string(), "stdout".to_string())]);
            }
        }
    }
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
