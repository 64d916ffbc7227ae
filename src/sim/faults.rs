//! Injected faults: what they are (the `faults:` section of the state document and
//! `POST /_sim/faults`), how they are checked (errors name the field), and how they shape
//! answers. Every fault is off by default. The faults that name apps (`appIds`) apply to those
//! apps only; without `appIds` (or with an empty list) they apply to every app.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

/// The longest `lateApplyMs` / `asyncForce.delayMs`: one day.
pub const MAX_DELAY_MS: u64 = 86_400_000;
/// The longest `staleReadMs`: one hour.
pub const MAX_STALE_MS: u64 = 3_600_000;

/// Injected faults. In the state document and in `GET /_sim/state`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Share of API calls answered 503 ServiceUnavailable (before anything is done).
    #[serde(default)]
    pub error_rate: f64,
    /// Share of authenticated API calls answered Throttling.User.
    #[serde(default)]
    pub throttle_rate: f64,
    /// Added to every API call.
    #[serde(default)]
    pub latency_ms: u64,
    /// Share of API calls whose connection is closed without an answer, AFTER the call was
    /// carried out (a mutation is applied; its answer is lost).
    #[serde(default)]
    pub drop_rate: f64,
    /// The next N change orders fail (status 3) on their last task.
    #[serde(default)]
    pub fail_next_change_orders: u32,
    /// Change orders created while this is on stay at status 1; turning it off resumes them.
    #[serde(default)]
    pub stall_change_orders: bool,
    /// Share of successful read answers sent malformed (HTTP 200, a JSON body cut short).
    /// Mutations are never garbled (a lost mutation answer is what `dropRate` is for).
    #[serde(default)]
    pub malformed_rate: f64,
    /// ScaleIn/ScaleOut are answered with a gateway failure and carried out later.
    #[serde(default)]
    pub late_apply: Option<LateApply>,
    /// Reads answer from the state as it was `staleReadMs` ago.
    #[serde(default)]
    pub stale_reads: Option<StaleReads>,
    /// QueryApplicationStatus sends an EcuList that does not cover the EccList.
    #[serde(default)]
    pub partial_ecu_list: Option<PartialEcuList>,
    /// QueryApplicationStatus lists ECCs twice, once healthy, once not.
    #[serde(default)]
    pub duplicate_rows: Option<DuplicateRows>,
    /// A forced ScaleIn answers at once but removes its ECCs later.
    #[serde(default)]
    pub async_force: Option<AsyncForce>,
    /// ScaleOut orders succeed, but the ECCs they create come up STOPPED (not healthy).
    #[serde(default)]
    pub unhealthy_scale_out: Option<UnhealthyScaleOut>,
}

/// How a late-applied mutation is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LateApplyMode {
    /// HTTP 504, gateway body `{"Code":"ServiceTimeout",...}`.
    #[default]
    Gateway504,
    /// The connection is closed without an answer.
    Drop,
    /// No answer: the connection is held (10 minutes at most) until the client gives up.
    Hang,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LateApply {
    #[serde(default)]
    pub mode: LateApplyMode,
    /// How long after the call the back end carries it out (simulator clock).
    pub late_apply_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_ids: Vec<String>,
    /// Only the next N mutations (of the apps named); then the fault switches itself off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaleReads {
    /// QueryApplicationStatus, ListRecentChangeOrder and GetChangeOrderInfo show the state as
    /// it was this long ago.
    pub stale_read_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_ids: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PartialEcuListMode {
    /// `"EcuList": null`.
    #[default]
    Null,
    /// `"EcuList": {"Ecu": []}`.
    Empty,
    /// The ECU rows of the 1st, 3rd, 5th... ECC are left out.
    Missing,
    /// Every ECU row has `"InstanceId": ""`.
    EmptyInstanceId,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartialEcuList {
    #[serde(default)]
    pub mode: PartialEcuListMode,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_ids: Vec<String>,
    /// Also send `"Ip": ""` on the ECC rows whose ECU row is missing or has no InstanceId.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_ecc_ip: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DuplicateRows {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_ids: Vec<String>,
    /// Only the first ECC is listed twice (default: every ECC).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_only: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AsyncForce {
    /// How long after a forced ScaleIn its ECCs leave the app (simulator clock).
    pub delay_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_ids: Vec<String>,
}

/// ScaleOut orders (API or console) created while this is on, for the apps named, succeed,
/// but every ECC they create comes up with AppState 1 (STOPPED) and TaskState 2 (SUCCESS)
/// instead of 7 (RUNNING). The ECC stays so until a Start, Restart or Deploy order runs on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnhealthyScaleOut {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_ids: Vec<String>,
}

/// `null` in a patch switches a fault off; a missing key leaves it as it is.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /_sim/faults`: any subset of [`Faults`]. For the faults that are objects, `null`
/// switches the fault off.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_next_change_orders: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_change_orders: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malformed_rate: Option<f64>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub late_apply: Option<Option<LateApply>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub stale_reads: Option<Option<StaleReads>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub partial_ecu_list: Option<Option<PartialEcuList>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub duplicate_rows: Option<Option<DuplicateRows>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub async_force: Option<Option<AsyncForce>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub unhealthy_scale_out: Option<Option<UnhealthyScaleOut>>,
}

