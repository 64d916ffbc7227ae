//! Property tests for the parsers and the signer.
//!
//! - `decode_response` over arbitrary bytes, arbitrary JSON values and mutated valid bodies
//!   never panics and always returns `Ok` or a typed error that is consistent with the input
//!   (HTTP status, body `Code`, request id), and the wire -> domain conversions never panic.
//! - The signer over arbitrary strings (unicode, empty values, separators) never panics, and a
//!   request signed by `sign()` verifies when the server-side string is recomputed, for both
//!   ROA V2 and ACS3; changing what is signed changes the signature.
//! - `parse_authorization` never panics and round-trips the two header forms.
//!
//! 256 cases per property (proptest's default) keeps the suite fast; `PROPTEST_CASES=5000`
//! runs a deeper pass. Failures are not persisted to a regressions file; a failing case is
//! printed, shrunk, in the test output.

use edas_operator::edas::client::{
    app_status_from_wire, backoff, change_order_from_wire, decode_response,
};
use edas_operator::edas::signer::{
    self, Authorization, EmptyValueStyle, SignatureAlgorithm, SigningKey, UnsignedRequest,
};
use edas_operator::edas::{EdasError, Result, wire};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::{Duration, SystemTime};

const OP: &str = "QueryApplicationStatus";

/// proptest's defaults (256 cases; `PROPTEST_CASES=N` raises it for a deeper run), without
/// writing regression files next to the tests.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------------------ valid bodies

// The valid bodies: tests/fixtures/*.json, named in tests/fixtures/mod.rs.
mod fixtures;
use fixtures::*;

const VALID: &[&str] = &[
    SCALE_IN_OK,
    CHANGE_ORDER_OK,
    QUERY_STATUS_OK,
    RECENT_ORDERS_OK,
    LIST_APPS_OK,
    GET_APP_OK,
];

/// Keys the decoders look for, so generated JSON reaches deep into the types.
const KEYS: &[&str] = &[
    "Code",
    "Message",
    "RequestId",
    "HostId",
    "AppInfo",
    "Application",
    "ApplicationId",
    "Name",
    "EccList",
    "Ecc",
    "EccId",
    "EcuId",
    "Ip",
    "AppState",
    "TaskState",
    "EcuList",
    "Ecu",
    "InstanceId",
    "IpAddr",
    "GroupList",
    "Group",
    "GroupId",
    "changeOrderInfo",
    "ChangeOrderId",
    "Status",
    "BatchCount",
    "Targets",
    "Items",
    "PipelineInfoList",
    "PipelineInfo",
    "PipelineId",
    "PipelineStatus",
    "StageDetailList",
    "StageDetailDTO",
    "TaskList",
    "TaskInfoDTO",
    "TaskErrorCode",
    "TaskErrorMessage",
    "ChangeOrderList",
    "ChangeOrder",
    "ApplicationList",
    "AppId",
    "Instances",
    "InstanceCount",
    "ClusterType",
    "CreateTime",
];

// ------------------------------------------------------------------------------ strategies

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "\\PC{0,8}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![200i64, 601, 401, 0, 1, 2, 5, 7, 9, -1]).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(vec!["200", "601", "0200", "Throttling.User", "7", "", " 1"])
            .prop_map(|s| Value::String(s.to_string())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..7)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn http_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => Just(200u16),
        1 => Just(400u16),
        1 => Just(503u16),
        2 => 100u16..600,
    ]
}

fn header_request_id() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[A-Z0-9-]{1,12}")
}

/// A byte-level edit of a body.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (
            any::<usize>(),
            prop::sample::select(b"{}[]\",:0123456789-.eE \\nul".to_vec())
        )
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(body: &str, edits: &[Edit]) -> Vec<u8> {
    let mut b = body.as_bytes().to_vec();
    for e in edits {
        let n = b.len();
        match *e {
            Edit::Replace(i, x) if n > 0 => b[i % n] = x,
            Edit::Insert(i, x) => b.insert(i % (n + 1), x),
            Edit::Delete(i) if n > 0 => {
                b.remove(i % n);
            }
            Edit::Truncate(i) => b.truncate(i % (n + 1)),
            _ => {}
        }
    }
    b
}

