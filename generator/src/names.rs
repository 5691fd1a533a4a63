//! Kubernetes name rules the rendered objects must follow.

/// A DNS-1123 label: at most 63 lowercase alphanumerics or `-`, starting and ending with an
/// alphanumeric (container names, volume names).
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters (hostAliases).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// An IANA service name, as container port names must be: at most 15 lowercase alphanumerics
/// or `-`, at least one letter, no leading, trailing or doubled `-`.
pub fn is_iana_svc_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// The container name of a service: builder-playground names may hold `_` (`el_healthmon`),
/// which container names may not.
pub fn container_name(service: &str) -> String {
    service.replace('_', "-")
}

/// The container port name of a service port; the udp twin of a tcp port gets `-udp`.
pub fn port_name(name: &str, udp_twin: bool) -> String {
    let base = name.replace('_', "-").to_ascii_lowercase();
    if udp_twin { format!("{base}-udp") } else { base }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(is_dns1123_label("el-healthmon"));
        assert!(is_dns1123_label("a"));
        for bad in ["", "el_healthmon", "El", "-a", "a-", &"a".repeat(64), "a.b"] {
            assert!(!is_dns1123_label(bad), "{bad:?}");
        }
        assert!(is_dns1123_subdomain("builder-hub-proxy"));
        assert!(is_dns1123_subdomain("a.b-c"));
        assert!(!is_dns1123_subdomain("el_healthmon"));
    }

    #[test]
    fn port_names() {
        assert!(is_iana_svc_name("quic-p2p"));
        assert!(is_iana_svc_name("flashblocks-udp"));
        for bad in ["", "8545", "a--b", "-a", "http_x", "flashblocks-udp1", "HTTP"] {
            assert!(!is_iana_svc_name(bad), "{bad:?}");
        }
        assert_eq!(port_name("p2p", true), "p2p-udp");
        assert_eq!(container_name("el_healthmon"), "el-healthmon");
    }
}
