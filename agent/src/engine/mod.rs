//! The engine: owns containers and images on this host. The API layer calls
//! it; it drives storage (layers, mounts, volumes) and the runtime
//! (supervisors).

pub mod archive;
pub mod commit;
pub mod container;
pub mod exec;
pub mod health;
pub mod lifecycle;
pub mod limits;
pub mod logs;
pub mod mounts;
pub mod names;
pub mod networking;
pub mod orphans;
pub mod recover;
pub mod security;
pub mod state;
pub mod stats;
pub mod update;
pub mod userns;
pub mod volumes;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use crate::config::Config;
use crate::images::driver::Driver;
use crate::images::layers::LayerStore;
use crate::images::store::{ImageError, ImageStore};
pub use container::Ctr;

/// Errors the API maps to Docker's status codes.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("container already started")]
    NotModified,
    #[error("{0}")]
    Internal(String),
}

impl crate::images::service::ImageUsers for Engine {
    fn users_of(&self, image_id: &str) -> Vec<(String, bool)> {
        self.all()
            .iter()
            .filter(|c| c.record().inspect.image == image_id)
            .map(|c| (c.id.clone(), c.is_running()))
            .collect()
    }
}

impl From<ImageError> for EngineError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::NotFound(_) => EngineError::NotFound(e.to_string()),
            ImageError::BadReference(_) | ImageError::BadChange(_) | ImageError::BadArchive(_) => {
                EngineError::BadRequest(e.to_string())
            }
            ImageError::InUse { .. } | ImageError::MultipleTags(_) | ImageError::UsedByContainer { .. } => {
                EngineError::Conflict(e.to_string())
            }
            _ => EngineError::Internal(e.to_string()),
        }
    }
}

impl From<crate::network::NetError> for EngineError {
    fn from(e: crate::network::NetError) -> Self {
        use crate::network::NetError;
        match e {
            NetError::NotFound(_) => EngineError::NotFound(e.to_string()),
            NetError::Conflict(_) => EngineError::Conflict(e.to_string()),
            NetError::Invalid(_) => EngineError::BadRequest(e.to_string()),
            NetError::Forbidden(_) => EngineError::Forbidden(e.to_string()),
            NetError::Other(e) => EngineError::Internal(format!("{e:#}")),
        }
    }
}

impl From<anyhow::Error> for EngineError {
    fn from(e: anyhow::Error) -> Self {
        EngineError::Internal(format!("{e:#}"))
    }
}