fn set<T: Clone>(field: &mut T, patch: &Option<T>) {
    if let Some(v) = patch {
        *field = v.clone();
    }
}

/// Without app ids, every app.
fn names(app_ids: &[String], app_id: &str) -> bool {
    app_ids.is_empty() || app_ids.iter().any(|a| a == app_id)
}

impl Faults {
    /// The faults after applying `patch`, or what is wrong with it (naming the field).
    pub fn patched(&self, patch: &FaultsPatch) -> Result<Faults, String> {
        let mut f = self.clone();
        set(&mut f.error_rate, &patch.error_rate);
        set(&mut f.throttle_rate, &patch.throttle_rate);
        set(&mut f.latency_ms, &patch.latency_ms);
        set(&mut f.drop_rate, &patch.drop_rate);
        set(
            &mut f.fail_next_change_orders,
            &patch.fail_next_change_orders,
        );
        set(&mut f.stall_change_orders, &patch.stall_change_orders);
        set(&mut f.malformed_rate, &patch.malformed_rate);
        set(&mut f.late_apply, &patch.late_apply);
        set(&mut f.stale_reads, &patch.stale_reads);
        set(&mut f.partial_ecu_list, &patch.partial_ecu_list);
        set(&mut f.duplicate_rows, &patch.duplicate_rows);
        set(&mut f.async_force, &patch.async_force);
        set(&mut f.unhealthy_scale_out, &patch.unhealthy_scale_out);
        f.validate("")?;
        Ok(f)
    }

