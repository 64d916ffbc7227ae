//! The simulator's HTTP surface: the EDAS ROA API (routed on method + path, every business
//! parameter from the query string, signatures verified, faults injected, every call logged)
//! and the unsigned `/_sim/*` admin endpoints.

use super::auth::{self, Incoming};
use super::document::{FaultsPatch, parse_document};
use super::error::{ApiError, GatewayError};
use super::state::{AppFilter, CallRecord, ConsoleOrderRequest, Inner, SimState};
use crate::edas::{Operation, wire};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Bodies larger than this are refused (no EDAS operation here has a body at all).
const MAX_BODY: usize = 1 << 20;

/// Put on a response to have the connection closed instead of answering (`dropRate`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DropConnection;

pub(crate) fn router(state: SimState) -> Router {
    Router::new()
        .route("/_sim/state", get(admin_state))
        .route("/_sim/calls", get(admin_calls).delete(admin_clear_calls))
        .route("/_sim/faults", get(admin_get_faults).post(admin_set_faults))
        .route(
            "/_sim/apps/{app_id}/change-orders",
            post(admin_change_order),
        )
        .route("/_sim/reset", post(admin_reset))
        .fallback(api)
        .with_state(state)
}

// ------------------------------------------------------------------ admin

fn admin_error(status: u16, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn admin_json<T: Serialize>(v: &T) -> Response {
    match serde_json::to_value(v) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => admin_error(500, format!("cannot encode the answer: {e}")),
    }
}

/// Parse a JSON admin body; the error names the field.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("empty body: expected a JSON document".into());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("invalid JSON document: {}", e.inner())
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

async fn admin_state(State(sim): State<SimState>) -> Response {
    admin_json(&sim.snapshot())
}

async fn admin_calls(
    State(sim): State<SimState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut calls = sim.calls();
    if let Some(action) = q.get("action") {
        calls.retain(|c| &c.action == action);
    }
    admin_json(&calls)
}

async fn admin_clear_calls(State(sim): State<SimState>) -> Response {
    sim.clear_calls();
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_get_faults(State(sim): State<SimState>) -> Response {
    admin_json(&sim.faults())
}

async fn admin_set_faults(State(sim): State<SimState>, body: Bytes) -> Response {
    let patch: FaultsPatch = match parse_json(&body) {
        Ok(p) => p,
        Err(e) => return admin_error(400, e),
    };
    match sim.set_faults(&patch) {
        Ok(f) => admin_json(&f),
        Err(e) => admin_error(400, e),
    }
}

async fn admin_change_order(
    State(sim): State<SimState>,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Response {
    let req: ConsoleOrderRequest = match parse_json(&body) {
        Ok(p) => p,
        Err(e) => return admin_error(400, e),
    };
    match sim.start_change_order(&app_id, &req) {
        Ok(id) => (
            StatusCode::CREATED,
            axum::Json(json!({ "changeOrderId": id })),
        )
            .into_response(),
        Err(e) => admin_error(e.http_status, e.message),
    }
}

async fn admin_reset(State(sim): State<SimState>, body: Bytes) -> Response {
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t,
        Err(e) => return admin_error(400, format!("the document is not UTF-8: {e}")),
    };
    let doc = match parse_document(text) {
        Ok(d) => d,
        Err(e) => return admin_error(400, e.to_string()),
    };
    match sim.reset(doc) {
        Ok(()) => admin_json(&sim.snapshot()),
        Err(e) => admin_error(400, e.to_string()),
    }
}

// ------------------------------------------------------------------ the EDAS API

async fn api(State(sim): State<SimState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path == "/_sim" || path.starts_with("/_sim/") {
        return admin_error(404, format!("no admin endpoint {} {path}", parts.method));
    }
    let method = parts.method.as_str().to_string();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let query = auth::decode_query(parts.uri.query());
    let body = axum::body::to_bytes(body, MAX_BODY).await;

    let latency = sim.faults().latency_ms;
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }

    let request_id = uuid::Uuid::new_v4().to_string().to_ascii_uppercase();
    let (status, body, dropped) = sim.with(|inner, now| {
        let incoming = Incoming {
            method: &method,
            path: &path,
            query: &query,
            headers: &headers,
            body: body.as_deref().unwrap_or_default(),
        };
        let mut call = CallRecord {
            action: String::new(),
            method: method.clone(),
            path: path.clone(),
            params: query.iter().cloned().collect(),
            http_status: 200,
            code: Value::Null,
            at: now,
            request_id: request_id.clone(),
            access_key_id: None,
            dropped: false,
        };
        let op = Operation::from_route(&method, &path);
        call.action = match op {
            Some(op) => op.name().to_string(),
            None => incoming.header("x-acs-action").unwrap_or("").to_string(),
        };
        let result = serve_api(
            inner,
            op,
            &incoming,
            body.is_err(),
            now,
            &request_id,
            &mut call,
        );
        let host_id = incoming.header("host").unwrap_or("edas.aliyuncs.com");
        let (status, body) = match result {
            Ok(v) => (200, v),
            Err(ApiError::Business { code, message }) => (
                200,
                json!({ "Code": code, "Message": message, "RequestId": request_id }),
            ),
            Err(ApiError::Gateway(g)) => (
                g.http_status,
                json!({
                    "RequestId": request_id,
                    "HostId": host_id,
                    "Code": g.code,
                    "Message": g.message,
                }),
            ),
        };
        let dropped = op.is_some() && rand::random::<f64>() < inner.faults.drop_rate;
        call.http_status = status;
        call.code = body.get("Code").cloned().unwrap_or(Value::Null);
        let malformed = status == 200
            && op.is_some_and(|o| !o.is_mutation())
            && rand::random::<f64>() < inner.faults.malformed_rate;
        let body = if malformed {
            call.code = Value::String("malformed".into());
            // Cut the answer short: valid JSON up to the middle, then nothing.
            let text = body.to_string();
            let cut: String = text.chars().take(text.chars().count() / 2).collect();
            Value::String(cut)
        } else {
            body
        };
        call.dropped = dropped;
        tracing::debug!(
            action = %call.action,
            method = %call.method,
            http_status = status,
            code = %call.code,
            dropped,
            request_id = %request_id,
            "EDAS API call"
        );
        inner.record_call(call);
        (status, body, dropped)
    });
    let mut resp = api_response(status, &body, &request_id);
    if dropped {
        resp.extensions_mut().insert(DropConnection);
    }
    resp
}

