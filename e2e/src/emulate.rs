//! `bp-e2e emulate`: the stand-in process for a container whose image is not mapped.
//!
//! It binds every declared TCP port (inside the Pod's network namespace) and answers any
//! HTTP request with 200, so httpGet and tcpSocket probes see a live container. A port
//! that cannot be bound is a real failure: the process exits 1 and the agent restarts it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Env var of an emulated container that makes it exit with the given code after a second.
pub const EXIT_ENV: &str = "BP_E2E_EMULATE_EXIT";

/// Runs the emulator; returns only on failure (with the exit code to use).
pub fn run(image: &str, container: &str, ports: &[u16], command: &[String]) -> i32 {
    println!("bp-e2e emulating container {container:?} of image {image:?}; command {command:?}; ports {ports:?}");
    let mut listeners = Vec::new();
    for &port in ports {
        match TcpListener::bind(("0.0.0.0", port)) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                eprintln!("bp-e2e emulate: cannot listen on :{port}: {e}");
                return 1;
            }
        }
    }
    for l in listeners {
        std::thread::spawn(move || serve(l));
    }
    // Test hook: a container whose env sets BP_E2E_EMULATE_EXIT=<code> crashes with that code
    // a second after it started, so tests can watch restarts and a degraded playground.
    if let Some(code) = std::env::var(EXIT_ENV).ok().and_then(|c| c.parse::<i32>().ok()) {
        std::thread::sleep(Duration::from_secs(1));
        eprintln!("bp-e2e emulate: exiting with {code} as {EXIT_ENV} asks");
        return code;
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Answers every connection on `l` with `200 OK` (one response per connection).
pub fn serve(l: TcpListener) {
    for conn in l.incoming() {
        match conn {
            Ok(s) => {
                std::thread::spawn(move || answer(s));
            }
            Err(e) => eprintln!("bp-e2e emulate: accept: {e}"),
        }
    }
}

fn answer(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    // Read the request head (or whatever arrives: tcpSocket probes send nothing).
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = "ok\n";
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(resp.as_bytes());
}
