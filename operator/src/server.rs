//! Metrics and health on one port (axum): `/metrics`, `/healthz` (the process is alive) and
//! `/readyz` (503 until the playground watch has synced).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// What the handlers read.
pub struct ServerState {
    pub metrics: Metrics,
    pub ready: AtomicBool,
}

pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

async fn readyz(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "watches not synced yet\n")
    }
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use kube::runtime::reflector;
    use tower::ServiceExt;

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let response = router.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn readyz_is_503_until_synced() {
        let (reader, _writer) = reflector::store();
        let state = Arc::new(ServerState { metrics: Metrics::new(reader).unwrap(), ready: false.into() });
        let app = router(state.clone());
        assert_eq!(get(app.clone(), "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get(app.clone(), "/healthz").await.0, StatusCode::OK);
        state.ready.store(true, Ordering::Release);
        assert_eq!(get(app.clone(), "/readyz").await.0, StatusCode::OK);
        let (code, page) = get(app, "/metrics").await;
        assert_eq!(code, StatusCode::OK);
        assert!(page.contains("# TYPE bp_playgrounds gauge"), "{page}");
        assert!(page.contains("bp_playgrounds{phase=\"Running\"} 0"), "{page}");
    }
}
