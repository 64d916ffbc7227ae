//! End-to-end: the container image `hack/image.sh build` made from the Dockerfile (FROM
//! scratch, a static binary), checked for what it holds and run with podman, read-only,
//! non-root, with no capabilities, against the real kube-apiserver and the simulator, where
//! it converges a resource. hack/test.sh builds the image and exports its OCI archive as
//! `EDAS_E2E_IMAGE`.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(90);

fn image_archive() -> String {
    match std::env::var("EDAS_E2E_IMAGE") {
        Ok(a) if !a.is_empty() => a,
        _ => panic!(
            "this test needs the image: run it with hack/test.sh (it runs `hack/image.sh build` \
             and exports EDAS_E2E_IMAGE)"
        ),
    }
}

fn image_sh() -> String {
    path_str(&repo().join("hack/image.sh")).to_string()
}

/// `hack/image.sh podman ARGS`: podman with the image store the build used.
fn podman(args: &[&str]) -> Output {
    Command::new(image_sh())
        .arg("podman")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run hack/image.sh podman")
}

fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A file of the OCI archive (a tar), by its path in the archive.
fn archive_file(archive: &str, path: &str) -> Vec<u8> {
    let out = Command::new("tar")
        .args(["-xOf", archive, path])
        .output()
        .expect("tar");
    assert!(out.status.success(), "tar -xOf {archive} {path}");
    out.stdout
}

fn blob(archive: &str, digest: &str) -> Vec<u8> {
    let d = digest.strip_prefix("sha256:").expect("sha256 digest");
    archive_file(archive, &format!("blobs/sha256/{d}"))
}

/// Removes the container however the test ends.
struct ContainerGuard(String);

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "0", &self.0]);
    }
}

#[tokio::test]
#[ignore = "needs the real control plane: hack/test.sh runs it"]
async fn e2e_image_holds_one_static_binary_and_runs_read_only_non_root_to_convergence() {
    let Some(cp) = control_plane() else { return };
    mark_e2e(
        "image_holds_one_static_binary_and_runs_read_only_non_root_to_convergence",
        &cp,
    );
    let archive = image_archive();

    // What the image is: one layer of four files, non-root, the operator as entrypoint.
    let index: Value = serde_json::from_slice(&archive_file(&archive, "index.json")).unwrap();
    let manifest: Value = serde_json::from_slice(&blob(
        &archive,
        index["manifests"][0]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let config: Value = serde_json::from_slice(&blob(
        &archive,
        manifest["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["Entrypoint"], json!(["/edas-operator"]));
    assert_eq!(config["config"]["Cmd"], json!(["run"]));
    assert_eq!(config["os"], "linux");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    let layer = blob(&archive, layers[0]["digest"].as_str().unwrap());
    let mut tar = Command::new("tar")
        .args(["-tzvf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar");
    {
        use std::io::Write;
        tar.stdin.take().unwrap().write_all(&layer).unwrap();
    }
    let listing = String::from_utf8(tar.wait_with_output().unwrap().stdout).unwrap();
    let files: BTreeSet<&str> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(
        files,
        BTreeSet::from([
            "edas-operator",
            "etc/group",
            "etc/passwd",
            "etc/ssl/certs/ca-certificates.crt"
        ]),
        "{listing}"
    );
    let size: u64 = layers[0]["size"].as_u64().unwrap();
    eprintln!(
        "image {archive}: one layer of {} KiB compressed",
        size / 1024
    );

    // No shell to run.
    let loaded = podman_ok(&["load", "--quiet", "--input", &archive]);
    let name = loaded
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .or_else(|| {
            loaded
                .lines()
                .find_map(|l| l.strip_prefix("Loaded image(s): "))
        })
        .unwrap_or_else(|| panic!("podman load said: {loaded}"))
        .trim()
        .to_string();
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/sh",
        &name,
        "-c",
        "id",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such file or directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Run it as the Deployment does: read-only root, user 65532, no capabilities, no privilege
    // escalation; host network to reach the loopback apiserver and simulator. The simulator is
    // named by host name: the static binary resolves it from /etc/hosts.
    let ns = cp.namespace("e2e-image");
    let app = format!("app-{ns}");
    let sim = Sim::start(&sim_state(&[(&app, 3)], 0.3), &ns);
    // The kubeconfig of the operator's identity (deploy/ RBAC), readable by user 65532.
    let kc = log_dir().join(format!("{ns}-image.kubeconfig"));
    std::fs::copy(&cp.operator_kubeconfig, &kc).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kc, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let kc = path_str(&kc).to_string();
    let container = format!("edas-operator-{ns}");
    let _guard = ContainerGuard(container.clone());
    let launcher: Vec<String> = [
        image_sh().as_str(),
        "podman",
        "run",
        "--rm",
        "--name",
        &container,
        "--read-only",
        "--user",
        "65532:65532",
        "--cap-drop=ALL",
        "--security-opt",
        "no-new-privileges",
        "--network",
        "host",
        "--volume",
        &format!("{kc}:{kc}:ro"),
        "--env",
        "RUST_LOG=info,edas_operator=debug",
        &name,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let args: Vec<String> = [
        "run",
        "--watch-namespaces",
        &ns,
        "--edas-endpoint",
        &format!("http://localhost:{}", sim.port),
        "--resync-interval",
        "10s",
        "--failure-backoff",
        "2s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut op = Operator::start_raw(&ns, launcher, args, &kc, Vec::new());
    assert!(op.exited().is_none(), "the container exited:\n{}", op.log());

    // The process in the container: user 65532, no capabilities at all.
    let pid = podman_ok(&["inspect", "--format", "{{.State.Pid}}", &container]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(field("Uid:"), ["65532"; 4], "{status}");
    assert_eq!(field("Gid:"), ["65532"; 4], "{status}");
    for cap in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(field(cap), ["0000000000000000"], "{cap} in {status}");
    }
    assert_eq!(field("NoNewPrivs:"), ["1"]);
    let ro = podman_ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.ReadonlyRootfs}}",
        &container,
    ]);
    assert_eq!(ro.trim(), "true");

    cp.apply_yaml_ok(&membership(
        &ns,
        "web",
        &app,
        &[ecc(&format!("ecc-{app}-1"))],
        json!({}),
    ));
    eventually(T, "the image's operator converges the resource", || async {
        let o = cp.eam(&ns, "web");
        (cond_is(&o, "Ready", "True", Some("Converged"))
            && sim.eccs(&app).await == vec![format!("ecc-{app}-1")])
        .then_some(())
    })
    .await;
    assert_eq!(sim.scale_ins(&app).await.len(), 1);
    let metrics = op.metrics().await;
    assert!(
        metrics.contains(
            "edas_operator_change_orders_total{direction=\"ScaleIn\",result=\"succeeded\"} 1"
        ),
        "{metrics}"
    );
    assert!(op.exited().is_none());
}
