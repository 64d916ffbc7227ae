//! Request signing for the EDAS ROA API. Pure: the clock and the nonce are inputs.
//!
//! Two algorithms, both reproduced byte for byte against the official SDKs' vectors
//! (`../shared/edas/signature-vectors.json`, checked by `tests/signature_vectors.rs`):
//! - ROA signature V2, HMAC-SHA1: `Authorization: acs <AK>:<base64 sig>` (the default here);
//! - ACS3-HMAC-SHA256: `Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest;
use std::time::SystemTime;

/// Which signature the client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SignatureAlgorithm {
    /// ROA V2, HMAC-SHA1 (`acs AK:SIG`), what every `/pop/v5` doc page shows.
    #[default]
    RoaV2,
    /// ACS3-HMAC-SHA256, what the newest official SDK sends by default.
    Acs3,
}

impl std::str::FromStr for SignatureAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "v2" | "roa-v2" | "hmac-sha1" => Ok(Self::RoaV2),
            "v3" | "acs3" | "acs3-hmac-sha256" => Ok(Self::Acs3),
            other => Err(format!(
                "unknown signature algorithm {other:?}: expected hmac-sha1 or acs3-hmac-sha256"
            )),
        }
    }
}

/// How an empty query value is written in the ROA V2 canonicalized resource. The SDKs disagree
/// (aliyunsdkcore writes `k=`, tea-openapi/Java/Go write a bare `k`); a verifier accepts both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyValueStyle {
    KeyEquals,
    BareKey,
}

pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// ROA V2 string-to-sign.
///
/// `headers` are the request headers as sent (any case); every header whose lower-cased name
/// starts with `x-acs-` is canonicalized, plus Accept, Content-MD5, Content-Type and Date.
/// `query` holds the decoded (raw) query parameters; they are sorted here.
pub fn roa_v2_string_to_sign(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    empty: EmptyValueStyle,
) -> String {
    let header = |name: &str| -> &str {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut out = String::with_capacity(256);
    out.push_str(&method.to_ascii_uppercase());
    out.push('\n');
    for name in ["accept", "content-md5", "content-type", "date"] {
        out.push_str(header(name));
        out.push('\n');
    }
    let mut acs: Vec<(String, &str)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .filter(|(k, _)| k.starts_with("x-acs-"))
        .collect();
    acs.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in acs {
        out.push_str(&k);
        out.push(':');
        out.push_str(v);
        out.push('\n');
    }
    out.push_str(path);
    if !query.is_empty() {
        let mut q: Vec<&(String, String)> = query.iter().collect();
        q.sort_by(|a, b| a.0.cmp(&b.0));
        out.push('?');
        for (i, (k, v)) in q.into_iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            if !v.is_empty() || empty == EmptyValueStyle::KeyEquals {
                out.push('=');
                out.push_str(v);
            }
        }
    }
    out
}

/// base64(HMAC-SHA1(secret, string_to_sign)).
pub fn roa_v2_signature(secret: &str, string_to_sign: &str) -> String {
    // HMAC takes keys of any length, so this `else` cannot run; it returns a signature that
    // no server accepts rather than panicking.
    let Ok(mut mac) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// RFC 3986 encoding as the V3 canonical query uses it (`quote(v, safe='~')`).
pub fn acs3_percent_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// ACS3 canonical request. `signed_headers` are lower-case names; each must be present in
/// `headers` (missing ones are signed as empty, which will then not match the sender).
pub fn acs3_canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    signed_headers: &[String],
    payload_sha256_hex: &str,
) -> String {
    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (acs3_percent_encode(k), acs3_percent_encode(v)))
        .collect();
    q.sort();
    let canonical_query = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut names: Vec<String> = signed_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    names.sort();
    let mut canonical_headers = String::new();
    for name in &names {
        let value = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .unwrap_or("");
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value);
        canonical_headers.push('\n');
    }
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        canonical_query,
        canonical_headers,
        names.join(";"),
        payload_sha256_hex
    )
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

