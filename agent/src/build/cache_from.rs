//! `--cache-from IMAGE`: besides the build cache, a layer step may take its
//! layer from a local image (pulled or loaded) whose history matches: every
//! history entry so far (`created_by` and whether it made a layer) is the
//! state's, the next one is this step's `created_by` and made a layer, and
//! the image's diff IDs continue the state's. The layer must be in the
//! store (it is, for a local image); the hit is then recorded in the build
//! cache like any other.

use crate::engine::Engine;

use super::state::State;

/// One `--cache-from` image's history and layers.
pub struct CacheSource {
    /// (`created_by`, empty layer) per history entry.
    history: Vec<(String, bool)>,
    diff_ids: Vec<String>,
}

/// The local images `names` give; names not found are skipped (Docker
/// goes on without them too).
pub fn sources(engine: &Engine, names: &[String]) -> Vec<CacheSource> {
    names
        .iter()
        .filter_map(|n| engine.images.resolve(n).ok())
        .map(|img| CacheSource {
            history: img
                .config
                .history
                .iter()
                .map(|h| (h.created_by.clone().unwrap_or_default(), h.empty_layer.unwrap_or(false)))
                .collect(),
            diff_ids: img.config.rootfs.diff_ids.clone(),
        })
        .collect()
}

impl CacheSource {
    /// The diff ID this image has for step `created_by` on `st`, when its
    /// history and layers so far are the state's.
    pub fn layer_for(&self, st: &State, created_by: &str) -> Option<&str> {
        let mine = &st.image.history;
        let (next, empty) = self.history.get(mine.len())?;
        if *empty || next != created_by {
            return None;
        }
        let same_history = mine.iter().zip(&self.history).all(|(h, (by, e))| {
            h.created_by.as_deref().unwrap_or_default() == by && h.empty_layer.unwrap_or(false) == *e
        });
        let d = &st.image.rootfs.diff_ids;
        if !same_history || self.diff_ids.len() <= d.len() || self.diff_ids[..d.len()] != d[..] {
            return None;
        }
        Some(&self.diff_ids[d.len()])
    }
}
