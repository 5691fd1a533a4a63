//! Every child of the fixture playground, pinned field by field as the API server receives it.

use serde_json::{Value, json};

use super::fixture::playground;
use super::*;
use bp_generator::api::{ExposeSpec, GenerateSpec, ServiceType, StorageSpec, StorageType};
use bp_generator::{RenderOptions, Rendered, render};

fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializes")
}

fn rendered(pg: &BuilderPlayground) -> Rendered {
    render(pg, &RenderOptions::default()).expect("the fixture renders")
}

fn labels() -> Value {
    json!({
        "app.kubernetes.io/component": "devnet",
        "app.kubernetes.io/instance": "l1",
        "app.kubernetes.io/managed-by": "bp-operator",
        "app.kubernetes.io/name": "builder-playground"
    })
}

/// What every child's metadata holds: its name, the playground's namespace, the standard
/// labels and a controller reference to the playground.
fn meta(name: &str) -> Value {
    json!({
        "name": name,
        "namespace": "dev",
        "labels": labels(),
        "ownerReferences": [{
            "apiVersion": "playground.flashbots.io/v1alpha1",
            "kind": "BuilderPlayground",
            "name": "l1",
            "uid": "0b1c",
            "controller": true
        }]
    })
}

fn restricted() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "seccompProfile": {"type": "RuntimeDefault"}
    })
}

fn config(native_sidecars: bool) -> job::GeneratorConfig {
    job::GeneratorConfig {
        image: "op:1".into(),
        native_sidecars,
        backoff_limit: 2,
        deadline_seconds: 600,
        allowed_host_paths: vec![bp_generator::podspec::DEFAULT_STORAGE_PATH.into()],
    }
}

#[test]
fn the_generator_job_of_a_playground_with_services() {
    let hash = "ab".repeat(32);
    let mut job_meta = meta("l1-gen-abababab");
    job_meta["labels"]["playground.flashbots.io/input-hash"] = json!("abababab");
    let mut pod_labels = labels();
    pod_labels["playground.flashbots.io/input-hash"] = json!("abababab");
    assert_eq!(
        json_of(&job::build(&playground(), &hash, "sa", &config(true))),
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": job_meta,
            "spec": {
                "activeDeadlineSeconds": 600,
                "backoffLimit": 2,
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "serviceAccountName": "sa",
                        "restartPolicy": "Never",
                        "enableServiceLinks": false,
                        "containers": [{
                            "name": "generator",
                            "image": "op:1",
                            "command": ["bp-generator"],
                            "args": ["job", "--namespace", "dev", "--name", "l1", "--hash", hash, "--unpack-image", "op:1"],
                            "securityContext": restricted(),
                            "terminationMessagePolicy": "FallbackToLogsOnError"
                        }]
                    }
                }
            }
        })
    );
}

#[test]
fn the_generator_job_of_a_recipe_runs_builder_playground_on_the_storage_first() {
    let mut pg = playground();
    pg.spec.generate = Some(GenerateSpec::default());
    pg.spec.recipe = Some("l1".into());
    let hash = "ab".repeat(32);
    let job = json_of(&job::build(&pg, &hash, "sa", &config(false)));
    let storage = json!([{"mountPath": "/artifacts", "name": "artifacts"}]);
    assert_eq!(
        job["spec"]["template"]["spec"]["initContainers"],
        json!([{
            "name": "builder-playground",
            "image": "op:1",
            "command": ["builder-playground"],
            "args": ["start", "l1", "--dry-run", "--output", "/artifacts/gen-abababab"],
            "volumeMounts": storage,
            "securityContext": json_of(&bp_generator::bundle::root_without_capabilities()),
            "terminationMessagePolicy": "FallbackToLogsOnError"
        }])
    );
    let generator = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(generator["volumeMounts"], storage);
    assert_eq!(
        generator["args"],
        json!([
            "job",
            "--namespace",
            "dev",
            "--name",
            "l1",
            "--hash",
            hash,
            "--no-native-sidecars",
            "--unpack-image",
            "op:1",
            "--manifest",
            "/artifacts/gen-abababab/manifest.json"
        ])
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "artifacts", "hostPath": {"path": "/data/builder-playground/dev/l1", "type": "DirectoryOrCreate"}}])
    );
}

