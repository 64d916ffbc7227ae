//! The back end's lag: late-applied mutations, asynchronous forced removals, stale reads.

use super::*;
use crate::sim::api::Delivery;

#[test]
fn late_apply_answers_504_changes_nothing_then_applies_at_its_time() {
    let (s, clock) = sim(1, BatchType::Automatic);
    set_faults(
        &s,
        r#"{"lateApply": {"mode": "gateway504", "lateApplyMs": 5000}}"#,
    );
    let a = scale_in(&s, "c1");
    assert_eq!(a.http_status, 504);
    assert_eq!(a.delivery, Delivery::Answer);
    let b = body(&a);
    assert_eq!(b["Code"], "ServiceTimeout");
    assert!(b["RequestId"].is_string() && b["HostId"].is_string());

    clock.advance(ms(4999));
    assert!(
        s.snapshot().change_orders.is_empty(),
        "nothing before lateApplyMs"
    );
    assert_eq!(eccs(&s), ids(&["c1", "c2", "c3"]));
    assert_eq!(s.pending_work(), 1);
    let call = &s.calls()[0];
    assert!(call.late_applied && call.applied_at.is_none());
    assert_eq!(call.due_at, Some(T0 + 5000));
    assert_eq!(
        (call.http_status, call.code.clone()),
        (504, "ServiceTimeout".into())
    );
    assert_eq!(call.ecc_ids, ids(&["c1"]));
    assert_eq!(call.fault.as_deref(), Some("lateApply"));

    clock.advance(ms(1));
    let snap = s.snapshot();
    assert_eq!(
        snap.change_orders.len(),
        1,
        "applied as if the back end got it"
    );
    let order = &snap.change_orders[0];
    assert_eq!(order.created_at, T0 + 5000);
    assert_eq!(order.ecc_ids, ids(&["c1"]));
    let call = &s.calls()[0];
    assert_eq!(call.applied_at, Some(T0 + 5000));
    let result = call.late_result.as_ref().unwrap();
    assert_eq!(result.code, 200);
    assert_eq!(
        result.change_order_id.as_deref(),
        Some(&*order.change_order_id)
    );

    clock.advance(ms(1500));
    assert_eq!(status(&s, &order.change_order_id), 2);
    assert_eq!(eccs(&s), ids(&["c2", "c3"]));
}

