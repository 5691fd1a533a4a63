//! Rendering a `BuilderPlayground` into the PodSpec of its one Pod (DESIGN §5).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction, HostAlias, HostPathVolumeSource,
    KeyToPath, ObjectFieldSelector, PersistentVolumeClaimVolumeSource, Pod, PodSpec, Probe, SecretVolumeSource,
    TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use crate::api::{
    ARTIFACTS_DIR, ARTIFACTS_VOLUME, BuilderPlayground, DependencyCondition, Protocol, ReadyCheckSpec, ServiceSpec,
    StorageType,
};
use crate::bundle;
use crate::duration;
use crate::error::{SpecError, SpecErrors};
use crate::names;
use crate::ports::PortTable;
use crate::resolve::{self, HOST_IP_ENV, ParsedService, Resolver};
use crate::validate::validate;

/// Default hostPath root of local-path storage (as PR #120).
pub const DEFAULT_STORAGE_PATH: &str = "/data/builder-playground";
/// The artifact served from the playground's Secret instead of the storage.
pub const JWT_ARTIFACT: &str = "jwtsecret";
/// Key of the JWT in the playground's Secret.
pub const JWT_SECRET_KEY: &str = "jwtsecret";
const JWT_VOLUME: &str = "jwt";
/// builder-playground's docker-compose `stop_grace_period`.
const GRACE_PERIOD_SECONDS: i64 = 30;
/// How long a dependency that others wait on may take to become healthy before its startup
/// probe gives up and restarts it. Devnets need minutes to produce their first blocks, and a
/// check meant for readiness (healthmon: 20 × 1s) would otherwise restart it forever.
const STARTUP_WINDOW_SECONDS: i32 = 600;

/// Name of the Secret that holds the playground's JWT.
pub fn jwt_secret_name(playground: &str) -> String {
    format!("{playground}-jwt")
}

/// Name of the PersistentVolumeClaim of pvc storage.
pub fn artifacts_claim_name(playground: &str) -> String {
    format!("{playground}-artifacts")
}

/// Choices that depend on the cluster or the generator run, not on the spec.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// The API server runs native sidecars (Kubernetes 1.29 or newer).
    pub native_sidecars: bool,
    /// The artifacts live in this subdirectory of the storage (the generator Job's fresh
    /// output directory); `None` means the storage root, or the bundle's own subdirectory
    /// when the spec names an artifacts bundle.
    pub artifacts_subdir: Option<String>,
    /// The image whose `bp-generator` unpacks an artifacts bundle in the Pod (the operator's).
    pub unpack_image: String,
}

/// The project's image of this version: what the chart installs and the generator Jobs run.
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/flashbots/builder-playground-operator:", env!("CARGO_PKG_VERSION"));

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { native_sidecars: true, artifacts_subdir: None, unpack_image: DEFAULT_IMAGE.into() }
    }
}

/// What the generator produces for the operator: the PodSpec and what it was made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    /// The Pod's spec.
    pub pod_spec: PodSpec,
    /// Annotations for the Pod (builder-playground labels of each service).
    pub annotations: BTreeMap<String, String>,
    /// The port allocation, per service.
    pub ports: PortTable,
    /// Container name per service.
    pub containers: BTreeMap<String, String>,
    /// Whether dependencies are enforced as start order (native sidecars).
    pub start_order_enforced: bool,
    /// Things the user should know: literal endpoints without meaning in a Pod, services left
    /// to the node, start order not enforced.
    pub warnings: Vec<String>,
}

