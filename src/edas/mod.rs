//! Everything EDAS: the `EdasApi` trait the controller talks to, domain types, the reqwest
//! client, the signer, the wire types and the error type.

pub mod budget;
pub mod client;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod operations;
pub mod provider;
pub mod signer;
pub mod sts;
pub mod wire;

pub use client::{ClientConfig, EdasClient};
pub use credentials::Credentials;
pub use error::EdasError;

use serde::{Deserialize, Serialize};

pub type Result<T, E = EdasError> = std::result::Result<T, E>;

/// The operations this project speaks, with their method and path (fact sheet §3-§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    ScaleInApplication,
    ScaleOutApplication,
    QueryApplicationStatus,
    GetChangeOrderInfo,
    ListRecentChangeOrder,
    ListApplication,
    GetApplication,
    ListDeployGroup,
    ListScaleOutEcu,
    ContinuePipeline,
    AbortChangeOrder,
}

impl Operation {
    pub const ALL: [Operation; 11] = [
        Operation::ScaleInApplication,
        Operation::ScaleOutApplication,
        Operation::QueryApplicationStatus,
        Operation::GetChangeOrderInfo,
        Operation::ListRecentChangeOrder,
        Operation::ListApplication,
        Operation::GetApplication,
        Operation::ListDeployGroup,
        Operation::ListScaleOutEcu,
        Operation::ContinuePipeline,
        Operation::AbortChangeOrder,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::ScaleInApplication => "ScaleInApplication",
            Operation::ScaleOutApplication => "ScaleOutApplication",
            Operation::QueryApplicationStatus => "QueryApplicationStatus",
            Operation::GetChangeOrderInfo => "GetChangeOrderInfo",
            Operation::ListRecentChangeOrder => "ListRecentChangeOrder",
            Operation::ListApplication => "ListApplication",
            Operation::GetApplication => "GetApplication",
            Operation::ListDeployGroup => "ListDeployGroup",
            Operation::ListScaleOutEcu => "ListScaleOutEcu",
            Operation::ContinuePipeline => "ContinuePipeline",
            Operation::AbortChangeOrder => "AbortChangeOrder",
        }
    }

    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.name() == name)
    }

    /// HTTP method as the API wants it (reads by POST, ContinuePipeline by GET, aborts by PUT).
    pub fn method(self) -> &'static str {
        match self {
            Operation::QueryApplicationStatus | Operation::ContinuePipeline => "GET",
            Operation::AbortChangeOrder => "PUT",
            _ => "POST",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Operation::ScaleInApplication => "/pop/v5/changeorder/co_scale_in",
            Operation::ScaleOutApplication => "/pop/v5/changeorder/co_scale_out",
            Operation::QueryApplicationStatus => "/pop/v5/app/app_status",
            Operation::GetChangeOrderInfo => "/pop/v5/changeorder/change_order_info",
            Operation::ListRecentChangeOrder => "/pop/v5/changeorder/change_order_list",
            Operation::ListApplication => "/pop/v5/app/app_list",
            Operation::GetApplication => "/pop/v5/app/app_info",
            Operation::ListDeployGroup => "/pop/v5/app/deploy_group_list",
            Operation::ListScaleOutEcu => "/pop/v5/resource/scale_out_ecu_list",
            Operation::ContinuePipeline => "/pop/v5/changeorder/pipeline_batch_confirm",
            Operation::AbortChangeOrder => "/pop/v5/changeorder/change_order_abort",
        }
    }

    pub fn from_route(method: &str, path: &str) -> Option<Operation> {
        Operation::ALL
            .into_iter()
            .find(|o| o.path() == path && o.method().eq_ignore_ascii_case(method))
    }

    /// Not idempotent: never re-sent automatically.
    pub fn is_mutation(self) -> bool {
        matches!(
            self,
            Operation::ScaleInApplication
                | Operation::ScaleOutApplication
                | Operation::ContinuePipeline
                | Operation::AbortChangeOrder
        )
    }

    /// Documented per-minute limit (FAQ 98807); `None` where none is documented.
    pub fn documented_limit_per_minute(self) -> Option<u32> {
        match self {
            Operation::GetChangeOrderInfo | Operation::QueryApplicationStatus => Some(100),
            Operation::ListApplication => Some(60),
            Operation::ListDeployGroup => Some(200),
            Operation::ScaleOutApplication | Operation::GetApplication => Some(40),
            Operation::ListScaleOutEcu => Some(20),
            _ => None,
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An ECC's application state. Unknown values are kept, not rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppState {
    AgentOff,
    Stopped,
    RunningButUrlFailed,
    Running,
    Unknown(i64),
}

impl AppState {
    pub fn from_code(c: i64) -> Self {
        match c {
            0 => AppState::AgentOff,
            1 => AppState::Stopped,
            3 => AppState::RunningButUrlFailed,
            7 => AppState::Running,
            n => AppState::Unknown(n),
        }
    }
    pub fn code(self) -> i64 {
        match self {
            AppState::AgentOff => 0,
            AppState::Stopped => 1,
            AppState::RunningButUrlFailed => 3,
            AppState::Running => 7,
            AppState::Unknown(n) => n,
        }
    }
}

impl std::fmt::Display for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppState::AgentOff => f.write_str("AGENT_OFF"),
            AppState::Stopped => f.write_str("STOPPED"),
            AppState::RunningButUrlFailed => f.write_str("RUNNING_BUT_URL_FAILED"),
            AppState::Running => f.write_str("RUNNING"),
            AppState::Unknown(n) => write!(f, "unknown({n})"),
        }
    }
}

