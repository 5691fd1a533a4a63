//! `spec.monitoring` and the chart's Grafana dashboard, end to end on the local Kubernetes of
//! e2e/, with Debian's Prometheus run by hand on loopback:
//!
//! - The OP stack example with `monitoring` reaches Ready while the cluster has no PodMonitor
//!   kind, and says so (`Monitored=False`, reason `PodMonitorCRDMissing`, a Warning event).
//!   Once prometheus-operator's own CRDs are installed (from its Go module, by
//!   e2e/provision.sh), the operator finds the kind without a restart and applies a PodMonitor
//!   the API server accepts against that CRD's schema.
//! - prometheus-operator itself (its `operator` built from its Go module by e2e/provision.sh,
//!   run on the host against the test cluster) turns that PodMonitor into the scrape jobs of a
//!   `Prometheus` that selects it; Debian's Prometheus runs exactly those jobs and scrapes the
//!   stand-ins' metrics ports: reth's and op-node's on /metrics, op-geth's on its
//!   `metrics_path` (the stand-in answers 404 anywhere else), each target up and its series
//!   labelled with the playground and the service. Debian's Prometheus is built without
//!   Kubernetes discovery, so the test **stands in for that discovery** only: the jobs'
//!   `kubernetes_sd_configs` (role pod, the namespace) become a file of the targets it would
//!   list, every container port of every Pod of the namespace, from the API server.
//! - Every query of every panel of the chart's dashboard runs against that Prometheus, which
//!   also scrapes the operator's own /metrics: each parses and returns data, and every metric
//!   it names is one the operator serves; `promtool check metrics` accepts the page.
//! - Switching monitoring off removes the PodMonitor and the condition, and keeps the Pod.

mod common;
#[path = "monitoring/prom.rs"]
mod prom;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use bp_generator::api::MonitoringSpec;
use common::*;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use prom::Prometheus;
use serde_json::{Value, json};

const NAME: &str = "op";
const READY_TIMEOUT: Duration = Duration::from_secs(180);
const VERSIONS: &str = include_str!("../../e2e/tools/versions.env");

