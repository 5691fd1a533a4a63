//! Helpers shared by the generator's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use bp_generator::manifest::{self, ConvertOptions};
use bp_generator::{BuilderPlayground, RenderOptions, Rendered};
use k8s_openapi::api::core::v1::Container;

pub const L1_HEAD: &str = "DERIVED-manifest-l1-head-c473a6a.json";
pub const OPSTACK_HEAD: &str = "DERIVED-manifest-opstack-head-c473a6a.json";
pub const L1_2025: &str = "manifest-l1-2025-05.nm-sam-01-raw.json";
pub const OPSTACK_2025: &str = "manifest-opstack-extbuilder-2025-07.cbarbieru.json";
pub const ALL_MANIFESTS: [&str; 4] = [L1_HEAD, OPSTACK_HEAD, L1_2025, OPSTACK_2025];

/// `../shared` beside the checkout (CI has it there too), or `BP_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("BP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

pub fn fixture_path(name: &str) -> PathBuf {
    shared_dir().join("fixtures").join(name)
}

pub fn fixture(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

pub fn convert_json(json: &str) -> BuilderPlayground {
    let m = manifest::parse(json).expect("manifest parses");
    manifest::convert(&m, &ConvertOptions::default()).expect("manifest converts").playground
}

pub fn render_json(json: &str) -> Rendered {
    bp_generator::render(&convert_json(json), &RenderOptions::default()).unwrap_or_else(|e| panic!("render: {e}"))
}

pub fn render_fixture(name: &str) -> Rendered {
    render_json(&fixture(name))
}

/// Every container of the Pod, init containers first, in Pod order.
pub fn all_containers(r: &Rendered) -> Vec<&Container> {
    r.pod_spec.init_containers.iter().flatten().chain(r.pod_spec.containers.iter()).collect()
}

pub fn container<'a>(r: &'a Rendered, name: &str) -> &'a Container {
    all_containers(r).into_iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no container {name}"))
}

pub fn args(c: &Container) -> &[String] {
    c.args.as_deref().unwrap_or_default()
}

/// The value following `flag` in the container's args.
pub fn arg_after<'a>(c: &'a Container, flag: &str) -> &'a str {
    let a = args(c);
    let i = a.iter().position(|x| x == flag).unwrap_or_else(|| panic!("{}: no {flag} in {a:?}", c.name));
    &a[i + 1]
}

/// All values following `flag` (a flag may appear several times).
pub fn args_after<'a>(c: &'a Container, flag: &str) -> Vec<&'a str> {
    let a = args(c);
    a.windows(2).filter(|w| w[0] == flag).map(|w| w[1].as_str()).collect()
}

pub fn env<'a>(c: &'a Container, name: &str) -> &'a str {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
        .unwrap_or_else(|| panic!("{}: no env {name}", c.name))
}

pub fn port(r: &Rendered, service: &str, name: &str) -> i32 {
    r.ports.get(service, name).unwrap_or_else(|| panic!("no port {service}/{name}")).number
}

/// Parses a BuilderPlayground from YAML.
pub fn playground(yaml: &str) -> BuilderPlayground {
    serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("yaml: {e}"))
}

/// A BuilderPlayground named `name` whose spec is `spec`: YAML indented as under `spec:`.
pub fn playground_spec(name: &str, spec: &str) -> BuilderPlayground {
    playground(&format!(
        "apiVersion: playground.flashbots.io/v1alpha1\nkind: BuilderPlayground\nmetadata: {{name: {name}}}\nspec:\n{spec}"
    ))
}

/// `value` as JSON, as the API server receives it.
pub fn json_of<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("serializes")
}
