//! reth (`ghcr.io/paradigmxyz/reth:v1.9.3`): `reth node` (the L1 execution client) and
//! `reth p2p bootnode` (the OP stack's bootnode). Flag sets encoded from reth v1.9.3's CLI
//! reference (`docs/vocs/docs/pages/cli/reth/node.mdx`, `p2p/bootnode.mdx`: `reth node --help`)
//! and the aliases in its argument structs (`crates/node/core/src/args/`).
//!
//! The same contract runs op-reth (`ghcr.io/paradigmxyz/op-reth:v1.9.3`: reth's `node` flags plus
//! its Rollup group, `docs/vocs/docs/pages/cli/op-reth/node.mdx`) and op-rbuilder
//! (`ghcr.io/flashbots/op-rbuilder:v0.2.13`: op-reth's flags plus its builder, flashblocks,
//! telemetry, flashtestations and gas-limiter groups, `crates/op-rbuilder/src/args/op.rs` and
//! the `args.rs` of `flashtestations/` and `gas_limiter/` at tag op-rbuilder/v0.2.13). Their
//! image's entrypoint is `/app/rbuilder` (op-rbuilder's Dockerfile, shared with rbuilder), so
//! `rbuilder node …` is op-rbuilder: rbuilder itself has no `node` command.

use crate::cli::{self, Failure, Positionals, Spec, Style};
use crate::contract::{Api, Plan};
use crate::files::{self, Files};

/// Flags every reth command takes (logging, display, tracing).
const GLOBAL: &str = "h/help log.stdout.format= log.stdout.filter= log.file.format= log.file.filter= \
    log.file.directory= log.file.name= log.file.max-size= log.file.max-files= log.journald \
    log.journald.filter= color= v/verbosity# q/quiet|silent tracing-otlp~ tracing-otlp-protocol= tracing-otlp.filter=";

