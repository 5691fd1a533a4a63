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

/// A service port's name in IANA form, before it is placed in a Pod: lowercase, `_` as `-`;
/// the udp twin of a tcp port gets `-udp`. The spec's port names must be valid so (the CRD
/// and [`crate::validate`] check it).
pub fn port_name(name: &str, udp_twin: bool) -> String {
    let base = name.replace('_', "-").to_ascii_lowercase();
    if udp_twin { format!("{base}-udp") } else { base }
}

/// Length of the hash that ends a shortened container port name.
const PORT_NAME_HASH_LEN: usize = 4;

/// The name of a container port in the Pod, unique among `taken` (which it joins):
/// `<container>-<port>` (see [`port_name`]) when that is a free IANA service name; otherwise
/// its first characters and a hash of it, 15 characters at most (`mev-boost-relay-http` →
/// `mev-boost-<hash4>`). The same Pod always gets the same names.
pub fn container_port_name(
    container: &str,
    port: &str,
    udp_twin: bool,
    taken: &mut std::collections::BTreeSet<String>,
) -> String {
    let full = squeeze_dashes(&format!("{}-{}", container.to_ascii_lowercase(), port_name(port, udp_twin)));
    if is_iana_svc_name(&full) && !taken.contains(&full) {
        taken.insert(full.clone());
        return full;
    }
    let keep = 15 - PORT_NAME_HASH_LEN - 1;
    let valid: String = full.chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-').collect();
    let prefix: String = squeeze_dashes(&valid).chars().take(keep).collect();
    let prefix = prefix.trim_end_matches('-');
    // A free name turns up within a few salts: at most a few hundred ports share 26·36³ hashes.
    let mut salt = 0u32;
    loop {
        let candidate =
            if prefix.is_empty() { short_hash(&full, salt) } else { format!("{prefix}-{}", short_hash(&full, salt)) };
        if !taken.contains(&candidate) {
            taken.insert(candidate.clone());
            return candidate;
        }
        salt = salt.wrapping_add(1);
    }
}

/// `-` runs become one `-`, and none leads or trails (IANA service names forbid them).
fn squeeze_dashes(s: &str) -> String {
    s.split('-').filter(|part| !part.is_empty()).collect::<Vec<_>>().join("-")
}

/// [`PORT_NAME_HASH_LEN`] characters of the sha256 of `text` (and `salt`): a lowercase letter,
/// so the name holds one whatever its prefix, then lowercase letters or digits.
fn short_hash(text: &str, salt: u32) -> String {
    use sha2::{Digest, Sha256};
    const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    hasher.update(salt.to_be_bytes());
    let digest = hasher.finalize();
    digest
        .iter()
        .take(PORT_NAME_HASH_LEN)
        .enumerate()
        .map(|(i, b)| {
            let alphabet = if i == 0 { &ALPHANUMERIC[..26] } else { ALPHANUMERIC };
            char::from(alphabet[usize::from(*b) % alphabet.len()])
        })
        .collect()
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

    #[test]
    fn container_port_names_are_service_and_port_or_a_hashed_prefix() {
        let mut taken = std::collections::BTreeSet::new();
        assert_eq!(container_port_name("el", "http", false, &mut taken), "el-http");
        assert_eq!(container_port_name("el", "p2p", true, &mut taken), "el-p2p-udp");
        assert_eq!(container_port_name("beacon", "quic_p2p", false, &mut taken), "beacon-quic-p2p");
        assert_eq!(container_port_name("a--b", "Http", false, &mut taken), "a-b-http", "one dash, lowercase");
        let relay = container_port_name("mev-boost-relay", "http", false, &mut taken);
        assert!(relay.starts_with("mev-boost-") && relay.len() == 14, "{relay}");
        assert_eq!(
            container_port_name("mev-boost-relay", "http", false, &mut std::collections::BTreeSet::new()),
            relay,
            "deterministic"
        );
        let other = container_port_name("mev-boost-relay", "https", false, &mut taken);
        assert!(other.starts_with("mev-boost-") && other != relay, "{other}");
        // The same full name twice (services `a-b` port `c` and `a` port `b-c`): the second
        // one is made unique.
        let first = container_port_name("a-b", "c", false, &mut taken);
        let second = container_port_name("a", "b-c", false, &mut taken);
        assert_eq!(first, "a-b-c");
        assert!(second.starts_with("a-b-c-") && second.len() == 10, "{second}");
        // Digits only before the hash: the hash's first character is a letter.
        let digits = container_port_name("12345678901234", "p", false, &mut taken);
        assert!(is_iana_svc_name(&digits), "{digits}");
        for name in &taken {
            assert!(is_iana_svc_name(name), "{name:?}");
        }
    }

    proptest::proptest! {
        /// Whatever the containers and ports, every name is a valid IANA service name of at
        /// most 15 characters, and no two are equal.
        #[test]
        fn container_port_names_are_valid_and_unique(
            ports in proptest::collection::vec(("[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", "[a-z][a-z0-9_]{0,14}", proptest::bool::ANY), 1..60)
        ) {
            let mut taken = std::collections::BTreeSet::new();
            let mut names = Vec::new();
            for (container, port, udp) in &ports {
                let name = container_port_name(container, port, *udp, &mut taken);
                proptest::prop_assert!(is_iana_svc_name(&name), "{name:?} from {container:?} {port:?}");
                names.push(name);
            }
            let unique: std::collections::BTreeSet<&String> = names.iter().collect();
            proptest::prop_assert_eq!(unique.len(), names.len());
        }
    }
}
