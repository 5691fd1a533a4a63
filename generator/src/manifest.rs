//! builder-playground's `manifest.json`, in every format it has been written in (SPEC §1), and
//! its conversion into a `BuilderPlayground`.
//!
//! Go's `encoding/json` matches keys case-insensitively, so builder-playground's own readers
//! never noticed that its key casing is inconsistent (`name` vs `Name`, `Protocol`, `HostPort`)
//! and changed between versions. Every spelling seen in real manifests is accepted here; unknown
//! keys are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::api::{
    BootnodeSpec, BuilderPlayground, BuilderPlaygroundSpec, DependencyCondition, DependencySpec, FileMountSpec,
    PortSpec, Protocol, ReadyCheckSpec, ServiceSpec, StorageSpec, VolumeMountSpec,
};
use crate::duration;

/// A parsed manifest.json.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Manifest {
    /// Random session name (since 2025-12).
    #[serde(default, deserialize_with = "nullable")]
    pub session_id: String,
    /// Services in builder-playground's order.
    pub services: Vec<Service>,
    /// The devnet's bootnode (opstack, since 2026-02).
    #[serde(default)]
    pub bootnode: Option<Bootnode>,
    /// Shell commands a YAML recipe runs on the host first.
    #[serde(default, deserialize_with = "nullable")]
    pub setup: Vec<String>,
}

/// `{"Service": ..., "ID": ...}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Bootnode {
    #[serde(rename = "Service", alias = "service")]
    pub service: String,
    #[serde(rename = "ID", alias = "id", alias = "Id")]
    pub id: String,
}

/// One service of the manifest.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Service {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub ready_check: Option<ReadyCheck>,
    #[serde(default, deserialize_with = "nullable")]
    pub depends_on: Vec<DependsOn>,
    #[serde(default, deserialize_with = "nullable")]
    pub ports: Vec<Port>,
    #[serde(default, deserialize_with = "nullable")]
    pub node_refs: Vec<NodeRef>,
    /// Container path → artifact (file or directory relative to the output directory).
    #[serde(default, deserialize_with = "nullable")]
    pub files_mapped: BTreeMap<String, String>,
    /// Container path → docker volume.
    #[serde(default, deserialize_with = "nullable")]
    pub volumes_mapped: BTreeMap<String, VolumeMapped>,
    #[serde(default, deserialize_with = "nullable")]
    pub tag: String,
    #[serde(default, deserialize_with = "nullable")]
    pub image: String,
    #[serde(default, deserialize_with = "nullable")]
    pub entrypoint: String,
    #[serde(default, deserialize_with = "nullable")]
    pub host_path: String,
    #[serde(default)]
    pub ungraceful_shutdown: bool,
    #[serde(default)]
    pub lifecycle_hooks: bool,
}

/// `{"name","port","Protocol","HostPort"}`; `{"Name","Port",...}` before 2025-05-13.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Port {
    #[serde(alias = "Name")]
    pub name: String,
    #[serde(alias = "Port")]
    pub port: i64,
    #[serde(rename = "Protocol", alias = "protocol", default, deserialize_with = "nullable")]
    pub protocol: String,
    #[serde(rename = "HostPort", alias = "hostPort", alias = "host_port", default)]
    pub host_port: i64,
}

/// One `{{Service}}` occurrence, as builder-playground recorded it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeRef {
    #[serde(alias = "Service")]
    pub service: String,
    #[serde(alias = "PortLabel")]
    pub port_label: String,
    #[serde(alias = "Protocol", default, deserialize_with = "nullable")]
    pub protocol: String,
    #[serde(alias = "User", default, deserialize_with = "nullable")]
    pub user: String,
}

/// `{"Name","Condition"}`: no json tags in Go, so capitalised.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DependsOn {
    #[serde(rename = "Name", alias = "name")]
    pub name: String,
    #[serde(rename = "Condition", alias = "condition", default, deserialize_with = "nullable")]
    pub condition: String,
}

