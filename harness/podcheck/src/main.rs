//! `podcheck`: a conformance harness for the components that create a pod.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use podcheck::TargetChoice;
use podcheck::output::{self, SnapshotMode, SnapshotOutcome};
use podcheck::runner::{self, Progress, RunOptions};
use podcheck_controlplane::error_chain;
use podcheck_controlplane::{Config, ControlPlane};
use podcheck_core::load::{self, Suite};
use podcheck_core::result::{StageStatus, Verdict};
use podcheck_core::stage::Stage;

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
        let runtime = match self.runtime {
            RuntimeArg::Auto => RuntimeChoice::Auto,
            RuntimeArg::Sim => RuntimeChoice::Sim,
            RuntimeArg::Containerd => RuntimeChoice::Containerd,
        };
        Ok(podcheck::target::ProviderOptions {
            selection: podcheck_controlplane::providers::Selection { store, runtime },
            require_real,
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
            print!("{}", podcheck_core::suite::json_schema());
            ExitCode::SUCCESS
        }
        Command::Validate(args) => match load_suites(&args.paths) {
            Ok(suites) => {
                for s in &suites {
                    println!(
                        "ok: {} ({} cases) {}",
                        s.name,
                        s.cases.len(),
                        s.path.display()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::List(args) => match load_suites(&args.paths) {
            Ok(suites) => {
                for s in &suites {
                    println!("{}  {}  {}", s.name, s.path.display(), s.description);
                    for c in &s.cases {
                        let tags = if c.tags.is_empty() {
                            String::new()
                        } else {
                            format!(" [{}]", c.tags.join(", "))
                        };
                        println!("  {}{tags}  {}", c.name, c.description);
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

/// Loads suites, printing diagnostics; exit code 2 on any problem.
fn load_suites(paths: &[PathBuf]) -> Result<Vec<Suite>, ExitCode> {
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
        match load::load(&f, &read) {
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
        s.cases.retain(|c| {
            (args.cases.is_empty() || args.cases.contains(&c.name))
                && (args.tags.is_empty() || c.tags.iter().any(|t| args.tags.contains(t)))
        });
    }
    suites.retain(|s| !s.cases.is_empty());
    if suites.is_empty() {
        eprintln!("error: no case matches the filters");
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
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
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
        r = runner::run(&suites, &opts, &report) => r,
        _ = tokio::signal::ctrl_c() => {
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
    let snapshot_failed = match output::snapshots(&results, mode, filtered, ci) {
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

fn print_summary(results: &podcheck_core::result::RunResults) {
    for suite in &results.suites {
        println!("{}", suite.name);
        for case in &suite.cases {
            let cells: Vec<String> = case
                .stages
                .iter()
                .map(|s| match s.status {
                    StageStatus::Passed => format!("✓{}", s.stage.name()),
                    StageStatus::Failed => format!("✗{}", s.stage.name()),
                    StageStatus::Skipped => format!("-{}", s.stage.name()),
                })
                .collect();
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
                .stages
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
        }
    }
    let s = results.summary;
    println!(
        "{} passed, {} failed, {} errors — {} cases on {} ({}) in {:.0} ms",
        s.passed,
        s.failed,
        s.errors,
        s.cases,
        results.target.kind,
        results.target.version,
        results.duration_ms
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
    let config = Config {
        nodes: args.nodes,
        anonymous: args.anonymous,
        store: options.selection.store.clone(),
        runtime: options.selection.runtime,
        ..Config::default()
    };
    let cp = match ControlPlane::start(config).await {
        Ok(cp) => cp,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
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
