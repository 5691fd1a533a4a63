//! Resolving builder-playground templates for services that share one Pod (SPEC §2.2).
//!
//! Every service is treated like a docker-compose host service: each declared port gets a
//! Pod-unique number, and every reference goes to localhost. A service that runs on the node
//! (`useHostExecution`) is reached at `$(BP_HOST_IP)`, which Kubernetes expands from the
//! downward API.

use std::collections::BTreeMap;

use crate::api::{ARTIFACTS_DIR, BootnodeSpec, ServiceSpec};
use crate::error::SpecError;
use crate::ports::{PortRequest, PortTable, hidden_listener};
use crate::template::{self, Action, Segment};

/// The env var that holds the node's IP, for references to services run on the node.
pub const HOST_IP_ENV: &str = "BP_HOST_IP";

/// A service with its templates parsed.
#[derive(Debug)]
pub struct ParsedService<'a> {
    pub spec: &'a ServiceSpec,
    pub args: Vec<Vec<Segment>>,
    pub env: Vec<(&'a str, Vec<Segment>)>,
}

/// Parses every template of a service; each bad one is reported with its field.
pub fn parse_service(spec: &ServiceSpec) -> Result<ParsedService<'_>, Vec<SpecError>> {
    let mut errors = Vec::new();
    let mut parse = |field: String, value: &str| match template::parse(value) {
        Ok(segments) => segments,
        Err(e) => {
            errors.push(SpecError::service(&spec.name, field, e.message));
            Vec::new()
        }
    };
    let args = spec.args.iter().enumerate().map(|(i, a)| parse(format!("args[{i}]"), a)).collect();
    let env = spec.env.iter().map(|(k, v)| (k.as_str(), parse(format!("env[{k:?}]"), v))).collect();
    if errors.is_empty() { Ok(ParsedService { spec, args, env }) } else { Err(errors) }
}

impl ParsedService<'_> {
    fn actions(&self) -> impl Iterator<Item = &Action> {
        self.args.iter().chain(self.env.iter().map(|(_, v)| v)).flatten().filter_map(|s| match s {
            Segment::Action(a) => Some(a),
            Segment::Text(_) => None,
        })
    }

    /// (service, port, scheme) of every `{{Service}}` reference this service makes.
    pub fn service_references(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.actions().filter_map(|a| match a {
            Action::Service { service, port, protocol, .. } => {
                Some((service.as_str(), port.as_str(), protocol.as_str()))
            }
            _ => None,
        })
    }

    /// The ports this service wants, in allocation order: declared ports, then ports only its
    /// templates name (builder-playground registers those too), then its hidden listener.
    pub fn port_requests(&self) -> Vec<PortRequest> {
        let mut requests: Vec<PortRequest> = self
            .spec
            .ports
            .iter()
            .map(|p| PortRequest { name: p.name.clone(), requested: p.port, protocol: p.protocol, hidden: false })
            .collect();
        for action in self.actions() {
            if let Action::Port { name, default, udp } = action
                && !requests.iter().any(|r| &r.name == name)
            {
                requests.push(PortRequest {
                    name: name.clone(),
                    requested: i32::try_from(*default).unwrap_or(0),
                    protocol: if *udp { crate::api::Protocol::Udp } else { crate::api::Protocol::Tcp },
                    hidden: false,
                });
            }
        }
        if let Some(hidden) = self.hidden_listener() {
            requests.push(PortRequest {
                name: hidden.port_name.into(),
                requested: hidden.default_port,
                protocol: crate::api::Protocol::Tcp,
                hidden: true,
            });
        }
        requests
    }

    /// The hidden listener to move, unless the service already declares a port of its name.
    pub fn hidden_listener(&self) -> Option<&'static crate::ports::HiddenListener> {
        hidden_listener(self.spec).filter(|h| !self.spec.ports.iter().any(|p| p.name == h.port_name))
    }
}

/// A resolved string and whether it needs `$(BP_HOST_IP)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub value: String,
    pub uses_host_ip: bool,
}

/// Resolves templates of the services of one Pod.
pub struct Resolver<'a> {
    pub table: &'a PortTable,
    pub services: BTreeMap<&'a str, &'a ServiceSpec>,
    pub bootnode: Option<&'a BootnodeSpec>,
}

