//! Agent settings: Docker's daemon flags and `daemon.json`-style config file.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::Deserialize;

use crate::images::driver::DriverKind;

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
    /// Storage driver: overlay2, vfs, or btrfs (a data root on btrfs)
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
    /// Use TLS and verify the remote (required for tcp:// hosts)
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long)]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file
    #[arg(long)]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file
    #[arg(long)]
    pub tlskey: Option<PathBuf>,
    /// Allow tcp:// hosts without TLS (anyone who can connect is root)
    #[arg(long)]
    pub insecure_tcp: bool,
    /// Static init binary that `--init` injects as PID 1 (default: tini-static)
    #[arg(long)]
    pub init_path: Option<PathBuf>,
    /// Address and prefix of the default bridge (`skiff0`), e.g. 172.30.0.1/16;
    /// picked among free private subnets when absent
    #[arg(long)]
    pub bip: Option<String>,
    /// Join the cluster with this token (once; the certificate is kept)
    #[arg(long)]
    pub join: Option<String>,
    /// The controller to join and report to, HOST:PORT
    #[arg(long)]
    pub controller: Option<String>,
    /// This host's name in the cluster (default: the hostname)
    #[arg(long)]
    pub node_name: Option<String>,
    /// Set key=value labels on this host (the cluster's constraints use them)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Serve Prometheus metrics over plain HTTP on this address (host:port)
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// A registry reached over plain HTTP (HOST:PORT), as Docker's flag;
    /// loopback registries always are
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// A mirror of Docker Hub (http[s]://HOST[:PORT]), tried before it for
    /// docker.io pulls, as Docker's flag
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Set no-new-privileges by default for new containers (Docker's flag)
    #[arg(long)]
    pub no_new_privileges: bool,
    /// Docker's certs.d: <dir>/<host:port>/*.crt are CAs for that registry
    #[arg(long, default_value = "/etc/skiff/certs.d")]
    pub certs_dir: PathBuf,
    /// Default log driver for containers (json-file, local, syslog, journald, gelf, fluentd, none)
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Default log driver options (key=value), as `--log-opt` of `run`
    #[arg(long = "log-opt")]
    pub log_opts: Vec<String>,
    /// Run containers in user namespaces mapped to the subordinate IDs of
    /// USER[:GROUP] (`default`: the dockremap user, created if absent)
    #[arg(long)]
    pub userns_remap: Option<String>,
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
    bip: Option<String>,
    labels: Option<Vec<String>>,
    controller: Option<String>,
    #[serde(rename = "node-name")]
    node_name: Option<String>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
    #[serde(rename = "metrics-addr")]
    metrics_addr: Option<String>,
    #[serde(rename = "insecure-registries")]
    insecure_registries: Option<Vec<String>>,
    #[serde(rename = "registry-mirrors")]
    registry_mirrors: Option<Vec<String>>,
    #[serde(rename = "log-driver")]
    log_driver: Option<String>,
    #[serde(rename = "log-opts")]
    log_opts: Option<std::collections::BTreeMap<String, String>>,
    #[serde(rename = "no-new-privileges")]
    no_new_privileges: Option<bool>,
    #[serde(rename = "userns-remap")]
    userns_remap: Option<String>,
}

/// The daemon's default log driver and options: flags over the file,
/// checked as a container's would be (Docker refuses to start on a bad
/// default: "failed to set log opts").
fn log_defaults(
    flag_driver: Option<String>,
    flag_opts: Vec<String>,
    file_driver: Option<String>,
    file_opts: Option<std::collections::BTreeMap<String, String>>,
) -> Result<(String, std::collections::BTreeMap<String, String>)> {
    let driver = flag_driver.or(file_driver).unwrap_or_else(|| "json-file".into());
    let mut opts = file_opts.unwrap_or_default();
    if !flag_opts.is_empty() {
        opts.clear();
        for o in &flag_opts {
            let (k, v) = o
                .split_once('=')
                .with_context(|| format!("invalid key/value pair format in log options: {o}"))?;
            opts.insert(k.into(), v.into());
        }
    }
    skiff_shim::log::opts::validate(&driver, &opts).map_err(|e| anyhow::anyhow!("failed to set log opts: {e}"))?;
    Ok((driver, opts))
}

