//! Table tests of `decide`: every change-order status, every pending-intent state, force,
//! foreign orders, stale and incomplete observations.

use super::*;
use crate::crd::{EdasAppMembershipSpec, Member};
use crate::edas::{AppState, EccInstance, EcuHost, TaskState};

const T0: i64 = 1_800_000_000_000;

fn spec(members: &[&str], min_remaining: i32) -> EdasAppMembershipSpec {
    let mut s: EdasAppMembershipSpec =
        serde_json::from_str(r#"{"appId":"app","regionId":"cn-hangzhou"}"#).unwrap();
    s.members = members
        .iter()
        .map(|m| Member {
            ecc_id: Some(m.to_string()),
            ..Default::default()
        })
        .collect();
    s.scale_in.min_remaining = min_remaining;
    s
}

fn policy() -> Policy {
    Policy {
        edas_timeout: Duration::from_secs(10),
        read_lag_holdoff: Duration::from_secs(30),
        forced_holdoff: Duration::from_secs(60),
        failure_backoff: Duration::from_secs(30),
        change_order_timeout: Duration::from_secs(600),
    }
}

fn ecc(id: &str) -> EccInstance {
    EccInstance {
        ecc_id: id.into(),
        ecu_id: format!("ecu-{id}"),
        group_id: "g".into(),
        instance_id: format!("i-{id}"),
        ip: format!("10.0.0.{}", id.len()),
        app_state: AppState::Running,
        task_state: TaskState::Success,
    }
}

fn app(ids: &[&str]) -> AppStatus {
    AppStatus::from_eccs("app", "app", ids.iter().map(|i| ecc(i)).collect())
}

fn detail(id: &str, code: i64, targets: &[&str]) -> ChangeOrderDetail {
    ChangeOrderDetail {
        id: id.into(),
        status: CoStatus::from_code(code),
        co_type: "CoScaleIn".into(),
        batch_type: String::new(),
        batch_count: 1,
        create_time: None,
        targets: targets.iter().map(|s| s.to_string()).collect(),
        pipelines: Vec::new(),
    }
}

fn summary(id: &str, code: i64, source: &str, created_ms: i64) -> ChangeOrderSummary {
    let created = jiff::Timestamp::from_millisecond(created_ms)
        .unwrap()
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    ChangeOrderSummary {
        id: id.into(),
        app_id: "app".into(),
        status: CoStatus::from_code(code),
        co_type: "Application Scale In".into(),
        co_type_code: "CoScaleIn".into(),
        source: source.into(),
        create_time: Some(created),
        finish_time: None,
        description: None,
    }
}

fn ours(id: &str, eccs: &[&str], created: i64) -> ChangeOrderStatus {
    ChangeOrderStatus {
        id: id.into(),
        ours: true,
        status: "Running".into(),
        status_code: 1,
        ecc_ids: eccs.iter().map(|s| s.to_string()).collect(),
        source: "pop".into(),
        created_at: Some(rfc3339(created)),
        ..Default::default()
    }
}

fn pending(eccs: &[&str], force: bool, started: i64, quiet: i32) -> PendingScaleIn {
    PendingScaleIn {
        ecc_ids: eccs.iter().map(|s| s.to_string()).collect(),
        force,
        started_at: rfc3339(started),
        outcome_unknown: true,
        quiet_observations: quiet,
        generation: Some(1),
    }
}

struct Case {
    spec: EdasAppMembershipSpec,
    status: EdasAppMembershipStatus,
    now: i64,
    generation: i64,
    retry: Option<String>,
    policy: Policy,
}

impl Case {
    fn new(members: &[&str], min: i32) -> Self {
        Self {
            spec: spec(members, min),
            status: Default::default(),
            now: T0,
            generation: 1,
            retry: None,
            policy: policy(),
        }
    }
    fn decide(&self, obs: &Observation) -> Step {
        let input = Input {
            spec: &self.spec,
            generation: self.generation,
            retry: self.retry.as_deref(),
            status: &self.status,
            now: self.now,
            policy: &self.policy,
        };
        decide(&input, obs)
    }
    /// Answer every read from `world` until a verdict.
    fn run(&self, world: &World) -> (Verdict, Vec<Need>) {
        let mut obs = Observation::default();
        let mut asked = Vec::new();
        for _ in 0..20 {
            match self.decide(&obs) {
                Step::Done(v) => return (*v, asked),
                Step::Need(n) => {
                    asked.push(n.clone());
                    match n {
                        Need::App => obs.app = Some(world.app.clone()),
                        Need::RecentOrders => obs.recent = Some(world.recent.clone()),
                        Need::ScaleOutEcus { .. } => {
                            obs.free_ecus = Some(FreeEcus {
                                ecus: world.free.clone(),
                                fresh: true,
                            })
                        }
                        Need::DeployGroups => obs.groups = Some(world.groups.clone()),
                        Need::Order(id) => {
                            let r = world
                                .orders
                                .get(&id)
                                .cloned()
                                .unwrap_or(OrderRead::Unreadable("not found".into()));
                            obs.orders.insert(id, r);
                        }
                    }
                }
            }
        }
        panic!("decide did not finish");
    }
}

struct World {
    app: AppStatus,
    recent: Vec<ChangeOrderSummary>,
    orders: BTreeMap<String, OrderRead>,
    free: Vec<EcuHost>,
    groups: Vec<DeployGroup>,
}

fn results(v: &Verdict) -> Vec<&'static str> {
    v.counters.iter().map(|c| c.1).collect()
}

