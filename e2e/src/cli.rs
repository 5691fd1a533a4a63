//! `bp-e2e up`, `down` and `node`: a detached cluster for humans and scripts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::Api;

use crate::DEFAULT_LOG;
use crate::cluster::{node_and_sa_ready, random_netns_prefix};
use crate::controlplane;
use crate::node::{self, AgentConfig, ImageMapping, NodeCapacity};
use crate::paths;
use crate::procs::{self, ManagedProc, Mode, PidRecord};

/// Prints a line, ignoring a closed stdout (`bp-e2e down | head` must still stop
/// everything).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub const NODE_NAME: &str = "bp-e2e-node";
const AGENT: &str = "node-agent";

/// `~/.cache/bp-e2e/state/default`
pub fn default_state_dir() -> PathBuf {
    paths::cache_root().join("state").join("default")
}

/// What `up` leaves in the state dir for `down`.
#[derive(serde::Serialize, serde::Deserialize)]
struct ClusterInfo {
    server: String,
    node_name: String,
    netns_prefix: String,
}

/// Files and dirs `up` creates (and removes again before a fresh start).
const STATE_ENTRIES: [&str; 11] = [
    "pki",
    "etcd",
    "apiserver",
    "controller-manager",
    "scheduler",
    "node",
    "logs",
    "pids",
    "kubeconfig",
    "cluster.json",
    "agent.log",
];

pub struct UpArgs {
    pub state: PathBuf,
    pub images: Vec<ImageMapping>,
    pub crds: Option<PathBuf>,
    pub bin_dir: Option<PathBuf>,
}

/// Starts a detached cluster; the last line printed is `export KUBECONFIG=...`.
pub fn up(args: UpArgs) -> Result<()> {
    crate::install_crypto_provider();
    let state = absolute(&args.state)?;
    let pid_file = state.join("pids");
    let kubeconfig = state.join("kubeconfig");
    if procs::read_records(&pid_file).iter().any(PidRecord::alive) {
        out!("bp-e2e: already up in {} (stop it with: bp-e2e down --state {})", state.display(), state.display());
        out!("export KUBECONFIG={}", kubeconfig.display());
        return Ok(());
    }
    let bin_dir = args.bin_dir.clone().unwrap_or_else(paths::bin_dir);
    let cold = paths::ensure_binaries(&bin_dir)?;

    // A fresh cluster each time: leftovers of a previous one would confuse etcd and the agent.
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
    let version = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bp-e2e: start failed, stopping what was started");
            let _ = down(&state);
            return Err(e);
        }
    };
    let warm = started.elapsed();
    out!("bp-e2e: Kubernetes {version} running (state {})", state.display());
    out!("bp-e2e: cold (provision/build) {:.1}s, warm start {:.1}s", cold.as_secs_f64(), warm.as_secs_f64());
    out!("bp-e2e: logs in {}/logs; stop with: bp-e2e down --state {}", state.display(), state.display());
    out!("export KUBECONFIG={}", kubeconfig.display());
    Ok(())
}

