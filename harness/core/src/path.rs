//! Where the pod's path ends, and how: the one decision the observer stops waiting on and
//! the verdicts skip later stages on. Pure predicates over pods, Events and the create.
//!
//! - every sighting counts, not only the last: a pod once seen Running, finished or stuck
//!   has ended its path even if a later sighting shows something else;
//! - failures the kubelet retries do not end the path: a refused sandbox
//!   (`FailedCreatePodSandBox`: the CNI not ready yet on a fresh node), a failed pull
//!   (`ErrImagePull`, `ImagePullBackOff`: a registry's 429), a container that could not be
//!   created or started. A real kubelet tries again on its next sync, with back-off, so the
//!   observer waits until the pod runs or the case's deadline passes, and the verdicts show
//!   every attempt;
//! - only what no retry cures within a case ends it: [`STUCK_REASONS`];
//! - a case that expects the pull to fail ends when the pull failed ([`Course::PullFails`]).

use std::fmt;

use k8s_openapi::api::core::v1::Pod;

use crate::load::CaseSpec;
use crate::observation::{CreateOutcome, EventSighting, PodSighting};
use crate::stage::Stage;
use crate::suite::{BindingExpectation, CriLaunchExpectation};

/// Waiting reasons that no retry cures within a case: the image may not be pulled, or its
/// name is not one (only a new pod spec changes either).
pub const STUCK_REASONS: &[&str] = &["ErrImageNeverPull", "InvalidImageName"];

/// Waiting reasons of a failed pull, which the kubelet retries with back-off.
pub const PULL_FAILURES: &[&str] = &["ErrImagePull", "ImagePullBackOff"];

/// The Events of a pod's start; a path that ended is complete once all have been seen.
const START_EVENTS: [&str; 4] = ["Scheduled", "Pulled", "Created", "Started"];

/// How the pod's path ended.
#[derive(Debug, Clone, PartialEq)]
pub enum PathEnd {
    /// The apiserver did not admit the pod.
    Denied { code: u16 },
    /// The case expects the pod left to its own scheduler: a scheduler touched it
    /// (`touched`), or the window passed.
    LeftAlone { touched: bool },
    /// `PodScheduled=False` (Unschedulable) and a `FailedScheduling` Event, as the case
    /// expects.
    Unschedulable,
    /// Running, with Ready and ContainersReady True.
    Running,
    /// Phase Succeeded or Failed.
    Finished { phase: String },
    /// A container waits for one of [`STUCK_REASONS`].
    Stuck { container: String, reason: String },
    /// A container waits for an image it could not pull, as the case expects.
    PullFailed { container: String, reason: String },
    /// An Event said what the case expects the node to fail with.
    FailedAsExpected { reason: String },
}

impl fmt::Display for PathEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathEnd::Denied { code } => {
                write!(f, "the pod was not created: the apiserver answered {code}")
            }
            PathEnd::LeftAlone { touched: true } => {
                write!(f, "a scheduler touched the pod it was to leave alone")
            }
            PathEnd::LeftAlone { touched: false } => {
                write!(f, "the pod was left alone for the whole window")
            }
            PathEnd::Unschedulable => write!(f, "the pod stays unscheduled"),
            PathEnd::Running => write!(f, "the pod is Running and Ready"),
            PathEnd::Finished { phase } => write!(f, "the pod finished: phase {phase}"),
            PathEnd::Stuck { container, reason } => {
                write!(f, "container {container} is stuck waiting: {reason}")
            }
            PathEnd::FailedAsExpected { reason } => {
                write!(
                    f,
                    "the pod failed on its node as the case expects: {reason}"
                )
            }
            PathEnd::PullFailed { container, reason } => {
                write!(
                    f,
                    "container {container} could not pull its image: {reason}"
                )
            }
        }
    }
}

