//! A private containerd for one node: its own root, state, socket, runc root, cgroup parent
//! and pod logs, all under one directory the caller gives, and no trace left once it is shut
//! down or dropped.
//!
//! Registry pulls never leave the machine: containerd runs with `HTTP(S)_PROXY` pointing at
//! a loopback port that is bound but never listens, so a pull of an image that was not
//! imported fails at once with containerd's own "connection refused" message (requests to
//! loopback registries are not proxied by Go, and still work).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use podcheck_protos::cri::v1::{
    ImageSpec, ImageStatusRequest, ListPodSandboxRequest, PullImageRequest, VersionRequest,
    VersionResponse,
};
use tonic::transport::Channel;

use super::CriError;
use super::cleanup::{CGROUP_FILE, CGROUP_PREFIX, OWNER_FILE, clean_up, sweep_stale};
use super::client::{self, CriClient};
use super::runtime::CriRuntime;
use crate::images::{self, BuiltImage, ImageArchive, ImageRecipe};
use crate::runtime::Implementation;
use podcheck_host::error_chain;
use podcheck_host::owner::Owner;
use podcheck_host::prerequisite::{self, Missing};

/// Where Debian's `containerd` puts the daemon.
pub const DEFAULT_CONTAINERD_BINARY: &str = "/usr/bin/containerd";
/// Where Debian's `containernetworking-plugins` puts the CNI plugins.
pub const DEFAULT_CNI_BIN_DIR: &str = "/usr/lib/cni";
/// containerd's command-line client, used to import image archives.
pub const CTR_BINARY: &str = "/usr/bin/ctr";
/// Where runc may be (Debian: `/usr/sbin/runc`).
pub const RUNC_BINARIES: [&str; 2] = ["/usr/sbin/runc", "/usr/bin/runc"];
/// The containerd namespace of the CRI plugin.
pub const K8S_NAMESPACE: &str = "k8s.io";
/// The snapshotter used when overlayfs works under the directory.
pub const SNAPSHOTTER_OVERLAYFS: &str = "overlayfs";
/// The fallback when it does not.
pub const SNAPSHOTTER_NATIVE: &str = "native";

const SETPRIV: &str = "/usr/bin/setpriv";

/// How long containerd has to answer Version after being spawned.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long containerd has to exit after SIGTERM before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// The deadline of one `ctr images import`.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(60);
/// The deadline of `runc --version`.
const RUNC_VERSION_TIMEOUT: Duration = Duration::from_secs(5);
/// The deadline of each CRI call made while starting or stopping.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What a [`ContainerdProcess`] needs.
#[derive(Debug, Clone)]
pub struct ContainerdOptions {
    /// A fresh directory for this containerd (absent or empty), such as
    /// `/run/podcheck/<id>/node-1`. It gets `root/`, `state/`, `runc/`, `pod-logs/`,
    /// `images/`, `config.toml`, `containerd.sock` and `containerd.log`, and is removed on
    /// shutdown.
    pub dir: PathBuf,
    /// The CNI configuration directory containerd watches (the first conflist is used).
    pub cni_conf_dir: PathBuf,
    /// The CNI plugin binaries ([`DEFAULT_CNI_BIN_DIR`]).
    pub cni_bin_dir: PathBuf,
    /// The containerd binary ([`DEFAULT_CONTAINERD_BINARY`]).
    pub binary: PathBuf,
    /// podcheck's image registry on loopback. When given, containerd pulls every image of
    /// [`MIRRORED_REGISTRIES`] from it (the sandbox image at start, the pods' images when the
    /// kubelet asks) and nothing is imported; when absent, the built-in images are imported.
    pub registry: Option<SocketAddr>,
}

pub use crate::images::catalog::MIRRORED_REGISTRIES;

impl ContainerdOptions {
    /// Options with the Debian locations of containerd and the CNI plugins.
    pub fn new(dir: impl Into<PathBuf>, cni_conf_dir: impl Into<PathBuf>) -> Self {
        ContainerdOptions {
            dir: dir.into(),
            cni_conf_dir: cni_conf_dir.into(),
            cni_bin_dir: DEFAULT_CNI_BIN_DIR.into(),
            binary: DEFAULT_CONTAINERD_BINARY.into(),
            registry: None,
        }
    }
}

