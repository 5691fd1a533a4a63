//! Every wire of a devnet Pod, proven by the contract stand-ins (e2e/README.md): builder-playground's
//! real l1 output folder (c473a6a), converted with `bp-generator convert DIR` and applied, reaches
//! Ready with each stand-in having checked its command line, its files, its listeners and its
//! peers (the EL and CL sharing one JWT); and breaking one wire (a file mount removed, a port
//! remapped on one side, another JWT in one container, a reference to a missing service) makes
//! the playground fail, with the stand-in's error in its logs and the failing service in
//! `status.serviceStatuses` and the Ready condition.
//!
//! The stand-ins check files by default; these playgrounds also set `BP_STANDIN_FILES=check`
//! on every service, so that no image setting could turn the checks into warnings.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bp_generator::BuilderPlayground;
use bp_generator::api::FileMountSpec;
use common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde::Deserialize as _;

const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// For a peer left unanswered on purpose: the stand-ins' bound, shortened.
const PEER_TIMEOUT_SECS: &str = "15";
const NAME: &str = "l1";

fn fixture(rel: &str) -> PathBuf {
    repo_path("../shared/fixtures/real-c473a6a").join(rel)
}

/// builder-playground's l1 output folder (with its manifest.json, as `start l1 --dry-run`
/// leaves it) plus `extra` files.
fn output_folder(extra: &[(&str, &str)]) -> tempfile::TempDir {
    folder_with("l1-default.manifest.json", extra)
}

/// The l1 output folder's files with another recipe's manifest.json, plus `extra` files.
fn folder_with(manifest: &str, extra: &[(&str, &str)]) -> tempfile::TempDir {
    folder_with_manifest(&fixture(manifest), extra)
}

/// [`folder_with`] for a manifest anywhere (`manifest` is a path, not a fixture name).
fn folder_with_manifest(manifest: &Path, extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-R")
        .arg(fixture("l1-artifacts").join("."))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(copied.success(), "cp -R of the fixture folder");
    std::fs::copy(manifest, dir.path().join("manifest.json")).unwrap();
    for (rel, content) in extra {
        std::fs::write(dir.path().join(rel), content).unwrap();
    }
    dir
}

/// `bp-generator convert DIR --name l1 --namespace NS`: the artifacts' Secrets and the
/// playground, with `BP_STANDIN_FILES=check` added to every service.
fn convert(folder: &Path, ns: &str) -> (Vec<Secret>, BuilderPlayground) {
    let out = std::process::Command::new(target_dir().join("bp-generator"))
        .args(["convert", folder.to_str().unwrap(), "--name", NAME, "--namespace", ns])
        .output()
        .unwrap();
    assert!(out.status.success(), "convert: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut secrets = Vec::new();
    let mut playground = None;
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let value = serde_yaml_ng::Value::deserialize(doc).unwrap();
        match value.get("kind").and_then(|k| k.as_str()) {
            Some("Secret") => secrets.push(serde_yaml_ng::from_value(value).unwrap()),
            Some("BuilderPlayground") => {
                playground = Some(serde_yaml_ng::from_value::<BuilderPlayground>(value).unwrap())
            }
            other => panic!("unexpected document {other:?} in convert's output"),
        }
    }
    let mut playground = playground.expect("a BuilderPlayground in convert's output");
    for service in &mut playground.spec.services {
        service.env.insert("BP_STANDIN_FILES".into(), "check".into());
    }
    (secrets, playground)
}

async fn deploy(secrets: &[Secret], playground: &BuilderPlayground, ns: &str) {
    let client = client().await;
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    for secret in secrets {
        let name = secret.metadata.name.clone().unwrap();
        api.patch(&name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(secret)).await.unwrap();
    }
    apply(&client, playground).await;
}

fn service<'a>(pg: &'a mut BuilderPlayground, name: &str) -> &'a mut bp_generator::api::ServiceSpec {
    pg.spec.services.iter_mut().find(|s| s.name == name).unwrap_or_else(|| panic!("service {name}"))
}