/// Renders the playground's PodSpec. Every problem in the spec is reported, none panics.
pub fn render(playground: &BuilderPlayground, options: &RenderOptions) -> Result<Rendered, SpecErrors> {
    let spec = &playground.spec;
    let structural = validate(spec);
    if !structural.is_empty() {
        return Err(SpecErrors(structural));
    }
    let mut errors = Vec::new();
    let mut parsed = Vec::with_capacity(spec.services.len());
    for svc in &spec.services {
        match resolve::parse_service(svc) {
            Ok(p) => parsed.push(p),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(SpecErrors(errors));
    }
    let in_pod: Vec<&ParsedService> = parsed.iter().filter(|p| !p.spec.use_host_execution).collect();
    if in_pod.is_empty() {
        return Err(SpecError::field(
            "spec.services",
            "every service runs on the node (useHostExecution): nothing to run in the Pod",
        )
        .into());
    }
    let mut table =
        PortTable::allocate(in_pod.iter().map(|p| (p.spec.name.as_str(), p.port_requests()))).map_err(|e| {
            SpecError::service(
                &e.service,
                "ports",
                format!("no free port number for {:?} at or above the requested one", e.port),
            )
        })?;
    if let Some(svc) = in_pod.iter().find(|p| names::container_name(&p.spec.name) == bundle::UNPACK_CONTAINER) {
        return Err(SpecError::service(
            &svc.spec.name,
            "name",
            format!("{:?} is the container that unpacks the artifacts; choose another name", bundle::UNPACK_CONTAINER),
        )
        .into());
    }
    table.learn_schemes(parsed.iter().flat_map(|p| p.service_references()));
    // A bundle is unpacked into a subdirectory of its own, which every mount points into.
    let bundle_options;
    let options = match (&spec.artifacts, &options.artifacts_subdir) {
        (Some(artifacts), None) => {
            bundle_options =
                RenderOptions { artifacts_subdir: Some(bundle::subdir(&artifacts.digest)), ..options.clone() };
            &bundle_options
        }
        _ => options,
    };
    let resolver = Resolver {
        table: &table,
        services: spec.services.iter().map(|s| (s.name.as_str(), s)).collect(),
        bootnode: spec.bootnode.as_ref(),
    };
    let mut builder = Builder {
        playground,
        options,
        resolver: &resolver,
        port_names: table.container_port_names(),
        warnings: Vec::new(),
        uses_jwt: false,
    };
    let order = start_order(&in_pod, options.native_sidecars, &mut builder.warnings)?;
    let mut containers = Vec::with_capacity(in_pod.len());
    for (index, gated) in &order.entries {
        match builder.container(in_pod[*index], *gated, order.sidecars.contains(index)) {
            Ok(c) => containers.push((*index, c)),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(SpecErrors(errors));
    }
    for svc in parsed.iter().filter(|p| p.spec.use_host_execution) {
        builder.warnings.push(format!(
            "service {:?} runs on the node (useHostExecution): it is not started in the Pod and is reached at $({HOST_IP_ENV})",
            svc.spec.name
        ));
    }
    let (init, regular): (Vec<_>, Vec<_>) = containers.into_iter().partition(|(i, _)| order.sidecars.contains(i));
    let mut init: Vec<Container> = init.into_iter().map(|(_, c)| c).collect();
    let mut volumes = builder.volumes(&in_pod);
    if let Some(artifacts) = &spec.artifacts {
        init.insert(0, bundle::unpack_container(artifacts, &options.unpack_image));
        volumes.push(bundle::parts_volume(artifacts, false));
    }
    let pod_spec = PodSpec {
        init_containers: Some(init).filter(|v| !v.is_empty()),
        containers: regular.into_iter().map(|(_, c)| c).collect(),
        volumes: Some(volumes),
        host_aliases: host_aliases(&in_pod),
        restart_policy: Some("Always".into()),
        termination_grace_period_seconds: Some(GRACE_PERIOD_SECONDS),
        // Devnet processes never talk to the Kubernetes API, and Service env vars named after
        // other objects (EL_PORT, ...) could shadow theirs.
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        node_selector: spec.placement.as_ref().map(|p| p.node_selector.clone()).filter(|m| !m.is_empty()),
        tolerations: spec.placement.as_ref().map(|p| p.tolerations.clone()).filter(|t| !t.is_empty()),
        affinity: spec.placement.as_ref().and_then(|p| p.affinity.clone()),
        ..Default::default()
    };
    Ok(Rendered {
        pod_spec,
        annotations: service_label_annotations(&in_pod),
        ports: table.clone(),
        containers: in_pod.iter().map(|p| (p.spec.name.clone(), names::container_name(&p.spec.name))).collect(),
        start_order_enforced: options.native_sidecars,
        warnings: builder.warnings,
    })
}

/// The playground's Pod: its rendered spec with the standard labels and the services' labels
/// as annotations.
pub fn pod(playground: &BuilderPlayground, rendered: &Rendered) -> Pod {
    let name = playground.metadata.name.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            labels: Some(crate::standard_labels(&name)),
            annotations: Some(rendered.annotations.clone()).filter(|a| !a.is_empty()),
            name: Some(name),
            namespace: playground.metadata.namespace.clone(),
            ..Default::default()
        },
        spec: Some(rendered.pod_spec.clone()),
        status: None,
    }
}

