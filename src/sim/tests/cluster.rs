//! Cluster-level ECUs (an ECU listed with any app of a cluster is free for every app of that
//! cluster while no app runs on it) and the `unhealthyScaleOut` fault.

use super::*;
use crate::sim::document::parse_document;

/// `app` (u1..u3 running, u4 free) and `other` in the default cluster of cn-hangzhou
/// (`other` runs oc1 on o1; o2 and o3 are free and share an IP), and `far` in `cluster-far`
/// (f1 free).
fn cluster_doc() -> StateDocument {
    let mut d = doc(1, BatchType::Automatic);
    let ecu = |id: &str, instance: &str, ip: &str| EcuDoc {
        ecu_id: id.into(),
        instance_id: instance.into(),
        ip: ip.into(),
        group_id: None,
    };
    d.apps.push(AppDoc {
        app_id: "other".into(),
        region_id: "cn-hangzhou".into(),
        ecus: vec![
            ecu("o1", "i-o1", "10.0.1.1"),
            ecu("o2", "i-o2", "10.0.1.2"),
            ecu("o3", "i-o3", "10.0.1.2"),
        ],
        eccs: vec![EccDoc {
            ecc_id: "oc1".into(),
            ecu_id: "o1".into(),
            group_id: None,
            app_state: 7,
            task_state: 2,
        }],
        ..Default::default()
    });
    d.apps.push(AppDoc {
        app_id: "far".into(),
        region_id: "cn-hangzhou".into(),
        cluster_id: Some("cluster-far".into()),
        ecus: vec![ecu("f1", "i-f1", "10.0.2.1")],
        ..Default::default()
    });
    d
}

fn cluster_sim() -> (SimState, Arc<ManualClock>) {
    let clock = ManualClock::new(T0);
    let s = SimState::with_clock(cluster_doc(), clock.clone()).unwrap();
    (s, clock)
}

/// ListScaleOutEcu through the API pipeline: the ECU ids listed.
fn listed(s: &SimState, params: &[(&str, &str)]) -> Vec<String> {
    let a = call(s, Operation::ListScaleOutEcu, params);
    let b = body(&a);
    assert_eq!(b["Code"], 200, "{b}");
    b["EcuInfoList"]["EcuInfo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["EcuId"].as_str().unwrap().to_string())
        .collect()
}

fn scale_out(s: &SimState, app: &str, ecus: &str) -> Value {
    let group = format!("{app}-default");
    body(&call(
        s,
        Operation::ScaleOutApplication,
        &[("AppId", app), ("DeployGroup", &group), ("EcuInfo", ecus)],
    ))
}

fn app_status(s: &SimState, app: &str) -> Value {
    let b = body(&call(
        s,
        Operation::QueryApplicationStatus,
        &[("AppId", app)],
    ));
    b["AppInfo"].clone()
}

/// (EccId, EcuId, AppState) of an EccList row.
type EccRow = (String, String, i64);

/// An app's EccList rows, and its EcuList's (EcuId, InstanceId).
fn rows(info: &Value) -> (Vec<EccRow>, Vec<(String, String)>) {
    let s = |v: &Value| v.as_str().unwrap().to_string();
    let eccs = info["EccList"]["Ecc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                s(&e["EccId"]),
                s(&e["EcuId"]),
                e["AppState"].as_i64().unwrap(),
            )
        })
        .collect();
    let ecus = info["EcuList"]["Ecu"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (s(&u["EcuId"]), s(&u["InstanceId"])))
        .collect();
    (eccs, ecus)
}

#[test]
fn scale_out_ecus_are_those_of_the_cluster_that_no_app_runs_on() {
    let (s, _) = cluster_sim();
    assert_eq!(
        listed(&s, &[("AppId", "app")]),
        ids(&["u4", "o2", "o3"]),
        "the app's own ECUs first, then the cluster's; o1 runs `other`"
    );
    assert_eq!(listed(&s, &[("AppId", "other")]), ids(&["o2", "o3", "u4"]));
    assert_eq!(
        listed(&s, &[("ClusterId", "cluster-cn-hangzhou")]),
        ids(&["u4", "o2", "o3"])
    );
    assert_eq!(listed(&s, &[("ClusterId", "cluster-far")]), ids(&["f1"]));
    assert_eq!(listed(&s, &[("AppId", "far")]), ids(&["f1"]));
    assert!(listed(&s, &[("AppId", "app"), ("ClusterId", "cluster-far")]).is_empty());
    assert!(listed(&s, &[("ClusterId", "cluster-nowhere")]).is_empty());
    assert_eq!(
        listed(&s, &[("AppId", "app"), ("InstanceNum", "2")]),
        ids(&["u4", "o2"])
    );
    let snap = s.snapshot();
    assert_eq!(snap.apps[1].free_ecu_ids, ids(&["o2", "o3"]), "its own");
}

