//! The command line: clap types, and their conversion into the library's own (flags that
//! do not fit together are usage errors here, before anything runs).

mod rerun;

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Parser, Subcommand, ValueEnum};
use podcheck::TargetChoice;
use podcheck::commands::load::{LoadRequest, LoadTarget};
use podcheck::commands::run::{self, RunRequest, RunTarget, SelectedSuites};
use podcheck::commands::up::UpRequest;
use podcheck::conformance::ConformanceOptions;
use podcheck::error::UserError;
use podcheck::kind::KindRequest;
use podcheck::output::SnapshotMode;
use podcheck::target::{ProviderOptions, SchedulerOverride};
use podcheck_conformance::cni::CniOverrides;
use podcheck_controlplane::providers::{Component, RuntimeChoice, Selection, StoreChoice};
use podcheck_controlplane::{Ipv4Net, Like, PodIpam};
use podcheck_core::load::ExternalScheduler;
use podcheck_node::network::{CniConfig, ConflistTemplate};

#[derive(Debug, Parser)]
#[command(
    name = "podcheck",
    version,
    about = "Walks a pod through the eight stages of pod creation and checks each one."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run suites and report each case's eight stages.
    Run(Box<RunArgs>),
    /// Check suites without running them.
    Validate(PathsArg),
    /// Write a run's reports again (junit.xml, summary.md, report.html) from its results.json.
    Report(ReportArgs),
    /// List the suites and their cases.
    List(PathsArg),
    /// Explain a stage: what happens, what podcheck checks, what commonly breaks.
    Explain(ExplainArgs),
    /// Print the JSON schema of suite files (with --lesson: of lesson.yaml).
    Schema(SchemaArgs),
    /// Start the embedded control plane and serve it until Ctrl-C or SIGTERM.
    Up(UpArgs),
    /// Create many pods at once and report each stage's p50/p90/p99 (ClusterLoader2's pod
    /// startup phases too), the throughput, the memory, and SLOs (`--slo`).
    Load(Box<LoadArgs>),
    /// Say which provider each component of the embedded target uses, real or simulated, and why.
    Doctor(ProviderArgs),
    /// Lessons that break one stage on purpose: list them, run the current one, get a hint.
    Learn(LearnArgs),
    /// List the images the embedded nodes can pull: the built-in ones and those of
    /// `--image-archive`.
    Images(ImagesArgs),
}

/// `schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The schema of a lesson's lesson.yaml (`podcheck learn`) instead of suite files.
    #[arg(long)]
    pub lesson: bool,
}

/// `learn`.
#[derive(Debug, clap::Args)]
pub struct LearnArgs {
    #[command(subcommand)]
    pub action: Option<LearnCommand>,
    /// The lessons directory.
    #[arg(long, value_name = "DIR", default_value = podcheck::commands::learn::DEFAULT_LESSONS, global = true)]
    pub lessons: PathBuf,
    /// The embedded control plane's store (lessons run on the simulated providers unless
    /// told otherwise).
    #[arg(long, value_enum, default_value_t = StoreArg::Memory, global = true)]
    store: StoreArg,
    /// The nodes' runtime and pod network (a lesson whose suite names its own pod network
    /// runs on containerd whatever this says, and is skipped where it cannot).
    #[arg(long, value_enum, default_value_t = RuntimeArg::Sim, global = true)]
    runtime: RuntimeArg,
    /// Components that must be real (comma-separated: store, runtime, network, dns).
    #[arg(long, value_delimiter = ',', global = true)]
    require_real: Vec<String>,
}

/// `learn`'s subcommands (none: the list).
#[derive(Debug, Subcommand)]
pub enum LearnCommand {
    /// Run the current lesson (the first not done): where it breaks, or, once it passes,
    /// why it broke.
    Next,
    /// The current lesson's next hint.
    Hint,
    /// On a terminal: run the current lesson, then again each time one of its files is
    /// saved; once it passes, the explanation, and on to the next lesson (h: a hint,
    /// r: run now, q or Ctrl-C: quit).
    Watch,
    /// Forget the progress of one lesson (its number, e.g. 01), or of every lesson.
    Reset { lesson: Option<String> },
    /// For maintainers: every lesson fails unsolved at exactly the stage it teaches, and
    /// passes all eight stages with its solution/.
    Verify,
}

