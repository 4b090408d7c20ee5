//! Resource flags of `run`/`create` and `skiff update`, parsed as Docker's
//! CLI parses them (sizes with units, `-1` for unlimited, devices as
//! `PATH:RATE`), with its messages.

use clap::Args;
use skiff_api::{
    DeviceMapping, HostConfig, Resources, RestartPolicy, ThrottleDevice, Ulimit, UpdateConfig, WeightDevice,
};
use skiff_client::Client;

use super::run::parse_bytes;
use super::{fail, Exit};

#[derive(Args, Debug, Clone, Default)]
pub struct ResourceFlags {
    /// Memory limit (e.g. 512m, 1g); through a controller also what the host must have free
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Tune container memory swappiness (0 to 100) (default -1)
    #[arg(long = "memory-swappiness", allow_negative_numbers = true)]
    pub memory_swappiness: Option<i64>,
    /// Kernel memory limit (deprecated)
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_negative_numbers = true)]
    pub oom_score_adj: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs (e.g. 1.5); through a controller also what the host must have free
    #[arg(long)]
    pub cpus: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Block IO weight (relative device weight)
    #[arg(long = "blkio-weight-device")]
    pub blkio_weight_device: Vec<String>,
    /// Limit read rate (bytes per second) from a device
    #[arg(long = "device-read-bps")]
    pub device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device
    #[arg(long = "device-write-bps")]
    pub device_write_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device
    #[arg(long = "device-read-iops")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (IO per second) to a device
    #[arg(long = "device-write-iops")]
    pub device_write_iops: Vec<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Add a host device to the container
    #[arg(long)]
    pub device: Vec<String>,
}

/// A size flag: `invalid argument "x" for "--memory" flag: invalid size: 'x'`.
fn size(v: &Option<String>, flag: &str) -> Result<i64, String> {
    match v {
        None => Ok(0),
        Some(s) => parse_bytes(s).map_err(|e| format!("invalid argument \"{s}\" for \"{flag}\" flag: {e}")),
    }
}

/// `--memory-swap`: a size, or -1 for unlimited.
fn swap(v: &Option<String>) -> Result<i64, String> {
    match v.as_deref() {
        Some("-1") => Ok(-1),
        _ => size(v, "--memory-swap"),
    }
}

/// `--cpus 1.5` in billionths of a CPU, as Docker's `NanoCPUs` flag.
pub fn nano_cpus(v: &Option<String>) -> Result<i64, String> {
    let Some(s) = v else { return Ok(0) };
    let err = |why: &str| format!("invalid argument \"{s}\" for \"--cpus\" flag: {why}");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(err(&format!("failed to parse {s} as a rational number")));
    }
    if frac.trim_end_matches('0').len() > 9 {
        return Err(err("value is too precise"));
    }
    let whole: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| err("value is too large"))?
    };
    let digits = format!("{:0<9}", frac.trim_end_matches('0'));
    let part: i64 = digits.parse().unwrap_or(0);
    Ok(whole * 1_000_000_000 + part)
}

/// `PATH:RATE` for `--device-read-bps` (sizes) and `-iops` (numbers).
fn throttles(list: &[String], flag: &str, bytes: bool) -> Result<Option<Vec<ThrottleDevice>>, String> {
    let mut out = Vec::new();
    for v in list {
        let arg = |why: String| format!("invalid argument \"{v}\" for \"{flag}\" flag: {why}");
        let Some((path, rate)) = v.rsplit_once(':') else {
            return Err(arg(format!("bad format: {v}")));
        };
        if !path.starts_with("/dev/") {
            return Err(arg(format!("bad format for device path: {v}")));
        }
        let rate = if bytes {
            parse_bytes(rate).ok().filter(|r| *r >= 0).ok_or_else(|| arg(format!("invalid rate for device: {v}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb")))?
        } else {
            rate.parse::<i64>().ok().filter(|r| *r >= 0).ok_or_else(|| arg(format!("invalid rate for device: {v}. The correct format is <device-path>:<number>. Number must be a positive integer")))?
        };
        out.push(ThrottleDevice {
            path: path.to_string(),
            rate: rate as u64,
        });
    }
    Ok((!out.is_empty()).then_some(out))
}

fn weight_devices(list: &[String]) -> Result<Vec<WeightDevice>, String> {
    list.iter()
        .map(|v| {
            let arg = |why: String| format!("invalid argument \"{v}\" for \"--blkio-weight-device\" flag: {why}");
            let (path, w) = v.rsplit_once(':').ok_or_else(|| arg(format!("bad format: {v}")))?;
            if !path.starts_with("/dev/") {
                return Err(arg(format!("bad format for device path: {v}")));
            }
            let weight = w
                .parse::<u16>()
                .ok()
                .filter(|w| (10..=1000).contains(w) || *w == 0)
                .ok_or_else(|| arg(format!("invalid weight for device: {v}")))?;
            Ok(WeightDevice {
                path: path.into(),
                weight,
            })
        })
        .collect()
}

