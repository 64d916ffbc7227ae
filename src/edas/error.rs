//! `EdasError`: every way an EDAS call can fail, classified as retryable or permanent.

use std::time::Duration;

/// How a transport failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    Timeout,
    Connect,
    /// Connection reset or closed before a full response arrived.
    Reset,
    Other,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Timeout => "timeout",
            TransportKind::Connect => "connect error",
            TransportKind::Reset => "connection reset",
            TransportKind::Other => "transport error",
        })
    }
}

fn rid(r: &Option<String>) -> &str {
    r.as_deref().unwrap_or("-")
}

#[derive(Debug, thiserror::Error)]
pub enum EdasError {
    /// The POP gateway refused the call: non-2xx with a string `Code`.
    #[error(
        "{operation}: gateway error {code} (HTTP {http_status}): {message} [RequestId {}]",
        rid(request_id)
    )]
    Gateway {
        operation: &'static str,
        http_status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
        retry_after: Option<Duration>,
    },
    /// EDAS answered with a body `Code` other than 200 (601 business error, 401, 403, 404...).
    #[error(
        "{operation}: EDAS error Code {code} (HTTP {http_status}): {message} [RequestId {}]",
        rid(request_id)
    )]
    Business {
        operation: &'static str,
        http_status: u16,
        code: i64,
        message: String,
        request_id: Option<String>,
    },
    /// The call did not complete: timeout, refused connection, reset.
    #[error("{operation}: {kind}: {detail}")]
    Transport {
        operation: &'static str,
        kind: TransportKind,
        detail: String,
    },
    /// A response arrived but could not be understood (bad JSON, HTML page, cut short, missing
    /// field, unexpected value).
    #[error(
        "{operation}: malformed response (HTTP {http_status}): {detail} [RequestId {}]",
        rid(request_id)
    )]
    Decode {
        operation: &'static str,
        http_status: u16,
        detail: String,
        request_id: Option<String>,
    },
    /// A mutating call (ScaleIn/ScaleOut) whose outcome is unknown: it may or may not have been
    /// applied. It is never re-sent automatically; the caller must observe EDAS first.
    #[error("{operation}: outcome unknown, observe before acting again: {source}")]
    OutcomeUnknown {
        operation: &'static str,
        #[source]
        source: Box<EdasError>,
    },
    /// The call was refused by the client before it went out (bad endpoint, bad input).
    #[error("{operation}: {detail}")]
    Invalid {
        operation: &'static str,
        detail: String,
    },
    /// Not sent: the operator's own call budget for this operation is spent for `wait`. The
    /// caller may give its turn away and come back then instead of waiting in line.
    #[error("{operation}: not sent; the operator's call budget allows the next one in {}s", wait.as_secs())]
    OverBudget {
        operation: &'static str,
        wait: Duration,
    },
}

