//! A real Kubernetes node: upstream kubelet and kube-proxy (built from the same Go module as
//! the control plane), Debian's containerd and runc, the CNI bridge plugin. See
//! `e2e/README.md` for what it changes on the host and how that is undone.
//!
//! Start-up: a slot ([`slot`]) gives the node its addresses and names; [`ns`] makes its
//! network and mount namespaces; a holder process keeps them; containerd, the kubelet and
//! kube-proxy run inside them, in the slot's cgroup ([`sweep`]), so that stopping the node
//! is: signal the Pods, kill everything in the cgroup, delete the network namespace.

pub mod config;
pub mod ns;
pub mod slot;
pub mod sweep;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;

use crate::pki::Pki;
use crate::procs::{self, ManagedProc, Mode};
use config::Layout;
use slot::Addresses;

/// The name the node registers under.
pub const NODE_NAME: &str = "bp-e2e-node";

/// How to start a node.
pub struct NodeOptions {
    pub node_name: String,
    /// Directory with kubelet and kube-proxy.
    pub bin_dir: PathBuf,
    /// Everything of the node goes below it (usually `<state>/node`).
    pub dir: PathBuf,
    /// Component logs.
    pub logs: PathBuf,
    /// The API server (on the slot's host IP).
    pub server: String,
    pub pki: Pki,
    pub mode: Mode,
    /// Records of started processes are appended here.
    pub pid_file: Option<PathBuf>,
    /// OCI archives imported before the kubelet starts.
    pub images: Vec<PathBuf>,
}

/// A running node.
pub struct Node {
    pub addresses: Addresses,
    pub layout: Layout,
    procs: Vec<ManagedProc>,
    stopped: bool,
}

