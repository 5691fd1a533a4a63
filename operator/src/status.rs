//! The status of a playground, computed from what the reconciler observed. Pure: no client.
//!
//! Conditions follow the Kubernetes API conventions; `lastTransitionTime` changes only when a
//! condition's status flips, so an unchanged world yields an identical status and no write.

use bp_generator::Rendered;
use bp_generator::api::{BuilderPlaygroundStatus, Condition, Endpoint, Phase, PortStatus, Protocol, ServiceStatus};
use bp_generator::bundle::UNPACK_CONTAINER;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

pub const READY: &str = "Ready";
pub const GENERATED: &str = "Generated";
pub const DEPLOYED: &str = "Deployed";
pub const EXPOSED: &str = "Exposed";
pub const SUSPENDED: &str = "Suspended";
pub const MONITORED: &str = "Monitored";

/// How the playground's Service stands. It only exposes the devnet, so its failure is a
/// condition of its own and never keeps the Pod from running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exposure {
    /// No service declares a port: nothing to expose.
    NoPorts,
    /// The Service routes the declared ports; its DNS name in the cluster
    /// (`<name>.<namespace>.svc`).
    Applied(String),
    /// The API server refused the Service: its words.
    Failed(String),
}

/// How the devnet's own metrics stand, with `spec.monitoring` on. It never keeps the devnet
/// from running: a missing CRD or a refused PodMonitor is this condition's business only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Monitoring {
    /// The PodMonitor (named) scrapes these endpoints (`el (port metrics, /metrics)`).
    Applied { podmonitor: String, endpoints: Vec<String> },
    /// No service has a metrics port: nothing to scrape, no PodMonitor.
    NoMetricsPorts,
    /// The cluster has no PodMonitor kind (the Prometheus Operator's CRDs are not installed).
    CrdMissing,
    /// The API server refused the PodMonitor (or could not be asked): its words.
    Failed(String),
}

/// Sets the `Monitored` condition from `monitoring`, or removes it when monitoring is off.
pub fn set_monitoring(
    status: &mut BuilderPlaygroundStatus,
    monitoring: Option<&Monitoring>,
    generation: Option<i64>,
    now: &str,
) {
    let Some(monitoring) = monitoring else {
        status.conditions.retain(|c| c.type_ != MONITORED);
        return;
    };
    let (ok, reason, message) = match monitoring {
        Monitoring::Applied { podmonitor, endpoints } => {
            (true, "PodMonitorApplied", format!("PodMonitor {podmonitor} scrapes {}", endpoints.join(", ")))
        }
        Monitoring::NoMetricsPorts => (
            false,
            "NoMetricsPorts",
            "no service has a port named \"metrics\": nothing to scrape, no PodMonitor".to_owned(),
        ),
        Monitoring::CrdMissing => (
            false,
            "PodMonitorCRDMissing",
            "the cluster has no PodMonitor kind (monitoring.coreos.com/v1): install the Prometheus Operator's CRDs; the devnet runs unmonitored meanwhile".to_owned(),
        ),
        Monitoring::Failed(message) => (false, "PodMonitorFailed", message.clone()),
    };
    let status_word = if ok { "True" } else { "False" };
    set_condition(&mut status.conditions, MONITORED, status_word, reason, message, generation, now);
    sort_conditions(&mut status.conditions);
}

/// Ours first, in a fixed order ([`order`]); other writers' after, as they were.
fn sort_conditions(conditions: &mut [Condition]) {
    conditions.sort_by_key(order);
}

/// Where the reconciler got to.
#[derive(Debug)]
pub enum Stage<'a> {
    /// The spec cannot be rendered.
    Invalid { message: String },
    /// The generator Job is running.
    Generating { job: String },
    /// The generator Job failed.
    GeneratorFailed { job: String, message: String },
    /// The PodSpec is rendered; the Pod may or may not exist yet.
    Deployed { job: String, configmap: String, rendered: &'a Rendered, pod: Option<&'a Pod>, exposure: Exposure },
}

/// Why the Pod's artifacts bundle could not be unpacked, if its unpack step failed and has not
/// succeeded since.
fn unpack_failure(pod: &Pod) -> Option<String> {
    let st = pod.status.as_ref()?.init_container_statuses.as_ref()?.iter().find(|c| c.name == UNPACK_CONTAINER)?;
    let terminated = |s: Option<&k8s_openapi::api::core::v1::ContainerState>| s.and_then(|s| s.terminated.clone());
    let now = terminated(st.state.as_ref());
    if now.as_ref().is_some_and(|t| t.exit_code == 0) {
        return None;
    }
    let failed = now.or_else(|| terminated(st.last_state.as_ref())).filter(|t| t.exit_code != 0)?;
    let why = failed.message.as_deref().map(str::trim).filter(|m| !m.is_empty()).unwrap_or("no message");
    Some(format!("the artifacts bundle could not be unpacked (exit code {}): {why}", failed.exit_code))
}

