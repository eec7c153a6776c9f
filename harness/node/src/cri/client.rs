//! A CRI v1 client on containerd's unix socket; every call has a deadline.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use podcheck_protos::cri::v1::image_service_client::ImageServiceClient;
use podcheck_protos::cri::v1::runtime_service_client::RuntimeServiceClient;
use podcheck_protos::cri::v1::{
    ImageSpec, NamespaceMode, NamespaceOption, RemovePodSandboxRequest, StopPodSandboxRequest,
};
use tonic::transport::{Channel, Endpoint};

use super::CriError;

/// The deadline of a CRI call unless the caller gives another.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a gRPC channel to the unix socket at `socket` (connected before this returns;
/// `timeout` bounds this and every later reconnection). The channel sets no deadline of its
/// own: each call brings one ([`request`], [`call`]).
pub async fn connect(socket: &Path, timeout: Duration) -> Result<Channel, CriError> {
    let path: PathBuf = socket.to_path_buf();
    let connector = tower::service_fn(move |_: http::Uri| {
        let path = path.clone();
        async move {
            let stream = tokio::net::UnixStream::connect(path).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    // The URI is never resolved: the connector above opens the socket.
    let endpoint = Endpoint::from_static("http://containerd.invalid").connect_timeout(timeout);
    match tokio::time::timeout(timeout, endpoint.connect_with_connector(connector)).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(source)) => Err(CriError::Connect {
            socket: socket.to_path_buf(),
            source,
        }),
        Err(_) => Err(CriError::Timeout {
            call: "connect",
            after: timeout,
        }),
    }
}

/// A request whose `grpc-timeout` tells containerd to give up too when the deadline passes.
pub fn request<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.set_timeout(timeout);
    req
}

/// Awaits a unary call for at most `timeout`; the status becomes [`CriError::Call`].
pub async fn call<T>(
    what: &'static str,
    timeout: Duration,
    fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, CriError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(CriError::Call {
            call: what,
            code: status.code(),
            message: status.message().to_string(),
        }),
        Err(_) => Err(CriError::Timeout {
            call: what,
            after: timeout,
        }),
    }
}

/// The runtime and image services of one CRI endpoint.
#[derive(Debug, Clone)]
pub struct CriClient {
    channel: Channel,
    timeout: Duration,
}

impl CriClient {
    /// Connects to the socket; calls made through [`call`](Self::call) get `timeout`.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<Self, CriError> {
        Ok(CriClient {
            channel: connect(socket, timeout).await?,
            timeout,
        })
    }

    /// A client over an existing channel.
    pub fn new(channel: Channel, timeout: Duration) -> Self {
        CriClient { channel, timeout }
    }

    /// The default deadline of a call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn runtime(&self) -> RuntimeServiceClient<Channel> {
        RuntimeServiceClient::new(self.channel.clone())
    }

    pub fn images(&self) -> ImageServiceClient<Channel> {
        ImageServiceClient::new(self.channel.clone())
    }

    /// A request with the default deadline.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        request(message, self.timeout)
    }

    /// Awaits a call with the default deadline.
    pub async fn call<T>(
        &self,
        what: &'static str,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, CriError> {
        call(what, self.timeout, fut).await
    }

    /// StopPodSandbox, within `timeout` (stopping runs CNI DEL and kills the containers).
    pub async fn stop_sandbox(&self, id: &str, timeout: Duration) -> Result<(), CriError> {
        let request = StopPodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        };
        let mut runtime = self.runtime();
        let stopped = runtime.stop_pod_sandbox(self::request(request, timeout));
        call("StopPodSandbox", timeout, stopped).await.map(drop)
    }

    /// RemovePodSandbox, within `timeout`.
    pub async fn remove_sandbox(&self, id: &str, timeout: Duration) -> Result<(), CriError> {
        let request = RemovePodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        };
        let mut runtime = self.runtime();
        let removed = runtime.remove_pod_sandbox(self::request(request, timeout));
        call("RemovePodSandbox", timeout, removed).await.map(drop)
    }
}

/// An image by reference, as the kubelet names it.
pub fn image_spec(image: &str) -> ImageSpec {
    ImageSpec {
        image: image.to_string(),
        ..Default::default()
    }
}

/// Namespaces as the kubelet asks for them: the pod's network and IPC, a PID namespace per
/// container.
pub fn pod_namespaces() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Pod as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}
