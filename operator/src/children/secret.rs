//! The playground's JWT (the `jwtsecret` artifact): generated once, kept for the playground's
//! life, never logged and never stored in a ConfigMap.

use std::collections::BTreeMap;

use bp_generator::BuilderPlayground;
use bp_generator::podspec::{JWT_SECRET_KEY, jwt_secret_name};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use rand::RngCore;

use super::child_meta;

/// A new random JWT secret: 32 bytes as 64 hex characters, no newline, as builder-playground
/// writes it.
pub fn new_jwt() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Secret holding `jwt`.
pub fn build(pg: &BuilderPlayground, jwt: &str) -> Secret {
    Secret {
        metadata: child_meta(pg, jwt_secret_name(&pg.name_any())),
        string_data: Some(BTreeMap::from([(JWT_SECRET_KEY.to_owned(), jwt.to_owned())])),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::fixture::playground;

    #[test]
    fn jwt_is_64_hex_and_random() {
        let a = new_jwt();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_jwt());
        let secret = build(&playground(), &a);
        assert_eq!(secret.metadata.name.as_deref(), Some("l1-jwt"));
        assert_eq!(secret.string_data.unwrap()["jwtsecret"], a);
    }
}
