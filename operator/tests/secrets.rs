//! Secrets stay secret: with a devnet converted from builder-playground's real l1 output folder
//! (80 validator keystores and their passwords, travelling in the bundle's Secrets) and one
//! generated in the cluster from its recipe (the stand-in builder-playground writes the same
//! folder onto the storage), no JWT and no keystore or password content appears in any
//! ConfigMap, event, playground status, Pod or Job spec (the rendered PodSpec included), or
//! log line of the operator (at debug level) and of the generator Jobs. The needles are real:
//! the same JWT and keystores are read back from inside the devnet's containers.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bp_e2e::{Cluster, ClusterOptions};
use bp_generator::BuilderPlayground;
use bp_generator::podspec::{JWT_SECRET_KEY, jwt_secret_name};
use common::{OPERATOR_IMAGE, repo_path, target_dir, wait_condition};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, LogParams, Patch, PatchParams};

fn fixture(rel: &str) -> PathBuf {
    repo_path("../shared/fixtures/real-c473a6a").join(rel)
}

/// What must never be shown: (what it is, its text).
fn keystore_needles() -> Vec<(String, String)> {
    let mut needles = Vec::new();
    let validators = fixture("l1-artifacts/data_validator/validators");
    for entry in std::fs::read_dir(&validators).unwrap().flatten() {
        let keystore = entry.path().join("voting-keystore.json");
        let Ok(text) = std::fs::read_to_string(&keystore) else { continue };
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        for part in ["cipher", "checksum"] {
            let message = json["crypto"][part]["message"].as_str().unwrap().to_owned();
            needles.push((format!("{} {part} message", entry.file_name().to_string_lossy()), message));
        }
    }
    // builder-playground gives every keystore the public password `secret`, a word every
    // object here holds (`jwtsecret`, Secret): only a password that could be told from the
    // words around it is a needle.
    for entry in std::fs::read_dir(fixture("l1-artifacts/data_validator/secrets")).unwrap().flatten() {
        let password = std::fs::read_to_string(entry.path()).unwrap().trim().to_owned();
        if password.len() >= 12 {
            needles.push((format!("password of {}", entry.file_name().to_string_lossy()), password));
        }
    }
    let jwt = std::fs::read_to_string(fixture("l1-artifacts/jwtsecret")).unwrap().trim().to_owned();
    needles.push(("the output folder's own jwtsecret".into(), jwt.trim_start_matches("0x").to_owned()));
    needles
}

fn convert(ns: &str, name: &str, dir: &Path) -> Vec<serde_json::Value> {
    let folder = dir.join("out");
    let copied = Command::new("cp").arg("-R").arg(fixture("l1-artifacts")).arg(&folder).status().unwrap();
    assert!(copied.success());
    std::fs::copy(fixture("l1-default.manifest.json"), folder.join("manifest.json")).unwrap();
    let out = Command::new(target_dir().join("bp-generator"))
        .args(["convert", folder.to_str().unwrap(), "--name", name, "--namespace", ns])
        .output()
        .unwrap();
    assert!(out.status.success(), "convert: {}", String::from_utf8_lossy(&out.stderr));
    serde_yaml_ng::Deserializer::from_slice(&out.stdout).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect()
}

