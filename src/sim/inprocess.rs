//! [`InProcessEdas`]: the simulator as an [`EdasApi`] without HTTP, for fast controller tests.
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
use crate::edas::client::{
    app_status_from_wire, application_from_wire, applications_from_wire, change_order_from_wire,
    classify_mutation_failure, decode_response, missing, recent_orders_from_wire,
};
use crate::edas::error::TransportKind;
use crate::edas::{
    AppStatus, ApplicationSummary, ChangeOrderDetail, ChangeOrderSummary, EdasApi, EdasError,
    Operation, Result, wire,
};
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

fn invalid_ids(ids: &[String]) -> bool {
    ids.is_empty() || ids.iter().any(|e| e.is_empty() || e.contains(','))
}

#[async_trait::async_trait]
impl EdasApi for InProcessEdas {
    async fn query_application_status(&self, app_id: &str) -> Result<AppStatus> {
        let op = Operation::QueryApplicationStatus;
        let (r, rid): (wire::QueryApplicationStatusResponse, _) =
            self.call(op, &[("AppId", app_id.to_string())]).await?;
        let info = r
            .app_info
            .ok_or_else(|| missing(op.name(), "AppInfo", rid.clone()))?;
        app_status_from_wire(app_id, info, rid)
    }

    async fn scale_in_application(
        &self,
        app_id: &str,
        ecc_ids: &[String],
        force: bool,
    ) -> Result<Option<String>> {
        let op = Operation::ScaleInApplication;
        if invalid_ids(ecc_ids) {
            return Err(EdasError::Invalid {
                operation: op.name(),
                detail: format!("EccInfo must be one or more non-empty ECC ids: {ecc_ids:?}"),
            });
        }
        let params = [
            ("AppId", app_id.to_string()),
            ("EccInfo", ecc_ids.join(",")),
            ("ForceStatus", force.to_string()),
        ];
        let (r, rid): (wire::ChangeOrderCreatedResponse, _) = self.call(op, &params).await?;
        match r.change_order_id.filter(|s| !s.is_empty()) {
            Some(id) => Ok(Some(id)),
            None if force => Ok(None),
            None => Err(EdasError::OutcomeUnknown {
                operation: op.name(),
                source: Box::new(missing(op.name(), "ChangeOrderId", rid)),
            }),
        }
    }

    async fn scale_out_application(
        &self,
        app_id: &str,
        deploy_group: &str,
        ecu_ids: &[String],
    ) -> Result<String> {
        let op = Operation::ScaleOutApplication;
        if deploy_group.is_empty() || invalid_ids(ecu_ids) {
            return Err(EdasError::Invalid {
                operation: op.name(),
                detail: format!(
                    "DeployGroup and EcuInfo (one or more non-empty ECU ids) are required: \
                     {deploy_group:?} {ecu_ids:?}"
                ),
            });
        }
        let params = [
            ("AppId", app_id.to_string()),
            ("DeployGroup", deploy_group.to_string()),
            ("EcuInfo", ecu_ids.join(",")),
        ];
        let (r, rid): (wire::ChangeOrderCreatedResponse, _) = self.call(op, &params).await?;
        r.change_order_id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| EdasError::OutcomeUnknown {
                operation: op.name(),
                source: Box::new(missing(op.name(), "ChangeOrderId", rid)),
            })
    }

    async fn get_change_order_info(&self, change_order_id: &str) -> Result<ChangeOrderDetail> {
        let op = Operation::GetChangeOrderInfo;
        let (r, rid): (wire::GetChangeOrderInfoResponse, _) = self
            .call(op, &[("ChangeOrderId", change_order_id.to_string())])
            .await?;
        let info = r
            .change_order_info
            .ok_or_else(|| missing(op.name(), "changeOrderInfo", rid.clone()))?;
        change_order_from_wire(info, rid)
    }

    async fn list_recent_change_orders(&self, app_id: &str) -> Result<Vec<ChangeOrderSummary>> {
        let op = Operation::ListRecentChangeOrder;
        let (r, rid) = self.call(op, &[("AppId", app_id.to_string())]).await?;
        recent_orders_from_wire(r, rid)
    }

    async fn list_applications(&self) -> Result<Vec<ApplicationSummary>> {
        let (r, _) = self.call(Operation::ListApplication, &[]).await?;
        Ok(applications_from_wire(r))
    }

    async fn get_application(&self, app_id: &str) -> Result<ApplicationSummary> {
        let op = Operation::GetApplication;
        let (r, rid) = self.call(op, &[("AppId", app_id.to_string())]).await?;
        application_from_wire(r, rid)
    }

    async fn continue_pipeline(&self, pipeline_id: &str, confirm: bool) -> Result<()> {
        let params = [
            ("PipelineId", pipeline_id.to_string()),
            ("Confirm", confirm.to_string()),
        ];
        let _: (wire::Envelope, _) = self.call(Operation::ContinuePipeline, &params).await?;
        Ok(())
    }

    async fn abort_change_order(&self, change_order_id: &str) -> Result<()> {
        let params = [("ChangeOrderId", change_order_id.to_string())];
        let _: (wire::AbortChangeOrderResponse, _) =
            self.call(Operation::AbortChangeOrder, &params).await?;
        Ok(())
    }
}