impl From<std::io::Error> for EngineError {
    fn from(e: std::io::Error) -> Self {
        EngineError::Internal(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

pub struct Engine {
    pub cfg: Config,
    pub images: ImageStore,
    containers: RwLock<HashMap<String, Arc<Ctr>>>,
    /// Names of containers being created (reserved until they are in
    /// `containers`); the lock serializes choosing names.
    names: Mutex<std::collections::HashSet<String>>,
    pub execs: exec::ExecStore,
    pub cgroup_v2: bool,
    /// Where a stopped container's runtime files go to be deleted.
    pub exec_trash: crate::images::trash::Trash,
    /// Opens the kernel's cgroup-migration path ahead of a start.
    pub warmer: Arc<crate::runtime::cgroup_warmup::Warmer>,
    pub networks: Arc<crate::network::Networks>,
    /// Volumes (the `local` driver) and the containers using them.
    pub volumes: Arc<crate::volumes::Volumes>,
    /// What `/events` streams (and the cluster session reports).
    pub events: Arc<skiff_common::events::Journal>,
}

/// A container event's attributes: its labels, name and image, and `extra`.
pub fn container_attrs(c: &Ctr, extra: &[(&str, String)]) -> std::collections::BTreeMap<String, String> {
    let mut a = {
        let r = c.record();
        let ins = &r.inspect;
        let mut a = ins.config.labels.clone();
        a.insert("name".into(), ins.name.trim_start_matches('/').to_string());
        a.insert("image".into(), ins.config.image.clone());
        a
    };
    for (k, v) in extra {
        a.insert(k.to_string(), v.clone());
    }
    a.into()
}

impl Engine {
    pub fn open(mut cfg: Config) -> anyhow::Result<Arc<Self>> {
        if let Some(spec) = cfg.userns_remap.take() {
            let remap = crate::runtime::userns::resolve(&spec)?;
            cfg.data_root = crate::runtime::userns::prepare_root(&cfg.data_root, &remap.map)?;
            crate::runtime::userns::open_exec_root(&cfg.exec_root)?;
            tracing::info!(remap = %remap.name, root = %cfg.data_root.display(), "user namespaces remapped");
            cfg.userns_remap = Some(remap.name);
            cfg.idmap = remap.map;
        }
        std::fs::create_dir_all(&cfg.data_root)?;
        std::fs::create_dir_all(cfg.data_root.join("containers"))?;
        std::fs::create_dir_all(cfg.exec_root.join("containers"))?;
        std::fs::create_dir_all(cfg.exec_root.join("s"))?;
        let exec_trash = crate::images::trash::Trash::open(&cfg.exec_root.join("trash"))?;
        let driver = Driver::new(&cfg.data_root, cfg.storage_driver, cfg.idmap.clone())?;
        let layers = LayerStore::new(&cfg.data_root, driver)?;
        let images = ImageStore::new(&cfg.data_root, layers)?;
        let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let networks = Arc::new(crate::network::Networks::open(&cfg.data_root)?);
        let volumes = Arc::new(crate::volumes::Volumes::open(&cfg.data_root, cfg.idmap.root())?);
        let cfg_root = cfg.data_root.clone();
        let engine = Arc::new(Self {
            cfg,
            images,
            containers: RwLock::new(HashMap::new()),
            names: Mutex::new(Default::default()),
            execs: exec::ExecStore::default(),
            cgroup_v2,
            warmer: crate::runtime::cgroup_warmup::Warmer::new(cgroup_v2),
            exec_trash,
            networks,
            volumes,
            events: Arc::new(skiff_common::events::Journal::open(&cfg_root, 256)?),
        });
        Ok(engine)
    }

    /// Record an event about a container: its name, image and labels
    /// ride along as attributes, as in Docker's.
    pub fn emit_container(&self, c: &Ctr, action: &str, extra: &[(&str, String)]) {
        self.emit("container", action, &c.id, container_attrs(c, extra));
    }

    /// A container joined (`connect`) or left (`disconnect`) its networks,
    /// one event per network, as Docker reports starts and exits.
    pub fn emit_networks(&self, c: &Ctr, action: &str) {
        let names: Vec<String> = c.record().inspect.network_settings.networks.keys().cloned().collect();
        for name in names {
            self.emit_network(&name, action, &c.id);
        }
    }

    /// Record a network's connect/disconnect event; it names the container.
    pub fn emit_network(&self, net: &str, action: &str, container: &str) {
        let Ok(n) = self.networks.get(net) else { return };
        let attrs = [
            ("name".to_string(), n.name.clone()),
            ("container".to_string(), container.to_string()),
        ];
        self.emit("network", action, &n.id, attrs.into());
    }

    /// Record an event about anything.
    pub fn emit(&self, kind: &str, action: &str, id: &str, attrs: std::collections::BTreeMap<String, String>) {
        self.events.push(skiff_api::events::Event::new(kind, action, id, attrs));
    }

    pub fn containers_dir(&self, id: &str) -> PathBuf {
        self.cfg.data_root.join("containers").join(id)
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.cfg.exec_root.join("containers").join(id)
    }

    /// Supervisor sockets live in a short directory: unix socket paths are
    /// limited to 108 bytes.
    pub fn socket_path(&self, id: &str) -> PathBuf {
        self.cfg.exec_root.join("s").join(&id[..id.len().min(16)])
    }

    /// Compiled seccomp filters, one per distinct profile (`seccomp::bpf`).
    pub fn seccomp_dir(&self) -> PathBuf {
        self.cfg.exec_root.join("seccomp")
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.cfg.exec_root.join("runtime")
    }

    pub fn all(&self) -> Vec<Arc<Ctr>> {
        self.containers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn insert(&self, c: Arc<Ctr>) {
        self.containers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(c.id.clone(), c);
    }

    fn forget(&self, id: &str) {
        self.containers.write().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// Find a container by full ID, name (with or without '/'), or unique
    /// ID prefix, as Docker does.
    pub fn get(&self, key: &str) -> Result<Arc<Ctr>> {
        let map = self.containers.read().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(key) {
            return Ok(c.clone());
        }
        let name = key.trim_start_matches('/');
        if let Some(c) = map.values().find(|c| c.name() == name) {
            return Ok(c.clone());
        }
        if !key.is_empty() {
            let hits: Vec<&Arc<Ctr>> = map.values().filter(|c| c.id.starts_with(key)).collect();
            match hits.len() {
                1 => return Ok(hits[0].clone()),
                0 => {}
                _ => {
                    return Err(EngineError::NotFound(format!(
                        "Error response from daemon: multiple IDs found with provided prefix: {key}"
                    )))
                }
            }
        }
        Err(EngineError::NotFound(format!("No such container: {key}")))
    }
}
