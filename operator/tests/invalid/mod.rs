//! The catalog of invalid playgrounds (issue "Reject bad playgrounds at `kubectl apply`"): a
//! small valid playground and, per case, the change that breaks it, with what the CLI says and
//! what the API server does: refuse it at once (the CRD's schema and CEL rules), or accept it
//! and leave it to rendering (the status path's `InvalidSpec`, and the webhook where it runs).
//! Shared by `catalog.rs` (CLI, CRD, status) and the webhook's tests.

#![allow(dead_code)]

use serde_json::{Value, json};

/// What the API server does with a case when no webhook runs.
#[derive(Debug, Clone, Copy)]
pub enum Api {
    /// Refused at create (422), the message holding this.
    Refused(&'static str),
    /// Accepted; the playground's Ready condition is False, reason InvalidSpec, with this.
    Status(&'static str),
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    /// JSON pointers into the base playground and their new values (`None` removes).
    pub changes: Vec<(&'static str, Option<Value>)>,
    /// What `bp-generator render` says (one line, exit code 2).
    pub cli: &'static str,
    pub api: Api,
}

/// A valid playground: an EL with a ready check and a file, a CL that waits for it healthy.
pub fn base(name: &str) -> Value {
    json!({
        "apiVersion": "playground.flashbots.io/v1alpha1",
        "kind": "BuilderPlayground",
        "metadata": {"name": name},
        "spec": {
            "services": [
                {
                    "name": "el",
                    "image": "docker.io/library/busybox",
                    "tag": "1.35",
                    "args": ["--http.port", "{{Port \"http\" 8545}}"],
                    "ports": [{"name": "http", "port": 8545}],
                    "readyCheck": {"queryURL": "http://localhost:8545", "interval": "1s"},
                    "files": [{"artifact": "genesis.json", "mountPath": "/data/genesis.json"}]
                },
                {
                    "name": "beacon",
                    "image": "docker.io/library/busybox",
                    "tag": "1.35",
                    "args": ["--el", "{{Service \"el\" \"http\" \"http\" \"\"}}"],
                    "ports": [{"name": "http", "port": 3500}],
                    "dependencies": [{"name": "el", "condition": "healthy"}]
                }
            ]
        }
    })
}

/// The base with a case's changes.
pub fn playground(case: &Case, name: &str) -> Value {
    let mut pg = base(name);
    for (pointer, value) in &case.changes {
        let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
        let at = pg.pointer_mut(parent).unwrap_or_else(|| panic!("{}: no {parent}", case.name));
        match (at, value) {
            (Value::Object(map), Some(v)) => {
                map.insert(key.to_owned(), v.clone());
            }
            (Value::Object(map), None) => {
                map.remove(key);
            }
            (Value::Array(items), Some(v)) => {
                let i: usize = key.parse().expect("an index");
                if i == items.len() { items.push(v.clone()) } else { items[i] = v.clone() }
            }
            (Value::Array(items), None) => {
                items.remove(key.parse::<usize>().expect("an index"));
            }
            (other, _) => panic!("{}: {parent:?} is {other}", case.name),
        }
    }
    pg
}

fn set(pointer: &'static str, value: Value) -> (&'static str, Option<Value>) {
    (pointer, Some(value))
}

fn remove(pointer: &'static str) -> (&'static str, Option<Value>) {
    (pointer, None)
}

fn case(name: &'static str, changes: Vec<(&'static str, Option<Value>)>, cli: &'static str, api: Api) -> Case {
    Case { name, changes, cli, api }
}

/// Every case. Names are Kubernetes names (each case becomes a playground of that name).
pub fn cases() -> Vec<Case> {
    use Api::{Refused, Status};
    let svc = |name: &str| json!({"name": name, "image": "busybox"});
    let many = |n: usize| Value::Array((0..n).map(|i| svc(&format!("s{i}"))).collect());
    vec![
        // Structure
        case(
            "no-services",
            vec![remove("/spec/services")],
            "at least one service is required",
            Refused("at least one service is required"),
        ),
        case(
            "empty-services",
            vec![set("/spec/services", json!([]))],
            "at least one service is required",
            Refused("at least one service is required"),
        ),
        case(
            "duplicate-service",
            vec![set("/spec/services/1/name", json!("el"))],
            "duplicate service name",
            Refused("Duplicate value"),
        ),
        case(
            "unnamed-service",
            vec![set("/spec/services/1/name", json!(""))],
            "a service needs a name",
            Refused("a service needs a name"),
        ),
        case(
            "too-many-services",
            vec![set("/spec/services", many(33))],
            "33 services; at most 32",
            Refused("must have at most 32 items"),
        ),
        case(
            "empty-image",
            vec![set("/spec/services/0/image", json!(""))],
            "the image is empty",
            Refused("the image is empty"),
        ),
        case(
            "blank-image",
            vec![set("/spec/services/0/image", json!("   "))],
            "the image is empty",
            Refused("the image is empty"),
        ),
        case(
            "tag-with-colon",
            vec![set("/spec/services/0/tag", json!("v1:2"))],
            "\"v1:2\" is not an image tag",
            Refused("\"v1:2\" is not an image tag"),
        ),
        case(
            "tag-with-space",
            vec![set("/spec/services/0/tag", json!("v 1"))],
            "\"v 1\" is not an image tag",
            Refused("\"v 1\" is not an image tag"),
        ),
        case(
            "services-not-a-list",
            vec![set("/spec/services", json!({"el": {}}))],
            "invalid type",
            Refused("must be of type array"),
        ),
        // Names
        case(
            "uppercase-service",
            vec![set("/spec/services/1/name", json!("Beacon"))],
            "cannot become a container name: \"Beacon\"",
            Refused("cannot become a container name: \"Beacon\""),
        ),
        case(
            "dotted-service",
            vec![set("/spec/services/1/name", json!("beacon.1"))],
            "cannot become a container name",
            Refused("cannot become a container name"),
        ),
        case(
            "dash-first-service",
            vec![set("/spec/services/1/name", json!("-beacon"))],
            "cannot become a container name",
            Refused("cannot become a container name"),
        ),
        case(
            "underscore-last-service",
            vec![set("/spec/services/1/name", json!("beacon_"))],
            "cannot become a container name",
            Refused("cannot become a container name"),
        ),
        case(
            "unicode-service",
            vec![set("/spec/services/1/name", json!("béacon"))],
            "cannot become a container name",
            Refused("cannot become a container name"),
        ),
        case(
            "long-service",
            vec![set("/spec/services/1/name", json!("b".repeat(64)))],
            "64 bytes; at most 63",
            Refused("may not be more than 63 bytes"),
        ),
        case(
            "container-collision",
            vec![set("/spec/services/2", svc("x_y")), set("/spec/services/3", svc("x-y"))],
            "container name \"x-y\" collides with service \"x_y\"",
            Status("service \"x-y\": name: container name \"x-y\" collides with service \"x_y\""),
        ),
        case(
            "unnamed-port",
            vec![set("/spec/services/0/ports/0/name", json!(""))],
            "a port needs a name",
            Refused("a port needs a name"),
        ),
        case(
            "long-port-name",
            vec![set("/spec/services/1/ports/0/name", json!("averyverylongport"))],
            "\"averyverylongport\" cannot be a container port name",
            Refused("\"averyverylongport\" cannot be a container port name"),
        ),
        case(
            "digit-port-name",
            vec![set("/spec/services/1/ports/0/name", json!("3500"))],
            "cannot be a container port name",
            Refused("cannot be a container port name"),
        ),
        case(
            "double-dash-port",
            vec![set("/spec/services/1/ports/0/name", json!("a--b"))],
            "cannot be a container port name",
            Refused("cannot be a container port name"),
        ),
        case(
            "long-udp-port",
            vec![set("/spec/services/1/ports/0", json!({"name": "discoveryv5x", "port": 9000, "protocol": "udp"}))],
            "\"discoveryv5x-udp\" cannot be a container port name",
            Refused("\"discoveryv5x-udp\" cannot be a container port name"),
        ),
        case(
            "unicode-port",
            vec![set("/spec/services/1/ports/0/name", json!("htt✓"))],
            "cannot be a container port name",
            Refused("cannot be a container port name"),
        ),
        case(
            "duplicate-port",
            vec![set("/spec/services/1/ports/1", json!({"name": "http", "port": 3501}))],
            "duplicate port name \"http\"",
            Refused("duplicate port name"),
        ),
        case(
            "unknown-protocol",
            vec![set("/spec/services/1/ports/0/protocol", json!("sctp"))],
            "unknown variant `sctp`",
            Refused("Unsupported value: \"sctp\""),
        ),
        case(
            "volume-name",
            vec![set("/spec/services/1/volumes", json!([{"name": "Vol_1", "mountPath": "/v"}]))],
            "\"Vol_1\" cannot be a volume name",
            Refused("\"Vol_1\" cannot be a volume name"),
        ),
        // Sizes and numbers
        case(
            "port-zero",
            vec![set("/spec/services/1/ports/0/port", json!(0))],
            "0 is out of range 1-65535",
            Refused("is out of range 1-65535"),
        ),
        case(
            "port-too-high",
            vec![set("/spec/services/1/ports/0/port", json!(70000))],
            "70000 is out of range 1-65535",
            Refused("is out of range 1-65535"),
        ),
        case(
            "port-negative",
            vec![set("/spec/services/1/ports/0/port", json!(-1))],
            "-1 is out of range 1-65535",
            Refused("is out of range 1-65535"),
        ),
        case(
            "port-huge",
            vec![set("/spec/services/1/ports/0/port", json!(99_999_999_999u64))],
            "expected i32",
            Refused("is out of range 1-65535"),
        ),
        case(
            "port-a-string",
            vec![set("/spec/services/1/ports/0/port", json!("http"))],
            "invalid type: string",
            Refused("must be of type integer"),
        ),
        case(
            "negative-retries",
            vec![set("/spec/services/0/readyCheck/retries", json!(-1))],
            "readyCheck.retries: must not be negative",
            Refused("must not be negative"),
        ),
        case(
            "malformed-interval",
            vec![set("/spec/services/0/readyCheck/interval", json!("5"))],
            "duration \"5\" is missing a unit",
            Refused("spec.services[0].readyCheck.interval"),
        ),
        case(
            "negative-interval",
            vec![set("/spec/services/0/readyCheck/interval", json!("-1s"))],
            "duration \"-1s\" is negative",
            Refused("spec.services[0].readyCheck.interval"),
        ),
        case(
            "huge-interval",
            vec![set("/spec/services/0/readyCheck/interval", json!("2147483648s"))],
            "is longer than a probe allows",
            Status("service \"el\": readyCheck.interval: duration \"2147483648s\" is longer than a probe allows"),
        ),
        case(
            "huge-start-period",
            vec![set("/spec/services/0/readyCheck/startPeriod", json!("99999999999h"))],
            "startPeriod",
            Status("service \"el\": readyCheck.startPeriod"),
        ),
        case(
            "banana-lifetime",
            vec![set("/spec/lifetime", json!("banana"))],
            "spec.lifetime: duration \"banana\" is malformed",
            Refused("spec.lifetime"),
        ),
        case(
            "zero-lifetime",
            vec![set("/spec/lifetime", json!("0s"))],
            "spec.lifetime: duration \"0s\" would delete the playground at once",
            Status("spec.lifetime: duration \"0s\" would delete the playground at once"),
        ),
        case(
            "endless-lifetime",
            vec![set("/spec/lifetime", json!("87601h"))],
            "spec.lifetime: duration \"87601h\" is longer than 87600h (ten years)",
            Status("spec.lifetime: duration \"87601h\" is longer than 87600h (ten years)"),
        ),
        case(
            "cmd-without-command",
            vec![set("/spec/services/0/readyCheck", json!({"test": ["CMD"]}))],
            "CMD needs a command",
            Refused("CMD needs a command"),
        ),
        case(
            "shell-without-command",
            vec![set("/spec/services/0/readyCheck", json!({"test": ["CMD-SHELL"]}))],
            "CMD-SHELL needs a command",
            Refused("CMD-SHELL needs a command"),
        ),
        case(
            "query-url-not-a-url",
            vec![set("/spec/services/0/readyCheck/queryURL", json!("localhost"))],
            "\"localhost\" is not an http(s) URL",
            Status("service \"el\": readyCheck.queryURL: \"localhost\" is not an http(s) URL"),
        ),
        // Dependencies and templates (found by rendering)
        case(
            "self-dependency",
            vec![set("/spec/services/1/dependencies/0/name", json!("beacon"))],
            "a service cannot depend on itself",
            Refused("a service cannot depend on itself"),
        ),
        case(
            "unknown-dependency",
            vec![set("/spec/services/1/dependencies/0/name", json!("nope"))],
            "unknown service \"nope\"",
            Refused("a dependency names a service that is not in spec.services"),
        ),
        case(
            "healthy-without-check",
            vec![remove("/spec/services/0/readyCheck")],
            "has no readyCheck",
            Refused("a healthy dependency needs a readyCheck"),
        ),
        case(
            "unknown-condition",
            vec![set("/spec/services/1/dependencies/0/condition", json!("ready"))],
            "unknown variant `ready`",
            Refused("Unsupported value: \"ready\""),
        ),
        case(
            "dependency-cycle",
            vec![set("/spec/services/0/dependencies", json!([{"name": "beacon"}]))],
            "cycle",
            Status("cycle"),
        ),
        case(
            "unknown-bootnode",
            vec![set("/spec/bootnode", json!({"service": "nope", "id": "ab"}))],
            "no service named \"nope\"",
            Refused("no service named \"nope\""),
        ),
        case(
            "template-unknown-service",
            vec![set("/spec/services/1/args/1", json!("{{Service \"nope\" \"http\" \"http\" \"\"}}"))],
            "template refers to unknown service \"nope\"",
            Status("service \"beacon\": args[1]: template refers to unknown service \"nope\""),
        ),
        case(
            "template-unknown-port",
            vec![set("/spec/services/1/args/1", json!("{{Service \"el\" \"rpc\" \"http\" \"\"}}"))],
            "\"rpc\"",
            Status("service \"beacon\": args[1]"),
        ),
        case(
            "template-unterminated",
            vec![set("/spec/services/1/args/1", json!("{{Port \"http\" 3500"))],
            "args[1]",
            Status("service \"beacon\": args[1]"),
        ),
        case(
            "template-unknown-function",
            vec![set("/spec/services/1/args/1", json!("{{Frobnicate}}"))],
            "Frobnicate",
            Status("service \"beacon\": args[1]"),
        ),
        case(
            "template-port-not-a-number",
            vec![set("/spec/services/0/args/1", json!("{{Port \"http\" eighty}}"))],
            "args[1]",
            Status("service \"el\": args[1]"),
        ),
        case(
            "template-in-env",
            vec![set("/spec/services/1/env", json!({"EL": "{{Service \"nope\" \"http\" \"http\" \"\"}}"}))],
            "template refers to unknown service \"nope\"",
            Status("service \"beacon\": env"),
        ),
        case(
            "empty-env-name",
            vec![set("/spec/services/1/env", json!({"": "x"}))],
            "not a valid environment variable name",
            Status("not a valid environment variable name"),
        ),
        case(
            "env-name-with-equals",
            vec![set("/spec/services/1/env", json!({"A=B": "x"}))],
            "not a valid environment variable name",
            Status("not a valid environment variable name"),
        ),
        // Storage and artifacts
        case(
            "relative-storage-path",
            vec![set("/spec/storage", json!({"path": "data"}))],
            "\"data\" is not an absolute path",
            Refused("\"data\" is not an absolute path"),
        ),
        case(
            "size-not-a-quantity",
            vec![set("/spec/storage", json!({"type": "pvc", "size": "ten gigs"}))],
            "\"ten gigs\" is not a quantity such as 10Gi",
            Refused("\"ten gigs\" is not a quantity such as 10Gi"),
        ),
        case(
            "unknown-storage-type",
            vec![set("/spec/storage", json!({"type": "nfs"}))],
            "unknown variant `nfs`",
            Refused("Unsupported value: \"nfs\""),
        ),
        case(
            "ephemeral-with-generate",
            vec![
                set("/spec/storage", json!({"type": "ephemeral"})),
                set("/spec/generate", json!({"args": ["start", "l1"]})),
            ],
            "ephemeral storage cannot hold artifacts made by `generate`",
            Refused("ephemeral storage cannot hold artifacts made by `generate`"),
        ),
        case(
            "artifacts-with-generate",
            vec![
                set("/spec/generate", json!({"args": ["start", "l1"]})),
                set("/spec/artifacts", json!({"secrets": ["a"], "digest": format!("sha256:{}", "a".repeat(64))})),
            ],
            "either from a bundle or from `generate`",
            Refused("either from a bundle or from `generate`"),
        ),
        case(
            "bad-digest",
            vec![set("/spec/artifacts", json!({"secrets": ["a"], "digest": "sha256:xyz"}))],
            "\"sha256:xyz\" is not sha256:<64 lowercase hex digits>",
            Refused("\"sha256:xyz\" is not sha256:<64 lowercase hex digits>"),
        ),
        case(
            "no-bundle-secret",
            vec![set("/spec/artifacts", json!({"secrets": [], "digest": format!("sha256:{}", "b".repeat(64))}))],
            "names no Secret",
            Refused("names no Secret"),
        ),
        // Files and volumes
        case(
            "relative-mount-path",
            vec![set("/spec/services/0/files/0/mountPath", json!("data/genesis.json"))],
            "\"data/genesis.json\" is not an absolute path",
            Refused("\"data/genesis.json\" is not an absolute path"),
        ),
        case(
            "absolute-artifact",
            vec![set("/spec/services/0/files/0/artifact", json!("/etc/passwd"))],
            "\"/etc/passwd\" must be a relative path inside the artifacts directory",
            Refused("\"/etc/passwd\" must be a relative path inside the artifacts directory"),
        ),
        case(
            "climbing-artifact",
            vec![set("/spec/services/0/files/0/artifact", json!("../../etc/shadow"))],
            "must be a relative path inside the artifacts directory",
            Refused("must be a relative path inside the artifacts directory"),
        ),
        case(
            "empty-artifact",
            vec![set("/spec/services/0/files/0/artifact", json!(""))],
            "\"\" must be a relative path inside the artifacts directory",
            Refused("\"\" must be a relative path inside the artifacts directory"),
        ),
        case(
            "mounted-twice",
            vec![set("/spec/services/0/files/1", json!({"artifact": "testnet", "mountPath": "/data/genesis.json"}))],
            "\"/data/genesis.json\" is mounted twice",
            Status("service \"el\": files[1].mountPath: \"/data/genesis.json\" is mounted twice"),
        ),
        case(
            "climbing-sub-path",
            vec![set("/spec/services/1/volumes", json!([{"name": "v", "mountPath": "/v", "subPath": "a/../.."}]))],
            "must be a relative path inside the artifacts directory",
            Refused("must be a relative path inside the artifacts directory"),
        ),
        case(
            "relative-volume-path",
            vec![set("/spec/services/1/volumes", json!([{"name": "v", "mountPath": "v"}]))],
            "\"v\" is not an absolute path",
            Refused("\"v\" is not an absolute path"),
        ),
    ]
}