impl EdasError {
    pub fn operation(&self) -> &'static str {
        match self {
            EdasError::Gateway { operation, .. }
            | EdasError::Business { operation, .. }
            | EdasError::Transport { operation, .. }
            | EdasError::Decode { operation, .. }
            | EdasError::OutcomeUnknown { operation, .. }
            | EdasError::Invalid { operation, .. }
            | EdasError::OverBudget { operation, .. } => operation,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            EdasError::Gateway { request_id, .. }
            | EdasError::Business { request_id, .. }
            | EdasError::Decode { request_id, .. } => request_id.as_deref(),
            EdasError::OutcomeUnknown { source, .. } => source.request_id(),
            _ => None,
        }
    }

    /// Worth trying again later (after backoff): throttling, 5xx, service unavailable, timeouts,
    /// connection failures. Permanent: signatures, keys, missing parameters, business errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            EdasError::Gateway {
                http_status, code, ..
            } => {
                code.starts_with("Throttling") || is_server_fault_code(code) || *http_status >= 500
            }
            // Code 500 in a body is EDAS's own internal error: as transient as an HTTP 500.
            EdasError::Business {
                http_status, code, ..
            } => *http_status >= 500 || (500..600).contains(code),
            EdasError::Transport { .. } => true,
            EdasError::Decode { http_status, .. } => *http_status >= 500,
            EdasError::OutcomeUnknown { .. } => true,
            EdasError::Invalid { .. } => false,
            EdasError::OverBudget { .. } => true,
        }
    }

    pub fn is_throttling(&self) -> bool {
        matches!(self, EdasError::Gateway { code, .. } if code.starts_with("Throttling"))
    }

    /// Credentials are wrong: a spec or Secret change is needed, retrying will not help.
    pub fn is_auth(&self) -> bool {
        match self {
            EdasError::Gateway { code, .. } => {
                code.starts_with("InvalidAccessKeyId")
                    || code == "SignatureDoesNotMatch"
                    || code == "IncompleteSignature"
                    || code.starts_with("Forbidden")
                    || code == "AUTH_ERROR"
                    || code.starts_with("InvalidSecurityToken")
            }
            EdasError::Business { code, .. } => *code == 401 || *code == 403,
            _ => false,
        }
    }

    /// EDAS said another change order is running on the app (601 with that message).
    pub fn is_change_order_in_progress(&self) -> bool {
        match self {
            EdasError::Business {
                code: 601, message, ..
            } => {
                let m = message.to_ascii_lowercase();
                m.contains("change order") && (m.contains("in progress") || m.contains("running"))
            }
            _ => false,
        }
    }

    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, EdasError::OutcomeUnknown { .. })
    }

    /// Hint from the server (`x-acs-retry-after` / `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            EdasError::Gateway { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short, bounded label for metrics and condition reasons (never ids or messages).
    pub fn class(&self) -> &'static str {
        match self {
            _ if self.is_throttling() => "throttled",
            _ if self.is_auth() => "auth",
            EdasError::Gateway { .. } if self.is_retryable() => "server_error",
            EdasError::Gateway { .. } => "client_error",
            EdasError::Business { .. } => "business_error",
            EdasError::Transport {
                kind: TransportKind::Timeout,
                ..
            } => "timeout",
            EdasError::Transport { .. } => "transport",
            EdasError::Decode { .. } => "malformed",
            EdasError::OutcomeUnknown { .. } => "outcome_unknown",
            EdasError::Invalid { .. } => "invalid",
            EdasError::OverBudget { .. } => "over_budget",
        }
    }
}

/// Whether a mutation (ScaleIn, ScaleOut, ContinuePipeline, AbortChangeOrder) that failed may
/// have taken effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MutationOutcome {
    /// The call never left, or the answer proves EDAS refused it before it took effect.
    NotApplied,
    /// It may have been applied, now or later: observe EDAS before acting again.
    Unknown,
}

/// A gateway `Code` that says the server failed or gave up (fact sheet §8: `InternalError` 500,
/// `ServiceUnavailable` 503, EDAS's `INTERNAL_ERROR` 500; the POP family's `UnknownError`,
/// `*Timeout`), whatever HTTP status carried it. Case, `_` and `-` are ignored.
pub fn is_server_fault_code(code: &str) -> bool {
    let c: String = code
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    [
        "internalerror",
        "internalservererror",
        "serviceunavailable",
        "unknownerror",
        "badgateway",
        "servicebusy",
        "systembusy",
    ]
    .iter()
    .any(|p| c.starts_with(p))
        || c.contains("timeout")
}

/// What a failed mutation's error proves about its effect. Only a call that never left
/// (`Invalid`, a refused connection) or an answer that is a refusal (a 4xx gateway code for
/// auth, signature, throttling or parameters; a body `Code` 4xx or 6xx, such as 601 "change
/// order in progress", in an HTTP 2xx/4xx answer) is `NotApplied`. Everything else is
/// `Unknown`: a timeout, a reset or dropped connection, an unreadable answer, any HTTP 5xx or
/// 3xx (a redirect is not followed, and the proxy that sent it may have passed the call on), a
/// 5xx-like gateway code or a body `Code` 5xx whatever the HTTP status, an undocumented body
/// code, and `SignatureNonceUsed`: every request carries a fresh nonce, so that answer means an
/// earlier copy of this very request reached the gateway (a retrying proxy) and may have been
/// applied.
pub fn mutation_outcome(err: &EdasError) -> MutationOutcome {
    use MutationOutcome::{NotApplied, Unknown};
    let refusal_status = |s: u16| (200..300).contains(&s) || (400..500).contains(&s);
    match err {
        EdasError::Invalid { .. } | EdasError::OverBudget { .. } => NotApplied,
        EdasError::Transport { kind, .. } if *kind == TransportKind::Connect => NotApplied,
        EdasError::Transport { .. }
        | EdasError::Decode { .. }
        | EdasError::OutcomeUnknown { .. } => Unknown,
        EdasError::Gateway {
            http_status, code, ..
        } => {
            if (400..500).contains(http_status)
                && !is_server_fault_code(code)
                && code != "SignatureNonceUsed"
            {
                NotApplied
            } else {
                Unknown
            }
        }
        EdasError::Business {
            http_status, code, ..
        } => {
            let refusal_code = (400..500).contains(code) || (600..700).contains(code);
            if refusal_status(*http_status) && refusal_code {
                NotApplied
            } else {
                Unknown
            }
        }
    }
}

