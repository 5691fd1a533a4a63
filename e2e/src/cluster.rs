//! A whole cluster for Rust tests: control plane plus an in-process node agent, torn down
//! on drop.
//!
//! Everything runs on a dedicated thread with its own single-threaded tokio runtime: every
//! child process is spawned from that thread with PR_SET_PDEATHSIG, so the cluster does
//! not depend on the caller's runtime (tests each have their own, which end early) and
//! nothing outlives a test process that is killed without running destructors.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use rand::Rng;
use tokio::sync::oneshot;

use crate::DEFAULT_LOG;
use crate::controlplane::{self, ControlPlane};
use crate::node::{self, AgentConfig, ImageMapping, NodeCapacity};
use crate::paths;
use crate::procs::Mode;

/// How to start a [`Cluster`].
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Images that run as real processes (image → binary directory).
    pub images: Vec<ImageMapping>,
    /// The `bp-e2e` binary used to emulate unmapped images. Default: `$BP_E2E_BIN`, a
    /// `bp-e2e` next to the running executable (cargo's target dir), or one built on demand
    /// into `~/.cache/bp-e2e/helper-target`. In this crate's tests pass
    /// `env!("CARGO_BIN_EXE_bp-e2e")`.
    pub helper_bin: Option<PathBuf>,
    /// YAML applied before the controller-manager starts. Default: the workspace's `crds/`.
    pub crds_dir: Option<PathBuf>,
    /// Control-plane binaries. Default: [`paths::bin_dir`].
    pub bin_dir: Option<PathBuf>,
    /// Where state goes. Default: a fresh temporary directory removed on drop.
    pub state_dir: Option<PathBuf>,
    /// Keep the temporary state directory (also: `BP_E2E_KEEP_STATE=1`).
    pub keep_state: bool,
    pub node_name: String,
    pub capacity: NodeCapacity,
    /// Run `e2e/provision.sh` when the control-plane binaries are missing.
    pub auto_provision: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            images: Vec::new(),
            helper_bin: None,
            crds_dir: Some(paths::workspace_dir().join("crds")),
            bin_dir: None,
            state_dir: None,
            keep_state: false,
            node_name: "bp-e2e-node".into(),
            capacity: NodeCapacity::default(),
            auto_provision: true,
        }
    }
}

impl ClusterOptions {
    /// Maps `image` to the binaries in `bin_dir`.
    pub fn image(mut self, image: &str, bin_dir: impl Into<PathBuf>) -> Self {
        self.images.push(ImageMapping::new(image, bin_dir));
        self
    }

    /// Maps `image` to `bin_dir`, running `entrypoint` for containers without a command.
    pub fn image_with_entrypoint(mut self, image: &str, bin_dir: impl Into<PathBuf>, entrypoint: &str) -> Self {
        self.images.push(ImageMapping::new(image, bin_dir).with_entrypoint(entrypoint));
        self
    }

    pub fn helper_bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.helper_bin = Some(path.into());
        self
    }
}

struct Ready {
    pids: Vec<(String, i32)>,
    kubeconfig: PathBuf,
    config: kube::Config,
    server: String,
    version: String,
    cold: Duration,
    warm: Duration,
}

#[derive(Default)]
struct Inner {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    temp: Option<tempfile::TempDir>,
}

/// A running cluster. Dropping it (or [`Cluster::shutdown`]) stops every process it
/// started and removes its temporary state.
pub struct Cluster {
    state_dir: PathBuf,
    kubeconfig: PathBuf,
    config: kube::Config,
    server: String,
    version: String,
    node_name: String,
    pids: Vec<(String, i32)>,
    /// Time spent provisioning/building binaries (zero when cached).
    pub cold: Duration,
    /// Time from starting etcd to a Ready node.
    pub warm: Duration,
    inner: Mutex<Inner>,
}

