//! What a contract stand-in does once its command line and files passed: the APIs it answers on
//! its listeners (JSON-RPC, the JWT-guarded engine API, the beacon API, healthmon's `/ready`,
//! the relay's status) and the peers it must reach (with retries for a bounded time, failing
//! the way the client would when one never answers or refuses it).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli::{Failure, Parsed};
use crate::files::Files;
use crate::http::{self, ClientError, Handler, Reply, Request, Url};
use crate::json;
use crate::jwt::{self, Secret};

/// How long a stand-in keeps trying a peer that does not answer (`BP_STANDIN_PEER_TIMEOUT`
/// seconds overrides it).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(60);
pub const PEER_TIMEOUT_ENV: &str = "BP_STANDIN_PEER_TIMEOUT";
/// A peer that answers but refuses us (a JWT, a chain) is asked this many times.
const DEFINITIVE_TRIES: usize = 3;

/// What a client serves on one of its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Execution JSON-RPC (eth_*, net_*, web3_*).
    ExecutionRpc,
    /// The engine API: every request must carry a JWT signed with this node's secret.
    Engine,
    /// The beacon node API.
    Beacon,
    /// healthmon's `/ready`.
    Healthmon,
    /// The relay's builder API status.
    Relay,
    /// rollup-boost's RPC port: every JSON-RPC call forwarded to [`Node::upstream`] signed with
    /// the upstream's JWT (no JWT is checked on the way in, as rollup-boost checks none), and
    /// its probes `/healthz` (206 while an optional peer is unreached), `/readyz`, `/livez`.
    EngineProxy,
    /// cl-proxy's port: every POST passed to [`Node::upstream`] with the caller's own headers
    /// (its JWT), the answer returned as is; then to [`Node::secondary`] (not
    /// `engine_getPayload*`), whose answer is only logged.
    PassThrough,
    /// A metrics listener: Prometheus' text format on `path` (404 elsewhere), or on every path
    /// when `None` (reth's and op-service's servers ignore the path; geth serves Prometheus'
    /// format under `/debug/metrics/prometheus` only). The series are the stand-in's own
    /// (`bp_standin_*`), never the client's.
    Metrics { path: Option<&'static str> },
}

/// Where an [`Api::EngineProxy`] sends what it is asked: the execution engine behind it.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The flag that names it (`--l2-url`), and the one that names its JWT (`--l2-jwt-path X`).
    pub flag: String,
    pub jwt_flag: String,
    pub url: Url,
    /// The secret the proxy signs with; `None`: the caller's `Authorization` is passed on.
    pub secret: Option<Secret>,
}

/// How many forwarded calls an [`Api::EngineProxy`] logs (a caller that polls would flood the log).
const LOGGED_FORWARDS: usize = 20;

/// What a stand-in knows about the chain it serves, and whether it is ready.
#[derive(Debug, Default)]
pub struct Node {
    pub client: String,
    pub chain_id: Option<u64>,
    /// Execution genesis timestamp, or the beacon chain's genesis time.
    pub genesis_time: u64,
    /// The engine API's secret (execution side).
    pub jwt: Option<Secret>,
    /// Consensus spec (`config.yaml`), for `/eth/v1/config/spec`.
    pub spec: Vec<(String, String)>,
    pub genesis_validators_root: Option<String>,
    /// Set once every peer that gates readiness answered.
    pub ready: AtomicBool,
    /// An optional peer was not reached (rollup-boost's `/healthz` says 206 then).
    pub partial: AtomicBool,
    /// The engine behind an [`Api::EngineProxy`].
    pub upstream: Option<Upstream>,
    /// Calls an [`Api::EngineProxy`] forwarded so far.
    pub forwarded: AtomicUsize,
    /// Where an [`Api::PassThrough`] copies each call, besides its upstream.
    pub secondary: Option<Upstream>,
    /// Pages an [`Api::Metrics`] listener served.
    pub scrapes: AtomicUsize,
}

impl Node {
    pub fn new(client: &str) -> Node {
        Node { client: client.into(), ..Node::default() }
    }

    fn spec_value(&self, key: &str) -> Option<&str> {
        self.spec.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// How a peer is checked.
#[derive(Debug, Clone)]
pub enum Check {
    /// Execution JSON-RPC: `eth_chainId` answers (and equals the chain we expect, when known).
    ExecutionRpc { expect_chain: Option<(u64, String)> },
    /// healthmon's watch of an execution node: `eth_syncing` is false and the latest block reads.
    ExecutionHealth,
    /// The engine API with our JWT: `engine_exchangeCapabilities` is accepted (and `eth_chainId`
    /// equals the chain we expect, when known).
    Engine { secret: Secret, jwt_flag: String, expect_chain: Option<(u64, String)> },
    /// A beacon node: `/eth/v1/node/syncing` answers (not syncing when `synced`), and its
    /// `/eth/v1/config/spec` agrees with ours on `same_spec` keys; `genesis` also reads
    /// `/eth/v1/beacon/genesis`.
    Beacon { synced: bool, same_spec: Vec<(String, String)>, genesis: bool },
    /// A builder (relay) API: `/eth/v1/builder/status` is 200.
    Builder,
    /// An op-node's rollup RPC: `optimism_syncStatus` answers.
    Rollup,
    /// A TCP peer (an enode's RLPx port) accepts a connection.
    Tcp,
}

/// A peer named by a flag.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The flag as written (`--execution-endpoint`).
    pub flag: String,
    pub url: Url,
    pub check: Check,
    /// The stand-in reports ready (beacon health, healthmon, relay status) only once this
    /// peer answered.
    pub gates_ready: bool,
    /// A peer the client runs without (rollup-boost's builder): not reaching it is a line
    /// saying so and what the client does instead (this text), not a failure, and
    /// `contract satisfied` does not wait for it.
    pub optional: Option<String>,
}

/// Everything a contract stand-in does after parsing its command line.
pub struct Plan {
    pub client: String,
    /// The program name, for the port parser's hidden listeners.
    pub program: String,
    /// The arguments taken as flags, for the port parser.
    pub flag_args: Vec<String>,
    pub apis: Vec<(u16, Api)>,
    pub peers: Vec<Peer>,
    pub files: Files,
    pub node: Node,
    /// Go clients: connection errors read like Go's (`dial tcp …: connect: connection refused`).
    pub go: bool,
    /// Things the client does that are worth a line (arguments it ignores).
    pub notes: Vec<String>,
    /// A one-shot command (`geth init`): print this and exit 0 after the file checks.
    pub then_exit: Option<String>,
}

impl Plan {
    pub fn new(client: &str, program: &str, parsed: &Parsed, files: Files, go: bool) -> Plan {
        Plan {
            client: client.into(),
            program: program.into(),
            flag_args: parsed.as_args(),
            apis: Vec::new(),
            peers: Vec::new(),
            files,
            node: Node::new(client),
            go,
            notes: Vec::new(),
            then_exit: None,
        }
    }

