//! PURE: the change-order state machine. `decide` looks at the recorded status and what was
//! read from EDAS in this pass, and either asks for one more read ([`Need`]) or returns a
//! [`Verdict`]: the new status, the outcome the conditions tell, at most one ScaleIn or
//! ScaleOut to send, when to look again, and the events to publish. `after_send` folds its
//! answer in.
//! Every decision that can remove capacity is made here and nowhere else; the driver in
//! `reconcile.rs` only fetches what is asked for and carries the verdict out.
//!
//! The order of a pass:
//! 1. follow the recorded, unfinished change order (ours, or a foreign one we wait for); when
//!    ours succeeded on every ECC and the observation before it left nothing else to do,
//!    Ready rests on that outcome (no read after it; the resync confirms by observing);
//! 2. settle a ScaleIn whose answer was never recorded (adopt its order by its targets, or
//!    prove after a quiet window that it was not applied);
//!    (the same for a ScaleOut: adopt its order by its ECUs, or see its ECCs, or prove it
//!    was not applied);
//! 3. observe the app (rows deduplicated) and plan both directions (hosts to add are
//!    resolved against the cluster's free ECUs, ListScaleOutEcu);
//! 4. gates: incomplete observation, hosts that cannot be added, added ECCs not yet healthy
//!    (no removal before they are), converged, Observe, aborted by a person, removals that
//!    reads do not show yet, failure backoff, minRemaining, any unfinished order on the app;
//! 5. send one batch, with its intent recorded first: additions before removals.

use super::conditions::Outcome;
use super::events::Note;
use super::plan::{self, EcuNeed, FreeEcus, Plan};
use super::status::{co_from_detail, co_from_summary, parse_rfc3339_ms, push_history, rfc3339};
use super::timing::{self, Policy};
use crate::crd::{
    AbortedOrder, AdditionRecord, ChangeOrderStatus, EdasAppMembershipSpec,
    EdasAppMembershipStatus, ManagementPolicy, PendingScaleIn, PendingScaleOut, RETRY_ANNOTATION,
    ReadyBasis, RemovalRecord, condition, direction, ready_basis, reason,
};
use crate::edas::{AppStatus, ChangeOrderDetail, ChangeOrderSummary, CoStatus, DeployGroup, wire};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a decision starts from.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub spec: &'a EdasAppMembershipSpec,
    /// `metadata.generation` of the object.
    pub generation: i64,
    /// The value of the retry annotation, if set.
    pub retry: Option<&'a str>,
    pub status: &'a EdasAppMembershipStatus,
    /// Epoch milliseconds at the start of the pass.
    pub now: i64,
    pub policy: &'a Policy,
}

/// GetChangeOrderInfo's answer for one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderRead {
    Found(ChangeOrderDetail),
    /// A permanent error: the order cannot be read (expired, not permitted, other account).
    Unreadable(String),
}

/// What was read from EDAS in this pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    pub orders: BTreeMap<String, OrderRead>,
    pub recent: Option<Vec<ChangeOrderSummary>>,
    pub app: Option<AppStatus>,
    /// ListScaleOutEcu of the app's cluster (possibly from the driver's cache).
    pub free_ecus: Option<FreeEcus>,
    /// ListDeployGroup of the app.
    pub groups: Option<Vec<DeployGroup>>,
    /// `app` is the observation recorded in status by an earlier pass, not a read of this
    /// one. It may justify a ScaleOut (adding cannot take capacity away, and EDAS refuses an
    /// ECU that is no longer free), nothing else: any other verdict asks for a fresh read.
    pub recorded_app: bool,
}

/// One more read the decision needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// GetChangeOrderInfo of this order.
    Order(String),
    /// ListRecentChangeOrder of the app.
    RecentOrders,
    /// QueryApplicationStatus of the app.
    App,
    /// ListScaleOutEcu of the app's cluster; `fresh`: read in this pass, not from a cache.
    ScaleOutEcus { fresh: bool },
    /// ListDeployGroup of the app.
    DeployGroups,
}

/// When to look again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requeue {
    After(Duration),
    /// The fleet-scaled periodic resync.
    Resync,
    /// The per-object backoff, at least this long; the backoff keeps growing.
    Backoff(Duration),
    /// The first poll of a new ScaleIn order of this many ECCs (learned from finished ones).
    FirstPoll(usize),
    /// The first poll of a new ScaleOut order of this many ECUs (learned from finished ones).
    FirstPollScaleOut(usize),
}

/// A change order to ask for once, its intent already in the verdict's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Send {
    ScaleIn {
        ecc_ids: Vec<String>,
        force: bool,
    },
    ScaleOut {
        ecu_ids: Vec<String>,
        deploy_group: String,
        /// The members the ECUs stand for, as declared (for events).
        members: Vec<String>,
    },
}

