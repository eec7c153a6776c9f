//! How the scheduler records what it did: core/v1 Events with a `source` (podcheck's quick
//! profile), or events.k8s.io/v1 Events as kube-scheduler writes them through client-go's
//! tools/events (`reportingController` = the profile's schedulerName, `reportingInstance` =
//! it and the host's name, an `action`, no `source`), with kube-rs's recorder, which writes
//! the same shape.

use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder as EventsRecorder, Reporter};

use super::DEFAULT_SCHEDULER;
use podcheck_node::events::Recorder as CoreRecorder;

/// What kube-scheduler calls the step an event reports (`Eventf(…, reason, action, …)` in
/// pkg/scheduler/schedule_one.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Binding,
    Scheduling,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Binding => "Binding",
            Action::Scheduling => "Scheduling",
        }
    }
}

/// The scheduler's event recorder.
pub enum SchedulerEvents {
    Core(CoreRecorder),
    EventsApi(Box<EventsRecorder>),
}

impl SchedulerEvents {
    /// core/v1 Events, or (`events_api`) events.k8s.io/v1 ones.
    pub fn new(client: kube::Client, events_api: bool) -> Self {
        if events_api {
            let reporter = Reporter {
                controller: DEFAULT_SCHEDULER.into(),
                instance: Some(reporting_instance(&host_name())),
            };
            SchedulerEvents::EventsApi(Box::new(EventsRecorder::new(client, reporter)))
        } else {
            SchedulerEvents::Core(CoreRecorder::new(client, DEFAULT_SCHEDULER, None))
        }
    }

    /// Records an event about a pod; a failure is logged, never returned.
    pub async fn pod_event(
        &self,
        pod: &Pod,
        warning: bool,
        reason: &str,
        action: Action,
        message: &str,
    ) {
        match self {
            SchedulerEvents::Core(recorder) => {
                recorder
                    .pod_event(pod, warning, reason, message, None)
                    .await
            }
            SchedulerEvents::EventsApi(recorder) => {
                let event = Event {
                    type_: if warning {
                        EventType::Warning
                    } else {
                        EventType::Normal
                    },
                    reason: reason.into(),
                    note: Some(message.into()),
                    action: action.as_str().into(),
                    secondary: None,
                };
                if let Err(e) = recorder.publish(&event, &pod.object_ref(&())).await {
                    tracing::debug!(reason, error = %e, "could not record event");
                }
            }
        }
    }
}

/// client-go's `reportingController + "-" + hostname` (tools/events `NewRecorder`).
fn reporting_instance(host: &str) -> String {
    format!("{DEFAULT_SCHEDULER}-{host}")
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_names_the_scheduler_and_its_host() {
        assert_eq!(
            reporting_instance("kind-control-plane"),
            "default-scheduler-kind-control-plane"
        );
        assert!(!host_name().is_empty());
        assert_eq!(Action::Binding.as_str(), "Binding");
        assert_eq!(Action::Scheduling.as_str(), "Scheduling");
    }
}
