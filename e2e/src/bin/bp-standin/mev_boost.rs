//! mev-boost (`docker.io/flashbots/mev-boost:latest`, `ENTRYPOINT ["/app/mev-boost"]`): the
//! validator's sidecar to the relays. Flag set encoded from flashbots/mev-boost's `cli/flags.go`
//! and `cli/main.go` (v1.8, urfave/cli v3: `-flag` and `--flag` alike, each flag also read from
//! its environment variable, `GENESIS_FORK_VERSION`, `RELAYS`, `BOOST_LISTEN_ADDR`, …); a fatal
//! error is logrus' `level=fatal msg=…` and exit code 1.
//!
//! What it needs from the Pod: at least one relay, each URL carrying the relay's BLS public key
//! as its user (`http://0xa188…@localhost:5555`: `missing relay public key` otherwise); a genesis
//! fork version (`-genesis-fork-version`, or `-sepolia`, `-holesky`, `-mainnet`, the default);
//! its listener on `-addr` (`localhost:18550`), where `/eth/v1/builder/status` answers 200
//! (with `-relay-check`, only once the relays answered). The stand-in reaches every relay's
//! `/eth/v1/builder/status` (a relay that never answers is its failure, as for lighthouse's
//! `--builder`; the real one would log the relay as unavailable).

use crate::cli::{self, Failure, Parsed, Positionals, Spec, Style};
use crate::contract::{Api, Check, Plan};
use crate::files::Files;

const FLAGS: &[&str] =
    &["help|h addr= version json debug loglevel= log-service= log-no-version genesis-fork-version= \
     genesis-timestamp= mainnet sepolia holesky relay|relays= relay-monitors|relay-monitor= min-bid= relay-check \
     request-timeout-getheader= request-timeout-getpayload= request-timeout-regval= request-max-retries="];

/// Each flag's environment variable (`Sources: cli.EnvVars(…)`).
const ENV: &[(&str, &str)] = &[
    ("addr", "BOOST_LISTEN_ADDR"),
    ("json", "LOG_JSON"),
    ("debug", "DEBUG"),
    ("loglevel", "LOG_LEVEL"),
    ("log-service", "LOG_SERVICE_TAG"),
    ("log-no-version", "DISABLE_LOG_VERSION"),
    ("genesis-fork-version", "GENESIS_FORK_VERSION"),
    ("genesis-timestamp", "GENESIS_TIMESTAMP"),
    ("mainnet", "MAINNET"),
    ("sepolia", "SEPOLIA"),
    ("holesky", "HOLESKY"),
    ("relay", "RELAYS"),
    ("relay-monitors", "RELAY_MONITORS"),
    ("min-bid", "MIN_BID_ETH"),
    ("relay-check", "RELAY_STARTUP_CHECK"),
];

fn fatal(message: &str) -> Failure {
    Failure::new(1, format!("level=fatal msg={message:?}"))
}

