//! The credentials providers against the simulator's STS and instance metadata service, over
//! loopback: RRSA (AssumeRoleWithOIDC), AssumeRole (RPC-signed), the ECS RAM role; the
//! credentials they get work with EDAS until they expire; refresh re-reads the token file; a
//! failed refresh keeps the old credentials until they expire, then names the problem.

use edas_operator::edas::provider::{CredentialsProvider, Source};
use edas_operator::edas::sts::{RoleRequest, StsClient};
use edas_operator::edas::{ClientConfig, Credentials, EdasApi, EdasClient, EdasError};
use edas_operator::sim::{self, MintTokenRequest, SimHandle, SimState, StateDocument};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const PROVIDER: &str = sim::DEMO_OIDC_PROVIDER_ARN;
const ROLE: &str = sim::DEMO_ROLE_ARN;

async fn start(max_session_seconds: u64) -> SimHandle {
    edas_operator::install_crypto_provider();
    let mut doc = StateDocument::demo();
    doc.sts.max_session_seconds = max_session_seconds;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    sim::start(listener, SimState::new(doc).unwrap())
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn sts(sim: &SimHandle) -> StsClient {
    StsClient::new(http(), url::Url::parse(&sim.base_url()).unwrap())
}

fn token(sim: &SimHandle, ttl_seconds: i64) -> String {
    sim.state()
        .mint_oidc_token(&MintTokenRequest {
            provider: PROVIDER.into(),
            ttl_seconds,
            subject: "system:serviceaccount:edas-system:edas-operator".into(),
        })
        .unwrap()
}

fn role(arn: &str) -> RoleRequest {
    RoleRequest {
        role_arn: arn.into(),
        session_name: "edas-operator".into(),
        external_id: None,
        duration_seconds: 3600,
    }
}

fn oidc(sim: &SimHandle, token_file: &Path, arn: &str) -> CredentialsProvider {
    CredentialsProvider::new(
        Source::Oidc {
            role: role(arn),
            provider_arn: PROVIDER.into(),
            token_file: token_file.to_path_buf(),
        },
        Some(sts(sim)),
        http(),
    )
}

async fn edas_call(sim: &SimHandle, creds: &Credentials) -> Result<(), EdasError> {
    let client = EdasClient::new(
        http(),
        creds.clone(),
        "cn-hangzhou",
        ClientConfig {
            endpoint: Some(url::Url::parse(&sim.base_url()).unwrap()),
            read_attempts: 1,
            ..ClientConfig::default()
        },
    )
    .unwrap();
    client
        .query_application_status(sim::DEMO_APP_ID)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn rrsa_credentials_work_with_edas() {
    let sim = start(3600).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, token(&sim, 600)).unwrap();
    let p = oidc(&sim, &file, ROLE);
    let c = p.credentials().await.unwrap();
    assert!(c.access_key_id().starts_with("STS."), "{c:?}");
    assert!(c.expiration().is_some());
    edas_call(&sim, &c).await.unwrap();
    // Cached while fresh: the same key again, no second STS call.
    assert_eq!(p.credentials().await.unwrap(), c);
    let sts_calls = sim
        .state()
        .calls()
        .iter()
        .filter(|c| c.action == "AssumeRoleWithOIDC")
        .count();
    assert_eq!(sts_calls, 1);
    // The call log never holds the token.
    let log = serde_json::to_string(&sim.state().calls()).unwrap();
    assert!(!log.contains(&std::fs::read_to_string(&file).unwrap()));
}

#[tokio::test]
async fn an_expired_token_and_a_wrong_role_are_named_never_the_token() {
    let sim = start(3600).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let expired = token(&sim, -10);
    std::fs::write(&file, &expired).unwrap();
    let e = oidc(&sim, &file, ROLE)
        .credentials()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("AuthenticationFail.OIDCToken.Expired"), "{e}");
    assert!(e.contains("RRSA"), "{e}");
    assert!(!e.contains(&expired), "{e}");

    let good = token(&sim, 600);
    std::fs::write(&file, &good).unwrap();
    let e = oidc(&sim, &file, "acs:ram::1234567890123456:role/no-such-role")
        .credentials()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("EntityNotExist.Role"), "{e}");
    assert!(!e.contains(&good), "{e}");

    std::fs::write(&file, "not-a-token").unwrap();
    let e = oidc(&sim, &file, ROLE)
        .credentials()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("AuthenticationFail.OIDCToken.Invalid"), "{e}");
    let e = oidc(&sim, &dir.path().join("missing"), ROLE)
        .credentials()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read the OIDC token file"), "{e}");
}

