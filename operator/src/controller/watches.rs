//! What the controller watches: the playgrounds (decoded one by one, so an object that does
//! not decode is reported and skipped instead of breaking the watch) and the children it
//! owns (Jobs, ConfigMaps, Pods, Services), each reflected into a store. The reconciler reads
//! children from these stores only: a steady-state reconcile sends no request at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bp_generator::BuilderPlayground;
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use super::Context;
use super::publish::truncate;

/// Label of every object the operator makes: the owned watches see those only, so their
/// caches and traffic stay proportional to the playgrounds.
pub const MANAGED: &str = "app.kubernetes.io/managed-by=bp-operator";

/// The children the owned watches have seen, by kind.
#[derive(Clone)]
pub struct Stores {
    pub jobs: Store<Job>,
    pub configmaps: Store<ConfigMap>,
    pub pods: Store<Pod>,
    pub services: Store<Service>,
    /// Set once every owned watch has listed everything; reconciles wait for it, so that
    /// an empty store at start is never taken for missing children.
    synced: Arc<[AtomicBool; 4]>,
}

/// The writing ends of [`Stores`], consumed by [`owned`].
pub struct Writers {
    jobs: Writer<Job>,
    configmaps: Writer<ConfigMap>,
    pods: Writer<Pod>,
    services: Writer<Service>,
}

impl Stores {
    /// Empty stores and their writers.
    pub fn new() -> (Stores, Writers) {
        let (jobs, jw) = reflector::store();
        let (configmaps, cw) = reflector::store();
        let (pods, pw) = reflector::store();
        let (services, sw) = reflector::store();
        let synced = Arc::new([const { AtomicBool::new(false) }; 4]);
        (
            Stores { jobs, configmaps, pods, services, synced },
            Writers { jobs: jw, configmaps: cw, pods: pw, services: sw },
        )
    }

    /// Every owned watch has completed its first list.
    pub fn synced(&self) -> bool {
        self.synced.iter().all(|s| s.load(Ordering::Acquire))
    }

    /// Marks every watch as synced (for tests that fill the stores by hand).
    #[cfg(test)]
    pub fn mark_synced(&self) {
        self.synced.iter().for_each(|s| s.store(true, Ordering::Release));
    }
}

#[cfg(test)]
impl Writers {
    /// Puts objects into the stores as a watch would.
    pub fn fill(&mut self, jobs: Vec<Job>, configmaps: Vec<ConfigMap>, pods: Vec<Pod>, services: Vec<Service>) {
        fn put<K>(writer: &mut Writer<K>, objects: Vec<K>)
        where
            K: Resource<DynamicType = ()> + Clone,
        {
            for o in objects {
                writer.apply_watcher_event(&watcher::Event::Apply(o));
            }
        }
        put(&mut self.jobs, jobs);
        put(&mut self.configmaps, configmaps);
        put(&mut self.pods, pods);
        put(&mut self.services, services);
    }
}

/// A watch of `K`s the operator made, reflected into `writer`; yields the objects it
/// touches (the controller maps them to their owner).
fn reflected<K>(
    api: Api<K>,
    writer: Writer<K>,
    synced: Arc<[AtomicBool; 4]>,
    slot: usize,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    watcher(api, watcher::Config::default().labels(MANAGED))
        .default_backoff()
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) {
                synced[slot].store(true, Ordering::Release);
            }
        })
        .reflect(writer)
        .touched_objects()
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The four owned watches, in the order of [`Stores`]' sync flags.
#[allow(clippy::type_complexity)]
pub fn owned(
    client: &Client,
    namespace: Option<&str>,
    stores: &Stores,
    writers: Writers,
) -> (
    impl Stream<Item = Result<Job, watcher::Error>> + Send + 'static,
    impl Stream<Item = Result<ConfigMap, watcher::Error>> + Send + 'static,
    impl Stream<Item = Result<Pod, watcher::Error>> + Send + 'static,
    impl Stream<Item = Result<Service, watcher::Error>> + Send + 'static,
) {
    let synced = || stores.synced.clone();
    (
        reflected(api(client, namespace), writers.jobs, synced(), 0),
        reflected(api(client, namespace), writers.configmaps, synced(), 1),
        reflected(api(client, namespace), writers.pods, synced(), 2),
        reflected(api(client, namespace), writers.services, synced(), 3),
    )
}

/// The playgrounds, watched untyped and decoded one by one into `writer`'s store.
pub fn playgrounds(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    writer: Writer<BuilderPlayground>,
) -> impl Stream<Item = Result<BuilderPlayground, watcher::Error>> + Send + 'static {
    let resource = ApiResource::erase::<BuilderPlayground>(&());
    let dynamic: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &resource),
        None => Api::all_with(ctx.client.clone(), &resource),
    };
    watcher(dynamic, watcher::Config::default())
        .default_backoff()
        .filter_map(move |event| {
            let ctx = ctx.clone();
            async move { Some(decode_event(&ctx, event).await) }
        })
        .filter_map(|event| async move { event.transpose() })
        .reflect(writer)
        .applied_objects()
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
