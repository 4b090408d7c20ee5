//! The replicated cluster state and the commands that change it. `apply`
//! is deterministic: every time, ID and secret a command needs is chosen by
//! the proposer and carried in the command, so replaying the log rebuilds
//! the same state on every controller.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use skiff_api::cluster::{NodeDescription, NodeUpdate, ServiceSpec};
use skiff_certs::cluster::Role;

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct ClusterState {
    pub id: String,
    pub created_at: String,
    /// Join secrets by role (the token adds the CA fingerprint).
    pub tokens: BTreeMap<Role, String>,
    pub nodes: BTreeMap<String, NodeRecord>,
    pub clients: BTreeMap<String, ClientRecord>,
    /// Identities whose certificates are refused from now on.
    pub revoked: BTreeSet<String>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub tasks: BTreeMap<String, Task>,
    /// The controllers (raft voters), by raft ID.
    #[serde(default)]
    pub controllers: BTreeMap<u64, ControllerRecord>,
    /// The last raft ID handed out: IDs are never reused.
    #[serde(default)]
    pub last_raft_id: u64,
}

/// A controller: its raft ID, its certificate identity and the address
/// its peers, agents and clients reach it at.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ControllerRecord {
    pub raft_id: u64,
    pub id: String,
    pub addr: String,
    pub created_at: String,
}

/// A service: N copies of one container spec, kept running by the
/// orchestrator.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Service {
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub spec: ServiceSpec,
    /// Goes up when the container spec changes (or an update is forced);
    /// tasks made from an older version are rolled over to this one.
    #[serde(default)]
    pub version: u64,
}