impl<'a> Resolver<'a> {
    /// Resolves one parsed string of service `owner`; `field` names it in errors.
    pub fn resolve(&self, owner: &str, segments: &[Segment], field: &str) -> Result<Resolved, SpecError> {
        let err = |message: String| SpecError::service(owner, field, message);
        let mut pieces: Vec<(String, bool)> = Vec::with_capacity(segments.len());
        let mut uses_host_ip = false;
        for segment in segments {
            match segment {
                Segment::Text(text) => pieces.push((self.rewrite_service_hosts(text), true)),
                Segment::Action(Action::Dir) => pieces.push((ARTIFACTS_DIR.to_owned(), false)),
                Segment::Action(Action::Port { name, .. }) => {
                    let port =
                        self.table.get(owner, name).ok_or_else(|| err(format!("port {name:?} was not allocated")))?;
                    pieces.push((port.number.to_string(), false));
                }
                Segment::Action(Action::Service { service, port, protocol, user }) => {
                    let (host, number) = self.endpoint(service, port, protocol).map_err(err)?;
                    uses_host_ip |= host.starts_with("$(");
                    pieces.push((print_addr(protocol, &host, number, user.as_deref().unwrap_or("")), false));
                }
                Segment::Action(Action::Bootnode) => {
                    let boot =
                        self.bootnode.ok_or_else(|| err("{{Bootnode}} is used but spec.bootnode is not set".into()))?;
                    let (host, number) = self.endpoint(&boot.service, "rpc", "enode").map_err(err)?;
                    uses_host_ip |= host.starts_with("$(");
                    pieces.push((print_addr("enode", &host, number, &boot.id), false));
                }
            }
        }
        Ok(Resolved { value: join_escaped(pieces), uses_host_ip })
    }

    /// Host and port number of `service`'s port `port`, for protocol `protocol`.
    fn endpoint(&self, service: &str, port: &str, protocol: &str) -> Result<(String, i32), String> {
        let target =
            self.services.get(service).ok_or_else(|| format!("template refers to unknown service {service:?}"))?;
        if target.use_host_execution {
            let declared = target
                .ports
                .iter()
                .find(|p| p.name == port)
                .ok_or_else(|| format!("service {service:?} has no port {port:?}"))?;
            return Ok((format!("$({HOST_IP_ENV})"), declared.port));
        }
        let allocated = self
            .table
            .get(service, port)
            .filter(|p| !p.hidden)
            .ok_or_else(|| format!("service {service:?} has no port {port:?}"))?;
        // enode URLs are parsed by clients that may not resolve names: use an IP literal.
        let host = if protocol == "enode" { "127.0.0.1" } else { "localhost" };
        Ok((host.to_owned(), allocated.number))
    }

    /// Literal `service:port` endpoints in plain text (YAML recipes write
    /// `builder-hub-proxy:8888`): the name resolves through hostAliases, the port may have moved.
    fn rewrite_service_hosts(&self, text: &str) -> String {
        rewrite_endpoints(text, |host, port| {
            let svc = self.services.get(host).filter(|s| !s.use_host_execution)?;
            self.table.by_requested(&svc.name, port).map(|p| p.number)
        })
    }

    /// Rewrites literal ports in a ready check of `owner`: `localhost`, `127.0.0.1` and the
    /// owner's own name mean the owner; another service's name means that service.
    pub fn rewrite_check(&self, owner: &str, text: &str) -> String {
        rewrite_endpoints(text, |host, port| {
            let service = if is_local_host(host) || host == owner { owner } else { host };
            self.table.by_requested(service, port).map(|p| p.number)
        })
    }
}

/// Hosts that mean "this Pod".
pub fn is_local_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "0.0.0.0" | "[::1]" | "::1")
}

/// builder-playground's `printAddr`: `[proto "://"] [user "@"] host ":" port`.
fn print_addr(protocol: &str, host: &str, port: i32, user: &str) -> String {
    let mut out = String::new();
    if !protocol.is_empty() {
        out.push_str(protocol);
        out.push_str("://");
    }
    if !user.is_empty() {
        out.push_str(user);
        out.push('@');
    }
    out.push_str(host);
    out.push(':');
    out.push_str(&port.to_string());
    out
}

