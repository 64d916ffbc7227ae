//! Test support for the end-to-end tests: the real control plane started by
//! `hack/test.sh` (hack/control-plane.sh), the simulator and the operator as real processes.
#![allow(dead_code)]

pub mod helm;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const ACCESS_KEY_ID: &str = "e2e-access-key";
/// Secret values used in the e2e suite; the secret-hygiene test greps every log for them.
pub const ACCESS_KEY_SECRET: &str = "e2e-SECRET-d0-not-leak-7f3a9c";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_edas-operator")
}

/// The operator binary the e2e tests run: this build, or `EDAS_E2E_OPERATOR_BIN` (to run
/// today's tests against another build of the operator; the simulator is always this
/// build's).
pub fn operator_bin() -> String {
    std::env::var("EDAS_E2E_OPERATOR_BIN").unwrap_or_else(|_| bin().to_string())
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where e2e processes write their logs (kept for the secret grep).
pub fn log_dir() -> PathBuf {
    let dir = std::env::var("EDAS_E2E_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("edas-operator-e2e-logs"));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

#[derive(Clone, Debug)]
pub struct ControlPlane {
    pub admin_kubeconfig: String,
    pub operator_kubeconfig: String,
    pub kubectl: String,
    pub version: String,
    pub dir: String,
}

/// The control plane from the environment `hack/test.sh` exports. Every test that calls this is
/// `#[ignore]`d, so it runs only when asked for (`--include-ignored`, `--ignored`, as
/// hack/test.sh does); asked for without a control plane, it fails rather than passing
/// without having tested anything. Always `Some`; the `Option` keeps the callers'
/// `let Some(cp) = control_plane() else { return };` unchanged.
pub fn control_plane() -> Option<ControlPlane> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        get("ADMIN_KUBECONFIG"),
        get("OPERATOR_KUBECONFIG"),
        get("KUBECTL"),
    ) {
        (Some(a), Some(o), Some(k)) => {
            let cp = ControlPlane {
                admin_kubeconfig: a,
                operator_kubeconfig: o,
                kubectl: k,
                version: get("K8S_VERSION").unwrap_or_default(),
                dir: get("CP_DIR").unwrap_or_default(),
            };
            setup_once(&cp);
            Some(cp)
        }
        _ => panic!(
            "this test needs the real control plane and there is none: run it with hack/test.sh \
             (it exports ADMIN_KUBECONFIG, OPERATOR_KUBECONFIG and KUBECTL); a test that needs \
             it must be #[ignore = \"needs the real control plane: hack/test.sh runs it\"] so \
             that plain `cargo test` lists it as ignored"
        ),
    }
}

/// Marker line that hack/test.sh counts.
pub fn mark_e2e(name: &str, cp: &ControlPlane) {
    eprintln!("E2E-RAN {name} against Kubernetes {}", cp.version);
}

impl ControlPlane {
    pub fn kubectl_as(&self, kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kubectl");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_as(&self.admin_kubeconfig, args, None)
    }

    /// Run kubectl as admin; panic with its stderr when it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn apply_yaml(&self, yaml: &str) -> Output {
        self.kubectl_as(&self.admin_kubeconfig, &["apply", "-f", "-"], Some(yaml))
    }

    pub fn apply_yaml_ok(&self, yaml: &str) {
        let out = self.apply_yaml(yaml);
        assert!(
            out.status.success(),
            "kubectl apply failed: {}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn get_json(&self, ns: &str, kind: &str, name: &str) -> Option<Value> {
        let out = self.kubectl(&["-n", ns, "get", kind, name, "-o", "json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// A fresh namespace with the simulator's credentials in Secret `edas-credentials`, opted
    /// in to let the operator read it.
    pub fn namespace(&self, prefix: &str) -> String {
        let ns = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        self.apply_yaml_ok(&format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: edas-credentials, namespace: {ns}}}
stringData:
  ALIBABA_CLOUD_ACCESS_KEY_ID: {ACCESS_KEY_ID}
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: {ACCESS_KEY_SECRET}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: edas-operator-credentials-reader, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edas-operator-credentials-reader}}
subjects: [{{kind: ServiceAccount, name: edas-operator, namespace: edas-system}}]
"#
        ));
        ns
    }

    pub fn eam(&self, ns: &str, name: &str) -> Value {
        self.get_json(ns, "edasappmembership", name)
            .unwrap_or_else(|| panic!("EdasAppMembership {ns}/{name} not found"))
    }

    /// A kubeconfig at `path` for ServiceAccount `ns/sa`: the admin kubeconfig's cluster with
    /// a token the apiserver issued for that ServiceAccount (TokenRequest), so a process using
    /// it has exactly that ServiceAccount's permissions, and loses them when it is deleted.
    pub fn service_account_kubeconfig(&self, ns: &str, sa: &str, path: &Path) -> String {
        let token = self.kubectl_ok(&["-n", ns, "create", "token", sa, "--duration=2h"]);
        let raw = self.kubectl_ok(&["config", "view", "--raw", "--minify", "-o", "json"]);
        let mut config: Value = serde_json::from_str(&raw).expect("kubeconfig json");
        let user = format!("system:serviceaccount:{ns}:{sa}");
        config["users"] = json!([{"name": user, "user": {"token": token.trim()}}]);
        config["contexts"][0]["context"]["user"] = json!(user);
        std::fs::write(path, serde_json::to_vec_pretty(&config).unwrap())
            .expect("write kubeconfig");
        path_str(path).to_string()
    }

    /// Every cluster-scoped object the apiserver lists, as `resource/name`.
    pub fn cluster_scoped_objects(&self) -> std::collections::BTreeSet<String> {
        let kinds = self.kubectl_ok(&[
            "api-resources",
            "--namespaced=false",
            "--verbs=list",
            "-o",
            "name",
        ]);
        let kinds: Vec<&str> = kinds
            .lines()
            .map(str::trim)
            // Deprecated, and served by probing components this control plane does not run.
            .filter(|k| !k.is_empty() && *k != "componentstatuses")
            .collect();
        let out = self.kubectl_ok(&["get", &kinds.join(","), "-o", "name"]);
        out.lines().map(str::to_string).collect()
    }

    pub fn events(&self, ns: &str) -> Vec<Value> {
        let out = self.kubectl_ok(&["-n", ns, "get", "events.events.k8s.io", "-o", "json"]);
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// Every one of `reasons` was published as an event in `ns`.
    pub fn assert_events(&self, ns: &str, reasons: &[&str]) {
        let seen: Vec<String> = self
            .events(ns)
            .iter()
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect();
        for r in reasons {
            assert!(seen.iter().any(|x| x == r), "event {r} missing: {seen:?}");
        }
    }
}