/// A flag's values: the command line's, else its environment variable's.
fn values(parsed: &Parsed, env: &dyn Fn(&str) -> Option<String>, flag: &str) -> Vec<String> {
    let given: Vec<String> = parsed.values(flag).into_iter().map(str::to_string).collect();
    if !given.is_empty() || parsed.flags.iter().any(|(n, _)| n == flag) {
        return given;
    }
    let var = ENV.iter().find(|(f, _)| *f == flag).map(|(_, v)| *v);
    var.and_then(env)
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

fn value(parsed: &Parsed, env: &dyn Fn(&str) -> Option<String>, flag: &str) -> Option<String> {
    parsed.value(flag).map(str::to_string).or_else(|| values(parsed, env, flag).into_iter().last())
}

fn switch(parsed: &Parsed, env: &dyn Fn(&str) -> Option<String>, flag: &str) -> bool {
    if parsed.flags.iter().any(|(n, _)| n == flag) {
        return parsed.on(flag);
    }
    value(parsed, env, flag).is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

/// A relay URL as mev-boost's `NewRelayEntry` takes it: `http://` added when missing, the user
/// a 48-byte BLS public key in hex that is not the point at infinity.
fn relay(url: &str) -> Result<String, String> {
    let url = if url.starts_with("http") { url.to_string() } else { format!("http://{url}") };
    let authority = url.split_once("://").map_or("", |(_, r)| r.split('/').next().unwrap_or(""));
    let user = authority.rsplit_once('@').map(|(u, _)| u.split(':').next().unwrap_or(u)).unwrap_or("");
    if user.is_empty() {
        return Err("missing relay public key".into());
    }
    let hex = user.strip_prefix("0x").unwrap_or(user);
    let mut key = [0u8; 48];
    ::hex::decode_to_slice(hex, &mut key).map_err(|_| format!("invalid public key {user:?}: want 48 bytes of hex"))?;
    if key[0] == 0xc0 && key[1..].iter().all(|b| *b == 0) {
        return Err("relay public key cannot be the point-at-infinity".into());
    }
    Ok(url)
}

pub fn plan(args: &[String], warn: bool) -> Result<Plan, Failure> {
    plan_with_env(args, warn, &|name| std::env::var(name).ok())
}

pub fn plan_with_env(args: &[String], warn: bool, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, Failure> {
    let client = "mev-boost";
    let parsed = cli::parse(Style::Urfave, client, client, &Spec::new(FLAGS), args, Positionals::Stop)
        .map_err(|f| fatal(f.message.lines().last().unwrap_or_default()))?;
    if parsed.on("version") {
        let mut plan = Plan::new(client, client, &parsed, Files::new(client, warn), true);
        plan.then_exit = Some("mev-boost (bp-standin)".into());
        return Ok(plan);
    }
    let level = if switch(&parsed, env, "debug") { Some("debug".into()) } else { value(&parsed, env, "loglevel") };
    if let Some(level) = level
        && !["panic", "fatal", "error", "warn", "warning", "info", "debug", "trace"]
            .contains(&level.to_ascii_lowercase().as_str())
    {
        return Err(Failure::new(
            1,
            format!("level=fatal msg=\"failed setting up logging\" error=\"invalid loglevel: {level}\""),
        ));
    }
    let fork = match value(&parsed, env, "genesis-fork-version") {
        Some(v) => v,
        None if switch(&parsed, env, "sepolia") => "0x90000069".into(),
        None if switch(&parsed, env, "holesky") => "0x01017000".into(),
        // -mainnet defaults to true.
        None => "0x00000000".into(),
    };
    let relays = values(&parsed, env, "relay");
    if relays.is_empty() {
        return Err(fatal("no relays specified"));
    }
    let mut urls = Vec::new();
    for url in &relays {
        let checked = relay(url)
            .map_err(|e| Failure::new(1, format!("level=fatal msg=\"Invalid relay URL\" error={e:?} relay={url:?}")))?;
        if urls.contains(&checked) {
            return Err(Failure::new(
                1,
                format!("level=fatal msg=\"Invalid relay URL\" error=\"duplicate entry\" relay={url:?}"),
            ));
        }
        urls.push(checked);
    }
    if let Some(bid) = value(&parsed, env, "min-bid") {
        match bid.parse::<f64>() {
            Ok(b) if b < 0.0 => {
                return Err(Failure::new(
                    1,
                    "level=fatal msg=\"Failed sanitizing min bid\" error=\"please specify a non-negative minimum bid\"",
                ));
            }
            Ok(b) if b > 1_000_000.0 => {
                return Err(Failure::new(
                    1,
                    "level=fatal msg=\"Failed sanitizing min bid\" error=\"minimum bid is too large, please ensure min-bid is denominated in Ethers\"",
                ));
            }
            Ok(_) => {}
            Err(_) => return Err(fatal(&format!("invalid value {bid:?} for flag -min-bid: parse error"))),
        }
    }
    let addr = value(&parsed, env, "addr").unwrap_or_else(|| "localhost:18550".into());
    let port = addr.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok());
    let Some(port) = port else {
        return Err(fatal(&format!("listen tcp: address {addr}: missing port in address")));
    };
    let relay_check = switch(&parsed, env, "relay-check");
    let mut plan = Plan::new(client, client, &parsed, Files::new(client, warn), true);
    plan.flag_args = vec![format!("--addr={port}")];
    plan.apis.push((port, Api::Relay));
    plan.notes.push(format!("using {} relays, genesis fork version {fork}", urls.len()));
    if addr.starts_with("localhost:") || addr.starts_with("127.0.0.1:") {
        plan.notes.push(format!("-addr {addr}: only the Pod's own containers reach it, as with the real one"));
    }
    for url in &urls {
        // With -relay-check the status says 200 only once the relays answered; without, always.
        plan.peer("relay", url, Check::Builder, relay_check)?;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "0xa1885d66bef164889a2e35845c3b626545d7b0e513efe335e97c3a45e534013fa3bc38c3b7e6143695aecc4872ac52c4";

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn builder_playgrounds_command_line_reaches_its_relay() {
        // c473a6a's `--use-separate-mev-boost`: `-addr 0.0.0.0:18550 -relay URL`, GENESIS_FORK_VERSION in env.
        let relay_url = format!("http://{KEY}@localhost:5555");
        let env = |n: &str| (n == "GENESIS_FORK_VERSION").then(|| "0x20000089".to_string());
        let p = plan_with_env(&args(&["-addr", "0.0.0.0:18550", "-relay", &relay_url]), false, &env).unwrap();
        assert_eq!(p.apis, [(18550, Api::Relay)]);
        assert_eq!(p.flag_args, ["--addr=18550"]);
        assert_eq!(p.notes, ["using 1 relays, genesis fork version 0x20000089"]);
        assert_eq!(p.peers.len(), 1);
        assert_eq!(p.peers[0].url.to_string(), "http://localhost:5555/");
        assert!(!p.peers[0].gates_ready, "without -relay-check the status is 200 at once");
        let p = plan_with_env(
            &args(&["--relays", &format!("{relay_url},{KEY}@relay2:80"), "-relay-check"]),
            false,
            &no_env,
        )
        .unwrap();
        assert_eq!(p.apis, [(18550, Api::Relay)]);
        assert_eq!(
            p.peers.iter().map(|p| p.url.to_string()).collect::<Vec<_>>(),
            ["http://localhost:5555/", "http://relay2:80/"]
        );
        assert!(p.peers.iter().all(|p| p.gates_ready));
        assert!(p.notes.iter().any(|n| n.contains("genesis fork version 0x00000000")), "{:?}", p.notes);
        assert!(p.notes.iter().any(|n| n.starts_with("-addr localhost:18550")), "{:?}", p.notes);
    }

    #[test]
    fn relay_urls_need_their_public_key() {
        let fail = |a: &[&str]| plan_with_env(&args(a), false, &no_env).err().unwrap();
        assert_eq!(
            fail(&["-relay", "http://localhost:5555"]),
            Failure::new(
                1,
                "level=fatal msg=\"Invalid relay URL\" error=\"missing relay public key\" relay=\"http://localhost:5555\""
            )
        );
        assert!(fail(&["-relay", "http://0x1234@localhost:5555"]).message.contains("want 48 bytes of hex"));
        let infinity = format!("http://0xc0{}@localhost:5555", "00".repeat(47));
        assert!(fail(&["-relay", &infinity]).message.contains("point-at-infinity"));
        assert_eq!(fail(&["-addr", ":1"]), Failure::new(1, "level=fatal msg=\"no relays specified\""));
        let r = format!("http://{KEY}@localhost:5555");
        assert!(fail(&["-relay", &r, "-relay", &r]).message.contains("duplicate entry"));
        assert!(fail(&["-relay", &r, "-min-bid", "-1"]).message.contains("non-negative"));
        assert!(fail(&["-relay", &r, "-loglevel", "loud"]).message.contains("invalid loglevel: loud"));
        let e = fail(&["-relay", &r, "-relayz", "x"]);
        assert_eq!(e, Failure::new(1, "level=fatal msg=\"flag provided but not defined: -relayz\""));
    }
}
