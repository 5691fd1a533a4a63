use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const L1: &str = include_str!("../../../examples/l1.yaml");

fn admission() -> Admission {
    Admission { native_sidecars: true, allowed_host_paths: vec![bp_generator::podspec::DEFAULT_STORAGE_PATH.into()] }
}

fn l1() -> Value {
    let mut pg: Value = serde_yaml_ng::from_str(L1).unwrap();
    pg["metadata"]["namespace"] = json!("dev");
    pg
}

/// An AdmissionReview as the API server sends it.
fn request(operation: &str, object: Option<Value>, old: Option<Value>) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "playground.flashbots.io", "version": "v1alpha1", "kind": "BuilderPlayground"},
            "resource": {"group": "playground.flashbots.io", "version": "v1alpha1", "resource": "builderplaygrounds"},
            "requestKind": {"group": "playground.flashbots.io", "version": "v1alpha1", "kind": "BuilderPlayground"},
            "requestResource": {"group": "playground.flashbots.io", "version": "v1alpha1", "resource": "builderplaygrounds"},
            "name": "l1",
            "namespace": "dev",
            "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": old,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    })
}

/// The answer as the API server reads it.
fn answer(body: &[u8]) -> Value {
    serde_json::to_value(review(body, &admission())).unwrap()
}

fn ask(request: &Value) -> Value {
    answer(&serde_json::to_vec(request).unwrap())
}

fn with_template_error(mut pg: Value) -> Value {
    pg["spec"]["services"][0]["args"]
        .as_array_mut()
        .unwrap()
        .push(json!("{{Service \"nope\" \"http\" \"http\" \"\"}}"));
    pg
}

