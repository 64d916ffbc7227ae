//! Two-way membership, end to end: the operator binary against a real kube-apiserver and the
//! simulator. Declared members that run nothing are added with ScaleOutApplication onto a free
//! ECU of the app's cluster; a replacement adds first, waits until every added ECC is seen
//! healthy, then removes. Every ScaleIn/ScaleOut attempt that reached the simulator counts
//! (accepted, refused, throttled, dropped), not only the orders it accepted.

mod support;

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use support::*;

const T: Duration = Duration::from_secs(120);
const SCALE_OUT: &str = "ScaleOutApplication";
const SCALE_IN: &str = "ScaleInApplication";

// ------------------------------------------------------------------ state documents

/// `sim_state` of `(app, running ECCs, free ECUs)`: ECCs `ecc-<app>-<j>` on `ecu-<app>-<j>`
/// (`i-<app>-<j>`, 10.<i+1>.0.<j>), and free ECUs `ecu-<app>-f<k>` (`i-<app>-f<k>`,
/// 10.<i+1>.1.<k>) in the app's cluster that run nothing.
fn state_with_free(apps: &[(&str, usize, usize)], seconds_per_instance: f64) -> Value {
    let running: Vec<(&str, usize)> = apps.iter().map(|(a, n, _)| (*a, *n)).collect();
    let mut st = sim_state(&running, seconds_per_instance);
    for (i, (app, _, free)) in apps.iter().enumerate() {
        let ecus = st["apps"][i]["ecus"].as_array_mut().expect("ecus");
        for k in 1..=*free {
            ecus.push(json!({
                "ecuId": free_ecu(app, k),
                "instanceId": free_instance(app, k),
                "ip": format!("10.{}.1.{k}", i + 1),
            }));
        }
    }
    st
}

fn ecc_id(app: &str, j: usize) -> String {
    format!("ecc-{app}-{j}")
}
fn free_ecu(app: &str, k: usize) -> String {
    format!("ecu-{app}-f{k}")
}
fn free_instance(app: &str, k: usize) -> String {
    format!("i-{app}-f{k}")
}
fn free_ip(app_index: usize, k: usize) -> String {
    format!("10.{}.1.{k}", app_index + 1)
}

// ------------------------------------------------------------------ the call log

/// Every call of `action` for `app` that reached the simulator, whatever became of it.
fn attempts<'a>(calls: &'a [Value], action: &str, app: &str) -> Vec<&'a Value> {
    calls
        .iter()
        .filter(|c| c["action"] == action && c["params"]["AppId"] == app)
        .collect()
}

/// The ids a ScaleIn (`EccInfo`) or ScaleOut (`EcuInfo`) call named.
fn named(c: &Value) -> Vec<String> {
    let key = if c["action"] == SCALE_OUT {
        "EcuInfo"
    } else {
        "EccInfo"
    };
    c["params"][key]
        .as_str()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Per ECC (ScaleIn) or ECU (ScaleOut), the attempts naming it; a call naming one twice counts
/// twice (that is a duplicate too).
fn attempts_per_id(calls: &[Value], action: &str, app: &str) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for c in attempts(calls, action, app) {
        for id in named(c) {
            *per.entry(id).or_insert(0) += 1;
        }
    }
    per
}

fn mutation_attempts(calls: &[Value], app: &str) -> usize {
    attempts(calls, SCALE_OUT, app).len() + attempts(calls, SCALE_IN, app).len()
}

fn ok_call(c: &Value) -> bool {
    c["httpStatus"] == 200 && c["code"] == 200
}

fn at(c: &Value) -> i64 {
    c["at"].as_i64().expect("call time")
}