/// The state of the last task on an ECC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    Unknown0,
    Processing,
    Success,
    Failed,
    Unknown(i64),
}

impl TaskState {
    pub fn from_code(c: i64) -> Self {
        match c {
            0 => TaskState::Unknown0,
            1 => TaskState::Processing,
            2 => TaskState::Success,
            3 => TaskState::Failed,
            n => TaskState::Unknown(n),
        }
    }
    pub fn code(self) -> i64 {
        match self {
            TaskState::Unknown0 => 0,
            TaskState::Processing => 1,
            TaskState::Success => 2,
            TaskState::Failed => 3,
            TaskState::Unknown(n) => n,
        }
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskState::Unknown0 => f.write_str("UNKNOWN"),
            TaskState::Processing => f.write_str("PROCESSING"),
            TaskState::Success => f.write_str("SUCCESS"),
            TaskState::Failed => f.write_str("FAILED"),
            TaskState::Unknown(n) => write!(f, "unknown({n})"),
        }
    }
}

/// Change-order (and pipeline, stage, task) status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoStatus {
    Ready,
    Running,
    Succeeded,
    Failed,
    Aborted,
    PartiallySucceeded,
    WaitingManualConfirm,
    WaitingNextBatch,
    SystemError,
    Unknown(i64),
}

impl CoStatus {
    pub fn from_code(c: i64) -> Self {
        match c {
            0 => CoStatus::Ready,
            1 => CoStatus::Running,
            2 => CoStatus::Succeeded,
            3 => CoStatus::Failed,
            6 => CoStatus::Aborted,
            7 => CoStatus::PartiallySucceeded,
            8 => CoStatus::WaitingManualConfirm,
            9 => CoStatus::WaitingNextBatch,
            10 => CoStatus::SystemError,
            n => CoStatus::Unknown(n),
        }
    }
    pub fn code(self) -> i64 {
        match self {
            CoStatus::Ready => 0,
            CoStatus::Running => 1,
            CoStatus::Succeeded => 2,
            CoStatus::Failed => 3,
            CoStatus::Aborted => 6,
            CoStatus::PartiallySucceeded => 7,
            CoStatus::WaitingManualConfirm => 8,
            CoStatus::WaitingNextBatch => 9,
            CoStatus::SystemError => 10,
            CoStatus::Unknown(n) => n,
        }
    }
    /// 0, 1, 8, 9: the order still holds the app.
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            CoStatus::Ready
                | CoStatus::Running
                | CoStatus::WaitingManualConfirm
                | CoStatus::WaitingNextBatch
        )
    }
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            CoStatus::Failed | CoStatus::Aborted | CoStatus::SystemError
        )
    }
    pub fn name(self) -> String {
        match self {
            CoStatus::Ready => "Ready".into(),
            CoStatus::Running => "Running".into(),
            CoStatus::Succeeded => "Succeeded".into(),
            CoStatus::Failed => "Failed".into(),
            CoStatus::Aborted => "Aborted".into(),
            CoStatus::PartiallySucceeded => "PartiallySucceeded".into(),
            CoStatus::WaitingManualConfirm => "WaitingManualConfirm".into(),
            CoStatus::WaitingNextBatch => "WaitingNextBatch".into(),
            CoStatus::SystemError => "SystemError".into(),
            CoStatus::Unknown(n) => format!("unknown({n})"),
        }
    }
}