/// How long the parts of [`ContainerdProcess::start`] took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartTimings {
    /// From the call to the end of the image imports.
    pub total: Duration,
    /// From spawning containerd to its first answered Version call.
    pub ready: Duration,
    /// Building the image archives (overlapped with the daemon's start-up).
    pub build_images: Duration,
    /// `ctr images import` of both images, until the CRI plugin saw the sandbox image; or,
    /// with a registry, the CRI pull of the sandbox image.
    pub import_images: Duration,
}

/// A running containerd, stopped (and everything it made removed) on
/// [`shutdown`](Self::shutdown) or drop.
#[derive(Debug)]
pub struct ContainerdProcess {
    child: Option<Child>,
    pid: u32,
    dir: PathBuf,
    socket: PathBuf,
    cgroup_parent: String,
    log_root: PathBuf,
    snapshotter: &'static str,
    version: VersionResponse,
    runc_version: String,
    images: Vec<BuiltImage>,
    sandbox_image: String,
    channel: Channel,
    timings: StartTimings,
    /// How to start the daemon again.
    daemon: Daemon,
    /// Holds the loopback port containerd's registry proxy points at: bound, never
    /// listening, so every proxied connection is refused and no other process gets it.
    _proxy_sink: Option<tokio::net::TcpSocket>,
    torn_down: bool,
}

/// Whether the real runtime can run on this machine; the error names what is missing (and
/// the Debian package that has it) in one sentence.
pub fn usable() -> Result<(), String> {
    let missing = missing();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the real container runtime cannot run here: it needs {}.",
        prerequisite::sentence(&missing)
    ))
}

/// What the real runtime needs and this machine lacks.
pub fn missing() -> Vec<Missing> {
    let mut missing = Vec::new();
    if !Path::new(DEFAULT_CONTAINERD_BINARY).is_file() {
        missing.push(Missing::new(
            format!("containerd at {DEFAULT_CONTAINERD_BINARY} (Debian package `containerd`)"),
            Some("containerd"),
        ));
    }
    if !Path::new(CTR_BINARY).is_file() {
        missing.push(Missing::new(
            format!("ctr at {CTR_BINARY} (Debian package `containerd`)"),
            Some("containerd"),
        ));
    }
    if runc_binary().is_none() {
        missing.push(Missing::new(
            format!(
                "runc at {} or {} (Debian package `runc`)",
                RUNC_BINARIES[0], RUNC_BINARIES[1]
            ),
            Some("runc"),
        ));
    }
    missing.extend(Missing::root());
    if !overlay_available() {
        missing.push(Missing::new(
            "the overlay filesystem (kernel module `overlay`)",
            None,
        ));
    }
    missing
}

/// The runc binary, if installed.
pub fn runc_binary() -> Option<PathBuf> {
    RUNC_BINARIES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn overlay_available() -> bool {
    let listed = std::fs::read_to_string("/proc/filesystems").is_ok_and(|s| {
        s.lines()
            .any(|l| l.split_whitespace().last() == Some("overlay"))
    });
    if listed {
        return true;
    }
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let dir = PathBuf::from(format!(
        "/lib/modules/{}/kernel/fs/overlayfs",
        release.trim()
    ));
    std::fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("overlay.ko")))
    })
}

impl ContainerdProcess {
    /// Starts containerd in `opts.dir`, waits (up to 20 s) until its CRI plugin answers, and
    /// pulls the sandbox image from `opts.registry` (or, without one, imports the pause and
    /// busybox images). Leftovers of podcheck containerds whose owner
    /// process is gone (in sibling directories, or in directories beside the parent) are
    /// removed first.
    ///
    /// containerd gets SIGKILL when the thread that spawns it ends (setpriv's parent-death
    /// signal), so no containerd outlives a killed podcheck: await this on a runtime worker
    /// or the main thread, never on a blocking-pool thread (those end when idle).
    pub async fn start(opts: ContainerdOptions) -> Result<Self, CriError> {
        // Boxed: the start is a large future (images, config, the CRI waits), and callers
        // nest it in theirs; on the heap it costs their stacks nothing.
        Box::pin(Self::start_unboxed(opts)).await
    }

