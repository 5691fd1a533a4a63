//! Faults while playgrounds are being created, on a local Kubernetes of its own (real node):
//! the operator (its own process) is SIGKILLed and started again 10 times at random moments,
//! the API server restarted twice, etcd, containerd and the kubelet once. Afterwards every
//! playground is Ready with exactly one generator Job (of its current hash) and one Pod, no
//! JWT Secret was made twice, events stayed bounded, and deleting the playgrounds leaves no
//! child behind. Bounded in time; prints its figures.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bp_e2e::{Cluster, ClusterOptions};
use bp_generator::BuilderPlayground;
use bp_generator::cluster::input_hash;
use common::{OPERATOR_IMAGE, target_dir};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use rand::Rng;

const PLAYGROUNDS: usize = 30;
const OPERATOR_KILLS: usize = 10;
const LIMIT: Duration = Duration::from_secs(420);

/// A Secret's uid and JWT, which a second creation would change.
type SecretIdentity = (Option<String>, Vec<u8>);

/// Three services on busybox (imported into every local cluster): start order behind an
/// httpGet startup probe, readiness, and the JWT Secret mounted.
fn playground(name: &str, ns: &str) -> BuilderPlayground {
    let mut pg: BuilderPlayground = serde_yaml_ng::from_str(
        r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: x}
spec:
  recipe: faults
  services:
  - name: a
    image: docker.io/library/busybox
    tag: "1.35"
    entrypoint: [sh, -c]
    args: ['mkdir -p /tmp/w && echo a > /tmp/w/index.html && exec httpd -f -p {{Port "http" 8080}} -h /tmp/w']
    ports: [{name: http, port: 8080}]
    files: [{artifact: jwtsecret, mountPath: /data/jwtsecret}]
    readyCheck: {queryURL: "http://localhost:8080/", interval: 1s, retries: 30}
  - name: b
    image: docker.io/library/busybox
    tag: "1.35"
    entrypoint: [sh, -c]
    args: ['mkdir -p /tmp/w && echo b > /tmp/w/index.html && exec httpd -f -p {{Port "http" 8080}} -h /tmp/w']
    ports: [{name: http, port: 8080}]
    readyCheck: {queryURL: "http://localhost:8081/", interval: 1s, retries: 30}
    dependencies: [{name: a, condition: healthy}]
  - name: c
    image: docker.io/library/busybox
    tag: "1.35"
    entrypoint: [sh, -c]
    args: ['exec sleep 3600']
    dependencies: [{name: b}]
"#,
    )
    .expect("the test's playground parses");
    pg.metadata.name = Some(name.into());
    pg.metadata.namespace = Some(ns.into());
    pg
}

/// The operator as a process of its own, so that it can be SIGKILLed.
struct Operator {
    child: Child,
    args: Vec<String>,
    kubeconfig: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl Operator {
    fn start(cluster: &Cluster, log: &std::path::Path) -> Operator {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let args = vec![
            "--metrics-addr".to_owned(),
            format!("127.0.0.1:{port}"),
            "--generator-image".into(),
            OPERATOR_IMAGE.into(),
        ];
        let kubeconfig = cluster.kubeconfig_path().to_path_buf();
        let child = Self::spawn(&args, &kubeconfig, log);
        Operator { child, args, kubeconfig, log: log.to_path_buf() }
    }

    fn spawn(args: &[String], kubeconfig: &std::path::Path, log: &std::path::Path) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        Command::new(target_dir().join("bp-operator"))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,kube_client=off")
            .env("LOG_FORMAT", "plain")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting bp-operator")
    }