impl Cluster {
    /// Starts a cluster of its own (own ports, own state directory).
    pub async fn start(opts: ClusterOptions) -> Result<Cluster> {
        crate::install_crypto_provider();
        let mut temp = None;
        let state_dir = match &opts.state_dir {
            Some(d) => {
                std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
                d.clone()
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("bp-e2e-")
                    .tempdir()
                    .context("creating a temporary state directory")?;
                let p = t.path().to_path_buf();
                let keep = opts.keep_state || std::env::var("BP_E2E_KEEP_STATE").is_ok_and(|v| v == "1");
                if keep {
                    let _ = t.keep();
                } else {
                    temp = Some(t);
                }
                p
            }
        };
        let node_name = opts.node_name.clone();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let dir = state_dir.clone();
        let thread = std::thread::Builder::new()
            .name("bp-e2e-cluster".into())
            .spawn(move || cluster_thread(opts, dir, ready_tx, stop_rx))
            .context("spawning the cluster thread")?;
        let ready = match ready_rx.await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e.context(format!("starting cluster in {}", state_dir.display())));
            }
            Err(_) => {
                let _ = thread.join();
                bail!("the cluster thread ended before the cluster was ready");
            }
        };
        Ok(Cluster {
            state_dir,
            kubeconfig: ready.kubeconfig,
            config: ready.config,
            server: ready.server,
            version: ready.version,
            node_name,
            pids: ready.pids,
            cold: ready.cold,
            warm: ready.warm,
            inner: Mutex::new(Inner { stop: Some(stop_tx), thread: Some(thread), temp }),
        })
    }

    /// One cluster per test process, shared by all its tests; started on first use and
    /// stopped when the process exits (via `atexit`, since statics are never dropped).
    pub async fn shared(opts: impl FnOnce() -> ClusterOptions) -> Result<&'static Cluster> {
        static SHARED: tokio::sync::OnceCell<Cluster> = tokio::sync::OnceCell::const_new();
        extern "C" fn stop_shared() {
            if let Some(c) = SHARED.get() {
                c.shutdown();
            }
        }
        SHARED
            .get_or_try_init(|| async {
                let c = Cluster::start(opts()).await?;
                // SAFETY: registers a plain function with no captured state.
                unsafe {
                    nix::libc::atexit(stop_shared);
                }
                Ok::<_, anyhow::Error>(c)
            })
            .await
    }

    /// Admin kubeconfig (system:masters).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// Admin client configuration.
    pub fn config(&self) -> kube::Config {
        self.config.clone()
    }

    /// A new admin client bound to the caller's tokio runtime (call inside a runtime).
    pub fn client(&self) -> Result<kube::Client> {
        kube::Client::try_from(self.config.clone()).context("building kube client")
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// `gitVersion` of the API server, e.g. `v1.34.4`.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// (name, PID) of the control-plane processes.
    pub fn component_pids(&self) -> &[(String, i32)] {
        &self.pids
    }

    /// Container processes the node agent is running now.
    pub fn container_processes(&self) -> Vec<crate::procs::PidRecord> {
        crate::procs::read_records(&self.state_dir.join("node").join("procs"))
    }

    /// Creates a namespace `<prefix>-<random>` and waits for its default ServiceAccount
    /// (Pods are rejected until it exists).
    pub async fn create_namespace(&self, prefix: &str) -> Result<String> {
        let client = self.client()?;
        let suffix: u32 = rand::rng().random();
        let name = format!("{prefix}-{:06x}", suffix & 0xff_ffff);
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name}
        }))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        let sas: Api<ServiceAccount> = Api::namespaced(client, &name);
        let deadline = Instant::now() + Duration::from_secs(30);
        while sas.get_opt("default").await?.is_none() {
            if Instant::now() > deadline {
                bail!("default ServiceAccount of {name} not created within 30s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(name)
    }

    /// Deletes a namespace (does not wait for it to go).
    pub async fn delete_namespace(&self, name: &str) -> Result<()> {
        Api::<Namespace>::all(self.client()?)
            .delete(name, &DeleteParams::default())
            .await
            .with_context(|| format!("deleting namespace {name}"))?;
        Ok(())
    }

    /// Directory of the agent's files for a Pod (working dirs and logs per container).
    pub fn pod_dir(&self, namespace: &str, pod: &str) -> Option<PathBuf> {
        let prefix = format!("{namespace}_{pod}_");
        let pods = self.state_dir.join("node").join("pods");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&pods)
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect();
        dirs.sort_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
        dirs.pop()
    }

    /// The log of the latest instance of a container (stdout and stderr).
    pub fn container_log(&self, namespace: &str, pod: &str, container: &str) -> Option<String> {
        let dir = self.pod_dir(namespace, pod)?.join(container);
        let latest = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                name.strip_suffix(".log")?.parse::<u32>().ok()
            })
            .max()?;
        std::fs::read_to_string(dir.join(format!("{latest}.log"))).ok()
    }

    /// Stops everything (idempotent; also done on drop).
    pub fn shutdown(&self) {
        let (stop, thread, temp) = match self.inner.lock() {
            Ok(mut g) => (g.stop.take(), g.thread.take(), g.temp.take()),
            Err(_) => return,
        };
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(t) = thread {
            let _ = t.join();
        }
        drop(temp);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The body of the cluster thread: boot, report, wait for stop, tear down.
fn cluster_thread(
    opts: ClusterOptions,
    state: PathBuf,
    ready_tx: oneshot::Sender<Result<Ready>>,
    stop_rx: oneshot::Receiver<()>,
) {
    // Agent and control-plane logs of this cluster go to <state>/agent.log.
    let _log_guard = std::fs::File::create(state.join("agent.log")).ok().map(|f| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("BP_E2E_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
        let sub =
            tracing_subscriber::fmt().with_writer(Mutex::new(f)).with_ansi(false).with_env_filter(filter).finish();
        tracing::subscriber::set_default(sub)
    });
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready_tx.send(Err(anyhow!("building the cluster runtime: {e}")));
            return;
        }
    };
    rt.block_on(async move {
        let (mut cp, agent, agent_stop, ready) = match boot(&opts, &state).await {
            Ok(x) => x,
            Err(e) => {
                tracing::error!("cluster start failed: {e:#}");
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        if ready_tx.send(Ok(ready)).is_err() {
            tracing::warn!("cluster requester went away");
        } else {
            let _ = stop_rx.await;
        }
        let _ = agent_stop.send(());
        match tokio::time::timeout(Duration::from_secs(30), agent).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("node agent: {e:#}"),
            Ok(Err(e)) => tracing::warn!("node agent task: {e}"),
            Err(_) => tracing::warn!("node agent did not stop within 30s"),
        }
        cp.stop();
    });
}