/// Replace the `n`-th node (pre-order, modulo the node count) of `v` with `with`.
fn replace_node(v: &mut Value, n: usize, with: Value) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    fn walk(v: &mut Value, n: &mut usize, with: &mut Option<Value>) {
        if *n == 0 {
            if let Some(w) = with.take() {
                *v = w;
            }
            return;
        }
        *n -= 1;
        match v {
            Value::Array(a) => a.iter_mut().for_each(|c| walk(c, n, with)),
            Value::Object(o) => o.values_mut().for_each(|c| walk(c, n, with)),
            _ => {}
        }
    }
    let mut n = n % count(v);
    walk(v, &mut n, &mut Some(with));
}

// ------------------------------------------------------------------------------ decode checks

const CLASSES: &[&str] = &[
    "throttled",
    "auth",
    "server_error",
    "client_error",
    "business_error",
    "timeout",
    "transport",
    "malformed",
    "outcome_unknown",
    "invalid",
];

/// Decode `body` as `T` and check that whatever comes back is consistent with the input.
fn check_decode<T: DeserializeOwned>(status: u16, body: &[u8], hdr: Option<String>) -> Result<T> {
    let result = decode_response::<T>(
        OP,
        status,
        body,
        Some(Duration::from_millis(7)),
        hdr.clone(),
    );
    // What the envelope says, read independently of the client's code path.
    let envelope: Option<wire::Envelope> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok());
    let expected_rid = envelope
        .as_ref()
        .and_then(|e| e.request_id.clone())
        .or(hdr.clone());
    match result {
        Ok((t, rid)) => {
            assert!(status < 300, "HTTP {status} decoded as success");
            let env = envelope.expect("a success has an envelope");
            assert!(
                env.code.as_ref().is_some_and(wire::Code::is_success),
                "success without Code 200: {:?}",
                env.code
            );
            assert_eq!(rid, expected_rid, "request id of a success");
            Ok(t)
        }
        Err(e) => {
            assert_eq!(e.operation(), OP);
            assert!(CLASSES.contains(&e.class()), "unknown class {}", e.class());
            let text = e.to_string();
            assert!(text.contains(OP), "{text}");
            match &e {
                EdasError::Gateway {
                    http_status,
                    retry_after,
                    ..
                } => {
                    assert_eq!(*http_status, status);
                    assert_eq!(*retry_after, Some(Duration::from_millis(7)));
                }
                EdasError::Business {
                    http_status, code, ..
                } => {
                    assert_eq!(*http_status, status);
                    assert_ne!(*code, 200, "Code 200 is not a business error");
                }
                EdasError::Decode { http_status, .. } => assert_eq!(*http_status, status),
                other => panic!("decode_response cannot produce {other:?}"),
            }
            // The body's RequestId when there is an envelope, else the response header's.
            assert_eq!(e.request_id(), expected_rid.as_deref(), "{e:?}");
            Err(e)
        }
    }
}

/// Every response type the client decodes, then the wire -> domain conversions.
fn decode_everything(status: u16, body: &[u8], hdr: Option<String>) {
    if let Ok(r) = check_decode::<wire::QueryApplicationStatusResponse>(status, body, hdr.clone())
        && let Some(info) = r.app_info
    {
        let _ = app_status_from_wire("app", info, None);
    }
    if let Ok(r) = check_decode::<wire::GetChangeOrderInfoResponse>(status, body, hdr.clone())
        && let Some(info) = r.change_order_info
    {
        let _ = change_order_from_wire(info, None);
    }
    let _ = check_decode::<wire::ChangeOrderCreatedResponse>(status, body, hdr.clone());
    let _ = check_decode::<wire::ListRecentChangeOrderResponse>(status, body, hdr.clone());
    let _ = check_decode::<wire::ListApplicationResponse>(status, body, hdr.clone());
    let _ = check_decode::<wire::GetApplicationResponse>(status, body, hdr.clone());
    let _ = check_decode::<wire::AbortChangeOrderResponse>(status, body, hdr.clone());
    let _ = check_decode::<wire::Envelope>(status, body, hdr);
}