/// One application instance (ECC) with the host it runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EccInstance {
    pub ecc_id: String,
    pub ecu_id: String,
    pub group_id: String,
    /// ECS instance id, resolved through the app's ECU list; empty when EDAS did not say.
    pub instance_id: String,
    pub ip: String,
    #[serde(with = "code_as_int::app")]
    pub app_state: AppState,
    #[serde(with = "code_as_int::task")]
    pub task_state: TaskState,
}

impl EccInstance {
    /// Running and its last task did not fail.
    pub fn is_healthy(&self) -> bool {
        self.app_state == AppState::Running && self.task_state != TaskState::Failed
    }
}

mod code_as_int {
    macro_rules! codec {
        ($m:ident, $t:ty) => {
            pub mod $m {
                use serde::{Deserialize, Deserializer, Serializer};
                pub fn serialize<S: Serializer>(v: &$t, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_i64(v.code())
                }
                pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                    Ok(<$t>::from_code(i64::deserialize(d)?))
                }
            }
        };
    }
    codec!(app, super::super::AppState);
    codec!(task, super::super::TaskState);
}

/// What QueryApplicationStatus says about an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppStatus {
    pub app_id: String,
    pub name: String,
    pub eccs: Vec<EccInstance>,
    /// Hosts known to the app (ECU id, ECS instance id, IP).
    pub ecus: Vec<EcuHost>,
}

