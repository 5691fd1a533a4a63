//! Startup, readiness and liveness probes with the kubelet's timing and threshold rules.
//!
//! httpGet and tcpSocket probes connect from a short-lived thread that has entered the
//! Pod's network namespace (a socket belongs to the namespace it was created in), so they
//! reach the emulated container exactly as a kubelet reaches a Pod IP. exec probes run the
//! command on the host inside that namespace when the executable exists (in the mapped
//! binary directory, then on the host PATH); otherwise they count as success while the
//! container runs (documented in e2e/README.md).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::ImageMapping;
use super::process::{command, is_executable, which};
use crate::procs::{Mode, signal_group};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Startup,
    Readiness,
    Liveness,
}

impl ProbeKind {
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Liveness => "Liveness",
        }
    }
}

/// One probe of one running container instance.
#[derive(Clone, Debug)]
pub struct ProbeState {
    pub kind: ProbeKind,
    pub probe: Probe,
    pub next_due: Instant,
    pub successes: i32,
    pub failures: i32,
    pub in_flight: bool,
}

fn secs(v: Option<i32>, default: i32, min: i32) -> Duration {
    Duration::from_secs(v.unwrap_or(default).max(min) as u64)
}

impl ProbeState {
    pub fn new(kind: ProbeKind, probe: Probe, container_started: Instant) -> Self {
        let delay = secs(probe.initial_delay_seconds, 0, 0);
        Self { kind, probe, next_due: container_started + delay, successes: 0, failures: 0, in_flight: false }
    }

    pub fn period(&self) -> Duration {
        secs(self.probe.period_seconds, 10, 1)
    }

    pub fn timeout(&self) -> Duration {
        secs(self.probe.timeout_seconds, 1, 1)
    }

    fn failure_threshold(&self) -> i32 {
        self.probe.failure_threshold.unwrap_or(3).max(1)
    }

    fn success_threshold(&self) -> i32 {
        // Liveness and startup probes must use 1 (API validation); be lenient anyway.
        match self.kind {
            ProbeKind::Readiness => self.probe.success_threshold.unwrap_or(1).max(1),
            _ => 1,
        }
    }

    /// Records one result. Returns `Some(true)` when the success threshold was just met and
    /// `Some(false)` when the failure threshold was just met.
    pub fn record(&mut self, ok: bool, now: Instant) -> Option<bool> {
        self.in_flight = false;
        self.next_due = now + self.period();
        if ok {
            self.failures = 0;
            self.successes += 1;
            (self.successes == self.success_threshold()).then_some(true)
        } else {
            self.successes = 0;
            self.failures += 1;
            (self.failures >= self.failure_threshold()).then_some(false)
        }
    }
}

/// What a probe does, resolved against the container.
#[derive(Clone, Debug)]
pub enum Action {
    Http {
        host: String,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        host: String,
        port: u16,
    },
    Exec {
        program: PathBuf,
        args: Vec<String>,
    },
    /// exec probe whose executable is not on this host: success while the container runs.
    AssumeOk(String),
    Fail(String),
}

fn resolve_port(c: &Container, port: &IntOrString) -> Result<u16, String> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).map_err(|_| format!("invalid port {p}")),
        IntOrString::String(name) => {
            if let Ok(p) = name.parse::<u16>() {
                return Ok(p);
            }
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| format!("named port {name:?} not declared by the container"))
        }
    }
}

/// Resolves the probe's handler (named ports, hosts, executables).
pub fn action_for(probe: &Probe, c: &Container, mapping: Option<&ImageMapping>) -> Action {
    let host = |h: &Option<String>| h.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| "127.0.0.1".into());
    if let Some(h) = &probe.http_get {
        return match resolve_port(c, &h.port) {
            Ok(port) => {
                // HTTPS probes: the kubelet does not verify certificates; we only check the
                // TCP connection (documented limitation).
                if h.scheme.as_deref() == Some("HTTPS") {
                    return Action::Tcp { host: host(&h.host), port };
                }
                Action::Http {
                    host: host(&h.host),
                    port,
                    path: h.path.clone().unwrap_or_else(|| "/".into()),
                    headers: h.http_headers.iter().flatten().map(|hh| (hh.name.clone(), hh.value.clone())).collect(),
                }
            }
            Err(e) => Action::Fail(e),
        };
    }
    if let Some(t) = &probe.tcp_socket {
        return match resolve_port(c, &t.port) {
            Ok(port) => Action::Tcp { host: host(&t.host), port },
            Err(e) => Action::Fail(e),
        };
    }
    if let Some(g) = &probe.grpc {
        // gRPC health checks are reduced to a TCP connect (documented limitation).
        return match u16::try_from(g.port) {
            Ok(port) => Action::Tcp { host: "127.0.0.1".into(), port },
            Err(_) => Action::Fail(format!("invalid grpc port {}", g.port)),
        };
    }
    if let Some(e) = &probe.exec {
        let cmd = e.command.clone().unwrap_or_default();
        let Some(first) = cmd.first() else {
            return Action::Fail("exec probe without a command".into());
        };
        let mapped = mapping.map(|m| m.lookup(first)).filter(|p| is_executable(p));
        return match mapped.or_else(|| which(first)) {
            Some(program) => Action::Exec { program, args: cmd[1..].to_vec() },
            None => Action::AssumeOk(format!(
                "exec probe {first:?} not found on this host; counted as success while the container runs"
            )),
        };
    }
    Action::Fail("probe without a handler".into())
}

