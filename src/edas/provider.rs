//! Where credentials come from, and keeping temporary ones fresh.
//!
//! The operator's own identity is found by a chain, in the order of the official SDKs' default
//! chain ([`chain_from_env`]):
//!
//! 1. static AccessKey: `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET`
//!    (and `ALIBABA_CLOUD_SECURITY_TOKEN`);
//! 2. RRSA: `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`,
//!    `ALIBABA_CLOUD_OIDC_TOKEN_FILE` (optional `ALIBABA_CLOUD_ROLE_SESSION_NAME`), exchanged at
//!    STS with `AssumeRoleWithOIDC`; the token file is read again at every refresh (the
//!    kubelet rotates it);
//! 3. ECS RAM role from the instance metadata service (IMDSv2 token first; the role from
//!    `ALIBABA_CLOUD_ECS_METADATA` or the service), unless
//!    `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`.
//!
//! A resource's Secret may instead name a role that an identity assumes with `AssumeRole`
//! ([`Source::AssumeRole`]).
//!
//! Credentials that expire are refreshed before they do (at the later of 15 minutes before
//! expiry and two thirds of their lifetime). A failed refresh keeps the credentials in hand
//! until they expire (retrying every [`RETRY_AFTER_FAILURE`]); after that the error is
//! returned, naming the source and what STS or the metadata service said, never a secret.
//! Expired credentials are dropped, not kept.

use super::Credentials;
use super::sts::{self, RoleRequest, StsClient};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use url::Url;

pub const ENV_ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
pub const ENV_OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
pub const ENV_OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
pub const ENV_ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
pub const ENV_EXTERNAL_ID: &str = "ALIBABA_CLOUD_EXTERNAL_ID";
pub const ENV_ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";
pub const ENV_ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
pub const ENV_IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";
/// The ECS instance metadata service.
pub const DEFAULT_IMDS: &str = "http://100.100.100.200";
pub const DEFAULT_SESSION_NAME: &str = "edas-operator";
/// After a failed refresh, the next try is this much later (the old credentials serve).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Credentials this close to expiry are taken as expired (a call must finish before).
pub const EXPIRY_SAFETY: Duration = Duration::from_secs(2);

/// One way to get credentials.
#[derive(Clone)]
pub enum Source {
    /// A long-lived AccessKey (or a fixed STS token), used as it is.
    Static {
        name: String,
        credentials: Credentials,
    },
    /// RRSA: `AssumeRoleWithOIDC` with the token in `token_file`.
    Oidc {
        role: RoleRequest,
        provider_arn: String,
        token_file: PathBuf,
    },
    /// `AssumeRole` as `caller`.
    AssumeRole {
        caller: Arc<CredentialsProvider>,
        role: RoleRequest,
    },
    /// The ECS RAM role of the instance, from its metadata service.
    EcsRamRole {
        role_name: Option<String>,
        imds: Url,
        imds_v1_allowed: bool,
    },
}

impl Source {
    /// What the source is, for messages and logs (no secret in it).
    pub fn describe(&self) -> String {
        match self {
            Source::Static { name, credentials } => {
                format!("{name} (access key {})", credentials.access_key_id())
            }
            Source::Oidc {
                role, token_file, ..
            } => format!(
                "RRSA (AssumeRoleWithOIDC for role {}, token file {})",
                role.role_arn,
                token_file.display()
            ),
            Source::AssumeRole { caller, role } => format!(
                "role {} assumed (AssumeRole) by {}",
                role.role_arn,
                caller.describe()
            ),
            Source::EcsRamRole {
                role_name, imds, ..
            } => format!(
                "ECS RAM role {} (instance metadata at {})",
                role_name.as_deref().unwrap_or("(the instance's)"),
                imds.as_str().trim_end_matches('/')
            ),
        }
    }
}

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

#[derive(Default)]
struct State {
    /// The credentials in hand and when to refresh them.
    current: Option<(Credentials, SystemTime)>,
}

