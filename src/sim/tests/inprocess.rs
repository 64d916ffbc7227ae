//! `InProcessEdas`: the `EdasApi` without HTTP, on a ManualClock, failing as the real client
//! does.

use super::*;
use crate::edas::error::TransportKind;
use crate::edas::{CoStatus, EdasApi, EdasError};
use crate::sim::InProcessEdas;

fn edas() -> (InProcessEdas, Arc<ManualClock>) {
    let (s, clock) = sim(1, BatchType::Automatic);
    (InProcessEdas::new(s, "ak"), clock)
}

fn source(e: &EdasError) -> &EdasError {
    match e {
        EdasError::OutcomeUnknown { source, .. } => source,
        other => panic!("expected OutcomeUnknown, got {other:?}"),
    }
}

#[tokio::test]
async fn scale_in_is_followed_to_succeeded_by_moving_the_clock() {
    let (e, clock) = edas();
    let id = e
        .scale_in_application("app", &ids(&["c1", "c2"]), false)
        .await
        .unwrap()
        .unwrap();
    let info = e.get_change_order_info(&id).await.unwrap();
    assert_eq!(info.status, CoStatus::Ready);
    assert_eq!(info.targets, ids(&["c1", "c2"]));
    clock.advance(ms(1600));
    assert_eq!(
        e.get_change_order_info(&id).await.unwrap().status,
        CoStatus::Running
    );
    clock.advance(ms(1000));
    assert_eq!(
        e.get_change_order_info(&id).await.unwrap().status,
        CoStatus::Succeeded
    );
    let app = e.query_application_status("app").await.unwrap();
    assert_eq!(app.eccs.len(), 1);
    assert_eq!(app.eccs[0].instance_id, "i-3");
    let recent = e.list_recent_change_orders("app").await.unwrap();
    assert_eq!(
        (recent[0].id.as_str(), recent[0].status),
        (id.as_str(), CoStatus::Succeeded)
    );
    let calls = e.state().calls();
    assert_eq!(calls[0].action, "ScaleInApplication");
    assert_eq!(calls[0].ecc_ids, ids(&["c1", "c2"]));
    assert_eq!(calls[0].access_key_id.as_deref(), Some("ak"));
}

#[tokio::test]
async fn late_apply_is_outcome_unknown_and_happens_later() {
    let (e, clock) = edas();
    set_faults(e.state(), r#"{"lateApply": {"lateApplyMs": 4000}}"#);
    let err = e
        .scale_in_application("app", &ids(&["c1"]), false)
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown() && err.is_retryable(), "{err:?}");
    assert!(matches!(
        source(&err),
        EdasError::Gateway { http_status: 504, code, .. } if code == "ServiceTimeout"
    ));
    assert!(e.list_recent_change_orders("app").await.unwrap().is_empty());
    clock.advance(ms(4000));
    let recent = e.list_recent_change_orders("app").await.unwrap();
    assert_eq!(recent.len(), 1);
    clock.advance(ms(1500));
    assert_eq!(
        e.get_change_order_info(&recent[0].id).await.unwrap().status,
        CoStatus::Succeeded
    );
    let app = e.query_application_status("app").await.unwrap();
    assert!(!app.eccs.iter().any(|c| c.ecc_id == "c1"));

    set_faults(
        e.state(),
        r#"{"lateApply": {"mode": "drop", "lateApplyMs": 1}}"#,
    );
    let err = e
        .scale_in_application("app", &ids(&["c2"]), true)
        .await
        .unwrap_err();
    assert!(matches!(
        source(&err),
        EdasError::Transport {
            kind: TransportKind::Reset,
            ..
        }
    ));
    set_faults(
        e.state(),
        r#"{"lateApply": {"mode": "hang", "lateApplyMs": 1}}"#,
    );
    let err = e
        .scale_out_application("app", "app-default", &ids(&["u4"]))
        .await
        .unwrap_err();
    assert!(matches!(
        source(&err),
        EdasError::Transport {
            kind: TransportKind::Timeout,
            ..
        }
    ));
}

