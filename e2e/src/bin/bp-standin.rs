//! bp-standin: a **stand-in, not a client**. It runs in test images in place of the Ethereum
//! clients (reth, lighthouse, op-node, …) whose real images cannot be had offline, so that a
//! devnet Pod runs on a real node with its real command lines.
//!
//! - Invoked as `pause` (argv[0]'s basename, or `bp-standin pause`) it is the sandbox's pause
//!   process: it waits for SIGTERM or SIGINT (exit 0) and reaps children.
//! - Otherwise it stands in for the program named by argv[0]'s basename (or, run as
//!   `bp-standin <client> …`, by its first argument when that is a known client). It prints
//!   `bp-standin: stand-in for <program>: <args>`, then:
//!   - with a first argument `init`, `version` or `--version` it exits 0 (op-geth's script runs
//!     `geth init …` before `exec geth …`);
//!   - with `BP_STANDIN_EXIT=<code>` in its environment it exits with that code after a second
//!     (a test hook for crashing containers);
//!   - otherwise it listens on TCP 0.0.0.0 on every port its command line names (see
//!     [`listen_ports`]) and answers HTTP on each: JSON-RPC calls get `"result":"0x0"`
//!     (`eth_syncing`: `false`), other requests a 200 with a small JSON body. A port already
//!     in use is fatal, as for a Go client. It runs until SIGTERM or SIGINT, then exits 0.
//!
//! It uses only std and nix (signals), not the bp_e2e library, so it stays small.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::process::exit;
use std::time::Duration;

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

#[path = "../images/clients.rs"]
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

fn stand_in(signals: &SigSet, program: &str, args: &[String]) {
    println!("bp-standin: stand-in for {program}: {}", args.join(" "));
    if let Some(first @ ("init" | "version" | "--version")) = args.first().map(String::as_str) {
        println!("bp-standin: {program} {first}: nothing to do for a stand-in");
        exit(0);
    }
    if let Some(code) = std::env::var(EXIT_ENV).ok().and_then(|c| c.trim().parse::<i32>().ok()) {
        eprintln!("bp-standin: {program}: exiting with {code} in 1 s as {EXIT_ENV} asks");
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            exit(code);
        });
        wait_for_termination(signals, program);
    }
    let ports = listen_ports(program, args);
    let mut listeners = Vec::with_capacity(ports.len());
    for port in &ports {
        match TcpListener::bind(("0.0.0.0", *port)) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                let reason = if e.kind() == io::ErrorKind::AddrInUse {
                    "address already in use".to_string()
                } else {
                    e.to_string()
                };
                eprintln!("bp-standin: {program}: listen tcp 0.0.0.0:{port}: bind: {reason}");
                exit(1);
            }
        }
    }
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    println!("bp-standin: {program}: listening on tcp ports [{}]", list.join(" "));
    for listener in listeners {
        std::thread::spawn(move || serve(listener));
    }
    wait_for_termination(signals, program);
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

// ---------------------------------------------------------------------------------------------
// Ports

/// A listener a client opens without naming it on its command line, and the flag that moves
/// it (the hidden listeners of the generator's `ports.rs`, plus the op-stack RPC/metrics
/// defaults of the same services).
struct DefaultListener {
    program: &'static str,
    /// Flag (without dashes) that moves the listener; when it is given, the flag's value counts.
    flag: &'static str,
    port: u16,
    /// A flag (without dashes) that must be present (and not `=false`) for the listener to exist.
    enabled_by: Option<&'static str>,
}

const DEFAULT_LISTENERS: &[DefaultListener] = &[
    DefaultListener { program: "healthmon", flag: "service.addr", port: 21171, enabled_by: None },
    DefaultListener { program: "op-batcher", flag: "rpc.port", port: 8545, enabled_by: None },
    DefaultListener { program: "op-batcher", flag: "metrics.port", port: 7300, enabled_by: Some("metrics.enabled") },
    DefaultListener { program: "op-batcher", flag: "pprof.port", port: 6060, enabled_by: Some("pprof.enabled") },
    DefaultListener { program: "op-node", flag: "rpc.port", port: 9545, enabled_by: None },
    DefaultListener { program: "op-node", flag: "metrics.port", port: 7300, enabled_by: Some("metrics.enabled") },
    DefaultListener { program: "op-node", flag: "pprof.port", port: 6060, enabled_by: Some("pprof.enabled") },
    DefaultListener { program: "rollup-boost", flag: "debug-server-port", port: 5555, enabled_by: None },
];

