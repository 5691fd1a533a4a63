//! SPEC §8, parts A (parsing), B (template resolution) and C (PodSpec shape), with the exact
//! expected strings and numbers, on the real fixtures in ../shared/fixtures.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use bp_generator::api::{DependencyCondition, Protocol};
use bp_generator::manifest::{self, ConvertOptions};
use bp_generator::{RenderOptions, render};
use common::*;

const BOOTNODE_ID: &str = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
const RELAY_PUBKEY: &str =
    "0xa1885d66bef164889a2e35845c3b626545d7b0e513efe335e97c3a45e534013fa3bc38c3b7e6143695aecc4872ac52c4";

// ---- A. Parsing -------------------------------------------------------------------------

/// A1: the 2025-05 l1 manifest (old casing, string volumes, component_name) and the HEAD l1
/// manifest (session_id, object volumes, Name/Condition) parse to the same logical model for
/// the services they share.
#[test]
fn a1_old_and_head_l1_parse_to_the_same_model() {
    let old = manifest::parse(&fixture(L1_2025)).unwrap();
    let head = manifest::parse(&fixture(L1_HEAD)).unwrap();
    assert_eq!(old.session_id, "");
    assert_eq!(head.session_id, "derived-l1");
    let names = |m: &manifest::Manifest| m.services.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&old), ["el", "beacon", "validator", "mev-boost"]);
    assert_eq!(names(&head), ["el", "el_healthmon", "beacon", "beacon_healthmon", "validator", "mev-boost-relay"]);
    let ports = |s: &manifest::Service| {
        s.ports.iter().map(|p| (p.name.clone(), p.port, p.protocol.clone())).collect::<Vec<_>>()
    };
    let old_el = ports(&old.services[0]);
    let head_el = ports(&head.services[0]);
    assert_eq!(old_el.len(), 4, "reth v1.3.1 had no ws port");
    assert!(old_el.iter().all(|p| head_el.contains(p)), "{old_el:?} within {head_el:?}");
    for svc in ["el", "beacon"] {
        let a = old.services.iter().find(|s| s.name == svc).unwrap();
        let b = head.services.iter().find(|s| s.name == svc).unwrap();
        if svc != "el" {
            assert_eq!(ports(a), ports(b), "{svc} ports");
        }
        assert_eq!(a.files_mapped, b.files_mapped, "{svc} files");
        let vols = |s: &manifest::Service| {
            s.volumes_mapped.iter().map(|(k, v)| (k.clone(), v.name().to_owned())).collect::<Vec<_>>()
        };
        assert_eq!(vols(a), vols(b), "{svc} volumes (string form vs object form)");
    }
    // Name/Condition and durations in nanoseconds.
    let relay = head.services.iter().find(|s| s.name == "mev-boost-relay").unwrap();
    assert_eq!(relay.depends_on[0].name, "beacon_healthmon");
    assert_eq!(relay.depends_on[0].condition, "service_healthy");
    let pg = convert_json(&fixture(L1_HEAD));
    let hm = pg.spec.services.iter().find(|s| s.name == "el_healthmon").unwrap();
    let check = hm.ready_check.as_ref().unwrap();
    assert_eq!(check.interval.as_deref(), Some("1s"));
    assert_eq!(check.timeout.as_deref(), Some("10m0s"));
    assert_eq!(check.retries, Some(20));
    let relay = pg.spec.services.iter().find(|s| s.name == "mev-boost-relay").unwrap();
    assert_eq!(relay.dependencies[0].condition, DependencyCondition::Healthy);
}

