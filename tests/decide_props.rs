//! Property test of the change-order state machine: `decide` driven against a model of an
//! unkind EDAS (late applies, lost answers, reads that lag writes, partial host lists,
//! duplicate rows, aborted / rolled-back / unknown-status orders, asynchronous forced
//! removals), checking the safety invariants at every ScaleIn it sends:
//!
//! 1. no ECC is named while an earlier attempt naming it is still running or waiting to be
//!    applied, nor after it was removed (every attempt counts, rejected ones too);
//! 2. a declared member is never named;
//! 3. at least minRemaining distinct healthy ECCs stay outside the batch.
//!
//! The model's reads lag by at most `MAX_LAG` (< the read-lag hold-off) and late applies come
//! within twice the EDAS timeout: the assumptions the README's promises state.

use edas_operator::controller::conditions::Outcome;
use edas_operator::controller::decide::{
    Input, Need, Observation, OrderRead, Requeue, SendResult, Step, after_send, decide,
};
use edas_operator::controller::timing::Policy;
use edas_operator::crd::{EdasAppMembershipSpec, EdasAppMembershipStatus, Member};
use edas_operator::edas::{
    AppState, AppStatus, ChangeOrderDetail, ChangeOrderSummary, CoStatus, EccInstance, TaskState,
};
use proptest::prelude::*;
use std::time::Duration;

const MAX_LAG_MS: i64 = 15_000;
const STEP_MS: i64 = 3_000; // an order removes one ECC per step

fn policy() -> Policy {
    Policy {
        change_order_timeout: Duration::from_secs(600),
        edas_timeout: Duration::from_secs(5),
        read_lag_holdoff: Duration::from_secs(20),
        forced_holdoff: Duration::from_secs(40),
        failure_backoff: Duration::from_secs(10),
    }
}

#[derive(Clone, Debug)]
enum Ev {
    Nothing,
    /// Advance the clock.
    Wait(u16),
    /// A person aborts the running order (6): its ECCs not yet removed stay.
    Abort,
    /// It ends partially, rolled back (7): the ECCs it removed come back.
    Rollback,
    /// It ends with a code EDAS does not document (4, 11).
    UnknownEnd(i64),
    /// It fails (3).
    Fail,
    /// Reads lag by this much from now on.
    Lag(u16),
    /// The next ScaleIn is answered with a gateway timeout and applied this much later.
    LateNext(u16),
    /// The next ScaleIn is applied at once, its answer lost.
    LostNext,
    /// The next forced ScaleIn is answered success at once and applied this much later.
    AsyncForce(u16),
    /// Reads from now on: EcuList empty (the client then names no host).
    PartialHosts(bool),
    /// Reads from now on: an ECC listed twice, once unhealthy.
    DuplicateRows(bool),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => Just(Ev::Nothing),
        3 => (1u16..60).prop_map(Ev::Wait),
        1 => Just(Ev::Abort),
        1 => Just(Ev::Rollback),
        1 => prop_oneof![Just(4i64), Just(11i64)].prop_map(Ev::UnknownEnd),
        1 => Just(Ev::Fail),
        2 => (0u16..15).prop_map(Ev::Lag),
        2 => (0u16..10).prop_map(Ev::LateNext),
        1 => Just(Ev::LostNext),
        1 => (0u16..30).prop_map(Ev::AsyncForce),
        1 => any::<bool>().prop_map(Ev::PartialHosts),
        1 => any::<bool>().prop_map(Ev::DuplicateRows),
    ]
}

#[derive(Clone, Debug)]
struct Order {
    id: String,
    targets: Vec<String>,
    removed: Vec<String>,
    status: i64,
    created: i64,
    next_at: i64,
}

#[derive(Clone, Debug)]
struct View {
    eccs: Vec<String>,
    orders: Vec<Order>,
}

struct Model {
    now: i64,
    eccs: Vec<String>,
    orders: Vec<Order>,
    /// (apply at, ECCs, forced)
    late: Vec<(i64, Vec<String>, bool)>,
    history: Vec<(i64, View)>,
    lag: i64,
    late_next: Option<i64>,
    lost_next: bool,
    async_force: Option<i64>,
    partial: bool,
    dup: bool,
    attempts: usize,
    next_id: u32,
    force: bool,
}