/// Flag-name words that mark an address the client advertises, dials or listens on over UDP,
/// never a TCP listener of its own.
const NOT_A_LISTENER: &[&str] = &["udp", "enr", "advertise", "external", "nat"];
/// Words of `…addr`/`…listen` flags that name a peer to dial, not a local address.
const PEER_WORDS: &[&str] = &["client", "target", "upstream", "remote", "peer", "endpoint", "url", "backend"];

/// The TCP ports a client with this command line listens on, sorted:
/// - the value of any flag whose name contains `port`, or ends in `tcp` (`--http.port 8545`,
///   `--rpc.port=8550`, `--p2p.listen.tcp 9003`);
/// - the port of a `host:port` or `:port` value (no scheme) of a flag whose name contains
///   `addr`, `listen` or `bind`, when the host is an IP address, `localhost` or empty
///   (`--service.addr 127.0.0.1:21171`, `--listen :8100`), and of any flag whose value binds the
///   wildcard address (`--metrics 0.0.0.0:9090`);
/// - the defaults of [`DEFAULT_LISTENERS`] for this program when their flag is absent.
///
/// Flags about UDP, ENR or advertised addresses, and peers (URLs, `--beacon-client-addr`,
/// `--execution-endpoint http://localhost:8551`) are not listeners.
fn listen_ports(program: &str, args: &[String]) -> Vec<u16> {
    let flags = flags(args);
    let mut ports = BTreeSet::new();
    for (name, value) in &flags {
        if let Some(port) = value.as_deref().and_then(|v| listener_port(name, v)) {
            ports.insert(port);
        }
    }
    let given = |flag: &str| flags.iter().find(|(n, _)| n == flag);
    for d in DEFAULT_LISTENERS.iter().filter(|d| d.program == program) {
        let enabled = d.enabled_by.is_none_or(|f| given(f).is_some_and(|(_, v)| v.as_deref() != Some("false")));
        if enabled && given(d.flag).is_none() {
            ports.insert(d.port);
        }
    }
    ports.into_iter().collect()
}

/// `(name, value)` of every `-x`/`--x` argument, without dashes: the value is what follows `=`,
/// else the next argument unless that is a flag itself.
fn flags(args: &[String]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let Some(flag) = arg.strip_prefix('-') else { continue };
        let flag = flag.trim_start_matches('-');
        if flag.is_empty() {
            continue;
        }
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, args.get(i + 1).filter(|next| !next.starts_with('-')).cloned()),
        };
        out.push((name.to_ascii_lowercase(), value));
    }
    out
}

fn listener_port(name: &str, value: &str) -> Option<u16> {
    if NOT_A_LISTENER.iter().any(|w| name.contains(w)) {
        return None;
    }
    let last_word = name.rsplit(['.', '-', '_']).next().unwrap_or(name);
    if name.contains("port") || last_word == "tcp" {
        return value.parse::<u16>().ok().filter(|&p| p != 0).or_else(|| host_port(value).map(|(_, p)| p));
    }
    let (host, port) = host_port(value)?;
    let wildcard = matches!(host, "" | "0.0.0.0" | "::");
    let local = wildcard || host == "localhost" || host.parse::<IpAddr>().is_ok();
    let addr_flag = ["addr", "listen", "bind"].iter().any(|w| name.contains(w));
    let peer_flag = PEER_WORDS.iter().any(|w| name.contains(w));
    (wildcard || (addr_flag && !peer_flag && local)).then_some(port)
}

