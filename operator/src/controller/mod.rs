//! The reconcile loop (DESIGN §6): validate → hash-named generator Job → ConfigMap → Secret,
//! PVC, Pod, Service → status. It only observes, calls the pure builders and status
//! computation, applies with server-side apply, and patches status when it changed.

mod monitor;
mod pipeline;
mod publish;
pub mod watches;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bp_generator::BuilderPlayground;
use bp_generator::cluster::REGENERATE_ANNOTATION;
use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Reporter;

use crate::events::Recorder;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt};
use kube::{Client, ResourceExt};
use tracing::warn;

use crate::children::job::GeneratorConfig;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::server::ServerState;
pub use pipeline::{APPLIED_ANNOTATION, with_applied_digest};
use publish::surface_error;
pub use watches::Stores;

/// How often a settled playground is looked at again without any event.
pub(crate) const RESYNC: Duration = Duration::from_secs(300);
/// While waiting on something no watch reports (an old Pod going away).
pub(crate) const SHORT_WAIT: Duration = Duration::from_secs(2);
/// Reconciles running at once. A reconcile mostly waits on the API server; more at once
/// only hold more requests and responses in memory at the same time.
pub(crate) const CONCURRENCY: u16 = 16;
/// Status writes of one playground are at least this far apart: readiness changes of several
/// containers arriving together become one write, each delayed by at most this much.
pub const STATUS_COALESCE: Duration = Duration::from_millis(100);
/// Per-object retry backoff after errors.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Shared state of the reconciler.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub generator: GeneratorConfig,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<BuilderPlayground>, u32>>,
    /// Services the API server refused, per playground: when to try again, how many times it
    /// refused, and its words. The devnet runs meanwhile; retries back off like reconciles.
    refused_services: Mutex<HashMap<ObjectRef<BuilderPlayground>, RefusedService>>,
    /// When each playground's status was last written: writes closer than
    /// [`STATUS_COALESCE`] are coalesced into one.
    status_writes: Mutex<HashMap<ObjectRef<BuilderPlayground>, std::time::Instant>>,
    /// The verdict on each playground's spec and its generator input hash, for the spec
    /// generation they were computed from: rendering is not repeated on every reconcile.
    checks: Mutex<HashMap<ObjectRef<BuilderPlayground>, CheckedSpec>>,
    /// PodMonitors: whether their kind exists, and what was applied last per playground.
    monitoring: Mutex<monitor::MonitorMemo>,
    /// Undecodable objects already reported (uid@resourceVersion), so each is reported once.
    reported: Mutex<HashSet<String>>,
    /// Set ready once the playground watch has listed everything.
    server: Arc<ServerState>,
    /// The children the owned watches have seen: what the reconciler reads.
    pub stores: Stores,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Metrics,
        generator: GeneratorConfig,
        server: Arc<ServerState>,
        stores: Stores,
    ) -> Self {
        let reporter = Reporter { controller: "bp-operator".into(), instance: std::env::var("POD_NAME").ok() };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            generator,
            failures: Mutex::default(),
            refused_services: Mutex::default(),
            status_writes: Mutex::default(),
            checks: Mutex::default(),
            monitoring: Mutex::default(),
            reported: Mutex::default(),
            server,
            stores,
        }
    }
}

impl Context {
    /// Drops what the reconciler kept about a playground that is gone.
    pub(crate) fn forget(&self, key: &ObjectRef<BuilderPlayground>) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(key);
        }
        if let Ok(mut m) = self.refused_services.lock() {
            m.remove(key);
        }
        if let Ok(mut m) = self.status_writes.lock() {
            m.remove(key);
        }
        if let Ok(mut m) = self.checks.lock() {
            m.remove(key);
        }
    }

    /// How many playgrounds the reconciler keeps something about (for tests).
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        let mut keys: HashSet<ObjectRef<BuilderPlayground>> = HashSet::new();
        let mut add = |k: Vec<ObjectRef<BuilderPlayground>>| keys.extend(k);
        add(self.failures.lock().map(|m| m.keys().cloned().collect()).unwrap_or_default());
        add(self.refused_services.lock().map(|m| m.keys().cloned().collect()).unwrap_or_default());
        add(self.status_writes.lock().map(|m| m.keys().cloned().collect()).unwrap_or_default());
        add(self.checks.lock().map(|m| m.keys().cloned().collect()).unwrap_or_default());
        keys.len()
    }
}

/// The check of a spec and its generator input hash, valid for one uid, generation and
/// regenerate token (the annotation changes no generation).
#[derive(Debug, Clone)]
pub(crate) struct CheckedSpec {
    pub uid: String,
    pub generation: i64,
    pub regenerate: Option<String>,
    pub verdict: Result<(), String>,
    pub hash: String,
}

/// A Service the API server refused: when to try again, after how many refusals, and why.
#[derive(Debug, Clone)]
struct RefusedService {
    retry_at: std::time::Instant,
    refusals: u32,
    message: String,
}

