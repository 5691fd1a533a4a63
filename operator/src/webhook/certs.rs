//! The webhook's certificate, handled by the operator itself (no cert-manager): a self-signed
//! CA and a serving certificate for the webhook's names, kept in one Secret that every replica
//! serves from, the CA written into the caBundle of every webhook of the
//! ValidatingWebhookConfiguration, and both renewed before they expire.
//!
//! Renewal makes a new CA each time; the caBundle keeps the previous CA beside the new one, so
//! a replica still serving the previous certificate (until its next check) stays trusted.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use tracing::{info, warn};
use x509_parser::extensions::GeneralName;

use super::tls::ServingCert;

/// The Secret's keys: the CAs to trust (PEM, newest first), the serving certificate, its key.
pub const CA_KEY: &str = "ca.crt";
pub const CERT_KEY: &str = "tls.crt";
pub const PRIVATE_KEY: &str = "tls.key";

/// How long a new certificate (and its CA) is valid.
pub const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// A certificate with less than this left is renewed.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often the Secret is looked at (renewal, a renewal by another replica).
pub const CHECK_EVERY: Duration = Duration::from_secs(3600);
/// After a failed check (the API server away, the webhook configuration not there yet).
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where the certificate lives and what it is for.
#[derive(Clone, Debug)]
pub struct ManagedCerts {
    /// The Secret holding CA, certificate and key.
    pub namespace: String,
    pub secret: String,
    /// The ValidatingWebhookConfiguration whose webhooks get the CA as caBundle.
    pub webhook_config: Option<String>,
    /// The names the certificate is valid for (DNS names or IP addresses).
    pub names: Vec<String>,
    pub check_every: Duration,
}

/// The names of a webhook reached through Service `service` in `namespace`, plus `extra` (for
/// a webhook configuration that names a URL), without repeats.
pub fn subject_alt_names(service: Option<&str>, namespace: &str, extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = service
        .into_iter()
        .flat_map(|s| [format!("{s}.{namespace}.svc"), format!("{s}.{namespace}.svc.cluster.local")])
        .collect();
    for name in extra.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// CA, certificate and key, PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The CAs to trust, newest first.
    pub ca: String,
    pub cert: String,
    pub key: String,
}

impl Bundle {
    /// The bundle in a Secret's data, if it has all three.
    pub fn from_data(data: &BTreeMap<String, ByteString>) -> Option<Bundle> {
        let text = |k: &str| data.get(k).and_then(|b| String::from_utf8(b.0.clone()).ok()).filter(|t| !t.is_empty());
        Some(Bundle { ca: text(CA_KEY)?, cert: text(CERT_KEY)?, key: text(PRIVATE_KEY)? })
    }

    pub fn to_data(&self) -> BTreeMap<String, ByteString> {
        [(CA_KEY, &self.ca), (CERT_KEY, &self.cert), (PRIVATE_KEY, &self.key)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), ByteString(v.clone().into_bytes())))
            .collect()
    }
}

/// Seconds since the epoch.
pub fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A new CA and a certificate it signs for `names`, valid from `now` for `validity`; the
/// caBundle is the new CA followed by `previous_ca`'s newest CA while that one is valid.
pub fn generate(names: &[String], now: i64, validity: Duration, previous_ca: Option<&str>) -> Result<Bundle, String> {
    fn fail(what: &'static str) -> impl Fn(rcgen::Error) -> String {
        move |e| format!("cannot make the webhook's {what}: {e}")
    }
    let not_before = time::OffsetDateTime::from_unix_timestamp(now.saturating_sub(300)).map_err(|e| e.to_string())?;
    let not_after = time::OffsetDateTime::from_unix_timestamp(
        now.saturating_add(i64::try_from(validity.as_secs()).unwrap_or(i64::MAX)),
    )
    .map_err(|e| e.to_string())?;

    let ca_key = KeyPair::generate().map_err(fail("CA key"))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail("CA"))?;
    ca.distinguished_name.push(DnType::CommonName, "builder-playground-operator webhook CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    (ca.not_before, ca.not_after) = (not_before, not_after);
    let ca_pem = ca.self_signed(&ca_key).map_err(fail("CA"))?.pem();
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(fail("key"))?;
    let mut leaf = CertificateParams::new(names.to_vec()).map_err(fail("certificate"))?;
    leaf.distinguished_name
        .push(DnType::CommonName, names.first().map_or("builder-playground-operator", String::as_str));
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    (leaf.not_before, leaf.not_after) = (not_before, not_after);
    let cert = leaf.signed_by(&key, &issuer).map_err(fail("certificate"))?.pem();

    let mut trusted = ca_pem;
    if let Some(previous) = previous_ca.and_then(|p| pem_blocks(p).into_iter().next())
        && validity_of(&previous).is_ok_and(|(_, not_after)| not_after > now)
    {
        trusted.push_str(&previous);
    }
    Ok(Bundle { ca: trusted, cert, key: key.serialize_pem() })
}

