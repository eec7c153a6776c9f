//! `kind: CniSuite`: a CNI plugin (or chain) called directly, as the CNI specification (1.0.0
//! and 1.1.0) says, in network namespaces podcheck creates. Each case names one check
//! (`version`, `add`, `check`, `del`, `delTwice`, `delUnknown`, `status`, `gc`, `badConfig`,
//! `distinctAddresses`, `reach`); the runner (`podcheck_conformance::cni`) runs every case
//! once per network and spec version and turns it into named checks such as
//! `add.result-valid` or `add.netns-addresses`.
//!
//! Networks are conflist *templates*: podcheck fills in `{{subnet}}`, `{{gateway}}`,
//! `{{bridge}}`, `{{dataDir}}` and `{{serviceCidr}}` with a /24, bridge and data dir it has
//! claimed for the run, so two runs never collide and no address outside the claim is used.
//! The embedded pod network's placeholders are filled in too, so one template serves both:
//! `{{podNetwork}}` (here the same /24: a conformance run is one node), `{{rangeStart}}` and
//! `{{rangeEnd}}`.
//!
//! ```yaml
//! apiVersion: podcheck.dev/v1alpha1
//! kind: CniSuite
//! metadata: {name: cni}
//! spec:
//!   networks: [../../fixtures/cni/conformance/bridge.conflist]
//!   cases:
//!     - name: add
//!       check: add
//!     - name: malformed-json
//!       check:
//!         badConfig: {config: malformedJson, expectCode: 6}
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::duration::Duration;
use crate::load::{
    Problem, ReadFile, SuiteError, case_name_problem, problem, suite_name_problem, syntax_problem,
};

/// Where Debian's `containernetworking-plugins` installs the plugins.
pub const DEFAULT_BIN_DIR: &str = "/usr/lib/cni";
/// The CNI spec versions podcheck checks.
pub const SPEC_VERSIONS: [&str; 2] = ["1.0.0", "1.1.0"];
/// A case's deadline unless the suite or the case sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration(std::time::Duration::from_secs(60));
/// The placeholders a network template may use.
pub const PLACEHOLDERS: [&str; 8] = [
    "subnet",
    "gateway",
    "bridge",
    "dataDir",
    "serviceCidr",
    "podNetwork",
    "rangeStart",
    "rangeEnd",
];
/// What a host-local subnet may be: the run's /24, under either of its names.
const SUBNET_PLACEHOLDERS: [&str; 2] = ["{{subnet}}", "{{podNetwork}}"];
/// The most ADDs a `distinctAddresses` case may ask for (a /24 holds 253 pods).
pub const MAX_DISTINCT: u32 = 200;

/// A cni conformance suite ready to run.
#[derive(Debug, Clone)]
pub struct CniSuite {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    /// Where the plugins are (`CNI_PATH`).
    pub bin_dir: PathBuf,
    /// The networks every case runs against, in order.
    pub networks: Vec<CniNetwork>,
    /// The spec versions to check, each where the plugins support it.
    pub cni_versions: Vec<String>,
    pub cases: Vec<CniCase>,
}

/// A conflist template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniNetwork {
    /// The template's file stem (`bridge` for `bridge.conflist`): suffixes case names.
    pub name: String,
    /// The template file.
    pub path: PathBuf,
    /// Its text, placeholders unfilled.
    pub template: String,
}

/// One case: a check and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct CniCase {
    pub name: String,
    /// The line of the case's `name:` in the suite file (1-based), where reports point.
    pub line: usize,
    pub description: String,
    /// Everything the case does, cleanup excluded, must end within this.
    pub timeout: Duration,
    pub check: CniCheck,
}

