//! A container's environment as the kubelet computes it: `envFrom`, then `env` (values,
//! `fieldRef`, `resourceFieldRef`, `secretKeyRef`, `configMapKeyRef`), with Kubernetes'
//! `$(VAR)` expansion and `$$` escaping.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use kube::{Api, Client};

use super::NodeCapacity;

/// Kubernetes' `$(VAR)` expansion (a port of `third_party/forked/golang/expansion`):
/// `$(NAME)` becomes the value of NAME when `lookup` knows it and stays as-is otherwise;
/// `$$` is an escaped `$`; any other `$` is kept.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.extend_from_slice(&b[checkpoint..cursor]);
            let rest = &b[cursor + 1..];
            let advance = match rest[0] {
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match rest.iter().skip(1).position(|&c| c == b')') {
                    Some(rel) => {
                        let name = String::from_utf8_lossy(&rest[1..rel + 1]).into_owned();
                        match lookup(&name) {
                            Some(v) => out.extend_from_slice(v.as_bytes()),
                            None => out.extend_from_slice(format!("$({name})").as_bytes()),
                        }
                        rel + 2
                    }
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                other => {
                    out.push(b'$');
                    out.push(other);
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < b.len() {
        out.extend_from_slice(&b[checkpoint..]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An ordered environment where a later definition replaces an earlier one in place.
#[derive(Default, Clone, Debug)]
pub struct EnvList {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl EnvList {
    pub fn set(&mut self, name: &str, value: String) {
        match self.index.get(name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.to_string(), self.vars.len());
                self.vars.push((name.to_string(), value));
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.index.get(name).map(|&i| self.vars[i].1.clone())
    }

    pub fn into_vec(self) -> Vec<(String, String)> {
        self.vars
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }
}

/// Facts about the running Pod that `fieldRef` can read.
pub struct PodFacts<'a> {
    pub pod: &'a Pod,
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
    pub node_name: &'a str,
    pub capacity: &'a NodeCapacity,
}

/// Why an environment could not be built; the kubelet reports it as the container's waiting
/// reason `CreateContainerConfigError`.
#[derive(Debug)]
pub struct ConfigError(pub String);

/// Reads Secrets and ConfigMaps once per resolution.
struct Sources<'a> {
    client: &'a Client,
    ns: &'a str,
    secrets: HashMap<String, Option<Data>>,
    config_maps: HashMap<String, Option<Data>>,
}

/// The keys of a Secret or ConfigMap with their values as bytes.
type Data = BTreeMap<String, Vec<u8>>;

impl Sources<'_> {
    async fn secret(&mut self, name: &str) -> Result<Option<&Data>, ConfigError> {
        fetch(&mut self.secrets, self.client, self.ns, name, "secret", |s: Secret| {
            let mut m: Data = s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
            m.extend(s.string_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())));
            m
        })
        .await
    }

    async fn config_map(&mut self, name: &str) -> Result<Option<&Data>, ConfigError> {
        fetch(&mut self.config_maps, self.client, self.ns, name, "configmap", |c: ConfigMap| {
            let mut m: Data = c.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
            m.extend(c.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())));
            m
        })
        .await
    }
}

/// Reads `name` once (a missing object is remembered as `None`) and returns its data.
async fn fetch<'c, K>(
    cache: &'c mut HashMap<String, Option<Data>>,
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    data: impl FnOnce(K) -> Data,
) -> Result<Option<&'c Data>, ConfigError>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    if !cache.contains_key(name) {
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        let got = api.get_opt(name).await.map_err(|e| ConfigError(format!("reading {what} {name:?}: {e}")))?;
        cache.insert(name.to_string(), got.map(data));
    }
    Ok(cache.get(name).and_then(|o| o.as_ref()))
}

/// A valid environment variable name as the kubelet accepts it from `envFrom`.
fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Builds the environment of container `c` of `facts.pod`.
pub async fn resolve(client: &Client, facts: &PodFacts<'_>, c: &Container) -> Result<EnvList, ConfigError> {
    let ns = facts.pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut src = Sources { client, ns, secrets: HashMap::new(), config_maps: HashMap::new() };
    let mut env = EnvList::default();

    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            let optional = r.optional.unwrap_or(false);
            match src.config_map(&r.name).await? {
                Some(data) => {
                    for (k, v) in data {
                        let name = format!("{prefix}{k}");
                        if valid_env_name(&name) {
                            env.set(&name, String::from_utf8_lossy(v).into_owned());
                        }
                    }
                }
                None if optional => {}
                None => return Err(ConfigError(format!("configmap {:?} not found", r.name))),
            }
        }
        if let Some(r) = &from.secret_ref {
            let optional = r.optional.unwrap_or(false);
            match src.secret(&r.name).await? {
                Some(data) => {
                    for (k, v) in data {
                        let name = format!("{prefix}{k}");
                        if valid_env_name(&name) {
                            env.set(&name, String::from_utf8_lossy(v).into_owned());
                        }
                    }
                }
                None if optional => {}
                None => return Err(ConfigError(format!("secret {:?} not found", r.name))),
            }
        }
    }

    for var in c.env.iter().flatten() {
        let value = match &var.value_from {
            None => {
                let raw = var.value.clone().unwrap_or_default();
                let snapshot = env.clone();
                expand(&raw, &|n| snapshot.get(n))
            }
            Some(from) => {
                if let Some(f) = &from.field_ref {
                    field_value(facts, &f.field_path)
                        .ok_or_else(|| ConfigError(format!("unsupported fieldRef {:?}", f.field_path)))?
                } else if let Some(r) = &from.resource_field_ref {
                    resource_value(facts, c, r)?
                } else if let Some(r) = &from.secret_key_ref {
                    let optional = r.optional.unwrap_or(false);
                    match src.secret(&r.name).await? {
                        Some(data) => match data.get(&r.key) {
                            Some(v) => String::from_utf8_lossy(v).into_owned(),
                            None if optional => continue,
                            None => {
                                return Err(ConfigError(format!(
                                    "couldn't find key {} in Secret {ns}/{}",
                                    r.key, r.name
                                )));
                            }
                        },
                        None if optional => continue,
                        None => return Err(ConfigError(format!("secret {:?} not found", r.name))),
                    }
                } else if let Some(r) = &from.config_map_key_ref {
                    let optional = r.optional.unwrap_or(false);
                    match src.config_map(&r.name).await? {
                        Some(data) => match data.get(&r.key) {
                            Some(v) => String::from_utf8_lossy(v).into_owned(),
                            None if optional => continue,
                            None => {
                                return Err(ConfigError(format!(
                                    "couldn't find key {} in ConfigMap {ns}/{}",
                                    r.key, r.name
                                )));
                            }
                        },
                        None if optional => continue,
                        None => {
                            return Err(ConfigError(format!("configmap {:?} not found", r.name)));
                        }
                    }
                } else {
                    return Err(ConfigError(format!("env {:?}: unsupported valueFrom source", var.name)));
                }
            }
        };
        env.set(&var.name, value);
    }
    Ok(env)
}