/// Computes the new status from the stage and the previous status.
pub fn compute(
    stage: &Stage,
    previous: Option<&BuilderPlaygroundStatus>,
    generation: Option<i64>,
    now: &str,
) -> BuilderPlaygroundStatus {
    let mut conditions: Vec<Condition> = previous.map(|s| s.conditions.clone()).unwrap_or_default();
    let mut set = |type_: &str, status: bool, reason: &str, message: String| {
        set_condition(&mut conditions, type_, if status { "True" } else { "False" }, reason, message, generation, now)
    };
    let mut status = BuilderPlaygroundStatus { observed_generation: generation, ..Default::default() };
    match stage {
        Stage::Invalid { message } => {
            status.phase = Some(Phase::Failed);
            set(READY, false, "InvalidSpec", message.clone());
            set(GENERATED, false, "InvalidSpec", "the spec is invalid; nothing was generated".into());
            set(DEPLOYED, false, "InvalidSpec", "the spec is invalid; nothing was deployed".into());
        }
        Stage::Generating { job } => {
            status.phase = Some(Phase::Generating);
            status.generator_job = Some(job.clone());
            set(GENERATED, false, "Generating", format!("generator Job {job} is rendering the PodSpec"));
            set(DEPLOYED, false, "Generating", "waiting for the generator".into());
            set(READY, false, "Generating", "waiting for the generator".into());
        }
        Stage::GeneratorFailed { job, message } => {
            status.phase = Some(Phase::Failed);
            status.generator_job = Some(job.clone());
            set(GENERATED, false, "GeneratorFailed", message.clone());
            set(DEPLOYED, false, "GeneratorFailed", "the generator failed; nothing was deployed".into());
            set(READY, false, "GeneratorFailed", message.clone());
        }
        Stage::Deployed { job, configmap, rendered, pod, exposure } => {
            status.generator_job = Some(job.clone());
            status.pod_spec_config_map = Some(configmap.clone());
            set(GENERATED, true, "Generated", format!("PodSpec rendered into ConfigMap {configmap}"));
            match exposure {
                Exposure::NoPorts => set(EXPOSED, true, "NoPorts", "no service declares a port".into()),
                Exposure::Applied(service) => {
                    set(EXPOSED, true, "ServiceApplied", format!("Service {service} routes the declared ports"))
                }
                Exposure::Failed(message) => set(EXPOSED, false, "ServiceFailed", message.clone()),
            }
            let services = service_statuses(rendered, *pod);
            let host = match exposure {
                Exposure::Applied(host) => Some(host.as_str()),
                Exposure::NoPorts | Exposure::Failed(_) => None,
            };
            status.endpoints = endpoints(rendered, host);
            status.rpc_url = status
                .endpoints
                .iter()
                .find(|e| e.service == RPC_SERVICE && e.port == RPC_PORT)
                .and_then(|e| e.in_cluster.clone());
            let total = services.len();
            let ready: Vec<&String> = services.iter().filter(|s| s.ready).map(|s| &s.name).collect();
            status.ready = Some(format!("{}/{total}", ready.len()));
            match pod {
                Some(pod) => {
                    status.pod_name = pod.metadata.name.clone();
                    let order = if rendered.start_order_enforced {
                        String::new()
                    } else {
                        "; the API server predates native sidecars, so start order is not enforced".into()
                    };
                    let pod_name = status.pod_name.clone().unwrap_or_default();
                    if rendered.warnings.is_empty() {
                        set(DEPLOYED, true, "PodCreated", format!("Pod {pod_name} created{order}"));
                    } else {
                        let warnings = rendered.warnings.join("; ");
                        set(
                            DEPLOYED,
                            true,
                            "PodCreatedWithWarnings",
                            format!("Pod {pod_name} created{order}; {warnings}"),
                        );
                    }
                }
                None => set(DEPLOYED, false, "Deploying", "creating the Pod".into()),
            }
            if let Some(message) = pod.and_then(unpack_failure) {
                // No service starts without its artifacts: say why, not which services wait.
                status.phase = Some(Phase::Failed);
                set(READY, false, "ArtifactsUnpackFailed", message);
            } else if total > 0 && ready.len() == total {
                status.phase = Some(Phase::Running);
                set(READY, true, "AllServicesReady", format!("{total}/{total} services ready"));
            } else {
                // The first failing service (by name) speaks for the rest in the condition.
                let failing = services.iter().find(|s| {
                    !s.ready && (s.restarts > 0 || s.state == "Terminated" || s.message.contains("CrashLoopBackOff"))
                });
                status.phase =
                    Some(if pod.is_some() && failing.is_some() { Phase::Degraded } else { Phase::Deploying });
                let not_ready: Vec<&str> = services.iter().filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
                let mut message =
                    format!("{}/{total} services ready; not ready: {}", ready.len(), not_ready.join(", "));
                if let Some(s) = failing {
                    message.push_str(&format!("; {}: {}", s.name, s.message));
                }
                set(READY, false, if failing.is_some() { "ServicesFailing" } else { "ServicesNotReady" }, message);
            }
            status.service_statuses = services;
        }
    }
    conditions.sort_by_key(order);
    status.conditions = conditions;
    status
}

/// Where a condition goes in the list: ours in a fixed order, then other writers' as they came.
fn order(c: &Condition) -> u8 {
    match c.type_.as_str() {
        READY => 0,
        GENERATED => 1,
        DEPLOYED => 2,
        EXPOSED => 3,
        SUSPENDED => 4,
        MONITORED => 5,
        _ => 6,
    }
}

/// What a suspended playground keeps and loses, as its conditions tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Suspension {
    /// The Pod is still terminating.
    pub pod_terminating: bool,
    /// The generator Job has not delivered yet: it runs to its end, and no Pod follows.
    pub generating: bool,
    /// The storage is an emptyDir, whose files went with the Pod.
    pub ephemeral: bool,
}

/// Marks a computed status as suspended (`Some`): phase Suspended, Ready and Deployed False
/// with reason Suspended, and a Suspended condition saying what is kept and what is lost;
/// Generated stays as the stage had it. `None` after a suspension: the Suspended condition
/// turns False, reason Resumed (as a Job's does); never suspended: nothing changes.
pub fn suspend(
    status: &mut BuilderPlaygroundStatus,
    suspension: Option<Suspension>,
    generation: Option<i64>,
    now: &str,
) {
    let conditions = &mut status.conditions;
    let Some(s) = suspension else {
        if conditions.iter().any(|c| c.type_ == SUSPENDED && c.status == "True") {
            let message =
                "spec.suspend is false: the Pod is created again from the kept PodSpec, artifacts and JWT Secret";
            set_condition(conditions, SUSPENDED, "False", "Resumed", message.into(), generation, now);
            conditions.sort_by_key(order);
        }
        return;
    };
    let pod = if s.pod_terminating { "the Pod is being deleted" } else { "the Pod is deleted" };
    let kept = if s.ephemeral {
        "the rendered PodSpec and the JWT Secret are kept; the storage is ephemeral (an emptyDir): its files went with the Pod, and an artifacts bundle is unpacked again on resume"
    } else {
        "the storage with its artifacts, the rendered PodSpec and the JWT Secret are kept"
    };
    let generating =
        if s.generating { "; the generator Job runs to its end, and no Pod is created while suspended" } else { "" };
    let message = format!(
        "spec.suspend is true: {pod}; {kept}{generating}; setting it to false starts the same devnet again (the services' own volumes start empty)"
    );
    status.phase = Some(Phase::Suspended);
    set_condition(conditions, READY, "False", "Suspended", message.clone(), generation, now);
    let deployed = format!("{pod} while the playground is suspended");
    set_condition(conditions, DEPLOYED, "False", "Suspended", deployed, generation, now);
    set_condition(conditions, SUSPENDED, "True", "Suspended", message, generation, now);
    conditions.sort_by_key(order);
}