impl World {
    fn new(ids: &[&str]) -> Self {
        Self {
            app: app(ids),
            recent: Vec::new(),
            orders: BTreeMap::new(),
            free: Vec::new(),
            groups: vec![DeployGroup {
                group_id: "g-default".into(),
                name: "_DEFAULT_GROUP".into(),
                group_type: Some(0),
                cluster_id: Some("c1".into()),
            }],
        }
    }
    fn order(mut self, d: ChangeOrderDetail) -> Self {
        self.orders.insert(d.id.clone(), OrderRead::Found(d));
        self
    }
    fn recent(mut self, s: ChangeOrderSummary) -> Self {
        self.recent.push(s);
        self
    }
}

fn reason_of(o: &Outcome) -> String {
    let d = crate::controller::conditions::desired(o);
    d[1].2.to_string()
}

#[test]
fn converged_app_sends_nothing_and_resyncs() {
    let c = Case::new(&["a", "b"], 1);
    let (v, asked) = c.run(&World::new(&["a", "b"]));
    assert_eq!(v.outcome, Outcome::Converged);
    assert_eq!(v.send, None);
    assert_eq!(v.requeue, Requeue::Resync);
    assert_eq!(asked, vec![Need::App]);
}

#[test]
fn extra_ecc_is_sent_once_with_its_intent_recorded_first() {
    let c = Case::new(&["a", "b"], 1);
    let (v, asked) = c.run(&World::new(&["a", "b", "x"]));
    assert_eq!(
        v.send,
        Some(Send::ScaleIn {
            ecc_ids: vec!["x".into()],
            force: false
        })
    );
    assert_eq!(asked, vec![Need::App, Need::RecentOrders]);
    let p = v.status.pending_scale_in.expect("intent recorded");
    assert_eq!(p.ecc_ids, vec!["x"]);
    assert!(!p.outcome_unknown);
}

#[test]
fn every_unfinished_status_keeps_following_and_sends_nothing() {
    for (code, reason) in [
        (0, reason::CHANGE_ORDER_RUNNING),
        (1, reason::CHANGE_ORDER_RUNNING),
        (8, reason::WAITING_FOR_CONFIRMATION),
        (9, reason::CHANGE_ORDER_RUNNING),
    ] {
        let mut c = Case::new(&["a"], 1);
        c.status.change_order = Some(ours("co1", &["x"], T0 - 5_000));
        let (v, asked) = c.run(&World::new(&["a", "x"]).order(detail("co1", code, &["x"])));
        assert_eq!(asked, vec![Need::Order("co1".into())], "status {code}");
        assert_eq!(v.send, None, "status {code}");
        assert_eq!(reason_of(&v.outcome), reason, "status {code}");
        assert!(v.notes.is_empty(), "status {code}: {:?}", v.notes);
    }
}

#[test]
fn a_long_running_order_is_reported_stuck_not_resent() {
    let mut c = Case::new(&["a"], 1);
    c.status.change_order = Some(ours("co1", &["x"], T0 - 3_600_000));
    let (v, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 1, &["x"])));
    assert_eq!(reason_of(&v.outcome), reason::CHANGE_ORDER_STUCK);
    assert_eq!(v.send, None);
}

#[test]
fn success_is_told_once_and_its_eccs_are_held_while_reads_lag() {
    let mut c = Case::new(&["a"], 0);
    c.status.change_order = Some(ours("co1", &["x"], T0 - 5_000));
    // The order says 2 but the app still lists x: a lagging read.
    let (v, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 2, &["x"])));
    assert_eq!(v.send, None, "x must not be sent again while reads may lag");
    assert_eq!(reason_of(&v.outcome), reason::WAITING_FOR_READS);
    assert_eq!(results(&v), vec!["succeeded"]);
    assert_eq!(v.notes.len(), 1);
    assert_eq!(v.notes[0].reason, reason::CHANGE_ORDER_SUCCEEDED);
    assert_eq!(v.status.removals.len(), 1);
    // Later, within the hold-off: still waiting, no second success event.
    let mut c2 = Case::new(&["a"], 0);
    c2.status = v.status.clone();
    c2.now = T0 + 20_000;
    let (v2, _) = c2.run(&World::new(&["a", "x"]).order(detail("co1", 2, &["x"])));
    assert_eq!(v2.send, None);
    assert!(v2.notes.is_empty());
    // After the hold-off, the order is re-read before anything is sent.
    c2.status = v2.status.clone();
    c2.now = T0 + 31_000;
    let (v3, asked) = c2.run(&World::new(&["a", "x"]).order(detail("co1", 2, &["x"])));
    assert!(asked.contains(&Need::Order("co1".into())), "{asked:?}");
    assert!(v3.send.is_some());
    // When the read catches up, the hold is dropped and the app converges.
    let mut c4 = Case::new(&["a"], 0);
    c4.status = v.status;
    let (v4, _) = c4.run(&World::new(&["a"]));
    assert_eq!(v4.outcome, Outcome::Converged);
    assert!(v4.status.removals.is_empty());
}

#[test]
fn failures_and_unknown_codes_are_never_successes() {
    for code in [3, 7, 10, 4, 11] {
        let mut c = Case::new(&["a"], 0);
        c.status.change_order = Some(ours("co1", &["x"], T0 - 5_000));
        let (v, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", code, &["x"])));
        assert_eq!(v.send, None, "status {code}");
        assert_eq!(results(&v), vec!["failed"], "status {code}");
        assert_eq!(v.status.consecutive_failures, Some(1), "status {code}");
        assert_eq!(
            reason_of(&v.outcome),
            reason::CHANGE_ORDER_FAILED,
            "status {code}"
        );
        assert!(
            v.notes
                .iter()
                .all(|n| n.reason != reason::CHANGE_ORDER_SUCCEEDED),
            "status {code}"
        );
        assert!(
            v.notes
                .iter()
                .any(|n| n.reason == reason::CHANGE_ORDER_FAILED && n.warning),
            "status {code}"
        );
    }
}

#[test]
fn failed_order_is_retried_only_after_the_hold_off_and_failure_backoff() {
    let mut c = Case::new(&["a"], 0);
    c.status.change_order = Some(ours("co1", &["x"], T0 - 5_000));
    let (v, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 3, &["x"])));
    let mut c = Case::new(&["a"], 0);
    c.status = v.status;
    c.now = T0 + 25_000;
    let (v, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 3, &["x"])));
    assert_eq!(v.send, None);
    c.now = T0 + 35_000;
    let (v, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 3, &["x"])));
    assert_eq!(
        v.send.map(|s| s.targets().to_vec()),
        Some(vec!["x".to_string()]),
        "{:?}",
        v.outcome
    );
}