#[tokio::test]
async fn assume_role_is_signed_and_its_credentials_work() {
    let sim = start(3600).await;
    let caller = Credentials::new(sim::DEMO_ACCESS_KEY_ID, sim::DEMO_ACCESS_KEY_SECRET, None);
    let issued = sts(&sim).assume_role(&caller, &role(ROLE)).await.unwrap();
    edas_call(&sim, &issued.credentials).await.unwrap();
    // Role chaining: the issued STS credentials may not assume the role (not a principal).
    let e = sts(&sim)
        .assume_role(&issued.credentials, &role(ROLE))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("NoPermission"), "{e}");
    // A wrong secret: SignatureDoesNotMatch, the secret nowhere in the error.
    let wrong = Credentials::new(sim::DEMO_ACCESS_KEY_ID, "wrong-secret-9q", None);
    let e = sts(&sim)
        .assume_role(&wrong, &role(ROLE))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("SignatureDoesNotMatch"), "{e}");
    assert!(!e.to_string().contains("wrong-secret-9q"), "{e}");
    let e = sts(&sim)
        .assume_role(&caller, &role("acs:ram::1234567890123456:role/other"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("EntityNotExist.Role"), "{e}");
    // Through a provider chained on the caller's.
    let p = CredentialsProvider::new(
        Source::AssumeRole {
            caller: Arc::new(CredentialsProvider::fixed("test", caller, http())),
            role: role(ROLE),
        },
        Some(sts(&sim)),
        http(),
    );
    edas_call(&sim, &p.credentials().await.unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn credentials_are_refreshed_before_they_expire_with_the_rotated_token() {
    // Sessions of 3 s: refreshed after 2 s.
    let sim = start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, token(&sim, 2)).unwrap();
    let p = oidc(&sim, &file, ROLE);
    let first = p.credentials().await.unwrap();
    // The kubelet rotates the token; the old one expires.
    std::fs::write(&file, token(&sim, 600)).unwrap();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let second = p.credentials().await.unwrap();
    assert_ne!(second.access_key_id(), first.access_key_id());
    edas_call(&sim, &second).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // The first key has expired at the EDAS gateway.
    let e = edas_call(&sim, &first).await.unwrap_err();
    assert!(
        e.to_string().contains("InvalidSecurityToken.Expired"),
        "{e}"
    );
    assert!(e.is_auth());
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_credentials_until_they_expire() {
    // Sessions of 12 s (STS writes whole seconds: 11 to 12 s as seen), refreshed after at most
    // 8 s; credentials within 2 s of expiry count as expired.
    let sim = start(12).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, token(&sim, 600)).unwrap();
    let p = oidc(&sim, &file, ROLE);
    let first = p.credentials().await.unwrap();
    std::fs::write(&file, "garbage-token").unwrap();
    tokio::time::sleep(Duration::from_millis(8300)).await;
    // Refresh fails; the old key still serves (and still works).
    let same = p.credentials().await.unwrap();
    assert_eq!(same, first);
    edas_call(&sim, &same).await.unwrap();
    tokio::time::sleep(Duration::from_millis(4000)).await;
    let e = p.credentials().await.unwrap_err().to_string();
    assert!(e.contains("AuthenticationFail.OIDCToken.Invalid"), "{e}");
    assert!(e.contains("expired at"), "{e}");
    // Fixed: credentials again.
    std::fs::write(&file, token(&sim, 600)).unwrap();
    edas_call(&sim, &p.credentials().await.unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_ecs_ram_role_comes_from_the_metadata_service_with_an_imdsv2_token() {
    let sim = start(3600).await;
    let p = CredentialsProvider::new(
        Source::EcsRamRole {
            role_name: None,
            imds: url::Url::parse(&sim.base_url()).unwrap(),
            imds_v1_allowed: false,
        },
        None,
        http(),
    );
    let c = p.credentials().await.unwrap();
    assert!(c.access_key_id().starts_with("STS."));
    edas_call(&sim, &c).await.unwrap();
    let named = CredentialsProvider::new(
        Source::EcsRamRole {
            role_name: Some("not-the-role".into()),
            imds: url::Url::parse(&sim.base_url()).unwrap(),
            imds_v1_allowed: false,
        },
        None,
        http(),
    );
    let e = named.credentials().await.unwrap_err().to_string();
    assert!(e.contains("not-the-role") && e.contains("404"), "{e}");
}

#[tokio::test]
async fn sts_out_of_reach_is_unavailable_and_a_refusal_is_not() {
    let sim = start(3600).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, token(&sim, 600)).unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = CredentialsProvider::new(
        Source::Oidc {
            role: role(ROLE),
            provider_arn: PROVIDER.into(),
            token_file: file.clone(),
        },
        Some(StsClient::new(http(), url::Url::parse(&url).unwrap())),
        http(),
    );
    let e = unreachable.credentials().await.unwrap_err();
    assert!(e.unavailable, "{e}");
    // A wrong role is a refusal: a person must fix it.
    let e = oidc(&sim, &file, "acs:ram::1234567890123456:role/no-such-role")
        .credentials()
        .await
        .unwrap_err();
    assert!(!e.unavailable, "{e}");
    assert!(e.message.contains("EntityNotExist.Role"), "{e}");
}
