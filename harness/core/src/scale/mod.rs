//! `podcheck load`: many pods created at once, and what it took for each to run.
//!
//! Pure and synchronous, as the rest of the core: the command in `podcheck` sends the
//! creates and reads one pod watch; everything it saw goes through [`timeline::Timeline`]
//! (create sent and answered, each watch event, on the harness's monotonic clock), and
//! [`stats`] turns the per-pod timestamps into ClusterLoader2-style percentiles, the
//! throughput and the report; [`slo`] parses and checks `--slo` expressions; [`perfdata`]
//! is ClusterLoader2's PerfData file; [`case`] is a suite's `load:` case and its checks.

pub mod case;
pub mod perfdata;
pub mod slo;
pub mod stats;
pub mod timeline;

/// Milliseconds since the load run began, on the harness's monotonic clock.
pub type Millis = f64;

/// How long a load run may take when `--timeout` does not say: two minutes, and 100 ms
/// more per pod (5000 pods: about ten minutes).
pub fn default_timeout(pods: usize) -> std::time::Duration {
    std::time::Duration::from_secs(120) + std::time::Duration::from_millis(100 * pods as u64)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    #[rstest]
    #[case(1, 120_100)]
    #[case(200, 140_000)]
    #[case(5000, 620_000)]
    fn the_default_timeout_grows_with_the_pods(#[case] pods: usize, #[case] ms: u128) {
        assert_eq!(super::default_timeout(pods).as_millis(), ms);
    }
}
