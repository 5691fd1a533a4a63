use super::*;

const DAY: i64 = 24 * 3600;
const NOW: i64 = 1_796_000_000;

fn names() -> Vec<String> {
    subject_alt_names(Some("bpo-webhook"), "bp-system", &["127.0.0.1".into()])
}

#[test]
fn the_names_are_the_services_and_the_extra_ones_once() {
    assert_eq!(
        subject_alt_names(
            Some("bpo-webhook"),
            "bp-system",
            &[" 127.0.0.1 ".into(), "bpo-webhook.bp-system.svc".into(), "".into()]
        ),
        ["bpo-webhook.bp-system.svc", "bpo-webhook.bp-system.svc.cluster.local", "127.0.0.1"]
    );
    assert_eq!(subject_alt_names(None, "x", &["localhost".into()]), ["localhost"]);
    assert!(subject_alt_names(None, "x", &[]).is_empty());
}

#[test]
fn a_new_bundle_is_for_its_names_a_year_and_served_as_it_is() {
    let bundle = generate(&names(), NOW, VALIDITY, None).unwrap();
    assert_eq!(names_of(&bundle.cert).unwrap(), names());
    let (not_before, not_after) = validity_of(&bundle.cert).unwrap();
    assert!((NOW - 600..=NOW).contains(&not_before), "{not_before}");
    assert_eq!(not_after, NOW + 365 * DAY);
    assert_eq!(pem_blocks(&bundle.ca).len(), 1);
    assert_eq!(renewal_reason(Some(&bundle), &names(), NOW, RENEW_BEFORE), None);
    assert_eq!(renewal_reason(Some(&bundle), &names(), NOW + 334 * DAY, RENEW_BEFORE), None);
    let reason = renewal_reason(Some(&bundle), &names(), NOW + 336 * DAY, RENEW_BEFORE).unwrap();
    assert_eq!(reason, "the certificate expires in 696 h");
    assert!(renewal_reason(Some(&bundle), &names(), NOW + 400 * DAY, RENEW_BEFORE).is_some(), "expired");
    assert_eq!(
        renewal_reason(Some(&bundle), &names(), NOW - 2 * DAY, RENEW_BEFORE).as_deref(),
        Some("the stored certificate is not valid yet")
    );
}

#[test]
fn the_certificate_chains_to_the_ca_for_its_names() {
    let bundle = generate(&names(), certs_now(), VALIDITY, None).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls::pki_types::CertificateDer::pem_slice_iter(bundle.ca.as_bytes()) {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
    let leaf = rustls::pki_types::CertificateDer::pem_slice_iter(bundle.cert.as_bytes()).next().unwrap().unwrap();
    let now = rustls::pki_types::UnixTime::now();
    for name in ["bpo-webhook.bp-system.svc", "bpo-webhook.bp-system.svc.cluster.local", "127.0.0.1"] {
        let server = rustls::pki_types::ServerName::try_from(name).unwrap();
        verifier.verify_server_cert(&leaf, &[], &server, &[], now).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let other = rustls::pki_types::ServerName::try_from("evil.example").unwrap();
    assert!(verifier.verify_server_cert(&leaf, &[], &other, &[], now).is_err());
}

fn certs_now() -> i64 {
    unix(SystemTime::now())
}

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;

#[test]
fn what_cannot_be_served_is_renewed() {
    assert_eq!(renewal_reason(None, &names(), NOW, RENEW_BEFORE).as_deref(), Some("no certificate yet"));
    let good = generate(&names(), NOW, VALIDITY, None).unwrap();
    let other = generate(&names(), NOW, VALIDITY, None).unwrap();
    let mismatched = Bundle { key: other.key.clone(), ..good.clone() };
    let reason = renewal_reason(Some(&mismatched), &names(), NOW, RENEW_BEFORE).unwrap();
    assert!(reason.starts_with("the stored certificate cannot be served"), "{reason}");
    let garbage = Bundle { cert: "not a certificate".into(), ..good.clone() };
    assert!(renewal_reason(Some(&garbage), &names(), NOW, RENEW_BEFORE).is_some());
    let no_ca = Bundle { ca: "junk".into(), ..good.clone() };
    assert_eq!(renewal_reason(Some(&no_ca), &names(), NOW, RENEW_BEFORE).as_deref(), Some("the stored CA is not PEM"));
    // The Service was renamed (or an address added): a certificate for the new names.
    let more = subject_alt_names(Some("renamed"), "bp-system", &[]);
    let reason = renewal_reason(Some(&good), &more, NOW, RENEW_BEFORE).unwrap();
    assert!(reason.starts_with("the certificate is for"), "{reason}");
}

#[test]
fn a_renewed_bundle_trusts_the_previous_ca_while_it_is_valid() {
    let old = generate(&names(), NOW, VALIDITY, None).unwrap();
    let new = generate(&names(), NOW + 340 * DAY, VALIDITY, Some(&old.ca)).unwrap();
    let blocks = pem_blocks(&new.ca);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[1], old.ca, "the previous CA, after the new one");
    assert_ne!(blocks[0], old.ca);
    // Only the newest previous CA: bundles do not grow.
    let newer = generate(&names(), NOW + 680 * DAY, VALIDITY, Some(&new.ca)).unwrap();
    let kept = pem_blocks(&newer.ca);
    assert_eq!((kept.len(), &kept[1]), (2, &blocks[0]));
    // An expired previous CA is dropped.
    let late = generate(&names(), NOW + 400 * DAY, VALIDITY, Some(&old.ca)).unwrap();
    assert_eq!(pem_blocks(&late.ca).len(), 1);
}

#[test]
fn the_secret_data_round_trips_and_needs_all_three_keys() {
    let bundle = generate(&names(), NOW, VALIDITY, None).unwrap();
    let data = bundle.to_data();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["ca.crt", "tls.crt", "tls.key"]);
    assert_eq!(Bundle::from_data(&data), Some(bundle));
    let mut partial = data.clone();
    partial.remove(PRIVATE_KEY);
    assert_eq!(Bundle::from_data(&partial), None);
    partial.insert(PRIVATE_KEY.into(), ByteString(Vec::new()));
    assert_eq!(Bundle::from_data(&partial), None, "an empty key is no key");
}

#[test]
fn pem_blocks_are_split_and_junk_ignored() {
    let a = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
    let b = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
    let text = format!("junk\n{a}\n{b}-----BEGIN CERTIFICATE-----\nunterminated");
    assert_eq!(pem_blocks(&text), [format!("{a}\n"), b.to_owned()]);
    assert!(pem_blocks("").is_empty());
}

#[test]
fn a_directorys_pair_is_served_and_a_broken_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let serving = ServingCert::default();
    assert!(load_dir(dir.path(), &serving).unwrap_err().contains("tls.crt"));
    let bundle = generate(&names(), certs_now(), VALIDITY, None).unwrap();
    std::fs::write(dir.path().join(CERT_KEY), &bundle.cert).unwrap();
    std::fs::write(dir.path().join(PRIVATE_KEY), &bundle.key).unwrap();
    load_dir(dir.path(), &serving).unwrap();
    assert!(serving.is_set());
    let other = generate(&names(), certs_now(), VALIDITY, None).unwrap();
    std::fs::write(dir.path().join(PRIVATE_KEY), &other.key).unwrap();
    let err = load_dir(dir.path(), &ServingCert::default()).unwrap_err();
    assert!(err.contains("does not match"), "{err}");
}
