//! contender (`docker.io/flashbots/contender:0.7.2`, `ENTRYPOINT ["contender"]`, `CMD
//! ["--help"]`): the transaction spammer builder-playground adds with `--contender` (`contender
//! spam --forever --optimistic-nonces --min-balance "10 ether" -r <el http> --tps 20`). Flag set
//! of `contender spam` encoded from flashbots/contender v0.7.2's clap arguments
//! (`crates/cli/src/commands/{common,spam}.rs`, the builtin scenarios'
//! `default_scenarios/builtin.rs`).
//!
//! What it needs from the Pod: its RPC URL answering JSON-RPC (`-r`, default
//! `http://localhost:8545`), a `--min-balance`/`--gas-price` its value parser takes (`10 ether`,
//! `0.01 ether`, a number of wei), a readable test file when one is named (not `scenario:…`),
//! and with `--auth-rpc-url` the engine API accepting `--jwt-secret`; `--builder-url` answering
//! JSON-RPC. It listens on nothing. Other subcommands (`setup`, `report`, `db`, …) and the
//! builtin scenarios' own flags are not modelled.

use crate::cli::{self, Failure, Parsed, Positionals, Spec, Style};
use crate::contract::{Check, Plan};
use crate::files::{self, Files};

const SPAM: &[&str] = &[
    "h/help r/rpc-url|el-rpc= s/seed= p/priv-key= min-balance= t/tx-type= bundle-type|bt= call-forkchoice|fcu e/env= \
     override-senders gas-price= auth-rpc-url|auth= jwt-secret|jwt= optimism|op m/message-version= \
     b/builder-url|builder= txs-per-second|tps= txs-per-block|tpb= d/duration= w/pending-timeout|wait= \
     forever|indefinite a/accounts-per-agent|na= ignore-receipts|ir optimistic-nonces|disable-nonce-sync \
     gen-report|report redeploy skip-setup rpc-batch-size= timeout=",
];

/// `contender spam`'s builtin scenarios (its subcommands), with their aliases.
const BUILTIN: &[&str] = &[
    "blobs",
    "contract",
    "eth-functions",
    "erc20",
    "fill-block",
    "revert",
    "setCode",
    "set-code",
    "storage",
    "stress",
    "transfers",
    "uniV2",
    "uni-v2",
];

/// Units of alloy's `parse_units`, as contender's `parse_value` takes them after a number.
const UNITS: &[&str] = &["wei", "kwei", "mwei", "gwei", "twei", "pwei", "ether", "szabo", "finney"];

const USAGE: &str = "contender spam [OPTIONS] [TESTFILE] [COMMAND]";

/// contender's value parser: a number of wei, or a number and a unit (`10 ether`).
fn value_ok(v: &str) -> bool {
    let v = v.trim().to_lowercase();
    if v.parse::<u128>().is_ok() {
        return true;
    }
    let Some(at) = v.find(|c: char| !c.is_numeric() && c != '.') else { return false };
    let (number, unit) = v.split_at(at);
    !number.is_empty() && number.parse::<f64>().is_ok() && UNITS.contains(&unit.trim())
}

fn invalid(flag: &str, v: &str, why: &str) -> Failure {
    let name = flag.to_ascii_uppercase().replace('-', "_");
    Failure::new(
        2,
        format!("error: invalid value '{v}' for '--{flag} <{name}>': {why}\n\nFor more information, try '--help'."),
    )
}

/// The plan for `contender …`: `spam` has a contract, other subcommands do not (`None`).
pub fn plan(args: &[String], warn: bool) -> Option<Result<Plan, Failure>> {
    let top = Spec::new(&["h/help V/version"]);
    let parsed = match cli::parse(Style::Clap, "contender", "contender <COMMAND>", &top, args, Positionals::Stop) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    match parsed.positionals.split_first() {
        Some((c, rest)) if c == "spam" => Some(spam(rest, warn)),
        _ => None,
    }
}

/// Where a builtin scenario's subcommand starts: the first builtin name that is not a flag's
/// value.
fn scenario_at(spec: &Spec, args: &[String]) -> Option<usize> {
    (0..args.len()).find(|&i| {
        BUILTIN.contains(&args[i].as_str())
            && (i == 0 || {
                let prev = &args[i - 1];
                // A flag without its value fails alone: then this word is its value.
                !(prev.starts_with('-')
                    && !prev.contains('=')
                    && cli::parse(Style::Clap, "contender", USAGE, spec, &args[i - 1..i], Positionals::Interspersed)
                        .is_err())
            })
    })
}

