//! Alibaba Cloud STS (2015-04-01, RPC style): `AssumeRoleWithOIDC` (anonymous: the OIDC token
//! is the proof, as RRSA uses it) and `AssumeRole` (signed by the caller with the RPC
//! HMAC-SHA1 signature, `signer::sign_rpc`). Both are sent as a POST with the parameters in a
//! form body, so neither the OIDC token nor a signature ever sits in a URL.
//!
//! Nothing secret leaves this module in an error: the OIDC token, the caller's secret and STS
//! token are cut from every text that came from the server or the transport, and a body that
//! cannot be read is never quoted (it may hold the credentials just issued).

use super::Credentials;
pub(crate) use super::client::error_chain;
use super::error::redact_text;
use super::signer::{self, SigningKey};
use std::time::{Duration, SystemTime};
use url::Url;

pub const STS_VERSION: &str = "2015-04-01";
/// Session length asked for (STS allows 900 s up to the role's maximum; 3600 s is its default).
pub const DEFAULT_DURATION_SECONDS: u32 = 3600;
pub const DEFAULT_STS_HOST: &str = "sts.aliyuncs.com";

/// Where STS is: the public endpoint, a regional (VPC) one, or an override.
#[derive(Clone, Debug, Default)]
pub struct StsSettings {
    /// `ALIBABA_CLOUD_STS_ENDPOINT` / `--sts-endpoint`: a host (as the official libraries take
    /// it: `sts-vpc.cn-hangzhou.aliyuncs.com`) or a full URL.
    pub endpoint: Option<String>,
    /// `ALIBABA_CLOUD_STS_REGION` / `--sts-region`: use `sts.<region>.aliyuncs.com`.
    pub region: Option<String>,
    /// `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED` / `--sts-vpc`: use `sts-vpc.<region>.aliyuncs.com`.
    pub vpc: bool,
    /// Accept http:// off loopback (`--allow-insecure-endpoint`).
    pub allow_insecure: bool,
}

impl StsSettings {
    /// The endpoint URL; the error names the setting that is wrong.
    pub fn resolve(&self) -> Result<Url, String> {
        if let Some(e) = self
            .endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if e.contains("://") {
                return super::endpoint::parse_endpoint_url(
                    "--sts-endpoint (ALIBABA_CLOUD_STS_ENDPOINT)",
                    e,
                    self.allow_insecure,
                );
            }
            let ok = e
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
            if !ok {
                return Err(format!(
                    "--sts-endpoint (ALIBABA_CLOUD_STS_ENDPOINT) {e:?} is neither a host name \
                     nor a URL"
                ));
            }
            return Url::parse(&format!("https://{e}")).map_err(|err| {
                format!("--sts-endpoint (ALIBABA_CLOUD_STS_ENDPOINT) {e:?} is not a host: {err}")
            });
        }
        let region = self
            .region
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let host = match (region, self.vpc) {
            (Some(r), vpc) => {
                super::endpoint::validate_region(r)
                    .map_err(|e| format!("--sts-region (ALIBABA_CLOUD_STS_REGION): {e}"))?;
                format!("{}.{r}.aliyuncs.com", if vpc { "sts-vpc" } else { "sts" })
            }
            (None, true) => {
                return Err(
                    "the VPC STS endpoint (--sts-vpc, ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED) \
                            needs a region: set --sts-region (ALIBABA_CLOUD_STS_REGION)"
                        .into(),
                );
            }
            (None, false) => DEFAULT_STS_HOST.to_string(),
        };
        Url::parse(&format!("https://{host}")).map_err(|e| format!("STS endpoint {host}: {e}"))
    }
}

/// Why STS gave no credentials.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum StsError {
    /// STS answered with an error code (`AuthenticationFail.OIDCToken.Expired`,
    /// `EntityNotExist.Role`, `NoPermission`, `SignatureDoesNotMatch`, ...).
    #[error("STS {action} refused (HTTP {http_status}): {code}: {message}{}", .request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
    Refused {
        action: &'static str,
        http_status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    #[error("STS {action} at {endpoint} could not be reached: {detail}")]
    Transport {
        action: &'static str,
        endpoint: String,
        detail: String,
    },
    #[error("STS {action} answered something unreadable (HTTP {http_status}): {detail}")]
    Malformed {
        action: &'static str,
        http_status: u16,
        detail: String,
    },
}

