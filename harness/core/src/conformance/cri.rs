//! `kind: CriSuite`: what pod creation needs from a CRI v1 runtime, checked over its socket,
//! critest-style. Each case names one scenario (`version`, `podSandbox`, `container`,
//! `execSync`, `list`, `teardown`) with its expectations; the runner
//! (`podcheck_conformance::cri`) turns it into named checks such as
//! `runPodSandbox.dns-config` or `execSync.exit-3.exit-code`.
//!
//! ```yaml
//! apiVersion: podcheck.dev/v1alpha1
//! kind: CriSuite
//! metadata: {name: cri}
//! spec:
//!   cases:
//!     - name: version
//!       check:
//!         version: {runtimeApiVersion: v1}
//!     - name: exit-codes
//!       check:
//!         execSync:
//!           - {name: exit-3, command: [sh, -c, "exit 3"], exitCode: 3}
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::duration::Duration;
use crate::load::{Problem, ReadFile, SuiteError, is_label, problem, syntax_problem};

/// The image a suite's containers run unless it names another: the busybox podcheck builds
/// and imports into its own containerd (a runtime given with `--cri-socket` must have it, or
/// be able to pull it).
pub const DEFAULT_IMAGE: &str = "docker.io/library/busybox:latest";
/// A case's deadline unless the suite or the case sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration(std::time::Duration::from_secs(60));

/// A cri conformance suite ready to run.
#[derive(Debug, Clone)]
pub struct CriSuite {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    /// The image of every container the cases create.
    pub image: String,
    pub cases: Vec<CriCase>,
}

/// One case: a scenario and its expectations.
#[derive(Debug, Clone, PartialEq)]
pub struct CriCase {
    pub name: String,
    /// The line of the case's `name:` in the suite file (1-based), where reports point.
    pub line: usize,
    pub description: String,
    /// Everything the case does, cleanup excluded, must end within this.
    pub timeout: Duration,
    pub check: CriCheck,
}