async fn start_detached(args: &UpArgs, state: &Path, bin_dir: &Path) -> Result<String> {
    let pid_file = state.join("pids");
    let cp = controlplane::start(&controlplane::Options {
        state_dir: state.to_path_buf(),
        bin_dir: bin_dir.to_path_buf(),
        crds_dir: args.crds.clone().or_else(|| Some(paths::workspace_dir().join("crds"))),
        mode: Mode::Detached,
        pid_file: Some(pid_file.clone()),
    })
    .await?;
    let netns_prefix = random_netns_prefix();
    let info =
        ClusterInfo { server: cp.server.clone(), node_name: NODE_NAME.into(), netns_prefix: netns_prefix.clone() };
    std::fs::write(state.join("cluster.json"), serde_json::to_string_pretty(&info)?).context("writing cluster.json")?;

    let exe = std::env::current_exe().context("locating the bp-e2e binary")?;
    let mut agent_args: Vec<String> = vec![
        "node".into(),
        "--kubeconfig".into(),
        cp.kubeconfig.display().to_string(),
        "--state".into(),
        state.join("node").display().to_string(),
        "--node-name".into(),
        NODE_NAME.into(),
        "--netns-prefix".into(),
        netns_prefix,
    ];
    for m in &args.images {
        let mut spec = format!("{}={}", m.image, m.bin_dir.display());
        if let Some(e) = &m.entrypoint {
            spec.push(':');
            spec.push_str(e);
        }
        agent_args.push("--image".into());
        agent_args.push(spec);
    }
    let log = state.join("logs").join(format!("{AGENT}.log"));
    let agent = ManagedProc::spawn(AGENT, &exe, &agent_args, &log, Mode::Detached)?;
    procs::append_record(&pid_file, &agent.record)?;

    let client = kube::Client::try_from(cp.config.clone()).context("building client")?;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(90);
    while !node_and_sa_ready(&sas, &nodes, NODE_NAME).await {
        if !agent.record.alive() {
            bail!("node agent exited; last lines of {}:\n{}", log.display(), procs::tail_lines(&log, 20));
        }
        if Instant::now() > deadline {
            bail!("cluster not ready within 90s; see {}", state.join("logs").display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let version = client.apiserver_version().await?.git_version;
    // The processes outlive this command: forget them without stopping them.
    std::mem::forget(cp);
    Ok(version)
}

/// Stops exactly what `up` started in `state`, by recorded PID and start time.
pub fn down(state: &Path) -> Result<()> {
    let pid_file = state.join("pids");
    let agent_procs = state.join("node").join("procs");
    let mut recs = procs::read_records(&pid_file);
    let leftovers = procs::read_records(&agent_procs);
    if recs.is_empty() && leftovers.is_empty() {
        out!("bp-e2e: nothing to stop in {}", state.display());
        return Ok(());
    }
    // The agent first (it stops its containers), then the control plane newest first.
    recs.sort_by_key(|r| r.name != AGENT);
    let (agent, rest): (Vec<_>, Vec<_>) = recs.into_iter().partition(|r| r.name == AGENT);
    for r in agent.iter().chain(rest.iter().rev()) {
        let was_alive = r.alive();
        // Also sweeps the group of a leader that already died.
        let killed = r.terminate(Duration::from_secs(if r.name == AGENT { 30 } else { 10 }));
        if was_alive {
            out!("bp-e2e: stopped {} (pid {}){}", r.name, r.pid, if killed { " with SIGKILL" } else { "" });
        } else {
            out!("bp-e2e: {} (pid {}) was not running", r.name, r.pid);
        }
    }
    // Containers of an agent that died without cleaning up.
    for r in procs::read_records(&agent_procs) {
        let was_alive = r.alive();
        // Also sweeps the group of a leader that already died (its children remain).
        r.terminate(Duration::from_secs(2));
        if was_alive {
            out!("bp-e2e: stopped container process {} (pid {})", r.name, r.pid);
        }
    }
    if let Ok(text) = std::fs::read_to_string(state.join("cluster.json"))
        && let Ok(info) = serde_json::from_str::<ClusterInfo>(&text)
    {
        for ns in node::process::netns_with_prefix(&info.netns_prefix) {
            let _ = std::process::Command::new("ip").args(["netns", "delete", &ns]).status();
        }
    }
    let _ = std::fs::remove_file(&pid_file);
    let _ = std::fs::remove_file(&agent_procs);
    out!("bp-e2e: down ({})", state.display());
    Ok(())
}

pub struct NodeArgs {
    pub kubeconfig: PathBuf,
    pub state: PathBuf,
    pub node_name: String,
    pub netns_prefix: String,
    pub images: Vec<ImageMapping>,
}

/// The node agent as a process (what `up` starts); stops on SIGTERM/SIGINT.
pub fn node(args: NodeArgs) -> Result<()> {
    crate::install_crypto_provider();
    let filter = tracing_subscriber::EnvFilter::try_from_env("BP_E2E_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).try_init();
    // Single-threaded: every container is spawned from this thread, and dies with it
    // (PR_SET_PDEATHSIG) if the agent is killed.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("building runtime")?;
    rt.block_on(async move {
        let config = crate::kubeconfig::load_config(&args.kubeconfig).await?;
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        let ca_pem = read_ca(&args.kubeconfig)?;
        let client = kube::Client::try_from(config).context("building client")?;
        let cfg = AgentConfig {
            node_name: args.node_name,
            state_dir: args.state,
            images: args.images,
            helper_bin: std::env::current_exe().context("locating bp-e2e")?,
            server,
            ca_pem,
            capacity: NodeCapacity::default(),
            netns_prefix: args.netns_prefix,
            mode: Mode::Tied,
            host_ip: "127.0.0.1".into(),
        };
        let shutdown = async {
            use tokio::signal::unix::{SignalKind, signal};
            match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
                (Ok(mut t), Ok(mut i)) => {
                    tokio::select! {
                        _ = t.recv() => {}
                        _ = i.recv() => {}
                    }
                }
                _ => std::future::pending::<()>().await,
            }
            tracing::info!("stopping node agent");
        };
        node::run(client, cfg, shutdown).await
    })
}

/// The CA (PEM) embedded in a kubeconfig this harness wrote.
fn read_ca(kubeconfig: &Path) -> Result<String> {
    use base64::Engine;
    let kc =
        kube::config::Kubeconfig::read_from(kubeconfig).with_context(|| format!("reading {}", kubeconfig.display()))?;
    let data = kc
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.certificate_authority_data.clone())
        .context("kubeconfig without certificate-authority-data")?;
    let pem =
        base64::engine::general_purpose::STANDARD.decode(data.trim()).context("decoding certificate-authority-data")?;
    String::from_utf8(pem).context("CA is not UTF-8")
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir().context("reading the current directory")?.join(p))
}