    async fn start_unboxed(opts: ContainerdOptions) -> Result<Self, CriError> {
        let began = Instant::now();
        for (what, path) in [
            ("containerd", opts.binary.as_path()),
            ("ctr", Path::new(CTR_BINARY)),
        ] {
            if !path.is_file() {
                return Err(CriError::Unusable(format!(
                    "no {what} binary at {} (Debian package `containerd`)",
                    path.display()
                )));
            }
        }
        let runc = runc_binary().ok_or_else(|| {
            CriError::Unusable(format!(
                "no runc at {} or {} (Debian package `runc`)",
                RUNC_BINARIES[0], RUNC_BINARIES[1]
            ))
        })?;
        if !opts.dir.is_absolute() {
            return Err(CriError::Unusable(format!(
                "containerd's directory must be an absolute path, not {}",
                opts.dir.display()
            )));
        }
        sweep_stale(&opts.dir);
        prepare_dir(&opts.dir)?;
        // From here on, a failure cleans up what was made (Drop of `guard`).
        let cgroup_parent = format!(
            "{CGROUP_PREFIX}{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let mut guard = Partial {
            dir: opts.dir.clone(),
            socket: opts.dir.join("containerd.sock"),
            cgroup_parent: cgroup_parent.clone(),
            child: None,
            armed: true,
        };
        write_file(&opts.dir.join(OWNER_FILE), &Owner::this().stamp())?;
        write_file(&opts.dir.join(CGROUP_FILE), &cgroup_parent)?;
        let dir = opts.dir.clone();
        let socket = guard.socket.clone();
        let log_root = dir.join("pod-logs");
        for sub in ["root", "state", "runc", "images", "pod-logs"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| CriError::io(format!("creating {}", dir.join(sub).display()), e))?;
        }
        std::fs::create_dir_all(&opts.cni_conf_dir)
            .map_err(|e| CriError::io(format!("creating {}", opts.cni_conf_dir.display()), e))?;

        let pause = images::builtin_recipe("pause")?;
        let busybox = images::builtin_recipe("busybox")?;
        let sandbox_image = pause.reference.clone();
        let images_dir = dir.join("images");
        let imported = if opts.registry.is_some() {
            Vec::new()
        } else {
            vec![("pause", pause), ("busybox", busybox)]
        };
        let build = tokio::task::spawn_blocking(move || {
            let began = Instant::now();
            let built = imported
                .into_iter()
                .map(|(name, recipe)| write_image(&recipe, &images_dir.join(format!("{name}.tar"))))
                .collect::<Result<Vec<_>, _>>();
            (built, began.elapsed())
        });
        let runc_version = tokio::spawn(runc_version(runc.clone()));