impl LearnArgs {
    /// The command, as the library takes it.
    pub fn request(self) -> Result<podcheck::commands::learn::LearnRequest, UserError> {
        use podcheck::commands::learn::LearnAction;
        let providers = ProviderArgs {
            store: self.store,
            etcd_endpoint: None,
            runtime: self.runtime,
            require_real: self.require_real,
            cni_conflist: None,
            cni_bin_dir: None,
            cri_socket: None,
            scheduler: SchedulerArg::Auto,
            scheduler_command: None,
            scheduler_name: None,
            image_archives: Vec::new(),
        }
        .options()?;
        Ok(podcheck::commands::learn::LearnRequest {
            action: match self.action {
                None => LearnAction::List,
                Some(LearnCommand::Next) => LearnAction::Next,
                Some(LearnCommand::Hint) => LearnAction::Hint,
                Some(LearnCommand::Watch) => LearnAction::Watch,
                Some(LearnCommand::Reset { lesson }) => LearnAction::Reset(lesson),
                Some(LearnCommand::Verify) => LearnAction::Verify,
            },
            lessons: self.lessons,
            providers,
        })
    }
}

/// `images`.
#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// An image archive to list too (an OCI image layout tar or a `docker save` tar);
    /// repeatable.
    #[arg(long = "image-archive", value_name = "PATH")]
    pub image_archives: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StoreArg {
    /// etcd where it is installed, else memory.
    Auto,
    Memory,
    Etcd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeArg {
    /// containerd + runc with the CNI plugins where installed and usable (root), else simulated.
    Auto,
    Sim,
    Containerd,
}

/// How the embedded control plane's components are chosen.
#[derive(Debug, Clone, clap::Args)]
pub struct ProviderArgs {
    /// The store of the embedded control plane.
    #[arg(long, value_enum, default_value_t = StoreArg::Auto)]
    store: StoreArg,
    /// Use a running etcd (e.g. http://127.0.0.1:2379) instead of starting one.
    #[arg(long)]
    etcd_endpoint: Option<String>,
    /// The container runtime (and with it the pod network) of the embedded nodes.
    #[arg(long, value_enum, default_value_t = RuntimeArg::Auto)]
    runtime: RuntimeArg,
    /// Components that must be real (comma-separated: store, runtime, network, dns); a
    /// simulated one is an environment error (exit 3).
    #[arg(long, value_delimiter = ',')]
    require_real: Vec<String>,
    /// A CNI conflist template for the real pod network instead of the built-in bridge one
    /// (placeholders: see fixtures/cni/README.md); also the network a CNI suite checks.
    #[arg(long, value_name = "PATH")]
    cni_conflist: Option<PathBuf>,
    /// Where the CNI plugins are (default /usr/lib/cni).
    #[arg(long, value_name = "DIR")]
    cni_bin_dir: Option<PathBuf>,
    /// A CRI v1 runtime's socket (e.g. /run/containerd/containerd.sock): the node's
    /// kubelet uses it, with its own CNI configuration, instead of starting containerd;
    /// also the runtime a CRI suite checks.
    #[arg(long, value_name = "PATH", conflicts_with = "runtime")]
    cri_socket: Option<PathBuf>,
    /// `none` runs no scheduler at all (pods stay Pending); `auto` runs the suite's own
    /// (`spec.components.scheduler`), else the builtin one.
    #[arg(long, value_enum, default_value_t = SchedulerArg::Auto)]
    scheduler: SchedulerArg,
    /// Your scheduler, run as a process with KUBECONFIG pointing at the embedded
    /// apiserver (split on spaces: "PROGRAM ARGS…"); overrides the suite's.
    #[arg(long, value_name = "COMMAND", conflicts_with = "scheduler")]
    scheduler_command: Option<String>,
    /// The schedulerName your scheduler serves (default default-scheduler, which switches
    /// the builtin scheduler off). With --target kind: the schedulerName case pods get when
    /// they name none (your scheduler, deployed in the cluster).
    #[arg(long, value_name = "NAME")]
    scheduler_name: Option<String>,
    /// An image archive (an OCI image layout tar, or a `docker save` tar) whose images the
    /// embedded nodes can pull, by the names it gives them (with --target kind: loaded into
    /// the kind cluster's nodes); repeatable.
    #[arg(long = "image-archive", value_name = "PATH")]
    image_archives: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulerArg {
    /// The suite's own scheduler, else the builtin one.
    Auto,
    /// No scheduler: pods stay Pending.
    None,
}

impl ProviderArgs {
    /// The embedded target's providers, as `podcheck::target` takes them.
    pub fn options(&self) -> Result<ProviderOptions, UserError> {
        let store = match (&self.etcd_endpoint, self.store) {
            (Some(e), _) => StoreChoice::Endpoint(e.clone()),
            (None, StoreArg::Auto) => StoreChoice::Auto,
            (None, StoreArg::Memory) => StoreChoice::Memory,
            (None, StoreArg::Etcd) => StoreChoice::Etcd,
        };
        let require_real = self.require_real()?;
        let runtime = match (&self.cri_socket, self.runtime) {
            (Some(socket), _) => RuntimeChoice::cri_socket(socket.clone()),
            (None, RuntimeArg::Auto) => RuntimeChoice::Auto,
            (None, RuntimeArg::Sim) => RuntimeChoice::Sim,
            (None, RuntimeArg::Containerd) => RuntimeChoice::Containerd,
        };
        for path in &self.image_archives {
            podcheck::images::check_archive(path)
                .map_err(|message| UserError::ImageArchive { message })?;
        }
        let mut cni = CniConfig::builtin();
        if let Some(conflist) = &self.cni_conflist {
            cni.conflist = ConflistTemplate::File(conflist.clone());
        }
        if let Some(bin_dir) = &self.cni_bin_dir {
            cni.bin_dir = bin_dir.clone();
        }
        Ok(ProviderOptions {
            selection: Selection { store, runtime },
            require_real,
            cni,
            scheduler: self.scheduler()?,
            image_archives: self.image_archives.clone(),
        })
    }

    /// `--require-real`, each name a component.
    fn require_real(&self) -> Result<Vec<Component>, UserError> {
        self.require_real
            .iter()
            .map(|n| {
                Component::parse(n.trim())
                    .ok_or_else(|| UserError::UnknownComponent { name: n.clone() })
            })
            .collect()
    }

    fn scheduler(&self) -> Result<SchedulerOverride, UserError> {
        Ok(match (&self.scheduler_command, self.scheduler) {
            (Some(command), _) => {
                let command: Vec<String> = command.split_whitespace().map(str::to_string).collect();
                if command.is_empty() {
                    return Err(UserError::EmptySchedulerCommand);
                }
                SchedulerOverride::External(ExternalScheduler {
                    command,
                    scheduler_name: self
                        .scheduler_name
                        .clone()
                        .unwrap_or_else(|| "default-scheduler".into()),
                })
            }
            (None, _) if self.scheduler_name.is_some() => {
                return Err(UserError::SchedulerNameAlone);
            }
            (None, SchedulerArg::None) => SchedulerOverride::None,
            (None, SchedulerArg::Auto) => SchedulerOverride::Suite,
        })
    }

    /// Whether a flag asks for a scheduler setup only the embedded target has.
    fn shapes_scheduler(&self) -> bool {
        self.scheduler_command.is_some() || self.scheduler == SchedulerArg::None
    }
}

impl RunArgs {
    /// The cases to run and the flags to run them with: the suites' cases `--case` and
    /// `--tag` select, or with `--rerun-failed` the earlier run's cases that did not pass,
    /// under its target options. None when there is nothing to rerun. `matches` are the
    /// `run` subcommand's, to tell the options this command line gives.
    pub fn plan(
        self,
        matches: Option<&ArgMatches>,
    ) -> Result<Option<(RunArgs, SelectedSuites)>, UserError> {
        let Some(dir) = self.rerun_failed.clone() else {
            let selected = run::select(&self.suites.paths, &self.cases, &self.tags)?;
            return Ok(Some((self, selected)));
        };
        let given = |id: &str| {
            matches.is_some_and(|m| m.value_source(id) == Some(ValueSource::CommandLine))
        };
        rerun::plan(self, dir, &given)
    }

    /// The run, as the library takes it.
    pub fn request(self) -> Result<RunRequest, UserError> {
        if self.kubeconfig.is_some() && self.providers.shapes_scheduler() {
            return Err(UserError::SchedulerWithKubeconfig);
        }
        let target = match (&self.kubeconfig, self.target) {
            (Some(p), _) => {
                self.kind.refuse_without_kind()?;
                if self.providers.scheduler_name.is_some() {
                    return Err(UserError::SchedulerNameAlone);
                }
                RunTarget::Ready(TargetChoice::Kubeconfig(p.clone()))
            }
            (None, TargetArg::Local) => {
                self.kind.refuse_without_kind()?;
                RunTarget::Ready(TargetChoice::Local(self.providers.options()?))
            }
            (None, TargetArg::Kind) => RunTarget::Kind(self.kind_request()?),
        };
        let invocation = podcheck::rerun::Invocation::new(self.target_args());
        Ok(RunRequest {
            invocation,
            target,
            jobs: self.jobs,
            fail_fast: self.fail_fast,
            report_dir: self.report_dir,
            snapshot: match self.snapshot {
                SnapshotArg::Check => SnapshotMode::Check,
                SnapshotArg::Update => SnapshotMode::Update,
                SnapshotArg::Ignore => SnapshotMode::Ignore,
            },
            conformance: ConformanceOptions {
                cni: CniOverrides {
                    bin_dir: self.providers.cni_bin_dir.clone(),
                    conflist: self.providers.cni_conflist.clone(),
                },
                cri_socket: self.providers.cri_socket.clone(),
                dns_server: self.dns_server,
                require_real: self.providers.require_real()?,
            },
        })
    }
}

impl RunArgs {
    /// The kind target's request; the embedded control plane's flags that have no meaning
    /// on a kind cluster are refused as they are for `--kubeconfig`.
    fn kind_request(&self) -> Result<KindRequest, UserError> {
        if self.providers.shapes_scheduler() {
            return Err(UserError::SchedulerWithKind);
        }
        for path in &self.providers.image_archives {
            podcheck::images::check_archive(path)
                .map_err(|message| UserError::ImageArchive { message })?;
        }
        Ok(KindRequest {
            config: self.kind.kind_config.clone(),
            cluster: self.kind.kind_cluster.clone(),
            keep: self.kind.keep,
            cni_manifest: self.kind.cni_manifest.clone(),
            wait: self
                .kind
                .kind_wait
                .map_or(podcheck::kind::DEFAULT_WAIT, |d| d.0),
            image_archives: self.providers.image_archives.clone(),
            scheduler_name: self.providers.scheduler_name.clone(),
        })
    }
}

/// The kind target's flags (`--target kind`).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "With --target kind")]
pub struct KindArgs {
    /// The kind cluster config to create the cluster from (kind-configs/NAME.yaml).
    /// Default: a copy of kind-configs/default.yaml (one control-plane node).
    #[arg(long, value_name = "FILE")]
    kind_config: Option<PathBuf>,
    /// The cluster's name: an existing kind cluster of this name is reused (and never
    /// deleted); otherwise one is created under it. Default: the config's name.
    #[arg(long, value_name = "NAME")]
    kind_cluster: Option<String>,
    /// Leave the cluster podcheck created when the run ends (Ctrl-C still deletes it).
    #[arg(long)]
    keep: bool,
    /// The CNI to install: a YAML manifest whose objects podcheck creates through the API;
    /// required when the config sets networking.disableDefaultCNI: true.
    #[arg(long, value_name = "FILE")]
    cni_manifest: Option<PathBuf>,
    /// How long every node may take to be Ready and CoreDNS to run (default 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    kind_wait: Option<podcheck_core::duration::Duration>,
}

impl KindArgs {
    /// The first kind flag given, as a usage error, for a run on another target.
    fn refuse_without_kind(&self) -> Result<(), UserError> {
        let given = [
            ("--kind-config", self.kind_config.is_some()),
            ("--kind-cluster", self.kind_cluster.is_some()),
            ("--keep", self.keep),
            ("--cni-manifest", self.cni_manifest.is_some()),
            ("--kind-wait", self.kind_wait.is_some()),
        ];
        match given.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(UserError::KindFlagWithoutKind { flag }),
            None => Ok(()),
        }
    }
}

fn parse_duration(text: &str) -> Result<podcheck_core::duration::Duration, String> {
    podcheck_core::duration::Duration::parse(text)
}

impl UpArgs {
    /// What to serve, as the library takes it; an existing `--kubeconfig` is refused first.
    pub fn request(self) -> Result<UpRequest, UserError> {
        if let Some(path) = &self.kubeconfig
            && path.exists()
        {
            return Err(UserError::KubeconfigExists {
                path: path.display().to_string(),
            });
        }
        Ok(UpRequest {
            nodes: self.nodes,
            kubeconfig: self.kubeconfig,
            anonymous: self.anonymous,
            like: match self.like {
                LikeArg::Podcheck => Like::Podcheck,
                LikeArg::Kubeadm => Like::Kubeadm,
            },
            service_cidr: self.service_cidr,
            cluster_domain: self.cluster_domain,
            pod_ipam: self.pod_ipam,
            dns_upstream: self.dns_upstream,
            resolv_conf: self.resolv_conf,
            providers: self.providers.options()?,
        })
    }
}
/// `load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// How many pods to create.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pods: u32,
    /// How many nodes the embedded control plane runs (not with --kubeconfig: that
    /// cluster has its own).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=5000), conflicts_with = "kubeconfig")]
    nodes: u16,
    /// At most this many creates a second (default: as fast as --in-flight allows).
    #[arg(long)]
    qps: Option<f64>,
    /// At most this many creates waiting for their answer.
    #[arg(long, default_value_t = podcheck_core::scale::case::DEFAULT_IN_FLIGHT as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    in_flight: u32,
    /// Create the pods in the cluster of this kubeconfig instead of an embedded control
    /// plane (in a namespace of their own, deleted at the end).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The pod to create N of (a Pod YAML; its name is replaced). Default: the seed's
    /// busybox pod (suites/pod-lifecycle/pods/busybox.yaml: busybox, sleep 3600).
    #[arg(long, value_name = "FILE")]
    pod: Option<PathBuf>,
    /// Where to write load.json and perfdata.json. Default: reports/load-RUN-ID.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// A service level objective, METRIC.PERCENTILE<DURATION (or <=), e.g.
    /// 'pod_startup.p99<5s', 'binding.p50<=200ms'; repeatable. A breach exits 1.
    #[arg(long = "slo", value_name = "SLO")]
    slos: Vec<String>,
    /// How long the pods may take to run, from the first create (default: 2m, plus 100ms
    /// a pod).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<podcheck_core::duration::Duration>,
    #[command(flatten)]
    providers: ProviderArgs,
}

