//! The controller's own REST vocabulary: the cluster, nodes, services and
//! tasks, as `skiff` and the controller exchange them.

use serde::{Deserialize, Serialize};

use crate::CreateRequest;

/// The controller's default port.
pub const DEFAULT_PORT: u16 = 7443;

/// The header that sends a Docker API call through the controller to one
/// node (`skiff --node NAME …`).
pub const NODE_HEADER: &str = "x-skiff-node";

/// `GET /cluster`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterInfo {
    #[serde(rename = "ID")]
    pub id: String,
    pub created_at: String,
    pub join_tokens: JoinTokens,
    pub heartbeat_period_ms: u64,
    pub node_timeout_ms: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct JoinTokens {
    pub agent: String,
    pub admin: String,
    pub readonly: String,
    #[serde(default)]
    pub controller: String,
}

/// A node as `GET /nodes` shows it: Docker's Node object, plus what skiff
/// adds (reservations, container count, heartbeat age).
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub spec: NodeSpec,
    pub description: NodeDescription,
    pub status: NodeStatus,
    pub reserved: Resources,
    pub containers: u64,
    /// Milliseconds since the last heartbeat; absent if never seen.
    pub heartbeat_age_ms: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NodeSpec {
    pub labels: std::collections::BTreeMap<String, String>,
    pub role: String,
    /// active, drain (pause is Docker's too, treated as drain for new work)
    pub availability: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NodeDescription {
    pub hostname: String,
    pub platform: Platform,
    pub resources: Resources,
    pub engine: Engine,
    pub addresses: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Platform {
    pub architecture: String,
    #[serde(rename = "OS")]
    pub os: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Resources {
    #[serde(rename = "NanoCPUs")]
    pub nano_cpus: i64,
    pub memory_bytes: i64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Engine {
    pub engine_version: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct NodeStatus {
    /// ready, down, unknown
    pub state: String,
    pub addr: String,
    pub message: String,
}

/// `POST /nodes/{id}/update`: what changes; absent fields stay.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeUpdate {
    pub availability: Option<String>,
    pub labels_add: std::collections::BTreeMap<String, String>,
    pub labels_rm: Vec<String>,
}

/// `POST /services/{id}/update`: what `service update` changes; what is
/// left out stays. A change to the container (image, env, command) or
/// `Force` rolls the tasks over.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_rm: Vec<String>,
    /// The command's arguments, replacing the old ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Replace every task even if nothing changed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_parallelism: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraint_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraint_rm: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub placement_pref_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub placement_pref_rm: Vec<String>,
}

/// What a service is: `replicas` copies of one container (Docker's
/// container-create body), placed like `run` is.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceSpec {
    pub name: String,
    pub replicas: u32,
    pub container: CreateRequest,
    pub constraints: Vec<String>,
    pub placement: String,
    /// `spread=node.labels.KEY`: tasks spread evenly over the key's values.
    #[serde(default)]
    pub placement_prefs: Vec<String>,
    /// Rolling updates: tasks replaced at a time (0 means 1), and the
    /// pause between steps.
    #[serde(default)]
    pub update_parallelism: u32,
    #[serde(default)]
    pub update_delay_ms: u64,
    /// Bumped by `service update --force`: replace every task even if
    /// nothing else changed (Docker's `ForceUpdate`).
    #[serde(default)]
    pub force_update: u64,
}

/// `GET /services` and `/services/{id}`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceInfo {
    #[serde(rename = "ID")]
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub spec: ServiceSpec,
    /// Tasks whose container is running.
    pub running: u32,
    /// The container spec's version; tasks of older versions are being
    /// replaced (a rolling update) while `updating` is set.
    pub version: u64,
    pub updating: bool,
}

/// `GET /tasks?service=…`: one copy of a service, where it is and how it is.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskInfo {
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    pub slot: u32,
    pub node: String,
    pub desired_state: String,
    /// The container's state on its node ("running", "exited", …), or
    /// "unknown" while the node is not reporting.
    pub state: String,
    pub container: String,
    pub image: String,
    pub created_at: String,
    /// The service version its container was made from.
    pub version: u64,
    /// Why a pending task has no node yet.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// An admin or read-only client certificate the cluster issued
/// (`skiff cluster clients`).
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ClientStatus {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_at: String,
}

/// One controller as `GET /cluster/controllers` shows it (the leader's
/// view: it alone knows how far each member's log has come).
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ControllerStatus {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "RaftID")]
    pub raft_id: u64,
    pub addr: String,
    /// Swarm's MANAGER STATUS: "Leader", "Reachable" or "Unreachable".
    pub manager_status: String,
    /// "voter", or "learner" while it catches up after joining.
    pub membership: String,
    pub term: u64,
    /// The leader's commit index, and how far this member's log matches it.
    pub commit: u64,
    pub matched: u64,
    pub lag: u64,
    pub created_at: String,
}