/// `host:port`, `:port` or `[v6]:port` without a scheme, user or path.
fn host_port(value: &str) -> Option<(&str, u16)> {
    if value.contains("://") || value.contains(['@', '/', ',']) {
        return None;
    }
    let (host, port) = value.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|&p| p != 0)?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6,
        None if host.contains(':') => return None,
        None => host,
    };
    Some((host, port))
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn serve(listener: TcpListener) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                std::thread::spawn(move || {
                    let _ = handle(stream);
                });
            }
            Err(e) => {
                eprintln!("bp-standin: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Answers HTTP/1.x requests on one connection (keep-alive unless asked to close); anything
/// that is not HTTP is read and dropped until the peer closes or goes quiet.
fn handle(mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if (!buf.is_empty() && !buf[0].is_ascii_uppercase()) || buf.len() > 64 * 1024 {
                return drain(&mut stream);
            }
            if !read_more(&mut stream, &mut buf)? {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default().to_string();
        let version = parts.nth(1).unwrap_or_default();
        let mut content_length = 0usize;
        let mut close = version == "HTTP/1.0";
        let mut chunked = false;
        for line in lines {
            let Some((key, value)) = line.split_once(':') else { continue };
            let value = value.trim().to_ascii_lowercase();
            match key.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.parse().unwrap_or(0),
                "connection" => close = value.contains("close") || (close && !value.contains("keep-alive")),
                "transfer-encoding" => chunked = value.contains("chunked"),
                _ => {}
            }
        }
        buf.drain(..head_end);
        let body = if chunked {
            read_chunked(&mut stream, &mut buf)?
        } else {
            while buf.len() < content_length {
                if !read_more(&mut stream, &mut buf)? {
                    return Ok(());
                }
            }
            buf.drain(..content_length).collect()
        };
        let (status, payload) = respond(&method, &body);
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
            payload.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        stream.write_all(response.as_bytes())?;
        if method != "HEAD" {
            stream.write_all(payload.as_bytes())?;
        }
        if close {
            return Ok(());
        }
    }
}

fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk) {
        Ok(0) => Ok(false),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(true)
        }
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(false),
        Err(e) => Err(e),
    }
}

fn drain(stream: &mut TcpStream) -> io::Result<()> {
    let mut sink = [0u8; 8192];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}

