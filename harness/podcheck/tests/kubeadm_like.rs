//! `podcheck up --like kubeadm` as a kind user meets it, through the machine's kubectl:
//! the facts it prints, events without a source, anonymous requests refused with 403, the
//! first sandbox and pull failing then the pod running, grace periods that take their time,
//! kubeadm's ConfigMaps, `/metrics`, and usage errors for what it cannot do.

mod support;

use support::{Up, real_or_skip, text, workspace};

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `podcheck up ARGS` until it prints the kubeconfig to export: everything it printed before.
fn printed_by_up(args: &[&str]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .arg("up")
        .args(args)
        .current_dir(workspace())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.starts_with("export KUBECONFIG=");
            lines.push(line);
            if done {
                let _ = tx.send(lines.clone());
            }
        }
    });
    let lines = rx.recv_timeout(Duration::from_secs(60));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    lines.expect("podcheck up printed its kubeconfig")
}

#[test]
fn up_prints_the_cluster_facts_it_serves() {
    let lines = printed_by_up(&[
        "--runtime",
        "sim",
        "--like",
        "kubeadm",
        "--service-cidr",
        "10.100.0.0/16",
        "--cluster-domain",
        "corp.example",
        "--pod-ipam",
        "pool:192.168.0.0/16",
    ]);
    let cluster = lines
        .iter()
        .find(|l| l.starts_with("cluster: "))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(
        cluster,
        "cluster: like kubeadm; service CIDR 10.100.0.0/16 (kubernetes 10.100.0.1, kube-dns 10.100.0.10); \
         cluster domain corp.example; pod IPs from pool 192.168.0.0/16 (/26 blocks per node); \
         names outside the cluster: refused"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("dns: ") && l.contains("zone corp.example;")),
        "{lines:#?}"
    );
    let quick = printed_by_up(&["--runtime", "sim"]);
    assert!(
        quick.iter().any(|l| l
            == "cluster: like podcheck; service CIDR 10.96.0.0/16 (kubernetes 10.96.0.1, kube-dns 10.96.0.10); \
                cluster domain cluster.local; pod IPs from node podCIDR; names outside the cluster: refused"),
        "{quick:#?}"
    );
}

#[test]
fn what_up_cannot_do_is_a_usage_error() {
    for (args, complaint) in [
        (
            &["--dns-upstream", "192.0.2.53:53"][..],
            "not a loopback address",
        ),
        (&["--service-cidr", "10.96.0.0/29"][..], "too small"),
        (
            &["--pod-ipam", "calico"][..],
            "neither `node` nor `pool:CIDR`",
        ),
        (
            &["--cluster-domain", "Not_A_Domain"][..],
            "is not a DNS name",
        ),
        (&["--like", "kind"][..], "invalid value 'kind'"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_podcheck"))
            .arg("up")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(complaint),
            "{args:?}: {}",
            text(&out)
        );
    }
    // A real runtime cannot take pod IPs from a pool: refused before anything starts.
    let out = Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .args([
            "up",
            "--runtime",
            "containerd",
            "--pod-ipam",
            "pool:192.168.0.0/16",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("need the simulated runtime"),
        "{}",
        text(&out)
    );
}

/// What the apiserver of `up` answers a request without credentials: its status code and
/// message. (kubectl cannot send one: without a user it asks for a username.)
fn anonymous_request(up: &Up, path: &str) -> (u16, String) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let text = std::fs::read_to_string(&up.kubeconfig).unwrap();
        let mut kc = kube::config::Kubeconfig::from_yaml(&text).unwrap();
        kc.auth_infos[0].auth_info = Some(kube::config::AuthInfo::default());
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let req = http::Request::get(path).body(Vec::new()).unwrap();
        match client.request_text(req).await {
            Ok(body) => (200, body),
            Err(kube::Error::Api(s)) => (s.code, s.message),
            Err(e) => panic!("{path}: {e}"),
        }
    })
}

