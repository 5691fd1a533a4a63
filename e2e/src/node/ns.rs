//! The node's namespaces. The node (containerd, kubelet, kube-proxy and every Pod) lives in
//! a network namespace of its own, joined to the host by a veth pair, and in a mount
//! namespace of its own, private to the host, in which:
//! - `/run`, `/var/lib` and `/var/log` are fresh tmpfs mounts, so the paths the kubelet and
//!   containerd hard-code there (device-plugin socket, `/var/log/containers`, shim sockets)
//!   never touch the host's and two nodes never share them;
//! - `/data` (the default root of `local-path` playground storage) is the node directory's
//!   `hostfs/data`, so hostPath volumes land in the node directory;
//! - the kernel tunables the kubelet sets at start (`kernel.panic`, `vm.overcommit_memory`,
//!   ...) are files of the node directory bind-mounted over `/proc/sys`, so the host's values
//!   stay as they are.
//!
//! Every mount is gone with the namespace when its last process exits: nothing to unmount.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::libc;

use super::slot::Addresses;

/// Kernel tunables the kubelet writes at start (pkg/kubelet/cm, `setupKernelTunables`).
pub const KUBELET_SYSCTLS: [&str; 6] = [
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
];

/// Host directories replaced by a tmpfs inside the node.
const PRIVATE_TMPFS: [&str; 3] = ["/run", "/var/lib", "/var/log"];

/// Host roots of hostPath volumes that the node keeps in its own directory.
pub const HOST_PATH_ROOTS: [&str; 1] = ["/data"];

fn ip(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("ip").args(args).output().context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Creates the node's network namespace: `eth0` (the node IP) paired with the host's veth
/// (the host IP, where the API server listens), a default route to the host, a host route to
/// the Pod CIDR, and IP forwarding inside the namespace only.
pub fn create_network(addr: Addresses) -> Result<()> {
    let ns = addr.netns();
    let veth = addr.host_veth();
    ip(&["netns", "add", &ns])?;
    ip(&["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
    ip(&["addr", "add", &format!("{}/30", addr.host_ip()), "dev", &veth])?;
    ip(&["link", "set", &veth, "up"])?;
    ip(&["-n", &ns, "link", "set", "lo", "up"])?;
    ip(&["-n", &ns, "addr", "add", &format!("{}/30", addr.node_ip()), "dev", "eth0"])?;
    ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
    ip(&["-n", &ns, "route", "add", "default", "via", &addr.host_ip().to_string()])?;
    ip(&["route", "add", &addr.pod_cidr(), "via", &addr.node_ip().to_string(), "dev", &veth])?;
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        .output()
        .context("running ip netns exec sysctl")?;
    if !out.status.success() {
        bail!("enabling IP forwarding in {ns}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).with_context(|| format!("path {} has a NUL byte", p.display()))
}

/// One mount the namespace's first process makes.
struct Mount {
    source: CString,
    target: CString,
    fstype: Option<CString>,
    flags: libc::c_ulong,
}

/// What the node's first process (the namespace holder) does between fork and exec: join the
/// network namespace, make a private mount namespace, mount.
pub struct HolderSetup {
    netns: File,
    mounts: Vec<Mount>,
}

impl HolderSetup {
    /// Prepares the mounts (and the files and directories they need) for `node_dir`.
    pub fn new(addr: Addresses, node_dir: &Path) -> Result<Self> {
        let netns_path = Path::new("/run/netns").join(addr.netns());
        let netns = File::open(&netns_path).with_context(|| format!("opening {}", netns_path.display()))?;
        let tmpfs = CString::new("tmpfs").unwrap_or_default();
        let mut mounts = Vec::new();
        for dir in PRIVATE_TMPFS {
            mounts.push(Mount {
                source: tmpfs.clone(),
                target: cstring(Path::new(dir))?,
                fstype: Some(tmpfs.clone()),
                flags: libc::MS_NOSUID | libc::MS_NODEV,
            });
        }
        for root in HOST_PATH_ROOTS {
            let inside = host_path_dir(node_dir, root);
            std::fs::create_dir_all(&inside).with_context(|| format!("creating {}", inside.display()))?;
            if !Path::new(root).is_dir() {
                bail!(
                    "{root} does not exist on this machine; the node mounts its own copy there (create it once: mkdir {root})"
                );
            }
            mounts.push(bind(&inside, Path::new(root))?);
        }
        let sysctl_dir = node_dir.join("sysctl");
        for name in KUBELET_SYSCTLS {
            let host = Path::new("/proc/sys").join(name);
            let file = sysctl_dir.join(name.replace('/', "."));
            std::fs::create_dir_all(&sysctl_dir).with_context(|| format!("creating {}", sysctl_dir.display()))?;
            let value = std::fs::read_to_string(&host).with_context(|| format!("reading {}", host.display()))?;
            std::fs::write(&file, value).with_context(|| format!("writing {}", file.display()))?;
            mounts.push(bind(&file, &host)?);
        }
        Ok(Self { netns, mounts })
    }

    /// The steps themselves (async-signal-safe: system calls on prepared data only).
    pub fn pre_exec(&self) -> std::io::Result<()> {
        // SAFETY: plain system calls with valid, NUL-terminated strings prepared before fork.
        unsafe {
            check(libc::setns(self.netns.as_raw_fd(), libc::CLONE_NEWNET))?;
            check(libc::unshare(libc::CLONE_NEWNS))?;
            let root = c"/";
            check(libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            for m in &self.mounts {
                let fstype = m.fstype.as_ref().map_or(std::ptr::null(), |f| f.as_ptr());
                check(libc::mount(m.source.as_ptr(), m.target.as_ptr(), fstype, m.flags, std::ptr::null()))?;
            }
        }
        Ok(())
    }
}

fn bind(source: &Path, target: &Path) -> Result<Mount> {
    Ok(Mount { source: cstring(source)?, target: cstring(target)?, fstype: None, flags: libc::MS_BIND })
}

/// Where a host path root (e.g. `/data`) of the node lives on the host.
pub fn host_path_dir(node_dir: &Path, root: &str) -> PathBuf {
    node_dir.join("hostfs").join(root.trim_start_matches('/'))
}

fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

/// What every other node process does between fork and exec: enter the holder's mount and
/// network namespaces.
pub struct Join {
    mnt: File,
    net: File,
}

impl Join {
    pub fn new(holder_pid: i32) -> Result<Self> {
        let open = |kind: &str| {
            let p = format!("/proc/{holder_pid}/ns/{kind}");
            File::open(&p).with_context(|| format!("opening {p} (is the node's namespace holder running?)"))
        };
        Ok(Self { mnt: open("mnt")?, net: open("net")? })
    }

    pub fn pre_exec(&self) -> std::io::Result<()> {
        // SAFETY: setns on descriptors opened before fork.
        unsafe {
            check(libc::setns(self.net.as_raw_fd(), libc::CLONE_NEWNET))?;
            check(libc::setns(self.mnt.as_raw_fd(), libc::CLONE_NEWNS))?;
        }
        Ok(())
    }

    /// Descriptors to keep open in the parent until the child has started.
    pub fn fds(&self) -> [RawFd; 2] {
        [self.mnt.as_raw_fd(), self.net.as_raw_fd()]
    }
}
