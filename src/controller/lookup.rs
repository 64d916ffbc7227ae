//! Answers that change rarely and are shared between resources: ListDeployGroup per app and
//! ListScaleOutEcu per cluster (20 calls a minute for a whole account, so one answer serves
//! every app of the cluster). Read through, per key one call at a time; a plan that needs an
//! ECU the cached answer does not list asks for a fresh one.

use crate::edas::{DeployGroup, EcuHost, EdasApi, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a ListDeployGroup answer is used.
pub const GROUPS_TTL: Duration = Duration::from_secs(600);
/// How long a ListScaleOutEcu answer is used when a plan finds every host it needs in it.
pub const ECUS_TTL: Duration = Duration::from_secs(300);
/// An answer this young counts as read in this pass (passes that ask at once share it).
pub const FRESH: Duration = Duration::from_secs(2);

type Slot<T> = Arc<tokio::sync::Mutex<Option<(Instant, T)>>>;

#[derive(Default)]
pub struct Lookups {
    groups: Mutex<HashMap<String, Slot<Vec<DeployGroup>>>>,
    ecus: Mutex<HashMap<String, Slot<Vec<EcuHost>>>>,
}

fn slot<T>(map: &Mutex<HashMap<String, Slot<T>>>, key: &str) -> Slot<T> {
    crate::lock(map).entry(key.to_string()).or_default().clone()
}

impl Lookups {
    /// The app's deploy groups, from the cache while younger than [`GROUPS_TTL`].
    pub async fn groups(
        &self,
        api: &dyn EdasApi,
        scope: &str,
        app_id: &str,
    ) -> Result<Vec<DeployGroup>> {
        let slot = slot(&self.groups, &format!("{scope}/{app_id}"));
        let mut held = slot.lock().await;
        if let Some((at, g)) = held.as_ref()
            && at.elapsed() < GROUPS_TTL
        {
            return Ok(g.clone());
        }
        let g = api.list_deploy_groups(app_id).await?;
        *held = Some((Instant::now(), g.clone()));
        Ok(g)
    }

    /// The free ECUs of the app's cluster (by ClusterId from its deploy groups; by AppId when
    /// they name none), and whether they were read just now. `fresh` asks for an answer no
    /// older than [`FRESH`].
    pub async fn free_ecus(
        &self,
        api: &dyn EdasApi,
        scope: &str,
        app_id: &str,
        fresh: bool,
    ) -> Result<(Vec<EcuHost>, bool)> {
        let groups = self.groups(api, scope, app_id).await?;
        let cluster = groups.iter().find_map(|g| g.cluster_id.clone());
        let key = match &cluster {
            Some(c) => format!("{scope}/cluster/{c}"),
            None => format!("{scope}/app/{app_id}"),
        };
        let slot = slot(&self.ecus, &key);
        let mut held = slot.lock().await;
        if let Some((at, e)) = held.as_ref() {
            let age = at.elapsed();
            if age < FRESH || (!fresh && age < ECUS_TTL) {
                return Ok((e.clone(), age < FRESH));
            }
        }
        let e = api.list_scale_out_ecus(app_id, cluster.as_deref()).await?;
        *held = Some((Instant::now(), e.clone()));
        Ok((e, true))
    }

    /// Forget what is known of free ECUs under `scope` (a ScaleOut was refused: the answer
    /// may list an ECU that is no longer free).
    pub fn forget_ecus(&self, scope: &str) {
        crate::lock(&self.ecus).retain(|k, _| !k.starts_with(&format!("{scope}/")));
    }
}
