//! Where containers meet volumes: making the volumes a create names (and
//! filling new ones from the image), mounting them at start and letting
//! go at exit, releasing them (and removing anonymous ones) at removal;
//! and the `/volumes` calls, with Docker's volume events (`create`,
//! `mount`, `unmount`, `destroy`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use skiff_api::{Volume, VolumeCreateRequest, VolumeUsage};

use super::container::{Ctr, Record};
use super::mounts::{Kind, MountPoint, Planned};
use super::{Engine, EngineError, Result};
use crate::runtime::spec::{self, SpecMount};
use crate::volumes::{copy, filter, Spec, VolError, DRIVER};

impl From<VolError> for EngineError {
    fn from(e: VolError) -> Self {
        match e {
            VolError::NotFound(_) | VolError::NoDriver(_) => EngineError::NotFound(e.to_string()),
            VolError::Invalid(_) => EngineError::BadRequest(e.to_string()),
            VolError::InUse { .. } => EngineError::Conflict(e.to_string()),
            VolError::Mount(_) | VolError::Io(_) => EngineError::Internal(e.to_string()),
        }
    }
}

/// Volumes referenced for a create that did not finish: let go on drop.
struct Referenced<'a> {
    engine: &'a Engine,
    id: &'a str,
    mounts: Vec<MountPoint>,
    kept: bool,
}

impl Drop for Referenced<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.engine.release_volumes(self.id, &self.mounts, true);
        }
    }
}