/// The simulator's change orders of `co_type` for `app`, oldest first.
fn orders(state: &Value, app: &str, co_type: &str) -> Vec<Value> {
    let mut o: Vec<Value> = state["changeOrders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["appId"] == app && o["coType"] == co_type)
        .cloned()
        .collect();
    o.sort_by_key(|o| o["createdAt"].as_i64().unwrap_or(0));
    o
}

/// Make-before-break, from the call log and the order times: every ScaleOut order of `app`
/// had ended before the first ScaleIn attempt (any attempt, refused ones too), and a
/// QueryApplicationStatus answered 200 at or after the end of the last successful one, still
/// before that first ScaleIn. (The simulator advances its orders before it answers a call, so
/// a QueryApplicationStatus at or after `finishedAt` sees the order's ECCs.) Returns the
/// ScaleOut orders.
fn assert_adds_finished_and_observed_before_removal(
    calls: &[Value],
    state: &Value,
    app: &str,
) -> Vec<Value> {
    let outs = orders(state, app, "CoScaleOut");
    assert!(!outs.is_empty(), "no ScaleOut order for {app}");
    let first_in = attempts(calls, SCALE_IN, app)
        .into_iter()
        .map(at)
        .min()
        .expect("a ScaleIn attempt");
    for o in &outs {
        let finished = o["finishedAt"]
            .as_i64()
            .unwrap_or_else(|| panic!("ScaleOut order not finished: {o}"));
        assert!(
            finished <= first_in,
            "ScaleIn sent at {first_in} while ScaleOut order {} ran (finished {finished})",
            o["changeOrderId"]
        );
    }
    let last_ok = outs
        .iter()
        .filter(|o| o["status"] == 2)
        .filter_map(|o| o["finishedAt"].as_i64())
        .max()
        .expect("a successful ScaleOut order");
    let observed = attempts(calls, "QueryApplicationStatus", app)
        .into_iter()
        .filter(|c| ok_call(c))
        .map(at)
        .any(|t| t >= last_ok && t < first_in);
    assert!(
        observed,
        "no QueryApplicationStatus between the end of the last ScaleOut ({last_ok}) and the \
         first ScaleIn ({first_in}): {}",
        call_excerpt(calls, app)
    );
    outs
}

/// The mutations and status reads of `app`, one a line, for failure messages.
fn call_excerpt(calls: &[Value], app: &str) -> String {
    calls
        .iter()
        .filter(|c| c["params"]["AppId"] == app)
        .map(|c| {
            format!(
                "{} {} http={} code={} {}",
                at(c),
                c["action"].as_str().unwrap_or(""),
                c["httpStatus"],
                c["code"],
                named(c).join(",")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ------------------------------------------------------------------ simulator state

/// (eccId, ecuId, appState, taskState) of every ECC the app has now, by ECU.
async fn eccs_by_ecu(sim: &Sim, app: &str) -> BTreeMap<String, (String, i64, i64)> {
    let st = sim.state().await;
    st["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["appId"] == app)
        .flat_map(|a| a["eccs"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["ecuId"].as_str().unwrap_or("").to_string(),
                (
                    e["eccId"].as_str().unwrap_or("").to_string(),
                    e["appState"].as_i64().unwrap_or(-1),
                    e["taskState"].as_i64().unwrap_or(-1),
                ),
            )
        })
        .collect()
}

/// The ECU ids the app runs on now.
async fn ecus_of(sim: &Sim, app: &str) -> BTreeSet<String> {
    eccs_by_ecu(sim, app).await.into_keys().collect()
}

// ------------------------------------------------------------------ the resource

fn reason<'a>(obj: &'a Value, type_: &str) -> &'a str {
    condition(obj, type_)
        .and_then(|c| c["reason"].as_str())
        .unwrap_or("")
}

fn message<'a>(obj: &'a Value, type_: &str) -> &'a str {
    condition(obj, type_)
        .and_then(|c| c["message"].as_str())
        .unwrap_or("")
}

/// Some condition of `obj` says `reason`.
fn any_reason(obj: &Value, reason: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["reason"] == reason))
}

