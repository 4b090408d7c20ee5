//! A container's record (persisted as `config.v2.json`, Docker's name for
//! it), its live handles, and `create`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use skiff_api::{ContainerInspect, ContainerState, CreateRequest, GraphDriver};
use skiff_common::fsutil::{read_json, write_json_atomic};
use tokio::sync::{broadcast, watch};

use super::mounts::MountPoint;
use super::{names, Engine, EngineError, Result};
use crate::ids::{new_id, now};
use crate::runtime::supervisor::Connection;

/// What is kept on disk for a container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub inspect: ContainerInspect,
    /// Stopped by the user: `restart` policies leave it alone.
    #[serde(default)]
    pub manually_stopped: bool,
    /// The image's top layer chain ID, parent of the container's layers.
    #[serde(default)]
    pub image_layer: Option<String>,
    /// Network ID → interface name inside the container, while running.
    #[serde(default)]
    pub ifaces: BTreeMap<String, String>,
    /// What `-v`, `--mount`, `--tmpfs`, `--volumes-from` and the image's
    /// volumes asked for, planned at create.
    #[serde(default)]
    pub mounts: Vec<MountPoint>,
}

/// A change of state that `wait` watches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exits {
    /// How many times the container has exited.
    pub count: u64,
    pub last_code: i64,
    pub removed: bool,
}

