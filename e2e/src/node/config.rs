//! The node's configuration files: containerd (Debian's 1.6, config schema v2), the CNI
//! network, the kubelet and kube-proxy. Pure functions of the node's layout.

use std::path::{Path, PathBuf};

use super::slot::Addresses;

/// Where everything of one node lives (below the cluster's state directory).
#[derive(Clone, Debug)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn containerd_config(&self) -> PathBuf {
        self.dir.join("containerd").join("config.toml")
    }
    pub fn containerd_socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.dir.join("cni").join("net.d")
    }
    pub fn registry_dir(&self) -> PathBuf {
        self.dir.join("containerd").join("certs.d")
    }
    pub fn kubelet_config(&self) -> PathBuf {
        self.dir.join("kubelet").join("config.yaml")
    }
    pub fn kubelet_kubeconfig(&self) -> PathBuf {
        self.dir.join("kubelet").join("kubeconfig")
    }
    pub fn kubelet_root(&self) -> PathBuf {
        self.dir.join("kubelet").join("root")
    }
    pub fn pod_logs(&self) -> PathBuf {
        self.dir.join("pod-logs")
    }
    pub fn kube_proxy_config(&self) -> PathBuf {
        self.dir.join("kube-proxy").join("config.yaml")
    }
    pub fn kube_proxy_kubeconfig(&self) -> PathBuf {
        self.dir.join("kube-proxy").join("kubeconfig")
    }
}

use crate::images::PAUSE_IMAGE;
/// Every registry resolves here: nothing listens, so a pull fails at once
/// (`ErrImagePull`, then `ImagePullBackOff`) without traffic leaving the machine.
pub const NO_REGISTRY: &str = "http://127.0.0.1:9";

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// containerd's config: all state below the node directory, cgroupfs, runc, the CNI bridge,
/// no registry.
pub fn containerd(layout: &Layout) -> String {
    let c = layout.dir.join("containerd");
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  max_container_log_line_size = 16384
  # These machines' root lacks CAP_SYS_RESOURCE, so the negative oom_score_adj the kubelet
  # asks for sandboxes (-998) makes runc fail ("can't get final child's PID from pipe");
  # this clamps it to containerd's own (0).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{registry}"
"#,
        root = p(&c.join("root")),
        state = p(&c.join("state")),
        socket = p(&layout.containerd_socket()),
        opt = p(&c.join("opt")),
        pause = PAUSE_IMAGE,
        cni = p(&layout.cni_conf_dir()),
        registry = p(&layout.registry_dir()),
    )
}

/// `certs.d/_default/hosts.toml`: every registry host goes to [`NO_REGISTRY`].
pub fn registry_default_hosts() -> String {
    format!("server = \"{NO_REGISTRY}\"\n\n[host.\"{NO_REGISTRY}\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
}

/// The Pod network: a bridge inside the node's namespace, host-local addresses from the
/// slot's Pod CIDR, the bridge as gateway (the kubelet probes Pods from the node), no
/// masquerading (Pods need no traffic beyond the node and the host), portmap for hostPorts.
pub fn cni(layout: &Layout, addr: Addresses) -> String {
    let v = serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "bp-e2e",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": addr.pod_cidr(), "gateway": addr.pod_gateway().to_string()}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": p(&layout.dir.join("cni").join("ipam")),
                }
            },
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    });
    format!("{v:#}\n")
}

