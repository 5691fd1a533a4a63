//! Scale benchmark (not a test): the operator on the real node of e2e/ (kubelet, containerd),
//! side by side with the direct-apply floor, then the operator alone at 1000 playgrounds.
//!
//! Run: `make bench-scale` (builds release binaries, then `cargo bench -p bp-operator --bench
//! scale`). It starts a cluster of its own, runs the operator as a separate process (release
//! build, watching all namespaces, metrics on a loopback port), and prints four tables and the
//! issue's targets (issue 10), each marked met or missed. Progress goes to stderr.
//!
//! # Environment
//!
//! - `BP_BENCH_SIZES` (default `1,10,100`): the batch sizes N of the first three tables.
//! - `BP_BENCH_FLIPS` (default 20): Pods per batch whose container is killed for the status
//!   latency (at most N; `0` skips it).
//! - `BP_BENCH_IDLE` (default 1000; `0` skips): playgrounds of the operator-only run.
//! - `BP_BENCH_IDLE_WAVE` (default 100): they are created in waves of this many, each once
//!   the previous wave is Deployed (see "Operator only").
//! - `BP_BENCH_LOG` (default `warn`): the operator's `RUST_LOG`;
//!   `warn,kube_client::client::builder=debug` logs every request it sends.
//!
//! # What each figure is and how it is measured
//!
//! Times are taken by the benchmark on arrival of watch events (the devnet Pods, Jobs,
//! ConfigMaps and playgrounds of the batch's namespace, watched from before the first create),
//! so they have millisecond resolution; the API's own timestamps are whole seconds.
//!
//! **Times** (a batch is N playgrounds `pg-0..` created one after another with server-side
//! apply; each time counts from the moment that playground's apply returned):
//! - *Pod created*: the devnet Pod first appears.
//! - *generator Job*: from the moment the Job's `startTime` appears (the Job controller's first
//!   sync) to the moment its `completionTime` appears.
//! - *→ ConfigMap*: from the same start to the moment the generator's output, the
//!   `<name>-podspec` ConfigMap, appears. The playground waits for this much of the generator
//!   only: the Job completes seconds later (its Pod's exit, the kubelet's report, the Job
//!   controller's bookkeeping), while the operator is already creating the Pod.
//! - *Ready*: the playground's `Ready` condition is `True`.
//! - *Ready − generator*: per playground, Ready minus its *→ ConfigMap*: what the operator
//!   takes besides the generator's work, to compare with the floor.
//! - *floor Ready*: the same end state applied by a small client (ConfigMap, Secret, Service,
//!   Pod per playground, server-side apply), from the moment its first apply was sent until the
//!   Pod's `Ready` condition is `True`; on the same node, once the operator's batch is deleted
//!   and gone.
//! - *ratio*: Ready − generator over floor Ready, at p50 (the target) and at p99.
//!
//! **Operator cost**, from the batch's first create until every playground is Ready and its
//! generator Job complete, plus 2 s for trailing requests:
//! - *CPU*: utime + stime of the operator process (`/proc/<pid>/stat`), delta.
//! - *peak RSS*: `VmHWM` of `/proc/<pid>/status`, reset (`clear_refs` 5) at the batch's start.
//! - *requests*: the operator's own `bp_api_requests_total{method}` from its `/metrics`, delta,
//!   per playground and by verb. GET counts every read, including the list and watch requests
//!   of its five watches, each of which reconnects about every 290 s: at N=1 one may fall in
//!   the window.
//! - *reconciles*: `bp_reconcile_duration_seconds_count`, delta, per playground.
//!
//! **Status latency** (issue 10, part 5), once the batch is Ready and measured: in
//! min(N, `BP_BENCH_FLIPS`) Pods, 250 ms apart, the benchmark kills the `beacon` container's
//! process on the node (SIGKILL from the host, which shares the node's PID namespace; the
//! process is found by its container ID in `/proc/*/cgroup`). The kubelet restarts the sidecar,
//! and its readiness probe passes again a second or so later: two readiness changes
//! (true → false → true) per Pod. The Pod watch timestamps each change of that container's
//! `ready` in the Pod's status, the playground watch each change of
//! `.status.serviceStatuses[name=beacon].ready`, both on arrival:
//! - *Pod → playground*: from the Pod's change to the playground's, paired in order per Pod:
//!   the operator's latency (both reach the benchmark through the same API server), which the
//!   target is about.
//! - *node → Pod status* (the false direction only): from the kill to the Pod's change: the
//!   kubelet's part (its PLEG relists every second), for context.
//! - *not shown*: Pod changes the playground's status never showed (coalesced away).
//! - *requests per change*: the operator's requests from the first kill until all are shown
//!   ready again (+ 2 s), over the Pod changes.
//!
//! **Operator only**: `BP_BENCH_IDLE` playgrounds whose devnet Pods carry a nodeSelector no
//! node matches (`spec.placement`): the operator creates them and they stay Pending, never
//! started. Their generator Jobs have no placement and run normally. A fresh operator process,
//! the first one stopped. Figures: *to Deployed* from each playground's own create (it includes
//! its generator Job, queued behind the others in flight); *ConfigMap → Deployed*, the
//! operator's own reaction to the generator's output; *reconcile* p50/p99 interpolated in the
//! operator's `bp_reconcile_duration_seconds` histogram (delta over the run) as Prometheus'
//! `histogram_quantile` does; *CPU* and *requests* over the whole run (to every playground
//! Deployed and every Job complete, + 2 s) divided by N; *peak RSS* is the process's `VmHWM`.
//!
//! Why waves: the node admits at most 250 Pods (`maxPods`); completed Pods do not count (the
//! scheduler's Pod informer drops terminal Pods), so 1000 generator Jobs at once would queue in
//! the scheduler and drain at the node's pace, about 4 generator Pods a second on the 2 cores
//! (measured at 20 and 50 at once). The last of 1000 would finish some 250 to 300 s after the
//! first: inside the Jobs' 600 s `activeDeadlineSeconds`, but with 250 Pods starting at once on
//! 2 cores, untested, and *to Deployed* would then measure that queue, not the operator. Waves
//! of 100 keep each wave's Jobs within half a minute and the operator still holds all N at the
//! end; `BP_BENCH_IDLE_WAVE=1000` creates them all at once.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::pin::pin;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bp_e2e::{Cluster, ClusterOptions};
use bp_generator::api::Placement;
use bp_generator::cluster::{INSTANCE_LABEL, podspec_configmap_name};
use bp_generator::{BuilderPlayground, RenderOptions, render};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

