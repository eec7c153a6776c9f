//! kind's command lines, and how to read its answers: pure, so that every flag and message
//! podcheck depends on is written down once and tested. Flags and words are kind's own, read
//! in kubernetes-sigs/kind: pkg/cmd/kind/{create,get,load,export,delete}/…, the messages in
//! pkg/cluster/internal/create/create.go, pkg/cluster/internal/providers/docker, and the
//! `ERROR: …` / `Command Output: …` lines of cmd/kind/app/main.go (exit 1 on any error).

use std::ffi::{OsStr, OsString};
use std::path::Path;

fn args(words: &[&OsStr]) -> Vec<OsString> {
    words.iter().map(|w| w.to_os_string()).collect()
}

/// `kind create cluster --name N --config FILE --kubeconfig PATH`. `--kubeconfig`: kind
/// writes the cluster's context there instead of $KUBECONFIG or ~/.kube/config. No
/// `--wait`: on its timeout kind prints a warning and exits 0 (waitforready.go), so podcheck
/// waits itself, through the API.
pub fn create_cluster(name: &str, config: &Path, kubeconfig: &Path) -> Vec<OsString> {
    args(&[
        "create".as_ref(),
        "cluster".as_ref(),
        "--name".as_ref(),
        name.as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--kubeconfig".as_ref(),
        kubeconfig.as_os_str(),
    ])
}

/// `kind get clusters`: one name a line on stdout ("No kind clusters found." goes to stderr).
pub fn get_clusters() -> Vec<OsString> {
    args(&["get".as_ref(), "clusters".as_ref()])
}

/// `kind get kubeconfig --name N`: the admin kubeconfig on stdout, with the host's address.
pub fn get_kubeconfig(name: &str) -> Vec<OsString> {
    args(&[
        "get".as_ref(),
        "kubeconfig".as_ref(),
        "--name".as_ref(),
        name.as_ref(),
    ])
}

/// `kind load image-archive FILE --name N`: `ctr images import` on every node
/// (pkg/cluster/nodeutils LoadImageArchive), so an OCI layout or a `docker save` tar.
pub fn load_image_archive(file: &Path, name: &str) -> Vec<OsString> {
    args(&[
        "load".as_ref(),
        "image-archive".as_ref(),
        file.as_os_str(),
        "--name".as_ref(),
        name.as_ref(),
    ])
}

/// `kind export logs DIR --name N`.
pub fn export_logs(dir: &Path, name: &str) -> Vec<OsString> {
    args(&[
        "export".as_ref(),
        "logs".as_ref(),
        dir.as_os_str(),
        "--name".as_ref(),
        name.as_ref(),
    ])
}

/// `kind delete cluster --name N --kubeconfig PATH`: without `--kubeconfig`, kind would
/// remove the cluster's context from $KUBECONFIG or ~/.kube/config (delete.go). It succeeds
/// when the cluster is already gone.
pub fn delete_cluster(name: &str, kubeconfig: &Path) -> Vec<OsString> {
    args(&[
        "delete".as_ref(),
        "cluster".as_ref(),
        "--name".as_ref(),
        name.as_ref(),
        "--kubeconfig".as_ref(),
        kubeconfig.as_os_str(),
    ])
}

/// The cluster names `kind get clusters` printed.
pub fn clusters(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The node image kind created the cluster from: its status line ` ✓ Ensuring node image
/// (kindest/node:v1.36.1) 🖼` (the digest is left out of it by kind).
pub fn node_image(output: &str) -> Option<String> {
    const MARKER: &str = "Ensuring node image (";
    let at = output.find(MARKER)? + MARKER.len();
    let rest = &output[at..];
    let image = &rest[..rest.find(')')?];
    (!image.is_empty()).then(|| image.to_string())
}

/// What a failed kind command means for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `create cluster` of a name in use: "node(s) already exist for a cluster with the name".
    ClusterExists,
    /// No docker, podman or nerdctl to run nodes: kind falls back to docker and fails at its
    /// first `docker …` (`exec: "docker": executable file not found in $PATH`), or the
    /// daemon does not answer.
    NoRuntime,
    Other,
}

/// Reads kind's output (stdout and stderr) of a failed command.
pub fn classify(output: &str) -> Failure {
    if output.contains("node(s) already exist for a cluster with the name") {
        return Failure::ClusterExists;
    }
    let missing = ["docker", "podman", "nerdctl"].iter().any(|runtime| {
        output.contains(&format!(
            "exec: \"{runtime}\": executable file not found in $PATH"
        ))
    });
    if missing || output.contains("Cannot connect to the Docker daemon") {
        return Failure::NoRuntime;
    }
    Failure::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: Vec<OsString>) -> String {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn command_lines_are_kinds() {
        let (config, kc) = (Path::new("c.yaml"), Path::new("/run/x/kubeconfig"));
        assert_eq!(
            words(create_cluster("pc", config, kc)),
            "create cluster --name pc --config c.yaml --kubeconfig /run/x/kubeconfig"
        );
        assert_eq!(words(get_clusters()), "get clusters");
        assert_eq!(words(get_kubeconfig("pc")), "get kubeconfig --name pc");
        assert_eq!(
            words(load_image_archive(Path::new("/t/busybox.tar"), "pc")),
            "load image-archive /t/busybox.tar --name pc"
        );
        assert_eq!(
            words(export_logs(Path::new("reports/r/kind-logs"), "pc")),
            "export logs reports/r/kind-logs --name pc"
        );
        assert_eq!(
            words(delete_cluster("pc", kc)),
            "delete cluster --name pc --kubeconfig /run/x/kubeconfig"
        );
    }

    #[test]
    fn clusters_are_the_lines_of_stdout() {
        assert_eq!(clusters("kind\npodcheck\n"), ["kind", "podcheck"]);
        assert!(clusters("").is_empty());
    }

    #[test]
    fn the_node_image_comes_from_kinds_status_line() {
        let out = "Creating cluster \"pc\" ...\n • Ensuring node image (kindest/node:v1.36.1) 🖼️  ...\n ✓ Ensuring node image (kindest/node:v1.36.1) 🖼️\n";
        assert_eq!(node_image(out).as_deref(), Some("kindest/node:v1.36.1"));
        assert_eq!(node_image("Creating cluster \"pc\" ...\n"), None);
    }

    #[test]
    fn failures_read_as_kind_words_them() {
        let exists = "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"pc\"\n";
        assert_eq!(classify(exists), Failure::ClusterExists);
        let no_docker = "ERROR: failed to list clusters: command \"docker ps -a --filter label=io.x-k8s.kind.cluster --format '{{.Label \"io.x-k8s.kind.cluster\"}}'\" failed with error: exec: \"docker\": executable file not found in $PATH\n";
        assert_eq!(classify(no_docker), Failure::NoRuntime);
        let no_daemon = "ERROR: failed to create cluster: failed to get docker info: command \"docker info --format '{{json .}}'\" failed with error: exit status 1\n\nCommand Output: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n";
        assert_eq!(classify(no_daemon), Failure::NoRuntime);
        assert_eq!(
            classify("ERROR: failed to create cluster: failed to init node with kubeadm"),
            Failure::Other
        );
    }
}
