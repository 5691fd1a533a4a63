//! Starting, recording and stopping the processes the harness owns.
//!
//! Every process is started as the leader of its own process group (or session), so that
//! stopping it also stops whatever it started. Processes are identified by PID *and* start
//! time (from `/proc/<pid>/stat`), so a recorded PID that was reused by an unrelated process
//! is never signalled.

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// How a spawned process relates to the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Own session, survives the spawner (`bp-e2e up`).
    Detached,
    /// Own process group, killed by the kernel (PR_SET_PDEATHSIG) when the spawning thread
    /// ends, so a test process that dies without running destructors leaves nothing behind.
    /// Spawn from a long-lived thread only: the signal fires when that *thread* exits.
    Tied,
}

/// Adds the pre-exec steps of `mode` to a command.
pub fn configure(cmd: &mut Command, mode: Mode) {
    let parent = std::process::id() as i32;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (setsid, setpgid, prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || pre_exec_steps(mode, parent));
    }
}

/// The pre-exec steps of `mode`; shared with tokio commands.
pub fn pre_exec_steps(mode: Mode, parent: i32) -> std::io::Result<()> {
    match mode {
        Mode::Detached => {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
        }
        Mode::Tied => {
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0)).map_err(std::io::Error::from)?;
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            // The parent may have died before prctl took effect.
            if nix::unistd::getppid().as_raw() != parent {
                return Err(std::io::Error::other("parent exited during spawn"));
            }
        }
    }
    Ok(())
}

/// One recorded process: enough to find it again from another process (`bp-e2e down`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PidRecord {
    pub name: String,
    pub pid: i32,
    pub start_ticks: u64,
}

impl PidRecord {
    pub fn of(name: &str, pid: i32) -> Option<Self> {
        Some(Self { name: name.to_string(), pid, start_ticks: start_ticks(pid)? })
    }

    /// The same process still runs (not gone, not a zombie, PID not reused).
    pub fn alive(&self) -> bool {
        matches!(stat(self.pid), Some((state, ticks)) if ticks == self.start_ticks && state != 'Z' && state != 'X')
    }

    pub fn to_line(&self) -> String {
        format!("{} {} {}", self.name, self.pid, self.start_ticks)
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut it = line.split_whitespace();
        let name = it.next()?.to_string();
        let pid = it.next()?.parse().ok()?;
        let start_ticks = it.next()?.parse().ok()?;
        Some(Self { name, pid, start_ticks })
    }

