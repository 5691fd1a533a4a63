//! Every field the PodSpec builder and the manifest converter produce, pinned to its exact
//! value on small inline specs: a builder that forgot a `subPath`, the placement or the restart
//! policy fails here, not on a node (`make mutants` measures how much of this holds).

mod common;

use bp_generator::api::Phase;
use bp_generator::manifest::{self, ConvertOptions};
use bp_generator::podspec::{self, parse_url};
use bp_generator::{BuilderPlayground, RenderOptions, render};
use common::*;
use k8s_openapi::api::core::v1::Probe;
use serde_json::{Value, json};

fn render_ok(pg: &BuilderPlayground) -> bp_generator::Rendered {
    render(pg, &RenderOptions::default()).unwrap_or_else(|e| panic!("render: {e}"))
}

fn render_err(pg: &BuilderPlayground) -> String {
    render(pg, &RenderOptions::default()).expect_err("the spec is refused").to_string()
}

/// A playground that uses every field the builder fills in.
const FULL: &str = r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: pin, namespace: dev}
spec:
  storage: {path: /srv/bp/}
  placement:
    nodeSelector: {disk: ssd}
    tolerations: [{key: dedicated, operator: Equal, value: devnet, effect: NoSchedule}]
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]
  services:
  - name: db
    image: postgres
    tag: "16"
    env: {POSTGRES_PASSWORD: pw}
    ports: [{name: pg, port: 5432}]
    volumes: [{name: shared, mountPath: /var/lib/postgresql}]
    readyCheck: {test: [CMD-SHELL, pg_isready -p 5432], interval: 2s, timeout: 1500ms, retries: 5, startPeriod: 3s}
  - name: el
    image: reth
    tag: v1
    entrypoint: [reth]
    args: [node, --http.port, '{{Port "http" 8545}}', --port, '{{Port "p2p" 30303}}', --discovery.port, '{{PortUDP "disc" 9000}}']
    ports: [{name: http, port: 8545}, {name: p2p, port: 30303}, {name: p2p, port: 30303, protocol: udp}]
    labels: {metrics_path: /debug/metrics}
    dependencies: [{name: db, condition: healthy}]
    files: [{artifact: genesis.json, mountPath: /data/genesis.json}, {artifact: jwtsecret, mountPath: /data/jwtsecret}]
    volumes: [{name: shared, mountPath: /data_reth, subPath: reth}, {name: artifacts, mountPath: /testnet, subPath: testnet}]
    resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 2Gi}}
    readyCheck: {queryURL: "https://localhost:8545/health?full=1", interval: 7s}
  - name: beacon_node
    image: lighthouse
    args: [bn, --execution-endpoint, '{{Service "el" "http" "http" ""}}']
    dependencies: [{name: el}]
    files: [{artifact: jwtsecret, mountPath: /jwt}]
"#;

