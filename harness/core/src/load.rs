//! Loading suites: YAML → typed suite → checked cases with their pods resolved. Every
//! problem becomes a diagnostic naming file, line and column, with a hint.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use miette::{Diagnostic, NamedSource, SourceSpan};
use serde_json::Value;
use serde_saphyr::{Location, Spanned};

use crate::duration::Duration;
use crate::stage::Stage;
use crate::suite::{CLUSTER_DOMAIN_VARIABLE, Expectations, LookupAddress, NodeSpec, SuiteFile};

/// How a suite reads files: injected, so loading stays pure and testable.
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

/// The default case deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration(std::time::Duration::from_secs(30));

/// Who sends a case's create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The target's administrator (the kubeconfig's user).
    Admin,
    /// No credentials at all.
    Anonymous,
    /// A user the suite declares.
    User { name: String, groups: Vec<String> },
    /// A ServiceAccount of the case's namespace.
    ServiceAccount { name: String },
}

impl Identity {
    pub fn label(&self) -> String {
        match self {
            Identity::Admin => "admin".into(),
            Identity::Anonymous => "none".into(),
            Identity::User { name, .. } => name.clone(),
            Identity::ServiceAccount { name } => format!("serviceaccount {name}"),
        }
    }
}

/// A suite ready to run.
#[derive(Debug, Clone)]
pub struct Suite {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    pub nodes: Vec<NodeSpec>,
    /// Components the suite requires to be real, by name.
    pub require_real: Vec<String>,
    pub identities: Vec<Identity>,
    /// The suite's own scheduler, to run against the embedded target.
    pub scheduler: Option<ExternalScheduler>,
    /// Image archives for the embedded nodes (`spec.images`).
    pub images: Vec<SuiteImage>,
    /// The suite's CNI conflist template for the embedded nodes' real pod network
    /// (`spec.components.cniConflist`), resolved against the suite's directory: the suite
    /// needs the real network.
    pub cni_conflist: Option<PathBuf>,
    pub cases: Vec<CaseSpec>,
}

/// An image archive a suite names: its path, and where the suite names it, so that the
/// edge that reads the archive can point at the line when it is not one.
#[derive(Debug, Clone)]
pub struct SuiteImage {
    /// Resolved against the suite's directory.
    pub path: PathBuf,
    file: String,
    source: std::sync::Arc<str>,
    at: Location,
}

impl SuiteImage {
    /// A diagnostic at the suite's mention of this archive.
    pub fn problem(&self, message: String, help: Option<String>) -> SuiteError {
        SuiteError(vec![problem(
            &self.file,
            &self.source,
            &self.at,
            message,
            "this image archive",
            help,
        )])
    }
}

/// A scheduler podcheck starts as a process (from the suite or `--scheduler-command`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalScheduler {
    /// The program (resolved against the suite's directory when it has a `/`) and its
    /// arguments.
    pub command: Vec<String>,
    /// The `spec.schedulerName` it serves.
    pub scheduler_name: String,
}

/// The scheduler name pods get when they name none.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

impl ExternalScheduler {
    /// Whether it takes the default scheduler's place (and the builtin one must stop).
    pub fn replaces_default(&self) -> bool {
        self.scheduler_name == DEFAULT_SCHEDULER_NAME
    }
}

/// A case ready to run: its pod resolved and its expectations filled in.
#[derive(Debug, Clone)]
pub struct CaseSpec {
    pub name: String,
    /// The line of the case's `name:` in the suite file (1-based), where reports point.
    pub line: usize,
    pub description: String,
    pub tags: Vec<String>,
    /// The Pod object to create (metadata.name set; namespace left to the runner).
    pub pod: Value,
    /// `inline` or the pod file's path as the suite wrote it.
    pub pod_source: String,
    pub identity: Identity,
    pub setup: Vec<Value>,
    pub expect: Expectations,
    pub deadlines: BTreeMap<Stage, Duration>,
    pub timeout: Duration,
    pub dns_lookups: Vec<Lookup>,
    /// How many copies of the pod to create at once (1: just the pod).
    pub replicas: u32,
    /// What breaks while the case runs (embedded target only).
    pub faults: Vec<crate::fault::Fault>,
    /// How long the pod must stay Running and Ready once it is (`staysReadyFor`).
    pub stays_ready_for: Option<Duration>,
    /// A load case (`load:`): `pod` is the template of its pods, and the stage-only fields
    /// are at their defaults.
    pub load: Option<crate::scale::case::LoadPlan>,
}

/// A name a case resolves from the pod, and what it must resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// As the suite wrote it, `$(CLUSTER_DOMAIN)` included.
    pub name: String,
    /// None: it must not resolve.
    pub address: Option<LookupAddress>,
}

impl Lookup {
    /// Whether the name holds `$(CLUSTER_DOMAIN)`.
    pub fn needs_cluster_domain(&self) -> bool {
        self.name.contains(CLUSTER_DOMAIN_VARIABLE)
    }

    /// The name with the cluster's domain filled in.
    pub fn name_in(&self, cluster_domain: &str) -> String {
        self.name.replace(CLUSTER_DOMAIN_VARIABLE, cluster_domain)
    }
}

impl CaseSpec {
    /// The deadline of a stage: its own, or the case's.
    pub fn deadline(&self, stage: Stage) -> Duration {
        self.deadlines.get(&stage).copied().unwrap_or(self.timeout)
    }
}

/// One problem in a suite, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
    /// The rendered diagnostic: message, source snippet with a label, hint.
    pub rendered: String,
}

/// Why a suite cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_problems(.0))]
pub struct SuiteError(pub Vec<Problem>);

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.rendered.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
struct Located {
    message: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("{label}")]
    span: SourceSpan,
    label: String,
    #[help]
    help: Option<String>,
}

fn render(diag: &dyn Diagnostic) -> String {
    let mut out = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    if handler.render_report(&mut out, diag).is_err() {
        out = diag.to_string();
    }
    out
}