impl Send {
    pub fn direction(&self) -> &'static str {
        match self {
            Send::ScaleIn { .. } => direction::SCALE_IN,
            Send::ScaleOut { .. } => direction::SCALE_OUT,
        }
    }

    /// What the order names: ECC ids (ScaleIn) or ECU ids (ScaleOut).
    pub fn targets(&self) -> &[String] {
        match self {
            Send::ScaleIn { ecc_ids, .. } => ecc_ids,
            Send::ScaleOut { ecu_ids, .. } => ecu_ids,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub status: EdasAppMembershipStatus,
    pub outcome: Outcome,
    pub send: Option<Send>,
    pub requeue: Requeue,
    pub notes: Vec<Note>,
    /// `edas_operator_change_orders_total` (direction, result): result is started,
    /// succeeded, failed, aborted, adopted or forced.
    pub counters: Vec<(&'static str, &'static str)>,
    /// (seconds, ECCs, polls) of an order of ours that succeeded, to learn the first poll.
    pub learned: Option<(&'static str, f64, usize, i64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Need(Need),
    Done(Box<Verdict>),
}

/// How a sent ScaleIn was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendResult {
    /// A change order was made.
    Created(String),
    /// ForceStatus=true answered success: no change order.
    Forced,
    /// It may or may not have been applied (timeout, 5xx, lost answer).
    Unknown(String),
    /// EDAS refused it because an order holds the app (601): not applied.
    InProgress(String),
    /// EDAS refused a ScaleOut with a business error (601: the ECU cannot take the app, the
    /// group does not exist, ...): not applied.
    Refused(String),
}

pub fn decide(input: &Input<'_>, obs: &Observation) -> Step {
    let mut w = Work::new(input);
    if let Some(step) = w.follow(obs) {
        return step;
    }
    if let Some(step) = w.ready_from_order() {
        return step;
    }
    if let Some(step) = w.settle(obs) {
        return step;
    }
    let Some(raw) = obs.app.as_ref() else {
        return Step::Need(Need::App);
    };
    let app = plan::dedupe(raw);
    let plan = plan::compute(input.spec, &app, obs.free_ecus.as_ref());
    if let Some(need) = plan.needs_ecus {
        return Step::Need(Need::ScaleOutEcus {
            fresh: need == EcuNeed::Fresh,
        });
    }
    super::status::record_observation(&mut w.st, &app, &plan, input.spec.members.len(), input.now);
    if obs.recorded_app {
        w.st.last_observed_at = input.status.last_observed_at.clone();
    }
    w.forget_absent(&app);
    let step = match w.gates(&plan, &app, obs) {
        Some(step) => step,
        None => w.send(&plan, obs),
    };
    match step {
        Step::Done(v) if obs.recorded_app && !matches!(v.send, Some(Send::ScaleOut { .. })) => {
            Step::Need(Need::App)
        }
        step => step,
    }
}

/// Fold the ScaleIn's answer into the verdict that asked for it.
pub fn after_send(mut v: Verdict, result: SendResult, now: i64) -> Verdict {
    let Some(send) = v.send.take() else {
        return v;
    };
    let noun = match &send {
        Send::ScaleIn { .. } => "scale-in",
        Send::ScaleOut { .. } => "scale-out",
    };
    match result {
        SendResult::Created(id) => order_started(&mut v, &send, id, now),
        SendResult::Forced => forced_accepted(&mut v, send.targets(), now),
        SendResult::Unknown(msg) => {
            if let Some(p) = v.status.pending_scale_in.as_mut() {
                p.outcome_unknown = true;
            }
            if let Some(p) = v.status.pending_scale_out.as_mut() {
                p.outcome_unknown = true;
            }
            v.outcome = Outcome::OutcomeUnknown(format!(
                "{msg}; observing EDAS before sending anything again"
            ));
            v.requeue = Requeue::After(timing::QUIET_POLL);
        }
        SendResult::InProgress(msg) => {
            v.status.pending_scale_in = None;
            v.status.pending_scale_out = None;
            v.outcome = Outcome::ForeignChangeOrder(format!("EDAS refused the {noun}: {msg}"));
            v.requeue = Requeue::Backoff(timing::FOREIGN_POLL);
        }
        SendResult::Refused(msg) => {
            v.status.pending_scale_in = None;
            v.status.pending_scale_out = None;
            let who = match &send {
                Send::ScaleOut {
                    ecu_ids, members, ..
                } => format!("{} (ECU {})", members.join(", "), ecu_ids.join(",")),
                Send::ScaleIn { ecc_ids, .. } => ecc_ids.join(","),
            };
            v.outcome = Outcome::Transient {
                reason: reason::SCALE_OUT_REFUSED,
                message: format!("EDAS refused to add {who}; nothing was changed: {msg}"),
            };
            v.requeue = Requeue::Backoff(timing::FOREIGN_POLL);
        }
    }
    v
}

fn order_started(v: &mut Verdict, send: &Send, id: String, now: i64) {
    let dir = send.direction();
    let generation = v
        .status
        .pending_scale_in
        .as_ref()
        .and_then(|p| p.generation)
        .or(v
            .status
            .pending_scale_out
            .as_ref()
            .and_then(|p| p.generation));
    let mut co = ChangeOrderStatus {
        id: id.clone(),
        ours: true,
        status: CoStatus::Ready.name(),
        status_code: CoStatus::Ready.code(),
        summary: format!("{} {id}", CoStatus::Ready.name()),
        direction: dir.into(),
        source: "pop".into(),
        co_type: format!("Co{dir}"),
        created_at: Some(rfc3339(now)),
        generation,
        ..Default::default()
    };
    let (started, running) = match send {
        Send::ScaleIn { ecc_ids, .. } => {
            co.ecc_ids = ecc_ids.clone();
            let eccs = ecc_ids.join(",");
            (
                format!("ScaleInApplication {id} removes {eccs}"),
                format!("change order {id} started for ECCs {eccs}"),
            )
        }
        Send::ScaleOut {
            ecu_ids,
            deploy_group,
            members,
        } => {
            co.ecu_ids = ecu_ids.clone();
            let ecus = ecu_ids.join(",");
            (
                format!(
                    "ScaleOutApplication {id} adds ECU(s) {ecus} ({}) into group {deploy_group}",
                    members.join(", ")
                ),
                format!("change order {id} started to add ECUs {ecus}"),
            )
        }
    };
    v.status.change_order = Some(co);
    v.status.pending_scale_in = None;
    v.status.pending_scale_out = None;
    v.counters.push((dir, "started"));
    v.notes
        .push(Note::normal(reason::CHANGE_ORDER_STARTED, started).about(id.clone()));
    v.outcome = Outcome::ChangeOrderRunning(running);
    v.requeue = match send {
        Send::ScaleIn { ecc_ids, .. } => Requeue::FirstPoll(ecc_ids.len()),
        Send::ScaleOut { ecu_ids, .. } => Requeue::FirstPollScaleOut(ecu_ids.len()),
    };
}

fn forced_accepted(v: &mut Verdict, ecc_ids: &[String], now: i64) {
    let eccs = ecc_ids.join(",");
    let at = rfc3339(now);
    let co = ChangeOrderStatus {
        ours: true,
        status: "Forced".into(),
        status_code: CoStatus::Succeeded.code(),
        summary: "Forced".into(),
        direction: direction::SCALE_IN.into(),
        ecc_ids: ecc_ids.to_vec(),
        source: "pop".into(),
        co_type: "CoScaleIn".into(),
        created_at: Some(at.clone()),
        finished_at: Some(at.clone()),
        message: Some("ForceStatus=true: removed without a change order".into()),
        ..Default::default()
    };
    v.status.change_order = Some(co.clone());
    push_history(&mut v.status, co);
    v.status.pending_scale_in = None;
    v.status.removals.push(RemovalRecord {
        ecc_ids: ecc_ids.to_vec(),
        change_order_id: String::new(),
        forced: true,
        at: at.clone(),
        unconfirmed: false,
    });
    v.counters.push((direction::SCALE_IN, "forced"));
    v.notes.push(
        Note::normal(
            reason::FORCED_SCALE_IN,
            format!("ScaleInApplication ForceStatus=true accepted for {eccs} at {at}"),
        )
        .about(format!("forced {at}")),
    );
    v.outcome = Outcome::ChangeOrderRunning(format!(
        "forced removal of {eccs} accepted; confirming by observing the app"
    ));
    v.requeue = Requeue::After(timing::POLL_FIRST);
}

/// A scale-in order, by its type code or label.
pub fn is_scale_in(o: &ChangeOrderSummary) -> bool {
    type_is(&format!("{} {}", o.co_type_code, o.co_type), "in")
}

/// A scale-out order, by its type code or label.
pub fn is_scale_out(o: &ChangeOrderSummary) -> bool {
    type_is(&format!("{} {}", o.co_type_code, o.co_type), "out")
}

/// The order type names this direction ("in" or "out"): CoScaleIn, "Scale In", scale_in.
pub fn type_is(t: &str, dir: &str) -> bool {
    let t = t.to_ascii_lowercase();
    ["scale", "scale ", "scale_"]
        .iter()
        .any(|p| t.contains(&format!("{p}{dir}")))
}

/// A ScaleIn or ScaleOut recorded before its answer, seen the same way by `settle`.
#[derive(Clone, Debug)]
enum Pending {
    In(PendingScaleIn),
    Out(PendingScaleOut),
}

impl Pending {
    fn targets(&self) -> &[String] {
        match self {
            Pending::In(p) => &p.ecc_ids,
            Pending::Out(p) => &p.ecu_ids,
        }
    }
    fn started_at(&self) -> &str {
        match self {
            Pending::In(p) => &p.started_at,
            Pending::Out(p) => &p.started_at,
        }
    }
    fn quiet_observations(&self) -> i32 {
        match self {
            Pending::In(p) => p.quiet_observations,
            Pending::Out(p) => p.quiet_observations,
        }
    }
    fn generation(&self) -> Option<i64> {
        match self {
            Pending::In(p) => p.generation,
            Pending::Out(p) => p.generation,
        }
    }
    fn direction(&self) -> &'static str {
        match self {
            Pending::In(_) => direction::SCALE_IN,
            Pending::Out(_) => direction::SCALE_OUT,
        }
    }
    /// "ScaleIn of a,b" / "ScaleOut of ECU(s) u1".
    fn what(&self) -> String {
        match self {
            Pending::In(p) => format!("ScaleIn of {}", p.ecc_ids.join(",")),
            Pending::Out(p) => format!("ScaleOut of ECU(s) {}", p.ecu_ids.join(",")),
        }
    }
    fn matches(&self, o: &ChangeOrderSummary) -> bool {
        match self {
            Pending::In(_) => is_scale_in(o),
            Pending::Out(_) => is_scale_out(o),
        }
    }
}