#[test]
fn a_playground_renders_to_exactly_this_pod() {
    let pg = playground(FULL);
    let rendered = render_ok(&pg);
    assert!(rendered.warnings.is_empty(), "{:?}", rendered.warnings);
    let artifacts = json!({"mountPath": "/artifacts", "name": "artifacts"});
    let jwt = |path: &str| json!({"mountPath": path, "name": "jwt", "readOnly": true, "subPath": "jwtsecret"});
    let db_check = json!({
        "exec": {"command": ["/bin/sh", "-c", "pg_isready -p 5432"]},
        "failureThreshold": 5, "initialDelaySeconds": 3, "periodSeconds": 2, "timeoutSeconds": 2
    });
    let mut db_startup = db_check.clone();
    // Ten minutes at one check every 2s.
    db_startup["failureThreshold"] = json!(300);
    let expected = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "pin",
            "namespace": "dev",
            "labels": {
                "app.kubernetes.io/component": "devnet",
                "app.kubernetes.io/instance": "pin",
                "app.kubernetes.io/managed-by": "bp-operator",
                "app.kubernetes.io/name": "builder-playground"
            },
            "annotations": {"labels.playground.flashbots.io/el": r#"{"metrics_path":"/debug/metrics"}"#}
        },
        "spec": {
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"effect": "NoSchedule", "key": "dedicated", "operator": "Equal", "value": "devnet"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
            }}},
            // beacon_node is no DNS name: containers reach it as localhost anyway.
            "hostAliases": [{"hostnames": ["db", "el"], "ip": "127.0.0.1"}],
            "initContainers": [
                {
                    "name": "db",
                    "image": "postgres:16",
                    "env": [{"name": "POSTGRES_PASSWORD", "value": "pw"}],
                    "ports": [{"containerPort": 5432, "name": "db-pg", "protocol": "TCP"}],
                    "readinessProbe": db_check,
                    "startupProbe": db_startup,
                    "restartPolicy": "Always",
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                    "volumeMounts": [artifacts, {"mountPath": "/var/lib/postgresql", "name": "vol-shared"}]
                },
                {
                    "name": "el",
                    "image": "reth:v1",
                    "command": ["reth"],
                    "args": ["node", "--http.port", "8545", "--port", "30303", "--discovery.port", "9000"],
                    "ports": [
                        {"containerPort": 8545, "name": "el-http", "protocol": "TCP"},
                        {"containerPort": 30303, "name": "el-p2p", "protocol": "TCP"},
                        {"containerPort": 30303, "name": "el-p2p-udp", "protocol": "UDP"},
                        {"containerPort": 9000, "name": "el-disc", "protocol": "UDP"}
                    ],
                    "readinessProbe": {
                        "tcpSocket": {"port": 8545},
                        "periodSeconds": 7
                    },
                    "resources": {"limits": {"memory": "2Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
                    "restartPolicy": "Always",
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                    "volumeMounts": [
                        artifacts,
                        {"mountPath": "/data/genesis.json", "name": "artifacts", "subPath": "genesis.json"},
                        jwt("/data/jwtsecret"),
                        {"mountPath": "/data_reth", "name": "vol-shared", "subPath": "reth"},
                        {"mountPath": "/testnet", "name": "artifacts", "subPath": "testnet"}
                    ]
                }
            ],
            "containers": [{
                "name": "beacon-node",
                "image": "lighthouse",
                "args": ["bn", "--execution-endpoint", "http://localhost:8545"],
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": [artifacts, jwt("/jwt")]
            }],
            "volumes": [
                {"name": "artifacts", "hostPath": {"path": "/srv/bp/dev/pin", "type": "DirectoryOrCreate"}},
                {"name": "jwt", "secret": {"secretName": "pin-jwt", "items": [{"key": "jwtsecret", "path": "jwtsecret"}]}},
                {"name": "vol-shared", "emptyDir": {}}
            ]
        }
    });
    assert_eq!(json_of(&podspec::pod(&pg, &rendered)), expected);
    assert_eq!(
        json_of(&rendered.containers),
        json!({"beacon_node": "beacon-node", "db": "db", "el": "el"}),
        "the container of each service"
    );
}

#[test]
fn a_bare_playground_gets_nothing_it_did_not_ask_for() {
    let pg = playground_spec(
        "bare",
        r#"
  storage: {type: ephemeral}
  placement: {tolerations: [{operator: Exists}]}
  services: [{name: solo, image: busybox, tag: ""}]
"#,
    );
    let expected = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "bare",
            "labels": {
                "app.kubernetes.io/component": "devnet",
                "app.kubernetes.io/instance": "bare",
                "app.kubernetes.io/managed-by": "bp-operator",
                "app.kubernetes.io/name": "builder-playground"
            }
        },
        "spec": {
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [{"operator": "Exists"}],
            "hostAliases": [{"hostnames": ["solo"], "ip": "127.0.0.1"}],
            "containers": [{
                "name": "solo",
                "image": "busybox",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": [{"mountPath": "/artifacts", "name": "artifacts"}]
            }],
            "volumes": [{"name": "artifacts", "emptyDir": {}}]
        }
    });
    assert_eq!(json_of(&podspec::pod(&pg, &render_ok(&pg))), expected, "an empty tag is no tag");
}

