//! The pinned tools of `e2e/tools/versions.env`, where `e2e/provision.sh` installs them, and
//! a runner for command lines typed the way a user types them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const VERSIONS: &str = include_str!("../../tools/versions.env");

/// `KEY=value` lines of versions.env.
pub fn versions() -> HashMap<String, String> {
    VERSIONS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn version(key: &str) -> String {
    versions().remove(key).unwrap_or_else(|| panic!("e2e/tools/versions.env has no {key}"))
}

const PROVISION: &str = "run `bash e2e/provision.sh` (or `make provision`) to install the pinned tools";

pub struct Tools {
    pub helm: PathBuf,
    pub kubectl: PathBuf,
    pub kubeconform: PathBuf,
    pub prometheus: PathBuf,
    pub promtool: PathBuf,
}

impl Tools {
    /// Every tool at its pinned version, or a panic that says how to install them.
    pub fn find() -> Tools {
        let tools = bp_e2e::paths::cache_root().join("tools");
        let cached = |name: &str, key: &str| {
            let path = tools.join(format!("{name}-{}", version(key))).join(name);
            assert!(path.is_file(), "{} is missing: {PROVISION}", path.display());
            path
        };
        let t = Tools {
            helm: cached("helm", "HELM_VERSION"),
            kubectl: cached("kubectl", "KUBECTL_VERSION"),
            kubeconform: cached("kubeconform", "KUBECONFORM_VERSION"),
            prometheus: on_path("prometheus"),
            promtool: on_path("promtool"),
        };
        // What runs is what is pinned (a stale cache would fail here, not somewhere later).
        let check = |bin: &Path, args: &[&str], want: String| {
            let out = std::process::Command::new(bin)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}; {PROVISION}", bin.display()));
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(text.contains(&want), "{} {args:?} says {text:?}, expected {want:?}; {PROVISION}", bin.display());
        };
        check(&t.helm, &["version", "--short"], version("HELM_VERSION"));
        check(&t.kubectl, &["version", "--client"], format!("Client Version: {}", version("KUBECTL_VERSION")));
        check(&t.kubeconform, &["-v"], version("KUBECONFORM_VERSION"));
        check(&t.prometheus, &["--version"], format!("prometheus, version {}.", version("PROMETHEUS_MAJOR")));
        t
    }
}

fn on_path(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed (Debian package prometheus): {PROVISION}"))
}

/// What a command printed.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs command lines against one cluster: `helm` and `kubectl` are the pinned ones, the
/// kubeconfig is the cluster's, the working directory is the repository (so
/// `charts/...` and `examples/...` resolve as in the README), and HOME is a scratch directory
/// (helm's and kubectl's caches and settings stay out of the user's).
pub struct Shell {
    pub tools: Tools,
    pub cwd: PathBuf,
    pub env: Vec<(String, PathBuf)>,
}

impl Shell {
    pub fn new(tools: Tools, cwd: &Path, kubeconfig: &Path, home: &Path) -> Shell {
        Shell {
            tools,
            cwd: cwd.to_path_buf(),
            env: vec![("KUBECONFIG".into(), kubeconfig.to_path_buf()), ("HOME".into(), home.to_path_buf())],
        }
    }

    /// Runs `line` (words separated by spaces; no quoting needed by any command here), with
    /// extra arguments appended, and gives up after `limit`, killing it.
    pub async fn run_with(&self, line: &str, extra: &[String], limit: Duration) -> Output {
        let mut words = line.split_whitespace();
        let program = match words.next() {
            Some("helm") => self.tools.helm.clone(),
            Some("kubectl") => self.tools.kubectl.clone(),
            Some("kubeconform") => self.tools.kubeconform.clone(),
            Some("promtool") => self.tools.promtool.clone(),
            other => panic!("unexpected command {other:?} in {line:?}"),
        };
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(words)
            .args(extra)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A command that outlives its limit is killed (it is this process' own child).
            .kill_on_drop(true);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(Ok(out)) => {
                let out = Output {
                    code: out.status.code(),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                };
                eprintln!("helm-e2e: $ {line}{} [{:.1}s, exit {:?}]", suffix(extra), secs(started), out.code);
                out
            }
            Ok(Err(e)) => panic!("running {line:?}: {e}"),
            Err(_) => Output {
                code: None,
                stdout: String::new(),
                stderr: format!("{line:?} did not finish within {limit:?} and was killed"),
            },
        }
    }

    pub async fn run(&self, line: &str, limit: Duration) -> Output {
        self.run_with(line, &[], limit).await
    }
}

fn suffix(extra: &[String]) -> String {
    if extra.is_empty() { String::new() } else { format!(" {}", extra.join(" ")) }
}

pub fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}
