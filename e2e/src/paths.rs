//! Where the harness keeps things outside the repository, and the control-plane binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

const GO_MOD: &str = include_str!("../kube/go.mod");
const GO_SUM: &str = include_str!("../kube/go.sum");
const TOOLS_GO: &str = include_str!("../kube/tools.go");
const TOOL_VERSIONS: &str = include_str!("../tools/versions.env");

/// The binaries `provision.sh` builds, by the name the harness runs them under.
pub const BINARIES: [&str; 6] =
    ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"];

/// The directory of this crate in the source tree (compile time), e.g. `/work/main/e2e`.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace root (the parent of `e2e/`).
pub fn workspace_dir() -> PathBuf {
    let dir = crate_dir();
    dir.parent().map(Path::to_path_buf).unwrap_or(dir)
}

/// `~/.cache/bp-e2e`, or `$BP_E2E_CACHE`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("BP_E2E_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache").join("bp-e2e")
}

/// The Kubernetes version pinned in `e2e/kube/go.mod` (single source of truth).
pub fn kube_version() -> &'static str {
    GO_MOD
        .lines()
        .filter_map(|l| l.trim().strip_prefix("k8s.io/kubernetes "))
        .map(|v| v.split_whitespace().next().unwrap_or(v))
        .next()
        .unwrap_or("unknown")
}

/// Where the control-plane binaries live: `$BP_E2E_BIN_DIR` or `<cache>/bin-<version>`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BP_E2E_BIN_DIR") {
        return PathBuf::from(dir);
    }
    cache_root().join(format!("bin-{}", kube_version()))
}

/// The pinned kubectl (`e2e/tools/versions.env`) that `provision.sh` installs.
pub fn kubectl() -> PathBuf {
    let version = TOOL_VERSIONS
        .lines()
        .find_map(|l| l.trim().strip_prefix("KUBECTL_VERSION="))
        .map(str::trim)
        .unwrap_or("unknown");
    cache_root().join("tools").join(format!("kubectl-{version}")).join("kubectl")
}

/// Hash of the Go module that builds the binaries; `provision.sh` computes the same
/// (`cat go.mod go.sum tools.go | sha256sum`) and stores it in `<bin_dir>/.stamp`.
pub fn stamp_hash() -> String {
    let mut h = Sha256::new();
    h.update(GO_MOD.as_bytes());
    h.update(GO_SUM.as_bytes());
    h.update(TOOLS_GO.as_bytes());
    hex::encode(h.finalize())
}

/// True when every binary exists and the stamp matches this source tree's Go module.
pub fn binaries_ready(dir: &Path) -> bool {
    let stamp_ok = std::fs::read_to_string(dir.join(".stamp")).map(|s| s.trim() == stamp_hash()).unwrap_or(false);
    stamp_ok && BINARIES.iter().all(|b| dir.join(b).is_file())
}

/// Makes sure the control-plane binaries exist, running `e2e/provision.sh` when they do not.
/// Returns how long provisioning took (zero when everything was cached).
pub fn ensure_binaries(dir: &Path) -> Result<Duration> {
    if binaries_ready(dir) {
        return Ok(Duration::ZERO);
    }
    let script = crate_dir().join("provision.sh");
    if !script.is_file() {
        bail!("control-plane binaries missing in {} and {} not found", dir.display(), script.display());
    }
    let started = Instant::now();
    eprintln!(
        "bp-e2e: control-plane binaries missing in {}; running {} (the first build takes several minutes)",
        dir.display(),
        script.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .env("BP_E2E_BIN_DIR", dir)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed with {status}", script.display());
    }
    if !binaries_ready(dir) {
        bail!("{} succeeded but the binaries in {} are still missing or stale", script.display(), dir.display());
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comes_from_go_mod() {
        assert!(kube_version().starts_with("v1."), "{}", kube_version());
        assert_eq!(stamp_hash().len(), 64);
    }
}
