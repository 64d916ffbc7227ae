//! The reqwest client for EDAS: signs every call, checks the body `Code` whatever the HTTP
//! status, retries reads with backoff and jitter, and never re-sends a mutation.

use super::budget::CallBudget;
use super::error::{EdasError, MutationOutcome, TransportKind, mutation_outcome, redact_text};
use super::signer::{self, SignatureAlgorithm, SigningKey, UnsignedRequest};
use super::{
    AppStatus, ApplicationSummary, ChangeOrderDetail, ChangeOrderSummary, CoStatus, Credentials,
    EccInstance, EcuHost, Operation, Pipeline, Result, wire,
};
use rand::RngExt;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use url::Url;

pub const API_VERSION: &str = "2017-08-01";
/// Server retry hints up to this long are waited out in-line; longer ones are returned.
pub const MAX_INLINE_HINT: Duration = Duration::from_secs(10);
pub const USER_AGENT: &str = concat!("edas-operator/", env!("CARGO_PKG_VERSION"));

/// Something that wants to know about every call (metrics).
pub trait CallObserver: Send + Sync {
    /// `outcome` is "success" or an `EdasError::class()`.
    fn observe(&self, op: Operation, outcome: &'static str, elapsed: Duration);
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Override of the regional endpoint (VPC endpoint, proxy, simulator).
    pub endpoint: Option<Url>,
    pub algorithm: SignatureAlgorithm,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Attempts for a read, the first included.
    pub read_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            algorithm: SignatureAlgorithm::RoaV2,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
            read_attempts: 4,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(10),
        }
    }
}

/// One client per (credentials, region).
#[derive(Clone)]
pub struct EdasClient {
    http: reqwest::Client,
    base: Url,
    region: String,
    creds: Credentials,
    config: ClientConfig,
    budget: Option<Arc<CallBudget>>,
    /// A read whose budget wait is longer than this is not waited for in line: the call
    /// answers `OverBudget` so the caller can give its turn away. `None`: always wait.
    yield_over: Option<Duration>,
    /// Whose budget the calls count in (default: the access key id).
    budget_key: Option<String>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl std::fmt::Debug for EdasClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdasClient")
            .field("base", &self.base.as_str())
            .field("region", &self.region)
            .field("creds", &self.creds)
            .finish()
    }
}

