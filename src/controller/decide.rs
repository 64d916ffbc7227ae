//! PURE: the change-order state machine. `decide` looks at the recorded status and what was
//! read from EDAS in this pass, and either asks for one more read ([`Need`]) or returns a
//! [`Verdict`]: the new status, the outcome the conditions tell, at most one ScaleIn to send,
//! when to look again, and the events to publish. `after_send` folds the ScaleIn's answer in.
//! Every decision that can remove capacity is made here and nowhere else; the driver in
//! `reconcile.rs` only fetches what is asked for and carries the verdict out.
//!
//! The order of a pass:
//! 1. follow the recorded, unfinished change order (ours, or a foreign one we wait for); when
//!    ours succeeded on every ECC and the observation before it left nothing else to do,
//!    Ready rests on that outcome (no read after it; the resync confirms by observing);
//! 2. settle a ScaleIn whose answer was never recorded (adopt its order by its targets, or
//!    prove after a quiet window that it was not applied);
//! 3. observe the app (rows deduplicated) and plan;
//! 4. gates: incomplete observation, converged, Observe, aborted by a person, removals that
//!    reads do not show yet, failure backoff, minRemaining, any unfinished order on the app;
//! 5. send one batch, with its intent recorded first.

use super::conditions::Outcome;
use super::events::Note;
use super::plan::{self, Plan};
use super::status::{co_from_detail, co_from_summary, parse_rfc3339_ms, push_history, rfc3339};
use super::timing::{self, Policy};
use crate::crd::{
    AbortedOrder, ChangeOrderStatus, EdasAppMembershipSpec, EdasAppMembershipStatus,
    ManagementPolicy, PendingScaleIn, RETRY_ANNOTATION, ReadyBasis, RemovalRecord, condition,
    ready_basis, reason,
};
use crate::edas::{AppStatus, ChangeOrderDetail, ChangeOrderSummary, CoStatus, wire};
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
}

/// When to look again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requeue {
    After(Duration),
    /// The fleet-scaled periodic resync.
    Resync,
    /// The per-object backoff, at least this long; the backoff keeps growing.
    Backoff(Duration),
    /// The first poll of a new order of this many ECCs (learned from finished orders).
    FirstPoll(usize),
}

/// A ScaleIn to send once, its intent already in the verdict's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    pub ecc_ids: Vec<String>,
    pub force: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub status: EdasAppMembershipStatus,
    pub outcome: Outcome,
    pub send: Option<Send>,
    pub requeue: Requeue,
    pub notes: Vec<Note>,
    /// `edas_operator_change_orders_total` outcomes: started, succeeded, failed, aborted,
    /// adopted, forced.
    pub counters: Vec<&'static str>,
    /// (seconds, ECCs, polls) of an order of ours that succeeded, to learn the first poll.
    pub learned: Option<(f64, usize, i64)>,
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
    let plan = plan::compute(input.spec, &app);
    super::status::record_observation(&mut w.st, &app, &plan, input.spec.members.len(), input.now);
    w.forget_absent(&app);
    if let Some(step) = w.gates(&plan, obs) {
        return step;
    }
    w.send(&plan)
}

/// Fold the ScaleIn's answer into the verdict that asked for it.
pub fn after_send(mut v: Verdict, result: SendResult, now: i64) -> Verdict {
    let send = v.send.take().unwrap_or(Send {
        ecc_ids: Vec::new(),
        force: false,
    });
    match result {
        SendResult::Created(id) => order_started(&mut v, &send, id, now),
        SendResult::Forced => forced_accepted(&mut v, &send, now),
        SendResult::Unknown(msg) => {
            if let Some(p) = v.status.pending_scale_in.as_mut() {
                p.outcome_unknown = true;
            }
            v.outcome = Outcome::OutcomeUnknown(format!(
                "{msg}; observing EDAS before sending anything again"
            ));
            v.requeue = Requeue::After(timing::QUIET_POLL);
        }
        SendResult::InProgress(msg) => {
            v.status.pending_scale_in = None;
            v.outcome = Outcome::ForeignChangeOrder(format!("EDAS refused the scale-in: {msg}"));
            v.requeue = Requeue::Backoff(timing::FOREIGN_POLL);
        }
    }
    v
}

