//! etcd, kube-apiserver, kube-controller-manager and kube-scheduler, each with its own free
//! port and state directory. etcd, the controller-manager and the scheduler listen on
//! loopback; the API server on the host end of the node's veth (the slot's host IP), where
//! the kubelet, kube-proxy and Pods (through the `kubernetes` Service) reach it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;

use crate::kubeconfig;
use crate::pki::{self, Pki};
use crate::procs::{ManagedProc, Mode, PidRecord};

/// What to start and where.
#[derive(Clone, Debug)]
pub struct Options {
    /// Everything of this cluster lives below it (pki/, etcd/, logs/, kubeconfigs).
    pub state_dir: PathBuf,
    /// Directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler.
    pub bin_dir: PathBuf,
    /// YAML files applied before the controller-manager starts (missing dir: nothing).
    pub crds_dir: Option<PathBuf>,
    pub mode: Mode,
    /// Append a [`PidRecord`] line here for each started process (for `bp-e2e down`).
    pub pid_file: Option<PathBuf>,
    /// Where the API server listens (an address of the node's veth).
    pub api_ip: std::net::Ipv4Addr,
    /// The certificates' node name and IP (the kubelet's credentials are made here too).
    pub node_name: String,
    pub node_ip: std::net::Ipv4Addr,
}

/// A running control plane.
pub struct ControlPlane {
    pub procs: Vec<ManagedProc>,
    pub server: String,
    pub pki: Pki,
    /// Admin kubeconfig (system:masters).
    pub kubeconfig: PathBuf,
    pub config: kube::Config,
}

impl ControlPlane {
    /// Stops every component, newest first (so nothing restarts against a dead etcd).
    pub fn stop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            p.stop(Duration::from_secs(5));
        }
        self.procs.clear();
    }

    /// Restarts one component with the same flags (same ports, same etcd data).
    pub fn restart(&mut self, name: &str) -> Result<PidRecord> {
        let p = self.procs.iter_mut().find(|p| p.name == name).ok_or_else(|| anyhow!("no component {name:?}"))?;
        p.restart(Duration::from_secs(10))?;
        Ok(p.record.clone())
    }

    /// Errors out if a component has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for p in &mut self.procs {
            if let Some(st) = p.exited() {
                bail!("{} exited ({st}); last log lines of {}:\n{}", p.name, p.log.display(), p.log_tail(30));
            }
        }
        Ok(())
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Picks `n` distinct free loopback ports (all held open until every one is chosen).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    free_ports_on(std::net::Ipv4Addr::LOCALHOST, n)
}

/// Picks `n` distinct free ports on `ip`.
pub fn free_ports_on(ip: std::net::Ipv4Addr, n: usize) -> Result<Vec<u16>> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..n {
        let l = std::net::TcpListener::bind((ip, 0)).with_context(|| format!("binding {ip}:0"))?;
        ports.push(l.local_addr().context("reading bound port")?.port());
        held.push(l);
    }
    Ok(ports)
}

/// Starts the control plane, retrying with new ports if another process took one of ours
/// between choosing and binding it.
pub async fn start(opts: &Options) -> Result<ControlPlane> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_start(opts).await {
            Ok(cp) => return Ok(cp),
            Err(e) if attempt < 3 && format!("{e:#}").contains("address already in use") => {
                tracing::warn!("control plane start attempt {attempt} lost a port race: {e:#}");
            }
            Err(e) => return Err(e),
        }
    }
}