/// `reth node`.
const NODE: &[&str] = &[
    GLOBAL,
    "config= chain= instance= with-unused-ports",
    "metrics|metrics.prometheus= metrics.prometheus.push.url= metrics.prometheus.push.interval=",
    "datadir= datadir.static-files|datadir.static_files=",
    // Networking
    "d/disable-discovery disable-dns-discovery disable-discv4-discovery enable-discv5-discovery disable-nat",
    "discovery.addr= discovery.port= discovery.v5.addr= discovery.v5.addr.ipv6= discovery.v5.port= \
     discovery.v5.port.ipv6= discovery.v5.lookup-interval= discovery.v5.bootstrap.lookup-interval= \
     discovery.v5.bootstrap.lookup-countdown=",
    "trusted-peers= trusted-only bootnodes= dns-retries= peers-file= identity= p2p-secret-key= no-persist-peers \
     nat= addr= port= max-outbound-peers= max-inbound-peers= max-tx-reqs= max-tx-reqs-peer= max-seen-tx-history= \
     max-pending-imports= pooled-tx-response-soft-limit= pooled-tx-pack-soft-limit= max-tx-pending-fetch= \
     net-if.experimental= tx-propagation-policy= disable-tx-gossip tx-propagation-mode= required-block-hashes= \
     network-id=",
    // RPC
    "http http.addr= http.port= http.disable-compression http.api= http.corsdomain= ws ws.addr= ws.port= \
     ws.origins|ws.corsdomain= ws.api= ipcdisable ipcpath= ipc.permissions= authrpc.addr= authrpc.port= \
     authrpc.jwtsecret= auth-ipc auth-ipc.path= disable-auth-server|disable-engine-api rpc.jwtsecret=",
    "rpc.max-request-size|rpc-max-request-size= rpc.max-response-size|rpc-max-response-size|rpc.returndata.limit= \
     rpc.max-subscriptions-per-connection|rpc-max-subscriptions-per-connection= \
     rpc.max-connections|rpc-max-connections= rpc.max-tracing-requests|rpc-max-tracing-requests= \
     rpc.max-trace-filter-blocks|rpc-max-trace-filter-blocks= rpc.max-blocks-per-filter|rpc-max-blocks-per-filter= \
     rpc.max-logs-per-response|rpc-max-logs-per-response= rpc.gascap|rpc-gascap= \
     rpc.evm-memory-limit|rpc-evm-memory-limit= rpc.txfeecap|rpc-txfeecap= rpc.max-simulate-blocks= \
     rpc.eth-proof-window= rpc.proof-permits|rpc-proof-permits= rpc.pending-block= rpc.forwarder|rpc-forwarder= \
     builder.disallow= rpc.send-raw-transaction-sync-timeout=",
    "rpc-cache.max-blocks= rpc-cache.max-receipts= rpc-cache.max-headers|rpc-cache.max-envs= \
     rpc-cache.max-concurrent-db-requests= gpo.blocks= gpo.ignoreprice= gpo.maxprice= gpo.percentile= \
     gpo.default-suggested-fee=",
    // Transaction pool
    "txpool.pending-max-count= txpool.pending-max-size= txpool.basefee-max-count= txpool.basefee-max-size= \
     txpool.queued-max-count= txpool.queued-max-size= txpool.blobpool-max-count= txpool.blobpool-max-size= \
     txpool.blob-cache-size= txpool.max-account-slots= txpool.pricebump= txpool.minimal-protocol-fee= \
     txpool.minimum-priority-fee= txpool.gas-limit= txpool.max-tx-gas= blobpool.pricebump= \
     txpool.max-tx-input-bytes= txpool.max-cached-entries= txpool.nolocals txpool.locals= \
     txpool.no-local-transactions-propagation txpool.additional-validation-tasks= txpool.max-pending-txns= \
     txpool.max-new-txns= txpool.max-new-pending-txs-notifications= txpool.lifetime= \
     txpool.transactions-backup= txpool.disable-transactions-backup txpool.max-batch-size=",
    // Payload builder, debug, database, dev
    "builder.extradata= builder.gaslimit|miner.gaslimit= builder.interval= builder.deadline= builder.max-tasks=",
    "debug.terminate debug.tip= debug.max-block= debug.etherscan? debug.rpc-consensus-url|debug.rpc-consensus-ws= \
     debug.skip-fcu= debug.skip-new-payload= debug.reorg-frequency= debug.reorg-depth= debug.engine-api-store= \
     debug.invalid-block-hook= debug.healthy-node-rpc-url= ethstats= debug.startup-sync-state-idle",
    "db.log-level= db.exclusive= db.max-size= db.growth-step= db.read-transaction-timeout= db.max-readers= \
     db.sync-mode=",
    "dev|auto-mine dev.block-max-transactions= dev.block-time= dev.mnemonic= full",
    // Pruning
    "prune.block-interval|block-interval= prune.sender-recovery.full|prune.senderrecovery.full \
     prune.sender-recovery.distance|prune.senderrecovery.distance= \
     prune.sender-recovery.before|prune.senderrecovery.before= \
     prune.transaction-lookup.full|prune.transactionlookup.full \
     prune.transaction-lookup.distance|prune.transactionlookup.distance= \
     prune.transaction-lookup.before|prune.transactionlookup.before= prune.receipts.full prune.receipts.pre-merge \
     prune.receipts.distance= prune.receipts.before= prune.receiptslogfilter= \
     prune.account-history.full|prune.accounthistory.full \
     prune.account-history.distance|prune.accounthistory.distance= \
     prune.account-history.before|prune.accounthistory.before= \
     prune.storage-history.full|prune.storagehistory.full \
     prune.storage-history.distance|prune.storagehistory.distance= \
     prune.storage-history.before|prune.storagehistory.before= prune.bodies.pre-merge prune.bodies.distance= \
     prune.bodies.before=",
    // Engine
    "engine.persistence-threshold= engine.memory-block-buffer-target= engine.legacy-state-root \
     engine.disable-prewarming|engine.disable-caching-and-prewarming engine.disable-parallel-sparse-trie \
     engine.state-provider-metrics engine.cross-block-cache-size= engine.state-root-task-compare-updates \
     engine.accept-execution-requests-hash engine.multiproof-chunking engine.multiproof-chunk-size= \
     engine.reserved-cpu-cores= engine.disable-precompile-cache engine.state-root-fallback \
     engine.always-process-payload-attributes-on-canonical-head engine.allow-unwind-canonical-header \
     engine.storage-worker-count= engine.account-worker-count= engine.caching-and-prewarming? \
     engine.parallel-sparse-trie? engine.precompile-cache?",
    "era.enable era.path= era.url= ress.enable ress.max-active-connections= ress.max-witness-window= \
     ress.witness-max-parallel= ress.witness-cache-size=",
];

