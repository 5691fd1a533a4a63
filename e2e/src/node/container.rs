//! One container of a Pod as the agent tracks it, and its API status.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::ImageMapping;
use super::probe::{ProbeKind, ProbeState};
use super::process::ContainerProc;
use super::status::Kind;

/// Restart back-off: kubelet-like doubling, but short for tests (the kubelet uses 10 s
/// doubling to 5 min). Reset once a container ran for `BACKOFF_RESET` without exiting.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
pub const BACKOFF_RESET: Duration = Duration::from_secs(20);

pub fn now_time() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// A running instance.
pub struct Running {
    pub proc: ContainerProc,
    pub started_at: Time,
    pub since: Instant,
    pub container_id: String,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    /// Set after a SIGTERM: SIGKILL the group once this passes.
    pub kill_deadline: Option<Instant>,
}

pub enum Run {
    NotStarted,
    Running(Box<Running>),
    /// Exited; restarts at `until`, `delay` after the exit.
    BackOff {
        until: Instant,
        delay: Duration,
    },
    /// Exited for good (see `Ctr::term`).
    Exited,
    /// Could not be created (bad env reference, no entrypoint...); retried at `retry`.
    ConfigError {
        reason: String,
        message: String,
        retry: Instant,
    },
}

pub struct Ctr {
    pub spec: Container,
    pub kind: Kind,
    pub mapping: Option<ImageMapping>,
    pub run: Run,
    pub term: Option<ContainerStateTerminated>,
    pub last_term: Option<ContainerStateTerminated>,
    pub restarts: i32,
    pub ever_started: bool,
    /// Startup probe passed (or there is none) for the current instance.
    pub started: bool,
    /// Readiness probe verdict (true when there is no readiness probe).
    pub ready_probe: bool,
    pub probes: Vec<ProbeState>,
    pub backoff: Duration,
    /// Bumped for every new instance, so late probe results of an old one are ignored.
    pub seq: u64,
    /// Never start this container again (Pod finishing, terminal or being deleted).
    pub no_restart: bool,
}

impl Ctr {
    pub fn new(spec: Container, kind: Kind, mapping: Option<ImageMapping>) -> Self {
        Self {
            spec,
            kind,
            mapping,
            run: Run::NotStarted,
            term: None,
            last_term: None,
            restarts: 0,
            ever_started: false,
            started: false,
            ready_probe: false,
            probes: Vec::new(),
            backoff: BACKOFF_INITIAL,
            seq: 0,
            no_restart: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn running(&self) -> Option<&Running> {
        match &self.run {
            Run::Running(r) => Some(r),
            _ => None,
        }
    }

    pub fn is_running(&self) -> bool {
        self.running().is_some()
    }

    /// Should be (re)started now?
    pub fn due(&self, now: Instant) -> bool {
        if self.no_restart {
            return false;
        }
        match &self.run {
            Run::NotStarted => true,
            Run::BackOff { until, .. } => now >= *until,
            Run::ConfigError { retry, .. } => now >= *retry,
            Run::Running(_) | Run::Exited => false,
        }
    }

    /// Probe states for a fresh instance started at `at`.
    pub fn arm_probes(&mut self, at: Instant) {
        self.probes.clear();
        let mut add = |kind, p: &Option<k8s_openapi::api::core::v1::Probe>| {
            if let Some(p) = p {
                self.probes.push(ProbeState::new(kind, p.clone(), at));
            }
        };
        // Plain init containers run to completion: the API forbids probes on them.
        if self.kind != Kind::Init {
            add(ProbeKind::Startup, &self.spec.startup_probe);
            add(ProbeKind::Readiness, &self.spec.readiness_probe);
            add(ProbeKind::Liveness, &self.spec.liveness_probe);
        }
        self.started = self.spec.startup_probe.is_none() || self.kind == Kind::Init;
        self.ready_probe = self.spec.readiness_probe.is_none() || self.kind == Kind::Init;
    }

    /// Status as the kubelet reports it. `initializing`: the Pod's init phase is not over
    /// (regular containers wait with reason PodInitializing).
    pub fn status(&self, pod_name: &str, initializing: bool) -> ContainerStatus {
        let image_id = match &self.mapping {
            Some(m) => format!("bp-e2e://{}", m.bin_dir.display()),
            None => format!("bp-e2e-emulated://{}", self.spec.image.clone().unwrap_or_default()),
        };
        let waiting = |reason: &str, message: Option<String>| ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.to_string()), message }),
            ..Default::default()
        };
        let (state, ready, started, id) = match &self.run {
            Run::NotStarted => {
                let reason = if initializing { "PodInitializing" } else { "ContainerCreating" };
                (waiting(reason, None), false, false, None)
            }
            Run::ConfigError { reason, message, .. } => (waiting(reason, Some(message.clone())), false, false, None),
            Run::BackOff { delay, .. } => {
                let secs = delay.as_secs().max(1);
                let msg = format!("back-off {secs}s restarting failed container={} pod={pod_name}", self.name());
                (waiting("CrashLoopBackOff", Some(msg)), false, false, None)
            }
            Run::Running(r) => (
                ContainerState {
                    running: Some(ContainerStateRunning { started_at: Some(r.started_at.clone()) }),
                    ..Default::default()
                },
                self.started && self.ready_probe,
                self.started,
                Some(r.container_id.clone()),
            ),
            Run::Exited => {
                let t = self.term.clone().unwrap_or_default();
                let ok = t.exit_code == 0 && self.kind == Kind::Init;
                let id = t.container_id.clone();
                (ContainerState { terminated: Some(t), ..Default::default() }, ok, false, id)
            }
        };
        ContainerStatus {
            name: self.spec.name.clone(),
            image: self.spec.image.clone().unwrap_or_default(),
            image_id,
            container_id: id,
            ready,
            started: Some(started),
            restart_count: self.restarts,
            state: Some(state),
            last_state: Some(
                self.last_term
                    .clone()
                    .map(|t| ContainerState { terminated: Some(t), ..Default::default() })
                    .unwrap_or_default(),
            ),
            ..Default::default()
        }
    }
}

/// The tail of a log the kubelet uses for `FallbackToLogsOnError`: the last 80 lines,
/// at most 2048 bytes.
pub fn termination_log_tail(path: &std::path::Path) -> String {
    let tail = crate::procs::tail_lines(path, 80);
    let bytes = tail.as_bytes();
    if bytes.len() <= 2048 {
        return tail;
    }
    let mut start = bytes.len() - 2048;
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    tail[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let lines: Vec<String> = (0..200).map(|i| format!("line {i:04} {}", "x".repeat(30))).collect();
        std::fs::write(&p, lines.join("\n")).unwrap();
        let t = termination_log_tail(&p);
        assert!(t.len() <= 2048);
        assert!(t.ends_with(&lines[199]));
        std::fs::write(&p, "a\nb\n").unwrap();
        assert_eq!(termination_log_tail(&p), "a\nb");
    }
}
