//! The simulator's in-memory model: apps with deploy groups, ECUs and ECCs; change orders that
//! advance on a clock; fault settings; per-key rate-limit windows; the nonce store; the call log.
//!
//! Change orders are a small discrete-event machine advanced lazily: every entry point first
//! runs [`Inner::tick`] up to "now", so the model is exact at whatever moment it is looked at,
//! with no background task. The clock is injectable ([`ManualClock`]) for tests.

use super::auth::AccessKey;
use super::document::{
    BatchType, ChangeOrderSettings, DocumentError, EcuDoc, Faults, FaultsPatch, StateDocument,
};
use super::error::{ApiError, GatewayError};
use crate::edas::{Operation, wire};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The call log keeps at most this many calls (oldest dropped first).
pub const MAX_CALLS: usize = 100_000;
/// How long a nonce is remembered (the skew window, both ways, plus a margin).
const NONCE_TTL_MS: i64 = 31 * 60 * 1000;
const WINDOW_MS: i64 = 60_000;

/// Where the simulator gets the time from.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to (tests). Signature dates are checked against it too.
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> Arc<Self> {
        Arc::new(Self {
            ms: AtomicI64::new(start_ms),
        })
    }
    /// Starts at the current wall-clock time.
    pub fn starting_now() -> Arc<Self> {
        Self::new(SystemClock.now_ms())
    }
    pub fn advance(&self, by: Duration) {
        self.ms.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
    pub fn set_ms(&self, ms: i64) {
        self.ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }
}

// ------------------------------------------------------------------ snapshots (GET /_sim/*)

/// `GET /_sim/state`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSnapshot {
    pub apps: Vec<AppSnapshot>,
    pub change_orders: Vec<ChangeOrderSnapshot>,
    #[serde(default)]
    pub faults: Faults,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSnapshot {
    pub app_id: String,
    pub region_id: String,
    #[serde(default)]
    pub name: String,
    pub eccs: Vec<EccSnapshot>,
    /// ECUs known to the app that run no ECC of it and no order is adding.
    #[serde(default)]
    pub free_ecu_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EccSnapshot {
    pub ecc_id: String,
    pub ecu_id: String,
    pub instance_id: String,
    pub ip: String,
    pub app_state: i64,
    pub task_state: i64,
    #[serde(default)]
    pub group_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeOrderSnapshot {
    pub change_order_id: String,
    pub app_id: String,
    /// `CoScaleIn`, `CoScaleOut`, `CoDeploy`, ...
    pub co_type: String,
    pub status: i64,
    /// Scale-in and others: the ECCs the order acts on. Scale-out: the ECCs it has created.
    pub ecc_ids: Vec<String>,
    /// The ECUs the order acts on.
    #[serde(default)]
    pub ecu_ids: Vec<String>,
    /// `pop` (API) or `console` (admin endpoint).
    pub source: String,
    /// Epoch ms.
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One API call in `GET /_sim/calls`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// The operation routed to, else the `x-acs-action` header, else "".
    pub action: String,
    pub method: String,
    pub path: String,
    /// The decoded query.
    pub params: BTreeMap<String, String>,
    pub http_status: u16,
    /// The body's `Code` as answered: an int (EDAS body) or a string (gateway error).
    pub code: serde_json::Value,
    /// Epoch ms.
    pub at: i64,
    #[serde(default)]
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The connection was closed instead of sending this answer (`dropRate`).
    #[serde(default)]
    pub dropped: bool,
}

/// `POST /_sim/apps/{appId}/change-orders`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsoleOrderRequest {
    /// CoScaleIn, CoScaleOut, CoDeploy, CoRestart, CoStart, CoStop, CoRollback.
    pub co_type: String,
    /// Default `console`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// CoScaleIn: the ECCs to remove (default: the app's last ECC). Others: the ECCs to act
    /// on (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecc_ids: Option<Vec<String>>,
    /// CoScaleOut: the ECUs to add (default: one free ECU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecu_ids: Option<Vec<String>>,
    /// CoScaleOut: the deploy group (default: the app's first group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

/// An admin request that cannot be carried out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AdminError {
    pub http_status: u16,
    pub message: String,
}

impl AdminError {
    fn new(http_status: u16, message: impl Into<String>) -> Self {
        Self {
            http_status,
            message: message.into(),
        }
    }
}

// ------------------------------------------------------------------ the model

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoKind {
    ScaleIn,
    ScaleOut,
    Deploy,
    Restart,
    Start,
    Stop,
    Rollback,
}

impl CoKind {
    pub const ALL: [CoKind; 7] = [
        CoKind::ScaleIn,
        CoKind::ScaleOut,
        CoKind::Deploy,
        CoKind::Restart,
        CoKind::Start,
        CoKind::Stop,
        CoKind::Rollback,
    ];
    pub fn code(self) -> &'static str {
        match self {
            CoKind::ScaleIn => "CoScaleIn",
            CoKind::ScaleOut => "CoScaleOut",
            CoKind::Deploy => "CoDeploy",
            CoKind::Restart => "CoRestart",
            CoKind::Start => "CoStart",
            CoKind::Stop => "CoStop",
            CoKind::Rollback => "CoRollback",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            CoKind::ScaleIn => "Application Scale In",
            CoKind::ScaleOut => "Application Scale Out",
            CoKind::Deploy => "Application Deploy",
            CoKind::Restart => "Application Restart",
            CoKind::Start => "Application Start",
            CoKind::Stop => "Application Stop",
            CoKind::Rollback => "Application Rollback",
        }
    }
    fn verb(self) -> &'static str {
        match self {
            CoKind::ScaleIn => "Remove instance",
            CoKind::ScaleOut => "Add instance",
            CoKind::Deploy => "Deploy instance",
            CoKind::Restart => "Restart instance",
            CoKind::Start => "Start instance",
            CoKind::Stop => "Stop instance",
            CoKind::Rollback => "Roll back instance",
        }
    }
    pub fn from_code(code: &str) -> Option<CoKind> {
        CoKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

#[derive(Clone, Debug)]
struct App {
    app_id: String,
    region_id: String,
    name: String,
    cluster_id: String,
    /// (id, name)
    groups: Vec<(String, String)>,
    ecus: Vec<EcuDoc>,
    eccs: Vec<Ecc>,
    created_at: i64,
}

#[derive(Clone, Debug)]
struct Ecc {
    ecc_id: String,
    ecu_id: String,
    group_id: String,
    app_state: i64,
    task_state: i64,
    created_at: i64,
    updated_at: i64,
}

impl App {
    fn ecu(&self, ecu_id: &str) -> Option<&EcuDoc> {
        self.ecus.iter().find(|u| u.ecu_id == ecu_id)
    }
    fn ecc_mut(&mut self, ecc_id: &str) -> Option<&mut Ecc> {
        self.eccs.iter_mut().find(|e| e.ecc_id == ecc_id)
    }
    fn ip_of(&self, ecu_id: &str) -> String {
        self.ecu(ecu_id).map(|u| u.ip.clone()).unwrap_or_default()
    }
}

#[derive(Clone, Debug)]
struct Task {
    id: String,
    /// The ECC acted on (scale-in and others) or created (scale-out, once done).
    ecc_id: Option<String>,
    ecu_id: String,
    ip: String,
    status: i64,
    message: String,
    error: Option<(String, String)>,
}

#[derive(Clone, Debug)]
struct Batch {
    pipeline_id: String,
    stage_id: String,
    status: i64,
    start: Option<i64>,
    update: Option<i64>,
    tasks: Vec<Task>,
}

#[derive(Clone, Debug)]
struct Order {
    seq: u64,
    id: String,
    app_id: String,
    group_id: String,
    kind: CoKind,
    source: String,
    created_at: i64,
    finished_at: Option<i64>,
    status: i64,
    batch_type: BatchType,
    batches: Vec<Batch>,
    /// ECC ids (scale-in and others) or ECU ids (scale-out), as given.
    targets: Vec<String>,
    description: String,
    fail_planned: bool,
    stalled: bool,
    next_at: Option<i64>,
    cur_batch: usize,
    cur_task: usize,
    step_ms: i64,
    wait_ms: i64,
}

impl Order {
    fn is_unfinished(&self) -> bool {
        matches!(self.status, 0 | 1 | 8 | 9)
    }
}

/// A change order to create.
struct NewOrder<'a> {
    app_id: &'a str,
    kind: CoKind,
    source: &'a str,
    group_id: String,
    seeds: Vec<TaskSeed>,
    description: String,
}

