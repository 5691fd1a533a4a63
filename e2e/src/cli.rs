//! `bp-e2e up` and `down`: a detached cluster for humans and scripts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Node as NodeObject, ServiceAccount};
use kube::Api;

use crate::cluster::{ClusterOptions, build_images, node_and_sa_ready};
use crate::controlplane;
use crate::node::{self, Node, NodeOptions, slot};
use crate::paths;
use crate::procs::{self, Mode, PidRecord};

/// Prints a line, ignoring a closed stdout (`bp-e2e down | head` must still stop
/// everything).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `~/.cache/bp-e2e/state/default`
pub fn default_state_dir() -> PathBuf {
    paths::cache_root().join("state").join("default")
}

/// Files and dirs `up` creates (and removes again before a fresh start).
const STATE_ENTRIES: [&str; 9] =
    ["pki", "etcd", "apiserver", "controller-manager", "scheduler", "node", "logs", "pids", "kubeconfig"];

pub struct UpArgs {
    pub state: PathBuf,
    pub crds: Option<PathBuf>,
    pub bin_dir: Option<PathBuf>,
    pub workspace_bins: Option<PathBuf>,
    pub project_tags: Vec<String>,
}

/// The node mounts its own tmpfs over these: a state directory below them would vanish
/// from the node's view.
const NODE_PRIVATE: [&str; 3] = ["/run", "/var/lib", "/var/log"];

fn check_state_dir(state: &Path) -> Result<()> {
    if let Some(dir) = NODE_PRIVATE.iter().find(|d| state.starts_with(d)) {
        bail!(
            "state directory {} is below {dir}, which the node replaces with its own: choose another",
            state.display()
        );
    }
    Ok(())
}

/// Starts a detached cluster; the last line printed is `export KUBECONFIG=...`.
pub fn up(args: UpArgs) -> Result<()> {
    crate::install_crypto_provider();
    let state = absolute(&args.state)?;
    check_state_dir(&state)?;
    let pid_file = state.join("pids");
    let kubeconfig = state.join("kubeconfig");
    if procs::read_records(&pid_file).iter().any(PidRecord::alive) {
        out!("bp-e2e: already up in {} (stop it with: bp-e2e down --state {})", state.display(), state.display());
        out!("export KUBECONFIG={}", kubeconfig.display());
        return Ok(());
    }
    let bin_dir = args.bin_dir.clone().unwrap_or_else(paths::bin_dir);
    let cold = paths::ensure_binaries(&bin_dir)?;
    node::check_host(&bin_dir)?;

    // A fresh cluster each time: leftovers of a previous one would confuse etcd and the node.
    if let Some((addr, owner)) = slot::find(&state) {
        node::stop_slot_checked(addr, Some(&owner))?;
        slot::release(addr.index);
    }
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    for entry in STATE_ENTRIES {
        let p = state.join(entry);
        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building runtime")?;
    let started = Instant::now();
    let result = rt.block_on(start_detached(&args, &state, &bin_dir));
    let (version, addr) = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bp-e2e: start failed, stopping what was started");
            let _ = down(&state);
            return Err(e);
        }
    };
    let warm = started.elapsed();
    out!(
        "bp-e2e: Kubernetes {version} running: API server https://{}, node {} at {} (slot {}), state {}",
        addr.host_ip(),
        node::NODE_NAME,
        addr.node_ip(),
        addr.index,
        state.display()
    );
    out!("bp-e2e: cold (provision/build) {:.1}s, warm start {:.1}s", cold.as_secs_f64(), warm.as_secs_f64());
    out!("bp-e2e: logs in {}/logs; stop with: bp-e2e down --state {}", state.display(), state.display());
    out!("export KUBECONFIG={}", kubeconfig.display());
    Ok(())
}

