//! The playground's Pod: the rendered PodSpec, stamped with its input hash. Pod specs are
//! immutable, so a Pod of another hash is deleted and created anew rather than patched.

use std::collections::BTreeMap;

use bp_generator::cluster::HASH_ANNOTATION;
use bp_generator::{BuilderPlayground, Rendered, podspec};
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;

/// The Pod for `rendered`, made from input hash `hash`.
pub fn build(pg: &BuilderPlayground, rendered: &Rendered, hash: &str) -> Pod {
    let mut pod = podspec::pod(pg, rendered);
    pod.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(HASH_ANNOTATION.into(), hash.into());
    pod.metadata.owner_references = pg.controller_owner_ref(&()).map(|o| vec![o]);
    pod
}

/// The input hash a Pod was made from, from its metadata.
pub fn hash_of(pod: &kube::api::ObjectMeta) -> Option<&str> {
    pod.annotations.as_ref()?.get(HASH_ANNOTATION).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::fixture::playground;
    use bp_generator::{RenderOptions, render};

    #[test]
    fn stamped_and_owned() {
        let pg = playground();
        let rendered = render(&pg, &RenderOptions::default()).unwrap();
        let pod = build(&pg, &rendered, "h1");
        assert_eq!(hash_of(&pod.metadata), Some("h1"));
        assert_eq!(pod.metadata.name.as_deref(), Some("l1"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("dev"));
        assert_eq!(pod.metadata.labels.as_ref().unwrap()["app.kubernetes.io/instance"], "l1");
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("BuilderPlayground", "0b1c", Some(true))
        );
        assert_eq!(pod.spec.unwrap().containers.len(), 2);
    }
}
