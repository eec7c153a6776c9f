//! Per-stage latency with real components (etcd, containerd + runc, CNI bridge, in-pod DNS)
//! side by side with the simulated runtime: a suite of N busybox pods run by `podcheck run`,
//! one pod at a time (20) and all at once (50); p50 and p99 of each stage's time from the
//! create, and of create → Running (`statusUpdate`).
//!
//! `cargo bench -p podcheck --bench real` (as root, with containerd, runc and
//! containernetworking-plugins installed; otherwise only the simulated rows are printed).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// A suite of `n` identical busybox cases.
fn suite(n: usize) -> String {
    let mut s = String::from(
        "apiVersion: podcheck.dev/v1alpha1\nkind: Suite\nmetadata:\n  name: bench\nspec:\n  cases:\n",
    );
    for i in 0..n {
        let _ = write!(
            s,
            "    - name: pod-{i}\n      pod:\n        spec:\n          containers: [{{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}}]\n"
        );
    }
    s
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let real = Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .args(["doctor", "--require-real", "runtime,network,dns"])
        .output()
        .unwrap()
        .status
        .success();
    let runtimes: &[&str] = if real {
        &["sim", "containerd"]
    } else {
        &["sim"]
    };
    println!(
        "podcheck run, {} build, store etcd where installed",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    for (pods, jobs) in [(20usize, 1usize), (50, 50)] {
        let file = dir.path().join(format!("bench-{pods}.yaml"));
        std::fs::write(&file, suite(pods)).unwrap();
        for runtime in runtimes {
            let reports = dir.path().join(format!("{runtime}-{pods}"));
            let t0 = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_podcheck"))
                .args(["run", "--snapshot", "ignore", "--runtime", runtime])
                .args(["--jobs", &jobs.to_string(), "--report-dir"])
                .arg(&reports)
                .arg(&file)
                .current_dir(&workspace)
                .output()
                .unwrap();
            let wall = t0.elapsed().as_secs_f64();
            assert!(
                out.status.success(),
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let results: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(reports.join("results.json")).unwrap(),
            )
            .unwrap();
            let mut stages: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for case in results["suites"][0]["cases"].as_array().unwrap() {
                for stage in case["stages"].as_array().unwrap() {
                    if let Some(at) = stage["atMs"].as_f64() {
                        stages
                            .entry(stage["stage"].as_str().unwrap().to_string())
                            .or_default()
                            .push(at);
                    }
                }
            }
            println!(
                "\n{pods} pods, {jobs} at a time, --runtime {runtime}: whole run {wall:.2} s; ms from the create:"
            );
            println!("  {:<14} {:>9} {:>9}", "stage", "p50", "p99");
            for (stage, mut at) in stages {
                let p50 = percentile(&mut at, 50.0);
                let p99 = percentile(&mut at, 99.0);
                println!("  {stage:<14} {p50:>9.1} {p99:>9.1}");
            }
        }
    }
}