#[test]
fn scale_out_onto_an_ecu_listed_with_another_app_of_the_cluster_is_accepted() {
    let (s, clock) = cluster_sim();
    let b = scale_out(&s, "app", "o2");
    assert_eq!(b["Code"], 200, "{b}");
    let id = b["ChangeOrderId"].as_str().unwrap().to_string();
    // While the order runs, no app may take o2.
    assert_eq!(listed(&s, &[("AppId", "other")]), ids(&["o3", "u4"]));
    let b = scale_out(&s, "other", "o2");
    assert_eq!(b["Code"], 601);
    let m = b["Message"].as_str().unwrap();
    assert!(m.contains("o2") && m.contains(&id), "{m}");
    clock.advance(ms(5000));
    assert_eq!(status(&s, &id), 2);
    let (eccs, ecus) = rows(&app_status(&s, "app"));
    let new = eccs.last().unwrap();
    assert_eq!((new.1.as_str(), new.2), ("o2", 7));
    assert!(ecus.contains(&("o2".into(), "i-o2".into())), "{ecus:?}");
    let ip = app_status(&s, "app")["EccList"]["Ecc"][3]["Ip"].clone();
    assert_eq!(ip, "10.0.1.2");
    let snap = s.snapshot();
    assert_eq!(snap.apps[0].eccs[3].instance_id, "i-o2");
    // `other` lists it no more and cannot take it: it runs `app` now.
    assert_eq!(listed(&s, &[("AppId", "other")]), ids(&["o3", "u4"]));
    let b = scale_out(&s, "other", "o2");
    let m = b["Message"].as_str().unwrap();
    assert_eq!(b["Code"], 601);
    assert!(
        m.contains("ECU o2") && m.contains("already runs an application: app"),
        "{m}"
    );
    assert_eq!(rows(&app_status(&s, "other")).0.len(), 1, "nothing changed");
}

#[test]
fn scale_out_onto_a_taken_or_foreign_ecu_is_a_601_naming_it_and_changes_nothing() {
    let (s, _) = cluster_sim();
    let cases = [
        ("o1", "already runs an application: other"),
        ("u1", "already runs the application"),
        ("f1", "not in the application's cluster"),
        ("nope", "not in the application's cluster"),
        ("u4,o1", "ECU o1"),
    ];
    for (ecus, says) in cases {
        let b = scale_out(&s, "app", ecus);
        assert_eq!(b["Code"], 601, "{ecus}: {b}");
        let m = b["Message"].as_str().unwrap();
        assert!(m.contains(says), "{ecus}: {m}");
        assert!(m.contains(ecus.rsplit(',').next().unwrap()), "{m}");
    }
    let snap = s.snapshot();
    assert!(snap.change_orders.is_empty());
    assert_eq!(eccs(&s), ids(&["c1", "c2", "c3"]));
    assert_eq!(snap.apps[0].free_ecu_ids, ids(&["u4"]));
    assert_eq!(snap.apps[1].free_ecu_ids, ids(&["o2", "o3"]));
}

#[test]
fn two_ecus_sharing_an_ip_are_two_hosts() {
    let (s, clock) = cluster_sim();
    let b = scale_out(&s, "other", "o2,o3");
    assert_eq!(b["Code"], 200, "{b}");
    clock.advance(ms(10_000));
    let info = app_status(&s, "other");
    let (eccs, ecus) = rows(&info);
    let on: Vec<&str> = eccs.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(on, vec!["o1", "o2", "o3"]);
    assert_eq!(
        ecus[1..],
        [("o2".into(), "i-o2".into()), ("o3".into(), "i-o3".into())]
    );
    assert_eq!(
        info["EccList"]["Ecc"][1]["Ip"],
        info["EccList"]["Ecc"][2]["Ip"]
    );
}