/// A `kind: CriSuite` file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "podcheck CriSuite",
    description = "A CRI conformance suite: cases that each run one scenario against a CRI v1 runtime's socket."
)]
pub struct CriSuiteFile {
    /// Always `podcheck.dev/v1alpha1`.
    pub api_version: CriApiVersion,
    /// Always `CriSuite`.
    pub kind: CriSuiteKind,
    pub metadata: CriMetadata,
    pub spec: CriSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum CriApiVersion {
    #[serde(rename = "podcheck.dev/v1alpha1")]
    V1Alpha1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum CriSuiteKind {
    CriSuite,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CriMetadata {
    /// The suite's name: a DNS-1123 label.
    #[schemars(with = "crate::suite::DnsLabel")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CriSpec {
    /// The image of the containers the cases create. Default: podcheck's busybox,
    /// `docker.io/library/busybox:latest`.
    #[serde(default)]
    pub image: Option<String>,
    /// The default deadline of a case. Default: 60s.
    #[serde(default)]
    pub timeout: Option<Duration>,
    pub cases: Vec<CriCaseFile>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CriCaseFile {
    /// The case's name: a DNS-1123 label, unique in the suite.
    #[schemars(with = "crate::suite::DnsLabel")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// This case's deadline (default: the suite's).
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// The scenario, and what it expects.
    pub check: CriCheck,
}

/// A scenario: which CRI calls are made, and what their answers must show.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum CriCheck {
    /// `Version`: the CRI API version, the runtime's name and version.
    Version(VersionCheck),
    /// `RunPodSandbox` with a hostname and DNS config, `PodSandboxStatus` (READY, an IP),
    /// and from a container in it, `/etc/resolv.conf` and `hostname` as configured.
    PodSandbox(SandboxCheck),
    /// `CreateContainer`, `StartContainer`, `ContainerStatus` (CREATED, RUNNING with the
    /// image), `StopContainer` (EXITED).
    Container(ContainerCheck),
    /// `ExecSync` in a running container: each command's exit code and output.
    ExecSync(Vec<ExecCheck>),
    /// `ListPodSandbox` and `ListContainers` filters: by id, state, label and sandbox.
    List(ListCheck),
    /// Stop and Remove of containers and sandboxes, each twice, and of unknown ids.
    Teardown(TeardownCheck),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VersionCheck {
    /// The CRI API version the runtime must answer. Default: `v1`.
    #[serde(default = "v1")]
    pub runtime_api_version: String,
    /// If set, the runtime's name must be this (e.g. `containerd`).
    #[serde(default)]
    pub runtime_name: Option<String>,
}

fn v1() -> String {
    "v1".into()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SandboxCheck {
    /// The sandbox's hostname; `hostname` inside it must print this. Default: the case's
    /// name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The DNS config of RunPodSandbox; `/etc/resolv.conf` inside must hold exactly these
    /// nameservers, search domains and options, in this order.
    #[serde(default)]
    pub dns_config: Option<DnsConfig>,
    /// Whether the sandbox must have an IP (from the runtime's CNI). Default: true.
    #[serde(default = "yes")]
    pub ip: bool,
}

fn yes() -> bool {
    true
}

/// CRI's `DNSConfig`, as the kubelet fills it in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsConfig {
    /// Nameserver IP addresses.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Search domains.
    #[serde(default)]
    pub searches: Vec<String>,
    /// resolv.conf options (`ndots:5`).
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerCheck {
    /// The container's command. Default: `[sleep, "3600"]`.
    #[serde(default = "sleeper")]
    pub command: Vec<String>,
    /// Whether StopContainer must end it (EXITED). Default: true.
    #[serde(default = "yes")]
    pub stop: bool,
}

/// The command of a container that runs until stopped.
pub fn sleeper() -> Vec<String> {
    vec!["sleep".into(), "3600".into()]
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExecCheck {
    /// Names the checks (`execSync.NAME.exit-code`); default: the command's position, from
    /// 1.
    #[serde(default)]
    #[schemars(with = "Option<crate::suite::DnsLabel>")]
    pub name: Option<Spanned<String>>,
    /// The command, run with ExecSync in a running busybox container.
    pub command: Vec<String>,
    /// The exit code it must end with. Default: 0.
    #[serde(default)]
    pub exit_code: i32,
    /// If set, stdout must be exactly this.
    #[serde(default)]
    pub stdout: Option<String>,
    /// The ExecSync timeout, whole seconds. Default: 10s.
    #[serde(default)]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListCheck {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TeardownCheck {
    /// Whether Stop/Remove of an id the runtime never had must succeed (critest expects it
    /// of StopPodSandbox and RemovePodSandbox; the kubelet relies on it). Default: true.
    #[serde(default = "yes")]
    pub unknown_ids: bool,
}

impl CriCheck {
    /// `version`, `podSandbox`, …: the scenario's key in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            CriCheck::Version(_) => "version",
            CriCheck::PodSandbox(_) => "podSandbox",
            CriCheck::Container(_) => "container",
            CriCheck::ExecSync(_) => "execSync",
            CriCheck::List(_) => "list",
            CriCheck::Teardown(_) => "teardown",
        }
    }
}

impl ExecCheck {
    /// The name its checks carry: its own, else its position from 1.
    pub fn label(&self, index: usize) -> String {
        self.name
            .as_ref()
            .map(|n| n.value.clone())
            .unwrap_or_else(|| (index + 1).to_string())
    }
}

/// Parses and checks a `kind: CriSuite` file whose text is `source`.
pub fn load(
    path: &Path,
    file: &str,
    source: &str,
    _read: ReadFile<'_>,
) -> Result<CriSuite, SuiteError> {
    let parsed: CriSuiteFile = serde_saphyr::from_str(source)
        .map_err(|e| SuiteError(vec![syntax_problem(file, source, &e)]))?;
    check(path, file, source, parsed)
}

fn check(
    path: &Path,
    file: &str,
    source: &str,
    suite: CriSuiteFile,
) -> Result<CriSuite, SuiteError> {
    let mut problems: Vec<Problem> = Vec::new();
    let label_problem = |name: &Spanned<String>, what: &str| {
        problem(
            file,
            source,
            &name.referenced,
            format!("{what} {:?} is not a DNS-1123 label", name.value),
            "not a label",
            Some("use lower-case letters, digits and '-', at most 63 characters".into()),
        )
    };
    if !is_label(&suite.metadata.name.value) {
        problems.push(label_problem(&suite.metadata.name, "the suite name"));
    }
    let default_timeout = suite.spec.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut seen = BTreeSet::new();
    let mut cases = Vec::new();
    for case in suite.spec.cases {
        let name = &case.name;
        if !is_label(&name.value) {
            problems.push(label_problem(name, "the case name"));
        } else if !seen.insert(name.value.clone()) {
            problems.push(problem(
                file,
                source,
                &name.referenced,
                format!("a second case named {:?}", name.value),
                "duplicate",
                Some(
                    "case names are unique in a suite: results and JUnit name cases by them".into(),
                ),
            ));
        }
        match &case.check {
            CriCheck::ExecSync(execs) => {
                if execs.is_empty() {
                    problems.push(problem(
                        file,
                        source,
                        &name.referenced,
                        format!("case {:?} runs no command", name.value),
                        "no commands",
                        Some("list at least one `- command: [...]` under `execSync`".into()),
                    ));
                }
                let mut labels = BTreeSet::new();
                for (i, exec) in execs.iter().enumerate() {
                    if let Some(n) = &exec.name
                        && !is_label(&n.value)
                    {
                        problems.push(label_problem(n, "the command name"));
                    }
                    if exec.command.is_empty() {
                        problems.push(problem(
                            file,
                            source,
                            exec.name
                                .as_ref()
                                .map_or(&name.referenced, |n| &n.referenced),
                            format!("command {} of case {:?} is empty", i + 1, name.value),
                            "empty command",
                            Some("write the argv, e.g. `[sh, -c, \"exit 3\"]`".into()),
                        ));
                    }
                    if !labels.insert(exec.label(i)) {
                        problems.push(problem(
                            file,
                            source,
                            exec.name
                                .as_ref()
                                .map_or(&name.referenced, |n| &n.referenced),
                            format!("a second command named {:?}", exec.label(i)),
                            "duplicate",
                            Some("each command's checks are named after it".into()),
                        ));
                    }
                }
            }
            CriCheck::Container(c) if c.command.is_empty() => problems.push(problem(
                file,
                source,
                &name.referenced,
                format!(
                    "the container of case {:?} has an empty command",
                    name.value
                ),
                "empty command",
                Some("leave `command` out for `sleep 3600`".into()),
            )),
            CriCheck::PodSandbox(s) => {
                for server in s.dns_config.iter().flat_map(|d| &d.servers) {
                    if server.parse::<std::net::IpAddr>().is_err() {
                        problems.push(problem(
                            file,
                            source,
                            &name.referenced,
                            format!(
                                "nameserver {server:?} of case {:?} is not an IP address",
                                name.value
                            ),
                            "in this case",
                            Some(
                                "`dnsConfig.servers` lists IP addresses, as the kubelet sends them"
                                    .into(),
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
        cases.push(CriCase {
            line: case.name.referenced.line() as usize,
            name: case.name.value.clone(),
            description: case.description,
            timeout: case.timeout.unwrap_or(default_timeout),
            check: case.check,
        });
    }
    if cases.is_empty() {
        problems.push(problem(
            file,
            source,
            &suite.metadata.name.referenced,
            "the suite has no cases".into(),
            "in this suite",
            Some("add cases under `spec.cases`".into()),
        ));
    }
    if !problems.is_empty() {
        return Err(SuiteError(problems));
    }
    Ok(CriSuite {
        path: path.to_path_buf(),
        name: suite.metadata.name.value,
        description: suite.metadata.description,
        image: suite.spec.image.unwrap_or_else(|| DEFAULT_IMAGE.into()),
        cases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Result<CriSuite, SuiteError> {
        let read: ReadFile<'_> = &|_| Ok(String::new());
        load(Path::new("suite.yaml"), "suite.yaml", source, read)
    }

    const HEAD: &str = "apiVersion: podcheck.dev/v1alpha1\nkind: CriSuite\nmetadata: {name: cri}\n";

    #[test]
    fn scenarios_parse_with_their_defaults() {
        let suite = parse(&format!(
            "{HEAD}spec:\n  timeout: 20s\n  cases:\n\
             \x20   - name: version\n      check: {{version: {{}}}}\n\
             \x20   - name: sandbox\n      timeout: 5s\n      check:\n        podSandbox:\n          dnsConfig: {{servers: [10.96.0.10], options: [ndots:5]}}\n\
             \x20   - name: exec\n      check:\n        execSync:\n          - {{command: [sh, -c, exit 3], exitCode: 3}}\n          - {{name: echo, command: [echo, hi], stdout: \"hi\\n\"}}\n"
        ))
        .unwrap();
        assert_eq!(suite.image, DEFAULT_IMAGE);
        assert_eq!(suite.cases.len(), 3);
        assert_eq!(
            suite.cases[0].check,
            CriCheck::Version(VersionCheck {
                runtime_api_version: "v1".into(),
                runtime_name: None
            })
        );
        assert_eq!(suite.cases[0].timeout, Duration::from_secs(20));
        assert_eq!(suite.cases[1].timeout, Duration::from_secs(5));
        let CriCheck::PodSandbox(s) = &suite.cases[1].check else {
            panic!("{:?}", suite.cases[1].check)
        };
        assert!(s.ip);
        assert_eq!(s.dns_config.as_ref().unwrap().options, ["ndots:5"]);
        let CriCheck::ExecSync(execs) = &suite.cases[2].check else {
            panic!()
        };
        assert_eq!(execs[0].exit_code, 3);
        assert_eq!(execs[0].label(0), "1");
        assert_eq!(execs[1].label(1), "echo");
        assert_eq!(execs[1].stdout.as_deref(), Some("hi\n"));
    }

    #[test]
    fn unknown_fields_and_scenarios_are_located() {
        let err = parse(&format!(
            "{HEAD}spec:\n  cases:\n    - name: v\n      check: {{version: {{apiVersion: v1}}}}\n"
        ))
        .unwrap_err();
        assert_eq!(err.0[0].line, 7, "{err}");
        assert!(err.0[0].message.contains("unknown field"), "{err}");
        let err = parse(&format!(
            "{HEAD}spec:\n  cases:\n    - name: v\n      check: {{reboot: {{}}}}\n"
        ))
        .unwrap_err();
        assert!(err.0[0].message.contains("reboot"), "{err}");
    }

    #[test]
    fn names_commands_and_servers_are_checked() {
        let err = parse(&format!(
            "{HEAD}spec:\n  cases:\n\
             \x20   - name: Bad_Name\n      check: {{list: {{}}}}\n\
             \x20   - name: dup\n      check: {{list: {{}}}}\n\
             \x20   - name: dup\n      check: {{teardown: {{}}}}\n\
             \x20   - name: exec\n      check: {{execSync: [{{command: []}}]}}\n\
             \x20   - name: dns\n      check: {{podSandbox: {{dnsConfig: {{servers: [dns.local]}}}}}}\n"
        ))
        .unwrap_err();
        let messages: Vec<String> = err
            .0
            .iter()
            .map(|p| format!("{}: {}", p.line, p.message))
            .collect();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(
            messages[0].starts_with("6: the case name \"Bad_Name\""),
            "{messages:#?}"
        );
        assert!(
            messages[1].starts_with("10: a second case named \"dup\""),
            "{messages:#?}"
        );
        assert!(
            messages[2].contains("command 1 of case \"exec\" is empty"),
            "{messages:#?}"
        );
        assert!(messages[3].contains("\"dns.local\""), "{messages:#?}");
    }

    #[test]
    fn the_schema_names_every_scenario() {
        let schema = crate::conformance::json_schema();
        for key in [
            "version",
            "podSandbox",
            "container",
            "execSync",
            "list",
            "teardown",
        ] {
            assert!(schema.contains(&format!("\"{key}\"")), "{key} missing");
        }
    }
}
