//! The EDAS API behind any transport: the gateway's checks in the gateway's order, the faults,
//! the operation, the call log. The HTTP server (`server.rs`) and the in-process client
//! (`inprocess.rs`) both go through [`Inner::serve`], so they behave, fail and log alike.
//!
//! Order: route -> `errorRate` (503) -> authentication (signature, or a trusted in-process
//! key) and nonce -> `throttleRate` -> rate window -> parameters -> `lateApply` (ScaleIn,
//! ScaleOut) -> the operation (`asyncForce`, `staleReads`, `partialEcuList`, `duplicateRows`
//! inside) -> `dropRate` -> `malformedRate` -> the call log. `failNextChangeOrders`,
//! `stallChangeOrders` and `unhealthyScaleOut` shape the change orders created meanwhile.

use super::auth::{self, Incoming};
use super::error::{ApiError, GatewayError};
use super::faults::LateApplyMode;
use super::gateway::{CallRecord, list_items};
use super::lag::Deferred;
use super::ops::{AppFilter, Mutation};
use super::state::Inner;
use crate::edas::{Operation, wire};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Bodies larger than this are refused (no EDAS operation here has a body at all).
pub(crate) const MAX_BODY: usize = 1 << 20;

/// One API call as it reached the simulator.
pub(crate) struct ApiCall<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Decoded query pairs, in order.
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub body_too_large: bool,
    /// `None`: verify the signature (HTTP). `Some(id)`: an in-process caller using that key
    /// (it must exist; nothing is signed).
    pub trusted_key: Option<&'a str>,
    pub request_id: &'a str,
}

impl<'a> ApiCall<'a> {
    fn incoming(&self) -> Incoming<'a> {
        Incoming {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: self.headers,
            body: self.body,
        }
    }
    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the answer leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Answer,
    /// Close the connection without an answer.
    Drop,
    /// Send nothing until the client gives up.
    Hang,
}

/// What to send back.
#[derive(Clone, Debug)]
pub(crate) struct ApiAnswer {
    pub http_status: u16,
    /// The body as sent (JSON, or cut short by `malformedRate`).
    pub body: String,
    pub delivery: Delivery,
}

/// A call that got past the gateway.
enum Outcome {
    Done(Value),
    /// Handed to the back end for later (`lateApply`), answered this way.
    Late(LateApplyMode),
}

fn new_record(call: &ApiCall<'_>, op: Option<Operation>, now: i64) -> CallRecord {
    let params: BTreeMap<String, String> = call.query.iter().cloned().collect();
    CallRecord {
        action: match op {
            Some(op) => op.name().to_string(),
            None => call.header("x-acs-action").unwrap_or("").to_string(),
        },
        method: call.method.to_string(),
        path: call.path.to_string(),
        ecc_ids: list_items(params.get("EccInfo")),
        ecu_ids: list_items(params.get("EcuInfo")),
        params,
        http_status: 200,
        code: Value::Null,
        at: now,
        request_id: call.request_id.to_string(),
        ..CallRecord::default()
    }
}

fn gateway_body(g: &GatewayError, request_id: &str, host: &str) -> Value {
    json!({
        "RequestId": request_id,
        "HostId": host,
        "Code": g.code,
        "Message": g.message,
    })
}

impl Inner {
    /// Serve one API call at `now` and log it.
    pub(crate) fn serve(&mut self, call: &ApiCall<'_>, now: i64) -> ApiAnswer {
        let op = Operation::from_route(call.method, call.path);
        let mut record = new_record(call, op, now);
        let outcome = self.checked(op, call, now, &mut record);
        let host = call.header("host").unwrap_or("edas.aliyuncs.com");
        let rid = call.request_id;
        let (status, body, mut delivery) = match outcome {
            Ok(Outcome::Done(v)) => (200, v, Delivery::Answer),
            Ok(Outcome::Late(LateApplyMode::Gateway504)) => {
                let g = GatewayError::new(
                    504,
                    "ServiceTimeout",
                    "The request has failed due to a gateway timeout: the service did not \
                     answer in time.",
                );
                (504, gateway_body(&g, rid, host), Delivery::Answer)
            }
            Ok(Outcome::Late(LateApplyMode::Drop)) => (0, Value::Null, Delivery::Drop),
            Ok(Outcome::Late(LateApplyMode::Hang)) => (0, Value::Null, Delivery::Hang),
            Err(ApiError::Business { code, message }) => (
                200,
                json!({ "Code": code, "Message": message, "RequestId": rid }),
                Delivery::Answer,
            ),
            Err(ApiError::Gateway(g)) => {
                (g.http_status, gateway_body(&g, rid, host), Delivery::Answer)
            }
        };
        record.http_status = status;
        record.code = body.get("Code").cloned().unwrap_or(Value::Null);
        if delivery == Delivery::Answer
            && op.is_some()
            && rand::random::<f64>() < self.faults.drop_rate
        {
            delivery = Delivery::Drop;
            record.fault = Some("dropRate".into());
        }
        record.dropped = delivery == Delivery::Drop;
        record.hung = delivery == Delivery::Hang;
        let body = self.maybe_malformed(op, status, body, &mut record);
        tracing::debug!(
            action = %record.action,
            method = %record.method,
            http_status = status,
            code = %record.code,
            dropped = record.dropped,
            request_id = %rid,
            "EDAS API call"
        );
        self.gateway.record_call(record);
        ApiAnswer {
            http_status: status,
            body,
            delivery,
        }
    }

