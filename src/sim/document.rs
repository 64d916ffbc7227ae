//! The simulator's state document: what `--state FILE` and `POST /_sim/reset` take (YAML, JSON
//! accepted), its validation (errors name the bad field), and the built-in demo fleet.

pub use super::faults::{Faults, FaultsPatch};
use crate::edas::Operation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The whole document. Every section may be left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateDocument {
    #[serde(default)]
    pub access_keys: Vec<AccessKeyDoc>,
    #[serde(default)]
    pub apps: Vec<AppDoc>,
    #[serde(default)]
    pub change_orders: ChangeOrderSettings,
    /// Per access key, per operation, per minute; an operation left out keeps its documented
    /// limit (none for operations without one); 0 = no limit.
    #[serde(default)]
    pub limits: BTreeMap<String, u32>,
    #[serde(default)]
    pub faults: Faults,
    /// STS and the ECS metadata service: OIDC providers, roles and who may assume them.
    #[serde(default)]
    pub sts: super::sts::StsDoc,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessKeyDoc {
    pub id: String,
    pub secret: String,
    /// STS: when set, every request with this key must carry `x-acs-security-token` equal to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_token: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppDoc {
    pub app_id: String,
    #[serde(default = "default_region")]
    pub region_id: String,
    /// Default: the app id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Default: `cluster-<regionId>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Default: one group `<appId>-default` named `_DEFAULT_GROUP`.
    #[serde(default)]
    pub groups: Vec<GroupDoc>,
    /// Hosts of the app's cluster that the document lists with this app. An ECU is free for
    /// scale-out of ANY app of the same cluster while no app runs an ECC on it. An ECU may be
    /// listed by several apps of one cluster when they describe it alike (same instanceId and
    /// ip); two different ECUs may share an IP.
    #[serde(default)]
    pub ecus: Vec<EcuDoc>,
    /// ECUs running the app.
    #[serde(default)]
    pub eccs: Vec<EccDoc>,
}

fn default_region() -> String {
    "cn-hangzhou".into()
}

impl AppDoc {
    /// The app's cluster: `clusterId`, else `cluster-<regionId>`.
    pub fn cluster(&self) -> String {
        self.cluster_id
            .clone()
            .unwrap_or_else(|| format!("cluster-{}", self.region_id))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupDoc {
    pub group_id: String,
    /// Default: the group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EcuDoc {
    pub ecu_id: String,
    pub instance_id: String,
    pub ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EccDoc {
    pub ecc_id: String,
    pub ecu_id: String,
    /// Default: the ECU's group, else the app's first group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// 0 AGENT_OFF, 1 STOPPED, 3 RUNNING_BUT_URL_FAILED, 7 RUNNING (default).
    #[serde(default = "running")]
    pub app_state: i64,
    /// 0 UNKNOWN, 1 PROCESSING, 2 SUCCESS (default), 3 FAILED.
    #[serde(default = "success")]
    pub task_state: i64,
}

fn running() -> i64 {
    7
}
fn success() -> i64 {
    2
}

/// How change orders run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeOrderSettings {
    /// Time each instance's task takes (fractions allowed). An order is at 0 for the first
    /// half of this, then at 1 while its batches run.
    #[serde(default = "two")]
    pub seconds_per_instance: f64,
    #[serde(default)]
    pub batch_type: BatchType,
    /// Batches per order (at most one per instance).
    #[serde(default = "one")]
    pub batch_count: u32,
    /// Automatic release only: pause between batches, at status 9.
    #[serde(default)]
    pub batch_wait_seconds: f64,
}

fn two() -> f64 {
    2.0
}
fn one() -> u32 {
    1
}

impl Default for ChangeOrderSettings {
    fn default() -> Self {
        Self {
            seconds_per_instance: 2.0,
            batch_type: BatchType::Automatic,
            batch_count: 1,
            batch_wait_seconds: 0.0,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchType {
    #[default]
    Automatic,
    /// Pauses at status 8 after each batch until ContinuePipeline.
    Manual,
}

impl BatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchType::Automatic => "Automatic",
            BatchType::Manual => "Manual",
        }
    }
}

/// A state document that could not be read or does not hold together.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct DocumentError(pub String);

/// Parse a document: JSON when it starts with `{`, YAML otherwise. Errors name the field.
pub fn parse_document(text: &str) -> Result<StateDocument, DocumentError> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(DocumentError(
            "empty state document (expected YAML or JSON with accessKeys, apps, ...)".into(),
        ));
    }
    let doc: StateDocument = if trimmed.starts_with('{') {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| path_error("JSON", &e))?
    } else {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| path_error("YAML", &e))?
    };
    doc.validate()?;
    Ok(doc)
}

