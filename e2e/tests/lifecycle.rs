//! Clusters of their own: started, run side by side, stopped, killed and swept. What a
//! stopped cluster leaves on the host is checked against what the host had before.

mod common;

use std::path::Path;
use std::time::Duration;

use bp_e2e::node::slot::{self, Addresses};
use bp_e2e::node::{ns, sweep};
use bp_e2e::procs::pid_alive;
use bp_e2e::{Cluster, ClusterOptions};
use common::*;
use serde_json::json;

/// These tests count slots and host resources: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a node may change on the host, read from the host.
#[derive(Debug, PartialEq, Eq)]
struct HostView {
    sysctls: Vec<(String, String)>,
    data_exists: bool,
}

fn host_view() -> HostView {
    HostView {
        sysctls: ns::KUBELET_SYSCTLS
            .iter()
            .map(|s| (s.to_string(), std::fs::read_to_string(Path::new("/proc/sys").join(s)).unwrap()))
            .collect(),
        data_exists: Path::new("/data").exists(),
    }
}

/// Everything of slot `a` that shows on the host.
fn slot_leftovers(a: Addresses) -> Vec<String> {
    let mut left = Vec::new();
    if sweep::netns_exists(a) {
        left.push(format!("netns {}", a.netns()));
    }
    if Path::new("/sys/class/net").join(a.host_veth()).exists() {
        left.push(format!("veth {}", a.host_veth()));
    }
    for h in sweep::hierarchies() {
        if h.join(a.cgroup()).exists() {
            left.push(format!("cgroup {}", h.join(a.cgroup()).display()));
        }
    }
    let procs = sweep::processes(a, "");
    if !procs.is_empty() {
        left.push(format!("processes {procs:?}"));
    }
    if slot::read_owner(a.index).is_some() {
        left.push(format!("owner record of slot {}", a.index));
    }
    left
}

