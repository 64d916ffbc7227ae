//! Leader election through a coordination.k8s.io Lease, with the maintained
//! `kube-lease-manager` crate (server-side apply, skew tolerance), not a hand-rolled
//! read-then-patch. Only the replica holding the Lease runs the controller, so only it calls
//! EDAS; a replica that loses the Lease stops at once and exits non-zero, to be restarted.

use crate::cli::RunArgs;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
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

/// The Lease this replica must hold to send a mutation.
#[derive(Clone, Debug)]
pub struct LeaseFence {
    pub name: String,
    pub namespace: String,
    pub identity: String,
}

impl LeaseFence {
    pub fn from_args(args: &RunArgs) -> Self {
        Self {
            name: args.lease_name.clone(),
            namespace: args
                .lease_namespace
                .clone()
                .or_else(|| std::env::var("POD_NAMESPACE").ok())
                .unwrap_or_else(|| "edas-system".into()),
            identity: args.identity.clone().unwrap_or_else(default_identity),
        }
    }

    /// Read the Lease now: it must name this replica and not have expired by its own
    /// renewal time. A paused or partitioned leader whose Lease was taken over finds another
    /// holder here, whatever its lease manager last believed.
    pub async fn check(&self, client: &Client) -> Result<(), String> {
        let leases: Api<Lease> = Api::namespaced(client.clone(), &self.namespace);
        let lease = leases
            .get(&self.name)
            .await
            .map_err(|e| format!("cannot read Lease {}/{}: {e}", self.namespace, self.name))?;
        let spec = lease.spec.unwrap_or_default();
        let holder = spec.holder_identity.unwrap_or_default();
        if holder != self.identity {
            return Err(format!(
                "Lease {}/{} is held by {holder:?}, not this replica",
                self.namespace, self.name
            ));
        }
        let renewed = spec.renew_time.map(|t| t.0.as_millisecond());
        let duration_ms = i64::from(spec.lease_duration_seconds.unwrap_or(0)) * 1000;
        let now = jiff::Timestamp::now().as_millisecond();
        match renewed {
            Some(r) if r + duration_ms > now => Ok(()),
            _ => Err(format!(
                "Lease {}/{} has expired; not sending",
                self.namespace, self.name
            )),
        }
    }
}

/// Wait until this replica holds the Lease (or shutdown).
pub async fn acquire(
    client: Client,
    args: &RunArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Leadership> {
    let LeaseFence {
        namespace,
        identity,
        ..
    } = LeaseFence::from_args(args);
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
