//! The one implementation of [`EdasApi`]: parameters in, domain types out, over any
//! [`Transport`]. The HTTP client ([`super::client::EdasClient`]) and the simulator in the same
//! process (`crate::sim::InProcessEdas`) differ only in how a call travels, so they share
//! every check, mapping and outcome rule here.

use super::client::{
    app_status_from_wire, application_from_wire, applications_from_wire, change_order_from_wire,
    missing, recent_orders_from_wire,
};
use super::{
    AppStatus, ApplicationSummary, ChangeOrderDetail, ChangeOrderSummary, DeployGroup, EcuHost,
    EdasApi, EdasError, Operation, Result, wire,
};
use serde::de::DeserializeOwned;

/// How a call reaches EDAS: signed HTTP, or the simulator in the same process.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Call `op` with `params` and decode the body into `T`, with the request id.
    async fn call<T: DeserializeOwned + Send>(
        &self,
        op: Operation,
        params: &[(&str, String)],
    ) -> Result<(T, Option<String>)>;

    /// Text EDAS sent that reaches status and events (a task's error), with anything secret
    /// removed.
    fn redact(&self, text: &str) -> String {
        text.to_string()
    }

    /// How long the call budget would hold a call of `op` now (zero: none, or it fits),
    /// keeping `keep` calls of the window for others.
    fn budget_wait(&self, _op: Operation, _keep: usize) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

#[async_trait::async_trait]
impl<C: Transport> EdasApi for C {
    async fn query_application_status(&self, app_id: &str) -> Result<AppStatus> {
        let op = Operation::QueryApplicationStatus;
        let (r, rid): (wire::QueryApplicationStatusResponse, _) =
            self.call(op, &[("AppId", app_id.to_string())]).await?;
        let info = r
            .app_info
            .ok_or_else(|| missing(op.name(), "AppInfo", rid.clone()))?;
        app_status_from_wire(app_id, info, rid)
    }

    async fn scale_in_application(
        &self,
        app_id: &str,
        ecc_ids: &[String],
        force: bool,
    ) -> Result<Option<String>> {
        let op = Operation::ScaleInApplication;
        if ecc_ids.is_empty() || ecc_ids.iter().any(|e| e.is_empty() || e.contains(',')) {
            return Err(EdasError::Invalid {
                operation: op.name(),
                detail: format!("EccInfo must be one or more non-empty ECC ids: {ecc_ids:?}"),
            });
        }
        let (r, rid): (wire::ChangeOrderCreatedResponse, _) = self
            .call(
                op,
                &[
                    ("AppId", app_id.to_string()),
                    ("EccInfo", ecc_ids.join(",")),
                    ("ForceStatus", force.to_string()),
                ],
            )
            .await?;
        match r.change_order_id.filter(|s| !s.is_empty()) {
            Some(id) => Ok(Some(id)),
            None if force => Ok(None),
            // Accepted (Code 200) but no order id: EDAS acted, we cannot follow it.
            None => Err(EdasError::OutcomeUnknown {
                operation: op.name(),
                source: Box::new(missing(op.name(), "ChangeOrderId", rid)),
            }),
        }
    }

