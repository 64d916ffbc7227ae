//! The simulator's STS (2015-04-01, RPC style, at `/` of the same address) and ECS instance
//! metadata service (`/latest/...`), enough for the operator and the official credentials
//! library:
//!
//! - `AssumeRoleWithOIDC` (anonymous): the OIDC token must be one the simulator minted
//!   (`POST /_sim/oidc-tokens`), unexpired, issued for the named provider, and the role must
//!   trust that provider;
//! - `AssumeRole` (RPC signature, HMAC-SHA1 over the canonicalized parameters, `Timestamp`
//!   within 15 minutes, a fresh `SignatureNonce`): the caller (an access key id, or for an STS
//!   caller its role) must be one of the role's `principals`, with its `externalId` if set;
//! - both issue `STS.*` keys with a security token that expire after `DurationSeconds`, capped
//!   at `sts.maxSessionSeconds`; the EDAS side accepts them until then
//!   (`InvalidSecurityToken.Expired` after);
//! - errors are spelled as STS spells them: `AuthenticationFail.OIDCToken.Expired`,
//!   `AuthenticationFail.OIDCToken.Invalid`, `EntityNotExist.Role`,
//!   `EntityNotExist.OIDCProvider`, `NoPermission`, `SignatureDoesNotMatch`,
//!   `InvalidAccessKeyId.NotFound`, `InvalidTimeStamp.Expired`, `SignatureNonceUsed`,
//!   `MissingParameter`, `InvalidParameter.DurationSeconds`.
//!
//! Neither the token nor an issued secret is logged or kept in the call log.

use super::auth::AccessKey;
use super::error::GatewayError;
use super::gateway::CallRecord;
use super::state::Inner;
use crate::edas::signer;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const STS_HOST: &str = "sts.aliyuncs.com";
const MIN_DURATION: u64 = 900;
const MAX_DURATION: u64 = 43_200;

/// The `sts` section of the state document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StsDoc {
    /// Sessions last at most this long (seconds), whatever `DurationSeconds` asked (so tests
    /// can see credentials expire); default 3600.
    #[serde(default = "default_max_session")]
    pub max_session_seconds: u64,
    /// OIDC identity providers (ARNs) known to RAM.
    #[serde(default)]
    pub oidc_providers: Vec<String>,
    #[serde(default)]
    pub roles: Vec<RoleDoc>,
    /// The ECS instance's RAM role (an ARN from `roles`), served by the metadata service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_role: Option<String>,
}

fn default_max_session() -> u64 {
    3600
}

impl Default for StsDoc {
    fn default() -> Self {
        Self {
            max_session_seconds: default_max_session(),
            oidc_providers: Vec::new(),
            roles: Vec::new(),
            ecs_role: None,
        }
    }
}

/// A RAM role and who may assume it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleDoc {
    /// `acs:ram::<account>:role/<name>`.
    pub arn: String,
    /// OIDC providers whose tokens may assume it (`AssumeRoleWithOIDC`).
    #[serde(default)]
    pub oidc_providers: Vec<String>,
    /// Who may `AssumeRole` it: access key ids of `accessKeys`, or role ARNs (a caller holding
    /// STS credentials of that role).
    #[serde(default)]
    pub principals: Vec<String>,
    /// When set, `AssumeRole` must pass this `ExternalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl StsDoc {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_DURATION).contains(&self.max_session_seconds) {
            return Err(format!(
                "sts.maxSessionSeconds: must be between 1 and {MAX_DURATION}, got {}",
                self.max_session_seconds
            ));
        }
        for (i, p) in self.oidc_providers.iter().enumerate() {
            if !p.starts_with("acs:ram::") || !p.contains(":oidc-provider/") {
                return Err(format!(
                    "sts.oidcProviders[{i}]: {p:?} is not an OIDC provider ARN \
                     (acs:ram::<account>:oidc-provider/<name>)"
                ));
            }
        }
        for (i, r) in self.roles.iter().enumerate() {
            if role_name(&r.arn).is_none() {
                return Err(format!(
                    "sts.roles[{i}].arn: {:?} is not a role ARN (acs:ram::<account>:role/<name>)",
                    r.arn
                ));
            }
            for p in &r.oidc_providers {
                if !self.oidc_providers.contains(p) {
                    return Err(format!(
                        "sts.roles[{i}].oidcProviders: {p:?} is not in sts.oidcProviders"
                    ));
                }
            }
        }
        if let Some(ecs) = &self.ecs_role
            && !self.roles.iter().any(|r| &r.arn == ecs)
        {
            return Err(format!("sts.ecsRole: {ecs:?} is not in sts.roles"));
        }
        Ok(())
    }
}