#[test]
fn phases_are_named_as_the_api_spells_them() {
    let names = Phase::ALL.map(Phase::as_str);
    assert_eq!(names, ["Pending", "Generating", "Deploying", "Running", "Degraded", "Failed", "Suspended"]);
    for phase in Phase::ALL {
        assert_eq!(json_of(&phase), json!(phase.as_str()));
    }
}

// ---- Probes ---------------------------------------------------------------------------

/// A playground whose service `a` waits until `b`, with ready check `check`, is healthy.
fn gated(check: &str) -> BuilderPlayground {
    playground_spec(
        "probes",
        &format!(
            r#"
  services:
  - {{name: a, image: i, dependencies: [{{name: b, condition: healthy}}]}}
  - {{name: b, image: i, readyCheck: {check}}}
"#
        ),
    )
}

/// The readiness and startup probes of `b` in [`gated`].
fn gated_probes(check: &str) -> (Probe, Probe) {
    let r = render_ok(&gated(check));
    let b = container(&r, "b");
    (b.readiness_probe.clone().expect("readiness"), b.startup_probe.clone().expect("startup"))
}

#[test]
fn a_startup_probe_waits_ten_minutes_in_whole_periods() {
    let threshold = |check: &str| gated_probes(check).1.failure_threshold;
    assert_eq!(threshold("{test: [CMD, 'true']}"), Some(60), "the default period is 10s");
    assert_eq!(threshold("{test: [CMD, 'true'], interval: 1s}"), Some(600));
    assert_eq!(threshold("{test: [CMD, 'true'], interval: 7s}"), Some(86), "rounded up");
    assert_eq!(threshold("{test: [CMD, 'true'], interval: 600s}"), Some(3), "never fewer than the retries");
    assert_eq!(threshold("{test: [CMD, 'true'], interval: 601s, retries: 1}"), Some(1));
    assert_eq!(threshold("{test: [CMD, 'true'], interval: 1s, retries: 1000}"), Some(1000));
    // The longest period a probe holds; the window arithmetic must not overflow.
    let (readiness, startup) = gated_probes("{test: [CMD, 'true'], interval: 2147483647s}");
    assert_eq!(readiness.period_seconds, Some(i32::MAX));
    assert_eq!((startup.period_seconds, startup.failure_threshold), (Some(i32::MAX), Some(3)));
    assert_eq!(readiness.failure_threshold, None, "docker's default, unset");
}

#[test]
fn durations_a_probe_cannot_hold_are_spec_errors() {
    for field in ["interval", "timeout", "startPeriod"] {
        let err = render_err(&gated(&format!("{{test: [CMD, 'true'], {field}: 2147483648s}}")));
        assert_eq!(
            err,
            format!(
                r#"service "b": readyCheck.{field}: duration "2147483648s" is longer than a probe allows (2147483647s)"#
            )
        );
    }
}

#[test]
fn probe_fields_map_one_to_one_and_zero_means_unset() {
    let readiness = |check: &str| gated_probes(check).0;
    let p = readiness("{queryURL: 'http://localhost:80/ok', startPeriod: 0s, retries: 0, timeout: 1ms}");
    let tcp = p.tcp_socket.as_ref().unwrap();
    assert_eq!(
        (&tcp.port, tcp.host.as_deref()),
        (&k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80), None),
        "any answer on the URL's port"
    );
    assert!(p.http_get.is_none() && p.exec.is_none());
    assert_eq!(
        (p.initial_delay_seconds, p.failure_threshold, p.timeout_seconds, p.period_seconds),
        (None, None, Some(1), None),
        "no start period, docker's default retries, at least a second, the default period"
    );
    let p = readiness("{test: [CMD, 'true'], startPeriod: 1ms, retries: 1}");
    assert_eq!((p.initial_delay_seconds, p.failure_threshold), (Some(1), Some(1)));
    let exec = |check: &str| readiness(check).exec.unwrap().command.unwrap();
    assert_eq!(exec("{test: [CMD, wget, -q, 'http://localhost:1/']}"), ["wget", "-q", "http://localhost:1/"]);
    assert_eq!(exec("{test: [CMD-SHELL, a, '&&', b]}"), ["/bin/sh", "-c", "a && b"]);
    assert_eq!(exec("{test: [pg_isready, -q]}"), ["pg_isready", "-q"], "no CMD prefix: the command as is");
}

