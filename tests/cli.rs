//! The binary's command line: every subcommand describes itself, bad input is refused with a
//! message naming what is wrong.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    run_env(args, &[])
}

/// `edas status` of an app, against an endpoint nothing answers on.
const STATUS: [&str; 8] = [
    "edas",
    "status",
    "--app-id",
    "a",
    "--region",
    "cn-hangzhou",
    "--edas-endpoint",
    "http://127.0.0.1:9",
];

/// The binary with no credentials in its environment but `env`.
fn run_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edas-operator"))
        .args(args)
        .env_remove("EDAS_ENDPOINT")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env_remove("ALIBABA_CLOUD_ROLE_ARN")
        .env_remove("ALIBABA_CLOUD_OIDC_PROVIDER_ARN")
        .env_remove("ALIBABA_CLOUD_OIDC_TOKEN_FILE")
        // Loopback only: never the real instance metadata service.
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .expect("run edas-operator");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_subcommand_describes_itself() {
    let (ok, top, _) = run(&["--help"]);
    assert!(ok);
    for sub in ["run", "crd", "simulate", "plan", "edas"] {
        assert!(top.contains(sub), "{sub} missing from --help:\n{top}");
    }
    for (args, needle) in [
        (vec!["run", "--help"], "--edas-endpoint"),
        (vec!["crd", "--help"], "CustomResourceDefinition"),
        (vec!["simulate", "--help"], "--state"),
        (vec!["plan", "--help"], "--file"),
        (vec!["edas", "status", "--help"], "--app-id"),
    ] {
        let (ok, help, _) = run(&args);
        assert!(ok, "{args:?}");
        assert!(
            help.contains(needle),
            "{args:?} --help lacks {needle}:\n{help}"
        );
    }
}

#[test]
fn crd_subcommand_prints_the_committed_crd() {
    let (ok, out, _) = run(&["crd"]);
    assert!(ok);
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crds/edasappmemberships.edas.operators.dev.yaml"),
    )
    .unwrap();
    assert_eq!(out, committed);
}

#[test]
fn plain_http_endpoint_off_loopback_is_refused() {
    let (ok, _, err) = run(&[
        "edas",
        "status",
        "--app-id",
        "a",
        "--region",
        "cn-hangzhou",
        "--edas-endpoint",
        "http://edas.example.com",
    ]);
    assert!(!ok);
    assert!(
        err.contains("http://") && err.contains("non-loopback"),
        "{err}"
    );
}

#[test]
fn plan_with_a_bad_manifest_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.yaml");
    std::fs::write(
        &f,
        "apiVersion: edas.operators.dev/v1alpha1\nkind: EdasAppMembership\nmetadata: {name: x}\n\
         spec: {appId: a, regionId: cn-hangzhou, members: [{eccId: e, ip: 10.0.0.1}]}\n",
    )
    .unwrap();
    let (ok, _, err) = run(&[
        "plan",
        "-f",
        f.to_str().unwrap(),
        "--edas-endpoint",
        "http://127.0.0.1:9",
    ]);
    assert!(!ok);
    assert!(err.contains("spec.members[0]"), "{err}");
    let (ok, _, err) = run(&["plan", "-f", "/nonexistent.yaml"]);
    assert!(!ok && err.contains("/nonexistent.yaml"), "{err}");
}

#[test]
fn missing_credentials_are_named() {
    let (ok, _, err) = run(&STATUS);
    assert!(!ok);
    assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"), "{err}");
}

#[test]
fn rrsa_set_up_halfway_and_a_bad_sts_endpoint_are_named() {
    let (ok, _, err) = run_env(&STATUS, &[("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r")]);
    assert!(!ok);
    assert!(
        err.contains("ALIBABA_CLOUD_OIDC_PROVIDER_ARN")
            && err.contains("ALIBABA_CLOUD_OIDC_TOKEN_FILE"),
        "{err}"
    );
    let (ok, _, err) = run(&[&STATUS[..], &["--sts-endpoint", "http://sts.example.com"]].concat());
    assert!(!ok);
    assert!(
        err.contains("--sts-endpoint") && err.contains("non-loopback"),
        "{err}"
    );
}
