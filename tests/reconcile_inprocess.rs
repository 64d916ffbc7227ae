//! The controller's pass (`reconcile::pass`: `decide` plus its I/O driver) against the
//! simulator in the same process (`InProcessEdas`) on a manual clock: the whole state machine,
//! faults included, in milliseconds and without a cluster. The fence is an in-memory status
//! store. Every ScaleIn attempt that reached the simulator is counted.

use edas_operator::controller::conditions::Outcome;
use edas_operator::controller::decide::{Input, Requeue, Verdict};
use edas_operator::controller::reconcile::{Fence, PassError, pass};
use edas_operator::controller::timing::Policy;
use edas_operator::crd::{EdasAppMembershipSpec, EdasAppMembershipStatus};
use edas_operator::sim::{
    FaultsPatch, InProcessEdas, ManualClock, SimState, duplicate_scale_in_attempts, parse_document,
    scale_in_attempts_per_ecc,
};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APP: &str = "app-1";

/// The fence of a test: records the intent like the status write would.
#[derive(Default)]
struct MemFence {
    intents: Mutex<Vec<EdasAppMembershipStatus>>,
}

#[async_trait::async_trait]
impl Fence for MemFence {
    async fn before_send(&self, status: &EdasAppMembershipStatus) -> Result<(), PassError> {
        assert!(
            status.pending_scale_in.is_some() || status.pending_scale_out.is_some(),
            "a ScaleIn or ScaleOut without its intent recorded"
        );
        self.intents.lock().unwrap().push(status.clone());
        Ok(())
    }
}

struct World {
    edas: InProcessEdas,
    clock: Arc<ManualClock>,
    spec: EdasAppMembershipSpec,
    status: EdasAppMembershipStatus,
    generation: i64,
    retry: Option<String>,
    policy: Policy,
    fence: MemFence,
    outcomes: Vec<String>,
}

fn world(n: usize, spec: serde_json::Value, faults: serde_json::Value) -> World {
    world_with_free(n, 0, spec, faults)
}

/// `n` ECUs running the app (ecc-j on ecu-j, host i-j) and `free` more ECUs that run nothing.
fn world_with_free(
    n: usize,
    free: usize,
    spec: serde_json::Value,
    faults: serde_json::Value,
) -> World {
    let ecus: Vec<_> = (1..=n + free)
        .map(|j| json!({"ecuId": format!("ecu-{j}"), "instanceId": format!("i-{j}"), "ip": format!("10.0.0.{j}"), "groupId": "g"}))
        .collect();
    let eccs: Vec<_> = (1..=n)
        .map(|j| json!({"eccId": format!("ecc-{j}"), "ecuId": format!("ecu-{j}"), "groupId": "g", "appState": 7, "taskState": 2}))
        .collect();
    let doc = json!({
        "accessKeys": [{"id": "ak", "secret": "sk"}],
        "apps": [{"appId": APP, "regionId": "cn-hangzhou", "name": APP,
                  "clusterId": "c1",
                  "groups": [{"groupId": "g", "groupName": "_DEFAULT_GROUP"}],
                  "ecus": ecus, "eccs": eccs}],
        "changeOrders": {"secondsPerInstance": 2.0, "batchType": "Automatic", "batchCount": 1},
        "faults": faults,
    });
    let clock = ManualClock::new(1_800_000_000_000);
    let state = SimState::with_clock(parse_document(&doc.to_string()).unwrap(), clock.clone())
        .expect("state document");
    let mut s = json!({"appId": APP, "regionId": "cn-hangzhou"});
    for (k, v) in spec.as_object().unwrap() {
        s[k] = v.clone();
    }
    World {
        edas: InProcessEdas::new(state, "ak"),
        clock,
        spec: serde_json::from_value(s).unwrap(),
        status: Default::default(),
        generation: 1,
        retry: None,
        policy: Policy {
            change_order_timeout: Duration::from_secs(600),
            edas_timeout: Duration::from_secs(5),
            read_lag_holdoff: Duration::from_secs(10),
            forced_holdoff: Duration::from_secs(30),
            failure_backoff: Duration::from_secs(5),
        },
        fence: MemFence::default(),
        outcomes: Vec::new(),
    }
}