fn attrs(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

impl Engine {
    fn emit_volume(&self, name: &str, action: &str, extra: &[(&str, String)]) {
        let mut a = attrs(extra);
        a.insert("driver".into(), DRIVER.into());
        self.emit("volume", action, name, a);
    }

    /// At create: make or find each volume of the plan with container `id`
    /// as its user, and fill new, empty ones from the image (the
    /// container's layer is mounted for that). Undone if anything fails.
    pub(super) fn attach_volumes(&self, id: &str, planned: Vec<Planned>) -> Result<Vec<MountPoint>> {
        let mut done = Referenced {
            engine: self,
            id,
            mounts: Vec::new(),
            kept: false,
        };
        let mut fill = Vec::new();
        for p in planned {
            let mut m = p.mount;
            if m.kind == Kind::Volume {
                let meta = match &p.make {
                    Some(spec) => {
                        let (meta, made) = self.volumes.create(spec, Some(id))?;
                        if made {
                            self.emit_volume(&meta.name, "create", &[]);
                        }
                        meta
                    }
                    None => self.volumes.reference(&m.name, id)?,
                };
                m.name = meta.name;
                m.driver = DRIVER.into();
                m.source = self.volumes.mountpoint(&m.name).display().to_string();
                if p.copy_data {
                    fill.push(m.clone());
                }
            }
            done.mounts.push(m);
        }
        if !fill.is_empty() {
            let root = self.images.hold(id)?;
            for m in &fill {
                self.fill_volume(id, &root.path, m)?;
            }
        }
        done.kept = true;
        Ok(std::mem::take(&mut done.mounts))
    }

    /// Docker's copy-up of what the image has at a volume's destination.
    fn fill_volume(&self, id: &str, rootfs: &std::path::Path, m: &MountPoint) -> Result<()> {
        let Some(src) = spec::resolve_in_root(rootfs, std::path::Path::new(&m.destination)) else {
            return Ok(());
        };
        if m.anonymous && src.exists() && !src.is_dir() {
            return Err(EngineError::BadRequest(format!(
                "cannot mount volume over existing file, file exists {}",
                src.display()
            )));
        }
        if !src.is_dir() {
            return Ok(());
        }
        let holder = format!("copy-up:{id}");
        let dst = self.volumes.mount(&m.name, &holder)?;
        let copied = copy::fill(&src, &dst);
        self.volumes.unmount(&m.name, &holder);
        if copied? {
            tracing::debug!(volume = %m.name, container = %&id[..12], "filled from the image at {}", m.destination);
        }
        Ok(())
    }

    /// At start: each mount point as an OCI mount; volumes are held
    /// mounted for the container (`mount` events). On error, `teardown`
    /// lets go of what was taken.
    pub(super) fn mount_points(&self, c: &Ctr, mounts: &[MountPoint]) -> std::result::Result<Vec<SpecMount>, String> {
        let mut out = Vec::new();
        for m in mounts {
            match m.kind {
                Kind::Bind => {
                    let src = PathBuf::from(&m.source);
                    if !src.exists() {
                        if m.must_exist {
                            return Err(format!(
                                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                                m.source
                            ));
                        }
                        std::fs::create_dir_all(&src).map_err(|e| e.to_string())?;
                        // As Docker: the new directory is the container root's.
                        if !self.cfg.idmap.is_identity() {
                            self.cfg.idmap.chown(&src, 0, 0).map_err(|e| e.to_string())?;
                        }
                    }
                    out.push(SpecMount::bind(&src, &m.destination, !m.rw, &m.propagation));
                }
                Kind::Volume => {
                    let path = self.volumes.mount(&m.name, &c.id).map_err(|e| e.to_string())?;
                    self.emit_volume(
                        &m.name,
                        "mount",
                        &[
                            ("container", c.id.clone()),
                            ("destination", m.destination.clone()),
                            ("propagation", String::new()),
                            ("read/write", m.rw.to_string()),
                        ],
                    );
                    out.push(SpecMount::bind(&path, &m.destination, !m.rw, ""));
                }
                Kind::Tmpfs => out.push(SpecMount {
                    destination: m.destination.clone(),
                    kind: "tmpfs",
                    source: "tmpfs".into(),
                    options: super::mounts::tmpfs::oci_options(&m.tmpfs)?,
                }),
            }
        }
        Ok(out)
    }

    /// At exit (or a failed start): the container lets go of its volumes
    /// (`unmount` events); a volume with driver options is unmounted when
    /// no container holds it.
    pub(super) fn unmount_volumes(&self, id: &str) {
        for name in self.volumes.unmount_all(id) {
            self.emit_volume(&name, "unmount", &[("container", id.to_string())]);
        }
    }

    /// A re-adopted running container holds its volumes again.
    pub(super) fn readopt_volumes(&self, c: &Ctr) {
        let mounts = c.record().mounts.clone();
        for m in mounts.iter().filter(|m| m.kind == Kind::Volume) {
            if let Err(e) = self.volumes.mount(&m.name, &c.id) {
                tracing::warn!(container = %&c.id[..12], volume = %m.name, "{e}");
            }
        }
    }

    /// At agent start: the container's volumes are in use by it.
    pub(super) fn reference_volumes(&self, rec: &Record) {
        for m in rec.mounts.iter().filter(|m| m.kind == Kind::Volume) {
            if let Err(e) = self.volumes.reference(&m.name, &rec.inspect.id) {
                tracing::warn!(container = %&rec.inspect.id[..12], "{e}");
            }
        }
    }

    /// At removal: the container no longer uses its volumes; with
    /// `anonymous`, its anonymous volumes no other container uses go
    /// (`rm -v`, `--rm`). Named volumes always stay.
    pub(super) fn release_volumes(&self, id: &str, mounts: &[MountPoint], anonymous: bool) {
        for m in mounts.iter().filter(|m| m.kind == Kind::Volume) {
            self.volumes.release(&m.name, id);
            if !anonymous || !m.anonymous {
                continue;
            }
            match self.volumes.remove(&m.name, true) {
                Ok(true) => self.emit_volume(&m.name, "destroy", &[]),
                Ok(false) | Err(VolError::InUse { .. }) => {}
                Err(e) => tracing::warn!(container = %&id[..12], "removing anonymous volume: {e}"),
            }
        }
    }

    /// `POST /volumes/create`.
    pub fn volume_create(&self, req: VolumeCreateRequest) -> Result<Volume> {
        let spec = Spec {
            name: req.name,
            driver: req.driver,
            labels: req.labels,
            options: req.driver_opts,
        };
        let (meta, made) = self.volumes.create(&spec, None)?;
        if made {
            self.emit_volume(&meta.name, "create", &[]);
        }
        Ok(self.volumes.to_api(&meta))
    }

    /// `GET /volumes/{name}`.
    pub fn volume_inspect(&self, name: &str) -> Result<Volume> {
        Ok(self.volumes.to_api(&self.volumes.get(name)?))
    }

    /// `GET /volumes`, filtered, by name.
    pub fn volume_list(&self, filters: &filter::Filters) -> Result<Vec<Volume>> {
        filter::check_list(filters).map_err(EngineError::BadRequest)?;
        Ok(self
            .volumes
            .list()
            .iter()
            .filter(|(m, refs)| filter::list_matches(filters, m, refs.len()))
            .map(|(m, _)| self.volumes.to_api(m))
            .collect())
    }

    /// `DELETE /volumes/{name}[?force=1]`.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        if self.volumes.remove(name, force)? {
            self.emit_volume(name, "destroy", &[]);
        }
        Ok(())
    }

    /// `POST /volumes/prune`: every volume no container uses (API 1.41:
    /// named and anonymous alike) that passes the filters; the names and
    /// the bytes they held.
    pub fn volume_prune(&self, filters: &filter::Filters) -> Result<(Vec<String>, u64)> {
        filter::check_prune(filters).map_err(EngineError::BadRequest)?;
        let mut gone = Vec::new();
        let mut bytes = 0;
        for (m, refs) in self.volumes.list() {
            if !refs.is_empty() || !filter::prune_matches(filters, &m) {
                continue;
            }
            let size = self.volumes.size(&m.name);
            match self.volumes.remove(&m.name, false) {
                Ok(true) => {
                    self.emit_volume(&m.name, "destroy", &[]);
                    bytes += size;
                    gone.push(m.name);
                }
                Ok(false) | Err(VolError::InUse { .. }) | Err(VolError::NotFound(_)) => {}
                Err(e) => tracing::warn!(volume = %m.name, "prune: {e}"),
            }
        }
        Ok((gone, bytes))
    }

    /// `system df`: every volume with how many containers use it and its size.
    pub fn volume_usage(&self) -> Vec<Volume> {
        self.volumes
            .list()
            .iter()
            .map(|(m, refs)| Volume {
                usage_data: Some(VolumeUsage {
                    ref_count: refs.len() as i64,
                    size: self.volumes.size(&m.name) as i64,
                }),
                ..self.volumes.to_api(m)
            })
            .collect()
    }
}
