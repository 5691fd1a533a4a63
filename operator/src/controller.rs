//! The reconcile loop (DESIGN §6): validate → hash-named generator Job → ConfigMap → Secret,
//! PVC, Pod, Service → status. It only observes, calls the pure builders and status
//! computation, applies with server-side apply, and patches status when it changed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bp_generator::api::{BuilderPlaygroundStatus, Phase};
use bp_generator::cluster::{
    FIELD_MANAGER, HASH_ANNOTATION, INSTANCE_LABEL, generator_job_name, input_hash, podspec_configmap_name,
    read_rendered, short_hash,
};
use bp_generator::{BuilderPlayground, RenderOptions, Rendered, SpecErrors, render, validate::validate};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::core::ApiResource;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt, predicates, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use crate::children::{self, job::GeneratorConfig};
use crate::error::{Context as _, Error};
use crate::metrics::Metrics;
use crate::server::ServerState;
use crate::status::{self, DEPLOYED, GENERATED, READY, Stage};

/// How often a settled playground is looked at again without any event.
const RESYNC: Duration = Duration::from_secs(300);
/// While waiting on something no watch reports (an old Pod going away).
const SHORT_WAIT: Duration = Duration::from_secs(2);
/// Per-object retry backoff after errors.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// A rendered PodSpec and the resourceVersion of the ConfigMap it was read from.
type CachedRendered = (String, Arc<Rendered>);

/// Shared state of the reconciler.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub generator: GeneratorConfig,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<BuilderPlayground>, u32>>,
    /// Rendered PodSpecs by playground, with the resourceVersion of the ConfigMap they came from.
    rendered: Mutex<HashMap<ObjectRef<BuilderPlayground>, CachedRendered>>,
    /// Undecodable objects already reported (uid@resourceVersion), so each is reported once.
    reported: Mutex<HashSet<String>>,
    /// Set ready once the playground watch has listed everything.
    server: Arc<ServerState>,
}

impl Context {
    pub fn new(client: Client, metrics: Metrics, generator: GeneratorConfig, server: Arc<ServerState>) -> Self {
        let reporter = Reporter { controller: "bp-operator".into(), instance: std::env::var("POD_NAME").ok() };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            generator,
            failures: Mutex::default(),
            rendered: Mutex::default(),
            reported: Mutex::default(),
            server,
        }
    }
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
/// `ready` is called once the playground watch has synced.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    store: (Store<BuilderPlayground>, reflector::store::Writer<BuilderPlayground>),
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let (reader, writer) = store;
    let resource = ApiResource::erase::<BuilderPlayground>(&());
    let dynamic: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let decode_ctx = ctx.clone();
    // Watched untyped and decoded one by one: an object that does not decode (written under
    // an older schema, say) is reported and skipped instead of breaking the whole watch.
    let playgrounds = watcher(dynamic, watcher::Config::default())
        .default_backoff()
        .filter_map(move |event| {
            let ctx = decode_ctx.clone();
            async move { Some(decode_event(&ctx, event).await) }
        })
        .filter_map(|event| async move { event.transpose() })
        .reflect(writer)
        .applied_objects()
        // Status writes bump no generation: our own patches do not trigger reconciles.
        .predicate_filter(predicates::generation, PredicateConfig::default());
    // Only objects the operator made; cache and traffic stay proportional to playgrounds.
    // Secrets are not watched (that would need list/watch on every Secret): the JWT Secret
    // is only ever created, and checked for on each reconcile.
    let owned = || watcher::Config::default().labels("app.kubernetes.io/managed-by=bp-operator");
    let controller = Controller::for_stream(playgrounds, reader);
    let controller = match &namespace {
        Some(ns) => controller
            .owns(Api::<Job>::namespaced(client.clone(), ns), owned())
            .owns(Api::<ConfigMap>::namespaced(client.clone(), ns), owned())
            .owns(Api::<Pod>::namespaced(client.clone(), ns), owned())
            .owns(Api::<Service>::namespaced(client.clone(), ns), owned()),
        None => controller
            .owns(Api::<Job>::all(client.clone()), owned())
            .owns(Api::<ConfigMap>::all(client.clone()), owned())
            .owns(Api::<Pod>::all(client.clone()), owned())
            .owns(Api::<Service>::all(client.clone()), owned()),
    };
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile attempt ended with an error");
            }
        })
        .await;
}

