//! The store on a real etcd v3 server, over gRPC (tonic) with the generated clients of
//! `podcheck-protos`.
//!
//! Every operation is one etcd request (creates, updates and deletes are transactions that
//! compare revisions, as kube-apiserver's etcd3 storage does), so the semantics are etcd's own;
//! `MemoryStore` imitates them. Every request has a deadline; a watch has one for its
//! creation and then lives until dropped (HTTP/2 keep-alives notice a dead server).

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use podcheck_protos::etcd::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use podcheck_protos::etcd::etcdserverpb::kv_client::KvClient;
use podcheck_protos::etcd::etcdserverpb::maintenance_client::MaintenanceClient;
use podcheck_protos::etcd::etcdserverpb::request_op::Request as Op;
use podcheck_protos::etcd::etcdserverpb::response_op::Response as OpResponse;
use podcheck_protos::etcd::etcdserverpb::watch_client::WatchClient;
use podcheck_protos::etcd::etcdserverpb::watch_request::RequestUnion;
use podcheck_protos::etcd::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, PutRequest, RangeRequest, RangeResponse,
    RequestOp, StatusRequest, TxnRequest, TxnResponse, WatchCreateRequest, WatchRequest,
    WatchResponse,
};
use podcheck_protos::etcd::mvccpb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

use super::{
    KeyValue, Listing, Revision, Store, StoreError, StoreProvider, WatchEvent, WatchStream,
};

/// The deadline of each request, unless set otherwise with [`EtcdStore::connect_with_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Responses as large as a big list are fine (tonic's default limit is 4 MiB).
const MAX_MESSAGE: usize = 256 << 20;

/// How long to wait for etcd to say which revision it compacted to, when an operation has
/// just been refused as compacted (its watcher sync loop runs every 100 ms).
const COMPACT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A store held by an etcd v3 server.
#[derive(Debug, Clone)]
pub struct EtcdStore {
    endpoint: String,
    kv: KvClient<Channel>,
    watch: WatchClient<Channel>,
    version: String,
    timeout: Duration,
}

impl EtcdStore {
    /// Connects to the etcd at `endpoint` (`http://127.0.0.1:PORT`) and asks its version.
    pub async fn connect(endpoint: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(endpoint, DEFAULT_REQUEST_TIMEOUT).await
    }

