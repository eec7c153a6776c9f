//! Faults a case injects into the embedded control plane (`faults:`): the stage each acts
//! on, when the observer injects and ends it ([`FaultPlan`], pure), its words, and what the
//! observer records of it ([`FaultRecord`]).
//!
//! `at` names a stage of the pod's path; the observer can only tell the path's moments the
//! API shows, so stages that share a moment are reached together: `auth` and `etcdWrite`
//! before the create; `pending` and `binding` once the create is answered; `criLaunch` and
//! `cniAttach` once the pod is bound (the sandbox and its network are one call of the
//! kubelet's); `statusUpdate` once the pod has an IP; `dns` once it is Ready (the lookups
//! come after).

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::stage::Stage;
use crate::suite::FaultKind;

/// A checked fault of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub at: Stage,
    /// None: until the case ends.
    pub lasts: Option<Duration>,
    pub recover_within: Option<Duration>,
}

impl FaultKind {
    /// The name a suite writes.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::SchedulerStopped => "schedulerStopped",
            FaultKind::SchedulerPaused => "schedulerPaused",
            FaultKind::CniAddFails(_) => "cniAddFails",
            FaultKind::DnsDrops => "dnsDrops",
            FaultKind::DnsDelays(_) => "dnsDelays",
            FaultKind::StoreWritesDelayed(_) => "storeWritesDelayed",
            FaultKind::RuntimeKilled => "runtimeKilled",
            FaultKind::StatusUpdatesDelayed(_) => "statusUpdatesDelayed",
        }
    }

    /// The last stage at which injecting it can still change the pod's path.
    pub fn latest_at(&self) -> Stage {
        match self {
            FaultKind::SchedulerStopped | FaultKind::SchedulerPaused => Stage::Binding,
            FaultKind::CniAddFails(_) => Stage::CniAttach,
            FaultKind::RuntimeKilled => Stage::CriLaunch,
            FaultKind::DnsDrops | FaultKind::DnsDelays(_) => Stage::Dns,
            FaultKind::StoreWritesDelayed(_) | FaultKind::StatusUpdatesDelayed(_) => {
                Stage::StatusUpdate
            }
        }
    }

    /// The stage whose verdict shows it, when injected at `at`: a store slowed before the
    /// create shows in the create's write, later in the status writes.
    pub fn acts_on(&self, at: Stage) -> Stage {
        match self {
            FaultKind::StoreWritesDelayed(_) if at <= Stage::EtcdWrite => Stage::EtcdWrite,
            other => other.latest_at(),
        }
    }

    /// In words, for evidence.
    pub fn words(&self) -> String {
        match self {
            FaultKind::SchedulerStopped => "the scheduler stopped".into(),
            FaultKind::SchedulerPaused => "the scheduler paused".into(),
            FaultKind::CniAddFails(e) => {
                format!("CNI ADD fails with code {}: {}", e.code, e.msg)
            }
            FaultKind::DnsDrops => "the cluster DNS drops every query".into(),
            FaultKind::DnsDelays(d) => format!("the cluster DNS answers {d} late"),
            FaultKind::StoreWritesDelayed(d) => format!("every store write waits {d}"),
            FaultKind::RuntimeKilled => {
                "the container runtime is killed once it starts a sandbox".into()
            }
            FaultKind::StatusUpdatesDelayed(d) => {
                format!("the kubelets send each status update {d} late")
            }
        }
    }
}

/// Stages reached at the same moment of the path, as the API shows it (see the module).
fn moment(stage: Stage) -> u8 {
    match stage {
        Stage::Auth | Stage::EtcdWrite => 0,
        Stage::Pending | Stage::Binding => 1,
        Stage::CriLaunch | Stage::CniAttach => 2,
        Stage::StatusUpdate => 3,
        Stage::Dns => 4,
    }
}

/// Whether a pod that waits on `now` (see [`crate::progress::stage_at`]) has reached `at`.
pub fn reached(at: Stage, now: Stage) -> bool {
    moment(now) >= moment(at)
}

/// Whether `at` comes before the create: such faults are injected before it is sent.
pub fn before_create(at: Stage) -> bool {
    moment(at) == 0
}

/// What the observer does next about a case's faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultStep {
    Inject(usize),
    End(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Waiting,
    Injected { at_ms: f64 },
    Ended,
}

/// When each of a case's faults is injected and ended: pure, stepped by the observer with
/// where the pod stands and the time.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    faults: Vec<Fault>,
    phases: Vec<Phase>,
}

impl FaultPlan {
    pub fn new(faults: &[Fault]) -> Self {
        FaultPlan {
            faults: faults.to_vec(),
            phases: vec![Phase::Waiting; faults.len()],
        }
    }

    /// What is due now that the pod waits on `now` (None: before the create).
    pub fn step(&mut self, now: Option<Stage>, now_ms: f64) -> Vec<FaultStep> {
        let mut steps = Vec::new();
        for (i, f) in self.faults.iter().enumerate() {
            match self.phases[i] {
                Phase::Waiting => {
                    let due = match now {
                        None => before_create(f.at),
                        Some(stage) => reached(f.at, stage),
                    };
                    if due {
                        self.phases[i] = Phase::Injected { at_ms: now_ms };
                        steps.push(FaultStep::Inject(i));
                    }
                }
                Phase::Injected { at_ms } => {
                    if let Some(d) = f.lasts
                        && now_ms >= at_ms + d.0.as_secs_f64() * 1e3
                    {
                        self.phases[i] = Phase::Ended;
                        steps.push(FaultStep::End(i));
                    }
                }
                Phase::Ended => {}
            }
        }
        steps
    }

