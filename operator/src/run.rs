//! Starting the operator: client, metrics and health server, admission webhook, controller;
//! stopping it gracefully when `shutdown` resolves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::reflector;
use tokio::sync::watch;
use tracing::info;

use crate::children::job::GeneratorConfig;
use crate::controller::{self, Context};
use crate::leader::{self, LeaderElection};
use crate::metrics::Metrics;
use crate::server::{self, ServerState};
use crate::webhook::certs::{self, ManagedCerts};
use crate::webhook::tls::{self, ServingCert};
use crate::webhook::{self, Admission};

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
    /// Serve the validating admission webhook; `None`: no webhook.
    pub webhook: Option<WebhookSettings>,
}

/// Where the admission webhook listens (HTTPS) and its certificate comes from.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub addr: SocketAddr,
    pub certs: WebhookCerts,
}

#[derive(Clone, Debug)]
pub enum WebhookCerts {
    /// tls.crt and tls.key in this directory, read again when they change.
    Dir(PathBuf),
    /// Made, stored, published and renewed by the operator.
    Managed(ManagedCerts),
}

/// How often a certificate directory is read again.
const CERT_DIR_CHECK: Duration = Duration::from_secs(60);

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

    if let Some(webhook) = &settings.webhook {
        let admission = Admission { native_sidecars, allowed_host_paths: settings.allowed_host_paths.clone() };
        start_webhook(webhook, admission, &client, &stop_rx).await?;
    }

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

/// Binds the webhook's port, starts keeping its certificate and serves it over TLS, every
/// replica alike (it needs no leadership).
async fn start_webhook(
    webhook: &WebhookSettings,
    admission: Admission,
    client: &kube::Client,
    stop_rx: &watch::Receiver<bool>,
) -> Result<(), String> {
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let listener = tokio::net::TcpListener::bind(webhook.addr)
        .await
        .map_err(|e| format!("cannot listen on {} for the webhook: {e}", webhook.addr))?;
    let serving = Arc::new(ServingCert::default());
    match &webhook.certs {
        WebhookCerts::Dir(dir) => {
            let loaded = certs::load_dir(dir, &serving)?;
            tokio::spawn(certs::watch_dir(
                dir.clone(),
                serving.clone(),
                CERT_DIR_CHECK,
                loaded,
                stopped(stop_rx.clone()),
            ));
        }
        WebhookCerts::Managed(managed) => {
            tokio::spawn(certs::keep_fresh(client.clone(), managed.clone(), serving.clone(), stopped(stop_rx.clone())));
        }
    }
    let config = tls::server_config(serving)?;
    let router = webhook::router(Arc::new(admission));
    let addr = webhook.addr;
    let stop = stopped(stop_rx.clone());
    tokio::spawn(async move {
        if let Err(e) = tls::serve(listener, router, config, stop).await {
            tracing::error!(%addr, error = %e, "the webhook server stopped");
        }
    });
    info!(%addr, path = webhook::PATH, "serving the admission webhook (HTTPS)");
    Ok(())
}

/// Waits for the metrics server to stop.
async fn finish(server: tokio::task::JoinHandle<std::io::Result<()>>, addr: SocketAddr) -> Result<(), String> {
    match server.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("metrics server on {addr}: {e}")),
        Err(e) => Err(format!("metrics server task: {e}")),
    }
}