#[test]
fn an_abort_by_a_person_stalls_until_the_spec_changes_or_retry_names_it() {
    let mut c = Case::new(&["a"], 0);
    c.status.change_order = Some(ours("co1", &["x"], T0 - 5_000));
    let (v, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 6, &["x"])));
    assert_eq!(v.send, None);
    assert_eq!(results(&v), vec!["aborted"]);
    assert!(
        v.notes
            .iter()
            .any(|n| n.reason == reason::CHANGE_ORDER_ABORTED)
    );
    // Long after, still stalled, never re-sent.
    let mut c = Case::new(&["a"], 0);
    c.status = v.status;
    c.now = T0 + 3_600_000;
    let (v, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 6, &["x"])));
    assert_eq!(v.send, None);
    assert_eq!(reason_of(&v.outcome), reason::ABORTED_BY_USER);
    assert!(matches!(v.outcome, Outcome::Stalled { .. }));
    // A retry annotation naming another order changes nothing.
    c.retry = Some("co-other".into());
    let (v2, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 6, &["x"])));
    assert_eq!(v2.send, None);
    // Naming this order lets it try again.
    c.retry = Some("co1".into());
    let (v3, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 6, &["x"])));
    assert!(v3.send.is_some(), "{:?}", v3.outcome);
    assert!(v3.status.aborted.is_none());
    // So does a new generation of the spec.
    c.retry = None;
    c.generation = 2;
    let (v4, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 6, &["x"])));
    assert!(v4.send.is_some());
}

#[test]
fn a_foreign_order_is_waited_for_and_never_accounted_as_ours() {
    let mut c = Case::new(&["a"], 0);
    let w = World::new(&["a", "x"]).recent(summary("human", 1, "console", T0));
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert_eq!(reason_of(&v.outcome), reason::CHANGE_ORDER_IN_PROGRESS);
    let followed = v.status.change_order.clone().unwrap();
    assert!(!followed.ours);
    // It ends (even as a failure, or as another API client's order): no event, no failure.
    c.status = v.status;
    for code in [2, 3, 6] {
        let (v, _) = c.run(&World::new(&["a", "x"]).order(detail("human", code, &["x"])));
        assert!(v.notes.is_empty(), "{code}");
        assert!(v.counters.is_empty(), "{code}");
        assert_eq!(v.status.consecutive_failures, None);
        assert!(v.status.aborted.is_none());
    }
}

#[test]
fn an_unknown_outcome_is_not_resent_within_the_quiet_window() {
    let mut c = Case::new(&["a"], 0);
    c.status.pending_scale_in = Some(pending(&["x"], false, T0, 0));
    for after in [1_000, 10_000, 49_000] {
        c.now = T0 + after;
        let (v, _) = c.run(&World::new(&["a", "x"]));
        assert_eq!(v.send, None, "at +{after} ms");
        assert_eq!(reason_of(&v.outcome), reason::OUTCOME_UNKNOWN);
        assert_eq!(v.status.pending_scale_in.unwrap().quiet_observations, 0);
    }
}

#[test]
fn two_quiet_observations_after_the_window_prove_not_applied() {
    let mut c = Case::new(&["a"], 0);
    c.status.pending_scale_in = Some(pending(&["x"], false, T0, 0));
    c.now = T0 + 51_000; // window = 2 x 10 s + 30 s
    let (v, _) = c.run(&World::new(&["a", "x"]));
    assert_eq!(v.send, None, "one observation is not proof");
    assert_eq!(
        v.status
            .pending_scale_in
            .as_ref()
            .unwrap()
            .quiet_observations,
        1
    );
    c.status = v.status;
    c.now += 5_000;
    let (v, _) = c.run(&World::new(&["a", "x"]));
    assert_eq!(
        v.send.map(|s| s.targets().to_vec()),
        Some(vec!["x".to_string()])
    );
}

#[test]
fn a_late_applied_order_is_adopted_by_its_targets() {
    let mut c = Case::new(&["a"], 0);
    c.status.pending_scale_in = Some(pending(&["x"], false, T0, 1));
    c.now = T0 + 60_000;
    let w = World::new(&["a", "x"])
        .recent(summary("late", 1, "pop", T0 + 3_000))
        .order(detail("late", 1, &["x"]));
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert_eq!(results(&v), vec!["adopted"]);
    let co = v.status.change_order.unwrap();
    assert_eq!(co.id, "late");
    assert!(co.ours);
    assert!(v.status.pending_scale_in.is_none());
}

#[test]
fn an_adopted_order_that_failed_counts_as_a_failure() {
    let mut c = Case::new(&["a"], 0);
    c.status.pending_scale_in = Some(pending(&["x"], false, T0, 0));
    c.now = T0 + 5_000;
    let w = World::new(&["a", "x"])
        .recent(summary("late", 3, "pop", T0 + 1_000))
        .order(detail("late", 3, &["x"]));
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert_eq!(results(&v), vec!["adopted", "failed"]);
    assert_eq!(v.status.consecutive_failures, Some(1));
}

