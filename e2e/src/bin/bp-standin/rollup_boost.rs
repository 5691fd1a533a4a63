//! rollup-boost (`docker.io/flashbots/rollup-boost:0.7.0` and `v0.7.12-rc1`): the sidecar
//! between op-node and op-geth on the engine API. Flag set encoded from flashbots/rollup-boost's
//! clap arguments at v0.7.0 and rollup-boost/v0.7.12-rc1 (`crates/rollup-boost/src/cli.rs`,
//! `client/rpc.rs`, `flashblocks/args.rs`): their union. Every flag can also come from the
//! environment variable of its name (`L2_URL`, `RPC_PORT`, …; clap's `env`).
//!
//! What the real program needs from the Pod, and so what is checked:
//! - an L2 JWT (`--l2-jwt-token` or `--l2-jwt-path`) and a builder JWT (`--builder-jwt-token`
//!   or `--builder-jwt-path`): without one it stops with `Error: Missing L2 Client JWT secret`
//!   (`… Builder JWT secret`), a file it cannot read or parse is an `Error:` too (eyre, exit 1);
//! - its RPC server on `--rpc-port` (8081), its debug server on `--debug-server-port` (5555),
//!   metrics on `--metrics-port` with `--metrics`, flashblocks on `--flashblocks-port` with
//!   `--flashblocks`;
//! - `--l2-url` (op-geth's authrpc) accepting its L2 JWT: a refusal is the stand-in's failure
//!   (the real one would fail every engine call op-node makes);
//! - `--builder-url` with the builder JWT is tried, but rollup-boost runs without its builder
//!   (it serves the L2's payloads, `/healthz` answers 206): not reaching it is a line, not a
//!   failure.
//!
//! Its server checks **no** JWT (v0.7.0 to v0.7.17 put no auth layer on it): op-node's calls
//! are forwarded to `--l2-url` signed anew with the L2 secret; the stand-in logs whether the
//! caller's token was signed with that secret, for the reader.

use crate::cli::{self, Failure, Parsed, Positionals, Spec, Style};
use crate::contract::{Api, Check, Plan, Upstream};
use crate::files::{self, Files};
use crate::{http, jwt};

const FLAGS: &[&str] = &[
    "h/help V/version",
    "builder-url= builder-jwt-token= builder-jwt-path= builder-timeout=",
    "l2-url= l2-jwt-token= l2-jwt-path= l2-timeout=",
    "health-check-interval= max-unsafe-interval= rpc-host= rpc-port= tracing? metrics? metrics-host= metrics-port= \
     otlp-endpoint= log-level= log-format= log-file= debug-host= debug-server-port= execution-mode= \
     block-selection-policy= external-state-root? ignore-unhealthy-builders?",
    "flashblocks? flashblocks-builder-url= flashblocks-host= flashblocks-port= flashblock-builder-ws-reconnect-ms= \
     flashblock-builder-ws-initial-reconnect-ms= flashblock-builder-ws-max-reconnect-ms= \
     flashblock-builder-ws-ping-interval-ms= flashblock-builder-ws-pong-timeout-ms=",
];

const USAGE: &str = "rollup-boost [OPTIONS] [COMMAND]";

/// What rollup-boost does without its builder.
const WITHOUT_BUILDER: &str =
    "rollup-boost runs without it: the L2's payloads are used, /healthz answers 206 (the builder is unhealthy)";

/// A flag's value from the command line, else from its environment variable (clap's `env`).
fn value(parsed: &Parsed, env: &dyn Fn(&str) -> Option<String>, flag: &str) -> Option<String> {
    parsed.value(flag).map(str::to_string).or_else(|| env(&flag.to_ascii_uppercase().replace('-', "_")))
}

/// A switch from the command line (`--metrics`, `--metrics=true`), else its environment variable.
fn switch(parsed: &Parsed, env: &dyn Fn(&str) -> Option<String>, flag: &str) -> bool {
    if parsed.flags.iter().any(|(n, _)| n == flag) {
        return parsed.on(flag);
    }
    env(&flag.to_ascii_uppercase().replace('-', "_")).is_some_and(|v| v == "true")
}

fn invalid(flag: &str, value_name: &str, v: &str, why: &str) -> Failure {
    Failure::new(
        2,
        format!(
            "error: invalid value '{v}' for '--{flag} <{value_name}>': {why}\n\nFor more information, try '--help'."
        ),
    )
}

