//! The cluster's PKI: a CA, the apiserver serving certificate, the service-account key pair
//! and static bearer tokens. ECDSA P-256 keys throughout (kube-apiserver accepts them for
//! serving and for signing service-account tokens).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Paths and secrets of a generated PKI.
#[derive(Clone, Debug)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_pem: String,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub sa_pub: PathBuf,
    pub sa_key: PathBuf,
    pub token_file: PathBuf,
    pub admin_token: String,
    pub controller_manager_token: String,
    pub scheduler_token: String,
}

fn token() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    hex::encode(bytes)
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

/// Generates everything into `dir` (created if needed).
pub fn generate(dir: &Path) -> Result<Pki> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;

    let ca_key = KeyPair::generate().context("generating CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "bp-e2e-ca");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).context("self-signing CA")?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let serving_key = KeyPair::generate().context("generating serving key")?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster.local".to_string(),
    ])
    .context("serving cert params")?;
    params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
    params.subject_alt_names.push(SanType::IpAddress([10, 0, 0, 1].into()));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kube-apiserver");
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let serving = params.signed_by(&serving_key, &issuer).context("signing serving cert")?;

    let sa_key = KeyPair::generate().context("generating service-account key")?;

    let pki = Pki {
        dir: dir.to_path_buf(),
        ca_cert: dir.join("ca.crt"),
        ca_pem: ca_pem.clone(),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        sa_pub: dir.join("sa.pub"),
        sa_key: dir.join("sa.key"),
        token_file: dir.join("tokens.csv"),
        admin_token: token(),
        controller_manager_token: token(),
        scheduler_token: token(),
    };
    write(&pki.ca_cert, &ca_pem)?;
    write(&pki.serving_cert, &serving.pem())?;
    write(&pki.serving_key, &serving_key.serialize_pem())?;
    write(&pki.sa_pub, &sa_key.public_key_pem())?;
    write(&pki.sa_key, &sa_key.serialize_pem())?;
    // token,user,uid,"groups": a test cluster gives its components system:masters.
    let tokens = format!(
        "{},admin,admin,\"system:masters\"\n{},system:kube-controller-manager,kcm,\"system:masters\"\n{},system:kube-scheduler,scheduler,\"system:masters\"\n",
        pki.admin_token, pki.controller_manager_token, pki.scheduler_token
    );
    write(&pki.token_file, &tokens)?;
    Ok(pki)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        let pki = generate(dir.path()).unwrap();
        let ca = std::fs::read_to_string(&pki.ca_cert).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = std::fs::read_to_string(&pki.sa_key).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let tokens = std::fs::read_to_string(&pki.token_file).unwrap();
        assert!(tokens.contains(&pki.admin_token));
        assert_ne!(pki.admin_token, pki.scheduler_token);
    }
}
