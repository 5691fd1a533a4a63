//! Kubeconfig files (written as JSON, which every kubeconfig reader accepts as YAML).

use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// A kubeconfig for `server` trusting `ca_pem` and authenticating with a bearer `token`.
pub fn render(server: &str, ca_pem: &str, user: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let v = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bp-e2e", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "bp-e2e", "context": {"cluster": "bp-e2e", "user": user}}],
        "current-context": "bp-e2e",
    });
    format!("{v:#}\n")
}

/// A kubeconfig for `server` trusting `ca_pem` and authenticating with a client
/// certificate (files referenced by path).
pub fn render_cert(server: &str, ca_pem: &str, user: &str, cert: &Path, key: &Path) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let v = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bp-e2e", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"client-certificate": cert, "client-key": key}}],
        "contexts": [{"name": "bp-e2e", "context": {"cluster": "bp-e2e", "user": user}}],
        "current-context": "bp-e2e",
    });
    format!("{v:#}\n")
}

/// Writes a kubeconfig readable only by the owner (it holds a token).
pub fn write(path: &Path, server: &str, ca_pem: &str, user: &str, token: &str) -> Result<()> {
    write_private(path, &render(server, ca_pem, user, token))
}

/// Writes `text` to a file readable only by the owner.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating kubeconfig {}", path.display()))?;
    f.write_all(text.as_bytes()).with_context(|| format!("writing kubeconfig {}", path.display()))
}

/// A kube-rs client configuration from a kubeconfig file.
pub async fn load_config(path: &Path) -> Result<kube::Config> {
    crate::install_crypto_provider();
    let kc = Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {}", path.display()))?;
    kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", path.display()))
}

/// A client from a kubeconfig file (must be called inside a tokio runtime; the client lives
/// on that runtime).
pub async fn client(path: &Path) -> Result<kube::Client> {
    let cfg = load_config(path).await?;
    kube::Client::try_from(cfg).context("building kube client")
}