fn version(key: &str) -> String {
    VERSIONS
        .lines()
        .filter_map(|l| l.trim().split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
        .unwrap_or_else(|| panic!("e2e/tools/versions.env has no {key}"))
}

/// prometheus-operator's PodMonitor CRD, where e2e/provision.sh put it (its checksum pinned).
fn podmonitor_crd() -> CustomResourceDefinition {
    let file = PathBuf::from(version("PODMONITOR_CRD_PATH")).file_name().unwrap().to_owned();
    let path = prometheus_operator_dir().join("crds").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: run `bash e2e/provision.sh` (or `make provision`)", path.display()));
    serde_yaml_ng::from_str(&text).unwrap()
}

fn podmonitors(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PodMonitor"),
        "podmonitors",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// The global settings and the operator's own scrape job, then `jobs`.
fn config(operator: std::net::SocketAddr, jobs: &[Value]) -> String {
    let mut scrape = vec![json!({
        "job_name": "bp-operator",
        "static_configs": [{"targets": [operator.to_string()]}],
    })];
    scrape.extend(jobs.iter().cloned());
    let config = json!({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": scrape,
    });
    // JSON is YAML.
    serde_json::to_string_pretty(&config).unwrap()
}

/// A Kubernetes label name as Prometheus' Kubernetes discovery writes it in meta labels.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// Stand-in for Kubernetes discovery with role pod: one target per container port of each
/// Pod, with the meta labels Prometheus gives it.
fn discovered(pods: &[Pod]) -> Vec<Value> {
    let mut groups = Vec::new();
    for pod in pods {
        let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.clone()) else { continue };
        let mut common = BTreeMap::from([
            ("__meta_kubernetes_namespace".to_owned(), pod.metadata.namespace.clone().unwrap_or_default()),
            ("__meta_kubernetes_pod_name".to_owned(), pod.metadata.name.clone().unwrap_or_default()),
            ("__meta_kubernetes_pod_ip".to_owned(), ip.clone()),
            (
                "__meta_kubernetes_pod_phase".to_owned(),
                pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default(),
            ),
        ]);
        for (k, v) in pod.metadata.labels.iter().flatten() {
            common.insert(format!("__meta_kubernetes_pod_label_{}", sanitize(k)), v.clone());
            common.insert(format!("__meta_kubernetes_pod_labelpresent_{}", sanitize(k)), "true".into());
        }
        let spec = pod.spec.clone().unwrap_or_default();
        let init = spec.init_containers.iter().flatten().map(|c| (c, true));
        for (c, is_init) in init.chain(spec.containers.iter().map(|c| (c, false))) {
            for port in c.ports.iter().flatten() {
                let mut labels = common.clone();
                labels.insert("__meta_kubernetes_pod_container_name".into(), c.name.clone());
                labels.insert("__meta_kubernetes_pod_container_init".into(), is_init.to_string());
                labels
                    .insert("__meta_kubernetes_pod_container_port_name".into(), port.name.clone().unwrap_or_default());
                labels.insert("__meta_kubernetes_pod_container_port_number".into(), port.container_port.to_string());
                labels.insert(
                    "__meta_kubernetes_pod_container_port_protocol".into(),
                    port.protocol.clone().unwrap_or_else(|| "TCP".into()),
                );
                groups.push(json!({"targets": [format!("{ip}:{}", port.container_port)], "labels": labels}));
            }
        }
    }
    groups
}

/// Where e2e/provision.sh put prometheus-operator (its `operator` binary, built from its Go
/// module) and its CRDs (`crds/`, from the same module).
fn prometheus_operator_dir() -> PathBuf {
    bp_e2e::paths::cache_root()
        .join("tools")
        .join(format!("prometheus-operator-{}", version("PROMETHEUS_OPERATOR_VERSION")))
}

/// prometheus-operator's CRDs (PodMonitor, Prometheus, ServiceMonitor, ...).
fn prometheus_operator_crds() -> Vec<CustomResourceDefinition> {
    let dir = prometheus_operator_dir().join("crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run `bash e2e/provision.sh` (or `make provision`)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files.iter().map(|f| serde_yaml_ng::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()).collect()
}

/// prometheus-operator itself, run on the host with the test cluster's admin kubeconfig and
/// watching one namespace (its web server on loopback); killed by its PID when dropped.
struct PrometheusOperator {
    child: std::process::Child,
    log: PathBuf,
}

impl PrometheusOperator {
    fn start(kubeconfig: &std::path::Path, ns: &str, dir: &std::path::Path) -> PrometheusOperator {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join("prometheus-operator.log");
        let out = std::fs::File::create(&log).unwrap();
        let bin = prometheus_operator_dir().join("operator");
        let child = std::process::Command::new(&bin)
            .env("KUBECONFIG", kubeconfig)
            .arg(format!("--namespaces={ns}"))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log-level=info")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}: run `bash e2e/provision.sh`", bin.display()));
        PrometheusOperator { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PrometheusOperator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `gzip -dc` of `data`.
async fn gunzip(data: &[u8]) -> String {
    use tokio::io::AsyncWriteExt;
    let mut gzip = tokio::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = gzip.stdin.take().unwrap();
    stdin.write_all(data).await.unwrap();
    drop(stdin);
    let out = gzip.wait_with_output().await.unwrap();
    assert!(out.status.success(), "gzip -dc");
    String::from_utf8(out.stdout).unwrap()
}

/// The scrape jobs prometheus-operator generates from the playground's PodMonitor, for a
/// `Prometheus` of this namespace (Prometheus v2.42, Debian's) that selects PodMonitors
/// labelled `release: e2e`: read from the config Secret it writes (its Pods need not run), with
/// `$(SHARD)` expanded as its config-reloader does.
/// Their Kubernetes discovery (role pod, this namespace) becomes `targets_file`, which the
/// test fills from the API server: Debian's Prometheus is built without Kubernetes discovery.
async fn generated_jobs(
    client: &kube::Client,
    ns: &str,
    operator: &PrometheusOperator,
    targets_file: &std::path::Path,
) -> Vec<Value> {
    let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "Prometheus");
    let prometheuses: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, "prometheuses"));
    let mut prometheus = DynamicObject::new("e2e", &ApiResource::from_gvk_with_plural(&gvk, "prometheuses"));
    prometheus.data = json!({"spec": {
        "version": "v2.42.0",
        "replicas": 0,
        "scrapeInterval": "1s",
        "podMonitorSelector": {"matchLabels": {"release": "e2e"}},
    }});
    prometheuses.create(&PostParams::default(), &prometheus).await.unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    let mut last = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let config = loop {
        if let Some(gz) = secrets
            .get_opt("prometheus-e2e")
            .await
            .unwrap()
            .and_then(|s| s.data)
            .and_then(|d| d.get("prometheus.yaml.gz").cloned())
        {
            last = gunzip(&gz.0).await;
            if last.contains(&format!("podMonitor/{ns}/{NAME}/")) {
                break last;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "prometheus-operator wrote no scrape job of the PodMonitor; last config:\n{last}\nits log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // In a Prometheus Pod, prometheus-operator's config-reloader expands `$(SHARD)` (the Pod's
    // shard: 0 of 1 here) before Prometheus reads the file: so does the test.
    assert!(config.contains("$(SHARD)"), "the sharding rule the reloader completes");
    let config: Value = serde_yaml_ng::from_str(&config.replace("$(SHARD)", "0")).unwrap();
    let mut jobs = Vec::new();
    for job in config["scrape_configs"].as_array().unwrap() {
        if !job["job_name"].as_str().is_some_and(|j| j.starts_with("podMonitor/")) {
            continue;
        }
        let mut job = job.clone();
        let sd = job.as_object_mut().unwrap().remove("kubernetes_sd_configs").expect("Kubernetes discovery");
        assert_eq!(
            sd,
            json!([{"role": "pod", "namespaces": {"names": [ns]}}]),
            "the discovery the test stands in for: {job}"
        );
        job["file_sd_configs"] = json!([{"files": [targets_file.display().to_string()], "refresh_interval": "1s"}]);
        jobs.push(job);
    }
    jobs
}

/// The `expr` of every target of every panel (rows' panels too), with the panel's title.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((p["title"].as_str().unwrap_or("?").to_owned(), t["expr"].as_str().unwrap().to_owned()));
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// A dashboard query as Grafana sends it with every variable at "All" over a window covering
/// this test (Grafana's `$__rate_interval` is at least four scrape intervals; the test's
/// series begin with it).
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "10m")
        .replace("$namespace", ".*")
        .replace("$playground", ".*")
        .replace("$job", ".*")
}

/// Names of the series a query reads (`bp_…`, `process_…`, `up`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while !rest.is_empty() {
        let start = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_').unwrap_or(rest.len());
        rest = &rest[start..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
        let word = &rest[..end];
        let next = rest[end..].trim_start().chars().next();
        // A series name is followed by its selector or range, or ends an aggregation.
        if (word.starts_with("bp_") || word.starts_with("process_") || word == "up")
            && matches!(next, Some('{' | '[' | ')') | None)
        {
            names.insert(word.to_owned());
        }
        rest = &rest[end..];
    }
    names
}

