//! The node agent: a stand-in for the kubelet that runs Pods as local processes.
//!
//! - `agent`: Node registration, Lease renewal, the Pod watch and one worker per Pod.
//! - `pod`: a Pod's lifecycle (init containers, sidecars, restarts, deletion, status).
//! - `status`: pure functions computing container statuses, conditions and the phase.
//! - `probe`: startup/readiness/liveness probes (httpGet, tcpSocket, exec).
//! - `process`: launching containers (mapped binaries or the emulator) and network namespaces.
//! - `env`: environment resolution and `$(VAR)` expansion.

pub mod agent;
pub mod container;
pub mod env;
pub mod pod;
pub mod probe;
pub mod process;
pub mod status;

use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use agent::{AgentConfig, run};

/// Maps a container image to a directory of local binaries: containers of that image run
/// as real processes. `command[0]` is looked up by its basename in `bin_dir`; a container
/// without a command runs `entrypoint` (also looked up in `bin_dir`) with its args.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageMapping {
    pub image: String,
    pub bin_dir: PathBuf,
    pub entrypoint: Option<String>,
}

impl ImageMapping {
    pub fn new(image: impl Into<String>, bin_dir: impl Into<PathBuf>) -> Self {
        Self { image: image.into(), bin_dir: bin_dir.into(), entrypoint: None }
    }

    pub fn with_entrypoint(mut self, entrypoint: impl Into<String>) -> Self {
        self.entrypoint = Some(entrypoint.into());
        self
    }

    /// A mapping without a tag or digest matches every tag/digest of that repository; one
    /// with a tag or digest matches exactly.
    pub fn matches(&self, image: &str) -> bool {
        if image == self.image {
            return true;
        }
        let mine = repository(&self.image);
        mine == self.image && repository(image) == mine
    }

    /// Path of an executable in the mapped directory, by the basename of `name`.
    pub fn lookup(&self, name: &str) -> PathBuf {
        let base = Path::new(name).file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(name));
        self.bin_dir.join(base)
    }
}

/// `registry/repo:tag@digest` without tag and digest.
fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last_slash = no_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match no_digest[last_slash..].find(':') {
        Some(colon) => &no_digest[..last_slash + colon],
        None => no_digest,
    }
}

impl FromStr for ImageMapping {
    type Err = String;

    /// `IMAGE=BINDIR[:ENTRYPOINT]`
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (image, rest) =
            s.split_once('=').ok_or_else(|| format!("image mapping {s:?} is not IMAGE=BINDIR[:ENTRYPOINT]"))?;
        if image.is_empty() || rest.is_empty() {
            return Err(format!("image mapping {s:?} is not IMAGE=BINDIR[:ENTRYPOINT]"));
        }
        let (dir, entry) = match rest.split_once(':') {
            Some((d, e)) if !e.is_empty() => (d, Some(e.to_string())),
            Some((d, _)) => (d, None),
            None => (rest, None),
        };
        Ok(Self { image: image.to_string(), bin_dir: PathBuf::from(dir), entrypoint: entry })
    }
}

/// What the Node advertises to the scheduler.
#[derive(Clone, Debug)]
pub struct NodeCapacity {
    pub cpu: String,
    pub memory: String,
    pub pods: String,
}

impl Default for NodeCapacity {
    /// Generous on purpose: nothing is enforced, and playgrounds request a lot.
    fn default() -> Self {
        Self { cpu: "64".into(), memory: "256Gi".into(), pods: "250".into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mappings() {
        let m: ImageMapping = "ghcr.io/x/op:dev=/t/debug:bp-operator".parse().unwrap();
        assert_eq!(m.image, "ghcr.io/x/op:dev");
        assert_eq!(m.bin_dir, PathBuf::from("/t/debug"));
        assert_eq!(m.entrypoint.as_deref(), Some("bp-operator"));
        let m: ImageMapping = "op=/t/debug".parse().unwrap();
        assert_eq!(m.entrypoint, None);
        assert!("nodir".parse::<ImageMapping>().is_err());
    }

    #[test]
    fn matches_by_repository_when_untagged() {
        let m = ImageMapping::new("ghcr.io/x/op", "/b");
        assert!(m.matches("ghcr.io/x/op:v1"));
        assert!(m.matches("ghcr.io/x/op@sha256:abc"));
        assert!(!m.matches("ghcr.io/x/op2:v1"));
        let tagged = ImageMapping::new("localhost:5000/op:v1", "/b");
        assert!(tagged.matches("localhost:5000/op:v1"));
        assert!(!tagged.matches("localhost:5000/op:v2"));
        assert_eq!(repository("localhost:5000/op"), "localhost:5000/op");
        assert_eq!(m.lookup("/usr/bin/op").to_str(), Some("/b/op"));
    }
}
