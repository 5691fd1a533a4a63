//! `bp-operator`: runs the BuilderPlayground controller and its metrics and health server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use bp_operator::leader::LeaderElection;
use bp_operator::run::{Settings, WebhookCerts, WebhookSettings, run};
use bp_operator::webhook::certs::{self, ManagedCerts};
use clap::Parser;
use tracing::error;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keeps the operator's heap in 4 KiB pages. Its objects are small and scattered over the
/// allocator's arenas: on a host whose transparent huge pages are on (`always`, or `madvise`
/// with an allocator that asks for them) each touched arena region becomes 2 MiB of resident
/// memory. Measured with 100 playgrounds whose Pods are never scheduled, on the cluster of
/// `e2e/`: 39 MiB resident with huge pages, 26 MiB without. Best effort: kernels without it
/// ignore it.
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

#[derive(Parser)]
#[command(name = "bp-operator", version, about = "Runs builder-playground devnets on Kubernetes")]
struct Args {
    /// Address of the metrics and health server.
    #[arg(long, env = "BP_METRICS_ADDR", default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
    /// Image the generator Jobs run (an image with bp-generator: the operator's own).
    #[arg(long, env = "BP_GENERATOR_IMAGE", default_value = concat!("ghcr.io/flashbots/builder-playground-operator:", env!("CARGO_PKG_VERSION")))]
    generator_image: String,
    /// Watch only this namespace (default: all).
    #[arg(long, env = "BP_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Retries of a failing generator Pod before its Job fails.
    #[arg(long, default_value_t = 2)]
    generator_backoff_limit: i32,
    /// Seconds a generator Job may run.
    #[arg(long, default_value_t = 600)]
    generator_deadline: i64,
    /// Host directories under which `local-path` playgrounds may keep their files
    /// (comma-separated); a playground whose `spec.storage.path` lies elsewhere is invalid.
    #[arg(long, env = "BP_ALLOWED_HOST_PATHS", value_delimiter = ',', default_value = bp_generator::podspec::DEFAULT_STORAGE_PATH)]
    allowed_host_paths: Vec<String>,
    /// Reconcile only while holding the leader Lease, so that several replicas can run.
    #[arg(long, env = "BP_LEADER_ELECT")]
    leader_elect: bool,
    /// Namespace of the leader Lease (the chart sets the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "builder-playground-operator")]
    leader_election_lease: String,
    /// Serve the validating admission webhook (HTTPS, path /validate-builderplayground) on
    /// this address; off when unset. Needs --webhook-tls-secret or --webhook-cert-dir.
    #[arg(long, env = "BP_WEBHOOK_ADDR")]
    webhook_addr: Option<SocketAddr>,
    /// The webhook's certificate is made, stored in this Secret (NAMESPACE/NAME), and renewed
    /// by the operator.
    #[arg(long, env = "BP_WEBHOOK_TLS_SECRET", conflicts_with = "webhook_cert_dir", value_parser = namespaced)]
    webhook_tls_secret: Option<(String, String)>,
    /// The ValidatingWebhookConfiguration whose webhooks get the operator's CA as caBundle.
    #[arg(long, env = "BP_WEBHOOK_CONFIG", requires = "webhook_tls_secret")]
    webhook_config: Option<String>,
    /// The Service in front of the webhook (in the Secret's namespace): the certificate is for
    /// <service>.<namespace>.svc and <service>.<namespace>.svc.cluster.local.
    #[arg(long, env = "BP_WEBHOOK_SERVICE", requires = "webhook_tls_secret")]
    webhook_service: Option<String>,
    /// More names (DNS names or IP addresses, comma-separated) for the certificate, for a
    /// webhook configuration that names a URL.
    #[arg(long, env = "BP_WEBHOOK_HOSTS", value_delimiter = ',', requires = "webhook_tls_secret")]
    webhook_hosts: Vec<String>,
    /// Serve tls.crt and tls.key from this directory (e.g. cert-manager's Secret, mounted)
    /// instead; they are read again when they change.
    #[arg(long, env = "BP_WEBHOOK_CERT_DIR")]
    webhook_cert_dir: Option<PathBuf>,
}

/// NAMESPACE/NAME.
fn namespaced(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => Ok((ns.into(), name.into())),
        _ => Err(format!("{text:?} is not NAMESPACE/NAME")),
    }
}

