//! The catalog of invalid playgrounds (`invalid/mod.rs`), through the CLI and through the real
//! API server and operator without the webhook: each is refused by `bp-generator render` with
//! its one-line message (exit code 2), and either refused at create by the CRD (its schema and
//! CEL rules, in the generator's words) or accepted and reported as `InvalidSpec` naming the
//! service and field, with nothing created for it. The examples and builder-playground's own
//! manifests (converted) pass all of it.

mod common;
mod invalid;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use invalid::{Api as Expect, cases, playground};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};

fn playgrounds(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("playground.flashbots.io", "v1alpha1", "BuilderPlayground");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, "builderplaygrounds"))
}

/// `bp-generator render -f FILE`: (exit code, stderr).
fn render(value: &serde_json::Value) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pg.yaml");
    std::fs::write(&file, serde_yaml_ng::to_string(value).unwrap()).unwrap();
    let out = std::process::Command::new(target_dir().join("bp-generator"))
        .args(["render", "-f", file.to_str().unwrap()])
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_catalog_is_large_and_each_case_is_its_own() {
    let all = cases();
    assert!(all.len() >= 50, "{} cases", all.len());
    let names: BTreeSet<&str> = all.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), all.len(), "case names are unique");
    let (code, stderr) = render(&invalid::base("base"));
    assert_eq!(code, 0, "the base renders: {stderr}");
}

#[test]
fn the_cli_refuses_every_case_in_one_line() {
    let mut wrong = Vec::new();
    for case in cases() {
        let (code, stderr) = render(&playground(&case, case.name));
        let one_line = stderr.trim_end().lines().count() == 1;
        if code != 2 || !one_line || !stderr.contains(case.cli) {
            wrong.push(format!(
                "{}: exit {code}, want 2 and {:?} in one line:\n  {}",
                case.name,
                case.cli,
                stderr.trim_end()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_server_or_the_operator_refuses_every_case() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("catalog").await.unwrap();
    let api = playgrounds(&client, &ns);
    let mut wrong = Vec::new();
    let mut accepted = Vec::new();
    for case in cases() {
        let object: DynamicObject = serde_json::from_value(playground(&case, case.name)).unwrap();
        let created = api.create(&PostParams::default(), &object).await;
        match (case.api, created) {
            (Expect::Refused(want), Err(kube::Error::Api(status))) => {
                if status.code != 422 || !status.message.contains(want) {
                    wrong.push(format!(
                        "{}: refused with {} {:?}, want {want:?}",
                        case.name, status.code, status.message
                    ));
                }
            }
            (Expect::Refused(want), other) => {
                wrong.push(format!("{}: not refused ({:?}), want {want:?}", case.name, other.map(|o| o.metadata.name)))
            }
            (Expect::Status(want), Ok(_)) => accepted.push((case.name, want)),
            (Expect::Status(want), Err(e)) => {
                wrong.push(format!("{}: refused ({e}), want it accepted and InvalidSpec with {want:?}", case.name))
            }
        }
    }
    for (name, want) in &accepted {
        let pg =
            wait_condition(&client, &ns, name, "Ready", "False", Some("InvalidSpec"), Duration::from_secs(60)).await;
        let message = &condition(&pg, "Ready").unwrap().message;
        if !message.contains(want) {
            wrong.push(format!("{name}: InvalidSpec {message:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    eprintln!(
        "catalog: {} cases, {} refused at create by the CRD, {} reported InvalidSpec",
        cases().len(),
        cases().len() - accepted.len(),
        accepted.len()
    );
    // Nothing was made for any of them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(jobs(&client, &ns).await.is_empty(), "no generator Job");
    let list = ListParams::default();
    assert!(
        Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), &ns)
            .list(&list)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(Api::<Service>::namespaced(client.clone(), &ns).list(&list).await.unwrap().items.is_empty());
    assert!(Api::<Secret>::namespaced(client.clone(), &ns).list(&list).await.unwrap().items.is_empty());
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &ns).list(&list).await.unwrap().items;
    let names: Vec<String> = configmaps.iter().filter_map(|c| c.metadata.name.clone()).collect();
    assert_eq!(names, ["kube-root-ca.crt"], "no ConfigMap of ours");
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// What is valid stays valid: the examples and builder-playground's own manifests, converted,
/// are accepted by the CRD's rules and render.
#[tokio::test(flavor = "multi_thread")]
async fn the_examples_and_real_manifests_are_accepted() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("valid").await.unwrap();
    let api = playgrounds(&client, &ns);
    let mut docs = Vec::new();
    for example in ["examples/l1.yaml", "examples/opstack.yaml", "examples/recipe-l1.yaml"] {
        docs.push(
            serde_yaml_ng::from_str::<serde_json::Value>(&std::fs::read_to_string(repo_path(example)).unwrap())
                .unwrap(),
        );
    }
    for manifest in ["l1-default", "op-default", "bn-default"] {
        let path = repo_path("../shared/fixtures/real-c473a6a").join(format!("{manifest}.manifest.json"));
        let out = std::process::Command::new(target_dir().join("bp-generator"))
            .args(["convert", path.to_str().unwrap(), "--name", &manifest.replace("-default", "")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{manifest}: {}", String::from_utf8_lossy(&out.stderr));
        docs.push(serde_yaml_ng::from_slice(&out.stdout).unwrap());
    }
    for (i, mut doc) in docs.into_iter().enumerate() {
        doc["metadata"]["name"] = serde_json::json!(format!("valid-{i}"));
        let object: DynamicObject = serde_json::from_value(doc).unwrap();
        let dry_run = PostParams { dry_run: true, ..Default::default() };
        if let Err(e) = api.create(&dry_run, &object).await {
            panic!("valid-{i} was refused: {e}");
        }
    }
    env.cluster.delete_namespace(&ns).await.unwrap();
}