/// The families a /metrics page declares (`# TYPE name kind`), histograms with their series.
fn served(page: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in page.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else { continue };
        names.insert(name.to_owned());
        if kind == "histogram" || kind == "summary" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

fn finite(sample: &Value) -> bool {
    sample["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(f64::is_finite)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_devnets_metrics_through_its_podmonitor_and_the_dashboards_queries() {
    let env = env().await;
    let client = client().await;

    // Prometheus scrapes the operator from the start, so that the rates and histograms of
    // what follows have samples on both sides.
    let prometheus = Prometheus::start(&config(env.metrics, &[]));
    wait_for(
        "Prometheus scraping the operator",
        Duration::from_secs(60),
        async || prometheus.query(r#"up{job="bp-operator"}"#).await,
        |r| r.as_ref().ok().filter(|r| r.iter().any(|s| s["value"][1] == "1")).map(|_| ()),
    )
    .await;
    let page = metrics_page().await;
    let mut check = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (run e2e/provision.sh)");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = check.stdin.take().unwrap();
        stdin.write_all(page.as_bytes()).await.unwrap();
    }
    let out = check.wait_with_output().await.unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{page}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // --- Without the PodMonitor kind: the devnet runs, the condition says why it is not scraped.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = podmonitor_crd();
    let crd_name = crd.metadata.name.clone().unwrap();
    assert!(crds.get_opt(&crd_name).await.unwrap().is_none(), "the test cluster starts without {crd_name}");
    let ns = env.cluster.create_namespace("monitored").await.unwrap();
    let mut pg = example("examples/opstack.yaml", NAME, &ns);
    pg.spec.monitoring = Some(MonitoringSpec {
        labels: BTreeMap::from([("release".to_owned(), "e2e".to_owned())]),
        interval: Some("2s".into()),
        ..Default::default()
    });
    apply(&client, &pg).await;
    let ready = wait_condition(&client, &ns, NAME, "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let pod_uid = pod(&client, &ns, NAME).await.unwrap().metadata.uid;
    let missing =
        wait_condition(&client, &ns, NAME, "Monitored", "False", Some("PodMonitorCRDMissing"), Duration::from_secs(30))
            .await;
    assert!(condition(&missing, "Monitored").unwrap().message.contains("monitoring.coreos.com/v1"));
    assert_eq!(condition(&missing, "Ready").unwrap().status, "True", "an unmonitored devnet is ready all the same");
    wait_for(
        "a Warning event PodMonitorCRDMissing",
        Duration::from_secs(30),
        async || events(&client, &ns).await,
        |evs| {
            evs.iter()
                .any(|e| e.reason.as_deref() == Some("PodMonitorCRDMissing") && e.type_.as_deref() == Some("Warning"))
                .then_some(())
        },
    )
    .await;

    // --- The CRDs arrive: the operator notices without a restart and applies the PodMonitor.
    let all_crds = prometheus_operator_crds();
    assert!(
        all_crds.iter().any(|c| c.metadata.name == crd.metadata.name && c.spec == crd.spec),
        "the pinned PodMonitor CRD is among them"
    );
    for c in &all_crds {
        crds.create(&PostParams::default(), c).await.unwrap();
    }
    wait_for(
        "the PodMonitor CRD established",
        Duration::from_secs(30),
        async || crds.get_opt(&crd_name).await.unwrap(),
        |c| {
            let established = c
                .as_ref()?
                .status
                .as_ref()?
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Established" && c.status == "True");
            established.then_some(())
        },
    )
    .await;
    let applied =
        wait_condition(&client, &ns, NAME, "Monitored", "True", Some("PodMonitorApplied"), Duration::from_secs(90))
            .await;
    let message = &condition(&applied, "Monitored").unwrap().message;
    assert!(message.starts_with(&format!("PodMonitor {NAME} scrapes ")), "{message}");
    for endpoint in ["el (port ", "op-geth (port ", "/debug/metrics/prometheus)", "op-node (port "] {
        assert!(message.contains(endpoint), "{endpoint} in {message}");
    }
    let pm = podmonitors(&client, &ns).get(NAME).await.unwrap();
    let labels = pm.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("release").map(String::as_str), Some("e2e"), "spec.monitoring.labels");
    let owner = &pm.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("BuilderPlayground", ready.metadata.uid.as_deref().unwrap(), Some(true))
    );
    let endpoints = pm.data["spec"]["podMetricsEndpoints"].as_array().unwrap().clone();
    assert_eq!(endpoints.len(), 3, "{}", pm.data);
    assert!(endpoints.iter().all(|e| e["interval"] == "2s"));
    // Each endpoint names a port of its own container as the Pod really has it.
    let the_pod = pod(&client, &ns, NAME).await.unwrap();
    assert_eq!(the_pod.metadata.uid, pod_uid, "monitoring did not replace the Pod");
    let spec = the_pod.spec.clone().unwrap();
    let containers: Vec<_> = spec.init_containers.iter().flatten().chain(&spec.containers).collect();
    for e in &endpoints {
        let container = e["relabelings"][0]["regex"].as_str().unwrap();
        let c = containers.iter().find(|c| c.name == container).unwrap_or_else(|| panic!("container {container}"));
        assert!(
            c.ports.iter().flatten().any(|p| p.name.as_deref() == e["port"].as_str()),
            "{container} has a port named {}",
            e["port"]
        );
    }

    // --- Prometheus scrapes the stand-ins through it.
    let targets_file = prometheus.path().join("pods.json");
    let pods = Api::<Pod>::namespaced(client.clone(), &ns).list(&ListParams::default()).await.unwrap().items;
    std::fs::write(&targets_file, serde_json::to_vec(&discovered(&pods)).unwrap()).unwrap();
    // Shown when the test fails (a Pod evicted for want of disk space ends here, not Running).
    for p in &pods {
        let status = p.status.as_ref();
        let conditions: Vec<String> = status
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.message.map(|m| format!("{}: {m}", c.type_)))
            .collect();
        eprintln!("Pod {:?}: phase {:?} {conditions:?}", p.metadata.name, status.and_then(|s| s.phase.clone()));
    }
    let operator = PrometheusOperator::start(env.cluster.kubeconfig_path(), &ns, prometheus.path());
    let scrape = generated_jobs(&client, &ns, &operator, &targets_file).await;
    assert_eq!(scrape.len(), 3, "one job per endpoint: {scrape:#?}");
    let generated = config(env.metrics, &scrape);
    // Shown when the test fails.
    eprintln!("the scrape config from prometheus-operator's jobs:\n{generated}");
    prometheus.reload(&generated).await;
    let active = wait_for(
        &format!("three devnet targets up (Prometheus log: {})", prometheus.log()),
        Duration::from_secs(60),
        async || prometheus.api("/api/v1/targets?state=active").await,
        |t| {
            let t = t.as_ref().ok()?;
            let ours: Vec<Value> = t["activeTargets"]
                .as_array()?
                .iter()
                .filter(|t| t["scrapePool"].as_str().is_some_and(|p| p.starts_with("podMonitor/")))
                .cloned()
                .collect();
            (ours.len() == 3 && ours.iter().all(|t| t["health"] == "up")).then_some(ours)
        },
    )
    .await;
    let urls: BTreeMap<String, String> = active
        .iter()
        .map(|t| {
            (
                t["labels"]["playground_service"].as_str().unwrap().to_owned(),
                t["scrapeUrl"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let ip = the_pod.status.as_ref().unwrap().pod_ip.clone().unwrap();
    assert_eq!(
        urls,
        BTreeMap::from([
            ("el".to_owned(), format!("http://{ip}:9090/metrics")),
            ("op-geth".to_owned(), format!("http://{ip}:6061/debug/metrics/prometheus")),
            ("op-node".to_owned(), format!("http://{ip}:7300/metrics")),
        ]),
        "every metrics port, on its path"
    );
    // op-geth's path is the one that works there: the stand-in answers 404 on /metrics.
    let geth: std::net::SocketAddr = format!("{ip}:6061").parse().unwrap();
    assert_eq!(prom::request(geth, "GET", "/metrics").await.unwrap().0, 404);
    // The other ports of the Pod were discovered and left out by the PodMonitor's selection.
    let all = prometheus.api("/api/v1/targets?state=dropped").await.unwrap();
    assert!(all["droppedTargets"].as_array().unwrap().len() > 3, "ports other than the metrics ones were dropped");
    let series = wait_for(
        "the stand-ins' series with the playground's labels",
        Duration::from_secs(30),
        async || prometheus.query(&format!(r#"bp_standin_up{{namespace="{ns}", playground="{NAME}"}}"#)).await,
        |r| r.as_ref().ok().filter(|r| r.len() == 3).cloned(),
    )
    .await;
    let by_service: BTreeMap<&str, (&str, &str, &str)> = series
        .iter()
        .map(|s| {
            let m = &s["metric"];
            (
                m["playground_service"].as_str().unwrap(),
                (m["client"].as_str().unwrap(), m["container"].as_str().unwrap(), m["pod"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        by_service,
        BTreeMap::from([
            ("el", ("reth node", "el", NAME)),
            ("op-geth", ("geth", "op-geth", NAME)),
            ("op-node", ("op-node", "op-node", NAME)),
        ])
    );
    assert!(series.iter().all(|s| s["value"][1] == "1"), "{series:?}");

    // --- The dashboard: every panel's query parses and returns data from what the operator serves.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("charts/builder-playground-operator/dashboards/builder-playground.json"))
            .unwrap(),
    )
    .unwrap();
    let queries = panel_queries(&dashboard);
    assert!(queries.len() >= 15, "{} queries", queries.len());
    let page = metrics_page().await;
    let served = served(&page);
    // One more scrape of the operator after the page was read.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut failures = Vec::new();
    for (title, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{title}: no series in {expr}");
        for name in names.iter().filter(|n| n.as_str() != "up") {
            if !served.contains(name) {
                failures.push(format!("{title}: {name} is not served by the operator"));
            }
        }
        let q = substitute(expr);
        match prometheus.query(&q).await {
            Ok(result) if result.iter().any(finite) => {}
            Ok(result) => failures.push(format!("{title}: {q}: no finite sample: {result:?}")),
            Err(e) => failures.push(format!("{title}: {q}: {e}")),
        }
    }
    if !failures.is_empty() {
        // What Prometheus holds of the histograms' counts, and since when it scraped the operator.
        for q in [
            "bp_time_to_ready_seconds_count[10m]",
            "bp_generator_duration_seconds_count[10m]",
            "up{job=\"bp-operator\"}[10m]",
        ] {
            failures.push(format!("{q}: {:?}", prometheus.query(q).await));
        }
    }
    assert!(failures.is_empty(), "dashboard queries:\n{}\nPrometheus log:\n{}", failures.join("\n"), prometheus.log());

    // --- Monitoring off: the PodMonitor and the condition go, the Pod stays.
    let jobs_before = jobs(&client, &ns).await.len();
    pg.spec.monitoring.as_mut().unwrap().enabled = false;
    apply(&client, &pg).await;
    wait_for(
        "the PodMonitor removed and no Monitored condition",
        Duration::from_secs(60),
        async || (podmonitors(&client, &ns).get_opt(NAME).await.unwrap(), get(&client, &ns, NAME).await),
        |(pm, pg)| {
            let pg = pg.as_ref()?;
            let current = pg.status.as_ref()?.observed_generation == pg.metadata.generation;
            (pm.is_none() && current && condition(pg, "Monitored").is_none()).then_some(())
        },
    )
    .await;
    assert_eq!(pod(&client, &ns, NAME).await.unwrap().metadata.uid, pod_uid, "the devnet was not restarted");
    assert_eq!(jobs(&client, &ns).await.len(), jobs_before, "nothing was generated again");

    drop(operator);
    env.cluster.delete_namespace(&ns).await.unwrap();
    for c in &all_crds {
        crds.delete(c.metadata.name.as_deref().unwrap(), &DeleteParams::default()).await.unwrap();
    }
}