/// A2: new and legacy port key casing.
#[test]
fn a2_port_key_casings() {
    let new: manifest::Port =
        serde_json::from_str(r#"{"name":"p2p","port":9000,"Protocol":"udp","HostPort":0}"#).unwrap();
    let old: manifest::Port =
        serde_json::from_str(r#"{"Name":"p2p","Port":9000,"Protocol":"udp","HostPort":0}"#).unwrap();
    assert_eq!(new, old);
    assert_eq!((new.name.as_str(), new.port, new.protocol.as_str()), ("p2p", 9000, "udp"));
}

/// A3: a template or dependency naming a missing service or port is rejected, no panic.
#[test]
fn a3_missing_service_or_port_is_rejected() {
    let mut json: serde_json::Value = serde_json::from_str(&fixture(L1_HEAD)).unwrap();
    json["services"][2]["args"][34] = serde_json::json!("{{Service \"nope\" \"authrpc\" \"http\" \"\"}}");
    let err = render(&convert_json(&json.to_string()), &RenderOptions::default()).unwrap_err().to_string();
    assert_eq!(err, r#"service "beacon": args[34]: template refers to unknown service "nope""#);

    json["services"][2]["args"][34] = serde_json::json!("{{Service \"el\" \"nope\" \"http\" \"\"}}");
    let err = render(&convert_json(&json.to_string()), &RenderOptions::default()).unwrap_err().to_string();
    assert_eq!(err, r#"service "beacon": args[34]: service "el" has no port "nope""#);
}

// ---- B. Template resolution ---------------------------------------------------------------

/// B4: l1 HEAD.
#[test]
fn b4_l1_head_resolution() {
    let r = render_fixture(L1_HEAD);
    let beacon = container(&r, "beacon");
    assert_eq!(arg_after(beacon, "--execution-endpoint"), "http://localhost:8551");
    assert_eq!(arg_after(beacon, "--builder"), "http://localhost:5555");
    assert_eq!(arg_after(beacon, "--enr-udp-port"), "9000");
    assert_eq!(arg_after(beacon, "--enr-tcp-port"), "9000");
    assert_eq!(arg_after(beacon, "--port"), "9000");
    assert_eq!(arg_after(container(&r, "validator"), "--beacon-nodes"), "http://localhost:3500");
    assert_eq!(arg_after(container(&r, "mev-boost-relay"), "--beacon-client-addr"), "http://localhost:3500");
    assert_eq!(arg_after(container(&r, "el"), "--metrics"), "0.0.0.0:9090");
}

/// B5: the 2025-05 l1 fixture, whose relay is named `mev-boost`.
#[test]
fn b5_l1_2025_resolution() {
    let r = render_fixture(L1_2025);
    assert_eq!(arg_after(container(&r, "beacon"), "--builder"), "http://localhost:5555");
    assert_eq!(arg_after(container(&r, "mev-boost"), "--validation-server-addr"), "http://localhost:8545");
}

/// B6: opstack HEAD: enode URLs, the op-geth shell script, op-batcher's hidden RPC port.
#[test]
fn b6_opstack_head_resolution() {
    let r = render_fixture(OPSTACK_HEAD);
    let enode = format!("enode://{BOOTNODE_ID}@127.0.0.1:30303");
    assert_eq!(arg_after(container(&r, "el"), "--bootnodes"), enode);
    let script = arg_after(container(&r, "op-geth"), "-c");
    for part in [
        "--http.port 8547 ",
        "--ws.port 8548 ",
        "--authrpc.port 8552 ",
        "--port 30305 ",
        &format!("--bootnodes {enode} "),
        "--metrics.port 6061",
        r#"--http.corsdomain "*""#,
    ] {
        assert!(script.contains(part), "op-geth script lacks {part:?}: {script}");
    }
    assert!(!script.contains("{{"), "{script}");
    assert_eq!(arg_after(container(&r, "op-node"), "--l2"), "http://localhost:8552");
    let batcher = container(&r, "op-batcher");
    assert_eq!(arg_after(batcher, "--l2-eth-rpc"), "http://localhost:8547");
    let rpc_flag: Vec<&String> = args(batcher).iter().filter(|a| a.starts_with("--rpc.port=")).collect();
    assert_eq!(rpc_flag, ["--rpc.port=8550"]);
    assert_eq!(port(&r, "op-batcher", "rpc"), 8550);
    assert_eq!(arg_after(container(&r, "el"), "--http.port"), "8545");
    // The worked example of SPEC §2.2.
    let table: Vec<(&str, &str, i32)> = vec![
        ("bootnode", "rpc", 30303),
        ("el", "rpc", 30304),
        ("el", "http", 8545),
        ("el", "ws", 8546),
        ("el", "authrpc", 8551),
        ("el", "metrics", 9090),
        ("op-geth", "http", 8547),
        ("op-geth", "ws", 8548),
        ("op-geth", "authrpc", 8552),
        ("op-geth", "rpc", 30305),
        ("op-geth", "metrics", 6061),
        ("op-node", "metrics", 7300),
        ("op-node", "http", 8549),
        ("op-node", "p2p", 9003),
        ("el_healthmon", "healthmon", 21171),
        ("beacon_healthmon", "healthmon", 21172),
        ("op-geth_healthmon", "healthmon", 21173),
    ];
    for (svc, name, want) in table {
        assert_eq!(port(&r, svc, name), want, "{svc}/{name}");
    }
    assert_eq!(port(&r, "op-node", "pprof"), 6060, "op-node's --pprof.enabled listener is declared");
    assert!(!args(container(&r, "op-node")).iter().any(|a| a.starts_with("--pprof.port")), "6060 is free: no flag");
}

/// B7: cbarbieru opstack 2025-07: rollup-boost between op-node and op-geth, an external builder.
#[test]
fn b7_opstack_2025_external_builder() {
    let r = render_fixture(OPSTACK_2025);
    let boost = container(&r, "rollup-boost");
    assert_eq!(arg_after(boost, "--rpc-port"), "8553");
    assert_eq!(arg_after(boost, "--l2-url"), "http://localhost:8552");
    assert_eq!(arg_after(boost, "--builder-url"), "http://host.docker.internal:4444");
    assert_eq!(arg_after(container(&r, "op-node"), "--l2"), "http://localhost:8553");
    for (name, want) in [("http", 8547), ("ws", 8548), ("authrpc", 8552), ("rpc", 30304)] {
        assert_eq!(port(&r, "op-geth", name), want, "op-geth {name}");
    }
    let warning = r.warnings.iter().find(|w| w.contains("host.docker.internal")).expect("a warning");
    assert!(warning.starts_with(r#"service "rollup-boost" args[11]"#), "{warning}");
}

/// B8: `--use-separate-mev-boost`: the relay URL carries the relay's BLS pubkey as user.
#[test]
fn b8_relay_user_form() {
    let pg = playground(&format!(
        r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {{name: l1}}
spec:
  services:
  - name: mev-boost
    image: flashbots/mev-boost
    tag: latest
    args: ["--relay", '{{{{Service "mev-boost-relay" "http" "http" "{RELAY_PUBKEY}"}}}}']
    env: {{GENESIS_FORK_VERSION: "0x20000089"}}
    ports: [{{name: http, port: 18550}}]
  - name: mev-boost-relay
    image: docker.io/flashbots/playground-utils
    entrypoint: [mev-boost-relay]
    args: ["--api-listen-port", '{{{{Port "http" 5555}}}}']
    ports: [{{name: http, port: 5555}}]
"#
    ));
    let r = render(&pg, &RenderOptions::default()).unwrap();
    assert_eq!(arg_after(container(&r, "mev-boost"), "--relay"), format!("http://{RELAY_PUBKEY}@localhost:5555"));
    assert_eq!(env(container(&r, "mev-boost"), "GENESIS_FORK_VERSION"), "0x20000089");
    assert!(container(&r, "mev-boost").command.is_none(), "no entrypoint, no command");
}

const BUILDERNET: &str = r#"{"services":[
 {"name":"builder-hub-db","args":[],"image":"docker.io/flashbots/builder-hub-db","tag":"0.3.1-alpha1",
  "env":{"PGUSER":"postgres","POSTGRES_DB":"postgres","POSTGRES_USER":"postgres","POSTGRES_PASSWORD":"postgres"},
  "ports":[{"name":"postgres","port":5432,"Protocol":"tcp","HostPort":0}],
  "ready_check":{"query_url":"","test":["CMD-SHELL","pg_isready"],"interval":5000000000,"start_period":2000000000,"timeout":5000000000,"retries":5}},
 {"name":"builder-hub-api","args":[],"image":"docker.io/flashbots/builder-hub","tag":"0.3.1-alpha1",
  "labels":{"health-check-sidecar":"builder-hub-api_readycheck"},
  "env":{"POSTGRES_DSN":"{{Service \"builder-hub-db\" \"postgres\" \"postgres\" \"postgres:postgres\"}}/postgres?sslmode=disable",
         "LISTEN_ADDR":"0.0.0.0:{{Port \"http\" 8080}}","ADMIN_ADDR":"0.0.0.0:{{Port \"admin\" 8081}}",
         "INTERNAL_ADDR":"0.0.0.0:{{Port \"internal\" 8082}}","METRICS_ADDR":"0.0.0.0:{{Port \"metrics\" 8090}}"},
  "depends_on":[{"Name":"builder-hub-db","Condition":"service_healthy"}],
  "ports":[{"name":"http","port":8080,"Protocol":"tcp","HostPort":0},{"name":"admin","port":8081,"Protocol":"tcp","HostPort":0},
           {"name":"internal","port":8082,"Protocol":"tcp","HostPort":0},{"name":"metrics","port":8090,"Protocol":"tcp","HostPort":0}]},
 {"name":"builder-hub-api_readycheck","args":["sleep","infinity"],"image":"alpine/curl","tag":"latest","ungraceful_shutdown":true,
  "ready_check":{"query_url":"","test":["CMD","curl","-f","http://builder-hub-api:8081/readyz"],"interval":1000000000,"start_period":0,"timeout":30000000000,"retries":30}},
 {"name":"builder-hub-proxy","args":[],"image":"docker.io/flashbots/builder-hub-mock-proxy","tag":"0.3.1-alpha1",
  "env":{"TARGET":"{{Service \"builder-hub-api\" \"http\" \"http\" \"\"}}"},
  "depends_on":[{"Name":"builder-hub-api_readycheck","Condition":"service_healthy"}],
  "ports":[{"name":"http","port":8888,"Protocol":"tcp","HostPort":0}]},
 {"name":"attested-tls-proxy","args":["--target","builder-hub-proxy:8888"],"image":"x/attested-tls-proxy","tag":"v1",
  "ports":[{"name":"http","port":8080,"Protocol":"tcp","HostPort":0}]}
]}"#;

/// B9: buildernet env values: the postgres user form and ports inside env templates.
#[test]
fn b9_buildernet_env() {
    let r = render_json(BUILDERNET);
    let api = container(&r, "builder-hub-api");
    assert_eq!(env(api, "POSTGRES_DSN"), "postgres://postgres:postgres@localhost:5432/postgres?sslmode=disable");
    assert_eq!(env(api, "LISTEN_ADDR"), "0.0.0.0:8080");
    assert_eq!(env(container(&r, "builder-hub-proxy"), "TARGET"), "http://localhost:8080");
}

/// B10: the legacy forms of PR #120-era specs.
#[test]
fn b10_legacy_forms() {
    let pg = playground(
        r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: legacy}
spec:
  services:
  - name: el
    image: reth
    args: ["--authrpc.jwtsecret", "{{.Dir}}/jwtsecret", "--authrpc.port", '{{Port "authrpc" 8551}}']
    ports: [{name: authrpc, port: 8551}]
  - name: beacon
    image: lighthouse
    args: ["--execution-endpoint", '{{Service "el" "authrpc" "http"}}', "--raw", '{{Service "el" "authrpc" ""}}']
"#,
    );
    let r = render(&pg, &RenderOptions::default()).unwrap();
    assert_eq!(arg_after(container(&r, "el"), "--authrpc.jwtsecret"), "/artifacts/jwtsecret");
    assert_eq!(arg_after(container(&r, "beacon"), "--execution-endpoint"), "http://localhost:8551");
    assert_eq!(arg_after(container(&r, "beacon"), "--raw"), "localhost:8551");
}

/// B11: an unknown function or a malformed action is a spec error naming service and field.
#[test]
fn b11_unknown_function_and_malformed_action() {
    let mut json: serde_json::Value = serde_json::from_str(&fixture(L1_HEAD)).unwrap();
    json["services"][0]["args"][12] = serde_json::json!("{{Foo \"x\"}}");
    json["services"][4]["env"] = serde_json::json!({"BAD": "{{Port \"http\""});
    let err = render(&convert_json(&json.to_string()), &RenderOptions::default()).unwrap_err();
    let lines: Vec<String> = err.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with(r#"service "el": args[12]: unknown template function "Foo""#), "{}", lines[0]);
    assert!(lines[1].starts_with(r#"service "validator": env["BAD"]: unclosed action"#), "{}", lines[1]);
}

// ---- C. PodSpec shape ---------------------------------------------------------------------

/// C12: container names and images.
#[test]
fn c12_containers_and_images() {
    let names = |name: &str| {
        let r = render_fixture(name);
        let mut all: Vec<String> = all_containers(&r).iter().map(|c| c.name.clone()).collect();
        let order: Vec<&String> = r.containers.values().collect();
        all.sort_by_key(|n| r.ports.services.iter().position(|s| &r.containers[&s.service] == n));
        assert_eq!(all.len(), order.len());
        (r, all)
    };
    let (r, all) = names(L1_HEAD);
    assert_eq!(all, ["el", "el-healthmon", "beacon", "beacon-healthmon", "validator", "mev-boost-relay"]);
    assert_eq!(container(&r, "el").image.as_deref(), Some("ghcr.io/paradigmxyz/reth:v1.9.3"));
    assert_eq!(container(&r, "beacon").image.as_deref(), Some("sigp/lighthouse:v8.1.0"));
    assert_eq!(
        container(&r, "mev-boost-relay").image.as_deref(),
        Some("docker.io/flashbots/playground-utils:cc6f172493d7ef6b88a5b7895f4b8619806c99f9")
    );
    let (_, all) = names(L1_2025);
    assert_eq!(all, ["el", "beacon", "validator", "mev-boost"]);
}

/// C13 and "done when": every fixture renders with no two containers sharing a (port,
/// protocol), port names valid (at most 15 characters) and unique in the whole Pod (the API
/// server warns about a name repeated across containers), and no template left anywhere.
#[test]
fn c13_ports_unique_names_valid_no_templates_left() {
    for name in ALL_MANIFESTS {
        let r = render_fixture(name);
        let mut seen = BTreeSet::new();
        let mut names = BTreeSet::new();
        for c in all_containers(&r) {
            for p in c.ports.iter().flatten() {
                let proto = p.protocol.clone().unwrap_or_default();
                assert!(
                    seen.insert((p.container_port, proto.clone())),
                    "{name}: {}:{} {proto} twice",
                    c.name,
                    p.container_port
                );
                let pn = p.name.clone().unwrap_or_default();
                assert!(bp_generator::names::is_iana_svc_name(&pn), "{name}: {}: port name {pn:?}", c.name);
                assert!(names.insert(pn.clone()), "{name}: {}: port name {pn:?} twice in the Pod", c.name);
            }
        }
        assert!(names.len() >= 5, "{name}: {} port names", names.len());
        for c in all_containers(&r) {
            let env_values = c.env.iter().flatten().filter_map(|e| e.value.as_ref());
            for s in c.args.iter().flatten().chain(c.command.iter().flatten()).chain(env_values) {
                assert!(!s.contains("{{") && !s.contains("}}"), "{name}: {}: template left in {s:?}", c.name);
            }
        }
    }
}

/// Container ports are named after their service and port: `http` of el, beacon and
/// mev-boost-relay no longer repeats, the udp twin ends in `-udp`, and a name past 15
/// characters keeps its start and ends in a hash.
#[test]
fn container_port_names_say_service_and_port() {
    let r = render_fixture(L1_HEAD);
    let names = |c: &str| -> Vec<(String, i32, String)> {
        container(&r, c)
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.clone().unwrap(), p.container_port, p.protocol.clone().unwrap()))
            .collect()
    };
    let el = names("el");
    assert!(el.contains(&("el-http".into(), 8545, "TCP".into())), "{el:?}");
    let beacon = names("beacon");
    assert!(beacon.contains(&("beacon-http".into(), 3500, "TCP".into())), "{beacon:?}");
    assert!(beacon.contains(&("beacon-p2p-udp".into(), 9000, "UDP".into())), "{beacon:?}");
    let relay = names("mev-boost-relay");
    assert_eq!(relay.len(), 1);
    assert!(relay[0].0.starts_with("mev-boost-") && relay[0].0.len() == 14, "{relay:?}");
    // The Pod's names are those of the port table, which status and the Service use.
    let table = r.ports.container_port_names();
    assert_eq!(table[&("mev-boost-relay".to_owned(), "http".to_owned(), Protocol::Tcp)], relay[0].0);
}

/// C14: command only from an entrypoint.
#[test]
fn c14_command_only_from_entrypoint() {
    let r = render_fixture(OPSTACK_2025);
    assert_eq!(container(&r, "rollup-boost").command, None);
    assert_eq!(container(&r, "op-geth").command, Some(vec!["/bin/sh".to_owned()]));
    assert_eq!(container(&r, "el").command, Some(vec!["/usr/local/bin/reth".to_owned()]));
}

/// C15: artifacts and files.
#[test]
fn c15_artifact_mounts() {
    let r = render_fixture(L1_HEAD);
    for c in all_containers(&r) {
        let m = c.volume_mounts.iter().flatten().find(|m| m.mount_path == "/artifacts");
        assert_eq!(m.map(|m| m.name.as_str()), Some("artifacts"), "{} mounts /artifacts", c.name);
    }
    let mount = |c: &str, path: &str| {
        container(&r, c)
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == path)
            .unwrap_or_else(|| panic!("{c} has no mount at {path}"))
            .clone()
    };
    let genesis = mount("el", "/data/genesis.json");
    assert_eq!((genesis.name.as_str(), genesis.sub_path.as_deref()), ("artifacts", Some("genesis.json")));
    let testnet = mount("beacon", "/data/testnet-dir");
    assert_eq!((testnet.name.as_str(), testnet.sub_path.as_deref()), ("artifacts", Some("testnet")));
    let validator = mount("validator", "/data/validator");
    assert_eq!(validator.sub_path.as_deref(), Some("data_validator"));
    assert_ne!(validator.read_only, Some(true), "lighthouse writes its slashing DB there");
    let jwt = mount("el", "/data/jwtsecret");
    assert_eq!((jwt.name.as_str(), jwt.sub_path.as_deref()), ("jwt", Some("jwtsecret")));
    let jwt_volume = r.pod_spec.volumes.iter().flatten().find(|v| v.name == "jwt").unwrap();
    assert_eq!(jwt_volume.secret.as_ref().unwrap().secret_name.as_deref(), Some("l1-jwt"));
}

/// C16: shared docker volumes are one volume; others are per service.
#[test]
fn c16_shared_volumes() {
    let mut json: serde_json::Value = serde_json::from_str(&fixture(L1_HEAD)).unwrap();
    json["services"].as_array_mut().unwrap().push(serde_json::json!({
        "name": "rbuilder", "args": ["run", "/data/rbuilder-config.toml"],
        "image": "ghcr.io/flashbots/rbuilder", "tag": "sha-7efdc0b",
        "volumes_mapped": {"/data_reth": {"Name": "shared:el-data", "IsLocal": true}},
        "depends_on": [{"Name": "el_healthmon", "Condition": "service_healthy"}]
    }));
    let r = render_json(&json.to_string());
    let vol = |c: &str, path: &str| {
        container(&r, c).volume_mounts.iter().flatten().find(|m| m.mount_path == path).unwrap().name.clone()
    };
    assert_eq!(vol("el", "/data_reth"), vol("rbuilder", "/data_reth"));
    assert_ne!(vol("el", "/data_reth"), vol("beacon", "/data_beacon"));
    let logs = vol("validator", "/data/validator/validators/logs");
    assert!(![vol("el", "/data_reth"), vol("beacon", "/data_beacon")].contains(&logs));
    let volume_names: Vec<&str> = r.pod_spec.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
    assert_eq!(volume_names.iter().filter(|v| **v == vol("el", "/data_reth")).count(), 1);
}

/// C17: every healthmon binds its own port and its probe asks that port.
#[test]
fn c17_healthmon_rebinding() {
    let r = render_fixture(OPSTACK_HEAD);
    let mut got = BTreeMap::new();
    for (name, want) in [("el-healthmon", 21171), ("beacon-healthmon", 21172), ("op-geth-healthmon", 21173)] {
        let c = container(&r, name);
        assert_eq!(arg_after(c, "--service.addr"), format!("127.0.0.1:{want}"));
        let probe = c.readiness_probe.as_ref().unwrap().exec.as_ref().unwrap().command.clone().unwrap();
        assert_eq!(probe, ["wget", "--spider", "--quiet", &format!("http://127.0.0.1:{want}/ready")]);
        got.insert(name, want);
        let ports: Vec<i32> = c.ports.iter().flatten().map(|p| p.container_port).collect();
        assert_eq!(ports, [want]);
    }
    assert_eq!(got.len(), 3);
}

/// C18: `_readycheck` sidecars fold into their owner's readiness probe.
#[test]
fn c18_readycheck_sidecars_fold() {
    let r = render_json(BUILDERNET);
    assert!(all_containers(&r).iter().all(|c| !c.name.contains("readycheck")));
    let probe = container(&r, "builder-hub-api").readiness_probe.clone().unwrap();
    // builder-playground's `curl URL`: any HTTP answer on the port counts (builder-hub's admin
    // port answers /readyz with 404), so a connection to it, not an httpGet.
    assert!(probe.http_get.is_none());
    let tcp = probe.tcp_socket.unwrap();
    assert_eq!(tcp.port, k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8081));
    assert_eq!((probe.period_seconds, probe.failure_threshold), (Some(1), Some(30)));
    // builder-hub-proxy now waits for builder-hub-api itself.
    let api = container(&r, "builder-hub-api");
    assert!(api.startup_probe.is_some(), "a healthy dependency is gated by a startup probe");
    let db = container(&r, "builder-hub-db").readiness_probe.clone().unwrap();
    assert_eq!(db.exec.unwrap().command.unwrap(), ["/bin/sh", "-c", "pg_isready"]);
    assert_eq!(
        (db.period_seconds, db.timeout_seconds, db.failure_threshold, db.initial_delay_seconds),
        (Some(5), Some(5), Some(5), Some(2))
    );
}

/// C19: mev-boost-relay (depends on beacon_healthmon healthy) starts only after
/// beacon-healthmon passes its startup probe: beacon-healthmon is a native sidecar with one,
/// and every service it may need starts before it.
#[test]
fn c19_start_order() {
    let r = render_fixture(L1_HEAD);
    let init: Vec<&str> = r.pod_spec.init_containers.iter().flatten().map(|c| c.name.as_str()).collect();
    assert_eq!(init, ["el", "el-healthmon", "beacon", "validator", "beacon-healthmon"]);
    let regular: Vec<&str> = r.pod_spec.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(regular, ["mev-boost-relay"]);
    for c in r.pod_spec.init_containers.iter().flatten() {
        assert_eq!(c.restart_policy.as_deref(), Some("Always"), "{} is a sidecar", c.name);
    }
    let hm = container(&r, "beacon-healthmon");
    let startup = hm.startup_probe.as_ref().expect("gated by a startup probe");
    assert_eq!(startup.exec, hm.readiness_probe.as_ref().unwrap().exec);
    assert_eq!(startup.failure_threshold, Some(600), "10 minutes at 1s");
    assert!(container(&r, "el-healthmon").startup_probe.is_none(), "nothing waits for it");
    assert!(r.start_order_enforced);

    // An API server without native sidecars: plain containers and a warning.
    let old = render(&convert_json(&fixture(L1_HEAD)), &RenderOptions { native_sidecars: false, ..Default::default() })
        .unwrap();
    assert!(old.pod_spec.init_containers.is_none());
    assert_eq!(old.pod_spec.containers.len(), 6);
    assert!(!old.start_order_enforced);
    assert!(old.warnings.iter().any(|w| w.contains("not enforced")));
}

/// Dependency cycles and unknown dependencies are spec errors.
#[test]
fn dependency_cycles_are_rejected() {
    let pg = playground(
        r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: cyc}
spec:
  services:
  - {name: a, image: i, dependencies: [{name: b}]}
  - {name: b, image: i, dependencies: [{name: c}]}
  - {name: c, image: i, dependencies: [{name: a}]}
  - {name: d, image: i}
"#,
    );
    let err = render(&pg, &RenderOptions::default()).unwrap_err().to_string();
    assert_eq!(err, r#"service "a": dependencies: dependency cycle among a, b, c"#);
}

/// C20: service names used as hosts resolve to the Pod; literal endpoints follow moved ports.
#[test]
fn c20_host_aliases() {
    let r = render_json(BUILDERNET);
    let aliases = r.pod_spec.host_aliases.clone().unwrap();
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].ip, "127.0.0.1");
    let hosts = aliases[0].hostnames.clone().unwrap();
    assert!(hosts.contains(&"builder-hub-proxy".to_owned()), "{hosts:?}");
    assert!(hosts.contains(&"builder-hub-api".to_owned()));
    // attested-tls-proxy asks for 8080, which builder-hub-api holds: it moves, and the literal
    // builder-hub-proxy:8888 keeps its (unmoved) port.
    assert_eq!(port(&r, "attested-tls-proxy", "http"), 8081 + 2);
    assert_eq!(arg_after(container(&r, "attested-tls-proxy"), "--target"), "builder-hub-proxy:8888");
}

