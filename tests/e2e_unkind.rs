//! EDAS misbehaving, end to end: each unkind simulator behaviour against the real operator and
//! a real kube-apiserver. Every ScaleIn attempt that reached the simulator counts (accepted,
//! refused, dropped, timed out, late-applied), not only the orders it accepted. Each test
//! writes a row to `$EDAS_E2E_LOG_DIR/unkind/*.row`; hack/test.sh puts them in RELIABILITY.md.
//!
//! `EDAS_E2E_OPERATOR_BIN` runs these against another build of the operator (how the
//! instrument was checked against the controller before the state machine was rewritten).

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(120);

/// Per ECC, every ScaleInApplication call naming it, whatever became of the call.
fn attempts_per_ecc(calls: &[Value], app: &str) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for c in calls
        .iter()
        .filter(|c| c["action"] == "ScaleInApplication" && c["params"]["AppId"] == app)
    {
        let mut named: Vec<String> = c["params"]["EccInfo"]
            .as_str()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        named.sort();
        named.dedup();
        for e in named {
            *per.entry(e).or_insert(0) += 1;
        }
    }
    per
}

/// ScaleIn calls whose EccInfo names one ECC twice (a malformed request).
fn calls_naming_an_ecc_twice(calls: &[Value]) -> usize {
    calls
        .iter()
        .filter(|c| c["action"] == "ScaleInApplication")
        .filter(|c| {
            let items: Vec<&str> = c["params"]["EccInfo"]
                .as_str()
                .unwrap_or("")
                .split(',')
                .collect();
            let mut d = items.clone();
            d.sort();
            d.dedup();
            d.len() != items.len()
        })
        .count()
}

struct Row<'a> {
    behaviour: &'a str,
    attempts_max: usize,
    declared_removed: usize,
    min_violations: usize,
    result: String,
}

fn write_row(file: &str, r: &Row<'_>) {
    let dir = log_dir().join("unkind");
    let _ = std::fs::create_dir_all(&dir);
    let line = format!(
        "| {} | {} | {} | {} | {} |\n",
        r.behaviour, r.attempts_max, r.declared_removed, r.min_violations, r.result
    );
    std::fs::write(dir.join(format!("{file}.row")), &line).expect("write row");
    eprintln!("{line}");
}

fn reason(obj: &Value, type_: &str) -> String {
    condition(obj, type_)
        .and_then(|c| c["reason"].as_str())
        .unwrap_or("")
        .to_string()
}

/// One app of `n` ECCs (ecc-<app>-1..n), its own namespace, simulator and operator.
struct Setup {
    cp: ControlPlane,
    ns: String,
    app: String,
    sim: Sim,
    op: Operator,
}

async fn setup(prefix: &str, n: usize, faults: Value) -> Option<Setup> {
    let cp = control_plane()?;
    mark_e2e(prefix, &cp);
    let ns = cp.namespace(&format!("e2e-{prefix}"));
    let app = format!("app-{ns}");
    let mut state = sim_state(&[(&app, n)], 1.0);
    state["faults"] = faults;
    let sim = Sim::start(&state, &ns);
    let op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    Some(Setup {
        cp,
        ns,
        app,
        sim,
        op,
    })
}

impl Setup {
    fn ecc(&self, i: usize) -> String {
        format!("ecc-{}-{i}", self.app)
    }
    fn apply(&self, members: &[Value], extra: Value) {
        self.cp
            .apply_yaml_ok(&membership(&self.ns, "m", &self.app, members, extra));
    }
    fn obj(&self) -> Value {
        self.cp.eam(&self.ns, "m")
    }
    async fn ready(&self, timeout: Duration) {
        eventually(timeout, "Ready=True Converged", || async {
            cond_is(&self.obj(), "Ready", "True", Some("Converged")).then_some(())
        })
        .await;
    }
    async fn attempts(&self) -> BTreeMap<String, usize> {
        attempts_per_ecc(&self.sim.calls().await, &self.app)
    }
    async fn max_attempts(&self) -> usize {
        self.attempts().await.values().copied().max().unwrap_or(0)
    }
    async fn declared_removed(&self, declared: &[String]) -> usize {
        let now = self.sim.eccs(&self.app).await;
        let named = self.attempts().await;
        declared
            .iter()
            .filter(|d| !now.contains(d) || named.contains_key(*d))
            .count()
    }
    fn events(&self, reason: &str) -> Vec<Value> {
        self.cp
            .events(&self.ns)
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .collect()
    }
}