fn busybox_pod(name: &str) -> serde_json::Value {
    json!({"metadata": {"name": name}, "spec": {"containers": [
        {"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]}})
}

async fn running_pod(c: &Cluster, name: &str) -> String {
    let client = c.client().unwrap();
    let ns = c.create_namespace("life").await.unwrap();
    create_pod(&client, &ns, busybox_pod(name)).await;
    let pod = wait_phase(&client, &ns, name, "Running").await;
    pod.status.and_then(|s| s.pod_ip).unwrap()
}

#[tokio::test]
async fn dropping_a_cluster_stops_everything_and_leaves_the_host_as_it_was() {
    let _serial = SERIAL.lock().await;
    let before = host_view();
    // CRDs (and any other YAML) are applied before the controller-manager starts.
    let crds = tempfile::tempdir().unwrap();
    std::fs::write(crds.path().join("widgets.yaml"), WIDGET_CRD).unwrap();
    std::fs::write(crds.path().join("notes.txt"), "not yaml, ignored").unwrap();
    let c = Cluster::start(ClusterOptions { crds_dir: Some(crds.path().to_path_buf()), ..ClusterOptions::default() })
        .await
        .unwrap();
    assert_eq!(c.version(), bp_e2e::paths::kube_version());
    let components = c.component_pids().to_vec();
    let names: Vec<&str> = components.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "node-namespace",
            "containerd",
            "kubelet",
            "kube-proxy"
        ]
    );
    assert!(components.iter().all(|(_, p)| pid_alive(*p)));
    assert!(std::fs::read_to_string(c.kubeconfig_path()).unwrap().contains(c.server()));

    let client = c.client().unwrap();
    let crd_api: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(client.clone());
    let crd = crd_api.get("widgets.example.com").await.unwrap();
    let established = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(established.iter().any(|c| c.type_ == "Established" && c.status == "True"));

    let ip = running_pod(&c, "sleeper").await;
    let addr = c.slot;
    assert!(ip.starts_with(&format!("10.244.{}.", addr.index)), "pod IP {ip} outside the slot's CIDR");
    let containers = sweep::processes(addr, "kubepods");
    assert!(!containers.is_empty(), "the Pod's processes live in the node's cgroup");
    assert_eq!(host_view().sysctls, before.sysctls, "the kubelet's kernel tunables stay inside the node");
    let state = c.state_dir().to_path_buf();

    drop(client);
    drop(c);
    for (name, pid) in components {
        assert!(!pid_alive(pid), "{name} (pid {pid}) survived the drop");
    }
    for pid in containers {
        assert!(!pid_alive(pid), "container process {pid} survived the drop");
    }
    assert_eq!(slot_leftovers(addr), Vec::<String>::new());
    assert!(!state.exists(), "temporary state {} not removed", state.display());
    assert_eq!(host_view(), before);
}

#[tokio::test]
async fn two_clusters_run_side_by_side_without_sharing_anything() {
    let _serial = SERIAL.lock().await;
    let (a, b) = tokio::join!(Cluster::start(ClusterOptions::default()), Cluster::start(ClusterOptions::default()));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.slot, b.slot);
    assert_ne!(a.server(), b.server());
    let (ip_a, ip_b) = tokio::join!(running_pod(&a, "same-name"), running_pod(&b, "same-name"));
    assert!(ip_a.starts_with(&format!("10.244.{}.", a.slot.index)), "{ip_a}");
    assert!(ip_b.starts_with(&format!("10.244.{}.", b.slot.index)), "{ip_b}");
    let (slot_a, slot_b) = (a.slot, b.slot);
    drop(a);
    // The other cluster does not notice.
    let client = b.client().unwrap();
    let ns = b.create_namespace("after").await.unwrap();
    create_pod(&client, &ns, busybox_pod("still")).await;
    wait_phase(&client, &ns, "still", "Running").await;
    drop(client);
    drop(b);
    assert_eq!(slot_leftovers(slot_a), Vec::<String>::new());
    assert_eq!(slot_leftovers(slot_b), Vec::<String>::new());
}

#[tokio::test]
async fn what_a_killed_cluster_left_is_swept_by_the_next_start_and_down_is_idempotent() {
    let _serial = SERIAL.lock().await;
    let before = host_view();
    let state = tempfile::Builder::new().prefix("bp-e2e-killed-").tempdir().unwrap();
    let up = tokio::process::Command::new(bin()).args(["up", "--state"]).arg(state.path()).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(up.status.success(), "bp-e2e up: {stdout}{}", String::from_utf8_lossy(&up.stderr));
    assert!(stdout.lines().last().unwrap().starts_with("export KUBECONFIG="), "{stdout}");
    let (addr, owner) = slot::find(state.path()).expect("up records its slot");

    // A Pod runs; then every process the cluster recorded is killed outright, as when a
    // test process dies: the containers (and their shims) stay behind.
    let kubeconfig = state.path().join("kubeconfig");
    let client = bp_e2e::kubeconfig::client(&kubeconfig).await.unwrap();
    create_pod(&client, "default", busybox_pod("orphan")).await;
    wait_phase(&client, "default", "orphan", "Running").await;
    for r in bp_e2e::procs::read_records(&state.path().join("pids")) {
        bp_e2e::procs::signal_group(r.pid, nix::sys::signal::Signal::SIGKILL);
    }
    let orphans = wait_for(
        "only the containers to be left",
        Duration::from_secs(10),
        async || sweep::processes(addr, "kubepods"),
        |p| (!p.is_empty()).then(|| p.clone()),
    )
    .await;
    assert!(owner.node_dir.exists());

    // The next cluster to start takes a slot left by a dead owner first, and sweeps it.
    let next = Cluster::start(ClusterOptions::default()).await.unwrap();
    assert_eq!(next.slot, addr, "the dead cluster's slot is taken (and swept) first");
    for pid in &orphans {
        assert!(!pid_alive(*pid), "orphaned container process {pid} survived the sweep");
    }
    assert!(!owner.node_dir.exists(), "the dead node's directory is removed");
    drop(next);

    // `down` on the dead cluster's state: nothing left to stop, and says so.
    let down = tokio::process::Command::new(bin()).args(["down", "--state"]).arg(state.path()).output().await.unwrap();
    assert!(down.status.success());
    assert!(String::from_utf8_lossy(&down.stdout).contains("bp-e2e:"), "{down:?}");
    assert_eq!(slot_leftovers(addr), Vec::<String>::new());
    assert_eq!(host_view(), before);
}

#[tokio::test]
async fn a_broken_environment_gets_a_one_line_reason() {
    let _serial = SERIAL.lock().await;
    let err = Cluster::start(ClusterOptions {
        bin_dir: Some("/nonexistent/bp-e2e-bin".into()),
        auto_provision: false,
        ..ClusterOptions::default()
    })
    .await
    .err()
    .expect("no binaries, no cluster");
    let text = format!("{err:#}");
    assert!(text.contains("/nonexistent/bp-e2e-bin") && text.contains("provision.sh"), "{text}");
    let out = tokio::process::Command::new(bin()).args(["up", "--state", "/run/bp-e2e-bad"]).output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("below /run"), "{err}");
}

const WIDGET_CRD: &str = r#"
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

/// Restarting the runtime, the kubelet, etcd and the API server (what the fault test of the
/// operator does): a running container is left alone, and the cluster carries on.
#[tokio::test]
async fn components_restart_and_running_containers_stay() {
    let _serial = SERIAL.lock().await;
    let c = Cluster::start(ClusterOptions::default()).await.unwrap();
    let client = c.client().unwrap();
    let ns = c.create_namespace("restart").await.unwrap();
    create_pod(&client, &ns, busybox_pod("steady")).await;
    let before = wait_phase(&client, &ns, "steady", "Running").await;
    let container = |p: &k8s_openapi::api::core::v1::Pod| {
        let s = container_status(p, "c").unwrap();
        (s.container_id.clone(), s.restart_count)
    };
    let first = container(&before);
    for component in ["containerd", "kubelet", "etcd", "kube-apiserver", "kube-proxy"] {
        c.restart(component).await.unwrap();
        // The API answers again and the node reports Ready.
        wait_for(
            &format!("the node Ready after restarting {component}"),
            Duration::from_secs(90),
            async || {
                kube::Api::<k8s_openapi::api::core::v1::Node>::all(c.client().unwrap()).get(c.node_name()).await.ok()
            },
            |n| {
                let conds = n.as_ref()?.status.as_ref()?.conditions.clone()?;
                conds.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(())
            },
        )
        .await;
        let now = get_pod_retrying(&c, &ns, "steady").await;
        assert_eq!(container(&now), first, "the container survived the restart of {component}");
    }
    // New work still runs.
    let client = c.client().unwrap();
    create_pod(&client, &ns, busybox_pod("after")).await;
    wait_phase(&client, &ns, "after", "Running").await;
    assert!(c.restart("nonexistent").await.is_err());
    assert!(c.restart("node-namespace").await.unwrap_err().to_string().contains("cannot restart"));
}

/// A Pod read through an API server that may still be coming back.
async fn get_pod_retrying(c: &Cluster, ns: &str, name: &str) -> k8s_openapi::api::core::v1::Pod {
    wait_for(
        &format!("pod {ns}/{name} readable"),
        Duration::from_secs(60),
        async || kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(c.client().unwrap(), ns).get(name).await.ok(),
        |p| p.clone(),
    )
    .await
}