const IMAGE: &str = "ghcr.io/flashbots/builder-playground-operator";
/// The service whose container the status latency measurement kills.
const FLIP_SERVICE: &str = "beacon";
/// Devnet Pods only (the operator's and the floor's); not the generator Jobs' Pods.
const DEVNET_PODS: &str = "app.kubernetes.io/component=devnet";
/// How long a batch (or a wave) may take to become Ready (Deployed).
const TIMEOUT: Duration = Duration::from_secs(900);
/// After the last playground is Ready: time for trailing requests (events, a last status).
const SETTLE: Duration = Duration::from_secs(2);
const FLIP_GAP: Duration = Duration::from_millis(250);

// ---------------------------------------------------------------------------------------------
// The playground

/// A small devnet: three services, start order and httpGet readiness, like l1 without the
/// exec-probed healthmons. The images are the harness's stand-ins; the command lines are ones
/// the clients accept (the engine API's JWT on both sides, the beacon API enabled), so the
/// stand-ins that check them start too.
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
    args: ["node", "--http", "--http.port", '{{Port "http" 8545}}', "--authrpc.port", '{{Port "authrpc" 8551}}',
           "--authrpc.jwtsecret", "/data/jwtsecret"]
    ports: [{name: http, port: 8545}, {name: authrpc, port: 8551}]
    files: [{artifact: jwtsecret, mountPath: /data/jwtsecret}]
    readyCheck: {queryURL: "http://localhost:8545/", interval: 1s, retries: 3}
  - name: beacon
    image: sigp/lighthouse
    tag: v8.1.0
    entrypoint: ["lighthouse"]
    args: ["bn", "--execution-endpoint", '{{Service "el" "authrpc" "http" ""}}', "--execution-jwt", "/data/jwtsecret",
           "--http", "--http-port", '{{Port "http" 3500}}']
    ports: [{name: http, port: 3500}]
    files: [{artifact: jwtsecret, mountPath: /data/jwtsecret}]
    readyCheck: {queryURL: "http://localhost:3500/eth/v1/node/health", interval: 1s, retries: 3}
    dependencies: [{name: el, condition: healthy}]
  - name: validator
    image: sigp/lighthouse
    tag: v8.1.0
    entrypoint: ["lighthouse"]
    args: ["vc", "--beacon-nodes", '{{Service "beacon" "http" "http" ""}}']
    dependencies: [{name: beacon}]
"#,
    )
    .expect("the benchmark's playground parses");
    pg.metadata.name = Some(name.into());
    pg.metadata.namespace = Some(ns.into());
    pg
}

/// The playground with a Pod no node takes: it is created and stays Pending.
fn never_scheduled(mut pg: BuilderPlayground) -> BuilderPlayground {
    let selector = BTreeMap::from([("playground.flashbots.io/bench".to_owned(), "no-such-node".to_owned())]);
    pg.spec.placement = Some(Placement { node_selector: selector, ..Placement::default() });
    pg
}

