//! The programs of builder-playground's buildernet recipe besides l1's, as their images (at
//! the tags of builder-playground c473a6a) start them (`e2e/src/images/mod.rs`,
//! `STANDIN_CONFIGS`):
//!
//! - `docker-entrypoint.sh postgres` (flashbots/builder-hub-db:0.3.1-alpha1) and `pg_isready`:
//!   [`crate::postgres`];
//! - `/app/builder-hub` (flashbots/builder-hub:0.3.1-alpha1, builder-hub's `cmd/httpserver` at
//!   v0.3.1-alpha1): configured by its environment (urfave/cli flags with `EnvVars`), connects to
//!   `POSTGRES_DSN` (lib/pq through sqlx: open and ping), then serves its four listeners:
//!   `/livez` and `/readyz` on `LISTEN_ADDR` with the builder API, the admin API on
//!   `ADMIN_ADDR`, the internal API on `INTERNAL_ADDR`, `/metrics` on `METRICS_ADDR`; any other
//!   path is chi's 404. A listener that cannot bind is logged and the others keep running, as
//!   builder-hub's goroutines do;
//! - `/docker-entrypoint.sh nginx -g "daemon off;"` (flashbots/builder-hub-mock-proxy:0.3.1-alpha1,
//!   nginx 1.27 with one site): reads `/etc/nginx/conf.d/*.conf` (`listen`, `proxy_pass`),
//!   refuses an upstream host it cannot resolve (nginx's `[emerg] host not found in upstream`),
//!   listens, and proxies every request to the upstream (502 when it does not answer);
//! - `caddy file-server …` (caddy:2-alpine): caddy's flags (cobra), serves the files under
//!   `--root` (a directory listing with `--browse`); `caddy run --config FILE` with a file it
//!   cannot read fails as caddy does;
//! - `curl URL…` (alpine/curl, builder-playground's ready checks): exit 0 on any HTTP answer
//!   (22 on an error status with `--fail`), 6 when the host does not resolve, 7 when nothing
//!   listens.

use std::collections::BTreeSet;
use std::io;
use std::net::{TcpListener, ToSocketAddrs};
use std::os::unix::process::CommandExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cli::{self, Failure, Positionals, Spec, Style};
use crate::contract::{self, Attempt};
use crate::files::{self, Files};
use crate::http::{self, RawReply, Request};
use crate::postgres::{self, Connect, Env, Target};

/// What a started program does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Run {
    /// Its listeners and peers run on threads: wait for SIGTERM.
    Serve,
    /// A one-shot tool: exit with this code.
    Exit(i32),
}

/// Runs `program` when it is one of buildernet's; `None` otherwise.
pub fn start(program: &str, args: &[String], warn: bool) -> Option<Result<Run, Failure>> {
    let env: Env = &postgres::process_env;
    match (program, args.first().map(String::as_str)) {
        ("docker-entrypoint.sh", Some(first)) if first == "postgres" || first.starts_with('-') => {
            let rest = if first == "postgres" { &args[1..] } else { args };
            Some(start_postgres(rest, env, warn))
        }
        ("docker-entrypoint.sh", Some(_)) => Some(Err(exec(args))),
        ("postgres", _) => Some(start_postgres(args, env, warn)),
        ("pg_isready", _) => {
            let (code, line) = postgres::pg_isready(args, env);
            if !line.is_empty() {
                println!("{line}");
            }
            Some(Ok(Run::Exit(code)))
        }
        ("builder-hub", _) => Some(start_builder_hub(args, env)),
        ("nginx", _) => Some(start_nginx(args, Path::new(NGINX_SITES), env)),
        ("caddy", Some("file-server")) => Some(start_file_server(&args[1..], warn)),
        ("caddy", Some("run")) => caddy_run(&args[1..]).map(Err),
        ("curl", _) => Some(Ok(Run::Exit(curl(args, &mut io::stdout(), &mut io::stderr())))),
        _ => None,
    }
}

/// The entrypoint script's `exec "$@"` for a command other than postgres (nginx's
/// `/docker-entrypoint.sh nginx …` too): the program from PATH, with its arguments.
fn exec(args: &[String]) -> Failure {
    let error = std::process::Command::new(&args[0]).args(&args[1..]).exec();
    let why = if error.kind() == io::ErrorKind::NotFound { "not found".to_string() } else { error.to_string() };
    Failure::new(127, format!("/usr/local/bin/docker-entrypoint.sh: exec: {}: {why}", args[0]))
}

fn start_postgres(args: &[String], env: Env, warn: bool) -> Result<Run, Failure> {
    let mut files = Files::new("postgres", warn);
    let server = postgres::server(args, env, &mut files)?;
    for line in &files.seen {
        println!("bp-standin: postgres: file {line}");
    }
    let (_, listener) = crate::bind("postgres", &[server.port]).remove(0);
    println!(
        "bp-standin: postgres: database system is ready to accept connections: role \"{}\", databases {}, host auth {} (loopback: trust)",
        server.user,
        server.databases.join(", "),
        server.host_auth
    );
    println!(
        "bp-standin: postgres: contract satisfied: {} files ({} warnings), listening on [{}]",
        files.seen.len(),
        files.warnings.len(),
        server.port
    );
    let server = Arc::new(server);
    std::thread::spawn(move || postgres::serve(listener, server));
    Ok(Run::Serve)
}

// ---------------------------------------------------------------------------------------------
// builder-hub

