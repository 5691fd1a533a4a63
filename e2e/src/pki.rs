//! The cluster's PKI: a CA (its key kept), the apiserver's serving and kubelet-client
//! certificates, the node's client and serving certificates, the service-account key pair
//! and static bearer tokens. ECDSA P-256 keys throughout (kube-apiserver accepts them for
//! serving and for signing service-account tokens).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rand::Rng;
use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Paths and secrets of a generated PKI. The CA key stays in the directory (`ca.key`), so
/// more certificates can be signed for this cluster later.
#[derive(Clone, Debug)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub ca_pem: String,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    /// The apiserver's client certificate towards kubelets (`system:masters`), for logs,
    /// exec and port-forward.
    pub kubelet_client_cert: PathBuf,
    pub kubelet_client_key: PathBuf,
    /// The node's credentials: `system:node:<node>` in `system:nodes` (Node authorizer).
    pub node_client_cert: PathBuf,
    pub node_client_key: PathBuf,
    /// The kubelet's serving certificate (its API on the node IP), signed by the CA.
    pub node_serving_cert: PathBuf,
    pub node_serving_key: PathBuf,
    pub sa_pub: PathBuf,
    pub sa_key: PathBuf,
    pub token_file: PathBuf,
    pub admin_token: String,
    pub controller_manager_token: String,
    pub scheduler_token: String,
    /// `system:kube-proxy`, bound to `system:node-proxier` by the default RBAC policy.
    pub kube_proxy_token: String,
}

/// The addresses the certificates are issued for.
#[derive(Clone, Debug)]
pub struct Hosts {
    /// Where the API server listens (besides 127.0.0.1).
    pub api_ip: IpAddr,
    /// The `kubernetes` Service's ClusterIP (Pods reach the API server through it).
    pub service_ip: IpAddr,
    pub node_name: String,
    pub node_ip: IpAddr,
}

fn token() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    hex::encode(bytes)
}

/// Keys and tokens are readable by the owner only.
fn write(path: &Path, contents: &str) -> Result<()> {
    crate::kubeconfig::write_private(path, contents)
}

fn name(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    dn
}

/// Signs a leaf certificate and writes `<stem>.crt` and `<stem>.key`.
fn leaf(
    dir: &Path,
    stem: &str,
    issuer: &Issuer<'_, KeyPair>,
    dn: DistinguishedName,
    dns: &[&str],
    ips: &[IpAddr],
    usage: ExtendedKeyUsagePurpose,
) -> Result<(PathBuf, PathBuf)> {
    let key = KeyPair::generate().with_context(|| format!("generating {stem} key"))?;
    let mut params = CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>())
        .with_context(|| format!("{stem} params"))?;
    params.subject_alt_names.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).with_context(|| format!("signing {stem} cert"))?;
    let (crt, k) = (dir.join(format!("{stem}.crt")), dir.join(format!("{stem}.key")));
    write(&crt, &cert.pem())?;
    write(&k, &key.serialize_pem())?;
    Ok((crt, k))
}

/// Generates everything into `dir` (created if needed).
pub fn generate(dir: &Path, hosts: &Hosts) -> Result<Pki> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;

    let ca_key = KeyPair::generate().context("generating CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
    ca_params.distinguished_name = name("bp-e2e-ca", None);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).context("self-signing CA")?;
    let ca_pem = ca_cert.pem();
    write(&dir.join("ca.key"), &ca_key.serialize_pem())?;
    let issuer = Issuer::new(ca_params, ca_key);

    let loopback: IpAddr = [127, 0, 0, 1].into();
    let (serving_cert, serving_key) = leaf(
        dir,
        "apiserver",
        &issuer,
        name("kube-apiserver", None),
        &[
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        &[loopback, hosts.api_ip, hosts.service_ip],
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (kubelet_client_cert, kubelet_client_key) = leaf(
        dir,
        "apiserver-kubelet-client",
        &issuer,
        name("kube-apiserver-kubelet-client", Some("system:masters")),
        &[],
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    let node_user = format!("system:node:{}", hosts.node_name);
    let (node_client_cert, node_client_key) = leaf(
        dir,
        "node-client",
        &issuer,
        name(&node_user, Some("system:nodes")),
        &[],
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    let (node_serving_cert, node_serving_key) = leaf(
        dir,
        "node-serving",
        &issuer,
        name(&hosts.node_name, None),
        &[&hosts.node_name],
        &[hosts.node_ip],
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;

    let sa_key = KeyPair::generate().context("generating service-account key")?;
    let pki = Pki {
        dir: dir.to_path_buf(),
        ca_cert: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        ca_pem: ca_pem.clone(),
        serving_cert,
        serving_key,
        kubelet_client_cert,
        kubelet_client_key,
        node_client_cert,
        node_client_key,
        node_serving_cert,
        node_serving_key,
        sa_pub: dir.join("sa.pub"),
        sa_key: dir.join("sa.key"),
        token_file: dir.join("tokens.csv"),
        admin_token: token(),
        controller_manager_token: token(),
        scheduler_token: token(),
        kube_proxy_token: token(),
    };
    write(&pki.ca_cert, &ca_pem)?;
    write(&pki.sa_pub, &sa_key.public_key_pem())?;
    write(&pki.sa_key, &sa_key.serialize_pem())?;
    // token,user,uid,"groups": a test cluster gives its control-plane components
    // system:masters; kube-proxy gets only what the default policy grants it.
    let tokens = format!(
        "{},admin,admin,\"system:masters\"\n{},system:kube-controller-manager,kcm,\"system:masters\"\n{},system:kube-scheduler,scheduler,\"system:masters\"\n{},system:kube-proxy,kube-proxy\n",
        pki.admin_token, pki.controller_manager_token, pki.scheduler_token, pki.kube_proxy_token
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
        let hosts = Hosts {
            api_ip: [10, 254, 0, 1].into(),
            service_ip: [10, 96, 0, 1].into(),
            node_name: "n".into(),
            node_ip: [10, 254, 0, 2].into(),
        };
        let pki = generate(dir.path(), &hosts).unwrap();
        assert!(std::fs::read_to_string(&pki.ca_key).unwrap().contains("PRIVATE KEY"));
        assert!(std::fs::read_to_string(&pki.token_file).unwrap().contains(",system:kube-proxy,kube-proxy\n"));
        let ca = std::fs::read_to_string(&pki.ca_cert).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = std::fs::read_to_string(&pki.sa_key).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let tokens = std::fs::read_to_string(&pki.token_file).unwrap();
        assert!(tokens.contains(&pki.admin_token));
        assert_ne!(pki.admin_token, pki.scheduler_token);
    }
}