/// Creates `pg-<i>` for each i of `range` with server-side apply, one after another, shaped by
/// `shape`; returns when each apply returned.
async fn create_playgrounds(
    client: &kube::Client,
    ns: &str,
    range: std::ops::Range<usize>,
    shape: impl Fn(BuilderPlayground) -> BuilderPlayground,
) -> BTreeMap<String, Instant> {
    let api: Api<BuilderPlayground> = Api::namespaced(client.clone(), ns);
    let mut created = BTreeMap::new();
    for i in range {
        let name = format!("pg-{i}");
        let pg = shape(playground(&name, ns));
        api.patch(&name, &PatchParams::apply("bench").force(), &Patch::Apply(&pg)).await.expect("create a playground");
        created.insert(name, Instant::now());
    }
    created
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// p50 and p99 (nearest rank) of `v`.
fn summary(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = |p: f64| {
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    };
    (rank(50.0), rank(99.0))
}

fn pair((p50, p99): (f64, f64)) -> String {
    format!("{p50:.2} / {p99:.2}")
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// Seconds from `from[name]` to `to[name]`, for every name in both.
fn elapsed(from: &BTreeMap<String, Instant>, to: &HashMap<String, Instant>) -> Vec<f64> {
    from.iter().filter_map(|(n, t)| Some(to.get(n)?.saturating_duration_since(*t).as_secs_f64())).collect()
}

// ---------------------------------------------------------------------------------------------
// The operator process and what it says about itself

struct Operator {
    child: Child,
    metrics: String,
}

impl Operator {
    /// Starts the release `bp-operator` against `cluster` and waits until its watches synced.
    async fn start(cluster: &Cluster) -> Operator {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let metrics = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_bp-operator"))
            .args(["--metrics-addr", &metrics, "--generator-image", &format!("{IMAGE}:bench")])
            .env("KUBECONFIG", cluster.kubeconfig_path())
            .env("RUST_LOG", std::env::var("BP_BENCH_LOG").unwrap_or_else(|_| "warn".into()))
            .spawn()
            .expect("starting bp-operator");
        let operator = Operator { child, metrics };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http_get(&operator.metrics, "/readyz").await.starts_with("HTTP/1.1 200") {
            assert!(Instant::now() < deadline, "the operator did not become ready in 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        operator
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts measuring: resets the peak RSS, reads CPU time and metrics.
    async fn meter(&self) -> Meter {
        // "5" resets the peak resident set size (Linux >= 4.0).
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
        Meter { cpu: cpu_seconds(self.pid()), scrape: self.scrape().await }
    }

    /// What the operator used since `meter`.
    async fn usage(&self, since: &Meter) -> Usage {
        Usage {
            cpu_seconds: cpu_seconds(self.pid()) - since.cpu,
            peak_rss_mib: proc_status_kib(self.pid(), "VmHWM:") as f64 / 1024.0,
            metrics: self.scrape().await.minus(&since.scrape),
        }
    }

    async fn scrape(&self) -> Scrape {
        Scrape::parse(&http_get(&self.metrics, "/metrics").await)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 GET on loopback: status line, headers and body.
async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return String::new() };
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(request.as_bytes()).await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    process_cpu_seconds(pid, false)
}

/// utime + stime of a process, in seconds, and with `reaped` those of the children it waited
/// for (cutime + cstime).
fn process_cpu_seconds(pid: u32, reaped: bool) -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok();
        out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start with the state (3rd).
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let field = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    let children = if reaped { field(16) + field(17) } else { 0.0 };
    (field(14) + field(15) + children) / ticks
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// CPU seconds used so far by each part of the machine that a batch keeps busy, so that a
/// batch's time can be put down to the part that bounds it. Processes count with the
/// children they reaped (runc under the shims, iptables under kube-proxy).
#[derive(Clone, Default)]
struct MachineCpu {
    at: Option<Instant>,
    /// Seconds between the two samples of a difference.
    wall: f64,
    parts: BTreeMap<&'static str, f64>,
}

/// The parts, in the order printed.
const PARTS: [&str; 7] = [
    "API server",
    "etcd",
    "scheduler, controllers",
    "kubelet, kube-proxy",
    "containerd, shims",
    "containers",
    "benchmark",
];

impl MachineCpu {
    fn sample(cluster: &Cluster) -> MachineCpu {
        let mut parts: BTreeMap<&'static str, f64> = PARTS.iter().map(|p| (*p, 0.0)).collect();
        let components = cluster.component_pids();
        let part_of = |name: &str| match name {
            "kube-apiserver" => "API server",
            "etcd" => "etcd",
            "kube-scheduler" | "kube-controller-manager" => "scheduler, controllers",
            "kubelet" | "kube-proxy" => "kubelet, kube-proxy",
            _ => "containerd, shims",
        };
        for (name, pid) in components {
            *parts.entry(part_of(name)).or_default() += process_cpu_seconds(*pid as u32, true);
        }
        // The node's own processes not started by the harness: containerd's shims.
        let cgroup = cluster.slot.cgroup();
        let procs =
            std::fs::read_to_string(format!("/sys/fs/cgroup/pids/{cgroup}/system/cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            if !components.iter().any(|(_, p)| *p == pid) {
                *parts.entry("containerd, shims").or_default() += process_cpu_seconds(pid as u32, true);
            }
        }
        // Everything the kubelet runs lives under its cgroup root (cpuacct counts nanoseconds).
        let containers = std::fs::read_to_string(format!("/sys/fs/cgroup/cpuacct/{cgroup}/cpuacct.usage"))
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        parts.insert("containers", containers / 1e9);
        parts.insert("benchmark", process_cpu_seconds(std::process::id(), false));
        MachineCpu { at: Some(Instant::now()), wall: 0.0, parts }
    }

    /// What each part used from `since` to `self`, and the wall time between.
    fn minus(&self, since: &MachineCpu) -> MachineCpu {
        let parts = self.parts.iter().map(|(k, v)| (*k, v - since.parts.get(k).copied().unwrap_or(0.0))).collect();
        let wall = match (self.at, since.at) {
            (Some(a), Some(b)) => a.duration_since(b).as_secs_f64(),
            _ => 0.0,
        };
        MachineCpu { at: None, wall, parts }
    }

    fn total(&self) -> f64 {
        PARTS.iter().filter_map(|p| self.parts.get(p)).sum()
    }
}

/// The operator's series the benchmark reads.
#[derive(Default, Clone)]
struct Scrape {
    /// `bp_api_requests_total` by method.
    requests: BTreeMap<String, f64>,
    /// `bp_reconcile_duration_seconds` buckets: (upper bound, cumulative count).
    reconcile_buckets: Vec<(f64, f64)>,
    reconciles: f64,
}

impl Scrape {
    fn parse(page: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for line in page.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let label = |name: &str| {
                let start = series.find(&format!("{name}=\""))? + name.len() + 2;
                Some(series[start..].split('"').next()?.to_owned())
            };
            if series.starts_with("bp_api_requests_total{") {
                *scrape.requests.entry(label("method").unwrap_or_default()).or_default() += value;
            } else if series.starts_with("bp_reconcile_duration_seconds_bucket{") {
                let le = label("le").and_then(|l| if l == "+Inf" { Some(f64::INFINITY) } else { l.parse().ok() });
                scrape.reconcile_buckets.extend(le.map(|le| (le, value)));
            } else if series == "bp_reconcile_duration_seconds_count" {
                scrape.reconciles = value;
            }
        }
        scrape
    }

    fn minus(&self, before: &Scrape) -> Scrape {
        let requests = self
            .requests
            .iter()
            .map(|(m, v)| (m.clone(), v - before.requests.get(m).copied().unwrap_or(0.0)))
            .collect();
        let reconcile_buckets = self
            .reconcile_buckets
            .iter()
            .map(|&(le, v)| (le, v - before.reconcile_buckets.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1)))
            .collect();
        Scrape { requests, reconcile_buckets, reconciles: self.reconciles - before.reconciles }
    }

    fn requests_total(&self) -> f64 {
        self.requests.values().sum()
    }

    fn requests(&self, method: &str) -> f64 {
        self.requests.get(method).copied().unwrap_or(0.0)
    }

    /// Requests by verb divided by `per`, e.g. "PATCH 1.0 POST 1.0".
    fn verbs(&self, per: f64) -> String {
        let mut out = String::new();
        for (method, n) in self.requests.iter().filter(|(_, n)| **n > 0.0) {
            let _ = write!(out, "{}{method} {:.1}", if out.is_empty() { "" } else { " " }, n / per);
        }
        if out.is_empty() { "none".into() } else { out }
    }

    /// The `q` quantile of the reconcile durations, interpolated within its bucket.
    fn reconcile_quantile(&self, q: f64) -> f64 {
        let Some(&(_, total)) = self.reconcile_buckets.last() else { return f64::NAN };
        if total <= 0.0 {
            return f64::NAN;
        }
        let rank = q * total;
        let mut lower = (0.0, 0.0);
        for &(le, count) in &self.reconcile_buckets {
            if count >= rank {
                if le.is_infinite() {
                    return lower.0;
                }
                let within = if count > lower.1 { (rank - lower.1) / (count - lower.1) } else { 1.0 };
                return lower.0 + (le - lower.0) * within;
            }
            lower = (le, count);
        }
        lower.0
    }
}

/// Where the operator stood when a measurement began.
struct Meter {
    cpu: f64,
    scrape: Scrape,
}

/// What the operator used during a measurement.
struct Usage {
    cpu_seconds: f64,
    peak_rss_mib: f64,
    metrics: Scrape,
}

// ---------------------------------------------------------------------------------------------
// Watching a namespace: what appeared when

/// One readiness change, as a watch delivered it.
#[derive(Clone, Debug)]
struct Change {
    at: Instant,
    name: String,
    ready: bool,
}

/// Readiness per object; a change is recorded once a first value is known.
#[derive(Default)]
struct Changes {
    last: HashMap<String, bool>,
    seen: Vec<Change>,
}

impl Changes {
    fn see(&mut self, name: &str, ready: bool, at: Instant) {
        if self.last.insert(name.to_owned(), ready).is_some_and(|before| before != ready) {
            self.seen.push(Change { at, name: name.to_owned(), ready });
        }
    }
}

/// First arrival of each thing the benchmark times, by playground (= devnet Pod) name.
#[derive(Default)]
struct Observed {
    pod_created: HashMap<String, Instant>,
    pod_ready: HashMap<String, Instant>,
    deployed: HashMap<String, Instant>,
    ready: HashMap<String, Instant>,
    job_started: HashMap<String, Instant>,
    job_completed: HashMap<String, Instant>,
    /// The playground's rendered PodSpec (`<name>-podspec`), the generator's output.
    configmap: HashMap<String, Instant>,
    /// `FLIP_SERVICE`'s container readiness in the Pod's status.
    container: Changes,
    /// `FLIP_SERVICE`'s readiness in the playground's status.
    service: Changes,
}

impl Observed {
    fn pod(&mut self, pod: &Pod, at: Instant) {
        let name = pod.name_any();
        self.pod_created.entry(name.clone()).or_insert(at);
        let status = pod.status.as_ref();
        let conditions = status.and_then(|s| s.conditions.as_ref());
        if conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")) {
            self.pod_ready.entry(name.clone()).or_insert(at);
        }
        let containers = status
            .into_iter()
            .flat_map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()));
        if let Some(cs) = containers.into_iter().find(|cs| cs.name == FLIP_SERVICE) {
            self.container.see(&name, cs.ready, at);
        }
    }

    fn playground(&mut self, pg: &BuilderPlayground, at: Instant) {
        let name = pg.name_any();
        let Some(status) = &pg.status else { return };
        let is = |t: &str| status.conditions.iter().any(|c| c.type_ == t && c.status == "True");
        if is("Deployed") {
            self.deployed.entry(name.clone()).or_insert(at);
        }
        if is("Ready") {
            self.ready.entry(name.clone()).or_insert(at);
        }
        if let Some(service) = status.service(FLIP_SERVICE) {
            self.service.see(&name, service.ready, at);
        }
    }

    fn job(&mut self, job: &Job, at: Instant) {
        let Some(pg) = job.labels().get(INSTANCE_LABEL).cloned() else { return };
        let Some(status) = &job.status else { return };
        if status.start_time.is_some() {
            self.job_started.entry(pg.clone()).or_insert(at);
        }
        let complete = status.conditions.iter().flatten().any(|c| c.type_ == "Complete" && c.status == "True");
        if complete || status.completion_time.is_some() {
            self.job_completed.entry(pg).or_insert(at);
        }
    }

    fn configmap(&mut self, cm: &ConfigMap, at: Instant) {
        if let Some(pg) = cm.name_any().strip_suffix(&podspec_configmap_name("")) {
            self.configmap.entry(pg.to_owned()).or_insert(at);
        }
    }

    /// Per playground: its generator Job's duration (to `completionTime`), in seconds.
    fn generator_seconds(&self) -> HashMap<String, f64> {
        since(&self.job_started, &self.job_completed)
    }

    /// Per playground: from its generator Job's `startTime` to its ConfigMap, in seconds: the
    /// part of the generator the playground waits for.
    fn generator_to_configmap(&self) -> HashMap<String, f64> {
        since(&self.job_started, &self.configmap)
    }

    /// Every playground of `names` Ready (`ready`) or Deployed, and its generator Job complete.
    fn settled<'a>(&self, mut names: impl Iterator<Item = &'a String>, ready: bool) -> bool {
        let reached = if ready { &self.ready } else { &self.deployed };
        names.all(|n| reached.contains_key(n) && self.job_completed.contains_key(n))
    }
}

