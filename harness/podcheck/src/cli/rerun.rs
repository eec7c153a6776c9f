//! `run --rerun-failed`: a run's target options as command-line words (what
//! `invocation.json` records), parsed back by the same clap types for the rerun, under the
//! options given on the rerun's own command line.

use std::fmt::Display;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use podcheck::commands::run::SelectedSuites;
use podcheck::error::UserError;
use podcheck::rerun::{INVOCATION_FILE, PreviousRun};

use super::{Cli, Command, RunArgs};

/// Whether the rerun's command line gave the option of this clap id.
pub type Given<'a> = &'a dyn Fn(&str) -> bool;

/// The earlier run's cases that did not pass, and the flags to run them with: its target
/// options where this command line gives none. None when every case passed (said on
/// stdout).
pub fn plan(
    args: RunArgs,
    dir: Option<PathBuf>,
    given: Given<'_>,
) -> Result<Option<(RunArgs, SelectedSuites)>, UserError> {
    let previous = PreviousRun::find(dir.as_deref())?;
    let run = previous.dir.display().to_string();
    let Some(selected) = previous.select()? else {
        println!("nothing to rerun: every case of {run} passed");
        return Ok(None);
    };
    let args = match &previous.invocation {
        Some(invocation) => {
            args.over_recorded(&invocation.target_args, given)
                .map_err(|message| UserError::RecordedOptions {
                    path: previous.dir.join(INVOCATION_FILE).display().to_string(),
                    message,
                })?
        }
        None => {
            eprintln!(
                "podcheck: warning: {run} has no {INVOCATION_FILE}; the run's target options \
                 are unknown, this command line's apply"
            );
            args
        }
    };
    let cases: usize = selected.suites.iter().map(|s| s.cases().len()).sum();
    println!("rerunning {cases} case(s) of {run} that did not pass");
    Ok(Some((args, selected)))
}

/// Command-line words, `--flag value`.
#[derive(Default)]
struct Words(Vec<String>);

impl Words {
    fn value(&mut self, flag: &str, value: impl Display) {
        self.0.push(format!("--{flag}"));
        self.0.push(value.to_string());
    }

    fn option(&mut self, flag: &str, value: Option<impl Display>) {
        if let Some(value) = value {
            self.value(flag, value);
        }
    }

    fn switch(&mut self, flag: &str, on: bool) {
        if on {
            self.0.push(format!("--{flag}"));
        }
    }
}

fn name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

impl RunArgs {
    /// The target options as command-line words: the target, kind flags, providers, the
    /// CNI/CRI/DNS flags and `--jobs`. Of two options that exclude each other, the one that
    /// decides (`--kubeconfig` over `--target`, `--cri-socket` over `--runtime`,
    /// `--scheduler-command` over `--scheduler`).
    pub fn target_args(&self) -> Vec<String> {
        let mut w = Words::default();
        match &self.kubeconfig {
            Some(path) => w.value("kubeconfig", path.display()),
            None => w.value("target", name(self.target)),
        }
        w.value("jobs", self.jobs);
        w.option("dns-server", self.dns_server);
        let p = &self.providers;
        w.value("store", name(p.store));
        w.option("etcd-endpoint", p.etcd_endpoint.as_ref());
        match &p.cri_socket {
            Some(socket) => w.value("cri-socket", socket.display()),
            None => w.value("runtime", name(p.runtime)),
        }
        if !p.require_real.is_empty() {
            w.value("require-real", p.require_real.join(","));
        }
        w.option("cni-conflist", p.cni_conflist.as_ref().map(|c| c.display()));
        w.option("cni-bin-dir", p.cni_bin_dir.as_ref().map(|d| d.display()));
        match &p.scheduler_command {
            Some(command) => w.value("scheduler-command", command),
            None => w.value("scheduler", name(p.scheduler)),
        }
        w.option("scheduler-name", p.scheduler_name.as_ref());
        for archive in &p.image_archives {
            w.value("image-archive", archive.display());
        }
        let k = &self.kind;
        w.option("kind-config", k.kind_config.as_ref().map(|c| c.display()));
        w.option("kind-cluster", k.kind_cluster.as_ref());
        w.switch("keep", k.keep);
        w.option("cni-manifest", k.cni_manifest.as_ref().map(|m| m.display()));
        w.option("kind-wait", k.kind_wait);
        w.0
    }

