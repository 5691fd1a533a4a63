//! Host resources of a node, and taking them away again: its cgroups (which hold every
//! process the node started: daemons, shims, containers), its network namespace and veth,
//! and its directory. Used by an orderly stop and, at the next start, for whatever a killed
//! test process left behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::slot::{Addresses, Owner};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Every cgroup hierarchy mounted under `/sys/fs/cgroup` (cgroup v1 has one per controller
/// set, plus `unified`).
pub fn hierarchies() -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(CGROUP_ROOT) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect();
    dirs.sort();
    dirs
}

/// Creates the node's cgroup in every hierarchy (the kubelet's `cgroupRoot` must exist) and
/// its `system` child for the node's daemons.
pub fn create_cgroups(addr: Addresses) -> Result<()> {
    for h in hierarchies() {
        let dir = h.join(addr.cgroup());
        for d in [dir.clone(), dir.join("system")] {
            std::fs::create_dir_all(&d).with_context(|| format!("creating cgroup {}", d.display()))?;
            // A new cpuset cgroup has no CPUs or memory nodes: give it its parent's.
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let parent = d.parent().map(|p| p.join(file));
                if let Some(parent) = parent.filter(|p| p.exists())
                    && std::fs::read_to_string(d.join(file)).is_ok_and(|v| v.trim().is_empty())
                {
                    let value = std::fs::read_to_string(&parent).unwrap_or_default();
                    std::fs::write(d.join(file), value.trim())
                        .with_context(|| format!("writing {}", d.join(file).display()))?;
                }
            }
        }
    }
    Ok(())
}

/// Moves a process into the node's `system` cgroup of the `pids` hierarchy (enough to find
/// it and everything it starts, e.g. containerd's shims, again).
pub fn adopt(addr: Addresses, pid: i32) -> Result<()> {
    let procs = Path::new(CGROUP_ROOT).join("pids").join(addr.cgroup()).join("system").join("cgroup.procs");
    std::fs::write(&procs, pid.to_string()).with_context(|| format!("moving pid {pid} into {}", procs.display()))
}

/// Every process in the node's cgroups, in any hierarchy.
pub fn processes(addr: Addresses, sub: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for h in hierarchies() {
        let top = h.join(addr.cgroup()).join(sub);
        collect_procs(&top, &mut pids);
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn collect_procs(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.filter_map(|e| e.ok()) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_procs(&e.path(), out);
            }
        }
    }
}

/// Sends `sig` to every process in the node's cgroup `sub` (`""`: all of them).
pub fn signal_all(addr: Addresses, sub: &str, sig: Signal) -> usize {
    let pids = processes(addr, sub);
    for &pid in &pids {
        let _ = kill(Pid::from_raw(pid), sig);
    }
    pids.len()
}

/// SIGKILLs every process of the node until none is left (or `limit` passed); returns how
/// many were killed.
pub fn kill_all(addr: Addresses, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    let mut killed = std::collections::BTreeSet::new();
    loop {
        let pids = processes(addr, "");
        if pids.is_empty() || Instant::now() > deadline {
            return killed.len();
        }
        for pid in pids {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed.insert(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Removes the node's cgroups, deepest first, in every hierarchy; returns how many.
fn remove_cgroups(addr: Addresses) -> usize {
    fn remove(dir: &Path, n: &mut usize) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.filter_map(|e| e.ok()) {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    remove(&e.path(), n);
                }
            }
        }
        if std::fs::remove_dir(dir).is_ok() {
            *n += 1;
        }
    }
    let mut n = 0;
    for h in hierarchies() {
        let top = h.join(addr.cgroup());
        // An emptied cgroup can stay busy for a moment after its last process died.
        for _ in 0..20 {
            remove(&top, &mut n);
            if !top.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    n
}

/// Whether the node's network namespace exists.
pub fn netns_exists(addr: Addresses) -> bool {
    Path::new("/run/netns").join(addr.netns()).exists()
}

fn ip(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("ip").args(args).output().context("running ip (iproute2)")?;
    if !out.status.success() {
        anyhow::bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Takes away everything of slot `addr`: processes, network namespace (with the bridge, the
/// Pods' veths and kube-proxy's rules inside it), the host's veth and route, cgroups, and
/// the node directory of `owner`. Returns one line per kind of thing removed.
pub fn sweep(addr: Addresses, owner: Option<&Owner>) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let killed = kill_all(addr, Duration::from_secs(15));
    if killed > 0 {
        done.push(format!("killed {killed} process(es) of the node"));
    }
    let left = processes(addr, "");
    if !left.is_empty() {
        anyhow::bail!("processes {left:?} in cgroup {} would not die", addr.cgroup());
    }
    if netns_exists(addr) {
        ip(&["netns", "delete", &addr.netns()])?;
        done.push(format!("network namespace {}", addr.netns()));
    }
    // Deleting the namespace takes the veth pair with it, a moment later.
    let veth = Path::new("/sys/class/net").join(addr.host_veth());
    let deadline = Instant::now() + Duration::from_secs(2);
    while veth.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if veth.exists() {
        if let Err(e) = ip(&["link", "delete", &addr.host_veth()])
            && veth.exists()
        {
            return Err(e);
        }
        done.push(format!("veth {}", addr.host_veth()));
    }
    let cgroups = remove_cgroups(addr);
    if cgroups > 0 {
        done.push(format!("{cgroups} cgroup(s) {}", addr.cgroup()));
    }
    if let Some(owner) = owner
        && owner.node_dir.exists()
    {
        std::fs::remove_dir_all(&owner.node_dir)
            .with_context(|| format!("removing the node directory {}", owner.node_dir.display()))?;
        done.push(format!("node directory {}", owner.node_dir.display()));
    }
    Ok(done)
}