pub fn acs3_string_to_sign(canonical_request: &str) -> String {
    format!(
        "ACS3-HMAC-SHA256\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// hex(HMAC-SHA256(secret, string_to_sign)).
pub fn acs3_signature(secret: &str, string_to_sign: &str) -> String {
    let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// RFC 1123 date as the `Date` header wants it.
pub fn http_date(at: SystemTime) -> String {
    httpdate::fmt_http_date(at)
}

/// ISO-8601 UTC (`2025-01-15T08:00:00Z`) as `x-acs-date` wants it.
pub fn acs_date(at: SystemTime) -> String {
    let ts = jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What a request looks like before signing.
#[derive(Clone, Debug)]
pub struct UnsignedRequest<'a> {
    pub method: &'a str,
    /// Host header value (host[:port]); signed by ACS3.
    pub host: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    /// Headers already chosen by the caller (x-acs-action, x-acs-version, accept, ...).
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

/// The key material the signer needs. Kept apart from `Credentials` so this module stays pure.
pub struct SigningKey<'a> {
    pub access_key_id: &'a str,
    pub access_key_secret: &'a str,
    pub security_token: Option<&'a str>,
}

/// Sign: returns the full header list to send (input headers + date/nonce/signature headers +
/// Authorization). Pure: `now` and `nonce` are injected.
pub fn sign(
    algorithm: SignatureAlgorithm,
    key: &SigningKey<'_>,
    req: &UnsignedRequest<'_>,
    now: SystemTime,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut headers = req.headers.clone();
    match algorithm {
        SignatureAlgorithm::RoaV2 => {
            headers.push(("date".into(), http_date(now)));
            headers.push(("x-acs-signature-nonce".into(), nonce.into()));
            headers.push(("x-acs-signature-method".into(), "HMAC-SHA1".into()));
            headers.push(("x-acs-signature-version".into(), "1.0".into()));
            if let Some(token) = key.security_token {
                headers.push(("x-acs-security-token".into(), token.into()));
            }
            let sts = roa_v2_string_to_sign(
                req.method,
                req.path,
                req.query,
                &headers,
                EmptyValueStyle::BareKey,
            );
            let sig = roa_v2_signature(key.access_key_secret, &sts);
            headers.push((
                "authorization".into(),
                format!("acs {}:{}", key.access_key_id, sig),
            ));
        }
        SignatureAlgorithm::Acs3 => {
            headers.push(("host".into(), req.host.into()));
            headers.push(("x-acs-date".into(), acs_date(now)));
            headers.push(("x-acs-signature-nonce".into(), nonce.into()));
            headers.push(("x-acs-content-sha256".into(), sha256_hex(req.body)));
            if let Some(token) = key.security_token {
                headers.push(("x-acs-security-token".into(), token.into()));
                headers.push(("x-acs-accesskey-id".into(), key.access_key_id.into()));
            }
            let mut signed: Vec<String> = headers
                .iter()
                .map(|(k, _)| k.to_ascii_lowercase())
                .collect();
            signed.sort();
            signed.dedup();
            let canonical = acs3_canonical_request(
                req.method,
                req.path,
                req.query,
                &headers,
                &signed,
                &sha256_hex(req.body),
            );
            let sig = acs3_signature(key.access_key_secret, &acs3_string_to_sign(&canonical));
            headers.push((
                "authorization".into(),
                format!(
                    "ACS3-HMAC-SHA256 Credential={},SignedHeaders={},Signature={}",
                    key.access_key_id,
                    signed.join(";"),
                    sig
                ),
            ));
        }
    }
    headers
}

/// RPC-style (STS) percent-encoding, the POP standard: RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`) stay, everything else is `%XX` of its UTF-8 bytes (space is `%20`,
/// `*` is `%2A`).
pub fn rpc_percent_encode(s: &str) -> String {
    acs3_percent_encode(s)
}

/// RPC-style string-to-sign: `METHOD&%2F&` + encode(canonicalized query), the canonicalized
/// query being every parameter but `Signature`, sorted by name, `encode(k)=encode(v)` joined by
/// `&`. Query and form-body parameters are signed alike.
pub fn rpc_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (rpc_percent_encode(k), rpc_percent_encode(v)))
        .collect();
    pairs.sort();
    let canonical = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&%2F&{}",
        method.to_ascii_uppercase(),
        rpc_percent_encode(&canonical)
    )
}

/// base64(HMAC-SHA1(secret + "&", string_to_sign)).
pub fn rpc_signature(secret: &str, string_to_sign: &str) -> String {
    roa_v2_signature(&format!("{secret}&"), string_to_sign)
}

