//! What podcheck reads of a kind config (`kind.x-k8s.io/v1alpha4`, `kind: Cluster`): the
//! nodes and their roles, the node image, `networking.disableDefaultCNI` and `podSubnet`.
//! kind's schema is kind's: every other field passes through untouched, and kind itself
//! validates the file when it creates the cluster. Field names and defaults are those of
//! kind's pkg/apis/config/v1alpha4/types.go and default.go.

use serde::Deserialize;

/// The built-in config, `kind-configs/default.yaml`, for runs without `--kind-config`.
pub const DEFAULT_CONFIG: &str = include_str!("../../../../kind-configs/default.yaml");

/// kind's default pod subnet for IPv4 (`SetDefaultsCluster`).
const DEFAULT_POD_SUBNET: &str = "10.244.0.0/16";

/// A kind cluster config, as far as podcheck needs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindConfig {
    kind: String,
    api_version: String,
    /// The cluster's name, unless `--name` overrides it.
    #[serde(default)]
    pub name: Option<String>,
    /// No nodes means one control-plane node, as kind defaults.
    #[serde(default)]
    nodes: Vec<NodeConfig>,
    #[serde(default)]
    networking: Networking,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeConfig {
    /// kind defaults a node without a role to a control-plane node.
    #[serde(default)]
    role: Role,
    #[serde(default)]
    image: Option<String>,
}

/// A node's role: kind knows these two.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    #[default]
    ControlPlane,
    Worker,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Networking {
    #[serde(default, rename = "disableDefaultCNI")]
    disable_default_cni: bool,
    #[serde(default)]
    pod_subnet: Option<String>,
}

impl KindConfig {
    /// Parses a config file's text; `shown` names it in errors.
    pub fn parse(text: &str, shown: &str) -> Result<KindConfig, String> {
        let config: KindConfig =
            serde_saphyr::from_str(text).map_err(|e| format!("{shown}: {e}"))?;
        if config.kind != "Cluster" || config.api_version != "kind.x-k8s.io/v1alpha4" {
            return Err(format!(
                "{shown}: not a kind cluster config (kind: Cluster, apiVersion: \
                 kind.x-k8s.io/v1alpha4); found kind: {}, apiVersion: {}",
                config.kind, config.api_version
            ));
        }
        Ok(config)
    }

    /// The roles of the nodes kind will create, in order.
    pub fn roles(&self) -> Vec<Role> {
        if self.nodes.is_empty() {
            return vec![Role::ControlPlane];
        }
        self.nodes.iter().map(|n| n.role).collect()
    }

    pub fn node_count(&self) -> usize {
        self.roles().len()
    }

    /// Whether kind installs no CNI (kindnet): then a CNI must be installed before any node
    /// turns Ready.
    pub fn disables_default_cni(&self) -> bool {
        self.networking.disable_default_cni
    }

    /// The pod subnet kubeadm carves the nodes' podCIDRs from.
    pub fn pod_subnet(&self) -> &str {
        self.networking
            .pod_subnet
            .as_deref()
            .unwrap_or(DEFAULT_POD_SUBNET)
    }

    /// The node image the config names, if any (else kind's default for its version).
    pub fn node_image(&self) -> Option<&str> {
        self.nodes.iter().find_map(|n| n.image.as_deref())
    }

    /// `1 control-plane, 2 workers`.
    pub fn describe_nodes(&self) -> String {
        let roles = self.roles();
        let count = |r| roles.iter().filter(|x| **x == r).count();
        let (cp, workers) = (count(Role::ControlPlane), count(Role::Worker));
        match workers {
            0 => format!("{cp} control-plane"),
            1 => format!("{cp} control-plane, 1 worker"),
            n => format!("{cp} control-plane, {n} workers"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> KindConfig {
        let path = format!("{}/../../kind-configs/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        KindConfig::parse(&text, name).unwrap()
    }

    #[test]
    fn the_shipped_configs_say_what_their_comments_say() {
        let default = shipped("default.yaml");
        assert_eq!(default.roles(), [Role::ControlPlane]);
        assert!(!default.disables_default_cni());
        assert_eq!(default.name.as_deref(), Some("podcheck"));
        assert_eq!(
            KindConfig::parse(DEFAULT_CONFIG, "built-in").unwrap(),
            default
        );

        let multi = shipped("multi-node.yaml");
        assert_eq!(
            multi.roles(),
            [Role::ControlPlane, Role::Worker, Role::Worker]
        );
        assert_eq!(multi.describe_nodes(), "1 control-plane, 2 workers");

        let cni = shipped("no-default-cni.yaml");
        assert!(cni.disables_default_cni());
        assert_eq!(cni.pod_subnet(), "10.244.0.0/16");
        assert_eq!(cni.node_count(), 2);

        let scheduler = shipped("custom-scheduler.yaml");
        assert_eq!(scheduler.describe_nodes(), "1 control-plane, 4 workers");
        assert!(!scheduler.disables_default_cni());
    }

    /// kind taints its control plane when the cluster has workers: suites/scheduler's nodes
    /// are mapped onto workers only, so the config for schedulers has one per declared node.
    #[test]
    fn the_scheduler_config_has_a_worker_for_each_node_of_the_scheduler_suite() {
        let path = format!(
            "{}/../../suites/scheduler/suite.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let suite: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let declared = suite["spec"]["nodes"].as_array().unwrap().len();
        let workers = shipped("custom-scheduler.yaml")
            .roles()
            .into_iter()
            .filter(|r| *r == Role::Worker)
            .count();
        assert_eq!(declared, 4);
        assert!(
            workers >= declared,
            "{workers} workers for {declared} nodes"
        );
    }

    #[test]
    fn kinds_defaults_fill_what_a_config_leaves_out() {
        let bare = KindConfig::parse(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n",
            "bare.yaml",
        )
        .unwrap();
        assert_eq!(bare.roles(), [Role::ControlPlane]);
        assert_eq!(bare.pod_subnet(), "10.244.0.0/16");
        assert_eq!(bare.name, None);
        assert_eq!(bare.node_image(), None);
    }

    #[test]
    fn fields_podcheck_does_not_read_are_kinds_business() {
        let text = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n\
                    featureGates: {SomeGate: true}\n\
                    networking: {podSubnet: 192.168.0.0/16, kubeProxyMode: nftables}\n\
                    nodes:\n  - role: worker\n    image: kindest/node:v1.33.1\n    \
                    extraPortMappings: [{containerPort: 80, hostPort: 8080}]\n  - {}\n";
        let config = KindConfig::parse(text, "x.yaml").unwrap();
        assert_eq!(config.roles(), [Role::Worker, Role::ControlPlane]);
        assert_eq!(config.pod_subnet(), "192.168.0.0/16");
        assert_eq!(config.node_image(), Some("kindest/node:v1.33.1"));
    }

    #[test]
    fn other_files_are_refused_with_what_they_are() {
        let suite = "apiVersion: podcheck.dev/v1alpha1\nkind: Suite\n";
        let e = KindConfig::parse(suite, "suite.yaml").unwrap_err();
        assert!(e.contains("not a kind cluster config"), "{e}");
        assert!(e.contains("kind: Suite"), "{e}");
        let e = KindConfig::parse(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: [{role: master}]\n",
            "old.yaml",
        )
        .unwrap_err();
        assert!(e.starts_with("old.yaml: "), "{e}");
    }
}
