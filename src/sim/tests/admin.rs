//! Console actions (end an order with 6, 7 or any code), the regional ListApplication, and the
//! call log of every mutation attempt.

use super::*;

fn started(s: &SimState, clock: &ManualClock, eccs: &str) -> String {
    let id = body(&scale_in(s, eccs))["ChangeOrderId"]
        .as_str()
        .unwrap()
        .to_string();
    clock.advance(ms(1600)); // first ECC removed, second in flight
    id
}

#[test]
fn ending_with_6_aborts_and_unfinished_eccs_stay() {
    let (s, clock) = sim(1, BatchType::Automatic);
    let id = started(&s, &clock, "c1,c2");
    let snap = s.end_change_order(&id, 6).unwrap();
    assert_eq!(snap.status, 6);
    clock.advance(ms(10_000));
    assert_eq!(status(&s, &id), 6);
    assert_eq!(eccs(&s), ids(&["c2", "c3"]));
    assert!(s.snapshot().apps[0].eccs.iter().all(|e| e.task_state == 2));
    assert_eq!(scale_in(&s, "c3").http_status, 200, "the app is free again");
}

#[test]
fn ending_with_7_rolls_back_the_removed_eccs() {
    let (s, clock) = sim(1, BatchType::Automatic);
    let id = started(&s, &clock, "c1,c2");
    assert_eq!(eccs(&s), ids(&["c2", "c3"]));
    s.end_change_order(&id, 7).unwrap();
    let mut now = eccs(&s);
    now.sort();
    assert_eq!(now, ids(&["c1", "c2", "c3"]), "c1 came back");
    let info = body(&call(
        &s,
        Operation::GetChangeOrderInfo,
        &[("ChangeOrderId", &id)],
    ));
    assert_eq!(info["changeOrderInfo"]["Status"], 7);
    let recent = body(&call(
        &s,
        Operation::ListRecentChangeOrder,
        &[("AppId", "app")],
    ));
    assert_eq!(recent["ChangeOrderList"]["ChangeOrder"][0]["Status"], 7);
    clock.advance(ms(10_000));
    assert_eq!(eccs(&s).len(), 3);
}

#[test]
fn ending_with_an_unknown_code_leaves_the_eccs_as_they_are() {
    let (s, clock) = sim(1, BatchType::Automatic);
    let id = started(&s, &clock, "c1,c2");
    for code in [11, 4] {
        assert_eq!(s.end_change_order(&id, code).unwrap().status, code);
        let info = body(&call(
            &s,
            Operation::GetChangeOrderInfo,
            &[("ChangeOrderId", &id)],
        ));
        assert_eq!(info["changeOrderInfo"]["Status"], code);
    }
    clock.advance(ms(10_000));
    assert_eq!(eccs(&s), ids(&["c2", "c3"]));
    assert_eq!(
        scale_in(&s, "c2").http_status,
        200,
        "not unfinished: the app is free"
    );
}

#[test]
fn a_finished_order_can_be_rolled_back_and_bad_requests_are_refused() {
    let (s, clock) = sim(1, BatchType::Automatic);
    let id = started(&s, &clock, "c1");
    assert_eq!(status(&s, &id), 2);
    s.end_change_order(&id, 7).unwrap();
    assert_eq!(eccs(&s), ids(&["c2", "c3", "c1"]));
    for code in [0, 1, 8, 9] {
        let e = s.end_change_order(&id, code).unwrap_err();
        assert_eq!(e.http_status, 400);
        assert!(e.message.starts_with("status:"), "{}", e.message);
    }
    assert_eq!(s.end_change_order("nope", 6).unwrap_err().http_status, 404);
    // A scale-out rolled back loses the ECC it created.
    let out = call(
        &s,
        Operation::ScaleOutApplication,
        &[
            ("AppId", "app"),
            ("DeployGroup", "app-default"),
            ("EcuInfo", "u4"),
        ],
    );
    let out_id = body(&out)["ChangeOrderId"].as_str().unwrap().to_string();
    clock.advance(ms(5000));
    assert_eq!(eccs(&s).len(), 4);
    s.end_change_order(&out_id, 7).unwrap();
    assert_eq!(eccs(&s), ids(&["c2", "c3", "c1"]));
}

