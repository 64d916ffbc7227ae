//! Serde types spelled exactly as the EDAS 2017-08-01 API spells them (PascalCase keys, the
//! lower-case `changeOrderInfo`, `{"EccList":{"Ecc":[...]}}` wrapper lists, `Code` as an int in
//! EDAS bodies and a string in gateway errors, epoch-millisecond times).
//!
//! Used by the client to decode and by the simulator to encode, so both sides share one spelling.
//! Optional everywhere the API may leave a field out; `deny_unknown_fields` nowhere (EDAS adds
//! fields over time).

use serde::{Deserialize, Deserializer, Serialize};

/// `Code`: an int in EDAS bodies (200 = success), a string in gateway errors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Code {
    Int(i64),
    Str(String),
}

impl Code {
    pub fn is_success(&self) -> bool {
        match self {
            Code::Int(c) => *c == 200,
            Code::Str(s) => s == "200",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Code::Int(c) => write!(f, "{c}"),
            Code::Str(s) => f.write_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            I(i64),
            S(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::I(i) => Code::Int(i),
            Raw::S(s) => match s.parse::<i64>() {
                // EDAS business codes sometimes arrive quoted; keep gateway strings as strings.
                Ok(i) if s.chars().all(|c| c.is_ascii_digit()) => Code::Int(i),
                _ => Code::Str(s),
            },
        })
    }
}

/// The common envelope every EDAS body and gateway error carries.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Envelope {
    #[serde(rename = "Code", default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    #[serde(rename = "Message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(rename = "RequestId", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(rename = "HostId", default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
}

/// A lenient integer: EDAS sometimes sends numbers as strings (TaskStatus is typed string).
pub fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        I(i64),
        S(String),
        N(()),
    }
    match Option::<Raw>::deserialize(d)? {
        None | Some(Raw::N(())) => Ok(None),
        Some(Raw::I(i)) => Ok(Some(i)),
        Some(Raw::S(s)) if s.is_empty() => Ok(None),
        Some(Raw::S(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, got {s:?}"))),
    }
}

/// `null` where a wrapper or list is expected reads as empty (EDAS sends `null` for empty
/// lists now and then).
pub fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

macro_rules! wrapper {
    ($name:ident, $key:literal, $item:ty) => {
        #[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
        pub struct $name {
            #[serde(rename = $key, default, deserialize_with = "null_as_default")]
            pub items: Vec<$item>,
        }
    };
}

// ---------------------------------------------------------------- QueryApplicationStatus

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct QueryApplicationStatusResponse {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(rename = "AppInfo", default, skip_serializing_if = "Option::is_none")]
    pub app_info: Option<AppInfo>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct AppInfo {
    #[serde(
        rename = "Application",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub application: Option<StatusApplication>,
    #[serde(rename = "EccList", default, deserialize_with = "null_as_default")]
    pub ecc_list: EccList,
    #[serde(rename = "EcuList", default, deserialize_with = "null_as_default")]
    pub ecu_list: EcuList,
    #[serde(rename = "GroupList", default, deserialize_with = "null_as_default")]
    pub group_list: GroupList,
    #[serde(
        rename = "DeployRecordList",
        default,
        deserialize_with = "null_as_default"
    )]
    pub deploy_record_list: DeployRecordList,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct StatusApplication {
    #[serde(rename = "ApplicationId", default)]
    pub application_id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "ClusterId", default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(rename = "RegionId", default, skip_serializing_if = "Option::is_none")]
    pub region_id: Option<String>,
    #[serde(
        rename = "InstanceCount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_count: Option<i64>,
    #[serde(
        rename = "RunningInstanceCount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub running_instance_count: Option<i64>,
    #[serde(rename = "Port", default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<i64>,
}

