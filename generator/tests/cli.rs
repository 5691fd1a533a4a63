//! The `bp-generator` CLI as users run it: outputs, the committed CRD, PR #120 compatibility,
//! and bad input (one line naming file, service and field; exit code 2; nothing on stdout).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use k8s_openapi::api::core::v1::Pod;

fn bp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bp-generator")).args(args).output().expect("run bp-generator")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_temp(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `crds/` is the output of `bp-generator crd`; this fails when the types drift from it.
#[test]
fn committed_crd_matches_the_types() {
    let out = bp(&["crd"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(repo_path("crds/builderplaygrounds.playground.flashbots.io.yaml")).unwrap();
    assert!(
        stdout(&out) == committed,
        "crds/ is stale: run `cargo run -p bp-generator -- crd > crds/builderplaygrounds.playground.flashbots.io.yaml`"
    );
}

/// The CRD of DESIGN §3: names, short name, status subresource, printer columns, conditions
/// keyed by type, and a description on every field.
#[test]
fn crd_shape() {
    let crd: serde_json::Value = serde_yaml_ng::from_str(&stdout(&bp(&["crd"]))).unwrap();
    assert_eq!(crd["spec"]["group"], "playground.flashbots.io");
    assert_eq!(crd["spec"]["names"]["plural"], "builderplaygrounds");
    assert_eq!(crd["spec"]["names"]["shortNames"], serde_json::json!(["bp"]));
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
    let columns: Vec<&str> =
        version["additionalPrinterColumns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["Recipe", "Phase", "Ready", "Age", "RPC", "Expires"]);
    let rpc = &version["additionalPrinterColumns"][4];
    assert_eq!((rpc["jsonPath"].as_str(), rpc["priority"].as_i64()), (Some(".status.rpcURL"), Some(1)), "-o wide only");
    // Status lists of named subobjects, as the Kubernetes API conventions want them.
    let status = &version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
    for (list, keys) in [
        (&status["serviceStatuses"], serde_json::json!(["name"])),
        (&status["serviceStatuses"]["items"]["properties"]["ports"], serde_json::json!(["name"])),
        (&status["endpoints"], serde_json::json!(["service", "port"])),
    ] {
        assert_eq!(list["type"], "array");
        assert_eq!(list["x-kubernetes-list-type"], "map");
        assert_eq!(list["x-kubernetes-list-map-keys"], keys);
        let required = list["items"]["required"].as_array().unwrap();
        assert!(keys.as_array().unwrap().iter().all(|k| required.contains(k)), "keys are required: {list}");
    }
    let expires = &version["additionalPrinterColumns"][5];
    assert_eq!((expires["jsonPath"].as_str(), expires["priority"].as_i64()), (Some(".status.expiresAt"), Some(1)));
    let schema = &version["schema"]["openAPIV3Schema"];
    let conditions = &schema["properties"]["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(conditions["x-kubernetes-list-map-keys"], serde_json::json!(["type"]));
    let mut undocumented = Vec::new();
    walk_properties(&schema["properties"]["spec"], "spec", &mut |path, prop| {
        if prop.get("description").and_then(|d| d.as_str()).is_none_or(str::is_empty) {
            undocumented.push(path.to_owned());
        }
    });
    walk_properties(&schema["properties"]["status"], "status", &mut |path, prop| {
        if prop.get("description").and_then(|d| d.as_str()).is_none_or(str::is_empty) {
            undocumented.push(path.to_owned());
        }
    });
    assert!(undocumented.is_empty(), "fields without a description: {undocumented:?}");
}

/// Calls `f` for every property below `schema` (our own types only: embedded Kubernetes types
/// carry their own documentation).
fn walk_properties(schema: &serde_json::Value, path: &str, f: &mut dyn FnMut(&str, &serde_json::Value)) {
    const EMBEDDED: [&str; 3] = ["resources", "tolerations", "affinity"];
    let node = if schema["type"] == "array" { &schema["items"] } else { schema };
    if let Some(props) = node["properties"].as_object() {
        for (name, prop) in props {
            let child = format!("{path}.{name}");
            f(&child, prop);
            if !EMBEDDED.contains(&name.as_str()) {
                walk_properties(prop, &child, f);
            }
        }
    }
}

/// Every field of PR #120's CRD spec exists in ours with the same type, and its enum values
/// are accepted.
#[test]
fn pr120_crd_fields_are_a_subset() {
    let theirs: serde_json::Value =
        serde_yaml_ng::from_str(&fixture("pr120-crd-BuilderPlaygroundDeployment.yaml")).unwrap();
    let ours: serde_json::Value = serde_yaml_ng::from_str(&stdout(&bp(&["crd"]))).unwrap();
    let their_spec = &theirs["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let our_spec = &ours["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let mut checked = 0;
    compare(their_spec, our_spec, "spec", &mut checked);
    assert!(checked > 30, "only {checked} fields compared");
}

fn compare(theirs: &serde_json::Value, ours: &serde_json::Value, path: &str, checked: &mut usize) {
    let their_type = theirs["type"].as_str().unwrap_or("");
    let our_type = ours["type"].as_str().unwrap_or("");
    assert_eq!(their_type, our_type, "{path}: type");
    *checked += 1;
    if let Some(values) = theirs["enum"].as_array() {
        let our_values = ours["enum"].as_array().unwrap_or_else(|| panic!("{path}: our schema has no enum"));
        for v in values {
            assert!(our_values.contains(v), "{path}: enum value {v} not accepted");
        }
    }
    if their_type == "array" {
        compare(&theirs["items"], &ours["items"], &format!("{path}[]"), checked);
    }
    if let Some(props) = theirs["properties"].as_object() {
        for (name, prop) in props {
            let our_prop = &ours["properties"][name];
            assert!(our_prop.is_object(), "{path}.{name}: missing in our CRD");
            compare(prop, our_prop, &format!("{path}.{name}"), checked);
        }
    }
}

/// A spec written for PR #120's BuilderPlaygroundDeployment renders as is.
#[test]
fn pr120_spec_renders_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(
        dir.path(),
        "pr120.yaml",
        r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlaygroundDeployment
metadata:
  name: builder-playground-l1
spec:
  recipe: l1
  storage: {type: local-path, path: /data/builder-playground}
  network: {name: ethplayground}
  services:
  - name: el
    image: ghcr.io/paradigmxyz/reth
    tag: v1.3.1
    entrypoint: [/usr/local/bin/reth]
    args: [node, --chain, "{{.Dir}}/genesis.json", --authrpc.jwtsecret, "{{.Dir}}/jwtsecret", --authrpc.port, '{{Port "authrpc" 8551}}']
    ports:
    - {name: authrpc, port: 8551, protocol: tcp, hostPort: 0}
    volumes:
    - {name: artifacts, mountPath: /artifacts}
  - name: beacon
    image: sigp/lighthouse
    tag: v7.0.0-beta.0
    entrypoint: [lighthouse]
    args: [bn, --execution-endpoint, '{{Service "el" "authrpc" "http"}}']
    ports:
    - {name: http, port: 3500, protocol: tcp}
    readyCheck: {queryURL: "http://localhost:3500/eth/v1/node/syncing", interval: 1s, timeout: 30s, retries: 3, startPeriod: 1s}
    labels: {service: beacon}
    useHostExecution: false
    volumes:
    - {name: artifacts, mountPath: /artifacts}
  - name: validator
    image: sigp/lighthouse
    tag: v7.0.0-beta.0
    entrypoint: [lighthouse]
    args: [vc, --beacon-nodes, '{{Service "beacon" "http" "http"}}']
    dependencies:
    - {name: beacon, condition: healthy}
    volumes:
    - {name: artifacts, mountPath: /artifacts}
"#,
    );
    let out = bp(&["render", "-f", &file, "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pod: Pod = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(pod.metadata.name.as_deref(), Some("builder-playground-l1"));
    let spec = pod.spec.unwrap();
    let all: Vec<_> = spec.init_containers.iter().flatten().chain(spec.containers.iter()).collect();
    let beacon = all.iter().find(|c| c.name == "beacon").unwrap();
    assert_eq!(beacon.args.as_ref().unwrap()[2], "http://localhost:8551");
    let el = all.iter().find(|c| c.name == "el").unwrap();
    assert_eq!(el.args.as_ref().unwrap()[2], "/artifacts/genesis.json");
    let mounts: Vec<&str> = el.volume_mounts.iter().flatten().map(|m| m.mount_path.as_str()).collect();
    assert_eq!(mounts, ["/artifacts"], "PR #120's artifacts volume is the storage itself, mounted once");
    assert!(beacon.startup_probe.is_some(), "validator waits for beacon to be healthy");
}

#[test]
fn render_examples() {
    for example in ["examples/l1.yaml", "examples/opstack.yaml"] {
        let path = repo_path(example);
        let out = bp(&["render", "-f", path.to_str().unwrap()]);
        assert!(out.status.success(), "{example}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{example} renders without warnings: {}", stderr(&out));
        let pod: Pod = serde_yaml_ng::from_str(&stdout(&out)).unwrap();
        let spec = pod.spec.unwrap();
        let count = spec.init_containers.iter().flatten().count() + spec.containers.len();
        assert_eq!(count, if example.contains("l1") { 6 } else { 10 }, "{example}");
    }
    // For an API server without native sidecars: every service a regular container, and why.
    let out = bp(&["render", "-f", repo_path("examples/l1.yaml").to_str().unwrap(), "--no-native-sidecars"]);
    let pod: Pod = serde_yaml_ng::from_str(&stdout(&out)).unwrap();
    let spec = pod.spec.unwrap();
    assert_eq!((spec.init_containers, spec.containers.len()), (None, 6));
    assert_eq!(
        stderr(&out),
        "warning: the API server predates native sidecars (Kubernetes 1.29): dependencies are not enforced as start order\n"
    );
}

/// Converting each fixture gives a BuilderPlayground that renders.
#[test]
fn convert_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    for name in ALL_MANIFESTS {
        let out = bp(&[
            "convert",
            fixture_path(name).to_str().unwrap(),
            "--name",
            "x",
            "--namespace",
            "ns",
            "--storage-type",
            "pvc",
            "--storage-size",
            "20Gi",
        ]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let pg: bp_generator::BuilderPlayground = serde_yaml_ng::from_str(&stdout(&out)).unwrap();
        assert_eq!(pg.metadata.name.as_deref(), Some("x"));
        assert_eq!(pg.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(pg.spec.storage.as_ref().unwrap().size.as_deref(), Some("20Gi"));
        let file = write_temp(dir.path(), "pg.yaml", &stdout(&out));
        let rendered = bp(&["render", "-f", &file]);
        assert!(rendered.status.success(), "{name}: {}", stderr(&rendered));
    }
    let out = bp(&["convert", fixture_path(OPSTACK_2025).to_str().unwrap()]);
    assert!(stderr(&out).contains("warning: service \"rollup-boost\" args[11] refers to host.docker.internal"));
}

/// Each storage flag alone makes `spec.storage`, with only what it says.
#[test]
fn each_storage_flag_alone_sets_the_storage() {
    let manifest = fixture_path(L1_HEAD);
    for (flag, value, expected) in [
        ("--storage-type", "local-path", serde_json::json!({"type": "local-path"})),
        ("--storage-type", "ephemeral", serde_json::json!({"type": "ephemeral"})),
        ("--storage-path", "/srv/bp", serde_json::json!({"path": "/srv/bp"})),
        ("--storage-class", "fast", serde_json::json!({"storageClass": "fast"})),
        ("--storage-size", "5Gi", serde_json::json!({"size": "5Gi"})),
    ] {
        let out = bp(&["convert", manifest.to_str().unwrap(), flag, value]);
        assert!(out.status.success(), "{flag}: {}", stderr(&out));
        let pg: serde_json::Value = serde_yaml_ng::from_str(&stdout(&out)).unwrap();
        assert_eq!(pg["spec"]["storage"], expected, "{flag} {value}");
    }
    let out = bp(&["convert", manifest.to_str().unwrap()]);
    let pg: serde_json::Value = serde_yaml_ng::from_str(&stdout(&out)).unwrap();
    assert_eq!(pg["spec"].get("storage"), None, "no flag, no storage");
}

/// Each kind of bad input: one line on stderr naming the file (and the service and field where
/// there is one), exit code 2, nothing on stdout.
#[test]
fn bad_input_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(repo_path("examples/l1.yaml")).unwrap();
    let mutate = |from: &str, to: &str| {
        assert!(example.contains(from), "example lacks {from:?}");
        example.replacen(from, to, 1)
    };
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("malformed.yaml", "spec: [unclosed".into(), vec!["not YAML"]),
        (
            "unknown-fn.yaml",
            mutate(r#"'{{Port "rpc" 30303}}'"#, "'{{Foo}}'"),
            vec![r#"service "el""#, "args[", r#"unknown template function "Foo""#],
        ),
        (
            "malformed-action.yaml",
            mutate(r#"'{{Port "rpc" 30303}}'"#, "'{{Port \"rpc\"'"),
            vec![r#"service "el""#, "args[", "unclosed action"],
        ),
        (
            "missing-service.yaml",
            mutate(r#"{{Service "el" "authrpc" "http" ""}}"#, r#"{{Service "nope" "authrpc" "http" ""}}"#),
            vec![r#"service "beacon""#, "args[", r#"unknown service "nope""#],
        ),
        (
            "missing-port.yaml",
            mutate(r#"{{Service "el" "authrpc" "http" ""}}"#, r#"{{Service "el" "nope" "http" ""}}"#),
            vec![r#"service "beacon""#, r#"has no port "nope""#],
        ),
        (
            "unknown-dep.yaml",
            mutate("- name: beacon_healthmon\n      condition: healthy", "- name: ghost\n      condition: healthy"),
            vec![r#"service "mev-boost-relay""#, "dependencies[0].name", r#"unknown service "ghost""#],
        ),
        (
            "duplicate-service.yaml",
            mutate("- name: validator", "- name: beacon"),
            vec![r#"service "beacon""#, "name: duplicate service name"],
        ),
        (
            "bad-name.yaml",
            mutate("- name: validator", "- name: Validator!"),
            vec![r#"service "Validator!""#, "cannot become a container name"],
        ),
        (
            "port-range.yaml",
            mutate("port: 5555", "port: 70000"),
            vec![r#"service "mev-boost-relay""#, "ports[0].port", "out of range"],
        ),
        (
            "duplicate-port.yaml",
            mutate("  - name: ws\n", "  - name: http\n"),
            vec![r#"service "el""#, "duplicate port name \"http\""],
        ),
        (
            "empty-image.yaml",
            mutate("image: sigp/lighthouse", "image: ''"),
            vec![r#"service "beacon""#, "image: the image is empty"],
        ),
        (
            "ephemeral-generate.yaml",
            mutate("  generate: {}\n", "  generate: {image: bp}\n  storage: {type: ephemeral}\n"),
            vec!["spec.storage.type", "ephemeral"],
        ),
        ("wrong-kind.yaml", mutate("kind: BuilderPlayground", "kind: Pod"), vec!["kind is \"Pod\""]),
        ("bad-field-type.yaml", mutate("tag: v1.9.3", "tag: [1]"), vec!["invalid BuilderPlayground", "tag"]),
    ];
    for (name, content, wants) in cases {
        let file = write_temp(dir.path(), name, &content);
        let out = bp(&["render", "-f", &file]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}: stdout not empty");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.starts_with(&format!("bp-generator: {file}: ")), "{name}: {err}");
        for want in wants {
            assert!(err.contains(want), "{name}: {err:?} lacks {want:?}");
        }
    }
    let cycle = example.replacen(
        "  - name: beacon_healthmon\n",
        "  - name: beacon_healthmon\n    dependencies: [{name: mev-boost-relay}]\n",
        1,
    );
    let file = write_temp(dir.path(), "cycle.yaml", &cycle);
    let out = bp(&["render", "-f", &file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            r#"service "beacon_healthmon": dependencies: dependency cycle among beacon_healthmon, mev-boost-relay"#
        ),
        "{}",
        stderr(&out)
    );

    for (name, content, want) in [
        ("bad.json", "{\"services\": [", "not a builder-playground manifest"),
        ("noservices.json", "{\"session_id\": \"x\"}", "missing field `services`"),
        (
            "lifecycle.json",
            r#"{"services":[{"name":"vm","args":[],"lifecycle_hooks":true}]}"#,
            "service \"vm\": lifecycle_hooks",
        ),
        (
            "badref.json",
            r#"{"services":[{"name":"a","image":"i","args":["{{Service \"b\" \"http\" \"http\" \"\"}}"]}]}"#,
            "service \"a\": args[0]: template refers to unknown service \"b\"",
        ),
    ] {
        let file = write_temp(dir.path(), name, content);
        let out = bp(&["convert", &file]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr(&out).lines().count(), 1, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{name}: {}", stderr(&out));
    }
    let out = bp(&["render", "-f", "/nonexistent/x.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("bp-generator: /nonexistent/x.yaml: cannot read"));
}

/// builder-playground's output folder of `start l1 --dry-run` (real, c473a6a), with its
/// manifest.json inside, in a temporary directory.
fn l1_output_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_path("real-c473a6a");
    copy_dir(&fixture.join("l1-artifacts"), dir.path());
    std::fs::copy(fixture.join("l1-default.manifest.json"), dir.path().join("manifest.json")).unwrap();
    dir
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

fn docs(yaml: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(yaml).map(|d| serde_json::Value::deserialize(d).unwrap()).collect()
}

/// `convert OUTPUT_DIR`: the artifacts as Secrets first, then the playground naming them
/// with the bundle's digest; the same folder gives the same output; what the Secrets hold
/// unpacks to the folder's files (less manifest.json and the JWT).
#[test]
fn convert_an_output_folder_packs_its_artifacts_into_secrets() {
    let folder = l1_output_folder();
    let path = folder.path().to_str().unwrap();
    let out = bp(&["convert", path, "--name", "l1", "--namespace", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("jwtsecret is not packed"), "{}", stderr(&out));
    let objects = docs(&stdout(&out));
    let kinds: Vec<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Secret", "BuilderPlayground"], "the Secrets come first");
    let (secret, pg) = (&objects[0], &objects[1]);
    assert_eq!(secret["metadata"]["name"], "l1-artifacts-0");
    assert_eq!(secret["metadata"]["namespace"], "dev");
    assert_eq!(pg["spec"]["artifacts"]["secrets"], serde_json::json!(["l1-artifacts-0"]));
    let digest = pg["spec"]["artifacts"]["digest"].as_str().unwrap();
    let secret_obj: k8s_openapi::api::core::v1::Secret = serde_json::from_value(secret.clone()).unwrap();
    let part = secret_obj.data.unwrap()["bundle.part"].0.clone();
    assert_eq!(bp_generator::bundle::digest(&part), digest);
    assert!(part.len() < 100_000, "the real l1 folder compresses to {} bytes", part.len());
    // Unpacked, the files are the folder's, byte for byte.
    let storage = tempfile::tempdir().unwrap();
    let bp_generator::bundle::Unpacked::Written(dir, files) =
        bp_generator::bundle::unpack(&part, digest, storage.path()).unwrap()
    else {
        panic!("fresh storage")
    };
    let fixture = fixture_path("real-c473a6a/l1-artifacts");
    assert_eq!(std::fs::read(dir.join("genesis.json")).unwrap(), std::fs::read(fixture.join("genesis.json")).unwrap());
    assert_eq!(
        std::fs::read(dir.join("testnet/genesis.ssz")).unwrap(),
        std::fs::read(fixture.join("testnet/genesis.ssz")).unwrap()
    );
    assert!(!dir.join("jwtsecret").exists() && !dir.join("manifest.json").exists());
    assert!(files > 80, "{files} files");
    // Deterministic: the same folder, the same stream (so re-applying changes nothing).
    assert_eq!(stdout(&bp(&["convert", path, "--name", "l1", "--namespace", "dev"])), stdout(&out));
    // The Pod it renders unpacks first and mounts the files from the bundle's directory.
    let pg_file = write_temp(storage.path(), "pg.yaml", &serde_yaml_ng::to_string(pg).unwrap());
    let pod: Pod = serde_yaml_ng::from_str(&stdout(&bp(&["render", "-f", &pg_file]))).unwrap();
    let spec = pod.spec.unwrap();
    let first = &spec.init_containers.as_ref().unwrap()[0];
    assert_eq!(first.name, "bp-unpack-artifacts");
    assert_eq!(first.args.as_ref().unwrap()[..3], ["unpack".to_owned(), "--digest".into(), digest.to_owned()]);
    let el = spec.init_containers.iter().flatten().chain(&spec.containers).find(|c| c.name == "el").unwrap();
    let genesis = el.volume_mounts.iter().flatten().find(|m| m.mount_path == "/data/genesis.json").unwrap();
    assert_eq!(
        genesis.sub_path.as_deref(),
        Some(format!("{}/genesis.json", bp_generator::bundle::subdir(digest)).as_str())
    );
    // JSON output: one List.
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&bp(&["convert", path, "--name", "l1", "-o", "json"]))).unwrap();
    assert_eq!(json["kind"], "List");
    assert_eq!(json["items"].as_array().unwrap().len(), 2);
}

#[test]
fn a_bad_output_folder_is_one_line_and_exit_code_2() {
    let empty = tempfile::tempdir().unwrap();
    let out = bp(&["convert", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("manifest.json") && err.contains("output folder"), "{err}");

    let folder = l1_output_folder();
    std::os::unix::fs::symlink("/etc/hostname", folder.path().join("testnet/link")).unwrap();
    let out = bp(&["convert", folder.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("testnet/link") && err.contains("symbolic link"), "{err}");
}

/// `unpack`, the Pod's first step: a missing part or another digest is one line, exit 2,
/// and nothing is unpacked.
#[test]
fn unpack_refuses_missing_or_changed_parts() {
    let parts = tempfile::tempdir().unwrap();
    let storage = tempfile::tempdir().unwrap();
    std::fs::write(parts.path().join("part-000"), b"bundle bytes").unwrap();
    let good = bp_generator::bundle::digest(b"bundle bytes");
    let run = |digest: &str, secrets: &str| {
        bp(&[
            "unpack",
            "--digest",
            digest,
            "--secrets",
            secrets,
            "--parts",
            parts.path().to_str().unwrap(),
            "--storage",
            storage.path().to_str().unwrap(),
        ])
    };
    let out = run(&good, "a-0,a-1");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "bp-generator: unpack: artifacts bundle part 1 (Secret a-1, key bundle.part) is missing"
    );
    let out = run(&format!("sha256:{}", "0".repeat(64)), "a-0");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("a Secret changed since it was made"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(storage.path()).unwrap().count(), 0, "nothing unpacked");
}
