//! The `EdasAppMembership` custom resource: spec, status, condition types and reasons.

use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "edas.operators.dev";
pub const PAUSED_ANNOTATION: &str = "edas.operators.dev/paused";
/// Set to the token a Stalled resource names (an aborted order's id, or a forced removal's
/// time) to let the operator try again without changing the spec.
pub const RETRY_ANNOTATION: &str = "edas.operators.dev/retry";
/// The one field manager the operator writes status with (server-side apply).
pub const FIELD_MANAGER: &str = "edas-operator";
pub const HISTORY_LIMIT: usize = 10;
pub const MAX_MEMBERS: usize = 200;

/// Declares which ECCs (application instances, one per ECS host) an EDAS application should
/// run on. The operator adds the declared hosts that do not run it with ScaleOutApplication,
/// waits until they are healthy, then removes the others with ScaleInApplication, one change
/// order at a time.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "edas.operators.dev",
    version = "v1alpha1",
    kind = "EdasAppMembership",
    plural = "edasappmemberships",
    shortname = "eam",
    namespaced,
    status = "EdasAppMembershipStatus",
    printcolumn = r#"{"name":"App","type":"string","jsonPath":".spec.appId"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desired"}"#,
    printcolumn = r#"{"name":"Observed","type":"integer","jsonPath":".status.observed"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Change-Order","type":"string","jsonPath":".status.changeOrder.summary"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EdasAppMembershipSpec {
    /// EDAS application id. Immutable.
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("appId is immutable"))]
    pub app_id: String,
    /// Region of the application, e.g. cn-hangzhou. Immutable.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z0-9-]+$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("regionId is immutable"))]
    pub region_id: String,
    /// The desired set of ECCs. Each entry names one host or ECC by exactly one of eccId,
    /// instanceId (ECS instance id), ip or ecuId. ECCs of the app not named here are removed;
    /// hosts named by instanceId, ip or ecuId that do not run the app are added (see scaleOut).
    #[serde(default)]
    #[schemars(length(max = 200))]
    #[x_kube(validation = Rule::new("self.all(m, self.exists_one(n, n == m))").message("members must not name the same ECC twice"))]
    pub members: Vec<Member>,
    /// A Secret in this resource's namespace with ALIBABA_CLOUD_ACCESS_KEY_ID,
    /// ALIBABA_CLOUD_ACCESS_KEY_SECRET and optionally ALIBABA_CLOUD_SECURITY_TOKEN. When absent,
    /// the operator's own credentials are used, only in namespaces it was told to allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,
    /// Manage (default): remove extra ECCs. Observe: compute and show the plan, never mutate.
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// How removals are made.
    #[serde(default)]
    pub scale_in: ScaleInPolicy,
    /// How additions are made.
    #[serde(default)]
    pub scale_out: ScaleOutPolicy,
    /// How long a change order may run before it is reported as stuck: a duration such as 30m
    /// or 1h (units ms, s, m, h). Default 30m.
    #[serde(default = "default_timeout")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub change_order_timeout: String,
}

fn default_timeout() -> String {
    "30m".into()
}

/// One ECC or host, named by exactly one identifier.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.eccId), has(self.instanceId), has(self.ip), has(self.ecuId)].filter(x, x).size() == 1").message("a member names exactly one of eccId, instanceId, ip or ecuId"))]
pub struct Member {
    /// ECC id (from QueryApplicationStatus). An ECC id exists only once the instance runs,
    /// so a member named this way is never added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub ecc_id: Option<String>,
    /// ECS instance id (i-...), resolved through the app's ECU list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub instance_id: Option<String>,
    /// Private IP of the ECU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub ip: Option<String>,
    /// ECU id (the host as EDAS knows it, from ListScaleOutEcu or QueryApplicationStatus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub ecu_id: Option<String>,
}