/// The kubelet's configuration. Its API listens on the node IP only (x509 clients of the
/// cluster CA, webhook authorization), its healthz on the namespace's loopback.
pub fn kubelet(layout: &Layout, addr: Addresses, pki: &crate::pki::Pki) -> String {
    let v = serde_json::json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": addr.node_ip().to_string(),
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": p(&pki.node_serving_cert),
        "tlsPrivateKeyFile": p(&pki.node_serving_key),
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"enabled": true},
            "x509": {"clientCAFile": p(&pki.ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": format!("unix://{}", p(&layout.containerd_socket())),
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": format!("/{}", addr.cgroup()),
        "cgroupsPerQOS": true,
        "failCgroupV1": false,
        "failSwapOn": false,
        "podLogsDir": p(&layout.pod_logs()),
        // Images are imported, never pulled: never collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "rotateCertificates": false,
        "serverTLSBootstrap": false,
        "registerNode": true,
        "maxPods": 250,
        "resolvConf": "/etc/resolv.conf",
        // Its rules would only land in the node's namespace; kube-proxy does the work.
        "makeIPTablesUtilChains": false,
        "serializeImagePulls": false,
    });
    format!("{v:#}\n")
}

/// kube-proxy (iptables mode) inside the node's namespace: its conntrack settings are left
/// to the kernel (`0`), since the namespace cannot change the host's.
pub fn kube_proxy(layout: &Layout, addr: Addresses, node_name: &str) -> String {
    let v = serde_json::json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": p(&layout.kube_proxy_kubeconfig())},
        "hostnameOverride": node_name,
        "mode": "iptables",
        "clusterCIDR": addr.pod_cidr(),
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [format!("{}/32", addr.node_ip())],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    });
    format!("{v:#}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout { dir: PathBuf::from("/s/node") }
    }

    #[test]
    fn containerd_keeps_everything_under_the_node_directory() {
        let text = containerd(&layout());
        let value: toml_check::Value = toml_check::parse(&text);
        assert_eq!(value.get("root"), Some("/s/node/containerd/root"));
        assert_eq!(value.get("state"), Some("/s/node/containerd/state"));
        assert!(text.contains("restrict_oom_score_adj = true"));
        assert!(text.contains(&format!("sandbox_image = \"{PAUSE_IMAGE}\"")));
        assert!(text.contains("config_path = \"/s/node/containerd/certs.d\""));
    }

    #[test]
    fn the_pod_network_is_the_slots() {
        let v: serde_json::Value = serde_json::from_str(&cni(&layout(), Addresses { index: 3 })).unwrap();
        let bridge = &v["plugins"][0];
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.244.3.0/24");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["gateway"], "10.244.3.1");
        assert_eq!(bridge["isGateway"], true);
        assert_eq!(bridge["ipMasq"], false);
    }

    #[test]
    fn the_kubelet_serves_on_the_node_ip_and_uses_the_slots_cgroup() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = crate::pki::Hosts {
            api_ip: [10, 254, 3, 1].into(),
            service_ip: [10, 96, 0, 1].into(),
            node_name: "n".into(),
            node_ip: [10, 254, 3, 2].into(),
        };
        let pki = crate::pki::generate(dir.path(), &hosts).unwrap();
        let v: serde_json::Value = serde_json::from_str(&kubelet(&layout(), Addresses { index: 3 }, &pki)).unwrap();
        assert_eq!(v["address"], "10.254.3.2");
        assert_eq!(v["cgroupRoot"], "/bpe2e-3");
        assert_eq!(v["readOnlyPort"], 0);
        assert_eq!(v["authentication"]["anonymous"]["enabled"], false);
        assert_eq!(v["containerRuntimeEndpoint"], "unix:///s/node/containerd.sock");
        let kp: serde_json::Value = serde_json::from_str(&kube_proxy(&layout(), Addresses { index: 3 }, "n")).unwrap();
        assert_eq!(kp["clusterCIDR"], "10.244.3.0/24");
        assert_eq!(kp["conntrack"]["maxPerCore"], 0);
    }

    /// Just enough TOML reading for the top-level keys checked above.
    mod toml_check {
        pub struct Value(Vec<(String, String)>);
        impl Value {
            pub fn get(&self, key: &str) -> Option<&str> {
                self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
            }
        }
        pub fn parse(text: &str) -> Value {
            Value(
                text.lines()
                    .take_while(|l| !l.starts_with('['))
                    .filter_map(|l| l.split_once(" = "))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                    .collect(),
            )
        }
    }
}
