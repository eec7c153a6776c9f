//! `podcheck`: a conformance harness for the components that create a pod.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use podcheck::TargetChoice;
use podcheck::conformance::{self, ConformanceOptions};
use podcheck::output::{self, SnapshotMode, SnapshotOutcome};
use podcheck::runner::{self, Progress, RunOptions};
use podcheck_controlplane::{Config, ControlPlane};
use podcheck_core::conformance::AnySuite;
use podcheck_core::load::{self, Suite};
use podcheck_core::result::{StageStatus, Verdict};
use podcheck_core::stage::Stage;
use podcheck_host::error_chain;

/// Exit codes, as documented in the README.
const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_ENVIRONMENT: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "podcheck",
    version,
    about = "Walks a pod through the eight stages of pod creation and checks each one."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run suites and report each case's eight stages.
    Run(RunArgs),
    /// Check suites without running them.
    Validate(PathsArg),
    /// List the suites and their cases.
    List(PathsArg),
    /// Explain a stage: what happens, what podcheck checks, what commonly breaks.
    Explain {
        /// One of: auth, etcdWrite, pending, binding, criLaunch, cniAttach, dns, statusUpdate.
        stage: String,
    },
    /// Print the JSON schema of suite files.
    Schema,
    /// Start the embedded control plane and serve it until Ctrl-C or SIGTERM.
    Up(UpArgs),
    /// Say which provider each component of the embedded target uses, real or simulated, and why.
    Doctor(ProviderArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreArg {
    /// etcd where it is installed, else memory.
    Auto,
    Memory,
    Etcd,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RuntimeArg {
    /// containerd + runc with the CNI plugins where installed and usable (root), else simulated.
    Auto,
    Sim,
    Containerd,
}

/// How the embedded control plane's components are chosen.
#[derive(Debug, Clone, clap::Args)]
struct ProviderArgs {
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
    /// The schedulerName your scheduler serves; `default-scheduler` switches the builtin
    /// scheduler off.
    #[arg(
        long,
        value_name = "NAME",
        requires = "scheduler_command",
        default_value = "default-scheduler"
    )]
    scheduler_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SchedulerArg {
    /// The suite's own scheduler, else the builtin one.
    Auto,
    /// No scheduler: pods stay Pending.
    None,
}

impl ProviderArgs {
    fn options(&self) -> Result<podcheck::target::ProviderOptions, String> {
        use podcheck_controlplane::providers::{Component, RuntimeChoice, StoreChoice};
        let store = match (&self.etcd_endpoint, self.store) {
            (Some(e), _) => StoreChoice::Endpoint(e.clone()),
            (None, StoreArg::Auto) => StoreChoice::Auto,
            (None, StoreArg::Memory) => StoreChoice::Memory,
            (None, StoreArg::Etcd) => StoreChoice::Etcd,
        };
        let require_real = self
            .require_real
            .iter()
            .map(|n| {
                Component::parse(n.trim()).ok_or_else(|| {
                    format!(
                        "unknown component {n:?} in --require-real (store, runtime, network, dns)"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let runtime = match (&self.cri_socket, self.runtime) {
            (Some(socket), _) => RuntimeChoice::cri_socket(socket.clone()),
            (None, RuntimeArg::Auto) => RuntimeChoice::Auto,
            (None, RuntimeArg::Sim) => RuntimeChoice::Sim,
            (None, RuntimeArg::Containerd) => RuntimeChoice::Containerd,
        };
        let mut cni = podcheck_node::network::CniConfig::builtin();
        if let Some(conflist) = &self.cni_conflist {
            cni.conflist = podcheck_node::network::ConflistTemplate::File(conflist.clone());
        }
        if let Some(bin_dir) = &self.cni_bin_dir {
            cni.bin_dir = bin_dir.clone();
        }
        let scheduler = match (&self.scheduler_command, self.scheduler) {
            (Some(command), _) => {
                let command: Vec<String> = command.split_whitespace().map(str::to_string).collect();
                if command.is_empty() {
                    return Err("--scheduler-command is empty".into());
                }
                podcheck::target::SchedulerOverride::External(
                    podcheck_core::load::ExternalScheduler {
                        command,
                        scheduler_name: self.scheduler_name.clone(),
                    },
                )
            }
            (None, SchedulerArg::None) => podcheck::target::SchedulerOverride::None,
            (None, SchedulerArg::Auto) => podcheck::target::SchedulerOverride::Suite,
        };
        Ok(podcheck::target::ProviderOptions {
            selection: podcheck_controlplane::providers::Selection { store, runtime },
            require_real,
            cni,
            scheduler,
        })
    }
}

#[derive(Debug, clap::Args)]
struct PathsArg {
    /// Suite files or directories to search for them.
    #[arg(default_value = "suites")]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TargetArg {
    /// The embedded control plane, started for each suite.
    Local,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SnapshotArg {
    Check,
    Update,
    Ignore,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Suite files or directories to search for them.
    #[arg(default_value = "suites")]
    paths: Vec<PathBuf>,
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
    /// Compare with the snapshots beside the suites, rewrite them, or leave them alone.
    #[arg(long, value_enum, default_value_t = SnapshotArg::Check)]
    snapshot: SnapshotArg,
    /// The DNS server a DNS suite queries (ADDRESS:PORT). Default: the embedded target's;
    /// required with --kubeconfig.
    #[arg(long, value_name = "ADDR")]
    dns_server: Option<std::net::SocketAddr>,
    #[command(flatten)]
    providers: ProviderArgs,
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// How many simulated nodes (kubelets) to run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=200))]
    nodes: u8,
    /// Where to write the admin kubeconfig (it must not exist yet; removed on exit).
    /// Default: a file in a run directory of its own under the temp dir.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Serve requests without credentials as system:anonymous.
    #[arg(long)]
    anonymous: bool,
    #[command(flatten)]
    providers: ProviderArgs,
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PODCHECK_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Explain { stage } => explain(&stage),
        Command::Schema => {
            print!("{}", podcheck_core::conformance::json_schema());
            ExitCode::SUCCESS
        }
        Command::Validate(args) => match load_suites(&args.paths) {
            Ok(suites) => {
                for s in &suites {
                    println!(
                        "ok: {} ({} cases) {}",
                        s.name(),
                        s.cases().len(),
                        s.path().display()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::List(args) => match load_suites(&args.paths) {
            Ok(suites) => {
                for s in &suites {
                    println!("{}  {}  {}", s.name(), s.path().display(), s.description());
                    if let AnySuite::Pods(s) = s {
                        for c in &s.cases {
                            let tags = if c.tags.is_empty() {
                                String::new()
                            } else {
                                format!(" [{}]", c.tags.join(", "))
                            };
                            println!("  {}{tags}  {}", c.name, c.description);
                        }
                    } else {
                        for (name, description) in s.cases() {
                            println!("  {name}  {description}");
                        }
                    }
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Run(args) => with_runtime(|rt| rt.block_on(run(args))),
        Command::Up(args) => with_runtime(|rt| rt.block_on(up(args, started))),
        Command::Doctor(args) => doctor(&args),
    }
}

fn with_runtime(f: impl FnOnce(&tokio::runtime::Runtime) -> ExitCode) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => f(&rt),
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            ExitCode::from(EXIT_ENVIRONMENT)
        }
    }
}

fn doctor(args: &ProviderArgs) -> ExitCode {
    let options = match args.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let choices = podcheck_controlplane::providers::choose(&options.selection);
    for c in &choices {
        let kind = if c.real { "real" } else { "simulated" };
        println!(
            "{:<8} {:<18} {:<10} {}",
            c.component.name(),
            c.provider,
            kind,
            c.why
        );
    }
    let missing = podcheck_controlplane::providers::missing_real(&choices, &options.require_real);
    if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        let names: Vec<&str> = missing.iter().map(|c| c.component.name()).collect();
        eprintln!(
            "error: required to be real but simulated here: {}",
            names.join(", ")
        );
        ExitCode::from(EXIT_ENVIRONMENT)
    }
}

fn explain(stage: &str) -> ExitCode {
    match Stage::parse(stage) {
        Some(s) => {
            print!("{}", podcheck_core::explain::explain(s));
            ExitCode::SUCCESS
        }
        None => {
            let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
            eprintln!(
                "error: unknown stage {stage:?}; the stages are: {}",
                names.join(", ")
            );
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Every `*.yaml` under a directory, recursively.
fn list_tree(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    Ok(out)
}

fn shown(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// Loads suites of every kind, printing diagnostics; exit code 2 on any problem.
fn load_suites(paths: &[PathBuf]) -> Result<Vec<AnySuite>, ExitCode> {
    let read = |p: &Path| std::fs::read_to_string(p);
    let files = match load::suite_files(paths, &list_tree, &read) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", shown(paths));
            return Err(ExitCode::from(EXIT_USAGE));
        }
    };
    if files.is_empty() {
        eprintln!("error: no suites found in {}", shown(paths));
        return Err(ExitCode::from(EXIT_USAGE));
    }
    let mut suites = Vec::new();
    let mut bad = false;
    for f in files {
        match podcheck_core::conformance::load_any(&f, &read) {
            Ok(s) => suites.push(s),
            Err(e) => {
                bad = true;
                eprintln!("{e}");
            }
        }
    }
    if bad {
        Err(ExitCode::from(EXIT_USAGE))
    } else {
        Ok(suites)
    }
}

fn run_id() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    format!(
        "{}-{:04x}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        std::process::id() & 0xffff
    )
}

async fn run(args: RunArgs) -> ExitCode {
    let mut suites = match load_suites(&args.paths) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let filtered = !args.cases.is_empty() || !args.tags.is_empty();
    for s in &mut suites {
        s.retain_cases(&args.cases, &args.tags);
    }
    suites.retain(|s| !s.cases().is_empty());
    if suites.is_empty() {
        eprintln!("error: no case matches the filters");
        return ExitCode::from(EXIT_USAGE);
    }
    if args.kubeconfig.is_some()
        && (args.providers.scheduler_command.is_some()
            || args.providers.scheduler == SchedulerArg::None)
    {
        eprintln!(
            "error: --scheduler-command and --scheduler none shape the embedded control plane; \
             a --kubeconfig cluster runs its own schedulers (deploy yours there, and name it in \
             the pods' schedulerName)"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let ci = std::env::var_os("CI").is_some();
    let id = run_id();
    let opts = RunOptions {
        target: match &args.kubeconfig {
            Some(p) => TargetChoice::Kubeconfig(p.clone()),
            None => match args.target {
                TargetArg::Local => match args.providers.options() {
                    Ok(p) => TargetChoice::Local(p),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(EXIT_USAGE);
                    }
                },
            },
        },
        jobs: args.jobs,
        fail_fast: args.fail_fast,
        run_id: id.clone(),
    };
    let conformance_options = ConformanceOptions {
        cni: podcheck_conformance::cni::CniOverrides {
            bin_dir: args.providers.cni_bin_dir.clone(),
            conflist: args.providers.cni_conflist.clone(),
        },
        cri_socket: args.providers.cri_socket.clone(),
        dns_server: args.dns_server,
    };
    let total: usize = suites.iter().map(|s| s.cases().len()).sum();
    let bar = (std::io::stderr().is_terminal() && !ci).then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let report = |p: Progress| match (&bar, p) {
        (Some(b), Progress::SuiteStarted { suite, .. }) => b.set_message(suite),
        (
            Some(b),
            Progress::CaseFinished {
                suite,
                case,
                verdict,
                failed_stages,
            },
        ) => {
            b.inc(1);
            if verdict != Verdict::Passed {
                b.println(format!("✗ {suite}/{case} {}", failed_stages.join(", ")));
            }
        }
        (None, Progress::SuiteStarted { suite, cases }) => {
            eprintln!("suite {suite}: {cases} case(s)")
        }
        (
            None,
            Progress::CaseFinished {
                suite,
                case,
                verdict,
                failed_stages,
            },
        ) => {
            let mark = match verdict {
                Verdict::Passed => "✓",
                Verdict::Failed => "✗",
                Verdict::Error => "!",
            };
            eprintln!("{mark} {suite}/{case} {}", failed_stages.join(", "));
        }
    };
    let outcome = tokio::select! {
        r = run_all(&suites, &opts, &conformance_options, &report) => r,
        _ = wait_for_signal() => {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            eprintln!("podcheck: interrupted; cleaning up");
            match tokio::time::timeout(std::time::Duration::from_secs(60), runner::clean_interrupted(&opts.target, &id)).await {
                Ok(Ok(n)) if n > 0 => eprintln!("podcheck: deleted {n} namespace(s) of this run"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => eprintln!("error: cleanup: {}", error_chain(&e)),
                Err(_) => eprintln!("error: cleanup did not finish within 60 s"),
            }
            return ExitCode::from(130);
        }
    };
    let results = match outcome {
        Ok(r) => r,
        Err(e) => {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&id));
    let written = match output::write_reports(&results, &dir) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    };
    print_summary(&results);
    let mode = match args.snapshot {
        SnapshotArg::Check => SnapshotMode::Check,
        SnapshotArg::Update => SnapshotMode::Update,
        SnapshotArg::Ignore => SnapshotMode::Ignore,
    };
    let nodes = output::declared_nodes(&suites, &opts.target);
    let snapshot_failed = match output::snapshots(&results, &nodes, mode, filtered, ci) {
        Ok(outcomes) => {
            for o in &outcomes {
                match o {
                    SnapshotOutcome::Matches(p) => println!("snapshot {}: unchanged", p.display()),
                    SnapshotOutcome::Written(p) => println!("snapshot {}: written", p.display()),
                    SnapshotOutcome::Skipped(why) => println!("snapshot {why}"),
                    SnapshotOutcome::Pending {
                        path,
                        pending,
                        diff: None,
                    } => {
                        println!(
                            "snapshot {}: new; written to {} for review (accept with --snapshot update)",
                            path.display(),
                            pending.display()
                        )
                    }
                    SnapshotOutcome::Pending {
                        path,
                        pending,
                        diff: Some(d),
                    } => {
                        println!(
                            "snapshot {}: CHANGED (this run's in {}):\n{d}",
                            path.display(),
                            pending.display()
                        )
                    }
                }
            }
            outcomes.iter().any(SnapshotOutcome::fails)
        }
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    };
    println!(
        "reports: {}",
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if results.summary.failed + results.summary.errors > 0 || snapshot_failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Pod suites through the runner (a target each), then conformance suites, in one result.
async fn run_all(
    suites: &[AnySuite],
    opts: &RunOptions,
    conformance_options: &ConformanceOptions,
    report: &(dyn Fn(Progress) + Sync),
) -> Result<podcheck_core::result::RunResults, podcheck::Error> {
    let pods: Vec<Suite> = suites
        .iter()
        .filter_map(|s| match s {
            AnySuite::Pods(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let started = Instant::now();
    let mut results = runner::run(&pods, opts, report).await?;
    for suite in suites.iter().filter(|s| !matches!(s, AnySuite::Pods(_))) {
        if opts.fail_fast && results.summary.failed + results.summary.errors > 0 {
            break;
        }
        report(Progress::SuiteStarted {
            suite: suite.name().to_string(),
            cases: suite.cases().len(),
        });
        let result =
            conformance::run_suite(suite, &opts.target, conformance_options, &opts.run_id).await;
        for case in &result.cases {
            report(Progress::CaseFinished {
                suite: result.name.clone(),
                case: case.name.clone(),
                verdict: case.verdict,
                failed_stages: case
                    .checks()
                    .iter()
                    .filter(|c| c.status == podcheck_core::result::StageStatus::Failed)
                    .map(|c| c.name.clone())
                    .collect(),
            });
        }
        if results.target.kind.is_empty() {
            results.target.kind = match opts.target {
                TargetChoice::Local(_) => "local".into(),
                TargetChoice::Kubeconfig(_) => "kubeconfig".into(),
            };
        }
        results.suites.push(result);
        results.summarize();
    }
    results.duration_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(results)
}

fn print_summary(results: &podcheck_core::result::RunResults) {
    for suite in &results.suites {
        println!("{}", suite.name);
        for c in &suite.components {
            println!(
                "  component under test: {} {} {}",
                c.component, c.name, c.version
            );
        }
        for case in &suite.cases {
            let mut cells: Vec<String> = case
                .stages()
                .iter()
                .map(|s| match s.status {
                    StageStatus::Passed => format!("✓{}", s.stage.name()),
                    StageStatus::Failed => format!("✗{}", s.stage.name()),
                    StageStatus::Skipped => format!("-{}", s.stage.name()),
                })
                .collect();
            let passed = case
                .checks()
                .iter()
                .filter(|c| c.status == StageStatus::Passed)
                .count();
            if !case.checks().is_empty() {
                cells.push(format!("{passed}/{} checks", case.checks().len()));
            }
            let verdict = match case.verdict {
                Verdict::Passed => "passed",
                Verdict::Failed => "FAILED",
                Verdict::Error => "ERROR",
            };
            println!(
                "  {:<28} {verdict:<7} {:>7.1} ms  {}",
                case.name,
                case.duration_ms,
                cells.join(" ")
            );
            if let Some(e) = &case.error {
                println!("      error: {e}");
            }
            for s in case
                .stages()
                .iter()
                .filter(|s| s.status == StageStatus::Failed)
            {
                println!(
                    "      {}: {}",
                    s.stage,
                    s.message.clone().unwrap_or_default()
                );
                if let Some(h) = &s.hint {
                    println!("      hint: {h}");
                }
            }
            for c in case
                .checks()
                .iter()
                .filter(|c| c.status == StageStatus::Failed)
            {
                println!(
                    "      {}: {}",
                    c.name,
                    c.message.clone().unwrap_or_default()
                );
                if let Some(h) = &c.hint {
                    println!("      hint: {h}");
                }
            }
        }
    }
    let s = results.summary;
    let on = if results.target.version.is_empty() {
        results.target.kind.clone()
    } else {
        format!("{} ({})", results.target.kind, results.target.version)
    };
    println!(
        "{} passed, {} failed, {} errors — {} cases on {on} in {:.0} ms",
        s.passed, s.failed, s.errors, s.cases, results.duration_ms
    );
    let providers: Vec<String> = results
        .target
        .providers
        .iter()
        .filter(|p| p.component != "apiserver")
        .map(|p| {
            let kind = if p.real { "real" } else { "simulated" };
            format!("{} {} {} ({kind})", p.component, p.name, p.version)
        })
        .collect();
    if !providers.is_empty() {
        println!("providers: {}", providers.join(", "));
    }
}

async fn up(args: UpArgs, started: Instant) -> ExitCode {
    if let Some(path) = &args.kubeconfig
        && path.exists()
    {
        eprintln!(
            "error: {} exists already; podcheck will not overwrite a kubeconfig",
            path.display()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let run_dir = match tempfile::Builder::new().prefix("podcheck-up-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: could not create a run directory: {e}");
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    };
    let kubeconfig = args
        .kubeconfig
        .clone()
        .unwrap_or_else(|| run_dir.path().join("kubeconfig"));
    let options = match args.providers.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let choices = podcheck_controlplane::providers::choose(&options.selection);
    let missing = podcheck_controlplane::providers::missing_real(&choices, &options.require_real);
    if !missing.is_empty() {
        for c in missing {
            eprintln!("error: {} is not real here: {}", c.component.name(), c.why);
        }
        return ExitCode::from(EXIT_ENVIRONMENT);
    }
    use podcheck::target::SchedulerOverride;
    let external = match &options.scheduler {
        SchedulerOverride::External(e) => Some(e.clone()),
        SchedulerOverride::Suite | SchedulerOverride::None => None,
    };
    let config = Config {
        nodes: args.nodes,
        anonymous: args.anonymous,
        store: options.selection.store.clone(),
        runtime: options.selection.runtime.clone(),
        cni: options.cni.clone(),
        // The builtin scheduler serves default-scheduler unless the user's does, or none runs.
        scheduler: options.scheduler != SchedulerOverride::None
            && external
                .as_ref()
                .is_none_or(|e| e.scheduler_name != "default-scheduler"),
        ..Config::default()
    };
    let cp = match ControlPlane::start(config).await {
        Ok(cp) => cp,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    };
    let scheduler = match &external {
        Some(e) => match podcheck::scheduler::SchedulerProcess::start(&cp, e).await {
            Ok(p) => {
                println!(
                    "scheduler: {} ({})",
                    p.component.name,
                    if p.component.version.is_empty() {
                        "no --version"
                    } else {
                        &p.component.version
                    }
                );
                Some(p)
            }
            Err(e) => {
                eprintln!("error: {}", error_chain(&e));
                cp.shutdown().await;
                return ExitCode::from(EXIT_ENVIRONMENT);
            }
        },
        None => None,
    };
    if let Err(e) = cp.write_kubeconfig(&kubeconfig) {
        eprintln!("error: {}", error_chain(&e));
        cp.shutdown().await;
        return ExitCode::from(EXIT_ENVIRONMENT);
    }
    let provider = cp.store().provider();
    let runtime = cp
        .nodes()
        .next()
        .map(|(_, r)| (r.provider().name, r.network_provider().name))
        .unwrap_or_default();
    println!(
        "podcheck: control plane up in {} ms: {} node(s), store {}, runtime {}, network {}",
        started.elapsed().as_millis(),
        args.nodes,
        provider.name,
        runtime.0,
        runtime.1,
    );
    println!("apiserver: {}", cp.server_url());
    println!(
        "dns: {} (udp and tcp), zone cluster.local; try: dig @{} -p {} kubernetes.default.svc.cluster.local",
        cp.dns_addr(),
        cp.dns_addr().ip(),
        cp.dns_addr().port()
    );
    println!("export KUBECONFIG={}", kubeconfig.display());
    println!("Press Ctrl-C to stop.");
    wait_for_signal().await;
    eprintln!("podcheck: stopping");
    if let Some(p) = scheduler {
        p.stop().await;
    }
    cp.shutdown().await;
    if args.kubeconfig.is_some() {
        let _ = std::fs::remove_file(&kubeconfig);
    }
    drop(run_dir);
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