/// A client that counts every request it sends in `bp_api_requests_total{method}`.
pub fn counting_client(config: kube::Config, metrics: &Metrics) -> Result<Client, String> {
    let counter = metrics.api_requests.clone();
    let layer = tower::util::MapRequestLayer::new(move |request: http::Request<kube::client::Body>| {
        counter.with_label_values(&[request.method().as_str()]).inc();
        request
    });
    let builder =
        kube::client::ClientBuilder::try_from(config).map_err(|e| format!("cannot build a Kubernetes client: {e}"))?;
    Ok(builder.with_layer(&layer).build())
}

/// Runs the controller until `shutdown` resolves; in-flight reconciliations finish first.
/// The playground watch marks the server ready once it has synced; the owned watches fill
/// `writers`' stores (the ones in `ctx`).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    store: (Store<BuilderPlayground>, reflector::store::Writer<BuilderPlayground>),
    writers: watches::Writers,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (reader, writer) = store;
    let playgrounds = watches::playgrounds(ctx.clone(), namespace.as_deref(), writer)
        // Status writes bump no generation: our own patches do not trigger reconciles.
        .predicate_filter(generation_or_regenerate, PredicateConfig::default());
    // Secrets are not watched (that would need list/watch on every Secret): the JWT Secret
    // is only ever created, when the Pod is.
    let (jobs, configmaps, pods, services) = watches::owned(&ctx.client, namespace.as_deref(), &ctx.stores, writers);
    Controller::for_stream(playgrounds, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(CONCURRENCY))
        .owns_stream(jobs)
        .owns_stream(configmaps)
        .owns_stream(pods)
        .owns_stream(services)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile attempt ended with an error");
            }
        })
        .await;
}

/// What makes a changed playground worth a reconcile: its generation (status writes bump
/// none) and the regenerate annotation, which is metadata and bumps none either.
fn generation_or_regenerate(pg: &BuilderPlayground) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    pg.metadata.generation.hash(&mut hasher);
    pg.annotations().get(REGENERATE_ANNOTATION).hash(&mut hasher);
    Some(hasher.finish())
}

/// One reconciliation, timed and counted; errors are also surfaced as a condition and event.
async fn reconcile(pg: Arc<BuilderPlayground>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_timer();
    let result = pipeline::reconcile_playground(&pg, &ctx).await;
    let key = ObjectRef::from_obj(pg.as_ref());
    match &result {
        Ok(_) => {
            ctx.metrics.reconciles.with_label_values(&["success"]).inc();
            if let Ok(mut f) = ctx.failures.lock() {
                f.remove(&key);
            }
        }
        Err(e) if e.namespace_terminating() => {
            // Its namespace is being deleted, the playground with it: nothing to do.
            ctx.metrics.reconciles.with_label_values(&["success"]).inc();
            return Ok(Action::await_change());
        }
        Err(e) => {
            ctx.metrics.reconciles.with_label_values(&["error"]).inc();
            ctx.metrics.reconcile_errors.with_label_values(&[e.reason()]).inc();
            warn!(playground = %key, reason = e.reason(), error = %e, "reconcile failed");
            surface_error(&pg, &ctx, e).await;
        }
    }
    result
}

/// Per-object exponential backoff with jitter.
fn error_policy(pg: Arc<BuilderPlayground>, _error: &Error, ctx: Arc<Context>) -> Action {
    let key = ObjectRef::from_obj(pg.as_ref());
    let failures = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    Action::requeue(backoff(failures))
}

/// `base * 2^(failures-1)`, capped, times a random factor in [0.75, 1.25).
pub fn backoff(failures: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let capped = exp.min(BACKOFF_MAX);
    capped.mul_f64(0.75 + rand::random::<f64>() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_regenerate_value_is_a_change_and_other_metadata_is_not() {
        let pg = crate::children::fixture::playground();
        let base = generation_or_regenerate(&pg);
        let mut noted = pg.clone();
        noted.annotations_mut().insert("example.com/note".into(), "x".into());
        noted.status = Some(Default::default());
        assert_eq!(generation_or_regenerate(&noted), base, "other annotations and status are no change");
        let with = |value: &str| {
            let mut pg = pg.clone();
            pg.annotations_mut().insert(REGENERATE_ANNOTATION.into(), value.into());
            generation_or_regenerate(&pg)
        };
        assert_ne!(with("1"), base);
        assert_ne!(with("1"), with("2"));
        let mut edited = pg.clone();
        edited.metadata.generation = Some(2);
        assert_ne!(generation_or_regenerate(&edited), base, "a spec change");
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        for failures in 1..=12 {
            let d = backoff(failures);
            let nominal = BACKOFF_BASE.saturating_mul(1 << (failures - 1)).min(BACKOFF_MAX);
            assert!(d >= nominal.mul_f64(0.75) && d < nominal.mul_f64(1.25), "{failures}: {d:?} vs {nominal:?}");
        }
        assert!(backoff(40) < BACKOFF_MAX.mul_f64(1.25));
        let samples: HashSet<u128> = (0..20).map(|_| backoff(3).as_nanos()).collect();
        assert!(samples.len() > 1, "jittered");
    }
}
