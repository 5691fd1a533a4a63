//! PostgreSQL for buildernet's `builder-hub-db` (flashbots/builder-hub-db: postgres:15 with
//! builder-hub's schema): the image's `docker-entrypoint.sh postgres`, the server's side of the
//! wire protocol (v3) as far as a client's connection goes, the client side (for builder-hub's
//! `POSTGRES_DSN` and `pg_isready`), and `pg_isready` itself, which the Pod's probe runs.
//!
//! The server checks what a connection names the way postgres does: the role (`POSTGRES_USER`),
//! the database (`POSTGRES_DB`, `postgres`, the templates) and, where its host-based
//! authentication asks for one, the password (`POSTGRES_PASSWORD`). As in the postgres image,
//! connections from the loopback address are trusted (initdb's `host all all 127.0.0.1/32
//! trust`, which comes before the entrypoint's `host all all all $POSTGRES_HOST_AUTH_METHOD`),
//! so in a Pod the password is never asked; builder-hub-db's image also sets
//! `POSTGRES_HOST_AUTH_METHOD=trust`. Where a password is asked, the stand-in asks for it in
//! clear text (postgres 15 would use SCRAM-SHA-256). A query gets an empty answer; nothing is
//! stored.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cli::Failure;
use crate::files::{self, Files};

pub const PROTOCOL_3: i32 = 196_608;
const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;
pub const DEFAULT_PORT: u16 = 5432;
/// What `server_version` reports.
const SERVER_VERSION: &str = "15.10 (bp-standin)";

/// The environment, as a function (tests pass their own).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What the server accepts, from the image's and the container's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub user: String,
    pub password: Option<String>,
    pub databases: Vec<String>,
    /// `POSTGRES_HOST_AUTH_METHOD` (the entrypoint's default: scram-sha-256), for connections
    /// that do not come from the loopback address.
    pub host_auth: String,
    pub port: u16,
}

impl Server {
    /// The auth method for a connection from `peer`.
    fn auth_for(&self, peer: Option<IpAddr>) -> &str {
        if peer.is_some_and(|ip| ip.is_loopback()) { "trust" } else { &self.host_auth }
    }
}

/// `docker-entrypoint.sh postgres [options]` (or `postgres [options]`): the entrypoint's checks
/// (a superuser password unless `POSTGRES_HOST_AUTH_METHOD=trust`, a writable `PGDATA`), then
/// the server's options (`-p PORT`, `-c name=value`; `PGPORT`).
pub fn server(args: &[String], env: Env, files: &mut Files) -> Result<Server, Failure> {
    let host_auth = env("POSTGRES_HOST_AUTH_METHOD").filter(|m| !m.is_empty()).unwrap_or("scram-sha-256".into());
    let password = env("POSTGRES_PASSWORD").filter(|p| !p.is_empty());
    if password.is_none() && host_auth != "trust" {
        return Err(Failure::new(
            1,
            "Error: Database is uninitialized and superuser password is not specified.\n       \
             You must specify POSTGRES_PASSWORD to a non-empty value for the superuser\n       \
             (or set POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password).",
        ));
    }
    let pgdata = env("PGDATA").unwrap_or("/var/lib/postgresql/data".into());
    files.require("$PGDATA", &pgdata, |p| files::writable_dir(p, true))?;
    let user = env("POSTGRES_USER").filter(|u| !u.is_empty()).unwrap_or("postgres".into());
    let db = env("POSTGRES_DB").filter(|d| !d.is_empty()).unwrap_or(user.clone());
    let mut databases: BTreeSet<String> = ["postgres", "template0", "template1"].map(String::from).into();
    databases.insert(db);
    let mut port = match env("PGPORT") {
        Some(p) => p.parse::<u16>().map_err(|_| invalid_port(&p))?,
        None => DEFAULT_PORT,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let (option, value) = match arg.as_str() {
            "-p" | "-c" | "-D" | "-h" | "-k" | "-B" | "-N" => {
                let value = args.get(i).cloned().ok_or_else(|| {
                    Failure::new(1, format!("postgres: option requires an argument -- '{}'", &arg[1..]))
                })?;
                i += 1;
                (arg.clone(), value)
            }
            long if long.starts_with("--") && long.contains('=') => ("-c".to_string(), long[2..].to_string()),
            other => {
                return Err(Failure::new(
                    1,
                    format!("postgres: invalid argument: \"{other}\"\nTry \"postgres --help\" for more information."),
                ));
            }
        };
        let setting = if option == "-p" { Some(("port", value.as_str())) } else { None };
        let setting = setting.or_else(|| (option == "-c").then(|| value.split_once('=')).flatten());
        if let Some(("port", p)) = setting {
            port = p.parse().map_err(|_| invalid_port(p))?;
        }
    }
    Ok(Server { user, password, databases: databases.into_iter().collect(), host_auth, port })
}

