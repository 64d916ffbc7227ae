//! End-to-end checks of what ships for the cluster: the CRD's validation, deploy/ accepted by
//! a real apiserver, and RBAC that is enough and no more.

mod support;

use serde_json::json;
use support::*;

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_invalid_manifests_are_rejected_naming_the_field() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("invalid_manifests_are_rejected_naming_the_field", &cp);
    let ns = cp.namespace("e2e-invalid");
    let dir = repo().join("deploy/examples/invalid");
    let mut tried = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let text = std::fs::read_to_string(&path).unwrap();
        let header = |key: &str| -> String {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {key}:")))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| panic!("{} has no '# {key}:' line", path.display()))
        };
        let (field, message) = (header("field"), header("message contains"));
        let out = cp.kubectl(&["-n", &ns, "apply", "-f", path_str(&path)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{} was accepted", path.display());
        assert!(
            stderr.contains(&field),
            "{}: error does not name {field}: {stderr}",
            path.display()
        );
        assert!(
            stderr.contains(&message),
            "{}: error lacks {message:?}: {stderr}",
            path.display()
        );
        tried += 1;
    }
    assert!(tried >= 6, "only {tried} invalid manifests");

    // appId and regionId are immutable.
    cp.apply_yaml_ok(&membership(&ns, "web", "app-a", &[ecc("e1")], json!({})));
    for (field, value) in [("appId", "app-b"), ("regionId", "cn-beijing")] {
        let mut m: serde_json::Value =
            serde_json::from_str(&membership(&ns, "web", "app-a", &[ecc("e1")], json!({})))
                .unwrap();
        m["spec"][field] = json!(value);
        let out = cp.apply_yaml(&m.to_string());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{field} change accepted");
        assert!(
            stderr.contains(&format!("spec.{field}")) && stderr.contains("immutable"),
            "{stderr}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_deploy_manifests_are_accepted_by_the_apiserver() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("deploy_manifests_are_accepted_by_the_apiserver", &cp);
    let root = repo();
    cp.kubectl_ok(&["apply", "-f", path_str(&root.join("crds"))]);
    let out = cp.kubectl_ok(&[
        "apply",
        "--dry-run=server",
        "-k",
        path_str(&root.join("deploy")),
    ]);
    for kind in [
        "deployment.apps/edas-operator",
        "service/edas-operator",
        "clusterrole.rbac.authorization.k8s.io/edas-operator",
    ] {
        assert!(out.contains(kind), "{kind} missing from:\n{out}");
    }
    // The examples too (in a namespace of their own).
    let ns = cp.namespace("e2e-examples");
    for f in [
        "secret.yaml",
        "credentials-rolebinding.yaml",
        "membership.yaml",
    ] {
        let p = root.join("deploy/examples").join(f);
        cp.kubectl_ok(&["-n", &ns, "apply", "--dry-run=server", "-f", path_str(&p)]);
    }
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_operator_identity_gets_403_where_it_should() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("operator_identity_gets_403_where_it_should", &cp);
    let opted_in = cp.namespace("e2e-rbac-in");
    let other = cp.namespace("e2e-rbac-out");
    cp.kubectl_ok(&[
        "-n",
        &other,
        "delete",
        "rolebinding",
        "edas-operator-credentials-reader",
    ]);
    cp.apply_yaml_ok(&membership(
        &opted_in,
        "web",
        "app-rbac",
        &[ecc("e1")],
        json!({}),
    ));
    let can = |args: &[&str]| -> bool {
        let mut a = vec!["auth", "can-i"];
        a.extend_from_slice(args);
        let out = cp.kubectl_as(&cp.operator_kubeconfig, &a, None);
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    // Enough...
    assert!(can(&[
        "watch",
        "edasappmemberships.edas.operators.dev",
        "-A"
    ]));
    assert!(can(&[
        "patch",
        "edasappmemberships.edas.operators.dev",
        "--subresource=status",
        "-n",
        &opted_in
    ]));
    assert!(can(&["create", "events.events.k8s.io", "-n", &opted_in]));
    assert!(can(&["get", "secrets", "-n", &opted_in]));
    assert!(can(&[
        "patch",
        "leases.coordination.k8s.io/edas-operator-leader",
        "-n",
        "edas-system"
    ]));
    // ...and no more.
    assert!(
        !can(&["list", "secrets", "-n", &opted_in]),
        "may list secrets"
    );
    assert!(
        !can(&["get", "secrets", "-n", &other]),
        "may read secrets of a namespace that did not opt in"
    );
    assert!(
        !can(&[
            "patch",
            "edasappmemberships.edas.operators.dev",
            "-n",
            &opted_in
        ]),
        "may write spec"
    );
    assert!(!can(&[
        "delete",
        "edasappmemberships.edas.operators.dev",
        "-n",
        &opted_in
    ]));
    assert!(!can(&[
        "patch",
        "leases.coordination.k8s.io/other-lease",
        "-n",
        "edas-system"
    ]));
    // A real request, to see the 403 itself.
    let out = cp.kubectl_as(
        &cp.operator_kubeconfig,
        &["-n", &other, "get", "secret", "edas-credentials"],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("Forbidden"),
        "{stderr}"
    );
    let out = cp.kubectl_as(
        &cp.operator_kubeconfig,
        &[
            "-n",
            &opted_in,
            "patch",
            "eam",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"members":[]}}"#,
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Forbidden"));
}
