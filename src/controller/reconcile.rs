//! The I/O driver of one reconcile: validate -> run the pass (fetch what `decide` asks for,
//! carry out its verdict: at most one ScaleIn, fenced) -> write status (server-side apply)
//! -> publish the verdict's events.
//!
//! Level-triggered: every run starts from what it observes and what status recorded, never
//! from why it was woken. All decisions are in `decide.rs` (pure).

use super::conditions::{self, Outcome};
use super::decide::{
    self, Input, Need, Observation, OrderRead, Requeue, Send, SendResult, Step, Verdict,
};
use super::events::{self, Note};
use super::lookup::Lookups;
use super::plan::FreeEcus;
use super::status::{now_ms, rfc3339, write_status};
use super::{Context, Error, object_key};
use crate::crd::{
    EdasAppMembership, EdasAppMembershipStatus, PAUSED_ANNOTATION, RETRY_ANNOTATION, condition,
    reason,
};
use crate::edas::{EdasApi, EdasError};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// Requeue after a fenced pass (the object changed under us, or leadership is in doubt).
const FENCED_RETRY: Duration = Duration::from_secs(1);
/// How old an observation recorded in status may be for a ScaleOut that waited for its
/// budget to go out on it.
const RECORDED_APP_MAX_AGE: Duration = Duration::from_secs(150);
/// More reads than this in one pass is a bug in `decide`, not a reason to loop.
const MAX_READS_PER_PASS: usize = 32;

fn is_paused(obj: &EdasAppMembership) -> bool {
    obj.annotations()
        .get(PAUSED_ANNOTATION)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The resource that claims the app first (oldest creation, then namespace/name) wins. Keyed
/// on the app id alone: app ids are global, and several regions share one endpoint.
fn conflicting_owner(ctx: &Context, obj: &EdasAppMembership) -> Option<String> {
    let me = (obj.creation_timestamp(), object_key(obj));
    ctx.store
        .state()
        .iter()
        .filter(|o| {
            o.spec.app_id == obj.spec.app_id
                && o.uid() != obj.uid()
                && o.meta().deletion_timestamp.is_none()
        })
        .map(|o| (o.creation_timestamp(), object_key(o)))
        .filter(|other| match (&other.0, &me.0) {
            (Some(a), Some(b)) if a.0 != b.0 => a.0 < b.0,
            _ => other.1 < me.1,
        })
        .map(|(_, key)| key)
        .min()
}

/// Why a pass ended without a verdict.
pub enum PassError {
    /// An EDAS read failed, or EDAS refused the ScaleIn (known not applied). `status` is
    /// what to record (the intent cleared after a refusal).
    Edas(EdasError, Option<Box<EdasAppMembershipStatus>>),
    /// The fence said no: nothing was sent.
    Fenced(String),
    Kube(Error),
}

/// What must hold right before a ScaleIn goes out.
#[async_trait::async_trait]
pub trait Fence: std::marker::Send + Sync {
    /// Record the intent (in `status`) durably and prove this pass may still act. An error
    /// means: do not send.
    async fn before_send(&self, status: &EdasAppMembershipStatus) -> Result<(), PassError>;
}

/// One pass of the state machine against `api`: reads as `decide` asks, then at most one
/// ScaleIn or ScaleOut behind `fence`. No Kubernetes I/O of its own, so tests run it
/// in-process. Deploy groups and free ECUs are read each time they are needed.
pub async fn pass(
    api: &dyn EdasApi,
    input: &Input<'_>,
    fence: &dyn Fence,
) -> Result<Verdict, PassError> {
    pass_with(api, input, fence, &Lookups::default(), "", None).await
}

/// [`pass`] with shared lookups: ListDeployGroup and ListScaleOutEcu answers cached under
/// `scope` (the identity and region the client speaks for).
pub async fn pass_with(
    api: &dyn EdasApi,
    input: &Input<'_>,
    fence: &dyn Fence,
    lookups: &Lookups,
    scope: &str,
    recorded: Option<crate::edas::AppStatus>,
) -> Result<Verdict, PassError> {
    let app_id = input.spec.app_id.as_str();
    let mut obs = Observation {
        recorded_app: recorded.is_some(),
        app: recorded,
        ..Default::default()
    };
    let src = Sources {
        api,
        lookups,
        scope,
    };
    for _ in 0..MAX_READS_PER_PASS {
        match decide::decide(input, &obs) {
            Step::Need(need) => fetch(&src, app_id, need, &mut obs)
                .await
                .map_err(|e| PassError::Edas(e, None))?,
            Step::Done(v) => return send(&src, app_id, *v, input.now, fence).await,
        }
    }
    Err(PassError::Edas(
        EdasError::Invalid {
            operation: "reconcile",
            detail: format!("more than {MAX_READS_PER_PASS} reads in one pass"),
        },
        None,
    ))
}

/// Where a pass reads from.
struct Sources<'a> {
    api: &'a dyn EdasApi,
    lookups: &'a Lookups,
    scope: &'a str,
}

