//! The I/O steps of one reconcile: validate -> follow the order in flight -> settle an
//! unanswered scale-in -> observe -> plan (pure) -> act -> write status (server-side apply).
//!
//! Level-triggered: every run starts from what it observes and what status recorded, never
//! from why it was woken. A ScaleIn is sent once: intent is written to status before it goes
//! out, the change-order id right after; an unknown outcome is settled by observing EDAS.

use super::conditions::{self, Outcome};
use super::plan::{self, Plan};
use super::{Context, Error, object_key};
use crate::crd::{
    ChangeOrderStatus, EdasAppMembership, EdasAppMembershipStatus, FIELD_MANAGER, HISTORY_LIMIT,
    ManagementPolicy, ObservedMember, PAUSED_ANNOTATION, PendingScaleIn, PlanStatus, condition,
    reason,
};
use crate::edas::{
    AppStatus, ChangeOrderDetail, ChangeOrderSummary, CoStatus, EdasApi, EdasError, wire,
};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// First poll of a new change order, then growing by half each poll up to the cap.
const POLL_FIRST: Duration = Duration::from_secs(2);
const POLL_CAP: Duration = Duration::from_secs(30);
const POLL_MANUAL: Duration = Duration::from_secs(30);
const FOREIGN_POLL: Duration = Duration::from_secs(5);

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// Poll interval after `polls` polls: 2 s, 3 s, 4.5 s, ... up to 30 s. (The first poll of a
/// new order comes when orders of this size have been taking to finish: `OrderDurations`.)
pub fn poll_interval(polls: i64) -> Duration {
    let f = 1.5f64.powi(polls.clamp(0, 20) as i32);
    POLL_FIRST.mul_f64(f).min(POLL_CAP)
}

/// Wait after `n` consecutive failed orders of ours before trying again: base, 2x, 4x, ...
/// up to 20x base.
pub fn failure_backoff(base: Duration, n: i32) -> Duration {
    base.saturating_mul(1u32 << (n.clamp(1, 6) - 1))
        .min(base.saturating_mul(20))
}