impl Model {
    fn running(&mut self) -> Option<&mut Order> {
        self.orders.iter_mut().find(|o| o.status == 1)
    }

    fn apply(&mut self, eccs: Vec<String>, force: bool) -> String {
        if force {
            self.eccs.retain(|e| !eccs.contains(e));
            return String::new();
        }
        self.next_id += 1;
        let id = format!("co-{}", self.next_id);
        self.orders.push(Order {
            id: id.clone(),
            targets: eccs,
            removed: Vec::new(),
            status: 1,
            created: self.now,
            next_at: self.now + STEP_MS,
        });
        id
    }

    /// Second by second up to now: late applies land, orders progress, and a snapshot of
    /// the truth is kept for reads that lag.
    fn tick(&mut self) {
        let target = self.now;
        let mut t = self.history.last().map(|(t, _)| t + 1000).unwrap_or(target);
        while t <= target {
            self.now = t;
            self.step_world();
            t += 1000;
        }
        self.now = target;
        let horizon = target - MAX_LAG_MS - 5_000;
        let keep_from = self
            .history
            .iter()
            .rposition(|(t, _)| *t <= horizon)
            .unwrap_or(0);
        self.history.drain(..keep_from);
    }

    fn step_world(&mut self) {
        let now = self.now;
        let due: Vec<_> = self.late.iter().filter(|l| l.0 <= now).cloned().collect();
        self.late.retain(|l| l.0 > now);
        for (_, eccs, force) in due {
            self.apply(eccs, force);
        }
        for o in self.orders.iter_mut().filter(|o| o.status == 1) {
            while o.status == 1 && o.next_at <= now {
                match o.targets.iter().find(|t| !o.removed.contains(t)).cloned() {
                    Some(t) => {
                        self.eccs.retain(|e| e != &t);
                        o.removed.push(t);
                        o.next_at += STEP_MS;
                    }
                    None => o.status = 2,
                }
            }
        }
        self.history.push((
            now,
            View {
                eccs: self.eccs.clone(),
                orders: self.orders.clone(),
            },
        ));
    }

    fn event(&mut self, e: &Ev) {
        match e {
            Ev::Nothing => {}
            Ev::Wait(s) => self.now += i64::from(*s) * 1000,
            Ev::Abort => {
                if let Some(o) = self.running() {
                    o.status = 6;
                }
            }
            Ev::Rollback => {
                if let Some(o) = self.running() {
                    o.status = 7;
                    let back = o.removed.clone();
                    self.eccs.extend(back);
                    self.eccs.sort();
                }
            }
            Ev::UnknownEnd(c) => {
                if let Some(o) = self.running() {
                    o.status = *c;
                }
            }
            Ev::Fail => {
                if let Some(o) = self.running() {
                    o.status = 3;
                }
            }
            Ev::Lag(s) => self.lag = (i64::from(*s) * 1000).min(MAX_LAG_MS),
            Ev::LateNext(s) => self.late_next = Some(i64::from(*s) * 1000),
            Ev::LostNext => self.lost_next = true,
            Ev::AsyncForce(s) => self.async_force = Some(i64::from(*s) * 1000),
            Ev::PartialHosts(b) => self.partial = *b,
            Ev::DuplicateRows(b) => self.dup = *b,
        }
    }

    /// What EDAS answers now: the newest snapshot at least `lag` old.
    fn view(&self) -> View {
        let at = self.now - self.lag;
        self.history
            .iter()
            .rev()
            .find(|(t, _)| *t <= at)
            .or(self.history.first())
            .map(|(_, v)| v.clone())
            .unwrap_or(View {
                eccs: Vec::new(),
                orders: Vec::new(),
            })
    }

    fn app(&self) -> AppStatus {
        let v = self.view();
        let mut eccs: Vec<EccInstance> = v.eccs.iter().map(|id| ecc(id, true)).collect();
        if self.dup && !eccs.is_empty() {
            eccs.push(ecc(&v.eccs[0], false));
        }
        if !self.partial {
            return AppStatus::from_eccs("app", "app", eccs);
        }
        for e in &mut eccs {
            e.instance_id.clear();
        }
        AppStatus {
            app_id: "app".into(),
            name: "app".into(),
            eccs,
            ecus: Vec::new(),
        }
    }

