//! Probes, emulated containers, restarts and native sidecars on a real control plane.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test]
async fn readiness_waits_for_the_port() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("ready").await.unwrap();
    let port = free_port();
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "slow"},
            "spec": {"containers": [{
                "name": "main",
                "image": TEST_IMAGE,
                "command": ["bp-e2e", "testproc", "listen", "--port", port.to_string(),
                            "--delay-ms", "3000"],
                "readinessProbe": {"httpGet": {"port": port, "path": "/healthz"}, "periodSeconds": 1},
            }]},
        }),
    )
    .await;
    // Running but not Ready while the port is closed...
    let running_at = wait_for(
        "container running",
        Duration::from_secs(30),
        async || get_pod(&client, &ns, "slow").await.unwrap(),
        |p| {
            let s = container_status(p, "main")?;
            s.state.as_ref()?.running.as_ref()?;
            Some((s.ready, condition(p, "Ready"), Instant::now()))
        },
    )
    .await;
    assert!(!running_at.0, "ready before the port listens");
    assert_eq!(running_at.1, Some(false));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    // ...then Ready once it listens.
    let pod = wait_for(
        "Ready",
        Duration::from_secs(30),
        async || get_pod(&client, &ns, "slow").await.unwrap(),
        |p| (condition(p, "Ready") == Some(true)).then(|| p.clone()),
    )
    .await;
    assert!(
        running_at.2.elapsed() >= Duration::from_millis(1500),
        "became Ready {:?} after running, before the 3 s delay could pass",
        running_at.2.elapsed()
    );
    assert!(container_status(&pod, "main").unwrap().ready);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let log = c.container_log(&ns, "slow", "main").unwrap();
    assert!(log.contains("listening on"), "{log}");
}

#[tokio::test]
async fn emulated_containers_sharing_a_port_crash_loop() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("dup").await.unwrap();
    let ctr = |name: &str| {
        json!({
            "name": name,
            "image": "example.com/some/server:1.0",
            "args": ["--serve"],
            "ports": [{"containerPort": 8080}],
            "readinessProbe": {"httpGet": {"port": 8080}, "periodSeconds": 1},
        })
    };
    create_pod(&client, &ns, json!({"metadata": {"name": "dup"}, "spec": {"containers": [ctr("a"), ctr("b")]}})).await;
    let restarts = |p: &k8s_openapi::api::core::v1::Pod| {
        ["a", "b"].map(|n| container_status(p, n).map(|s| s.restart_count).unwrap_or(0))
    };
    let first = wait_for(
        "a restart",
        Duration::from_secs(30),
        async || get_pod(&client, &ns, "dup").await.unwrap(),
        |p| (restarts(p).iter().any(|r| *r >= 1)).then(|| p.clone()),
    )
    .await;
    let [ra, rb] = restarts(&first);
    let (loser, winner, before) = if ra >= 1 { ("a", "b", ra) } else { ("b", "a", rb) };
    let later = wait_for(
        "restart count to grow",
        Duration::from_secs(30),
        async || get_pod(&client, &ns, "dup").await.unwrap(),
        |p| {
            let r = container_status(p, loser)?.restart_count;
            (r >= before + 2).then(|| p.clone())
        },
    )
    .await;
    let l = container_status(&later, loser).unwrap();
    let last = l.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.exit_code, 1, "bind failure exit code: {l:#?}");
    assert!(!l.ready);
    let w = container_status(&later, winner).unwrap();
    assert_eq!(w.restart_count, 0, "the container holding the port keeps running");
    assert!(w.state.as_ref().unwrap().running.is_some());
    assert!(w.ready, "its readiness probe is answered inside the Pod's network namespace");
    assert_eq!(condition(&later, "Ready"), Some(false));
}