impl LoadArgs {
    /// The run, as the library takes it: SLOs parsed, the pod read, the target chosen.
    /// The embedded nodes are simulated unless `--runtime containerd` says otherwise:
    /// thousands of pods on real containerd nodes would measure this machine, not the
    /// components on the pod's path.
    pub fn request(mut self) -> Result<LoadRequest, UserError> {
        if self.providers.runtime == RuntimeArg::Auto {
            self.providers.runtime = RuntimeArg::Sim;
        }
        let slos = self
            .slos
            .iter()
            .map(|s| podcheck_core::scale::slo::Slo::parse(s).map_err(UserError::Slo))
            .collect::<Result<_, _>>()?;
        if let Some(qps) = self.qps
            && !(qps > 0.0 && qps.is_finite())
        {
            return Err(UserError::BadQps { qps });
        }
        let target = match &self.kubeconfig {
            Some(path) => {
                if self.providers.shapes_scheduler() {
                    return Err(UserError::SchedulerWithKubeconfig);
                }
                LoadTarget::Kubeconfig(path.clone())
            }
            None => LoadTarget::Embedded {
                nodes: self.nodes,
                providers: self.providers.options()?,
            },
        };
        let template = match &self.pod {
            Some(path) => podcheck::commands::load::read_pod(path)?,
            None => podcheck::commands::load::default_pod(),
        };
        Ok(LoadRequest {
            plan: podcheck_core::scale::case::LoadPlan {
                pods: self.pods as usize,
                in_flight: self.in_flight as usize,
                qps: self.qps,
                timeout: self.timeout.map(|d| d.0),
                slos,
            },
            target,
            template,
            out: self.out,
        })
    }
}

