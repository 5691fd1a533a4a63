//! bp-e2e: a local Kubernetes for tests and demos.
//!
//! It starts a real control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler built from source by `e2e/provision.sh`) on loopback, and a node agent
//! that stands in for the kubelet: it runs containers whose image is mapped to a local
//! binary directory as real processes and emulates every other container with a small
//! process that answers on its declared ports. See `e2e/README.md`.
//!
//! For Rust tests, [`Cluster::start`] (or [`Cluster::shared`]) gives a cluster of its own
//! that is torn down on drop.

pub mod cli;
pub mod cluster;
pub mod controlplane;
pub mod emulate;
pub mod http;
pub mod kubeconfig;
pub mod node;
pub mod paths;
pub mod pki;
pub mod poll;
pub mod procs;
pub mod testproc;

pub use cluster::{Cluster, ClusterOptions};
pub use node::{ImageMapping, NodeCapacity};

/// kube-rs (rustls) needs a process-wide crypto provider; several may be compiled in, so
/// pick ring explicitly. Safe to call many times.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Default log filter of the agent (`BP_E2E_LOG` overrides). kube-client's request-level
/// errors are off: they repeat errors the harness reports itself (and every `/readyz` poll
/// before the API server is up).
pub const DEFAULT_LOG: &str = "info,kube_client::client::builder=off";
