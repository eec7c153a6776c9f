//! gRPC clients for etcd v3 and CRI v1, generated once by tonic-prost-build 0.14 from the
//! `.proto` files shipped in the crates `etcd-client` 0.21.1 and `k8s-cri` 0.11.0 (clients
//! only, comments off) and committed, so that building needs no `protoc`. The generated
//! files are never edited by hand: `regenerate.sh` reproduces them (see README.md).
//!
//! Module paths mirror the protobuf packages, because generated code names the types of
//! other packages by relative paths (`etcdserverpb` uses `super::mvccpb::KeyValue`).

/// etcd v3 API: `etcdserverpb` (KV, Watch, Lease, Cluster, Maintenance, Auth), `mvccpb`,
/// `authpb`, and the option packages `rpc.proto` imports.
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    missing_docs,
    rustdoc::all
)]
pub mod etcd {
    pub mod etcdserverpb {
        include!("etcd/etcdserverpb.rs");
    }
    pub mod mvccpb {
        include!("etcd/mvccpb.rs");
    }
    pub mod authpb {
        include!("etcd/authpb.rs");
    }
    pub mod google {
        pub mod api {
            include!("etcd/google.api.rs");
        }
    }
    pub mod grpc {
        pub mod gateway {
            pub mod protoc_gen_openapiv2 {
                pub mod options {
                    include!("etcd/grpc.gateway.protoc_gen_openapiv2.options.rs");
                }
            }
        }
    }
}

/// Kubernetes CRI v1 (`runtime.v1`): RuntimeService and ImageService.
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    missing_docs,
    rustdoc::all
)]
pub mod cri {
    pub mod v1 {
        include!("cri/runtime.v1.rs");
    }
}