fn is_paused(obj: &EdasAppMembership) -> bool {
    obj.annotations()
        .get(PAUSED_ANNOTATION)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The resource that claims the app first (oldest creation, then namespace/name) wins.
fn conflicting_owner(ctx: &Context, obj: &EdasAppMembership) -> Option<String> {
    let me = (obj.creation_timestamp(), object_key(obj));
    ctx.store
        .state()
        .iter()
        .filter(|o| {
            o.spec.app_id == obj.spec.app_id
                && o.spec.region_id == obj.spec.region_id
                && o.uid() != obj.uid()
                && o.meta().deletion_timestamp.is_none()
        })
        .map(|o| (o.creation_timestamp(), object_key(o)))
        .filter(|other| {
            // Compare creation times first; missing times sort last.
            match (&other.0, &me.0) {
                (Some(a), Some(b)) if a.0 != b.0 => a.0 < b.0,
                _ => other.1 < me.1,
            }
        })
        .map(|(_, key)| key)
        .min()
}

enum StepError {
    Edas(EdasError),
    Kube(Error),
}

impl From<EdasError> for StepError {
    fn from(e: EdasError) -> Self {
        StepError::Edas(e)
    }
}

/// Entry point used by the controller.
pub async fn reconcile(obj: Arc<EdasAppMembership>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let key = object_key(&obj);
    let old = obj.status.clone().unwrap_or_default();
    let mut st = old.clone();

    let (outcome, action) = if is_paused(&obj) {
        (Outcome::Paused, Action::await_change())
    } else if let Err(e) = obj.spec.validate() {
        (Outcome::InvalidSpec(e), Action::await_change())
    } else if let Some(owner) = conflicting_owner(&ctx, &obj) {
        (
            Outcome::Conflict(format!(
                "app {} is already managed by EdasAppMembership {owner}; this resource does nothing",
                obj.spec.app_id
            )),
            Action::requeue(Duration::from_secs(60)),
        )
    } else {
        match ctx.credentials_for(&obj).await {
            Err(msg) => (
                Outcome::InvalidCredentials(msg),
                Action::requeue(Duration::from_secs(120)),
            ),
            Ok(creds) => match ctx.edas.client(&creds, &obj.spec.region_id) {
                Err(msg) => (Outcome::InvalidSpec(msg), Action::await_change()),
                Ok(api) => match steps(&*api, &obj, &mut st, &ctx).await {
                    Ok(done) => {
                        ctx.reset_backoff(&key);
                        done
                    }
                    Err(StepError::Kube(e)) => return Err(e),
                    Err(StepError::Edas(e)) => edas_failure(&ctx, &key, &e),
                },
            },
        }
    };

    finish(&ctx, &obj, &old, st, outcome).await?;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    Ok(action)
}

/// An EDAS error that ended the reconcile: a condition, and a backoff that grows.
fn edas_failure(ctx: &Context, key: &str, e: &EdasError) -> (Outcome, Action) {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&crate::metrics::ReasonLabel {
            reason: e.class().into(),
        })
        .inc();
    let message = e.to_string();
    let outcome = if e.is_auth() {
        Outcome::InvalidCredentials(message)
    } else if e.is_throttling() {
        Outcome::Transient {
            reason: reason::THROTTLED,
            message,
        }
    } else if matches!(e, EdasError::Decode { .. }) {
        Outcome::Transient {
            reason: reason::MALFORMED_RESPONSE,
            message,
        }
    } else if e.is_retryable() {
        Outcome::Transient {
            reason: reason::EDAS_UNAVAILABLE,
            message,
        }
    } else {
        Outcome::Permanent {
            reason: reason::EDAS_ERROR,
            message,
        }
    };
    let mut wait = ctx.next_backoff(key);
    if let Some(hint) = e.retry_after() {
        wait = wait.max(hint);
    }
    tracing::warn!(object = %key, error = %e, retry_in_ms = wait.as_millis() as u64, "EDAS call failed");
    (outcome, Action::requeue(wait))
}