/// `name` of `acs:ram::<account>:role/<name>`.
fn role_name(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("acs:ram::")?;
    let (account, name) = rest.split_once(":role/")?;
    (!account.is_empty()
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    .then_some(name)
}

/// What STS keeps about credentials it issued.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub role_arn: String,
    pub session_name: String,
    /// Epoch ms.
    pub expires_at: i64,
    /// `AssumeRoleWithOIDC`, `AssumeRole` or `EcsRamRole`.
    pub via: String,
}

impl std::fmt::Debug for IssuedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("role_arn", &self.role_arn)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// `POST /_sim/oidc-tokens`: mint a token as a cluster's OIDC issuer would.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MintTokenRequest {
    /// The OIDC provider ARN the token is issued for (its `iss`).
    pub provider: String,
    /// Lifetime; 0 or less mints a token that has already expired.
    #[serde(default = "default_token_ttl")]
    pub ttl_seconds: i64,
    #[serde(default = "default_subject")]
    pub subject: String,
}

fn default_token_ttl() -> i64 {
    3600
}

fn default_subject() -> String {
    "system:serviceaccount:edas-system:edas-operator".into()
}

/// STS's own state: the key its tokens are signed with, and the IMDS session tokens.
pub(crate) struct Sts {
    pub(crate) doc: StsDoc,
    signing_key: [u8; 32],
    imds_tokens: BTreeMap<String, i64>,
}

impl Sts {
    pub(crate) fn new(doc: StsDoc) -> Self {
        Self {
            doc,
            signing_key: rand::rng().random(),
            imds_tokens: BTreeMap::new(),
        }
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.signing_key) else {
            return Vec::new();
        };
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// A JWT-shaped token (HS256 with the simulator's key): `iss` is the provider ARN.
    pub(crate) fn mint(&self, req: &MintTokenRequest, now_ms: i64) -> Result<String, String> {
        if !self.doc.oidc_providers.contains(&req.provider) {
            return Err(format!(
                "provider: {:?} is not in the state document's sts.oidcProviders",
                req.provider
            ));
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = now_ms / 1000;
        let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = b64.encode(
            json!({"iss": req.provider, "sub": req.subject, "aud": "sts.aliyuncs.com",
                   "iat": now, "exp": now + req.ttl_seconds,
                   "jti": uuid::Uuid::new_v4().to_string()})
            .to_string(),
        );
        let signed = format!("{header}.{payload}");
        let sig = b64.encode(self.mac(signed.as_bytes()));
        Ok(format!("{signed}.{sig}"))
    }

    /// The token's claims when the simulator signed it.
    fn verify_token(&self, token: &str) -> Result<Value, GatewayError> {
        let invalid = |why: &str| {
            GatewayError::new(
                400,
                "AuthenticationFail.OIDCToken.Invalid",
                format!("The OIDC token is invalid: {why}."),
            )
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut parts = token.trim().split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("not a JSON Web Token"));
        };
        let sig = b64
            .decode(s)
            .map_err(|_| invalid("bad signature encoding"))?;
        let want = self.mac(format!("{h}.{p}").as_bytes());
        if sig.len() != want.len() || sig.iter().zip(&want).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0
        {
            return Err(invalid("the signature does not verify"));
        }
        let payload = b64.decode(p).map_err(|_| invalid("bad payload encoding"))?;
        serde_json::from_slice(&payload).map_err(|_| invalid("bad payload"))
    }
}