impl AppStatus {
    /// An app whose ECU list is the hosts its ECC rows name (each ECC whose ECU is known):
    /// an observation recorded in status by an earlier pass, or a test's app.
    pub fn from_eccs(app_id: &str, name: &str, eccs: Vec<EccInstance>) -> Self {
        let ecus = eccs
            .iter()
            .filter(|e| !e.ecu_id.is_empty())
            .map(|e| EcuHost {
                ecu_id: e.ecu_id.clone(),
                instance_id: e.instance_id.clone(),
                ip: e.ip.clone(),
            })
            .collect();
        Self {
            app_id: app_id.to_string(),
            name: name.to_string(),
            eccs,
            ecus,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcuHost {
    pub ecu_id: String,
    pub instance_id: String,
    pub ip: String,
}

/// A deploy group as ListDeployGroup lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployGroup {
    pub group_id: String,
    pub name: String,
    /// 0 default, 1 canary off, 2 canary on.
    pub group_type: Option<i64>,
    pub cluster_id: Option<String>,
}

/// A change order as ListRecentChangeOrder lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeOrderSummary {
    pub id: String,
    pub app_id: String,
    pub status: CoStatus,
    pub co_type: String,
    pub co_type_code: String,
    pub source: String,
    pub create_time: Option<String>,
    pub finish_time: Option<String>,
    pub description: Option<String>,
}

/// A change order in detail (GetChangeOrderInfo).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeOrderDetail {
    pub id: String,
    pub status: CoStatus,
    pub co_type: String,
    pub batch_type: String,
    pub batch_count: i64,
    pub create_time: Option<String>,
    /// What the order acts on (`Targets.Items`), when EDAS says.
    pub targets: Vec<String>,
    pub pipelines: Vec<Pipeline>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pipeline {
    pub id: String,
    pub name: String,
    pub status: CoStatus,
    /// First task error found in this batch ("code: message"), if any.
    pub error: Option<String>,
}

impl ChangeOrderDetail {
    /// The first task error of any batch.
    pub fn first_error(&self) -> Option<&str> {
        self.pipelines.iter().find_map(|p| p.error.as_deref())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationSummary {
    pub app_id: String,
    pub name: String,
    pub region_id: String,
    pub instances: i64,
}

/// Everything the operator asks of EDAS, behind one trait so the controller can be tested
/// against the simulator and reasoned about apart from HTTP.
#[async_trait::async_trait]
pub trait EdasApi: Send + Sync {
    async fn query_application_status(&self, app_id: &str) -> Result<AppStatus>;
    /// Removes ECCs. Returns the change-order id (`None` when `force`: EDAS makes no order).
    /// Never retried: an unknown outcome is `EdasError::OutcomeUnknown`.
    async fn scale_in_application(
        &self,
        app_id: &str,
        ecc_ids: &[String],
        force: bool,
    ) -> Result<Option<String>>;
    async fn scale_out_application(
        &self,
        app_id: &str,
        deploy_group: &str,
        ecu_ids: &[String],
    ) -> Result<String>;
    async fn get_change_order_info(&self, change_order_id: &str) -> Result<ChangeOrderDetail>;
    /// ListScaleOutEcu: the ECUs that can take an app (online, running no application), by
    /// the app's cluster when `cluster_id` is given (one answer serves every app of it).
    async fn list_scale_out_ecus(
        &self,
        app_id: &str,
        cluster_id: Option<&str>,
    ) -> Result<Vec<EcuHost>>;
    /// ListDeployGroup: the app's deploy groups.
    async fn list_deploy_groups(&self, app_id: &str) -> Result<Vec<DeployGroup>>;
    async fn list_recent_change_orders(&self, app_id: &str) -> Result<Vec<ChangeOrderSummary>>;
    async fn list_applications(&self) -> Result<Vec<ApplicationSummary>>;
    /// How long the call budget would hold a call of `op` now (zero: it fits), keeping
    /// `keep` calls of the window for others. A mutation waits in line for its budget; the
    /// driver asks first so that no intent is recorded for a call that would wait long.
    fn budget_wait(&self, op: Operation, keep: usize) -> std::time::Duration;
    /// How many more calls of `op` the call budget allows now (`None`: not limited).
    fn budget_room(&self, op: Operation) -> Option<usize>;
    async fn get_application(&self, app_id: &str) -> Result<ApplicationSummary>;
    async fn continue_pipeline(&self, pipeline_id: &str, confirm: bool) -> Result<()>;
    async fn abort_change_order(&self, change_order_id: &str) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_states_are_kept_not_rejected() {
        assert_eq!(AppState::from_code(5).to_string(), "unknown(5)");
        assert_eq!(TaskState::from_code(9).to_string(), "unknown(9)");
        assert_eq!(CoStatus::from_code(42).name(), "unknown(42)");
    }

    #[test]
    fn unfinished_statuses_are_0_1_8_9() {
        let unfinished: Vec<i64> = (0..=11)
            .filter(|c| CoStatus::from_code(*c).is_unfinished())
            .collect();
        assert_eq!(unfinished, vec![0, 1, 8, 9]);
        let failed: Vec<i64> = (0..=11)
            .filter(|c| CoStatus::from_code(*c).is_failure())
            .collect();
        assert_eq!(failed, vec![3, 6, 10]);
    }

    #[test]
    fn routes_are_method_and_path() {
        assert_eq!(
            Operation::from_route("GET", "/pop/v5/app/app_status"),
            Some(Operation::QueryApplicationStatus)
        );
        assert_eq!(
            Operation::from_route("POST", "/pop/v5/app/app_status"),
            None
        );
        assert_eq!(
            Operation::from_route("PUT", "/pop/v5/changeorder/change_order_abort"),
            Some(Operation::AbortChangeOrder)
        );
    }
}
