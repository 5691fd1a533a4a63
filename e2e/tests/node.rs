//! The real node: upstream kubelet, containerd, runc and the CNI bridge, checked the way a
//! user would find out (kubectl) and through the API: volumes, exec, logs, port-forward,
//! sidecar start order, one network namespace per Pod, securityContext, Jobs, images, and
//! Pods reaching the API server through the `kubernetes` Service.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

async fn create<K>(client: &kube::Client, ns: &str, value: serde_json::Value) -> K
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let obj: K = serde_json::from_value(value).unwrap();
    Api::<K>::namespaced(client.clone(), ns).create(&PostParams::default(), &obj).await.unwrap()
}

async fn wait_ready(client: &kube::Client, ns: &str, name: &str) -> k8s_openapi::api::core::v1::Pod {
    wait_for(
        &format!("pod {ns}/{name} Ready"),
        Duration::from_secs(90),
        async || get_pod(client, ns, name).await,
        |p| p.as_ref().filter(|p| condition(p, "Ready") == Some(true)).cloned(),
    )
    .await
}

#[tokio::test]
async fn the_node_is_a_kubelet_on_containerd() {
    let c = cluster().await;
    let node = Api::<Node>::all(c.client().unwrap()).get(c.node_name()).await.unwrap();
    let info = node.status.as_ref().and_then(|s| s.node_info.clone()).unwrap();
    assert_eq!(info.kubelet_version, c.version(), "the kubelet is built from the control plane's module");
    assert!(info.container_runtime_version.starts_with("containerd://1."), "{}", info.container_runtime_version);
    let wide = kubectl_ok(c, &["get", "node", "-o", "wide"]).await;
    let row = wide.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with(c.node_name()), "{wide}");
    for want in [" Ready ", c.version(), "containerd://", &c.slot.node_ip().to_string()] {
        assert!(row.contains(want), "`kubectl get node -o wide` lacks {want:?}:\n{wide}");
    }
}

#[tokio::test]
async fn volumes_are_really_mounted_and_exec_and_logs_work() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("volumes").await.unwrap();
    let secret: Secret = create(
        &client,
        &ns,
        json!({"metadata": {"name": "jwt"}, "stringData": {"jwtsecret": "0xfeed", "other": "not mounted"}}),
    )
    .await;
    assert!(secret.metadata.uid.is_some());
    let _: ConfigMap =
        create(&client, &ns, json!({"metadata": {"name": "cfg"}, "data": {"config.yaml": "chain: 1337\n"}})).await;
    let host_dir = format!("/data/bp-e2e-test/{ns}");
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "vols"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {"name": "writer", "image": BUSYBOX,
                     "command": ["sh", "-c", "echo from-writer > /shared/note; echo writer-started; exec sleep 3600"],
                     "volumeMounts": [
                        {"name": "shared", "mountPath": "/shared"},
                        {"name": "host", "mountPath": "/host"}]},
                    {"name": "reader", "image": BUSYBOX, "command": ["sleep", "3600"],
                     "volumeMounts": [
                        {"name": "shared", "mountPath": "/shared"},
                        {"name": "jwt", "mountPath": "/data/jwtsecret", "subPath": "jwtsecret"},
                        {"name": "cfg", "mountPath": "/config"},
                        {"name": "host", "mountPath": "/host"}]},
                ],
                "volumes": [
                    {"name": "shared", "emptyDir": {}},
                    {"name": "jwt", "secret": {"secretName": "jwt"}},
                    {"name": "cfg", "configMap": {"name": "cfg"}},
                    {"name": "host", "hostPath": {"path": host_dir, "type": "DirectoryOrCreate"}},
                ],
            }
        }),
    )
    .await;
    wait_ready(&client, &ns, "vols").await;
    let exec = async |container: &str, script: &str| {
        kubectl_ok(c, &["exec", "-n", &ns, "vols", "-c", container, "--", "sh", "-c", script]).await
    };
    // emptyDir: what one container wrote, the other reads.
    assert_eq!(exec("reader", "cat /shared/note").await, "from-writer\n");
    // Secret through subPath: one file, not the directory.
    assert_eq!(exec("reader", "cat /data/jwtsecret").await, "0xfeed");
    assert_eq!(exec("reader", "test -d /data/jwtsecret && echo dir || echo file").await, "file\n");
    assert_eq!(exec("reader", "cat /config/config.yaml").await, "chain: 1337\n");
    // hostPath DirectoryOrCreate: created on the node, shared by both containers.
    exec("writer", "echo on-the-node > /host/file").await;
    assert_eq!(exec("reader", "cat /host/file").await, "on-the-node\n");
    let on_node = bp_e2e::node::ns::host_path_dir(&c.state_dir().join("node"), "/data")
        .join("bp-e2e-test")
        .join(&ns)
        .join("file");
    assert_eq!(std::fs::read_to_string(&on_node).unwrap(), "on-the-node\n", "{}", on_node.display());
    // kubectl logs
    let logs = kubectl_ok(c, &["logs", "-n", &ns, "vols", "-c", "writer"]).await;
    assert_eq!(logs, "writer-started\n");
    c.delete_namespace(&ns).await.unwrap();
}