/// builder-hub v0.3.1-alpha1's flags (urfave/cli v2), each also read from its environment
/// variable.
const HUB_FLAGS: &[&str] = &["help|h version|v listen-addr= admin-addr= internal-addr= metrics-addr= log-json \
    log-debug log-uid log-service= pprof admin-basic-user= admin-basic-password-bcrypt= disable-admin-auth \
    drain-seconds= postgres-dsn= secret-prefix= mock-secrets"];

/// (flag, environment variables, default) of builder-hub's settings.
const HUB_SETTINGS: &[(&str, &[&str], &str)] = &[
    ("listen-addr", &["LISTEN_ADDR"], "127.0.0.1:8080"),
    ("admin-addr", &["ADMIN_ADDR"], "127.0.0.1:8081"),
    ("internal-addr", &["INTERNAL_ADDR"], "127.0.0.1:8082"),
    ("metrics-addr", &["METRICS_ADDR"], "127.0.0.1:8090"),
    ("postgres-dsn", &["POSTGRES_DSN"], "postgres://postgres:postgres@localhost:5432/postgres?sslmode=disable"),
    ("log-json", &["LOG_JSON"], "false"),
    ("log-debug", &["LOG_DEBUG"], "false"),
    ("log-uid", &["LOG_UID"], "false"),
    ("pprof", &["PPROF"], "false"),
    ("disable-admin-auth", &["DISABLE_ADMIN_AUTH"], "false"),
    ("mock-secrets", &["MOCK_SECRETS"], "false"),
    ("admin-basic-password-bcrypt", &["ADMIN_BASIC_PASSWORD_BCRYPT"], ""),
];

const BOOL_SETTINGS: &[&str] = &["log-json", "log-debug", "log-uid", "pprof", "disable-admin-auth", "mock-secrets"];

/// Which of builder-hub's servers a listener is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubApi {
    Builder,
    Admin,
    Internal,
    Metrics,
}

/// builder-hub's settings, from its flags and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hub {
    /// (setting, address as given, server).
    pub listeners: Vec<(&'static str, String, HubApi)>,
    pub dsn: String,
    pub target: Target,
    pub admin_auth: bool,
    pub mock_secrets: bool,
}

fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// builder-hub's configuration: a flag wins over its environment variable, which wins over the
/// default; a bool environment variable that does not parse is urfave/cli's error.
pub fn hub_config(args: &[String], env: Env) -> Result<Hub, Failure> {
    let parsed = cli::parse(Style::Urfave, "httpserver", "httpserver", &Spec::new(HUB_FLAGS), args, Positionals::Stop)?;
    let mut values = std::collections::BTreeMap::new();
    for (flag, vars, default) in HUB_SETTINGS {
        let from_env = vars.iter().find_map(|v| env(v).map(|value| (*v, value)));
        if let Some((var, value)) = &from_env
            && BOOL_SETTINGS.contains(flag)
            && go_bool(value.trim()).is_none()
        {
            return Err(fatal(&format!(
                "could not parse \"{value}\" as bool value from environment variable \"{var}\" for flag {flag}: strconv.ParseBool: parsing \"{value}\": invalid syntax"
            )));
        }
        let value = match parsed.flags.iter().rev().find(|(n, _)| n == flag) {
            Some((_, v)) => v.clone().unwrap_or("true".into()),
            None => from_env.map(|(_, v)| v.trim().to_string()).unwrap_or(default.to_string()),
        };
        values.insert(*flag, value);
    }
    let on = |flag: &str| go_bool(&values[flag]).unwrap_or(false);
    let dsn = values["postgres-dsn"].clone();
    let target = parse_dsn(&dsn).map_err(|e| fatal(&e))?;
    let listeners = [
        ("LISTEN_ADDR", "listen-addr", HubApi::Builder),
        ("ADMIN_ADDR", "admin-addr", HubApi::Admin),
        ("INTERNAL_ADDR", "internal-addr", HubApi::Internal),
        ("METRICS_ADDR", "metrics-addr", HubApi::Metrics),
    ]
    .into_iter()
    .map(|(name, flag, api)| (name, values[flag].clone(), api))
    .collect();
    Ok(Hub { listeners, dsn, target, admin_auth: !on("disable-admin-auth"), mock_secrets: on("mock-secrets") })
}

/// `log.Fatal(err)`: Go's log line (the stand-in's prefix and `log.Fatal` instead of the
/// date), exit 1.
fn fatal(message: &str) -> Failure {
    Failure::new(1, format!("bp-standin: builder-hub: log.Fatal: {message}"))
}

/// A lib/pq connection string: `postgres[ql]://user:password@host:port/db?sslmode=…` or
/// `key=value …`; lib/pq's defaults: localhost, 5432, sslmode=require.
pub fn parse_dsn(dsn: &str) -> Result<Target, String> {
    let mut t = Target {
        host: "localhost".into(),
        port: postgres::DEFAULT_PORT,
        user: "postgres".into(),
        password: None,
        database: String::new(),
        ssl: true,
        application: None,
    };
    let mut set = |key: &str, value: &str| -> Result<(), String> {
        match key {
            "host" => t.host = value.into(),
            "port" => t.port = value.parse().map_err(|_| format!("pq: invalid port {value:?}"))?,
            "user" => t.user = value.into(),
            "password" => t.password = Some(value.into()),
            "dbname" => t.database = value.into(),
            "sslmode" => t.ssl = !matches!(value, "disable" | "allow" | "prefer"),
            "application_name" => t.application = Some(value.into()),
            _ => {}
        }
        Ok(())
    };
    if let Some(rest) = dsn.strip_prefix("postgres://").or_else(|| dsn.strip_prefix("postgresql://")) {
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, db) = main.split_once('/').unwrap_or((main, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if let Some(u) = userinfo {
            let (user, password) = u.split_once(':').map_or((u, None), |(a, b)| (a, Some(b)));
            set("user", user)?;
            if let Some(p) = password {
                set("password", p)?;
            }
        }
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => (h, Some(p)),
            _ => (hostport, None),
        };
        if !host.is_empty() {
            set("host", host)?;
        }
        if let Some(p) = port {
            set("port", p)?;
        }
        if !db.is_empty() {
            set("dbname", db)?;
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            set(k, v)?;
        }
    } else if dsn.contains("://") {
        return Err(format!("pq: invalid connection protocol: {}", dsn.split("://").next().unwrap_or("")));
    } else {
        for pair in dsn.split_whitespace() {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("pq: missing \"=\" after {pair:?} in connection info string"))?;
            set(k, v.trim_matches('\''))?;
        }
    }
    if t.database.is_empty() {
        t.database = t.user.clone();
    }
    Ok(t)
}

