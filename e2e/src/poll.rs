//! Polling for tests: wait until something observed on the cluster says yes.

use std::time::{Duration, Instant};

/// Polls `get` every 100 ms until `check` returns Some, or panics after `timeout` with the
/// last value seen (test helper: the panic is the test's failure message).
pub async fn wait_for<T: std::fmt::Debug, R>(
    what: &str,
    timeout: Duration,
    mut get: impl AsyncFnMut() -> T,
    mut check: impl FnMut(&T) -> Option<R>,
) -> R {
    let deadline = Instant::now() + timeout;
    loop {
        let v = get().await;
        if let Some(r) = check(&v) {
            return r;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last value: {v:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
