//! Every object in the cluster, to tell what an install left behind.

use std::collections::BTreeSet;

use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{Discovery, Scope, verbs};

/// Kinds whose objects come and go on their own: events (expire after an hour) and leases
/// (heartbeats), and the deprecated componentstatuses (not stored objects).
const IGNORED: [(&str, &str); 4] =
    [("", "events"), ("events.k8s.io", "events"), ("coordination.k8s.io", "leases"), ("", "componentstatuses")];

/// `group/version resource namespace/name` of every listable object.
pub async fn snapshot(client: &kube::Client) -> BTreeSet<String> {
    let discovery = Discovery::new(client.clone()).run().await.expect("API discovery");
    let mut all = BTreeSet::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if !caps.supports_operation(verbs::LIST) || IGNORED.contains(&(ar.group.as_str(), ar.plural.as_str())) {
                continue;
            }
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            let list = match api.list_metadata(&ListParams::default()).await {
                Ok(l) => l,
                // A kind that went away with its CRD between discovery and list.
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                Err(e) => panic!("listing {}: {e}", ar.plural),
            };
            for item in list.items {
                let ns = match caps.scope {
                    Scope::Namespaced => item.metadata.namespace.unwrap_or_default(),
                    Scope::Cluster => String::new(),
                };
                all.insert(format!("{} {} {ns}/{}", ar.api_version, ar.plural, item.metadata.name.unwrap_or_default()));
            }
        }
    }
    all
}

/// What `now` has that `before` had not.
pub fn added(before: &BTreeSet<String>, now: &BTreeSet<String>) -> Vec<String> {
    now.difference(before).cloned().collect()
}