impl World {
    /// One reconcile pass; the clock then moves by what it asked for.
    async fn step(&mut self) -> Verdict {
        let input = Input {
            spec: &self.spec,
            generation: self.generation,
            retry: self.retry.as_deref(),
            status: &self.status,
            now: self.edas.state().now_ms(),
            policy: &self.policy,
        };
        let wait = match pass(&self.edas, &input, &self.fence).await {
            Ok(v) => {
                self.status = v.status.clone();
                self.outcomes.push(format!("{:?}", v.outcome));
                let wait = match v.requeue {
                    Requeue::After(d) | Requeue::Backoff(d) => d,
                    Requeue::Resync => Duration::from_secs(30),
                    Requeue::FirstPoll(_) | Requeue::FirstPollScaleOut(_) => Duration::from_secs(2),
                };
                self.clock.advance(wait.max(Duration::from_millis(500)));
                return v;
            }
            Err(PassError::Edas(e, st)) => {
                if let Some(st) = st {
                    self.status = *st;
                }
                self.outcomes.push(format!("error: {e}"));
                Duration::from_secs(2)
            }
            Err(_) => panic!("fence refused"),
        };
        self.clock.advance(wait);
        // An error pass: no verdict; try again.
        Box::pin(self.step()).await
    }

    /// Passes until converged (Ready), at most `max` passes.
    async fn converge(&mut self, max: usize) -> usize {
        for i in 0..max {
            let v = self.step().await;
            if format!("{:?}", v.outcome) == "Converged" {
                return i + 1;
            }
        }
        panic!(
            "not converged after {max} passes; last outcomes: {:?}",
            &self.outcomes[self.outcomes.len().saturating_sub(5)..]
        );
    }

    fn eccs(&self) -> Vec<String> {
        self.edas.state().snapshot().apps[0]
            .eccs
            .iter()
            .map(|e| e.ecc_id.clone())
            .collect()
    }

