//! The admin side (`/_sim/*`, unsigned): what `GET /_sim/state` shows, and what a human does
//! in the console: start an order, end one (abort, partial success with rollback, any code).

use super::error::ApiError;
use super::faults::Faults;
use super::model::{App, CoKind, NewOrder, Order, TaskSeed};
use super::ops::Taken;
use super::orders;
use super::state::Inner;
use crate::edas::CoStatus;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
    /// The ECUs listed with this app that can take it: running no ECC of any app, added by no
    /// unfinished ScaleOut order. (ListScaleOutEcu also offers the free ECUs listed with the
    /// other apps of the cluster; they are in those apps' `freeEcuIds`.)
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

/// `POST /_sim/change-orders/{id}/end`: end an order as a human in the console would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndOrderRequest {
    /// The final status: 6 (aborted), 7 (partially succeeded, rolled back), or any other
    /// final code, known (2, 3, 10) or not (4, 11, ...). 0, 1, 8, 9 are refused.
    pub status: i64,
}

/// An admin request that cannot be carried out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AdminError {
    pub http_status: u16,
    pub message: String,
}

impl AdminError {
    pub(crate) fn new(http_status: u16, message: impl Into<String>) -> Self {
        Self {
            http_status,
            message: message.into(),
        }
    }
}

/// A business refusal as an admin answer: 409 while another order runs, else 400.
fn to_admin(e: ApiError) -> AdminError {
    match e {
        ApiError::Business { message, .. } => {
            let status = if message.contains("in progress") {
                409
            } else {
                400
            };
            AdminError::new(status, message)
        }
        ApiError::Gateway(g) => AdminError::new(400, g.message),
    }
}

pub(crate) fn order_snapshot(o: &Order) -> ChangeOrderSnapshot {
    ChangeOrderSnapshot {
        change_order_id: o.id.clone(),
        app_id: o.app_id.clone(),
        co_type: o.kind.code().into(),
        status: o.status.code(),
        ecc_ids: o.tasks().filter_map(|t| t.ecc_id.clone()).collect(),
        ecu_ids: o.tasks().map(|t| t.ecu_id.clone()).collect(),
        source: o.source.clone(),
        created_at: o.created_at,
        finished_at: o.finished_at,
    }
}

fn app_snapshot(a: &App, taken: &HashMap<&str, Taken<'_>>) -> AppSnapshot {
    AppSnapshot {
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
                    app_state: e.app_state.code(),
                    task_state: e.task_state.code(),
                    group_id: e.group_id.clone(),
                }
            })
            .collect(),
        free_ecu_ids: a
            .ecus
            .iter()
            .filter(|u| !taken.contains_key(u.ecu_id.as_str()))
            .map(|u| u.ecu_id.clone())
            .collect(),
    }
}

impl Inner {
    pub(crate) fn snapshot(&self) -> StateSnapshot {
        let taken = self.taken_ecus();
        StateSnapshot {
            apps: self.apps.iter().map(|a| app_snapshot(a, &taken)).collect(),
            change_orders: self.orders.iter().map(order_snapshot).collect(),
            faults: self.faults.clone(),
        }
    }

    /// A change order started by a human (or any `source`).
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
            CoKind::ScaleOut => self.console_scale_out(app_id, req, &source, now),
            kind => self.console_ecc_order(kind, app_id, req, &source, now),
        }
    }

    fn console_scale_out(
        &mut self,
        app_id: &str,
        req: &ConsoleOrderRequest,
        source: &str,
        now: i64,
    ) -> Result<String, AdminError> {
        let app = self.app(app_id).map_err(to_admin)?;
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
        self.scale_out(app_id, &group, &ecus, source, now)
            .map_err(to_admin)
    }

    /// Deploy, restart, start, stop, rollback: one task per ECC.
    fn console_ecc_order(
        &mut self,
        kind: CoKind,
        app_id: &str,
        req: &ConsoleOrderRequest,
        source: &str,
        now: i64,
    ) -> Result<String, AdminError> {
        let app = self.app(app_id).map_err(to_admin)?;
        let ids: Vec<String> = match &req.ecc_ids {
            Some(ids) => ids.clone(),
            None => app.eccs.iter().map(|e| e.ecc_id.clone()).collect(),
        };
        let mut seeds = Vec::new();
        for id in &ids {
            let Some(e) = app.ecc(id) else {
                return Err(AdminError::new(
                    400,
                    format!("eccIds: ECC {id} does not exist in application {app_id}"),
                ));
            };
            seeds.push(TaskSeed::for_ecc(app, e));
        }
        let group_id = app.groups.first().map(|g| g.0.clone()).unwrap_or_default();
        self.busy(app_id).map_err(to_admin)?;
        let description = format!(
            "{} of {} instance(s) ({source}): EccIds={}",
            kind.label(),
            ids.len(),
            ids.join(",")
        );
        let new = NewOrder {
            app_id,
            kind,
            source,
            group_id,
            seeds,
            description,
        };
        Ok(self.create_order(new, now))
    }

    /// End an order with `code` as a human in the console would: 6 aborts (the ECCs of
    /// unfinished tasks stay), 7 ends it partially successful and rolls back (the ECCs it
    /// removed come back, those it created go), any other final code ends it with ECCs as
    /// they are. Works on finished orders too (their status is rewritten).
    pub(crate) fn end_change_order(
        &mut self,
        id: &str,
        code: i64,
        now: i64,
    ) -> Result<ChangeOrderSnapshot, AdminError> {
        let status = CoStatus::from_code(code);
        if status.is_unfinished() {
            return Err(AdminError::new(
                400,
                format!(
                    "status: {code} is not a final status (0, 1, 8 and 9 are unfinished); use \
                     e.g. 6 (aborted), 7 (partially succeeded, rolled back), 3, 10, or an \
                     unknown code such as 4 or 11"
                ),
            ));
        }
        let Inner { orders, apps, .. } = self;
        let Some(o) = orders.iter_mut().find(|o| o.id == id) else {
            return Err(AdminError::new(
                404,
                format!("change order {id} does not exist"),
            ));
        };
        orders::end(o, apps, status, status == CoStatus::PartiallySucceeded, now);
        let snapshot = order_snapshot(o);
        self.changed(&snapshot.app_id, now);
        Ok(snapshot)
    }
}