#[tokio::test]
async fn port_forward_reaches_a_container() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("forward").await.unwrap();
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "web"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "httpd", "image": BUSYBOX,
                    "command": ["sh", "-c", "mkdir -p /www && echo served-by-httpd > /www/index.html && exec httpd -f -p 8080 -h /www"],
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1}}]
            }
        }),
    )
    .await;
    wait_ready(&client, &ns, "web").await;
    let local = free_port();
    let mut pf = tokio::process::Command::new(kubectl_bin())
        .args(["port-forward", "-n", &ns, "pod/web", &format!("{local}:8080"), "--address", "127.0.0.1"])
        .env("KUBECONFIG", c.kubeconfig_path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let body = wait_for(
        "the page through kubectl port-forward",
        Duration::from_secs(30),
        async || bp_e2e::http::request(([127, 0, 0, 1], local).into(), "GET", "/index.html").await,
        |r| r.as_ref().ok().map(|(_, b)| b).filter(|b| b.contains("served-by-httpd")).cloned(),
    )
    .await;
    assert!(body.contains("served-by-httpd"));
    let _ = pf.kill().await;
    c.delete_namespace(&ns).await.unwrap();
}

#[tokio::test]
async fn a_native_sidecar_gates_the_main_container_behind_its_startup_probe() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("sidecar").await.unwrap();
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "gated"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "initContainers": [{"name": "node", "image": BUSYBOX, "restartPolicy": "Always",
                    "command": ["sh", "-c", "sleep 3; touch /shared/synced; exec sleep 3600"],
                    "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
                    "startupProbe": {"exec": {"command": ["test", "-f", "/shared/synced"]},
                                     "periodSeconds": 1, "failureThreshold": 30}}],
                // Fails at once (and would restart) if it started before the sidecar's probe passed.
                "containers": [{"name": "app", "image": BUSYBOX,
                    "command": ["sh", "-c", "test -f /shared/synced || { echo started-too-early; exit 1; }; exec sleep 3600"],
                    "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}],
                "volumes": [{"name": "shared", "emptyDir": {}}],
            }
        }),
    )
    .await;
    let pod = wait_ready(&client, &ns, "gated").await;
    let app = container_status(&pod, "app").unwrap();
    assert_eq!(app.restart_count, 0, "the app started before the sidecar was started: {app:?}");
    let sidecar = container_status(&pod, "node").unwrap();
    assert_eq!(sidecar.started, Some(true));
    let started = |s: &k8s_openapi::api::core::v1::ContainerStatus| {
        s.state.as_ref().and_then(|st| st.running.as_ref()).and_then(|r| r.started_at.clone()).unwrap().0
    };
    assert!(
        started(app) >= started(sidecar) + jiff_secs(3),
        "app started {:?}, sidecar {:?}: the app must wait for the probe",
        started(app),
        started(sidecar)
    );
    c.delete_namespace(&ns).await.unwrap();
}

fn jiff_secs(n: i64) -> k8s_openapi::jiff::SignedDuration {
    k8s_openapi::jiff::SignedDuration::from_secs(n)
}

#[tokio::test]
async fn containers_of_one_pod_share_one_network_namespace() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("clash").await.unwrap();
    let httpd = |name: &str| {
        // The kubelet keeps the end of a failed container's log as its termination message.
        json!({"name": name, "image": BUSYBOX, "command": ["httpd", "-f", "-p", "9000"],
               "terminationMessagePolicy": "FallbackToLogsOnError"})
    };
    create_pod(
        &client,
        &ns,
        json!({"metadata": {"name": "clash"},
               "spec": {"terminationGracePeriodSeconds": 1, "containers": [httpd("first"), httpd("second")]}}),
    )
    .await;
    let pod = wait_for(
        "one container to fail on the port the other holds",
        Duration::from_secs(90),
        async || get_pod(&client, &ns, "clash").await,
        |p| {
            let p = p.as_ref()?;
            let restarted =
                ["first", "second"].iter().any(|n| container_status(p, n).is_some_and(|s| s.restart_count > 0));
            restarted.then(|| p.clone())
        },
    )
    .await;
    let loser = ["first", "second"].into_iter().find(|n| container_status(&pod, n).unwrap().restart_count > 0).unwrap();
    let last = container_status(&pod, loser).unwrap().last_state.as_ref().and_then(|s| s.terminated.clone()).unwrap();
    assert_eq!(last.exit_code, 1, "{last:?}");
    assert!(last.message.unwrap_or_default().contains("Address already in use"), "{loser}: {pod:#?}");
    c.delete_namespace(&ns).await.unwrap();
}