/// A problem at a location in `source`.
pub(crate) fn problem(
    file: &str,
    source: &str,
    at: &Location,
    message: String,
    label: &str,
    help: Option<String>,
) -> Problem {
    let span = at.span();
    let offset = span
        .byte_offset()
        .map(|o| o as usize)
        .unwrap_or_else(|| offset_of(source, at.line(), at.column()));
    let len = span.byte_len().unwrap_or(1).max(1) as usize;
    let diag = Located {
        message: format!("{file}:{}:{}: {message}", at.line(), at.column()),
        src: NamedSource::new(file, source.to_string()),
        span: (offset, len).into(),
        label: label.to_string(),
        help,
    };
    Problem {
        file: file.to_string(),
        line: at.line(),
        column: at.column(),
        message,
        rendered: render(&diag),
    }
}

/// The byte offset of a 1-based line and column (in characters), for errors whose span
/// has no byte offset.
fn offset_of(source: &str, line: u64, column: u64) -> usize {
    let start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1) as usize)
        .map(str::len)
        .sum();
    let rest = &source[start.min(source.len())..];
    start
        + rest
            .chars()
            .take(column.saturating_sub(1) as usize)
            .map(char::len_utf8)
            .sum::<usize>()
}

pub(crate) fn syntax_problem(file: &str, source: &str, err: &serde_saphyr::Error) -> Problem {
    use serde_saphyr::MessageFormatter as _;
    let raw = serde_saphyr::DefaultMessageFormatter
        .format_message(err.without_snippet())
        .into_owned();
    let raw = first_line(&raw);
    let Some(at) = err.location() else {
        return Problem {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: raw.clone(),
            rendered: format!("{file}: {raw}"),
        };
    };
    let (message, label, help) = explain_parse_error(&raw);
    problem(file, source, &at, message, label, help)
}

