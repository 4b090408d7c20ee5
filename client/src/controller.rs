//! The controller's own REST API: the cluster (`/cluster/…`), its nodes,
//! services and tasks.

use hyper::Method;
use serde_json::Value;
use skiff_api::cluster::{ClusterInfo, Node, NodeUpdate, ServiceInfo, ServiceSpec, TaskInfo};
use skiff_certs::cluster::Role;

use crate::cluster::{JoinRequest, JoinResponse, RenewRequest, RenewResponse};
use crate::{enc, Body, Client, Query, Result};

/// `/nodes/{id}{rest}`.
fn node(id: &str, rest: &str) -> String {
    format!("/nodes/{}{rest}", enc(id))
}

/// `/services/{id}{rest}`.
fn service(id: &str, rest: &str) -> String {
    format!("/services/{}{rest}", enc(id))
}

pub use skiff_api::cluster::ServiceUpdate;

impl Client {
    /// `GET /cluster`.
    pub async fn cluster_inspect(&self) -> Result<ClusterInfo> {
        self.get("/cluster").await
    }

    /// `GET /cluster` as the controller wrote it (for `cluster inspect`).
    pub async fn cluster_inspect_raw(&self) -> Result<Value> {
        self.get("/cluster").await
    }

    /// `POST /cluster/rotate?role=…`: a new join token for `role`.
    pub async fn cluster_rotate(&self, role: Role) -> Result<ClusterInfo> {
        let q = Query::new().add("role", role.as_str());
        self.json(Method::POST, &q.on("/cluster/rotate"), Body::Empty).await
    }

    /// `POST /cluster/join`: a certificate for a joining node or client.
    pub async fn cluster_join(&self, req: &JoinRequest) -> Result<JoinResponse> {
        self.json(Method::POST, "/cluster/join", Body::json(req)?).await
    }

    /// `POST /cluster/renew`: a new certificate for the one presented.
    pub async fn cluster_renew(&self, req: &RenewRequest) -> Result<RenewResponse> {
        self.json(Method::POST, "/cluster/renew", Body::json(req)?).await
    }

    /// `GET /cluster/controllers`.
    pub async fn controllers_list(&self) -> Result<Vec<skiff_api::cluster::ControllerStatus>> {
        self.get("/cluster/controllers").await
    }

    /// `DELETE /cluster/controllers/{id}[?force=1]`.
    pub async fn controller_remove(&self, id: &str, force: bool) -> Result<()> {
        let q = Query::new().opt("force", force.then_some(1));
        let path = format!("/cluster/controllers/{}", enc(id));
        self.call(Method::DELETE, &q.on(&path), Body::Empty).await
    }

    /// `GET /cluster/clients`.
    pub async fn clients_list(&self) -> Result<Vec<skiff_api::cluster::ClientStatus>> {
        self.get("/cluster/clients").await
    }

    /// `DELETE /cluster/clients/{id}`: the certificate is revoked.
    pub async fn client_remove(&self, id: &str) -> Result<()> {
        let path = format!("/cluster/clients/{}", enc(id));
        self.call(Method::DELETE, &path, Body::Empty).await
    }

    /// `GET /nodes`.
    pub async fn nodes_list(&self) -> Result<Vec<Node>> {
        self.get("/nodes").await
    }

    /// `GET /nodes/{id}` as the controller wrote it (for `inspect`).
    pub async fn node_inspect_raw(&self, id: &str) -> Result<Value> {
        self.get(&node(id, "")).await
    }

    /// `POST /nodes/{id}/update`.
    pub async fn node_update(&self, id: &str, update: &NodeUpdate) -> Result<()> {
        self.post(&node(id, "/update"), Body::json(update)?).await
    }

    /// `DELETE /nodes/{id}[?force=1]`.
    pub async fn node_remove(&self, id: &str, force: bool) -> Result<()> {
        let q = Query::new().opt("force", force.then_some(1));
        self.call(Method::DELETE, &q.on(&node(id, "")), Body::Empty).await
    }

    /// `GET /services`.
    pub async fn services_list(&self) -> Result<Vec<ServiceInfo>> {
        self.get("/services").await
    }

    /// `POST /services/create`: `{"ID": …}`.
    pub async fn service_create(&self, spec: &ServiceSpec) -> Result<Value> {
        self.json(Method::POST, "/services/create", Body::json(spec)?).await
    }

    /// `GET /services/{id}` as the controller wrote it (for `inspect`).
    pub async fn service_inspect_raw(&self, id: &str) -> Result<Value> {
        self.get(&service(id, "")).await
    }

    /// `POST /services/{id}/update`.
    pub async fn service_update(&self, id: &str, update: &ServiceUpdate) -> Result<()> {
        self.post(&service(id, "/update"), Body::json(update)?).await
    }

    /// `DELETE /services/{id}`.
    pub async fn service_remove(&self, id: &str) -> Result<()> {
        self.call(Method::DELETE, &service(id, ""), Body::Empty).await
    }

    /// `GET /tasks?service=…`.
    pub async fn tasks_list(&self, service: &str) -> Result<Vec<TaskInfo>> {
        let q = Query::new().add("service", service);
        self.get(&q.on("/tasks")).await
    }
}
