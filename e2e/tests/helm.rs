//! The Helm chart, installed the way users install it: the commands of the README's install
//! section, run verbatim with the pinned helm and kubectl against the local Kubernetes, whose
//! real node (kubelet, containerd) runs the chart's operator Pod from the project's image
//! (built from this workspace's binaries and imported) under the chart's ServiceAccount
//! token, so the chart's RBAC is what the operator gets; its generator Jobs run the same
//! image as ordinary Pods.
//!
//! The tools come from `e2e/provision.sh` (pinned in `e2e/tools/versions.env`); without them
//! every test here fails and says to run it.

#[path = "helm/inventory.rs"]
mod inventory;
#[path = "helm/prom.rs"]
mod prom;
#[path = "helm/schemas.rs"]
mod schemas;
#[path = "helm/tools.rs"]
mod tools;

#[path = "../../operator/tests/invalid/mod.rs"]
mod invalid;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bp_e2e::{Cluster, ClusterOptions};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde::Deserialize;
use serde_json::{Value, json};
use tools::{Output, Shell, Tools, secs};

const RELEASE: &str = "builder-playground-operator";
const NAMESPACE: &str = "bp-system";
const CHART: &str = "charts/builder-playground-operator";
const IMAGE: &str = "ghcr.io/flashbots/builder-playground-operator";
const CRD_NAME: &str = "builderplaygrounds.playground.flashbots.io";
const CRD_FILE: &str = "builderplaygrounds.playground.flashbots.io.yaml";
/// The webhook of the chart's ValidatingWebhookConfiguration.
const WEBHOOK: &str = "validate.playground.flashbots.io";

/// The README's install section, in order: the test runs exactly these lines (the comments of
/// the README's block are not commands), with nothing added.
const INSTALL: [&str; 7] = [
    "kubectl create namespace bp-system",
    "kubectl label namespace bp-system pod-security.kubernetes.io/enforce=restricted",
    "helm install builder-playground-operator charts/builder-playground-operator --namespace bp-system --wait --timeout 5m",
    "kubectl apply -f examples/l1.yaml",
    "kubectl wait --for=condition=Ready bp/l1 --timeout=10m",
    "kubectl get bp",
    "kubectl explain builderplayground.spec.services",
];
const UPGRADE: &str = "helm upgrade builder-playground-operator charts/builder-playground-operator --namespace bp-system --reuse-values --set logLevel=debug --wait --timeout 5m";
const UNINSTALL: [&str; 4] = [
    "helm uninstall builder-playground-operator --namespace bp-system --wait",
    "kubectl delete -f examples/l1.yaml",
    "kubectl delete crd builderplaygrounds.playground.flashbots.io",
    "kubectl delete namespace bp-system",
];

/// Every API call of the operator (operator/src/controller/), as (group, resource, verbs).
/// Server-side apply is a PATCH that is also authorized as a create when the object is new;
/// the generator Role the operator creates grants get on its playground and get/create/patch
/// on its ConfigMap, which RBAC lets the operator grant only while holding them itself.
const OPERATOR_NEEDS: [(&str, &str, &[&str]); 13] = [
    ("playground.flashbots.io", "builderplaygrounds", &["get", "list", "watch", "delete"]),
    ("playground.flashbots.io", "builderplaygrounds/status", &["patch"]),
    ("batch", "jobs", &["list", "watch", "create", "patch", "delete"]),
    ("", "configmaps", &["get", "list", "watch", "create", "patch"]),
    ("", "pods", &["list", "watch", "create", "patch", "delete"]),
    ("", "services", &["list", "watch", "create", "patch"]),
    ("", "secrets", &["create"]),
    ("", "persistentvolumeclaims", &["create"]),
    ("", "serviceaccounts", &["create", "patch"]),
    ("rbac.authorization.k8s.io", "roles", &["create", "patch"]),
    ("rbac.authorization.k8s.io", "rolebindings", &["create", "patch"]),
    ("monitoring.coreos.com", "podmonitors", &["create", "patch", "delete"]),
    ("events.k8s.io", "events", &["create", "patch"]),
];

/// How long the test lets each step take before it stops and reports (the README's own
/// timeouts allow for image pulls on a real cluster; here nothing is pulled).
const STEP: Duration = Duration::from_secs(150);

fn workspace() -> PathBuf {
    bp_e2e::paths::workspace_dir()
}

fn chart_dir() -> PathBuf {
    workspace().join(CHART)
}

/// Where cargo put this workspace's binaries (bp-operator and bp-generator beside bp-e2e).
fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bp-e2e")).parent().unwrap().to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("rendered YAML parses"))
        .filter(|v| !v.is_null())
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], k: &str) -> &'a Value {
    let found = kind(docs, k);
    assert_eq!(found.len(), 1, "expected one {k}, rendered {}", found.len());
    found[0]
}

/// The one `k` named `name`.
fn named<'a>(docs: &'a [Value], k: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = kind(docs, k).into_iter().filter(|d| d["metadata"]["name"] == name).collect();
    assert_eq!(found.len(), 1, "expected one {k} {name}, rendered {}", found.len());
    found[0]
}

fn env_of<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"].as_array()?.iter().find(|e| e["name"] == name)
}

/// The lines of the fenced `sh` blocks under the level-2 heading `## Install...` of a
/// markdown file, comments and blank lines left out.
fn install_section(markdown: &str) -> Option<Vec<String>> {
    let start = markdown.lines().position(|l| l.starts_with("## Install"))?;
    let mut lines = Vec::new();
    // Inside a fence: whether it is a `sh` block (other blocks show output, not commands).
    let mut fence: Option<bool> = None;
    for line in markdown.lines().skip(start + 1) {
        if fence.is_none() && line.starts_with("## ") {
            break;
        }
        if let Some(info) = line.trim_start().strip_prefix("```") {
            fence = if fence.is_some() { None } else { Some(info.trim() == "sh") };
            continue;
        }
        let l = line.trim();
        if fence == Some(true) && !l.is_empty() && !l.starts_with('#') {
            lines.push(l.to_owned());
        }
    }
    Some(lines)
}

/// (group, resource, verb) of OPERATOR_NEEDS.
fn needed() -> std::collections::BTreeSet<(String, String, String)> {
    OPERATOR_NEEDS
        .iter()
        .flat_map(|(g, r, verbs)| verbs.iter().map(move |v| ((*g).to_owned(), (*r).to_owned(), (*v).to_owned())))
        .collect()
}