/// The PEM blocks of `text`, each ending in a line break.
pub fn pem_blocks(text: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find(END) else { break };
        let stop = start + end + END.len();
        blocks.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    blocks
}

/// (not before, not after) of the first certificate in `pem`, in seconds since the epoch.
pub fn validity_of(pem: &str) -> Result<(i64, i64), String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| format!("not PEM: {e}"))?;
    let cert = block.parse_x509().map_err(|e| format!("not an X.509 certificate: {e}"))?;
    Ok((cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp()))
}

/// The DNS names and IP addresses the first certificate in `pem` is valid for.
pub fn names_of(pem: &str) -> Result<Vec<String>, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| format!("not PEM: {e}"))?;
    let cert = block.parse_x509().map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let san = cert.subject_alternative_name().map_err(|e| format!("unreadable subjectAltName: {e}"))?;
    Ok(san
        .map(|s| s.value.general_names.iter())
        .into_iter()
        .flatten()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some((*d).to_owned()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b).ok().map(|a| IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b).ok().map(|a| IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect())
}

/// Why `bundle` must be replaced at `now`, or `None` when it can be served as it is.
pub fn renewal_reason(bundle: Option<&Bundle>, names: &[String], now: i64, renew_before: Duration) -> Option<String> {
    let Some(bundle) = bundle else { return Some("no certificate yet".into()) };
    if let Err(e) = super::tls::certified_key(bundle.cert.as_bytes(), bundle.key.as_bytes()) {
        return Some(format!("the stored certificate cannot be served: {e}"));
    }
    let (not_before, not_after) = match validity_of(&bundle.cert) {
        Ok(v) => v,
        Err(e) => return Some(format!("the stored certificate is unreadable: {e}")),
    };
    if not_before > now.saturating_add(300) {
        return Some("the stored certificate is not valid yet".into());
    }
    let left = not_after.saturating_sub(now);
    if left < i64::try_from(renew_before.as_secs()).unwrap_or(i64::MAX) {
        return Some(format!("the certificate expires in {} h", left.max(0) / 3600));
    }
    match names_of(&bundle.cert) {
        Ok(have) if names.iter().all(|n| have.contains(n)) => {}
        Ok(have) => return Some(format!("the certificate is for {have:?}, not {names:?}")),
        Err(e) => return Some(format!("the stored certificate is unreadable: {e}")),
    }
    if pem_blocks(&bundle.ca).is_empty() {
        return Some("the stored CA is not PEM".into());
    }
    None
}

/// The Secret's bundle, made or renewed when needed, with the webhook configuration's caBundle
/// in step.
pub async fn ensure(client: &kube::Client, certs: &ManagedCerts, now: SystemTime) -> Result<Bundle, String> {
    let bundle = ensure_secret(client, certs, now).await?;
    publish(client, certs, &bundle).await?;
    Ok(bundle)
}

/// Sets the CA of `bundle` as the caBundle of the webhook configuration, if there is one.
async fn publish(client: &kube::Client, certs: &ManagedCerts, bundle: &Bundle) -> Result<(), String> {
    match &certs.webhook_config {
        Some(config) => patch_ca_bundle(client, config, &bundle.ca).await,
        None => Ok(()),
    }
}

/// The Secret's bundle, made or renewed when needed. Several replicas may race: whoever loses
/// the write reads the winner's and serves it.
pub async fn ensure_secret(client: &kube::Client, certs: &ManagedCerts, now: SystemTime) -> Result<Bundle, String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &certs.namespace);
    let name = &certs.secret;
    let at = format!("Secret {}/{name}", certs.namespace);
    let now = unix(now);
    let mut attempts = 0;
    let bundle = loop {
        attempts += 1;
        let existing = secrets.get_opt(name).await.map_err(|e| format!("cannot read {at}: {e}"))?;
        let stored = existing.as_ref().and_then(|s| s.data.as_ref()).and_then(Bundle::from_data);
        let Some(reason) = renewal_reason(stored.as_ref(), &certs.names, now, RENEW_BEFORE) else {
            break stored.ok_or("unreachable: a bundle without reason to renew is stored")?;
        };
        let fresh = generate(&certs.names, now, VALIDITY, stored.as_ref().map(|b| b.ca.as_str()))?;
        let written = match existing {
            Some(mut secret) => {
                // resourceVersion stays: the API server refuses the write if another replica
                // wrote in between.
                secret.data = Some(fresh.to_data());
                secrets.replace(name, &PostParams::default(), &secret).await.map(drop)
            }
            None => {
                let secret = Secret {
                    metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() },
                    data: Some(fresh.to_data()),
                    type_: Some("Opaque".into()),
                    ..Default::default()
                };
                secrets.create(&PostParams::default(), &secret).await.map(drop)
            }
        };
        match written {
            Ok(()) => {
                info!(secret = %format!("{}/{name}", certs.namespace), %reason, "webhook certificate made");
                break fresh;
            }
            Err(kube::Error::Api(s)) if s.code == 409 && attempts < 3 => continue,
            Err(e) => return Err(format!("cannot write {at}: {e}")),
        }
    };
    Ok(bundle)
}

