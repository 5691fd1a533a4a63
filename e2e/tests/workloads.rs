//! Jobs, ServiceAccount RBAC, environment and Pod deletion on a real control plane with
//! the node agent running mapped images as processes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

fn job(name: &str, code: i32) -> Job {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "main",
                    "image": TEST_IMAGE,
                    "command": ["bp-e2e", "testproc", "exit", "--code", code.to_string(),
                                "--delay-ms", "300", "--message", "boom from the job"],
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }],
            }},
        },
    }))
    .unwrap()
}

fn job_condition(j: &Job, ty: &str) -> Option<bool> {
    j.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == ty).map(|c| c.status == "True")
}

async fn run_job(client: &kube::Client, ns: &str, name: &str, code: i32) -> (Job, Pod) {
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    jobs.create(&PostParams::default(), &job(name, code)).await.unwrap();
    let done = wait_for(
        &format!("job {name} to finish"),
        Duration::from_secs(90),
        async || jobs.get(name).await.unwrap(),
        |j| (job_condition(j, "Complete") == Some(true) || job_condition(j, "Failed") == Some(true)).then(|| j.clone()),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let lp = kube::api::ListParams::default().labels(&format!("job-name={name}"));
    let pod = pods.list(&lp).await.unwrap().items.into_iter().next().expect("job pod");
    (done, pod)
}

#[tokio::test]
async fn job_exiting_0_completes() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("job-ok").await.unwrap();
    let (job, pod) = run_job(&client, &ns, "ok", 0).await;
    assert_eq!(job_condition(&job, "Complete"), Some(true), "{job:#?}");
    assert_eq!(job.status.as_ref().unwrap().succeeded, Some(1));
    assert_eq!(phase(&pod), "Succeeded");
    let t = container_status(&pod, "main").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!(t.exit_code, 0);
    assert_eq!(t.reason.as_deref(), Some("Completed"));
    assert_eq!(t.message, None, "no log fallback for a success");
}

#[tokio::test]
async fn job_exiting_3_fails() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("job-fail").await.unwrap();
    let (job, pod) = run_job(&client, &ns, "bad", 3).await;
    assert_eq!(job_condition(&job, "Failed"), Some(true), "{job:#?}");
    assert_ne!(job_condition(&job, "Complete"), Some(true));
    assert_eq!(phase(&pod), "Failed");
    let t = container_status(&pod, "main").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!(t.exit_code, 3);
    assert_eq!(t.reason.as_deref(), Some("Error"));
    let msg = t.message.unwrap_or_default();
    assert!(msg.contains("boom from the job"), "termination message from the log: {msg:?}");
}

#[tokio::test]
async fn service_account_rbac_applies_to_processes() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("rbac").await.unwrap();
    let sa: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "reader"}})).unwrap();
    Api::namespaced(client.clone(), &ns).create(&PostParams::default(), &sa).await.unwrap();
    let pod = |name: &str| {
        json!({
            "metadata": {"name": name},
            "spec": {
                "serviceAccountName": "reader",
                "restartPolicy": "Never",
                "containers": [{
                    "name": "main",
                    "image": TEST_IMAGE,
                    "command": ["bp-e2e", "testproc", "kube-list", "--namespace", ns.clone()],
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }],
            },
        })
    };

    create_pod(&client, &ns, pod("without-role")).await;
    let p = wait_phase(&client, &ns, "without-role", "Failed").await;
    let t = container_status(&p, "main").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!(t.exit_code, 4, "exit 4 means 403: {t:#?}");
    assert!(t.message.unwrap_or_default().contains("forbidden"));

    let role: k8s_openapi::api::rbac::v1::Role = serde_json::from_value(json!({
        "metadata": {"name": "cm-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
    }))
    .unwrap();
    Api::namespaced(client.clone(), &ns).create(&PostParams::default(), &role).await.unwrap();
    let rb: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "cm-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
    }))
    .unwrap();
    Api::namespaced(client.clone(), &ns).create(&PostParams::default(), &rb).await.unwrap();

    create_pod(&client, &ns, pod("with-role")).await;
    let p = wait_phase(&client, &ns, "with-role", "Succeeded").await;
    let t = container_status(&p, "main").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!(t.exit_code, 0);
    let log = c.container_log(&ns, "with-role", "main").unwrap_or_default();
    assert!(log.contains("listed"), "log: {log}");
}

