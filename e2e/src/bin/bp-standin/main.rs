//! bp-standin: a **stand-in, not a client**. It runs in test images in place of the Ethereum
//! clients (reth, lighthouse, op-node, …) whose real images cannot be had offline, so that a
//! devnet Pod runs on a real node with its real command lines, and checks the **contract**
//! between the Pod and each client: what the real client would need from the Pod to start.
//!
//! - Invoked as `pause` (argv[0]'s basename, or `bp-standin pause`) it is the sandbox's pause
//!   process: it waits for SIGTERM or SIGINT (exit 0) and reaps children.
//! - Invoked as `builder-playground` it writes the recorded output of a recipe.
//! - Otherwise it stands in for the program named by argv[0]'s basename (or, run as
//!   `bp-standin <client> …`, by its first argument when that is a known client). It prints
//!   `bp-standin: stand-in for <program>: <args>`, then:
//!   - with `BP_STANDIN_EXIT=<code>` in its environment it exits with that code after a second
//!     (a test hook for crashing containers);
//!   - for a client with a contract (`reth node`, `reth p2p bootnode`, `lighthouse bn|vc`,
//!     `healthmon`, `mev-boost-relay`, `geth [init]`, `op-node`, `op-batcher`, and the optional
//!     components `cl-proxy`, `rollup-boost`, `op-reth node`, `op-rbuilder node` (its image runs it as
//!     `rbuilder node`), `mev-boost` and `contender spam`):
//!     1. parses its command line against the flags the real client accepts, refusing the
//!        others with that client's parser's message and exit code ([`cli`]);
//!     2. checks every file a flag names ([`files`]): genesis, testnet directory, JWT secret,
//!        keystores, writable data directories; a problem is one line on stderr and exit 1
//!        (`BP_STANDIN_FILES=warn` turns file problems into warnings);
//!     3. listens on exactly the TCP ports its flags name ([`ports`]) and answers what probes
//!        and peers ask there ([`contract::Api`]): JSON-RPC with the genesis' chain id, the
//!        engine API only with a JWT signed by its own secret (401 otherwise), the beacon API,
//!        healthmon's `/ready`, the relay's (and mev-boost's) status, rollup-boost's RPC port
//!        ([`contract::Api::EngineProxy`]: every call forwarded to `--l2-url` signed with its L2
//!        JWT; no JWT is checked on the way in, as rollup-boost checks none), cl-proxy's port
//!        ([`contract::Api::PassThrough`]: calls passed to its primary with the caller's JWT);
//!     4. reaches every peer its flags name ([`contract::Check`]) for up to 60 s
//!        (`BP_STANDIN_PEER_TIMEOUT`), signing engine API calls with its JWT, and exits 1 with
//!        the client's kind of error when one never answers or refuses it; health endpoints
//!        report ready only once the peers they depend on answered; a peer the client runs
//!        without (rollup-boost's `--builder-url`) is a line when it is not reached, not a
//!        failure;
//!     5. prints `contract satisfied` once every check passed, and runs until SIGTERM;
//!   - for buildernet's programs ([`buildernet`], [`postgres`]), which their images start with
//!     the real images' entrypoint and cmd: `docker-entrypoint.sh postgres` (the PostgreSQL wire
//!     protocol's startup, role, database and password checks) and `pg_isready`, `builder-hub`
//!     (its environment, its database through `POSTGRES_DSN`, its four listeners), `nginx` (the
//!     mock proxy's site: proxies to its upstream), `caddy file-server` (serves its root's
//!     files) and `curl` (exit codes as curl's); `docker-entrypoint.sh <other>` execs it;
//!   - for other programs (and subcommands without a contract), with a first argument `init`,
//!     `version` or `--version` it exits 0; otherwise it listens on the ports its command line
//!     names and answers any HTTP request (JSON-RPC with `"0x0"`, anything else 200).
//!
//! A port already in use is fatal, as for a real client. It uses std, nix (signals), sha2 and
//! base64 (the JWT), not the bp_e2e library, so it stays small.

mod buildernet;
mod cli;
mod contender;
mod contract;
mod files;
mod http;
mod json;
mod jwt;
mod lighthouse;
mod mev_boost;
mod optimism;
mod playground_utils;
mod ports;
mod postgres;
mod reth;
mod rollup_boost;
#[cfg(test)]
mod testdata;