#[test]
fn a_kind_user_sees_what_kubeadm_clusters_do() {
    let up = Up::start(&["--runtime", "sim", "--like", "kubeadm"]);
    up.ok(&["run", "x", "--image", "busybox"]);
    // The node is "not ready yet": the sandbox fails first, then the pull; both retried.
    up.until(&["get", "pod", "x"], |t| t.contains("Running"));
    let events = up.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=x",
        "-o",
        "json",
    ]);
    let events: serde_json::Value = serde_json::from_str(&events).unwrap();
    let by_reason = |reason: &str| {
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["reason"] == reason)
            .cloned()
            .collect::<Vec<_>>()
    };
    let scheduled = &by_reason("Scheduled")[0];
    assert_eq!(scheduled["source"], serde_json::json!({}), "{scheduled}");
    assert_eq!(scheduled["reportingComponent"], "default-scheduler");
    let sandbox = &by_reason("FailedCreatePodSandBox")[0];
    assert!(
        sandbox["message"]
            .as_str()
            .unwrap()
            .starts_with("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox"),
        "{sandbox}"
    );
    assert!(
        by_reason("Failed")
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("toomanyrequests")),
        "{events}"
    );
    let describe = up.ok(&["describe", "pod", "x"]);
    let scheduled_line = describe
        .lines()
        .find(|l| l.contains("Successfully assigned default/x to node-1"))
        .unwrap_or_else(|| panic!("{describe}"));
    assert!(
        scheduled_line.contains("default-scheduler"),
        "From: the reporting controller, the source being empty: {scheduled_line}"
    );
    let v1 = up.ok(&[
        "get",
        "events.events.k8s.io",
        "--field-selector",
        "regarding.name=x,reason=Scheduled",
        "-o",
        "jsonpath={.items[0].reportingController}",
    ]);
    assert_eq!(v1, "default-scheduler");

    // Without credentials: system:anonymous, refused by RBAC (discovery too).
    assert_eq!(
        anonymous_request(&up, "/api/v1/namespaces/default/pods"),
        (
            403,
            "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"".into()
        )
    );
    assert_eq!(
        anonymous_request(&up, "/apis"),
        (
            403,
            "forbidden: User \"system:anonymous\" cannot get path \"/apis\"".into()
        )
    );
    assert_eq!(anonymous_request(&up, "/healthz"), (200, "ok".into()));

    let config = up.ok(&[
        "-n",
        "kube-system",
        "get",
        "configmap",
        "kubeadm-config",
        "-o",
        "jsonpath={.data.ClusterConfiguration}",
    ]);
    assert!(config.contains("serviceSubnet: 10.96.0.0/16"), "{config}");
    assert!(config.contains("dnsDomain: cluster.local"), "{config}");
    let metrics = up.ok(&["get", "--raw", "/metrics"]);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("apiserver_request_total{")
                && l.contains("resource=\"pods\"")
                && l.contains("verb=\"POST\"")),
        "{metrics}"
    );

    // Grace periods take their time: 1 s asked, about 1 s; the default 30 s, longer than a
    // moment (the pod is still Terminating after 3 s; Ctrl-C does not wait for it).
    let began = Instant::now();
    up.ok(&["delete", "pod", "x", "--grace-period=1"]);
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "kubectl delete --grace-period=1 took {took:?}"
    );
    up.ok(&["run", "y", "--image", "busybox"]);
    up.until(&["get", "pod", "y"], |t| t.contains("Running"));
    up.ok(&["delete", "pod", "y", "--wait=false"]);
    std::thread::sleep(Duration::from_secs(3));
    let still = up.ok(&["get", "pod", "y"]);
    assert!(still.contains("Terminating"), "{still}");
}

#[test]
fn on_the_real_runtime_pods_search_the_hosts_domains_and_deletes_take_their_grace() {
    if !real_or_skip() {
        return;
    }
    let up = Up::start(&["--runtime", "containerd", "--like", "kubeadm"]);
    up.ok(&["run", "x", "--image", "busybox", "--", "sleep", "3600"]);
    up.until(&["get", "pod", "x"], |t| t.contains("Running"));
    let resolv = up.ok(&["exec", "x", "--", "cat", "/etc/resolv.conf"]);
    let host = podcheck_core::resolv::ResolvConf::parse(
        &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    );
    let mut search = vec![
        "default.svc.cluster.local".to_string(),
        "svc.cluster.local".into(),
        "cluster.local".into(),
    ];
    for s in host.search {
        let s = s.trim_end_matches('.').to_string();
        if !search.contains(&s) {
            search.push(s);
        }
    }
    assert!(
        resolv
            .lines()
            .any(|l| l == format!("search {}", search.join(" "))),
        "{resolv}"
    );
    assert!(resolv.contains("nameserver 10.96.0.10"), "{resolv}");
    let events = up.ok(&["get", "events", "--field-selector", "involvedObject.name=x"]);
    assert!(events.contains("FailedCreatePodSandBox"), "{events}");
    let began = Instant::now();
    up.ok(&["delete", "pod", "x", "--grace-period=1"]);
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "sleep as PID 1 waited out --grace-period=1 in {took:?}"
    );
}