/// A `kind: CniSuite` file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "podcheck CniSuite",
    description = "A CNI conformance suite: cases that each call a CNI plugin directly, per the CNI spec, in network namespaces podcheck creates."
)]
pub struct CniSuiteFile {
    /// Always `podcheck.dev/v1alpha1`.
    pub api_version: CniApiVersion,
    /// Always `CniSuite`.
    pub kind: CniSuiteKind,
    pub metadata: CniMetadata,
    pub spec: CniSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum CniApiVersion {
    #[serde(rename = "podcheck.dev/v1alpha1")]
    V1Alpha1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum CniSuiteKind {
    CniSuite,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CniMetadata {
    /// The suite's name: a DNS-1123 label.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CniSpec {
    /// Where the plugins are (`CNI_PATH`). Default: `/usr/lib/cni`.
    #[serde(default)]
    pub bin_dir: Option<String>,
    /// Conflist templates, relative to the suite's directory; every case runs once per
    /// network, its name suffixed with the template's file stem. Placeholders podcheck fills
    /// in: `{{subnet}}`, `{{gateway}}`, `{{bridge}}`, `{{dataDir}}`, `{{serviceCidr}}`, and
    /// `{{podNetwork}}` (the same /24), `{{rangeStart}}`, `{{rangeEnd}}`.
    #[schemars(with = "Vec<String>")]
    pub networks: Spanned<Vec<Spanned<String>>>,
    /// The spec versions to check (`1.0.0`, `1.1.0`), each where the plugin lists it in its
    /// VERSION answer (the `version` case checks that the others are refused). Default: both.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub cni_versions: Option<Spanned<Vec<Spanned<String>>>>,
    /// The default deadline of a case. Default: 60s.
    #[serde(default)]
    pub timeout: Option<Duration>,
    pub cases: Vec<CniCaseFile>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CniCaseFile {
    /// The case's name: a DNS-1123 label, unique in the suite.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// This case's deadline (default: the suite's).
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// What the case checks.
    #[schemars(with = "CniCheck")]
    pub check: Spanned<CniCheck>,
}

/// What a case checks, each as the CNI spec requires it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum CniCheck {
    /// `VERSION`: a valid answer listing the suite's spec versions; a version it does not
    /// list is refused by ADD with error code 1.
    Version,
    /// `ADD`: a result valid for its cniVersion, and the namespace holds the interfaces,
    /// addresses and routes the result claims.
    Add,
    /// `CHECK` with the ADD's result as `prevResult` succeeds.
    Check,
    /// `DEL` succeeds and the namespace no longer holds the addresses.
    Del,
    /// `DEL` twice for the same attachment: both succeed.
    DelTwice,
    /// `DEL` of a container ID that was never added, with no namespace: succeeds.
    DelUnknown,
    /// `STATUS` (1.1): succeeds for a plugin that lists 1.1.0.
    Status,
    /// `GC` (1.1) with `cni.dev/valid-attachments`: releases the attachments not listed and
    /// keeps the ones listed.
    Gc,
    /// A bad config is refused with a valid CNI error (JSON with `code` and `msg`, a
    /// non-zero exit).
    BadConfig(BadConfigCheck),
    /// Many ADDs: all distinct addresses in the subnet; DEL releases every one.
    DistinctAddresses(DistinctCheck),
    /// Two namespaces, each ADDed: a TCP connect from one to the other's address is answered.
    Reach,
}

impl CniCheck {
    /// The check's name in results (`delTwice`, `badConfig`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            CniCheck::Version => "version",
            CniCheck::Add => "add",
            CniCheck::Check => "check",
            CniCheck::Del => "del",
            CniCheck::DelTwice => "delTwice",
            CniCheck::DelUnknown => "delUnknown",
            CniCheck::Status => "status",
            CniCheck::Gc => "gc",
            CniCheck::BadConfig(_) => "badConfig",
            CniCheck::DistinctAddresses(_) => "distinctAddresses",
            CniCheck::Reach => "reach",
        }
    }

    /// Whether the case is the same at every spec version (run once per network).
    pub fn version_independent(&self) -> bool {
        matches!(self, CniCheck::Version | CniCheck::BadConfig(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BadConfigCheck {
    /// How the network's config is broken.
    pub config: BadConfig,
    /// The error code the spec assigns (1 incompatible version, 6 cannot decode, 7 invalid
    /// network config). Default: any code the spec allows (1–7, 11, 50, 51, or 100 and up).
    #[serde(default)]
    pub expect_code: Option<u32>,
}

/// A broken config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BadConfig {
    /// The config cut short: not JSON.
    MalformedJson,
    /// `cniVersion: 9.9.9`.
    UnknownCniVersion,
    /// The first plugin's `ipam` removed. A plugin that works without IPAM (bridge at layer
    /// 2) may accept it; then its result must claim no address.
    MissingIpam,
}

impl BadConfig {
    pub fn label(self) -> &'static str {
        match self {
            BadConfig::MalformedJson => "malformedJson",
            BadConfig::UnknownCniVersion => "unknownCniVersion",
            BadConfig::MissingIpam => "missingIpam",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DistinctCheck {
    /// How many ADDs (each in a namespace of its own). Default: 50.
    #[serde(default = "default_count")]
    pub count: u32,
}

fn default_count() -> u32 {
    50
}

/// Checks a conflist template: JSON once its placeholders are filled, a non-empty `plugins`
/// list with a `type` each, only known placeholders, and nothing reaching outside what the
/// run claims: host-local's `dataDir` and subnets, and any `bridge`, from placeholders; no
/// `ipMasq: true`, `isDefaultGateway: true` or `master`. Returns the problem in words.
pub fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        let after = &rest[at + 2..];
        let Some(end) = after.find("}}") else {
            return Err("an unclosed `{{`".into());
        };
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{{{name}}}}} (podcheck fills in {})",
                PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{{{p}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[end + 2..];
    }
    let value: Value = serde_json::from_str(template).map_err(|e| format!("not JSON: {e}"))?;
    let plugins = value
        .get("plugins")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or("a conflist needs a non-empty `plugins` list")?;
    for plugin in plugins {
        let kind = plugin
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or("every plugin needs a `type`")?;
        if kind.contains('/') || kind.starts_with('.') {
            return Err(format!("plugin type {kind:?} is not a file name"));
        }
    }
    if value.get("name").and_then(Value::as_str).is_none() {
        return Err("a conflist needs a `name`".into());
    }
    for plugin in plugins {
        confined(plugin)?;
    }
    Ok(())
}

/// Plugins that take over or hang off a host interface.
const HOST_INTERFACE_PLUGINS: [&str; 4] = ["macvlan", "ipvlan", "vlan", "host-device"];

/// Refuses a plugin config that could touch the host's own networks: the run owns only the
/// subnet, bridge and data dir it claimed, so those must come from placeholders.
fn confined(plugin: &Value) -> Result<(), String> {
    let kind = plugin.get("type").and_then(Value::as_str).unwrap_or("?");
    if plugin.get("ipMasq") == Some(&Value::Bool(true)) {
        return Err(format!(
            "plugin {kind}: `ipMasq: true` would add NAT rules to the host's firewall"
        ));
    }
    if plugin.get("isDefaultGateway") == Some(&Value::Bool(true)) {
        return Err(format!(
            "plugin {kind}: `isDefaultGateway: true` is refused (it gives the host's bridge a default route's gateway)"
        ));
    }
    if HOST_INTERFACE_PLUGINS.contains(&kind) {
        return Err(format!(
            "plugin {kind} attaches to a host interface (without `master`, the default route's): podcheck only runs plugins on the bridge and subnet it claims"
        ));
    }
    if kind == "bridge" && plugin.get("bridge").is_none() {
        return Err(
            "plugin bridge without `bridge` uses the host's cni0: write \"bridge\": \"{{bridge}}\""
                .into(),
        );
    }
    if plugin.get("master").is_some() {
        return Err(format!(
            "plugin {kind}: `master` would attach to a host interface"
        ));
    }
    if let Some(bridge) = plugin.get("bridge")
        && bridge.as_str() != Some("{{bridge}}")
    {
        return Err(format!(
            "plugin {kind}: `bridge` must be \"{{{{bridge}}}}\" (the bridge podcheck claims), not {bridge}"
        ));
    }
    let Some(ipam) = plugin.get("ipam") else {
        return Ok(());
    };
    match ipam.get("type").and_then(Value::as_str) {
        Some("host-local") => {}
        Some("dhcp") => {
            return Err(format!(
                "plugin {kind}: dhcp IPAM asks a DHCP server through the host's daemon: use host-local with {{{{subnet}}}}"
            ));
        }
        _ => return Ok(()),
    }
    if ipam.get("dataDir").and_then(Value::as_str) != Some("{{dataDir}}") {
        return Err(format!(
            "plugin {kind}: host-local IPAM needs \"dataDir\": \"{{{{dataDir}}}}\" (else it reserves in the host's /var/lib/cni/networks)"
        ));
    }
    let mut subnets: Vec<&Value> = ipam.get("subnet").into_iter().collect();
    for set in ipam
        .get("ranges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(set) = set.as_array() else {
            return Err(format!("plugin {kind}: `ranges` must be a list of lists"));
        };
        for range in set {
            subnets.push(range.get("subnet").unwrap_or(&Value::Null));
        }
    }
    if subnets.is_empty() {
        return Err(format!(
            "plugin {kind}: host-local IPAM needs `ranges` (or `subnet`) from \"{{{{subnet}}}}\""
        ));
    }
    if let Some(other) = subnets
        .iter()
        .find(|s| !s.as_str().is_some_and(|s| SUBNET_PLACEHOLDERS.contains(&s)))
    {
        return Err(format!(
            "plugin {kind}: host-local subnets must be \"{{{{subnet}}}}\" (the /24 podcheck claims), not {other}"
        ));
    }
    Ok(())
}

/// The name a network gets from its template's path: the file stem.
pub fn network_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "network".into())
}

/// Parses and checks a `kind: CniSuite` file whose text is `source`.
pub fn load(
    path: &Path,
    file: &str,
    source: &str,
    read: ReadFile<'_>,
) -> Result<CniSuite, SuiteError> {
    let parsed: CniSuiteFile = serde_saphyr::from_str(source)
        .map_err(|e| SuiteError(vec![syntax_problem(file, source, &e)]))?;
    let mut problems: Vec<Problem> = Vec::new();
    let dir = path.parent().unwrap_or(Path::new("."));

    problems.extend(suite_name_problem(file, source, &parsed.metadata.name));

    let mut networks = Vec::new();
    let mut network_names = BTreeSet::new();
    if parsed.spec.networks.value.is_empty() {
        problems.push(problem(
            file,
            source,
            &parsed.spec.networks.referenced,
            "a CniSuite needs at least one network".into(),
            "empty",
            Some("list conflist templates, e.g. `networks: [../../fixtures/cni/conformance/bridge.conflist]`".into()),
        ));
    }
    for rel in &parsed.spec.networks.value {
        let net_path = dir.join(&rel.value);
        let template = match read(&net_path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(problem(
                    file,
                    source,
                    &rel.referenced,
                    format!("cannot read the conflist template {}: {e}", rel.value),
                    "this file",
                    Some(format!(
                        "paths are relative to the suite's directory; looked for {}",
                        net_path.display()
                    )),
                ));
                continue;
            }
        };
        if let Err(why) = check_template(&template) {
            problems.push(problem(
                file,
                source,
                &rel.referenced,
                format!("{} is not a usable conflist template: {why}", rel.value),
                "this template",
                Some("a conflist: {\"cniVersion\": …, \"name\": …, \"plugins\": [{\"type\": …}]}, with placeholders inside strings".into()),
            ));
            continue;
        }
        let net_name = network_name(&net_path);
        if !network_names.insert(net_name.clone()) {
            problems.push(problem(
                file,
                source,
                &rel.referenced,
                format!("two networks are named {net_name:?}"),
                "second one",
                Some("case names are suffixed with the template's file stem: give each template a name of its own".into()),
            ));
            continue;
        }
        networks.push(CniNetwork {
            name: net_name,
            path: net_path,
            template,
        });
    }

