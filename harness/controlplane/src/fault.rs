//! The embedded control plane's fault switches, thrown by the harness for a case's
//! `faults:` and always thrown back. Each fault breaks the component the way it breaks for
//! real where the control plane owns that component (its scheduler, DNS server and store
//! writes), and answers as the real component would where it does not (a node's runtime
//! and CNI, through [`podcheck_node::fault::Faulty`]); [`Injected`] says which.

use std::sync::Arc;

use podcheck_core::suite::FaultKind;
use podcheck_node::fault::{CniPlug, NodeFaults};
use podcheck_node::runtime::Implementation;
use tokio::sync::watch;

use crate::cluster_dns::{DnsFault, DnsFaults};
use crate::scheduler::Gate;
use crate::store::WriteDelay;

/// How a fault was injected: in words, the component, whether that component is real.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub how: String,
    pub component: String,
    pub real: bool,
}

/// A node's switches and what runs there.
#[derive(Clone)]
pub(crate) struct NodeSwitches {
    pub faults: Arc<NodeFaults>,
    /// A real network's plugin dir, where a failing CNI plugin is put.
    pub cni_plug: Option<CniPlug>,
    pub runtime: Implementation,
    pub network: Implementation,
}

/// Every fault switch of one control plane (cheap to clone).
#[derive(Clone)]
pub struct Faults {
    pub(crate) scheduler: Option<Arc<watch::Sender<Gate>>>,
    pub(crate) dns: Option<Arc<DnsFaults>>,
    pub(crate) store: Arc<WriteDelay>,
    pub(crate) store_provider: (String, bool),
    pub(crate) nodes: Vec<NodeSwitches>,
}

impl Faults {
    /// Throws the switch of `kind`.
    pub fn inject(&self, kind: &FaultKind) -> Result<Injected, String> {
        self.switch(kind, true)
    }

    /// Throws it back; a killed containerd is started again and answers before this
    /// returns.
    pub async fn end(&self, kind: &FaultKind) -> Result<Injected, String> {
        if *kind == FaultKind::RuntimeKilled {
            for node in &self.nodes {
                node.faults.restart_runtime().await?;
            }
        }
        self.switch(kind, false)
    }

    /// Throws every switch back (a run's cleanup, whatever its cases did).
    pub fn end_all(&self) {
        if let Some(gate) = &self.scheduler {
            gate.send_replace(Gate::Running);
        }
        if let Some(dns) = &self.dns {
            dns.set(None);
        }
        self.store.set(None);
        for node in &self.nodes {
            if let Some(plug) = node.cni_plug.as_ref().filter(|p| p.wrapped())
                && let Err(e) = plug.restore()
            {
                tracing::warn!(error = %e, "could not put the CNI plugin back");
            }
            node.faults.fail_cni_add(None);
            node.faults.revive_runtime();
            node.faults.delay_status(None);
        }
    }

