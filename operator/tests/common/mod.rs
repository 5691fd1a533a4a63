//! One local cluster and one operator per test binary; each test works in its own namespace.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bp_e2e::images::{self, Entry, ImageSpec, Layer};
use bp_e2e::{Cluster, ClusterOptions};
use bp_generator::BuilderPlayground;
use bp_operator::run::{Settings, run};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use tokio::sync::OnceCell;

/// The image generator Jobs run in the tests: the project's image, built from this
/// workspace's binaries and imported into the test cluster's node under this tag too.
pub const OPERATOR_IMAGE: &str = "ghcr.io/flashbots/builder-playground-operator:e2e";
/// An image whose `builder-playground` fails, for generator failures.
pub const FAILING_BP_IMAGE: &str = "example.invalid/bp-failing:e2e";
pub const FAILING_BP_MESSAGE: &str = "builder-playground: unknown recipe \"nope\"";

pub fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bp-operator")).parent().map(Path::to_path_buf).unwrap()
}

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// busybox plus a `builder-playground` that fails the way the real one does on a bad
/// recipe: one line on stderr, exit code 1.
fn failing_bp_image() -> ImageSpec {
    let script = format!("#!/bin/sh\necho '{FAILING_BP_MESSAGE}' >&2\nexit 1\n");
    let mut image = images::busybox_image().expect("the busybox image");
    image.names = vec![FAILING_BP_IMAGE.into()];
    image.layers.push(Layer {
        entries: vec![Entry::Bytes {
            path: "/usr/local/bin/builder-playground".into(),
            data: script.into_bytes(),
            mode: 0o755,
        }],
    });
    image
}

pub struct Env {
    pub cluster: &'static Cluster,
    pub metrics: SocketAddr,
    /// The operator's admission webhook, when the test binary asked for it.
    pub webhook: Option<Webhook>,
}

/// The operator's webhook in the tests: HTTPS on loopback (the API server runs on this host),
/// its certificate made by the operator, registered for namespaces labelled
/// [`WEBHOOK_LABEL`]`=on` by a ValidatingWebhookConfiguration that names its URL.
pub struct Webhook {
    pub addr: SocketAddr,
    /// The ValidatingWebhookConfiguration (its one webhook is [`WEBHOOK_NAME`]).
    pub config: String,
    /// Namespace and name of the Secret with the operator's certificate.
    pub secret: (String, String),
}

pub const WEBHOOK_LABEL: &str = "bp-webhook-test";
pub const WEBHOOK_NAME: &str = "validate.playground.flashbots.io";
pub const WEBHOOK_CONFIG: &str = "bp-operator-e2e";

static ENV: OnceCell<Env> = OnceCell::const_new();

/// The cluster and the operator running against it (started once per test binary).
pub async fn env() -> &'static Env {
    ENV.get_or_init(|| start(false)).await
}

/// The same, with the operator's admission webhook serving and registered (the first of
/// `env` and `env_with_webhook` that a test binary calls decides).
pub async fn env_with_webhook() -> &'static Env {
    ENV.get_or_init(|| start(true)).await
}

/// A ValidatingWebhookConfiguration `name` whose one webhook sends BuilderPlayground creates
/// and updates in namespaces labelled [`WEBHOOK_LABEL`]`=selector` to `url`.
pub fn webhook_configuration(
    name: &str,
    url: &str,
    selector: &str,
    failure_policy: &str,
) -> k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "webhooks": [{
            "name": WEBHOOK_NAME,
            "clientConfig": {"url": url},
            "rules": [{
                "apiGroups": ["playground.flashbots.io"],
                "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["builderplaygrounds"],
                "scope": "Namespaced"
            }],
            "namespaceSelector": {"matchLabels": {WEBHOOK_LABEL: selector}},
            "failurePolicy": failure_policy,
            "matchPolicy": "Equivalent",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5
        }]
    }))
    .unwrap()
}

async fn start(with_webhook: bool) -> Env {
    {
        let filter = std::env::var("BP_TEST_LOG").unwrap_or_else(|_| "warn,bp_operator=info,kube_client=off".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
        let generator = target_dir().join("bp-generator");
        assert!(generator.exists(), "{} is missing: run `cargo build --workspace` first", generator.display());
        let cluster = Cluster::shared(|| ClusterOptions::default().project_tag("e2e").image(failing_bp_image()))
            .await
            .expect("starting the test cluster");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let metrics: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut settings = Settings {
            metrics_addr: metrics,
            generator_image: OPERATOR_IMAGE.into(),
            namespace: None,
            generator_backoff_limit: 0,
            generator_deadline_seconds: 120,
            allowed_host_paths: vec![bp_generator::podspec::DEFAULT_STORAGE_PATH.into()],
            kube_config: Some(cluster.config()),
            leader_election: None,
            webhook: None,
        };
        let webhook = if with_webhook { Some(register_webhook(cluster, &mut settings).await) } else { None };
        // Its own thread and runtime: tests come and go, the operator stays for the binary.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            if let Err(e) = rt.block_on(run(settings, std::future::pending())) {
                panic!("operator stopped: {e}");
            }
        });
        wait_for(
            "the operator's /healthz",
            Duration::from_secs(30),
            async || http_get(metrics, "/healthz").await,
            |r| r.as_ref().ok().filter(|(code, _)| *code == 200).map(|_| ()),
        )
        .await;
        Env { cluster, metrics, webhook }
    }
}