/// Replaces one argument of a service (exactly one must match).
fn replace_arg(pg: &mut BuilderPlayground, svc: &str, from: &str, to: &str) -> usize {
    let args = &mut service(pg, svc).args;
    let at: Vec<usize> = args.iter().enumerate().filter(|(_, a)| *a == from).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "{svc}: {from:?} in {args:?}");
    args[at[0]] = to.into();
    at[0]
}

/// A container's logs, this run's and (after a restart) the previous run's.
async fn logs(ns: &str, container: &str) -> String {
    let cluster = env().await.cluster;
    let mut text = String::new();
    for previous in [true, false] {
        let mut args = vec!["logs", "-n", ns, NAME, "-c", container];
        if previous {
            args.push("--previous");
        }
        let out = cluster.kubectl(&args).await.unwrap();
        if out.status.success() {
            text.push_str(&String::from_utf8_lossy(&out.stdout));
        }
    }
    text
}

/// Waits until a container's logs hold every one of `lines`.
async fn logs_show(ns: &str, container: &str, lines: &[String], timeout: Duration) -> String {
    wait_for(
        &format!("{container}'s stand-in to log {lines:?}"),
        timeout,
        async || logs(ns, container).await,
        |text| lines.iter().all(|l| text.contains(l.as_str())).then(|| text.clone()),
    )
    .await
}

/// Each service is ready without a restart, and its stand-in logged every one of its `lines`
/// and no warning.
async fn stand_ins_logged(
    ns: &str,
    status: &bp_generator::api::BuilderPlaygroundStatus,
    expected: &[(&str, Vec<String>)],
) {
    for (svc, lines) in expected {
        let st = status.service(svc).unwrap();
        assert!(st.ready && st.restarts == 0, "{svc}: {st:?}");
        let text = logs_show(ns, &st.container, lines, Duration::from_secs(60)).await;
        assert!(!text.contains("WARNING"), "{svc}: {text}");
    }
}