/// op-reth's Rollup group (`RollupArgs`).
const ROLLUP: &str = "rollup.sequencer|rollup.sequencer-http|rollup.sequencer-ws= rollup.disable-tx-pool-gossip \
    rollup.compute-pending-block rollup.discovery.v4 rollup.enable-tx-conditional rollup.supervisor-http= \
    rollup.supervisor-safety-level= rollup.sequencer-headers= rollup.historicalrpc= min-suggested-priority-fee= \
    flashblocks-url= flashblock-consensus";

/// op-rbuilder's own groups (`OpRbuilderArgs`), besides [`ROLLUP`].
const OP_RBUILDER: &str = "rollup.builder-secret-key= rollup.chain-block-time= builder.max_gas_per_txn= \
    builder.log-pool-transactions builder.extra-block-deadline-secs= builder.enable-revert-protection \
    builder.playground? flashblocks.enabled flashblocks.port= flashblocks.addr= flashblocks.block-time= \
    flashblocks.fixed flashblocks.leeway-time= flashblocks.disable-state-root flashblocks.number-contract-address= \
    flashblocks.number-contract-use-permit flashblocks.p2p_enabled flashblocks.p2p_port= \
    flashblocks.p2p_private_key_file= flashblocks.p2p_known_peers= flashblocks.p2p_max_peer_count= \
    telemetry.otlp-endpoint= telemetry.otlp-headers= telemetry.sampling-ratio= flashtestations.enabled \
    flashtestations.debug flashtestations.debug-tee-key-seed= flashtestations.tee-key-path= \
    flashtestations.quote-provider= flashtestations.rpc-url= flashtestations.enable-block-proofs \
    flashtestations.registry-address= flashtestations.builder-policy-address= \
    flashtestations.builder-proof-version= gas-limiter.enabled gas-limiter.max-gas-per-address= \
    gas-limiter.refill-rate-per-block= gas-limiter.cleanup-interval=";

/// Which of reth's CLIs runs: reth, op-reth or op-rbuilder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Reth,
    OpReth,
    OpRbuilder,
}

impl Flavor {
    /// The program's name, as its usage lines say it.
    fn program(self) -> &'static str {
        match self {
            Flavor::Reth => "reth",
            Flavor::OpReth => "op-reth",
            Flavor::OpRbuilder => "op-rbuilder",
        }
    }

    fn node_spec(self) -> Spec {
        let mut words: Vec<&'static str> = NODE.to_vec();
        if self != Flavor::Reth {
            words.push(ROLLUP);
        }
        if self == Flavor::OpRbuilder {
            words.push(OP_RBUILDER);
        }
        Spec::new(&words)
    }

    /// Chains built into the program: `--chain` takes these names or a genesis file.
    fn built_in(self, chain: &str) -> bool {
        match self {
            Flavor::Reth => BUILT_IN_CHAINS.contains(&chain),
            // op-reth's superchain registry: its names are words, never a path.
            _ => OP_BUILT_IN_CHAINS.contains(&chain) || !chain.contains(['/', '.']),
        }
    }
}

/// The best-known of op-reth's built-in chains (its list is the superchain registry's).
const OP_BUILT_IN_CHAINS: &[&str] =
    &["optimism", "optimism_sepolia", "optimism-sepolia", "base", "base_sepolia", "base-sepolia", "dev"];

