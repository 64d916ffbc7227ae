//! Credentials end to end, on a real kube-apiserver with the operator and the simulator as
//! processes: the operator's own identity from RRSA alone (three variables and a token file),
//! the token rotated during the run, short STS sessions that expire and are refreshed with no
//! failed EDAS call; roles named in Secrets and assumed with AssumeRole; and the conditions an
//! expired token and a wrong role give (naming the problem, never the token).

mod support;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::*;

const PROVIDER: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-e2e";
const OPERATOR_ROLE: &str = "acs:ram::1234567890123456:role/edas-operator-e2e";
const TEAM_ROLE: &str = "acs:ram::1234567890123456:role/edas-team-e2e";
const T: Duration = Duration::from_secs(60);
/// STS sessions of the simulator in these tests: refreshed after 8 s.
const SESSION_SECONDS: u64 = 12;

fn state(apps: &[(&str, usize)]) -> Value {
    let mut s = sim_state(apps, 0.3);
    s["sts"] = json!({
        "maxSessionSeconds": SESSION_SECONDS,
        "oidcProviders": [PROVIDER],
        "roles": [
            {"arn": OPERATOR_ROLE, "oidcProviders": [PROVIDER]},
            {"arn": TEAM_ROLE, "principals": [OPERATOR_ROLE]},
        ],
    });
    s
}

/// The operator with only the RRSA variables (and the STS endpoint: the simulator).
fn rrsa_operator(
    cp: &ControlPlane,
    sim: &Sim,
    namespaces: &[&str],
    name: &str,
    token_file: &std::path::Path,
    allowed: &str,
) -> Operator {
    Operator::start_with_env(
        cp,
        sim,
        namespaces,
        name,
        &["--default-credentials-namespaces", allowed],
        &[
            ("ALIBABA_CLOUD_ROLE_ARN", OPERATOR_ROLE),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", path_str(token_file)),
            ("ALIBABA_CLOUD_STS_ENDPOINT", sim.url.as_str()),
        ],
    )
}

fn without_secret_ref(manifest: &str) -> String {
    let mut m: Value = serde_json::from_str(manifest).unwrap();
    m["spec"]
        .as_object_mut()
        .unwrap()
        .remove("credentialsSecretRef");
    m.to_string()
}