    /// The faults still in force: ended when the case ends.
    pub fn finish(&mut self) -> Vec<FaultStep> {
        let mut steps = Vec::new();
        for (i, phase) in self.phases.iter_mut().enumerate() {
            if matches!(phase, Phase::Injected { .. }) {
                *phase = Phase::Ended;
                steps.push(FaultStep::End(i));
            }
        }
        steps
    }

    pub fn fault(&self, i: usize) -> &Fault {
        &self.faults[i]
    }
}

/// What the observer saw of one fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRecord {
    /// The fault, in words.
    pub fault: String,
    pub at: Stage,
    /// The stage whose verdict shows it.
    pub acts_on: Stage,
    /// Milliseconds from the create (negative: before it); None: never injected.
    pub injected_ms: Option<f64>,
    pub ended_ms: Option<f64>,
    /// How the control plane broke the component (its own words).
    pub how: String,
    /// The component broken, and whether it is a real one.
    pub component: String,
    pub real: bool,
    /// Why it could not be injected or ended.
    pub error: Option<String>,
    pub recover_within: Option<Duration>,
}

impl FaultRecord {
    /// A fault not injected (yet).
    pub fn planned(f: &Fault) -> Self {
        FaultRecord {
            fault: f.kind.words(),
            at: f.at,
            acts_on: f.kind.acts_on(f.at),
            injected_ms: None,
            ended_ms: None,
            how: String::new(),
            component: String::new(),
            real: false,
            error: None,
            recover_within: f.recover_within,
        }
    }

    /// The fault's story in one line, for evidence.
    pub fn detail(&self) -> String {
        let when = |ms: f64| {
            if ms < 0.0 {
                "before the create".to_string()
            } else {
                format!("at +{ms:.0} ms")
            }
        };
        let mut s = match self.injected_ms {
            None => format!(
                "fault not injected: the pod never reached {} ({})",
                self.at, self.fault
            ),
            Some(ms) => format!("fault injected {}: {} ({})", when(ms), self.fault, self.how),
        };
        match self.ended_ms {
            Some(ms) => s.push_str(&format!("; ended {}", when(ms))),
            None if self.injected_ms.is_some() => s.push_str("; in force until the case ended"),
            None => {}
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("; error: {e}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: FaultKind, at: Stage, lasts_ms: Option<u64>) -> Fault {
        Fault {
            kind,
            at,
            lasts: lasts_ms.map(|ms| Duration(std::time::Duration::from_millis(ms))),
            recover_within: None,
        }
    }

    #[test]
    fn stages_sharing_a_moment_are_reached_together() {
        assert!(before_create(Stage::Auth) && before_create(Stage::EtcdWrite));
        assert!(!before_create(Stage::Pending));
        assert!(reached(Stage::Pending, Stage::Binding));
        assert!(!reached(Stage::CriLaunch, Stage::Binding));
        assert!(reached(Stage::CniAttach, Stage::CriLaunch));
        assert!(reached(Stage::StatusUpdate, Stage::StatusUpdate));
        assert!(!reached(Stage::Dns, Stage::StatusUpdate));
        assert!(reached(Stage::StatusUpdate, Stage::Dns));
    }

    #[test]
    fn a_plan_injects_when_reached_and_ends_after_its_duration() {
        let mut plan = FaultPlan::new(&[
            fault(FaultKind::SchedulerStopped, Stage::Auth, Some(100)),
            fault(FaultKind::DnsDrops, Stage::Dns, None),
        ]);
        assert_eq!(plan.step(None, -5.0), vec![FaultStep::Inject(0)]);
        assert_eq!(plan.step(Some(Stage::Binding), 50.0), vec![]);
        assert_eq!(
            plan.step(Some(Stage::Binding), 95.0),
            vec![FaultStep::End(0)]
        );
        assert_eq!(
            plan.step(Some(Stage::Dns), 120.0),
            vec![FaultStep::Inject(1)]
        );
        assert_eq!(plan.step(Some(Stage::Dns), 10_000.0), vec![]);
        assert_eq!(plan.finish(), vec![FaultStep::End(1)]);
        assert_eq!(plan.finish(), vec![]);
    }

    #[test]
    fn a_fault_of_a_pod_that_never_gets_there_is_never_injected() {
        let mut plan = FaultPlan::new(&[fault(FaultKind::RuntimeKilled, Stage::CriLaunch, None)]);
        assert_eq!(plan.step(None, 0.0), vec![]);
        assert_eq!(plan.step(Some(Stage::Binding), 10.0), vec![]);
        assert_eq!(plan.finish(), vec![]);
    }

    #[test]
    fn a_slow_store_shows_where_it_was_injected() {
        let d = FaultKind::StoreWritesDelayed(Duration::from_secs(1));
        assert_eq!(d.acts_on(Stage::Auth), Stage::EtcdWrite);
        assert_eq!(d.acts_on(Stage::CriLaunch), Stage::StatusUpdate);
        assert_eq!(FaultKind::DnsDrops.acts_on(Stage::Auth), Stage::Dns);
    }

    #[test]
    fn a_record_tells_its_story() {
        let f = fault(FaultKind::SchedulerStopped, Stage::Auth, Some(3000));
        let mut r = FaultRecord::planned(&f);
        assert_eq!(
            r.detail(),
            "fault not injected: the pod never reached auth (the scheduler stopped)"
        );
        r.injected_ms = Some(-2.0);
        r.ended_ms = Some(3001.0);
        r.how = "builtin scheduler's task cancelled".into();
        assert_eq!(
            r.detail(),
            "fault injected before the create: the scheduler stopped (builtin scheduler's task cancelled); ended at +3001 ms"
        );
    }
}
