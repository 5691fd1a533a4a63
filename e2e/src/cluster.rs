//! A whole cluster for Rust tests: control plane plus a real node, torn down on drop.
//!
//! Everything runs on a dedicated thread with its own single-threaded tokio runtime: every
//! child process is spawned from that thread with PR_SET_PDEATHSIG, so the cluster does
//! not depend on the caller's runtime (tests each have their own, which end early) and
//! nothing outlives a test process that is killed without running destructors.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Namespace, Node as NodeObject, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use rand::Rng;
use tokio::sync::{mpsc, oneshot};

use crate::DEFAULT_LOG;
use crate::controlplane::{self, ControlPlane};
use crate::images::{self, ImageSpec};
use crate::node::slot::{self, Slot};
use crate::node::{self, Node, NodeOptions};
use crate::paths;
use crate::procs::Mode;

/// How to start a [`Cluster`].
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Images imported besides the default ones (see [`default_images`]).
    pub images: Vec<ImageSpec>,
    /// Where `bp-operator`, `bp-generator` and `bp-standin` are (cargo's target directory).
    /// Default: beside the running executable, or its parent (test binaries live in
    /// `target/<profile>/deps`), or `$BP_E2E_BIN_DIR_WORKSPACE`.
    pub workspace_bins: Option<PathBuf>,
    /// Extra tags of the project image (it always has the workspace version's).
    pub project_tags: Vec<String>,
    /// YAML applied before the controller-manager starts. Default: the workspace's `crds/`.
    pub crds_dir: Option<PathBuf>,
    /// Kubernetes binaries. Default: [`paths::bin_dir`].
    pub bin_dir: Option<PathBuf>,
    /// Where state goes. Default: a fresh temporary directory removed on drop.
    pub state_dir: Option<PathBuf>,
    /// Keep the temporary state directory (also: `BP_E2E_KEEP_STATE=1`).
    pub keep_state: bool,
    pub node_name: String,
    /// Run `e2e/provision.sh` when the binaries are missing.
    pub auto_provision: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            images: Vec::new(),
            workspace_bins: None,
            project_tags: Vec::new(),
            crds_dir: Some(paths::workspace_dir().join("crds")),
            bin_dir: None,
            state_dir: None,
            keep_state: false,
            node_name: node::NODE_NAME.into(),
            auto_provision: true,
        }
    }
}

impl ClusterOptions {
    /// Imports `image` too.
    pub fn image(mut self, image: ImageSpec) -> Self {
        self.images.push(image);
        self
    }

    /// Tags the project image `<repository>:<tag>` too.
    pub fn project_tag(mut self, tag: &str) -> Self {
        self.project_tags.push(tag.to_string());
        self
    }
}

/// The project's image repository (the chart's default and the operator's generator image).
pub const PROJECT_IMAGE: &str = "ghcr.io/flashbots/builder-playground-operator";

/// The images every cluster gets: the sandbox's pause, busybox, the project's image
/// (`bp-operator` and `bp-generator` from `bins`, tagged with the workspace version and
/// `extra_tags`), and the stand-ins for the devnet images that cannot be had here (one image per
/// distinct entrypoint and cmd, sharing their layers).
pub fn default_images(bins: &Path, extra_tags: &[String]) -> Result<Vec<ImageSpec>> {
    let standin = bins.join("bp-standin");
    let mut tags = vec![env!("CARGO_PKG_VERSION").to_string()];
    tags.extend(extra_tags.iter().cloned());
    let names: Vec<String> = tags.iter().map(|t| format!("{PROJECT_IMAGE}:{t}")).collect();
    let standins: Vec<String> = images::STANDIN_IMAGES.iter().map(|s| s.to_string()).collect();
    let mut project = images::project_image(bins, &names)?;
    if let Some(layers) = builder_playground_standin(&standin)? {
        project.layers.extend(layers);
    }
    let mut all = vec![images::pause_image(&standin)?, images::busybox_image()?, project];
    all.extend(images::standin_images(&standin, &standins)?);
    Ok(all)
}

/// One recipe's recorded output: its name and (path in the output folder, file) pairs.
type RecordedRecipe = (String, Vec<(String, PathBuf)>);

