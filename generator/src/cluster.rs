//! What the generator Job and the operator agree on: object names, the input hash and the
//! ConfigMap that carries a rendered PodSpec.

use k8s_openapi::api::core::v1::ConfigMap;
use sha2::{Digest, Sha256};

use crate::podspec::Rendered;
use crate::{BuilderPlayground, BuilderPlaygroundSpec};

/// Version of the generator and operator; part of the input hash, so an upgrade re-renders.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Annotation with the input hash a rendered PodSpec (ConfigMap, Pod) was made from.
pub const HASH_ANNOTATION: &str = "playground.flashbots.io/input-hash";
/// Key of the rendered output in the ConfigMap.
pub const RENDERED_KEY: &str = "rendered.json";
/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "bp-operator";
/// Label that ties a child object to its playground.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// Annotation whose value is part of the input hash: every change of it (a new value, or its
/// removal) runs the generator again (a fresh genesis with `generate`) and replaces the Pod.
pub const REGENERATE_ANNOTATION: &str = "playground.flashbots.io/regenerate";

/// Hash of everything a rendered PodSpec depends on: the spec, the [`REGENERATE_ANNOTATION`]
/// and the operator version. `suspend`, `lifetime` and `monitoring` are left out: they decide
/// whether and how long the devnet runs and what scrapes it, never what is rendered, so none
/// of suspend, resume, a new lifetime or monitoring runs the generator again or replaces the
/// Pod.
pub fn input_hash(pg: &BuilderPlayground) -> String {
    let rendered_from = BuilderPlaygroundSpec { suspend: false, lifetime: None, monitoring: None, ..pg.spec.clone() };
    let mut hasher = Sha256::new();
    // Struct fields serialize in declaration order and maps are BTreeMaps: deterministic.
    hasher.update(serde_json::to_vec(&rendered_from).unwrap_or_default());
    hasher.update(VERSION.as_bytes());
    // Without the annotation the hash is what it was before the annotation existed.
    if let Some(token) = pg.metadata.annotations.as_ref().and_then(|a| a.get(REGENERATE_ANNOTATION)) {
        hasher.update(b"\0regenerate=");
        hasher.update(token.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The first 8 hex digits, for names.
pub fn short_hash(hash: &str) -> &str {
    &hash[..hash.len().min(8)]
}

/// The ConfigMap that holds the rendered PodSpec.
pub fn podspec_configmap_name(playground: &str) -> String {
    format!("{playground}-podspec")
}

/// The generator Job of one input hash. Job names label their Pods, so they stay within 63
/// characters.
pub fn generator_job_name(playground: &str, hash: &str) -> String {
    let prefix: String = playground.chars().take(63 - 13).collect();
    format!("{}-gen-{}", prefix.trim_end_matches('-'), short_hash(hash))
}

/// The subdirectory of the storage where a generator run writes artifacts.
pub fn artifacts_subdir(hash: &str) -> String {
    format!("gen-{}", short_hash(hash))
}

/// A kube error in one line: the API server's own message for API errors.
pub fn api_error_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

/// Reads the rendered output and its hash from a ConfigMap written by the generator Job.
pub fn read_rendered(cm: &ConfigMap) -> Result<(String, Rendered), String> {
    let hash = cm
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(HASH_ANNOTATION))
        .ok_or_else(|| format!("ConfigMap has no {HASH_ANNOTATION} annotation"))?;
    let data =
        cm.data.as_ref().and_then(|d| d.get(RENDERED_KEY)).ok_or_else(|| format!("ConfigMap has no {RENDERED_KEY}"))?;
    let rendered = serde_json::from_str(data).map_err(|e| format!("{RENDERED_KEY} is not a rendered PodSpec: {e}"))?;
    Ok((hash.clone(), rendered))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playground(spec: BuilderPlaygroundSpec) -> BuilderPlayground {
        BuilderPlayground::new("l1", spec)
    }

    #[test]
    fn hash_follows_the_spec() {
        let a = playground(BuilderPlaygroundSpec::default());
        let mut b = a.clone();
        b.spec.recipe = Some("l1".into());
        assert_eq!(input_hash(&a), input_hash(&a.clone()));
        assert_ne!(input_hash(&a), input_hash(&b));
        assert_eq!(input_hash(&a).len(), 64);
    }

    #[test]
    fn suspend_and_lifetime_leave_the_hash_alone() {
        let a = playground(BuilderPlaygroundSpec { recipe: Some("l1".into()), ..Default::default() });
        let mut b = a.clone();
        b.spec.suspend = true;
        b.spec.lifetime = Some("2h".into());
        assert_eq!(input_hash(&a), input_hash(&b));
        // The hash of a spec without them is the one it always had: spec and version only.
        let mut plain = Sha256::new();
        plain.update(serde_json::to_vec(&a.spec).unwrap());
        plain.update(VERSION.as_bytes());
        assert_eq!(input_hash(&b), hex::encode(plain.finalize()));
    }

    #[test]
    fn each_value_of_the_regenerate_annotation_is_its_own_hash() {
        let plain = playground(BuilderPlaygroundSpec { recipe: Some("l1".into()), ..Default::default() });
        let with = |value: &str| {
            let mut pg = plain.clone();
            pg.metadata.annotations = Some([(REGENERATE_ANNOTATION.to_owned(), value.to_owned())].into());
            input_hash(&pg)
        };
        assert_ne!(with("1"), input_hash(&plain));
        assert_ne!(with("1"), with("2"));
        assert_eq!(with("2"), with("2"));
        assert_ne!(with(""), input_hash(&plain), "an empty value is a value");
        // Other annotations are not inputs.
        let mut other = plain.clone();
        other.metadata.annotations = Some([("example.com/note".to_owned(), "x".to_owned())].into());
        assert_eq!(input_hash(&other), input_hash(&plain));
    }

    #[test]
    fn monitoring_is_not_part_of_the_hash() {
        let a = playground(BuilderPlaygroundSpec { recipe: Some("l1".into()), ..Default::default() });
        let mut b = a.clone();
        b.spec.monitoring = Some(crate::api::MonitoringSpec::default());
        assert_eq!(input_hash(&a), input_hash(&b), "the Pod stays when monitoring is switched on");
        b.spec.monitoring.as_mut().unwrap().interval = Some("15s".into());
        assert_eq!(input_hash(&a), input_hash(&b));
    }

    #[test]
    fn job_names_fit_a_label() {
        let long = "a".repeat(80);
        let name = generator_job_name(&long, &"f".repeat(64));
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("-gen-ffffffff"));
        assert_eq!(generator_job_name("l1", "3f9a2c1d00"), "l1-gen-3f9a2c1d");
    }

    #[test]
    fn api_errors_read_as_the_api_server_wrote_them() {
        let status =
            |message: &str| kube::Error::Api(kube::core::Status::failure(message, "Forbidden").with_code(403).boxed());
        assert_eq!(api_error_message(&status("configmaps is forbidden")), "configmaps is forbidden (403)");
        // An API error without a message falls back to kube's own text, which is never empty.
        let bare = status("");
        assert_eq!(api_error_message(&bare), bare.to_string());
        assert!(!api_error_message(&bare).is_empty());
        let other = kube::Error::LinesCodecMaxLineLengthExceeded;
        assert_eq!(api_error_message(&other), other.to_string());
    }
}
