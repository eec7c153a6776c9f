//! What the user is told when a command does not succeed, and its exit code (the codes the
//! README documents). Every `error: …` line the CLI prints comes from [`UserError::render`].

use podcheck_core::load::SuiteError;
use podcheck_host::error_chain;

/// A command that did not succeed, for a reason the user can act on.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// Exit 1: a case or a snapshot did not meet its expectations (the run said which).
    #[error("expectations failed")]
    ExpectationsFailed,

    /// Exit 2: the suite paths could not be read.
    #[error("cannot read {paths}")]
    ReadSuites {
        paths: String,
        #[source]
        source: std::io::Error,
    },
    /// Exit 2: the paths hold no suite file.
    #[error("no suites found in {paths}")]
    NoSuites { paths: String },
    /// Exit 2: suite files with problems, each rendered as its own diagnostic.
    #[error("{} suite file(s) with problems", .0.len())]
    InvalidSuites(Vec<SuiteError>),
    /// Exit 2: `--case` and `--tag` left no case to run.
    #[error("no case matches the filters")]
    NoCaseMatches,
    /// Exit 2: a name in `--require-real` that is no component.
    #[error("unknown component {name:?} in --require-real (store, runtime, network, dns)")]
    UnknownComponent { name: String },
    /// Exit 2: `--scheduler-command` with nothing in it.
    #[error("--scheduler-command is empty")]
    EmptySchedulerCommand,
    /// Exit 2: scheduler flags, which shape the embedded control plane, with `--kubeconfig`.
    #[error(
        "--scheduler-command and --scheduler none shape the embedded control plane; \
         a --kubeconfig cluster runs its own schedulers (deploy yours there, and name it in \
         the pods' schedulerName)"
    )]
    SchedulerWithKubeconfig,
    /// Exit 2: `podcheck explain` of a stage that does not exist.
    #[error("unknown stage {stage:?}; the stages are: {known}")]
    UnknownStage { stage: String, known: String },
    /// Exit 2: an `--image-archive` that cannot be read or is not an image archive.
    #[error("--image-archive {message}")]
    ImageArchive { message: String },
    /// Exit 2: `podcheck up --kubeconfig` names a file that exists.
    #[error("{path} exists already; podcheck will not overwrite a kubeconfig")]
    KubeconfigExists { path: String },
    /// Exit 2: a flag of the kind target without `--target kind`.
    #[error("{flag} applies to the kind target only: add --target kind")]
    KindFlagWithoutKind { flag: &'static str },
    /// Exit 2: flags that shape the embedded control plane with `--target kind`.
    #[error(
        "--scheduler-command and --scheduler none shape the embedded control plane; a kind \
         cluster runs its own schedulers (deploy yours there, see \
         kind-configs/custom-scheduler.yaml, and name it with --scheduler-name)"
    )]
    SchedulerWithKind,
    /// Exit 2: `--scheduler-name` with neither a scheduler command nor the kind target.
    #[error("--scheduler-name needs --scheduler-command (or --target kind)")]
    SchedulerNameAlone,
    /// Exit 2: `--kind-config` cannot be read or is not a kind cluster config.
    #[error("--kind-config {message}")]
    KindConfig { message: String },
    /// Exit 2: the kind config disables kind's CNI and no `--cni-manifest` installs one.
    #[error(
        "{config} sets networking.disableDefaultCNI: true, so its nodes stay NotReady until a \
         CNI runs: give the CNI's manifest with --cni-manifest FILE"
    )]
    CniManifestRequired { config: String },
    /// Exit 2: `--cni-manifest` for a cluster that keeps kind's own CNI.
    #[error(
        "--cni-manifest installs a CNI, but {config} keeps kind's default CNI (kindnet): set \
         networking.disableDefaultCNI: true in it (see kind-configs/no-default-cni.yaml)"
    )]
    CniManifestWithDefaultCni { config: String },
    /// Exit 2: `podcheck report`: the run directory has no readable results.json.
    #[error("cannot read {path}")]
    ReadResults {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Exit 2: `podcheck report`: results.json is not a results document; the diagnostic
    /// points into it.
    #[error("invalid results document")]
    InvalidResults { rendered: String },
    /// Exit 2: `--cni-manifest` cannot be read or holds no Kubernetes objects.
    #[error("--cni-manifest {message}")]
    CniManifest { message: String },
    /// Exit 2: `--rerun-failed` without RUN_DIR, and no run under `reports/`.
    #[error(
        "no previous run to rerun: {reports}/ holds no report directory with a results.json \
         (name one: --rerun-failed RUN_DIR)"
    )]
    NoPreviousRun { reports: String },
    /// Exit 2: `--rerun-failed RUN_DIR` names a directory without results.json.
    #[error("{dir} holds no results.json: not a report directory of a run")]
    NoRunResults { dir: String },
    /// Exit 2: a report directory's results.json or invocation.json cannot be read back.
    #[error("cannot read {path}: {message}")]
    ReadRun { path: String, message: String },
    /// Exit 2: a case that did not pass in the run is no longer in its suite.
    #[error("case {case:?} did not pass in {run}, but {suite} no longer has it")]
    RerunCaseGone {
        run: String,
        suite: String,
        case: String,
    },
    /// Exit 2: `podcheck load --slo` that does not parse (the error names the part).
    #[error("--slo")]
    Slo(#[source] podcheck_core::scale::slo::SloError),
    /// Exit 2: `podcheck load --pod` that cannot be read or is not a Pod.
    #[error("--pod {path}: {message}")]
    LoadPod { path: String, message: String },
    /// Exit 2: `podcheck load --qps` that is not a positive number.
    #[error("--qps {qps}: give a number of creates a second above 0")]
    BadQps { qps: f64 },
    /// Exit 2: the target options a run recorded do not parse with this podcheck.
    #[error("{path}: the run's target options do not parse here: {message}")]
    RecordedOptions { path: String, message: String },

    /// Exit 3: tokio could not start.
    #[error("could not start the async runtime")]
    AsyncRuntime(#[source] std::io::Error),
    /// Exit 3: `podcheck up` could not make its run directory.
    #[error("could not create a run directory")]
    RunDir(#[source] std::io::Error),
    /// Exit 3: the target, a scheduler, the reports or the snapshots failed.
    #[error(transparent)]
    Harness(#[from] crate::Error),
    /// Exit 3: the embedded control plane could not start or write its kubeconfig.
    #[error(transparent)]
    ControlPlane(#[from] podcheck_controlplane::Error),
    /// Exit 3: `podcheck up`: components required to be real are simulated here, with why.
    #[error("{} component(s) not real here", .0.len())]
    NotReal(Vec<(String, String)>),
    /// Exit 3: `podcheck doctor`: components required to be real are simulated here.
    #[error("required to be real but simulated here: {}", .0.join(", "))]
    Simulated(Vec<String>),
    /// Exit 3: `--target kind` and no `kind` command.
    #[error(
        "the kind command is not on PATH: install it \
         (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
    )]
    KindNotInstalled,
    /// Exit 3: kind found no docker, podman or nerdctl to run its nodes.
    #[error(
        "kind found no container runtime to run its nodes in: install and start docker (or \
         podman, with KIND_EXPERIMENTAL_PROVIDER=podman)\n{}",
        indent(output)
    )]
    KindNoRuntime { output: String },
    /// Exit 3: `kind create cluster` of a name that is in use.
    #[error(
        "a kind cluster named {name} exists already: reuse it with --kind-cluster {name}, or \
         delete it with `kind delete cluster --name {name}`\n{}",
        indent(output)
    )]
    KindClusterExists { name: String, output: String },
    /// Exit 3: any other failure of a kind command, with what kind printed.
    #[error("`{command}` failed ({status})\n{}", indent(output))]
    Kind {
        command: String,
        status: String,
        output: String,
    },
    /// Exit 3: the kind cluster's nodes or CoreDNS were not ready within `--kind-wait`.
    #[error("kind cluster {cluster} not ready within {waited} (--kind-wait): {}", pending.join("; "))]
    KindNotReady {
        cluster: String,
        waited: String,
        pending: Vec<String>,
    },
    /// Exit 3: an object of the CNI manifest could not be created.
    #[error("{manifest}: creating {object}: {message}")]
    CniManifestApply {
        manifest: String,
        object: String,
        message: String,
    },
    /// Exit 3: podcheck's own images could not be built for the kind nodes.
    #[error(
        "cannot build podcheck's images for the kind nodes (they need the host's static \
         busybox: apt-get install busybox-static): {message}"
    )]
    KindImages { message: String },

    /// Exit 2: the lessons directory (`--lessons`) could not be read.
    #[error("cannot read the lessons in {path}")]
    ReadLessons {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Exit 2: the lessons directory holds no lesson (a directory with `lesson.yaml`).
    #[error("no lessons in {path} (a lesson is a directory with a lesson.yaml)")]
    NoLessons { path: String },
    /// Exit 2: `learn reset NN` names no lesson.
    #[error("no lesson {key} in {path} (give its number, e.g. 01, or its directory's name)")]
    UnknownLesson { key: String, path: String },
    /// Exit 1: `learn verify` found lessons that do not hold (it said which).
    #[error("{count} lesson(s) do not hold")]
    LessonsDoNotHold { count: usize },
    /// Exit 3: the learner's progress could not be read or written.
    #[error("cannot {action} the learning progress in {path}")]
    LearnState {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// Exit 2: `learn watch` without a terminal to read keys from and show runs on.
    #[error(
        "`podcheck learn watch` needs a terminal (its stdin and stdout): it reads keys and \
         runs the lesson again as you save; elsewhere run `podcheck learn next`"
    )]
    NotATerminal,
    /// Exit 3: `learn watch` could not put the terminal in its mode (or start its reader).
    #[error("cannot set up the terminal for `podcheck learn watch`")]
    Terminal(#[source] std::io::Error),

    /// Exit 130: SIGINT or SIGTERM during a run; what cleaning up achieved.
    #[error("interrupted")]
    Interrupted(Cleanup),
}