use std::collections::BTreeSet;
use std::io;
use std::net::TcpListener;
use std::process::exit;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use crate::cli::Failure;
use crate::contract::Plan;

#[path = "../../images/clients.rs"]
#[allow(dead_code)]
mod clients;

/// Environment variable that makes the stand-in exit with the given code after a second.
const EXIT_ENV: &str = "BP_STANDIN_EXIT";

/// What an invocation asks for.
#[derive(Debug, PartialEq, Eq)]
enum Role {
    Pause,
    /// builder-playground's `start <recipe> --dry-run --output DIR`, from recorded output.
    BuilderPlayground {
        args: Vec<String>,
    },
    StandIn {
        program: String,
        args: Vec<String>,
    },
}

fn role(argv: &[String]) -> Role {
    let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let program = argv.first().map(|a| base(a)).unwrap_or_else(|| "bp-standin".into());
    let rest = argv.get(1..).unwrap_or_default();
    if program == "pause" {
        return Role::Pause;
    }
    if program == "builder-playground" {
        return Role::BuilderPlayground { args: rest.to_vec() };
    }
    if program == "bp-standin" {
        match rest.first().map(String::as_str) {
            Some("pause") => return Role::Pause,
            Some(first) if clients::CLIENTS.contains(&base(first).as_str()) => {
                return Role::StandIn { program: base(first), args: rest[1..].to_vec() };
            }
            _ => {}
        }
    }
    Role::StandIn { program, args: rest.to_vec() }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    // Before any thread exists, so that every thread inherits the mask and only the main
    // thread takes these signals (with sigwait). Handlers are installed as well: as PID 1 of
    // its namespace a process gets no signal whose action is the default.
    let signals = block_signals();
    match role(&argv) {
        Role::Pause => {
            println!("bp-standin: pause: waiting for SIGTERM");
            wait_for_termination(&signals, "pause");
        }
        Role::StandIn { program, args } => stand_in(&signals, &program, &args),
        Role::BuilderPlayground { args } => match builder_playground(&args, std::path::Path::new(RECORDED_OUTPUT)) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("builder-playground: {e}");
                exit(1);
            }
        },
    }
}

/// The contract of a client invocation: `None` for programs (and subcommands) without one.
/// `warn`: file problems are warnings ([`files::FILES_ENV`]).
fn contract_plan(program: &str, args: &[String], warn: bool) -> Option<Result<Plan, Failure>> {
    match program {
        "reth" => reth::plan(args, warn),
        "op-reth" => reth::plan_for(reth::Flavor::OpReth, args, warn),
        "op-rbuilder" => reth::plan_for(reth::Flavor::OpRbuilder, args, warn),
        // op-rbuilder's image runs it as /app/rbuilder; rbuilder has no `node` command.
        "rbuilder" if args.first().is_some_and(|a| a == "node") => reth::plan_for(reth::Flavor::OpRbuilder, args, warn),
        "lighthouse" => lighthouse::plan(args, warn),
        "healthmon" => Some(playground_utils::healthmon(args, warn)),
        "mev-boost-relay" => Some(playground_utils::mev_boost_relay(args, warn)),
        "cl-proxy" => Some(playground_utils::cl_proxy(args, warn)),
        "geth" => optimism::geth(args, warn),
        "op-node" => Some(optimism::op_node(args, warn)),
        "op-batcher" => Some(optimism::op_batcher(args, warn)),
        "rollup-boost" => rollup_boost::plan(args, warn),
        "mev-boost" => Some(mev_boost::plan(args, warn)),
        "contender" => contender::plan(args, warn),
        _ => None,
    }
}

