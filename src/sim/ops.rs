//! One method per EDAS operation, on the model, producing the wire types the client decodes.
//! Business errors are `ApiError::Business` (Code 601); parameters were parsed by the caller.
//! Reads of an app covered by `staleReads` answer from an older version of it (see `lag.rs`).

use super::document::EcuDoc;
use super::error::ApiError;
use super::lag::Deferred;
use super::model::{App, CoKind, NewOrder, Order, TaskSeed, user_of};
use super::orders;
use super::state::Inner;
use crate::edas::{CoStatus, wire};
use std::collections::{HashMap, HashSet};

/// Why an ECU cannot take an app now.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Taken<'a> {
    /// It runs this ECC of this app.
    Runs(&'a App, &'a str),
    /// This unfinished ScaleOut order is adding it.
    Adding(&'a Order),
}

/// A ScaleIn or ScaleOut as the back end receives it (possibly late: `lateApply`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mutation {
    ScaleIn {
        app_id: String,
        ecc_ids: Vec<String>,
        force: bool,
    },
    ScaleOut {
        app_id: String,
        group_id: String,
        ecu_ids: Vec<String>,
    },
}

impl Mutation {
    pub(crate) fn app_id(&self) -> &str {
        match self {
            Mutation::ScaleIn { app_id, .. } | Mutation::ScaleOut { app_id, .. } => app_id,
        }
    }
}

/// ListApplication filters; every one given must match.
#[derive(Clone, Debug, Default)]
pub(crate) struct AppFilter {
    pub app_ids: Option<Vec<String>>,
    pub name: Option<String>,
    pub cluster_id: Option<String>,
    /// From `x-acs-region-id`, `RegionId` and the region part of `LogicalRegionId`.
    pub region_ids: Vec<String>,
    pub page: Option<usize>,
    pub page_size: Option<usize>,
}

impl AppFilter {
    fn matches(&self, a: &App) -> bool {
        self.app_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&a.app_id))
            && self.name.as_ref().is_none_or(|n| {
                a.name
                    .to_ascii_lowercase()
                    .contains(&n.to_ascii_lowercase())
            })
            && self.cluster_id.as_ref().is_none_or(|c| &a.cluster_id == c)
            && self.region_ids.iter().all(|r| &a.region_id == r)
    }
}

fn ecu_wire(u: &EcuDoc, app: &App, group: Option<String>, now: i64) -> wire::Ecu {
    wire::Ecu {
        ecu_id: u.ecu_id.clone(),
        instance_id: u.instance_id.clone(),
        ip_addr: u.ip.clone(),
        name: Some(u.instance_id.clone()),
        online: Some(true),
        group_id: group,
        region_id: Some(app.region_id.clone()),
        zone_id: Some(format!("{}-a", app.region_id)),
        vpc_id: Some("vpc-sim".into()),
        available_cpu: Some(2),
        available_mem: Some(4096),
        heartbeat_time: Some(now),
        create_time: Some(app.created_at),
    }
}

fn groups_wire(app: &App) -> Vec<wire::Group> {
    app.groups
        .iter()
        .enumerate()
        .map(|(i, (id, name))| wire::Group {
            group_id: id.clone(),
            group_name: name.clone(),
            group_type: Some(if i == 0 { 0 } else { 1 }),
            app_id: Some(app.app_id.clone()),
            cluster_id: Some(app.cluster_id.clone()),
            create_time: Some(app.created_at),
        })
        .collect()
}

fn app_info(app: &App, now: i64) -> wire::AppInfo {
    let ecc_list = app
        .eccs
        .iter()
        .map(|e| wire::Ecc {
            ecc_id: e.ecc_id.clone(),
            ecu_id: e.ecu_id.clone(),
            app_id: app.app_id.clone(),
            group_id: e.group_id.clone(),
            ip: app.ip_of(&e.ecu_id),
            app_state: Some(e.app_state.code()),
            task_state: Some(e.task_state.code()),
            container_status: Some(String::new()),
            vpc_id: Some("vpc-sim".into()),
            create_time: Some(e.created_at),
            update_time: Some(e.updated_at),
        })
        .collect();
    let ecu_list = app
        .eccs
        .iter()
        .filter_map(|e| app.ecu(&e.ecu_id).map(|u| (e, u)))
        .map(|(e, u)| ecu_wire(u, app, Some(e.group_id.clone()), now))
        .collect();
    wire::AppInfo {
        application: Some(wire::StatusApplication {
            application_id: app.app_id.clone(),
            name: app.name.clone(),
            cluster_id: Some(app.cluster_id.clone()),
            region_id: Some(app.region_id.clone()),
            instance_count: Some(app.eccs.len() as i64),
            running_instance_count: Some(app.running_count()),
            port: Some(8080),
            create_time: Some(app.created_at),
        }),
        ecc_list: wire::EccList { items: ecc_list },
        ecu_list: wire::EcuList { items: ecu_list },
        group_list: wire::GroupList {
            items: groups_wire(app),
        },
        deploy_record_list: wire::DeployRecordList::default(),
    }
}

