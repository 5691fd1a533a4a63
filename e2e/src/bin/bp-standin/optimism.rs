//! The OP stack's Go clients, all urfave/cli over Go's `flag` package: op-geth's `geth` (run by
//! builder-playground as `/bin/sh -c "geth init … && exec geth …"`), `op-node` and `op-batcher`.
//! Flag sets encoded from the sources' flag definitions: op-geth `cmd/utils/flags.go`,
//! `flags_legacy.go` and `internal/debug/flags.go`; optimism `op-node/flags/{flags,p2p_flags}.go`,
//! `op-batcher/flags/flags.go` and the op-service CLI packages (log, metrics, pprof, rpc, txmgr,
//! signer, alt-DA). These are the October 2024 sources (op-geth v1.101411, op-node v1.9); flags
//! builder-playground c473a6a passes to the newer images it pins (`--rollup.l1-chain-config`)
//! are added by name.

use crate::cli::{self, Failure, Parsed, Positionals, Spec, Style};
use crate::contract::{Api, Check, Plan};
use crate::files::{self, Files};
use crate::jwt;

const GETH: &[&str] = &[
    "help|h version|v config= datadir= datadir.ancient= datadir.minfreedisk= db.engine= remotedb= keystore= \
     state.scheme= syncmode= gcmode= snapshot txlookuplimit= history.state= history.transactions= exitwhensynced \
     synctarget= networkid= mainnet sepolia holesky op-network|beta.op-network= override.cancun= override.canyon= \
     override.ecotone= override.fjord= override.granite= override.holocene= override.interop= override.verkle= \
     eth.requiredblocks= ethstats= identity= crypto.kzg= bloomfilter.size= dev dev.period= dev.gaslimit= \
     lightkdf usb nousb pcscdpath= signer= password= unlock= allow-insecure-unlock",
    "cache= cache.database= cache.trie= cache.trie.journal= cache.trie.rejournal= cache.gc= cache.snapshot= \
     cache.noprefetch cache.preimages cache.blocklogs= fdlimit=",
    "txpool.locals= txpool.nolocals txpool.journal= txpool.journalremotes txpool.rejournal= txpool.pricelimit= \
     txpool.pricebump= txpool.accountslots= txpool.globalslots= txpool.accountqueue= txpool.globalqueue= \
     txpool.lifetime= blobpool.datadir= blobpool.datacap= blobpool.pricebump=",
    "mine miner.etherbase= miner.extradata= miner.gaslimit= miner.gasprice= miner.recommit= \
     miner.newpayload-timeout= miner.effectivegaslimit= miner.pending.feeRecipient=",
    "http http.addr= http.port= http.api= http.corsdomain= http.vhosts= http.rpcprefix= ws ws.addr= ws.port= \
     ws.api= ws.origins= ws.rpcprefix= graphql graphql.corsdomain= graphql.vhosts= ipcdisable ipcpath= \
     authrpc.addr= authrpc.port= authrpc.vhosts= authrpc.jwtsecret= rpc.gascap= rpc.evmtimeout= rpc.txfeecap= \
     rpc.allow-unprotected-txs rpc.enabledeprecatedpersonal rpc.batch-request-limit= \
     rpc.batch-response-max-size= jspath= exec= preload= header|H=",
    "port= bootnodes= maxpeers= maxpendpeers= nat= nodiscover v5disc discovery.v4|discv4 discovery.v5|discv5 \
     discovery.dns= discovery.port= netrestrict= nodekey= nodekeyhex=",
    "gpo.blocks= gpo.percentile= gpo.maxprice= gpo.ignoreprice= gpo.minsuggestedpriorityfee= vmdebug \
     vmtrace= vmtrace.jsonconfig= beacon.api= beacon.api.header= beacon.threshold= beacon.nofilter \
     beacon.config= beacon.genesis.gvroot= beacon.genesis.time= beacon.checkpoint= blsync.engine.api= \
     blsync.jwtsecret=",
    "metrics metrics.expensive metrics.addr= metrics.port= metrics.influxdb metrics.influxdb.endpoint= \
     metrics.influxdb.database= metrics.influxdb.username= metrics.influxdb.password= metrics.influxdb.tags= \
     metrics.influxdbv2 metrics.influxdb.token= metrics.influxdb.bucket= metrics.influxdb.organization=",
    "verbosity= log.vmodule= vmodule= log.json log.format= log.file= log.rotate log.maxsize= log.maxbackups= \
     log.maxage= log.compress log.backtrace= log.debug pprof pprof.port= pprof.addr= pprof.memprofilerate= \
     pprof.blockprofilerate= pprof.cpuprofile= trace=",
    "rollup.sequencerhttp= rollup.historicalrpc= rollup.historicalrpctimeout= rollup.disabletxpoolgossip \
     rollup.enabletxpooladmission rollup.computependingblock rollup.halt= rollup.superchain-upgrades|beta.rollup.superchain-upgrades \
     rollup.sequencertxconditionalenabled rollup.sequencertxconditionalcostratelimit=",
    // Deprecated, still defined (flags_legacy.go).
    "light.serve= light.ingress= light.egress= light.maxpeers= light.nopruning light.nosyncserve whitelist= \
     cache.trie.journal= cache.trie.rejournal= log.backtrace= log.debug nocode nocompaction nostorage incompletes \
     iterative start= limit= docroot=",
];

