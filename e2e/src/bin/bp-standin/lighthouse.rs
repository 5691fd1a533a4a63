//! Lighthouse (`sigp/lighthouse:v8.1.0`): `lighthouse bn` (beacon node) and `lighthouse vc`
//! (validator client). Flag sets encoded from the Lighthouse book's CLI reference
//! (`book/src/help_bn.md`, `help_vc.md`: `lighthouse bn --help`, `vc --help`, of the v8 line)
//! plus the hidden flags and aliases of its argument definitions (`beacon_node/src/cli.rs`,
//! `validator_client/src/cli.rs`, `lighthouse/src/main.rs`).

use crate::cli::{self, Failure, Positionals, Spec, Style};
use crate::contract::{Api, Check, Plan};
use crate::files::{self, Files};
use crate::jwt;

/// Flags of the `lighthouse` command that every subcommand takes (clap `global(true)`).
const GLOBAL: &str = "h/help V/version d/datadir= t/testnet-dir= network= debug-level= log-format= log-color? \
    disable-log-timestamp log-extra-info logfile= logfile-dir= logfile-debug-level= logfile-format= logfile-max-size= \
    logfile-max-number= logfile-compress logfile-no-restricted-perms logfile-color disable-malloc-tuning \
    genesis-state-url= genesis-state-url-timeout= telemetry-collector-url= telemetry-service-name= stdin-inputs \
    dump-config= dump-chain-config= immediate-shutdown";

const BEACON_NODE: &[&str] = &[
    GLOBAL,
    "auto-compact-db= beacon-node-backend= blob-prune-margin-epochs= blobs-dir= block-cache-size= boot-nodes= \
     builder|payload-builder|payload-builders= builder-disable-ssz builder-fallback-epochs-since-finalization= \
     builder-fallback-skips= builder-fallback-skips-per-epoch= builder-fallback-disable-checks \
     builder-header-timeout= builder-user-agent=",
    "checkpoint-blobs= checkpoint-block= checkpoint-state= checkpoint-sync-state-id= checkpoint-sync-url= \
     checkpoint-sync-url-timeout= allow-insecure-genesis-sync genesis-backfill reconstruct-historic-states",
    "discovery-port= discovery-port6= enr-address+ enr-quic-port= enr-quic6-port= enr-tcp-port= enr-tcp6-port= \
     enr-udp-port= enr-udp6-port= e/enr-match disable-enr-auto-update enable-private-discovery disable-packet-filter \
     disable-quic disable-upnp disable-discovery disable-peer-scoring private listen-address+ port= port6= \
     quic-port= quic-port6= target-peers= trusted-peers= libp2p-addresses= network-dir= network-load= \
     z/zero-ports subscribe-all-subnets import-all-attestations supernode semi-supernode proposer-only \
     disable-inbound-rate-limiter inbound-rate-limiter-protocols= self-limiter disable-self-limiter \
     self-limiter-protocols= disable-backfill-rate-limiting disable-light-client-server",
    "execution-endpoint|execution-endpoints= execution-jwt|jwt-secrets= execution-jwt-id|jwt-id= \
     execution-jwt-secret-key|jwt-secret-key= execution-jwt-version|jwt-version= execution-timeout-multiplier= \
     suggested-fee-recipient= prepare-payload-lookahead= always-prepare-payload disable-get-blobs \
     disable-optimistic-finalized-sync reset-payload-statuses trusted-setup-file-override=",
    "http http-address= http-port= http-allow-origin= http-duplicate-block-status= http-enable-beacon-processor= \
     http-sse-capacity-multiplier= http-enable-tls http-tls-cert= http-tls-key= http-spec-fork= \
     http-allow-sync-stalled gui staking metrics metrics-address= metrics-port= metrics-allow-origin= \
     monitoring-endpoint= monitoring-endpoint-period= shuffling-cache-size=",
    "epochs-per-blob-prune= epochs-per-migration= freezer-dir= hdiff-buffer-cache-size= hierarchy-exponents= \
     historic-state-cache-size= hot-hdiff-buffer-cache-size= prune-blobs= prune-payloads= slots-per-restore-point= \
     state-cache-headroom= state-cache-size= compact-db purge-db purge-db-force shutdown-after-sync",
    "fork-choice-before-proposal-timeout= graffiti= max-skip-slots= invalid-gossip-verified-blocks-path= \
     disable-proposer-reorgs proposer-reorg-cutoff= proposer-reorg-disallowed-offsets= \
     proposer-reorg-epochs-since-finalization= proposer-reorg-parent-threshold= proposer-reorg-threshold= \
     paranoid-block-proposal",
    "slasher slasher-att-cache-size= slasher-backend= slasher-broadcast? slasher-chunk-size= slasher-dir= \
     slasher-history-length= slasher-max-db-size= slasher-slot-offset= slasher-update-period= \
     slasher-validator-chunk-size= validator-monitor-auto validator-monitor-file= \
     validator-monitor-individual-tracking-threshold= validator-monitor-pubkeys= wss-checkpoint=",
    "beacon-processor-max-workers= beacon-processor-work-queue-len= beacon-processor-reprocess-queue-len= \
     beacon-processor-attestation-batch-size= beacon-processor-aggregate-batch-size=",
];