    fn read(&self, need: &Need, obs: &mut Observation) {
        let v = self.view();
        match need {
            Need::App => obs.app = Some(self.app()),
            Need::RecentOrders => {
                obs.recent = Some(v.orders.iter().rev().map(summary).collect());
            }
            Need::Order(id) => {
                let r = match v.orders.iter().find(|o| &o.id == id) {
                    Some(o) => OrderRead::Found(detail(o)),
                    None => OrderRead::Unreadable(format!("change order {id} not found")),
                };
                obs.orders.insert(id.clone(), r);
            }
            // Members are named by eccId here: nothing is ever added.
            Need::ScaleOutEcus { .. } | Need::DeployGroups => {
                panic!("a plan of eccId members asked for {need:?}")
            }
        }
    }

    /// EDAS receives a ScaleIn: check the invariants against the truth, then carry it out.
    fn receive(&mut self, batch: &[String], spec: &EdasAppMembershipSpec) -> SendResult {
        self.attempts += 1;
        for x in batch {
            assert!(
                self.eccs.contains(x),
                "ScaleIn names {x}, which an earlier attempt already removed"
            );
            assert!(
                !self
                    .orders
                    .iter()
                    .any(|o| o.status == 1 && o.targets.contains(x)),
                "ScaleIn names {x} while an order removing it runs"
            );
            assert!(
                !self.late.iter().any(|l| l.1.contains(x)),
                "ScaleIn names {x} while an earlier attempt naming it is still to be applied"
            );
            assert!(
                !spec
                    .members
                    .iter()
                    .any(|m| m.instance_id.as_deref() == Some(&format!("i-{x}"))),
                "ScaleIn names the declared member {x}"
            );
        }
        let healthy_left = self.eccs.iter().filter(|e| !batch.contains(e)).count();
        assert!(
            healthy_left >= spec.scale_in.min_remaining as usize,
            "minRemaining {} violated: {healthy_left} healthy left",
            spec.scale_in.min_remaining
        );
        if self.orders.iter().any(|o| o.status == 1) {
            return SendResult::InProgress("601 change order in progress".into());
        }
        if let Some(delay) = self.late_next.take() {
            self.late
                .push((self.now + delay, batch.to_vec(), self.force));
            return SendResult::Unknown("gateway timeout".into());
        }
        if self.force
            && let Some(delay) = self.async_force.take()
        {
            self.late.push((self.now + delay, batch.to_vec(), true));
            return SendResult::Forced;
        }
        let id = self.apply(batch.to_vec(), self.force);
        if std::mem::take(&mut self.lost_next) {
            return SendResult::Unknown("connection dropped".into());
        }
        if self.force {
            SendResult::Forced
        } else {
            SendResult::Created(id)
        }
    }
}

fn ecc(id: &str, healthy: bool) -> EccInstance {
    EccInstance {
        ecc_id: id.into(),
        ecu_id: format!("ecu-{id}"),
        group_id: "g".into(),
        instance_id: format!("i-{id}"),
        ip: format!("ip-{id}"),
        app_state: if healthy {
            AppState::Running
        } else {
            AppState::Stopped
        },
        task_state: TaskState::Success,
    }
}

fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn summary(o: &Order) -> ChangeOrderSummary {
    ChangeOrderSummary {
        id: o.id.clone(),
        app_id: "app".into(),
        status: CoStatus::from_code(o.status),
        co_type: "Application Scale In".into(),
        co_type_code: "CoScaleIn".into(),
        source: "pop".into(),
        create_time: Some(time(o.created)),
        finish_time: None,
        description: None,
    }
}

fn detail(o: &Order) -> ChangeOrderDetail {
    ChangeOrderDetail {
        id: o.id.clone(),
        status: CoStatus::from_code(o.status),
        co_type: "CoScaleIn".into(),
        batch_type: String::new(),
        batch_count: 1,
        create_time: Some(time(o.created)),
        targets: o.targets.clone(),
        pipelines: Vec::new(),
    }
}

