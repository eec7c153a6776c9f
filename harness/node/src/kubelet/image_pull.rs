//! The kubelet's image manager: the pull policy, the events kubectl users know, and the
//! back-off after a failed pull (`ErrImagePull`, then `ImagePullBackOff` until the back-off
//! ends and the next sync pulls again), as `pkg/kubelet/images/image_manager.go` does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};

use super::NodeContext;

/// The first back-off after a failed pull (the kubelet's `backOffPeriod`).
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// The longest (`MaxContainerBackOff`).
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Why a container cannot start for its image: the waiting reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullFailure {
    pub reason: &'static str,
    pub message: String,
}

/// Whether a container waiting for this reason waits for its image (and a later sync may
/// pull it).
pub fn waits_for_image(reason: &str) -> bool {
    matches!(reason, "ErrImagePull" | "ImagePullBackOff")
}

/// The back-off of each image of one pod: after each failure twice as long, up to
/// [`BACKOFF_MAX`] (client-go's `flowcontrol.Backoff`, keyed by pod and image).
#[derive(Debug, Default)]
pub struct PullBackOff {
    entries: HashMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    failed_at: Instant,
    period: Duration,
    /// The failed pull's message, which the back-off's waiting message carries on.
    message: String,
    /// Whether the back-off's events were recorded (once per back-off, not every sync).
    announced: bool,
}

impl PullBackOff {
    /// Whether a pull of `image` at `now` must wait: the failure it waits on, and whether
    /// this is the first sync to see this back-off.
    pub fn waiting(&mut self, image: &str, now: Instant) -> Option<(String, bool)> {
        let e = self.entries.get_mut(image)?;
        if now.saturating_duration_since(e.failed_at) >= e.period {
            return None;
        }
        let first = !e.announced;
        e.announced = true;
        Some((e.message.clone(), first))
    }

    /// Records a failed pull at `now`; returns the back-off it starts.
    pub fn failed(&mut self, image: &str, now: Instant, message: &str) -> Duration {
        let period = match self.entries.get(image) {
            Some(e) => (e.period * 2).min(BACKOFF_MAX),
            None => BACKOFF_INITIAL,
        };
        self.entries.insert(
            image.to_owned(),
            Entry {
                failed_at: now,
                period,
                message: message.to_owned(),
                announced: false,
            },
        );
        period
    }

    /// A pull succeeded: the next failure starts from the first back-off again.
    pub fn succeeded(&mut self, image: &str) {
        self.entries.remove(image);
    }
}

/// Makes sure the container's image is on the node, as its pull policy says; returns the
/// image's id (the container status' `imageID`) or why the container waits.
pub(super) async fn ensure_image(
    ctx: &NodeContext,
    pod: &Pod,
    container: &Container,
    field: &str,
    backoff: &mut PullBackOff,
) -> Result<String, PullFailure> {
    let image = container.image.clone().unwrap_or_default();
    let policy = container
        .image_pull_policy
        .as_deref()
        .unwrap_or("IfNotPresent");
    let present = ctx.runtime.image_present(&image).await.unwrap_or(false);
    let event = |warning, reason: &'static str, message: String| async move {
        ctx.recorder
            .pod_event(pod, warning, reason, &message, Some(field))
            .await
    };
    if policy == "Never" && !present {
        let message =
            format!("Container image \"{image}\" is not present with pull policy of Never");
        event(true, "ErrImageNeverPull", message.clone()).await;
        return Err(PullFailure {
            reason: "ErrImageNeverPull",
            message,
        });
    }
    if policy != "Always" && present {
        event(
            false,
            "Pulled",
            format!("Container image \"{image}\" already present on machine"),
        )
        .await;
        return ctx.runtime.image_id(&image).await.map_err(|e| PullFailure {
            reason: "ErrImagePull",
            message: e.to_string(),
        });
    }
    if let Some((previous, first)) = backoff.waiting(&image, Instant::now()) {
        let message = format!("Back-off pulling image \"{image}\": ErrImagePull: {previous}");
        if first {
            event(
                false,
                "BackOff",
                format!("Back-off pulling image \"{image}\""),
            )
            .await;
            event(true, "Failed", "Error: ImagePullBackOff".into()).await;
        }
        return Err(PullFailure {
            reason: "ImagePullBackOff",
            message,
        });
    }
    event(false, "Pulling", format!("Pulling image \"{image}\"")).await;
    let began = Instant::now();
    match ctx.runtime.pull_image(&image).await {
        Ok(id) => {
            backoff.succeeded(&image);
            let took = began.elapsed().as_secs_f64();
            event(
                false,
                "Pulled",
                format!(
                    "Successfully pulled image \"{image}\" in {took:.3}s ({took:.3}s including waiting)"
                ),
            )
            .await;
            Ok(id)
        }
        Err(e) => {
            let message = e.to_string();
            backoff.failed(&image, Instant::now(), &message);
            event(
                true,
                "Failed",
                format!("Failed to pull image \"{image}\": {message}"),
            )
            .await;
            event(true, "Failed", "Error: ErrImagePull".into()).await;
            Err(PullFailure {
                reason: "ErrImagePull",
                message,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_the_max_and_resets_on_success() {
        let mut b = PullBackOff::default();
        let t0 = Instant::now();
        assert_eq!(b.waiting("x", t0), None);
        assert_eq!(b.failed("x", t0, "not found"), Duration::from_secs(10));
        let later = t0 + Duration::from_secs(9);
        assert_eq!(b.waiting("x", later), Some(("not found".into(), true)));
        assert_eq!(b.waiting("x", later), Some(("not found".into(), false)));
        assert_eq!(b.waiting("x", t0 + Duration::from_secs(10)), None);
        assert_eq!(b.waiting("y", t0), None, "per image");
        let mut periods = Vec::new();
        for _ in 0..6 {
            periods.push(b.failed("x", t0, "again").as_secs());
        }
        assert_eq!(periods, [20, 40, 80, 160, 300, 300]);
        b.succeeded("x");
        assert_eq!(b.failed("x", t0, "once more"), Duration::from_secs(10));
    }
}
