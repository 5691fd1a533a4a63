//! One worker per Pod: runs its init containers, sidecars and containers, restarts them
//! by policy, runs probes, writes the status, and handles deletion like a kubelet.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::events::{Event as KEvent, EventType};
use nix::sys::signal::Signal;
use serde_json::json;
use tokio::sync::mpsc;

mod launch;

use super::agent::AgentCtx;
use super::container::{
    BACKOFF_INITIAL, BACKOFF_MAX, BACKOFF_RESET, Ctr, Run, Running, now_time, termination_log_tail,
};
use super::probe::{self, ProbeKind};
use super::process;
use super::status::{self, Kind};
use crate::procs::signal_group;

/// Messages from the agent to a Pod worker.
pub enum PodMsg {
    /// The Pod object changed.
    Update(Box<Pod>),
    /// The Pod is gone from the API (force-deleted): stop everything.
    Gone,
    /// The agent is stopping: stop everything, write nothing.
    Shutdown,
}

pub struct PodHandle {
    pub tx: mpsc::UnboundedSender<PodMsg>,
    pub join: tokio::task::JoinHandle<()>,
}

/// Starts the worker of `pod`.
pub fn spawn(ctx: Arc<AgentCtx>, pod: Pod) -> PodHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let join = tokio::spawn(async move {
        let (probe_tx, probe_rx) = mpsc::unbounded_channel();
        let w = Worker::new(ctx, pod, probe_tx);
        w.run(rx, probe_rx).await;
    });
    PodHandle { tx, join }
}

struct ProbeResult {
    ctr: usize,
    seq: u64,
    kind: ProbeKind,
    ok: bool,
    message: String,
}

struct Worker {
    ctx: Arc<AgentCtx>,
    pod: Pod,
    uid: String,
    ns: String,
    name: String,
    dir: PathBuf,
    netns: Option<String>,
    netns_error: Option<String>,
    ctrs: Vec<Ctr>,
    n_init: usize,
    initialized: bool,
    /// Sticky terminal phase (Succeeded/Failed).
    terminal: Option<&'static str>,
    /// The Pod was already terminal when this agent first saw it: only handle deletion.
    adopted_terminal: bool,
    /// All regular containers are done and the Pod does not restart them: sidecars stop.
    finishing: bool,
    deleting: bool,
    start_time: Time,
    transitions: HashMap<&'static str, (bool, Time)>,
    last_written: Option<serde_json::Value>,
    probe_tx: mpsc::UnboundedSender<ProbeResult>,
    kubeconfig: Option<PathBuf>,
}

fn restart_policy(pod: &Pod) -> String {
    pod.spec.as_ref().and_then(|s| s.restart_policy.clone()).unwrap_or_else(|| "Always".into())
}

impl Worker {
    fn new(ctx: Arc<AgentCtx>, pod: Pod, probe_tx: mpsc::UnboundedSender<ProbeResult>) -> Self {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let map = |image: &Option<String>| {
            let image = image.as_deref().unwrap_or("");
            ctx.cfg.images.iter().find(|m| m.matches(image)).cloned()
        };
        let mut ctrs = Vec::new();
        for c in spec.init_containers.iter().flatten() {
            let kind = if c.restart_policy.as_deref() == Some("Always") { Kind::Sidecar } else { Kind::Init };
            ctrs.push(Ctr::new(c.clone(), kind, map(&c.image)));
        }
        let n_init = ctrs.len();
        for c in &spec.containers {
            ctrs.push(Ctr::new(c.clone(), Kind::Regular, map(&c.image)));
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        let adopted_terminal = matches!(phase.as_deref(), Some("Succeeded" | "Failed"));
        let dir = ctx.cfg.state_dir.join("pods").join(format!("{ns}_{name}_{uid}"));
        Self {
            ctx,
            uid,
            ns,
            name,
            dir,
            netns: None,
            netns_error: None,
            ctrs,
            n_init,
            initialized: n_init == 0,
            terminal: None,
            adopted_terminal,
            finishing: false,
            deleting: false,
            start_time: now_time(),
            transitions: HashMap::new(),
            last_written: None,
            probe_tx,
            kubeconfig: None,
            pod,
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<PodMsg>,
        mut probe_rx: mpsc::UnboundedReceiver<ProbeResult>,
    ) {
        if !self.adopted_terminal {
            self.setup().await;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(PodMsg::Update(p)) => self.pod = *p,
                    Some(PodMsg::Gone) | Some(PodMsg::Shutdown) | None => {
                        self.stop_all(Duration::from_secs(2)).await;
                        break;
                    }
                },
                Some(r) = probe_rx.recv() => self.on_probe_result(r).await,
                _ = tick.tick() => {}
            }
            if self.pod.metadata.deletion_timestamp.is_some() {
                self.terminate_and_delete().await;
                break;
            }
            if self.adopted_terminal {
                continue;
            }
            self.step().await;
            self.sync_status().await;
        }
        self.cleanup().await;
    }