    /// As [`connect`](Self::connect), with `timeout` as the deadline of every request
    /// (and of connecting).
    pub async fn connect_with_timeout(
        endpoint: &str,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let channel = Endpoint::from_shared(endpoint.to_string())
            .map_err(|e| backend(format!("bad etcd endpoint {endpoint}: {e}")))?
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true)
            .connect()
            .await
            .map_err(|e| backend(format!("connecting to etcd at {endpoint}: {e}")))?;
        let mut maintenance = MaintenanceClient::new(channel.clone());
        let status = deadline(
            timeout,
            "Status",
            maintenance.status(request(StatusRequest {}, timeout)),
        )
        .await?;
        Ok(EtcdStore {
            endpoint: endpoint.to_string(),
            kv: KvClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            watch: WatchClient::new(channel).max_decoding_message_size(MAX_MESSAGE),
            version: status.version,
            timeout,
        })
    }

    /// The client URL this store talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        let mut kv = self.kv.clone();
        deadline(self.timeout, "Range", kv.range(request(req, self.timeout))).await
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, StoreError> {
        let mut kv = self.kv.clone();
        deadline(self.timeout, "Txn", kv.txn(request(req, self.timeout))).await
    }

    /// Opens a watch and waits (with the request deadline) for etcd to confirm it.
    async fn open_watch(
        &self,
        create: WatchCreateRequest,
    ) -> Result<(mpsc::Sender<WatchRequest>, Streaming<WatchResponse>), StoreError> {
        let open = async {
            let (tx, rx) = mpsc::channel(1);
            tx.send(WatchRequest {
                request_union: Some(RequestUnion::CreateRequest(create)),
            })
            .await
            .map_err(|_| backend("watch request channel closed".to_string()))?;
            let mut watch = self.watch.clone();
            let mut responses = watch
                .watch(ReceiverStream::new(rx))
                .await
                .map_err(|s| status_error("Watch", s))?
                .into_inner();
            loop {
                match responses.message().await {
                    Ok(Some(r)) if r.created => return Ok((tx, responses, r)),
                    Ok(Some(_)) => continue,
                    Ok(None) => return Err(backend("etcd closed the watch stream".to_string())),
                    Err(s) => return Err(status_error("Watch", s)),
                }
            }
        };
        let (tx, responses, created) = tokio::time::timeout(self.timeout, open)
            .await
            .map_err(|_| timed_out("Watch", self.timeout))??;
        if created.canceled {
            return Err(backend(format!(
                "etcd refused the watch: {}",
                created.cancel_reason
            )));
        }
        Ok((tx, responses))
    }

    /// The revision etcd has compacted to, learnt from a watch that starts at `requested` (which
    /// etcd has just refused as compacted): etcd cancels such a watch and names the
    /// compaction revision. Falls back to `requested + 1`, a lower bound, if it does not say.
    async fn compacted_revision(&self, requested: Revision) -> Revision {
        let probe = async {
            let (_tx, mut responses) = self
                .open_watch(WatchCreateRequest {
                    key: vec![0],
                    start_revision: requested.max(1),
                    ..Default::default()
                })
                .await
                .ok()?;
            while let Ok(Some(r)) = responses.message().await {
                if r.compact_revision > 0 {
                    return Some(r.compact_revision);
                }
                if r.canceled {
                    return None;
                }
            }
            None
        };
        tokio::time::timeout(COMPACT_PROBE_TIMEOUT, probe)
            .await
            .ok()
            .flatten()
            .unwrap_or(requested + 1)
    }

    /// Maps a revision-related refusal of a read at `requested` to the store's error.
    async fn revision_error(&self, requested: Revision, e: StoreError) -> StoreError {
        match e {
            StoreError::Compacted { .. } => StoreError::Compacted {
                requested,
                compacted: self.compacted_revision(requested).await,
            },
            StoreError::FutureRevision { .. } => StoreError::FutureRevision {
                requested,
                current: self.revision().await.unwrap_or(0),
            },
            other => other,
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    fn provider(&self) -> StoreProvider {
        StoreProvider {
            name: "etcd",
            real: true,
            version: self.version.clone(),
        }
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        let resp = self
            .txn(TxnRequest {
                compare: vec![compare(key, CompareTarget::Create, CompareResult::Equal, 0)],
                success: vec![put_op(key, value.clone(), false)],
                failure: vec![range_op(key)],
            })
            .await?;
        if !resp.succeeded {
            return Err(StoreError::AlreadyExists { key: key.into() });
        }
        let rev = header_revision(resp.header.as_ref())?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: rev,
            mod_revision: rev,
        })
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let resp = self
            .range(RangeRequest {
                key: key.as_bytes().to_vec(),
                ..Default::default()
            })
            .await?;
        Ok(resp.kvs.into_iter().next().map(to_kv))
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        let resp = self
            .txn(TxnRequest {
                compare: vec![
                    // The key exists (a missing key's mod revision is 0: never create here).
                    compare(key, CompareTarget::Create, CompareResult::Greater, 0),
                    compare(key, CompareTarget::Mod, CompareResult::Equal, expected),
                ],
                success: vec![put_op(key, value.clone(), true)],
                failure: vec![range_op(key)],
            })
            .await?;
        if !resp.succeeded {
            return Err(cas_failure(key, expected, resp));
        }
        let rev = header_revision(resp.header.as_ref())?;
        let prev = match resp.responses.into_iter().next().and_then(|r| r.response) {
            Some(OpResponse::ResponsePut(p)) => p.prev_kv,
            _ => None,
        }
        .ok_or_else(|| backend(format!("etcd's put of {key} returned no previous value")))?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: prev.create_revision,
            mod_revision: rev,
        })
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(KeyValue, Revision), StoreError> {
        let mut compares = vec![compare(
            key,
            CompareTarget::Create,
            CompareResult::Greater,
            0,
        )];
        if let Some(expected) = expected {
            compares.push(compare(
                key,
                CompareTarget::Mod,
                CompareResult::Equal,
                expected,
            ));
        }
        let resp = self
            .txn(TxnRequest {
                compare: compares,
                success: vec![RequestOp {
                    request: Some(Op::RequestDeleteRange(DeleteRangeRequest {
                        key: key.as_bytes().to_vec(),
                        prev_kv: true,
                        ..Default::default()
                    })),
                }],
                failure: vec![range_op(key)],
            })
            .await?;
        if !resp.succeeded {
            return Err(cas_failure(key, expected.unwrap_or(0), resp));
        }
        let rev = header_revision(resp.header.as_ref())?;
        let prev = match resp.responses.into_iter().next().and_then(|r| r.response) {
            Some(OpResponse::ResponseDeleteRange(d)) => d.prev_kvs.into_iter().next(),
            _ => None,
        }
        .ok_or_else(|| backend(format!("etcd's delete of {key} returned no previous value")))?;
        Ok((to_kv(prev), rev))
    }

    async fn list(&self, prefix: &str, at: Option<Revision>) -> Result<Listing, StoreError> {
        let (key, range_end) = prefix_range(prefix);
        let resp = self
            .range(RangeRequest {
                key,
                range_end,
                revision: at.unwrap_or(0),
                ..Default::default()
            })
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return Err(self.revision_error(at.unwrap_or(0), e).await),
        };
        // The header carries the current revision; a read at a past one was read there.
        let revision = match at {
            Some(at) => at,
            None => header_revision(resp.header.as_ref())?,
        };
        Ok(Listing {
            items: resp.kvs.into_iter().map(to_kv).collect(),
            revision,
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        // As in MemoryStore: watching after a compacted revision is refused at once. A Range
        // at `after` fails exactly then (etcd itself would only cancel the watch later, from
        // its sync loop, and only if `after + 1` is compacted).
        if after > 0 {
            let probe = self
                .range(RangeRequest {
                    key: vec![0],
                    revision: after,
                    count_only: true,
                    ..Default::default()
                })
                .await;
            match probe {
                Ok(_) | Err(StoreError::FutureRevision { .. }) => {}
                Err(e) => return Err(self.revision_error(after, e).await),
            }
        }
        let (key, range_end) = prefix_range(prefix);
        let (tx, responses) = self
            .open_watch(WatchCreateRequest {
                key,
                range_end,
                start_revision: after + 1,
                prev_kv: true,
                ..Default::default()
            })
            .await?;
        let state = WatchState {
            _requests: tx,
            responses,
            pending: VecDeque::new(),
            after,
            done: false,
        };
        Ok(Box::pin(futures::stream::unfold(state, WatchState::next)))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut kv = self.kv.clone();
        let req = CompactionRequest {
            revision,
            physical: false,
        };
        match deadline(
            self.timeout,
            "Compact",
            kv.compact(request(req, self.timeout)),
        )
        .await
        {
            Ok(_) => Ok(()),
            // Already compacted to this revision or past it: nothing to do, as in MemoryStore.
            Err(StoreError::Compacted { .. }) => Ok(()),
            Err(StoreError::FutureRevision { .. }) => Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision().await.unwrap_or(0),
            }),
            Err(e) => Err(e),
        }
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        let resp = self
            .range(RangeRequest {
                key: vec![0],
                count_only: true,
                ..Default::default()
            })
            .await?;
        header_revision(resp.header.as_ref())
    }
}