#[tokio::test]
async fn faults_become_the_errors_the_real_client_returns() {
    let (e, _) = edas();
    let s = e.state().clone();
    set_faults(&s, r#"{"errorRate": 1}"#);
    let read = e.query_application_status("app").await.unwrap_err();
    assert!(
        matches!(&read, EdasError::Gateway { http_status: 503, code, .. } if code == "ServiceUnavailable")
    );
    assert!(read.is_retryable() && !read.is_outcome_unknown());
    let write = e
        .scale_in_application("app", &ids(&["c1"]), false)
        .await
        .unwrap_err();
    assert!(matches!(
        source(&write),
        EdasError::Gateway {
            http_status: 503,
            ..
        }
    ));

    set_faults(&s, r#"{"errorRate": 0, "throttleRate": 1}"#);
    let t = e
        .scale_in_application("app", &ids(&["c1"]), false)
        .await
        .unwrap_err();
    assert!(
        t.is_throttling() && t.is_retryable() && !t.is_outcome_unknown(),
        "{t:?}"
    );

    set_faults(&s, r#"{"throttleRate": 0, "dropRate": 1}"#);
    let d = e.get_application("app").await.unwrap_err();
    assert!(matches!(
        d,
        EdasError::Transport {
            kind: TransportKind::Reset,
            ..
        }
    ));
    assert!(d.is_retryable());
    let applied = e
        .scale_in_application("app", &ids(&["c1"]), false)
        .await
        .unwrap_err();
    assert!(
        applied.is_outcome_unknown(),
        "dropRate: applied, answer lost"
    );

    set_faults(&s, r#"{"dropRate": 0, "malformedRate": 1}"#);
    let m = e.list_recent_change_orders("app").await.unwrap_err();
    assert!(matches!(
        m,
        EdasError::Decode {
            http_status: 200,
            ..
        }
    ));

    set_faults(&s, r#"{"malformedRate": 0}"#);
    let busy = e
        .scale_in_application("app", &ids(&["c2"]), false)
        .await
        .unwrap_err();
    assert!(busy.is_change_order_in_progress(), "{busy}");
    assert!(matches!(
        busy,
        EdasError::Business {
            code: 601,
            http_status: 200,
            ..
        }
    ));
    assert!(!busy.is_outcome_unknown());

    let stranger = InProcessEdas::new(s.clone(), "nobody");
    let auth = stranger.list_applications().await.unwrap_err();
    assert!(auth.is_auth(), "{auth:?}");
}

#[tokio::test]
async fn rate_windows_and_regions_apply_in_process_too() {
    let (s, _) = sim(1, BatchType::Automatic);
    s.reset(StateDocument {
        limits: BTreeMap::from([("GetApplication".to_string(), 2)]),
        ..doc(1, BatchType::Automatic)
    })
    .unwrap();
    let e = InProcessEdas::new(s, "ak");
    e.get_application("app").await.unwrap();
    e.get_application("app").await.unwrap();
    assert!(e.get_application("app").await.unwrap_err().is_throttling());
    assert_eq!(e.list_applications().await.unwrap().len(), 1);
    let elsewhere = e.clone().with_region("cn-beijing");
    assert!(elsewhere.list_applications().await.unwrap().is_empty());
}

#[tokio::test]
async fn partial_ecu_list_and_duplicate_rows_reach_the_domain_types() {
    let (e, _) = edas();
    set_faults(e.state(), r#"{"partialEcuList": {"mode": "missing"}}"#);
    let app = e.query_application_status("app").await.unwrap();
    let hosts: Vec<&str> = app.eccs.iter().map(|c| c.instance_id.as_str()).collect();
    assert_eq!(hosts, vec!["", "i-2", ""], "the join fails for c1 and c3");
    set_faults(
        e.state(),
        r#"{"partialEcuList": null, "duplicateRows": {"firstOnly": true}}"#,
    );
    let app = e.query_application_status("app").await.unwrap();
    let rows: Vec<(&str, bool)> = app
        .eccs
        .iter()
        .map(|c| (c.ecc_id.as_str(), c.is_healthy()))
        .collect();
    assert_eq!(
        rows,
        vec![("c1", true), ("c2", true), ("c3", true), ("c1", false)]
    );
}

#[tokio::test]
async fn async_force_answers_none_and_the_ecc_leaves_later() {
    let (e, clock) = edas();
    set_faults(e.state(), r#"{"asyncForce": {"delayMs": 2000}}"#);
    assert_eq!(
        e.scale_in_application("app", &ids(&["c3"]), true)
            .await
            .unwrap(),
        None
    );
    let listed = |a: crate::edas::AppStatus| a.eccs.iter().any(|c| c.ecc_id == "c3");
    assert!(listed(e.query_application_status("app").await.unwrap()));
    clock.advance(ms(2000));
    assert!(!listed(e.query_application_status("app").await.unwrap()));
}

#[test]
fn console_order_still_starts_with_the_default_source() {
    let (s, _) = sim(1, BatchType::Automatic);
    let id = s
        .start_change_order(
            "app",
            &ConsoleOrderRequest {
                co_type: "CoScaleIn".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let snap = s.snapshot();
    assert_eq!(snap.change_orders[0].change_order_id, id);
    assert_eq!(snap.change_orders[0].source, "console");
    assert_eq!(snap.change_orders[0].ecc_ids, ids(&["c3"]));
    let e = s
        .with(|i, now| i.scale_in("app", &ids(&["c1"]), false, "pop", now))
        .unwrap_err();
    assert!(matches!(e, ApiError::Business { code: 601, .. }));
}