/// (group, resource, verb) of rendered RBAC rules.
fn granted(rules: &[Value]) -> std::collections::BTreeSet<(String, String, String)> {
    let strs = |v: &Value| v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let mut out = std::collections::BTreeSet::new();
    for rule in rules {
        for g in strs(&rule["apiGroups"]) {
            for r in strs(&rule["resources"]) {
                for v in strs(&rule["verbs"]) {
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

/// The rules grant exactly OPERATOR_NEEDS: nothing missing, nothing more.
fn assert_grants_needs(what: &str, rules: &[Value]) {
    let (granted, needed) = (granted(rules), needed());
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the {what} must grant exactly what the operator's calls need (OPERATOR_NEEDS); missing (group, resource, verb): {missing:?}; not needed: {extra:?}"
    );
}

fn documented_commands() -> Vec<String> {
    INSTALL.iter().chain([&UPGRADE]).chain(UNINSTALL.iter()).map(|s| (*s).to_owned()).collect()
}

// --- Offline checks of the chart -----------------------------------------------------------

#[test]
fn the_chart_carries_the_generated_crd() {
    let generated = workspace().join("crds").join(CRD_FILE);
    let copy = chart_dir().join("files/crds").join(CRD_FILE);
    assert!(
        read(&generated) == read(&copy),
        "{} differs from {}: the chart must carry the generated CRD; run\n  cp crds/{CRD_FILE} {CHART}/files/crds/",
        copy.display(),
        generated.display()
    );
}

#[test]
fn the_chart_version_is_the_operators() {
    let chart: Value = serde_yaml_ng::from_str(&read(&chart_dir().join("Chart.yaml"))).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(chart["version"], version, "Chart.yaml version follows the workspace version");
    assert_eq!(chart["appVersion"], version, "Chart.yaml appVersion (the default image tag) is the operator's");
    let values: Value = serde_yaml_ng::from_str(&read(&chart_dir().join("values.yaml"))).unwrap();
    assert_eq!(values["image"]["repository"], IMAGE);
    // The operator's own default generator image is the chart's default image.
    let operator = target_dir().join("bp-operator");
    assert!(operator.is_file(), "{} is missing: run `cargo build --workspace` first", operator.display());
    let help = std::process::Command::new(&operator).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains(&format!("[default: {IMAGE}:{version}]")), "bp-operator --help:\n{help}");
}

#[test]
fn every_rbac_rule_says_why() {
    let text = read(&chart_dir().join("templates/rbac.yaml"));
    let lines: Vec<&str> = text.lines().collect();
    let rules: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].trim_start().starts_with("- apiGroups:")).collect();
    assert!(rules.len() >= 10, "rbac.yaml has {} rules", rules.len());
    for i in rules {
        assert!(lines[i - 1].trim_start().starts_with('#'), "rbac.yaml:{}: rule without a comment above it", i + 1);
    }
}

#[test]
fn the_readmes_install_sections_are_the_commands_this_test_runs() {
    let want = documented_commands();
    let chart_readme = chart_dir().join("README.md");
    let got = install_section(&read(&chart_readme)).expect("the chart README has an `## Install` section");
    assert_eq!(got, want, "{}: the install section must be exactly the commands the test runs", chart_readme.display());
    let root_readme = workspace().join("README.md");
    let root = install_section(&read(&root_readme));
    assert_eq!(
        root.as_ref(),
        Some(&want),
        "{}: needs an `## Install` section with exactly these commands (copy the block of {}):\n{}",
        root_readme.display(),
        chart_readme.display(),
        want.join("\n")
    );
}

/// What the chart renders, value by value (no cluster needed).
#[tokio::test]
async fn the_chart_renders_what_the_operator_needs() {
    let tools = Tools::find();
    let home = tempfile::tempdir().unwrap();
    let sh = Shell::new(tools, &workspace(), &home.path().join("no-kubeconfig"), home.path());
    let template = format!("helm template {RELEASE} {CHART} --namespace {NAMESPACE}");
    let render = async |extra: &[&str]| {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let out = sh.run_with(&template, &extra, STEP).await;
        assert!(out.ok(), "helm template {extra:?} failed: {out:#?}");
        yaml_docs(&out.stdout)
    };
    let version = env!("CARGO_PKG_VERSION");

    let docs = render(&[]).await;
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "ConfigMap",
            "CustomResourceDefinition",
            "Deployment",
            "Role",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "Secret",
            "Service",
            "Service",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "ValidatingWebhookConfiguration"
        ]
    );

    // The CRD is the generated one, kept on uninstall, owned by the release.
    let crd = one(&docs, "CustomResourceDefinition");
    let generated: Value = serde_yaml_ng::from_str(&read(&workspace().join("crds").join(CRD_FILE))).unwrap();
    assert_eq!(crd["spec"], generated["spec"], "the chart's CRD spec is crds/{CRD_FILE}");
    assert_eq!(crd["metadata"]["name"], CRD_NAME);
    assert_eq!(crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep");
    assert_eq!(crd["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm");

    // The Deployment: one replica with leader election (rolling updates hand the Lease over),
    // probes, restricted, one image for both uses.
    let deploy = one(&docs, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 1);
    assert_eq!(deploy["spec"]["strategy"]["type"], "RollingUpdate");
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], RELEASE);
    assert_eq!(pod["automountServiceAccountToken"], true);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let c = &pod["containers"][0];
    let image = format!("{IMAGE}:{version}");
    assert_eq!(c["image"], image);
    assert!(c.get("command").is_none(), "the image's entrypoint (bp-operator) runs");
    assert_eq!(env_of(c, "BP_GENERATOR_IMAGE").unwrap()["value"], image, "generator Jobs run the same image");
    assert_eq!(env_of(c, "BP_METRICS_ADDR").unwrap()["value"], "0.0.0.0:8080");
    assert_eq!(env_of(c, "BP_ALLOWED_HOST_PATHS").unwrap()["value"], "/data/builder-playground");
    // The host directories local-path playgrounds may use: the operator's list and the
    // admission policy's are one (trailing slashes dropped), bound in every namespace.
    let policy = one(&docs, "ValidatingAdmissionPolicy");
    let roots = |policy: &Value| {
        let v = policy["spec"]["variables"].as_array().unwrap().iter().find(|v| v["name"] == "roots").unwrap().clone();
        serde_json::from_str::<Value>(v["expression"].as_str().unwrap()).unwrap()
    };
    assert_eq!(roots(policy), json!(["/data/builder-playground"]));
    assert_eq!(policy["spec"]["failurePolicy"], "Fail");
    let binding = one(&docs, "ValidatingAdmissionPolicyBinding");
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
    assert!(binding["spec"].get("matchResources").is_none(), "every namespace");
    let two = render(&["--set", "storage.allowedHostPaths={/srv/devnets/,/data/builder-playground}"]).await;
    let c2 = &one(&two, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_of(c2, "BP_ALLOWED_HOST_PATHS").unwrap()["value"], "/srv/devnets,/data/builder-playground");
    assert_eq!(roots(one(&two, "ValidatingAdmissionPolicy")), json!(["/srv/devnets", "/data/builder-playground"]));
    let off = render(&["--set", "storage.admissionPolicy=false"]).await;
    assert!(
        kind(&off, "ValidatingAdmissionPolicy").is_empty() && kind(&off, "ValidatingAdmissionPolicyBinding").is_empty()
    );
    assert_eq!(
        env_of(&one(&off, "Deployment")["spec"]["template"]["spec"]["containers"][0], "BP_ALLOWED_HOST_PATHS").unwrap()
            ["value"],
        "/data/builder-playground",
        "the operator checks in any case"
    );
    assert_eq!(env_of(c, "POD_NAME").unwrap()["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    assert_eq!(env_of(c, "POD_NAMESPACE").unwrap()["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace");
    assert!(c["args"].as_array().unwrap().contains(&json!("--leader-elect")));
    assert!(env_of(c, "BP_WATCH_NAMESPACE").is_none());
    assert_eq!(
        c["ports"],
        json!([
            {"name": "metrics", "containerPort": 8080, "protocol": "TCP"},
            {"name": "webhook", "containerPort": 9443, "protocol": "TCP"}
        ])
    );
    assert_eq!(c["livenessProbe"]["httpGet"], json!({"path": "/healthz", "port": "metrics"}));
    assert_eq!(c["readinessProbe"]["httpGet"], json!({"path": "/readyz", "port": "metrics"}));
    let sc = &c["securityContext"];
    assert_eq!(
        (&sc["runAsNonRoot"], &sc["readOnlyRootFilesystem"], &sc["allowPrivilegeEscalation"]),
        (&json!(true), &json!(true), &json!(false))
    );
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert!(c["resources"]["requests"]["memory"].is_string() && c["resources"]["limits"]["memory"].is_string());

    // The metrics Service selects the operator's Pod and names its metrics port.
    let svc = named(&docs, "Service", &format!("{RELEASE}-metrics"));
    let pod_labels = deploy["spec"]["template"]["metadata"]["labels"].as_object().unwrap();
    for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "Service selector {k} matches the Pod");
    }
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");

    // RBAC: bound to the operator's ServiceAccount; nothing broad.
    let role = named(&docs, "ClusterRole", RELEASE);
    let binding = named(&docs, "ClusterRoleBinding", RELEASE);
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"], json!([{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]));
    let rules = role["rules"].as_array().unwrap();
    for rule in rules {
        let words = |k: &str| rule[k].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>();
        for broad in ["*", "escalate", "bind", "impersonate", "update", "deletecollection"] {
            assert!(!words("verbs").contains(&broad), "rule grants {broad}: {rule}");
        }
        assert!(!words("resources").contains(&"*") && !words("apiGroups").contains(&"*"), "wildcard: {rule}");
        assert!(rule.get("nonResourceURLs").is_none(), "non-resource URLs: {rule}");
    }
    assert_grants_needs("ClusterRole", rules);
    // Leader election: one Lease in the release namespace, created once, then read and
    // renewed by name only.
    let lease_role = named(&docs, "Role", &format!("{RELEASE}-leader-election"));
    assert_eq!(lease_role["metadata"]["namespace"], NAMESPACE);
    assert_eq!(
        lease_role["rules"],
        json!([
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "resourceNames": ["builder-playground-operator"], "verbs": ["get", "patch"]}
        ])
    );
    let lease_binding = named(&docs, "RoleBinding", &format!("{RELEASE}-leader-election"));
    assert_eq!(lease_binding["roleRef"]["name"], lease_role["metadata"]["name"]);
    assert_eq!(lease_binding["subjects"], binding["subjects"]);
    assert_webhook(&docs, c);
    // Ignore unless told otherwise; off, nothing of it.
    let fail = render(&["--set", "webhook.failurePolicy=Fail", "--set", "webhook.timeoutSeconds=10"]).await;
    let hook = &one(&fail, "ValidatingWebhookConfiguration")["webhooks"][0];
    assert_eq!((&hook["failurePolicy"], &hook["timeoutSeconds"]), (&json!("Fail"), &json!(10)));
    let off = render(&["--set", "webhook.enabled=false"]).await;
    assert!(kind(&off, "ValidatingWebhookConfiguration").is_empty() && kind(&off, "Secret").is_empty());
    assert!(off.iter().all(|d| !d["metadata"]["name"].as_str().unwrap_or_default().ends_with("-webhook")));
    let c_off = &one(&off, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert!(env_of(c_off, "BP_WEBHOOK_ADDR").is_none());
    assert!(!c_off["args"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().starts_with("--webhook")));
    assert_eq!(c_off["ports"].as_array().unwrap().len(), 1);

    // Without it: Recreate, so that two replicas never reconcile at once, and no Lease Role.
    let single = render(&["--set", "leaderElection.enabled=false"]).await;
    let deploy_single = one(&single, "Deployment");
    assert_eq!(deploy_single["spec"]["strategy"]["type"], "Recreate");
    assert!(
        !deploy_single["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .contains(&json!("--leader-elect"))
    );
    assert!(kind(&single, "Role").iter().all(|r| r["metadata"]["name"] != format!("{RELEASE}-leader-election")));
    assert_eq!(one(&render(&["--set", "replicaCount=2"]).await, "Deployment")["spec"]["replicas"], 2);

    // Options: watch one namespace, a ServiceMonitor with the labels a Prometheus selects,
    // an image by digest.
    let digest = format!("sha256:{}", "ab".repeat(32));
    let docs = render(&[
        "--set",
        "watchNamespace=devnets",
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "serviceMonitor.labels.release=kube-prometheus",
        "--set",
        &format!("image.digest={digest}"),
    ])
    .await;
    // Only the webhook's: its configuration is cluster-scoped.
    let cluster_wide = |k: &str| kind(&docs, k).iter().map(|d| d["metadata"]["name"].clone()).collect::<Vec<_>>();
    let webhook_rbac = json!([format!("{RELEASE}-webhook")]);
    assert_eq!(
        (json!(cluster_wide("ClusterRole")), json!(cluster_wide("ClusterRoleBinding"))),
        (webhook_rbac.clone(), webhook_rbac)
    );
    let in_devnets = |k: &str| {
        let found: Vec<&Value> =
            kind(&docs, k).into_iter().filter(|d| d["metadata"]["namespace"] == "devnets").collect();
        assert_eq!(found.len(), 1, "one {k} in devnets");
        found[0].clone()
    };
    assert_grants_needs("Role", in_devnets("Role")["rules"].as_array().unwrap());
    in_devnets("RoleBinding");
    let c = &one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_of(c, "BP_WATCH_NAMESPACE").unwrap()["value"], "devnets");
    let by_digest = format!("{IMAGE}@{digest}");
    assert_eq!(
        (&c["image"], &env_of(c, "BP_GENERATOR_IMAGE").unwrap()["value"]),
        (&json!(by_digest), &json!(by_digest))
    );
    let sm = one(&docs, "ServiceMonitor");
    assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus");
    assert_eq!(
        one(&docs, "ValidatingAdmissionPolicyBinding")["spec"]["matchResources"]["namespaceSelector"]["matchLabels"],
        json!({"kubernetes.io/metadata.name": "devnets"}),
        "the policy binds where the operator watches"
    );
    assert_eq!(
        one(&docs, "ValidatingWebhookConfiguration")["webhooks"][0]["namespaceSelector"],
        json!({"matchLabels": {"kubernetes.io/metadata.name": "devnets"}}),
        "the webhook sees only the namespace the operator watches"
    );
    let svc = named(&docs, "Service", &format!("{RELEASE}-metrics"));
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(svc["metadata"]["labels"].get(k), Some(v), "ServiceMonitor selector {k} matches the Service");
    }
    assert_eq!(sm["spec"]["endpoints"][0]["port"], svc["spec"]["ports"][0]["name"]);
    assert_eq!(sm["spec"]["endpoints"][0]["honorLabels"], true, "the playgrounds' namespace label is kept");
    assert_eq!(sm["spec"]["namespaceSelector"]["matchNames"], json!([NAMESPACE]));

    // The Grafana dashboard: a ConfigMap Grafana's sidecar picks up by its label, holding the
    // chart's dashboard as is; its label, namespace and annotations are values; it can be left out.
    let dashboard = one(&render(&[]).await, "ConfigMap").clone();
    assert_eq!(dashboard["metadata"]["name"], format!("{RELEASE}-dashboard"));
    assert_eq!(dashboard["metadata"]["namespace"], NAMESPACE);
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped = read(&chart_dir().join("dashboards/builder-playground.json"));
    let json_text = dashboard["data"]["builder-playground.json"].as_str().unwrap();
    assert_eq!(json_text, shipped.trim_end(), "the dashboard's file, byte for byte");
    let parsed: Value = serde_json::from_str(json_text).unwrap();
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() > 10), "a dashboard with its panels");
    let moved = render(&[
        "--set",
        "dashboard.namespace=monitoring",
        "--set",
        "dashboard.label=my_dashboards",
        "--set",
        "dashboard.annotations.grafana_folder=Devnets",
    ])
    .await;
    let moved = one(&moved, "ConfigMap");
    assert_eq!(
        (
            &moved["metadata"]["namespace"],
            &moved["metadata"]["labels"]["my_dashboards"],
            &moved["metadata"]["annotations"]
        ),
        (&json!("monitoring"), &json!("1"), &json!({"grafana_folder": "Devnets"}))
    );
    assert!(kind(&render(&["--set", "dashboard.enabled=false"]).await, "ConfigMap").is_empty());

    // The CRD can be left to someone else, or not kept.
    assert!(kind(&render(&["--set", "crds.install=false"]).await, "CustomResourceDefinition").is_empty());
    let unkept = render(&["--set", "crds.keep=false"]).await;
    assert!(one(&unkept, "CustomResourceDefinition")["metadata"].get("annotations").is_none());
}