/// Sets a condition; its transition time moves only when its status changes.
fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &str,
) {
    let transition = conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or_else(|| now.to_owned(), |c| c.last_transition_time.clone());
    conditions.retain(|c| c.type_ != type_);
    conditions.push(Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time: transition,
    });
}

/// The service whose port [`RPC_PORT`] is `status.rpcURL` in the cluster: the execution
/// layer, as every builder-playground recipe names it.
pub const RPC_SERVICE: &str = "el";
/// The port of [`RPC_SERVICE`] that serves its JSON-RPC.
pub const RPC_PORT: &str = "http";

/// Where each declared port (hidden listeners excluded) of each service is reached: inside the
/// Pod at localhost, and in the cluster at `host` (the Service's DNS name), when the Service
/// is in place. A port whose scheme is known (http, https, ws, wss) gets a URL, any other
/// `host:port`.
pub fn endpoints(rendered: &Rendered, host: Option<&str>) -> Vec<Endpoint> {
    let address = |host: &str, scheme: Option<&str>, number: i32| match scheme {
        Some(scheme) => format!("{scheme}://{host}:{number}"),
        None => format!("{host}:{number}"),
    };
    rendered
        .ports
        .services
        .iter()
        .flat_map(|s| s.ports.iter().filter(|p| !p.hidden).map(move |p| (s, p)))
        .map(|(s, p)| Endpoint {
            service: s.service.clone(),
            port: p.name.clone(),
            in_cluster: host.map(|h| address(h, p.scheme.as_deref(), p.number)),
            in_pod: address("localhost", p.scheme.as_deref(), p.number),
        })
        .collect()
}

