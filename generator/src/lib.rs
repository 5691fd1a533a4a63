//! builder-playground devnets on Kubernetes: the offline core.
//!
//! Pure functions from a `BuilderPlayground` (or builder-playground's `manifest.json`) to the
//! PodSpec of the playground's one Pod: [`manifest`] reads and converts manifests,
//! [`template`] parses builder-playground's templates, [`ports`] allocates Pod-unique port
//! numbers, [`resolve`] resolves templates against them, [`podspec`] builds the PodSpec and
//! [`validate`] reports what is wrong with a spec, and where.

pub mod api;
pub mod bundle;
pub mod cluster;
pub mod duration;
pub mod error;
pub mod job;
pub mod manifest;
pub mod names;
pub mod podspec;
pub mod ports;
pub mod resolve;
pub mod template;
pub mod validate;

pub use api::{BuilderPlayground, BuilderPlaygroundSpec, BuilderPlaygroundStatus};
pub use error::{SpecError, SpecErrors};
pub use podspec::{RenderOptions, Rendered, render};

use kube::CustomResourceExt;

/// The CRD of `BuilderPlayground` as YAML, exactly as committed under `crds/`.
pub fn crd_yaml() -> String {
    let crd = BuilderPlayground::crd();
    // Serializing a CRD built from typed values cannot fail.
    serde_yaml_ng::to_string(&crd).unwrap_or_default()
}

/// The labels every object of a playground carries.
pub fn standard_labels(playground: &str) -> std::collections::BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name", "builder-playground"),
        ("app.kubernetes.io/instance", playground),
        ("app.kubernetes.io/managed-by", "bp-operator"),
        ("app.kubernetes.io/component", "devnet"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