/// Checks what the node needs from the machine, each missing piece with how to get it.
pub fn check_host(bin_dir: &Path) -> Result<()> {
    for (path, fix) in [
        ("/usr/bin/containerd", "run e2e/provision.sh (Debian package containerd)"),
        ("/usr/bin/ctr", "run e2e/provision.sh (Debian package containerd)"),
        ("/usr/sbin/runc", "run e2e/provision.sh (Debian package runc)"),
        ("/usr/lib/cni/bridge", "run e2e/provision.sh (Debian package containernetworking-plugins)"),
        ("/usr/lib/cni/host-local", "run e2e/provision.sh (Debian package containernetworking-plugins)"),
        ("/usr/lib/cni/portmap", "run e2e/provision.sh (Debian package containernetworking-plugins)"),
        ("/usr/lib/cni/loopback", "run e2e/provision.sh (Debian package containernetworking-plugins)"),
        ("/usr/sbin/iptables-restore", "run e2e/provision.sh (Debian package iptables)"),
    ] {
        if !Path::new(path).exists() {
            bail!("{path} is missing: {fix}");
        }
    }
    for b in ["kubelet", "kube-proxy"] {
        if !bin_dir.join(b).is_file() {
            bail!("{} is missing: run e2e/provision.sh", bin_dir.join(b).display());
        }
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { nix::libc::geteuid() } != 0 {
        bail!("the node needs root (network and mount namespaces, cgroups)");
    }
    if sweep::hierarchies().is_empty() {
        bail!("no cgroup hierarchy under /sys/fs/cgroup: the kubelet needs cgroups");
    }
    Ok(())
}

/// Host directories the node mounts over (see [`ns::HOST_PATH_ROOTS`]) that did not exist:
/// made here, recorded, and removed by the last node to stop.
const MADE_DIRS: &str = "/run/bp-e2e/made-dirs";

fn ensure_host_roots() -> Result<()> {
    for root in ns::HOST_PATH_ROOTS {
        match std::fs::create_dir(root) {
            Ok(()) => procs::append_line(Path::new(MADE_DIRS), root)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {root} (the node mounts its own there)")),
        }
    }
    Ok(())
}

/// Removes the directories [`ensure_host_roots`] made, unless another node still runs.
pub fn remove_made_dirs(index: u8) {
    if slot::others_alive(index) {
        return;
    }
    let Ok(text) = std::fs::read_to_string(MADE_DIRS) else {
        return;
    };
    for dir in text.lines().filter(|l| !l.is_empty()) {
        // Only an empty directory: whatever someone put there stays.
        let _ = std::fs::remove_dir(dir);
    }
    let _ = std::fs::remove_file(MADE_DIRS);
}

impl Node {
    /// Prepares the slot's host resources (cgroups, network). The control plane needs the
    /// host IP before the node starts, so this comes first.
    pub fn prepare(addresses: Addresses) -> Result<()> {
        sweep::create_cgroups(addresses)?;
        ns::create_network(addresses)?;
        ensure_host_roots()
    }

    /// Starts the node's processes and imports the images; returns once the kubelet runs
    /// (the caller waits for the Node to be Ready).
    pub fn start(addresses: Addresses, opts: &NodeOptions) -> Result<Node> {
        let layout = Layout { dir: opts.dir.clone() };
        let mut node = Node { addresses, layout: layout.clone(), procs: Vec::new(), stopped: false };
        node.write_configs(opts)?;

        // The holder keeps the namespaces (and so every mount in them) while the node runs.
        let holder = Arc::new(ns::HolderSetup::new(addresses, &layout.dir)?);
        let h = holder.clone();
        node.spawn(opts, "node-namespace", Path::new("/bin/sleep"), &["infinity".into()], move || h.pre_exec())?;
        let holder_pid = node.procs[0].pid();
        wait_for(Duration::from_secs(5), "the node's namespaces", || {
            // Mounted: its /run is no longer the host's.
            let ours = std::fs::read_link(format!("/proc/{holder_pid}/ns/mnt")).ok();
            let host = std::fs::read_link("/proc/self/ns/mnt").ok();
            Ok(ours.is_some() && ours != host)
        })?;
        let join = Arc::new(ns::Join::new(holder_pid)?);

        let j = join.clone();
        let config = layout.containerd_config().display().to_string();
        node.spawn(opts, "containerd", Path::new("/usr/bin/containerd"), &["--config".into(), config], move || {
            j.pre_exec()
        })?;
        let socket = layout.containerd_socket();
        wait_for(Duration::from_secs(30), "containerd's socket", || Ok(socket.exists()))?;
        for archive in &opts.images {
            crate::images::import(&socket, archive)?;
        }

        let j = join.clone();
        let kubelet_args = vec![
            format!("--config={}", layout.kubelet_config().display()),
            format!("--kubeconfig={}", layout.kubelet_kubeconfig().display()),
            format!("--root-dir={}", layout.kubelet_root().display()),
            format!("--hostname-override={}", opts.node_name),
            format!("--node-ip={}", addresses.node_ip()),
            "--v=1".into(),
        ];
        node.spawn(opts, "kubelet", &opts.bin_dir.join("kubelet"), &kubelet_args, move || j.pre_exec())?;
        let j = join;
        let proxy_args = vec![format!("--config={}", layout.kube_proxy_config().display()), "--v=1".into()];
        node.spawn(opts, "kube-proxy", &opts.bin_dir.join("kube-proxy"), &proxy_args, move || j.pre_exec())?;
        Ok(node)
    }

    fn write_configs(&self, opts: &NodeOptions) -> Result<()> {
        let l = &self.layout;
        let files = [
            (l.containerd_config(), config::containerd(l)),
            (l.registry_dir().join("_default").join("hosts.toml"), config::registry_default_hosts()),
            (l.cni_conf_dir().join("10-bp-e2e.conflist"), config::cni(l, self.addresses)),
            (l.kubelet_config(), config::kubelet(l, self.addresses, &opts.pki)),
            (l.kube_proxy_config(), config::kube_proxy(l, self.addresses, &opts.node_name)),
        ];
        for (path, text) in files {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        for dir in [l.kubelet_root(), l.pod_logs()] {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let pki = &opts.pki;
        let node_user = format!("system:node:{}", opts.node_name);
        crate::kubeconfig::write_private(
            &l.kubelet_kubeconfig(),
            &crate::kubeconfig::render_cert(
                &opts.server,
                &pki.ca_pem,
                &node_user,
                &pki.node_client_cert,
                &pki.node_client_key,
            ),
        )?;
        crate::kubeconfig::write(
            &l.kube_proxy_kubeconfig(),
            &opts.server,
            &pki.ca_pem,
            "system:kube-proxy",
            &pki.kube_proxy_token,
        )
    }

    fn spawn(
        &mut self,
        opts: &NodeOptions,
        name: &str,
        program: &Path,
        args: &[String],
        pre_exec: impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Result<()> {
        std::fs::create_dir_all(&opts.logs).with_context(|| format!("creating {}", opts.logs.display()))?;
        let log = opts.logs.join(format!("{name}.log"));
        let p = ManagedProc::spawn_with(name, program, args, &log, opts.mode, pre_exec)?;
        sweep::adopt(self.addresses, p.pid())?;
        if let Some(pid_file) = &opts.pid_file {
            procs::append_record(pid_file, &p.record)?;
        }
        self.procs.push(p);
        Ok(())
    }

    /// Errors out if a node process has exited, with the end of its log.
    pub fn check_alive(&mut self) -> Result<()> {
        for p in &mut self.procs {
            if let Some(st) = p.exited() {
                bail!("{} exited ({st}); last log lines of {}:\n{}", p.name, p.log.display(), p.log_tail(30));
            }
        }
        Ok(())
    }

    /// Restarts one of the node's daemons (`containerd`, `kubelet`, `kube-proxy`) in the
    /// same namespaces and cgroup; containers keep running.
    pub fn restart(&mut self, name: &str) -> Result<crate::procs::PidRecord> {
        if name == "node-namespace" {
            bail!("the namespace holder cannot restart: the node's namespaces live with it");
        }
        let p = self
            .procs
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| anyhow::anyhow!("no node process {name:?}"))?;
        p.restart(Duration::from_secs(10))?;
        sweep::adopt(self.addresses, p.pid())?;
        Ok(p.record.clone())
    }

    /// (name, PID) of the node's processes.
    pub fn pids(&self) -> Vec<(String, i32)> {
        self.procs.iter().map(|p| (p.name.clone(), p.pid())).collect()
    }

    /// Stops the node: kubelet and kube-proxy first, then SIGTERM to every container (up to
    /// `grace`), then everything left is killed and the slot's resources removed.
    pub fn stop(&mut self, grace: Duration) -> Vec<String> {
        if self.stopped {
            return Vec::new();
        }
        self.stopped = true;
        for p in self.procs.iter_mut().rev().filter(|p| p.name == "kubelet" || p.name == "kube-proxy") {
            p.stop(Duration::from_secs(5));
        }
        let done = stop_slot(self.addresses, None, grace);
        for p in &mut self.procs {
            p.stop(Duration::ZERO);
        }
        done
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(2));
    }
}

/// Stops whatever runs in slot `addr` (its kubelet already stopped or not) and removes its
/// resources; used by [`Node::stop`] and by `bp-e2e down` from another process.
pub fn stop_slot(addr: Addresses, owner: Option<&slot::Owner>, grace: Duration) -> Vec<String> {
    let mut done = Vec::new();
    let containers = sweep::signal_all(addr, "kubepods", Signal::SIGTERM);
    if containers > 0 {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !sweep::processes(addr, "kubepods").is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
        done.push(format!("sent SIGTERM to {containers} container process(es)"));
    }
    match sweep::sweep(addr, owner) {
        Ok(d) => done.extend(d),
        Err(e) => done.push(format!("cleanup incomplete: {e:#}")),
    }
    remove_made_dirs(addr.index);
    done
}

/// Removes what an earlier, dead owner of slot `addr` left (called before the slot is given
/// out again), saying what it found.
pub fn stop_slot_checked(addr: Addresses, owner: Option<&slot::Owner>) -> Result<()> {
    for line in sweep::sweep(addr, owner)? {
        eprintln!("bp-e2e: slot {}: removed {line}, left by an earlier cluster", addr.index);
    }
    Ok(())
}

fn wait_for(limit: Duration, what: &str, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !ready()? {
        if Instant::now() > deadline {
            bail!("{what} not ready within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