        let snapshotter = match probe_overlay(&dir) {
            Ok(()) => SNAPSHOTTER_OVERLAYFS,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "overlayfs does not work here; containerd uses the native snapshotter");
                SNAPSHOTTER_NATIVE
            }
        };
        let proxy_sink = tokio::net::TcpSocket::new_v4()
            .and_then(|s| {
                s.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
                Ok(s)
            })
            .map_err(|e| CriError::io("reserving a loopback port for the registry proxy", e))?;
        let proxy = format!(
            "http://{}",
            proxy_sink
                .local_addr()
                .map_err(|e| CriError::io("reading the reserved port", e))?
        );
        let registry_config = match opts.registry {
            Some(addr) => Some(write_hosts(&dir.join("certs.d"), addr)?),
            None => None,
        };
        let config = Config {
            registry_config: registry_config.as_deref(),
            dir: &dir,
            socket: &socket,
            sandbox_image: &sandbox_image,
            snapshotter,
            runc: &runc,
            cni_bin_dir: &opts.cni_bin_dir,
            cni_conf_dir: &opts.cni_conf_dir,
        }
        .render();
        let config_path = dir.join("config.toml");
        write_file(&config_path, &config)?;

        let log_path = dir.join("containerd.log");
        let daemon = Daemon {
            binary: opts.binary.clone(),
            config: config_path,
            proxy,
            log: log_path.clone(),
        };
        let spawned_at = Instant::now();
        let child = daemon.spawn(false)?;
        let pid = child.id();
        guard.child = Some(child);

        let ready = wait_ready(&socket, guard.child.as_mut()).await;
        let (channel, version) = match ready {
            Ok(v) => v,
            Err(e) => return Err(start_failed(e, &log_path)),
        };
        let ready_in = spawned_at.elapsed();

        let (built, build_took) = build
            .await
            .map_err(|e| CriError::Start(format!("the image build task failed: {e}")))?;
        let built = built?;
        let import_began = Instant::now();
        // One at a time: concurrent imports contend for ctr's fixed ingest ref
        // (`tar-index.json`), and the loser backs off for hundreds of milliseconds.
        for image in &built {
            if let Err(e) = import(&socket, snapshotter, image).await {
                return Err(start_failed(e, &log_path));
            }
        }
        let cri = CriClient::new(channel.clone(), CALL_TIMEOUT);
        let present = if opts.registry.is_some() {
            pull_sandbox_image(&cri, &sandbox_image).await
        } else {
            wait_image(&cri, &sandbox_image).await
        };
        if let Err(e) = present {
            return Err(start_failed(e, &log_path));
        }
        let import_took = import_began.elapsed();
        let runc_version = runc_version
            .await
            .map_err(|e| CriError::Start(format!("the runc --version task failed: {e}")))??;

        let timings = StartTimings {
            total: began.elapsed(),
            ready: ready_in,
            build_images: build_took,
            import_images: import_took,
        };
        tracing::debug!(pid, dir = %dir.display(), ?timings, snapshotter, "containerd ready");
        let child = guard.child.take();
        guard.armed = false;
        Ok(ContainerdProcess {
            child,
            pid,
            dir,
            socket,
            cgroup_parent,
            log_root,
            snapshotter,
            version,
            runc_version,
            images: built,
            sandbox_image,
            channel,
            timings,
            daemon,
            _proxy_sink: Some(proxy_sink),
            torn_down: false,
        })
    }

    /// SIGKILL to the daemon alone (a `runtimeKilled` fault): its shims, and the containers
    /// they run, keep running, as when containerd crashes.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the daemon was killed ([`Self::kill`]) and not started again.
    pub fn killed(&self) -> bool {
        self.child.is_none() && !self.torn_down
    }

    /// Starts a killed daemon again on the same directory, state and socket; returns once
    /// its CRI answers. Clients' channels connect to it again on their next call.
    pub async fn restart(&mut self) -> Result<(), CriError> {
        if !self.killed() {
            return Ok(());
        }
        let mut child = self.daemon.spawn(true)?;
        let ready = wait_ready(&self.socket, Some(&mut child)).await;
        // Kept even when it failed to answer, so that teardown stops it.
        self.pid = child.id();
        self.child = Some(child);
        ready
            .map(|_| ())
            .map_err(|e| start_failed(e, &self.daemon.log))
    }

    /// The directory holding everything of this containerd.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CRI (and containerd API) socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's process id (setpriv's, which execs containerd).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The cgroup parent for this containerd's sandboxes (`/podcheck-…`, cgroupfs style):
    /// RunPodSandbox gets it as `linux.cgroup_parent`, and shutdown removes it in every
    /// controller.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// Where the pod log directories live (the kubelet's `/var/log/pods/X` becomes
    /// `LOG_ROOT/X`).
    pub fn log_root(&self) -> &Path {
        &self.log_root
    }

    /// `overlayfs`, or `native` where overlayfs does not work under the directory.
    pub fn snapshotter(&self) -> &'static str {
        self.snapshotter
    }

    /// The answer to CRI Version (`runtime_version` is containerd's, e.g. `1.6.20~ds1`).
    pub fn version(&self) -> &VersionResponse {
        &self.version
    }

    /// runc's version (`1.1.5+ds1`), from the first line of `runc --version`.
    pub fn runc_version(&self) -> &str {
        &self.runc_version
    }

    /// `CONTAINERD_VERSION (runc RUNC_VERSION)`, the provider version.
    pub fn provider_version(&self) -> String {
        format!(
            "{} (runc {})",
            self.version.runtime_version, self.runc_version
        )
    }

    /// The images imported at start (pause first, then busybox).
    pub fn images(&self) -> &[BuiltImage] {
        &self.images
    }

    /// The sandbox (pause) image's reference, as configured in the CRI plugin.
    pub fn sandbox_image(&self) -> &str {
        &self.sandbox_image
    }

    /// A channel to the CRI socket (cheap to clone).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// How long [`start`](Self::start) took, including the image imports.
    pub fn started_in(&self) -> Duration {
        self.timings.total
    }

    /// The parts of the start-up.
    pub fn timings(&self) -> StartTimings {
        self.timings
    }

    /// A CRI runtime on this containerd; `network` is the provider of the CNI plugins its
    /// configuration directory names.
    pub fn runtime(&self, network: Implementation) -> CriRuntime {
        CriRuntime::new(self, network)
    }

    /// Stops and removes every pod sandbox through CRI, then stops containerd (SIGTERM,
    /// SIGKILL after 3 s), kills its shims and whatever is left in its cgroups, unmounts
    /// everything under the directory, removes its cgroups and the directory.
    pub async fn shutdown(mut self) {
        let alive = self
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        if alive {
            let cri = CriClient::new(self.channel.clone(), CALL_TIMEOUT);
            remove_all_sandboxes(&cri).await;
        }
        let done = tokio::task::spawn_blocking(move || {
            self.teardown();
            self
        })
        .await;
        // Should the blocking task itself have failed, Drop of the moved value still tears
        // down.
        drop(done);
    }

    /// Idempotent and synchronous: everything but the CRI calls of `shutdown`.
    fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        if let Some(mut child) = self.child.take() {
            podcheck_host::process::terminate(&mut child, STOP_GRACE);
        }
        clean_up(&self.dir, &self.socket, &self.cgroup_parent);
        self._proxy_sink = None;
    }
}