fn order_started(v: &mut Verdict, send: &Send, id: String, now: i64) {
    let eccs = send.ecc_ids.join(",");
    let generation = v
        .status
        .pending_scale_in
        .as_ref()
        .and_then(|p| p.generation);
    v.status.change_order = Some(ChangeOrderStatus {
        id: id.clone(),
        ours: true,
        status: CoStatus::Ready.name(),
        status_code: CoStatus::Ready.code(),
        summary: format!("{} {id}", CoStatus::Ready.name()),
        ecc_ids: send.ecc_ids.clone(),
        source: "pop".into(),
        co_type: "CoScaleIn".into(),
        created_at: Some(rfc3339(now)),
        generation,
        ..Default::default()
    });
    v.status.pending_scale_in = None;
    v.counters.push("started");
    v.notes.push(
        Note::normal(
            reason::CHANGE_ORDER_STARTED,
            format!("ScaleInApplication {id} removes {eccs}"),
        )
        .about(id.clone()),
    );
    v.outcome = Outcome::ChangeOrderRunning(format!("change order {id} started for ECCs {eccs}"));
    v.requeue = Requeue::FirstPoll(send.ecc_ids.len());
}

fn forced_accepted(v: &mut Verdict, send: &Send, now: i64) {
    let eccs = send.ecc_ids.join(",");
    let at = rfc3339(now);
    let co = ChangeOrderStatus {
        ours: true,
        status: "Forced".into(),
        status_code: CoStatus::Succeeded.code(),
        summary: "Forced".into(),
        ecc_ids: send.ecc_ids.clone(),
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
        ecc_ids: send.ecc_ids.clone(),
        change_order_id: String::new(),
        forced: true,
        at: at.clone(),
        unconfirmed: false,
    });
    v.counters.push("forced");
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
    let t = format!("{} {}", o.co_type_code, o.co_type).to_ascii_lowercase();
    t.contains("scalein") || t.contains("scale in") || t.contains("scale_in")
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
    counters: Vec<&'static str>,
    learned: Option<(f64, usize, i64)>,
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
        let plan = self.st.plan.clone()?;
        let all_done = d.status == CoStatus::Succeeded
            && d.pipelines.iter().all(|p| p.status == CoStatus::Succeeded)
            && (d.targets.is_empty() || co.ecc_ids.iter().all(|e| d.targets.contains(e)));
        let same_plan = co.generation == Some(self.input.generation)
            && plan.blocked_reason.is_none()
            && plan.missing.is_empty()
            && !co.ecc_ids.is_empty()
            && plan.to_remove.iter().all(|e| co.ecc_ids.contains(e));
        let nothing_else = self.st.pending_scale_in.is_none()
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
        let msg = format!(
            "change order {} is {} (ECCs {})",
            co.id,
            co.status,
            co.ecc_ids.join(",")
        );
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
        let eccs = co.ecc_ids.join(",");
        self.hold(&co.ecc_ids, &co.id, false);
        match status {
            CoStatus::Succeeded => {
                self.st.consecutive_failures = None;
                self.counters.push("succeeded");
                let took = co
                    .created_at
                    .as_deref()
                    .and_then(parse_rfc3339_ms)
                    .map(|c| (now - c).max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                self.learned = Some((took, co.ecc_ids.len().max(1), co.polls));
                self.notes.push(
                    Note::normal(
                        reason::CHANGE_ORDER_SUCCEEDED,
                        format!("change order {} removed {eccs}", co.id),
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
                self.counters.push("aborted");
                self.notes.push(
                    Note::warning(reason::CHANGE_ORDER_ABORTED, aborted_message(&co.id, &eccs))
                        .about(co.id.clone()),
                );
            }
            _ => {
                self.count_failure();
                self.notes.push(
                    Note::warning(
                        reason::CHANGE_ORDER_FAILED,
                        format!(
                            "change order {} ended {}: {}",
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

    fn count_failure(&mut self) {
        let n = self.st.consecutive_failures.unwrap_or(0).saturating_add(1);
        self.st.consecutive_failures = Some(n);
        self.counters.push("failed");
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
            self.count_failure();
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

    /// 2. A ScaleIn that was (maybe) sent but whose answer was never recorded.
    fn settle(&mut self, obs: &Observation) -> Option<Step> {
        let p = self.st.pending_scale_in.clone()?;
        let Some(recent) = obs.recent.as_ref() else {
            return Some(Step::Need(Need::RecentOrders));
        };
        let started = parse_rfc3339_ms(&p.started_at).unwrap_or(0);
        let mut unattributed: Vec<&ChangeOrderSummary> = Vec::new();
        for o in recent.iter().filter(|o| is_scale_in(o)) {
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
                    if p.ecc_ids.iter().all(|e| d.targets.contains(e)) {
                        return self.adopt(&p, o, d);
                    }
                }
            }
        }
        if p.force {
            // A forced call makes no order to find: remember it, never send it again.
            self.st.pending_scale_in = None;
            self.st.removals.push(RemovalRecord {
                ecc_ids: p.ecc_ids.clone(),
                change_order_id: String::new(),
                forced: true,
                at: p.started_at.clone(),
                unconfirmed: false,
            });
            return None;
        }
        if let Some(o) = recent.iter().find(|o| o.status.is_unfinished()) {
            let msg = format!(
                "ScaleIn of {} ({}) has an unknown outcome; waiting for change order {} ({}, source {}) before deciding",
                p.ecc_ids.join(","),
                p.started_at,
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
        let present: Vec<&String> = p
            .ecc_ids
            .iter()
            .filter(|id| app.eccs.iter().any(|e| &&e.ecc_id == id))
            .collect();
        if present.is_empty() {
            self.applied_without_order(&p);
            return None;
        }
        self.prove_not_applied(&p, &unattributed)
    }

    fn mark_unknown(&mut self, p: &PendingScaleIn, quiet: i32) {
        let mut p = p.clone();
        p.outcome_unknown = true;
        p.quiet_observations = quiet;
        self.st.pending_scale_in = Some(p);
    }

    fn adopt(
        &mut self,
        p: &PendingScaleIn,
        o: &ChangeOrderSummary,
        d: &ChangeOrderDetail,
    ) -> Option<Step> {
        let mut co = co_from_detail(d, Some(&co_from_summary(o)));
        co.ours = true;
        co.ecc_ids = p.ecc_ids.clone();
        co.generation = p.generation;
        co.polls = 1;
        co.last_polled_at = Some(rfc3339(self.now()));
        self.st.pending_scale_in = None;
        self.counters.push("adopted");
        if d.status.is_unfinished() {
            let msg = format!(
                "adopted change order {} for ECCs {}",
                co.id,
                p.ecc_ids.join(",")
            );
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

    fn applied_without_order(&mut self, p: &PendingScaleIn) {
        self.st.pending_scale_in = None;
        let co = ChangeOrderStatus {
            ours: true,
            status: "Applied".into(),
            status_code: CoStatus::Succeeded.code(),
            summary: "Applied".into(),
            ecc_ids: p.ecc_ids.clone(),
            co_type: "CoScaleIn".into(),
            created_at: Some(p.started_at.clone()),
            finished_at: Some(rfc3339(self.now())),
            message: Some(
                "the ScaleIn's answer was never recorded; its ECCs were observed gone".into(),
            ),
            ..Default::default()
        };
        push_history(&mut self.st, co);
    }

    /// The ECCs are still listed and no order of ours was found. Not applied is proven only by
    /// two observations after the quiet window, with no order we cannot attribute.
    fn prove_not_applied(
        &mut self,
        p: &PendingScaleIn,
        unattributed: &[&ChangeOrderSummary],
    ) -> Option<Step> {
        let now = self.now();
        let started = parse_rfc3339_ms(&p.started_at).unwrap_or(0);
        let window = self.input.policy.quiet_window();
        let quiet_at = started.saturating_add(ms(window));
        let eccs = p.ecc_ids.join(",");
        if !unattributed.is_empty() {
            let ids: Vec<&str> = unattributed.iter().map(|o| o.id.as_str()).collect();
            let timeout_at = started.saturating_add(ms(self.input.policy.change_order_timeout));
            self.mark_unknown(p, 0);
            if now > timeout_at {
                return Some(self.stop(
                    Outcome::Stalled {
                        reason: reason::CANNOT_SETTLE,
                        message: format!(
                            "cannot tell whether the ScaleIn of {eccs} ({}) was applied: EDAS does not say which ECCs change order(s) {} acted on; check them in EDAS, then change the spec",
                            p.started_at,
                            ids.join(",")
                        ),
                    },
                    Requeue::Resync,
                ));
            }
            return Some(self.stop(
                Outcome::OutcomeUnknown(format!(
                    "ScaleIn of {eccs} ({}): outcome unknown; change order(s) {} do not say which ECCs they acted on; nothing is sent meanwhile",
                    p.started_at,
                    ids.join(",")
                )),
                Requeue::After(timing::QUIET_POLL),
            ));
        }
        if now < quiet_at {
            self.mark_unknown(p, 0);
            return Some(self.stop(
                Outcome::OutcomeUnknown(format!(
                    "ScaleIn of {eccs} ({}): outcome unknown; no order seen yet; nothing is sent again before {} ({}s quiet window) and two observations that still list them",
                    p.started_at,
                    rfc3339(quiet_at),
                    window.as_secs()
                )),
                Requeue::After(wait_ms(quiet_at - now).min(timing::QUIET_POLL.saturating_mul(2))),
            ));
        }
        let seen = p.quiet_observations.saturating_add(1);
        if seen >= 2 {
            self.st.pending_scale_in = None;
            return None;
        }
        self.mark_unknown(p, seen);
        Some(self.stop(
            Outcome::OutcomeUnknown(format!(
                "ScaleIn of {eccs} ({}): no order and the ECCs still listed after the quiet window ({seen} of 2 observations)",
                p.started_at
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
    fn gates(&mut self, plan: &Plan, obs: &Observation) -> Option<Step> {
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
        if plan.is_converged() {
            self.st.consecutive_failures = None;
            self.st.aborted = None;
            self.st.removals.clear();
            let outcome = if plan.missing.is_empty() {
                Outcome::Converged
            } else {
                Outcome::MembersMissing(format!(
                    "declared but not running the app: {} (the operator removes ECCs, it does not add them)",
                    plan.missing.join(", ")
                ))
            };
            return Some(self.stop(outcome, Requeue::Resync));
        }
        if spec.management_policy == ManagementPolicy::Observe {
            return Some(self.stop(
                Outcome::ObserveOnly(format!(
                    "managementPolicy Observe: would remove {} ECC(s): {}",
                    plan.to_remove.len(),
                    plan.to_remove.join(",")
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
            let msg = format!(
                "waiting for change order {} ({}, source {}) before removing {}",
                co.id,
                co.status,
                co.source,
                plan.next_batch.join(",")
            );
            self.st.change_order = Some(co);
            return Some(self.stop(
                Outcome::ForeignChangeOrder(msg),
                Requeue::After(timing::FOREIGN_POLL),
            ));
        }
        None
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
            let failed =
                self.st.history.iter().find(|h| {
                    h.id == r.change_order_id && h.status_code != CoStatus::Succeeded.code()
                });
            let outcome = match failed {
                Some(h) => Outcome::ChangeOrderFailed(format!(
                    "change order {} ended {}: {}; {wait}",
                    h.id,
                    h.status,
                    h.message.clone().unwrap_or_default()
                )),
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
        Some(self.stop(
            Outcome::ChangeOrderFailed(format!(
                "change order {} ended {}: {}; retrying in {}s ({} failure(s) in a row)",
                last.id,
                last.status,
                last.message.unwrap_or_default(),
                (retry_at - now) / 1000,
                n
            )),
            Requeue::After(Duration::from_millis((retry_at - now) as u64)),
        ))
    }

    /// 5. Record the intent; the driver writes it (fenced) and sends once.
    fn send(mut self, plan: &Plan) -> Step {
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
                v.send = Some(Send {
                    ecc_ids: batch,
                    force,
                });
                Step::Done(v)
            }
            need => need,
        }
    }
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