/// Build the shared HTTP client (one connection pool per process).
pub fn http_client(config: &ClientConfig) -> std::result::Result<reqwest::Client, String> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        // Never follow a redirect: it would carry the signed headers (x-acs-security-token
        // included) to another host, and re-send a mutation. A 3xx is an error (`send_once`).
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .timeout(config.timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

impl EdasClient {
    pub fn new(
        http: reqwest::Client,
        creds: Credentials,
        region: &str,
        config: ClientConfig,
    ) -> std::result::Result<Self, String> {
        super::endpoint::validate_region(region)?;
        let base = match &config.endpoint {
            Some(u) => u.clone(),
            None => Url::parse(&format!(
                "https://{}",
                super::endpoint::host_for_region(region)
            ))
            .map_err(|e| format!("region {region}: {e}"))?,
        };
        Ok(Self {
            http,
            base,
            region: region.to_string(),
            creds,
            config,
            budget: None,
            yield_over: None,
            budget_key: None,
            observer: None,
        })
    }

    pub fn with_budget(mut self, budget: Arc<CallBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Reads whose budget wait is longer than `limit` answer `OverBudget` instead of waiting
    /// (a controller frees its worker; mutations always wait).
    pub fn yield_over(mut self, limit: Duration) -> Self {
        self.yield_over = Some(limit);
        self
    }

    /// Wait for the budget to allow a call of `op`, or give the turn away.
    async fn take_budget(&self, budget: &CallBudget, op: Operation) -> Result<()> {
        loop {
            let wait = match budget.try_take(self.budget_key(), op, Instant::now()) {
                Ok(()) => return Ok(()),
                Err(wait) => wait,
            };
            if let Some(limit) = self.yield_over
                && wait > limit
                && !op.is_mutation()
            {
                return Err(EdasError::OverBudget {
                    operation: op.name(),
                    wait,
                });
            }
            tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
        }
    }

    /// Count the calls in `key`'s budget instead of the access key's (temporary keys change
    /// at every refresh; their identity does not).
    pub fn with_budget_key(mut self, key: String) -> Self {
        self.budget_key = Some(key);
        self
    }

    fn budget_key(&self) -> &str {
        self.budget_key
            .as_deref()
            .unwrap_or(self.creds.access_key_id())
    }

    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// What must never appear in an error: the AccessKey secret and the STS token.
    fn secrets(&self) -> [&str; 2] {
        [
            self.creds.access_key_secret(),
            self.creds.security_token().unwrap_or_default(),
        ]
    }

    /// Call an operation and decode its body into `T`. Reads are retried; mutations are sent
    /// exactly once.
    pub async fn call<T: DeserializeOwned>(
        &self,
        op: Operation,
        params: &[(&str, String)],
    ) -> Result<(T, Option<String>)> {
        let query: Vec<(String, String)> = params
            .iter()
            .filter(|(_, v)| !v.is_empty()) // never send empty values (SDKs disagree on them)
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Some(budget) = &self.budget {
                self.take_budget(budget, op).await?;
            }
            let started = Instant::now();
            // Nothing the server or the transport wrote leaves the client with a secret in it.
            let result = self
                .send_once::<T>(op, &query)
                .await
                .map_err(|e| e.redacted(&self.secrets()));
            if let Some(obs) = &self.observer {
                let outcome = match &result {
                    Ok(_) => "success",
                    Err(e) => e.class(),
                };
                obs.observe(op, outcome, started.elapsed());
            }
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if err.is_throttling()
                && let Some(budget) = &self.budget
            {
                budget.on_throttled(self.budget_key(), op, Instant::now());
            }
            if op.is_mutation() {
                return Err(classify_mutation_failure(op, err));
            }
            if !err.is_retryable() || attempt >= self.config.read_attempts {
                return Err(err);
            }
            // A long server hint is not slept in-line (it would hold a reconcile slot): the
            // caller requeues with it instead.
            if err.retry_after().is_some_and(|h| h > MAX_INLINE_HINT) {
                return Err(err);
            }
            let wait = backoff(
                attempt,
                self.config.backoff_base,
                self.config.backoff_cap,
                err.retry_after(),
            );
            tracing::debug!(operation = op.name(), attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying EDAS read");
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        op: Operation,
        query: &[(String, String)],
    ) -> Result<(T, Option<String>)> {
        let name = op.name();
        let mut url = self.base.clone();
        url.set_path(op.path());
        if query.is_empty() {
            url.set_query(None);
        } else {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                ser.append_pair(k, v);
            }
            url.set_query(Some(&ser.finish()));
        }
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => {
                return Err(EdasError::Invalid {
                    operation: name,
                    detail: "endpoint has no host".into(),
                });
            }
        };
        let key = SigningKey {
            access_key_id: self.creds.access_key_id(),
            access_key_secret: self.creds.access_key_secret(),
            security_token: self.creds.security_token(),
        };
        let unsigned = UnsignedRequest {
            method: op.method(),
            host: &host,
            path: op.path(),
            query,
            headers: vec![
                ("accept".into(), "application/json".into()),
                ("x-acs-action".into(), name.into()),
                ("x-acs-version".into(), API_VERSION.into()),
            ],
            body: b"",
        };
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let headers = signer::sign(
            self.config.algorithm,
            &key,
            &unsigned,
            SystemTime::now(),
            &nonce,
        );
        let method = reqwest::Method::from_bytes(op.method().as_bytes()).map_err(|e| {
            EdasError::Invalid {
                operation: name,
                detail: e.to_string(),
            }
        })?;
        let mut req = self.http.request(method, url);
        for (k, v) in &headers {
            if k == "host" {
                continue; // reqwest writes Host from the URL, identical to what was signed
            }
            req = req.header(k.as_str(), v.as_str());
        }
        if op.method() != "GET" {
            req = req.header("content-length", "0");
        }
        let resp = req.send().await.map_err(|e| transport_error(name, &e))?;
        let status = resp.status().as_u16();
        let retry_after = retry_after_hint(resp.headers());
        let header_request_id = resp
            .headers()
            .get("x-acs-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|l| l.chars().take(200).collect::<String>())
                .unwrap_or_else(|| "-".into());
            return Err(EdasError::Gateway {
                operation: name,
                http_status: status,
                code: format!("HTTP{status}"),
                message: format!("redirect to {location} not followed"),
                request_id: header_request_id,
                retry_after: None,
            });
        }
        let body = resp.bytes().await.map_err(|e| EdasError::Transport {
            operation: name,
            kind: TransportKind::Reset,
            detail: format!(
                "response body cut short (HTTP {status}): {}",
                error_chain(&e)
            ),
        })?;
        decode_response(name, status, &body, retry_after, header_request_id)
    }
}

/// Turn a body into `T`, checking the envelope `Code` first, whatever the HTTP status.
pub fn decode_response<T: DeserializeOwned>(
    operation: &'static str,
    http_status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    header_request_id: Option<String>,
) -> Result<(T, Option<String>)> {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Err(EdasError::Decode {
                operation,
                http_status,
                detail: format!("body is not JSON ({e}): {}", snippet(body)),
                request_id: header_request_id,
            });
        }
    };
    let envelope: wire::Envelope = match serde_json::from_value(value.clone()) {
        Ok(e) => e,
        Err(e) => {
            return Err(EdasError::Decode {
                operation,
                http_status,
                detail: format!("unexpected envelope: {e}"),
                request_id: header_request_id,
            });
        }
    };
    let request_id = envelope.request_id.clone().or(header_request_id);
    let message = envelope.message.clone().unwrap_or_default();
    match &envelope.code {
        Some(wire::Code::Str(code)) => {
            return Err(EdasError::Gateway {
                operation,
                http_status,
                code: code.clone(),
                message,
                request_id,
                retry_after,
            });
        }
        Some(wire::Code::Int(code)) if *code != 200 => {
            return Err(EdasError::Business {
                operation,
                http_status,
                code: *code,
                message,
                request_id,
            });
        }
        None if http_status >= 400 => {
            return Err(EdasError::Gateway {
                operation,
                http_status,
                code: format!("HTTP{http_status}"),
                message: snippet(body),
                request_id,
                retry_after,
            });
        }
        None => {
            return Err(EdasError::Decode {
                operation,
                http_status,
                detail: "body has no Code".into(),
                request_id,
            });
        }
        Some(_) if http_status >= 300 => {
            return Err(EdasError::Gateway {
                operation,
                http_status,
                code: format!("HTTP{http_status}"),
                message,
                request_id,
                retry_after,
            });
        }
        Some(_) => {}
    }
    let typed = serde_json::from_value::<T>(value).map_err(|e| EdasError::Decode {
        operation,
        http_status,
        detail: e.to_string(),
        request_id: request_id.clone(),
    })?;
    Ok((typed, request_id))
}