/// Runs `f` on a fresh thread, inside network namespace `netns` if given.
async fn in_netns<T: Send + 'static>(
    netns: Option<String>,
    limit: Duration,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("bp-e2e-probe".into()).spawn(move || {
        let r = (|| {
            if let Some(ns) = &netns {
                let file = super::process::open_netns(ns)?;
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
            }
            f()
        })();
        let _ = tx.send(r);
    })?;
    match tokio::time::timeout(limit, rx).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(std::io::Error::other("probe thread ended without a result")),
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "probe timed out")),
    }
}

/// Runs one probe; returns (success, message).
pub async fn run(
    action: Action,
    netns: Option<String>,
    env: Vec<(String, String)>,
    mode: Mode,
    timeout: Duration,
) -> (bool, String) {
    let guard = timeout + Duration::from_millis(500);
    match action {
        Action::AssumeOk(msg) => (true, msg),
        Action::Fail(msg) => (false, msg),
        Action::Tcp { host, port } => {
            let r = in_netns(netns, guard, move || crate::http::connect(&host, port, timeout).map(|_| ())).await;
            match r {
                Ok(()) => (true, String::new()),
                Err(e) => (false, format!("dial tcp :{port}: {e}")),
            }
        }
        Action::Http { host, port, path, headers } => {
            let p = path.clone();
            let r = in_netns(netns, guard, move || {
                let s = crate::http::connect(&host, port, timeout)?;
                crate::http::get_status(s, &host, port, &p, &headers, timeout)
            })
            .await;
            match r {
                Ok(code) if (200..400).contains(&code) => (true, String::new()),
                Ok(code) => (false, format!("HTTP probe failed with statuscode: {code}")),
                Err(e) => (false, format!("Get \"http://:{port}{path}\": {e}")),
            }
        }
        Action::Exec { program, args } => run_exec(program, args, netns, env, mode, timeout).await,
    }
}

async fn run_exec(
    program: PathBuf,
    args: Vec<String>,
    netns: Option<String>,
    env: Vec<(String, String)>,
    mode: Mode,
    timeout: Duration,
) -> (bool, String) {
    let (mut cmd, ns_file) = match command(&program, &args, mode, netns.as_deref()) {
        Ok(x) => x,
        Err(e) => return (false, format!("exec probe setup: {e}")),
    };
    cmd.env_clear().envs(env).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let child = cmd.spawn();
    drop(ns_file);
    let child = match child {
        Ok(c) => c,
        Err(e) => return (false, format!("exec probe {}: {e}", program.display())),
    };
    let pid = child.id().map(|p| p as i32);
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => (true, String::new()),
        Ok(Ok(out)) => {
            let mut msg = String::from_utf8_lossy(&out.stdout).into_owned();
            msg.push_str(&String::from_utf8_lossy(&out.stderr));
            (false, format!("exec probe failed ({}): {}", out.status, msg.trim()))
        }
        Ok(Err(e)) => (false, format!("exec probe: {e}")),
        Err(_) => {
            if let Some(pid) = pid {
                signal_group(pid, nix::sys::signal::Signal::SIGKILL);
            }
            (false, format!("command timed out after {timeout:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(period: i32, fail: i32, succ: i32) -> Probe {
        Probe {
            period_seconds: Some(period),
            failure_threshold: Some(fail),
            success_threshold: Some(succ),
            ..Default::default()
        }
    }

    #[test]
    fn thresholds() {
        let now = Instant::now();
        let mut s = ProbeState::new(ProbeKind::Readiness, probe(1, 2, 2), now);
        assert_eq!(s.record(true, now), None);
        assert_eq!(s.record(true, now), Some(true));
        assert_eq!(s.record(true, now), None, "only reported when crossing");
        assert_eq!(s.record(false, now), None);
        assert_eq!(s.record(false, now), Some(false));
        assert_eq!(s.next_due, now + Duration::from_secs(1));
    }

    #[test]
    fn named_ports_resolve() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "c", "ports": [{"name": "http", "containerPort": 8080}]
        }))
        .unwrap();
        let p: Probe = serde_json::from_value(serde_json::json!({
            "httpGet": {"port": "http", "path": "/healthz"}
        }))
        .unwrap();
        match action_for(&p, &c, None) {
            Action::Http { port, path, .. } => {
                assert_eq!((port, path.as_str()), (8080, "/healthz"))
            }
            other => panic!("{other:?}"),
        }
        let p: Probe = serde_json::from_value(serde_json::json!({"tcpSocket": {"port": "nope"}})).unwrap();
        assert!(matches!(action_for(&p, &c, None), Action::Fail(_)));
        let p: Probe =
            serde_json::from_value(serde_json::json!({"exec": {"command": ["no-such-tool-bp-e2e"]}})).unwrap();
        assert!(matches!(action_for(&p, &c, None), Action::AssumeOk(_)));
    }

    #[tokio::test]
    async fn tcp_and_http_probes_hit_a_real_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let tcp = Action::Tcp { host: "127.0.0.1".into(), port };
        let (ok, _) = run(tcp.clone(), None, vec![], Mode::Tied, Duration::from_secs(1)).await;
        assert!(!ok, "nothing listens yet");
        let _l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let (ok, msg) = run(tcp, None, vec![], Mode::Tied, Duration::from_secs(1)).await;
        assert!(ok, "{msg}");
    }
}