#[tokio::test]
async fn native_sidecars_start_in_order_behind_startup_probes() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("sidecar").await.unwrap();
    let (p1, p2) = (free_port(), free_port());
    let sidecar = |name: &str, port: u16, probe: serde_json::Value| {
        json!({
            "name": name,
            "image": TEST_IMAGE,
            "restartPolicy": "Always",
            "command": ["bp-e2e", "testproc", "listen", "--port", port.to_string(), "--delay-ms", "2000"],
            "startupProbe": probe,
        })
    };
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "sidecars"},
            "spec": {
                "initContainers": [
                    sidecar("first", p1, json!({"tcpSocket": {"port": p1}, "periodSeconds": 1, "failureThreshold": 30})),
                    sidecar("second", p2, json!({"httpGet": {"port": p2}, "periodSeconds": 1, "failureThreshold": 30})),
                    {"name": "setup", "image": TEST_IMAGE, "command": ["bp-e2e", "testproc", "exit"]},
                ],
                "containers": [{"name": "main", "image": TEST_IMAGE, "command": ["bp-e2e", "testproc", "sleep"]}],
            },
        }),
    )
    .await;
    // While the first sidecar's startup probe fails, nothing else starts.
    let early = wait_for(
        "first sidecar running",
        Duration::from_secs(30),
        async || get_pod(&client, &ns, "sidecars").await.unwrap(),
        |p| container_status(p, "first")?.state.as_ref()?.running.as_ref().map(|_| p.clone()),
    )
    .await;
    let second = container_status(&early, "second").unwrap();
    assert!(second.state.as_ref().unwrap().running.is_none(), "{second:#?}");
    assert_eq!(container_status(&early, "first").unwrap().started, Some(false));
    assert_eq!(condition(&early, "Initialized"), Some(false));

    let pod = wait_for(
        "Ready",
        Duration::from_secs(60),
        async || get_pod(&client, &ns, "sidecars").await.unwrap(),
        |p| (condition(p, "Ready") == Some(true)).then(|| p.clone()),
    )
    .await;
    let started = |n: &str| {
        container_status(&pod, n)
            .and_then(|s| s.state.as_ref()?.running.as_ref()?.started_at.clone())
            .unwrap_or_else(|| panic!("{n} not running: {pod:#?}"))
            .0
    };
    let (t1, t2, tm) = (started("first"), started("second"), started("main"));
    assert!(t1 < t2, "second started {t2} not after first {t1}");
    assert!(t2 < tm, "main started {tm} not after second {t2}");
    let setup = container_status(&pod, "setup").unwrap();
    assert_eq!(setup.state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 0);
    for n in ["first", "second"] {
        let s = container_status(&pod, n).unwrap();
        assert_eq!((s.started, s.ready, s.restart_count), (Some(true), true, 0), "{s:#?}");
    }
    assert_eq!(phase(&pod), "Running");
}

#[tokio::test]
async fn failing_liveness_probe_restarts_the_container() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("liveness").await.unwrap();
    let (serve, probe) = (free_port(), free_port());
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "sick"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "main",
                    "image": TEST_IMAGE,
                    "command": ["bp-e2e", "testproc", "listen", "--port", serve.to_string()],
                    "livenessProbe": {"tcpSocket": {"port": probe}, "periodSeconds": 1, "failureThreshold": 2},
                }],
            },
        }),
    )
    .await;
    let pod = wait_for(
        "a liveness restart",
        Duration::from_secs(30),
        async || get_pod(&client, &ns, "sick").await.unwrap(),
        |p| (container_status(p, "main")?.restart_count >= 1).then(|| p.clone()),
    )
    .await;
    let s = container_status(&pod, "main").unwrap();
    let last = s.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.exit_code, 143, "killed by SIGTERM: {s:#?}");
    assert_eq!(phase(&pod), "Running");
}

