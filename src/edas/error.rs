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
}

impl EdasError {
    pub fn operation(&self) -> &'static str {
        match self {
            EdasError::Gateway { operation, .. }
            | EdasError::Business { operation, .. }
            | EdasError::Transport { operation, .. }
            | EdasError::Decode { operation, .. }
            | EdasError::OutcomeUnknown { operation, .. }
            | EdasError::Invalid { operation, .. } => operation,
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
                code.starts_with("Throttling")
                    || code == "ServiceUnavailable"
                    || code == "InternalError"
                    || code == "INTERNAL_ERROR"
                    || *http_status >= 500
            }
            // Code 500 in a body is EDAS's own internal error: as transient as an HTTP 500.
            EdasError::Business {
                http_status, code, ..
            } => *http_status >= 500 || *code == 500,
            EdasError::Transport { .. } => true,
            EdasError::Decode { http_status, .. } => *http_status >= 500,
            EdasError::OutcomeUnknown { .. } => true,
            EdasError::Invalid { .. } => false,
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
}
