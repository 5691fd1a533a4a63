//! Starting the operator: client, metrics and health server, controller; stopping it
//! gracefully when `shutdown` resolves.

use std::net::SocketAddr;
use std::sync::Arc;

use kube::runtime::reflector;
use tokio::sync::watch;
use tracing::info;

use crate::children::job::GeneratorConfig;
use crate::controller::{self, Context};
use crate::leader::{self, LeaderElection};
use crate::metrics::Metrics;
use crate::server::{self, ServerState};

/// What the operator is told at start.
#[derive(Clone)]
pub struct Settings {
    /// Address of the metrics and health server.
    pub metrics_addr: SocketAddr,
    /// Image the generator Jobs run.
    pub generator_image: String,
    /// Watch only this namespace.
    pub namespace: Option<String>,
    pub generator_backoff_limit: i32,
    pub generator_deadline_seconds: i64,
    /// Host directories `local-path` playgrounds may use.
    pub allowed_host_paths: Vec<String>,
    /// Cluster access; inferred (KUBECONFIG, in-cluster) when `None`.
    pub kube_config: Option<kube::Config>,
    /// Reconcile only while holding this Lease (several replicas); `None`: always.
    pub leader_election: Option<LeaderElection>,
}

/// Runs until `shutdown` resolves, then lets in-flight reconciliations finish.
pub async fn run(
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (reader, writer) = reflector::store();
    let metrics = Metrics::new(reader.clone()).map_err(|e| format!("cannot register metrics: {e}"))?;
    let config = match settings.kube_config {
        Some(c) => c,
        None => kube::Config::infer().await.map_err(|e| format!("no Kubernetes configuration: {e}"))?,
    };
    let client = controller::counting_client(config, &metrics)?;
    let version = client.apiserver_version().await.map_err(|e| format!("cannot reach the Kubernetes API: {e}"))?;
    let minor: u32 = version.minor.trim_end_matches('+').parse().unwrap_or(0);
    let native_sidecars = version.major == "1" && minor >= 29;
    info!(server = %version.git_version, native_sidecars, "connected");

    // Bound before anything starts, so a taken port fails the start instead of going unnoticed.
    let listener = tokio::net::TcpListener::bind(settings.metrics_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.metrics_addr))?;
    let state = Arc::new(ServerState { metrics: metrics.clone(), ready: false.into() });
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let server = tokio::spawn(server::serve(listener, state.clone(), stopped(stop_rx.clone())));
    info!(addr = %settings.metrics_addr, "serving /metrics, /healthz, /readyz");

    tokio::spawn(async move {
        shutdown.await;
        info!("shutting down: finishing in-flight reconciliations");
        let _ = stop_tx.send(true);
    });

    // A follower serves metrics and health (and is ready: it can take over) until it holds
    // the Lease; then its readiness is the playground watch's, as for a single replica.
    let leading = match &settings.leader_election {
        None => None,
        Some(election) => {
            state.ready.store(true, std::sync::atomic::Ordering::Release);
            info!(lease = %format!("{}/{}", election.namespace, election.lease), identity = %election.identity, "waiting for the leader Lease");
            let acquired = tokio::select! {
                acquired = leader::acquire(client.clone(), election) => acquired?,
                () = stopped(stop_rx.clone()) => return finish(server, settings.metrics_addr).await,
            };
            info!("holding the leader Lease: reconciling");
            state.ready.store(false, std::sync::atomic::Ordering::Release);
            Some(acquired)
        }
    };
    metrics.leader.set(1);

    let generator = GeneratorConfig {
        image: settings.generator_image,
        native_sidecars,
        backoff_limit: settings.generator_backoff_limit,
        deadline_seconds: settings.generator_deadline_seconds,
        allowed_host_paths: settings.allowed_host_paths,
    };
    // The watch marks the state ready at its first complete list. (Store::wait_until_ready is
    // not used: in kube-runtime 5 only one of several concurrent waiters is woken, and the
    // controller itself is one.)
    let (stores, writers) = controller::Stores::new();
    let ctx = Arc::new(Context::new(client, metrics.clone(), generator, state, stores));
    let Some(leading) = leading else {
        controller::run(ctx, settings.namespace, (reader, writer), writers, stopped(stop_rx)).await;
        return finish(server, settings.metrics_addr).await;
    };
    let (lost_tx, lost_rx) = watch::channel(false);
    let watch_lease = tokio::spawn(async move {
        leader::lost(leading).await;
        let _ = lost_tx.send(true);
    });
    let stop = {
        let (stop, lost) = (stopped(stop_rx), stopped(lost_rx.clone()));
        async move {
            tokio::select! {
                () = stop => {}
                () = lost => {}
            }
        }
    };
    controller::run(ctx, settings.namespace, (reader, writer), writers, stop).await;
    watch_lease.abort();
    metrics.leader.set(0);
    if *lost_rx.borrow() {
        // Reconciling on could race the new leader: stop, and come back as a follower.
        return Err("lost the leader Lease: exiting so that this replica restarts as a follower".into());
    }
    finish(server, settings.metrics_addr).await
}

/// Waits for the metrics server to stop.
async fn finish(server: tokio::task::JoinHandle<std::io::Result<()>>, addr: SocketAddr) -> Result<(), String> {
    match server.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("metrics server on {addr}: {e}")),
        Err(e) => Err(format!("metrics server task: {e}")),
    }
}
