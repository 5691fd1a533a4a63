//! The reconcile pipeline (DESIGN §6): validate → hash-named generator Job → ConfigMap →
//! Secret, PVC, Pod, Service → status. Children are read from the watches' stores; requests
//! go out only to change something.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bp_generator::api::Phase;
use bp_generator::cluster::{
    FIELD_MANAGER, HASH_ANNOTATION, INSTANCE_LABEL, generator_job_name, input_hash, podspec_configmap_name,
    read_rendered, short_hash,
};
use bp_generator::{BuilderPlayground, Rendered};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Digest;
use tracing::{info, warn};

use super::publish::{Published, now, publish_status, truncate};
use super::{Context, RESYNC, RefusedService, SHORT_WAIT};
use crate::check::check_spec;
use crate::children;
use crate::error::{Context as _, Error};
use crate::status::{self, Exposure, Stage};

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
    let key = ObjectRef::from_obj(pg);
    let previous = pg.status.as_ref();
    let generation = pg.metadata.generation;
    let now = now();

    let config = &ctx.generator;
    if let Err(message) = check_spec(pg, config.native_sidecars, &config.allowed_host_paths) {
        let status = status::compute(&Stage::Invalid { message }, previous, generation, &now);
        return Ok(after(publish_status(pg, ctx, status).await?, Action::await_change()));
    }

    let hash = input_hash(&pg.spec);
    let job_name = generator_job_name(&name, &hash);
    let configmap = podspec_configmap_name(&name);
    let rendered = current_rendered(ctx, &key, &ns, &configmap, &hash);

    let Some(rendered) = rendered else {
        let stage = generate(pg, ctx, &ns, &hash, &job_name).await?;
        let waiting = matches!(stage, Stage::Generating { .. });
        let status = status::compute(&stage, previous, generation, &now);
        let published = publish_status(pg, ctx, status).await?;
        // The Job and ConfigMap watches report progress; the requeue is a safety net.
        return Ok(after(
            published,
            if waiting { Action::requeue(Duration::from_secs(30)) } else { Action::await_change() },
        ));
    };

    let pod = deploy(pg, ctx, &ns, &hash, &rendered).await?;
    let exposure = expose(pg, ctx, &ns, &rendered).await;
    let exposed = !matches!(exposure, Exposure::Failed(_));
    let stage = Stage::Deployed { job: job_name.clone(), configmap, rendered: &rendered, pod: pod.as_ref(), exposure };
    let status = status::compute(&stage, previous, generation, &now);
    let first_time_for_hash = previous.and_then(|s| s.pod_spec_config_map.as_ref()).is_none()
        || previous.and_then(|s| s.generator_job.as_deref()) != Some(job_name.as_str());
    if first_time_for_hash {
        remove_old_jobs(ctx, &ns, &name, &hash).await?;
    }
    let settled = status.phase == Some(Phase::Running);
    let replacing = pod.is_none();
    let published = publish_status(pg, ctx, status).await?;
    Ok(after(
        published,
        Action::requeue(if replacing {
            SHORT_WAIT
        } else if !exposed {
            // The Service is retried on its own; the devnet runs meanwhile.
            Duration::from_secs(10)
        } else if settled {
            RESYNC
        } else {
            Duration::from_secs(30)
        }),
    ))
}

/// The next reconcile: `action`, or sooner when a status change waits to be written.
fn after(published: Published, action: Action) -> Action {
    match published {
        Published::Done => action,
        Published::Deferred(wait) => Action::requeue(wait),
    }
}

