//! `bp-generator job`: the in-cluster mode the generator Job runs (DESIGN §6.3).
//!
//! It reads the BuilderPlayground through the API with the Job's ServiceAccount, reads the
//! manifest.json builder-playground wrote when `spec.generate` is set, renders, and
//! server-side applies the ConfigMap `<name>-podspec`. Whatever fails is returned as one line,
//! which the binary prints last so that the Job's termination message carries it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use kube::{Client, Resource};

use crate::cluster::{
    FIELD_MANAGER, HASH_ANNOTATION, RENDERED_KEY, api_error_message, artifacts_subdir, input_hash,
    podspec_configmap_name,
};
use crate::manifest::{self, ConvertOptions};
use crate::{BuilderPlayground, RenderOptions, render, standard_labels};

/// What one Job run renders.
#[derive(Debug, Clone)]
pub struct JobArgs {
    pub namespace: String,
    pub name: String,
    /// The input hash the operator created the Job for.
    pub hash: String,
    /// builder-playground's manifest.json, when `spec.generate` produced one.
    pub manifest: Option<PathBuf>,
    pub native_sidecars: bool,
    /// Where the parts of the playground's artifacts bundle are mounted, when it names one.
    pub bundle: Option<PathBuf>,
    /// The image that unpacks the bundle in the Pod (the Job's own).
    pub unpack_image: String,
}

/// Renders the playground into its ConfigMap; returns a summary, or the reason it failed.
pub async fn run(args: &JobArgs) -> Result<String, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::try_default().await.map_err(|e| format!("cannot reach the Kubernetes API: {e}"))?;
    let playgrounds: Api<BuilderPlayground> = Api::namespaced(client.clone(), &args.namespace);
    let id = format!("{}/{}", args.namespace, args.name);
    let mut playground = playgrounds
        .get(&args.name)
        .await
        .map_err(|e| format!("cannot read BuilderPlayground {id}: {}", api_error_message(&e)))?;
    let hash = input_hash(&playground);
    if hash != args.hash {
        return Err(format!(
            "BuilderPlayground {id} changed since this Job was created (input hash {} is now {}); a newer Job renders it",
            crate::cluster::short_hash(&args.hash),
            crate::cluster::short_hash(&hash)
        ));
    }
    if let Some(artifacts) = &playground.spec.artifacts {
        // Checked here, before anything is rendered: a missing or changed Secret stops the
        // playground at Generated=False instead of a Pod that never starts.
        let dir = args.bundle.as_deref().ok_or("the playground names an artifacts bundle but none is mounted")?;
        crate::bundle::check_parts(dir, &artifacts.secrets, &artifacts.digest)
            .map_err(|e| format!("spec.artifacts: {e}"))?;
    }
    let mut options = RenderOptions {
        native_sidecars: args.native_sidecars,
        artifacts_subdir: None,
        unpack_image: args.unpack_image.clone(),
    };
    if let Some(path) = &args.manifest {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let parsed = manifest::parse(&text)
            .map_err(|e| format!("{} is not a builder-playground manifest: {e}", path.display()))?;
        let converted =
            manifest::convert(&parsed, &ConvertOptions::default()).map_err(|e| format!("{}: {e}", path.display()))?;
        // Services written in the spec win over generated ones.
        if playground.spec.services.is_empty() {
            playground.spec.services = converted.playground.spec.services;
            playground.spec.bootnode = playground.spec.bootnode.or(converted.playground.spec.bootnode);
        }
        options.artifacts_subdir = Some(artifacts_subdir(&hash));
    }
    let rendered = render(&playground, &options).map_err(|e| format!("invalid spec: {e}"))?;
    let json = serde_json::to_string(&rendered).map_err(|e| format!("cannot serialize the PodSpec: {e}"))?;
    let owner = playground.controller_owner_ref(&()).ok_or_else(|| format!("BuilderPlayground {id} has no uid"))?;
    let cm_name = podspec_configmap_name(&args.name);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(cm_name.clone()),
            namespace: Some(args.namespace.clone()),
            labels: Some(standard_labels(&args.name)),
            annotations: Some(BTreeMap::from([(HASH_ANNOTATION.to_owned(), hash)])),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(RENDERED_KEY.to_owned(), json)])),
        ..Default::default()
    };
    let configmaps: Api<ConfigMap> = Api::namespaced(client, &args.namespace);
    configmaps
        .patch(&cm_name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&cm))
        .await
        .map_err(|e| format!("cannot apply ConfigMap {}/{cm_name}: {}", args.namespace, api_error_message(&e)))?;
    let containers = rendered.containers.len();
    Ok(format!("rendered {containers} containers of {id} into ConfigMap {cm_name}"))
}
