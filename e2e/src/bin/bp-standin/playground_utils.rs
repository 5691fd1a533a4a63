//! flashbots/playground-utils (`docker.io/flashbots/playground-utils:<builder-playground commit>`):
//! `healthmon`, `mev-boost-relay` and `cl-proxy`, built from builder-playground's own source.
//! Flag sets encoded from that source at the image's commit cc6f172 (`healthmon/cmd/main.go`:
//! Go `flag`; `mev-boost-relay/cmd/main.go`, `cl-proxy/cmd/main.go`: cobra).

use crate::cli::{self, Failure, Positionals, Spec, Style};
use crate::contract::{Api, Check, Plan, Upstream};
use crate::files::Files;
use crate::http;

const HEALTHMON: &[&str] = &["chain= url= service.addr= blocktime="];
const CL_PROXY: &[&str] = &["h/help primary-builder= secondary-builder= port="];
const RELAY: &[&str] = &["h/help api-listen-addr= api-listen-port= beacon-client-addr= validation-server-addr="];

/// `healthmon --chain beacon|execution --url URL [--service.addr ADDR] [--blocktime N]`: watches
/// one node and answers `/ready` with 200 once that node answered.
pub fn healthmon(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "healthmon";
    let parsed = cli::parse(Style::GoFlag, "healthmon", "healthmon", &Spec::new(HEALTHMON), args, Positionals::Stop)?;
    let chain = parsed.value("chain").unwrap_or_default();
    let check = match chain {
        "execution" => Check::ExecutionHealth,
        "beacon" => Check::Beacon { synced: true, same_spec: Vec::new(), genesis: false },
        other => return Err(Failure::new(1, format!("level=ERROR msg=\"Unknown chain\" chain={other:?}"))),
    };
    let url = parsed.value("url").unwrap_or_default();
    if url.is_empty() {
        return Err(Failure::new(
            1,
            "level=ERROR msg=\"Failed to connect to execution client\" err=\"no known transport for URL scheme \\\"\\\"\"",
        ));
    }
    let mut plan = Plan::new(client, "healthmon", &parsed, Files::new(client, warn), true);
    plan.peer("url", url, check, true)?;
    match parsed.value("service.addr") {
        Some(_) => plan.api(&parsed, "service.addr", Api::Healthmon),
        None => plan.apis.push((21171, Api::Healthmon)),
    }
    Ok(plan)
}

/// `mev-boost-relay` (builder-playground's local relay): waits for its beacon node, reads its
/// spec and genesis, then serves the builder API; its status is 200 only after that.
pub fn mev_boost_relay(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "mev-boost-relay";
    let parsed = cli::parse(
        Style::Cobra,
        "mev-boost-relay",
        "local-mev-boost-relay",
        &Spec::new(RELAY),
        args,
        Positionals::Interspersed,
    )?;
    if let Some(port) = parsed.value("api-listen-port")
        && port.parse::<u64>().is_err()
    {
        return Err(Failure::new(
            1,
            format!(
                "Error: invalid argument \"{port}\" for \"--api-listen-port\" flag: strconv.ParseUint: parsing \"{port}\": invalid syntax"
            ),
        ));
    }
    let mut plan = Plan::new(client, "mev-boost-relay", &parsed, Files::new(client, warn), true);
    let beacon = parsed.value("beacon-client-addr").unwrap_or("http://localhost:3500");
    plan.peer(
        "beacon-client-addr",
        beacon,
        Check::Beacon { synced: false, same_spec: Vec::new(), genesis: true },
        true,
    )?;
    if let Some(validation) = parsed.value("validation-server-addr").filter(|v| !v.is_empty()) {
        plan.peer("validation-server-addr", validation, Check::ExecutionRpc { expect_chain: None }, false)?;
    }
    match parsed.value("api-listen-port") {
        Some(_) => plan.api(&parsed, "api-listen-port", Api::Relay),
        None => plan.apis.push((5555, Api::Relay)),
    }
    Ok(plan)
}

