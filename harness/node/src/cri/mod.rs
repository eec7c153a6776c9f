//! A real container runtime: a private containerd per node, driven over CRI v1.
//!
//! [`ContainerdProcess`] starts containerd with a configuration of its own (root, state,
//! socket, runc root, cgroup parent and logs all under one directory given by the caller),
//! imports the pause and busybox images built from the recipes in `fixtures/images`, and on
//! [`shutdown`](ContainerdProcess::shutdown) leaves no process, mount, cgroup or file behind.
//! [`CriRuntime`] implements the kubelet's [`Runtime`](crate::runtime::Runtime)
//! trait with CRI calls to it; the network is whatever CNI configuration containerd finds
//! in the directory the caller names.

mod cleanup;
pub mod client;
pub mod containerd;
pub mod external;
pub mod runtime;

use std::path::PathBuf;
use std::time::Duration;

pub use client::CriClient;
pub use containerd::{ContainerdOptions, ContainerdProcess, missing, usable};
pub use runtime::CriRuntime;

use crate::images::ImageError;
use crate::runtime::RuntimeError;

/// Everything that goes wrong starting, driving or stopping containerd.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// Something the real runtime needs is missing on this machine (a binary, root, a
    /// kernel feature); the message says what, and which Debian package provides it.
    #[error("{0}")]
    Unusable(String),
    /// A file or directory operation failed.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A pause or busybox image could not be built from its recipe.
    #[error("could not build an image to import")]
    Image(#[from] ImageError),
    /// containerd did not come up; the message ends with the tail of its log.
    #[error("containerd did not start: {0}")]
    Start(String),
    /// `ctr images import` failed.
    #[error("importing image {image}: {message}")]
    Import { image: String, message: String },
    /// The CRI socket could not be connected.
    #[error("connecting to the CRI socket {}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
    /// A CRI call returned an error status; `message` is containerd's own.
    #[error("CRI {call}: {message}")]
    Call {
        call: &'static str,
        code: tonic::Code,
        message: String,
    },
    /// A CRI call or a subprocess did not answer within its deadline.
    #[error("{call} did not finish within {after:?}")]
    Timeout { call: &'static str, after: Duration },
    /// containerd answered something that cannot be used.
    #[error("unexpected answer to {call}: {message}")]
    Unexpected { call: &'static str, message: String },
}

impl CriError {
    /// Whether the runtime said the object does not exist (gRPC `NotFound`).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            CriError::Call {
                code: tonic::Code::NotFound,
                ..
            }
        )
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        CriError::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<CriError> for RuntimeError {
    fn from(e: CriError) -> Self {
        match e {
            // containerd's own words, unwrapped: they become the kubelet's evidence.
            CriError::Call { message, .. } => RuntimeError::Failed(message),
            other => RuntimeError::Failed(podcheck_host::error_chain(&other)),
        }
    }
}