pub struct Ctr {
    pub id: String,
    pub rec: Mutex<Record>,
    /// Live output of the running process, for attach.
    pub output: broadcast::Sender<(u8, bytes::Bytes)>,
    pub exits: watch::Sender<Exits>,
    /// The connection to the running container's supervisor.
    pub conn: Mutex<Option<Connection>>,
    /// Serializes start, stop and remove.
    pub op: tokio::sync::Mutex<()>,
    /// The running health check's task (`engine/health.rs`).
    pub health: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Ctr {
    pub fn new(rec: Record) -> Arc<Self> {
        let (output, _) = broadcast::channel(1024);
        let (exits, _) = watch::channel(Exits {
            last_code: rec.inspect.state.exit_code,
            ..Default::default()
        });
        Arc::new(Self {
            id: rec.inspect.id.clone(),
            rec: Mutex::new(rec),
            output,
            exits,
            conn: Mutex::new(None),
            op: tokio::sync::Mutex::new(()),
            health: Mutex::new(None),
        })
    }

    /// End the health check's task, if one runs.
    pub fn stop_health(&self) {
        if let Some(task) = self.health.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    pub fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.rec.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn inspect(&self) -> ContainerInspect {
        self.record().inspect.clone()
    }

    pub fn name(&self) -> String {
        self.record().inspect.name.trim_start_matches('/').to_string()
    }

    pub fn state(&self) -> ContainerState {
        self.record().inspect.state.clone()
    }

    pub fn is_running(&self) -> bool {
        self.record().inspect.state.running
    }

    pub fn connection(&self) -> Option<Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Change the record in memory only: for a container about to be
    /// removed, whose record on disk goes with it (a crash before that is
    /// reconciled at the next start from the exit record).
    pub fn update_unsaved<F: FnOnce(&mut Record)>(&self, f: F) {
        f(&mut self.record());
    }

    /// Change the record and write it to disk atomically.
    /// Nothing is written when `f` changes nothing (fsyncs are the slow
    /// part of a container start).
    pub fn update<F: FnOnce(&mut Record)>(&self, dir: &std::path::Path, f: F) -> Result<()> {
        let mut rec = self.record();
        let before = serde_json::to_vec(&*rec).map_err(|e| EngineError::Internal(e.to_string()))?;
        f(&mut rec);
        let after = serde_json::to_vec(&*rec).map_err(|e| EngineError::Internal(e.to_string()))?;
        if before == after {
            return Ok(());
        }
        skiff_common::fsutil::write_atomic(&dir.join("config.v2.json"), &after).map_err(EngineError::from)
    }
}

/// Docker's `Status` column text for a state.
pub fn status_text(s: &ContainerState) -> String {
    let since = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| (chrono::Utc::now() - d.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(0)
    };
    use super::state::Status;
    match Status::of(s) {
        Status::Running if s.paused => format!("Up {} (Paused)", skiff_api::human_duration(since(&s.started_at))),
        Status::Running => match &s.health {
            Some(h) => format!("Up {} ({})", skiff_api::human_duration(since(&s.started_at)), h.label()),
            None => format!("Up {}", skiff_api::human_duration(since(&s.started_at))),
        },
        Status::Paused => format!("Up {} (Paused)", skiff_api::human_duration(since(&s.started_at))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            skiff_api::human_duration(since(&s.finished_at))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            skiff_api::human_duration(since(&s.finished_at))
        ),
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// Merge `a=b` lists: later keys replace earlier ones, order kept.
pub fn merge_env(base: &[String], over: &[String]) -> Vec<String> {
    let mut out: Vec<String> = base.to_vec();
    for e in over {
        let key = e.split('=').next().unwrap_or(e);
        if let Some(slot) = out.iter_mut().find(|x| x.split('=').next() == Some(key)) {
            *slot = e.clone();
        } else {
            out.push(e.clone());
        }
    }
    out
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The container's file paths and runtime, which Docker shows from its
/// first start on (a log path for json-file only).
pub fn fill_paths(ins: &mut ContainerInspect, dir: &std::path::Path) {
    if !ins.resolv_conf_path.is_empty() {
        return;
    }
    ins.host_config
        .extra
        .entry("Runtime")
        .or_insert(crate::runtime::RUNTIME_NAME.into());
    ins.resolv_conf_path = dir.join("resolv.conf").display().to_string();
    ins.hostname_path = dir.join("hostname").display().to_string();
    ins.hosts_path = dir.join("hosts").display().to_string();
    if ins.host_config.log_config.kind == "json-file" {
        ins.log_path = skiff_shim::log::read::json_path(dir, &ins.id).display().to_string();
    }
}

/// A process's environment gets Docker's default PATH when it has none.
pub fn with_default_path(env: &mut Vec<String>) {
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.into());
    }
}

impl Engine {
    /// `POST /containers/create`.
    pub fn create(&self, name: Option<&str>, req: CreateRequest) -> Result<(String, Vec<String>)> {
        if req.config.image.is_empty() {
            return Err(EngineError::BadRequest(
                "config cannot be empty in order to create a container".into(),
            ));
        }
        let image = self.images.resolve(&req.config.image).map_err(|e| match e {
            crate::images::store::ImageError::NotFound(_) => {
                EngineError::NotFound(format!("No such image: {}", req.config.image))
            }
            e => e.into(),
        })?;
        self.create_from(name, req, image)
    }

    /// `--storage-opt`: the read-write layer's size limit, where the graph
    /// driver can keep one; Docker's messages otherwise.
    fn storage_size(&self, hc: &skiff_api::HostConfig) -> Result<Option<u64>> {
        let Some(opts) = hc.storage_opt.as_ref().filter(|o| !o.is_empty()) else {
            return Ok(None);
        };
        if !self.images.layers.driver.can_limit() {
            return Err(EngineError::BadRequest(crate::images::quota::UNSUPPORTED.into()));
        }
        let mut size = None;
        for (k, v) in opts {
            match k.to_ascii_lowercase().as_str() {
                "size" => {
                    let bytes = skiff_shim::log::jsonfile::parse_size(v)
                        .ok_or_else(|| EngineError::BadRequest(format!("invalid size: '{v}'")))?;
                    size = Some(bytes);
                }
                _ => return Err(EngineError::BadRequest(format!("Unknown option {k}"))),
            }
        }
        Ok(size)
    }

    /// Create a container from `image`, which need not be stored (a build
    /// step's state: the base image's ID with the step's config and layers).
    pub fn create_from(
        &self,
        name: Option<&str>,
        req: CreateRequest,
        image: crate::images::store::Image,
    ) -> Result<(String, Vec<String>)> {
        let mut warnings = Vec::new();
        let mut hc = req.host_config.clone();
        self.merge_log_config(&mut hc.log_config)?;
        validate_host_config(&hc)?;
        self.check_userns(&hc)?;
        super::limits::adapt(&mut hc);
        let sys = super::limits::sysinfo(self.cgroup_v2);
        warnings.extend(super::limits::verify_resources(&mut hc.resources, sys, false)?);
        super::limits::verify_settings(&hc)?;
        let layer_size = self.storage_size(&hc)?;
        super::security::verify(&hc)?;
        super::security::fill_defaults(&mut hc, self.cgroup_v2);
        let networks = self.plan_networks(&mut hc, req.networking_config.as_ref(), &mut warnings)?;
        if hc.init == Some(true) && self.cfg.init_path.is_none() {
            return Err(EngineError::BadRequest(
                "--init needs a static init binary: install Debian's tini (tini-static) or set init-path".into(),
            ));
        }
        let ic = &image.config.config;
        let mut cfg = req.config.clone();
        // Docker's merge: the request wins, the image fills in.
        // Docker keeps Env null when neither gave any (PATH is added to the
        // process's environment only, by `with_default_path`).
        let env = merge_env(&ic.env, &cfg.env);
        if !env.is_empty() {
            cfg.env = env.into();
        }
        if cfg.entrypoint.is_empty() {
            cfg.entrypoint = ic.entrypoint.clone();
            if cfg.cmd.is_empty() {
                cfg.cmd = ic.cmd.clone();
            }
        }
        if cfg.working_dir.is_empty() {
            cfg.working_dir = ic.working_dir.clone();
        }
        if cfg.user.is_empty() {
            cfg.user = ic.user.clone();
        }
        let mut labels: BTreeMap<String, String> = ic.labels.clone().into();
        labels.extend(cfg.labels.clone().into_inner());
        cfg.labels = labels.into();
        if cfg.stop_signal.is_none() {
            cfg.stop_signal = ic.stop_signal.clone();
        }
        if cfg.exposed_ports.is_none() {
            cfg.exposed_ports = ic.exposed_ports.clone();
        }
        cfg.healthcheck = super::health::merge(cfg.healthcheck.take(), ic.healthcheck.as_ref());
        super::health::validate(cfg.healthcheck.as_ref())?;
        // The image's volumes and the request's, as Docker merges them.
        if let Some(iv) = &ic.volumes {
            cfg.volumes.get_or_insert_with(Default::default).extend(iv.clone());
        }
        let anonymous: Vec<String> = cfg.volumes.iter().flatten().map(|(k, _)| k.clone()).collect();
        let mounts_of = |key: &str| self.get(key).map(|c| c.record().mounts.clone());
        let planned = super::mounts::plan(&hc, &anonymous, &mounts_of)?;
        let argv: Vec<String> = cfg.entrypoint.iter().chain(cfg.cmd.iter()).cloned().collect();
        let Some((path, args)) = argv.split_first() else {
            return Err(EngineError::BadRequest("No command specified".into()));
        };
        if !cfg.working_dir.is_empty() && !cfg.working_dir.starts_with('/') {
            return Err(EngineError::BadRequest(format!(
                "the working directory '{}' is invalid, it needs to be an absolute path",
                cfg.working_dir
            )));
        }

        // A start usually follows: get the cgroup-migration wait out of the way.
        self.warmer.keep_open(crate::runtime::cgroup_warmup::HOLD);
        let id = new_id();
        if cfg.hostname.is_empty() {
            cfg.hostname = id[..12].to_string();
        }
        let mut creating = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let name = match name {
            Some(n) if !n.is_empty() => {
                let n = n.trim_start_matches('/');
                if !skiff_api::valid_name(n) {
                    return Err(EngineError::BadRequest(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let holder = self.all().into_iter().find(|c| c.name() == n).map(|c| c.id.clone());
                if let Some(other) = holder.or_else(|| creating.contains(n).then(|| "being created".to_string())) {
                    return Err(EngineError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                n.to_string()
            }
            _ => {
                let taken: Vec<String> = self.all().iter().map(|c| c.name()).collect();
                (0..10)
                    .map(names::random_name)
                    .find(|n| !taken.contains(n) && !creating.contains(n))
                    .unwrap_or_else(|| id[..12].to_string())
            }
        };
        // Held while storage is made (slow: directories and fsyncs), so
        // creates run side by side; released when the container is listed
        // or the create fails.
        creating.insert(name.clone());
        drop(creating);
        let _reserved = Reserved(self, &name);

        // Storage: the container's read-write layer on the image's init
        // layer (mount points for the files the engine provides).
        let image_layer = image.top_layer();
        self.images
            .prepare(&id, image_layer.as_deref(), layer_size, self.remapped(&hc))
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let driver = &self.images.layers.driver;
        let dir = self.containers_dir(&id);
        // Until the record is written, a failure takes the layer and the
        // directory back with it.
        let mut made = Made {
            engine: self,
            id: &id,
            dir: &dir,
            kept: false,
        };
        std::fs::create_dir_all(&dir)?;
        // Volumes are made (and filled from the image) with the layer in place.
        let mounts = self.attach_volumes(&id, planned)?;
        crate::crashpoint::at("create-layer-made");

        let mut data = driver.metadata(&id);
        data.retain(|_, v| !v.is_empty());
        let inspect = ContainerInspect {
            id: id.clone(),
            created: now(),
            path: path.clone(),
            args: args.to_vec(),
            state: ContainerState {
                status: super::state::Status::Created.name().into(),
                started_at: "0001-01-01T00:00:00Z".into(),
                finished_at: "0001-01-01T00:00:00Z".into(),
                ..Default::default()
            },
            image: image.id.clone(),
            name: format!("/{name}"),
            driver: driver.kind().name().into(),
            platform: "linux".into(),
            host_config: hc,
            graph_driver: GraphDriver {
                name: driver.kind().name().into(),
                data,
            },
            config: cfg,
            network_settings: skiff_api::NetworkSettings {
                networks,
                ..Default::default()
            },
            ..Default::default()
        };
        let rec = Record {
            inspect,
            manually_stopped: false,
            image_layer,
            ifaces: BTreeMap::new(),
            mounts,
        };
        if let Err(e) = write_json_atomic(&dir.join("config.v2.json"), &rec) {
            self.release_volumes(&id, &rec.mounts, true);
            return Err(e.into());
        }
        made.kept = true;
        let c = Ctr::new(rec);
        self.insert(c.clone());
        self.emit_container(&c, "create", &[]);
        drop(made);
        Ok((id, warnings))
    }

    /// Read every container record at startup.
    pub fn load_records(&self) -> Vec<Arc<Ctr>> {
        let Ok(rd) = std::fs::read_dir(self.cfg.data_root.join("containers")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let p: PathBuf = e.path().join("config.v2.json");
            match read_json::<Record>(&p) {
                Ok(mut rec) => {
                    // Records from before typed mounts.
                    if rec.mounts.is_empty() {
                        rec.mounts = super::mounts::legacy_binds(&rec.inspect.host_config);
                    }
                    self.reference_volumes(&rec);
                    let c = Ctr::new(rec);
                    self.insert(c.clone());
                    out.push(c);
                }
                Err(err) => tracing::warn!("skipping container {}: {err}", e.path().display()),
            }
        }
        out
    }

    pub fn rename(&self, key: &str, new: &str) -> Result<()> {
        let c = self.get(key)?;
        let new = new.trim_start_matches('/');
        if !skiff_api::valid_name(new) {
            return Err(EngineError::BadRequest(format!(
                "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let creating = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if creating.contains(new) {
            return Err(EngineError::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by a container being created."
            )));
        }
        if let Some(other) = self.all().into_iter().find(|o| o.name() == new) {
            return Err(EngineError::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let old = c.name();
        c.update(&self.containers_dir(&c.id), |r| r.inspect.name = format!("/{new}"))?;
        self.emit_container(
            &c,
            "rename",
            &[("oldName", format!("/{}", old.trim_start_matches('/')))],
        );
        Ok(())
    }
}

/// Storage made for a container being created: removed again on drop
/// unless the create got as far as its record.
struct Made<'a> {
    engine: &'a Engine,
    id: &'a str,
    dir: &'a std::path::Path,
    kept: bool,
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_dir_all(self.dir);
            if let Err(e) = self.engine.images.release(self.id) {
                tracing::warn!(id = %self.id, "removing the layer of a failed create: {e}");
            }
        }
    }
}

/// A name held for a container being created.
struct Reserved<'a>(&'a Engine, &'a str);

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.0.names.lock().unwrap_or_else(|e| e.into_inner()).remove(self.1);
    }
}

fn validate_host_config(hc: &skiff_api::HostConfig) -> Result<()> {
    match hc.restart_policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => return Err(EngineError::BadRequest(format!("invalid restart policy '{other}'"))),
    }
    if hc.auto_remove && !matches!(hc.restart_policy.name.as_str(), "no" | "") {
        return Err(EngineError::BadRequest(
            "conflicting options: --restart and --rm".into(),
        ));
    }
    if hc.restart_policy.maximum_retry_count > 0 && hc.restart_policy.name != "on-failure" {
        return Err(EngineError::BadRequest(format!(
            "maximum retry count cannot be used with restart policy '{}'",
            hc.restart_policy.name
        )));
    }
    crate::runtime::spec::capabilities(&hc.cap_add, &hc.cap_drop, false).map_err(EngineError::BadRequest)?;
    Ok(())
}