fn stand_in(signals: &SigSet, program: &str, args: &[String]) {
    // Tools whose output is read (a probe's, a script's) say nothing of their own.
    if !matches!(program, "pg_isready" | "curl") {
        println!("bp-standin: stand-in for {program}: {}", args.join(" "));
    }
    if let Some(code) = std::env::var(EXIT_ENV).ok().and_then(|c| c.trim().parse::<i32>().ok()) {
        eprintln!("bp-standin: {program}: exiting with {code} in 1 s as {EXIT_ENV} asks");
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            exit(code);
        });
        wait_for_termination(signals, program);
    }
    match buildernet::start(program, args, files::warn_from_env()) {
        Some(Ok(buildernet::Run::Serve)) => wait_for_termination(signals, program),
        Some(Ok(buildernet::Run::Exit(code))) => exit(code),
        Some(Err(failure)) => {
            eprintln!("{}", failure.message);
            exit(failure.code);
        }
        None => {}
    }
    match contract_plan(program, args, files::warn_from_env()) {
        Some(Ok(plan)) => run_contract(signals, plan),
        Some(Err(failure)) => {
            eprintln!("{}", failure.message);
            exit(failure.code);
        }
        None => {}
    }
    if let Some(first @ ("init" | "version" | "--version")) = args.first().map(String::as_str) {
        println!("bp-standin: {program} {first}: nothing to do for a stand-in");
        exit(0);
    }
    let ports = ports::listen_ports(program, args);
    let listeners = bind(program, &ports);
    for (_, listener) in listeners {
        std::thread::spawn(move || http::serve(listener, http::generic_handler()));
    }
    wait_for_termination(signals, program);
}

/// Binds every port on 0.0.0.0 (a port in use is fatal, as for a real client) and says so.
fn bind(client: &str, ports: &[u16]) -> Vec<(u16, TcpListener)> {
    let mut listeners = Vec::with_capacity(ports.len());
    for port in ports {
        match TcpListener::bind(("0.0.0.0", *port)) {
            Ok(l) => listeners.push((*port, l)),
            Err(e) => {
                let reason = if e.kind() == io::ErrorKind::AddrInUse {
                    "address already in use".to_string()
                } else {
                    e.to_string()
                };
                eprintln!("bp-standin: {client}: listen tcp 0.0.0.0:{port}: bind: {reason}");
                exit(1);
            }
        }
    }
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    println!("bp-standin: {client}: listening on tcp ports [{}]", list.join(" "));
    listeners
}

/// Runs a client's contract: its files were checked when the plan was made; now its
/// listeners, its APIs and its peers.
fn run_contract(signals: &SigSet, plan: Plan) -> ! {
    let client = plan.client.clone();
    for line in &plan.files.seen {
        println!("bp-standin: {client}: file {line}");
    }
    for note in &plan.notes {
        println!("bp-standin: {client}: note: {note}");
    }
    let files = plan.files.seen.len();
    let warnings = plan.files.warnings.len();
    if let Some(done) = &plan.then_exit {
        println!("bp-standin: {client}: {done}");
        println!("bp-standin: {client}: contract satisfied: flags, {files} files ({warnings} warnings)");
        exit(0);
    }
    let mut ports: BTreeSet<u16> = ports::listen_ports(&plan.program, &plan.flag_args).into_iter().collect();
    ports.extend(plan.apis.iter().map(|(p, _)| *p));
    let ports: Vec<u16> = ports.into_iter().collect();
    let node = Arc::new(plan.node);
    for (port, listener) in bind(&client, &ports) {
        let api = plan.apis.iter().find(|(p, _)| *p == port).map(|(_, a)| *a);
        if let Some(contract::Api::Metrics { path }) = api {
            // Prometheus' text format, with its own content type.
            let node = node.clone();
            let handler: http::RawHandler = Arc::new(move |r: &http::Request| contract::metrics_page(&node, path, r));
            std::thread::spawn(move || http::serve_raw(listener, handler));
            continue;
        }
        let handler = contract::handler(api, node.clone());
        std::thread::spawn(move || http::serve(listener, handler));
    }
    let summary = format!("flags, {files} files ({warnings} warnings), listening on {ports:?}");
    let name = client.clone();
    contract::start_peers(plan.peers, plan.go, node, move |peers| {
        let peers = if peers.is_empty() { "no peers".to_string() } else { format!("peers {}", peers.join(", ")) };
        println!("bp-standin: {name}: contract satisfied: {summary}, {peers}");
    });
    wait_for_termination(signals, &client);
}