    let cni_versions = match &parsed.spec.cni_versions {
        None => SPEC_VERSIONS.iter().map(|v| v.to_string()).collect(),
        Some(list) => {
            if list.value.is_empty() {
                problems.push(problem(
                    file,
                    source,
                    &list.referenced,
                    "cniVersions is empty".into(),
                    "empty",
                    Some("write [\"1.0.0\", \"1.1.0\"], or leave it out for both".into()),
                ));
            }
            let mut seen = BTreeSet::new();
            for v in &list.value {
                if !SPEC_VERSIONS.contains(&v.value.as_str()) {
                    problems.push(problem(
                        file,
                        source,
                        &v.referenced,
                        format!("podcheck does not check CNI spec version {:?}", v.value),
                        "unknown version",
                        Some(format!("write one of: {}", SPEC_VERSIONS.join(", "))),
                    ));
                } else if !seen.insert(v.value.clone()) {
                    problems.push(problem(
                        file,
                        source,
                        &v.referenced,
                        format!("{} is listed twice", v.value),
                        "again",
                        None,
                    ));
                }
            }
            list.value.iter().map(|v| v.value.clone()).collect()
        }
    };

    let suite_timeout = parsed.spec.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut names = BTreeSet::new();
    let mut cases = Vec::new();
    for case in parsed.spec.cases {
        let case_name = case.name.value.clone();
        problems.extend(case_name_problem(file, source, &case.name, &mut names, ""));
        if let CniCheck::DistinctAddresses(d) = &case.check.value
            && !(2..=MAX_DISTINCT).contains(&d.count)
        {
            problems.push(problem(
                file,
                source,
                &case.check.referenced,
                format!("count {} is out of range", d.count),
                "this check",
                Some(format!(
                    "between 2 and {MAX_DISTINCT}: the addresses come from one /24"
                )),
            ));
        }
        cases.push(CniCase {
            line: case.name.referenced.line() as usize,
            name: case_name,
            description: case.description,
            timeout: case.timeout.unwrap_or(suite_timeout),
            check: case.check.value,
        });
    }
    if !problems.is_empty() {
        return Err(SuiteError(problems));
    }
    Ok(CniSuite {
        path: path.to_path_buf(),
        name: parsed.metadata.name.value,
        description: parsed.metadata.description,
        bin_dir: PathBuf::from(
            parsed
                .spec
                .bin_dir
                .unwrap_or_else(|| DEFAULT_BIN_DIR.to_string()),
        ),
        networks,
        cni_versions,
        cases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"ptp","ipam":{"type":"host-local","ranges":[[{"subnet":"{{subnet}}"}]],"dataDir":"{{dataDir}}"}}]}"#;

    fn reader(path: &Path) -> std::io::Result<String> {
        match path.file_name().and_then(|n| n.to_str()) {
            Some("ptp.conflist") | Some("bridge.conflist") => Ok(TEMPLATE.into()),
            Some("odd.conflist") => Ok(TEMPLATE.replace("{{dataDir}}", "{{data}}")),
            Some("host.conflist") => Ok(TEMPLATE.replace("{{dataDir}}", "/var/lib/cni/networks")),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    }

    fn load_str(yaml: &str) -> Result<CniSuite, SuiteError> {
        load(
            Path::new("suites/cni/suite.yaml"),
            "suite.yaml",
            yaml,
            &reader,
        )
    }

    #[test]
    fn a_suite_loads_with_its_networks_versions_and_checks() {
        let suite = load_str(
            "apiVersion: podcheck.dev/v1alpha1\nkind: CniSuite\nmetadata: {name: cni}\nspec:\n  networks: [a/bridge.conflist, a/ptp.conflist]\n  cases:\n    - name: add\n      check: add\n    - name: many\n      check: {distinctAddresses: {count: 10}}\n    - name: bad\n      timeout: 5s\n      check:\n        badConfig: {config: malformedJson, expectCode: 6}\n",
        )
        .unwrap();
        assert_eq!(suite.name, "cni");
        assert_eq!(suite.bin_dir, Path::new(DEFAULT_BIN_DIR));
        assert_eq!(
            suite
                .networks
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>(),
            ["bridge", "ptp"]
        );
        assert_eq!(
            suite.networks[0].path,
            Path::new("suites/cni/a/bridge.conflist")
        );
        assert_eq!(suite.cni_versions, ["1.0.0", "1.1.0"]);
        assert_eq!(suite.cases[0].check, CniCheck::Add);
        // Where reports point: the line of each case's `name:`.
        let lines: Vec<usize> = suite.cases.iter().map(|c| c.line).collect();
        assert_eq!(lines, [7, 9, 11]);
        assert_eq!(
            suite.cases[1].check,
            CniCheck::DistinctAddresses(DistinctCheck { count: 10 })
        );
        assert_eq!(
            suite.cases[2].check,
            CniCheck::BadConfig(BadConfigCheck {
                config: BadConfig::MalformedJson,
                expect_code: Some(6)
            })
        );
        assert_eq!(suite.cases[2].timeout.0, std::time::Duration::from_secs(5));
        assert_eq!(suite.cases[0].timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn problems_name_their_line_and_column() {
        let err = load_str(
            "apiVersion: podcheck.dev/v1alpha1\nkind: CniSuite\nmetadata: {name: cni}\nspec:\n  networks: [missing.conflist, odd.conflist]\n  cniVersions: [\"1.0.0\", \"0.4.0\"]\n  cases:\n    - name: Add\n      check: add\n    - name: many\n      check: {distinctAddresses: {count: 1000}}\n",
        )
        .unwrap_err();
        let messages: Vec<String> = err
            .0
            .iter()
            .map(|p| format!("{}:{} {}", p.line, p.column, p.message))
            .collect();
        assert_eq!(messages.len(), 5, "{messages:#?}");
        assert!(
            messages[0].starts_with("5:14 cannot read the conflist template missing.conflist"),
            "{messages:#?}"
        );
        assert!(
            messages[1].contains("unknown placeholder {{data}}"),
            "{messages:#?}"
        );
        assert!(
            messages[2].starts_with("6:26 podcheck does not check CNI spec version \"0.4.0\""),
            "{messages:#?}"
        );
        assert!(
            messages[3].starts_with("8:13 case name \"Add\""),
            "{messages:#?}"
        );
        assert!(
            messages[4].contains("count 1000 is out of range"),
            "{messages:#?}"
        );
    }

    #[test]
    fn a_template_reaching_the_host_is_a_located_problem() {
        let err = load_str(
            "apiVersion: podcheck.dev/v1alpha1\nkind: CniSuite\nmetadata: {name: cni}\nspec:\n  networks: [ptp.conflist, host.conflist]\n  cases:\n    - name: add\n      check: add\n",
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!((err.0[0].line, err.0[0].column), (5, 28), "{err}");
        assert!(err.0[0].message.contains("dataDir"), "{err}");
    }

    #[test]
    fn unknown_checks_and_fields_are_syntax_problems() {
        let err = load_str(
            "apiVersion: podcheck.dev/v1alpha1\nkind: CniSuite\nmetadata: {name: cni}\nspec:\n  networks: [ptp.conflist]\n  cases:\n    - name: add\n      check: ping\n",
        )
        .unwrap_err();
        assert_eq!(err.0[0].line, 8, "{err}");
        assert!(err.0[0].message.contains("ping"), "{err}");
    }

    #[test]
    fn templates_are_checked() {
        assert!(check_template(TEMPLATE).is_ok());
        assert!(check_template("{").unwrap_err().contains("not JSON"));
        assert!(check_template(r#"{"name":"x","plugins":[]}"#).is_err());
        assert!(check_template(r#"{"name":"x","plugins":[{"type":"../x"}]}"#).is_err());
        assert!(check_template(r#"{"plugins":[{"type":"ptp"}]}"#).is_err());
        assert!(check_template(r#"{"name":"{{x","plugins":[{"type":"ptp"}]}"#).is_err());
    }

    #[test]
    fn templates_stay_inside_what_podcheck_claims() {
        let refused = |t: String, why: &str| {
            let err = check_template(&t).unwrap_err();
            assert!(err.contains(why), "{t}: {err}");
        };
        refused(
            TEMPLATE.replace(r#","dataDir":"{{dataDir}}""#, ""),
            "dataDir",
        );
        refused(
            TEMPLATE.replace(r#""{{dataDir}}""#, r#""/var/lib/cni/networks""#),
            "dataDir",
        );
        refused(
            TEMPLATE.replace(r#""{{subnet}}""#, r#""10.1.0.0/16""#),
            "10.1.0.0/16",
        );
        refused(
            TEMPLATE.replace(r#""ranges":[[{"subnet":"{{subnet}}"}]],"#, ""),
            "ranges",
        );
        refused(
            TEMPLATE.replace(
                r#"[{"subnet":"{{subnet}}"}]"#,
                r#"[{"subnet":"{{subnet}}"},{"subnet":"fd00::/64"}]"#,
            ),
            "fd00::/64",
        );
        refused(
            TEMPLATE.replace(r#""type":"ptp","#, r#""type":"ptp","ipMasq":true,"#),
            "ipMasq",
        );
        refused(
            TEMPLATE.replace(
                r#""type":"ptp","#,
                r#""type":"bridge","isDefaultGateway":true,"#,
            ),
            "isDefaultGateway",
        );
        refused(
            TEMPLATE.replace(r#""type":"ptp","#, r#""type":"macvlan","master":"eth0","#),
            "master",
        );
        refused(
            TEMPLATE.replace(r#""type":"ptp","#, r#""type":"bridge","bridge":"cni0","#),
            "cni0",
        );
        refused(
            TEMPLATE.replace(r#""type":"ptp","#, r#""type":"bridge","#),
            "cni0",
        );
        refused(
            TEMPLATE.replace(r#""type":"ptp""#, r#""type":"macvlan""#),
            "macvlan",
        );
        refused(
            TEMPLATE.replace(r#""type":"host-local""#, r#""type":"dhcp""#),
            "dhcp",
        );
        let fine = TEMPLATE.replace(
            r#""type":"ptp","#,
            r#""type":"bridge","bridge":"{{bridge}}","ipMasq":false,"isDefaultGateway":false,"#,
        );
        assert_eq!(check_template(&fine), Ok(()));
        // The embedded pod network's templates serve too: alone, the pod network is the /24.
        for pod_network in [
            include_str!("../../../../fixtures/cni/bridge.conflist"),
            include_str!("../../../../fixtures/cni/ptp.conflist"),
        ] {
            assert_eq!(check_template(pod_network), Ok(()));
        }
        // Other IPAM (or none) is not host-local's business.
        assert_eq!(
            check_template(r#"{"name":"x","plugins":[{"type":"tuning"}]}"#),
            Ok(())
        );
    }
}