fn synced_message(o: &Value) -> String {
    condition(o, "Synced")
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Write the token file atomically, as the kubelet does (a rename).
fn write_token(path: &std::path::Path, token: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, token).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_rrsa_identity_converges_refreshes_through_rotation_and_names_an_expired_token() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("e2e_rrsa_identity", &cp);
    let app = "rrsa-app";
    let sim = Sim::start(&state(&[(app, 3)]), "rrsa");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    write_token(&token_file, &sim.mint_token(PROVIDER, 20).await);
    let ns = cp.namespace("e2e-rrsa");
    let mut op = rrsa_operator(&cp, &sim, &[&ns], "rrsa", &token_file, &ns);

    cp.apply_yaml_ok(&without_secret_ref(&membership(
        &ns,
        "web",
        app,
        &[ecc(&format!("ecc-{app}-1")), ecc(&format!("ecc-{app}-2"))],
        json!({}),
    )));
    eventually(T, "Ready with RRSA credentials", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Ready", "True", None).then_some(())
    })
    .await;
    assert_eq!(
        sim.eccs(app).await,
        vec![format!("ecc-{app}-1"), format!("ecc-{app}-2")]
    );

    // Rotate the token every 6 s (each lives 20 s) while the sessions (12 s) expire and are
    // refreshed, for at least 40 s and until three refreshes were made (credentials are
    // refreshed when a pass needs them, and passes come at the jittered resync, 5 to 15 s
    // apart): a refresh that did not re-read the file would meet an expired token.
    let started = Instant::now();
    let oidc_calls = |calls: &[Value]| {
        calls
            .iter()
            .filter(|c| c["action"] == "AssumeRoleWithOIDC")
            .count()
    };
    while started.elapsed() < Duration::from_secs(40)
        || (oidc_calls(&sim.calls().await) < 4 && started.elapsed() < Duration::from_secs(120))
    {
        tokio::time::sleep(Duration::from_secs(6)).await;
        write_token(&token_file, &sim.mint_token(PROVIDER, 20).await);
        let o = cp.eam(&ns, "web");
        assert!(
            cond_is(&o, "Ready", "True", None),
            "Ready lost during rotation: {}",
            o["status"]
        );
    }
    let calls = sim.calls().await;
    let oidc: Vec<&Value> = calls
        .iter()
        .filter(|c| c["action"] == "AssumeRoleWithOIDC")
        .collect();
    assert!(oidc.len() >= 4, "{} AssumeRoleWithOIDC calls", oidc.len());
    assert!(
        oidc.iter().all(|c| c["httpStatus"] == 200),
        "a refresh failed: {oidc:?}"
    );
    let edas: Vec<&Value> = calls
        .iter()
        .filter(|c| c["path"].as_str().is_some_and(|p| p.starts_with("/pop/")))
        .collect();
    let failed: Vec<&&Value> = edas.iter().filter(|c| c["httpStatus"] != 200).collect();
    assert!(failed.is_empty(), "failed EDAS calls: {failed:?}");
    let keys: BTreeSet<&str> = edas
        .iter()
        .filter_map(|c| c["accessKeyId"].as_str())
        .collect();
    assert!(keys.len() >= 3, "EDAS calls were made with {keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("STS.")), "{keys:?}");

    // The token the kubelet left expired: the credentials in hand serve until they expire,
    // then the resource says why, naming the STS error, never the token.
    let expired = sim.mint_token(PROVIDER, -60).await;
    write_token(&token_file, &expired);
    let o = eventually(Duration::from_secs(90), "InvalidCredentials", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Synced", "False", Some("InvalidCredentials")).then_some(o)
    })
    .await;
    let msg = synced_message(&o);
    assert!(
        msg.contains("AuthenticationFail.OIDCToken.Expired"),
        "{msg}"
    );
    assert!(msg.contains("RRSA"), "{msg}");
    assert!(!msg.contains(&expired), "{msg}");

    // Fixed by the next rotation.
    write_token(&token_file, &sim.mint_token(PROVIDER, 600).await);
    cp.kubectl_ok(&[
        "-n",
        &ns,
        "annotate",
        "--overwrite",
        "eam",
        "web",
        "test/poke=1",
    ]);
    eventually(T, "Synced again", || async {
        let o = cp.eam(&ns, "web");
        cond_is(&o, "Synced", "True", None).then_some(())
    })
    .await;

    // No issued secret, no token in the operator's log.
    let log = op.log();
    for i in sim.issued().await {
        for k in ["accessKeySecret", "securityToken"] {
            let s = i[k].as_str().unwrap();
            assert!(!log.contains(s), "the operator logged an issued {k}");
        }
    }
    assert!(!log.contains(&expired));
    assert!(log.contains("credentials obtained"));
    op.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_roles_named_in_secrets_are_assumed_and_a_wrong_role_is_named() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("e2e_assumed_roles", &cp);
    let (good, bad, other) = ("role-app", "badrole-app", "denied-app");
    let sim = Sim::start(&state(&[(good, 3), (bad, 2), (other, 2)]), "roles");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    write_token(&token_file, &sim.mint_token(PROVIDER, 600).await);
    let ns = cp.namespace("e2e-roles");
    let denied = cp.namespace("e2e-roles-denied");
    let _op = rrsa_operator(&cp, &sim, &[&ns, &denied], "roles", &token_file, &ns);

    let role_secret = |ns: &str, name: &str, arn: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"{name}","namespace":"{ns}"}},
               "stringData":{{"ALIBABA_CLOUD_ROLE_ARN":"{arn}","ALIBABA_CLOUD_ROLE_SESSION_NAME":"team-e2e"}}}}"#
        )
    };
    cp.apply_yaml_ok(&role_secret(&ns, "team-role", TEAM_ROLE));
    cp.apply_yaml_ok(&role_secret(
        &ns,
        "wrong-role",
        "acs:ram::1234567890123456:role/no-such-role",
    ));
    cp.apply_yaml_ok(&role_secret(&denied, "team-role", TEAM_ROLE));
    let with_secret = |ns: &str, name: &str, app: &str, secret: &str| {
        membership(
            ns,
            name,
            app,
            &[ecc(&format!("ecc-{app}-1"))],
            json!({"credentialsSecretRef": {"name": secret}}),
        )
    };
    cp.apply_yaml_ok(&with_secret(&ns, "good", good, "team-role"));
    cp.apply_yaml_ok(&with_secret(&ns, "bad", bad, "wrong-role"));
    cp.apply_yaml_ok(&with_secret(&denied, "denied", other, "team-role"));

    eventually(T, "Ready through the assumed role", || async {
        let o = cp.eam(&ns, "good");
        cond_is(&o, "Ready", "True", None).then_some(())
    })
    .await;
    assert_eq!(sim.eccs(good).await, vec![format!("ecc-{good}-1")]);
    // Every EDAS call for the app was signed with keys issued for the team's role.
    let issued = sim.issued().await;
    let role_of = |ak: &str| {
        issued
            .iter()
            .find(|i| i["accessKeyId"] == ak)
            .and_then(|i| i["roleArn"].as_str())
            .unwrap_or("?")
            .to_string()
    };
    let calls = sim.calls().await;
    let for_good: Vec<&Value> = calls
        .iter()
        .filter(|c| c["params"]["AppId"] == good)
        .collect();
    assert!(!for_good.is_empty());
    for c in &for_good {
        assert_eq!(role_of(c["accessKeyId"].as_str().unwrap_or("")), TEAM_ROLE);
    }
    assert!(
        calls
            .iter()
            .any(|c| c["action"] == "AssumeRole" && c["httpStatus"] == 200),
        "no AssumeRole call"
    );

    let o = eventually(T, "wrong role named", || async {
        let o = cp.eam(&ns, "bad");
        cond_is(&o, "Synced", "False", Some("InvalidCredentials")).then_some(o)
    })
    .await;
    let msg = synced_message(&o);
    assert!(msg.contains("EntityNotExist.Role"), "{msg}");
    assert!(msg.contains("no-such-role"), "{msg}");

    let o = eventually(T, "namespace not allowed", || async {
        let o = cp.eam(&denied, "denied");
        cond_is(&o, "Synced", "False", Some("InvalidCredentials")).then_some(o)
    })
    .await;
    let msg = synced_message(&o);
    assert!(msg.contains("--default-credentials-namespaces"), "{msg}");
    assert!(msg.contains(TEAM_ROLE), "{msg}");
    // Nothing was sent for the refused resources.
    assert!(
        calls
            .iter()
            .chain(sim.calls().await.iter())
            .all(|c| c["params"]["AppId"] != bad && c["params"]["AppId"] != other)
    );
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_rrsa_component_renders_what_acks_webhook_injects_and_is_accepted() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("e2e_rrsa_component", &cp);
    // An overlay of the base with the component, as a user writes one (kustomize wants the
    // paths relative and the overlay outside the base).
    let dir = repo().join("target").join(format!(
        "e2e-rrsa-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        "resources:\n  - ../../deploy\ncomponents:\n  - ../../deploy/rrsa\n",
    )
    .unwrap();
    let rendered = cp.kubectl_ok(&["kustomize", path_str(&dir)]);
    for want in [
        "pod-identity.alibabacloud.com/role-name: edas-operator",
        "name: ALIBABA_CLOUD_ROLE_ARN",
        "name: ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
        "value: /var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token",
        "audience: sts.aliyuncs.com",
        "mountPath: /var/run/secrets/ack.alibabacloud.com/rrsa-tokens",
    ] {
        assert!(rendered.contains(want), "{want} missing from:\n{rendered}");
    }
    cp.kubectl_ok(&["apply", "-f", path_str(&repo().join("crds"))]);
    let out = cp.kubectl_ok(&["apply", "--dry-run=server", "-k", path_str(&dir)]);
    assert!(out.contains("deployment.apps/edas-operator"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
