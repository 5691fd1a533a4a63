//! Preparing a container launch: environment, command line, ServiceAccount kubeconfig.

use std::path::PathBuf;

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};

use super::Worker;
use crate::node::env::{self, EnvList, PodFacts};
use crate::node::process::Launch;

impl Worker {
    /// Resolves environment, command and where the process runs.
    pub(super) async fn prepare(&mut self, i: usize) -> Result<Launch, (String, String)> {
        let cfg_err = |m: String| ("CreateContainerConfigError".to_string(), m);
        let create_err = |m: String| ("CreateContainerError".to_string(), m);
        let spec = self.ctrs[i].spec.clone();
        let mapping = self.ctrs[i].mapping.clone();
        let ctx = self.ctx.clone();
        let cfg = &ctx.cfg;
        let facts = PodFacts {
            pod: &self.pod,
            pod_ip: &cfg.host_ip,
            host_ip: &cfg.host_ip,
            node_name: &cfg.node_name,
            capacity: &cfg.capacity,
        };
        let own = env::resolve(&ctx.client, &facts, &spec).await.map_err(|e| cfg_err(e.0))?;

        let cwd = self.dir.join(&spec.name);
        let run_dir = cwd.join("root");
        std::fs::create_dir_all(&run_dir).map_err(|e| create_err(format!("creating {}: {e}", run_dir.display())))?;
        let attempt = if self.ctrs[i].ever_started { self.ctrs[i].restarts + 1 } else { 0 };
        let log = cwd.join(format!("{attempt}.log"));

        let mut full = EnvList::default();
        let mut path = String::from("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        if let Some(m) = &mapping {
            path = format!("{}:{path}", m.bin_dir.display());
        }
        full.set("PATH", path);
        full.set("HOSTNAME", self.name.clone());
        full.set("HOME", run_dir.display().to_string());
        // Coverage and backtrace settings of the harness reach the project's binaries.
        for (k, v) in std::env::vars() {
            if k == "LLVM_PROFILE_FILE" || k.starts_with("CARGO_LLVM_COV") || k == "RUST_BACKTRACE" {
                full.set(&k, v);
            }
        }
        if mapping.is_some()
            && let Some(kc) = self.service_account_kubeconfig().await.map_err(cfg_err)?
        {
            full.set("KUBECONFIG", kc.display().to_string());
        }
        for (k, v) in own.vars() {
            full.set(k, v.clone());
        }
        let lookup = |n: &str| own.get(n);
        let expand = |v: &Vec<String>| -> Vec<String> { v.iter().map(|s| env::expand(s, &lookup)).collect() };
        let command = spec.command.as_ref().map(expand).unwrap_or_default();
        let args = spec.args.as_ref().map(expand).unwrap_or_default();
        let env = full.into_vec();

        let (program, argv, netns) = match &mapping {
            Some(m) => {
                let (prog, mut argv) = if let Some((first, rest)) = command.split_first() {
                    (m.lookup(first), rest.to_vec())
                } else if let Some(entry) = &m.entrypoint {
                    (m.lookup(entry), Vec::new())
                } else if let Some((first, rest)) = args.split_first() {
                    (m.lookup(first), rest.to_vec())
                } else {
                    return Err(create_err(format!(
                        "image {:?} is mapped to {} without an entrypoint and the container has no command",
                        spec.image.as_deref().unwrap_or(""),
                        m.bin_dir.display()
                    )));
                };
                if !command.is_empty() || m.entrypoint.is_some() {
                    argv.extend(args.iter().cloned());
                }
                (prog, argv, None)
            }
            None => {
                let ns = match (&self.netns, &self.netns_error) {
                    (Some(ns), _) => Some(ns.clone()),
                    (None, Some(e)) => return Err(create_err(e.clone())),
                    // hostNetwork
                    (None, None) => None,
                };
                let mut argv = vec![
                    "emulate".to_string(),
                    "--container".into(),
                    spec.name.clone(),
                    "--image".into(),
                    spec.image.clone().unwrap_or_default(),
                ];
                for p in spec.ports.iter().flatten() {
                    if p.protocol.as_deref().unwrap_or("TCP") == "TCP" {
                        argv.push("--port".into());
                        argv.push(p.container_port.to_string());
                    }
                }
                argv.push("--".into());
                argv.extend(command.iter().cloned());
                argv.extend(args.iter().cloned());
                (cfg.helper_bin.clone(), argv, ns)
            }
        };
        Ok(Launch { program, args: argv, env, cwd: run_dir, log, netns, mode: cfg.mode })
    }

    /// A kubeconfig carrying a token of the Pod's ServiceAccount (TokenRequest API, bound
    /// to the Pod), so RBAC applies to mapped processes as in a cluster. None when the Pod
    /// opts out of token automounting.
    async fn service_account_kubeconfig(&mut self) -> Result<Option<PathBuf>, String> {
        if let Some(kc) = &self.kubeconfig {
            return Ok(Some(kc.clone()));
        }
        let spec = self.pod.spec.clone().unwrap_or_default();
        if spec.automount_service_account_token == Some(false) {
            return Ok(None);
        }
        let sa = spec.service_account_name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "default".into());
        let api: Api<ServiceAccount> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let req = TokenRequest {
            spec: TokenRequestSpec {
                audiences: Vec::new(),
                expiration_seconds: Some(24 * 3600),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: Some(self.name.clone()),
                    uid: Some(self.uid.clone()),
                }),
            },
            ..Default::default()
        };
        let got: TokenRequest = api
            .create_subresource("token", &sa, &PostParams::default(), &req)
            .await
            .map_err(|e| format!("requesting a token for serviceaccount {}/{sa}: {e}", self.ns))?;
        let token = got
            .status
            .map(|s| s.token)
            .ok_or_else(|| format!("TokenRequest for {}/{sa} returned no token", self.ns))?;
        let path = self.dir.join("kubeconfig");
        crate::kubeconfig::write(
            &path,
            &self.ctx.cfg.server,
            &self.ctx.cfg.ca_pem,
            &format!("system:serviceaccount:{}:{sa}", self.ns),
            &token,
        )
        .map_err(|e| format!("{e:#}"))?;
        self.kubeconfig = Some(path.clone());
        Ok(Some(path))
    }
}