/// Replaces a secret found in error text.
pub const REDACTED: &str = "<redacted>";

/// Where the gateway's SignatureDoesNotMatch starts echoing the string to sign (which holds
/// `x-acs-security-token`); everything after it is cut.
const STRING_TO_SIGN_MARKER: &str = "string to sign is:";

/// `text` without what follows "string to sign is:" (any case) and without any of `secrets`,
/// raw or percent-encoded. Empty secrets are ignored.
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    // ASCII lower-casing keeps byte offsets, so the index is valid in `text`.
    let mut out = match text.to_ascii_lowercase().find(STRING_TO_SIGN_MARKER) {
        Some(i) => format!("{}{REDACTED}", &text[..i + STRING_TO_SIGN_MARKER.len()]),
        None => text.to_string(),
    };
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let rfc3986 = form.replace('+', "%20");
        for variant in [secret.to_string(), form, rfc3986] {
            if out.contains(&variant) {
                out = out.replace(&variant, REDACTED);
            }
        }
    }
    out
}

impl EdasError {
    /// The same error with `redact_text` applied to every text that came from the server or
    /// the transport (code, message, detail), the wrapped error included.
    pub fn redacted(self, secrets: &[&str]) -> EdasError {
        let r = |s: String| redact_text(&s, secrets);
        match self {
            EdasError::Gateway {
                operation,
                http_status,
                code,
                message,
                request_id,
                retry_after,
            } => EdasError::Gateway {
                operation,
                http_status,
                code: r(code),
                message: r(message),
                request_id,
                retry_after,
            },
            EdasError::Business {
                operation,
                http_status,
                code,
                message,
                request_id,
            } => EdasError::Business {
                operation,
                http_status,
                code,
                message: r(message),
                request_id,
            },
            EdasError::Transport {
                operation,
                kind,
                detail,
            } => EdasError::Transport {
                operation,
                kind,
                detail: r(detail),
            },
            EdasError::Decode {
                operation,
                http_status,
                detail,
                request_id,
            } => EdasError::Decode {
                operation,
                http_status,
                detail: r(detail),
                request_id,
            },
            EdasError::OutcomeUnknown { operation, source } => EdasError::OutcomeUnknown {
                operation,
                source: Box::new(source.redacted(secrets)),
            },
            EdasError::Invalid { operation, detail } => EdasError::Invalid {
                operation,
                detail: r(detail),
            },
            e @ EdasError::OverBudget { .. } => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw(status: u16, code: &str) -> EdasError {
        EdasError::Gateway {
            operation: "QueryApplicationStatus",
            http_status: status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("R1".into()),
            retry_after: None,
        }
    }

    #[test]
    fn throttled_call_is_retryable() {
        assert!(gw(400, "Throttling.User").is_retryable());
        assert!(gw(400, "Throttling.User").is_throttling());
        assert_eq!(gw(400, "Throttling.Api").class(), "throttled");
    }

    #[test]
    fn server_errors_are_retryable() {
        assert!(gw(503, "ServiceUnavailable").is_retryable());
        assert!(gw(500, "InternalError").is_retryable());
        assert!(gw(502, "Whatever").is_retryable());
    }

    #[test]
    fn auth_and_parameter_errors_are_permanent() {
        for code in [
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId.NotFound",
            "MissingParameter",
            "InvalidTimeStamp.Expired",
        ] {
            assert!(!gw(400, code).is_retryable(), "{code}");
        }
        assert!(gw(400, "SignatureDoesNotMatch").is_auth());
        let biz = EdasError::Business {
            operation: "ScaleInApplication",
            http_status: 200,
            code: 601,
            message: "another change order is in progress".into(),
            request_id: None,
        };
        assert!(!biz.is_retryable());
        assert!(biz.is_change_order_in_progress());
    }

    #[test]
    fn error_text_names_operation_and_request_id() {
        let s = gw(400, "MissingParameter").to_string();
        assert!(
            s.contains("QueryApplicationStatus") && s.contains("R1"),
            "{s}"
        );
    }

    #[test]
    fn transport_failures_are_retryable_and_unknown_outcome_is_flagged() {
        let t = EdasError::Transport {
            operation: "ScaleInApplication",
            kind: TransportKind::Reset,
            detail: "x".into(),
        };
        assert!(t.is_retryable());
        let u = EdasError::OutcomeUnknown {
            operation: "ScaleInApplication",
            source: Box::new(t),
        };
        assert!(u.is_outcome_unknown());
        assert_eq!(u.class(), "outcome_unknown");
    }

    fn gw_on(status: u16, code: &str) -> EdasError {
        EdasError::Gateway {
            operation: "ScaleInApplication",
            http_status: status,
            code: code.into(),
            message: "m".into(),
            request_id: None,
            retry_after: None,
        }
    }

    fn biz_on(status: u16, code: i64) -> EdasError {
        EdasError::Business {
            operation: "ScaleInApplication",
            http_status: status,
            code,
            message: "m".into(),
            request_id: None,
        }
    }

    fn transport(kind: TransportKind) -> EdasError {
        EdasError::Transport {
            operation: "ScaleInApplication",
            kind,
            detail: "x".into(),
        }
    }

    #[test]
    fn body_code_500_on_scale_in_is_outcome_unknown() {
        for status in [200, 400, 500] {
            assert_eq!(
                mutation_outcome(&biz_on(status, 500)),
                MutationOutcome::Unknown,
                "HTTP {status}"
            );
        }
    }

    #[test]
    fn server_fault_gateway_code_on_scale_in_is_outcome_unknown_whatever_the_http_status() {
        for code in [
            "InternalError",
            "INTERNAL_ERROR",
            "ServiceUnavailable",
            "ServiceUnavailable.Temporary",
            "GatewayTimeout",
            "RequestTimeout",
            "UnknownError",
        ] {
            for status in [200, 400, 403, 500, 503] {
                assert_eq!(
                    mutation_outcome(&gw_on(status, code)),
                    MutationOutcome::Unknown,
                    "{code} with HTTP {status}"
                );
            }
        }
    }

    fn decode(status: u16) -> EdasError {
        EdasError::Decode {
            operation: "ScaleInApplication",
            http_status: status,
            detail: "x".into(),
            request_id: None,
        }
    }

    /// Every way a mutation can fail, and what the answer proves about its effect.
    #[test]
    fn failed_mutations_are_known_not_applied_only_when_refused() {
        let (n, u) = (MutationOutcome::NotApplied, MutationOutcome::Unknown);
        let invalid = EdasError::Invalid {
            operation: "ScaleInApplication",
            detail: "x".into(),
        };
        let unknown = EdasError::OutcomeUnknown {
            operation: "ScaleInApplication",
            source: Box::new(transport(TransportKind::Reset)),
        };
        let table: Vec<(MutationOutcome, EdasError, &str)> = vec![
            (
                n,
                transport(TransportKind::Connect),
                "refused connection: never sent",
            ),
            (n, invalid, "refused by the client: never sent"),
            (u, transport(TransportKind::Timeout), "timeout"),
            (
                u,
                transport(TransportKind::Reset),
                "reset or dropped connection",
            ),
            (
                u,
                transport(TransportKind::Other),
                "other transport failure",
            ),
            (u, decode(200), "unreadable answer"),
            (u, decode(502), "HTML 502 page"),
            (n, gw_on(400, "SignatureDoesNotMatch"), "signature mismatch"),
            (
                n,
                gw_on(403, "SignatureDoesNotMatch"),
                "signature mismatch (403)",
            ),
            (n, gw_on(404, "InvalidAccessKeyId.NotFound"), "unknown key"),
            (n, gw_on(400, "InvalidAccessKeyId.Inactive"), "inactive key"),
            (n, gw_on(400, "IncompleteSignature"), "incomplete signature"),
            (n, gw_on(400, "InvalidTimeStamp.Expired"), "clock skew"),
            (
                n,
                gw_on(400, "InvalidSecurityToken.Expired"),
                "bad STS token",
            ),
            (n, gw_on(403, "Forbidden.RAM"), "RAM denies"),
            (n, gw_on(401, "AUTH_ERROR"), "EDAS auth error"),
            (n, gw_on(400, "Throttling.User"), "user throttling"),
            (n, gw_on(400, "Throttling.Api"), "API throttling"),
            (n, gw_on(429, "Throttling"), "throttling in HTTP 429"),
            (n, gw_on(400, "MissingParameter"), "missing parameter"),
            (n, gw_on(400, "InvalidParameter"), "invalid parameter"),
            (n, gw_on(404, "InvalidApi.NotFound"), "API not found"),
            (n, gw_on(404, "HTTP404"), "4xx without a Code"),
            (
                u,
                gw_on(400, "SignatureNonceUsed"),
                "an earlier copy arrived",
            ),
            (u, gw_on(400, "InternalError"), "InternalError in HTTP 400"),
            (
                u,
                gw_on(200, "INTERNAL_ERROR"),
                "INTERNAL_ERROR in HTTP 200",
            ),
            (u, gw_on(503, "ServiceUnavailable"), "ServiceUnavailable"),
            (u, gw_on(502, "HTTP502"), "any HTTP 5xx"),
            (
                u,
                gw_on(503, "Throttling.User"),
                "throttling code in HTTP 5xx",
            ),
            (u, gw_on(302, "HTTP302"), "redirect not followed"),
            (u, gw_on(200, "Whatever"), "gateway code in HTTP 200"),
            (n, biz_on(200, 601), "601 change order in progress"),
            (n, biz_on(400, 601), "601 in HTTP 400"),
            (n, biz_on(200, 401), "401 RAM permission missing"),
            (n, biz_on(200, 403), "403 denied"),
            (n, biz_on(200, 404), "404 path not found"),
            (u, biz_on(200, 500), "body Code 500 in HTTP 200"),
            (u, biz_on(200, 503), "body Code 503 in HTTP 200"),
            (u, biz_on(500, 601), "body Code 601 in HTTP 500"),
            (u, biz_on(302, 601), "body Code 601 in HTTP 302"),
            (u, biz_on(200, 0), "undocumented body Code"),
            (u, unknown, "already unknown"),
        ];
        for (expected, err, case) in &table {
            assert_eq!(mutation_outcome(err), *expected, "{case}: {err:?}");
        }
    }

    #[test]
    fn server_fault_codes_are_retryable_for_reads_whatever_the_http_status() {
        assert!(gw(400, "INTERNAL_ERROR").is_retryable());
        assert!(gw(200, "GatewayTimeout").is_retryable());
        assert!(!gw(400, "InvalidTimeStamp.Expired").is_retryable());
        assert!(biz_on(200, 503).is_retryable());
    }

    #[test]
    fn string_to_sign_is_cut_and_secrets_are_removed_from_error_text() {
        let token = "CAIS+tok/en==";
        let secret = "s3cr3t";
        let text = format!(
            "Specified signature is not matched. Server String To Sign Is:POST\nx-acs-security-token:{token}\n"
        );
        let out = redact_text(&text, &[secret, token]);
        assert_eq!(
            out,
            "Specified signature is not matched. Server String To Sign Is:<redacted>"
        );
        let out = redact_text(
            &format!("key {secret} token {token} url-encoded CAIS%2Btok%2Fen%3D%3D"),
            &[secret, token, ""],
        );
        assert_eq!(
            out,
            "key <redacted> token <redacted> url-encoded <redacted>"
        );
        assert_eq!(
            redact_text("nothing to hide", &["", "x-y-z"]),
            "nothing to hide"
        );
    }

    #[test]
    fn redacted_error_keeps_its_class_and_request_id_but_no_secret() {
        let e = EdasError::OutcomeUnknown {
            operation: "ScaleInApplication",
            source: Box::new(EdasError::Gateway {
                operation: "ScaleInApplication",
                http_status: 400,
                code: "SignatureDoesNotMatch".into(),
                message: "bad s3cr3t; string to sign is:tok".into(),
                request_id: Some("R1".into()),
                retry_after: None,
            }),
        }
        .redacted(&["s3cr3t", "tok"]);
        for s in [e.to_string(), format!("{e:?}")] {
            assert!(!s.contains("s3cr3t") && !s.contains(":tok"), "{s}");
        }
        assert_eq!(e.request_id(), Some("R1"));
        assert_eq!(e.class(), "outcome_unknown");
    }
}