/// What builder-playground c473a6a itself wrote with `start <recipe> --dry-run` (shared
/// fixtures, never copied into the repository): the whole output folder of l1, the
/// manifests of opstack and buildernet.
fn recorded_output() -> Option<Vec<RecordedRecipe>> {
    let fixtures = paths::workspace_dir().join("..").join("shared").join("fixtures").join("real-c473a6a");
    if !fixtures.is_dir() {
        return None;
    }
    let mut l1 = vec![("manifest.json".to_owned(), fixtures.join("l1-default.manifest.json"))];
    let mut stack = vec![(String::new(), fixtures.join("l1-artifacts"))];
    while let Some((rel, dir)) = stack.pop() {
        for e in std::fs::read_dir(&dir).ok()?.filter_map(|e| e.ok()) {
            let name = format!("{rel}{}", e.file_name().to_string_lossy());
            if e.file_type().ok()?.is_dir() {
                stack.push((format!("{name}/"), e.path()));
            } else {
                l1.push((name, e.path()));
            }
        }
    }
    Some(vec![
        ("l1".into(), l1),
        ("opstack".into(), vec![("manifest.json".into(), fixtures.join("op-default.manifest.json"))]),
        ("buildernet".into(), vec![("manifest.json".into(), fixtures.join("bn-default.manifest.json"))]),
    ])
}

/// A **stand-in** for builder-playground in the project's image (the real image builds
/// builder-playground from source, which these machines cannot reach): `bp-standin` as
/// `/usr/local/bin/builder-playground`, which copies the recorded output of a recipe into
/// `--output`. `None` when the shared fixtures are not beside the checkout.
fn builder_playground_standin(standin: &Path) -> Result<Option<Vec<images::Layer>>> {
    let Some(recipes) = recorded_output() else {
        return Ok(None);
    };
    let program = images::glibc_layer(&[(standin.to_path_buf(), "/usr/local/bin/builder-playground".to_owned())])?;
    let root = "/usr/share/bp-standin/builder-playground";
    let mut recorded = images::Layer::default();
    // Only l1's whole output folder was recorded. The other recipes start from the same L1
    // (builder-playground writes its artifacts for every recipe), so their output is l1's
    // files with their own manifest, plus, for opstack, what `start opstack` adds: an L2
    // genesis, a rollup config and two enode keys, **synthesized here** small but of the
    // right shape (the stand-ins check their fields, not a chain).
    let l1_files: Vec<(String, PathBuf)> = recipes
        .iter()
        .find(|(recipe, _)| recipe == "l1")
        .map(|(_, files)| files.iter().filter(|(rel, _)| rel != "manifest.json").cloned().collect())
        .unwrap_or_default();
    for (recipe, files) in &recipes {
        let extra: &[(String, PathBuf)] = if recipe == "l1" { &[] } else { &l1_files };
        for (rel, source) in files.iter().chain(extra) {
            recorded = recorded.file(format!("{root}/{recipe}/{rel}"), source, 0o644);
        }
    }
    for (rel, content) in OPSTACK_SYNTHESIZED {
        recorded = recorded.bytes(format!("{root}/opstack/{rel}"), content.as_bytes(), 0o644);
    }
    Ok(Some(vec![program, recorded]))
}

