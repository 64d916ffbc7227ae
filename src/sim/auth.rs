//! Request authentication as the POP gateway does it. Pure: the clock, the key store and the
//! request are inputs; remembering nonces is the caller's job (the verified nonce is returned).
//!
//! - ROA V2 (`Authorization: acs AK:SIG`, HMAC-SHA1): the string-to-sign is rebuilt from the
//!   received headers and the decoded query; empty query values are accepted written both as
//!   `k=` (aliyunsdkcore) and as a bare `k` (tea-openapi, Java, Go). `Date` must be within
//!   15 minutes.
//! - ACS3-HMAC-SHA256: the canonical request is rebuilt from the `SignedHeaders` list the
//!   client sent; every `x-acs-*` header received must be in it; the payload hash is the
//!   SHA-256 of the body received. `x-acs-date` must be within 15 minutes; a nonce is required.
//! - STS: a key with a security token requires `x-acs-security-token` to match it.

use super::error::GatewayError;
use crate::edas::signer::{self, Authorization, EmptyValueStyle};

/// Allowed clock skew, either way.
pub const MAX_SKEW_MS: i64 = 15 * 60 * 1000;

/// An access key the simulator accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub security_token: Option<String>,
    /// Temporary credentials STS issued stop working then (epoch ms).
    pub expires_at_ms: Option<i64>,
    /// The role temporary credentials were issued for.
    pub role_arn: Option<String>,
}

impl AccessKey {
    /// A long-lived key.
    pub fn new(id: &str, secret: &str, security_token: Option<&str>) -> Self {
        Self {
            id: id.to_string(),
            secret: secret.to_string(),
            security_token: security_token.map(str::to_string),
            expires_at_ms: None,
            role_arn: None,
        }
    }
}

/// The gateway's answer for temporary credentials past their expiry.
pub fn expired_token() -> GatewayError {
    GatewayError::new(
        400,
        "InvalidSecurityToken.Expired",
        "Specified SecurityToken is expired.",
    )
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("sts", &self.security_token.is_some())
            .finish()
    }
}

/// A request as received: decoded query pairs in order, headers as sent.
#[derive(Clone, Debug)]
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Incoming<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub nonce: Option<String>,
}

/// The gateway's answer for an access key it does not know.
pub fn unknown_key(ak: &str) -> GatewayError {
    GatewayError::new(
        404,
        "InvalidAccessKeyId.NotFound",
        format!("Specified access key is not found: {ak}"),
    )
}