/// serde's and the YAML parser's wording, turned into a message, a label and a hint.
fn explain_parse_error(raw: &str) -> (String, &'static str, Option<String>) {
    if let Some(rest) = raw.strip_prefix("unknown field ") {
        let (field, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let fields = expected.trim_start_matches("one of ").replace('`', "");
        let help = (!fields.is_empty()).then(|| format!("the fields here are: {fields}"));
        return (format!("unknown field {field}"), "unknown field", help);
    }
    if let Some(rest) = raw.strip_prefix("unknown variant ") {
        let (value, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let expected = expected.trim_start_matches("one of ").replace('`', "");
        if expected.contains("podcheck.dev/") {
            return (
                format!("unsupported apiVersion {value}"),
                "not supported",
                Some(format!("this podcheck reads {expected}")),
            );
        }
        if expected == "Suite" {
            return (format!("unsupported kind {value}"), "not a Suite", Some("a suite file has `kind: Suite`; pods go in files of their own, named by `pod:`".into()));
        }
        return (
            format!("unknown value {value}"),
            "not allowed here",
            (!expected.is_empty()).then(|| format!("write one of: {expected}")),
        );
    }
    if raw.starts_with(crate::suite::LOOKUP_ADDRESS_ERROR) {
        return (
            raw.to_string(),
            "not an address",
            Some("write an IP address, {service: NAME} (in the case's namespace) or {service: NAMESPACE/NAME}".into()),
        );
    }
    if raw.starts_with("invalid duration") {
        return (
            raw.split(':').next().unwrap_or(raw).to_string(),
            "not a duration",
            Some("add a unit: 500ms, 2s, 1m or 1m30s".into()),
        );
    }
    if raw.contains("expected sequence") {
        return (
            format!("expected a list ({raw})"),
            "not a list",
            Some("write a list: `[a, b]`, or one `- item` per line".into()),
        );
    }
    if raw.contains("expected mapping") || raw.contains("expected a map") {
        return (
            format!("expected a mapping ({raw})"),
            "not a mapping",
            Some("write `key: value` pairs, or `{key: value}`".into()),
        );
    }
    if raw.starts_with("invalid type") {
        return (raw.to_string(), "wrong type", None);
    }
    (raw.to_string(), "here", Some("a YAML syntax error: an unclosed `[`, `{` or quote on an earlier line is a common cause; quote values that contain `: `".into()))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// The hint for a name that is not a DNS-1123 label.
const LABEL_HINT: &str = "use lower-case letters, digits and '-', at most 63 characters";

/// A problem when the suite's name is not a DNS-1123 label.
pub(crate) fn suite_name_problem(
    file: &str,
    source: &str,
    name: &Spanned<String>,
) -> Option<Problem> {
    (!is_label(&name.value)).then(|| {
        problem(
            file,
            source,
            &name.referenced,
            format!("suite name {:?} is not a DNS-1123 label", name.value),
            "this name",
            Some(LABEL_HINT.into()),
        )
    })
}

/// A problem when a case's name is not a DNS-1123 label (`why` adds what the name is
/// used for) or repeats one already in `seen`.
pub(crate) fn case_name_problem(
    file: &str,
    source: &str,
    name: &Spanned<String>,
    seen: &mut BTreeSet<String>,
    why: &str,
) -> Option<Problem> {
    let value = &name.value;
    if !is_label(value) {
        Some(problem(
            file,
            source,
            &name.referenced,
            format!("case name {value:?} is not a DNS-1123 label"),
            "this name",
            Some(format!("{LABEL_HINT}{why}")),
        ))
    } else if !seen.insert(value.clone()) {
        Some(problem(
            file,
            source,
            &name.referenced,
            format!("case {value:?} is defined twice"),
            "second definition",
            Some("case names must be unique within a suite".into()),
        ))
    } else {
        None
    }
}

/// The suite file's name (as shown in diagnostics) and its text.
pub(crate) fn read_source(path: &Path, read: ReadFile<'_>) -> Result<(String, String), SuiteError> {
    let file = path.display().to_string();
    match read(path) {
        Ok(source) => Ok((file, source)),
        Err(e) => Err(SuiteError(vec![Problem {
            rendered: format!("{file}: cannot read the suite: {e}"),
            file,
            line: 0,
            column: 0,
            message: format!("cannot read the suite: {e}"),
        }])),
    }
}

/// Reads and checks the suite at `path`.
pub(crate) use crate::dns_name::is_label;

pub fn load(path: &Path, read: ReadFile<'_>) -> Result<Suite, SuiteError> {
    let (file, source) = read_source(path, read)?;
    let parsed: SuiteFile = serde_saphyr::from_str(&source)
        .map_err(|e| SuiteError(vec![syntax_problem(&file, &source, &e)]))?;
    check(path, &file, &source, parsed, read)
}

fn check(
    path: &Path,
    file: &str,
    source: &str,
    suite: SuiteFile,
    read: ReadFile<'_>,
) -> Result<Suite, SuiteError> {
    let mut problems = Vec::new();
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut identities = Vec::new();
    let identity_of = |i: &crate::suite::IdentitySpec| {
        if i.service_account {
            Identity::ServiceAccount {
                name: i.name.clone(),
            }
        } else {
            Identity::User {
                name: i.name.clone(),
                groups: i.groups.clone(),
            }
        }
    };
    for id in &suite.spec.identities {
        identities.push(identity_of(id));
    }
    let declared: Vec<String> = suite
        .spec
        .identities
        .iter()
        .map(|i| i.name.clone())
        .collect();
    let suite_timeout = suite.spec.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let scheduler = match &suite.spec.components.scheduler {
        None => None,
        Some(c) if c.command.value.is_empty() || c.command.value[0].is_empty() => {
            problems.push(problem(
                file,
                source,
                &c.command.referenced,
                "the scheduler command is empty".into(),
                "no program",
                Some(
                    "write the program and its arguments, e.g. `command: [./my-scheduler, --v=2]`"
                        .into(),
                ),
            ));
            None
        }
        Some(c) => {
            let mut command = c.command.value.clone();
            if command[0].contains('/') && !Path::new(&command[0]).is_absolute() {
                command[0] = dir.join(&command[0]).display().to_string();
            }
            Some(ExternalScheduler {
                command,
                scheduler_name: c
                    .scheduler_name
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.into()),
            })
        }
    };
    let cni_conflist = suite.spec.components.cni_conflist.as_ref().and_then(|c| {
        let at = dir.join(&c.value);
        let wrong = match read(&at) {
            Err(e) => Some((
                format!("cannot read the CNI conflist {}: {e}", c.value),
                format!("looked for {}; it is relative to the suite file", at.display()),
            )),
            Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) if v.get("plugins").is_some_and(|p| p.is_array()) => None,
                Ok(_) => Some((
                    format!("the CNI conflist {} has no `plugins` list", c.value),
                    "a conflist is a JSON object with `cniVersion`, `name` and `plugins: [...]` (see fixtures/cni/bridge.conflist)".into(),
                )),
                Err(e) => Some((
                    format!("the CNI conflist {} is not JSON: {e}", c.value),
                    "a conflist is a JSON object with `cniVersion`, `name` and `plugins: [...]` (see fixtures/cni/bridge.conflist)".into(),
                )),
            },
        };
        match wrong {
            Some((message, help)) => {
                problems.push(problem(
                    file,
                    source,
                    &c.referenced,
                    message,
                    "this conflist",
                    Some(help),
                ));
                None
            }
            None => Some(at),
        }
    });
    let shared_source: std::sync::Arc<str> = source.into();
    let images = suite
        .spec
        .images
        .iter()
        .map(|i| SuiteImage {
            path: dir.join(&i.value),
            file: file.to_string(),
            source: shared_source.clone(),
            at: i.referenced,
        })
        .collect();
    let mut names = BTreeSet::new();
    let mut cases = Vec::new();
    for case in suite.spec.cases {
        let name = case.name.value.clone();
        problems.extend(case_name_problem(
            file,
            source,
            &case.name,
            &mut names,
            "; it names the case's namespace",
        ));
        let identity = match case.identity.as_ref().map(|s| s.value.as_str()) {
            None | Some("admin") => Identity::Admin,
            Some("none") => Identity::Anonymous,
            Some(other) => match suite.spec.identities.iter().find(|i| i.name == other) {
                Some(i) => identity_of(i),
                None => {
                    let at = &case.identity.as_ref().expect("named identity").referenced;
                    let help = if declared.is_empty() {
                        "use admin or none, or declare it under spec.identities".to_string()
                    } else {
                        format!(
                            "use admin, none, or one of the declared identities: {}",
                            declared.join(", ")
                        )
                    };
                    problems.push(problem(
                        file,
                        source,
                        at,
                        format!("unknown identity {other:?}"),
                        "not declared",
                        Some(help),
                    ));
                    Identity::Admin
                }
            },
        };
        let load = case
            .load
            .as_ref()
            .and_then(|l| check_load(file, source, &case, l, &mut problems));
        let resolved = match (&case.pod, &case.load) {
            (Some(pod), _) => resolve_pod(dir, file, source, pod, &name, read),
            (None, Some(_)) => Ok(seed_pod(&name)),
            (None, None) => Err(problem(
                file,
                source,
                &case.name.referenced,
                format!("case {name:?} has no pod"),
                "this case",
                Some("write `pod: pods/busybox.yaml` (relative to the suite) or the Pod inline; or `load:` for many pods at once".into()),
            )),
        };
        let (pod, pod_source) = match resolved {
            Ok(p) => p,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        for obj in &case.setup {
            let v = &obj.value;
            let missing: Vec<&str> = ["apiVersion", "kind"]
                .into_iter()
                .filter(|k| v.get(*k).and_then(Value::as_str).is_none())
                .collect();
            let no_name = v
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .is_none();
            if !v.is_object() || !missing.is_empty() || no_name {
                problems.push(problem(file, source, &obj.referenced, "a setup object needs apiVersion, kind and metadata.name".into(), "this object", Some("for example: {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {...}}".into())));
            }
        }
        let replicas = match &case.replicas {
            None => 1,
            Some(r) if (1..=500).contains(&r.value) => r.value,
            Some(r) => {
                problems.push(problem(
                    file,
                    source,
                    &r.referenced,
                    format!("replicas {} is out of range", r.value),
                    "here",
                    Some("a case creates between 1 and 500 copies of its pod".into()),
                ));
                1
            }
        };
        let stays_ready_for = match stays_ready_problem(&case) {
            Some((at, message, help)) => {
                problems.push(problem(file, source, at, message, "here", Some(help)));
                None
            }
            None => case.stays_ready_for.as_ref().map(|d| d.value),
        };
        let mut dns_lookups = Vec::new();
        for lookup in case.dns_lookups {
            let name = &lookup.name;
            let rest = name.value.replace(CLUSTER_DOMAIN_VARIABLE, "");
            if rest.contains("$(") {
                problems.push(problem(
                    file,
                    source,
                    &name.referenced,
                    format!("unknown variable in {:?}", name.value),
                    "here",
                    Some(format!(
                        "the one variable a lookup name may hold is {CLUSTER_DOMAIN_VARIABLE}"
                    )),
                ));
            }
            dns_lookups.push(Lookup {
                name: name.value.clone(),
                address: lookup.address,
            });
        }
        let timeout = case.timeout.unwrap_or(suite_timeout);
        use crate::suite::BindingExpectation as B;
        match &case.expect.binding {
            Some(B::LeftAlone(_) | B::Unschedulable(_)) if replicas > 1 => {
                let at = case
                    .replicas
                    .as_ref()
                    .map(|r| &r.referenced)
                    .unwrap_or(&case.name.referenced);
                problems.push(problem(file, source, at, "replicas apply to pods that get bound; this case expects its pod to stay unbound".into(), "here", Some("a batch measures binding latency: leave replicas out, or expect the copies to be bound".into())));
            }
            Some(B::LeftAlone(window)) if window.0 >= timeout.0 => {
                problems.push(problem(file, source, &case.name.referenced, format!("the leftAlone window ({window}) is not shorter than the case's timeout ({timeout})"), "this case", Some("the pod is watched for the window within the case's deadline: lengthen `timeout` or shorten the window".into())));
            }
            _ => {}
        }
        let faults = check_faults(file, source, case.faults, timeout, &mut problems);
        cases.push(CaseSpec {
            line: case.name.referenced.line() as usize,
            name,
            description: case.description,
            tags: case.tags,
            pod,
            pod_source,
            identity,
            setup: case.setup.into_iter().map(|s| s.value).collect(),
            expect: case.expect,
            deadlines: case.deadlines,
            timeout,
            dns_lookups,
            replicas,
            faults,
            stays_ready_for,
            load,
        });
    }
    problems.extend(suite_name_problem(file, source, &suite.metadata.name));
    if !problems.is_empty() {
        return Err(SuiteError(problems));
    }
    Ok(Suite {
        path: path.to_path_buf(),
        name: suite.metadata.name.value,
        description: suite.metadata.description,
        nodes: suite.spec.nodes,
        require_real: suite
            .spec
            .require_real
            .iter()
            .map(|c| c.name().to_string())
            .collect(),
        identities,
        scheduler,
        images,
        cni_conflist,
        cases,
    })
}

/// A case's faults, checked: each kind once, injected no later than the stage it breaks,
/// lasting less than the case, with a recovery deadline only where it ends.
fn check_faults(
    file: &str,
    source: &str,
    specs: Vec<crate::suite::FaultSpec>,
    timeout: Duration,
    problems: &mut Vec<Problem>,
) -> Vec<crate::fault::Fault> {
    use crate::suite::FaultKind;
    let mut faults: Vec<crate::fault::Fault> = Vec::new();
    for spec in specs {
        let kind = &spec.breaks.value;
        let here = &spec.breaks.referenced;
        let mut complain = |at: &Location, message: String, help: &str| {
            problems.push(problem(
                file,
                source,
                at,
                message,
                "here",
                Some(help.into()),
            ));
        };
        if faults.iter().any(|f| f.kind.name() == kind.name()) {
            complain(
                here,
                format!("a second {} fault", kind.name()),
                "a case breaks each component once",
            );
        }
        if let FaultKind::CniAddFails(e) = kind
            && e.code == 0
        {
            complain(
                here,
                "CNI error code 0 is not an error".into(),
                "the CNI spec's codes start at 1 (7: invalid network config, 11: try again later); 100 and up are the plugin's own",
            );
        }
        let at = spec.at.as_ref().map_or(Stage::Auth, |a| a.value);
        if let Some(a) = &spec.at
            && a.value > kind.latest_at()
        {
            complain(
                &a.referenced,
                format!(
                    "a {} fault at {} comes after the stage it breaks ({})",
                    kind.name(),
                    a.value,
                    kind.latest_at()
                ),
                "inject it at that stage or earlier: by then the component has done its part",
            );
        }
        if let Some(lasts) = &spec.lasts
            && (lasts.value.0.is_zero() || lasts.value >= timeout)
        {
            complain(
                &lasts.referenced,
                format!("a fault lasting {} in a case of {timeout}", lasts.value),
                "`for` is how long the fault lasts once injected, shorter than the case's timeout; leave it out to keep the fault until the case ends",
            );
        }
        if let Some(within) = &spec.recover_within
            && spec.lasts.is_none()
        {
            complain(
                &within.referenced,
                "recoverWithin needs the fault to end".into(),
                "say how long it lasts with `for`",
            );
        }
        faults.push(crate::fault::Fault {
            kind: kind.clone(),
            at,
            lasts: spec.lasts.map(|l| l.value),
            recover_within: spec.recover_within.map(|w| w.value),
        });
    }
    faults
}

/// The most pods a load case creates.
const LOAD_PODS_MAX: u32 = 100_000;

/// A case's `load:`, checked: the pods in range, a pace that moves, each SLO parsed, and
/// none of the fields that only a one-pod case has (they would be silently ignored).
fn check_load(
    file: &str,
    source: &str,
    case: &crate::suite::Case,
    load: &Spanned<crate::suite::LoadSpec>,
    problems: &mut Vec<Problem>,
) -> Option<crate::scale::case::LoadPlan> {
    let before = problems.len();
    let mut complain = |at: &Location, message: String, label: &str, help: &str| {
        problems.push(problem(file, source, at, message, label, Some(help.into())));
    };
    for (field, at) in stage_only_fields(case) {
        complain(
            at.unwrap_or(&load.referenced),
            format!("`{field}` does not apply to a load case"),
            if at.is_some() { "here" } else { "this load" },
            &stage_only_help(field),
        );
    }
    let spec = &load.value;
    let pods = &spec.pods;
    if !(1..=LOAD_PODS_MAX).contains(&pods.value) {
        complain(
            &pods.referenced,
            format!("pods {} is out of range", pods.value),
            "here",
            "a load case creates between 1 and 100000 pods",
        );
    }
    let in_flight = spec
        .in_flight
        .as_ref()
        .map_or(crate::scale::case::DEFAULT_IN_FLIGHT as u32, |k| k.value);
    if let Some(k) = &spec.in_flight
        && !(1..=10_000).contains(&k.value)
    {
        complain(
            &k.referenced,
            format!("inFlight {} is out of range", k.value),
            "here",
            "between 1 and 10000 creates wait for their answer at once (default 64)",
        );
    }
    if let Some(q) = &spec.qps
        && !(q.value > 0.0 && q.value.is_finite())
    {
        complain(
            &q.referenced,
            format!("qps {} is not a rate", q.value),
            "here",
            "creates a second, above 0; leave it out to create as fast as inFlight allows",
        );
    }
    let mut slos = Vec::new();
    for text in &spec.slo {
        match crate::scale::slo::Slo::parse(&text.value) {
            Ok(slo) => slos.push(slo),
            Err(e) => complain(
                &text.referenced,
                e.to_string(),
                "this SLO",
                "an SLO is METRIC.PERCENTILE<DURATION (or <=), e.g. pod_startup.p99<5s",
            ),
        }
    }
    (problems.len() == before).then(|| crate::scale::case::LoadPlan {
        pods: pods.value as usize,
        in_flight: in_flight as usize,
        qps: spec.qps.as_ref().map(|q| q.value),
        timeout: spec.timeout.map(|d| d.0),
        slos,
    })
}

/// The fields a load case sets that only a one-pod case reads, and where each is when
/// the suite's types keep it.
fn stage_only_fields(case: &crate::suite::Case) -> Vec<(&'static str, Option<&Location>)> {
    let e = &case.expect;
    let expects = e.auth.is_some()
        || e.etcd_write.is_some()
        || e.pending.is_some()
        || e.binding.is_some()
        || e.cri_launch.is_some()
        || e.cni_attach.is_some()
        || e.dns.is_some()
        || e.status_update.is_some();
    fn spanned(set: bool, at: Option<&Location>) -> Option<Option<&Location>> {
        set.then_some(at)
    }
    [
        (
            "identity",
            spanned(
                case.identity.is_some(),
                case.identity.as_ref().map(|i| &i.referenced),
            ),
        ),
        (
            "setup",
            spanned(
                !case.setup.is_empty(),
                case.setup.first().map(|o| &o.referenced),
            ),
        ),
        ("expect", spanned(expects, None)),
        ("deadlines", spanned(!case.deadlines.is_empty(), None)),
        ("timeout", spanned(case.timeout.is_some(), None)),
        (
            "dnsLookups",
            spanned(
                !case.dns_lookups.is_empty(),
                case.dns_lookups.first().map(|l| &l.name.referenced),
            ),
        ),
        (
            "replicas",
            spanned(
                case.replicas.is_some(),
                case.replicas.as_ref().map(|r| &r.referenced),
            ),
        ),
        (
            "faults",
            spanned(
                !case.faults.is_empty(),
                case.faults.first().map(|f| &f.breaks.referenced),
            ),
        ),
        (
            "staysReadyFor",
            spanned(
                case.stays_ready_for.is_some(),
                case.stays_ready_for.as_ref().map(|w| &w.referenced),
            ),
        ),
    ]
    .into_iter()
    .filter_map(|(field, at)| at.map(|at| (field, at)))
    .collect()
}

fn stage_only_help(field: &str) -> String {
    match field {
        "timeout" => "a load case's deadline is `load: {timeout: …}`".into(),
        "identity" => "a load case creates its pods as the target's admin".into(),
        _ => format!(
            "a load case checks that its pods ran and its SLOs held; `{field}` belongs to a case with one pod walked through the stages: move it to a case of its own"
        ),
    }
}

/// The template of a load case without `pod:`: the seed's busybox, named after the case.
fn seed_pod(case: &str) -> (Value, String) {
    let mut pod: Value =
        serde_saphyr::from_str(crate::scale::case::SEED_POD).expect("the seed's pod is YAML");
    pod["metadata"]["name"] = Value::from(case);
    (pod, "seed busybox".into())
}

/// The longest `staysReadyFor` window: the case holds its namespace (and a node's pod) for
/// that long after the pod is Ready.
const STAYS_READY_MAX: std::time::Duration = std::time::Duration::from_secs(600);

/// What is wrong with a case's `staysReadyFor`, if anything: where, what, and the way out.
fn stays_ready_problem(case: &crate::suite::Case) -> Option<(&Location, String, String)> {
    use crate::suite::{AuthExpectation as A, BindingExpectation as B, CriLaunchExpectation as C};
    let window = case.stays_ready_for.as_ref()?;
    let at = &window.referenced;
    let d = window.value;
    if d.0.is_zero() {
        return Some((
            at,
            "a staysReadyFor window of 0s checks nothing".into(),
            "give the time the pod must stay Ready once it is, e.g. `staysReadyFor: 5s`, or leave it out".into(),
        ));
    }
    if d.0 > STAYS_READY_MAX {
        return Some((
            at,
            format!(
                "staysReadyFor {d} is longer than {}",
                Duration(STAYS_READY_MAX)
            ),
            "a case watches its Ready pod for at most 10m".into(),
        ));
    }
    let e = &case.expect;
    let not_running = if matches!(e.auth, Some(A::Denied(_) | A::Invalid(_))) {
        Some("not to be admitted")
    } else if matches!(e.binding, Some(B::Unschedulable(_) | B::LeftAlone(_))) {
        Some("to stay unbound")
    } else if matches!(e.cri_launch, Some(C::PullFails(_))) {
        Some("to wait for its image")
    } else if matches!(e.status_update, Some(crate::suite::Expectation::Skip(_))) {
        Some("not to have its status checked (statusUpdate is skipped)")
    } else {
        None
    };
    not_running.map(|why| {
        (
            at,
            format!("staysReadyFor applies to a pod that runs; this case expects its pod {why}"),
            "leave staysReadyFor out, or expect the pod to run".into(),
        )
    })
}

/// The case's Pod: read from a file relative to the suite, or inline; named after the case
/// when it has no name.
fn resolve_pod(
    dir: &Path,
    file: &str,
    source: &str,
    pod: &Spanned<Value>,
    case: &str,
    read: ReadFile<'_>,
) -> Result<(Value, String), Problem> {
    let (mut obj, origin) = match &pod.value {
        Value::String(rel) => {
            let pod_path = dir.join(rel);
            let text = read(&pod_path).map_err(|e| {
                problem(
                    file,
                    source,
                    &pod.referenced,
                    format!("cannot read pod file {rel}: {e}"),
                    "this file",
                    Some(format!(
                        "paths are relative to the suite's directory; looked for {}",
                        pod_path.display()
                    )),
                )
            })?;
            let pod_file = pod_path.display().to_string();
            let obj: Value =
                serde_saphyr::from_str(&text).map_err(|e| syntax_problem(&pod_file, &text, &e))?;
            (obj, rel.clone())
        }
        Value::Object(_) => (pod.value.clone(), "inline".to_string()),
        _ => {
            return Err(problem(
                file,
                source,
                &pod.referenced,
                "pod must be a file path or an inline Pod".into(),
                "neither",
                Some(
                    "write `pod: pods/busybox.yaml` or `pod: {metadata: {...}, spec: {...}}`"
                        .into(),
                ),
            ));
        }
    };
    let kind = obj.get("kind").and_then(Value::as_str);
    if !obj.is_object() || kind.is_some_and(|k| k != "Pod") {
        let what = kind.map_or("something that is not a Pod".to_string(), |k| {
            format!("a {k}, not a Pod")
        });
        return Err(problem(
            file,
            source,
            &pod.referenced,
            format!("{} holds {what}", origin),
            "this pod",
            Some("a pod file holds one Pod (`kind: Pod`, or no kind); other objects go under `setup:`".into()),
        ));
    }
    obj["apiVersion"] = Value::from("v1");
    obj["kind"] = Value::from("Pod");
    if obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none()
    {
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = serde_json::json!({});
        }
        obj["metadata"]["name"] = Value::from(case);
    }
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("namespace");
    }
    Ok((obj, origin))
}

