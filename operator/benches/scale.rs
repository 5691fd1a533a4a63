//! Scale benchmark (not a test): 1, 10 and 100 playgrounds on the local Kubernetes of e2e/.
//!
//! For each batch it prints the time from create to Deployed and to Ready (median, p99), the
//! operator's peak RSS (a separate process; VmHWM, reset between batches) and the API requests
//! per playground from the operator's own `bp_api_requests_total`. Then a small client applies
//! the same end state directly (ConfigMap, Secret, Service, Pod per playground): the floor, and
//! the ratios against it.
//!
//! Run: `make bench-scale` (builds release binaries, then
//! `cargo bench -p bp-operator --bench scale`). `BP_BENCH_SIZES=1,10` picks the batches.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use bp_e2e::{Cluster, ClusterOptions};
use bp_generator::{BuilderPlayground, RenderOptions, render};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};

const IMAGE: &str = "ghcr.io/flashbots/builder-playground-operator";

/// A small devnet: three services, start order and httpGet readiness, like l1 without the
/// exec-probed healthmons. The images are the harness's stand-ins (they listen on the ports
/// their flags name).
fn playground(name: &str, ns: &str) -> BuilderPlayground {
    let mut pg: BuilderPlayground = serde_yaml_ng::from_str(
        r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: x}
spec:
  recipe: bench
  services:
  - name: el
    image: ghcr.io/paradigmxyz/reth
    tag: v1.9.3
    args: ["node", "--http.port", '{{Port "http" 8545}}', "--authrpc.port", '{{Port "authrpc" 8551}}']
    ports: [{name: http, port: 8545}, {name: authrpc, port: 8551}]
    files: [{artifact: jwtsecret, mountPath: /data/jwtsecret}]
    readyCheck: {queryURL: "http://localhost:8545/", interval: 1s, retries: 3}
  - name: beacon
    image: sigp/lighthouse
    tag: v8.1.0
    args: ["bn", "--execution-endpoint", '{{Service "el" "authrpc" "http" ""}}', "--http-port", '{{Port "http" 3500}}']
    ports: [{name: http, port: 3500}]
    readyCheck: {queryURL: "http://localhost:3500/", interval: 1s, retries: 3}
    dependencies: [{name: el, condition: healthy}]
  - name: validator
    image: sigp/lighthouse
    tag: v8.1.0
    args: ["vc", "--beacon-nodes", '{{Service "beacon" "http" "http" ""}}']
    dependencies: [{name: beacon}]
"#,
    )
    .expect("the benchmark's playground parses");
    pg.metadata.name = Some(name.into());
    pg.metadata.namespace = Some(ns.into());
    pg
}

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bp-operator")).parent().expect("a target dir").to_path_buf()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (percentile(&v, 50.0), percentile(&v, 99.0))
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn reset_peak(pid: u32) {
    // "5" resets the peak resident set size (Linux >= 4.0).
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

async fn requests_total(metrics: &str) -> f64 {
    let page = reqwest_get(metrics).await;
    page.lines()
        .filter(|l| l.starts_with("bp_api_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn reqwest_get(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return String::new() };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf).into_owned()
}

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = nix_kill(self.0.id());
        let _ = self.0.wait();
    }
}

fn nix_kill(pid: u32) -> std::io::Result<()> {
    Command::new("kill").arg("-TERM").arg(pid.to_string()).status().map(|_| ())
}

/// Polls the playgrounds of `ns` until every one is Ready; returns (to Deployed, to Ready) in
/// seconds per playground.
async fn wait_operator(client: &kube::Client, ns: &str, created: &BTreeMap<String, Instant>) -> (Vec<f64>, Vec<f64>) {
    let api: Api<BuilderPlayground> = Api::namespaced(client.clone(), ns);
    let mut deployed = BTreeMap::new();
    let mut ready = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(900);
    while ready.len() < created.len() && Instant::now() < deadline {
        let now = Instant::now();
        for pg in api.list(&ListParams::default()).await.expect("list playgrounds").items {
            let name = pg.metadata.name.clone().unwrap_or_default();
            let Some(status) = &pg.status else { continue };
            let is = |t: &str| status.conditions.iter().any(|c| c.type_ == t && c.status == "True");
            if is("Deployed") {
                deployed.entry(name.clone()).or_insert(now);
            }
            if is("Ready") {
                ready.entry(name).or_insert(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready.len(), created.len(), "not every playground became Ready in 15 minutes");
    let secs =
        |m: &BTreeMap<String, Instant>| m.iter().map(|(n, t)| t.duration_since(created[n]).as_secs_f64()).collect();
    (secs(&deployed), secs(&ready))
}

/// The floor: the end state applied directly; returns seconds to Pod Ready per playground.
async fn floor(client: &kube::Client, ns: &str, n: usize) -> (Vec<f64>, usize) {
    let params = PatchParams::apply("bench-floor").force();
    let mut created = BTreeMap::new();
    let mut requests = 0usize;
    for i in 0..n {
        let name = format!("pg-{i}");
        let pg = playground(&name, ns);
        let rendered = render(&pg, &RenderOptions::default()).expect("renders");
        let mut pod = bp_generator::podspec::pod(&pg, &rendered);
        pod.metadata.namespace = Some(ns.into());
        let cm = ConfigMap {
            metadata: kube::api::ObjectMeta { name: Some(format!("{name}-podspec")), ..Default::default() },
            data: Some(BTreeMap::from([("rendered.json".to_owned(), serde_json::to_string(&rendered).unwrap())])),
            ..Default::default()
        };
        let secret = Secret {
            metadata: kube::api::ObjectMeta { name: Some(format!("{name}-jwt")), ..Default::default() },
            string_data: Some(BTreeMap::from([("jwtsecret".to_owned(), "00".repeat(32))])),
            ..Default::default()
        };
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"selector": {"app.kubernetes.io/instance": name}, "ports": [{"name": "el-http", "port": 8545}]}
        }))
        .unwrap();
        Api::<ConfigMap>::namespaced(client.clone(), ns)
            .patch(&format!("{name}-podspec"), &params, &Patch::Apply(&cm))
            .await
            .unwrap();
        Api::<Secret>::namespaced(client.clone(), ns)
            .patch(&format!("{name}-jwt"), &params, &Patch::Apply(&secret))
            .await
            .unwrap();
        Api::<Service>::namespaced(client.clone(), ns).patch(&name, &params, &Patch::Apply(&svc)).await.unwrap();
        Api::<Pod>::namespaced(client.clone(), ns).patch(&name, &params, &Patch::Apply(&pod)).await.unwrap();
        requests += 4;
        created.insert(name, Instant::now());
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut ready = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(900);
    while ready.len() < n && Instant::now() < deadline {
        let now = Instant::now();
        for pod in pods.list(&ListParams::default()).await.unwrap().items {
            let ok = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if ok {
                ready.entry(pod.metadata.name.clone().unwrap()).or_insert(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (ready.iter().map(|(n, t)| t.duration_since(created[n]).as_secs_f64()).collect(), requests)
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("BP_BENCH_SIZES")
        .unwrap_or_else(|_| "1,10,100".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let generator = target_dir().join("bp-generator");
    assert!(generator.exists(), "{} is missing: run `cargo build --release --workspace` first", generator.display());
    // The generator Jobs run the project's image built from these (release) binaries.
    let cluster = Cluster::start(ClusterOptions {
        workspace_bins: Some(target_dir()),
        ..ClusterOptions::default().project_tag("bench")
    })
    .await
    .expect("starting the local cluster");
    let client = cluster.client().expect("client");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics = format!("127.0.0.1:{port}");
    let operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_bp-operator"))
            .args(["--metrics-addr", &metrics, "--generator-image", &format!("{IMAGE}:bench")])
            .env("KUBECONFIG", cluster.kubeconfig_path())
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("starting bp-operator"),
    );
    let pid = operator.0.id();
    while reqwest_get(&metrics).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "Kubernetes {} ({}), a real node (kubelet, containerd), operator pid {pid}, {} cores",
        cluster.version(),
        cluster.server(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "{:>5} | {:>21} | {:>21} | {:>10} | {:>14} | {:>19} | {:>9} | {:>12}",
        "N",
        "to Deployed p50/p99 s",
        "to Ready p50/p99 s",
        "peak RSS",
        "requests/pg",
        "floor Ready p50/p99",
        "floor req",
        "ratio Ready/req"
    );
    for &n in &sizes {
        let ns = cluster.create_namespace(&format!("bench-{n}")).await.expect("namespace");
        reset_peak(pid);
        let before = requests_total(&metrics).await;
        let mut created = BTreeMap::new();
        for i in 0..n {
            let name = format!("pg-{i}");
            let api: Api<BuilderPlayground> = Api::namespaced(client.clone(), &ns);
            api.patch(&name, &PatchParams::apply("bench").force(), &Patch::Apply(&playground(&name, &ns)))
                .await
                .expect("create");
            created.insert(name, Instant::now());
        }
        let (deployed, ready) = wait_operator(&client, &ns, &created).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let per_pg = (requests_total(&metrics).await - before) / n as f64;
        let rss_mib = vm_hwm_kib(pid) as f64 / 1024.0;
        let floor_ns = cluster.create_namespace(&format!("floor-{n}")).await.expect("namespace");
        let (floor_ready, floor_requests) = floor(&client, &floor_ns, n).await;
        let (d50, d99) = summary(deployed);
        let (r50, r99) = summary(ready);
        let (f50, f99) = summary(floor_ready);
        let floor_per_pg = floor_requests as f64 / n as f64;
        println!(
            "{n:>5} | {:>21} | {:>21} | {:>7.1} MiB | {:>14.1} | {:>19} | {:>9.1} | {:>5.2} / {:>4.1}",
            format!("{d50:.2} / {d99:.2}"),
            format!("{r50:.2} / {r99:.2}"),
            rss_mib,
            per_pg,
            format!("{f50:.2} / {f99:.2}"),
            floor_per_pg,
            r50 / f50,
            per_pg / floor_per_pg,
        );
        let _ = cluster.delete_namespace(&ns).await;
        let _ = cluster.delete_namespace(&floor_ns).await;
    }
    drop(operator);
}