fn co_from_detail(d: &ChangeOrderDetail, prev: Option<&ChangeOrderStatus>) -> ChangeOrderStatus {
    let mut co = prev.cloned().unwrap_or_default();
    co.id = d.id.clone();
    co.status = d.status.name();
    co.status_code = d.status.code();
    if !d.co_type.is_empty() {
        co.co_type = d.co_type.clone();
    }
    if co.ecc_ids.is_empty() {
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

fn co_from_summary(s: &ChangeOrderSummary) -> ChangeOrderStatus {
    ChangeOrderStatus {
        id: s.id.clone(),
        status: s.status.name(),
        status_code: s.status.code(),
        summary: format!("{} {}", s.status.name(), s.id),
        ecc_ids: Vec::new(),
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
    }
}

fn is_ours(co: &ChangeOrderStatus) -> bool {
    co.source == "pop" || co.source == FIELD_MANAGER
}

fn push_history(st: &mut EdasAppMembershipStatus, co: ChangeOrderStatus) {
    st.history.retain(|h| h.id.is_empty() || h.id != co.id);
    st.history.insert(0, co);
    st.history.truncate(HISTORY_LIMIT);
}

async fn publish(
    ctx: &Context,
    obj: &EdasAppMembership,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(object = %object_key(obj), error = %e, "cannot publish event");
    }
}

/// The work that talks to EDAS. Returns how the reconcile ended; status is updated in `st`.
async fn steps(
    api: &dyn EdasApi,
    obj: &EdasAppMembership,
    st: &mut EdasAppMembershipStatus,
    ctx: &Context,
) -> Result<(Outcome, Action), StepError> {
    let spec = &obj.spec;
    let timeout = spec
        .change_order_timeout()
        .unwrap_or(Duration::from_secs(1800));

    // 1. Follow the change order in flight (ours, or a human's we are waiting for).
    if let Some(prev) = st
        .change_order
        .clone()
        .filter(|c| !c.id.is_empty() && CoStatus::from_code(c.status_code).is_unfinished())
    {
        let detail = api.get_change_order_info(&prev.id).await?;
        let now = now_ms();
        let mut co = co_from_detail(&detail, Some(&prev));
        co.polls += 1;
        co.last_polled_at = Some(rfc3339(now));
        let age = co
            .created_at
            .as_deref()
            .and_then(parse_rfc3339_ms)
            .map(|c| Duration::from_millis((now - c).max(0) as u64))
            .unwrap_or_default();
        if detail.status.is_unfinished() {
            let msg = format!(
                "change order {} is {} (ECCs {})",
                co.id,
                co.status,
                co.ecc_ids.join(",")
            );
            let (outcome, wait) = if detail.status == CoStatus::WaitingManualConfirm {
                (
                    Outcome::WaitingForConfirmation(format!(
                        "{msg}: waiting for manual confirmation in EDAS; the operator never confirms on its own"
                    )),
                    POLL_MANUAL,
                )
            } else if age > timeout {
                (
                    Outcome::ChangeOrderStuck(format!(
                        "{msg} for {}s, longer than changeOrderTimeout {}",
                        age.as_secs(),
                        spec.change_order_timeout
                    )),
                    POLL_CAP,
                )
            } else if !is_ours(&co) {
                (
                    Outcome::ForeignChangeOrder(format!(
                        "waiting for change order {} (source {}) made outside the operator",
                        co.id, co.source
                    )),
                    FOREIGN_POLL.max(poll_interval(co.polls)),
                )
            } else {
                (Outcome::ChangeOrderRunning(msg), poll_interval(co.polls))
            };
            st.change_order = Some(co);
            return Ok((outcome, Action::requeue(wait)));
        }
        co.finished_at = Some(rfc3339(now));
        st.change_order = Some(co.clone());
        push_history(st, co.clone());
        if is_ours(&co) {
            if detail.status.is_failure() {
                st_failures_inc(st);
                ctx.metrics.change_order("failed");
                publish(
                    ctx,
                    obj,
                    EventType::Warning,
                    reason::CHANGE_ORDER_FAILED,
                    format!(
                        "change order {} ended {}: {}",
                        co.id,
                        co.status,
                        co.message.clone().unwrap_or_default()
                    ),
                )
                .await;
            } else {
                set_failures(st, 0);
                ctx.metrics.change_order("succeeded");
                let took = age.as_secs_f64();
                ctx.order_durations
                    .learn(took, co.ecc_ids.len().max(1), co.polls);
                publish(
                    ctx,
                    obj,
                    EventType::Normal,
                    "ChangeOrderSucceeded",
                    format!("change order {} removed {}", co.id, co.ecc_ids.join(",")),
                )
                .await;
            }
        }
    }

    // 2. A scale-in that was (maybe) sent but whose answer we never recorded.
    if let Some(pending) = st.pending_scale_in.clone() {
        match settle_pending(api, &spec.app_id, &pending, st).await? {
            Settled::Running(co) => {
                ctx.metrics.change_order("adopted");
                let msg = format!(
                    "adopted change order {} for ECCs {}",
                    co.id,
                    pending.ecc_ids.join(",")
                );
                st.change_order = Some(co);
                st.pending_scale_in = None;
                return Ok((
                    Outcome::ChangeOrderRunning(msg),
                    Action::requeue(POLL_FIRST),
                ));
            }
            Settled::Finished(co) => {
                ctx.metrics.change_order("adopted");
                st.change_order = Some(co.clone());
                push_history(st, co);
                st.pending_scale_in = None;
            }
            Settled::Applied | Settled::NotApplied => st.pending_scale_in = None,
        }
    }

    // 3. Observe and plan.
    let app = api.query_application_status(&spec.app_id).await?;
    let plan = plan::compute(spec, &app);
    record_observation(st, &app, &plan, spec.members.len());

    if plan.is_converged() {
        set_failures(st, 0);
        let outcome = if plan.missing.is_empty() {
            Outcome::Converged
        } else {
            Outcome::MembersMissing(format!(
                "declared but not running the app: {} (the operator removes ECCs, it does not add them)",
                plan.missing.join(", ")
            ))
        };
        return Ok((outcome, Action::requeue(ctx.resync_interval())));
    }
    if spec.management_policy == ManagementPolicy::Observe {
        return Ok((
            Outcome::ObserveOnly(format!(
                "managementPolicy Observe: would remove {} ECC(s): {}",
                plan.to_remove.len(),
                plan.to_remove.join(",")
            )),
            Action::requeue(ctx.resync_interval()),
        ));
    }
    if let Some(n) = failures(st).filter(|n| *n > 0) {
        let last_end = st
            .history
            .first()
            .and_then(|h| h.finished_at.as_deref())
            .and_then(parse_rfc3339_ms)
            .unwrap_or(0);
        let retry_at = last_end + failure_backoff(ctx.failure_backoff, n).as_millis() as i64;
        let now = now_ms();
        if now < retry_at {
            let last = st.history.first().cloned().unwrap_or_default();
            return Ok((
                Outcome::ChangeOrderFailed(format!(
                    "change order {} ended {}: {}; retrying in {}s ({} failure(s) in a row)",
                    last.id,
                    last.status,
                    last.message.unwrap_or_default(),
                    (retry_at - now) / 1000,
                    n
                )),
                Action::requeue(Duration::from_millis((retry_at - now) as u64)),
            ));
        }
    }
    if let Some(why) = plan.blocked.clone() {
        let already = st.conditions.iter().any(|c| {
            c.type_ == condition::SYNCED && c.reason == reason::SAFETY_LIMIT && c.message == why
        });
        if !already {
            publish(
                ctx,
                obj,
                EventType::Warning,
                reason::SAFETY_LIMIT,
                why.clone(),
            )
            .await;
        }
        return Ok((
            Outcome::SafetyLimit(why),
            Action::requeue(ctx.resync_interval()),
        ));
    }

    // 4. Nothing else may be running on the app.
    let orders = api.list_recent_change_orders(&spec.app_id).await?;
    if let Some(o) = orders.iter().find(|o| o.status.is_unfinished()) {
        let co = co_from_summary(o);
        let msg = format!(
            "waiting for change order {} ({}, source {}) before removing {}",
            co.id,
            co.status,
            co.source,
            plan.next_batch.join(",")
        );
        st.change_order = Some(co);
        return Ok((
            Outcome::ForeignChangeOrder(msg),
            Action::requeue(FOREIGN_POLL),
        ));
    }

    // 5. Act: record intent, send once, record the order.
    let batch = plan.next_batch.clone();
    let force = spec.scale_in.force;
    st.pending_scale_in = Some(PendingScaleIn {
        ecc_ids: batch.clone(),
        force,
        started_at: rfc3339(now_ms()),
        outcome_unknown: false,
    });
    write_status(ctx, obj, st).await.map_err(StepError::Kube)?;
    tracing::info!(object = %object_key(obj), app = %spec.app_id, eccs = %batch.join(","), force, "sending ScaleInApplication");
    super::failpoint::hit("before-scale-in");
    let result = api.scale_in_application(&spec.app_id, &batch, force).await;
    super::failpoint::hit("after-scale-in");
    match result {
        Ok(Some(id)) => {
            let now = now_ms();
            let co = ChangeOrderStatus {
                id: id.clone(),
                status: CoStatus::Ready.name(),
                status_code: 0,
                summary: format!("{} {id}", CoStatus::Ready.name()),
                ecc_ids: batch.clone(),
                source: "pop".into(),
                co_type: "CoScaleIn".into(),
                created_at: Some(rfc3339(now)),
                ..Default::default()
            };
            st.change_order = Some(co);
            st.pending_scale_in = None;
            ctx.metrics.change_order("started");
            publish(
                ctx,
                obj,
                EventType::Normal,
                "ChangeOrderStarted",
                format!("ScaleInApplication {id} removes {}", batch.join(",")),
            )
            .await;
            Ok((
                Outcome::ChangeOrderRunning(format!(
                    "change order {id} started for ECCs {}",
                    batch.join(",")
                )),
                Action::requeue(ctx.order_durations.first_poll(batch.len())),
            ))
        }
        Ok(None) => {
            let now = rfc3339(now_ms());
            let co = ChangeOrderStatus {
                id: String::new(),
                status: "Forced".into(),
                status_code: CoStatus::Succeeded.code(),
                summary: "Forced".into(),
                ecc_ids: batch.clone(),
                source: "pop".into(),
                co_type: "CoScaleIn".into(),
                created_at: Some(now.clone()),
                finished_at: Some(now),
                message: Some("ForceStatus=true: removed without a change order".into()),
                ..Default::default()
            };
            st.change_order = Some(co.clone());
            push_history(st, co);
            st.pending_scale_in = None;
            ctx.metrics.change_order("forced");
            publish(
                ctx,
                obj,
                EventType::Normal,
                "ForcedScaleIn",
                format!(
                    "ScaleInApplication ForceStatus=true removed {}",
                    batch.join(",")
                ),
            )
            .await;
            // Confirm by observing the app on the next pass.
            Ok((
                Outcome::ChangeOrderRunning(format!(
                    "forced removal of {} sent; confirming by observing the app",
                    batch.join(",")
                )),
                Action::requeue(Duration::from_secs(1)),
            ))
        }
        Err(e) if e.is_outcome_unknown() => {
            if let Some(p) = st.pending_scale_in.as_mut() {
                p.outcome_unknown = true;
            }
            tracing::warn!(object = %object_key(obj), error = %e, "ScaleIn outcome unknown; observing before anything else");
            Ok((
                Outcome::OutcomeUnknown(format!(
                    "{e}; observing EDAS before sending anything again"
                )),
                Action::requeue(Duration::from_secs(3)),
            ))
        }
        Err(e) if e.is_change_order_in_progress() => {
            st.pending_scale_in = None;
            Ok((
                Outcome::ForeignChangeOrder(format!("EDAS refused the scale-in: {e}")),
                Action::requeue(FOREIGN_POLL),
            ))
        }
        Err(e) => {
            // Known not applied (refused before or by the gateway, or a business error).
            st.pending_scale_in = None;
            Err(StepError::Edas(e))
        }
    }
}

enum Settled {
    Running(ChangeOrderStatus),
    Finished(ChangeOrderStatus),
    /// No order, and the ECCs are gone (a forced removal, or finished long ago).
    Applied,
    /// No order, and the ECCs are all still there: the call never took effect.
    NotApplied,
}

fn is_scale_in(o: &ChangeOrderSummary) -> bool {
    let t = format!("{} {}", o.co_type_code, o.co_type).to_ascii_lowercase();
    t.contains("scalein") || t.contains("scale in") || t.contains("scale_in")
}

/// Find out what became of a scale-in whose answer was never recorded.
async fn settle_pending(
    api: &dyn EdasApi,
    app_id: &str,
    pending: &PendingScaleIn,
    st: &EdasAppMembershipStatus,
) -> Result<Settled, EdasError> {
    let started = parse_rfc3339_ms(&pending.started_at).unwrap_or(0);
    let orders = api.list_recent_change_orders(app_id).await?;
    for o in orders.iter().filter(|o| is_scale_in(o)) {
        if st.history.iter().any(|h| h.id == o.id) {
            continue;
        }
        // Orders clearly older than our intent are not ours (10 min of clock skew allowed).
        if let Some(created) = o.create_time.as_deref().and_then(wire::parse_co_time)
            && created < started - 600_000
        {
            continue;
        }
        let detail = api.get_change_order_info(&o.id).await?;
        if !detail.targets.is_empty() && !pending.ecc_ids.iter().all(|e| detail.targets.contains(e))
        {
            continue;
        }
        let mut co = co_from_detail(&detail, Some(&co_from_summary(o)));
        co.ecc_ids = pending.ecc_ids.clone();
        co.source = "pop".into();
        co.polls = 1;
        co.last_polled_at = Some(rfc3339(now_ms()));
        tracing::info!(change_order = %co.id, "adopting change order made before an unanswered or interrupted ScaleIn");
        if detail.status.is_unfinished() {
            return Ok(Settled::Running(co));
        }
        co.finished_at = Some(rfc3339(now_ms()));
        return Ok(Settled::Finished(co));
    }
    let app = api.query_application_status(app_id).await?;
    let present = pending
        .ecc_ids
        .iter()
        .filter(|id| app.eccs.iter().any(|e| &e.ecc_id == *id))
        .count();
    Ok(if present == 0 {
        Settled::Applied
    } else {
        Settled::NotApplied
    })
}

fn record_observation(
    st: &mut EdasAppMembershipStatus,
    app: &AppStatus,
    plan: &Plan,
    desired: usize,
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
        blocked_reason: plan.blocked.clone(),
    });
    st.last_observed_at = Some(rfc3339(now_ms()));
}