impl StsError {
    /// A refusal (bad token, unknown role, no permission), as opposed to STS being unreachable.
    pub fn is_refusal(&self) -> bool {
        matches!(self, StsError::Refused { .. })
    }
}

/// What one AssumeRole* returned: credentials with their expiry.
#[derive(Clone, Debug)]
pub struct Issued {
    pub credentials: Credentials,
    pub expiration: SystemTime,
}

/// AssumeRole's optional inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RoleRequest {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: u32,
}

#[derive(Clone, Debug)]
pub struct StsClient {
    http: reqwest::Client,
    endpoint: Url,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    credentials: Option<WireCredentials>,
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

impl StsClient {
    pub fn new(http: reqwest::Client, endpoint: Url) -> Self {
        Self { http, endpoint }
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// RRSA: exchange an OIDC token for credentials of `role_arn`. Anonymous.
    pub async fn assume_role_with_oidc(
        &self,
        role: &RoleRequest,
        oidc_provider_arn: &str,
        oidc_token: &str,
    ) -> Result<Issued, StsError> {
        let params = vec![
            ("Action".to_string(), "AssumeRoleWithOIDC".to_string()),
            ("Format".into(), "JSON".into()),
            ("Version".into(), STS_VERSION.into()),
            ("Timestamp".into(), signer::acs_date(SystemTime::now())),
            ("RoleArn".into(), role.role_arn.clone()),
            ("OIDCProviderArn".into(), oidc_provider_arn.to_string()),
            ("OIDCToken".into(), oidc_token.to_string()),
            ("RoleSessionName".into(), role.session_name.clone()),
            ("DurationSeconds".into(), role.duration_seconds.to_string()),
        ];
        self.send("AssumeRoleWithOIDC", params, &[oidc_token]).await
    }

    /// Assume `role.role_arn` as `caller`, signed with the caller's key.
    pub async fn assume_role(
        &self,
        caller: &Credentials,
        role: &RoleRequest,
    ) -> Result<Issued, StsError> {
        let mut params = vec![
            ("Action".to_string(), "AssumeRole".to_string()),
            ("Version".into(), STS_VERSION.into()),
            ("RoleArn".into(), role.role_arn.clone()),
            ("RoleSessionName".into(), role.session_name.clone()),
            ("DurationSeconds".into(), role.duration_seconds.to_string()),
        ];
        if let Some(id) = role.external_id.as_ref().filter(|s| !s.is_empty()) {
            params.push(("ExternalId".into(), id.clone()));
        }
        let key = SigningKey {
            access_key_id: caller.access_key_id(),
            access_key_secret: caller.access_key_secret(),
            security_token: caller.security_token(),
        };
        let nonce = uuid::Uuid::new_v4().to_string();
        signer::sign_rpc(&key, "POST", &mut params, SystemTime::now(), &nonce);
        let secrets = [
            caller.access_key_secret(),
            caller.security_token().unwrap_or_default(),
        ];
        self.send("AssumeRole", params, &secrets).await
    }

    async fn send(
        &self,
        action: &'static str,
        params: Vec<(String, String)>,
        secrets: &[&str],
    ) -> Result<Issued, StsError> {
        let clean = |s: &str| redact_text(s, secrets);
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &params {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let mut url = self.endpoint.clone();
        if url.path().is_empty() {
            url.set_path("/");
        }
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| StsError::Transport {
                action,
                endpoint: self.endpoint.to_string(),
                detail: clean(&error_chain(&e)),
            })?;
        let http_status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| StsError::Transport {
            action,
            endpoint: self.endpoint.to_string(),
            detail: clean(&format!("answer cut short: {}", error_chain(&e))),
        })?;
        // Never quote the body: it may hold the credentials just issued. serde's error says
        // where it failed, not what it read, except for type errors, which are not reported.
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|e| StsError::Malformed {
            action,
            http_status,
            detail: format!(
                "{} bytes, not the JSON expected ({:?} at line {} column {})",
                bytes.len(),
                e.classify(),
                e.line(),
                e.column()
            ),
        })?;
        if http_status >= 300 || answer.code.is_some() || answer.credentials.is_none() {
            return Err(StsError::Refused {
                action,
                http_status,
                code: clean(answer.code.as_deref().unwrap_or("(no code)")),
                message: clean(answer.message.as_deref().unwrap_or("(no message)")),
                request_id: answer.request_id,
            });
        }
        let Some(c) = answer.credentials else {
            return Err(StsError::Malformed {
                action,
                http_status,
                detail: "no Credentials".into(),
            });
        };
        let expiration = parse_expiration(&c.expiration).ok_or_else(|| StsError::Malformed {
            action,
            http_status,
            detail: format!(
                "Credentials.Expiration {:?} is not an ISO 8601 UTC time",
                c.expiration
            ),
        })?;
        if c.access_key_id.is_empty() || c.access_key_secret.is_empty() {
            return Err(StsError::Malformed {
                action,
                http_status,
                detail: "Credentials without AccessKeyId or AccessKeySecret".into(),
            });
        }
        Ok(Issued {
            credentials: Credentials::new(
                c.access_key_id,
                c.access_key_secret,
                Some(c.security_token),
            )
            .with_expiration(expiration),
            expiration,
        })
    }
}

