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

impl CallRecord {
    /// The back end carried this ScaleIn/ScaleOut out (answered 200, or dropped after it was
    /// carried out, or late-applied with a 200), and when.
    pub fn applied_at_ms(&self) -> Option<i64> {
        if self.late_applied {
            return self
                .late_result
                .as_ref()
                .filter(|r| r.code == 200)
                .and(self.applied_at);
        }
        let accepted = self.code == serde_json::json!(200);
        (accepted && (self.http_status == 200 || self.dropped)).then_some(self.at)
    }
}

/// Per ECC, the ScaleIn attempts that named it AFTER an earlier attempt naming it had been
/// carried out, unless the order that earlier attempt made ended without success (a retry
/// after a failed or rolled-back order is not a duplicate). Every attempt counts, accepted or
/// refused (601, 4xx, throttled): a re-send while the first is still running or already
/// removed the ECC is a duplicate whatever EDAS answered it. An attempt that was never carried
/// out (a 503 before anything was done, a refusal) makes no later one a duplicate.
pub fn duplicate_scale_in_attempts(
    calls: &[CallRecord],
    orders: &[super::admin::ChangeOrderSnapshot],
) -> BTreeMap<String, u32> {
    let mut scale_ins: Vec<&CallRecord> = calls
        .iter()
        .filter(|c| c.action == Operation::ScaleInApplication.name())
        .collect();
    scale_ins.sort_by_key(|c| c.at);
    let mut dups = BTreeMap::new();
    for (i, c) in scale_ins.iter().enumerate() {
        for ecc in &c.ecc_ids {
            let earlier_live = scale_ins[..i].iter().any(|p| {
                let Some(applied) = p.applied_at_ms() else {
                    return false;
                };
                if !p.ecc_ids.contains(ecc) {
                    return false;
                }
                // The order that attempt made: the first scale-in of this ECC created then.
                let made = orders
                    .iter()
                    .filter(|o| o.co_type == "CoScaleIn" && o.ecc_ids.contains(ecc))
                    .filter(|o| o.created_at >= applied - 1000)
                    .min_by_key(|o| o.created_at);
                // A forced removal makes no order: it stays live.
                made.is_none_or(|o| o.status == 2 || matches!(o.status, 0 | 1 | 8 | 9))
            });
            if earlier_live {
                *dups.entry(ecc.clone()).or_insert(0) += 1;
            }
        }
    }
    dups
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
    issued: Vec<super::sts::IssuedCredentials>,
}

/// STS sessions last at most 12 hours.
const MAX_ISSUED_LIFETIME_MS: i64 = 43_200_000;

impl Gateway {
    pub(crate) fn new(keys: Vec<AccessKeyDoc>, limits: BTreeMap<String, u32>) -> Gateway {
        let keys = keys
            .into_iter()
            .map(|k| {
                let key = AccessKey::new(&k.id, &k.secret, k.security_token.as_deref());
                (k.id, key)
            })
            .collect();
        Gateway {
            keys,
            limits,
            nonces: HashMap::new(),
            windows: HashMap::new(),
            calls: VecDeque::new(),
            issued: Vec::new(),
        }
    }

    pub(crate) fn access_key(&self, id: &str) -> Option<AccessKey> {
        self.keys.get(id).cloned()
    }

    /// Temporary credentials STS issued: accepted until they expire. Keys that expired more
    /// than an hour ago are forgotten.
    pub(crate) fn add_issued(&mut self, issued: &super::sts::IssuedCredentials) {
        let horizon = issued.expires_at - 3_600_000 - MAX_ISSUED_LIFETIME_MS;
        self.keys
            .retain(|_, k| k.expires_at_ms.is_none_or(|exp| exp > horizon));
        self.issued.retain(|i| i.expires_at > horizon);
        self.keys.insert(
            issued.access_key_id.clone(),
            AccessKey {
                id: issued.access_key_id.clone(),
                secret: issued.access_key_secret.clone(),
                security_token: Some(issued.security_token.clone()),
                expires_at_ms: Some(issued.expires_at),
                role_arn: Some(issued.role_arn.clone()),
            },
        );
        self.issued.push(issued.clone());
    }

    /// Every temporary credential issued (and not yet forgotten), secrets included: for the
    /// tests' secret scans (`GET /_sim/sts/issued`).
    pub(crate) fn issued(&self) -> Vec<super::sts::IssuedCredentials> {
        self.issued.clone()
    }

    /// Whose rate window a call counts in: temporary credentials count for their role (a
    /// refreshed key does not get a fresh window), other keys for themselves.
    pub(crate) fn rate_owner(&self, ak: &str) -> String {
        self.keys
            .get(ak)
            .and_then(|k| k.role_arn.clone())
            .unwrap_or_else(|| ak.to_string())
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

#[cfg(test)]
mod duplicate_tests {
    use super::*;
    use crate::sim::admin::ChangeOrderSnapshot;

    fn call(at: i64, eccs: &[&str], http: u16, code: i64) -> CallRecord {
        CallRecord {
            action: "ScaleInApplication".into(),
            http_status: http,
            code: serde_json::json!(code),
            at,
            ecc_ids: eccs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn order(created: i64, eccs: &[&str], status: i64) -> ChangeOrderSnapshot {
        ChangeOrderSnapshot {
            change_order_id: format!("co-{created}"),
            app_id: "a".into(),
            co_type: "CoScaleIn".into(),
            status,
            ecc_ids: eccs.iter().map(|s| s.to_string()).collect(),
            ecu_ids: Vec::new(),
            source: "pop".into(),
            created_at: created,
            finished_at: None,
        }
    }

    #[test]
    fn a_resend_after_an_applied_attempt_is_a_duplicate_even_when_refused() {
        let calls = [call(1000, &["x"], 200, 200), call(5000, &["x"], 200, 601)];
        let d = duplicate_scale_in_attempts(&calls, &[order(1000, &["x"], 1)]);
        assert_eq!(d.get("x"), Some(&1));
    }

    #[test]
    fn a_retry_after_a_failed_order_or_a_call_never_carried_out_is_not() {
        let calls = [call(1000, &["x"], 200, 200), call(9000, &["x"], 200, 200)];
        let orders = [order(1000, &["x"], 3), order(9000, &["x"], 2)];
        assert!(duplicate_scale_in_attempts(&calls, &orders).is_empty());
        let calls = [call(1000, &["x"], 503, 0), call(9000, &["x"], 200, 200)];
        assert!(duplicate_scale_in_attempts(&calls, &[order(9000, &["x"], 2)]).is_empty());
    }

    #[test]
    fn a_late_applied_or_dropped_attempt_counts_as_carried_out() {
        let mut late = call(1000, &["x"], 504, 0);
        late.late_applied = true;
        late.applied_at = Some(4000);
        late.late_result = Some(LateResult {
            code: 200,
            change_order_id: Some("co".into()),
            message: None,
        });
        let calls = [late, call(9000, &["x"], 200, 601)];
        let d = duplicate_scale_in_attempts(&calls, &[order(4000, &["x"], 1)]);
        assert_eq!(d.get("x"), Some(&1));
        let mut dropped = call(1000, &["y"], 200, 200);
        dropped.dropped = true;
        let calls = [dropped, call(2000, &["y"], 200, 200)];
        let d = duplicate_scale_in_attempts(&calls, &[order(1000, &["y"], 2)]);
        assert_eq!(d.get("y"), Some(&1));
    }
}