/// Per service, in name order: readiness, state, restarts and ports, from the Pod's container
/// statuses.
pub fn service_statuses(rendered: &Rendered, pod: Option<&Pod>) -> Vec<ServiceStatus> {
    let statuses: Vec<&ContainerStatus> = pod
        .and_then(|p| p.status.as_ref())
        .map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()).collect())
        .unwrap_or_default();
    let port_names = rendered.ports.container_port_names();
    rendered
        .containers
        .iter()
        .map(|(service, container)| {
            let ports = rendered
                .ports
                .service(service)
                .map(|p| {
                    p.ports
                        .iter()
                        .map(|a| PortStatus {
                            name: a.name.clone(),
                            port: a.number,
                            container_port_name: port_names
                                .get(&(service.clone(), a.name.clone(), main_protocol(&a.protocols)))
                                .cloned()
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut out = ServiceStatus {
                name: service.clone(),
                container: container.clone(),
                ports,
                state: "Waiting".into(),
                ..Default::default()
            };
            if let Some(cs) = statuses.iter().find(|cs| &cs.name == container) {
                out.ready = cs.ready;
                out.restarts = cs.restart_count;
                let state = cs.state.as_ref();
                if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
                    out.state = "Waiting".into();
                    out.message = [waiting.reason.as_deref(), waiting.message.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(": ");
                } else if state.and_then(|s| s.running.as_ref()).is_some() {
                    out.state = "Running".into();
                    if !cs.ready {
                        out.message = "readiness probe not passing yet".into();
                    }
                } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
                    out.state = "Terminated".into();
                    out.message = format!(
                        "exited with code {}{}{}",
                        t.exit_code,
                        t.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
                        last_words(t)
                    );
                }
                if !out.ready
                    && out.restarts > 0
                    && out.state != "Terminated"
                    && let Some(last) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref())
                {
                    let prefix = if out.message.is_empty() { String::new() } else { format!("{}; ", out.message) };
                    out.message = format!("{prefix}last exit code {}{}", last.exit_code, last_words(last));
                }
            } else {
                out.message = "container not started".into();
            }
            out
        })
        .collect()
}

/// The protocol whose container port speaks for a port: tcp, unless it is udp only.
fn main_protocol(protocols: &[Protocol]) -> Protocol {
    if protocols.contains(&Protocol::Udp) && !protocols.contains(&Protocol::Tcp) {
        Protocol::Udp
    } else {
        Protocol::Tcp
    }
}

/// `: <its error line>` of a failed container, in its own words (the generator sets
/// FallbackToLogsOnError, so the termination message is the log's tail): the last line that
/// reads as an error (`error`, `fatal`, `failed`, `panic`), since clients follow theirs with
/// hints such as clap's "For more information, try '--help'."; else the last line. Cut to a
/// readable length; empty for a clean exit.
fn last_words(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> String {
    if t.exit_code == 0 {
        return String::new();
    }
    let lines: Vec<&str> =
        t.message.as_deref().unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let reads_as_error = |l: &&&str| {
        let l = l.to_ascii_lowercase();
        ["error", "fatal", "failed", "panic"].iter().any(|w| l.contains(w))
    };
    let Some(line) = lines.iter().rev().find(reads_as_error).or(lines.last()) else {
        return String::new();
    };
    let mut end = line.len().min(300);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!(": {}", &line[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bp_generator::manifest::{self, ConvertOptions};
    use bp_generator::{RenderOptions, render};
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, PodStatus,
    };

    fn rendered() -> Rendered {
        let json = r#"{"services":[
            {"name":"el","args":[],"image":"reth","ports":[{"name":"http","port":8545,"Protocol":"tcp"}]},
            {"name":"el_healthmon","args":[],"image":"u","entrypoint":"healthmon"}]}"#;
        let pg = manifest::convert(&manifest::parse(json).unwrap(), &ConvertOptions::default()).unwrap().playground;
        render(&pg, &RenderOptions::default()).unwrap()
    }

    /// The status of service `name` (statuses are a list keyed by name).
    fn named<'a>(statuses: &'a [ServiceStatus], name: &str) -> &'a ServiceStatus {
        statuses.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no service {name}"))
    }

    fn cs(name: &str, ready: bool, restarts: i32, state: ContainerState) -> ContainerStatus {
        ContainerStatus { name: name.into(), ready, restart_count: restarts, state: Some(state), ..Default::default() }
    }

    fn running() -> ContainerState {
        ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() }
    }

    fn pod(statuses: Vec<ContainerStatus>) -> Pod {
        Pod {
            metadata: kube::api::ObjectMeta { name: Some("l1".into()), ..Default::default() },
            status: Some(PodStatus { container_statuses: Some(statuses), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn running_when_every_service_is_ready() {
        let r = rendered();
        let p = pod(vec![cs("el", true, 0, running()), cs("el-healthmon", true, 0, running())]);
        let stage = Stage::Deployed {
            job: "j".into(),
            configmap: "c".into(),
            rendered: &r,
            pod: Some(&p),
            exposure: Exposure::Applied("l1.dev.svc".into()),
        };
        let s = compute(&stage, None, Some(2), "T1");
        assert_eq!(s.phase, Some(Phase::Running));
        assert_eq!(s.ready.as_deref(), Some("2/2"));
        assert_eq!(s.observed_generation, Some(2));
        let types: Vec<(&str, &str, &str)> =
            s.conditions.iter().map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str())).collect();
        assert_eq!(
            types,
            [
                ("Ready", "True", "AllServicesReady"),
                ("Generated", "True", "Generated"),
                ("Deployed", "True", "PodCreated"),
                ("Exposed", "True", "ServiceApplied")
            ]
        );
        assert_eq!(s.conditions[3].message, "Service l1.dev.svc routes the declared ports");
        assert_eq!(named(&s.service_statuses, "el").port("http").unwrap(), 8545);
        assert_eq!(named(&s.service_statuses, "el_healthmon").port("healthmon").unwrap(), 21171);
        assert_eq!(named(&s.service_statuses, "el_healthmon").container, "el-healthmon");
        // Each port keeps its own name and shows the Pod-unique name of its container port.
        let el = &named(&s.service_statuses, "el").ports[0];
        assert_eq!((el.name.as_str(), el.port, el.container_port_name.as_str()), ("http", 8545, "el-http"));
        let hm = &named(&s.service_statuses, "el_healthmon").ports[0];
        assert_eq!(hm.name, "healthmon");
        assert!(hm.container_port_name.starts_with("el-healthm-") && hm.container_port_name.len() == 15, "{hm:?}");
        // Endpoints: declared ports only (healthmon's hidden listener is not one).
        assert_eq!(
            s.endpoints,
            [Endpoint {
                service: "el".into(),
                port: "http".into(),
                in_cluster: Some("http://l1.dev.svc:8545".into()),
                in_pod: "http://localhost:8545".into(),
            }]
        );
        assert_eq!(s.rpc_url.as_deref(), Some("http://l1.dev.svc:8545"));
    }

    #[test]
    fn degraded_when_a_started_service_crashes() {
        let r = rendered();
        let waiting = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("CrashLoopBackOff".into()),
                message: Some("back-off 10s".into()),
            }),
            ..Default::default()
        };
        let mut crashed = cs("el", false, 3, waiting);
        crashed.last_state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated { exit_code: 1, ..Default::default() }),
            ..Default::default()
        });
        let p = pod(vec![crashed, cs("el-healthmon", true, 0, running())]);
        let stage = Stage::Deployed {
            job: "j".into(),
            configmap: "c".into(),
            rendered: &r,
            pod: Some(&p),
            exposure: Exposure::Applied("l1".into()),
        };
        let s = compute(&stage, None, Some(1), "T1");
        assert_eq!(s.phase, Some(Phase::Degraded));
        let el = &named(&s.service_statuses, "el");
        assert_eq!((el.ready, el.restarts, el.state.as_str()), (false, 3, "Waiting"));
        assert_eq!(el.message, "CrashLoopBackOff: back-off 10s; last exit code 1");
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "ServicesFailing"));
        assert_eq!(
            ready.message,
            "1/2 services ready; not ready: el; el: CrashLoopBackOff: back-off 10s; last exit code 1"
        );
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let r = rendered();
        let starting = pod(vec![cs("el", false, 0, running())]);
        let first = compute(
            &Stage::Deployed {
                job: "j".into(),
                configmap: "c".into(),
                rendered: &r,
                pod: Some(&starting),
                exposure: Exposure::Applied("l1".into()),
            },
            None,
            Some(1),
            "T1",
        );
        assert_eq!(first.phase, Some(Phase::Deploying));
        let again = compute(
            &Stage::Deployed {
                job: "j".into(),
                configmap: "c".into(),
                rendered: &r,
                pod: Some(&starting),
                exposure: Exposure::Applied("l1".into()),
            },
            Some(&first),
            Some(1),
            "T2",
        );
        assert_eq!(again, first, "nothing changed, nothing to write");
        let ready = pod(vec![cs("el", true, 0, running()), cs("el-healthmon", true, 0, running())]);
        let done = compute(
            &Stage::Deployed {
                job: "j".into(),
                configmap: "c".into(),
                rendered: &r,
                pod: Some(&ready),
                exposure: Exposure::Applied("l1".into()),
            },
            Some(&again),
            Some(1),
            "T3",
        );
        let time = |s: &BuilderPlaygroundStatus, t: &str| {
            s.conditions.iter().find(|c| c.type_ == t).unwrap().last_transition_time.clone()
        };
        assert_eq!(time(&done, "Ready"), "T3");
        assert_eq!(time(&done, "Generated"), "T1");
        assert_eq!(time(&done, "Deployed"), "T1");
    }

    #[test]
    fn render_warnings_show_in_deployed() {
        let mut r = rendered();
        r.warnings.push("service \"rollup-boost\" args[11] refers to host.docker.internal".into());
        let p = pod(vec![cs("el", true, 0, running()), cs("el-healthmon", true, 0, running())]);
        let s = compute(
            &Stage::Deployed {
                job: "j".into(),
                configmap: "c".into(),
                rendered: &r,
                pod: Some(&p),
                exposure: Exposure::Applied("l1".into()),
            },
            None,
            Some(1),
            "T",
        );
        let deployed = s.conditions.iter().find(|c| c.type_ == "Deployed").unwrap();
        assert_eq!((deployed.status.as_str(), deployed.reason.as_str()), ("True", "PodCreatedWithWarnings"));
        assert!(deployed.message.ends_with("refers to host.docker.internal"), "{}", deployed.message);
        assert_eq!(s.phase, Some(Phase::Running), "warnings do not make it less ready");
    }

    #[test]
    fn invalid_and_failed_generation() {
        let s = compute(&Stage::Invalid { message: "service \"el\": args[0]: bad".into() }, None, Some(3), "T");
        assert_eq!(s.phase, Some(Phase::Failed));
        let ready = &s.conditions[0];
        assert_eq!(
            (ready.type_.as_str(), ready.reason.as_str(), ready.message.as_str()),
            ("Ready", "InvalidSpec", "service \"el\": args[0]: bad")
        );
        let s = compute(&Stage::GeneratorFailed { job: "l1-gen-1".into(), message: "boom".into() }, None, Some(1), "T");
        let generated = s.conditions.iter().find(|c| c.type_ == "Generated").unwrap();
        assert_eq!(
            (generated.status.as_str(), generated.reason.as_str(), generated.message.as_str()),
            ("False", "GeneratorFailed", "boom")
        );
        assert_eq!(s.generator_job.as_deref(), Some("l1-gen-1"));
    }

    #[test]
    fn a_failed_unpack_fails_the_playground_with_its_message_until_it_succeeds() {
        let r = rendered();
        let terminated = |code: i32, message: &str| ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                message: Some(message.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let waiting = ContainerState { waiting: Some(ContainerStateWaiting::default()), ..Default::default() };
        let mut p = pod(vec![cs("el", false, 0, waiting.clone()), cs("el-healthmon", false, 0, waiting.clone())]);
        let why = "bp-generator: unpack: artifacts bundle part 1 (Secret l1-artifacts-1, key bundle.part) is missing";
        let mut unpack = cs(UNPACK_CONTAINER, false, 1, waiting);
        unpack.last_state = Some(terminated(2, why));
        p.status.as_mut().unwrap().init_container_statuses = Some(vec![unpack.clone()]);
        let stage = Stage::Deployed {
            job: "j".into(),
            configmap: "c".into(),
            rendered: &r,
            pod: Some(&p),
            exposure: Exposure::Applied("l1".into()),
        };
        let s = compute(&stage, None, Some(1), "T1");
        assert_eq!(s.phase, Some(Phase::Failed));
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "ArtifactsUnpackFailed"));
        assert_eq!(ready.message, format!("the artifacts bundle could not be unpacked (exit code 2): {why}"));
        // Unpacked at last (exit 0 now, an old failure in lastState): the services decide again.
        unpack.state = Some(terminated(0, "unpacked 3 artifact files"));
        p.status.as_mut().unwrap().init_container_statuses = Some(vec![unpack]);
        let stage = Stage::Deployed {
            job: "j".into(),
            configmap: "c".into(),
            rendered: &r,
            pod: Some(&p),
            exposure: Exposure::Applied("l1".into()),
        };
        let s = compute(&stage, None, Some(1), "T1");
        assert_eq!(s.phase, Some(Phase::Deploying));
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(ready.reason, "ServicesNotReady");
    }

    #[test]
    fn an_unpack_failure_without_a_message_says_so() {
        let r = rendered();
        let mut p = pod(vec![]);
        let failed = ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 137,
                message: Some(" \n".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        p.status.as_mut().unwrap().init_container_statuses = Some(vec![cs(UNPACK_CONTAINER, false, 0, failed)]);
        let s = compute(
            &Stage::Deployed {
                job: "j".into(),
                configmap: "c".into(),
                rendered: &r,
                pod: Some(&p),
                exposure: Exposure::Applied("l1".into()),
            },
            None,
            None,
            "T",
        );
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(ready.message, "the artifacts bundle could not be unpacked (exit code 137): no message");
        // Still unpacking: nothing has failed.
        p.status.as_mut().unwrap().init_container_statuses = Some(vec![cs(UNPACK_CONTAINER, false, 0, running())]);
        let s = compute(
            &Stage::Deployed {
                job: "j".into(),
                configmap: "c".into(),
                rendered: &r,
                pod: Some(&p),
                exposure: Exposure::Applied("l1".into()),
            },
            None,
            None,
            "T",
        );
        assert_eq!(s.phase, Some(Phase::Deploying));
    }

    /// A playground of six services, so that one Pod shows every container state.
    fn six() -> Rendered {
        let pg: bp_generator::BuilderPlayground = serde_yaml_ng::from_str(
            r#"
apiVersion: playground.flashbots.io/v1alpha1
kind: BuilderPlayground
metadata: {name: six}
spec:
  services: [{name: a, image: i}, {name: b, image: i}, {name: c, image: i}, {name: d, image: i}, {name: e, image: i}, {name: f, image: i}]
"#,
        )
        .unwrap();
        render(&pg, &RenderOptions::default()).unwrap()
    }

    fn terminated(code: i32, reason: Option<&str>) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                reason: reason.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn every_container_state_is_reported_as_it_is() {
        let r = six();
        let mut restarted_but_ready = cs("b", true, 2, running());
        restarted_but_ready.last_state = Some(terminated(137, None));
        let mut exited_once = cs("c", false, 0, terminated(1, Some("Error")));
        exited_once.last_state = Some(terminated(3, None));
        let creating = ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some("ContainerCreating".into()), message: None }),
            ..Default::default()
        };
        let p = pod(vec![
            cs("a", true, 0, running()),
            restarted_but_ready,
            exited_once,
            cs("d", false, 0, running()),
            cs("e", false, 0, creating),
        ]);
        let statuses = service_statuses(&r, Some(&p));
        let summary: Vec<(&str, &str, bool, i32, &str, &str)> = statuses
            .iter()
            .map(|s| (s.name.as_str(), s.container.as_str(), s.ready, s.restarts, s.state.as_str(), s.message.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("a", "a", true, 0, "Running", ""),
                ("b", "b", true, 2, "Running", ""),
                ("c", "c", false, 0, "Terminated", "exited with code 1 (Error)"),
                ("d", "d", false, 0, "Running", "readiness probe not passing yet"),
                ("e", "e", false, 0, "Waiting", "ContainerCreating"),
                ("f", "f", false, 0, "Waiting", "container not started"),
            ],
            "a ready container's old exits and an unrestarted one's last state are not news"
        );
    }

    fn deployed(
        r: &Rendered,
        statuses: Vec<ContainerStatus>,
        previous: Option<&BuilderPlaygroundStatus>,
    ) -> BuilderPlaygroundStatus {
        let p = pod(statuses);
        compute(
            &Stage::Deployed {
                job: "j".into(),
                configmap: "c".into(),
                rendered: r,
                pod: Some(&p),
                exposure: Exposure::Applied("l1".into()),
            },
            previous,
            None,
            "T",
        )
    }

    #[test]
    fn exited_or_crash_looping_services_are_failing_before_any_restart() {
        let r = rendered();
        let healthmon = || cs("el-healthmon", true, 0, running());
        let crash_looping = ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some("CrashLoopBackOff".into()), message: None }),
            ..Default::default()
        };
        for el in [cs("el", false, 0, terminated(1, None)), cs("el", false, 0, crash_looping)] {
            let s = deployed(&r, vec![el, healthmon()], None);
            assert_eq!(s.phase, Some(Phase::Degraded), "{:?}", named(&s.service_statuses, "el"));
        }
        // Restarted, but ready again: not failing; the other one just is not ready yet.
        let s = deployed(&r, vec![cs("el", true, 4, running()), cs("el-healthmon", false, 0, running())], None);
        assert_eq!(s.phase, Some(Phase::Deploying));
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(
            (ready.reason.as_str(), ready.message.as_str()),
            ("ServicesNotReady", "1/2 services ready; not ready: el_healthmon")
        );
    }

    #[test]
    fn a_rendering_without_services_is_never_running() {
        let mut r = rendered();
        r.containers.clear();
        let s = deployed(&r, vec![], None);
        assert_eq!((s.phase, s.ready.as_deref()), (Some(Phase::Deploying), Some("0/0")));
    }

    #[test]
    fn conditions_of_other_writers_are_kept_after_ours() {
        let r = rendered();
        let foreign = Condition {
            type_: "example.com/Audited".into(),
            status: "True".into(),
            reason: "Audited".into(),
            last_transition_time: "T0".into(),
            ..Default::default()
        };
        let previous = BuilderPlaygroundStatus { conditions: vec![foreign.clone()], ..Default::default() };
        let s = deployed(&r, vec![], Some(&previous));
        let types: Vec<&str> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, GENERATED, DEPLOYED, EXPOSED, "example.com/Audited"]);
        assert_eq!(s.conditions[4], foreign);
    }

    #[test]
    fn a_refused_service_is_its_own_condition_and_the_devnet_still_runs() {
        let r = rendered();
        let p = pod(vec![cs("el", true, 0, running()), cs("el-healthmon", true, 0, running())]);
        let at = |exposure: Exposure, previous: Option<&BuilderPlaygroundStatus>, now: &str| {
            compute(
                &Stage::Deployed { job: "j".into(), configmap: "c".into(), rendered: &r, pod: Some(&p), exposure },
                previous,
                None,
                now,
            )
        };
        let refused = "create Service ns/l1: failed to allocate a serviceIP: range is full (500)";
        let s = at(Exposure::Failed(refused.into()), None, "T1");
        assert_eq!(s.phase, Some(Phase::Running), "the Pod runs and every service is ready");
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("True", "AllServicesReady"));
        let exposed = s.conditions.iter().find(|c| c.type_ == EXPOSED).unwrap();
        assert_eq!(
            (exposed.status.as_str(), exposed.reason.as_str(), exposed.message.as_str()),
            ("False", "ServiceFailed", refused)
        );
        // Without the Service there is no address in the cluster; the Pod's stays.
        assert_eq!(s.rpc_url, None);
        let in_cluster: Vec<Option<&str>> = s.endpoints.iter().map(|e| e.in_cluster.as_deref()).collect();
        assert_eq!(in_cluster, [None]);
        assert_eq!(s.endpoints[0].in_pod, "http://localhost:8545");
        // Once the Service is applied the condition flips, with its own transition time.
        let later = at(Exposure::Applied("l1".into()), Some(&s), "T2");
        assert_eq!(later.rpc_url.as_deref(), Some("http://l1:8545"));
        let exposed = later.conditions.iter().find(|c| c.type_ == EXPOSED).unwrap();
        assert_eq!((exposed.status.as_str(), exposed.last_transition_time.as_str()), ("True", "T2"));
        let ready = later.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(ready.last_transition_time, "T1", "Ready did not flip");
        let none = at(Exposure::NoPorts, None, "T1");
        let exposed = none.conditions.iter().find(|c| c.type_ == EXPOSED).unwrap();
        assert_eq!((exposed.status.as_str(), exposed.reason.as_str()), ("True", "NoPorts"));
    }

    #[test]
    fn endpoints_name_every_declared_port_with_its_scheme_when_known() {
        let json = r#"{"services":[
            {"name":"beacon","args":["--el","{{Service \"el\" \"authrpc\" \"http\" \"\"}}"],"image":"lighthouse",
             "ports":[{"name":"p2p","port":30303,"Protocol":"tcp"},{"name":"p2p","port":30303,"Protocol":"udp"},{"name":"http","port":3500,"Protocol":"tcp"}]},
            {"name":"el","args":[],"image":"reth","ports":[{"name":"authrpc","port":8551,"Protocol":"tcp"},{"name":"http","port":3500,"Protocol":"tcp"}]}]}"#;
        let pg = manifest::convert(&manifest::parse(json).unwrap(), &ConvertOptions::default()).unwrap().playground;
        let r = render(&pg, &RenderOptions::default()).unwrap();
        let got: Vec<(String, String, Option<String>, String)> = endpoints(&r, Some("dev.ns.svc"))
            .into_iter()
            .map(|e| (e.service, e.port, e.in_cluster, e.in_pod))
            .collect();
        let want = |s: &str, p: &str, cluster: &str, pod: &str| (s.into(), p.into(), Some(cluster.into()), pod.into());
        assert_eq!(
            got,
            [
                want("beacon", "p2p", "dev.ns.svc:30303", "localhost:30303"),
                want("beacon", "http", "http://dev.ns.svc:3500", "http://localhost:3500"),
                want("el", "authrpc", "http://dev.ns.svc:8551", "http://localhost:8551"),
                want("el", "http", "http://dev.ns.svc:3501", "http://localhost:3501"),
            ],
            "one endpoint per port name (tcp and udp share it), at the allocated number"
        );
        let s = deployed(&r, vec![], None);
        assert_eq!(s.rpc_url.as_deref(), Some("http://l1:3501"), "el's http port, as allocated");
        assert!(endpoints(&r, None).iter().all(|e| e.in_cluster.is_none()));
    }

    #[test]
    fn a_failed_service_shows_its_last_words() {
        let r = rendered();
        let said = |message: &str, code: i32| ContainerStateTerminated {
            exit_code: code,
            message: Some(message.into()),
            ..Default::default()
        };
        let mut el = cs(
            "el",
            false,
            2,
            ContainerState { waiting: Some(ContainerStateWaiting::default()), ..Default::default() },
        );
        el.last_state = Some(ContainerState {
            terminated: Some(said(
                "starting\nerror: JWT mismatch: refused\n\nFor more information, try '--help'.\n",
                1,
            )),
            ..Default::default()
        });
        let hm = cs(
            "el-healthmon",
            false,
            0,
            ContainerState { terminated: Some(said(&"x".repeat(400), 3)), ..Default::default() },
        );
        let statuses = service_statuses(&r, Some(&pod(vec![el, hm])));
        assert_eq!(named(&statuses, "el").message, "last exit code 1: error: JWT mismatch: refused");
        assert_eq!(named(&statuses, "el_healthmon").message, format!("exited with code 3: {}", "x".repeat(300)));
        // A clean exit has nothing to say.
        let done = cs("el", false, 0, ContainerState { terminated: Some(said("bye", 0)), ..Default::default() });
        assert_eq!(named(&service_statuses(&r, Some(&pod(vec![done]))), "el").message, "exited with code 0");
        // Just exited again: the current termination speaks, the previous one is not repeated.
        let mut again =
            cs("el", false, 3, ContainerState { terminated: Some(said("Fatal: no genesis", 1)), ..Default::default() });
        again.last_state = Some(ContainerState { terminated: Some(said("older", 1)), ..Default::default() });
        assert_eq!(
            named(&service_statuses(&r, Some(&pod(vec![again]))), "el").message,
            "exited with code 1: Fatal: no genesis"
        );
        // Cut at 300 bytes, never inside a character.
        let wide =
            cs("el", false, 0, ContainerState { terminated: Some(said(&"é".repeat(200), 1)), ..Default::default() });
        assert_eq!(
            named(&service_statuses(&r, Some(&pod(vec![wide]))), "el").message,
            format!("exited with code 1: {}", "é".repeat(150))
        );
    }

    #[test]
    fn a_restarted_service_that_is_not_ready_again_is_failing() {
        let r = rendered();
        let terminated = |code: i32| ContainerState {
            terminated: Some(ContainerStateTerminated { exit_code: code, ..Default::default() }),
            ..Default::default()
        };
        // Running again after two restarts, not ready yet: failing, with the last exit.
        let mut el = cs("el", false, 2, running());
        el.last_state = Some(terminated(1));
        let s = deployed(&r, vec![el, cs("el-healthmon", true, 0, running())], None);
        assert_eq!(s.phase, Some(Phase::Degraded));
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(ready.reason, "ServicesFailing");
        assert_eq!(named(&s.service_statuses, "el").message, "readiness probe not passing yet; last exit code 1");
        // Never restarted: a last state is not news, and starting is not failing.
        let mut fresh = cs("el", false, 0, running());
        fresh.last_state = Some(terminated(1));
        let s = deployed(&r, vec![fresh, cs("el-healthmon", true, 0, running())], None);
        assert_eq!(s.phase, Some(Phase::Deploying));
        assert_eq!(named(&s.service_statuses, "el").message, "readiness probe not passing yet");
    }

    #[test]
    fn a_suspended_playground_says_what_it_keeps_and_turns_resumed_once() {
        let r = rendered();
        let ready = || vec![cs("el", true, 0, running()), cs("el-healthmon", true, 0, running())];
        let at = |pod: Option<&Pod>, previous: Option<&BuilderPlaygroundStatus>, now: &str, s: Option<Suspension>| {
            let stage = Stage::Deployed {
                job: "j".into(),
                configmap: "c".into(),
                rendered: &r,
                pod,
                exposure: Exposure::Applied("l1".into()),
            };
            let mut status = compute(&stage, previous, Some(2), now);
            suspend(&mut status, s, Some(2), now);
            status
        };
        let running_pod = pod(ready());
        let never = at(Some(&running_pod), None, "T1", None);
        assert_eq!(never.phase, Some(Phase::Running));
        assert!(never.conditions.iter().all(|c| c.type_ != SUSPENDED), "never suspended: no condition");

        // Suspended while the Pod terminates, then once it is gone.
        let terminating = Suspension { pod_terminating: true, ..Default::default() };
        let s = at(Some(&running_pod), Some(&never), "T2", Some(terminating));
        assert_eq!(s.phase, Some(Phase::Suspended));
        let view: Vec<(&str, &str, &str, &str)> = s
            .conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str(), c.last_transition_time.as_str()))
            .collect();
        assert_eq!(
            view,
            [
                (READY, "False", "Suspended", "T2"),
                (GENERATED, "True", "Generated", "T1"),
                (DEPLOYED, "False", "Suspended", "T2"),
                (EXPOSED, "True", "ServiceApplied", "T1"),
                (SUSPENDED, "True", "Suspended", "T2"),
            ]
        );
        let message = &s.conditions[4].message;
        assert!(message.starts_with("spec.suspend is true: the Pod is being deleted; the storage with its artifacts, the rendered PodSpec and the JWT Secret are kept"), "{message}");
        assert!(!message.contains("ephemeral") && !message.contains("generator"), "{message}");
        let gone = at(None, Some(&s), "T3", Some(Suspension::default()));
        assert!(gone.conditions[4].message.starts_with("spec.suspend is true: the Pod is deleted;"));
        assert_eq!(gone.conditions[4].last_transition_time, "T2", "still suspended: no transition");
        assert_eq!(at(None, Some(&gone), "T4", Some(Suspension::default())), gone, "settled: nothing to write");

        // Resumed: the condition turns False once, and stays as it is.
        let resumed = at(Some(&running_pod), Some(&gone), "T5", None);
        assert_eq!(resumed.phase, Some(Phase::Running));
        let c = resumed.conditions.iter().find(|c| c.type_ == SUSPENDED).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_str(), c.last_transition_time.as_str()), ("False", "Resumed", "T5"));
        assert_eq!(at(Some(&running_pod), Some(&resumed), "T6", None), resumed);
        let ready = resumed.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!((ready.status.as_str(), ready.last_transition_time.as_str()), ("True", "T5"));
    }

    #[test]
    fn suspended_while_generating_on_ephemeral_storage_says_what_is_lost() {
        let mut s = compute(&Stage::Generating { job: "l1-gen-1".into() }, None, Some(1), "T1");
        suspend(&mut s, Some(Suspension { pod_terminating: false, generating: true, ephemeral: true }), Some(1), "T1");
        assert_eq!(s.phase, Some(Phase::Suspended));
        let generated = s.conditions.iter().find(|c| c.type_ == GENERATED).unwrap();
        assert_eq!((generated.status.as_str(), generated.reason.as_str()), ("False", "Generating"));
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(ready.reason, "Suspended");
        assert_eq!(
            ready.message,
            "spec.suspend is true: the Pod is deleted; the rendered PodSpec and the JWT Secret are kept; the storage \
             is ephemeral (an emptyDir): its files went with the Pod, and an artifacts bundle is unpacked again on \
             resume; the generator Job runs to its end, and no Pod is created while suspended; setting it to false \
             starts the same devnet again (the services' own volumes start empty)"
        );
    }

    #[test]
    fn monitoring_is_a_condition_of_its_own_and_off_removes_it() {
        let r = rendered();
        let p = pod(vec![cs("el", true, 0, running()), cs("el-healthmon", true, 0, running())]);
        let mut s = deployed(&r, vec![cs("el", true, 0, running()), cs("el-healthmon", true, 0, running())], None);
        let foreign = Condition { type_: "example.com/Audited".into(), status: "True".into(), ..Default::default() };
        s.conditions.push(foreign);
        set_monitoring(&mut s, Some(&Monitoring::CrdMissing), Some(1), "T1");
        let types: Vec<&str> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, GENERATED, DEPLOYED, EXPOSED, MONITORED, "example.com/Audited"]);
        let m = s.conditions.iter().find(|c| c.type_ == MONITORED).unwrap().clone();
        assert_eq!(
            (m.status.as_str(), m.reason.as_str(), m.last_transition_time.as_str()),
            ("False", "PodMonitorCRDMissing", "T1")
        );
        assert!(m.message.contains("monitoring.coreos.com/v1"), "{}", m.message);
        assert_eq!(s.phase, Some(Phase::Running), "an unmonitored devnet runs");
        // The next reconcile computes the rest anew and keeps this condition's time.
        let mut next = compute(
            &Stage::Deployed {
                job: "j".into(),
                configmap: "c".into(),
                rendered: &r,
                pod: Some(&p),
                exposure: Exposure::Applied("l1".into()),
            },
            Some(&s),
            Some(1),
            "T2",
        );
        set_monitoring(&mut next, Some(&Monitoring::Failed("refused".into())), Some(1), "T2");
        let m = next.conditions.iter().find(|c| c.type_ == MONITORED).unwrap();
        assert_eq!(
            (m.reason.as_str(), m.message.as_str(), m.last_transition_time.as_str()),
            ("PodMonitorFailed", "refused", "T1")
        );
        let applied =
            Monitoring::Applied { podmonitor: "l1".into(), endpoints: vec!["el (port metrics, /metrics)".into()] };
        set_monitoring(&mut next, Some(&applied), Some(1), "T3");
        let m = next.conditions.iter().find(|c| c.type_ == MONITORED).unwrap();
        assert_eq!(
            (m.status.as_str(), m.reason.as_str(), m.message.as_str(), m.last_transition_time.as_str()),
            ("True", "PodMonitorApplied", "PodMonitor l1 scrapes el (port metrics, /metrics)", "T3")
        );
        set_monitoring(&mut next, Some(&Monitoring::NoMetricsPorts), Some(1), "T4");
        let m = next.conditions.iter().find(|c| c.type_ == MONITORED).unwrap();
        assert_eq!((m.status.as_str(), m.reason.as_str()), ("False", "NoMetricsPorts"));
        set_monitoring(&mut next, None, Some(1), "T5");
        assert!(next.conditions.iter().all(|c| c.type_ != MONITORED), "monitoring off: no condition");
        assert_eq!(next.conditions.len(), 5, "the others stay");
    }

    #[test]
    fn last_words_are_cut_before_a_character_that_would_be_split() {
        let r = rendered();
        // Byte 300 falls inside an `é` (one ASCII byte, then two-byte characters).
        let said = format!("a{}", "é".repeat(200));
        let t = ContainerStateTerminated { exit_code: 1, message: Some(said), ..Default::default() };
        let el = cs("el", false, 0, ContainerState { terminated: Some(t), ..Default::default() });
        let message = named(&service_statuses(&r, Some(&pod(vec![el]))), "el").message.clone();
        assert_eq!(message, format!("exited with code 1: a{}", "é".repeat(149)), "299 bytes");
    }
}
