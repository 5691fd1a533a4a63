//! HTTP/1.1 both ways: the server behind every listener (a [`Handler`] per port decides the
//! answers) and the small client the stand-ins reach their peers with.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::json;

/// A request as a handler sees it.
#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

/// Status line (`"200 OK"`) and JSON body.
pub type Reply = (&'static str, String);

pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// Status line, Content-Type and body bytes (files).
pub type RawReply = (&'static str, &'static str, Vec<u8>);

pub type RawHandler = Arc<dyn Fn(&Request) -> RawReply + Send + Sync>;

/// The answer of a stand-in without a contract: [`respond`] to everything.
pub fn generic_handler() -> Handler {
    Arc::new(|r: &Request| respond(&r.method, &r.body))
}

pub fn serve(listener: TcpListener, handler: Handler) {
    serve_raw(
        listener,
        Arc::new(move |r: &Request| {
            let (status, body) = handler(r);
            (status, "application/json", body.into_bytes())
        }),
    )
}

/// [`serve`] with a handler that gives the content type and the body's bytes.
pub fn serve_raw(listener: TcpListener, handler: RawHandler) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let _ = handle(stream, &*handler);
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
fn handle(mut stream: TcpStream, handler: &(dyn Fn(&Request) -> RawReply + Send + Sync)) -> io::Result<()> {
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
        let target = parts.next().unwrap_or_default();
        let path = target.split('?').next().unwrap_or_default().to_string();
        let version = parts.next().unwrap_or_default();
        let mut authorization = None;
        let mut content_length = 0usize;
        let mut close = version == "HTTP/1.0";
        let mut chunked = false;
        for line in lines {
            let Some((key, value)) = line.split_once(':') else { continue };
            if key.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
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
        let (status, content_type, payload) = handler(&Request { method: method.clone(), path, authorization, body });
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
            payload.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        stream.write_all(response.as_bytes())?;
        if method != "HEAD" {
            stream.write_all(&payload)?;
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
pub fn respond(method: &str, body: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if method == "POST" && !text.is_empty() {
        return match json_rpc_reply(text, &|method| {
            if method == "eth_syncing" { "false".into() } else { "\"0x0\"".into() }
        }) {
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

/// The reply to a JSON-RPC request or batch, echoing each `id` as it was written; `result`
/// gives each method's result as JSON text.
pub fn json_rpc_reply(text: &str, result: &dyn Fn(&str) -> String) -> Option<String> {
    let value = json::parse(text)?;
    let reply = |call: &json::Value| -> String {
        let id = call.member("id").map(|v| v.raw.as_str()).unwrap_or("null");
        let method = call.member("method").and_then(|m| m.string()).unwrap_or_default();
        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{}}}"#, result(method))
    };
    match &value.kind {
        json::Kind::Object(_) => Some(reply(&value)),
        json::Kind::Array(calls) => Some(format!("[{}]", calls.iter().map(reply).collect::<Vec<_>>().join(","))),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Client

/// An `http://` URL as the clients are given it (`http://localhost:8551`,
/// `http://0xabc@localhost:5555` with a relay's public key as user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// The path, `/` when the URL has none.
    pub path: String,
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

pub fn parse_url(url: &str) -> Result<Url, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("{url:?} has no valid port"))?),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(Url { host: host.trim_matches(['[', ']']).to_string(), port, path: path.to_string() })
}

/// A peer's answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum ClientError {
    /// The host name does not resolve.
    Resolve(String),
    /// Nothing accepted the connection (the usual "connection refused").
    Connect(io::Error),
    /// The connection broke or what came back was not HTTP.
    Exchange(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Resolve(e) => write!(f, "{e}"),
            ClientError::Connect(e) => write!(f, "{e}"),
            ClientError::Exchange(e) => write!(f, "{e}"),
        }
    }
}

/// The socket addresses of a URL's host (`localhost` without a resolver).
pub fn resolve(host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, ClientError> {
    if host == "localhost" {
        return Ok(vec![([127, 0, 0, 1], port).into()]);
    }
    (host, port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|e| ClientError::Resolve(format!("lookup {host}: {e}")))
}

/// One HTTP/1.1 request (`Connection: close`) with a JSON body when given.
pub fn request(
    url: &Url,
    method: &str,
    path: &str,
    body: Option<&str>,
    authorization: Option<&str>,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let addrs = resolve(&url.host, url.port)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or(ClientError::Connect(last))?;
    let exchange = |e: io::Error| ClientError::Exchange(e.to_string());
    stream.set_read_timeout(Some(timeout)).map_err(exchange)?;
    stream.set_write_timeout(Some(timeout)).map_err(exchange)?;
    let body = body.unwrap_or("");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n", url.host, url.port);
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    if let Some(auth) = authorization {
        head.push_str(&format!("Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body.as_bytes())).map_err(exchange)?;
    let mut buf = Vec::new();
    let mut want: Option<usize> = None;
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let total = *want.get_or_insert_with(|| {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .split("\r\n")
                    .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()));
                length.map_or(usize::MAX, |l| end + 4 + l)
            });
            if buf.len() >= total {
                break;
            }
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(exchange(e)),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|t| t.get(2..5))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ClientError::Exchange("the answer is not HTTP".into()))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok(Response { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        std::thread::spawn(move || serve(listener, generic_handler()));
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

    #[test]
    fn urls_of_peers_parse() {
        let u = parse_url("http://localhost:8551").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("localhost", 8551, "/"));
        let u = parse_url("http://0xafa4c6985aa049fb79dd37010438cfebeb0f2bd42b115b89dd678dab0670c1de38da0c4e9138c9290a398ecd9a0b3110@localhost:5555/x").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("localhost", 5555, "/x"));
        assert_eq!(parse_url("http://el").unwrap().port, 80);
        assert!(parse_url("ws://localhost:8546").is_err());
        assert!(parse_url("http://localhost:port").is_err());
    }

    #[test]
    fn the_client_talks_to_the_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handler: Handler = Arc::new(|r: &Request| {
            (
                "401 Unauthorized",
                format!(r#"{{"path":"{}","auth":"{}"}}"#, r.path, r.authorization.clone().unwrap_or_default()),
            )
        });
        std::thread::spawn(move || serve(listener, handler));
        let url = parse_url(&format!("http://localhost:{port}")).unwrap();
        let r =
            request(&url, "GET", "/eth/v1/node/health?x=1", None, Some("Bearer t"), Duration::from_secs(5)).unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.body, r#"{"path":"/eth/v1/node/health","auth":"Bearer t"}"#);
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = parse_url(&format!("http://127.0.0.1:{closed}")).unwrap();
        let err = request(&url, "POST", "/", Some("{}"), None, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, ClientError::Connect(ref e) if e.kind() == io::ErrorKind::ConnectionRefused), "{err:?}");
    }
}