/// Where each service goes: native sidecars (init containers that keep running) in start
/// order, then regular containers.
struct StartOrder {
    /// (index into the Pod's services, gated by a startup probe), in container order.
    entries: Vec<(usize, bool)>,
    sidecars: BTreeSet<usize>,
}

/// Turns dependencies into start order (DESIGN §5).
///
/// A service something depends on runs as a native sidecar; init containers start one after
/// another, each after the previous one started (or passed its startup probe, which a `healthy`
/// dependency gets). A gated sidecar may wait for services that are not dependencies at all
/// (healthmon waits for the node it watches), so every service that waits for nothing starts
/// before any gate, and gates come as late as their dependents allow. Services that wait for
/// something and that nothing waits for are the regular containers, started last.
fn start_order(
    services: &[&ParsedService],
    native_sidecars: bool,
    warnings: &mut Vec<String>,
) -> Result<StartOrder, SpecError> {
    let index: BTreeMap<&str, usize> = services.iter().enumerate().map(|(i, p)| (p.spec.name.as_str(), i)).collect();
    let n = services.len();
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut gated = vec![false; n];
    let mut has_dependents = vec![false; n];
    for (i, p) in services.iter().enumerate() {
        for dep in &p.spec.dependencies {
            let Some(&d) = index.get(dep.name.as_str()) else {
                warnings.push(format!(
                    "service {:?} depends on {:?}, which runs on the node: that dependency is not enforced",
                    p.spec.name, dep.name
                ));
                continue;
            };
            deps[i].insert(d);
            has_dependents[d] = true;
            gated[d] |= dep.condition == DependencyCondition::Healthy;
        }
    }
    // Kahn's algorithm; among the services whose dependencies have started, ungated ones
    // first, then spec order.
    let mut placed = vec![false; n];
    let mut topo = Vec::with_capacity(n);
    while topo.len() < n {
        let next = (0..n).filter(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d])).min_by_key(|&i| (gated[i], i));
        let Some(next) = next else {
            let cycle: Vec<&str> = (0..n).filter(|&i| !placed[i]).map(|i| services[i].spec.name.as_str()).collect();
            let first = cycle.first().copied().unwrap_or_default();
            return Err(SpecError::service(
                first,
                "dependencies",
                format!("dependency cycle among {}", cycle.join(", ")),
            ));
        };
        placed[next] = true;
        topo.push(next);
    }
    if !native_sidecars {
        if deps.iter().any(|d| !d.is_empty()) {
            warnings.push("the API server predates native sidecars (Kubernetes 1.29): dependencies are not enforced as start order".into());
        }
        return Ok(StartOrder { entries: (0..n).map(|i| (i, false)).collect(), sidecars: BTreeSet::new() });
    }
    let any_gate = gated.iter().any(|&g| g);
    let regular = |i: usize| !has_dependents[i] && (!deps[i].is_empty() || !any_gate);
    let sidecars: BTreeSet<usize> = topo.iter().copied().filter(|&i| !regular(i)).collect();
    let mut entries: Vec<(usize, bool)> =
        topo.iter().filter(|i| sidecars.contains(i)).map(|&i| (i, gated[i])).collect();
    entries.extend((0..n).filter(|&i| regular(i)).map(|i| (i, false)));
    Ok(StartOrder { entries, sidecars })
}

struct Builder<'a> {
    playground: &'a BuilderPlayground,
    options: &'a RenderOptions,
    resolver: &'a Resolver<'a>,
    /// Container port names, unique in the Pod, by (service, port, protocol).
    port_names: BTreeMap<(String, String, Protocol), String>,
    warnings: Vec<String>,
    uses_jwt: bool,
}

