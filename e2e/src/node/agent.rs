//! Node registration, Lease renewal and the Pod watch that feeds one worker per Pod.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde_json::json;

use super::container::now_time;
use super::pod::{self, PodHandle, PodMsg};
use super::process;
use super::{ImageMapping, NodeCapacity};
use crate::procs::{Mode, PidRecord};

/// Everything the agent needs to know.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub node_name: String,
    /// Pods' directories (logs, working dirs, kubeconfigs) and the process list live here.
    pub state_dir: PathBuf,
    pub images: Vec<ImageMapping>,
    /// The `bp-e2e` binary, run as `bp-e2e emulate ...` for unmapped images.
    pub helper_bin: PathBuf,
    /// API server URL and CA, for the ServiceAccount kubeconfigs of mapped processes.
    pub server: String,
    pub ca_pem: String,
    pub capacity: NodeCapacity,
    /// Network namespaces of this agent's Pods start with it (unique per cluster).
    pub netns_prefix: String,
    pub mode: Mode,
    pub host_ip: String,
}

/// Processes the agent started, mirrored in `<state>/procs` so `bp-e2e down` can stop them
/// even if the agent died.
pub struct ProcRegistry {
    path: PathBuf,
    entries: Mutex<BTreeMap<i32, PidRecord>>,
}

impl ProcRegistry {
    pub fn new(path: PathBuf) -> Self {
        Self { path, entries: Mutex::new(BTreeMap::new()) }
    }

    pub fn add(&self, pid: i32, name: &str) {
        let name = name.replace(char::is_whitespace, "_");
        let rec = PidRecord::of(&name, pid).unwrap_or(PidRecord { name, pid, start_ticks: 0 });
        self.update(|m| {
            m.insert(pid, rec);
        });
    }

    pub fn remove(&self, pid: i32) {
        self.update(|m| {
            m.remove(&pid);
        });
    }

    fn update(&self, f: impl FnOnce(&mut BTreeMap<i32, PidRecord>)) {
        let Ok(mut m) = self.entries.lock() else {
            return;
        };
        f(&mut m);
        let text: String = m.values().map(|r| r.to_line() + "\n").collect();
        if let Err(e) = std::fs::write(&self.path, text) {
            tracing::warn!("writing {}: {e}", self.path.display());
        }
    }
}

/// Shared by the agent and its Pod workers.
pub struct AgentCtx {
    pub client: Client,
    pub cfg: AgentConfig,
    pub recorder: Recorder,
    pub procs: ProcRegistry,
}

/// Runs the agent until `shutdown` completes; then stops every container it started.
pub async fn run(client: Client, cfg: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    std::fs::create_dir_all(cfg.state_dir.join("pods"))
        .with_context(|| format!("creating {}", cfg.state_dir.display()))?;
    register_node(&client, &cfg).await?;
    let recorder =
        Recorder::new(client.clone(), Reporter { controller: "kubelet".into(), instance: Some(cfg.node_name.clone()) });
    let ctx = Arc::new(AgentCtx {
        client: client.clone(),
        procs: ProcRegistry::new(cfg.state_dir.join("procs")),
        cfg,
        recorder,
    });
    let heartbeat = tokio::spawn(heartbeat_loop(ctx.clone()));

    let api: Api<Pod> = Api::all(client.clone());
    let wc = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.cfg.node_name));
    let stream = watcher::watcher(api, wc).default_backoff();
    futures::pin_mut!(stream);
    futures::pin_mut!(shutdown);
    let mut workers: HashMap<String, PodHandle> = HashMap::new();
    let mut relist: Option<HashSet<String>> = None;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            ev = stream.next() => match ev {
                Some(Ok(Event::Init)) => relist = Some(HashSet::new()),
                Some(Ok(Event::InitApply(p))) => {
                    if let (Some(seen), Some(uid)) = (relist.as_mut(), p.metadata.uid.clone()) {
                        seen.insert(uid);
                    }
                    dispatch(&ctx, &mut workers, p);
                }
                Some(Ok(Event::InitDone)) => {
                    // Pods deleted while the watch was down get no Delete event.
                    if let Some(seen) = relist.take() {
                        let gone: Vec<String> =
                            workers.keys().filter(|u| !seen.contains(*u)).cloned().collect();
                        for uid in gone {
                            if let Some(h) = workers.remove(&uid) {
                                let _ = h.tx.send(PodMsg::Gone);
                            }
                        }
                    }
                }
                Some(Ok(Event::Apply(p))) => dispatch(&ctx, &mut workers, p),
                Some(Ok(Event::Delete(p))) => {
                    if let Some(h) = p.metadata.uid.as_ref().and_then(|u| workers.remove(u)) {
                        let _ = h.tx.send(PodMsg::Gone);
                    }
                }
                Some(Err(e)) => tracing::warn!("pod watch: {e}"),
                None => {
                    tracing::warn!("pod watch ended");
                    break;
                }
            }
        }
    }
    heartbeat.abort();
    for h in workers.values() {
        let _ = h.tx.send(PodMsg::Shutdown);
    }
    for (_, h) in workers {
        if tokio::time::timeout(Duration::from_secs(20), h.join).await.is_err() {
            tracing::warn!("a pod worker did not stop within 20s");
        }
    }
    for ns in process::netns_with_prefix(&ctx.cfg.netns_prefix) {
        if let Err(e) = process::netns_del(&ns).await {
            tracing::warn!("{e:#}");
        }
    }
    Ok(())
}