    /// Ranges and shapes; `prefix` is where the faults sit (`faults.` in a document).
    pub(crate) fn validate(&self, prefix: &str) -> Result<(), String> {
        for (name, v) in [
            ("errorRate", self.error_rate),
            ("throttleRate", self.throttle_rate),
            ("dropRate", self.drop_rate),
            ("malformedRate", self.malformed_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!(
                    "{prefix}{name}: must be a share between 0 and 1, got {v}"
                ));
            }
        }
        if self.latency_ms > 600_000 {
            return Err(format!(
                "{prefix}latencyMs: at most 600000 (10 minutes), got {}",
                self.latency_ms
            ));
        }
        let at_most = |field: &str, v: u64, max: u64| {
            if v > max {
                Err(format!("{prefix}{field}: at most {max}, got {v}"))
            } else {
                Ok(())
            }
        };
        if let Some(l) = &self.late_apply {
            at_most("lateApply.lateApplyMs", l.late_apply_ms, MAX_DELAY_MS)?;
            if l.times == Some(0) {
                return Err(format!(
                    "{prefix}lateApply.times: must be at least 1 (leave it out for every \
                     mutation, or set lateApply to null to switch the fault off)"
                ));
            }
        }
        if let Some(s) = &self.stale_reads {
            at_most("staleReads.staleReadMs", s.stale_read_ms, MAX_STALE_MS)?;
        }
        if let Some(a) = &self.async_force {
            at_most("asyncForce.delayMs", a.delay_ms, MAX_DELAY_MS)?;
        }
        self.check_app_ids(prefix, &|_| true)
    }

    /// Every `appIds` entry is non-empty and `known`.
    pub(crate) fn check_app_ids(
        &self,
        prefix: &str,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<(), String> {
        let lists: [(&str, Option<&Vec<String>>); 6] = [
            ("lateApply", self.late_apply.as_ref().map(|f| &f.app_ids)),
            ("staleReads", self.stale_reads.as_ref().map(|f| &f.app_ids)),
            (
                "partialEcuList",
                self.partial_ecu_list.as_ref().map(|f| &f.app_ids),
            ),
            (
                "duplicateRows",
                self.duplicate_rows.as_ref().map(|f| &f.app_ids),
            ),
            ("asyncForce", self.async_force.as_ref().map(|f| &f.app_ids)),
            (
                "unhealthyScaleOut",
                self.unhealthy_scale_out.as_ref().map(|f| &f.app_ids),
            ),
        ];
        for (fault, ids) in lists {
            for (i, id) in ids.into_iter().flatten().enumerate() {
                if id.trim().is_empty() {
                    return Err(format!("{prefix}{fault}.appIds[{i}]: must not be empty"));
                }
                if !known(id) {
                    return Err(format!(
                        "{prefix}{fault}.appIds[{i}]: application {id:?} does not exist"
                    ));
                }
            }
        }
        Ok(())
    }

    /// `lateApply` for a mutation of `app_id`: its mode and delay. Counts the mutation against
    /// `times`, switching the fault off when they are used up.
    pub(crate) fn take_late_apply(&mut self, app_id: &str) -> Option<(LateApplyMode, i64)> {
        let l = self
            .late_apply
            .as_mut()
            .filter(|l| names(&l.app_ids, app_id))?;
        let taken = (l.mode, l.late_apply_ms as i64);
        if let Some(n) = l.times.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.late_apply = None;
            }
        }
        Some(taken)
    }

    /// `staleReads` lag for reads of `app_id`, if any.
    pub(crate) fn stale_lag(&self, app_id: &str) -> Option<i64> {
        self.stale_reads
            .as_ref()
            .filter(|s| names(&s.app_ids, app_id))
            .map(|s| s.stale_read_ms as i64)
    }

    /// `asyncForce` delay for a forced scale-in of `app_id`, if any.
    pub(crate) fn force_delay(&self, app_id: &str) -> Option<i64> {
        self.async_force
            .as_ref()
            .filter(|a| names(&a.app_ids, app_id))
            .map(|a| a.delay_ms as i64)
    }

    /// `unhealthyScaleOut` covers a ScaleOut of `app_id`.
    pub(crate) fn unhealthy_scale_out(&self, app_id: &str) -> bool {
        self.unhealthy_scale_out
            .as_ref()
            .is_some_and(|u| names(&u.app_ids, app_id))
    }

    /// A successful QueryApplicationStatus body as `partialEcuList` and `duplicateRows` have
    /// it (in that order).
    pub(crate) fn shape_app_status(&self, app_id: &str, body: &mut Value) {
        let Some(info) = body.get_mut("AppInfo").filter(|i| i.is_object()) else {
            return;
        };
        if let Some(p) = self
            .partial_ecu_list
            .as_ref()
            .filter(|p| names(&p.app_ids, app_id))
        {
            degrade_ecu_list(p, info);
        }
        if let Some(d) = self
            .duplicate_rows
            .as_ref()
            .filter(|d| names(&d.app_ids, app_id))
        {
            duplicate_ecc_rows(d, info);
        }
    }
}

fn rows<'a>(info: &'a mut Value, pointer: &str) -> Option<&'a mut Vec<Value>> {
    info.pointer_mut(pointer).and_then(Value::as_array_mut)
}

fn ecu_of(row: &Value) -> String {
    row["EcuId"].as_str().unwrap_or_default().to_string()
}