/// A ScaleIn the gateway gives up on (504, dropped connection, no answer until the client's
/// timeout) is carried out 7 s after the call (within 2 x the 5 s EDAS timeout). The operator must adopt that order, not send again.
#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_late_applied_scale_in_is_adopted_never_resent() {
    for mode in ["gateway504", "drop", "hang"] {
        let faults = json!({"lateApply": {"mode": mode, "lateApplyMs": 7000, "times": 2}});
        let Some(s) = setup(&format!("late-{mode}"), 4, faults).await else {
            return;
        };
        let keep = vec![s.ecc(1)];
        s.apply(
            &[ecc(&keep[0])],
            json!({"scaleIn": {"maxPerChangeOrder": 2, "minRemaining": 1}}),
        );
        s.ready(T).await;
        let max = s.max_attempts().await;
        let removed = s.declared_removed(&keep).await;
        assert_eq!(s.sim.eccs(&s.app).await, keep, "{mode}");
        assert_eq!(
            max,
            1,
            "{mode}: an ECC was named twice: {:?}",
            s.attempts().await
        );
        assert_eq!(removed, 0, "{mode}");
        let late = s
            .sim
            .calls()
            .await
            .iter()
            .filter(|c| c["lateApplied"] == true)
            .count();
        assert!(late >= 1, "{mode}: the fault applied no call late");
        write_row(
            &format!("1-late-{mode}"),
            &Row {
                behaviour: &format!("lateApply {mode} (carried out 7 s after the call)"),
                attempts_max: max,
                declared_removed: removed,
                min_violations: 0,
                result: "converged".into(),
            },
        );
    }
}

/// Reads lag writes by 4 s: a finished order's ECCs are still listed, a new order is not yet
/// in the recent list. Removed ECCs must not be sent again.
#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_stale_reads_never_resend_removed_eccs() {
    let faults = json!({"staleReads": {"staleReadMs": 4000}});
    let Some(s) = setup("stale", 5, faults).await else {
        return;
    };
    let keep = vec![s.ecc(1)];
    s.apply(
        &[ecc(&keep[0])],
        json!({"scaleIn": {"maxPerChangeOrder": 1, "minRemaining": 1}}),
    );
    s.ready(Duration::from_secs(240)).await;
    let max = s.max_attempts().await;
    let removed = s.declared_removed(&keep).await;
    assert_eq!(s.sim.eccs(&s.app).await, keep);
    assert_eq!(max, 1, "an ECC was named twice: {:?}", s.attempts().await);
    assert_eq!(removed, 0);
    write_row(
        "2-stale",
        &Row {
            behaviour: "staleReads 4 s (QueryApplicationStatus, ListRecentChangeOrder, GetChangeOrderInfo)",
            attempts_max: max,
            declared_removed: removed,
            min_violations: 0,
            result: "converged".into(),
        },
    );
}

/// EcuList misses hosts while members are named by instanceId: nothing may be removed, and
/// the resource says why; once the answers are whole again, only the extra ECCs go.
#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_partial_ecu_list_removes_no_declared_member() {
    let faults = json!({"partialEcuList": {"mode": "missing", "emptyEccIp": true}});
    let Some(s) = setup("partial", 4, faults).await else {
        return;
    };
    let by_host: Vec<Value> = (1..=3)
        .map(|i| json!({"instanceId": format!("i-{}-{i}", s.app)}))
        .collect();
    let keep: Vec<String> = (1..=3).map(|i| s.ecc(i)).collect();
    s.apply(
        &by_host,
        json!({"scaleIn": {"maxPerChangeOrder": 5, "minRemaining": 1}}),
    );
    // Safety first (what breaks), then what the resource says.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let during = s.attempts().await.len();
    assert_eq!(during, 0, "ScaleIn sent on an incomplete observation");
    assert_eq!(s.declared_removed(&keep).await, 0);
    eventually(T, "IncompleteObservation", || async {
        (reason(&s.obj(), "Synced") == "IncompleteObservation").then_some(())
    })
    .await;
    assert!(
        s.sim
            .post("/_sim/faults", &json!({"partialEcuList": null}))
            .await
            .is_success()
    );
    s.ready(T).await;
    let removed = s.declared_removed(&keep).await;
    assert_eq!(s.sim.eccs(&s.app).await, keep);
    assert_eq!(removed, 0);
    let max = s.max_attempts().await;
    assert_eq!(max, 1);
    write_row(
        "3-partial",
        &Row {
            behaviour: "partialEcuList missing (members by instanceId)",
            attempts_max: max,
            declared_removed: removed,
            min_violations: 0,
            result: "blocked (IncompleteObservation, 0 attempts) while partial; converged after"
                .into(),
        },
    );
}

