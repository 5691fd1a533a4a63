//! Raw request bytes through the webhook's answer (decode the AdmissionReview, decode the
//! BuilderPlayground, render it): it must never panic, and always answer with a response that
//! carries the request's uid when the body has one.

#![no_main]

use bp_operator::webhook::{Admission, review};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let admission = Admission { native_sidecars: true, allowed_host_paths: vec!["/data/builder-playground".into()] };
    let answer = review(body, &admission);
    let response = answer.response.expect("every answer has a response");
    let uid = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/request/uid").and_then(|u| u.as_str()).map(str::to_owned));
    if let Some(uid) = uid {
        assert_eq!(response.uid, uid);
    }
    assert!(response.allowed || !response.result.message.is_empty(), "a refusal says why");
});