async fn apply_json(client: &kube::Client, ns: &str, doc: &serde_json::Value) {
    let name = doc["metadata"]["name"].as_str().unwrap();
    let params = PatchParams::apply("secrets-test").force();
    match doc["kind"].as_str() {
        Some("Secret") => {
            Api::<Secret>::namespaced(client.clone(), ns).patch(name, &params, &Patch::Apply(doc)).await.unwrap();
        }
        Some("BuilderPlayground") => {
            Api::<BuilderPlayground>::namespaced(client.clone(), ns)
                .patch(name, &params, &Patch::Apply(doc))
                .await
                .unwrap();
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_jwt_or_keystore_content_leaves_its_secret() {
    let cluster = Cluster::start(ClusterOptions::default().project_tag("e2e")).await.expect("starting the cluster");
    let client = cluster.client().unwrap();
    let ns = cluster.create_namespace("secrets").await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let log_path = scratch.path().join("operator.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut operator = Command::new(target_dir().join("bp-operator"))
        .args(["--generator-image", OPERATOR_IMAGE, "--metrics-addr", &format!("127.0.0.1:{port}")])
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("starting bp-operator");

    for doc in convert(&ns, "bundled", scratch.path()) {
        apply_json(&client, &ns, &doc).await;
    }
    let recipe = serde_json::json!({
        "apiVersion": "playground.flashbots.io/v1alpha1", "kind": "BuilderPlayground",
        "metadata": {"name": "generated"}, "spec": {"recipe": "l1"}
    });
    apply_json(&client, &ns, &recipe).await;
    for pg in ["bundled", "generated"] {
        wait_condition(&client, &ns, pg, "Ready", "True", None, Duration::from_secs(180)).await;
    }

    // The needles: the playgrounds' JWTs (their Secrets), the keystores, their passwords.
    let mut needles = keystore_needles();
    assert!(needles.len() > 100, "{} needles", needles.len());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for pg in ["bundled", "generated"] {
        let secret = secrets.get(&jwt_secret_name(pg)).await.unwrap();
        let jwt = String::from_utf8(secret.data.unwrap()[JWT_SECRET_KEY].0.clone()).unwrap();
        let hex = jwt.trim().trim_start_matches("0x").to_owned();
        assert_eq!(hex.len(), 64, "a 32-byte JWT");
        // Real: the EL reads exactly this secret.
        let seen = cluster.kubectl(&["exec", "-n", &ns, pg, "-c", "el", "--", "cat", "/data/jwtsecret"]).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&seen.stdout).trim().trim_start_matches("0x"),
            hex,
            "{pg}'s EL reads its JWT"
        );
        needles.push((format!("{pg}'s JWT"), hex));
    }
    // Real: the validator reads the keystores whose contents are needles.
    let listing = cluster
        .kubectl(&[
            "exec",
            "-n",
            &ns,
            "bundled",
            "-c",
            "validator",
            "--",
            "sh",
            "-c",
            "cat /data/validator/validators/*/voting-keystore.json",
        ])
        .await
        .unwrap();
    let keystores = String::from_utf8_lossy(&listing.stdout).into_owned();
    let (what, first) = &needles[0];
    assert!(keystores.contains(first.as_str()), "the validator container holds {what}");

    // The haystacks.
    let mut haystacks: Vec<(String, String)> = Vec::new();
    let list = ListParams::default();
    for cm in Api::<ConfigMap>::namespaced(client.clone(), &ns).list(&list).await.unwrap() {
        haystacks
            .push((format!("ConfigMap {}", cm.metadata.name.clone().unwrap()), serde_json::to_string(&cm).unwrap()));
    }
    let events = Api::<Event>::namespaced(client.clone(), &ns).list(&list).await.unwrap().items;
    assert!(!events.is_empty());
    haystacks.push((format!("{} events", events.len()), serde_json::to_string(&events).unwrap()));
    for pg in Api::<BuilderPlayground>::namespaced(client.clone(), &ns).list(&list).await.unwrap() {
        haystacks.push((
            format!("BuilderPlayground {}", pg.metadata.name.clone().unwrap()),
            serde_json::to_string(&pg).unwrap(),
        ));
    }
    for job in Api::<Job>::namespaced(client.clone(), &ns).list(&list).await.unwrap() {
        haystacks.push((format!("Job {}", job.metadata.name.clone().unwrap()), serde_json::to_string(&job).unwrap()));
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let mut generator_logs = 0;
    for pod in pods.list(&list).await.unwrap() {
        let name = pod.metadata.name.clone().unwrap();
        haystacks.push((format!("Pod {name}"), serde_json::to_string(&pod).unwrap()));
        if pod.metadata.labels.as_ref().is_some_and(|l| l.contains_key("job-name")) {
            let spec = pod.spec.as_ref().unwrap();
            for c in spec.init_containers.iter().flatten().chain(spec.containers.iter()) {
                let params = LogParams { container: Some(c.name.clone()), ..Default::default() };
                let text = pods.logs(&name, &params).await.unwrap_or_default();
                generator_logs += text.lines().count();
                haystacks.push((format!("log of {name}/{}", c.name), text));
            }
        }
    }
    assert!(generator_logs > 0, "the generators said something");
    let _ = operator.kill();
    let _ = operator.wait();
    let operator_log = std::fs::read_to_string(&log_path).unwrap();
    assert!(operator_log.lines().count() > 50, "a debug log of some length");
    haystacks.push(("the operator's debug log".into(), operator_log));

    let mut leaks = Vec::new();
    for (where_, text) in &haystacks {
        for (what, needle) in &needles {
            if text.contains(needle.as_str()) {
                leaks.push(format!("{what} in {where_}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    println!(
        "secrets: {} needles (JWTs, keystores, passwords) in none of {} haystacks ({} generator log lines)",
        needles.len(),
        haystacks.len(),
        generator_logs
    );
    cluster.delete_namespace(&ns).await.unwrap();
}
