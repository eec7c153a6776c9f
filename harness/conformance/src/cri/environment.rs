//! The runtime under test: a socket the user names, or podcheck's own containerd on a
//! bridge and /24 of its own, started for the run and removed with everything it made.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;
use podcheck_core::result::ComponentUnderTest;
use podcheck_host::error_chain;
use podcheck_host::run_dir::{RUN_ROOT, unique_name};
use podcheck_node::cri::client::{self, CriClient};
use podcheck_node::cri::{ContainerdOptions, ContainerdProcess};
use podcheck_node::network::{ConflistTemplate, NodeNetwork, NodeNetworkOptions};
use podcheck_protos::cri::v1::{VersionRequest, VersionResponse};

use crate::ConformanceError;

/// How long connecting to a socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default deadline of a CRI call.
pub(crate) const CALL_TIMEOUT: Duration = client::DEFAULT_CALL_TIMEOUT;

/// What reports call the containerd podcheck starts for a suite (its socket's path changes
/// with every run).
pub const OWN_NAME: &str = "containerd (started by podcheck)";

/// A CRI runtime to check, and what podcheck started for it.
pub struct RuntimeUnderTest {
    /// What the user named (the socket path), for reports.
    name: String,
    socket: PathBuf,
    /// The connection, or why there is none.
    client: Result<CriClient, String>,
    /// The answer to Version at connection time, if it answered.
    version: Option<VersionResponse>,
    cgroup_parent: String,
    subnet: Option<Ipv4Net>,
    own: Option<Own>,
}

/// podcheck's own containerd, its network and its run directory; a run that is dropped
/// half-way (cancelled) still removes them, synchronously.
struct Own {
    containerd: Option<ContainerdProcess>,
    network: Option<NodeNetwork>,
    dir: PathBuf,
}

impl Drop for Own {
    fn drop(&mut self) {
        // containerd first (its sandboxes use the network), then the bridge, then the files.
        drop(self.containerd.take());
        drop(self.network.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RuntimeUnderTest {
    /// The runtime listening at `socket`. A socket that exists but does not answer CRI
    /// Version is not an error here: every case then fails its `cri.connect` check.
    pub async fn connect(socket: &Path) -> Result<RuntimeUnderTest, ConformanceError> {
        if !socket.exists() {
            return Err(ConformanceError::Unavailable {
                what: format!("the CRI socket {}", socket.display()),
                why: "no such file".into(),
            });
        }
        let client = client::connect(socket, CONNECT_TIMEOUT)
            .await
            .map(|channel| CriClient::new(channel, CALL_TIMEOUT))
            .map_err(|e| error_chain(&e));
        // The kubelet calls Version first and gives up on a runtime that does not answer it:
        // so does every case.
        let (client, version) = match client {
            Ok(c) => match version(&c).await {
                Ok(v) => (Ok(c), Some(v)),
                Err(e) => (Err(super::describe(&e)), None),
            },
            Err(e) => (Err(e), None),
        };
        Ok(RuntimeUnderTest {
            name: socket.display().to_string(),
            socket: socket.to_path_buf(),
            client,
            version,
            cgroup_parent: String::new(),
            subnet: None,
            own: None,
        })
    }

    /// Starts podcheck's own containerd (with the pause and busybox images imported) on a
    /// bridge of its own, in `/run/podcheck/cp-OWNER-N`.
    pub async fn start_own() -> Result<RuntimeUnderTest, ConformanceError> {
        let missing = podcheck_node::real_runtime_missing();
        if !missing.is_empty() {
            return Err(ConformanceError::CannotRunHere {
                what: "podcheck's own containerd".into(),
                missing,
            });
        }
        // A real node's run dir: the next control plane sweeps it if this process dies.
        let dir = Path::new(RUN_ROOT).join(unique_name(podcheck_node::RUN_DIR_PREFIX));
        std::fs::create_dir_all(&dir).map_err(|source| ConformanceError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        // From here on the guard removes what exists, also when this future is dropped
        // half-way (a cancelled run).
        let mut own = Own {
            containerd: None,
            network: None,
            dir: dir.clone(),
        };
        let network = NodeNetwork::setup(NodeNetworkOptions::new(
            dir.join("net"),
            ConflistTemplate::Builtin,
        ))
        .await
        .map_err(|e| ConformanceError::Start {
            what: "the pod network".into(),
            message: error_chain(&e),
        })?;
        let conf_dir = network.conf_dir().to_path_buf();
        let subnet = network.subnet();
        own.network = Some(network);
        let containerd =
            ContainerdProcess::start(ContainerdOptions::new(dir.join("containerd"), conf_dir))
                .await
                .map_err(|e| ConformanceError::Start {
                    what: "podcheck's containerd".into(),
                    message: error_chain(&e),
                })?;
        let runtime = RuntimeUnderTest {
            name: OWN_NAME.into(),
            socket: containerd.socket().to_path_buf(),
            client: Ok(CriClient::new(containerd.channel(), CALL_TIMEOUT)),
            version: Some(containerd.version().clone()),
            cgroup_parent: containerd.cgroup_parent().to_string(),
            subnet: Some(subnet),
            own: None,
        };
        own.containerd = Some(containerd);
        Ok(RuntimeUnderTest {
            own: Some(own),
            ..runtime
        })
    }

    /// The CRI client, or why the socket could not be connected.
    pub fn client(&self) -> Result<&CriClient, &str> {
        self.client.as_ref().map_err(String::as_str)
    }

    /// The socket the runtime answers on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// What reports call it: the socket path the user gave, or podcheck's containerd.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Version's answer at connection time.
    pub fn version(&self) -> Option<&VersionResponse> {
        self.version.as_ref()
    }

    /// The provider of evidence: `containerd 1.6.20~ds1`, or the socket when Version did
    /// not answer.
    pub fn provider(&self) -> String {
        match &self.version {
            Some(v) => super::provider_name(v),
            None => self.name.clone(),
        }
    }

    /// The component under test, with the version it reported.
    pub fn component(&self) -> ComponentUnderTest {
        super::component(&self.name, self.version.as_ref())
    }

    /// The cgroup parent sandboxes get (podcheck's containerd's own; the runtime's default
    /// for a socket the user gave).
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// The pod subnet sandbox IPs must come from, where podcheck knows it.
    pub fn subnet(&self) -> Option<Ipv4Net> {
        self.subnet
    }

    /// Stops what podcheck started: containerd (its sandboxes, shims, mounts, cgroups), the
    /// bridge and its nftables table, and the run directory. Nothing for a user's socket.
    pub async fn shutdown(self) {
        if let Some(mut own) = self.own {
            if let Some(containerd) = own.containerd.take() {
                containerd.shutdown().await;
            }
            if let Some(network) = own.network.take()
                && let Err(e) = network.teardown().await
            {
                tracing::warn!(error = %e, "removing the CRI suite's pod network");
            }
            // Drop removes the directory.
        }
    }
}

/// The runtime's Version answer.
pub(crate) async fn version(
    c: &CriClient,
) -> Result<VersionResponse, podcheck_node::cri::CriError> {
    c.call(
        "Version",
        c.runtime().version(c.request(VersionRequest {
            version: "v1".into(),
        })),
    )
    .await
}
