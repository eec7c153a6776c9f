//! The store of a kubeadm cluster (kind's included), read through the API: `etcdctl get`
//! run by `pods/exec` in the etcd static pod, with the endpoint and certificates of that
//! pod's own command line. Pure: the command to run and its answer.

use base64::Engine as _;

/// What `etcdctl get KEY -w json` said of the key.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdGet {
    /// The store's revision when it answered.
    pub revision: i64,
    /// None when the key is absent.
    pub create_revision: Option<i64>,
    pub mod_revision: Option<i64>,
    /// The stored bytes.
    pub value: Option<Vec<u8>>,
}

impl EtcdGet {
    /// The stored object as JSON, when it is stored as JSON (an apiserver with
    /// `--storage-media-type=application/json`, or podcheck's); kube-apiserver stores
    /// protobuf (`k8s\0…`) by default, which stays unread.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(self.value.as_deref()?).ok()
    }

    /// Whether the value is in Kubernetes' protobuf envelope.
    pub fn protobuf(&self) -> bool {
        self.value
            .as_deref()
            .is_some_and(|v| v.starts_with(b"k8s\0"))
    }
}

/// `etcdctl get KEY -w json` with the endpoint and TLS files the etcd pod serves with:
/// `--listen-client-urls` (its loopback URL first), `--cert-file`, `--key-file`,
/// `--trusted-ca-file`, as kubeadm writes them into the static pod.
pub fn get_command(etcd_command: &[String], key: &str) -> Result<Vec<String>, String> {
    let flag = |name: &str| {
        etcd_command
            .iter()
            .find_map(|a| a.strip_prefix(&format!("--{name}=")).map(str::to_string))
    };
    let urls = flag("listen-client-urls")
        .or_else(|| flag("advertise-client-urls"))
        .ok_or("the etcd pod's command names no --listen-client-urls")?;
    let urls: Vec<&str> = urls.split(',').map(str::trim).collect();
    let endpoint = urls
        .iter()
        .find(|u| u.contains("://127.0.0.1:") || u.contains("://localhost:"))
        .or(urls.first())
        .ok_or("the etcd pod's --listen-client-urls is empty")?;
    let mut command = vec!["etcdctl".to_string(), format!("--endpoints={endpoint}")];
    if endpoint.starts_with("https://") {
        let (Some(ca), Some(cert), Some(key_file)) =
            (flag("trusted-ca-file"), flag("cert-file"), flag("key-file"))
        else {
            return Err(
                "the etcd pod serves TLS but its command names no --trusted-ca-file, --cert-file and --key-file"
                    .into(),
            );
        };
        command.extend([
            format!("--cacert={ca}"),
            format!("--cert={cert}"),
            format!("--key={key_file}"),
        ]);
    }
    command.extend([
        "get".to_string(),
        key.to_string(),
        "-w".into(),
        "json".into(),
    ]);
    Ok(command)
}

/// Reads `etcdctl get -w json`'s answer.
pub fn parse_get(stdout: &str) -> Result<EtcdGet, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        header: Header,
        #[serde(default)]
        kvs: Vec<Kv>,
    }
    #[derive(serde::Deserialize)]
    struct Header {
        #[serde(default)]
        revision: i64,
    }
    #[derive(serde::Deserialize)]
    struct Kv {
        #[serde(default)]
        create_revision: i64,
        #[serde(default)]
        mod_revision: i64,
        #[serde(default)]
        value: String,
    }
    let answer: Answer =
        serde_json::from_str(stdout.trim()).map_err(|e| format!("etcdctl's answer: {e}"))?;
    let kv = answer.kvs.first();
    let value = match kv {
        Some(kv) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(&kv.value)
                .map_err(|e| format!("etcdctl's value: {e}"))?,
        ),
        None => None,
    };
    Ok(EtcdGet {
        revision: answer.header.revision,
        create_revision: kv.map(|k| k.create_revision),
        mod_revision: kv.map(|k| k.mod_revision),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// kind's etcd static pod (kubeadm), as `kubectl get pod -o yaml` shows its command.
    const KUBEADM_ETCD: &[&str] = &[
        "etcd",
        "--advertise-client-urls=https://172.18.0.2:2379",
        "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
        "--client-cert-auth=true",
        "--data-dir=/var/lib/etcd",
        "--key-file=/etc/kubernetes/pki/etcd/server.key",
        "--listen-client-urls=https://127.0.0.1:2379,https://172.18.0.2:2379",
        "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
    ];

    #[test]
    fn the_command_follows_the_pods_own_flags() {
        assert_eq!(
            get_command(&args(KUBEADM_ETCD), "/registry/pods/ns/web").unwrap(),
            [
                "etcdctl",
                "--endpoints=https://127.0.0.1:2379",
                "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
                "--cert=/etc/kubernetes/pki/etcd/server.crt",
                "--key=/etc/kubernetes/pki/etcd/server.key",
                "get",
                "/registry/pods/ns/web",
                "-w",
                "json",
            ]
        );
        let plain = args(&["etcd", "--listen-client-urls=http://127.0.0.1:40123"]);
        assert_eq!(
            get_command(&plain, "/k").unwrap(),
            [
                "etcdctl",
                "--endpoints=http://127.0.0.1:40123",
                "get",
                "/k",
                "-w",
                "json"
            ]
        );
        assert!(get_command(&args(&["etcd"]), "/k").is_err());
        let tls_without_files = args(&["etcd", "--listen-client-urls=https://127.0.0.1:2379"]);
        assert!(
            get_command(&tls_without_files, "/k")
                .unwrap_err()
                .contains("--trusted-ca-file")
        );
    }

    #[test]
    fn answers_with_and_without_the_key() {
        let found = r#"{"header":{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"revision":812,"raft_term":2},"kvs":[{"key":"L3JlZ2lzdHJ5L3BvZHMvbnMvd2Vi","create_revision":790,"mod_revision":805,"version":4,"value":"azhzAAoJCgJ2MRIDUG9k"}],"count":1}"#;
        let got = parse_get(found).unwrap();
        assert_eq!(got.revision, 812);
        assert_eq!(
            (got.create_revision, got.mod_revision),
            (Some(790), Some(805))
        );
        assert!(got.protobuf());
        assert_eq!(got.json(), None);
        let absent = r#"{"header":{"cluster_id":1,"member_id":2,"revision":812,"raft_term":2}}"#;
        let got = parse_get(absent).unwrap();
        assert_eq!((got.create_revision, got.value), (None, None));
        let json_value =
            base64::engine::general_purpose::STANDARD.encode(br#"{"status":{"phase":"Running"}}"#);
        let stored = format!(
            r#"{{"header":{{"revision":9}},"kvs":[{{"create_revision":3,"mod_revision":9,"value":"{json_value}"}}]}}"#
        );
        assert_eq!(
            parse_get(&stored).unwrap().json().unwrap()["status"]["phase"],
            "Running"
        );
        assert!(parse_get("Error: context deadline exceeded").is_err());
    }
}