/// What the case expects of the pod's path, as far as its end is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Course<'a> {
    /// To run (every binding expectation but the two below).
    Run,
    /// To stay unscheduled.
    Unschedulable,
    /// To be left alone for this many milliseconds.
    LeftAlone { window_ms: f64 },
    /// To be bound, and then wait for an image it cannot pull, with these words in the
    /// runtime's message (a failure in other words, such as a registry's 429, is retried).
    PullFails { words: &'a str },
    /// To fail on the node (criLaunch or cniAttach, as the case expects) with these words in
    /// one of the pod's Events.
    FailsWith { words: &'a str },
}

impl<'a> Course<'a> {
    pub fn of(case: &'a CaseSpec) -> Course<'a> {
        match &case.expect.binding {
            Some(BindingExpectation::Unschedulable(_)) => Course::Unschedulable,
            Some(BindingExpectation::LeftAlone(d)) => Course::LeftAlone {
                window_ms: d.0.as_secs_f64() * 1e3,
            },
            _ => match &case.expect.cri_launch {
                Some(CriLaunchExpectation::PullFails(words)) => Course::PullFails { words },
                _ => match [Stage::CriLaunch, Stage::CniAttach]
                    .into_iter()
                    .find_map(|stage| case.expect.failed_words(stage))
                {
                    Some(words) => Course::FailsWith { words },
                    None => Course::Run,
                },
            },
        }
    }
}

/// Where the path stands at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct PathState {
    /// None while the path goes on.
    pub end: Option<PathEnd>,
    /// Whether the Events that trail the end are in (the start Events for [`Course::Run`]).
    pub events_in: bool,
}

/// Where the path stands, `now_ms` after the create, from what was seen so far.
pub fn state(
    course: Course<'_>,
    create: &CreateOutcome,
    sightings: &[PodSighting],
    events: &[EventSighting],
    now_ms: f64,
) -> PathState {
    if let Some(end) = denied(create) {
        return PathState {
            end: Some(end),
            events_in: true,
        };
    }
    let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
    match course {
        Course::LeftAlone { window_ms } => {
            // Until the window passes, unless a scheduler touches the pod first.
            let touched = sightings.iter().any(|s| touched_by_scheduler(&s.pod))
                || reasons
                    .iter()
                    .any(|r| matches!(*r, "Scheduled" | "FailedScheduling"));
            PathState {
                end: (touched || now_ms >= window_ms).then_some(PathEnd::LeftAlone { touched }),
                events_in: true,
            }
        }
        // Bound after all: the verdict is in, and the pod's path goes on like any other's
        // (waiting for an unschedulable mark that cannot come would hold the case).
        Course::Unschedulable
            if sightings
                .iter()
                .any(|s| touched_by_scheduler_with_a_node(&s.pod)) =>
        {
            state(Course::Run, create, sightings, events, now_ms)
        }
        Course::Unschedulable => {
            let condition = sightings.iter().any(|s| unschedulable(&s.pod));
            PathState {
                end: (condition && reasons.contains(&"FailedScheduling"))
                    .then_some(PathEnd::Unschedulable),
                events_in: true,
            }
        }
        Course::Run => PathState {
            end: run_end(sightings),
            events_in: START_EVENTS.iter().all(|x| reasons.contains(x)),
        },
        Course::FailsWith { words } => PathState {
            end: run_end(sightings).or_else(|| {
                events.iter().find(|e| e.message.contains(words)).map(|e| {
                    PathEnd::FailedAsExpected {
                        reason: e.reason.clone(),
                    }
                })
            }),
            events_in: true,
        },
        Course::PullFails { words } => PathState {
            end: run_end(sightings).or_else(|| {
                sightings.iter().find_map(|s| {
                    let (container, reason) = pull_failed_with(&s.pod, words)?;
                    Some(PathEnd::PullFailed {
                        container: container.to_string(),
                        reason: reason.to_string(),
                    })
                })
            }),
            // The kubelet's `Failed to pull image` Event trails the status.
            events_in: events
                .iter()
                .any(|e| e.reason == "Failed" && e.message.starts_with("Failed to pull image")),
        },
    }
}

/// The end of a pod that is to run: Running, finished, or a failure that waiting longer
/// does not cure, in that order when several were seen.
fn run_end(sightings: &[PodSighting]) -> Option<PathEnd> {
    if sightings.iter().any(|s| ready(&s.pod)) {
        return Some(PathEnd::Running);
    }
    if let Some(phase) = sightings
        .iter()
        .find(|s| finished(&s.pod))
        .and_then(|s| s.pod.status.as_ref()?.phase.clone())
    {
        return Some(PathEnd::Finished { phase });
    }
    sightings.iter().find_map(|s| {
        let (container, reason) = stuck(&s.pod)?;
        Some(PathEnd::Stuck {
            container: container.to_string(),
            reason: reason.to_string(),
        })
    })
}

/// The path ends at the create when the apiserver did not admit the pod.
pub fn denied(create: &CreateOutcome) -> Option<PathEnd> {
    (create.code != 201).then_some(PathEnd::Denied { code: create.code })
}

fn phase(p: &Pod) -> Option<&str> {
    p.status.as_ref().and_then(|s| s.phase.as_deref())
}

fn condition_true(p: &Pod, kind: &str) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
}

/// Running, with Ready and ContainersReady True.
pub fn ready(p: &Pod) -> bool {
    phase(p) == Some("Running")
        && condition_true(p, "Ready")
        && condition_true(p, "ContainersReady")
}

/// Phase Succeeded or Failed.
pub fn finished(p: &Pod) -> bool {
    matches!(phase(p), Some("Succeeded" | "Failed"))
}

/// The first container waiting for one of [`STUCK_REASONS`], and the reason.
pub fn stuck(p: &Pod) -> Option<(&str, &str)> {
    waiting_for(p, STUCK_REASONS)
}

