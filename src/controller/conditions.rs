//! PURE: what the four conditions say for an outcome, and setting them so that
//! `lastTransitionTime` changes only when a condition's status flips.

use crate::crd::{Condition, condition, reason};

/// Where a reconcile ended, as the conditions should tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Converged,
    /// Converged as the observation before our change order and that order's success show
    /// it; the message names the order (a confirming observation follows).
    ConvergedByOrder(String),
    MembersMissing(String),
    ObserveOnly(String),
    ChangeOrderRunning(String),
    WaitingForConfirmation(String),
    ChangeOrderStuck(String),
    ForeignChangeOrder(String),
    ChangeOrderFailed(String),
    SafetyLimit(String),
    OutcomeUnknown(String),
    Paused,
    Conflict(String),
    InvalidCredentials(String),
    InvalidSpec(String),
    /// A transient EDAS problem (reason: Throttled, EdasUnavailable).
    Transient {
        reason: &'static str,
        message: String,
    },
    /// A permanent EDAS problem (reason: EdasError, MalformedResponse).
    Permanent {
        reason: &'static str,
        message: String,
    },
    /// Progress needs a human (AbortedByUser, ForcedRemovalNotObserved, CannotSettle).
    Stalled {
        reason: &'static str,
        message: String,
    },
    /// The operator waits for EDAS to show something before it acts again (WaitingForReads,
    /// IncompleteObservation).
    Waiting {
        reason: &'static str,
        message: String,
    },
    /// The resource has a deletionTimestamp: no EDAS calls.
    Terminating,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tri {
    True,
    False,
    Unknown,
    /// Leave this condition as it is.
    Keep,
}

/// (Ready, Synced, Reconciling, Stalled), each (status, reason, message).
pub type Desired = [(&'static str, Tri, &'static str, String); 4];

pub fn desired(outcome: &Outcome) -> Desired {
    outcome.verdict().into_conditions()
}

/// What an outcome says, by name. Reconciling and Stalled are never left as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdict {
    ready: Tri,
    synced: Tri,
    /// Reconciling=True: the operator is still working towards the spec.
    reconciling: bool,
    /// Stalled=True: progress is blocked and needs a human.
    stalled: bool,
    /// Ready's reason, and Reconciling's or Stalled's when True.
    reason: &'static str,
    synced_reason: &'static str,
    message: String,
}

impl Verdict {
    /// Neither reconciling nor stalled; Synced gives the same reason as Ready.
    fn new(ready: Tri, synced: Tri, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            ready,
            synced,
            reconciling: false,
            stalled: false,
            reason,
            synced_reason: reason,
            message: message.into(),
        }
    }

    fn reconciling(self) -> Self {
        Self {
            reconciling: true,
            ..self
        }
    }

    fn stalled(self) -> Self {
        Self {
            stalled: true,
            ..self
        }
    }

    fn synced_reason(self, synced_reason: &'static str) -> Self {
        Self {
            synced_reason,
            ..self
        }
    }

    /// (Ready, Synced, Reconciling, Stalled). A False Reconciling or Stalled says
    /// `Reconciled` with no message.
    fn into_conditions(self) -> Desired {
        let flag = |on: bool| {
            if on {
                (Tri::True, self.reason, self.message.clone())
            } else {
                (Tri::False, reason::RECONCILED, String::new())
            }
        };
        let (rec, rec_reason, rec_msg) = flag(self.reconciling);
        let (st, st_reason, st_msg) = flag(self.stalled);
        [
            (
                condition::READY,
                self.ready,
                self.reason,
                self.message.clone(),
            ),
            (
                condition::SYNCED,
                self.synced,
                self.synced_reason,
                self.message,
            ),
            (condition::RECONCILING, rec, rec_reason, rec_msg),
            (condition::STALLED, st, st_reason, st_msg),
        ]
    }
}