    /// Serves `api` on the port a flag's value names (`8545`, `0.0.0.0:9090`, `:5555`).
    pub fn api(&mut self, parsed: &Parsed, flag: &str, api: Api) {
        let port =
            parsed.value(flag).and_then(|v| v.parse::<u16>().ok().or_else(|| v.rsplit_once(':')?.1.parse().ok()));
        if let Some(port) = port {
            self.apis.push((port, api));
        }
    }

    /// Serves [`Api::Metrics`] on the port a flag names, else on `default` (the client's own
    /// default port).
    pub fn metrics(&mut self, parsed: &Parsed, flag: &str, default: u16, path: Option<&'static str>) {
        let before = self.apis.len();
        self.api(parsed, flag, Api::Metrics { path });
        if self.apis.len() == before {
            self.apis.push((default, Api::Metrics { path }));
        }
    }

    /// A peer at `url` (as the flag gave it); a URL the client could not use fails it.
    pub fn peer(&mut self, flag: &str, url: &str, check: Check, gates_ready: bool) -> Result<(), Failure> {
        let parsed = http::parse_url(url)
            .map_err(|e| Failure::new(1, format!("bp-standin: {}: --{flag}: invalid URL: {e}", self.client)))?;
        self.peers.push(Peer { flag: format!("--{flag}"), url: parsed, check, gates_ready, optional: None });
        Ok(())
    }

    /// An optional peer ([`Peer::optional`]): `without` says what the client does without it.
    pub fn optional_peer(&mut self, flag: &str, url: &str, check: Check, without: &str) -> Result<(), Failure> {
        self.peer(flag, url, check, false)?;
        if let Some(p) = self.peers.last_mut() {
            p.optional = Some(without.into());
        }
        Ok(())
    }