/// A source with its cache: hands out credentials, refreshing those that expire.
pub struct CredentialsProvider {
    source: Source,
    sts: Option<StsClient>,
    http: reqwest::Client,
    state: tokio::sync::Mutex<State>,
    clock: Clock,
}

impl std::fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsProvider")
            .field("source", &self.source.describe())
            .finish_non_exhaustive()
    }
}

/// When credentials that expire at `expiration` (got at `now`) are refreshed: the later of
/// 15 minutes before expiry (the official SDKs' rule) and two thirds of their lifetime (so
/// short sessions are not refreshed at every call). Pure.
pub fn refresh_at(now: SystemTime, expiration: Option<SystemTime>) -> SystemTime {
    let Some(exp) = expiration else {
        return now + Duration::from_secs(100 * 365 * 86_400);
    };
    let lifetime = exp.duration_since(now).unwrap_or_default();
    let sdk_rule = exp
        .checked_sub(Duration::from_secs(900))
        .unwrap_or(now)
        .max(now);
    sdk_rule.max(now + lifetime.mul_f64(2.0 / 3.0))
}

impl CredentialsProvider {
    pub fn new(source: Source, sts: Option<StsClient>, http: reqwest::Client) -> Self {
        Self {
            source,
            sts,
            http,
            state: tokio::sync::Mutex::new(State::default()),
            clock: Arc::new(SystemTime::now),
        }
    }

    /// A static source (no network).
    pub fn fixed(name: &str, credentials: Credentials, http: reqwest::Client) -> Self {
        Self::new(
            Source::Static {
                name: name.to_string(),
                credentials,
            },
            None,
            http,
        )
    }

    /// Use another clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// Credentials to sign with now: the cached ones while fresh, else new ones; on a failed
    /// refresh the cached ones until they expire. The error names the source and the cause.
    /// (A boxed future: a provider's refresh may ask another provider, for role chaining.)
    pub fn credentials(&self) -> futures::future::BoxFuture<'_, Result<Credentials, SourceError>> {
        Box::pin(self.current_or_refreshed())
    }

    async fn current_or_refreshed(&self) -> Result<Credentials, SourceError> {
        if let Source::Static { credentials, .. } = &self.source {
            return Ok(credentials.clone());
        }
        let mut state = self.state.lock().await;
        let now = (self.clock)();
        if let Some((c, at)) = &state.current
            && now < *at
            && c.expiration().is_none_or(|exp| now + EXPIRY_SAFETY < exp)
        {
            return Ok(c.clone());
        }
        match self.fetch().await {
            Ok(c) => {
                let now = (self.clock)();
                let at = refresh_at(now, c.expiration());
                tracing::info!(
                    source = %self.describe(),
                    access_key_id = c.access_key_id(),
                    expires_in_s = c.expiration().and_then(|e| e.duration_since(now).ok()).map(|d| d.as_secs()),
                    "credentials obtained"
                );
                state.current = Some((c.clone(), at));
                Ok(c)
            }
            Err(e) => {
                let now = (self.clock)();
                if let Some((c, at)) = state.current.as_mut() {
                    let exp = c.expiration();
                    if exp.is_some_and(|exp| now + EXPIRY_SAFETY < exp) {
                        tracing::warn!(
                            source = %self.describe(),
                            error = %e,
                            expires_in_s = exp.and_then(|x| x.duration_since(now).ok()).map(|d| d.as_secs()),
                            "refreshing credentials failed; the current ones serve until they expire"
                        );
                        *at = now + RETRY_AFTER_FAILURE;
                        return Ok(c.clone());
                    }
                }
                let expired = state
                    .current
                    .take()
                    .and_then(|(c, _)| c.expiration())
                    .map(|exp| {
                        format!(
                            " (the credentials it gave before expired at {})",
                            super::signer::acs_date(exp)
                        )
                    })
                    .unwrap_or_default();
                Err(SourceError {
                    message: format!("{}: {e}{expired}", self.describe()),
                    unavailable: e.unavailable,
                })
            }
        }
    }

    async fn fetch(&self) -> Result<Credentials, SourceError> {
        match &self.source {
            Source::Static { credentials, .. } => Ok(credentials.clone()),
            Source::Oidc {
                role,
                provider_arn,
                token_file,
            } => {
                let token = tokio::fs::read_to_string(token_file).await.map_err(|e| {
                    format!(
                        "cannot read the OIDC token file {}: {e}",
                        token_file.display()
                    )
                })?;
                let token = token.trim();
                if token.is_empty() {
                    return Err(
                        format!("the OIDC token file {} is empty", token_file.display()).into(),
                    );
                }
                let sts = self.sts()?;
                Ok(sts
                    .assume_role_with_oidc(role, provider_arn, token)
                    .await
                    .map(|i| i.credentials)?)
            }
            Source::AssumeRole { caller, role } => {
                let caller_creds = caller.credentials().await?;
                Ok(self
                    .sts()?
                    .assume_role(&caller_creds, role)
                    .await
                    .map(|i| i.credentials)?)
            }
            Source::EcsRamRole {
                role_name,
                imds,
                imds_v1_allowed,
            } => Ok(
                imds_credentials(&self.http, imds, role_name.as_deref(), *imds_v1_allowed).await?,
            ),
        }
    }

    fn sts(&self) -> Result<&StsClient, String> {
        self.sts
            .as_ref()
            .ok_or_else(|| "no STS endpoint configured".to_string())
    }

    /// Forget the credentials in hand (they are dropped, with their secret).
    pub async fn forget(&self) {
        self.state.lock().await.current = None;
    }
}