/// Seconds from `from[name]` to `to[name]`, by name.
fn since(from: &HashMap<String, Instant>, to: &HashMap<String, Instant>) -> HashMap<String, f64> {
    to.iter().filter_map(|(n, t)| Some((n.clone(), t.saturating_duration_since(*from.get(n)?).as_secs_f64()))).collect()
}

/// Watches of one namespace's devnet Pods, Jobs, ConfigMaps and playgrounds, feeding
/// [`Observed`].
struct Observer {
    state: Arc<Mutex<Observed>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Observer {
    /// Starts the watches and waits until each has listed.
    async fn start(client: &kube::Client, ns: &str) -> Observer {
        let state = Arc::new(Mutex::new(Observed::default()));
        let synced = Arc::new(AtomicUsize::new(0));
        let pods = watcher::Config::default().labels(DEVNET_PODS);
        let tasks = vec![
            watch(Api::namespaced(client.clone(), ns), pods, &state, &synced, Observed::pod),
            watch(Api::namespaced(client.clone(), ns), watcher::Config::default(), &state, &synced, Observed::job),
            watch(
                Api::namespaced(client.clone(), ns),
                watcher::Config::default(),
                &state,
                &synced,
                Observed::configmap,
            ),
            watch(
                Api::namespaced(client.clone(), ns),
                watcher::Config::default(),
                &state,
                &synced,
                Observed::playground,
            ),
        ];
        while synced.load(Ordering::Acquire) < tasks.len() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Observer { state, tasks }
    }

    fn read<R>(&self, f: impl FnOnce(&Observed) -> R) -> R {
        f(&self.state.lock().expect("observer state"))
    }

    /// Waits until `done` holds; false after `timeout`.
    async fn wait(&self, timeout: Duration, done: impl Fn(&Observed) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.read(&done) {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

/// A task that watches `api` and hands each object, with its arrival time, to `on`.
fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    state: &Arc<Mutex<Observed>>,
    synced: &Arc<AtomicUsize>,
    on: fn(&mut Observed, &K, Instant),
) -> tokio::task::JoinHandle<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let (state, synced) = (state.clone(), synced.clone());
    tokio::spawn(async move {
        let mut events = pin!(watcher(api, config).default_backoff());
        let mut listed = false;
        while let Some(event) = events.next().await {
            let at = Instant::now();
            match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    on(&mut state.lock().expect("observer state"), &o, at)
                }
                Ok(watcher::Event::InitDone) if !listed => {
                    listed = true;
                    synced.fetch_add(1, Ordering::Release);
                }
                _ => {}
            }
        }
    })
}

