//! The daemon itself: `/version`, `/info`, `/events`, `/system/df`.

use hyper::Method;
use serde_json::Value;
use skiff_api::DiskUsage;

use crate::{Body, Client, Filters, Lines, Query, Result};

/// `GET /events`: from `since` to `until` (nanoseconds since the epoch),
/// those that match `filters`.
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub filters: Filters,
}

/// Seconds with nine decimals, as Docker takes times.
fn seconds(nanos: i64) -> String {
    format!(
        "{}.{:09}",
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000)
    )
}

impl Client {
    /// `GET /version`.
    pub async fn version(&self) -> Result<Value> {
        self.get("/version").await
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<Value> {
        self.get("/info").await
    }

    /// `GET /system/df`.
    pub async fn system_df(&self) -> Result<DiskUsage> {
        self.get("/system/df").await
    }

    /// `GET /events`: one JSON event a line, until `until` (or forever).
    pub async fn events(&self, o: &EventsOptions) -> Result<Lines> {
        let q = Query::new()
            .opt("since", o.since.map(seconds))
            .opt("until", o.until.map(seconds))
            .filters(&o.filters);
        let resp = self.send(Method::GET, &q.on("/events"), Body::Empty).await?;
        Ok(Lines::new(resp))
    }
}