#[test]
fn a_check_of_none_is_no_probe() {
    let pg = playground_spec(
        "none",
        r#"
  services: [{name: a, image: i, readyCheck: {test: [NONE]}}]
"#,
    );
    assert_eq!(container(&render_ok(&pg), "a").readiness_probe, None);
}

#[test]
fn urls_split_into_what_a_probe_needs() {
    let parts = |url| parse_url(url).map(|u| (u.scheme, u.host, u.port, u.path));
    assert_eq!(parts("http://[::1]:8080/x"), Some(("http", "[::1]", 8080, "/x")));
    assert_eq!(parts("https://host#frag"), Some(("https", "host", 443, "#frag")));
    // A colon after a stray `]` separates no port: the whole authority is the host.
    assert_eq!(parts("http://a]:81/"), Some(("http", "a]:81", 80, "/")));
    assert_eq!(parts("http://a:0/"), None);
    assert_eq!(parts("http://a:65535/"), Some(("http", "a", 65535, "/")));
    assert_eq!(parts("http://a:65536/"), None);
}

// ---- Environment, ports, names ----------------------------------------------------------

#[test]
fn the_node_ip_comes_first_for_args_or_env_that_name_a_node_service() {
    let pg = playground_spec(
        "node",
        r#"
  services:
  - {name: el, image: reth, useHostExecution: true, ports: [{name: authrpc, port: 8551}]}
  - {name: by-arg, image: i, args: ['{{Service "el" "authrpc" "http" ""}}'], env: {A: plain}}
  - {name: by-env, image: i, args: [plain], env: {EL: '{{Service "el" "authrpc" "http" ""}}'}}
  - {name: neither, image: i, args: [plain], env: {A: plain}}
"#,
    );
    let r = render_ok(&pg);
    let env_names =
        |c: &str| -> Vec<String> { container(&r, c).env.iter().flatten().map(|e| e.name.clone()).collect() };
    assert_eq!(env_names("by-arg"), ["BP_HOST_IP", "A"]);
    assert_eq!(env_names("by-env"), ["BP_HOST_IP", "EL"]);
    assert_eq!(env_names("neither"), ["A"]);
}

#[test]
fn services_named_localhost_or_with_underscores_get_no_host_alias() {
    let pg = playground_spec(
        "hosts",
        r#"
  services: [{name: localhost, image: i}, {name: el_healthmon, image: i}, {name: beacon, image: i}]
"#,
    );
    let aliases = render_ok(&pg).pod_spec.host_aliases.unwrap();
    assert_eq!(json_of(&aliases), json!([{"ip": "127.0.0.1", "hostnames": ["beacon"]}]));
}

#[test]
fn every_labelled_service_gets_one_annotation() {
    let pg = playground_spec(
        "labels",
        r#"
  services:
  - {name: el_healthmon, image: i, labels: {b: "2", a: "1"}}
  - {name: plain, image: i}
  - {name: beacon, image: i, labels: {metrics_path: /metrics}}
"#,
    );
    let r = render_ok(&pg);
    assert_eq!(
        json_of(&r.annotations),
        json!({
            "labels.playground.flashbots.io/beacon": r#"{"metrics_path":"/metrics"}"#,
            "labels.playground.flashbots.io/el-healthmon": r#"{"a":"1","b":"2"}"#
        })
    );
}