/// `report RUN_DIR`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The report directory of a run (reports/RUN_ID), holding its results.json.
    pub run_dir: PathBuf,
}

/// `explain STAGE`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// One of: auth, etcdWrite, pending, binding, criLaunch, cniAttach, dns, statusUpdate.
    pub stage: String,
}

#[derive(Debug, clap::Args)]
pub struct PathsArg {
    /// Suite files or directories to search for them.
    #[arg(default_value = "suites")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TargetArg {
    /// The embedded control plane, started for each suite.
    Local,
    /// A kind cluster: created with the `kind` command (or reused), then deleted.
    Kind,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SnapshotArg {
    Check,
    Update,
    Ignore,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    suites: PathsArg,
    /// Where cases run.
    #[arg(long, value_enum, default_value_t = TargetArg::Local, conflicts_with = "kubeconfig")]
    target: TargetArg,
    /// Run against the cluster of this kubeconfig instead of the embedded control plane.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Cases run in parallel, per suite.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Only the cases with these names.
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Only the cases with these tags.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Stop at the first case that does not pass.
    #[arg(long)]
    fail_fast: bool,
    /// Where to write the reports. Default: reports/RUN-ID.
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// Run again the cases of an earlier run that did not pass (failed or in error), with
    /// the target options it recorded (options given here win). Default: the last run, the
    /// newest under reports/.
    #[arg(
        long,
        value_name = "RUN_DIR",
        num_args = 0..=1,
        conflicts_with_all = ["paths", "cases", "tags"]
    )]
    rerun_failed: Option<Option<PathBuf>>,
    /// Compare with the snapshots beside the suites, rewrite them, or leave them alone.
    #[arg(long, value_enum, default_value_t = SnapshotArg::Check)]
    snapshot: SnapshotArg,
    /// The DNS server a DNS suite queries (ADDRESS:PORT). Default: the embedded target's;
    /// required with --kubeconfig.
    #[arg(long, value_name = "ADDR")]
    dns_server: Option<std::net::SocketAddr>,
    #[command(flatten)]
    providers: ProviderArgs,
    #[command(flatten)]
    kind: KindArgs,
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// How many nodes (kubelets) to run: up to 5,000 simulated ones (past 256, the pod
    /// subnet widens from 10.244.0.0/16 to a block of 10.128.0.0/9).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=5000))]
    nodes: u16,
    /// Where to write the admin kubeconfig (it must not exist yet; removed on exit).
    /// Default: a file in a run directory of its own under the temp dir.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Serve requests without credentials as system:anonymous.
    #[arg(long)]
    anonymous: bool,
    /// Which cluster the control plane behaves like: `kubeadm` turns on what kubeadm and
    /// kind clusters do and podcheck's quick one does not (anonymous requests get 403, the
    /// scheduler's events through events.k8s.io, the host's search domains in pods'
    /// resolv.conf, 30 s grace periods, each node's first sandbox and pull failing, RBAC
    /// taking 500 ms to apply, kubeadm's kube-system ConfigMaps).
    #[arg(long, value_enum, default_value_t = LikeArg::Podcheck)]
    like: LikeArg,
    /// The Services' range: the `kubernetes` Service gets its first address, kube-dns its
    /// tenth.
    #[arg(long, value_name = "CIDR", default_value = "10.96.0.0/16", value_parser = parse_service_cidr)]
    service_cidr: Ipv4Net,
    /// The cluster domain: the DNS zone and the pods' search path.
    #[arg(long, value_name = "DOMAIN", default_value = "cluster.local", value_parser = parse_cluster_domain)]
    cluster_domain: String,
    /// Where pod IPs come from: `node` (each node's podCIDR) or `pool:CIDR` (a /26 block
    /// per node from the pool, outside the node's podCIDR, as Calico's IPAM; only the
    /// simulated runtime can: `--runtime auto` picks it, `--runtime containerd` is an error).
    #[arg(long, value_name = "node|pool:CIDR", default_value = "node", value_parser = podcheck_node::ipam::parse_pod_ipam)]
    pod_ipam: PodIpam,
    /// A DNS server on this machine's loopback (ADDR:PORT) the cluster DNS forwards names
    /// outside the cluster to, as CoreDNS's `forward . /etc/resolv.conf` (SERVFAIL when it
    /// does not answer in time). Default: such names are refused.
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_dns_upstream)]
    dns_upstream: Option<std::net::SocketAddr>,
    /// The nodes' resolv.conf, as the kubelet's `--resolv-conf`: the host's DNS for
    /// `dnsPolicy: Default` pods, and (`--like kubeadm`) the search domains appended to
    /// ClusterFirst pods' search path.
    #[arg(long, value_name = "PATH", default_value = "/etc/resolv.conf")]
    resolv_conf: PathBuf,
    #[command(flatten)]
    providers: ProviderArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LikeArg {
    /// podcheck's quick control plane.
    Podcheck,
    /// A kubeadm (kind) cluster's upstream behaviours.
    Kubeadm,
}

