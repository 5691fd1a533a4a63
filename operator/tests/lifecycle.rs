//! A playground's life on the local Kubernetes (real node): suspended and resumed as the same
//! devnet (same claim, artifacts, rendered PodSpec and JWT, no new generator run), deleted by
//! the operator when its `spec.lifetime` is over, and generated anew when the regenerate
//! annotation gets a new value.

mod common;

use std::time::Duration;

use bp_generator::api::{Phase, StorageSpec, StorageType};
use bp_generator::cluster::{REGENERATE_ANNOTATION, artifacts_subdir, generator_job_name, input_hash};
use bp_generator::podspec::{JWT_SECRET_KEY, jwt_secret_name};
use bp_generator::{BuilderPlayground, api::ARTIFACTS_DIR};
use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;
use kube::api::Api;

const READY_TIMEOUT: Duration = Duration::from_secs(150);

async fn kubectl(args: &[&str]) -> String {
    let out = env().await.cluster.kubectl(args).await.unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sh -c script` in a container of the Pod `l1`.
async fn exec(ns: &str, container: &str, script: &str) -> String {
    kubectl(&["exec", "-n", ns, "l1", "-c", container, "--", "sh", "-c", script]).await
}

/// The genesis file as the EL sees it: its sha256, and the mtime and inode of the file on
/// the storage (a rewrite changes them, the same file keeps them).
async fn genesis(ns: &str) -> String {
    exec(
        ns,
        "el",
        &format!("sha256sum /data/genesis.json | cut -d' ' -f1; stat -c '%Y %i' {ARTIFACTS_DIR}/genesis.json"),
    )
    .await
}

/// The one object of kind `K` named `name`: its uid (and resourceVersion).
async fn identity<K>(client: &kube::Client, ns: &str, name: &str) -> (Option<String>, Option<String>)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let object = Api::<K>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{} {ns}/{name} is missing", K::kind(&())));
    (object.meta().uid.clone(), object.meta().resource_version.clone())
}

async fn jwt(client: &kube::Client, ns: &str) -> (Option<String>, Vec<u8>) {
    let secret = Api::<Secret>::namespaced(client.clone(), ns).get(&jwt_secret_name("l1")).await.unwrap();
    (secret.metadata.uid, secret.data.unwrap()[JWT_SECRET_KEY].0.clone())
}

fn job_names(jobs: &[Job]) -> Vec<String> {
    let mut names: Vec<String> = jobs.iter().filter_map(|j| j.metadata.name.clone()).collect();
    names.sort();
    names
}

/// The storage subdirectory the Pod mounts at /artifacts (`gen-<hash8>` with `generate`).
fn artifacts_subpath(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let el = spec.init_containers.iter().flatten().chain(&spec.containers).find(|c| c.name == "el")?;
    el.volume_mounts.iter().flatten().find(|m| m.mount_path == ARTIFACTS_DIR)?.sub_path.clone()
}

/// Suspended, the recipe playground (generated in the cluster onto a claim) loses its Pod and
/// keeps its claim, artifacts, rendered PodSpec, JWT Secret, Service and generator Job;
/// resumed, it is Ready again with the same genesis file (not rewritten) and JWT, and no new
/// generator Job.
#[tokio::test(flavor = "multi_thread")]
async fn suspend_keeps_the_devnet_and_resume_brings_it_back() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("suspend").await.unwrap();
    // The local Kubernetes has no dynamic provisioner: a PersistentVolume of a class of its own.
    let class = format!("bp-e2e-static-{ns}");
    let pv = serde_json::json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": class},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": class, "persistentVolumeReclaimPolicy": "Retain",
                 "hostPath": {"path": format!("/data/bp-e2e-pv/{ns}"), "type": "DirectoryOrCreate"}}
    });
    let scratch = tempfile::tempdir().unwrap();
    let pv_file = scratch.path().join("pv.json");
    std::fs::write(&pv_file, pv.to_string()).unwrap();
    kubectl(&["apply", "-f", pv_file.to_str().unwrap()]).await;

    let mut pg = example("examples/recipe-l1.yaml", "l1", &ns);
    pg.spec.storage = Some(StorageSpec {
        storage_type: Some(StorageType::Pvc),
        storage_class: Some(class.clone()),
        size: Some("1Gi".into()),
        ..Default::default()
    });
    apply(&client, &pg).await;
    wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let running_pod = pod(&client, &ns, "l1").await.unwrap();
    let jobs_before = job_names(&jobs(&client, &ns).await);
    assert_eq!(jobs_before.len(), 1, "{jobs_before:?}");
    let genesis_before = genesis(&ns).await;
    let jwt_before = jwt(&client, &ns).await;
    let jwt_file_before = exec(&ns, "el", "cat /data/jwtsecret").await;
    let kept = async || {
        (
            identity::<PersistentVolumeClaim>(&client, &ns, "l1-artifacts").await.0,
            identity::<ConfigMap>(&client, &ns, "l1-podspec").await,
            identity::<Service>(&client, &ns, "l1").await.0,
            jwt(&client, &ns).await,
        )
    };
    let kept_before = kept().await;

    // Suspend: the Pod goes, everything else stays as it was.
    pg.spec.suspend = true;
    apply(&client, &pg).await;
    let suspended = wait_condition(&client, &ns, "l1", "Suspended", "True", Some("Suspended"), READY_TIMEOUT).await;
    assert_eq!(suspended.status.as_ref().unwrap().phase, Some(Phase::Suspended));
    wait_for(
        "the suspended playground's Pod to be gone",
        Duration::from_secs(60),
        async || pod(&client, &ns, "l1").await.map(|p| p.metadata.uid),
        |p| p.is_none().then_some(()),
    )
    .await;
    let settled = wait_for(
        "the status to say the Pod is deleted",
        Duration::from_secs(30),
        async || get(&client, &ns, "l1").await.unwrap(),
        |pg| {
            let ready = condition(pg, "Ready")?;
            (ready.reason == "Suspended" && ready.message.starts_with("spec.suspend is true: the Pod is deleted;"))
                .then(|| pg.clone())
        },
    )
    .await;
    let ready = condition(&settled, "Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert!(ready.message.contains("the storage with its artifacts, the rendered PodSpec and the JWT Secret are kept"));
    assert_eq!(condition(&settled, "Deployed").unwrap().reason, "Suspended");
    assert_eq!(condition(&settled, "Generated").unwrap().status, "True", "nothing to generate again");
    assert_eq!(kept().await, kept_before, "claim, ConfigMap, Service and JWT Secret are the same objects");
    let claim = kubectl(&["get", "pvc", "-n", &ns, "l1-artifacts", "-o", "jsonpath={.status.phase}"]).await;
    assert_eq!(claim, "Bound");
    assert_eq!(job_names(&jobs(&client, &ns).await), jobs_before);
    let events = events(&client, &ns).await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("Suspended") && e.involved_object.name.as_deref() == Some("l1")),
        "a Suspended event: {events:#?}"
    );

    // Resume: the same devnet again, from what was kept.
    pg.spec.suspend = false;
    apply(&client, &pg).await;
    let resumed = wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    assert_eq!(resumed.status.as_ref().unwrap().phase, Some(Phase::Running));
    let c = condition(&resumed, "Suspended").unwrap();
    assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "Resumed"));
    let new_pod = pod(&client, &ns, "l1").await.unwrap();
    assert_ne!(new_pod.metadata.uid, running_pod.metadata.uid, "a new Pod");
    assert_eq!(artifacts_subpath(&new_pod), artifacts_subpath(&running_pod), "the same artifacts directory");
    assert_eq!(job_names(&jobs(&client, &ns).await), jobs_before, "no new generator Job");
    assert_eq!(genesis(&ns).await, genesis_before, "the same genesis file: same bytes, mtime and inode");
    assert_eq!(exec(&ns, "el", "cat /data/jwtsecret").await, jwt_file_before, "the same JWT in the EL");
    assert_eq!(kept().await, kept_before);
    assert_eq!(jwt(&client, &ns).await, jwt_before);
    env.cluster.delete_namespace(&ns).await.unwrap();
    kubectl(&["delete", "pv", &class, "--wait=false"]).await;
}

/// builder-playground's real l1 output folder (c473a6a), with its manifest.json.
fn l1_output_folder() -> tempfile::TempDir {
    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let fixtures = repo_path("../shared/fixtures/real-c473a6a");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures.join("l1-artifacts"), dir.path());
    std::fs::copy(fixtures.join("l1-default.manifest.json"), dir.path().join("manifest.json")).unwrap();
    dir
}

/// On ephemeral storage (an emptyDir) suspending loses the storage's files, and the condition
/// says so; resumed, the artifacts bundle is unpacked again: the same genesis bytes, in a new
/// file.
#[tokio::test(flavor = "multi_thread")]
async fn suspending_ephemeral_storage_says_its_files_go_and_resume_unpacks_the_bundle_again() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("suspend-eph").await.unwrap();
    let folder = l1_output_folder();
    let out = std::process::Command::new(target_dir().join("bp-generator"))
        .args(["convert", folder.path().to_str().unwrap(), "--name", "l1", "--namespace", &ns])
        .args(["--storage-type", "ephemeral"])
        .output()
        .unwrap();
    assert!(out.status.success(), "convert: {}", String::from_utf8_lossy(&out.stderr));
    let file = folder.path().join("l1.yaml");
    std::fs::write(&file, &out.stdout).unwrap();
    kubectl(&["apply", "--server-side", "--field-manager", "e2e-test", "-f", file.to_str().unwrap()]).await;
    wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let genesis_before = genesis(&ns).await;
    let jobs_before = job_names(&jobs(&client, &ns).await);

    kubectl(&["patch", "bp", "l1", "-n", &ns, "--type", "merge", "-p", r#"{"spec":{"suspend":true}}"#]).await;
    let suspended = wait_condition(&client, &ns, "l1", "Suspended", "True", Some("Suspended"), READY_TIMEOUT).await;
    let message = &condition(&suspended, "Suspended").unwrap().message;
    assert!(
        message.contains("the storage is ephemeral (an emptyDir): its files went with the Pod, and an artifacts bundle is unpacked again on resume"),
        "{message}"
    );
    assert!(!message.contains("the storage with its artifacts"), "{message}");
    wait_for(
        "the suspended playground's Pod to be gone",
        Duration::from_secs(60),
        async || pod(&client, &ns, "l1").await.map(|p| p.metadata.uid),
        |p| p.is_none().then_some(()),
    )
    .await;

    kubectl(&["patch", "bp", "l1", "-n", &ns, "--type", "merge", "-p", r#"{"spec":{"suspend":false}}"#]).await;
    wait_for(
        "the resumed Pod to run",
        READY_TIMEOUT,
        async || pod(&client, &ns, "l1").await.and_then(|p| p.status),
        |s| s.as_ref().filter(|s| s.phase.as_deref() == Some("Running")).map(|_| ()),
    )
    .await;
    wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let genesis_after = genesis(&ns).await;
    assert_eq!(genesis_after.lines().next(), genesis_before.lines().next(), "the bundle's genesis again");
    assert_ne!(genesis_after, genesis_before, "unpacked anew into a new emptyDir");
    assert_eq!(job_names(&jobs(&client, &ns).await), jobs_before, "no new generator Job");
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A playground created suspended is generated (a generator Job is a one-shot that only writes
/// artifacts and the ConfigMap: it runs to its end, and the condition says so meanwhile) but
/// gets no Pod; resumed, it starts from that generator run.
#[tokio::test(flavor = "multi_thread")]
async fn a_playground_created_suspended_is_generated_but_not_started() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("born-suspended").await.unwrap();
    let mut pg = example("examples/recipe-l1.yaml", "l1", &ns);
    pg.spec.suspend = true;
    apply(&client, &pg).await;
    let generating = wait_for(
        "the Suspended condition while the generator runs",
        Duration::from_secs(60),
        async || get(&client, &ns, "l1").await.unwrap(),
        |pg| condition(pg, "Suspended").filter(|c| c.status == "True").cloned(),
    )
    .await;
    assert!(
        generating.message.contains("the generator Job runs to its end, and no Pod is created while suspended"),
        "{generating:?}"
    );
    let generated = wait_condition(&client, &ns, "l1", "Generated", "True", Some("Generated"), READY_TIMEOUT).await;
    assert_eq!(generated.status.as_ref().unwrap().phase, Some(Phase::Suspended));
    assert_eq!(condition(&generated, "Ready").unwrap().reason, "Suspended");
    let generated = wait_for(
        "the condition to drop the generator once it delivered",
        Duration::from_secs(30),
        async || get(&client, &ns, "l1").await.unwrap(),
        |pg| condition(pg, "Suspended").filter(|c| !c.message.contains("generator")).map(|_| pg.clone()),
    )
    .await;
    let jobs_before = job_names(&jobs(&client, &ns).await);
    assert_eq!(jobs_before, [generated.status.unwrap().generator_job.unwrap()]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(pod(&client, &ns, "l1").await.is_none(), "no Pod while suspended");

    pg.spec.suspend = false;
    apply(&client, &pg).await;
    let resumed = wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    assert_eq!(condition(&resumed, "Suspended").unwrap().reason, "Resumed");
    assert_eq!(job_names(&jobs(&client, &ns).await), jobs_before, "no new generator Job");
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A playground with `lifetime: 20s` shows when it expires and is deleted then by the
/// operator, after an Expired event; what it owned goes with it.
#[tokio::test(flavor = "multi_thread")]
async fn a_playground_is_deleted_when_its_lifetime_is_over() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("lifetime").await.unwrap();
    let mut pg: BuilderPlayground = serde_yaml_ng::from_str(
        r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: l1}
spec:
  lifetime: 20s
  services:
  - name: a
    image: docker.io/library/busybox
    tag: "1.35"
    entrypoint: [sh, -c]
    args: ['exec sleep 3600']
    files: [{artifact: jwtsecret, mountPath: /data/jwtsecret}]
"#,
    )
    .unwrap();
    pg.metadata.namespace = Some(ns.clone());
    let created = apply(&client, &pg).await;
    let uid = created.metadata.uid.clone();
    let created_at = created.metadata.creation_timestamp.clone().unwrap().0;
    let shown = wait_for(
        "status.expiresAt",
        Duration::from_secs(15),
        async || get(&client, &ns, "l1").await,
        |pg| pg.as_ref()?.status.as_ref()?.expires_at.clone(),
    )
    .await;
    let expires: Timestamp = shown.parse().unwrap();
    assert_eq!(expires, created_at.checked_add(SignedDuration::from_secs(20)).unwrap(), "{shown}");
    // `kubectl explain` describes the new fields.
    for (field, says) in [
        ("spec.lifetime", "Delete the playground this long after its creation, a Go duration such as 2h or 90m"),
        ("spec.suspend", "Stop the devnet and keep it: true deletes the Pod"),
        ("status.expiresAt", "When the operator deletes the playground (RFC 3339)"),
    ] {
        let explained = kubectl(&["explain", &format!("builderplayground.{field}")]).await;
        let words = explained.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains(says), "kubectl explain {field}: {explained}");
    }
    // `kubectl get bp -o wide` shows it.
    let wide = kubectl(&["get", "bp", "-n", &ns, "l1", "-o", "wide"]).await;
    assert!(wide.lines().next().unwrap().contains("EXPIRES") && wide.contains(&shown), "{wide}");
    // A live devnet until then.
    let running = wait_for(
        "the playground's Pod",
        Duration::from_secs(18),
        async || pod(&client, &ns, "l1").await,
        |p| p.clone(),
    )
    .await;
    assert!(Timestamp::now() < expires, "the Pod came before the expiry");
    let gone_at = wait_for(
        "the playground to be deleted",
        Duration::from_secs(60),
        async || (get(&client, &ns, "l1").await.filter(|pg| pg.metadata.uid == uid), Timestamp::now()),
        |(pg, at)| pg.is_none().then_some(*at),
    )
    .await;
    // creationTimestamp has whole seconds: the real creation may be up to a second later.
    let early = expires.duration_since(gone_at);
    assert!(early < SignedDuration::from_secs(1), "deleted {early:?} before {shown}");
    let late = gone_at.duration_since(expires);
    assert!(late < SignedDuration::from_secs(15), "deleted {late:?} after {shown}");
    let events = events(&client, &ns).await;
    let expired = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Expired") && e.involved_object.uid == uid)
        .unwrap_or_else(|| panic!("an Expired event: {events:#?}"));
    assert_eq!(
        expired.message.as_deref(),
        Some("spec.lifetime 20s is over: deleting the playground and everything it owns")
    );
    // The garbage collector removes what it owned.
    let pod_uid = running.metadata.uid.clone();
    wait_for(
        "the Pod, the JWT Secret, the ConfigMap and the generator Job to be gone",
        Duration::from_secs(90),
        async || {
            (
                pod(&client, &ns, "l1").await.filter(|p| p.metadata.uid == pod_uid).is_some(),
                Api::<Secret>::namespaced(client.clone(), &ns).get_opt(&jwt_secret_name("l1")).await.unwrap().is_some(),
                Api::<ConfigMap>::namespaced(client.clone(), &ns).get_opt("l1-podspec").await.unwrap().is_some(),
                jobs(&client, &ns).await.len(),
            )
        },
        |left| (*left == (false, false, false, 0)).then_some(()),
    )
    .await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A new value of the regenerate annotation runs the generator again (builder-playground
/// writes a new output directory, `gen-<new hash8>`, on the storage) and replaces the Pod,
/// which mounts the new directory; the JWT Secret stays. The same value again changes nothing.
///
/// The stand-in builder-playground writes its recorded output, so the new genesis has the
/// same bytes as the old one: what this proves is that it was written again, by the new Job,
/// after the annotation changed (a new directory, a file modified after that moment), and that
/// the new Pod reads that one.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_regenerate_value_generates_afresh_and_replaces_the_pod() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("regenerate").await.unwrap();
    let pg = example("examples/recipe-l1.yaml", "l1", &ns);
    apply(&client, &pg).await;
    let before = wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let old_job = generator_job_name("l1", &input_hash(&before));
    assert_eq!(job_names(&jobs(&client, &ns).await), std::slice::from_ref(&old_job));
    let old_pod = pod(&client, &ns, "l1").await.unwrap();
    let old_dir = artifacts_subpath(&old_pod).unwrap();
    let old_genesis = genesis(&ns).await;
    let jwt_before = jwt(&client, &ns).await;

    // The node runs on this machine: its clock is ours. Whole seconds, as stat prints mtimes.
    let annotated_at = Timestamp::now().as_second();
    let annotation = format!("{REGENERATE_ANNOTATION}=1");
    kubectl(&["annotate", "bp", "l1", "-n", &ns, &annotation, "--overwrite"]).await;
    let mut expected = before.clone();
    expected.metadata.annotations.get_or_insert_default().insert(REGENERATE_ANNOTATION.into(), "1".into());
    let hash = input_hash(&expected);
    let new_job = generator_job_name("l1", &hash);
    assert_ne!(new_job, old_job);
    let new_pod = wait_for(
        "a new Pod from the new generator run",
        READY_TIMEOUT,
        async || pod(&client, &ns, "l1").await,
        |p| p.as_ref().filter(|p| p.metadata.uid != old_pod.metadata.uid).cloned(),
    )
    .await;
    let after = wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    assert_eq!(after.metadata.generation, before.metadata.generation, "an annotation is no spec change");
    assert_eq!(after.status.as_ref().unwrap().generator_job.as_deref(), Some(new_job.as_str()));
    assert_eq!(artifacts_subpath(&new_pod), Some(artifacts_subdir(&hash)), "the new Pod mounts the new output");
    assert_ne!(artifacts_subpath(&new_pod), Some(old_dir));
    let new_genesis = genesis(&ns).await;
    let mtime = |g: &str| -> i64 { g.lines().nth(1).unwrap().split(' ').next().unwrap().parse().unwrap() };
    assert!(
        mtime(&new_genesis) >= annotated_at,
        "written after the annotation changed: {new_genesis} vs {annotated_at}"
    );
    assert_ne!(new_genesis, old_genesis, "another file");
    assert_eq!(
        new_genesis.lines().next(),
        old_genesis.lines().next(),
        "the stand-in's recorded genesis, written again"
    );
    assert_eq!(jwt(&client, &ns).await, jwt_before, "the JWT Secret stays");
    wait_for(
        "the old generator Job to be removed",
        Duration::from_secs(60),
        async || job_names(&jobs(&client, &ns).await),
        |names| (names.as_slice() == std::slice::from_ref(&new_job)).then_some(()),
    )
    .await;

    // The same value again: nothing new.
    let pod_uid = pod(&client, &ns, "l1").await.unwrap().metadata.uid;
    kubectl(&["annotate", "bp", "l1", "-n", &ns, &annotation, "--overwrite"]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(job_names(&jobs(&client, &ns).await), [new_job]);
    assert_eq!(pod(&client, &ns, "l1").await.unwrap().metadata.uid, pod_uid);
    env.cluster.delete_namespace(&ns).await.unwrap();
}
