//! Machine-wide slots: each running node holds one, and the slot's number picks every host
//! resource the node uses (network namespace, veth, addresses, pod CIDR, cgroup), so clusters
//! of parallel test binaries never collide.
//!
//! A slot is free when no process holds its lock file (the owner of an in-process cluster
//! holds it while it lives) and no process the owner recorded in its `pids` file still runs
//! (a detached `bp-e2e up` ends after starting them). A slot whose owner died without
//! cleaning up is swept (see [`super::sweep`]) before it is given out again.

use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};

use crate::procs::{self, PidRecord};

/// Where slot locks and owner records live. Machine-wide on purpose: every cluster on this
/// machine, whatever its cache or state directory, must see every other.
pub const SLOTS_DIR: &str = "/run/bp-e2e/slots";

/// How many nodes may run on one machine at once.
pub const SLOTS: u8 = 32;

/// The host resources of slot `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    pub index: u8,
}

impl Addresses {
    /// The node's network namespace (`ip netns` name) and the host end of its veth.
    pub fn netns(&self) -> String {
        format!("bpe2e-{}", self.index)
    }

    /// The host end of the veth pair (the node end is `eth0` inside the namespace).
    pub fn host_veth(&self) -> String {
        self.netns()
    }

    /// The host's address on the veth: the API server listens here.
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 254, self.index, 1)
    }

    /// The node's address (its `InternalIP`; the kubelet API listens here).
    pub fn node_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 254, self.index, 2)
    }

    /// Pod addresses of this node (`/24`; `.1` is the bridge, the Pods' gateway).
    pub fn pod_cidr(&self) -> String {
        format!("10.244.{}.0/24", self.index)
    }

    pub fn pod_gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 244, self.index, 1)
    }

    /// The cgroup (in every hierarchy) that holds the node's daemons and Pods.
    pub fn cgroup(&self) -> String {
        format!("bpe2e-{}", self.index)
    }
}

/// Services are virtual and their rules live in the node's own network namespace, so every
/// cluster may use the same range.
pub const SERVICE_CIDR: &str = "10.96.0.0/16";
/// The `kubernetes` Service's ClusterIP (the first address of [`SERVICE_CIDR`]).
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);

/// Who owns a slot: enough for another process to find and sweep what it left.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    /// The cluster's state directory (its `pids` file says whether it still runs).
    pub state_dir: PathBuf,
    /// The node's own directory (containerd, kubelet, CNI state).
    pub node_dir: PathBuf,
}

/// A slot held by this process (its lock is released when dropped).
pub struct Slot {
    pub addresses: Addresses,
    _lock: Flock<File>,
}

fn lock_path(dir: &Path, index: u8) -> PathBuf {
    dir.join(format!("{index}.lock"))
}

fn owner_path(dir: &Path, index: u8) -> PathBuf {
    dir.join(format!("{index}.owner"))
}

/// The owner record of a slot, if any.
pub fn read_owner(index: u8) -> Option<Owner> {
    let text = std::fs::read_to_string(owner_path(Path::new(SLOTS_DIR), index)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether any process of `owner` still runs.
fn owner_alive(owner: &Owner) -> bool {
    procs::read_records(&owner.state_dir.join("pids")).iter().any(PidRecord::alive)
}

fn open_lock(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Takes a free slot for `owner`: one a dead owner left (swept first), else the lowest free
/// one.
/// `sweep` is called with the slot's addresses and the previous owner, if one was recorded.
pub fn acquire(owner: &Owner, sweep: impl Fn(Addresses, Option<&Owner>) -> Result<()>) -> Result<Slot> {
    let dir = Path::new(SLOTS_DIR);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // One allocator at a time, so two processes never judge the same slot free together.
    let alloc = open_lock(&dir.join("alloc.lock"))?;
    let _alloc = Flock::lock(alloc, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {}/alloc.lock", dir.display()))?;
    // Slots an earlier owner left behind first: what it left is swept at once.
    let mut order: Vec<u8> = (0..SLOTS).collect();
    order.sort_by_key(|&i| read_owner(i).is_none());
    for index in order {
        let file = open_lock(&lock_path(dir, index))?;
        let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            continue;
        };
        let previous = read_owner(index);
        if previous.as_ref().is_some_and(owner_alive) {
            continue;
        }
        let addresses = Addresses { index };
        sweep(addresses, previous.as_ref())
            .with_context(|| format!("cleaning up what an earlier cluster left in slot {index}"))?;
        let text = serde_json::to_string_pretty(owner).context("encoding the slot owner")?;
        std::fs::write(owner_path(dir, index), text)
            .with_context(|| format!("writing {}", owner_path(dir, index).display()))?;
        return Ok(Slot { addresses, _lock: lock });
    }
    bail!(
        "all {SLOTS} node slots of this machine are in use (see {SLOTS_DIR}/*.owner): stop a cluster with `bp-e2e down --state DIR`"
    )
}

/// The slot `state_dir` owns, if any (for `bp-e2e down` from another process).
pub fn find(state_dir: &Path) -> Option<(Addresses, Owner)> {
    (0..SLOTS).find_map(|index| {
        let owner = read_owner(index)?;
        (owner.state_dir == state_dir).then_some((Addresses { index }, owner))
    })
}

/// Forgets the owner record of a slot (after its node was stopped and swept).
pub fn release(index: u8) {
    let _ = std::fs::remove_file(owner_path(Path::new(SLOTS_DIR), index));
}

/// Whether a slot other than `except` is taken: its lock held (a cluster starting or running
/// in-process) or its owner's processes running.
pub fn others_alive(except: u8) -> bool {
    let dir = Path::new(SLOTS_DIR);
    (0..SLOTS).filter(|&i| i != except).any(|i| {
        let Some(owner) = read_owner(i) else {
            return false;
        };
        let locked = open_lock(&lock_path(dir, i))
            .map(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err())
            .unwrap_or(false);
        locked || owner_alive(&owner)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_has_distinct_resources() {
        let all: Vec<Addresses> = (0..SLOTS).map(|index| Addresses { index }).collect();
        // Each kind of resource differs between slots (a kind may reuse another's name: a
        // network namespace and a cgroup live in different namespaces of names).
        let kinds: [fn(&Addresses) -> String; 5] =
            [|a| a.netns(), |a| a.host_ip().to_string(), |a| a.node_ip().to_string(), |a| a.pod_cidr(), |a| a.cgroup()];
        for kind in kinds {
            let values: std::collections::BTreeSet<String> = all.iter().map(kind).collect();
            assert_eq!(values.len(), all.len(), "{values:?}");
        }
        for a in &all {
            // Linux interface names have at most 15 bytes.
            assert!(a.host_veth().len() <= 15, "{}", a.host_veth());
        }
        assert_eq!(Addresses { index: 7 }.node_ip(), Ipv4Addr::new(10, 254, 7, 2));
        assert_eq!(Addresses { index: 7 }.pod_cidr(), "10.244.7.0/24");
    }
}