/// Every ECC listed twice (once healthy, once stopped): a batch never names an ECC twice and
/// the removal still converges.
#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_duplicate_rows_never_double_a_batch() {
    let faults = json!({"duplicateRows": {}});
    let Some(s) = setup("dup", 4, faults).await else {
        return;
    };
    let keep = vec![s.ecc(1)];
    s.apply(
        &[ecc(&keep[0])],
        json!({"scaleIn": {"maxPerChangeOrder": 5, "minRemaining": 0}}),
    );
    s.ready(T).await;
    let calls = s.sim.calls().await;
    let doubled = calls_naming_an_ecc_twice(&calls);
    assert_eq!(doubled, 0, "a ScaleIn named one ECC twice");
    let max = s.max_attempts().await;
    assert_eq!(max, 1);
    let removed = s.declared_removed(&keep).await;
    assert_eq!(removed, 0);
    write_row(
        "4-dup",
        &Row {
            behaviour: "duplicateRows (every ECC twice, once stopped)",
            attempts_max: max,
            declared_removed: removed,
            min_violations: 0,
            result: "converged; no batch named an ECC twice".into(),
        },
    );
}

/// A forced ScaleIn answers at once but removes its ECCs later: never re-sent; when it takes
/// longer than the forced hold-off (15 s here) the resource stalls, then converges when the
/// ECCs do go.
#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_async_forced_scale_in_is_never_resent() {
    let faults = json!({"asyncForce": {"delayMs": 25000}});
    let Some(s) = setup("force", 3, faults).await else {
        return;
    };
    let keep = vec![s.ecc(1)];
    s.apply(
        &[ecc(&keep[0])],
        json!({"scaleIn": {"force": true, "maxPerChangeOrder": 5, "minRemaining": 0}}),
    );
    // Past the forced hold-off, the ECCs still listed: one attempt each, never a re-send.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let max = s.max_attempts().await;
    assert_eq!(max, 1, "forced removal re-sent: {:?}", s.attempts().await);
    eventually(T, "ForcedRemovalNotObserved", || async {
        (reason(&s.obj(), "Stalled") == "ForcedRemovalNotObserved").then_some(())
    })
    .await;
    s.ready(T).await;
    assert_eq!(s.max_attempts().await, 1);
    let removed = s.declared_removed(&keep).await;
    assert_eq!(removed, 0);
    write_row(
        "5-async-force",
        &Row {
            behaviour: "asyncForce 25 s (forced hold-off 15 s)",
            attempts_max: max,
            declared_removed: removed,
            min_violations: 0,
            result: "stalled (ForcedRemovalNotObserved) until the ECCs left, then converged".into(),
        },
    );
}

async fn running_order(s: &Setup) -> String {
    eventually(T, "an order of ours running", || async {
        let st = s.sim.state().await;
        st["changeOrders"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["appId"] == s.app.as_str() && o["status"] == 1)
            .and_then(|o| o["changeOrderId"].as_str().map(str::to_string))
    })
    .await
}

/// A person aborts our order (status 6): the operator stalls and never re-sends it, until the
/// retry annotation names the order.
#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_order_aborted_by_a_person_is_not_resent() {
    let Some(s) = setup("abort", 3, json!({"stallChangeOrders": true})).await else {
        return;
    };
    let keep = vec![s.ecc(1)];
    s.apply(
        &[ecc(&keep[0])],
        json!({"scaleIn": {"maxPerChangeOrder": 5, "minRemaining": 1}}),
    );
    let id = running_order(&s).await;
    assert!(
        s.sim
            .post(
                &format!("/_sim/change-orders/{id}/end"),
                &json!({"status": 6})
            )
            .await
            .is_success()
    );
    assert!(
        s.sim
            .post("/_sim/faults", &json!({"stallChangeOrders": false}))
            .await
            .is_success()
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    let max = s.max_attempts().await;
    assert_eq!(
        max,
        1,
        "the aborted order was re-sent: {:?}",
        s.attempts().await
    );
    eventually(T, "Stalled AbortedByUser", || async {
        let o = s.obj();
        (cond_is(&o, "Stalled", "True", Some("AbortedByUser"))).then_some(())
    })
    .await;
    assert!(
        s.events("ChangeOrderAborted")
            .iter()
            .any(|e| e["type"] == "Warning")
    );
    assert!(s.events("ChangeOrderSucceeded").is_empty());
    // The retry annotation naming the order lets it go again.
    s.cp.kubectl_ok(&[
        "-n",
        &s.ns,
        "annotate",
        "eam",
        "m",
        &format!("edas.operators.dev/retry={id}"),
        "--overwrite",
    ]);
    s.ready(T).await;
    assert_eq!(s.sim.eccs(&s.app).await, keep);
    let removed = s.declared_removed(&keep).await;
    write_row(
        "6-abort",
        &Row {
            behaviour: "order aborted by a person (status 6)",
            attempts_max: max,
            declared_removed: removed,
            min_violations: 0,
            result:
                "stalled (AbortedByUser), 0 re-sends in 20 s; converged after the retry annotation"
                    .into(),
        },
    );
}

