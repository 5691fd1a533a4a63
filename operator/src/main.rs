//! `bp-operator`: runs the BuilderPlayground controller and its metrics and health server.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bp_operator::children::job::GeneratorConfig;
use bp_operator::controller::{self, Context};
use bp_operator::metrics::Metrics;
use bp_operator::server::{self, ServerState};
use clap::Parser;
use kube::runtime::reflector;
use tokio::sync::watch;
use tracing::{error, info};

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
    match runtime.block_on(run(args)) {
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

async fn run(args: Args) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (reader, writer) = reflector::store();
    let metrics = Metrics::new(reader.clone()).map_err(|e| format!("cannot register metrics: {e}"))?;
    let client = bp_operator::controller::counting_client(&metrics).await?;
    let version = client.apiserver_version().await.map_err(|e| format!("cannot reach the Kubernetes API: {e}"))?;
    let minor: u32 = version.minor.trim_end_matches('+').parse().unwrap_or(0);
    let native_sidecars = version.major == "1" && minor >= 29;
    info!(server = %version.git_version, native_sidecars, "connected");

    let state = Arc::new(ServerState { metrics: metrics.clone(), ready: false.into() });
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // Bound before anything starts, so a taken port fails the start instead of going unnoticed.
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.metrics_addr))?;
    let server = tokio::spawn(server::serve(listener, state.clone(), stopped(stop_rx.clone())));
    info!(addr = %args.metrics_addr, "serving /metrics, /healthz, /readyz");

    let ready_state = state.clone();
    let ready_reader = reader.clone();
    tokio::spawn(async move {
        if ready_reader.wait_until_ready().await.is_ok() {
            ready_state.ready.store(true, Ordering::Release);
            info!("watches synced");
        }
    });
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down: finishing in-flight reconciliations");
        let _ = stop_tx.send(true);
    });

    let generator = GeneratorConfig {
        image: args.generator_image,
        native_sidecars,
        backoff_limit: args.generator_backoff_limit,
        deadline_seconds: args.generator_deadline,
    };
    let ctx = Arc::new(Context::new(client, metrics, generator));
    controller::run(ctx, args.namespace, (reader, writer), stopped(stop_rx)).await;
    match server.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("metrics server on {}: {e}", args.metrics_addr)),
        Err(e) => Err(format!("metrics server task: {e}")),
    }
}

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
