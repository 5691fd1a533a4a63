//! A minimal blocking HTTP/1.1 GET, enough for kubelet-style probes (which only look at the
//! status code). Blocking on purpose: probes run on a dedicated thread that may have
//! entered a Pod's network namespace.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Connects to `host:port` within `timeout`.
pub fn connect(host: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last = std::io::Error::other(format!("no address for {host}"));
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Sends `GET path` on `stream` and returns the response status code.
pub fn get_status(
    mut stream: TcpStream,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> std::io::Result<u16> {
    let deadline = Instant::now() + timeout;
    stream.set_write_timeout(Some(timeout))?;
    let path = if path.is_empty() { "/" } else { path };
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !has("host") {
        req.push_str(&format!("Host: {host}:{port}\r\n"));
    }
    if !has("user-agent") {
        req.push_str("User-Agent: kube-probe/bp-e2e\r\n");
    }
    if !has("accept") {
        req.push_str("Accept: */*\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes())?;

    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    loop {
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            return parse_status_line(&buf[..end]);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "timeout awaiting response headers"));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a status line",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 8192 {
            return Err(std::io::Error::other("status line too long"));
        }
    }
}

fn parse_status_line(line: &[u8]) -> std::io::Result<u16> {
    let line = String::from_utf8_lossy(line);
    let mut it = line.split_whitespace();
    match (it.next(), it.next().and_then(|c| c.parse::<u16>().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(std::io::Error::other(format!("malformed status line {:?}", line.trim()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content\r").unwrap(), 204);
        assert!(parse_status_line(b"garbage").is_err());
    }

    #[test]
    fn gets_status_from_a_server() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b).unwrap();
            s.write_all(b"HTTP/1.1 503 Nope\r\nContent-Length: 0\r\n\r\n").unwrap();
        });
        let s = connect("127.0.0.1", port, Duration::from_secs(1)).unwrap();
        let code = get_status(s, "127.0.0.1", port, "/x", &[], Duration::from_secs(2)).unwrap();
        assert_eq!(code, 503);
    }
}