fn dir(path: PathBuf) -> Result<PathBuf> {
    std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(path)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

async fn try_start(opts: &Options) -> Result<ControlPlane> {
    let state = dir(opts.state_dir.clone())?;
    let logs = dir(state.join("logs"))?;
    let hosts = pki::Hosts {
        api_ip: opts.api_ip.into(),
        service_ip: crate::node::slot::KUBERNETES_SERVICE_IP.into(),
        node_name: opts.node_name.clone(),
        node_ip: opts.node_ip.into(),
    };
    let pki = pki::generate(&state.join("pki"), &hosts)?;
    let ports = free_ports(4)?;
    let (etcd_port, peer_port, kcm_port, sched_port) = (ports[0], ports[1], ports[2], ports[3]);
    let api_port = free_ports_on(opts.api_ip, 1)?[0];
    let server = format!("https://{}:{api_port}", opts.api_ip);
    let bin = |name: &str| opts.bin_dir.join(name);

    let mut cp = ControlPlane {
        procs: Vec::new(),
        server: server.clone(),
        pki: pki.clone(),
        kubeconfig: state.join("kubeconfig"),
        config: kube::Config::new(server.parse().context("parsing server URL")?),
    };
    let spawn = |cp: &mut ControlPlane, name: &str, args: Vec<String>| -> Result<()> {
        let log = logs.join(format!("{name}.log"));
        let p = ManagedProc::spawn(name, &bin(name), &args, &log, opts.mode)?;
        if let Some(pid_file) = &opts.pid_file {
            let rec = PidRecord::of(name, p.pid()).unwrap_or_else(|| p.record.clone());
            crate::procs::append_record(pid_file, &rec)?;
        }
        cp.procs.push(p);
        Ok(())
    };

    // etcd: fsync off, this data is thrown away.
    let etcd_dir = dir(state.join("etcd"))?;
    let client_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    spawn(
        &mut cp,
        "etcd",
        vec![
            "--name=default".into(),
            format!("--data-dir={}", s(&etcd_dir.join("data"))),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ],
    )?;
    wait_port(&mut cp, etcd_port, Duration::from_secs(30), "etcd").await?;

    let api_dir = dir(state.join("apiserver"))?;
    spawn(
        &mut cp,
        "kube-apiserver",
        vec![
            format!("--etcd-servers={client_url}"),
            format!("--bind-address={}", opts.api_ip),
            format!("--advertise-address={}", opts.api_ip),
            format!("--secure-port={api_port}"),
            format!("--cert-dir={}", s(&api_dir)),
            format!("--tls-cert-file={}", s(&pki.serving_cert)),
            format!("--tls-private-key-file={}", s(&pki.serving_key)),
            format!("--client-ca-file={}", s(&pki.ca_cert)),
            format!("--token-auth-file={}", s(&pki.token_file)),
            // The Node authorizer and NodeRestriction hold the kubelet to its own node and Pods.
            "--authorization-mode=Node,RBAC".into(),
            "--enable-admission-plugins=NodeRestriction".into(),
            // Webhooks (and aggregated APIs) are called at their Service's endpoints: the API
            // server runs on the host, which routes to Pod IPs but not to ClusterIPs (only
            // kube-proxy in the node's namespace serves those).
            "--enable-aggregator-routing=true".into(),
            // logs, exec and port-forward: authenticated both ways.
            format!("--kubelet-client-certificate={}", s(&pki.kubelet_client_cert)),
            format!("--kubelet-client-key={}", s(&pki.kubelet_client_key)),
            format!("--kubelet-certificate-authority={}", s(&pki.ca_cert)),
            "--kubelet-preferred-address-types=InternalIP".into(),
            format!("--service-cluster-ip-range={}", crate::node::slot::SERVICE_CIDR),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", s(&pki.sa_pub)),
            format!("--service-account-signing-key-file={}", s(&pki.sa_key)),
            // The default (lease) reconciler publishes this server as the endpoint of the
            // `kubernetes` Service, which kube-proxy routes Pods to.
            "--enable-priority-and-fairness=false".into(),
            "--allow-privileged=true".into(),
            "--profiling=false".into(),
            "--v=0".into(),
        ],
    )?;
    kubeconfig::write(&cp.kubeconfig, &server, &pki.ca_pem, "admin", &pki.admin_token)?;
    cp.config = kubeconfig::load_config(&cp.kubeconfig).await?;
    let client = kube::Client::try_from(cp.config.clone()).context("building admin client")?;
    wait_readyz(&mut cp, &client, Duration::from_secs(90)).await?;

    if let Some(crds) = &opts.crds_dir {
        apply_dir(&client, crds).await.with_context(|| format!("applying {}", crds.display()))?;
    }

    let kcm_dir = dir(state.join("controller-manager"))?;
    let kcm_kc = kcm_dir.join("kubeconfig");
    kubeconfig::write(&kcm_kc, &server, &pki.ca_pem, "system:kube-controller-manager", &pki.controller_manager_token)?;
    spawn(
        &mut cp,
        "kube-controller-manager",
        vec![
            format!("--kubeconfig={}", s(&kcm_kc)),
            format!("--authentication-kubeconfig={}", s(&kcm_kc)),
            format!("--authorization-kubeconfig={}", s(&kcm_kc)),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={kcm_port}"),
            format!("--cert-dir={}", s(&kcm_dir)),
            "--leader-elect=false".into(),
            format!("--service-account-private-key-file={}", s(&pki.sa_key)),
            format!("--root-ca-file={}", s(&pki.ca_cert)),
            "--use-service-account-credentials=false".into(),
            // No cloud, no pod CIDRs, no load balancers, no routes on this node.
            "--controllers=*,-node-ipam-controller,-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller".into(),
            "--v=0".into(),
        ],
    )?;
    let sched_dir = dir(state.join("scheduler"))?;
    let sched_kc = sched_dir.join("kubeconfig");
    kubeconfig::write(&sched_kc, &server, &pki.ca_pem, "system:kube-scheduler", &pki.scheduler_token)?;
    spawn(
        &mut cp,
        "kube-scheduler",
        vec![
            format!("--kubeconfig={}", s(&sched_kc)),
            format!("--authentication-kubeconfig={}", s(&sched_kc)),
            format!("--authorization-kubeconfig={}", s(&sched_kc)),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={sched_port}"),
            format!("--cert-dir={}", s(&sched_dir)),
            "--leader-elect=false".into(),
            "--v=0".into(),
        ],
    )?;
    wait_port(&mut cp, kcm_port, Duration::from_secs(60), "kube-controller-manager").await?;
    wait_port(&mut cp, sched_port, Duration::from_secs(60), "kube-scheduler").await?;
    Ok(cp)
}

async fn wait_port(cp: &mut ControlPlane, port: u16, timeout: Duration, what: &str) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        cp.check_alive()?;
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what} did not listen on 127.0.0.1:{port} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_readyz(cp: &mut ControlPlane, client: &kube::Client, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        cp.check_alive()?;
        let req = http::Request::get("/readyz").body(Vec::new()).context("building /readyz request")?;
        let last = match client.request_text(req).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(body) => body,
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            bail!("kube-apiserver not ready within {timeout:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Server-side-applies every YAML document of every `*.yaml`/`*.yml`/`*.json` file in
/// `dir` (sorted by name), waiting for CRDs to be Established. A missing dir is fine.
pub async fn apply_dir(client: &kube::Client, dir: &Path) -> Result<usize> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")))
        .collect();
    files.sort();
    let mut n = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        n += apply_yaml(client, &text).await.with_context(|| format!("applying {}", f.display()))?;
    }
    Ok(n)
}