/// Sets the operator up to serve its webhook on a free loopback port, with its certificate in
/// a Secret of `default`, and registers it (failurePolicy Fail: a test passes only through
/// the webhook's own answer).
async fn register_webhook(cluster: &Cluster, settings: &mut Settings) -> Webhook {
    use bp_operator::run::{WebhookCerts, WebhookSettings};
    use bp_operator::webhook::certs::{self, ManagedCerts};
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let secret = ("default".to_owned(), format!("bp-webhook-tls-{port}"));
    let config = format!("{WEBHOOK_CONFIG}-{port}");
    let url = format!("https://{addr}{}", bp_operator::webhook::PATH);
    let api: Api<ValidatingWebhookConfiguration> = Api::all(cluster.client().unwrap());
    api.create(&Default::default(), &webhook_configuration(&config, &url, "on", "Fail")).await.unwrap();
    settings.webhook = Some(WebhookSettings {
        addr,
        certs: WebhookCerts::Managed(ManagedCerts {
            namespace: secret.0.clone(),
            secret: secret.1.clone(),
            webhook_config: Some(config.clone()),
            names: certs::subject_alt_names(None, &secret.0, &["127.0.0.1".into()]),
            check_every: certs::CHECK_EVERY,
        }),
    });
    Webhook { addr, config, secret }
}

pub async fn client() -> kube::Client {
    env().await.cluster.client().unwrap()
}

/// A plain HTTP/1.1 GET on loopback: (status code, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("no status line")?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((code, body))
}

/// The value of one series in a Prometheus text page (`name{labels}` exactly as printed).
pub fn metric(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

pub async fn metrics_page() -> String {
    http_get(env().await.metrics, "/metrics").await.unwrap().1
}

pub use bp_e2e::poll::wait_for;

/// Reads an example and renames/places it.
pub fn example(file: &str, name: &str, ns: &str) -> BuilderPlayground {
    let text = std::fs::read_to_string(repo_path(file)).unwrap();
    let mut pg: BuilderPlayground = serde_yaml_ng::from_str(&text).unwrap();
    pg.metadata.name = Some(name.into());
    pg.metadata.namespace = Some(ns.into());
    pg
}

/// Creates or updates a playground the way `kubectl apply --server-side` does.
pub async fn apply(client: &kube::Client, pg: &BuilderPlayground) -> BuilderPlayground {
    let ns = pg.metadata.namespace.clone().unwrap();
    let name = pg.metadata.name.clone().unwrap();
    let api: Api<BuilderPlayground> = Api::namespaced(client.clone(), &ns);
    api.patch(&name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(pg)).await.unwrap()
}

pub async fn get(client: &kube::Client, ns: &str, name: &str) -> Option<BuilderPlayground> {
    Api::<BuilderPlayground>::namespaced(client.clone(), ns).get_opt(name).await.unwrap()
}

pub fn condition<'a>(pg: &'a BuilderPlayground, type_: &str) -> Option<&'a bp_generator::api::Condition> {
    pg.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

/// Waits until the playground's condition `type_` has `status` (and `reason`, when given).
pub async fn wait_condition(
    client: &kube::Client,
    ns: &str,
    name: &str,
    type_: &str,
    status: &str,
    reason: Option<&str>,
    timeout: Duration,
) -> BuilderPlayground {
    wait_for(
        &format!("{ns}/{name} {type_}={status} {}", reason.unwrap_or("")),
        timeout,
        async || get(client, ns, name).await,
        |pg| {
            let pg = pg.as_ref()?;
            let c = condition(pg, type_)?;
            let current = pg.status.as_ref()?.observed_generation == pg.metadata.generation;
            (current && c.status == status && reason.is_none_or(|r| c.reason == r)).then(|| pg.clone())
        },
    )
    .await
}

pub async fn jobs(client: &kube::Client, ns: &str) -> Vec<Job> {
    Api::<Job>::namespaced(client.clone(), ns).list(&ListParams::default()).await.unwrap().items
}

pub async fn pod(client: &kube::Client, ns: &str, name: &str) -> Option<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns).get_opt(name).await.unwrap()
}

pub async fn events(client: &kube::Client, ns: &str) -> Vec<Event> {
    Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await.unwrap().items
}