async fn fetch(
    src: &Sources<'_>,
    app_id: &str,
    need: Need,
    obs: &mut Observation,
) -> Result<(), EdasError> {
    let api = src.api;
    match need {
        Need::DeployGroups => {
            obs.groups = Some(src.lookups.groups(api, src.scope, app_id).await?);
        }
        Need::ScaleOutEcus { fresh } => {
            let (ecus, fresh) = src.lookups.free_ecus(api, src.scope, app_id, fresh).await?;
            obs.free_ecus = Some(FreeEcus { ecus, fresh });
        }
        Need::App => {
            obs.app = Some(api.query_application_status(app_id).await?);
            obs.recorded_app = false;
        }
        Need::RecentOrders => obs.recent = Some(api.list_recent_change_orders(app_id).await?),
        Need::Order(id) => {
            let read = match api.get_change_order_info(&id).await {
                Ok(d) => OrderRead::Found(d),
                // A permanent error must not wedge the resource: decide moves on.
                Err(e) if !e.is_retryable() && !e.is_auth() => OrderRead::Unreadable(e.to_string()),
                Err(e) => return Err(e),
            };
            obs.orders.insert(id, read);
        }
    }
    Ok(())
}

async fn send(
    src: &Sources<'_>,
    app_id: &str,
    v: Verdict,
    now: i64,
    fence: &dyn Fence,
) -> Result<Verdict, PassError> {
    let api = src.api;
    let Some(s) = v.send.clone() else {
        return Ok(v);
    };
    if let Send::ScaleOut { ecu_ids, .. } = &s {
        // ScaleOut has a budget (40/min): rather than record an intent and hold a worker
        // until the window allows it, record the plan without the intent and come back then
        // (the next pass skips its reads while the budget still says wait: `scale_out_turn`).
        let wait = api.budget_wait(crate::edas::Operation::ScaleOutApplication, 0);
        if wait > super::BUDGET_WAIT_IN_LINE {
            let mut v = v;
            v.send = None;
            v.status.pending_scale_out = None;
            v.outcome = Outcome::Waiting {
                reason: reason::WAITING_FOR_BUDGET,
                message: format!(
                    "adding ECU(s) {} waits {}s for the ScaleOutApplication rate budget; nothing was sent",
                    ecu_ids.join(","),
                    wait.as_secs()
                ),
            };
            let jitter = Duration::from_millis(rand::random_range(0..1000));
            v.requeue = Requeue::After(wait + jitter);
            return Ok(v);
        }
    }
    fence.before_send(&v.status).await?;
    let result = match &s {
        Send::ScaleIn { ecc_ids, force } => {
            tracing::info!(app = %app_id, eccs = %ecc_ids.join(","), force, "sending ScaleInApplication");
            super::failpoint::hit("before-scale-in");
            let r = api.scale_in_application(app_id, ecc_ids, *force).await;
            super::failpoint::hit("after-scale-in");
            r
        }
        Send::ScaleOut {
            ecu_ids,
            deploy_group,
            ..
        } => {
            tracing::info!(app = %app_id, ecus = %ecu_ids.join(","), group = %deploy_group, "sending ScaleOutApplication");
            super::failpoint::hit("before-scale-out");
            let r = api
                .scale_out_application(app_id, deploy_group, ecu_ids)
                .await
                .map(Some);
            super::failpoint::hit("after-scale-out");
            r
        }
    };
    let result = match result {
        Ok(Some(id)) => SendResult::Created(id),
        Ok(None) => SendResult::Forced,
        Err(e) if e.is_outcome_unknown() => {
            tracing::warn!(app = %app_id, error = %e, "ScaleIn outcome unknown; observing before anything else");
            SendResult::Unknown(e.to_string())
        }
        Err(e) if e.is_change_order_in_progress() => SendResult::InProgress(e.to_string()),
        Err(e)
            if matches!(s, Send::ScaleOut { .. })
                && matches!(e, EdasError::Business { .. })
                && !e.is_auth() =>
        {
            // The free-ECU answer may be out of date: the next plan reads it afresh.
            src.lookups.forget_ecus(src.scope);
            SendResult::Refused(e.to_string())
        }
        Err(e) => {
            // Known not applied (refused by the gateway or EDAS): the intent is void.
            let mut st = v.status;
            st.pending_scale_in = None;
            return Err(PassError::Edas(e, Some(Box::new(st))));
        }
    };
    Ok(decide::after_send(v, result, now))
}

