//! `bp-generator job`, the generator Job's mode, against a stand-in API server: it reads the
//! playground, renders it and server-side applies exactly this ConfigMap, or says in one line
//! why not, applying nothing.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use bp_generator::cluster::input_hash;
use bp_generator::{BuilderPlayground, RenderOptions, Rendered, render, standard_labels};
use common::*;
use kube::Resource;
use serde_json::{Value, json};

/// One request the stand-in API server received.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    body: Value,
}

/// An API server that knows one BuilderPlayground and accepts any ConfigMap apply, echoing
/// it back, as the real one does.
struct ApiServer {
    address: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl ApiServer {
    fn start(playground: Value) -> ApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (playground, log) = (playground.clone(), Arc::clone(&log));
                std::thread::spawn(move || serve(stream, &playground, &log));
            }
        });
        ApiServer { address, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// A kubeconfig for this server, in `dir`.
    fn kubeconfig(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": self.address}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x"
        });
        std::fs::write(&path, config.to_string()).unwrap();
        path
    }
}

/// Answers the requests of one connection (HTTP/1.1, kept alive).
fn serve(stream: TcpStream, playground: &Value, log: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) =
            (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned());
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        log.lock().unwrap().push(Request { method: method.clone(), target: target.clone(), body: body.clone() });
        let failure = |code: u16, reason: &str, message: &str| json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message});
        let playgrounds = "/apis/playground.flashbots.io/v1alpha1/namespaces/dev/builderplaygrounds/";
        let (status, answer) = match (method.as_str(), target.strip_prefix(playgrounds)) {
            ("GET", Some("l1")) => ("200 OK", playground.clone()),
            // An error without a message, as a proxy in front of an API server may answer.
            ("GET", Some("hidden")) => ("403 Forbidden", failure(403, "Forbidden", "")),
            ("PATCH", None) => ("200 OK", body),
            _ => ("404 Not Found", failure(404, "NotFound", "the server could not find the requested resource")),
        };
        let answer = answer.to_string();
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn playground_l1() -> BuilderPlayground {
    let mut pg = convert_json(&fixture(L1_HEAD));
    pg.metadata.namespace = Some("dev".into());
    pg.metadata.uid = Some("0b1c".into());
    pg
}

fn run_job(server: &ApiServer, args: &[&str]) -> Output {
    run_job_for(server, "l1", args)
}

fn run_job_for(server: &ApiServer, name: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_bp-generator"))
        .args(["job", "--namespace", "dev", "--name", name])
        .args(args)
        .env("KUBECONFIG", server.kubeconfig(dir.path()))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run bp-generator")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The ConfigMap the Job applied, and what it carries.
fn applied(server: &ApiServer) -> (Request, Rendered) {
    let patches: Vec<Request> = server.requests().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    let rendered = serde_json::from_str(patches[0].body["data"]["rendered.json"].as_str().unwrap()).unwrap();
    (patches[0].clone(), rendered)
}

#[test]
fn the_job_applies_the_rendered_podspec_as_the_playgrounds_configmap() {
    let pg = playground_l1();
    let hash = input_hash(&pg);
    let server = ApiServer::start(serde_json::to_value(&pg).unwrap());
    let out = run_job(&server, &["--hash", &hash, "--unpack-image", "op:1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "rendered 6 containers of dev/l1 into ConfigMap l1-podspec\n");
    let (patch, rendered) = applied(&server);
    assert!(patch.target.starts_with("/api/v1/namespaces/dev/configmaps/l1-podspec?"), "{}", patch.target);
    assert!(
        patch.target.contains("fieldManager=bp-operator") && patch.target.contains("force=true"),
        "{}",
        patch.target
    );
    let mut body = patch.body.clone();
    body["data"]["rendered.json"] = json!("<rendered>");
    assert_eq!(
        body,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "l1-podspec",
                "namespace": "dev",
                "labels": standard_labels("l1"),
                "annotations": {"playground.flashbots.io/input-hash": hash},
                "ownerReferences": [serde_json::to_value(pg.controller_owner_ref(&()).unwrap()).unwrap()]
            },
            "data": {"rendered.json": "<rendered>"}
        })
    );
    let options = RenderOptions { unpack_image: "op:1".into(), ..Default::default() };
    assert_eq!(rendered, render(&pg, &options).unwrap());
}

#[test]
fn an_old_api_server_gets_plain_containers() {
    let pg = playground_l1();
    let server = ApiServer::start(serde_json::to_value(&pg).unwrap());
    let out = run_job(&server, &["--hash", &input_hash(&pg), "--no-native-sidecars"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, rendered) = applied(&server);
    assert!(!rendered.start_order_enforced);
    assert_eq!(rendered.pod_spec.init_containers, None);
}

#[test]
fn a_generated_manifest_supplies_the_services_and_the_artifacts_directory() {
    let mut pg = playground_l1();
    pg.spec.services.clear();
    pg.spec.recipe = Some("l1".into());
    let hash = input_hash(&pg);
    let server = ApiServer::start(serde_json::to_value(&pg).unwrap());
    let manifest = fixture_path(L1_HEAD);
    let out = run_job(&server, &["--hash", &hash, "--manifest", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, rendered) = applied(&server);
    assert_eq!(rendered.containers.len(), 6);
    let el = rendered.pod_spec.init_containers.iter().flatten().find(|c| c.name == "el").unwrap();
    let genesis = el.volume_mounts.iter().flatten().find(|m| m.mount_path == "/data/genesis.json").unwrap();
    assert_eq!(genesis.sub_path, Some(format!("gen-{}/genesis.json", &hash[..8])));
}

#[test]
fn a_changed_playground_is_left_to_a_newer_job() {
    let pg = playground_l1();
    let server = ApiServer::start(serde_json::to_value(&pg).unwrap());
    let out = run_job(&server, &["--hash", &"0".repeat(64)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "BuilderPlayground dev/l1 changed since this Job was created (input hash 00000000 is now {}); a newer Job renders it\n",
            &input_hash(&pg)[..8]
        )
    );
    assert!(server.requests().iter().all(|r| r.method == "GET"), "nothing applied");
}

#[test]
fn a_missing_bundle_part_stops_the_job_before_rendering() {
    let mut pg = playground_l1();
    pg.spec.artifacts = Some(bp_generator::api::ArtifactsSpec {
        secrets: vec!["l1-artifacts-0".into()],
        digest: format!("sha256:{}", "0f".repeat(32)),
    });
    let server = ApiServer::start(serde_json::to_value(&pg).unwrap());
    let parts = tempfile::tempdir().unwrap();
    let out = run_job(&server, &["--hash", &input_hash(&pg), "--bundle", parts.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "spec.artifacts: artifacts bundle part 0 (Secret l1-artifacts-0, key bundle.part) is missing\n"
    );
    assert!(server.requests().iter().all(|r| r.method == "GET"), "nothing applied");
}

#[test]
fn api_errors_are_one_line_with_the_servers_own_message() {
    let server = ApiServer::start(serde_json::to_value(playground_l1()).unwrap());
    let out = run_job_for(&server, "gone", &["--hash", "h"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "cannot read BuilderPlayground dev/gone: the server could not find the requested resource (404)\n"
    );
    let out = run_job_for(&server, "hidden", &["--hash", "h"]);
    let err = text(&out.stderr);
    assert!(err.starts_with("cannot read BuilderPlayground dev/hidden: ApiError: : Forbidden ("), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