#[test]
fn the_pod_is_the_rendered_one_stamped_and_owned() {
    let pg = playground();
    let r = rendered(&pg);
    let pod = pod::build(&pg, &r, "h1");
    assert_eq!(pod::hash_of(&pod.metadata), Some("h1"));
    let mut expected_meta = meta("l1");
    expected_meta["annotations"] = json!({"playground.flashbots.io/input-hash": "h1"});
    assert_eq!(json_of(&pod.metadata), expected_meta);
    assert_eq!(pod.spec.as_ref(), Some(&r.pod_spec));
    assert_eq!(pod::hash_of(&Default::default()), None);
}

#[test]
fn the_claim_of_pvc_storage() {
    let mut pg = playground();
    pg.spec.storage = Some(StorageSpec {
        storage_type: Some(StorageType::Pvc),
        storage_class: Some(String::new()),
        ..Default::default()
    });
    assert_eq!(
        json_of(&pvc::build(&pg)),
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta("l1-artifacts"),
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
        }),
        "an empty storageClass is the cluster's default, never sent as \"\""
    );
    for other in [StorageType::LocalPath, StorageType::Ephemeral] {
        pg.spec.storage = Some(StorageSpec { storage_type: Some(other), ..Default::default() });
        assert!(pvc::build(&pg).is_none(), "{other:?}");
    }
}

#[test]
fn the_generators_identity_and_its_two_rules() {
    let pg = playground();
    assert_eq!(
        json_of(&rbac::service_account(&pg)),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("l1-generator")})
    );
    assert_eq!(
        json_of(&rbac::role(&pg)),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta("l1-generator"),
            "rules": [
                {"apiGroups": ["playground.flashbots.io"], "resources": ["builderplaygrounds"], "resourceNames": ["l1"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["l1-podspec"], "verbs": ["get", "create", "patch"]}
            ]
        })
    );
    assert_eq!(
        json_of(&rbac::role_binding(&pg)),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("l1-generator"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "l1-generator"},
            "subjects": [{"kind": "ServiceAccount", "name": "l1-generator", "namespace": "dev"}]
        })
    );
}

#[test]
fn the_jwt_secret() {
    assert_eq!(
        json_of(&secret::build(&playground(), "0xfeed")),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta("l1-jwt"),
            "type": "Opaque",
            "stringData": {"jwtsecret": "0xfeed"}
        })
    );
}

#[test]
fn the_service_names_ports_by_container_and_marks_only_udp_twins() {
    let mut pg = playground();
    pg.spec.services[1].ports = vec![bp_generator::api::PortSpec {
        name: "disc".into(),
        port: 9000,
        protocol: bp_generator::api::Protocol::Udp,
        host_port: None,
    }];
    pg.spec.expose = Some(ExposeSpec { service_type: ServiceType::LoadBalancer });
    let port = |name: &str, number: i32, protocol: &str| json!({"name": name, "port": number, "targetPort": number, "protocol": protocol});
    assert_eq!(
        json_of(&service::build(&pg, &rendered(&pg))),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta("l1"),
            "spec": {
                "type": "LoadBalancer",
                "selector": labels(),
                "ports": [
                    port("el-http", 8545, "TCP"),
                    port("el-p2p", 30303, "TCP"),
                    port("el-p2p-udp", 30303, "UDP"),
                    // `el-healthmon-disc` is longer than a container port name may be: the
                    // Service names the port as the Pod does, its start and a hash.
                    port("el-healthm-wmnm", 9000, "UDP")
                ]
            }
        }),
        "healthmon's hidden listener is not exposed"
    );
}

#[test]
fn no_declared_port_no_service() {
    let mut pg = playground();
    pg.spec.services.remove(0);
    let r = rendered(&pg);
    assert!(!r.ports.services[0].ports.is_empty(), "healthmon's hidden listener is allocated");
    assert_eq!(service::build(&pg, &r), None);
}
