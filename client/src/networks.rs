//! Networks: `/networks/…`.

use std::collections::BTreeMap;

use hyper::Method;
use serde_json::Value;
use skiff_api::{IdResponse, NetworkConnectRequest, NetworkCreateRequest, NetworkResource};

use crate::{enc, Body, Client, Filters, Query, Result};

/// `/networks/{id}{rest}`.
fn network(id: &str, rest: &str) -> String {
    format!("/networks/{}{rest}", enc(id))
}

impl Client {
    /// `GET /networks`, filtered (sent in Docker's `{"k":{"v":true}}` form).
    pub async fn networks_list(&self, filters: &Filters) -> Result<Vec<NetworkResource>> {
        let filters: BTreeMap<&String, BTreeMap<&String, bool>> = filters
            .iter()
            .map(|(k, vs)| (k, vs.iter().map(|v| (v, true)).collect()))
            .collect();
        let q = Query::new().filters(&filters);
        self.get(&q.on("/networks")).await
    }

    /// `POST /networks/create`: the new network's ID.
    pub async fn network_create(&self, req: &NetworkCreateRequest) -> Result<String> {
        let r: IdResponse = self.json(Method::POST, "/networks/create", Body::json(req)?).await?;
        Ok(r.id)
    }

    /// `GET /networks/{id}` as the daemon wrote it (for `inspect`).
    pub async fn network_inspect_raw(&self, id: &str) -> Result<Value> {
        self.get(&network(id, "")).await
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, id: &str) -> Result<()> {
        self.call(Method::DELETE, &network(id, ""), Body::Empty).await
    }

    /// `POST /networks/prune` with `until`, `label`, `label!` filters:
    /// `NetworksDeleted`.
    pub async fn networks_prune(&self, filters: &Filters) -> Result<Value> {
        let q = Query::new().filters(filters);
        self.json(Method::POST, &q.on("/networks/prune"), Body::Empty).await
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(&self, id: &str, req: &NetworkConnectRequest) -> Result<()> {
        self.post(&network(id, "/connect"), Body::json(req)?).await
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(&self, id: &str, req: &NetworkConnectRequest) -> Result<()> {
        self.post(&network(id, "/disconnect"), Body::json(req)?).await
    }
}