/// The webhook as rendered by default: its Service, configuration, Secret, the operator's flags
/// for it, and RBAC for exactly what its certificate handling does.
fn assert_webhook(docs: &[Value], container: &Value) {
    let service = named(docs, "Service", &format!("{RELEASE}-webhook"));
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "https", "port": 443, "targetPort": "webhook", "protocol": "TCP"}])
    );
    let deploy = one(docs, "Deployment");
    let pod_labels = deploy["spec"]["template"]["metadata"]["labels"].as_object().unwrap();
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "webhook Service selector {k} matches the Pod");
    }
    let config = one(docs, "ValidatingWebhookConfiguration");
    assert_eq!(config["metadata"]["name"], RELEASE);
    assert_eq!(
        config["webhooks"],
        json!([{
            "name": WEBHOOK,
            "clientConfig": {"service": {"name": format!("{RELEASE}-webhook"), "namespace": NAMESPACE,
                                         "path": "/validate-builderplayground", "port": 443}},
            "rules": [{"apiGroups": ["playground.flashbots.io"], "apiVersions": ["*"],
                       "operations": ["CREATE", "UPDATE"], "resources": ["builderplaygrounds"], "scope": "Namespaced"}],
            "matchPolicy": "Equivalent",
            "failurePolicy": "Ignore",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5
        }]),
        "no caBundle (the operator's), every namespace"
    );
    let secret = named(docs, "Secret", &format!("{RELEASE}-webhook-tls"));
    assert!(secret.get("data").is_none() && secret.get("stringData").is_none(), "the operator fills it");
    let args: Vec<&str> = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    for flag in [
        format!("--webhook-tls-secret={NAMESPACE}/{RELEASE}-webhook-tls"),
        format!("--webhook-config={RELEASE}"),
        format!("--webhook-service={RELEASE}-webhook"),
    ] {
        assert!(args.contains(&flag.as_str()), "{flag} in {args:?}");
    }
    assert_eq!(env_of(container, "BP_WEBHOOK_ADDR").unwrap()["value"], "0.0.0.0:9443");
    let role = named(docs, "Role", &format!("{RELEASE}-webhook"));
    assert_eq!(role["metadata"]["namespace"], NAMESPACE);
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [format!("{RELEASE}-webhook-tls")],
             "verbs": ["get", "update"]}
        ])
    );
    assert_eq!(
        named(docs, "ClusterRole", &format!("{RELEASE}-webhook"))["rules"],
        json!([{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"],
                "resourceNames": [RELEASE], "verbs": ["get", "patch"]}])
    );
    for (k, r) in [("RoleBinding", "Role"), ("ClusterRoleBinding", "ClusterRole")] {
        let binding = named(docs, k, &format!("{RELEASE}-webhook"));
        assert_eq!(
            binding["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": r, "name": format!("{RELEASE}-webhook")})
        );
        assert_eq!(binding["subjects"], json!([{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]));
    }
}