#[tokio::test]
async fn env_sources_and_expansion() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("env").await.unwrap();
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "s"}, "stringData": {"password": "hunter2"}
    }))
    .unwrap();
    Api::namespaced(client.clone(), &ns).create(&PostParams::default(), &secret).await.unwrap();
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "cm"}, "data": {"color": "blue"}
    }))
    .unwrap();
    Api::namespaced(client.clone(), &ns).create(&PostParams::default(), &cm).await.unwrap();
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "env"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "main",
                    "image": TEST_IMAGE,
                    "command": ["bp-e2e", "testproc", "env",
                                "--var", "GREETING", "--var", "POD", "--var", "NS",
                                "--var", "PASS", "--var", "COLOR", "--var", "COMBINED",
                                "--var", "ESCAPED", "--var", "KUBECONFIG",
                                "--", "$(POD)", "$$(POD)", "$(MISSING)"],
                    "env": [
                        {"name": "GREETING", "value": "hello"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
                        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "color"}}},
                        {"name": "COMBINED", "value": "$(GREETING)-$(COLOR)"},
                        {"name": "ESCAPED", "value": "$$(GREETING)"},
                    ],
                }],
            },
        }),
    )
    .await;
    wait_phase(&client, &ns, "env", "Succeeded").await;
    let log = c.container_log(&ns, "env", "main").unwrap();
    for want in [
        "GREETING=hello",
        "POD=env",
        &format!("NS={ns}"),
        "PASS=hunter2",
        "COLOR=blue",
        "COMBINED=hello-blue",
        "ESCAPED=$(GREETING)",
        "ARGS=env|$(POD)|$(MISSING)",
    ] {
        assert!(log.lines().any(|l| l == want), "missing {want:?} in:\n{log}");
    }
    assert!(log.contains("KUBECONFIG=/"), "ServiceAccount kubeconfig: {log}");

    // A missing secret is a CreateContainerConfigError, not a crash.
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "no-secret"},
            "spec": {"containers": [{
                "name": "main", "image": TEST_IMAGE,
                "command": ["bp-e2e", "testproc", "exit"],
                "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}],
            }]},
        }),
    )
    .await;
    let reason = wait_for(
        "CreateContainerConfigError",
        Duration::from_secs(30),
        async || get_pod(&client, &ns, "no-secret").await.unwrap(),
        |p| {
            container_status(p, "main")
                .and_then(|s| s.state.as_ref()?.waiting.as_ref()?.reason.clone())
                .filter(|r| r == "CreateContainerConfigError")
        },
    )
    .await;
    assert_eq!(reason, "CreateContainerConfigError");
}

#[tokio::test]
async fn deleting_a_pod_ends_its_processes() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("delete").await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("pids");
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "sleeper"},
            "spec": {
                "terminationGracePeriodSeconds": 20,
                "containers": [{
                    "name": "main",
                    "image": TEST_IMAGE,
                    "command": ["bp-e2e", "testproc", "sleep", "--children", "2",
                                "--pid-file", pid_file.display().to_string()],
                }],
            },
        }),
    )
    .await;
    wait_phase(&client, &ns, "sleeper", "Running").await;
    let pids: Vec<i32> = wait_for(
        "pid file",
        Duration::from_secs(20),
        async || std::fs::read_to_string(&pid_file).unwrap_or_default(),
        |s| {
            let pids: Vec<i32> = s.lines().filter_map(|l| l.parse().ok()).collect();
            (pids.len() == 3).then_some(pids)
        },
    )
    .await;
    for &pid in &pids {
        assert!(bp_e2e::procs::pid_alive(pid), "pid {pid} should run");
    }

    let started = Instant::now();
    Api::<Pod>::namespaced(client.clone(), &ns).delete("sleeper", &DeleteParams::default()).await.unwrap();
    wait_for(
        "pod object to go",
        Duration::from_secs(30),
        async || get_pod(&client, &ns, "sleeper").await,
        |p| p.is_none().then_some(()),
    )
    .await;
    // SIGTERM ends them at once; no need to wait for the 20 s grace period.
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    for &pid in &pids {
        assert!(!bp_e2e::procs::pid_alive(pid), "pid {pid} (or a child) survived the Pod");
    }
}