fn order_info(o: &Order) -> wire::ChangeOrderInfo {
    let fmt = |ms: Option<i64>| ms.map(wire::format_co_time);
    let pipelines = o
        .batches
        .iter()
        .enumerate()
        .map(|(b, batch)| wire::PipelineInfo {
            pipeline_id: batch.pipeline_id.clone(),
            pipeline_name: format!("Batch {}", b + 1),
            pipeline_status: Some(batch.status.code()),
            start_time: fmt(batch.start),
            update_time: fmt(batch.update),
            stage_detail_list: wire::StageDetailList {
                items: vec![wire::StageDetail {
                    stage_id: batch.stage_id.clone(),
                    stage_name: o.kind.label().to_string(),
                    stage_status: Some(batch.status.code()),
                    task_list: wire::TaskList {
                        items: batch
                            .tasks
                            .iter()
                            .map(|t| wire::TaskInfo {
                                task_id: t.id.clone(),
                                task_name: format!(
                                    "{} {} ({})",
                                    o.kind.verb(),
                                    t.ip,
                                    t.ecc_id.as_deref().unwrap_or(&t.ecu_id)
                                ),
                                task_status: Some(t.status.code().to_string()),
                                task_message: Some(t.message.clone()),
                                task_error_code: t.error.as_ref().map(|e| e.0.clone()),
                                task_error_message: t.error.as_ref().map(|e| e.1.clone()),
                            })
                            .collect(),
                    },
                }],
            },
        })
        .collect();
    wire::ChangeOrderInfo {
        change_order_id: o.id.clone(),
        status: Some(o.status.code()),
        co_type: Some(o.kind.label().to_string()),
        desc: Some(o.description.clone()),
        change_order_description: Some(o.description.clone()),
        create_time: Some(wire::format_co_time(o.created_at)),
        create_user_id: Some(user_of(o)),
        batch_count: Some(o.batches.len() as i64),
        batch_type: Some(o.batch_type.as_str().to_string()),
        support_rollback: Some(false),
        targets: Some(wire::Targets {
            items: o.targets.clone(),
        }),
        pipeline_info_list: wire::PipelineInfoList { items: pipelines },
    }
}

fn order_summary(o: &Order) -> wire::ChangeOrderSummary {
    wire::ChangeOrderSummary {
        change_order_id: o.id.clone(),
        app_id: o.app_id.clone(),
        group_id: Some(o.group_id.clone()),
        status: Some(o.status.code()),
        co_type: Some(o.kind.label().to_string()),
        co_type_code: Some(o.kind.code().to_string()),
        batch_count: Some(o.batches.len() as i64),
        batch_type: Some(o.batch_type.as_str().to_string()),
        source: Some(o.source.clone()),
        change_order_description: Some(o.description.clone()),
        create_time: Some(wire::format_co_time(o.created_at)),
        finish_time: o.finished_at.map(wire::format_co_time),
        create_user_id: Some(user_of(o)),
        user_id: Some("sim-user".into()),
    }
}

fn no_order(id: &str) -> ApiError {
    ApiError::business(format!("change order {id} does not exist"))
}

impl Inner {
    pub(crate) fn app(&self, app_id: &str) -> Result<&App, ApiError> {
        self.apps
            .iter()
            .find(|a| a.app_id == app_id)
            .ok_or_else(|| ApiError::business(format!("application {app_id} does not exist")))
    }

    pub(crate) fn busy(&self, app_id: &str) -> Result<(), ApiError> {
        match self
            .orders
            .iter()
            .find(|o| o.app_id == app_id && o.is_unfinished())
        {
            Some(o) => Err(ApiError::business(format!(
                "a change order is in progress for application {app_id}: {} ({}, status {}); \
                 wait for it to finish",
                o.id,
                o.kind.code(),
                o.status.code()
            ))),
            None => Ok(()),
        }
    }