/// Sign an RPC-style request: adds the common parameters (`Format`, `SignatureMethod`,
/// `SignatureVersion`, `SignatureNonce`, `Timestamp`, `AccessKeyId`, and `SecurityToken` for
/// an STS caller) to `params` and then `Signature`. Pure: `now` and `nonce` are injected.
pub fn sign_rpc(
    key: &SigningKey<'_>,
    method: &str,
    params: &mut Vec<(String, String)>,
    now: SystemTime,
    nonce: &str,
) {
    params.retain(|(k, _)| k != "Signature");
    for (k, v) in [
        ("Format", "JSON".to_string()),
        ("SignatureMethod", "HMAC-SHA1".to_string()),
        ("SignatureVersion", "1.0".to_string()),
        ("SignatureNonce", nonce.to_string()),
        ("Timestamp", acs_date(now)),
        ("AccessKeyId", key.access_key_id.to_string()),
    ] {
        params.push((k.to_string(), v));
    }
    if let Some(token) = key.security_token {
        params.push(("SecurityToken".to_string(), token.to_string()));
    }
    let sts = rpc_string_to_sign(method, params);
    params.push((
        "Signature".to_string(),
        rpc_signature(key.access_key_secret, &sts),
    ));
}

/// A parsed `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authorization {
    RoaV2 {
        access_key_id: String,
        signature: String,
    },
    Acs3 {
        access_key_id: String,
        signed_headers: Vec<String>,
        signature: String,
    },
}

/// Parse an `Authorization` header value; `None` when it is neither form.
pub fn parse_authorization(value: &str) -> Option<Authorization> {
    if let Some(rest) = value.strip_prefix("acs ") {
        let (ak, sig) = rest.rsplit_once(':')?;
        if ak.is_empty() || sig.is_empty() {
            return None;
        }
        return Some(Authorization::RoaV2 {
            access_key_id: ak.to_string(),
            signature: sig.to_string(),
        });
    }
    let rest = value.strip_prefix("ACS3-HMAC-SHA256 ")?;
    let (mut ak, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => ak = Some(v.to_string()),
            "SignedHeaders" => {
                signed = Some(v.split(';').map(|s| s.to_ascii_lowercase()).collect())
            }
            "Signature" => sig = Some(v.to_string()),
            _ => {}
        }
    }
    Some(Authorization::Acs3 {
        access_key_id: ak.filter(|s: &String| !s.is_empty())?,
        signed_headers: signed?,
        signature: sig?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_value_is_written_both_ways() {
        let q = vec![("A".to_string(), String::new()), ("B".into(), "x".into())];
        let a = roa_v2_string_to_sign("GET", "/p", &q, &[], EmptyValueStyle::KeyEquals);
        let b = roa_v2_string_to_sign("GET", "/p", &q, &[], EmptyValueStyle::BareKey);
        assert!(a.ends_with("/p?A=&B=x"), "{a}");
        assert!(b.ends_with("/p?A&B=x"), "{b}");
    }

    #[test]
    fn signed_request_verifies_with_its_own_string_to_sign() {
        let key = SigningKey {
            access_key_id: "ak",
            access_key_secret: "sk",
            security_token: Some("tok"),
        };
        let q = vec![("AppId".to_string(), "a b".to_string())];
        let req = UnsignedRequest {
            method: "POST",
            host: "127.0.0.1:1",
            path: "/pop/v5/x",
            query: &q,
            headers: vec![("x-acs-action".into(), "X".into())],
            body: b"",
        };
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let h = sign(SignatureAlgorithm::RoaV2, &key, &req, now, "n1");
        let auth = h
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone());
        let Some(Authorization::RoaV2 { signature, .. }) =
            auth.as_deref().and_then(parse_authorization)
        else {
            panic!("no v2 authorization in {h:?}");
        };
        let sts = roa_v2_string_to_sign("POST", "/pop/v5/x", &q, &h, EmptyValueStyle::BareKey);
        assert_eq!(signature, roa_v2_signature("sk", &sts));
        assert!(sts.contains("x-acs-security-token:tok\n"));

        let h3 = sign(SignatureAlgorithm::Acs3, &key, &req, now, "n2");
        let auth3 = h3
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone());
        let Some(Authorization::Acs3 {
            signed_headers,
            signature,
            ..
        }) = auth3.as_deref().and_then(parse_authorization)
        else {
            panic!("no v3 authorization in {h3:?}");
        };
        assert!(signed_headers.contains(&"x-acs-security-token".to_string()));
        let canonical = acs3_canonical_request(
            "POST",
            "/pop/v5/x",
            &q,
            &h3,
            &signed_headers,
            EMPTY_SHA256_HEX,
        );
        assert_eq!(
            signature,
            acs3_signature("sk", &acs3_string_to_sign(&canonical))
        );
    }

    #[test]
    fn malformed_authorization_is_not_parsed() {
        for bad in [
            "",
            "acs ",
            "acs nocolon",
            "Bearer x",
            "ACS3-HMAC-SHA256 Credential=a",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad}");
        }
    }
}