fn degrade_ecu_list(p: &PartialEcuList, info: &mut Value) {
    let ecc_ecus: Vec<String> = rows(info, "/EccList/Ecc")
        .map(|r| r.iter().map(ecu_of).collect())
        .unwrap_or_default();
    let affected: Vec<String> = match p.mode {
        PartialEcuListMode::Null => {
            info["EcuList"] = Value::Null;
            ecc_ecus
        }
        PartialEcuListMode::Empty => {
            info["EcuList"] = json!({ "Ecu": [] });
            ecc_ecus
        }
        PartialEcuListMode::Missing => {
            let gone: Vec<String> = ecc_ecus.into_iter().step_by(2).collect();
            if let Some(ecus) = rows(info, "/EcuList/Ecu") {
                ecus.retain(|u| !gone.contains(&ecu_of(u)));
            }
            gone
        }
        PartialEcuListMode::EmptyInstanceId => {
            for u in rows(info, "/EcuList/Ecu").into_iter().flatten() {
                u["InstanceId"] = json!("");
            }
            ecc_ecus
        }
    };
    if p.empty_ecc_ip {
        for e in rows(info, "/EccList/Ecc").into_iter().flatten() {
            if affected.contains(&ecu_of(e)) {
                e["Ip"] = json!("");
            }
        }
    }
}

