//! `podcheck`: a conformance harness for the components that create a pod. This binary
//! parses the command line and dispatches to `podcheck::commands`; errors are rendered once,
//! here, and exit with the code the README documents.

mod cli;

use std::process::ExitCode;
use std::time::Instant;

use clap::{ArgMatches, CommandFactory, FromArgMatches};
use podcheck::commands;
use podcheck::error::UserError;

use cli::{Cli, Command};

/// mimalloc rather than glibc's malloc: the embedded control plane allocates for every
/// request and watch event, and at 10,000 pods glibc's malloc and free were a third of its
/// CPU (`perf record` of `podcheck up --nodes 1000` under `podcheck load --pods 10000`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let started = Instant::now();
    // The matches are kept: a rerun tells the options its command line gives from them.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PODCHECK_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match dispatch(cli.command, &matches, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", e.render());
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(command: Command, matches: &ArgMatches, started: Instant) -> Result<(), UserError> {
    match command {
        Command::Explain(args) => commands::explain::explain(&args.stage),
        Command::Schema(args) => commands::schema::schema(args.lesson),
        Command::Validate(args) => commands::validate::validate(&args.paths),
        Command::Report(args) => commands::report::report(&args.run_dir),
        Command::List(args) => commands::list::list(&args.paths),
        Command::Doctor(args) => commands::doctor::doctor(&args.options()?),
        Command::Images(args) => commands::images::images(&args.image_archives),
        Command::Run(args) => runtime()?.block_on(async {
            let Some((args, selected)) = args.plan(matches.subcommand_matches("run"))? else {
                return Ok(());
            };
            commands::run::run(selected, args.request()?).await
        }),
        Command::Learn(args) => {
            let request = args.request()?;
            runtime()?.block_on(commands::learn::learn(request))
        }
        Command::Load(args) => {
            let request = args.request()?;
            runtime()?.block_on(commands::load::load(request))
        }
        Command::Up(args) => {
            let runtime = runtime()?;
            runtime.block_on(commands::up::up(args.request()?, started))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, UserError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(UserError::AsyncRuntime)
}