/// `geth init`: the database flags, preimages, overrides, the state scheme.
const GETH_INIT: &[&str] =
    &["help|h datadir= datadir.ancient= datadir.minfreedisk= db.engine= remotedb= state.scheme= cache.preimages \
     override.cancun= override.canyon= override.ecotone= override.fjord= override.granite= override.holocene= \
     override.interop= override.verkle="];

/// geth subcommands the stand-in runs as the generic stand-in.
const GETH_COMMANDS: &[&str] = &[
    "account",
    "attach",
    "console",
    "db",
    "dump",
    "dumpconfig",
    "dumpgenesis",
    "export",
    "export-history",
    "import",
    "import-history",
    "import-preimages",
    "js",
    "license",
    "removedb",
    "show-deprecated-flags",
    "snapshot",
    "verkle",
    "version",
    "version-check",
    "wallet",
    "help",
];

const OP_LOG_METRICS_PPROF: &str = "log.level= log.format= log.color log.pid metrics.enabled metrics.addr= \
    metrics.port= pprof.enabled pprof.addr= pprof.port= pprof.path= pprof.type=";
const ALT_DA: &str = "altda.enabled altda.da-server= altda.verify-on-read altda.da-service altda.put-timeout= \
    altda.get-timeout= altda.max-concurrent-da-requests=";

const OP_NODE: &[&str] = &[
    "help|h version|v",
    OP_LOG_METRICS_PPROF,
    ALT_DA,
    "l1= l2= l2.jwt-secret= l1.beacon= l1.beacon-header= l1.beacon-fallbacks|l1.beacon-archiver= l1.beacon.ignore \
     l1.beacon.fetch-all-sidecars supervisor= syncmode= rpc.addr= rpc.port= rpc.enable-admin rpc.admin-state= \
     l1.trustrpc l1.rpckind= l1.max-concurrency= l1.rpc-rate-limit= l1.rpc-max-batch-size= l1.http-poll-interval= \
     l2.enginekind= verifier.l1-confs= sequencer.enabled sequencer.stopped sequencer.max-safe-lag= \
     sequencer.l1-confs= l1.epoch-poll-interval= l1.runtime-config-reload-interval= snapshotlog.file= \
     heartbeat.enabled heartbeat.moniker= heartbeat.url= rollup.halt= rollup.load-protocol-versions safedb.path= \
     l2.engine-sync l2.skip-sync-start-check beta.extra-networks l2.backup-unsafe-sync-rpc= \
     l2.backup-unsafe-sync-rpc.trustrpc= conductor.enabled conductor.rpc= conductor.rpc-timeout=",
    "network= rollup.config= rollup.l1-chain-config= override.canyon= override.delta= override.ecotone= \
     override.fjord= override.granite= override.holocene=",
    "p2p.disable p2p.no-discovery p2p.scoring= p2p.scoring.peers= p2p.score.bands= p2p.scoring.topics= \
     p2p.ban.peers p2p.ban.threshold= p2p.ban.duration= p2p.priv.path= p2p.priv.raw= p2p.listen.ip= \
     p2p.listen.tcp= p2p.listen.udp= p2p.advertise.ip= p2p.advertise.tcp= p2p.advertise.udp= p2p.bootnodes= \
     p2p.static= p2p.netrestrict= p2p.mux= p2p.security= p2p.peers.lo= p2p.peers.hi= p2p.peers.grace= p2p.nat \
     p2p.useragent= p2p.timeout.negotiation= p2p.timeout.accept= p2p.timeout.dial= p2p.peerstore.path= \
     p2p.discovery.path= p2p.sequencer.key= p2p.gossip.mesh.d= p2p.gossip.mesh.lo= p2p.gossip.mesh.dhi= \
     p2p.gossip.mesh.dlazy= p2p.gossip.mesh.floodpublish p2p.sync.req-resp p2p.sync.onlyreqtostatic p2p.ping",
];

