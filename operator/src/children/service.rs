//! A Service for the declared ports of every service of the playground.

use bp_generator::api::{Protocol, ServiceType};
use bp_generator::{BuilderPlayground, Rendered, standard_labels};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::child_meta;

/// The Service, or `None` when no service declares a port. Each port (hidden listeners
/// excluded) has the number and the name of its container port: `<container>-<port>`, with
/// `-udp` for the udp twin, shortened with a hash past 15 characters (the Pod's names are
/// unique, so the Service's are).
pub fn build(pg: &BuilderPlayground, rendered: &Rendered) -> Option<Service> {
    let names = rendered.ports.container_port_names();
    let mut ports = Vec::new();
    for service in &rendered.ports.services {
        for port in service.ports.iter().filter(|p| !p.hidden) {
            for protocol in &port.protocols {
                let udp = *protocol == Protocol::Udp;
                ports.push(ServicePort {
                    name: names.get(&(service.service.clone(), port.name.clone(), *protocol)).cloned(),
                    port: port.number,
                    target_port: Some(IntOrString::Int(port.number)),
                    protocol: Some(if udp { "UDP" } else { "TCP" }.into()),
                    ..Default::default()
                });
            }
        }
    }
    if ports.is_empty() {
        return None;
    }
    let service_type = pg.spec.expose.as_ref().map(|e| e.service_type).unwrap_or_default();
    Some(Service {
        metadata: child_meta(pg, pg.name_any()),
        spec: Some(ServiceSpec {
            type_: Some(
                match service_type {
                    ServiceType::ClusterIP => "ClusterIP",
                    ServiceType::NodePort => "NodePort",
                    ServiceType::LoadBalancer => "LoadBalancer",
                }
                .into(),
            ),
            selector: Some(standard_labels(&pg.name_any())),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::fixture::playground;
    use bp_generator::api::ExposeSpec;
    use bp_generator::{RenderOptions, render};

    #[test]
    fn declared_ports_by_service() {
        let mut pg = playground();
        let rendered = render(&pg, &RenderOptions::default()).unwrap();
        let svc = build(&pg, &rendered).unwrap();
        let spec = svc.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        let ports: Vec<(String, i32, String)> =
            spec.ports.unwrap().into_iter().map(|p| (p.name.unwrap(), p.port, p.protocol.unwrap())).collect();
        assert_eq!(
            ports,
            [
                ("el-http".to_owned(), 8545, "TCP".to_owned()),
                ("el-p2p".to_owned(), 30303, "TCP".to_owned()),
                ("el-p2p-udp".to_owned(), 30303, "UDP".to_owned()),
            ],
            "healthmon's hidden listener is not exposed"
        );
        pg.spec.expose = Some(ExposeSpec { service_type: ServiceType::NodePort });
        assert_eq!(build(&pg, &rendered).unwrap().spec.unwrap().type_.as_deref(), Some("NodePort"));
    }
}
