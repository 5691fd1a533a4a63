//! `bp-operator`: runs the BuilderPlayground controller and its metrics and health server.

use std::net::SocketAddr;
use std::process::ExitCode;

use bp_operator::leader::LeaderElection;
use bp_operator::run::{Settings, run};
use clap::Parser;
use tracing::error;

#[derive(Parser)]
#[command(name = "bp-operator", version, about = "Runs builder-playground devnets on Kubernetes")]
struct Args {
    /// Address of the metrics and health server.
    #[arg(long, env = "BP_METRICS_ADDR", default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
    /// Image the generator Jobs run (an image with bp-generator: the operator's own).
    #[arg(long, env = "BP_GENERATOR_IMAGE", default_value = concat!("ghcr.io/flashbots/builder-playground-operator:", env!("CARGO_PKG_VERSION")))]
    generator_image: String,
    /// Watch only this namespace (default: all).
    #[arg(long, env = "BP_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Retries of a failing generator Pod before its Job fails.
    #[arg(long, default_value_t = 2)]
    generator_backoff_limit: i32,
    /// Seconds a generator Job may run.
    #[arg(long, default_value_t = 600)]
    generator_deadline: i64,
    /// Host directories under which `local-path` playgrounds may keep their files
    /// (comma-separated); a playground whose `spec.storage.path` lies elsewhere is invalid.
    #[arg(long, env = "BP_ALLOWED_HOST_PATHS", value_delimiter = ',', default_value = bp_generator::podspec::DEFAULT_STORAGE_PATH)]
    allowed_host_paths: Vec<String>,
    /// Reconcile only while holding the leader Lease, so that several replicas can run.
    #[arg(long, env = "BP_LEADER_ELECT")]
    leader_elect: bool,
    /// Namespace of the leader Lease (the chart sets the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "builder-playground-operator")]
    leader_election_lease: String,
}

/// Who this replica is in the election: its Pod's name, else host and process.
fn identity() -> String {
    std::env::var("POD_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(1);
        }
    };
    let settings = Settings {
        metrics_addr: args.metrics_addr,
        generator_image: args.generator_image,
        namespace: args.namespace,
        generator_backoff_limit: args.generator_backoff_limit,
        generator_deadline_seconds: args.generator_deadline,
        allowed_host_paths: args
            .allowed_host_paths
            .into_iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        kube_config: None,
        leader_election: args.leader_elect.then(|| LeaderElection {
            namespace: args.leader_election_namespace,
            lease: args.leader_election_lease,
            identity: identity(),
        }),
    };
    match runtime.block_on(run(settings, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::from(1)
        }
    }
}

/// `LOG_FORMAT=json|plain` (default plain), filter from `RUST_LOG` (default info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube_client::client::builder=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// SIGTERM (Kubernetes stopping the Pod) or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
