//! The seed's walk-through with two generations of kubectl against `podcheck up`: the
//! machine's `kubectl` (its dispatcher runs kubectl 1.33 for a 1.33 server; exec over
//! WebSocket) and kubectl 1.27 (aggregated discovery v2beta1, exec over SPDY/3.1).
//!
//! kubectl 1.27 is `/usr/lib/google-cloud-sdk/bin/kubectl.1.27`; without it the test fails,
//! unless `PODCHECK_SKIP_REAL=1` (then it is skipped, saying why).

mod support;

use std::path::Path;
use support::Up;

const KUBECTL_1_27: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

/// What the simulated runtime answers to `cat /etc/resolv.conf` in a pod of `default`.
const RESOLV_CONF: &str = "search default.svc.cluster.local svc.cluster.local cluster.local\n\
                           nameserver 10.96.0.10\n\
                           options ndots:5\n";

/// The cell of `header` in the row that starts with `row_starts`.
fn column(table: &str, row_starts: &str, header: &str) -> String {
    let mut lines = table.lines();
    let head = lines.next().unwrap();
    let at = head
        .find(header)
        .unwrap_or_else(|| panic!("no column {header} in {head}"));
    let row = lines
        .find(|l| l.starts_with(row_starts))
        .unwrap_or_else(|| panic!("no row {row_starts} in\n{table}"));
    row[at..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// The value after `field:` on the first line of `describe` output that starts with it.
fn described<'a>(describe: &'a str, field: &str) -> &'a str {
    describe
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field}: in\n{describe}"))
        .trim()
}

/// run, get -o wide, describe, apply twice, exec and delete, with one kubectl.
fn walk_through(up: &Up, minor: &str) {
    let version: serde_json::Value =
        serde_json::from_str(&up.ok(&["version", "-o", "json"])).unwrap();
    assert_eq!(
        version["clientVersion"]["minor"],
        minor,
        "{} is not kubectl 1.{minor}: {version}",
        up.kubectl_binary()
    );
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.33.0-podcheck");

    let run = up.ok(&[
        "run",
        "busybox",
        "--image",
        "busybox",
        "--image-pull-policy",
        "IfNotPresent",
        "--",
        "sleep",
        "3600",
    ]);
    assert_eq!(run.trim(), "pod/busybox created");

    let wide = up.until(&["get", "pods", "-o", "wide"], |t| {
        t.lines()
            .any(|l| l.starts_with("busybox ") && l.contains("Running"))
    });
    let head = wide.lines().next().unwrap();
    for header in [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ] {
        assert!(head.contains(header), "no {header} column in\n{wide}");
    }
    assert_eq!(column(&wide, "busybox", "READY"), "1/1", "{wide}");
    assert_eq!(column(&wide, "busybox", "STATUS"), "Running", "{wide}");
    assert_eq!(column(&wide, "busybox", "RESTARTS"), "0", "{wide}");
    assert_eq!(column(&wide, "busybox", "NODE"), "node-1", "{wide}");
    let ip = column(&wide, "busybox", "IP");
    let cidr = up.ok(&["get", "node", "node-1", "-o", "jsonpath={.spec.podCIDR}"]);
    assert!(
        ip.starts_with(cidr.trim_end_matches("0/24")),
        "pod IP {ip} lies outside node-1's podCIDR {cidr}:\n{wide}"
    );

    let describe = up.until(&["describe", "pod", "busybox"], |t| {
        t.contains("Started container busybox")
    });
    assert_eq!(described(&describe, "Name"), "busybox", "{describe}");
    assert_eq!(described(&describe, "Namespace"), "default", "{describe}");
    assert!(
        described(&describe, "Node").starts_with("node-1/"),
        "{describe}"
    );
    assert_eq!(described(&describe, "Status"), "Running", "{describe}");
    assert_eq!(described(&describe, "IP"), ip, "{describe}");
    assert_eq!(described(&describe, "Labels"), "run=busybox", "{describe}");
    for needle in [
        "    Image:         busybox",
        "    State:          Running",
        "    Ready:          True",
        "      sleep\n      3600",
        "Successfully assigned default/busybox to node-1",
    ] {
        assert!(
            describe.contains(needle),
            "`{needle}` missing from\n{describe}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let manifest = |image: &str| {
        let path = dir.path().join(format!("{}.yaml", image.replace(':', "_")));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: applied\nspec:\n  containers:\n  \
                 - name: c\n    image: \"{image}\"\n    imagePullPolicy: IfNotPresent\n    \
                 args: [sleep, \"3600\"]\n"
            ),
        )
        .unwrap();
        path.to_string_lossy().to_string()
    };
    let first = manifest("busybox");
    assert_eq!(
        up.ok(&["apply", "-f", &first]).trim(),
        "pod/applied created"
    );
    let newer = manifest("busybox:1.36");
    assert_eq!(
        up.ok(&["apply", "-f", &newer]).trim(),
        "pod/applied configured"
    );
    let image = up.ok(&[
        "get",
        "pod",
        "applied",
        "-o",
        "jsonpath={.spec.containers[0].image}",
    ]);
    assert_eq!(image, "busybox:1.36");
    let last_applied = up.ok(&[
        "get",
        "pod",
        "applied",
        "-o",
        "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
    ]);
    assert!(
        last_applied.contains("\"image\":\"busybox:1.36\""),
        "{last_applied}"
    );
    assert_eq!(
        up.ok(&["apply", "-f", &newer]).trim(),
        "pod/applied unchanged"
    );

    let resolv = up.ok(&["exec", "busybox", "--", "cat", "/etc/resolv.conf"]);
    assert_eq!(resolv, RESOLV_CONF);
    // A command the runtime cannot run fails the exec, with the runtime's words.
    let refused = up.kubectl(&["exec", "busybox", "--", "ls"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("cannot run \"ls\""), "{err}");

    for pod in ["busybox", "applied"] {
        assert_eq!(
            up.ok(&["delete", "pod", pod]).trim(),
            format!("pod \"{pod}\" deleted")
        );
        let gone = up.kubectl(&["get", "pod", pod]);
        assert!(!gone.status.success());
        let err = String::from_utf8_lossy(&gone.stderr);
        assert!(
            err.contains(&format!("(NotFound): pods \"{pod}\" not found")),
            "{err}"
        );
    }
    assert!(
        up.ok(&["get", "pods"]).is_empty(),
        "pods are left after the deletes"
    );
}

#[test]
fn the_machines_kubectl_walks_through_a_pods_life() {
    let up = Up::start(&["--runtime", "sim", "--store", "memory"]).with_kubectl("kubectl");
    walk_through(&up, "33");
}

#[test]
fn kubectl_1_27_walks_through_a_pods_life() {
    if !Path::new(KUBECTL_1_27).is_file() {
        assert!(
            std::env::var("PODCHECK_SKIP_REAL").as_deref() == Ok("1"),
            "{KUBECTL_1_27} is missing (it is part of this machine's image); set \
             PODCHECK_SKIP_REAL=1 to skip tests on real components"
        );
        eprintln!("PODCHECK_SKIP_REAL=1 and no {KUBECTL_1_27}: skipping");
        return;
    }
    let up = Up::start(&["--runtime", "sim", "--store", "memory"]).with_kubectl(KUBECTL_1_27);
    walk_through(&up, "27");
}
