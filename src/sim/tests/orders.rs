//! The change-order machine, the operations and the gateway's bookkeeping, on a ManualClock.

use super::*;

#[test]
fn scale_in_moves_0_1_2_and_eccs_leave_as_their_tasks_finish() {
    let (s, clock) = sim(1, BatchType::Automatic);
    let id = s
        .with(|i, now| i.scale_in("app", &ids(&["c1", "c2"]), false, "pop", now))
        .unwrap()
        .unwrap();
    assert_eq!(status(&s, &id), 0);
    clock.advance(Duration::from_millis(600)); // start at +0.5 s
    assert_eq!(status(&s, &id), 1);
    assert_eq!(eccs(&s), ids(&["c1", "c2", "c3"]));
    assert_eq!(s.snapshot().apps[0].eccs[0].task_state, 1);
    clock.advance(Duration::from_millis(1000)); // first task done at +1.5 s
    assert_eq!(eccs(&s), ids(&["c2", "c3"]));
    assert_eq!(status(&s, &id), 1);
    clock.advance(Duration::from_millis(1000));
    assert_eq!(eccs(&s), ids(&["c3"]));
    assert_eq!(status(&s, &id), 2);
    let snap = s.snapshot();
    assert_eq!(snap.change_orders[0].ecc_ids, ids(&["c1", "c2"]));
    assert!(snap.change_orders[0].finished_at.is_some());
}

#[test]
fn second_mutation_while_an_order_runs_is_601_in_progress() {
    let (s, _) = sim(1, BatchType::Automatic);
    s.with(|i, now| i.scale_in("app", &ids(&["c1"]), false, "pop", now))
        .unwrap();
    let e = s
        .with(|i, now| i.scale_in("app", &ids(&["c2"]), false, "pop", now))
        .unwrap_err();
    let ApiError::Business { code, message } = e else {
        panic!("{e:?}")
    };
    assert_eq!(code, 601);
    assert!(message.contains("change order is in progress"), "{message}");
}

#[test]
fn unknown_ecc_is_named_in_the_601() {
    let (s, _) = sim(1, BatchType::Automatic);
    let e = s
        .with(|i, now| i.scale_in("app", &ids(&["c1", "nope"]), false, "pop", now))
        .unwrap_err();
    assert!(matches!(e, ApiError::Business { code: 601, ref message } if message.contains("nope")));
    let e = s
        .with(|i, now| i.scale_in("ghost", &ids(&["c1"]), false, "pop", now))
        .unwrap_err();
    assert!(
        matches!(e, ApiError::Business { code: 601, ref message } if message.contains("ghost does not exist"))
    );
}

#[test]
fn forced_scale_in_removes_at_once_without_an_order() {
    let (s, _) = sim(1, BatchType::Automatic);
    let r = s.with(|i, now| i.scale_in("app", &ids(&["c1", "c2", "c3"]), true, "pop", now));
    assert_eq!(r, Ok(None));
    assert!(eccs(&s).is_empty());
    assert!(s.snapshot().change_orders.is_empty());
}

#[test]
fn manual_batches_pause_at_8_until_continued() {
    let (s, clock) = sim(3, BatchType::Manual);
    let id = s
        .with(|i, now| i.scale_in("app", &ids(&["c1", "c2", "c3"]), false, "pop", now))
        .unwrap()
        .unwrap();
    clock.advance(Duration::from_millis(1600));
    assert_eq!(status(&s, &id), 8);
    assert_eq!(eccs(&s), ids(&["c2", "c3"]));
    clock.advance(Duration::from_secs(60));
    assert_eq!(status(&s, &id), 8, "a manual order waits for ever");
    let info = s.with(|i, now| i.change_order_info(&id, now).unwrap());
    let pipes = &info.pipeline_info_list.items;
    assert_eq!(pipes.len(), 3);
    assert_eq!(pipes[1].pipeline_status, Some(8));
    s.with(|i, now| i.continue_pipeline(&pipes[1].pipeline_id, true, now))
        .unwrap();
    assert_eq!(status(&s, &id), 1);
    clock.advance(Duration::from_millis(1000));
    assert_eq!(status(&s, &id), 8);
    assert_eq!(eccs(&s), ids(&["c3"]));
    let e = s
        .with(|i, now| i.continue_pipeline("nope", true, now))
        .unwrap_err();
    assert!(matches!(e, ApiError::Business { code: 601, .. }));
}

