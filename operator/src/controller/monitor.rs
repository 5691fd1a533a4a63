//! `spec.monitoring`: the playground's PodMonitor, when the Prometheus Operator's CRD is in the
//! cluster. PodMonitors are not watched: the kind may not exist, and the operator needs only
//! what it applied last. A digest per playground makes a settled playground cost no request;
//! whether the kind exists is asked of the discovery API at most every [`CRD_PRESENT_TTL`]
//! (or [`CRD_MISSING_TTL`] while it is missing). Nothing here keeps the devnet from running:
//! every outcome is the `Monitored` condition.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bp_generator::cluster::FIELD_MANAGER;
use bp_generator::{BuilderPlayground, Rendered};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use sha2::Digest;
use tracing::{info, warn};

use super::Context;
use super::publish::truncate;
use crate::children::podmonitor;
use crate::status::{MONITORED, Monitoring};

/// How long a found PodMonitor kind is taken as there (an apply that finds it gone says so
/// sooner).
const CRD_PRESENT_TTL: Duration = Duration::from_secs(600);
/// How long a missing PodMonitor kind is taken as missing.
const CRD_MISSING_TTL: Duration = Duration::from_secs(10);
/// When a playground whose PodMonitor could not be applied is reconciled again.
pub(super) const MONITOR_RETRY: Duration = Duration::from_secs(15);

/// What the operator knows of PodMonitors.
#[derive(Default)]
pub(super) struct MonitorMemo {
    /// Whether the PodMonitor kind exists, and when that was found out.
    crd: Option<(Instant, bool)>,
    /// Digest of the PodMonitor last applied, per playground.
    applied: HashMap<ObjectRef<BuilderPlayground>, String>,
}

/// Applies (or removes) the playground's PodMonitor; `None` when monitoring is off.
pub(super) async fn monitor(
    pg: &BuilderPlayground,
    ctx: &Context,
    ns: &str,
    rendered: &Rendered,
) -> Option<Monitoring> {
    let key = ObjectRef::from_obj(pg);
    let Some(spec) = pg.spec.monitoring.as_ref().filter(|m| m.enabled) else {
        remove(pg, ctx, ns, &key).await;
        return None;
    };
    let endpoints = podmonitor::endpoints(rendered);
    if endpoints.is_empty() {
        remove(pg, ctx, ns, &key).await;
        return Some(Monitoring::NoMetricsPorts);
    }
    match crd_present(ctx).await {
        Ok(true) => {}
        Ok(false) => return Some(Monitoring::CrdMissing),
        Err(message) => return Some(Monitoring::Failed(message)),
    }
    let object = podmonitor::build(pg, rendered, spec, &endpoints);
    let name = object.name_any();
    let applied = Monitoring::Applied {
        podmonitor: name.clone(),
        endpoints: endpoints.iter().map(ToString::to_string).collect(),
    };
    let digest = hex::encode(sha2::Sha256::digest(serde_json::to_vec(&object).unwrap_or_default()));
    if memo(ctx, |m| m.applied.get(&key) == Some(&digest)) {
        return Some(applied);
    }
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &podmonitor::api_resource());
    match api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&object)).await {
        Ok(_) => {
            info!(podmonitor = %format!("{ns}/{name}"), "PodMonitor applied");
            memo(ctx, |m| m.applied.insert(key, digest));
            Some(applied)
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {
            // The CRD went away since discovery said it was there.
            memo(ctx, |m| m.crd = Some((Instant::now(), false)));
            Some(Monitoring::CrdMissing)
        }
        Err(e) => {
            let message = truncate(
                &format!("apply PodMonitor {ns}/{name}: {}", bp_generator::cluster::api_error_message(&e)),
                1000,
            );
            warn!(playground = %key, error = %message, "cannot apply the PodMonitor; the devnet runs without it");
            memo(ctx, |m| m.applied.remove(&key));
            Some(Monitoring::Failed(message))
        }
    }
}

/// Removes a PodMonitor the operator made, when monitoring was switched off (or nothing is
/// left to scrape). It made one if it remembers applying one, or (after a restart) if the
/// status says so.
async fn remove(pg: &BuilderPlayground, ctx: &Context, ns: &str, key: &ObjectRef<BuilderPlayground>) {
    let remembered = memo(ctx, |m| m.applied.remove(key)).is_some();
    let reported = pg
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == MONITORED))
        .is_some_and(|c| c.reason == "PodMonitorApplied");
    if !remembered && !reported {
        return;
    }
    let name = pg.name_any();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &podmonitor::api_resource());
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => info!(podmonitor = %format!("{ns}/{name}"), "PodMonitor removed"),
        // Gone already, or its kind with it.
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => {
            warn!(podmonitor = %format!("{ns}/{name}"), error = %e, "cannot remove the PodMonitor; trying again later")
        }
    }
}

/// Whether the cluster serves the PodMonitor kind, from the discovery API (cached).
async fn crd_present(ctx: &Context) -> Result<bool, String> {
    let cached = memo(ctx, |m| m.crd);
    if let Some((at, present)) = cached {
        let ttl = if present { CRD_PRESENT_TTL } else { CRD_MISSING_TTL };
        if at.elapsed() < ttl {
            return Ok(present);
        }
    }
    let present = match kube::discovery::pinned_kind(&ctx.client, &podmonitor::gvk()).await {
        Ok(_) => true,
        // No such group (404), or the group without the kind.
        Err(kube::Error::Api(status)) if status.code == 404 => false,
        Err(kube::Error::Discovery(_)) => false,
        Err(e) => {
            return Err(format!(
                "cannot tell whether the cluster has the PodMonitor kind: {}",
                bp_generator::cluster::api_error_message(&e)
            ));
        }
    };
    if cached.is_none_or(|(_, was)| was != present) {
        info!(present, "PodMonitor kind (monitoring.coreos.com/v1) {}", if present { "found" } else { "not found" });
    }
    memo(ctx, |m| m.crd = Some((Instant::now(), present)));
    Ok(present)
}

fn memo<T>(ctx: &Context, f: impl FnOnce(&mut MonitorMemo) -> T) -> T {
    match ctx.monitoring.lock() {
        Ok(mut m) => f(&mut m),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

/// Forgets whether the PodMonitor kind exists (tests: the next call asks discovery again).
#[cfg(test)]
pub(super) fn forget_kind(ctx: &Context) {
    memo(ctx, |m| m.crd = None);
}