fn two_regions() -> SimState {
    let mut d = doc(1, BatchType::Automatic);
    let mut other = d.apps[0].clone();
    other.app_id = "bj-app".into();
    other.region_id = "cn-beijing".into();
    for u in other.ecus.iter_mut() {
        u.ecu_id = format!("bj-{}", u.ecu_id);
    }
    for e in other.eccs.iter_mut() {
        e.ecc_id = format!("bj-{}", e.ecc_id);
        e.ecu_id = format!("bj-{}", e.ecu_id);
    }
    d.apps.push(other);
    SimState::with_clock(d, ManualClock::new(T0)).unwrap()
}

fn listed(s: &SimState, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Vec<String> {
    let a = call_with(s, Operation::ListApplication, params, headers);
    body(&a)["ApplicationList"]["Application"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["AppId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn list_application_is_regional() {
    let s = two_regions();
    assert_eq!(listed(&s, &[], &[]), ids(&["app", "bj-app"]));
    let hz = [("x-acs-region-id", "cn-hangzhou")];
    let bj = [("x-acs-region-id", "cn-beijing")];
    assert_eq!(listed(&s, &[], &hz), ids(&["app"]));
    assert_eq!(listed(&s, &[], &bj), ids(&["bj-app"]));
    assert_eq!(
        listed(&s, &[("RegionId", "cn-beijing")], &[]),
        ids(&["bj-app"])
    );
    assert_eq!(
        listed(&s, &[("LogicalRegionId", "cn-hangzhou:ns1")], &[]),
        ids(&["app"])
    );
    assert!(listed(&s, &[("RegionId", "cn-beijing")], &hz).is_empty());
    assert!(listed(&s, &[], &[("x-acs-region-id", "eu-west-1")]).is_empty());
}

#[test]
fn every_mutation_attempt_is_logged_with_its_eccs_whatever_became_of_it() {
    let (s, _) = sim(1, BatchType::Automatic);
    s.reset(StateDocument {
        limits: BTreeMap::from([("ScaleInApplication".to_string(), 3)]),
        ..doc(1, BatchType::Automatic)
    })
    .unwrap();
    assert_eq!(scale_in(&s, "c1").http_status, 200);
    let busy = scale_in(&s, "c2, c3");
    assert_eq!(body(&busy)["Code"], 601);
    let bad = call(
        &s,
        Operation::ScaleInApplication,
        &[("AppId", "app"), ("EccInfo", "c3,,c2")],
    );
    assert_eq!(bad.http_status, 400);
    let throttled = scale_in(&s, "c3");
    assert_eq!(body(&throttled)["Code"], "Throttling.User");
    set_faults(&s, r#"{"errorRate": 1}"#);
    assert_eq!(scale_in(&s, "c2").http_status, 503);
    let out = call(
        &s,
        Operation::ScaleOutApplication,
        &[
            ("AppId", "app"),
            ("DeployGroup", "app-default"),
            ("EcuInfo", "u4"),
        ],
    );
    assert_eq!(out.http_status, 503);
    let calls = s.calls();
    let attempts: Vec<(u16, Vec<String>, Vec<String>)> = calls
        .iter()
        .filter(|c| c.is_scale_attempt())
        .map(|c| (c.http_status, c.ecc_ids.clone(), c.ecu_ids.clone()))
        .collect();
    assert_eq!(
        attempts,
        vec![
            (200, ids(&["c1"]), vec![]),
            (200, ids(&["c2", "c3"]), vec![]),
            (400, ids(&["c3", "c2"]), vec![]),
            (400, ids(&["c3"]), vec![]),
            (503, ids(&["c2"]), vec![]),
            (503, vec![], ids(&["u4"])),
        ]
    );
    assert_eq!(calls[1].code, 601);
    let per_ecc = crate::sim::scale_in_attempts_per_ecc(&calls);
    assert_eq!(
        per_ecc.into_iter().collect::<Vec<_>>(),
        vec![("c1".into(), 1), ("c2".into(), 3), ("c3".into(), 3)]
    );
    assert_eq!(calls[4].fault.as_deref(), Some("errorRate"));
    assert!(
        calls
            .iter()
            .all(|c| c.access_key_id.as_deref() == Some("ak") || c.http_status == 503)
    );
}
