//! Which TCP ports a client listens on, from its command line alone.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// A listener a client opens without naming it on its command line, and the flag that moves
/// it (the hidden listeners of the generator's `ports.rs`, plus the op-stack RPC/metrics
/// defaults of the same services).
struct DefaultListener {
    program: &'static str,
    /// Flag (without dashes) that moves the listener; when it is given, the flag's value counts.
    flag: &'static str,
    port: u16,
    /// A flag (without dashes) that must be present (and not `=false`) for the listener to exist.
    enabled_by: Option<&'static str>,
}

const DEFAULT_LISTENERS: &[DefaultListener] = &[
    DefaultListener { program: "healthmon", flag: "service.addr", port: 21171, enabled_by: None },
    DefaultListener { program: "op-batcher", flag: "rpc.port", port: 8545, enabled_by: None },
    DefaultListener { program: "op-batcher", flag: "metrics.port", port: 7300, enabled_by: Some("metrics.enabled") },
    DefaultListener { program: "op-batcher", flag: "pprof.port", port: 6060, enabled_by: Some("pprof.enabled") },
    DefaultListener { program: "op-node", flag: "rpc.port", port: 9545, enabled_by: None },
    DefaultListener { program: "op-node", flag: "metrics.port", port: 7300, enabled_by: Some("metrics.enabled") },
    DefaultListener { program: "op-node", flag: "pprof.port", port: 6060, enabled_by: Some("pprof.enabled") },
    DefaultListener { program: "rollup-boost", flag: "debug-server-port", port: 5555, enabled_by: None },
];

/// Flag-name words that mark an address the client advertises, dials or listens on over UDP,
/// never a TCP listener of its own.
const NOT_A_LISTENER: &[&str] = &["udp", "enr", "advertise", "external", "nat"];
/// Words of `…addr`/`…listen` flags that name a peer to dial, not a local address.
const PEER_WORDS: &[&str] = &["client", "target", "upstream", "remote", "peer", "endpoint", "url", "backend"];

/// The TCP ports a client with this command line listens on, sorted:
/// - the value of any flag whose name contains `port`, or ends in `tcp` (`--http.port 8545`,
///   `--rpc.port=8550`, `--p2p.listen.tcp 9003`);
/// - the port of a `host:port` or `:port` value (no scheme) of a flag whose name contains
///   `addr`, `listen` or `bind`, when the host is an IP address, `localhost` or empty
///   (`--service.addr 127.0.0.1:21171`, `--listen :8100`), and of any flag whose value binds the
///   wildcard address (`--metrics 0.0.0.0:9090`);
/// - the defaults of [`DEFAULT_LISTENERS`] for this program when their flag is absent.
///
/// Flags about UDP, ENR or advertised addresses, and peers (URLs, `--beacon-client-addr`,
/// `--execution-endpoint http://localhost:8551`) are not listeners.
pub fn listen_ports(program: &str, args: &[String]) -> Vec<u16> {
    let flags = flags(args);
    let mut ports = BTreeSet::new();
    for (name, value) in &flags {
        if let Some(port) = value.as_deref().and_then(|v| listener_port(name, v)) {
            ports.insert(port);
        }
    }
    let given = |flag: &str| flags.iter().find(|(n, _)| n == flag);
    for d in DEFAULT_LISTENERS.iter().filter(|d| d.program == program) {
        let enabled = d.enabled_by.is_none_or(|f| given(f).is_some_and(|(_, v)| v.as_deref() != Some("false")));
        if enabled && given(d.flag).is_none() {
            ports.insert(d.port);
        }
    }
    ports.into_iter().collect()
}

/// `(name, value)` of every `-x`/`--x` argument, without dashes: the value is what follows `=`,
/// else the next argument unless that is a flag itself.
fn flags(args: &[String]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let Some(flag) = arg.strip_prefix('-') else { continue };
        let flag = flag.trim_start_matches('-');
        if flag.is_empty() {
            continue;
        }
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, args.get(i + 1).filter(|next| !next.starts_with('-')).cloned()),
        };
        out.push((name.to_ascii_lowercase(), value));
    }
    out
}

fn listener_port(name: &str, value: &str) -> Option<u16> {
    if NOT_A_LISTENER.iter().any(|w| name.contains(w)) {
        return None;
    }
    let last_word = name.rsplit(['.', '-', '_']).next().unwrap_or(name);
    if name.contains("port") || last_word == "tcp" {
        return value.parse::<u16>().ok().filter(|&p| p != 0).or_else(|| host_port(value).map(|(_, p)| p));
    }
    let (host, port) = host_port(value)?;
    let wildcard = matches!(host, "" | "0.0.0.0" | "::");
    let local = wildcard || host == "localhost" || host.parse::<IpAddr>().is_ok();
    let addr_flag = ["addr", "listen", "bind"].iter().any(|w| name.contains(w));
    let peer_flag = PEER_WORDS.iter().any(|w| name.contains(w));
    (wildcard || (addr_flag && !peer_flag && local)).then_some(port)
}

