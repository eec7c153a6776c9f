//! The scenarios of `kind: CriSuite`, each a short sequence of CRI calls whose answers become
//! named checks. A failing call is a failed check (its gRPC status the evidence) and ends the
//! scenario where what follows needs it; cleanup runs after every case.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use podcheck_core::conformance::cri::{
    ContainerCheck, CriCase, CriCheck, DnsConfig, ExecCheck, SandboxCheck, TeardownCheck,
    VersionCheck, sleeper,
};
use podcheck_core::result::{CaseResult, CheckResult, Evidence, Source};
use podcheck_node::cri::CriError;
use podcheck_node::cri::client::{self, CriClient};
use podcheck_protos::cri::v1 as cri;
use podcheck_protos::cri::v1::{
    ContainerFilter, ContainerMetadata, ContainerStateValue, ContainerStatusRequest,
    CreateContainerRequest, ExecSyncRequest, ImageStatusRequest, LinuxContainerConfig,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    ListContainersRequest, ListPodSandboxRequest, PodSandboxConfig, PodSandboxFilter,
    PodSandboxMetadata, PodSandboxStateValue, PodSandboxStatusRequest, RemoveContainerRequest,
    RunPodSandboxRequest, StartContainerRequest, StopContainerRequest,
};

use super::environment::{self, RuntimeUnderTest};
use super::{CASE_LABEL, RUN_LABEL, describe, ms_since};

/// The deadline of calls that run processes or CNI plugins.
const SLOW_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The deadline of PullImage.
/// ExecSync's own timeout unless the command sets one.
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a started container has to be reported RUNNING, and a stopped one EXITED.
const STATE_WAIT: Duration = Duration::from_secs(10);
/// The grace StopContainer gives: `sleep` as the container's PID 1 ignores SIGTERM, so the
/// runtime must send SIGKILL when it passes.
const STOP_GRACE_SECONDS: i64 = 1;
/// The namespace in the sandboxes' metadata.
const NAMESPACE: &str = "podcheck-cri";
/// An id no runtime has.
const UNKNOWN_ID: &str = "0000000000000000000000000000000000000000000000000000000000c0ffee";

/// What every case shares: the runtime, the image, the run's id.
pub(super) struct Context<'a> {
    runtime: &'a RuntimeUnderTest,
    image: &'a str,
    run_id: &'a str,
    /// The image's id once ImageStatus (or a pull) found it.
    image_id: Mutex<Option<String>>,
}

impl<'a> Context<'a> {
    pub(super) fn new(runtime: &'a RuntimeUnderTest, image: &'a str, run_id: &'a str) -> Self {
        Context {
            runtime,
            image,
            run_id,
            image_id: Mutex::new(None),
        }
    }

    /// Stops and removes every sandbox of this run still there (a case cut off by its
    /// deadline leaves some).
    /// Removes the run's sandboxes until the runtime lists none, then looks once more after
    /// a pause: a dropped run may leave a RunPodSandbox or a StopPodSandbox in flight that
    /// the runtime finishes after the first sweep (a sandbox being stopped refuses removal).
    /// The caller bounds it.
    pub(super) async fn sweep_leftovers(&self) {
        loop {
            while self.remove_leftovers().await > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(750)).await;
            if self.remove_leftovers().await == 0 {
                return;
            }
        }
    }

    /// Removes the sandboxes the runtime lists for this run; how many it listed.
    pub(super) async fn remove_leftovers(&self) -> usize {
        let Ok(c) = self.runtime.client() else {
            return 0;
        };
        let listed = c
            .call(
                "ListPodSandbox",
                c.runtime()
                    .list_pod_sandbox(c.request(ListPodSandboxRequest {
                        filter: Some(PodSandboxFilter {
                            label_selector: HashMap::from([(
                                RUN_LABEL.to_string(),
                                self.run_id.to_string(),
                            )]),
                            ..Default::default()
                        }),
                    })),
            )
            .await;
        let listed = listed.map(|l| l.items).unwrap_or_default();
        for sandbox in &listed {
            remove_sandbox(c, &sandbox.id).await;
        }
        listed.len()
    }
}

/// One case in progress: its checks so far and what it created.
struct Case<'a> {
    ctx: &'a Context<'a>,
    c: &'a CriClient,
    name: &'a str,
    t0: Instant,
    checks: Vec<CheckResult>,
    sandboxes: Vec<String>,
    containers: Vec<String>,
}

/// A sandbox a case made, with the config containers in it are created with.
struct Sandbox {
    id: String,
    config: PodSandboxConfig,
}

/// Runs one case within its deadline, then removes what it created.
pub(super) async fn run_case(ctx: &Context<'_>, spec: &CriCase) -> CaseResult {
    let t0 = Instant::now();
    let c = match ctx.runtime.client() {
        Ok(c) => c,
        Err(why) => {
            return super::unreachable_case(&spec.name, &spec.description, ctx.runtime.name(), why);
        }
    };
    let mut case = Case {
        ctx,
        c,
        name: &spec.name,
        t0,
        checks: Vec::new(),
        sandboxes: Vec::new(),
        containers: Vec::new(),
    };
    let deadline = spec.timeout.0;
    let finished = tokio::time::timeout(deadline, Box::pin(scenario(&mut case, &spec.check))).await;
    if finished.is_err() {
        let at = ms_since(t0);
        case.checks.push(CheckResult::failed(
            "case.deadline",
            &format!(
                "the {} scenario ends within {deadline:?}",
                spec.check.kind()
            ),
            format!("still running after {at:.0} ms"),
            vec![case.evidence(format!(
                "cut off after {at:.0} ms; the last check done was {}",
                case.checks
                    .last()
                    .map_or("none".to_string(), |c| c.name.clone())
            ))],
            format!("the case did not finish within its deadline of {deadline:?}"),
            Some("a CRI call hung: see the runtime's log; or raise the case's `timeout`".into()),
        ));
    }
    // StopPodSandbox kills the sandbox's containers at once (no grace), then each goes.
    for id in &case.sandboxes {
        let _ = stop_sandbox_call(c, id).await;
    }
    for id in std::mem::take(&mut case.containers) {
        remove_container(c, &id).await;
    }
    for id in std::mem::take(&mut case.sandboxes) {
        remove_sandbox(c, &id).await;
    }
    CaseResult::conformance(
        &spec.name,
        &spec.description,
        case.checks,
        ms_since(t0),
        None,
    )
}