/// CRD and RBAC from the repo, applied once per test process.
fn setup_once(cp: &ControlPlane) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let root = repo();
        let crds = root.join("crds");
        cp.kubectl_ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            crds.to_str().unwrap(),
        ]);
        cp.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/edasappmemberships.edas.operators.dev",
        ]);
        for f in ["namespace.yaml", "serviceaccount.yaml", "rbac.yaml"] {
            let p = root.join("deploy").join(f);
            cp.kubectl_ok(&["apply", "-f", p.to_str().unwrap()]);
        }
    });
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Wait for a TCP listener.
pub fn wait_port(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port} after {timeout:?}");
}

/// A simulator state document: `apps` of (appId, number of ECCs), all running.
pub fn sim_state(apps: &[(&str, usize)], seconds_per_instance: f64) -> Value {
    let apps: Vec<Value> = apps
        .iter()
        .enumerate()
        .map(|(i, (app, n))| {
            let ecus: Vec<Value> = (1..=*n)
                .map(|j| {
                    json!({"ecuId": format!("ecu-{app}-{j}"), "instanceId": format!("i-{app}-{j}"),
                           "ip": format!("10.{}.0.{j}", i + 1), "groupId": format!("grp-{app}")})
                })
                .collect();
            let eccs: Vec<Value> = (1..=*n)
                .map(|j| {
                    json!({"eccId": format!("ecc-{app}-{j}"), "ecuId": format!("ecu-{app}-{j}"),
                           "groupId": format!("grp-{app}"), "appState": 7, "taskState": 2})
                })
                .collect();
            json!({"appId": app, "regionId": "cn-hangzhou", "name": app,
                   "groups": [{"groupId": format!("grp-{app}"), "groupName": "_DEFAULT_GROUP"}],
                   "ecus": ecus, "eccs": eccs})
        })
        .collect();
    json!({
        "accessKeys": [{"id": ACCESS_KEY_ID, "secret": ACCESS_KEY_SECRET}],
        "apps": apps,
        "changeOrders": {"secondsPerInstance": seconds_per_instance, "batchType": "Automatic", "batchCount": 1},
    })
}

pub struct Sim {
    child: Child,
    pub port: u16,
    pub url: String,
    http: reqwest::Client,
}

