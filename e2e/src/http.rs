//! A plain HTTP/1.1 client for loopback test servers (Prometheus, the operator's metrics and
//! health), with no dependency beyond tokio: the tests that run them share it.

use std::net::SocketAddr;
use std::time::Duration;

/// A plain HTTP/1.1 request on loopback without a body: (status code, body).
pub async fn request(addr: SocketAddr, method: &str, path: &str) -> Result<(u16, String), String> {
    send(addr, method, path, None).await
}

/// A JSON POST on loopback: (status code, body).
pub async fn post_json(addr: SocketAddr, path: &str, json: &str) -> Result<(u16, String), String> {
    send(addr, "POST", path, Some(("application/json", json))).await
}

/// A plain HTTP/1.1 request on loopback with an optional (content type, body).
async fn send(addr: SocketAddr, method: &str, path: &str, body: Option<(&str, &str)>) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (content_type, payload) = match body {
        Some((t, b)) => (format!("Content-Type: {t}\r\n"), b),
        None => (String::new(), ""),
    };
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        );
        s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(buf)
    };
    let buf =
        tokio::time::timeout(Duration::from_secs(10), io).await.map_err(|_| format!("{method} {path}: timeout"))??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("no status line")?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    Ok((code, if chunked { dechunk(body) } else { body.to_owned() }))
}

/// The payload of a chunked HTTP body.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
    out
}

/// Percent-encodes a query parameter value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