    async fn scale_out_application(
        &self,
        app_id: &str,
        deploy_group: &str,
        ecu_ids: &[String],
    ) -> Result<String> {
        let op = Operation::ScaleOutApplication;
        if deploy_group.is_empty()
            || ecu_ids.is_empty()
            || ecu_ids.iter().any(|e| e.is_empty() || e.contains(','))
        {
            return Err(EdasError::Invalid {
                operation: op.name(),
                detail: format!(
                    "DeployGroup and EcuInfo (one or more non-empty ECU ids) are required: {deploy_group:?} {ecu_ids:?}"
                ),
            });
        }
        let (r, rid): (wire::ChangeOrderCreatedResponse, _) = self
            .call(
                op,
                &[
                    ("AppId", app_id.to_string()),
                    ("DeployGroup", deploy_group.to_string()),
                    ("EcuInfo", ecu_ids.join(",")),
                ],
            )
            .await?;
        r.change_order_id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| EdasError::OutcomeUnknown {
                operation: op.name(),
                source: Box::new(missing(op.name(), "ChangeOrderId", rid)),
            })
    }

    async fn get_change_order_info(&self, change_order_id: &str) -> Result<ChangeOrderDetail> {
        let op = Operation::GetChangeOrderInfo;
        let (r, rid): (wire::GetChangeOrderInfoResponse, _) = self
            .call(op, &[("ChangeOrderId", change_order_id.to_string())])
            .await?;
        let info = r
            .change_order_info
            .ok_or_else(|| missing(op.name(), "changeOrderInfo", rid.clone()))?;
        let mut detail = change_order_from_wire(info, rid)?;
        // A task's error text reaches status and events like an error message does.
        for p in &mut detail.pipelines {
            if let Some(e) = p.error.as_mut() {
                *e = self.redact(e);
            }
        }
        Ok(detail)
    }

    async fn list_recent_change_orders(&self, app_id: &str) -> Result<Vec<ChangeOrderSummary>> {
        let op = Operation::ListRecentChangeOrder;
        let (r, rid) = self.call(op, &[("AppId", app_id.to_string())]).await?;
        recent_orders_from_wire(r, rid)
    }

    async fn list_scale_out_ecus(
        &self,
        app_id: &str,
        cluster_id: Option<&str>,
    ) -> Result<Vec<EcuHost>> {
        let params = match cluster_id.filter(|c| !c.is_empty()) {
            Some(c) => vec![("ClusterId", c.to_string())],
            None => vec![("AppId", app_id.to_string())],
        };
        let (r, _): (wire::ListScaleOutEcuResponse, _) =
            self.call(Operation::ListScaleOutEcu, &params).await?;
        Ok(r.ecu_info_list
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .filter(|u| !u.ecu_id.is_empty() && u.online != Some(false))
            .map(|u| EcuHost {
                ecu_id: u.ecu_id,
                instance_id: u.instance_id,
                ip: u.ip_addr,
            })
            .collect())
    }

    async fn list_deploy_groups(&self, app_id: &str) -> Result<Vec<DeployGroup>> {
        let (r, _): (wire::ListDeployGroupResponse, _) = self
            .call(Operation::ListDeployGroup, &[("AppId", app_id.to_string())])
            .await?;
        Ok(r.deploy_group_list
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .filter(|g| !g.group_id.is_empty())
            .map(|g| DeployGroup {
                group_id: g.group_id,
                name: g.group_name,
                group_type: g.group_type,
                cluster_id: g.cluster_id.filter(|c| !c.is_empty()),
            })
            .collect())
    }

    fn budget_wait(&self, op: Operation, keep: usize) -> std::time::Duration {
        Transport::budget_wait(self, op, keep)
    }

    async fn list_applications(&self) -> Result<Vec<ApplicationSummary>> {
        let (r, _) = self.call(Operation::ListApplication, &[]).await?;
        Ok(applications_from_wire(r))
    }

    async fn get_application(&self, app_id: &str) -> Result<ApplicationSummary> {
        let op = Operation::GetApplication;
        let (r, rid) = self.call(op, &[("AppId", app_id.to_string())]).await?;
        application_from_wire(r, rid)
    }

    async fn continue_pipeline(&self, pipeline_id: &str, confirm: bool) -> Result<()> {
        let _: (wire::Envelope, _) = self
            .call(
                Operation::ContinuePipeline,
                &[
                    ("PipelineId", pipeline_id.to_string()),
                    ("Confirm", confirm.to_string()),
                ],
            )
            .await?;
        Ok(())
    }

    async fn abort_change_order(&self, change_order_id: &str) -> Result<()> {
        let _: (wire::AbortChangeOrderResponse, _) = self
            .call(
                Operation::AbortChangeOrder,
                &[("ChangeOrderId", change_order_id.to_string())],
            )
            .await?;
        Ok(())
    }
}