wrapper!(EccList, "Ecc", Ecc);
wrapper!(EcuList, "Ecu", Ecu);
wrapper!(GroupList, "Group", Group);
wrapper!(DeployRecordList, "DeployRecord", serde_json::Value);

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Ecc {
    #[serde(rename = "EccId")]
    pub ecc_id: String,
    #[serde(rename = "EcuId", default)]
    pub ecu_id: String,
    #[serde(rename = "AppId", default)]
    pub app_id: String,
    #[serde(rename = "GroupId", default)]
    pub group_id: String,
    #[serde(rename = "Ip", default)]
    pub ip: String,
    #[serde(rename = "AppState", default, deserialize_with = "int_or_string")]
    pub app_state: Option<i64>,
    #[serde(rename = "TaskState", default, deserialize_with = "int_or_string")]
    pub task_state: Option<i64>,
    #[serde(
        rename = "ContainerStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_status: Option<String>,
    #[serde(rename = "VpcId", default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<i64>,
    #[serde(
        rename = "UpdateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub update_time: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Ecu {
    #[serde(rename = "EcuId")]
    pub ecu_id: String,
    #[serde(rename = "InstanceId", default)]
    pub instance_id: String,
    #[serde(rename = "IpAddr", default)]
    pub ip_addr: String,
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "Online", default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    #[serde(rename = "GroupId", default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(rename = "RegionId", default, skip_serializing_if = "Option::is_none")]
    pub region_id: Option<String>,
    #[serde(rename = "ZoneId", default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
    #[serde(rename = "VpcId", default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(
        rename = "AvailableCpu",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub available_cpu: Option<i64>,
    #[serde(
        rename = "AvailableMem",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub available_mem: Option<i64>,
    #[serde(
        rename = "HeartbeatTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub heartbeat_time: Option<i64>,
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Group {
    #[serde(rename = "GroupId")]
    pub group_id: String,
    #[serde(rename = "GroupName", default)]
    pub group_name: String,
    #[serde(rename = "GroupType", default, deserialize_with = "int_or_string")]
    pub group_type: Option<i64>,
    #[serde(rename = "AppId", default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(rename = "ClusterId", default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<i64>,
}

// ---------------------------------------------------------------- change orders

/// ScaleInApplication / ScaleOutApplication (and every other `co_*` producer).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ChangeOrderCreatedResponse {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(
        rename = "ChangeOrderId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub change_order_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct GetChangeOrderInfoResponse {
    #[serde(flatten)]
    pub envelope: Envelope,
    /// Lower-case `c`, in every SDK.
    #[serde(
        rename = "changeOrderInfo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub change_order_info: Option<ChangeOrderInfo>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ChangeOrderInfo {
    #[serde(rename = "ChangeOrderId", default)]
    pub change_order_id: String,
    #[serde(rename = "Status", deserialize_with = "int_or_string", default)]
    pub status: Option<i64>,
    #[serde(rename = "CoType", default, skip_serializing_if = "Option::is_none")]
    pub co_type: Option<String>,
    #[serde(rename = "Desc", default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    #[serde(
        rename = "ChangeOrderDescription",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub change_order_description: Option<String>,
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<String>,
    #[serde(
        rename = "CreateUserId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_user_id: Option<String>,
    #[serde(rename = "BatchCount", default, deserialize_with = "int_or_string")]
    pub batch_count: Option<i64>,
    #[serde(rename = "BatchType", default, skip_serializing_if = "Option::is_none")]
    pub batch_type: Option<String>,
    #[serde(
        rename = "SupportRollback",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub support_rollback: Option<bool>,
    #[serde(rename = "Targets", default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Targets>,
    #[serde(
        rename = "PipelineInfoList",
        default,
        deserialize_with = "null_as_default"
    )]
    pub pipeline_info_list: PipelineInfoList,
}