const OP_BATCHER: &[&str] = &[
    "help|h version|v",
    OP_LOG_METRICS_PPROF,
    ALT_DA,
    "rpc.addr= rpc.port= rpc.enable-admin",
    "l1-eth-rpc= l2-eth-rpc= rollup-rpc= sub-safety-margin= poll-interval= max-pending-tx= max-channel-duration= \
     max-l1-tx-size-bytes= max-blocks-per-span-batch= target-num-frames= approx-compr-ratio= compressor= \
     compression-algo= stopped batch-type= data-availability-type= active-sequencer-check-duration= \
     check-recent-txs-depth= wait-node-sync",
    "mnemonic= hd-path= sequencer-hd-path= l2-output-hd-path= private-key= num-confirmations= \
     safe-abort-nonce-too-low-count= fee-limit-multiplier= txmgr.fee-limit-threshold= txmgr.min-tip-cap= \
     txmgr.min-basefee= resubmission-timeout= network-timeout= txmgr.send-timeout= txmgr.not-in-mempool-timeout= \
     txmgr.receipt-query-interval= signer.endpoint= signer.address= signer.header= signer.tls.ca= signer.tls.cert= \
     signer.tls.key=",
];

/// Where the stand-in's `geth init` leaves the chain it initialized, for `geth` to read.
const INIT_MARK: &str = "geth/bp-standin-genesis.json";

/// A Go client's fatal error, as op-service's `log.Crit` prints it.
fn crit(message: &str) -> Failure {
    Failure::new(1, format!("CRIT Application failed message={message:?}"))
}

/// The arguments Go's flag parsing never reached (it stops at the first non-flag).
fn ignored_note(client: &str, parsed: &Parsed) -> Option<String> {
    let (first, rest) = parsed.positionals.split_first()?;
    let dropped: Vec<&str> = rest.iter().filter(|a| a.starts_with('-')).map(String::as_str).collect();
    (!dropped.is_empty()).then(|| {
        format!(
            "{client} stops parsing flags at {first:?} (not a flag): {} {} ignored",
            rest.join(" "),
            if rest.len() == 1 { "is" } else { "are" }
        )
    })
}

/// The plan for `geth …`, `None` for a subcommand the stand-in does not model.
pub fn geth(args: &[String], warn: bool) -> Option<Result<Plan, Failure>> {
    let parsed = match cli::parse(Style::Urfave, "geth", "geth", &Spec::new(GETH), args, Positionals::Stop) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    match parsed.positionals.first().map(String::as_str) {
        None => Some(geth_run(&parsed, warn)),
        Some("init") => Some(geth_init(&parsed.positionals[1..], warn)),
        Some(c) if GETH_COMMANDS.contains(&c) => None,
        Some(c) => Some(Err(Failure::new(1, format!("invalid command: {c:?}")))),
    }
}