fn failures(st: &EdasAppMembershipStatus) -> Option<i32> {
    st.consecutive_failures
}

fn set_failures(st: &mut EdasAppMembershipStatus, n: i32) {
    st.consecutive_failures = if n == 0 { None } else { Some(n) };
}

fn st_failures_inc(st: &mut EdasAppMembershipStatus) {
    let n = st.consecutive_failures.unwrap_or(0) + 1;
    set_failures(st, n);
}

/// Set conditions, emit transition events, write status when it changed.
async fn finish(
    ctx: &Context,
    obj: &EdasAppMembership,
    old: &EdasAppMembershipStatus,
    mut st: EdasAppMembershipStatus,
    outcome: Outcome,
) -> Result<(), Error> {
    let generation = obj.metadata.generation;
    if !matches!(outcome, Outcome::Paused) {
        st.observed_generation = generation;
    }
    let now = rfc3339(now_ms());
    let flipped = conditions::apply(
        &mut st.conditions,
        conditions::desired(&outcome),
        generation,
        &now,
    );
    let ready = conditions::get(&st.conditions, condition::READY).map(|c| c.status.clone());
    let synced = conditions::get(&st.conditions, condition::SYNCED).cloned();
    let old_synced = conditions::get(&old.conditions, condition::SYNCED);
    if flipped.contains(&condition::READY) && ready.as_deref() == Some("True") {
        publish(
            ctx,
            obj,
            EventType::Normal,
            reason::CONVERGED,
            "the app runs exactly the declared members".into(),
        )
        .await;
    }
    if let Some(s) = &synced
        && s.status == "False"
        && old_synced.is_none_or(|o| o.reason != s.reason)
        && matches!(
            s.reason.as_str(),
            reason::CONFLICT
                | reason::INVALID_CREDENTIALS
                | reason::INVALID_SPEC
                | reason::CHANGE_ORDER_STUCK
                | reason::WAITING_FOR_CONFIRMATION
                | reason::OUTCOME_UNKNOWN
                | reason::EDAS_ERROR
        )
    {
        publish(ctx, obj, EventType::Warning, &s.reason, s.message.clone()).await;
    }
    ctx.metrics.set_ready(&object_key(obj), ready.as_deref());
    if &st != old {
        write_status(ctx, obj, &st).await?;
    }
    Ok(())
}

