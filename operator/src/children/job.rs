//! The one-shot generator Job of an input hash (DESIGN §6.2–3).

use bp_generator::BuilderPlayground;
use bp_generator::api::ARTIFACTS_DIR;
use bp_generator::bundle::{self, root_without_capabilities};
use bp_generator::cluster::{artifacts_subdir, generator_job_name, short_hash};
use bp_generator::podspec::artifacts_volume;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, VolumeMount};
use kube::ResourceExt;
use kube::api::ObjectMeta;

use super::child_meta;
use crate::security::restricted_container;

/// Label with the short input hash, to find Jobs of older hashes.
pub const HASH_LABEL: &str = "playground.flashbots.io/input-hash";

/// How generator Jobs run.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Image with the bp-generator binary (the operator's own image).
    pub image: String,
    /// The API server runs native sidecars.
    pub native_sidecars: bool,
    /// Pod retries before the Job fails.
    pub backoff_limit: i32,
    /// Seconds before a running Job is stopped.
    pub deadline_seconds: i64,
    /// Host directories under which `local-path` playgrounds may keep their files (the
    /// cluster operator's choice; anything else is an invalid spec).
    pub allowed_host_paths: Vec<String>,
}

/// The generator Job for `hash`.
pub fn build(pg: &BuilderPlayground, hash: &str, service_account: &str, config: &GeneratorConfig) -> Job {
    let name = generator_job_name(&pg.name_any(), hash);
    let mut meta = child_meta(pg, name);
    meta.labels.get_or_insert_default().insert(HASH_LABEL.into(), short_hash(hash).into());
    let mut args = vec![
        "job".to_owned(),
        "--namespace".into(),
        pg.namespace().unwrap_or_default(),
        "--name".into(),
        pg.name_any(),
        "--hash".into(),
        hash.to_owned(),
    ];
    if !config.native_sidecars {
        args.push("--no-native-sidecars".into());
    }
    // The Pod's unpack step runs this image too.
    args.extend(["--unpack-image".into(), config.image.clone()]);
    let mut init_containers = Vec::new();
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    if let Some(generate) = &pg.spec.generation() {
        // builder-playground removes its output directory first, so it gets a fresh
        // subdirectory, never the mount point itself.
        let output = format!("{ARTIFACTS_DIR}/{}", artifacts_subdir(hash));
        let mut bp_args = pg.spec.generate_args(generate);
        bp_args.extend(["--dry-run".into(), "--output".into(), output.clone()]);
        let mount =
            vec![VolumeMount { name: "artifacts".into(), mount_path: ARTIFACTS_DIR.into(), ..Default::default() }];
        init_containers.push(Container {
            name: "builder-playground".into(),
            // The operator's image carries builder-playground unless another is named.
            image: Some(generate.image.clone().unwrap_or_else(|| config.image.clone())),
            command: Some(vec!["builder-playground".into()]),
            args: Some(bp_args),
            volume_mounts: Some(mount.clone()),
            termination_message_policy: Some("FallbackToLogsOnError".into()),
            // The storage (a hostPath or a fresh claim) belongs to root: it writes as root,
            // with no capabilities and a read-only root filesystem.
            security_context: Some(root_without_capabilities()),
            ..Default::default()
        });
        args.extend(["--manifest".into(), format!("{output}/manifest.json")]);
        volumes.push(artifacts_volume(pg));
        mounts.extend(mount);
    }
    if let Some(artifacts) = &pg.spec.artifacts {
        // Optional sources: a missing Secret is reported by the generator, by name, instead of
        // holding the Job's Pod in ContainerCreating.
        volumes.push(bundle::parts_volume(artifacts, true));
        mounts.push(bundle::parts_mount());
        args.extend(["--bundle".into(), bundle::PARTS_DIR.into()]);
    }
    let generator = Container {
        name: "generator".into(),
        image: Some(config.image.clone()),
        command: Some(vec!["bp-generator".into()]),
        args: Some(args),
        volume_mounts: Some(mounts).filter(|m| !m.is_empty()),
        // The last log line is the reason of a failure; it becomes the Generated condition.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..restricted_container()
    };
    Job {
        metadata: meta.clone(),
        spec: Some(JobSpec {
            backoff_limit: Some(config.backoff_limit),
            active_deadline_seconds: Some(config.deadline_seconds),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: meta.labels.clone(), ..Default::default() }),
                spec: Some(PodSpec {
                    service_account_name: Some(service_account.to_owned()),
                    restart_policy: Some("Never".into()),
                    init_containers: Some(init_containers).filter(|c| !c.is_empty()),
                    containers: vec![generator],
                    volumes: Some(volumes).filter(|v| !v.is_empty()),
                    enable_service_links: Some(false),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::fixture::playground;
    use bp_generator::api::GenerateSpec;

    fn config() -> GeneratorConfig {
        GeneratorConfig {
            image: "op:1".into(),
            native_sidecars: true,
            backoff_limit: 2,
            deadline_seconds: 600,
            allowed_host_paths: vec![bp_generator::podspec::DEFAULT_STORAGE_PATH.into()],
        }
    }

    #[test]
    fn renders_through_bp_generator_job() {
        let hash = "3f9a2c1d".repeat(8);
        let job = build(&playground(), &hash, "l1-generator", &config());
        assert_eq!(job.metadata.name.as_deref(), Some("l1-gen-3f9a2c1d"));
        assert_eq!(job.metadata.owner_references.as_ref().unwrap()[0].controller, Some(true));
        assert_eq!(job.metadata.labels.as_ref().unwrap()[HASH_LABEL], "3f9a2c1d");
        let spec = job.spec.unwrap();
        assert_eq!(spec.backoff_limit, Some(2));
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.service_account_name.as_deref(), Some("l1-generator"));
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("op:1"));
        assert_eq!(c.command.as_deref(), Some(&["bp-generator".to_owned()][..]));
        assert_eq!(
            c.args.as_ref().unwrap(),
            &["job", "--namespace", "dev", "--name", "l1", "--hash", &hash, "--unpack-image", "op:1"]
        );
        assert_eq!(c.termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
        assert!(pod.init_containers.is_none() && pod.volumes.is_none());
    }

    #[test]
    fn generate_runs_builder_playground_first_into_a_fresh_directory() {
        let mut pg = playground();
        pg.spec.generate = Some(GenerateSpec { image: Some("bp:0.3".into()), args: vec!["cook".into(), "l1".into()] });
        let job = build(&pg, &"ab".repeat(32), "sa", &GeneratorConfig { native_sidecars: false, ..config() });
        let pod = job.spec.unwrap().template.spec.unwrap();
        let init = &pod.init_containers.unwrap()[0];
        assert_eq!(init.image.as_deref(), Some("bp:0.3"));
        assert_eq!(init.args.as_ref().unwrap(), &["cook", "l1", "--dry-run", "--output", "/artifacts/gen-abababab"]);
        let args = pod.containers[0].args.clone().unwrap();
        assert!(args.ends_with(&[
            "--no-native-sidecars".into(),
            "--unpack-image".into(),
            "op:1".into(),
            "--manifest".into(),
            "/artifacts/gen-abababab/manifest.json".into()
        ]));
        assert_eq!(pod.volumes.unwrap()[0].name, "artifacts");
    }

    #[test]
    fn an_artifacts_bundle_is_mounted_for_the_generator_to_check() {
        let mut pg = playground();
        pg.spec.artifacts = Some(bp_generator::api::ArtifactsSpec {
            secrets: vec!["l1-artifacts-0".into(), "l1-artifacts-1".into()],
            digest: format!("sha256:{}", "0f".repeat(32)),
        });
        let pod = build(&pg, &"ab".repeat(32), "sa", &config()).spec.unwrap().template.spec.unwrap();
        let c = &pod.containers[0];
        assert!(c.args.as_ref().unwrap().ends_with(&["--bundle".into(), "/bundle".into()]));
        let mount = &c.volume_mounts.as_ref().unwrap()[0];
        assert_eq!(
            (mount.name.as_str(), mount.mount_path.as_str(), mount.read_only),
            ("bundle-parts", "/bundle", Some(true))
        );
        let volume = &pod.volumes.as_ref().unwrap()[0];
        let sources = volume.projected.as_ref().unwrap().sources.as_ref().unwrap();
        let parts: Vec<(String, String, Option<bool>)> = sources
            .iter()
            .map(|s| {
                let secret = s.secret.as_ref().unwrap();
                (secret.name.clone(), secret.items.as_ref().unwrap()[0].path.clone(), secret.optional)
            })
            .collect();
        assert_eq!(
            parts,
            [
                ("l1-artifacts-0".into(), "part-000".into(), Some(true)),
                ("l1-artifacts-1".into(), "part-001".into(), Some(true))
            ]
        );
        // Checking needs no storage: nothing else is mounted.
        assert_eq!(pod.volumes.unwrap().len(), 1);
    }

    #[test]
    fn a_recipe_only_playground_runs_the_operators_builder_playground_as_root_without_capabilities() {
        let mut pg = playground();
        pg.spec.services.clear();
        pg.spec.recipe = Some("opstack".into());
        let pod = build(&pg, &"cd".repeat(32), "sa", &config()).spec.unwrap().template.spec.unwrap();
        let init = &pod.init_containers.unwrap()[0];
        assert_eq!(init.image.as_deref(), Some("op:1"), "the operator's image");
        assert_eq!(
            init.args.as_ref().unwrap(),
            &["start", "opstack", "--dry-run", "--output", "/artifacts/gen-cdcdcdcd"]
        );
        let sc = init.security_context.as_ref().unwrap();
        assert_eq!((sc.run_as_user, sc.run_as_non_root), (Some(0), Some(false)));
        assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_deref(), Some(&["ALL".to_owned()][..]));
        assert_eq!((sc.read_only_root_filesystem, sc.allow_privilege_escalation), (Some(true), Some(false)));
    }
}
