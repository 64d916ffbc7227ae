//! PURE: spec + observed EDAS state -> plan. No I/O here.

use crate::crd::{EdasAppMembershipSpec, Member, PlannedAddition};
use crate::edas::{AppStatus, EccInstance, EcuHost};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// ECC ids present but not declared, in removal order: unhealthy first, then healthy,
    /// ECCs whose host EDAS did not name last; then by id.
    pub to_remove: Vec<String>,
    /// Declared members that resolve to no ECC of the app.
    pub missing: Vec<String>,
    /// ECC ids that the declaration names and the app has.
    pub declared: BTreeSet<String>,
    /// The next change order's ECC ids (at most maxPerChangeOrder), empty when nothing to do
    /// or blocked.
    pub next_batch: Vec<String>,
    /// Why the next removal is refused.
    pub blocked: Option<String>,
    /// Distinct healthy ECCs that would remain after the next batch.
    pub healthy_after_batch: usize,
    /// Why the observation cannot be planned on (EDAS did not say which host some ECCs run
    /// on, and members are named by host): nothing is removed while this is set.
    pub incomplete: Option<String>,
    /// Declared hosts that do not run the app, each with the free ECU it names (ScaleOut).
    pub to_add: Vec<PlannedAddition>,
    /// The next ScaleOut's ECU ids (at most scaleOut.maxPerChangeOrder). While anything is to
    /// be added, `next_batch` is empty: additions come first.
    pub add_batch: Vec<String>,
    /// Declared hosts that cannot be added, each with why (bad input): nothing is sent.
    pub unaddable: Vec<String>,
    /// Members that match more than one ECC of the app, each with the ECCs (bad input): every
    /// ECC they match counts as declared, and nothing is sent.
    pub ambiguous: Vec<String>,
    /// The free-ECU list this plan needs and was not given (or may be stale for a member it
    /// does not list).
    pub needs_ecus: Option<EcuNeed>,
}

/// Which ListScaleOutEcu answer a plan needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum EcuNeed {
    /// Any answer, a cached one will do.
    Any,
    /// One read in this pass: the cached one does not list a declared host.
    Fresh,
}

/// The free ECUs of the app's cluster (ListScaleOutEcu), and whether they were read in this
/// pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FreeEcus {
    pub ecus: Vec<EcuHost>,
    pub fresh: bool,
}

impl Plan {
    pub fn is_converged(&self) -> bool {
        self.to_remove.is_empty()
            && self.incomplete.is_none()
            && self.to_add.is_empty()
            && self.unaddable.is_empty()
            && self.ambiguous.is_empty()
    }
}

