//! Volumes: `/volumes/…`. Names are percent-encoded into the path.

use std::collections::BTreeMap;

use hyper::Method;
use skiff_api::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};

use crate::{enc, Body, Client, Filters, Query, Result};

/// `/volumes/{name}`.
fn volume(name: &str) -> String {
    format!("/volumes/{}", enc(name))
}

/// Docker's `{"k":{"v":true}}` form of filters.
fn filter_query(filters: &Filters) -> Query {
    let f: BTreeMap<&String, BTreeMap<&String, bool>> = filters
        .iter()
        .map(|(k, vs)| (k, vs.iter().map(|v| (v, true)).collect()))
        .collect();
    Query::new().filters(&f)
}

impl Client {
    /// `GET /volumes`, filtered.
    pub async fn volumes_list(&self, filters: &Filters) -> Result<VolumeListResponse> {
        self.get(&filter_query(filters).on("/volumes")).await
    }

    /// `POST /volumes/create`: the volume made (or the one of that name).
    pub async fn volume_create(&self, req: &VolumeCreateRequest) -> Result<Volume> {
        self.json(Method::POST, "/volumes/create", Body::json(req)?).await
    }

    /// `GET /volumes/{name}` as the daemon wrote it (for `inspect`).
    pub async fn volume_inspect_raw(&self, name: &str) -> Result<serde_json::Value> {
        self.get(&volume(name)).await
    }

    /// `DELETE /volumes/{name}[?force=1]`.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let q = Query::new().opt("force", force.then_some(1));
        self.call(Method::DELETE, &q.on(&volume(name)), Body::Empty).await
    }

    /// `POST /volumes/prune`: `VolumesDeleted`, `SpaceReclaimed`.
    pub async fn volumes_prune(&self, filters: &Filters) -> Result<VolumePruneResponse> {
        self.json(Method::POST, &filter_query(filters).on("/volumes/prune"), Body::Empty)
            .await
    }
}
