//! A private etcd server for one control plane or one test: its own data dir on tmpfs, its
//! own loopback ports, and no trace left once it is shut down or dropped.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::etcd::EtcdStore;
use super::{Store, StoreError};

/// Where Debian's `etcd-server` puts the binary.
pub const DEFAULT_ETCD_BINARY: &str = "/usr/bin/etcd";

/// How long etcd has to answer a Range after being started.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long etcd has to exit after SIGTERM before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Attempts at starting, for when another process takes a port between probe and bind.
const START_ATTEMPTS: usize = 3;

/// A running etcd server, killed (and its data removed) on [`shutdown`](Self::shutdown) or drop.
#[derive(Debug)]
pub struct EtcdProcess {
    child: Option<Child>,
    /// Holds the data dir and the log; removed when the process is stopped.
    dir: Option<tempfile::TempDir>,
    dir_path: PathBuf,
    endpoint: String,
    pid: u32,
    /// `etcd --flag=value …`, as started.
    command: Vec<String>,
    started_at: std::time::SystemTime,
    started_in: Duration,
}

impl EtcdProcess {
    /// Starts `/usr/bin/etcd` and waits until it serves.
    pub async fn start() -> Result<Self, StoreError> {
        Self::start_with(DEFAULT_ETCD_BINARY).await
    }