/// The webhook's settings, or why the flags do not make one.
fn webhook(args: &Args) -> Result<Option<WebhookSettings>, String> {
    let Some(addr) = args.webhook_addr else { return Ok(None) };
    let certs = match (&args.webhook_tls_secret, &args.webhook_cert_dir) {
        (Some((namespace, secret)), None) => WebhookCerts::Managed(ManagedCerts {
            namespace: namespace.clone(),
            secret: secret.clone(),
            webhook_config: args.webhook_config.clone(),
            names: certs::subject_alt_names(args.webhook_service.as_deref(), namespace, &args.webhook_hosts),
            check_every: certs::CHECK_EVERY,
        }),
        (None, Some(dir)) => WebhookCerts::Dir(dir.clone()),
        _ => return Err("--webhook-addr needs --webhook-tls-secret or --webhook-cert-dir".into()),
    };
    if let WebhookCerts::Managed(m) = &certs
        && m.names.is_empty()
    {
        return Err(
            "--webhook-tls-secret needs --webhook-service or --webhook-hosts: the names of the certificate".into()
        );
    }
    Ok(Some(WebhookSettings { addr, certs }))
}

/// Who this replica is in the election: its Pod's name, else host and process.
fn identity() -> String {
    std::env::var("POD_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    let args = Args::parse();
    init_logging();
    let webhook = match webhook(&args) {
        Ok(w) => w,
        Err(message) => {
            error!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(1);
        }
    };
    let settings = Settings {
        metrics_addr: args.metrics_addr,
        generator_image: args.generator_image,
        namespace: args.namespace,
        generator_backoff_limit: args.generator_backoff_limit,
        generator_deadline_seconds: args.generator_deadline,
        allowed_host_paths: args
            .allowed_host_paths
            .into_iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        kube_config: None,
        leader_election: args.leader_elect.then(|| LeaderElection {
            namespace: args.leader_election_namespace,
            lease: args.leader_election_lease,
            identity: identity(),
        }),
        webhook,
    };
    match runtime.block_on(run(settings, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::from(1)
        }
    }
}

/// `LOG_FORMAT=json|plain` (default plain), filter from `RUST_LOG` (default info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube_client::client::builder=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// SIGTERM (Kubernetes stopping the Pod) or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from([&["bp-operator"], extra].concat())
    }

    #[test]
    fn the_webhook_is_off_unless_given_an_address() {
        assert!(webhook(&args(&[]).unwrap()).unwrap().is_none());
    }

    #[test]
    fn a_managed_certificate_is_for_the_services_names() {
        let a = args(&[
            "--webhook-addr=0.0.0.0:9443",
            "--webhook-tls-secret=bp-system/bpo-webhook-tls",
            "--webhook-config=bpo",
            "--webhook-service=bpo-webhook",
        ])
        .unwrap();
        let settings = webhook(&a).unwrap().unwrap();
        assert_eq!(settings.addr, "0.0.0.0:9443".parse().unwrap());
        let WebhookCerts::Managed(m) = settings.certs else { panic!("managed") };
        assert_eq!(
            (m.namespace.as_str(), m.secret.as_str(), m.webhook_config.as_deref()),
            ("bp-system", "bpo-webhook-tls", Some("bpo"))
        );
        assert_eq!(m.names, ["bpo-webhook.bp-system.svc", "bpo-webhook.bp-system.svc.cluster.local"]);
    }

    #[test]
    fn contradictory_or_incomplete_flags_are_refused() {
        assert!(args(&["--webhook-tls-secret=no-slash"]).is_err());
        assert!(args(&["--webhook-tls-secret=a/b", "--webhook-cert-dir=/certs"]).is_err());
        assert!(args(&["--webhook-config=x"]).is_err(), "a configuration to fill needs the managed certificate");
        let no_certs = webhook(&args(&["--webhook-addr=127.0.0.1:9443"]).unwrap()).unwrap_err();
        assert_eq!(no_certs, "--webhook-addr needs --webhook-tls-secret or --webhook-cert-dir");
        let no_names = webhook(&args(&["--webhook-addr=127.0.0.1:9443", "--webhook-tls-secret=a/b"]).unwrap());
        assert!(no_names.unwrap_err().contains("--webhook-service or --webhook-hosts"));
        let dir = webhook(&args(&["--webhook-addr=127.0.0.1:9443", "--webhook-cert-dir=/certs"]).unwrap()).unwrap();
        assert!(matches!(dir.unwrap().certs, WebhookCerts::Dir(d) if d == std::path::Path::new("/certs")));
    }
}
