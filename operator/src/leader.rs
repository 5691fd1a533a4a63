//! Leader election with a coordination.k8s.io Lease (kube-lease-manager): of several
//! replicas only the holder of the Lease reconciles; every replica serves metrics and health.
//! A holder that loses the Lease exits, so that its restart waits for the Lease like any other
//! follower and two replicas never reconcile at once.

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use tokio::sync::watch;

/// Seconds a holder's claim stays valid without renewal: a killed leader is replaced within
/// this, plus a follower's next try.
pub const LEASE_SECONDS: u64 = 10;
/// A holder renews this long before its claim expires.
pub const RENEW_BEFORE_SECONDS: u64 = 3;

/// Which Lease, and who this replica is.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease: String,
    pub identity: String,
}

/// Waits until this replica holds the Lease; the receiver turns false when it no longer does.
/// Dropping the receiver releases the Lease.
pub async fn acquire(client: Client, election: &LeaderElection) -> Result<watch::Receiver<bool>, String> {
    let params = LeaseParams::new(&election.identity, LEASE_SECONDS, RENEW_BEFORE_SECONDS);
    let manager = LeaseManagerBuilder::new(client, &election.lease)
        .with_namespace(&election.namespace)
        .with_parameters(params)
        .build()
        .await
        .map_err(|e| format!("cannot use Lease {}/{}: {e}", election.namespace, election.lease))?;
    let (mut leading, _task) = manager.watch().await;
    while !*leading.borrow_and_update() {
        leading
            .changed()
            .await
            .map_err(|_| format!("the election for Lease {}/{} stopped", election.namespace, election.lease))?;
    }
    Ok(leading)
}

/// Resolves when `leading` says this replica no longer holds the Lease.
pub async fn lost(mut leading: watch::Receiver<bool>) {
    let _ = leading.wait_for(|held| !held).await;
}