/// A docker health check; durations are Go `time.Duration` nanoseconds.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ReadyCheck {
    #[serde(default, alias = "QueryURL", deserialize_with = "nullable")]
    pub query_url: String,
    #[serde(default, alias = "Test", deserialize_with = "nullable")]
    pub test: Vec<String>,
    #[serde(default, alias = "Interval")]
    pub interval: u64,
    #[serde(default, alias = "StartPeriod")]
    pub start_period: u64,
    #[serde(default, alias = "Timeout")]
    pub timeout: u64,
    #[serde(default, alias = "Retries")]
    pub retries: i64,
}

/// A docker volume: a bare name (until 2026-02-02) or `{"Name","IsLocal"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum VolumeMapped {
    Name(String),
    Object {
        #[serde(rename = "Name", alias = "name")]
        name: String,
        #[serde(rename = "IsLocal", alias = "is_local", default)]
        is_local: bool,
    },
}

impl VolumeMapped {
    /// The docker volume name as the manifest gives it (`data`, `shared:el-data`).
    pub fn name(&self) -> &str {
        match self {
            VolumeMapped::Name(name) | VolumeMapped::Object { name, .. } => name,
        }
    }
}

/// `null` (Go's nil slice or map) reads as the empty value.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads a manifest.json.
pub fn parse(json: &str) -> Result<Manifest, serde_json::Error> {
    serde_json::from_str(json)
}

/// Choices the manifest does not carry.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// metadata.name; defaults to the recipe.
    pub name: Option<String>,
    /// metadata.namespace; left unset when `None`.
    pub namespace: Option<String>,
    /// spec.recipe; inferred from the services when `None`.
    pub recipe: Option<String>,
    /// spec.storage.
    pub storage: Option<StorageSpec>,
}

/// A manifest that cannot become a `BuilderPlayground`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("service {service:?}: {field}: {message}")]
pub struct ConvertError {
    pub service: String,
    pub field: String,
    pub message: String,
}

/// The result of a conversion: the object and what the user should know about it.
#[derive(Debug, Clone)]
pub struct Converted {
    pub playground: BuilderPlayground,
    pub warnings: Vec<String>,
}

/// Suffix builder-playground gives to the curl sidecar that carries a `query_url` check.
const READYCHECK_SUFFIX: &str = "_readycheck";
/// Label that names the sidecar carrying a service's readiness.
pub const HEALTH_CHECK_SIDECAR_LABEL: &str = "health-check-sidecar";
/// Label builder-playground sets on services it runs on the host.
pub const USE_HOST_EXECUTION_LABEL: &str = "use-host-execution";