impl Outcome {
    /// One short arm per outcome.
    fn verdict(&self) -> Verdict {
        use Tri::{False, Keep, True};
        // Not ready, not synced, and either still working or waiting for a human.
        let working = |r, m: &str| Verdict::new(False, False, r, m).reconciling();
        let blocked = |r, m: &str| Verdict::new(False, False, r, m).stalled();
        match self {
            Outcome::Converged => Verdict::new(
                True,
                True,
                reason::CONVERGED,
                "the app runs exactly the declared members",
            )
            .synced_reason(reason::RECONCILED),
            Outcome::ConvergedByOrder(m) => {
                Verdict::new(True, True, reason::CONVERGED, m).synced_reason(reason::RECONCILED)
            }
            Outcome::MembersMissing(m) => Verdict::new(False, True, reason::MEMBERS_MISSING, m)
                .synced_reason(reason::RECONCILED)
                .stalled(),
            Outcome::ObserveOnly(m) => Verdict::new(False, True, reason::OBSERVE_ONLY, m),
            Outcome::ChangeOrderRunning(m) => {
                Verdict::new(False, True, reason::CHANGE_ORDER_RUNNING, m).reconciling()
            }
            Outcome::WaitingForConfirmation(m) => blocked(reason::WAITING_FOR_CONFIRMATION, m),
            Outcome::ChangeOrderStuck(m) => blocked(reason::CHANGE_ORDER_STUCK, m),
            Outcome::ForeignChangeOrder(m) => working(reason::CHANGE_ORDER_IN_PROGRESS, m),
            Outcome::ChangeOrderFailed(m) => working(reason::CHANGE_ORDER_FAILED, m),
            Outcome::SafetyLimit(m) => blocked(reason::SAFETY_LIMIT, m),
            Outcome::OutcomeUnknown(m) => working(reason::OUTCOME_UNKNOWN, m),
            Outcome::Paused => Verdict::new(
                Keep,
                False,
                reason::PAUSED,
                "paused by annotation edas.operators.dev/paused; no EDAS calls are made",
            ),
            Outcome::Conflict(m) => blocked(reason::CONFLICT, m),
            Outcome::InvalidCredentials(m) => blocked(reason::INVALID_CREDENTIALS, m),
            Outcome::InvalidSpec(m) => blocked(reason::INVALID_SPEC, m),
            Outcome::Transient { reason, message } => {
                Verdict::new(Keep, False, reason, message).reconciling()
            }
            Outcome::Permanent { reason, message } => {
                Verdict::new(Keep, False, reason, message).stalled()
            }
            Outcome::Stalled { reason, message } => blocked(reason, message),
            Outcome::Waiting { reason, message } => working(reason, message),
            Outcome::Terminating => Verdict::new(
                Keep,
                False,
                reason::TERMINATING,
                "the resource is being deleted; no EDAS calls are made",
            ),
        }
    }
}

fn tri_str(t: Tri) -> &'static str {
    match t {
        Tri::True => "True",
        Tri::False => "False",
        _ => "Unknown",
    }
}

/// Apply the desired conditions to `conds`. A condition's `lastTransitionTime` changes only
/// when its status changes. Returns the types whose status flipped.
pub fn apply(
    conds: &mut Vec<Condition>,
    desired: Desired,
    generation: Option<i64>,
    now: &str,
) -> Vec<&'static str> {
    let mut flipped = Vec::new();
    for (type_, tri, reason, message) in desired {
        let existing = conds.iter_mut().find(|c| c.type_ == type_);
        match (existing, tri) {
            (Some(c), Tri::Keep) => {
                c.observed_generation = generation;
            }
            (None, Tri::Keep) => conds.push(Condition {
                type_: type_.into(),
                status: "Unknown".into(),
                reason: reason.into(),
                message,
                last_transition_time: now.into(),
                observed_generation: generation,
            }),
            (Some(c), t) => {
                let status = tri_str(t);
                if c.status != status {
                    c.status = status.into();
                    c.last_transition_time = now.into();
                    flipped.push(type_);
                }
                c.reason = reason.into();
                c.message = message;
                c.observed_generation = generation;
            }
            (None, t) => {
                conds.push(Condition {
                    type_: type_.into(),
                    status: tri_str(t).into(),
                    reason: reason.into(),
                    message,
                    last_transition_time: now.into(),
                    observed_generation: generation,
                });
                flipped.push(type_);
            }
        }
    }
    flipped
}