type AgentTask = tokio::task::JoinHandle<Result<()>>;

async fn boot(opts: &ClusterOptions, state: &Path) -> Result<(ControlPlane, AgentTask, oneshot::Sender<()>, Ready)> {
    let bin_dir = opts.bin_dir.clone().unwrap_or_else(paths::bin_dir);
    let cold = if opts.auto_provision {
        paths::ensure_binaries(&bin_dir)?
    } else if paths::binaries_ready(&bin_dir) {
        Duration::ZERO
    } else {
        bail!("control-plane binaries missing in {}: run e2e/provision.sh", bin_dir.display());
    };
    let helper_bin = find_helper_bin(opts.helper_bin.as_deref())?;
    let started = Instant::now();
    let mut cp = controlplane::start(&controlplane::Options {
        state_dir: state.to_path_buf(),
        bin_dir,
        crds_dir: opts.crds_dir.clone(),
        mode: Mode::Tied,
        pid_file: None,
    })
    .await?;
    let client = kube::Client::try_from(cp.config.clone()).context("building admin client")?;
    let cfg = AgentConfig {
        node_name: opts.node_name.clone(),
        state_dir: state.join("node"),
        images: opts.images.clone(),
        helper_bin,
        server: cp.server.clone(),
        ca_pem: cp.pki.ca_pem.clone(),
        capacity: opts.capacity.clone(),
        netns_prefix: random_netns_prefix(),
        mode: Mode::Tied,
        host_ip: "127.0.0.1".into(),
    };
    let (agent_stop, agent_stop_rx) = oneshot::channel::<()>();
    let mut agent = tokio::spawn(node::run(client.clone(), cfg, async move {
        let _ = agent_stop_rx.await;
    }));
    if let Err(e) = wait_ready(&client, &opts.node_name, &mut cp, &mut agent).await {
        let _ = agent_stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(20), agent).await;
        return Err(e);
    }
    let version = client.apiserver_version().await.context("reading server version")?.git_version;
    let ready = Ready {
        pids: cp.procs.iter().map(|p| (p.name.clone(), p.pid())).collect(),
        kubeconfig: cp.kubeconfig.clone(),
        config: cp.config.clone(),
        server: cp.server.clone(),
        version,
        cold,
        warm: started.elapsed(),
    };
    Ok((cp, agent, agent_stop, ready))
}