fn conditions_summary(obj: &Value) -> String {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}={} {} ({})",
                c["type"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
                c["reason"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Ready=True Converged for the current generation.
fn converged(obj: &Value) -> bool {
    cond_is(obj, "Ready", "True", Some("Converged"))
        && obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
}

/// status.members as ECU id -> ECC id.
fn status_members(obj: &Value) -> BTreeMap<String, String> {
    obj["status"]["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["ecuId"].as_str().unwrap_or("").to_string(),
                m["eccId"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn all_members_declared(obj: &Value) -> bool {
    obj["status"]["members"]
        .as_array()
        .is_some_and(|ms| ms.iter().all(|m| m["declared"] == true))
}

/// Events in `ns` with `reason`, as (type, note).
fn events_with(cp: &ControlPlane, ns: &str, reason: &str) -> Vec<(String, String)> {
    cp.events(ns)
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_string(),
                e["note"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One edit of resource "web": keep ecc-1, retire ecc-2 and ecc-3, declare the app's first
/// free host by instance id and its second by IP. Returns the two free ECUs.
fn replace_two_hosts(cp: &ControlPlane, ns: &str, app: &str) -> (String, String) {
    cp.apply_yaml_ok(&membership(
        ns,
        "web",
        app,
        &[
            ecc(&ecc_id(app, 1)),
            json!({"instanceId": free_instance(app, 1)}),
            json!({"ip": free_ip(0, 2)}),
        ],
        json!({}),
    ));
    (free_ecu(app, 1), free_ecu(app, 2))
}

/// Wait until the process ends on its own (a fault point aborted it).
async fn wait_exit(op: &mut Operator, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if op.exited().is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

// ------------------------------------------------------------------ 1. one addition

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_member_by_instance_id_is_added_with_one_scale_out() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("member_by_instance_id_is_added_with_one_scale_out", &cp);
    let ns = cp.namespace("e2e-so-add");
    let app = format!("app-{ns}");
    let sim = Sim::start(&state_with_free(&[(&app, 2, 2)], 0.5), &ns);
    let op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    let new_ecu = free_ecu(&app, 1);
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[
            ecc(&ecc_id(&app, 1)),
            ecc(&ecc_id(&app, 2)),
            json!({"instanceId": free_instance(&app, 1)}),
        ],
        json!({}),
    ));
    let obj = eventually(T, "Ready with the new member in status", || async {
        let o = cp.eam(&ns, "web");
        let ecus = ecus_of(&sim, &app).await;
        (converged(&o) && status_members(&o).contains_key(&new_ecu) && ecus.contains(&new_ecu))
            .then_some(o)
    })
    .await;
    let calls = sim.calls().await;
    let outs = attempts(&calls, SCALE_OUT, &app);
    assert_eq!(
        outs.len(),
        1,
        "exactly one ScaleOut attempt:\n{}",
        call_excerpt(&calls, &app)
    );
    assert_eq!(named(outs[0]), vec![new_ecu.clone()]);
    assert_eq!(
        outs[0]["params"]["DeployGroup"],
        format!("grp-{app}"),
        "into the app's default group (GroupType 0), by id"
    );
    assert!(
        attempts(&calls, SCALE_IN, &app).is_empty(),
        "nothing to remove, nothing removed"
    );
    // The simulator runs exactly the declared three; status lists the same three.
    let eccs = eccs_by_ecu(&sim, &app).await;
    let expected: BTreeSet<String> = [
        format!("ecu-{app}-1"),
        format!("ecu-{app}-2"),
        new_ecu.clone(),
    ]
    .into();
    assert_eq!(eccs.keys().cloned().collect::<BTreeSet<_>>(), expected);
    let new_ecc = eccs[&new_ecu].0.clone();
    assert_eq!((eccs[&new_ecu].1, eccs[&new_ecu].2), (7, 2), "healthy");
    let members = status_members(&obj);
    assert_eq!(
        members.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "{}",
        obj["status"]["members"]
    );
    assert_eq!(members[&new_ecu], new_ecc, "status names the new ECC");
    assert!(all_members_declared(&obj), "{}", obj["status"]["members"]);
    assert_eq!(obj["status"]["desired"], 3);
    assert_eq!(obj["status"]["observed"], 3);
    assert!(
        obj["status"]["pendingScaleOut"].is_null(),
        "{}",
        obj["status"]
    );
    // The order in status names its direction and ECUs.
    let last = &obj["status"]["history"][0];
    assert_eq!(last["direction"], "ScaleOut", "{last}");
    assert_eq!(last["status"], "Succeeded", "{last}");
    assert_eq!(last["ecuIds"], json!([new_ecu]), "{last}");
    // Events name the direction and the ECU.
    let started = events_with(&cp, &ns, "ChangeOrderStarted");
    assert!(
        started
            .iter()
            .any(|(_, n)| n.contains("ScaleOutApplication") && n.contains(&new_ecu)),
        "ChangeOrderStarted naming ScaleOutApplication and {new_ecu}: {started:?}"
    );
    assert!(
        !started
            .iter()
            .any(|(_, n)| n.contains("ScaleInApplication")),
        "{started:?}"
    );
    let succeeded = events_with(&cp, &ns, "ChangeOrderSucceeded");
    assert!(
        succeeded
            .iter()
            .any(|(_, n)| n.starts_with("ScaleOut change order")),
        "{succeeded:?}"
    );
    // The change-order counter has a direction.
    let metrics = op.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("edas_operator_change_orders_total{")
                && l.contains("direction=\"ScaleOut\"")
                && l.contains("result=\"started\"")
                && !l.ends_with(" 0")),
        "{metrics}"
    );
    // ListScaleOutEcu (20/min) is cached: converged, a resync later it is not asked again.
    let lists = |calls: &[Value]| {
        calls
            .iter()
            .filter(|c| c["action"] == "ListScaleOutEcu")
            .count()
    };
    assert!(
        lists(&calls) >= 1,
        "the free ECU was found through ListScaleOutEcu"
    );
    tokio::time::sleep(Duration::from_secs(12)).await;
    let later = sim.calls().await;
    assert_eq!(
        lists(&later),
        lists(&calls),
        "ListScaleOutEcu asked again with nothing to add"
    );
    assert_eq!(attempts(&later, SCALE_OUT, &app).len(), 1);
    assert!(converged(&cp.eam(&ns, "web")));
}

// ------------------------------------------------------------------ 2. replacement

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_two_hosts_replaced_in_one_edit_add_before_remove() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("two_hosts_replaced_in_one_edit_add_before_remove", &cp);
    let ns = cp.namespace("e2e-so-replace");
    let app = format!("app-{ns}");
    // 1 s per instance: a two-ECU ScaleOut runs for seconds, long enough to be overtaken.
    let sim = Sim::start(&state_with_free(&[(&app, 3, 2)], 1.0), &ns);
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[
            ecc(&ecc_id(&app, 1)),
            ecc(&ecc_id(&app, 2)),
            ecc(&ecc_id(&app, 3)),
        ],
        json!({}),
    ));
    eventually(T, "converged on the three ECCs", || async {
        converged(&cp.eam(&ns, "web")).then_some(())
    })
    .await;
    assert!(
        sim.calls()
            .await
            .iter()
            .all(|c| !c["action"].as_str().unwrap_or("").starts_with("Scale"))
    );
    // One edit: two hosts retired (ecc-2, ecc-3), two free ECUs declared, by instance id and
    // by IP.
    let (f1, f2) = replace_two_hosts(&cp, &ns, &app);
    let expected: BTreeSet<String> = [format!("ecu-{app}-1"), f1.clone(), f2.clone()].into();
    let obj = eventually(
        Duration::from_secs(180),
        "replacement converged",
        || async {
            let o = cp.eam(&ns, "web");
            let members: BTreeSet<String> = status_members(&o).into_keys().collect();
            (converged(&o) && members == expected && ecus_of(&sim, &app).await == expected)
                .then_some(o)
        },
    )
    .await;
    let calls = sim.calls().await;
    let state = sim.state().await;
    let excerpt = call_excerpt(&calls, &app);
    // No duplicate attempts: each new ECU named once, each retired ECC named once.
    let outs = attempts_per_id(&calls, SCALE_OUT, &app);
    assert_eq!(
        outs,
        BTreeMap::from([(f1.clone(), 1), (f2.clone(), 1)]),
        "ScaleOut attempts per ECU:\n{excerpt}"
    );
    let ins = attempts_per_id(&calls, SCALE_IN, &app);
    assert_eq!(
        ins,
        BTreeMap::from([(ecc_id(&app, 2), 1), (ecc_id(&app, 3), 1)]),
        "ScaleIn attempts per ECC:\n{excerpt}"
    );
    assert_eq!(duplicate_attempts(&calls, &state), 0);
    // Adds finished and were observed before the first removal was sent.
    let outs = assert_adds_finished_and_observed_before_removal(&calls, &state, &app);
    assert!(
        outs.iter().all(|o| o["status"] == 2),
        "every ScaleOut order succeeded: {outs:?}"
    );
    // Capacity never dipped: when the first ScaleIn went out, the app ran all five.
    let first_in = attempts(&calls, SCALE_IN, &app)
        .into_iter()
        .map(at)
        .min()
        .unwrap_or(0);
    let added_by = outs
        .iter()
        .filter_map(|o| o["finishedAt"].as_i64())
        .max()
        .unwrap_or(i64::MAX);
    assert!(added_by <= first_in);
    // Final state exact: the kept ECC, plus one ECC on each new ECU, all healthy.
    let eccs = eccs_by_ecu(&sim, &app).await;
    assert_eq!(eccs[&format!("ecu-{app}-1")].0, ecc_id(&app, 1));
    for e in [&f1, &f2] {
        assert_eq!((eccs[e].1, eccs[e].2), (7, 2), "{e} healthy");
    }
    let members = status_members(&obj);
    for (ecu, (ecc, _, _)) in &eccs {
        assert_eq!(&members[ecu], ecc, "status.members names the ECC on {ecu}");
    }
    assert!(all_members_declared(&obj), "{}", obj["status"]["members"]);
    assert_eq!(obj["status"]["observed"], 3);
    assert!(obj["status"]["pendingScaleOut"].is_null());
    assert!(obj["status"]["pendingScaleIn"].is_null());
    let directions: Vec<&str> = obj["status"]["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["direction"].as_str())
        .collect();
    assert!(
        directions.contains(&"ScaleOut") && directions.contains(&"ScaleIn"),
        "history names both directions: {}",
        obj["status"]["history"]
    );
    let started = events_with(&cp, &ns, "ChangeOrderStarted");
    assert!(
        started
            .iter()
            .any(|(_, n)| n.contains("ScaleOutApplication")),
        "{started:?}"
    );
    assert!(
        started
            .iter()
            .any(|(_, n)| n.contains("ScaleInApplication")),
        "{started:?}"
    );
}

// ------------------------------------------------------------------ 3. failed ScaleOut

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_failed_scale_out_is_reported_and_nothing_removed_until_retried() {
    let Some(cp) = control_plane() else { return };
    mark_e2e(
        "failed_scale_out_is_reported_and_nothing_removed_until_retried",
        &cp,
    );
    let ns = cp.namespace("e2e-so-fail");
    let app = format!("app-{ns}");
    let sim = Sim::start(&state_with_free(&[(&app, 2, 1)], 0.5), &ns);
    // A failure backoff long enough to see the ChangeOrderFailed window.
    let backoff_ms = 8_000;
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &["--failure-backoff", "8s"]);
    assert!(
        sim.post("/_sim/faults", &json!({"failNextChangeOrders": 1}))
            .await
            .is_success()
    );
    let new_ecu = free_ecu(&app, 1);
    // Replace ecc-2 by the free ECU.
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[
            ecc(&ecc_id(&app, 1)),
            json!({"instanceId": free_instance(&app, 1)}),
        ],
        json!({}),
    ));
    let failed = eventually(T, "Ready=False ChangeOrderFailed", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Ready", "False", Some("ChangeOrderFailed")).then_some(o)
    })
    .await;
    // While the new member is not running: no removal went out.
    let calls = sim.calls().await;
    assert!(
        attempts(&calls, SCALE_IN, &app).is_empty(),
        "ScaleIn while the added member is not running:\n{}",
        call_excerpt(&calls, &app)
    );
    assert!(
        !ecus_of(&sim, &app).await.contains(&new_ecu),
        "the failed order made no ECC"
    );
    // The condition names the direction, the failed order and the host it was adding.
    let msg = message(&failed, "Ready");
    let failed_order = orders(&sim.state().await, &app, "CoScaleOut")
        .first()
        .and_then(|o| o["changeOrderId"].as_str().map(str::to_string))
        .expect("the failed ScaleOut order");
    assert!(
        msg.contains(&format!("ScaleOut change order {failed_order}")) && msg.contains(&new_ecu),
        "condition names ScaleOut order {failed_order} and {new_ecu}: {msg}"
    );
    let rec = failed["status"]["history"]
        .as_array()
        .and_then(|h| h.iter().find(|c| c["status"] == "Failed").cloned())
        .unwrap_or_else(|| panic!("failed order in history: {}", failed["status"]));
    assert_eq!(rec["direction"], "ScaleOut", "{rec}");
    assert_eq!(rec["ecuIds"], json!([new_ecu]), "{rec}");
    assert!(
        rec["message"]
            .as_str()
            .unwrap_or("")
            .contains("INJECTED_FAILURE"),
        "task error in the record: {rec}"
    );
    let warnings = events_with(&cp, &ns, "ChangeOrderFailed");
    assert!(
        warnings
            .iter()
            .any(|(t, n)| t == "Warning" && n.starts_with("ScaleOut change order")),
        "{warnings:?}"
    );
    // After the backoff: added again, then removed; converged.
    let obj = eventually(
        Duration::from_secs(180),
        "converged after the retry",
        || async {
            let o = cp.eam(&ns, "web");
            let expected: BTreeSet<String> = [format!("ecu-{app}-1"), new_ecu.clone()].into();
            (converged(&o) && ecus_of(&sim, &app).await == expected).then_some(o)
        },
    )
    .await;
    let calls = sim.calls().await;
    let state = sim.state().await;
    let excerpt = call_excerpt(&calls, &app);
    let outs = attempts(&calls, SCALE_OUT, &app);
    assert_eq!(outs.len(), 2, "one failed ScaleOut, one retry:\n{excerpt}");
    assert!(outs.iter().all(|c| named(c) == vec![new_ecu.clone()]));
    let orders_out = assert_adds_finished_and_observed_before_removal(&calls, &state, &app);
    let statuses: Vec<i64> = orders_out
        .iter()
        .map(|o| o["status"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(statuses, vec![3, 2], "{orders_out:?}");
    let failed_end = orders_out[0]["finishedAt"].as_i64().unwrap_or(0);
    assert!(
        at(outs[1]) >= failed_end + backoff_ms - 500,
        "retry at {} only {} ms after the failure ended at {failed_end} (backoff {backoff_ms} ms)",
        at(outs[1]),
        at(outs[1]) - failed_end
    );
    assert_eq!(
        attempts_per_id(&calls, SCALE_IN, &app),
        BTreeMap::from([(ecc_id(&app, 2), 1)]),
        "{excerpt}"
    );
    assert_eq!(duplicate_attempts(&calls, &state), 0);
    assert!(status_members(&obj).contains_key(&new_ecu));
}

// ------------------------------------------------------------------ 4. never healthy

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_new_member_never_healthy_stops_the_removal() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("new_member_never_healthy_stops_the_removal", &cp);
    let ns = cp.namespace("e2e-so-unhealthy");
    let app = format!("app-{ns}");
    let sim = Sim::start(&state_with_free(&[(&app, 2, 1)], 0.5), &ns);
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    let st = sim
        .post(
            "/_sim/faults",
            &json!({"unhealthyScaleOut": {"appIds": [app]}}),
        )
        .await;
    assert!(st.is_success(), "unhealthyScaleOut fault: {st}");
    let new_ecu = free_ecu(&app, 1);
    let timeout_ms = 20_000;
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[
            ecc(&ecc_id(&app, 1)),
            json!({"instanceId": free_instance(&app, 1)}),
        ],
        json!({"changeOrderTimeout": "20s"}),
    ));
    let waiting = eventually(T, "WaitingForNewMembers", || async {
        let calls = sim.calls().await;
        assert!(
            attempts(&calls, SCALE_IN, &app).is_empty(),
            "a removal went out before the added ECC was healthy:\n{}",
            call_excerpt(&calls, &app)
        );
        let o = cp.eam(&ns, "web");
        any_reason(&o, "WaitingForNewMembers").then_some(o)
    })
    .await;
    assert!(
        cond_is(
            &waiting,
            "Reconciling",
            "True",
            Some("WaitingForNewMembers")
        ),
        "{}",
        conditions_summary(&waiting)
    );
    assert!(!cond_is(&waiting, "Ready", "True", None));
    // The order itself succeeded; its ECC is there but not healthy.
    let eccs = eccs_by_ecu(&sim, &app).await;
    let (new_ecc, app_state, task_state) = eccs
        .get(&new_ecu)
        .cloned()
        .unwrap_or_else(|| panic!("no ECC on {new_ecu}: {eccs:?}"));
    assert!(
        (app_state, task_state) != (7, 2),
        "unhealthyScaleOut made a healthy ECC"
    );
    let unhealthy = eventually(Duration::from_secs(90), "NewMemberUnhealthy", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Stalled", "True", Some("NewMemberUnhealthy")).then_some(o)
    })
    .await;
    let seen_at = now_ms();
    let calls = sim.calls().await;
    let outs = attempts(&calls, SCALE_OUT, &app);
    assert_eq!(outs.len(), 1, "{}", call_excerpt(&calls, &app));
    assert!(
        seen_at >= at(outs[0]) + timeout_ms - 1_000,
        "NewMemberUnhealthy {} ms after the ScaleOut was sent, changeOrderTimeout is 20s",
        seen_at - at(outs[0])
    );
    assert!(!cond_is(&unhealthy, "Ready", "True", None));
    let msg = message(&unhealthy, "Stalled");
    assert!(
        msg.contains(&new_ecu) || msg.contains(&new_ecc) || msg.contains(&free_instance(&app, 1)),
        "the message names the new member: {msg}"
    );
    // A few passes later: still stopped, NO ScaleIn attempt ever, the old host still there,
    // and no second ScaleOut.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let o = cp.eam(&ns, "web");
    assert!(
        cond_is(&o, "Stalled", "True", Some("NewMemberUnhealthy")),
        "{}",
        conditions_summary(&o)
    );
    let calls = sim.calls().await;
    assert!(
        attempts(&calls, SCALE_IN, &app).is_empty(),
        "a removal followed an unhealthy addition:\n{}",
        call_excerpt(&calls, &app)
    );
    assert_eq!(attempts(&calls, SCALE_OUT, &app).len(), 1);
    let ecus = ecus_of(&sim, &app).await;
    assert!(ecus.contains(&format!("ecu-{app}-2")), "{ecus:?}");
    assert_eq!(ecus.len(), 3, "{ecus:?}");
}