/// Server-side apply of the whole status, one field manager, to the status subresource.
pub async fn write_status(
    ctx: &Context,
    obj: &EdasAppMembership,
    st: &EdasAppMembershipStatus,
) -> Result<(), Error> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<EdasAppMembership> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = serde_json::json!({
        "apiVersion": "edas.operators.dev/v1alpha1",
        "kind": "EdasAppMembership",
        "status": st,
    });
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match api
            .patch_status(&obj.name_any(), &pp, &Patch::Apply(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            // Conflicts and transient apiserver failures: a few quick retries.
            Err(kube::Error::Api(s)) if attempt < 4 && (s.code == 409 || s.code >= 500) => {
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

/// How long our change orders take, learned from the ones that finished, so the first poll
/// of a new order comes when it is likely done: one poll per order instead of several.
pub struct OrderDurations {
    /// Seconds per ECC (exponentially weighted); `None` until an order finished.
    per_ecc: std::sync::Mutex<Option<f64>>,
}

impl Default for OrderDurations {
    fn default() -> Self {
        Self {
            per_ecc: std::sync::Mutex::new(None),
        }
    }
}

impl OrderDurations {
    const WEIGHT: f64 = 0.3;
    /// When the first poll already found the order done, the true time was shorter than the
    /// sample: shade it, so the estimate can come down again.
    const SHADE: f64 = 0.8;

    /// An order of `n` ECCs finished; it was first seen finished `took` seconds after it was
    /// made, at poll number `polls`.
    pub fn learn(&self, took: f64, n: usize, polls: i64) {
        if !(took.is_finite() && took > 0.0) {
            return;
        }
        let sample = if polls <= 1 { took * Self::SHADE } else { took } / n.max(1) as f64;
        let mut est = crate::lock(&self.per_ecc);
        *est = Some(match *est {
            Some(e) => e + Self::WEIGHT * (sample - e),
            None => sample,
        });
    }

    /// When to poll a new order of `n` ECCs first.
    pub fn first_poll(&self, n: usize) -> Duration {
        let est = *crate::lock(&self.per_ecc);
        match est {
            Some(per) => Duration::from_secs_f64(per * n.max(1) as f64)
                .clamp(POLL_FIRST, Duration::from_secs(120)),
            None => POLL_FIRST,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_poll_follows_how_long_orders_took() {
        let d = OrderDurations::default();
        assert_eq!(d.first_poll(1), POLL_FIRST);
        // Orders of one ECC seen done at the second poll after ~5 s.
        for _ in 0..20 {
            d.learn(5.0, 1, 2);
        }
        let p = d.first_poll(1).as_secs_f64();
        assert!((4.9..=5.1).contains(&p), "{p}");
        assert!((9.8..=10.2).contains(&d.first_poll(2).as_secs_f64()));
        // Found done at the first poll every time: the estimate comes down.
        for _ in 0..20 {
            let t = d.first_poll(1).as_secs_f64();
            d.learn(t, 1, 1);
        }
        assert!(d.first_poll(1).as_secs_f64() < 4.0);
        assert!(d.first_poll(1) >= POLL_FIRST);
        d.learn(f64::NAN, 1, 1);
        assert!(d.first_poll(1) >= POLL_FIRST);
    }

    #[test]
    fn polls_grow_and_cap() {
        assert_eq!(poll_interval(0), Duration::from_secs(2));
        assert_eq!(poll_interval(1), Duration::from_secs(3));
        assert!(poll_interval(3) > poll_interval(2));
        assert_eq!(poll_interval(50), POLL_CAP);
    }

    #[test]
    fn failure_backoff_doubles_to_a_cap() {
        let base = Duration::from_secs(30);
        assert_eq!(failure_backoff(base, 1), Duration::from_secs(30));
        assert_eq!(failure_backoff(base, 2), Duration::from_secs(60));
        assert_eq!(failure_backoff(base, 20), Duration::from_secs(600));
    }

    #[test]
    fn scale_in_orders_are_recognised_by_code_or_label() {
        let mut o = ChangeOrderSummary {
            id: "x".into(),
            app_id: "a".into(),
            status: CoStatus::Running,
            co_type: "Application Scale In".into(),
            co_type_code: String::new(),
            source: "pop".into(),
            create_time: None,
            finish_time: None,
            description: None,
        };
        assert!(is_scale_in(&o));
        o.co_type = "Deploy".into();
        o.co_type_code = "CoScaleIn".into();
        assert!(is_scale_in(&o));
        o.co_type_code = "CoDeploy".into();
        assert!(!is_scale_in(&o));
    }
}