    /// SIGTERM to its process group, wait up to `grace`, then SIGKILL the group.
    /// Returns true if it had to be killed.
    pub fn terminate(&self, grace: Duration) -> bool {
        match stat(self.pid) {
            // The PID belongs to another process now. The kernel does not reuse a PID while
            // a process group of that ID exists, so ours is gone: nothing to do.
            Some((_, ticks)) if ticks != self.start_ticks => return false,
            // Leader gone (or a zombie): members of its group may remain.
            None | Some(('Z' | 'X', _)) => {
                let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
                return false;
            }
            Some(_) => {}
        }
        signal_group(self.pid, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.alive() {
                let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(self.pid, Signal::SIGKILL);
        true
    }
}

/// Signals the process group `pid` leads, or just the process if it has no group of its own.
pub fn signal_group(pid: i32, sig: Signal) {
    if killpg(Pid::from_raw(pid), sig).is_err() {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// Reads a file of [`PidRecord`] lines; a missing file is an empty list.
pub fn read_records(path: &Path) -> Vec<PidRecord> {
    std::fs::read_to_string(path).map(|s| s.lines().filter_map(PidRecord::parse).collect()).unwrap_or_default()
}

/// Appends one record to a file of records.
pub fn append_record(path: &Path, rec: &PidRecord) -> Result<()> {
    use std::io::Write;
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{}", rec.to_line()).with_context(|| format!("writing {}", path.display()))
}

/// (state, start time in clock ticks) of a process from `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 of stat is the start time; `rest` starts at field 3.
    let ticks = fields.get(19)?.parse().ok()?;
    Some((state, ticks))
}

/// Start time of a process in clock ticks since boot.
pub fn start_ticks(pid: i32) -> Option<u64> {
    stat(pid).map(|(_, t)| t)
}

/// True while `pid` is a live (non-zombie) process.
pub fn pid_alive(pid: i32) -> bool {
    matches!(stat(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// A long-running process the harness started (a control-plane component or the agent).
pub struct ManagedProc {
    pub name: String,
    pub record: PidRecord,
    pub log: PathBuf,
    child: Child,
    /// How it was started, to start it again ([`ManagedProc::restart`]).
    launch: Launch,
}

/// A process's program, arguments and pre-exec steps.
#[derive(Clone)]
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    mode: Mode,
    pre_exec: PreExec,
}

type PreExec = std::sync::Arc<dyn Fn() -> std::io::Result<()> + Send + Sync>;

impl ManagedProc {
    /// Starts `program args` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path, mode: Mode) -> Result<Self> {
        Self::spawn_with(name, program, args, log, mode, || Ok(()))
    }

    /// Like [`ManagedProc::spawn`], with `pre_exec` run in the child after the steps of
    /// `mode` (it must be async-signal-safe: system calls on data prepared before).
    pub fn spawn_with(
        name: &str,
        program: &Path,
        args: &[String],
        log: &Path,
        mode: Mode,
        pre_exec: impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Result<Self> {
        let launch = Launch {
            program: program.to_path_buf(),
            args: args.to_vec(),
            mode,
            pre_exec: std::sync::Arc::new(pre_exec),
        };
        let (child, record) = launch.start(name, log)?;
        Ok(Self { name: name.to_string(), record, log: log.to_path_buf(), child, launch })
    }

    /// Stops it (as [`ManagedProc::stop`]) and starts it again the same way, its output
    /// appended to the same log.
    pub fn restart(&mut self, grace: Duration) -> Result<()> {
        self.stop(grace);
        let (child, record) = self.launch.start(&self.name, &self.log)?;
        self.child = child;
        self.record = record;
        Ok(())
    }
}

impl Launch {
    fn start(&self, name: &str, log: &Path) -> Result<(Child, PidRecord)> {
        let (program, args, mode) = (&self.program, &self.args, self.mode);
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening log {}", log.display()))?;
        let err = out.try_clone().with_context(|| format!("duplicating log handle {}", log.display()))?;
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::from(out)).stderr(Stdio::from(err));
        configure(&mut cmd, mode);
        let pre_exec = self.pre_exec.clone();
        // SAFETY: the caller of `spawn_with` guarantees `pre_exec` is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || pre_exec());
        }
        let child = cmd.spawn().with_context(|| format!("starting {name} ({})", program.display()))?;
        let pid = child.id() as i32;
        let record = PidRecord::of(name, pid).unwrap_or(PidRecord { name: name.to_string(), pid, start_ticks: 0 });
        Ok((child, record))
    }
}

impl ManagedProc {
    pub fn pid(&self) -> i32 {
        self.record.pid
    }

    /// Exit status if it has exited (reaps it).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of its log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_lines(&self.log, lines)
    }

    /// SIGTERM the group, wait up to `grace`, SIGKILL, and reap.
    pub fn stop(&mut self, grace: Duration) {
        if self.exited().is_none() {
            signal_group(self.pid(), Signal::SIGTERM);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline && self.exited().is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Also reaches members of the group left behind by the leader.
        signal_group(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a text file ("" if unreadable).
pub fn tail_lines(path: &Path, lines: usize) -> String {
    let Ok(s) = std::fs::read(path) else {
        return String::new();
    };
    let s = String::from_utf8_lossy(&s);
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Appends one line to a text file (created if missing, with its directory).
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{line}").with_context(|| format!("writing {}", path.display()))
}

/// Creates (truncates) a file, with context.
pub fn create_file(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("creating {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrip_and_identity() {
        let me = PidRecord::of("self", std::process::id() as i32).unwrap();
        assert!(me.alive());
        assert_eq!(PidRecord::parse(&me.to_line()), Some(me.clone()));
        let reused = PidRecord { start_ticks: me.start_ticks + 1, ..me };
        assert!(!reused.alive(), "a different start time is another process");
    }
}
