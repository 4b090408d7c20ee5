//! The cluster's revocation list, as the controller last sent it: the IDs
//! of removed nodes, controllers and clients. The agent's own TLS
//! listener refuses their certificates, at the handshake and on every
//! request of a connection opened before. Kept on disk
//! (`<data-root>/cluster/revoked`), so a restarted agent refuses them
//! before its session is back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use skiff_certs::cluster::Identity;

#[derive(Debug)]
pub struct Revoked {
    path: PathBuf,
    ids: RwLock<BTreeSet<String>>,
}

impl Revoked {
    /// The list kept under `dir` (empty when there is none yet).
    pub fn load(dir: &Path) -> Arc<Revoked> {
        let path = dir.join("revoked");
        let ids = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Arc::new(Revoked {
            path,
            ids: RwLock::new(ids),
        })
    }

    /// The controller's whole list; written to disk when it changed.
    pub fn replace(&self, ids: Vec<String>) {
        let ids: BTreeSet<String> = ids.into_iter().collect();
        let mut cur = self.ids.write().unwrap_or_else(|e| e.into_inner());
        if *cur == ids {
            return;
        }
        let added = ids.difference(&cur).count();
        tracing::info!(revoked = ids.len(), added, "revocation list updated");
        let body = serde_json::to_vec(&ids).unwrap_or_default();
        if let Err(e) = skiff_common::fsutil::write_atomic(&self.path, &body) {
            tracing::warn!("keeping the revocation list on disk: {e:#}");
        }
        *cur = ids;
    }

    pub fn contains(&self, id: &str) -> bool {
        self.ids.read().unwrap_or_else(|e| e.into_inner()).contains(id)
    }

    /// For the TLS handshake: a certificate without a cluster identity
    /// (Docker's model) is not the list's business.
    pub fn admission(self: &Arc<Self>) -> skiff_certs::tls::Admission {
        let me = self.clone();
        Arc::new(move |who: &Identity| !me.contains(&who.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_across_restarts_and_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("skiff-revoked-{}", crate::ids::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = Revoked::load(&dir);
        assert!(!r.contains("a"));
        r.replace(vec!["a".into(), "b".into()]);
        assert!(r.contains("a") && r.contains("b"));
        let again = Revoked::load(&dir);
        assert!(again.contains("a") && again.contains("b"));
        again.replace(vec!["b".into()]);
        assert!(!again.contains("a"));
        assert!(Revoked::load(&dir).contains("b"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