// --- The end-to-end test ---------------------------------------------------------------------

/// Everything a failure message needs: the state of the cluster and the operator's log.
struct Diag<'a> {
    sh: &'a Shell,
    client: kube::Client,
}

impl Diag<'_> {
    async fn report(&self) -> String {
        let mut out = String::new();
        for line in [
            "kubectl get all,bp,jobs,configmaps,secrets,serviceaccounts,roles,rolebindings -A -o wide",
            "kubectl get bp -A -o yaml",
            "kubectl get events -A --sort-by=.lastTimestamp",
        ] {
            let o = self.sh.run(line, Duration::from_secs(30)).await;
            out.push_str(&format!("\n$ {line}\n{}{}", o.stdout, o.stderr));
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), NAMESPACE);
        for p in pods.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default() {
            let name = p.metadata.name.unwrap_or_default();
            let log = operator_log(&self.client, &name).await;
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            out.push_str(&format!("\n--- operator log {name} (last 40 lines)\n"));
            tail.iter().rev().for_each(|l| out.push_str(&format!("{l}\n")));
        }
        out
    }

    async fn fail(&self, what: String) -> ! {
        panic!("{what}\n\n===== cluster state ====={}", self.report().await)
    }

    /// Runs a command that must succeed.
    async fn run(&self, line: &str, extra: &[String]) -> Output {
        let out = self.sh.run_with(line, extra, STEP).await;
        if !out.ok() {
            self.fail(format!("`{line}` failed: exit {:?}\n{}\n{}", out.code, out.stdout, out.stderr)).await;
        }
        out
    }

    /// Polls `get` every 250 ms until it gives Some, for at most `limit`.
    async fn wait<T>(&self, what: &str, limit: Duration, mut get: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = get().await {
                return v;
            }
            if Instant::now() > deadline {
                self.fail(format!("timed out after {limit:?} waiting for {what}")).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn playground_api(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("playground.flashbots.io", "v1alpha1", "BuilderPlayground");
    Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk(&gvk))
}

fn condition(obj: &DynamicObject, type_: &str) -> Option<Value> {
    obj.data["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_).cloned()
}

fn is_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The operator's Pods (by the Deployment's selector), and the single Ready one, if any.
async fn operator_pods(client: &kube::Client) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let selector = format!(
        "app.kubernetes.io/name={RELEASE},app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=operator"
    );
    pods.list(&ListParams::default().labels(&selector)).await.map(|l| l.items).unwrap_or_default()
}

async fn single_ready_operator(client: &kube::Client) -> Option<Pod> {
    let pods = operator_pods(client).await;
    (pods.len() == 1 && is_ready(&pods[0]) && pods[0].metadata.deletion_timestamp.is_none())
        .then(|| pods.into_iter().next().unwrap())
}

/// Would the API server let `user` do `verb` on `resource` (in `namespace`)?
async fn allowed(client: &kube::Client, user: &str, verb: &str, group: &str, resource: &str, ns: &str) -> bool {
    allowed_on(client, user, verb, group, resource, ns, None).await
}