/// Each scenario's future is boxed: together they are too large for a thread's stack in
/// debug builds.
async fn scenario(case: &mut Case<'_>, check: &CriCheck) {
    match check {
        CriCheck::Version(v) => Box::pin(version(case, v)).await,
        CriCheck::PodSandbox(s) => Box::pin(pod_sandbox(case, s)).await,
        CriCheck::Container(c) => Box::pin(container(case, c)).await,
        CriCheck::ExecSync(execs) => Box::pin(exec_sync(case, execs)).await,
        CriCheck::List(_) => Box::pin(list(case)).await,
        CriCheck::Teardown(t) => Box::pin(teardown(case, t)).await,
    }
}

impl Case<'_> {
    fn evidence(&self, detail: String) -> Evidence {
        Evidence {
            source: Source::Cri,
            provider: self.ctx.runtime.provider(),
            real: true,
            detail,
            at_ms: Some(ms_since(self.t0)),
        }
    }

    fn pass(&mut self, name: &str, expected: &str, observed: impl Into<String>, detail: String) {
        let evidence = vec![self.evidence(detail)];
        self.checks
            .push(CheckResult::passed(name, expected, observed, evidence));
    }

    fn fail(
        &mut self,
        name: &str,
        expected: &str,
        observed: impl Into<String>,
        detail: String,
        message: impl Into<String>,
        hint: &str,
    ) {
        let evidence = vec![self.evidence(detail)];
        self.checks.push(CheckResult::failed(
            name,
            expected,
            observed,
            evidence,
            message,
            Some(hint.to_string()),
        ));
    }

    /// Passes or fails `name` on `ok`.
    #[allow(clippy::too_many_arguments)]
    fn verdict(
        &mut self,
        ok: bool,
        name: &str,
        expected: &str,
        observed: String,
        detail: String,
        hint: &str,
    ) -> bool {
        if ok {
            self.pass(name, expected, observed, detail);
        } else {
            let message = format!("{expected}, but {observed}");
            self.fail(name, expected, observed, detail, message, hint);
        }
        ok
    }

    /// A call that failed: the check fails with the gRPC status as evidence.
    fn call_failed(&mut self, name: &str, expected: &str, e: &CriError, hint: &str) {
        let words = describe(e);
        self.fail(
            name,
            expected,
            words.clone(),
            words.clone(),
            format!("{expected}, but {words}"),
            hint,
        );
    }

    /// A call whose answer is the check: passed with `observed` (stable words; what the
    /// answer held goes in the evidence), or failed with the gRPC status.
    async fn checked<T>(
        &mut self,
        name: &str,
        expected: &str,
        hint: &str,
        observed: &str,
        fut: impl Future<Output = Result<T, CriError>>,
        detail: impl FnOnce(&T) -> String,
    ) -> Option<T> {
        let began = Instant::now();
        match fut.await {
            Ok(v) => {
                let detail = format!("{} ({:.0} ms)", detail(&v), ms_since(began));
                self.pass(name, expected, observed, detail);
                Some(v)
            }
            Err(e) => {
                self.call_failed(name, expected, &e, hint);
                None
            }
        }
    }

    /// RunPodSandbox as the kubelet sends it, checked as `runPodSandbox`.
    async fn run_sandbox(
        &mut self,
        suffix: &str,
        hostname: Option<&str>,
        dns: Option<&DnsConfig>,
    ) -> Option<Sandbox> {
        let name = if suffix.is_empty() {
            self.name.to_string()
        } else {
            format!("{}-{suffix}", self.name)
        };
        let config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.clone(),
                uid: format!("{}-{name}", self.ctx.run_id),
                namespace: NAMESPACE.into(),
                attempt: 0,
            }),
            hostname: hostname.unwrap_or(self.name).to_string(),
            dns_config: dns.map(|d| cri::DnsConfig {
                servers: d.servers.clone(),
                searches: d.searches.clone(),
                options: d.options.clone(),
            }),
            labels: HashMap::from([
                (RUN_LABEL.to_string(), self.ctx.run_id.to_string()),
                (CASE_LABEL.to_string(), self.name.to_string()),
                ("podcheck.dev/cri-sandbox".to_string(), name.clone()),
            ]),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: self.ctx.runtime.cgroup_parent().to_string(),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(client::pod_namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = self.c;
        let request = RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        };
        let response = self
            .checked(
                "runPodSandbox",
                "RunPodSandbox returns a sandbox id",
                "RunPodSandbox runs the pause container and calls the CNI plugins: see the \
                 runtime's log",
                "returned a sandbox id",
                client::call(
                    "RunPodSandbox",
                    SLOW_CALL_TIMEOUT,
                    c.runtime()
                        .run_pod_sandbox(client::request(request, SLOW_CALL_TIMEOUT)),
                ),
                |r| format!("RunPodSandbox → sandbox {}", r.pod_sandbox_id),
            )
            .await?;
        let id = response.pod_sandbox_id;
        self.sandboxes.push(id.clone());
        Some(Sandbox { id, config })
    }

    async fn sandbox_status(&self, id: &str) -> Result<cri::PodSandboxStatus, CriError> {
        let c = self.c;
        let r = c
            .call(
                "PodSandboxStatus",
                c.runtime()
                    .pod_sandbox_status(c.request(PodSandboxStatusRequest {
                        pod_sandbox_id: id.to_string(),
                        verbose: false,
                    })),
            )
            .await?;
        r.status.ok_or(CriError::Unexpected {
            call: "PodSandboxStatus",
            message: "the answer has no status".into(),
        })
    }

    /// The image's id: ImageStatus, or PullImage when the runtime lacks it (checked as
    /// `image.present` the first time).
    async fn image(&mut self) -> Option<String> {
        if let Some(id) = self
            .ctx
            .image_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Some(id);
        }
        let image = self.ctx.image.to_string();
        let expected = format!("the runtime has {image}");
        let hint = "podcheck's containerd imports busybox at start; import the image into \
                    another runtime first (e.g. `ctr -n k8s.io images import busybox.tar`)";
        let c = self.c;
        let status = c
            .call(
                "ImageStatus",
                c.images().image_status(c.request(ImageStatusRequest {
                    image: Some(client::image_spec(&image)),
                    verbose: false,
                })),
            )
            .await;
        let found = match status {
            Ok(s) => s.image,
            Err(e) => {
                self.call_failed("image.present", &expected, &e, hint);
                return None;
            }
        };
        let id = match found {
            Some(found) => {
                self.pass(
                    "image.present",
                    &expected,
                    "present",
                    format!("ImageStatus {image} → id {}", found.id),
                );
                found.id
            }
            None => {
                // No pull: a pull goes to a registry off this machine, and podcheck sends
                // traffic nowhere but loopback and its own networks.
                self.fail(
                    "image.present",
                    &expected,
                    "absent",
                    format!("ImageStatus {image} → no image"),
                    format!("the runtime does not have {image}, and podcheck does not pull"),
                    hint,
                );
                return None;
            }
        };
        *self.ctx.image_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
        Some(id)
    }

    /// CreateContainer of the suite's image in `sandbox`, checked as `createContainer`.
    async fn create_container(
        &mut self,
        sandbox: &Sandbox,
        name: &str,
        command: &[String],
    ) -> Option<String> {
        self.image().await?;
        let config = cri::ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.to_string(),
                attempt: 0,
            }),
            image: Some(client::image_spec(self.ctx.image)),
            command: command.to_vec(),
            labels: HashMap::from([
                (RUN_LABEL.to_string(), self.ctx.run_id.to_string()),
                (CASE_LABEL.to_string(), self.name.to_string()),
                ("podcheck.dev/cri-container".to_string(), name.to_string()),
            ]),
            linux: Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(client::pod_namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = self.c;
        let request = CreateContainerRequest {
            pod_sandbox_id: sandbox.id.clone(),
            config: Some(config),
            sandbox_config: Some(sandbox.config.clone()),
        };
        let created = self
            .checked(
                "createContainer",
                "CreateContainer returns a container id",
                "CreateContainer needs the image and the sandbox: see the runtime's log",
                "returned a container id",
                c.call(
                    "CreateContainer",
                    c.runtime().create_container(c.request(request)),
                ),
                |r| format!("CreateContainer {name} → container {}", r.container_id),
            )
            .await?;
        self.containers.push(created.container_id.clone());
        Some(created.container_id)
    }

    async fn start_container(&mut self, id: &str) -> bool {
        let c = self.c;
        self.checked(
            "startContainer",
            "StartContainer succeeds",
            "StartContainer runs the process through the OCI runtime (runc): see the \
             runtime's log",
            "started",
            client::call(
                "StartContainer",
                SLOW_CALL_TIMEOUT,
                c.runtime().start_container(client::request(
                    StartContainerRequest {
                        container_id: id.to_string(),
                    },
                    SLOW_CALL_TIMEOUT,
                )),
            ),
            |_| format!("StartContainer {id}: OK"),
        )
        .await
        .is_some()
    }

    async fn container_status(&self, id: &str) -> Result<cri::ContainerStatus, CriError> {
        let c = self.c;
        c.call(
            "ContainerStatus",
            c.runtime()
                .container_status(c.request(ContainerStatusRequest {
                    container_id: id.to_string(),
                    verbose: false,
                })),
        )
        .await?
        .status
        .ok_or(CriError::Unexpected {
            call: "ContainerStatus",
            message: "the answer has no status".into(),
        })
    }

    /// Polls ContainerStatus until the state is `want` or [`STATE_WAIT`] passes; the last
    /// status seen.
    async fn wait_state(
        &self,
        id: &str,
        want: cri::ContainerState,
    ) -> Result<cri::ContainerStatus, CriError> {
        let deadline = Instant::now() + STATE_WAIT;
        loop {
            let status = self.container_status(id).await?;
            if status.state == want as i32 || Instant::now() >= deadline {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A sandbox with a running `sleep` container: what exec and DNS checks need.
    async fn running_container(
        &mut self,
        hostname: Option<&str>,
        dns: Option<&DnsConfig>,
    ) -> Option<(Sandbox, String)> {
        let sandbox = self.run_sandbox("", hostname, dns).await?;
        let id = self
            .create_container(&sandbox, "sleeper", &sleeper())
            .await?;
        if !self.start_container(&id).await {
            return None;
        }
        match self
            .wait_state(&id, cri::ContainerState::ContainerRunning)
            .await
        {
            Ok(s) if s.state == cri::ContainerState::ContainerRunning as i32 => Some((sandbox, id)),
            Ok(s) => {
                let observed = format!("the container is {}", state_name(s.state));
                self.fail(
                    "containerStatus.running",
                    "the started container is RUNNING",
                    observed.clone(),
                    format!(
                        "ContainerStatus {}: {observed}, reason {:?}",
                        short(&id),
                        s.reason
                    ),
                    format!("the container never ran: {observed}"),
                    "see the container's exit code and the runtime's log",
                );
                None
            }
            Err(e) => {
                self.call_failed(
                    "containerStatus.running",
                    "the started container is RUNNING",
                    &e,
                    "ContainerStatus must answer for a container the runtime created",
                );
                None
            }
        }
    }

    async fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<cri::ExecSyncResponse, CriError> {
        let c = self.c;
        let deadline = timeout + Duration::from_secs(2);
        client::call(
            "ExecSync",
            deadline,
            c.runtime().exec_sync(client::request(
                ExecSyncRequest {
                    container_id: id.to_string(),
                    cmd: command.to_vec(),
                    timeout: timeout.as_secs().max(1) as i64,
                },
                deadline,
            )),
        )
        .await
    }
}

// --- scenarios -------------------------------------------------------------------------

async fn version(case: &mut Case<'_>, want: &VersionCheck) {
    let v = match environment::version(case.c).await {
        Ok(v) => v,
        Err(e) => {
            case.call_failed(
                "version.runtime-api-version",
                &format!(
                    "Version answers runtimeApiVersion {}",
                    want.runtime_api_version
                ),
                &e,
                "is this a CRI v1 runtime? The kubelet calls Version first",
            );
            return;
        }
    };
    let detail = format!(
        "Version: version {:?}, runtimeName {:?}, runtimeVersion {:?}, runtimeApiVersion {:?}",
        v.version, v.runtime_name, v.runtime_version, v.runtime_api_version
    );
    case.verdict(
        v.runtime_api_version == want.runtime_api_version,
        "version.runtime-api-version",
        &format!("runtimeApiVersion {}", want.runtime_api_version),
        format!("runtimeApiVersion {:?}", v.runtime_api_version),
        detail.clone(),
        "the kubelet speaks CRI v1 only (runtime.v1): the runtime must serve it",
    );
    let (ok, expected) = match &want.runtime_name {
        Some(name) => (v.runtime_name == *name, format!("runtimeName {name}")),
        None => (!v.runtime_name.is_empty(), "a runtimeName".to_string()),
    };
    case.verdict(
        ok,
        "version.runtime-name",
        &expected,
        format!("runtimeName {:?}", v.runtime_name),
        detail.clone(),
        "the kubelet reports runtimeName://runtimeVersion as the node's containerRuntimeVersion",
    );
    case.verdict(
        !v.runtime_version.is_empty(),
        "version.runtime-version",
        "a runtimeVersion",
        format!("runtimeVersion {:?}", v.runtime_version),
        detail,
        "the kubelet reports runtimeName://runtimeVersion as the node's containerRuntimeVersion",
    );
}

async fn pod_sandbox(case: &mut Case<'_>, want: &SandboxCheck) {
    let hostname = want
        .hostname
        .clone()
        .unwrap_or_else(|| case.name.to_string());
    let Some(sandbox) = case
        .run_sandbox("", Some(&hostname), want.dns_config.as_ref())
        .await
    else {
        return;
    };
    sandbox_ready(case, &sandbox.id, want.ip).await;
    let Some(id) = case.create_container(&sandbox, "sleeper", &sleeper()).await else {
        return;
    };
    if !case.start_container(&id).await {
        return;
    }
    let _ = case
        .wait_state(&id, cri::ContainerState::ContainerRunning)
        .await;
    if let Some(dns) = &want.dns_config {
        let cat = ["cat".to_string(), "/etc/resolv.conf".to_string()];
        let expected = format!(
            "/etc/resolv.conf in the sandbox holds {}",
            expected_resolv(dns).join("; ")
        );
        match case.exec(&id, &cat, EXEC_TIMEOUT).await {
            Ok(r) if r.exit_code == 0 => {
                let text = String::from_utf8_lossy(&r.stdout).to_string();
                let problems = resolv_problems(dns, &text);
                let observed = text.trim().replace('\n', "; ");
                let detail = format!("ExecSync cat /etc/resolv.conf: {observed}");
                if problems.is_empty() {
                    case.pass("runPodSandbox.dns-config", &expected, observed, detail);
                } else {
                    case.fail(
                        "runPodSandbox.dns-config",
                        &expected,
                        observed,
                        detail,
                        problems.join("; "),
                        "the runtime writes the sandbox's resolv.conf from DNSConfig: servers as \
                         nameserver lines, searches as one search line, options as one options \
                         line",
                    );
                }
            }
            Ok(r) => case.fail(
                "runPodSandbox.dns-config",
                &expected,
                format!("cat /etc/resolv.conf exited {}", r.exit_code),
                format!(
                    "ExecSync cat /etc/resolv.conf: exit {}, stderr {:?}",
                    r.exit_code,
                    String::from_utf8_lossy(&r.stderr)
                ),
                "the sandbox has no readable /etc/resolv.conf",
                "the runtime must mount the resolv.conf it wrote into every container",
            ),
            Err(e) => case.call_failed(
                "runPodSandbox.dns-config",
                &expected,
                &e,
                "reading resolv.conf needs ExecSync in a running container",
            ),
        }
    }
    let expected = format!("`hostname` in the sandbox prints {hostname}");
    match case
        .exec(&id, &["hostname".to_string()], EXEC_TIMEOUT)
        .await
    {
        Ok(r) => {
            let got = String::from_utf8_lossy(&r.stdout).trim().to_string();
            case.verdict(
                r.exit_code == 0 && got == hostname,
                "runPodSandbox.hostname",
                &expected,
                format!("hostname printed {got:?} (exit {})", r.exit_code),
                format!("ExecSync hostname: {got:?}, exit {}", r.exit_code),
                "the runtime sets the sandbox's UTS namespace hostname from PodSandboxConfig.hostname",
            );
        }
        Err(e) => case.call_failed(
            "runPodSandbox.hostname",
            &expected,
            &e,
            "reading the hostname needs ExecSync in a running container",
        ),
    }
}

/// `podSandboxStatus.ready` and, when wanted, `podSandboxStatus.ip`.
async fn sandbox_ready(case: &mut Case<'_>, id: &str, want_ip: bool) {
    let status = match case.sandbox_status(id).await {
        Ok(s) => s,
        Err(e) => {
            case.call_failed(
                "podSandboxStatus.ready",
                "PodSandboxStatus says SANDBOX_READY",
                &e,
                "PodSandboxStatus must answer for a sandbox RunPodSandbox returned",
            );
            return;
        }
    };
    let state = sandbox_state_name(status.state);
    case.verdict(
        status.state == cri::PodSandboxState::SandboxReady as i32,
        "podSandboxStatus.ready",
        "PodSandboxStatus says SANDBOX_READY",
        format!("state {state}"),
        format!("PodSandboxStatus {}: state {state}", short(id)),
        "a sandbox that RunPodSandbox returned is ready: its pause process runs",
    );
    if !want_ip {
        return;
    }
    let ip = status.network.map(|n| n.ip).unwrap_or_default();
    let subnet = case.ctx.runtime.subnet();
    let expected = match subnet {
        Some(net) => format!("PodSandboxStatus reports an IP in the node's subnet {net}"),
        None => "PodSandboxStatus reports an IP address".to_string(),
    };
    let (ok, observed) = ip_check(&ip, subnet);
    case.verdict(
        ok,
        "podSandboxStatus.ip",
        &expected,
        observed,
        format!("PodSandboxStatus {}: network.ip {ip:?}", short(id)),
        "the IP comes from the runtime's CNI plugins (its CNI conf dir): the kubelet reports \
         it as the pod's IP",
    );
}

async fn container(case: &mut Case<'_>, want: &ContainerCheck) {
    let Some(sandbox) = case.run_sandbox("", None, None).await else {
        return;
    };
    let Some(id) = case.create_container(&sandbox, "main", &want.command).await else {
        return;
    };
    match case.container_status(&id).await {
        Ok(s) => {
            let state = state_name(s.state);
            case.verdict(
                s.state == cri::ContainerState::ContainerCreated as i32,
                "containerStatus.created",
                "a created container is CONTAINER_CREATED",
                format!("state {state}"),
                format!("ContainerStatus {}: {state}", short(&id)),
                "CreateContainer must not start the process",
            );
        }
        Err(e) => case.call_failed(
            "containerStatus.created",
            "a created container is CONTAINER_CREATED",
            &e,
            "ContainerStatus must answer for a container CreateContainer returned",
        ),
    }
    if !case.start_container(&id).await {
        return;
    }
    let image_id = case
        .ctx
        .image_id
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default();
    let expected = format!(
        "the started container is CONTAINER_RUNNING with image {}",
        case.ctx.image
    );
    match case
        .wait_state(&id, cri::ContainerState::ContainerRunning)
        .await
    {
        Ok(s) => {
            let state = state_name(s.state);
            let image = s
                .image
                .as_ref()
                .map(|i| i.image.clone())
                .unwrap_or_default();
            let same_image = [image.as_str(), s.image_ref.as_str()]
                .iter()
                .any(|i| !i.is_empty() && (*i == case.ctx.image || *i == image_id));
            let running = s.state == cri::ContainerState::ContainerRunning as i32;
            case.verdict(
                running && same_image,
                "containerStatus.running",
                &expected,
                if running && same_image {
                    format!("{state} with the image")
                } else {
                    format!("state {state}, image {image:?}, imageRef {:?}", s.image_ref)
                },
                format!(
                    "ContainerStatus {}: {state} since {}, image {image:?}, imageRef {:?}, exit {}",
                    short(&id),
                    s.started_at,
                    s.image_ref,
                    s.exit_code
                ),
                if running {
                    "ContainerStatus must name the image the container was created from"
                } else {
                    "the process ended or never started: see its exit code and reason"
                },
            );
        }
        Err(e) => {
            case.call_failed(
                "containerStatus.running",
                &expected,
                &e,
                "ContainerStatus must answer for a started container",
            );
            return;
        }
    }
    if !want.stop {
        return;
    }
    if stop_container(case, &id).await.is_err() {
        return;
    }
    match case
        .wait_state(&id, cri::ContainerState::ContainerExited)
        .await
    {
        Ok(s) => {
            let state = state_name(s.state);
            case.verdict(
                s.state == cri::ContainerState::ContainerExited as i32 && s.finished_at > 0,
                "containerStatus.exited",
                "a stopped container is CONTAINER_EXITED with a finish time",
                if s.finished_at > 0 {
                    format!("{state} (exit code {})", s.exit_code)
                } else {
                    format!("{state} without a finish time")
                },
                format!(
                    "ContainerStatus {id}: {state}, exit code {}, reason {:?}, finishedAt {}",
                    s.exit_code, s.reason, s.finished_at
                ),
                "StopContainer ends the process (SIGTERM, then SIGKILL after the timeout)",
            );
        }
        Err(e) => case.call_failed(
            "containerStatus.exited",
            "a stopped container is CONTAINER_EXITED",
            &e,
            "ContainerStatus must answer for a stopped container",
        ),
    }
}

/// StopContainer, checked as `stopContainer`.
async fn stop_container(case: &mut Case<'_>, id: &str) -> Result<(), ()> {
    let c = case.c;
    case.checked(
        "stopContainer",
        "StopContainer succeeds",
        "StopContainer signals the process through the OCI runtime",
        "stopped",
        stop_container_call(c, id),
        |_| format!("StopContainer {id} (timeout {STOP_GRACE_SECONDS} s): OK"),
    )
    .await
    .map(|_| ())
    .ok_or(())
}

async fn exec_sync(case: &mut Case<'_>, execs: &[ExecCheck]) {
    let Some((_, id)) = case.running_container(None, None).await else {
        return;
    };
    for (i, exec) in execs.iter().enumerate() {
        let label = exec.label(i);
        let argv = shell_words(&exec.command);
        let timeout = exec.timeout.map(|d| d.0).unwrap_or(EXEC_TIMEOUT);
        let code_name = format!("execSync.{label}.exit-code");
        let expected = format!("`{argv}` exits {}", exec.exit_code);
        let r = match case.exec(&id, &exec.command, timeout).await {
            Ok(r) => r,
            Err(e) => {
                case.call_failed(
                    &code_name,
                    &expected,
                    &e,
                    "ExecSync runs a command in the container and returns its exit code; a \
                     non-zero exit is an answer, not an error",
                );
                continue;
            }
        };
        let stdout = String::from_utf8_lossy(&r.stdout).to_string();
        let detail = format!(
            "ExecSync {argv}: exit {}, stdout {stdout:?}, stderr {:?}",
            r.exit_code,
            String::from_utf8_lossy(&r.stderr)
        );
        case.verdict(
            r.exit_code == exec.exit_code,
            &code_name,
            &expected,
            format!("exit code {}", r.exit_code),
            detail.clone(),
            "ExecSync must return the command's own exit code",
        );
        if let Some(want) = &exec.stdout {
            case.verdict(
                stdout == *want,
                &format!("execSync.{label}.stdout"),
                &format!("`{argv}` prints {want:?}"),
                format!("stdout {stdout:?}"),
                detail,
                "ExecSync returns the command's stdout, byte for byte",
            );
        }
    }
}

async fn list(case: &mut Case<'_>) {
    let Some((ready, container)) = case.running_container(None, None).await else {
        return;
    };
    let Some(other) = case.run_sandbox("stopped", None, None).await else {
        return;
    };
    let c = case.c;
    if let Err(e) = stop_sandbox_call(c, &other.id).await {
        case.call_failed(
            "stopPodSandbox",
            "StopPodSandbox succeeds",
            &e,
            "StopPodSandbox stops the pause container and calls CNI DEL",
        );
        return;
    }
    let run = (RUN_LABEL.to_string(), case.ctx.run_id.to_string());
    let this_case = (CASE_LABEL.to_string(), case.name.to_string());
    let ours = HashMap::from([run.clone(), this_case.clone()]);
    let sandboxes = |filter: PodSandboxFilter| async move {
        c.call(
            "ListPodSandbox",
            c.runtime()
                .list_pod_sandbox(c.request(ListPodSandboxRequest {
                    filter: Some(filter),
                })),
        )
        .await
        .map(|l| {
            let mut ids: Vec<String> = l.items.into_iter().map(|s| s.id).collect();
            ids.sort();
            ids
        })
    };
    let ready_state = |s: cri::PodSandboxState| Some(PodSandboxStateValue { state: s as i32 });
    let sandbox_filters = [
        (
            "listPodSandbox.filter-id",
            "by id",
            PodSandboxFilter {
                id: ready.id.clone(),
                ..Default::default()
            },
            vec![ready.id.clone()],
        ),
        (
            "listPodSandbox.filter-label",
            "by label",
            PodSandboxFilter {
                label_selector: HashMap::from([
                    run.clone(),
                    (
                        "podcheck.dev/cri-sandbox".to_string(),
                        format!("{}-stopped", case.name),
                    ),
                ]),
                ..Default::default()
            },
            vec![other.id.clone()],
        ),
        (
            "listPodSandbox.filter-state",
            "by state SANDBOX_READY (and this case's labels)",
            PodSandboxFilter {
                state: ready_state(cri::PodSandboxState::SandboxReady),
                label_selector: ours.clone(),
                ..Default::default()
            },
            vec![ready.id.clone()],
        ),
        (
            "listPodSandbox.filter-state-notready",
            "by state SANDBOX_NOTREADY (and this case's labels)",
            PodSandboxFilter {
                state: ready_state(cri::PodSandboxState::SandboxNotready),
                label_selector: ours.clone(),
                ..Default::default()
            },
            vec![other.id.clone()],
        ),
    ];
    for (name, how, filter, want) in sandbox_filters {
        let mut want = want;
        want.sort();
        let expected = format!(
            "ListPodSandbox {how} returns exactly {}",
            count(&want, "sandbox")
        );
        match sandboxes(filter).await {
            Ok(got) => {
                case.verdict(
                    got == want,
                    name,
                    &expected,
                    if got == want {
                        "exactly those".to_string()
                    } else {
                        format!("returned {}", ids(&got))
                    },
                    format!("ListPodSandbox {how}: {}, wanted {}", ids(&got), ids(&want)),
                    "the kubelet finds a pod's sandboxes by these filters (label io.kubernetes.pod.uid, state)",
                );
            }
            Err(e) => case.call_failed(name, &expected, &e, "ListPodSandbox must answer"),
        }
    }
    let containers = |filter: ContainerFilter| async move {
        c.call(
            "ListContainers",
            c.runtime()
                .list_containers(c.request(ListContainersRequest {
                    filter: Some(filter),
                })),
        )
        .await
        .map(|l| {
            let mut ids: Vec<String> = l.containers.into_iter().map(|s| s.id).collect();
            ids.sort();
            ids
        })
    };
    let running = Some(ContainerStateValue {
        state: cri::ContainerState::ContainerRunning as i32,
    });
    let exited = Some(ContainerStateValue {
        state: cri::ContainerState::ContainerExited as i32,
    });
    let container_filters = [
        (
            "listContainers.filter-id",
            "by id",
            ContainerFilter {
                id: container.clone(),
                ..Default::default()
            },
            vec![container.clone()],
        ),
        (
            "listContainers.filter-sandbox",
            "by sandbox",
            ContainerFilter {
                pod_sandbox_id: ready.id.clone(),
                ..Default::default()
            },
            vec![container.clone()],
        ),
        (
            "listContainers.filter-label",
            "by label",
            ContainerFilter {
                label_selector: ours.clone(),
                ..Default::default()
            },
            vec![container.clone()],
        ),
        (
            "listContainers.filter-state",
            "by state CONTAINER_RUNNING (and this case's labels)",
            ContainerFilter {
                state: running,
                label_selector: ours.clone(),
                ..Default::default()
            },
            vec![container.clone()],
        ),
        (
            "listContainers.filter-state-exited",
            "by state CONTAINER_EXITED (and this case's labels)",
            ContainerFilter {
                state: exited,
                label_selector: ours.clone(),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (name, how, filter, want) in container_filters {
        let expected = format!(
            "ListContainers {how} returns exactly {}",
            count(&want, "container")
        );
        match containers(filter).await {
            Ok(got) => {
                case.verdict(
                    got == want,
                    name,
                    &expected,
                    if got == want {
                        "exactly those".to_string()
                    } else {
                        format!("returned {}", ids(&got))
                    },
                    format!("ListContainers {how}: {}, wanted {}", ids(&got), ids(&want)),
                    "the kubelet relists containers by sandbox and state every second",
                );
            }
            Err(e) => case.call_failed(name, &expected, &e, "ListContainers must answer"),
        }
    }
}

async fn teardown(case: &mut Case<'_>, want: &TeardownCheck) {
    let Some((sandbox, id)) = case.running_container(None, None).await else {
        return;
    };
    let c = case.c;
    twice(
        case,
        "stopContainer.idempotent",
        "StopContainer succeeds, and again on the stopped container",
        "StopContainer of a stopped container must succeed: the kubelet retries",
        || stop_container_call(c, &id),
    )
    .await;
    twice(
        case,
        "removeContainer.idempotent",
        "RemoveContainer succeeds, and again on the removed container",
        "RemoveContainer of a removed container must not fail: the kubelet's garbage \
         collector retries",
        || remove_container_call(c, &id),
    )
    .await;
    case.containers.retain(|c| *c != id);
    gone(
        case,
        "removeContainer.gone",
        "ContainerStatus of a removed container is NotFound",
        case.container_status(&id)
            .await
            .map(|s| state_name(s.state)),
    );
    twice(
        case,
        "stopPodSandbox.idempotent",
        "StopPodSandbox succeeds, and again on the stopped sandbox",
        "StopPodSandbox must be idempotent: the kubelet calls it again on every sync of a \
         terminating pod",
        || stop_sandbox_call(c, &sandbox.id),
    )
    .await;
    match case.sandbox_status(&sandbox.id).await {
        Ok(s) => {
            let state = sandbox_state_name(s.state);
            case.verdict(
                s.state == cri::PodSandboxState::SandboxNotready as i32,
                "podSandboxStatus.notready",
                "a stopped sandbox is SANDBOX_NOTREADY",
                format!("state {state}"),
                format!("PodSandboxStatus {}: {state}", short(&sandbox.id)),
                "StopPodSandbox ends the sandbox's processes and tears down its network",
            );
        }
        Err(e) => case.call_failed(
            "podSandboxStatus.notready",
            "a stopped sandbox is SANDBOX_NOTREADY",
            &e,
            "a stopped (not removed) sandbox still has a status",
        ),
    }
    twice(
        case,
        "removePodSandbox.idempotent",
        "RemovePodSandbox succeeds, and again on the removed sandbox",
        "RemovePodSandbox must be idempotent: it must not fail for a sandbox already removed",
        || remove_sandbox_call(c, &sandbox.id),
    )
    .await;
    case.sandboxes.retain(|s| *s != sandbox.id);
    gone(
        case,
        "podSandboxStatus.removed",
        "PodSandboxStatus of a removed sandbox is NotFound",
        case.sandbox_status(&sandbox.id)
            .await
            .map(|s| sandbox_state_name(s.state)),
    );
    if !want.unknown_ids {
        return;
    }
    for (name, call, result) in [
        (
            "stopPodSandbox.unknown-id",
            "StopPodSandbox",
            stop_sandbox_call(c, UNKNOWN_ID).await,
        ),
        (
            "removePodSandbox.unknown-id",
            "RemovePodSandbox",
            remove_sandbox_call(c, UNKNOWN_ID).await,
        ),
        (
            "stopContainer.unknown-id",
            "StopContainer",
            stop_container_call(c, UNKNOWN_ID).await,
        ),
        (
            "removeContainer.unknown-id",
            "RemoveContainer",
            remove_container_call(c, UNKNOWN_ID).await,
        ),
    ] {
        let expected = format!("{call} of an id the runtime never had succeeds or is NotFound");
        match result {
            Ok(()) => case.pass(
                name,
                &expected,
                "succeeded",
                format!("{call} {UNKNOWN_ID}: OK"),
            ),
            Err(e) if e.is_not_found() => case.pass(
                name,
                &expected,
                "NotFound",
                format!("{call} {UNKNOWN_ID}: {}", describe(&e)),
            ),
            Err(e) => case.call_failed(
                name,
                &expected,
                &e,
                "the kubelet cleans up after restarts with ids the runtime may have forgotten: \
                 anything but success or NotFound makes that cleanup fail",
            ),
        }
    }
}

/// The same call twice: both must succeed.
async fn twice<F, Fut>(case: &mut Case<'_>, name: &str, expected: &str, hint: &str, call: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), CriError>>,
{
    let first = call().await;
    let second = match &first {
        Ok(()) => Some(call().await),
        Err(_) => None,
    };
    match (first, second) {
        (Ok(()), Some(Ok(()))) => case.pass(
            name,
            expected,
            "both calls succeeded",
            "first: OK; second: OK".into(),
        ),
        (Err(e), _) => case.call_failed(name, expected, &e, hint),
        (Ok(()), Some(Err(e))) => {
            let words = format!("the second call: {}", describe(&e));
            case.fail(
                name,
                expected,
                words.clone(),
                format!("first: OK; second: {}", describe(&e)),
                format!("{expected}, but {words}"),
                hint,
            );
        }
        (Ok(()), None) => {}
    }
}

/// A status call that must answer NotFound.
fn gone(case: &mut Case<'_>, name: &str, expected: &str, status: Result<&'static str, CriError>) {
    match status {
        Err(e) if e.is_not_found() => case.pass(name, expected, "NotFound", describe(&e)),
        Err(e) => case.call_failed(name, expected, &e, "a removed object is NotFound"),
        Ok(state) => case.fail(
            name,
            expected,
            format!("still there, {state}"),
            format!("status answered {state}"),
            format!("{expected}, but it is still there ({state})"),
            "Remove must delete the object, not only stop it",
        ),
    }
}

// --- calls -----------------------------------------------------------------------------

async fn stop_container_call(c: &CriClient, id: &str) -> Result<(), CriError> {
    client::call(
        "StopContainer",
        SLOW_CALL_TIMEOUT,
        c.runtime().stop_container(client::request(
            StopContainerRequest {
                container_id: id.to_string(),
                timeout: STOP_GRACE_SECONDS,
            },
            SLOW_CALL_TIMEOUT,
        )),
    )
    .await
    .map(|_| ())
}

async fn remove_container_call(c: &CriClient, id: &str) -> Result<(), CriError> {
    client::call(
        "RemoveContainer",
        SLOW_CALL_TIMEOUT,
        c.runtime().remove_container(client::request(
            RemoveContainerRequest {
                container_id: id.to_string(),
            },
            SLOW_CALL_TIMEOUT,
        )),
    )
    .await
    .map(|_| ())
}

async fn stop_sandbox_call(c: &CriClient, id: &str) -> Result<(), CriError> {
    c.stop_sandbox(id, SLOW_CALL_TIMEOUT).await
}

async fn remove_sandbox_call(c: &CriClient, id: &str) -> Result<(), CriError> {
    c.remove_sandbox(id, SLOW_CALL_TIMEOUT).await
}

/// Cleanup: best effort, failures only logged.
async fn remove_container(c: &CriClient, id: &str) {
    if let Err(e) = remove_container_call(c, id).await
        && !e.is_not_found()
    {
        tracing::warn!(container = %id, error = %describe(&e), "removing a CRI suite container");
    }
}

async fn remove_sandbox(c: &CriClient, id: &str) {
    let _ = stop_sandbox_call(c, id).await;
    if let Err(e) = remove_sandbox_call(c, id).await
        && !e.is_not_found()
    {
        tracing::warn!(sandbox = %id, error = %describe(&e), "removing a CRI suite sandbox");
    }
}

// --- pure helpers ----------------------------------------------------------------------

/// The first 12 characters of an id, as crictl shows them.
fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

fn ids(list: &[String]) -> String {
    if list.is_empty() {
        return "nothing".into();
    }
    let short: Vec<&str> = list.iter().map(|s| short(s)).collect();
    format!("[{}]", short.join(", "))
}

/// A command as a shell would take it: words with spaces or quotes are quoted.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            if !w.is_empty() && !w.contains([' ', '\'', '"', '\\', '$', ';', '&', '|']) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `the 1 sandbox it made`, `no container`, in words that do not change between runs.
fn count(list: &[String], what: &str) -> String {
    match list.len() {
        0 => format!("no {what}"),
        1 => format!("the one {what} expected"),
        n => format!("the {n} expected"),
    }
}

fn state_name(state: i32) -> &'static str {
    cri::ContainerState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("an unknown state")
}

fn sandbox_state_name(state: i32) -> &'static str {
    cri::PodSandboxState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("an unknown state")
}

/// Whether `ip` is an address (in `subnet`, when given), and what was seen in words.
fn ip_check(ip: &str, subnet: Option<ipnet::Ipv4Net>) -> (bool, String) {
    match ip.parse::<IpAddr>() {
        Err(_) if ip.is_empty() => (false, "no IP".into()),
        Err(_) => (false, format!("{ip:?}, not an IP address")),
        Ok(IpAddr::V4(v4)) => match subnet {
            Some(net) if !net.contains(&v4) => (false, format!("{v4}, outside {net}")),
            Some(_) => (true, "an IP in the node's subnet".into()),
            None => (true, "an IP address".into()),
        },
        Ok(_) if subnet.is_none() => (true, "an IP address".into()),
        Ok(addr) => (false, format!("{addr}, not in the node's IPv4 subnet")),
    }
}

/// The resolv.conf lines a DNS config stands for, in order.
fn expected_resolv(dns: &DnsConfig) -> Vec<String> {
    let mut lines: Vec<String> = dns
        .servers
        .iter()
        .map(|s| format!("nameserver {s}"))
        .collect();
    if !dns.searches.is_empty() {
        lines.push(format!("search {}", dns.searches.join(" ")));
    }
    if !dns.options.is_empty() {
        lines.push(format!("options {}", dns.options.join(" ")));
    }
    lines
}

/// What in `text` (a resolv.conf) differs from the DNS config; empty when it matches.
fn resolv_problems(dns: &DnsConfig, text: &str) -> Vec<String> {
    let mut servers = Vec::new();
    let mut searches = Vec::new();
    let mut options = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => servers.extend(words.map(str::to_string)),
            // The last search (or domain) line wins, as in glibc.
            Some("search") | Some("domain") => searches = words.map(str::to_string).collect(),
            Some("options") => options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    let mut problems = Vec::new();
    let mut compare = |what: &str, want: &[String], got: &[String]| {
        if want != got {
            problems.push(format!(
                "{what}: expected [{}], found [{}]",
                want.join(" "),
                got.join(" ")
            ));
        }
    };
    compare("nameservers", &dns.servers, &servers);
    compare("search", &dns.searches, &searches);
    compare("options", &dns.options, &options);
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns() -> DnsConfig {
        DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["ns.svc.cluster.local".into(), "svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        }
    }

    #[test]
    fn resolv_conf_matches_the_dns_config_in_order() {
        let text = "search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";
        assert!(resolv_problems(&dns(), text).is_empty());
        let swapped = "search svc.cluster.local ns.svc.cluster.local\nnameserver 10.96.0.10\n";
        let problems = resolv_problems(&dns(), swapped);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("search: expected [ns.svc"),
            "{problems:?}"
        );
        assert!(problems[1].starts_with("options: expected [ndots:5], found []"));
        assert_eq!(
            expected_resolv(&dns()),
            [
                "nameserver 10.96.0.10",
                "search ns.svc.cluster.local svc.cluster.local",
                "options ndots:5"
            ]
        );
    }

    #[test]
    fn sandbox_ips_are_checked_against_the_subnet() {
        let net: ipnet::Ipv4Net = "10.244.3.0/24".parse().unwrap();
        assert_eq!(
            ip_check("10.244.3.7", Some(net)),
            (true, "an IP in the node's subnet".into())
        );
        assert!(!ip_check("10.244.4.7", Some(net)).0);
        assert_eq!(ip_check("", Some(net)), (false, "no IP".into()));
        assert!(ip_check("fd00::1", None).0);
        assert!(!ip_check("x", None).0);
    }

    #[test]
    fn commands_are_shown_as_a_shell_takes_them() {
        let argv = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            shell_words(&argv(&["sh", "-c", "exit 3"])),
            "sh -c 'exit 3'"
        );
        assert_eq!(shell_words(&argv(&["echo", "it's"])), "echo 'it'\\''s'");
        assert_eq!(shell_words(&argv(&["true", ""])), "true ''");
    }

    #[test]
    fn ids_are_shortened_as_crictl_does() {
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(ids(&[]), "nothing");
        assert_eq!(ids(&["abc".into()]), "[abc]");
        assert_eq!(state_name(1), "CONTAINER_RUNNING");
        assert_eq!(sandbox_state_name(0), "SANDBOX_READY");
    }
}