/// What a task to be created acts on.
struct TaskSeed {
    ecc_id: Option<String>,
    ecu_id: String,
    ip: String,
}

pub(crate) struct Inner {
    keys: BTreeMap<String, AccessKey>,
    apps: Vec<App>,
    orders: Vec<Order>,
    settings: ChangeOrderSettings,
    limits: BTreeMap<String, u32>,
    pub(crate) faults: Faults,
    calls: VecDeque<CallRecord>,
    nonces: HashMap<(String, String), i64>,
    windows: HashMap<(String, Operation), VecDeque<i64>>,
    next_seq: u64,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Inner {
    fn from_document(doc: StateDocument, now: i64) -> Inner {
        let apps = doc
            .apps
            .into_iter()
            .map(|a| {
                let groups: Vec<(String, String)> = if a.groups.is_empty() {
                    vec![(format!("{}-default", a.app_id), "_DEFAULT_GROUP".into())]
                } else {
                    a.groups
                        .into_iter()
                        .map(|g| {
                            let name = g.group_name.unwrap_or_else(|| g.group_id.clone());
                            (g.group_id, name)
                        })
                        .collect()
                };
                let first_group = groups.first().map(|g| g.0.clone()).unwrap_or_default();
                let eccs = a
                    .eccs
                    .into_iter()
                    .map(|c| {
                        let ecu_group = a
                            .ecus
                            .iter()
                            .find(|u| u.ecu_id == c.ecu_id)
                            .and_then(|u| u.group_id.clone());
                        Ecc {
                            group_id: c
                                .group_id
                                .or(ecu_group)
                                .unwrap_or_else(|| first_group.clone()),
                            ecc_id: c.ecc_id,
                            ecu_id: c.ecu_id,
                            app_state: c.app_state,
                            task_state: c.task_state,
                            created_at: now,
                            updated_at: now,
                        }
                    })
                    .collect();
                App {
                    name: a.name.unwrap_or_else(|| a.app_id.clone()),
                    cluster_id: a
                        .cluster_id
                        .unwrap_or_else(|| format!("cluster-{}", a.region_id)),
                    app_id: a.app_id,
                    region_id: a.region_id,
                    groups,
                    ecus: a.ecus,
                    eccs,
                    created_at: now,
                }
            })
            .collect();
        Inner {
            keys: doc
                .access_keys
                .into_iter()
                .map(|k| {
                    (
                        k.id.clone(),
                        AccessKey {
                            id: k.id,
                            secret: k.secret,
                            security_token: k.security_token,
                        },
                    )
                })
                .collect(),
            apps,
            orders: Vec::new(),
            settings: doc.change_orders,
            limits: doc.limits,
            faults: doc.faults,
            calls: VecDeque::new(),
            nonces: HashMap::new(),
            windows: HashMap::new(),
            next_seq: 0,
        }
    }

    // ------------------------------------------------------------- gateway bookkeeping

    pub(crate) fn access_key(&self, id: &str) -> Option<AccessKey> {
        self.keys.get(id).cloned()
    }

    /// Remember a nonce; a nonce seen before (per key, within the skew window) is refused.
    pub(crate) fn use_nonce(
        &mut self,
        ak: &str,
        nonce: &str,
        now: i64,
    ) -> Result<(), GatewayError> {
        if self.nonces.len() > 10_000 {
            self.nonces.retain(|_, at| now - *at < NONCE_TTL_MS);
        }
        let key = (ak.to_string(), nonce.to_string());
        match self.nonces.get(&key) {
            Some(at) if now - *at < NONCE_TTL_MS => Err(GatewayError::new(
                400,
                "SignatureNonceUsed",
                format!("Specified signature nonce was used already: {nonce}"),
            )),
            _ => {
                self.nonces.insert(key, now);
                Ok(())
            }
        }
    }

    /// The per-minute limit in force for an operation, if any.
    pub(crate) fn limit_for(&self, op: Operation) -> Option<u32> {
        match self.limits.get(op.name()) {
            Some(0) => None,
            Some(n) => Some(*n),
            None => op.documented_limit_per_minute(),
        }
    }

    /// Count a call against the key's sliding one-minute window; refused calls do not count.
    pub(crate) fn take_rate(
        &mut self,
        ak: &str,
        op: Operation,
        now: i64,
    ) -> Result<(), GatewayError> {
        let Some(limit) = self.limit_for(op) else {
            return Ok(());
        };
        let window = self.windows.entry((ak.to_string(), op)).or_default();
        while window.front().is_some_and(|t| now - *t >= WINDOW_MS) {
            window.pop_front();
        }
        if window.len() >= limit as usize {
            return Err(GatewayError::new(
                400,
                "Throttling.User",
                format!(
                    "Request was denied due to user flow control: {} allows {limit} calls per \
                     minute per access key.",
                    op.name()
                ),
            ));
        }
        window.push_back(now);
        Ok(())
    }

    pub(crate) fn record_call(&mut self, call: CallRecord) {
        if self.calls.len() >= MAX_CALLS {
            self.calls.pop_front();
        }
        self.calls.push_back(call);
    }

    // ------------------------------------------------------------- change-order clock

    /// Advance every change order to `now`.
    pub(crate) fn tick(&mut self, now: i64) {
        let Inner { orders, apps, .. } = self;
        for o in orders.iter_mut() {
            while let Some(at) = o.next_at {
                if at > now {
                    break;
                }
                o.next_at = None;
                step(o, apps, at);
            }
        }
    }

    fn app(&self, app_id: &str) -> Result<&App, ApiError> {
        self.apps
            .iter()
            .find(|a| a.app_id == app_id)
            .ok_or_else(|| ApiError::business(format!("application {app_id} does not exist")))
    }

    fn busy(&self, app_id: &str) -> Result<(), ApiError> {
        match self
            .orders
            .iter()
            .find(|o| o.app_id == app_id && o.is_unfinished())
        {
            Some(o) => Err(ApiError::business(format!(
                "a change order is in progress for application {app_id}: {} ({}, status {}); \
                 wait for it to finish",
                o.id,
                o.kind.code(),
                o.status
            ))),
            None => Ok(()),
        }
    }

    /// ECUs known to the app that run no ECC of it and that no unfinished order is adding.
    fn free_ecus(&self, app: &App) -> Vec<EcuDoc> {
        app.ecus
            .iter()
            .filter(|u| !app.eccs.iter().any(|e| e.ecu_id == u.ecu_id))
            .filter(|u| {
                !self.orders.iter().any(|o| {
                    o.app_id == app.app_id
                        && o.is_unfinished()
                        && o.kind == CoKind::ScaleOut
                        && o.targets.contains(&u.ecu_id)
                })
            })
            .cloned()
            .collect()
    }

    fn create_order(&mut self, new: NewOrder<'_>, now: i64) -> String {
        let NewOrder {
            app_id,
            kind,
            source,
            group_id,
            seeds,
            description,
        } = new;
        let targets: Vec<String> = seeds
            .iter()
            .map(|s| match kind {
                CoKind::ScaleOut => s.ecu_id.clone(),
                _ => s.ecc_id.clone().unwrap_or_default(),
            })
            .collect();
        let n = seeds.len();
        let k = (self.settings.batch_count as usize).clamp(1, n.max(1));
        let (base, extra) = (n / k, n % k);
        let mut seeds = seeds.into_iter();
        let batches = (0..k)
            .map(|b| {
                let size = base + usize::from(b < extra);
                Batch {
                    pipeline_id: new_id(),
                    stage_id: new_id(),
                    status: 0,
                    start: None,
                    update: None,
                    tasks: seeds
                        .by_ref()
                        .take(size)
                        .map(|s| Task {
                            id: new_id(),
                            ecc_id: s.ecc_id,
                            ecu_id: s.ecu_id,
                            ip: s.ip,
                            status: 0,
                            message: String::new(),
                            error: None,
                        })
                        .collect(),
                }
            })
            .collect();
        let fail_planned = n > 0 && self.faults.fail_next_change_orders > 0;
        if fail_planned {
            self.faults.fail_next_change_orders -= 1;
        }
        let step_ms = (self.settings.seconds_per_instance * 1000.0).round() as i64;
        let id = new_id();
        self.next_seq += 1;
        self.orders.push(Order {
            seq: self.next_seq,
            id: id.clone(),
            app_id: app_id.to_string(),
            group_id,
            kind,
            source: source.to_string(),
            created_at: now,
            finished_at: None,
            status: 0,
            batch_type: self.settings.batch_type,
            batches,
            targets,
            description,
            fail_planned,
            stalled: self.faults.stall_change_orders,
            next_at: Some(now + step_ms / 2),
            cur_batch: 0,
            cur_task: 0,
            step_ms,
            wait_ms: (self.settings.batch_wait_seconds * 1000.0).round() as i64,
        });
        id
    }

    pub(crate) fn set_faults(&mut self, patch: &FaultsPatch, now: i64) -> Result<Faults, String> {
        let new = self.faults.patched(patch)?;
        if self.faults.stall_change_orders && !new.stall_change_orders {
            for o in self.orders.iter_mut().filter(|o| o.stalled) {
                o.stalled = false;
                if o.status == 1 && o.next_at.is_none() {
                    o.next_at = Some(now + o.step_ms);
                }
            }
        }
        self.faults = new;
        Ok(self.faults.clone())
    }

    // ------------------------------------------------------------- API operations

    pub(crate) fn query_application_status(
        &self,
        app_id: &str,
        now: i64,
    ) -> Result<wire::AppInfo, ApiError> {
        let app = self.app(app_id)?;
        let running = app.eccs.iter().filter(|e| e.app_state == 7).count() as i64;
        let ecc_list = app
            .eccs
            .iter()
            .map(|e| wire::Ecc {
                ecc_id: e.ecc_id.clone(),
                ecu_id: e.ecu_id.clone(),
                app_id: app.app_id.clone(),
                group_id: e.group_id.clone(),
                ip: app.ip_of(&e.ecu_id),
                app_state: Some(e.app_state),
                task_state: Some(e.task_state),
                container_status: Some(String::new()),
                vpc_id: Some("vpc-sim".into()),
                create_time: Some(e.created_at),
                update_time: Some(e.updated_at),
            })
            .collect();
        let ecu_list = app
            .eccs
            .iter()
            .filter_map(|e| app.ecu(&e.ecu_id).map(|u| (e, u)))
            .map(|(e, u)| wire::Ecu {
                ecu_id: u.ecu_id.clone(),
                instance_id: u.instance_id.clone(),
                ip_addr: u.ip.clone(),
                name: Some(u.instance_id.clone()),
                online: Some(true),
                group_id: Some(e.group_id.clone()),
                region_id: Some(app.region_id.clone()),
                zone_id: Some(format!("{}-a", app.region_id)),
                vpc_id: Some("vpc-sim".into()),
                available_cpu: Some(2),
                available_mem: Some(4096),
                heartbeat_time: Some(now),
                create_time: Some(app.created_at),
            })
            .collect();
        Ok(wire::AppInfo {
            application: Some(wire::StatusApplication {
                application_id: app.app_id.clone(),
                name: app.name.clone(),
                cluster_id: Some(app.cluster_id.clone()),
                region_id: Some(app.region_id.clone()),
                instance_count: Some(app.eccs.len() as i64),
                running_instance_count: Some(running),
                port: Some(8080),
                create_time: Some(app.created_at),
            }),
            ecc_list: wire::EccList { items: ecc_list },
            ecu_list: wire::EcuList { items: ecu_list },
            group_list: wire::GroupList {
                items: self.groups_wire(app),
            },
            deploy_record_list: wire::DeployRecordList::default(),
        })
    }

    fn groups_wire(&self, app: &App) -> Vec<wire::Group> {
        app.groups
            .iter()
            .enumerate()
            .map(|(i, (id, name))| wire::Group {
                group_id: id.clone(),
                group_name: name.clone(),
                group_type: Some(if i == 0 { 0 } else { 1 }),
                app_id: Some(app.app_id.clone()),
                cluster_id: Some(app.cluster_id.clone()),
                create_time: Some(app.created_at),
            })
            .collect()
    }

    /// ScaleInApplication. `Ok(None)` when forced (removed at once, no order).
    pub(crate) fn scale_in(
        &mut self,
        app_id: &str,
        ecc_ids: &[String],
        force: bool,
        source: &str,
        now: i64,
    ) -> Result<Option<String>, ApiError> {
        let app = self.app(app_id)?;
        let mut seeds = Vec::with_capacity(ecc_ids.len());
        for id in ecc_ids {
            let Some(e) = app.eccs.iter().find(|e| &e.ecc_id == id) else {
                return Err(ApiError::business(format!(
                    "ECC {id} does not exist in application {app_id}"
                )));
            };
            seeds.push(TaskSeed {
                ecc_id: Some(id.clone()),
                ecu_id: e.ecu_id.clone(),
                ip: app.ip_of(&e.ecu_id),
            });
        }
        self.busy(app_id)?;
        if force {
            if let Some(app) = self.apps.iter_mut().find(|a| a.app_id == app_id) {
                app.eccs.retain(|e| !ecc_ids.contains(&e.ecc_id));
            }
            return Ok(None);
        }
        let description = format!(
            "Scale in {} instance(s): EccIds={}",
            ecc_ids.len(),
            ecc_ids.join(",")
        );
        let group = app
            .eccs
            .iter()
            .find(|e| ecc_ids.contains(&e.ecc_id))
            .map(|e| e.group_id.clone())
            .unwrap_or_default();
        Ok(Some(self.create_order(
            NewOrder {
                app_id,
                kind: CoKind::ScaleIn,
                source,
                group_id: group,
                seeds,
                description,
            },
            now,
        )))
    }

    pub(crate) fn scale_out(
        &mut self,
        app_id: &str,
        group_id: &str,
        ecu_ids: &[String],
        source: &str,
        now: i64,
    ) -> Result<String, ApiError> {
        let app = self.app(app_id)?;
        if !app.groups.iter().any(|(g, _)| g == group_id) {
            return Err(ApiError::business(format!(
                "deploy group {group_id} does not exist in application {app_id}"
            )));
        }
        self.busy(app_id)?;
        let free = self.free_ecus(app);
        let mut seeds = Vec::with_capacity(ecu_ids.len());
        for id in ecu_ids {
            let Some(u) = free.iter().find(|u| &u.ecu_id == id) else {
                let why = if app.ecu(id).is_some() {
                    "already runs the application"
                } else {
                    "is not in the application's cluster"
                };
                return Err(ApiError::business(format!(
                    "ECU {id} cannot be used to scale out application {app_id}: it {why}"
                )));
            };
            seeds.push(TaskSeed {
                ecc_id: None,
                ecu_id: id.clone(),
                ip: u.ip.clone(),
            });
        }
        let description = format!(
            "Scale out {} instance(s) into group {group_id}: EcuIds={}",
            ecu_ids.len(),
            ecu_ids.join(",")
        );
        Ok(self.create_order(
            NewOrder {
                app_id,
                kind: CoKind::ScaleOut,
                source,
                group_id: group_id.to_string(),
                seeds,
                description,
            },
            now,
        ))
    }

    fn order(&self, id: &str) -> Result<&Order, ApiError> {
        self.orders
            .iter()
            .find(|o| o.id == id)
            .ok_or_else(|| ApiError::business(format!("change order {id} does not exist")))
    }

    pub(crate) fn change_order_info(&self, id: &str) -> Result<wire::ChangeOrderInfo, ApiError> {
        let o = self.order(id)?;
        let fmt = |ms: Option<i64>| ms.map(wire::format_co_time);
        let pipelines = o
            .batches
            .iter()
            .enumerate()
            .map(|(b, batch)| wire::PipelineInfo {
                pipeline_id: batch.pipeline_id.clone(),
                pipeline_name: format!("Batch {}", b + 1),
                pipeline_status: Some(batch.status),
                start_time: fmt(batch.start),
                update_time: fmt(batch.update),
                stage_detail_list: wire::StageDetailList {
                    items: vec![wire::StageDetail {
                        stage_id: batch.stage_id.clone(),
                        stage_name: o.kind.label().to_string(),
                        stage_status: Some(batch.status),
                        task_list: wire::TaskList {
                            items: batch
                                .tasks
                                .iter()
                                .map(|t| wire::TaskInfo {
                                    task_id: t.id.clone(),
                                    task_name: format!(
                                        "{} {} ({})",
                                        o.kind.verb(),
                                        t.ip,
                                        t.ecc_id.as_deref().unwrap_or(&t.ecu_id)
                                    ),
                                    task_status: Some(t.status.to_string()),
                                    task_message: Some(t.message.clone()),
                                    task_error_code: t.error.as_ref().map(|e| e.0.clone()),
                                    task_error_message: t.error.as_ref().map(|e| e.1.clone()),
                                })
                                .collect(),
                        },
                    }],
                },
            })
            .collect();
        Ok(wire::ChangeOrderInfo {
            change_order_id: o.id.clone(),
            status: Some(o.status),
            co_type: Some(o.kind.label().to_string()),
            desc: Some(o.description.clone()),
            change_order_description: Some(o.description.clone()),
            create_time: Some(wire::format_co_time(o.created_at)),
            create_user_id: Some(user_of(o)),
            batch_count: Some(o.batches.len() as i64),
            batch_type: Some(o.batch_type.as_str().to_string()),
            support_rollback: Some(false),
            targets: Some(wire::Targets {
                items: o.targets.clone(),
            }),
            pipeline_info_list: wire::PipelineInfoList { items: pipelines },
        })
    }

    pub(crate) fn recent_change_orders(
        &self,
        app_id: &str,
    ) -> Result<Vec<wire::ChangeOrderSummary>, ApiError> {
        self.app(app_id)?;
        let mut orders: Vec<&Order> = self.orders.iter().filter(|o| o.app_id == app_id).collect();
        orders.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.seq.cmp(&a.seq)));
        Ok(orders
            .into_iter()
            .take(100)
            .map(|o| wire::ChangeOrderSummary {
                change_order_id: o.id.clone(),
                app_id: o.app_id.clone(),
                group_id: Some(o.group_id.clone()),
                status: Some(o.status),
                co_type: Some(o.kind.label().to_string()),
                co_type_code: Some(o.kind.code().to_string()),
                batch_count: Some(o.batches.len() as i64),
                batch_type: Some(o.batch_type.as_str().to_string()),
                source: Some(o.source.clone()),
                change_order_description: Some(o.description.clone()),
                create_time: Some(wire::format_co_time(o.created_at)),
                finish_time: o.finished_at.map(wire::format_co_time),
                create_user_id: Some(user_of(o)),
                user_id: Some("sim-user".into()),
            })
            .collect())
    }

    pub(crate) fn list_applications(&self, filter: &AppFilter) -> Vec<wire::ApplicationSummary> {
        let apps: Vec<&App> = self
            .apps
            .iter()
            .filter(|a| {
                filter
                    .app_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&a.app_id))
            })
            .filter(|a| {
                filter.name.as_ref().is_none_or(|n| {
                    a.name
                        .to_ascii_lowercase()
                        .contains(&n.to_ascii_lowercase())
                })
            })
            .filter(|a| {
                filter
                    .cluster_id
                    .as_ref()
                    .is_none_or(|c| &a.cluster_id == c)
            })
            .filter(|a| filter.region_id.as_ref().is_none_or(|r| &a.region_id == r))
            .collect();
        let size = filter.page_size.unwrap_or(apps.len().max(1));
        let page = filter.page.unwrap_or(1).max(1);
        apps.into_iter()
            .skip((page - 1).saturating_mul(size))
            .take(size)
            .map(|a| wire::ApplicationSummary {
                app_id: a.app_id.clone(),
                name: a.name.clone(),
                region_id: Some(a.region_id.clone()),
                cluster_id: Some(a.cluster_id.clone()),
                cluster_type: Some(2),
                state: Some(
                    if self.busy(&a.app_id).is_err() {
                        "DEPLOYING"
                    } else {
                        "RUNNING"
                    }
                    .into(),
                ),
                instances: Some(a.eccs.len() as i64),
                running_instance_count: Some(
                    a.eccs.iter().filter(|e| e.app_state == 7).count() as i64
                ),
                application_type: Some("FatJar".into()),
                create_time: Some(a.created_at),
            })
            .collect()
    }

    pub(crate) fn get_application(
        &self,
        app_id: &str,
    ) -> Result<wire::ApplicationDetail, ApiError> {
        let a = self.app(app_id)?;
        Ok(wire::ApplicationDetail {
            app_id: a.app_id.clone(),
            name: a.name.clone(),
            region_id: Some(a.region_id.clone()),
            cluster_id: Some(a.cluster_id.clone()),
            cluster_type: Some("2".into()),
            application_type: Some("FatJar".into()),
            instance_count: Some(a.eccs.len() as i64),
            running_instance_count: Some(a.eccs.iter().filter(|e| e.app_state == 7).count() as i64),
            create_time: Some(a.created_at),
        })
    }

    pub(crate) fn deploy_groups(&self, app_id: &str) -> Result<Vec<wire::DeployGroup>, ApiError> {
        let app = self.app(app_id)?;
        Ok(self
            .groups_wire(app)
            .into_iter()
            .map(|g| wire::DeployGroup {
                group_id: g.group_id,
                group_name: g.group_name,
                group_type: g.group_type,
                app_id: app.app_id.clone(),
                cluster_id: g.cluster_id,
                create_time: g.create_time,
            })
            .collect())
    }

    pub(crate) fn scale_out_ecus(
        &self,
        app_id: Option<&str>,
        cluster_id: Option<&str>,
        limit: Option<usize>,
        now: i64,
    ) -> Result<Vec<wire::Ecu>, ApiError> {
        let apps: Vec<&App> = match app_id {
            Some(id) => vec![self.app(id)?],
            None => self
                .apps
                .iter()
                .filter(|a| Some(a.cluster_id.as_str()) == cluster_id)
                .collect(),
        };
        let mut out: Vec<wire::Ecu> = Vec::new();
        for app in apps {
            if cluster_id.is_some_and(|c| c != app.cluster_id) {
                continue;
            }
            for u in self.free_ecus(app) {
                if out.iter().any(|e| e.ecu_id == u.ecu_id) {
                    continue;
                }
                out.push(wire::Ecu {
                    ecu_id: u.ecu_id.clone(),
                    instance_id: u.instance_id.clone(),
                    ip_addr: u.ip.clone(),
                    name: Some(u.instance_id.clone()),
                    online: Some(true),
                    group_id: u.group_id.clone(),
                    region_id: Some(app.region_id.clone()),
                    zone_id: Some(format!("{}-a", app.region_id)),
                    vpc_id: Some("vpc-sim".into()),
                    available_cpu: Some(2),
                    available_mem: Some(4096),
                    heartbeat_time: Some(now),
                    create_time: Some(app.created_at),
                });
            }
        }
        if let Some(n) = limit {
            out.truncate(n);
        }
        Ok(out)
    }

    pub(crate) fn continue_pipeline(
        &mut self,
        pipeline_id: &str,
        confirm: bool,
        now: i64,
    ) -> Result<(), ApiError> {
        let Inner { orders, apps, .. } = self;
        let Some(o) = orders
            .iter_mut()
            .find(|o| o.batches.iter().any(|b| b.pipeline_id == pipeline_id))
        else {
            return Err(ApiError::business(format!(
                "pipeline {pipeline_id} does not exist"
            )));
        };
        if o.status != 8 {
            return Err(ApiError::business(format!(
                "pipeline {pipeline_id} is not waiting for confirmation (change order {} has status {})",
                o.id, o.status
            )));
        }
        if confirm {
            o.status = 1;
            let b = o.cur_batch;
            start_batch(o, apps, b, now);
        }
        Ok(())
    }

    pub(crate) fn abort(&mut self, id: &str, now: i64) -> Result<(), ApiError> {
        let Inner { orders, apps, .. } = self;
        let Some(o) = orders.iter_mut().find(|o| o.id == id) else {
            return Err(ApiError::business(format!(
                "change order {id} does not exist"
            )));
        };
        if !o.is_unfinished() {
            return Err(ApiError::business(format!(
                "change order {id} has already finished (status {})",
                o.status
            )));
        }
        let kind = o.kind;
        let app = apps.iter_mut().find(|a| a.app_id == o.app_id);
        let mut in_flight = None;
        for batch in o.batches.iter_mut() {
            if batch.status != 2 {
                for t in batch.tasks.iter_mut().filter(|t| t.status == 1) {
                    t.status = 6;
                    t.message = "aborted".into();
                    in_flight = t.ecc_id.clone();
                }
                batch.status = 6;
                batch.update = Some(now);
            }
        }
        if let (Some(app), Some(ecc), true) = (app, in_flight, kind != CoKind::ScaleOut)
            && let Some(e) = app.ecc_mut(&ecc)
        {
            e.task_state = 2;
            e.updated_at = now;
        }
        o.status = 6;
        o.finished_at = Some(now);
        o.next_at = None;
        Ok(())
    }

    // ------------------------------------------------------------- admin

    pub(crate) fn console_order(
        &mut self,
        app_id: &str,
        req: &ConsoleOrderRequest,
        now: i64,
    ) -> Result<String, AdminError> {
        let Some(kind) = CoKind::from_code(&req.co_type) else {
            let known: Vec<&str> = CoKind::ALL.iter().map(|k| k.code()).collect();
            return Err(AdminError::new(
                400,
                format!(
                    "coType: unknown {:?}, expected one of {}",
                    req.co_type,
                    known.join(", ")
                ),
            ));
        };
        let source = req.source.clone().unwrap_or_else(|| "console".into());
        if source.trim().is_empty() {
            return Err(AdminError::new(400, "source: must not be empty"));
        }
        let app = self
            .apps
            .iter()
            .find(|a| a.app_id == app_id)
            .ok_or_else(|| AdminError::new(404, format!("application {app_id} does not exist")))?;
        let to_admin = |e: ApiError| match e {
            ApiError::Business { message, .. } => {
                let status = if message.contains("in progress") {
                    409
                } else {
                    400
                };
                AdminError::new(status, message)
            }
            ApiError::Gateway(g) => AdminError::new(400, g.message),
        };
        match kind {
            CoKind::ScaleIn => {
                let eccs = match &req.ecc_ids {
                    Some(ids) if !ids.is_empty() => ids.clone(),
                    Some(_) => return Err(AdminError::new(400, "eccIds: must not be empty")),
                    None => match app.eccs.last() {
                        Some(e) => vec![e.ecc_id.clone()],
                        None => {
                            return Err(AdminError::new(
                                400,
                                format!("application {app_id} has no ECC to scale in"),
                            ));
                        }
                    },
                };
                self.scale_in(app_id, &eccs, false, &source, now)
                    .map_err(to_admin)?
                    .ok_or_else(|| AdminError::new(500, "no change order was created"))
            }
            CoKind::ScaleOut => {
                let group = req
                    .group_id
                    .clone()
                    .or_else(|| app.groups.first().map(|g| g.0.clone()))
                    .unwrap_or_default();
                let ecus = match &req.ecu_ids {
                    Some(ids) if !ids.is_empty() => ids.clone(),
                    Some(_) => return Err(AdminError::new(400, "ecuIds: must not be empty")),
                    None => match self.free_ecus(app).first() {
                        Some(u) => vec![u.ecu_id.clone()],
                        None => {
                            return Err(AdminError::new(
                                400,
                                format!("application {app_id} has no free ECU to scale out to"),
                            ));
                        }
                    },
                };
                self.scale_out(app_id, &group, &ecus, &source, now)
                    .map_err(to_admin)
            }
            _ => {
                let ids: Vec<String> = match &req.ecc_ids {
                    Some(ids) => ids.clone(),
                    None => app.eccs.iter().map(|e| e.ecc_id.clone()).collect(),
                };
                let mut seeds = Vec::new();
                for id in &ids {
                    let Some(e) = app.eccs.iter().find(|e| &e.ecc_id == id) else {
                        return Err(AdminError::new(
                            400,
                            format!("eccIds: ECC {id} does not exist in application {app_id}"),
                        ));
                    };
                    seeds.push(TaskSeed {
                        ecc_id: Some(id.clone()),
                        ecu_id: e.ecu_id.clone(),
                        ip: app.ip_of(&e.ecu_id),
                    });
                }
                let group = app.groups.first().map(|g| g.0.clone()).unwrap_or_default();
                self.busy(app_id).map_err(to_admin)?;
                let description = format!(
                    "{} of {} instance(s) ({source}): EccIds={}",
                    kind.label(),
                    ids.len(),
                    ids.join(",")
                );
                Ok(self.create_order(
                    NewOrder {
                        app_id,
                        kind,
                        source: &source,
                        group_id: group,
                        seeds,
                        description,
                    },
                    now,
                ))
            }
        }
    }

    fn snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            apps: self
                .apps
                .iter()
                .map(|a| AppSnapshot {
                    app_id: a.app_id.clone(),
                    region_id: a.region_id.clone(),
                    name: a.name.clone(),
                    eccs: a
                        .eccs
                        .iter()
                        .map(|e| {
                            let ecu = a.ecu(&e.ecu_id);
                            EccSnapshot {
                                ecc_id: e.ecc_id.clone(),
                                ecu_id: e.ecu_id.clone(),
                                instance_id: ecu.map(|u| u.instance_id.clone()).unwrap_or_default(),
                                ip: ecu.map(|u| u.ip.clone()).unwrap_or_default(),
                                app_state: e.app_state,
                                task_state: e.task_state,
                                group_id: e.group_id.clone(),
                            }
                        })
                        .collect(),
                    free_ecu_ids: self.free_ecus(a).into_iter().map(|u| u.ecu_id).collect(),
                })
                .collect(),
            change_orders: self
                .orders
                .iter()
                .map(|o| {
                    let tasks = o.batches.iter().flat_map(|b| b.tasks.iter());
                    ChangeOrderSnapshot {
                        change_order_id: o.id.clone(),
                        app_id: o.app_id.clone(),
                        co_type: o.kind.code().into(),
                        status: o.status,
                        ecc_ids: tasks.clone().filter_map(|t| t.ecc_id.clone()).collect(),
                        ecu_ids: tasks.map(|t| t.ecu_id.clone()).collect(),
                        source: o.source.clone(),
                        created_at: o.created_at,
                        finished_at: o.finished_at,
                    }
                })
                .collect(),
            faults: self.faults.clone(),
        }
    }
}

