//! Which containers run in a user namespace (`--userns-remap` on the
//! agent, `--userns host` per container) and the namespaces they join.

use std::path::{Path, PathBuf};

use skiff_api::HostConfig;

use super::{Engine, EngineError, Result};

/// `HostConfig.UsernsMode`: "" (the agent's choice) or "host".
fn userns_mode(hc: &HostConfig) -> &str {
    hc.extra.get("UsernsMode").and_then(|v| v.as_str()).unwrap_or("")
}

impl Engine {
    /// Does a container with `hc` get a user namespace?
    pub(super) fn remapped(&self, hc: &HostConfig) -> bool {
        !self.cfg.idmap.is_identity() && userns_mode(hc) != "host"
    }

    /// Docker's refusals at create: an unknown mode, and what a user
    /// namespace cannot share with the host.
    pub(super) fn check_userns(&self, hc: &HostConfig) -> Result<()> {
        let mode = userns_mode(hc);
        if !matches!(mode, "" | "host") {
            return Err(EngineError::BadRequest(format!("invalid USER mode: {mode}")));
        }
        if !self.remapped(hc) {
            return Ok(());
        }
        if hc.privileged {
            return Err(EngineError::BadRequest(
                "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode".into(),
            ));
        }
        if hc.network_mode == "host" {
            return Err(EngineError::BadRequest(
                "cannot share the host's network namespace when user namespaces are enabled".into(),
            ));
        }
        Ok(())
    }

    /// How container `id`'s files hold host IDs (its archives and the
    /// files made for it): through the agent's map when it is remapped or
    /// layers are chowned; as they are for `--userns host` over layers
    /// that keep their images' owners.
    pub(super) fn container_ids(&self, id: &str) -> crate::idmap::IdMap {
        self.images.layers.driver.owners(id).clone()
    }

    pub(super) fn userns_path(&self, id: &str) -> PathBuf {
        self.cfg.exec_root.join("userns").join(id)
    }

    /// A new network namespace at `net` for container `id`: inside its own
    /// user namespace when it is remapped.
    pub(super) fn new_netns(&self, id: &str, hc: &HostConfig, net: &Path) -> std::io::Result<Option<PathBuf>> {
        if !self.remapped(hc) {
            crate::runtime::netns::create(net)?;
            return Ok(None);
        }
        let user = self.userns_path(id);
        crate::runtime::netns::create_in_userns(net, &user, &self.cfg.idmap)?;
        Ok(Some(user))
    }

    /// The user namespace a remapped container joins with the network of
    /// container `other`: the one that owns that network.
    pub(super) fn shared_userns(&self, hc: &HostConfig, other: &str) -> Result<Option<PathBuf>> {
        if !self.remapped(hc) {
            return Ok(None);
        }
        let user = self.userns_path(other);
        if !crate::images::driver::is_mountpoint(&user) {
            return Err(EngineError::BadRequest(format!(
                "cannot join the network of container {other}: it runs without the agent's user namespace"
            )));
        }
        Ok(Some(user))
    }

    /// The engine's files a container writes (`/etc/hosts`, …) belong to
    /// its root.
    pub(super) fn own_files(&self, files: &[PathBuf]) -> std::io::Result<()> {
        if self.cfg.idmap.is_identity() {
            return Ok(());
        }
        for f in files {
            self.cfg.idmap.chown(f, 0, 0)?;
        }
        Ok(())
    }
}