/// `reth p2p bootnode`.
const BOOTNODE: &[&str] = &[GLOBAL, "addr= p2p-secret-key= nat= v5"];

/// Subcommands of reth v1.9.3 the stand-in does not model (they run as the generic stand-in).
const OTHER_COMMANDS: &[&str] = &[
    "init",
    "init-state",
    "import",
    "import-era",
    "export-era",
    "dump-genesis",
    "db",
    "download",
    "stage",
    "config",
    "prune",
    "re-execute",
    "recover",
    "debug",
    "help",
];

/// Chains built into reth: `--chain` takes these names or a genesis file.
const BUILT_IN_CHAINS: &[&str] = &["mainnet", "sepolia", "holesky", "hoodi", "dev"];

/// The plan for `reth …`, `None` for a subcommand the stand-in does not model.
pub fn plan(args: &[String], warn: bool) -> Option<Result<Plan, Failure>> {
    plan_for(Flavor::Reth, args, warn)
}

/// The plan for `reth …`, `op-reth …` or `op-rbuilder …`, `None` for a subcommand the stand-in
/// does not model.
pub fn plan_for(flavor: Flavor, args: &[String], warn: bool) -> Option<Result<Plan, Failure>> {
    let program = flavor.program();
    let global = Spec::new(&[GLOBAL, "V/version"]);
    let usage = format!("{program} [OPTIONS] <COMMAND>");
    let top = match cli::parse(Style::Clap, program, &usage, &global, args, Positionals::Stop) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    let rest = &top.positionals;
    match rest.first().map(String::as_str) {
        Some("node") => Some(node(flavor, &rest[1..], warn)),
        Some("p2p") if rest.get(1).map(String::as_str) == Some("bootnode") => Some(bootnode(&rest[2..], warn)),
        Some(c) if OTHER_COMMANDS.contains(&c) || c == "p2p" => None,
        Some(c) => Some(Err(Failure::new(
            2,
            format!("error: unrecognized subcommand '{c}'\n\nUsage: {usage}\n\nFor more information, try '--help'."),
        ))),
        None => None,
    }
}

