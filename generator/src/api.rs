//! The `BuilderPlayground` custom resource (`playground.flashbots.io/v1alpha1`).
//!
//! The spec is a superset of the `BuilderPlaygroundDeployment` CRD proposed in
//! builder-playground PR #120: every spec written for that CRD parses unchanged. Doc comments
//! become the CRD's descriptions, so `kubectl explain` shows them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every kind this project defines.
pub const GROUP: &str = "playground.flashbots.io";
/// A Go duration as `time.ParseDuration` reads it (`1s`, `10m0s`, `1.5h`, `0`), unsigned.
const GO_DURATION: &str = r"^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";
/// Where the artifacts (genesis, keys, configs) are mounted in every container.
pub const ARTIFACTS_DIR: &str = "/artifacts";
/// The volume name that stands for the storage volume itself (PR #120 specs mount it so).
pub const ARTIFACTS_VOLUME: &str = "artifacts";

/// A builder-playground devnet (L1, OP stack, BuilderNet) run as one Pod: every service a
/// container, all sharing localhost.
// printcolumn(...) repeats `type_ = "string"` by design; the lint reads it as a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[kube(
    group = "playground.flashbots.io",
    version = "v1alpha1",
    kind = "BuilderPlayground",
    plural = "builderplaygrounds",
    shortname = "bp",
    namespaced,
    status = "BuilderPlaygroundStatus",
    derive = "PartialEq",
    doc = "A builder-playground devnet run as one Pod on Kubernetes. A new value of the annotation playground.flashbots.io/regenerate runs the generator again (a fresh genesis with `generate`) and replaces the Pod.",
    printcolumn(name = "Recipe", type_ = "string", json_path = ".spec.recipe"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.ready"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(
        name = "RPC",
        type_ = "string",
        json_path = ".status.rpcURL",
        description = "The execution layer's JSON-RPC inside the cluster",
        priority = 1
    ),
    printcolumn(
        name = "Expires",
        type_ = "string",
        json_path = ".status.expiresAt",
        priority = 1,
        description = "When the operator deletes the playground (spec.lifetime)"
    )
)]
#[serde(rename_all = "camelCase")]
// Checks of the whole spec, in the generator's words (generator/src/validate.rs says the same
// with the service named; rendering finds the rest, and the webhook refuses that too).
#[x_kube(
    validation = Rule::new(r#"(has(self.services) && size(self.services) > 0) || has(self.generate) || (has(self.recipe) && self.recipe.matches('\\S'))"#)
        .message("at least one service is required (or a recipe, or `generate`, to produce them)")
        .field_path(".services"),
    validation = Rule::new(r#"!has(self.services) || self.services.all(s, !has(s.dependencies) || s.dependencies.all(d, d.name == s.name || self.services.exists(o, o.name == d.name)))"#)
        .message("a dependency names a service that is not in spec.services")
        .field_path(".services"),
    validation = Rule::new(r#"!has(self.services) || self.services.all(s, !has(s.dependencies) || s.dependencies.all(d, !has(d.condition) || d.condition != 'healthy' || self.services.exists(o, o.name == d.name && has(o.readyCheck))))"#)
        .message("a healthy dependency needs a readyCheck on the service it depends on")
        .field_path(".services"),
    validation = Rule::new(r#"!has(self.bootnode) || (has(self.services) && self.services.exists(s, s.name == self.bootnode.service))"#)
        .message(kube::core::Message::Expression(r#"'no service named "' + self.bootnode.service + '"'"#.into()))
        .field_path(".bootnode.service"),
    validation = Rule::new(r#"!(has(self.storage) && has(self.storage.type) && self.storage.type == 'ephemeral' && (has(self.generate) || ((!has(self.services) || size(self.services) == 0) && has(self.recipe) && self.recipe.matches('\\S'))))"#)
        .message("ephemeral storage cannot hold artifacts made by `generate`: the Job and the Pod do not share an emptyDir")
        .field_path(".storage.type"),
    validation = Rule::new(r#"!(has(self.artifacts) && (has(self.generate) || ((!has(self.services) || size(self.services) == 0) && has(self.recipe) && self.recipe.matches('\\S'))))"#)
        .message("a playground has its artifacts either from a bundle or from `generate`, not both")
        .field_path(".artifacts"),
)]
pub struct BuilderPlaygroundSpec {
    /// The builder-playground recipe this devnet comes from (l1, opstack, buildernet, ...).
    /// A playground that names a recipe and lists no services is generated in the cluster:
    /// builder-playground runs `start <recipe>` in the generator Job (see `generate`).
    /// Otherwise informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,

    /// Produce the artifacts (genesis, keys, configs) and the services in the generator Job by
    /// running builder-playground. Without it (and without a recipe-only spec or `artifacts`)
    /// the artifacts must already be on the storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<GenerateSpec>,

    /// Artifacts that travel with the playground: builder-playground's output folder packed by
    /// `bp-generator convert DIR` into compressed Secrets of this namespace. They are checked
    /// by the generator Job and unpacked onto the storage before any service starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<ArtifactsSpec>,

    /// Where the artifacts directory (/artifacts in every container) lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,

    /// Docker network settings of builder-playground. Accepted for PR #120 compatibility; all
    /// services share the Pod's network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,

    /// The devnet's bootnode, which `{{Bootnode}}` resolves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootnode: Option<BootnodeSpec>,

    /// The devnet's services, in builder-playground's order. Each becomes one container. Leave
    /// them out to have them generated from `recipe` (or `generate`). Keyed by name: a
    /// duplicate name is refused.
    #[serde(default)]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub services: Vec<ServiceSpec>,

    /// Where the Pod may be scheduled. Needed with local-path storage on multi-node clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,

    /// How the declared ports are exposed outside the Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose: Option<ExposeSpec>,

    /// Stop the devnet and keep it: true deletes the Pod and keeps what it was made from (the
    /// storage with the artifacts, the rendered PodSpec ConfigMap, the JWT Secret, the
    /// Service); false again creates the Pod from them, with the same genesis and JWT and no
    /// new generator run. The services' named volumes are emptyDirs and start empty again, and
    /// so does /artifacts with ephemeral storage (an artifacts bundle is unpacked again; the
    /// Suspended condition says so). A generator Job that is running finishes, and no Pod is
    /// created until this is false. Changing it never regenerates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,

    /// Delete the playground this long after its creation, a Go duration such as 2h or 90m
    /// (for CI): the operator deletes the BuilderPlayground itself, and with it everything it
    /// owns, with an Expired event just before. status.expiresAt says when. Unset: the
    /// playground lives until it is deleted. Changing it never regenerates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = GO_DURATION))]
    pub lifetime: Option<String>,

    /// Scraping of the devnet's own metrics by a Prometheus Operator (opt-in): `monitoring: {}`
    /// makes the operator keep a PodMonitor (monitoring.coreos.com/v1) named after the
    /// playground that scrapes every service's port named `metrics`, on the path of the
    /// service's `metrics_path` label (builder-playground's), else /metrics. Without the
    /// PodMonitor CRD in the cluster the `Monitored` condition says so and the devnet runs
    /// all the same. Changing it never restarts the devnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringSpec>,
}

/// How the generator Job produces artifacts with builder-playground.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenerateSpec {
    /// An image that carries the `builder-playground` binary. Default: the operator's own
    /// image, which carries builder-playground built from source at a pinned commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// builder-playground arguments, e.g. ["start", "l1", "--genesis-delay", "60"]. Default:
    /// `start <spec.recipe>`. The operator adds `--dry-run --output <dir>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// An artifacts bundle: one tar.gz of builder-playground's output folder, split across
/// Secrets (made by `bp-generator convert DIR`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(r#"size(self.secrets) > 0"#).message("names no Secret").field_path(".secrets"),
    validation = Rule::new(r#"self.digest.matches('^sha256:[0-9a-f]{64}$')"#)
        .message(kube::core::Message::Expression(r#"'"' + self.digest + '" is not sha256:<64 lowercase hex digits>'"#.into()))
        .field_path(".digest"),
)]
pub struct ArtifactsSpec {
    /// The Secrets holding the bundle, in order; the `bundle.part` keys of all of them,
    /// concatenated, are the tar.gz.
    #[schemars(length(max = 16))]
    pub secrets: Vec<String>,
    /// sha256 of the whole bundle, `sha256:<64 hex digits>`. Part of the playground's input
    /// hash: a new bundle regenerates and replaces the Pod, the same bundle changes nothing; a
    /// bundle with another digest is refused.
    #[schemars(length(max = 128))]
    pub digest: String,
}

/// Storage of the artifacts directory.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(r#"!has(self.path) || self.path.startsWith('/')"#)
        .message(kube::core::Message::Expression(r#"'"' + self.path + '" is not an absolute path'"#.into()))
        .field_path(".path"),
    validation = Rule::new(r#"!has(self.size) || isQuantity(self.size)"#)
        .message(kube::core::Message::Expression(r#"'"' + self.size + '" is not a quantity such as 10Gi'"#.into()))
        .field_path(".size"),
)]
pub struct StorageSpec {
    /// local-path (a hostPath directory on the node, the default), pvc (a PersistentVolumeClaim)
    /// or ephemeral (an emptyDir; not allowed together with `generate`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageType>,
    /// local-path: the root directory on the node; the playground uses
    /// `<path>/<namespace>/<name>`. Default /data/builder-playground.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub path: Option<String>,
    /// pvc: the StorageClass of the claim. Unset means the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// pvc: the size of the claim, a Kubernetes quantity such as 10Gi. Default 10Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub size: Option<String>,
}

/// Kind of storage for the artifacts directory.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum StorageType {
    /// A hostPath directory on the node.
    #[default]
    #[serde(rename = "local-path")]
    LocalPath,
    /// A PersistentVolumeClaim.
    #[serde(rename = "pvc")]
    Pvc,
    /// An emptyDir that lives as long as the Pod.
    #[serde(rename = "ephemeral")]
    Ephemeral,
}

/// builder-playground's docker network (PR #120 compatibility).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct NetworkSpec {
    /// Network name, as in docker-compose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The bootnode of the devnet.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct BootnodeSpec {
    /// The service that runs the bootnode; its `rpc` port is used.
    pub service: String,
    /// The bootnode's node id (128 hex characters), the user part of its enode URL.
    pub id: String,
}

/// One service of the devnet; one container of the Pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(r#"size(self.name) > 0"#).message("a service needs a name").field_path(".name"),
    validation = Rule::new(r#"(has(self.useHostExecution) && self.useHostExecution) || size(self.name) == 0 || (size(self.name) <= 63 && self.name.replace('_', '-').matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))"#)
        .message(kube::core::Message::Expression(r#"'cannot become a container name: "' + self.name.replace('_', '-') + '" is not a DNS-1123 label (lowercase letters, digits and \'-\', at most 63)'"#.into()))
        .field_path(".name"),
    validation = Rule::new(r#"self.image.matches('\\S')"#).message("the image is empty").field_path(".image"),
    validation = Rule::new(r#"!has(self.tag) || !self.tag.matches('[/ :]')"#)
        .message(kube::core::Message::Expression(r#"'"' + self.tag + '" is not an image tag'"#.into()))
        .field_path(".tag"),
    validation = Rule::new(r#"!has(self.ports) || self.ports.all(p, self.ports.exists_one(q, q.name == p.name && q.protocol == p.protocol))"#)
        .message("duplicate port name")
        .field_path(".ports"),
    validation = Rule::new(r#"!has(self.dependencies) || self.dependencies.all(d, d.name != self.name)"#)
        .message("a service cannot depend on itself")
        .field_path(".dependencies"),
)]
pub struct ServiceSpec {
    /// Service name, unique in the playground. `_` becomes `-` in the container name.
    #[schemars(length(max = 63))]
    pub name: String,
    /// Container image, without the tag.
    #[schemars(length(max = 512))]
    pub image: String,
    /// Image tag; the container runs `image:tag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub tag: Option<String>,
    /// The container's command. Unset means the image's own entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// Arguments. May hold builder-playground templates: {{Port "http" 8545}},
    /// {{PortUDP "p2p" 9000}}, {{Service "el" "authrpc" "http" ""}}, {{.Dir}}, {{Bootnode}}.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables; values may hold templates too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Ports the service listens on. The operator allocates a Pod-unique number to each name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ports: Vec<PortSpec>,
    /// Services that must be started (or healthy) before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub dependencies: Vec<DependencySpec>,
    /// How to tell that the service is ready; becomes the container's readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_check: Option<ReadyCheckSpec>,
    /// builder-playground labels (health-check-sidecar, metrics_path, ...). They become Pod
    /// annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Run the service on the node instead of in the Pod. References to it resolve to the
    /// node's IP ($(BP_HOST_IP)); the operator does not start it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub use_host_execution: bool,
    /// Volumes mounted into the container. The same name in several services is the same
    /// volume; the name `artifacts` is the storage volume itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub volumes: Vec<VolumeMountSpec>,
    /// Artifacts (files or directories of the artifacts directory) mounted at a path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub files: Vec<FileMountSpec>,
    /// Compute resources of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// A port a service listens on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(r#"size(self.name) > 0"#).message("a port needs a name").field_path(".name"),
    validation = Rule::new(r#"size(self.name) == 0 || (size(self.name) + (self.protocol == 'udp' ? 4 : 0) <= 15 && (self.name.lowerAscii().replace('_', '-') + (self.protocol == 'udp' ? '-udp' : '')).matches('^[a-z0-9]([a-z0-9-]*[a-z0-9])?$') && self.name.lowerAscii().matches('[a-z]') && !self.name.replace('_', '-').contains('--'))"#)
        .message(kube::core::Message::Expression(r#"'"' + self.name.lowerAscii().replace('_', '-') + (self.protocol == 'udp' ? '-udp' : '') + '" cannot be a container port name (at most 15 lowercase letters, digits or \'-\', one letter at least)'"#.into()))
        .field_path(".name"),
    validation = Rule::new(r#"self.port >= 1 && self.port <= 65535"#)
        .message("is out of range 1-65535")
        .field_path(".port"),
)]
pub struct PortSpec {
    /// Port name, as used by {{Port}} and {{Service}} templates.
    #[schemars(length(max = 63))]
    pub name: String,
    /// The requested port number; the allocated one may be higher when another service of the
    /// Pod already holds it.
    pub port: i32,
    /// tcp (default) or udp.
    #[serde(default)]
    pub protocol: Protocol,
    /// Port on the host machine; accepted for PR #120 compatibility and otherwise unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
}

/// Transport protocol of a port.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// A dependency on another service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct DependencySpec {
    /// The service depended on.
    #[schemars(length(max = 63))]
    pub name: String,
    /// running (default): started before this one; healthy: its ready check passes first.
    #[serde(default)]
    pub condition: DependencyCondition,
}

/// When a dependency counts as satisfied.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DependencyCondition {
    /// The dependency's container has started.
    #[default]
    Running,
    /// The dependency's ready check passes.
    Healthy,
}

/// A docker-compose style health check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(r#"!has(self.retries) || self.retries >= 0"#).message("must not be negative").field_path(".retries"),
    validation = Rule::new(r#"!has(self.test) || size(self.test) == 0 || !(self.test[0] in ['CMD', 'CMD-SHELL']) || size(self.test) >= 2"#)
        .message(kube::core::Message::Expression(r#"(self.test[0] == 'CMD' ? 'CMD' : 'CMD-SHELL') + ' needs a command'"#.into()))
        .field_path(".test"),
)]
pub struct ReadyCheckSpec {
    /// An HTTP URL that answers when the service is ready. builder-playground asks it with
    /// `curl URL`, so any HTTP answer counts; it becomes a tcpSocket probe on the URL's
    /// (remapped) port.
    #[serde(default, rename = "queryURL", skip_serializing_if = "Option::is_none")]
    pub query_url: Option<String>,
    /// A docker health-check test: ["CMD", exe, args...] or ["CMD-SHELL", "command"].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub test: Vec<String>,
    /// Time between checks, a Go duration such as 1s or 10m0s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = GO_DURATION))]
    pub interval: Option<String>,
    /// Time a check may take, a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = GO_DURATION))]
    pub timeout: Option<String>,
    /// Consecutive failures before the service counts as not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i32>,
    /// Time before the first check, a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = GO_DURATION))]
    pub start_period: Option<String>,
}

/// A named volume mounted into a service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(r#"self.name == 'artifacts' || (size(self.name) <= 59 && ('vol-' + self.name).matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))"#)
        .message(kube::core::Message::Expression(r#"'"' + self.name + '" cannot be a volume name (DNS-1123 label)'"#.into()))
        .field_path(".name"),
    validation = Rule::new(r#"self.mountPath.startsWith('/')"#)
        .message(kube::core::Message::Expression(r#"'"' + self.mountPath + '" is not an absolute path'"#.into()))
        .field_path(".mountPath"),
    validation = Rule::new(r#"!has(self.subPath) || (size(self.subPath) > 0 && !self.subPath.startsWith('/') && !self.subPath.matches('(^|/)\\.\\.(/|$)'))"#)
        .message(kube::core::Message::Expression(r#"'"' + self.subPath + '" must be a relative path inside the artifacts directory'"#.into()))
        .field_path(".subPath"),
)]
pub struct VolumeMountSpec {
    /// Volume name; services naming the same volume share it. `artifacts` is the storage.
    #[schemars(length(max = 63))]
    pub name: String,
    /// Absolute path in the container.
    #[schemars(length(max = 256))]
    pub mount_path: String,
    /// Sub-path within the volume to mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub sub_path: Option<String>,
}

/// An artifact mounted at a path (builder-playground's files_mapped).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(r#"size(self.artifact) > 0 && !self.artifact.startsWith('/') && !self.artifact.matches('(^|/)\\.\\.(/|$)')"#)
        .message(kube::core::Message::Expression(r#"'"' + self.artifact + '" must be a relative path inside the artifacts directory'"#.into()))
        .field_path(".artifact"),
    validation = Rule::new(r#"self.mountPath.startsWith('/')"#)
        .message(kube::core::Message::Expression(r#"'"' + self.mountPath + '" is not an absolute path'"#.into()))
        .field_path(".mountPath"),
)]
pub struct FileMountSpec {
    /// A file or directory relative to the artifacts directory, e.g. genesis.json or testnet.
    /// `jwtsecret` is served from the playground's generated Secret.
    #[schemars(length(max = 256))]
    pub artifact: String,
    /// Absolute path in the container.
    #[schemars(length(max = 256))]
    pub mount_path: String,
}

/// Scheduling constraints of the playground's Pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Labels a node must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the Pod tolerates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Node and Pod affinity rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
}

/// Exposure of the declared ports through a Service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ExposeSpec {
    /// The Service type: ClusterIP (default), NodePort or LoadBalancer.
    #[serde(default, rename = "type")]
    pub service_type: ServiceType,
}

/// A Prometheus duration as the Prometheus Operator takes it (`30s`, `1m`, `1h30m`).
const PROMETHEUS_DURATION: &str =
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$";

/// Scraping of the devnet's metrics through a PodMonitor of the Prometheus Operator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Keep the PodMonitor (default true). false removes it and keeps these settings.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Labels of the PodMonitor, e.g. the ones your Prometheus' podMonitorSelector matches
    /// (`release: kube-prometheus-stack`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// How often each metrics port is scraped, a Prometheus duration such as 30s or 1m.
    /// Default: the Prometheus' own scrape interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PROMETHEUS_DURATION), length(max = 32))]
    pub interval: Option<String>,
}

impl Default for MonitoringSpec {
    fn default() -> Self {
        MonitoringSpec { enabled: true, labels: BTreeMap::new(), interval: None }
    }
}

fn default_true() -> bool {
    true
}

/// Type of the Service that exposes the playground.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    /// Reachable inside the cluster.
    #[default]
    ClusterIP,
    /// Also on a port of every node.
    NodePort,
    /// Also through the cloud's load balancer.
    LoadBalancer,
}

/// Observed state, written only by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuilderPlaygroundStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pending, Generating, Deploying, Running, Degraded, Failed or Suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Ready services out of all, e.g. 3/6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,
    /// Ready, Generated and Deployed, following the Kubernetes API conventions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The generator Job of the current spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_job: Option<String>,
    /// The ConfigMap that holds the rendered PodSpec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_spec_config_map: Option<String>,
    /// The playground's Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// Per service (keyed by name, in name order): readiness, state, restarts and allocated
    /// ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub service_statuses: Vec<ServiceStatus>,
    /// Where each declared port of each service is reached: in the cluster, through the
    /// playground's Service, and inside the Pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["service", "port"]))]
    pub endpoints: Vec<Endpoint>,
    /// The execution layer's JSON-RPC (the `http` port of the service `el`) inside the
    /// cluster, through the playground's Service. `kubectl get bp -o wide` shows it.
    #[serde(default, rename = "rpcURL", skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// When the operator deletes the playground (RFC 3339): its creationTimestamp plus
    /// spec.lifetime. Unset without a lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// Lifecycle phase of a playground.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Accepted, nothing started yet.
    Pending,
    /// The generator Job is rendering the PodSpec.
    Generating,
    /// The Pod is being created or its containers are starting.
    Deploying,
    /// Every service is ready.
    Running,
    /// The Pod runs but some service is not ready after having started.
    Degraded,
    /// The spec is invalid or generation failed; waits for a spec change.
    Failed,
    /// spec.suspend is true: the Pod is deleted, storage, artifacts and JWT are kept.
    Suspended,
}

impl Phase {
    /// Every phase, for metrics that report one series per phase.
    pub const ALL: [Phase; 7] = [
        Phase::Pending,
        Phase::Generating,
        Phase::Deploying,
        Phase::Running,
        Phase::Degraded,
        Phase::Failed,
        Phase::Suspended,
    ];

    /// The name used in the API and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Generating => "Generating",
            Phase::Deploying => "Deploying",
            Phase::Running => "Running",
            Phase::Degraded => "Degraded",
            Phase::Failed => "Failed",
            Phase::Suspended => "Suspended",
        }
    }
}

/// A status condition (Kubernetes API conventions).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Ready, Generated or Deployed.
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False or Unknown.
    pub status: String,
    /// A CamelCase reason.
    pub reason: String,
    /// A human readable message.
    #[serde(default)]
    pub message: String,
    /// The generation the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When status last changed (RFC 3339).
    pub last_transition_time: String,
}

/// Observed state of one service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The service's name, as in spec.services.
    pub name: String,
    /// The container's readiness probe passes (or it runs and has none).
    pub ready: bool,
    /// Waiting, Running or Terminated, as the container reports.
    #[serde(default)]
    pub state: String,
    /// How often the container restarted.
    #[serde(default)]
    pub restarts: i32,
    /// The container that runs the service.
    #[serde(default)]
    pub container: String,
    /// The service's ports (keyed by name, in allocation order) with the numbers allocated in
    /// the Pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub ports: Vec<PortStatus>,
    /// Why the service is not ready, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A port of a service and the number it got in the Pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortStatus {
    /// The port's name, as the service declares it (or as its templates name it).
    pub name: String,
    /// The number allocated in the Pod: the requested one unless another service of the Pod
    /// already held it.
    pub port: i32,
    /// The name of its container port (the tcp one, for a port that is both tcp and udp),
    /// unique in the Pod: `<container>-<port>`, shortened with a hash past 15 characters. The
    /// playground's Service names its port so too.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_port_name: String,
}

/// Where a declared port of a service is reached.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The service, as in spec.services.
    pub service: String,
    /// The port's name, as the service declares it.
    pub port: String,
    /// The address in the cluster, through the playground's Service:
    /// `<scheme>://<playground>.<namespace>.svc:<port>` (`<host>:<port>` for ports that are
    /// not known to speak HTTP or WebSocket). Unset while the Service is not in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_cluster: Option<String>,
    /// The address inside the Pod, from any of its containers: `<scheme>://localhost:<port>`
    /// (`localhost:<port>` without a known scheme).
    pub in_pod: String,
}

/// Conditions are a list keyed by `type`, so server-side apply merges them per type.
fn conditions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let condition = |desc: &str| serde_json::json!({"type": "string", "description": desc});
    let schema = serde_json::json!({
        "type": "array",
        "description": "Ready, Generated and Deployed, following the Kubernetes API conventions.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["type", "status", "reason", "lastTransitionTime"],
            "properties": {
                "type": condition("Ready, Generated or Deployed."),
                "status": {"type": "string", "enum": ["True", "False", "Unknown"], "description": "True, False or Unknown."},
                "reason": condition("A CamelCase reason."),
                "message": condition("A human readable message."),
                "observedGeneration": {"type": "integer", "format": "int64", "description": "The generation the condition was computed from."},
                "lastTransitionTime": {"type": "string", "format": "date-time", "description": "When status last changed."}
            }
        }
    });
    // The value above is a literal JSON object, which is always a valid schema.
    schemars::Schema::try_from(schema).unwrap_or_default()
}

impl BuilderPlaygroundStatus {
    /// The status of the service `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceStatus> {
        self.service_statuses.iter().find(|s| s.name == name)
    }
}

impl ServiceStatus {
    /// The number allocated to the port `name`.
    pub fn port(&self, name: &str) -> Option<i32> {
        self.ports.iter().find(|p| p.name == name).map(|p| p.port)
    }
}

impl BuilderPlayground {
    /// The storage type in effect (local-path when unset, as in PR #120).
    pub fn storage_type(&self) -> StorageType {
        self.spec.storage.as_ref().and_then(|s| s.storage_type).unwrap_or_default()
    }
}

impl BuilderPlaygroundSpec {
    /// What the generator Job runs builder-playground with, if anything: `generate` as
    /// written, or, for a spec that names a recipe and lists no services, the defaults.
    pub fn generation(&self) -> Option<GenerateSpec> {
        match (&self.generate, self.services.is_empty(), self.recipe.as_deref().map(str::trim)) {
            (Some(generate), _, _) => Some(generate.clone()),
            (None, true, Some(recipe)) if !recipe.is_empty() => Some(GenerateSpec::default()),
            _ => None,
        }
    }

    /// builder-playground's arguments for `generate` (before `--dry-run --output`): as
    /// written, or `start <recipe>`.
    pub fn generate_args(&self, generate: &GenerateSpec) -> Vec<String> {
        if generate.args.is_empty() {
            vec!["start".into(), self.recipe.clone().unwrap_or_default().trim().to_owned()]
        } else {
            generate.args.clone()
        }
    }
}

impl ServiceSpec {
    /// The image reference the container runs: `image:tag`, or `image` without a tag.
    pub fn image_ref(&self) -> String {
        match self.tag.as_deref() {
            Some(tag) if !tag.is_empty() => format!("{}:{}", self.image, tag),
            _ => self.image.clone(),
        }
    }
}