fn invalid_port(p: &str) -> Failure {
    Failure::new(1, format!("FATAL:  invalid value for parameter \"port\": \"{p}\""))
}

// ---------------------------------------------------------------------------------------------
// Messages

/// A backend or frontend message: its type byte and body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// The StartupMessage: length, protocol 3.0, `name\0value\0` pairs, a final `\0`.
pub fn startup_message(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = PROTOCOL_3.to_be_bytes().to_vec();
    for (k, v) in params {
        cstr(&mut body, k);
        cstr(&mut body, v);
    }
    body.push(0);
    let mut out = (body.len() as i32 + 4).to_be_bytes().to_vec();
    out.extend(body);
    out
}

fn auth(code: i32) -> Vec<u8> {
    message(b'R', &code.to_be_bytes())
}

/// An ErrorResponse with severity, SQLSTATE and message.
pub fn error_response(severity: &str, code: &str, text: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', severity), (b'V', severity), (b'C', code), (b'M', text)] {
        body.push(field);
        cstr(&mut body, value);
    }
    body.push(0);
    message(b'E', &body)
}

fn parameter_status(name: &str, value: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, name);
    cstr(&mut body, value);
    message(b'S', &body)
}

fn ready_for_query() -> Vec<u8> {
    message(b'Z', b"I")
}

fn read_i32(r: &mut impl Read) -> io::Result<i32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_be_bytes(b))
}

/// A typed message: its type byte and body.
fn read_message(r: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut kind = [0u8; 1];
    r.read_exact(&mut kind)?;
    let len = read_i32(r)?;
    if !(4..=1 << 24).contains(&len) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("invalid message length {len}")));
    }
    let mut body = vec![0u8; len as usize - 4];
    r.read_exact(&mut body)?;
    Ok((kind[0], body))
}