#[test]
fn another_clients_order_is_not_adopted() {
    let mut c = Case::new(&["a"], 0);
    c.status.pending_scale_in = Some(pending(&["x"], false, T0, 0));
    c.now = T0 + 5_000;
    let w = World::new(&["a", "x", "y"])
        .recent(summary("theirs", 2, "pop", T0 + 1_000))
        .order(detail("theirs", 2, &["y"]));
    let (v, _) = c.run(&w);
    assert!(v.counters.is_empty());
    assert!(v.status.pending_scale_in.is_some());
    assert_eq!(v.send, None);
}

#[test]
fn an_order_without_targets_is_never_guessed_ours_and_stalls_at_the_timeout() {
    let mut c = Case::new(&["a"], 0);
    c.status.pending_scale_in = Some(pending(&["x"], false, T0, 0));
    c.now = T0 + 120_000;
    let w = World::new(&["a", "x"])
        .recent(summary("blank", 2, "pop", T0 + 1_000))
        .order(detail("blank", 2, &[]));
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert_eq!(reason_of(&v.outcome), reason::OUTCOME_UNKNOWN);
    assert!(v.status.change_order.is_none());
    c.now = T0 + 700_000;
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert_eq!(reason_of(&v.outcome), reason::CANNOT_SETTLE);
}

#[test]
fn a_pending_scale_in_whose_eccs_are_gone_was_applied() {
    let mut c = Case::new(&["a"], 0);
    c.status.pending_scale_in = Some(pending(&["x"], false, T0, 0));
    c.now = T0 + 2_000;
    let (v, _) = c.run(&World::new(&["a"]));
    assert!(v.status.pending_scale_in.is_none());
    assert_eq!(v.outcome, Outcome::Converged);
    assert_eq!(v.status.history[0].status, "Applied");
}

#[test]
fn a_forced_scale_in_is_never_resent_and_stalls_if_never_seen() {
    let mut c = Case::new(&["a"], 0);
    c.spec.scale_in.force = true;
    let (v, _) = c.run(&World::new(&["a", "x"]));
    let v = after_send(v, SendResult::Forced, T0);
    assert_eq!(v.status.removals.len(), 1);
    assert!(v.status.removals[0].forced);
    c.status = v.status;
    c.now = T0 + 30_000;
    let (v, _) = c.run(&World::new(&["a", "x"]));
    assert_eq!(v.send, None);
    assert_eq!(reason_of(&v.outcome), reason::WAITING_FOR_READS);
    c.status = v.status;
    c.now = T0 + 61_000;
    let (v, _) = c.run(&World::new(&["a", "x"]));
    assert_eq!(v.send, None);
    assert_eq!(reason_of(&v.outcome), reason::FORCED_REMOVAL_NOT_OBSERVED);
    // The retry annotation names the forced call's time.
    let at = v.status.removals[0].at.clone();
    c.status = v.status;
    c.retry = Some(at);
    let (v, _) = c.run(&World::new(&["a", "x"]));
    assert!(v.send.is_some());
}

#[test]
fn an_unanswered_forced_scale_in_is_remembered_not_resent() {
    let mut c = Case::new(&["a"], 0);
    c.spec.scale_in.force = true;
    c.status.pending_scale_in = Some(pending(&["x"], true, T0, 0));
    c.now = T0 + 500_000;
    let (v, _) = c.run(&World::new(&["a", "x"]));
    assert_eq!(v.send, None);
    assert!(v.status.pending_scale_in.is_none());
    assert!(v.status.removals.iter().any(|r| r.forced));
    assert_eq!(reason_of(&v.outcome), reason::FORCED_REMOVAL_NOT_OBSERVED);
}

#[test]
fn an_incomplete_host_join_waits_and_removes_nothing() {
    let mut c = Case::new(&[], 0);
    c.spec.members = vec![Member {
        instance_id: Some("i-a".into()),
        ..Default::default()
    }];
    let mut w = World::new(&["a", "b"]);
    w.app.ecus.clear();
    for e in &mut w.app.eccs {
        e.instance_id.clear();
    }
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert_eq!(reason_of(&v.outcome), reason::INCOMPLETE_OBSERVATION);
}

#[test]
fn an_unreadable_order_does_not_wedge_the_resource() {
    let mut c = Case::new(&["a"], 0);
    c.status.change_order = Some(ours("gone", &["x"], T0 - 5_000));
    // Young: reads may lag its creation, so it is still followed.
    let (v, _) = c.run(&World::new(&["a", "x"]));
    assert_eq!(reason_of(&v.outcome), reason::CHANGE_ORDER_RUNNING);
    assert!(v.counters.is_empty());
    c.now = T0 + 60_000;
    let (v, asked) = c.run(&World::new(&["a", "x"]));
    assert_eq!(asked[0], Need::Order("gone".into()));
    assert_eq!(results(&v), vec!["failed"]);
    assert_eq!(v.status.change_order.unwrap().status, "Unreadable");
    assert_eq!(v.send, None, "its ECCs are held first");
}

#[test]
fn order_in_progress_answers_back_off() {
    let c = Case::new(&["a"], 0);
    let (v, _) = c.run(&World::new(&["a", "x"]));
    let v = after_send(v, SendResult::InProgress("601".into()), T0);
    assert!(matches!(v.requeue, Requeue::Backoff(_)));
    assert!(v.status.pending_scale_in.is_none());
}