#[tokio::test]
async fn a_restricted_container_gets_a_read_only_root_and_no_privileges() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("restricted").await.unwrap();
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "locked"},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "probe", "image": BUSYBOX,
                    "command": ["sh", "-c", "id -u; touch /etc/x 2>&1; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; cat /etc/passwd | head -1"],
                    "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                        "capabilities": {"drop": ["ALL"]}}}],
            }
        }),
    )
    .await;
    wait_phase(&client, &ns, "locked", "Succeeded").await;
    let logs = kubectl_ok(c, &["logs", "-n", &ns, "locked"]).await;
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines[0], "65532", "{logs}");
    assert!(logs.contains("Read-only file system"), "{logs}");
    assert!(logs.contains("CapEff:\t0000000000000000"), "{logs}");
    assert!(logs.contains("NoNewPrivs:\t1"), "{logs}");
    assert!(logs.contains("Seccomp:\t2"), "{logs}");
    assert!(logs.contains("root:x:0:0"), "the image's root filesystem is readable: {logs}");
    c.delete_namespace(&ns).await.unwrap();
}

#[tokio::test]
async fn a_job_completes_and_pods_reach_the_api_server_through_the_kubernetes_service() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("job").await.unwrap();
    // Anonymous requests are refused with 403 (or 401) by the API server: any HTTP answer
    // from https://$KUBERNETES_SERVICE_HOST proves the Service routes to it; the token of the
    // Pod's ServiceAccount then gets /version.
    let script = r#"
set -e
echo "service $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"
token=$(cat /var/run/secrets/kubernetes.io/serviceaccount/token)
wget -q -O - --no-check-certificate --header "Authorization: Bearer $token" "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version"
"#;
    let _: Job = create(
        &client,
        &ns,
        json!({
            "metadata": {"name": "reach"},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "reach", "image": BUSYBOX, "command": ["sh", "-c", script]}]}}}
        }),
    )
    .await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let job = wait_for(
        "the Job to finish",
        Duration::from_secs(90),
        async || jobs.get("reach").await.ok(),
        |j| {
            let conds = j.as_ref()?.status.as_ref()?.conditions.clone()?;
            conds.iter().find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True").cloned()
        },
    )
    .await;
    let logs = kubectl_ok(c, &["logs", "-n", &ns, "job/reach"]).await;
    assert_eq!(job.type_, "Complete", "{logs}");
    assert!(logs.contains("service 10.96.0.1:443"), "{logs}");
    assert!(logs.contains(&format!("\"gitVersion\": \"{}\"", c.version())), "{logs}");
    c.delete_namespace(&ns).await.unwrap();
}

#[tokio::test]
async fn images_are_never_pulled_and_a_missing_one_is_a_real_pull_error() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("images").await.unwrap();
    let pod = |name: &str, image: &str, policy: &str| {
        json!({"metadata": {"name": name}, "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            {"name": "c", "image": image, "imagePullPolicy": policy, "command": ["sleep", "3600"]}]}})
    };
    create_pod(&client, &ns, pod("never", "example.invalid/missing:1", "Never")).await;
    create_pod(&client, &ns, pod("ifnotpresent", "example.invalid/missing:1", "IfNotPresent")).await;
    create_pod(&client, &ns, pod("present", BUSYBOX, "Never")).await;
    let waiting = async |name: &str, reasons: &[&str]| {
        wait_for(
            &format!("{name} waiting with one of {reasons:?}"),
            Duration::from_secs(60),
            async || get_pod(&client, &ns, name).await,
            |p| {
                let s = container_status(p.as_ref()?, "c")?;
                let w = s.state.as_ref()?.waiting.as_ref()?;
                reasons.contains(&w.reason.as_deref()?).then(|| w.clone())
            },
        )
        .await
    };
    waiting("never", &["ErrImageNeverPull"]).await;
    let pull = waiting("ifnotpresent", &["ErrImagePull", "ImagePullBackOff"]).await;
    assert!(pull.message.unwrap_or_default().contains("example.invalid/missing:1"));
    wait_ready(&client, &ns, "present").await;
    c.delete_namespace(&ns).await.unwrap();
}
