//! Status: mapping EDAS answers into the resource's status (PURE), and writing it by
//! server-side apply to the status subresource (one field manager).

use super::plan::Plan;
use super::{Context, Error, object_key};
use crate::crd::{
    ChangeOrderStatus, EdasAppMembership, EdasAppMembershipStatus, FIELD_MANAGER, HISTORY_LIMIT,
    ObservedMember, PlanStatus, direction,
};
use crate::edas::{AppStatus, ChangeOrderDetail, ChangeOrderSummary, CoStatus, wire};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use std::time::Duration;

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// The followed order updated from GetChangeOrderInfo.
pub fn co_from_detail(
    d: &ChangeOrderDetail,
    prev: Option<&ChangeOrderStatus>,
) -> ChangeOrderStatus {
    let mut co = prev.cloned().unwrap_or_default();
    co.id = d.id.clone();
    co.status = d.status.name();
    co.status_code = d.status.code();
    if !d.co_type.is_empty() {
        co.co_type = d.co_type.clone();
    }
    // A scale-out's targets are the ECUs it adds; any other order's are ECCs.
    if co.direction == direction::SCALE_OUT || super::decide::type_is(&d.co_type, "out") {
        if co.ecu_ids.is_empty() {
            co.ecu_ids = d.targets.clone();
        }
    } else if co.ecc_ids.is_empty() {
        co.ecc_ids = d.targets.clone();
    }
    co.message = d
        .first_error()
        .map(str::to_string)
        .or_else(|| {
            d.pipelines
                .iter()
                .find(|p| p.status == CoStatus::WaitingManualConfirm)
                .map(|p| {
                    format!(
                        "batch {} waits for manual confirmation (ContinuePipeline)",
                        p.name
                    )
                })
        })
        .or(co.message);
    co.summary = format!("{} {}", co.status, co.id);
    co
}

/// An order as ListRecentChangeOrder lists it.
pub fn co_from_summary(s: &ChangeOrderSummary) -> ChangeOrderStatus {
    ChangeOrderStatus {
        id: s.id.clone(),
        ours: false,
        status: s.status.name(),
        status_code: s.status.code(),
        summary: format!("{} {}", s.status.name(), s.id),
        direction: String::new(),
        ecc_ids: Vec::new(),
        ecu_ids: Vec::new(),
        source: s.source.clone(),
        co_type: if s.co_type_code.is_empty() {
            s.co_type.clone()
        } else {
            s.co_type_code.clone()
        },
        created_at: s
            .create_time
            .as_deref()
            .and_then(wire::parse_co_time)
            .map(rfc3339),
        last_polled_at: None,
        finished_at: s
            .finish_time
            .as_deref()
            .and_then(wire::parse_co_time)
            .map(rfc3339),
        message: s.description.clone(),
        polls: 0,
        generation: None,
    }
}

pub fn push_history(st: &mut EdasAppMembershipStatus, co: ChangeOrderStatus) {
    st.history.retain(|h| h.id.is_empty() || h.id != co.id);
    st.history.insert(0, co);
    st.history.truncate(HISTORY_LIMIT);
}

/// What was observed and planned, for `kubectl get` and GitOps tools.
pub fn record_observation(
    st: &mut EdasAppMembershipStatus,
    app: &AppStatus,
    plan: &Plan,
    desired: usize,
    now: i64,
) {
    st.members = app
        .eccs
        .iter()
        .map(|e| ObservedMember {
            ecc_id: e.ecc_id.clone(),
            ecu_id: e.ecu_id.clone(),
            instance_id: e.instance_id.clone(),
            ip: e.ip.clone(),
            app_state: e.app_state.to_string(),
            task_state: e.task_state.to_string(),
            declared: plan.declared.contains(&e.ecc_id),
        })
        .collect();
    st.desired = Some(desired as i32);
    st.observed = Some(app.eccs.len() as i32);
    st.plan = Some(PlanStatus {
        to_remove: plan.to_remove.clone(),
        missing: plan.missing.clone(),
        next_batch: plan.next_batch.clone(),
        to_add: plan.to_add.clone(),
        next_add_batch: plan.add_batch.clone(),
        blocked_reason: plan
            .blocked
            .clone()
            .or(plan.incomplete.clone())
            .or((!plan.ambiguous.is_empty()).then(|| plan.ambiguous.join("; ")))
            .or((!plan.unaddable.is_empty()).then(|| plan.unaddable.join("; "))),
    });
    st.last_observed_at = Some(rfc3339(now));
}

/// The observation an earlier pass recorded in status, as QueryApplicationStatus answered it,
/// if it was made within `max_age` of `now`. States other than RUNNING / SUCCESS come back as
/// unknown codes: it is used only to justify a ScaleOut, which health does not decide.
pub fn recorded_app(
    st: &EdasAppMembershipStatus,
    app_id: &str,
    now: i64,
    max_age: Duration,
) -> Option<AppStatus> {
    let at = st.last_observed_at.as_deref().and_then(parse_rfc3339_ms)?;
    if now - at > i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX) {
        return None;
    }
    let eccs = st
        .members
        .iter()
        .map(|m| crate::edas::EccInstance {
            ecc_id: m.ecc_id.clone(),
            ecu_id: m.ecu_id.clone(),
            group_id: String::new(),
            instance_id: m.instance_id.clone(),
            ip: m.ip.clone(),
            app_state: if m.app_state == crate::edas::AppState::Running.to_string() {
                crate::edas::AppState::Running
            } else {
                crate::edas::AppState::Unknown(-1)
            },
            task_state: if m.task_state == crate::edas::TaskState::Success.to_string() {
                crate::edas::TaskState::Success
            } else {
                crate::edas::TaskState::Unknown(-1)
            },
        })
        .collect();
    Some(AppStatus::from_eccs(app_id, "", eccs))
}

/// Server-side apply of the whole status, one field manager, to the status subresource.
/// With `resource_version`, the write is conditional: the apiserver refuses it (409) when
/// the object changed since that version was read, which fences a stale reconcile.
pub async fn write_status(
    ctx: &Context,
    obj: &EdasAppMembership,
    st: &EdasAppMembershipStatus,
    resource_version: Option<&str>,
) -> Result<EdasAppMembership, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<EdasAppMembership> = Api::namespaced(ctx.client.clone(), &ns);
    let mut patch = serde_json::json!({
        "apiVersion": EdasAppMembership::api_version(&()),
        "kind": EdasAppMembership::kind(&()),
        "status": st,
    });
    if let Some(rv) = resource_version {
        patch["metadata"] = serde_json::json!({ "resourceVersion": rv });
    }
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match api
            .patch_status(&obj.name_any(), &pp, &Patch::Apply(&patch))
            .await
        {
            Ok(o) => return Ok(o),
            Err(kube::Error::Api(s)) if s.code == 409 && resource_version.is_some() => {
                return Err(Error::Fenced {
                    object: object_key(obj),
                    why: "the resource changed since it was read (resourceVersion precondition)"
                        .into(),
                });
            }
            // Transient apiserver failures: a few quick retries.
            Err(kube::Error::Api(s)) if attempt < 4 && s.code >= 500 => {
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => {
                return Err(Error::WriteStatus {
                    object: object_key(obj),
                    source: e,
                });
            }
        }
    }
}