    /// These flags over a recorded run's target options: an option this command line
    /// gives wins, with the options it excludes or goes with (`--kubeconfig` with
    /// `--target` and the kind flags, `--cri-socket` with `--runtime`, `--etcd-endpoint`
    /// with `--store`, `--scheduler-command` with `--scheduler`); any other comes from the
    /// recording. Suites, filters and report options are this command line's.
    pub fn over_recorded(mut self, recorded: &[String], given: Given<'_>) -> Result<Self, String> {
        let mut r = parse_recorded(recorded)?;
        macro_rules! unless_given {
            ($field:expr, $recorded:expr, $($id:literal),+) => {
                if !($(given($id))||+) {
                    $field = $recorded;
                }
            };
        }
        if !(given("target") || given("kubeconfig")) {
            (self.target, self.kubeconfig) = (r.target, r.kubeconfig);
            let k = &mut self.kind;
            unless_given!(k.kind_config, r.kind.kind_config, "kind_config");
            unless_given!(k.kind_cluster, r.kind.kind_cluster, "kind_cluster");
            unless_given!(k.keep, r.kind.keep, "keep");
            unless_given!(k.cni_manifest, r.kind.cni_manifest, "cni_manifest");
            unless_given!(k.kind_wait, r.kind.kind_wait, "kind_wait");
        }
        unless_given!(self.jobs, r.jobs, "jobs");
        unless_given!(self.dns_server, r.dns_server, "dns_server");
        let (p, rp) = (&mut self.providers, &mut r.providers);
        unless_given!(
            (p.store, p.etcd_endpoint),
            (rp.store, rp.etcd_endpoint.take()),
            "store",
            "etcd_endpoint"
        );
        unless_given!(
            (p.runtime, p.cri_socket),
            (rp.runtime, rp.cri_socket.take()),
            "runtime",
            "cri_socket"
        );
        unless_given!(
            (p.scheduler, p.scheduler_command),
            (rp.scheduler, rp.scheduler_command.take()),
            "scheduler",
            "scheduler_command"
        );
        unless_given!(
            p.require_real,
            std::mem::take(&mut rp.require_real),
            "require_real"
        );
        unless_given!(p.cni_conflist, rp.cni_conflist.take(), "cni_conflist");
        unless_given!(p.cni_bin_dir, rp.cni_bin_dir.take(), "cni_bin_dir");
        unless_given!(p.scheduler_name, rp.scheduler_name.take(), "scheduler_name");
        unless_given!(
            p.image_archives,
            std::mem::take(&mut rp.image_archives),
            "image_archives"
        );
        Ok(self)
    }
}