fn run(n_eccs: usize, declared: usize, min: i32, max: i32, force: bool, events: &[Ev]) {
    let eccs: Vec<String> = (0..n_eccs).map(|i| format!("e{i:02}")).collect();
    let mut spec: EdasAppMembershipSpec =
        serde_json::from_str(r#"{"appId":"app","regionId":"cn-hangzhou"}"#).unwrap();
    spec.members = eccs
        .iter()
        .take(declared)
        .map(|e| Member {
            instance_id: Some(format!("i-{e}")),
            ..Default::default()
        })
        .collect();
    spec.scale_in.min_remaining = min;
    spec.scale_in.max_per_change_order = max;
    spec.scale_in.force = force;
    let policy = policy();
    let mut m = Model {
        now: 1_800_000_000_000,
        eccs,
        orders: Vec::new(),
        late: Vec::new(),
        history: Vec::new(),
        lag: 0,
        late_next: None,
        lost_next: false,
        async_force: None,
        partial: false,
        dup: false,
        attempts: 0,
        next_id: 0,
        force,
    };
    let mut status = EdasAppMembershipStatus::default();
    // The scripted events, then a calm tail in which the controller must settle.
    let tail = vec![Ev::Wait(30); 40];
    let mut last = None;
    for e in events.iter().chain(tail.iter()) {
        m.event(e);
        m.tick();
        let input = Input {
            spec: &spec,
            generation: 1,
            retry: None,
            status: &status,
            now: m.now,
            policy: &policy,
        };
        let mut obs = Observation::default();
        let verdict = loop {
            match decide(&input, &obs) {
                Step::Need(n) => m.read(&n, &mut obs),
                Step::Done(v) => break *v,
            }
        };
        if std::env::var("DECIDE_TRACE").is_ok() {
            eprintln!(
                "t={} ev={e:?} eccs={:?} orders={:?} late={:?} -> {:?} send={:?} pending={:?} removals={:?}",
                (m.now - 1_800_000_000_000) / 1000,
                m.eccs,
                m.orders
                    .iter()
                    .map(|o| (&o.id, o.status, &o.targets))
                    .collect::<Vec<_>>(),
                m.late,
                verdict.outcome,
                verdict.send,
                verdict.status.pending_scale_in,
                verdict.status.removals
            );
        }
        if let Outcome::ConvergedByOrder(msg) = &verdict.outcome {
            // Ready without a read after the order: the truth must bear it out.
            let declared: Vec<String> = (0..spec.members.len())
                .map(|i| format!("e{i:02}"))
                .collect();
            assert!(
                m.eccs.iter().all(|e| declared.contains(e)),
                "Ready from an order ({msg}) while EDAS runs {:?}, declared {declared:?}",
                m.eccs
            );
        }
        last = Some(verdict.outcome.clone());
        let verdict = match verdict.send.clone() {
            Some(s) => {
                let r = m.receive(s.targets(), &spec);
                after_send(verdict, r, m.now)
            }
            None => verdict,
        };
        let wait = match verdict.requeue {
            Requeue::After(d) | Requeue::Backoff(d) => d,
            Requeue::Resync => Duration::from_secs(60),
            Requeue::FirstPoll(_) | Requeue::FirstPollScaleOut(_) => Duration::from_secs(3),
        };
        m.now += (wait.as_millis() as i64).clamp(1_000, 120_000);
        status = verdict.status;
    }
    // After the calm tail, Ready (if it is) rests on an observation, not on an order alone.
    assert!(
        !matches!(last, Some(Outcome::ConvergedByOrder(_))),
        "never confirmed by an observation: {last:?}"
    );
}

#[test]
fn late_apply_then_abort_is_not_resent() {
    use Ev::*;
    run(
        6,
        0,
        0,
        1,
        false,
        &[
            Nothing,
            Lag(6),
            Nothing,
            LateNext(6),
            Nothing,
            Nothing,
            Abort,
            Wait(15),
            Nothing,
        ],
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn no_duplicate_attempt_no_declared_member_and_min_remaining_hold(
        n in 2usize..9,
        declared in 0usize..4,
        min in 0i32..3,
        max in 1i32..4,
        events in proptest::collection::vec(ev(), 0..60),
    ) {
        run(n, declared.min(n), min, max, false, &events);
    }

    #[test]
    fn forced_removals_are_never_attempted_twice(
        n in 2usize..7,
        declared in 0usize..3,
        max in 1i32..3,
        events in proptest::collection::vec(ev(), 0..40),
    ) {
        run(n, declared.min(n), 0, max, true, &events);
    }
}
