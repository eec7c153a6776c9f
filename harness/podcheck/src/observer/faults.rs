//! A case's faults, driven while it runs: injected when the pod reaches each fault's `at`
//! (before the create for `auth` and `etcdWrite`), ended after its `for` or with the case —
//! and, whatever happens, when the driver is dropped (a failed or interrupted case).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use podcheck_controlplane::fault::{Faults, Injected};
use podcheck_core::fault::{FaultPlan, FaultRecord, FaultStep};
use podcheck_core::load::CaseSpec;
use podcheck_core::stage::Stage;
use podcheck_core::suite::FaultKind;
use rustix::process::{Pid, Signal, kill_process_group};

use super::Recorder;

/// What a case's faults can break: the embedded control plane's switches, and the suite's
/// own scheduler process, which a `schedulerPaused` fault stops with SIGSTOP.
#[derive(Clone)]
pub struct Switchboard {
    pub control_plane: Faults,
    /// The process group of the suite's scheduler, when it runs one.
    pub scheduler: Option<Pid>,
}

impl Switchboard {
    async fn switch(&self, kind: &FaultKind, on: bool) -> Result<Injected, String> {
        let Some(pgid) = self.scheduler else {
            return match on {
                true => self.control_plane.inject(kind),
                false => self.control_plane.end(kind).await,
            };
        };
        match kind {
            FaultKind::SchedulerPaused => {
                let signal = if on { Signal::STOP } else { Signal::CONT };
                kill_process_group(pgid, signal)
                    .map_err(|e| format!("signalling the suite's scheduler: {e}"))?;
                Ok(Injected {
                    how: "the suite's scheduler process group gets SIGSTOP, then SIGCONT when the fault ends".into(),
                    component: "scheduler (the suite's)".into(),
                    real: true,
                })
            }
            FaultKind::SchedulerStopped => Err(
                "schedulerStopped stops the builtin scheduler; the suite's own scheduler can be paused (schedulerPaused)".into(),
            ),
            _ if on => self.control_plane.inject(kind),
            _ => self.control_plane.end(kind).await,
        }
    }

    /// Throws every switch back, and resumes the suite's scheduler.
    pub fn end_all(&self) {
        if let Some(pgid) = self.scheduler {
            let _ = kill_process_group(pgid, Signal::CONT);
        }
        self.control_plane.end_all();
    }

    /// The switches still thrown (a paused scheduler process counts).
    pub fn thrown(&self) -> Vec<&'static str> {
        let mut thrown = self.control_plane.thrown();
        if self.scheduler.is_some_and(stopped_by_signal) {
            thrown.push("the suite's scheduler (SIGSTOP)");
        }
        thrown
    }
}

/// Whether the process group's leader is stopped (`T` in /proc/PID/stat).
fn stopped_by_signal(pgid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pgid.as_raw_nonzero()))
        .ok()
        .and_then(|stat| {
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().next().map(|state| state == "T")
        })
        .unwrap_or(false)
}

/// How often the driver looks where the pod stands.
const TICK: Duration = Duration::from_millis(5);

struct Shared {
    plan: FaultPlan,
    /// Each fault's record, with the instants it was injected and ended.
    records: Vec<(FaultRecord, Option<Instant>, Option<Instant>)>,
}

/// The faults of one case in force; ends them all when dropped.
pub(super) struct Driver {
    faults: Switchboard,
    shared: Arc<Mutex<Shared>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Tells the follower to stop at its next look (it is never cut off mid-switch).
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Driver {
    /// Injects the faults due before the create.
    pub(super) async fn start(faults: Switchboard, case: &CaseSpec) -> Driver {
        let plan = FaultPlan::new(&case.faults);
        let records = case
            .faults
            .iter()
            .map(|f| (FaultRecord::planned(f), None, None))
            .collect();
        let driver = Driver {
            faults,
            shared: Arc::new(Mutex::new(Shared { plan, records })),
            task: None,
            stop: Arc::default(),
        };
        step(&driver.faults, &driver.shared, None, 0.0).await;
        driver
    }

    /// From the create on: follows the pod, injecting and ending faults as they fall due.
    pub(super) fn follow(&mut self, recorder: &Recorder) {
        let (faults, shared, recorder, stop) = (
            self.faults.clone(),
            self.shared.clone(),
            recorder.clone(),
            self.stop.clone(),
        );
        self.task = Some(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let stage = recorder.read_live(|r| r.stage_at());
                let Some(stage) = stage else { return };
                step(&faults, &shared, Some(stage), recorder.now_ms()).await;
                tokio::time::sleep(TICK).await;
            }
        }));
    }

    /// Ends what is still in force; the records, timed from the create at `t0`.
    pub(super) async fn finish(mut self, t0: Instant) -> Vec<FaultRecord> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let steps = self
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .plan
            .finish();
        apply(&self.faults, &self.shared, &steps).await;
        let shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let since = |at: Instant| {
            if at >= t0 {
                at.duration_since(t0).as_secs_f64() * 1e3
            } else {
                -(t0.duration_since(at).as_secs_f64() * 1e3)
            }
        };
        shared
            .records
            .iter()
            .map(|(record, injected, ended)| FaultRecord {
                injected_ms: injected.map(since),
                ended_ms: ended.map(since),
                ..record.clone()
            })
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.faults.end_all();
    }
}

/// One look: what is due where the pod waits on `stage` (None: before the create).
async fn step(faults: &Switchboard, shared: &Mutex<Shared>, stage: Option<Stage>, now_ms: f64) {
    let steps = shared
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .plan
        .step(stage, now_ms);
    apply(faults, shared, &steps).await;
}

/// Switches each fault as `steps` say, and records when and how.
async fn apply(faults: &Switchboard, shared: &Mutex<Shared>, steps: &[FaultStep]) {
    for step in steps {
        let (i, on) = match *step {
            FaultStep::Inject(i) => (i, true),
            FaultStep::End(i) => (i, false),
        };
        let kind = shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .plan
            .fault(i)
            .kind
            .clone();
        let outcome = faults.switch(&kind, on).await;
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        let (record, injected, ended) = &mut shared.records[i];
        match outcome {
            Ok(how) if on => {
                record.how = how.how;
                record.component = how.component;
                record.real = how.real;
                *injected = Some(Instant::now());
            }
            Ok(_) => *ended = Some(Instant::now()),
            Err(e) => {
                tracing::warn!(fault = kind.name(), error = %e, "fault not switched");
                record.error = Some(e);
            }
        }
    }
}
