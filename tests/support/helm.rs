//! The Helm CLI for the chart tests: `hack/helm.sh` builds it once (cached) and `hack/test.sh`
//! exports its path as `HELM`. Each `Helm` keeps its own config, cache and data directories,
//! so nothing of the user's Helm setup is read or written.

use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn chart_dir() -> PathBuf {
    super::repo().join("charts/edas-operator")
}

/// The helm binary from `HELM`. The tests that need it are `#[ignore]`d; asked for without
/// it, they fail rather than pass without having tested anything.
pub fn helm_bin() -> String {
    match std::env::var("HELM") {
        Ok(h) if !h.is_empty() => h,
        _ => panic!(
            "this test needs the Helm CLI and HELM is not set: run it with hack/test.sh (it builds \
             helm with hack/helm.sh and exports HELM)"
        ),
    }
}

pub struct Helm {
    bin: String,
    home: tempfile::TempDir,
    kubeconfig: Option<String>,
}

impl Helm {
    /// Helm against the cluster of `kubeconfig` (None: templating and linting only).
    pub fn new(kubeconfig: Option<&str>) -> Helm {
        Helm {
            bin: helm_bin(),
            home: tempfile::tempdir().expect("helm home"),
            kubeconfig: kubeconfig.map(str::to_string),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let home = self.home.path();
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env_remove("HELM_NAMESPACE")
            .env_remove("HELM_KUBECONTEXT")
            .stdin(Stdio::null());
        match &self.kubeconfig {
            Some(k) => cmd.env("KUBECONFIG", k),
            // No cluster: point at nothing rather than at the user's.
            None => cmd.env("KUBECONFIG", home.join("no-cluster")),
        };
        cmd.output().expect("run helm")
    }

    /// Run helm; panic with its output when it fails. Returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "helm {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `helm template` of the chart as release `release` in `namespace`, with `extra`
    /// arguments (`-f FILE`, `--set K=V`): the rendered objects.
    pub fn render(&self, release: &str, namespace: &str, extra: &[&str]) -> Vec<Value> {
        let chart = chart_dir();
        let mut args = vec![
            "template",
            release,
            super::path_str(&chart),
            "-n",
            namespace,
        ];
        args.extend_from_slice(extra);
        yaml_documents(&self.ok(&args))
    }
}

/// The documents of a multi-document YAML stream, as JSON values (empty documents dropped).
pub fn yaml_documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

pub fn yaml_file_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    yaml_documents(&text)
}

/// The one object of `kind` named `name` in `objects`; panics when there is none or several.
pub fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .collect();
    match found.as_slice() {
        [one] => one,
        _ => panic!(
            "expected one {kind} {name}, found {}: {:?}",
            found.len(),
            kinds_and_names(objects)
        ),
    }
}

/// `Kind/name` (or `Kind/namespace/name`) of each object, sorted.
pub fn kinds_and_names(objects: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = objects
        .iter()
        .map(|o| {
            let (k, n) = (
                o["kind"].as_str().unwrap_or("?"),
                o["metadata"]["name"].as_str().unwrap_or("?"),
            );
            match o["metadata"]["namespace"].as_str() {
                Some(ns) => format!("{k}/{ns}/{n}"),
                None => format!("{k}/{n}"),
            }
        })
        .collect();
    v.sort();
    v
}

/// The operator container of a rendered or live Deployment.
pub fn operator_container(deployment: &Value) -> &Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "operator"))
        .expect("container `operator`")
}

/// A container's plain `env` values (name -> value); `valueFrom` entries are left out.
pub fn env_values(container: &Value) -> std::collections::BTreeMap<String, String> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// A container's env variable names, in order.
pub fn env_names(container: &Value) -> Vec<String> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}