/// The port Go's `net.Listen("tcp", addr)` would bind, or its error.
pub fn go_listen_port(addr: &str) -> Result<u16, String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!("listen tcp: address {addr}: missing port in address"));
    };
    let port: u16 = match port.parse::<u32>() {
        Ok(p) if p <= 65535 => p as u16,
        Ok(_) => return Err(format!("listen tcp: address {addr}: invalid port")),
        Err(_) => return Err(format!("listen tcp: lookup tcp/{port}: unknown port")),
    };
    let host = host.trim_matches(['[', ']']);
    if !host.is_empty() && host.parse::<std::net::IpAddr>().is_err() && host != "localhost" {
        (host, port).to_socket_addrs().map_err(|_| format!("listen tcp: lookup {host}: no such host"))?;
    }
    Ok(port)
}

/// One of builder-hub's servers answering a request (chi: an unknown path is 404).
pub fn hub_answer(api: HubApi, admin_auth: bool, r: &Request) -> RawReply {
    let json = |status, body: &str| (status, "application/json", body.as_bytes().to_vec());
    let not_found = ("404 Not Found", "text/plain; charset=utf-8", b"404 page not found\n".to_vec());
    let path = r.path.as_str();
    match api {
        HubApi::Builder => match path {
            "/livez" | "/readyz" => ("200 OK", "text/plain", Vec::new()),
            p if p.starts_with("/api/l1-builder/v1/") || p.starts_with("/api/internal/l1-builder/") => {
                json("200 OK", "[]")
            }
            _ => not_found,
        },
        HubApi::Admin if admin_auth && r.authorization.is_none() => {
            ("401 Unauthorized", "text/plain; charset=utf-8", b"Unauthorized\n".to_vec())
        }
        HubApi::Admin if path.starts_with("/api/admin/v1/") => json("200 OK", "{}"),
        HubApi::Internal
            if path == "/api/l1-builder/v1/measurements" || path.starts_with("/api/internal/l1-builder/") =>
        {
            json("200 OK", "[]")
        }
        HubApi::Metrics if path == "/metrics" => {
            ("200 OK", "text/plain; version=0.0.4", b"# bp-standin: builder-hub metrics\n".to_vec())
        }
        _ => not_found,
    }
}

fn start_builder_hub(args: &[String], env: Env) -> Result<Run, Failure> {
    let hub = hub_config(args, env)?;
    println!("level=INFO msg=\"starting builder-hub\" version=bp-standin");
    if !hub.admin_auth {
        println!("level=WARN msg=\"ADMIN AUTH DISABLED! DO NOT USE IN PRODUCTION\" flag=--disable-admin-auth");
    }
    let target = hub.target.clone();
    let shown = format!("{}@{}:{}/{}", target.user, target.host, target.port, target.database);
    // sqlx.Connect: open and ping; the stand-in retries for the usual peer timeout.
    let reached = contract::retry(contract::peer_timeout(), Duration::from_millis(500), || {
        match postgres::connect(&target, Duration::from_secs(5)) {
            Connect::Ready(version) => Attempt::Ok(format!("connected, server_version {version}")),
            Connect::Refused { message, .. } => Attempt::Refused(format!("pq: {message}")),
            Connect::Unreachable(why) => Attempt::NotYet(why),
        }
    });
    let line = match reached {
        Ok(line) => line,
        Err(e) => {
            println!("level=ERROR msg=\"failed to create database\" err={e:?}");
            return Err(fatal(&e));
        }
    };
    println!("bp-standin: builder-hub: peer POSTGRES_DSN {shown}: {line}");
    if hub.mock_secrets {
        println!("level=INFO msg=\"using mock secrets storage\"");
    }
    let mut bound = Vec::new();
    for (name, addr, api) in &hub.listeners {
        let listener = go_listen_port(addr).and_then(|port| {
            TcpListener::bind(("0.0.0.0", port)).map(|l| (port, l)).map_err(|e| {
                let why =
                    if e.kind() == io::ErrorKind::AddrInUse { "address already in use".into() } else { e.to_string() };
                format!("listen tcp {addr}: bind: {why}")
            })
        });
        match listener {
            Ok((port, l)) => {
                println!("level=INFO msg=\"Starting HTTP server\" server={name} listenAddress={addr}");
                let (api, auth) = (*api, hub.admin_auth);
                std::thread::spawn(move || http::serve_raw(l, Arc::new(move |r: &Request| hub_answer(api, auth, r))));
                bound.push(port);
            }
            // builder-hub's servers run in goroutines that only log their error.
            Err(e) => println!("level=ERROR msg=\"HTTP server failed\" server={name} err={e:?}"),
        }
    }
    println!("bp-standin: builder-hub: listening on tcp ports {bound:?}");
    if bound.len() == hub.listeners.len() {
        println!(
            "bp-standin: builder-hub: contract satisfied: env, listening on {bound:?}, peers POSTGRES_DSN {shown}"
        );
    }
    Ok(Run::Serve)
}

