//! Two replicas of the operator (processes of their own, `--leader-elect`) on a local
//! Kubernetes of their own: one holds the Lease and reconciles, the other serves metrics and
//! health; killing the leader hands over within 15 s, and a playground created meanwhile
//! reaches Ready.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bp_e2e::{Cluster, ClusterOptions};
use bp_generator::BuilderPlayground;
use common::{OPERATOR_IMAGE, example, http_get, metric, target_dir, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};

const LEASE: &str = "builder-playground-operator";

struct Replica {
    name: &'static str,
    metrics: std::net::SocketAddr,
    child: Child,
}

impl Replica {
    fn start(cluster: &Cluster, name: &'static str, log: &std::path::Path) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let metrics: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(target_dir().join("bp-operator"))
            .args(["--leader-elect", "--leader-election-namespace", "default", "--generator-image", OPERATOR_IMAGE])
            .args(["--metrics-addr", &metrics.to_string()])
            .env("KUBECONFIG", cluster.kubeconfig_path())
            .env("POD_NAME", name)
            .env("RUST_LOG", "info,kube_client=off")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting bp-operator");
        Replica { name, metrics, child }
    }

    async fn leader_gauge(&self) -> Option<f64> {
        let (_, page) = http_get(self.metrics, "/metrics").await.ok()?;
        metric(&page, "bp_leader")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn holder(client: &kube::Client) -> Option<String> {
    let lease = Api::<Lease>::namespaced(client.clone(), "default").get_opt(LEASE).await.ok()??;
    lease.spec?.holder_identity
}

async fn apply(client: &kube::Client, pg: &BuilderPlayground) {
    let ns = pg.metadata.namespace.clone().unwrap();
    let api: Api<BuilderPlayground> = Api::namespaced(client.clone(), &ns);
    api.patch(pg.metadata.name.as_deref().unwrap(), &PatchParams::apply("leader-test").force(), &Patch::Apply(pg))
        .await
        .unwrap();
}

async fn wait_ready(client: &kube::Client, ns: &str, name: &str) {
    let api: Api<BuilderPlayground> = Api::namespaced(client.clone(), ns);
    wait_for(
        &format!("{ns}/{name} Ready"),
        Duration::from_secs(120),
        async || api.get_opt(name).await.ok().flatten(),
        |pg| {
            let status = pg.as_ref()?.status.as_ref()?;
            status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_takes_over_within_15_seconds_of_the_leaders_death() {
    let cluster = Cluster::start(ClusterOptions::default().project_tag("e2e")).await.expect("starting the cluster");
    let client = cluster.client().unwrap();
    let ns = cluster.create_namespace("leader").await.unwrap();
    let logs = tempfile::tempdir().unwrap();
    let mut replicas = vec![
        Replica::start(&cluster, "replica-a", &logs.path().join("a.log")),
        Replica::start(&cluster, "replica-b", &logs.path().join("b.log")),
    ];

    let first =
        wait_for("a holder of the Lease", Duration::from_secs(60), async || holder(&client).await, |h| h.clone()).await;
    let leader = replicas.iter().position(|r| r.name == first).expect("one of the two replicas leads");
    let follower = 1 - leader;
    // Both serve health; only the leader reconciles.
    for r in &replicas {
        let healthz = http_get(r.metrics, "/healthz").await.map(|r| r.0);
        let readyz = http_get(r.metrics, "/readyz").await.map(|r| r.0);
        assert_eq!((healthz, readyz), (Ok(200), Ok(200)), "{}", r.name);
    }
    wait_for(
        "the leader's gauge",
        Duration::from_secs(30),
        async || replicas[leader].leader_gauge().await,
        |g| (*g == Some(1.0)).then_some(()),
    )
    .await;
    assert_eq!(replicas[follower].leader_gauge().await, Some(0.0), "the follower does not reconcile");

    apply(&client, &example("examples/l1.yaml", "before", &ns)).await;
    wait_ready(&client, &ns, "before").await;

    // The leader dies; a playground comes meanwhile.
    let killed_at = Instant::now();
    replicas[leader].child.kill().unwrap();
    let _ = replicas[leader].child.wait();
    apply(&client, &example("examples/l1.yaml", "during", &ns)).await;
    let successor = replicas[follower].name;
    wait_for(
        "the follower to hold the Lease",
        Duration::from_secs(30),
        async || holder(&client).await,
        |h| (h.as_deref() == Some(successor)).then_some(()),
    )
    .await;
    let handover = killed_at.elapsed();
    assert!(handover <= Duration::from_secs(15), "handed over after {handover:?}");
    wait_ready(&client, &ns, "during").await;
    assert_eq!(replicas[follower].leader_gauge().await, Some(1.0));
    println!("leader: {first} killed; {successor} held the Lease {:.1}s later", handover.as_secs_f64());
    replicas.clear();
}