wrapper!(Targets, "Items", String);
wrapper!(PipelineInfoList, "PipelineInfo", PipelineInfo);
wrapper!(StageDetailList, "StageDetailDTO", StageDetail);
wrapper!(TaskList, "TaskInfoDTO", TaskInfo);

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct PipelineInfo {
    #[serde(rename = "PipelineId", default)]
    pub pipeline_id: String,
    #[serde(rename = "PipelineName", default)]
    pub pipeline_name: String,
    #[serde(rename = "PipelineStatus", default, deserialize_with = "int_or_string")]
    pub pipeline_status: Option<i64>,
    #[serde(rename = "StartTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(
        rename = "UpdateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub update_time: Option<String>,
    #[serde(
        rename = "StageDetailList",
        default,
        deserialize_with = "null_as_default"
    )]
    pub stage_detail_list: StageDetailList,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct StageDetail {
    #[serde(rename = "StageId", default)]
    pub stage_id: String,
    #[serde(rename = "StageName", default)]
    pub stage_name: String,
    #[serde(rename = "StageStatus", default, deserialize_with = "int_or_string")]
    pub stage_status: Option<i64>,
    #[serde(rename = "TaskList", default, deserialize_with = "null_as_default")]
    pub task_list: TaskList,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct TaskInfo {
    #[serde(rename = "TaskId", default)]
    pub task_id: String,
    #[serde(rename = "TaskName", default)]
    pub task_name: String,
    /// Typed string by the SDK (every other status is an int); same enum.
    #[serde(
        rename = "TaskStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub task_status: Option<String>,
    #[serde(
        rename = "TaskMessage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub task_message: Option<String>,
    #[serde(
        rename = "TaskErrorCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub task_error_code: Option<String>,
    #[serde(
        rename = "TaskErrorMessage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub task_error_message: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ListRecentChangeOrderResponse {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(
        rename = "ChangeOrderList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub change_order_list: Option<ChangeOrderList>,
}

wrapper!(ChangeOrderList, "ChangeOrder", ChangeOrderSummary);

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ChangeOrderSummary {
    #[serde(rename = "ChangeOrderId")]
    pub change_order_id: String,
    #[serde(rename = "AppId", default)]
    pub app_id: String,
    #[serde(rename = "GroupId", default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(rename = "Status", default, deserialize_with = "int_or_string")]
    pub status: Option<i64>,
    #[serde(rename = "CoType", default, skip_serializing_if = "Option::is_none")]
    pub co_type: Option<String>,
    #[serde(
        rename = "CoTypeCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub co_type_code: Option<String>,
    #[serde(rename = "BatchCount", default, deserialize_with = "int_or_string")]
    pub batch_count: Option<i64>,
    #[serde(rename = "BatchType", default, skip_serializing_if = "Option::is_none")]
    pub batch_type: Option<String>,
    #[serde(rename = "Source", default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(
        rename = "ChangeOrderDescription",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub change_order_description: Option<String>,
    /// "2019-11-13 14:23:46"
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<String>,
    #[serde(
        rename = "FinishTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub finish_time: Option<String>,
    #[serde(
        rename = "CreateUserId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_user_id: Option<String>,
    #[serde(rename = "UserId", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

// ---------------------------------------------------------------- applications

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ListApplicationResponse {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(
        rename = "ApplicationList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub application_list: Option<ApplicationList>,
}

wrapper!(ApplicationList, "Application", ApplicationSummary);

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ApplicationSummary {
    #[serde(rename = "AppId")]
    pub app_id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "RegionId", default, skip_serializing_if = "Option::is_none")]
    pub region_id: Option<String>,
    #[serde(rename = "ClusterId", default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(rename = "ClusterType", default, deserialize_with = "int_or_string")]
    pub cluster_type: Option<i64>,
    #[serde(rename = "State", default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(rename = "Instances", default, deserialize_with = "int_or_string")]
    pub instances: Option<i64>,
    #[serde(
        rename = "RunningInstanceCount",
        default,
        deserialize_with = "int_or_string"
    )]
    pub running_instance_count: Option<i64>,
    #[serde(
        rename = "ApplicationType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub application_type: Option<String>,
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct GetApplicationResponse {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(
        rename = "Application",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub application: Option<ApplicationDetail>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ApplicationDetail {
    #[serde(rename = "AppId")]
    pub app_id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "RegionId", default, skip_serializing_if = "Option::is_none")]
    pub region_id: Option<String>,
    #[serde(rename = "ClusterId", default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// A string here ("2" = ECS), an int in ListApplication.
    #[serde(
        rename = "ClusterType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cluster_type: Option<String>,
    #[serde(
        rename = "ApplicationType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub application_type: Option<String>,
    #[serde(rename = "InstanceCount", default, deserialize_with = "int_or_string")]
    pub instance_count: Option<i64>,
    #[serde(
        rename = "RunningInstanceCount",
        default,
        deserialize_with = "int_or_string"
    )]
    pub running_instance_count: Option<i64>,
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ListDeployGroupResponse {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(
        rename = "DeployGroupList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deploy_group_list: Option<DeployGroupList>,
}

wrapper!(DeployGroupList, "DeployGroup", DeployGroup);

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct DeployGroup {
    #[serde(rename = "GroupId")]
    pub group_id: String,
    #[serde(rename = "GroupName", default)]
    pub group_name: String,
    #[serde(rename = "GroupType", default, deserialize_with = "int_or_string")]
    pub group_type: Option<i64>,
    #[serde(rename = "AppId", default)]
    pub app_id: String,
    #[serde(rename = "ClusterId", default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ListScaleOutEcuResponse {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(
        rename = "EcuInfoList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ecu_info_list: Option<EcuInfoList>,
}

wrapper!(EcuInfoList, "EcuInfo", Ecu);

/// AbortChangeOrder: `Data:{ChangeOrderId}` plus TraceId/ErrorCode.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AbortChangeOrderResponse {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(rename = "TraceId", default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(rename = "ErrorCode", default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(rename = "Data", default, skip_serializing_if = "Option::is_none")]
    pub data: Option<AbortData>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AbortData {
    #[serde(rename = "ChangeOrderId", default)]
    pub change_order_id: String,
}

/// Formats EDAS uses for change-order times: "YYYY-MM-DD HH:MM:SS".
pub fn format_co_time(epoch_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(epoch_ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Parse "YYYY-MM-DD HH:MM:SS" (taken as UTC) into epoch milliseconds.
pub fn parse_co_time(s: &str) -> Option<i64> {
    let dt: jiff::civil::DateTime = s.trim().parse().ok()?;
    dt.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_read_as_int_or_string() {
        let e: Envelope = serde_json::from_str(r#"{"Code":200}"#).unwrap();
        assert_eq!(e.code, Some(Code::Int(200)));
        let e: Envelope = serde_json::from_str(r#"{"Code":"Throttling.User"}"#).unwrap();
        assert_eq!(e.code, Some(Code::Str("Throttling.User".into())));
        let e: Envelope = serde_json::from_str(r#"{"Code":"601"}"#).unwrap();
        assert_eq!(e.code, Some(Code::Int(601)));
    }

    #[test]
    fn change_order_info_key_is_lower_case() {
        let r: GetChangeOrderInfoResponse = serde_json::from_str(
            r#"{"Code":200,"changeOrderInfo":{"ChangeOrderId":"x","Status":1,
            "PipelineInfoList":{"PipelineInfo":[{"PipelineId":"p","PipelineStatus":"8"}]}}}"#,
        )
        .unwrap();
        let info = r.change_order_info.unwrap();
        assert_eq!(info.status, Some(1));
        assert_eq!(info.pipeline_info_list.items[0].pipeline_status, Some(8));
    }

    #[test]
    fn null_lists_read_as_empty() {
        let r: QueryApplicationStatusResponse = serde_json::from_str(
            r#"{"Code":200,"AppInfo":{"EccList":null,"EcuList":{"Ecu":null}}}"#,
        )
        .unwrap();
        let info = r.app_info.unwrap();
        assert!(info.ecc_list.items.is_empty() && info.ecu_list.items.is_empty());
    }

    #[test]
    fn co_time_round_trips() {
        let ms = parse_co_time("2019-11-13 14:23:46").unwrap();
        assert_eq!(format_co_time(ms), "2019-11-13 14:23:46");
    }
}
