//! The admission webhook with the real kube-apiserver calling the operator: the operator serves
//! it over HTTPS on loopback with the certificate it made itself, and a
//! ValidatingWebhookConfiguration names its URL (the operator fills in the caBundle). Invalid
//! playgrounds are refused at create and update with the reconciler's line, which is also what
//! `bp-generator render` prints; valid ones pass; an unreachable webhook with failurePolicy
//! Ignore lets creates through and the status reports them. The certificate is renewed before
//! it expires.

mod common;
mod invalid;

use std::time::{Duration, SystemTime};

use bp_generator::BuilderPlayground;
use bp_operator::webhook::certs::{self, Bundle, ManagedCerts};
use common::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};

/// A namespace whose playgrounds go to the webhook labelled `selector`.
async fn namespace(prefix: &str, selector: &str) -> String {
    let env = env_with_webhook().await;
    let ns = env.cluster.create_namespace(prefix).await.unwrap();
    let api: Api<Namespace> = Api::all(client().await);
    let labels = serde_json::json!({"metadata": {"labels": {WEBHOOK_LABEL: selector}}});
    api.patch(&ns, &PatchParams::default(), &Patch::Merge(labels)).await.unwrap();
    ns
}

fn with_template_error(mut pg: BuilderPlayground) -> BuilderPlayground {
    pg.spec.services[0].args.push("{{Service \"nope\" \"http\" \"http\" \"\"}}".into());
    pg
}

/// The reconciler's line for `pg` on this cluster (1.34: native sidecars).
fn status_line(pg: &BuilderPlayground) -> String {
    bp_operator::check::check_spec(pg, true, &[bp_generator::podspec::DEFAULT_STORAGE_PATH.into()]).unwrap_err()
}

fn refusal(message: &str) -> String {
    format!("admission webhook \"{WEBHOOK_NAME}\" denied the request: {message}")
}

async fn create(client: &kube::Client, pg: &BuilderPlayground) -> Result<BuilderPlayground, kube::Error> {
    let api: Api<BuilderPlayground> = Api::namespaced(client.clone(), pg.metadata.namespace.as_deref().unwrap());
    api.create(&PostParams::default(), pg).await
}

