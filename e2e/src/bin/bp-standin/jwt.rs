//! The engine API's authentication: an HS256 JWT with an `iat` claim, signed with the 32-byte
//! secret both sides read from their JWT file (hex, optional `0x`). The consensus side signs,
//! the execution side verifies and allows `iat` within 60 s of its clock, as the engine API
//! specification says.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub type Secret = [u8; 32];

/// How far `iat` may be from the verifier's clock.
pub const IAT_WINDOW_SECS: u64 = 60;

/// The secret written in a JWT file: 64 hex characters, optionally `0x`-prefixed, surrounding
/// whitespace ignored.
pub fn parse_secret(text: &str) -> Result<Secret, String> {
    let hex = text.trim();
    let hex = hex.strip_prefix("0x").unwrap_or(hex);
    if hex.len() != 64 {
        return Err(format!("expected 64 hex characters (32 bytes), found {}", hex.len()));
    }
    let mut out = [0u8; 32];
    ::hex::decode_to_slice(hex, &mut out).map_err(|e| format!("not hex: {e}"))?;
    Ok(out)
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = hmac(key);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A token for `Authorization: Bearer …`, issued at `iat`.
pub fn sign(secret: &Secret, iat: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{iat}}}"#));
    let signing_input = format!("{header}.{claims}");
    let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(secret, signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

/// Checks an `Authorization` header value against the secret at time `now`.
pub fn verify(secret: &Secret, authorization: Option<&str>, now: u64) -> Result<(), String> {
    let header = authorization.ok_or("missing authorization header")?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or("authorization header is not a Bearer token")?;
    let mut parts = token.trim().split('.');
    let (Some(head), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed JWT".into());
    };
    let head_text = head;
    let head = URL_SAFE_NO_PAD.decode(head).map_err(|_| "malformed JWT header")?;
    if !String::from_utf8_lossy(&head).replace(' ', "").contains(r#""alg":"HS256""#) {
        return Err("JWT algorithm is not HS256".into());
    }
    let signing_input = format!("{head_text}.{claims}");
    let got = URL_SAFE_NO_PAD.decode(signature).map_err(|_| "malformed JWT signature")?;
    let mut mac = hmac(secret);
    mac.update(signing_input.as_bytes());
    // Constant-time comparison.
    mac.verify_slice(&got).map_err(|_| "signature invalid".to_string())?;
    let claims = URL_SAFE_NO_PAD.decode(claims).map_err(|_| "malformed JWT claims")?;
    let claims = crate::json::parse(&String::from_utf8_lossy(&claims)).ok_or("malformed JWT claims")?;
    let iat = claims.member("iat").and_then(|v| v.as_u64()).ok_or("JWT has no iat claim")?;
    if iat.abs_diff(now) > IAT_WINDOW_SECS {
        return Err(format!("iat {iat} is more than {IAT_WINDOW_SECS} s from now ({now})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_HEX: &str = "04592280e1778419b7aa954d43871cb2cfb2ebda754fb735e8adeb293a88f9bf";

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2: key "Jefe".
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // Test case 6: a key longer than the block.
        let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn secrets_are_64_hex_characters() {
        let s = parse_secret(SECRET_HEX).unwrap();
        assert_eq!(s[0], 0x04);
        assert_eq!(parse_secret(&format!("0x{SECRET_HEX}\n")).unwrap(), s);
        assert!(parse_secret("abcd").unwrap_err().contains("found 4"));
        assert!(parse_secret(&"zz".repeat(32)).unwrap_err().contains("not hex"));
    }

    #[test]
    fn sign_then_verify_round_trips_and_a_mismatch_fails() {
        let secret = parse_secret(SECRET_HEX).unwrap();
        let token = sign(&secret, 1_000);
        let header = format!("Bearer {token}");
        assert_eq!(verify(&secret, Some(&header), 1_030), Ok(()));
        let other = parse_secret(&"11".repeat(32)).unwrap();
        assert_eq!(verify(&other, Some(&header), 1_000), Err("signature invalid".into()));
        assert!(verify(&secret, Some(&header), 1_061).unwrap_err().contains("more than 60 s"));
        assert_eq!(verify(&secret, None, 1_000), Err("missing authorization header".into()));
        assert!(verify(&secret, Some("Basic abc"), 1_000).is_err());
        assert!(verify(&secret, Some("Bearer a.b"), 1_000).is_err());
    }
}