/// A mutation failed: was it applied? `error::mutation_outcome` decides; an error that may have
/// been applied is wrapped in `OutcomeUnknown`, so the caller observes before acting again.
pub fn classify_mutation_failure(op: Operation, err: EdasError) -> EdasError {
    match mutation_outcome(&err) {
        MutationOutcome::NotApplied => err,
        MutationOutcome::Unknown if err.is_outcome_unknown() => err,
        MutationOutcome::Unknown => EdasError::OutcomeUnknown {
            operation: op.name(),
            source: Box::new(err),
        },
    }
}

/// ListRecentChangeOrder's answer as domain types (shared with the in-process simulator).
pub fn recent_orders_from_wire(
    r: wire::ListRecentChangeOrderResponse,
    rid: Option<String>,
) -> Result<Vec<ChangeOrderSummary>> {
    let op = Operation::ListRecentChangeOrder.name();
    let list = r
        .change_order_list
        .ok_or_else(|| missing(op, "ChangeOrderList", rid.clone()))?;
    list.items
        .into_iter()
        .map(|c| {
            let status = c
                .status
                .ok_or_else(|| missing(op, "ChangeOrderList.ChangeOrder[].Status", rid.clone()))?;
            Ok(ChangeOrderSummary {
                id: c.change_order_id,
                app_id: c.app_id,
                status: CoStatus::from_code(status),
                co_type: c.co_type.unwrap_or_default(),
                co_type_code: c.co_type_code.unwrap_or_default(),
                source: c.source.unwrap_or_default(),
                create_time: c.create_time,
                finish_time: c.finish_time,
                description: c.change_order_description,
            })
        })
        .collect()
}

/// ListApplication's answer as domain types (shared with the in-process simulator).
pub fn applications_from_wire(r: wire::ListApplicationResponse) -> Vec<ApplicationSummary> {
    r.application_list
        .unwrap_or_default()
        .items
        .into_iter()
        .map(|a| ApplicationSummary {
            app_id: a.app_id,
            name: a.name,
            region_id: a.region_id.unwrap_or_default(),
            instances: a.instances.unwrap_or(0),
        })
        .collect()
}

/// GetApplication's answer as domain types (shared with the in-process simulator).
pub fn application_from_wire(
    r: wire::GetApplicationResponse,
    rid: Option<String>,
) -> Result<ApplicationSummary> {
    let a = r
        .application
        .ok_or_else(|| missing(Operation::GetApplication.name(), "Application", rid))?;
    Ok(ApplicationSummary {
        app_id: a.app_id,
        name: a.name,
        region_id: a.region_id.unwrap_or_default(),
        instances: a.instance_count.unwrap_or(0),
    })
}

