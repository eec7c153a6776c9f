//! `podcheck run suites/pod-lifecycle`, as a user runs it: wall time from process start to
//! exit, and each stage's time from the create (median of the runs).
//!
//! `cargo bench -p podcheck --bench run` (PODCHECK_BENCH_RUNS overrides 20).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = std::env::var("PODCHECK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let reports = tempfile::tempdir().unwrap();
    let stores: Vec<&str> = if Path::new("/usr/bin/etcd").is_file() {
        vec!["memory", "etcd"]
    } else {
        vec!["memory"]
    };
    for store in stores {
        let mut wall = Vec::new();
        let mut stages: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for i in 0..runs {
            let dir = reports.path().join(format!("{store}-{i}"));
            let t0 = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_podcheck"))
                .args([
                    "run",
                    "suites/pod-lifecycle",
                    "--snapshot",
                    "ignore",
                    "--store",
                    store,
                    "--runtime",
                    "sim",
                    "--report-dir",
                ])
                .arg(&dir)
                .current_dir(&workspace)
                .output()
                .unwrap();
            wall.push(t0.elapsed().as_secs_f64() * 1e3);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
            let results: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap())
                    .unwrap();
            for stage in results["suites"][0]["cases"][0]["stages"]
                .as_array()
                .unwrap()
            {
                if let Some(at) = stage["atMs"].as_f64() {
                    stages
                        .entry(stage["stage"].as_str().unwrap().to_string())
                        .or_default()
                        .push(at);
                }
            }
        }
        let w = median(&mut wall);
        println!(
            "podcheck run suites/pod-lifecycle --store {store} ({} build), {runs} runs",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        );
        println!(
            "wall time, process start to exit: median {w:.1} ms, min {:.1} ms, max {:.1} ms",
            wall[0],
            wall[wall.len() - 1]
        );
        println!("stage evidence complete, ms from the create (median):");
        for stage in [
            "auth",
            "etcdWrite",
            "pending",
            "binding",
            "criLaunch",
            "cniAttach",
            "dns",
            "statusUpdate",
        ] {
            if let Some(v) = stages.get_mut(stage) {
                println!("  {stage:<13} {:>7.2}", median(v));
            }
        }
    }
}