// ---------------------------------------------------------------------------------------------
// nginx (builder-hub-mock-proxy)

/// Where nginx's image keeps its sites (the stand-in reads only these, not nginx.conf).
const NGINX_SITES: &str = "/etc/nginx/conf.d";

/// A site: the ports it listens on and the upstream it proxies to, with the file and line of
/// `proxy_pass`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub listen: Vec<u16>,
    pub upstream: Option<(String, String, usize)>,
}

/// `listen` and `proxy_pass` directives of the `.conf` files in `dir`.
pub fn nginx_sites(dir: &Path) -> Result<Site, String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("nginx: [emerg] open() \"{}\" failed ({e})", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    entries.sort();
    let mut site = Site { listen: Vec::new(), upstream: None };
    for path in entries {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("nginx: [emerg] open() \"{}\" failed ({e})", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let words: Vec<&str> = line.trim().trim_end_matches(';').split_whitespace().collect();
            match words.as_slice() {
                ["listen", addr, ..] => {
                    let port = addr.rsplit(':').next().unwrap_or(addr);
                    let port = port.parse().map_err(|_| {
                        format!(
                            "nginx: [emerg] invalid port in \"{addr}\" of the \"listen\" directive in {}:{}",
                            path.display(),
                            i + 1
                        )
                    })?;
                    site.listen.push(port);
                }
                ["proxy_pass", url] => site.upstream = Some((url.to_string(), path.display().to_string(), i + 1)),
                _ => {}
            }
        }
    }
    Ok(site)
}

/// A status code as a status line (what the proxy passes on).
fn status_line(code: u16) -> &'static str {
    match code {
        200 => "200 OK",
        201 => "201 Created",
        204 => "204 No Content",
        301 => "301 Moved Permanently",
        302 => "302 Found",
        304 => "304 Not Modified",
        400 => "400 Bad Request",
        401 => "401 Unauthorized",
        403 => "403 Forbidden",
        404 => "404 Not Found",
        405 => "405 Method Not Allowed",
        500 => "500 Internal Server Error",
        503 => "503 Service Unavailable",
        _ => "502 Bad Gateway",
    }
}

fn start_nginx(args: &[String], sites: &Path, env: Env) -> Result<Run, Failure> {
    let parsed = cli::parse(
        Style::GoFlag,
        "nginx",
        "nginx",
        &Spec::new(&["h/help v V t T q s= p= e= c= g="]),
        args,
        Positionals::Stop,
    )
    .map_err(|_| Failure::new(1, format!("nginx: invalid option: \"{}\"", args.join(" "))))?;
    if let Some(extra) = parsed.positionals.first() {
        return Err(Failure::new(1, format!("nginx: invalid option: \"{extra}\"")));
    }
    let site = nginx_sites(sites).map_err(|e| Failure::new(1, e))?;
    let Some((upstream, file, line)) = site.upstream.clone() else {
        return Err(Failure::new(1, format!("bp-standin: nginx: no proxy_pass in {}", sites.display())));
    };
    let url = http::parse_url(&upstream)
        .map_err(|e| Failure::new(1, format!("nginx: [emerg] invalid URL prefix in {file}:{line}: {e}")))?;
    // nginx resolves an upstream's host when it reads its configuration.
    if http::resolve(&url.host, url.port).is_err() {
        return Err(Failure::new(
            1,
            format!("nginx: [emerg] host not found in upstream \"{}:{}\" in {file}:{line}", url.host, url.port),
        ));
    }
    if let Some(target) = env("TARGET") {
        println!(
            "bp-standin: nginx: note: TARGET={target} is not read by this image: its site ({file}) proxies to {upstream}"
        );
    }
    let listeners = crate::bind("nginx", &site.listen);
    let reached = Arc::new(AtomicBool::new(false));
    for (_, listener) in listeners {
        let (url, reached) = (url.clone(), reached.clone());
        let handler = Arc::new(move |r: &Request| -> RawReply {
            let body = (!r.body.is_empty()).then(|| String::from_utf8_lossy(&r.body).into_owned());
            match http::request(
                &url,
                &r.method,
                &r.path,
                body.as_deref(),
                r.authorization.as_deref(),
                Duration::from_secs(30),
            ) {
                Ok(answer) => {
                    reached.store(true, Ordering::SeqCst);
                    (status_line(answer.status), "application/json", answer.body.into_bytes())
                }
                Err(e) => {
                    println!("bp-standin: nginx: [error] {e} while connecting to upstream, upstream: \"{url}\"");
                    ("502 Bad Gateway", "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>\n".to_vec())
                }
            }
        });
        std::thread::spawn(move || http::serve_raw(listener, handler));
    }
    let ports = site.listen.clone();
    std::thread::spawn(move || {
        let peer = contract::retry(contract::peer_timeout(), Duration::from_millis(500), || {
            match http::request(&url, "GET", "/", None, None, Duration::from_secs(5)) {
                Ok(r) => Attempt::Ok(format!("HTTP {} (any answer counts)", r.status)),
                Err(e) => Attempt::NotYet(format!("connect() failed ({e}) while connecting to upstream")),
            }
        });
        match peer {
            Ok(line) => {
                println!("bp-standin: nginx: peer proxy_pass {url}: {line}");
                println!("bp-standin: nginx: contract satisfied: site {file}, listening on {ports:?}, upstream {url}");
            }
            Err(e) => {
                eprintln!("bp-standin: nginx: proxy_pass {url}: {e}");
                std::process::exit(1);
            }
        }
    });
    Ok(Run::Serve)
}