/// The free ECU a declared host names: exactly one, or why not.
pub fn resolve_free<'a>(member: &Member, free: &'a [EcuHost]) -> Result<&'a EcuHost, String> {
    let hits: Vec<&EcuHost> = free
        .iter()
        .filter(|u| {
            member.ecu_id.as_deref() == Some(u.ecu_id.as_str())
                || member.instance_id.as_deref() == Some(u.instance_id.as_str())
                || member.ip.as_deref() == Some(u.ip.as_str())
        })
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "{member} names no free ECU of the app's cluster (ListScaleOutEcu lists {} free ECU(s); an ECU that runs an application, is offline or is in another cluster is not listed)",
            free.len()
        )),
        many => Err(format!(
            "{member} matches {} ECUs ({}): name the host by instanceId or ecuId",
            many.len(),
            many.iter()
                .map(|u| u.ecu_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Every ECC of the app a member names (distinct ids, in the app's order). More than one is
/// ambiguous: two hosts of different networks may share an IP.
pub fn resolve<'a>(member: &Member, app: &'a AppStatus) -> Vec<&'a EccInstance> {
    let on_host = |pick: &dyn Fn(&EcuHost) -> bool, own: &dyn Fn(&EccInstance) -> bool| {
        let ecus: Vec<&str> = app
            .ecus
            .iter()
            .filter(|h| pick(h) && !h.ecu_id.is_empty())
            .map(|h| h.ecu_id.as_str())
            .collect();
        app.eccs
            .iter()
            .filter(|e| own(e) || ecus.contains(&e.ecu_id.as_str()))
            .collect::<Vec<_>>()
    };
    let mut hits: Vec<&EccInstance> = if let Some(id) = member.ecc_id.as_deref() {
        app.eccs.iter().filter(|e| e.ecc_id == id).collect()
    } else if let Some(id) = member.ecu_id.as_deref() {
        app.eccs.iter().filter(|e| e.ecu_id == id).collect()
    } else if let Some(inst) = member.instance_id.as_deref() {
        on_host(&|h| h.instance_id == inst, &|e| e.instance_id == inst)
    } else if let Some(ip) = member.ip.as_deref() {
        on_host(&|h| h.ip == ip, &|e| e.ip == ip)
    } else {
        Vec::new()
    };
    let mut seen = BTreeSet::new();
    hits.retain(|e| seen.insert(e.ecc_id.as_str()));
    hits
}

/// One row per ECC id, in first-seen order. An ECC listed twice is healthy only if every
/// row says so (a duplicate must never add healthy capacity, nor appear twice in a batch).
pub fn dedupe(app: &AppStatus) -> AppStatus {
    let mut eccs: Vec<EccInstance> = Vec::with_capacity(app.eccs.len());
    for e in &app.eccs {
        match eccs.iter_mut().find(|k| k.ecc_id == e.ecc_id) {
            Some(kept) if kept.is_healthy() && !e.is_healthy() => *kept = e.clone(),
            Some(_) => {}
            None => eccs.push(e.clone()),
        }
    }
    AppStatus {
        eccs,
        ..app.clone()
    }
}

/// An ECC whose host (ECS instance id and IP) EDAS's answer does not name.
fn unidentified(e: &EccInstance) -> bool {
    e.instance_id.is_empty() || e.ip.is_empty()
}

/// Diff the declaration against the app and choose the next batch under the safety rules.
/// `app` should be deduplicated ([`dedupe`]); duplicates are dropped here too. `free` is the
/// app's cluster's free ECUs, when read; hosts to add are resolved against it.
pub fn compute(spec: &EdasAppMembershipSpec, app: &AppStatus, free: Option<&FreeEcus>) -> Plan {
    let app = &dedupe(app);
    let mut declared = BTreeSet::new();
    let mut absent: Vec<&Member> = Vec::new();
    let mut ambiguous = Vec::new();
    for m in &spec.members {
        match resolve(m, app).as_slice() {
            [] => absent.push(m),
            [e] => {
                declared.insert(e.ecc_id.clone());
            }
            many => {
                // Which one is meant is a guess: keep them all, and stop.
                declared.extend(many.iter().map(|e| e.ecc_id.clone()));
                ambiguous.push(format!(
                    "{m} matches {} ECCs of the app ({}): name the host by instanceId, ecuId or eccId",
                    many.len(),
                    many.iter()
                        .map(|e| format!("{} on ECU {}", e.ecc_id, e.ecu_id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    let by_host = spec.members.iter().any(|m| m.ecc_id.is_none());
    let gaps: Vec<&str> = app
        .eccs
        .iter()
        .filter(|e| unidentified(e) && !declared.contains(&e.ecc_id))
        .map(|e| e.ecc_id.as_str())
        .collect();
    let incomplete = (by_host && !gaps.is_empty()).then(|| {
        format!(
            "EDAS did not say which host ECC(s) {} run on (EcuList null, partial or without \
             InstanceId), and members are named by instanceId or ip: nothing is removed until \
             an answer names every host",
            gaps.join(",")
        )
    });
    let additions = plan_additions(spec, &absent, free, incomplete.is_some());
    let mut extra: Vec<&EccInstance> = app
        .eccs
        .iter()
        .filter(|e| !declared.contains(&e.ecc_id))
        .collect();
    // Unhealthy extras go first (removing them costs no serving capacity), but never one
    // whose host EDAS did not name.
    extra.sort_by_key(|e| (unidentified(e), e.is_healthy(), e.ecc_id.clone()));
    let to_remove: Vec<String> = extra.iter().map(|e| e.ecc_id.clone()).collect();

    let max = spec.scale_in.max_per_change_order.max(1) as usize;
    let batch: Vec<String> = to_remove.iter().take(max).cloned().collect();
    let batch_set: BTreeSet<&String> = batch.iter().collect();
    let healthy_after_batch = app
        .eccs
        .iter()
        .filter(|e| !batch_set.contains(&e.ecc_id) && e.is_healthy())
        .count();
    let min = spec.scale_in.min_remaining.max(0) as usize;
    let (next_batch, blocked) = if batch.is_empty()
        || incomplete.is_some()
        || !ambiguous.is_empty()
        || !additions.to_add.is_empty()
        || !additions.unaddable.is_empty()
        || additions.needs.is_some()
    {
        (Vec::new(), None)
    } else if healthy_after_batch < min {
        (
            Vec::new(),
            Some(format!(
                "removing {} would leave {} healthy member(s), fewer than minRemaining={}",
                batch.join(","),
                healthy_after_batch,
                min
            )),
        )
    } else {
        (batch, None)
    };
    let max_add = spec.scale_out.max_per_change_order.max(1) as usize;
    let add_batch = if ambiguous.is_empty() {
        additions
            .to_add
            .iter()
            .take(max_add)
            .map(|a| a.ecu_id.clone())
            .collect()
    } else {
        Vec::new()
    };
    Plan {
        to_remove,
        missing: additions.missing,
        declared,
        next_batch,
        blocked,
        healthy_after_batch,
        incomplete,
        to_add: additions.to_add,
        add_batch,
        unaddable: additions.unaddable,
        ambiguous,
        needs_ecus: additions.needs,
    }
}

struct Additions {
    to_add: Vec<PlannedAddition>,
    unaddable: Vec<String>,
    missing: Vec<String>,
    needs: Option<EcuNeed>,
}

/// Sort the absent members: to add (resolved to one free ECU), not addable (why), or missing
/// (named by eccId, or scale-out is off). Nothing is resolved while the observation is
/// incomplete: a host that runs the app may look absent then.
fn plan_additions(
    spec: &EdasAppMembershipSpec,
    absent: &[&Member],
    free: Option<&FreeEcus>,
    incomplete: bool,
) -> Additions {
    let mut out = Additions {
        to_add: Vec::new(),
        unaddable: Vec::new(),
        missing: Vec::new(),
        needs: None,
    };
    for m in absent {
        if !spec.scale_out.enabled || !m.is_addable() || incomplete {
            out.missing.push(m.to_string());
            continue;
        }
        let Some(free) = free else {
            out.needs = Some(EcuNeed::Any);
            out.missing.push(m.to_string());
            continue;
        };
        match resolve_free(m, &free.ecus) {
            Ok(u) => match out.to_add.iter().find(|a| a.ecu_id == u.ecu_id) {
                Some(a) => out.unaddable.push(format!(
                    "{m} names the same host (ECU {}) as {}",
                    u.ecu_id, a.member
                )),
                None => out.to_add.push(PlannedAddition {
                    member: m.to_string(),
                    ecu_id: u.ecu_id.clone(),
                }),
            },
            Err(_) if !free.fresh => {
                out.needs = Some(EcuNeed::Fresh);
                out.missing.push(m.to_string());
            }
            Err(why) => out.unaddable.push(why),
        }
    }
    if out.needs.is_some() {
        // Plan additions from one answer: all of them, or none yet.
        out.missing.extend(out.to_add.drain(..).map(|a| a.member));
        out.unaddable.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edas::{AppState, EcuHost, TaskState};

    fn ecc(id: &str, healthy: bool) -> EccInstance {
        EccInstance {
            ecc_id: id.into(),
            ecu_id: format!("ecu-{id}"),
            group_id: "g".into(),
            instance_id: format!("i-{id}"),
            ip: format!("10.0.0.{}", id.trim_start_matches('e')),
            app_state: if healthy {
                AppState::Running
            } else {
                AppState::Stopped
            },
            task_state: TaskState::Success,
        }
    }

    fn app(eccs: Vec<EccInstance>) -> AppStatus {
        AppStatus::from_eccs("app", "app", eccs)
    }

    fn spec(members: Vec<Member>) -> EdasAppMembershipSpec {
        let mut s: EdasAppMembershipSpec =
            serde_json::from_str(r#"{"appId":"app","regionId":"cn-hangzhou"}"#).unwrap();
        s.members = members;
        s
    }

    fn compute0(s: &EdasAppMembershipSpec, a: &AppStatus) -> Plan {
        compute(s, a, None)
    }

    fn by_ecc(id: &str) -> Member {
        Member {
            ecc_id: Some(id.into()),
            ..Default::default()
        }
    }

    #[test]
    fn extra_ecc_is_planned_for_removal() {
        let p = compute0(
            &spec(vec![by_ecc("e1"), by_ecc("e2")]),
            &app(vec![ecc("e1", true), ecc("e2", true), ecc("e3", true)]),
        );
        assert_eq!(p.to_remove, vec!["e3"]);
        assert_eq!(p.next_batch, vec!["e3"]);
        assert!(p.missing.is_empty());
        assert!(p.blocked.is_none());
    }

    #[test]
    fn members_resolve_by_instance_id_and_ip() {
        let m = vec![
            Member {
                instance_id: Some("i-e1".into()),
                ..Default::default()
            },
            Member {
                ip: Some("10.0.0.2".into()),
                ..Default::default()
            },
        ];
        let p = compute0(
            &spec(m),
            &app(vec![ecc("e1", true), ecc("e2", true), ecc("e3", true)]),
        );
        assert_eq!(p.to_remove, vec!["e3"]);
        assert_eq!(p.declared.len(), 2);
    }

    #[test]
    fn a_host_name_matching_two_eccs_is_ambiguous_and_removes_nothing() {
        let mut e2 = ecc("e2", true);
        let mut e3 = ecc("e3", true);
        e3.ip = e2.ip.clone();
        let mut a = app(vec![ecc("e1", true), e2.clone(), e3, ecc("e4", false)]);
        // The ECU list alone may carry the shared IP (the ECC row without it).
        e2.ip = String::new();
        a.eccs[1] = e2;
        let m = vec![
            by_ecc("e1"),
            Member {
                ip: Some("10.0.0.2".into()),
                ..Default::default()
            },
        ];
        let p = compute0(&spec(m), &a);
        assert_eq!(p.ambiguous.len(), 1, "{p:?}");
        assert!(
            p.ambiguous[0].contains(
                "ip=10.0.0.2 matches 2 ECCs of the app (e2 on ECU ecu-e2, e3 on ECU ecu-e3)"
            ),
            "{}",
            p.ambiguous[0]
        );
        assert!(p.next_batch.is_empty() && p.add_batch.is_empty());
        assert_eq!(p.to_remove, vec!["e4"], "neither match is counted extra");
        assert!(!p.is_converged());
    }

    #[test]
    fn declared_member_not_present_is_reported_missing() {
        let p = compute0(
            &spec(vec![by_ecc("e1"), by_ecc("e9")]),
            &app(vec![ecc("e1", true)]),
        );
        assert_eq!(p.missing, vec!["eccId=e9"]);
        assert!(p.is_converged());
    }

    #[test]
    fn batch_is_capped_by_max_per_change_order_and_unhealthy_go_first() {
        let mut s = spec(vec![by_ecc("e1")]);
        s.scale_in.max_per_change_order = 2;
        let p = compute0(
            &s,
            &app(vec![
                ecc("e1", true),
                ecc("e2", true),
                ecc("e3", true),
                ecc("e4", false),
            ]),
        );
        assert_eq!(p.to_remove, vec!["e4", "e2", "e3"]);
        assert_eq!(p.next_batch, vec!["e4", "e2"]);
    }

    #[test]
    fn min_remaining_blocks_a_removal_that_leaves_too_few_healthy() {
        let mut s = spec(vec![by_ecc("e1")]);
        s.scale_in.min_remaining = 2;
        // e1 declared but stopped; e2 the only healthy one, not declared.
        let p = compute0(&s, &app(vec![ecc("e1", false), ecc("e2", true)]));
        assert!(p.next_batch.is_empty());
        assert!(p.blocked.as_deref().unwrap().contains("minRemaining=2"));
    }

    #[test]
    fn empty_declaration_never_removes_the_last_healthy_ecc_by_default() {
        let p = compute0(&spec(vec![]), &app(vec![ecc("e1", true)]));
        assert!(p.blocked.is_some());
        assert!(p.next_batch.is_empty());
        let mut s = spec(vec![]);
        s.scale_in.min_remaining = 0;
        let p = compute0(&s, &app(vec![ecc("e1", true)]));
        assert_eq!(p.next_batch, vec!["e1"]);
    }

    #[test]
    fn converged_app_plans_nothing() {
        let p = compute0(&spec(vec![by_ecc("e1")]), &app(vec![ecc("e1", true)]));
        assert!(p.is_converged());
        assert!(p.next_batch.is_empty() && p.blocked.is_none());
    }

    #[test]
    fn incomplete_ecu_list_with_members_by_host_removes_nothing() {
        let m = vec![
            Member {
                instance_id: Some("i-e1".into()),
                ..Default::default()
            },
            Member {
                instance_id: Some("i-e2".into()),
                ..Default::default()
            },
        ];
        let mut a = app(vec![ecc("e1", true), ecc("e2", true), ecc("e3", false)]);
        // The join failed: EDAS listed no ECUs, so the client could not name the hosts.
        a.ecus.clear();
        for e in &mut a.eccs {
            e.instance_id.clear();
        }
        let p = compute0(&spec(m), &a);
        assert!(p.next_batch.is_empty());
        assert!(!p.is_converged());
        assert!(p.incomplete.as_deref().unwrap().contains("EcuList"));
    }

    #[test]
    fn an_ecu_row_without_instance_id_blocks_members_by_instance_id() {
        let m = vec![Member {
            instance_id: Some("i-e1".into()),
            ..Default::default()
        }];
        let mut a = app(vec![ecc("e1", true), ecc("e2", true), ecc("e3", true)]);
        a.eccs[0].instance_id.clear();
        a.ecus[0].instance_id.clear();
        let p = compute0(&spec(m), &a);
        assert!(p.incomplete.is_some(), "{p:?}");
        assert!(p.next_batch.is_empty());
    }

    #[test]
    fn members_by_ecc_id_need_no_host_join() {
        let mut a = app(vec![ecc("e1", true), ecc("e2", true)]);
        a.ecus.clear();
        for e in &mut a.eccs {
            e.instance_id.clear();
        }
        let p = compute0(&spec(vec![by_ecc("e1")]), &a);
        assert_eq!(p.next_batch, vec!["e2"]);
    }

    #[test]
    fn duplicate_rows_count_once_and_never_as_extra_health() {
        let mut s = spec(vec![by_ecc("d")]);
        s.scale_in.min_remaining = 2;
        // d listed twice and healthy, e healthy: removing e leaves ONE distinct healthy ECC.
        let p = compute0(
            &s,
            &app(vec![ecc("d", true), ecc("d", true), ecc("e", true)]),
        );
        assert!(p.next_batch.is_empty());
        assert!(p.blocked.is_some());
        assert_eq!(p.healthy_after_batch, 1);
        // x listed once healthy, once not: one entry in the batch, counted unhealthy.
        let mut s = spec(vec![by_ecc("d")]);
        s.scale_in.min_remaining = 0;
        let p = compute0(
            &s,
            &app(vec![ecc("x", true), ecc("d", true), ecc("x", false)]),
        );
        assert_eq!(p.next_batch, vec!["x"]);
        assert_eq!(
            dedupe(&app(vec![ecc("x", true), ecc("x", false)]))
                .eccs
                .len(),
            1
        );
        assert!(!dedupe(&app(vec![ecc("x", true), ecc("x", false)])).eccs[0].is_healthy());
    }

    #[test]
    fn ecc_without_a_known_host_is_never_picked_first() {
        let mut s = spec(vec![by_ecc("e1")]);
        s.scale_in.max_per_change_order = 1;
        s.scale_in.min_remaining = 0;
        let mut a = app(vec![ecc("e1", true), ecc("e2", false), ecc("e3", true)]);
        a.eccs[1].instance_id.clear();
        let p = compute0(&s, &a);
        assert_eq!(p.to_remove, vec!["e3", "e2"]);
        assert_eq!(p.next_batch, vec!["e3"]);
    }

    fn host(inst: &str) -> Member {
        Member {
            instance_id: Some(inst.into()),
            ..Default::default()
        }
    }

    fn free_ecu(id: &str, ip: &str) -> EcuHost {
        EcuHost {
            ecu_id: format!("ecu-{id}"),
            instance_id: format!("i-{id}"),
            ip: ip.into(),
        }
    }

    #[test]
    fn hosts_to_add_need_the_free_ecus_then_resolve_and_hold_removals_back() {
        let s = spec(vec![by_ecc("e1"), host("i-n1"), host("i-n2"), host("i-n3")]);
        let a = app(vec![ecc("e1", true), ecc("e2", true)]);
        let p = compute(&s, &a, None);
        assert_eq!(p.needs_ecus, Some(EcuNeed::Any));
        assert!(p.next_batch.is_empty() && p.to_add.is_empty());
        let mut s2 = s.clone();
        s2.scale_out.max_per_change_order = 2;
        let free = FreeEcus {
            ecus: vec![
                free_ecu("n1", "10.1.0.1"),
                free_ecu("n2", "10.1.0.2"),
                free_ecu("n3", "10.1.0.3"),
            ],
            fresh: false,
        };
        let p = compute(&s2, &a, Some(&free));
        assert_eq!(p.needs_ecus, None);
        assert_eq!(p.add_batch, vec!["ecu-n1", "ecu-n2"]);
        assert_eq!(p.to_add.len(), 3);
        assert_eq!(p.to_remove, vec!["e2"]);
        assert!(p.next_batch.is_empty(), "additions first");
        assert!(!p.is_converged());
    }

    #[test]
    fn a_host_a_cached_answer_lacks_asks_for_a_fresh_one_then_is_not_addable() {
        let s = spec(vec![by_ecc("e1"), host("i-new")]);
        let a = app(vec![ecc("e1", true)]);
        let stale = FreeEcus {
            ecus: vec![free_ecu("n1", "10.1.0.1")],
            fresh: false,
        };
        let p = compute(&s, &a, Some(&stale));
        assert_eq!(p.needs_ecus, Some(EcuNeed::Fresh));
        assert!(p.unaddable.is_empty());
        let fresh = FreeEcus {
            fresh: true,
            ..stale
        };
        let p = compute(&s, &a, Some(&fresh));
        assert_eq!(p.needs_ecus, None);
        assert!(p.unaddable[0].starts_with("instanceId=i-new names no free ECU"));
        assert!(!p.is_converged());
    }

    #[test]
    fn members_by_ecu_id_resolve_present_or_free_and_two_names_of_one_host_are_refused() {
        let by_ecu = Member {
            ecu_id: Some("ecu-e2".into()),
            ..Default::default()
        };
        let a = app(vec![ecc("e1", true), ecc("e2", true)]);
        let p = compute(&spec(vec![by_ecc("e1"), by_ecu]), &a, None);
        assert!(p.is_converged(), "{p:?}");
        let free = FreeEcus {
            ecus: vec![free_ecu("n1", "10.1.0.1")],
            fresh: true,
        };
        let twice = spec(vec![
            by_ecc("e1"),
            by_ecc("e2"),
            host("i-n1"),
            Member {
                ip: Some("10.1.0.1".into()),
                ..Default::default()
            },
        ]);
        let p = compute(&twice, &a, Some(&free));
        assert_eq!(p.unaddable.len(), 1, "{p:?}");
        assert!(p.unaddable[0].contains("names the same host (ECU ecu-n1) as instanceId=i-n1"));
    }

    #[test]
    fn with_scale_out_off_or_an_incomplete_observation_nothing_is_resolved() {
        let mut s = spec(vec![by_ecc("e1"), host("i-n1")]);
        s.scale_out.enabled = false;
        let a = app(vec![ecc("e1", true)]);
        let p = compute(&s, &a, None);
        assert_eq!(p.needs_ecus, None);
        assert_eq!(p.missing, vec!["instanceId=i-n1"]);
        assert!(p.is_converged());
    }
}