/// One copy of a service, bound to a slot (1..=replicas) and a node. Its
/// container is named `<service>.<slot>.<task id>` and labelled with the
/// task ID.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub service: String,
    pub slot: u32,
    pub node: String,
    pub created_at: String,
    /// "running" or "shutdown" (to be removed from its node).
    pub desired: String,
    /// The service version it was made from.
    #[serde(default)]
    pub version: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct NodeRecord {
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub description: NodeDescription,
    pub labels: BTreeMap<String, String>,
    /// "active" or "drain".
    pub availability: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ClientRecord {
    pub id: String,
    pub role: Role,
    pub name: String,
    pub created_at: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum Command {
    Init {
        id: String,
        at: String,
        tokens: BTreeMap<Role, String>,
    },
    RotateToken {
        role: Role,
        secret: String,
    },
    AddNode {
        id: String,
        hostname: String,
        at: String,
    },
    AddClient {
        id: String,
        role: Role,
        name: String,
        at: String,
    },
    /// What an agent reported at registration, when it differs.
    Describe {
        id: String,
        description: NodeDescription,
        at: String,
    },
    UpdateNode {
        id: String,
        update: NodeUpdate,
        at: String,
    },
    /// A controller joins: it gets the next raft ID (its voter entry is a
    /// raft conf change proposed once this is applied).
    AddController {
        id: String,
        addr: String,
        at: String,
    },
    /// A controller leaves; its certificate is refused from now on.
    RemoveController {
        raft_id: u64,
    },
    /// Forget a node and refuse its certificate.
    RemoveNode {
        id: String,
    },
    /// Forget a client (admin or read-only) and refuse its certificate.
    RemoveClient {
        id: String,
    },
    CreateService {
        service: Service,
    },
    UpdateService {
        id: String,
        spec: ServiceSpec,
        at: String,
    },
    /// Remove a service; its tasks are marked for shutdown.
    RemoveService {
        id: String,
    },
    AddTask {
        task: Task,
    },
    ShutdownTask {
        id: String,
    },
    /// The task's container is gone from its node.
    RemoveTask {
        id: String,
    },
    /// Several commands in one raft entry (the orchestrator's placements
    /// of a pass), applied in order; the first refusal is the answer.
    Batch {
        commands: Vec<Command>,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    #[error("node {0} not found")]
    NoNode(String),
    #[error("invalid availability {0:?}: use active, pause or drain")]
    BadAvailability(String),
    #[error("the cluster is already initialized")]
    AlreadyInitialized,
    #[error("service {0} not found")]
    NoService(String),
    #[error("service {0} already exists")]
    ServiceExists(String),
    #[error("controller {0} not found")]
    NoController(String),
    #[error("client {0} not found")]
    NoClient(String),
}

impl ClusterState {
    pub fn apply(&mut self, cmd: Command) -> Result<(), ApplyError> {
        match cmd {
            Command::Init { id, at, tokens } => {
                if !self.id.is_empty() {
                    return Err(ApplyError::AlreadyInitialized);
                }
                self.id = id;
                self.created_at = at;
                self.tokens = tokens;
            }
            Command::RotateToken { role, secret } => {
                self.tokens.insert(role, secret);
            }
            Command::AddNode { id, hostname, at } => {
                let rec = NodeRecord {
                    id: id.clone(),
                    created_at: at.clone(),
                    updated_at: at,
                    description: NodeDescription {
                        hostname,
                        ..Default::default()
                    },
                    labels: BTreeMap::new(),
                    availability: "active".into(),
                };
                self.nodes.insert(id, rec);
            }
            Command::AddClient { id, role, name, at } => {
                let rec = ClientRecord {
                    id: id.clone(),
                    role,
                    name,
                    created_at: at,
                };
                self.clients.insert(id, rec);
            }
            Command::Describe { id, description, at } => {
                let n = self.nodes.get_mut(&id).ok_or(ApplyError::NoNode(id))?;
                n.description = description;
                n.updated_at = at;
            }
            Command::UpdateNode { id, update, at } => {
                let n = self.nodes.get_mut(&id).ok_or_else(|| ApplyError::NoNode(id.clone()))?;
                if let Some(a) = update.availability {
                    match a.as_str() {
                        "active" | "drain" | "pause" => n.availability = a,
                        _ => return Err(ApplyError::BadAvailability(a)),
                    }
                }
                for k in &update.labels_rm {
                    n.labels.remove(k);
                }
                n.labels.extend(update.labels_add);
                n.updated_at = at;
            }
            Command::AddController { id, addr, at } => {
                if let Some(c) = self.controllers.values_mut().find(|c| c.id == id) {
                    c.addr = addr;
                    return Ok(());
                }
                self.last_raft_id += 1;
                let raft_id = self.last_raft_id;
                let rec = ControllerRecord {
                    raft_id,
                    id,
                    addr,
                    created_at: at,
                };
                self.controllers.insert(raft_id, rec);
            }
            Command::RemoveController { raft_id } => {
                let c = self
                    .controllers
                    .remove(&raft_id)
                    .ok_or_else(|| ApplyError::NoController(raft_id.to_string()))?;
                self.revoked.insert(c.id);
            }
            Command::RemoveClient { id } => {
                self.clients
                    .remove(&id)
                    .ok_or_else(|| ApplyError::NoClient(id.clone()))?;
                self.revoked.insert(id);
            }
            Command::RemoveNode { id } => {
                self.nodes.remove(&id).ok_or_else(|| ApplyError::NoNode(id.clone()))?;
                // Its tasks can never be cleaned up there now.
                self.tasks.retain(|_, t| t.node != id);
                self.revoked.insert(id);
            }
            Command::CreateService { service } => {
                if self.services.values().any(|s| s.spec.name == service.spec.name) {
                    return Err(ApplyError::ServiceExists(service.spec.name));
                }
                self.services.insert(service.id.clone(), service);
            }
            Command::UpdateService { id, spec, at } => {
                let s = self.services.get_mut(&id).ok_or(ApplyError::NoService(id))?;
                let changed = serde_json::to_value(&s.spec.container).ok()
                    != serde_json::to_value(&spec.container).ok()
                    || s.spec.force_update != spec.force_update;
                if changed {
                    s.version += 1;
                }
                s.spec = spec;
                s.updated_at = at;
            }
            Command::RemoveService { id } => {
                self.services
                    .remove(&id)
                    .ok_or_else(|| ApplyError::NoService(id.clone()))?;
                for t in self.tasks.values_mut().filter(|t| t.service == id) {
                    t.desired = "shutdown".into();
                }
            }
            Command::AddTask { task } => {
                self.tasks.insert(task.id.clone(), task);
            }
            Command::ShutdownTask { id } => {
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.desired = "shutdown".into();
                }
            }
            Command::RemoveTask { id } => {
                self.tasks.remove(&id);
            }
            Command::Batch { commands } => {
                let mut first = Ok(());
                for c in commands {
                    let r = self.apply(c);
                    if first.is_ok() {
                        first = r;
                    }
                }
                return first;
            }
        }
        Ok(())
    }

    /// A service by ID, unique ID prefix or name.
    pub fn find_service(&self, key: &str) -> Option<&Service> {
        if let Some(s) = self.services.get(key) {
            return Some(s);
        }
        if let Some(s) = self.services.values().find(|s| s.spec.name == key) {
            return Some(s);
        }
        let by_prefix: Vec<_> = self.services.values().filter(|s| s.id.starts_with(key)).collect();
        (by_prefix.len() == 1).then(|| by_prefix[0])
    }

    /// The role a join secret grants, if it is a current one.
    pub fn role_of_secret(&self, secret: &str) -> Option<Role> {
        self.tokens
            .iter()
            .find(|(_, s)| constant_time_eq(s.as_bytes(), secret.as_bytes()))
            .map(|(r, _)| *r)
    }

    /// Whether a certificate holder may still connect.
    pub fn admits(&self, id: &str, cluster: &str) -> bool {
        cluster == self.id
            && !self.revoked.contains(id)
            && (self.nodes.contains_key(id)
                || self.clients.contains_key(id)
                || self.controllers.values().any(|c| c.id == id))
    }

    /// A controller by raft ID, or by unique certificate-ID prefix.
    pub fn find_controller(&self, key: &str) -> Option<&ControllerRecord> {
        if let Some(c) = key.parse().ok().and_then(|n: u64| self.controllers.get(&n)) {
            return Some(c);
        }
        let by_prefix: Vec<_> = self.controllers.values().filter(|c| c.id.starts_with(key)).collect();
        (by_prefix.len() == 1).then(|| by_prefix[0])
    }

    /// A node by ID, unique ID prefix or hostname.
    pub fn find_node(&self, key: &str) -> Option<&NodeRecord> {
        if let Some(n) = self.nodes.get(key) {
            return Some(n);
        }
        let by_name: Vec<_> = self.nodes.values().filter(|n| n.description.hostname == key).collect();
        if by_name.len() == 1 {
            return Some(by_name[0]);
        }
        let by_prefix: Vec<_> = self.nodes.values().filter(|n| n.id.starts_with(key)).collect();
        (by_prefix.len() == 1).then(|| by_prefix[0])
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> ClusterState {
        let mut s = ClusterState::default();
        let tokens = [(Role::Agent, "a".repeat(20)), (Role::Admin, "b".repeat(20))].into();
        s.apply(Command::Init {
            id: "c1".into(),
            at: "t0".into(),
            tokens,
        })
        .unwrap();
        s
    }

    #[test]
    fn rotated_secrets_stop_working_and_removed_nodes_are_refused() {
        let mut s = init();
        assert_eq!(s.role_of_secret(&"a".repeat(20)), Some(Role::Agent));
        s.apply(Command::RotateToken {
            role: Role::Agent,
            secret: "c".repeat(20),
        })
        .unwrap();
        assert_eq!(s.role_of_secret(&"a".repeat(20)), None);
        assert_eq!(s.role_of_secret(&"c".repeat(20)), Some(Role::Agent));
        s.apply(Command::AddNode {
            id: "n1".into(),
            hostname: "h1".into(),
            at: "t1".into(),
        })
        .unwrap();
        assert!(s.admits("n1", "c1"));
        assert!(!s.admits("n1", "other-cluster"));
        assert_eq!(s.find_node("h1").map(|n| n.id.as_str()), Some("n1"));
        s.apply(Command::RemoveNode { id: "n1".into() }).unwrap();
        assert!(!s.admits("n1", "c1"));
        assert_eq!(
            s.apply(Command::RemoveNode { id: "n1".into() }),
            Err(ApplyError::NoNode("n1".into()))
        );
    }

    #[test]
    fn removed_clients_are_refused_and_cannot_be_removed_twice() {
        let mut s = init();
        s.apply(Command::AddClient {
            id: "k1".into(),
            role: Role::Admin,
            name: "laptop".into(),
            at: "t1".into(),
        })
        .unwrap();
        assert!(s.admits("k1", "c1"));
        s.apply(Command::RemoveClient { id: "k1".into() }).unwrap();
        assert!(!s.admits("k1", "c1"));
        assert!(s.revoked.contains("k1"));
        assert_eq!(
            s.apply(Command::RemoveClient { id: "k1".into() }),
            Err(ApplyError::NoClient("k1".into()))
        );
    }

    #[test]
    fn node_updates_check_availability_and_merge_labels() {
        let mut s = init();
        s.apply(Command::AddNode {
            id: "n1".into(),
            hostname: "h1".into(),
            at: "t1".into(),
        })
        .unwrap();
        let upd = |availability: Option<&str>, add: &[(&str, &str)], rm: &[&str]| Command::UpdateNode {
            id: "n1".into(),
            update: NodeUpdate {
                availability: availability.map(String::from),
                labels_add: add.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                labels_rm: rm.iter().map(|s| s.to_string()).collect(),
            },
            at: "t2".into(),
        };
        s.apply(upd(Some("drain"), &[("zone", "a"), ("ssd", "1")], &[]))
            .unwrap();
        s.apply(upd(None, &[], &["ssd"])).unwrap();
        let n = &s.nodes["n1"];
        assert_eq!(n.availability, "drain");
        assert_eq!(n.labels, [("zone".to_string(), "a".to_string())].into());
        assert!(matches!(
            s.apply(upd(Some("gone"), &[], &[])),
            Err(ApplyError::BadAvailability(_))
        ));
    }

    #[test]
    fn controller_raft_ids_are_never_reused_and_removed_controllers_are_refused() {
        let mut s = init();
        let add = |s: &mut ClusterState, id: &str, addr: &str| {
            s.apply(Command::AddController {
                id: id.into(),
                addr: addr.into(),
                at: "t".into(),
            })
            .unwrap();
            s.controllers.values().find(|c| c.id == id).map(|c| c.raft_id).unwrap()
        };
        assert_eq!(add(&mut s, "k1", "a:1"), 1);
        assert_eq!(add(&mut s, "k2", "b:1"), 2);
        assert!(s.admits("k2", "c1"));
        s.apply(Command::RemoveController { raft_id: 2 }).unwrap();
        assert!(!s.admits("k2", "c1"));
        assert_eq!(
            add(&mut s, "k3", "b:1"),
            3,
            "a removed controller's raft ID is not handed out again"
        );
        // The same controller again (a retried join) keeps its ID, new address.
        assert_eq!(add(&mut s, "k3", "c:1"), 3);
        assert_eq!(s.controllers[&3].addr, "c:1");
        assert_eq!(s.find_controller("3").map(|c| c.id.as_str()), Some("k3"));
        assert_eq!(s.find_controller("k1").map(|c| c.raft_id), Some(1));
        assert_eq!(
            s.apply(Command::RemoveController { raft_id: 2 }),
            Err(ApplyError::NoController("2".into()))
        );
    }
}