fn transport_error(operation: &'static str, e: &reqwest::Error) -> EdasError {
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else if e.is_request() || e.is_body() {
        TransportKind::Reset
    } else {
        TransportKind::Other
    };
    EdasError::Transport {
        operation,
        kind,
        detail: error_chain(e),
    }
}

/// An error and its sources, joined with ": ".
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(160).collect();
    s = s.replace(['\n', '\r'], " ");
    if s.is_empty() {
        "<empty body>".into()
    } else if text.chars().count() > 160 {
        s + "..."
    } else {
        s
    }
}

/// `x-acs-retry-after` (milliseconds) or `Retry-After` (seconds).
///
/// Clamped to `MAX_RETRY_AFTER`: the hint is slept in-line by `call` and handed on to the
/// controller's requeue, so an absurd value (found by `tests/client_wire.rs`: `u64::MAX` ms)
/// would park a reconcile for ages and can panic kube-runtime's delay queue, which rejects
/// deadlines about two years out. aliyun-cli clamps this header at 60 s by default too.
fn retry_after_hint(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let hint = match get("x-acs-retry-after").and_then(|v| v.parse::<u64>().ok()) {
        Some(ms) => Some(Duration::from_millis(ms)),
        None => get("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs),
    };
    hint.map(|d| d.min(MAX_RETRY_AFTER))
}

/// The longest server retry hint honoured (see `retry_after_hint`).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Exponential backoff with full jitter, never shorter than the server's hint.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, hint: Option<Duration>) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let jittered = Duration::from_secs_f64(rand::rng().random_range(0.5..=1.0) * exp.as_secs_f64());
    match hint {
        Some(h) => jittered.max(h),
        None => jittered,
    }
}

/// A field a successful answer must carry is missing.
pub fn missing(operation: &'static str, what: &str, request_id: Option<String>) -> EdasError {
    EdasError::Decode {
        operation,
        http_status: 200,
        detail: format!("{what} missing from a successful response"),
        request_id,
    }
}

/// Wire -> domain for QueryApplicationStatus.
pub fn app_status_from_wire(
    app_id: &str,
    info: wire::AppInfo,
    request_id: Option<String>,
) -> Result<AppStatus> {
    let op = Operation::QueryApplicationStatus.name();
    let ecus: Vec<EcuHost> = info
        .ecu_list
        .items
        .iter()
        .map(|e| EcuHost {
            ecu_id: e.ecu_id.clone(),
            instance_id: e.instance_id.clone(),
            ip: e.ip_addr.clone(),
        })
        .collect();
    let mut eccs = Vec::with_capacity(info.ecc_list.items.len());
    for e in info.ecc_list.items {
        if e.ecc_id.is_empty() {
            return Err(EdasError::Decode {
                operation: op,
                http_status: 200,
                detail: "an ECC in EccList has an empty EccId".into(),
                request_id,
            });
        }
        let host = ecus.iter().find(|h| h.ecu_id == e.ecu_id);
        eccs.push(EccInstance {
            instance_id: host.map(|h| h.instance_id.clone()).unwrap_or_default(),
            ip: if e.ip.is_empty() {
                host.map(|h| h.ip.clone()).unwrap_or_default()
            } else {
                e.ip.clone()
            },
            ecc_id: e.ecc_id,
            ecu_id: e.ecu_id,
            group_id: e.group_id,
            app_state: super::AppState::from_code(e.app_state.unwrap_or(0)),
            task_state: super::TaskState::from_code(e.task_state.unwrap_or(0)),
        });
    }
    let name = info
        .application
        .as_ref()
        .map(|a| a.name.clone())
        .unwrap_or_default();
    Ok(AppStatus {
        app_id: app_id.to_string(),
        name,
        eccs,
        ecus,
    })
}

