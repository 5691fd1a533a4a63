//! reth (`ghcr.io/paradigmxyz/reth:v1.9.3`): `reth node` (the L1 execution client) and
//! `reth p2p bootnode` (the OP stack's bootnode). Flag sets encoded from reth v1.9.3's CLI
//! reference (`docs/vocs/docs/pages/cli/reth/node.mdx`, `p2p/bootnode.mdx`: `reth node --help`)
//! and the aliases in its argument structs (`crates/node/core/src/args/`).

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
    let global = Spec::new(&[GLOBAL, "V/version"]);
    let top = match cli::parse(Style::Clap, "reth", "reth [OPTIONS] <COMMAND>", &global, args, Positionals::Stop) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    let rest = &top.positionals;
    match rest.first().map(String::as_str) {
        Some("node") => Some(node(&rest[1..], warn)),
        Some("p2p") if rest.get(1).map(String::as_str) == Some("bootnode") => Some(bootnode(&rest[2..], warn)),
        Some(c) if OTHER_COMMANDS.contains(&c) || c == "p2p" => None,
        Some(c) => Some(Err(Failure::new(
            2,
            format!(
                "error: unrecognized subcommand '{c}'\n\nUsage: reth [OPTIONS] <COMMAND>\n\nFor more information, try '--help'."
            ),
        ))),
        None => None,
    }
}

fn node(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "reth node";
    let parsed = cli::parse(Style::Clap, "reth", "reth node [OPTIONS]", &Spec::new(NODE), args, Positionals::Refuse)?;
    let mut files = Files::new(client, warn);
    let mut genesis = None;
    if let Some(chain) = parsed.value("chain").filter(|c| !BUILT_IN_CHAINS.contains(c)) {
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
    let mut plan = Plan::new(client, "reth", &parsed, files, false);
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