/// An API endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(String),
    /// Sockets from systemd: all of them, or the one descriptor named.
    Fd(Option<i32>),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<Listen>,
    /// Mutual TLS for tcp:// endpoints (`--tlsverify`).
    pub tls: Option<skiff_certs::tls::TlsFiles>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub storage_driver: DriverKind,
    pub cgroup_parent: String,
    pub debug: bool,
    pub log_level: String,
    /// The init `--init` runs as PID 1 (Docker's docker-init is tini too).
    pub init_path: Option<PathBuf>,
    /// The default bridge's address (`--bip`).
    pub bip: Option<String>,
    /// `--join TOKEN`: become a cluster member.
    pub join: Option<String>,
    /// The controller's HOST:PORT.
    pub controller: Option<String>,
    /// This host's name in `info` and in the cluster.
    pub node_name: String,
    /// `--label k=v`, shown by `info` and used by placement constraints.
    pub labels: Vec<String>,
    /// The log driver of containers that name none (`--log-driver`,
    /// `log-driver`; json-file), and its options (`--log-opt`, `log-opts`).
    pub log_driver: String,
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// Where `/metrics` is also served over plain HTTP (`--metrics-addr`).
    pub metrics_addr: Option<String>,
    /// Registries reached over plain HTTP (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// Docker Hub mirrors (`--registry-mirror`, `registry-mirrors`),
    /// normalised as Docker (`http://127.0.0.1:5000/`).
    pub registry_mirrors: Vec<String>,
    /// `certs.d` for registry CAs.
    pub certs_dir: PathBuf,
    /// `--no-new-privileges`: containers get no_new_privs unless their
    /// `--security-opt` says otherwise.
    pub no_new_privileges: bool,
    /// `--userns-remap` as given; after `Engine::open`, `user:group`.
    pub userns_remap: Option<String>,
    /// Container IDs to host IDs (the identity without `--userns-remap`).
    pub idmap: crate::idmap::IdMap,
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
        let mut listen = Vec::new();
        for h in &hosts {
            if let Some(p) = h.strip_prefix("unix://") {
                listen.push(Listen::Unix(PathBuf::from(p)));
            } else if let Some(a) = h.strip_prefix("tcp://") {
                let a = if a.contains(':') {
                    a.to_string()
                } else {
                    format!("{a}:2376")
                };
                listen.push(Listen::Tcp(a));
            } else if let Some(n) = h.strip_prefix("fd://") {
                let n = match n {
                    "" => None,
                    n => Some(n.parse::<i32>().ok().filter(|n| *n >= 3).with_context(|| {
                        format!("invalid fd:// host {h}: use fd:// or fd://N with N a passed descriptor (3 or more)")
                    })?),
                };
                listen.push(Listen::Fd(n));
            } else {
                bail!("unsupported host {h}: use unix:///path, tcp://addr:port or fd://");
            }
        }
        if listen.is_empty() {
            listen.push(Listen::Unix(PathBuf::from("/run/skiff/agent.sock")));
        }
        let tlsverify = flags.tlsverify || file.tlsverify.unwrap_or(false);
        let tls_dir = PathBuf::from("/etc/skiff/tls");
        let tls = tlsverify.then(|| skiff_certs::tls::TlsFiles {
            ca: flags
                .tlscacert
                .or(file.tlscacert)
                .unwrap_or_else(|| tls_dir.join(skiff_certs::files::CA)),
            cert: flags
                .tlscert
                .or(file.tlscert)
                .unwrap_or_else(|| tls_dir.join(skiff_certs::files::SERVER_CERT)),
            key: flags
                .tlskey
                .or(file.tlskey)
                .unwrap_or_else(|| tls_dir.join(skiff_certs::files::SERVER_KEY)),
        });
        let has_tcp = listen.iter().any(|l| matches!(l, Listen::Tcp(_)));
        if has_tcp && tls.is_none() && !flags.insecure_tcp {
            bail!(
                "refusing to serve tcp:// without --tlsverify: anyone who can connect would be root on this host \
                 (pass --insecure-tcp to do it anyway)"
            );
        }
        let driver_name = flags.storage_driver.or(file.storage_driver);
        let storage_driver = match driver_name.as_deref() {
            None => {
                if crate::images::driver::overlay_supported() {
                    DriverKind::Overlay2
                } else {
                    DriverKind::Vfs
                }
            }
            Some(n) => {
                DriverKind::parse(n).with_context(|| format!("unknown storage driver {n} (overlay2, vfs, btrfs)"))?
            }
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
        let labels = if flags.labels.is_empty() {
            file.labels.unwrap_or_default()
        } else {
            flags.labels
        };
        if let Some(bad) = labels.iter().find(|l| !l.contains('=')) {
            bail!("invalid label {bad:?}: use key=value");
        }
        let node_name = flags
            .node_name
            .or(file.node_name)
            .or_else(|| nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()))
            .unwrap_or_else(|| "localhost".into());
        let (log_driver, log_opts) = log_defaults(flags.log_driver, flags.log_opts, file.log_driver, file.log_opts)?;
        let mut insecure_registries = flags.insecure_registries;
        insecure_registries.extend(file.insecure_registries.unwrap_or_default());
        let mut registry_mirrors = Vec::new();
        for m in flags
            .registry_mirrors
            .iter()
            .chain(file.registry_mirrors.iter().flatten())
        {
            registry_mirrors.push(validate_mirror(m)?);
        }
        Ok(Self {
            log_driver,
            log_opts,
            no_new_privileges: flags.no_new_privileges || file.no_new_privileges.unwrap_or(false),
            userns_remap: flags.userns_remap.or(file.userns_remap).filter(|s| !s.is_empty()),
            idmap: Default::default(),
            insecure_registries,
            registry_mirrors,
            certs_dir: flags.certs_dir,
            metrics_addr: flags.metrics_addr.or(file.metrics_addr),
            init_path,
            bip: flags.bip.or(file.bip),
            join: flags.join,
            controller: flags.controller.or(file.controller),
            node_name,
            labels,
            listen,
            tls,
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

/// A registry mirror as Docker's `ValidateMirror` takes it: an http or
/// https URL of a host, nothing after it; returned with one trailing `/`.
pub fn validate_mirror(val: &str) -> anyhow::Result<String> {
    let Some((scheme, rest)) = val.split_once("://") else {
        bail!("invalid mirror: unsupported scheme \"\" in \"{val}\"");
    };
    if scheme != "http" && scheme != "https" {
        bail!("invalid mirror: unsupported scheme \"{scheme}\" in \"{val}\"");
    }
    let host = rest.strip_suffix('/').unwrap_or(rest);
    if host.contains(['/', '?', '#']) {
        bail!("invalid mirror: path, query, or fragment at end of the URI \"{val}\"");
    }
    if host.contains('@') {
        bail!("invalid mirror: username/password not allowed in URI \"{val}\"");
    }
    if host.is_empty() {
        bail!("invalid mirror: \"{val}\" is not a valid URI");
    }
    Ok(format!("{scheme}://{host}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(file: &str, args: &[&str]) -> Result<Config> {
        let path = std::env::temp_dir().join(format!("skiff-agent-json-{}-{}", std::process::id(), args.len()));
        std::fs::write(&path, file).unwrap();
        let mut argv = vec!["skiff-agent", "--config-file", path.to_str().unwrap()];
        argv.extend_from_slice(args);
        let r = Config::resolve(Flags::parse_from(argv));
        std::fs::remove_file(&path).unwrap();
        r
    }

    #[test]
    fn log_defaults_from_the_file_and_the_flags() {
        let c = resolve(r#"{"log-driver": "local", "log-opts": {"max-size": "5m"}}"#, &[]).unwrap();
        assert_eq!(
            (c.log_driver.as_str(), c.log_opts["max-size"].as_str()),
            ("local", "5m")
        );
        let c = resolve(
            r#"{"log-driver": "local", "log-opts": {"max-size": "5m"}}"#,
            &["--log-driver", "syslog", "--log-opt", "tag={{.Name}}"],
        )
        .unwrap();
        assert_eq!(c.log_driver, "syslog");
        assert_eq!(c.log_opts.keys().collect::<Vec<_>>(), ["tag"]);
        let c = resolve("{}", &[]).unwrap();
        assert_eq!((c.log_driver.as_str(), c.log_opts.len()), ("json-file", 0));
        let e = resolve(r#"{"log-driver": "nope"}"#, &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "failed to set log opts: logger: no log driver named 'nope' is registered"
        );
    }

    #[test]
    fn registry_mirrors_are_checked_as_dockers() {
        let c = resolve(
            r#"{"registry-mirrors": ["https://mirror.example"]}"#,
            &["--registry-mirror", "http://127.0.0.1:5000/"],
        )
        .unwrap();
        assert_eq!(
            c.registry_mirrors,
            ["http://127.0.0.1:5000/", "https://mirror.example/"]
        );
        let e = resolve("{}", &["--registry-mirror", "ftp://m"])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "invalid mirror: unsupported scheme \"ftp\" in \"ftp://m\"");
        let e = resolve("{}", &["--registry-mirror", "https://m/v2"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid mirror: path, query, or fragment at end of the URI \"https://m/v2\""
        );
    }
}
