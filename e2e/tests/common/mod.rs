//! Shared helpers of the harness's own tests: one cluster per test binary, Pod builders and
//! polling.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use bp_e2e::{Cluster, ClusterOptions};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::PostParams;

/// Debian's busybox, imported into every cluster under the upstream image's name.
pub const BUSYBOX: &str = "docker.io/library/busybox:1.35";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bp-e2e"))
}

pub fn bin_dir() -> PathBuf {
    bin().parent().map(Path::to_path_buf).unwrap()
}

/// This test binary's cluster (started once, stopped at exit).
pub async fn cluster() -> &'static Cluster {
    Cluster::shared(ClusterOptions::default).await.expect("starting the test cluster")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The pinned kubectl (`e2e/tools/versions.env`, installed by `e2e/provision.sh`).
pub fn kubectl_bin() -> PathBuf {
    let path = bp_e2e::paths::kubectl();
    assert!(path.is_file(), "{} is missing: run e2e/provision.sh", path.display());
    path
}

/// Runs kubectl against `cluster`: (exit code, stdout, stderr).
pub async fn kubectl(cluster: &Cluster, args: &[&str]) -> (i32, String, String) {
    let out = cluster.kubectl(args).await.expect("running kubectl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// kubectl that must succeed; its stdout.
pub async fn kubectl_ok(cluster: &Cluster, args: &[&str]) -> String {
    let (code, out, err) = kubectl(cluster, args).await;
    assert_eq!(code, 0, "kubectl {args:?} failed: {err}{out}");
    out
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
        Duration::from_secs(90),
        async || get_pod(client, ns, name).await,
        |p| p.as_ref().filter(|p| phase(p) == want).cloned(),
    )
    .await
}