/// Why a source gave no credentials. `unavailable`: the service that issues them could not be
/// reached or failed (a later try may succeed), as opposed to a refusal or a misconfiguration
/// that needs a person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
    pub unavailable: bool,
}

impl From<String> for SourceError {
    fn from(message: String) -> Self {
        Self {
            message,
            unavailable: false,
        }
    }
}

impl From<sts::StsError> for SourceError {
    /// STS unreachable, unreadable, failing (5xx) or throttling is unavailable; any other
    /// refusal (token, role, permission, signature) needs a person.
    fn from(e: sts::StsError) -> Self {
        let unavailable = match &e {
            sts::StsError::Refused {
                http_status, code, ..
            } => *http_status >= 500 || code.starts_with("Throttling"),
            _ => true,
        };
        Self {
            unavailable,
            message: e.to_string(),
        }
    }
}

/// How the chain is set up, besides the environment.
#[derive(Clone, Debug)]
pub struct ChainSettings {
    pub sts: sts::StsSettings,
    /// The instance metadata service (`--imds-endpoint`).
    pub imds: Url,
}

/// The operator's own identity from the environment, in chain order (module docs). `Ok(None)`
/// when nothing is configured and the ECS metadata service is disabled; an error when a
/// source is set up halfway (it names what is missing).
pub fn chain_from_env(
    lookup: &dyn Fn(&str) -> Option<String>,
    settings: &ChainSettings,
    http: reqwest::Client,
) -> Result<Option<CredentialsProvider>, String> {
    let get = |k: &str| {
        lookup(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if get(super::credentials::ENV_ACCESS_KEY_ID).is_some() {
        let c = Credentials::from_lookup("environment", |k| lookup(k).map(Ok))
            .map_err(|e| e.to_string())?;
        return Ok(Some(CredentialsProvider::fixed(
            "environment AccessKey",
            c,
            http,
        )));
    }
    let rrsa = [ENV_ROLE_ARN, ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE];
    let set: Vec<&str> = rrsa.iter().copied().filter(|k| get(k).is_some()).collect();
    if !set.is_empty() {
        if set.len() < rrsa.len() {
            let missing: Vec<&str> = rrsa.iter().copied().filter(|k| !set.contains(k)).collect();
            return Err(format!(
                "RRSA is set up halfway: {} set, {} missing (all three are needed)",
                set.join(", "),
                missing.join(", ")
            ));
        }
        let endpoint = settings.sts.resolve()?;
        let source = Source::Oidc {
            role: RoleRequest {
                role_arn: get(ENV_ROLE_ARN).unwrap_or_default(),
                session_name: get(ENV_ROLE_SESSION_NAME)
                    .unwrap_or_else(|| DEFAULT_SESSION_NAME.into()),
                external_id: None,
                duration_seconds: sts::DEFAULT_DURATION_SECONDS,
            },
            provider_arn: get(ENV_OIDC_PROVIDER_ARN).unwrap_or_default(),
            token_file: PathBuf::from(get(ENV_OIDC_TOKEN_FILE).unwrap_or_default()),
        };
        let sts = StsClient::new(http.clone(), endpoint);
        return Ok(Some(CredentialsProvider::new(source, Some(sts), http)));
    }
    let disabled = |k: &str| get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if disabled(ENV_ECS_METADATA_DISABLED) {
        return Ok(None);
    }
    let source = Source::EcsRamRole {
        role_name: get(ENV_ECS_METADATA),
        imds: settings.imds.clone(),
        imds_v1_allowed: !disabled(ENV_IMDSV1_DISABLED),
    };
    Ok(Some(CredentialsProvider::new(source, None, http)))
}

/// The credentials a role grants, from the ECS instance metadata service: an IMDSv2 token
/// (`PUT /latest/api/token`) first, then the role name (unless given) and its credentials.
/// Without a token (the service refused one), IMDSv1 is used when allowed.
pub async fn imds_credentials(
    http: &reqwest::Client,
    imds: &Url,
    role_name: Option<&str>,
    v1_allowed: bool,
) -> Result<Credentials, SourceError> {
    const PATH: &str = "/latest/meta-data/ram/security-credentials/";
    let url = |path: &str| {
        let mut u = imds.clone();
        u.set_path(path);
        u
    };
    let timeout = Duration::from_secs(2);
    let token = match http
        .put(url("/latest/api/token"))
        .header("X-aliyun-ecs-metadata-token-ttl-seconds", "21600")
        .timeout(timeout)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r.text().await.ok().filter(|t| !t.trim().is_empty()),
        Ok(r) if v1_allowed => {
            tracing::debug!(
                status = r.status().as_u16(),
                "no IMDSv2 token; trying IMDSv1"
            );
            None
        }
        Ok(r) => {
            return Err(format!(
                "the instance metadata service refused a token (HTTP {}) and IMDSv1 is disabled \
                 ({ENV_IMDSV1_DISABLED})",
                r.status().as_u16()
            )
            .into());
        }
        Err(e) => {
            return Err(SourceError {
                message: format!(
                    "the instance metadata service could not be reached: {}",
                    sts::error_chain(&e)
                ),
                unavailable: true,
            });
        }
    };
    let get = |u: Url| {
        let mut req = http.get(u).timeout(timeout);
        if let Some(t) = &token {
            req = req.header("X-aliyun-ecs-metadata-token", t.trim());
        }
        req
    };
    let role = match role_name {
        Some(r) => r.to_string(),
        None => {
            let resp = get(url(PATH)).send().await.map_err(|e| SourceError {
                message: format!("listing the instance's RAM role: {}", sts::error_chain(&e)),
                unavailable: true,
            })?;
            if !resp.status().is_success() {
                return Err(format!(
                    "the instance has no RAM role (HTTP {} listing roles)",
                    resp.status().as_u16()
                )
                .into());
            }
            let text = resp.text().await.unwrap_or_default();
            let name = text.lines().next().unwrap_or("").trim().to_string();
            if name.is_empty() {
                return Err(String::from("the instance has no RAM role attached").into());
            }
            name
        }
    };
    if !role
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!("RAM role name {role:?} is not a valid role name").into());
    }
    let resp = get(url(&format!("{PATH}{role}")))
        .send()
        .await
        .map_err(|e| SourceError {
            message: format!("credentials of RAM role {role}: {}", sts::error_chain(&e)),
            unavailable: true,
        })?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(format!("credentials of RAM role {role}: HTTP {status}").into());
    }
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Imds {
        code: Option<String>,
        access_key_id: Option<String>,
        access_key_secret: Option<String>,
        security_token: Option<String>,
        expiration: Option<String>,
    }
    let v: Imds = serde_json::from_slice(&body).map_err(|e| {
        format!(
            "credentials of RAM role {role}: not the JSON expected ({:?} at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    if v.code.as_deref().is_some_and(|c| c != "Success") {
        return Err(format!(
            "credentials of RAM role {role}: Code {}",
            v.code.unwrap_or_default()
        )
        .into());
    }
    match (v.access_key_id, v.access_key_secret, v.security_token) {
        (Some(id), Some(secret), token) if !id.is_empty() && !secret.is_empty() => {
            let mut c = Credentials::new(id, secret, token);
            if let Some(exp) = v.expiration.as_deref().and_then(sts::parse_expiration) {
                c = c.with_expiration(exp);
            }
            Ok(c)
        }
        _ => Err(format!(
            "credentials of RAM role {role}: the answer has no AccessKeyId or AccessKeySecret"
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn hour_long_credentials_are_refreshed_fifteen_minutes_before_expiry() {
        assert_eq!(refresh_at(at(1000), Some(at(1000 + 3600))), at(1000 + 2700));
    }

    #[test]
    fn short_credentials_are_refreshed_after_two_thirds_of_their_life() {
        assert_eq!(refresh_at(at(1000), Some(at(1000 + 900))), at(1000 + 600));
        assert_eq!(refresh_at(at(1000), Some(at(1000 + 30))), at(1000 + 20));
        // Already expired: refresh now.
        assert_eq!(refresh_at(at(1000), Some(at(900))), at(1000));
    }

    fn http() -> reqwest::Client {
        crate::install_crypto_provider();
        reqwest::Client::new()
    }

    fn settings() -> ChainSettings {
        ChainSettings {
            sts: sts::StsSettings::default(),
            imds: Url::parse(DEFAULT_IMDS).unwrap(),
        }
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_chain_takes_static_keys_then_rrsa_then_the_ecs_role() {
        let both = env(&[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "AK"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "SK"),
            (ENV_ROLE_ARN, "acs:ram::1:role/r"),
            (ENV_OIDC_PROVIDER_ARN, "acs:ram::1:oidc-provider/p"),
            (ENV_OIDC_TOKEN_FILE, "/tmp/t"),
        ]);
        let p = chain_from_env(&both, &settings(), http()).unwrap().unwrap();
        assert!(matches!(p.source(), Source::Static { .. }), "{p:?}");

        let rrsa = env(&[
            (ENV_ROLE_ARN, "acs:ram::1:role/r"),
            (ENV_OIDC_PROVIDER_ARN, "acs:ram::1:oidc-provider/p"),
            (ENV_OIDC_TOKEN_FILE, "/tmp/t"),
            (ENV_ROLE_SESSION_NAME, "s1"),
        ]);
        let p = chain_from_env(&rrsa, &settings(), http()).unwrap().unwrap();
        let Source::Oidc { role, .. } = p.source() else {
            panic!("{p:?}");
        };
        assert_eq!(role.session_name, "s1");
        assert!(p.describe().contains("RRSA"), "{}", p.describe());

        let p = chain_from_env(&env(&[]), &settings(), http())
            .unwrap()
            .unwrap();
        assert!(matches!(p.source(), Source::EcsRamRole { .. }));
        let off = env(&[(ENV_ECS_METADATA_DISABLED, "true")]);
        assert!(chain_from_env(&off, &settings(), http()).unwrap().is_none());
    }

    #[test]
    fn rrsa_set_up_halfway_names_what_is_missing() {
        let half = env(&[(ENV_ROLE_ARN, "acs:ram::1:role/r")]);
        let e = chain_from_env(&half, &settings(), http()).unwrap_err();
        assert!(
            e.contains(ENV_OIDC_PROVIDER_ARN) && e.contains(ENV_OIDC_TOKEN_FILE),
            "{e}"
        );
    }
}