fn node(flavor: Flavor, args: &[String], warn: bool) -> Result<Plan, Failure> {
    let program = flavor.program();
    let client = format!("{program} node");
    let client = client.as_str();
    let usage = format!("{program} node [OPTIONS]");
    let parsed = cli::parse(Style::Clap, program, &usage, &flavor.node_spec(), args, Positionals::Refuse)?;
    let mut files = Files::new(client, warn);
    let mut genesis = None;
    let mut notes = Vec::new();
    if let Some(chain) = parsed.value("chain").filter(|c| !flavor.built_in(c)) {
        // clap's value parser reads the file: a bad one is a usage error.
        genesis = files.check("chain", chain, files::genesis, |reason| {
            Failure::new(
                2,
                format!(
                    "error: invalid value '{chain}' for '--chain <CHAIN_OR_PATH>': {reason}\n\nFor more information, try '--help'."
                ),
            )
        })?;
    }
    if let Some(dir) = parsed.value("datadir") {
        files.require("datadir", dir, |p| files::writable_dir(p, true))?;
    }
    let secret = match parsed.value("authrpc.jwtsecret") {
        Some(path) => files.require("authrpc.jwtsecret", path, files::jwt_file)?,
        // Without the flag reth makes a secret of its own, which no consensus client has.
        None => Some(crate::random_secret()),
    };
    if !parsed.on("ipcdisable")
        && let Some(ipc) = parsed.value("ipcpath")
    {
        files.require("ipcpath", ipc, files::writable_parent)?;
    }
    if let Some(key) = parsed.value("p2p-secret-key") {
        files.require("p2p-secret-key", key, files::hex_key)?;
    }
    if flavor != Flavor::Reth
        && let Some(chain) = parsed.value("chain").filter(|c| !flavor.built_in(c))
        && !files::json_with(std::path::Path::new(chain), &["config"])
            .is_ok_and(|(v, _)| v.at(&["config", "optimism"]).is_some())
    {
        notes.push(format!(
            "--chain {chain} has no config.optimism: not an OP stack genesis (builder-playground's l2-genesis.json has one)"
        ));
    }
    if flavor == Flavor::OpRbuilder
        && let Some(key) = parsed.value("flashblocks.p2p_private_key_file")
    {
        files.require("flashblocks.p2p_private_key_file", key, files::hex_key)?;
    }
    let mut plan = Plan::new(client, "reth", &parsed, files, false);
    plan.notes = notes;
    if flavor == Flavor::OpRbuilder {
        // The flashblocks websocket (1111) and p2p (9009) listeners exist only when enabled.
        let mut listeners: Vec<String> =
            plan.flag_args.iter().filter(|a| !a.starts_with("--flashblocks.")).cloned().collect();
        if parsed.on("flashblocks.enabled") {
            listeners.push(format!("--flashblocks.port={}", parsed.value("flashblocks.port").unwrap_or("1111")));
            if parsed.on("flashblocks.p2p_enabled") {
                listeners
                    .push(format!("--flashblocks.p2p_port={}", parsed.value("flashblocks.p2p_port").unwrap_or("9009")));
            }
        }
        plan.flag_args = listeners;
    }
    plan.node.chain_id = Some(genesis.map_or(1, |g| g.chain_id));
    plan.node.genesis_time = genesis.map_or(0, |g| g.timestamp);
    plan.node.jwt = secret;
    if parsed.on("http") {
        plan.api(&parsed, "http.port", Api::ExecutionRpc);
    }
    if parsed.on("ws") {
        plan.api(&parsed, "ws.port", Api::ExecutionRpc);
    }
    if !parsed.on("disable-auth-server") {
        plan.api(&parsed, "authrpc.port", Api::Engine);
    }
    // `--metrics <addr:port>`: reth's Prometheus endpoint, on every path.
    plan.api(&parsed, "metrics", Api::Metrics { path: None });
    for flag in ["bootnodes", "trusted-peers"] {
        for enode in parsed.values(flag) {
            plan.enode(flag, enode)?;
        }
    }
    Ok(plan)
}

