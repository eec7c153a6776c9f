//! Which container CLI reaches a kind cluster's nodes: the one kind itself chose to run
//! them. Pure. kind's rules, read in kubernetes-sigs/kind:
//! - pkg/internal/runtime/runtime.go: `KIND_EXPERIMENTAL_PROVIDER` = `podman`, `docker`,
//!   `nerdctl`, `finch` or `nerdctl.lima` picks that CLI; any other value is ignored;
//! - pkg/cluster/provider.go (`DetectNodeProvider`, `NewProvider`): otherwise the first of
//!   docker, nerdctl (or finch), podman whose `-v` answers in one line starting `Docker
//!   version` / `nerdctl version` (`finch version`) / `podman version`
//!   (providers/*/util.go `IsAvailable`), and docker when none does;
//! - providers/{docker,podman,nerdctl}/node.go: a command runs on a node as
//!   `CLI exec --privileged NODE COMMAND…`, the node's container being named as the node.

/// How the CLI was chosen, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    /// `KIND_EXPERIMENTAL_PROVIDER` named it.
    Environment,
    /// Its `-v` answered as kind expects.
    Detected,
    /// Nothing answered: kind falls back to docker.
    Fallback,
}

/// The CLI that runs commands on the nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTool {
    /// The program: `docker`, `podman`, `nerdctl`, `finch`, `nerdctl.lima`.
    pub program: String,
    pub chosen: Chosen,
}

impl NodeTool {
    /// Why this CLI, in a few words: `docker (kind's default: no docker, nerdctl or podman answered)`.
    pub fn describe(&self) -> String {
        match self.chosen {
            Chosen::Environment => {
                format!(
                    "{} (KIND_EXPERIMENTAL_PROVIDER={})",
                    self.program, self.program
                )
            }
            Chosen::Detected => self.program.clone(),
            Chosen::Fallback => format!(
                "{} (kind's default: none of docker, nerdctl, finch, podman answered `-v`)",
                self.program
            ),
        }
    }

    /// `CLI exec --privileged NODE COMMAND…` as arguments after the program.
    pub fn exec_args(node: &str, command: &[String]) -> Vec<String> {
        let mut args = vec![
            "exec".to_string(),
            "--privileged".to_string(),
            node.to_string(),
        ];
        args.extend(command.iter().cloned());
        args
    }
}

/// The CLI `KIND_EXPERIMENTAL_PROVIDER` names, if it names one kind knows.
pub fn from_environment(value: Option<&str>) -> Option<NodeTool> {
    let program = match value? {
        p @ ("podman" | "docker" | "nerdctl" | "finch" | "nerdctl.lima") => p,
        _ => return None,
    };
    Some(NodeTool {
        program: program.to_string(),
        chosen: Chosen::Environment,
    })
}

/// The CLIs kind tries, in its order, each with the start of the `-v` line that makes it
/// available (finch is nerdctl's alternative, tried only when nerdctl does not answer).
pub const DETECTION: [(&str, &str); 4] = [
    ("docker", "Docker version"),
    ("nerdctl", "nerdctl version"),
    ("finch", "finch version"),
    ("podman", "podman version"),
];

/// Whether `program -v` printed what kind takes for an available CLI: one line, with the
/// expected start.
pub fn answers(program: &str, stdout: &str) -> bool {
    let Some((_, banner)) = DETECTION.iter().find(|(p, _)| *p == program) else {
        return false;
    };
    let lines: Vec<&str> = stdout.lines().collect();
    lines.len() == 1 && lines[0].starts_with(banner)
}

/// kind's choice once the environment named none: the first CLI in [`DETECTION`] order
/// whose `-v` answered (`answered(program)`), else docker.
pub fn detect(answered: impl Fn(&str) -> bool) -> NodeTool {
    match DETECTION.iter().find(|(p, _)| answered(p)) {
        Some((program, _)) => NodeTool {
            program: program.to_string(),
            chosen: Chosen::Detected,
        },
        None => NodeTool {
            program: "docker".into(),
            chosen: Chosen::Fallback,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::podman(Some("podman"), Some("podman"))]
    #[case::docker(Some("docker"), Some("docker"))]
    #[case::nerdctl(Some("nerdctl"), Some("nerdctl"))]
    #[case::finch(Some("finch"), Some("finch"))]
    #[case::lima(Some("nerdctl.lima"), Some("nerdctl.lima"))]
    #[case::unknown_is_ignored(Some("containerd"), None)]
    #[case::empty_is_unset(Some(""), None)]
    #[case::unset(None, None)]
    fn the_environment_names_a_cli_kind_knows(
        #[case] value: Option<&str>,
        #[case] program: Option<&str>,
    ) {
        let tool = from_environment(value);
        assert_eq!(tool.as_ref().map(|t| t.program.as_str()), program);
        if let Some(t) = tool {
            assert_eq!(t.chosen, Chosen::Environment);
            assert!(t.describe().contains("KIND_EXPERIMENTAL_PROVIDER="));
        }
    }

    #[rstest]
    #[case::docker("docker", "Docker version 28.2.2, build e6534b4\n", true)]
    #[case::podman("podman", "podman version 5.4.0\n", true)]
    #[case::nerdctl("nerdctl", "nerdctl version 2.1.2\n", true)]
    #[case::finch("finch", "finch version v1.8.0\n", true)]
    #[case::two_lines("docker", "Docker version 28.2.2\nWARNING: something\n", false)]
    #[case::another_cli_behind_the_name("docker", "podman version 5.4.0\n", false)]
    #[case::nothing("podman", "", false)]
    #[case::unknown_program("ctr", "ctr github.com/containerd/containerd v2.1.1\n", false)]
    fn a_cli_answers_as_kind_expects(
        #[case] program: &str,
        #[case] stdout: &str,
        #[case] expected: bool,
    ) {
        assert_eq!(answers(program, stdout), expected);
    }

    #[test]
    fn detection_follows_kinds_order_and_falls_back_to_docker() {
        assert_eq!(detect(|_| true).program, "docker");
        assert_eq!(
            detect(|p| p == "podman" || p == "nerdctl").program,
            "nerdctl"
        );
        assert_eq!(detect(|p| p == "finch" || p == "podman").program, "finch");
        let only_podman = detect(|p| p == "podman");
        assert_eq!(
            (only_podman.program.as_str(), only_podman.chosen),
            ("podman", Chosen::Detected)
        );
        let none = detect(|_| false);
        assert_eq!(
            (none.program.as_str(), &none.chosen),
            ("docker", &Chosen::Fallback)
        );
        assert!(
            none.describe().contains("kind's default"),
            "{}",
            none.describe()
        );
    }

    #[test]
    fn a_command_runs_on_a_node_as_kind_runs_it() {
        let command = vec!["crictl".to_string(), "version".to_string()];
        assert_eq!(
            NodeTool::exec_args("kind-worker", &command),
            ["exec", "--privileged", "kind-worker", "crictl", "version"]
        );
    }
}
