//! Property tests: random bytes and random mutations of the real fixtures never panic the
//! manifest reader, the template parser, the converter or the renderer; each either succeeds
//! or returns an error that names a field.

mod common;

use bp_generator::manifest::{self, ConvertOptions};
use bp_generator::{BuilderPlayground, RenderOptions, render, template};
use common::*;
use proptest::prelude::*;

/// Runs the whole offline pipeline on a manifest text; every error must say something.
fn pipeline(json: &str) {
    let Ok(m) = manifest::parse(json) else { return };
    match manifest::convert(&m, &ConvertOptions::default()) {
        Ok(converted) => render_checked(&converted.playground),
        Err(e) => assert!(!e.message.is_empty()),
    }
}

fn render_checked(pg: &BuilderPlayground) {
    match render(pg, &RenderOptions::default()) {
        Ok(r) => assert!(!r.pod_spec.containers.is_empty() || r.pod_spec.init_containers.is_some()),
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for e in errors.iter() {
                assert!(!e.field.is_empty() && !e.message.is_empty(), "{e:?}");
            }
        }
    }
}

/// Pieces templates are made of, so random strings reach deep into the parser.
fn template_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("{{- ".to_owned()),
        Just(" -}}".to_owned()),
        Just("Port".to_owned()),
        Just("PortUDP".to_owned()),
        Just("Service".to_owned()),
        Just("Bootnode".to_owned()),
        Just(".Dir".to_owned()),
        Just(" ".to_owned()),
        Just("\"".to_owned()),
        Just("`".to_owned()),
        Just("\\".to_owned()),
        Just("\"el\"".to_owned()),
        Just("\"http\"".to_owned()),
        Just("\"authrpc\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("8545".to_owned()),
        Just("-1".to_owned()),
        Just("0x".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("$(".to_owned()),
        Just("$$".to_owned()),
        Just("localhost:8545".to_owned()),
        "[a-z]{1,3}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(token, 0..16).prop_map(|v| v.concat())
}

/// A random edit of a text: overwrite, delete or insert at a random place.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Delete(usize, usize),
    Insert(usize, String),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), template_text()).prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<usize>(), prop_oneof![Just("null"), Just("[]"), Just("{}"), Just("-1"), Just("\"\""), Just("1e99")])
            .prop_map(|(i, s)| Edit::Insert(i, s.to_owned())),
    ];
    prop::collection::vec(edit, 1..6)
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len().max(1);
        match edit {
            Edit::Replace(i, c) => {
                if !chars.is_empty() {
                    chars[i % len] = *c;
                }
            }
            Edit::Delete(i, n) => {
                let start = i % len;
                let end = (start + n).min(chars.len());
                if start < end {
                    chars.drain(start..end);
                }
            }
            Edit::Insert(i, s) => {
                let at = i % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
        }
    }
    chars.into_iter().collect()
}

/// Replaces one JSON leaf (by index in a walk) with `value`: a mutation that keeps the text
/// well-formed, so it reaches the converter and the renderer rather than the JSON parser.
fn replace_leaf(v: &mut serde_json::Value, target: &mut usize, value: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(map) => map.values_mut().any(|c| replace_leaf(c, target, value)),
        serde_json::Value::Array(items) => items.iter_mut().any(|c| replace_leaf(c, target, value)),
        leaf => {
            if *target == 0 {
                *leaf = value.clone();
                true
            } else {
                *target -= 1;
                false
            }
        }
    }
}

fn leaf_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (0i64..70000).prop_map(serde_json::Value::from),
        template_text().prop_map(serde_json::Value::from),
        Just(serde_json::json!("el")),
        Just(serde_json::json!("service_healthy")),
        Just(serde_json::json!(["CMD"])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        pipeline(&text);
        let _ = template::parse(&text);
        if let Ok(pg) = serde_yaml_ng::from_str::<BuilderPlayground>(&text) {
            render_checked(&pg);
        }
    }

    #[test]
    fn random_templates_never_panic(text in template_text()) {
        if let Err(e) = template::parse(&text) {
            prop_assert!(!e.message.is_empty());
            prop_assert!(e.offset <= text.len());
        }
        let pg: BuilderPlayground = serde_json::from_value(serde_json::json!({
            "apiVersion": "playground.flashbots.io/v1alpha1", "kind": "BuilderPlayground",
            "metadata": {"name": "p"},
            "spec": {"services": [
                {"name": "el", "image": "i", "ports": [{"name": "http", "port": 8545}, {"name": "authrpc", "port": 8551}]},
                {"name": "x", "image": "i", "args": [text.clone()], "env": {"E": text.clone()}},
            ]}
        })).unwrap();
        render_checked(&pg);
    }

    #[test]
    fn mutated_fixtures_never_panic(which in 0usize..4, edits in edits()) {
        let text = fixture(ALL_MANIFESTS[which]);
        pipeline(&apply(&text, &edits));
    }

    #[test]
    fn mutated_fixture_values_never_panic(which in 0usize..4, picks in prop::collection::vec((any::<usize>(), leaf_value()), 1..4)) {
        let mut json: serde_json::Value = serde_json::from_str(&fixture(ALL_MANIFESTS[which])).unwrap();
        for (pick, value) in picks {
            let mut target = pick % 400;
            replace_leaf(&mut json, &mut target, &value);
        }
        pipeline(&json.to_string());
    }
}

/// The mutation machinery reaches the renderer: replacing the first leaf (el's first arg, as
/// serde_json orders keys) with a template naming a missing service is rejected by the
/// renderer, not by the JSON parser.
#[test]
fn mutations_reach_the_renderer() {
    let mut json: serde_json::Value = serde_json::from_str(&fixture(L1_HEAD)).unwrap();
    let bad = serde_json::json!("{{Service \"ghost\" \"http\" \"http\" \"\"}}");
    assert!(replace_leaf(&mut json, &mut 0, &bad));
    assert_eq!(json["services"][0]["args"][0], bad);
    let converted =
        manifest::convert(&manifest::parse(&json.to_string()).unwrap(), &ConvertOptions::default()).unwrap();
    let err = render(&converted.playground, &RenderOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), r#"service "el": args[0]: template refers to unknown service "ghost""#);
}
