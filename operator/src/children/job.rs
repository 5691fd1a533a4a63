//! The one-shot generator Job of an input hash (DESIGN §6.2–3).

use bp_generator::BuilderPlayground;
use bp_generator::api::ARTIFACTS_DIR;
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
    let mut init_containers = Vec::new();
    let mut volumes = None;
    let mut mounts = None;
    if let Some(generate) = &pg.spec.generate {
        // builder-playground removes its output directory first, so it gets a fresh
        // subdirectory, never the mount point itself.
        let output = format!("{ARTIFACTS_DIR}/{}", artifacts_subdir(hash));
        let mut bp_args = generate.args.clone();
        bp_args.extend(["--dry-run".into(), "--output".into(), output.clone()]);
        let mount =
            vec![VolumeMount { name: "artifacts".into(), mount_path: ARTIFACTS_DIR.into(), ..Default::default() }];
        init_containers.push(Container {
            name: "builder-playground".into(),
            image: Some(generate.image.clone()),
            command: Some(vec!["builder-playground".into()]),
            args: Some(bp_args),
            volume_mounts: Some(mount.clone()),
            termination_message_policy: Some("FallbackToLogsOnError".into()),
            ..Default::default()
        });
        args.extend(["--manifest".into(), format!("{output}/manifest.json")]);
        volumes = Some(vec![artifacts_volume(pg)]);
        mounts = Some(mount);
    }
    let generator = Container {
        name: "generator".into(),
        image: Some(config.image.clone()),
        command: Some(vec!["bp-generator".into()]),
        args: Some(args),
        volume_mounts: mounts,
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
                    volumes,
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
        GeneratorConfig { image: "op:1".into(), native_sidecars: true, backoff_limit: 2, deadline_seconds: 600 }
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
        assert_eq!(c.args.as_ref().unwrap(), &["job", "--namespace", "dev", "--name", "l1", "--hash", &hash]);
        assert_eq!(c.termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
        assert!(pod.init_containers.is_none() && pod.volumes.is_none());
    }

    #[test]
    fn generate_runs_builder_playground_first_into_a_fresh_directory() {
        let mut pg = playground();
        pg.spec.generate = Some(GenerateSpec { image: "bp:0.3".into(), args: vec!["cook".into(), "l1".into()] });
        let job = build(&pg, &"ab".repeat(32), "sa", &GeneratorConfig { native_sidecars: false, ..config() });
        let pod = job.spec.unwrap().template.spec.unwrap();
        let init = &pod.init_containers.unwrap()[0];
        assert_eq!(init.image.as_deref(), Some("bp:0.3"));
        assert_eq!(init.args.as_ref().unwrap(), &["cook", "l1", "--dry-run", "--output", "/artifacts/gen-abababab"]);
        let args = pod.containers[0].args.clone().unwrap();
        assert!(args.ends_with(&[
            "--no-native-sidecars".into(),
            "--manifest".into(),
            "/artifacts/gen-abababab/manifest.json".into()
        ]));
        assert_eq!(pod.volumes.unwrap()[0].name, "artifacts");
    }
}