/// The copy is STOPPED (AppState 1) with a FAILED last task (TaskState 3), appended after
/// the real rows.
fn duplicate_ecc_rows(d: &DuplicateRows, info: &mut Value) {
    let Some(eccs) = rows(info, "/EccList/Ecc") else {
        return;
    };
    let n = if d.first_only {
        eccs.len().min(1)
    } else {
        eccs.len()
    };
    let copies: Vec<Value> = eccs[..n]
        .iter()
        .map(|row| {
            let mut copy = row.clone();
            copy["AppState"] = json!(1);
            copy["TaskState"] = json!(3);
            copy
        })
        .collect();
    eccs.extend(copies);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        json!({"Code": 200, "AppInfo": {
            "EccList": {"Ecc": [
                {"EccId": "c1", "EcuId": "u1", "Ip": "10.0.0.1", "AppState": 7, "TaskState": 2},
                {"EccId": "c2", "EcuId": "u2", "Ip": "10.0.0.2", "AppState": 7, "TaskState": 2},
                {"EccId": "c3", "EcuId": "u3", "Ip": "10.0.0.3", "AppState": 7, "TaskState": 2}
            ]},
            "EcuList": {"Ecu": [
                {"EcuId": "u1", "InstanceId": "i-1"},
                {"EcuId": "u2", "InstanceId": "i-2"},
                {"EcuId": "u3", "InstanceId": "i-3"}
            ]}
        }})
    }

    fn shaped(faults: Faults, app: &str) -> Value {
        let mut b = body();
        faults.shape_app_status(app, &mut b);
        b["AppInfo"].clone()
    }

    fn partial(mode: PartialEcuListMode, empty_ecc_ip: bool) -> Faults {
        Faults {
            partial_ecu_list: Some(PartialEcuList {
                mode,
                app_ids: vec!["app".into()],
                empty_ecc_ip,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn partial_ecu_list_modes_shape_the_ecu_list() {
        let info = shaped(partial(PartialEcuListMode::Null, false), "app");
        assert!(info["EcuList"].is_null());
        let info = shaped(partial(PartialEcuListMode::Empty, true), "app");
        assert_eq!(info["EcuList"], json!({"Ecu": []}));
        assert!(
            info["EccList"]["Ecc"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["Ip"] == "")
        );
        let info = shaped(partial(PartialEcuListMode::Missing, true), "app");
        let ecus: Vec<&str> = info["EcuList"]["Ecu"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["EcuId"].as_str().unwrap())
            .collect();
        assert_eq!(ecus, vec!["u2"]);
        assert_eq!(info["EccList"]["Ecc"][0]["Ip"], "");
        assert_eq!(info["EccList"]["Ecc"][1]["Ip"], "10.0.0.2");
        let info = shaped(partial(PartialEcuListMode::EmptyInstanceId, false), "app");
        assert_eq!(info["EcuList"]["Ecu"][2]["InstanceId"], "");
        assert_eq!(info["EccList"]["Ecc"][2]["Ip"], "10.0.0.3");
    }

    #[test]
    fn faults_naming_other_apps_leave_the_answer_alone() {
        let info = shaped(partial(PartialEcuListMode::Null, true), "other");
        assert_eq!(info, body()["AppInfo"]);
    }

    #[test]
    fn duplicate_rows_add_an_unhealthy_copy() {
        let dup = |first_only| Faults {
            duplicate_rows: Some(DuplicateRows {
                app_ids: vec![],
                first_only,
            }),
            ..Default::default()
        };
        let info = shaped(dup(true), "any");
        let eccs = info["EccList"]["Ecc"].as_array().unwrap();
        assert_eq!(eccs.len(), 4);
        assert_eq!(eccs[3]["EccId"], "c1");
        assert_eq!(
            (eccs[3]["AppState"].clone(), eccs[3]["TaskState"].clone()),
            (json!(1), json!(3))
        );
        assert_eq!(eccs[0]["AppState"], 7);
        let info = shaped(dup(false), "any");
        assert_eq!(info["EccList"]["Ecc"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn late_apply_times_count_down_and_switch_the_fault_off() {
        let mut f = Faults {
            late_apply: Some(LateApply {
                mode: LateApplyMode::Drop,
                late_apply_ms: 500,
                app_ids: vec!["a".into()],
                times: Some(2),
            }),
            ..Default::default()
        };
        assert_eq!(f.take_late_apply("b"), None);
        assert_eq!(f.take_late_apply("a"), Some((LateApplyMode::Drop, 500)));
        assert_eq!(f.late_apply.as_ref().unwrap().times, Some(1));
        assert_eq!(f.take_late_apply("a"), Some((LateApplyMode::Drop, 500)));
        assert_eq!(f.late_apply, None);
        assert_eq!(f.take_late_apply("a"), None);
    }

    #[test]
    fn patch_null_switches_a_fault_off_and_a_missing_key_keeps_it() {
        let on: FaultsPatch = serde_json::from_str(
            r#"{"staleReads": {"staleReadMs": 2000}, "asyncForce": {"delayMs": 10}}"#,
        )
        .unwrap();
        let f = Faults::default().patched(&on).unwrap();
        assert_eq!(f.stale_reads.as_ref().unwrap().stale_read_ms, 2000);
        let off: FaultsPatch = serde_json::from_str(r#"{"staleReads": null}"#).unwrap();
        let f = f.patched(&off).unwrap();
        assert_eq!(f.stale_reads, None);
        assert_eq!(f.async_force.as_ref().unwrap().delay_ms, 10);
    }

    #[test]
    fn bad_new_faults_are_refused_naming_the_field() {
        let cases = [
            (
                r#"{"lateApply": {"lateApplyMs": 99999999999}}"#,
                "lateApply.lateApplyMs",
            ),
            (
                r#"{"lateApply": {"lateApplyMs": 5, "times": 0}}"#,
                "lateApply.times",
            ),
            (
                r#"{"staleReads": {"staleReadMs": 3600001}}"#,
                "staleReads.staleReadMs",
            ),
            (
                r#"{"asyncForce": {"delayMs": 86400001}}"#,
                "asyncForce.delayMs",
            ),
            (
                r#"{"duplicateRows": {"appIds": [""]}}"#,
                "duplicateRows.appIds[0]",
            ),
            (
                r#"{"unhealthyScaleOut": {"appIds": ["a", " "]}}"#,
                "unhealthyScaleOut.appIds[1]",
            ),
        ];
        for (json, field) in cases {
            let patch: FaultsPatch = serde_json::from_str(json).unwrap();
            let e = Faults::default().patched(&patch).unwrap_err();
            assert!(e.starts_with(field), "{json}: {e}");
        }
        let e = Faults {
            async_force: Some(AsyncForce {
                delay_ms: 1,
                app_ids: vec!["ghost".into()],
            }),
            ..Default::default()
        }
        .check_app_ids("faults.", &|id| id == "real")
        .unwrap_err();
        assert!(e.starts_with("faults.asyncForce.appIds[0]"), "{e}");
    }
}