/// A random string of `n` characters from [A-Za-z0-9].
/// A parameter that must be present and not empty (unlike the EDAS API's `Params`, not
/// trimmed: STS values are compared and signed as sent).
fn required<'a>(map: &'a BTreeMap<String, String>, name: &str) -> Result<&'a String, GatewayError> {
    map.get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| GatewayError::missing(name))
}

fn random_alnum(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

fn iso(ms: i64) -> String {
    signer::acs_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64))
}

/// Parameters whose values never reach the call log or a log line.
const SECRET_PARAMS: &[&str] = &["OIDCToken", "Signature", "SecurityToken"];

/// An STS or IMDS answer: HTTP status and JSON (or text) body.
pub(crate) struct StsAnswer {
    pub http_status: u16,
    pub body: String,
    pub json: bool,
}

impl Inner {
    /// One STS call (`/`, parameters from the query and the form body).
    pub(crate) fn serve_sts(
        &mut self,
        method: &str,
        params: &[(String, String)],
        request_id: &str,
        now: i64,
    ) -> StsAnswer {
        let map: BTreeMap<String, String> = params.iter().cloned().collect();
        let action = map.get("Action").cloned().unwrap_or_default();
        let mut record = CallRecord {
            action: action.clone(),
            method: method.to_string(),
            path: "/".into(),
            params: map
                .iter()
                .map(|(k, v)| {
                    let shown = if SECRET_PARAMS.contains(&k.as_str()) {
                        "<redacted>".to_string()
                    } else {
                        v.clone()
                    };
                    (k.clone(), shown)
                })
                .collect(),
            at: now,
            request_id: request_id.to_string(),
            access_key_id: map.get("AccessKeyId").cloned(),
            ..CallRecord::default()
        };
        let result = match action.as_str() {
            "AssumeRoleWithOIDC" => self.assume_role_with_oidc(&map, now),
            "AssumeRole" => self.assume_role(method, params, &map, now),
            "" => Err(GatewayError::missing("Action")),
            other => Err(GatewayError::new(
                400,
                "InvalidAction.NotFound",
                format!("Specified api is not found, please check your url and method: {other}"),
            )),
        };
        let (status, body) = match result {
            Ok(mut v) => {
                v["RequestId"] = json!(request_id);
                (200, v)
            }
            Err(g) => (
                g.http_status,
                json!({"RequestId": request_id, "HostId": STS_HOST, "Code": g.code,
                       "Message": g.message,
                       "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}", g.code)}),
            ),
        };
        record.http_status = status;
        record.code = body.get("Code").cloned().unwrap_or(json!(200));
        tracing::debug!(action = %action, http_status = status, code = %record.code,
                        request_id, "STS call");
        self.gateway.record_call(record);
        StsAnswer {
            http_status: status,
            body: body.to_string(),
            json: true,
        }
    }

    fn role(&self, arn: &str) -> Result<RoleDoc, GatewayError> {
        self.sts
            .doc
            .roles
            .iter()
            .find(|r| r.arn == arn)
            .cloned()
            .ok_or_else(|| {
                GatewayError::new(
                    404,
                    "EntityNotExist.Role",
                    format!("The role not exists: {arn}."),
                )
            })
    }

    /// Common inputs of both actions: role, session name, duration.
    fn role_inputs(
        &self,
        map: &BTreeMap<String, String>,
    ) -> Result<(RoleDoc, String, u64), GatewayError> {
        let role_arn = required(map, "RoleArn")?;
        let session = required(map, "RoleSessionName")?;
        if session.len() < 2
            || session.len() > 64
            || !session
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'))
        {
            return Err(GatewayError::new(
                400,
                "InvalidParameter.RoleSessionName",
                "The parameter RoleSessionName is wrongly formed: 2 to 64 characters of \
                 letters, digits, '.', '@', '-' and '_'.",
            ));
        }
        let duration = match map.get("DurationSeconds") {
            None => 3600,
            Some(d) => d
                .parse::<u64>()
                .ok()
                .filter(|d| (MIN_DURATION..=MAX_DURATION).contains(d))
                .ok_or_else(|| {
                    GatewayError::new(
                        400,
                        "InvalidParameter.DurationSeconds",
                        format!(
                            "The parameter DurationSeconds must be between {MIN_DURATION} and \
                             {MAX_DURATION}: {d:?}."
                        ),
                    )
                })?,
        };
        if role_name(role_arn).is_none() {
            return Err(GatewayError::new(
                400,
                "InvalidParameter.RoleArn",
                format!("The parameter RoleArn is wrongly formed: {role_arn}."),
            ));
        }
        let role = self.role(role_arn)?;
        Ok((role, session.clone(), duration))
    }

    fn issue(&mut self, role: &str, session: &str, duration_s: u64, via: &str, now: i64) -> Value {
        let lifetime = duration_s.min(self.sts.doc.max_session_seconds) as i64 * 1000;
        let issued = IssuedCredentials {
            access_key_id: format!("STS.NT{}", random_alnum(22)),
            access_key_secret: random_alnum(44),
            security_token: format!("CAIS{}", random_alnum(120)),
            role_arn: role.to_string(),
            session_name: session.to_string(),
            expires_at: now + lifetime,
            via: via.to_string(),
        };
        self.gateway.add_issued(&issued);
        let account = role
            .strip_prefix("acs:ram::")
            .and_then(|r| r.split(':').next())
            .unwrap_or("0");
        json!({
            "AssumedRoleUser": {
                "AssumedRoleId": format!("3{}:{session}", &account[..account.len().min(17)]),
                "Arn": format!("{role}/{session}"),
            },
            "Credentials": {
                "AccessKeyId": issued.access_key_id,
                "AccessKeySecret": issued.access_key_secret,
                "SecurityToken": issued.security_token,
                "Expiration": iso(issued.expires_at),
            },
        })
    }

    fn assume_role_with_oidc(
        &mut self,
        map: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<Value, GatewayError> {
        let provider = required(map, "OIDCProviderArn")?;
        let token = required(map, "OIDCToken")?;
        if !self.sts.doc.oidc_providers.contains(provider) {
            return Err(GatewayError::new(
                404,
                "EntityNotExist.OIDCProvider",
                format!("The specified OIDC provider does not exist: {provider}."),
            ));
        }
        let claims = self.sts.verify_token(token)?;
        if claims["iss"].as_str() != Some(provider.as_str()) {
            return Err(GatewayError::new(
                400,
                "AuthenticationFail.OIDCToken.IssuerNotMatch",
                "The issuer of the OIDC token does not match the OIDC provider.",
            ));
        }
        if claims["exp"].as_i64().is_none_or(|exp| exp * 1000 <= now) {
            return Err(GatewayError::new(
                400,
                "AuthenticationFail.OIDCToken.Expired",
                "This JsonWebToken is expired.",
            ));
        }
        let (role, session, duration) = self.role_inputs(map)?;
        if !role.oidc_providers.contains(provider) {
            return Err(GatewayError::new(
                403,
                "NoPermission",
                format!(
                    "You are not authorized to do this action: the trust policy of role {} does \
                     not name OIDC provider {provider}.",
                    role.arn
                ),
            ));
        }
        let mut v = self.issue(&role.arn, &session, duration, "AssumeRoleWithOIDC", now);
        v["OIDCTokenInfo"] = json!({
            "Subject": claims["sub"], "Issuer": claims["iss"], "ClientIds": claims["aud"],
        });
        Ok(v)
    }

    fn assume_role(
        &mut self,
        method: &str,
        params: &[(String, String)],
        map: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<Value, GatewayError> {
        let caller = self.verify_rpc(method, params, map, now)?;
        let (role, session, duration) = self.role_inputs(map)?;
        // An STS caller is known by its role; a long-lived key by its id.
        let principal = caller.role_arn.clone().unwrap_or(caller.id.clone());
        if !role.principals.contains(&principal) {
            return Err(GatewayError::new(
                403,
                "NoPermission",
                format!(
                    "You are not authorized to do this action: the trust policy of role {} does \
                     not name {principal}.",
                    role.arn
                ),
            ));
        }
        if let Some(want) = &role.external_id
            && map.get("ExternalId") != Some(want)
        {
            return Err(GatewayError::new(
                403,
                "NoPermission",
                format!(
                    "You are not authorized to do this action: role {} requires the right \
                     ExternalId.",
                    role.arn
                ),
            ));
        }
        Ok(self.issue(&role.arn, &session, duration, "AssumeRole", now))
    }

    /// The RPC signature of a signed STS call; returns the caller's key.
    fn verify_rpc(
        &mut self,
        method: &str,
        params: &[(String, String)],
        map: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<AccessKey, GatewayError> {
        let ak = required(map, "AccessKeyId")?;
        let signature = required(map, "Signature")?;
        if let Some(m) = map.get("SignatureMethod")
            && m != "HMAC-SHA1"
        {
            return Err(GatewayError::new(
                400,
                "InvalidSignatureMethod",
                format!("Specified signature method is not valid: {m}"),
            ));
        }
        let ts = map.get("Timestamp").map(String::as_str).unwrap_or("");
        let at = ts
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|_| {
                GatewayError::new(
                    400,
                    "InvalidTimeStamp.Format",
                    format!("Specified time stamp or date value is not well formatted: {ts:?}"),
                )
            })?;
        if (at - now).abs() > super::auth::MAX_SKEW_MS {
            return Err(GatewayError::new(
                400,
                "InvalidTimeStamp.Expired",
                format!("Specified time stamp or date value is expired: {ts}."),
            ));
        }
        let nonce = required(map, "SignatureNonce")?.clone();
        let key = self
            .gateway
            .access_key(ak)
            .ok_or_else(|| super::auth::unknown_key(ak))?;
        let token = map.get("SecurityToken").map(String::as_str);
        match (&key.security_token, token.filter(|t| !t.is_empty())) {
            (None, None) => {}
            (Some(want), Some(got)) if want == got => {}
            (Some(_), None) => {
                return Err(GatewayError::new(
                    400,
                    "InvalidSecurityToken.Missing",
                    format!("Access key {ak} is an STS key: the request must carry SecurityToken."),
                ));
            }
            _ => {
                return Err(GatewayError::new(
                    400,
                    "InvalidSecurityToken.MismatchWithAccessKey",
                    format!("The security token does not belong to access key {ak}."),
                ));
            }
        }
        if key.expires_at_ms.is_some_and(|exp| exp <= now) {
            return Err(super::auth::expired_token());
        }
        let sts = signer::rpc_string_to_sign(method, params);
        let want = signer::rpc_signature(&key.secret, &sts);
        if want.len() != signature.len()
            || want
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |a, (x, y)| a | (x ^ y))
                != 0
        {
            let mut shown = sts.clone();
            if let Some(t) = token.filter(|t| !t.is_empty()) {
                shown = shown.replace(
                    &signer::rpc_percent_encode(&signer::rpc_percent_encode(t)),
                    "<redacted>",
                );
            }
            return Err(GatewayError::new(
                400,
                "SignatureDoesNotMatch",
                format!(
                    "Specified signature is not matched with our calculation. server string to \
                     sign is:{shown}"
                ),
            ));
        }
        self.gateway.use_nonce(ak, &nonce, now)?;
        Ok(key)
    }

    /// The ECS instance metadata service: `PUT /latest/api/token` (IMDSv2), then
    /// `/latest/meta-data/ram/security-credentials/[role]`.
    pub(crate) fn serve_imds(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        now: i64,
    ) -> StsAnswer {
        fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
        let text = |status: u16, body: &str| StsAnswer {
            http_status: status,
            body: body.to_string(),
            json: false,
        };
        if path == "/latest/api/token" {
            if method != "PUT" {
                return text(405, "method not allowed");
            }
            let Some(ttl) = header(headers, "x-aliyun-ecs-metadata-token-ttl-seconds")
                .and_then(|t| t.parse::<i64>().ok())
                .filter(|t| (1..=21_600).contains(t))
            else {
                return text(400, "X-aliyun-ecs-metadata-token-ttl-seconds: 1 to 21600");
            };
            let token = random_alnum(40);
            self.sts.imds_tokens.retain(|_, exp| *exp > now);
            self.sts.imds_tokens.insert(token.clone(), now + ttl * 1000);
            return text(200, &token);
        }
        if let Some(t) = header(headers, "x-aliyun-ecs-metadata-token")
            && self.sts.imds_tokens.get(t).is_none_or(|exp| *exp <= now)
        {
            return text(401, "the metadata token is not valid");
        }
        let Some(rest) = path.strip_prefix("/latest/meta-data/ram/security-credentials/") else {
            return text(404, "Not Found");
        };
        let Some(role) = self.sts.doc.ecs_role.clone() else {
            return text(404, "Not Found");
        };
        let name = role_name(&role).unwrap_or_default().to_string();
        if rest.is_empty() {
            return text(200, &name);
        }
        if rest != name {
            return text(404, "Not Found");
        }
        let v = self.issue(&role, "ecs", 21_600, "EcsRamRole", now);
        let c = &v["Credentials"];
        let body = json!({
            "AccessKeyId": c["AccessKeyId"], "AccessKeySecret": c["AccessKeySecret"],
            "SecurityToken": c["SecurityToken"], "Expiration": c["Expiration"],
            "LastUpdated": iso(now), "Code": "Success",
        });
        StsAnswer {
            http_status: 200,
            body: body.to_string(),
            json: true,
        }
    }

    pub(crate) fn mint_oidc_token(
        &self,
        req: &MintTokenRequest,
        now: i64,
    ) -> Result<String, String> {
        self.sts.mint(req, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_checked() {
        assert_eq!(role_name("acs:ram::123:role/edas-op"), Some("edas-op"));
        assert_eq!(role_name("acs:ram::abc:role/x"), None);
        assert_eq!(role_name("acs:ram::123:user/x"), None);
        assert_eq!(role_name("acs:ram::123:role/"), None);
    }

    #[test]
    fn minted_tokens_verify_and_tampered_ones_do_not() {
        let doc = StsDoc {
            oidc_providers: vec!["acs:ram::1:oidc-provider/p".into()],
            ..StsDoc::default()
        };
        let sts = Sts::new(doc);
        let req = MintTokenRequest {
            provider: "acs:ram::1:oidc-provider/p".into(),
            ttl_seconds: 60,
            subject: "s".into(),
        };
        let t = sts.mint(&req, 1_000_000).unwrap();
        let claims = sts.verify_token(&t).unwrap();
        assert_eq!(claims["iss"], "acs:ram::1:oidc-provider/p");
        assert_eq!(claims["exp"], 1000 + 60);
        let mut bad = t.clone();
        bad.push('A');
        assert_eq!(
            sts.verify_token(&bad).unwrap_err().code,
            "AuthenticationFail.OIDCToken.Invalid"
        );
        assert!(Sts::new(StsDoc::default()).mint(&req, 0).is_err());
    }
}