#[test]
fn an_ecu_listed_by_two_apps_must_be_the_same_host_and_run_one_app() {
    let base = r#"
accessKeys: [{id: ak, secret: sk}]
apps:
  - appId: a
    ecus: [{ecuId: u1, instanceId: i-1, ip: 10.0.0.1}, {ecuId: u2, instanceId: i-2, ip: 10.0.0.1}]
    eccs: [{eccId: c1, ecuId: u1}]
  - appId: b
    ecus: [{ecuId: u2, instanceId: i-2, ip: 10.0.0.1, groupId: gb}]
    groups: [{groupId: gb}]
"#;
    let d = parse_document(base).unwrap();
    let s = SimState::with_clock(d, ManualClock::new(T0)).unwrap();
    let free = s.snapshot();
    assert_eq!(free.apps[0].free_ecu_ids, ids(&["u2"]));
    assert_eq!(free.apps[1].free_ecu_ids, ids(&["u2"]), "listed with both");
    assert_eq!(
        s.with(|i, now| i.scale_out_ecus(Some("b"), None, None, now).unwrap())
            .len(),
        1,
        "offered once"
    );
    let cases = [
        (
            base.replace("{ecuId: u2, instanceId: i-2, ip: 10.0.0.1, groupId", "{ecuId: u2, instanceId: i-9, ip: 10.0.0.1, groupId"),
            "apps[1].ecus[0]: ECU \"u2\" is also listed by apps[0]",
        ),
        (
            base.replace("ip: 10.0.0.1, groupId", "ip: 10.0.0.9, groupId"),
            "apps[1].ecus[0]: ECU \"u2\"",
        ),
        (
            base.replace("  - appId: b\n", "  - appId: b\n    clusterId: elsewhere\n"),
            "apps[1].ecus[0].ecuId: ECU \"u2\" is also listed by apps[0]",
        ),
        (
            base.replace(
                "    groups: [{groupId: gb}]",
                "    groups: [{groupId: gb}]\n    eccs: [{eccId: c2, ecuId: u2}]\n  - appId: c\n    \
                 ecus: [{ecuId: u2, instanceId: i-2, ip: 10.0.0.1}]\n    eccs: [{eccId: c3, ecuId: u2}]",
            ),
            "apps[2].eccs[0].ecuId: ECU \"u2\" already runs ECC \"c2\" of apps[1]",
        ),
    ];
    for (text, says) in cases {
        let e = parse_document(&text).unwrap_err().to_string();
        assert!(e.starts_with(says), "expected {says:?}, got: {e}");
    }
}

#[test]
fn unhealthy_scale_out_creates_stopped_eccs_from_a_successful_order() {
    let (s, clock) = cluster_sim();
    set_faults(&s, r#"{"unhealthyScaleOut": {"appIds": ["app"]}}"#);
    let b = scale_out(&s, "app", "u4");
    let id = b["ChangeOrderId"].as_str().unwrap().to_string();
    let other = scale_out(&s, "other", "o2");
    let other_id = other["ChangeOrderId"].as_str().unwrap().to_string();
    clock.advance(ms(5000));
    assert_eq!((status(&s, &id), status(&s, &other_id)), (2, 2));
    let info = app_status(&s, "app");
    let new = &info["EccList"]["Ecc"][3];
    assert_eq!(
        (
            new["EcuId"].clone(),
            new["AppState"].clone(),
            new["TaskState"].clone()
        ),
        ("u4".into(), 1.into(), 2.into())
    );
    assert_eq!(info["Application"]["RunningInstanceCount"], 3);
    assert_eq!(
        rows(&app_status(&s, "other")).0[1].2,
        7,
        "another app's are healthy"
    );
    // A restart brings it up; switched off, the next scale-out is healthy.
    let restart = s
        .start_change_order(
            "app",
            &ConsoleOrderRequest {
                co_type: "CoRestart".into(),
                ..Default::default()
            },
        )
        .unwrap();
    clock.advance(ms(10_000));
    assert_eq!(status(&s, &restart), 2);
    assert!(rows(&app_status(&s, "app")).0.iter().all(|e| e.2 == 7));
    set_faults(&s, r#"{"unhealthyScaleOut": null}"#);
    assert_eq!(s.faults().unhealthy_scale_out, None);
    let b = scale_out(&s, "app", "o3");
    clock.advance(ms(5000));
    assert_eq!(status(&s, b["ChangeOrderId"].as_str().unwrap()), 2);
    assert_eq!(rows(&app_status(&s, "app")).0[4].2, 7);
}

#[test]
fn unhealthy_scale_out_without_app_ids_covers_every_app_and_console_orders() {
    let (s, clock) = cluster_sim();
    set_faults(&s, r#"{"unhealthyScaleOut": {}}"#);
    let id = s
        .start_change_order(
            "far",
            &ConsoleOrderRequest {
                co_type: "CoScaleOut".into(),
                ..Default::default()
            },
        )
        .unwrap();
    clock.advance(ms(5000));
    assert_eq!(status(&s, &id), 2);
    let (eccs, _) = rows(&app_status(&s, "far"));
    assert_eq!((eccs[0].1.as_str(), eccs[0].2), ("f1", 1));
    // Scale-ins and other orders are not affected.
    let b = body(&scale_in(&s, "c1"));
    clock.advance(ms(5000));
    assert_eq!(status(&s, b["ChangeOrderId"].as_str().unwrap()), 2);
    assert!(rows(&app_status(&s, "app")).0.iter().all(|e| e.2 == 7));
    let refused = s.set_faults(
        &serde_json::from_str(r#"{"unhealthyScaleOut": {"appIds": ["ghost"]}}"#).unwrap(),
    );
    assert!(
        refused
            .unwrap_err()
            .starts_with("unhealthyScaleOut.appIds[0]")
    );
}