impl Drop for ContainerdProcess {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// How the daemon is started: again, after a `runtimeKilled` fault, exactly as at first.
#[derive(Debug)]
struct Daemon {
    binary: PathBuf,
    config: PathBuf,
    /// The loopback address no registry proxy listens on (see `_proxy_sink`).
    proxy: String,
    log: PathBuf,
}

impl Daemon {
    /// Spawns containerd with its config; its output goes to the log (appended to when
    /// `append`, as after a restart).
    fn spawn(&self, append: bool) -> Result<Child, CriError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&self.log)
            .map_err(|e| CriError::io(format!("opening {}", self.log.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| CriError::io("cloning the log file handle", e))?;
        // setpriv's PR_SET_PDEATHSIG kills containerd when the thread that spawned it dies
        // (setting it ourselves would need unsafe code). It is spawned here, on the caller's
        // thread, not on a blocking-pool thread that would exit when idle.
        let mut command = if Path::new(SETPRIV).is_file() {
            let mut c = Command::new(SETPRIV);
            c.args(["--pdeathsig", "KILL", "--"]).arg(&self.binary);
            c
        } else {
            Command::new(&self.binary)
        };
        let path_env = match std::env::var("PATH") {
            Ok(p) if !p.is_empty() => {
                format!("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{p}")
            }
            _ => "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        };
        command
            .arg("--config")
            .arg(&self.config)
            .env("PATH", path_env)
            .env("HTTP_PROXY", &self.proxy)
            .env("HTTPS_PROXY", &self.proxy)
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| CriError::io(format!("starting {}", self.binary.display()), e))
    }
}

/// What `start` made so far, removed if it fails.
struct Partial {
    dir: PathBuf,
    socket: PathBuf,
    cgroup_parent: String,
    child: Option<Child>,
    armed: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(mut child) = self.child.take() {
            podcheck_host::process::terminate(&mut child, STOP_GRACE);
        }
        clean_up(&self.dir, &self.socket, &self.cgroup_parent);
    }
}

/// The start error, with the tail of containerd's log.
fn start_failed(e: CriError, log_path: &Path) -> CriError {
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    CriError::Start(format!(
        "{}; containerd's log ({}) ends:\n{}",
        error_chain(&e),
        log_path.display(),
        tail.join("\n")
    ))
}

/// Image archives built in this process, by recipe: every node imports the same bytes.
static ARCHIVES: Mutex<Vec<(ImageRecipe, Arc<ImageArchive>)>> = Mutex::new(Vec::new());

/// Writes the recipe's image archive to `out`, building it once per process.
fn write_image(recipe: &ImageRecipe, out: &Path) -> Result<BuiltImage, CriError> {
    // Held while building, so nodes started together build each image once.
    let archive = {
        let mut archives = ARCHIVES.lock().unwrap_or_else(|e| e.into_inner());
        match archives.iter().find(|(r, _)| r == recipe) {
            Some((_, archive)) => archive.clone(),
            None => {
                let archive = Arc::new(images::build_archive(recipe)?);
                archives.push((recipe.clone(), archive.clone()));
                archive
            }
        }
    };
    std::fs::write(out, &archive.bytes)
        .map_err(|e| CriError::io(format!("writing {}", out.display()), e))?;
    Ok(BuiltImage {
        reference: archive.reference.clone(),
        manifest_digest: archive.manifest_digest.clone(),
        config_digest: archive.config_digest.clone(),
        layer_digest: archive.layer_digest.clone(),
        layer_diff_id: archive.layer_diff_id.clone(),
        path: out.to_path_buf(),
    })
}

