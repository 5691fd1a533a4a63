//! A Prometheus server (Debian's package) run by hand on loopback for one test: its own
//! config and storage in a temporary directory, stopped by its PID when dropped.
//!
//! Targets come from a file (`file_sd_configs`) that the test writes from the metrics
//! Service: the Pods its selector matches, the port its targetPort names. That is what the
//! Service's endpoints (and so a ServiceMonitor) would give, and the harness cannot publish
//! endpoints (every Pod IP is 127.0.0.1, which EndpointSlices reject); Debian's Prometheus is
//! built without Kubernetes discovery anyway.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    targets: PathBuf,
    log: PathBuf,
}

pub struct Target {
    pub address: String,
    pub pod: String,
}

impl Prometheus {
    /// Starts it scraping whatever `targets` lists, every second.
    pub fn start(bin: &Path, dir: &Path, port: u16) -> Prometheus {
        let targets = dir.join("targets.json");
        std::fs::write(&targets, "[]").unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: bp-operator\n    file_sd_configs:\n      - files: [{}]\n        refresh_interval: 1s\n",
                targets.display()
            ),
        )
        .unwrap();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Prometheus { child, addr, targets, log }
    }

    /// Replaces the scraped targets (Prometheus notices the file change by itself).
    pub fn set_targets(&self, targets: &[Target]) {
        let groups: Vec<Value> =
            targets.iter().map(|t| serde_json::json!({"targets": [t.address], "labels": {"pod": t.pod}})).collect();
        let tmp = self.targets.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&groups).unwrap()).unwrap();
        std::fs::rename(&tmp, &self.targets).unwrap();
    }

    /// The log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `GET path` on its HTTP API: (status code, body).
    pub async fn get(&self, path: &str) -> Result<(u16, String), String> {
        http_get(self.addr, path).await
    }

    /// The result vector of an instant query.
    pub async fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let (code, body) = self.get(&format!("/api/v1/query?query={}", urlencode(promql))).await?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("HTTP {code}, not JSON ({e}): {body}"))?;
        if v["status"] != "success" {
            return Err(format!("HTTP {code}: {body}"));
        }
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // Our own child, by its PID: SIGTERM, then SIGKILL if it lingers.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..50 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use bp_e2e::http::urlencode;

/// A plain HTTP/1.1 GET on loopback: (status code, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    bp_e2e::http::request(addr, "GET", path).await
}
