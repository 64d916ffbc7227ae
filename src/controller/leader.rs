//! Leader election through a coordination.k8s.io Lease, with the maintained
//! `kube-lease-manager` crate (server-side apply, skew tolerance), not a hand-rolled
//! read-then-patch. Only the replica holding the Lease runs the controller, so only it calls
//! EDAS; a replica that loses the Lease stops at once and exits non-zero, to be restarted.

use crate::cli::RunArgs;
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
}

impl Leadership {
    /// Resolves when this replica is no longer the leader.
    pub async fn lost(mut self) {
        let _ = self.rx.wait_for(|leader| !*leader).await;
    }

    /// Give the Lease up (dropping the last receiver makes the manager release it).
    pub async fn release(self) {
        drop(self.rx);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn default_identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "edas-operator".into());
    format!("{host}-{}", std::process::id())
}

/// Wait until this replica holds the Lease (or shutdown).
pub async fn acquire(
    client: Client,
    args: &RunArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Leadership> {
    let namespace = args
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "edas-system".into());
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let duration = args.lease_duration.as_secs().max(2);
    let grace = (duration / 3).max(1);
    let manager = LeaseManagerBuilder::new(client, &args.lease_name)
        .with_namespace(&namespace)
        .with_identity(&identity)
        .with_duration(duration)
        .with_grace(grace)
        .build()
        .await?;
    let (mut rx, _task) = manager.watch().await;
    tracing::info!(lease = %args.lease_name, %namespace, %identity, "waiting for leadership");
    tokio::select! {
        r = rx.wait_for(|leader| *leader) => { r?; }
        _ = shutdown => {}
    }
    if *rx.borrow() {
        tracing::info!(%identity, "leadership acquired");
    }
    Ok(Leadership { rx })
}