/// Decodes one watch event; `Ok(None)` skips an undecodable object after reporting it.
async fn decode_event(
    ctx: &Context,
    event: Result<watcher::Event<DynamicObject>, watcher::Error>,
) -> Result<Option<watcher::Event<BuilderPlayground>>, watcher::Error> {
    use watcher::Event as E;
    let event = event?;
    let decoded = match event {
        E::Init => Some(E::Init),
        E::InitDone => {
            if !ctx.server.ready.swap(true, std::sync::atomic::Ordering::AcqRel) {
                info!("playground watch synced");
            }
            Some(E::InitDone)
        }
        E::Apply(obj) => decode_or_report(ctx, obj).await.map(E::Apply),
        E::InitApply(obj) => decode_or_report(ctx, obj).await.map(E::InitApply),
        E::Delete(obj) => obj.try_parse::<BuilderPlayground>().ok().map(E::Delete),
    };
    Ok(decoded)
}

async fn decode_or_report(ctx: &Context, obj: DynamicObject) -> Option<BuilderPlayground> {
    let reference = obj.object_ref(&ApiResource::erase::<BuilderPlayground>(&()));
    let key = format!("{}@{}", obj.uid().unwrap_or_default(), obj.resource_version().unwrap_or_default());
    match obj.try_parse::<BuilderPlayground>() {
        Ok(pg) => Some(pg),
        Err(e) => {
            report_undecodable(ctx, key, reference, e.to_string()).await;
            None
        }
    }
}

async fn report_undecodable(
    ctx: &Context,
    key: String,
    reference: k8s_openapi::api::core::v1::ObjectReference,
    message: String,
) {
    let first = ctx.reported.lock().map(|mut r| r.insert(key)).unwrap_or(false);
    if !first {
        return;
    }
    let name =
        format!("{}/{}", reference.namespace.clone().unwrap_or_default(), reference.name.clone().unwrap_or_default());
    warn!(playground = %name, error = %message, "skipping a BuilderPlayground that does not decode");
    ctx.metrics.reconcile_errors.with_label_values(&["Undecodable"]).inc();
    let event = Event {
        type_: EventType::Warning,
        reason: "Undecodable".into(),
        note: Some(truncate(&format!("the operator cannot read this object and skips it: {message}"), 1000)),
        action: "Decode".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        warn!(error = %e, "cannot publish event");
    }
}

