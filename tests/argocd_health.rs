//! The Argo CD health check `deploy/argocd/health.lua`, run by a real Lua 5.1 interpreter
//! (mlua with a vendored Lua 5.1: Argo CD runs gopher-lua, a Lua 5.1 implementation).
//!
//! The live object is handed to the script the way Argo CD does it: JSON decoded into nested
//! Lua tables (arrays 1-based, every number a Lua number, JSON null as nil), set as the global
//! `obj`; the chunk's return value is the health table. Only the libraries Argo CD opens for
//! health scripts are loaded (base, table, string, math), so a script that reaches for `io` or
//! `os` fails here as it would there.
//!
//! Nothing here needs a cluster or the network: this test never skips.

use edas_operator::controller::conditions::{self, Outcome};
use edas_operator::crd::{EdasAppMembershipStatus, reason};
use mlua::{Lua, LuaOptions, StdLib, Table, Value};
use serde_json::{Value as Json, json};

const SCRIPT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/argocd/health.lua");

/// The statuses Argo CD accepts from a health script.
const ARGO_STATUSES: [&str; 6] = [
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];

fn script() -> String {
    std::fs::read_to_string(SCRIPT_PATH).unwrap_or_else(|e| panic!("reading {SCRIPT_PATH}: {e}"))
}

fn lua() -> Lua {
    Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )
    .expect("a Lua 5.1 state")
}