/// The fence in a cluster: the intent write is conditional on the resourceVersion the pass
/// read (a stale reader gets 409 and sends nothing); the object it returns must still be the
/// one planned for; and this replica must hold the Lease.
struct KubeFence<'a> {
    ctx: &'a Context,
    obj: &'a EdasAppMembership,
    written: std::sync::Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Fence for KubeFence<'_> {
    async fn before_send(&self, status: &EdasAppMembershipStatus) -> Result<(), PassError> {
        let rv = self.obj.resource_version();
        let fresh = match write_status(self.ctx, self.obj, status, rv.as_deref()).await {
            Ok(o) => o,
            Err(Error::Fenced { why, .. }) => return Err(PassError::Fenced(why)),
            Err(e) => return Err(PassError::Kube(e)),
        };
        *crate::lock(&self.written) = fresh.resource_version();
        if fresh.meta().generation != self.obj.meta().generation
            || fresh.uid() != self.obj.uid()
            || fresh.meta().deletion_timestamp.is_some()
            || is_paused(&fresh)
        {
            return Err(PassError::Fenced(
                "the resource changed (spec, pause or deletion) since it was read".into(),
            ));
        }
        self.ctx.check_leadership().await.map_err(PassError::Fenced)
    }
}

/// Entry point used by the controller.
pub async fn reconcile(obj: Arc<EdasAppMembership>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let key = object_key(&obj);
    let old = obj.status.clone().unwrap_or_default();
    let result = run(&obj, &ctx, &old).await;
    let action = match result {
        Err(Ended::Fenced(why)) => {
            tracing::info!(object = %key, %why, "pass fenced; nothing was sent");
            Action::requeue(FENCED_RETRY)
        }
        Err(Ended::Kube(e)) => return Err(e),
        Err(Ended::Later(wait)) => {
            // Spread the passes that wait for the same window over a second.
            let jitter = Duration::from_millis(rand::random_range(0..1000));
            Action::requeue(wait + jitter)
        }
        Ok(end) => {
            let action = end.action.clone();
            match finish(&ctx, &obj, &old, end).await? {
                Written::Yes => action,
                // A newer version of the object exists: look again soon, with it.
                Written::Stale => Action::requeue(FENCED_RETRY),
            }
        }
    };
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    Ok(action)
}

/// How a reconcile ended: what to record, tell and publish.
struct End {
    status: EdasAppMembershipStatus,
    outcome: Outcome,
    action: Action,
    notes: Vec<Note>,
    /// The status write must not be conditional (a ScaleIn went out: its record must land).
    sent: bool,
    resource_version: Option<String>,
}

enum Ended {
    Fenced(String),
    Kube(Error),
    /// A read waits for the call budget: nothing was sent or decided; come back then.
    Later(Duration),
}

impl End {
    /// No EDAS pass: only the conditions change. Written conditionally too, so a stale
    /// object's status never overwrites a newer record.
    fn plain(obj: &EdasAppMembership, outcome: Outcome, action: Action) -> Self {
        Self {
            status: obj.status.clone().unwrap_or_default(),
            outcome,
            action,
            notes: Vec::new(),
            sent: false,
            resource_version: obj.resource_version(),
        }
    }
}

