//! The objects a playground owns, one module per kind, each a pure `build` from the
//! playground (and what was rendered for it). The reconciler applies them with server-side
//! apply; every one carries the standard labels and a controller reference to the playground,
//! so deleting the playground garbage-collects it.

pub mod job;
pub mod pod;
pub mod podmonitor;
pub mod pvc;
pub mod rbac;
pub mod secret;
pub mod service;

use bp_generator::{BuilderPlayground, standard_labels};
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};

/// Metadata of a child named `name`: namespace, standard labels, controller reference.
pub fn child_meta(playground: &BuilderPlayground, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: playground.namespace(),
        labels: Some(standard_labels(&playground.name_any())),
        owner_references: playground.controller_owner_ref(&()).map(|o| vec![o]),
        ..Default::default()
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    use bp_generator::BuilderPlayground;

    /// A small playground with a uid, as the API server returns it.
    pub fn playground() -> BuilderPlayground {
        let mut pg: BuilderPlayground = serde_yaml_ng::from_str(
            r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: l1, namespace: dev, uid: 0b1c}
spec:
  services:
  - name: el
    image: reth
    args: ["--http.port", '{{Port "http" 8545}}']
    ports: [{name: http, port: 8545}, {name: p2p, port: 30303}, {name: p2p, port: 30303, protocol: udp}]
    files: [{artifact: jwtsecret, mountPath: /data/jwtsecret}]
  - name: el_healthmon
    image: utils
    entrypoint: [healthmon]
"#,
        )
        .unwrap();
        pg.metadata.generation = Some(1);
        pg
    }
}

#[cfg(test)]
mod tests;
