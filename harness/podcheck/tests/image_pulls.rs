//! The seed's command as typed: `kubectl run busybox --image busybox` pulls from the
//! registry inside podcheck and runs, on real containerd; unknown images fail as on a real
//! cluster, on both runtimes; the user's own image archives run. The real tests fail where
//! the components are missing (`.ci/run` installs them), unless `PODCHECK_SKIP_REAL=1`.

mod support;
#[path = "support/tiny_elf.rs"]
mod tiny_elf;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Up, podcheck, real_or_skip, text};

/// The pod's events: (reason, message, reporting component), oldest first.
fn events_of(up: &Up, pod: &str) -> Vec<(String, String, String)> {
    let list: Value = serde_json::from_str(&up.ok(&["get", "events", "-o", "json"])).unwrap();
    let mut events: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == pod)
        .collect();
    events.sort_by_key(|e| e["eventTime"].as_str().unwrap_or_default().to_string());
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    events
        .into_iter()
        .map(|e| {
            (
                s(&e["reason"]),
                s(&e["message"]),
                s(&e["source"]["component"]),
            )
        })
        .collect()
}

fn jsonpath(up: &Up, pod: &str, path: &str) -> String {
    up.ok(&["get", "pod", pod, "-o", &format!("jsonpath={path}")])
}

/// The manifest digest `podcheck images` lists for a reference.
fn listed_digest(listing: &str, reference: &str) -> String {
    listing
        .lines()
        .find_map(|l| {
            let mut cols = l.split_whitespace();
            (cols.next() == Some(reference)).then(|| cols.next().unwrap().to_string())
        })
        .unwrap_or_else(|| panic!("{reference} is not listed:\n{listing}"))
}

fn images_listing(args: &[&str]) -> String {
    let out = podcheck().arg("images").args(args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_seeds_command_as_typed_runs_after_a_real_pull() {
    if !real_or_skip() {
        return;
    }
    let listing = images_listing(&[]);
    let digest = listed_digest(&listing, "docker.io/library/busybox:latest");
    let version_tag = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .find(|r| {
            r.strip_prefix("docker.io/library/busybox:")
                .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_digit()))
        })
        .expect("busybox is also tagged with the host busybox's version")
        .to_string();
    let up = Up::start(&["--runtime", "containerd"]);
    let began = Instant::now();
    up.ok(&["run", "busybox", "--image", "busybox"]);
    up.until(
        &["get", "pod", "busybox", "-o", "jsonpath={.status.phase}"],
        |t| t == "Running",
    );
    let took = began.elapsed();
    assert!(took < Duration::from_secs(5), "Running after {took:?}");
    let wide = up.ok(&["get", "pods", "-o", "wide"]);
    assert!(
        wide.contains("node-1") && wide.contains("10.244."),
        "{wide}"
    );
    let events = events_of(&up, "busybox");
    let pulled = |events: &[(String, String, String)]| {
        events.iter().any(|(r, m, c)| {
            r == "Pulled" && m.starts_with("Successfully pulled image") && c == "kubelet"
        })
    };
    assert!(
        events
            .iter()
            .any(|(r, m, c)| r == "Pulling" && m == "Pulling image \"busybox\"" && c == "kubelet"),
        "{events:?}"
    );
    assert!(pulled(&events), "{events:?}");
    assert_eq!(
        jsonpath(&up, "busybox", "{.status.containerStatuses[0].imageID}"),
        format!("docker.io/library/busybox@{digest}"),
        "the image the registry served is the one that runs"
    );

    // `Always` pulls every time, under each name busybox has.
    for (pod, image) in [
        ("always-1", "busybox:latest"),
        ("always-2", "busybox:latest"),
        ("full-name", "docker.io/library/busybox"),
        ("library", "library/busybox"),
        ("versioned", version_tag.as_str()),
    ] {
        up.ok(&[
            "run",
            pod,
            "--image",
            image,
            "--image-pull-policy=Always",
            "--",
            "sleep",
            "3600",
        ]);
        up.until(
            &["get", "pod", pod, "-o", "jsonpath={.status.phase}"],
            |t| t == "Running",
        );
        let events = events_of(&up, pod);
        assert!(pulled(&events), "{pod} ({image}) was pulled: {events:?}");
        assert_eq!(
            jsonpath(&up, pod, "{.status.containerStatuses[0].imageID}"),
            format!("docker.io/library/busybox@{digest}")
        );
    }
}

