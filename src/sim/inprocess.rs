//! [`InProcessEdas`]: the simulator as an [`crate::edas::EdasApi`] (a [`Transport`] for the
//! shared implementation in `edas::operations`) without HTTP, for fast controller tests.
//!
//! Every call goes through the same pipeline as the HTTP server (`api.rs`): the same operation
//! code, faults, rate windows and call log (`CallRecord`s, with `accessKeyId` set, nothing
//! signed). Answers are decoded by the real client's own decoder
//! ([`crate::edas::client::decode_response`]), so a fault becomes the [`EdasError`] the real
//! client would return for it:
//!
//! | simulator | `EdasError` |
//! |---|---|
//! | `errorRate` | `Gateway` 503 `ServiceUnavailable` (retryable); on ScaleIn/ScaleOut wrapped in `OutcomeUnknown` |
//! | `throttleRate`, rate window | `Gateway` 400 `Throttling.User` (retryable; on a mutation: known not applied) |
//! | `lateApply` gateway504 | `OutcomeUnknown` wrapping `Gateway` 504 `ServiceTimeout` |
//! | `lateApply` drop, `dropRate` | mutation: `OutcomeUnknown` wrapping `Transport` `Reset`; read: `Transport` `Reset` (retryable) |
//! | `lateApply` hang | `OutcomeUnknown` wrapping `Transport` `Timeout`, at once (no real waiting) |
//! | `malformedRate` | `Decode` (HTTP 200) |
//! | 601 (busy app, unknown ECC...) | `Business` code 601, as the client makes it (`is_change_order_in_progress()` holds for a busy app) |
//!
//! Differences from `EdasClient` over HTTP, on purpose: one attempt per call (no read retries,
//! no sleeping: the caller sees the retryable error), `latencyMs` is not applied, nothing is
//! signed (no nonces), and time is the [`SimState`]'s clock, so with a
//! [`super::ManualClock`] a test moves time explicitly.

use super::api::{ApiCall, Delivery};
use super::state::SimState;
use crate::edas::client::{classify_mutation_failure, decode_response};
use crate::edas::error::TransportKind;
use crate::edas::operations::Transport;
use crate::edas::{EdasError, Operation, Result};
use serde::de::DeserializeOwned;

/// The simulator's EDAS API in the same process. Cheap to clone; shares the [`SimState`].
#[derive(Clone, Debug)]
pub struct InProcessEdas {
    state: SimState,
    access_key_id: String,
    region: Option<String>,
}

impl InProcessEdas {
    /// Calls as the access key `access_key_id` (it must be in the state document, else every
    /// call is `InvalidAccessKeyId.NotFound`).
    pub fn new(state: SimState, access_key_id: impl Into<String>) -> Self {
        Self {
            state,
            access_key_id: access_key_id.into(),
            region: None,
        }
    }

    /// Send this region as the `x-acs-region-id` header (ListApplication lists its apps only).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// Call an operation and decode its body into `T`, as `EdasClient::call` does (one
    /// attempt). Empty parameter values are not sent.
    pub async fn call<T: DeserializeOwned>(
        &self,
        op: Operation,
        params: &[(&str, String)],
    ) -> Result<(T, Option<String>)> {
        let query: Vec<(String, String)> = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut headers = vec![("x-acs-action".to_string(), op.name().to_string())];
        if let Some(region) = &self.region {
            headers.push(("x-acs-region-id".to_string(), region.clone()));
        }
        let request_id = uuid::Uuid::new_v4().to_string().to_ascii_uppercase();
        let answer = self.state.serve(&ApiCall {
            method: op.method(),
            path: op.path(),
            query: &query,
            headers: &headers,
            body: b"",
            body_too_large: false,
            trusted_key: Some(&self.access_key_id),
            request_id: &request_id,
        });
        let name = op.name();
        let result = match answer.delivery {
            Delivery::Answer => decode_response(
                name,
                answer.http_status,
                answer.body.as_bytes(),
                None,
                Some(request_id),
            ),
            Delivery::Drop => Err(EdasError::Transport {
                operation: name,
                kind: TransportKind::Reset,
                detail: "connection closed before a response (simulated)".into(),
            }),
            Delivery::Hang => Err(EdasError::Transport {
                operation: name,
                kind: TransportKind::Timeout,
                detail: "no response before the client gave up (simulated hang)".into(),
            }),
        };
        result.map_err(|e| {
            if op.is_mutation() {
                classify_mutation_failure(op, e)
            } else {
                e
            }
        })
    }
}

#[async_trait::async_trait]
impl Transport for InProcessEdas {
    async fn call<T: DeserializeOwned + Send>(
        &self,
        op: Operation,
        params: &[(&str, String)],
    ) -> Result<(T, Option<String>)> {
        InProcessEdas::call(self, op, params).await
    }
}
