//! What the CLI tests share: a `podcheck up` process and a kubectl that talks to it.
//! (Each test binary uses part of it.)
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (suites and fixtures are found from there).
pub fn workspace() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The podcheck binary, run from the workspace root with `CI` unset.
pub fn podcheck() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_podcheck"));
    // Run inside GitHub Actions, a test's run must not write into the job's summary.
    c.current_dir(workspace())
        .env_remove("CI")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_ACTIONS");
    c
}

/// Whether every component can be real here; fails the test otherwise, unless
/// `PODCHECK_SKIP_REAL=1`.
pub fn real_or_skip() -> bool {
    let doctor = podcheck()
        .args(["doctor", "--require-real", "store,runtime,network,dns"])
        .output()
        .unwrap();
    if doctor.status.success() {
        return true;
    }
    assert_eq!(
        std::env::var("PODCHECK_SKIP_REAL").as_deref(),
        Ok("1"),
        "real components are missing (install etcd-server containerd runc \
         containernetworking-plugins, as .ci/run does, or set PODCHECK_SKIP_REAL=1):\n{}",
        text(&doctor)
    );
    false
}

/// Copies a directory tree (a lesson, or all of lessons/) for a test to edit.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A process's stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// How long `podcheck up` may take to print its kubeconfig, and kubectl to see what a test
/// waits for: generous, since real components start slower on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// A `podcheck up` process, stopped as a user would (SIGINT, then killed if it hangs) when
/// dropped, and the kubectl binary the test talks to it with.
pub struct Up {
    pub child: Child,
    pub kubeconfig: PathBuf,
    pub cache: tempfile::TempDir,
    kubectl: String,
}

impl Up {
    /// `podcheck up ARGS`; returns once it printed the kubeconfig to export.
    pub fn start(args: &[&str]) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_podcheck"))
            .arg("up")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("podcheck starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
                    let _ = tx.send(PathBuf::from(path));
                }
            }
        });
        let kubeconfig = match rx.recv_timeout(PATIENCE) {
            Ok(path) => path,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "podcheck up printed no kubeconfig within {} s",
                    PATIENCE.as_secs()
                );
            }
        };
        Up {
            child,
            kubeconfig,
            cache: tempfile::tempdir().unwrap(),
            kubectl: "kubectl".into(),
        }
    }

    /// Talk to it with this kubectl binary instead of the machine's `kubectl`.
    pub fn with_kubectl(mut self, kubectl: &str) -> Up {
        self.kubectl = kubectl.to_string();
        self
    }

    /// The kubectl binary the test talks with.
    pub fn kubectl_binary(&self) -> &str {
        &self.kubectl
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        // The flag goes first: after `--`, it would be part of an exec's command.
        Command::new(&self.kubectl)
            .arg("--request-timeout=20s")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.cache.path())
            .output()
            .unwrap_or_else(|e| panic!("{} runs: {e}", self.kubectl))
    }

    /// Runs kubectl and returns its stdout, failing the test on a non-zero exit.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}\n{}",
            self.kubectl,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Retries `kubectl args` until `accept` likes its output.
    pub fn until(&self, args: &[&str], accept: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let out = self.kubectl(args);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if out.status.success() && accept(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{} {args:?} never gave what was expected; last output:\n{text}\n{}",
                self.kubectl,
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGINT, as a user's Ctrl-C; its exit status.
    pub fn interrupt(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "podcheck up did not stop within 30 s of SIGINT"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // Stop it as a user would, so it stops what it started; kill it only if it hangs.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-INT", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