impl Builder<'_> {
    fn container(&mut self, parsed: &ParsedService, gated: bool, sidecar: bool) -> Result<Container, Vec<SpecError>> {
        let svc = parsed.spec;
        let mut errors = Vec::new();
        let mut uses_host_ip = false;
        let mut args = Vec::with_capacity(parsed.args.len() + 2);
        for (i, segments) in parsed.args.iter().enumerate() {
            match self.resolver.resolve(&svc.name, segments, &format!("args[{i}]")) {
                Ok(r) => {
                    uses_host_ip |= r.uses_host_ip;
                    self.warn_host_docker_internal(svc, &format!("args[{i}]"), &r.value);
                    args.push(r.value);
                }
                Err(e) => errors.push(e),
            }
        }
        if let Some(hidden) = parsed.hidden_listener()
            && let Some(port) = self.resolver.table.get(&svc.name, hidden.port_name)
            && (hidden.always || port.number != hidden.default_port)
        {
            args.extend((hidden.flag)(port.number));
        }
        let mut env = Vec::with_capacity(parsed.env.len() + 1);
        for (key, segments) in &parsed.env {
            match self.resolver.resolve(&svc.name, segments, &format!("env[{key:?}]")) {
                Ok(r) => {
                    uses_host_ip |= r.uses_host_ip;
                    self.warn_host_docker_internal(svc, &format!("env[{key:?}]"), &r.value);
                    env.push(EnvVar { name: (*key).to_owned(), value: Some(r.value), ..Default::default() });
                }
                Err(e) => errors.push(e),
            }
        }
        if uses_host_ip {
            // First, so later values can refer to it: Kubernetes expands only earlier vars.
            env.insert(
                0,
                EnvVar {
                    name: HOST_IP_ENV.into(),
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "status.hostIP".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            );
        }
        let readiness = match svc.ready_check.as_ref().map(|c| self.probe(svc, c)).transpose() {
            Ok(p) => p.flatten(),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let mounts = match self.mounts(svc) {
            Ok(m) => m,
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        if svc.labels.get(crate::manifest::USE_HOST_EXECUTION_LABEL).is_some_and(|v| v == "true") {
            self.warnings.push(format!(
                "service {:?} is labelled use-host-execution=true; it runs as a container of image {}",
                svc.name,
                svc.image_ref()
            ));
        }
        let startup = readiness.clone().filter(|_| gated).map(|mut p| {
            let period = p.period_seconds.unwrap_or(10).max(1);
            // The window in periods, rounded up; cannot overflow, whatever the period.
            let window = (STARTUP_WINDOW_SECONDS - 1) / period + 1;
            p.failure_threshold = Some(p.failure_threshold.unwrap_or(3).max(window));
            p
        });
        Ok(Container {
            name: names::container_name(&svc.name),
            image: Some(svc.image_ref()),
            command: Some(svc.entrypoint.clone()).filter(|c| !c.is_empty()),
            args: Some(args).filter(|a| !a.is_empty()),
            env: Some(env).filter(|e| !e.is_empty()),
            ports: Some(self.container_ports(&svc.name)).filter(|p| !p.is_empty()),
            readiness_probe: readiness,
            startup_probe: startup,
            resources: svc.resources.clone(),
            volume_mounts: Some(mounts),
            restart_policy: sidecar.then(|| "Always".to_owned()),
            // A client that fails says why on its last lines; the kubelet keeps them as the
            // termination message, which the operator shows in the service's status.
            termination_message_policy: Some("FallbackToLogsOnError".into()),
            ..Default::default()
        })
    }

    fn warn_host_docker_internal(&mut self, svc: &ServiceSpec, field: &str, value: &str) {
        if value.contains("host.docker.internal") {
            self.warnings.push(format!(
                "service {:?} {field} refers to host.docker.internal, which means nothing inside a Pod; left verbatim",
                svc.name
            ));
        }
    }

    fn container_ports(&self, service: &str) -> Vec<ContainerPort> {
        let Some(ports) = self.resolver.table.service(service) else { return Vec::new() };
        let mut out = Vec::new();
        for port in &ports.ports {
            for protocol in [Protocol::Tcp, Protocol::Udp] {
                if !port.protocols.contains(&protocol) {
                    continue;
                }
                let udp = protocol == Protocol::Udp;
                out.push(ContainerPort {
                    name: self.port_names.get(&(service.to_owned(), port.name.clone(), protocol)).cloned(),
                    container_port: port.number,
                    protocol: Some(if udp { "UDP" } else { "TCP" }.into()),
                    ..Default::default()
                });
            }
        }
        out
    }

    /// docker healthcheck → Kubernetes probe (DESIGN §5).
    fn probe(&self, svc: &ServiceSpec, check: &ReadyCheckSpec) -> Result<Option<Probe>, SpecError> {
        let err = |field: &str, message: String| SpecError::service(&svc.name, format!("readyCheck.{field}"), message);
        let mut probe = Probe::default();
        if let Some(url) = check.query_url.as_deref().filter(|u| !u.is_empty()) {
            let parsed = parse_url(url).ok_or_else(|| err("queryURL", format!("{url:?} is not an http(s) URL")))?;
            let owner = if resolve::is_local_host(parsed.host) { svc.name.as_str() } else { parsed.host };
            let port = self.resolver.table.by_requested(owner, parsed.port).map_or(parsed.port, |p| p.number);
            // builder-playground checks a query_url with `curl URL` (its `_readycheck` sidecar):
            // any HTTP answer counts, a 404 or 503 too. An httpGet probe would need 2xx/3xx,
            // which builder-hub's admin port never gives for /readyz: the closest probe is a
            // connection to the (remapped) port.
            probe.tcp_socket = Some(TCPSocketAction { port: IntOrString::Int(port), host: None });
        } else {
            let rewrite = |s: &String| self.resolver.rewrite_check(&svc.name, s);
            let command: Vec<String> = match check.test.first().map(String::as_str) {
                None | Some("NONE") => return Ok(None),
                Some("CMD") => check.test[1..].iter().map(rewrite).collect(),
                Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), rewrite(&check.test[1..].join(" "))],
                Some(_) => check.test.iter().map(rewrite).collect(),
            };
            probe.exec = Some(ExecAction { command: Some(command) });
        }
        let seconds = |field: &str, value: &Option<String>, min: i32| -> Result<Option<i32>, SpecError> {
            value
                .as_deref()
                .map(|v| {
                    let nanos = duration::parse(v).map_err(|e| err(field, e))?;
                    duration::ceil_seconds(nanos, min).ok_or_else(|| {
                        err(field, format!("duration {v:?} is longer than a probe allows ({}s)", i32::MAX))
                    })
                })
                .transpose()
        };
        probe.period_seconds = seconds("interval", &check.interval, 1)?;
        probe.timeout_seconds = seconds("timeout", &check.timeout, 1)?;
        probe.initial_delay_seconds = seconds("startPeriod", &check.start_period, 0)?.filter(|&s| s > 0);
        probe.failure_threshold = check.retries.filter(|&r| r > 0);
        Ok(Some(probe))
    }

    fn artifacts_path(&self, relative: Option<&str>) -> Option<String> {
        match (self.options.artifacts_subdir.as_deref(), relative) {
            (Some(dir), Some(rel)) => Some(format!("{dir}/{rel}")),
            (Some(dir), None) => Some(dir.to_owned()),
            (None, rel) => rel.map(str::to_owned),
        }
    }

    fn mounts(&mut self, svc: &ServiceSpec) -> Result<Vec<VolumeMount>, SpecError> {
        let mut mounts = vec![VolumeMount {
            name: ARTIFACTS_VOLUME.into(),
            mount_path: ARTIFACTS_DIR.into(),
            sub_path: self.artifacts_path(None),
            ..Default::default()
        }];
        for (i, file) in svc.files.iter().enumerate() {
            let mount = if file.artifact == JWT_ARTIFACT {
                self.uses_jwt = true;
                VolumeMount {
                    name: JWT_VOLUME.into(),
                    mount_path: file.mount_path.clone(),
                    sub_path: Some(JWT_SECRET_KEY.into()),
                    read_only: Some(true),
                    ..Default::default()
                }
            } else {
                VolumeMount {
                    name: ARTIFACTS_VOLUME.into(),
                    mount_path: file.mount_path.clone(),
                    sub_path: self.artifacts_path(Some(&file.artifact)),
                    ..Default::default()
                }
            };
            push_mount(&mut mounts, mount, &svc.name, &format!("files[{i}].mountPath"))?;
        }
        for (i, volume) in svc.volumes.iter().enumerate() {
            let mount = if volume.name == ARTIFACTS_VOLUME {
                VolumeMount {
                    name: ARTIFACTS_VOLUME.into(),
                    mount_path: volume.mount_path.clone(),
                    sub_path: self.artifacts_path(volume.sub_path.as_deref()),
                    ..Default::default()
                }
            } else {
                VolumeMount {
                    name: format!("vol-{}", volume.name),
                    mount_path: volume.mount_path.clone(),
                    sub_path: volume.sub_path.clone(),
                    ..Default::default()
                }
            };
            push_mount(&mut mounts, mount, &svc.name, &format!("volumes[{i}].mountPath"))?;
        }
        Ok(mounts)
    }

    fn volumes(&self, services: &[&ParsedService]) -> Vec<Volume> {
        let name = self.playground.metadata.name.as_deref().unwrap_or_default();
        let mut volumes = vec![artifacts_volume(self.playground)];
        if self.uses_jwt {
            volumes.push(Volume {
                name: JWT_VOLUME.into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(jwt_secret_name(name)),
                    items: Some(vec![KeyToPath {
                        key: JWT_SECRET_KEY.into(),
                        path: JWT_SECRET_KEY.into(),
                        mode: None,
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        let named: BTreeSet<&str> = services
            .iter()
            .flat_map(|p| p.spec.volumes.iter())
            .map(|v| v.name.as_str())
            .filter(|n| *n != ARTIFACTS_VOLUME)
            .collect();
        volumes.extend(named.into_iter().map(|n| Volume {
            name: format!("vol-{n}"),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        }));
        volumes
    }
}

/// The storage volume mounted at /artifacts, named `artifacts`: a hostPath directory per
/// playground (local-path), the playground's claim (pvc) or an emptyDir (ephemeral). The
/// generator Job mounts the same one.
pub fn artifacts_volume(playground: &BuilderPlayground) -> Volume {
    let name = playground.metadata.name.as_deref().unwrap_or_default();
    let storage = playground.spec.storage.as_ref();
    let mut artifacts = Volume { name: ARTIFACTS_VOLUME.into(), ..Default::default() };
    match playground.storage_type() {
        StorageType::LocalPath => {
            let root = storage.and_then(|s| s.path.as_deref()).unwrap_or(DEFAULT_STORAGE_PATH);
            let namespace = playground.metadata.namespace.as_deref().unwrap_or("default");
            artifacts.host_path = Some(HostPathVolumeSource {
                path: format!("{}/{namespace}/{name}", root.trim_end_matches('/')),
                type_: Some("DirectoryOrCreate".into()),
            });
        }
        StorageType::Pvc => {
            artifacts.persistent_volume_claim =
                Some(PersistentVolumeClaimVolumeSource { claim_name: artifacts_claim_name(name), read_only: None });
        }
        StorageType::Ephemeral => artifacts.empty_dir = Some(EmptyDirVolumeSource::default()),
    }
    artifacts
}

/// Adds a mount unless it repeats one already there; two different sources at one path are an
/// error.
fn push_mount(mounts: &mut Vec<VolumeMount>, mount: VolumeMount, service: &str, field: &str) -> Result<(), SpecError> {
    let path = mount.mount_path.trim_end_matches('/');
    match mounts.iter().find(|m| m.mount_path.trim_end_matches('/') == path) {
        Some(existing) if existing == &mount => Ok(()),
        Some(_) if path == ARTIFACTS_DIR => Err(SpecError::service(
            service,
            field,
            format!("{ARTIFACTS_DIR} is where the artifacts directory is mounted; choose another path"),
        )),
        Some(_) => Err(SpecError::service(service, field, format!("{path:?} is mounted twice"))),
        None => {
            mounts.push(mount);
            Ok(())
        }
    }
}

/// Service names used literally as hosts (`builder-hub-proxy:8888`, `_readycheck` URLs)
/// resolve to the Pod itself.
fn host_aliases(services: &[&ParsedService]) -> Option<Vec<HostAlias>> {
    let hostnames: Vec<String> = services
        .iter()
        .map(|p| p.spec.name.clone())
        .filter(|n| names::is_dns1123_subdomain(n) && n != "localhost")
        .collect();
    (!hostnames.is_empty()).then(|| vec![HostAlias { ip: "127.0.0.1".into(), hostnames: Some(hostnames) }])
}

/// Prefix of the Pod annotation that holds a service's builder-playground labels (as JSON);
/// the container's name follows it.
pub const LABELS_ANNOTATION_PREFIX: &str = "labels.playground.flashbots.io/";

/// builder-playground labels become annotations, one per container, as JSON.
fn service_label_annotations(services: &[&ParsedService]) -> BTreeMap<String, String> {
    services
        .iter()
        .filter(|p| !p.spec.labels.is_empty())
        .map(|p| {
            let key = format!("{LABELS_ANNOTATION_PREFIX}{}", names::container_name(&p.spec.name));
            (key, serde_json::to_string(&p.spec.labels).unwrap_or_default())
        })
        .collect()
}

impl Rendered {
    /// The builder-playground labels of the service run by `container` (from its annotation).
    pub fn service_labels(&self, container: &str) -> BTreeMap<String, String> {
        self.annotations
            .get(&format!("{LABELS_ANNOTATION_PREFIX}{container}"))
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }
}

/// The parts of an http(s) URL a probe needs.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedUrl<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: i32,
    pub path: &'a str,
}

/// Splits an http(s) URL; `None` for anything else.
pub fn parse_url(url: &str) -> Option<ParsedUrl<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse().ok().filter(|p| (1..=65535).contains(p))?)
        }
        _ => (host_port, default_port),
    };
    if host.is_empty() {
        return None;
    }
    let path = &rest[authority_end..];
    Some(ParsedUrl { scheme, host, port, path: if path.is_empty() { "/" } else { path } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://localhost:8081/readyz"),
            Some(ParsedUrl { scheme: "http", host: "localhost", port: 8081, path: "/readyz" })
        );
        assert_eq!(parse_url("https://a").map(|u| (u.port, u.path)), Some((443, "/")));
        assert_eq!(parse_url("http://u:p@h:1?x").map(|u| (u.host, u.port, u.path)), Some(("h", 1, "?x")));
        assert_eq!(parse_url("ftp://a:1"), None);
        assert_eq!(parse_url("localhost:80"), None);
        assert_eq!(parse_url("http://:80/"), None);
        assert_eq!(parse_url("http://a:99999/"), None);
    }

    #[test]
    fn a_mount_is_added_once_and_a_path_holds_one_source() {
        let mount =
            |name: &str, path: &str| VolumeMount { name: name.into(), mount_path: path.into(), ..Default::default() };
        let mut mounts = vec![mount(ARTIFACTS_VOLUME, ARTIFACTS_DIR)];
        assert_eq!(push_mount(&mut mounts, mount("jwt", "/data/jwt"), "el", "files[0]"), Ok(()));
        assert_eq!(
            push_mount(&mut mounts, mount("jwt", "/data/jwt"), "el", "files[1]"),
            Ok(()),
            "the same mount again"
        );
        assert_eq!(mounts.len(), 2);
        let twice = push_mount(&mut mounts, mount("other", "/data/jwt/"), "el", "files[2]").unwrap_err();
        assert_eq!(twice.to_string(), r#"service "el": files[2]: "/data/jwt" is mounted twice"#);
        let over = push_mount(&mut mounts, mount("other", "/artifacts/"), "el", "volumes[0]").unwrap_err();
        assert_eq!(
            over.to_string(),
            r#"service "el": volumes[0]: /artifacts is where the artifacts directory is mounted; choose another path"#
        );
        assert_eq!(mounts.len(), 2, "refused mounts are not added");
    }
}