/// A watch in progress: etcd's responses, unpacked into events one at a time.
struct WatchState {
    /// Keeps the request side of the gRPC stream open for as long as the watch lives.
    _requests: mpsc::Sender<WatchRequest>,
    responses: Streaming<WatchResponse>,
    pending: VecDeque<WatchEvent>,
    after: Revision,
    done: bool,
}

impl WatchState {
    async fn next(mut self) -> Option<(Result<WatchEvent, StoreError>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(event), self));
            }
            if self.done {
                return None;
            }
            let failure = match self.responses.message().await {
                Ok(Some(r)) if r.compact_revision > 0 => StoreError::Compacted {
                    requested: self.after,
                    compacted: r.compact_revision,
                },
                Ok(Some(r)) if r.canceled => {
                    backend(format!("etcd canceled the watch: {}", r.cancel_reason))
                }
                Ok(Some(r)) => {
                    self.pending
                        .extend(r.events.into_iter().filter_map(to_event));
                    continue;
                }
                Ok(None) => backend("etcd closed the watch stream".to_string()),
                Err(s) => status_error("Watch", s),
            };
            // A failed watch has lost events: end the stream after the error.
            self.done = true;
            return Some((Err(failure), self));
        }
    }
}

fn to_event(e: mvccpb::Event) -> Option<WatchEvent> {
    let kv = e.kv?;
    let prev = e.prev_kv.map(to_kv);
    if e.r#type == mvccpb::event::EventType::Delete as i32 {
        let revision = kv.mod_revision;
        // prev_kv was asked for; should etcd not have it, keep what the event says.
        let prev = prev.unwrap_or_else(|| KeyValue {
            key: key_string(kv.key),
            value: Bytes::new(),
            create_revision: 0,
            mod_revision: 0,
        });
        Some(WatchEvent::Delete { prev, revision })
    } else {
        Some(WatchEvent::Put {
            kv: to_kv(kv),
            prev,
        })
    }
}

