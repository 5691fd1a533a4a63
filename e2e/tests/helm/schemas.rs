//! Strict JSON schemas for kubeconform, made offline: Kubernetes' own kinds from the API
//! server's OpenAPI v2 document (the exact version the chart is installed on), our
//! BuilderPlayground from the CRD's openAPIV3Schema, and prometheus-operator's ServiceMonitor
//! from a schema of the fields the chart uses (its CRD is not available offline).
//!
//! "Strict" as in kubernetes-json-schema's `-strict` variants: an object that lists its
//! properties admits no others, so a misspelt or misplaced field fails.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// kubeconform's `-schema-location` under `dir`: one file per group, kind and version (the
/// core group's apiVersion `v1` is its own `.Group`).
pub fn location(dir: &Path) -> String {
    format!("{}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json", dir.display())
}

/// The file `location` resolves to for `apiVersion` and `kind`.
pub fn path(dir: &Path, api_version: &str, kind: &str) -> PathBuf {
    let group = api_version.split('/').next().unwrap_or(api_version);
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    dir.join(group).join(format!("{}_{version}.json", kind.to_lowercase()))
}

pub fn write(dir: &Path, api_version: &str, kind: &str, schema: &Value) {
    let p = path(dir, api_version, kind);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, serde_json::to_vec(schema).unwrap()).unwrap();
}

/// Kubernetes' definitions, by group-version-kind.
pub struct OpenApi {
    definitions: Map<String, Value>,
    by_gvk: HashMap<(String, String, String), String>,
}

impl OpenApi {
    pub fn from_v2(doc: &Value) -> OpenApi {
        let definitions = doc["definitions"].as_object().cloned().expect("OpenAPI v2 document without definitions");
        let mut by_gvk = HashMap::new();
        for (name, def) in &definitions {
            for gvk in def["x-kubernetes-group-version-kind"].as_array().into_iter().flatten() {
                let s = |k: &str| gvk[k].as_str().unwrap_or_default().to_owned();
                by_gvk.insert((s("group"), s("version"), s("kind")), name.clone());
            }
        }
        OpenApi { definitions, by_gvk }
    }

    /// A standalone strict schema for `apiVersion`/`kind`: a reference to its definition plus
    /// every definition it reaches.
    pub fn schema(&self, api_version: &str, kind: &str) -> Option<Value> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let root = self.by_gvk.get(&(group.to_owned(), version.to_owned(), kind.to_owned()))?;
        let mut wanted = BTreeSet::from([root.clone()]);
        let mut queue = VecDeque::from([root.clone()]);
        while let Some(name) = queue.pop_front() {
            let mut refs = Vec::new();
            collect_refs(&self.definitions[&name], &mut refs);
            for r in refs {
                if self.definitions.contains_key(&r) && wanted.insert(r.clone()) {
                    queue.push_back(r);
                }
            }
        }
        let mut defs = Map::new();
        for name in wanted {
            let mut def = self.definitions[&name].clone();
            if name == "io.k8s.apimachinery.pkg.api.resource.Quantity" {
                // "1", 1 and 0.5 are all quantities.
                def = json!({"oneOf": [{"type": "string"}, {"type": "number"}]});
            }
            strict(&mut def);
            defs.insert(name, def);
        }
        Some(json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "$ref": format!("#/definitions/{root}"),
            "definitions": defs,
        }))
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/definitions/")) {
                out.push(r.to_owned());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Makes a schema strict in place: objects with listed properties admit no others (unless
/// they preserve unknown fields), `nullable` becomes a null type, int-or-string a oneOf.
pub fn strict(schema: &mut Value) {
    let Value::Object(m) = schema else { return };
    let preserve = m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve {
        m.insert("additionalProperties".into(), Value::Bool(false));
    }
    let int_or_string = m.get("format").and_then(Value::as_str) == Some("int-or-string")
        || m.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if int_or_string {
        m.remove("type");
        m.remove("format");
        m.insert("oneOf".into(), json!([{"type": "string"}, {"type": "integer"}]));
    }
    if m.remove("nullable") == Some(Value::Bool(true)) {
        if let Some(Value::String(t)) = m.get("type").cloned() {
            m.insert("type".into(), json!([t, "null"]));
        } else if let Some(Value::Array(options)) = m.get_mut("oneOf") {
            options.push(json!({"type": "null"}));
        }
    }
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        props.values_mut().for_each(strict);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(v) = m.get_mut(key) {
            strict(v);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(a)) = m.get_mut(key) {
            a.iter_mut().for_each(strict);
        }
    }
}

/// The strict schema of one version of a CRD's kind, with the fields every object has.
pub fn from_crd(crd: &Value, version: &str) -> Value {
    let group = crd["spec"]["group"].as_str().expect("CRD without spec.group");
    let kind = crd["spec"]["names"]["kind"].as_str().expect("CRD without spec.names.kind");
    let v = crd["spec"]["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == version))
        .unwrap_or_else(|| panic!("CRD {group} has no version {version}"));
    let mut schema = v["schema"]["openAPIV3Schema"].clone();
    let props = schema["properties"].as_object_mut().expect("openAPIV3Schema without properties");
    props.insert("apiVersion".into(), json!({"type": "string", "enum": [format!("{group}/{version}")]}));
    props.insert("kind".into(), json!({"type": "string", "enum": [kind]}));
    props.entry("metadata").or_insert(json!({"type": "object"}));
    strict(&mut schema);
    schema["$schema"] = json!("http://json-schema.org/draft-04/schema#");
    schema
}

/// prometheus-operator's ServiceMonitor, reduced to the fields this chart renders (written
/// here from the monitoring.coreos.com/v1 API reference: the upstream CRD is not available
/// offline). Strict like the others, so a field the chart adds by mistake fails.
pub fn service_monitor() -> Value {
    let labels = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let duration = json!({"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"});
    let mut schema = json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"enum": ["monitoring.coreos.com/v1"]},
            "kind": {"enum": ["ServiceMonitor"]},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "namespace": {"type": "string"},
                    "labels": labels,
                    "annotations": labels,
                },
            },
            "spec": {
                "type": "object",
                "required": ["selector"],
                "properties": {
                    "jobLabel": {"type": "string"},
                    "namespaceSelector": {
                        "type": "object",
                        "properties": {
                            "any": {"type": "boolean"},
                            "matchNames": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "selector": {
                        "type": "object",
                        "properties": {
                            "matchLabels": labels,
                            "matchExpressions": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                    "endpoints": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "port": {"type": "string"},
                                "targetPort": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                                "path": {"type": "string"},
                                "scheme": {"enum": ["http", "https"]},
                                "interval": duration,
                                "scrapeTimeout": duration,
                                "honorLabels": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
    });
    strict(&mut schema);
    schema
}
