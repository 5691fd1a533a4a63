//! Shared helpers of the harness's own tests: one cluster per test binary, Pod builders and
//! polling.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use bp_e2e::{Cluster, ClusterOptions};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::PostParams;

/// The image the tests map to this crate's own binary (its `testproc` subcommands).
pub const TEST_IMAGE: &str = "bp-e2e-test";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bp-e2e"))
}

pub fn bin_dir() -> PathBuf {
    bin().parent().map(Path::to_path_buf).unwrap()
}

/// This test binary's cluster (started once, stopped at exit).
pub async fn cluster() -> &'static Cluster {
    Cluster::shared(|| ClusterOptions::default().image(TEST_IMAGE, bin_dir()).helper_bin(bin()))
        .await
        .expect("starting the test cluster")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub async fn create_pod(client: &kube::Client, ns: &str, pod: serde_json::Value) -> Pod {
    let pod: Pod = serde_json::from_value(pod).unwrap();
    Api::<Pod>::namespaced(client.clone(), ns).create(&PostParams::default(), &pod).await.unwrap()
}

pub use bp_e2e::poll::wait_for;

pub async fn get_pod(client: &kube::Client, ns: &str, name: &str) -> Option<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns).get_opt(name).await.unwrap()
}

pub fn container_status<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let st = pod.status.as_ref()?;
    st.container_statuses.iter().flatten().chain(st.init_container_statuses.iter().flatten()).find(|c| c.name == name)
}

pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

pub fn condition(pod: &Pod, ty: &str) -> Option<bool> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == ty).map(|c| c.status == "True")
}

/// Waits for a Pod to reach phase `want`.
pub async fn wait_phase(client: &kube::Client, ns: &str, name: &str, want: &str) -> Pod {
    wait_for(
        &format!("pod {ns}/{name} phase {want}"),
        Duration::from_secs(60),
        async || get_pod(client, ns, name).await,
        |p| p.as_ref().filter(|p| phase(p) == want).cloned(),
    )
    .await
}
