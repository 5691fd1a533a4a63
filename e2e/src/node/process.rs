//! Launching container processes and managing per-Pod network namespaces.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use nix::sched::CloneFlags;
use tokio::process::{Child, Command};

use crate::procs::{Mode, pre_exec_steps};

/// Where `ip netns` keeps named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Creates network namespace `name` with its loopback up.
pub async fn netns_add(name: &str) -> Result<()> {
    run_ip(&["netns", "add", name]).await?;
    run_ip(&["-n", name, "link", "set", "lo", "up"]).await
}

/// Deletes network namespace `name` (missing is fine).
pub async fn netns_del(name: &str) -> Result<()> {
    if !Path::new(NETNS_DIR).join(name).exists() {
        return Ok(());
    }
    run_ip(&["netns", "delete", name]).await
}

/// Names of existing network namespaces starting with `prefix`.
pub fn netns_with_prefix(prefix: &str) -> Vec<String> {
    std::fs::read_dir(NETNS_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

async fn run_ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running ip {}", args.join(" ")))?;
    if !out.status.success() {
        bail!("ip {} failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Everything needed to start one container process.
#[derive(Clone, Debug)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub log: PathBuf,
    /// Enter this network namespace before exec (emulated containers).
    pub netns: Option<String>,
    pub mode: Mode,
}

/// Opens a named network namespace for `setns`.
pub fn open_netns(name: &str) -> std::io::Result<File> {
    File::open(Path::new(NETNS_DIR).join(name))
}

/// Builds a command that runs in its own process group (tied to this thread when
/// `mode` is [`Mode::Tied`]) and, optionally, inside a network namespace. The returned file
/// must stay open until the command is spawned.
pub fn command(
    program: &Path,
    args: &[String],
    mode: Mode,
    netns: Option<&str>,
) -> std::io::Result<(Command, Option<File>)> {
    let ns_file = match netns {
        Some(name) => Some(open_netns(name)?),
        None => None,
    };
    let ns_fd = ns_file.as_ref().map(|f| f.as_raw_fd());
    let parent = std::process::id() as i32;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    // SAFETY: runs between fork and exec; setns, setpgid, setsid and prctl are
    // async-signal-safe, and the namespace fd stays open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = ns_fd {
                let fd = BorrowedFd::borrow_raw(fd);
                nix::sched::setns(fd, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
            }
            pre_exec_steps(mode, parent)
        });
    }
    Ok((cmd, ns_file))
}

/// A started container process (the leader of its own process group).
pub struct ContainerProc {
    pub child: Child,
    pub pid: i32,
}

/// Starts a container process with stdout and stderr appended to its log file.
pub fn spawn(l: &Launch) -> std::io::Result<ContainerProc> {
    let out = OpenOptions::new().create(true).append(true).open(&l.log)?;
    let err = out.try_clone()?;
    let (mut cmd, _ns) = command(&l.program, &l.args, l.mode, l.netns.as_deref())?;
    cmd.env_clear()
        .envs(l.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&l.cwd)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let child = cmd.spawn()?;
    let pid = child.id().map(|p| p as i32).ok_or_else(|| std::io::Error::other("spawned process has no pid"))?;
    Ok(ContainerProc { child, pid })
}

/// Finds an executable by name on the host `PATH` (or as a path).
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable =
        |p: &Path| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| executable(p))
}

/// Is `p` an executable file?
pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_finds_sh() {
        assert!(which("sh").is_some());
        assert!(which("definitely-not-a-binary-bp-e2e").is_none());
        assert!(which("/bin/sh").is_some());
    }
}