/// The recorded words, parsed as the options of a `podcheck run`.
fn parse_recorded(words: &[String]) -> Result<RunArgs, String> {
    let argv = ["podcheck", "run"]
        .into_iter()
        .map(String::from)
        .chain(words.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Run(args),
        }) => Ok(*args),
        Ok(_) => Err("not a run".into()),
        Err(e) => Err(e.to_string().lines().next().unwrap_or("").to_string()),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches, parser::ValueSource};

    use super::*;

    /// `podcheck run ARGS`: the run's flags, and whether the command line gave a clap id.
    fn run(args: &[&str]) -> (RunArgs, impl Fn(&str) -> bool) {
        let matches = Cli::command()
            .try_get_matches_from(["podcheck", "run"].iter().chain(args))
            .unwrap();
        let run = matches.subcommand_matches("run").unwrap().clone();
        let Command::Run(args) = Cli::from_arg_matches(&matches).unwrap().command else {
            panic!("not a run");
        };
        let given = move |id: &str| run.value_source(id) == Some(ValueSource::CommandLine);
        (*args, given)
    }

    const FULL_LOCAL: &[&str] = &[
        "suites/x",
        "--jobs",
        "2",
        "--dns-server",
        "127.0.0.1:5353",
        "--etcd-endpoint",
        "http://127.0.0.1:2379",
        "--cri-socket",
        "/run/c.sock",
        "--require-real",
        "store,dns",
        "--cni-conflist",
        "my.conflist",
        "--cni-bin-dir",
        "/opt/cni/bin",
        "--scheduler-command",
        "./sched --v=2",
        "--scheduler-name",
        "mine",
    ];

    #[test]
    fn recorded_target_options_parse_back_to_the_same_words() {
        let kind = [
            "--target",
            "kind",
            "--kind-config",
            "k.yaml",
            "--kind-cluster",
            "pc",
            "--keep",
            "--cni-manifest",
            "cni.yaml",
            "--kind-wait",
            "90s",
            "--image-archive",
            "a.tar",
            "--image-archive",
            "b.tar",
        ];
        for args in [FULL_LOCAL, &kind[..], &["--kubeconfig", "kc"], &[]] {
            let words = run(args).0.target_args();
            let back = parse_recorded(&words).unwrap().target_args();
            assert_eq!(back, words, "{args:?}");
        }
        assert_eq!(
            run(&[]).0.target_args(),
            [
                "--target",
                "local",
                "--jobs",
                "4",
                "--store",
                "auto",
                "--runtime",
                "auto",
                "--scheduler",
                "auto"
            ]
        );
    }

    #[test]
    fn the_recorded_options_apply_unless_this_command_line_gives_them() {
        let recorded = run(FULL_LOCAL).0.target_args();
        let (args, given) = run(&["--rerun-failed", "--jobs", "1", "--runtime", "sim"]);
        let merged = args.over_recorded(&recorded, &given).unwrap();
        let words = merged.target_args();
        assert!(words.windows(2).any(|w| w == ["--jobs", "1"]), "{words:?}");
        // --runtime given: the recorded --cri-socket, which excludes it, is not applied.
        assert!(
            words.windows(2).any(|w| w == ["--runtime", "sim"]),
            "{words:?}"
        );
        assert!(!words.iter().any(|w| w == "--cri-socket"), "{words:?}");
        for kept in [
            "127.0.0.1:5353",
            "http://127.0.0.1:2379",
            "store,dns",
            "my.conflist",
            "/opt/cni/bin",
            "./sched --v=2",
            "mine",
        ] {
            assert!(words.iter().any(|w| w == kept), "{kept}: {words:?}");
        }
    }

    #[test]
    fn another_target_on_the_command_line_drops_the_recorded_kind_flags() {
        let recorded = run(&["--target", "kind", "--kind-cluster", "pc", "--keep"])
            .0
            .target_args();
        let (args, given) = run(&["--rerun-failed", "--kubeconfig", "kc"]);
        let words = args.over_recorded(&recorded, &given).unwrap().target_args();
        assert_eq!(&words[..2], ["--kubeconfig", "kc"]);
        assert!(
            !words
                .iter()
                .any(|w| w.starts_with("--kind") || w == "--keep")
        );
        let (args, given) = run(&["--rerun-failed", "--kind-cluster", "other"]);
        let words = args.over_recorded(&recorded, &given).unwrap().target_args();
        assert!(words.windows(2).any(|w| w == ["--target", "kind"]));
        assert!(words.windows(2).any(|w| w == ["--kind-cluster", "other"]));
        assert!(words.iter().any(|w| w == "--keep"));
    }

    #[test]
    fn a_recording_this_podcheck_cannot_parse_is_an_error() {
        let (args, given) = run(&["--rerun-failed"]);
        let err = args
            .over_recorded(&["--no-such-flag".into()], &given)
            .unwrap_err();
        assert!(err.contains("--no-such-flag"), "{err}");
    }

    #[test]
    fn rerun_failed_takes_an_optional_run_dir_and_refuses_suites_and_filters() {
        assert_eq!(run(&["--rerun-failed"]).0.rerun_failed, Some(None));
        assert_eq!(
            run(&["--rerun-failed", "reports/a"]).0.rerun_failed,
            Some(Some(PathBuf::from("reports/a")))
        );
        for conflicting in [
            &["suites/x", "--rerun-failed"][..],
            &["--rerun-failed", "r", "--case", "c"],
        ] {
            let argv = ["podcheck", "run"].iter().chain(conflicting);
            assert!(Cli::try_parse_from(argv).is_err(), "{conflicting:?}");
        }
    }
}