pub fn get<'a>(conds: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conds.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_changes_only_when_status_flips() {
        let mut c = Vec::new();
        apply(
            &mut c,
            desired(&Outcome::ChangeOrderRunning("a".into())),
            Some(1),
            "t1",
        );
        assert_eq!(get(&c, "Ready").unwrap().last_transition_time, "t1");
        let flipped = apply(
            &mut c,
            desired(&Outcome::ChangeOrderFailed("b".into())),
            Some(1),
            "t2",
        );
        let ready = get(&c, "Ready").unwrap();
        assert_eq!(ready.last_transition_time, "t1", "Ready stayed False");
        assert_eq!(ready.reason, "ChangeOrderFailed");
        assert!(!flipped.contains(&"Ready"));
        let flipped = apply(&mut c, desired(&Outcome::Converged), Some(2), "t3");
        let ready = get(&c, "Ready").unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.last_transition_time, "t3");
        assert_eq!(ready.observed_generation, Some(2));
        assert!(flipped.contains(&"Ready"));
    }

    #[test]
    fn paused_keeps_ready_as_it_was() {
        let mut c = Vec::new();
        apply(&mut c, desired(&Outcome::Converged), Some(1), "t1");
        apply(&mut c, desired(&Outcome::Paused), Some(1), "t2");
        assert_eq!(get(&c, "Ready").unwrap().status, "True");
        assert_eq!(get(&c, "Synced").unwrap().reason, "Paused");
    }

    #[test]
    fn kstatus_sees_running_as_reconciling_and_blocked_as_stalled() {
        let mut c = Vec::new();
        apply(
            &mut c,
            desired(&Outcome::ChangeOrderRunning("x".into())),
            Some(1),
            "t",
        );
        assert_eq!(get(&c, "Reconciling").unwrap().status, "True");
        assert_eq!(get(&c, "Stalled").unwrap().status, "False");
        apply(
            &mut c,
            desired(&Outcome::SafetyLimit("x".into())),
            Some(1),
            "t",
        );
        assert_eq!(get(&c, "Reconciling").unwrap().status, "False");
        assert_eq!(get(&c, "Stalled").unwrap().status, "True");
        assert_eq!(get(&c, "Stalled").unwrap().reason, "SafetyLimit");
    }

    const REC: &str = "Reconciled";
    type Row = (Outcome, [(Tri, &'static str); 4]);

    /// One row per outcome (and per documented reason of the variants that carry one): the
    /// (status, reason) of Ready, Synced, Reconciling and Stalled. Reasons are spelled out so
    /// that a renamed const shows here too.
    fn table() -> Vec<Row> {
        use Tri::{False as F, Keep as K, True as T};
        let m = || "msg".to_string();
        #[rustfmt::skip]
        let table = vec![
            (Outcome::Converged, [(T, "Converged"), (T, REC), (F, REC), (F, REC)]),
            (Outcome::MembersMissing(m()), [(F, "MembersMissing"), (T, REC), (F, REC), (T, "MembersMissing")]),
            (Outcome::ObserveOnly(m()), [(F, "ObserveOnly"), (T, "ObserveOnly"), (F, REC), (F, REC)]),
            (Outcome::ChangeOrderRunning(m()), [(F, "ChangeOrderRunning"), (T, "ChangeOrderRunning"), (T, "ChangeOrderRunning"), (F, REC)]),
            (Outcome::WaitingForConfirmation(m()), [(F, "WaitingForConfirmation"), (F, "WaitingForConfirmation"), (F, REC), (T, "WaitingForConfirmation")]),
            (Outcome::ChangeOrderStuck(m()), [(F, "ChangeOrderStuck"), (F, "ChangeOrderStuck"), (F, REC), (T, "ChangeOrderStuck")]),
            (Outcome::ForeignChangeOrder(m()), [(F, "ChangeOrderInProgress"), (F, "ChangeOrderInProgress"), (T, "ChangeOrderInProgress"), (F, REC)]),
            (Outcome::ChangeOrderFailed(m()), [(F, "ChangeOrderFailed"), (F, "ChangeOrderFailed"), (T, "ChangeOrderFailed"), (F, REC)]),
            (Outcome::SafetyLimit(m()), [(F, "SafetyLimit"), (F, "SafetyLimit"), (F, REC), (T, "SafetyLimit")]),
            (Outcome::OutcomeUnknown(m()), [(F, "OutcomeUnknown"), (F, "OutcomeUnknown"), (T, "OutcomeUnknown"), (F, REC)]),
            (Outcome::Paused, [(K, "Paused"), (F, "Paused"), (F, REC), (F, REC)]),
            (Outcome::Conflict(m()), [(F, "Conflict"), (F, "Conflict"), (F, REC), (T, "Conflict")]),
            (Outcome::InvalidCredentials(m()), [(F, "InvalidCredentials"), (F, "InvalidCredentials"), (F, REC), (T, "InvalidCredentials")]),
            (Outcome::InvalidSpec(m()), [(F, "InvalidSpec"), (F, "InvalidSpec"), (F, REC), (T, "InvalidSpec")]),
            (Outcome::Transient { reason: "Throttled", message: m() }, [(K, "Throttled"), (F, "Throttled"), (T, "Throttled"), (F, REC)]),
            (Outcome::Transient { reason: "EdasUnavailable", message: m() }, [(K, "EdasUnavailable"), (F, "EdasUnavailable"), (T, "EdasUnavailable"), (F, REC)]),
            (Outcome::Permanent { reason: "EdasError", message: m() }, [(K, "EdasError"), (F, "EdasError"), (F, REC), (T, "EdasError")]),
            (Outcome::Permanent { reason: "MalformedResponse", message: m() }, [(K, "MalformedResponse"), (F, "MalformedResponse"), (F, REC), (T, "MalformedResponse")]),
            (Outcome::Stalled { reason: "AbortedByUser", message: m() }, [(F, "AbortedByUser"), (F, "AbortedByUser"), (F, REC), (T, "AbortedByUser")]),
            (Outcome::Stalled { reason: "CannotSettle", message: m() }, [(F, "CannotSettle"), (F, "CannotSettle"), (F, REC), (T, "CannotSettle")]),
            (Outcome::Waiting { reason: "WaitingForReads", message: m() }, [(F, "WaitingForReads"), (F, "WaitingForReads"), (T, "WaitingForReads"), (F, REC)]),
            (Outcome::Waiting { reason: "IncompleteObservation", message: m() }, [(F, "IncompleteObservation"), (F, "IncompleteObservation"), (T, "IncompleteObservation"), (F, REC)]),
            (Outcome::Terminating, [(K, "Terminating"), (F, "Terminating"), (F, REC), (F, REC)]),
            (Outcome::ConvergedByOrder(m()), [(T, "Converged"), (T, REC), (F, REC), (F, REC)]),
        ];
        table
    }

    /// Adding an Outcome variant fails to compile here until `table` has a row for it.
    fn variant(o: &Outcome) -> u8 {
        match o {
            Outcome::Converged => 0,
            Outcome::MembersMissing(_) => 1,
            Outcome::ObserveOnly(_) => 2,
            Outcome::ChangeOrderRunning(_) => 3,
            Outcome::WaitingForConfirmation(_) => 4,
            Outcome::ChangeOrderStuck(_) => 5,
            Outcome::ForeignChangeOrder(_) => 6,
            Outcome::ChangeOrderFailed(_) => 7,
            Outcome::SafetyLimit(_) => 8,
            Outcome::OutcomeUnknown(_) => 9,
            Outcome::Paused => 10,
            Outcome::Conflict(_) => 11,
            Outcome::InvalidCredentials(_) => 12,
            Outcome::InvalidSpec(_) => 13,
            Outcome::Transient { .. } => 14,
            Outcome::Permanent { .. } => 15,
            Outcome::Stalled { .. } => 16,
            Outcome::Waiting { .. } => 17,
            Outcome::Terminating => 18,
            Outcome::ConvergedByOrder(_) => 19,
        }
    }

    /// The message of an outcome that carries none; the table's others carry "msg".
    fn message_of(o: &Outcome) -> &'static str {
        match o {
            Outcome::Converged => "the app runs exactly the declared members",
            Outcome::Paused => {
                "paused by annotation edas.operators.dev/paused; no EDAS calls are made"
            }
            Outcome::Terminating => "the resource is being deleted; no EDAS calls are made",
            _ => "msg",
        }
    }

    #[test]
    fn every_outcome_maps_to_the_same_four_conditions() {
        let table = table();
        let covered: std::collections::BTreeSet<u8> =
            table.iter().map(|(o, _)| variant(o)).collect();
        assert_eq!(covered.len(), 20, "every Outcome variant has a row");
        let types = ["Ready", "Synced", "Reconciling", "Stalled"];
        for (outcome, want) in table {
            let got = desired(&outcome);
            for (i, ((type_, tri, reason, msg), (want_tri, want_reason))) in
                got.into_iter().zip(want).enumerate()
            {
                assert_eq!(type_, types[i], "{outcome:?}");
                assert_eq!(
                    (tri, reason),
                    (want_tri, want_reason),
                    "{outcome:?} {type_}"
                );
                // Ready and Synced always carry the message; Reconciling and Stalled only when True.
                let want_msg = if i < 2 || tri == Tri::True {
                    message_of(&outcome)
                } else {
                    ""
                };
                assert_eq!(msg, want_msg, "{outcome:?} {type_} message");
            }
        }
    }
}