    /// `malformedRate`: a successful read answered with its JSON cut in the middle.
    fn maybe_malformed(
        &self,
        op: Option<Operation>,
        status: u16,
        body: Value,
        record: &mut CallRecord,
    ) -> String {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let malformed = status == 200
            && op.is_some_and(|o| !o.is_mutation())
            && rand::random::<f64>() < self.faults.malformed_rate;
        if !malformed {
            return text;
        }
        record.code = Value::String("malformed".into());
        record.fault = Some("malformedRate".into());
        text.chars().take(text.chars().count() / 2).collect()
    }

    /// Gateway checks in the gateway's order, then the operation.
    fn checked(
        &mut self,
        op: Option<Operation>,
        call: &ApiCall<'_>,
        now: i64,
        record: &mut CallRecord,
    ) -> Result<Outcome, ApiError> {
        let Some(op) = op else {
            return Err(GatewayError::new(
                404,
                "InvalidApi.NotFound",
                format!(
                    "Specified api is not found, please check your url and method: {} {}",
                    call.method, call.path
                ),
            )
            .into());
        };
        if call.body_too_large {
            return Err(GatewayError::new(
                400,
                "InvalidParameter",
                format!("The request body is larger than {MAX_BODY} bytes."),
            )
            .into());
        }
        if rand::random::<f64>() < self.faults.error_rate {
            record.fault = Some("errorRate".into());
            return Err(GatewayError::new(
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
            )
            .into());
        }
        let ak = self.authenticate(call, now, record)?;
        if rand::random::<f64>() < self.faults.throttle_rate {
            record.fault = Some("throttleRate".into());
            return Err(GatewayError::new(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
            )
            .into());
        }
        let owner = self.gateway.rate_owner(&ak);
        self.gateway.take_rate(&owner, op, now)?;
        let query = record.params.clone();
        let params = Params(&query);
        match parse_mutation(op, &params)? {
            Some(m) => self.mutate(m, call.request_id, now, record),
            None => self
                .dispatch(
                    op,
                    &params,
                    call.header("x-acs-region-id"),
                    now,
                    call.request_id,
                )
                .map(Outcome::Done),
        }
    }

    /// The access key id, from a verified signature or a trusted in-process caller.
    fn authenticate(
        &mut self,
        call: &ApiCall<'_>,
        now: i64,
        record: &mut CallRecord,
    ) -> Result<String, ApiError> {
        if let Some(ak) = call.trusted_key {
            if self.gateway.access_key(ak).is_none() {
                return Err(auth::unknown_key(ak).into());
            }
            record.access_key_id = Some(ak.to_string());
            return Ok(ak.to_string());
        }
        let gateway = &self.gateway;
        let verified = auth::verify(&call.incoming(), &|ak| gateway.access_key(ak), now)?;
        record.access_key_id = Some(verified.access_key_id.clone());
        if let Some(nonce) = &verified.nonce {
            self.gateway
                .use_nonce(&verified.access_key_id, nonce, now)?;
        }
        Ok(verified.access_key_id)
    }

    /// ScaleIn/ScaleOut: carried out now, or (`lateApply`) handed to the back end for later.
    fn mutate(
        &mut self,
        m: Mutation,
        request_id: &str,
        now: i64,
        record: &mut CallRecord,
    ) -> Result<Outcome, ApiError> {
        if let Some((mode, delay)) = self.faults.take_late_apply(m.app_id()) {
            record.fault = Some("lateApply".into());
            record.late_applied = true;
            record.due_at = Some(now + delay);
            let work = Deferred::Mutation {
                request_id: request_id.to_string(),
                mutation: m,
            };
            self.lag.defer(now + delay, work);
            return Ok(Outcome::Late(mode));
        }
        let change_order_id = self.apply(&m, "pop", now)?;
        encode(&wire::ChangeOrderCreatedResponse {
            envelope: ok(request_id),
            change_order_id,
        })
        .map(Outcome::Done)
    }