/// `\0`-terminated strings of a body.
fn cstrings(body: &[u8]) -> Vec<String> {
    body.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

/// The fields of an ErrorResponse (`S`, `C`, `M`, …).
fn error_fields(body: &[u8]) -> Vec<(char, String)> {
    body.split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| (f[0] as char, String::from_utf8_lossy(&f[1..]).into_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Server

/// What a session did, for the server's log.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A StartupMessage was accepted: user, database, application_name.
    Connected { user: String, database: String, application: String },
    /// The connection was refused with a FATAL error.
    Fatal(String),
    /// The client went away before starting up (an SSL probe, a port check).
    Nothing,
}

/// Serves one connection: SSL and GSS encryption requests are declined (`N`), the startup
/// packet checked (protocol 3.0, role, database, password where asked), then queries answered
/// until Terminate. `peer` is the client's address (loopback connections are trusted).
pub fn session<S: Read + Write>(stream: &mut S, peer: Option<IpAddr>, server: &Server) -> io::Result<Outcome> {
    let params = loop {
        let len = match read_i32(stream) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Outcome::Nothing),
            Err(e) => return Err(e),
        };
        if !(8..=10_000).contains(&len) {
            return fatal(stream, "08P01", "invalid length of startup packet");
        }
        let code = read_i32(stream)?;
        let mut rest = vec![0u8; len as usize - 8];
        stream.read_exact(&mut rest)?;
        match code {
            SSL_REQUEST | GSSENC_REQUEST => stream.write_all(b"N")?,
            CANCEL_REQUEST => return Ok(Outcome::Nothing),
            PROTOCOL_3 => break cstrings(&rest),
            other => {
                let text = format!(
                    "unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
                    other >> 16,
                    other & 0xffff
                );
                return fatal(stream, "0A000", &text);
            }
        }
    };
    let param = |name: &str| params.chunks(2).find(|kv| kv[0] == name).and_then(|kv| kv.get(1)).cloned();
    let Some(user) = param("user").filter(|u| !u.is_empty()) else {
        return fatal(stream, "28000", "no PostgreSQL user name specified in startup packet");
    };
    let database = param("database").filter(|d| !d.is_empty()).unwrap_or(user.clone());
    if server.auth_for(peer) == "trust" {
        if user != server.user {
            return fatal(stream, "28000", &format!("role \"{user}\" does not exist"));
        }
    } else {
        stream.write_all(&auth(3))?;
        let (kind, body) = read_message(stream)?;
        let given = (kind == b'p').then(|| cstrings(&body).into_iter().next().unwrap_or_default());
        if user != server.user || given.is_none() || given != server.password {
            return fatal(stream, "28P01", &format!("password authentication failed for user \"{user}\""));
        }
    }
    if !server.databases.contains(&database) {
        return fatal(stream, "3D000", &format!("database \"{database}\" does not exist"));
    }
    let mut hello = auth(0);
    for (k, v) in [
        ("server_version", SERVER_VERSION),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "UTC"),
    ] {
        hello.extend(parameter_status(k, v));
    }
    let mut key = std::process::id().to_be_bytes().to_vec();
    key.extend_from_slice(&0x5eed_u32.to_be_bytes());
    hello.extend(message(b'K', &key));
    hello.extend(ready_for_query());
    stream.write_all(&hello)?;
    let outcome = Outcome::Connected { user, database, application: param("application_name").unwrap_or_default() };
    loop {
        let (kind, body) = match read_message(stream) {
            Ok(m) => m,
            Err(_) => return Ok(outcome),
        };
        let reply = match kind {
            b'X' => return Ok(outcome),
            b'Q' => query_reply(&cstrings(&body).into_iter().next().unwrap_or_default()),
            // The extended protocol, answered without data.
            b'P' => message(b'1', b""),
            b'B' => message(b'2', b""),
            b'D' => message(b'n', b""),
            b'E' => message(b'C', b"SELECT 0\0"),
            b'C' => message(b'3', b""),
            b'S' => ready_for_query(),
            b'H' => Vec::new(),
            other => {
                let text = format!("invalid frontend message type {other}");
                stream.write_all(&error_response("FATAL", "08P01", &text))?;
                return Ok(outcome);
            }
        };
        stream.write_all(&reply)?;
    }
}

fn fatal<S: Write>(stream: &mut S, code: &str, text: &str) -> io::Result<Outcome> {
    stream.write_all(&error_response("FATAL", code, text))?;
    Ok(Outcome::Fatal(text.to_string()))
}

/// A simple Query's answer: EmptyQueryResponse for an empty one (what lib/pq's ping sends), else
/// CommandComplete with the command's tag (`SELECT 0`), then ReadyForQuery.
pub fn query_reply(sql: &str) -> Vec<u8> {
    let sql = sql.trim().trim_end_matches(';').trim();
    let mut out = if sql.is_empty() {
        message(b'I', b"")
    } else {
        let command = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let tag = match command.as_str() {
            "SELECT" => "SELECT 0".to_string(),
            "INSERT" => "INSERT 0 0".to_string(),
            "UPDATE" | "DELETE" => format!("{command} 0"),
            _ => command,
        };
        let mut body = Vec::new();
        cstr(&mut body, &tag);
        message(b'C', &body)
    };
    out.extend(ready_for_query());
    out
}