/// `dir` must be absent or empty; it is created.
fn prepare_dir(dir: &Path) -> Result<(), CriError> {
    if let Ok(mut entries) = std::fs::read_dir(dir)
        && entries.next().is_some()
    {
        return Err(CriError::Unusable(format!(
            "containerd's directory {} is not empty",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| CriError::io(format!("creating {}", dir.display()), e))
}

fn write_file(path: &Path, contents: &str) -> Result<(), CriError> {
    std::fs::write(path, contents)
        .map_err(|e| CriError::io(format!("writing {}", path.display()), e))
}

/// Mounts a throwaway overlay under `dir`: the overlayfs snapshotter needs it to work there.
fn probe_overlay(dir: &Path) -> Result<(), String> {
    let probe = dir.join(".overlay-probe");
    let result = (|| {
        for sub in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(probe.join(sub)).map_err(|e| e.to_string())?;
        }
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            probe.join("lower").display(),
            probe.join("upper").display(),
            probe.join("work").display()
        );
        let data = std::ffi::CString::new(data).map_err(|e| e.to_string())?;
        let merged = probe.join("merged");
        rustix::mount::mount(
            "overlay",
            &merged,
            "overlay",
            rustix::mount::MountFlags::empty(),
            data.as_c_str(),
        )
        .map_err(|e| format!("mounting an overlay: {e}"))?;
        let written = std::fs::write(merged.join("probe"), "x").map_err(|e| e.to_string());
        rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH)
            .map_err(|e| format!("unmounting the probe overlay: {e}"))?;
        written
    })();
    let _ = std::fs::remove_dir_all(&probe);
    result
}

/// Writes `DIR/<registry>/hosts.toml` for each of [`MIRRORED_REGISTRIES`], and returns
/// `DIR`, containerd's `config_path`.
fn write_hosts(dir: &Path, registry: SocketAddr) -> Result<PathBuf, CriError> {
    for upstream in MIRRORED_REGISTRIES {
        let host_dir = dir.join(upstream);
        std::fs::create_dir_all(&host_dir)
            .map_err(|e| CriError::io(format!("creating {}", host_dir.display()), e))?;
        write_file(
            &host_dir.join("hosts.toml"),
            &hosts_toml(upstream, registry),
        )?;
    }
    Ok(dir.to_path_buf())
}

/// One registry's `hosts.toml`: pulls of `upstream/…` go to `http://REGISTRY/v2/upstream/…`.
///
/// The loopback registry is the `server` as well as the one `host`: were the upstream the
/// server, containerd would fall back to it after the registry's 404, and the pull's error
/// would be the unreachable upstream's instead of the registry's "not found". (containerd
/// 1.6 also refuses a hosts.toml without a `host` table.) Requests to loopback bypass
/// `HTTP(S)_PROXY`.
fn hosts_toml(upstream: &str, registry: SocketAddr) -> String {
    let server = toml_string(&format!("http://{registry}/v2/{upstream}"));
    format!(
        "# Written by podcheck: {upstream} is served by podcheck's registry on loopback.\n\
         server = {server}\n\
         override_path = true\n\
         capabilities = [\"pull\", \"resolve\"]\n\
         \n\
         [host.{server}]\n\
         \x20 capabilities = [\"pull\", \"resolve\"]\n\
         \x20 override_path = true\n"
    )
}