#[test]
fn late_apply_between_clock_reads_happens_at_its_own_time() {
    // The order a late apply creates runs from its due time, not from when someone looks.
    let (s, clock) = sim(1, BatchType::Automatic);
    set_faults(&s, r#"{"lateApply": {"lateApplyMs": 1000}}"#);
    scale_in(&s, "c1");
    clock.advance(ms(10_000));
    let snap = s.snapshot();
    assert_eq!(snap.change_orders[0].created_at, T0 + 1000);
    assert_eq!(snap.change_orders[0].finished_at, Some(T0 + 2500));
    assert_eq!(snap.change_orders[0].status, 2);
}

#[test]
fn late_drop_then_times_switch_it_off_and_a_late_apply_on_a_busy_app_is_601() {
    let (s, clock) = sim(1, BatchType::Automatic);
    set_faults(
        &s,
        r#"{"lateApply": {"mode": "drop", "lateApplyMs": 1000, "times": 1, "appIds": ["app"]}}"#,
    );
    let dropped = scale_in(&s, "c1");
    assert_eq!(dropped.delivery, Delivery::Drop);
    assert_eq!(s.faults().late_apply, None, "times: 1 used up");
    let second = scale_in(&s, "c2");
    assert_eq!(second.http_status, 200);
    let second_id = body(&second)["ChangeOrderId"].as_str().unwrap().to_string();
    clock.advance(ms(1000));
    let calls = s.calls();
    assert!(calls[0].dropped && calls[0].late_applied);
    assert_eq!(
        (calls[0].http_status, calls[0].code.clone()),
        (0, Value::Null)
    );
    let late = calls[0].late_result.as_ref().unwrap();
    assert_eq!(late.code, 601, "the second order still holds the app");
    assert!(late.message.as_deref().unwrap().contains("in progress"));
    assert_eq!(calls[0].applied_at, Some(T0 + 1000));
    assert!(!calls[1].late_applied);
    clock.advance(ms(5000));
    assert_eq!(status(&s, &second_id), 2);
    assert_eq!(
        eccs(&s),
        ids(&["c1", "c3"]),
        "the dropped one never happened"
    );
}

#[test]
fn late_hang_of_a_forced_scale_in_removes_its_eccs_later() {
    let (s, clock) = sim(1, BatchType::Automatic);
    set_faults(
        &s,
        r#"{"lateApply": {"mode": "hang", "lateApplyMs": 3000}}"#,
    );
    let a = call(
        &s,
        Operation::ScaleInApplication,
        &[
            ("AppId", "app"),
            ("EccInfo", "c1,c2"),
            ("ForceStatus", "true"),
        ],
    );
    assert_eq!(a.delivery, Delivery::Hang);
    assert!(s.calls()[0].hung);
    clock.advance(ms(2999));
    assert_eq!(eccs(&s), ids(&["c1", "c2", "c3"]));
    clock.advance(ms(1));
    assert_eq!(eccs(&s), ids(&["c3"]));
    assert!(s.snapshot().change_orders.is_empty(), "forced: no order");
    let late = s.calls()[0].late_result.clone().unwrap();
    assert_eq!((late.code, late.change_order_id), (200, None));
}

#[test]
fn late_apply_spares_other_apps_and_bad_parameters_are_refused_at_once() {
    let (s, _) = sim(1, BatchType::Automatic);
    set_faults(&s, r#"{"lateApply": {"lateApplyMs": 1000, "times": 1}}"#);
    let a = call(&s, Operation::ScaleInApplication, &[("AppId", "app")]);
    assert_eq!(
        (a.http_status, body(&a)["Code"].clone()),
        (400, "MissingParameter".into())
    );
    assert!(
        s.faults().late_apply.is_some(),
        "a refused call does not use up times"
    );
    assert_eq!(s.pending_work(), 0);
    let e = s
        .set_faults(&FaultsPatch {
            late_apply: Some(Some(crate::sim::LateApply {
                late_apply_ms: 1,
                app_ids: ids(&["ghost"]),
                ..Default::default()
            })),
            ..Default::default()
        })
        .unwrap_err();
    assert!(e.starts_with("lateApply.appIds[0]"), "{e}");
}

#[test]
fn async_force_answers_at_once_and_removes_the_eccs_later() {
    let (s, clock) = sim(1, BatchType::Automatic);
    set_faults(&s, r#"{"asyncForce": {"delayMs": 3000}}"#);
    let a = call(
        &s,
        Operation::ScaleInApplication,
        &[("AppId", "app"), ("EccInfo", "c1"), ("ForceStatus", "true")],
    );
    assert_eq!(a.http_status, 200);
    assert_eq!(body(&a)["Code"], 200);
    assert!(body(&a).get("ChangeOrderId").is_none_or(Value::is_null));
    clock.advance(ms(2999));
    assert_eq!(eccs(&s), ids(&["c1", "c2", "c3"]), "still listed");
    // A second forced removal of the same ECC is accepted meanwhile (no order, no lock).
    let again = call(
        &s,
        Operation::ScaleInApplication,
        &[("AppId", "app"), ("EccInfo", "c1"), ("ForceStatus", "true")],
    );
    assert_eq!(again.http_status, 200);
    clock.advance(ms(1));
    assert_eq!(eccs(&s), ids(&["c2", "c3"]));
    assert!(s.snapshot().change_orders.is_empty());
    // Unforced scale-ins are not affected.
    let b = scale_in(&s, "c2");
    assert!(body(&b)["ChangeOrderId"].is_string());
}

#[test]
fn stale_reads_show_the_state_of_exactly_stale_read_ms_ago() {
    let (s, clock) = sim(1, BatchType::Automatic);
    set_faults(&s, r#"{"staleReads": {"staleReadMs": 3000}}"#);
    let id = body(&scale_in(&s, "c1"))["ChangeOrderId"]
        .as_str()
        .unwrap()
        .to_string();
    let info = |s: &SimState| {
        body(&call(
            s,
            Operation::GetChangeOrderInfo,
            &[("ChangeOrderId", &id)],
        ))
    };
    let recent = |s: &SimState| {
        body(&call(
            s,
            Operation::ListRecentChangeOrder,
            &[("AppId", "app")],
        ))["ChangeOrderList"]["ChangeOrder"]
            .as_array()
            .unwrap()
            .len()
    };
    let listed = |s: &SimState| {
        body(&call(
            s,
            Operation::QueryApplicationStatus,
            &[("AppId", "app")],
        ))["AppInfo"]["EccList"]["Ecc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["EccId"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // Just created: not yet in the recent list, not found by id.
    assert_eq!(recent(&s), 0);
    let e = info(&s);
    assert_eq!(e["Code"], 601);
    assert!(e["Message"].as_str().unwrap().contains("does not exist"));

    clock.advance(ms(1500)); // the order finished at T0+1500; c1 is gone
    assert_eq!(status(&s, &id), 2);
    assert_eq!(eccs(&s), ids(&["c2", "c3"]));
    assert_eq!(listed(&s), ids(&["c1", "c2", "c3"]), "reads still list c1");

    clock.advance(ms(1500)); // T0+3000 shows T0
    assert_eq!(info(&s)["changeOrderInfo"]["Status"], 0);
    assert_eq!(recent(&s), 1);
    clock.advance(ms(1499)); // T0+4499 shows T0+1499
    assert_eq!(info(&s)["changeOrderInfo"]["Status"], 1);
    assert_eq!(listed(&s), ids(&["c1", "c2", "c3"]));
    clock.advance(ms(1)); // T0+4500 shows T0+1500
    assert_eq!(info(&s)["changeOrderInfo"]["Status"], 2);
    assert_eq!(listed(&s), ids(&["c2", "c3"]));

    // Switched off: reads are live at once.
    scale_in(&s, "c2");
    set_faults(&s, r#"{"staleReads": null}"#);
    assert_eq!(recent(&s), 2);
}

#[test]
fn stale_reads_only_for_the_apps_named() {
    let (s, clock) = sim(1, BatchType::Automatic);
    set_faults(
        &s,
        r#"{"staleReads": {"staleReadMs": 3000, "appIds": ["app"]}}"#,
    );
    scale_in(&s, "c1");
    clock.advance(ms(5000));
    // Another fault document naming no such app is refused (names the field).
    let bad: FaultsPatch =
        serde_json::from_str(r#"{"staleReads": {"staleReadMs": 1, "appIds": ["nope"]}}"#).unwrap();
    assert!(
        s.set_faults(&bad)
            .unwrap_err()
            .starts_with("staleReads.appIds[0]")
    );
    assert_eq!(s.faults().stale_reads.unwrap().app_ids, ids(&["app"]));
}
