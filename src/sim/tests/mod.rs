//! The simulator's unit tests, by concern: `orders` (the change-order machine, operations,
//! gateway bookkeeping), `lag` (lateApply, asyncForce, staleReads), `admin` (console actions,
//! regional listing, the call log), `cluster` (cluster-level ECUs, unhealthyScaleOut),
//! `inprocess` (`InProcessEdas` against `EdasError`). All on a `ManualClock`.

mod admin;
mod cluster;
mod inprocess;
mod lag;
mod orders;

use super::api::{ApiAnswer, ApiCall};
use super::document::{
    AccessKeyDoc, AppDoc, BatchType, ChangeOrderSettings, EccDoc, EcuDoc, FaultsPatch,
    StateDocument,
};
use super::{ConsoleOrderRequest, ManualClock, SimState};
use crate::edas::Operation;
use crate::sim::error::ApiError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_000_000;

pub(super) fn doc(batch_count: u32, batch_type: BatchType) -> StateDocument {
    let ecus = (1..=4)
        .map(|n| EcuDoc {
            ecu_id: format!("u{n}"),
            instance_id: format!("i-{n}"),
            ip: format!("10.0.0.{n}"),
            group_id: None,
        })
        .collect();
    let eccs = (1..=3)
        .map(|n| EccDoc {
            ecc_id: format!("c{n}"),
            ecu_id: format!("u{n}"),
            group_id: None,
            app_state: 7,
            task_state: 2,
        })
        .collect();
    StateDocument {
        access_keys: vec![AccessKeyDoc {
            id: "ak".into(),
            secret: "sk".into(),
            security_token: None,
        }],
        apps: vec![AppDoc {
            app_id: "app".into(),
            region_id: "cn-hangzhou".into(),
            ecus,
            eccs,
            ..Default::default()
        }],
        change_orders: ChangeOrderSettings {
            seconds_per_instance: 1.0,
            batch_type,
            batch_count,
            batch_wait_seconds: 0.0,
        },
        ..Default::default()
    }
}

pub(super) fn sim(batch_count: u32, batch_type: BatchType) -> (SimState, Arc<ManualClock>) {
    let clock = ManualClock::new(T0);
    let s = SimState::with_clock(doc(batch_count, batch_type), clock.clone()).unwrap();
    (s, clock)
}

pub(super) fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub(super) fn status(s: &SimState, id: &str) -> i64 {
    s.with(|i, _| i.order(id).unwrap().status.code())
}

pub(super) fn eccs(s: &SimState) -> Vec<String> {
    s.snapshot().apps[0]
        .eccs
        .iter()
        .map(|e| e.ecc_id.clone())
        .collect()
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Set faults from a `POST /_sim/faults` body.
pub(super) fn set_faults(s: &SimState, json: &str) {
    let patch: FaultsPatch = serde_json::from_str(json).unwrap();
    s.set_faults(&patch).unwrap();
}

/// An API call through the pipeline, as the in-process caller `ak` (no signature).
pub(super) fn call(s: &SimState, op: Operation, params: &[(&str, &str)]) -> ApiAnswer {
    call_with(s, op, params, &[])
}

pub(super) fn call_with(
    s: &SimState,
    op: Operation,
    params: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> ApiAnswer {
    let query: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.serve(&ApiCall {
        method: op.method(),
        path: op.path(),
        query: &query,
        headers: &headers,
        body: b"",
        body_too_large: false,
        trusted_key: Some("ak"),
        request_id: &uuid::Uuid::new_v4().to_string(),
    })
}

pub(super) fn body(a: &ApiAnswer) -> Value {
    serde_json::from_str(&a.body).unwrap()
}

pub(super) fn scale_in(s: &SimState, eccs: &str) -> ApiAnswer {
    call(
        s,
        Operation::ScaleInApplication,
        &[("AppId", "app"), ("EccInfo", eccs)],
    )
}