/// What an interrupted run's cleanup achieved.
#[derive(Debug)]
pub enum Cleanup {
    /// The namespaces of the run that were deleted (none on the embedded target).
    Deleted(usize),
    /// The kind cluster podcheck created, deleted (its namespaces with it).
    ClusterDeleted(String),
    Failed(crate::Error),
    TimedOut,
}

impl UserError {
    /// The exit code the README documents for this error.
    pub fn exit_code(&self) -> u8 {
        use UserError::*;
        match self {
            ExpectationsFailed | LessonsDoNotHold { .. } => 1,
            ReadSuites { .. }
            | NoSuites { .. }
            | InvalidSuites(_)
            | NoCaseMatches
            | UnknownComponent { .. }
            | EmptySchedulerCommand
            | SchedulerWithKubeconfig
            | UnknownStage { .. }
            | ImageArchive { .. }
            | KubeconfigExists { .. }
            | KindFlagWithoutKind { .. }
            | SchedulerWithKind
            | SchedulerNameAlone
            | KindConfig { .. }
            | CniManifestRequired { .. }
            | CniManifestWithDefaultCni { .. }
            | CniManifest { .. }
            | NoPreviousRun { .. }
            | NoRunResults { .. }
            | ReadRun { .. }
            | RerunCaseGone { .. }
            | RecordedOptions { .. }
            | Slo(_)
            | LoadPod { .. }
            | BadQps { .. }
            | ReadResults { .. }
            | InvalidResults { .. }
            | ReadLessons { .. }
            | NoLessons { .. }
            | UnknownLesson { .. }
            | NotATerminal => 2,
            AsyncRuntime(_)
            | RunDir(_)
            | Harness(_)
            | ControlPlane(_)
            | NotReal(_)
            | Simulated(_)
            | KindNotInstalled
            | KindNoRuntime { .. }
            | KindClusterExists { .. }
            | Kind { .. }
            | KindNotReady { .. }
            | CniManifestApply { .. }
            | KindImages { .. }
            | LearnState { .. }
            | Terminal(_) => 3,
            Interrupted(_) => 130,
        }
    }