const VALIDATOR_CLIENT: &[&str] = &[
    GLOBAL,
    "beacon-nodes= beacon-nodes-tls-certs= beacon-nodes-sync-tolerances= proposer-nodes= broadcast= \
     builder-boost-factor= builder-registration-timestamp-override= builder-proposals|private-tx-proposals \
     prefer-builder-proposals gas-limit= graffiti= graffiti-file= graffiti-append suggested-fee-recipient= \
     validator-registration-batch-size=",
    "secrets-dir= validators-dir|validator-dir= init-slashing-protection disable-auto-discover \
     enable-doppelganger-protection disable-attesting distributed disable-slashing-protection-web3signer \
     web3-signer-keep-alive-timeout= web3-signer-max-idle-connections= disable-latency-measurement-service \
     latency-measurement-service use-long-timeouts long-timeouts-multiplier=",
    "http http-address= http-port= http-allow-origin= http-token-path= unencrypted-http-transport \
     http-allow-keystore-export http-store-passwords-in-secrets-dir metrics metrics-address= metrics-port= \
     metrics-allow-origin= monitoring-endpoint= monitoring-endpoint-period= enable-high-validator-count-metrics",
];

/// The spec keys a validator client needs its beacon node to share with it.
const SHARED_SPEC: &[&str] =
    &["PRESET_BASE", "CONFIG_NAME", "GENESIS_FORK_VERSION", "SECONDS_PER_SLOT", "DEPOSIT_CHAIN_ID"];

const USAGE_BN: &str = "lighthouse beacon_node [OPTIONS] --execution-endpoint <EXECUTION-ENDPOINT>";
const USAGE_VC: &str = "lighthouse validator_client [OPTIONS]";

