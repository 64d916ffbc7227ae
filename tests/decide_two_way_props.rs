//! Property test of the change-order state machine in both directions: `decide` and
//! `after_send` driven against a model of an app being given a replacement. The app runs on
//! some hosts; its cluster has free ECUs; the spec keeps some running hosts (by instanceId),
//! declares some free ones (by instanceId, ip or ecuId) and drops the rest. The model answers
//! every read `decide` asks for (QueryApplicationStatus, ListRecentChangeOrder,
//! GetChangeOrderInfo, ListScaleOutEcu through a cache as the driver keeps one,
//! ListDeployGroup) and carries out ScaleOut and ScaleIn orders over simulated time. New ECCs
//! come up some seconds after their order installs them, or never. Random events: reads that
//! lag (below the read-lag hold-off; all reads alike, or the app's reads behind the change-order
//! reads, as the read-lag hold-off assumes), lost answers (applied at once, applied late within
//! twice the EDAS timeout, or never applied), orders that fail part way (what they installed
//! or removed stays), ScaleOuts refused.
//!
//! Checked against the model's truth at EVERY send (every attempt counts, refused ones too):
//!
//! 1. no ScaleIn while a declared host the operator adds is not running the app healthy;
//! 2. after the ScaleIn's batch, healthy capacity is at least min(healthy at the start,
//!    declared count) (and at least minRemaining), and so is the capacity of declared hosts;
//! 3. a ScaleOut names only declared free ECUs that run no ECC of the app and that no earlier
//!    attempt still running or still to be applied names; a ScaleIn names no declared ECC and
//!    none an earlier attempt removes or still may remove;
//! 4. when a new ECC never becomes healthy no ScaleIn is ever sent, and once the calm tail has
//!    run past changeOrderTimeout the outcome is Stalled / NewMemberUnhealthy;
//! 5. liveness: after a calm tail the app runs exactly the declared hosts, all healthy, and
//!    `decide` says Converged (or ConvergedByOrder); when minRemaining exceeds the declared
//!    count, SafetyLimit with every declared host running.
//!
//! Ready from an order (ConvergedByOrder) is also checked against the truth when it is said.
//! The named tests below the properties are the smallest cases the properties found.
//! `DECIDE_TRACE=1 cargo test --test decide_two_way_props NAME -- --nocapture` prints every
//! pass.

use edas_operator::controller::conditions::Outcome;
use edas_operator::controller::decide::{
    Input, Need, Observation, OrderRead, Requeue, Send, SendResult, Step, after_send, decide,
};
use edas_operator::controller::plan::FreeEcus;
use edas_operator::controller::timing::Policy;
use edas_operator::crd::{EdasAppMembershipSpec, EdasAppMembershipStatus, Member, reason};
use edas_operator::edas::{
    AppState, AppStatus, ChangeOrderDetail, ChangeOrderSummary, CoStatus, DeployGroup, EccInstance,
    EcuHost, TaskState,
};
use proptest::prelude::*;
use std::fmt::Write as _;
use std::time::Duration;

const T0: i64 = 1_800_000_000_000;
/// Reads lag by at most this much (below the read-lag hold-off).
const MAX_LAG_MS: i64 = 15_000;
/// An order installs or removes one host per step.
const STEP_MS: i64 = 3_000;
const GROUP: &str = "g-default";
/// The driver's ListScaleOutEcu cache (`lookup.rs`): an answer this young is fresh...
const ECUS_FRESH_MS: i64 = 2_000;
/// ... and this young is used when a cached answer will do.
const ECUS_TTL_MS: i64 = 300_000;
/// `reconcile.rs` gives up on a pass that reads more than this.
const MAX_READS_PER_PASS: usize = 32;