/// Everything checked before any EDAS call: deletion, pause, spec, ownership of the app,
/// credentials. Either the client to use and the scope of its shared lookups (identity and
/// region), or how the reconcile ends without one.
async fn preflight(
    obj: &EdasAppMembership,
    ctx: &Context,
) -> Result<(Arc<dyn EdasApi>, String), (Outcome, Action)> {
    if obj.meta().deletion_timestamp.is_some() {
        return Err((Outcome::Terminating, Action::await_change()));
    }
    if is_paused(obj) {
        return Err((Outcome::Paused, Action::await_change()));
    }
    if let Err(e) = obj.spec.validate() {
        return Err((Outcome::InvalidSpec(e), Action::await_change()));
    }
    if let Some(owner) = conflicting_owner(ctx, obj) {
        let msg = format!(
            "app {} is already managed by EdasAppMembership {owner}; this resource does nothing",
            obj.spec.app_id
        );
        return Err((
            Outcome::Conflict(msg),
            Action::requeue(Duration::from_secs(60)),
        ));
    }
    let (identity, creds) = ctx.credentials_for(obj).await.map_err(|e| {
        if e.unavailable {
            // STS, the metadata service or the apiserver could not give them now: transient.
            let wait = ctx.next_backoff(&object_key(obj));
            let outcome = Outcome::Transient {
                reason: reason::CREDENTIALS_UNAVAILABLE,
                message: e.message,
            };
            return (outcome, Action::requeue(wait));
        }
        (
            Outcome::InvalidCredentials(e.message),
            Action::requeue(Duration::from_secs(120)),
        )
    })?;
    let api = ctx
        .edas
        .client(&identity, &creds, &obj.spec.region_id)
        .map_err(|msg| (Outcome::InvalidSpec(msg), Action::await_change()))?;
    Ok((api, format!("{identity}/{}", obj.spec.region_id)))
}

/// The last pass planned a ScaleOut it could not send for its rate budget and nothing has
/// happened since (same generation, no order or intent): this pass goes only when the budget
/// has room for one more ScaleOut that passes already under way have not taken (`Ok` with
/// the turn, held until the pass ends), else `Err` with when to look again, so that no pass
/// reads the app for a call it cannot make.
fn scale_out_turn<'c>(
    old: &EdasAppMembershipStatus,
    generation: Option<i64>,
    api: &dyn EdasApi,
    ctx: &'c Context,
    scope: &str,
) -> Result<Option<super::ScaleOutPass<'c>>, Duration> {
    let waiting = conditions::get(&old.conditions, condition::SYNCED)
        .is_some_and(|c| c.reason == reason::WAITING_FOR_BUDGET);
    if !(waiting && nothing_in_flight(old) && old.observed_generation == generation) {
        return Ok(None);
    }
    let op = crate::edas::Operation::ScaleOutApplication;
    let room = api.budget_room(op).unwrap_or(usize::MAX);
    match ctx.scale_out_pass(scope, room) {
        Some(turn) => Ok(Some(turn)),
        // No room: until a call leaves the window. Room taken by passes under way: soon.
        None if room == 0 => Err(api.budget_wait(op, 0).max(super::BUDGET_WAIT_IN_LINE)),
        None => Err(Duration::from_secs(2)),
    }
}

/// No intent recorded and no order unfinished on the app as status last saw it.
fn nothing_in_flight(old: &EdasAppMembershipStatus) -> bool {
    old.pending_scale_in.is_none()
        && old.pending_scale_out.is_none()
        && old
            .change_order
            .as_ref()
            .is_none_or(|c| !crate::edas::CoStatus::from_code(c.status_code).is_unfinished())
}

/// Whether the resource waits for the read that shows ECCs it added healthy: a ScaleOut of
/// ours in flight or ended, its ECCs not yet seen healthy.
pub fn awaits_healthy_read(st: &EdasAppMembershipStatus) -> bool {
    st.pending_scale_out.is_some()
        || !st.additions.is_empty()
        || st.change_order.as_ref().is_some_and(|c| {
            c.ours
                && c.direction == crate::crd::direction::SCALE_OUT
                && crate::edas::CoStatus::from_code(c.status_code).is_unfinished()
        })
}