    fn max_attempts(&self) -> u32 {
        scale_in_attempts_per_ecc(&self.edas.state().calls())
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Attempts naming an ECC after an earlier attempt naming it was carried out.
    fn duplicates(&self) -> u32 {
        let st = self.edas.state();
        duplicate_scale_in_attempts(&st.calls(), &st.snapshot().change_orders)
            .values()
            .sum()
    }

    fn fault(&self, patch: serde_json::Value) {
        let p: FaultsPatch = serde_json::from_value(patch).unwrap();
        self.edas.state().set_faults(&p).unwrap();
    }
}

fn keep_one() -> serde_json::Value {
    json!({"members": [{"eccId": "ecc-1"}], "scaleIn": {"maxPerChangeOrder": 2, "minRemaining": 1}})
}

#[tokio::test]
async fn happy_path_converges_with_one_attempt_per_ecc() {
    let mut w = world(5, keep_one(), json!({}));
    w.converge(100).await;
    assert_eq!(w.eccs(), vec!["ecc-1"]);
    assert_eq!(w.max_attempts(), 1);
    assert_eq!(w.fence.intents.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn late_applied_orders_are_adopted_not_resent() {
    for mode in ["gateway504", "drop", "hang"] {
        let mut w = world(
            5,
            keep_one(),
            json!({"lateApply": {"mode": mode, "lateApplyMs": 4000}}),
        );
        w.converge(200).await;
        assert_eq!(w.eccs(), vec!["ecc-1"], "{mode}");
        assert_eq!(w.max_attempts(), 1, "{mode}: {:?}", w.outcomes);
    }
}

#[tokio::test]
async fn stale_reads_never_resend_removed_eccs() {
    let mut w = world(
        5,
        json!({"members": [{"eccId": "ecc-1"}], "scaleIn": {"maxPerChangeOrder": 1, "minRemaining": 1}}),
        json!({"staleReads": {"staleReadMs": 6000}}),
    );
    w.converge(300).await;
    assert_eq!(w.eccs(), vec!["ecc-1"]);
    assert_eq!(w.max_attempts(), 1, "{:?}", w.outcomes);
}

#[tokio::test]
async fn partial_host_lists_remove_nothing_while_members_are_named_by_host() {
    let mut w = world(
        4,
        json!({"members": [{"instanceId": "i-1"}, {"instanceId": "i-2"}], "scaleIn": {"minRemaining": 0}}),
        json!({"partialEcuList": {"mode": "missing", "emptyEccIp": true}}),
    );
    for _ in 0..10 {
        let v = w.step().await;
        assert!(v.send.is_none());
    }
    assert_eq!(w.max_attempts(), 0);
    assert!(
        w.outcomes
            .iter()
            .any(|o| o.contains("IncompleteObservation"))
    );
    w.fault(json!({"partialEcuList": null}));
    w.converge(100).await;
    assert_eq!(w.eccs(), vec!["ecc-1", "ecc-2"]);
}

#[tokio::test]
async fn an_abort_is_respected_until_the_retry_annotation_names_it() {
    let mut w = world(4, keep_one(), json!({"stallChangeOrders": true}));
    for _ in 0..3 {
        w.step().await;
    }
    let id = w
        .status
        .change_order
        .clone()
        .map(|c| c.id)
        .expect("an order");
    w.edas.state().end_change_order(&id, 6).unwrap();
    w.fault(json!({"stallChangeOrders": false}));
    for _ in 0..30 {
        let v = w.step().await;
        assert!(v.send.is_none(), "re-sent after an abort");
    }
    assert!(w.outcomes.last().unwrap().contains("AbortedByUser"));
    assert_eq!(w.max_attempts(), 1);
    w.retry = Some(id);
    w.converge(100).await;
    assert_eq!(w.eccs(), vec!["ecc-1"]);
}

#[tokio::test]
async fn async_forced_removals_are_never_resent() {
    let mut w = world(
        3,
        json!({"members": [{"eccId": "ecc-1"}], "scaleIn": {"force": true, "minRemaining": 0}}),
        json!({"asyncForce": {"delayMs": 20000}}),
    );
    w.converge(100).await;
    assert_eq!(w.eccs(), vec!["ecc-1"]);
    assert_eq!(w.max_attempts(), 1, "{:?}", w.outcomes);
}

#[tokio::test]
async fn faults_everywhere_still_no_duplicate_attempt() {
    let mut w = world(
        8,
        // minRemaining 0: ecc-1 listed twice, once stopped, counts as unhealthy (on purpose).
        json!({"members": [{"eccId": "ecc-1"}], "scaleIn": {"maxPerChangeOrder": 2, "minRemaining": 0}}),
        json!({"errorRate": 0.2, "throttleRate": 0.1, "dropRate": 0.1,
               "staleReads": {"staleReadMs": 3000},
               "lateApply": {"mode": "gateway504", "lateApplyMs": 3000, "times": 2},
               "duplicateRows": {"firstOnly": true}}),
    );
    w.converge(1000).await;
    assert_eq!(w.eccs(), vec!["ecc-1"]);
    // A 503 answered before anything was done is proven not applied after the quiet window,
    // so an ECC may be named again; never after an attempt that was carried out.
    assert_eq!(w.duplicates(), 0, "{:?}", w.outcomes);
}

fn qas_calls(w: &World) -> usize {
    w.edas
        .state()
        .calls()
        .iter()
        .filter(|c| c.action == "QueryApplicationStatus")
        .count()
}

#[tokio::test]
async fn ready_costs_one_observation_and_a_later_one_confirms_it() {
    let mut w = world(3, keep_one(), json!({}));
    let mut by_order = None;
    for _ in 0..20 {
        let v = w.step().await;
        if matches!(v.outcome, Outcome::ConvergedByOrder(_)) {
            by_order = Some(v);
            break;
        }
    }
    let v = by_order.expect("Ready from the change order's outcome");
    assert_eq!(qas_calls(&w), 1, "one QueryApplicationStatus before Ready");
    assert_eq!(w.eccs(), vec!["ecc-1"]);
    let basis = v.status.ready_basis.expect("readyBasis");
    assert_eq!(basis.source, "ChangeOrder");
    // The next pass (the resync) observes, and Ready then rests on that observation.
    let v = w.step().await;
    assert_eq!(v.outcome, Outcome::Converged);
    assert_eq!(v.status.ready_basis.unwrap().source, "Observation");
    assert_eq!(qas_calls(&w), 2);
    assert_eq!(w.max_attempts(), 1);
}

/// The calls of `action`, in order, with what they named.
fn calls_of(w: &World, action: &str) -> Vec<(i64, Vec<String>)> {
    w.edas
        .state()
        .calls()
        .iter()
        .filter(|c| c.action == action)
        .map(|c| (c.at, [c.ecc_ids.clone(), c.ecu_ids.clone()].concat()))
        .collect()
}

fn replace_two() -> serde_json::Value {
    json!({"members": [{"instanceId": "i-1"}, {"instanceId": "i-2"}, {"ip": "10.0.0.5"}, {"ecuId": "ecu-6"}],
           "scaleIn": {"maxPerChangeOrder": 5, "minRemaining": 1}})
}

#[tokio::test]
async fn a_replacement_adds_and_sees_the_new_eccs_healthy_before_any_removal() {
    let mut w = world_with_free(4, 2, replace_two(), json!({}));
    w.converge(100).await;
    let outs = calls_of(&w, "ScaleOutApplication");
    let ins = calls_of(&w, "ScaleInApplication");
    assert_eq!(outs.len(), 1, "one ScaleOut: {outs:?}");
    assert_eq!(outs[0].1, vec!["ecu-5", "ecu-6"]);
    assert_eq!(ins.len(), 1, "one ScaleIn: {ins:?}");
    assert_eq!(ins[0].1, vec!["ecc-3", "ecc-4"]);
    // The ScaleOut's order ended, and an observation after it, before the ScaleIn.
    let qas = calls_of(&w, "QueryApplicationStatus");
    assert!(outs[0].0 < ins[0].0);
    assert!(
        qas.iter()
            .any(|(at, _)| *at > outs[0].0 + 4_000 && *at <= ins[0].0)
    );
    let st = w.edas.state().snapshot();
    let ecus: Vec<&str> = st.apps[0].eccs.iter().map(|e| e.ecu_id.as_str()).collect();
    assert_eq!(ecus, vec!["ecu-1", "ecu-2", "ecu-5", "ecu-6"]);
    assert!(w.status.additions.is_empty());
}

#[tokio::test]
async fn a_lost_scale_out_answer_is_adopted_never_resent() {
    for mode in ["gateway504", "drop"] {
        let mut w = world_with_free(
            4,
            2,
            replace_two(),
            json!({"lateApply": {"mode": mode, "lateApplyMs": 4000, "times": 1}}),
        );
        w.converge(200).await;
        assert_eq!(
            calls_of(&w, "ScaleOutApplication").len(),
            1,
            "{mode}: {:?}",
            w.outcomes
        );
        assert_eq!(calls_of(&w, "ScaleInApplication").len(), 1, "{mode}");
        assert_eq!(w.eccs().len(), 4, "{mode}");
    }
}

#[tokio::test]
async fn stale_reads_after_an_addition_never_resend_it() {
    let mut w = world_with_free(
        3,
        1,
        json!({"members": [{"instanceId": "i-1"}, {"instanceId": "i-2"}, {"instanceId": "i-3"}, {"instanceId": "i-4"}]}),
        json!({"staleReads": {"staleReadMs": 6000}}),
    );
    w.converge(300).await;
    assert_eq!(
        calls_of(&w, "ScaleOutApplication").len(),
        1,
        "{:?}",
        w.outcomes
    );
    assert_eq!(calls_of(&w, "ScaleInApplication").len(), 0);
    assert_eq!(w.eccs().len(), 4);
}