fn policy() -> Policy {
    Policy {
        change_order_timeout: Duration::from_secs(300),
        edas_timeout: Duration::from_secs(5),
        read_lag_holdoff: Duration::from_secs(20),
        forced_holdoff: Duration::from_secs(40),
        failure_backoff: Duration::from_secs(10),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    In,
    Out,
}

/// How the spec names a free host it declares.
#[derive(Clone, Copy, Debug)]
enum Naming {
    InstanceId,
    Ip,
    EcuId,
}

/// The app and its cluster at the start. Hosts `0..running` run the app, the next `free`
/// hosts are free ECUs of the cluster.
#[derive(Clone, Debug)]
struct Setup {
    running: usize,
    /// Per running host: the spec keeps it.
    keep: Vec<bool>,
    /// Per running host the spec drops: its ECC is unhealthy from the start.
    sick: Vec<bool>,
    /// Per free host: declared, and how it is named.
    add: Vec<Option<Naming>>,
    /// Per free host: seconds from install to healthy.
    boot: Vec<u16>,
    /// Per free host: its ECC never becomes healthy.
    never: Vec<bool>,
    min_remaining: i32,
    max_in: i32,
    max_out: i32,
}

impl Setup {
    fn hosts(&self) -> usize {
        self.running + self.add.len()
    }

    fn declared(&self, h: usize) -> bool {
        if h < self.running {
            self.keep[h]
        } else {
            self.add[h - self.running].is_some()
        }
    }

    /// Declared free hosts: the ones the operator is to add.
    fn to_add(&self) -> impl Iterator<Item = usize> + '_ {
        (self.running..self.hosts()).filter(|h| self.declared(*h))
    }

    fn declared_count(&self) -> usize {
        (0..self.hosts()).filter(|h| self.declared(*h)).count()
    }

    fn never_healthy(&self) -> Vec<usize> {
        self.to_add()
            .filter(|h| self.never[*h - self.running])
            .collect()
    }

    fn spec(&self) -> EdasAppMembershipSpec {
        let mut spec: EdasAppMembershipSpec =
            serde_json::from_str(r#"{"appId":"app","regionId":"cn-hangzhou"}"#).unwrap();
        for h in 0..self.running {
            if self.keep[h] {
                spec.members.push(Member {
                    instance_id: Some(inst(h)),
                    ..Default::default()
                });
            }
        }
        for (i, naming) in self.add.iter().enumerate() {
            let h = self.running + i;
            let m = match naming {
                None => continue,
                Some(Naming::InstanceId) => Member {
                    instance_id: Some(inst(h)),
                    ..Default::default()
                },
                Some(Naming::Ip) => Member {
                    ip: Some(ip(h)),
                    ..Default::default()
                },
                Some(Naming::EcuId) => Member {
                    ecu_id: Some(ecu(h)),
                    ..Default::default()
                },
            };
            spec.members.push(m);
        }
        spec.scale_in.min_remaining = self.min_remaining;
        spec.scale_in.max_per_change_order = self.max_in;
        spec.scale_out.max_per_change_order = self.max_out;
        spec.change_order_timeout = "5m".into();
        spec
    }
}

fn ecu(h: usize) -> String {
    format!("ecu-h{h}")
}
fn inst(h: usize) -> String {
    format!("i-h{h}")
}
fn ip(h: usize) -> String {
    format!("10.0.0.{h}")
}
fn host_of(ecu_id: &str) -> usize {
    ecu_id
        .strip_prefix("ecu-h")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an ECU of the model: {ecu_id}"))
}

#[derive(Clone, Debug)]
enum Ev {
    Nothing,
    /// Advance the clock.
    Wait(u16),
    /// Reads lag by this many seconds from now on.
    Lag(u16),
    /// QueryApplicationStatus and ListScaleOutEcu lag by this many seconds from now on,
    /// change-order reads do not.
    AppLag(u16),
    /// The running order fails (3): what it installed or removed so far stays.
    Fail,
    /// The next send's answer is lost: applied after this many seconds (0: at once, with a
    /// change order), or never.
    Lost(Option<u16>),
    /// The next ScaleOut is refused (601, the ECU cannot take the app): not applied.
    Refuse,
}

fn unkind_ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => Just(Ev::Nothing),
        3 => (1u16..60).prop_map(Ev::Wait),
        2 => (0u16..16).prop_map(Ev::Lag),
        1 => (0u16..16).prop_map(Ev::AppLag),
        1 => Just(Ev::Fail),
        2 => proptest::option::of(0u16..=10).prop_map(Ev::Lost),
        1 => Just(Ev::Refuse),
    ]
}