/// `kubectl run x --image nosuch:1.0`: ErrImagePull, then ImagePullBackOff, in
/// containerd's words, whichever the runtime.
fn an_unknown_image_backs_off(runtime: &str) {
    let up = Up::start(&["--runtime", runtime]);
    up.ok(&["run", "x", "--image", "nosuch:1.0"]);
    let reason = up.until(
        &[
            "get",
            "pod",
            "x",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ],
        |t| t == "ImagePullBackOff",
    );
    assert_eq!(reason, "ImagePullBackOff");
    let message = jsonpath(
        &up,
        "x",
        "{.status.containerStatuses[0].state.waiting.message}",
    );
    let words = "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nosuch:1.0\": failed to resolve reference \"docker.io/library/nosuch:1.0\": docker.io/library/nosuch:1.0: not found";
    assert_eq!(
        message,
        format!("Back-off pulling image \"nosuch:1.0\": ErrImagePull: {words}")
    );
    let events = events_of(&up, "x");
    let reasons: Vec<(&str, &str)> = events
        .iter()
        .map(|(r, m, _)| (r.as_str(), m.as_str()))
        .collect();
    let failed = format!("Failed to pull image \"nosuch:1.0\": {words}");
    for want in [
        ("Pulling", "Pulling image \"nosuch:1.0\""),
        ("Failed", failed.as_str()),
        ("Failed", "Error: ErrImagePull"),
        ("BackOff", "Back-off pulling image \"nosuch:1.0\""),
        ("Failed", "Error: ImagePullBackOff"),
    ] {
        assert!(reasons.contains(&want), "{want:?} in {reasons:?}");
    }
    let phase = jsonpath(&up, "x", "{.status.phase}");
    assert_eq!(phase, "Pending");
}

#[test]
fn an_unknown_image_backs_off_on_the_real_runtime() {
    if !real_or_skip() {
        return;
    }
    an_unknown_image_backs_off("containerd");
}

#[test]
fn an_unknown_image_backs_off_on_the_simulated_runtime_alike() {
    an_unknown_image_backs_off("sim");
}

#[test]
fn an_image_archive_made_here_runs_as_a_pod() {
    if !real_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("hello");
    std::fs::write(&program, tiny_elf::hello(b"hello from a tiny image\n")).unwrap();
    let recipe = podcheck_node::images::parse_recipe(&format!(
        "reference: ghcr.io/podcheck-test/hello:1\nconfig:\n  entrypoint: [/hello]\nlayer:\n  files:\n    - {{path: /hello, source: {}, mode: \"0755\", requireStatic: true}}\n",
        program.display()
    ))
    .unwrap();
    let archive = dir.path().join("hello.tar");
    let built = podcheck_node::images::build(&recipe, &archive).unwrap();
    let shown = archive.display().to_string();

    let listing = images_listing(&["--image-archive", &shown]);
    assert_eq!(
        listed_digest(&listing, "ghcr.io/podcheck-test/hello:1"),
        built.manifest_digest
    );
    assert!(listing.contains(&shown), "its source is listed: {listing}");

    let up = Up::start(&["--runtime", "containerd", "--image-archive", &shown]);
    up.ok(&[
        "run",
        "hello",
        "--image",
        "ghcr.io/podcheck-test/hello:1",
        "--restart=Never",
    ]);
    up.until(
        &["get", "pod", "hello", "-o", "jsonpath={.status.phase}"],
        |t| t == "Succeeded",
    );
    assert_eq!(up.ok(&["logs", "hello"]), "hello from a tiny image\n");
    assert_eq!(
        jsonpath(&up, "hello", "{.status.containerStatuses[0].imageID}"),
        format!("ghcr.io/podcheck-test/hello@{}", built.manifest_digest)
    );
}

#[test]
fn an_archive_that_is_not_one_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.tar");
    std::fs::write(
        &bogus,
        b"this is not a tar archive, nor anything else an image could be",
    )
    .unwrap();
    let out = podcheck()
        .args(["up", "--runtime", "sim", "--image-archive"])
        .arg(&bogus)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bogus.tar"), "{err}");
    let out = podcheck()
        .args(["images", "--image-archive"])
        .arg(dir.path().join("missing.tar"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn a_suites_image_archive_that_is_not_one_is_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bogus.tar"), b"not an archive").unwrap();
    let suite = dir.path().join("suite.yaml");
    std::fs::write(
        &suite,
        "apiVersion: podcheck.dev/v1alpha1\nkind: Suite\nmetadata: {name: mine}\nspec:\n  images: [bogus.tar]\n  cases:\n    - name: c\n      pod: {spec: {containers: [{name: c, image: busybox}]}}\n",
    )
    .unwrap();
    let out = podcheck().arg("validate").arg(&suite).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("suite.yaml:5:12:"), "{err}");
    assert!(err.contains("bogus.tar"), "{err}");
}
