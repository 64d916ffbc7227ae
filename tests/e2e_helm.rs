//! The Helm chart (charts/edas-operator): its files agree with the crate and the generated CRD;
//! with the real Helm CLI (hack/helm.sh) it lints, renders what each values file asks for,
//! refuses bad values naming the field, grants exactly deploy/'s RBAC; and installed into the
//! real kube-apiserver, the operator running with the identity and RBAC the chart created
//! converges a resource, across an upgrade; uninstall leaves no cluster-scoped object but the
//! CRD.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use support::helm::*;
use support::*;

const T: Duration = Duration::from_secs(90);

// ------------------------------------------------------------------ no Helm needed

#[test]
fn chart_version_and_app_version_follow_the_crate_version() {
    let chart = yaml_file_documents(&chart_dir().join("Chart.yaml"));
    let crate_version = env!("CARGO_PKG_VERSION");
    assert_eq!(chart[0]["version"], crate_version, "Chart.yaml version");
    assert_eq!(
        chart[0]["appVersion"], crate_version,
        "Chart.yaml appVersion"
    );
}

#[test]
fn chart_crd_is_a_copy_of_the_generated_crd() {
    let name = "edasappmemberships.edas.operators.dev.yaml";
    let generated = std::fs::read_to_string(repo().join("crds").join(name)).unwrap();
    let copy = std::fs::read_to_string(chart_dir().join("crds").join(name)).unwrap();
    assert!(
        copy == generated,
        "charts/edas-operator/crds/{name} drifted from crds/{name}: cp crds/{name} charts/edas-operator/crds/"
    );
    let files: Vec<_> = std::fs::read_dir(chart_dir().join("crds"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(files.len(), 1, "charts/edas-operator/crds/ holds {files:?}");
}

#[test]
fn the_image_the_chart_and_deploy_name_is_the_crate_version() {
    // The chart's default tag is its appVersion (checked above); deploy/ names the same tag.
    let deploy = yaml_file_documents(&repo().join("deploy/deployment.yaml"));
    let image = operator_container(&deploy[0])["image"].as_str().unwrap();
    assert!(
        image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
        "deploy/deployment.yaml runs {image}"
    );
}

// ------------------------------------------------------------------ helm lint / template

#[test]
#[ignore = "needs the Helm CLI: hack/test.sh runs it"]
fn e2e_helm_lint_passes_for_every_values_file() {
    let helm = Helm::new(None);
    let chart = chart_dir();
    let out = helm.ok(&["lint", "--strict", path_str(&chart)]);
    assert!(out.contains("0 chart(s) failed"), "{out}");
    for f in ci_values_files() {
        let out = helm.ok(&["lint", "--strict", path_str(&chart), "-f", path_str(&f)]);
        assert!(out.contains("0 chart(s) failed"), "{}: {out}", f.display());
    }
}

fn ci_values_files() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(chart_dir().join("ci"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    v
}

fn kinds(objects: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

fn rbac_subject_is(binding: &Value, ns: &str, sa: &str) {
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": sa, "namespace": ns}]),
        "{binding}"
    );
}

/// What the restricted Pod Security Standard asks of the pod, whatever the values file says
/// about other things.
fn assert_restricted(deployment: &Value) {
    let pod = &deployment["spec"]["template"]["spec"];
    let c = operator_container(deployment);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["runAsNonRoot"], true);
}

#[test]
#[ignore = "needs the Helm CLI: hack/test.sh runs it"]
fn e2e_helm_template_renders_what_each_values_file_asks_for() {
    let helm = Helm::new(None);
    let version = env!("CARGO_PKG_VERSION");
    let mut checked = BTreeSet::new();
    for f in ci_values_files() {
        let file = f.file_name().unwrap().to_str().unwrap().to_string();
        let o = helm.render("rel", "ops", &["-f", path_str(&f)]);
        // Every namespaced object the chart makes for itself is in the release namespace.
        for obj in &o {
            let kind = obj["kind"].as_str().unwrap();
            if matches!(kind, "ServiceAccount" | "Role" | "Deployment" | "Service") {
                assert_eq!(obj["metadata"]["namespace"], "ops", "{file}: {kind}");
            }
            assert_eq!(
                obj["metadata"]["labels"]["app.kubernetes.io/instance"], "rel",
                "{file}: {kind}"
            );
        }
        match file.as_str() {
            "default-values.yaml" => {
                let fullname = "rel-edas-operator";
                assert_eq!(
                    kinds(&o),
                    [
                        "ClusterRole",
                        "ClusterRole",
                        "ClusterRoleBinding",
                        "Deployment",
                        "Role",
                        "RoleBinding",
                        "Service",
                        "ServiceAccount"
                    ],
                    "{file}: {:?}",
                    kinds_and_names(&o)
                );
                let d = object(&o, "Deployment", fullname);
                assert_restricted(d);
                assert_eq!(d["spec"]["replicas"], 2);
                let c = operator_container(d);
                assert_eq!(
                    c["image"],
                    format!("ghcr.io/edas-operator/edas-operator:{version}")
                );
                assert_eq!(c["args"], json!(["run"]));
                let env = env_values(c);
                assert_eq!(env["LEADER_ELECTION"], "true");
                assert_eq!(env["LEASE_NAME"], format!("{fullname}-leader"));
                assert_eq!(env["WATCH_NAMESPACES"], "");
                assert_eq!(env["DEFAULT_CREDENTIALS_NAMESPACES"], "");
                assert_eq!(env["LOG_FORMAT"], "json");
                assert!(!env.contains_key("EDAS_ENDPOINT"));
                // Leader election's Role names the Lease the operator is told to use.
                let role = object(&o, "Role", &format!("{fullname}-leader-election"));
                assert_eq!(
                    role["rules"][1]["resourceNames"],
                    json!([format!("{fullname}-leader")])
                );
                rbac_subject_is(object(&o, "ClusterRoleBinding", fullname), "ops", fullname);
                // Default: prefer the replicas apart.
                let aff = &d["spec"]["template"]["spec"]["affinity"];
                assert_eq!(
                    aff["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
                        ["labelSelector"]["matchLabels"],
                    d["spec"]["selector"]["matchLabels"]
                );
                let svc = object(&o, "Service", fullname);
                assert_eq!(
                    svc["spec"]["selector"],
                    d["spec"]["selector"]["matchLabels"]
                );
                assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
            }
            "one-namespace-values.yaml" => {
                let fullname = "rel-edas-operator";
                assert!(
                    !o.iter().any(|x| x["kind"] == "ClusterRoleBinding"),
                    "{file}: one watched namespace needs no ClusterRoleBinding"
                );
                let rb = object(&o, "RoleBinding", fullname);
                assert_eq!(rb["metadata"]["namespace"], "team-a");
                assert_eq!(rb["roleRef"]["name"], fullname);
                rbac_subject_is(rb, "ops", fullname);
                let reader = object(&o, "RoleBinding", &format!("{fullname}-credentials-reader"));
                assert_eq!(reader["metadata"]["namespace"], "team-a");
                assert_eq!(reader["roleRef"]["kind"], "ClusterRole");
                rbac_subject_is(reader, "ops", fullname);
                let d = object(&o, "Deployment", fullname);
                assert_restricted(d);
                assert_eq!(d["spec"]["replicas"], 1);
                let c = operator_container(d);
                let env = env_values(c);
                assert_eq!(env["WATCH_NAMESPACES"], "team-a");
                assert_eq!(env["DEFAULT_CREDENTIALS_NAMESPACES"], "team-a");
                let refs: BTreeSet<&str> = c["env"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|e| e["valueFrom"]["secretKeyRef"]["name"].as_str())
                    .collect();
                assert_eq!(refs, BTreeSet::from(["edas-admin-keys"]));
            }
            "full-values.yaml" => {
                let fullname = "edas";
                // No Service, no leader election's Role; two watched namespaces: one
                // cluster-wide watch, so a ClusterRoleBinding.
                assert_eq!(
                    kinds(&o),
                    [
                        "ClusterRole",
                        "ClusterRole",
                        "ClusterRoleBinding",
                        "Deployment",
                        "RoleBinding",
                        "RoleBinding",
                        "ServiceAccount"
                    ],
                    "{file}: {:?}",
                    kinds_and_names(&o)
                );
                for ns in ["team-a", "team-b"] {
                    assert!(
                        o.iter().any(|x| x["kind"] == "RoleBinding"
                            && x["metadata"]["namespace"] == ns
                            && x["roleRef"]["name"] == "edas-credentials-reader"),
                        "{file}: no credentials RoleBinding in {ns}"
                    );
                }
                let sa = object(&o, "ServiceAccount", fullname);
                assert_eq!(
                    sa["metadata"]["annotations"]["pod-identity.alibabacloud.com/role-name"],
                    "edas-operator"
                );
                let d = object(&o, "Deployment", fullname);
                assert_restricted(d);
                let pod = &d["spec"]["template"]["spec"];
                let c = operator_container(d);
                assert!(c["image"].as_str().unwrap().ends_with(
                    "edas-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                ));
                assert_eq!(c["imagePullPolicy"], "Always");
                assert_eq!(
                    c["args"],
                    json!(["run", "--resync-interval=10m", "--concurrency=4"])
                );
                let env = env_values(c);
                assert_eq!(env["LEADER_ELECTION"], "false");
                assert!(!env.contains_key("LEASE_NAME"));
                assert_eq!(env["WATCH_NAMESPACES"], "team-a,team-b");
                assert_eq!(
                    env["EDAS_ENDPOINT"],
                    "https://edas-vpc.cn-hangzhou.aliyuncs.com"
                );
                assert_eq!(env["EDAS_SIGNATURE_ALGORITHM"], "acs3-hmac-sha256");
                assert_eq!(env["LOG_FORMAT"], "text");
                assert_eq!(
                    env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"],
                    "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token"
                );
                assert!(env.contains_key("ALIBABA_CLOUD_ROLE_ARN"));
                assert_eq!(pod["volumes"][0]["name"], "rrsa-oidc-token");
                assert_eq!(c["volumeMounts"][0]["name"], "rrsa-oidc-token");
                assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
                assert_eq!(pod["tolerations"][0]["key"], "dedicated");
                assert_eq!(pod["priorityClassName"], "system-cluster-critical");
                assert!(pod["affinity"]["podAntiAffinity"].is_null());
                assert!(!pod["affinity"]["nodeAffinity"].is_null());
                assert_eq!(pod["imagePullSecrets"][0]["name"], "regcred");
                assert_eq!(c["resources"]["limits"]["memory"], "256Mi");
                assert_eq!(
                    d["spec"]["template"]["metadata"]["labels"]["team"],
                    "platform"
                );
            }
            other => panic!("charts/edas-operator/ci/{other} has no checks here: add them"),
        }
        checked.insert(file);
    }
    assert!(checked.len() >= 3, "only {checked:?}");

    // --include-crds renders exactly the generated CRD.
    let with_crds = helm.render("rel", "ops", &["--include-crds"]);
    let crd = object(
        &with_crds,
        "CustomResourceDefinition",
        "edasappmemberships.edas.operators.dev",
    );
    let generated =
        yaml_file_documents(&repo().join("crds/edasappmemberships.edas.operators.dev.yaml"));
    assert_eq!(crd, &generated[0]);
}

#[test]
#[ignore = "needs the Helm CLI: hack/test.sh runs it"]
fn e2e_helm_bad_values_fail_naming_the_field() {
    let helm = Helm::new(None);
    let chart = chart_dir();
    let dir = repo().join("tests/helm-invalid-values");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let header = |key: &str| -> String {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {key}:")))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| panic!("{} has no '# {key}:' line", path.display()))
        };
        let out = helm.run(&["template", "rel", path_str(&chart), "-f", path_str(path)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{} was accepted", path.display());
        for want in [header("field"), header("message contains")] {
            assert!(
                stderr.contains(&want),
                "{}: error lacks {want:?}: {stderr}",
                path.display()
            );
        }
    }
    assert!(
        files.len() >= 8,
        "only {} invalid values files",
        files.len()
    );
}

/// RBAC objects (ClusterRole, ClusterRoleBinding, Role, RoleBinding), keyed by kind,
/// namespace and name, with only what grants: rules, roleRef, subjects.
fn rbac(objects: &[Value]) -> std::collections::BTreeMap<String, Value> {
    objects
        .iter()
        .filter(|o| {
            o["kind"]
                .as_str()
                .is_some_and(|k| k.ends_with("Role") || k.ends_with("RoleBinding"))
        })
        .map(|o| {
            let key = format!(
                "{}/{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap()
            );
            let grants =
                json!({"rules": o["rules"], "roleRef": o["roleRef"], "subjects": o["subjects"]});
            (key, grants)
        })
        .collect()
}

#[test]
#[ignore = "needs the Helm CLI: hack/test.sh runs it"]
fn e2e_helm_chart_grants_exactly_what_deploy_grants() {
    // Release "edas-operator" in edas-system: the names deploy/ uses.
    let helm = Helm::new(None);
    let chart = helm.render("edas-operator", "edas-system", &[]);
    let mut deploy = Vec::new();
    for f in [
        "serviceaccount.yaml",
        "rbac.yaml",
        "deployment.yaml",
        "service.yaml",
    ] {
        deploy.extend(yaml_file_documents(&repo().join("deploy").join(f)));
    }
    assert_eq!(
        rbac(&chart),
        rbac(&deploy),
        "chart RBAC differs from deploy/rbac.yaml"
    );
    assert!(rbac(&deploy).len() >= 5);

    let sa = object(&chart, "ServiceAccount", "edas-operator");
    assert_eq!(
        sa["automountServiceAccountToken"],
        object(&deploy, "ServiceAccount", "edas-operator")["automountServiceAccountToken"]
    );

    // The Deployment runs the operator the same way: security, probes, resources, ports,
    // replicas, and every variable deploy/ sets (the chart adds LEASE_*, LOG_LEVEL).
    let (cd, dd) = (
        object(&chart, "Deployment", "edas-operator"),
        object(&deploy, "Deployment", "edas-operator"),
    );
    for path in [
        "/spec/replicas",
        "/spec/strategy",
        "/spec/template/spec/securityContext",
        "/spec/template/spec/serviceAccountName",
        "/spec/template/spec/automountServiceAccountToken",
        "/spec/template/spec/terminationGracePeriodSeconds",
    ] {
        assert_eq!(cd.pointer(path), dd.pointer(path), "Deployment {path}");
    }
    let (cc, dc) = (operator_container(cd), operator_container(dd));
    for key in [
        "image",
        "args",
        "ports",
        "livenessProbe",
        "readinessProbe",
        "resources",
        "securityContext",
    ] {
        assert_eq!(cc[key], dc[key], "container {key}");
    }
    let chart_env: Vec<&Value> = cc["env"].as_array().unwrap().iter().collect();
    for e in dc["env"].as_array().unwrap() {
        assert!(
            chart_env.contains(&e),
            "the chart's Deployment lacks deploy/'s env {e}"
        );
    }
    let (cs, ds) = (
        object(&chart, "Service", "edas-operator"),
        object(&deploy, "Service", "edas-operator"),
    );
    assert_eq!(cs["spec"]["ports"], ds["spec"]["ports"]);
}

// ------------------------------------------------------------------ install / upgrade / uninstall

/// The operator, out of cluster, run the way the chart's Deployment runs it: its container's
/// args and env as the apiserver stores them (downward-API fields filled in as the kubelet
/// would), with `kubeconfig` (a token of the chart's ServiceAccount).
fn operator_as_deployed(
    cp: &ControlPlane,
    ns: &str,
    deployment: &str,
    kubeconfig: &str,
    name: &str,
) -> Operator {
    let d = cp
        .get_json(ns, "deployment", deployment)
        .unwrap_or_else(|| panic!("Deployment {ns}/{deployment} not found"));
    let c = operator_container(&d);
    let args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let mut env = Vec::new();
    for e in c["env"].as_array().unwrap() {
        let key = e["name"].as_str().unwrap().to_string();
        if let Some(v) = e["value"].as_str() {
            env.push((key, v.to_string()));
        } else if let Some(field) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            let v = match field {
                "metadata.name" => format!("{name}-pod"),
                "metadata.namespace" => ns.to_string(),
                other => panic!("fieldRef {other} not filled in here"),
            };
            env.push((key, v));
        } else if let Some(sk) = e["valueFrom"]["secretKeyRef"].as_object() {
            // The operator's own credentials: the test creates no such Secret, and the
            // reference is optional, so the kubelet would leave the variable unset.
            assert_eq!(sk["optional"], true, "{e}");
            assert!(
                cp.get_json(ns, "secret", sk["name"].as_str().unwrap())
                    .is_none()
            );
        } else if e.get("valueFrom").is_none() {
            // `value: ""` comes back from the apiserver without `value`.
            env.push((key, String::new()));
        } else {
            panic!("env {e} not handled");
        }
    }
    Operator::start_raw(name, Vec::new(), args, kubeconfig, env)
}

/// Every object of the release still in `namespaces` (by its instance label).
fn release_objects(cp: &ControlPlane, release: &str, namespaces: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    for ns in namespaces {
        let out = cp.kubectl_ok(&[
            "-n",
            ns,
            "get",
            "serviceaccounts,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,deployments.apps,services,secrets,configmaps",
            "-l",
            &format!("app.kubernetes.io/instance={release}"),
            "-o",
            "name",
        ]);
        left.extend(out.lines().map(|l| format!("{ns}/{l}")));
    }
    left
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_helm_install_gives_the_operator_the_rbac_it_needs_and_uninstall_cleans_up() {
    let Some(cp) = control_plane() else { return };
    mark_e2e(
        "helm_install_gives_the_operator_the_rbac_it_needs_and_uninstall_cleans_up",
        &cp,
    );
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let release = format!("e2e-{id}");
    let fullname = format!("{release}-edas-operator");
    let rel_ns = format!("e2e-helm-{id}");
    let tenant = format!("e2e-helm-team-{id}");
    // The tenant namespace with its credentials Secret, NOT opted in: the chart does that.
    cp.apply_yaml_ok(&format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {rel_ns}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: {tenant}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: edas-credentials, namespace: {tenant}}}
stringData:
  ALIBABA_CLOUD_ACCESS_KEY_ID: {ACCESS_KEY_ID}
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: {ACCESS_KEY_SECRET}
"#
    ));
    let app = format!("app-{tenant}");
    let sim = Sim::start(&sim_state(&[(&app, 4)], 0.3), &tenant);
    let helm = Helm::new(Some(&cp.admin_kubeconfig));
    let chart = chart_dir();
    let chart = path_str(&chart);
    let before = cp.cluster_scoped_objects();

    // A bad value fails the install, naming the field, and installs nothing.
    let out = helm.run(&[
        "install",
        &release,
        chart,
        "-n",
        &rel_ns,
        "--set",
        "logFormat=xml",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("/logFormat"),
        "{stderr}"
    );
    assert_eq!(cp.cluster_scoped_objects(), before);
    assert!(release_objects(&cp, &release, &[&rel_ns, &tenant]).is_empty());

    // Install: all namespaces (ClusterRoleBinding), the tenant opted in by the chart, the
    // simulator as endpoint, the e2e timings through extraArgs.
    let notes = helm.ok(&[
        "install",
        &release,
        chart,
        "-n",
        &rel_ns,
        "--set",
        &format!("edas.endpoint={}", sim.url),
        "--set",
        &format!("rbac.credentialsNamespaces={{{tenant}}}"),
        "--set-json",
        r#"extraArgs=["--resync-interval=10s","--failure-backoff=2s","--edas-timeout=5s"]"#,
    ]);
    for want in [
        format!("kubectl -n {rel_ns} rollout status deployment/{fullname}"),
        format!("kubectl -n {rel_ns} get lease {fullname}-leader"),
        "kubectl explain edasappmembership.spec".to_string(),
        format!("The operator may read credentials Secrets in: {tenant}."),
    ] {
        assert!(notes.contains(&want), "NOTES lack {want:?}:\n{notes}");
    }
    let installed = cp.cluster_scoped_objects();
    let added: BTreeSet<String> = installed.difference(&before).cloned().collect();
    for want in [
        format!("clusterrole.rbac.authorization.k8s.io/{fullname}"),
        format!("clusterrole.rbac.authorization.k8s.io/{fullname}-credentials-reader"),
        format!("clusterrolebinding.rbac.authorization.k8s.io/{fullname}"),
    ] {
        assert!(added.contains(&want), "{want} not created: {added:?}");
    }
    // No kubelet here, so no pod runs: the Deployment only exists.
    let d = cp
        .get_json(&rel_ns, "deployment", &fullname)
        .expect("Deployment");
    assert_eq!(d["spec"]["replicas"], 2);

    // The operator's identity: the chart's ServiceAccount, through a token the apiserver
    // issued for it. Every permission it has is the chart's.
    let kc_path = log_dir().join(format!("{release}-sa.kubeconfig"));
    let kc = cp.service_account_kubeconfig(&rel_ns, &fullname, &kc_path);
    let whoami = cp.kubectl_as(
        &kc,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout),
        format!("system:serviceaccount:{rel_ns}:{fullname}")
    );
    let can = |args: &[&str]| -> bool {
        let mut a = vec!["auth", "can-i"];
        a.extend_from_slice(args);
        let out = cp.kubectl_as(&kc, &a, None);
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    assert!(can(&["get", "secrets", "-n", &tenant]));
    assert!(
        !can(&["get", "secrets", "-n", &rel_ns]),
        "may read Secrets where no one opted in"
    );
    assert!(!can(&["list", "secrets", "-n", &tenant]));
    assert!(can(&[
        "watch",
        "edasappmemberships.edas.operators.dev",
        "-A"
    ]));

    let mut op = operator_as_deployed(&cp, &rel_ns, &fullname, &kc, &release);
    cp.apply_yaml_ok(&membership(
        &tenant,
        "web",
        &app,
        &[ecc(&format!("ecc-{app}-1")), ecc(&format!("ecc-{app}-2"))],
        json!({}),
    ));
    eventually(T, "converged with the chart's RBAC", || async {
        let o = cp.eam(&tenant, "web");
        (cond_is(&o, "Ready", "True", Some("Converged"))
            && sim.eccs(&app).await == vec![format!("ecc-{app}-1"), format!("ecc-{app}-2")])
        .then_some(())
    })
    .await;
    cp.assert_events(
        &tenant,
        &["ChangeOrderStarted", "ChangeOrderSucceeded", "Converged"],
    );
    // It led through the Lease the chart's Role allows.
    let lease = cp
        .get_json(&rel_ns, "lease", &format!("{fullname}-leader"))
        .expect("Lease");
    assert_eq!(lease["spec"]["holderIdentity"], format!("{release}-pod"));
    assert!(
        !op.log().contains("Forbidden"),
        "the operator was refused something:\n{}",
        op.log()
    );

    // Upgrade to one watched namespace: the ClusterRoleBinding gives way to a RoleBinding.
    helm.ok(&[
        "upgrade",
        &release,
        chart,
        "-n",
        &rel_ns,
        "--reuse-values",
        "--set",
        &format!("watchNamespaces={{{tenant}}}"),
    ]);
    let upgraded = cp.cluster_scoped_objects();
    assert!(
        !upgraded.contains(&format!(
            "clusterrolebinding.rbac.authorization.k8s.io/{fullname}"
        )),
        "the ClusterRoleBinding survived the upgrade"
    );
    let rb = cp
        .get_json(&tenant, "rolebinding", &fullname)
        .expect("RoleBinding in the tenant namespace");
    assert_eq!(rb["roleRef"]["name"], fullname);
    assert!(!can(&[
        "watch",
        "edasappmemberships.edas.operators.dev",
        "-A"
    ]));
    assert!(can(&[
        "watch",
        "edasappmemberships.edas.operators.dev",
        "-n",
        &tenant
    ]));
    let history = helm.ok(&["history", &release, "-n", &rel_ns, "-o", "json"]);
    let history: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");
    // The pod would restart with the new environment: so does the operator here.
    drop(op);
    op = operator_as_deployed(&cp, &rel_ns, &fullname, &kc, &release);
    assert!(
        op.env
            .contains(&("WATCH_NAMESPACES".to_string(), tenant.clone()))
    );
    cp.apply_yaml_ok(&membership(
        &tenant,
        "web",
        &app,
        &[ecc(&format!("ecc-{app}-1"))],
        json!({}),
    ));
    eventually(T, "converged again after the upgrade", || async {
        let o = cp.eam(&tenant, "web");
        (cond_is(&o, "Ready", "True", Some("Converged"))
            && o["status"]["observedGeneration"] == o["metadata"]["generation"]
            && sim.eccs(&app).await == vec![format!("ecc-{app}-1")])
        .then_some(())
    })
    .await;
    assert!(!op.log().contains("Forbidden"), "{}", op.log());
    drop(op);

    // Uninstall: nothing cluster-scoped is left but what was there before (the CRD among
    // it), nothing of the release in its namespaces; the resources stay, and the operator's
    // token no longer works.
    helm.ok(&[
        "uninstall",
        &release,
        "-n",
        &rel_ns,
        "--wait",
        "--timeout",
        "60s",
    ]);
    let after = cp.cluster_scoped_objects();
    let left: Vec<&String> = after.difference(&before).collect();
    assert!(
        left.is_empty(),
        "helm uninstall left cluster-scoped objects: {left:?}"
    );
    assert!(after.contains(
        "customresourcedefinition.apiextensions.k8s.io/edasappmemberships.edas.operators.dev"
    ));
    let left = release_objects(&cp, &release, &[&rel_ns, &tenant]);
    assert!(left.is_empty(), "helm uninstall left {left:?}");
    assert!(cp.get_json(&tenant, "edasappmembership", "web").is_some());
    // The apiserver checks that a token's ServiceAccount still exists through a cache, so its
    // deletion takes a moment to show.
    eventually(
        Duration::from_secs(30),
        "the chart's ServiceAccount token to stop working",
        || async {
            let out = cp.kubectl_as(&kc, &["auth", "whoami"], None);
            (!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Unauthorized"))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_kubectl_explain_documents_the_spec() {
    let Some(cp) = control_plane() else { return };
    mark_e2e("kubectl_explain_documents_the_spec", &cp);
    let out = cp.kubectl_ok(&["explain", "edasappmembership.spec"]);
    for field in [
        "appId",
        "regionId",
        "members",
        "credentialsSecretRef",
        "managementPolicy",
        "scaleIn",
        "changeOrderTimeout",
    ] {
        assert!(out.contains(field), "{field} missing:\n{out}");
    }
    let out = cp.kubectl_ok(&[
        "explain",
        "edasappmembership.spec.scaleIn.maxPerChangeOrder",
    ]);
    let description = out.split("DESCRIPTION:").nth(1).unwrap_or("").trim();
    assert!(
        description.len() > 20 && !description.starts_with("<empty>"),
        "no description:\n{out}"
    );
}