    async fn event(&self, warning: bool, reason: &str, note: String) {
        let ev = KEvent {
            type_: if warning { EventType::Warning } else { EventType::Normal },
            reason: reason.to_string(),
            note: Some(note.chars().take(1000).collect()),
            action: reason.to_string(),
            secondary: None,
        };
        let reference = self.pod.object_ref(&());
        if let Err(e) = self.ctx.recorder.publish(&ev, &reference).await {
            tracing::debug!(pod = %self.name, "publishing event {reason}: {e}");
        }
    }

    /// Pod directory, network namespace, and warnings about what is not emulated.
    async fn setup(&mut self) {
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            tracing::warn!("creating {}: {e}", self.dir.display());
        }
        let host_network = self.pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false);
        // hostNetwork Pods share the host's namespace, as on a kubelet.
        if !host_network && self.ctrs.iter().any(|c| c.mapping.is_none()) {
            let short: String = self.uid.chars().filter(|c| *c != '-').take(12).collect();
            let ns = format!("{}{short}", self.ctx.cfg.netns_prefix);
            match process::netns_add(&ns).await {
                Ok(()) => self.netns = Some(ns),
                Err(e) => {
                    let msg = format!("creating network namespace {ns}: {e:#}");
                    tracing::warn!(pod = %self.name, "{msg}");
                    self.netns_error = Some(msg);
                }
            }
        }
        let unsupported = self.unsupported();
        if !unsupported.is_empty() {
            self.event(true, "Unsupported", format!("bp-e2e node agent ignores: {}", unsupported.join("; "))).await;
        }
    }

    fn unsupported(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(spec) = &self.pod.spec else {
            return out;
        };
        for v in spec.volumes.iter().flatten() {
            // The ServiceAccount admission adds this one to every Pod; KUBECONFIG replaces it.
            if !v.name.starts_with("kube-api-access-") {
                out.push(format!("volume {:?}", v.name));
            }
        }
        for c in self.ctrs.iter().map(|c| &c.spec) {
            for p in c.ports.iter().flatten() {
                if p.host_port.is_some() {
                    out.push(format!("hostPort of {}", c.name));
                }
                if p.protocol.as_deref().is_some_and(|p| p != "TCP") {
                    out.push(format!(
                        "{} port {} of {}",
                        p.protocol.as_deref().unwrap_or(""),
                        p.container_port,
                        c.name
                    ));
                }
            }
            if c.lifecycle.is_some() {
                out.push(format!("lifecycle hooks of {}", c.name));
            }
        }
        if spec.ephemeral_containers.is_some() {
            out.push("ephemeral containers".into());
        }
        out
    }

    async fn cleanup(&mut self) {
        if let Some(ns) = self.netns.take()
            && let Err(e) = process::netns_del(&ns).await
        {
            tracing::warn!(pod = %self.name, "{e:#}");
        }
    }

    /// One pass of the lifecycle.
    async fn step(&mut self) {
        let now = Instant::now();
        self.reap(now);
        if self.terminal.is_some() {
            return;
        }
        if !self.initialized {
            self.step_init(now).await;
        }
        if self.initialized {
            for i in self.n_init..self.ctrs.len() {
                if self.ctrs[i].due(now) {
                    self.start(i).await;
                }
            }
            for i in 0..self.n_init {
                if self.ctrs[i].kind == Kind::Sidecar && self.ctrs[i].due(now) {
                    self.start(i).await;
                }
            }
            self.check_finishing(now);
        }
        self.schedule_probes(now);
    }

    /// Init containers in order; each sidecar must be started (startup probe passed)
    /// before the next init container runs.
    async fn step_init(&mut self, now: Instant) {
        for i in 0..self.n_init {
            let c = &self.ctrs[i];
            match (&c.run, c.kind) {
                (Run::Running(_), Kind::Sidecar) if c.started => continue,
                (Run::Exited, Kind::Init) if c.term.as_ref().map(|t| t.exit_code) == Some(0) => {
                    continue;
                }
                _ => {}
            }
            if c.due(now) {
                self.start(i).await;
            }
            return;
        }
        self.initialized = true;
    }

    /// When regular containers are all done and will not restart, stop the sidecars
    /// (the kubelet does this so Jobs with sidecars can finish).
    fn check_finishing(&mut self, now: Instant) {
        if self.finishing || restart_policy(&self.pod) == "Always" {
            return;
        }
        let regular_done = self.ctrs[self.n_init..].iter().all(|c| matches!(c.run, Run::Exited));
        if !regular_done {
            return;
        }
        self.finishing = true;
        let grace = self.grace();
        for c in &mut self.ctrs[..self.n_init] {
            c.no_restart = true;
            if let Run::Running(r) = &mut c.run {
                signal_group(r.proc.pid, Signal::SIGTERM);
                r.kill_deadline = Some(now + grace);
            }
        }
    }

    fn grace(&self) -> Duration {
        let secs = self.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).max(0);
        Duration::from_secs(secs as u64)
    }

    /// Collects exited processes and escalates overdue SIGTERMs to SIGKILL.
    fn reap(&mut self, now: Instant) {
        for i in 0..self.ctrs.len() {
            let exited = match &mut self.ctrs[i].run {
                Run::Running(r) => match r.proc.child.try_wait() {
                    Ok(Some(st)) => Some(st),
                    Ok(None) => {
                        if r.kill_deadline.is_some_and(|d| now >= d) {
                            signal_group(r.proc.pid, Signal::SIGKILL);
                        }
                        None
                    }
                    Err(e) => {
                        tracing::warn!(pod = %self.name, "waiting for {}: {e}", self.ctrs[i].spec.name);
                        None
                    }
                },
                _ => None,
            };
            if let Some(st) = exited {
                self.on_exit(i, st, now);
            }
        }
    }

    fn on_exit(&mut self, i: usize, st: std::process::ExitStatus, now: Instant) {
        let Run::Running(r) = std::mem::replace(&mut self.ctrs[i].run, Run::Exited) else {
            return;
        };
        // A container's processes die with it (the kubelet kills its whole cgroup).
        signal_group(r.proc.pid, Signal::SIGKILL);
        self.ctx.procs.remove(r.proc.pid);
        let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
        let fallback = self.ctrs[i].spec.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
        let message = (code != 0 && fallback).then(|| termination_log_tail(&r.log)).filter(|m| !m.is_empty());
        let term = ContainerStateTerminated {
            exit_code: code,
            signal: st.signal(),
            reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
            message,
            started_at: Some(r.started_at.clone()),
            finished_at: Some(now_time()),
            container_id: Some(r.container_id.clone()),
        };
        tracing::info!(pod = %self.name, container = %self.ctrs[i].spec.name, code, "container exited");
        self.finish(i, term, now.saturating_duration_since(r.since), now);
    }

    /// Applies the restart policy to a container instance that ended with `term`.
    fn finish(&mut self, i: usize, term: ContainerStateTerminated, ran: Duration, now: Instant) {
        let policy = restart_policy(&self.pod);
        let blocked = self.terminal.is_some() || self.deleting;
        let finishing = self.finishing;
        let c = &mut self.ctrs[i];
        c.started = false;
        c.ready_probe = false;
        c.probes.clear();
        c.seq += 1;
        let code = term.exit_code;
        let restart = !c.no_restart
            && !blocked
            && match c.kind {
                Kind::Sidecar => !finishing,
                Kind::Init => policy != "Never" && code != 0,
                Kind::Regular => match policy.as_str() {
                    "Always" => true,
                    "OnFailure" => code != 0,
                    _ => false,
                },
            };
        if restart {
            if ran >= BACKOFF_RESET {
                c.backoff = BACKOFF_INITIAL;
            }
            c.run = Run::BackOff { until: now + c.backoff, delay: c.backoff };
            c.backoff = (c.backoff * 2).min(BACKOFF_MAX);
            c.last_term = Some(term);
            c.term = None;
        } else {
            c.term = Some(term);
            c.run = Run::Exited;
        }
    }

    /// Starts (or restarts) container `i`.
    async fn start(&mut self, i: usize) {
        let now = Instant::now();
        let launch = match self.prepare(i).await {
            Ok(l) => l,
            Err((reason, message)) => {
                tracing::warn!(pod = %self.name, container = %self.ctrs[i].spec.name, "{reason}: {message}");
                let changed = !matches!(&self.ctrs[i].run, Run::ConfigError { message: m, .. } if *m == message);
                self.ctrs[i].run = Run::ConfigError {
                    reason: reason.clone(),
                    message: message.clone(),
                    retry: now + Duration::from_secs(2),
                };
                if changed {
                    self.event(true, "Failed", format!("Error: {message}")).await;
                }
                return;
            }
        };
        let c = &mut self.ctrs[i];
        if c.ever_started {
            c.restarts += 1;
        }
        c.ever_started = true;
        let container_id = format!("bp-e2e://{}-{}-{}", self.uid, c.spec.name, c.restarts);
        match process::spawn(&launch) {
            Ok(proc) => {
                let pid = proc.pid;
                c.seq += 1;
                c.arm_probes(now);
                c.run = Run::Running(Box::new(Running {
                    proc,
                    started_at: now_time(),
                    since: now,
                    container_id,
                    env: launch.env.clone(),
                    log: launch.log.clone(),
                    kill_deadline: None,
                }));
                let name = c.spec.name.clone();
                self.ctx.procs.add(pid, &format!("{}/{}/{name}", self.ns, self.name));
                tracing::info!(pod = %self.name, container = %name, pid, "container started");
                self.event(false, "Started", format!("Started container {name}")).await;
            }
            Err(e) => {
                // What a container runtime reports when exec fails.
                let message = format!("failed to start {:?} ({}): {e}", c.spec.name, launch.program.display());
                let term = ContainerStateTerminated {
                    exit_code: 128,
                    reason: Some("StartError".into()),
                    message: Some(message.clone()),
                    started_at: Some(now_time()),
                    finished_at: Some(now_time()),
                    container_id: Some(container_id),
                    ..Default::default()
                };
                self.finish(i, term, Duration::ZERO, now);
                self.event(true, "Failed", message).await;
            }
        }
    }

    fn schedule_probes(&mut self, now: Instant) {
        let netns = self.netns.clone();
        let mode = self.ctx.cfg.mode;
        for (i, c) in self.ctrs.iter_mut().enumerate() {
            let Run::Running(r) = &c.run else { continue };
            if r.kill_deadline.is_some() {
                continue;
            }
            let env = r.env.clone();
            let seq = c.seq;
            let started = c.started;
            for p in c.probes.iter_mut() {
                let active = match p.kind {
                    ProbeKind::Startup => !started,
                    _ => started,
                };
                if !active || p.in_flight || now < p.next_due {
                    continue;
                }
                p.in_flight = true;
                let action = probe::action_for(&p.probe, &c.spec, c.mapping.as_ref());
                let ns = if c.mapping.is_none() { netns.clone() } else { None };
                let (kind, timeout, tx, env) = (p.kind, p.timeout(), self.probe_tx.clone(), env.clone());
                tokio::spawn(async move {
                    let (ok, message) = probe::run(action, ns, env, mode, timeout).await;
                    let _ = tx.send(ProbeResult { ctr: i, seq, kind, ok, message });
                });
            }
        }
    }

    async fn on_probe_result(&mut self, r: ProbeResult) {
        let now = Instant::now();
        let grace = self.grace();
        let Some(c) = self.ctrs.get_mut(r.ctr) else {
            return;
        };
        if c.seq != r.seq || !c.is_running() {
            return;
        }
        let Some(p) = c.probes.iter_mut().find(|p| p.kind == r.kind) else {
            return;
        };
        let probe_grace =
            p.probe.termination_grace_period_seconds.map(|s| Duration::from_secs(s.max(0) as u64)).unwrap_or(grace);
        let verdict = p.record(r.ok, now);
        let name = c.spec.name.clone();
        let mut kill = false;
        match (r.kind, verdict) {
            (ProbeKind::Startup, Some(true)) => c.started = true,
            (ProbeKind::Readiness, Some(v)) => c.ready_probe = v,
            (ProbeKind::Startup | ProbeKind::Liveness, Some(false)) => kill = true,
            _ => {}
        }
        if kill && let Run::Running(run) = &mut c.run {
            signal_group(run.proc.pid, Signal::SIGTERM);
            run.kill_deadline = Some(now + probe_grace);
        }
        if !r.ok {
            self.event(true, "Unhealthy", format!("{} probe failed: {}", r.kind.name(), r.message)).await;
        }
        if kill {
            let why = format!("Container {name} failed {} probe, will be restarted", r.kind.name().to_lowercase());
            self.event(false, "Killing", why).await;
        }
    }

    /// The status this agent reports, and updates to the sticky terminal phase.
    fn compute_status(&mut self) -> serde_json::Value {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let initializing = !self.initialized;
        let init: Vec<_> = self.ctrs[..self.n_init].iter().map(|c| c.status(&self.name, initializing)).collect();
        let regular: Vec<_> = self.ctrs[self.n_init..].iter().map(|c| c.status(&self.name, initializing)).collect();
        let computed = status::phase(&spec, &init, &regular, self.initialized);
        let phase = match self.terminal {
            Some(t) => t,
            None if computed == status::SUCCEEDED || computed == status::FAILED => {
                self.terminal = Some(computed);
                computed
            }
            None => computed,
        };
        let current = self.pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let gates_ok = spec
            .readiness_gates
            .iter()
            .flatten()
            .all(|g| current.iter().any(|c| c.type_ == g.condition_type && c.status == "True"));
        let mut conds = vec![("PodReadyToStartContainers", true, None, None)];
        conds.extend(status::conditions(&spec, &init, &regular, self.initialized, phase, gates_ok));
        let mut out = Vec::new();
        for (ty, ok, reason, message) in conds {
            let entry = self.transitions.entry(ty).or_insert_with(|| (ok, now_time()));
            if entry.0 != ok {
                *entry = (ok, now_time());
            }
            let mut c = json!({
                "type": ty,
                "status": if ok { "True" } else { "False" },
                "lastTransitionTime": entry.1,
            });
            if let Some(r) = reason {
                c["reason"] = json!(r);
            }
            if let Some(m) = message {
                c["message"] = json!(m);
            }
            out.push(c);
        }
        // Keep conditions owned by others (PodScheduled, readiness gates, DisruptionTarget).
        for c in current {
            let ours = ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"];
            if !ours.contains(&c.type_.as_str()) {
                out.push(serde_json::to_value(c).unwrap_or(serde_json::Value::Null));
            }
        }
        let ip = &self.ctx.cfg.host_ip;
        json!({
            "status": {
                "phase": phase,
                "conditions": out,
                "hostIP": ip,
                "hostIPs": [{"ip": ip}],
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": self.start_time,
                "initContainerStatuses": init,
                "containerStatuses": regular,
            }
        })
    }

    async fn sync_status(&mut self) {
        let value = self.compute_status();
        if self.terminal.is_some() {
            // Stop whatever still runs in a finished Pod.
            self.stop_running_nonblocking();
        }
        if self.last_written.as_ref() == Some(&value) {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        match api.patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&value)).await {
            Ok(p) => {
                self.pod.status = p.status;
                self.last_written = Some(value);
            }
            Err(e) => tracing::warn!(pod = %self.name, "writing status: {e}"),
        }
    }

    fn stop_running_nonblocking(&mut self) {
        let now = Instant::now();
        let grace = self.grace();
        for c in &mut self.ctrs {
            c.no_restart = true;
            if let Run::Running(r) = &mut c.run
                && r.kill_deadline.is_none()
            {
                signal_group(r.proc.pid, Signal::SIGTERM);
                r.kill_deadline = Some(now + grace);
            }
        }
    }

    /// SIGTERM everything, wait up to `grace`, SIGKILL, and reap.
    async fn stop_all(&mut self, grace: Duration) {
        let now = Instant::now();
        for c in &mut self.ctrs {
            c.no_restart = true;
            if let Run::Running(r) = &mut c.run {
                signal_group(r.proc.pid, Signal::SIGTERM);
                r.kill_deadline = Some(now + grace);
            }
        }
        let give_up = now + grace + Duration::from_secs(5);
        loop {
            self.reap(Instant::now());
            if !self.ctrs.iter().any(|c| c.is_running()) || Instant::now() > give_up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The kubelet's handling of a deleted Pod: stop containers within the grace period,
    /// report the final status, then remove the object (grace period 0).
    async fn terminate_and_delete(&mut self) {
        self.deleting = true;
        let grace = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or_else(|| self.grace());
        tracing::info!(pod = %self.name, ?grace, "pod deleted: stopping containers");
        if self.ctrs.iter().any(|c| c.is_running()) {
            let names: Vec<String> = self.ctrs.iter().filter(|c| c.is_running()).map(|c| c.spec.name.clone()).collect();
            self.event(false, "Killing", format!("Stopping containers {}", names.join(", "))).await;
        }
        self.stop_all(grace).await;
        if !self.adopted_terminal {
            if self.terminal.is_none() {
                let v = self.compute_status();
                let phase = v["status"]["phase"].as_str().unwrap_or("");
                // A deleted Pod ends Failed unless it had succeeded.
                self.terminal = Some(if phase == status::SUCCEEDED { status::SUCCEEDED } else { status::FAILED });
            }
            self.sync_status().await;
        }
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: Some(self.uid.clone()), resource_version: None }),
            ..Default::default()
        };
        for attempt in 1..=5 {
            match api.delete(&self.name, &dp).await {
                Ok(_) => break,
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => break,
                Err(e) => {
                    tracing::warn!(pod = %self.name, attempt, "deleting: {e}");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
    }
}