fn parse_service_cidr(text: &str) -> Result<Ipv4Net, String> {
    let cidr: Ipv4Net = text
        .parse()
        .map_err(|e| format!("{text:?} is not an IPv4 CIDR: {e}"))?;
    if cidr.prefix_len() > 28 {
        return Err(format!(
            "{cidr} is too small: the DNS Service takes its tenth address (a /28 at most)"
        ));
    }
    Ok(cidr.trunc())
}

fn parse_cluster_domain(text: &str) -> Result<String, String> {
    let domain = text.strip_suffix('.').unwrap_or(text);
    match podcheck_core::dns_name::subdomain_errors(domain).first() {
        None => Ok(domain.to_string()),
        Some(e) => Err(format!("{text:?} is not a DNS name: {e}")),
    }
}

/// Only loopback: podcheck sends no traffic off this machine.
fn parse_dns_upstream(text: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = text
        .parse()
        .map_err(|e| format!("{text:?} is not ADDR:PORT: {e}"))?;
    podcheck_controlplane::cluster::check_dns_upstream(addr)?;
    Ok(addr)
}

#[cfg(test)]
mod tests {
    //! The command lines the documentation hands to users are checked against the real CLI.

    use super::*;

    const WORKFLOWS: [&str; 2] = ["validate-cni.yml", "validate-scheduler.yml"];