fn bootnode(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "reth p2p bootnode";
    let parsed = cli::parse(
        Style::Clap,
        "reth",
        "reth p2p bootnode [OPTIONS]",
        &Spec::new(BOOTNODE),
        args,
        Positionals::Refuse,
    )?;
    let mut files = Files::new(client, warn);
    if let Some(key) = parsed.value("p2p-secret-key") {
        files.require("p2p-secret-key", key, files::hex_key)?;
    }
    Ok(Plan::new(client, "reth", &parsed, files, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    /// A directory with an L2 genesis, a JWT and a key; removed on drop.
    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("bp-standin-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let write = |f: &str, c: &str| std::fs::write(dir.join(f), c).unwrap();
            write(
                "l2-genesis.json",
                r#"{"config":{"chainId":13,"optimism":{"eip1559Elasticity":6}},"timestamp":"0x10"}"#,
            );
            write("l1-genesis.json", r#"{"config":{"chainId":1337},"timestamp":"0x10"}"#);
            write("jwtsecret", &"ab".repeat(32));
            write("key", &"01".repeat(32));
            Dir(dir)
        }

        fn path(&self, name: &str) -> String {
            self.0.join(name).to_string_lossy().into_owned()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// builder-playground c473a6a's op-reth command line (`--external-builder op-reth`), under `dir`.
    fn op_reth_args(dir: &Dir, chain: &str) -> Vec<String> {
        args(&[
            "node",
            "--authrpc.port",
            "8551",
            "--authrpc.addr",
            "0.0.0.0",
            "--authrpc.jwtsecret",
            &dir.path("jwtsecret"),
            "--http",
            "--http.addr",
            "0.0.0.0",
            "--http.port",
            "8545",
            "--chain",
            &dir.path(chain),
            "--datadir",
            &dir.path("data"),
            "--color",
            "never",
            "--metrics",
            "0.0.0.0:9090",
            "--port",
            "30303",
            "--rollup.sequencer-http",
            "http://localhost:8547",
            "--rollup.disable-tx-pool-gossip",
            "--rollup.compute-pending-block",
        ])
    }

    #[test]
    fn op_reth_takes_reths_flags_and_the_rollup_group() {
        let dir = Dir::new("op-reth");
        let p = plan_for(Flavor::OpReth, &op_reth_args(&dir, "l2-genesis.json"), false).unwrap().unwrap();
        assert_eq!(p.client, "op-reth node");
        assert_eq!(p.node.chain_id, Some(13));
        assert_eq!(p.node.jwt, Some([0xab; 32]));
        assert_eq!(p.apis.len(), 3, "{:?}", p.apis);
        assert_eq!(p.apis[2], (9090, Api::Metrics { path: None }), "--metrics 0.0.0.0:9090");
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        assert!(crate::ports::listen_ports(&p.program, &p.flag_args) == [8545, 8551, 9090, 30303]);

        let p = plan_for(Flavor::OpReth, &op_reth_args(&dir, "l1-genesis.json"), false).unwrap().unwrap();
        assert!(p.notes[0].contains("has no config.optimism: not an OP stack genesis"), "{:?}", p.notes);
        assert!(plan_for(Flavor::OpReth, &args(&["node", "--chain", "base-sepolia"]), false).unwrap().is_ok());

        // reth itself has no Rollup group; op-reth has no op-rbuilder groups.
        let e =
            plan_for(Flavor::Reth, &args(&["node", "--rollup.disable-tx-pool-gossip"]), false).unwrap().err().unwrap();
        assert_eq!(e.code, 2);
        assert!(e.message.starts_with("error: unexpected argument '--rollup.disable-tx-pool-gossip' found"));
        let e = plan_for(Flavor::OpReth, &args(&["node", "--flashblocks.enabled"]), false).unwrap().err().unwrap();
        assert!(e.message.contains("Usage: op-reth node [OPTIONS]"), "{}", e.message);
        let missing = dir.path("nope.json");
        let e = plan_for(Flavor::OpReth, &args(&["node", "--chain", &missing]), false).unwrap().err().unwrap();
        assert_eq!(e.code, 2);
        assert!(e.message.starts_with(&format!("error: invalid value '{missing}' for '--chain <CHAIN_OR_PATH>'")));
    }

    #[test]
    fn op_rbuilder_adds_its_groups_and_flashblocks_listeners() {
        let dir = Dir::new("op-rbuilder");
        let mut a = op_reth_args(&dir, "l2-genesis.json");
        a.extend(args(&[
            "--flashblocks.enabled",
            "--flashblocks.addr",
            "0.0.0.0",
            "--flashblocks.port",
            "1112",
            "--rollup.builder-secret-key",
            &"02".repeat(32),
            "--builder.playground",
        ]));
        let p = plan_for(Flavor::OpRbuilder, &a, false).unwrap().unwrap();
        assert_eq!(p.client, "op-rbuilder node");
        assert_eq!(crate::ports::listen_ports(&p.program, &p.flag_args), [1112, 8545, 8551, 9090, 30303]);
        // Without --flashblocks.enabled the flashblocks port is not bound.
        let mut b = op_reth_args(&dir, "l2-genesis.json");
        b.extend(args(&["--flashblocks.port", "1112", "--flashblocks.p2p_private_key_file", &dir.path("key")]));
        let p = plan_for(Flavor::OpRbuilder, &b, false).unwrap().unwrap();
        assert_eq!(crate::ports::listen_ports(&p.program, &p.flag_args), [8545, 8551, 9090, 30303]);
        assert!(p.files.seen.iter().any(|f| f.starts_with("--flashblocks.p2p_private_key_file")), "{:?}", p.files.seen);
        let e = plan_for(Flavor::OpRbuilder, &args(&["nod"]), false).unwrap().err().unwrap();
        assert!(e.message.contains("Usage: op-rbuilder [OPTIONS] <COMMAND>"), "{}", e.message);
    }
}