/// Finds the suite files under `paths` (files as given; directories searched for `*.yaml`
/// files that declare `kind: Suite`), sorted.
pub fn suite_files(
    paths: &[PathBuf],
    list: &dyn Fn(&Path) -> std::io::Result<Vec<PathBuf>>,
    read: ReadFile<'_>,
) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for p in paths {
        let entries = match list(p) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                found.push(p.clone());
                continue;
            }
            Err(e) => return Err(e),
        };
        for entry in entries {
            let is_yaml = entry.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if is_yaml && read(&entry).is_ok_and(|t| t.lines().any(is_suite_kind_line)) {
                found.push(entry);
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// `kind: Suite`, or the kind of a conformance suite (`CniSuite`, `CriSuite`, `DnsSuite`).
fn is_suite_kind_line(line: &str) -> bool {
    matches!(
        line.trim(),
        "kind: Suite" | "kind: CniSuite" | "kind: CriSuite" | "kind: DnsSuite"
    )
}

/// Expectation in words, for reports.
pub fn expected_words(case: &CaseSpec, stage: Stage) -> String {
    match (stage, case.stays_ready_for) {
        // The loader allows no skip of statusUpdate beside a window.
        (Stage::StatusUpdate, Some(window)) => format!("pass, then Ready for {window}"),
        _ => case.expect.words(stage),
    }
}

#[cfg(test)]
mod scheduler_tests {
    use super::*;

    fn load_text(text: &str) -> Result<Suite, SuiteError> {
        let owned = text.to_string();
        let read = move |_: &Path| Ok(owned.clone());
        load(Path::new("suites/mine/suite.yaml"), &read)
    }

    fn suite(extra_spec: &str, case: &str) -> String {
        format!(
            "apiVersion: podcheck.dev/v1alpha1\nkind: Suite\nmetadata: {{name: s}}\nspec:\n{extra_spec}  cases:\n    - name: c\n      pod: {{spec: {{containers: [{{name: c, image: busybox}}]}}}}\n{case}"
        )
    }

    #[test]
    fn a_scheduler_command_with_a_slash_is_relative_to_the_suite() {
        let s = load_text(&suite(
            "  components:\n    scheduler:\n      command: [./bin/my-scheduler, --v=2]\n",
            "",
        ))
        .unwrap();
        let sched = s.scheduler.unwrap();
        assert_eq!(sched.command, ["suites/mine/./bin/my-scheduler", "--v=2"]);
        assert_eq!(sched.scheduler_name, DEFAULT_SCHEDULER_NAME);
        assert!(sched.replaces_default());
    }

    #[test]
    fn a_bare_scheduler_command_is_left_to_path_and_keeps_its_name() {
        let s = load_text(&suite(
            "  components:\n    scheduler:\n      command: [kube-scheduler]\n      schedulerName: mine\n",
            "",
        ))
        .unwrap();
        let sched = s.scheduler.unwrap();
        assert_eq!(sched.command, ["kube-scheduler"]);
        assert!(!sched.replaces_default());
    }

    #[test]
    fn image_archives_are_relative_to_the_suite_and_located() {
        let s = load_text(&suite("  images: [images/app.tar]\n", "")).unwrap();
        assert_eq!(s.images[0].path, Path::new("suites/mine/images/app.tar"));
        let e = s.images[0].problem("cannot read it".into(), None);
        assert_eq!((e.0[0].line, e.0[0].column), (5, 12));
        assert!(
            e.0[0]
                .rendered
                .contains("suites/mine/suite.yaml:5:12: cannot read it")
        );
    }

    #[test]
    fn a_cni_conflist_is_relative_to_the_suite_and_checked_at_its_line() {
        let text = suite("  components:\n    cniConflist: net/my.conflist\n", "");
        let conflist = r#"{"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "bridge"}]}"#;
        let read = |p: &Path| {
            Ok(if p.ends_with("my.conflist") {
                conflist.to_string()
            } else {
                text.clone()
            })
        };
        let s = load(Path::new("suites/mine/suite.yaml"), &read).unwrap();
        assert_eq!(
            s.cni_conflist.as_deref(),
            Some(Path::new("suites/mine/net/my.conflist"))
        );
        // Here the suite's own text stands for the conflist: not JSON, named at the field.
        let e = load_text(&text).unwrap_err();
        assert!(
            e.0[0]
                .message
                .starts_with("the CNI conflist net/my.conflist is not JSON"),
            "{}",
            e.0[0].message
        );
        assert_eq!((e.0[0].line, e.0[0].column), (6, 18));
    }

    #[test]
    fn an_empty_scheduler_command_is_located() {
        let e = load_text(&suite(
            "  components:\n    scheduler:\n      command: []\n",
            "",
        ))
        .unwrap_err();
        assert_eq!(e.0[0].message, "the scheduler command is empty");
        assert_eq!(e.0[0].line, 7);
    }

    #[test]
    fn replicas_default_to_one_and_are_bounded() {
        let s = load_text(&suite("", "")).unwrap();
        assert_eq!(s.cases[0].replicas, 1);
        let s = load_text(&suite("", "      replicas: 20\n")).unwrap();
        assert_eq!(s.cases[0].replicas, 20);
        let e = load_text(&suite("", "      replicas: 0\n")).unwrap_err();
        assert_eq!(e.0[0].message, "replicas 0 is out of range");
    }

    #[test]
    fn left_alone_must_fit_the_timeout_and_not_batch() {
        let e = load_text(&suite(
            "",
            "      timeout: 2s\n      expect: {binding: {leftAlone: 3s}}\n",
        ))
        .unwrap_err();
        assert!(
            e.0[0]
                .message
                .contains("not shorter than the case's timeout"),
            "{e}"
        );
        let e = load_text(&suite(
            "",
            "      replicas: 5\n      expect: {binding: {unschedulable: nope}}\n",
        ))
        .unwrap_err();
        assert!(
            e.0[0]
                .message
                .starts_with("replicas apply to pods that get bound"),
            "{e}"
        );
    }

    #[test]
    fn stays_ready_for_is_a_window_for_a_pod_that_runs() {
        let s = load_text(&suite("", "      staysReadyFor: 5s\n")).unwrap();
        assert_eq!(s.cases[0].stays_ready_for, Some(Duration::from_secs(5)));
        assert_eq!(
            load_text(&suite("", "")).unwrap().cases[0].stays_ready_for,
            None
        );
        for (case, message, at) in [
            (
                "      staysReadyFor: 0s\n",
                "a staysReadyFor window of 0s checks nothing",
                (8, 22),
            ),
            (
                "      staysReadyFor: 11m\n",
                "staysReadyFor 11m is longer than 10m",
                (8, 22),
            ),
            (
                "      staysReadyFor: 5s\n      expect: {binding: {unschedulable: nope}}\n",
                "staysReadyFor applies to a pod that runs; this case expects its pod to stay unbound",
                (8, 22),
            ),
            (
                "      expect: {criLaunch: {pullFails: not found}}\n      staysReadyFor: 5s\n",
                "staysReadyFor applies to a pod that runs; this case expects its pod to wait for its image",
                (9, 22),
            ),
        ] {
            let e = load_text(&suite("", case)).unwrap_err();
            assert_eq!(e.0[0].message, message, "{e}");
            assert_eq!((e.0[0].line, e.0[0].column), at, "{e}");
            assert!(e.0[0].rendered.contains("suites/mine/suite.yaml:"), "{e}");
        }
    }

    #[test]
    fn left_alone_takes_a_duration() {
        let s = load_text(&suite("", "      expect: {binding: {leftAlone: 3s}}\n")).unwrap();
        assert_eq!(
            s.cases[0].expect.binding,
            Some(crate::suite::BindingExpectation::LeftAlone(
                Duration::from_secs(3)
            ))
        );
    }

    #[test]
    fn faults_are_read_with_their_stage_and_duration() {
        let s = load_text(&suite(
            "",
            "      faults:\n        - break: schedulerStopped\n          for: 2s\n          recoverWithin: 1s\n        - break: {cniAddFails: {code: 11, msg: full}}\n          at: binding\n",
        ))
        .unwrap();
        let f = &s.cases[0].faults;
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].at, Stage::Auth);
        assert_eq!(f[0].lasts, Some(Duration::from_secs(2)));
        assert_eq!(f[1].at, Stage::Binding);
        assert_eq!(f[1].kind.name(), "cniAddFails");
    }

    #[rstest::rstest]
    #[case::too_late(
        "        - break: schedulerStopped\n          at: dns\n",
        "a schedulerStopped fault at dns comes after the stage it breaks (binding)",
        10
    )]
    #[case::no_end_to_recover_from(
        "        - break: dnsDrops\n          recoverWithin: 1s\n",
        "recoverWithin needs the fault to end",
        10
    )]
    #[case::outlasts_the_case(
        "        - break: dnsDrops\n          for: 1m\n",
        "a fault lasting 1m in a case of 30s",
        10
    )]
    #[case::twice(
        "        - break: dnsDrops\n        - break: dnsDrops\n",
        "a second dnsDrops fault",
        10
    )]
    #[case::code_zero(
        "        - break: {cniAddFails: {code: 0, msg: x}}\n",
        "CNI error code 0 is not an error",
        9
    )]
    fn a_wrong_fault_is_located(#[case] faults: &str, #[case] message: &str, #[case] line: u64) {
        let e = load_text(&suite("", &format!("      faults:\n{faults}"))).unwrap_err();
        assert_eq!(e.0[0].message, message, "{e}");
        assert_eq!(e.0[0].line, line, "{e}");
    }

    fn load_suite(case: &str) -> String {
        format!(
            "apiVersion: podcheck.dev/v1alpha1\nkind: Suite\nmetadata: {{name: s}}\nspec:\n  cases:\n    - name: many\n{case}"
        )
    }

    #[test]
    fn a_load_case_reads_its_load_and_takes_the_seeds_pod() {
        let s = load_text(&load_suite(
            "      load:\n        pods: 50\n        qps: 20\n        timeout: 1m\n        slo: [\"pod_startup.p99<5s\", \"binding.p50<=200ms\"]\n",
        ))
        .unwrap();
        let c = &s.cases[0];
        let plan = c.load.as_ref().expect("a load case");
        assert_eq!(plan.pods, 50);
        assert_eq!(plan.in_flight, crate::scale::case::DEFAULT_IN_FLIGHT);
        assert_eq!(plan.qps, Some(20.0));
        assert_eq!(plan.timeout, Some(std::time::Duration::from_secs(60)));
        let slos: Vec<&str> = plan.slos.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(slos, ["pod_startup.p99<5s", "binding.p50<=200ms"]);
        assert_eq!(c.pod_source, "seed busybox");
        assert_eq!(c.pod["spec"]["containers"][0]["image"], "busybox");
        assert_eq!(c.pod["metadata"]["name"], "many");
    }

    #[test]
    fn a_load_case_may_name_its_pod_template() {
        let s = load_text(&load_suite(
            "      pod: {spec: {containers: [{name: c, image: pause}]}}\n      load: {pods: 3}\n",
        ))
        .unwrap();
        assert_eq!(s.cases[0].pod["spec"]["containers"][0]["image"], "pause");
        assert_eq!(s.cases[0].pod_source, "inline");
    }

    #[rstest::rstest]
    #[case::no_pods("      load: {pods: 0}\n", "pods 0 is out of range", (7, 20))]
    #[case::too_many("      load: {pods: 100001}\n", "pods 100001 is out of range", (7, 20))]
    #[case::no_in_flight("      load: {pods: 5, inFlight: 0}\n", "inFlight 0 is out of range", (7, 33))]
    #[case::no_rate("      load: {pods: 5, qps: 0}\n", "qps 0 is not a rate", (7, 28))]
    #[case::bad_slo(
        "      load:\n        pods: 5\n        slo: [\"pod_startup.p99<5s\", \"pod_startup.p42<5s\"]\n",
        "\"pod_startup.p42<5s\": unknown percentile \"p42\"; write p50, p90, p99 or max",
        (9, 37)
    )]
    #[case::unmeasured_slo(
        "      load:\n        pods: 5\n        slo: [dns.p99<1s]\n",
        "\"dns.p99<1s\": dns is not measured by a load run: no pod resolves a name (`podcheck run` checks dns)",
        (9, 15)
    )]
    #[case::with_expect(
        "      load: {pods: 5}\n      expect: {binding: {scheduledTo: node-1}}\n",
        "`expect` does not apply to a load case",
        (7, 13)
    )]
    #[case::with_faults(
        "      load: {pods: 5}\n      faults:\n        - break: dnsDrops\n",
        "`faults` does not apply to a load case",
        (9, 18)
    )]
    #[case::with_replicas("      load: {pods: 5}\n      replicas: 3\n", "`replicas` does not apply to a load case", (8, 17))]
    #[case::with_timeout("      load: {pods: 5}\n      timeout: 1m\n", "`timeout` does not apply to a load case", (7, 13))]
    fn a_wrong_load_is_located(#[case] case: &str, #[case] message: &str, #[case] at: (u64, u64)) {
        let e = load_text(&load_suite(case)).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].message, message, "{e}");
        assert_eq!((e.0[0].line, e.0[0].column), at, "{e}");
        assert!(e.0[0].rendered.contains("suites/mine/suite.yaml:"), "{e}");
    }

    #[test]
    fn a_case_without_pod_or_load_is_located_at_its_name() {
        let e = load_text(&load_suite("      description: nothing\n")).unwrap_err();
        assert_eq!(e.0[0].message, "case \"many\" has no pod", "{e}");
        assert_eq!((e.0[0].line, e.0[0].column), (6, 13), "{e}");
    }

    #[test]
    fn an_unknown_fault_is_an_error_at_its_line() {
        let e = load_text(&suite("", "      faults:\n        - break: kernelPanic\n")).unwrap_err();
        assert_eq!(e.0[0].line, 9, "{e}");
        assert!(e.0[0].message.contains("kernelPanic"), "{e}");
    }
}