// ---------------------------------------------------------------------------------------------
// caddy

/// `caddy file-server`'s flags (caddy v2's `modules/caddyhttp/fileserver/command.go`, cobra;
/// `--reveal-symlinks`, `--no-compress` and `--file-limit` of later 2.x releases too).
const FILE_SERVER: &[&str] = &["h/help d/domain= r/root= l/listen= b/browse t/templates a/access-log v/debug \
    p/precompressed= reveal-symlinks no-compress file-limit="];

/// `caddy run`'s flags.
const RUN: &[&str] = &["h/help c/config= a/adapter= environ envfile= resume w/watch pidfile= pingback="];

/// `caddy file-server`: where it serves from and on which port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileServer {
    pub root: PathBuf,
    pub port: u16,
    pub browse: bool,
}

pub fn file_server(args: &[String], files: &mut Files) -> Result<FileServer, Failure> {
    let parsed = cli::parse(
        Style::Cobra,
        "caddy",
        "caddy file-server",
        &Spec::new(FILE_SERVER),
        args,
        Positionals::Interspersed,
    )?;
    if let Some(extra) = parsed.positionals.first() {
        return Err(Failure::new(1, format!("Error: unknown command \"{extra}\" for \"caddy file-server\"")));
    }
    let root = parsed.value("root").filter(|r| !r.is_empty()).unwrap_or(".");
    files.check("root", root, files::readable_dir, |reason| {
        Failure::new(1, format!("bp-standin: caddy: --root {root}: {reason}"))
    })?;
    let default_listen = if parsed.value("domain").is_some_and(|d| !d.is_empty()) { ":443" } else { ":80" };
    let listen = parsed.value("listen").filter(|l| !l.is_empty()).unwrap_or(default_listen);
    let port = listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .ok_or_else(|| Failure::new(1, format!("Error: loading new config: http app module: start: listening on {listen}: parsing network address: missing port in address")))?;
    Ok(FileServer { root: PathBuf::from(root), port, browse: parsed.on("browse") })
}

/// `caddy run --config FILE`: a file it cannot read is caddy's error; with one it can, the
/// stand-in does not interpret it (`None`: the generic stand-in).
fn caddy_run(args: &[String]) -> Option<Failure> {
    let parsed = match cli::parse(Style::Cobra, "caddy", "caddy run", &Spec::new(RUN), args, Positionals::Interspersed)
    {
        Ok(p) => p,
        Err(f) => return Some(f),
    };
    let config = parsed.value("config")?;
    std::fs::read(config).err().map(|e| {
        let why = if e.kind() == io::ErrorKind::NotFound { "no such file or directory".into() } else { e.to_string() };
        Failure::new(1, format!("Error: reading config from file: open {config}: {why}"))
    })
}

/// The answer to a GET under `root`: a file's bytes, a directory's `index.html` or (with
/// `browse`) its listing, else 404.
pub fn serve_file(root: &Path, browse: bool, path: &str) -> RawReply {
    let not_found = ("404 Not Found", "text/plain", Vec::new());
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return not_found;
    }
    let full = root.join(rel);
    if full.is_dir() {
        let index = full.join("index.html");
        if index.is_file() {
            return std::fs::read(&index).map_or(not_found.clone(), |b| ("200 OK", "text/html; charset=utf-8", b));
        }
        if !browse {
            return not_found;
        }
        let Ok(entries) = std::fs::read_dir(&full) else { return not_found };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir() { format!("{name}/") } else { name }
            })
            .collect();
        names.sort();
        let base = if path.ends_with('/') { path.to_string() } else { format!("{path}/") };
        let items: String = names.iter().map(|n| format!("<li><a href=\"{base}{n}\">{n}</a></li>\n")).collect();
        let html = format!(
            "<!DOCTYPE html>\n<html><head><title>{path}</title></head><body>\n<ul>\n{items}</ul>\n</body></html>\n"
        );
        return ("200 OK", "text/html; charset=utf-8", html.into_bytes());
    }
    match std::fs::read(&full) {
        Ok(bytes) => {
            let kind = match full.extension().and_then(|e| e.to_str()) {
                Some("json") => "application/json",
                Some("html") => "text/html; charset=utf-8",
                Some("txt" | "yaml" | "yml") => "text/plain; charset=utf-8",
                _ => "application/octet-stream",
            };
            ("200 OK", kind, bytes)
        }
        Err(_) => not_found,
    }
}