    /// An `enode://id@host:port` peer, reached on its TCP port.
    pub fn enode(&mut self, flag: &str, enode: &str) -> Result<(), Failure> {
        let rest = enode.strip_prefix("enode://").and_then(|r| r.split_once('@')).map(|(_, a)| a);
        let addr = rest.map(|a| a.split(['?', '/']).next().unwrap_or(a));
        let url = addr.map(|a| format!("http://{a}"));
        match url {
            Some(url) => self.peer(flag, &url, Check::Tcp, false),
            None => Err(Failure::new(1, format!("bp-standin: {}: --{flag}: invalid enode {enode:?}", self.client))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Serving

/// The handler for a port: the contract's API, or the generic answer.
pub fn handler(api: Option<Api>, node: Arc<Node>) -> Handler {
    match api {
        None => http::generic_handler(),
        Some(api) => Arc::new(move |r: &Request| answer(api, &node, r)),
    }
}

fn answer(api: Api, node: &Node, r: &Request) -> Reply {
    match api {
        Api::ExecutionRpc => execution_rpc(node, r),
        Api::Engine => {
            if let Some(secret) = &node.jwt
                && let Err(reason) = jwt::verify(secret, r.authorization.as_deref(), jwt::now())
            {
                println!("bp-standin: {}: engine API: refused a request: {reason}", node.client);
                return ("401 Unauthorized", format!(r#"{{"error":"{reason}"}}"#));
            }
            execution_rpc(node, r)
        }
        Api::Beacon => beacon_api(node, r),
        Api::Healthmon => match (r.path.as_str(), node.ready.load(Ordering::SeqCst)) {
            ("/ready", true) => ("200 OK", "OK".into()),
            ("/ready", false) => ("503 Service Unavailable", "NOT READY".into()),
            _ => ("404 Not Found", "404 page not found".into()),
        },
        Api::Relay => match (r.path.as_str(), node.ready.load(Ordering::SeqCst)) {
            ("/eth/v1/builder/status", true) => ("200 OK", String::new()),
            // mev-boost with -relay-check: no relay answered yet.
            ("/eth/v1/builder/status", false) if node.client == "mev-boost" => {
                ("503 Service Unavailable", r#"{"code":503,"message":"all relays are unavailable"}"#.into())
            }
            ("/eth/v1/builder/status", false) => {
                ("503 Service Unavailable", r#"{"code":503,"message":"beacon node not reached yet"}"#.into())
            }
            _ => http::respond(&r.method, &r.body),
        },
        Api::EngineProxy => engine_proxy(node, r),
        Api::PassThrough => pass_through(node, r),
        Api::Metrics { path } => {
            let (status, _, body) = metrics_page(node, path, r);
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    }
}

/// The content type of Prometheus' text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An [`Api::Metrics`] listener's answer, with its content type: the stand-in's own series,
/// labelled with the client it stands in for.
pub fn metrics_page(node: &Node, path: Option<&str>, r: &Request) -> http::RawReply {
    if path.is_some_and(|p| p != r.path) || !matches!(r.method.as_str(), "GET" | "HEAD") {
        return ("404 Not Found", "text/plain; charset=utf-8", b"404 page not found\n".to_vec());
    }
    let scrapes = node.scrapes.fetch_add(1, Ordering::SeqCst) + 1;
    let client = node.client.replace('\\', "\\\\").replace('"', "\\\"");
    let ready = u8::from(node.ready.load(Ordering::SeqCst));
    let page = format!(
        "# HELP bp_standin_up 1 while the stand-in serves (a test stand-in's series, not the client's).\n\
         # TYPE bp_standin_up gauge\n\
         bp_standin_up{{client=\"{client}\"}} 1\n\
         # HELP bp_standin_ready 1 once every peer that gates the stand-in's readiness answered.\n\
         # TYPE bp_standin_ready gauge\n\
         bp_standin_ready{{client=\"{client}\"}} {ready}\n\
         # HELP bp_standin_scrapes_total Pages of metrics the stand-in served.\n\
         # TYPE bp_standin_scrapes_total counter\n\
         bp_standin_scrapes_total{{client=\"{client}\"}} {scrapes}\n"
    );
    ("200 OK", METRICS_CONTENT_TYPE, page.into_bytes())
}

/// cl-proxy's handler: POST only (405 `Method not allowed`), a JSON-RPC body (400 `Bad
/// request`), passed to the primary with the caller's headers and its answer returned as is
/// (500 `Internal server error` when the primary does not answer); then copied to the secondary.
fn pass_through(node: &Node, r: &Request) -> Reply {
    let Some(up) = &node.upstream else { return http::respond(&r.method, &r.body) };
    if r.method != "POST" {
        return ("405 Method Not Allowed", "Method not allowed\n".into());
    }
    let body = String::from_utf8_lossy(&r.body).into_owned();
    let Some(method) = json::parse(&body).and_then(|c| c.member("method").and_then(|m| m.string().map(str::to_string)))
    else {
        return ("400 Bad Request", "Bad request\n".into());
    };
    let auth = r.authorization.as_deref();
    let log = node.forwarded.fetch_add(1, Ordering::SeqCst) < LOGGED_FORWARDS;
    let answer = http::request(&up.url, "POST", &up.url.path, Some(&body), auth, REQUEST_TIMEOUT);
    if log {
        let outcome = answer.as_ref().map_or_else(|e| e.to_string(), |a| format!("HTTP {}", a.status));
        println!(
            "bp-standin: {}: {method}: passed to {} {} with the caller's JWT: {outcome}",
            node.client, up.flag, up.url
        );
    }
    if let Some(second) = node.secondary.clone().filter(|_| !method.starts_with("engine_getPayload")) {
        let (client, auth, body, method) = (node.client.clone(), auth.map(str::to_string), body, method);
        std::thread::spawn(move || {
            let answer =
                http::request(&second.url, "POST", &second.url.path, Some(&body), auth.as_deref(), REQUEST_TIMEOUT);
            if log {
                let outcome = answer.as_ref().map_or_else(|e| e.to_string(), |a| format!("HTTP {}", a.status));
                println!("bp-standin: {client}: {method}: multiplexed to {} {}: {outcome}", second.flag, second.url);
            }
        });
    }
    match answer {
        Ok(a) if a.status == 200 => ("200 OK", a.body),
        Ok(a) => (status_line(a.status), a.body),
        Err(_) => ("500 Internal Server Error", "Internal server error\n".into()),
    }
}

/// rollup-boost's server: probes answered, every call forwarded to the upstream engine with
/// the upstream's JWT. An engine method the upstream refuses is a JSON-RPC error for the
/// caller (rollup-boost's engine client fails); other methods get the upstream's answer as is.
fn engine_proxy(node: &Node, r: &Request) -> Reply {
    match r.path.as_str() {
        "/healthz" if node.partial.load(Ordering::SeqCst) => return ("206 Partial Content", String::new()),
        "/healthz" | "/readyz" | "/livez" => return ("200 OK", String::new()),
        _ => {}
    }
    let Some(up) = &node.upstream else { return http::respond(&r.method, &r.body) };
    if r.method != "POST" {
        return ("405 Method Not Allowed", String::new());
    }
    let body = String::from_utf8_lossy(&r.body).into_owned();
    let call = json::parse(&body);
    let method = call.as_ref().and_then(|c| c.member("method")).and_then(|m| m.string()).unwrap_or("?").to_string();
    let id = call.as_ref().and_then(|c| c.member("id")).map_or("null".to_string(), |v| v.raw.clone());
    let caller = match &node.jwt {
        Some(secret) => match jwt::verify(secret, r.authorization.as_deref(), jwt::now()) {
            Ok(()) => format!("from a caller whose JWT is {}'s secret", up.jwt_flag.split(' ').next().unwrap_or("")),
            Err(why) => format!("from a caller whose JWT is not {} ({why}; rollup-boost checks none)", up.jwt_flag),
        },
        None => "from a caller".to_string(),
    };
    let token = up.secret.map(|s| format!("Bearer {}", jwt::sign(&s, jwt::now())));
    let auth = token.as_deref().or(r.authorization.as_deref());
    let answer = http::request(&up.url, "POST", &up.url.path, Some(&body), auth, REQUEST_TIMEOUT);
    let outcome = match &answer {
        Ok(a) => format!("HTTP {}", a.status),
        Err(e) => e.to_string(),
    };
    if node.forwarded.fetch_add(1, Ordering::SeqCst) < LOGGED_FORWARDS {
        println!(
            "bp-standin: {}: engine API: {method} {caller}: forwarded to {} {} with {}: {outcome}",
            node.client, up.flag, up.url, up.jwt_flag
        );
    }
    let error = |message: String| {
        let message = message.replace('\\', "\\\\").replace('"', "\\\"");
        ("200 OK", format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32603,"message":"{message}"}}}}"#))
    };
    match answer {
        Ok(a) if a.status == 200 => ("200 OK", a.body),
        Ok(a) if method.starts_with("engine_") => {
            error(format!("{} {}: HTTP {}: {}", up.flag, up.url, a.status, a.body.trim()))
        }
        Ok(a) => (status_line(a.status), a.body),
        Err(e) if method.starts_with("engine_") => error(format!("{} {}: {e}", up.flag, up.url)),
        Err(e) => ("502 Bad Gateway", format!(r#"{{"error":"{}"}}"#, e.to_string().replace('"', "'"))),
    }
}

fn status_line(status: u16) -> &'static str {
    match status {
        400 => "400 Bad Request",
        401 => "401 Unauthorized",
        403 => "403 Forbidden",
        404 => "404 Not Found",
        405 => "405 Method Not Allowed",
        503 => "503 Service Unavailable",
        _ => "502 Bad Gateway",
    }
}

fn execution_rpc(node: &Node, r: &Request) -> Reply {
    if r.method != "POST" {
        return http::respond(&r.method, &r.body);
    }
    let chain_id = node.chain_id.unwrap_or(1);
    let result = |method: &str| -> String {
        match method {
            "eth_chainId" => format!("\"0x{chain_id:x}\""),
            "net_version" => format!("\"{chain_id}\""),
            "eth_syncing" => "false".into(),
            "web3_clientVersion" => format!("\"bp-standin/{}\"", node.client.replace(' ', "-")),
            "eth_getBlockByNumber" | "eth_getBlockByHash" => format!(
                r#"{{"number":"0x0","hash":"0x{:064x}","parentHash":"0x{:064x}","timestamp":"0x{:x}","gasLimit":"0x1c9c380","gasUsed":"0x0","baseFeePerGas":"0x3b9aca00","transactions":[]}}"#,
                chain_id, 0, node.genesis_time
            ),
            "engine_exchangeCapabilities" => {
                r#"["engine_newPayloadV4","engine_forkchoiceUpdatedV3","engine_getPayloadV4","engine_exchangeCapabilities"]"#.into()
            }
            "optimism_syncStatus" => r#"{"head_l1":{"number":0},"unsafe_l2":{"number":0}}"#.into(),
            _ => "\"0x0\"".into(),
        }
    };
    let text = String::from_utf8_lossy(&r.body);
    match http::json_rpc_reply(text.trim(), &result) {
        Some(reply) => ("200 OK", reply),
        None => ("200 OK", r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#.into()),
    }
}

fn beacon_api(node: &Node, r: &Request) -> Reply {
    let ready = node.ready.load(Ordering::SeqCst);
    match r.path.as_str() {
        // Lighthouse: 200 synced, 206 syncing.
        "/eth/v1/node/health" => (if ready { "200 OK" } else { "206 Partial Content" }, String::new()),
        "/eth/v1/node/syncing" => (
            "200 OK",
            format!(
                r#"{{"data":{{"head_slot":"0","sync_distance":"0","is_syncing":{},"is_optimistic":false,"el_offline":{}}}}}"#,
                !ready, !ready
            ),
        ),
        "/eth/v1/node/version" => ("200 OK", format!(r#"{{"data":{{"version":"bp-standin/{}"}}}}"#, node.client)),
        "/eth/v1/config/spec" => {
            let members: Vec<String> = node.spec.iter().map(|(k, v)| format!(r#""{k}":"{v}""#)).collect();
            ("200 OK", format!(r#"{{"data":{{{}}}}}"#, members.join(",")))
        }
        "/eth/v1/beacon/genesis" => (
            "200 OK",
            format!(
                r#"{{"data":{{"genesis_time":"{}","genesis_validators_root":"{}","genesis_fork_version":"{}"}}}}"#,
                node.genesis_time,
                node.genesis_validators_root
                    .as_deref()
                    .unwrap_or("0x0000000000000000000000000000000000000000000000000000000000000000"),
                node.spec_value("GENESIS_FORK_VERSION").unwrap_or("0x00000000")
            ),
        ),
        _ => http::respond(&r.method, &r.body),
    }
}

// ---------------------------------------------------------------------------------------------
// Peers

/// One try at a peer.
#[derive(Debug)]
pub enum Attempt {
    /// It answered as it should: a line saying what was seen.
    Ok(String),
    /// No answer yet (not listening, not ready): try again until the deadline.
    NotYet(String),
    /// It answered and refused us (a JWT, a different chain): fails after a few tries.
    Refused(String),
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

fn rpc_call(url: &Url, method: &str, params: &str, auth: Option<&str>) -> Result<http::Response, ClientError> {
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
    http::request(url, "POST", &url.path, Some(&body), auth, REQUEST_TIMEOUT)
}

/// The `result` of a JSON-RPC answer.
fn rpc_result(r: &http::Response) -> Result<json::Value, String> {
    let value = json::parse(&r.body).ok_or_else(|| format!("HTTP {}: the answer is not JSON-RPC", r.status))?;
    if let Some(e) = value.member("error") {
        return Err(format!("JSON-RPC error {}", e.raw));
    }
    value
        .member("result")
        .map(|v| json::parse(&v.raw).expect("a parsed value re-parses"))
        .ok_or_else(|| "no result".into())
}

/// A connection error as the client's HTTP stack words it.
fn unreachable(go: bool, url: &Url, e: &ClientError) -> String {
    match (go, e) {
        (true, ClientError::Connect(io)) => {
            let why = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
                _ => io.to_string(),
            };
            let host = if url.host == "localhost" { "127.0.0.1" } else { url.host.as_str() };
            format!("dial tcp {host}:{}: {why}", url.port)
        }
        (false, ClientError::Connect(io)) => format!("error trying to connect: tcp connect error: {io}"),
        (_, e) => e.to_string(),
    }
}

/// Tries a peer once.
pub fn attempt(peer: &Peer, go: bool) -> Attempt {
    let url = &peer.url;
    let not_yet = |e: ClientError| Attempt::NotYet(unreachable(go, url, &e));
    match &peer.check {
        Check::Tcp => match http::resolve(&url.host, url.port).and_then(|addrs| {
            addrs
                .first()
                .copied()
                .ok_or_else(|| ClientError::Resolve(format!("lookup {}: no address", url.host)))
                .and_then(|a| std::net::TcpStream::connect_timeout(&a, REQUEST_TIMEOUT).map_err(ClientError::Connect))
        }) {
            Ok(_) => Attempt::Ok(format!("TCP {}:{} accepts connections", url.host, url.port)),
            Err(e) => not_yet(e),
        },
        Check::ExecutionRpc { expect_chain } => match rpc_call(url, "eth_chainId", "[]", None) {
            Err(e) => not_yet(e),
            Ok(r) => chain_matches(&r, expect_chain.as_ref(), "JSON-RPC"),
        },
        Check::ExecutionHealth => {
            let syncing = match rpc_call(url, "eth_syncing", "[]", None) {
                Err(e) => return not_yet(e),
                Ok(r) => rpc_result(&r),
            };
            match syncing {
                Ok(v) if v.raw == "false" => {}
                Ok(v) => return Attempt::NotYet(format!("execution node is syncing: {}", v.raw)),
                Err(e) => return Attempt::NotYet(e),
            }
            match rpc_call(url, "eth_getBlockByNumber", r#"["latest",false]"#, None).map(|r| rpc_result(&r)) {
                Err(e) => not_yet(e),
                Ok(Ok(block)) => match block.member("number").and_then(json::Value::as_u64) {
                    Some(n) => Attempt::Ok(format!("not syncing, latest block {n}")),
                    None => Attempt::NotYet("latest block has no number".into()),
                },
                Ok(Err(e)) => Attempt::NotYet(e),
            }
        }
        Check::Engine { secret, jwt_flag, expect_chain } => {
            let token = format!("Bearer {}", jwt::sign(secret, jwt::now()));
            match rpc_call(url, "engine_exchangeCapabilities", "[[]]", Some(&token)) {
                Err(e) => not_yet(e),
                Ok(r) if r.status == 401 || r.status == 403 => Attempt::Refused(format!(
                    "JWT mismatch: the execution engine refused our token (HTTP {}: {}): {jwt_flag} is not the secret the execution client was given",
                    r.status,
                    r.body.trim()
                )),
                Ok(r) if r.status != 200 => Attempt::NotYet(format!("HTTP {}", r.status)),
                Ok(r) => match rpc_result(&r) {
                    Err(e) => Attempt::Refused(e),
                    Ok(_) => match rpc_call(url, "eth_chainId", "[]", Some(&token)) {
                        Err(e) => not_yet(e),
                        Ok(r) => match chain_matches(&r, expect_chain.as_ref(), "engine API") {
                            Attempt::Ok(line) => Attempt::Ok(format!("{line}, accepted our JWT")),
                            other => other,
                        },
                    },
                },
            }
        }
        Check::Beacon { synced, same_spec, genesis } => {
            let r = match http::request(url, "GET", &join(url, "/eth/v1/node/syncing"), None, None, REQUEST_TIMEOUT) {
                Err(e) => return not_yet(e),
                Ok(r) => r,
            };
            if r.status != 200 {
                return Attempt::NotYet(format!("/eth/v1/node/syncing: HTTP {}", r.status));
            }
            let syncing = json::parse(&r.body).and_then(|v| v.at(&["data", "is_syncing"]).map(|s| s.raw == "true"));
            if *synced && syncing != Some(false) {
                return Attempt::NotYet("beacon node is syncing".into());
            }
            let mut seen = vec![format!("syncing: {}", syncing.unwrap_or(true))];
            if !same_spec.is_empty() {
                let spec =
                    match http::request(url, "GET", &join(url, "/eth/v1/config/spec"), None, None, REQUEST_TIMEOUT) {
                        Err(e) => return not_yet(e),
                        Ok(r) if r.status != 200 => {
                            return Attempt::NotYet(format!("/eth/v1/config/spec: HTTP {}", r.status));
                        }
                        Ok(r) => r,
                    };
                let spec = json::parse(&spec.body);
                for (key, want) in same_spec {
                    let got =
                        spec.as_ref().and_then(|s| s.at(&["data", key])).and_then(|v| v.string().map(str::to_string));
                    if got.as_deref() != Some(want.as_str()) {
                        return Attempt::Refused(format!(
                            "the beacon node's config differs: {key} is {}, ours is {want}",
                            got.as_deref().unwrap_or("missing")
                        ));
                    }
                }
                seen.push(format!(
                    "same spec ({})",
                    same_spec.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            if *genesis {
                match http::request(url, "GET", &join(url, "/eth/v1/beacon/genesis"), None, None, REQUEST_TIMEOUT) {
                    Err(e) => return not_yet(e),
                    Ok(r) if r.status != 200 => {
                        return Attempt::NotYet(format!("/eth/v1/beacon/genesis: HTTP {}", r.status));
                    }
                    Ok(r) => {
                        let fork = json::parse(&r.body).and_then(|v| {
                            v.at(&["data", "genesis_fork_version"]).and_then(|f| f.string().map(str::to_string))
                        });
                        seen.push(format!("genesis fork version {}", fork.as_deref().unwrap_or("?")));
                    }
                }
            }
            Attempt::Ok(format!("beacon API answered ({})", seen.join(", ")))
        }
        Check::Builder => {
            match http::request(url, "GET", &join(url, "/eth/v1/builder/status"), None, None, REQUEST_TIMEOUT) {
                Err(e) => not_yet(e),
                Ok(r) if r.status == 200 => Attempt::Ok("builder API status 200".into()),
                Ok(r) => Attempt::NotYet(format!("/eth/v1/builder/status: HTTP {}", r.status)),
            }
        }
        Check::Rollup => match rpc_call(url, "optimism_syncStatus", "[]", None) {
            Err(e) => not_yet(e),
            Ok(r) => match rpc_result(&r) {
                Ok(_) => Attempt::Ok("rollup RPC answered optimism_syncStatus".into()),
                Err(e) => Attempt::NotYet(e),
            },
        },
    }
}

/// A beacon API path under the URL's own path (`http://host:3500/` + `/eth/v1/…`).
fn join(url: &Url, path: &str) -> String {
    format!("{}{path}", url.path.trim_end_matches('/'))
}

fn chain_matches(r: &http::Response, expect: Option<&(u64, String)>, what: &str) -> Attempt {
    if r.status != 200 {
        return Attempt::NotYet(format!("HTTP {}", r.status));
    }
    let chain = match rpc_result(r) {
        Ok(v) => v.as_u64(),
        Err(e) => return Attempt::NotYet(e),
    };
    match (chain, expect) {
        (Some(got), Some((want, source))) if got != *want => {
            Attempt::Refused(format!("incorrect chain id: the peer's is {got}, {source} says {want}"))
        }
        (Some(got), _) => Attempt::Ok(format!("{what} answered, chain {got}")),
        (None, _) => Attempt::NotYet("eth_chainId gave no number".into()),
    }
}

/// Tries a peer until it answers, refuses us [`DEFINITIVE_TRIES`] times, or `timeout` passes.
pub fn reach(peer: &Peer, go: bool, timeout: Duration, pause: Duration) -> Result<String, String> {
    retry(timeout, pause, || attempt(peer, go)).map_err(|e| format!("{} {}: {e}", peer.flag, peer.url))
}

/// Runs `try_once` until it answers ([`Attempt::Ok`]), refuses [`DEFINITIVE_TRIES`] times (the
/// refusal), or `timeout` passes (`no answer in N s: <last reason>`).
pub fn retry(timeout: Duration, pause: Duration, mut try_once: impl FnMut() -> Attempt) -> Result<String, String> {
    let start = Instant::now();
    let mut refused = 0;
    loop {
        match try_once() {
            Attempt::Ok(line) => return Ok(line),
            Attempt::Refused(why) => {
                refused += 1;
                if refused >= DEFINITIVE_TRIES {
                    return Err(why);
                }
            }
            Attempt::NotYet(why) => {
                if start.elapsed() >= timeout {
                    return Err(format!("no answer in {} s: {why}", timeout.as_secs()));
                }
            }
        }
        std::thread::sleep(pause);
    }
}

/// Which peers answered, and what to run once all did.
struct Progress {
    answered: Vec<String>,
    done: Option<Box<dyn FnOnce(Vec<String>) + Send>>,
}

pub fn peer_timeout() -> Duration {
    std::env::var(PEER_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(PEER_TIMEOUT, Duration::from_secs)
}

/// Reaches every peer, each on its own thread: prints a line per peer that answered, marks the
/// node ready once the gating ones did, and exits the process with the client's error when one
/// never does. The other peers are tried once the node is ready (they may wait for it, as a
/// relay started after the beacon node's health check does). `done` runs once every peer
/// answered. An optional peer ([`Peer::optional`]) is tried as well, and not reaching it is a
/// line and [`Node::partial`], not an exit; `done` does not wait for it.
pub fn start_peers(plan_peers: Vec<Peer>, go: bool, node: Arc<Node>, done: impl FnOnce(Vec<String>) + Send + 'static) {
    start_peers_within(peer_timeout(), plan_peers, go, node, done)
}

/// [`start_peers`] with the time each peer is given.
fn start_peers_within(
    timeout: Duration,
    plan_peers: Vec<Peer>,
    go: bool,
    node: Arc<Node>,
    done: impl FnOnce(Vec<String>) + Send + 'static,
) {
    let gating = plan_peers.iter().filter(|p| p.gates_ready).count();
    if gating == 0 {
        node.ready.store(true, Ordering::SeqCst);
    }
    let total = plan_peers.iter().filter(|p| p.optional.is_none()).count();
    let gated = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(Mutex::new(Progress { answered: Vec::new(), done: Some(Box::new(done)) }));
    if total == 0 {
        let done = finished.lock().unwrap().done.take();
        if let Some(done) = done {
            done(Vec::new());
        }
    }
    for peer in plan_peers {
        let (node, gated, finished) = (node.clone(), gated.clone(), finished.clone());
        std::thread::spawn(move || {
            // What waits for our readiness (a relay started after our health check passed)
            // cannot answer before it: its clock starts when we are ready.
            while !peer.gates_ready && !node.ready.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
            }
            let outcome = reach(&peer, go, timeout, Duration::from_millis(500));
            if let Some(without) = &peer.optional {
                match outcome {
                    Ok(line) => println!("bp-standin: {}: peer {} {}: {line}", node.client, peer.flag, peer.url),
                    Err(message) => {
                        node.partial.store(true, Ordering::SeqCst);
                        println!("bp-standin: {}: optional peer not reached: {message}; {without}", node.client);
                    }
                }
                return;
            }
            match outcome {
                Ok(line) => {
                    println!("bp-standin: {}: peer {} {}: {line}", node.client, peer.flag, peer.url);
                    if peer.gates_ready && gated.fetch_add(1, Ordering::SeqCst) + 1 == gating {
                        node.ready.store(true, Ordering::SeqCst);
                    }
                    let mut state = finished.lock().unwrap();
                    state.answered.push(format!("{} {}", peer.flag, peer.url));
                    if state.answered.len() == total
                        && let Some(done) = state.done.take()
                    {
                        let lines = state.answered.clone();
                        drop(state);
                        done(lines);
                    }
                }
                Err(message) => {
                    eprintln!("bp-standin: {}: {message}", node.client);
                    std::process::exit(1);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve(api: Api, node: Node) -> (Url, Arc<Node>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let node = Arc::new(node);
        let h = handler(Some(api), node.clone());
        std::thread::spawn(move || http::serve(listener, h));
        (http::parse_url(&format!("http://127.0.0.1:{port}")).unwrap(), node)
    }

    fn peer(url: &Url, check: Check) -> Peer {
        Peer { flag: "--peer".into(), url: url.clone(), check, gates_ready: true, optional: None }
    }

    fn el(secret: Secret) -> Node {
        Node { chain_id: Some(1337), jwt: Some(secret), ..Node::new("reth node") }
    }

    #[test]
    fn metrics_are_prometheus_text_on_their_path_only() {
        let node = Node::new("geth");
        let get =
            |path: &str| Request { method: "GET".into(), path: path.into(), authorization: None, body: Vec::new() };
        let geth = Some("/debug/metrics/prometheus");
        let (status, content_type, body) = metrics_page(&node, geth, &get("/debug/metrics/prometheus"));
        assert_eq!((status, content_type), ("200 OK", METRICS_CONTENT_TYPE));
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("# TYPE bp_standin_up gauge\nbp_standin_up{client=\"geth\"} 1\n"), "{text}");
        assert!(text.contains("bp_standin_ready{client=\"geth\"} 0\n"), "{text}");
        assert!(text.ends_with("bp_standin_scrapes_total{client=\"geth\"} 1\n"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(series.starts_with("bp_standin_") && value.parse::<f64>().is_ok(), "{line}");
        }
        // geth's expvar page and any other path are not Prometheus': 404.
        for path in ["/metrics", "/debug/metrics", "/"] {
            assert_eq!(metrics_page(&node, geth, &get(path)).0, "404 Not Found", "{path}");
        }
        // reth's and op-service's servers answer on every path; the counter counts pages.
        node.ready.store(true, Ordering::SeqCst);
        let (status, _, body) = metrics_page(&node, None, &get("/anything"));
        let text = String::from_utf8(body).unwrap();
        assert_eq!(status, "200 OK");
        assert!(
            text.contains("bp_standin_ready{client=\"geth\"} 1\n")
                && text.contains("scrapes_total{client=\"geth\"} 2\n")
        );
        let post = Request { method: "POST".into(), ..get("/metrics") };
        assert_eq!(metrics_page(&node, None, &post).0, "404 Not Found");
    }

    #[test]
    fn the_engine_api_takes_only_our_jwt() {
        let secret = [7u8; 32];
        let (url, _) = serve(Api::Engine, el(secret));
        let expect = Some((1337, "--chain".to_string()));
        let good =
            peer(&url, Check::Engine { secret, jwt_flag: "--execution-jwt /j".into(), expect_chain: expect.clone() });
        match attempt(&good, false) {
            Attempt::Ok(line) => assert_eq!(line, "engine API answered, chain 1337, accepted our JWT"),
            other => panic!("{other:?}"),
        }
        let bad = peer(
            &url,
            Check::Engine { secret: [8u8; 32], jwt_flag: "--execution-jwt /other".into(), expect_chain: None },
        );
        match attempt(&bad, false) {
            Attempt::Refused(why) => {
                assert!(why.starts_with("JWT mismatch: the execution engine refused our token (HTTP 401"), "{why}");
                assert!(
                    why.contains("signature invalid")
                        && why.ends_with("--execution-jwt /other is not the secret the execution client was given"),
                    "{why}"
                );
            }
            other => panic!("{other:?}"),
        }
        let err = reach(&bad, false, Duration::from_secs(30), Duration::from_millis(10)).unwrap_err();
        assert!(err.starts_with(&format!("--peer {url}: JWT mismatch")), "{err}");
        let wrong_chain =
            peer(&url, Check::Engine { secret, jwt_flag: "x".into(), expect_chain: Some((13, "rollup.json".into())) });
        assert!(
            matches!(attempt(&wrong_chain, true), Attempt::Refused(w) if w == "incorrect chain id: the peer's is 1337, rollup.json says 13")
        );
    }

    #[test]
    fn an_absent_peer_fails_in_the_clients_words_after_the_timeout() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = http::parse_url(&format!("http://localhost:{port}")).unwrap();
        let p = peer(&url, Check::ExecutionRpc { expect_chain: None });
        let err = reach(&p, true, Duration::from_millis(50), Duration::from_millis(10)).unwrap_err();
        assert_eq!(
            err,
            format!("--peer {url}: no answer in 0 s: dial tcp 127.0.0.1:{port}: connect: connection refused")
        );
        let err = reach(&p, false, Duration::ZERO, Duration::ZERO).unwrap_err();
        assert!(
            err.ends_with("error trying to connect: tcp connect error: Connection refused (os error 111)"),
            "{err}"
        );
    }

    #[test]
    fn healthmon_and_the_beacon_api_are_ready_only_after_their_peers() {
        let (el_url, _) = serve(Api::ExecutionRpc, el([0; 32]));
        assert!(
            matches!(attempt(&peer(&el_url, Check::ExecutionHealth), true), Attempt::Ok(l) if l == "not syncing, latest block 0")
        );
        let spec = vec![
            ("GENESIS_FORK_VERSION".to_string(), "0x20000089".to_string()),
            ("PRESET_BASE".into(), "mainnet".into()),
        ];
        let (bn_url, bn) =
            serve(Api::Beacon, Node { spec: spec.clone(), genesis_time: 5, ..Node::new("lighthouse bn") });
        let synced = peer(&bn_url, Check::Beacon { synced: true, same_spec: vec![], genesis: false });
        assert!(matches!(attempt(&synced, false), Attempt::NotYet(w) if w == "beacon node is syncing"));
        let vc = peer(&bn_url, Check::Beacon { synced: false, same_spec: spec.clone(), genesis: true });
        assert!(
            matches!(attempt(&vc, false), Attempt::Ok(l) if l.contains("same spec (GENESIS_FORK_VERSION, PRESET_BASE)") && l.contains("genesis fork version 0x20000089"))
        );
        let other = vec![("GENESIS_FORK_VERSION".to_string(), "0x10000000".to_string())];
        let mismatch = peer(&bn_url, Check::Beacon { synced: false, same_spec: other, genesis: false });
        assert!(
            matches!(attempt(&mismatch, false), Attempt::Refused(w) if w.contains("GENESIS_FORK_VERSION is 0x20000089, ours is 0x10000000"))
        );
        bn.ready.store(true, Ordering::SeqCst);
        assert!(matches!(attempt(&synced, false), Attempt::Ok(_)));

        let (hm_url, hm) = serve(Api::Healthmon, Node::new("healthmon"));
        let get = |path: &str| http::request(&hm_url, "GET", path, None, None, REQUEST_TIMEOUT).unwrap().status;
        assert_eq!(get("/ready"), 503);
        hm.ready.store(true, Ordering::SeqCst);
        assert_eq!(get("/ready"), 200);
        assert_eq!(get("/other"), 404);
        let (relay_url, relay) = serve(Api::Relay, Node::new("mev-boost-relay"));
        assert!(matches!(attempt(&peer(&relay_url, Check::Builder), false), Attempt::NotYet(_)));
        relay.ready.store(true, Ordering::SeqCst);
        assert!(matches!(attempt(&peer(&relay_url, Check::Builder), false), Attempt::Ok(_)));
    }

    #[test]
    fn start_peers_marks_ready_and_reports_completion() {
        let (url, _) = serve(Api::ExecutionRpc, el([0; 32]));
        let node = Arc::new(Node::new("healthmon"));
        let (tx, rx) = std::sync::mpsc::channel();
        start_peers(vec![peer(&url, Check::ExecutionHealth)], true, node.clone(), move |lines| tx.send(lines).unwrap());
        let lines = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(lines, [format!("--peer {url}")]);
        assert!(node.ready.load(Ordering::SeqCst));
        let lone = Arc::new(Node::new("reth node"));
        let (tx, rx) = std::sync::mpsc::channel();
        start_peers(vec![], false, lone.clone(), move |lines| tx.send(lines).unwrap());
        assert!(rx.recv_timeout(Duration::from_secs(1)).unwrap().is_empty());
        assert!(lone.ready.load(Ordering::SeqCst), "nothing to wait for");
    }

    #[test]
    fn an_engine_proxy_forwards_with_its_own_jwt_and_checks_none() {
        let secret = [7u8; 32];
        let (el_url, _) = serve(Api::Engine, el(secret));
        let proxy = |upstream_secret: Secret| {
            let upstream = Upstream {
                flag: "--l2-url".into(),
                jwt_flag: "--l2-jwt-path /j".into(),
                url: el_url.clone(),
                secret: Some(upstream_secret),
            };
            serve(
                Api::EngineProxy,
                Node { jwt: Some(upstream_secret), upstream: Some(upstream), ..Node::new("rollup-boost") },
            )
        };
        let (good, node) = proxy(secret);
        // A caller with another secret gets through all the same: rollup-boost checks no JWT.
        let caller = |url: &Url| {
            peer(url, Check::Engine { secret: [9u8; 32], jwt_flag: "--l2.jwt-secret /k".into(), expect_chain: None })
        };
        assert!(
            matches!(attempt(&caller(&good), true), Attempt::Ok(l) if l == "engine API answered, chain 1337, accepted our JWT")
        );
        assert_eq!(node.forwarded.load(Ordering::SeqCst), 2, "engine_exchangeCapabilities and eth_chainId");
        let get = |url: &Url, path: &str| http::request(url, "GET", path, None, None, REQUEST_TIMEOUT).unwrap().status;
        assert_eq!(get(&good, "/healthz"), 200);
        node.partial.store(true, Ordering::SeqCst);
        assert_eq!((get(&good, "/healthz"), get(&good, "/readyz"), get(&good, "/livez")), (206, 200, 200));

        // Its own secret is not the engine's: the engine refuses it, the caller gets an error.
        let (bad, _) = proxy([8u8; 32]);
        match attempt(&caller(&bad), true) {
            Attempt::Refused(why) => assert!(
                why.starts_with(&format!("JSON-RPC error {{\"code\":-32603,\"message\":\"--l2-url {el_url}: HTTP 401: {{\\\"error\\\":\\\"signature invalid\\\"}}\"")),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        let r = http::request(
            &bad,
            "POST",
            "/",
            Some(r#"{"jsonrpc":"2.0","id":4,"method":"eth_chainId","params":[]}"#),
            None,
            REQUEST_TIMEOUT,
        )
        .unwrap();
        assert_eq!(r.status, 401, "other methods get the engine's answer as is: {}", r.body);
    }

    #[test]
    fn a_pass_through_proxy_leaves_the_jwt_to_the_engine() {
        let secret = [7u8; 32];
        let (el_url, _) = serve(Api::Engine, el(secret));
        let (second_url, _) = serve(Api::ExecutionRpc, el([0; 32]));
        let upstream = |flag: &str, url: &Url| Upstream {
            flag: flag.into(),
            jwt_flag: "the caller's JWT".into(),
            url: url.clone(),
            secret: None,
        };
        let (proxy, node) = serve(
            Api::PassThrough,
            Node {
                upstream: Some(upstream("--primary-builder", &el_url)),
                secondary: Some(upstream("--secondary-builder", &second_url)),
                ..Node::new("cl-proxy")
            },
        );
        let caller = |secret: Secret| {
            peer(&proxy, Check::Engine { secret, jwt_flag: "--execution-jwt /j".into(), expect_chain: None })
        };
        assert!(matches!(attempt(&caller(secret), false), Attempt::Ok(l) if l.ends_with("accepted our JWT")));
        match attempt(&caller([8u8; 32]), false) {
            Attempt::Refused(why) => {
                assert!(why.starts_with("JWT mismatch: the execution engine refused our token (HTTP 401"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert!(node.forwarded.load(Ordering::SeqCst) >= 3);
        let get = http::request(&proxy, "GET", "/", None, None, REQUEST_TIMEOUT).unwrap();
        assert_eq!((get.status, get.body.as_str()), (405, "Method not allowed\n"));
        let bad = http::request(&proxy, "POST", "/", Some("nope"), None, REQUEST_TIMEOUT).unwrap();
        assert_eq!(bad.status, 400);
    }

    #[test]
    fn an_optional_peer_is_a_line_not_a_failure() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let absent = http::parse_url(&format!("http://localhost:{port}")).unwrap();
        let (url, _) = serve(Api::ExecutionRpc, el([0; 32]));
        let mut optional = peer(&absent, Check::ExecutionRpc { expect_chain: None });
        optional.optional = Some("runs without it".into());
        optional.gates_ready = false;
        let mut required = peer(&url, Check::ExecutionRpc { expect_chain: None });
        required.gates_ready = false;
        let node = Arc::new(Node::new("rollup-boost"));
        let (tx, rx) = std::sync::mpsc::channel();
        start_peers_within(Duration::ZERO, vec![optional, required], false, node.clone(), move |lines| {
            tx.send(lines).unwrap()
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), [format!("--peer {url}")]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !node.partial.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the unreached optional peer marks the node partial");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn enode_peers_are_their_tcp_port() {
        let parsed = Parsed::default();
        let mut plan = Plan::new("reth node", "reth", &parsed, Files::new("reth node", false), false);
        plan.enode("bootnodes", "enode://79be@127.0.0.1:30303?discport=30301").unwrap();
        assert_eq!(plan.peers[0].url.to_string(), "http://127.0.0.1:30303/");
        assert!(plan.enode("bootnodes", "127.0.0.1:30303").is_err());
    }
}