#[test]
fn an_unknown_answer_keeps_the_intent() {
    let c = Case::new(&["a"], 0);
    let (v, _) = c.run(&World::new(&["a", "x"]));
    let v = after_send(v, SendResult::Unknown("504".into()), T0);
    let p = v.status.pending_scale_in.unwrap();
    assert!(p.outcome_unknown);
    assert_eq!(p.ecc_ids, vec!["x"]);
}

#[test]
fn duplicate_rows_never_double_a_batch_or_the_healthy_count() {
    let c = Case::new(&["d"], 2);
    let mut w = World::new(&["d", "d", "e"]);
    w.app.eccs[1].app_state = AppState::Running;
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None, "only one distinct healthy ECC would remain");
    let c = Case::new(&["d"], 0);
    let mut w = World::new(&["x", "d", "x"]);
    w.app.eccs[2].app_state = AppState::Stopped;
    let (v, _) = c.run(&w);
    assert_eq!(v.send.unwrap().targets().to_vec(), vec!["x"]);
}

/// Send a batch from an observation of `ids`, and record the order EDAS made for it.
fn sent(c: &Case, ids: &[&str], order: &str) -> EdasAppMembershipStatus {
    let (v, _) = c.run(&World::new(ids));
    assert!(v.send.is_some(), "{:?}", v.outcome);
    after_send(v, SendResult::Created(order.into()), c.now).status
}

#[test]
fn a_succeeded_order_that_finished_the_plan_makes_ready_without_reading_the_app_again() {
    let mut c = Case::new(&["a"], 0);
    c.status = sent(&c, &["a", "x"], "co1");
    assert_eq!(c.status.change_order.as_ref().unwrap().generation, Some(1));
    c.now = T0 + 5_000;
    let (v, asked) = c.run(&World::new(&["a", "x"]).order(detail("co1", 2, &["x"])));
    // The order's own outcome is enough: no QueryApplicationStatus, no ListRecentChangeOrder.
    assert_eq!(asked, vec![Need::Order("co1".into())]);
    assert!(matches!(v.outcome, Outcome::ConvergedByOrder(ref m) if m.contains("co1")));
    assert_eq!(v.requeue, Requeue::Resync);
    assert_eq!(results(&v), vec!["succeeded"]);
    let basis = v.status.ready_basis.clone().expect("basis recorded");
    assert_eq!(basis.source, "ChangeOrder");
    assert_eq!(basis.change_order_id.as_deref(), Some("co1"));
    assert_eq!(basis.observed_at.as_deref(), Some(rfc3339(T0).as_str()));
    let members: Vec<&str> = v.status.members.iter().map(|m| m.ecc_id.as_str()).collect();
    assert_eq!(members, vec!["a"]);
    assert_eq!(v.status.observed, Some(1));
    // x stays held until an observation shows it gone.
    assert_eq!(v.status.removals.len(), 1);

    // The confirming observation agrees: Ready now rests on it.
    let mut ok = Case::new(&["a"], 0);
    ok.status = v.status.clone();
    ok.now = T0 + 60_000;
    let (v2, asked) = ok.run(&World::new(&["a"]));
    assert_eq!(asked, vec![Need::App]);
    assert_eq!(v2.outcome, Outcome::Converged);
    assert_eq!(v2.status.ready_basis.unwrap().source, "Observation");
    assert!(v2.status.removals.is_empty());

    // It disagrees (a lagging read still lists x): Ready leaves with a reason, x is not sent.
    let mut lag = Case::new(&["a"], 0);
    lag.status = v.status.clone();
    lag.now = T0 + 20_000;
    let (v3, _) = lag.run(&World::new(&["a", "x"]).order(detail("co1", 2, &["x"])));
    assert_eq!(reason_of(&v3.outcome), reason::WAITING_FOR_READS);
    assert_eq!(v3.send, None);
    assert_eq!(v3.status.ready_basis, None);
}

#[test]
fn ready_waits_for_an_observation_when_the_order_did_not_finish_the_plan() {
    // The spec changed while the order ran.
    let mut c = Case::new(&["a"], 0);
    c.status = sent(&c, &["a", "x"], "co1");
    c.now = T0 + 5_000;
    c.generation = 2;
    let (v, asked) = c.run(&World::new(&["a"]).order(detail("co1", 2, &["x"])));
    assert!(asked.contains(&Need::App), "{asked:?}");
    assert_eq!(v.outcome, Outcome::Converged);
    assert_eq!(v.status.ready_basis.unwrap().source, "Observation");
    // More to remove than one order takes.
    let mut c = Case::new(&["a"], 0);
    c.spec.scale_in.max_per_change_order = 1;
    c.status = sent(&c, &["a", "x", "y"], "co1");
    c.now = T0 + 5_000;
    let (v, asked) = c.run(&World::new(&["a", "y"]).order(detail("co1", 2, &["x"])));
    assert!(asked.contains(&Need::App), "{asked:?}");
    assert_eq!(
        v.send.map(|s| s.targets().to_vec()),
        Some(vec!["y".to_string()])
    );
    // EDAS says the order acted on other targets than ours.
    let mut c = Case::new(&["a"], 0);
    c.status = sent(&c, &["a", "x"], "co1");
    c.now = T0 + 5_000;
    let (_, asked) = c.run(&World::new(&["a"]).order(detail("co1", 2, &["z"])));
    assert!(asked.contains(&Need::App), "{asked:?}");
    // A declared member was missing from the observation.
    let mut c = Case::new(&["a", "b"], 0);
    c.status = sent(&c, &["a", "x"], "co1");
    c.now = T0 + 5_000;
    let (_, asked) = c.run(&World::new(&["a"]).order(detail("co1", 2, &["x"])));
    assert!(asked.contains(&Need::App), "{asked:?}");
    // Failures never make Ready.
    let mut c = Case::new(&["a"], 0);
    c.status = sent(&c, &["a", "x"], "co1");
    c.now = T0 + 5_000;
    let (v, _) = c.run(&World::new(&["a", "x"]).order(detail("co1", 7, &["x"])));
    assert_eq!(v.status.ready_basis, None);
    assert!(!matches!(
        v.outcome,
        Outcome::Converged | Outcome::ConvergedByOrder(_)
    ));
}

