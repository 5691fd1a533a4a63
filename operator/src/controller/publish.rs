//! Publishing what a reconcile found: the status (written only when it changed), events on
//! transitions, the metrics that follow them, and errors surfaced on the object.

use bp_generator::BuilderPlayground;
use bp_generator::api::BuilderPlaygroundStatus;
use bp_generator::cluster::FIELD_MANAGER;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::warn;

use std::time::{Duration, Instant};

use super::{Context, STATUS_COALESCE};
use crate::error::Error;
use crate::status::{DEPLOYED, EXPOSED, GENERATED, MONITORED, READY, SUSPENDED};

/// What became of a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Published {
    /// Nothing changed, or the change was written.
    Done,
    /// Written less than [`STATUS_COALESCE`] ago: this change waits (reconcile again after
    /// this long), so that changes arriving together make one write.
    Deferred(Duration),
}

/// Writes the status when it changed, and tells about the transitions: events, metrics.
pub(super) async fn publish_status(
    pg: &BuilderPlayground,
    ctx: &Context,
    status: BuilderPlaygroundStatus,
) -> Result<Published, Error> {
    let previous = pg.status.as_ref();
    // compute() keeps timestamps of unchanged conditions, so equality means nothing to write.
    if previous == Some(&status) {
        return Ok(Published::Done);
    }
    let key = ObjectRef::from_obj(pg);
    if let Some(wait) = coalesce(ctx.status_writes.lock().ok().and_then(|w| w.get(&key).copied()), Instant::now()) {
        return Ok(Published::Deferred(wait));
    }
    let ns = pg.namespace().unwrap_or_default();
    let name = pg.name_any();
    let api: Api<BuilderPlayground> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = serde_json::json!({
        "apiVersion": BuilderPlayground::api_version(&()),
        "kind": BuilderPlayground::kind(&()),
        "status": status,
    });
    match api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await {
        Ok(_) => {
            if let Ok(mut writes) = ctx.status_writes.lock() {
                writes.insert(key, Instant::now());
            }
        }
        // Deleted while this reconcile ran (its namespace, say): nothing left to report on.
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(Published::Done),
        Err(e) => {
            return Err(Error::Kube { action: format!("patch status of BuilderPlayground {ns}/{name}"), source: e });
        }
    }
    for (type_, condition) in transitions(previous, &status) {
        let warning = matches!(
            condition.reason.as_str(),
            "InvalidSpec"
                | "GeneratorFailed"
                | "ServicesFailing"
                | "PodCreatedWithWarnings"
                | "ServiceFailed"
                | "PodMonitorCRDMissing"
                | "PodMonitorFailed"
                | "NoMetricsPorts"
        );
        if type_ == GENERATED && condition.status == "True" {
            ctx.metrics.generator_jobs.with_label_values(&["success"]).inc();
            observe_generator_duration(ctx, &ns, status.generator_job.as_deref());
        }
        if type_ == GENERATED && condition.reason == "GeneratorFailed" {
            ctx.metrics.generator_jobs.with_label_values(&["failure"]).inc();
        }
        if type_ == READY && condition.status == "True" {
            observe_time_to_ready(ctx, pg);
        }
        // Resumed is news too, though its condition is False.
        if warning || condition.status == "True" || condition.reason == "Resumed" {
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
    Ok(Published::Done)
}

/// How long a status change waits, given when the last write was: nothing when the last
/// write is [`STATUS_COALESCE`] old or more (or there was none), else the rest of that time.
pub(super) fn coalesce(last_write: Option<Instant>, now: Instant) -> Option<Duration> {
    let since = now.saturating_duration_since(last_write?);
    (since < STATUS_COALESCE).then(|| STATUS_COALESCE - since)
}

/// Conditions whose status or reason changed.
fn transitions<'a>(
    previous: Option<&BuilderPlaygroundStatus>,
    status: &'a BuilderPlaygroundStatus,
) -> Vec<(&'static str, &'a bp_generator::api::Condition)> {
    [READY, GENERATED, DEPLOYED, EXPOSED, SUSPENDED, MONITORED]
        .into_iter()
        .filter_map(|t| {
            let new = status.conditions.iter().find(|c| c.type_ == t)?;
            let old = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == t));
            let changed = old.is_none_or(|o| o.status != new.status || o.reason != new.reason);
            changed.then_some((t, new))
        })
        .collect()
}