/// Waits until the webhook answers for `ns` (the operator has made its certificate, filled in
/// the caBundle, and the API server sees the namespace's label): a dry-run create of a broken
/// playground is refused.
async fn webhook_answers(ns: &str) {
    let client = client().await;
    let probe = with_template_error(example("examples/l1.yaml", "probe", ns));
    let api: Api<BuilderPlayground> = Api::namespaced(client.clone(), ns);
    let dry_run = PostParams { dry_run: true, ..Default::default() };
    wait_for(
        "the webhook refusing a broken playground",
        Duration::from_secs(60),
        async || api.create(&dry_run, &probe).await.map(drop).map_err(|e| e.to_string()),
        |r| r.as_ref().err().filter(|e| e.contains(WEBHOOK_NAME) && e.contains("nope")).map(|_| ()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_server_refuses_what_the_reconciler_would_mark_invalid() {
    let env = env_with_webhook().await;
    let webhook = env.webhook.as_ref().unwrap();
    let client = client().await;
    let ns = namespace("webhook", "on").await;
    webhook_answers(&ns).await;

    // The operator made the certificate and published its CA in the caBundle.
    let secret = Api::<Secret>::namespaced(client.clone(), &webhook.secret.0).get(&webhook.secret.1).await.unwrap();
    let bundle = Bundle::from_data(secret.data.as_ref().unwrap()).expect("ca.crt, tls.crt, tls.key");
    assert!(certs::names_of(&bundle.cert).unwrap().contains(&"127.0.0.1".to_owned()));
    let config = Api::<ValidatingWebhookConfiguration>::all(client.clone()).get(&webhook.config).await.unwrap();
    let ca = config.webhooks.unwrap()[0].client_config.ca_bundle.clone();
    assert_eq!(ca, Some(ByteString(bundle.ca.into_bytes())));

    // A template naming a missing service: refused at create, with the status's line.
    let broken = with_template_error(example("examples/l1.yaml", "broken", &ns));
    match create(&client, &broken).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.message, refusal(&status_line(&broken)));
            assert!(status.message.contains("nope"), "{}", status.message);
        }
        other => panic!("a playground naming a missing service was not refused: {other:?}"),
    }
    assert!(get(&client, &ns, "broken").await.is_none(), "nothing stored");

    // The example is accepted, and an update that breaks it is refused.
    let good = example("examples/l1.yaml", "l1", &ns);
    create(&client, &good).await.expect("the example is accepted");
    let mut cycle = get(&client, &ns, "l1").await.unwrap();
    let names: Vec<String> = cycle.spec.services.iter().map(|s| s.name.clone()).collect();
    let dependency = |name: &str| -> bp_generator::api::DependencySpec {
        serde_json::from_value(serde_json::json!({"name": name, "condition": "running"})).unwrap()
    };
    cycle.spec.services[0].dependencies.push(dependency(&names[1]));
    cycle.spec.services[1].dependencies.push(dependency(&names[0]));
    let api: Api<BuilderPlayground> = Api::namespaced(client.clone(), &ns);
    match api.replace("l1", &PostParams::default(), &cycle).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.message, refusal(&status_line(&cycle)));
        }
        other => panic!("an update making a dependency cycle was not refused: {other:?}"),
    }
    let stored = get(&client, &ns, "l1").await.unwrap();
    assert_eq!(stored.spec, good.spec, "the update was not stored");
    // A storage path outside the allowed roots, too.
    let mut escaping = example("examples/l1.yaml", "escaping", &ns);
    escaping.spec.storage.get_or_insert_default().path = Some("/".into());
    match create(&client, &escaping).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.message, refusal(&status_line(&escaping))),
        other => panic!("a playground on the node's / was not refused: {other:?}"),
    }
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// With the operator's webhook unreachable (stopped) and failurePolicy Ignore, creates pass and
/// the reconciler reports what the webhook would have refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_webhook_with_failure_policy_ignore_blocks_nobody() {
    let env = env_with_webhook().await;
    let client = client().await;
    let ns = namespace("webhook-stopped", "stopped").await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("https://{dead}{}", bp_operator::webhook::PATH);
    let name = format!("bp-operator-stopped-{}", dead.port());
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    configs.create(&PostParams::default(), &webhook_configuration(&name, &url, "stopped", "Ignore")).await.unwrap();

    let broken = with_template_error(example("examples/l1.yaml", "broken", &ns));
    create(&client, &broken).await.expect("failurePolicy Ignore lets the create through");
    let pg =
        wait_condition(&client, &ns, "broken", "Ready", "False", Some("InvalidSpec"), Duration::from_secs(60)).await;
    assert_eq!(condition(&pg, "Ready").unwrap().message, status_line(&broken));
    configs.delete(&name, &Default::default()).await.unwrap();
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A Secret whose certificate has 25 days left is renewed: a new certificate for a year, the
/// caBundle updated (the old CA kept beside the new one while replicas switch over).
#[tokio::test(flavor = "multi_thread")]
async fn a_nearly_expired_certificate_is_renewed_and_the_ca_bundle_follows() {
    let env = env_with_webhook().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("webhook-rotation").await.unwrap();
    let names = vec!["127.0.0.1".to_owned()];
    let now = certs::unix(SystemTime::now());
    let old = certs::generate(&names, now - 340 * 24 * 3600, certs::VALIDITY, None).unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = Secret {
        metadata: kube::api::ObjectMeta { name: Some("tls".into()), ..Default::default() },
        data: Some(old.to_data()),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    // A configuration the operator does not serve (it matches no namespace), holding the old CA.
    let config = format!("bp-rotation-{ns}");
    let mut vwc = webhook_configuration(&config, "https://127.0.0.1:1/x", "none", "Ignore");
    vwc.webhooks.as_mut().unwrap()[0].client_config.ca_bundle = Some(ByteString(old.ca.clone().into_bytes()));
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    configs.create(&PostParams::default(), &vwc).await.unwrap();

    let managed = ManagedCerts {
        namespace: ns.clone(),
        secret: "tls".into(),
        webhook_config: Some(config.clone()),
        names: names.clone(),
        check_every: certs::CHECK_EVERY,
    };
    // Two replicas at once: one writes, the other reads what it wrote; both serve the same.
    let (a, b) = tokio::join!(
        certs::ensure(&client, &managed, SystemTime::now()),
        certs::ensure(&client, &managed, SystemTime::now())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "every replica serves the same certificate");
    assert_ne!(a.cert, old.cert, "renewed");
    let (_, not_after) = certs::validity_of(&a.cert).unwrap();
    assert!((not_after - now - 365 * 24 * 3600).abs() < 600, "valid a year from now");
    let stored = secrets.get("tls").await.unwrap();
    assert_eq!(Bundle::from_data(stored.data.as_ref().unwrap()).as_ref(), Some(&a));
    let blocks = certs::pem_blocks(&a.ca);
    assert_eq!(blocks.len(), 2, "the new CA and the previous one");
    assert_eq!(blocks[1], old.ca);
    let live = configs.get(&config).await.unwrap();
    assert_eq!(live.webhooks.unwrap()[0].client_config.ca_bundle, Some(ByteString(a.ca.clone().into_bytes())));

    // Fresh now: the next check changes nothing.
    let version = stored.metadata.resource_version.clone();
    assert_eq!(certs::ensure(&client, &managed, SystemTime::now()).await.unwrap(), a);
    assert_eq!(secrets.get("tls").await.unwrap().metadata.resource_version, version, "no write");
    configs.delete(&config, &Default::default()).await.unwrap();
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// The webhook's line is `bp-generator render`'s, minus the file name it starts with.
#[test]
fn the_webhooks_line_is_the_clis() {
    let generator = target_dir().join("bp-generator");
    assert!(generator.exists(), "{} is missing: run `cargo build --workspace` first", generator.display());
    let dir = tempfile::tempdir().unwrap();
    let mut missing_port = example("examples/l1.yaml", "l1", "dev");
    missing_port.spec.services[0].args.push("{{Service \"beacon\" \"nope\" \"http\" \"\"}}".into());
    let mut cycle = example("examples/l1.yaml", "l1", "dev");
    let dependency = |name: &str| -> bp_generator::api::DependencySpec {
        serde_json::from_value(serde_json::json!({"name": name, "condition": "running"})).unwrap()
    };
    let (first, second) = (cycle.spec.services[0].name.clone(), cycle.spec.services[1].name.clone());
    cycle.spec.services[0].dependencies.push(dependency(&second));
    cycle.spec.services[1].dependencies.push(dependency(&first));
    let cases = [
        ("template", with_template_error(example("examples/l1.yaml", "l1", "dev"))),
        ("port", missing_port),
        ("cycle", cycle),
    ];
    for (what, pg) in cases {
        let file = dir.path().join(format!("{what}.yaml"));
        std::fs::write(&file, serde_yaml_ng::to_string(&pg).unwrap()).unwrap();
        let out = std::process::Command::new(&generator).arg("render").arg("-f").arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{what}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let prefix = format!("bp-generator: {}: ", file.display());
        let cli = stderr.trim_end_matches('\n').strip_prefix(&prefix).unwrap_or_else(|| panic!("{what}: {stderr}"));
        assert_eq!(cli, status_line(&pg), "{what}");
    }
}

/// The whole catalog of invalid playgrounds (`invalid/mod.rs`) with the webhook on: every case
/// is refused at create. What the CRD refuses keeps its message; what only rendering finds is
/// refused by the webhook with the line the status would carry; nothing is created.
#[tokio::test(flavor = "multi_thread")]
async fn every_case_of_the_catalog_is_refused_at_apply() {
    use kube::api::DynamicObject;
    use kube::core::{ApiResource, GroupVersionKind};
    env_with_webhook().await;
    let client = client().await;
    let ns = namespace("catalog", "on").await;
    webhook_answers(&ns).await;
    let gvk = GroupVersionKind::gvk("playground.flashbots.io", "v1alpha1", "BuilderPlayground");
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &ApiResource::from_gvk_with_plural(&gvk, "builderplaygrounds"));
    let mut wrong = Vec::new();
    let (mut by_crd, mut by_webhook) = (0, 0);
    for case in invalid::cases() {
        let object: DynamicObject = serde_json::from_value(invalid::playground(&case, case.name)).unwrap();
        match (case.api, api.create(&PostParams::default(), &object).await) {
            (invalid::Api::Refused(want), Err(kube::Error::Api(status))) if status.message.contains(want) => {
                by_crd += 1
            }
            (invalid::Api::Status(want), Err(kube::Error::Api(status)))
                if status
                    .message
                    .starts_with(&format!("admission webhook \"{WEBHOOK_NAME}\" denied the request: "))
                    && status.message.contains(want) =>
            {
                by_webhook += 1
            }
            (expected, got) => wrong.push(format!("{}: want {expected:?}, got {got:?}", case.name)),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let left = api.list(&Default::default()).await.unwrap().items;
    assert!(left.is_empty(), "nothing was created: {:?}", left.iter().map(|o| &o.metadata.name).collect::<Vec<_>>());
    println!("catalog with the webhook: {by_crd} refused by the CRD, {by_webhook} by the webhook, none created");
    // The examples still pass.
    for file in ["examples/l1.yaml", "examples/opstack.yaml", "examples/recipe-l1.yaml"] {
        let pg = example(file, "ok", &ns);
        let dry_run = PostParams { dry_run: true, ..Default::default() };
        let api: Api<BuilderPlayground> = Api::namespaced(client.clone(), &ns);
        if let Err(e) = api.create(&dry_run, &pg).await {
            panic!("{file} refused: {e}");
        }
    }
}
