//! The two error layers the simulator answers with (fact sheet §8).

/// A POP gateway error: HTTP 4xx/5xx, body `{"RequestId","HostId","Code":"<string>","Message"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayError {
    pub http_status: u16,
    pub code: String,
    pub message: String,
}

impl GatewayError {
    pub fn new(http_status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            http_status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn missing(param: &str) -> Self {
        Self::new(
            400,
            "MissingParameter",
            format!(
                "The input parameter \"{param}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }

    pub fn invalid(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "InvalidParameter",
            format!("The specified parameter \"{param}\" is not valid: {why}"),
        )
    }
}

/// Why an API call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    Gateway(GatewayError),
    /// An EDAS business error: HTTP 200, body `{"Code":601,"Message",...}`.
    Business {
        code: i64,
        message: String,
    },
}

impl ApiError {
    pub fn business(message: impl Into<String>) -> Self {
        ApiError::Business {
            code: 601,
            message: message.into(),
        }
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        ApiError::Gateway(e)
    }
}