fn to_kv(kv: mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        key: key_string(kv.key),
        value: Bytes::from(kv.value),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
    }
}

fn key_string(key: Vec<u8>) -> String {
    String::from_utf8(key).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// etcd's prefix trick: the range `[prefix, prefix with its last byte incremented)`; the empty
/// prefix is every key (`["\0", "\0")`).
fn prefix_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return (prefix.as_bytes().to_vec(), end);
        }
    }
    (vec![0], vec![0])
}

fn compare(key: &str, target: CompareTarget, result: CompareResult, rev: Revision) -> Compare {
    Compare {
        result: result as i32,
        target: target as i32,
        key: key.as_bytes().to_vec(),
        range_end: Vec::new(),
        target_union: Some(match target {
            CompareTarget::Create => TargetUnion::CreateRevision(rev),
            _ => TargetUnion::ModRevision(rev),
        }),
    }
}

fn put_op(key: &str, value: Bytes, prev_kv: bool) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestPut(PutRequest {
            key: key.as_bytes().to_vec(),
            value: value.to_vec(),
            prev_kv,
            ..Default::default()
        })),
    }
}

fn range_op(key: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestRange(RangeRequest {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        })),
    }
}

/// Why a compare-and-swap transaction failed, from the Range in its failure branch.
fn cas_failure(key: &str, expected: Revision, resp: TxnResponse) -> StoreError {
    let current = match resp.responses.into_iter().next().and_then(|r| r.response) {
        Some(OpResponse::ResponseRange(r)) => r.kvs.into_iter().next(),
        _ => None,
    };
    match current {
        None => StoreError::NotFound { key: key.into() },
        Some(kv) => StoreError::Conflict {
            key: key.into(),
            expected,
            actual: kv.mod_revision,
        },
    }
}

fn header_revision(
    header: Option<&podcheck_protos::etcd::etcdserverpb::ResponseHeader>,
) -> Result<Revision, StoreError> {
    header
        .map(|h| h.revision)
        .ok_or_else(|| backend("etcd response without a header".to_string()))
}

fn request<T>(msg: T, timeout: Duration) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    // Sent as grpc-timeout: etcd gives up too when the deadline passes.
    req.set_timeout(timeout);
    req
}

/// Runs one unary call with a deadline on this side as well.
async fn deadline<T>(
    timeout: Duration,
    what: &str,
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(resp)) => Ok(resp.into_inner()),
        Ok(Err(status)) => Err(status_error(what, status)),
        Err(_) => Err(timed_out(what, timeout)),
    }
}

fn timed_out(what: &str, timeout: Duration) -> StoreError {
    backend(format!("etcd {what} timed out after {timeout:?}"))
}

/// etcd's revision errors (`ErrCompacted`, `ErrFutureRev`: OutOfRange with a known message)
/// become the store's; the caller fills in the revisions. Everything else is a backend error.
fn status_error(what: &str, status: Status) -> StoreError {
    let message = status.message();
    if status.code() == Code::OutOfRange {
        if message.contains("required revision has been compacted") {
            return StoreError::Compacted {
                requested: 0,
                compacted: 0,
            };
        }
        if message.contains("required revision is a future revision") {
            return StoreError::FutureRevision {
                requested: 0,
                current: 0,
            };
        }
    }
    backend(format!("etcd {what}: {:?}: {message}", status.code()))
}

fn backend(message: String) -> StoreError {
    StoreError::Backend { message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_range_increments_the_last_byte() {
        assert_eq!(
            prefix_range("/registry/pods/"),
            (b"/registry/pods/".to_vec(), b"/registry/pods0".to_vec())
        );
        assert_eq!(prefix_range(""), (vec![0], vec![0]));
        assert_eq!(
            prefix_range("a\u{7f}"),
            (b"a\x7f".to_vec(), b"a\x80".to_vec())
        );
    }
}