fn calm_ev() -> impl Strategy<Value = Ev> {
    prop_oneof![Just(Ev::Nothing), (1u16..60).prop_map(Ev::Wait)]
}

fn naming() -> impl Strategy<Value = Option<Naming>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Naming::InstanceId)),
        1 => Just(Some(Naming::Ip)),
        1 => Just(Some(Naming::EcuId)),
    ]
}

prop_compose! {
    /// `never_healthy`: whether some new ECCs may never become healthy.
    fn setup(never_healthy: bool)(
        running in 1usize..6,
        free in 0usize..5,
    )(
        keep in proptest::collection::vec(any::<bool>(), running),
        sick in proptest::collection::vec(proptest::bool::weighted(0.2), running),
        add in proptest::collection::vec(naming(), free),
        boot in proptest::collection::vec(0u16..120, free),
        never in proptest::collection::vec(
            proptest::bool::weighted(if never_healthy { 0.3 } else { 0.0 }),
            free,
        ),
        min_remaining in 0i32..=2,
        max_in in 1i32..=3,
        max_out in 1i32..=3,
        running in Just(running),
    ) -> Setup {
        Setup { running, keep, sick, add, boot, never, min_remaining, max_in, max_out }
    }
}

#[derive(Clone, Debug)]
struct Ecc {
    id: String,
    host: usize,
    /// When it runs the app healthy; never when `None`.
    healthy_at: Option<i64>,
}

impl Ecc {
    fn healthy(&self, at: i64) -> bool {
        self.healthy_at.is_some_and(|t| t <= at)
    }

    /// The row QueryApplicationStatus gives for it at `at`.
    fn row(&self, at: i64) -> EccInstance {
        let (app_state, task_state) = match self.healthy_at {
            Some(t) if t <= at => (AppState::Running, TaskState::Success),
            Some(_) => (AppState::Stopped, TaskState::Processing),
            None => (AppState::Stopped, TaskState::Failed),
        };
        EccInstance {
            ecc_id: self.id.clone(),
            ecu_id: ecu(self.host),
            group_id: GROUP.into(),
            instance_id: inst(self.host),
            ip: ip(self.host),
            app_state,
            task_state,
        }
    }
}

#[derive(Clone, Debug)]
struct Order {
    id: String,
    dir: Dir,
    /// ECC ids (ScaleIn) or ECU ids (ScaleOut).
    targets: Vec<String>,
    done: Vec<String>,
    status: i64,
    created: i64,
    next_at: i64,
}

impl Order {
    /// Still to act on `t`.
    fn pending(&self, t: &str) -> bool {
        self.status == 1 && self.targets.iter().any(|x| x == t) && !self.done.iter().any(|x| x == t)
    }
}

/// The truth at one second, kept for reads that lag.
#[derive(Clone, Debug)]
struct View {
    at: i64,
    eccs: Vec<Ecc>,
    orders: Vec<Order>,
}

struct Late {
    at: i64,
    dir: Dir,
    targets: Vec<String>,
}

struct Model {
    setup: Setup,
    now: i64,
    eccs: Vec<Ecc>,
    orders: Vec<Order>,
    late: Vec<Late>,
    history: Vec<View>,
    lag: i64,
    app_lag: i64,
    lost_next: Option<Option<i64>>,
    refuse_next: bool,
    /// The driver's ListScaleOutEcu cache: when read, what it said.
    ecu_cache: Option<(i64, Vec<EcuHost>)>,
    next_id: u32,
    next_ecc: u32,
    /// Every send and its answer, for the failure message.
    log: String,
    scale_ins: usize,
    /// Healthy ECCs at the start, and healthy ECCs of declared hosts at the start.
    healthy0: usize,
    declared_healthy0: usize,
}