fn path_error<E: std::fmt::Display>(
    kind: &str,
    e: &serde_path_to_error::Error<E>,
) -> DocumentError {
    let path = e.path().to_string();
    let inner = e.inner().to_string();
    if path == "." || path.is_empty() {
        DocumentError(format!("invalid {kind} state document: {inner}"))
    } else if inner
        .split_once(": ")
        .is_some_and(|(prefix, _)| path.starts_with(prefix))
    {
        // serde_yaml_ng's messages already start with (most of) the path.
        DocumentError(inner)
    } else {
        DocumentError(format!("{path}: {inner}"))
    }
}

impl StateDocument {
    /// Check what serde cannot: references, uniqueness, ranges. The error names the field.
    pub fn validate(&self) -> Result<(), DocumentError> {
        self.validate_keys().map_err(DocumentError)?;
        let mut app_ids = BTreeSet::new();
        let mut ecc_ids = BTreeSet::new();
        for (a, app) in self.apps.iter().enumerate() {
            let p = format!("apps[{a}]");
            if app.app_id.trim().is_empty() || app.app_id.contains(',') {
                return Err(DocumentError(format!(
                    "{p}.appId: must be non-empty, without commas"
                )));
            }
            if !app_ids.insert(app.app_id.as_str()) {
                return Err(DocumentError(format!(
                    "{p}.appId: duplicate app id {:?}",
                    app.app_id
                )));
            }
            validate_app(app, &p, &mut ecc_ids).map_err(DocumentError)?;
        }
        validate_shared_ecus(&self.apps).map_err(DocumentError)?;
        self.validate_settings().map_err(DocumentError)?;
        self.sts.validate().map_err(DocumentError)?;
        self.faults.validate("faults.").map_err(DocumentError)?;
        self.faults
            .check_app_ids("faults.", &|id| app_ids.contains(id))
            .map_err(DocumentError)
    }

    fn validate_keys(&self) -> Result<(), String> {
        let mut key_ids = BTreeSet::new();
        for (i, k) in self.access_keys.iter().enumerate() {
            if k.id.trim().is_empty() {
                return Err(format!("accessKeys[{i}].id: must not be empty"));
            }
            if k.secret.is_empty() {
                return Err(format!("accessKeys[{i}].secret: must not be empty"));
            }
            if !key_ids.insert(k.id.as_str()) {
                return Err(format!(
                    "accessKeys[{i}].id: duplicate access key id {:?}",
                    k.id
                ));
            }
            if k.security_token.as_deref() == Some("") {
                return Err(format!(
                    "accessKeys[{i}].securityToken: must not be empty (leave it out instead)"
                ));
            }
        }
        Ok(())
    }