/// The plan for `lighthouse …`, `None` for a subcommand the stand-in does not model.
pub fn plan(args: &[String], warn: bool) -> Option<Result<Plan, Failure>> {
    let global = Spec::new(&[GLOBAL]);
    let top =
        match cli::parse(Style::Clap, "lighthouse", "lighthouse [OPTIONS] [COMMAND]", &global, args, Positionals::Stop)
        {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
    let (command, rest) = top.positionals.split_first()?;
    // Global flags may come before the subcommand: hand them on.
    let mut sub_args = top.as_args();
    sub_args.extend(rest.iter().cloned());
    match command.as_str() {
        "bn" | "b" | "beacon" | "beacon_node" => Some(beacon_node(&sub_args, warn)),
        "vc" | "v" | "validator" | "validator_client" => Some(validator_client(&sub_args, warn)),
        "account_manager" | "am" | "a" | "account" | "validator_manager" | "vm" | "database_manager" | "db"
        | "help" => None,
        other => Some(Err(Failure::new(
            2,
            format!(
                "error: unrecognized subcommand '{other}'\n\nUsage: lighthouse [OPTIONS] [COMMAND]\n\nFor more information, try '--help'."
            ),
        ))),
    }
}

fn missing_required(usage: &str, flag: &str) -> Failure {
    Failure::new(
        2,
        format!(
            "error: the following required arguments were not provided:\n  {flag}\n\nUsage: {usage}\n\nFor more information, try '--help'."
        ),
    )
}

/// genesis_time (u64, little endian) and genesis_validators_root (32 bytes) open a
/// BeaconState's SSZ.
fn genesis_of_state(testnet_dir: &str) -> Option<(u64, String)> {
    let bytes = std::fs::read(std::path::Path::new(testnet_dir).join("genesis.ssz")).ok()?;
    let time = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let root: String = bytes.get(8..40)?.iter().map(|b| format!("{b:02x}")).collect();
    Some((time, format!("0x{root}")))
}

fn beacon_node(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "lighthouse bn";
    let parsed = cli::parse(Style::Clap, "lighthouse", USAGE_BN, &Spec::new(BEACON_NODE), args, Positionals::Refuse)?;
    let endpoint = parsed
        .value("execution-endpoint")
        .ok_or_else(|| missing_required(USAGE_BN, "--execution-endpoint <EXECUTION-ENDPOINT>"))?;
    let mut files = Files::new(client, warn);
    let mut spec = Vec::new();
    if let Some(dir) = parsed.value("testnet-dir") {
        spec = files.require("testnet-dir", dir, files::testnet_dir)?.unwrap_or_default();
    }
    if let Some(dir) = parsed.value("datadir") {
        files.require("datadir", dir, |p| files::writable_dir(p, true))?;
    }
    let jwt_flag;
    let secret = match (parsed.value("execution-jwt"), parsed.value("execution-jwt-secret-key")) {
        (Some(path), _) => {
            jwt_flag = format!("--execution-jwt {path}");
            files.require("execution-jwt", path, files::jwt_file)?
        }
        (None, Some(hex)) => {
            jwt_flag = "--execution-jwt-secret-key".to_string();
            Some(
                jwt::parse_secret(hex)
                    .map_err(|e| Failure::new(1, format!("bp-standin: {client}: --execution-jwt-secret-key: {e}")))?,
            )
        }
        (None, None) => {
            return Err(Failure::new(
                1,
                format!("bp-standin: {client}: --execution-endpoint needs a JWT secret (--execution-jwt)"),
            ));
        }
    };
    let mut plan = Plan::new(client, "lighthouse", &parsed, files, false);
    if let Some((time, root)) = parsed.value("testnet-dir").and_then(genesis_of_state) {
        plan.node.genesis_time = time;
        plan.node.genesis_validators_root = Some(root);
    }
    plan.node.spec = spec;
    if parsed.on("http") || parsed.on("staking") || parsed.on("gui") {
        plan.api(&parsed, "http-port", Api::Beacon);
    }
    if let Some(secret) = secret {
        let check = Check::Engine { secret, jwt_flag, expect_chain: None };
        plan.peer("execution-endpoint", endpoint, check, true)?;
    }
    if let Some(builder) = parsed.value("builder") {
        plan.peer("builder", builder, Check::Builder, false)?;
    }
    Ok(plan)
}

fn validator_client(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "lighthouse vc";
    let parsed =
        cli::parse(Style::Clap, "lighthouse", USAGE_VC, &Spec::new(VALIDATOR_CLIENT), args, Positionals::Refuse)?;
    let mut files = Files::new(client, warn);
    let mut spec = Vec::new();
    if let Some(dir) = parsed.value("testnet-dir") {
        spec = files.require("testnet-dir", dir, files::testnet_dir)?.unwrap_or_default();
    }
    let datadir = parsed.value("datadir").map(std::path::PathBuf::from);
    let validators =
        parsed.value("validators-dir").map(Into::into).or_else(|| datadir.as_ref().map(|d| d.join("validators")));
    let secrets = parsed.value("secrets-dir").map(Into::into).or_else(|| datadir.as_ref().map(|d| d.join("secrets")));
    if let (Some(validators), Some(secrets)) = (&validators, &secrets) {
        let (flag, shown) = match parsed.value("validators-dir") {
            Some(v) => ("validators-dir", v.to_string()),
            None => ("datadir", parsed.value("datadir").unwrap_or_default().to_string()),
        };
        files.require(flag, &shown, |_| files::keystores(validators, secrets))?;
        if !parsed.on("init-slashing-protection") && !validators.join("slashing_protection.sqlite").is_file() {
            return Err(Failure::new(
                1,
                format!(
                    "bp-standin: {client}: Failed to open slashing protection database: {} does not exist; \
                     use --init-slashing-protection to create it",
                    validators.join("slashing_protection.sqlite").display()
                ),
            ));
        }
    }
    let mut plan = Plan::new(client, "lighthouse", &parsed, files, false);
    let same_spec: Vec<(String, String)> =
        spec.iter().filter(|(k, _)| SHARED_SPEC.contains(&k.as_str())).cloned().collect();
    let mut beacon_nodes = parsed.values("beacon-nodes");
    if beacon_nodes.is_empty() {
        beacon_nodes.push("http://localhost:5052");
    }
    for url in beacon_nodes {
        plan.peer(
            "beacon-nodes",
            url,
            Check::Beacon { synced: false, same_spec: same_spec.clone(), genesis: true },
            false,
        )?;
    }
    for url in parsed.values("proposer-nodes") {
        plan.peer(
            "proposer-nodes",
            url,
            Check::Beacon { synced: false, same_spec: same_spec.clone(), genesis: false },
            false,
        )?;
    }
    Ok(plan)
}