impl Model {
    fn new(setup: Setup) -> Self {
        let eccs: Vec<Ecc> = (0..setup.running)
            .map(|h| Ecc {
                id: format!("c{h}"),
                host: h,
                healthy_at: (setup.keep[h] || !setup.sick[h]).then_some(0),
            })
            .collect();
        let healthy0 = eccs.iter().filter(|e| e.healthy(T0)).count();
        let declared_healthy0 = eccs
            .iter()
            .filter(|e| e.healthy(T0) && setup.declared(e.host))
            .count();
        Model {
            setup,
            now: T0,
            eccs,
            orders: Vec::new(),
            late: Vec::new(),
            history: Vec::new(),
            lag: 0,
            app_lag: 0,
            lost_next: None,
            refuse_next: false,
            ecu_cache: None,
            next_id: 0,
            next_ecc: 0,
            log: String::new(),
            scale_ins: 0,
            healthy0,
            declared_healthy0,
        }
    }

    fn fail(&self, msg: String) -> ! {
        panic!(
            "{msg}\n  truth at t={}s: {}\n  sends:\n{}",
            (self.now - T0) / 1000,
            self.truth(),
            self.log
        )
    }

    fn truth(&self) -> String {
        self.eccs
            .iter()
            .map(|e| {
                let s = match e.healthy_at {
                    Some(t) if t <= self.now => "healthy",
                    Some(_) => "starting",
                    None => "never-healthy",
                };
                format!("{}@h{}:{s}", e.id, e.host)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn ecc_on(&self, h: usize) -> Option<&Ecc> {
        self.eccs.iter().find(|e| e.host == h)
    }

    fn apply(&mut self, dir: Dir, targets: Vec<String>) -> String {
        self.next_id += 1;
        let id = format!("co-{}", self.next_id);
        self.orders.push(Order {
            id: id.clone(),
            dir,
            targets,
            done: Vec::new(),
            status: 1,
            created: self.now,
            next_at: self.now + STEP_MS,
        });
        id
    }

    /// Second by second up to now: late applies land, orders progress, new ECCs come up,
    /// and a snapshot of the truth is kept for reads that lag.
    fn tick(&mut self) {
        let target = self.now;
        let mut t = self.history.last().map_or(target, |v| v.at + 1000);
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
            .rposition(|v| v.at <= horizon)
            .unwrap_or(0);
        self.history.drain(..keep_from);
    }

    fn step_world(&mut self) {
        let now = self.now;
        let (due, later): (Vec<Late>, Vec<Late>) = std::mem::take(&mut self.late)
            .into_iter()
            .partition(|l| l.at <= now);
        self.late = later;
        for l in due {
            self.apply(l.dir, l.targets);
        }
        let mut orders = std::mem::take(&mut self.orders);
        for o in orders.iter_mut().filter(|o| o.status == 1) {
            while o.status == 1 && o.next_at <= now {
                let Some(t) = o.targets.iter().find(|t| !o.done.contains(t)).cloned() else {
                    o.status = 2;
                    break;
                };
                match o.dir {
                    Dir::In => self.eccs.retain(|e| e.id != t),
                    Dir::Out => self.install(host_of(&t)),
                }
                o.done.push(t);
                o.next_at += STEP_MS;
            }
        }
        self.orders = orders;
        self.history.push(View {
            at: now,
            eccs: self.eccs.clone(),
            orders: self.orders.clone(),
        });
    }

    /// A ScaleOut installs the app on host `h`; its ECC becomes healthy after the host's
    /// boot time, or never.
    fn install(&mut self, h: usize) {
        if self.ecc_on(h).is_some() {
            return;
        }
        let i = h
            .checked_sub(self.setup.running)
            .unwrap_or_else(|| self.fail(format!("an order installs running host h{h}")));
        self.next_ecc += 1;
        let healthy_at =
            (!self.setup.never[i]).then(|| self.now + i64::from(self.setup.boot[i]) * 1000);
        self.eccs.push(Ecc {
            id: format!("c{h}n{}", self.next_ecc),
            host: h,
            healthy_at,
        });
    }

    fn event(&mut self, e: &Ev) {
        match e {
            Ev::Nothing => {}
            Ev::Wait(s) => self.now += i64::from(*s) * 1000,
            Ev::Lag(s) => {
                self.lag = (i64::from(*s) * 1000).min(MAX_LAG_MS);
                self.app_lag = self.lag;
            }
            Ev::AppLag(s) => self.app_lag = (i64::from(*s) * 1000).min(MAX_LAG_MS),
            Ev::Fail => {
                if let Some(o) = self.orders.iter_mut().find(|o| o.status == 1) {
                    o.status = 3;
                }
            }
            Ev::Lost(d) => self.lost_next = Some(d.map(|s| i64::from(s) * 1000)),
            Ev::Refuse => self.refuse_next = true,
        }
    }

    /// What EDAS answers now: the newest snapshot at least `lag` old.
    fn view(&self, lag: i64) -> View {
        let at = self.now - lag;
        self.history
            .iter()
            .rev()
            .find(|v| v.at <= at)
            .or(self.history.first())
            .cloned()
            .expect("a snapshot is taken before every pass")
    }

    fn app(v: &View) -> AppStatus {
        AppStatus::from_eccs("app", "app", v.eccs.iter().map(|e| e.row(v.at)).collect())
    }

    /// ListScaleOutEcu: the cluster's ECUs that run no ECC.
    fn free_ecus(&self, v: &View) -> Vec<EcuHost> {
        (0..self.setup.hosts())
            .filter(|h| !v.eccs.iter().any(|e| e.host == *h))
            .map(|h| EcuHost {
                ecu_id: ecu(h),
                instance_id: inst(h),
                ip: ip(h),
            })
            .collect()
    }

    fn read(&mut self, need: &Need, obs: &mut Observation) {
        let v = self.view(self.lag);
        let a = self.view(self.app_lag);
        match need {
            Need::App => obs.app = Some(Self::app(&a)),
            Need::RecentOrders => obs.recent = Some(v.orders.iter().rev().map(summary).collect()),
            Need::Order(id) => {
                let r = match v.orders.iter().find(|o| &o.id == id) {
                    Some(o) => OrderRead::Found(detail(o)),
                    None => OrderRead::Unreadable(format!("change order {id} not found")),
                };
                obs.orders.insert(id.clone(), r);
            }
            Need::ScaleOutEcus { fresh } => {
                let cached = self.ecu_cache.as_ref().filter(|(at, _)| {
                    let age = self.now - at;
                    age < ECUS_FRESH_MS || (!fresh && age < ECUS_TTL_MS)
                });
                obs.free_ecus = Some(match cached {
                    Some((at, ecus)) => FreeEcus {
                        ecus: ecus.clone(),
                        fresh: self.now - at < ECUS_FRESH_MS,
                    },
                    None => {
                        let ecus = self.free_ecus(&a);
                        self.ecu_cache = Some((self.now, ecus.clone()));
                        FreeEcus { ecus, fresh: true }
                    }
                });
            }
            Need::DeployGroups => {
                obs.groups = Some(vec![DeployGroup {
                    group_id: GROUP.into(),
                    name: "_DEFAULT_GROUP".into(),
                    group_type: Some(0),
                    cluster_id: Some("cl-1".into()),
                }])
            }
        }
    }

    /// EDAS receives a send: check the invariants against the truth, then carry it out.
    fn receive(&mut self, send: &Send) -> SendResult {
        let t = (self.now - T0) / 1000;
        let _ = write!(self.log, "    t={t}s {send:?}");
        match send {
            Send::ScaleOut {
                ecu_ids,
                deploy_group,
                ..
            } => self.check_scale_out(ecu_ids, deploy_group),
            Send::ScaleIn { ecc_ids, .. } => self.check_scale_in(ecc_ids),
        }
        let dir = match send {
            Send::ScaleOut { .. } => Dir::Out,
            Send::ScaleIn { .. } => Dir::In,
        };
        let r = if self.orders.iter().any(|o| o.status == 1) {
            SendResult::InProgress("601 a change order is in progress".into())
        } else if dir == Dir::Out && std::mem::take(&mut self.refuse_next) {
            SendResult::Refused("601 the ECU cannot take the application".into())
        } else if let Some(lost) = self.lost_next.take() {
            match lost {
                Some(0) => {
                    self.apply(dir, send.targets().to_vec());
                }
                Some(d) => self.late.push(Late {
                    at: self.now + d,
                    dir,
                    targets: send.targets().to_vec(),
                }),
                None => {}
            }
            let how = match lost {
                Some(0) => "applied at once".to_string(),
                Some(d) => format!("applied {}s later", d / 1000),
                None => "never applied".to_string(),
            };
            SendResult::Unknown(format!("answer lost ({how})"))
        } else {
            SendResult::Created(self.apply(dir, send.targets().to_vec()))
        };
        let _ = writeln!(self.log, " -> {r:?}");
        r
    }

    fn check_scale_out(&self, ecu_ids: &[String], group: &str) {
        if group != GROUP {
            self.fail(format!(
                "ScaleOut into group {group}, not the default {GROUP}"
            ));
        }
        for u in ecu_ids {
            let h = host_of(u);
            if h < self.setup.running || !self.setup.declared(h) {
                self.fail(format!(
                    "ScaleOut names {u}, a host no member declares free"
                ));
            }
            if let Some(e) = self.ecc_on(h) {
                self.fail(format!(
                    "ScaleOut names {u}, which already runs the app (ECC {})",
                    e.id
                ));
            }
            if let Some(o) = self
                .orders
                .iter()
                .find(|o| o.dir == Dir::Out && o.pending(u))
            {
                self.fail(format!(
                    "ScaleOut names {u} while order {} that adds it runs",
                    o.id
                ));
            }
            if self
                .late
                .iter()
                .any(|l| l.dir == Dir::Out && l.targets.contains(u))
            {
                self.fail(format!(
                    "ScaleOut names {u} while an earlier attempt naming it is still to be applied"
                ));
            }
        }
    }

    fn check_scale_in(&mut self, batch: &[String]) {
        self.scale_ins += 1;
        let now = self.now;
        // 4. A new ECC that never becomes healthy stops every removal.
        if let Some(h) = self.setup.never_healthy().first() {
            self.fail(format!(
                "ScaleIn {batch:?} sent although declared new host h{h} never becomes healthy"
            ));
        }
        // 1. Every declared host being added runs the app healthy.
        for h in self.setup.to_add() {
            match self.ecc_on(h) {
                None => self.fail(format!(
                    "ScaleIn {batch:?} sent before declared host h{h} was added"
                )),
                Some(e) if !e.healthy(now) => self.fail(format!(
                    "ScaleIn {batch:?} sent while ECC {} added on declared host h{h} is not healthy",
                    e.id
                )),
                Some(_) => {}
            }
        }
        // 3. Only undeclared ECCs that exist and no earlier attempt removes.
        for x in batch {
            let Some(e) = self.eccs.iter().find(|e| &e.id == x) else {
                self.fail(format!(
                    "ScaleIn names {x}, which an earlier attempt already removed"
                ));
            };
            if self.setup.declared(e.host) {
                self.fail(format!(
                    "ScaleIn names {x}, the ECC of declared host h{}",
                    e.host
                ));
            }
            if let Some(o) = self
                .orders
                .iter()
                .find(|o| o.dir == Dir::In && o.pending(x))
            {
                self.fail(format!(
                    "ScaleIn names {x} while order {} removing it runs",
                    o.id
                ));
            }
            if self
                .late
                .iter()
                .any(|l| l.dir == Dir::In && l.targets.contains(x))
            {
                self.fail(format!(
                    "ScaleIn names {x} while an earlier attempt naming it is still to be applied"
                ));
            }
        }
        // 2. Capacity after the batch.
        let left: Vec<&Ecc> = self
            .eccs
            .iter()
            .filter(|e| e.healthy(now) && !batch.contains(&e.id))
            .collect();
        let declared = self.setup.declared_count();
        let floor = self.healthy0.min(declared);
        if left.len() < floor {
            self.fail(format!(
                "ScaleIn {batch:?} leaves {} healthy ECC(s), fewer than min(healthy at start {}, declared {declared})",
                left.len(),
                self.healthy0
            ));
        }
        let min = self.setup.min_remaining as usize;
        if left.len() < min {
            self.fail(format!(
                "ScaleIn {batch:?} leaves {} healthy ECC(s), fewer than minRemaining {min}",
                left.len()
            ));
        }
        let of_declared = left.iter().filter(|e| self.setup.declared(e.host)).count();
        if of_declared < self.declared_healthy0.min(declared) {
            self.fail(format!(
                "ScaleIn {batch:?} leaves {of_declared} healthy ECC(s) of declared hosts, fewer than the {} before",
                self.declared_healthy0
            ));
        }
    }
}

fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn co_type(d: Dir) -> (&'static str, &'static str) {
    match d {
        Dir::In => ("Application Scale In", "CoScaleIn"),
        Dir::Out => ("Application Scale Out", "CoScaleOut"),
    }
}

fn summary(o: &Order) -> ChangeOrderSummary {
    let (label, code) = co_type(o.dir);
    ChangeOrderSummary {
        id: o.id.clone(),
        app_id: "app".into(),
        status: CoStatus::from_code(o.status),
        co_type: label.into(),
        co_type_code: code.into(),
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
        co_type: co_type(o.dir).1.into(),
        batch_type: String::new(),
        batch_count: 1,
        create_time: Some(time(o.created)),
        targets: o.targets.clone(),
        pipelines: Vec::new(),
    }
}

fn is_reason(o: &Outcome, r: &str) -> bool {
    matches!(o, Outcome::Stalled { reason, .. } | Outcome::Waiting { reason, .. } if *reason == r)
}

/// Drive `decide` through the events, then a calm tail, checking the invariants at every
/// send and the end state after the tail.
fn run(setup: Setup, events: &[Ev]) {
    let spec = setup.spec();
    let policy = policy();
    let mut m = Model::new(setup);
    let mut status = EdasAppMembershipStatus::default();
    let tail = vec![Ev::Wait(30); 40];
    let mut last = Outcome::Converged;
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
        let mut reads = 0;
        let verdict = loop {
            match decide(&input, &obs) {
                Step::Need(n) => {
                    reads += 1;
                    if reads > MAX_READS_PER_PASS {
                        m.fail(format!(
                            "a pass asks for more than {MAX_READS_PER_PASS} reads (last {n:?})"
                        ));
                    }
                    m.read(&n, &mut obs);
                }
                Step::Done(v) => break *v,
            }
        };
        if let Outcome::ConvergedByOrder(msg) = &verdict.outcome {
            // Ready without a read after the order: the truth must bear it out.
            if let Some(e) = m.eccs.iter().find(|e| !m.setup.declared(e.host)) {
                m.fail(format!(
                    "Ready from an order ({msg}) while EDAS runs undeclared {}",
                    e.id
                ));
            }
        }
        last = verdict.outcome.clone();
        let send = verdict.send.clone();
        let result = send.as_ref().map(|s| m.receive(s));
        if std::env::var("DECIDE_TRACE").is_ok() {
            eprintln!(
                "t={} ev={e:?} lag={}/{} truth=[{}] orders={:?} -> {:?} send={send:?} result={result:?} additions={:?}",
                (m.now - T0) / 1000,
                m.lag / 1000,
                m.app_lag / 1000,
                m.truth(),
                m.orders
                    .iter()
                    .map(|o| (&o.id, o.dir, o.status, &o.targets))
                    .collect::<Vec<_>>(),
                verdict.outcome,
                verdict.status.additions,
            );
        }
        let verdict = match result {
            Some(r) => {
                if matches!(r, SendResult::Refused(_)) {
                    // The driver forgets its free-ECU answer when a ScaleOut is refused.
                    m.ecu_cache = None;
                }
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
    m.tick();
    check_end(&m, &last);
}

/// After the calm tail: a new ECC that never became healthy is reported (4); otherwise the
/// app runs exactly the declared hosts and `decide` says so (5).
fn check_end(m: &Model, last: &Outcome) {
    let never = m.setup.never_healthy();
    if !never.is_empty() {
        if !is_reason(last, reason::NEW_MEMBER_UNHEALTHY) {
            m.fail(format!(
                "declared new host(s) {never:?} never became healthy, yet after the tail the outcome is {last:?}"
            ));
        }
        return;
    }
    let declared = m.setup.declared_count();
    let running: Vec<usize> = m.eccs.iter().map(|e| e.host).collect();
    let missing: Vec<usize> = (0..m.setup.hosts())
        .filter(|h| m.setup.declared(*h) && !running.contains(h))
        .collect();
    if !missing.is_empty() {
        m.fail(format!(
            "after the tail declared host(s) {missing:?} do not run the app; outcome {last:?}"
        ));
    }
    if let Some(e) = m
        .eccs
        .iter()
        .find(|e| m.setup.declared(e.host) && !e.healthy(m.now))
    {
        m.fail(format!(
            "after the tail declared ECC {} is not healthy",
            e.id
        ));
    }
    if (m.setup.min_remaining as usize) > declared {
        if !matches!(last, Outcome::SafetyLimit(_) | Outcome::Converged) {
            m.fail(format!(
                "minRemaining {} > declared {declared}: expected SafetyLimit (or Converged), got {last:?}",
                m.setup.min_remaining
            ));
        }
        return;
    }
    if let Some(e) = m.eccs.iter().find(|e| !m.setup.declared(e.host)) {
        m.fail(format!(
            "after the tail EDAS still runs undeclared {}; outcome {last:?}",
            e.id
        ));
    }
    if !matches!(last, Outcome::Converged | Outcome::ConvergedByOrder(_)) {
        m.fail(format!(
            "after the tail the app runs the declared hosts, yet the outcome is {last:?}"
        ));
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Lagging reads, lost answers, failed and refused orders, new ECCs that never become
    /// healthy: invariants 1-4 at every send, and the end state after a calm tail.
    #[test]
    fn replacements_add_first_never_resend_and_keep_capacity(
        setup in setup(true),
        events in proptest::collection::vec(unkind_ev(), 0..50),
    ) {
        run(setup, &events);
    }

    /// No faults and every new ECC healthy: the app reaches exactly the declared hosts.
    #[test]
    fn calm_replacements_converge_on_the_declared_hosts(
        setup in setup(false),
        events in proptest::collection::vec(calm_ev(), 0..20),
    ) {
        run(setup, &events);
    }
}

#[test]
fn an_ecc_left_by_a_failed_scale_out_is_waited_for() {
    // h0 is dropped; h1 is declared, its ScaleOut installs it and then fails; its ECC never
    // becomes healthy.
    let setup = Setup {
        running: 1,
        keep: vec![false],
        sick: vec![false],
        add: vec![Some(Naming::InstanceId)],
        boot: vec![0],
        never: vec![true],
        min_remaining: 0,
        max_in: 1,
        max_out: 1,
    };
    run(setup, &[Ev::Nothing, Ev::Nothing, Ev::Fail]);
}

#[test]
fn an_ecc_still_starting_after_a_failed_scale_out_is_waited_for() {
    // As above, but h1's ECC becomes healthy 100 s after it was installed: the old host must
    // stay until then.
    let setup = Setup {
        running: 1,
        keep: vec![false],
        sick: vec![false],
        add: vec![Some(Naming::InstanceId)],
        boot: vec![100],
        never: vec![false],
        min_remaining: 0,
        max_in: 1,
        max_out: 1,
    };
    run(setup, &[Ev::Nothing, Ev::Nothing, Ev::Fail]);
}

#[test]
fn a_failed_scale_out_is_not_sent_again_while_app_reads_lag() {
    // The order installs h1, then fails before h2; QueryApplicationStatus lags 15 s behind
    // the order's record (below the read-lag hold-off). h1 runs the app: it must not be
    // named again.
    let setup = Setup {
        running: 1,
        keep: vec![false],
        sick: vec![false],
        add: vec![Some(Naming::InstanceId), Some(Naming::InstanceId)],
        boot: vec![0, 0],
        never: vec![false, false],
        min_remaining: 0,
        max_in: 1,
        max_out: 2,
    };
    run(setup, &[Ev::AppLag(15), Ev::Nothing, Ev::Fail, Ev::Nothing]);
}