/// The generator Job's run time, from the Job the watch has: from its start to its completion
/// or, since its ConfigMap (its last act) usually arrives before the Job is marked complete,
/// to now.
fn observe_generator_duration(ctx: &Context, ns: &str, job: Option<&str>) {
    let Some(job) = job.and_then(|j| ctx.stores.jobs.get(&ObjectRef::new(j).within(ns))) else { return };
    if let Some(seconds) = job.status.as_ref().and_then(|s| generator_seconds(s, k8s_openapi::jiff::Timestamp::now())) {
        ctx.metrics.generator_duration.observe(seconds);
    }
}

/// Seconds from a Job's start to its completion, or to `now` when it has not completed yet.
fn generator_seconds(
    status: &k8s_openapi::api::batch::v1::JobStatus,
    now: k8s_openapi::jiff::Timestamp,
) -> Option<f64> {
    let start = status.start_time.as_ref()?.0;
    let end = status.completion_time.as_ref().map_or(now, |t| t.0);
    Some((end.as_millisecond() - start.as_millisecond()).max(0) as f64 / 1000.0)
}

/// From the moment the playground last stopped being ready (or was created, or resumed: a
/// suspended playground is not waiting to be ready) to now.
fn observe_time_to_ready(ctx: &Context, pg: &BuilderPlayground) {
    let transition = |type_: &str| {
        pg.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
            .and_then(|c| c.last_transition_time.parse::<k8s_openapi::jiff::Timestamp>().ok())
    };
    let since =
        transition(READY).max(transition(SUSPENDED)).or_else(|| pg.metadata.creation_timestamp.as_ref().map(|t| t.0));
    if let Some(since) = since {
        let seconds = (k8s_openapi::jiff::Timestamp::now().as_millisecond() - since.as_millisecond()) as f64 / 1000.0;
        ctx.metrics.time_to_ready.observe(seconds.max(0.0));
    }
}

/// A failed reconciliation shows on the object: Ready=False with the error's reason, and a
/// Warning event. Best effort: the cluster may be what failed.
pub(super) async fn surface_error(pg: &BuilderPlayground, ctx: &Context, error: &Error) {
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

pub(super) fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(super) fn truncate(s: &str, max: usize) -> String {
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
    fn status_writes_are_at_least_the_coalescing_time_apart() {
        let now = Instant::now();
        assert_eq!(coalesce(None, now), None, "a first write goes at once");
        assert_eq!(coalesce(Some(now), now), Some(STATUS_COALESCE));
        let ms = Duration::from_millis;
        assert_eq!(coalesce(Some(now - ms(30)), now), Some(ms(70)));
        assert_eq!(coalesce(Some(now - ms(99)), now), Some(ms(1)));
        assert_eq!(coalesce(Some(now - STATUS_COALESCE), now), None, "exactly the time: written");
        assert_eq!(coalesce(Some(now - ms(5000)), now), None);
        // A clock that seems to go back never waits longer than the coalescing time.
        assert_eq!(coalesce(Some(now + ms(50)), now), Some(STATUS_COALESCE));
    }

    #[test]
    fn a_generators_time_ends_at_its_completion_or_now() {
        use k8s_openapi::api::batch::v1::JobStatus;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let at = |s: &str| s.parse::<k8s_openapi::jiff::Timestamp>().unwrap();
        let now = at("2026-11-30T12:00:10Z");
        let mut status = JobStatus { start_time: Some(Time(at("2026-11-30T12:00:00Z"))), ..Default::default() };
        assert_eq!(generator_seconds(&status, now), Some(10.0), "its ConfigMap arrived before its completion");
        status.completion_time = Some(Time(at("2026-11-30T12:00:03.5Z")));
        assert_eq!(generator_seconds(&status, now), Some(3.5));
        assert_eq!(generator_seconds(&JobStatus::default(), now), None, "never started: nothing to tell");
    }

    #[test]
    fn long_messages_are_cut_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