// ---------------------------------------------------------------- both directions

fn free(id: &str) -> EcuHost {
    let e = ecc(id);
    EcuHost {
        ecu_id: e.ecu_id,
        instance_id: e.instance_id,
        ip: e.ip,
    }
}

/// Declare the host of `id` (instanceId i-<id>), which runs nothing yet.
fn with_host(mut c: Case, id: &str) -> Case {
    c.spec.members.push(Member {
        instance_id: Some(format!("i-{id}")),
        ..Default::default()
    });
    c
}

/// Declare a host by `ip`.
fn with_ip(mut c: Case, ip: &str) -> Case {
    c.spec.members.push(Member {
        ip: Some(ip.into()),
        ..Default::default()
    });
    c
}

fn unhealthy(mut a: AppStatus, id: &str) -> AppStatus {
    for e in a.eccs.iter_mut().filter(|e| e.ecc_id == id) {
        e.app_state = AppState::Stopped;
    }
    a
}

fn scale_out_detail(id: &str, code: i64, ecus: &[&str]) -> ChangeOrderDetail {
    ChangeOrderDetail {
        co_type: "CoScaleOut".into(),
        ..detail(id, code, ecus)
    }
}

fn our_scale_out(id: &str, ecus: &[&str], created: i64) -> ChangeOrderStatus {
    ChangeOrderStatus {
        direction: "ScaleOut".into(),
        co_type: "CoScaleOut".into(),
        ecu_ids: ecus.iter().map(|s| s.to_string()).collect(),
        generation: Some(1),
        ..ours(id, &[], created)
    }
}

/// a and b run; the spec keeps a, drops b and adds the free host n.
fn replacement() -> (Case, World) {
    let c = with_host(Case::new(&["a"], 1), "n");
    let mut w = World::new(&["a", "b"]);
    w.free = vec![free("n"), free("m")];
    (c, w)
}

#[test]
fn a_replacement_adds_first_with_its_intent_recorded() {
    let (c, w) = replacement();
    let (v, asked) = c.run(&w);
    assert_eq!(
        v.send,
        Some(Send::ScaleOut {
            ecu_ids: vec!["ecu-n".into()],
            deploy_group: "g-default".into(),
            members: vec!["instanceId=i-n".into()],
        })
    );
    assert_eq!(
        asked,
        vec![
            Need::App,
            Need::ScaleOutEcus { fresh: false },
            Need::RecentOrders,
            Need::DeployGroups
        ]
    );
    let p = v.status.pending_scale_out.clone().expect("intent recorded");
    assert_eq!(
        (p.ecu_ids, p.deploy_group),
        (vec!["ecu-n".into()], "g-default".into())
    );
    assert!(v.status.pending_scale_in.is_none());
    let plan = v.status.plan.clone().unwrap();
    assert_eq!(plan.to_remove, vec!["b"]);
    assert!(
        plan.next_batch.is_empty(),
        "no removal is planned before the addition"
    );
    assert_eq!(plan.next_add_batch, vec!["ecu-n"]);
    assert_eq!(plan.to_add[0].member, "instanceId=i-n");
    let v = after_send(*Box::new(v), SendResult::Created("co1".into()), T0);
    let co = v.status.change_order.clone().unwrap();
    assert_eq!(
        (co.direction.as_str(), co.ecu_ids.clone()),
        ("ScaleOut", vec!["ecu-n".to_string()])
    );
    assert!(v.status.pending_scale_out.is_none());
    assert_eq!(v.counters, vec![("ScaleOut", "started")]);
    assert!(
        v.notes[0]
            .text
            .contains("ScaleOutApplication co1 adds ECU(s) ecu-n (instanceId=i-n)")
    );
}

#[test]
fn no_removal_until_the_added_ecc_is_observed_healthy() {
    let (mut c, w) = replacement();
    c.status.change_order = Some(our_scale_out("co1", &["ecu-n"], T0 - 20_000));
    let mut w = w.order(scale_out_detail("co1", 2, &["ecu-n"]));
    // Done, its ECC listed but not running yet.
    w.app = unhealthy(app(&["a", "b", "n"]), "n");
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert_eq!(
        reason_of(&v.outcome),
        reason::WAITING_FOR_NEW_MEMBERS,
        "{:?}",
        v.outcome
    );
    assert_eq!(v.status.additions.len(), 1);
    assert_eq!(v.counters, vec![("ScaleOut", "succeeded")]);
    assert!(
        v.notes
            .iter()
            .any(|n| n.text.starts_with("ScaleOut change order co1 added"))
    );
    // Healthy now: the removal goes out.
    c.status = v.status;
    c.now += 5_000;
    w.app = app(&["a", "b", "n"]);
    let (v, _) = c.run(&w);
    assert_eq!(
        v.send,
        Some(Send::ScaleIn {
            ecc_ids: vec!["b".into()],
            force: false
        })
    );
    assert!(v.status.additions.is_empty());
}