    fn validate_settings(&self) -> Result<(), String> {
        let co = &self.change_orders;
        if !co.seconds_per_instance.is_finite()
            || !(0.0..=86_400.0).contains(&co.seconds_per_instance)
        {
            return Err(format!(
                "changeOrders.secondsPerInstance: must be between 0 and 86400, got {}",
                co.seconds_per_instance
            ));
        }
        if !co.batch_wait_seconds.is_finite() || !(0.0..=86_400.0).contains(&co.batch_wait_seconds)
        {
            return Err(format!(
                "changeOrders.batchWaitSeconds: must be between 0 and 86400, got {}",
                co.batch_wait_seconds
            ));
        }
        if !(1..=100).contains(&co.batch_count) {
            return Err(format!(
                "changeOrders.batchCount: must be between 1 and 100, got {}",
                co.batch_count
            ));
        }
        for name in self.limits.keys() {
            if Operation::from_name(name).is_none() {
                let known: Vec<&str> = Operation::ALL.iter().map(|o| o.name()).collect();
                return Err(format!(
                    "limits.{name}: unknown operation (expected one of {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The built-in demo fleet (what `simulate` serves without `--state`).
    ///
    /// - access key `demo-access-key-id` / `demo-access-key-secret`; an STS key
    ///   `demo-sts-key-id` / `demo-sts-key-secret` with token `demo-security-token`;
    /// - `demo-app` (id [`DEMO_APP_ID`]) in cn-hangzhou: ECCs `ecc-demo-1..4` on ECUs
    ///   `ecu-demo-1..4` (ECS `i-demo-1..4`, 192.168.0.11-14), all running; free ECUs
    ///   `ecu-demo-5`, `ecu-demo-6` (192.168.0.15-16) for scale-out;
    /// - `demo-worker` (id [`DEMO_WORKER_ID`]): ECCs `ecc-worker-1..3` on `ecu-worker-1..3`
    ///   (`i-worker-1..3`, 192.168.0.21-23), free ECU `ecu-worker-4`;
    /// - 2 seconds per instance, one automatic batch.
    pub fn demo() -> StateDocument {
        let app = |app_id: &str, name: &str, tag: &str, ip_base: u32, running: u32, free: u32| {
            let group_id = format!("grp-{tag}-default");
            let ecus = (1..=running + free)
                .map(|n| EcuDoc {
                    ecu_id: format!("ecu-{tag}-{n}"),
                    instance_id: format!("i-{tag}-{n}"),
                    ip: format!("192.168.0.{}", ip_base + n),
                    group_id: Some(group_id.clone()),
                })
                .collect();
            let eccs = (1..=running)
                .map(|n| EccDoc {
                    ecc_id: format!("ecc-{tag}-{n}"),
                    ecu_id: format!("ecu-{tag}-{n}"),
                    group_id: Some(group_id.clone()),
                    app_state: 7,
                    task_state: 2,
                })
                .collect();
            AppDoc {
                app_id: app_id.into(),
                region_id: "cn-hangzhou".into(),
                name: Some(name.into()),
                cluster_id: Some("cluster-demo".into()),
                groups: vec![GroupDoc {
                    group_id,
                    group_name: Some("_DEFAULT_GROUP".into()),
                }],
                ecus,
                eccs,
            }
        };
        StateDocument {
            access_keys: vec![
                AccessKeyDoc {
                    id: DEMO_ACCESS_KEY_ID.into(),
                    secret: DEMO_ACCESS_KEY_SECRET.into(),
                    security_token: None,
                },
                AccessKeyDoc {
                    id: "demo-sts-key-id".into(),
                    secret: "demo-sts-key-secret".into(),
                    security_token: Some("demo-security-token".into()),
                },
            ],
            apps: vec![
                app(DEMO_APP_ID, "demo-app", "demo", 10, 4, 2),
                app(DEMO_WORKER_ID, "demo-worker", "worker", 20, 3, 1),
            ],
            change_orders: ChangeOrderSettings::default(),
            limits: BTreeMap::new(),
            faults: Faults::default(),
            sts: super::sts::StsDoc {
                max_session_seconds: 3600,
                oidc_providers: vec![DEMO_OIDC_PROVIDER_ARN.into()],
                roles: vec![super::sts::RoleDoc {
                    arn: DEMO_ROLE_ARN.into(),
                    oidc_providers: vec![DEMO_OIDC_PROVIDER_ARN.into()],
                    principals: vec![DEMO_ACCESS_KEY_ID.into()],
                    external_id: None,
                }],
                ecs_role: Some(DEMO_ROLE_ARN.into()),
            },
        }
    }
}

/// The demo's OIDC provider (RRSA) and the role it and the demo access key may assume.
pub const DEMO_OIDC_PROVIDER_ARN: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-demo";
pub const DEMO_ROLE_ARN: &str = "acs:ram::1234567890123456:role/edas-operator";

/// One app's region, groups, ECUs and ECCs; `ecc_ids` collects ECC ids across apps.
fn validate_app<'a>(
    app: &'a AppDoc,
    p: &str,
    ecc_ids: &mut BTreeSet<&'a str>,
) -> Result<(), String> {
    if crate::edas::endpoint::validate_region(&app.region_id).is_err() {
        return Err(format!(
            "{p}.regionId: not a region id: {:?}",
            app.region_id
        ));
    }
    let mut groups = BTreeSet::new();
    for (g, group) in app.groups.iter().enumerate() {
        if group.group_id.trim().is_empty() {
            return Err(format!("{p}.groups[{g}].groupId: must not be empty"));
        }
        if !groups.insert(group.group_id.as_str()) {
            return Err(format!(
                "{p}.groups[{g}].groupId: duplicate group id {:?}",
                group.group_id
            ));
        }
    }
    let group_known = |id: &str| groups.is_empty() || groups.contains(id);
    let ecus = validate_ecus(app, p, &group_known)?;
    let mut used_ecus = BTreeSet::new();
    for (c, ecc) in app.eccs.iter().enumerate() {
        let q = format!("{p}.eccs[{c}]");
        if ecc.ecc_id.trim().is_empty() || ecc.ecc_id.contains(',') {
            return Err(format!("{q}.eccId: must be non-empty, without commas"));
        }
        if !ecc_ids.insert(ecc.ecc_id.as_str()) {
            return Err(format!("{q}.eccId: duplicate ECC id {:?}", ecc.ecc_id));
        }
        if !ecus.contains(ecc.ecu_id.as_str()) {
            return Err(format!(
                "{q}.ecuId: ECU {:?} is not listed in {p}.ecus",
                ecc.ecu_id
            ));
        }
        if !used_ecus.insert(ecc.ecu_id.as_str()) {
            return Err(format!(
                "{q}.ecuId: ECU {:?} already runs another ECC of this app",
                ecc.ecu_id
            ));
        }
        if let Some(g) = &ecc.group_id
            && !group_known(g)
        {
            return Err(format!("{q}.groupId: group {g:?} is not in {p}.groups"));
        }
    }
    Ok(())
}

/// Across apps: an ECU id listed by several apps names one host (same cluster, instanceId and
/// ip), and an ECU runs at most one ECC of any app. Different ECUs may share an IP.
fn validate_shared_ecus(apps: &[AppDoc]) -> Result<(), String> {
    let mut hosts: BTreeMap<&str, (usize, String, &EcuDoc)> = BTreeMap::new();
    for (a, app) in apps.iter().enumerate() {
        let cluster = app.cluster();
        for (u, ecu) in app.ecus.iter().enumerate() {
            let Some((b, other_cluster, other)) = hosts.get(ecu.ecu_id.as_str()) else {
                hosts.insert(&ecu.ecu_id, (a, cluster.clone(), ecu));
                continue;
            };
            if *b == a {
                continue;
            }
            let q = format!("apps[{a}].ecus[{u}]");
            let first = format!("apps[{b}] ({:?})", apps[*b].app_id);
            if *other_cluster != cluster {
                return Err(format!(
                    "{q}.ecuId: ECU {:?} is also listed by {first} in cluster {other_cluster:?}, \
                     but this app is in cluster {cluster:?} (an ECU belongs to one cluster)",
                    ecu.ecu_id
                ));
            }
            if other.instance_id != ecu.instance_id || other.ip != ecu.ip {
                return Err(format!(
                    "{q}: ECU {:?} is also listed by {first} as instanceId {:?}, ip {:?}; an ECU \
                     listed by several apps must have the same instanceId and ip",
                    ecu.ecu_id, other.instance_id, other.ip
                ));
            }
        }
    }
    let mut running: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for (a, app) in apps.iter().enumerate() {
        for (c, ecc) in app.eccs.iter().enumerate() {
            if let Some((b, other)) = running.insert(&ecc.ecu_id, (a, &ecc.ecc_id))
                && b != a
            {
                return Err(format!(
                    "apps[{a}].eccs[{c}].ecuId: ECU {:?} already runs ECC {other:?} of apps[{b}] \
                     ({:?}); an ECU runs at most one application",
                    ecc.ecu_id, apps[b].app_id
                ));
            }
        }
    }
    Ok(())
}

/// An app's ECUs; answers their ids.
fn validate_ecus<'a>(
    app: &'a AppDoc,
    p: &str,
    group_known: &dyn Fn(&str) -> bool,
) -> Result<BTreeSet<&'a str>, String> {
    let mut ecus = BTreeSet::new();
    for (u, ecu) in app.ecus.iter().enumerate() {
        let q = format!("{p}.ecus[{u}]");
        if ecu.ecu_id.trim().is_empty() || ecu.ecu_id.contains(',') {
            return Err(format!("{q}.ecuId: must be non-empty, without commas"));
        }
        if !ecus.insert(ecu.ecu_id.as_str()) {
            return Err(format!("{q}.ecuId: duplicate ECU id {:?}", ecu.ecu_id));
        }
        if ecu.instance_id.trim().is_empty() {
            return Err(format!("{q}.instanceId: must not be empty"));
        }
        if ecu.ip.trim().is_empty() {
            return Err(format!("{q}.ip: must not be empty"));
        }
        if let Some(g) = &ecu.group_id
            && !group_known(g)
        {
            return Err(format!("{q}.groupId: group {g:?} is not in {p}.groups"));
        }
    }
    Ok(ecus)
}

pub const DEMO_ACCESS_KEY_ID: &str = "demo-access-key-id";
pub const DEMO_ACCESS_KEY_SECRET: &str = "demo-access-key-secret";
pub const DEMO_APP_ID: &str = "5e2f7c1a-7d3b-4c59-9a51-0d3e6f1a2b01";
pub const DEMO_WORKER_ID: &str = "5e2f7c1a-7d3b-4c59-9a51-0d3e6f1a2b02";

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
accessKeys: [{id: ak, secret: sk, securityToken: tok}]
apps:
  - appId: app-1
    regionId: cn-hangzhou
    name: one
    groups: [{groupId: g1, groupName: default}]
    ecus:
      - {ecuId: u1, instanceId: i-1, ip: 10.0.0.1, groupId: g1}
      - {ecuId: u2, instanceId: i-2, ip: 10.0.0.2}
    eccs: [{eccId: c1, ecuId: u1, groupId: g1, appState: 7, taskState: 2}]
changeOrders: {secondsPerInstance: 0.2, batchType: Manual, batchCount: 2}
limits: {QueryApplicationStatus: 100, GetChangeOrderInfo: 5}
faults: {errorRate: 0, throttleRate: 0.5, latencyMs: 0, dropRate: 0, failNextChangeOrders: 1, stallChangeOrders: false}
"#;

    #[test]
    fn documented_shape_parses() {
        let doc = parse_document(GOOD).unwrap();
        assert_eq!(doc.apps[0].eccs[0].ecc_id, "c1");
        assert_eq!(doc.change_orders.batch_type, BatchType::Manual);
        assert_eq!(doc.limits["GetChangeOrderInfo"], 5);
        assert_eq!(doc.access_keys[0].security_token.as_deref(), Some("tok"));
        assert_eq!(doc.faults.fail_next_change_orders, 1);
        assert_eq!(doc.faults.late_apply, None, "new faults are off by default");
        let with_new = GOOD.replace(
            "stallChangeOrders: false}",
            "stallChangeOrders: false, lateApply: {mode: hang, lateApplyMs: 5, appIds: [app-1]}, \
             staleReads: {staleReadMs: 10}, asyncForce: {delayMs: 1}}",
        );
        let doc = parse_document(&with_new).unwrap();
        let late = doc.faults.late_apply.unwrap();
        assert_eq!(
            (late.mode, late.late_apply_ms),
            (super::super::LateApplyMode::Hang, 5)
        );
        assert_eq!(doc.faults.stale_reads.unwrap().stale_read_ms, 10);
    }

    #[test]
    fn json_is_accepted_too() {
        let json = serde_json::to_string(&parse_document(GOOD).unwrap()).unwrap();
        assert_eq!(
            parse_document(&json).unwrap(),
            parse_document(GOOD).unwrap()
        );
    }

    #[test]
    fn demo_fleet_is_a_valid_document() {
        let demo = StateDocument::demo();
        demo.validate().unwrap();
        assert_eq!(demo.apps[0].eccs.len(), 4);
        assert_eq!(demo.apps[1].eccs.len(), 3);
        assert_eq!(demo.apps[0].ecus[3].instance_id, "i-demo-4");
        assert_eq!(demo.apps[0].ecus[3].ip, "192.168.0.14");
    }

    #[test]
    fn errors_name_the_bad_field() {
        let cases = [
            (
                GOOD.replace("ip: 10.0.0.2", "ipp: 10.0.0.2"),
                "apps[0].ecus[1]",
            ),
            (
                GOOD.replace("appState: 7", "appState: seven"),
                "apps[0].eccs[0].appState",
            ),
            (
                GOOD.replace(
                    "ecuId: u1, groupId: g1, appState",
                    "ecuId: u9, groupId: g1, appState",
                ),
                "apps[0].eccs[0].ecuId",
            ),
            (
                GOOD.replace("batchType: Manual", "batchType: Sometimes"),
                "changeOrders.batchType",
            ),
            (
                GOOD.replace("GetChangeOrderInfo: 5", "GetChangeOrder: 5"),
                "limits.GetChangeOrder",
            ),
            (
                GOOD.replace("throttleRate: 0.5", "throttleRate: 2"),
                "faults.throttleRate",
            ),
            (
                GOOD.replace("secret: sk", "secret: ''"),
                "accessKeys[0].secret",
            ),
            (
                GOOD.replace("groupId: g1, groupName", "groupId: '', groupName"),
                "apps[0].groups[0].groupId",
            ),
            (
                GOOD.replace("secondsPerInstance: 0.2", "secondsPerInstance: -1"),
                "changeOrders.secondsPerInstance",
            ),
            (
                r#"{"apps":[{"appId":"a","ecus":[{"ecuId":"u"}]}]}"#.to_string(),
                "apps[0].ecus[0]",
            ),
            (r#"{"apps":[{"appId":5}]}"#.to_string(), "apps[0].appId"),
            (
                GOOD.replace(
                    "stallChangeOrders: false}",
                    "stallChangeOrders: false, lateApply: {lateApplyMs: 5, appIds: [nope]}}",
                ),
                "faults.lateApply.appIds[0]",
            ),
            (
                GOOD.replace(
                    "stallChangeOrders: false}",
                    "stallChangeOrders: false, partialEcuList: {mode: sometimes}}",
                ),
                "faults.partialEcuList.mode",
            ),
        ];
        for (text, field) in cases {
            let e = parse_document(&text).unwrap_err().to_string();
            assert!(
                e.starts_with(field),
                "expected an error about {field}, got: {e}"
            );
        }
        assert!(parse_document("").is_err());
        assert!(parse_document("   \n").is_err());
        assert!(parse_document("- a\n- b\n").is_err());
    }

    #[test]
    fn faults_patch_is_checked() {
        let f = Faults::default();
        let p = FaultsPatch {
            drop_rate: Some(0.25),
            ..Default::default()
        };
        assert_eq!(f.patched(&p).unwrap().drop_rate, 0.25);
        let bad = FaultsPatch {
            error_rate: Some(1.5),
            ..Default::default()
        };
        assert!(f.patched(&bad).unwrap_err().contains("errorRate"));
    }
}