// ------------------------------------------------------------------ 5. kill -9

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_replacement_survives_kill_9_without_duplicates() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("replacement_survives_kill_9_without_duplicates", &cp);
    let ns = cp.namespace("e2e-so-kill");
    let app = format!("app-{ns}");
    // 2 s per instance: the two-ECU ScaleOut runs ~5 s, time to kill the operator inside it.
    let sim = Sim::start(&state_with_free(&[(&app, 3, 2)], 2.0), &ns);
    // Abort (like kill -9: no status write) right after each ScaleOut and ScaleIn call
    // returns: EDAS made the order, its id is not in status yet.
    let mut op = Operator::start_with_env(
        &cp,
        &sim,
        &[&ns],
        &ns,
        &[],
        &[(
            "EDAS_OPERATOR_FAILPOINTS",
            "after-scale-out=1.0,after-scale-in=1.0",
        )],
    );
    let (f1, f2) = replace_two_hosts(&cp, &ns, &app);
    // 1. The process dies right after the ScaleOut call.
    assert!(
        wait_exit(&mut op, T).await,
        "the operator did not abort after the ScaleOut"
    );
    assert!(
        op.log().contains("failpoint after-scale-out: aborting"),
        "aborted elsewhere:\n{}",
        op.log()
    );
    let calls = sim.calls().await;
    assert_eq!(attempts(&calls, SCALE_OUT, &app).len(), 1);
    assert!(attempts(&calls, SCALE_IN, &app).is_empty());
    // 2. Back up while the order runs, then kill -9 from outside mid-order.
    op.spawn_again();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let order_running = orders(&sim.state().await, &app, "CoScaleOut")
        .iter()
        .any(|o| o["finishedAt"].is_null());
    op.kill9();
    op.spawn_again();
    // 3. Converge, restarting whenever a fault point aborts the process.
    let mut aborts = 1;
    let expected: BTreeSet<String> = [format!("ecu-{app}-1"), f1.clone(), f2.clone()].into();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        assert!(
            Instant::now() < deadline,
            "no convergence after {aborts} aborts: {}\n{}",
            conditions_summary(&cp.eam(&ns, "web")),
            call_excerpt(&sim.calls().await, &app)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        if op.exited().is_some() {
            aborts += 1;
            op.spawn_again();
            continue;
        }
        let o = cp.eam(&ns, "web");
        if converged(&o) && ecus_of(&sim, &app).await == expected {
            break;
        }
    }
    assert!(
        op.log().contains("failpoint after-scale-in: aborting"),
        "the ScaleIn crash window was never hit"
    );
    let calls = sim.calls().await;
    let state = sim.state().await;
    let excerpt = call_excerpt(&calls, &app);
    assert_eq!(
        attempts_per_id(&calls, SCALE_OUT, &app),
        BTreeMap::from([(f1.clone(), 1), (f2.clone(), 1)]),
        "ScaleOut attempts per ECU across {} starts:\n{excerpt}",
        op.starts
    );
    assert_eq!(
        attempts_per_id(&calls, SCALE_IN, &app),
        BTreeMap::from([(ecc_id(&app, 2), 1), (ecc_id(&app, 3), 1)]),
        "ScaleIn attempts per ECC across {} starts:\n{excerpt}",
        op.starts
    );
    assert_eq!(duplicate_attempts(&calls, &state), 0);
    assert_eq!(orders(&state, &app, "CoScaleOut").len(), 1);
    let outs = assert_adds_finished_and_observed_before_removal(&calls, &state, &app);
    assert!(outs.iter().all(|o| o["status"] == 2), "{outs:?}");
    let eccs = eccs_by_ecu(&sim, &app).await;
    assert_eq!(eccs[&format!("ecu-{app}-1")].0, ecc_id(&app, 1));
    let obj = cp.eam(&ns, "web");
    let members = status_members(&obj);
    assert_eq!(members.keys().cloned().collect::<BTreeSet<_>>(), expected);
    for (ecu, (ecc, _, _)) in &eccs {
        assert_eq!(&members[ecu], ecc);
    }
    assert!(obj["status"]["pendingScaleOut"].is_null());
    assert!(obj["status"]["pendingScaleIn"].is_null());
    eprintln!(
        "kill -9 during a replacement: {} starts, {aborts} fault-point aborts, 1 kill -9 \
         (ScaleOut order running then: {order_running}), {} ScaleOut and {} ScaleIn attempts",
        op.starts,
        attempts(&calls, SCALE_OUT, &app).len(),
        attempts(&calls, SCALE_IN, &app).len()
    );
}

