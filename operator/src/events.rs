//! Events on the playgrounds, published without a cache.
//!
//! The operator publishes an event only when a condition changes (or a reconcile fails), so
//! it never repeats one and has nothing to deduplicate. kube's `Recorder` keeps every event it
//! sent for several minutes and sweeps that whole cache on each publish: with a thousand
//! playgrounds that was thousands of entries scanned per event and megabytes held for
//! nothing. This publisher creates each event and forgets it.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as EventObject;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};

/// Creates events (events.k8s.io/v1) on behalf of one reporting controller.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    reporter: Reporter,
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Recorder {
        Recorder { client, reporter }
    }

    /// Creates `event` about `regarding`, in its namespace.
    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let object = event_object(event, regarding, &self.reporter, Timestamp::now());
        let ns = object.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let events: Api<EventObject> = Api::namespaced(self.client.clone(), &ns);
        events.create(&PostParams::default(), &object).await.map(drop)
    }
}

/// The event object: named after the object it regards and the time (unique per object up
/// to the nanosecond), reported by the controller and, when known, its Pod.
pub fn event_object(event: &Event, regarding: &ObjectReference, reporter: &Reporter, now: Timestamp) -> EventObject {
    let subject = regarding.name.as_deref().unwrap_or(&reporter.controller);
    EventObject {
        metadata: ObjectMeta {
            name: Some(format!("{subject}.{:x}", now.as_nanosecond())),
            namespace: regarding.namespace.clone(),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        type_: Some(match event.type_ {
            EventType::Normal => "Normal".into(),
            EventType::Warning => "Warning".into(),
        }),
        reason: Some(event.reason.clone()),
        action: Some(event.action.clone()),
        note: event.note.clone(),
        regarding: Some(regarding.clone()),
        related: event.secondary.clone(),
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: Some(reporter.instance.clone().unwrap_or_else(|| reporter.controller.clone())),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regarding() -> ObjectReference {
        ObjectReference {
            api_version: Some("playground.flashbots.io/v1alpha1".into()),
            kind: Some("BuilderPlayground".into()),
            name: Some("l1".into()),
            namespace: Some("dev".into()),
            uid: Some("u1".into()),
            ..Default::default()
        }
    }

    fn event(type_: EventType) -> Event {
        Event {
            type_,
            reason: "AllServicesReady".into(),
            note: Some("6/6".into()),
            action: "Ready".into(),
            secondary: None,
        }
    }

    #[test]
    fn an_event_regards_its_object_and_names_its_reporter() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let reporter = Reporter { controller: "bp-operator".into(), instance: Some("bp-operator-abc".into()) };
        let e = event_object(&event(EventType::Normal), &regarding(), &reporter, now);
        assert_eq!(e.metadata.name.as_deref(), Some(format!("l1.{:x}", now.as_nanosecond()).as_str()));
        assert_eq!(e.metadata.namespace.as_deref(), Some("dev"));
        assert_eq!(e.type_.as_deref(), Some("Normal"));
        assert_eq!(
            (e.reason.as_deref(), e.action.as_deref(), e.note.as_deref()),
            (Some("AllServicesReady"), Some("Ready"), Some("6/6"))
        );
        assert_eq!(e.regarding.and_then(|r| r.uid).as_deref(), Some("u1"));
        assert_eq!(e.event_time, Some(MicroTime(now)));
        assert_eq!(e.reporting_controller.as_deref(), Some("bp-operator"));
        assert_eq!(e.reporting_instance.as_deref(), Some("bp-operator-abc"));
    }

    #[test]
    fn a_warning_is_a_warning_and_the_instance_defaults_to_the_controller() {
        let reporter = Reporter { controller: "bp-operator".into(), instance: None };
        let e = event_object(&event(EventType::Warning), &regarding(), &reporter, Timestamp::now());
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.reporting_instance.as_deref(), Some("bp-operator"));
        let mut with_related = event(EventType::Warning);
        let pod = ObjectReference { kind: Some("Pod".into()), name: Some("l1".into()), ..Default::default() };
        with_related.secondary = Some(pod.clone());
        let later = event_object(&with_related, &regarding(), &reporter, Timestamp::now());
        assert_ne!(e.metadata.name, later.metadata.name, "two events on one object have two names");
        assert_eq!((e.related, later.related), (None, Some(pod)), "a secondary object is the event's related");
    }
}
