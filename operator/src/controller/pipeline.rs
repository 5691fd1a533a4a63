//! The reconcile pipeline (DESIGN §6): validate → hash-named generator Job → ConfigMap →
//! Secret, PVC, Pod, Service → status. Children are read from the watches' stores; requests
//! go out only to change something.

use std::time::{Duration, Instant};

use bp_generator::api::StorageType;
use bp_generator::cluster::{
    FIELD_MANAGER, HASH_ANNOTATION, INSTANCE_LABEL, REGENERATE_ANNOTATION, generator_job_name, input_hash,
    podspec_configmap_name, read_rendered, short_hash,
};
use bp_generator::{BuilderPlayground, Rendered};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Digest;
use tracing::{info, warn};

use super::monitor::{MONITOR_RETRY, monitor};
use super::publish::{Published, now, publish_status, truncate};
use super::{CheckedSpec, Context, RESYNC, RefusedService, SHORT_WAIT};
use crate::check::check_spec;
use crate::children;
use crate::error::{Context as _, Error};
use crate::lifetime;
use crate::status::{self, Exposure, GENERATED, Monitoring, Stage, Suspension};

pub(super) async fn reconcile_playground(pg: &BuilderPlayground, ctx: &Context) -> Result<Action, Error> {
    let name = pg.name_any();
    let ns = pg.namespace().ok_or_else(|| Error::NoNamespace(name.clone()))?;
    if pg.metadata.deletion_timestamp.is_some() {
        // Going away: the garbage collector removes the children; recreating any would race it.
        return Ok(Action::await_change());
    }
    if !ctx.stores.synced() {
        // The owned watches have not listed yet: an empty store is not "no children".
        return Ok(Action::requeue(SHORT_WAIT));
    }
    let expiry = lifetime::expiry(pg);
    let left = expiry.map(|at| lifetime::left(at, Timestamp::now()));
    if left == Some(Duration::ZERO) {
        return expire(pg, ctx, &ns).await;
    }
    let next = reconcile_spec(pg, ctx, &name, &ns, expiry).await?;
    // Back at the expiry at the latest. A playground that waits for a change looks at a far
    // expiry every RESYNC instead of in one long timer (the requeue queue holds about two
    // years at most); a changed lifetime is a change, seen at once.
    let next = match (next, left) {
        (Some(next), Some(left)) => Some(next.min(left)),
        (None, Some(left)) => Some(left.min(RESYNC)),
        (next, None) => next,
    };
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// Everything but the lifetime; returns when to come back (`None`: on a change only).
async fn reconcile_spec(
    pg: &BuilderPlayground,
    ctx: &Context,
    name: &str,
    ns: &str,
    expiry: Option<Timestamp>,
) -> Result<Option<Duration>, Error> {
    let key = ObjectRef::from_obj(pg);
    let previous = pg.status.as_ref();
    let generation = pg.metadata.generation;
    let now = now();
    let expires_at = expiry.map(|at| at.to_string());

    let (verdict, hash) = checked_spec(pg, ctx, &key);
    if let Err(message) = verdict {
        let mut status = status::compute(&Stage::Invalid { message }, previous, generation, &now);
        status.expires_at = expires_at;
        return Ok(after(publish_status(pg, ctx, status).await?, None));
    }

    let job_name = generator_job_name(name, &hash);
    let configmap = podspec_configmap_name(name);
    let rendered = current_rendered(ctx, ns, &configmap, &hash);
    let suspended = pg.spec.suspend;
    let ephemeral = pg.storage_type() == StorageType::Ephemeral;

    let Some(rendered) = rendered else {
        let stage = generate(pg, ctx, ns, &hash, &job_name).await?;
        let waiting = matches!(stage, Stage::Generating { .. });
        let mut status = status::compute(&stage, previous, generation, &now);
        status.expires_at = expires_at;
        // Suspended while generating: the Job runs to its end (a Pod of an earlier spec goes).
        let suspension = if suspended {
            Some(Suspension { pod_terminating: stop_pod(ctx, ns, name).await?, generating: waiting, ephemeral })
        } else {
            None
        };
        status::suspend(&mut status, suspension, generation, &now);
        let published = publish_status(pg, ctx, status).await?;
        // The Job and ConfigMap watches report progress; the requeue is a safety net.
        return Ok(after(published, waiting.then_some(RESYNC)));
    };

    let suspension = if suspended {
        Some(Suspension { pod_terminating: stop_pod(ctx, ns, name).await?, generating: false, ephemeral })
    } else {
        None
    };
    let pod = if suspended { None } else { deploy(pg, ctx, ns, &hash, &rendered).await? };
    // The Service stays while suspended: its address is the same when the devnet resumes.
    let exposure = expose(pg, ctx, ns, &rendered).await;
    let exposed = !matches!(exposure, Exposure::Failed(_));
    let monitoring = monitor(pg, ctx, ns, &rendered).await;
    let stage = Stage::Deployed { job: job_name.clone(), configmap, rendered: &rendered, pod: pod.as_ref(), exposure };
    let mut status = status::compute(&stage, previous, generation, &now);
    status.expires_at = expires_at;
    status::suspend(&mut status, suspension, generation, &now);
    status::set_monitoring(&mut status, monitoring.as_ref(), generation, &now);
    let monitor_retry = matches!(monitoring, Some(Monitoring::CrdMissing | Monitoring::Failed(_)));
    let first_time_for_hash = previous.and_then(|s| s.pod_spec_config_map.as_ref()).is_none()
        || previous.and_then(|s| s.generator_job.as_deref()) != Some(job_name.as_str());
    if first_time_for_hash {
        remove_old_jobs(ctx, ns, name, &hash).await?;
    }
    let replacing = pod.is_none() && !suspended;
    let published = publish_status(pg, ctx, status).await?;
    Ok(after(
        published,
        Some(if replacing {
            SHORT_WAIT
        } else if !exposed {
            // The Service is retried on its own; the devnet runs meanwhile.
            Duration::from_secs(10)
        } else if monitor_retry {
            // So is the PodMonitor (its CRD may be installed any time).
            MONITOR_RETRY
        } else {
            // The Pod watch reports every container change; the requeue is a safety net.
            RESYNC
        }),
    ))
}

/// The spec's verdict ([`check_spec`]: it renders the whole PodSpec) and its generator input
/// hash, computed once per uid, generation and regenerate token: a spec changes only with its
/// generation, and most reconciles come from the children's changes.
fn checked_spec(
    pg: &BuilderPlayground,
    ctx: &Context,
    key: &ObjectRef<BuilderPlayground>,
) -> (Result<(), String>, String) {
    let compute = || {
        let config = &ctx.generator;
        (check_spec(pg, config.native_sidecars, &config.allowed_host_paths), input_hash(pg))
    };
    let (Some(uid), Some(generation)) = (pg.metadata.uid.as_deref(), pg.metadata.generation) else {
        return compute();
    };
    let token = pg.annotations().get(REGENERATE_ANNOTATION).cloned();
    let cached = ctx.checks.lock().ok().and_then(|c| {
        c.get(key)
            .filter(|e| e.uid == uid && e.generation == generation && e.regenerate == token)
            .map(|e| (e.verdict.clone(), e.hash.clone()))
    });
    if let Some(hit) = cached {
        return hit;
    }
    let (verdict, hash) = compute();
    if let Ok(mut c) = ctx.checks.lock() {
        let entry = CheckedSpec {
            uid: uid.to_owned(),
            generation,
            regenerate: token,
            verdict: verdict.clone(),
            hash: hash.clone(),
        };
        c.insert(key.clone(), entry);
    }
    (verdict, hash)
}

/// The playground outlived `spec.lifetime`: an Expired event, then the playground itself is
/// deleted, and the garbage collector removes what it owns (background propagation: the
/// playground goes at once, its Pod after its grace period). Only this very object, as the
/// reconciler saw it: a playground changed since (a longer lifetime, say) or made anew under
/// the same name is looked at again instead.
async fn expire(pg: &BuilderPlayground, ctx: &Context, ns: &str) -> Result<Action, Error> {
    let name = pg.name_any();
    let lifetime = pg.spec.lifetime.as_deref().unwrap_or_default();
    let event = Event {
        type_: EventType::Normal,
        reason: "Expired".into(),
        note: Some(format!("spec.lifetime {lifetime} is over: deleting the playground and everything it owns")),
        action: "Delete".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &pg.object_ref(&())).await {
        warn!(error = %e, "cannot publish event");
    }
    let api: Api<BuilderPlayground> = Api::namespaced(ctx.client.clone(), ns);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions { uid: pg.uid(), resource_version: pg.resource_version() }),
        ..Default::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => {
            info!(playground = %format!("{ns}/{name}"), lifetime, "lifetime over: playground deleted");
            Ok(Action::await_change())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        // Changed since the watch saw it: the next reconcile decides on the new one.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Action::requeue(SHORT_WAIT)),
        Err(e) => Err(Error::Kube { action: format!("delete BuilderPlayground {ns}/{name}"), source: e }),
    }
}

