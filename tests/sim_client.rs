//! The simulator driven by the project's own client (`EdasClient` through `EdasApi`), with both
//! signature algorithms, plus bad input: missing or malformed parameters and admin documents.

use edas_operator::edas::client::http_client;
use edas_operator::edas::signer::{self, SignatureAlgorithm, SigningKey, UnsignedRequest};
use edas_operator::edas::{
    ClientConfig, CoStatus, Credentials, EdasApi, EdasClient, EdasError, Operation, wire,
};
use edas_operator::sim::{
    self, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, DEMO_APP_ID, FaultsPatch, ManualClock,
    SimHandle, SimState, StateDocument,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

const ALGORITHMS: [SignatureAlgorithm; 2] = [SignatureAlgorithm::RoaV2, SignatureAlgorithm::Acs3];

fn fast_demo() -> StateDocument {
    let mut doc = StateDocument::demo();
    doc.change_orders.seconds_per_instance = 0.2;
    doc
}

async fn start(state: SimState) -> SimHandle {
    edas_operator::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    sim::start(listener, state).await.unwrap()
}

fn client_with(
    sim: &SimHandle,
    algorithm: SignatureAlgorithm,
    creds: Credentials,
    read_attempts: u32,
) -> EdasClient {
    let config = ClientConfig {
        endpoint: Some(url::Url::parse(&sim.base_url()).unwrap()),
        algorithm,
        read_attempts,
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    };
    EdasClient::new(http_client(&config).unwrap(), creds, "cn-hangzhou", config).unwrap()
}

fn demo_creds() -> Credentials {
    Credentials::new(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, None)
}

fn client(sim: &SimHandle, algorithm: SignatureAlgorithm) -> EdasClient {
    client_with(sim, algorithm, demo_creds(), 1)
}

fn ecc_ids(sim: &SimHandle) -> Vec<String> {
    sim.state().snapshot().apps[0]
        .eccs
        .iter()
        .map(|e| e.ecc_id.clone())
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

async fn wait_for(
    c: &EdasClient,
    id: &str,
    wanted: &[CoStatus],
) -> edas_operator::edas::ChangeOrderDetail {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = c.get_change_order_info(id).await.unwrap();
        if wanted.contains(&info.status) {
            return info;
        }
        assert!(Instant::now() < deadline, "{id} stuck at {:?}", info.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn gateway_code(e: &EdasError) -> (&str, u16) {
    match e {
        EdasError::Gateway {
            code, http_status, ..
        } => (code.as_str(), *http_status),
        EdasError::OutcomeUnknown { source, .. } => gateway_code(source),
        other => panic!("expected a gateway error, got {other:?}"),
    }
}

#[tokio::test]
async fn list_query_and_scale_in_followed_to_done_with_both_signatures() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    for algorithm in ALGORITHMS {
        sim.state().reset(fast_demo()).unwrap();
        let c = client(&sim, algorithm);
        let apps = c.list_applications().await.unwrap();
        assert!(
            apps.iter()
                .any(|a| a.app_id == DEMO_APP_ID && a.name == "demo-app")
        );
        assert_eq!(c.get_application(DEMO_APP_ID).await.unwrap().instances, 4);

        let status = c.query_application_status(DEMO_APP_ID).await.unwrap();
        assert_eq!(status.name, "demo-app");
        let hosts: Vec<(&str, &str)> = status
            .eccs
            .iter()
            .map(|e| (e.instance_id.as_str(), e.ip.as_str()))
            .collect();
        assert_eq!(
            hosts,
            vec![
                ("i-demo-1", "192.168.0.11"),
                ("i-demo-2", "192.168.0.12"),
                ("i-demo-3", "192.168.0.13"),
                ("i-demo-4", "192.168.0.14")
            ],
            "{algorithm:?}"
        );
        assert!(status.eccs.iter().all(|e| e.is_healthy()));

        let id = c
            .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-2"]), false)
            .await
            .unwrap()
            .expect("a change order id");
        let done = wait_for(&c, &id, &[CoStatus::Succeeded]).await;
        assert_eq!(done.targets, strings(&["ecc-demo-2"]));
        assert_eq!(done.pipelines.len(), 1);
        assert_eq!(done.first_error(), None);

        let after = c.query_application_status(DEMO_APP_ID).await.unwrap();
        let ids: Vec<&str> = after.eccs.iter().map(|e| e.ecc_id.as_str()).collect();
        assert_eq!(ids, vec!["ecc-demo-1", "ecc-demo-3", "ecc-demo-4"]);
        assert!(!after.ecus.iter().any(|u| u.instance_id == "i-demo-2"));

        let recent = c.list_recent_change_orders(DEMO_APP_ID).await.unwrap();
        assert_eq!(recent[0].id, id);
        assert_eq!(recent[0].source, "pop");
        assert_eq!(recent[0].co_type_code, "CoScaleIn");
        assert_eq!(recent[0].status, CoStatus::Succeeded);
        assert!(
            recent[0]
                .description
                .as_deref()
                .unwrap()
                .contains("EccIds=ecc-demo-2")
        );
        assert!(recent[0].create_time.is_some() && recent[0].finish_time.is_some());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn scale_in_of_every_ecc_is_allowed_and_force_makes_no_order() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    let all = strings(&["ecc-demo-1", "ecc-demo-2"]);
    let forced = c
        .scale_in_application(DEMO_APP_ID, &all, true)
        .await
        .unwrap();
    assert_eq!(forced, None);
    assert_eq!(ecc_ids(&sim), strings(&["ecc-demo-3", "ecc-demo-4"]));
    let rest = strings(&["ecc-demo-3", "ecc-demo-4"]);
    let id = c
        .scale_in_application(DEMO_APP_ID, &rest, false)
        .await
        .unwrap()
        .unwrap();
    wait_for(&c, &id, &[CoStatus::Succeeded]).await;
    assert!(ecc_ids(&sim).is_empty());
    assert_eq!(sim.state().snapshot().change_orders.len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn scale_out_onto_a_free_ecu() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let c = client(&sim, SignatureAlgorithm::Acs3);
    let (free, _): (wire::ListScaleOutEcuResponse, _) = c
        .call(
            Operation::ListScaleOutEcu,
            &[("AppId", DEMO_APP_ID.to_string())],
        )
        .await
        .unwrap();
    let free: Vec<String> = free
        .ecu_info_list
        .unwrap()
        .items
        .into_iter()
        .map(|u| u.ecu_id)
        .collect();
    // Cluster-level: demo-worker's free ECU is in the same cluster (cluster-demo).
    assert_eq!(free, strings(&["ecu-demo-5", "ecu-demo-6", "ecu-worker-4"]));
    let id = c
        .scale_out_application(DEMO_APP_ID, "grp-demo-default", &free[..1])
        .await
        .unwrap();
    wait_for(&c, &id, &[CoStatus::Succeeded]).await;
    let status = c.query_application_status(DEMO_APP_ID).await.unwrap();
    assert_eq!(status.eccs.len(), 5);
    assert!(status.eccs.iter().any(|e| e.instance_id == "i-demo-5"));
    let e = c
        .scale_out_application(DEMO_APP_ID, "grp-demo-default", &strings(&["ecu-demo-1"]))
        .await
        .unwrap_err();
    assert!(
        matches!(e, EdasError::Business { code: 601, ref message, .. } if message.contains("ecu-demo-1"))
    );
    let e = c
        .scale_out_application(DEMO_APP_ID, "grp-demo-default", &strings(&["ecu-worker-1"]))
        .await
        .unwrap_err();
    assert!(
        matches!(e, EdasError::Business { code: 601, ref message, .. }
            if message.contains("ecu-worker-1") && message.contains("already runs an application")),
        "{e:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_unknown_key_and_stale_date_are_auth_errors() {
    let clock = ManualClock::starting_now();
    let sim = start(SimState::with_clock(fast_demo(), clock.clone()).unwrap()).await;
    for algorithm in ALGORITHMS {
        let wrong = client_with(
            &sim,
            algorithm,
            Credentials::new(DEMO_ACCESS_KEY_ID, "not-the-secret", None),
            1,
        );
        let e = wrong
            .query_application_status(DEMO_APP_ID)
            .await
            .unwrap_err();
        assert_eq!(
            gateway_code(&e),
            ("SignatureDoesNotMatch", 400),
            "{algorithm:?}"
        );
        assert!(e.is_auth() && !e.is_retryable());
        assert!(e.to_string().contains("server string to sign is:"), "{e}");

        let unknown = client_with(&sim, algorithm, Credentials::new("nobody", "x", None), 1);
        let e = unknown.list_applications().await.unwrap_err();
        assert_eq!(gateway_code(&e).0, "InvalidAccessKeyId.NotFound");
        assert!(e.is_auth());

        let sts = Credentials::new(
            "demo-sts-key-id",
            "demo-sts-key-secret",
            Some("demo-security-token".into()),
        );
        let ok = client_with(&sim, algorithm, sts, 1);
        assert!(
            ok.get_application(DEMO_APP_ID).await.is_ok(),
            "{algorithm:?}"
        );
        let no_token = client_with(
            &sim,
            algorithm,
            Credentials::new("demo-sts-key-id", "demo-sts-key-secret", None),
            1,
        );
        let e = no_token.get_application(DEMO_APP_ID).await.unwrap_err();
        assert!(gateway_code(&e).0.starts_with("InvalidSecurityToken"));
        assert!(e.is_auth());
    }
    // The simulator's clock runs 20 minutes ahead of the client's.
    clock.advance(Duration::from_secs(20 * 60));
    for algorithm in ALGORITHMS {
        let e = client(&sim, algorithm)
            .list_applications()
            .await
            .unwrap_err();
        assert_eq!(
            gateway_code(&e),
            ("InvalidTimeStamp.Expired", 400),
            "{algorithm:?}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn replayed_nonce_is_refused() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let http = reqwest::Client::new();
    for algorithm in ALGORITHMS {
        let query = vec![("AppId".to_string(), DEMO_APP_ID.to_string())];
        let host = sim.addr().to_string();
        let op = Operation::GetApplication;
        let headers = signer::sign(
            algorithm,
            &SigningKey {
                access_key_id: DEMO_ACCESS_KEY_ID,
                access_key_secret: DEMO_ACCESS_KEY_SECRET,
                security_token: None,
            },
            &UnsignedRequest {
                method: op.method(),
                host: &host,
                path: op.path(),
                query: &query,
                headers: vec![
                    ("accept".into(), "application/json".into()),
                    ("x-acs-action".into(), op.name().into()),
                    ("x-acs-version".into(), "2017-08-01".into()),
                ],
                body: b"",
            },
            SystemTime::now(),
            &format!("replay-{algorithm:?}"),
        );
        let send = || {
            let mut req = http
                .post(format!("{}{}", sim.base_url(), op.path()))
                .query(&query);
            for (k, v) in &headers {
                if k != "host" {
                    req = req.header(k.as_str(), v.as_str());
                }
            }
            req.send()
        };
        let first = send().await.unwrap();
        assert_eq!(first.status(), 200);
        let second = send().await.unwrap();
        assert_eq!(second.status(), 400);
        let body: serde_json::Value = second.json().await.unwrap();
        assert_eq!(body["Code"], "SignatureNonceUsed", "{algorithm:?}");
        assert!(body["RequestId"].as_str().is_some_and(|r| !r.is_empty()));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn second_mutation_while_an_order_runs_is_601_and_abort_ends_it() {
    let mut doc = fast_demo();
    doc.change_orders.seconds_per_instance = 30.0;
    let sim = start(SimState::new(doc).unwrap()).await;
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    let first = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-1"]), false)
        .await
        .unwrap()
        .unwrap();
    let e = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-2"]), false)
        .await
        .unwrap_err();
    assert!(e.is_change_order_in_progress(), "{e}");
    assert!(matches!(
        e,
        EdasError::Business {
            code: 601,
            http_status: 200,
            ..
        }
    ));
    let e = c
        .scale_out_application(DEMO_APP_ID, "grp-demo-default", &strings(&["ecu-demo-5"]))
        .await
        .unwrap_err();
    assert!(e.is_change_order_in_progress(), "{e}");
    c.abort_change_order(&first).await.unwrap();
    assert_eq!(
        c.get_change_order_info(&first).await.unwrap().status,
        CoStatus::Aborted
    );
    assert_eq!(ecc_ids(&sim).len(), 4);
    let e = c.abort_change_order(&first).await.unwrap_err();
    assert!(matches!(e, EdasError::Business { code: 601, .. }));
    sim.shutdown().await;
}

#[tokio::test]
async fn manual_batches_pause_until_continue_pipeline() {
    let mut doc = fast_demo();
    doc.change_orders.batch_type = sim::BatchType::Manual;
    doc.change_orders.batch_count = 2;
    let sim = start(SimState::new(doc).unwrap()).await;
    let c = client(&sim, SignatureAlgorithm::Acs3);
    let id = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-1", "ecc-demo-2"]), false)
        .await
        .unwrap()
        .unwrap();
    let paused = wait_for(&c, &id, &[CoStatus::WaitingManualConfirm]).await;
    assert_eq!(paused.batch_type, "Manual");
    assert_eq!(paused.pipelines.len(), 2);
    assert_eq!(ecc_ids(&sim).len(), 3);
    c.continue_pipeline(&paused.pipelines[1].id, true)
        .await
        .unwrap();
    wait_for(&c, &id, &[CoStatus::Succeeded]).await;
    assert_eq!(ecc_ids(&sim), strings(&["ecc-demo-3", "ecc-demo-4"]));
    sim.shutdown().await;
}

#[tokio::test]
async fn failed_change_order_reports_the_task_error_and_keeps_the_ecc() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    sim.state()
        .set_faults(&FaultsPatch {
            fail_next_change_orders: Some(1),
            ..Default::default()
        })
        .unwrap();
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    let id = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-4"]), false)
        .await
        .unwrap()
        .unwrap();
    let failed = wait_for(&c, &id, &[CoStatus::Failed]).await;
    let err = failed.first_error().expect("a task error");
    assert!(
        err.contains("INJECTED_FAILURE") && err.contains("ecc-demo-4"),
        "{err}"
    );
    assert!(ecc_ids(&sim).contains(&"ecc-demo-4".to_string()));
    sim.shutdown().await;
}

#[tokio::test]
async fn throttling_appears_past_the_limit() {
    let mut doc = fast_demo();
    doc.limits = BTreeMap::from([("QueryApplicationStatus".to_string(), 3)]);
    let sim = start(SimState::new(doc).unwrap()).await;
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    for _ in 0..3 {
        c.query_application_status(DEMO_APP_ID).await.unwrap();
    }
    let e = c.query_application_status(DEMO_APP_ID).await.unwrap_err();
    assert_eq!(gateway_code(&e), ("Throttling.User", 400));
    assert!(e.is_throttling() && e.is_retryable());
    // Another operation has its own window.
    c.list_recent_change_orders(DEMO_APP_ID).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn a_spent_budget_gives_the_turn_away_without_calling_edas() {
    use edas_operator::edas::budget::{BudgetConfig, CallBudget};
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let budget = std::sync::Arc::new(CallBudget::new(
        BudgetConfig::default()
            .with_overrides("QueryApplicationStatus=2")
            .unwrap(),
    ));
    // 90% of 2 a minute: one call per window.
    let c = client(&sim, SignatureAlgorithm::RoaV2)
        .with_budget(budget.clone())
        .yield_over(Duration::from_secs(1));
    c.query_application_status(DEMO_APP_ID).await.unwrap();
    let e = c.query_application_status(DEMO_APP_ID).await.unwrap_err();
    match &e {
        EdasError::OverBudget { operation, wait } => {
            assert_eq!(*operation, "QueryApplicationStatus");
            assert!(*wait > Duration::from_secs(55), "{wait:?}");
        }
        other => panic!("expected OverBudget, got {other:?}"),
    }
    // It never reached EDAS, and other operations are not held back.
    let qas = sim
        .state()
        .calls()
        .iter()
        .filter(|c| c.action == "QueryApplicationStatus")
        .count();
    assert_eq!(qas, 1);
    c.list_recent_change_orders(DEMO_APP_ID).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn dropped_answer_to_a_scale_in_is_outcome_unknown_though_applied() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    sim.state()
        .set_faults(&FaultsPatch {
            drop_rate: Some(1.0),
            ..Default::default()
        })
        .unwrap();
    let e = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-1"]), false)
        .await
        .unwrap_err();
    assert!(e.is_outcome_unknown(), "{e:?}");
    sim.state()
        .set_faults(&FaultsPatch {
            drop_rate: Some(0.0),
            error_rate: Some(1.0),
            ..Default::default()
        })
        .unwrap();
    let e = c.query_application_status(DEMO_APP_ID).await.unwrap_err();
    assert_eq!(gateway_code(&e), ("ServiceUnavailable", 503));
    assert!(e.is_retryable());
    sim.state()
        .set_faults(&FaultsPatch {
            error_rate: Some(0.0),
            ..Default::default()
        })
        .unwrap();
    let recent = c.list_recent_change_orders(DEMO_APP_ID).await.unwrap();
    assert_eq!(recent.len(), 1, "the dropped call was carried out");
    let calls = sim.state().calls();
    assert!(calls[0].dropped && calls[0].action == "ScaleInApplication");
    assert_eq!(calls[1].http_status, 503);
    sim.shutdown().await;
}

#[tokio::test]
async fn console_order_blocks_api_mutations_and_shows_source_console() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!(
            "{}/_sim/apps/{DEMO_APP_ID}/change-orders",
            sim.base_url()
        ))
        .json(&serde_json::json!({"coType": "CoRestart", "source": "console"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: serde_json::Value = resp.json().await.unwrap();
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    let recent = c.list_recent_change_orders(DEMO_APP_ID).await.unwrap();
    assert_eq!(recent[0].id, created["changeOrderId"].as_str().unwrap());
    assert_eq!(recent[0].source, "console");
    assert_eq!(recent[0].co_type_code, "CoRestart");
    let e = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-1"]), false)
        .await
        .unwrap_err();
    assert!(e.is_change_order_in_progress(), "{e}");
    sim.shutdown().await;
}

/// (operation, parameters, expected gateway code, what the message names)
type BadCall = (
    Operation,
    Vec<(&'static str, String)>,
    &'static str,
    &'static str,
);

#[tokio::test]
async fn missing_or_malformed_parameters_are_gateway_errors_never_5xx() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    let cases: Vec<BadCall> = vec![
        (
            Operation::QueryApplicationStatus,
            vec![],
            "MissingParameter",
            "AppId",
        ),
        (
            Operation::GetChangeOrderInfo,
            vec![],
            "MissingParameter",
            "ChangeOrderId",
        ),
        (
            Operation::ScaleInApplication,
            vec![("AppId", DEMO_APP_ID.into())],
            "MissingParameter",
            "EccInfo",
        ),
        (
            Operation::ScaleInApplication,
            vec![
                ("AppId", DEMO_APP_ID.into()),
                ("EccInfo", "ecc-demo-1,,x".into()),
            ],
            "InvalidParameter",
            "EccInfo",
        ),
        (
            Operation::ScaleInApplication,
            vec![
                ("AppId", DEMO_APP_ID.into()),
                ("EccInfo", "ecc-demo-1".into()),
                ("ForceStatus", "maybe".into()),
            ],
            "InvalidParameter",
            "ForceStatus",
        ),
        (
            Operation::ListScaleOutEcu,
            vec![],
            "MissingParameter",
            "ClusterId",
        ),
        (
            Operation::ListApplication,
            vec![("PageSize", "-1".into())],
            "InvalidParameter",
            "PageSize",
        ),
        (
            Operation::ContinuePipeline,
            vec![("Confirm", "true".into())],
            "MissingParameter",
            "PipelineId",
        ),
    ];
    for (op, params, code, names) in cases {
        let e = c.call::<wire::Envelope>(op, &params).await.unwrap_err();
        assert_eq!(gateway_code(&e), (code, 400), "{op} {params:?}");
        assert!(e.to_string().contains(names), "{op}: {e}");
    }
    assert_eq!(ecc_ids(&sim).len(), 4, "nothing was changed");

    // Unsigned junk and unknown routes: 4xx with a RequestId, never a 5xx or a panic.
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let junk = [
        ("POST", "/pop/v5/app/app_status?AppId=x"),
        ("DELETE", "/pop/v5/changeorder/co_scale_in"),
        ("GET", "/pop/v5/app/app_status?%zz=%&&=&AppId=%E6%B5"),
        ("POST", "/"),
        (
            "PATCH",
            "/pop/v5/changeorder/change_order_abort?ChangeOrderId=",
        ),
    ];
    for (method, path) in junk {
        let resp = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{base}{path}"),
            )
            .header(
                "authorization",
                "acs demo-access-key-id:bm90LWEtc2lnbmF0dXJl",
            )
            .header("date", httpdate::fmt_http_date(SystemTime::now()))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            (400..500).contains(&status),
            "{method} {path}: {status} {body}"
        );
        assert!(
            body["Code"].is_string() && body["RequestId"].is_string(),
            "{body}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_admin_documents_are_400_and_leave_the_state_unchanged() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let before = sim.state().snapshot();
    let cases: [(&str, &str, &str); 11] = [
        ("/_sim/reset", "", "empty"),
        ("/_sim/reset", "apps: [", "line 2"),
        (
            "/_sim/reset",
            "{\"apps\": [{\"appId\": \"a\", \"ecus\": [{\"ecuId\": \"u\"}]}]}",
            "apps[0].ecus[0]",
        ),
        (
            "/_sim/reset",
            "apps:\n  - appId: a\n    eccs: [{eccId: c, ecuId: nowhere}]\n",
            "apps[0].eccs[0].ecuId",
        ),
        (
            "/_sim/reset",
            "limits: {NoSuchOperation: 3}\n",
            "limits.NoSuchOperation",
        ),
        ("/_sim/reset", "faults: {dropRate: 7}\n", "faults.dropRate"),
        ("/_sim/faults", "{\"errorRate\": \"high\"}", "errorRate"),
        ("/_sim/faults", "{\"latency\": 5}", "latency"),
        ("/_sim/faults", "not json", "JSON"),
        (
            "/_sim/apps/5e2f7c1a-7d3b-4c59-9a51-0d3e6f1a2b01/change-orders",
            "{\"coType\": \"CoExplode\"}",
            "coType",
        ),
        (
            "/_sim/apps/5e2f7c1a-7d3b-4c59-9a51-0d3e6f1a2b01/change-orders",
            "{}",
            "coType",
        ),
    ];
    for (path, body, mentions) in cases {
        let resp = http
            .post(format!("{base}{path}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path} {body:?}");
        let answer: serde_json::Value = resp.json().await.unwrap();
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(mentions), "{path} {body:?}: {message}");
    }
    let resp = http
        .post(format!("{base}/_sim/apps/no-such-app/change-orders"))
        .body(r#"{"coType":"CoDeploy"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        sim.state().snapshot(),
        before,
        "a refused document changed nothing"
    );

    // A good document does replace the state; GET /_sim/state has the documented shape.
    let doc = "accessKeys: [{id: k, secret: s}]\napps:\n  - appId: only\n    ecus: [{ecuId: u, instanceId: i-1, ip: 10.0.0.1}]\n    eccs: [{eccId: c, ecuId: u}]\n";
    let resp = http
        .post(format!("{base}/_sim/reset"))
        .body(doc)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let state: serde_json::Value = http
        .get(format!("{base}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["apps"][0]["appId"], "only");
    assert_eq!(state["apps"][0]["regionId"], "cn-hangzhou");
    let ecc = &state["apps"][0]["eccs"][0];
    for key in [
        "eccId",
        "ecuId",
        "instanceId",
        "ip",
        "appState",
        "taskState",
    ] {
        assert!(!ecc[key].is_null(), "eccs[0].{key} missing in {state}");
    }
    assert_eq!(ecc["appState"], 7);
    assert!(state["changeOrders"].as_array().unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn every_call_is_logged_in_order_signed_or_rejected() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let good = client(&sim, SignatureAlgorithm::Acs3);
    let bad = client_with(
        &sim,
        SignatureAlgorithm::RoaV2,
        Credentials::new(DEMO_ACCESS_KEY_ID, "wrong", None),
        1,
    );
    let id = good
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-1", "ecc-demo-3"]), false)
        .await
        .unwrap()
        .unwrap();
    let _ = bad.get_change_order_info(&id).await.unwrap_err();
    good.get_change_order_info(&id).await.unwrap();
    let http = reqwest::Client::new();
    let calls: Vec<sim::CallRecord> = http
        .get(format!("{}/_sim/calls", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let summary: Vec<(&str, &str, u16, String)> = calls
        .iter()
        .map(|c| {
            (
                c.action.as_str(),
                c.method.as_str(),
                c.http_status,
                c.code.to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("ScaleInApplication", "POST", 200, "200".to_string()),
            (
                "GetChangeOrderInfo",
                "POST",
                400,
                "\"SignatureDoesNotMatch\"".to_string()
            ),
            ("GetChangeOrderInfo", "POST", 200, "200".to_string()),
        ]
    );
    assert_eq!(calls[0].params["EccInfo"], "ecc-demo-1,ecc-demo-3");
    assert_eq!(calls[0].path, "/pop/v5/changeorder/co_scale_in");
    assert!(calls.windows(2).all(|w| w[0].at <= w[1].at));
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((now_ms - calls[0].at).abs() < 60_000, "`at` is epoch ms");
    let snapshot: sim::StateSnapshot = http
        .get(format!("{}/_sim/state", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot.change_orders[0].change_order_id, id);
    assert_eq!(
        snapshot.change_orders[0].ecc_ids,
        strings(&["ecc-demo-1", "ecc-demo-3"])
    );
    assert_eq!(snapshot.change_orders[0].source, "pop");
    sim.shutdown().await;
}

// ------------------------------------------------------------------ EDAS misbehaving (issue 10)

async fn admin_post(
    sim: &SimHandle,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn manual_sim() -> (SimHandle, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::starting_now();
    let sim = start(SimState::with_clock(fast_demo(), clock.clone()).unwrap()).await;
    (sim, clock)
}

#[tokio::test]
async fn late_apply_504_is_outcome_unknown_then_the_order_appears() {
    let (sim, clock) = manual_sim().await;
    let (status, faults) = admin_post(
        &sim,
        "/_sim/faults",
        serde_json::json!({"lateApply": {"mode": "gateway504", "lateApplyMs": 3000, "times": 1}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(faults["lateApply"]["lateApplyMs"], 3000);
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    let e = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-1"]), false)
        .await
        .unwrap_err();
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert_eq!(gateway_code(&e), ("ServiceTimeout", 504));
    clock.advance(Duration::from_millis(2999));
    assert!(
        c.list_recent_change_orders(DEMO_APP_ID)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(ecc_ids(&sim).len(), 4);
    clock.advance(Duration::from_millis(1));
    let recent = c.list_recent_change_orders(DEMO_APP_ID).await.unwrap();
    assert_eq!(
        recent.len(),
        1,
        "applied as if the back end had received it"
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        c.get_change_order_info(&recent[0].id).await.unwrap().status,
        CoStatus::Succeeded
    );
    assert!(!ecc_ids(&sim).contains(&"ecc-demo-1".to_string()));
    // times: 1 -> switched off; the call log says what happened, in camelCase.
    let calls: serde_json::Value = reqwest::get(format!(
        "{}/_sim/calls?action=ScaleInApplication",
        sim.base_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let call = &calls[0];
    assert_eq!(call["lateApplied"], true);
    assert_eq!(call["eccIds"], serde_json::json!(["ecc-demo-1"]));
    assert_eq!(call["appliedAt"], call["dueAt"]);
    assert_eq!(call["lateResult"]["code"], 200);
    assert_eq!(call["lateResult"]["changeOrderId"], recent[0].id.as_str());
    assert_eq!(call["httpStatus"], 504);
    assert!(sim.state().faults().late_apply.is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn late_apply_drop_and_hang_leave_the_client_without_an_answer() {
    let (sim, clock) = manual_sim().await;
    let mut c = client(&sim, SignatureAlgorithm::Acs3);
    sim.state()
        .set_faults(
            &serde_json::from_str(r#"{"lateApply": {"mode": "drop", "lateApplyMs": 1000}}"#)
                .unwrap(),
        )
        .unwrap();
    let e = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-1"]), true)
        .await
        .unwrap_err();
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert_eq!(ecc_ids(&sim).len(), 4);
    clock.advance(Duration::from_millis(1000));
    assert_eq!(ecc_ids(&sim).len(), 3, "the forced removal happened late");

    sim.state()
        .set_faults(
            &serde_json::from_str(r#"{"lateApply": {"mode": "hang", "lateApplyMs": 1000}}"#)
                .unwrap(),
        )
        .unwrap();
    let config = ClientConfig {
        endpoint: Some(url::Url::parse(&sim.base_url()).unwrap()),
        timeout: Duration::from_millis(700),
        read_attempts: 1,
        ..ClientConfig::default()
    };
    c = EdasClient::new(
        http_client(&config).unwrap(),
        demo_creds(),
        "cn-hangzhou",
        config,
    )
    .unwrap();
    let started = Instant::now();
    let e = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-2"]), false)
        .await
        .unwrap_err();
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert!(
        matches!(&e, EdasError::OutcomeUnknown { source, .. } if matches!(**source, EdasError::Transport { kind: edas_operator::edas::error::TransportKind::Timeout, .. })),
        "{e:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(600));
    let calls = sim.state().calls();
    assert!(calls.last().unwrap().hung);
    clock.advance(Duration::from_millis(1000));
    assert_eq!(
        c.list_recent_change_orders(DEMO_APP_ID)
            .await
            .unwrap()
            .len(),
        1,
        "the hung scale-in made its order late"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn stale_reads_still_list_the_removed_ecc_after_the_order_finished() {
    let (sim, clock) = manual_sim().await;
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    let (status, _) = admin_post(
        &sim,
        "/_sim/faults",
        serde_json::json!({"staleReads": {"staleReadMs": 2000, "appIds": [DEMO_APP_ID]}}),
    )
    .await;
    assert_eq!(status, 200);
    let id = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-4"]), false)
        .await
        .unwrap()
        .unwrap();
    let e = c.get_change_order_info(&id).await.unwrap_err();
    assert!(
        matches!(&e, EdasError::Business { code: 601, message, .. } if message.contains("does not exist")),
        "{e:?}"
    );
    clock.advance(Duration::from_millis(300)); // done at +0.3 s (0.2 s per instance)
    assert_eq!(ecc_ids(&sim).len(), 3, "gone in the back end");
    clock.advance(Duration::from_millis(1999)); // reads show +0.299 s
    let listed = c.query_application_status(DEMO_APP_ID).await.unwrap();
    assert!(listed.eccs.iter().any(|e| e.ecc_id == "ecc-demo-4"));
    assert_eq!(
        c.get_change_order_info(&id).await.unwrap().status,
        CoStatus::Running
    );
    clock.advance(Duration::from_millis(1)); // reads show +0.3 s
    let listed = c.query_application_status(DEMO_APP_ID).await.unwrap();
    assert!(!listed.eccs.iter().any(|e| e.ecc_id == "ecc-demo-4"));
    assert_eq!(
        c.get_change_order_info(&id).await.unwrap().status,
        CoStatus::Succeeded
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn partial_ecu_list_and_duplicate_rows_reach_the_client() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    for mode in ["null", "empty", "emptyInstanceId"] {
        admin_post(
            &sim,
            "/_sim/faults",
            serde_json::json!({"partialEcuList": {"mode": mode, "emptyEccIp": true}}),
        )
        .await;
        let app = c.query_application_status(DEMO_APP_ID).await.unwrap();
        assert_eq!(app.eccs.len(), 4);
        // The ECC rows' Ip is blank too (emptyEccIp); only emptyInstanceId keeps the ECU rows,
        // whose IpAddr the client falls back to.
        let ip_blank = mode != "emptyInstanceId";
        assert!(
            app.eccs
                .iter()
                .all(|e| e.instance_id.is_empty() && e.ip.is_empty() == ip_blank),
            "{mode}: {:?}",
            app.eccs
        );
    }
    admin_post(
        &sim,
        "/_sim/faults",
        serde_json::json!({"partialEcuList": null, "duplicateRows": {}}),
    )
    .await;
    let app = c.query_application_status(DEMO_APP_ID).await.unwrap();
    assert_eq!(app.eccs.len(), 8);
    assert_eq!(app.eccs.iter().filter(|e| e.is_healthy()).count(), 4);
    assert!(
        app.eccs
            .iter()
            .all(|e| e.instance_id.starts_with("i-demo-"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn async_force_removes_the_eccs_only_after_the_delay() {
    let (sim, clock) = manual_sim().await;
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    admin_post(
        &sim,
        "/_sim/faults",
        serde_json::json!({"asyncForce": {"delayMs": 5000}}),
    )
    .await;
    let r = c
        .scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-1"]), true)
        .await
        .unwrap();
    assert_eq!(r, None);
    let status = c.query_application_status(DEMO_APP_ID).await.unwrap();
    assert!(status.eccs.iter().any(|e| e.ecc_id == "ecc-demo-1"));
    clock.advance(Duration::from_secs(5));
    let status = c.query_application_status(DEMO_APP_ID).await.unwrap();
    assert!(!status.eccs.iter().any(|e| e.ecc_id == "ecc-demo-1"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_human_ends_orders_with_6_7_or_an_unknown_code() {
    let mut doc = fast_demo();
    doc.change_orders.batch_type = sim::BatchType::Manual;
    doc.change_orders.batch_count = 2;
    let sim = start(SimState::new(doc.clone()).unwrap()).await;
    let c = client(&sim, SignatureAlgorithm::RoaV2);
    let two = strings(&["ecc-demo-1", "ecc-demo-2"]);
    for (code, expected) in [
        (7, CoStatus::PartiallySucceeded),
        (6, CoStatus::Aborted),
        (11, CoStatus::Unknown(11)),
    ] {
        sim.state().reset(doc.clone()).unwrap();
        let id = c
            .scale_in_application(DEMO_APP_ID, &two, false)
            .await
            .unwrap()
            .unwrap();
        // Paused at 8 after the first batch: ecc-demo-1 is gone, ecc-demo-2 is not.
        wait_for(&c, &id, &[CoStatus::WaitingManualConfirm]).await;
        assert_eq!(
            ecc_ids(&sim),
            strings(&["ecc-demo-2", "ecc-demo-3", "ecc-demo-4"])
        );
        let (status, order) = admin_post(
            &sim,
            &format!("/_sim/change-orders/{id}/end"),
            serde_json::json!({ "status": code }),
        )
        .await;
        assert_eq!(status, 200, "{order}");
        assert_eq!(order["status"], code);
        assert_eq!(order["changeOrderId"], id.as_str());
        assert_eq!(c.get_change_order_info(&id).await.unwrap().status, expected);
        let recent = c.list_recent_change_orders(DEMO_APP_ID).await.unwrap();
        assert_eq!(recent[0].status, expected);
        let back = ecc_ids(&sim).contains(&"ecc-demo-1".to_string());
        assert_eq!(back, code == 7, "{code}: only 7 rolls back");
        assert!(ecc_ids(&sim).contains(&"ecc-demo-2".to_string()), "{code}");
        // Ended: the app takes the next mutation.
        c.scale_in_application(DEMO_APP_ID, &strings(&["ecc-demo-3"]), true)
            .await
            .unwrap();
    }
    let (status, body) = admin_post(
        &sim,
        "/_sim/change-orders/nope/end",
        serde_json::json!({"status": 6}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap().contains("nope")),
        (404, true)
    );
    for (bad, names) in [
        (serde_json::json!({"status": 1}), "status"),
        (serde_json::json!({"status": "six"}), "status"),
        (serde_json::json!({"code": 6}), "code"),
    ] {
        let (status, body) = admin_post(&sim, "/_sim/change-orders/x/end", bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            body["error"].as_str().unwrap().contains(names),
            "{bad}: {body}"
        );
    }
    sim.shutdown().await;
}

/// A request signed by hand, with extra `x-acs-*` headers (our client sends no region header).
async fn signed_call(
    sim: &SimHandle,
    op: Operation,
    query: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> serde_json::Value {
    let query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let host = sim.addr().to_string();
    let mut headers = vec![
        ("accept".to_string(), "application/json".to_string()),
        ("x-acs-action".to_string(), op.name().to_string()),
        ("x-acs-version".to_string(), "2017-08-01".to_string()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let signed = signer::sign(
        SignatureAlgorithm::RoaV2,
        &SigningKey {
            access_key_id: DEMO_ACCESS_KEY_ID,
            access_key_secret: DEMO_ACCESS_KEY_SECRET,
            security_token: None,
        },
        &UnsignedRequest {
            method: op.method(),
            host: &host,
            path: op.path(),
            query: &query,
            headers,
            body: b"",
        },
        SystemTime::now(),
        &uuid::Uuid::new_v4().to_string(),
    );
    let mut req = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(op.method().as_bytes()).unwrap(),
            format!("{}{}", sim.base_url(), op.path()),
        )
        .query(&query);
    for (k, v) in &signed {
        if k != "host" {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    req.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn list_application_answers_for_the_region_named() {
    let mut doc = fast_demo();
    let mut beijing = doc.apps[1].clone();
    beijing.region_id = "cn-beijing".into();
    doc.apps.truncate(1);
    doc.apps.push(beijing);
    let sim = start(SimState::new(doc).unwrap()).await;
    let apps = |body: serde_json::Value| -> Vec<String> {
        body["ApplicationList"]["Application"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["RegionId"].as_str().unwrap().to_string())
            .collect()
    };
    let op = Operation::ListApplication;
    let both = apps(signed_call(&sim, op, &[], &[]).await);
    assert_eq!(both, strings(&["cn-hangzhou", "cn-beijing"]));
    for region in ["cn-hangzhou", "cn-beijing"] {
        let by_header = signed_call(&sim, op, &[], &[("x-acs-region-id", region)]).await;
        assert_eq!(apps(by_header), strings(&[region]), "x-acs-region-id");
        let by_param = signed_call(&sim, op, &[("RegionId", region)], &[]).await;
        assert_eq!(apps(by_param), strings(&[region]), "RegionId");
        let logical = format!("{region}:ns");
        let by_logical = signed_call(&sim, op, &[("LogicalRegionId", &logical)], &[]).await;
        assert_eq!(apps(by_logical), strings(&[region]), "LogicalRegionId");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn new_faults_are_set_read_switched_off_and_checked_at_the_admin_endpoint() {
    let sim = start(SimState::new(fast_demo()).unwrap()).await;
    let all = serde_json::json!({
        "lateApply": {"mode": "hang", "lateApplyMs": 100, "appIds": [DEMO_APP_ID], "times": 2},
        "staleReads": {"staleReadMs": 100},
        "partialEcuList": {"mode": "missing"},
        "duplicateRows": {"firstOnly": true},
        "asyncForce": {"delayMs": 100},
        "unhealthyScaleOut": {"appIds": [DEMO_APP_ID]}
    });
    let (status, faults) = admin_post(&sim, "/_sim/faults", all).await;
    assert_eq!(status, 200, "{faults}");
    assert_eq!(faults["lateApply"]["mode"], "hang");
    assert_eq!(faults["partialEcuList"]["mode"], "missing");
    assert_eq!(faults["unhealthyScaleOut"]["appIds"][0], DEMO_APP_ID);
    let state: serde_json::Value = reqwest::get(format!("{}/_sim/state", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["faults"]["staleReads"]["staleReadMs"], 100);
    let (_, faults) = admin_post(
        &sim,
        "/_sim/faults",
        serde_json::json!({"lateApply": null, "asyncForce": null, "unhealthyScaleOut": null}),
    )
    .await;
    assert!(faults["lateApply"].is_null() && faults["asyncForce"].is_null());
    assert!(faults["unhealthyScaleOut"].is_null());
    assert_eq!(faults["duplicateRows"]["firstOnly"], true, "untouched");
    let bad = [
        (
            serde_json::json!({"lateApply": {"mode": "sometimes", "lateApplyMs": 1}}),
            "lateApply.mode",
        ),
        (
            serde_json::json!({"lateApply": {"mode": "drop"}}),
            "lateApply",
        ),
        (
            serde_json::json!({"staleReads": {"staleReadMs": -1}}),
            "staleReads.staleReadMs",
        ),
        (
            serde_json::json!({"partialEcuList": {"mode": "half"}}),
            "partialEcuList.mode",
        ),
        (
            serde_json::json!({"duplicateRows": {"appIds": ["ghost"]}}),
            "duplicateRows.appIds[0]",
        ),
        (
            serde_json::json!({"asyncForce": {"delayMs": 1, "extra": 1}}),
            "asyncForce",
        ),
    ];
    let before = sim.state().faults();
    for (body, field) in bad {
        let (status, answer) = admin_post(&sim, "/_sim/faults", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    assert_eq!(
        sim.state().faults(),
        before,
        "a refused patch changes nothing"
    );
    // The same faults in a state document.
    let doc = "accessKeys: [{id: k, secret: s}]\napps:\n  - appId: a\n    ecus: [{ecuId: u, instanceId: i-1, ip: 10.0.0.1}]\n    eccs: [{eccId: c, ecuId: u}]\nfaults:\n  lateApply: {mode: drop, lateApplyMs: 500, appIds: [a]}\n  asyncForce: {delayMs: 10}\n";
    let resp = reqwest::Client::new()
        .post(format!("{}/_sim/reset", sim.base_url()))
        .body(doc)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.state().faults().late_apply.unwrap().late_apply_ms, 500);
    let resp = reqwest::Client::new()
        .post(format!("{}/_sim/reset", sim.base_url()))
        .body(doc.replace("appIds: [a]", "appIds: [b]"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("faults.lateApply.appIds[0]"),
        "{answer}"
    );
    sim.shutdown().await;
}