/// `host:port`, `:port` or `[v6]:port` without a scheme, user or path.
fn host_port(value: &str) -> Option<(&str, u16)> {
    if value.contains("://") || value.contains(['@', '/', ',']) {
        return None;
    }
    let (host, port) = value.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|&p| p != 0)?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6,
        None if host.contains(':') => return None,
        None => host,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    /// Command lines of `bp-generator render -f examples/l1.yaml` and `examples/opstack.yaml`,
    /// with the ports each container declares (TCP) plus its hidden listeners.
    #[test]
    fn ports_of_l1_and_opstack_containers() {
        let want: &[(&str, &[u16])] = &[
            ("el", &[8545, 8546, 8551, 9090, 30303]),
            ("el-healthmon", &[21171]),
            ("beacon", &[3500, 9000, 9100]),
            ("validator", &[]),
            ("beacon-healthmon", &[21172]),
            ("mev-boost-relay", &[5555]),
            ("bootnode", &[30303]),
            ("op-geth (init)", &[]),
            ("op-geth", &[6061, 8547, 8548, 8552, 30305]),
            ("op-geth-healthmon", &[21173]),
            ("op-node", &[6060, 7300, 8549, 9003]),
            ("op-batcher", &[8550]),
        ];
        let mut seen = 0;
        for (set, lines) in [("l1", crate::testdata::l1()), ("opstack", crate::testdata::opstack())] {
            for (container, program, args) in lines {
                let ports = match (set, container) {
                    ("opstack", "el") => vec![8545, 8546, 8551, 9090, 30304],
                    _ => want.iter().find(|(c, _)| *c == container).map(|(_, p)| p.to_vec()).unwrap(),
                };
                assert_eq!(listen_ports(program, &args), ports, "{set} {container}");
                seen += 1;
            }
        }
        assert_eq!(seen, 6 + 11);
    }

    #[test]
    fn equals_forms_and_defaults() {
        assert_eq!(listen_ports("x", &args(&["--http.port=8545", "--listen-address=0.0.0.0:21171"])), [8545, 21171]);
        assert_eq!(listen_ports("caddy", &args(&["file-server", "--root", "/data", "--listen", ":8100"])), [8100]);
        assert_eq!(
            listen_ports("mev-boost", &args(&["--addr", "0.0.0.0:18550", "--relay", "http://0x1@localhost:5555"])),
            [18550]
        );
        assert_eq!(
            listen_ports("x", &args(&["--ws.addr", "[::]:8546", "--rpc-host", "0.0.0.0", "--rpc-port", "8551"])),
            [8546, 8551]
        );
        // Defaults of the hidden listeners, and moved ones.
        assert_eq!(listen_ports("healthmon", &args(&["--chain", "beacon", "--url", "http://localhost:3500"])), [21171]);
        assert_eq!(listen_ports("op-batcher", &args(&[])), [8545]);
        assert_eq!(listen_ports("op-node", &args(&["--rpc.port", "8549", "--pprof.enabled=false"])), [8549]);
        assert_eq!(
            listen_ports("op-node", &args(&["--rpc.port", "8549", "--pprof.enabled", "--pprof.port=6070"])),
            [6070, 8549]
        );
        assert_eq!(listen_ports("rollup-boost", &args(&["--rpc-port", "8551"])), [5555, 8551]);
        assert_eq!(
            listen_ports("rollup-boost", &args(&["--rpc-port", "8551", "--debug-server-port=5556"])),
            [5556, 8551]
        );
    }

    #[test]
    fn peers_and_advertised_addresses_are_not_listened_on() {
        for peer in [
            &["--execution-endpoint", "http://localhost:8551"][..],
            &["--beacon-nodes", "http://localhost:3500"],
            &["--beacon-client-addr", "http://localhost:3500"],
            &["--validation-server-addr", "http://localhost:8545"],
            &["--l2", "http://localhost:8552"],
            &["--bootnodes", "enode://abc@127.0.0.1:30303"],
            &["--target-addr", "127.0.0.1:8888"],
            &["--authrpc-peers", "http://a:1,http://b:2"],
            &["--enr-tcp-port", "9000"],
            &["--enr-udp-port", "9000"],
            &["--p2p.listen.udp", "9003"],
            &["--p2p.advertise.tcp", "9003"],
            &["--api-listen-addr", "0.0.0.0"],
            &["--some-addr", "builder-hub-proxy:8888"],
            &["--tls-certificate-path", "/server.crt", "builder-hub-proxy:8888"],
            &["--max-port-count", "many"],
        ] {
            assert_eq!(listen_ports("x", &args(peer)), Vec::<u16>::new(), "{peer:?}");
        }
    }
}
