//! The validating admission webhook: `POST /validate-builderplayground` answers the API
//! server's `admission.k8s.io/v1` AdmissionReview with the reconciler's own check
//! ([`check_spec`]), so a playground that would be `InvalidSpec` is refused at apply with the
//! same line. It needs no leadership: every replica serves it, over TLS ([`tls`]) with a
//! certificate the operator makes and rotates itself ([`certs`]) or one it is given.

pub mod certs;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use bp_generator::BuilderPlayground;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;

use crate::check::check_spec;

/// The path the ValidatingWebhookConfiguration names.
pub const PATH: &str = "/validate-builderplayground";

/// The largest request body read: an UPDATE carries the object and its old version, each at
/// most etcd's 1.5 MiB.
pub const BODY_LIMIT: usize = 4 << 20;

/// What the check needs besides the object: the cluster's settings, as the reconciler has them.
#[derive(Clone, Debug)]
pub struct Admission {
    pub native_sidecars: bool,
    pub allowed_host_paths: Vec<String>,
}

/// The webhook's routes: only [`PATH`].
pub fn router(admission: Arc<Admission>) -> Router {
    Router::new().route(PATH, post(validate)).layer(DefaultBodyLimit::max(BODY_LIMIT)).with_state(admission)
}

async fn validate(State(admission): State<Arc<Admission>>, body: Bytes) -> impl IntoResponse {
    // Rendering is CPU work of a few milliseconds; it runs off the async workers anyway so that a
    // burst of large playgrounds cannot stall the metrics and health endpoints.
    let checked = tokio::task::spawn_blocking(move || review(&body, &admission)).await;
    let review = checked.unwrap_or_else(|e| AdmissionResponse::invalid(format!("the check failed: {e}")).into_review());
    match serde_json::to_vec(&review) {
        Ok(json) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], json),
        Err(e) => {
            (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], e.to_string().into_bytes())
        }
    }
}

/// The answer to one request body: always a review with a response, carrying the request's
/// uid whenever the body has one.
pub fn review(body: &[u8], admission: &Admission) -> AdmissionReview<DynamicObject> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return AdmissionResponse::invalid(format!("the request is not JSON: {e}")).into_review(),
    };
    let uid = value.pointer("/request/uid").and_then(Value::as_str).unwrap_or_default().to_owned();
    let refuse = |message: String| {
        let mut response = AdmissionResponse::invalid(message);
        response.uid = uid.clone();
        response.into_review()
    };
    let review: AdmissionReview<DynamicObject> = match serde_json::from_value(value.clone()) {
        Ok(r) => r,
        Err(e) => return refuse(format!("the request is not an admission.k8s.io/v1 AdmissionReview: {e}")),
    };
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(_) => return refuse("the AdmissionReview carries no request".into()),
    };
    let response = AdmissionResponse::from(&request);
    match decide(&request, value.pointer("/request/object"), admission) {
        Ok(()) => response.into_review(),
        Err(message) => response.deny(message).into_review(),
    }
}

/// Allowed (`Ok`) or the one line that refuses it.
fn decide(
    request: &AdmissionRequest<DynamicObject>,
    object: Option<&Value>,
    admission: &Admission,
) -> Result<(), String> {
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return Ok(());
    }
    let Some(object) = object.filter(|o| !o.is_null()) else {
        return Err(format!("the {:?} request carries no object", request.operation));
    };
    if object.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        // Being deleted (a finalizer's update): nothing will be made for it.
        return Ok(());
    }
    let playground: BuilderPlayground = serde_path_to_error::deserialize(object)
        .map_err(|e| format!("invalid BuilderPlayground: {}: {}", e.path(), e.inner()))?;
    check_spec(&playground, admission.native_sidecars, &admission.allowed_host_paths)
}

#[cfg(test)]
mod tests;
