//! At agent start, before anything is served: what a crash left half made
//! goes. A create cut short between making the container's layer and
//! writing its record leaves the layer and a record directory without a
//! record; an import cut short leaves an extracted layer no layer record
//! names. Nothing refers to them and nothing can be making them then.

use std::collections::HashSet;

use super::Engine;

/// A container's record.
const RECORD: &str = "config.v2.json";

impl Engine {
    /// Remove record directories without a record, and layers nothing
    /// names (`LayerStore::collect_orphans`). Call after `load_records`.
    pub(super) fn collect_orphans(&self) {
        let dir = self.cfg.data_root.join("containers");
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.path().is_dir() && !e.path().join(RECORD).exists() {
                    tracing::info!(path = %e.path().display(), "removing a record directory without a record");
                    if let Err(err) = self.images.layers.driver.trash.remove(&e.path()) {
                        tracing::warn!(path = %e.path().display(), "{err}");
                    }
                }
            }
        }
        let ids: HashSet<String> = self.all().iter().map(|c| c.id.clone()).collect();
        let gone = self.images.layers.collect_orphans(&ids);
        if !gone.is_empty() {
            tracing::info!(?gone, "removed layers nothing names (an import or create cut short)");
        }
    }
}