    fn workflow(name: &str) -> String {
        let path = format!(
            "{}/../../examples/github-actions/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Splits a shell command line into words: quotes removed, `$VAR` left as written.
    fn shell_words(line: &str) -> Vec<String> {
        let (mut words, mut word, mut quote, mut started) =
            (Vec::new(), String::new(), None, false);
        for c in line.chars() {
            match (quote, c) {
                (None, '"' | '\'') => (quote, started) = (Some(c), true),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => {
                    if started {
                        words.push(std::mem::take(&mut word));
                    }
                    started = false;
                }
                (_, c) => (word.push(c), started = true).0,
            }
        }
        if started {
            words.push(word);
        }
        words
    }

    /// Every `podcheck …` command of a workflow's `run:` steps (`sudo [OPTIONS] "$(command
    /// -v podcheck)" …` too), as words after the program.
    fn podcheck_commands(text: &str) -> Vec<Vec<String>> {
        let workflow: serde_json::Value = serde_saphyr::from_str(text).unwrap();
        let mut commands = Vec::new();
        for job in workflow["jobs"].as_object().unwrap().values() {
            for step in job["steps"].as_array().unwrap() {
                let Some(script) = step["run"].as_str() else {
                    continue;
                };
                for line in script.replace("\\\n", " ").lines() {
                    let words = shell_words(line);
                    let at = match words.first().map(String::as_str) {
                        Some("podcheck") => 1,
                        // The program comes after sudo's own options (`--preserve-env=…`).
                        Some("sudo") => {
                            match words.iter().skip(1).position(|w| !w.starts_with('-')) {
                                Some(i) if words[1 + i].contains("podcheck") => 2 + i,
                                _ => continue,
                            }
                        }
                        _ => continue,
                    };
                    commands.push(words[at..].to_vec());
                }
            }
        }
        commands
    }

    #[test]
    fn every_podcheck_command_in_the_workflows_parses_with_the_real_flags() {
        for name in WORKFLOWS {
            let commands = podcheck_commands(&workflow(name));
            assert!(
                commands
                    .iter()
                    .filter(|c| c.first().is_some_and(|w| w == "run"))
                    .count()
                    >= 2,
                "{name}: too few podcheck runs found: {commands:?}"
            );
            for args in commands {
                let parsed = Cli::try_parse_from(
                    std::iter::once("podcheck".to_string()).chain(args.clone()),
                );
                match parsed {
                    Ok(_) => {}
                    Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {}
                    Err(e) => panic!("{name}: podcheck {}\n{e}", args.join(" ")),
                }
            }
        }
    }

    #[test]
    fn the_kind_runs_of_the_workflows_ask_for_the_kind_target() {
        for name in WORKFLOWS {
            let commands = podcheck_commands(&workflow(name));
            let kind_runs: Vec<_> = commands
                .iter()
                .filter(|c| {
                    c.iter()
                        .any(|w| w.starts_with("--kind") || w == "--cni-manifest")
                })
                .collect();
            assert!(!kind_runs.is_empty(), "{name}: no kind run");
            for args in kind_runs {
                let Ok(cli) = Cli::try_parse_from(
                    std::iter::once("podcheck".to_string()).chain(args.clone()),
                ) else {
                    panic!("{name}: {args:?}");
                };
                let Command::Run(run) = cli.command else {
                    panic!("{name}: not a run: {args:?}");
                };
                assert!(matches!(run.target, TargetArg::Kind), "{name}: {args:?}");
                assert!(
                    run.kind.refuse_without_kind().is_err(),
                    "{name}: kind flags given"
                );
            }
        }
    }

    /// kind-configs/custom-scheduler.yaml has a worker per node of suites/scheduler: the
    /// workflow runs that suite on kind too, with pods for the team's scheduler.
    #[test]
    fn the_scheduler_workflow_runs_the_scheduler_suite_on_kind_for_the_teams_scheduler() {
        let commands = podcheck_commands(&workflow("validate-scheduler.yml"));
        let on_kind: Vec<_> = commands
            .iter()
            .filter(|c| c.windows(2).any(|w| w == ["--target", "kind"]))
            .collect();
        assert!(
            on_kind.iter().any(|c| {
                c.iter().any(|w| w.ends_with("suites/scheduler"))
                    && c.iter().any(|w| w == "--scheduler-name")
            }),
            "{on_kind:?}"
        );
    }

    #[test]
    fn the_command_line_checker_finds_what_it_should_and_can_fail() {
        let text = "jobs:\n  a:\n    steps:\n      - run: >\n          podcheck run suites/x\n          --target kind --kind-wait 2m\n      - run: |\n          echo hi\n          sudo \"$(command -v podcheck)\" run s \\\n            --report-dir \"reports/a b\"\n          sudo --preserve-env=A,B \"$(command -v podcheck)\" run t\n          sudo apt-get install x\n";
        let commands = podcheck_commands(text);
        assert_eq!(
            commands,
            [
                vec!["run", "suites/x", "--target", "kind", "--kind-wait", "2m"],
                vec!["run", "s", "--report-dir", "reports/a b"],
                vec!["run", "t"],
            ]
        );
        let wrong = ["podcheck", "run", "--target", "kind", "--kind-cluser", "x"];
        assert!(Cli::try_parse_from(wrong).is_err());
    }

    /// actionlint (any build of it on PATH) finds nothing in the example workflows.
    #[test]
    fn the_workflows_pass_actionlint_where_it_is_installed() {
        let Some(actionlint) = podcheck_host::command::find_tool("actionlint") else {
            eprintln!("actionlint is not installed: the workflows are not linted here");
            return;
        };
        let dir = format!(
            "{}/../../examples/github-actions",
            env!("CARGO_MANIFEST_DIR")
        );
        let out = std::process::Command::new(actionlint)
            .args(WORKFLOWS)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn learn_takes_its_flags_before_or_after_its_subcommand() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(std::iter::once("podcheck").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            match cli.command {
                Command::Learn(l) => l.request().unwrap(),
                other => panic!("{other:?}"),
            }
        };
        use podcheck::commands::learn::LearnAction;
        let list = parse(&["learn"]);
        assert_eq!(list.action, LearnAction::List);
        assert_eq!(list.lessons, PathBuf::from("lessons"));
        // Lessons run on the simulated providers unless told otherwise.
        assert_eq!(list.providers.selection.store, StoreChoice::Memory);
        assert_eq!(list.providers.selection.runtime, RuntimeChoice::Sim);
        let reset = parse(&["learn", "reset", "03", "--lessons", "/tmp/l"]);
        assert_eq!(reset.action, LearnAction::Reset(Some("03".into())));
        assert_eq!(reset.lessons, PathBuf::from("/tmp/l"));
        let verify = parse(&["learn", "--runtime", "containerd", "verify"]);
        assert_eq!(verify.action, LearnAction::Verify);
        assert_eq!(
            verify.providers.selection.runtime,
            RuntimeChoice::Containerd
        );
        assert_eq!(parse(&["learn", "next"]).action, LearnAction::Next);
        assert_eq!(parse(&["learn", "hint"]).action, LearnAction::Hint);
        assert_eq!(parse(&["learn", "watch"]).action, LearnAction::Watch);
    }
}