/// Sets the caBundle of every webhook of `config` to `ca`, when any differs.
pub async fn patch_ca_bundle(client: &kube::Client, config: &str, ca: &str) -> Result<(), String> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let at = format!("ValidatingWebhookConfiguration {config}");
    let current = api.get(config).await.map_err(|e| format!("cannot read {at}: {e}"))?;
    let ca_bytes = ByteString(ca.as_bytes().to_vec());
    let webhooks = current.webhooks.unwrap_or_default();
    let stale: Vec<&str> = webhooks
        .iter()
        .filter(|w| w.client_config.ca_bundle.as_ref() != Some(&ca_bytes))
        .map(|w| w.name.as_str())
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    // A strategic merge patch merges the webhooks list by name: only the caBundles change.
    let patch = serde_json::json!({
        "webhooks": stale.iter().map(|n| serde_json::json!({"name": n, "clientConfig": {"caBundle": ca_bytes}})).collect::<Vec<_>>()
    });
    api.patch(config, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .map_err(|e| format!("cannot patch the caBundle of {at}: {e}"))?;
    info!(config, webhooks = ?stale, "webhook caBundle updated");
    Ok(())
}

/// Keeps `serving` on the Secret's certificate, and the caBundle on its CA, until `stop`
/// resolves: checks every `check_every` (sooner after a failure), renewing before expiry. A
/// caBundle that cannot be set does not keep the certificate from being served.
pub async fn keep_fresh(
    client: kube::Client,
    certs: ManagedCerts,
    serving: Arc<ServingCert>,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut served: Option<Bundle> = None;
    loop {
        let wait = match ensure_secret(&client, &certs, SystemTime::now()).await {
            Ok(bundle) => {
                let serving_it = served.as_ref() == Some(&bundle) || start_serving(&serving, &certs, &bundle);
                let published = publish(&client, &certs, &bundle).await;
                if let Err(e) = &published {
                    warn!(error = %e, "webhook certificate");
                }
                if serving_it {
                    served = Some(bundle);
                }
                if serving_it && published.is_ok() { certs.check_every } else { RETRY_AFTER }
            }
            Err(e) => {
                warn!(error = %e, "webhook certificate");
                RETRY_AFTER
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut stop => return,
        }
    }
}

/// Serves `bundle` from the next connection on; false if it cannot be served.
fn start_serving(serving: &ServingCert, certs: &ManagedCerts, bundle: &Bundle) -> bool {
    match serving.set(bundle.cert.as_bytes(), bundle.key.as_bytes()) {
        Ok(()) => {
            info!(secret = %format!("{}/{}", certs.namespace, certs.secret), "serving the webhook certificate");
            true
        }
        Err(e) => {
            warn!(error = %e, "cannot serve the webhook certificate");
            false
        }
    }
}

/// Serves `dir`'s tls.crt and tls.key (from cert-manager, or any other), read again every
/// `check_every` so that a renewed pair is served without a restart. Fails when the first read
/// does.
pub fn load_dir(dir: &std::path::Path, serving: &ServingCert) -> Result<(Vec<u8>, Vec<u8>), String> {
    let read = |f: &str| {
        let path = dir.join(f);
        std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let (cert, key) = (read(CERT_KEY)?, read(PRIVATE_KEY)?);
    serving.set(&cert, &key).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok((cert, key))
}

pub async fn watch_dir(
    dir: std::path::PathBuf,
    serving: Arc<ServingCert>,
    check_every: Duration,
    mut loaded: (Vec<u8>, Vec<u8>),
    stop: impl std::future::Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = tokio::time::sleep(check_every) => {}
            () = &mut stop => return,
        }
        let (cert, key) = match (std::fs::read(dir.join(CERT_KEY)), std::fs::read(dir.join(PRIVATE_KEY))) {
            (Ok(c), Ok(k)) => (c, k),
            _ => continue,
        };
        if (&cert, &key) == (&loaded.0, &loaded.1) {
            continue;
        }
        // A pair caught half-written does not match; the next look finds it whole.
        match serving.set(&cert, &key) {
            Ok(()) => {
                info!(dir = %dir.display(), "serving the renewed webhook certificate");
                loaded = (cert, key);
            }
            Err(e) => warn!(dir = %dir.display(), error = %e, "not serving the changed webhook certificate"),
        }
    }
}

#[cfg(test)]
mod tests;