impl Sim {
    pub fn start(state: &Value, name: &str) -> Sim {
        let port = free_port();
        let path = log_dir().join(format!("{name}-sim-state.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(state).unwrap()).unwrap();
        let log = std::fs::File::create(log_dir().join(format!("{name}-sim.log"))).unwrap();
        let child = Command::new(bin())
            .args([
                "simulate",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--state",
            ])
            .arg(&path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start simulator");
        wait_port(port, Duration::from_secs(20));
        edas_operator::install_crypto_provider();
        Sim {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("sim admin call")
            .json()
            .await
            .expect("sim admin json")
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::StatusCode {
        self.http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .expect("sim admin call")
            .status()
    }

    pub async fn state(&self) -> Value {
        self.get("/_sim/state").await
    }

    pub async fn calls(&self) -> Vec<Value> {
        self.get("/_sim/calls")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// An OIDC token the simulator's STS accepts for `provider` (expired when `ttl_seconds`
    /// is 0 or less). Recorded for the secret scan.
    pub async fn mint_token(&self, provider: &str, ttl_seconds: i64) -> String {
        let resp: Value = self
            .http
            .post(format!("{}/_sim/oidc-tokens", self.url))
            .json(&json!({"provider": provider, "ttlSeconds": ttl_seconds}))
            .send()
            .await
            .expect("mint token")
            .json()
            .await
            .expect("token json");
        let token = resp["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {resp}"))
            .to_string();
        record_secret(&token);
        token
    }

    /// Temporary credentials the simulator's STS issued, secrets included (recorded for the
    /// secret scan).
    pub async fn issued(&self) -> Vec<Value> {
        let all = self
            .get("/_sim/sts/issued")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default();
        for i in &all {
            for k in ["accessKeySecret", "securityToken"] {
                if let Some(s) = i[k].as_str() {
                    record_secret(s);
                }
            }
        }
        all
    }

    /// ECC ids the app has now.
    pub async fn eccs(&self, app: &str) -> Vec<String> {
        let st = self.state().await;
        let mut ids: Vec<String> = st["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["appId"] == app)
            .flat_map(|a| a["eccs"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["eccId"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids
    }

    /// ScaleInApplication calls for an app, as (EccInfo split, http status, code).
    pub async fn scale_ins(&self, app: &str) -> Vec<Vec<String>> {
        self.calls()
            .await
            .into_iter()
            .filter(|c| c["action"] == "ScaleInApplication" && c["params"]["AppId"] == app)
            .map(|c| {
                c["params"]["EccInfo"]
                    .as_str()
                    .unwrap_or("")
                    .split(',')
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Operator {
    child: Option<Child>,
    /// The program and its leading arguments that run the operator; empty: `operator_bin()`.
    /// (`hack/image.sh podman run ... IMAGE` runs the container image instead.)
    launcher: Vec<String>,
    pub name: String,
    pub metrics_port: u16,
    args: Vec<String>,
    kubeconfig: String,
    pub env: Vec<(String, String)>,
    pub starts: u32,
}

impl Operator {
    /// The operator out of cluster, with the limited identity, watching `namespaces`.
    pub fn start(
        cp: &ControlPlane,
        sim: &Sim,
        namespaces: &[&str],
        name: &str,
        extra: &[&str],
    ) -> Operator {
        Self::start_with_env(cp, sim, namespaces, name, extra, &[])
    }

    pub fn start_with_env(
        cp: &ControlPlane,
        sim: &Sim,
        namespaces: &[&str],
        name: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let mut args: Vec<String> = vec![
            "run".into(),
            "--watch-namespaces".into(),
            namespaces.join(","),
            "--edas-endpoint".into(),
            sim.url.clone(),
            "--resync-interval".into(),
            "10s".into(),
            "--failure-backoff".into(),
            "2s".into(),
            "--edas-timeout".into(),
            "5s".into(),
        ];
        // A flag given in `extra` replaces the default of the same name.
        for flag in extra.iter().filter(|a| a.starts_with("--")) {
            if let Some(i) = args.iter().position(|a| a == flag) {
                args.drain(i..i + 2);
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut op = Operator {
            child: None,
            launcher: Vec::new(),
            name: name.to_string(),
            metrics_port: 0,
            args,
            kubeconfig: cp.operator_kubeconfig.clone(),
            env: Vec::new(),
            starts: 0,
        };
        op.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        op.spawn();
        op
    }

    /// The operator with exactly `args` (after `launcher`, which runs it: empty for this
    /// build's binary), `kubeconfig` and `env`; `--metrics-addr` and `--kubeconfig` are added.
    pub fn start_raw(
        name: &str,
        launcher: Vec<String>,
        args: Vec<String>,
        kubeconfig: &str,
        env: Vec<(String, String)>,
    ) -> Operator {
        let mut op = Operator {
            child: None,
            launcher,
            name: name.to_string(),
            metrics_port: 0,
            args,
            kubeconfig: kubeconfig.to_string(),
            env,
            starts: 0,
        };
        op.spawn();
        op
    }

    fn spawn(&mut self) {
        self.metrics_port = free_port();
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_dir().join(format!("{}-operator.log", self.name)))
            .unwrap();
        let mut cmd = match self.launcher.split_first() {
            Some((program, leading)) => {
                let mut c = Command::new(program);
                c.args(leading);
                c
            }
            None => Command::new(operator_bin()),
        };
        let child = cmd
            .args(&self.args)
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{}", self.metrics_port),
            ])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("RUST_LOG", "info,edas_operator=debug")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .env_remove("ALIBABA_CLOUD_ROLE_ARN")
            .env_remove("ALIBABA_CLOUD_OIDC_PROVIDER_ARN")
            .env_remove("ALIBABA_CLOUD_OIDC_TOKEN_FILE")
            // Every test talks to loopback only: never the real instance metadata service.
            .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
            // Longer than any read lag the unkind simulator is tested with (5 s at most).
            .env("READ_LAG_HOLDOFF", "8s")
            .env("FORCED_HOLDOFF", "15s")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start operator");
        self.child = Some(child);
        self.wait_listening();
    }

    /// Wait for the metrics port, unless the process dies first (a fault point may abort it
    /// early); then the caller sees it in `exited()`.
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).is_ok() {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("operator {} not listening after 30 s", self.name);
    }

    /// The process ended on its own (e.g. a fault point aborted it).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn spawn_again(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGKILL, no goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(log_dir().join(format!("{}-operator.log", self.name)))
            .unwrap_or_default()
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .await
            .expect("metrics")
            .text()
            .await
            .unwrap_or_default()
    }
}

/// A plain HTTP GET over loopback, usable where no runtime is (Drop).
pub fn http_get_sync(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

impl Drop for Operator {
    fn drop(&mut self) {
        // Keep the last metrics for the secret scan in hack/test.sh.
        if let Some(m) = http_get_sync(self.metrics_port, "/metrics") {
            let _ = std::fs::write(log_dir().join(format!("{}-metrics.txt", self.name)), m);
        }
        if let Some(mut c) = self.child.take() {
            // SIGTERM first so shutdown is graceful, then make sure.
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A manifest for an EdasAppMembership.
pub fn membership(ns: &str, name: &str, app: &str, members: &[Value], extra_spec: Value) -> String {
    let mut spec = json!({
        "appId": app,
        "regionId": "cn-hangzhou",
        "members": members,
        "credentialsSecretRef": {"name": "edas-credentials"},
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_string(&json!({
        "apiVersion": "edas.operators.dev/v1alpha1",
        "kind": "EdasAppMembership",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
    .unwrap()
}

pub fn ecc(id: &str) -> Value {
    json!({"eccId": id})
}

pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

pub fn cond_is(obj: &Value, type_: &str, status: &str, reason: Option<&str>) -> bool {
    condition(obj, type_)
        .is_some_and(|c| c["status"] == status && reason.is_none_or(|r| c["reason"] == r))
}

/// Poll `f` until it returns Some, or panic after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A secret value a test made at run time (an OIDC token, issued STS credentials): appended to
/// `EDAS_E2E_SECRETS_FILE` (hack/test.sh sets it, outside the log directory), whose lines the
/// secret scan greps for after the suite.
pub fn record_secret(value: &str) {
    use std::io::Write;
    let Ok(path) = std::env::var("EDAS_E2E_SECRETS_FILE") else {
        return;
    };
    if value.trim().is_empty() {
        return;
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{value}");
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// ScaleIn attempts (every one that reached the simulator, accepted or refused) naming an ECC
/// after an earlier attempt naming it was carried out, unless that attempt's order failed:
/// `edas_operator::sim::duplicate_scale_in_attempts` over the simulator's call log and orders.
pub fn duplicate_attempts(calls: &[Value], state: &Value) -> u32 {
    let calls: Vec<edas_operator::sim::CallRecord> = calls
        .iter()
        .map(|c| serde_json::from_value(c.clone()).expect("call record"))
        .collect();
    let orders: Vec<edas_operator::sim::ChangeOrderSnapshot> =
        serde_json::from_value(state["changeOrders"].clone()).expect("change orders");
    edas_operator::sim::duplicate_scale_in_attempts(&calls, &orders)
        .values()
        .sum()
}