// ------------------------------------------------------------------ 6. bad input

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_bad_additions_change_nothing() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("bad_additions_change_nothing", &cp);
    let ns = cp.namespace("e2e-so-bad");
    let dup = format!("dup-{ns}");
    let taken = format!("tkn-{ns}");
    let owner = format!("own-{ns}");
    let ghost = format!("gst-{ns}");
    let nogroup = format!("ngp-{ns}");
    let amb = format!("amb-{ns}");
    let apps = [
        (dup.as_str(), 2, 2),
        (taken.as_str(), 2, 0),
        (owner.as_str(), 1, 0),
        (ghost.as_str(), 2, 1),
        (nogroup.as_str(), 2, 1),
        (amb.as_str(), 3, 0),
    ];
    let mut state = state_with_free(&apps, 0.2);
    // dup: its two free ECUs share one IP (by id: the namespace may contain "-f" too).
    let shared_ip = "10.1.1.9";
    let dup_free = [free_ecu(&dup, 1), free_ecu(&dup, 2)];
    for u in state["apps"][0]["ecus"].as_array_mut().unwrap() {
        if dup_free.iter().any(|f| u["ecuId"] == f.as_str()) {
            u["ip"] = json!(shared_ip);
        }
    }
    // amb: two of its three running hosts share one IP (two networks), so "ip" names both.
    let amb_ip = "10.6.0.9";
    for u in state["apps"][5]["ecus"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .skip(1)
    {
        u["ip"] = json!(amb_ip);
    }
    // taken: its cluster also holds the owner app's host, which runs the owner's ECC.
    let owner_host = state["apps"][2]["ecus"][0].clone();
    let owner_instance = owner_host["instanceId"].as_str().unwrap().to_string();
    let mut host = owner_host.clone();
    host.as_object_mut().unwrap().remove("groupId");
    state["apps"][1]["ecus"].as_array_mut().unwrap().push(host);
    // nogroup: two groups, neither named in the spec.
    state["apps"][4]["groups"]
        .as_array_mut()
        .unwrap()
        .push(json!({"groupId": format!("grp-{nogroup}-canary"), "groupName": "canary"}));
    let sim = Sim::start(&state, &ns);
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    let ghost_instance = "i-nowhere-0000";
    // Each declares one existing ECC and one bad member, and leaves out ecc-2 (amb: its bad
    // member matches ecc-2 and ecc-3): the removal must not go out either.
    let specs = [
        ("dup", &dup, json!({"ip": shared_ip}), json!({})),
        (
            "taken",
            &taken,
            json!({"instanceId": owner_instance}),
            json!({}),
        ),
        (
            "ghost",
            &ghost,
            json!({"instanceId": ghost_instance}),
            json!({}),
        ),
        (
            "nogroup",
            &nogroup,
            json!({"instanceId": free_instance(&nogroup, 1)}),
            json!({"scaleOut": {"deployGroup": "nosuch-group"}}),
        ),
        ("amb", &amb, json!({"ip": amb_ip}), json!({})),
    ];
    for (name, app, bad, extra) in &specs {
        cp.apply_yaml_ok(&membership(
            &ns,
            name,
            app,
            &[ecc(&ecc_id(app, 1)), bad.clone()],
            extra.clone(),
        ));
    }
    let expect = [
        ("dup", "MemberNotAddable", vec![format!("ip={shared_ip}")]),
        (
            "taken",
            "MemberNotAddable",
            vec![format!("instanceId={owner_instance}")],
        ),
        (
            "ghost",
            "MemberNotAddable",
            vec![format!("instanceId={ghost_instance}")],
        ),
        (
            "nogroup",
            "InvalidSpec",
            vec![
                "nosuch-group".to_string(),
                "_DEFAULT_GROUP".to_string(),
                "canary".to_string(),
            ],
        ),
        (
            "amb",
            "MemberAmbiguous",
            vec![
                format!("ip={amb_ip} matches 2 ECCs"),
                ecc_id(&amb, 2),
                ecc_id(&amb, 3),
            ],
        ),
    ];
    for (name, want, words) in &expect {
        let o = eventually(T, &format!("{name}: {want}"), || async {
            let o = cp.eam(&ns, name);
            cond_is(&o, "Stalled", "True", Some(want)).then_some(o)
        })
        .await;
        assert!(
            cond_is(&o, "Synced", "False", Some(want)),
            "{name}: {}",
            conditions_summary(&o)
        );
        assert!(!cond_is(&o, "Ready", "True", None), "{name}");
        let msg = message(&o, "Stalled");
        for w in words {
            assert!(msg.contains(w.as_str()), "{name}: {w:?} not in {msg:?}");
        }
    }
    // A few passes later: the same verdicts, and not one mutation attempt for any app.
    tokio::time::sleep(Duration::from_secs(15)).await;
    for (name, want, _) in &expect {
        let o = cp.eam(&ns, name);
        assert_eq!(
            reason(&o, "Stalled"),
            *want,
            "{name}: {}",
            conditions_summary(&o)
        );
    }
    let calls = sim.calls().await;
    for (app, running, _) in apps {
        assert_eq!(
            mutation_attempts(&calls, app),
            0,
            "{app}:\n{}",
            call_excerpt(&calls, app)
        );
        assert_eq!(sim.eccs(app).await.len(), running, "{app}");
    }
    let st = sim.state().await;
    assert!(
        st["changeOrders"].as_array().is_none_or(|o| o.is_empty()),
        "no change order at all: {}",
        st["changeOrders"]
    );
}