/// The value of a downward-API field path.
pub fn field_value(facts: &PodFacts<'_>, path: &str) -> Option<String> {
    let md = &facts.pod.metadata;
    let spec = facts.pod.spec.as_ref();
    let keyed = |prefix: &str, map: Option<&BTreeMap<String, String>>| -> Option<String> {
        let key = path.strip_prefix(prefix)?.strip_prefix("['")?.strip_suffix("']")?;
        Some(map.and_then(|m| m.get(key)).cloned().unwrap_or_default())
    };
    Some(match path {
        "metadata.name" => md.name.clone().unwrap_or_default(),
        "metadata.namespace" => md.namespace.clone().unwrap_or_default(),
        "metadata.uid" => md.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_else(|| facts.node_name.to_string()),
        "spec.serviceAccountName" => {
            spec.and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into())
        }
        "status.podIP" | "status.podIPs" => facts.pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.to_string(),
        p if p.starts_with("metadata.labels") => keyed("metadata.labels", md.labels.as_ref())?,
        p if p.starts_with("metadata.annotations") => keyed("metadata.annotations", md.annotations.as_ref())?,
        _ => return None,
    })
}

/// Parses a Kubernetes quantity ("500m", "2Gi", "1e3") into base units.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some(n * mult)
}

/// `resourceFieldRef`: the container's limit/request, limits defaulting to node capacity
/// (as the kubelet does), divided by the divisor and rounded up.
fn resource_value(
    facts: &PodFacts<'_>,
    own: &Container,
    r: &k8s_openapi::api::core::v1::ResourceFieldSelector,
) -> Result<String, ConfigError> {
    let c = match &r.container_name {
        Some(name) if !name.is_empty() => facts
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().chain(s.init_containers.iter().flatten()).find(|c| &c.name == name))
            .unwrap_or(own),
        _ => own,
    };
    let res = c.resources.as_ref();
    let (kind, name) = r
        .resource
        .split_once('.')
        .ok_or_else(|| ConfigError(format!("unsupported resourceFieldRef {:?}", r.resource)))?;
    let from = |m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
        m.and_then(|m| m.get(name)).map(|q| q.0.clone())
    };
    let capacity = match name {
        "cpu" => Some(facts.capacity.cpu.clone()),
        "memory" => Some(facts.capacity.memory.clone()),
        "ephemeral-storage" => Some("100Gi".to_string()),
        _ => None,
    };
    let raw = match kind {
        "limits" => from(res.and_then(|r| r.limits.as_ref())).or(capacity),
        "requests" => from(res.and_then(|r| r.requests.as_ref())).or(Some("0".into())),
        _ => None,
    }
    .ok_or_else(|| ConfigError(format!("unsupported resourceFieldRef {:?}", r.resource)))?;
    let value = parse_quantity(&raw).ok_or_else(|| ConfigError(format!("bad quantity {raw:?} for {}", r.resource)))?;
    let divisor = r.divisor.as_ref().and_then(|d| parse_quantity(&d.0)).filter(|d| *d > 0.0).unwrap_or(1.0);
    Ok(format!("{}", (value / divisor).ceil() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(n: &str) -> Option<String> {
        match n {
            "A" => Some("x".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_matches_kubernetes() {
        let cases = [
            ("$(A)", "x"),
            ("pre-$(A)-post", "pre-x-post"),
            ("$(MISSING)", "$(MISSING)"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$x"),
            ("$$", "$"),
            ("$(A", "$(A"),
            ("$A", "$A"),
            ("$", "$"),
            ("a$(EMPTY)b", "ab"),
            ("$()", "$()"),
            ("ünï$(A)cödé", "ünïxcödé"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &look), want, "input {input:?}");
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2Gi"), Some(2.0 * 1024f64.powi(3)));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("3"), Some(3.0));
        assert_eq!(parse_quantity("x"), None);
    }

    #[test]
    fn env_list_replaces_in_place() {
        let mut e = EnvList::default();
        e.set("A", "1".into());
        e.set("B", "2".into());
        e.set("A", "3".into());
        assert_eq!(e.into_vec(), vec![("A".into(), "3".into()), ("B".into(), "2".into())]);
    }
}