#[test]
fn a_starting_new_ecc_is_read_less_often_as_it_ages_and_an_unlisted_one_every_quiet_poll() {
    let (mut c, mut w) = replacement();
    let added = |age_ms: i64| {
        vec![crate::crd::AdditionRecord {
            ecu_ids: vec!["ecu-n".into()],
            change_order_id: "co1".into(),
            at: rfc3339(T0 - age_ms),
        }]
    };
    w.app = unhealthy(app(&["a", "b", "n"]), "n");
    for (age_ms, poll_s) in [(10_000, 5), (60_000, 15), (300_000, 30)] {
        c.status.additions = added(age_ms);
        let (v, _) = c.run(&w);
        assert_eq!(v.send, None);
        assert_eq!(reason_of(&v.outcome), reason::WAITING_FOR_NEW_MEMBERS);
        assert_eq!(
            v.requeue,
            Requeue::After(Duration::from_secs(poll_s)),
            "{age_ms} ms"
        );
    }
    // Not listed yet (read lag, within the 30 s hold-off): every quiet poll, where a listed
    // one this old would be read after 7 s.
    c.status.additions = added(28_000);
    w.app = app(&["a", "b"]);
    let (v, _) = c.run(&w);
    assert_eq!(reason_of(&v.outcome), reason::WAITING_FOR_NEW_MEMBERS);
    assert_eq!(v.requeue, Requeue::After(timing::QUIET_POLL));
}

#[test]
fn an_added_ecc_never_healthy_stops_the_removal_with_a_reason() {
    let (mut c, mut w) = replacement();
    c.status.additions = vec![crate::crd::AdditionRecord {
        ecu_ids: vec!["ecu-n".into()],
        change_order_id: "co1".into(),
        at: rfc3339(T0 - 700_000),
    }];
    w.app = unhealthy(app(&["a", "b", "n"]), "n");
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert_eq!(reason_of(&v.outcome), reason::NEW_MEMBER_UNHEALTHY);
    assert!(
        matches!(&v.outcome, Outcome::Stalled { message, .. } if message.contains("ECC n on ECU ecu-n"))
    );
    // The spec drops the new host: it is an extra like any other, removable.
    let mut c2 = Case::new(&["a", "b"], 1);
    c2.status = c.status.clone();
    let (v, _) = c2.run(&w);
    assert_eq!(
        v.send.map(|s| s.targets().to_vec()),
        Some(vec!["n".to_string()])
    );
}

#[test]
fn an_addition_reads_do_not_show_yet_is_not_resent_within_the_hold_off() {
    let (mut c, w) = replacement();
    c.status.additions = vec![crate::crd::AdditionRecord {
        ecu_ids: vec!["ecu-n".into()],
        change_order_id: "co1".into(),
        at: rfc3339(T0 - 5_000),
    }];
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None, "reads may lag the addition");
    assert_eq!(reason_of(&v.outcome), reason::WAITING_FOR_NEW_MEMBERS);
    // Past the hold-off, EDAS still runs nothing there: plan afresh (observed, not blind).
    c.now += 40_000;
    let (v, _) = c.run(&w);
    assert!(
        matches!(v.send, Some(Send::ScaleOut { .. })),
        "{:?}",
        v.outcome
    );
}

#[test]
fn a_scale_out_with_a_lost_answer_is_adopted_by_its_ecus_or_seen_applied() {
    let (mut c, w) = replacement();
    c.status.pending_scale_out = Some(crate::crd::PendingScaleOut {
        ecu_ids: vec!["ecu-n".into()],
        deploy_group: "g-default".into(),
        started_at: rfc3339(T0 - 3_000),
        outcome_unknown: true,
        quiet_observations: 0,
        generation: Some(1),
    });
    let mut s = summary("co9", 1, "pop", T0 - 2_000);
    s.co_type_code = "CoScaleOut".into();
    let w1 = World::new(&["a", "b"])
        .recent(s)
        .order(scale_out_detail("co9", 1, &["ecu-n"]));
    let (v, _) = c.run(&w1);
    assert_eq!(v.send, None);
    assert_eq!(v.counters, vec![("ScaleOut", "adopted")]);
    let co = v.status.change_order.unwrap();
    assert_eq!((co.id.as_str(), co.direction.as_str()), ("co9", "ScaleOut"));
    assert!(v.status.pending_scale_out.is_none());
    // No order found, but the ECU runs the app: applied; it was healthy, so the removal follows.
    let mut w2 = w;
    w2.app = app(&["a", "b", "n"]);
    let (v, _) = c.run(&w2);
    assert_eq!(
        v.send.map(|s| s.targets().to_vec()),
        Some(vec!["b".to_string()])
    );
    assert_eq!(v.status.history[0].direction, "ScaleOut");
    assert_eq!(v.status.history[0].status, "Applied");
    // Neither: nothing is sent again within the quiet window.
    let (v, _) = c.run(&World {
        free: vec![free("n")],
        ..World::new(&["a", "b"])
    });
    assert_eq!(v.send, None);
    assert_eq!(reason_of(&v.outcome), reason::OUTCOME_UNKNOWN);
}

#[test]
fn hosts_that_cannot_be_added_stop_everything_and_are_named() {
    // An IP shared by two free ECUs.
    let c = with_ip(Case::new(&["a"], 1), "10.9.9.9");
    let mut w = World::new(&["a", "b"]);
    let mut u1 = free("n");
    let mut u2 = free("m");
    u1.ip = "10.9.9.9".into();
    u2.ip = "10.9.9.9".into();
    w.free = vec![u1, u2];
    let (v, asked) = c.run(&w);
    assert_eq!(v.send, None, "b is not removed either");
    assert_eq!(reason_of(&v.outcome), reason::MEMBER_NOT_ADDABLE);
    assert!(
        matches!(&v.outcome, Outcome::Stalled { message, .. } if message.contains("ip=10.9.9.9 matches 2 ECUs (ecu-n, ecu-m)")),
        "{:?}",
        v.outcome
    );
    assert!(!asked.contains(&Need::RecentOrders));
    // A host no free ECU has (it runs another app, or is in another cluster).
    let c = with_host(Case::new(&["a"], 1), "zz");
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert!(
        matches!(&v.outcome, Outcome::Stalled { message, .. } if message.contains("instanceId=i-zz names no free ECU")),
        "{:?}",
        v.outcome
    );
}

