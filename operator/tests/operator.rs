//! The operator on the local Kubernetes of e2e/ (real control plane, real kubelet and
//! containerd): generator Jobs run the project's image as ordinary Pods under the Job's
//! ServiceAccount token, and the devnet's containers run the harness's stand-in images
//! (under the real images' names) with their volumes really mounted.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bp_generator::Rendered;
use bp_generator::api::{ARTIFACTS_DIR, BuilderPlaygroundStatus, GenerateSpec, Phase};
use bp_generator::cluster::read_rendered;
use bp_generator::podspec::{JWT_SECRET_KEY, jwt_secret_name};
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams};

const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// An example reaches Ready, phase Running, every service ready, with the ports of the
/// rendered allocation in its status; `bp_playground_ready` moves from 0 to 1.
async fn example_becomes_ready(file: &str, name: &str, services: usize) {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace(name).await.unwrap();
    apply(&client, &example(file, name, &ns)).await;
    let series = format!("bp_playground_ready{{name=\"{name}\",namespace=\"{ns}\"}}");
    wait_for(
        "the playground's ready gauge at 0",
        Duration::from_secs(30),
        async || metrics_page().await,
        |p| (metric(p, &series) == Some(0.0)).then_some(()),
    )
    .await;
    let pg = wait_condition(&client, &ns, name, "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let status = pg.status.clone().unwrap();
    assert_eq!(status.phase, Some(Phase::Running));
    assert_eq!(status.ready, Some(format!("{services}/{services}")));
    assert_eq!(status.service_statuses.len(), services);
    assert!(status.service_statuses.iter().all(|s| s.ready && s.state == "Running"), "{status:#?}");
    for type_ in ["Generated", "Deployed"] {
        assert_eq!(condition(&pg, type_).unwrap().status, "True", "{type_}");
    }
    // Ports in status equal the allocation the generator rendered into the ConfigMap.
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns).get(&format!("{name}-podspec")).await.unwrap();
    let (_, rendered) = read_rendered(&cm).unwrap();
    for sp in &rendered.ports.services {
        let want: Vec<(String, i32)> = sp.ports.iter().map(|p| (p.name.clone(), p.number)).collect();
        let got: Vec<(String, i32)> =
            status.service(&sp.service).unwrap().ports.iter().map(|p| (p.name.clone(), p.port)).collect();
        assert_eq!(got, want, "{}", sp.service);
    }
    let pod = pod(&client, &ns, name).await.unwrap();
    assert_eq!(status.pod_name.as_deref(), Some(name));
    let containers = pod.spec.as_ref().unwrap();
    assert_eq!(containers.init_containers.iter().flatten().count() + containers.containers.len(), services);
    volumes_are_mounted(env.cluster, &client, &ns, &pod).await;
    port_names_are_unique_and_draw_no_warning(env.cluster, &client, &ns, &status, &rendered, &pod).await;
    endpoints_reach_the_devnet(env.cluster, &ns, name, &status, &rendered).await;
    wait_for(
        "the playground's ready gauge at 1",
        Duration::from_secs(30),
        async || metrics_page().await,
        |p| (metric(p, &series) == Some(1.0)).then_some(()),
    )
    .await;
    let page = metrics_page().await;
    assert!(metric(&page, "bp_reconcile_total{result=\"success\"}").unwrap_or(0.0) >= 1.0, "{page}");
    assert!(metric(&page, "bp_generator_jobs_total{result=\"success\"}").unwrap_or(0.0) >= 1.0, "{page}");
    assert!(
        metric(&page, &format!("bp_playground_services_ready{{name=\"{name}\",namespace=\"{ns}\"}}"))
            == Some(services as f64)
    );
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// In every container of the playground's Pod, the storage volume is mounted at /artifacts
/// and the JWT file holds the playground's Secret, as seen from inside (kubectl exec).
async fn volumes_are_mounted(cluster: &bp_e2e::Cluster, client: &kube::Client, ns: &str, pod: &Pod) {
    let name = pod.metadata.name.clone().unwrap();
    let secret = Api::<Secret>::namespaced(client.clone(), ns).get(&jwt_secret_name(&name)).await.unwrap();
    let jwt = secret.data.unwrap()[JWT_SECRET_KEY].0.clone();
    let spec = pod.spec.clone().unwrap();
    let mut jwt_files = 0;
    for c in spec.init_containers.iter().flatten().chain(&spec.containers) {
        let exec = async |script: &str| {
            let out =
                cluster.kubectl(&["exec", "-n", ns, &name, "-c", &c.name, "--", "sh", "-c", script]).await.unwrap();
            assert!(out.status.success(), "{}: {script}: {}", c.name, String::from_utf8_lossy(&out.stderr));
            out.stdout
        };
        let mounts = String::from_utf8(exec("cat /proc/mounts").await).unwrap();
        assert!(mounts.lines().any(|l| l.split(' ').nth(1) == Some(ARTIFACTS_DIR)), "{}: {mounts}", c.name);
        for m in c.volume_mounts.iter().flatten().filter(|m| m.sub_path.as_deref() == Some(JWT_SECRET_KEY)) {
            assert_eq!(exec(&format!("cat {}", m.mount_path)).await, jwt, "{}: {}", c.name, m.mount_path);
            jwt_files += 1;
        }
    }
    assert!(jwt_files >= 2, "the EL and CL containers read one JWT ({jwt_files} found)");
}

/// Every container port of the Pod has a name of its own (at most 15 characters), the one its
/// service's status shows beside the service's own port name, and the Service's ports share
/// them. The API server answers the Pod the operator creates with no warning; the same Pod
/// with one port name repeated draws the warning that repeated names used to.
async fn port_names_are_unique_and_draw_no_warning(
    cluster: &bp_e2e::Cluster,
    client: &kube::Client,
    ns: &str,
    status: &BuilderPlaygroundStatus,
    rendered: &Rendered,
    pod: &Pod,
) {
    let spec = pod.spec.clone().unwrap();
    let all: Vec<&Container> = spec.init_containers.iter().flatten().chain(&spec.containers).collect();
    let mut names = BTreeSet::new();
    for c in &all {
        for p in c.ports.iter().flatten() {
            let n = p.name.clone().unwrap();
            assert!(bp_generator::names::is_iana_svc_name(&n), "{}: {n:?}", c.name);
            assert!(names.insert(n.clone()), "{}: port name {n:?} twice in the Pod", c.name);
        }
    }
    let mut shown = 0;
    for st in &status.service_statuses {
        let c = all.iter().find(|c| c.name == st.container).unwrap();
        for p in st.ports.iter() {
            let port = c.ports.iter().flatten().find(|cp| cp.name.as_deref() == Some(p.container_port_name.as_str()));
            assert_eq!(port.map(|cp| cp.container_port), Some(p.port), "{}: {p:?}", st.name);
            shown += 1;
        }
    }
    assert_eq!(shown, names.len() - udp_twins(&all), "status names every port (udp twins share theirs)");
    let svc = Api::<Service>::namespaced(client.clone(), ns).get(pod.metadata.name.as_deref().unwrap()).await.unwrap();
    for sp in svc.spec.unwrap().ports.unwrap() {
        assert!(names.contains(sp.name.as_deref().unwrap()), "Service port {sp:?} has a container port's name");
    }

    // The rendered Pod (what the operator creates), created again in a dry run.
    let dry_run = async |pod_spec: &k8s_openapi::api::core::v1::PodSpec| {
        let pod = Pod {
            metadata: kube::api::ObjectMeta { name: Some("warnings".into()), ..Default::default() },
            spec: Some(pod_spec.clone()),
            status: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pod.json");
        std::fs::write(&file, serde_json::to_vec(&pod).unwrap()).unwrap();
        let out =
            cluster.kubectl(&["create", "--dry-run=server", "-n", ns, "-f", file.to_str().unwrap()]).await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = dry_run(&rendered.pod_spec).await;
    assert!(!stderr.contains("Warning"), "the API server warned about the playground's Pod: {stderr}");
    let mut repeated = rendered.pod_spec.clone();
    let mut ports = repeated
        .init_containers
        .iter_mut()
        .flatten()
        .chain(repeated.containers.iter_mut())
        .filter_map(|c| c.ports.as_mut()?.first_mut());
    let first = ports.next().unwrap().name.clone();
    ports.next().unwrap().name = first;
    let stderr = dry_run(&repeated).await;
    assert!(stderr.contains("Warning") && stderr.contains("duplicate port name"), "{stderr}");
}

/// Ports a container declares for both tcp and udp (one status entry, two container ports,
/// one number).
fn udp_twins(containers: &[&Container]) -> usize {
    let mut twins = 0;
    for c in containers {
        let ports: Vec<_> = c.ports.iter().flatten().collect();
        let tcp = |n: i32| ports.iter().any(|p| p.container_port == n && p.protocol.as_deref() != Some("UDP"));
        twins += ports.iter().filter(|p| p.protocol.as_deref() == Some("UDP") && tcp(p.container_port)).count();
    }
    twins
}

/// `.status.endpoints` names every declared port at the Service's DNS name and at localhost,
/// `.status.rpcURL` is el's http port, `kubectl get bp -o wide` shows it (and only with
/// `-o wide`), and the README's `kubectl port-forward svc/<name> 8545:8545` reaches el's
/// JSON-RPC.
async fn endpoints_reach_the_devnet(
    cluster: &bp_e2e::Cluster,
    ns: &str,
    name: &str,
    status: &BuilderPlaygroundStatus,
    rendered: &Rendered,
) {
    let mut declared = 0;
    for sp in &rendered.ports.services {
        for p in sp.ports.iter().filter(|p| !p.hidden) {
            let e = status.endpoints.iter().find(|e| e.service == sp.service && e.port == p.name);
            let e = e.unwrap_or_else(|| panic!("no endpoint for {}/{}", sp.service, p.name));
            let scheme = p.scheme.as_deref().map(|s| format!("{s}://")).unwrap_or_default();
            assert_eq!(e.in_cluster.as_deref(), Some(format!("{scheme}{name}.{ns}.svc:{}", p.number).as_str()));
            assert_eq!(e.in_pod, format!("{scheme}localhost:{}", p.number));
            declared += 1;
        }
    }
    assert_eq!(status.endpoints.len(), declared);
    let rpc = format!("http://{name}.{ns}.svc:8545");
    assert_eq!(status.rpc_url.as_deref(), Some(rpc.as_str()));
    let get = async |wide: bool| {
        let mut args = vec!["get", "bp", name, "-n", ns];
        if wide {
            args.extend(["-o", "wide"]);
        }
        let out = cluster.kubectl(&args).await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let wide = get(true).await;
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "RECIPE", "PHASE", "READY", "AGE", "RPC", "EXPIRES"], "{wide}");
    // No lifetime: the Expires column is empty, so the RPC URL is the last word.
    assert_eq!(wide.lines().nth(1).unwrap().split_whitespace().last(), Some(rpc.as_str()), "{wide}");
    assert!(!get(false).await.contains("RPC"), "the RPC column is for -o wide");

    let local = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut forward = tokio::process::Command::new(bp_e2e::paths::kubectl())
        .args(["port-forward", "-n", ns, &format!("svc/{name}"), &format!("{local}:8545"), "--address", "127.0.0.1"])
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let answer = wait_for(
        "eth_chainId through kubectl port-forward svc/<name> 8545",
        Duration::from_secs(30),
        async || bp_e2e::http::post_json(([127, 0, 0, 1], local).into(), "/", body).await,
        |r| r.as_ref().ok().filter(|(_, a)| a.contains(r#""result":"0x"#)).cloned(),
    )
    .await;
    assert_eq!(answer.0, 200, "{answer:?}");
    let _ = forward.kill().await;
}

/// `kubectl explain` on the real API server prints each description as paragraphs that
/// kubectl wraps itself: the words are the doc comment's, and no line ends where the next word
/// would still have fit (the width is kubectl's own, read from a long description of a built-in
/// type).
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_explain_prints_descriptions_as_paragraphs() {
    let env = env().await;
    let description = async |field: &str| -> Vec<String> {
        let out = env.cluster.kubectl(&["explain", field]).await.unwrap();
        assert!(out.status.success(), "{field}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<String> = text
            .lines()
            .skip_while(|l| !l.starts_with("DESCRIPTION:"))
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .map(|l| l.trim_end().to_owned())
            .collect();
        let end = lines.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
        lines[..end].to_vec()
    };
    let width = description("pods.spec.terminationGracePeriodSeconds").await.iter().map(String::len).max().unwrap();
    assert!((60..=120).contains(&width), "kubectl wraps at {width}?");
    let cases = [
        (
            "builderplayground.spec.recipe",
            "The builder-playground recipe this devnet comes from (l1, opstack, buildernet, ...). A playground \
             that names a recipe and lists no services is generated in the cluster: builder-playground runs \
             `start <recipe>` in the generator Job (see `generate`). Otherwise informational.",
        ),
        (
            "bp.spec.services.readyCheck.queryURL",
            "An HTTP URL that answers when the service is ready. builder-playground asks it with `curl URL`, so \
             any HTTP answer counts; it becomes a tcpSocket probe on the URL's (remapped) port.",
        ),
        (
            "bp.status.endpoints.inCluster",
            "The address in the cluster, through the playground's Service: \
             `<scheme>://<playground>.<namespace>.svc:<port>` (`<host>:<port>` for ports that are not known to \
             speak HTTP or WebSocket). Unset while the Service is not in place.",
        ),
        (
            "bp.status.serviceStatuses.ports.containerPortName",
            "The name of its container port (the tcp one, for a port that is both tcp and udp), unique in the \
             Pod: `<container>-<port>`, shortened with a hash past 15 characters. The playground's Service \
             names its port so too.",
        ),
    ];
    for (field, want) in cases {
        let lines = description(field).await;
        assert!(lines.iter().all(|l| !l.is_empty()), "{field}: one paragraph: {lines:#?}");
        let words: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
        assert_eq!(words.join(" "), want, "{field}");
        for pair in lines.windows(2) {
            let next = pair[1].split_whitespace().next().unwrap();
            assert!(
                pair[0].len() + 1 + next.len() > width,
                "{field}: the line ends although {next:?} fits in {width} columns:\n{}",
                lines.join("\n")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn l1_example_becomes_ready() {
    example_becomes_ready("examples/l1.yaml", "l1", 6).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn opstack_example_becomes_ready() {
    example_becomes_ready("examples/opstack.yaml", "opstack", 10).await;
}

/// A changed spec makes a new generator Job and replaces the Pod; an unchanged one makes
/// nothing new. Deleting the Pod brings it back; deleting the ConfigMap regenerates it;
/// deleting the playground removes every child.
#[tokio::test(flavor = "multi_thread")]
async fn lifecycle() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("life").await.unwrap();
    let mut pg = example("examples/l1.yaml", "l1", &ns);
    apply(&client, &pg).await;
    wait_condition(&client, &ns, "l1", "Ready", "True", None, READY_TIMEOUT).await;
    let first_jobs = jobs(&client, &ns).await;
    assert_eq!(first_jobs.len(), 1);
    let first_pod = pod(&client, &ns, "l1").await.unwrap();

    // Unchanged spec: applied again (and a label touched), nothing new.
    pg.metadata.labels = Some(BTreeMap::from([("touched".to_owned(), "yes".to_owned())]));
    apply(&client, &pg).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = jobs(&client, &ns).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].metadata.uid, first_jobs[0].metadata.uid);
    assert_eq!(pod(&client, &ns, "l1").await.unwrap().metadata.uid, first_pod.metadata.uid);

    // Changed args: a new Job, a new Pod, the old Job removed.
    pg.spec.services[0].args.push("--log.stdout.format=json".into());
    apply(&client, &pg).await;
    let updated = wait_for(
        "a new Pod with the new args",
        READY_TIMEOUT,
        async || pod(&client, &ns, "l1").await,
        |p| {
            let p = p.as_ref()?;
            let el = p.spec.as_ref()?.init_containers.iter().flatten().find(|c| c.name == "el")?;
            (p.metadata.uid != first_pod.metadata.uid
                && el.args.as_ref()?.iter().any(|a| a == "--log.stdout.format=json"))
            .then(|| p.clone())
        },
    )
    .await;
    wait_condition(&client, &ns, "l1", "Ready", "True", None, READY_TIMEOUT).await;
    let names = |jobs: &[k8s_openapi::api::batch::v1::Job]| {
        jobs.iter().map(|j| j.metadata.name.clone().unwrap()).collect::<Vec<_>>()
    };
    let after = wait_for(
        "the old Job removed",
        Duration::from_secs(30),
        async || jobs(&client, &ns).await,
        |j| (j.len() == 1).then(|| j.clone()),
    )
    .await;
    assert_ne!(names(&after), names(&first_jobs), "a new generator Job");

    // The Pod deleted by hand comes back.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.delete("l1", &DeleteParams::default()).await.unwrap();
    wait_for(
        "the Pod back",
        READY_TIMEOUT,
        async || pod(&client, &ns, "l1").await,
        |p| {
            p.as_ref()
                .filter(|p| p.metadata.uid != updated.metadata.uid && p.metadata.deletion_timestamp.is_none())
                .map(|_| ())
        },
    )
    .await;
    wait_condition(&client, &ns, "l1", "Ready", "True", None, READY_TIMEOUT).await;

    // The ConfigMap deleted by hand is regenerated.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let old_cm = cms.get("l1-podspec").await.unwrap();
    cms.delete("l1-podspec", &DeleteParams::default()).await.unwrap();
    wait_for(
        "the ConfigMap regenerated",
        READY_TIMEOUT,
        async || cms.get_opt("l1-podspec").await.unwrap(),
        |cm| cm.as_ref().filter(|cm| cm.metadata.uid != old_cm.metadata.uid).map(|_| ()),
    )
    .await;

    // Deleting the playground removes every child.
    let secret: Api<Secret> = Api::namespaced(client.clone(), &ns);
    assert!(secret.get_opt("l1-jwt").await.unwrap().is_some());
    Api::<bp_generator::BuilderPlayground>::namespaced(client.clone(), &ns)
        .delete("l1", &DeleteParams::default())
        .await
        .unwrap();
    let lp = ListParams::default().labels("app.kubernetes.io/instance=l1");
    wait_for(
        "every child gone",
        Duration::from_secs(90),
        async || {
            let mut left = Vec::new();
            macro_rules! collect {
                ($t:ty, $kind:expr) => {
                    let items = Api::<$t>::namespaced(client.clone(), &ns).list_metadata(&lp).await.unwrap().items;
                    left.extend(items.into_iter().filter_map(|o| o.metadata.name).map(|n| format!("{}/{n}", $kind)));
                };
            }
            collect!(k8s_openapi::api::batch::v1::Job, "Job");
            collect!(ConfigMap, "ConfigMap");
            collect!(Pod, "Pod");
            collect!(Service, "Service");
            collect!(Secret, "Secret");
            collect!(ServiceAccount, "ServiceAccount");
            collect!(Role, "Role");
            collect!(RoleBinding, "RoleBinding");
            left
        },
        |left| left.is_empty().then_some(()),
    )
    .await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// An invalid spec: Ready=False/InvalidSpec naming service and field, a Warning event, no Job
/// and no Pod; fixing it recovers without restarting the operator.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_spec_then_fixed() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("invalid").await.unwrap();
    let mut pg = example("examples/l1.yaml", "bad", &ns);
    let good_arg = r#"{{Service "el" "authrpc" "http" ""}}"#.to_owned();
    let index = pg.spec.services[2].args.iter().position(|a| *a == good_arg).unwrap();
    pg.spec.services[2].args[index] = r#"{{Service "nope" "authrpc" "http" ""}}"#.into();
    apply(&client, &pg).await;
    let got = wait_condition(&client, &ns, "bad", "Ready", "False", Some("InvalidSpec"), Duration::from_secs(30)).await;
    let message = &condition(&got, "Ready").unwrap().message;
    assert_eq!(message, &format!(r#"service "beacon": args[{index}]: template refers to unknown service "nope""#));
    assert_eq!(got.status.unwrap().phase, Some(Phase::Failed));
    let warning = wait_for(
        "a Warning event",
        Duration::from_secs(30),
        async || events(&client, &ns).await,
        |evs| {
            evs.iter()
                .find(|e| e.type_.as_deref() == Some("Warning") && e.reason.as_deref() == Some("InvalidSpec"))
                .cloned()
        },
    )
    .await;
    assert!(warning.message.unwrap_or_default().contains("unknown service \"nope\""));
    assert!(jobs(&client, &ns).await.is_empty(), "no Job for an invalid spec");
    assert!(pod(&client, &ns, "bad").await.is_none(), "no Pod for an invalid spec");

    pg.spec.services[2].args[index] = good_arg;
    apply(&client, &pg).await;
    wait_condition(&client, &ns, "bad", "Ready", "True", None, READY_TIMEOUT).await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A failing generator: Generated=False with the generator's own reason, phase Failed.
#[tokio::test(flavor = "multi_thread")]
async fn generator_failure_is_reported() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("genfail").await.unwrap();
    let mut pg = example("examples/l1.yaml", "gen", &ns);
    pg.spec.generate =
        Some(GenerateSpec { image: Some(FAILING_BP_IMAGE.into()), args: vec!["cook".into(), "nope".into()] });
    pg.spec.services.clear();
    apply(&client, &pg).await;
    let got = wait_condition(&client, &ns, "gen", "Generated", "False", Some("GeneratorFailed"), READY_TIMEOUT).await;
    assert_eq!(condition(&got, "Generated").unwrap().message, FAILING_BP_MESSAGE);
    assert_eq!(got.status.as_ref().unwrap().phase, Some(Phase::Failed));
    // Counted right after the status write that the test has just seen.
    wait_for(
        "the failure counted",
        Duration::from_secs(10),
        async || metrics_page().await,
        |page| (metric(page, "bp_generator_jobs_total{result=\"failure\"}").unwrap_or(0.0) >= 1.0).then_some(()),
    )
    .await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A crashing service: not ready, with its restarts, and the playground Degraded.
#[tokio::test(flavor = "multi_thread")]
async fn crashing_service_degrades_the_playground() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("crash").await.unwrap();
    let mut pg = example("examples/l1.yaml", "crash", &ns);
    let relay = pg.spec.services.iter_mut().find(|s| s.name == "mev-boost-relay").unwrap();
    // The stand-in image's test hook: exit with this code a second after starting.
    relay.env.insert("BP_STANDIN_EXIT".into(), "3".into());
    apply(&client, &pg).await;
    let got = wait_for(
        "Degraded with restarts",
        READY_TIMEOUT,
        async || get(&client, &ns, "crash").await,
        |pg| {
            let status = pg.as_ref()?.status.as_ref()?;
            let relay = status.service("mev-boost-relay")?;
            (status.phase == Some(Phase::Degraded) && relay.restarts >= 2).then(|| status.clone())
        },
    )
    .await;
    let relay = got.service("mev-boost-relay").unwrap();
    assert!(!relay.ready);
    assert!(relay.message.contains("exit") || relay.message.contains("code 3"), "{relay:?}");
    assert!(got.service("el").unwrap().ready, "the others are fine");
    let ready = got.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "ServicesFailing"));
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// `/readyz` answers 200 once the watches synced; `/healthz` always.
#[tokio::test(flavor = "multi_thread")]
async fn health_endpoints() {
    let env = env().await;
    wait_for(
        "/readyz 200",
        Duration::from_secs(30),
        async || http_get(env.metrics, "/readyz").await,
        |r| r.as_ref().ok().filter(|(c, _)| *c == 200).map(|_| ()),
    )
    .await;
    assert_eq!(http_get(env.metrics, "/healthz").await.unwrap().0, 200);
    let page = metrics_page().await;
    for family in
        ["bp_reconcile_duration_seconds", "bp_api_requests_total", "process_resident_memory_bytes", "bp_playgrounds"]
    {
        assert!(page.contains(&format!("# TYPE {family}")), "{family} missing from /metrics");
    }
}

/// A literal endpoint with no meaning in a Pod (SPEC §8.7): left verbatim, deployed, and
/// surfaced as a Deployed reason and a Warning event.
#[tokio::test(flavor = "multi_thread")]
async fn render_warnings_are_surfaced() {
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("warn").await.unwrap();
    let mut pg = example("examples/l1.yaml", "warn", &ns);
    let relay = pg.spec.services.iter_mut().find(|s| s.name == "mev-boost-relay").unwrap();
    relay.args.extend(["--builder-url".to_owned(), "http://host.docker.internal:4444".to_owned()]);
    apply(&client, &pg).await;
    let got =
        wait_condition(&client, &ns, "warn", "Deployed", "True", Some("PodCreatedWithWarnings"), READY_TIMEOUT).await;
    assert!(condition(&got, "Deployed").unwrap().message.contains("refers to host.docker.internal"));
    let event = wait_for(
        "a Warning event",
        Duration::from_secs(30),
        async || events(&client, &ns).await,
        |evs| evs.iter().find(|e| e.reason.as_deref() == Some("PodCreatedWithWarnings")).cloned(),
    )
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let pod = pod(&client, &ns, "warn").await.unwrap();
    let relay = pod.spec.unwrap().containers.into_iter().find(|c| c.name == "mev-boost-relay").unwrap();
    assert!(relay.args.unwrap().contains(&"http://host.docker.internal:4444".to_owned()), "left verbatim");
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A Service the API server refuses (here a quota of no Services; at scale, a full service IP
/// range) does not keep the devnet from running: the Pod comes first and reaches Ready, the
/// refusal is the `Exposed` condition and a Warning event, and the Service follows once
/// the API server allows it.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_service_does_not_keep_the_devnet_from_running() {
    use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("noservice").await.unwrap();
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns);
    let quota = ResourceQuota {
        metadata: kube::api::ObjectMeta { name: Some("no-services".into()), ..Default::default() },
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([("services".to_owned(), Quantity("0".into()))])),
            ..Default::default()
        }),
        ..Default::default()
    };
    quotas.create(&Default::default(), &quota).await.unwrap();
    apply(&client, &example("examples/l1.yaml", "l1", &ns)).await;
    let pg = wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    let pg = if condition(&pg, "Exposed").is_some_and(|c| c.reason == "ServiceFailed") {
        pg
    } else {
        wait_condition(&client, &ns, "l1", "Exposed", "False", Some("ServiceFailed"), Duration::from_secs(30)).await
    };
    let exposed = condition(&pg, "Exposed").unwrap();
    assert!(exposed.message.contains("exceeded quota: no-services"), "{exposed:?}");
    assert_eq!(pg.status.as_ref().unwrap().phase, Some(Phase::Running));
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    assert!(services.get_opt("l1").await.unwrap().is_none());
    let event = wait_for(
        "a ServiceFailed Warning event",
        Duration::from_secs(30),
        async || events(&client, &ns).await,
        |evs| evs.iter().find(|e| e.reason.as_deref() == Some("ServiceFailed")).cloned(),
    )
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));

    quotas.delete("no-services", &DeleteParams::default()).await.unwrap();
    let pg =
        wait_condition(&client, &ns, "l1", "Exposed", "True", Some("ServiceApplied"), Duration::from_secs(60)).await;
    assert_eq!(condition(&pg, "Ready").unwrap().status, "True", "Ready all along");
    assert!(services.get_opt("l1").await.unwrap().is_some());
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// `spec.storage.path` outside the host directories the cluster allows (`/etc` here; the
/// operator runs with the default `/data/builder-playground`) is an invalid spec, naming the
/// field, and nothing is created: no generator Job, no Pod on the node's `/etc`.
#[tokio::test(flavor = "multi_thread")]
async fn a_host_path_outside_the_allowed_roots_is_refused() {
    use bp_generator::api::StorageSpec;
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("etc").await.unwrap();
    let mut pg = example("examples/l1.yaml", "kubernetes", &ns);
    pg.spec.storage = Some(StorageSpec { path: Some("/".into()), ..Default::default() });
    apply(&client, &pg).await;
    let got = wait_condition(&client, &ns, "kubernetes", "Ready", "False", Some("InvalidSpec"), READY_TIMEOUT).await;
    assert_eq!(
        condition(&got, "Ready").unwrap().message,
        "spec.storage.path: \"/\" is outside the host directories this cluster allows for playgrounds (/data/builder-playground): choose a path under one of them, or storage type pvc or ephemeral"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(jobs(&client, &ns).await.is_empty(), "no generator Job");
    assert!(pod(&client, &ns, "kubernetes").await.is_none(), "no Pod");
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A namespace whose Pod Security level is `baseline` refuses hostPath volumes: a playground
/// on local-path storage says so and what to use instead; with `ephemeral` storage the same
/// devnet (builder-playground's real l1 output folder, its artifacts in the bundle's Secrets)
/// runs there.
#[tokio::test(flavor = "multi_thread")]
async fn a_pod_security_refusal_says_which_storage_to_use() {
    use bp_generator::BuilderPlayground;
    use bp_generator::api::{StorageSpec, StorageType};
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Patch, PatchParams};
    let env = env().await;
    let client = client().await;
    let ns = env.cluster.create_namespace("baseline").await.unwrap();
    let label = serde_json::json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}});
    Api::<Namespace>::all(client.clone()).patch(&ns, &PatchParams::default(), &Patch::Merge(&label)).await.unwrap();
    let folder = tempfile::tempdir().unwrap();
    let fixtures = repo_path("../shared/fixtures/real-c473a6a");
    let copied =
        std::process::Command::new("cp").arg("-R").arg(fixtures.join("l1-artifacts/.")).arg(folder.path()).status();
    assert!(copied.unwrap().success());
    std::fs::copy(fixtures.join("l1-default.manifest.json"), folder.path().join("manifest.json")).unwrap();
    let out = std::process::Command::new(target_dir().join("bp-generator"))
        .args(["convert", folder.path().to_str().unwrap(), "--name", "l1", "--namespace", &ns])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut pg: Option<BuilderPlayground> = None;
    for doc in serde_yaml_ng::Deserializer::from_slice(&out.stdout) {
        let value: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
        if value["kind"] == "Secret" {
            let secret: Secret = serde_json::from_value(value).unwrap();
            Api::<Secret>::namespaced(client.clone(), &ns).create(&Default::default(), &secret).await.unwrap();
        } else {
            pg = Some(serde_json::from_value(value).unwrap());
        }
    }
    let mut pg = pg.expect("a playground");
    apply(&client, &pg).await;
    let got = wait_condition(&client, &ns, "l1", "Ready", "False", Some("PodSecurityRefused"), READY_TIMEOUT).await;
    let message = &condition(&got, "Ready").unwrap().message;
    assert!(message.contains("violates PodSecurity \"baseline:latest\": hostPath volumes"), "{message}");
    assert!(message.ends_with("use spec.storage.type pvc (or ephemeral), or a namespace whose pod-security.kubernetes.io/enforce level is privileged"), "{message}");
    assert!(pod(&client, &ns, "l1").await.is_none());
    let event = wait_for(
        "a PodSecurityRefused Warning event",
        Duration::from_secs(30),
        async || events(&client, &ns).await,
        |evs| evs.iter().find(|e| e.reason.as_deref() == Some("PodSecurityRefused")).cloned(),
    )
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));

    pg.spec.storage = Some(StorageSpec { storage_type: Some(StorageType::Ephemeral), ..Default::default() });
    apply(&client, &pg).await;
    wait_condition(&client, &ns, "l1", "Ready", "True", Some("AllServicesReady"), READY_TIMEOUT).await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}