/// One reconciliation, timed and counted; errors are also surfaced as a condition and event.
async fn reconcile(pg: Arc<BuilderPlayground>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_timer();
    let result = reconcile_playground(&pg, &ctx).await;
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

async fn reconcile_playground(pg: &BuilderPlayground, ctx: &Context) -> Result<Action, Error> {
    let name = pg.name_any();
    let ns = pg.namespace().ok_or_else(|| Error::NoNamespace(name.clone()))?;
    if pg.metadata.deletion_timestamp.is_some() {
        // Going away: the garbage collector removes the children; recreating any would race it.
        return Ok(Action::await_change());
    }
    let key = ObjectRef::from_obj(pg);
    let previous = pg.status.as_ref();
    let generation = pg.metadata.generation;
    let now = now();

    if let Err(message) = check_spec(pg, ctx.generator.native_sidecars) {
        let status = status::compute(&Stage::Invalid { message }, previous, generation, &now);
        publish_status(pg, ctx, status).await?;
        return Ok(Action::await_change());
    }

    let hash = input_hash(&pg.spec);
    let job_name = generator_job_name(&name, &hash);
    let configmap = podspec_configmap_name(&name);
    let rendered = current_rendered(ctx, &key, &ns, &configmap, &hash).await?;

    let Some(rendered) = rendered else {
        let stage = generate(pg, ctx, &ns, &hash, &job_name).await?;
        let waiting = matches!(stage, Stage::Generating { .. });
        let status = status::compute(&stage, previous, generation, &now);
        publish_status(pg, ctx, status).await?;
        // The Job and ConfigMap watches report progress; the requeue is a safety net.
        return Ok(if waiting { Action::requeue(Duration::from_secs(30)) } else { Action::await_change() });
    };

    let pod = deploy(pg, ctx, &ns, &hash, &rendered).await?;
    let stage = Stage::Deployed { job: job_name.clone(), configmap, rendered: &rendered, pod: pod.as_ref() };
    let status = status::compute(&stage, previous, generation, &now);
    let first_time_for_hash = previous.and_then(|s| s.pod_spec_config_map.as_ref()).is_none()
        || previous.and_then(|s| s.generator_job.as_deref()) != Some(job_name.as_str());
    if first_time_for_hash {
        remove_old_jobs(ctx, &ns, &name, &hash).await?;
    }
    let settled = status.phase == Some(Phase::Running);
    let replacing = pod.is_none();
    publish_status(pg, ctx, status).await?;
    Ok(Action::requeue(if replacing {
        SHORT_WAIT
    } else if settled {
        RESYNC
    } else {
        Duration::from_secs(30)
    }))
}

/// The spec can be rendered (or, when `generate` produces the services, is well-formed).
fn check_spec(pg: &BuilderPlayground, native_sidecars: bool) -> Result<(), String> {
    if pg.spec.generation().is_some() && pg.spec.services.is_empty() {
        let errors = validate(&pg.spec);
        return if errors.is_empty() { Ok(()) } else { Err(SpecErrors(errors).to_string()) };
    }
    render(pg, &RenderOptions { native_sidecars, ..RenderOptions::default() }).map(|_| ()).map_err(|e| e.to_string())
}

/// The rendered PodSpec of `hash`, if its ConfigMap exists. A metadata-only read tells
/// whether the cached copy is still the ConfigMap's (same resourceVersion); only a changed
/// ConfigMap is read in full.
async fn current_rendered(
    ctx: &Context,
    key: &ObjectRef<BuilderPlayground>,
    ns: &str,
    name: &str,
    hash: &str,
) -> Result<Option<Arc<Rendered>>, Error> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let Some(meta) = cms.get_metadata_opt(name).await.during(|| format!("get ConfigMap {ns}/{name}"))? else {
        return Ok(None);
    };
    let version = meta.metadata.resource_version.unwrap_or_default();
    let annotated = meta.metadata.annotations.as_ref().and_then(|a| a.get(HASH_ANNOTATION));
    if annotated.map(String::as_str) != Some(hash) {
        return Ok(None);
    }
    if let Some(hit) = ctx.rendered.lock().ok().and_then(|c| c.get(key).filter(|e| e.0 == version).map(|e| e.1.clone()))
    {
        return Ok(Some(hit));
    }
    let Some(cm) = cms.get_opt(name).await.during(|| format!("get ConfigMap {ns}/{name}"))? else {
        return Ok(None);
    };
    match read_rendered(&cm) {
        Ok((cm_hash, rendered)) if cm_hash == hash => {
            let rendered = Arc::new(rendered);
            let version = cm.metadata.resource_version.unwrap_or_default();
            if let Ok(mut cache) = ctx.rendered.lock() {
                cache.insert(key.clone(), (version, rendered.clone()));
            }
            Ok(Some(rendered))
        }
        Ok(_) => Ok(None),
        Err(message) => {
            warn!(configmap = name, %message, "unreadable ConfigMap; regenerating");
            Ok(None)
        }
    }
}