    /// What stderr shows: `error: MESSAGE: SOURCE: …` lines, suite diagnostics as they are,
    /// nothing for failed expectations (the run's summary said it).
    pub fn render(&self) -> String {
        match self {
            UserError::ExpectationsFailed => String::new(),
            UserError::InvalidResults { rendered } => rendered.clone(),
            UserError::ReadResults { .. } => format!(
                "error: {}\n  help: give the report directory of a `podcheck run` \
                 (reports/RUN_ID), where it wrote results.json\n",
                error_chain(self)
            ),
            UserError::InvalidSuites(problems) => {
                problems.iter().map(|p| format!("{p}\n")).collect()
            }
            UserError::NotReal(missing) => missing
                .iter()
                .map(|(component, why)| format!("error: {component} is not real here: {why}\n"))
                .collect(),
            UserError::Interrupted(Cleanup::Deleted(0)) => String::new(),
            UserError::Interrupted(Cleanup::Deleted(n)) => {
                format!("podcheck: deleted {n} namespace(s) of this run\n")
            }
            UserError::Interrupted(Cleanup::ClusterDeleted(name)) => {
                format!("podcheck: deleted kind cluster {name}\n")
            }
            UserError::Interrupted(Cleanup::Failed(e)) => {
                format!("error: cleanup: {}\n", error_chain(e))
            }
            UserError::Interrupted(Cleanup::TimedOut) => {
                "error: cleanup did not finish within 60 s\n".into()
            }
            other => format!("error: {}\n", error_chain(other)),
        }
    }
}