fn start_file_server(args: &[String], warn: bool) -> Result<Run, Failure> {
    let mut files = Files::new("caddy", warn);
    let server = file_server(args, &mut files)?;
    for line in &files.seen {
        println!("bp-standin: caddy: file {line}");
    }
    let listeners = crate::bind("caddy", &[server.port]);
    println!("bp-standin: caddy: serving static files from {} on :{}", server.root.display(), server.port);
    let served = Arc::new(Mutex::new(BTreeSet::new()));
    for (_, listener) in listeners {
        let (root, browse, served) = (server.root.clone(), server.browse, served.clone());
        let handler = Arc::new(move |r: &Request| -> RawReply {
            let reply = serve_file(&root, browse, &r.path);
            if served.lock().unwrap().insert(r.path.clone()) {
                println!("bp-standin: caddy: {} {}: {} ({} bytes)", r.method, r.path, reply.0, reply.2.len());
            }
            reply
        });
        std::thread::spawn(move || http::serve_raw(listener, handler));
    }
    println!(
        "bp-standin: caddy: contract satisfied: flags, {} files ({} warnings), listening on [{}]",
        files.seen.len(),
        files.warnings.len(),
        server.port
    );
    Ok(Run::Serve)
}

// ---------------------------------------------------------------------------------------------
// curl