#[test]
fn a_valid_playground_is_allowed_with_the_requests_uid() {
    let got = ask(&request("CREATE", Some(l1()), None));
    assert_eq!(got["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(got["kind"], "AdmissionReview");
    assert_eq!(got["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(got["response"]["allowed"], true, "{got}");
}

#[test]
fn a_template_error_is_refused_with_the_reconcilers_line() {
    let pg = with_template_error(l1());
    let got = ask(&request("CREATE", Some(pg.clone()), None));
    assert_eq!(got["response"]["allowed"], false);
    let decoded: BuilderPlayground = serde_json::from_value(pg).unwrap();
    let status = check_spec(&decoded, true, &admission().allowed_host_paths).unwrap_err();
    assert_eq!(got["response"]["status"]["message"], status.as_str());
    assert!(status.contains("nope"), "{status}");
    assert_eq!(got["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
}

#[test]
fn an_update_that_breaks_it_is_refused() {
    let got = ask(&request("UPDATE", Some(with_template_error(l1())), Some(l1())));
    assert_eq!(got["response"]["allowed"], false, "{got}");
}

#[test]
fn a_host_path_outside_the_roots_is_refused() {
    let mut pg = l1();
    pg["spec"]["storage"] = json!({"path": "/"});
    let got = ask(&request("CREATE", Some(pg), None));
    assert_eq!(got["response"]["allowed"], false);
    let message = got["response"]["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("spec.storage.path: \"/\" is outside"), "{message}");
}

#[test]
fn deletes_connects_and_objects_being_deleted_are_allowed() {
    let broken = with_template_error(l1());
    for op in ["DELETE", "CONNECT"] {
        assert_eq!(ask(&request(op, None, Some(broken.clone())))["response"]["allowed"], true, "{op}");
    }
    let mut going = broken;
    going["metadata"]["deletionTimestamp"] = json!("2026-11-30T00:00:00Z");
    assert_eq!(ask(&request("UPDATE", Some(going.clone()), Some(going)))["response"]["allowed"], true);
}

#[test]
fn an_undecodable_object_is_refused_naming_the_field() {
    let mut pg = l1();
    pg["spec"]["services"] = json!("not a list");
    let got = ask(&request("CREATE", Some(pg), None));
    assert_eq!(got["response"]["allowed"], false);
    let message = got["response"]["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("invalid BuilderPlayground: spec.services: invalid type: string"), "{message}");
    let got = ask(&request("CREATE", None, None));
    assert_eq!(got["response"]["status"]["message"], "the Create request carries no object");
}

#[test]
fn what_is_no_admission_review_is_refused_and_says_so() {
    let got = answer(b"{not json");
    assert_eq!((got["response"]["allowed"].clone(), got["response"]["uid"].clone()), (json!(false), json!("")));
    assert!(got["response"]["status"]["message"].as_str().unwrap().starts_with("the request is not JSON"), "{got}");
    let got = ask(&json!({"request": {"uid": "u-7", "operation": "EXPLODE"}}));
    assert_eq!(got["response"]["uid"], "u-7");
    let message = got["response"]["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("the request is not an admission.k8s.io/v1 AdmissionReview"), "{message}");
    let got = ask(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}));
    assert_eq!(got["response"]["status"]["message"], "the AdmissionReview carries no request");
}

#[tokio::test]
async fn the_route_answers_json_and_limits_the_body() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let app = router(Arc::new(admission()));
    let body = serde_json::to_vec(&request("CREATE", Some(l1()), None)).unwrap();
    let response = app.clone().oneshot(Request::post(PATH).body(Body::from(body)).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let got: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(got["response"]["allowed"], true);
    let huge = vec![b' '; BODY_LIMIT + 1];
    let response = app.clone().oneshot(Request::post(PATH).body(Body::from(huge)).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = app.oneshot(Request::get(PATH).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

// --- Never panics, always answers: the decode-and-check path on hostile input -------------

/// Every JSON pointer of `value` (objects and arrays too), in document order.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(m) => {
            m.iter().for_each(|(k, v)| pointers(v, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out))
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| pointers(v, format!("{at}/{i}"), out)),
        _ => {}
    }
}

/// Values that have broken parsers: huge and negative numbers, unicode, empty things, deep
/// nesting (below serde_json's recursion limit, so the request still parses).
fn hostile() -> impl Strategy<Value = Value> {
    let nested = (1usize..100).prop_map(|depth| (0..depth).fold(json!("x"), |v, _| json!([v])));
    let nested_maps = (1usize..60).prop_map(|depth| (0..depth).fold(json!(1), |v, _| json!({"a": v})));
    prop_oneof![
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(2147483648u64)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(1e308)),
        Just(json!(65536)),
        Just(json!("")),
        Just(json!(null)),
        Just(json!([])),
        Just(json!({})),
        Just(json!(true)),
        Just(json!("{{")),
        Just(json!("{{Port \"http\" 99999999999}}")),
        Just(json!("{{Service \"el\" \"http\" \"http\" \"\"}}")),
        Just(json!("2147483647s")),
        Just(json!("99999999999999999999h")),
        Just(json!("Ω≈ç√∫˜µ≤≥÷ 🦀 \u{202e}\u{0}")),
        "\\PC{0,40}".prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        nested,
        nested_maps,
    ]
}

fn mutated_l1_reviews() -> impl Strategy<Value = Vec<u8>> {
    let base = request("CREATE", Some(l1()), None);
    let mut paths = Vec::new();
    pointers(&base["request"]["object"], "/request/object".into(), &mut paths);
    let paths = paths.into_iter().skip(1).collect::<Vec<_>>();
    proptest::collection::vec((proptest::sample::select(paths), hostile()), 1..4).prop_map(move |edits| {
        let mut review = base.clone();
        for (path, replacement) in edits {
            if let Some(slot) = review.pointer_mut(&path) {
                *slot = replacement;
            }
        }
        serde_json::to_vec(&review).unwrap()
    })
}

/// A well-formed answer to `body`: a v1 AdmissionReview with a response, the request's uid
/// when the body has one, and a message whenever it refuses.
fn assert_answers(body: &[u8]) -> Result<(), TestCaseError> {
    let got = answer(body);
    prop_assert_eq!(&got["apiVersion"], "admission.k8s.io/v1");
    prop_assert_eq!(&got["kind"], "AdmissionReview");
    let response = &got["response"];
    prop_assert!(response["allowed"].is_boolean(), "{}", got);
    if response["allowed"] == false {
        prop_assert!(!response["status"]["message"].as_str().unwrap_or_default().is_empty(), "{}", got);
    }
    let uid = serde_json::from_slice::<Value>(body).ok().and_then(|v| v.pointer("/request/uid").cloned());
    if let Some(Value::String(uid)) = uid {
        prop_assert_eq!(response["uid"].as_str(), Some(uid.as_str()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_get_an_answer(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        assert_answers(&body)?;
    }

    #[test]
    fn mutated_reviews_of_the_l1_example_get_an_answer(body in mutated_l1_reviews()) {
        assert_answers(&body)?;
    }
}