/// Joins resolved pieces. Kubernetes expands `$(VAR)` and reduces `$$` to `$` in args and env;
/// when the result would be touched by that, every `$` of literal text is doubled so the
/// literal survives exactly, while `$(BP_HOST_IP)` from templates still expands. (Literal
/// text without a `$` is the same doubled or not.)
fn join_escaped(pieces: Vec<(String, bool)>) -> String {
    let joined: String = pieces.iter().map(|(s, _)| s.as_str()).collect();
    if !(joined.contains("$$") || joined.contains("$(")) {
        return joined;
    }
    pieces.into_iter().map(|(s, literal)| if literal { s.replace('$', "$$") } else { s }).collect()
}

/// Finds `host:port` endpoints in `text` and replaces the port where `map` says so.
pub fn rewrite_endpoints(text: &str, mut map: impl FnMut(&str, i32) -> Option<i32>) -> String {
    let bytes = text.as_bytes();
    let is_host_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
    let mut out = String::with_capacity(text.len());
    let mut copied = 0usize;
    for (colon, _) in text.match_indices(':') {
        let digits = bytes[colon + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 5 {
            continue;
        }
        let end = colon + 1 + digits;
        if bytes.get(end).is_some_and(|&b| is_host_byte(b) && !matches!(b, b'.' | b'-')) {
            continue;
        }
        let host_start = bytes[..colon].iter().rposition(|&b| !is_host_byte(b)).map_or(0, |p| p + 1);
        if host_start == colon || host_start < copied {
            continue;
        }
        let host = &text[host_start..colon];
        let Ok(port) = text[colon + 1..end].parse::<i32>() else { continue };
        if let Some(new) = map(host, port).filter(|&n| n != port) {
            out.push_str(&text[copied..colon + 1]);
            out.push_str(&new.to_string());
            copied = end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_a_host_a_colon_and_at_most_five_digits() {
        let next = |_: &str, p: i32| Some(p + 1);
        assert_eq!(rewrite_endpoints("a:8545 b:1", next), "a:8546 b:2");
        assert_eq!(rewrite_endpoints("a:123456", next), "a:123456", "six digits are no port");
        assert_eq!(rewrite_endpoints(":8545 http://:80", next), ":8545 http://:80", "no host, no endpoint");
        assert_eq!(rewrite_endpoints("a:80x", next), "a:80x", "a name goes on after the digits");
        assert_eq!(rewrite_endpoints("a:80.", next), "a:81.", "a sentence may end after it");
    }

    #[test]
    fn print_addr_matches_builder_playground() {
        assert_eq!(print_addr("", "test", 80, ""), "test:80");
        assert_eq!(print_addr("", "test", 80, "test"), "test@test:80");
        assert_eq!(print_addr("http", "test", 80, ""), "http://test:80");
        assert_eq!(print_addr("http", "test", 80, "test"), "http://test@test:80");
        assert_eq!(print_addr("enode", "test", 80, ""), "enode://test:80");
    }

    #[test]
    fn endpoints_are_rewritten_only_where_mapped() {
        let map = |host: &str, port: i32| (host == "a" && port == 80).then_some(81);
        assert_eq!(
            rewrite_endpoints("http://a:80/x a:80 ba:80 a:800 a:80x", map),
            "http://a:81/x a:81 ba:80 a:800 a:80x"
        );
        assert_eq!(rewrite_endpoints("no ports: here", map), "no ports: here");
        assert_eq!(rewrite_endpoints("a:80", |_, _| None), "a:80");
    }

    #[test]
    fn dollars_survive_kubernetes_expansion() {
        let lit = |s: &str| (s.to_owned(), true);
        assert_eq!(join_escaped(vec![lit("echo $HOME")]), "echo $HOME", "nothing Kubernetes would touch");
        assert_eq!(join_escaped(vec![lit("echo $$ $(date)")]), "echo $$$$ $$(date)");
        assert_eq!(
            join_escaped(vec![lit("$x "), ("http://$(BP_HOST_IP):1".into(), false)]),
            "$$x http://$(BP_HOST_IP):1"
        );
        assert_eq!(join_escaped(vec![("http://$(BP_HOST_IP):1".into(), false)]), "http://$(BP_HOST_IP):1");
    }
}
