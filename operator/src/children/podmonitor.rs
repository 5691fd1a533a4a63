//! The playground's PodMonitor (`monitoring.coreos.com/v1`, the Prometheus Operator's kind),
//! for `spec.monitoring`: one endpoint per service with a port named `metrics` (as
//! builder-playground names its clients' metrics ports), selected by the name that port has in
//! the rendered Pod, on the service's `metrics_path` label (builder-playground's) or /metrics.
//! The kind may be missing from the cluster, so the object is untyped (a `DynamicObject`).

use bp_generator::api::MonitoringSpec;
use bp_generator::{BuilderPlayground, Rendered, podspec};
use k8s_openapi::api::core::v1::Container;
use kube::ResourceExt;
use kube::api::{DynamicObject, GroupVersionKind};
use kube::core::ApiResource;
use serde_json::json;

use super::child_meta;

pub const GROUP: &str = "monitoring.coreos.com";
pub const VERSION: &str = "v1";
pub const KIND: &str = "PodMonitor";
pub const PLURAL: &str = "podmonitors";
/// The port name builder-playground gives its clients' metrics listeners.
pub const METRICS_PORT: &str = "metrics";
/// builder-playground's label with a service's scrape path.
pub const METRICS_PATH_LABEL: &str = "metrics_path";
pub const DEFAULT_METRICS_PATH: &str = "/metrics";
/// Target labels every scraped series gets: the playground's name and the service's.
pub const PLAYGROUND_TARGET_LABEL: &str = "playground";
pub const SERVICE_TARGET_LABEL: &str = "playground_service";

/// The group, version, kind.
pub fn gvk() -> GroupVersionKind {
    GroupVersionKind::gvk(GROUP, VERSION, KIND)
}

/// The resource, for an untyped API.
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&gvk(), PLURAL)
}

/// A metrics port of the Pod to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The builder-playground service.
    pub service: String,
    pub container: String,
    /// The container port's name in the rendered Pod.
    pub port: String,
    pub path: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (port {}, {})", self.service, self.port, self.path)
    }
}

/// Every service's metrics port (a tcp port named `metrics`, not a hidden listener, run in the
/// Pod), by the name its container gives it, in the Pod's service order.
pub fn endpoints(rendered: &Rendered) -> Vec<Endpoint> {
    let spec = &rendered.pod_spec;
    let containers: Vec<&Container> = spec.init_containers.iter().flatten().chain(&spec.containers).collect();
    let mut out = Vec::new();
    for service in &rendered.ports.services {
        let Some(container) = rendered.containers.get(&service.service) else { continue };
        let Some(c) = containers.iter().find(|c| &c.name == container) else { continue };
        for port in service.ports.iter().filter(|p| p.name == METRICS_PORT && !p.hidden) {
            let named =
                c.ports.iter().flatten().find(|p| {
                    p.container_port == port.number && p.protocol.as_deref().is_none_or(|proto| proto == "TCP")
                });
            let Some(name) = named.and_then(|p| p.name.clone()) else { continue };
            let path = rendered
                .service_labels(container)
                .get(METRICS_PATH_LABEL)
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .map_or_else(|| DEFAULT_METRICS_PATH.to_owned(), |p| format!("/{}", p.trim_start_matches('/')));
            out.push(Endpoint { service: service.service.clone(), container: container.clone(), port: name, path });
        }
    }
    out
}