/// Accepts connections on `listener`, a session each, logging each new client (role, database,
/// program) once and every refusal, as postgres logs them.
pub fn serve(listener: TcpListener, server: Arc<Server>) {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    for conn in listener.incoming() {
        let Ok(mut stream) = conn else { continue };
        let (server, seen) = (server.clone(), seen.clone());
        std::thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(600)));
            let peer = stream.peer_addr().ok().map(|a| a.ip());
            match session(&mut stream, peer, &server) {
                Ok(Outcome::Connected { user, database, application }) => {
                    let by = if application.is_empty() { String::new() } else { format!(" ({application})") };
                    let line = format!("client \"{user}\" connected to database \"{database}\"{by}");
                    if seen.lock().unwrap().insert(line.clone()) {
                        println!("bp-standin: postgres: {line}");
                    }
                }
                Ok(Outcome::Fatal(text)) => println!("bp-standin: postgres: FATAL:  {text}"),
                Ok(Outcome::Nothing) | Err(_) => {}
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Client

/// How a client's connection attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Connect {
    /// Startup accepted: the server's `server_version`.
    Ready(String),
    /// The server refused: SQLSTATE and message.
    Refused { code: String, message: String },
    /// No server, or it does not speak the protocol: why.
    Unreachable(String),
}

/// What a client connects with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    /// Ask for TLS first (lib/pq's default `sslmode=require`); a server without it refuses.
    pub ssl: bool,
    pub application: Option<String>,
}

/// The address of `host` (`localhost` is 127.0.0.1, without a resolver).
fn address(host: &str, port: u16) -> io::Result<std::net::SocketAddr> {
    let host = if host == "localhost" { "127.0.0.1" } else { host };
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("lookup {host}: no such host")))
}

/// Connects and runs the startup handshake (and a `;` query, as lib/pq's ping does).
pub fn connect(target: &Target, timeout: Duration) -> Connect {
    let addr = match address(&target.host, target.port) {
        Ok(a) => a,
        Err(e) => return Connect::Unreachable(format!("dial tcp: lookup {}: {e}", target.host)),
    };
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return Connect::Unreachable(go_dial_error(&addr.to_string(), &e)),
    };
    let _ = stream.set_read_timeout(Some(timeout));
    match handshake(&mut stream, target) {
        Ok(c) => c,
        Err(e) => Connect::Unreachable(format!("read tcp {addr}: {e}")),
    }
}

/// How Go words a failed dial.
pub fn go_dial_error(addr: &str, e: &io::Error) -> String {
    let why = match e.kind() {
        io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => e.to_string(),
    };
    format!("dial tcp {addr}: {why}")
}