    fn dispatch(
        &mut self,
        op: Operation,
        p: &Params<'_>,
        region_header: Option<&str>,
        now: i64,
        rid: &str,
    ) -> Result<Value, ApiError> {
        match op {
            Operation::QueryApplicationStatus => {
                let app_id = p.required("AppId")?;
                let mut body = encode(&wire::QueryApplicationStatusResponse {
                    envelope: ok(rid),
                    app_info: Some(self.query_application_status(app_id, now)?),
                })?;
                self.faults.shape_app_status(app_id, &mut body);
                Ok(body)
            }
            Operation::ListApplication => encode(&wire::ListApplicationResponse {
                envelope: ok(rid),
                application_list: Some(wire::ApplicationList {
                    items: self.list_applications(&app_filter(p, region_header)?),
                }),
            }),
            Operation::GetApplication => encode(&wire::GetApplicationResponse {
                envelope: ok(rid),
                application: Some(self.get_application(p.required("AppId")?)?),
            }),
            Operation::ListDeployGroup => encode(&wire::ListDeployGroupResponse {
                envelope: ok(rid),
                deploy_group_list: Some(wire::DeployGroupList {
                    items: self.deploy_groups(p.required("AppId")?)?,
                }),
            }),
            Operation::ListScaleOutEcu => self.list_scale_out_ecu(p, now, rid),
            _ => self.dispatch_orders(op, p, now, rid),
        }
    }

    fn list_scale_out_ecu(&self, p: &Params<'_>, now: i64, rid: &str) -> Result<Value, ApiError> {
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
                items: self.scale_out_ecus(app_id, cluster_id, limit, now)?,
            }),
        })
    }

    /// The change-order operations (the mutations are in `mutate`).
    fn dispatch_orders(
        &mut self,
        op: Operation,
        p: &Params<'_>,
        now: i64,
        rid: &str,
    ) -> Result<Value, ApiError> {
        match op {
            Operation::GetChangeOrderInfo => encode(&wire::GetChangeOrderInfoResponse {
                envelope: ok(rid),
                change_order_info: Some(self.change_order_info(p.required("ChangeOrderId")?, now)?),
            }),
            Operation::ListRecentChangeOrder => encode(&wire::ListRecentChangeOrderResponse {
                envelope: ok(rid),
                change_order_list: Some(wire::ChangeOrderList {
                    items: self.recent_change_orders(p.required("AppId")?, now)?,
                }),
            }),
            Operation::ContinuePipeline => {
                let pipeline = p.required("PipelineId")?;
                let confirm = p.bool("Confirm")?.unwrap_or(true);
                self.continue_pipeline(pipeline, confirm, now)?;
                encode(&ok(rid))
            }
            Operation::AbortChangeOrder => {
                let id = p.required("ChangeOrderId")?;
                self.abort(id, now)?;
                encode(&wire::AbortChangeOrderResponse {
                    envelope: ok(rid),
                    trace_id: Some(rid.to_ascii_lowercase()),
                    error_code: None,
                    data: Some(wire::AbortData {
                        change_order_id: id.to_string(),
                    }),
                })
            }
            other => {
                Err(
                    GatewayError::new(500, "InternalError", format!("{other} is not served here"))
                        .into(),
                )
            }
        }
    }
}

/// The parsed ScaleIn/ScaleOut, `None` for any other operation.
fn parse_mutation(op: Operation, p: &Params<'_>) -> Result<Option<Mutation>, ApiError> {
    Ok(match op {
        Operation::ScaleInApplication => Some(Mutation::ScaleIn {
            app_id: p.required("AppId")?.to_string(),
            ecc_ids: p.list("EccInfo")?,
            force: p.bool("ForceStatus")?.unwrap_or(false),
        }),
        Operation::ScaleOutApplication => Some(Mutation::ScaleOut {
            app_id: p.required("AppId")?.to_string(),
            group_id: p.required("DeployGroup")?.to_string(),
            ecu_ids: p.list("EcuInfo")?,
        }),
        _ => None,
    })
}

/// ListApplication's filters. The region comes from the `x-acs-region-id` header (all the Go
/// SDK sends), `RegionId` and `LogicalRegionId` (`region` or `region:namespace`); an app must
/// be in every region named. None named: every region.
fn app_filter(p: &Params<'_>, region_header: Option<&str>) -> Result<AppFilter, ApiError> {
    let app_ids = match p.optional("AppIds") {
        Some(_) => Some(p.list("AppIds")?),
        None => None,
    };
    let logical = p
        .optional("LogicalRegionId")
        .map(|r| r.split(':').next().unwrap_or(r));
    let region_ids = [
        region_header.map(str::trim).filter(|r| !r.is_empty()),
        p.optional("RegionId"),
        logical,
    ]
    .into_iter()
    .flatten()
    .map(str::to_string)
    .collect();
    Ok(AppFilter {
        app_ids,
        name: p.optional("AppName").map(str::to_string),
        cluster_id: p.optional("ClusterId").map(str::to_string),
        region_ids,
        page: p.positive("CurrentPage")?,
        page_size: p.positive("PageSize")?,
    })
}

/// The decoded query.
pub(crate) struct Params<'a>(pub &'a BTreeMap<String, String>);

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
