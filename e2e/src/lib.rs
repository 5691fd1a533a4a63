//! bp-e2e: a local Kubernetes for tests and demos.
//!
//! It starts a real control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler) and a real node (kubelet and kube-proxy, all built from source by
//! `e2e/provision.sh`, with Debian's containerd, runc and CNI plugins) in network and mount
//! namespaces of its own. Images are built here as OCI archives and imported: nothing is
//! pulled. See `e2e/README.md`.
//!
//! For Rust tests, [`Cluster::start`] (or [`Cluster::shared`]) gives a cluster of its own
//! that is torn down on drop.

pub mod cli;
pub mod cluster;
pub mod controlplane;
pub mod http;
pub mod images;
pub mod kubeconfig;
pub mod node;
pub mod paths;
pub mod pki;
pub mod poll;
pub mod procs;

pub use cluster::{Cluster, ClusterOptions};

/// kube-rs (rustls) needs a process-wide crypto provider; several may be compiled in, so
/// pick ring explicitly. Safe to call many times.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Default log filter of the harness (`BP_E2E_LOG` overrides). kube-client's request-level
/// errors are off: they repeat errors the harness reports itself (and every `/readyz` poll
/// before the API server is up).
pub const DEFAULT_LOG: &str = "info,kube_client::client::builder=off";