#[test]
fn abort_stops_at_6_and_keeps_the_rest() {
    let (s, clock) = sim(1, BatchType::Automatic);
    let id = s
        .with(|i, now| i.scale_in("app", &ids(&["c1", "c2"]), false, "pop", now))
        .unwrap()
        .unwrap();
    clock.advance(Duration::from_millis(1600));
    s.with(|i, now| i.abort(&id, now)).unwrap();
    assert_eq!(status(&s, &id), 6);
    clock.advance(Duration::from_secs(10));
    assert_eq!(eccs(&s), ids(&["c2", "c3"]));
    assert!(s.snapshot().apps[0].eccs.iter().all(|e| e.task_state == 2));
    let e = s.with(|i, now| i.abort(&id, now)).unwrap_err();
    assert!(
        matches!(e, ApiError::Business { code: 601, ref message } if message.contains("already finished"))
    );
}

#[test]
fn injected_failure_fails_the_last_task_and_keeps_its_ecc() {
    let (s, clock) = sim(1, BatchType::Automatic);
    s.set_faults(&FaultsPatch {
        fail_next_change_orders: Some(1),
        ..Default::default()
    })
    .unwrap();
    let id = s
        .with(|i, now| i.scale_in("app", &ids(&["c1", "c2"]), false, "pop", now))
        .unwrap()
        .unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(status(&s, &id), 3);
    assert_eq!(eccs(&s), ids(&["c2", "c3"]));
    let info = s.with(|i, now| i.change_order_info(&id, now).unwrap());
    let task = &info.pipeline_info_list.items[0].stage_detail_list.items[0]
        .task_list
        .items[1];
    assert_eq!(task.task_error_code.as_deref(), Some("INJECTED_FAILURE"));
    assert_eq!(s.faults().fail_next_change_orders, 0);
    // The next one succeeds.
    let id2 = s
        .with(|i, now| i.scale_in("app", &ids(&["c2"]), false, "pop", now))
        .unwrap()
        .unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(status(&s, &id2), 2);
}

#[test]
fn stalled_orders_stay_at_1_until_the_fault_is_cleared() {
    let (s, clock) = sim(1, BatchType::Automatic);
    s.set_faults(&FaultsPatch {
        stall_change_orders: Some(true),
        ..Default::default()
    })
    .unwrap();
    let id = s
        .with(|i, now| i.scale_in("app", &ids(&["c1"]), false, "pop", now))
        .unwrap()
        .unwrap();
    clock.advance(Duration::from_secs(600));
    assert_eq!(status(&s, &id), 1);
    s.set_faults(&FaultsPatch {
        stall_change_orders: Some(false),
        ..Default::default()
    })
    .unwrap();
    clock.advance(Duration::from_millis(1000));
    assert_eq!(status(&s, &id), 2);
}

#[test]
fn scale_out_adds_eccs_on_free_ecus() {
    let (s, clock) = sim(1, BatchType::Automatic);
    let free = s.with(|i, now| i.scale_out_ecus(Some("app"), None, None, now).unwrap());
    assert_eq!(free.len(), 1);
    assert_eq!(free[0].ecu_id, "u4");
    let e = s
        .with(|i, now| i.scale_out("app", "app-default", &ids(&["u1"]), "pop", now))
        .unwrap_err();
    assert!(matches!(e, ApiError::Business { code: 601, ref message } if message.contains("u1")));
    let id = s
        .with(|i, now| i.scale_out("app", "app-default", &ids(&["u4"]), "pop", now))
        .unwrap();
    assert!(s.snapshot().apps[0].free_ecu_ids.is_empty());
    clock.advance(Duration::from_secs(5));
    assert_eq!(status(&s, &id), 2);
    let snap = s.snapshot();
    assert_eq!(snap.apps[0].eccs.len(), 4);
    assert_eq!(snap.apps[0].eccs[3].ecu_id, "u4");
    assert_eq!(
        snap.change_orders[0].ecc_ids,
        vec![snap.apps[0].eccs[3].ecc_id.clone()]
    );
}

