//! Deterministic port allocation for services that share one network namespace.
//!
//! Services are walked in order, each service's ports in declaration order; a port takes the
//! number it asks for unless another service already holds it, else the smallest free number
//! above. tcp and udp of one name share a number, and a number is reserved for both protocols
//! (devp2p discovery and QUIC listen on UDP at numbers declared as tcp). Listeners a service
//! opens without declaring them (SPEC §2.2) are allocated in the same walk, at their service's
//! position, and moved by appending a flag.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::{Protocol, ServiceSpec};
use crate::names;

/// A listener some component opens without declaring it, and the flag that moves it.
#[derive(Debug)]
pub struct HiddenListener {
    /// Program name (entrypoint or image basename) the listener belongs to.
    pub program: &'static str,
    /// Port name it is declared under in the container.
    pub port_name: &'static str,
    /// The number the program binds unless told otherwise.
    pub default_port: i32,
    /// Builds the arguments that move it to another number.
    pub flag: fn(i32) -> Vec<String>,
    /// An argument prefix that shows the user already placed it; no shim then.
    pub user_flag: &'static str,
    /// An argument that must be present for the listener to exist.
    pub enabled_by: Option<&'static str>,
    /// Inject the flag even when the default number is free (the ready test depends on it, or
    /// the default collides in every real Pod).
    pub always: bool,
}

/// The hidden listeners of builder-playground's components (SPEC §2.2).
pub static HIDDEN_LISTENERS: [HiddenListener; 4] = [
    HiddenListener {
        program: "healthmon",
        port_name: "healthmon",
        default_port: 21171,
        flag: |p| vec!["--service.addr".into(), format!("127.0.0.1:{p}")],
        user_flag: "--service.addr",
        enabled_by: None,
        always: true,
    },
    HiddenListener {
        program: "op-batcher",
        port_name: "rpc",
        default_port: 8545,
        flag: |p| vec![format!("--rpc.port={p}")],
        user_flag: "--rpc.port",
        enabled_by: None,
        always: true,
    },
    HiddenListener {
        program: "rollup-boost",
        port_name: "debug",
        default_port: 5555,
        flag: |p| vec![format!("--debug-server-port={p}")],
        user_flag: "--debug-server-port",
        enabled_by: None,
        always: false,
    },
    HiddenListener {
        program: "op-node",
        port_name: "pprof",
        default_port: 6060,
        flag: |p| vec![format!("--pprof.port={p}")],
        user_flag: "--pprof.port",
        enabled_by: Some("--pprof.enabled"),
        always: false,
    },
];

/// The program a service runs: its entrypoint's basename unless that is a shell, else its
/// image's last path segment. Used only to recognise components with hidden listeners.
fn programs(svc: &ServiceSpec) -> [&str; 2] {
    let entry = svc.entrypoint.first().map(|e| e.rsplit('/').next().unwrap_or(e)).unwrap_or("");
    let image = svc.image.rsplit('/').next().unwrap_or(&svc.image);
    let image = image.split(['@', ':']).next().unwrap_or(image);
    [entry, image]
}

/// The hidden listener this service opens, if any.
pub fn hidden_listener(svc: &ServiceSpec) -> Option<&'static HiddenListener> {
    let programs = programs(svc);
    HIDDEN_LISTENERS.iter().find(|h| {
        programs.contains(&h.program)
            && h.enabled_by.is_none_or(|flag| svc.args.iter().any(|a| a == flag))
            && !svc.args.iter().any(|a| a.starts_with(h.user_flag))
    })
}

/// One allocated port of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocatedPort {
    /// Port name.
    pub name: String,
    /// The number the service asked for.
    pub requested: i32,
    /// The number it got.
    pub number: i32,
    /// Protocols declared under this name.
    pub protocols: Vec<Protocol>,
    /// Whether it is a hidden listener moved by a flag.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// The URL scheme its clients use, when known (see [`PortTable::learn_schemes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

/// URL schemes worth printing in an address: what browsers and JSON-RPC clients speak.
const WEB_SCHEMES: [&str; 4] = ["http", "https", "ws", "wss"];

/// A port a service wants, before allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub name: String,
    pub requested: i32,
    pub protocol: Protocol,
    pub hidden: bool,
}

/// The ports of one service after allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePorts {
    pub service: String,
    pub ports: Vec<AllocatedPort>,
}

/// The allocation table of a whole Pod, in service order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PortTable {
    pub services: Vec<ServicePorts>,
}

/// No free port number at or above the requested one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    pub service: String,
    pub port: String,
}