/// `bpe2e-<6 hex>-`: network namespaces of one cluster share it.
pub fn random_netns_prefix() -> String {
    let n: u32 = rand::rng().random();
    format!("bpe2e-{:06x}-", n & 0xff_ffff)
}

/// Waits for the default ServiceAccount (controller-manager works) and a Ready node (the
/// agent works), failing early if a component or the agent died.
async fn wait_ready(
    client: &kube::Client,
    node_name: &str,
    cp: &mut ControlPlane,
    agent: &mut AgentTask,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    loop {
        cp.check_alive()?;
        if agent.is_finished() {
            return match agent.await {
                Ok(Ok(())) => Err(anyhow!("node agent stopped unexpectedly")),
                Ok(Err(e)) => Err(e.context("node agent failed")),
                Err(e) => Err(anyhow!("node agent task failed: {e}")),
            };
        }
        if node_and_sa_ready(&sas, &nodes, node_name).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("cluster not ready within 90s (default ServiceAccount and Ready node {node_name})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Both readiness signals of a fresh cluster.
pub async fn node_and_sa_ready(sas: &Api<ServiceAccount>, nodes: &Api<Node>, node_name: &str) -> bool {
    let sa = matches!(sas.get_opt("default").await, Ok(Some(_)));
    let node_ready = match nodes.get_opt(node_name).await {
        Ok(Some(n)) => n
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        _ => false,
    };
    sa && node_ready
}

/// Finds (or builds) the `bp-e2e` binary that emulates unmapped containers.
pub fn find_helper_bin(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        bail!("helper binary {} does not exist", p.display());
    }
    if let Some(p) = std::env::var_os("BP_E2E_BIN").map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
        bail!("BP_E2E_BIN={} does not exist", p.display());
    }
    if let Ok(exe) = std::env::current_exe() {
        if exe.file_name().is_some_and(|n| n == "bp-e2e") {
            return Ok(exe);
        }
        // Test binaries live in target/<profile>/deps; binaries one level up.
        for dir in exe.ancestors().skip(1).take(2) {
            let cand = dir.join("bp-e2e");
            if cand.is_file() {
                return Ok(cand);
            }
        }
    }
    let target = paths::cache_root().join("helper-target");
    let manifest = paths::crate_dir().join("Cargo.toml");
    let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--quiet", "--bin", "bp-e2e", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .with_context(|| format!("building bp-e2e into {}", target.display()))?;
    let built = target.join("debug").join("bp-e2e");
    if !status.success() || !built.is_file() {
        bail!(
            "no bp-e2e helper binary: set BP_E2E_BIN or run `cargo build -p bp-e2e` (building it into {} failed: {status})",
            target.display()
        );
    }
    Ok(built)
}