fn dispatch(ctx: &Arc<AgentCtx>, workers: &mut HashMap<String, PodHandle>, pod: Pod) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    match workers.get(&uid) {
        // A finished worker (Pod deleted, kept by finalizers) needs nothing more.
        Some(h) if h.join.is_finished() => {}
        Some(h) => {
            let _ = h.tx.send(PodMsg::Update(Box::new(pod)));
        }
        None => {
            tracing::info!(
                "new pod {}/{}",
                pod.metadata.namespace.as_deref().unwrap_or(""),
                pod.metadata.name.as_deref().unwrap_or("")
            );
            workers.insert(uid, pod::spawn(ctx.clone(), pod));
        }
    }
}

fn node_status(cfg: &AgentConfig, since: &serde_json::Value) -> serde_json::Value {
    let now = json!(now_time());
    let resources = json!({
        "cpu": cfg.capacity.cpu,
        "memory": cfg.capacity.memory,
        "pods": cfg.capacity.pods,
        "ephemeral-storage": "100Gi",
    });
    let cond = |ty: &str, status: &str, reason: &str, msg: &str| {
        json!({"type": ty, "status": status, "reason": reason, "message": msg,
               "lastHeartbeatTime": now, "lastTransitionTime": since})
    };
    json!({"status": {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "bp-e2e node agent is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": cfg.host_ip},
            {"type": "Hostname", "address": cfg.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": "bp-e2e", "systemUUID": "bp-e2e", "bootID": "bp-e2e",
            "kernelVersion": "", "osImage": "bp-e2e node agent",
            "containerRuntimeVersion": "bp-e2e://processes",
            "kubeletVersion": crate::paths::kube_version(), "kubeProxyVersion": "",
            "operatingSystem": "linux", "architecture": "amd64",
        },
    }})
}

async fn register_node(client: &Client, cfg: &AgentConfig) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": cfg.node_name,
            "labels": {
                "kubernetes.io/hostname": cfg.node_name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "bp-e2e/node-agent": "true",
            },
        },
    });
    api.patch(&cfg.node_name, &PatchParams::apply("bp-e2e-agent").force(), &Patch::Apply(&node))
        .await
        .with_context(|| format!("registering node {}", cfg.node_name))?;
    let since = json!(now_time());
    api.patch_status(&cfg.node_name, &PatchParams::default(), &Patch::Merge(&node_status(cfg, &since)))
        .await
        .with_context(|| format!("writing status of node {}", cfg.node_name))?;
    Ok(())
}

/// Renews the node Lease every 10 s (what the node lifecycle controller watches) and
/// re-posts the Ready status every minute.
async fn heartbeat_loop(ctx: Arc<AgentCtx>) {
    let since = json!(now_time());
    let mut n: u64 = 0;
    loop {
        if let Err(e) = renew_lease(&ctx).await {
            tracing::warn!("renewing lease: {e:#}");
        }
        if n % 6 == 5 {
            let nodes: Api<Node> = Api::all(ctx.client.clone());
            if let Err(e) = nodes
                .patch_status(
                    &ctx.cfg.node_name,
                    &PatchParams::default(),
                    &Patch::Merge(&node_status(&ctx.cfg, &since)),
                )
                .await
            {
                tracing::warn!("node status heartbeat: {e}");
            }
        }
        n += 1;
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

async fn renew_lease(ctx: &AgentCtx) -> Result<()> {
    let name = &ctx.cfg.node_name;
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), "kube-node-lease");
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    if leases.get_opt(name).await?.is_some() {
        let patch = json!({"spec": {"holderIdentity": name, "renewTime": now, "leaseDurationSeconds": 40}});
        leases.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        return Ok(());
    }
    let node = Api::<Node>::all(ctx.client.clone()).get(name).await?;
    let mut owner = node.controller_owner_ref(&()).context("node owner reference")?;
    owner.controller = None;
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "kube-node-lease", "ownerReferences": [owner]},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now},
    }))?;
    leases.create(&PostParams::default(), &lease).await?;
    Ok(())
}