/// A literal `service:port` whose port moved is rewritten.
#[test]
fn literal_endpoints_follow_moved_ports() {
    let pg = playground(
        r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: lit}
spec:
  services:
  - {name: first, image: i, ports: [{name: http, port: 8888}]}
  - name: proxy
    image: i
    ports: [{name: http, port: 8888}]
    readyCheck: {queryURL: "http://localhost:8888/health"}
  - {name: client, image: i, args: ["--target", "proxy:8888", "--other", "first:8888"]}
"#,
    );
    let r = render(&pg, &RenderOptions::default()).unwrap();
    assert_eq!(port(&r, "proxy", "http"), 8889);
    assert_eq!(arg_after(container(&r, "client"), "--target"), "proxy:8889");
    assert_eq!(arg_after(container(&r, "client"), "--other"), "first:8888");
    let probe = container(&r, "proxy").readiness_probe.clone().unwrap().tcp_socket.unwrap();
    assert_eq!(probe.port, k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8889));
}

/// C21: a `use-host-execution=true` label with an image runs as a container with a warning; a
/// lifecycle service without image is unsupported.
#[test]
fn c21_host_execution() {
    let mut json: serde_json::Value = serde_json::from_str(&fixture(L1_HEAD)).unwrap();
    json["services"][0]["labels"]["use-host-execution"] = serde_json::json!("true");
    let m = manifest::parse(&json.to_string()).unwrap();
    let converted = manifest::convert(&m, &ConvertOptions::default()).unwrap();
    assert!(converted.warnings.iter().any(|w| w.contains(r#"service "el" runs on the host"#)));
    let r = render(&converted.playground, &RenderOptions::default()).unwrap();
    assert_eq!(container(&r, "el").image.as_deref(), Some("ghcr.io/paradigmxyz/reth:v1.9.3"));
    assert!(r.warnings.iter().any(|w| w.contains("use-host-execution=true")));

    json["services"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "vm", "args": [], "lifecycle_hooks": true}));
    let m = manifest::parse(&json.to_string()).unwrap();
    let err = manifest::convert(&m, &ConvertOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"service "vm": lifecycle_hooks: host lifecycle services (buildernet VMs) cannot run on Kubernetes: unsupported"#
    );
}

/// `useHostExecution: true`: not in the Pod, reached at $(BP_HOST_IP) from the downward API.
#[test]
fn use_host_execution_resolves_to_the_node() {
    let pg = playground(
        r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: native}
spec:
  services:
  - {name: el, image: reth, useHostExecution: true, ports: [{name: authrpc, port: 8551}]}
  - name: beacon
    image: lighthouse
    args: ["--execution-endpoint", '{{Service "el" "authrpc" "http" ""}}', "--literal", "$(NOT_EXPANDED) $$"]
    env: {EL: '{{Service "el" "authrpc" "http" ""}}/x'}
"#,
    );
    let r = render(&pg, &RenderOptions::default()).unwrap();
    assert_eq!(all_containers(&r).len(), 1);
    let beacon = container(&r, "beacon");
    assert_eq!(arg_after(beacon, "--execution-endpoint"), "http://$(BP_HOST_IP):8551");
    assert_eq!(arg_after(beacon, "--literal"), "$$(NOT_EXPANDED) $$$$", "literal $ escaped against expansion");
    let first = &beacon.env.as_ref().unwrap()[0];
    assert_eq!(first.name, "BP_HOST_IP");
    let field = first.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
    assert_eq!(field.field_path, "status.hostIP");
    assert_eq!(env(beacon, "EL"), "http://$(BP_HOST_IP):8551/x");
    assert!(r.warnings.iter().any(|w| w.contains(r#"service "el" runs on the node"#)));
    assert!(r.ports.service("el").is_none(), "a node service takes no Pod port");
}

/// Storage kinds and the generator's artifacts subdirectory.
#[test]
fn storage_volumes() {
    let mut pg = convert_json(&fixture(L1_HEAD));
    pg.metadata.namespace = Some("devnets".into());
    let r = render(&pg, &RenderOptions::default()).unwrap();
    let artifacts = r.pod_spec.volumes.as_ref().unwrap().iter().find(|v| v.name == "artifacts").unwrap();
    let host = artifacts.host_path.as_ref().unwrap();
    assert_eq!(host.path, "/data/builder-playground/devnets/l1");
    assert_eq!(host.type_.as_deref(), Some("DirectoryOrCreate"));

    pg.spec.storage = Some(bp_generator::api::StorageSpec {
        storage_type: Some(bp_generator::api::StorageType::Pvc),
        ..Default::default()
    });
    let options = RenderOptions { artifacts_subdir: Some("gen-3f9a2c1d".into()), ..Default::default() };
    let r = render(&pg, &options).unwrap();
    let artifacts = r.pod_spec.volumes.as_ref().unwrap().iter().find(|v| v.name == "artifacts").unwrap();
    assert_eq!(artifacts.persistent_volume_claim.as_ref().unwrap().claim_name, "l1-artifacts");
    let el = container(&r, "el");
    let sub = |path: &str| el.volume_mounts.iter().flatten().find(|m| m.mount_path == path).unwrap().sub_path.clone();
    assert_eq!(sub("/artifacts").as_deref(), Some("gen-3f9a2c1d"));
    assert_eq!(sub("/data/genesis.json").as_deref(), Some("gen-3f9a2c1d/genesis.json"));
    assert_eq!(sub("/data/jwtsecret").as_deref(), Some("jwtsecret"), "the JWT comes from the Secret");
}

/// Ports that only templates name are registered, like builder-playground's recording pass.
#[test]
fn template_only_ports_are_registered() {
    let pg = playground(
        r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: t}
spec:
  services:
  - {name: a, image: i, args: ['{{Port "http" 8545}}', '{{PortUDP "disc" 30303}}']}
  - {name: b, image: i, args: ['{{Port "http" 8545}}', '{{Service "a" "disc" "" ""}}']}
"#,
    );
    let r = render(&pg, &RenderOptions::default()).unwrap();
    assert_eq!(args(container(&r, "a")), ["8545", "30303"]);
    assert_eq!(args(container(&r, "b")), ["8546", "localhost:30303"]);
    let disc = r.ports.get("a", "disc").unwrap();
    assert_eq!(disc.protocols, [Protocol::Udp]);
}

/// A bootnode that runs on the node: `{{Bootnode}}` is its enode at $(BP_HOST_IP), so the
/// container gets BP_HOST_IP from the downward API.
#[test]
fn a_bootnode_on_the_node_is_reached_at_the_host_ip() {
    let id = "ab".repeat(64);
    let pg = playground_spec(
        "boot",
        &format!(
            r#"  bootnode: {{service: bootnode, id: "{id}"}}
  services:
  - {{name: bootnode, image: reth, useHostExecution: true, ports: [{{name: rpc, port: 30303}}]}}
  - {{name: el, image: reth, args: ["--bootnodes", "{{{{Bootnode}}}}"]}}
"#
        ),
    );
    let r = render(&pg, &RenderOptions::default()).unwrap();
    let el = container(&r, "el");
    assert_eq!(arg_after(el, "--bootnodes"), format!("enode://{id}@$(BP_HOST_IP):30303"));
    let names: Vec<&str> = el.env.iter().flatten().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["BP_HOST_IP"], "the host IP comes from the downward API");
}

/// Ready checks name hosts: `localhost` and the owner's own name mean the owner's ports, another
/// service's name that service's (which may have moved when two services asked for one number).
#[test]
fn ready_checks_follow_the_ports_of_the_service_they_name() {
    let pg = playground_spec(
        "checks",
        r#"  services:
  - name: a
    image: i
    ports: [{name: http, port: 8545}]
    readyCheck: {test: [CMD, curl, "http://b:8545/", "http://localhost:8545/", "http://a:8545/"]}
  - name: b
    image: i
    ports: [{name: http, port: 8545}]
    readyCheck: {queryURL: "http://a:8545/"}
  - name: c
    image: i
    ports: [{name: http, port: 8545}]
    readyCheck: {queryURL: "http://b:8545/health"}
"#,
    );
    let r = render(&pg, &RenderOptions::default()).unwrap();
    let (a, b, c) = (port(&r, "a", "http"), port(&r, "b", "http"), port(&r, "c", "http"));
    assert_eq!((a, b, c), (8545, 8546, 8547), "one number each");
    let exec = container(&r, "a").readiness_probe.clone().unwrap().exec.unwrap().command.unwrap();
    assert_eq!(exec, ["curl", "http://b:8546/", "http://localhost:8545/", "http://a:8545/"]);
    let tcp = |name: &str| container(&r, name).readiness_probe.clone().unwrap().tcp_socket.unwrap().port;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    assert_eq!(tcp("b"), IntOrString::Int(8545), "b's check names a: a's port");
    assert_eq!(tcp("c"), IntOrString::Int(8546), "c's check names b: b's moved port");
}
