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

use bp_generator::cluster::INSTANCE_LABEL;

use super::Context;
use super::publish::truncate;
use crate::children::job::HASH_LABEL;

/// Label of every object the operator makes: the owned watches see those only, so their
/// caches and traffic stay proportional to the playgrounds.
pub const MANAGED: &str = "app.kubernetes.io/managed-by=bp-operator";

/// The devnet Pods, without the generator Jobs' Pods (the Job controller labels those with
/// their Job's name). A generator Pod is read only when its Job failed, for its termination
/// message: one list then, instead of every generator Pod's every change in the cache.
pub const DEVNET_PODS: &str = "app.kubernetes.io/managed-by=bp-operator,!batch.kubernetes.io/job-name";

/// The children the owned watches have seen, by kind: of Jobs, Pods and Services only their
/// metadata and status (the lean kinds below), of ConfigMaps their data too.
#[derive(Clone)]
pub struct Stores {
    pub jobs: Store<LeanJob>,
    pub configmaps: Store<ConfigMap>,
    pub pods: Store<LeanPod>,
    pub services: Store<LeanService>,
    /// Set once every owned watch has listed everything; reconciles wait for it, so that
    /// an empty store at start is never taken for missing children.
    synced: Arc<[AtomicBool; 4]>,
}

/// The writing ends of [`Stores`], consumed by [`owned`].
pub struct Writers {
    jobs: Writer<LeanJob>,
    configmaps: Writer<ConfigMap>,
    pods: Writer<LeanPod>,
    services: Writer<LeanService>,
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
        let jobs = jobs.into_iter().map(|j| LeanJob { metadata: j.metadata, status: j.status });
        let pods = pods.into_iter().map(|p| LeanPod { metadata: p.metadata, status: p.status });
        let services = services.into_iter().map(|s| LeanService { metadata: s.metadata, status: s.status });
        put(&mut self.jobs, jobs.collect());
        put(&mut self.configmaps, configmaps);
        put(&mut self.pods, pods.collect());
        put(&mut self.services, services.collect());
    }
}

/// A watch of `K`s the operator made, each trimmed ([`trim_child_meta`], keeping the
/// `labels` named) before the store keeps it; yields the objects it touches (the controller
/// maps them to their owner).
fn reflected<K>(
    api: Api<K>,
    writer: Writer<K>,
    synced: Arc<[AtomicBool; 4]>,
    slot: usize,
    selector: &str,
    labels: &'static [&'static str],
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    watcher(api, watcher::Config::default().labels(selector))
        .default_backoff()
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) {
                synced[slot].store(true, Ordering::Release);
            }
        })
        .modify(move |object| trim_child_meta(object, labels))
        .reflect(writer)
        .touched_objects()
}

/// Defines what the watches decode of a kind whose spec the reconciler never reads: its
/// metadata and status. serde skips the rest while parsing (a devnet Pod's spec holds every
/// container with its arguments), so each watch event costs a fraction of a full decode.
/// The caches keep these types, not the full ones: a `Pod` with no spec still has room for
/// one (1.4 kB of its 2.2 kB), a `Job` 2 kB of 2.6 kB.
macro_rules! lean {
    ($(#[$doc:meta])* $name:ident, $full:ty, $status:ty, $kind:literal, $group:literal, $version:literal, $plural:literal) => {
        $(#[$doc])*
        #[derive(serde::Deserialize, Clone, Debug, Default, PartialEq)]
        pub struct $name {
            pub metadata: kube::api::ObjectMeta,
            pub status: Option<$status>,
        }

        impl k8s_openapi::Resource for $name {
            const API_VERSION: &'static str = <$full as k8s_openapi::Resource>::API_VERSION;
            const GROUP: &'static str = $group;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::NamespaceResourceScope;
        }

        impl k8s_openapi::ListableResource for $name {
            const LIST_KIND: &'static str = concat!($kind, "List");
        }

        impl k8s_openapi::Metadata for $name {
            type Ty = kube::api::ObjectMeta;
            fn metadata(&self) -> &Self::Ty {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut Self::Ty {
                &mut self.metadata
            }
        }
    };
}

lean!(
    /// A Pod as the watch decodes it: metadata and status.
    LeanPod, Pod, k8s_openapi::api::core::v1::PodStatus, "Pod", "", "v1", "pods"
);
lean!(
    /// A Job as the watch decodes it: metadata and status.
    LeanJob, Job, k8s_openapi::api::batch::v1::JobStatus, "Job", "batch", "v1", "jobs"
);
lean!(
    /// A Service as the watch decodes it: metadata and status (the reconciler compares the
    /// applied digest in its annotations, nothing of its spec).
    LeanService, Service, k8s_openapi::api::core::v1::ServiceStatus, "Service", "", "v1", "services"
);

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
    impl Stream<Item = Result<LeanJob, watcher::Error>> + Send + 'static,
    impl Stream<Item = Result<ConfigMap, watcher::Error>> + Send + 'static,
    impl Stream<Item = Result<LeanPod, watcher::Error>> + Send + 'static,
    impl Stream<Item = Result<LeanService, watcher::Error>> + Send + 'static,
) {
    let synced = || stores.synced.clone();
    (
        reflected(api(client, namespace), writers.jobs, synced(), 0, MANAGED, JOB_LABELS),
        reflected(api(client, namespace), writers.configmaps, synced(), 1, MANAGED, &[]),
        reflected(api(client, namespace), writers.pods, synced(), 2, DEVNET_PODS, &[]),
        reflected(api(client, namespace), writers.services, synced(), 3, MANAGED, &[]),
    )
}

/// The cache keeps what the reconciler reads, not the API server's bookkeeping: without
/// `managedFields` (every writer's field list, often larger than the object) and the
/// last-applied copy `kubectl apply` leaves, a cached object is a fraction of its size.
pub fn trim_meta<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// A child's metadata as the cache keeps it: what the reconciler and the controller read.
/// Its name and namespace, resourceVersion and deletion time, the owner references (they
/// map each change to its playground), the `labels` named (old generator Jobs are found by
/// their instance and hash labels; no other child's labels are read) and the operator's own
/// annotations (hashes and digests); not what the API server and other controllers add.
/// A map of even one entry costs a whole B-tree node (about 0.5 kB), so labels no one reads
/// are not kept, and an emptied map becomes none.
pub fn trim_child_meta<K: Resource>(object: &mut K, labels: &[&str]) {
    trim_meta(object);
    let meta = object.meta_mut();
    meta.uid = None;
    meta.creation_timestamp = None;
    meta.generation = None;
    if let Some(kept) = meta.labels.as_mut() {
        kept.retain(|k, _| labels.contains(&k.as_str()));
    }
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|k, _| k.starts_with(OUR_ANNOTATIONS));
    }
    if meta.labels.as_ref().is_some_and(|l| l.is_empty()) {
        meta.labels = None;
    }
    if meta.annotations.as_ref().is_some_and(|a| a.is_empty()) {
        meta.annotations = None;
    }
}

