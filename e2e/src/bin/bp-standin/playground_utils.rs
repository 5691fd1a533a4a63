//! flashbots/playground-utils (`docker.io/flashbots/playground-utils:<builder-playground commit>`):
//! `healthmon` and `mev-boost-relay`, built from builder-playground's own source. Flag sets
//! encoded from that source at the image's commit cc6f172 (`healthmon/cmd/main.go`: Go `flag`;
//! `mev-boost-relay/cmd/main.go`: cobra).

use crate::cli::{self, Failure, Positionals, Spec, Style};
use crate::contract::{Api, Check, Plan};
use crate::files::Files;

const HEALTHMON: &[&str] = &["chain= url= service.addr= blocktime="];
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