/// `podcheck run suites/pod-lifecycle --kubeconfig` against `up`, its cases that run a pod:
/// its results.json. A pod runs first, as on a cluster whose nodes are ready: the node's
/// first sandbox and pull fail here (`unknown-image-backs-off` would take the 429 for its
/// pull failure, and the retries would eat the cases' deadlines).
fn run_against(up: &Up) -> serde_json::Value {
    up.ok(&[
        "run", "warm-up", "--image", "busybox", "--", "sleep", "3600",
    ]);
    up.until(&["get", "pod", "warm-up"], |t| t.contains("Running"));
    let reports = tempfile::tempdir().unwrap();
    let out = support::podcheck()
        .args(["run", "suites/pod-lifecycle", "--snapshot", "ignore"])
        .args(["--case", "busybox-runs", "--case", "service-resolves"])
        .arg("--kubeconfig")
        .arg(&up.kubeconfig)
        .arg("--report-dir")
        .arg(reports.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_str(&std::fs::read_to_string(reports.path().join("results.json")).unwrap())
        .unwrap()
}

/// A case's stage from results.json.
fn stage_of(results: &serde_json::Value, case: &str, stage: &str) -> serde_json::Value {
    results["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == case)
        .and_then(|c| {
            c["stages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["stage"] == stage)
        })
        .unwrap_or_else(|| panic!("no {case}/{stage} in {results}"))
        .clone()
}

/// The evidence of a stage in words, one per line.
fn evidence(stage: &serde_json::Value) -> Vec<String> {
    stage["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}: {}", e["source"], e["provider"], e["detail"]))
        .collect()
}

/// Calico on kubeadm: `kubeadm init --pod-network-cidr` is the IPPool, kube-controller-manager
/// carves the podCIDRs from it, and Calico's IPAM hands out pod IPs from blocks of the pool
/// outside them. The observer holds the pod IP to the declared pod network, and without a
/// pool to the node's podCIDR.
#[test]
fn pod_ips_from_a_pool_pass_cni_attach_as_on_calico() {
    let up = Up::start(&[
        "--runtime",
        "sim",
        "--like",
        "kubeadm",
        "--pod-ipam",
        "pool:192.168.0.0/16",
    ]);
    let config = up.ok(&[
        "-n",
        "kube-system",
        "get",
        "configmap",
        "kubeadm-config",
        "-o",
        "jsonpath={.data.ClusterConfiguration}",
    ]);
    assert!(config.contains("podSubnet: 192.168.0.0/16"), "{config}");
    let cidrs = up.ok(&["get", "nodes", "-o", "jsonpath={.items[*].spec.podCIDR}"]);
    assert_eq!(cidrs, "192.168.0.0/24");
    let r = run_against(&up);
    for case in ["busybox-runs", "service-resolves"] {
        let cni = stage_of(&r, case, "cniAttach");
        assert_eq!(cni["status"], "passed", "{cni}");
        let said = evidence(&cni).join("\n");
        assert!(
            said.contains("lies outside node-")
                && said.contains(
                    "but in the pod network 192.168.0.0/16 (kube-system/kubeadm-config podSubnet)"
                ),
            "{said}"
        );
    }
    drop(up);

    let up = Up::start(&["--runtime", "sim", "--like", "kubeadm"]);
    let r = run_against(&up);
    let cni = stage_of(&r, "busybox-runs", "cniAttach");
    assert_eq!(cni["status"], "passed", "{cni}");
    let said = evidence(&cni).join("\n");
    assert!(
        said.contains("lies in node-1's podCIDR 10.244.0.0/24"),
        "{said}"
    );
}

/// Whether etcd and etcdctl are installed; fails the test otherwise, unless
/// `PODCHECK_SKIP_REAL=1`.
fn etcd_or_skip() -> bool {
    let missing: Vec<&str> = ["/usr/bin/etcd", "/usr/bin/etcdctl"]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).is_file())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert_eq!(
        std::env::var("PODCHECK_SKIP_REAL").as_deref(),
        Ok("1"),
        "{missing:?} missing (Debian: etcd-server, etcd-client, as .ci/run installs them), or set \
         PODCHECK_SKIP_REAL=1"
    );
    false
}

/// `create revision N, mod revision M; API resourceVersion R`: (N, R).
fn revisions(detail: &str) -> (String, String) {
    let after = |what: &str| {
        detail
            .split(what)
            .nth(1)
            .unwrap_or_else(|| panic!("no {what:?} in {detail}"))
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    };
    (after("create revision "), after("API resourceVersion "))
}