/// What a command printed, indented under the error that quotes it.
fn indent(output: &str) -> String {
    output
        .lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_source() {
        let e = UserError::ReadSuites {
            paths: "suites".into(),
            source: std::io::Error::other("no such file"),
        };
        assert_eq!(e.render(), "error: cannot read suites: no such file\n");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn not_real_is_one_line_per_component() {
        let e = UserError::NotReal(vec![
            ("store".into(), "no etcd".into()),
            ("runtime".into(), "not root".into()),
        ]);
        assert_eq!(
            e.render(),
            "error: store is not real here: no etcd\nerror: runtime is not real here: not root\n"
        );
        assert_eq!(e.exit_code(), 3);
    }

    #[test]
    fn kinds_failures_quote_kind_and_say_what_to_do() {
        let e = UserError::KindClusterExists {
            name: "pc".into(),
            output: "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"pc\"".into(),
        };
        assert_eq!(e.exit_code(), 3);
        assert_eq!(
            e.render(),
            "error: a kind cluster named pc exists already: reuse it with --kind-cluster pc, or \
             delete it with `kind delete cluster --name pc`\n  ERROR: failed to create cluster: \
             node(s) already exist for a cluster with the name \"pc\"\n"
        );
        let usage = UserError::CniManifestRequired {
            config: "kind-configs/no-default-cni.yaml".into(),
        };
        assert_eq!(usage.exit_code(), 2);
        assert!(
            usage.render().contains(
                "kind-configs/no-default-cni.yaml sets networking.disableDefaultCNI: true"
            )
        );
        let deleted = UserError::Interrupted(Cleanup::ClusterDeleted("pc".into()));
        assert_eq!(deleted.render(), "podcheck: deleted kind cluster pc\n");
    }

    #[test]
    fn a_bad_slo_is_a_usage_error_that_quotes_it() {
        let parsed = podcheck_core::scale::slo::Slo::parse("pod_startup.p99<5");
        let e = UserError::Slo(parsed.unwrap_err());
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.render()
                .starts_with("error: --slo: \"pod_startup.p99<5\": \"5\" is not a duration"),
            "{}",
            e.render()
        );
    }

    #[test]
    fn failed_expectations_and_interruptions_keep_their_codes() {
        assert_eq!(UserError::ExpectationsFailed.render(), "");
        assert_eq!(UserError::ExpectationsFailed.exit_code(), 1);
        let interrupted = UserError::Interrupted(Cleanup::TimedOut);
        assert_eq!(interrupted.exit_code(), 130);
        assert_eq!(
            interrupted.render(),
            "error: cleanup did not finish within 60 s\n"
        );
    }
}