/// serde_json -> Lua, as Argo CD converts the live object.
fn to_lua(lua: &Lua, v: &Json) -> mlua::Result<Value> {
    Ok(match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => {
            let t = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        Json::Object(map) => {
            let t = lua.create_table()?;
            for (k, item) in map {
                t.raw_set(k.as_str(), to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
    })
}

/// Run the health script on `obj`: (status, message).
fn health(obj: &Json) -> (String, String) {
    let lua = lua();
    let version: String = lua.globals().get("_VERSION").expect("_VERSION");
    assert_eq!(
        version, "Lua 5.1",
        "the health check must run under Lua 5.1"
    );
    let value = to_lua(&lua, obj).expect("object to Lua");
    lua.globals().set("obj", value).expect("set obj");
    let hs: Table = lua
        .load(script())
        .set_name("health.lua")
        .eval()
        .unwrap_or_else(|e| panic!("health.lua failed on {obj}: {e}"));
    let status: String = hs.get("status").expect("hs.status is a string");
    let message: Option<String> = hs.get("message").expect("hs.message is a string or nil");
    assert!(
        ARGO_STATUSES.contains(&status.as_str()),
        "{status:?} is not an Argo CD health status"
    );
    (status, message.unwrap_or_default())
}

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Json {
    json!({
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": 3,
    })
}

fn membership(generation: i64, status: Option<Json>) -> Json {
    let mut obj = json!({
        "apiVersion": "edas.operators.dev/v1alpha1",
        "kind": "EdasAppMembership",
        "metadata": {"name": "demo-app", "namespace": "team-a", "generation": generation},
        "spec": {
            "appId": "5e2f7c1a-7d3b-4c59-9a51-0d3e6f1a2b01",
            "regionId": "cn-hangzhou",
            "members": [{"eccId": "ecc-demo-1"}, {"instanceId": "i-demo-2"}],
        },
    });
    if let Some(s) = status {
        obj["status"] = s;
    }
    obj
}

/// The four conditions, generation 3, observedGeneration 3.
fn status_with(ready: Json, synced: Json, reconciling: Json, stalled: Json) -> Json {
    json!({
        "observedGeneration": 3,
        "conditions": [ready, synced, reconciling, stalled],
    })
}

struct Case {
    name: &'static str,
    obj: Json,
    status: &'static str,
    message: &'static str,
}

fn cases() -> Vec<Case> {
    let not_reconciling = cond("Reconciling", "False", "Reconciled", "");
    let not_stalled = cond("Stalled", "False", "Reconciled", "");
    vec![
        Case {
            name: "a resource without status is progressing",
            obj: membership(1, None),
            status: "Progressing",
            message: "Waiting for the operator to observe the resource",
        },
        Case {
            name: "an empty status is progressing",
            obj: membership(1, Some(json!({}))),
            status: "Progressing",
            message: "Waiting for the operator to observe generation 1",
        },
        Case {
            name: "a spec change the operator has not seen is progressing even if ready",
            obj: membership(
                4,
                Some(status_with(
                    cond(
                        "Ready",
                        "True",
                        "Converged",
                        "the app runs exactly the declared members",
                    ),
                    cond(
                        "Synced",
                        "True",
                        "Reconciled",
                        "the app runs exactly the declared members",
                    ),
                    not_reconciling.clone(),
                    not_stalled.clone(),
                )),
            ),
            status: "Progressing",
            message: "Waiting for the operator to observe generation 4",
        },
        Case {
            name: "a converged resource is healthy",
            obj: membership(
                3,
                Some(status_with(
                    cond(
                        "Ready",
                        "True",
                        "Converged",
                        "the app runs exactly the declared members",
                    ),
                    cond(
                        "Synced",
                        "True",
                        "Reconciled",
                        "the app runs exactly the declared members",
                    ),
                    not_reconciling.clone(),
                    not_stalled.clone(),
                )),
            ),
            status: "Healthy",
            message: "the app runs exactly the declared members",
        },
        Case {
            name: "a running change order is progressing with its message",
            obj: membership(
                3,
                Some(status_with(
                    cond(
                        "Ready",
                        "False",
                        "ChangeOrderRunning",
                        "change order co-1 is Running (ECCs ecc-demo-3,ecc-demo-4)",
                    ),
                    cond(
                        "Synced",
                        "True",
                        "ChangeOrderRunning",
                        "change order co-1 is Running (ECCs ecc-demo-3,ecc-demo-4)",
                    ),
                    cond(
                        "Reconciling",
                        "True",
                        "ChangeOrderRunning",
                        "change order co-1 is Running (ECCs ecc-demo-3,ecc-demo-4)",
                    ),
                    not_stalled.clone(),
                )),
            ),
            status: "Progressing",
            message: "change order co-1 is Running (ECCs ecc-demo-3,ecc-demo-4)",
        },
        Case {
            name: "a safety limit is degraded with the stalled message",
            obj: membership(
                3,
                Some(status_with(
                    cond(
                        "Ready",
                        "False",
                        "SafetyLimit",
                        "removing ecc-demo-2 would leave 0 healthy member(s), fewer than minRemaining=1",
                    ),
                    cond(
                        "Synced",
                        "False",
                        "SafetyLimit",
                        "removing ecc-demo-2 would leave 0 healthy member(s), fewer than minRemaining=1",
                    ),
                    not_reconciling.clone(),
                    cond(
                        "Stalled",
                        "True",
                        "SafetyLimit",
                        "removing ecc-demo-2 would leave 0 healthy member(s), fewer than minRemaining=1",
                    ),
                )),
            ),
            status: "Degraded",
            message: "removing ecc-demo-2 would leave 0 healthy member(s), fewer than minRemaining=1",
        },
        Case {
            name: "reconciling wins over a stalled condition",
            obj: membership(
                3,
                Some(status_with(
                    cond("Ready", "False", "ChangeOrderRunning", "running"),
                    cond("Synced", "True", "ChangeOrderRunning", "running"),
                    cond("Reconciling", "True", "ChangeOrderRunning", "running"),
                    cond("Stalled", "True", "ChangeOrderStuck", "stuck"),
                )),
            ),
            status: "Progressing",
            message: "running",
        },
        Case {
            name: "a stalled condition without a message is degraded with its reason",
            obj: membership(
                3,
                Some(status_with(
                    cond("Ready", "False", "InvalidCredentials", ""),
                    cond("Synced", "False", "InvalidCredentials", ""),
                    not_reconciling.clone(),
                    cond("Stalled", "True", "InvalidCredentials", ""),
                )),
            ),
            status: "Degraded",
            message: "InvalidCredentials",
        },
        Case {
            name: "a paused resource is suspended even when it was ready",
            obj: membership(
                3,
                Some(status_with(
                    cond(
                        "Ready",
                        "True",
                        "Converged",
                        "the app runs exactly the declared members",
                    ),
                    cond(
                        "Synced",
                        "False",
                        "Paused",
                        "paused by annotation edas.operators.dev/paused; no EDAS calls are made",
                    ),
                    not_reconciling.clone(),
                    not_stalled.clone(),
                )),
            ),
            status: "Suspended",
            message: "paused by annotation edas.operators.dev/paused; no EDAS calls are made",
        },
        Case {
            name: "a paused resource is suspended after a spec change it acknowledged",
            // Pausing leaves status.observedGeneration alone; the conditions carry generation 5.
            obj: membership(
                5,
                Some(json!({
                    "observedGeneration": 3,
                    "conditions": [
                        cond("Ready", "False", "ChangeOrderRunning", "x"),
                        {
                            "type": "Synced", "status": "False", "reason": "Paused",
                            "message": "paused", "lastTransitionTime": "2025-01-01T00:00:00Z",
                            "observedGeneration": 5,
                        },
                    ],
                })),
            ),
            status: "Suspended",
            message: "paused",
        },
        Case {
            name: "a paused condition from an older generation does not hide a new spec",
            obj: membership(
                6,
                Some(json!({
                    "observedGeneration": 3,
                    "conditions": [
                        {
                            "type": "Synced", "status": "False", "reason": "Paused",
                            "message": "paused", "lastTransitionTime": "2025-01-01T00:00:00Z",
                            "observedGeneration": 5,
                        },
                    ],
                })),
            ),
            status: "Progressing",
            message: "Waiting for the operator to observe generation 6",
        },
        Case {
            name: "observe only is progressing with the ready message",
            obj: membership(
                3,
                Some(status_with(
                    cond(
                        "Ready",
                        "False",
                        "ObserveOnly",
                        "managementPolicy Observe: would remove ecc-demo-3",
                    ),
                    cond(
                        "Synced",
                        "True",
                        "ObserveOnly",
                        "managementPolicy Observe: would remove ecc-demo-3",
                    ),
                    not_reconciling.clone(),
                    not_stalled.clone(),
                )),
            ),
            status: "Progressing",
            message: "managementPolicy Observe: would remove ecc-demo-3",
        },
        Case {
            name: "conditions without ready are progressing with a default message",
            obj: membership(3, Some(json!({"observedGeneration": 3, "conditions": []}))),
            status: "Progressing",
            message: "Waiting for the resource to become Ready",
        },
        Case {
            name: "a missing observed generation is progressing",
            obj: membership(
                3,
                Some(json!({"conditions": [cond("Ready", "True", "Converged", "ok")]})),
            ),
            status: "Progressing",
            message: "Waiting for the operator to observe generation 3",
        },
        Case {
            name: "null fields are treated as absent",
            obj: membership(
                3,
                Some(json!({
                    "observedGeneration": 3,
                    "conditions": [
                        {"type": "Ready", "status": "True", "reason": "Converged", "message": null,
                         "lastTransitionTime": "2025-01-01T00:00:00Z"},
                    ],
                })),
            ),
            status: "Healthy",
            message: "Converged",
        },
    ]
}

#[test]
fn health_script_maps_each_status_to_the_documented_argo_health() {
    let mut failures = Vec::new();
    let all = cases();
    for c in &all {
        let (status, message) = health(&c.obj);
        if status != c.status || message != c.message {
            failures.push(format!(
                "{}: got ({status:?}, {message:?}), want ({:?}, {:?})",
                c.name, c.status, c.message
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

/// Conditions exactly as the operator writes them, for every outcome of a reconcile.
#[test]
fn every_operator_outcome_gets_the_intended_argo_health() {
    let m = |s: &str| s.to_string();
    let outcomes: Vec<(Outcome, &str)> = vec![
        (Outcome::Converged, "Healthy"),
        (
            Outcome::MembersMissing(m("ecc-x is declared but not running")),
            "Degraded",
        ),
        (
            Outcome::ObserveOnly(m("would remove ecc-demo-3")),
            "Progressing",
        ),
        (
            Outcome::ChangeOrderRunning(m("co-1 Running")),
            "Progressing",
        ),
        (Outcome::WaitingForConfirmation(m("co-1 waits")), "Degraded"),
        (Outcome::ChangeOrderStuck(m("co-1 stuck")), "Degraded"),
        (
            Outcome::ForeignChangeOrder(m("co-2 by console")),
            "Progressing",
        ),
        (Outcome::ChangeOrderFailed(m("co-1 failed")), "Progressing"),
        (Outcome::SafetyLimit(m("minRemaining")), "Degraded"),
        (Outcome::OutcomeUnknown(m("settling")), "Progressing"),
        (Outcome::Paused, "Suspended"),
        (Outcome::Conflict(m("owned by team-a/other")), "Degraded"),
        (
            Outcome::InvalidCredentials(m("Secret not found")),
            "Degraded",
        ),
        (Outcome::InvalidSpec(m("spec.members[0]")), "Degraded"),
        (
            Outcome::Transient {
                reason: reason::THROTTLED,
                message: m("Throttling.User"),
            },
            "Progressing",
        ),
        (
            Outcome::Permanent {
                reason: reason::EDAS_ERROR,
                message: m("InvalidParameter"),
            },
            "Degraded",
        ),
    ];
    let generation = 2;
    let mut failures = Vec::new();
    for (outcome, want) in &outcomes {
        // As the reconcile's finish step does it: generation 1 converged first, then this
        // outcome at generation 2; Paused leaves status.observedGeneration alone.
        let mut st = EdasAppMembershipStatus::default();
        conditions::apply(
            &mut st.conditions,
            conditions::desired(&Outcome::Converged),
            Some(1),
            "t0",
        );
        st.observed_generation = Some(1);
        conditions::apply(
            &mut st.conditions,
            conditions::desired(outcome),
            Some(generation),
            "t1",
        );
        if !matches!(outcome, Outcome::Paused) {
            st.observed_generation = Some(generation);
        }
        let status = serde_json::to_value(&st).expect("status to JSON");
        let (got, message) = health(&membership(generation, Some(status)));
        if got != *want {
            failures.push(format!("{outcome:?}: got {got} ({message}), want {want}"));
        }
        assert!(!message.is_empty(), "{outcome:?}: empty message");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn health_script_uses_only_what_argo_cd_offers() {
    // Argo CD's sandbox has no io, no full os, no module loading. The cases above run with
    // those libraries absent; this also covers lines no case reaches. (Lua 5.2+ syntax needs
    // no scan: the 5.1 interpreter refuses to load it.)
    let text = script();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("--").next().unwrap_or("");
        for forbidden in ["io.", "os.", "require", "dofile", "loadfile", "loadstring"] {
            assert!(
                !code.contains(forbidden),
                "health.lua:{}: uses {forbidden:?}, which Argo CD health scripts do not have",
                n + 1
            );
        }
    }
}