impl Member {
    /// Named by a host (instanceId, ip or ecuId), so it can be added with ScaleOut.
    pub fn is_addable(&self) -> bool {
        self.ecc_id.is_none()
    }
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.ecc_id, &self.instance_id, &self.ip, &self.ecu_id) {
            (Some(e), _, _, _) => write!(f, "eccId={e}"),
            (_, Some(i), _, _) => write!(f, "instanceId={i}"),
            (_, _, Some(ip), _) => write!(f, "ip={ip}"),
            (_, _, _, Some(u)) => write!(f, "ecuId={u}"),
            _ => f.write_str("<empty member>"),
        }
    }
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// Name of a Secret in the resource's own namespace holding ALIBABA_CLOUD_ACCESS_KEY_ID,
    /// ALIBABA_CLOUD_ACCESS_KEY_SECRET and optionally ALIBABA_CLOUD_SECURITY_TOKEN.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ManagementPolicy {
    #[default]
    Manage,
    Observe,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScaleInPolicy {
    /// ForceStatus: remove at once without a change order. Meant only for expired ECS.
    #[serde(default)]
    pub force: bool,
    /// At most this many ECCs per change order (1 to 50). Default 5.
    #[serde(default = "default_max_per_co")]
    #[schemars(range(min = 1, max = 50))]
    pub max_per_change_order: i32,
    /// Never leave fewer healthy (running, last task succeeded) ECCs than this (0 or more).
    /// Default 1.
    #[serde(default = "default_min_remaining")]
    #[schemars(range(min = 0))]
    pub min_remaining: i32,
}

fn default_max_per_co() -> i32 {
    5
}
fn default_min_remaining() -> i32 {
    1
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScaleOutPolicy {
    /// Add declared hosts that do not run the app (default true). False keeps remove-only
    /// behaviour: such members are reported as MembersMissing.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The deploy group new instances join: a group name or id. Default: the app's default
    /// group (GroupType 0 in ListDeployGroup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub deploy_group: Option<String>,
    /// At most this many hosts per ScaleOut change order (1 to 50). Default 5.
    #[serde(default = "default_max_per_co")]
    #[schemars(range(min = 1, max = 50))]
    pub max_per_change_order: i32,
}

fn default_true() -> bool {
    true
}

impl Default for ScaleOutPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            deploy_group: None,
            max_per_change_order: default_max_per_co(),
        }
    }
}

impl Default for ScaleInPolicy {
    fn default() -> Self {
        Self {
            force: false,
            max_per_change_order: default_max_per_co(),
            min_remaining: default_min_remaining(),
        }
    }
}

/// What the operator observed and did.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EdasAppMembershipStatus {
    /// The metadata.generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Synced, and the kstatus conditions Reconciling and Stalled.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Number of declared members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<i32>,
    /// Number of ECCs the app has now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<i32>,
    /// The app's ECCs as last observed.
    #[serde(default)]
    pub members: Vec<ObservedMember>,
    /// What the operator would do next, from the last observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanStatus>,
    /// A scale-in the operator is about to send or has sent without an answer yet. Kept so that
    /// a restarted operator observes before it sends anything again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_scale_in: Option<PendingScaleIn>,
    /// A scale-out the operator is about to send or has sent without an answer yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_scale_out: Option<PendingScaleOut>,
    /// The change order being followed (or the last one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_order: Option<ChangeOrderStatus>,
    /// The last orders, newest first.
    #[serde(default)]
    pub history: Vec<ChangeOrderStatus>,
    /// When QueryApplicationStatus was last read (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_at: Option<String>,
    /// Removals not yet observed in EDAS's answers (read-after-write lag, forced removals).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removals: Vec<RemovalRecord>,
    /// Hosts an order of ours added, until an observation shows each one's ECC healthy. No
    /// removal is sent while any is listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additions: Vec<AdditionRecord>,
    /// A change order of ours that a person aborted; the resource is Stalled until the spec
    /// changes or the retry annotation names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<AbortedOrder>,
    /// Change orders of ours that failed in a row; the next try waits longer each time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<i32>,
    /// What Ready=True rests on; absent while Ready is not True.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_basis: Option<ReadyBasis>,
}

/// What Ready=True rests on. `Observation`: QueryApplicationStatus showed exactly the declared
/// members. `ChangeOrder`: the observation before a scale-in showed nothing else to remove and
/// that scale-in's change order succeeded on all its ECCs; `members` is that observation minus
/// the removed ECCs, and a confirming observation follows within the resync interval (if it
/// disagrees, Ready turns False with a reason).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReadyBasis {
    /// Observation or ChangeOrder.
    pub source: String,
    /// The observation's time (RFC 3339); for ChangeOrder, the observation before the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// For ChangeOrder: the order whose outcome Ready rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_order_id: Option<String>,
    /// For ChangeOrder: when the operator saw the order succeed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// [`ReadyBasis::source`] values.