/// 32 random bytes (a JWT secret a client makes up when it is given none).
pub fn random_secret() -> jwt::Secret {
    let mut out = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = io::Read::read_exact(&mut f, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// builder-playground

/// Where the image keeps builder-playground's recorded output, one directory per recipe.
const RECORDED_OUTPUT: &str = "/usr/share/bp-standin/builder-playground";

/// Stands in for `builder-playground start|cook <recipe> [flags] --dry-run --output DIR`: it
/// copies the output the real builder-playground wrote for that recipe (recorded when the
/// image was built) into DIR, as builder-playground does: DIR is removed first.
fn builder_playground(args: &[String], recorded: &std::path::Path) -> Result<String, String> {
    let (command, recipe) = match args {
        [c, r, ..] if c == "start" || c == "cook" => (c.as_str(), r.as_str()),
        _ => return Err(format!("the stand-in runs `start <recipe>` (or `cook <recipe>`), not {args:?}")),
    };
    if !args.iter().any(|a| a == "--dry-run") {
        return Err("the stand-in only runs with --dry-run".into());
    }
    let output = args
        .iter()
        .position(|a| a == "--output")
        .and_then(|i| args.get(i + 1))
        .or_else(|| args.iter().find_map(|a| a.strip_prefix("--output=").map(|_| a)))
        .map(|o| o.strip_prefix("--output=").unwrap_or(o))
        .ok_or("--output DIR is required")?;
    let source = recorded.join(recipe);
    if !source.is_dir() {
        return Err(format!("unknown recipe {recipe:?}"));
    }
    let output = std::path::Path::new(output);
    let _ = std::fs::remove_dir_all(output);
    let files = copy_tree(&source, output).map_err(|e| format!("writing {}: {e}", output.display()))?;
    Ok(format!(
        "bp-standin: stand-in for builder-playground {command} {recipe}: wrote {files} files of its recorded output into {}",
        output.display()
    ))
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> io::Result<usize> {
    std::fs::create_dir_all(to)?;
    let mut files = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            files += copy_tree(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
            files += 1;
        }
    }
    Ok(files)
}

// ---------------------------------------------------------------------------------------------
// Signals

fn block_signals() -> SigSet {
    extern "C" fn ignore(_: nix::libc::c_int) {}
    let mut set = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD] {
        set.add(sig);
        let action = SigAction::new(SigHandler::Handler(ignore), SaFlags::SA_RESTART, SigSet::empty());
        // SAFETY: the handler does nothing, so it is async-signal-safe.
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            eprintln!("bp-standin: sigaction {sig}: {e}");
        }
    }
    if let Err(e) = set.thread_block() {
        eprintln!("bp-standin: blocking signals: {e}");
    }
    set
}