/// CRI PullImage of the sandbox image, as `kubeadm config images pull` does before a
/// node's first pod.
async fn pull_sandbox_image(cri: &CriClient, image: &str) -> Result<(), CriError> {
    let pull = client::call(
        "PullImage",
        IMPORT_TIMEOUT,
        cri.images().pull_image(client::request(
            PullImageRequest {
                image: Some(ImageSpec {
                    image: image.to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            IMPORT_TIMEOUT,
        )),
    )
    .await;
    pull.map(|_| ()).map_err(|e| {
        CriError::Start(format!(
            "pulling the sandbox image {image} from podcheck's registry failed: {}",
            error_chain(&e)
        ))
    })
}

/// The containerd configuration (version 2, for containerd 1.6).
struct Config<'a> {
    /// containerd's registry `config_path` (the `hosts.toml` directory), if any.
    registry_config: Option<&'a Path>,
    dir: &'a Path,
    socket: &'a Path,
    sandbox_image: &'a str,
    snapshotter: &'a str,
    runc: &'a Path,
    cni_bin_dir: &'a Path,
    cni_conf_dir: &'a Path,
}

impl Config<'_> {
    fn render(&self) -> String {
        let s = |p: &Path| toml_string(&p.to_string_lossy());
        let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
        let mut ttrpc = self.socket.as_os_str().to_owned();
        ttrpc.push(".ttrpc");
        format!(
            r#"# Written by podcheck for one private containerd; removed with it.
version = 2
root = {root}
state = {state}
# Snapshotters that only slow the start-up down; the opt plugin would write to /opt.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = {socket}

[ttrpc]
  address = {ttrpc}

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[{cri}]
  sandbox_image = {sandbox_image}
  # Root here lacks CAP_SYS_RESOURCE: without this every RunPodSandbox fails in runc.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_hugetlb_controller = true
  enable_selinux = false

[{cri}.containerd]
  snapshotter = {snapshotter}
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = {runc}
  Root = {runc_root}

[{cri}.cni]
  bin_dir = {cni_bin}
  conf_dir = {cni_conf}
  max_conf_num = 1
{registry}"#,
            root = s(&self.dir.join("root")),
            state = s(&self.dir.join("state")),
            socket = s(self.socket),
            ttrpc = s(Path::new(&ttrpc)),
            sandbox_image = toml_string(self.sandbox_image),
            snapshotter = toml_string(self.snapshotter),
            runc = s(self.runc),
            runc_root = s(&self.dir.join("runc")),
            cni_bin = s(self.cni_bin_dir),
            cni_conf = s(self.cni_conf_dir),
            registry = match self.registry_config {
                Some(dir) => format!("\n[{cri}.registry]\n  config_path = {}\n", s(dir)),
                None => String::new(),
            },
        )
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Waits until the CRI plugin answers Version, containerd exits, or the start deadline.
async fn wait_ready(
    socket: &Path,
    mut child: Option<&mut Child>,
) -> Result<(Channel, VersionResponse), CriError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::from("the socket never appeared");
    loop {
        if let Some(child) = child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(CriError::Start(format!(
                "containerd exited during start-up ({status})"
            )));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CriError::Start(format!(
                "the CRI plugin did not answer Version within {START_TIMEOUT:?} (last: {last})"
            )));
        }
        let attempt = left.min(Duration::from_secs(1));
        if socket.exists() {
            match client::connect(socket, attempt).await {
                Ok(channel) => {
                    let cri = CriClient::new(channel.clone(), attempt);
                    let version = cri
                        .call(
                            "Version",
                            cri.runtime().version(cri.request(VersionRequest {
                                version: "v1".into(),
                            })),
                        )
                        .await;
                    match version {
                        Ok(v) => return Ok((channel, v)),
                        Err(e) => last = error_chain(&e),
                    }
                }
                Err(e) => last = error_chain(&e),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `ctr -a SOCK -n k8s.io images import --snapshotter S FILE`, with a deadline.
async fn import(socket: &Path, snapshotter: &str, image: &BuiltImage) -> Result<(), CriError> {
    let mut command = tokio::process::Command::new(CTR_BINARY);
    command
        .arg("-a")
        .arg(socket)
        .args([
            "-n",
            K8S_NAMESPACE,
            "images",
            "import",
            "--snapshotter",
            snapshotter,
        ])
        .arg(&image.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(IMPORT_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return Err(CriError::Import {
                image: image.reference.clone(),
                message: format!("running {CTR_BINARY}: {e}"),
            });
        }
        Err(_) => {
            return Err(CriError::Timeout {
                call: "ctr images import",
                after: IMPORT_TIMEOUT,
            });
        }
    };
    if output.status.success() {
        return Ok(());
    }
    Err(CriError::Import {
        image: image.reference.clone(),
        message: format!(
            "ctr {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    })
}

/// Waits (bounded) until the CRI plugin's image store has the image.
async fn wait_image(cri: &CriClient, image: &str) -> Result<(), CriError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = cri
            .call(
                "ImageStatus",
                cri.images().image_status(cri.request(ImageStatusRequest {
                    image: Some(ImageSpec {
                        image: image.to_string(),
                        ..Default::default()
                    }),
                    verbose: false,
                })),
            )
            .await?;
        if status.image.is_some() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CriError::Unexpected {
                call: "ImageStatus",
                message: format!("the imported image {image} is not in the CRI image store"),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first line of `runc --version`, without its `runc version ` prefix.
async fn runc_version(runc: PathBuf) -> Result<String, CriError> {
    let mut command = tokio::process::Command::new(&runc);
    command
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUNC_VERSION_TIMEOUT, command.output())
        .await
        .map_err(|_| CriError::Timeout {
            call: "runc --version",
            after: RUNC_VERSION_TIMEOUT,
        })?
        .map_err(|e| CriError::io(format!("running {} --version", runc.display()), e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().next().unwrap_or_default().trim();
    if first.is_empty() {
        return Err(CriError::Unexpected {
            call: "runc --version",
            message: "no output".into(),
        });
    }
    Ok(first
        .strip_prefix("runc version ")
        .unwrap_or(first)
        .to_string())
}

/// Stops and removes every sandbox, all at once, each call with a deadline.
async fn remove_all_sandboxes(cri: &CriClient) {
    let listed = cri
        .call(
            "ListPodSandbox",
            cri.runtime()
                .list_pod_sandbox(cri.request(ListPodSandboxRequest { filter: None })),
        )
        .await;
    let sandboxes = match listed {
        Ok(list) => list.items,
        Err(e) => {
            tracing::warn!(error = %e, "listing sandboxes to remove them");
            return;
        }
    };
    let removals = sandboxes.into_iter().map(|sandbox| async move {
        let id = sandbox.id;
        let stopped = cri.stop_sandbox(&id, cri.timeout()).await;
        if let Err(e) = stopped
            && !e.is_not_found()
        {
            tracing::warn!(sandbox = %id, error = %e, "stopping a sandbox at shutdown");
        }
        let removed = cri.remove_sandbox(&id, cri.timeout()).await;
        if let Err(e) = removed
            && !e.is_not_found()
        {
            tracing::warn!(sandbox = %id, error = %e, "removing a sandbox at shutdown");
        }
    });
    futures::future::join_all(removals).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string("/run/a"), "\"/run/a\"");
        assert_eq!(toml_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn config_has_what_the_cri_plugin_needs() {
        let config = Config {
            registry_config: Some(Path::new("/run/podcheck/x/node-1/certs.d")),
            dir: Path::new("/run/podcheck/x/node-1"),
            socket: Path::new("/run/podcheck/x/node-1/containerd.sock"),
            sandbox_image: "registry.k8s.io/pause:3.9",
            snapshotter: "overlayfs",
            runc: Path::new("/usr/sbin/runc"),
            cni_bin_dir: Path::new("/usr/lib/cni"),
            cni_conf_dir: Path::new("/run/podcheck/x/cni"),
        }
        .render();
        for want in [
            "restrict_oom_score_adj = true",
            "netns_mounts_under_state_dir = true",
            "SystemdCgroup = false",
            "Root = \"/run/podcheck/x/node-1/runc\"",
            "address = \"/run/podcheck/x/node-1/containerd.sock\"",
            "max_conf_num = 1",
            "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/run/podcheck/x/node-1/certs.d\"",
        ] {
            assert!(config.contains(want), "{want} missing from:\n{config}");
        }
    }

    #[test]
    fn each_upstream_is_served_under_a_path_of_its_own() {
        let hosts = hosts_toml("quay.io", SocketAddr::from((Ipv4Addr::LOCALHOST, 5000)));
        assert!(
            hosts.contains("server = \"http://127.0.0.1:5000/v2/quay.io\"\n"),
            "{hosts}"
        );
        assert!(hosts.contains("override_path = true\n"), "{hosts}");
        assert!(
            hosts.contains("[host.\"http://127.0.0.1:5000/v2/quay.io\"]\n"),
            "{hosts}"
        );
        assert!(
            !hosts.contains("https://"),
            "no upstream to fall back to\n{hosts}"
        );
    }
}