/// The playground fails on `svc`: Ready=False/ServicesFailing naming it and quoting `error`,
/// the service not ready, restarted after exiting with `code`, its status quoting `error` (the
/// stand-in's own last error line), and its logs showing it.
async fn fails_on(ns: &str, svc: &str, code: i32, error: &str) {
    let client = client().await;
    wait_condition(&client, ns, NAME, "Ready", "False", Some("ServicesFailing"), READY_TIMEOUT).await;
    let (status, ready) = wait_for(
        &format!("{svc} restarted after exit code {code}, its status and the Ready condition quoting {error:?}"),
        READY_TIMEOUT,
        async || get(&client, ns, NAME).await,
        |pg| {
            let pg = pg.as_ref()?;
            let s = pg.status.as_ref()?.service(svc)?.clone();
            // The stand-ins' own errors start with `bp-standin: `; the imitated clients' (clap's
            // `error: ...`) do not.
            let exited = ["", "bp-standin: "].into_iter().flat_map(|who| {
                [format!("exit code {code}: {who}{error}"), format!("exited with code {code} (Error): {who}{error}")]
            });
            let exited: Vec<String> = exited.collect();
            let ready = condition(pg, "Ready")?;
            (!s.ready
                && s.restarts >= 1
                && exited.iter().any(|e| s.message.contains(e.as_str()))
                && ready.reason == "ServicesFailing"
                && ready.message.contains(&format!("; {svc}: "))
                && ready.message.contains(error))
            .then(|| (s, ready.clone()))
        },
    )
    .await;
    eprintln!("{svc}: {:?}; Ready: {:?}", status.message, ready.message);
    let text = logs_show(ns, &status.container, &[error.to_string()], Duration::from_secs(60)).await;
    assert!(!text.contains("contract satisfied"), "{svc}: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_converted_l1_folder_is_wired() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("wired").await.unwrap();
    let folder = output_folder(&[]);
    let (secrets, playground) = convert(folder.path(), &ns);
    deploy(&secrets, &playground, &ns).await;
    let pg = wait_condition(&client, &ns, NAME, "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let status = pg.status.unwrap();
    assert_eq!(status.ready.as_deref(), Some("6/6"));

    let keystores = std::fs::read_dir(fixture("l1-artifacts/data_validator/validators"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("0x"))
        .count();
    let s = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let expected: Vec<(&str, Vec<String>)> = vec![
        (
            "el",
            s(&[
                "reth node: file --chain /data/genesis.json: genesis of chain 1337",
                "reth node: file --datadir /data_reth: writable directory",
                "reth node: file --authrpc.jwtsecret /data/jwtsecret: JWT secret (32 bytes)",
                "reth node: listening on tcp ports [8545 8546 8551 9090 30303]",
                "reth node: contract satisfied: flags, 4 files (0 warnings)",
            ]),
        ),
        (
            "el_healthmon",
            s(&[
                "healthmon: peer --url http://localhost:8545/: not syncing, latest block 0",
                "healthmon: contract satisfied",
            ]),
        ),
        (
            "beacon",
            s(&[
                "lighthouse bn: file --testnet-dir /data/testnet-dir: testnet \"devnet\": config.yaml",
                "lighthouse bn: file --execution-jwt /data/jwtsecret: JWT secret (32 bytes)",
                "lighthouse bn: listening on tcp ports [3500 9000 9100]",
                "lighthouse bn: peer --execution-endpoint http://localhost:8551/: engine API answered, chain 1337, accepted our JWT",
                "lighthouse bn: peer --builder http://localhost:5555/: builder API status 200",
                "lighthouse bn: contract satisfied: flags, 3 files (0 warnings)",
            ]),
        ),
        (
            "validator",
            vec![
                "lighthouse vc: file --testnet-dir /data/testnet-dir: testnet \"devnet\"".to_string(),
                format!(
                    "lighthouse vc: file --datadir /data/validator: {keystores} validator keystores with passwords, writable"
                ),
                "lighthouse vc: peer --beacon-nodes http://localhost:3500/: beacon API answered".to_string(),
                "same spec (PRESET_BASE, CONFIG_NAME, GENESIS_FORK_VERSION, SECONDS_PER_SLOT, DEPOSIT_CHAIN_ID)"
                    .to_string(),
                "lighthouse vc: contract satisfied: flags, 2 files (0 warnings)".to_string(),
            ],
        ),
        (
            "beacon_healthmon",
            s(&[
                "healthmon: peer --url http://localhost:3500/: beacon API answered (syncing: false)",
                "healthmon: contract satisfied",
            ]),
        ),
        (
            "mev-boost-relay",
            s(&[
                "mev-boost-relay: peer --beacon-client-addr http://localhost:3500/: beacon API answered",
                "genesis fork version 0x20000089",
                "mev-boost-relay: contract satisfied",
            ]),
        ),
    ];
    stand_ins_logged(&ns, &status, &expected).await;
    // The EL refused nothing: the CL signed with the secret the EL verifies with.
    assert!(!logs(&ns, "el").await.contains("refused a request"));
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// The OP stack of builder-playground c473a6a (`start opstack`'s manifest) with artifacts made
/// from the fixtures: the l1 folder's files, plus what `start opstack` adds (an L2 genesis, a
/// rollup config, the enode keys), written here small but of the right shape.
#[tokio::test(flavor = "multi_thread")]
async fn the_opstack_manifest_with_fixture_artifacts_is_wired() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("opstack").await.unwrap();
    let key = |n: u8| format!("{:064x}", n);
    let (key1, key2) = (key(1), key(2));
    let folder = folder_with(
        "op-default.manifest.json",
        &[
            ("l2-genesis.json", r#"{"config":{"chainId":13},"timestamp":"0x6b0ce910","alloc":{}}"#),
            ("rollup.json", r#"{"genesis":{"l2_time":1795999000},"block_time":2,"l1_chain_id":1337,"l2_chain_id":13}"#),
            ("enode-key-1.txt", &key1),
            ("enode-key-2.txt", &key2),
        ],
    );
    let (secrets, playground) = convert(folder.path(), &ns);
    deploy(&secrets, &playground, &ns).await;
    let pg = wait_condition(&client, &ns, NAME, "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let status = pg.status.unwrap();
    assert_eq!(status.ready.as_deref(), Some("10/10"));
    let s = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let expected: Vec<(&str, Vec<String>)> = vec![
        (
            "bootnode",
            s(&[
                "reth p2p bootnode: file --p2p-secret-key /data/p2p_key.txt: private key",
                "reth p2p bootnode: contract satisfied",
            ]),
        ),
        (
            "el",
            s(&[
                "reth node: peer --bootnodes http://127.0.0.1:30303/: TCP 127.0.0.1:30303 accepts connections",
                "reth node: contract satisfied: flags, 4 files (0 warnings)",
            ]),
        ),
        (
            "beacon",
            s(&[
                "lighthouse bn: peer --execution-endpoint http://localhost:8551/: engine API answered, chain 1337, accepted our JWT",
                "lighthouse bn: contract satisfied",
            ]),
        ),
        ("validator", s(&["lighthouse vc: contract satisfied: flags, 2 files (0 warnings)"])),
        (
            "op-geth",
            s(&[
                "geth init: file <genesis> /data/l2-genesis.json: genesis of chain 13",
                "geth init: Successfully wrote genesis state (chain 13) into /data_opgeth",
                "geth: file --authrpc.jwtsecret /data/jwtsecret: JWT secret (32 bytes)",
                "geth: file --nodekey /data/p2p_key.txt: private key (32 bytes hex)",
                "geth: listening on tcp ports [6061 8547 8548 8552 30305]",
                "geth: peer --bootnodes http://127.0.0.1:30303/: TCP 127.0.0.1:30303 accepts connections",
                "geth: contract satisfied: flags, 3 files (0 warnings)",
            ]),
        ),
        ("op-geth_healthmon", s(&["healthmon: peer --url http://localhost:8547/: not syncing, latest block 0"])),
        (
            "op-node",
            s(&[
                "op-node: file --rollup.config /data/rollup.json: JSON with genesis, l1_chain_id, l2_chain_id",
                "op-node: file --rollup.l1-chain-config /data/genesis.json: genesis of chain 1337",
                "op-node: note: op-node stops parsing flags at \"true\" (not a flag): --pprof.enabled --rpc.enable-admin --safedb.path /data_db are ignored",
                "op-node: listening on tcp ports [7300 8549 9003]",
                "op-node: peer --l1 http://localhost:8545/: JSON-RPC answered, chain 1337",
                "op-node: peer --l2 http://localhost:8552/: engine API answered, chain 13, accepted our JWT",
                "op-node: contract satisfied: flags, 3 files (0 warnings)",
            ]),
        ),
        (
            "op-batcher",
            s(&[
                "op-batcher: peer --rollup-rpc http://localhost:8549/: rollup RPC answered optimism_syncStatus",
                "op-batcher: contract satisfied",
            ]),
        ),
    ];
    stand_ins_logged(&ns, &status, &expected).await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A real builder-playground manifest of July 2025 (`opstack --external-builder
/// http://host.docker.internal:4444`): rollup-boost 0.7.0 between op-node and op-geth, reth
/// v1.4.8, lighthouse v7.0.0-beta.0, no bootnode or healthmons.
fn rollup_boost_manifest() -> PathBuf {
    repo_path("../shared/fixtures/manifest-opstack-extbuilder-2025-07.cbarbieru.json")
}

/// That manifest with the l1 folder's files and the OP files it names (l2-genesis.json,
/// rollup.json, enode-key-1.txt as op-geth's nodekey), plus `extra` files.
fn rollup_boost_folder(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let key = format!("{:064x}", 1);
    let mut files = vec![
        ("l2-genesis.json", r#"{"config":{"chainId":13},"timestamp":"0x6b0ce910","alloc":{}}"#),
        ("rollup.json", r#"{"genesis":{"l2_time":1795999000},"block_time":2,"l1_chain_id":1337,"l2_chain_id":13}"#),
        ("enode-key-1.txt", key.as_str()),
    ];
    files.extend_from_slice(extra);
    folder_with_manifest(&rollup_boost_manifest(), &files)
}

/// rollup-boost between op-node and op-geth (the 2025-07 manifest): op-node's engine calls go
/// to rollup-boost, which forwards them to op-geth's authrpc with its `--l2-jwt-path` secret
/// (op-geth's); its external builder (`host.docker.internal`, nothing in a Pod) is not reached,
/// which rollup-boost runs without.
#[tokio::test(flavor = "multi_thread")]
async fn the_opstack_with_rollup_boost_is_wired() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("rollup-boost").await.unwrap();
    let folder = rollup_boost_folder(&[]);
    let (secrets, mut playground) = convert(folder.path(), &ns);
    // The builder's host never resolves (each lookup waits for the node's unreachable resolver):
    // a shorter bound than the stand-ins' 60 s, which still leaves op-geth time to start.
    service(&mut playground, "rollup-boost").env.insert("BP_STANDIN_PEER_TIMEOUT".into(), "30".into());
    deploy(&secrets, &playground, &ns).await;
    let pg = wait_condition(&client, &ns, NAME, "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let status = pg.status.unwrap();
    assert_eq!(status.ready.as_deref(), Some("7/7"));
    let s = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let expected: Vec<(&str, Vec<String>)> = vec![
        ("el", s(&["reth node: contract satisfied: flags, 4 files (0 warnings)"])),
        (
            "beacon",
            s(&[
                "lighthouse bn: peer --execution-endpoint http://localhost:8551/: engine API answered, chain 1337, accepted our JWT",
                "lighthouse bn: contract satisfied",
            ]),
        ),
        ("validator", s(&["lighthouse vc: contract satisfied: flags, 2 files (0 warnings)"])),
        (
            "op-geth",
            s(&[
                "geth init: Successfully wrote genesis state (chain 13) into /data_opgeth",
                "geth: file --authrpc.jwtsecret /data/jwtsecret: JWT secret (32 bytes)",
                "geth: listening on tcp ports [6061 8547 8548 8552 30304]",
                "geth: contract satisfied",
            ]),
        ),
        (
            "rollup-boost",
            s(&[
                // No entrypoint in the manifest: the image's own.
                "bp-standin: stand-in for rollup-boost: --rpc-host 0.0.0.0 --rpc-port 8553 --l2-jwt-path /data/jwtsecret --l2-url http://localhost:8552",
                "rollup-boost: file --l2-jwt-path /data/jwtsecret: JWT secret (32 bytes)",
                "rollup-boost: file --builder-jwt-path /data/jwtsecret: JWT secret (32 bytes)",
                "rollup-boost: listening on tcp ports [5555 8553]",
                "rollup-boost: peer --l2-url http://localhost:8552/: engine API answered, chain 13, accepted our JWT",
                // op-node's calls, through rollup-boost to op-geth.
                "rollup-boost: engine API: engine_exchangeCapabilities from a caller whose JWT is --l2-jwt-path's secret: forwarded to --l2-url http://localhost:8552/ with --l2-jwt-path /data/jwtsecret: HTTP 200",
                "rollup-boost: engine API: eth_chainId from a caller whose JWT is --l2-jwt-path's secret: forwarded to --l2-url http://localhost:8552/ with --l2-jwt-path /data/jwtsecret: HTTP 200",
                "rollup-boost: contract satisfied: flags, 2 files (0 warnings), listening on [5555, 8553], peers --l2-url http://localhost:8552/",
            ]),
        ),
        (
            "op-node",
            s(&[
                "op-node: peer --l1 http://localhost:8545/: JSON-RPC answered, chain 1337",
                "op-node: peer --l2 http://localhost:8553/: engine API answered, chain 13, accepted our JWT",
                "op-node: contract satisfied: flags, 2 files (0 warnings)",
            ]),
        ),
        (
            "op-batcher",
            s(&[
                "op-batcher: peer --l2-eth-rpc http://localhost:8547/: JSON-RPC answered, chain 13",
                "op-batcher: peer --rollup-rpc http://localhost:8549/: rollup RPC answered optimism_syncStatus",
                "op-batcher: contract satisfied",
            ]),
        ),
    ];
    stand_ins_logged(&ns, &status, &expected).await;
    // The external builder: tried for 30 s, then a line, and rollup-boost runs on.
    let text = logs_show(
        &ns,
        &status.service("rollup-boost").unwrap().container,
        &["rollup-boost: optional peer not reached: --builder-url http://host.docker.internal:4444/: no answer in 30 s: lookup host.docker.internal".into()],
        Duration::from_secs(150),
    )
    .await;
    assert!(text.contains("rollup-boost runs without it"), "{text}");
    let pg = get(&client, &ns, NAME).await.unwrap();
    assert_eq!(condition(&pg, "Ready").unwrap().status, "True", "rollup-boost runs without its builder");
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// rollup-boost given another L2 JWT than op-geth's: op-geth refuses the calls it forwards.
#[tokio::test(flavor = "multi_thread")]
async fn a_different_l2_jwt_fails_rollup_boost() {
    let env = env().await;
    let ns = env.cluster.create_namespace("rb-jwt").await.unwrap();
    let other = "cd".repeat(32);
    let folder = rollup_boost_folder(&[("other-jwtsecret", &other)]);
    let (secrets, mut playground) = convert(folder.path(), &ns);
    let rollup_boost = service(&mut playground, "rollup-boost");
    rollup_boost.files.push(FileMountSpec { artifact: "other-jwtsecret".into(), mount_path: "/data/other-jwt".into() });
    let at = rollup_boost.args.iter().position(|a| a == "--l2-jwt-path").expect("--l2-jwt-path") + 1;
    assert_eq!(rollup_boost.args[at], "/data/jwtsecret");
    rollup_boost.args[at] = "/data/other-jwt".into();
    deploy(&secrets, &playground, &ns).await;
    fails_on(
        &ns,
        "rollup-boost",
        1,
        "rollup-boost: --l2-url http://localhost:8552/: JWT mismatch: the execution engine refused our token (HTTP 401: {\"error\":\"signature invalid\"}): --l2-jwt-path /data/other-jwt is not the secret the execution client was given",
    )
    .await;
    logs_show(
        &ns,
        "op-geth",
        &["geth: engine API: refused a request: signature invalid".into()],
        Duration::from_secs(30),
    )
    .await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// One HTTP/1.0 GET from the test to the Pod's IP: (status, body).
fn http_get(ip: &str, port: u16, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect((ip, port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).unwrap();
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer");
    let status = String::from_utf8_lossy(&answer[9..12]).parse().unwrap();
    (status, answer[end + 4..].to_vec())
}

/// builder-playground c473a6a's buildernet (`start buildernet`'s manifest) with the l1 folder's
/// files: l1's services (beacon_healthmon removed, as the recipe does), builder-hub's database,
/// API and mock proxy, and caddy serving the genesis and testnet directory.
#[tokio::test(flavor = "multi_thread")]
async fn the_buildernet_manifest_with_fixture_artifacts_is_wired() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("buildernet").await.unwrap();
    let folder = folder_with("bn-default.manifest.json", &[]);
    let (secrets, playground) = convert(folder.path(), &ns);
    deploy(&secrets, &playground, &ns).await;
    let pg = wait_condition(&client, &ns, NAME, "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let status = pg.status.unwrap();
    assert_eq!(status.ready.as_deref(), Some("9/9"));
    let s = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let expected: Vec<(&str, Vec<String>)> = vec![
        ("el", s(&["reth node: contract satisfied: flags, 4 files (0 warnings)"])),
        (
            "beacon",
            s(&[
                "lighthouse bn: peer --execution-endpoint http://localhost:8551/: engine API answered, chain 1337, accepted our JWT",
                "lighthouse bn: peer --builder http://localhost:5555/: builder API status 200",
                "lighthouse bn: contract satisfied: flags, 3 files (0 warnings)",
            ]),
        ),
        ("validator", s(&["lighthouse vc: contract satisfied: flags, 2 files (0 warnings)"])),
        ("mev-boost-relay", s(&["mev-boost-relay: contract satisfied"])),
        (
            "builder-hub-db",
            s(&[
                // The image's own entrypoint and cmd: `docker-entrypoint.sh postgres`.
                "bp-standin: stand-in for docker-entrypoint.sh: postgres",
                "postgres: file $PGDATA /var/lib/postgresql/data: writable directory",
                "postgres: listening on tcp ports [5432]",
                "role \"postgres\", databases postgres, template0, template1, host auth trust (loopback: trust)",
                // The probe (`/bin/sh -c pg_isready`, PGUSER) and builder-hub (POSTGRES_DSN).
                "postgres: client \"postgres\" connected to database \"postgres\" (pg_isready)",
                "postgres: client \"postgres\" connected to database \"postgres\"\n",
                "postgres: contract satisfied: 1 files (0 warnings), listening on [5432]",
            ]),
        ),
        (
            "builder-hub-api",
            s(&[
                "bp-standin: stand-in for builder-hub: \n",
                "builder-hub: peer POSTGRES_DSN postgres@localhost:5432/postgres: connected, server_version 15.10 (bp-standin)",
                "msg=\"Starting HTTP server\" server=ADMIN_ADDR listenAddress=0.0.0.0:8081",
                "builder-hub: listening on tcp ports [8080, 8081, 8082, 8090]",
                "builder-hub: contract satisfied",
            ]),
        ),
        (
            "builder-hub-proxy",
            s(&[
                "bp-standin: stand-in for nginx: -g daemon off;",
                "nginx: note: TARGET=http://localhost:8080 is not read by this image",
                "nginx: listening on tcp ports [80 8888]",
                "nginx: peer proxy_pass http://builder-hub-api:8080/: HTTP 404 (any answer counts)",
                "nginx: contract satisfied",
            ]),
        ),
        (
            "server",
            s(&[
                "caddy: file --root /data: readable directory",
                "caddy: listening on tcp ports [8100]",
                "caddy: contract satisfied: flags, 1 files (0 warnings), listening on [8100]",
            ]),
        ),
    ];
    stand_ins_logged(&ns, &status, &expected).await;
    // From outside the Pod, at its IP: caddy serves the folder's genesis as it is; builder-hub
    // answers /readyz on LISTEN_ADDR, not on its admin port; the proxy passes requests on.
    let ip = pod(&client, &ns, NAME).await.unwrap().status.unwrap().pod_ip.unwrap();
    let genesis = std::fs::read(fixture("l1-artifacts/genesis.json")).unwrap();
    assert_eq!(http_get(&ip, 8100, "/genesis.json"), (200, genesis));
    let (status, listing) = http_get(&ip, 8100, "/testnet/");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&listing).contains("genesis.ssz"), "{}", String::from_utf8_lossy(&listing));
    assert_eq!(http_get(&ip, 8080, "/readyz").0, 200);
    assert_eq!(http_get(&ip, 8081, "/readyz").0, 404);
    assert_eq!(http_get(&ip, 8888, "/livez").0, 200);
    assert_eq!(http_get(&ip, 8888, "/").0, 404);
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// (e) buildernet: builder-hub's POSTGRES_DSN names a database the db does not have; lib/pq's
/// error is builder-hub's fatal one.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_database_in_the_dsn_fails_builder_hub() {
    let env = env().await;
    let ns = env.cluster.create_namespace("bn-dsn").await.unwrap();
    let folder = folder_with("bn-default.manifest.json", &[]);
    let (secrets, mut playground) = convert(folder.path(), &ns);
    let dsn = service(&mut playground, "builder-hub-api").env.get_mut("POSTGRES_DSN").unwrap();
    assert!(dsn.ends_with("/postgres?sslmode=disable"), "{dsn}");
    *dsn = dsn.replace("/postgres?sslmode=disable", "/builderhub?sslmode=disable");
    deploy(&secrets, &playground, &ns).await;
    fails_on(&ns, "builder-hub-api", 1, "builder-hub: log.Fatal: pq: database \"builderhub\" does not exist").await;
    logs_show(
        &ns,
        "builder-hub-db",
        &["postgres: FATAL:  database \"builderhub\" does not exist".into()],
        Duration::from_secs(30),
    )
    .await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// (a) A `files` mount removed from the EL: reth cannot read its `--chain` genesis.
#[tokio::test(flavor = "multi_thread")]
async fn a_removed_file_mount_fails_the_el() {
    let env = env().await;
    let ns = env.cluster.create_namespace("nofile").await.unwrap();
    let folder = output_folder(&[]);
    let (secrets, mut playground) = convert(folder.path(), &ns);
    service(&mut playground, "el").files.retain(|f| f.artifact != "genesis.json");
    deploy(&secrets, &playground, &ns).await;
    fails_on(
        &ns,
        "el",
        2,
        "error: invalid value '/data/genesis.json' for '--chain <CHAIN_OR_PATH>': No such file or directory (os error 2)",
    )
    .await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// (b) A port remapped on one side only: the beacon node's engine endpoint points where the
/// EL does not listen.
#[tokio::test(flavor = "multi_thread")]
async fn a_port_remapped_on_one_side_fails_the_beacon_node() {
    let env = env().await;
    let ns = env.cluster.create_namespace("remap").await.unwrap();
    let folder = output_folder(&[]);
    let (secrets, mut playground) = convert(folder.path(), &ns);
    replace_arg(&mut playground, "beacon", r#"{{Service "el" "authrpc" "http" ""}}"#, "http://localhost:8561");
    service(&mut playground, "beacon").env.insert("BP_STANDIN_PEER_TIMEOUT".into(), PEER_TIMEOUT_SECS.into());
    deploy(&secrets, &playground, &ns).await;
    fails_on(
        &ns,
        "beacon",
        1,
        &format!(
            "lighthouse bn: --execution-endpoint http://localhost:8561/: no answer in {PEER_TIMEOUT_SECS} s: error trying to connect: tcp connect error: Connection refused (os error 111)"
        ),
    )
    .await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// (c) Another JWT in one container: the beacon node reads a secret of its own (an extra file
/// of the folder, mounted through `files`), the EL refuses its tokens.
#[tokio::test(flavor = "multi_thread")]
async fn a_different_jwt_fails_the_beacon_node() {
    let env = env().await;
    let ns = env.cluster.create_namespace("jwt").await.unwrap();
    let other = "cd".repeat(32);
    let folder = output_folder(&[("other-jwtsecret", &other)]);
    let (secrets, mut playground) = convert(folder.path(), &ns);
    let beacon = service(&mut playground, "beacon");
    beacon.files.push(FileMountSpec { artifact: "other-jwtsecret".into(), mount_path: "/data/other-jwt".into() });
    replace_arg(&mut playground, "beacon", "/data/jwtsecret", "/data/other-jwt");
    deploy(&secrets, &playground, &ns).await;
    fails_on(
        &ns,
        "beacon",
        1,
        "lighthouse bn: --execution-endpoint http://localhost:8551/: JWT mismatch: the execution engine refused our token (HTTP 401: {\"error\":\"signature invalid\"}): --execution-jwt /data/other-jwt is not the secret the execution client was given",
    )
    .await;
    logs_show(
        &ns,
        "el",
        &["reth node: engine API: refused a request: signature invalid".into()],
        Duration::from_secs(30),
    )
    .await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// (d) A reference to a service that does not exist: the generator refuses the spec, nothing
/// starts.
#[tokio::test(flavor = "multi_thread")]
async fn a_reference_to_a_missing_service_is_refused() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("noservice").await.unwrap();
    let folder = output_folder(&[]);
    let (secrets, mut playground) = convert(folder.path(), &ns);
    let index = replace_arg(
        &mut playground,
        "beacon",
        r#"{{Service "el" "authrpc" "http" ""}}"#,
        r#"{{Service "nope" "authrpc" "http" ""}}"#,
    );
    deploy(&secrets, &playground, &ns).await;
    let pg = wait_condition(&client, &ns, NAME, "Ready", "False", Some("InvalidSpec"), READY_TIMEOUT).await;
    assert_eq!(
        condition(&pg, "Ready").unwrap().message,
        format!(r#"service "beacon": args[{index}]: template refers to unknown service "nope""#)
    );
    assert!(pod(&client, &ns, NAME).await.is_none(), "nothing starts");
    env.cluster.delete_namespace(&ns).await.unwrap();
}