fn user_of(o: &Order) -> String {
    if o.source == "pop" {
        "sim-api-user".into()
    } else {
        "sim-console-user".into()
    }
}

/// ListApplication filters.
#[derive(Clone, Debug, Default)]
pub(crate) struct AppFilter {
    pub app_ids: Option<Vec<String>>,
    pub name: Option<String>,
    pub cluster_id: Option<String>,
    pub region_id: Option<String>,
    pub page: Option<usize>,
    pub page_size: Option<usize>,
}

// ------------------------------------------------------------------ the order machine

fn step(o: &mut Order, apps: &mut [App], at: i64) {
    match o.status {
        0 => {
            o.status = 1;
            start_batch(o, apps, 0, at);
        }
        9 => {
            o.status = 1;
            let b = o.cur_batch;
            start_batch(o, apps, b, at);
        }
        1 => finish_task(o, apps, at),
        _ => {}
    }
}

fn start_batch(o: &mut Order, apps: &mut [App], b: usize, at: i64) {
    o.cur_batch = b;
    o.cur_task = 0;
    let Some(batch) = o.batches.get_mut(b) else {
        return;
    };
    batch.status = 1;
    batch.start = Some(at);
    batch.update = Some(at);
    if batch.tasks.is_empty() {
        finish_batch(o, apps, at);
    } else {
        begin_task(o, apps, at);
    }
}