/// The first container waiting for an image it could not pull, with `words` in the message.
fn pull_failed_with<'p>(p: &'p Pod, words: &str) -> Option<(&'p str, &'p str)> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find_map(|c| {
            let waiting = c.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref()?;
            let message = waiting.message.as_deref().unwrap_or_default();
            (PULL_FAILURES.contains(&reason) && message.contains(words))
                .then_some((c.name.as_str(), reason))
        })
}

/// The first container waiting for one of `reasons`, and the reason.
fn waiting_for<'a>(p: &'a Pod, reasons: &[&str]) -> Option<(&'a str, &'a str)> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find_map(|c| {
            let reason = c.state.as_ref()?.waiting.as_ref()?.reason.as_deref()?;
            reasons
                .contains(&reason)
                .then_some((c.name.as_str(), reason))
        })
}

/// `PodScheduled=False` with reason Unschedulable.
pub fn unschedulable(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
            })
        })
}

/// A node set (not empty).
fn touched_by_scheduler_with_a_node(p: &Pod) -> bool {
    p.spec
        .as_ref()
        .and_then(|sp| sp.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

/// A node name set (even an empty one), or any PodScheduled condition.
fn touched_by_scheduler(p: &Pod) -> bool {
    p.spec
        .as_ref()
        .and_then(|sp| sp.node_name.as_ref())
        .is_some()
        || p.status
            .as_ref()
            .and_then(|st| st.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "PodScheduled"))
}

/// How the pod fares in its `staysReadyFor` window: from the first sighting Running and
/// Ready, for `window_ms`. Only sightings inside the window count (the cleanup's deletion
/// comes after it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReadyWindow {
    /// The pod was never Ready: there is no window.
    NeverReady,
    /// The pod is Ready so far, and the window is open until `until_ms`.
    Open { from_ms: f64, until_ms: f64 },
    /// Sighting `at` (an index) shows the pod out of Ready, deleted, or with a container
    /// that terminated or restarted since it became Ready.
    Broke { from_ms: f64, at: usize },
    /// The pod stayed Ready for the whole window, which ended at `until_ms`.
    Held { from_ms: f64, until_ms: f64 },
}

/// Where the window of a pod that must stay Ready for `window_ms` stands at `now_ms`.
pub fn ready_window(sightings: &[PodSighting], window_ms: f64, now_ms: f64) -> ReadyWindow {
    let Some(first) = sightings.iter().position(|s| ready(&s.pod)) else {
        return ReadyWindow::NeverReady;
    };
    let from_ms = sightings[first].at_ms;
    let until_ms = from_ms + window_ms;
    let restarts = restart_count(&sightings[first].pod);
    let broke = sightings
        .iter()
        .enumerate()
        .skip(first)
        .take_while(|(_, s)| s.at_ms <= until_ms)
        .find(|(_, s)| {
            s.kind == "DELETED"
                || !ready(&s.pod)
                || restart_count(&s.pod) > restarts
                || terminated(&s.pod).is_some()
        });
    match broke {
        Some((at, _)) => ReadyWindow::Broke { from_ms, at },
        None if now_ms >= until_ms => ReadyWindow::Held { from_ms, until_ms },
        None => ReadyWindow::Open { from_ms, until_ms },
    }
}

/// The restarts of all the pod's containers together.
pub fn restart_count(p: &Pod) -> i64 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| cs.iter().map(|c| i64::from(c.restart_count)).sum())
}

/// The first container whose state is terminated, and its name.
pub fn terminated(p: &Pod) -> Option<&str> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.state.as_ref().is_some_and(|st| st.terminated.is_some()))
        .map(|c| c.name.as_str())
}

/// When to stop waiting for the path's end: as soon as it ended with its Events in, else
/// a grace after it ended (Events trail the state they report), else at the deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    deadline_ms: f64,
    grace_ms: f64,
    grace_until_ms: Option<f64>,
}

/// What the waiter does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStep {
    Continue,
    Stop { timed_out: bool },
}

impl Wait {
    pub fn new(deadline_ms: f64, grace_ms: f64) -> Self {
        Wait {
            deadline_ms,
            grace_ms,
            grace_until_ms: None,
        }
    }

    pub fn step(&mut self, path: &PathState, now_ms: f64) -> WaitStep {
        if path.end.is_some() {
            if path.events_in {
                return WaitStep::Stop { timed_out: false };
            }
            let until = *self.grace_until_ms.get_or_insert(now_ms + self.grace_ms);
            if now_ms >= until {
                return WaitStep::Stop { timed_out: false };
            }
        }
        if now_ms >= self.deadline_ms {
            return WaitStep::Stop { timed_out: true };
        }
        WaitStep::Continue
    }
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