/// The client's side of the startup handshake on a connected stream.
pub fn handshake<S: Read + Write>(stream: &mut S, target: &Target) -> io::Result<Connect> {
    if target.ssl {
        let mut request = 8i32.to_be_bytes().to_vec();
        request.extend_from_slice(&SSL_REQUEST.to_be_bytes());
        stream.write_all(&request)?;
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer)?;
        if answer[0] != b'S' {
            return Ok(Connect::Refused { code: String::new(), message: "SSL is not enabled on the server".into() });
        }
        return Ok(Connect::Unreachable("the stand-in speaks no TLS".into()));
    }
    let mut params = vec![("user", target.user.as_str()), ("database", target.database.as_str())];
    if let Some(app) = &target.application {
        params.push(("application_name", app));
    }
    stream.write_all(&startup_message(&params))?;
    let mut version = String::new();
    let mut pinged = false;
    loop {
        let (kind, body) = read_message(stream)?;
        match kind {
            b'R' => {
                let code = body.get(..4).map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                match code {
                    0 => {}
                    3 => {
                        let mut p = Vec::new();
                        cstr(&mut p, target.password.as_deref().unwrap_or(""));
                        stream.write_all(&message(b'p', &p))?;
                    }
                    other => {
                        return Ok(Connect::Unreachable(format!("authentication method {other} not supported")));
                    }
                }
            }
            b'E' => {
                let fields = error_fields(&body);
                let field = |c: char| fields.iter().find(|(f, _)| *f == c).map(|(_, v)| v.clone()).unwrap_or_default();
                return Ok(Connect::Refused { code: field('C'), message: field('M') });
            }
            b'S' => {
                let kv = cstrings(&body);
                if kv.first().map(String::as_str) == Some("server_version") {
                    version = kv.get(1).cloned().unwrap_or_default();
                }
            }
            b'Z' if !pinged => {
                stream.write_all(&message(b'Q', b";\0"))?;
                pinged = true;
            }
            b'Z' => {
                stream.write_all(&message(b'X', b""))?;
                return Ok(Connect::Ready(version));
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// pg_isready

/// `pg_isready [-h HOST] [-p PORT] [-U USER] [-d DBNAME] [-t SECONDS] [-q]` (PGHOST, PGPORT,
/// PGUSER, PGDATABASE): exit 0 when the server answers the startup packet (whatever it says,
/// as PQping), 1 when it rejects connections (starting up), 2 on no response, 3 on bad options.
/// Without a host it names the socket directory, as the real tool does, and connects to
/// 127.0.0.1 (the stand-in's server listens on TCP only). Gives (exit code, output line).
pub fn pg_isready(args: &[String], env: Env) -> (i32, String) {
    let mut host = env("PGHOST").filter(|h| !h.is_empty());
    let mut port = env("PGPORT");
    let mut user = env("PGUSER");
    let mut database = env("PGDATABASE");
    let mut timeout = 3u64;
    let mut quiet = false;
    let usage = |m: String| (3, format!("pg_isready: {m}\nTry \"pg_isready --help\" for more information."));
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ if arg.starts_with('-') && !arg.starts_with("--") && arg.len() > 2 => (&arg[..2], Some(arg[2..].into())),
            _ => (arg, None),
        };
        let target = match name {
            "-h" | "--host" => &mut host,
            "-p" | "--port" => &mut port,
            "-U" | "--username" => &mut user,
            "-d" | "--dbname" => &mut database,
            "-t" | "--timeout" => {
                let v = inline.or_else(|| args.get(i).cloned().inspect(|_| i += 1));
                match v.as_deref().map(str::parse::<u64>) {
                    Some(Ok(t)) => timeout = t,
                    _ => return usage(format!("invalid timeout \"{}\"", v.unwrap_or_default())),
                }
                continue;
            }
            "-q" | "--quiet" => {
                quiet = true;
                continue;
            }
            "-V" | "--version" => return (0, "pg_isready (PostgreSQL) 15.10".into()),
            long if long.starts_with("--") => return usage(format!("unrecognized option '{long}'")),
            short if short.starts_with('-') => {
                return usage(format!("invalid option -- '{}'", short.trim_start_matches('-')));
            }
            other => return usage(format!("too many command-line arguments (first is \"{other}\")")),
        };
        match inline.or_else(|| args.get(i).cloned().inspect(|_| i += 1)) {
            Some(v) => *target = Some(v),
            None => return usage(format!("option requires an argument -- '{}'", name.trim_start_matches('-'))),
        }
    }
    let port: u16 = match port.as_deref().unwrap_or("5432").parse() {
        Ok(p) => p,
        Err(_) => return (3, format!("pg_isready: invalid port number \"{}\"", port.unwrap_or_default())),
    };
    let socket_dir = host.as_deref().is_none_or(|h| h.starts_with('/'));
    let shown = host.clone().filter(|_| !socket_dir).unwrap_or("/var/run/postgresql".into());
    let user = user.unwrap_or("postgres".into());
    let target = Target {
        host: if socket_dir { "127.0.0.1".into() } else { host.unwrap_or_default() },
        port,
        database: database.unwrap_or(user.clone()),
        user,
        password: None,
        ssl: false,
        application: Some("pg_isready".into()),
    };
    let (code, state) = match connect(&target, Duration::from_secs(timeout.max(1))) {
        Connect::Ready(_) => (0, "accepting connections"),
        Connect::Refused { code, .. } if code == "57P03" => (1, "rejecting connections"),
        Connect::Refused { .. } => (0, "accepting connections"),
        Connect::Unreachable(_) => (2, "no response"),
    };
    (code, if quiet { String::new() } else { format!("{shown}:{port} - {state}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("bp-standin-pg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    const BN_ENV: &[(&str, &str)] = &[
        ("PGUSER", "postgres"),
        ("POSTGRES_DB", "postgres"),
        ("POSTGRES_PASSWORD", "postgres"),
        ("POSTGRES_USER", "postgres"),
        ("POSTGRES_HOST_AUTH_METHOD", "trust"),
    ];

    fn bn_server(extra: &'static [(&'static str, &'static str)]) -> Result<Server, Failure> {
        let dir = tmp("data");
        let dir_s: &'static str = Box::leak(dir.display().to_string().into_boxed_str());
        let env = move |k: &str| {
            if k == "PGDATA" {
                return Some(dir_s.to_string());
            }
            env_of(extra)(k).or_else(|| env_of(BN_ENV)(k))
        };
        let mut files = Files::new("postgres", false);
        let result = server(&[], &env, &mut files);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    #[test]
    fn the_entrypoint_needs_a_password_unless_trust() {
        let s = bn_server(&[]).unwrap();
        assert_eq!((s.user.as_str(), s.port, s.host_auth.as_str()), ("postgres", 5432, "trust"));
        assert_eq!(s.databases, ["postgres", "template0", "template1"]);
        let mut files = Files::new("postgres", false);
        let dir = tmp("nopw");
        let d = dir.display().to_string();
        let no_password = move |k: &str| (k == "PGDATA").then(|| d.clone());
        let f = server(&[], &no_password, &mut files).unwrap_err();
        assert_eq!(f.code, 1);
        assert!(f.message.starts_with("Error: Database is uninitialized and superuser password is not specified."));
        assert_eq!(files.seen, Vec::<String>::new());
        let _ = std::fs::remove_dir_all(&dir);
        // PGPORT, then -p and -c port= as postgres takes them.
        let s = bn_server(&[("PGPORT", "6543"), ("POSTGRES_DB", "hub")]).unwrap();
        assert_eq!(s.port, 6543);
        assert!(s.databases.contains(&"hub".to_string()));
        let mut files = Files::new("postgres", true);
        let env = env_of(BN_ENV);
        assert_eq!(server(&args(&["-p", "5433"]), &env, &mut files).unwrap().port, 5433);
        assert_eq!(server(&args(&["-c", "port=5434"]), &env, &mut files).unwrap().port, 5434);
        assert!(server(&args(&["--bogus"]), &env, &mut files).unwrap_err().message.contains("invalid argument"));
    }

    /// A client on one end of a socket pair, the server's session on the other.
    fn talk(server: &Server, peer: &str, target: &Target) -> (Connect, Outcome) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = server.clone();
        let peer: IpAddr = peer.parse().unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            session(&mut s, Some(peer), &server).unwrap()
        });
        let target = Target { host: "127.0.0.1".into(), port: addr.port(), ..target.clone() };
        let c = connect(&target, Duration::from_secs(5));
        (c, handle.join().unwrap())
    }

    fn target(user: &str, password: &str, db: &str) -> Target {
        Target {
            host: String::new(),
            port: 0,
            user: user.into(),
            password: Some(password.into()),
            database: db.into(),
            ssl: false,
            application: None,
        }
    }

    #[test]
    fn the_handshake_checks_role_database_and_password() {
        let s = Server { host_auth: "md5".into(), ..bn_server(&[]).unwrap() };
        // From the loopback address: trusted, the password is not asked.
        let (c, o) = talk(&s, "127.0.0.1", &target("postgres", "wrong", "postgres"));
        assert_eq!(c, Connect::Ready(SERVER_VERSION.into()));
        assert_eq!(
            o,
            Outcome::Connected { user: "postgres".into(), database: "postgres".into(), application: String::new() }
        );
        let (c, _) = talk(&s, "127.0.0.1", &target("postgres", "postgres", "builderhub"));
        assert_eq!(
            c,
            Connect::Refused { code: "3D000".into(), message: "database \"builderhub\" does not exist".into() }
        );
        let (c, _) = talk(&s, "127.0.0.1", &target("hub", "postgres", "postgres"));
        assert_eq!(c, Connect::Refused { code: "28000".into(), message: "role \"hub\" does not exist".into() });
        // From elsewhere: the password (POSTGRES_PASSWORD) is asked and checked.
        let (c, o) = talk(&s, "10.0.0.7", &target("postgres", "wrong", "postgres"));
        let failed = "password authentication failed for user \"postgres\"";
        assert_eq!(c, Connect::Refused { code: "28P01".into(), message: failed.into() });
        assert_eq!(o, Outcome::Fatal(failed.into()));
        let (c, _) = talk(&s, "10.0.0.7", &target("postgres", "postgres", "postgres"));
        assert!(matches!(c, Connect::Ready(_)));
        let (c, _) = talk(&s, "10.0.0.7", &target("hub", "postgres", "postgres"));
        assert!(matches!(c, Connect::Refused { code, .. } if code == "28P01"));
        // sslmode=require against a server without TLS.
        let (c, o) = talk(&s, "127.0.0.1", &Target { ssl: true, ..target("postgres", "postgres", "postgres") });
        assert_eq!(c, Connect::Refused { code: String::new(), message: "SSL is not enabled on the server".into() });
        assert_eq!(o, Outcome::Nothing);
    }

    #[test]
    fn the_bytes_on_the_wire() {
        assert_eq!(startup_message(&[("user", "u")]), [&[0, 0, 0, 16][..], &[0, 3, 0, 0], b"user\0u\0\0"].concat());
        assert_eq!(auth(3), [b'R', 0, 0, 0, 8, 0, 0, 0, 3]);
        assert_eq!(
            error_response("FATAL", "3D000", "x"),
            [&[b'E', 0, 0, 0, 29][..], b"SFATAL\0VFATAL\0C3D000\0Mx\0\0"].concat()
        );
        assert_eq!(query_reply(";"), [b'I', 0, 0, 0, 4, b'Z', 0, 0, 0, 5, b'I']);
        assert_eq!(
            query_reply("select 1"),
            [&[b'C', 0, 0, 0, 13][..], b"SELECT 0\0", &[b'Z', 0, 0, 0, 5, b'I']].concat()
        );
        // An SSLRequest is declined with 'N', then the startup goes on in the clear; a simple
        // query, then Terminate.
        let s = bn_server(&[]).unwrap();
        let mut input = [&8i32.to_be_bytes()[..], &SSL_REQUEST.to_be_bytes()].concat();
        input.extend(startup_message(&[("user", "postgres"), ("database", "postgres")]));
        input.extend(message(b'Q', b"SELECT 1\0"));
        input.extend(message(b'X', b""));
        let mut pipe = Pipe { input: io::Cursor::new(input), output: Vec::new() };
        let o = session(&mut pipe, Some("127.0.0.1".parse().unwrap()), &s).unwrap();
        assert!(matches!(o, Outcome::Connected { .. }));
        let out = pipe.output;
        assert_eq!(out[0], b'N');
        assert_eq!(&out[1..10], &auth(0)[..]);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("server_version\0") && text.contains("SELECT 0\0"), "{text:?}");
        assert!(out.ends_with(&ready_for_query()));
        // Another protocol version: postgres' FATAL.
        let mut bad = 8i32.to_be_bytes().to_vec();
        bad.extend_from_slice(&0x0002_0000i32.to_be_bytes());
        let mut pipe = Pipe { input: io::Cursor::new(bad), output: Vec::new() };
        let o = session(&mut pipe, None, &s).unwrap();
        assert_eq!(o, Outcome::Fatal("unsupported frontend protocol 2.0: server supports 3.0 to 3.0".into()));
    }

    struct Pipe {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn pg_isready_exit_codes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let server = Arc::new(bn_server(&[]).unwrap());
        std::thread::spawn(move || serve(listener, server));
        let port_s: &'static str = Box::leak(port.clone().into_boxed_str());
        let env = move |k: &str| match k {
            "PGPORT" => Some(port_s.to_string()),
            "PGUSER" => Some("postgres".to_string()),
            _ => None,
        };
        assert_eq!(pg_isready(&[], &env), (0, format!("/var/run/postgresql:{port} - accepting connections")));
        assert_eq!(
            pg_isready(&args(&["-h", "localhost", "-U", "nobody"]), &env),
            (0, format!("localhost:{port} - accepting connections")),
            "a refusal is an answer"
        );
        assert_eq!(pg_isready(&args(&["-q"]), &env), (0, String::new()));
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
        let (code, line) = pg_isready(&args(&["-h", "127.0.0.1", "-p", &closed, "-t", "1"]), &env);
        assert_eq!((code, line), (2, format!("127.0.0.1:{closed} - no response")));
        let (code, line) = pg_isready(&args(&["-x"]), &env);
        assert_eq!(code, 3);
        assert!(line.starts_with("pg_isready: invalid option -- 'x'"), "{line}");
        assert_eq!(pg_isready(&args(&["--port=abc"]), &env).0, 3);
    }
}