fn begin_task(o: &mut Order, apps: &mut [App], at: i64) {
    let kind = o.kind;
    let Some(task) = o
        .batches
        .get_mut(o.cur_batch)
        .and_then(|b| b.tasks.get_mut(o.cur_task))
    else {
        return;
    };
    task.status = 1;
    task.message = "running".into();
    if kind != CoKind::ScaleOut
        && let Some(ecc) = task.ecc_id.clone()
        && let Some(e) = apps
            .iter_mut()
            .find(|a| a.app_id == o.app_id)
            .and_then(|a| a.ecc_mut(&ecc))
    {
        e.task_state = 1;
        e.updated_at = at;
    }
    o.next_at = if o.stalled {
        None
    } else {
        Some(at + o.step_ms)
    };
}

fn finish_task(o: &mut Order, apps: &mut [App], at: i64) {
    let (b, t) = (o.cur_batch, o.cur_task);
    let last_batch = b + 1 == o.batches.len();
    let Some(batch) = o.batches.get_mut(b) else {
        return;
    };
    let last_task = t + 1 == batch.tasks.len();
    batch.update = Some(at);
    let Some(task) = batch.tasks.get_mut(t) else {
        return;
    };
    let app = apps.iter_mut().find(|a| a.app_id == o.app_id);
    if o.fail_planned && last_batch && last_task {
        task.status = 3;
        task.message = "failed".into();
        task.error = Some((
            "INJECTED_FAILURE".into(),
            format!(
                "{} {} ({}) failed: the simulator was told to fail this change order \
                 (faults.failNextChangeOrders)",
                o.kind.verb(),
                task.ip,
                task.ecc_id.as_deref().unwrap_or(&task.ecu_id)
            ),
        ));
        if o.kind != CoKind::ScaleOut
            && let (Some(app), Some(ecc)) = (app, task.ecc_id.as_deref())
            && let Some(e) = app.ecc_mut(ecc)
        {
            e.task_state = 3;
            e.updated_at = at;
        }
        batch.status = 3;
        o.status = 3;
        o.finished_at = Some(at);
        o.next_at = None;
        return;
    }
    task.status = 2;
    task.message = "success".into();
    if let Some(app) = app {
        match o.kind {
            CoKind::ScaleIn => {
                if let Some(ecc) = &task.ecc_id {
                    app.eccs.retain(|e| &e.ecc_id != ecc);
                }
            }
            CoKind::ScaleOut => {
                let id = new_id();
                app.eccs.push(Ecc {
                    ecc_id: id.clone(),
                    ecu_id: task.ecu_id.clone(),
                    group_id: o.group_id.clone(),
                    app_state: 7,
                    task_state: 2,
                    created_at: at,
                    updated_at: at,
                });
                task.ecc_id = Some(id);
            }
            kind => {
                if let Some(e) = task.ecc_id.as_deref().and_then(|id| app.ecc_mut(id)) {
                    e.task_state = 2;
                    e.app_state = if kind == CoKind::Stop { 1 } else { 7 };
                    e.updated_at = at;
                }
            }
        }
    }
    if last_task {
        finish_batch(o, apps, at);
    } else {
        o.cur_task += 1;
        begin_task(o, apps, at);
    }
}