/// The same, on the object `name` (resourceNames rules apply).
async fn allowed_on(
    client: &kube::Client,
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    ns: &str,
    name: Option<&str>,
) -> bool {
    let (resource, subresource) = resource.split_once('/').map_or((resource, None), |(r, s)| (r, Some(s.to_owned())));
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_owned()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{NAMESPACE}"),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                name: name.map(str::to_owned),
                namespace: Some(ns.into()).filter(|n: &String| !n.is_empty()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let got = api.create(&PostParams::default(), &review).await.expect("SubjectAccessReview");
    got.status.is_some_and(|s| s.allowed)
}

/// The operator container's log, through the API server and the kubelet ("" if none yet).
async fn operator_log(client: &kube::Client, pod: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let params = kube::api::LogParams { container: Some("operator".into()), ..Default::default() };
    pods.logs(pod, &params).await.unwrap_or_default()
}

/// Where the metrics Service sends traffic: its EndpointSlices' ready endpoints, which the
/// cluster's endpoint controller fills from the Pods its selector matches.
async fn service_targets(client: &kube::Client) -> Vec<prom::Target> {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);
    let selector = format!("kubernetes.io/service-name={RELEASE}-metrics");
    let slices = slices.list(&ListParams::default().labels(&selector)).await.map(|l| l.items).unwrap_or_default();
    let mut targets = Vec::new();
    for slice in slices {
        let Some(port) = slice.ports.iter().flatten().find_map(|p| p.port) else {
            continue;
        };
        for e in slice.endpoints {
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
            let terminating = e.conditions.as_ref().and_then(|c| c.terminating).unwrap_or(false);
            let pod = e.target_ref.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
            if ready && !terminating {
                targets.extend(
                    e.addresses.iter().map(|a| prom::Target { address: format!("{a}:{port}"), pod: pod.clone() }),
                );
            }
        }
    }
    targets
}

/// `bp_playground_ready{name="l1"}` as Prometheus has it from the operator Pod `pod`.
async fn scraped_ready(prometheus: &prom::Prometheus, pod: &str) -> Option<f64> {
    let result =
        prometheus.query(&format!("bp_playground_ready{{name=\"l1\",namespace=\"default\",pod=\"{pod}\"}}")).await;
    let sample = result.ok()?.into_iter().next()?;
    sample["value"][1].as_str()?.parse().ok()
}