/// `--ulimit nofile=1024[:2048]`.
fn ulimits(list: &[String]) -> Result<Option<Vec<Ulimit>>, String> {
    let mut out = Vec::new();
    for v in list {
        let arg = |why: String| format!("invalid argument \"{v}\" for \"--ulimit\" flag: {why}");
        let (name, limits) = v
            .split_once('=')
            .ok_or_else(|| arg(format!("invalid ulimit argument: {v}")))?;
        let num = |x: &str| {
            x.parse::<i64>()
                .map_err(|_| arg(format!("invalid ulimit argument: {v}")))
        };
        let (soft, hard) = match limits.split_once(':') {
            Some((s, h)) => (num(s)?, num(h)?),
            None => (num(limits)?, num(limits)?),
        };
        if soft > hard {
            return Err(arg(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        out.push(Ulimit {
            name: name.to_string(),
            hard,
            soft,
        });
    }
    Ok((!out.is_empty()).then_some(out))
}

/// `--device /dev/x[:/dev/y[:rwm]]`.
fn devices(list: &[String]) -> Result<Vec<DeviceMapping>, String> {
    list.iter()
        .map(|v| {
            let parts: Vec<&str> = v.split(':').collect();
            let mode_ok = |m: &str| !m.is_empty() && m.chars().all(|c| "rwm".contains(c));
            let (host, ctr, perms) = match parts.as_slice() {
                [h] => (*h, *h, "rwm"),
                [h, m] if mode_ok(m) => (*h, *h, *m),
                [h, c] => (*h, *c, "rwm"),
                [h, c, m] if mode_ok(m) => (*h, *c, *m),
                [_, _, m] => {
                    return Err(format!(
                        "invalid argument \"{v}\" for \"--device\" flag: invalid device mode: {m}"
                    ))
                }
                _ => {
                    return Err(format!(
                        "invalid argument \"{v}\" for \"--device\" flag: bad format for path: {v}"
                    ))
                }
            };
            Ok(DeviceMapping {
                path_on_host: host.into(),
                path_in_container: ctr.into(),
                cgroup_permissions: perms.into(),
            })
        })
        .collect()
}

/// Sysctls a container may set, as Docker's CLI checks them.
fn sysctls(list: &[String]) -> Result<Option<std::collections::BTreeMap<String, String>>, String> {
    let mut out = std::collections::BTreeMap::new();
    for v in list {
        let (k, val) = v.split_once('=').unwrap_or((v, ""));
        if !(skiff_api::IPC_SYSCTLS.contains(&k) || k.starts_with("net.") || k.starts_with("fs.mqueue.")) {
            return Err(format!(
                "invalid argument \"{v}\" for \"--sysctl\" flag: sysctl '{v}' is not whitelisted"
            ));
        }
        out.insert(k.to_string(), val.to_string());
    }
    Ok((!out.is_empty()).then_some(out))
}

impl ResourceFlags {
    /// Put the flags into a create request's host config.
    pub fn apply(&self, hc: &mut HostConfig) -> Result<(), String> {
        let r = &mut hc.resources;
        r.memory = size(&self.memory, "-m, --memory")?;
        r.memory_swap = swap(&self.memory_swap)?;
        r.memory_reservation = size(&self.memory_reservation, "--memory-reservation")?;
        r.kernel_memory = size(&self.kernel_memory, "--kernel-memory")?;
        if let Some(s) = self.memory_swappiness {
            if s != -1 && !(0..=100).contains(&s) {
                return Err(format!("invalid value: {s}. Valid memory swappiness range is 0-100"));
            }
            r.memory_swappiness = (s != -1).then_some(s);
        }
        r.oom_kill_disable = Some(self.oom_kill_disable);
        r.cpu_shares = self.cpu_shares.unwrap_or(0);
        r.nano_cpus = nano_cpus(&self.cpus)?;
        r.cpu_period = self.cpu_period.unwrap_or(0);
        r.cpu_quota = self.cpu_quota.unwrap_or(0);
        r.cpuset_cpus = self.cpuset_cpus.clone().unwrap_or_default();
        r.cpuset_mems = self.cpuset_mems.clone().unwrap_or_default();
        r.blkio_weight = self.blkio_weight.unwrap_or(0);
        r.blkio_weight_device = Some(weight_devices(&self.blkio_weight_device)?);
        r.blkio_device_read_bps = throttles(&self.device_read_bps, "--device-read-bps", true)?;
        r.blkio_device_write_bps = throttles(&self.device_write_bps, "--device-write-bps", true)?;
        r.blkio_device_read_iops = throttles(&self.device_read_iops, "--device-read-iops", false)?;
        r.blkio_device_write_iops = throttles(&self.device_write_iops, "--device-write-iops", false)?;
        r.pids_limit = self.pids_limit;
        r.ulimits = ulimits(&self.ulimit)?;
        r.devices = Some(devices(&self.device)?);
        hc.shm_size = size(&self.shm_size, "--shm-size")?;
        hc.oom_score_adj = self.oom_score_adj.unwrap_or(0);
        hc.sysctls = sysctls(&self.sysctl)?;
        hc.group_add = (!self.group_add.is_empty()).then(|| self.group_add.clone());
        Ok(())
    }
}

/// `skiff update`'s flags: Docker's.
#[derive(Args, Debug, Clone)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit (deprecated)
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

impl UpdateArgs {
    fn config(&self) -> Result<UpdateConfig, String> {
        let given = self.blkio_weight.is_some()
            || self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_shares.is_some()
            || self.cpus.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some()
            || self.kernel_memory.is_some()
            || self.memory.is_some()
            || self.memory_reservation.is_some()
            || self.memory_swap.is_some()
            || self.pids_limit.is_some()
            || self.restart.is_some();
        if !given {
            return Err("You must provide one or more flags when using this command.".into());
        }
        let resources = Resources {
            blkio_weight: self.blkio_weight.unwrap_or(0),
            cpu_period: self.cpu_period.unwrap_or(0),
            cpu_quota: self.cpu_quota.unwrap_or(0),
            cpu_shares: self.cpu_shares.unwrap_or(0),
            nano_cpus: nano_cpus(&self.cpus)?,
            cpuset_cpus: self.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: self.cpuset_mems.clone().unwrap_or_default(),
            kernel_memory: size(&self.kernel_memory, "--kernel-memory")?,
            memory: size(&self.memory, "-m, --memory")?,
            memory_reservation: size(&self.memory_reservation, "--memory-reservation")?,
            memory_swap: swap(&self.memory_swap)?,
            pids_limit: self.pids_limit,
            ..Default::default()
        };
        let restart_policy = match &self.restart {
            Some(r) => super::run::restart_policy(r)?,
            None => RestartPolicy::default(),
        };
        Ok(UpdateConfig {
            resources,
            restart_policy,
        })
    }
}

/// `skiff update`: each container's name as given when it took the new
/// limits, the daemon's warnings, then the errors (exit 1), as Docker.
pub async fn update(c: &Client, a: UpdateArgs) -> Exit {
    let cfg = match a.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Exit(1);
        }
    };
    let (mut warnings, mut errors) = (Vec::new(), Vec::new());
    for name in &a.containers {
        match c.container_update(name, &cfg).await {
            Ok(r) => {
                println!("{name}");
                warnings.extend(r.warnings);
            }
            Err(e) => errors.push(e),
        }
    }
    if !warnings.is_empty() {
        println!("{}", warnings.join("\n"));
    }
    if let Some(last) = errors.pop() {
        for e in &errors {
            eprintln!("{e}");
        }
        return fail(&last, 1);
    }
    Exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_as_nano() {
        assert_eq!(nano_cpus(&Some("0.5".into())).unwrap(), 500_000_000);
        assert_eq!(nano_cpus(&Some("2".into())).unwrap(), 2_000_000_000);
        assert_eq!(nano_cpus(&Some(".25".into())).unwrap(), 250_000_000);
        assert!(nano_cpus(&Some("0.0000000001".into()))
            .unwrap_err()
            .ends_with("value is too precise"));
        assert!(nano_cpus(&Some("x".into())).is_err());
    }

    #[test]
    fn flags_into_host_config() {
        let f = ResourceFlags {
            memory: Some("16m".into()),
            memory_swap: Some("-1".into()),
            pids_limit: Some(20),
            ulimit: vec!["nofile=100:200".into()],
            device: vec!["/dev/fuse:rw".into()],
            device_read_bps: vec!["/dev/sda:1mb".into()],
            ..Default::default()
        };
        let mut hc = HostConfig::default();
        f.apply(&mut hc).unwrap();
        assert_eq!((hc.resources.memory, hc.resources.memory_swap), (16 << 20, -1));
        assert_eq!(hc.resources.ulimits.as_ref().unwrap()[0].soft, 100);
        assert_eq!(hc.resources.devices.as_ref().unwrap()[0].cgroup_permissions, "rw");
        assert_eq!(hc.resources.blkio_device_read_bps.as_ref().unwrap()[0].rate, 1 << 20);
        let bad = ResourceFlags {
            sysctl: vec!["vm.swappiness=1".into()],
            ..Default::default()
        };
        assert!(bad
            .apply(&mut hc)
            .unwrap_err()
            .ends_with("sysctl 'vm.swappiness=1' is not whitelisted"));
    }
}