/// `cl-proxy --primary-builder URL --secondary-builder URL --port N` (`--secondary-el`): the
/// beacon node's engine API endpoint, which passes every call to the primary EL with the
/// caller's own JWT (it has none of its own) and copies it to the secondary. The primary must
/// answer (its engine API then judges the beacon node's JWT, through the proxy); the secondary
/// (often `http://host.docker.internal:…`) is optional, as cl-proxy only logs its errors.
pub fn cl_proxy(args: &[String], warn: bool) -> Result<Plan, Failure> {
    let client = "cl-proxy";
    let parsed =
        cli::parse(Style::Cobra, "cl-proxy", "clproxy", &Spec::new(CL_PROXY), args, Positionals::Interspersed)?;
    let port = match parsed.value("port") {
        None => 5656,
        Some(p) => p.parse::<u16>().map_err(|_| {
            Failure::new(
                1,
                format!(
                    "Error: invalid argument \"{p}\" for \"--port\" flag: strconv.ParseInt: parsing \"{p}\": invalid syntax"
                ),
            )
        })?,
    };
    // Go's http.NewRequest: a URL without a scheme fails every request.
    let url = |flag: &str, v: &str| {
        http::parse_url(v).map_err(|e| Failure::new(1, format!("bp-standin: {client}: --{flag} {v}: {e}")))
    };
    let primary = parsed.value("primary-builder").unwrap_or("http://localhost:8551").to_string();
    let secondary = parsed.value("secondary-builder").filter(|v| !v.is_empty()).map(str::to_string);
    let mut plan = Plan::new(client, "cl-proxy", &parsed, Files::new(client, warn), true);
    plan.flag_args = vec![format!("--port={port}")];
    plan.apis.push((port, Api::PassThrough));
    let upstream = |flag: &str, v: &str| -> Result<Upstream, Failure> {
        Ok(Upstream {
            flag: format!("--{flag}"),
            jwt_flag: "the caller's JWT".into(),
            url: url(flag, v)?,
            secret: None,
        })
    };
    plan.node.upstream = Some(upstream("primary-builder", &primary)?);
    plan.peer("primary-builder", &primary, Check::Tcp, false)?;
    if let Some(second) = &secondary {
        plan.node.secondary = Some(upstream("secondary-builder", second)?);
        plan.optional_peer(
            "secondary-builder",
            second,
            Check::Tcp,
            "cl-proxy runs without it: it logs each call it could not copy there",
        )?;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn cl_proxy_passes_calls_on_to_its_primary_and_copies_them_to_its_secondary() {
        // c473a6a's `--secondary-el 8552`.
        let a = [
            "--primary-builder",
            "http://localhost:8551",
            "--secondary-builder",
            "http://localhost:8552",
            "--port",
            "5656",
        ];
        let p = cl_proxy(&args(&a), false).unwrap();
        assert_eq!(p.apis, [(5656, Api::PassThrough)]);
        assert_eq!(p.flag_args, ["--port=5656"]);
        let up = p.node.upstream.as_ref().unwrap();
        assert_eq!((up.url.to_string(), up.secret), ("http://localhost:8551/".to_string(), None));
        assert_eq!(p.node.secondary.as_ref().unwrap().url.to_string(), "http://localhost:8552/");
        let peers: Vec<(String, bool)> = p.peers.iter().map(|p| (p.flag.clone(), p.optional.is_some())).collect();
        assert_eq!(peers, [("--primary-builder".to_string(), false), ("--secondary-builder".to_string(), true)]);

        let p = cl_proxy(&args(&["--secondary-builder", ""]), false).unwrap();
        assert_eq!(p.apis, [(5656, Api::PassThrough)]);
        assert_eq!(p.peers.len(), 1);
        let e = cl_proxy(&args(&["--port", "x"]), false).err().unwrap();
        assert_eq!(e.code, 1);
        assert!(e.message.starts_with("Error: invalid argument \"x\" for \"--port\" flag"), "{}", e.message);
        let e = cl_proxy(&args(&["--primary", "x"]), false).err().unwrap();
        assert!(e.message.starts_with("Error: unknown flag: --primary"), "{}", e.message);
        let e = cl_proxy(&args(&["--primary-builder", "localhost:8551"]), false).err().unwrap();
        assert!(e.message.contains("is not an http:// URL"), "{}", e.message);
    }
}