/// The prefix of the operator's annotations.
const OUR_ANNOTATIONS: &str = "playground.flashbots.io/";

/// The labels a cached Job keeps: old generator Jobs are found by them. The cached
/// ConfigMaps, Pods and Services keep none (no one reads them).
const JOB_LABELS: &[&str] = &[INSTANCE_LABEL, HASH_LABEL];

impl LeanPod {
    /// The Pod, without its spec, for what reads a `Pod`.
    pub fn to_pod(&self) -> Pod {
        Pod { metadata: self.metadata.clone(), spec: None, status: self.status.clone() }
    }
}

/// The annotation in which `kubectl apply` keeps the whole object as last applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

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
        .modify(trim_meta)
        .reflect(writer)
        .applied_objects()
}

/// Decodes one watch event; `Ok(None)` skips an undecodable object after reporting it.
pub(super) async fn decode_event(
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
        E::Delete(obj) => {
            let gone = obj.try_parse::<BuilderPlayground>().ok();
            if let Some(pg) = &gone {
                ctx.forget(&reflector::ObjectRef::from_obj(pg));
            }
            gone.map(E::Delete)
        }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::batch::v1::{JobSpec, JobStatus};
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, OwnerReference};
    use kube::api::ObjectMeta;

    use super::*;

    fn meta() -> ObjectMeta {
        ObjectMeta {
            name: Some("l1".into()),
            namespace: Some("dev".into()),
            uid: Some("0f3c".into()),
            resource_version: Some("42".into()),
            generation: Some(1),
            creation_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-11-30T00:00:00Z".parse().unwrap(),
            )),
            deletion_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-11-30T00:01:00Z".parse().unwrap(),
            )),
            labels: Some(BTreeMap::from([
                (INSTANCE_LABEL.to_owned(), "l1".to_owned()),
                (HASH_LABEL.to_owned(), "3f9a2c1d".to_owned()),
                ("app.kubernetes.io/managed-by".to_owned(), "bp-operator".to_owned()),
                ("batch.kubernetes.io/job-name".to_owned(), "l1-gen-3f9a2c1d".to_owned()),
            ])),
            annotations: Some(BTreeMap::from([
                (LAST_APPLIED.to_owned(), "{...}".to_owned()),
                ("playground.flashbots.io/input-hash".to_owned(), "ab".to_owned()),
                ("playground.flashbots.io/applied".to_owned(), "cd".to_owned()),
                ("kubectl.kubernetes.io/restartedAt".to_owned(), "now".to_owned()),
            ])),
            owner_references: Some(vec![OwnerReference {
                kind: "BuilderPlayground".into(),
                name: "l1".into(),
                controller: Some(true),
                ..Default::default()
            }]),
            managed_fields: Some(vec![ManagedFieldsEntry { manager: Some("kubelet".into()), ..Default::default() }]),
            ..Default::default()
        }
    }

    /// What every cached child keeps of its metadata: what the reconciler reads (name,
    /// namespace, the operator's labels and annotations, the deletion time) and the owner
    /// (each change is mapped to its playground by it); nothing else.
    fn assert_kept(kept: &ObjectMeta, with_labels: bool) {
        let expected = ObjectMeta {
            name: Some("l1".into()),
            namespace: Some("dev".into()),
            resource_version: Some("42".into()),
            deletion_timestamp: meta().deletion_timestamp,
            labels: with_labels.then(|| {
                BTreeMap::from([
                    (INSTANCE_LABEL.to_owned(), "l1".to_owned()),
                    (HASH_LABEL.to_owned(), "3f9a2c1d".to_owned()),
                ])
            }),
            annotations: Some(BTreeMap::from([
                ("playground.flashbots.io/input-hash".to_owned(), "ab".to_owned()),
                ("playground.flashbots.io/applied".to_owned(), "cd".to_owned()),
            ])),
            owner_references: meta().owner_references,
            ..Default::default()
        };
        assert_eq!(kept, &expected);
    }

    /// A watched Pod, Job or Service is decoded without its spec, and every child is kept
    /// without the API server's bookkeeping; what the reconciler reads stays.
    #[test]
    fn the_cache_keeps_what_the_reconciler_reads() {
        let pod = Pod {
            metadata: meta(),
            spec: Some(PodSpec { containers: vec![Default::default()], ..Default::default() }),
            status: Some(PodStatus { phase: Some("Running".into()), ..Default::default() }),
        };
        let mut kept: LeanPod = serde_json::from_value(serde_json::to_value(&pod).unwrap()).unwrap();
        trim_child_meta(&mut kept, &[]);
        assert_kept(&kept.metadata, false);
        assert_eq!(kept.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Running"));
        assert_eq!(kept.to_pod(), Pod { spec: None, metadata: kept.metadata.clone(), status: pod.status });

        let job = Job {
            metadata: meta(),
            spec: Some(JobSpec::default()),
            status: Some(JobStatus { succeeded: Some(1), ..Default::default() }),
        };
        let mut kept: LeanJob = serde_json::from_value(serde_json::to_value(&job).unwrap()).unwrap();
        trim_child_meta(&mut kept, JOB_LABELS);
        assert_kept(&kept.metadata, true);
        assert_eq!(kept.status.and_then(|s| s.succeeded), Some(1));

        let service = Service { metadata: meta(), spec: Some(Default::default()), ..Default::default() };
        let mut kept: LeanService = serde_json::from_value(serde_json::to_value(&service).unwrap()).unwrap();
        trim_child_meta(&mut kept, &[]);
        assert_kept(&kept.metadata, false);

        let data = BTreeMap::from([("rendered.json".to_owned(), "{}".to_owned())]);
        let mut cm = ConfigMap { metadata: meta(), data: Some(data.clone()), ..Default::default() };
        trim_child_meta(&mut cm, &[]);
        assert_kept(&cm.metadata, false);
        assert_eq!(cm.data, Some(data));
    }

    /// The labels named are kept; a child left with no label or no annotation keeps no map.
    #[test]
    fn only_named_labels_are_kept_and_empty_maps_are_dropped() {
        let labels = BTreeMap::from([("a".to_owned(), "b".to_owned()), ("c".to_owned(), "d".to_owned())]);
        let annotations = BTreeMap::from([(LAST_APPLIED.to_owned(), "{}".to_owned())]);
        let service = |labels: &BTreeMap<String, String>| LeanService {
            metadata: ObjectMeta {
                labels: Some(labels.clone()),
                annotations: Some(annotations.clone()),
                ..Default::default()
            },
            status: None,
        };
        let mut named = service(&labels);
        trim_child_meta(&mut named, &["c"]);
        assert_eq!(named.metadata.labels, Some(BTreeMap::from([("c".to_owned(), "d".to_owned())])));
        assert_eq!(named.metadata.annotations, None);
        let mut none = service(&labels);
        trim_child_meta(&mut none, &[]);
        assert_eq!(none.metadata.labels, None);
    }

    /// The lean kinds ask the API server for what the full kinds do.
    #[test]
    fn lean_kinds_are_the_same_resources() {
        use kube::Resource as _;
        assert_eq!(LeanPod::url_path(&(), Some("dev")), Pod::url_path(&(), Some("dev")));
        assert_eq!(LeanJob::url_path(&(), Some("dev")), Job::url_path(&(), Some("dev")));
        assert_eq!((LeanPod::kind(&()), LeanPod::api_version(&())), (Pod::kind(&()), Pod::api_version(&())));
        assert_eq!((LeanJob::kind(&()), LeanJob::api_version(&())), (Job::kind(&()), Job::api_version(&())));
    }
}
