//! The simulator's HTTP surface: the EDAS ROA API (every call goes through the transport-free
//! pipeline in `api.rs`: signatures verified, faults injected, every call logged) and the
//! unsigned `/_sim/*` admin endpoints.

use super::admin::{ConsoleOrderRequest, EndOrderRequest};
use super::api::{ApiCall, Delivery, MAX_BODY};
use super::auth;
use super::document::{FaultsPatch, parse_document};
use super::state::SimState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a hanging answer (`lateApply` mode `hang`) holds the connection at most.
pub const HANG_FOR: Duration = Duration::from_secs(600);

/// Put on a response to have the connection closed instead of answering (`dropRate`,
/// `lateApply` drop).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DropConnection;

/// Put on a response to send nothing and hold the connection this long, then close it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HangConnection(pub Duration);

pub(crate) fn router(state: SimState) -> Router {
    Router::new()
        .route("/_sim/state", get(admin_state))
        .route("/_sim/calls", get(admin_calls).delete(admin_clear_calls))
        .route("/_sim/faults", get(admin_get_faults).post(admin_set_faults))
        .route(
            "/_sim/apps/{app_id}/change-orders",
            post(admin_change_order),
        )
        .route("/_sim/change-orders/{id}/end", post(admin_end_order))
        .route("/_sim/reset", post(admin_reset))
        .route("/_sim/oidc-tokens", post(admin_mint_token))
        .route("/_sim/sts/issued", get(admin_issued))
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

async fn admin_end_order(
    State(sim): State<SimState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req: EndOrderRequest = match parse_json(&body) {
        Ok(p) => p,
        Err(e) => return admin_error(400, e),
    };
    match sim.end_change_order(&id, req.status) {
        Ok(order) => admin_json(&order),
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

async fn admin_mint_token(State(sim): State<SimState>, body: Bytes) -> Response {
    let req: super::sts::MintTokenRequest = match parse_json(&body) {
        Ok(p) => p,
        Err(e) => return admin_error(400, e),
    };
    match sim.mint_oidc_token(&req) {
        Ok(token) => axum::Json(json!({ "token": token })).into_response(),
        Err(e) => admin_error(400, e),
    }
}

async fn admin_issued(State(sim): State<SimState>) -> Response {
    admin_json(&sim.issued_credentials())
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

    let latency = sim.latency_ms();
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }

    let request_id = uuid::Uuid::new_v4().to_string().to_ascii_uppercase();
    if path == "/" || path.starts_with("/latest/") {
        let answer = if path == "/" {
            // STS: RPC parameters in the query and (POST) the form body, signed alike.
            let mut params = query.clone();
            if let Ok(b) = &body {
                params.extend(auth::decode_query(std::str::from_utf8(b).ok()));
            }
            sim.serve_sts(&method, &params, &request_id)
        } else {
            sim.serve_imds(&method, &path, &headers)
        };
        let mut resp = api_response(answer.http_status, answer.body, &request_id);
        if !answer.json {
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        return resp;
    }
    let answer = sim.serve(&ApiCall {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
        body: body.as_deref().unwrap_or_default(),
        body_too_large: body.is_err(),
        trusted_key: None,
        request_id: &request_id,
    });
    let mut resp = api_response(answer.http_status, answer.body, &request_id);
    match answer.delivery {
        Delivery::Answer => {}
        Delivery::Drop => {
            resp.extensions_mut().insert(DropConnection);
        }
        Delivery::Hang => {
            resp.extensions_mut().insert(HangConnection(HANG_FOR));
        }
    }
    resp
}

fn api_response(status: u16, body: String, request_id: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, Body::from(body)).into_response();
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