impl PortTable {
    /// Allocates every service's requests, walking services and requests in order.
    pub fn allocate<'a>(requests: impl IntoIterator<Item = (&'a str, Vec<PortRequest>)>) -> Result<Self, Exhausted> {
        let mut taken = BTreeSet::new();
        let mut services = Vec::new();
        for (service, wanted) in requests {
            let mut ports: Vec<AllocatedPort> = Vec::with_capacity(wanted.len());
            for req in wanted {
                if let Some(existing) = ports.iter_mut().find(|p| p.name == req.name) {
                    if !existing.protocols.contains(&req.protocol) {
                        existing.protocols.push(req.protocol);
                    }
                    continue;
                }
                let number = (req.requested.max(1)..=65535)
                    .find(|n| !taken.contains(n))
                    .ok_or_else(|| Exhausted { service: service.to_owned(), port: req.name.clone() })?;
                taken.insert(number);
                ports.push(AllocatedPort {
                    name: req.name,
                    requested: req.requested,
                    number,
                    protocols: vec![req.protocol],
                    hidden: req.hidden,
                    scheme: None,
                });
            }
            services.push(ServicePorts { service: service.to_owned(), ports });
        }
        Ok(PortTable { services })
    }

    /// The ports of one service.
    pub fn service(&self, service: &str) -> Option<&ServicePorts> {
        self.services.iter().find(|s| s.service == service)
    }

    /// The port `name` of `service`.
    pub fn get(&self, service: &str, name: &str) -> Option<&AllocatedPort> {
        self.service(service)?.ports.iter().find(|p| p.name == name)
    }

    /// Sets each port's URL scheme: the first web scheme (http, https, ws, wss) that a
    /// `{{Service}}` reference (service, port, scheme) uses for it, else its name when that is
    /// a web scheme (`metrics` counts as http). Other ports (p2p, enode, ...) get none.
    pub fn learn_schemes<'a>(&mut self, references: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) {
        for (service, port, scheme) in references {
            let scheme = scheme.to_ascii_lowercase();
            if let Some(p) = self.get_mut(service, port)
                && p.scheme.is_none()
                && WEB_SCHEMES.contains(&scheme.as_str())
            {
                p.scheme = Some(scheme);
            }
        }
        for port in self.services.iter_mut().flat_map(|s| s.ports.iter_mut()).filter(|p| p.scheme.is_none()) {
            let name = port.name.to_ascii_lowercase();
            port.scheme = match name.as_str() {
                "metrics" => Some("http".into()),
                n if WEB_SCHEMES.contains(&n) => Some(n.to_owned()),
                _ => None,
            };
        }
    }

    fn get_mut(&mut self, service: &str, name: &str) -> Option<&mut AllocatedPort> {
        self.services.iter_mut().find(|s| s.service == service)?.ports.iter_mut().find(|p| p.name == name)
    }

    /// The name of each container port of the Pod, by (service, port name, protocol): unique
    /// in the Pod and at most 15 characters ([`names::container_port_name`], walked in
    /// allocation order, tcp before udp).
    pub fn container_port_names(&self) -> BTreeMap<(String, String, Protocol), String> {
        let mut taken = BTreeSet::new();
        let mut out = BTreeMap::new();
        for service in &self.services {
            let container = names::container_name(&service.service);
            for port in &service.ports {
                let has_tcp = port.protocols.contains(&Protocol::Tcp);
                for protocol in [Protocol::Tcp, Protocol::Udp].into_iter().filter(|p| port.protocols.contains(p)) {
                    let udp_twin = protocol == Protocol::Udp && has_tcp;
                    let name = names::container_port_name(&container, &port.name, udp_twin, &mut taken);
                    out.insert((service.service.clone(), port.name.clone(), protocol), name);
                }
            }
        }
        out
    }

    /// The port of `service` that asked for `requested`.
    pub fn by_requested(&self, service: &str, requested: i32) -> Option<&AllocatedPort> {
        self.service(service)?.ports.iter().find(|p| p.requested == requested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, requested: i32, protocol: Protocol) -> PortRequest {
        PortRequest { name: name.into(), requested, protocol, hidden: false }
    }

    #[test]
    fn first_come_keeps_its_number_later_ones_move_up() {
        let table = PortTable::allocate([
            ("el", vec![req("http", 8545, Protocol::Tcp), req("ws", 8546, Protocol::Tcp)]),
            ("op-geth", vec![req("http", 8545, Protocol::Tcp), req("ws", 8546, Protocol::Tcp)]),
        ])
        .unwrap();
        assert_eq!(table.get("el", "http").unwrap().number, 8545);
        assert_eq!(table.get("el", "ws").unwrap().number, 8546);
        assert_eq!(table.get("op-geth", "http").unwrap().number, 8547);
        assert_eq!(table.get("op-geth", "ws").unwrap().number, 8548);
        assert_eq!(table.by_requested("op-geth", 8546).unwrap().number, 8548);
    }

    #[test]
    fn tcp_and_udp_of_one_name_share_a_number() {
        let table = PortTable::allocate([
            ("a", vec![req("p2p", 9000, Protocol::Udp), req("p2p", 9000, Protocol::Tcp)]),
            ("b", vec![req("p2p", 9000, Protocol::Udp)]),
        ])
        .unwrap();
        let a = table.get("a", "p2p").unwrap();
        assert_eq!((a.number, a.protocols.clone()), (9000, vec![Protocol::Udp, Protocol::Tcp]));
        assert_eq!(table.get("b", "p2p").unwrap().number, 9001, "udp reservation blocks the number too");
    }

    #[test]
    fn schemes_come_from_references_then_from_names() {
        let mut table = PortTable::allocate([
            ("el", vec![req("http", 8545, Protocol::Tcp), req("authrpc", 8551, Protocol::Tcp)]),
            ("beacon", vec![req("p2p", 9000, Protocol::Tcp), req("Metrics", 5054, Protocol::Tcp)]),
            ("relay", vec![req("api", 5555, Protocol::Tcp), req("ws", 5556, Protocol::Tcp)]),
        ])
        .unwrap();
        table.learn_schemes([
            ("el", "authrpc", "HTTP"),
            ("el", "authrpc", "ws"),
            ("beacon", "p2p", "enode"),
            ("relay", "api", "https"),
            ("nope", "http", "http"),
        ]);
        let scheme = |s: &str, p: &str| table.get(s, p).unwrap().scheme.clone();
        assert_eq!(scheme("el", "authrpc").as_deref(), Some("http"), "the first web scheme, lowercase");
        assert_eq!(scheme("el", "http").as_deref(), Some("http"), "by name");
        assert_eq!(scheme("beacon", "p2p"), None, "enode is no web scheme");
        assert_eq!(scheme("beacon", "Metrics").as_deref(), Some("http"));
        assert_eq!(scheme("relay", "api").as_deref(), Some("https"));
        assert_eq!(scheme("relay", "ws").as_deref(), Some("ws"));
    }

    #[test]
    fn container_port_names_follow_the_table() {
        let table = PortTable::allocate([
            (
                "el",
                vec![
                    req("http", 8545, Protocol::Tcp),
                    req("p2p", 30303, Protocol::Tcp),
                    req("p2p", 30303, Protocol::Udp),
                ],
            ),
            ("mev-boost-relay", vec![req("http", 5555, Protocol::Tcp)]),
            ("b", vec![req("disc", 9000, Protocol::Udp)]),
        ])
        .unwrap();
        let names = table.container_port_names();
        let name = |s: &str, p: &str, pr: Protocol| names[&(s.to_owned(), p.to_owned(), pr)].clone();
        assert_eq!(name("el", "http", Protocol::Tcp), "el-http");
        assert_eq!(name("el", "p2p", Protocol::Tcp), "el-p2p");
        assert_eq!(name("el", "p2p", Protocol::Udp), "el-p2p-udp");
        assert_eq!(name("b", "disc", Protocol::Udp), "b-disc", "a udp-only port has no suffix");
        assert!(name("mev-boost-relay", "http", Protocol::Tcp).starts_with("mev-boost-"));
        assert_eq!(names.len(), 5);
    }

    #[test]
    fn exhaustion_is_an_error() {
        let err = PortTable::allocate([
            ("a", vec![req("x", 65535, Protocol::Tcp)]),
            ("b", vec![req("y", 65535, Protocol::Tcp)]),
        ])
        .unwrap_err();
        assert_eq!(err, Exhausted { service: "b".into(), port: "y".into() });
    }

    #[test]
    fn hidden_listeners_are_recognised() {
        let svc = |entry: &str, image: &str, args: &[&str]| ServiceSpec {
            name: "s".into(),
            image: image.into(),
            entrypoint: if entry.is_empty() { vec![] } else { vec![entry.into()] },
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        };
        let name = |s: &ServiceSpec| hidden_listener(s).map(|h| h.port_name);
        assert_eq!(name(&svc("healthmon", "docker.io/flashbots/playground-utils", &[])), Some("healthmon"));
        assert_eq!(name(&svc("op-batcher", "x/op-batcher", &[])), Some("rpc"));
        assert_eq!(name(&svc("", "docker.io/flashbots/rollup-boost:v1", &[])), Some("debug"));
        assert_eq!(name(&svc("op-node", "x/op-node", &[])), None, "pprof only when enabled");
        assert_eq!(name(&svc("op-node", "x/op-node", &["--pprof.enabled"])), Some("pprof"));
        assert_eq!(name(&svc("healthmon", "u", &["--service.addr", "127.0.0.1:1"])), None, "user placed it");
        assert_eq!(name(&svc("/usr/local/bin/reth", "reth", &[])), None);
    }
}