    /// ECU id -> why it cannot take an app: it runs an ECC (of any app), or an unfinished
    /// ScaleOut order (of any app) is adding it.
    pub(crate) fn taken_ecus(&self) -> HashMap<&str, Taken<'_>> {
        let mut taken = HashMap::new();
        for a in &self.apps {
            for e in &a.eccs {
                taken.insert(e.ecu_id.as_str(), Taken::Runs(a, &e.ecc_id));
            }
        }
        for o in self
            .orders
            .iter()
            .filter(|o| o.kind == CoKind::ScaleOut && o.is_unfinished())
        {
            for t in &o.targets {
                taken.entry(t.as_str()).or_insert(Taken::Adding(o));
            }
        }
        taken
    }

    /// The ECUs of `app`'s cluster (listed with any app of that cluster) that can take it:
    /// no app runs an ECC on them and no unfinished ScaleOut order is adding them. The app's
    /// own ECUs first, then the others in document order; each once.
    pub(crate) fn free_ecus(&self, app: &App) -> Vec<EcuDoc> {
        let taken = self.taken_ecus();
        self.cluster_ecus(&app.cluster_id, Some(&app.app_id))
            .filter(|(u, _)| !taken.contains_key(u.ecu_id.as_str()))
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// Every ECU listed with an app of `cluster_id`, once, with the app that lists it
    /// (`first`'s ECUs first).
    fn cluster_ecus<'a>(
        &'a self,
        cluster_id: &'a str,
        first: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a EcuDoc, &'a App)> + 'a {
        let apps = self.apps.iter().filter(move |a| a.cluster_id == cluster_id);
        let own = apps
            .clone()
            .filter(move |a| Some(a.app_id.as_str()) == first);
        let others = apps.filter(move |a| Some(a.app_id.as_str()) != first);
        let mut seen = HashSet::new();
        own.chain(others)
            .flat_map(|a| a.ecus.iter().map(move |u| (u, a)))
            .filter(move |(u, _)| seen.insert(u.ecu_id.as_str()))
    }

    /// Carry out a ScaleIn/ScaleOut: the change-order id (`None` for a forced scale-in).
    pub(crate) fn apply(
        &mut self,
        m: &Mutation,
        source: &str,
        now: i64,
    ) -> Result<Option<String>, ApiError> {
        match m {
            Mutation::ScaleIn {
                app_id,
                ecc_ids,
                force,
            } => self.scale_in(app_id, ecc_ids, *force, source, now),
            Mutation::ScaleOut {
                app_id,
                group_id,
                ecu_ids,
            } => self
                .scale_out(app_id, group_id, ecu_ids, source, now)
                .map(Some),
        }
    }

    /// QueryApplicationStatus.
    pub(crate) fn query_application_status(
        &self,
        app_id: &str,
        now: i64,
    ) -> Result<wire::AppInfo, ApiError> {
        let live = self.app(app_id)?;
        let app = self.stale_version(app_id, now).map_or(live, |v| &v.app);
        Ok(app_info(app, now))
    }

    /// ScaleInApplication. `Ok(None)` when forced (no order; the ECCs leave at once, or
    /// `asyncForce.delayMs` later).
    pub(crate) fn scale_in(
        &mut self,
        app_id: &str,
        ecc_ids: &[String],
        force: bool,
        source: &str,
        now: i64,
    ) -> Result<Option<String>, ApiError> {
        let app = self.app(app_id)?;
        let mut seeds = Vec::with_capacity(ecc_ids.len());
        for id in ecc_ids {
            let Some(e) = app.ecc(id) else {
                return Err(ApiError::business(format!(
                    "ECC {id} does not exist in application {app_id}"
                )));
            };
            seeds.push(TaskSeed::for_ecc(app, e));
        }
        let group_id = app
            .eccs
            .iter()
            .find(|e| ecc_ids.contains(&e.ecc_id))
            .map(|e| e.group_id.clone())
            .unwrap_or_default();
        self.busy(app_id)?;
        if force {
            match self.faults.force_delay(app_id) {
                Some(delay) => self.lag.defer(
                    now + delay,
                    Deferred::ForceRemoval {
                        app_id: app_id.to_string(),
                        ecc_ids: ecc_ids.to_vec(),
                    },
                ),
                None => self.remove_eccs(app_id, ecc_ids, now),
            }
            return Ok(None);
        }
        let description = format!(
            "Scale in {} instance(s): EccIds={}",
            ecc_ids.len(),
            ecc_ids.join(",")
        );
        let new = NewOrder {
            app_id,
            kind: CoKind::ScaleIn,
            source,
            group_id,
            seeds,
            description,
        };
        Ok(Some(self.create_order(new, now)))
    }

    /// A forced scale-in's removal.
    pub(crate) fn remove_eccs(&mut self, app_id: &str, ecc_ids: &[String], now: i64) {
        if let Some(app) = self.apps.iter_mut().find(|a| a.app_id == app_id) {
            app.eccs.retain(|e| !ecc_ids.contains(&e.ecc_id));
            self.changed(app_id, now);
        }
    }

    /// ScaleOutApplication.
    pub(crate) fn scale_out(
        &mut self,
        app_id: &str,
        group_id: &str,
        ecu_ids: &[String],
        source: &str,
        now: i64,
    ) -> Result<String, ApiError> {
        let app = self.app(app_id)?;
        if !app.groups.iter().any(|(g, _)| g == group_id) {
            return Err(ApiError::business(format!(
                "deploy group {group_id} does not exist in application {app_id}"
            )));
        }
        self.busy(app_id)?;
        let taken = self.taken_ecus();
        let mut seeds = Vec::with_capacity(ecu_ids.len());
        let mut new_ecus = Vec::new();
        for id in ecu_ids {
            let refuse = |why: String| {
                ApiError::business(format!(
                    "ECU {id} cannot be used to scale out application {app_id}: it {why}"
                ))
            };
            let Some((u, _)) = self
                .cluster_ecus(&app.cluster_id, Some(app_id))
                .find(|(u, _)| &u.ecu_id == id)
            else {
                return Err(refuse(format!(
                    "is not in the application's cluster {}",
                    app.cluster_id
                )));
            };
            match taken.get(id.as_str()) {
                Some(Taken::Runs(a, ecc)) if a.app_id == app_id => {
                    return Err(refuse(format!("already runs the application (ECC {ecc})")));
                }
                Some(Taken::Runs(a, ecc)) => {
                    return Err(refuse(format!(
                        "already runs an application: {} ({}, ECC {ecc})",
                        a.app_id, a.name
                    )));
                }
                Some(Taken::Adding(o)) => {
                    return Err(refuse(format!(
                        "is being added to application {} by change order {}",
                        o.app_id, o.id
                    )));
                }
                None => {}
            }
            if app.ecu(id).is_none() {
                new_ecus.push(EcuDoc {
                    group_id: None,
                    ..u.clone()
                });
            }
            seeds.push(TaskSeed {
                ecc_id: None,
                ecu_id: id.clone(),
                ip: u.ip.clone(),
            });
        }
        // An ECU of the cluster listed with another app: from now on this app knows it too
        // (QueryApplicationStatus lists it in EcuList once an ECC runs on it).
        if let Some(app) = self.apps.iter_mut().find(|a| a.app_id == app_id) {
            app.ecus.extend(new_ecus);
        }
        let description = format!(
            "Scale out {} instance(s) into group {group_id}: EcuIds={}",
            ecu_ids.len(),
            ecu_ids.join(",")
        );
        let new = NewOrder {
            app_id,
            kind: CoKind::ScaleOut,
            source,
            group_id: group_id.to_string(),
            seeds,
            description,
        };
        Ok(self.create_order(new, now))
    }

    pub(crate) fn order(&self, id: &str) -> Result<&Order, ApiError> {
        self.orders
            .iter()
            .find(|o| o.id == id)
            .ok_or_else(|| no_order(id))
    }

    /// GetChangeOrderInfo. Under `staleReads` an order created within the lag is not found.
    pub(crate) fn change_order_info(
        &self,
        id: &str,
        now: i64,
    ) -> Result<wire::ChangeOrderInfo, ApiError> {
        let live = self.order(id)?;
        let o = match self.stale_version(&live.app_id, now) {
            Some(v) => v
                .orders
                .iter()
                .find(|o| o.id == id)
                .ok_or_else(|| no_order(id))?,
            None => live,
        };
        Ok(order_info(o))
    }

    /// ListRecentChangeOrder: newest first, at most 100.
    pub(crate) fn recent_change_orders(
        &self,
        app_id: &str,
        now: i64,
    ) -> Result<Vec<wire::ChangeOrderSummary>, ApiError> {
        self.app(app_id)?;
        let mut orders: Vec<&Order> = match self.stale_version(app_id, now) {
            Some(v) => v.orders.iter().collect(),
            None => self.orders.iter().filter(|o| o.app_id == app_id).collect(),
        };
        orders.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.seq.cmp(&a.seq)));
        Ok(orders.into_iter().take(100).map(order_summary).collect())
    }

    pub(crate) fn list_applications(&self, filter: &AppFilter) -> Vec<wire::ApplicationSummary> {
        let apps: Vec<&App> = self.apps.iter().filter(|a| filter.matches(a)).collect();
        let size = filter.page_size.unwrap_or(apps.len().max(1));
        let page = filter.page.unwrap_or(1).max(1);
        apps.into_iter()
            .skip((page - 1).saturating_mul(size))
            .take(size)
            .map(|a| wire::ApplicationSummary {
                app_id: a.app_id.clone(),
                name: a.name.clone(),
                region_id: Some(a.region_id.clone()),
                cluster_id: Some(a.cluster_id.clone()),
                cluster_type: Some(2),
                state: Some(
                    if self.busy(&a.app_id).is_err() {
                        "DEPLOYING"
                    } else {
                        "RUNNING"
                    }
                    .into(),
                ),
                instances: Some(a.eccs.len() as i64),
                running_instance_count: Some(a.running_count()),
                application_type: Some("FatJar".into()),
                create_time: Some(a.created_at),
            })
            .collect()
    }

    pub(crate) fn get_application(
        &self,
        app_id: &str,
    ) -> Result<wire::ApplicationDetail, ApiError> {
        let a = self.app(app_id)?;
        Ok(wire::ApplicationDetail {
            app_id: a.app_id.clone(),
            name: a.name.clone(),
            region_id: Some(a.region_id.clone()),
            cluster_id: Some(a.cluster_id.clone()),
            cluster_type: Some("2".into()),
            application_type: Some("FatJar".into()),
            instance_count: Some(a.eccs.len() as i64),
            running_instance_count: Some(a.running_count()),
            create_time: Some(a.created_at),
        })
    }

    pub(crate) fn deploy_groups(&self, app_id: &str) -> Result<Vec<wire::DeployGroup>, ApiError> {
        let app = self.app(app_id)?;
        Ok(groups_wire(app)
            .into_iter()
            .map(|g| wire::DeployGroup {
                group_id: g.group_id,
                group_name: g.group_name,
                group_type: g.group_type,
                app_id: app.app_id.clone(),
                cluster_id: g.cluster_id,
                create_time: g.create_time,
            })
            .collect())
    }

    pub(crate) fn scale_out_ecus(
        &self,
        app_id: Option<&str>,
        cluster_id: Option<&str>,
        limit: Option<usize>,
        now: i64,
    ) -> Result<Vec<wire::Ecu>, ApiError> {
        let (cluster, first) = match app_id {
            Some(id) => {
                let app = self.app(id)?;
                if cluster_id.is_some_and(|c| c != app.cluster_id) {
                    return Ok(Vec::new());
                }
                (app.cluster_id.as_str(), Some(id))
            }
            None => (cluster_id.unwrap_or_default(), None),
        };
        let taken = self.taken_ecus();
        let mut out: Vec<wire::Ecu> = self
            .cluster_ecus(cluster, first)
            .filter(|(u, _)| !taken.contains_key(u.ecu_id.as_str()))
            .map(|(u, a)| ecu_wire(u, a, u.group_id.clone(), now))
            .collect();
        if let Some(n) = limit {
            out.truncate(n);
        }
        Ok(out)
    }

    pub(crate) fn continue_pipeline(
        &mut self,
        pipeline_id: &str,
        confirm: bool,
        now: i64,
    ) -> Result<(), ApiError> {
        let Inner { orders, apps, .. } = self;
        let Some(o) = orders
            .iter_mut()
            .find(|o| o.batches.iter().any(|b| b.pipeline_id == pipeline_id))
        else {
            return Err(ApiError::business(format!(
                "pipeline {pipeline_id} does not exist"
            )));
        };
        if o.status != CoStatus::WaitingManualConfirm {
            return Err(ApiError::business(format!(
                "pipeline {pipeline_id} is not waiting for confirmation (change order {} has \
                 status {})",
                o.id,
                o.status.code()
            )));
        }
        if confirm {
            o.status = CoStatus::Running;
            let b = o.cur_batch;
            orders::start_batch(o, apps, b, now);
            let app_id = o.app_id.clone();
            self.changed(&app_id, now);
        }
        Ok(())
    }

    /// AbortChangeOrder: status 6 at once; what finished stays done, the rest stays.
    pub(crate) fn abort(&mut self, id: &str, now: i64) -> Result<(), ApiError> {
        let Inner { orders, apps, .. } = self;
        let Some(o) = orders.iter_mut().find(|o| o.id == id) else {
            return Err(no_order(id));
        };
        if !o.is_unfinished() {
            return Err(ApiError::business(format!(
                "change order {id} has already finished (status {})",
                o.status.code()
            )));
        }
        orders::end(o, apps, CoStatus::Aborted, false, now);
        let app_id = o.app_id.clone();
        self.changed(&app_id, now);
        Ok(())
    }
}