#[test]
fn an_old_api_server_without_dependencies_gets_no_warning() {
    let options = RenderOptions { native_sidecars: false, ..Default::default() };
    let independent = playground_spec(
        "old",
        r#"
  services: [{name: a, image: i}, {name: b, image: i}]
"#,
    );
    let r = render(&independent, &options).unwrap();
    assert_eq!((r.warnings.len(), r.start_order_enforced), (0, false));
    let mut dependent = independent.clone();
    dependent.spec.services[1].dependencies =
        vec![bp_generator::api::DependencySpec { name: "a".into(), ..Default::default() }];
    let r = render(&dependent, &options).unwrap();
    assert_eq!(
        r.warnings,
        ["the API server predates native sidecars (Kubernetes 1.29): dependencies are not enforced as start order"]
    );
}

// ---- Mounts ---------------------------------------------------------------------------

#[test]
fn the_artifacts_volume_at_its_own_path_is_mounted_once() {
    let pg = playground_spec(
        "pr120",
        r#"
  services: [{name: a, image: i, volumes: [{name: artifacts, mountPath: /artifacts}]}]
"#,
    );
    let mounts = container(&render_ok(&pg), "a").volume_mounts.clone().unwrap();
    assert_eq!(json_of(&mounts), json!([{"mountPath": "/artifacts", "name": "artifacts"}]));
}

#[test]
fn nothing_else_may_be_mounted_at_the_artifacts_directory() {
    let spec = |mount: &str| playground_spec("clash", &format!("  services: [{{name: a, image: i, {mount}}}]"));
    assert_eq!(
        render_err(&spec("files: [{artifact: genesis.json, mountPath: /artifacts}]")),
        r#"service "a": files[0].mountPath: /artifacts is where the artifacts directory is mounted; choose another path"#
    );
    assert_eq!(
        render_err(&spec("volumes: [{name: data, mountPath: /artifacts/}]")),
        r#"service "a": volumes[0].mountPath: /artifacts is where the artifacts directory is mounted; choose another path"#
    );
    assert_eq!(
        render_err(&spec("volumes: [{name: artifacts, mountPath: /artifacts, subPath: testnet}]")),
        r#"service "a": volumes[0].mountPath: /artifacts is where the artifacts directory is mounted; choose another path"#,
        "a part of the storage is not the storage"
    );
}

#[test]
fn storage_kinds_and_a_generated_subdirectory() {
    let mut pg = playground_spec(
        "st",
        r#"
  storage: {type: pvc}
  services:
  - name: a
    image: i
    files: [{artifact: genesis.json, mountPath: /g.json}]
    volumes: [{name: artifacts, mountPath: /all}, {name: artifacts, mountPath: /t, subPath: testnet}]
"#,
    );
    let options = RenderOptions { artifacts_subdir: Some("gen-1".into()), ..Default::default() };
    let r = render(&pg, &options).unwrap();
    assert_eq!(
        json_of(&r.pod_spec.volumes),
        json!([{"name": "artifacts", "persistentVolumeClaim": {"claimName": "st-artifacts"}}])
    );
    assert_eq!(
        json_of(&container(&r, "a").volume_mounts),
        json!([
            {"mountPath": "/artifacts", "name": "artifacts", "subPath": "gen-1"},
            {"mountPath": "/g.json", "name": "artifacts", "subPath": "gen-1/genesis.json"},
            {"mountPath": "/all", "name": "artifacts", "subPath": "gen-1"},
            {"mountPath": "/t", "name": "artifacts", "subPath": "gen-1/testnet"}
        ])
    );
    pg.spec.storage = None;
    pg.metadata.namespace = None;
    let volumes = render_ok(&pg).pod_spec.volumes.unwrap();
    assert_eq!(
        json_of(&volumes[0].host_path),
        json!({"path": "/data/builder-playground/default/st", "type": "DirectoryOrCreate"}),
        "local-path under the default root, in namespace default"
    );
}

