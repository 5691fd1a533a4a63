//! The claim behind `pvc` storage.

use std::collections::BTreeMap;

use bp_generator::BuilderPlayground;
use bp_generator::api::StorageType;
use bp_generator::podspec::artifacts_claim_name;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;

use super::child_meta;

/// Claim size when the spec gives none.
pub const DEFAULT_SIZE: &str = "10Gi";

/// The claim, for pvc storage only. An unset storageClass is left unset (the cluster default),
/// never sent as "" (which would disable dynamic provisioning).
pub fn build(pg: &BuilderPlayground) -> Option<PersistentVolumeClaim> {
    if pg.storage_type() != StorageType::Pvc {
        return None;
    }
    let storage = pg.spec.storage.as_ref();
    let size = storage.and_then(|s| s.size.clone()).unwrap_or_else(|| DEFAULT_SIZE.into());
    Some(PersistentVolumeClaim {
        metadata: child_meta(pg, artifacts_claim_name(&pg.name_any())),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.and_then(|s| s.storage_class.clone()).filter(|c| !c.is_empty()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(size))])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::fixture::playground;
    use bp_generator::api::StorageSpec;

    #[test]
    fn only_for_pvc_storage() {
        let mut pg = playground();
        assert!(build(&pg).is_none());
        pg.spec.storage = Some(StorageSpec { storage_type: Some(StorageType::Pvc), ..Default::default() });
        let pvc = build(&pg).unwrap();
        assert_eq!(pvc.metadata.name.as_deref(), Some("l1-artifacts"));
        let spec = pvc.spec.unwrap();
        assert_eq!(spec.storage_class_name, None, "the cluster's default class");
        assert_eq!(spec.resources.unwrap().requests.unwrap()["storage"], Quantity("10Gi".into()));
        pg.spec.storage = Some(StorageSpec {
            storage_type: Some(StorageType::Pvc),
            storage_class: Some("fast".into()),
            size: Some("20Gi".into()),
            ..Default::default()
        });
        let spec = build(&pg).unwrap().spec.unwrap();
        assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
        assert_eq!(spec.resources.unwrap().requests.unwrap()["storage"], Quantity("20Gi".into()));
    }
}