/// Wire -> domain for GetChangeOrderInfo.
pub fn change_order_from_wire(
    info: wire::ChangeOrderInfo,
    request_id: Option<String>,
) -> Result<ChangeOrderDetail> {
    let op = Operation::GetChangeOrderInfo.name();
    let status = info
        .status
        .ok_or_else(|| missing(op, "changeOrderInfo.Status", request_id.clone()))?;
    let pipelines = info
        .pipeline_info_list
        .items
        .into_iter()
        .map(|p| {
            let error = p.stage_detail_list.items.iter().find_map(|s| {
                s.task_list.items.iter().find_map(|t| {
                    let code = t.task_error_code.as_deref().unwrap_or("");
                    let msg = t.task_error_message.as_deref().unwrap_or("");
                    match (code.is_empty(), msg.is_empty()) {
                        (true, true) => None,
                        (false, true) => Some(code.to_string()),
                        (true, false) => Some(msg.to_string()),
                        (false, false) => Some(format!("{code}: {msg}")),
                    }
                })
            });
            Pipeline {
                id: p.pipeline_id,
                name: p.pipeline_name,
                status: CoStatus::from_code(p.pipeline_status.unwrap_or(0)),
                error,
            }
        })
        .collect();
    Ok(ChangeOrderDetail {
        id: info.change_order_id,
        status: CoStatus::from_code(status),
        co_type: info.co_type.unwrap_or_default(),
        batch_type: info.batch_type.unwrap_or_default(),
        batch_count: info.batch_count.unwrap_or(1),
        create_time: info.create_time,
        targets: info.targets.map(|t| t.items).unwrap_or_default(),
        pipelines,
    })
}

#[async_trait::async_trait]
impl super::operations::Transport for EdasClient {
    async fn call<T: DeserializeOwned + Send>(
        &self,
        op: Operation,
        params: &[(&str, String)],
    ) -> Result<(T, Option<String>)> {
        EdasClient::call(self, op, params).await
    }

    fn redact(&self, text: &str) -> String {
        redact_text(text, &self.secrets())
    }

    fn budget_wait(&self, op: Operation, keep: usize) -> Duration {
        self.budget.as_ref().map_or(Duration::ZERO, |b| {
            b.wait_for(self.budget_key(), op, Instant::now(), keep)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(
        status: u16,
        body: &str,
    ) -> Result<(wire::QueryApplicationStatusResponse, Option<String>)> {
        decode_response(
            "QueryApplicationStatus",
            status,
            body.as_bytes(),
            None,
            None,
        )
    }

    #[test]
    fn business_error_in_http_200_is_an_error() {
        let e = dec(
            200,
            r#"{"Code":601,"Message":"app does not exist","RequestId":"R9"}"#,
        )
        .unwrap_err();
        assert!(matches!(e, EdasError::Business { code: 601, .. }));
        assert_eq!(e.request_id(), Some("R9"));
        assert!(!e.is_retryable());
    }

    #[test]
    fn html_error_page_is_a_clear_decode_error() {
        let e = dec(502, "<html><body>Bad Gateway</body></html>").unwrap_err();
        assert!(matches!(
            e,
            EdasError::Decode {
                http_status: 502,
                ..
            }
        ));
        assert!(e.is_retryable());
        assert!(e.to_string().contains("QueryApplicationStatus"), "{e}");
        let e = dec(200, r#"{"Code":200,"AppInfo":{"EccList":{"Ecc":[{"EccId":"#).unwrap_err();
        assert!(matches!(e, EdasError::Decode { .. }));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = dec(
            200,
            r#"{"Code":200,"AppInfo":{"EccList":{"Ecc":[{"EccId":5}]}}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, EdasError::Decode { .. }));
        let e = dec(
            200,
            r#"{"Code":200,"AppInfo":{"EccList":{"Ecc":[{"EccId":"e","AppState":"x"}]}}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("integer"), "{e}");
    }

    #[test]
    fn mutation_outcome_is_unknown_only_when_edas_may_have_acted() {
        let op = Operation::ScaleInApplication;
        let reset = EdasError::Transport {
            operation: "ScaleInApplication",
            kind: TransportKind::Reset,
            detail: "x".into(),
        };
        assert!(classify_mutation_failure(op, reset).is_outcome_unknown());
        let refused = EdasError::Transport {
            operation: "ScaleInApplication",
            kind: TransportKind::Connect,
            detail: "x".into(),
        };
        assert!(!classify_mutation_failure(op, refused).is_outcome_unknown());
        let throttled = EdasError::Gateway {
            operation: "ScaleInApplication",
            http_status: 400,
            code: "Throttling.User".into(),
            message: String::new(),
            request_id: None,
            retry_after: None,
        };
        assert!(!classify_mutation_failure(op, throttled).is_outcome_unknown());
        let five = EdasError::Gateway {
            operation: "ScaleInApplication",
            http_status: 503,
            code: "ServiceUnavailable".into(),
            message: String::new(),
            request_id: None,
            retry_after: None,
        };
        assert!(classify_mutation_failure(op, five).is_outcome_unknown());
    }

    #[test]
    fn backoff_grows_respects_cap_and_hint() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for attempt in 1..10 {
            let d = backoff(attempt, base, cap, None);
            assert!(d <= cap, "{d:?}");
        }
        assert!(backoff(1, base, cap, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
    }
}