/// Waits (at most a minute) for Prometheus to have scraped `bp_playground_ready{name="l1"}`
/// from the operator Pod `pod`.
async fn wait_scraped(d: &Diag<'_>, prometheus: &mut prom::Prometheus, pod: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = scraped_ready(prometheus, pod).await {
            return v;
        }
        if Instant::now() > deadline || !prometheus.alive() {
            let targets = prometheus.get("/api/v1/targets").await;
            d.fail(format!(
                "Prometheus has no bp_playground_ready{{name=\"l1\"}} from {pod} (running: {}); targets: {targets:?}\nlog:\n{}",
                prometheus.alive(),
                prometheus.log()
            ))
            .await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// helm lint --strict, and values.schema.json rejecting bad values.
async fn lint(d: &Diag<'_>) {
    let out = d.run(&format!("helm lint --strict {CHART}"), &[]).await;
    assert!(out.stdout.contains("1 chart(s) linted, 0 chart(s) failed"), "helm lint: {}", out.stdout);
    let set = |v: &str| vec!["--set".to_owned(), v.to_owned()];
    let options = [set("serviceMonitor.enabled=true"), set("watchNamespace=devnets")].concat();
    d.run(&format!("helm lint --strict {CHART}"), &options).await;
    for (bad, field) in [
        ("logFormat=xml", "logFormat"),
        ("metrics.prot=9090", "prot"),
        ("metrics.port=0", "port"),
        ("webhook.failurePolicy=Never", "failurePolicy"),
    ] {
        let out = d.sh.run_with(&format!("helm lint --strict {CHART}"), &set(bad), STEP).await;
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(!out.ok() && text.contains(field), "values.schema.json must reject {bad}: {text}");
    }
}

/// helm template, validated by kubeconform -strict against the API server's own schemas (and
/// the CRD's for BuilderPlayground), together with the examples users apply.
async fn validate_manifests(d: &Diag<'_>, dir: &Path) {
    let schemas_dir = dir.join("schemas");
    let template = format!("helm template {RELEASE} {CHART} --namespace {NAMESPACE}");
    let default = d.run(&template, &[]).await.stdout;
    let digest = format!("image.digest=sha256:{}", "0f".repeat(32));
    let options: Vec<String> =
        ["serviceMonitor.enabled=true", "serviceMonitor.labels.release=prometheus", "watchNamespace=devnets", &digest]
            .iter()
            .flat_map(|v| ["--set".to_owned(), (*v).to_owned()])
            .collect();
    let variant = d.run(&template, &options).await.stdout;
    let mut files = vec![(dir.join("chart-default.yaml"), default), (dir.join("chart-options.yaml"), variant)];
    for (path, text) in &files {
        std::fs::write(path, text).unwrap();
    }
    let mut examples: Vec<PathBuf> = std::fs::read_dir(workspace().join("examples"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    examples.sort();
    assert!(!examples.is_empty(), "examples/*.yaml");
    for e in examples {
        let text = read(&e);
        files.push((e, text));
    }

    // One schema per kind the documents use.
    let openapi_text = d
        .client
        .request_text(http::Request::get("/openapi/v2").body(Vec::new()).unwrap())
        .await
        .expect("the API server's OpenAPI v2 document");
    let openapi = schemas::OpenApi::from_v2(&serde_json::from_str(&openapi_text).unwrap());
    let crd: Value = serde_yaml_ng::from_str(&read(&workspace().join("crds").join(CRD_FILE))).unwrap();
    let mut count = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for (_, text) in &files {
        for doc in yaml_docs(text) {
            count += 1;
            let api_version = doc["apiVersion"].as_str().expect("apiVersion").to_owned();
            kinds.insert((api_version, doc["kind"].as_str().expect("kind").to_owned()));
        }
    }
    for (api_version, k) in &kinds {
        let schema = match (api_version.as_str(), k.as_str()) {
            ("playground.flashbots.io/v1alpha1", "BuilderPlayground") => schemas::from_crd(&crd, "v1alpha1"),
            ("monitoring.coreos.com/v1", "ServiceMonitor") => schemas::service_monitor(),
            _ => openapi
                .schema(api_version, k)
                .unwrap_or_else(|| panic!("the API server has no schema for {api_version} {k}")),
        };
        schemas::write(&schemas_dir, api_version, k, &schema);
    }
    let names: Vec<&str> = kinds.iter().map(|(_, k)| k.as_str()).collect();
    for must in ["Deployment", "CustomResourceDefinition", "ServiceMonitor", "BuilderPlayground", "Role", "ClusterRole"]
    {
        assert!(names.contains(&must), "{must} is validated too: {names:?}");
    }

    let kubeconform = |paths: Vec<String>| {
        let mut extra = vec!["-schema-location".to_owned(), schemas::location(&schemas_dir)];
        extra.extend(paths);
        async move { d.sh.run_with("kubeconform -strict -summary -verbose -output json", &extra, STEP).await }
    };
    let out = kubeconform(files.iter().map(|(p, _)| p.display().to_string()).collect()).await;
    let report: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("kubeconform output ({e}): {out:#?}"));
    let summary = &report["summary"];
    assert!(
        out.ok()
            && summary["valid"] == count
            && summary["invalid"] == 0
            && summary["errors"] == 0
            && summary["skipped"] == 0,
        "kubeconform -strict must accept all {count} documents: {}",
        serde_json::to_string_pretty(&report).unwrap()
    );

    // The same validation rejects what the API server would: a misspelt field in a built-in
    // kind, in our kind and in the ServiceMonitor.
    let docs = yaml_docs(&files[1].1);
    let mut deploy = one(&docs, "Deployment").clone();
    deploy["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = json!(true);
    let mut monitor = one(&docs, "ServiceMonitor").clone();
    monitor["spec"]["endpoints"][0]["portt"] = json!("metrics");
    let mut playground = yaml_docs(&files[2].1).remove(0);
    playground["spec"]["services"][0]["imagee"] = json!("reth");
    let bad = dir.join("misspelt.yaml");
    let text: Vec<String> =
        [deploy, monitor, playground].iter().map(|d| serde_yaml_ng::to_string(d).unwrap()).collect();
    std::fs::write(&bad, text.join("---\n")).unwrap();
    let out = kubeconform(vec![bad.display().to_string()]).await;
    let report: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("kubeconform output ({e}): {out:#?}"));
    assert!(
        !out.ok() && report["summary"]["invalid"] == 3,
        "kubeconform -strict must reject each misspelt field: {}",
        serde_json::to_string_pretty(&report).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_apply_ready_scrape_upgrade_uninstall() {
    let started = Instant::now();
    let tools = Tools::find();
    let target = target_dir();
    for bin in ["bp-operator", "bp-generator", "bp-e2e"] {
        let p = target.join(bin);
        assert!(p.is_file(), "{} is missing: run `cargo build --workspace` first", p.display());
    }
    // The chart owns the CRD: the cluster starts without it, and helm installs it.
    let no_crds = tempfile::tempdir().unwrap();
    let cluster =
        Cluster::start(ClusterOptions { crds_dir: Some(no_crds.path().to_path_buf()), ..ClusterOptions::default() })
            .await
            .expect("starting the local Kubernetes");
    let client = cluster.client().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let sh = Shell::new(tools, &workspace(), cluster.kubeconfig_path(), &home);
    let d = Diag { sh: &sh, client: client.clone() };
    eprintln!("helm-e2e: cluster {} up in {:.1}s", cluster.version(), secs(started));

    // 1. The chart passes helm lint --strict, and what it renders passes kubeconform -strict.
    let t = Instant::now();
    lint(&d).await;
    validate_manifests(&d, scratch.path()).await;
    eprintln!("helm-e2e: lint and manifest validation {:.1}s", secs(t));

    let before = inventory::snapshot(&client).await;

    // 2. helm install (the namespace held to the restricted Pod Security profile, so the API
    //    server itself rejects an operator Pod that is not restricted).
    d.run(INSTALL[0], &[]).await;
    d.run(INSTALL[1], &[]).await;
    let install = d.run(INSTALL[2], &[]).await;
    assert!(install.stdout.contains("STATUS: deployed"), "{}", install.stdout);
    assert!(install.stdout.contains("kubectl apply -f examples/l1.yaml"), "NOTES.txt says what to apply next");
    let operator = d.wait("one Ready operator Pod", STEP, async || single_ready_operator(&client).await).await;
    let operator_name = operator.metadata.name.clone().unwrap();
    let spec = operator.spec.clone().unwrap();
    let container = &spec.containers[0];
    assert_eq!(container.image.as_deref(), Some(format!("{IMAGE}:{}", env!("CARGO_PKG_VERSION")).as_str()));
    let sc = container.security_context.clone().unwrap();
    assert_eq!((sc.read_only_root_filesystem, sc.allow_privilege_escalation), (Some(true), Some(false)));
    // It is the real bp-operator in a container of the project's image, talking to the API
    // server (through the `kubernetes` Service) with the chart's ServiceAccount token.
    assert_eq!(spec.service_account_name.as_deref(), Some(RELEASE));
    let log = operator_log(&client, &operator_name).await;
    assert!(log.contains("connected") && log.contains("playground watch synced"), "operator log:\n{log}");
    let pod_ip = operator.status.as_ref().and_then(|s| s.pod_ip.clone()).expect("the operator Pod's IP");
    let metrics_addr: std::net::SocketAddr = format!("{pod_ip}:8080").parse().unwrap();
    for path in ["/healthz", "/readyz"] {
        let got = prom::http_get(metrics_addr, path).await;
        assert_eq!(got.as_ref().map(|r| r.0), Ok(200), "{path}: {got:?}");
    }
    // Least privilege, as the API server decides it for the operator's ServiceAccount: every
    // verb of OPERATOR_NEEDS on its resource in any namespace, no other verb on them, and
    // nothing else that matters.
    let user = format!("system:serviceaccount:{NAMESPACE}:{RELEASE}");
    let mut wrong = Vec::new();
    for (group, resource, needed) in OPERATOR_NEEDS {
        for verb in ["get", "list", "watch", "create", "patch", "update", "delete", "deletecollection"] {
            for ns in ["default", "any-namespace"] {
                let want = needed.contains(&verb);
                if allowed(&client, &user, verb, group, resource, ns).await != want {
                    wrong.push(format!("{} {verb} {resource} in {ns}", if want { "cannot" } else { "can" }));
                }
            }
        }
    }
    let rbac = "rbac.authorization.k8s.io";
    for (verb, group, resource, ns) in [
        ("escalate", rbac, "roles", "default"),
        ("bind", rbac, "roles", "default"),
        ("bind", rbac, "clusterroles", ""),
        ("create", rbac, "clusterrolebindings", ""),
        ("patch", "apiextensions.k8s.io", "customresourcedefinitions", ""),
        ("delete", "", "namespaces", ""),
        ("create", "", "pods/exec", "default"),
        ("get", "", "pods/log", "default"),
        ("create", "", "serviceaccounts/token", "default"),
        ("patch", "", "nodes", ""),
    ] {
        if allowed(&client, &user, verb, group, resource, ns).await {
            wrong.push(format!("can {verb} {resource}"));
        }
    }
    // The webhook's certificate: its one Secret in the release namespace (and create, which
    // carries no name), its one webhook configuration; nothing else of either kind.
    let (secret, admission) = (format!("{RELEASE}-webhook-tls"), "admissionregistration.k8s.io");
    for (verb, group, resource, ns, name, want) in [
        ("get", "", "secrets", NAMESPACE, Some(secret.as_str()), true),
        ("update", "", "secrets", NAMESPACE, Some(secret.as_str()), true),
        ("create", "", "secrets", NAMESPACE, None, true),
        ("patch", "", "secrets", NAMESPACE, Some(secret.as_str()), false),
        ("get", "", "secrets", NAMESPACE, Some("another-secret"), false),
        ("list", "", "secrets", NAMESPACE, None, false),
        ("get", "", "secrets", "default", Some(secret.as_str()), false),
        ("get", admission, "validatingwebhookconfigurations", "", Some(RELEASE), true),
        ("patch", admission, "validatingwebhookconfigurations", "", Some(RELEASE), true),
        ("update", admission, "validatingwebhookconfigurations", "", Some(RELEASE), false),
        ("patch", admission, "validatingwebhookconfigurations", "", Some("another-webhook"), false),
        ("list", admission, "validatingwebhookconfigurations", "", None, false),
        ("patch", admission, "mutatingwebhookconfigurations", "", Some(RELEASE), false),
    ] {
        if allowed_on(&client, &user, verb, group, resource, ns, name).await != want {
            wrong.push(format!("{} {verb} {resource} {name:?} in {ns:?}", if want { "cannot" } else { "can" }));
        }
    }
    if !wrong.is_empty() {
        d.fail(format!("the operator's ServiceAccount {user}:\n  {}", wrong.join("\n  "))).await;
    }
    eprintln!("helm-e2e: installed, operator {operator_name} Ready at {:.1}s", secs(started));

    // 3. kubectl apply → Ready, and what kubectl shows of it.
    d.run(INSTALL[3], &[]).await;
    let playgrounds = playground_api(&client);
    let l1 = d
        .wait("bp/l1 Ready=True", STEP, async || {
            let pg = playgrounds.get_opt("l1").await.ok()??;
            let ready = condition(&pg, "Ready")?;
            // A permission the chart does not grant never appears by itself: stop at once.
            if ready["reason"] == "Forbidden" {
                return Some(Err(format!("the operator is missing a permission: {}", ready["message"])));
            }
            (ready["status"] == "True").then_some(Ok(pg))
        })
        .await;
    let l1 = match l1 {
        Ok(pg) => pg,
        Err(e) => d.fail(e).await,
    };
    let waited = d.run(INSTALL[4], &[]).await;
    assert!(waited.stdout.contains("condition met"), "{}", waited.stdout);
    let table = d.run(INSTALL[5], &[]).await.stdout;
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.first().map(Vec::as_slice), Some(&["NAME", "RECIPE", "PHASE", "READY", "AGE"][..]), "{table}");
    let ready = l1.data["status"]["ready"].as_str().unwrap_or_default().to_owned();
    let (up, all) = ready.split_once('/').unwrap_or_default();
    assert!(up == all && !up.is_empty() && up != "0", "status.ready {ready:?}");
    assert_eq!(rows.get(1).map(|r| &r[..4]), Some(&["l1", "l1", "Running", ready.as_str()][..]), "{table}");
    let explain = d.run(INSTALL[6], &[]).await.stdout;
    let crd: Value = serde_yaml_ng::from_str(&read(&workspace().join("crds").join(CRD_FILE))).unwrap();
    let services =
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["services"];
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(explain.contains("FIELD: services <[]Object>"), "{explain}");
    for doc in [&services["description"], &services["items"]["properties"]["readyCheck"]["description"]] {
        let doc = words(doc.as_str().expect("documented in the CRD"));
        assert!(words(&explain).contains(&doc), "kubectl explain shows {doc:?}:\n{explain}");
    }
    // The generator ran as its own per-playground identity, and the operator's events name
    // its Pod (POD_NAME from the downward API).
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(client.clone(), "default");
    let job = jobs.list(&ListParams::default().labels("app.kubernetes.io/instance=l1")).await.unwrap().items;
    let job_pod = job.first().and_then(|j| j.spec.as_ref()).and_then(|s| s.template.spec.as_ref());
    assert_eq!(job_pod.and_then(|p| p.service_account_name.as_deref()), Some("l1-generator"));
    assert_eq!(job_pod.and_then(|p| p.containers[0].image.clone()), container.image.clone(), "one image");
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), "default");
    let events = events.list(&ListParams::default()).await.unwrap().items;
    assert!(
        events.iter().any(|e| e.reporting_instance.as_deref() == Some(operator_name.as_str())),
        "an event reported by instance {operator_name}"
    );
    eprintln!("helm-e2e: bp/l1 Ready ({ready}) at {:.1}s", secs(started));

    // A host directory outside storage.allowedHostPaths is refused at apply (the chart's
    // ValidatingAdmissionPolicy), in the operator's words; one under it is accepted.
    let mut escaping = l1.clone();
    escaping.metadata = kube::api::ObjectMeta { name: Some("kubernetes".into()), ..Default::default() };
    escaping.data.as_object_mut().unwrap().remove("status");
    escaping.data["spec"]["storage"] = json!({"path": "/data/builder-playground/../../etc"});
    let refused = playgrounds.create(&Default::default(), &escaping).await;
    match refused {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.ends_with("spec.storage.path: \"/data/builder-playground/../../etc\" is outside the host directories this cluster allows for playgrounds (/data/builder-playground): choose a path under one of them, or storage type pvc or ephemeral"),
                "{}",
                status.message
            );
        }
        other => d.fail(format!("a playground on the node's /etc was not refused at apply: {other:?}")).await,
    }
    escaping.data["spec"]["storage"] = json!({"path": "/data/builder-playground/team-a", "type": "local-path"});
    let dry_run = kube::api::PostParams { dry_run: true, ..Default::default() };
    if let Err(e) = playgrounds.create(&dry_run, &escaping).await {
        d.fail(format!("a playground under the allowed root was refused: {e}")).await;
    }

    // The operator's webhook (the API server calling the operator Pod through its Service, over
    // the TLS the operator set up itself) refuses a template naming a missing service, with
    // the line `bp-generator render` prints for it; the example still applies.
    let mut broken = l1.clone();
    broken.metadata = kube::api::ObjectMeta { name: Some("broken".into()), ..Default::default() };
    broken.data.as_object_mut().unwrap().remove("status");
    broken.data["spec"]["services"][0]["args"]
        .as_array_mut()
        .unwrap()
        .push(json!("{{Service \"nope\" \"http\" \"http\" \"\"}}"));
    let file = scratch.path().join("broken.yaml");
    std::fs::write(&file, serde_yaml_ng::to_string(&broken).unwrap()).unwrap();
    let cli =
        std::process::Command::new(target.join("bp-generator")).arg("render").arg("-f").arg(&file).output().unwrap();
    let cli = String::from_utf8_lossy(&cli.stderr).trim_end().to_owned();
    let line =
        cli.strip_prefix(&format!("bp-generator: {}: ", file.display())).unwrap_or_else(|| panic!("{cli}")).to_owned();
    let refusal = format!("admission webhook \"{WEBHOOK}\" denied the request: {line}");
    // failurePolicy Ignore lets it through until the operator has made its certificate and the
    // Service has the Pod's endpoint: ask with dry runs (nothing stored) until it answers.
    let t = Instant::now();
    d.wait("the webhook refusing a broken playground", STEP, async || {
        match playgrounds.create(&dry_run, &broken).await {
            Err(kube::Error::Api(status)) if status.message.contains(WEBHOOK) => Some(()),
            _ => None,
        }
    })
    .await;
    match playgrounds.create(&Default::default(), &broken).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.message, refusal),
        other => d.fail(format!("a playground naming a missing service was not refused: {other:?}")).await,
    }
    let webhooks: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(client.clone());
    let ca = webhooks.get(RELEASE).await.unwrap().webhooks.unwrap()[0].client_config.ca_bundle.clone();
    let tls: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let stored = tls.get(&format!("{RELEASE}-webhook-tls")).await.unwrap().data.unwrap_or_default();
    assert_eq!(ca.as_ref(), stored.get("ca.crt"), "the caBundle is the operator's CA");
    assert!(stored.contains_key("tls.crt") && stored.contains_key("tls.key"));
    d.run(INSTALL[3], &[]).await;
    eprintln!("helm-e2e: the webhook refused a broken playground ({:.1}s to answer) at {:.1}s", secs(t), secs(started));
    // Installed this way, `kubectl apply` refuses every case of the catalog of invalid
    // playgrounds (operator/tests/invalid): the CRD what needs no rendering, the webhook the rest.
    let mut wrong = Vec::new();
    for case in invalid::cases() {
        let mut object = invalid::playground(&case, &format!("invalid-{}", case.name));
        object["metadata"]["namespace"] = json!("default");
        let object: DynamicObject = serde_json::from_value(object).unwrap();
        let (want, by_webhook) = match case.api {
            invalid::Api::Refused(want) => (want, false),
            invalid::Api::Status(want) => (want, true),
        };
        match playgrounds.create(&Default::default(), &object).await {
            Err(kube::Error::Api(status))
                if status.message.contains(want) && (!by_webhook || status.message.contains(WEBHOOK)) => {}
            other => wrong.push(format!("{}: want {want:?}, got {other:?}", case.name)),
        }
    }
    if !wrong.is_empty() {
        d.fail(format!("catalog cases not refused at apply:\n{}", wrong.join("\n"))).await;
    }
    eprintln!("helm-e2e: all {} catalog cases refused at apply at {:.1}s", invalid::cases().len(), secs(started));

    // 4. A Prometheus server scrapes the operator through its metrics Service.
    let page = prom::http_get(metrics_addr, "/metrics").await.unwrap().1;
    let mut promtool = std::process::Command::new(&sh.tools.promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), page.as_bytes()).unwrap();
    let lint = promtool.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let prom_dir = scratch.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let mut prometheus = prom::Prometheus::start(&sh.tools.prometheus, &prom_dir, free_port());
    let targets = service_targets(&client).await;
    assert_eq!(targets.iter().map(|t| t.pod.as_str()).collect::<Vec<_>>(), [operator_name.as_str()]);
    assert_eq!(targets[0].address, metrics_addr.to_string());
    prometheus.set_targets(&targets);
    let scraped = wait_scraped(&d, &mut prometheus, &operator_name).await;
    assert_eq!(scraped, 1.0, "bp_playground_ready{{name=\"l1\"}} as scraped");
    eprintln!("helm-e2e: Prometheus scraped bp_playground_ready{{name=\"l1\"}} == 1 at {:.1}s", secs(started));

    // 5. helm upgrade with a changed value rolls the operator; the playground stays. The CRD
    //    is made to look like an older chart's first (one printer column less): the upgrade
    //    must bring it back, as it brings every CRD change.
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition")),
    );
    let live_crd = crds.get(CRD_NAME).await.unwrap();
    let columns = live_crd.data["spec"]["versions"][0]["additionalPrinterColumns"].as_array().unwrap();
    let ready_column = columns.iter().position(|c| c["name"] == "Ready").expect("a Ready printer column");
    let mut versions = live_crd.data["spec"]["versions"].clone();
    versions[0]["additionalPrinterColumns"].as_array_mut().unwrap().remove(ready_column);
    crds.patch(CRD_NAME, &PatchParams::default(), &Patch::Merge(json!({"spec": {"versions": versions}})))
        .await
        .unwrap();
    let l1_pod: Api<Pod> = Api::namespaced(client.clone(), "default");
    let l1_pod_uid = l1_pod.get("l1").await.unwrap().metadata.uid;
    let upgrade = d.run(UPGRADE, &[]).await;
    assert!(upgrade.stdout.contains("REVISION: 2"), "{}", upgrade.stdout);
    let new_operator = d
        .wait("the upgraded operator Pod Ready", STEP, async || {
            single_ready_operator(&client).await.filter(|p| p.metadata.name.as_deref() != Some(operator_name.as_str()))
        })
        .await;
    let new_name = new_operator.metadata.name.clone().unwrap();
    let new_env = &new_operator.spec.as_ref().unwrap().containers[0].env;
    let rust_log = new_env.iter().flatten().find(|e| e.name == "RUST_LOG").and_then(|e| e.value.clone());
    assert_eq!(rust_log.as_deref(), Some("debug"), "the changed value reached the new Pod");
    let now = playgrounds.get("l1").await.unwrap();
    assert_eq!(now.metadata.uid, l1.metadata.uid, "the playground survived the upgrade");
    assert_eq!(condition(&now, "Ready").map(|c| c["status"].clone()), Some(json!("True")));
    assert_eq!(l1_pod.get("l1").await.unwrap().metadata.uid, l1_pod_uid, "the devnet's Pod was not restarted");
    let columns = crds.get(CRD_NAME).await.unwrap().data["spec"]["versions"][0]["additionalPrinterColumns"].clone();
    assert!(
        columns.as_array().unwrap().iter().any(|c| c["name"] == "Ready"),
        "helm upgrade upgrades the CRD: {columns}"
    );
    prometheus.set_targets(&service_targets(&client).await);
    let scraped = wait_scraped(&d, &mut prometheus, &new_name).await;
    assert_eq!(scraped, 1.0, "bp_playground_ready{{name=\"l1\"}} from the upgraded operator");
    eprintln!("helm-e2e: upgraded to {new_name} at {:.1}s", secs(started));

    // 6. helm uninstall keeps the CRD (and the playground); deleting the playground, the CRD
    //    and the namespace leaves nothing behind.
    let uninstall = d.run(UNINSTALL[0], &[]).await;
    assert!(format!("{}{}", uninstall.stdout, uninstall.stderr).contains("kept due to the resource policy"));
    assert!(crds.get_opt(CRD_NAME).await.unwrap().is_some(), "the CRD is kept");
    assert!(playgrounds.get_opt("l1").await.unwrap().is_some(), "the playground is kept");
    d.run(UNINSTALL[1], &[]).await;
    let kept: [String; 5] = [
        format!("apiextensions.k8s.io/v1 customresourcedefinitions /{CRD_NAME}"),
        // The API server's own registration of the CRD's group version; goes with the CRD.
        "apiregistration.k8s.io/v1 apiservices /v1alpha1.playground.flashbots.io".to_owned(),
        format!("v1 namespaces /{NAMESPACE}"),
        format!("v1 serviceaccounts {NAMESPACE}/default"),
        format!("v1 configmaps {NAMESPACE}/kube-root-ca.crt"),
    ];
    let mut last = Vec::new();
    let cleaned = tokio::time::timeout(STEP, async {
        loop {
            last = inventory::added(&before, &inventory::snapshot(&client).await);
            last.retain(|o| !kept.contains(o));
            if last.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    if cleaned.is_err() {
        d.fail(format!("after helm uninstall and deleting bp/l1, objects remain:\n  {}", last.join("\n  "))).await;
    }
    d.run(UNINSTALL[2], &[]).await;
    d.run(UNINSTALL[3], &[]).await;
    let cleaned = tokio::time::timeout(STEP, async {
        loop {
            last = inventory::added(&before, &inventory::snapshot(&client).await);
            if last.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    if cleaned.is_err() {
        d.fail(format!("after removing the CRD and the namespace, objects remain:\n  {}", last.join("\n  "))).await;
    }
    drop(prometheus);
    eprintln!("helm-e2e: uninstalled, nothing left behind; whole test {:.1}s", secs(started));
}
