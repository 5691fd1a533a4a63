//! Pure parts of the Pod status: the phase (a port of the kubelet's `getPhase`) and the
//! Initialized/ContainersReady/Ready conditions.

use k8s_openapi::api::core::v1::{ContainerStatus, PodSpec};

/// What role a container plays in its Pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Init container that must run to completion.
    Init,
    /// Native sidecar: an init container with `restartPolicy: Always`.
    Sidecar,
    Regular,
}

pub const PENDING: &str = "Pending";
pub const RUNNING: &str = "Running";
pub const SUCCEEDED: &str = "Succeeded";
pub const FAILED: &str = "Failed";

fn find<'a>(statuses: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|s| s.name == name)
}

fn is_sidecar(c: &k8s_openapi::api::core::v1::Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The Pod phase from its container statuses, as the kubelet computes it.
pub fn phase(
    spec: &PodSpec,
    init: &[ContainerStatus],
    regular: &[ContainerStatus],
    pod_has_initialized: bool,
) -> &'static str {
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let mut pending_regular_init = 0;
    let mut pending_sidecars = 0;
    let mut failed_init = 0;
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);

    for c in spec.init_containers.iter().flatten() {
        let Some(st) = find(init, &c.name) else {
            if is_sidecar(c) {
                pending_sidecars += 1;
                unknown += 1;
            } else {
                pending_regular_init += 1;
            }
            continue;
        };
        let state = st.state.clone().unwrap_or_default();
        let last_term = st.last_state.as_ref().and_then(|l| l.terminated.as_ref());
        if is_sidecar(c) {
            if state.running.is_some() {
                if st.started != Some(true) {
                    pending_sidecars += 1;
                }
                running += 1;
            } else if state.terminated.is_some() {
                // Terminated sidecars do not count.
            } else if state.waiting.is_some() {
                if last_term.is_none() {
                    pending_sidecars += 1;
                    waiting += 1;
                }
            } else {
                pending_sidecars += 1;
                unknown += 1;
            }
        } else if state.running.is_some() {
            pending_regular_init += 1;
        } else if let Some(t) = &state.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if state.waiting.is_some() {
            match last_term {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_regular_init += 1,
            }
        } else {
            pending_regular_init += 1;
        }
    }

    for c in &spec.containers {
        let Some(st) = find(regular, &c.name) else {
            unknown += 1;
            continue;
        };
        let state = st.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if state.waiting.is_some() {
            if st.last_state.as_ref().and_then(|l| l.terminated.as_ref()).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }

    if failed_init > 0 && restart_policy == "Never" {
        return FAILED;
    }
    if pending_regular_init > 0 || (pending_sidecars > 0 && !pod_has_initialized) {
        return PENDING;
    }
    if waiting > 0 {
        return PENDING;
    }
    if running > 0 && unknown == 0 {
        return RUNNING;
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if restart_policy == "Always" {
            return RUNNING;
        }
        if stopped == succeeded {
            return SUCCEEDED;
        }
        if restart_policy == "Never" {
            return FAILED;
        }
        return RUNNING;
    }
    PENDING
}