/// Converts a manifest into a `BuilderPlayground` (the replacement for PR #120's `cook --k8s`).
///
/// builder-playground's `Validate()` moves every `query_url` check into an `alpine/curl`
/// sidecar `<name>_readycheck`; in one Pod that sidecar is pointless, so it is folded back into
/// its owner as a readiness check and dependencies on it point at the owner again.
pub fn convert(manifest: &Manifest, options: &ConvertOptions) -> Result<Converted, ConvertError> {
    let mut warnings = Vec::new();
    let folded = foldable_readychecks(manifest);
    let mut services = Vec::with_capacity(manifest.services.len());
    for svc in &manifest.services {
        if folded.contains_key(svc.name.as_str()) {
            continue;
        }
        let err =
            |field: &str, message: String| ConvertError { service: svc.name.clone(), field: field.into(), message };
        if svc.lifecycle_hooks {
            return Err(err(
                "lifecycle_hooks",
                "host lifecycle services (buildernet VMs) cannot run on Kubernetes: unsupported".into(),
            ));
        }
        if svc.image.trim().is_empty() {
            let why =
                if svc.host_path.is_empty() { "it has no image" } else { "it runs a host binary and has no image" };
            return Err(err("image", format!("{why}, so it cannot run as a container: unsupported")));
        }
        if svc.labels.get(USE_HOST_EXECUTION_LABEL).is_some_and(|v| v == "true") || !svc.host_path.is_empty() {
            warnings.push(format!(
                "service {:?} runs on the host in builder-playground; it runs as a container of image {} here",
                svc.name, svc.image
            ));
        }
        let mut labels = svc.labels.clone();
        let mut ready_check = svc.ready_check.as_ref().map(ready_check_spec);
        if let Some(sidecar) = labels.get(HEALTH_CHECK_SIDECAR_LABEL).and_then(|s| folded.get(s.as_str())) {
            ready_check = Some(sidecar.clone());
            labels.remove(HEALTH_CHECK_SIDECAR_LABEL);
        }
        let mut ports: Vec<PortSpec> = Vec::with_capacity(svc.ports.len());
        for port in &svc.ports {
            let protocol = match port.protocol.to_ascii_lowercase().as_str() {
                "" | "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                other => {
                    return Err(err(&format!("ports[{}].Protocol", port.name), format!("unknown protocol {other:?}")));
                }
            };
            let number = i32::try_from(port.port).map_err(|_| {
                err(&format!("ports[{}].port", port.name), format!("{} is not a port number", port.port))
            })?;
            ports.push(PortSpec { name: port.name.clone(), port: number, protocol, host_port: None });
        }
        let dependencies = svc
            .depends_on
            .iter()
            .map(|dep| {
                let condition = match dep.condition.as_str() {
                    "service_healthy" => DependencyCondition::Healthy,
                    "service_started" | "" | "service_completed_successfully" => DependencyCondition::Running,
                    other => return Err(err("depends_on", format!("unknown condition {other:?} for {:?}", dep.name))),
                };
                let name = dep.name.strip_suffix(READYCHECK_SUFFIX).filter(|_| folded.contains_key(dep.name.as_str()));
                Ok(DependencySpec { name: name.unwrap_or(&dep.name).to_owned(), condition })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let volumes = svc
            .volumes_mapped
            .iter()
            .map(|(path, volume)| VolumeMountSpec {
                name: volume_name(&svc.name, volume.name()),
                mount_path: path.clone(),
                sub_path: None,
            })
            .collect();
        let files = svc
            .files_mapped
            .iter()
            .map(|(path, artifact)| FileMountSpec { artifact: artifact.clone(), mount_path: path.clone() })
            .collect();
        services.push(ServiceSpec {
            name: svc.name.clone(),
            image: svc.image.clone(),
            tag: Some(svc.tag.clone()).filter(|t| !t.is_empty()),
            entrypoint: if svc.entrypoint.is_empty() { Vec::new() } else { vec![svc.entrypoint.clone()] },
            args: svc.args.clone(),
            env: svc.env.clone(),
            ports,
            dependencies,
            ready_check,
            labels,
            use_host_execution: false,
            volumes,
            files,
            resources: None,
        });
    }
    if !manifest.setup.is_empty() {
        warnings.push(format!(
            "the manifest's {} setup command(s) run on the host in builder-playground and are not carried over",
            manifest.setup.len()
        ));
    }
    let recipe = options.recipe.clone().unwrap_or_else(|| infer_recipe(manifest).to_owned());
    let name = options.name.clone().unwrap_or_else(|| recipe.clone());
    let mut playground = BuilderPlayground::new(
        &name,
        BuilderPlaygroundSpec {
            recipe: Some(recipe),
            storage: options.storage.clone(),
            bootnode: manifest.bootnode.as_ref().map(|b| BootnodeSpec { service: b.service.clone(), id: b.id.clone() }),
            services,
            ..Default::default()
        },
    );
    playground.metadata.namespace = options.namespace.clone();
    Ok(Converted { playground, warnings })
}

/// The `_readycheck` sidecars that can be folded into their owners, by sidecar name, with the
/// owner's resulting check.
fn foldable_readychecks(manifest: &Manifest) -> BTreeMap<&str, ReadyCheckSpec> {
    let mut folded = BTreeMap::new();
    for owner in &manifest.services {
        let Some(sidecar_name) = owner.labels.get(HEALTH_CHECK_SIDECAR_LABEL) else { continue };
        if !sidecar_name.ends_with(READYCHECK_SUFFIX) {
            continue;
        }
        let Some(sidecar) = manifest.services.iter().find(|s| &s.name == sidecar_name) else { continue };
        let Some(check) = &sidecar.ready_check else { continue };
        let Some(url) = check.test.iter().rev().find(|t| t.starts_with("http://") || t.starts_with("https://")) else {
            continue;
        };
        let mut spec = ready_check_spec(check);
        spec.test.clear();
        spec.query_url = Some(url.replacen(&format!("//{}:", owner.name), "//localhost:", 1));
        folded.insert(sidecar.name.as_str(), spec);
    }
    folded
}

fn ready_check_spec(check: &ReadyCheck) -> ReadyCheckSpec {
    let duration = |nanos: u64| (nanos > 0).then(|| duration::format(nanos));
    ReadyCheckSpec {
        query_url: Some(check.query_url.clone()).filter(|u| !u.is_empty()),
        test: check.test.clone(),
        interval: duration(check.interval),
        timeout: duration(check.timeout),
        retries: (check.retries > 0).then(|| i32::try_from(check.retries).unwrap_or(i32::MAX)),
        start_period: duration(check.start_period),
    }
}

/// builder-playground names docker volumes `volume-<service>-<name>`, or `volume-<x>` for
/// `shared:<x>`; in the CR the same name means the same volume, so the service is folded in.
fn volume_name(service: &str, volume: &str) -> String {
    let name = match volume.strip_prefix("shared:") {
        Some(shared) => shared.to_owned(),
        None => format!("{service}-{volume}"),
    };
    name.replace('_', "-").to_ascii_lowercase()
}

fn infer_recipe(manifest: &Manifest) -> &'static str {
    let has = |name: &str| manifest.services.iter().any(|s| s.name == name);
    if has("builder-hub-api") {
        "buildernet"
    } else if has("op-geth") || has("op-node") {
        "opstack"
    } else {
        "l1"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_port_casings_parse() {
        let new: Port = serde_json::from_str(r#"{"name":"p2p","port":9000,"Protocol":"udp","HostPort":0}"#).unwrap();
        let old: Port = serde_json::from_str(r#"{"Name":"p2p","Port":9000,"Protocol":"udp","HostPort":0}"#).unwrap();
        assert_eq!(new, old);
        assert_eq!(new.name, "p2p");
        assert_eq!(new.port, 9000);
        assert_eq!(new.protocol, "udp");
    }

    #[test]
    fn volumes_as_string_or_object() {
        let svc: Service = serde_json::from_str(
            r#"{"name":"x","args":null,"volumes_mapped":{"/a":"data","/b":{"Name":"shared:el-data","IsLocal":true}},"component_name":"ignored"}"#,
        )
        .unwrap();
        assert_eq!(svc.volumes_mapped["/a"].name(), "data");
        assert_eq!(svc.volumes_mapped["/b"].name(), "shared:el-data");
        assert!(svc.args.is_empty());
        assert_eq!(volume_name("el", "data"), "el-data");
        assert_eq!(volume_name("rbuilder", "shared:el-data"), "el-data");
    }

    #[test]
    fn missing_services_is_an_error() {
        assert!(parse(r#"{"session_id":"x"}"#).is_err());
        assert!(parse(r#"{"services":[{"args":[]}]}"#).is_err(), "a service without a name");
    }

    #[test]
    fn lifecycle_service_is_unsupported() {
        let manifest = parse(r#"{"services":[{"name":"vm","args":[],"lifecycle_hooks":true}]}"#).unwrap();
        let err = convert(&manifest, &ConvertOptions::default()).unwrap_err();
        assert_eq!(err.service, "vm");
        assert!(err.message.contains("unsupported"), "{err}");
        let manifest = parse(r#"{"services":[{"name":"b","args":[],"host_path":"/usr/bin/b"}]}"#).unwrap();
        assert!(convert(&manifest, &ConvertOptions::default()).unwrap_err().message.contains("no image"));
    }

    #[test]
    fn host_execution_label_with_image_runs_as_container_with_warning() {
        let manifest = parse(
            r#"{"services":[{"name":"el","args":[],"image":"reth","tag":"v1","labels":{"use-host-execution":"true"}}]}"#,
        )
        .unwrap();
        let converted = convert(&manifest, &ConvertOptions::default()).unwrap();
        assert!(!converted.playground.spec.services[0].use_host_execution);
        assert_eq!(converted.warnings.len(), 1);
        assert!(converted.warnings[0].contains("runs as a container"));
    }
}
