//! The seed's workflow on the local Kubernetes (real node): builder-playground's own output
//! folder (`start l1 --dry-run`, c473a6a) → `bp-generator convert DIR` → `kubectl apply` →
//! Ready, with the folder's files in the containers byte for byte. A new bundle replaces the
//! Pod, the same bundle changes nothing, a missing Secret stops at the generator.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const READY_TIMEOUT: Duration = Duration::from_secs(120);

fn fixture(rel: &str) -> PathBuf {
    repo_path("../shared/fixtures/real-c473a6a").join(rel)
}

fn copy_dir(from: &Path, to: &Path) {
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

/// The real l1 output folder, with its manifest.json inside, as builder-playground leaves it.
fn l1_output_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("l1-artifacts"), dir.path());
    std::fs::copy(fixture("l1-default.manifest.json"), dir.path().join("manifest.json")).unwrap();
    dir
}

/// `bp-generator convert DIR --name N --namespace NS [extra]`, written to a file for
/// `kubectl apply -f`.
fn convert(folder: &Path, name: &str, ns: &str, into: &Path) -> PathBuf {
    convert_with(folder, name, ns, into, &[])
}

fn convert_with(folder: &Path, name: &str, ns: &str, into: &Path, extra: &[&str]) -> PathBuf {
    let out = std::process::Command::new(target_dir().join("bp-generator"))
        .args(["convert", folder.to_str().unwrap(), "--name", name, "--namespace", ns])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "convert: {}", String::from_utf8_lossy(&out.stderr));
    let file = into.join(format!("{name}.yaml"));
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

