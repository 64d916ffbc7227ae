//! End-to-end: the operator binary, out of cluster with the RBAC-limited identity, against a
//! real kube-apiserver and the simulator over real HTTP.

mod support;

use serde_json::json;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(90);

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_extra_ecc_is_removed_and_resource_goes_ready() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("extra_ecc_is_removed_and_resource_goes_ready", &cp);
    let ns = cp.namespace("e2e-basic");
    let app = format!("app-{ns}");
    let sim = Sim::start(&sim_state(&[(&app, 3)], 0.3), &ns);
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    // One member by ECC id, one by ECS instance id.
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[
            ecc(&format!("ecc-{app}-1")),
            json!({"instanceId": format!("i-{app}-2")}),
        ],
        json!({}),
    ));
    let out = cp.kubectl(&[
        "-n",
        &ns,
        "wait",
        "--for=condition=Ready",
        "--timeout=90s",
        "edasappmembership/web",
    ]);
    assert!(
        out.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sim.eccs(&app).await,
        vec![format!("ecc-{app}-1"), format!("ecc-{app}-2")]
    );
    assert_eq!(
        sim.scale_ins(&app).await,
        vec![vec![format!("ecc-{app}-3")]]
    );

    let obj = cp.eam(&ns, "web");
    assert_eq!(
        obj["status"]["observedGeneration"],
        obj["metadata"]["generation"]
    );
    assert_eq!(obj["status"]["desired"], 2);
    assert_eq!(obj["status"]["observed"], 2);
    assert!(cond_is(&obj, "Synced", "True", None));
    assert!(cond_is(&obj, "Stalled", "False", None));
    assert!(cond_is(&obj, "Reconciling", "False", None));
    assert_eq!(obj["status"]["history"][0]["status"], "Succeeded");
    assert_eq!(
        obj["status"]["history"][0]["eccIds"],
        json!([format!("ecc-{app}-3")])
    );
    assert!(obj["status"]["pendingScaleIn"].is_null());

    // kubectl get shows the printer columns.
    let table = cp.kubectl_ok(&["-n", &ns, "get", "eam"]);
    let header = table.lines().next().unwrap_or_default();
    for col in [
        "NAME",
        "APP",
        "DESIRED",
        "OBSERVED",
        "READY",
        "SYNCED",
        "CHANGE-ORDER",
        "AGE",
    ] {
        assert!(header.contains(col), "column {col} missing in:\n{table}");
    }
    assert!(table.contains("Succeeded"), "{table}");

    // Events on transitions.
    cp.assert_events(
        &ns,
        &["ChangeOrderStarted", "ChangeOrderSucceeded", "Converged"],
    );

    // Editing members converges again.
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[ecc(&format!("ecc-{app}-1"))],
        json!({}),
    ));
    eventually(T, "second removal", || async {
        let o = cp.eam(&ns, "web");
        (sim.eccs(&app).await == vec![format!("ecc-{app}-1")]
            && cond_is(&o, "Ready", "True", Some("Converged"))
            && o["status"]["observedGeneration"] == o["metadata"]["generation"])
            .then_some(())
    })
    .await;
    assert_eq!(sim.scale_ins(&app).await.len(), 2);
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_large_plan_is_done_in_several_orders() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("large_plan_is_done_in_several_orders", &cp);
    let ns = cp.namespace("e2e-batches");
    let app = format!("app-{ns}");
    let sim = Sim::start(&sim_state(&[(&app, 7)], 0.1), &ns);
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[ecc(&format!("ecc-{app}-1"))],
        json!({"scaleIn": {"maxPerChangeOrder": 2}}),
    ));
    eventually(T, "converged after several orders", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Ready", "True", Some("Converged")).then_some(())
    })
    .await;
    let orders = sim.scale_ins(&app).await;
    assert_eq!(orders.len(), 3, "{orders:?}");
    assert!(orders.iter().all(|o| o.len() <= 2), "{orders:?}");
    let mut all: Vec<String> = orders.concat();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        6,
        "every extra ECC removed exactly once: {orders:?}"
    );
    assert_eq!(sim.eccs(&app).await, vec![format!("ecc-{app}-1")]);
    assert_eq!(
        cp.eam(&ns, "web")["status"]["history"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_min_remaining_blocks_and_observe_never_mutates() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("min_remaining_blocks_and_observe_never_mutates", &cp);
    let ns = cp.namespace("e2e-safety");
    let blocked = format!("blk-{ns}");
    let observed = format!("obs-{ns}");
    let sim = Sim::start(&sim_state(&[(&blocked, 2), (&observed, 3)], 0.1), &ns);
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    cp.apply_yaml_ok(&membership(
        &ns,
        "blocked",
        &blocked,
        &[ecc(&format!("ecc-{blocked}-1"))],
        json!({"scaleIn": {"minRemaining": 2}}),
    ));
    cp.apply_yaml_ok(&membership(
        &ns,
        "observed",
        &observed,
        &[ecc(&format!("ecc-{observed}-1"))],
        json!({"managementPolicy": "Observe"}),
    ));
    let o = eventually(T, "SafetyLimit", || async {
        let o = cp.eam(&ns, "blocked");
        cond_is(&o, "Synced", "False", Some("SafetyLimit")).then_some(o)
    })
    .await;
    assert!(cond_is(&o, "Stalled", "True", Some("SafetyLimit")));
    let msg = condition(&o, "Synced").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("minRemaining=2"), "{msg}");
    let o = eventually(T, "ObserveOnly", || async {
        let o = cp.eam(&ns, "observed");
        cond_is(&o, "Ready", "False", Some("ObserveOnly")).then_some(o)
    })
    .await;
    let mut to_remove: Vec<String> = o["status"]["plan"]["toRemove"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    to_remove.sort();
    assert_eq!(
        to_remove,
        vec![format!("ecc-{observed}-2"), format!("ecc-{observed}-3")]
    );
    // Give both a few more passes, then: no ScaleIn at all, nothing removed.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(sim.scale_ins(&blocked).await.is_empty());
    assert!(sim.scale_ins(&observed).await.is_empty());
    assert_eq!(sim.eccs(&blocked).await.len(), 2);
    assert_eq!(sim.eccs(&observed).await.len(), 3);
    let warnings: Vec<_> = cp
        .events(&ns)
        .into_iter()
        .filter(|e| e["reason"] == "SafetyLimit" && e["type"] == "Warning")
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one SafetyLimit event, not one per pass: {warnings:?}"
    );

    // `plan -f` prints the plan the controller computed.
    let file = log_dir().join(format!("{ns}-observed.json"));
    std::fs::write(
        &file,
        membership(
            &ns,
            "observed",
            &observed,
            &[ecc(&format!("ecc-{observed}-1"))],
            json!({}),
        ),
    )
    .unwrap();
    let out = std::process::Command::new(bin())
        .args(["plan", "-o", "json", "--edas-endpoint", &sim.url, "-f"])
        .arg(&file)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["toRemove"], o["status"]["plan"]["toRemove"]);
    assert!(
        sim.scale_ins(&observed).await.is_empty(),
        "plan is read-only"
    );
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_console_order_is_waited_for_and_failed_order_reported() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("console_order_is_waited_for_and_failed_order_reported", &cp);
    let ns = cp.namespace("e2e-orders");
    let app = format!("app-{ns}");
    let sim = Sim::start(&sim_state(&[(&app, 4)], 1.5), &ns);
    // A human restarts the app in the console first: an order that runs ~6 s.
    let status = sim
        .post(
            &format!("/_sim/apps/{app}/change-orders"),
            &json!({"coType": "CoRestart", "source": "console"}),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[
            ecc(&format!("ecc-{app}-1")),
            ecc(&format!("ecc-{app}-2")),
            ecc(&format!("ecc-{app}-3")),
        ],
        json!({}),
    ));
    eventually(T, "ChangeOrderInProgress", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Synced", "False", Some("ChangeOrderInProgress")).then_some(())
    })
    .await;
    eventually(T, "Ready after the console order", || async {
        cond_is(&cp.eam(&ns, "web"), "Ready", "True", None).then_some(())
    })
    .await;
    // The ScaleIn went out only after the console order had finished.
    let state = sim.state().await;
    let console = state["changeOrders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == "console")
        .cloned()
        .expect("console order");
    let finished = console["finishedAt"]
        .as_i64()
        .expect("console order finished");
    let calls = sim.calls().await;
    let scale_in_at = calls
        .iter()
        .find(|c| c["action"] == "ScaleInApplication")
        .and_then(|c| c["at"].as_i64())
        .expect("a ScaleIn");
    assert!(
        scale_in_at >= finished,
        "ScaleIn at {scale_in_at} before console order finished at {finished}"
    );

    // Next: the order fails; the failure is reported, then retried and recovered.
    assert!(
        sim.post("/_sim/faults", &json!({"failNextChangeOrders": 1}))
            .await
            .is_success()
    );
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[ecc(&format!("ecc-{app}-1")), ecc(&format!("ecc-{app}-2"))],
        json!({}),
    ));
    let o = eventually(T, "ChangeOrderFailed", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Ready", "False", Some("ChangeOrderFailed")).then_some(o)
    })
    .await;
    let msg = condition(&o, "Ready").unwrap()["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(msg.contains("Failed"), "task error in the message: {msg}");
    eventually(T, "recovered after the failure", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Ready", "True", Some("Converged")).then_some(())
    })
    .await;
    assert_eq!(sim.eccs(&app).await.len(), 2);
    assert!(
        cp.events(&ns)
            .iter()
            .any(|e| e["reason"] == "ChangeOrderFailed" && e["type"] == "Warning"),
        "Warning event for the failed order"
    );
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_in_flight_order_is_adopted_after_restart() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("in_flight_order_is_adopted_after_restart", &cp);
    let ns = cp.namespace("e2e-adopt");
    let app = format!("app-{ns}");
    let sim = Sim::start(&sim_state(&[(&app, 3)], 4.0), &ns);
    let mut op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[ecc(&format!("ecc-{app}-1"))],
        json!({}),
    ));
    // As soon as EDAS has the order, kill -9 the operator.
    eventually(T, "a ScaleIn sent", || async {
        (!sim.scale_ins(&app).await.is_empty()).then_some(())
    })
    .await;
    op.kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    op.restart();
    eventually(T, "converged after restart", || async {
        cond_is(&cp.eam(&ns, "web"), "Ready", "True", Some("Converged")).then_some(())
    })
    .await;
    assert_eq!(
        sim.scale_ins(&app).await.len(),
        1,
        "no second ScaleIn after the restart"
    );
    assert_eq!(sim.eccs(&app).await, vec![format!("ecc-{app}-1")]);
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_paused_resource_makes_no_calls_and_conflicts_are_refused() {
    let Some(cp) = control_plane() else { return };
    mark_e2e(
        "paused_resource_makes_no_calls_and_conflicts_are_refused",
        &cp,
    );
    let ns = cp.namespace("e2e-pause");
    let paused = format!("p-{ns}");
    let shared = format!("s-{ns}");
    let sim = Sim::start(&sim_state(&[(&paused, 3), (&shared, 3)], 0.1), &ns);
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    let mut m: serde_json::Value = serde_json::from_str(&membership(
        &ns,
        "paused",
        &paused,
        &[ecc(&format!("ecc-{paused}-1"))],
        json!({}),
    ))
    .unwrap();
    m["metadata"]["annotations"] = json!({"edas.operators.dev/paused": "true"});
    cp.apply_yaml_ok(&m.to_string());
    eventually(T, "Paused", || async {
        cond_is(&cp.eam(&ns, "paused"), "Synced", "False", Some("Paused")).then_some(())
    })
    .await;

    // Conflict: the first claim wins, the second does nothing.
    cp.apply_yaml_ok(&membership(
        &ns,
        "first",
        &shared,
        &[
            ecc(&format!("ecc-{shared}-1")),
            ecc(&format!("ecc-{shared}-2")),
        ],
        json!({}),
    ));
    eventually(T, "first converged", || async {
        cond_is(&cp.eam(&ns, "first"), "Ready", "True", None).then_some(())
    })
    .await;
    cp.apply_yaml_ok(&membership(
        &ns,
        "second",
        &shared,
        &[ecc(&format!("ecc-{shared}-1"))],
        json!({}),
    ));
    let o = eventually(T, "Conflict", || async {
        let o = cp.eam(&ns, "second");
        cond_is(&o, "Synced", "False", Some("Conflict")).then_some(o)
    })
    .await;
    assert!(
        condition(&o, "Synced").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("first")
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        sim.eccs(&shared).await.len(),
        2,
        "the second claim removed nothing"
    );
    assert_eq!(sim.scale_ins(&shared).await.len(), 1);
    // The same app named in another region (one endpoint serves several): still a conflict.
    cp.apply_yaml_ok(&membership(
        &ns,
        "third",
        &shared,
        &[],
        json!({"regionId": "cn-shanghai", "scaleIn": {"minRemaining": 0}}),
    ));
    eventually(T, "Conflict across regions", || async {
        cond_is(&cp.eam(&ns, "third"), "Synced", "False", Some("Conflict")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        sim.eccs(&shared).await.len(),
        2,
        "the third claim removed nothing"
    );
    assert_eq!(sim.scale_ins(&shared).await.len(), 1);

    // Paused: zero EDAS calls for that app, ever.
    let calls = sim.calls().await;
    let for_paused = calls
        .iter()
        .filter(|c| c["params"]["AppId"] == paused.as_str())
        .count();
    assert_eq!(for_paused, 0, "paused resource made EDAS calls");
    assert_eq!(sim.eccs(&paused).await.len(), 3);

    // Unpausing resumes.
    cp.kubectl_ok(&[
        "-n",
        &ns,
        "annotate",
        "eam",
        "paused",
        "edas.operators.dev/paused=false",
        "--overwrite",
    ]);
    eventually(T, "unpaused converges", || async {
        cond_is(&cp.eam(&ns, "paused"), "Ready", "True", None).then_some(())
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_credentials_never_borrowed_and_secrets_stay_in_namespace() {
    let Some(cp) = control_plane() else { return };
    mark_e2e(
        "credentials_never_borrowed_and_secrets_stay_in_namespace",
        &cp,
    );
    let ns = cp.namespace("e2e-creds");
    let app = format!("app-{ns}");
    let sim = Sim::start(&sim_state(&[(&app, 2)], 0.1), &ns);
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    // No secretRef, namespace not allowed: refused with a clear reason, no EDAS call.
    let mut m: serde_json::Value = serde_json::from_str(&membership(
        &ns,
        "nocreds",
        &app,
        &[ecc(&format!("ecc-{app}-1"))],
        json!({}),
    ))
    .unwrap();
    m["spec"]
        .as_object_mut()
        .unwrap()
        .remove("credentialsSecretRef");
    cp.apply_yaml_ok(&m.to_string());
    let o = eventually(T, "InvalidCredentials", || async {
        let o = cp.eam(&ns, "nocreds");
        cond_is(&o, "Synced", "False", Some("InvalidCredentials")).then_some(o)
    })
    .await;
    let msg = condition(&o, "Synced").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("--default-credentials-namespaces"), "{msg}");
    cp.kubectl_ok(&["-n", &ns, "delete", "eam", "nocreds"]);

    // A Secret that exists only in another namespace cannot be used.
    let other = cp.namespace("e2e-creds-other");
    cp.kubectl_ok(&["-n", &ns, "delete", "secret", "edas-credentials"]);
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[ecc(&format!("ecc-{app}-1"))],
        json!({}),
    ));
    let o = eventually(T, "Secret not found", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Synced", "False", Some("InvalidCredentials")).then_some(o)
    })
    .await;
    let msg = condition(&o, "Synced").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains(&format!("{ns}/edas-credentials")) && msg.contains("not found"),
        "{msg}"
    );
    assert!(!msg.contains(ACCESS_KEY_SECRET));
    let _ = other;
    assert!(
        sim.calls().await.is_empty(),
        "no EDAS call without usable credentials"
    );
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_malformed_answers_are_reported_and_nothing_is_done() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("malformed_answers_are_reported_and_nothing_is_done", &cp);
    let ns = cp.namespace("e2e-malformed");
    let app = format!("app-{ns}");
    let mut state = sim_state(&[(&app, 3)], 0.2);
    state["faults"] = json!({"malformedRate": 1.0});
    let sim = Sim::start(&state, &ns);
    let _op = Operator::start(&cp, &sim, &[&ns], &ns, &[]);
    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[ecc(&format!("ecc-{app}-1"))],
        json!({}),
    ));
    let o = eventually(T, "MalformedResponse", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Synced", "False", Some("MalformedResponse")).then_some(o)
    })
    .await;
    let msg = condition(&o, "Synced").unwrap()["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        msg.contains("QueryApplicationStatus") && msg.contains("malformed"),
        "{msg}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        sim.scale_ins(&app).await.is_empty(),
        "acted on an answer it could not read"
    );
    assert_eq!(sim.eccs(&app).await.len(), 3);
    assert!(
        sim.post("/_sim/faults", &json!({"malformedRate": 0}))
            .await
            .is_success()
    );
    eventually(T, "converged once answers are sound", || async {
        cond_is(&cp.eam(&ns, "web"), "Ready", "True", Some("Converged")).then_some(())
    })
    .await;
    assert_eq!(sim.eccs(&app).await, vec![format!("ecc-{app}-1")]);
}