/// Reads a chunked body; `buf` holds what was read past the head and keeps what follows.
fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(buf, b"\r\n") {
                break i;
            }
            if !read_more(stream, buf)? {
                return Ok(body);
            }
        };
        let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        buf.drain(..line_end + 2);
        while buf.len() < size + 2 {
            if !read_more(stream, buf)? {
                return Ok(body);
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
        if size == 0 {
            return Ok(body);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Status line and body for a request: JSON-RPC for a POST with a JSON body (batches too),
/// else a small JSON document, as a beacon node's `/eth/v1/node/syncing` would give.
fn respond(method: &str, body: &[u8]) -> (&'static str, String) {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if method == "POST" && !text.is_empty() {
        return match json_rpc_reply(text) {
            Some(reply) => ("200 OK", reply),
            None => ("200 OK", r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#.into()),
        };
    }
    (
        "200 OK",
        r#"{"data":{"is_syncing":false,"is_optimistic":false,"el_offline":false,"head_slot":"0","sync_distance":"0"}}"#
            .into(),
    )
}

/// The reply to a JSON-RPC request or batch, echoing each `id` as it was written.
fn json_rpc_reply(text: &str) -> Option<String> {
    let value = json::parse(text)?;
    let reply = |call: &json::Value| -> String {
        let id = call.member("id").map(|v| v.raw.as_str()).unwrap_or("null");
        let method = call.member("method").and_then(|m| m.string()).unwrap_or_default();
        let result = if method == "eth_syncing" { "false" } else { "\"0x0\"" };
        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
    };
    match &value.kind {
        json::Kind::Object(_) => Some(reply(&value)),
        json::Kind::Array(calls) => Some(format!("[{}]", calls.iter().map(reply).collect::<Vec<_>>().join(","))),
        _ => None,
    }
}

/// Just enough JSON to read JSON-RPC requests without a dependency: values keep their raw text.
mod json {
    #[derive(Debug)]
    pub struct Value {
        pub raw: String,
        pub kind: Kind,
    }

    #[derive(Debug)]
    pub enum Kind {
        Object(Vec<(String, Value)>),
        Array(Vec<Value>),
        String(String),
        Other,
    }

    impl Value {
        pub fn member(&self, key: &str) -> Option<&Value> {
            match &self.kind {
                Kind::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        pub fn string(&self) -> Option<&str> {
            match &self.kind {
                Kind::String(s) => Some(s),
                _ => None,
            }
        }
    }

    /// Parses one JSON document (nothing but whitespace may follow).
    pub fn parse(text: &str) -> Option<Value> {
        let bytes = text.as_bytes();
        let (value, end) = value(text, bytes, skip_ws(bytes, 0))?;
        (skip_ws(bytes, end) == bytes.len()).then_some(value)
    }

    fn skip_ws(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    }

    fn value(text: &str, b: &[u8], start: usize) -> Option<(Value, usize)> {
        let (kind, end) = match *b.get(start)? {
            b'{' => {
                let mut members = Vec::new();
                let mut i = skip_ws(b, start + 1);
                if b.get(i) == Some(&b'}') {
                    i += 1;
                } else {
                    loop {
                        let (key, after_key) = string(b, i)?;
                        i = skip_ws(b, after_key);
                        (b.get(i) == Some(&b':')).then_some(())?;
                        let (v, after_value) = value(text, b, skip_ws(b, i + 1))?;
                        members.push((key, v));
                        i = skip_ws(b, after_value);
                        match b.get(i)? {
                            b',' => i = skip_ws(b, i + 1),
                            b'}' => break i += 1,
                            _ => return None,
                        }
                    }
                }
                (Kind::Object(members), i)
            }
            b'[' => {
                let mut items = Vec::new();
                let mut i = skip_ws(b, start + 1);
                if b.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    loop {
                        let (v, after) = value(text, b, i)?;
                        items.push(v);
                        i = skip_ws(b, after);
                        match b.get(i)? {
                            b',' => i = skip_ws(b, i + 1),
                            b']' => break i += 1,
                            _ => return None,
                        }
                    }
                }
                (Kind::Array(items), i)
            }
            b'"' => {
                let (s, end) = string(b, start)?;
                (Kind::String(s), end)
            }
            _ => {
                let mut i = start;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b"+-.".contains(&b[i])) {
                    i += 1;
                }
                let token = &text[start..i];
                let ok = matches!(token, "true" | "false" | "null") || token.parse::<f64>().is_ok();
                ok.then_some((Kind::Other, i))?
            }
        };
        Some((Value { raw: text[start..end].to_string(), kind }, end))
    }

    /// A string at `start` (which must be `"`): its content (escapes kept as written) and end.
    fn string(b: &[u8], start: usize) -> Option<(String, usize)> {
        (b.get(start) == Some(&b'"')).then_some(())?;
        let mut i = start + 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => return Some((String::from_utf8_lossy(&b[start + 1..i]).into_owned(), i + 1)),
                _ => i += 1,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    /// Command lines of `bp-generator render -f examples/l1.yaml` and `examples/opstack.yaml`,
    /// with the ports each container declares (TCP) plus its hidden listeners.
    #[test]
    fn ports_of_l1_and_opstack_containers() {
        let enode = "enode://79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8@127.0.0.1:30303";
        let reth_node = |port: &str, bootnodes: Option<&str>| {
            let mut a = args(&[
                "node",
                "--chain",
                "/data/genesis.json",
                "--datadir",
                "/data_reth",
                "--color",
                "never",
                "--addr",
                "0.0.0.0",
                "--port",
                port,
                "--ipcpath",
                "/data_reth/reth.ipc",
                "--http",
                "--http.addr",
                "0.0.0.0",
                "--http.api",
                "admin,eth,web3,net,rpc,mev,flashbots",
                "--http.port",
                "8545",
                "--ws",
                "--ws.addr",
                "0.0.0.0",
                "--ws.port",
                "8546",
                "--ws.api",
                "eth,web3,net,txpool,debug,trace",
                "--ws.origins",
                "*",
                "--authrpc.port",
                "8551",
                "--authrpc.addr",
                "0.0.0.0",
                "--authrpc.jwtsecret",
                "/data/jwtsecret",
                "--metrics",
                "0.0.0.0:9090",
                "--engine.persistence-threshold",
                "0",
                "--engine.memory-block-buffer-target",
                "0",
                "-vvv",
            ]);
            if let Some(enode) = bootnodes {
                a.extend(args(&["--bootnodes", enode]));
            }
            a
        };
        let beacon = args(&[
            "bn",
            "--datadir",
            "/data_beacon",
            "--testnet-dir",
            "/data/testnet-dir",
            "--enable-private-discovery",
            "--disable-peer-scoring",
            "--staking",
            "--enr-address",
            "127.0.0.1",
            "--enr-udp-port",
            "9000",
            "--enr-tcp-port",
            "9000",
            "--enr-quic-port",
            "9100",
            "--port",
            "9000",
            "--quic-port",
            "9100",
            "--http",
            "--http-port",
            "3500",
            "--http-address",
            "0.0.0.0",
            "--http-allow-origin",
            "*",
            "--disable-packet-filter",
            "--target-peers",
            "0",
            "--execution-endpoint",
            "http://localhost:8551",
            "--execution-jwt",
            "/data/jwtsecret",
            "--always-prepare-payload",
            "--prepare-payload-lookahead",
            "8000",
            "--suggested-fee-recipient",
            "0x690B9A9E9aa1C9dB991C7721a92d351Db4FaC990",
            "--builder",
            "http://localhost:5555",
            "--builder-fallback-epochs-since-finalization",
            "0",
            "--builder-fallback-disable-checks",
        ]);
        let validator = args(&[
            "vc",
            "--datadir",
            "/data/validator",
            "--testnet-dir",
            "/data/testnet-dir",
            "--init-slashing-protection",
            "--beacon-nodes",
            "http://localhost:3500",
            "--suggested-fee-recipient",
            "0x690B9A9E9aa1C9dB991C7721a92d351Db4FaC990",
            "--builder-proposals",
            "--prefer-builder-proposals",
        ]);
        let healthmon = |url: &str, addr: &str| args(&["--chain", "execution", "--url", url, "--service.addr", addr]);
        let relay = args(&[
            "--api-listen-addr",
            "0.0.0.0",
            "--api-listen-port",
            "5555",
            "--beacon-client-addr",
            "http://localhost:3500",
        ]);
        let bootnode = args(&[
            "p2p",
            "bootnode",
            "--addr",
            "0.0.0.0:30303",
            "--p2p-secret-key",
            "/data/p2p_key.txt",
            "-vvvv",
            "--color",
            "never",
        ]);
        // What busybox sh passes to `exec geth …` in op-geth's script (quotes removed).
        let geth = args(&[
            "--datadir",
            "/data_opgeth",
            "--verbosity",
            "3",
            "--http",
            "--http.corsdomain",
            "*",
            "--http.vhosts",
            "*",
            "--http.addr",
            "0.0.0.0",
            "--http.port",
            "8547",
            "--http.api",
            "web3,debug,eth,txpool,net,engine,miner",
            "--ws",
            "--ws.addr",
            "0.0.0.0",
            "--ws.port",
            "8548",
            "--ws.origins",
            "*",
            "--ws.api",
            "debug,eth,txpool,net,engine,miner",
            "--syncmode",
            "full",
            "--nodiscover",
            "--maxpeers",
            "5",
            "--rpc.allow-unprotected-txs",
            "--authrpc.addr",
            "0.0.0.0",
            "--authrpc.port",
            "8552",
            "--authrpc.vhosts",
            "*",
            "--authrpc.jwtsecret",
            "/data/jwtsecret",
            "--gcmode",
            "archive",
            "--state.scheme",
            "hash",
            "--port",
            "30305",
            "--nodekey",
            "/data/p2p_key.txt",
            "--bootnodes",
            enode,
            "--metrics",
            "--metrics.addr",
            "0.0.0.0",
            "--metrics.port",
            "6061",
        ]);
        let op_node = args(&[
            "--l1",
            "http://localhost:8545",
            "--l1.beacon",
            "http://localhost:3500",
            "--l1.epoch-poll-interval",
            "12s",
            "--l1.http-poll-interval",
            "6s",
            "--l2",
            "http://localhost:8552",
            "--l2.jwt-secret",
            "/data/jwtsecret",
            "--metrics.enabled",
            "--metrics.addr",
            "0.0.0.0",
            "--metrics.port",
            "7300",
            "--sequencer.enabled",
            "--sequencer.l1-confs",
            "0",
            "--verifier.l1-confs",
            "0",
            "--p2p.sequencer.key",
            "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
            "--rollup.config",
            "/data/rollup.json",
            "--rollup.l1-chain-config",
            "/data/genesis.json",
            "--rpc.addr",
            "0.0.0.0",
            "--rpc.port",
            "8549",
            "--p2p.listen.ip",
            "0.0.0.0",
            "--p2p.listen.tcp",
            "9003",
            "--p2p.listen.udp",
            "9003",
            "--p2p.scoring.peers",
            "light",
            "--p2p.ban.peers",
            "true",
            "--pprof.enabled",
            "--rpc.enable-admin",
            "--safedb.path",
            "/data_db",
        ]);
        let op_batcher = args(&[
            "--l1-eth-rpc",
            "http://localhost:8545",
            "--l2-eth-rpc",
            "http://localhost:8547",
            "--rollup-rpc",
            "http://localhost:8549",
            "--max-channel-duration=2",
            "--sub-safety-margin=4",
            "--poll-interval=1s",
            "--num-confirmations=1",
            "--private-key=0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
            "--rpc.port=8550",
        ]);

        let cases: Vec<(&str, &str, Vec<String>, Vec<u16>)> = vec![
            // l1
            ("l1 el", "reth", reth_node("30303", None), vec![8545, 8546, 8551, 9090, 30303]),
            ("l1 el-healthmon", "healthmon", healthmon("http://localhost:8545", "127.0.0.1:21171"), vec![21171]),
            ("beacon", "lighthouse", beacon.clone(), vec![3500, 9000, 9100]),
            ("validator", "lighthouse", validator.clone(), vec![]),
            ("beacon-healthmon", "healthmon", healthmon("http://localhost:3500", "127.0.0.1:21172"), vec![21172]),
            ("mev-boost-relay", "mev-boost-relay", relay, vec![5555]),
            // opstack
            ("bootnode", "reth", bootnode, vec![30303]),
            ("op el", "reth", reth_node("30304", Some(enode)), vec![8545, 8546, 8551, 9090, 30304]),
            ("op-geth", "geth", geth, vec![6061, 8547, 8548, 8552, 30305]),
            ("op-geth-healthmon", "healthmon", healthmon("http://localhost:8547", "127.0.0.1:21173"), vec![21173]),
            ("op-node", "op-node", op_node, vec![6060, 7300, 8549, 9003]),
            ("op-batcher", "op-batcher", op_batcher, vec![8550]),
        ];
        for (container, program, args, want) in cases {
            assert_eq!(listen_ports(program, &args), want, "{container}");
        }
    }

    #[test]
    fn equals_forms_and_defaults() {
        assert_eq!(listen_ports("x", &args(&["--http.port=8545", "--listen-address=0.0.0.0:21171"])), [8545, 21171]);
        assert_eq!(listen_ports("caddy", &args(&["file-server", "--root", "/data", "--listen", ":8100"])), [8100]);
        assert_eq!(
            listen_ports("mev-boost", &args(&["--addr", "0.0.0.0:18550", "--relay", "http://0x1@localhost:5555"])),
            [18550]
        );
        assert_eq!(
            listen_ports("x", &args(&["--ws.addr", "[::]:8546", "--rpc-host", "0.0.0.0", "--rpc-port", "8551"])),
            [8546, 8551]
        );
        // Defaults of the hidden listeners, and moved ones.
        assert_eq!(listen_ports("healthmon", &args(&["--chain", "beacon", "--url", "http://localhost:3500"])), [21171]);
        assert_eq!(listen_ports("op-batcher", &args(&[])), [8545]);
        assert_eq!(listen_ports("op-node", &args(&["--rpc.port", "8549", "--pprof.enabled=false"])), [8549]);
        assert_eq!(
            listen_ports("op-node", &args(&["--rpc.port", "8549", "--pprof.enabled", "--pprof.port=6070"])),
            [6070, 8549]
        );
        assert_eq!(listen_ports("rollup-boost", &args(&["--rpc-port", "8551"])), [5555, 8551]);
        assert_eq!(
            listen_ports("rollup-boost", &args(&["--rpc-port", "8551", "--debug-server-port=5556"])),
            [5556, 8551]
        );
    }

    #[test]
    fn peers_and_advertised_addresses_are_not_listened_on() {
        for peer in [
            &["--execution-endpoint", "http://localhost:8551"][..],
            &["--beacon-nodes", "http://localhost:3500"],
            &["--beacon-client-addr", "http://localhost:3500"],
            &["--validation-server-addr", "http://localhost:8545"],
            &["--l2", "http://localhost:8552"],
            &["--bootnodes", "enode://abc@127.0.0.1:30303"],
            &["--target-addr", "127.0.0.1:8888"],
            &["--authrpc-peers", "http://a:1,http://b:2"],
            &["--enr-tcp-port", "9000"],
            &["--enr-udp-port", "9000"],
            &["--p2p.listen.udp", "9003"],
            &["--p2p.advertise.tcp", "9003"],
            &["--api-listen-addr", "0.0.0.0"],
            &["--some-addr", "builder-hub-proxy:8888"],
            &["--tls-certificate-path", "/server.crt", "builder-hub-proxy:8888"],
            &["--max-port-count", "many"],
        ] {
            assert_eq!(listen_ports("x", &args(peer)), Vec::<u16>::new(), "{peer:?}");
        }
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

    #[test]
    fn json_rpc_replies_echo_ids() {
        assert_eq!(
            respond("POST", br#"{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber","params":[]}"#).1,
            r#"{"jsonrpc":"2.0","id":7,"result":"0x0"}"#
        );
        assert_eq!(
            respond("POST", br#" {"id":"a\"b","method":"eth_syncing"} "#).1,
            r#"{"jsonrpc":"2.0","id":"a\"b","result":false}"#
        );
        assert_eq!(
            respond(
                "POST",
                br#"[{"id":1,"method":"x","params":[{"a":[1,2.5e3,null,true]}]},{"method":"eth_syncing","id":2}]"#
            )
            .1,
            r#"[{"jsonrpc":"2.0","id":1,"result":"0x0"},{"jsonrpc":"2.0","id":2,"result":false}]"#
        );
        assert!(respond("POST", b"not json").1.contains("-32700"));
        assert!(respond("GET", b"").1.contains(r#""is_syncing":false"#));
    }

    #[test]
    fn answers_http_over_tcp_with_keep_alive() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || serve(listener));
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let body = r#"{"jsonrpc":"2.0","id":42,"method":"eth_chainId"}"#;
        let request = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        // Two requests on one connection, then a GET that closes it.
        let mut all = Vec::new();
        for _ in 0..2 {
            conn.write_all(request.as_bytes()).unwrap();
            let want = r#"{"jsonrpc":"2.0","id":42,"result":"0x0"}"#;
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).ends_with(want) {
                let mut chunk = [0u8; 1024];
                let n = conn.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed: {}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&chunk[..n]);
            }
            all.extend(got);
        }
        conn.write_all(b"GET /eth/v1/node/syncing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut rest = String::new();
        conn.read_to_string(&mut rest).unwrap();
        assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
        assert!(rest.contains("Content-Length: ") && rest.ends_with(r#""sync_distance":"0"}}"#), "{rest}");
    }
}