fn api_response(status: u16, body: &Value, request_id: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // A string body is a deliberately malformed answer (`malformedRate`): sent as is.
    let text = match body {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    };
    let mut resp = (status, Body::from(text)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-acs-request-id", v);
    }
    resp
}

/// Gateway checks in the gateway's order, then the operation. `call` learns the access key.
fn serve_api(
    inner: &mut Inner,
    op: Option<Operation>,
    req: &Incoming<'_>,
    body_too_large: bool,
    now: i64,
    request_id: &str,
    call: &mut CallRecord,
) -> Result<Value, ApiError> {
    let Some(op) = op else {
        return Err(GatewayError::new(
            404,
            "InvalidApi.NotFound",
            format!(
                "Specified api is not found, please check your url and method: {} {}",
                req.method, req.path
            ),
        )
        .into());
    };
    if body_too_large {
        return Err(GatewayError::new(
            400,
            "InvalidParameter",
            format!("The request body is larger than {MAX_BODY} bytes."),
        )
        .into());
    }
    if rand::random::<f64>() < inner.faults.error_rate {
        return Err(GatewayError::new(
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        )
        .into());
    }
    let verified = auth::verify(req, &|ak| inner.access_key(ak), now)?;
    call.access_key_id = Some(verified.access_key_id.clone());
    if let Some(nonce) = &verified.nonce {
        inner.use_nonce(&verified.access_key_id, nonce, now)?;
    }
    if rand::random::<f64>() < inner.faults.throttle_rate {
        return Err(GatewayError::new(
            400,
            "Throttling.User",
            "Request was denied due to user flow control.",
        )
        .into());
    }
    inner.take_rate(&verified.access_key_id, op, now)?;
    let params: BTreeMap<String, String> = req.query.iter().cloned().collect();
    dispatch(inner, op, &Params(&params), now, request_id)
}

struct Params<'a>(&'a BTreeMap<String, String>);

impl Params<'_> {
    fn optional(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
    fn required(&self, name: &str) -> Result<&str, GatewayError> {
        self.optional(name)
            .ok_or_else(|| GatewayError::missing(name))
    }
    fn bool(&self, name: &str) -> Result<Option<bool>, GatewayError> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(GatewayError::invalid(
                name,
                format!("expected true or false, got {v:?}"),
            )),
        }
    }
    fn positive(&self, name: &str) -> Result<Option<usize>, GatewayError> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(Some(n)),
                _ => Err(GatewayError::invalid(
                    name,
                    format!("expected a positive integer, got {v:?}"),
                )),
            },
        }
    }
    /// A required comma-separated list: trimmed, no empty items, duplicates dropped.
    fn list(&self, name: &str) -> Result<Vec<String>, GatewayError> {
        let raw = self.required(name)?;
        let mut out: Vec<String> = Vec::new();
        for item in raw.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(GatewayError::invalid(
                    name,
                    format!("empty item in the comma-separated list {raw:?}"),
                ));
            }
            if !out.iter().any(|o| o == item) {
                out.push(item.to_string());
            }
        }
        Ok(out)
    }
}

