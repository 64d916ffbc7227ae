//! What the POP gateway keeps in front of the back end: the access keys, the nonces seen, the
//! per-key, per-operation rate windows, and the log of every API call that reached it.

use super::auth::AccessKey;
use super::document::AccessKeyDoc;
use super::error::GatewayError;
use crate::edas::Operation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The call log keeps at most this many calls (oldest dropped first).
pub const MAX_CALLS: usize = 100_000;
/// How long a nonce is remembered (the skew window, both ways, plus a margin).
const NONCE_TTL_MS: i64 = 31 * 60 * 1000;
const WINDOW_MS: i64 = 60_000;

/// One API call in `GET /_sim/calls`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// The operation routed to, else the `x-acs-action` header, else "".
    pub action: String,
    pub method: String,
    pub path: String,
    /// The decoded query.
    pub params: BTreeMap<String, String>,
    /// The HTTP status of the answer prepared; 0 when none was (`lateApply` drop or hang).
    pub http_status: u16,
    /// The body's `Code` as answered: an int (EDAS body) or a string (gateway error).
    pub code: serde_json::Value,
    /// Epoch ms.
    pub at: i64,
    #[serde(default)]
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The connection was closed instead of sending an answer (`dropRate`, `lateApply` drop).
    #[serde(default)]
    pub dropped: bool,
    /// No answer was sent; the connection was held until the client gave up (`lateApply` hang).
    #[serde(default)]
    pub hung: bool,
    /// The ECC ids the call named (`EccInfo`), whatever became of the call.
    #[serde(default)]
    pub ecc_ids: Vec<String>,
    /// The ECU ids the call named (`EcuInfo`), whatever became of the call.
    #[serde(default)]
    pub ecu_ids: Vec<String>,
    /// The fault that shaped the answer: errorRate, throttleRate, dropRate, malformedRate,
    /// lateApply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// `lateApply`: the mutation was not answered properly but handed to the back end, which
    /// carries it out at `dueAt`.
    #[serde(default)]
    pub late_applied: bool,
    /// `lateApply`: when the back end is due to carry the mutation out (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<i64>,
    /// `lateApply`: when the back end carried it out (epoch ms); null until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<i64>,
    /// `lateApply`: what the back end made of it when it carried it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_result: Option<LateResult>,
}

impl CallRecord {
    /// A mutation attempt: it named ECCs (ScaleIn) or ECUs (ScaleOut).
    pub fn is_scale_attempt(&self) -> bool {
        self.action == Operation::ScaleInApplication.name()
            || self.action == Operation::ScaleOutApplication.name()
    }
}

/// How many ScaleInApplication calls named each ECC, whatever became of them (accepted,
/// rejected with 601 or 4xx, throttled, 5xx, dropped, hung, late-applied): the duplicate count
/// of the reliability tests. A call naming an ECC twice counts once.
pub fn scale_in_attempts_per_ecc(calls: &[CallRecord]) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for c in calls
        .iter()
        .filter(|c| c.action == Operation::ScaleInApplication.name())
    {
        let mut named: Vec<&String> = c.ecc_ids.iter().collect();
        named.sort();
        named.dedup();
        for ecc in named {
            *counts.entry(ecc.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// What a late-applied mutation came to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LateResult {
    /// 200, or the business error code (601).
    pub code: i64,
    /// The change order it created (none for a forced scale-in or an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_order_id: Option<String>,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Items of a comma-separated list parameter, leniently (for the call log, never refused).
pub(crate) fn list_items(raw: Option<&String>) -> Vec<String> {
    raw.map(|r| {
        r.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// Keys, nonces, rate windows and the call log.
pub(crate) struct Gateway {
    keys: BTreeMap<String, AccessKey>,
    limits: BTreeMap<String, u32>,
    nonces: HashMap<(String, String), i64>,
    windows: HashMap<(String, Operation), VecDeque<i64>>,
    calls: VecDeque<CallRecord>,
}

impl Gateway {
    pub(crate) fn new(keys: Vec<AccessKeyDoc>, limits: BTreeMap<String, u32>) -> Gateway {
        let keys = keys
            .into_iter()
            .map(|k| {
                let key = AccessKey {
                    id: k.id.clone(),
                    secret: k.secret,
                    security_token: k.security_token,
                };
                (k.id, key)
            })
            .collect();
        Gateway {
            keys,
            limits,
            nonces: HashMap::new(),
            windows: HashMap::new(),
            calls: VecDeque::new(),
        }
    }

    pub(crate) fn access_key(&self, id: &str) -> Option<AccessKey> {
        self.keys.get(id).cloned()
    }

    /// Remember a nonce; a nonce seen before (per key, within the skew window) is refused.
    pub(crate) fn use_nonce(
        &mut self,
        ak: &str,
        nonce: &str,
        now: i64,
    ) -> Result<(), GatewayError> {
        if self.nonces.len() > 10_000 {
            self.nonces.retain(|_, at| now - *at < NONCE_TTL_MS);
        }
        let key = (ak.to_string(), nonce.to_string());
        match self.nonces.get(&key) {
            Some(at) if now - *at < NONCE_TTL_MS => Err(GatewayError::new(
                400,
                "SignatureNonceUsed",
                format!("Specified signature nonce was used already: {nonce}"),
            )),
            _ => {
                self.nonces.insert(key, now);
                Ok(())
            }
        }
    }

    /// The per-minute limit in force for an operation, if any.
    pub(crate) fn limit_for(&self, op: Operation) -> Option<u32> {
        match self.limits.get(op.name()) {
            Some(0) => None,
            Some(n) => Some(*n),
            None => op.documented_limit_per_minute(),
        }
    }

    /// Count a call against the key's sliding one-minute window; refused calls do not count.
    pub(crate) fn take_rate(
        &mut self,
        ak: &str,
        op: Operation,
        now: i64,
    ) -> Result<(), GatewayError> {
        let Some(limit) = self.limit_for(op) else {
            return Ok(());
        };
        let window = self.windows.entry((ak.to_string(), op)).or_default();
        while window.front().is_some_and(|t| now - *t >= WINDOW_MS) {
            window.pop_front();
        }
        if window.len() >= limit as usize {
            return Err(GatewayError::new(
                400,
                "Throttling.User",
                format!(
                    "Request was denied due to user flow control: {} allows {limit} calls per \
                     minute per access key.",
                    op.name()
                ),
            ));
        }
        window.push_back(now);
        Ok(())
    }

    pub(crate) fn record_call(&mut self, call: CallRecord) {
        if self.calls.len() >= MAX_CALLS {
            self.calls.pop_front();
        }
        self.calls.push_back(call);
    }

    /// The logged call with this request id (newest first), if still in the log.
    pub(crate) fn call_mut(&mut self, request_id: &str) -> Option<&mut CallRecord> {
        self.calls
            .iter_mut()
            .rev()
            .find(|c| c.request_id == request_id)
    }

    pub(crate) fn calls(&self) -> Vec<CallRecord> {
        self.calls.iter().cloned().collect()
    }

    pub(crate) fn clear_calls(&mut self) {
        self.calls.clear();
    }
}