fn finish_batch(o: &mut Order, apps: &mut [App], at: i64) {
    let b = o.cur_batch;
    if let Some(batch) = o.batches.get_mut(b) {
        batch.status = 2;
        batch.update = Some(at);
    }
    if b + 1 >= o.batches.len() {
        o.status = 2;
        o.finished_at = Some(at);
        o.next_at = None;
        return;
    }
    o.cur_batch = b + 1;
    match o.batch_type {
        BatchType::Manual => {
            o.status = 8;
            o.batches[b + 1].status = 8;
            o.next_at = None;
        }
        BatchType::Automatic if o.wait_ms > 0 => {
            o.status = 9;
            o.batches[b + 1].status = 9;
            o.next_at = Some(at + o.wait_ms);
        }
        BatchType::Automatic => start_batch(o, apps, b + 1, at),
    }
}

// ------------------------------------------------------------------ the shared handle

/// The simulator's state, shared by the server and by tests in the same process.
#[derive(Clone)]
pub struct SimState {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState").finish_non_exhaustive()
    }
}

impl SimState {
    /// From a document (validated here), on the wall clock.
    pub fn new(doc: StateDocument) -> Result<Self, DocumentError> {
        Self::with_clock(doc, Arc::new(SystemClock))
    }

    /// From a document on the given clock.
    pub fn with_clock(doc: StateDocument, clock: Arc<dyn Clock>) -> Result<Self, DocumentError> {
        doc.validate()?;
        let now = clock.now_ms();
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner::from_document(doc, now))),
            clock,
        })
    }

    /// The built-in demo fleet ([`StateDocument::demo`]).
    pub fn demo() -> Self {
        let now = SystemClock.now_ms();
        Self {
            inner: Arc::new(Mutex::new(Inner::from_document(StateDocument::demo(), now))),
            clock: Arc::new(SystemClock),
        }
    }

    /// From YAML or JSON text.
    pub fn from_text(text: &str) -> Result<Self, DocumentError> {
        Self::new(super::document::parse_document(text)?)
    }

    /// From a state file; the error names the file and the bad field.
    pub fn load(path: &std::path::Path) -> Result<Self, DocumentError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DocumentError(format!("{}: {e}", path.display())))?;
        Self::from_text(&text).map_err(|e| DocumentError(format!("{}: {e}", path.display())))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Lock, advance change orders to now, and hand the model and the time to `f`.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner, i64) -> R) -> R {
        let now = self.clock.now_ms();
        let mut guard = self.lock();
        guard.tick(now);
        f(&mut guard, now)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a usable model (every step is complete).
        crate::lock(&self.inner)
    }

    /// What `GET /_sim/state` shows.
    pub fn snapshot(&self) -> StateSnapshot {
        self.with(|s, _| s.snapshot())
    }

    /// What `GET /_sim/calls` shows.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls.iter().cloned().collect()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// `POST /_sim/faults`; on error nothing changes.
    pub fn set_faults(&self, patch: &FaultsPatch) -> Result<Faults, String> {
        self.with(|s, now| s.set_faults(patch, now))
    }

    /// `POST /_sim/apps/{appId}/change-orders`: returns the new change-order id.
    pub fn start_change_order(
        &self,
        app_id: &str,
        req: &ConsoleOrderRequest,
    ) -> Result<String, AdminError> {
        self.with(|s, now| s.console_order(app_id, req, now))
    }

    /// `POST /_sim/reset`: replace everything (apps, keys, settings, faults; orders, calls,
    /// nonces and rate windows are cleared). On error nothing changes.
    pub fn reset(&self, doc: StateDocument) -> Result<(), DocumentError> {
        doc.validate()?;
        let now = self.clock.now_ms();
        *self.lock() = Inner::from_document(doc, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::document::{AccessKeyDoc, AppDoc, EccDoc};

    fn doc(batch_count: u32, batch_type: BatchType) -> StateDocument {
        let ecus = (1..=4)
            .map(|n| EcuDoc {
                ecu_id: format!("u{n}"),
                instance_id: format!("i-{n}"),
                ip: format!("10.0.0.{n}"),
                group_id: None,
            })
            .collect();
        let eccs = (1..=3)
            .map(|n| EccDoc {
                ecc_id: format!("c{n}"),
                ecu_id: format!("u{n}"),
                group_id: None,
                app_state: 7,
                task_state: 2,
            })
            .collect();
        StateDocument {
            access_keys: vec![AccessKeyDoc {
                id: "ak".into(),
                secret: "sk".into(),
                security_token: None,
            }],
            apps: vec![AppDoc {
                app_id: "app".into(),
                region_id: "cn-hangzhou".into(),
                ecus,
                eccs,
                ..Default::default()
            }],
            change_orders: ChangeOrderSettings {
                seconds_per_instance: 1.0,
                batch_type,
                batch_count,
                batch_wait_seconds: 0.0,
            },
            ..Default::default()
        }
    }

    fn sim(batch_count: u32, batch_type: BatchType) -> (SimState, Arc<ManualClock>) {
        let clock = ManualClock::new(1_000_000);
        let s = SimState::with_clock(doc(batch_count, batch_type), clock.clone()).unwrap();
        (s, clock)
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn status(s: &SimState, id: &str) -> i64 {
        s.with(|i, _| i.change_order_info(id).unwrap().status.unwrap())
    }

    fn eccs(s: &SimState) -> Vec<String> {
        s.snapshot().apps[0]
            .eccs
            .iter()
            .map(|e| e.ecc_id.clone())
            .collect()
    }

    #[test]
    fn scale_in_moves_0_1_2_and_eccs_leave_as_their_tasks_finish() {
        let (s, clock) = sim(1, BatchType::Automatic);
        let id = s
            .with(|i, now| i.scale_in("app", &ids(&["c1", "c2"]), false, "pop", now))
            .unwrap()
            .unwrap();
        assert_eq!(status(&s, &id), 0);
        clock.advance(Duration::from_millis(600)); // start at +0.5 s
        assert_eq!(status(&s, &id), 1);
        assert_eq!(eccs(&s), ids(&["c1", "c2", "c3"]));
        assert_eq!(s.snapshot().apps[0].eccs[0].task_state, 1);
        clock.advance(Duration::from_millis(1000)); // first task done at +1.5 s
        assert_eq!(eccs(&s), ids(&["c2", "c3"]));
        assert_eq!(status(&s, &id), 1);
        clock.advance(Duration::from_millis(1000));
        assert_eq!(eccs(&s), ids(&["c3"]));
        assert_eq!(status(&s, &id), 2);
        let snap = s.snapshot();
        assert_eq!(snap.change_orders[0].ecc_ids, ids(&["c1", "c2"]));
        assert!(snap.change_orders[0].finished_at.is_some());
    }

    #[test]
    fn second_mutation_while_an_order_runs_is_601_in_progress() {
        let (s, _) = sim(1, BatchType::Automatic);
        s.with(|i, now| i.scale_in("app", &ids(&["c1"]), false, "pop", now))
            .unwrap();
        let e = s
            .with(|i, now| i.scale_in("app", &ids(&["c2"]), false, "pop", now))
            .unwrap_err();
        let ApiError::Business { code, message } = e else {
            panic!("{e:?}")
        };
        assert_eq!(code, 601);
        assert!(message.contains("change order is in progress"), "{message}");
    }

    #[test]
    fn unknown_ecc_is_named_in_the_601() {
        let (s, _) = sim(1, BatchType::Automatic);
        let e = s
            .with(|i, now| i.scale_in("app", &ids(&["c1", "nope"]), false, "pop", now))
            .unwrap_err();
        assert!(
            matches!(e, ApiError::Business { code: 601, ref message } if message.contains("nope"))
        );
        let e = s
            .with(|i, now| i.scale_in("ghost", &ids(&["c1"]), false, "pop", now))
            .unwrap_err();
        assert!(
            matches!(e, ApiError::Business { code: 601, ref message } if message.contains("ghost does not exist"))
        );
    }

    #[test]
    fn forced_scale_in_removes_at_once_without_an_order() {
        let (s, _) = sim(1, BatchType::Automatic);
        let r = s.with(|i, now| i.scale_in("app", &ids(&["c1", "c2", "c3"]), true, "pop", now));
        assert_eq!(r, Ok(None));
        assert!(eccs(&s).is_empty());
        assert!(s.snapshot().change_orders.is_empty());
    }

    #[test]
    fn manual_batches_pause_at_8_until_continued() {
        let (s, clock) = sim(3, BatchType::Manual);
        let id = s
            .with(|i, now| i.scale_in("app", &ids(&["c1", "c2", "c3"]), false, "pop", now))
            .unwrap()
            .unwrap();
        clock.advance(Duration::from_millis(1600));
        assert_eq!(status(&s, &id), 8);
        assert_eq!(eccs(&s), ids(&["c2", "c3"]));
        clock.advance(Duration::from_secs(60));
        assert_eq!(status(&s, &id), 8, "a manual order waits for ever");
        let info = s.with(|i, _| i.change_order_info(&id).unwrap());
        let pipes = &info.pipeline_info_list.items;
        assert_eq!(pipes.len(), 3);
        assert_eq!(pipes[1].pipeline_status, Some(8));
        s.with(|i, now| i.continue_pipeline(&pipes[1].pipeline_id, true, now))
            .unwrap();
        assert_eq!(status(&s, &id), 1);
        clock.advance(Duration::from_millis(1000));
        assert_eq!(status(&s, &id), 8);
        assert_eq!(eccs(&s), ids(&["c3"]));
        let e = s
            .with(|i, now| i.continue_pipeline("nope", true, now))
            .unwrap_err();
        assert!(matches!(e, ApiError::Business { code: 601, .. }));
    }

    #[test]
    fn abort_stops_at_6_and_keeps_the_rest() {
        let (s, clock) = sim(1, BatchType::Automatic);
        let id = s
            .with(|i, now| i.scale_in("app", &ids(&["c1", "c2"]), false, "pop", now))
            .unwrap()
            .unwrap();
        clock.advance(Duration::from_millis(1600));
        s.with(|i, now| i.abort(&id, now)).unwrap();
        assert_eq!(status(&s, &id), 6);
        clock.advance(Duration::from_secs(10));
        assert_eq!(eccs(&s), ids(&["c2", "c3"]));
        assert!(s.snapshot().apps[0].eccs.iter().all(|e| e.task_state == 2));
        let e = s.with(|i, now| i.abort(&id, now)).unwrap_err();
        assert!(
            matches!(e, ApiError::Business { code: 601, ref message } if message.contains("already finished"))
        );
    }

    #[test]
    fn injected_failure_fails_the_last_task_and_keeps_its_ecc() {
        let (s, clock) = sim(1, BatchType::Automatic);
        s.set_faults(&FaultsPatch {
            fail_next_change_orders: Some(1),
            ..Default::default()
        })
        .unwrap();
        let id = s
            .with(|i, now| i.scale_in("app", &ids(&["c1", "c2"]), false, "pop", now))
            .unwrap()
            .unwrap();
        clock.advance(Duration::from_secs(10));
        assert_eq!(status(&s, &id), 3);
        assert_eq!(eccs(&s), ids(&["c2", "c3"]));
        let info = s.with(|i, _| i.change_order_info(&id).unwrap());
        let task = &info.pipeline_info_list.items[0].stage_detail_list.items[0]
            .task_list
            .items[1];
        assert_eq!(task.task_error_code.as_deref(), Some("INJECTED_FAILURE"));
        assert_eq!(s.faults().fail_next_change_orders, 0);
        // The next one succeeds.
        let id2 = s
            .with(|i, now| i.scale_in("app", &ids(&["c2"]), false, "pop", now))
            .unwrap()
            .unwrap();
        clock.advance(Duration::from_secs(10));
        assert_eq!(status(&s, &id2), 2);
    }

    #[test]
    fn stalled_orders_stay_at_1_until_the_fault_is_cleared() {
        let (s, clock) = sim(1, BatchType::Automatic);
        s.set_faults(&FaultsPatch {
            stall_change_orders: Some(true),
            ..Default::default()
        })
        .unwrap();
        let id = s
            .with(|i, now| i.scale_in("app", &ids(&["c1"]), false, "pop", now))
            .unwrap()
            .unwrap();
        clock.advance(Duration::from_secs(600));
        assert_eq!(status(&s, &id), 1);
        s.set_faults(&FaultsPatch {
            stall_change_orders: Some(false),
            ..Default::default()
        })
        .unwrap();
        clock.advance(Duration::from_millis(1000));
        assert_eq!(status(&s, &id), 2);
    }

    #[test]
    fn scale_out_adds_eccs_on_free_ecus() {
        let (s, clock) = sim(1, BatchType::Automatic);
        let free = s.with(|i, now| i.scale_out_ecus(Some("app"), None, None, now).unwrap());
        assert_eq!(free.len(), 1);
        assert_eq!(free[0].ecu_id, "u4");
        let e = s
            .with(|i, now| i.scale_out("app", "app-default", &ids(&["u1"]), "pop", now))
            .unwrap_err();
        assert!(
            matches!(e, ApiError::Business { code: 601, ref message } if message.contains("u1"))
        );
        let id = s
            .with(|i, now| i.scale_out("app", "app-default", &ids(&["u4"]), "pop", now))
            .unwrap();
        assert!(s.snapshot().apps[0].free_ecu_ids.is_empty());
        clock.advance(Duration::from_secs(5));
        assert_eq!(status(&s, &id), 2);
        let snap = s.snapshot();
        assert_eq!(snap.apps[0].eccs.len(), 4);
        assert_eq!(snap.apps[0].eccs[3].ecu_id, "u4");
        assert_eq!(
            snap.change_orders[0].ecc_ids,
            vec![snap.apps[0].eccs[3].ecc_id.clone()]
        );
    }

    #[test]
    fn console_orders_are_listed_newest_first_with_their_source() {
        let (s, clock) = sim(1, BatchType::Automatic);
        let first = s
            .start_change_order(
                "app",
                &ConsoleOrderRequest {
                    co_type: "CoRestart".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        clock.advance(Duration::from_secs(10));
        let second = s
            .with(|i, now| i.scale_in("app", &ids(&["c1"]), false, "pop", now))
            .unwrap()
            .unwrap();
        let list = s.with(|i, _| i.recent_change_orders("app").unwrap());
        assert_eq!(list[0].change_order_id, second);
        assert_eq!(list[0].source.as_deref(), Some("pop"));
        assert_eq!(list[0].co_type_code.as_deref(), Some("CoScaleIn"));
        assert!(
            list[0]
                .change_order_description
                .as_deref()
                .unwrap()
                .contains("EccIds=c1")
        );
        assert_eq!(list[1].change_order_id, first);
        assert_eq!(list[1].source.as_deref(), Some("console"));
        assert_eq!(list[1].status, Some(2));
        let busy = s
            .start_change_order(
                "app",
                &ConsoleOrderRequest {
                    co_type: "CoDeploy".into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(busy.http_status, 409);
        let bad = s
            .start_change_order(
                "app",
                &ConsoleOrderRequest {
                    co_type: "CoNothing".into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(bad.http_status, 400);
    }

    #[test]
    fn rate_window_slides_and_refusals_do_not_count() {
        let (s, clock) = sim(1, BatchType::Automatic);
        s.reset(StateDocument {
            limits: BTreeMap::from([("QueryApplicationStatus".to_string(), 2)]),
            ..doc(1, BatchType::Automatic)
        })
        .unwrap();
        let op = Operation::QueryApplicationStatus;
        let take = |s: &SimState| s.with(|i, now| i.take_rate("ak", op, now));
        assert!(take(&s).is_ok());
        assert!(take(&s).is_ok());
        assert_eq!(take(&s).unwrap_err().code, "Throttling.User");
        assert!(s.with(|i, now| i.take_rate("other", op, now)).is_ok());
        clock.advance(Duration::from_secs(60));
        assert!(take(&s).is_ok());
        // Undocumented operations have no limit unless configured.
        for _ in 0..500 {
            assert!(
                s.with(|i, now| i.take_rate("ak", Operation::ScaleInApplication, now))
                    .is_ok()
            );
        }
    }

    #[test]
    fn nonce_is_single_use() {
        let (s, _) = sim(1, BatchType::Automatic);
        assert!(s.with(|i, now| i.use_nonce("ak", "n1", now)).is_ok());
        assert_eq!(
            s.with(|i, now| i.use_nonce("ak", "n1", now))
                .unwrap_err()
                .code,
            "SignatureNonceUsed"
        );
    }

    #[test]
    fn batches_split_instances_evenly() {
        let (s, _) = sim(2, BatchType::Automatic);
        let id = s
            .with(|i, now| i.scale_in("app", &ids(&["c1", "c2", "c3"]), false, "pop", now))
            .unwrap()
            .unwrap();
        let info = s.with(|i, _| i.change_order_info(&id).unwrap());
        let sizes: Vec<usize> = info
            .pipeline_info_list
            .items
            .iter()
            .map(|p| p.stage_detail_list.items[0].task_list.items.len())
            .collect();
        assert_eq!(sizes, vec![2, 1]);
        assert_eq!(info.batch_count, Some(2));
        assert_eq!(info.targets.unwrap().items, ids(&["c1", "c2", "c3"]));
    }
}