#[test]
fn an_ip_that_matches_two_running_eccs_stops_everything_and_names_them() {
    // a, b and c all run on hosts with IP 10.0.0.1 (two networks may share an IP). Declaring
    // a by eccId and "ip=10.0.0.1" would let a guess pick which of b and c to remove.
    let c = with_ip(Case::new(&["a"], 1), "10.0.0.1");
    let mut w = World::new(&["a", "b", "c", "dd"]);
    w.free = vec![free("n")];
    let (v, asked) = c.run(&w);
    assert_eq!(v.send, None, "neither b, c nor dd is removed");
    assert_eq!(reason_of(&v.outcome), reason::MEMBER_AMBIGUOUS);
    assert!(
        matches!(&v.outcome, Outcome::Stalled { message, .. }
            if message.contains("ip=10.0.0.1 matches 3 ECCs of the app (a on ECU ecu-a, b on ECU ecu-b, c on ECU ecu-c)")),
        "{:?}",
        v.outcome
    );
    assert!(v.status.pending_scale_in.is_none() && v.status.pending_scale_out.is_none());
    assert!(!asked.contains(&Need::RecentOrders));
    // Named by instanceId, the same host is exact: dd (IP 10.0.0.2) is the one extra.
    let c = with_host(with_host(Case::new(&["a"], 1), "b"), "c");
    let (v, _) = c.run(&w);
    assert_eq!(
        v.send.map(|s| s.targets().to_vec()),
        Some(vec!["dd".to_string()])
    );
}

#[test]
fn a_deploy_group_that_does_not_exist_is_an_invalid_spec_naming_the_groups() {
    let (mut c, w) = replacement();
    c.spec.scale_out.deploy_group = Some("blue".into());
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert!(
        matches!(&v.outcome, Outcome::InvalidSpec(m) if m.contains("\"blue\"") && m.contains("_DEFAULT_GROUP (g-default)")),
        "{:?}",
        v.outcome
    );
    // By name or id.
    c.spec.scale_out.deploy_group = Some("_DEFAULT_GROUP".into());
    let (v, _) = c.run(&w);
    assert!(
        matches!(v.send, Some(Send::ScaleOut { ref deploy_group, .. }) if deploy_group == "g-default")
    );
}

#[test]
fn ecc_id_members_and_scale_out_off_stay_members_missing() {
    let c = Case::new(&["a", "gone"], 1);
    let (v, _) = c.run(&World::new(&["a"]));
    assert!(
        matches!(&v.outcome, Outcome::MembersMissing(m) if m.contains("eccId=gone") && m.contains("cannot be added")),
        "{:?}",
        v.outcome
    );
    // Scale-out off: today's remove-only behaviour, b goes, n stays missing.
    let (mut c, w) = replacement();
    c.spec.scale_out.enabled = false;
    let (v, asked) = c.run(&w);
    assert_eq!(
        v.send.map(|s| s.targets().to_vec()),
        Some(vec!["b".to_string()])
    );
    assert!(!asked.iter().any(|n| matches!(n, Need::ScaleOutEcus { .. })));
}

#[test]
fn observe_plans_both_directions_and_sends_nothing() {
    let (mut c, w) = replacement();
    c.spec.management_policy = ManagementPolicy::Observe;
    let (v, _) = c.run(&w);
    assert_eq!(v.send, None);
    assert!(
        matches!(&v.outcome, Outcome::ObserveOnly(m) if m.contains("add 1 host(s): instanceId=i-n (ECU ecu-n), then remove 1 ECC(s): b")),
        "{:?}",
        v.outcome
    );
}

#[test]
fn a_refused_scale_out_clears_its_intent_and_names_the_member() {
    let (c, w) = replacement();
    let (v, _) = c.run(&w);
    let v = after_send(
        v,
        SendResult::Refused("Code 601: ECU ecu-n already runs an application".into()),
        T0,
    );
    assert!(v.status.pending_scale_out.is_none());
    assert_eq!(reason_of(&v.outcome), reason::SCALE_OUT_REFUSED);
    assert!(
        matches!(&v.outcome, Outcome::Transient { message, .. } if message.contains("instanceId=i-n (ECU ecu-n)"))
    );
}

#[test]
fn a_recorded_observation_justifies_a_scale_out_and_nothing_else() {
    let (c, w) = replacement();
    let recorded = |app: AppStatus| Observation {
        app: Some(app),
        recorded_app: true,
        free_ecus: Some(FreeEcus {
            ecus: w.free.clone(),
            fresh: false,
        }),
        groups: Some(w.groups.clone()),
        recent: Some(Vec::new()),
        ..Default::default()
    };
    let Step::Done(v) = c.decide(&recorded(app(&["a", "b"]))) else {
        panic!("a ScaleOut from the recorded observation")
    };
    assert!(matches!(v.send, Some(Send::ScaleOut { .. })));
    assert_eq!(
        v.status.last_observed_at, c.status.last_observed_at,
        "no read was made"
    );
    // Once the host runs the app, what is left is a removal: never on a recorded observation.
    assert_eq!(
        c.decide(&recorded(app(&["a", "b", "n"]))),
        Step::Need(Need::App)
    );
    // Nor a wait, nor Ready.
    assert_eq!(
        Case::new(&["a"], 1).decide(&recorded(app(&["a"]))),
        Step::Need(Need::App)
    );
}