#[test]
fn valid_bodies_decode_as_success() {
    // The baseline the mutation properties start from must itself decode.
    let h = None::<String>;
    check_decode::<wire::ChangeOrderCreatedResponse>(200, SCALE_IN_OK.as_bytes(), h.clone())
        .expect("scale in");
    let r = check_decode::<wire::GetChangeOrderInfoResponse>(
        200,
        CHANGE_ORDER_OK.as_bytes(),
        h.clone(),
    )
    .expect("change order");
    change_order_from_wire(r.change_order_info.expect("info"), None).expect("domain");
    let r = check_decode::<wire::QueryApplicationStatusResponse>(
        200,
        QUERY_STATUS_OK.as_bytes(),
        h.clone(),
    )
    .expect("status");
    app_status_from_wire("a", r.app_info.expect("info"), None).expect("domain");
    check_decode::<wire::ListRecentChangeOrderResponse>(
        200,
        RECENT_ORDERS_OK.as_bytes(),
        h.clone(),
    )
    .expect("recent");
    check_decode::<wire::ListApplicationResponse>(200, LIST_APPS_OK.as_bytes(), h.clone())
        .expect("apps");
    check_decode::<wire::GetApplicationResponse>(200, GET_APP_OK.as_bytes(), h.clone())
        .expect("app");
    let e =
        check_decode::<wire::Envelope>(400, SIGNATURE_MISMATCH.as_bytes(), h).expect_err("gateway");
    assert!(matches!(e, EdasError::Gateway { .. }));
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(
        status in http_status(),
        body in prop::collection::vec(any::<u8>(), 0..256),
        hdr in header_request_id(),
    ) {
        decode_everything(status, &body, hdr);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_json(
        status in http_status(),
        value in json_value(),
        hdr in header_request_id(),
    ) {
        let body = serde_json::to_vec(&value).expect("serialize");
        decode_everything(status, &body, hdr);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_json_under_an_envelope(
        status in http_status(),
        code in json_leaf(),
        payload_key in prop::sample::select(KEYS),
        payload in json_value(),
        hdr in header_request_id(),
    ) {
        // A well-formed envelope with an arbitrary payload reaches the typed decoders.
        let mut obj = serde_json::Map::new();
        obj.insert("Code".into(), code);
        obj.insert("RequestId".into(), Value::from("R-1"));
        obj.insert(payload_key.to_string(), payload);
        let body = serde_json::to_vec(&Value::Object(obj)).expect("serialize");
        decode_everything(status, &body, hdr);
    }

    #[test]
    fn decode_never_panics_on_byte_mutated_valid_bodies(
        status in http_status(),
        which in 0..VALID.len(),
        edits in prop::collection::vec(edit(), 1..6),
        hdr in header_request_id(),
    ) {
        let body = apply(VALID[which], &edits);
        decode_everything(status, &body, hdr);
    }

    #[test]
    fn decode_never_panics_on_node_mutated_valid_bodies(
        status in http_status(),
        which in 0..VALID.len(),
        node in any::<usize>(),
        with in json_value(),
        hdr in header_request_id(),
    ) {
        let mut v: Value = serde_json::from_str(VALID[which]).expect("valid");
        replace_node(&mut v, node, with);
        let body = serde_json::to_vec(&v).expect("serialize");
        decode_everything(status, &body, hdr);
    }

    #[test]
    fn any_int_code_other_than_200_is_a_business_error_carrying_it(
        code in any::<i64>(),
        which in 0..VALID.len(),
    ) {
        let mut v: Value = serde_json::from_str(VALID[which]).expect("valid");
        v["Code"] = Value::from(code);
        let body = serde_json::to_vec(&v).expect("serialize");
        let r = check_decode::<wire::Envelope>(200, &body, None);
        match r {
            Ok(_) => prop_assert_eq!(code, 200),
            Err(EdasError::Business { code: c, .. }) => prop_assert_eq!(c, code),
            Err(other) => return Err(TestCaseError::fail(format!("Code {code} gave {other:?}"))),
        }
    }

    #[test]
    fn a_non_numeric_string_code_is_a_gateway_error_carrying_it(
        code in "[A-Za-z][A-Za-z0-9.]{0,30}",
        status in http_status(),
    ) {
        let body = serde_json::to_vec(&serde_json::json!({
            "Code": code, "Message": "m", "RequestId": "R-2"
        })).expect("serialize");
        let e = check_decode::<wire::Envelope>(status, &body, None).expect_err("string code");
        let EdasError::Gateway { code: c, .. } = &e else {
            return Err(TestCaseError::fail(format!("{e:?}")));
        };
        prop_assert_eq!(c, &code);
        prop_assert_eq!(e.request_id(), Some("R-2"));
        prop_assert_eq!(e.is_throttling(), code.starts_with("Throttling"));
    }
}

// ------------------------------------------------------------------------------ signer

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    // Unicode, empty values, and the characters that matter: & = + % / , : space ? #.
    let text = prop_oneof![
        "\\PC{0,12}",
        "[a-zA-Z0-9 &=+%/,:?#~._-]{0,12}",
        Just(String::new()),
    ];
    prop::collection::vec(("[A-Za-z][A-Za-z0-9]{0,10}", text), 0..6)
}

/// Headers a caller may pre-set: none of the names `sign()` adds itself.
fn preset_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("accept".to_string()),
        Just("x-acs-action".to_string()),
        Just("x-acs-version".to_string()),
        Just("user-agent".to_string()),
        Just("content-type".to_string()),
        Just("Content-MD5".to_string()),
        "[Xx]-[Aa][Cc][Ss]-[a-z]{1,8}".prop_filter("sign() adds these", |n| {
            !matches!(
                n.to_ascii_lowercase().as_str(),
                "x-acs-date"
                    | "x-acs-signature-nonce"
                    | "x-acs-signature-method"
                    | "x-acs-signature-version"
                    | "x-acs-content-sha256"
                    | "x-acs-security-token"
                    | "x-acs-accesskey-id"
            )
        }),
    ];
    // Header values as HTTP carries them: visible ASCII and spaces, possibly empty.
    prop::collection::btree_map(name, "[ -~]{0,16}", 0..6).prop_map(|m| {
        // One entry per lower-cased name, as an HTTP header map would hold them.
        let mut seen = std::collections::BTreeSet::new();
        m.into_iter()
            .filter(|(k, _)| seen.insert(k.to_ascii_lowercase()))
            .collect()
    })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_string()),
        Just("POST".to_string()),
        Just("PUT".to_string()),
        Just("DELETE".to_string()),
    ]
}

