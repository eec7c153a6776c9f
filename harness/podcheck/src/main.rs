//! `podcheck`: a conformance harness for the components that create a pod.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use podcheck_controlplane::{Config, ControlPlane};

/// Exit codes, as documented in the README.
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
    /// Start the embedded control plane and serve it until Ctrl-C or SIGTERM.
    Up(UpArgs),
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    };
    match cli.command {
        Command::Up(args) => runtime.block_on(up(args, started)),
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
    let config = Config {
        nodes: args.nodes,
        anonymous: args.anonymous,
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
        .map(|(_, r)| r.provider().name)
        .unwrap_or_default();
    println!(
        "podcheck: control plane up in {} ms: {} node(s), store {}, runtime {}",
        started.elapsed().as_millis(),
        args.nodes,
        provider.name,
        runtime,
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

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