    /// SIGKILL, then a new process.
    fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(&self.args, &self.kubeconfig, &self.log);
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ready(pg: &BuilderPlayground) -> bool {
    let Some(status) = pg.status.as_ref() else { return false };
    status.observed_generation == pg.metadata.generation
        && status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playgrounds_come_up_through_operator_kills_and_control_plane_restarts() {
    let started = Instant::now();
    let cluster =
        Arc::new(Cluster::start(ClusterOptions::default().project_tag("e2e")).await.expect("starting the cluster"));
    let client = cluster.client().unwrap();
    let ns = cluster.create_namespace("faults").await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let operator = Arc::new(Mutex::new(Operator::start(&cluster, &scratch.path().join("operator.log"))));

    // Every JWT Secret's uid and data, as first seen: a second creation would change them.
    let secrets_seen: Arc<Mutex<BTreeMap<String, SecretIdentity>>> = Arc::default();
    let remade: Arc<Mutex<Vec<String>>> = Arc::default();
    let watcher = {
        let (seen, remade) = (secrets_seen.clone(), remade.clone());
        let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
        let managed = ListParams::default().labels("app.kubernetes.io/managed-by=bp-operator");
        tokio::spawn(async move {
            loop {
                if let Ok(list) = api.list(&managed).await {
                    let mut seen = seen.lock().unwrap();
                    for s in list.items {
                        let name = s.metadata.name.clone().unwrap_or_default();
                        let data = s.data.as_ref().and_then(|d| d.get("jwtsecret")).map(|b| b.0.clone());
                        let now = (s.metadata.uid.clone(), data.unwrap_or_default());
                        if seen.entry(name.clone()).or_insert_with(|| now.clone()) != &now {
                            remade.lock().unwrap().push(name);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    // The faults, at random moments over the first minute, while the playgrounds come.
    let mut faults: Vec<(Duration, &str)> = Vec::new();
    let mut rng = rand::rng();
    for _ in 0..OPERATOR_KILLS {
        faults.push((Duration::from_millis(rng.random_range(0..60_000)), "operator"));
    }
    for component in ["kube-apiserver", "kube-apiserver", "etcd", "containerd", "kubelet"] {
        faults.push((Duration::from_millis(rng.random_range(5_000..60_000)), component));
    }
    faults.sort();
    let chaos = {
        let operator = operator.clone();
        let cluster = cluster.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let mut done = Vec::new();
            for (at, what) in faults {
                tokio::time::sleep(at.saturating_sub(t0.elapsed())).await;
                if what == "operator" {
                    operator.lock().unwrap().kill_and_restart();
                } else {
                    cluster.restart(what).await.expect("restarting a component");
                }
                done.push(format!("{:.1}s {what}", t0.elapsed().as_secs_f64()));
            }
            done
        })
    };

    let playgrounds: Api<BuilderPlayground> = Api::namespaced(client.clone(), &ns);
    for i in 0..PLAYGROUNDS {
        let name = format!("pg-{i}");
        let pg = playground(&name, &ns);
        // Applied through the faults: an API server being restarted refuses for a while.
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(e) =
            playgrounds.patch(&name, &PatchParams::apply("faults-test").force(), &Patch::Apply(&pg)).await
        {
            assert!(Instant::now() < deadline, "cannot create {name}: {e}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1500))).await;
    }
    let faults_done = chaos.await.unwrap();

    // Every playground Ready.
    let deadline = started + LIMIT;
    let all_ready = loop {
        let list = playgrounds.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
        let ready_count = list.iter().filter(|p| ready(p)).count();
        if ready_count == PLAYGROUNDS {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            let not: Vec<String> = list
                .iter()
                .filter(|p| !ready(p))
                .map(|p| {
                    format!(
                        "{}: {:?}",
                        p.metadata.name.clone().unwrap_or_default(),
                        p.status.as_ref().map(|s| &s.conditions)
                    )
                })
                .collect();
            let log = std::fs::read_to_string(scratch.path().join("operator.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "{ready_count}/{PLAYGROUNDS} Ready after {LIMIT:?}; faults {faults_done:?}\nnot ready:\n{}\noperator log (end):\n{}",
                not.join("\n"),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // One Job of the current hash and one Pod each; Secrets never made twice.
    let list = playgrounds.list(&ListParams::default()).await.unwrap().items;
    let jobs = Api::<Job>::namespaced(client.clone(), &ns).list(&ListParams::default()).await.unwrap().items;
    let pods = Api::<Pod>::namespaced(client.clone(), &ns).list(&ListParams::default()).await.unwrap().items;
    for pg in &list {
        let name = pg.metadata.name.clone().unwrap();
        let hash = input_hash(pg);
        let own: Vec<&Job> = jobs
            .iter()
            .filter(|j| j.metadata.labels.as_ref().and_then(|l| l.get("app.kubernetes.io/instance")) == Some(&name))
            .collect();
        assert_eq!(
            own.len(),
            1,
            "{name}: generator Jobs {:?}",
            own.iter().map(|j| j.metadata.name.clone()).collect::<Vec<_>>()
        );
        assert_eq!(
            own[0].metadata.name.as_deref(),
            Some(bp_generator::cluster::generator_job_name(&name, &hash).as_str())
        );
        let devnet = pods.iter().filter(|p| p.metadata.name.as_deref() == Some(name.as_str())).count();
        assert_eq!(devnet, 1, "{name}: one Pod");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    watcher.abort();
    assert_eq!(secrets_seen.lock().unwrap().len(), PLAYGROUNDS, "one JWT Secret per playground");
    assert_eq!(*remade.lock().unwrap(), Vec::<String>::new(), "JWT Secrets made again");
    let events = Api::<Event>::namespaced(client.clone(), &ns).list(&ListParams::default()).await.unwrap().items;
    let operator_events: usize = events
        .iter()
        .filter(|e| e.involved_object.kind.as_deref() == Some("BuilderPlayground"))
        .map(|e| e.count.unwrap_or(1).max(1) as usize)
        .sum();
    assert!(operator_events <= 10 * PLAYGROUNDS, "{operator_events} events on the playgrounds: restarts flooded them");

    // Deleting the playgrounds leaves nothing of theirs.
    playgrounds.delete_collection(&DeleteParams::default(), &ListParams::default()).await.unwrap();
    let managed = ListParams::default().labels("app.kubernetes.io/managed-by=bp-operator");
    let cleanup = Instant::now();
    loop {
        let mut left = Vec::new();
        macro_rules! count {
            ($k:ty) => {
                let n =
                    Api::<$k>::namespaced(client.clone(), &ns).list(&managed).await.map(|l| l.items.len()).unwrap_or(0);
                if n > 0 {
                    left.push(format!("{} {}", n, stringify!($k)));
                }
            };
        }
        count!(Job);
        count!(Pod);
        count!(ConfigMap);
        count!(Secret);
        count!(Service);
        count!(ServiceAccount);
        count!(Role);
        count!(RoleBinding);
        if left.is_empty() && playgrounds.list(&ListParams::default()).await.unwrap().items.is_empty() {
            break;
        }
        assert!(cleanup.elapsed() < Duration::from_secs(120), "left after deleting the playgrounds: {left:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "faults: {PLAYGROUNDS} playgrounds Ready {:.1}s after the start, through {} faults ({}); {operator_events} events on them; cleaned up in {:.1}s",
        all_ready.as_secs_f64(),
        faults_done.len(),
        faults_done.join(", "),
        cleanup.elapsed().as_secs_f64()
    );
    drop(operator);
    drop(cluster);
}