/// What `start opstack` writes besides l1's artifacts, synthesized for the stand-in
/// builder-playground (chain 13 on top of l1's chain 1337).
const OPSTACK_SYNTHESIZED: [(&str, &str); 4] = [
    ("l2-genesis.json", r#"{"config":{"chainId":13},"timestamp":"0x6b0ce910","alloc":{}}"#),
    ("rollup.json", r#"{"genesis":{"l2_time":1795999000},"block_time":2,"l1_chain_id":1337,"l2_chain_id":13}"#),
    ("enode-key-1.txt", "0000000000000000000000000000000000000000000000000000000000000001"),
    ("enode-key-2.txt", "0000000000000000000000000000000000000000000000000000000000000002"),
];

/// Finds the directory with this workspace's binaries (see [`ClusterOptions::workspace_bins`]).
pub fn find_workspace_bins(explicit: Option<&Path>) -> Result<PathBuf> {
    const NEEDED: [&str; 3] = ["bp-operator", "bp-generator", "bp-standin"];
    let has_all = |d: &Path| NEEDED.iter().all(|b| d.join(b).is_file());
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(p) = std::env::var_os("BP_E2E_WORKSPACE_BINS") {
            candidates.push(PathBuf::from(p));
        }
        if let Ok(exe) = std::env::current_exe() {
            candidates.extend(exe.ancestors().skip(1).take(2).map(Path::to_path_buf));
        }
        candidates.push(paths::workspace_dir().join("target").join("debug"));
    }
    candidates.into_iter().find(|d| has_all(d)).ok_or_else(|| {
        anyhow!("the workspace's binaries ({}) are missing: run `cargo build --workspace` first", NEEDED.join(", "))
    })
}

struct Ready {
    pids: Vec<(String, i32)>,
    kubeconfig: PathBuf,
    config: kube::Config,
    server: String,
    version: String,
    cold: Duration,
    warm: Duration,
    images_built: Duration,
    slot: u8,
}

#[derive(Default)]
struct Inner {
    /// To the cluster thread; dropping it stops the cluster.
    commands: Option<mpsc::UnboundedSender<Command>>,
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
    /// Time from building the images to a Ready node.
    pub warm: Duration,
    /// Of `warm`: building (or finding cached) image archives.
    pub images_built: Duration,
    /// The machine-wide slot of this cluster's node (its addresses and names).
    pub slot: slot::Addresses,
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
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let dir = state_dir.clone();
        let thread = std::thread::Builder::new()
            .name("bp-e2e-cluster".into())
            .spawn(move || cluster_thread(opts, dir, ready_tx, commands_rx))
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
            images_built: ready.images_built,
            slot: slot::Addresses { index: ready.slot },
            inner: Mutex::new(Inner { commands: Some(commands_tx), thread: Some(thread), temp }),
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

    /// Runs the pinned kubectl (see [`paths::kubectl`]) against this cluster.
    pub async fn kubectl(&self, args: &[&str]) -> Result<std::process::Output> {
        let kubectl = paths::kubectl();
        if !kubectl.is_file() {
            bail!("{} is missing: run e2e/provision.sh", kubectl.display());
        }
        tokio::process::Command::new(&kubectl)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .await
            .with_context(|| format!("running {}", kubectl.display()))
    }

    /// Restarts one process of the cluster with the same flags, ports and data: a control
    /// plane component (`etcd`, `kube-apiserver`, `kube-controller-manager`,
    /// `kube-scheduler`) or a node daemon (`containerd`, `kubelet`, `kube-proxy`). Running
    /// containers stay up (their shims do not depend on containerd); returns once the new
    /// process runs, not once it is ready.
    pub async fn restart(&self, component: &str) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let sent = self
            .inner
            .lock()
            .map_err(|_| anyhow!("cluster state poisoned"))?
            .commands
            .as_ref()
            .is_some_and(|c| c.send(Command::Restart(component.to_owned(), reply)).is_ok());
        if !sent {
            bail!("the cluster is stopped");
        }
        answer.await.map_err(|_| anyhow!("the cluster thread ended"))?
    }

    /// Stops everything (idempotent; also done on drop).
    pub fn shutdown(&self) {
        let (commands, thread, temp) = match self.inner.lock() {
            Ok(mut g) => (g.commands.take(), g.thread.take(), g.temp.take()),
            Err(_) => return,
        };
        // A closed channel stops the cluster thread.
        drop(commands);
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
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    // Harness logs of this cluster go to <state>/harness.log.
    let _log_guard = std::fs::File::create(state.join("harness.log")).ok().map(|f| {
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
        let mut running = match boot(&opts, &state).await {
            Ok(x) => x,
            Err(e) => {
                tracing::error!("cluster start failed: {e:#}");
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        let ready = running.ready.take();
        if ready.is_none_or(|r| ready_tx.send(Ok(r)).is_err()) {
            tracing::warn!("cluster requester went away");
        } else {
            // Until the Cluster is dropped (the channel closes).
            while let Some(command) = commands.recv().await {
                match command {
                    Command::Restart(name, reply) => {
                        let _ = reply.send(running.restart(&name));
                    }
                }
            }
        }
        running.stop();
    });
}

/// What a booted cluster holds until it stops.
struct Running {
    slot: Option<Slot>,
    node: Option<Node>,
    cp: Option<ControlPlane>,
    ready: Option<Ready>,
}

/// What the cluster thread is asked to do.
enum Command {
    Restart(String, oneshot::Sender<Result<()>>),
}

impl Running {
    fn restart(&mut self, name: &str) -> Result<()> {
        let record = match (self.cp.as_mut(), self.node.as_mut()) {
            (Some(cp), _) if cp.procs.iter().any(|p| p.name == name) => cp.restart(name)?,
            (_, Some(node)) => node.restart(name)?,
            _ => bail!("no running component {name:?}"),
        };
        if let Some(state) = self.slot.as_ref().and_then(|s| slot::read_owner(s.addresses.index)).map(|o| o.state_dir) {
            crate::procs::append_record(&state.join("pids"), &record)?;
        }
        tracing::info!(component = name, pid = record.pid, "restarted");
        Ok(())
    }

    /// The node first (its Pods get SIGTERM, then everything of it goes), then the control
    /// plane, then the slot.
    fn stop(&mut self) {
        if let Some(mut node) = self.node.take() {
            for line in node.stop(Duration::from_secs(5)) {
                tracing::info!("node stop: {line}");
            }
        }
        if let Some(mut cp) = self.cp.take() {
            cp.stop();
        }
        if let Some(slot) = self.slot.take() {
            slot::release(slot.addresses.index);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Builds the image archives of a cluster (cached by content in `<cache>/images`).
pub fn build_images(opts: &ClusterOptions) -> Result<Vec<PathBuf>> {
    let bins = find_workspace_bins(opts.workspace_bins.as_deref())?;
    let mut specs = default_images(&bins, &opts.project_tags)?;
    specs.extend(opts.images.iter().cloned());
    let cache = paths::cache_root().join("images");
    specs.iter().map(|s| images::build_archive(s, &cache)).collect()
}

async fn boot(opts: &ClusterOptions, state: &Path) -> Result<Running> {
    let bin_dir = opts.bin_dir.clone().unwrap_or_else(paths::bin_dir);
    let cold = if opts.auto_provision {
        paths::ensure_binaries(&bin_dir)?
    } else if paths::binaries_ready(&bin_dir) {
        Duration::ZERO
    } else {
        bail!("Kubernetes binaries missing in {}: run e2e/provision.sh", bin_dir.display());
    };
    node::check_host(&bin_dir)?;
    let started = Instant::now();
    let archives = build_images(opts)?;
    let images_built = started.elapsed();

    let pid_file = state.join("pids");
    let node_dir = state.join("node");
    let owner = slot::Owner { state_dir: state.to_path_buf(), node_dir: node_dir.clone() };
    let slot = slot::acquire(&owner, node::stop_slot_checked)?;
    let addr = slot.addresses;
    let mut running = Running { slot: Some(slot), node: None, cp: None, ready: None };
    Node::prepare(addr)?;
    let cp = controlplane::start(&controlplane::Options {
        state_dir: state.to_path_buf(),
        bin_dir: bin_dir.clone(),
        crds_dir: opts.crds_dir.clone(),
        mode: Mode::Tied,
        pid_file: Some(pid_file.clone()),
        api_ip: addr.host_ip(),
        node_name: opts.node_name.clone(),
        node_ip: addr.node_ip(),
    })
    .await?;
    let node_opts = NodeOptions {
        node_name: opts.node_name.clone(),
        bin_dir,
        dir: node_dir,
        logs: state.join("logs"),
        server: cp.server.clone(),
        pki: cp.pki.clone(),
        mode: Mode::Tied,
        pid_file: Some(pid_file),
        images: archives,
    };
    let client = kube::Client::try_from(cp.config.clone()).context("building admin client")?;
    running.cp = Some(cp);
    let node = Node::start(addr, &node_opts)?;
    running.node = Some(node);
    wait_ready(&client, &opts.node_name, &mut running).await?;
    let version = client.apiserver_version().await.context("reading server version")?.git_version;
    let (cp, node) = (running.cp.as_ref().context("no control plane")?, running.node.as_ref().context("no node")?);
    let mut pids: Vec<(String, i32)> = cp.procs.iter().map(|p| (p.name.clone(), p.pid())).collect();
    pids.extend(node.pids());
    running.ready = Some(Ready {
        pids,
        kubeconfig: cp.kubeconfig.clone(),
        config: cp.config.clone(),
        server: cp.server.clone(),
        version,
        cold,
        warm: started.elapsed(),
        images_built,
        slot: addr.index,
    });
    Ok(running)
}

/// Waits for the default ServiceAccount (controller-manager works) and a Ready node,
/// failing early if a process died.
async fn wait_ready(client: &kube::Client, node_name: &str, running: &mut Running) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let nodes: Api<NodeObject> = Api::all(client.clone());
    loop {
        if let Some(cp) = running.cp.as_mut() {
            cp.check_alive()?;
        }
        if let Some(node) = running.node.as_mut() {
            node.check_alive()?;
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
pub async fn node_and_sa_ready(sas: &Api<ServiceAccount>, nodes: &Api<NodeObject>, node_name: &str) -> bool {
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
