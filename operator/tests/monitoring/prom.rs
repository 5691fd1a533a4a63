//! A Prometheus server (Debian's package) run by hand on loopback for one test: its config
//! and storage in a temporary directory, its config reloaded through its lifecycle API, and
//! stopped by its PID when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    config: PathBuf,
    log: PathBuf,
}

impl Prometheus {
    /// Starts `prometheus` (from PATH) with `config` on a free loopback port.
    pub fn start(config: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("prometheus.log");
        let out = std::fs::File::create(&log).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--web.enable-lifecycle")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start prometheus (run e2e/provision.sh): {e}"));
        Prometheus { child, addr, dir, config: config_path, log }
    }

    /// Replaces the config and has Prometheus load it.
    pub async fn reload(&self, config: &str) {
        std::fs::write(&self.config, config).unwrap();
        let (code, body) = request(self.addr, "POST", "/-/reload").await.unwrap();
        assert_eq!(code, 200, "reloading the config: {body}\n{}", self.log());
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on its HTTP API, as JSON with `status: success`: its `data`.
    pub async fn api(&self, path: &str) -> Result<Value, String> {
        let (code, body) = request(self.addr, "GET", path).await?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("HTTP {code}, not JSON ({e}): {body}"))?;
        if v["status"] != "success" {
            return Err(format!("HTTP {code}: {body}"));
        }
        Ok(v["data"].clone())
    }

    /// The result vector of an instant query (an error for one Prometheus refuses).
    pub async fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let data = self.api(&format!("/api/v1/query?query={}", urlencode(promql))).await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // Our own child, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use bp_e2e::http::{request, urlencode};