pub mod ready_basis {
    pub const OBSERVATION: &str = "Observation";
    pub const CHANGE_ORDER: &str = "ChangeOrder";
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Ready, Synced, Reconciling or Stalled.
    #[serde(rename = "type")]
    pub type_: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    /// A CamelCase word saying why (the README lists them).
    pub reason: String,
    /// What happened, for a person.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (RFC 3339); not touched while the status stays.
    pub last_transition_time: String,
    /// The metadata.generation this condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedMember {
    /// The ECC (the app's instance on one host).
    pub ecc_id: String,
    /// The ECU (the host as EDAS knows it).
    pub ecu_id: String,
    /// The ECS instance id of the host; empty when EDAS's answer did not say.
    #[serde(default)]
    pub instance_id: String,
    /// The host's private IP; empty when EDAS's answer did not say.
    #[serde(default)]
    pub ip: String,
    /// EDAS AppState: RUNNING, STOPPED, AGENT_OFFLINE, UNKNOWN or unknown(n).
    pub app_state: String,
    /// EDAS TaskState of the last task: UNKNOWN, PROCESSING, SUCCESS, FAILED or unknown(n).
    pub task_state: String,
    /// Named by the spec.
    pub declared: bool,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    /// ECC ids present but not declared.
    #[serde(default)]
    pub to_remove: Vec<String>,
    /// Declared members not running the app and not being added.
    #[serde(default)]
    pub missing: Vec<String>,
    /// Declared hosts to add, each with the ECU it resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_add: Vec<PlannedAddition>,
    /// The ECU ids of the next ScaleOut change order (sent before any removal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_add_batch: Vec<String>,
    /// The ECC ids of the next change order.
    #[serde(default)]
    pub next_batch: Vec<String>,
    /// Why the next removal is not being made, if it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_reason: Option<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PendingScaleIn {
    /// The ECCs the ScaleIn names.
    pub ecc_ids: Vec<String>,
    /// Sent with ForceStatus=true (no change order).
    pub force: bool,
    /// When the intent was recorded, before the call (RFC 3339).
    pub started_at: String,
    /// Set when the call's outcome was unknown and the operator is observing before acting.
    #[serde(default)]
    pub outcome_unknown: bool,
    /// Observations made after the quiet window that saw no order for these ECCs and the ECCs
    /// still listed; at two, the call is known not to have been applied.
    #[serde(default)]
    pub quiet_observations: i32,
    /// The metadata.generation of the spec the batch was planned for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// A declared host to add and the free ECU it resolved to.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedAddition {
    /// The member as declared, e.g. instanceId=i-abc.
    pub member: String,
    /// The free ECU of the app's cluster it names (ListScaleOutEcu).
    pub ecu_id: String,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PendingScaleOut {
    /// The ECUs the ScaleOut names.
    pub ecu_ids: Vec<String>,
    /// The deploy group id it names.
    pub deploy_group: String,
    /// When the intent was recorded, before the call (RFC 3339).
    pub started_at: String,
    /// Set when the call's outcome was unknown and the operator is observing before acting.
    #[serde(default)]
    pub outcome_unknown: bool,
    /// Observations after the quiet window that saw no order for these ECUs and no ECC on
    /// them; at two, the call is known not to have been applied.
    #[serde(default)]
    pub quiet_observations: i32,
    /// The metadata.generation of the spec the batch was planned for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// Hosts a ScaleOut order of ours added, not yet observed running the app healthy.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AdditionRecord {
    /// The ECUs the order named.
    pub ecu_ids: Vec<String>,
    /// The change order that added them; empty when the ECCs were observed without one.
    #[serde(default)]
    pub change_order_id: String,
    /// When the order was seen to end (RFC 3339); the new ECCs must be healthy within
    /// changeOrderTimeout of it.
    pub at: String,
}

/// ECCs that a change order of ours (or a forced ScaleIn) removed, not yet observed absent.
/// They are not sent again while reads may still lag the removal.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RemovalRecord {
    /// The ECCs the order (or forced call) named.
    pub ecc_ids: Vec<String>,
    /// The change order that removed them; empty for a forced ScaleIn (EDAS makes no order).
    #[serde(default)]
    pub change_order_id: String,
    /// The removal was a forced ScaleIn: never re-sent automatically.
    #[serde(default)]
    pub forced: bool,
    /// When the order ended or the forced call was answered (RFC 3339).
    pub at: String,
    /// The order could not be read when this was recorded, so when it ended is not known:
    /// once re-read and found ended, the hold-off starts again from then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unconfirmed: bool,
}

