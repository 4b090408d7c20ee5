//! Agent settings: Docker's daemon flags and `daemon.json`-style config file.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::Deserialize;

use crate::storage::driver::DriverKind;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "skiff-agent",
    version,
    about = "skiff per-host container engine (Docker Engine API compatible)"
)]
pub struct Flags {
    /// Daemon socket(s) to listen on (unix:///path)
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root of persistent state
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root of runtime state (sockets, bundles)
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Storage driver: overlay2 or vfs
    #[arg(short = 's', long)]
    pub storage_driver: Option<String>,
    /// Parent cgroup for containers
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Debug mode: log every API request
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Log level: debug, info, warn, error
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// Static init binary that `--init` injects as PID 1 (default: tini-static)
    #[arg(long)]
    pub init_path: Option<PathBuf>,
    /// Config file (Docker daemon.json keys where they apply)
    #[arg(long, default_value = "/etc/skiff/agent.json")]
    pub config_file: PathBuf,
}

/// The keys of `/etc/skiff/agent.json` (same names as Docker's daemon.json).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    hosts: Option<Vec<String>>,
    #[serde(rename = "data-root")]
    data_root: Option<PathBuf>,
    #[serde(rename = "exec-root")]
    exec_root: Option<PathBuf>,
    #[serde(rename = "storage-driver")]
    storage_driver: Option<String>,
    #[serde(rename = "cgroup-parent")]
    cgroup_parent: Option<String>,
    debug: Option<bool>,
    #[serde(rename = "log-level")]
    log_level: Option<String>,
    #[serde(rename = "init-path")]
    init_path: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub sockets: Vec<PathBuf>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub storage_driver: DriverKind,
    pub cgroup_parent: String,
    pub debug: bool,
    pub log_level: String,
    /// The init `--init` runs as PID 1 (Docker's docker-init is tini too).
    pub init_path: Option<PathBuf>,
}

impl Config {
    /// Flags win over the file, as in Docker (which refuses conflicts; we
    /// let the command line override so one file can serve several agents).
    pub fn resolve(flags: Flags) -> Result<Self> {
        let file: FileConfig = match std::fs::read(&flags.config_file) {
            Ok(data) => {
                serde_json::from_slice(&data).with_context(|| format!("reading {}", flags.config_file.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", flags.config_file.display())),
        };
        let hosts = if !flags.hosts.is_empty() {
            flags.hosts
        } else {
            file.hosts.unwrap_or_default()
        };
        let mut sockets = Vec::new();
        for h in &hosts {
            match h.strip_prefix("unix://") {
                Some(p) => sockets.push(PathBuf::from(p)),
                None => bail!(
                    "unsupported host {h}: only unix:// sockets for now (tcp with --tlsverify comes with TLS support)"
                ),
            }
        }
        if sockets.is_empty() {
            sockets.push(PathBuf::from("/run/skiff/agent.sock"));
        }
        let driver_name = flags.storage_driver.or(file.storage_driver);
        let storage_driver = match driver_name.as_deref() {
            None => {
                if crate::storage::driver::overlay_supported() {
                    DriverKind::Overlay2
                } else {
                    DriverKind::Vfs
                }
            }
            Some(n) => DriverKind::parse(n).with_context(|| format!("unknown storage driver {n} (overlay2, vfs)"))?,
        };
        let debug = flags.debug || file.debug.unwrap_or(false);
        let init_path = flags.init_path.or(file.init_path).or_else(|| {
            [
                "/usr/bin/tini-static",
                "/usr/libexec/docker/docker-init",
                "/usr/bin/docker-init",
            ]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
        });
        Ok(Self {
            init_path,
            sockets,
            data_root: flags
                .data_root
                .or(file.data_root)
                .unwrap_or_else(|| "/var/lib/skiff".into()),
            exec_root: flags
                .exec_root
                .or(file.exec_root)
                .unwrap_or_else(|| "/run/skiff".into()),
            storage_driver,
            cgroup_parent: flags
                .cgroup_parent
                .or(file.cgroup_parent)
                .unwrap_or_else(|| "skiff".into()),
            debug,
            log_level: flags.log_level.or(file.log_level).unwrap_or_else(|| {
                if debug {
                    "debug".into()
                } else {
                    "info".into()
                }
            }),
        })
    }
}