/// The rendered PodSpec of `hash`, if its ConfigMap (as the watch has it) holds it. The
/// parsed copy is kept per playground and parsed again only when the ConfigMap's
/// resourceVersion changed.
fn current_rendered(
    ctx: &Context,
    key: &ObjectRef<BuilderPlayground>,
    ns: &str,
    name: &str,
    hash: &str,
) -> Option<Arc<Rendered>> {
    let cm = ctx.stores.configmaps.get(&ObjectRef::new(name).within(ns))?;
    let annotated = cm.metadata.annotations.as_ref().and_then(|a| a.get(HASH_ANNOTATION));
    if annotated.map(String::as_str) != Some(hash) {
        return None;
    }
    let version = cm.metadata.resource_version.clone().unwrap_or_default();
    if let Some(hit) = ctx.rendered.lock().ok().and_then(|c| c.get(key).filter(|e| e.0 == version).map(|e| e.1.clone()))
    {
        return Some(hit);
    }
    match read_rendered(&cm) {
        Ok((cm_hash, rendered)) if cm_hash == hash => {
            let rendered = Arc::new(rendered);
            if let Ok(mut cache) = ctx.rendered.lock() {
                cache.insert(key.clone(), (version, rendered.clone()));
            }
            Some(rendered)
        }
        Ok(_) => None,
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
        apply(ctx, ns, &children::job::build(pg, hash, &sa, &ctx.generator)).await?;
        info!(playground = %format!("{ns}/{}", pg.name_any()), job = job_name, "generator Job created");
        return Ok(Stage::Generating { job: job_name.into() });
    };
    let conditions = job.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let is = |t: &str| conditions.iter().any(|c| c.type_ == t && c.status == "True");
    if is("Failed") {
        let reason =
            conditions.iter().find(|c| c.type_ == "Failed").and_then(|c| c.message.clone()).unwrap_or_default();
        let message = generator_failure_message(ctx, ns, job_name).unwrap_or(reason);
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

/// The generator's own words: the termination message of its failed container (its Pod
/// carries the operator's labels, so the Pod watch has it).
fn generator_failure_message(ctx: &Context, ns: &str, job_name: &str) -> Option<String> {
    let pods = ctx.stores.pods.state_filter(|p| {
        p.metadata.namespace.as_deref() == Some(ns)
            && p.metadata.labels.as_ref().and_then(|l| l.get("job-name")).map(String::as_str) == Some(job_name)
    });
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
        Some(pod) if children::pod::hash_of(&pod) == Some(hash) && pod.metadata.deletion_timestamp.is_none() => {
            Ok(Some(Pod::clone(&pod)))
        }
        Some(pod) => {
            // Pod specs are immutable: an old one goes, and the next reconcile creates anew.
            if pod.metadata.deletion_timestamp.is_none() {
                info!(pod = %format!("{ns}/{name}"), "replacing the Pod of an older spec");
                let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
                match pods.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    // The watch was behind: it is gone already.
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(e) => return Err(Error::Kube { action: format!("delete Pod {ns}/{name}"), source: e }),
                }
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
async fn apply_if_changed<K: Child>(ctx: &Context, ns: &str, store: &Store<K>, object: K) -> Result<(), Error> {
    let object = with_applied_digest(object);
    let name = object.meta().name.clone().unwrap_or_default();
    let digest = |o: &K| o.meta().annotations.as_ref().and_then(|a| a.get(APPLIED_ANNOTATION)).cloned();
    if store.get(&ObjectRef::new(&name).within(ns)).is_some_and(|cached| digest(&cached) == digest(&object)) {
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
        assert_eq!(action, Action::requeue(Duration::from_secs(30)));
        let hash = input_hash(&pg.spec);
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

    /// Everything in place and the status already says so: no request at all.
    #[tokio::test]
    async fn a_settled_playground_costs_no_request() {
        let mut pg = playground();
        let hash = input_hash(&pg.spec);
        let rendered = render(&pg, &RenderOptions::default()).unwrap();
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
        let mut pod = children::pod::build(&pg, &rendered, &hash);
        let ready = |name: &str| ContainerStatus { name: name.into(), ready: true, ..Default::default() };
        pod.status = Some(PodStatus {
            container_statuses: Some(rendered.containers.values().map(|c| ready(c)).collect()),
            ..Default::default()
        });
        let service = with_applied_digest(children::service::build(&pg, &rendered).unwrap());
        let stage = Stage::Deployed {
            job: job_name.clone(),
            configmap: podspec_configmap_name("l1"),
            rendered: &rendered,
            pod: Some(&pod),
            exposure: Exposure::Applied("l1.dev.svc".into()),
        };
        pg.status = Some(status::compute(&stage, None, pg.metadata.generation, "2026-11-30T00:00:00Z"));
        assert_eq!(pg.status.as_ref().unwrap().phase, Some(Phase::Running), "the fixture is settled");
        let (ctx, mut writers, seen) = context(|_, _, body| body.to_vec());
        writers.fill(vec![job], vec![configmap], vec![pod], vec![service]);
        let action = reconcile_playground(&pg, &ctx).await.unwrap();
        assert_eq!(action, Action::requeue(RESYNC));
        assert_eq!(seen.await.unwrap(), Vec::<String>::new());
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