fn geth_init(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "geth init";
    let parsed = cli::parse(Style::Urfave, "geth", "geth init", &Spec::new(GETH_INIT), args, Positionals::Stop)?;
    let [genesis_path] = parsed.positionals.as_slice() else {
        return Err(Failure::new(1, "Fatal: need genesis.json file as the only argument"));
    };
    let mut files = Files::new(client, warn);
    let genesis = files.check("<genesis>", genesis_path, files::genesis, |reason| {
        Failure::new(1, format!("Fatal: invalid genesis file {genesis_path}: {reason}"))
    })?;
    let datadir = parsed.value("datadir").unwrap_or("/root/.ethereum");
    files.require("datadir", datadir, |p| files::writable_dir(p, true))?;
    let mut plan = Plan::new(client, "geth", &parsed, files, true);
    if let Some(g) = genesis {
        let mark = std::path::Path::new(datadir).join(INIT_MARK);
        let text = format!(r#"{{"config":{{"chainId":{}}},"timestamp":"0x{:x}"}}"#, g.chain_id, g.timestamp);
        std::fs::create_dir_all(mark.parent().unwrap_or(std::path::Path::new(datadir)))
            .and_then(|_| std::fs::write(&mark, text))
            .map_err(|e| Failure::new(1, format!("Fatal: Failed to write genesis block: {e}")))?;
        plan.then_exit = Some(format!("Successfully wrote genesis state (chain {}) into {datadir}", g.chain_id));
    } else {
        plan.then_exit = Some("genesis not written (BP_STANDIN_FILES=warn)".into());
    }
    Ok(plan)
}

/// A JWT secret file that a Go client creates when it is missing (geth, op-node do).
fn jwt_or_create(
    files: &mut Files,
    flag: &str,
    path: &str,
    notes: &mut Vec<String>,
) -> Result<Option<jwt::Secret>, Failure> {
    if !std::path::Path::new(path).exists() {
        let secret = crate::random_secret();
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(path, format!("0x{hex}"))
            .map_err(|e| Failure::new(1, format!("Fatal: failed to write JWT secret to {path}: {e}")))?;
        notes.push(format!("--{flag} {path} did not exist: generated a new JWT secret there, which no peer has"));
        return Ok(Some(secret));
    }
    files.require(flag, path, files::jwt_file)
}

fn geth_run(parsed: &Parsed, warn: bool) -> Result<Plan, Failure> {
    let client = "geth";
    let mut files = Files::new(client, warn);
    let datadir = parsed.value("datadir").unwrap_or("/root/.ethereum");
    files.require("datadir", datadir, |p| files::writable_dir(p, true))?;
    let mut notes = Vec::new();
    let secret = match parsed.value("authrpc.jwtsecret") {
        Some(path) => jwt_or_create(&mut files, "authrpc.jwtsecret", path, &mut notes)?,
        None => Some(crate::random_secret()),
    };
    if let Some(key) = parsed.value("nodekey") {
        files.require("nodekey", key, files::hex_key)?;
    }
    let mark = std::path::Path::new(datadir).join(INIT_MARK);
    let genesis = files::genesis(&mark).ok().map(|(g, _)| g);
    if genesis.is_none() {
        notes.push(format!("no genesis initialized in {datadir} (geth init): running mainnet's chain 1, as geth does"));
    }
    let mut plan = Plan::new(client, "geth", parsed, files, true);
    plan.notes = notes;
    plan.node.chain_id = Some(genesis.map_or(1, |g| g.chain_id));
    plan.node.genesis_time = genesis.map_or(0, |g| g.timestamp);
    plan.node.jwt = secret;
    if parsed.on("http") {
        plan.api(parsed, "http.port", Api::ExecutionRpc);
    }
    if parsed.on("ws") {
        plan.api(parsed, "ws.port", Api::ExecutionRpc);
    }
    plan.api(parsed, "authrpc.port", Api::Engine);
    // geth's metrics server runs with --metrics and an address; Prometheus' format is under
    // /debug/metrics/prometheus (builder-playground's `metrics_path` label for op-geth).
    if parsed.on("metrics") && parsed.value("metrics.addr").is_some() {
        plan.metrics(parsed, "metrics.port", 6060, Some("/debug/metrics/prometheus"));
    }
    for enode in parsed.values("bootnodes") {
        plan.enode("bootnodes", enode)?;
    }
    Ok(plan)
}

pub fn op_node(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "op-node";
    let parsed = cli::parse(Style::Urfave, "op-node", "op-node", &Spec::new(OP_NODE), args, Positionals::Stop)?;
    for required in ["l1", "l2"] {
        if parsed.value(required).is_none_or(str::is_empty) {
            return Err(crit(&format!("flag {required} is required")));
        }
    }
    let mut files = Files::new(client, warn);
    let mut notes: Vec<String> = ignored_note(client, &parsed).into_iter().collect();
    let rollup = match (parsed.value("rollup.config"), parsed.value("network")) {
        (Some(path), _) => files.check(
            "rollup.config",
            path,
            |p| files::json_with(p, &["genesis", "l1_chain_id", "l2_chain_id"]),
            |reason| crit(&format!("failed to load rollup config: {path}: {reason}")),
        )?,
        (None, Some(_)) => None,
        (None, None) => return Err(crit("flag rollup.config or network is required")),
    };
    if let Some(path) = parsed.value("rollup.l1-chain-config") {
        files.check("rollup.l1-chain-config", path, files::genesis, |reason| {
            crit(&format!("failed to load L1 chain config: {path}: {reason}"))
        })?;
    }
    let secret = match parsed.value("l2.jwt-secret") {
        Some(path) => jwt_or_create(&mut files, "l2.jwt-secret", path, &mut notes)?,
        None => Some(crate::random_secret()),
    };
    if let Some(dir) = parsed.value("safedb.path") {
        files.require("safedb.path", dir, |p| files::writable_dir(p, true))?;
    }
    for flag in ["p2p.peerstore.path", "p2p.discovery.path"] {
        if let Some(path) = parsed.value(flag).filter(|p| *p != "memory") {
            files.require(flag, path, files::writable_parent)?;
        }
    }
    let chain = |key: &str| rollup.as_ref().and_then(|r| r.member(key)).and_then(|v| v.as_u64());
    let l1_chain = chain("l1_chain_id").map(|c| (c, "--rollup.config's l1_chain_id".to_string()));
    let l2_chain = chain("l2_chain_id").map(|c| (c, "--rollup.config's l2_chain_id".to_string()));
    let mut plan = Plan::new(client, "op-node", &parsed, files, true);
    plan.notes = notes;
    plan.api(&parsed, "rpc.port", Api::ExecutionRpc);
    if parsed.on("metrics.enabled") {
        // op-service's metrics server: Prometheus' format on every path.
        plan.metrics(&parsed, "metrics.port", 7300, None);
    }
    plan.peer("l1", parsed.value("l1").unwrap_or_default(), Check::ExecutionRpc { expect_chain: l1_chain }, false)?;
    if let Some(beacon) = parsed.value("l1.beacon").filter(|_| !parsed.on("l1.beacon.ignore")) {
        plan.peer("l1.beacon", beacon, Check::Beacon { synced: false, same_spec: Vec::new(), genesis: true }, false)?;
    }
    if let Some(secret) = secret {
        let jwt_flag = format!("--l2.jwt-secret {}", parsed.value("l2.jwt-secret").unwrap_or("(generated)"));
        plan.peer(
            "l2",
            parsed.value("l2").unwrap_or_default(),
            Check::Engine { secret, jwt_flag, expect_chain: l2_chain },
            false,
        )?;
    }
    Ok(plan)
}

pub fn op_batcher(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "op-batcher";
    let parsed =
        cli::parse(Style::Urfave, "op-batcher", "op-batcher", &Spec::new(OP_BATCHER), args, Positionals::Stop)?;
    for required in ["l1-eth-rpc", "l2-eth-rpc", "rollup-rpc"] {
        if parsed.value(required).is_none() {
            return Err(crit(&format!("Required flag \"{required}\" not set")));
        }
    }
    if let Some(key) = parsed.value("private-key") {
        jwt::parse_secret(key)
            .map_err(|e| crit(&format!("failed to create tx manager: invalid --private-key: {e}")))?;
    }
    let mut plan = Plan::new(client, "op-batcher", &parsed, Files::new(client, warn), true);
    plan.notes = ignored_note(client, &parsed).into_iter().collect();
    plan.api(&parsed, "rpc.port", Api::ExecutionRpc);
    if parsed.on("metrics.enabled") {
        plan.metrics(&parsed, "metrics.port", 7300, None);
    }
    plan.peer(
        "l1-eth-rpc",
        parsed.value("l1-eth-rpc").unwrap_or_default(),
        Check::ExecutionRpc { expect_chain: None },
        false,
    )?;
    for url in parsed.values("l2-eth-rpc") {
        plan.peer("l2-eth-rpc", url, Check::ExecutionRpc { expect_chain: None }, false)?;
    }
    for url in parsed.values("rollup-rpc") {
        plan.peer("rollup-rpc", url, Check::Rollup, false)?;
    }
    Ok(plan)
}