/// The PodMonitor for `endpoints`: it selects the playground's Pod by the Pod's own labels,
/// each endpoint by its port's name, kept to its container (port names may repeat across the
/// Pod's containers), and gives every series `playground` and `playground_service` labels.
pub fn build(
    pg: &BuilderPlayground,
    rendered: &Rendered,
    spec: &MonitoringSpec,
    endpoints: &[Endpoint],
) -> DynamicObject {
    let name = pg.name_any();
    let meta = child_meta(pg, name.clone());
    let pod_labels = podspec::pod(pg, rendered).metadata.labels.unwrap_or_default();
    let mut labels = meta.labels.clone().unwrap_or_default();
    labels.extend(spec.labels.clone());
    let endpoints: Vec<serde_json::Value> = endpoints
        .iter()
        .map(|e| {
            let mut endpoint = json!({
                "port": e.port,
                "path": e.path,
                "relabelings": [
                    {"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_container_name"], "regex": e.container},
                    {"action": "replace", "targetLabel": PLAYGROUND_TARGET_LABEL, "replacement": name},
                    {"action": "replace", "targetLabel": SERVICE_TARGET_LABEL, "replacement": e.service},
                ],
            });
            if let Some(interval) = &spec.interval {
                endpoint["interval"] = json!(interval);
            }
            endpoint
        })
        .collect();
    let mut object = DynamicObject::new(&name, &api_resource());
    object.metadata = meta;
    object.metadata.labels = Some(labels);
    object.data = json!({
        "spec": {
            "selector": {"matchLabels": pod_labels},
            "podMetricsEndpoints": endpoints,
        }
    });
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::fixture::playground;
    use bp_generator::{RenderOptions, render};
    use std::collections::BTreeMap;

    /// The fixture plus builder-playground's two kinds of metrics ports: reth's on /metrics and
    /// op-geth's under its `metrics_path` label, both named `metrics`.
    fn monitored() -> BuilderPlayground {
        let mut pg = playground();
        let el = &mut pg.spec.services[0];
        el.args.extend(["--metrics".into(), "0.0.0.0:{{Port \"metrics\" 9090}}".into()]);
        let mut geth = el.clone();
        geth.name = "op-geth".into();
        geth.files.clear();
        geth.args = vec!["--metrics.port".into(), "{{Port \"metrics\" 9090}}".into()];
        geth.ports = vec![serde_json::from_value(json!({"name": "metrics", "port": 9090})).unwrap()];
        geth.labels = BTreeMap::from([(METRICS_PATH_LABEL.to_owned(), "/debug/metrics/prometheus".to_owned())]);
        pg.spec.services.push(geth);
        pg
    }

    #[test]
    fn every_metrics_port_by_its_container_ports_name_and_path() {
        let pg = monitored();
        let rendered = render(&pg, &RenderOptions::default()).unwrap();
        let found = endpoints(&rendered);
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["el (port el-metrics, /metrics)", "op-geth (port op-geth-metrics, /debug/metrics/prometheus)"]
        );
        // The names are the rendered Pod's: renamed there, they are renamed here.
        let mut renamed = rendered.clone();
        for c in &mut renamed.pod_spec.containers {
            for p in c.ports.iter_mut().flatten() {
                p.name = Some(format!("m-{}", p.name.clone().unwrap()).chars().take(15).collect());
            }
        }
        let ports: Vec<String> = endpoints(&renamed).into_iter().map(|e| e.port).collect();
        assert_eq!(ports, ["m-el-metrics", "m-op-geth-metri"]);
        // A udp port named metrics, or none, is nothing to scrape.
        let mut udp_only = rendered.clone();
        for c in &mut udp_only.pod_spec.containers {
            for p in c.ports.iter_mut().flatten() {
                p.protocol = Some("UDP".into());
            }
        }
        assert_eq!(endpoints(&udp_only), []);
        let plain = render(&playground(), &RenderOptions::default()).unwrap();
        assert_eq!(endpoints(&plain), [], "the fixture has no metrics port");
    }

    #[test]
    fn a_path_without_its_slash_gets_one_and_a_blank_one_is_the_default() {
        let mut pg = monitored();
        pg.spec.services[2].labels.insert(METRICS_PATH_LABEL.into(), "debug/metrics".into());
        pg.spec.services[0].labels.insert(METRICS_PATH_LABEL.into(), "  ".into());
        let rendered = render(&pg, &RenderOptions::default()).unwrap();
        let paths: Vec<String> = endpoints(&rendered).into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/metrics", "/debug/metrics"]);
    }

    #[test]
    fn selects_the_pod_and_each_port_of_its_own_container() {
        let pg = monitored();
        let rendered = render(&pg, &RenderOptions::default()).unwrap();
        let spec = MonitoringSpec {
            labels: BTreeMap::from([("release".to_owned(), "prom".to_owned())]),
            interval: Some("15s".into()),
            ..Default::default()
        };
        let pm = build(&pg, &rendered, &spec, &endpoints(&rendered));
        let value = serde_json::to_value(&pm).unwrap();
        assert_eq!(value["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(value["kind"], "PodMonitor");
        assert_eq!(
            (value["metadata"]["name"].as_str(), value["metadata"]["namespace"].as_str()),
            (Some("l1"), Some("dev"))
        );
        assert_eq!(value["metadata"]["labels"]["release"], "prom");
        assert_eq!(value["metadata"]["labels"]["app.kubernetes.io/instance"], "l1");
        assert_eq!(value["metadata"]["ownerReferences"][0]["uid"], "0b1c");
        let pod = crate::children::pod::build(&pg, &rendered, "h");
        assert_eq!(
            value["spec"]["selector"]["matchLabels"],
            serde_json::to_value(pod.metadata.labels.unwrap()).unwrap(),
            "selects the Pod by its own labels"
        );
        let eps = value["spec"]["podMetricsEndpoints"].as_array().unwrap();
        assert_eq!(eps.len(), 2);
        assert_eq!(
            (eps[1]["port"].as_str(), eps[1]["path"].as_str()),
            (Some("op-geth-metrics"), Some("/debug/metrics/prometheus"))
        );
        assert_eq!(eps[1]["interval"], "15s");
        assert_eq!(
            eps[1]["relabelings"],
            json!([
                {"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_container_name"], "regex": "op-geth"},
                {"action": "replace", "targetLabel": "playground", "replacement": "l1"},
                {"action": "replace", "targetLabel": "playground_service", "replacement": "op-geth"},
            ])
        );
        let without = build(&pg, &rendered, &MonitoringSpec::default(), &endpoints(&rendered));
        let value = serde_json::to_value(&without).unwrap();
        assert!(value["spec"]["podMetricsEndpoints"][0].get("interval").is_none(), "the Prometheus' own interval");
    }
}