/// A change order of ours that a person aborted in EDAS (status 6). Nothing is sent until the
/// spec's generation changes or the annotation `edas.operators.dev/retry` names this order.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AbortedOrder {
    /// The aborted change order's id.
    pub change_order_id: String,
    /// The spec generation in force when it was aborted.
    pub generation: i64,
    /// When the operator saw it aborted (RFC 3339).
    pub at: String,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChangeOrderStatus {
    /// Change order id; empty for a forced removal (EDAS makes no order).
    #[serde(default)]
    pub id: String,
    /// The operator made this order (its id or its targets match the operator's recorded
    /// intent); other orders, a person's or another API client's, are foreign.
    #[serde(default)]
    pub ours: bool,
    /// Status name: Ready, Running, Succeeded, Failed, Aborted, WaitingManualConfirm, ...
    pub status: String,
    /// EDAS's numeric status: 0 ready, 1 running, 2 succeeded, 3 failed, 6 aborted,
    /// 7 partially succeeded, 8 waiting for confirmation, 9 waiting for the next batch,
    /// 10 system error; -1 when the order could not be read.
    pub status_code: i64,
    /// "<status> <id>" for `kubectl get`.
    #[serde(default)]
    pub summary: String,
    /// ScaleIn or ScaleOut, for orders of ours.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub direction: String,
    /// The ECCs the order acts on (ScaleIn).
    #[serde(default)]
    pub ecc_ids: Vec<String>,
    /// The ECUs the order adds (ScaleOut).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ecu_ids: Vec<String>,
    /// Made by this operator (pop) or someone else (console).
    #[serde(default)]
    pub source: String,
    /// The order's type (CoScaleIn, CoDeploy, ...).
    #[serde(default)]
    pub co_type: String,
    /// When the order was made (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When GetChangeOrderInfo was last read for it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_polled_at: Option<String>,
    /// When the operator saw it end (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The first task error, or why the order waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Polls made of this order so far.
    #[serde(default)]
    pub polls: i64,
    /// For an order of ours: the metadata.generation of the spec it was planned for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// Condition types.
pub mod condition {
    pub const READY: &str = "Ready";
    pub const SYNCED: &str = "Synced";
    /// kstatus: True while the operator is still working towards the spec.
    pub const RECONCILING: &str = "Reconciling";
    /// kstatus: True when progress is blocked and needs a human.
    pub const STALLED: &str = "Stalled";
}

/// Condition reasons (documented in the README).
pub mod reason {
    pub const CONVERGED: &str = "Converged";
    pub const CHANGE_ORDER_RUNNING: &str = "ChangeOrderRunning";
    pub const MEMBERS_MISSING: &str = "MembersMissing";
    pub const CHANGE_ORDER_FAILED: &str = "ChangeOrderFailed";
    pub const CHANGE_ORDER_STUCK: &str = "ChangeOrderStuck";
    pub const WAITING_FOR_CONFIRMATION: &str = "WaitingForConfirmation";
    pub const SAFETY_LIMIT: &str = "SafetyLimit";
    pub const CHANGE_ORDER_IN_PROGRESS: &str = "ChangeOrderInProgress";
    pub const OUTCOME_UNKNOWN: &str = "OutcomeUnknown";
    pub const PAUSED: &str = "Paused";
    pub const CONFLICT: &str = "Conflict";
    pub const INVALID_CREDENTIALS: &str = "InvalidCredentials";
    /// The credentials' source (STS, the instance metadata service, the apiserver for the
    /// Secret) could not be reached or failed; retried with backoff.
    pub const CREDENTIALS_UNAVAILABLE: &str = "CredentialsUnavailable";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const THROTTLED: &str = "Throttled";
    pub const EDAS_UNAVAILABLE: &str = "EdasUnavailable";
    pub const EDAS_ERROR: &str = "EdasError";
    pub const MALFORMED_RESPONSE: &str = "MalformedResponse";
    pub const OBSERVE_ONLY: &str = "ObserveOnly";
    pub const PLAN_PENDING: &str = "PlanPending";
    pub const RECONCILE_ERROR: &str = "ReconcileError";
    pub const RECONCILED: &str = "Reconciled";
    pub const ABORTED_BY_USER: &str = "AbortedByUser";
    pub const FORCED_REMOVAL_NOT_OBSERVED: &str = "ForcedRemovalNotObserved";
    pub const WAITING_FOR_READS: &str = "WaitingForReads";
    pub const INCOMPLETE_OBSERVATION: &str = "IncompleteObservation";
    pub const TERMINATING: &str = "Terminating";
    pub const CANNOT_SETTLE: &str = "CannotSettle";
    pub const CHANGE_ORDER_SUCCEEDED: &str = "ChangeOrderSucceeded";
    pub const CHANGE_ORDER_STARTED: &str = "ChangeOrderStarted";
    pub const CHANGE_ORDER_ABORTED: &str = "ChangeOrderAborted";
    pub const FORCED_SCALE_IN: &str = "ForcedScaleIn";
    /// A declared host resolves to no free ECU of the app's cluster, or to more than one.
    pub const MEMBER_NOT_ADDABLE: &str = "MemberNotAddable";
    /// A member (by ip or instanceId) matches more than one ECC of the app.
    pub const MEMBER_AMBIGUOUS: &str = "MemberAmbiguous";
    /// Added ECCs are not healthy yet: no removal is sent.
    pub const WAITING_FOR_NEW_MEMBERS: &str = "WaitingForNewMembers";
    /// An added ECC did not become healthy within changeOrderTimeout: removals stopped.
    pub const NEW_MEMBER_UNHEALTHY: &str = "NewMemberUnhealthy";
    /// A ScaleOut waits for its rate budget (40/min per key): nothing was sent.
    pub const WAITING_FOR_BUDGET: &str = "WaitingForBudget";
    /// EDAS refused a ScaleOut (not applied); retried with backoff.
    pub const SCALE_OUT_REFUSED: &str = "ScaleOutRefused";
}

/// [`ChangeOrderStatus::direction`] values.
pub mod direction {
    pub const SCALE_IN: &str = "ScaleIn";
    pub const SCALE_OUT: &str = "ScaleOut";
}

pub fn crd_yaml() -> anyhow::Result<String> {
    let mut crd = serde_json::to_value(EdasAppMembership::crd())?;
    unwrap_descriptions(&mut crd);
    Ok(serde_yaml_ng::to_string(&crd)?)
}

/// Doc comments keep the source's line breaks; `kubectl explain` wraps text itself and would
/// show them as hard breaks mid-sentence. Join the lines of each paragraph.
fn unwrap_descriptions(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                match child {
                    serde_json::Value::String(s) if k == "description" => {
                        *s = s
                            .split("\n\n")
                            .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    _ => unwrap_descriptions(child),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

pub fn print_crd() -> anyhow::Result<()> {
    print!("{}", crd_yaml()?);
    Ok(())
}

impl EdasAppMembershipSpec {
    /// What the apiserver checks, checked again here (for `plan -f` and manifests from files).
    pub fn validate(&self) -> Result<(), String> {
        if self.app_id.trim().is_empty() {
            return Err("spec.appId: must not be empty".into());
        }
        crate::edas::endpoint::validate_region(&self.region_id)
            .map_err(|e| format!("spec.regionId: {e}"))?;
        if self.members.len() > MAX_MEMBERS {
            return Err(format!("spec.members: at most {MAX_MEMBERS} entries"));
        }
        for (i, m) in self.members.iter().enumerate() {
            let n = [&m.ecc_id, &m.instance_id, &m.ip, &m.ecu_id]
                .iter()
                .filter(|x| x.as_ref().is_some_and(|s| !s.is_empty()))
                .count();
            if n != 1 {
                return Err(format!(
                    "spec.members[{i}]: a member names exactly one of eccId, instanceId, ip or ecuId"
                ));
            }
            if self.members[..i].contains(m) {
                return Err(format!("spec.members[{i}]: {m} is listed twice"));
            }
        }
        if !(1..=50).contains(&self.scale_in.max_per_change_order) {
            return Err("spec.scaleIn.maxPerChangeOrder: must be between 1 and 50".into());
        }
        if !(1..=50).contains(&self.scale_out.max_per_change_order) {
            return Err("spec.scaleOut.maxPerChangeOrder: must be between 1 and 50".into());
        }
        if self
            .scale_out
            .deploy_group
            .as_deref()
            .is_some_and(|g| g.trim().is_empty())
        {
            return Err("spec.scaleOut.deployGroup: must not be empty when set".into());
        }
        if self.scale_in.min_remaining < 0 {
            return Err("spec.scaleIn.minRemaining: must be 0 or more".into());
        }
        self.change_order_timeout()?;
        Ok(())
    }

    pub fn change_order_timeout(&self) -> Result<std::time::Duration, String> {
        humantime::parse_duration(&self.change_order_timeout).map_err(|e| {
            format!(
                "spec.changeOrderTimeout: {:?} is not a duration: {e}",
                self.change_order_timeout
            )
        })
    }
}

#[cfg(test)]
mod tests {

    /// Properties of `schema` (recursively, through `items`) without a description.
    fn undescribed(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        if let Some(props) = schema["properties"].as_object() {
            for (k, v) in props {
                let p = format!("{path}.{k}");
                if v.get("description").is_none() {
                    out.push(p.clone());
                }
                undescribed(v, &p, out);
                undescribed(&v["items"], &format!("{p}[]"), out);
            }
        }
    }

    #[test]
    fn every_crd_field_has_a_description_for_kubectl_explain() {
        let crd = serde_json::to_value(EdasAppMembership::crd()).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut missing = Vec::new();
        undescribed(schema, "", &mut missing);
        assert!(
            missing.is_empty(),
            "fields without a description: {missing:?}"
        );
        assert!(
            schema["properties"]["spec"]["properties"]["members"]["items"]["properties"]
                .as_object()
                .is_some_and(|m| m.len() == 4)
        );
    }

    use super::*;

    #[test]
    fn crd_carries_cel_rules_and_printer_columns() {
        let y = crd_yaml().unwrap();
        assert!(y.contains("appId is immutable"));
        assert!(y.contains("a member names exactly one of eccId, instanceId, ip or ecuId"));
        assert!(y.contains("members must not name the same ECC twice"));
        assert!(y.contains("name: Change-Order"));
        assert!(y.contains("- eam"));
    }

    #[test]
    fn spec_defaults_are_the_documented_ones() {
        let s: EdasAppMembershipSpec =
            serde_json::from_str(r#"{"appId":"a","regionId":"cn-hangzhou"}"#).unwrap();
        assert_eq!(s.management_policy, ManagementPolicy::Manage);
        assert_eq!(s.scale_in.max_per_change_order, 5);
        assert_eq!(s.scale_in.min_remaining, 1);
        assert!(!s.scale_in.force);
        assert!(s.scale_out.enabled);
        assert_eq!(s.scale_out.max_per_change_order, 5);
        assert_eq!(s.scale_out.deploy_group, None);
        assert_eq!(s.change_order_timeout().unwrap().as_secs(), 1800);
    }

    #[test]
    fn local_validation_names_the_field() {
        let mut s: EdasAppMembershipSpec = serde_json::from_str(
            r#"{"appId":"a","regionId":"cn-hangzhou","members":[{"eccId":"e1","ip":"10.0.0.1"}]}"#,
        )
        .unwrap();
        assert!(s.validate().unwrap_err().starts_with("spec.members[0]"));
        s.members = vec![
            Member {
                ip: Some("10.0.0.1".into()),
                ..Default::default()
            };
            2
        ];
        assert!(s.validate().unwrap_err().contains("listed twice"));
    }
}