/// The plan for `rollup-boost …`, `None` for its `debug` subcommand (a client of the debug
/// server, not modelled).
pub fn plan(args: &[String], warn: bool) -> Option<Result<Plan, Failure>> {
    plan_with_env(args, warn, &|name| std::env::var(name).ok())
}

pub fn plan_with_env(
    args: &[String],
    warn: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Result<Plan, Failure>> {
    let parsed = match cli::parse(Style::Clap, "rollup-boost", USAGE, &Spec::new(FLAGS), args, Positionals::Stop) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    match parsed.positionals.first().map(String::as_str) {
        None => Some(run(&parsed, warn, env)),
        Some("debug" | "help") => None,
        Some(c) => Some(Err(Failure::new(
            2,
            format!("error: unrecognized subcommand '{c}'\n\nUsage: {USAGE}\n\nFor more information, try '--help'."),
        ))),
    }
}

/// The secret of one engine client (`l2` or `builder`): `--<p>-jwt-token` first, then
/// `--<p>-jwt-path`, as rollup-boost reads them. Returns the secret and how it was given.
fn secret(
    parsed: &Parsed,
    env: &dyn Fn(&str) -> Option<String>,
    files: &mut Files,
    prefix: &str,
    missing: &str,
) -> Result<Option<(jwt::Secret, String)>, Failure> {
    let token_flag = format!("{prefix}-jwt-token");
    let path_flag = format!("{prefix}-jwt-path");
    if let Some(token) = value(parsed, env, &token_flag) {
        // clap's value parser (JwtSecret::from_hex): a bad token is a usage error.
        let secret = jwt::parse_secret(&token).map_err(|why| invalid(&token_flag, "HEX", &token, &why))?;
        return Ok(Some((secret, format!("--{token_flag}"))));
    }
    let Some(path) = value(parsed, env, &path_flag) else {
        return Err(Failure::new(1, format!("Error: {missing}")));
    };
    let secret = files.check(&path_flag, &path, files::jwt_file, |reason| {
        Failure::new(1, format!("Error: --{path_flag} {path}: {reason}"))
    })?;
    Ok(secret.map(|s| (s, format!("--{path_flag} {path}"))))
}

/// A port flag's value (default `default`), as clap's u16 parser takes it.
fn port(parsed: &Parsed, env: &dyn Fn(&str) -> Option<String>, flag: &str, default: u16) -> Result<u16, Failure> {
    match value(parsed, env, flag) {
        None => Ok(default),
        Some(v) => v
            .parse::<u16>()
            .map_err(|e| invalid(flag, &flag.to_ascii_uppercase().replace('-', "_"), &v, &e.to_string())),
    }
}

fn run(parsed: &Parsed, warn: bool, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, Failure> {
    let client = "rollup-boost";
    if let Some(level) = value(parsed, env, "log-level")
        && !["trace", "debug", "info", "warn", "error", "1", "2", "3", "4", "5"]
            .contains(&level.to_ascii_lowercase().as_str())
    {
        return Err(invalid(
            "log-level",
            "LOG_LEVEL",
            &level,
            "error parsing level: expected one of \"error\", \"warn\", \"info\", \"debug\", \"trace\", or a number 1-5",
        ));
    }
    if let Some(mode) = value(parsed, env, "execution-mode")
        && !["enabled", "dry-run", "disabled"].contains(&mode.as_str())
    {
        return Err(invalid(
            "execution-mode",
            "EXECUTION_MODE",
            &mode,
            "[possible values: enabled, dry-run, disabled]",
        ));
    }
    let rpc_port = port(parsed, env, "rpc-port", 8081)?;
    let debug_port = port(parsed, env, "debug-server-port", 5555)?;
    let metrics_port = port(parsed, env, "metrics-port", 9090)?;
    let flashblocks_port = port(parsed, env, "flashblocks-port", 1112)?;
    let mut files = Files::new(client, warn);
    let l2 = secret(parsed, env, &mut files, "l2", "Missing L2 Client JWT secret")?;
    let builder = secret(parsed, env, &mut files, "builder", "Missing Builder JWT secret")?;
    // The engine clients take a URI: without `http://` they cannot send anything.
    let url = |flag: &str| -> Result<String, Failure> {
        let v = value(parsed, env, flag).unwrap_or_else(|| "127.0.0.1:8551".into());
        http::parse_url(&v).map_err(|why| Failure::new(1, format!("Error: --{flag} {v}: {why}")))?;
        Ok(v)
    };
    let (l2_url, builder_url) = (url("l2-url")?, url("builder-url")?);

    let mut plan = Plan::new(client, "rollup-boost", parsed, files, false);
    let mut listeners = vec![("rpc-port", rpc_port), ("debug-server-port", debug_port)];
    if switch(parsed, env, "metrics") {
        listeners.push(("metrics-port", metrics_port));
    }
    if switch(parsed, env, "flashblocks") {
        listeners.push(("flashblocks-port", flashblocks_port));
    }
    // Exactly these (the port parser would take `--metrics-port` without `--metrics`).
    plan.flag_args = listeners.iter().map(|(f, p)| format!("--{f}={p}")).collect();
    plan.apis.push((rpc_port, Api::EngineProxy));
    if let Some((secret, jwt_flag)) = &l2 {
        plan.node.jwt = Some(*secret);
        plan.node.upstream = Some(Upstream {
            flag: "--l2-url".into(),
            jwt_flag: jwt_flag.clone(),
            url: http::parse_url(&l2_url).map_err(|e| Failure::new(1, format!("Error: {e}")))?,
            secret: Some(*secret),
        });
        plan.peer(
            "l2-url",
            &l2_url,
            Check::Engine { secret: *secret, jwt_flag: jwt_flag.clone(), expect_chain: None },
            false,
        )?;
    }
    if let Some((secret, jwt_flag)) = builder {
        plan.optional_peer(
            "builder-url",
            &builder_url,
            Check::Engine { secret, jwt_flag, expect_chain: None },
            WITHOUT_BUILDER,
        )?;
    }
    if value(parsed, env, "rpc-host").is_none_or(|h| h == "127.0.0.1" || h == "localhost") {
        plan.notes.push(format!(
            "--rpc-host is 127.0.0.1 (the default): only the Pod's own containers reach port {rpc_port}, as with the real one"
        ));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    /// A temporary directory, removed on drop.
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("bp-standin-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        pub fn path(&self, name: &str) -> String {
            self.0.join(name).to_string_lossy().into_owned()
        }

        pub fn file(&self, name: &str, content: &str) -> String {
            std::fs::write(self.0.join(name), content).unwrap();
            self.path(name)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn plan_of(a: &[&str]) -> Result<Plan, Failure> {
        plan_with_env(&args(a), false, &no_env).expect("a contract")
    }

    #[test]
    fn the_manifest_command_line_serves_the_engine_api_and_reaches_both_engines() {
        let dir = Dir::new("rollup-boost");
        let jwt = dir.file("jwtsecret", &"ab".repeat(32));
        let p = plan_of(&[
            "--rpc-host",
            "0.0.0.0",
            "--rpc-port",
            "8553",
            "--l2-jwt-path",
            &jwt,
            "--l2-url",
            "http://localhost:8552",
            "--builder-jwt-path",
            &jwt,
            "--builder-url",
            "http://host.docker.internal:4444",
        ])
        .unwrap();
        assert_eq!(
            p.files.seen,
            [
                format!("--l2-jwt-path {jwt}: JWT secret (32 bytes)"),
                format!("--builder-jwt-path {jwt}: JWT secret (32 bytes)")
            ]
        );
        assert_eq!(p.flag_args, ["--rpc-port=8553", "--debug-server-port=5555"]);
        assert_eq!(p.apis, [(8553, Api::EngineProxy)]);
        assert_eq!(p.node.jwt, Some([0xab; 32]));
        let up = p.node.upstream.as_ref().unwrap();
        assert_eq!(
            (up.url.to_string().as_str(), up.jwt_flag.as_str()),
            ("http://localhost:8552/", format!("--l2-jwt-path {jwt}").as_str())
        );
        let peers: Vec<(String, bool)> =
            p.peers.iter().map(|p| (format!("{} {}", p.flag, p.url), p.optional.is_some())).collect();
        assert_eq!(
            peers,
            [
                ("--l2-url http://localhost:8552/".to_string(), false),
                ("--builder-url http://host.docker.internal:4444/".to_string(), true)
            ]
        );
        assert!(p.notes.is_empty(), "{:?}", p.notes);
    }

    #[test]
    fn jwts_come_from_tokens_paths_or_the_environment_and_are_required() {
        let dir = Dir::new("rollup-boost-jwt");
        let jwt = dir.file("jwtsecret", &"cd".repeat(32));
        let token = "ef".repeat(32);
        let urls = ["--l2-url", "http://l2:8551", "--builder-url", "http://b:8551"];
        let mut a = vec!["--l2-jwt-token", &token, "--builder-jwt-path", &jwt, "--metrics", "--flashblocks"];
        a.extend(urls);
        let p = plan_of(&a).unwrap();
        assert_eq!(p.node.jwt, Some([0xef; 32]));
        assert_eq!(
            p.flag_args,
            ["--rpc-port=8081", "--debug-server-port=5555", "--metrics-port=9090", "--flashblocks-port=1112"]
        );
        // The default --l2-url (and --builder-url) has no scheme: the engine client cannot use it.
        let e = plan_of(&["--l2-jwt-token", &token, "--builder-jwt-path", &jwt]).err().unwrap();
        assert_eq!(e, Failure::new(1, "Error: --l2-url 127.0.0.1:8551: \"127.0.0.1:8551\" is not an http:// URL"));
        assert!(p.notes[0].starts_with("--rpc-host is 127.0.0.1"), "{:?}", p.notes);

        assert_eq!(
            plan_of(&["--builder-jwt-path", &jwt]).err().unwrap(),
            Failure::new(1, "Error: Missing L2 Client JWT secret")
        );
        assert_eq!(
            plan_of(&["--l2-jwt-path", &jwt]).err().unwrap(),
            Failure::new(1, "Error: Missing Builder JWT secret")
        );
        let missing = dir.path("nope");
        let e = plan_of(&["--l2-jwt-path", &missing, "--builder-jwt-path", &jwt]).err().unwrap();
        assert_eq!(e.code, 1);
        assert!(e.message.starts_with(&format!("Error: --l2-jwt-path {missing}: ")), "{}", e.message);
        let e = plan_of(&["--l2-jwt-token", "0x12", "--builder-jwt-path", &jwt]).err().unwrap();
        assert_eq!(e.code, 2);
        assert!(e.message.starts_with("error: invalid value '0x12' for '--l2-jwt-token <HEX>'"), "{}", e.message);

        let env = |name: &str| match name {
            "L2_JWT_PATH" | "BUILDER_JWT_PATH" => Some(jwt.clone()),
            "RPC_PORT" => Some("4444".into()),
            "L2_URL" => Some("http://localhost:5555".into()),
            "BUILDER_URL" => Some("http://localhost:4445".into()),
            _ => None,
        };
        let p = plan_with_env(&[], false, &env).unwrap().unwrap();
        assert_eq!(p.apis, [(4444, Api::EngineProxy)]);
        assert_eq!(p.peers[0].url.to_string(), "http://localhost:5555/");
        assert_eq!(p.peers[1].url.to_string(), "http://localhost:4445/");
    }

    #[test]
    fn its_command_line_is_refused_as_clap_does() {
        let e = plan_of(&["--l2-url", "http://x:1", "--l2", "y"]).err().unwrap();
        assert_eq!(e.code, 2);
        assert!(e.message.starts_with("error: unexpected argument '--l2' found"), "{}", e.message);
        assert!(e.message.contains("Usage: rollup-boost [OPTIONS] [COMMAND]"), "{}", e.message);
        let e = plan_of(&["--rpc-port", "http"]).err().unwrap();
        assert_eq!(
            (e.code, e.message.lines().next().unwrap()),
            (2, "error: invalid value 'http' for '--rpc-port <RPC_PORT>': invalid digit found in string")
        );
        assert_eq!(plan_of(&["--log-level", "loud"]).err().unwrap().code, 2);
        assert_eq!(plan_of(&["--execution-mode", "on"]).err().unwrap().code, 2);
        assert_eq!(plan_of(&["serve"]).err().unwrap().code, 2);
        assert!(plan_with_env(&args(&["debug", "execution-mode"]), false, &no_env).is_none());
    }
}