/// Ensures the generator Job of `hash` runs; tells where generation stands.
async fn generate<'a>(
    pg: &BuilderPlayground,
    ctx: &Context,
    ns: &str,
    hash: &str,
    job_name: &str,
) -> Result<Stage<'a>, Error> {
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    let job = jobs.get_opt(job_name).await.during(|| format!("get Job {ns}/{job_name}"))?;
    let Some(job) = job else {
        apply(ctx, ns, &children::rbac::service_account(pg)).await?;
        apply(ctx, ns, &children::rbac::role(pg)).await?;
        apply(ctx, ns, &children::rbac::role_binding(pg)).await?;
        let sa = children::rbac::generator_name(pg);
        apply(ctx, ns, &children::job::build(pg, hash, &sa, &ctx.generator)).await?;
        info!(playground = %format!("{ns}/{}", pg.name_any()), job = job_name, "generator Job created");
        return Ok(Stage::Generating { job: job_name.into() });
    };
    let conditions = job.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let is = |t: &str| conditions.iter().any(|c| c.type_ == t && c.status == "True");
    if is("Failed") {
        let reason =
            conditions.iter().find(|c| c.type_ == "Failed").and_then(|c| c.message.clone()).unwrap_or_default();
        let message = generator_failure_message(ctx, ns, job_name).await.unwrap_or(reason);
        return Ok(Stage::GeneratorFailed { job: job_name.into(), message });
    }
    if is("Complete") {
        // It succeeded, yet its ConfigMap is gone or stale (deleted by hand): run it again.
        info!(job = job_name, "generator Job completed but its ConfigMap is missing; regenerating");
        let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
        jobs.delete(job_name, &params).await.during(|| format!("delete Job {ns}/{job_name}"))?;
    }
    Ok(Stage::Generating { job: job_name.into() })
}

/// The generator's own words: the termination message of its failed container.
async fn generator_failure_message(ctx: &Context, ns: &str, job_name: &str) -> Option<String> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let list = pods.list(&ListParams::default().labels(&format!("job-name={job_name}"))).await.ok()?;
    list.items
        .iter()
        .flat_map(|p| {
            p.status
                .iter()
                .flat_map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()))
        })
        .filter_map(|cs| cs.state.as_ref()?.terminated.as_ref())
        .filter(|t| t.exit_code != 0)
        .filter_map(|t| t.message.as_deref().map(str::trim).filter(|m| !m.is_empty()))
        .map(|m| truncate(m.lines().last().unwrap_or(m), 1000))
        .next()
}

