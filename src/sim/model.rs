//! The simulator's model: apps with deploy groups, ECUs and ECCs, and change orders with their
//! batches and tasks. States are the shared EDAS enums ([`CoStatus`], [`AppState`],
//! [`TaskState`]), turned into numbers only on the wire.

use super::document::{AppDoc, BatchType, EcuDoc};
use crate::edas::{AppState, CoStatus, TaskState};

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
    pub(crate) fn verb(self) -> &'static str {
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
pub(crate) struct App {
    pub app_id: String,
    pub region_id: String,
    pub name: String,
    pub cluster_id: String,
    /// (id, name)
    pub groups: Vec<(String, String)>,
    pub ecus: Vec<EcuDoc>,
    pub eccs: Vec<Ecc>,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct Ecc {
    pub ecc_id: String,
    pub ecu_id: String,
    pub group_id: String,
    pub app_state: AppState,
    pub task_state: TaskState,
    pub created_at: i64,
    pub updated_at: i64,
}

impl App {
    pub fn ecu(&self, ecu_id: &str) -> Option<&EcuDoc> {
        self.ecus.iter().find(|u| u.ecu_id == ecu_id)
    }
    pub fn ecc(&self, ecc_id: &str) -> Option<&Ecc> {
        self.eccs.iter().find(|e| e.ecc_id == ecc_id)
    }
    pub fn ecc_mut(&mut self, ecc_id: &str) -> Option<&mut Ecc> {
        self.eccs.iter_mut().find(|e| e.ecc_id == ecc_id)
    }
    pub fn ip_of(&self, ecu_id: &str) -> String {
        self.ecu(ecu_id).map(|u| u.ip.clone()).unwrap_or_default()
    }
    pub fn running_count(&self) -> i64 {
        self.eccs
            .iter()
            .filter(|e| e.app_state == AppState::Running)
            .count() as i64
    }
    /// Mark an ECC's last task; no-op when the ECC is gone.
    pub fn set_task_state(&mut self, ecc_id: &str, state: TaskState, at: i64) {
        if let Some(e) = self.ecc_mut(ecc_id) {
            e.task_state = state;
            e.updated_at = at;
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub id: String,
    /// The ECC acted on (scale-in and others) or created (scale-out, once done).
    pub ecc_id: Option<String>,
    pub ecu_id: String,
    pub ip: String,
    pub status: CoStatus,
    pub message: String,
    pub error: Option<(String, String)>,
    /// Scale-in: the ECC as it was when this task removed it (a rollback puts it back).
    pub removed: Option<Ecc>,
}

#[derive(Clone, Debug)]
pub(crate) struct Batch {
    pub pipeline_id: String,
    pub stage_id: String,
    pub status: CoStatus,
    pub start: Option<i64>,
    pub update: Option<i64>,
    pub tasks: Vec<Task>,
}

#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub seq: u64,
    pub id: String,
    pub app_id: String,
    pub group_id: String,
    pub kind: CoKind,
    pub source: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub status: CoStatus,
    pub batch_type: BatchType,
    pub batches: Vec<Batch>,
    /// ECC ids (scale-in and others) or ECU ids (scale-out), as given.
    pub targets: Vec<String>,
    pub description: String,
    pub fail_planned: bool,
    /// ScaleOut under `unhealthyScaleOut`: the ECCs it creates come up STOPPED.
    pub unhealthy: bool,
    pub stalled: bool,
    pub next_at: Option<i64>,
    pub cur_batch: usize,
    pub cur_task: usize,
    pub step_ms: i64,
    pub wait_ms: i64,
}

impl Order {
    pub fn is_unfinished(&self) -> bool {
        self.status.is_unfinished()
    }
    pub fn tasks(&self) -> impl Iterator<Item = &Task> + Clone {
        self.batches.iter().flat_map(|b| b.tasks.iter())
    }
}

/// A change order to create.
pub(crate) struct NewOrder<'a> {
    pub app_id: &'a str,
    pub kind: CoKind,
    pub source: &'a str,
    pub group_id: String,
    pub seeds: Vec<TaskSeed>,
    pub description: String,
}

/// What a task to be created acts on.
pub(crate) struct TaskSeed {
    pub ecc_id: Option<String>,
    pub ecu_id: String,
    pub ip: String,
}

impl TaskSeed {
    /// A task acting on an existing ECC of `app`.
    pub fn for_ecc(app: &App, ecc: &Ecc) -> TaskSeed {
        TaskSeed {
            ecc_id: Some(ecc.ecc_id.clone()),
            ecu_id: ecc.ecu_id.clone(),
            ip: app.ip_of(&ecc.ecu_id),
        }
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `CreateUserId` of an order: API calls and console orders come from different users.
pub(crate) fn user_of(o: &Order) -> String {
    if o.source == "pop" {
        "sim-api-user".into()
    } else {
        "sim-console-user".into()
    }
}

/// The model of one app in a state document (already validated).
pub(crate) fn app_from_doc(a: AppDoc, now: i64) -> App {
    let cluster_id = a.cluster();
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
                app_state: AppState::from_code(c.app_state),
                task_state: TaskState::from_code(c.task_state),
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    App {
        name: a.name.unwrap_or_else(|| a.app_id.clone()),
        cluster_id,
        app_id: a.app_id,
        region_id: a.region_id,
        groups,
        ecus: a.ecus,
        eccs,
        created_at: now,
    }
}
