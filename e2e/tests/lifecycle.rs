//! A cluster of its own: started with `Cluster::start`, torn down by drop.

mod common;

use bp_e2e::procs::pid_alive;
use bp_e2e::{Cluster, ClusterOptions};
use common::*;
use serde_json::json;

#[tokio::test]
async fn dropping_a_cluster_stops_every_process_and_removes_its_state() {
    // CRDs (and any other YAML) are applied before the controller-manager starts.
    let crds = tempfile::tempdir().unwrap();
    std::fs::write(crds.path().join("widgets.yaml"), WIDGET_CRD).unwrap();
    std::fs::write(crds.path().join("notes.txt"), "not yaml, ignored").unwrap();
    let c = Cluster::start(ClusterOptions {
        crds_dir: Some(crds.path().to_path_buf()),
        ..ClusterOptions::default().image(TEST_IMAGE, bin_dir()).helper_bin(bin())
    })
    .await
    .unwrap();
    assert_eq!(c.version(), bp_e2e::paths::kube_version());
    let components = c.component_pids().to_vec();
    let names: Vec<&str> = components.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]);
    assert!(components.iter().all(|(_, p)| pid_alive(*p)));
    let kubeconfig = std::fs::read_to_string(c.kubeconfig_path()).unwrap();
    assert!(kubeconfig.contains(c.server()));

    let client = c.client().unwrap();
    let crd_api: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(client.clone());
    let crd = crd_api.get("widgets.example.com").await.unwrap();
    let established = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(established.iter().any(|c| c.type_ == "Established" && c.status == "True"));
    let cm = kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), "default")
        .get("from-crds-dir")
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["k"], "v");

    let ns = c.create_namespace("life").await.unwrap();
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "mixed"},
            "spec": {"containers": [
                {"name": "mapped", "image": TEST_IMAGE, "command": ["bp-e2e", "testproc", "sleep"]},
                {"name": "emulated", "image": "registry.example/db:16", "ports": [{"containerPort": 5432}],
                 "readinessProbe": {"tcpSocket": {"port": 5432}, "periodSeconds": 1}},
            ]},
        }),
    )
    .await;
    wait_for(
        "both containers ready",
        std::time::Duration::from_secs(30),
        async || get_pod(&client, &ns, "mixed").await.unwrap(),
        |p| (condition(p, "Ready") == Some(true)).then_some(()),
    )
    .await;
    let containers = c.container_processes();
    assert_eq!(containers.len(), 2, "{containers:?}");
    assert!(containers.iter().all(|r| r.alive()));
    let state = c.state_dir().to_path_buf();
    assert!(state.join("kubeconfig").is_file());

    drop(client);
    drop(c);
    for (name, pid) in components {
        assert!(!pid_alive(pid), "{name} (pid {pid}) survived the drop");
    }
    for r in containers {
        assert!(!pid_alive(r.pid), "container process {} survived the drop", r.name);
    }
    assert!(!state.exists(), "temporary state {} not removed", state.display());
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
---
apiVersion: v1
kind: ConfigMap
metadata: {name: from-crds-dir, namespace: default}
data: {k: v}
"#;