// ---- Converter --------------------------------------------------------------------------

fn convert(json: Value) -> manifest::Converted {
    manifest::convert(&manifest::parse(&json.to_string()).expect("parses"), &ConvertOptions::default())
        .unwrap_or_else(|e| panic!("convert: {e}"))
}

#[test]
fn the_converter_keeps_recipe_and_bootnode() {
    let pg = convert_json(&fixture(OPSTACK_HEAD));
    assert_eq!(pg.spec.recipe.as_deref(), Some("opstack"));
    assert_eq!(pg.metadata.name.as_deref(), Some("opstack"), "named after the recipe");
    let boot = pg.spec.bootnode.as_ref().expect("the manifest's bootnode");
    assert_eq!(boot.service, "bootnode");
    assert_eq!(
        boot.id,
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
    );
    assert_eq!(convert_json(&fixture(L1_HEAD)).spec.bootnode, None);
}

#[test]
fn the_recipe_is_inferred_from_the_services() {
    let recipe = |names: &[&str]| {
        let services: Vec<Value> = names.iter().map(|n| json!({"name": n, "image": "i"})).collect();
        convert(json!({"services": services})).playground.spec.recipe.unwrap()
    };
    assert_eq!(recipe(&["el", "builder-hub-api"]), "buildernet");
    assert_eq!(recipe(&["op-node"]), "opstack");
    assert_eq!(recipe(&["op-geth"]), "opstack");
    assert_eq!(recipe(&["el", "beacon"]), "l1");
}

#[test]
fn zero_durations_and_retries_in_a_manifest_are_unset() {
    let check = |ready_check: Value| {
        let converted = convert(json!({"services": [{"name": "a", "image": "i", "ready_check": ready_check}]}));
        json_of(&converted.playground.spec.services[0].ready_check)
    };
    assert_eq!(
        check(json!({"test": ["CMD", "true"], "interval": 0, "timeout": 0, "start_period": 0, "retries": 0})),
        json!({"test": ["CMD", "true"]})
    );
    assert_eq!(
        check(
            json!({"test": ["CMD", "true"], "interval": 1, "timeout": 1_000_000_000u64, "start_period": 1500000, "retries": 1})
        ),
        json!({"test": ["CMD", "true"], "interval": "1ns", "timeout": "1s", "startPeriod": "1.5ms", "retries": 1})
    );
    assert_eq!(
        check(json!({"query_url": "http://localhost:1/", "retries": 9_000_000_000i64})),
        json!({"queryURL": "http://localhost:1/", "retries": i32::MAX}),
        "retries past int32 are as good as forever"
    );
}

#[test]
fn a_host_binary_with_an_image_runs_as_a_container_with_a_warning() {
    let converted = convert(
        json!({"services": [{"name": "op-rbuilder", "image": "rbuilder", "host_path": "/usr/bin/op-rbuilder"}]}),
    );
    assert_eq!(
        converted.warnings,
        [
            r#"service "op-rbuilder" runs on the host in builder-playground; it runs as a container of image rbuilder here"#
        ]
    );
    assert!(convert(json!({"services": [{"name": "a", "image": "i"}]})).warnings.is_empty());
}

#[test]
fn the_image_reference_carries_a_tag_only_when_there_is_one() {
    let service = |tag: Option<&str>| bp_generator::api::ServiceSpec {
        name: "el".into(),
        image: "ghcr.io/paradigmxyz/reth".into(),
        tag: tag.map(str::to_owned),
        ..Default::default()
    };
    assert_eq!(service(Some("v1.9.3")).image_ref(), "ghcr.io/paradigmxyz/reth:v1.9.3");
    assert_eq!(service(Some("")).image_ref(), "ghcr.io/paradigmxyz/reth");
    assert_eq!(service(None).image_ref(), "ghcr.io/paradigmxyz/reth");
}