/// With the store on the etcd podcheck starts, kubeadm's etcd static pod is there, exec
/// into it runs the host's etcdctl, and the observer reads the pod's key with it: etcdWrite
/// and statusUpdate from the store itself.
#[test]
fn the_etcd_static_pod_gives_the_observer_the_store() {
    if !etcd_or_skip() {
        return;
    }
    let up = Up::start(&["--runtime", "sim", "--like", "kubeadm", "--store", "etcd"]);
    let pods = up.ok(&[
        "-n",
        "kube-system",
        "get",
        "pods",
        "-l",
        "component=etcd,tier=control-plane",
        "-o",
        "json",
    ]);
    let pods: serde_json::Value = serde_json::from_str(&pods).unwrap();
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{pods}");
    let pod = &items[0];
    assert_eq!(pod["metadata"]["name"], "etcd-node-1");
    assert!(
        pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string(),
        "{pod}"
    );
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Node");
    assert_eq!(pod["spec"]["hostNetwork"], true);
    assert_eq!(pod["spec"]["nodeName"], "node-1");
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(pod["status"]["podIP"], "127.0.1.1");
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["name"], "etcd");
    let image = container["image"].as_str().unwrap();
    assert!(
        image.starts_with("registry.k8s.io/etcd:3.") && image.ends_with("-0"),
        "{image}"
    );
    let command: Vec<String> = serde_json::from_value(container["command"].clone()).unwrap();
    assert_eq!(command[0], "etcd");
    let endpoint = command
        .iter()
        .find_map(|a| a.strip_prefix("--listen-client-urls="))
        .unwrap_or_else(|| panic!("{command:?}"))
        .to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert!(
        command.iter().any(|a| a.starts_with("--data-dir=/")),
        "{command:?}"
    );

    // Exec runs the host's etcdctl (ETCDCTL_API=3), and nothing else.
    let got = up.ok(&[
        "-n",
        "kube-system",
        "exec",
        "etcd-node-1",
        "--",
        "etcdctl",
        &format!("--endpoints={endpoint}"),
        "get",
        "/registry/namespaces/default",
        "-w",
        "json",
    ]);
    let got: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert!(
        got["kvs"][0]["create_revision"].as_i64().unwrap() > 0,
        "{got}"
    );
    let shell = up.kubectl(&[
        "-n",
        "kube-system",
        "exec",
        "etcd-node-1",
        "--",
        "sh",
        "-c",
        "id",
    ]);
    assert!(!shell.status.success());
    assert!(
        text(&shell).contains("\"sh\": executable file not found"),
        "{}",
        text(&shell)
    );
    // Deleted, the mirror pod is posted again, as a kubelet does for a static pod it runs.
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    up.ok(&["-n", "kube-system", "delete", "pod", "etcd-node-1"]);
    up.until(
        &[
            "-n",
            "kube-system",
            "get",
            "pod",
            "etcd-node-1",
            "-o",
            "jsonpath={.metadata.uid} {.status.phase}",
        ],
        |t| !t.starts_with(&uid) && t.ends_with(" Running"),
    );

    let r = run_against(&up);
    for case in ["busybox-runs", "service-resolves"] {
        let write = stage_of(&r, case, "etcdWrite");
        assert_eq!(write["status"], "passed", "{write}");
        let store = write["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["source"] == "store")
            .unwrap_or_else(|| panic!("no store evidence: {write}"));
        assert_eq!(store["real"], true);
        assert!(
            store["provider"]
                .as_str()
                .unwrap()
                .starts_with("etcd (etcdctl in kube-system/etcd-node-1) 3."),
            "{store}"
        );
        let (created, resource_version) = revisions(store["detail"].as_str().unwrap());
        assert!(!created.is_empty(), "the key is present: {store}");
        assert_eq!(created, resource_version, "{store}");
        let status = stage_of(&r, case, "statusUpdate");
        assert_eq!(status["status"], "passed", "{status}");
        let said = evidence(&status).join("\n");
        assert!(
            said.contains("\"store\" \"etcd (etcdctl in kube-system/etcd-node-1)")
                && said.contains("holds phase Running"),
            "{said}"
        );
    }
}

/// With the memory store there is no etcd pod, as on a managed cluster: the observer falls
/// back to a consistent API read and says it is weaker.
#[test]
fn without_etcd_the_observer_reads_the_api_and_says_so() {
    let up = Up::start(&["--runtime", "sim", "--like", "kubeadm", "--store", "memory"]);
    let etcd = up.ok(&[
        "-n",
        "kube-system",
        "get",
        "pods",
        "-l",
        "component=etcd",
        "-o",
        "name",
    ]);
    assert_eq!(etcd.trim(), "", "no etcd pod on the memory store");
    let r = run_against(&up);
    let write = stage_of(&r, "busybox-runs", "etcdWrite");
    assert_eq!(write["status"], "passed", "{write}");
    let said = evidence(&write).join("\n");
    assert!(
        said.contains("the cluster shows no etcd pod in kube-system")
            && said.contains("consistent read, weaker evidence than a store read"),
        "{said}"
    );
    let status = evidence(&stage_of(&r, "busybox-runs", "statusUpdate")).join("\n");
    assert!(
        status.contains("weaker evidence than a store read"),
        "{status}"
    );
}