/// Applies the Service and, when the Pod of `hash` must be created, the Secret and PVC it
/// mounts and the Pod itself; returns the Pod of `hash`, if it exists yet.
async fn deploy(
    pg: &BuilderPlayground,
    ctx: &Context,
    ns: &str,
    hash: &str,
    rendered: &Rendered,
) -> Result<Option<Pod>, Error> {
    let name = pg.name_any();
    if let Some(service) = children::service::build(pg, rendered) {
        apply(ctx, ns, &service).await?;
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    match pods.get_opt(&name).await.during(|| format!("get Pod {ns}/{name}"))? {
        Some(pod) if children::pod::hash_of(&pod) == Some(hash) && pod.metadata.deletion_timestamp.is_none() => {
            Ok(Some(pod))
        }
        Some(pod) => {
            // Pod specs are immutable: an old one goes, and the next reconcile creates anew.
            if pod.metadata.deletion_timestamp.is_none() {
                info!(pod = %format!("{ns}/{name}"), "replacing the Pod of an older spec");
                pods.delete(&name, &DeleteParams::default()).await.during(|| format!("delete Pod {ns}/{name}"))?;
            }
            Ok(None)
        }
        None => {
            ensure_volumes(pg, ctx, ns, rendered).await?;
            let pod = apply(ctx, ns, &children::pod::build(pg, rendered, hash)).await?;
            info!(pod = %format!("{ns}/{name}"), "Pod created");
            Ok(Some(pod))
        }
    }
}

/// The Secret and claim the Pod mounts, created when missing and otherwise left alone: the JWT
/// is generated once, and a bound claim's spec is immutable. A plain create that finds the
/// object already there is done, so the operator needs neither to read nor to patch Secrets.
async fn ensure_volumes(pg: &BuilderPlayground, ctx: &Context, ns: &str, rendered: &Rendered) -> Result<(), Error> {
    if rendered.pod_spec.volumes.iter().flatten().any(|v| v.secret.is_some()) {
        create_if_missing(ctx, ns, &children::secret::build(pg, &children::secret::new_jwt())).await?;
    }
    if let Some(pvc) = children::pvc::build(pg) {
        create_if_missing(ctx, ns, &pvc).await?;
    }
    Ok(())
}

async fn create_if_missing<K: Child>(ctx: &Context, ns: &str, object: &K) -> Result<(), Error> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let name = object.meta().name.clone().unwrap_or_default();
    match api.create(&PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() }, object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(Error::Kube { action: format!("create {} {ns}/{name}", K::kind(&())), source: e }),
    }
}

/// Generator Jobs of earlier hashes are removed once the current one has delivered.
async fn remove_old_jobs(ctx: &Context, ns: &str, name: &str, hash: &str) -> Result<(), Error> {
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    let selector = format!("{INSTANCE_LABEL}={name},{}!={}", children::job::HASH_LABEL, short_hash(hash));
    let old =
        jobs.list_metadata(&ListParams::default().labels(&selector)).await.during(|| format!("list Jobs in {ns}"))?;
    let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
    for job in old.items {
        let job_name = job.name_any();
        match jobs.delete(&job_name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(Error::Kube { action: format!("delete Job {ns}/{job_name}"), source: e }),
        }
    }
    Ok(())
}

/// A namespaced object the operator writes.
trait Child:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Serialize
    + DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Child for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug
{
}

/// Server-side apply with the operator's field manager, forcing the fields it owns.
async fn apply<K: Child>(ctx: &Context, ns: &str, object: &K) -> Result<K, Error> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let name = object.meta().name.clone().unwrap_or_default();
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object))
        .await
        .during(|| format!("apply {} {ns}/{name}", K::kind(&())))
}

/// Writes the status when it changed, and tells about the transitions: events, metrics.
async fn publish_status(pg: &BuilderPlayground, ctx: &Context, status: BuilderPlaygroundStatus) -> Result<(), Error> {
    let previous = pg.status.as_ref();
    // compute() keeps timestamps of unchanged conditions, so equality means nothing to write.
    if previous == Some(&status) {
        return Ok(());
    }
    let ns = pg.namespace().unwrap_or_default();
    let name = pg.name_any();
    let api: Api<BuilderPlayground> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = serde_json::json!({
        "apiVersion": BuilderPlayground::api_version(&()),
        "kind": BuilderPlayground::kind(&()),
        "status": status,
    });
    api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .during(|| format!("patch status of BuilderPlayground {ns}/{name}"))?;
    for (type_, condition) in transitions(previous, &status) {
        let warning = matches!(
            condition.reason.as_str(),
            "InvalidSpec" | "GeneratorFailed" | "ServicesFailing" | "PodCreatedWithWarnings"
        );
        if type_ == GENERATED && condition.status == "True" {
            ctx.metrics.generator_jobs.with_label_values(&["success"]).inc();
            observe_generator_duration(ctx, &ns, status.generator_job.as_deref()).await;
        }
        if type_ == GENERATED && condition.reason == "GeneratorFailed" {
            ctx.metrics.generator_jobs.with_label_values(&["failure"]).inc();
        }
        if type_ == READY && condition.status == "True" {
            observe_time_to_ready(ctx, pg);
        }
        if warning || condition.status == "True" {
            let event = Event {
                type_: if warning { EventType::Warning } else { EventType::Normal },
                reason: condition.reason.clone(),
                note: Some(truncate(&condition.message, 1000)),
                action: type_.into(),
                secondary: None,
            };
            if let Err(e) = ctx.recorder.publish(&event, &pg.object_ref(&())).await {
                warn!(error = %e, "cannot publish event");
            }
        }
    }
    Ok(())
}