/// `curl [options] URL…`: fetches each URL; exit code as curl's.
pub fn curl(args: &[String], out: &mut dyn io::Write, err: &mut dyn io::Write) -> i32 {
    let spec = Spec::new(&["h/help f/fail s/silent S/show-error L/location I/head k/insecure v/verbose i/include \
         o/output= X/request= H/header= d/data= m/max-time= connect-timeout= w/write-out= u/user= A/user-agent= \
         retry= retry-delay= fail-with-body"]);
    let parsed = match cli::parse(Style::Cobra, "curl", "curl", &spec, args, Positionals::Interspersed) {
        Ok(p) => p,
        Err(f) => {
            let bad = f.message.lines().next().unwrap_or("").trim_start_matches("Error: unknown flag: ").to_string();
            let _ = writeln!(err, "curl: option {bad}: is unknown\ncurl: try 'curl --help' for more information");
            return 2;
        }
    };
    if parsed.positionals.is_empty() {
        let _ = writeln!(err, "curl: no URL specified!");
        return 2;
    }
    let method = parsed.value("request").unwrap_or(if parsed.on("head") { "HEAD" } else { "GET" }).to_string();
    let timeout = parsed.value("max-time").and_then(|t| t.parse::<f64>().ok()).unwrap_or(30.0);
    let mut code = 0;
    for raw in &parsed.positionals {
        let with_scheme = if raw.contains("://") { raw.clone() } else { format!("http://{raw}") };
        let url = match http::parse_url(&with_scheme) {
            Ok(u) => u,
            Err(_) => {
                let _ = writeln!(err, "curl: (1) Protocol \"{}\" not supported", raw.split("://").next().unwrap_or(""));
                code = 1;
                continue;
            }
        };
        match http::request(&url, &method, &url.path, parsed.value("data"), None, Duration::from_secs_f64(timeout)) {
            Ok(r) if r.status >= 400 && parsed.on("fail") => {
                let _ = writeln!(err, "curl: (22) The requested URL returned error: {}", r.status);
                code = 22;
            }
            Ok(r) => {
                let _ = out.write_all(r.body.as_bytes());
            }
            Err(http::ClientError::Resolve(_)) => {
                let _ = writeln!(err, "curl: (6) Could not resolve host: {}", url.host);
                code = 6;
            }
            Err(http::ClientError::Connect(_)) => {
                let _ = writeln!(
                    err,
                    "curl: (7) Failed to connect to {} port {} after 0 ms: Couldn't connect to server",
                    url.host, url.port
                );
                code = 7;
            }
            Err(e) => {
                let _ = writeln!(err, "curl: (56) Recv failure: {e}");
                code = 56;
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bp-standin-bn-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// builder-hub-api's environment in the rendered buildernet Pod.
    const BN_HUB: &[(&str, &str)] = &[
        ("ADMIN_ADDR", "0.0.0.0:8081"),
        ("ALLOW_EMPTY_MEASUREMENTS", "1"),
        ("DISABLE_ADMIN_AUTH", "1"),
        ("INTERNAL_ADDR", "0.0.0.0:8082"),
        ("LISTEN_ADDR", "0.0.0.0:8080"),
        ("METRICS_ADDR", "0.0.0.0:8090"),
        ("MOCK_SECRETS", "true"),
        ("POSTGRES_DSN", "postgres://postgres:postgres@localhost:5432/postgres?sslmode=disable"),
    ];

    fn env_with(over: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| over.iter().chain(BN_HUB).find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn builder_hub_reads_its_environment() {
        let hub = hub_config(&[], &env_with(&[])).unwrap();
        let addrs: Vec<(&str, &str)> = hub.listeners.iter().map(|(n, a, _)| (*n, a.as_str())).collect();
        assert_eq!(
            addrs,
            [
                ("LISTEN_ADDR", "0.0.0.0:8080"),
                ("ADMIN_ADDR", "0.0.0.0:8081"),
                ("INTERNAL_ADDR", "0.0.0.0:8082"),
                ("METRICS_ADDR", "0.0.0.0:8090")
            ]
        );
        assert!(!hub.admin_auth && hub.mock_secrets);
        assert_eq!(
            hub.target,
            Target {
                host: "localhost".into(),
                port: 5432,
                user: "postgres".into(),
                password: Some("postgres".into()),
                database: "postgres".into(),
                ssl: false,
                application: None
            }
        );
        // A flag wins over the environment; defaults without either.
        let hub = hub_config(&args(&["--listen-addr", ":9999"]), &|_: &str| None).unwrap();
        assert_eq!(hub.listeners[0].1, ":9999");
        assert_eq!(hub.listeners[1].1, "127.0.0.1:8081");
        assert!(hub.admin_auth && !hub.target.ssl, "the default DSN has sslmode=disable");
        // urfave/cli's errors.
        let f = hub_config(&[], &env_with(&[("MOCK_SECRETS", "yes")])).unwrap_err();
        assert_eq!(
            f.message,
            "bp-standin: builder-hub: log.Fatal: could not parse \"yes\" as bool value from environment variable \"MOCK_SECRETS\" for flag mock-secrets: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        let f = hub_config(&args(&["--foo"]), &env_with(&[])).unwrap_err();
        assert_eq!(
            (f.code, f.message.lines().next().unwrap()),
            (1, "Incorrect Usage: flag provided but not defined: -foo")
        );
        // Go's net.Listen on bad addresses.
        assert_eq!(go_listen_port("0.0.0.0:8080"), Ok(8080));
        assert_eq!(go_listen_port(":8080"), Ok(8080));
        assert_eq!(go_listen_port("8080").unwrap_err(), "listen tcp: address 8080: missing port in address");
        assert_eq!(go_listen_port("0.0.0.0:http-alt").unwrap_err(), "listen tcp: lookup tcp/http-alt: unknown port");
        assert_eq!(go_listen_port("0.0.0.0:70000").unwrap_err(), "listen tcp: address 0.0.0.0:70000: invalid port");
    }

    #[test]
    fn dsns_as_lib_pq_reads_them() {
        let t =
            parse_dsn("postgresql://hub:s3cret@builder-hub-db:6543/hubdb?sslmode=require&application_name=x").unwrap();
        assert_eq!(
            (t.user.as_str(), t.password.as_deref(), t.host.as_str(), t.port, t.database.as_str(), t.ssl),
            ("hub", Some("s3cret"), "builder-hub-db", 6543, "hubdb", true)
        );
        let t = parse_dsn("host=db port=5433 user=u dbname=d sslmode=disable").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_str(), t.database.as_str(), t.ssl),
            ("db", 5433, "u", "d", false)
        );
        assert_eq!(parse_dsn("postgres://u@h").unwrap().database, "u");
        assert!(parse_dsn("mysql://x").unwrap_err().contains("invalid connection protocol"));
        assert!(parse_dsn("postgres://u@h:port/d").is_err());
    }

    #[test]
    fn builder_hub_routes_as_v0_3_1() {
        let get = |api, auth, path: &str| {
            hub_answer(api, auth, &Request { method: "GET".into(), path: path.into(), ..Request::default() }).0
        };
        assert_eq!(get(HubApi::Builder, false, "/readyz"), "200 OK");
        assert_eq!(get(HubApi::Builder, false, "/livez"), "200 OK");
        assert_eq!(get(HubApi::Builder, false, "/"), "404 Not Found");
        // /readyz is the builder API's: the admin server has none.
        assert_eq!(get(HubApi::Admin, false, "/readyz"), "404 Not Found");
        assert_eq!(get(HubApi::Admin, false, "/api/admin/v1/builders"), "200 OK");
        assert_eq!(get(HubApi::Admin, true, "/api/admin/v1/builders"), "401 Unauthorized");
        assert_eq!(get(HubApi::Internal, false, "/api/internal/l1-builder/v1/builders"), "200 OK");
        assert_eq!(get(HubApi::Metrics, false, "/metrics"), "200 OK");
    }

    #[test]
    fn builder_hub_fails_on_the_databases_refusal() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = postgres::Server {
            user: "postgres".into(),
            password: Some("postgres".into()),
            databases: vec!["postgres".into()],
            host_auth: "trust".into(),
            port,
        };
        std::thread::spawn(move || postgres::serve(listener, Arc::new(server)));
        let dsn = |db: &str| format!("postgres://postgres:postgres@localhost:{port}/{db}?sslmode=disable");
        let hub = parse_dsn(&dsn("postgres")).unwrap();
        assert_eq!(postgres::connect(&hub, Duration::from_secs(5)), Connect::Ready("15.10 (bp-standin)".into()));
        let wrong = parse_dsn(&dsn("builderhub")).unwrap();
        assert_eq!(
            postgres::connect(&wrong, Duration::from_secs(5)),
            Connect::Refused { code: "3D000".into(), message: "database \"builderhub\" does not exist".into() }
        );
        let ssl = parse_dsn(&format!("postgres://postgres@localhost:{port}/postgres")).unwrap();
        assert!(
            matches!(postgres::connect(&ssl, Duration::from_secs(5)), Connect::Refused { message, .. } if message == "SSL is not enabled on the server")
        );
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let none = parse_dsn(&format!("postgres://postgres@localhost:{closed}/postgres?sslmode=disable")).unwrap();
        assert_eq!(
            postgres::connect(&none, Duration::from_secs(5)),
            Connect::Unreachable(format!("dial tcp 127.0.0.1:{closed}: connect: connection refused"))
        );
    }

    #[test]
    fn caddy_file_server_flags_and_files() {
        let root = tmp("caddy");
        std::fs::write(root.join("genesis.json"), b"{\"config\":{}}").unwrap();
        std::fs::create_dir_all(root.join("testnet")).unwrap();
        std::fs::write(root.join("testnet/genesis.ssz"), [0u8, 159, 255]).unwrap();
        let r = root.display().to_string();
        let mut files = Files::new("caddy", false);
        let fs = file_server(&args(&["--root", &r, "--listen", ":8100", "--browse"]), &mut files).unwrap();
        assert_eq!(fs, FileServer { root: root.clone(), port: 8100, browse: true });
        assert_eq!(files.seen, [format!("--root {r}: readable directory (2 entries)")]);
        // Short forms, defaults.
        let fs = file_server(&args(&["-r", &r, "-b"]), &mut files).unwrap();
        assert_eq!((fs.port, fs.browse), (80, true));
        assert_eq!(file_server(&args(&["-r", &r, "--domain", "x.test"]), &mut files).unwrap().port, 443);
        for ok in
            [&["--templates", "--access-log", "--precompressed", "gzip", "--reveal-symlinks"][..], &["-v", "-t", "-a"]]
        {
            let mut a = args(&["--root", &r]);
            a.extend(args(ok));
            assert!(file_server(&a, &mut files).is_ok(), "{ok:?}");
        }
        // caddy's (cobra's) refusal of an unknown flag.
        let f = file_server(&args(&["--root", &r, "--foo"]), &mut files).unwrap_err();
        assert_eq!((f.code, f.message.lines().next().unwrap()), (1, "Error: unknown flag: --foo"));
        // A root that is not there: a failure, or a warning in warn mode.
        let missing = format!("{r}/nope");
        let f = file_server(&args(&["--root", &missing]), &mut files).unwrap_err();
        assert_eq!(f.message, format!("bp-standin: caddy: --root {missing}: no such directory"));
        let mut lenient = Files::new("caddy", true);
        assert!(file_server(&args(&["--root", &missing]), &mut lenient).is_ok());
        assert_eq!(lenient.warnings.len(), 1);
        // What it serves: the files' bytes, a listing with --browse, 404 otherwise.
        let (status, kind, body) = serve_file(&root, true, "/genesis.json");
        assert_eq!((status, kind, body.as_slice()), ("200 OK", "application/json", &b"{\"config\":{}}"[..]));
        assert_eq!(serve_file(&root, true, "/testnet/genesis.ssz").2, [0u8, 159, 255]);
        let listing = String::from_utf8(serve_file(&root, true, "/").2).unwrap();
        assert!(listing.contains("href=\"/genesis.json\"") && listing.contains("href=\"/testnet/\""), "{listing}");
        assert_eq!(serve_file(&root, false, "/").0, "404 Not Found");
        assert_eq!(serve_file(&root, true, "/../etc/passwd").0, "404 Not Found");
        assert_eq!(serve_file(&root, true, "/missing").0, "404 Not Found");
        // caddy run with a config file it cannot read.
        let f = caddy_run(&args(&["--config", "/nonexistent/Caddyfile", "--adapter", "caddyfile"])).unwrap();
        assert_eq!(
            (f.code, f.message.as_str()),
            (1, "Error: reading config from file: open /nonexistent/Caddyfile: no such file or directory")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_mock_proxys_site_and_proxying() {
        let dir = tmp("nginx");
        std::fs::write(dir.join("default.conf"), crate_conf()).unwrap();
        let site = nginx_sites(&dir).unwrap();
        assert_eq!(site.listen, [80, 8888]);
        let (url, file, line) = site.upstream.unwrap();
        assert_eq!((url.as_str(), line), ("http://builder-hub-api:8080", 6));
        assert!(file.ends_with("default.conf"));
        std::fs::write(dir.join("default.conf"), "server {\n listen x;\n}\n").unwrap();
        assert!(nginx_sites(&dir).unwrap_err().contains("invalid port in \"x\""));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(status_line(404), "404 Not Found");
        assert_eq!(status_line(418), "502 Bad Gateway");
    }

    /// The site of the mock proxy's image (e2e/src/images/mod.rs), read from there.
    fn crate_conf() -> String {
        let source = include_str!("../../images/mod.rs");
        let start = source.find("pub const NGINX_MOCK_PROXY_CONF: &str = \"").unwrap() + 41;
        let end = start + source[start..].find("\";").unwrap();
        source[start..end].replace("\\n", "\n").replace("\\\n", "")
    }

    #[test]
    fn curl_exit_codes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            http::serve_raw(
                listener,
                Arc::new(|r: &Request| {
                    if r.path == "/missing" {
                        ("404 Not Found", "text/plain", b"nope".to_vec())
                    } else {
                        ("200 OK", "text/plain", b"hi".to_vec())
                    }
                }),
            )
        });
        let run = |a: &[&str]| {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = curl(&args(a), &mut out, &mut err);
            (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
        };
        let base = format!("http://127.0.0.1:{port}");
        assert_eq!(run(&[&base]), (0, "hi".into(), String::new()));
        // Any answer counts, unless --fail.
        assert_eq!(run(&[&format!("{base}/missing")]).0, 0);
        let (code, _, err) = run(&["-f", &format!("{base}/missing")]);
        assert_eq!((code, err.as_str()), (22, "curl: (22) The requested URL returned error: 404\n"));
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert_eq!(run(&[&format!("http://127.0.0.1:{closed}")]).0, 7);
        // builder-playground's ready-check sidecars run `sleep infinity` as arguments of curl.
        assert_eq!(run(&["sleep.invalid"]).0, 6);
        assert_eq!(run(&[]).0, 2);
        assert_eq!(run(&["--bogus", &base]).2.lines().next().unwrap(), "curl: option --bogus: is unknown");
    }

    #[test]
    fn only_buildernets_programs_are_taken() {
        assert!(start("reth", &args(&["node"]), false).is_none());
        assert!(start("caddy", &args(&["version"]), false).is_none());
        assert!(start("caddy", &args(&["run"]), false).is_none(), "no config: the generic stand-in");
        let f = start("caddy", &args(&["run", "--config", "/nonexistent"]), false).unwrap().unwrap_err();
        assert_eq!(f.code, 1);
    }
}