async fn start_detached(args: &UpArgs, state: &Path, bin_dir: &Path) -> Result<(String, slot::Addresses)> {
    let pid_file = state.join("pids");
    let t = Instant::now();
    let archives = build_images(&ClusterOptions {
        workspace_bins: args.workspace_bins.clone(),
        project_tags: args.project_tags.clone(),
        ..ClusterOptions::default()
    })?;
    out!("bp-e2e: {} image archives ready in {:.1}s", archives.len(), t.elapsed().as_secs_f64());
    let node_dir = state.join("node");
    let owner = slot::Owner { state_dir: state.to_path_buf(), node_dir: node_dir.clone() };
    // The lock is held until this command ends; from then on the recorded processes keep
    // the slot taken.
    let slot = slot::acquire(&owner, node::stop_slot_checked)?;
    let addr = slot.addresses;
    Node::prepare(addr)?;
    let cp = controlplane::start(&controlplane::Options {
        state_dir: state.to_path_buf(),
        bin_dir: bin_dir.to_path_buf(),
        crds_dir: args.crds.clone().or_else(|| Some(paths::workspace_dir().join("crds"))),
        mode: Mode::Detached,
        pid_file: Some(pid_file.clone()),
        api_ip: addr.host_ip(),
        node_name: node::NODE_NAME.into(),
        node_ip: addr.node_ip(),
    })
    .await?;
    let node = Node::start(
        addr,
        &NodeOptions {
            node_name: node::NODE_NAME.into(),
            bin_dir: bin_dir.to_path_buf(),
            dir: node_dir,
            logs: state.join("logs"),
            server: cp.server.clone(),
            pki: cp.pki.clone(),
            mode: Mode::Detached,
            pid_file: Some(pid_file),
            images: archives,
        },
    )?;
    // The processes outlive this command: forget them without stopping them.
    let mut node = std::mem::ManuallyDrop::new(node);
    let mut cp = std::mem::ManuallyDrop::new(cp);
    let client = kube::Client::try_from(cp.config.clone()).context("building client")?;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let nodes: Api<NodeObject> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(90);
    while !node_and_sa_ready(&sas, &nodes, node::NODE_NAME).await {
        node.check_alive()?;
        cp.check_alive()?;
        if Instant::now() > deadline {
            bail!("cluster not ready within 90s; see {}", state.join("logs").display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let version = client.apiserver_version().await?.git_version;
    drop(slot);
    Ok((version, addr))
}

/// The node's own processes, stopped before everything else (so nothing restarts the
/// containers being stopped).
const NODE_DAEMONS: [&str; 2] = ["kubelet", "kube-proxy"];

/// Stops exactly what `up` started in `state`: the kubelet and kube-proxy, then every
/// container (SIGTERM, then SIGKILL) and the rest of the node with its network namespace
/// and cgroups, then the control plane newest first.
pub fn down(state: &Path) -> Result<()> {
    let state = absolute(state)?;
    let pid_file = state.join("pids");
    let recs = procs::read_records(&pid_file);
    let found = slot::find(&state);
    if recs.is_empty() && found.is_none() {
        out!("bp-e2e: nothing to stop in {}", state.display());
        return Ok(());
    }
    let (daemons, rest): (Vec<_>, Vec<_>) = recs.into_iter().partition(|r| NODE_DAEMONS.contains(&r.name.as_str()));
    for r in &daemons {
        stop_record(r);
    }
    if let Some((addr, owner)) = &found {
        for line in node::stop_slot(*addr, Some(owner), Duration::from_secs(10)) {
            out!("bp-e2e: node: {line}");
        }
        slot::release(addr.index);
    }
    for r in rest.iter().rev() {
        stop_record(r);
    }
    let _ = std::fs::remove_file(&pid_file);
    out!("bp-e2e: down ({})", state.display());
    Ok(())
}

fn stop_record(r: &PidRecord) {
    let was_alive = r.alive();
    // Also sweeps the group of a leader that already died.
    let killed = r.terminate(Duration::from_secs(10));
    if was_alive {
        out!("bp-e2e: stopped {} (pid {}){}", r.name, r.pid, if killed { " with SIGKILL" } else { "" });
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir().context("reading the current directory")?.join(p))
}