/// Applies a multi-document YAML string; returns how many objects were applied.
pub async fn apply_yaml(client: &kube::Client, text: &str) -> Result<usize> {
    use serde::Deserialize;
    let mut n = 0;
    let mut crds = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(doc).context("parsing YAML document")?;
        if value.is_null() {
            continue;
        }
        let obj: DynamicObject = serde_json::from_value(value.clone()).context("document is not an object")?;
        let types = obj.types.clone().ok_or_else(|| anyhow!("document without apiVersion/kind"))?;
        let name = obj.metadata.name.clone().ok_or_else(|| anyhow!("{} without metadata.name", types.kind))?;
        let gvk =
            GroupVersionKind::try_from(&types).map_err(|e| anyhow!("bad apiVersion {}: {e}", types.api_version))?;
        let (ar, caps) =
            kube::discovery::pinned_kind(client, &gvk).await.with_context(|| format!("discovering {}", types.kind))?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(client.clone(), &ar),
            Scope::Namespaced => {
                let ns = obj.metadata.namespace.as_deref().unwrap_or("default");
                Api::namespaced_with(client.clone(), ns, &ar)
            }
        };
        api.patch(&name, &PatchParams::apply("bp-e2e").force(), &Patch::Apply(&value))
            .await
            .with_context(|| format!("applying {} {name}", types.kind))?;
        if types.kind == "CustomResourceDefinition" {
            crds.push(name);
        }
        n += 1;
    }
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in crds {
        let cond = kube::runtime::conditions::is_crd_established();
        tokio::time::timeout(Duration::from_secs(30), kube::runtime::wait::await_condition(api.clone(), &name, cond))
            .await
            .with_context(|| format!("CRD {name} not Established within 30s"))?
            .with_context(|| format!("waiting for CRD {name}"))?;
    }
    Ok(n)
}