/// A pass that only plans (nothing of ours in flight) leaves the reads that resources with
/// additions in flight will need in this window: at most half of it. Without this, a fleet
/// that starts at once spends the whole window planning additions its ScaleOut budget cannot
/// send yet, and the reads that would let the added ones' removals go wait a minute.
fn planning_turn(
    old: &EdasAppMembershipStatus,
    ctx: &Context,
    api: &dyn EdasApi,
) -> Option<Duration> {
    let op = crate::edas::Operation::QueryApplicationStatus;
    let quiet = nothing_in_flight(old) && old.additions.is_empty();
    let keep = ctx.awaiting_healthy_reads();
    if !quiet || keep == 0 {
        return None;
    }
    let half = ctx
        .edas
        .budget
        .config()
        .effective_per_minute(op)
        .map_or(0, |l| (l / 2.0).floor() as usize);
    let wait = api.budget_wait(op, keep.min(half));
    // The count changes as orders end: look again soon rather than at the window's end.
    (wait > super::BUDGET_WAIT_IN_LINE).then_some(wait.min(Duration::from_secs(5)))
}

async fn run(
    obj: &EdasAppMembership,
    ctx: &Context,
    old: &EdasAppMembershipStatus,
) -> Result<End, Ended> {
    ctx.remember_recorded_calls().await;
    let (api, scope) = match preflight(obj, ctx).await {
        Ok(found) => found,
        Err((outcome, action)) => return Ok(End::plain(obj, outcome, action)),
    };
    let turn = match scale_out_turn(old, obj.meta().generation, &*api, ctx, &scope) {
        Ok(turn) => turn,
        Err(wait) => return Err(Ended::Later(wait)),
    };
    if turn.is_none()
        && let Some(wait) = planning_turn(old, ctx, &*api)
    {
        return Err(Ended::Later(wait));
    }
    let policy = ctx.policy(&obj.spec);
    let input = Input {
        spec: &obj.spec,
        generation: obj.meta().generation.unwrap_or(0),
        retry: obj.annotations().get(RETRY_ANNOTATION).map(String::as_str),
        status: old,
        now: now_ms(),
        policy: &policy,
    };
    let fence = KubeFence {
        ctx,
        obj,
        written: std::sync::Mutex::new(None),
    };
    let key = object_key(obj);
    let written = |f: &KubeFence<'_>| crate::lock(&f.written).clone();
    // A ScaleOut that waited for its budget goes out on the plan of the observation that
    // made it, when that is recent (decide accepts nothing else from it).
    let recorded = turn.as_ref().and_then(|_| {
        super::status::recorded_app(old, &obj.spec.app_id, input.now, RECORDED_APP_MAX_AGE)
    });
    match pass_with(&*api, &input, &fence, &ctx.lookups, &scope, recorded).await {
        Ok(v) => {
            ctx.record_verdict(&key, &v);
            let action = ctx.requeue_action(&key, &v.requeue);
            let sent = written(&fence).is_some();
            Ok(End {
                status: v.status,
                outcome: v.outcome,
                action,
                notes: v.notes,
                sent,
                resource_version: written(&fence).or(obj.resource_version()),
            })
        }
        Err(PassError::Edas(EdasError::OverBudget { wait, .. }, None)) => Err(Ended::Later(wait)),
        Err(PassError::Edas(e, st)) => {
            let (outcome, action) = edas_failure(ctx, &key, &e);
            let sent = st.is_some();
            Ok(End {
                status: st.map(|s| *s).unwrap_or_else(|| old.clone()),
                outcome,
                action,
                notes: Vec::new(),
                sent,
                resource_version: written(&fence).or(obj.resource_version()),
            })
        }
        Err(PassError::Fenced(why)) => Err(Ended::Fenced(why)),
        Err(PassError::Kube(e)) => Err(Ended::Kube(e)),
    }
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

/// Set conditions, write status when it changed (conditional on the version read, unless a
/// ScaleIn went out), then publish the pass's events and the transition events.
/// Whether `finish` wrote the status (or had nothing to write).
enum Written {
    Yes,
    /// The conditional write found a newer object; nothing was written or published.
    Stale,
}

async fn finish(
    ctx: &Context,
    obj: &EdasAppMembership,
    old: &EdasAppMembershipStatus,
    end: End,
) -> Result<Written, Error> {
    let mut st = end.status;
    let generation = obj.metadata.generation;
    if !matches!(end.outcome, Outcome::Paused) {
        st.observed_generation = generation;
    }
    let flipped = conditions::apply(
        &mut st.conditions,
        conditions::desired(&end.outcome),
        generation,
        &rfc3339(now_ms()),
    );
    if &st != old {
        let rv = if end.sent {
            None
        } else {
            end.resource_version.as_deref()
        };
        match write_status(ctx, obj, &st, rv).await {
            Ok(_) => {}
            Err(Error::Fenced { why, .. }) => {
                // A newer version exists: this pass's view is stale; the next one decides.
                tracing::info!(object = %object_key(obj), %why, "status not written: stale pass");
                return Ok(Written::Stale);
            }
            Err(e) => return Err(e),
        }
    }
    for note in &end.notes {
        events::publish(ctx, obj, note).await;
    }
    let ready = conditions::get(&st.conditions, condition::READY).map(|c| c.status.clone());
    ctx.metrics.set_ready(&object_key(obj), ready.as_deref());
    if flipped.contains(&condition::READY) && ready.as_deref() == Some("True") {
        let note = Note::normal(
            reason::CONVERGED,
            "the app runs exactly the declared members".into(),
        );
        events::publish(ctx, obj, &note).await;
    }
    let synced = conditions::get(&st.conditions, condition::SYNCED);
    let old_synced = conditions::get(&old.conditions, condition::SYNCED);
    if let Some(s) = synced
        && s.status == "False"
        && old_synced.is_none_or(|o| o.reason != s.reason)
        && WARN_ON_ENTRY.contains(&s.reason.as_str())
    {
        let note = Note::warning(static_reason(&s.reason), s.message.clone());
        events::publish(ctx, obj, &note).await;
    }
    Ok(Written::Yes)
}

/// Synced=False reasons that publish a Warning when entered.
const WARN_ON_ENTRY: &[&str] = &[
    reason::CONFLICT,
    reason::INVALID_CREDENTIALS,
    reason::INVALID_SPEC,
    reason::CHANGE_ORDER_STUCK,
    reason::WAITING_FOR_CONFIRMATION,
    reason::OUTCOME_UNKNOWN,
    reason::EDAS_ERROR,
    reason::ABORTED_BY_USER,
    reason::FORCED_REMOVAL_NOT_OBSERVED,
    reason::CANNOT_SETTLE,
    reason::INCOMPLETE_OBSERVATION,
];

fn static_reason(r: &str) -> &'static str {
    WARN_ON_ENTRY
        .iter()
        .find(|x| **x == r)
        .copied()
        .unwrap_or(reason::RECONCILE_ERROR)
}

impl Context {
    /// Count, learn and log what a verdict says happened.
    fn record_verdict(&self, key: &str, v: &Verdict) {
        self.note_awaiting(key, awaits_healthy_read(&v.status));
        for (direction, result) in &v.counters {
            self.metrics.change_order(direction, result);
        }
        match v.learned {
            Some((crate::crd::direction::SCALE_OUT, took, n, polls)) => {
                self.order_durations.learn_scale_out(took, n, polls)
            }
            Some((_, took, n, polls)) => self.order_durations.learn(took, n, polls),
            None => {}
        }
    }

    fn requeue_action(&self, key: &str, r: &Requeue) -> Action {
        let wait = match r {
            Requeue::After(d) => *d,
            Requeue::Resync => self.resync_interval(),
            Requeue::FirstPoll(n) => self.order_durations.first_poll(*n),
            Requeue::FirstPollScaleOut(n) => self.order_durations.first_poll_scale_out(*n),
            Requeue::Backoff(min) => return Action::requeue(self.next_backoff(key).max(*min)),
        };
        self.reset_backoff(key);
        Action::requeue(wait)
    }
}