/// Conditions whose status or reason changed.
fn transitions<'a>(
    previous: Option<&BuilderPlaygroundStatus>,
    status: &'a BuilderPlaygroundStatus,
) -> Vec<(&'static str, &'a bp_generator::api::Condition)> {
    [READY, GENERATED, DEPLOYED]
        .into_iter()
        .filter_map(|t| {
            let new = status.conditions.iter().find(|c| c.type_ == t)?;
            let old = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == t));
            let changed = old.is_none_or(|o| o.status != new.status || o.reason != new.reason);
            changed.then_some((t, new))
        })
        .collect()
}

async fn observe_generator_duration(ctx: &Context, ns: &str, job: Option<&str>) {
    let Some(job) = job else { return };
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    if let Ok(Some(job)) = jobs.get_opt(job).await
        && let Some(status) = job.status
        && let (Some(start), Some(end)) = (status.start_time, status.completion_time)
    {
        let seconds = end.0.as_millisecond() - start.0.as_millisecond();
        ctx.metrics.generator_duration.observe(seconds as f64 / 1000.0);
    }
}

/// From the moment the playground last stopped being ready (or was created) to now.
fn observe_time_to_ready(ctx: &Context, pg: &BuilderPlayground) {
    let since = pg
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
        .and_then(|c| c.last_transition_time.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .or_else(|| pg.metadata.creation_timestamp.as_ref().map(|t| t.0));
    if let Some(since) = since {
        let seconds = (k8s_openapi::jiff::Timestamp::now().as_millisecond() - since.as_millisecond()) as f64 / 1000.0;
        ctx.metrics.time_to_ready.observe(seconds.max(0.0));
    }
}

/// A failed reconciliation shows on the object: Ready=False with the error's reason, and a
/// Warning event. Best effort: the cluster may be what failed.
async fn surface_error(pg: &BuilderPlayground, ctx: &Context, error: &Error) {
    let message = truncate(&error.to_string(), 1000);
    let mut status = pg.status.clone().unwrap_or_default();
    let already =
        status.conditions.iter().any(|c| c.type_ == READY && c.reason == error.reason() && c.message == message);
    if !already {
        let now = now();
        let transition = status
            .conditions
            .iter()
            .find(|c| c.type_ == READY && c.status == "False")
            .map_or(now.clone(), |c| c.last_transition_time.clone());
        status.conditions.retain(|c| c.type_ != READY);
        status.conditions.insert(
            0,
            bp_generator::api::Condition {
                type_: READY.into(),
                status: "False".into(),
                reason: error.reason().into(),
                message: message.clone(),
                observed_generation: pg.metadata.generation,
                last_transition_time: transition,
            },
        );
        let api: Api<BuilderPlayground> = Api::namespaced(ctx.client.clone(), &pg.namespace().unwrap_or_default());
        let patch = serde_json::json!({
            "apiVersion": BuilderPlayground::api_version(&()),
            "kind": BuilderPlayground::kind(&()),
            "status": status,
        });
        let _ =
            api.patch_status(&pg.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await;
        let event = Event {
            type_: EventType::Warning,
            reason: error.reason().into(),
            note: Some(message),
            action: "Reconcile".into(),
            secondary: None,
        };
        let _ = ctx.recorder.publish(&event, &pg.object_ref(&())).await;
    }
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn long_messages_are_cut_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