fn spam(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "contender spam";
    let spec = Spec::new(SPAM);
    let (own, scenario) = match scenario_at(&spec, args) {
        Some(i) => (&args[..i], Some(&args[i..])),
        None => (args, None),
    };
    let parsed: Parsed = cli::parse(Style::Clap, "contender", USAGE, &spec, own, Positionals::Interspersed)?;
    if parsed.positionals.len() > 1 {
        return Err(Failure::new(
            2,
            format!(
                "error: unexpected argument '{}' found\n\nUsage: {USAGE}\n\nFor more information, try '--help'.",
                parsed.positionals[1]
            ),
        ));
    }
    for flag in ["min-balance", "gas-price"] {
        if let Some(v) = parsed.value(flag)
            && !value_ok(v)
        {
            return Err(invalid(flag, v, "invalid value"));
        }
    }
    for flag in ["txs-per-second", "txs-per-block", "duration", "pending-timeout", "accounts-per-agent"] {
        if let Some(v) = parsed.value(flag)
            && v.parse::<u64>().is_err()
        {
            return Err(invalid(flag, v, "invalid digit found in string"));
        }
    }
    let mut files = Files::new(client, warn);
    let mut notes = Vec::new();
    if let Some(testfile) = parsed.positionals.first() {
        if testfile.starts_with("scenario:") {
            notes.push(format!("{testfile}: one of contender's bundled scenarios"));
        } else {
            files.require("<TESTFILE>", testfile, |p| {
                std::fs::read_to_string(p)
                    .map(|t| ((), format!("scenario ({} bytes)", t.len())))
                    .map_err(|e| e.to_string())
            })?;
        }
    }
    if let Some(rest) = scenario {
        notes.push(format!("builtin scenario {}: its own flags are not checked", rest.join(" ")));
    }
    if parsed.positionals.is_empty() && scenario.is_none() {
        notes.push("no test file and no builtin scenario given".into());
    }
    if !parsed.on("forever") {
        notes.push(format!(
            "without --forever contender stops after {} batches (and the container with it)",
            parsed.value("duration").unwrap_or("10")
        ));
    }
    let secret = match parsed.value("jwt-secret") {
        Some(path) => files.require("jwt-secret", path, files::jwt_file)?,
        None => None,
    };
    let mut plan = Plan::new(client, "contender", &parsed, files, false);
    plan.flag_args = Vec::new();
    plan.notes = notes;
    let rpc = parsed.value("rpc-url").unwrap_or("http://localhost:8545");
    plan.peer("rpc-url", rpc, Check::ExecutionRpc { expect_chain: None }, false)?;
    if let Some(builder) = parsed.value("builder-url") {
        plan.peer("builder-url", builder, Check::ExecutionRpc { expect_chain: None }, false)?;
    }
    if let Some(auth) = parsed.value("auth-rpc-url") {
        let Some(secret) = secret else {
            return Err(Failure::new(1, "Error: --auth-rpc-url requires --jwt-secret"));
        };
        let jwt_flag = format!("--jwt-secret {}", parsed.value("jwt-secret").unwrap_or_default());
        plan.peer("auth-rpc-url", auth, Check::Engine { secret, jwt_flag, expect_chain: None }, false)?;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    fn spam_of(a: &[&str]) -> Result<Plan, Failure> {
        let mut all = vec!["spam"];
        all.extend_from_slice(a);
        plan(&args(&all), false).expect("spam has a contract")
    }

    #[test]
    fn builder_playgrounds_command_line_reaches_the_el() {
        let p = spam_of(&[
            "--forever",
            "--optimistic-nonces",
            "--min-balance",
            "10 ether",
            "-r",
            "http://localhost:8545",
            "--tps",
            "20",
        ])
        .unwrap();
        assert_eq!(p.client, "contender spam");
        assert!(p.apis.is_empty() && p.flag_args.is_empty(), "it listens on nothing");
        assert_eq!(p.peers.len(), 1);
        assert_eq!(format!("{} {}", p.peers[0].flag, p.peers[0].url), "--rpc-url http://localhost:8545/");
        assert_eq!(p.notes, ["no test file and no builtin scenario given"]);
        assert!(plan(&args(&["--help"]), false).is_none());
        assert!(plan(&args(&["setup", "x.toml"]), false).is_none());
    }

    #[test]
    fn builtin_scenarios_test_files_and_values() {
        let p = spam_of(&["-r", "http://el:8545", "--tps", "5", "fill-block", "-g", "1000"]).unwrap();
        assert_eq!(p.notes[0], "builtin scenario fill-block -g 1000: its own flags are not checked");
        assert_eq!(p.peers[0].url.to_string(), "http://el:8545/");
        let p = spam_of(&["scenario:simple.toml", "--forever", "--el-rpc", "http://el:1"]).unwrap();
        assert_eq!(p.notes, ["scenario:simple.toml: one of contender's bundled scenarios"]);
        assert_eq!(p.peers[0].url.to_string(), "http://el:1/");
        let e = spam_of(&["/nonexistent/s.toml", "--forever"]).err().unwrap();
        assert_eq!(e.code, 1);
        assert!(e.message.starts_with("bp-standin: contender spam: <TESTFILE> /nonexistent/s.toml: "), "{}", e.message);
        let e = spam_of(&["--min-balance", "10 bananas"]).err().unwrap();
        assert_eq!(
            (e.code, e.message.lines().next().unwrap()),
            (2, "error: invalid value '10 bananas' for '--min-balance <MIN_BALANCE>': invalid value")
        );
        assert!(spam_of(&["--min-balance", "1000000", "--forever"]).is_ok());
        assert!(spam_of(&["--min-balance", "0.5 gwei", "--forever"]).is_ok());
        let e = spam_of(&["--tps", "fast"]).err().unwrap();
        assert_eq!(e.code, 2);
        let e = spam_of(&["--tpss", "5"]).err().unwrap();
        assert!(e.message.starts_with("error: unexpected argument '--tpss' found"), "{}", e.message);
        assert_eq!(spam_of(&["--auth-rpc-url", "http://el:8551"]).err().unwrap().code, 1);
    }
}