async fn kubectl(args: &[&str]) -> String {
    let out = env().await.cluster.kubectl(args).await.unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A file as a container of the playground's Pod `l1` sees it.
async fn cat(ns: &str, container: &str, path: &str) -> Vec<u8> {
    cat_in(ns, "l1", container, path).await
}

async fn cat_in(ns: &str, pod: &str, container: &str, path: &str) -> Vec<u8> {
    let out = env().await.cluster.kubectl(&["exec", "-n", ns, pod, "-c", container, "--", "cat", path]).await.unwrap();
    assert!(out.status.success(), "{container}: cat {path}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn a_converted_output_folder_reaches_ready_with_its_files() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("folder").await.unwrap();
    let folder = l1_output_folder();
    let scratch = tempfile::tempdir().unwrap();
    let file = convert(folder.path(), "l1", &ns, scratch.path());
    let applied = kubectl(&["apply", "-f", file.to_str().unwrap()]).await;
    assert!(applied.contains("secret/l1-artifacts-0 created"), "{applied}");
    assert!(applied.contains("builderplayground.playground.flashbots.io/l1 created"), "{applied}");
    let pg = wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    assert_eq!(pg.status.as_ref().unwrap().ready.as_deref(), Some("6/6"));

    // Every file the services name is the folder's, byte for byte.
    assert_eq!(
        cat(&ns, "el", "/data/genesis.json").await,
        std::fs::read(fixture("l1-artifacts/genesis.json")).unwrap()
    );
    for rel in ["config.yaml", "genesis.ssz"] {
        let want = std::fs::read(fixture(&format!("l1-artifacts/testnet/{rel}"))).unwrap();
        assert_eq!(cat(&ns, "beacon", &format!("/data/testnet-dir/{rel}")).await, want, "{rel}");
    }
    let out = env
        .cluster
        .kubectl(&[
            "exec",
            "-n",
            &ns,
            "l1",
            "-c",
            "validator",
            "--",
            "sh",
            "-c",
            "ls /data/validator/validators | grep -c ^0x",
        ])
        .await
        .unwrap();
    let listed: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
    let want = std::fs::read_dir(fixture("l1-artifacts/data_validator/validators")).unwrap().count();
    assert_eq!(listed, want, "the validator sees every keystore directory");
    // The JWT is the playground's Secret, not the folder's.
    let jwt = cat(&ns, "el", "/data/jwtsecret").await;
    assert_ne!(jwt, std::fs::read(fixture("l1-artifacts/jwtsecret")).unwrap());
    assert_eq!(jwt, cat(&ns, "beacon", "/data/jwtsecret").await, "EL and CL share one JWT");

    // The same bundle again: nothing new.
    let pod_uid = pod(&client, &ns, "l1").await.unwrap().metadata.uid;
    kubectl(&["apply", "-f", file.to_str().unwrap()]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(jobs(&client, &ns).await.len(), 1);
    assert_eq!(pod(&client, &ns, "l1").await.unwrap().metadata.uid, pod_uid);

    // A new bundle (another genesis): a new generator Job, a new Pod with the new file.
    std::fs::write(folder.path().join("genesis.json"), br#"{"config":{"chainId":4242}}"#).unwrap();
    let file = convert(folder.path(), "l1", &ns, scratch.path());
    kubectl(&["apply", "-f", file.to_str().unwrap()]).await;
    let replaced = wait_for(
        "a new Pod for the new bundle",
        READY_TIMEOUT,
        async || pod(&client, &ns, "l1").await,
        |p| p.as_ref().filter(|p| p.metadata.uid != pod_uid).cloned(),
    )
    .await;
    assert!(replaced.metadata.uid.is_some());
    wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    assert_eq!(cat(&ns, "el", "/data/genesis.json").await, br#"{"config":{"chainId":4242}}"#);
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A playground whose Secrets were never applied: the generator says which one is missing,
/// and no Pod is created.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bundle_secret_stops_at_the_generator() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("nobundle").await.unwrap();
    let folder = l1_output_folder();
    let scratch = tempfile::tempdir().unwrap();
    let file = convert(folder.path(), "l1", &ns, scratch.path());
    // Only the BuilderPlayground of the stream.
    let text = std::fs::read_to_string(&file).unwrap();
    let playground = text.split("---\n").find(|d| d.contains("kind: BuilderPlayground")).unwrap();
    std::fs::write(&file, playground).unwrap();
    kubectl(&["apply", "-f", file.to_str().unwrap()]).await;
    let pg = wait_condition(&client, &ns, "l1", "Generated", "False", Some("GeneratorFailed"), READY_TIMEOUT).await;
    let generated = condition(&pg, "Generated").unwrap();
    assert!(
        generated
            .message
            .contains("spec.artifacts: artifacts bundle part 0 (Secret l1-artifacts-0, key bundle.part) is missing"),
        "{generated:?}"
    );
    assert!(pod(&client, &ns, "l1").await.is_none(), "no half-started devnet");
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// The recipe workflow: a playground that names a recipe and nothing else. builder-playground
/// runs in the generator Job (here the project image's stand-in, which writes the output the
/// real builder-playground c473a6a wrote for `start l1 --dry-run`), its manifest becomes the
/// Pod, its files are on the storage.
#[tokio::test(flavor = "multi_thread")]
async fn a_recipe_only_playground_is_generated_in_the_cluster() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("recipe").await.unwrap();
    let pg = example("examples/recipe-l1.yaml", "l1", &ns);
    assert!(pg.spec.services.is_empty() && pg.spec.generate.is_none(), "the example names a recipe only");
    apply(&client, &pg).await;
    let ready = wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let status = ready.status.unwrap();
    assert_eq!(status.ready.as_deref(), Some("6/6"));
    let services: Vec<&str> = status.service_statuses.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(services, ["beacon", "beacon_healthmon", "el", "el_healthmon", "mev-boost-relay", "validator"]);
    let job = jobs(&client, &ns).await.into_iter().next().unwrap();
    let init = job.spec.unwrap().template.spec.unwrap().init_containers.unwrap().remove(0);
    assert_eq!(init.image.as_deref(), Some(OPERATOR_IMAGE), "the operator's image carries builder-playground");
    assert_eq!(init.args.unwrap()[..2], ["start".to_owned(), "l1".to_owned()]);
    assert_eq!(
        cat(&ns, "el", "/data/genesis.json").await,
        std::fs::read(fixture("l1-artifacts/genesis.json")).unwrap()
    );
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// The bundle reaches the containers on the other storage types too: an emptyDir
/// (ephemeral) and a claim (pvc), here bound to a PersistentVolume made for the test (the
/// local Kubernetes has no dynamic provisioner).
#[tokio::test(flavor = "multi_thread")]
async fn the_bundle_reaches_the_containers_on_ephemeral_and_pvc_storage() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("storage").await.unwrap();
    let folder = l1_output_folder();
    let scratch = tempfile::tempdir().unwrap();
    let class = format!("bp-e2e-static-{ns}");
    let pv = serde_json::json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": class},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": class, "persistentVolumeReclaimPolicy": "Retain",
                 "hostPath": {"path": format!("/data/bp-e2e-pv/{ns}"), "type": "DirectoryOrCreate"}}
    });
    let pv_file = scratch.path().join("pv.json");
    std::fs::write(&pv_file, pv.to_string()).unwrap();
    kubectl(&["apply", "-f", pv_file.to_str().unwrap()]).await;
    let ephemeral = convert_with(folder.path(), "eph", &ns, scratch.path(), &["--storage-type", "ephemeral"]);
    let pvc = convert_with(
        folder.path(),
        "claim",
        &ns,
        scratch.path(),
        &["--storage-type", "pvc", "--storage-class", &class, "--storage-size", "1Gi"],
    );
    for file in [&ephemeral, &pvc] {
        kubectl(&["apply", "-f", file.to_str().unwrap()]).await;
    }
    let genesis = std::fs::read(fixture("l1-artifacts/genesis.json")).unwrap();
    for name in ["eph", "claim"] {
        wait_condition(&client, &ns, name, "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
        assert_eq!(cat_in(&ns, name, "el", "/data/genesis.json").await, genesis, "{name}");
    }
    let pod = pod(&client, &ns, "eph").await.unwrap();
    let storage = pod.spec.unwrap().volumes.unwrap().into_iter().find(|v| v.name == "artifacts").unwrap();
    assert!(storage.empty_dir.is_some(), "{storage:?}");
    let claim =
        kubectl(&["get", "pvc", "-n", &ns, "claim-artifacts", "-o", "jsonpath={.status.phase} {.spec.volumeName}"])
            .await;
    assert_eq!(claim, format!("Bound {class}"));
    env.cluster.delete_namespace(&ns).await.unwrap();
    kubectl(&["delete", "pv", &class, "--wait=false"]).await;
}