/// The next reconcile: after `next` (`None`: on a change only), or sooner when a status change
/// waits to be written.
fn after(published: Published, next: Option<Duration>) -> Option<Duration> {
    match published {
        Published::Done => next,
        Published::Deferred(wait) => Some(wait),
    }
}

/// The rendered PodSpec of `hash`, if its ConfigMap (as the watch has it) holds it. It is
/// parsed on each reconcile and dropped after: the JSON in the cache is a fraction of the
/// parsed spec's size (2.5 kB against 19 kB for three services), and parsing it costs
/// microseconds.
fn current_rendered(ctx: &Context, ns: &str, name: &str, hash: &str) -> Option<Rendered> {
    let cm = ctx.stores.configmaps.get(&ObjectRef::new(name).within(ns))?;
    let annotated = cm.metadata.annotations.as_ref().and_then(|a| a.get(HASH_ANNOTATION));
    if annotated.map(String::as_str) != Some(hash) {
        return None;
    }
    // The hash read_rendered returns is the annotation just compared.
    match read_rendered(&cm) {
        Ok((_, rendered)) => Some(rendered),
        Err(message) => {
            warn!(configmap = name, %message, "unreadable ConfigMap; regenerating");
            None
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
    let Some(job) = ctx.stores.jobs.get(&ObjectRef::new(job_name).within(ns)) else {
        apply(ctx, ns, &children::rbac::service_account(pg)).await?;
        apply(ctx, ns, &children::rbac::role(pg)).await?;
        apply(ctx, ns, &children::rbac::role_binding(pg)).await?;
        let sa = children::rbac::generator_name(pg);
        // builder-playground writes onto the storage in the Job: a claim must be there first
        // (its Pod would wait for it, and the claim would come only with the devnet's Pod).
        if pg.spec.generation().is_some()
            && let Some(pvc) = children::pvc::build(pg)
        {
            create_if_missing(ctx, ns, &pvc).await?;
        }
        apply(ctx, ns, &children::job::build(pg, hash, &sa, &ctx.generator)).await?;
        info!(playground = %format!("{ns}/{}", pg.name_any()), job = job_name, "generator Job created");
        return Ok(Stage::Generating { job: job_name.into() });
    };
    let conditions = job.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let is = |t: &str| conditions.iter().any(|c| c.type_ == t && c.status == "True");
    if is("Failed") {
        let reason =
            conditions.iter().find(|c| c.type_ == "Failed").and_then(|c| c.message.clone()).unwrap_or_default();
        let message = generator_failure_message(pg, ctx, ns, job_name).await?.unwrap_or(reason);
        return Ok(Stage::GeneratorFailed { job: job_name.into(), message });
    }
    if is("Complete") {
        // It succeeded, yet its ConfigMap is gone or stale (deleted by hand): run it again.
        info!(job = job_name, "generator Job completed but its ConfigMap is missing; regenerating");
        let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
        let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
        jobs.delete(job_name, &params).await.during(|| format!("delete Job {ns}/{job_name}"))?;
    }
    Ok(Stage::Generating { job: job_name.into() })
}

/// The generator's own words: the termination message of its failed container. The status
/// keeps it once said, so the Job's Pods (not in the Pod watch) are listed once per failure.
async fn generator_failure_message(
    pg: &BuilderPlayground,
    ctx: &Context,
    ns: &str,
    job_name: &str,
) -> Result<Option<String>, Error> {
    let status = pg.status.as_ref().filter(|s| s.generator_job.as_deref() == Some(job_name));
    let said = status.and_then(|s| s.conditions.iter().find(|c| c.type_ == GENERATED && c.reason == "GeneratorFailed"));
    if let Some(condition) = said {
        return Ok(Some(condition.message.clone()));
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let params = ListParams::default().labels(&format!("{JOB_NAME_LABEL}={job_name}"));
    let listed = pods.list(&params).await.during(|| format!("list the Pods of Job {ns}/{job_name}"))?;
    Ok(termination_message(&listed.items))
}

/// The label the Job controller puts on its Pods.
const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// The last line of the first non-zero exit's termination message among `pods`' containers.
fn termination_message(pods: &[Pod]) -> Option<String> {
    pods.iter()
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

/// When the Pod of `hash` must be created, the Secret and PVC it mounts and the Pod itself;
/// returns the Pod of `hash`, if it exists yet. The Service comes after ([`expose`]).
async fn deploy(
    pg: &BuilderPlayground,
    ctx: &Context,
    ns: &str,
    hash: &str,
    rendered: &Rendered,
) -> Result<Option<Pod>, Error> {
    let name = pg.name_any();
    match ctx.stores.pods.get(&ObjectRef::new(&name).within(ns)) {
        Some(pod)
            if children::pod::hash_of(&pod.metadata) == Some(hash) && pod.metadata.deletion_timestamp.is_none() =>
        {
            Ok(Some(pod.to_pod()))
        }
        Some(pod) => {
            // Pod specs are immutable: an old one goes, and the next reconcile creates anew.
            if pod.metadata.deletion_timestamp.is_none() {
                info!(pod = %format!("{ns}/{name}"), "replacing the Pod of an older spec");
                delete_pod(ctx, ns, &name).await?;
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

/// Suspended: the playground's Pod (of any spec) goes unless it is going already. Tells
/// whether one is still there, terminating.
async fn stop_pod(ctx: &Context, ns: &str, name: &str) -> Result<bool, Error> {
    let Some(pod) = ctx.stores.pods.get(&ObjectRef::new(name).within(ns)) else { return Ok(false) };
    if pod.metadata.deletion_timestamp.is_none() {
        info!(pod = %format!("{ns}/{name}"), "suspended: deleting the Pod");
        delete_pod(ctx, ns, name).await?;
    }
    Ok(true)
}

async fn delete_pod(ctx: &Context, ns: &str, name: &str) -> Result<(), Error> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    match pods.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        // The watch was behind: it is gone already.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(Error::Kube { action: format!("delete Pod {ns}/{name}"), source: e }),
    }
}

/// The longest wait before a refused Service is tried again.
const SERVICE_RETRY_MAX: Duration = Duration::from_secs(60);

/// Applies the Service, after the Pod: it only exposes the devnet, so a Service the API server
/// refuses (a full service IP range, a quota, a taken nodePort) is the `Exposed` condition's
/// business and never keeps the devnet from running. After a refusal the Service is tried
/// again with the reconciles' backoff, not on every change of the Pod.
async fn expose(pg: &BuilderPlayground, ctx: &Context, ns: &str, rendered: &Rendered) -> Exposure {
    let Some(service) = children::service::build(pg, rendered) else { return Exposure::NoPorts };
    let key = ObjectRef::from_obj(pg);
    let refused = ctx.refused_services.lock().ok().and_then(|r| r.get(&key).cloned());
    if let Some(refused) = &refused
        && Instant::now() < refused.retry_at
    {
        return Exposure::Failed(refused.message.clone());
    }
    let name = service.metadata.name.clone().unwrap_or_default();
    match apply_if_changed(ctx, ns, &ctx.stores.services, service).await {
        Ok(()) => {
            if refused.is_some()
                && let Ok(mut r) = ctx.refused_services.lock()
            {
                r.remove(&key);
            }
            Exposure::Applied(format!("{name}.{ns}.svc"))
        }
        Err(e) => {
            let message = truncate(&e.to_string(), 1000);
            let refusals = refused.map_or(1, |r| r.refusals.saturating_add(1));
            warn!(service = %format!("{ns}/{name}"), error = %message, refusals, "cannot apply the Service; the devnet runs without it");
            if let Ok(mut r) = ctx.refused_services.lock() {
                let retry_at = Instant::now() + super::backoff(refusals).min(SERVICE_RETRY_MAX);
                r.insert(key, RefusedService { retry_at, refusals, message: message.clone() });
            }
            Exposure::Failed(message)
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
    let current = short_hash(hash);
    let old = ctx.stores.jobs.state_filter(|j| {
        let labels = j.metadata.labels.as_ref();
        let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
        j.metadata.namespace.as_deref() == Some(ns)
            && label(INSTANCE_LABEL) == Some(name)
            && label(children::job::HASH_LABEL) != Some(current)
            && j.metadata.deletion_timestamp.is_none()
    });
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
    for job in old {
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
pub trait Child:
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

/// Annotation with a digest of what the operator last applied to an object it keeps in
/// shape on every reconcile (the Service): an object whose cached copy carries the digest of
/// the desired one needs no request.
pub const APPLIED_ANNOTATION: &str = "playground.flashbots.io/applied";

/// `object` with [`APPLIED_ANNOTATION`] set to the digest of the rest of it.
pub fn with_applied_digest<K: Child>(mut object: K) -> K {
    object.meta_mut().annotations.get_or_insert_default().remove(APPLIED_ANNOTATION);
    let json = serde_json::to_vec(&object).unwrap_or_default();
    let digest = hex::encode(&sha2::Sha256::digest(&json)[..8]);
    object.meta_mut().annotations.get_or_insert_default().insert(APPLIED_ANNOTATION.into(), digest);
    object
}

/// Applies `object` unless the watch's copy already carries its digest.
async fn apply_if_changed<K, C>(ctx: &Context, ns: &str, store: &Store<C>, object: K) -> Result<(), Error>
where
    K: Child,
    C: Resource<DynamicType = ()> + Clone + 'static,
{
    let object = with_applied_digest(object);
    let name = object.meta().name.clone().unwrap_or_default();
    let digest = |o: &kube::api::ObjectMeta| o.annotations.as_ref().and_then(|a| a.get(APPLIED_ANNOTATION)).cloned();
    if store.get(&ObjectRef::new(&name).within(ns)).is_some_and(|cached| digest(cached.meta()) == digest(object.meta()))
    {
        return Ok(());
    }
    apply(ctx, ns, &object).await.map(drop)
}

/// Server-side apply with the operator's field manager, forcing the fields it owns.
async fn apply<K: Child>(ctx: &Context, ns: &str, object: &K) -> Result<K, Error> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let name = object.meta().name.clone().unwrap_or_default();
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object))
        .await
        .during(|| format!("apply {} {ns}/{name}", K::kind(&())))
}

/// The requests a reconcile sends, pinned against a mock API server: what a new playground
/// costs, and that a settled one costs nothing (every read comes from the stores).
#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use bp_generator::cluster::RENDERED_KEY;
    use http::{Request, Response};
    use k8s_openapi::api::core::v1::{ConfigMap, ContainerStatus, PodStatus};
    use kube::client::Body;

    use super::*;
    use crate::children::fixture::playground;
    use crate::children::job::GeneratorConfig;
    use crate::controller::STATUS_COALESCE;
    use crate::controller::watches::{Stores, Writers};
    use crate::metrics::Metrics;
    use crate::server::ServerState;
    use bp_generator::api::Phase;
    use bp_generator::{RenderOptions, render};
    use kube::runtime::reflector;

    /// A context on a mock API server that answers every request with `answer(method, path,
    /// body)`; the returned task yields "METHOD path" of each request, in order.
    fn context(
        answer: impl Fn(&str, &str, &[u8]) -> Vec<u8> + Send + 'static,
    ) -> (Arc<Context>, Writers, tokio::task::JoinHandle<Vec<String>>) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let seen = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Ok(Some((request, respond))) =
                tokio::time::timeout(Duration::from_millis(300), handle.next_request()).await
            {
                let (parts, body) = request.into_parts();
                let body = body.collect_bytes().await.unwrap_or_default();
                let path = parts.uri.path().to_owned();
                seen.push(format!("{} {path}", parts.method));
                let reply = answer(parts.method.as_str(), &path, &body);
                respond.send_response(Response::builder().status(200).body(Body::from(reply)).unwrap());
            }
            seen
        });
        let (reader, _writer) = reflector::store();
        let metrics = Metrics::new(reader).unwrap();
        let server = Arc::new(ServerState { metrics: metrics.clone(), ready: true.into() });
        let generator = GeneratorConfig {
            image: "op:1".into(),
            native_sidecars: true,
            backoff_limit: 2,
            deadline_seconds: 600,
            allowed_host_paths: vec![bp_generator::podspec::DEFAULT_STORAGE_PATH.into()],
        };
        let (stores, writers) = Stores::new();
        stores.mark_synced();
        (Arc::new(Context::new(client, metrics, generator, server, stores)), writers, seen)
    }

    /// Status changes arriving together (here two reconciles 0 ms apart, each with a status
    /// to write) make one write; the second reconcile comes back when the coalescing time is
    /// over.
    #[tokio::test]
    async fn status_changes_close_together_are_written_once() {
        let pg = playground();
        let pg_json = serde_json::to_vec(&pg).unwrap();
        let (ctx, _writers, seen) =
            context(move |_, path, body| if path.ends_with("/status") { pg_json.clone() } else { body.to_vec() });
        reconcile_playground(&pg, &ctx).await.unwrap();
        let again = reconcile_playground(&pg, &ctx).await.unwrap();
        let writes = seen.await.unwrap().into_iter().filter(|r| r.ends_with("/status")).count();
        assert_eq!(writes, 1, "one status write");
        // Action keeps its delay private; its Debug form shows it (`Some(99.8ms)`).
        let shown = format!("{again:?}");
        let delay = shown.split("Some(").nth(1).and_then(|d| d.split(')').next()).unwrap_or_default();
        let millis: f64 = match delay.strip_suffix("ms") {
            Some(ms) => ms.parse().unwrap(),
            None if delay.ends_with("µs") || delay.ends_with("ns") => 0.0,
            None => panic!("the second reconcile comes back in {delay:?}: {shown}"),
        };
        assert!(millis <= STATUS_COALESCE.as_millis() as f64, "within {STATUS_COALESCE:?}: {shown}");
    }

    #[tokio::test]
    async fn a_new_playground_costs_its_generators_identity_the_job_and_one_status_write() {
        let pg = playground();
        let pg_json = serde_json::to_vec(&pg).unwrap();
        let (ctx, _writers, seen) = context(move |_, path, body| {
            // Server-side apply answers with the object; the status patch with the playground.
            if path.ends_with("/status") { pg_json.clone() } else { body.to_vec() }
        });
        let action = reconcile_playground(&pg, &ctx).await.unwrap();
        assert_eq!(action, Action::requeue(RESYNC));
        let hash = input_hash(&pg);
        let job = generator_job_name("l1", &hash);
        assert_eq!(
            seen.await.unwrap(),
            [
                "PATCH /api/v1/namespaces/dev/serviceaccounts/l1-generator".to_owned(),
                "PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/dev/roles/l1-generator".into(),
                "PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/dev/rolebindings/l1-generator".into(),
                format!("PATCH /apis/batch/v1/namespaces/dev/jobs/{job}"),
                "PATCH /apis/playground.flashbots.io/v1alpha1/namespaces/dev/builderplaygrounds/l1/status".into(),
            ]
        );
    }

    /// `generate` onto a claim: the claim comes before the Job that writes onto it.
    #[tokio::test]
    async fn a_generated_playground_on_a_claim_gets_the_claim_before_its_job() {
        let mut pg = playground();
        pg.spec.services.clear();
        pg.spec.recipe = Some("l1".into());
        pg.spec.storage =
            Some(bp_generator::api::StorageSpec { storage_type: Some(StorageType::Pvc), ..Default::default() });
        let pg_json = serde_json::to_vec(&pg).unwrap();
        let (ctx, _writers, seen) =
            context(move |_, path, body| if path.ends_with("/status") { pg_json.clone() } else { body.to_vec() });
        reconcile_playground(&pg, &ctx).await.unwrap();
        let job = generator_job_name("l1", &input_hash(&pg));
        let seen = seen.await.unwrap();
        assert_eq!(
            seen[3..5],
            [
                "POST /api/v1/namespaces/dev/persistentvolumeclaims".to_owned(),
                format!("PATCH /apis/batch/v1/namespaces/dev/jobs/{job}"),
            ],
            "{seen:#?}"
        );
    }

    /// A failed generator's words come from its Pods, which the Pod watch does not hold: they
    /// are listed once, and after that the status says them without a request.
    #[tokio::test]
    async fn a_failed_generators_pods_are_listed_once() {
        use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated};
        let terminated = |exit_code: i32, message: &str| ContainerStatus {
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code,
                    message: Some(message.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let pods = k8s_openapi::List::<Pod> {
            items: vec![Pod {
                status: Some(PodStatus {
                    init_container_statuses: Some(vec![terminated(0, "fine")]),
                    container_statuses: Some(vec![terminated(1, "cooking nope\nerror: recipe nope not found\n")]),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let listed = serde_json::to_vec(&pods).unwrap();
        let (ctx, _writers, seen) = context(move |_, _, _| listed.clone());
        let mut pg = playground();
        let job = "l1-gen-1";
        let message = generator_failure_message(&pg, &ctx, "dev", job).await.unwrap();
        assert_eq!(message.as_deref(), Some("error: recipe nope not found"), "the last line of the failed one");

        let mut said = status::compute(
            &Stage::GeneratorFailed { job: job.into(), message: "said before".into() },
            None,
            Some(1),
            "2026-11-30T00:00:00Z",
        );
        // The Generated condition is the one read (Ready repeats it; here it says otherwise).
        said.conditions.iter_mut().filter(|c| c.type_ != GENERATED).for_each(|c| c.message = "other".into());
        pg.status = Some(said);
        let again = generator_failure_message(&pg, &ctx, "dev", job).await.unwrap();
        assert_eq!(again.as_deref(), Some("said before"));
        let other = generator_failure_message(&pg, &ctx, "dev", "l1-gen-2").await.unwrap();
        assert_eq!(other.as_deref(), Some("error: recipe nope not found"), "another Job's failure is listed");
        // The same Job, while the status still says it was generating: nothing said yet.
        pg.status =
            Some(status::compute(&Stage::Generating { job: job.into() }, None, Some(1), "2026-11-30T00:00:00Z"));
        let first = generator_failure_message(&pg, &ctx, "dev", job).await.unwrap();
        assert_eq!(first.as_deref(), Some("error: recipe nope not found"), "listed: the status said no failure");
        assert_eq!(seen.await.unwrap(), ["GET /api/v1/namespaces/dev/pods"; 3]);
    }

    /// A running playground's children as the watches have them, and its status saying so.
    struct Settled {
        job: Job,
        configmap: ConfigMap,
        pod: Pod,
        service: k8s_openapi::api::core::v1::Service,
    }

    fn settle(pg: &mut BuilderPlayground) -> Settled {
        let hash = input_hash(pg);
        let rendered = render(pg, &RenderOptions::default()).unwrap();
        let meta = |name: &str| kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("dev".into()),
            resource_version: Some("7".into()),
            annotations: Some(BTreeMap::from([(HASH_ANNOTATION.to_owned(), hash.clone())])),
            ..Default::default()
        };
        let job_name = generator_job_name("l1", &hash);
        let job = Job { metadata: meta(&job_name), ..Default::default() };
        let configmap = ConfigMap {
            metadata: meta(&podspec_configmap_name("l1")),
            data: Some(BTreeMap::from([(RENDERED_KEY.to_owned(), serde_json::to_string(&rendered).unwrap())])),
            ..Default::default()
        };
        let mut pod = children::pod::build(pg, &rendered, &hash);
        let ready = |name: &str| ContainerStatus { name: name.into(), ready: true, ..Default::default() };
        pod.status = Some(PodStatus {
            container_statuses: Some(rendered.containers.values().map(|c| ready(c)).collect()),
            ..Default::default()
        });
        let service = with_applied_digest(children::service::build(pg, &rendered).unwrap());
        let stage = Stage::Deployed {
            job: job_name.clone(),
            configmap: podspec_configmap_name("l1"),
            rendered: &rendered,
            pod: Some(&pod),
            exposure: Exposure::Applied("l1.dev.svc".into()),
        };
        pg.status = Some(status::compute(&stage, None, pg.metadata.generation, "2026-11-30T00:00:00Z"));
        assert_eq!(pg.status.as_ref().unwrap().phase, Some(Phase::Running), "the fixture is settled");
        Settled { job, configmap, pod, service }
    }

    /// Everything in place and the status already says so: no request at all.
    #[tokio::test]
    async fn a_settled_playground_costs_no_request() {
        let mut pg = playground();
        let world = settle(&mut pg);
        let (ctx, mut writers, seen) = context(|_, _, body| body.to_vec());
        writers.fill(vec![world.job], vec![world.configmap], vec![world.pod], vec![world.service]);
        let action = reconcile_playground(&pg, &ctx).await.unwrap();
        assert_eq!(action, Action::requeue(RESYNC));
        assert_eq!(seen.await.unwrap(), Vec::<String>::new());
    }

    /// A settled playground whose Service is missing from the cache (deleted, or never
    /// applied) gets it applied, and nothing else.
    #[tokio::test]
    async fn a_missing_service_is_applied() {
        let mut pg = playground();
        let world = settle(&mut pg);
        let (ctx, mut writers, seen) = context(|_, _, body| body.to_vec());
        writers.fill(vec![world.job], vec![world.configmap], vec![world.pod], vec![]);
        reconcile_playground(&pg, &ctx).await.unwrap();
        assert_eq!(seen.await.unwrap(), ["PATCH /api/v1/namespaces/dev/services/l1"]);
    }

    /// The spec is checked (rendered) once per generation: a spec changed under the same
    /// generation keeps the first verdict, a new generation gets a new one, and so does a new
    /// object of the same name (another uid).
    #[tokio::test]
    async fn a_spec_is_checked_once_per_uid_and_generation() {
        let (ctx, _writers, _seen) = context(|_, _, body| body.to_vec());
        let mut pg = playground();
        pg.metadata.uid = Some("u1".into());
        pg.metadata.generation = Some(1);
        let key = ObjectRef::from_obj(&pg);
        let (verdict, hash) = checked_spec(&pg, &ctx, &key);
        assert_eq!(verdict, Ok(()));
        assert_eq!(hash, input_hash(&pg));
        let mut broken = pg.clone();
        broken.spec.services[0].args.push("{{Service \"nope\" \"http\" \"http\" \"\"}}".into());
        assert_eq!(checked_spec(&broken, &ctx, &key), (Ok(()), hash.clone()), "same uid and generation: cached");
        broken.metadata.generation = Some(2);
        let (verdict, new_hash) = checked_spec(&broken, &ctx, &key);
        assert!(verdict.unwrap_err().contains("nope"));
        assert_ne!(new_hash, hash);
        let mut other = pg.clone();
        other.metadata.uid = Some("u2".into());
        other.metadata.generation = Some(2);
        assert_eq!(checked_spec(&other, &ctx, &key), (Ok(()), hash), "another uid: checked anew");
        // Without uid or generation (never from the API server) nothing is cached.
        broken.metadata.uid = None;
        assert!(checked_spec(&broken, &ctx, &key).0.is_err());
        // A new regenerate token is a new input: hashed anew under the same generation.
        let mut regenerated = other.clone();
        regenerated.metadata.annotations =
            Some([(bp_generator::cluster::REGENERATE_ANNOTATION.to_owned(), "1".to_owned())].into());
        let (verdict, regenerated_hash) = checked_spec(&regenerated, &ctx, &key);
        assert_eq!((verdict, regenerated_hash.clone()), (Ok(()), input_hash(&regenerated)));
        assert_ne!(regenerated_hash, input_hash(&other));
    }

    /// A deleted playground leaves nothing behind in the reconciler's memory: the playground
    /// watch's delete event drops it.
    #[tokio::test]
    async fn a_deleted_playground_is_forgotten() {
        let mut pg = playground();
        pg.metadata.uid = Some("u1".into());
        pg.metadata.generation = Some(1);
        let pg_json = serde_json::to_vec(&pg).unwrap();
        let (ctx, _writers, _seen) =
            context(move |_, path, body| if path.ends_with("/status") { pg_json.clone() } else { body.to_vec() });
        reconcile_playground(&pg, &ctx).await.unwrap();
        assert_eq!(ctx.remembered(), 1, "the check and the status write are kept");
        let object: kube::api::DynamicObject = serde_json::from_value(serde_json::to_value(&pg).unwrap()).unwrap();
        let event = super::super::watches::decode_event(&ctx, Ok(kube::runtime::watcher::Event::Delete(object))).await;
        assert!(matches!(event, Ok(Some(kube::runtime::watcher::Event::Delete(_)))));
        assert_eq!(ctx.remembered(), 0);
    }

    /// Suspending a running playground deletes its Pod and nothing else (no Job, no apply):
    /// then the status write and its Suspended event.
    #[tokio::test]
    async fn suspending_deletes_the_pod_and_nothing_else() {
        let mut pg = playground();
        let world = settle(&mut pg);
        pg.spec.suspend = true;
        pg.metadata.generation = Some(2);
        let pod_json = serde_json::to_vec(&world.pod).unwrap();
        let pg_json = serde_json::to_vec(&pg).unwrap();
        let (ctx, mut writers, seen) = context(move |method, path, body| match method {
            "DELETE" => pod_json.clone(),
            _ if path.ends_with("/status") => pg_json.clone(),
            _ => body.to_vec(),
        });
        writers.fill(vec![world.job], vec![world.configmap], vec![world.pod], vec![world.service]);
        let action = reconcile_playground(&pg, &ctx).await.unwrap();
        assert_eq!(action, Action::requeue(RESYNC), "the Pod watch reports when the Pod is gone");
        assert_eq!(
            seen.await.unwrap(),
            [
                "DELETE /api/v1/namespaces/dev/pods/l1",
                "PATCH /apis/playground.flashbots.io/v1alpha1/namespaces/dev/builderplaygrounds/l1/status",
                "POST /apis/events.k8s.io/v1/namespaces/dev/events",
            ]
        );
    }

    /// Suspended, the Pod gone, the status saying so: no request at all, and the hash (so the
    /// generator Job) is the running playground's.
    #[tokio::test]
    async fn a_settled_suspended_playground_costs_no_request() {
        let mut pg = playground();
        let world = settle(&mut pg);
        let running_hash = input_hash(&pg);
        pg.spec.suspend = true;
        assert_eq!(input_hash(&pg), running_hash, "suspend is no input of the generator");
        let rendered = render(&pg, &RenderOptions::default()).unwrap();
        let stage = Stage::Deployed {
            job: generator_job_name("l1", &running_hash),
            configmap: podspec_configmap_name("l1"),
            rendered: &rendered,
            pod: None,
            exposure: Exposure::Applied("l1.dev.svc".into()),
        };
        let now = "2026-11-30T00:00:01Z";
        let mut status = status::compute(&stage, pg.status.as_ref(), pg.metadata.generation, now);
        status::suspend(&mut status, Some(Suspension::default()), pg.metadata.generation, now);
        pg.status = Some(status);
        let (ctx, mut writers, seen) = context(|_, _, body| body.to_vec());
        writers.fill(vec![world.job], vec![world.configmap], vec![], vec![world.service]);
        let action = reconcile_playground(&pg, &ctx).await.unwrap();
        assert_eq!(action, Action::requeue(RESYNC));
        assert_eq!(seen.await.unwrap(), Vec::<String>::new());
    }

    /// Past its lifetime: an Expired event, then the playground is deleted, only if it is
    /// still the object the reconciler saw, and its children go with the garbage collector.
    #[tokio::test]
    async fn an_expired_playground_is_deleted_after_an_event() {
        let mut pg = playground();
        pg.spec.lifetime = Some("20s".into());
        pg.metadata.resource_version = Some("41".into());
        let created = Timestamp::now().checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(21)).unwrap();
        pg.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(created));
        let pg_json = serde_json::to_vec(&pg).unwrap();
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let (ctx, _writers, seen) = context(move |method, _, body| {
            kept.lock().unwrap().push((method.to_owned(), body.to_vec()));
            if method == "DELETE" { pg_json.clone() } else { body.to_vec() }
        });
        let action = reconcile_playground(&pg, &ctx).await.unwrap();
        assert_eq!(action, Action::await_change());
        assert_eq!(
            seen.await.unwrap(),
            [
                "POST /apis/events.k8s.io/v1/namespaces/dev/events",
                "DELETE /apis/playground.flashbots.io/v1alpha1/namespaces/dev/builderplaygrounds/l1",
            ]
        );
        let bodies = bodies.lock().unwrap();
        let event: serde_json::Value = serde_json::from_slice(&bodies[0].1).unwrap();
        assert_eq!(event["reason"], "Expired");
        assert_eq!(event["note"], "spec.lifetime 20s is over: deleting the playground and everything it owns");
        let delete: serde_json::Value = serde_json::from_slice(&bodies[1].1).unwrap();
        assert_eq!(delete["propagationPolicy"], "Background");
        assert_eq!(delete["preconditions"], serde_json::json!({"uid": "0b1c", "resourceVersion": "41"}));
    }

    /// Before its expiry a playground comes back at the expiry, not at the next resync.
    #[tokio::test]
    async fn a_playground_with_a_lifetime_comes_back_at_its_expiry() {
        let mut pg = playground();
        let world = settle(&mut pg);
        pg.spec.lifetime = Some("1h".into());
        let created = Timestamp::now().checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(3598)).unwrap();
        pg.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(created));
        let expires_at = lifetime::expiry(&pg).unwrap().to_string();
        pg.status.as_mut().unwrap().expires_at = Some(expires_at);
        let (ctx, mut writers, seen) = context(|_, _, body| body.to_vec());
        writers.fill(vec![world.job], vec![world.configmap], vec![world.pod], vec![world.service]);
        let action = reconcile_playground(&pg, &ctx).await.unwrap();
        assert_eq!(seen.await.unwrap(), Vec::<String>::new(), "expiresAt is in the status already");
        let shown = format!("{action:?}");
        let delay = shown.split("Some(").nth(1).and_then(|d| d.split(')').next()).unwrap_or_default();
        let seconds: f64 = delay.strip_suffix('s').and_then(|s| s.parse().ok()).unwrap_or(f64::MAX);
        assert!((1.0..=2.0).contains(&seconds), "back in at most 2 s: {shown}");
    }

    /// The PodMonitor: nothing but a discovery request while its kind is missing (asked again
    /// only when the cached answer expires), one apply once it exists, none while it is
    /// unchanged, another when it changes, and a delete when monitoring is switched off.
    #[tokio::test]
    async fn a_podmonitor_is_applied_when_its_kind_exists_and_only_when_it_changed() {
        use crate::controller::monitor::{forget_kind, monitor};
        use std::sync::atomic::{AtomicBool, Ordering};
        let mut pg = playground();
        pg.spec.services[0].args.extend(["--metrics".into(), "0.0.0.0:{{Port \"metrics\" 9090}}".into()]);
        pg.spec.monitoring = Some(bp_generator::api::MonitoringSpec::default());
        let rendered = render(&pg, &RenderOptions::default()).unwrap();
        let kind = Arc::new(AtomicBool::new(false));
        let served = kind.clone();
        let (ctx, _writers, seen) = context(move |method, path, body| {
            if path == "/apis/monitoring.coreos.com/v1" {
                let resources = if served.load(Ordering::SeqCst) {
                    serde_json::json!([{"name": "podmonitors", "singularName": "podmonitor", "namespaced": true,
                        "kind": "PodMonitor", "verbs": ["create", "delete", "get", "list", "patch", "watch"]}])
                } else {
                    serde_json::json!([{"name": "servicemonitors", "singularName": "servicemonitor", "namespaced": true,
                        "kind": "ServiceMonitor", "verbs": ["get"]}])
                };
                let list = serde_json::json!({"kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": "monitoring.coreos.com/v1", "resources": resources});
                serde_json::to_vec(&list).unwrap()
            } else if method == "DELETE" {
                br#"{"kind": "Status", "apiVersion": "v1", "status": "Success"}"#.to_vec()
            } else {
                body.to_vec()
            }
        });
        assert_eq!(monitor(&pg, &ctx, "dev", &rendered).await, Some(Monitoring::CrdMissing));
        assert_eq!(monitor(&pg, &ctx, "dev", &rendered).await, Some(Monitoring::CrdMissing), "cached");
        kind.store(true, Ordering::SeqCst);
        forget_kind(&ctx);
        let applied =
            Monitoring::Applied { podmonitor: "l1".into(), endpoints: vec!["el (port el-metrics, /metrics)".into()] };
        assert_eq!(monitor(&pg, &ctx, "dev", &rendered).await, Some(applied.clone()));
        assert_eq!(monitor(&pg, &ctx, "dev", &rendered).await, Some(applied.clone()), "unchanged: no request");
        pg.spec.monitoring.as_mut().unwrap().interval = Some("5s".into());
        assert_eq!(monitor(&pg, &ctx, "dev", &rendered).await, Some(applied));
        pg.spec.monitoring.as_mut().unwrap().enabled = false;
        assert_eq!(monitor(&pg, &ctx, "dev", &rendered).await, None);
        assert_eq!(monitor(&pg, &ctx, "dev", &rendered).await, None, "removed once");
        let podmonitor = "/apis/monitoring.coreos.com/v1/namespaces/dev/podmonitors/l1";
        assert_eq!(
            seen.await.unwrap(),
            [
                "GET /apis/monitoring.coreos.com/v1".to_owned(),
                "GET /apis/monitoring.coreos.com/v1".into(),
                format!("PATCH {podmonitor}"),
                format!("PATCH {podmonitor}"),
                format!("DELETE {podmonitor}"),
            ]
        );
    }

    /// A Service whose cached copy is not what the operator would apply is applied again.
    #[test]
    fn the_applied_digest_follows_the_desired_object() {
        let pg = playground();
        let rendered = render(&pg, &RenderOptions::default()).unwrap();
        let service = children::service::build(&pg, &rendered).unwrap();
        let a = with_applied_digest(service.clone());
        assert_eq!(with_applied_digest(a.clone()), a, "the digest ignores itself");
        let mut changed = service;
        changed.spec.get_or_insert_default().type_ = Some("NodePort".into());
        let b = with_applied_digest(changed);
        let digest = |s: &k8s_openapi::api::core::v1::Service| {
            s.metadata.annotations.as_ref().unwrap()[APPLIED_ANNOTATION].clone()
        };
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 16);
    }
}