/// What a removal record says about sending now.
enum Held {
    /// Stop the pass here (wait, stall, or read the order again).
    Stop(Step),
    /// The record changed: look at the records again.
    Again,
    /// The record no longer holds anything back.
    Released,
}

/// `statusCode` recorded for an order GetChangeOrderInfo cannot read (not an EDAS code).
pub const UNREADABLE_CODE: i64 = -1;

struct Work<'a> {
    input: &'a Input<'a>,
    st: EdasAppMembershipStatus,
    notes: Vec<Note>,
    counters: Vec<(&'static str, &'static str)>,
    learned: Option<(&'static str, f64, usize, i64)>,
    /// An order of ours that this pass saw end, with what GetChangeOrderInfo said of it.
    ended: Option<ChangeOrderDetail>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn wait_ms(ms: i64) -> Duration {
    Duration::from_millis(ms.max(1000) as u64).min(Duration::from_secs(30))
}

impl<'a> Work<'a> {
    fn new(input: &'a Input<'a>) -> Self {
        Self {
            input,
            st: input.status.clone(),
            notes: Vec::new(),
            counters: Vec::new(),
            learned: None,
            ended: None,
        }
    }

    fn now(&self) -> i64 {
        self.input.now
    }

    fn stop(&mut self, outcome: Outcome, requeue: Requeue) -> Step {
        match &outcome {
            Outcome::Converged => {
                self.st.ready_basis = Some(ReadyBasis {
                    source: ready_basis::OBSERVATION.into(),
                    observed_at: Some(rfc3339(self.now())),
                    ..Default::default()
                });
            }
            Outcome::ConvergedByOrder(_) => {}
            _ => self.st.ready_basis = None,
        }
        Step::Done(Box::new(Verdict {
            status: std::mem::take(&mut self.st),
            outcome,
            send: None,
            requeue,
            notes: std::mem::take(&mut self.notes),
            counters: std::mem::take(&mut self.counters),
            learned: self.learned.take(),
        }))
    }

    /// 1. The recorded, unfinished order: poll it; when it ended, account for it.
    fn follow(&mut self, obs: &Observation) -> Option<Step> {
        let prev =
            self.st.change_order.clone().filter(|c| {
                !c.id.is_empty() && CoStatus::from_code(c.status_code).is_unfinished()
            })?;
        match obs.orders.get(&prev.id) {
            None => Some(Step::Need(Need::Order(prev.id))),
            Some(OrderRead::Unreadable(why)) => {
                let created = prev.created_at.as_deref().and_then(parse_rfc3339_ms);
                let young = created
                    .is_some_and(|c| self.now() - c < ms(self.input.policy.read_lag_holdoff));
                if young {
                    // Reads may lag the order's creation: not found is not gone.
                    let msg = format!(
                        "change order {} is not readable yet ({why}); reads may lag its creation",
                        prev.id
                    );
                    let wait = timing::poll_interval(prev.polls);
                    return Some(self.stop(Outcome::ChangeOrderRunning(msg), Requeue::After(wait)));
                }
                self.order_unreadable(&prev, why);
                None
            }
            Some(OrderRead::Found(d)) => {
                let mut co = co_from_detail(d, Some(&prev));
                co.polls = co.polls.saturating_add(1);
                co.last_polled_at = Some(rfc3339(self.now()));
                if d.status.is_unfinished() {
                    return Some(self.still_running(co, d.status));
                }
                co.finished_at = Some(rfc3339(self.now()));
                self.st.change_order = Some(co.clone());
                push_history(&mut self.st, co.clone());
                if co.ours {
                    self.order_ended(&co, d.status);
                    self.ended = Some(d.clone());
                }
                None
            }
        }
    }

    /// 1b. Our order just succeeded on every ECC it named, it was planned for this spec, and
    /// the observation it was planned from had nothing else to remove and nothing missing:
    /// Ready rests on that, without a read after it. Its ECCs stay held (never re-sent) until
    /// an observation shows them gone; the next resync makes that observation.
    fn ready_from_order(&mut self) -> Option<Step> {
        let d = self.ended.take()?;
        let co = self.st.change_order.clone()?;
        if co.direction == direction::SCALE_OUT {
            // An addition is done only when an observation shows its ECCs healthy.
            return None;
        }
        let plan = self.st.plan.clone()?;
        let all_done = d.status == CoStatus::Succeeded
            && d.pipelines.iter().all(|p| p.status == CoStatus::Succeeded)
            && (d.targets.is_empty() || co.ecc_ids.iter().all(|e| d.targets.contains(e)));
        let same_plan = co.generation == Some(self.input.generation)
            && plan.blocked_reason.is_none()
            && plan.missing.is_empty()
            && plan.to_add.is_empty()
            && !co.ecc_ids.is_empty()
            && plan.to_remove.iter().all(|e| co.ecc_ids.contains(e));
        let nothing_else = self.st.pending_scale_in.is_none()
            && self.st.pending_scale_out.is_none()
            && self.st.additions.is_empty()
            && self.st.aborted.is_none()
            && self.st.removals.iter().all(|r| r.change_order_id == co.id);
        if !(all_done && same_plan && nothing_else) {
            return None;
        }
        self.st.members.retain(|m| !co.ecc_ids.contains(&m.ecc_id));
        self.st.observed = Some(self.st.members.len() as i32);
        self.st.plan = Some(crate::crd::PlanStatus {
            to_remove: Vec::new(),
            next_batch: Vec::new(),
            ..plan
        });
        self.st.ready_basis = Some(ReadyBasis {
            source: ready_basis::CHANGE_ORDER.into(),
            observed_at: self.st.last_observed_at.clone(),
            change_order_id: Some(co.id.clone()),
            finished_at: co.finished_at.clone(),
        });
        let msg = format!(
            "change order {} removed {}; the app runs the declared members as observed at {} less those ECCs; an observation confirms it within the resync interval",
            co.id,
            co.ecc_ids.join(","),
            self.st.last_observed_at.as_deref().unwrap_or("?")
        );
        Some(self.stop(Outcome::ConvergedByOrder(msg), Requeue::Resync))
    }

    fn still_running(&mut self, co: ChangeOrderStatus, status: CoStatus) -> Step {
        let age = co
            .created_at
            .as_deref()
            .and_then(parse_rfc3339_ms)
            .map(|c| Duration::from_millis((self.now() - c).max(0) as u64))
            .unwrap_or_default();
        let msg = if co.direction == direction::SCALE_OUT {
            format!(
                "change order {} is {} (adding ECUs {})",
                co.id,
                co.status,
                co.ecu_ids.join(",")
            )
        } else {
            format!(
                "change order {} is {} (ECCs {})",
                co.id,
                co.status,
                co.ecc_ids.join(",")
            )
        };
        let timeout = self.input.policy.change_order_timeout;
        let (outcome, wait) = if status == CoStatus::WaitingManualConfirm {
            (
                Outcome::WaitingForConfirmation(format!(
                    "{msg}: waiting for manual confirmation in EDAS; the operator never confirms on its own"
                )),
                timing::POLL_MANUAL,
            )
        } else if age > timeout {
            (
                Outcome::ChangeOrderStuck(format!(
                    "{msg} for {}s, longer than changeOrderTimeout {}",
                    age.as_secs(),
                    self.input.spec.change_order_timeout
                )),
                timing::POLL_CAP,
            )
        } else if !co.ours {
            (
                Outcome::ForeignChangeOrder(format!(
                    "waiting for change order {} (source {}) made outside the operator",
                    co.id, co.source
                )),
                timing::FOREIGN_POLL.max(timing::poll_interval(co.polls)),
            )
        } else {
            (
                Outcome::ChangeOrderRunning(msg),
                timing::poll_interval(co.polls),
            )
        };
        self.st.change_order = Some(co);
        self.stop(outcome, Requeue::After(wait))
    }

    /// An order of ours ended: success, abort by a person, or failure (3, 7, 10, unknown).
    fn order_ended(&mut self, co: &ChangeOrderStatus, status: CoStatus) {
        let now = self.now();
        let dir = direction_of(co);
        let out = dir == direction::SCALE_OUT;
        let (eccs, done) = if out {
            (co.ecu_ids.join(","), "added ECU(s)")
        } else {
            (co.ecc_ids.join(","), "removed")
        };
        if out {
            // Whatever the end: an order that failed or was aborted may have installed some
            // ECCs, and reads may not show them yet. They are waited for like a success's.
            self.hold_added(&co.ecu_ids, &co.id);
        } else {
            self.hold(&co.ecc_ids, &co.id, false);
        }
        match status {
            CoStatus::Succeeded => {
                self.st.consecutive_failures = None;
                self.counters.push((dir, "succeeded"));
                let took = co
                    .created_at
                    .as_deref()
                    .and_then(parse_rfc3339_ms)
                    .map(|c| (now - c).max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                let n = if out {
                    co.ecu_ids.len()
                } else {
                    co.ecc_ids.len()
                };
                self.learned = Some((dir, took, n.max(1), co.polls));
                self.notes.push(
                    Note::normal(
                        reason::CHANGE_ORDER_SUCCEEDED,
                        format!("{dir} change order {} {done} {eccs}", co.id),
                    )
                    .about(co.id.clone()),
                );
            }
            CoStatus::Aborted => {
                self.st.aborted = Some(AbortedOrder {
                    change_order_id: co.id.clone(),
                    generation: self.input.generation,
                    at: rfc3339(now),
                });
                self.counters.push((dir, "aborted"));
                let what = if out {
                    format!("adding ECU(s) {eccs}")
                } else {
                    format!("removing {eccs}")
                };
                self.notes.push(
                    Note::warning(reason::CHANGE_ORDER_ABORTED, aborted_message(&co.id, &what))
                        .about(co.id.clone()),
                );
            }
            _ => {
                self.count_failure(dir);
                self.notes.push(
                    Note::warning(
                        reason::CHANGE_ORDER_FAILED,
                        format!(
                            "{dir} change order {} ended {}: {}",
                            co.id,
                            co.status,
                            co.message.clone().unwrap_or_default()
                        ),
                    )
                    .about(co.id.clone()),
                );
            }
        }
    }

    fn count_failure(&mut self, dir: &'static str) {
        let n = self.st.consecutive_failures.unwrap_or(0).saturating_add(1);
        self.st.consecutive_failures = Some(n);
        self.counters.push((dir, "failed"));
    }

    /// A recorded order GetChangeOrderInfo permanently cannot read: stop following it, count
    /// it as failed (never as a success), and hold its ECCs as for any ended order.
    fn order_unreadable(&mut self, prev: &ChangeOrderStatus, why: &str) {
        let mut co = prev.clone();
        co.status = "Unreadable".into();
        // Not an unfinished code: the order is no longer followed (it is re-read once its
        // ECCs' hold-off has passed).
        co.status_code = UNREADABLE_CODE;
        co.summary = format!("Unreadable {}", co.id);
        co.message = Some(why.to_string());
        co.finished_at = Some(rfc3339(self.now()));
        self.st.change_order = Some(co.clone());
        push_history(&mut self.st, co.clone());
        if co.ours {
            self.hold(&co.ecc_ids, &co.id, true);
            self.hold_added(&co.ecu_ids, &co.id);
            self.count_failure(direction_of(&co));
            self.notes.push(
                Note::warning(
                    reason::CHANGE_ORDER_FAILED,
                    format!(
                        "change order {} cannot be read any more ({why}); counted as failed",
                        co.id
                    ),
                )
                .about(co.id.clone()),
            );
        }
    }

    /// Remember that an order of ours added these ECUs, until their ECCs are observed healthy.
    fn hold_added(&mut self, ecus: &[String], order_id: &str) {
        if ecus.is_empty() {
            return;
        }
        self.st
            .additions
            .retain(|r| r.change_order_id.is_empty() || r.change_order_id != order_id);
        self.st.additions.push(AdditionRecord {
            ecu_ids: ecus.to_vec(),
            change_order_id: order_id.to_string(),
            at: rfc3339(self.now()),
        });
    }

    /// Remember that an order of ours named these ECCs, until they are observed absent.
    fn hold(&mut self, eccs: &[String], order_id: &str, unconfirmed: bool) {
        if eccs.is_empty() {
            return;
        }
        self.st
            .removals
            .retain(|r| r.forced || r.change_order_id != order_id);
        self.st.removals.push(RemovalRecord {
            ecc_ids: eccs.to_vec(),
            change_order_id: order_id.to_string(),
            forced: false,
            at: rfc3339(self.now()),
            unconfirmed,
        });
    }

    /// 2. A ScaleIn or ScaleOut that was (maybe) sent but whose answer was never recorded.
    fn settle(&mut self, obs: &Observation) -> Option<Step> {
        let p = match (&self.st.pending_scale_in, &self.st.pending_scale_out) {
            (Some(p), _) => Pending::In(p.clone()),
            (None, Some(p)) => Pending::Out(p.clone()),
            (None, None) => return None,
        };
        let Some(recent) = obs.recent.as_ref() else {
            return Some(Step::Need(Need::RecentOrders));
        };
        let started = parse_rfc3339_ms(p.started_at()).unwrap_or(0);
        let mut unattributed: Vec<&ChangeOrderSummary> = Vec::new();
        for o in recent.iter().filter(|o| p.matches(o)) {
            if self.st.history.iter().any(|h| h.id == o.id) {
                continue;
            }
            if o.create_time
                .as_deref()
                .and_then(wire::parse_co_time)
                .is_some_and(|c| c < started - ms(timing::ORDER_CLOCK_SKEW))
            {
                continue;
            }
            match obs.orders.get(&o.id) {
                None => return Some(Step::Need(Need::Order(o.id.clone()))),
                Some(OrderRead::Unreadable(_)) => unattributed.push(o),
                Some(OrderRead::Found(d)) if d.targets.is_empty() => unattributed.push(o),
                Some(OrderRead::Found(d)) => {
                    if p.targets().iter().all(|e| d.targets.contains(e)) {
                        return self.adopt(&p, o, d);
                    }
                }
            }
        }
        if let Pending::In(pin) = &p
            && pin.force
        {
            // A forced call makes no order to find: remember it, never send it again.
            self.st.pending_scale_in = None;
            self.st.removals.push(RemovalRecord {
                ecc_ids: pin.ecc_ids.clone(),
                change_order_id: String::new(),
                forced: true,
                at: pin.started_at.clone(),
                unconfirmed: false,
            });
            return None;
        }
        if let Some(o) = recent.iter().find(|o| o.status.is_unfinished()) {
            let msg = format!(
                "{} ({}) has an unknown outcome; waiting for change order {} ({}, source {}) before deciding",
                p.what(),
                p.started_at(),
                o.id,
                o.status.name(),
                o.source
            );
            self.mark_unknown(&p, 0);
            return Some(self.stop(
                Outcome::OutcomeUnknown(msg),
                Requeue::After(timing::FOREIGN_POLL),
            ));
        }
        let Some(raw) = obs.app.as_ref() else {
            return Some(Step::Need(Need::App));
        };
        let app = plan::dedupe(raw);
        let applied = match &p {
            // Removed: none of its ECCs is listed any more.
            Pending::In(_) => !p
                .targets()
                .iter()
                .any(|id| app.eccs.iter().any(|e| &e.ecc_id == id)),
            // Added: every ECU it named runs an ECC of the app.
            Pending::Out(_) => p
                .targets()
                .iter()
                .all(|id| app.eccs.iter().any(|e| &e.ecu_id == id)),
        };
        if applied {
            self.applied_without_order(&p);
            return None;
        }
        let step = self.prove_not_applied(&p, &unattributed);
        if step.is_none()
            && let Pending::Out(_) = &p
        {
            // Proven not applied as a whole; any ECU that does run the app now (a partial
            // apply) is awaited healthy like an order's.
            let present: Vec<String> = p
                .targets()
                .iter()
                .filter(|u| app.eccs.iter().any(|e| &e.ecu_id == *u))
                .cloned()
                .collect();
            self.hold_added(&present, "");
        }
        step
    }

    fn mark_unknown(&mut self, p: &Pending, quiet: i32) {
        match p.clone() {
            Pending::In(mut p) => {
                p.outcome_unknown = true;
                p.quiet_observations = quiet;
                self.st.pending_scale_in = Some(p);
            }
            Pending::Out(mut p) => {
                p.outcome_unknown = true;
                p.quiet_observations = quiet;
                self.st.pending_scale_out = Some(p);
            }
        }
    }

    fn clear_pending(&mut self) {
        self.st.pending_scale_in = None;
        self.st.pending_scale_out = None;
    }

    fn adopt(
        &mut self,
        p: &Pending,
        o: &ChangeOrderSummary,
        d: &ChangeOrderDetail,
    ) -> Option<Step> {
        let mut co = co_from_detail(d, Some(&co_from_summary(o)));
        co.ours = true;
        co.direction = p.direction().into();
        match p {
            Pending::In(p) => co.ecc_ids = p.ecc_ids.clone(),
            Pending::Out(p) => {
                co.ecc_ids = Vec::new();
                co.ecu_ids = p.ecu_ids.clone();
            }
        }
        co.generation = p.generation();
        co.polls = 1;
        co.last_polled_at = Some(rfc3339(self.now()));
        self.clear_pending();
        self.counters.push((p.direction(), "adopted"));
        if d.status.is_unfinished() {
            let msg = format!("adopted change order {} for {}", co.id, p.what());
            self.st.change_order = Some(co);
            return Some(self.stop(
                Outcome::ChangeOrderRunning(msg),
                Requeue::After(timing::POLL_FIRST),
            ));
        }
        co.finished_at = Some(rfc3339(self.now()));
        self.st.change_order = Some(co.clone());
        push_history(&mut self.st, co.clone());
        self.order_ended(&co, d.status);
        None
    }

    fn applied_without_order(&mut self, p: &Pending) {
        self.clear_pending();
        let mut co = ChangeOrderStatus {
            ours: true,
            status: "Applied".into(),
            status_code: CoStatus::Succeeded.code(),
            summary: "Applied".into(),
            direction: p.direction().into(),
            co_type: format!("Co{}", p.direction()),
            created_at: Some(p.started_at().to_string()),
            finished_at: Some(rfc3339(self.now())),
            ..Default::default()
        };
        match p {
            Pending::In(p) => {
                co.ecc_ids = p.ecc_ids.clone();
                co.message = Some(
                    "the ScaleIn's answer was never recorded; its ECCs were observed gone".into(),
                );
            }
            Pending::Out(p) => {
                co.ecu_ids = p.ecu_ids.clone();
                co.message = Some(
                    "the ScaleOut's answer was never recorded; its ECUs were observed running the app"
                        .into(),
                );
                // Their ECCs must still be seen healthy before anything is removed.
                self.hold_added(&p.ecu_ids, "");
            }
        }
        push_history(&mut self.st, co);
    }

    /// The ECCs are still listed (ScaleIn) or the ECUs still run no ECC (ScaleOut) and no
    /// order of ours was found. Not applied is proven only by two observations after the quiet
    /// window, with no order we cannot attribute.
    fn prove_not_applied(
        &mut self,
        p: &Pending,
        unattributed: &[&ChangeOrderSummary],
    ) -> Option<Step> {
        let now = self.now();
        let started = parse_rfc3339_ms(p.started_at()).unwrap_or(0);
        let window = self.input.policy.quiet_window();
        let quiet_at = started.saturating_add(ms(window));
        let what = p.what();
        let at = p.started_at().to_string();
        if !unattributed.is_empty() {
            let ids: Vec<&str> = unattributed.iter().map(|o| o.id.as_str()).collect();
            let timeout_at = started.saturating_add(ms(self.input.policy.change_order_timeout));
            self.mark_unknown(p, 0);
            if now > timeout_at {
                return Some(self.stop(
                    Outcome::Stalled {
                        reason: reason::CANNOT_SETTLE,
                        message: format!(
                            "cannot tell whether the {what} ({at}) was applied: EDAS does not say what change order(s) {} acted on; check them in EDAS, then change the spec",
                            ids.join(",")
                        ),
                    },
                    Requeue::Resync,
                ));
            }
            return Some(self.stop(
                Outcome::OutcomeUnknown(format!(
                    "{what} ({at}): outcome unknown; change order(s) {} do not say what they acted on; nothing is sent meanwhile",
                    ids.join(",")
                )),
                Requeue::After(timing::QUIET_POLL),
            ));
        }
        if now < quiet_at {
            self.mark_unknown(p, 0);
            return Some(self.stop(
                Outcome::OutcomeUnknown(format!(
                    "{what} ({at}): outcome unknown; no order seen yet; nothing is sent again before {} ({}s quiet window) and two observations that show it not applied",
                    rfc3339(quiet_at),
                    window.as_secs()
                )),
                Requeue::After(wait_ms(quiet_at - now).min(timing::QUIET_POLL.saturating_mul(2))),
            ));
        }
        let seen = p.quiet_observations().saturating_add(1);
        if seen >= 2 {
            self.clear_pending();
            return None;
        }
        self.mark_unknown(p, seen);
        Some(self.stop(
            Outcome::OutcomeUnknown(format!(
                "{what} ({at}): no order, and not applied as observed after the quiet window ({seen} of 2 observations)"
            )),
            Requeue::After(timing::QUIET_POLL),
        ))
    }

    /// Removal records whose ECCs are all gone are done.
    fn forget_absent(&mut self, app: &AppStatus) {
        self.st.removals.retain(|r| {
            r.ecc_ids
                .iter()
                .any(|id| app.eccs.iter().any(|e| &e.ecc_id == id))
        });
    }

    /// 4. Everything that stops a send, in order.
    fn gates(&mut self, plan: &Plan, app: &AppStatus, obs: &Observation) -> Option<Step> {
        let spec = self.input.spec;
        if let Some(why) = plan.incomplete.clone() {
            return Some(self.stop(
                Outcome::Waiting {
                    reason: reason::INCOMPLETE_OBSERVATION,
                    message: why,
                },
                Requeue::After(timing::INCOMPLETE_RETRY),
            ));
        }
        // Bad members: a guess could remove or add the wrong host.
        let bad = [
            (reason::MEMBER_AMBIGUOUS, &plan.ambiguous),
            (reason::MEMBER_NOT_ADDABLE, &plan.unaddable),
        ];
        if let Some((reason, whys)) = bad.into_iter().find(|(_, w)| !w.is_empty()) {
            return Some(self.stop(
                Outcome::Stalled {
                    reason,
                    message: format!(
                        "{}; nothing is added or removed until the spec changes",
                        whys.join("; ")
                    ),
                },
                Requeue::Resync,
            ));
        }
        if let Some(step) = self.added_gate(plan, app) {
            return Some(step);
        }
        if plan.is_converged() {
            self.st.consecutive_failures = None;
            self.st.aborted = None;
            self.st.removals.clear();
            let outcome = if plan.missing.is_empty() {
                Outcome::Converged
            } else {
                let why = if spec.scale_out.enabled {
                    "a member named by eccId cannot be added: an ECC id exists only once the instance runs; name the host by instanceId, ip or ecuId"
                } else {
                    "spec.scaleOut.enabled is false: the operator removes ECCs, it does not add them"
                };
                Outcome::MembersMissing(format!(
                    "declared but not running the app: {} ({why})",
                    plan.missing.join(", ")
                ))
            };
            return Some(self.stop(outcome, Requeue::Resync));
        }
        if spec.management_policy == ManagementPolicy::Observe {
            let mut would = Vec::new();
            if !plan.to_add.is_empty() {
                would.push(format!(
                    "add {} host(s): {}",
                    plan.to_add.len(),
                    plan.to_add
                        .iter()
                        .map(|a| format!("{} (ECU {})", a.member, a.ecu_id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if !plan.to_remove.is_empty() {
                would.push(format!(
                    "remove {} ECC(s): {}",
                    plan.to_remove.len(),
                    plan.to_remove.join(",")
                ));
            }
            return Some(self.stop(
                Outcome::ObserveOnly(format!(
                    "managementPolicy Observe: would {}",
                    would.join(", then ")
                )),
                Requeue::Resync,
            ));
        }
        if let Some(step) = self.aborted_gate() {
            return Some(step);
        }
        if let Some(step) = self.held(plan, obs) {
            return Some(step);
        }
        if let Some(step) = self.failure_gate() {
            return Some(step);
        }
        if let Some(why) = plan.blocked.clone() {
            let already = self.st.conditions.iter().any(|c| {
                c.type_ == condition::SYNCED && c.reason == reason::SAFETY_LIMIT && c.message == why
            });
            if !already {
                self.notes
                    .push(Note::warning(reason::SAFETY_LIMIT, why.clone()));
            }
            return Some(self.stop(Outcome::SafetyLimit(why), Requeue::Resync));
        }
        let Some(recent) = obs.recent.as_ref() else {
            return Some(Step::Need(Need::RecentOrders));
        };
        if let Some(o) = recent.iter().find(|o| o.status.is_unfinished()) {
            let mut co = co_from_summary(o);
            co.ours = false;
            let next = if plan.add_batch.is_empty() {
                format!("removing {}", plan.next_batch.join(","))
            } else {
                format!("adding ECU(s) {}", plan.add_batch.join(","))
            };
            let msg = format!(
                "waiting for change order {} ({}, source {}) before {next}",
                co.id, co.status, co.source,
            );
            self.st.change_order = Some(co);
            return Some(self.stop(
                Outcome::ForeignChangeOrder(msg),
                Requeue::After(timing::FOREIGN_POLL),
            ));
        }
        None
    }

    /// Hosts our orders added: no removal (and no Ready) until an observation shows each
    /// one's ECC healthy. Not listed yet: reads may lag, for the hold-off. Listed but not
    /// healthy past changeOrderTimeout: stalled, removals stopped. A host no longer declared
    /// is not waited for.
    fn added_gate(&mut self, plan: &Plan, app: &AppStatus) -> Option<Step> {
        let now = self.now();
        let mut waiting: Vec<String> = Vec::new();
        let mut unhealthy: Vec<String> = Vec::new();
        let hold_off = ms(self.input.policy.read_lag_holdoff);
        let mut kept = Vec::new();
        // The youngest addition whose ECC is listed but not healthy yet (it is starting);
        // one not listed yet is read lag, re-read every quiet poll.
        let mut starting = i64::MAX;
        let mut unlisted = false;
        for mut r in std::mem::take(&mut self.st.additions) {
            let age = now - parse_rfc3339_ms(&r.at).unwrap_or(0);
            let order = r.change_order_id.clone();
            // An ECU is done with when its ECC is healthy, when the spec no longer declares
            // it, or when reads still do not list it after the hold-off (EDAS does not run
            // it: plan afresh).
            r.ecu_ids
                .retain(|u| match app.eccs.iter().find(|e| &e.ecu_id == u) {
                    None if age < hold_off => {
                        waiting.push(format!("ECU {u} (not listed yet)"));
                        unlisted = true;
                        true
                    }
                    None => false,
                    Some(e) if e.is_healthy() || !plan.declared.contains(&e.ecc_id) => false,
                    Some(e) => {
                        let state = format!(
                            "ECC {} on ECU {u} is {}/{}",
                            e.ecc_id, e.app_state, e.task_state
                        );
                        if age > ms(self.input.policy.change_order_timeout) {
                            unhealthy.push(format!(
                                "{state} {}s after change order {order} added it",
                                age / 1000
                            ));
                        } else {
                            waiting.push(state);
                            starting = starting.min(age);
                        }
                        true
                    }
                });
            if !r.ecu_ids.is_empty() {
                kept.push(r);
            }
        }
        self.st.additions = kept;
        if !unhealthy.is_empty() {
            return Some(self.stop(
                Outcome::Stalled {
                    reason: reason::NEW_MEMBER_UNHEALTHY,
                    message: format!(
                        "{}: not healthy (RUNNING/SUCCESS) within changeOrderTimeout {}; no ECC is removed until it is, or until the spec no longer declares it",
                        unhealthy.join("; "),
                        self.input.spec.change_order_timeout
                    ),
                },
                Requeue::After(timing::POLL_CAP),
            ));
        }
        if waiting.is_empty() {
            return None;
        }
        let removing = if plan.to_remove.is_empty() {
            String::new()
        } else {
            format!(" before removing {}", plan.to_remove.join(","))
        };
        let message = format!(
            "waiting for added hosts to run the app healthy{removing}: {}",
            waiting.join("; ")
        );
        // An order that did not succeed says so while what it may have installed is awaited.
        let failed = self
            .st
            .additions
            .iter()
            .filter(|r| !r.change_order_id.is_empty())
            .find_map(|r| self.failed_order(&r.change_order_id));
        let outcome = match failed {
            Some(h) => Outcome::ChangeOrderFailed(failed_message(h, &message)),
            None => Outcome::Waiting {
                reason: reason::WAITING_FOR_NEW_MEMBERS,
                message,
            },
        };
        let poll = if unlisted {
            timing::QUIET_POLL
        } else {
            timing::new_member_poll(Duration::from_millis(starting.max(0) as u64))
        };
        Some(self.stop(outcome, Requeue::After(poll)))
    }

    /// Our order `id` in the history, if it ended without success.
    fn failed_order(&self, id: &str) -> Option<&ChangeOrderStatus> {
        self.st
            .history
            .iter()
            .find(|h| h.id == id && h.status_code != CoStatus::Succeeded.code())
    }

    /// A person aborted our order: stalled until the spec changes or the retry annotation
    /// names the order.
    fn aborted_gate(&mut self) -> Option<Step> {
        let a = self.st.aborted.clone()?;
        if a.generation < self.input.generation || self.input.retry == Some(&a.change_order_id) {
            self.st.aborted = None;
            return None;
        }
        Some(self.stop(
            Outcome::Stalled {
                reason: reason::ABORTED_BY_USER,
                message: aborted_message(&a.change_order_id, ""),
            },
            Requeue::Resync,
        ))
    }

    /// ECCs an order of ours (or a forced call) removed, still listed and still planned for
    /// removal: wait for reads to catch up; never re-send a forced removal.
    fn held(&mut self, plan: &Plan, obs: &Observation) -> Option<Step> {
        for r in self.st.removals.clone() {
            let listed: Vec<&str> = r
                .ecc_ids
                .iter()
                .filter(|e| plan.to_remove.contains(e))
                .map(String::as_str)
                .collect();
            if listed.is_empty() {
                continue;
            }
            let age = self.now() - parse_rfc3339_ms(&r.at).unwrap_or(0);
            let listed = listed.join(",");
            let step = if r.forced {
                self.held_forced(&r, &listed, age)
            } else {
                self.held_by_order(&r, &listed, age, obs)
            };
            match step {
                Held::Stop(step) => return Some(step),
                Held::Again => return self.held(plan, obs),
                Held::Released => self.st.removals.retain(|x| x != &r),
            }
        }
        None
    }

    fn held_forced(&mut self, r: &RemovalRecord, listed: &str, age: i64) -> Held {
        let left = ms(self.input.policy.forced_holdoff) - age;
        if left > 0 {
            let message = format!(
                "forced ScaleIn of {listed} at {}: EDAS still lists them; waiting up to {}s more for them to go (forced removals are never re-sent)",
                r.at,
                left / 1000
            );
            return Held::Stop(self.stop(
                Outcome::Waiting {
                    reason: reason::WAITING_FOR_READS,
                    message,
                },
                Requeue::After(wait_ms(left).min(timing::QUIET_POLL.saturating_mul(2))),
            ));
        }
        if self.input.retry == Some(r.at.as_str()) {
            return Held::Released;
        }
        let message = format!(
            "EDAS still lists {listed} {}s after a forced ScaleIn at {}; the operator does not re-send forced removals. Check the app in EDAS; to send again, annotate {RETRY_ANNOTATION}={}",
            age / 1000,
            r.at,
            r.at
        );
        Held::Stop(self.stop(
            Outcome::Stalled {
                reason: reason::FORCED_REMOVAL_NOT_OBSERVED,
                message,
            },
            Requeue::Resync,
        ))
    }

    fn held_by_order(
        &mut self,
        r: &RemovalRecord,
        listed: &str,
        age: i64,
        obs: &Observation,
    ) -> Held {
        let left = ms(self.input.policy.read_lag_holdoff) - age;
        if left > 0 {
            let wait = format!(
                "waiting up to {}s more for EDAS's reads to catch up before {listed} can be sent again",
                left / 1000
            );
            let outcome = match self.failed_order(&r.change_order_id) {
                Some(h) => Outcome::ChangeOrderFailed(failed_message(h, &wait)),
                None => Outcome::Waiting {
                    reason: reason::WAITING_FOR_READS,
                    message: format!(
                        "change order {} ended at {} but EDAS still lists {listed}; {wait}",
                        r.change_order_id, r.at
                    ),
                },
            };
            let requeue = Requeue::After(wait_ms(left).min(timing::QUIET_POLL.saturating_mul(2)));
            return Held::Stop(self.stop(outcome, requeue));
        }
        // The hold-off passed: re-read the order's record before anything is sent.
        match obs.orders.get(&r.change_order_id) {
            None if !r.change_order_id.is_empty() => {
                Held::Stop(Step::Need(Need::Order(r.change_order_id.clone())))
            }
            Some(OrderRead::Found(d)) if d.status.is_unfinished() => {
                let mut co = co_from_detail(d, None);
                co.ours = true;
                co.ecc_ids = r.ecc_ids.clone();
                self.st.removals.retain(|x| x != r);
                Held::Stop(self.still_running(co, d.status))
            }
            Some(OrderRead::Found(_)) if r.unconfirmed => {
                // It ended at some time up to now: hold again from now.
                let fresh = RemovalRecord {
                    at: rfc3339(self.now()),
                    unconfirmed: false,
                    ..r.clone()
                };
                self.st.removals.retain(|x| x != r);
                self.st.removals.push(fresh);
                Held::Again
            }
            _ => Held::Released,
        }
    }

    fn failure_gate(&mut self) -> Option<Step> {
        let n = self.st.consecutive_failures.filter(|n| *n > 0)?;
        let last_end = self
            .st
            .history
            .first()
            .and_then(|h| h.finished_at.as_deref())
            .and_then(parse_rfc3339_ms)
            .unwrap_or(0);
        let retry_at = last_end.saturating_add(ms(timing::failure_backoff(
            self.input.policy.failure_backoff,
            n,
        )));
        let now = self.now();
        if now >= retry_at {
            return None;
        }
        let last = self.st.history.first().cloned().unwrap_or_default();
        let retry = format!(
            "retrying in {}s ({} failure(s) in a row)",
            (retry_at - now) / 1000,
            n
        );
        Some(self.stop(
            Outcome::ChangeOrderFailed(failed_message(&last, &retry)),
            Requeue::After(Duration::from_millis((retry_at - now) as u64)),
        ))
    }

    /// 5. Record the intent; the driver writes it (fenced) and sends once. Additions first.
    fn send(mut self, plan: &Plan, obs: &Observation) -> Step {
        if !plan.add_batch.is_empty() {
            return self.send_out(plan, obs);
        }
        let batch = plan.next_batch.clone();
        let force = self.input.spec.scale_in.force;
        self.st.pending_scale_in = Some(PendingScaleIn {
            ecc_ids: batch.clone(),
            force,
            started_at: rfc3339(self.now()),
            outcome_unknown: false,
            quiet_observations: 0,
            generation: Some(self.input.generation),
        });
        let n = batch.len();
        let msg = format!("sending ScaleInApplication for {}", batch.join(","));
        match self.stop(Outcome::ChangeOrderRunning(msg), Requeue::FirstPoll(n)) {
            Step::Done(mut v) => {
                v.send = Some(Send::ScaleIn {
                    ecc_ids: batch,
                    force,
                });
                Step::Done(v)
            }
            need => need,
        }
    }

    fn send_out(mut self, plan: &Plan, obs: &Observation) -> Step {
        let Some(groups) = obs.groups.as_ref() else {
            return Step::Need(Need::DeployGroups);
        };
        let group = match deploy_group(self.input.spec, groups) {
            Ok(g) => g,
            Err(why) => {
                return self.stop(Outcome::InvalidSpec(why), Requeue::Resync);
            }
        };
        let batch = plan.add_batch.clone();
        let members: Vec<String> = plan
            .to_add
            .iter()
            .filter(|a| batch.contains(&a.ecu_id))
            .map(|a| a.member.clone())
            .collect();
        self.st.pending_scale_out = Some(PendingScaleOut {
            ecu_ids: batch.clone(),
            deploy_group: group.clone(),
            started_at: rfc3339(self.now()),
            outcome_unknown: false,
            quiet_observations: 0,
            generation: Some(self.input.generation),
        });
        let msg = format!(
            "sending ScaleOutApplication for ECU(s) {} ({}) into group {group}",
            batch.join(","),
            members.join(", ")
        );
        let n = batch.len();
        match self.stop(
            Outcome::ChangeOrderRunning(msg),
            Requeue::FirstPollScaleOut(n),
        ) {
            Step::Done(mut v) => {
                v.send = Some(Send::ScaleOut {
                    ecu_ids: batch,
                    deploy_group: group,
                    members,
                });
                Step::Done(v)
            }
            need => need,
        }
    }
}

/// The deploy group id new instances join: spec.scaleOut.deployGroup (a name or an id), or
/// the app's default group (GroupType 0). Names the groups that exist when none matches.
pub fn deploy_group(
    spec: &EdasAppMembershipSpec,
    groups: &[DeployGroup],
) -> Result<String, String> {
    let names = || {
        groups
            .iter()
            .map(|g| format!("{} ({})", g.name, g.group_id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match spec.scale_out.deploy_group.as_deref() {
        Some(want) => groups
            .iter()
            .find(|g| g.group_id == want || g.name == want)
            .map(|g| g.group_id.clone())
            .ok_or_else(|| {
                format!(
                    "spec.scaleOut.deployGroup: {want:?} matches no deploy group of app {}; its groups are: {}",
                    spec.app_id,
                    names()
                )
            }),
        None => groups
            .iter()
            .find(|g| g.group_type == Some(0))
            .map(|g| g.group_id.clone())
            .ok_or_else(|| {
                format!(
                    "app {} has no default deploy group (GroupType 0); set spec.scaleOut.deployGroup to one of: {}",
                    spec.app_id,
                    names()
                )
            }),
    }
}

/// The metric's direction of an order of ours (recorded ones without one are ScaleIns).
fn direction_of(co: &ChangeOrderStatus) -> &'static str {
    if co.direction == direction::SCALE_OUT {
        direction::SCALE_OUT
    } else {
        direction::SCALE_IN
    }
}

/// "ScaleOut change order <id>", or "change order <id>" when the direction is not known.
fn order_name(h: &ChangeOrderStatus) -> String {
    if h.direction.is_empty() {
        format!("change order {}", h.id)
    } else {
        format!("{} change order {}", h.direction, h.id)
    }
}

/// "<order> ended <status>: <EDAS's message>; <then>".
fn failed_message(h: &ChangeOrderStatus, then: &str) -> String {
    format!(
        "{} ended {}: {}; {then}",
        order_name(h),
        h.status,
        h.message.as_deref().unwrap_or_default()
    )
}

fn aborted_message(id: &str, eccs: &str) -> String {
    let what = if eccs.is_empty() {
        String::new()
    } else {
        format!(" (removing {eccs})")
    };
    format!(
        "change order {id}{what} was aborted in EDAS (status 6); the operator does not retry it on its own: change the spec, or annotate {RETRY_ANNOTATION}={id}"
    )
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