/// `2025-01-15T09:00:00Z` as STS and the instance metadata service write it.
pub fn parse_expiration(s: &str) -> Option<SystemTime> {
    let ts: jiff::Timestamp = s.trim().parse().ok()?;
    let secs = u64::try_from(ts.as_second()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: Option<&str>, region: Option<&str>, vpc: bool) -> StsSettings {
        StsSettings {
            endpoint: endpoint.map(str::to_string),
            region: region.map(str::to_string),
            vpc,
            allow_insecure: false,
        }
    }

    #[test]
    fn sts_endpoint_is_public_regional_vpc_or_the_override() {
        let r = |s: StsSettings| s.resolve().map(|u| u.to_string());
        assert_eq!(
            r(settings(None, None, false)).unwrap(),
            "https://sts.aliyuncs.com/"
        );
        assert_eq!(
            r(settings(None, Some("cn-hangzhou"), false)).unwrap(),
            "https://sts.cn-hangzhou.aliyuncs.com/"
        );
        assert_eq!(
            r(settings(None, Some("cn-hangzhou"), true)).unwrap(),
            "https://sts-vpc.cn-hangzhou.aliyuncs.com/"
        );
        assert!(
            r(settings(None, None, true))
                .unwrap_err()
                .contains("needs a region")
        );
        assert_eq!(
            r(settings(
                Some("sts-vpc.cn-beijing.aliyuncs.com"),
                None,
                false
            ))
            .unwrap(),
            "https://sts-vpc.cn-beijing.aliyuncs.com/"
        );
        assert_eq!(
            r(settings(Some("http://127.0.0.1:8099"), None, false)).unwrap(),
            "http://127.0.0.1:8099/"
        );
        let e = r(settings(Some("http://sts.example.com"), None, false)).unwrap_err();
        assert!(
            e.contains("non-loopback") && e.contains("ALIBABA_CLOUD_STS_ENDPOINT"),
            "{e}"
        );
        let e = r(settings(Some("sts.example.com/evil?x"), None, false)).unwrap_err();
        assert!(e.contains("neither a host name nor a URL"), "{e}");
        assert!(r(settings(None, Some("evil.com/x"), false)).is_err());
    }

    #[test]
    fn expiration_is_read_as_utc() {
        let t = parse_expiration("2025-01-15T09:00:00Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_736_931_600
        );
        assert!(parse_expiration("tomorrow").is_none());
    }
}
