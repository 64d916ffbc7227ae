//! `EdasClient` against a scripted loopback HTTP server that answers with the exact bodies of
//! `../shared/edas/raw-requests.txt` and the fact sheet (`api.md` §3-§8), and with every kind of
//! failure the client must classify: gateway errors, business errors in HTTP 200, throttling
//! with a retry hint, 503, an HTML page, a body cut short, bad JSON, a missing field, an
//! unexpected enum value, a connection dropped without an answer, a refused connection.
//!
//! The server is a hand-written HTTP/1.1 responder on a tokio `TcpListener`, not axum: the
//! failure cases (a `Content-Length` larger than the bytes sent, closing without any answer)
//! cannot be produced through a well-behaved HTTP stack. Every connection carries one request
//! (`Connection: close`), and the server records what it received so the tests can check the
//! request itself (method, path, query, headers, signature) and count how often it was sent.

use edas_operator::edas::client::http_client;
use edas_operator::edas::error::TransportKind;
use edas_operator::edas::signer::{self, Authorization, EmptyValueStyle, SignatureAlgorithm};
use edas_operator::edas::{
    AppState, ClientConfig, CoStatus, Credentials, EdasApi, EdasClient, EdasError, Operation,
    TaskState, wire,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

const AK: &str = "testid";
const SECRET: &str = "testsecret";
const APP_ID: &str = "3616cdca-4f92-4413-8c7d-1f1cbd8a9e2b";
const ECC_1: &str = "7040f221-42df-48e8-9a8c-1d2e3f4a5b6c";
const ECC_2: &str = "8151a332-53ef-49f9-ab9d-2e3f4a5b6c7d";
const CO_ID: &str = "1074f3e2-e974-4a0e-8b1c-7c8d9e0f1a2b";
const NEW_CO_ID: &str = "ddf5a4c7-a507-4a6e-9d6e-0123456789ab";

// ------------------------------------------------------------------------------ bodies
// EDAS answers: tests/fixtures/*.json, named in tests/fixtures/mod.rs.
mod fixtures;
use fixtures::*;

const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n";

// ------------------------------------------------------------------------------ server

/// What the scripted server does with the next request.
#[derive(Clone, Debug)]
enum Reply {
    /// A complete response.
    Http {
        status: u16,
        content_type: &'static str,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Declares `Content-Length: declared`, sends only `body`, then closes.
    CutShort { declared: usize, body: String },
    /// Reads the request, then closes without a byte of answer.
    Drop,
    /// Reads the request, then says nothing for this long (the client should time out).
    Stall(Duration),
}

fn json(status: u16, body: &str) -> Reply {
    Reply::Http {
        status,
        content_type: "application/json;charset=utf-8",
        headers: vec![],
        body: body.to_string(),
    }
}

fn json_with(status: u16, body: &str, headers: Vec<(&'static str, String)>) -> Reply {
    Reply::Http {
        status,
        content_type: "application/json;charset=utf-8",
        headers,
        body: body.to_string(),
    }
}

/// One request as the server received it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }

    /// The query as the server decodes it (`+` and `%XX`), in the order sent.
    fn query(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Start a server that answers the requests, in order, with `script`; once the script is
    /// used up it answers 500 `ScriptExhausted`, which no test expects.
    async fn start(script: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, script) = (seen2.clone(), script.clone());
                tokio::spawn(async move {
                    let _ = serve_one(stream, seen, script).await;
                });
            }
        });
        Server { addr, seen }
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    fn only_request(&self) -> Seen {
        let seen = self.requests();
        assert_eq!(seen.len(), 1, "expected exactly one request, got {seen:#?}");
        seen.into_iter().next().expect("one request")
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn serve_one(
    mut stream: TcpStream,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
) -> std::io::Result<()> {
    // Read the head.
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(()); // closed before a full request: not a request
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 1 << 20 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let content_length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < content_length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    seen.lock().expect("lock").push(Seen {
        method,
        path,
        raw_query,
        headers,
        body,
    });
    let reply = script.lock().expect("lock").pop_front().unwrap_or_else(|| {
        json(
            500,
            r#"{"Code":"ScriptExhausted","Message":"the test script has no more replies"}"#,
        )
    });
    match reply {
        Reply::Http {
            status,
            content_type,
            headers,
            body,
        } => {
            let mut out = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
                reason(status),
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&body);
            stream.write_all(out.as_bytes()).await?;
            stream.shutdown().await?;
        }
        Reply::CutShort { declared, body } => {
            let out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=utf-8\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n{body}"
            );
            stream.write_all(out.as_bytes()).await?;
            stream.flush().await?;
            stream.shutdown().await?;
        }
        Reply::Drop => {
            drop(stream);
        }
        Reply::Stall(d) => {
            tokio::time::sleep(d).await;
            drop(stream);
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------ client

fn config_for(addr: SocketAddr, algorithm: SignatureAlgorithm, read_attempts: u32) -> ClientConfig {
    ClientConfig {
        endpoint: Some(Url::parse(&format!("http://{addr}")).expect("loopback URL")),
        algorithm,
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
        read_attempts,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
    }
}

fn client_with(config: ClientConfig, creds: Credentials) -> EdasClient {
    edas_operator::install_crypto_provider();
    let http = http_client(&config).expect("http client");
    EdasClient::new(http, creds, "cn-hangzhou", config).expect("client")
}

fn client_at(addr: SocketAddr, algorithm: SignatureAlgorithm, read_attempts: u32) -> EdasClient {
    client_with(
        config_for(addr, algorithm, read_attempts),
        Credentials::new(AK, SECRET, None),
    )
}

fn client(server: &Server, read_attempts: u32) -> EdasClient {
    client_at(server.addr, SignatureAlgorithm::RoaV2, read_attempts)
}

fn eccs() -> Vec<String> {
    vec![ECC_1.to_string(), ECC_2.to_string()]
}

// ------------------------------------------------------------------------------ request checks

/// Recompute the signature from what the server received, as a verifying server would
/// (fact sheet §2.3), and compare it with the Authorization header.
fn assert_signature_verifies(seen: &Seen) {
    let auth = seen
        .header("authorization")
        .unwrap_or_else(|| panic!("no Authorization header: {seen:#?}"));
    let query = seen.query();
    match signer::parse_authorization(auth) {
        Some(Authorization::RoaV2 {
            access_key_id,
            signature,
        }) => {
            assert_eq!(access_key_id, AK);
            // Our client never sends empty values, so both styles give the same string.
            let sts = signer::roa_v2_string_to_sign(
                &seen.method,
                &seen.path,
                &query,
                &seen.headers,
                EmptyValueStyle::BareKey,
            );
            assert_eq!(
                signature,
                signer::roa_v2_signature(SECRET, &sts),
                "v2 signature does not verify; server string to sign:\n{sts}"
            );
            assert_eq!(seen.header("x-acs-signature-method"), Some("HMAC-SHA1"));
            assert_eq!(seen.header("x-acs-signature-version"), Some("1.0"));
            let date = seen.header("date").expect("v2 sends Date");
            let sent_at = httpdate::parse_http_date(date).expect("Date is RFC 1123");
            let skew = SystemTime::now()
                .duration_since(sent_at)
                .unwrap_or_else(|e| e.duration());
            assert!(
                skew < Duration::from_secs(60),
                "Date {date} is {skew:?} off"
            );
        }
        Some(Authorization::Acs3 {
            access_key_id,
            signed_headers,
            signature,
        }) => {
            assert_eq!(access_key_id, AK);
            for must in [
                "host",
                "x-acs-action",
                "x-acs-version",
                "x-acs-date",
                "x-acs-signature-nonce",
                "x-acs-content-sha256",
            ] {
                assert!(
                    signed_headers.iter().any(|h| h == must),
                    "{must} is not signed: {signed_headers:?}"
                );
            }
            for h in &signed_headers {
                assert!(
                    seen.header(h).is_some(),
                    "signed header {h} was not received: {seen:#?}"
                );
            }
            let payload = signer::sha256_hex(&seen.body);
            assert_eq!(seen.header("x-acs-content-sha256"), Some(payload.as_str()));
            let canonical = signer::acs3_canonical_request(
                &seen.method,
                &seen.path,
                &query,
                &seen.headers,
                &signed_headers,
                &payload,
            );
            assert_eq!(
                signature,
                signer::acs3_signature(SECRET, &signer::acs3_string_to_sign(&canonical)),
                "ACS3 signature does not verify; canonical request:\n{canonical}"
            );
        }
        None => panic!("unparseable Authorization {auth:?}"),
    }
}

/// The transport conventions of fact sheet §1 for an operation.
fn assert_request_shape(seen: &Seen, op: Operation, query: &[(&str, &str)]) {
    assert_eq!(seen.method, op.method(), "{op}");
    assert_eq!(seen.path, op.path(), "{op}");
    let expected: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        seen.query(),
        expected,
        "{op}: raw query {:?}",
        seen.raw_query
    );
    assert_eq!(seen.header("x-acs-action"), Some(op.name()));
    assert_eq!(seen.header("x-acs-version"), Some("2017-08-01"));
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert!(seen.body.is_empty(), "{op}: body must be empty");
    assert_eq!(seen.header("content-type"), None, "{op}: no Content-Type");
    if op.method() != "GET" {
        assert_eq!(seen.header_count("content-length"), 1, "{op}: {seen:#?}");
        assert_eq!(seen.header("content-length"), Some("0"), "{op}");
    }
    let nonce = seen
        .header("x-acs-signature-nonce")
        .expect("a nonce on every request");
    assert!(!nonce.is_empty());
    assert_signature_verifies(seen);
}

// ------------------------------------------------------------------------------ successes

#[tokio::test]
async fn scale_in_sends_query_only_request_with_comma_joined_eccs_and_lowercase_force() {
    let server = Server::start(vec![json(200, SCALE_IN_OK)]).await;
    let id = client(&server, 3)
        .scale_in_application(APP_ID, &eccs(), true)
        .await
        .expect("scale in");
    assert_eq!(id.as_deref(), Some(NEW_CO_ID));
    let seen = server.only_request();
    let ecc_info = format!("{ECC_1},{ECC_2}");
    assert_request_shape(
        &seen,
        Operation::ScaleInApplication,
        &[
            ("AppId", APP_ID),
            ("EccInfo", &ecc_info),
            ("ForceStatus", "true"),
        ],
    );
    // On the wire the comma is URL-encoded (fact sheet §1), exactly as the SDKs send it.
    assert_eq!(
        seen.raw_query,
        format!("AppId={APP_ID}&EccInfo={ECC_1}%2C{ECC_2}&ForceStatus=true")
    );
}

#[tokio::test]
async fn scale_in_without_force_sends_lowercase_false() {
    let server = Server::start(vec![json(200, SCALE_IN_OK_NO_REQUEST_ID)]).await;
    let id = client(&server, 3)
        .scale_in_application(APP_ID, &[ECC_1.to_string()], false)
        .await
        .expect("scale in");
    assert_eq!(id.as_deref(), Some(NEW_CO_ID));
    let seen = server.only_request();
    assert_request_shape(
        &seen,
        Operation::ScaleInApplication,
        &[
            ("AppId", APP_ID),
            ("EccInfo", ECC_1),
            ("ForceStatus", "false"),
        ],
    );
}

#[tokio::test]
async fn acs3_signed_scale_in_verifies_on_the_server_side() {
    let server = Server::start(vec![json(200, SCALE_IN_OK)]).await;
    let c = client_at(server.addr, SignatureAlgorithm::Acs3, 3);
    let id = c
        .scale_in_application(APP_ID, &eccs(), true)
        .await
        .expect("scale in");
    assert_eq!(id.as_deref(), Some(NEW_CO_ID));
    let seen = server.only_request();
    assert!(
        seen.header("authorization")
            .is_some_and(|a| a.starts_with("ACS3-HMAC-SHA256 Credential=testid,")),
        "{seen:#?}"
    );
    assert_eq!(seen.header("host"), Some(server.addr.to_string().as_str()));
    let ecc_info = format!("{ECC_1},{ECC_2}");
    assert_request_shape(
        &seen,
        Operation::ScaleInApplication,
        &[
            ("AppId", APP_ID),
            ("EccInfo", &ecc_info),
            ("ForceStatus", "true"),
        ],
    );
}

#[tokio::test]
async fn acs3_signed_read_verifies_on_the_server_side() {
    let server = Server::start(vec![json(200, QUERY_STATUS_OK)]).await;
    let c = client_at(server.addr, SignatureAlgorithm::Acs3, 3);
    c.query_application_status(APP_ID).await.expect("status");
    assert_request_shape(
        &server.only_request(),
        Operation::QueryApplicationStatus,
        &[("AppId", APP_ID)],
    );
}

#[tokio::test]
async fn request_id_comes_from_the_body_or_else_the_response_header() {
    let server = Server::start(vec![
        json(200, SCALE_IN_OK),
        json_with(
            200,
            SCALE_IN_OK_NO_REQUEST_ID,
            vec![("x-acs-request-id", "HDR-REQ-1".into())],
        ),
    ])
    .await;
    let c = client(&server, 1);
    let params = [
        ("AppId", APP_ID.to_string()),
        ("EccInfo", ECC_1.to_string()),
        ("ForceStatus", "false".to_string()),
    ];
    let (r, rid): (wire::ChangeOrderCreatedResponse, _) = c
        .call(Operation::ScaleInApplication, &params)
        .await
        .expect("first");
    assert_eq!(r.change_order_id.as_deref(), Some(NEW_CO_ID));
    assert_eq!(rid.as_deref(), Some("LOCAL-REQ-1"));
    let (_, rid): (wire::ChangeOrderCreatedResponse, _) = c
        .call(Operation::ScaleInApplication, &params)
        .await
        .expect("second");
    assert_eq!(rid.as_deref(), Some("HDR-REQ-1"));
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn query_application_status_decodes_eccs_and_resolves_hosts() {
    let server = Server::start(vec![json(200, QUERY_STATUS_OK)]).await;
    let status = client(&server, 3)
        .query_application_status(APP_ID)
        .await
        .expect("status");
    assert_eq!(status.app_id, APP_ID);
    assert_eq!(status.name, "demo");
    assert_eq!(status.eccs.len(), 2);
    let e1 = &status.eccs[0];
    assert_eq!(e1.ecc_id, ECC_1);
    assert_eq!(e1.ecu_id, "ecu-0001");
    assert_eq!(e1.group_id, "grp-0001");
    assert_eq!(e1.instance_id, "i-bp1aaaaaaaaaaaaaaaa1");
    assert_eq!(e1.ip, "192.168.0.11");
    assert_eq!(e1.app_state, AppState::Running);
    assert_eq!(e1.task_state, TaskState::Success);
    assert!(e1.is_healthy());
    let e2 = &status.eccs[1];
    assert_eq!(e2.ecc_id, ECC_2);
    assert_eq!(e2.instance_id, "i-bp1aaaaaaaaaaaaaaaa2");
    assert_eq!(
        e2.ip, "192.168.0.12",
        "empty Ip is filled from the ECU list"
    );
    assert_eq!(status.ecus.len(), 2);
    assert_request_shape(
        &server.only_request(),
        Operation::QueryApplicationStatus,
        &[("AppId", APP_ID)],
    );
}

#[tokio::test]
async fn get_change_order_info_reads_the_lower_case_key() {
    let server = Server::start(vec![json(200, CHANGE_ORDER_OK)]).await;
    let co = client(&server, 3)
        .get_change_order_info(CO_ID)
        .await
        .expect("change order");
    assert_eq!(co.id, CO_ID);
    assert_eq!(co.status, CoStatus::Running);
    assert_eq!(co.co_type, "Application Scale In");
    assert_eq!(co.batch_type, "Automatic");
    assert_eq!(co.batch_count, 1);
    assert_eq!(co.pipelines.len(), 1);
    assert_eq!(co.pipelines[0].id, "0ac6b5f8-8b2f-4c1e-9d3a-8d9e0f1a2b3c");
    assert_eq!(co.pipelines[0].name, "Batch 1");
    assert_eq!(co.pipelines[0].status, CoStatus::Running);
    assert_eq!(co.first_error(), None);
    assert_request_shape(
        &server.only_request(),
        Operation::GetChangeOrderInfo,
        &[("ChangeOrderId", CO_ID)],
    );
}

#[tokio::test]
async fn list_recent_change_orders_decodes_every_order() {
    let server = Server::start(vec![json(200, RECENT_ORDERS_OK)]).await;
    let orders = client(&server, 3)
        .list_recent_change_orders(APP_ID)
        .await
        .expect("orders");
    assert_eq!(orders.len(), 2);
    assert_eq!(orders[0].id, CO_ID);
    assert_eq!(orders[0].app_id, APP_ID);
    assert_eq!(orders[0].status, CoStatus::Running);
    assert!(orders[0].status.is_unfinished());
    assert_eq!(orders[0].co_type_code, "CoScaleIn");
    assert_eq!(orders[0].source, "pop");
    assert_eq!(
        orders[0].create_time.as_deref(),
        Some("2019-11-13 14:23:46")
    );
    assert_eq!(orders[0].description.as_deref(), Some("scale in 2"));
    assert_eq!(orders[1].status, CoStatus::Succeeded);
    assert_eq!(
        orders[1].finish_time.as_deref(),
        Some("2019-11-12 10:05:00")
    );
    assert_request_shape(
        &server.only_request(),
        Operation::ListRecentChangeOrder,
        &[("AppId", APP_ID)],
    );
}

#[tokio::test]
async fn list_applications_decodes_the_wrapper_list_and_sends_no_query() {
    let server = Server::start(vec![json(200, LIST_APPS_OK)]).await;
    let apps = client(&server, 3).list_applications().await.expect("apps");
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].app_id, APP_ID);
    assert_eq!(apps[0].name, "demo");
    assert_eq!(apps[0].region_id, "cn-hangzhou");
    assert_eq!(apps[0].instances, 2);
    assert_eq!(apps[1].name, "other");
    assert_eq!(apps[1].region_id, "cn-hangzhou:prod");
    assert_eq!(apps[1].instances, 0);
    let seen = server.only_request();
    assert_eq!(seen.raw_query, "");
    assert_request_shape(&seen, Operation::ListApplication, &[]);
}

#[tokio::test]
async fn get_application_decodes_the_string_cluster_type_shape() {
    let server = Server::start(vec![json(200, GET_APP_OK)]).await;
    let app = client(&server, 3)
        .get_application(APP_ID)
        .await
        .expect("app");
    assert_eq!(app.app_id, APP_ID);
    assert_eq!(app.name, "demo");
    assert_eq!(app.region_id, "cn-hangzhou");
    assert_eq!(app.instances, 2);
    assert_request_shape(
        &server.only_request(),
        Operation::GetApplication,
        &[("AppId", APP_ID)],
    );
}

// ------------------------------------------------------------------------------ error classes

#[tokio::test]
async fn gateway_signature_error_is_permanent_auth_and_not_retried() {
    let server = Server::start(vec![json(400, SIGNATURE_MISMATCH)]).await;
    let e = client(&server, 4)
        .query_application_status(APP_ID)
        .await
        .expect_err("400");
    let EdasError::Gateway {
        http_status, code, ..
    } = &e
    else {
        panic!("expected a gateway error, got {e:?}");
    };
    assert_eq!(
        (*http_status, code.as_str()),
        (400, "SignatureDoesNotMatch")
    );
    assert_eq!(e.request_id(), Some("LOCAL-ERR-1"));
    assert!(!e.is_retryable());
    assert!(e.is_auth());
    assert_eq!(e.class(), "auth");
    assert_eq!(server.count(), 1, "a permanent error is not retried");
}

#[tokio::test]
async fn business_code_601_in_http_200_is_a_permanent_error() {
    let server = Server::start(vec![json(200, BUSINESS_601)]).await;
    let e = client(&server, 4)
        .get_change_order_info(CO_ID)
        .await
        .expect_err("601");
    let EdasError::Business {
        http_status,
        code,
        message,
        ..
    } = &e
    else {
        panic!("expected a business error, got {e:?}");
    };
    assert_eq!((*http_status, *code), (200, 601));
    assert_eq!(message, "synthetic business error");
    assert_eq!(e.request_id(), Some("LOCAL-ERR-2"));
    assert!(!e.is_retryable());
    assert_eq!(e.class(), "business_error");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn business_error_on_scale_in_is_reported_as_is_not_as_unknown_outcome() {
    let server = Server::start(vec![json(200, BUSINESS_601)]).await;
    let e = client(&server, 4)
        .scale_in_application(APP_ID, &eccs(), false)
        .await
        .expect_err("601");
    assert!(matches!(e, EdasError::Business { code: 601, .. }), "{e:?}");
    assert_eq!(e.request_id(), Some("LOCAL-ERR-2"));
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn throttled_read_waits_at_least_the_retry_hint_then_succeeds() {
    let server = Server::start(vec![
        json_with(400, THROTTLED, vec![("x-acs-retry-after", "60".into())]),
        json(200, CHANGE_ORDER_OK),
    ])
    .await;
    let started = Instant::now();
    let co = client(&server, 2)
        .get_change_order_info(CO_ID)
        .await
        .expect("second attempt succeeds");
    assert_eq!(co.id, CO_ID);
    assert_eq!(server.count(), 2);
    // x-acs-retry-after is in milliseconds; the backoff here is at most 5 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "waited only {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn throttling_that_persists_is_a_retryable_throttled_error_with_its_hint() {
    let throttled = json_with(400, THROTTLED, vec![("x-acs-retry-after", "5".into())]);
    let server = Server::start(vec![throttled.clone(), throttled]).await;
    let e = client(&server, 2)
        .query_application_status(APP_ID)
        .await
        .expect_err("throttled");
    assert!(
        matches!(
            e,
            EdasError::Gateway {
                http_status: 400,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_throttling());
    assert!(e.is_retryable());
    assert_eq!(e.class(), "throttled");
    assert_eq!(e.retry_after(), Some(Duration::from_millis(5)));
    assert_eq!(e.request_id(), Some("LOCAL-ERR-3"));
    assert_eq!(server.count(), 2, "read_attempts bounds the retries");
}

#[tokio::test]
async fn throttled_scale_in_is_not_resent_and_is_known_not_applied() {
    let server = Server::start(vec![
        json_with(400, THROTTLED, vec![("x-acs-retry-after", "5".into())]),
        json(200, SCALE_IN_OK),
    ])
    .await;
    let e = client(&server, 4)
        .scale_in_application(APP_ID, &eccs(), false)
        .await
        .expect_err("throttled");
    assert!(e.is_throttling(), "{e:?}");
    assert!(
        !e.is_outcome_unknown(),
        "the gateway refused it: not applied"
    );
    assert_eq!(server.count(), 1, "a mutation is never re-sent");
}

#[tokio::test]
async fn read_that_gets_503_twice_then_200_succeeds_after_three_requests() {
    let server = Server::start(vec![
        json(503, UNAVAILABLE),
        json(503, UNAVAILABLE),
        json(200, QUERY_STATUS_OK),
    ])
    .await;
    let status = client(&server, 3)
        .query_application_status(APP_ID)
        .await
        .expect("third attempt succeeds");
    assert_eq!(status.eccs.len(), 2);
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    // Each attempt is freshly signed (new nonce) and verifies.
    let nonces: std::collections::BTreeSet<_> = seen
        .iter()
        .map(|s| {
            s.header("x-acs-signature-nonce")
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(nonces.len(), 3, "a fresh nonce per attempt");
    for s in &seen {
        assert_request_shape(s, Operation::QueryApplicationStatus, &[("AppId", APP_ID)]);
    }
}

#[tokio::test]
async fn read_that_always_gets_503_gives_up_after_read_attempts() {
    let server = Server::start(vec![
        json(503, UNAVAILABLE),
        json(503, UNAVAILABLE),
        json(503, UNAVAILABLE),
        json(200, QUERY_STATUS_OK),
    ])
    .await;
    let e = client(&server, 3)
        .query_application_status(APP_ID)
        .await
        .expect_err("503");
    assert!(
        matches!(&e, EdasError::Gateway { http_status: 503, code, .. } if code == "ServiceUnavailable"),
        "{e:?}"
    );
    assert!(e.is_retryable());
    assert_eq!(e.class(), "server_error");
    assert_eq!(e.request_id(), Some("LOCAL-ERR-4"));
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn scale_in_that_gets_503_is_outcome_unknown_and_sent_once() {
    let server = Server::start(vec![json(503, UNAVAILABLE), json(200, SCALE_IN_OK)]).await;
    let e = client(&server, 4)
        .scale_in_application(APP_ID, &eccs(), false)
        .await
        .expect_err("503");
    let EdasError::OutcomeUnknown { operation, source } = &e else {
        panic!("expected OutcomeUnknown, got {e:?}");
    };
    assert_eq!(*operation, "ScaleInApplication");
    assert!(
        matches!(
            source.as_ref(),
            EdasError::Gateway {
                http_status: 503,
                ..
            }
        ),
        "{source:?}"
    );
    assert_eq!(
        e.request_id(),
        Some("LOCAL-ERR-4"),
        "request id kept through the wrapper"
    );
    assert_eq!(e.class(), "outcome_unknown");
    assert_eq!(server.count(), 1, "ScaleIn must never be re-sent");
}

#[tokio::test]
async fn html_error_page_is_a_retryable_decode_error_with_the_header_request_id() {
    let html = Reply::Http {
        status: 502,
        content_type: "text/html",
        headers: vec![("x-acs-request-id", "HDR-502".into())],
        body: HTML_502.into(),
    };
    let server = Server::start(vec![html.clone(), html]).await;
    let e = client(&server, 2)
        .query_application_status(APP_ID)
        .await
        .expect_err("html");
    assert!(
        matches!(
            e,
            EdasError::Decode {
                http_status: 502,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_retryable());
    assert_eq!(e.class(), "malformed");
    assert_eq!(e.request_id(), Some("HDR-502"));
    assert!(e.to_string().contains("502 Bad Gateway"), "{e}");
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn body_cut_short_is_a_transport_error_and_the_read_is_retried() {
    let cut = Reply::CutShort {
        declared: QUERY_STATUS_OK.len() + 100,
        body: QUERY_STATUS_OK[..80].to_string(),
    };
    let server = Server::start(vec![cut.clone(), json(200, QUERY_STATUS_OK)]).await;
    let status = client(&server, 2)
        .query_application_status(APP_ID)
        .await
        .expect("second attempt succeeds");
    assert_eq!(status.eccs.len(), 2);
    assert_eq!(server.count(), 2);

    let server = Server::start(vec![cut]).await;
    let e = client(&server, 1)
        .query_application_status(APP_ID)
        .await
        .expect_err("cut short");
    assert!(
        matches!(
            e,
            EdasError::Transport {
                kind: TransportKind::Reset,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_retryable());
    assert_eq!(e.class(), "transport");
}

#[tokio::test]
async fn scale_in_whose_answer_is_cut_short_is_outcome_unknown_and_sent_once() {
    let server = Server::start(vec![
        Reply::CutShort {
            declared: SCALE_IN_OK.len() + 50,
            body: SCALE_IN_OK[..30].to_string(),
        },
        json(200, SCALE_IN_OK),
    ])
    .await;
    let e = client(&server, 4)
        .scale_in_application(APP_ID, &eccs(), false)
        .await
        .expect_err("cut short");
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn malformed_json_in_http_200_is_a_permanent_decode_error() {
    let truncated_json = &QUERY_STATUS_OK[..QUERY_STATUS_OK.len() / 2];
    let server = Server::start(vec![json(200, truncated_json), json(200, QUERY_STATUS_OK)]).await;
    let e = client(&server, 3)
        .query_application_status(APP_ID)
        .await
        .expect_err("bad json");
    assert!(
        matches!(
            e,
            EdasError::Decode {
                http_status: 200,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    assert_eq!(e.class(), "malformed");
    assert!(e.to_string().contains("not JSON"), "{e}");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn missing_required_fields_are_decode_errors_that_keep_the_request_id() {
    let no_status = r#"{"Code": 200, "Message": "success", "RequestId": "LOCAL-MISS-1", "changeOrderInfo": {"ChangeOrderId": "1074f3e2-e974-4a0e-8b1c-7c8d9e0f1a2b", "PipelineInfoList": {"PipelineInfo": []}}}"#;
    let no_ecc_id = r#"{"Code": 200, "Message": "success", "RequestId": "LOCAL-MISS-2", "AppInfo": {"EccList": {"Ecc": [{"EcuId": "ecu-0001", "AppState": 7}]}}}"#;
    let no_app_info = r#"{"Code": 200, "Message": "success", "RequestId": "LOCAL-MISS-3"}"#;
    let no_code = r#"{"Message": "success", "RequestId": "LOCAL-MISS-4", "AppInfo": {}}"#;
    let server = Server::start(vec![
        json(200, no_status),
        json(200, no_ecc_id),
        json(200, no_app_info),
        json(200, no_code),
    ])
    .await;
    let c = client(&server, 3);

    let e = c.get_change_order_info(CO_ID).await.expect_err("no Status");
    assert!(matches!(e, EdasError::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("Status"), "{e}");
    assert_eq!(e.request_id(), Some("LOCAL-MISS-1"));
    assert!(!e.is_retryable());

    let e = c
        .query_application_status(APP_ID)
        .await
        .expect_err("no EccId");
    assert!(matches!(e, EdasError::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("EccId"), "{e}");
    assert_eq!(e.request_id(), Some("LOCAL-MISS-2"));

    let e = c
        .query_application_status(APP_ID)
        .await
        .expect_err("no AppInfo");
    assert!(e.to_string().contains("AppInfo"), "{e}");
    assert_eq!(e.request_id(), Some("LOCAL-MISS-3"));

    let e = c
        .query_application_status(APP_ID)
        .await
        .expect_err("no Code");
    assert!(matches!(e, EdasError::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("Code"), "{e}");
    assert_eq!(e.request_id(), Some("LOCAL-MISS-4"));

    assert_eq!(server.count(), 4, "none of these is retried");
}

#[tokio::test]
async fn scale_in_accepted_without_change_order_id_is_outcome_unknown_unless_forced() {
    let accepted = r#"{"Code": 200, "Message": "success", "RequestId": "LOCAL-REQ-7"}"#;
    let server = Server::start(vec![json(200, accepted), json(200, accepted)]).await;
    let c = client(&server, 3);
    // ForceStatus=true creates no change order (fact sheet §3): success judged by Code alone.
    assert_eq!(
        c.scale_in_application(APP_ID, &eccs(), true)
            .await
            .expect("forced"),
        None
    );
    let e = c
        .scale_in_application(APP_ID, &eccs(), false)
        .await
        .expect_err("no order id");
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert_eq!(e.request_id(), Some("LOCAL-REQ-7"));
    assert_eq!(server.count(), 2, "one request per call");
}

#[tokio::test]
async fn unexpected_enum_values_are_kept_as_unknown() {
    let body = QUERY_STATUS_OK
        .replacen(r#""AppState": 7"#, r#""AppState": 5"#, 1)
        .replacen(r#""TaskState": 2"#, r#""TaskState": 9"#, 1);
    assert_ne!(body, QUERY_STATUS_OK);
    let co_body = CHANGE_ORDER_OK.replace(r#""Status": 1}"#, r#""Status": 42}"#);
    assert_ne!(co_body, CHANGE_ORDER_OK);
    let server = Server::start(vec![json(200, &body), json(200, &co_body)]).await;
    let c = client(&server, 3);
    let status = c.query_application_status(APP_ID).await.expect("status");
    assert_eq!(status.eccs[0].app_state, AppState::Unknown(5));
    assert_eq!(status.eccs[0].app_state.to_string(), "unknown(5)");
    assert_eq!(status.eccs[0].task_state, TaskState::Unknown(9));
    assert!(!status.eccs[0].is_healthy());
    assert_eq!(status.eccs[1].app_state, AppState::Running);
    let co = c.get_change_order_info(CO_ID).await.expect("order");
    assert_eq!(co.status, CoStatus::Unknown(42));
    assert!(!co.status.is_unfinished() && !co.status.is_failure());
}

#[tokio::test]
async fn dropped_connection_on_a_read_is_a_retryable_transport_error() {
    let server = Server::start(vec![Reply::Drop, json(200, CHANGE_ORDER_OK)]).await;
    let co = client(&server, 2)
        .get_change_order_info(CO_ID)
        .await
        .expect("second attempt succeeds");
    assert_eq!(co.id, CO_ID);
    assert_eq!(server.count(), 2);

    let server = Server::start(vec![Reply::Drop]).await;
    let e = client(&server, 1)
        .get_change_order_info(CO_ID)
        .await
        .expect_err("dropped");
    assert!(matches!(e, EdasError::Transport { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert_eq!(e.class(), "transport");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn dropped_connection_on_scale_in_is_outcome_unknown_and_sent_once() {
    let server = Server::start(vec![Reply::Drop, json(200, SCALE_IN_OK)]).await;
    let e = client(&server, 4)
        .scale_in_application(APP_ID, &eccs(), false)
        .await
        .expect_err("dropped");
    let EdasError::OutcomeUnknown { source, .. } = &e else {
        panic!("expected OutcomeUnknown, got {e:?}");
    };
    assert!(
        matches!(source.as_ref(), EdasError::Transport { kind, .. } if *kind != TransportKind::Connect),
        "the request reached the server, so this is not a connect error: {source:?}"
    );
    assert!(
        e.is_retryable(),
        "the caller may act again, after observing"
    );
    assert_eq!(server.count(), 1, "ScaleIn must never be re-sent");
}

#[tokio::test]
async fn refused_connection_on_scale_in_is_known_not_applied() {
    // A port nobody listens on: bind, note it, release it.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let e = client_at(addr, SignatureAlgorithm::RoaV2, 4)
        .scale_in_application(APP_ID, &eccs(), false)
        .await
        .expect_err("refused");
    assert!(
        matches!(
            e,
            EdasError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        !e.is_outcome_unknown(),
        "nothing was sent, so nothing was applied"
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn empty_ecc_list_is_refused_before_anything_is_sent() {
    let server = Server::start(vec![json(200, SCALE_IN_OK)]).await;
    let c = client(&server, 3);
    for bad in [vec![], vec![String::new()], vec!["a,b".to_string()]] {
        let e = c
            .scale_in_application(APP_ID, &bad, false)
            .await
            .expect_err("invalid");
        assert!(matches!(e, EdasError::Invalid { .. }), "{e:?}");
        assert!(!e.is_retryable());
    }
    assert_eq!(server.count(), 0);
}

// ------------------------------------------------------------------------------ more operations

/// The tea-v2 / tea-v3 vectors' ListApplication request, sent by our client: the server-side
/// string-to-sign must end in the vector's canonicalized resource (raw values, fact sheet
/// §2.1) and the ACS3 canonical query must be the vector's (RFC 3986, §2.2).
#[tokio::test]
async fn special_characters_in_values_sign_exactly_as_the_sdk_vectors() {
    const APP_NAME: &str = "my app/测试&x=1+50%";
    const V2_RESOURCE: &str = "\n/pop/v5/app/app_list?AppName=my app/测试&x=1+50%&CurrentPage=1&LogicalRegionId=cn-hangzhou:prod&PageSize=20";
    const V3_QUERY: &str = "\nAppName=my%20app%2F%E6%B5%8B%E8%AF%95%26x%3D1%2B50%25&CurrentPage=1&LogicalRegionId=cn-hangzhou%3Aprod&PageSize=20\n";
    let params = [
        ("AppName", APP_NAME.to_string()),
        ("LogicalRegionId", "cn-hangzhou:prod".to_string()),
        ("CurrentPage", "1".to_string()),
        ("PageSize", "20".to_string()),
        ("ResourceGroupId", String::new()), // empty: never sent (fact sheet §9.1)
    ];
    for algorithm in [SignatureAlgorithm::RoaV2, SignatureAlgorithm::Acs3] {
        let server = Server::start(vec![json(200, LIST_APPS_OK)]).await;
        let c = client_at(server.addr, algorithm, 1);
        let _: (wire::ListApplicationResponse, _) = c
            .call(Operation::ListApplication, &params)
            .await
            .expect("list");
        let seen = server.only_request();
        assert_request_shape(
            &seen,
            Operation::ListApplication,
            &[
                ("AppName", APP_NAME),
                ("LogicalRegionId", "cn-hangzhou:prod"),
                ("CurrentPage", "1"),
                ("PageSize", "20"),
            ],
        );
        let query = seen.query();
        match algorithm {
            SignatureAlgorithm::RoaV2 => {
                let sts = signer::roa_v2_string_to_sign(
                    &seen.method,
                    &seen.path,
                    &query,
                    &seen.headers,
                    EmptyValueStyle::BareKey,
                );
                assert!(sts.ends_with(V2_RESOURCE), "{sts}");
            }
            SignatureAlgorithm::Acs3 => {
                let Some(Authorization::Acs3 { signed_headers, .. }) = seen
                    .header("authorization")
                    .and_then(signer::parse_authorization)
                else {
                    panic!("not ACS3: {seen:#?}");
                };
                let canonical = signer::acs3_canonical_request(
                    &seen.method,
                    &seen.path,
                    &query,
                    &seen.headers,
                    &signed_headers,
                    signer::EMPTY_SHA256_HEX,
                );
                assert!(canonical.contains(V3_QUERY), "{canonical}");
            }
        }
    }
}

#[tokio::test]
async fn sts_credentials_sign_the_security_token_in_both_algorithms() {
    for algorithm in [SignatureAlgorithm::RoaV2, SignatureAlgorithm::Acs3] {
        let server = Server::start(vec![json(200, CHANGE_ORDER_OK)]).await;
        let c = client_with(
            config_for(server.addr, algorithm, 1),
            Credentials::new(AK, SECRET, Some("sts-token/+=".to_string())),
        );
        c.get_change_order_info(CO_ID).await.expect("order");
        let seen = server.only_request();
        assert_eq!(seen.header("x-acs-security-token"), Some("sts-token/+="));
        if algorithm == SignatureAlgorithm::Acs3 {
            assert_eq!(seen.header("x-acs-accesskey-id"), Some(AK));
        }
        assert_request_shape(
            &seen,
            Operation::GetChangeOrderInfo,
            &[("ChangeOrderId", CO_ID)],
        );
    }
}

#[tokio::test]
async fn scale_out_sends_comma_joined_ecus_and_is_never_resent() {
    let server = Server::start(vec![json(200, SCALE_IN_OK)]).await;
    let id = client(&server, 3)
        .scale_out_application(APP_ID, "grp-0001", &["ecu-1".into(), "ecu-2".into()])
        .await
        .expect("scale out");
    assert_eq!(id, NEW_CO_ID);
    assert_request_shape(
        &server.only_request(),
        Operation::ScaleOutApplication,
        &[
            ("AppId", APP_ID),
            ("DeployGroup", "grp-0001"),
            ("EcuInfo", "ecu-1,ecu-2"),
        ],
    );

    let server = Server::start(vec![Reply::Drop, json(200, SCALE_IN_OK)]).await;
    let e = client(&server, 3)
        .scale_out_application(APP_ID, "grp-0001", &["ecu-1".into()])
        .await
        .expect_err("dropped");
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn continue_pipeline_is_a_get_with_lowercase_confirm_and_never_resent() {
    let ok = r#"{"Code": 200, "Message": "success", "RequestId": "LOCAL-REQ-8"}"#;
    let server = Server::start(vec![json(200, ok)]).await;
    client(&server, 3)
        .continue_pipeline("0ac6b5f8-8b2f-4c1e-9d3a-8d9e0f1a2b3c", true)
        .await
        .expect("continue");
    assert_request_shape(
        &server.only_request(),
        Operation::ContinuePipeline,
        &[
            ("PipelineId", "0ac6b5f8-8b2f-4c1e-9d3a-8d9e0f1a2b3c"),
            ("Confirm", "true"),
        ],
    );

    let server = Server::start(vec![json(503, UNAVAILABLE), json(200, ok)]).await;
    let e = client(&server, 3)
        .continue_pipeline("p", false)
        .await
        .expect_err("503");
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert_eq!(server.count(), 1);
    assert_eq!(
        server.only_request().query()[1],
        ("Confirm".into(), "false".into())
    );
}

#[tokio::test]
async fn abort_change_order_is_a_put_with_an_empty_body() {
    let ok = r#"{"Code": 200, "Message": "success", "RequestId": "LOCAL-REQ-9", "TraceId": "t-1", "ErrorCode": "", "Data": {"ChangeOrderId": "1074f3e2-e974-4a0e-8b1c-7c8d9e0f1a2b"}}"#;
    let server = Server::start(vec![json(200, ok)]).await;
    client(&server, 3)
        .abort_change_order(CO_ID)
        .await
        .expect("abort");
    assert_request_shape(
        &server.only_request(),
        Operation::AbortChangeOrder,
        &[("ChangeOrderId", CO_ID)],
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_reads_retryably_and_scale_in_unknowably() {
    let server = Server::start(vec![
        Reply::Stall(Duration::from_secs(5)),
        Reply::Stall(Duration::from_secs(5)),
    ])
    .await;
    let mut config = config_for(server.addr, SignatureAlgorithm::RoaV2, 1);
    config.timeout = Duration::from_millis(300);
    let c = client_with(config, Credentials::new(AK, SECRET, None));

    let e = c.get_change_order_info(CO_ID).await.expect_err("timeout");
    assert!(
        matches!(
            e,
            EdasError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_retryable());
    assert_eq!(e.class(), "timeout");

    let e = c
        .scale_in_application(APP_ID, &eccs(), false)
        .await
        .expect_err("timeout");
    let EdasError::OutcomeUnknown { source, .. } = &e else {
        panic!("expected OutcomeUnknown, got {e:?}");
    };
    assert!(
        matches!(
            source.as_ref(),
            EdasError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{source:?}"
    );
    assert_eq!(server.count(), 2, "one read, one ScaleIn, no re-sends");
}

/// A server hint is honoured, but bounded: an absurd `x-acs-retry-after` must neither park the
/// caller for ages nor reach the controller's requeue (whose delay queue panics on deadlines
/// about two years out). aliyun-cli clamps the same header at 60 s by default.
#[tokio::test]
async fn absurd_retry_after_hints_are_clamped_to_a_minute() {
    for (header, value) in [
        ("x-acs-retry-after", u64::MAX.to_string()),
        ("x-acs-retry-after", "86400000".to_string()),
        ("retry-after", "31536000".to_string()),
    ] {
        let server = Server::start(vec![json_with(
            400,
            THROTTLED,
            vec![(header, value.clone())],
        )])
        .await;
        let e = client(&server, 1)
            .get_change_order_info(CO_ID)
            .await
            .expect_err("throttled");
        assert!(e.is_throttling(), "{e:?}");
        assert_eq!(
            e.retry_after(),
            Some(Duration::from_secs(60)),
            "{header}: {value}"
        );
    }
    // Sane hints pass through unchanged (milliseconds for x-acs-retry-after, seconds for
    // Retry-After).
    for (header, value, expected) in [
        ("x-acs-retry-after", "1500", Duration::from_millis(1500)),
        ("retry-after", "2", Duration::from_secs(2)),
    ] {
        let server = Server::start(vec![json_with(
            400,
            THROTTLED,
            vec![(header, value.into())],
        )])
        .await;
        let e = client(&server, 1)
            .get_change_order_info(CO_ID)
            .await
            .expect_err("throttled");
        assert_eq!(e.retry_after(), Some(expected), "{header}: {value}");
    }
}

// ------------------------------------------------------------------------------ unknown outcomes

/// `INTERNAL_ERROR` with its `Code` replaced.
fn gateway_body(code: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(INTERNAL_ERROR).expect("fixture");
    v["Code"] = code.into();
    v.to_string()
}

/// Send one ScaleIn (or ScaleOut) against a server that answers `reply` first and a success
/// after it; return the error and how many requests reached the server.
async fn mutation_against(reply: Reply, scale_out: bool) -> (EdasError, usize) {
    let server = Server::start(vec![reply, json(200, SCALE_IN_OK)]).await;
    let c = client(&server, 4);
    let result = if scale_out {
        c.scale_out_application(APP_ID, "grp-0001", &["ecu-1".into()])
            .await
            .map(Some)
    } else {
        c.scale_in_application(APP_ID, &eccs(), false).await
    };
    let e = result.expect_err("the first answer is an error");
    (e, server.count())
}

#[tokio::test]
async fn body_code_500_on_scale_in_is_outcome_unknown_and_sent_once() {
    for status in [200, 400, 500] {
        for scale_out in [false, true] {
            let (e, sent) = mutation_against(json(status, BUSINESS_500), scale_out).await;
            let EdasError::OutcomeUnknown { source, .. } = &e else {
                panic!("HTTP {status}: expected OutcomeUnknown, got {e:?}");
            };
            assert!(
                matches!(source.as_ref(), EdasError::Business { code: 500, .. }),
                "{source:?}"
            );
            assert_eq!(e.request_id(), Some("LOCAL-ERR-5"));
            assert_eq!(sent, 1, "HTTP {status}: a mutation is never re-sent");
        }
    }
}

#[tokio::test]
async fn server_fault_gateway_codes_on_scale_in_are_outcome_unknown_whatever_the_http_status() {
    for code in [
        "InternalError",
        "INTERNAL_ERROR",
        "ServiceUnavailable",
        "GatewayTimeout",
    ] {
        for status in [200, 400, 500, 503, 504] {
            for scale_out in [false, true] {
                let (e, sent) =
                    mutation_against(json(status, &gateway_body(code)), scale_out).await;
                assert!(
                    e.is_outcome_unknown(),
                    "{code} with HTTP {status} (scale out {scale_out}): {e:?}"
                );
                assert_eq!(sent, 1, "{code} with HTTP {status}: sent once");
            }
        }
    }
}

#[tokio::test]
async fn replayed_nonce_on_scale_in_is_outcome_unknown_and_sent_once() {
    // The client signs every request with a fresh nonce: SignatureNonceUsed means an earlier
    // copy of this very request reached the gateway (a retrying proxy), and may have applied.
    let (e, sent) = mutation_against(json(400, &gateway_body("SignatureNonceUsed")), false).await;
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert_eq!(sent, 1);
}

#[tokio::test]
async fn refusals_on_scale_in_are_known_not_applied_and_sent_once() {
    for (status, body) in [
        (400, SIGNATURE_MISMATCH.to_string()),
        (404, gateway_body("InvalidAccessKeyId.NotFound")),
        (403, gateway_body("Forbidden.RAM")),
        (400, gateway_body("MissingParameter")),
        (400, THROTTLED.to_string()),
        (200, BUSINESS_601.to_string()),
    ] {
        let (e, sent) = mutation_against(json(status, &body), false).await;
        assert!(!e.is_outcome_unknown(), "HTTP {status} {body}: {e:?}");
        assert_eq!(sent, 1);
    }
}

// ------------------------------------------------------------------------------ secrets

#[tokio::test]
async fn secrets_echoed_by_the_server_never_reach_the_error_text() {
    const STS_SECRET: &str = "sts-SECRET-never-shown-41b7";
    const TOKEN: &str = "CAIS+sts/TOKEN-never-shown-9e2d==";
    let echo = format!(
        "Specified signature is not matched with our calculation. \
         Server String To Sign Is:POST\napplication/json\n\n\n\
         Wed, 15 Jan 2025 08:00:00 GMT\nx-acs-action:ScaleInApplication\n\
         x-acs-security-token:{TOKEN}\nx-acs-version:2017-08-01\n/pop/v5/changeorder/co_scale_in"
    );
    let mut mismatch: serde_json::Value =
        serde_json::from_str(SIGNATURE_MISMATCH).expect("fixture");
    mismatch["Message"] = echo.into();
    let mut business: serde_json::Value = serde_json::from_str(BUSINESS_601).expect("fixture");
    business["Message"] = format!("key secret {STS_SECRET} and token {TOKEN} rejected").into();
    let replies = [
        json(400, &mismatch.to_string()),
        json(200, &business.to_string()),
        // Not JSON: a Decode error quoting the body.
        Reply::Http {
            status: 502,
            content_type: "text/html",
            headers: vec![],
            body: format!("<html>token {TOKEN} secret {STS_SECRET}</html>"),
        },
        // Not JSON in HTTP 200, URL-encoded.
        Reply::Http {
            status: 200,
            content_type: "text/plain",
            headers: vec![],
            body: format!(
                "token={}",
                url::form_urlencoded::byte_serialize(TOKEN.as_bytes()).collect::<String>()
            ),
        },
    ];
    for reply in replies {
        for scale_in in [false, true] {
            let server = Server::start(vec![reply.clone()]).await;
            let c = client_with(
                config_for(server.addr, SignatureAlgorithm::RoaV2, 1),
                Credentials::new(AK, STS_SECRET, Some(TOKEN.to_string())),
            );
            let e = if scale_in {
                c.scale_in_application(APP_ID, &eccs(), false)
                    .await
                    .expect_err("error")
            } else {
                c.get_change_order_info(CO_ID).await.expect_err("error")
            };
            let encoded: String = url::form_urlencoded::byte_serialize(TOKEN.as_bytes()).collect();
            for text in [e.to_string(), format!("{e:?}"), format!("{e:#?}")] {
                for secret in [STS_SECRET, TOKEN, encoded.as_str(), "x-acs-security-token"] {
                    assert!(!text.contains(secret), "{secret} in {text}");
                }
            }
            assert_eq!(server.count(), 1);
        }
    }
}

// ------------------------------------------------------------------------------ redirects

#[tokio::test]
async fn redirects_are_not_followed_and_a_redirected_scale_in_is_outcome_unknown() {
    for status in [301, 302, 303, 307, 308] {
        let elsewhere =
            Server::start(vec![json(200, SCALE_IN_OK), json(200, CHANGE_ORDER_OK)]).await;
        let redirect = Reply::Http {
            status,
            content_type: "text/plain",
            headers: vec![(
                "Location",
                format!("http://{}/pop/v5/changeorder/co_scale_in", elsewhere.addr),
            )],
            body: String::new(),
        };
        let server = Server::start(vec![redirect.clone(), redirect]).await;
        let c = client(&server, 4);

        let e = c
            .scale_in_application(APP_ID, &eccs(), false)
            .await
            .expect_err("redirect");
        let EdasError::OutcomeUnknown { source, .. } = &e else {
            panic!("HTTP {status}: expected OutcomeUnknown, got {e:?}");
        };
        assert!(
            matches!(source.as_ref(), EdasError::Gateway { http_status, .. } if *http_status == status),
            "{source:?}"
        );
        assert!(e.to_string().contains("not followed"), "{e}");

        let e = c.get_change_order_info(CO_ID).await.expect_err("redirect");
        assert!(!e.is_outcome_unknown() && !e.is_retryable(), "{e:?}");

        assert_eq!(
            server.count(),
            2,
            "HTTP {status}: one ScaleIn, one read, no retry"
        );
        assert_eq!(
            elsewhere.count(),
            0,
            "HTTP {status}: the redirect was followed"
        );
    }
}

#[tokio::test]
async fn task_error_text_of_a_change_order_has_no_secret() {
    let mut body: serde_json::Value = serde_json::from_str(CHANGE_ORDER_OK).expect("fixture");
    body["changeOrderInfo"]["PipelineInfoList"]["PipelineInfo"][0]["StageDetailList"] = serde_json::json!({
        "StageDetailDTO": [{"TaskList": {"TaskInfoDTO": [{
            "TaskErrorCode": "E1",
            "TaskErrorMessage": format!("agent used {SECRET} and sts-TOKEN-x; string to sign is:GET")
        }]}}]
    });
    let server = Server::start(vec![json(200, &body.to_string())]).await;
    let c = client_with(
        config_for(server.addr, SignatureAlgorithm::RoaV2, 1),
        Credentials::new(AK, SECRET, Some("sts-TOKEN-x".into())),
    );
    let co = c.get_change_order_info(CO_ID).await.expect("order");
    let error = co.pipelines[0].error.as_deref().expect("task error");
    assert_eq!(
        error,
        "E1: agent used <redacted> and <redacted>; string to sign is:<redacted>"
    );
}
