//! Network namespaces podcheck makes (`ip netns add`), named for their owner and always
//! deleted: by their guard on drop, or by the next podcheck's sweep when the owner died.

use std::path::Path;
use std::time::Duration;

use crate::command::{check, check_blocking, tool};
use crate::run_dir::unique_name;
use crate::{HostError, sweep};

/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";
/// How long one `ip` call may take.
pub const IP_TIMEOUT: Duration = Duration::from_secs(10);

/// `ip ARGS…`, checked, with [`IP_TIMEOUT`].
pub async fn ip(args: &[&str]) -> Result<String, HostError> {
    let mut command = tool("ip");
    command.args(args);
    check(command, None, IP_TIMEOUT).await
}

/// A network namespace this run made; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    deleted: bool,
}

impl Netns {
    /// Makes `PREFIX` + owner + `-N` with its loopback up.
    pub async fn create(prefix: &str) -> Result<Netns, HostError> {
        let name = unique_name(prefix);
        ip(&["netns", "add", &name]).await?;
        let ns = Netns {
            name,
            deleted: false,
        };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]).await?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`, for `CNI_NETNS` or `nsenter --net=`.
    pub fn path(&self) -> String {
        format!("{NETNS_DIR}/{}", self.name)
    }

    /// Deletes the namespace now.
    pub async fn delete(mut self) -> Result<(), HostError> {
        self.deleted = true;
        ip(&["netns", "del", &self.name]).await.map(drop)
    }

    /// Deletes the namespaces named `PREFIX` + owner whose owner is gone. Returns what went.
    pub fn sweep(prefix: &str) -> Vec<String> {
        sweep::dead_by_name(Path::new(NETNS_DIR), prefix)
            .into_iter()
            .filter_map(|path| {
                let name = path.file_name()?.to_string_lossy().into_owned();
                drop(Netns {
                    name: name.clone(),
                    deleted: false,
                });
                Some(format!("netns {name}"))
            })
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        if let Err(e) = check_blocking("ip", &["netns", "del", &self.name], IP_TIMEOUT) {
            tracing::warn!(netns = %self.name, error = %e, "deleting a network namespace");
        }
    }
}