/// One Pod condition the agent owns: (type, status, reason, message).
pub type Cond = (&'static str, bool, Option<String>, Option<String>);

/// Initialized, ContainersReady and Ready.
pub fn conditions(
    spec: &PodSpec,
    init: &[ContainerStatus],
    regular: &[ContainerStatus],
    initialized: bool,
    phase: &str,
    gates_ok: bool,
) -> Vec<Cond> {
    let mut out = Vec::new();
    if initialized {
        out.push(("Initialized", true, None, None));
    } else {
        let incomplete: Vec<String> = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| {
                let st = find(init, &c.name);
                if is_sidecar(c) {
                    st.and_then(|s| s.started) != Some(true)
                } else {
                    st.and_then(|s| s.state.as_ref())
                        .and_then(|s| s.terminated.as_ref())
                        .map(|t| t.exit_code != 0)
                        .unwrap_or(true)
                }
            })
            .map(|c| c.name.clone())
            .collect();
        out.push((
            "Initialized",
            false,
            Some("ContainersNotInitialized".into()),
            Some(format!("containers with incomplete status: [{}]", incomplete.join(" "))),
        ));
    }

    let mut unready: Vec<String> = Vec::new();
    for c in spec.init_containers.iter().flatten().filter(|c| is_sidecar(c)) {
        if find(init, &c.name).map(|s| s.ready) != Some(true) {
            unready.push(c.name.clone());
        }
    }
    for c in &spec.containers {
        if find(regular, &c.name).map(|s| s.ready) != Some(true) {
            unready.push(c.name.clone());
        }
    }
    let (ready, reason, message) = if phase == SUCCEEDED {
        (false, Some("PodCompleted".to_string()), None)
    } else if !unready.is_empty() {
        (
            false,
            Some("ContainersNotReady".to_string()),
            Some(format!("containers with unready status: [{}]", unready.join(" "))),
        )
    } else {
        (true, None, None)
    };
    out.push(("ContainersReady", ready, reason.clone(), message.clone()));
    if ready && !gates_ok {
        out.push((
            "Ready",
            false,
            Some("ReadinessGatesNotReady".into()),
            Some("the status of pod readiness gates is not True".into()),
        ));
    } else {
        out.push(("Ready", ready, reason, message));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    };

    fn spec(policy: &str, init: &[(&str, bool)], regular: &[&str]) -> PodSpec {
        PodSpec {
            restart_policy: Some(policy.into()),
            init_containers: Some(
                init.iter()
                    .map(|(n, sidecar)| Container {
                        name: n.to_string(),
                        restart_policy: sidecar.then(|| "Always".to_string()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            containers: regular.iter().map(|n| Container { name: n.to_string(), ..Default::default() }).collect(),
            ..Default::default()
        }
    }

    fn running(name: &str, started: bool) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            started: Some(started),
            ready: started,
            state: Some(ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() }),
            ..Default::default()
        }
    }

    fn exited(name: &str, code: i32) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated { exit_code: code, ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn waiting(name: &str, last_code: Option<i32>) -> ContainerStatus {
        let mut s = ContainerStatus {
            name: name.into(),
            state: Some(ContainerState { waiting: Some(ContainerStateWaiting::default()), ..Default::default() }),
            ..Default::default()
        };
        if let Some(code) = last_code {
            s.last_state = exited(name, code).state;
        }
        s
    }

    #[test]
    fn phases() {
        let s = spec("Never", &[], &["a"]);
        assert_eq!(phase(&s, &[], &[waiting("a", None)], true), PENDING);
        assert_eq!(phase(&s, &[], &[running("a", true)], true), RUNNING);
        assert_eq!(phase(&s, &[], &[exited("a", 0)], true), SUCCEEDED);
        assert_eq!(phase(&s, &[], &[exited("a", 3)], true), FAILED);
        let s = spec("OnFailure", &[], &["a"]);
        assert_eq!(phase(&s, &[], &[waiting("a", Some(1))], true), RUNNING);
        let s = spec("Always", &[], &["a"]);
        assert_eq!(phase(&s, &[], &[exited("a", 0)], true), RUNNING);
    }

    #[test]
    fn init_and_sidecar_phases() {
        let s = spec("Never", &[("i", false)], &["a"]);
        assert_eq!(phase(&s, &[exited("i", 1)], &[waiting("a", None)], false), FAILED);
        assert_eq!(phase(&s, &[running("i", true)], &[waiting("a", None)], false), PENDING);
        let s = spec("Never", &[("side", true)], &["a"]);
        assert_eq!(phase(&s, &[running("side", false)], &[waiting("a", None)], false), PENDING);
        // Regular container done, sidecar still running: Running until it is stopped.
        assert_eq!(phase(&s, &[running("side", true)], &[exited("a", 0)], true), RUNNING);
        assert_eq!(phase(&s, &[exited("side", 143)], &[exited("a", 0)], true), SUCCEEDED);
    }

    #[test]
    fn readiness_conditions() {
        let s = spec("Always", &[("side", true)], &["a", "b"]);
        let c =
            conditions(&s, &[running("side", true)], &[running("a", true), running("b", false)], true, RUNNING, true);
        assert_eq!(c[1].0, "ContainersReady");
        assert!(!c[1].1);
        assert_eq!(c[1].3.as_deref(), Some("containers with unready status: [b]"));
        let c =
            conditions(&s, &[running("side", true)], &[running("a", true), running("b", true)], true, RUNNING, false);
        assert!(c[1].1);
        assert!(!c[2].1, "readiness gates hold Ready back");
    }
}