/// Deletes a namespace and waits (up to 5 minutes) until it is gone, so that its Pods no
/// longer load the node.
async fn delete_namespace(cluster: &Cluster, client: &kube::Client, ns: &str) {
    let _ = cluster.delete_namespace(ns).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(300);
    while namespaces.get_opt(ns).await.ok().flatten().is_some() {
        if Instant::now() > deadline {
            eprintln!("namespace {ns} still terminating after 5 minutes; going on");
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// One batch through the operator

struct Batch {
    pod_created: (f64, f64),
    generator: (f64, f64),
    to_configmap: (f64, f64),
    ready: (f64, f64),
    ready_minus_generator: (f64, f64),
    usage: Usage,
    /// The machine's CPU from the first create until all are Ready (+ settling).
    machine: MachineCpu,
    latency: Option<Latency>,
}

/// N playgrounds through the operator, to Ready; then the status latency; then deletes them.
async fn operator_batch(cluster: &Cluster, client: &kube::Client, op: &Operator, n: usize) -> Result<Batch, String> {
    let ns = cluster.create_namespace(&format!("bench-{n}")).await.expect("namespace");
    let observer = Observer::start(client, &ns).await;
    let meter = op.meter().await;
    let machine = MachineCpu::sample(cluster);
    let created = create_playgrounds(client, &ns, 0..n, |pg| pg).await;
    if !observer.wait(TIMEOUT, |o| o.settled(created.keys(), true)).await {
        let ready = observer.read(|o| o.ready.len());
        delete_namespace(cluster, client, &ns).await;
        return Err(format!(
            "only {ready}/{n} playgrounds Ready (with their Jobs complete) in {} s",
            TIMEOUT.as_secs()
        ));
    }
    tokio::time::sleep(SETTLE).await;
    let usage = op.usage(&meter).await;
    let machine = MachineCpu::sample(cluster).minus(&machine);
    let (pod_created, generator, to_configmap, ready, ready_minus_generator) = observer.read(|o| {
        let to_configmap = o.generator_to_configmap();
        let minus = created
            .iter()
            .filter_map(|(name, t)| Some(o.ready.get(name)?.duration_since(*t).as_secs_f64() - to_configmap.get(name)?))
            .collect();
        let generator = o.generator_seconds().into_values().collect();
        (
            elapsed(&created, &o.pod_created),
            generator,
            to_configmap.into_values().collect(),
            elapsed(&created, &o.ready),
            minus,
        )
    });
    let latency = status_latency(client, op, &ns, &observer, n).await;
    drop(observer);
    delete_namespace(cluster, client, &ns).await;
    Ok(Batch {
        pod_created: summary(pod_created),
        generator: summary(generator),
        to_configmap: summary(to_configmap),
        ready: summary(ready),
        ready_minus_generator: summary(ready_minus_generator),
        usage,
        machine,
        latency,
    })
}

// ---------------------------------------------------------------------------------------------
// Status latency

struct Latency {
    pods: usize,
    changes: usize,
    node_to_pod: (f64, f64),
    pod_to_status: (f64, f64),
    not_shown: usize,
    requests: Scrape,
}

/// Kills `FLIP_SERVICE`'s process in min(N, `BP_BENCH_FLIPS`) Pods and times how its readiness
/// changes reach the Pod's status and then the playground's (see the module's doc).
async fn status_latency(
    client: &kube::Client,
    op: &Operator,
    ns: &str,
    observer: &Observer,
    n: usize,
) -> Option<Latency> {
    let flips = n.min(env_usize("BP_BENCH_FLIPS", 20));
    if flips == 0 {
        return None;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let before = op.scrape().await;
    let mut killed: Vec<(String, Instant)> = Vec::new();
    for i in 0..flips {
        let name = format!("pg-{i}");
        let pod = pods.get(&name).await.expect("the batch's Pod");
        let Some(pid) = container_id(&pod, FLIP_SERVICE).and_then(|id| host_pid(&id)) else {
            eprintln!("status latency: no process of {ns}/{name}'s {FLIP_SERVICE} container on this host; skipped");
            continue;
        };
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        killed.push((name, Instant::now()));
        tokio::time::sleep(FLIP_GAP).await;
    }
    if killed.is_empty() {
        return None;
    }
    // Back to ready: a false and then a true in the playground's status after the kill.
    let recovered = |o: &Observed, (name, at): &(String, Instant)| {
        let mut after = o.service.seen.iter().filter(|c| &c.name == name && c.at >= *at);
        after.any(|c| !c.ready) && after.any(|c| c.ready)
    };
    if !observer.wait(Duration::from_secs(120), |o| killed.iter().all(|k| recovered(o, k))).await {
        eprintln!("status latency: not every killed container was shown ready again within 120 s");
    }
    tokio::time::sleep(SETTLE).await;
    let requests = op.scrape().await.minus(&before);
    Some(observer.read(|o| {
        let mut node_to_pod = Vec::new();
        let mut pod_to_status = Vec::new();
        let mut changes = 0;
        let mut not_shown = 0;
        for (name, at) in &killed {
            let pod_changes: Vec<&Change> =
                o.container.seen.iter().filter(|c| &c.name == name && c.at >= *at).collect();
            let shown: Vec<&Change> = o.service.seen.iter().filter(|c| &c.name == name && c.at >= *at).collect();
            if let Some(down) = pod_changes.iter().find(|c| !c.ready) {
                node_to_pod.push(down.at.duration_since(*at).as_secs_f64());
            }
            let (matched, missed) = match_changes(&pod_changes, &shown);
            changes += pod_changes.len();
            pod_to_status.extend(matched);
            not_shown += missed;
        }
        Latency {
            pods: killed.len(),
            changes,
            node_to_pod: summary(node_to_pod),
            pod_to_status: summary(pod_to_status),
            not_shown,
            requests,
        }
    }))
}

/// Pairs each change of the Pod with the first later (or at most 100 ms earlier: two watches)
/// change of the playground's status to the same value, in order; returns the latencies and
/// how many Pod changes were never shown.
fn match_changes(pod: &[&Change], status: &[&Change]) -> (Vec<f64>, usize) {
    let mut latencies = Vec::new();
    let mut missed = 0;
    let mut next = 0;
    for change in pod {
        let earliest = change.at.checked_sub(Duration::from_millis(100)).unwrap_or(change.at);
        match status[next..].iter().position(|s| s.ready == change.ready && s.at >= earliest) {
            Some(i) => {
                let shown = status[next + i].at;
                let signed = if shown >= change.at {
                    shown.duration_since(change.at).as_secs_f64()
                } else {
                    -change.at.duration_since(shown).as_secs_f64()
                };
                latencies.push(signed);
                next += i + 1;
            }
            None => missed += 1,
        }
    }
    (latencies, missed)
}

/// The container ID (without `containerd://`) of a container of the Pod.
fn container_id(pod: &Pod, container: &str) -> Option<String> {
    let status = pod.status.as_ref()?;
    let all = status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
    let cs = all.into_iter().find(|cs| cs.name == container)?;
    Some(cs.container_id.as_deref()?.rsplit("://").next()?.to_owned())
}

/// The host PID of a container's first process: the lowest PID whose cgroup path names it.
fn host_pid(container_id: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(container_id)))
        .min()
}

// ---------------------------------------------------------------------------------------------
// The floor

struct Floor {
    ready: (f64, f64),
    requests: usize,
    /// The machine's CPU from the first apply until all Pods are Ready (+ settling).
    machine: MachineCpu,
}

/// The end state applied directly: ConfigMap, Secret, Service and Pod per playground; times
/// each Pod to Ready from its playground's first apply.
async fn floor(cluster: &Cluster, client: &kube::Client, n: usize) -> Result<Floor, String> {
    let ns = cluster.create_namespace(&format!("floor-{n}")).await.expect("namespace");
    let observer = Observer::start(client, &ns).await;
    let params = PatchParams::apply("bench-floor").force();
    let machine = MachineCpu::sample(cluster);
    let mut started = BTreeMap::new();
    let mut requests = 0usize;
    for i in 0..n {
        let name = format!("pg-{i}");
        let pg = playground(&name, &ns);
        let rendered = render(&pg, &RenderOptions::default()).expect("renders");
        let mut pod = bp_generator::podspec::pod(&pg, &rendered);
        pod.metadata.namespace = Some(ns.clone());
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
        started.insert(name.clone(), Instant::now());
        Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .patch(&format!("{name}-podspec"), &params, &Patch::Apply(&cm))
            .await
            .unwrap();
        Api::<Secret>::namespaced(client.clone(), &ns)
            .patch(&format!("{name}-jwt"), &params, &Patch::Apply(&secret))
            .await
            .unwrap();
        Api::<Service>::namespaced(client.clone(), &ns).patch(&name, &params, &Patch::Apply(&svc)).await.unwrap();
        Api::<Pod>::namespaced(client.clone(), &ns).patch(&name, &params, &Patch::Apply(&pod)).await.unwrap();
        requests += 4;
    }
    let all_ready = observer.wait(TIMEOUT, |o| started.keys().all(|k| o.pod_ready.contains_key(k))).await;
    tokio::time::sleep(SETTLE).await;
    let machine = MachineCpu::sample(cluster).minus(&machine);
    let ready = observer.read(|o| elapsed(&started, &o.pod_ready));
    drop(observer);
    delete_namespace(cluster, client, &ns).await;
    if !all_ready {
        return Err(format!("only {}/{n} floor Pods Ready within {} s", ready.len(), TIMEOUT.as_secs()));
    }
    Ok(Floor { ready: summary(ready), requests, machine })
}

// ---------------------------------------------------------------------------------------------
// Operator only

struct Idle {
    n: usize,
    wave: usize,
    deployed: (f64, f64),
    configmap_to_deployed: (f64, f64),
    generator: (f64, f64),
    usage: Usage,
    seconds: f64,
}

/// `n` playgrounds whose Pods are never scheduled, through a fresh operator, in waves.
async fn idle_run(cluster: &Cluster, client: &kube::Client, n: usize, wave: usize) -> Result<Idle, String> {
    let op = Operator::start(cluster).await;
    let ns = cluster.create_namespace(&format!("idle-{n}")).await.expect("namespace");
    let observer = Observer::start(client, &ns).await;
    let meter = op.meter().await;
    let start = Instant::now();
    let mut created = BTreeMap::new();
    for from in (0..n).step_by(wave.max(1)) {
        let batch = create_playgrounds(client, &ns, from..(from + wave).min(n), never_scheduled).await;
        if !observer.wait(TIMEOUT, |o| batch.keys().all(|k| o.deployed.contains_key(k))).await {
            let deployed = observer.read(|o| o.deployed.len());
            return Err(format!("only {deployed} of the first {} playgrounds Deployed", created.len() + batch.len()));
        }
        created.extend(batch);
        progress(&format!("operator only: {}/{n} Deployed", created.len()));
    }
    // The Jobs' completions still reach the operator: part of the cost.
    if !observer.wait(TIMEOUT, |o| o.settled(created.keys(), false)).await {
        eprintln!("operator only: not every generator Job complete in {} s; going on", TIMEOUT.as_secs());
    }
    let seconds = start.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let usage = op.usage(&meter).await;
    let (deployed, configmap_to_deployed, generator) = observer.read(|o| {
        let reaction = since(&o.configmap, &o.deployed).into_values().collect();
        (elapsed(&created, &o.deployed), reaction, o.generator_seconds().into_values().collect())
    });
    drop(observer);
    // The cluster goes with the benchmark: no need to wait for the namespace.
    let _ = cluster.delete_namespace(&ns).await;
    Ok(Idle {
        n,
        wave: wave.min(n),
        deployed: summary(deployed),
        configmap_to_deployed: summary(configmap_to_deployed),
        generator: summary(generator),
        usage,
        seconds,
    })
}

// ---------------------------------------------------------------------------------------------
// Report

/// One batch size: the operator's batch and the floor's.
type Row<'a> = (usize, &'a Result<Batch, String>, &'a Result<Floor, String>);

fn print_times(rows: &[Row]) {
    println!("Times, seconds from create, p50 / p99; generator: from the Job's startTime to its completionTime, and");
    println!("to its ConfigMap (what the playground waits for); Ready − generator subtracts the latter");
    println!(
        "{:>5} | {:>13} | {:>13} | {:>13} | {:>13} | {:>17} | {:>13} | ratio p50 / p99 (p50 ≤ 1.2×)",
        "N", "Pod created", "generator Job", "→ ConfigMap", "Ready", "Ready − generator", "floor Ready"
    );
    for (n, batch, floor) in rows {
        match (batch, floor) {
            (Ok(b), Ok(f)) => {
                let (r50, r99) = (b.ready_minus_generator.0 / f.ready.0, b.ready_minus_generator.1 / f.ready.1);
                println!(
                    "{n:>5} | {:>13} | {:>13} | {:>13} | {:>13} | {:>17} | {:>13} | {r50:.2}× / {r99:.2}× {}",
                    pair(b.pod_created),
                    pair(b.generator),
                    pair(b.to_configmap),
                    pair(b.ready),
                    pair(b.ready_minus_generator),
                    pair(f.ready),
                    met(r50 <= 1.2),
                );
            }
            (b, f) => {
                let errors: Vec<&str> =
                    [b.as_ref().err(), f.as_ref().err()].into_iter().flatten().map(|e| e.as_str()).collect();
                println!("{n:>5} | {}", errors.join("; "));
            }
        }
    }
}

fn print_cost(rows: &[Row]) {
    println!("Operator, from the first create until all are Ready and their Jobs complete, + {} s", SETTLE.as_secs());
    println!(
        "{:>5} | {:>6} | {:>9} | {:>9} | {:>13} | {:>18} | {:>11} | {:<28} | floor req/pg",
        "N", "CPU s", "CPU ms/pg", "peak RSS", "reconciles/pg", "requests/pg ≤ 20", "GET/pg ≤ 2", "requests/pg by verb"
    );
    for (n, batch, floor) in rows {
        let Ok(b) = batch else { continue };
        let per = *n as f64;
        let m = &b.usage.metrics;
        let (total, reads) = (m.requests_total() / per, m.requests("GET") / per);
        println!(
            "{n:>5} | {:>6.2} | {:>9.1} | {:>5.1} MiB | {:>13.1} | {:>11.1} {:<6} | {:>4.1} {:<6} | {:<28} | {}",
            b.usage.cpu_seconds,
            b.usage.cpu_seconds * 1000.0 / per,
            b.usage.peak_rss_mib,
            m.reconciles / per,
            total,
            met(total <= 20.0),
            reads,
            met(reads <= 2.0),
            m.verbs(per),
            floor.as_ref().map_or("-".into(), |f| format!("{:.1}", f.requests as f64 / per)),
        );
    }
}

/// Where the machine's CPU went in each batch, operator and floor: the parts that bound the
/// time to Ready. Capacity is the batch's wall time times the cores.
fn print_machine(rows: &[Row]) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!("Machine CPU seconds per batch, from the first create until all are Ready, + {} s", SETTLE.as_secs());
    let mut header = format!("{:>5} | {:<8} | {:>6}", "N", "run", "wall s");
    for part in PARTS {
        let _ = write!(header, " | {part:>w$}", w = part.len().max(7));
    }
    println!("{header} | {:>8} | {:>7}", "operator", "busy");
    for (n, batch, floor) in rows {
        let runs = [
            ("operator", batch.as_ref().ok().map(|b| (&b.machine, b.usage.cpu_seconds))),
            ("floor", floor.as_ref().ok().map(|f| (&f.machine, 0.0))),
        ];
        for (run, found) in runs {
            let Some((m, operator)) = found else { continue };
            let mut line = format!("{n:>5} | {run:<8} | {:>6.1}", m.wall);
            for part in PARTS {
                let _ = write!(line, " | {:>w$.1}", m.parts.get(part).copied().unwrap_or(0.0), w = part.len().max(7));
            }
            let busy = (m.total() + operator) / (m.wall * cores).max(f64::EPSILON);
            println!("{line} | {operator:>8.1} | {:>6.0}%", busy * 100.0);
        }
    }
}

fn print_latency(rows: &[Row]) {
    println!(
        "Status latency: {FLIP_SERVICE}'s process killed on the node in up to {} Pods, {} ms apart; seconds, p50 / p99",
        env_usize("BP_BENCH_FLIPS", 20),
        FLIP_GAP.as_millis()
    );
    println!(
        "{:>5} | {:>4} | {:>7} | {:>17} | {:>31} | {:>9} | requests per change",
        "N", "Pods", "changes", "node → Pod status", "Pod → playground (p50 ≤ 0.2 s)", "not shown"
    );
    for (n, batch, _) in rows {
        let Ok(Batch { latency: Some(l), .. }) = batch else {
            println!("{n:>5} | not measured");
            continue;
        };
        let per = l.changes.max(1) as f64;
        println!(
            "{n:>5} | {:>4} | {:>7} | {:>17} | {:>24} {:<6} | {:>9} | {:.1} ({})",
            l.pods,
            l.changes,
            pair(l.node_to_pod),
            pair(l.pod_to_status),
            met(l.pod_to_status.0 <= 0.2),
            l.not_shown,
            l.requests.requests_total() / per,
            l.requests.verbs(per),
        );
    }
}

fn print_idle(idle: &Idle) {
    let n = idle.n as f64;
    let m = &idle.usage.metrics;
    let cpu_ms = idle.usage.cpu_seconds * 1000.0 / n;
    println!(
        "Operator only: {} playgrounds whose Pods are never scheduled, created in waves of {}, {:.0} s; p50 / p99",
        idle.n, idle.wave, idle.seconds
    );
    println!(
        "{:>5} | {:>13} | {:>15} | {:>13} | {:>21} | {:>13} | {:>6} | {:>15} | {:>18} | {:>11} | by verb",
        "N",
        "to Deployed s",
        "ConfigMap → Dep",
        "generator Job",
        "reconcile p50 / p99",
        "reconciles/pg",
        "CPU s",
        "CPU ms/pg ≤ 5",
        "peak RSS ≤ 40 MiB",
        "requests/pg",
    );
    println!(
        "{:>5} | {:>13} | {:>15} | {:>13} | {:>21} | {:>13.1} | {:>6.1} | {:>8.2} {:<6} | {:>7.1} MiB {:<6} | {:>11.1} | {}",
        idle.n,
        pair(idle.deployed),
        pair(idle.configmap_to_deployed),
        pair(idle.generator),
        format!("{:.1} / {:.1} ms", m.reconcile_quantile(0.5) * 1e3, m.reconcile_quantile(0.99) * 1e3),
        m.reconciles / n,
        idle.usage.cpu_seconds,
        cpu_ms,
        met(cpu_ms <= 5.0),
        idle.usage.peak_rss_mib,
        met(idle.usage.peak_rss_mib <= 40.0),
        m.requests_total() / n,
        m.verbs(n),
    );
}

fn print_targets(rows: &[Row], idle: Option<&Result<Idle, String>>) {
    let (mut requests, mut reads, mut ratio, mut latency) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (n, batch, floor) in rows {
        let Ok(b) = batch else { continue };
        let total = b.usage.metrics.requests_total() / *n as f64;
        let gets = b.usage.metrics.requests("GET") / *n as f64;
        requests.push(format!("N={n} {total:.1} {}", met(total <= 20.0)));
        reads.push(format!("N={n} {gets:.1} {}", met(gets <= 2.0)));
        if let Ok(f) = floor {
            let r = b.ready_minus_generator.0 / f.ready.0;
            ratio.push(format!("N={n} {r:.2}× {}", met(r <= 1.2)));
        }
        if let Some(l) = &b.latency {
            let ms = l.pod_to_status.0 * 1000.0;
            latency.push(format!("N={n} {ms:.0} ms {}", met(ms <= 200.0)));
        }
    }
    let (rss, cpu) = match idle {
        Some(Ok(i)) => {
            let cpu_ms = i.usage.cpu_seconds * 1000.0 / i.n as f64;
            let at = if i.n == 1000 { String::new() } else { format!(" (at N={}, not 1000)", i.n) };
            let rss = i.usage.peak_rss_mib;
            (
                vec![format!("{rss:.1} MiB {}{at}", met(rss <= 40.0))],
                vec![format!("{cpu_ms:.2} ms {}{at}", met(cpu_ms <= 5.0))],
            )
        }
        Some(Err(e)) => (vec![format!("not measured: {e}")], vec![]),
        None => (vec!["not measured (BP_BENCH_IDLE=0)".to_owned()], vec![]),
    };
    println!("Targets (issue 10)");
    for (target, values) in [
        ("requests per playground, create → Ready ≤ 20", requests),
        ("reads (GET) per playground, create → Ready ≤ 2", reads),
        ("Ready − generator ≤ 1.2× floor Ready (p50)", ratio),
        ("status latency Pod → playground, p50 ≤ 200 ms", latency),
        ("operator peak RSS ≤ 40 MiB at 1000", rss),
        ("operator CPU ≤ 5 ms per playground at 1000", cpu),
    ] {
        let values = if values.is_empty() { "not measured".to_owned() } else { values.join(", ") };
        println!("  {target:<48} {values}");
    }
}

/// A line on stderr with the time since the benchmark started.
fn progress(message: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let since = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[{since:>6.0} s] {message}");
}

// ---------------------------------------------------------------------------------------------

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bp-operator")).parent().expect("a target dir").to_path_buf()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main]
async fn main() {
    progress("starting a cluster");
    let sizes: Vec<usize> = std::env::var("BP_BENCH_SIZES")
        .unwrap_or_else(|_| "1,10,100".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let idle_n = env_usize("BP_BENCH_IDLE", 1000);
    let wave = env_usize("BP_BENCH_IDLE_WAVE", 100).max(1);
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
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let header = format!(
        "Kubernetes {} ({}), one real node (kubelet {}, containerd), {cores} cores, load average {} at start",
        cluster.version(),
        cluster.server(),
        cluster.version(),
        load_average()
    );
    progress(&header);

    let mut results = Vec::new();
    {
        let op = Operator::start(&cluster).await;
        for &n in &sizes {
            progress(&format!("N={n}: operator"));
            let batch = operator_batch(&cluster, &client, &op, n).await;
            progress(&format!("N={n}: floor"));
            let floor = floor(&cluster, &client, n).await;
            match (&batch, &floor) {
                (Ok(b), Ok(f)) => progress(&format!(
                    "N={n}: Ready {} s, Ready − generator {} s, floor Ready {} s, {:.1} requests/pg",
                    pair(b.ready),
                    pair(b.ready_minus_generator),
                    pair(f.ready),
                    b.usage.metrics.requests_total() / n as f64
                )),
                (b, f) => progress(&format!("N={n}: {:?} {:?}", b.as_ref().err(), f.as_ref().err())),
            }
            results.push((n, batch, floor));
        }
    }
    let idle = if idle_n > 0 {
        progress(&format!("operator only: {idle_n} playgrounds, waves of {wave}"));
        Some(idle_run(&cluster, &client, idle_n, wave).await)
    } else {
        None
    };
    progress("done");

    let rows: Vec<Row> = results.iter().map(|(n, b, f)| (*n, b, f)).collect();
    println!("{header}, {} at the end", load_average());
    println!("The operator (release build, its own process) and the floor (the same end state applied directly)");
    println!();
    print_times(&rows);
    println!();
    print_cost(&rows);
    println!();
    print_machine(&rows);
    println!();
    print_latency(&rows);
    println!();
    match &idle {
        Some(Ok(i)) => print_idle(i),
        Some(Err(e)) => println!("Operator only: {e}"),
        None => println!("Operator only: skipped (BP_BENCH_IDLE=0)"),
    }
    println!();
    print_targets(&rows, idle.as_ref());
}