/// Orders ended as partially succeeded with rollback (7) or with codes EDAS does not document
/// (4, 11) are failures: no success event, retried only after the backoff, then converged.
#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_rollback_and_unknown_codes_are_failures() {
    for code in [7, 11] {
        let Some(s) = setup(&format!("end{code}"), 3, json!({"stallChangeOrders": true})).await
        else {
            return;
        };
        let keep = vec![s.ecc(1)];
        s.apply(
            &[ecc(&keep[0])],
            json!({"scaleIn": {"maxPerChangeOrder": 5, "minRemaining": 1}}),
        );
        let id = running_order(&s).await;
        assert!(
            s.sim
                .post(
                    &format!("/_sim/change-orders/{id}/end"),
                    &json!({"status": code})
                )
                .await
                .is_success()
        );
        assert!(
            s.sim
                .post("/_sim/faults", &json!({"stallChangeOrders": false}))
                .await
                .is_success()
        );
        // The end was seen (the order no longer followed) and never told as a success.
        eventually(T, "the ended order seen", || async {
            let seen = s.obj()["status"]["history"]
                .as_array()
                .is_some_and(|h| h.iter().any(|o| o["id"] == id.as_str()));
            seen.then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !s.events("ChangeOrderSucceeded")
                .iter()
                .any(|e| e["note"].as_str().unwrap_or("").contains(&id)),
            "{code}: order {id} was told as a success"
        );
        eventually(T, "ChangeOrderFailed", || async {
            (reason(&s.obj(), "Ready") == "ChangeOrderFailed").then_some(())
        })
        .await;
        s.ready(T).await;
        let failed = s.events("ChangeOrderFailed");
        assert!(
            failed
                .iter()
                .any(|e| e["note"].as_str().unwrap_or("").contains(&id)),
            "{code}: no ChangeOrderFailed event for {id}"
        );
        assert!(
            !s.events("ChangeOrderSucceeded")
                .iter()
                .any(|e| e["note"].as_str().unwrap_or("").contains(&id)),
            "{code}: order {id} was told as a success"
        );
        let max = s.max_attempts().await;
        assert!(max <= 2, "{code}: {:?}", s.attempts().await);
        let removed = s.declared_removed(&keep).await;
        assert_eq!(removed, 0);
        write_row(
            &format!("7-end-{code}"),
            &Row {
                behaviour: &format!("order ended with status {code} by a person"),
                attempts_max: max,
                declared_removed: removed,
                min_violations: 0,
                result: "ChangeOrderFailed (no success event); retried once after the backoff; converged".into(),
            },
        );
    }
}

/// A resource being deleted (held by a foreign finalizer) makes no EDAS calls.
#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_resource_being_deleted_makes_no_edas_calls() {
    let Some(s) = setup("terminating", 3, json!({})).await else {
        return;
    };
    let keep = [s.ecc(1)];
    s.cp.apply_yaml_ok(
        &membership(
            &s.ns,
            "m",
            &s.app,
            &[ecc(&keep[0])],
            json!({"managementPolicy": "Observe"}),
        )
        .replace(
            r#""metadata":{"#,
            r#""metadata":{"finalizers":["example.com/hold"],"#,
        ),
    );
    eventually(T, "ObserveOnly", || async {
        (reason(&s.obj(), "Synced") == "ObserveOnly").then_some(())
    })
    .await;
    s.cp.kubectl_ok(&["-n", &s.ns, "delete", "eam", "m", "--wait=false"]);
    // Now the spec would remove ECCs, were the resource not being deleted.
    let _ = s.cp.kubectl(&[
        "-n",
        &s.ns,
        "patch",
        "eam",
        "m",
        "--type=merge",
        "-p",
        r#"{"spec":{"managementPolicy":"Manage","scaleIn":{"minRemaining":0}}}"#,
    ]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = s.sim.calls().await.len();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let after = s.sim.calls().await.len();
    let scale_ins = s.attempts().await.len();
    assert_eq!(scale_ins, 0, "a Terminating resource sent a ScaleIn");
    assert_eq!(after, before, "a Terminating resource called EDAS");
    assert_eq!(reason(&s.obj(), "Synced"), "Terminating");
    s.cp.kubectl_ok(&[
        "-n",
        &s.ns,
        "patch",
        "eam",
        "m",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let _ = &s.op;
}