fn ok(request_id: &str) -> wire::Envelope {
    wire::Envelope {
        code: Some(wire::Code::Int(200)),
        message: Some("success".into()),
        request_id: Some(request_id.into()),
        host_id: None,
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| {
        GatewayError::new(
            500,
            "InternalError",
            format!("cannot encode the answer: {e}"),
        )
        .into()
    })
}

fn dispatch(
    inner: &mut Inner,
    op: Operation,
    p: &Params<'_>,
    now: i64,
    rid: &str,
) -> Result<Value, ApiError> {
    match op {
        Operation::QueryApplicationStatus => {
            let app_id = p.required("AppId")?;
            encode(&wire::QueryApplicationStatusResponse {
                envelope: ok(rid),
                app_info: Some(inner.query_application_status(app_id, now)?),
            })
        }
        Operation::ScaleInApplication => {
            let app_id = p.required("AppId")?;
            let eccs = p.list("EccInfo")?;
            let force = p.bool("ForceStatus")?.unwrap_or(false);
            let id = inner.scale_in(app_id, &eccs, force, "pop", now)?;
            encode(&wire::ChangeOrderCreatedResponse {
                envelope: ok(rid),
                change_order_id: id,
            })
        }
        Operation::ScaleOutApplication => {
            let app_id = p.required("AppId")?;
            let group = p.required("DeployGroup")?;
            let ecus = p.list("EcuInfo")?;
            let id = inner.scale_out(app_id, group, &ecus, "pop", now)?;
            encode(&wire::ChangeOrderCreatedResponse {
                envelope: ok(rid),
                change_order_id: Some(id),
            })
        }
        Operation::GetChangeOrderInfo => {
            let id = p.required("ChangeOrderId")?;
            encode(&wire::GetChangeOrderInfoResponse {
                envelope: ok(rid),
                change_order_info: Some(inner.change_order_info(id)?),
            })
        }
        Operation::ListRecentChangeOrder => {
            let app_id = p.required("AppId")?;
            encode(&wire::ListRecentChangeOrderResponse {
                envelope: ok(rid),
                change_order_list: Some(wire::ChangeOrderList {
                    items: inner.recent_change_orders(app_id)?,
                }),
            })
        }
        Operation::ListApplication => {
            let app_ids = match p.optional("AppIds") {
                Some(_) => Some(p.list("AppIds")?),
                None => None,
            };
            let region = p
                .optional("LogicalRegionId")
                .map(|r| r.split(':').next().unwrap_or(r))
                .or(p.optional("RegionId"))
                .map(str::to_string);
            let filter = AppFilter {
                app_ids,
                name: p.optional("AppName").map(str::to_string),
                cluster_id: p.optional("ClusterId").map(str::to_string),
                region_id: region,
                page: p.positive("CurrentPage")?,
                page_size: p.positive("PageSize")?,
            };
            encode(&wire::ListApplicationResponse {
                envelope: ok(rid),
                application_list: Some(wire::ApplicationList {
                    items: inner.list_applications(&filter),
                }),
            })
        }
        Operation::GetApplication => {
            let app_id = p.required("AppId")?;
            encode(&wire::GetApplicationResponse {
                envelope: ok(rid),
                application: Some(inner.get_application(app_id)?),
            })
        }
        Operation::ListDeployGroup => {
            let app_id = p.required("AppId")?;
            encode(&wire::ListDeployGroupResponse {
                envelope: ok(rid),
                deploy_group_list: Some(wire::DeployGroupList {
                    items: inner.deploy_groups(app_id)?,
                }),
            })
        }
        Operation::ListScaleOutEcu => {
            let app_id = p.optional("AppId");
            let cluster_id = p.optional("ClusterId");
            if app_id.is_none() && cluster_id.is_none() {
                return Err(GatewayError::new(
                    400,
                    "MissingParameter",
                    "One of the input parameters \"AppId\" or \"ClusterId\" is mandatory for \
                     processing this request and neither is supplied.",
                )
                .into());
            }
            p.positive("Cpu")?;
            p.positive("Mem")?;
            let limit = p.positive("InstanceNum")?;
            encode(&wire::ListScaleOutEcuResponse {
                envelope: ok(rid),
                ecu_info_list: Some(wire::EcuInfoList {
                    items: inner.scale_out_ecus(app_id, cluster_id, limit, now)?,
                }),
            })
        }
        Operation::ContinuePipeline => {
            let pipeline = p.required("PipelineId")?;
            let confirm = p.bool("Confirm")?.unwrap_or(true);
            inner.continue_pipeline(pipeline, confirm, now)?;
            encode(&ok(rid))
        }
        Operation::AbortChangeOrder => {
            let id = p.required("ChangeOrderId")?;
            inner.abort(id, now)?;
            encode(&wire::AbortChangeOrderResponse {
                envelope: ok(rid),
                trace_id: Some(rid.to_ascii_lowercase()),
                error_code: None,
                data: Some(wire::AbortData {
                    change_order_id: id.to_string(),
                }),
            })
        }
    }
}