    /// The switches still thrown, by fault name (none after [`Self::end_all`]).
    pub fn thrown(&self) -> Vec<&'static str> {
        let mut thrown = Vec::new();
        if self
            .scheduler
            .as_ref()
            .is_some_and(|g| *g.borrow() != Gate::Running)
        {
            thrown.push("scheduler");
        }
        if self.dns.as_ref().is_some_and(|d| d.is_set()) {
            thrown.push("dns");
        }
        if self.store.is_set() {
            thrown.push("store");
        }
        if self.nodes.iter().any(|n| n.faults.any()) {
            thrown.push("node");
        }
        if self
            .nodes
            .iter()
            .any(|n| n.cni_plug.as_ref().is_some_and(CniPlug::wrapped))
        {
            thrown.push("cni plugin wrapper");
        }
        thrown
    }

    fn switch(&self, kind: &FaultKind, on: bool) -> Result<Injected, String> {
        match kind {
            FaultKind::SchedulerStopped | FaultKind::SchedulerPaused => self.scheduler(kind, on),
            FaultKind::DnsDrops | FaultKind::DnsDelays(_) => {
                let dns = self
                    .dns
                    .as_ref()
                    .ok_or("the control plane's DNS server is not running")?;
                let fault = match kind {
                    FaultKind::DnsDelays(d) => DnsFault::Delay(d.0),
                    _ => DnsFault::Drop,
                };
                dns.set(on.then_some(fault));
                Ok(Injected {
                    how: match fault {
                        DnsFault::Drop => "the cluster DNS server leaves every query unanswered".into(),
                        DnsFault::Delay(_) => "the cluster DNS server waits before each answer".into(),
                    },
                    component: "dns builtin".into(),
                    real: true,
                })
            }
            FaultKind::StoreWritesDelayed(d) => {
                self.store.set(on.then_some(d.0));
                Ok(Injected {
                    how: "the apiserver's store client waits before each write".into(),
                    component: format!("store {}", self.store_provider.0),
                    real: self.store_provider.1,
                })
            }
            FaultKind::CniAddFails(e) => self.nodes(|n| {
                let component = format!("network {}", n.network.name);
                let Some(plug) = &n.cni_plug else {
                    n.faults.fail_cni_add(on.then(|| (e.code, e.msg.clone())));
                    return Ok(Injected {
                        how: "each node's runtime refuses sandboxes as containerd does when a CNI plugin's ADD returns this error (the plugins are not called)".into(),
                        component,
                        real: false,
                    });
                };
                let done = if on { plug.fail_add(e.code, &e.msg) } else { plug.restore() };
                done.map_err(|e| format!("the CNI plugin dir {}: {e}", plug.dir().display()))?;
                Ok(Injected {
                    how: format!(
                        "the first plugin of each node's conflist ({}) is a wrapper that fails ADD with this error result; other commands reach the real plugin",
                        plug.plugin()
                    ),
                    component,
                    real: n.network.real,
                })
            }),
            FaultKind::RuntimeKilled => self.nodes(|n| {
                if on {
                    n.faults.kill_runtime_after_sandbox();
                }
                Ok(match n.faults.kills_a_daemon() {
                    true => Injected {
                        how: "each node's containerd gets SIGKILL right after it starts a sandbox (its shims and their containers keep running); it is started again, on the same state, when the fault ends".into(),
                        component: format!("runtime {}", n.runtime.name),
                        real: n.runtime.real,
                    },
                    false => Injected {
                        how: "after its next sandbox, each node's runtime answers the kubelet as a dead containerd's socket does (connection refused); the runtime itself keeps running".into(),
                        component: format!("runtime {}", n.runtime.name),
                        real: false,
                    },
                })
            }),
            FaultKind::StatusUpdatesDelayed(d) => self.nodes(|n| {
                n.faults.delay_status(on.then_some(d.0));
                Ok(Injected {
                    how: "each node's kubelet waits before it sends a pod status update".into(),
                    component: "kubelet podcheck".into(),
                    real: true,
                })
            }),
        }
    }

    fn scheduler(&self, kind: &FaultKind, on: bool) -> Result<Injected, String> {
        let gate = self.scheduler.as_ref().ok_or(
            "the builtin scheduler is not running (a scheduler of the suite's replaces it)",
        )?;
        let (state, how) = match kind {
            FaultKind::SchedulerPaused => (
                Gate::Paused,
                "the builtin scheduler is no longer run: its caches and watches are kept, as a process's under SIGSTOP",
            ),
            _ => (
                Gate::Stopped,
                "the builtin scheduler's task is ended; it starts again from empty caches when the fault ends",
            ),
        };
        gate.send_replace(if on { state } else { Gate::Running });
        Ok(Injected {
            how: how.into(),
            component: "scheduler builtin".into(),
            real: true,
        })
    }

    /// Throws a switch on every node; how the last was thrown.
    fn nodes(
        &self,
        throw: impl Fn(&NodeSwitches) -> Result<Injected, String>,
    ) -> Result<Injected, String> {
        let mut last = None;
        for node in &self.nodes {
            last = Some(throw(node)?);
        }
        last.ok_or_else(|| "the control plane has no nodes".to_string())
    }
}