#[tokio::test]
async fn sidecars_stop_when_the_main_container_completes() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("finish").await.unwrap();
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "batch"},
            "spec": {
                "restartPolicy": "Never",
                "initContainers": [{
                    "name": "proxy", "image": "example.com/proxy:1", "restartPolicy": "Always",
                    "ports": [{"containerPort": 15000}],
                    "startupProbe": {"httpGet": {"port": 15000}, "periodSeconds": 1},
                }],
                "containers": [{
                    "name": "main", "image": TEST_IMAGE,
                    "command": ["bp-e2e", "testproc", "exit", "--delay-ms", "500"],
                }],
            },
        }),
    )
    .await;
    let pod = wait_phase(&client, &ns, "batch", "Succeeded").await;
    let proxy = container_status(&pod, "proxy").unwrap();
    assert!(
        proxy.state.as_ref().unwrap().terminated.is_some(),
        "the sidecar is stopped once main completed: {proxy:#?}"
    );
    let main = container_status(&pod, "main").unwrap();
    assert_eq!(main.state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 0);
}

#[tokio::test]
async fn init_container_failure_fails_a_never_restarting_pod() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("initfail").await.unwrap();
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "broken"},
            "spec": {
                "restartPolicy": "Never",
                "initContainers": [
                    {"name": "ok", "image": TEST_IMAGE, "command": ["bp-e2e", "testproc", "exit"]},
                    {"name": "bad", "image": TEST_IMAGE, "command": ["bp-e2e", "testproc", "exit", "--code", "7"]},
                ],
                "containers": [{"name": "main", "image": TEST_IMAGE, "command": ["bp-e2e", "testproc", "sleep"]}],
            },
        }),
    )
    .await;
    let pod = wait_phase(&client, &ns, "broken", "Failed").await;
    let bad = container_status(&pod, "bad").unwrap();
    assert_eq!(bad.state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 7);
    let main = container_status(&pod, "main").unwrap();
    assert!(main.state.as_ref().unwrap().waiting.is_some(), "main never started: {main:#?}");
    assert_eq!(condition(&pod, "Initialized"), Some(false));
}

#[tokio::test]
async fn missing_mapped_binary_is_a_start_error_that_restarts() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("nobin").await.unwrap();
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "nobin"},
            "spec": {"containers": [{"name": "main", "image": TEST_IMAGE, "command": ["no-such-binary"]}]},
        }),
    )
    .await;
    let pod = wait_for(
        "restarts after StartError",
        std::time::Duration::from_secs(30),
        async || get_pod(&client, &ns, "nobin").await.unwrap(),
        |p| (container_status(p, "main")?.restart_count >= 2).then(|| p.clone()),
    )
    .await;
    let s = container_status(&pod, "main").unwrap();
    let last = s.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (128, Some("StartError")));
}

#[tokio::test]
async fn exec_probes_run_in_the_pod_network_namespace() {
    let c = cluster().await;
    let client = c.client().unwrap();
    let ns = c.create_namespace("exec").await.unwrap();
    let probe = |cmd: serde_json::Value| json!({"exec": {"command": cmd}, "periodSeconds": 1});
    create_pod(
        &client,
        &ns,
        json!({
            "metadata": {"name": "exec"},
            "spec": {"containers": [
                // Port 80 is open only inside this Pod's namespace (the emulator of "db").
                {"name": "db", "image": "example.com/db:1", "ports": [{"containerPort": 80}],
                 "readinessProbe": probe(json!(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/80"]))},
                {"name": "never", "image": "example.com/app:1",
                 "readinessProbe": probe(json!(["false"]))},
                {"name": "absent", "image": "example.com/app:1",
                 "readinessProbe": probe(json!(["pg_isready_not_on_this_host"]))},
            ]},
        }),
    )
    .await;
    let pod = wait_for(
        "db and absent ready",
        Duration::from_secs(30),
        async || get_pod(&client, &ns, "exec").await.unwrap(),
        |p| {
            let ready = |n| container_status(p, n).map(|s| s.ready) == Some(true);
            (ready("db") && ready("absent")).then(|| p.clone())
        },
    )
    .await;
    assert!(!container_status(&pod, "never").unwrap().ready);
    assert_eq!(condition(&pod, "Ready"), Some(false));
}