#[test]
fn console_orders_are_listed_newest_first_with_their_source() {
    let (s, clock) = sim(1, BatchType::Automatic);
    let first = s
        .start_change_order(
            "app",
            &ConsoleOrderRequest {
                co_type: "CoRestart".into(),
                ..Default::default()
            },
        )
        .unwrap();
    clock.advance(Duration::from_secs(10));
    let second = s
        .with(|i, now| i.scale_in("app", &ids(&["c1"]), false, "pop", now))
        .unwrap()
        .unwrap();
    let list = s.with(|i, now| i.recent_change_orders("app", now).unwrap());
    assert_eq!(list[0].change_order_id, second);
    assert_eq!(list[0].source.as_deref(), Some("pop"));
    assert_eq!(list[0].co_type_code.as_deref(), Some("CoScaleIn"));
    assert!(
        list[0]
            .change_order_description
            .as_deref()
            .unwrap()
            .contains("EccIds=c1")
    );
    assert_eq!(list[1].change_order_id, first);
    assert_eq!(list[1].source.as_deref(), Some("console"));
    assert_eq!(list[1].status, Some(2));
    let busy = s
        .start_change_order(
            "app",
            &ConsoleOrderRequest {
                co_type: "CoDeploy".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(busy.http_status, 409);
    let bad = s
        .start_change_order(
            "app",
            &ConsoleOrderRequest {
                co_type: "CoNothing".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(bad.http_status, 400);
}

#[test]
fn rate_window_slides_and_refusals_do_not_count() {
    let (s, clock) = sim(1, BatchType::Automatic);
    s.reset(StateDocument {
        limits: BTreeMap::from([("QueryApplicationStatus".to_string(), 2)]),
        ..doc(1, BatchType::Automatic)
    })
    .unwrap();
    let op = Operation::QueryApplicationStatus;
    let take = |s: &SimState| s.with(|i, now| i.gateway.take_rate("ak", op, now));
    assert!(take(&s).is_ok());
    assert!(take(&s).is_ok());
    assert_eq!(take(&s).unwrap_err().code, "Throttling.User");
    assert!(
        s.with(|i, now| i.gateway.take_rate("other", op, now))
            .is_ok()
    );
    clock.advance(Duration::from_secs(60));
    assert!(take(&s).is_ok());
    // Undocumented operations have no limit unless configured.
    for _ in 0..500 {
        assert!(
            s.with(|i, now| i
                .gateway
                .take_rate("ak", Operation::ScaleInApplication, now))
                .is_ok()
        );
    }
}

#[test]
fn nonce_is_single_use() {
    let (s, _) = sim(1, BatchType::Automatic);
    assert!(
        s.with(|i, now| i.gateway.use_nonce("ak", "n1", now))
            .is_ok()
    );
    assert_eq!(
        s.with(|i, now| i.gateway.use_nonce("ak", "n1", now))
            .unwrap_err()
            .code,
        "SignatureNonceUsed"
    );
}

#[test]
fn batches_split_instances_evenly() {
    let (s, _) = sim(2, BatchType::Automatic);
    let id = s
        .with(|i, now| i.scale_in("app", &ids(&["c1", "c2", "c3"]), false, "pop", now))
        .unwrap()
        .unwrap();
    let info = s.with(|i, now| i.change_order_info(&id, now).unwrap());
    let sizes: Vec<usize> = info
        .pipeline_info_list
        .items
        .iter()
        .map(|p| p.stage_detail_list.items[0].task_list.items.len())
        .collect();
    assert_eq!(sizes, vec![2, 1]);
    assert_eq!(info.batch_count, Some(2));
    assert_eq!(info.targets.unwrap().items, ids(&["c1", "c2", "c3"]));
}