/// Takes SIGTERM/SIGINT (exit 0) and SIGCHLD (reap every exited child) until terminated.
fn wait_for_termination(signals: &SigSet, program: &str) -> ! {
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => reap(),
            Ok(sig @ (Signal::SIGTERM | Signal::SIGINT)) => {
                println!("bp-standin: {program}: {sig}, exiting");
                exit(0);
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("bp-standin: sigwait: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

fn reap() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn builder_playground_copies_the_recorded_output_of_the_recipe() {
        let recorded = std::env::temp_dir().join(format!("bp-standin-rec-{}", std::process::id()));
        std::fs::create_dir_all(recorded.join("l1/testnet")).unwrap();
        std::fs::write(recorded.join("l1/manifest.json"), "{}").unwrap();
        std::fs::write(recorded.join("l1/testnet/config.yaml"), "x").unwrap();
        let out = recorded.join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("stale"), "old").unwrap();
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = out.to_str().unwrap();
        let line =
            builder_playground(&args(&["start", "l1", "--genesis-delay", "60", "--dry-run", "--output", o]), &recorded)
                .unwrap();
        assert!(line.contains("wrote 2 files"), "{line}");
        assert_eq!(std::fs::read_to_string(out.join("testnet/config.yaml")).unwrap(), "x");
        assert!(!out.join("stale").exists(), "the output directory is replaced, as builder-playground does");
        let err = builder_playground(&args(&["start", "nope", "--dry-run", "--output", o]), &recorded).unwrap_err();
        assert_eq!(err, "unknown recipe \"nope\"");
        assert!(
            builder_playground(&args(&["start", "l1", "--output", o]), &recorded).unwrap_err().contains("--dry-run")
        );
        assert!(builder_playground(&args(&["start", "l1", "--dry-run"]), &recorded).unwrap_err().contains("--output"));
        std::fs::remove_dir_all(&recorded).unwrap();
    }

    #[test]
    fn the_optional_components_have_contracts() {
        let plan = |program: &str, a: &[&str]| contract_plan(program, &args(a), true).map(|r| r.map(|p| p.client));
        assert_eq!(plan("op-reth", &["node"]), Some(Ok("op-reth node".into())));
        assert_eq!(plan("op-rbuilder", &["node"]), Some(Ok("op-rbuilder node".into())));
        // op-rbuilder's image runs it as /app/rbuilder; rbuilder's own commands stay generic.
        assert_eq!(plan("rbuilder", &["node", "--flashblocks.enabled"]), Some(Ok("op-rbuilder node".into())));
        assert_eq!(plan("rbuilder", &["run", "/data/rbuilder-config.toml"]), None);
        assert_eq!(plan("contender", &["spam", "--forever"]), Some(Ok("contender spam".into())));
        assert_eq!(plan("cl-proxy", &["--port", "5656"]), Some(Ok("cl-proxy".into())));
        let relay = format!("http://0x{}@localhost:5555", "a1".repeat(48));
        assert_eq!(plan("mev-boost", &["-addr", "0.0.0.0:18550", "-relay", &relay]), Some(Ok("mev-boost".into())));
        let rb = plan("rollup-boost", &["--l2-jwt-token", &"ab".repeat(32), "--builder-jwt-token", &"ab".repeat(32)]);
        assert_eq!(
            rb.unwrap().unwrap_err().message,
            "Error: --l2-url 127.0.0.1:8551: \"127.0.0.1:8551\" is not an http:// URL"
        );
    }

    #[test]
    fn roles() {
        let role_of = |a: &[&str]| role(&args(a));
        assert_eq!(role_of(&["/pause"]), Role::Pause);
        assert_eq!(role_of(&["bp-standin", "pause"]), Role::Pause);
        assert_eq!(
            role_of(&["/usr/local/bin/builder-playground", "start", "l1"]),
            Role::BuilderPlayground { args: args(&["start", "l1"]) }
        );
        assert_eq!(
            role_of(&["/usr/local/bin/reth", "node", "--port", "1"]),
            Role::StandIn { program: "reth".into(), args: args(&["node", "--port", "1"]) }
        );
        assert_eq!(
            role_of(&["/usr/local/bin/bp-standin", "caddy", "file-server"]),
            Role::StandIn { program: "caddy".into(), args: args(&["file-server"]) }
        );
        assert_eq!(
            role_of(&["/usr/local/bin/bp-standin", "sleep", "infinity"]),
            Role::StandIn { program: "bp-standin".into(), args: args(&["sleep", "infinity"]) }
        );
    }

    /// A devnet's files as builder-playground writes them, small: under `dir/data/…`, where
    /// the examples mount them at `/data/…`.
    fn devnet_files(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("bp-standin-devnet-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let data = dir.join("data");
        let write = |rel: &str, content: &[u8]| {
            let path = data.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        };
        write("genesis.json", br#"{"config":{"chainId":1337},"timestamp":"0x10","alloc":{}}"#);
        write("l2-genesis.json", br#"{"config":{"chainId":13},"timestamp":"0x12","alloc":{}}"#);
        write("rollup.json", br#"{"genesis":{"l2_time":18},"l1_chain_id":1337,"l2_chain_id":13}"#);
        write("jwtsecret", "ab".repeat(32).as_bytes());
        write("p2p_key.txt", "01".repeat(32).as_bytes());
        write(
            "testnet-dir/config.yaml",
            b"PRESET_BASE: 'mainnet'\nCONFIG_NAME: 'devnet'\nGENESIS_FORK_VERSION: 0x20000089\nSECONDS_PER_SLOT: 12\n",
        );
        write("testnet-dir/genesis.ssz", &[7u8; 64]);
        write("validator/validators/0xaa/voting-keystore.json", br#"{"crypto":{},"pubkey":"aa","version":4}"#);
        write("validator/secrets/0xaa", b"password");
        dir
    }

    /// The arguments with `/data…` paths moved under `dir`.
    fn under(dir: &std::path::Path, args: &[String]) -> Vec<String> {
        let root = dir.to_str().unwrap();
        args.iter().map(|a| if a.starts_with("/data") { format!("{root}{a}") } else { a.clone() }).collect()
    }

    fn plan_of(program: &str, args: &[String]) -> Result<Plan, Failure> {
        contract_plan(program, args, false).expect("a client with a contract")
    }

    /// Every container of the examples passes its contract's command line and file checks,
    /// and names the peers its flags give.
    #[test]
    fn the_examples_command_lines_and_files_pass() {
        use contract::Api::*;
        #[rustfmt::skip]
        // (set, container, client, files checked, peers, APIs)
        type Expected = (&'static str, &'static str, &'static str, usize, &'static [&'static str], &'static [(u16, contract::Api)]);
        let want: &[Expected] = &[
            (
                "l1",
                "el",
                "reth node",
                4,
                &[],
                &[(8545, ExecutionRpc), (8546, ExecutionRpc), (8551, Engine), (9090, Metrics { path: None })],
            ),
            ("l1", "el-healthmon", "healthmon", 0, &["--url http://localhost:8545/"], &[(21171, Healthmon)]),
            (
                "l1",
                "beacon",
                "lighthouse bn",
                3,
                &["--execution-endpoint http://localhost:8551/", "--builder http://localhost:5555/"],
                &[(3500, Beacon)],
            ),
            ("l1", "validator", "lighthouse vc", 2, &["--beacon-nodes http://localhost:3500/"], &[]),
            ("l1", "beacon-healthmon", "healthmon", 0, &["--url http://localhost:3500/"], &[(21172, Healthmon)]),
            (
                "l1",
                "mev-boost-relay",
                "mev-boost-relay",
                0,
                &["--beacon-client-addr http://localhost:3500/"],
                &[(5555, Relay)],
            ),
            ("opstack", "bootnode", "reth p2p bootnode", 1, &[], &[]),
            (
                "opstack",
                "el",
                "reth node",
                4,
                &["--bootnodes http://127.0.0.1:30303/"],
                &[(8545, ExecutionRpc), (8546, ExecutionRpc), (8551, Engine), (9090, Metrics { path: None })],
            ),
            ("opstack", "el-healthmon", "healthmon", 0, &["--url http://localhost:8545/"], &[(21171, Healthmon)]),
            (
                "opstack",
                "beacon",
                "lighthouse bn",
                3,
                &["--execution-endpoint http://localhost:8551/"],
                &[(3500, Beacon)],
            ),
            ("opstack", "beacon-healthmon", "healthmon", 0, &["--url http://localhost:3500/"], &[(21172, Healthmon)]),
            ("opstack", "validator", "lighthouse vc", 2, &["--beacon-nodes http://localhost:3500/"], &[]),
            ("opstack", "op-geth (init)", "geth init", 2, &[], &[]),
            (
                "opstack",
                "op-geth",
                "geth",
                3,
                &["--bootnodes http://127.0.0.1:30303/"],
                &[
                    (8547, ExecutionRpc),
                    (8548, ExecutionRpc),
                    (8552, Engine),
                    (6061, Metrics { path: Some("/debug/metrics/prometheus") }),
                ],
            ),
            ("opstack", "op-geth-healthmon", "healthmon", 0, &["--url http://localhost:8547/"], &[(21173, Healthmon)]),
            (
                "opstack",
                "op-node",
                "op-node",
                3,
                &["--l1 http://localhost:8545/", "--l1.beacon http://localhost:3500/", "--l2 http://localhost:8552/"],
                &[(8549, ExecutionRpc), (7300, Metrics { path: None })],
            ),
            (
                "opstack",
                "op-batcher",
                "op-batcher",
                0,
                &[
                    "--l1-eth-rpc http://localhost:8545/",
                    "--l2-eth-rpc http://localhost:8547/",
                    "--rollup-rpc http://localhost:8549/",
                ],
                &[(8550, ExecutionRpc)],
            ),
        ];
        let mut checked = 0;
        for (set, lines) in [("l1", testdata::l1()), ("opstack", testdata::opstack())] {
            let dir = devnet_files(set);
            for (container, program, args) in lines {
                let (_, _, client, files, peers, apis) =
                    want.iter().find(|w| w.0 == set && w.1 == container).unwrap_or_else(|| panic!("{set} {container}"));
                let plan = plan_of(program, &under(&dir, &args))
                    .unwrap_or_else(|f| panic!("{set} {container}: {}", f.message));
                assert_eq!(plan.client, *client, "{set} {container}");
                assert_eq!(plan.files.seen.len(), *files, "{set} {container}: {:?}", plan.files.seen);
                let got: Vec<String> = plan.peers.iter().map(|p| format!("{} {}", p.flag, p.url)).collect();
                assert_eq!(got, *peers, "{set} {container}");
                assert_eq!(plan.apis, *apis, "{set} {container}");
                checked += 1;
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
        assert_eq!(checked, want.len());
    }

    #[test]
    fn the_examples_chains_and_secrets_reach_the_plans() {
        let dir = devnet_files("chains");
        let lines: Vec<_> = testdata::opstack().into_iter().map(|(c, p, a)| (c, (p, under(&dir, &a)))).collect();
        let line = |c: &str| lines.iter().find(|(n, _)| *n == c).map(|(_, l)| l.clone()).unwrap();
        let (program, args) = line("el");
        let el = plan_of(program, &args).unwrap();
        assert_eq!((el.node.chain_id, el.node.genesis_time, el.node.jwt), (Some(1337), 0x10, Some([0xab; 32])));
        // geth init records the chain; geth then serves it.
        let (program, args) = line("op-geth (init)");
        let init = plan_of(program, &args).unwrap();
        assert_eq!(
            init.then_exit.as_deref(),
            Some(format!("Successfully wrote genesis state (chain 13) into {}/data_opgeth", dir.display()).as_str())
        );
        let (program, args) = line("op-geth");
        assert_eq!(plan_of(program, &args).unwrap().node.chain_id, Some(13));
        // op-node expects the chains of rollup.json from its peers, and signs with the JWT.
        let (program, args) = line("op-node");
        let node = plan_of(program, &args).unwrap();
        let checks: Vec<String> = node.peers.iter().map(|p| format!("{:?}", p.check)).collect();
        assert!(checks[0].contains("expect_chain: Some((1337,"), "{checks:?}");
        assert!(checks[2].contains("expect_chain: Some((13,") && checks[2].contains("secret: [171,"), "{checks:?}");
        // builder-playground's `--p2p.ban.peers true`: urfave/cli stops there.
        assert_eq!(
            node.notes,
            ["op-node stops parsing flags at \"true\" (not a flag): --pprof.enabled --rpc.enable-admin --safedb.path "
                .to_string()
                + &format!("{}/data_db are ignored", dir.display())]
        );
        let lighthouse = line("beacon");
        let bn = plan_of(lighthouse.0, &lighthouse.1).unwrap();
        assert_eq!(bn.node.genesis_time, u64::from_le_bytes([7; 8]));
        assert_eq!(bn.node.genesis_validators_root, Some(format!("0x{}", "07".repeat(32))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An argument the real client does not know fails with its parser's message and code.
    #[test]
    fn an_unknown_flag_fails_every_client() {
        let dir = devnet_files("unknown");
        let mut checked = 0;
        for (container, program, args) in testdata::l1().into_iter().chain(testdata::opstack()) {
            let mut args = under(&dir, &args);
            // Go's flag parsing stops at the first non-flag: put the stray flag first.
            let go = matches!(program, "healthmon" | "geth" | "op-node" | "op-batcher");
            match (program, container) {
                ("geth", "op-geth (init)") => args.insert(1, "--foo".into()),
                (_, _) if go => args.insert(0, "--foo".into()),
                _ => args.push("--foo".into()),
            }
            let failure = plan_of(program, &args).err().unwrap_or_else(|| panic!("{container}: --foo accepted"));
            let (code, first_line) = match program {
                "reth" | "lighthouse" => (2, "error: unexpected argument '--foo' found"),
                "healthmon" => (2, "flag provided but not defined: -foo"),
                "mev-boost-relay" => (1, "Error: unknown flag: --foo"),
                _ => (1, "Incorrect Usage: flag provided but not defined: -foo"),
            };
            assert_eq!((failure.code, failure.message.lines().next().unwrap()), (code, first_line), "{container}");
            checked += 1;
        }
        assert_eq!(checked, 17);
        // A flag that lacks its value.
        let f = plan_of("reth", &args(&["node", "--chain"])).err().unwrap();
        assert!(f.message.starts_with("error: a value is required for '--chain <CHAIN>'"), "{}", f.message);
        let f = plan_of("op-batcher", &args(&["--l1-eth-rpc"])).err().unwrap();
        assert!(f.message.contains("flag needs an argument: -l1-eth-rpc"), "{}", f.message);
        // Programs and subcommands without a contract keep the generic stand-in.
        assert!(contract_plan("caddy", &args(&["file-server"]), false).is_none());
        assert!(contract_plan("reth", &args(&["init", "--datadir", "/x"]), false).is_none());
        assert!(contract_plan("geth", &args(&["version"]), false).is_none());
        assert!(
            plan_of("reth", &args(&["nodes"]))
                .err()
                .unwrap()
                .message
                .starts_with("error: unrecognized subcommand 'nodes'")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A missing or wrong file fails naming the flag and the path, in the client's words.
    #[test]
    fn missing_and_bad_files_fail() {
        let dir = devnet_files("bad");
        let root = dir.display().to_string();
        let l1: Vec<_> = testdata::l1().into_iter().map(|(c, p, a)| (c, p, under(&dir, &a))).collect();
        let fails = |container: &str| {
            let (_, program, args) = l1.iter().find(|(c, _, _)| *c == container).unwrap();
            plan_of(program, args).err().unwrap_or_else(|| panic!("{container} passed"))
        };
        std::fs::remove_file(dir.join("data/genesis.json")).unwrap();
        let f = fails("el");
        assert_eq!(f.code, 2);
        assert!(f.message.starts_with(&format!("error: invalid value '{root}/data/genesis.json' for '--chain <CHAIN_OR_PATH>': No such file or directory")), "{}", f.message);
        // What the kubelet mounts for a subPath the volume lacks: an empty directory.
        std::fs::create_dir_all(dir.join("data/genesis.json")).unwrap();
        assert!(fails("el").message.contains("Is a directory"));
        std::fs::write(dir.join("data/jwtsecret"), "0xshort").unwrap();
        let f = fails("beacon");
        assert_eq!(f.code, 1);
        assert_eq!(
            f.message,
            format!(
                "bp-standin: lighthouse bn: --execution-jwt {root}/data/jwtsecret: expected 64 hex characters (32 bytes), found 5"
            )
        );
        std::fs::remove_file(dir.join("data/testnet-dir/genesis.ssz")).unwrap();
        assert!(fails("validator").message.starts_with(&format!(
            "bp-standin: lighthouse vc: --testnet-dir {root}/data/testnet-dir: genesis.ssz: No such file"
        )));
        std::fs::write(dir.join("data/testnet-dir/genesis.ssz"), [1u8; 64]).unwrap();
        std::fs::remove_file(dir.join("data/validator/secrets/0xaa")).unwrap();
        assert!(fails("validator").message.contains("no password for 0xaa"), "{}", fails("validator").message);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A services-only playground without artifacts: each `files` entry is an empty directory
    /// the kubelet made. With file checks on (the images' default) the stand-ins fail;
    /// `BP_STANDIN_FILES=warn` lets them start with warnings.
    #[test]
    fn without_artifacts_the_examples_start_only_with_file_warnings() {
        let dir = std::env::temp_dir().join(format!("bp-standin-empty-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for empty in [
            "genesis.json",
            "l2-genesis.json",
            "rollup.json",
            "p2p_key.txt",
            "testnet-dir",
            "validator/validators/logs",
        ] {
            std::fs::create_dir_all(dir.join("data").join(empty)).unwrap();
        }
        std::fs::write(dir.join("data/jwtsecret"), "ef".repeat(32)).unwrap();
        let mut warned = 0;
        for (container, program, args) in testdata::l1().into_iter().chain(testdata::opstack()) {
            let args = under(&dir, &args);
            let plan =
                contract_plan(program, &args, true).unwrap().unwrap_or_else(|f| panic!("{container}: {}", f.message));
            warned += usize::from(!plan.files.warnings.is_empty());
            let strict = contract_plan(program, &args, false).unwrap();
            assert_eq!(strict.is_err(), !plan.files.warnings.is_empty(), "{container}");
        }
        // el twice, beacon twice, validator twice, bootnode, geth init, geth, op-node.
        assert_eq!(warned, 10);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