fn at() -> impl Strategy<Value = SystemTime> {
    // Within what an HTTP date can express (1970 to 9999).
    (0u64..253_402_300_799).prop_map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

fn auth_of(headers: &[(String, String)]) -> Option<Authorization> {
    headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .and_then(|(_, v)| signer::parse_authorization(v))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn low_level_signer_functions_never_panic(
        method in "\\PC{0,8}",
        path in "\\PC{0,24}",
        query in prop::collection::vec(("\\PC{0,8}", "\\PC{0,8}"), 0..5),
        headers in prop::collection::vec(("\\PC{0,12}", "\\PC{0,12}"), 0..6),
        signed in prop::collection::vec("\\PC{0,10}", 0..6),
        secret in "\\PC{0,20}",
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        for style in [EmptyValueStyle::KeyEquals, EmptyValueStyle::BareKey] {
            let sts = signer::roa_v2_string_to_sign(&method, &path, &query, &headers, style);
            let first_line = format!("{}\n", method.to_ascii_uppercase());
            prop_assert!(sts.starts_with(&first_line), "{:?}", sts);
            let sig = signer::roa_v2_signature(&secret, &sts);
            prop_assert_eq!(sig.len(), 28, "base64 of 20 bytes");
        }
        let canonical = signer::acs3_canonical_request(
            &method, &path, &query, &headers, &signed, &signer::sha256_hex(&body),
        );
        let sts = signer::acs3_string_to_sign(&canonical);
        prop_assert_eq!(sts.len(), "ACS3-HMAC-SHA256\n".len() + 64);
        prop_assert_eq!(signer::acs3_signature(&secret, &sts).len(), 64);
    }

    #[test]
    fn roa_v2_signed_request_verifies_and_detects_a_changed_query(
        method in method(),
        query in query(),
        headers in preset_headers(),
        ak in "[A-Za-z0-9]{1,24}",
        secret in "\\PC{1,30}",
        token in prop::option::of("[ -~]{1,20}"),
        nonce in "[0-9a-f]{32}",
        now in at(),
        changed in "[A-Za-z0-9 ]{1,8}",
    ) {
        let path = "/pop/v5/changeorder/co_scale_in";
        let key = SigningKey { access_key_id: &ak, access_key_secret: &secret, security_token: token.as_deref() };
        let req = UnsignedRequest { method: &method, host: "127.0.0.1:1", path, query: &query, headers: headers.clone(), body: b"" };
        let out = signer::sign(SignatureAlgorithm::RoaV2, &key, &req, now, &nonce);
        let Some(Authorization::RoaV2 { access_key_id, signature }) = auth_of(&out) else {
            return Err(TestCaseError::fail(format!("no v2 authorization in {out:?}")));
        };
        prop_assert_eq!(&access_key_id, &ak);
        // The server's side: recompute from the headers received.
        let sts = signer::roa_v2_string_to_sign(&method, path, &query, &out, EmptyValueStyle::BareKey);
        prop_assert_eq!(&signature, &signer::roa_v2_signature(&secret, &sts));
        let date_line = format!("\n{}\n", signer::http_date(now));
        prop_assert!(sts.contains(&date_line), "Date is signed");
        let nonce_line = format!("x-acs-signature-nonce:{nonce}\n");
        prop_assert!(sts.contains(&nonce_line), "nonce is signed");
        // A wrong secret does not verify.
        prop_assert_ne!(&signature, &signer::roa_v2_signature(&format!("{secret}x"), &sts));
        // A changed value (without the & and = that the raw V2 form cannot tell apart) does
        // not verify either.
        if let Some((k, v)) = query.first()
            && !v.contains(['&', '='])
            && *v != changed
        {
            let mut q2 = query.clone();
            q2[0] = (k.clone(), changed.clone());
            let sts2 = signer::roa_v2_string_to_sign(&method, path, &q2, &out, EmptyValueStyle::BareKey);
            prop_assert_ne!(&signature, &signer::roa_v2_signature(&secret, &sts2));
        }
    }

    #[test]
    fn acs3_signed_request_verifies_and_detects_any_changed_query_value(
        method in method(),
        query in query(),
        headers in preset_headers(),
        ak in "[A-Za-z0-9]{1,24}",
        secret in "\\PC{1,30}",
        token in prop::option::of("[!-~]{1,20}"),
        nonce in "[0-9a-f]{32}",
        now in at(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        changed in "\\PC{0,8}",
    ) {
        let path = "/pop/v5/app/app_list";
        let key = SigningKey { access_key_id: &ak, access_key_secret: &secret, security_token: token.as_deref() };
        let req = UnsignedRequest { method: &method, host: "edas.cn-hangzhou.aliyuncs.com", path, query: &query, headers: headers.clone(), body: &body };
        let out = signer::sign(SignatureAlgorithm::Acs3, &key, &req, now, &nonce);
        let Some(Authorization::Acs3 { access_key_id, signed_headers, signature }) = auth_of(&out) else {
            return Err(TestCaseError::fail(format!("no ACS3 authorization in {out:?}")));
        };
        prop_assert_eq!(&access_key_id, &ak);
        // Every header sent (but Authorization) is signed, and every signed header is sent.
        for (k, _) in out.iter().filter(|(k, _)| k != "authorization") {
            prop_assert!(signed_headers.contains(&k.to_ascii_lowercase()), "{} unsigned", k);
        }
        let mut sorted = signed_headers.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(&sorted, &signed_headers, "SignedHeaders sorted and unique");
        let payload = signer::sha256_hex(&body);
        let canonical = signer::acs3_canonical_request(&method, path, &query, &out, &signed_headers, &payload);
        prop_assert_eq!(&signature, &signer::acs3_signature(&secret, &signer::acs3_string_to_sign(&canonical)));
        prop_assert!(out.iter().any(|(k, v)| k == "x-acs-content-sha256" && *v == payload));
        // The RFC 3986 canonical query is unambiguous: any changed value is detected.
        if let Some((k, v)) = query.first()
            && *v != changed
        {
            let mut q2 = query.clone();
            q2[0] = (k.clone(), changed.clone());
            let c2 = signer::acs3_canonical_request(&method, path, &q2, &out, &signed_headers, &payload);
            prop_assert_ne!(&signature, &signer::acs3_signature(&secret, &signer::acs3_string_to_sign(&c2)));
        }
        // And a changed body is detected through the payload hash.
        let mut other = body.clone();
        other.push(0);
        let c3 = signer::acs3_canonical_request(&method, path, &query, &out, &signed_headers, &signer::sha256_hex(&other));
        prop_assert_ne!(&signature, &signer::acs3_signature(&secret, &signer::acs3_string_to_sign(&c3)));
    }

    #[test]
    fn acs3_percent_encoding_is_rfc3986_and_reversible(s in "\\PC{0,24}") {
        let enc = signer::acs3_percent_encode(&s);
        let mut chars = enc.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '%' {
                let hi = chars.next();
                let lo = chars.next();
                prop_assert!(
                    hi.is_some_and(|h| h.is_ascii_hexdigit() && !h.is_ascii_lowercase())
                        && lo.is_some_and(|l| l.is_ascii_hexdigit() && !l.is_ascii_lowercase()),
                    "bad escape in {}", enc
                );
            } else {
                prop_assert!(c.is_ascii_alphanumeric() || "-_.~".contains(c), "{} left raw in {}", c, enc);
            }
        }
        let back = percent_encoding::percent_decode_str(&enc).decode_utf8().expect("utf-8");
        prop_assert_eq!(back.as_ref(), s.as_str());
    }

    #[test]
    fn dates_render_in_both_formats_and_read_back(now in at()) {
        let d = signer::http_date(now);
        let secs = now.duration_since(SystemTime::UNIX_EPOCH).expect("after epoch").as_secs();
        let back = httpdate::parse_http_date(&d).expect("RFC 1123");
        prop_assert_eq!(back.duration_since(SystemTime::UNIX_EPOCH).expect("after epoch").as_secs(), secs);
        let a = signer::acs_date(now);
        prop_assert_eq!(a.len(), 20, "{}", a);
        prop_assert!(a.ends_with('Z') && a.as_bytes()[10] == b'T', "{}", a);
    }

    #[test]
    fn parse_authorization_never_panics(s in "\\PC{0,80}") {
        let _ = signer::parse_authorization(&s);
        let _ = signer::parse_authorization(&format!("acs {s}"));
        let _ = signer::parse_authorization(&format!("ACS3-HMAC-SHA256 {s}"));
    }

    #[test]
    fn parse_authorization_round_trips_both_forms(
        ak in "[A-Za-z0-9]{1,24}",
        b64 in "[A-Za-z0-9+/]{27}=",
        signed in prop::collection::vec("[a-z0-9-]{1,20}", 1..10),
        hex in "[0-9a-f]{64}",
    ) {
        prop_assert_eq!(
            signer::parse_authorization(&format!("acs {ak}:{b64}")),
            Some(Authorization::RoaV2 { access_key_id: ak.clone(), signature: b64.clone() })
        );
        let v3 = format!(
            "ACS3-HMAC-SHA256 Credential={ak},SignedHeaders={},Signature={hex}",
            signed.join(";")
        );
        prop_assert_eq!(
            signer::parse_authorization(&v3),
            Some(Authorization::Acs3 { access_key_id: ak, signed_headers: signed, signature: hex })
        );
    }

    #[test]
    fn backoff_stays_within_cap_and_never_undercuts_the_hint(
        attempt in any::<u32>(),
        base_ms in 0u64..60_000,
        cap_ms in 0u64..3_600_000,
        hint_ms in prop::option::of(0u64..600_000),
    ) {
        let (base, cap) = (Duration::from_millis(base_ms), Duration::from_millis(cap_ms));
        let hint = hint_ms.map(Duration::from_millis);
        let d = backoff(attempt, base, cap, hint);
        let exp = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
        prop_assert!(
            d <= exp.max(hint.unwrap_or_default()) + Duration::from_nanos(1),
            "{:?} above cap", d
        );
        // Full jitter in [0.5, 1.0] of the exponential step (a nanosecond of rounding).
        prop_assert!(d + Duration::from_nanos(1) >= exp / 2, "{:?} below half of {:?}", d, exp);
        if let Some(h) = hint {
            prop_assert!(d >= h);
        }
    }

    #[test]
    fn backoff_never_panics_on_extreme_durations(
        attempt in any::<u32>(),
        base in (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        cap in (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        hint in prop::option::of(any::<u64>().prop_map(Duration::from_millis)),
    ) {
        let d = backoff(attempt, base, cap, hint);
        if let Some(h) = hint {
            prop_assert!(d >= h);
        }
    }
}