    /// Starts the etcd binary at `binary` and waits (up to 10 s) until a Range succeeds.
    pub async fn start_with(binary: impl AsRef<Path>) -> Result<Self, StoreError> {
        let binary = binary.as_ref();
        if !binary.is_file() {
            return Err(backend(format!(
                "no etcd binary at {} (Debian: apt-get install etcd-server)",
                binary.display()
            )));
        }
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(binary).await {
                Ok(p) => return Ok(p),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    async fn start_once(binary: &Path) -> Result<Self, StoreError> {
        let began = Instant::now();
        sweep_stale();
        let dir = run_dir()?;
        let dir_path = dir.path().to_path_buf();
        // Who owns this etcd: a later run removes what a killed podcheck left behind.
        podcheck_host::sweep::write_owner_file(&dir_path, OWNER_FILE).map_err(|e| {
            backend(format!(
                "writing {}: {e}",
                dir_path.join(OWNER_FILE).display()
            ))
        })?;
        let (client, peer) = free_ports()?;
        let endpoint = format!("http://{client}");
        let peer_url = format!("http://{peer}");
        let name = format!(
            "podcheck-{}-{}",
            std::process::id(),
            dir_path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("etcd")
        );
        let log_path = dir_path.join("etcd.log");
        let log = File::create(&log_path)
            .map_err(|e| backend(format!("creating {}: {e}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|e| backend(format!("cloning the log file handle: {e}")))?;
        // With setpriv, etcd is killed when podcheck dies, even by SIGKILL, so it never
        // outlives its owner (setting PR_SET_PDEATHSIG ourselves would need unsafe code).
        let mut command = if Path::new(SETPRIV).is_file() {
            let mut c = Command::new(SETPRIV);
            c.args(["--pdeathsig", "KILL", "--"]).arg(binary);
            c
        } else {
            Command::new(binary)
        };
        // Started as `--flag value`; [`EtcdProcess::command`] gives the same flags as
        // `--flag=value`, the form kubeadm writes into its etcd manifest.
        let flags: Vec<(&str, String)> = vec![
            ("name", name.clone()),
            ("data-dir", dir_path.join("data").display().to_string()),
            ("listen-client-urls", endpoint.clone()),
            ("advertise-client-urls", endpoint.clone()),
            ("listen-peer-urls", peer_url.clone()),
            ("initial-advertise-peer-urls", peer_url.clone()),
            ("initial-cluster", format!("{name}={peer_url}")),
            ("initial-cluster-state", "new".into()),
            ("initial-cluster-token", name.clone()),
            // Metrics stay on the client URL only (no separate metrics listener), and
            // history is compacted by the store's user, never automatically.
            // One member: no peer to miss heartbeats, so a short election timeout only
            // makes the first leader (and so the first answer) come sooner.
            ("heartbeat-interval", "10".into()),
            ("election-timeout", "100".into()),
            ("auto-compaction-retention", "0".into()),
            ("logger", "zap".into()),
            ("log-outputs", "stderr".into()),
            ("log-level", "warn".into()),
        ];
        let etcd_command: Vec<String> = std::iter::once("etcd".to_string())
            .chain(flags.iter().map(|(f, v)| format!("--{f}={v}")))
            .collect();
        let started_at = std::time::SystemTime::now();
        let child = command
            .args(
                flags
                    .iter()
                    .flat_map(|(f, v)| [format!("--{f}"), v.clone()]),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| backend(format!("starting {}: {e}", binary.display())))?;
        let pid = child.id();
        let mut process = EtcdProcess {
            child: Some(child),
            dir: Some(dir),
            dir_path,
            endpoint,
            pid,
            command: etcd_command,
            started_at,
            started_in: Duration::ZERO,
        };
        match process.wait_ready().await {
            Ok(()) => {
                process.started_in = began.elapsed();
                tracing::debug!(pid, endpoint = %process.endpoint, took = ?process.started_in, "etcd ready");
                Ok(process)
            }
            Err(e) => {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                process.stop();
                Err(backend(format!(
                    "{e}; etcd's log ends:\n{}",
                    tail.join("\n")
                )))
            }
        }
    }

    /// Waits until the server answers a Range, the process exits, or the start deadline.
    async fn wait_ready(&mut self) -> Result<(), StoreError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(backend(format!("etcd exited during start-up ({status})")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(backend(format!(
                    "etcd at {} did not answer within {START_TIMEOUT:?}",
                    self.endpoint
                )));
            }
            let attempt = left.min(Duration::from_secs(1));
            if let Ok(store) = EtcdStore::connect_with_timeout(&self.endpoint, attempt).await
                && store.revision().await.is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The client URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The command line it was started with, as a kubeadm manifest writes it: `etcd
    /// --name=… --listen-client-urls=…` (the same flags and values; the process itself got
    /// them as `--flag value`).
    pub fn command(&self) -> &[String] {
        &self.command
    }

    /// When it was started.
    pub fn started_at(&self) -> std::time::SystemTime {
        self.started_at
    }

    /// The directory holding the data dir (`data/`) and the server's log (`etcd.log`).
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    /// How long the server took from spawn to its first answered Range.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// A store client of this server.
    pub async fn connect(&self) -> Result<EtcdStore, StoreError> {
        EtcdStore::connect(&self.endpoint).await
    }

    /// Stops the server (SIGTERM, then SIGKILL after a grace period), reaps it and removes
    /// its directory.
    pub async fn shutdown(mut self) {
        let stopped = tokio::task::spawn_blocking(move || {
            self.stop();
            self
        })
        .await;
        // Should the blocking task itself have failed, Drop of the moved value (there or here)
        // still stops the process.
        drop(stopped);
    }

    /// Idempotent: kills, reaps and removes whatever is still there.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            podcheck_host::process::terminate(&mut child, STOP_GRACE);
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = dir.close() {
                tracing::warn!(dir = %path.display(), error = %e, "removing etcd's directory");
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh directory on tmpfs (`/dev/shm`) when it is writable, else in the temp dir: etcd
/// fsyncs every write, which costs a disk ~7 ms and tmpfs nothing.
const OWNER_FILE: &str = "owner";
const SETPRIV: &str = "/usr/bin/setpriv";
const DIR_PREFIX: &str = "podcheck-etcd-";

/// Removes the etcd directories (and kills the etcds) of podcheck processes that are gone.
fn sweep_stale() {
    for base in [PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            let named = dir
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(DIR_PREFIX));
            if named && podcheck_host::sweep::owner_file_dead(&dir, OWNER_FILE) {
                podcheck_host::process::kill_naming(&dir);
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
}

fn run_dir() -> Result<tempfile::TempDir, StoreError> {
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix(DIR_PREFIX);
        b
    };
    if let Ok(dir) = builder.tempdir_in("/dev/shm") {
        return Ok(dir);
    }
    builder
        .tempdir()
        .map_err(|e| backend(format!("creating etcd's directory: {e}")))
}

/// Two distinct free loopback ports (bound together, then released for etcd).
fn free_ports() -> Result<(SocketAddr, SocketAddr), StoreError> {
    let bind = || {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| Ok((l.local_addr()?, l)))
            .map_err(|e| backend(format!("finding a free loopback port: {e}")))
    };
    let (client, _c) = bind()?;
    let (peer, _p) = bind()?;
    Ok((client, peer))
}

fn backend(message: String) -> StoreError {
    StoreError::Backend { message }
}