/// Verify `req` at time `now_ms` against the keys `lookup` knows.
pub fn verify(
    req: &Incoming<'_>,
    lookup: &dyn Fn(&str) -> Option<AccessKey>,
    now_ms: i64,
) -> Result<Verified, GatewayError> {
    let Some(auth_header) = req.header("authorization") else {
        return Err(GatewayError::new(
            400,
            "MissingAuthorization",
            "The request has no Authorization header.",
        ));
    };
    let Some(auth) = signer::parse_authorization(auth_header.trim()) else {
        return Err(GatewayError::new(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards: the Authorization \
             header is neither `acs AK:SIG` nor `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.",
        ));
    };
    let ak = match &auth {
        Authorization::RoaV2 { access_key_id, .. } | Authorization::Acs3 { access_key_id, .. } => {
            access_key_id.as_str()
        }
    };
    let Some(key) = lookup(ak) else {
        return Err(unknown_key(ak));
    };
    check_security_token(req, &key)?;
    if key.expires_at_ms.is_some_and(|exp| exp <= now_ms) {
        return Err(expired_token());
    }
    let nonce = req
        .header("x-acs-signature-nonce")
        .map(str::to_string)
        .filter(|n| !n.is_empty());
    match auth {
        Authorization::RoaV2 { signature, .. } => verify_roa_v2(req, &key, &signature, now_ms)?,
        Authorization::Acs3 {
            signed_headers,
            signature,
            ..
        } => verify_acs3(
            req,
            &key,
            &signed_headers,
            &signature,
            nonce.is_some(),
            now_ms,
        )?,
    }
    Ok(Verified {
        access_key_id: key.id,
        nonce,
    })
}

/// ROA V2 (HMAC-SHA1): `Date` within the skew, the signature over either empty-value style.
fn verify_roa_v2(
    req: &Incoming<'_>,
    key: &AccessKey,
    signature: &str,
    now_ms: i64,
) -> Result<(), GatewayError> {
    if let Some(m) = req.header("x-acs-signature-method")
        && m != "HMAC-SHA1"
    {
        return Err(GatewayError::new(
            400,
            "InvalidSignatureMethod",
            format!("Specified signature method is not valid for an `acs` signature: {m}"),
        ));
    }
    let date = req.header("date").unwrap_or("");
    let at = httpdate::parse_http_date(date)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| {
            GatewayError::new(
                400,
                "InvalidTimeStamp.Format",
                format!("Specified Date header is missing or not an RFC 1123 date: {date:?}"),
            )
        })?;
    check_skew(at, now_ms, date)?;
    let sts =
        |style| signer::roa_v2_string_to_sign(req.method, req.path, req.query, req.headers, style);
    let sts_equals = sts(EmptyValueStyle::KeyEquals);
    let sts_bare = sts(EmptyValueStyle::BareKey);
    let ok = [&sts_equals, &sts_bare]
        .iter()
        .any(|sts| ct_eq(&signer::roa_v2_signature(&key.secret, sts), signature));
    if ok {
        Ok(())
    } else {
        Err(signature_mismatch(&sts_equals, req))
    }
}

/// ACS3-HMAC-SHA256: `x-acs-date` within the skew, a nonce, every `x-acs-*` header signed,
/// the signature over the canonical request rebuilt from `SignedHeaders`.
fn verify_acs3(
    req: &Incoming<'_>,
    key: &AccessKey,
    signed_headers: &[String],
    signature: &str,
    has_nonce: bool,
    now_ms: i64,
) -> Result<(), GatewayError> {
    let date = req.header("x-acs-date").unwrap_or("");
    let at = date
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
        .ok_or_else(|| {
            GatewayError::new(
                400,
                "InvalidTimeStamp.Format",
                format!(
                    "Specified x-acs-date is missing or not ISO 8601 UTC \
                     (2025-01-15T08:00:00Z): {date:?}"
                ),
            )
        })?;
    check_skew(at, now_ms, date)?;
    if !has_nonce {
        return Err(GatewayError::new(
            400,
            "MissingParameter",
            "The header x-acs-signature-nonce is required with ACS3-HMAC-SHA256.",
        ));
    }
    for (name, _) in req.headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("x-acs-") && !signed_headers.contains(&lower) {
            return Err(GatewayError::new(
                400,
                "IncompleteSignature",
                format!("The header {lower} is sent but not listed in SignedHeaders."),
            ));
        }
    }
    let canonical = signer::acs3_canonical_request(
        req.method,
        req.path,
        req.query,
        req.headers,
        signed_headers,
        &signer::sha256_hex(req.body),
    );
    let sts = signer::acs3_string_to_sign(&canonical);
    if ct_eq(&signer::acs3_signature(&key.secret, &sts), signature) {
        Ok(())
    } else {
        Err(signature_mismatch(
            &format!("{sts}\nserver canonical request is:{canonical}"),
            req,
        ))
    }
}

fn check_security_token(req: &Incoming<'_>, key: &AccessKey) -> Result<(), GatewayError> {
    let sent = req.header("x-acs-security-token").filter(|t| !t.is_empty());
    match (&key.security_token, sent) {
        (None, None) => Ok(()),
        (Some(want), Some(got)) if ct_eq(want, got) => Ok(()),
        (Some(_), None) => Err(GatewayError::new(
            400,
            "InvalidSecurityToken.Missing",
            format!(
                "Access key {} is an STS key: the request must carry x-acs-security-token.",
                key.id
            ),
        )),
        (Some(_), Some(_)) => Err(GatewayError::new(
            400,
            "InvalidSecurityToken.MismatchWithAccessKey",
            format!(
                "The security token does not belong to access key {}.",
                key.id
            ),
        )),
        (None, Some(_)) => Err(GatewayError::new(
            400,
            "InvalidSecurityToken.MismatchWithAccessKey",
            format!(
                "Access key {} is not an STS key, yet the request carries a security token.",
                key.id
            ),
        )),
    }
}

fn check_skew(at_ms: i64, now_ms: i64, sent: &str) -> Result<(), GatewayError> {
    if (at_ms - now_ms).abs() > MAX_SKEW_MS {
        return Err(GatewayError::new(
            400,
            "InvalidTimeStamp.Expired",
            format!(
                "Specified time stamp or date value is expired: {sent:?} is more than 15 minutes \
                 from the server time {}.",
                crate::edas::signer::acs_date(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(now_ms.max(0) as u64)
                )
            ),
        ));
    }
    Ok(())
}

/// The message echoes what the server signed, as the gateway does, but never an STS token
/// (the caller may well log the message).
fn signature_mismatch(server_sts: &str, req: &Incoming<'_>) -> GatewayError {
    let mut shown = server_sts.to_string();
    if let Some(token) = req.header("x-acs-security-token").filter(|t| !t.is_empty()) {
        shown = shown.replace(token, "<redacted>");
    }
    GatewayError::new(
        400,
        "SignatureDoesNotMatch",
        format!(
            "Specified signature is not matched with our calculation. server string to sign is:{shown}"
        ),
    )
}

/// Compare without an early exit.
fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Decode a raw query string as the gateway does (`+` is a space, `%XX` bytes, lossy UTF-8).
pub fn decode_query(raw: Option<&str>) -> Vec<(String, String)> {
    match raw {
        None | Some("") => Vec::new(),
        Some(q) => url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .filter(|(k, _)| !k.is_empty())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/edas/signature-vectors.json"
    );
    /// Wed, 15 Jan 2025 08:00:00 GMT, the date every vector was signed at.
    const VECTOR_NOW_MS: i64 = 1_736_928_000_000;

    struct Owned {
        method: String,
        path: String,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Owned {
        fn incoming(&self) -> Incoming<'_> {
            Incoming {
                method: &self.method,
                path: &self.path,
                query: &self.query,
                headers: &self.headers,
                body: &self.body,
            }
        }
    }

    fn vectors() -> Vec<(String, Owned)> {
        let text = std::fs::read_to_string(VECTORS)
            .unwrap_or_else(|e| panic!("{VECTORS} (the shared signature vectors): {e}"));
        let doc: Value = serde_json::from_str(&text).unwrap();
        doc["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let url = v["url_path_and_query_as_sent"]
                    .as_str()
                    .or(v["url_as_sent"].as_str())
                    .unwrap();
                let parsed = url::Url::parse("http://x").unwrap().join(url).unwrap();
                let headers = v["headers_as_sent"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let owned = Owned {
                    method: v["method"].as_str().unwrap().into(),
                    path: parsed.path().into(),
                    query: decode_query(parsed.query()),
                    headers,
                    body: v["body"].as_str().unwrap_or("").as_bytes().to_vec(),
                };
                (v["id"].as_str().unwrap().to_string(), owned)
            })
            .collect()
    }

    fn keys(id: &str) -> Option<AccessKey> {
        (id == "testid").then(|| AccessKey::new("testid", "testsecret", None))
    }

    #[test]
    fn every_sdk_vector_is_accepted_at_its_date() {
        let all = vectors();
        assert_eq!(all.len(), 33);
        for (id, req) in &all {
            let got = verify(&req.incoming(), &keys, VECTOR_NOW_MS);
            assert!(got.is_ok(), "{id}: {got:?}");
            assert_eq!(got.unwrap().access_key_id, "testid");
        }
    }

    #[test]
    fn tampered_vectors_are_rejected_with_the_server_string_to_sign() {
        for (id, mut req) in vectors() {
            if req.query.is_empty() {
                req.query.push(("Injected".into(), "1".into()));
            } else {
                req.query[0].1.push('x');
            }
            let e = verify(&req.incoming(), &keys, VECTOR_NOW_MS).unwrap_err();
            assert_eq!(e.code, "SignatureDoesNotMatch", "{id}");
            assert_eq!(e.http_status, 400);
            assert!(e.message.contains("server string to sign is:"), "{id}");
        }
    }

    #[test]
    fn wrong_secret_is_a_signature_mismatch() {
        let (_, req) = vectors().swap_remove(0);
        let other = |_: &str| Some(AccessKey::new("testid", "wrong", None));
        let e = verify(&req.incoming(), &other, VECTOR_NOW_MS).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert!(e.message.ends_with("RegionId=cn-hangzhou"), "{}", e.message);
    }

    #[test]
    fn stale_or_future_dates_are_expired_for_both_algorithms() {
        for (id, req) in vectors() {
            for skew in [-16 * 60_000, 16 * 60_000] {
                let e = verify(&req.incoming(), &keys, VECTOR_NOW_MS + skew).unwrap_err();
                assert_eq!(e.code, "InvalidTimeStamp.Expired", "{id}");
            }
            assert!(verify(&req.incoming(), &keys, VECTOR_NOW_MS + 14 * 60_000).is_ok());
        }
    }

    #[test]
    fn security_token_is_not_echoed_in_a_mismatch() {
        let sts = |_: &str| Some(AccessKey::new("testid", "wrong", Some("very-secret-token")));
        for (id, mut req) in vectors() {
            req.headers
                .push(("x-acs-security-token".into(), "very-secret-token".into()));
            if let Some(auth) = req
                .headers
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                && auth.1.starts_with("ACS3")
            {
                auth.1 = auth
                    .1
                    .replace("SignedHeaders=", "SignedHeaders=x-acs-security-token;");
            }
            let e = verify(&req.incoming(), &sts, VECTOR_NOW_MS).unwrap_err();
            assert_eq!(e.code, "SignatureDoesNotMatch", "{id}");
            assert!(
                !e.message.contains("very-secret-token"),
                "{id}: {}",
                e.message
            );
        }
    }

    #[test]
    fn unknown_key_is_not_found() {
        let (_, req) = vectors().swap_remove(0);
        let e = verify(&req.incoming(), &|_| None, VECTOR_NOW_MS).unwrap_err();
        assert_eq!(e.code, "InvalidAccessKeyId.NotFound");
        assert_eq!(e.http_status, 404);
    }

    #[test]
    fn sts_key_needs_its_token() {
        let sts = |_: &str| Some(AccessKey::new("testid", "testsecret", Some("tok")));
        let (_, req) = vectors().swap_remove(0);
        let e = verify(&req.incoming(), &sts, VECTOR_NOW_MS).unwrap_err();
        assert_eq!(e.code, "InvalidSecurityToken.Missing");
    }

    #[test]
    fn tea_nonce_is_returned_and_core_sends_none() {
        let all = vectors();
        let core = &all
            .iter()
            .find(|(id, _)| id.starts_with("core-v2"))
            .unwrap()
            .1;
        let tea = &all
            .iter()
            .find(|(id, _)| id.starts_with("tea-v3"))
            .unwrap()
            .1;
        assert_eq!(
            verify(&core.incoming(), &keys, VECTOR_NOW_MS)
                .unwrap()
                .nonce,
            None
        );
        assert!(
            verify(&tea.incoming(), &keys, VECTOR_NOW_MS)
                .unwrap()
                .nonce
                .is_some()
        );
    }

    #[test]
    fn acs3_with_an_unsigned_acs_header_is_incomplete() {
        let (_, mut req) = vectors()
            .into_iter()
            .find(|(id, _)| id.starts_with("tea-v3"))
            .unwrap();
        req.headers.push(("x-acs-extra".into(), "1".into()));
        let e = verify(&req.incoming(), &keys, VECTOR_NOW_MS).unwrap_err();
        assert_eq!(e.code, "IncompleteSignature");
    }

    #[test]
    fn missing_or_garbled_authorization_is_refused() {
        let (_, mut req) = vectors().swap_remove(0);
        req.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
        assert_eq!(
            verify(&req.incoming(), &keys, VECTOR_NOW_MS)
                .unwrap_err()
                .code,
            "MissingAuthorization"
        );
        req.headers
            .push(("Authorization".into(), "Bearer x".into()));
        assert_eq!(
            verify(&req.incoming(), &keys, VECTOR_NOW_MS)
                .unwrap_err()
                .code,
            "IncompleteSignature"
        );
    }

    #[test]
    fn query_is_decoded_like_the_gateway() {
        let q = decode_query(Some("A=a+b%2Cc&B=&C&D=%E6%B5%8B"));
        assert_eq!(
            q,
            vec![
                ("A".to_string(), "a b,c".to_string()),
                ("B".into(), "".into()),
                ("C".into(), "".into()),
                ("D".into(), "测".into())
            ]
        );
    }
}
