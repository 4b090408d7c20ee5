//! A container's resources as Docker's daemon treats them: defaults filled
//! in at create (`MemorySwap` twice `Memory`, a 64 MiB `/dev/shm`), values
//! checked with Docker's messages, what the host cannot enforce discarded
//! with Docker's warnings (`runtime::sysinfo` says what it can), and the
//! result turned into the runtime's terms (device numbers, rlimits).

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::OnceLock;

use skiff_api::{HostConfig, Resources, ThrottleDevice};

use super::{EngineError, Result};
use crate::runtime::limits::{DevValue, Limits};
use crate::runtime::spec::{Device, Rlimit};
use crate::runtime::sysinfo::{subset_of, SysInfo};

/// Docker's floor for memory limits and reservations.
const MIN_MEMORY: i64 = 6 << 20;
const DEFAULT_SHM: i64 = 64 << 20;
/// CFS period Docker uses for `--cpus`.
const CPU_PERIOD: i64 = 100_000;

/// What this host supports, found once.
pub fn sysinfo(v2: bool) -> &'static SysInfo {
    static INFO: OnceLock<SysInfo> = OnceLock::new();
    INFO.get_or_init(|| SysInfo::detect(v2))
}

fn num_cpus() -> i64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as i64)
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::BadRequest(msg.into())
}

/// Docker's defaults for a new container's host config.
pub fn adapt(hc: &mut HostConfig) {
    let r = &mut hc.resources;
    if r.cpu_shares > 0 {
        r.cpu_shares = r.cpu_shares.clamp(2, 262_144);
    }
    if r.memory > 0 && r.memory_swap == 0 {
        r.memory_swap = r.memory * 2;
    }
    if r.oom_kill_disable.is_none() {
        r.oom_kill_disable = Some(false);
    }
    // 0 and negative both mean "no limit", shown as null.
    if r.pids_limit.is_some_and(|p| p <= 0) {
        r.pids_limit = None;
    }
    if r.memory_swappiness == Some(-1) {
        r.memory_swappiness = None;
    }
    if hc.shm_size == 0 {
        hc.shm_size = DEFAULT_SHM;
    }
}

/// Docker's `verifyPlatformContainerResources`: errors for what cannot be
/// right, warnings (and the value dropped) for what this host cannot do.
pub fn verify_resources(r: &mut Resources, sys: &SysInfo, update: bool) -> Result<Vec<String>> {
    let mut warn = Vec::new();
    verify_memory(r, sys, update, &mut warn)?;
    verify_cpu(r, sys, &mut warn)?;
    verify_blkio(r, sys, &mut warn)?;
    Ok(warn)
}

fn verify_memory(r: &mut Resources, sys: &SysInfo, update: bool, warn: &mut Vec<String>) -> Result<()> {
    if r.memory != 0 && r.memory < MIN_MEMORY {
        return Err(bad("Minimum memory limit allowed is 6MB"));
    }
    if r.memory > 0 && !sys.memory_limit {
        warn.push("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
        r.memory = 0;
        r.memory_swap = -1;
    }
    if r.memory > 0 && r.memory_swap != -1 && !sys.swap_limit {
        warn.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
        r.memory_swap = -1;
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(bad(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if r.memory == 0 && r.memory_swap > 0 && !update {
        return Err(bad(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if r.memory_swappiness.is_some() && !sys.memory_swappiness {
        warn.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".into());
        r.memory_swappiness = None;
    }
    if let Some(s) = r.memory_swappiness {
        if !(0..=100).contains(&s) {
            return Err(bad(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    if r.memory_reservation > 0 && !sys.memory_reservation {
        warn.push("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
        r.memory_reservation = 0;
    }
    if r.memory_reservation > 0 && r.memory_reservation < MIN_MEMORY {
        return Err(bad("Minimum memory reservation allowed is 6MB"));
    }
    if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
        return Err(bad(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if r.kernel_memory > 0 {
        // The kernel deprecated kmem.limit_in_bytes (5.4) and ignores it
        // from 6.1; Docker deprecated the flag.
        warn.push("Specifying a kernel memory limit is deprecated and will be removed in a future release.".into());
        if !sys.kernel_memory {
            warn.push("Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
            r.kernel_memory = 0;
        }
        if r.kernel_memory > 0 && r.kernel_memory < MIN_MEMORY {
            return Err(bad("Minimum kernel memory limit allowed is 6MB"));
        }
    }
    if r.oom_kill_disable.is_some() && !sys.oom_kill_disable {
        if r.oom_kill_disable == Some(true) {
            warn.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.".into());
        }
        r.oom_kill_disable = None;
    }
    if r.oom_kill_disable == Some(true) && r.memory == 0 {
        warn.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".into());
    }
    if r.pids_limit.is_some() && !sys.pids_limit {
        if r.pids_limit.is_some_and(|p| p > 0) {
            warn.push("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.".into());
        }
        r.pids_limit = None;
    }
    Ok(())
}

fn verify_cpu(r: &mut Resources, sys: &SysInfo, warn: &mut Vec<String>) -> Result<()> {
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return Err(bad("Conflicting options: Nano CPUs and CPU Period cannot both be set"));
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set"));
    }
    if r.nano_cpus > 0 && !sys.cpu_cfs {
        return Err(bad(
            "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted",
        ));
    }
    let n = num_cpus();
    if r.nano_cpus < 0 || r.nano_cpus > n * 1_000_000_000 {
        return Err(bad(format!(
            "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
        )));
    }
    if r.cpu_shares > 0 && !sys.cpu_shares {
        warn.push("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.".into());
        r.cpu_shares = 0;
    }
    if (r.cpu_period != 0 || r.cpu_quota != 0) && !sys.cpu_cfs {
        warn.push("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.".into());
        r.cpu_period = 0;
        r.cpu_quota = 0;
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return Err(bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return Err(bad("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    if r.cpu_percent > 0 {
        warn.push("linux does not support CPU percent. Percent discarded.".into());
        r.cpu_percent = 0;
    }
    if (!r.cpuset_cpus.is_empty() || !r.cpuset_mems.is_empty()) && !sys.cpuset {
        warn.push("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.".into());
        r.cpuset_cpus.clear();
        r.cpuset_mems.clear();
    }
    within(&r.cpuset_cpus, &sys.cpus, "cpus", "CPUs")?;
    within(&r.cpuset_mems, &sys.mems, "mems", "memory nodes")
}

/// A cpuset list that must name only what the host has, with Docker's words.
fn within(requested: &str, available: &str, key: &str, what: &str) -> Result<()> {
    let ok =
        subset_of(requested, available).map_err(|e| bad(format!("Invalid value {requested} for cpuset {key}: {e}")))?;
    if !ok {
        return Err(bad(format!(
            "Requested {what} are not available - requested {requested}, available: {available}"
        )));
    }
    Ok(())
}

fn verify_blkio(r: &mut Resources, sys: &SysInfo, warn: &mut Vec<String>) -> Result<()> {
    if r.blkio_weight > 0 && !sys.blkio_weight {
        warn.push(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into(),
        );
        r.blkio_weight = 0;
    }
    if r.blkio_weight > 0 && !(10..=1000).contains(&r.blkio_weight) {
        return Err(bad("Range of blkio weight is from 10 to 1000"));
    }
    if r.io_maximum_bandwidth != 0 || r.io_maximum_iops != 0 {
        return Err(bad(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps",
        ));
    }
    if r.blkio_weight_device.as_ref().is_some_and(|v| !v.is_empty()) && !sys.blkio_weight_device {
        warn.push("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.".into());
        r.blkio_weight_device = Some(Vec::new());
    }
    let throttles: [(&mut Option<Vec<ThrottleDevice>>, bool, &str); 4] = [
        (&mut r.blkio_device_read_bps, sys.blkio_read_bps, "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded."),
        (&mut r.blkio_device_write_bps, sys.blkio_write_bps, "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded."),
        (&mut r.blkio_device_read_iops, sys.blkio_read_iops, "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded."),
        (&mut r.blkio_device_write_iops, sys.blkio_write_iops, "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded."),
    ];
    for (list, ok, msg) in throttles {
        if list.as_ref().is_some_and(|v| !v.is_empty()) && !ok {
            warn.push(msg.into());
            *list = Some(Vec::new());
        }
    }
    Ok(())
}

/// The rest of Docker's checks on a host config, and ours on what the
/// runtime would refuse later (devices, ulimits, sysctls), so a bad
/// request creates nothing.
pub fn verify_settings(hc: &HostConfig) -> Result<()> {
    if hc.shm_size < 0 {
        return Err(bad("SHM size can not be less than 0"));
    }
    if !(-1000..=1000).contains(&hc.oom_score_adj) {
        return Err(bad(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            hc.oom_score_adj
        )));
    }
    // Below the agent's own score only with CAP_SYS_RESOURCE; otherwise
    // the runtime fails with a bare EACCES.
    let own: i64 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if hc.oom_score_adj < own && !can_raise_limits() {
        return Err(bad(format!(
            "--oom-score-adj {}: lowering the OOM score below the agent's own ({own}) needs CAP_SYS_RESOURCE, which the agent does not have",
            hc.oom_score_adj
        )));
    }
    rlimits(hc).map_err(bad)?;
    devices(hc).map_err(bad)?;
    limits(&hc.resources).map_err(bad)?;
    for key in hc.sysctls.iter().flatten().map(|(k, _)| k) {
        check_sysctl(key, hc.network_mode == "host")?;
    }
    Ok(())
}

/// Sysctls a container may set: those of the namespaces it has its own.
fn check_sysctl(key: &str, host_net: bool) -> Result<()> {
    if skiff_api::IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.") {
        return Ok(());
    }
    if key.starts_with("net.") {
        if host_net {
            return Err(bad(format!("sysctl \"{key}\" not allowed in host network namespace")));
        }
        return Ok(());
    }
    Err(bad(format!("sysctl \"{key}\" is not in a separate kernel namespace")))
}

/// Block device numbers of a path (`/dev/sda`).
fn block_device(path: &str) -> std::result::Result<(u64, u64), String> {
    let m = std::fs::metadata(path).map_err(|e| format!("stat {path}: {}", strip_os(&e)))?;
    if !m.file_type().is_block_device() {
        return Err(format!("{path} is not a block device"));
    }
    let rdev = m.rdev();
    Ok((libc::major(rdev) as u64, libc::minor(rdev) as u64))
}

/// An io::Error's text without Rust's "(os error N)".
fn strip_os(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}

/// The resources in cgroup terms (device paths resolved), as a start
/// applies them.
pub fn limits(r: &Resources) -> std::result::Result<Limits, String> {
    let throttle = |list: &Option<Vec<ThrottleDevice>>| -> std::result::Result<Vec<DevValue>, String> {
        list.iter()
            .flatten()
            .map(|d| {
                let (major, minor) = block_device(&d.path)?;
                Ok(DevValue {
                    major,
                    minor,
                    value: d.rate,
                })
            })
            .collect()
    };
    let weight_device = r
        .blkio_weight_device
        .iter()
        .flatten()
        .map(|d| {
            let (major, minor) = block_device(&d.path)?;
            Ok(DevValue {
                major,
                minor,
                value: d.weight as u64,
            })
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let (period, quota) = if r.nano_cpus > 0 {
        (CPU_PERIOD as u64, r.nano_cpus * CPU_PERIOD / 1_000_000_000)
    } else {
        (r.cpu_period.max(0) as u64, r.cpu_quota)
    };
    Ok(Limits {
        memory: r.memory,
        memory_swap: if r.memory > 0 || r.memory_swap == -1 {
            r.memory_swap
        } else {
            0
        },
        memory_reservation: r.memory_reservation,
        memory_swappiness: r.memory_swappiness.map(|s| s.clamp(0, 100) as u64),
        oom_kill_disable: r.oom_kill_disable,
        cpu_shares: r.cpu_shares.max(0) as u64,
        cpu_period: period,
        cpu_quota: quota,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        pids_limit: r.pids_limit.map(|p| if p <= 0 { -1 } else { p }),
        blkio_weight: r.blkio_weight,
        blkio_weight_device: weight_device,
        read_bps: throttle(&r.blkio_device_read_bps)?,
        write_bps: throttle(&r.blkio_device_write_bps)?,
        read_iops: throttle(&r.blkio_device_read_iops)?,
        write_iops: throttle(&r.blkio_device_write_iops)?,
    })
}

/// `--device`s as the runtime's devices: a device node, or every device
/// under a directory (as Docker maps `/dev/snd`).
pub fn devices(hc: &HostConfig) -> std::result::Result<Vec<Device>, String> {
    let mut out = Vec::new();
    for d in hc.resources.devices.iter().flatten() {
        let host = d.path_on_host.as_str();
        let ctr = if d.path_in_container.is_empty() {
            host
        } else {
            d.path_in_container.as_str()
        };
        let access = if d.cgroup_permissions.is_empty() {
            "rwm"
        } else {
            d.cgroup_permissions.as_str()
        };
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(format!("invalid device mode: {access}"));
        }
        let gather =
            |e: String| format!("error gathering device information while adding custom device \"{host}\": {e}");
        let m = std::fs::metadata(host).map_err(|e| gather(strip_os(&e)))?;
        if m.is_dir() {
            for entry in walkdir::WalkDir::new(host).follow_links(false).into_iter().flatten() {
                let Ok(em) = entry.metadata() else { continue };
                let rel = entry.path().strip_prefix(host).unwrap_or(entry.path());
                let dest = Path::new(ctr).join(rel).display().to_string();
                if let Some(dev) = device_of(&em, dest, access) {
                    out.push(dev);
                }
            }
        } else {
            out.push(device_of(&m, ctr.to_string(), access).ok_or_else(|| gather("not a device node".into()))?);
        }
    }
    Ok(out)
}

fn device_of(m: &std::fs::Metadata, path: String, access: &str) -> Option<Device> {
    let ft = m.file_type();
    let kind = if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else {
        return None;
    };
    Some(Device {
        path,
        kind,
        major: libc::major(m.rdev()) as i64,
        minor: libc::minor(m.rdev()) as i64,
        file_mode: m.mode() & 0o777,
        uid: m.uid(),
        gid: m.gid(),
        access: access.to_string(),
    })
}

/// The capability's bit number (linux/capability.h).
const CAP_SYS_RESOURCE: u32 = 24;

/// Does this process hold CAP_SYS_RESOURCE (needed to raise a hard limit)?
fn can_raise_limits() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}

/// `--ulimit`s as rlimits, refused when the agent could not grant them
/// (a hard limit above its own, without CAP_SYS_RESOURCE).
pub fn rlimits(hc: &HostConfig) -> std::result::Result<Vec<Rlimit>, String> {
    const NAMES: &[(&str, libc::__rlimit_resource_t)] = &[
        ("as", libc::RLIMIT_AS),
        ("core", libc::RLIMIT_CORE),
        ("cpu", libc::RLIMIT_CPU),
        ("data", libc::RLIMIT_DATA),
        ("fsize", libc::RLIMIT_FSIZE),
        ("locks", libc::RLIMIT_LOCKS),
        ("memlock", libc::RLIMIT_MEMLOCK),
        ("msgqueue", libc::RLIMIT_MSGQUEUE),
        ("nice", libc::RLIMIT_NICE),
        ("nofile", libc::RLIMIT_NOFILE),
        ("nproc", libc::RLIMIT_NPROC),
        ("rss", libc::RLIMIT_RSS),
        ("rtprio", libc::RLIMIT_RTPRIO),
        ("rttime", libc::RLIMIT_RTTIME),
        ("sigpending", libc::RLIMIT_SIGPENDING),
        ("stack", libc::RLIMIT_STACK),
    ];
    let mut out = Vec::new();
    let privileged = can_raise_limits();
    for u in hc.resources.ulimits.iter().flatten() {
        let Some((_, res)) = NAMES.iter().find(|(n, _)| *n == u.name) else {
            return Err(format!("invalid ulimit type: {}", u.name));
        };
        if u.soft > u.hard {
            return Err(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            ));
        }
        let as_rlim = |v: i64| if v < 0 { libc::RLIM_INFINITY } else { v as u64 };
        let (hard, soft) = (as_rlim(u.hard), as_rlim(u.soft));
        let mut own = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct we own.
        unsafe { libc::getrlimit(*res, &mut own) };
        if hard > own.rlim_max && !privileged {
            return Err(format!(
                "ulimit {}: hard limit {} is above the agent's own ({}), which it cannot raise without CAP_SYS_RESOURCE",
                u.name, u.hard, own.rlim_max
            ));
        }
        out.push(Rlimit {
            kind: format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
            hard,
            soft,
        });
    }
    Ok(out)
}

/// Sysctls for the spec.
pub fn sysctls(hc: &HostConfig) -> BTreeMap<String, String> {
    hc.sysctls.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> SysInfo {
        SysInfo {
            memory_limit: true,
            swap_limit: true,
            memory_reservation: true,
            oom_kill_disable: true,
            cpu_shares: true,
            cpu_cfs: true,
            cpuset: true,
            pids_limit: true,
            cpus: "0-1".into(),
            mems: "0".into(),
            ..Default::default()
        }
    }

    fn check(r: Resources) -> std::result::Result<Vec<String>, String> {
        let mut r = r;
        verify_resources(&mut r, &host(), false).map_err(|e| e.to_string())
    }

    #[test]
    fn dockers_errors() {
        let e = |r| check(r).unwrap_err();
        assert_eq!(
            e(Resources {
                memory: 4 << 20,
                ..Default::default()
            }),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(
            e(Resources {
                nano_cpus: 500_000_000,
                cpu_quota: 50_000,
                ..Default::default()
            }),
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
        );
        assert_eq!(
            e(Resources {
                cpuset_cpus: "0,7".into(),
                ..Default::default()
            }),
            "Requested CPUs are not available - requested 0,7, available: 0-1"
        );
        assert_eq!(
            e(Resources {
                cpuset_cpus: "x".into(),
                ..Default::default()
            }),
            "Invalid value x for cpuset cpus: invalid format: x"
        );
        assert!(e(Resources {
            nano_cpus: 1_000_000_000_000,
            ..Default::default()
        })
        .starts_with("Range of CPUs is from 0.01 to"));
    }

    #[test]
    fn unsupported_limits_become_warnings() {
        let w = check(Resources {
            blkio_weight: 300,
            kernel_memory: 64 << 20,
            memory_swappiness: Some(10),
            ..Default::default()
        })
        .unwrap();
        assert!(
            w[0].starts_with("Your kernel does not support memory swappiness"),
            "{w:?}"
        );
        assert!(w
            .iter()
            .any(|x| x.starts_with("Specifying a kernel memory limit is deprecated")));
        assert!(w
            .iter()
            .any(|x| x.starts_with("Your kernel does not support Block I/O weight")));
    }

    #[test]
    fn defaults_and_conversion() {
        let mut hc = HostConfig::default();
        hc.resources.memory = 16 << 20;
        hc.resources.nano_cpus = 1_500_000_000;
        hc.resources.pids_limit = Some(-1);
        adapt(&mut hc);
        assert_eq!(hc.resources.memory_swap, 32 << 20);
        assert_eq!((hc.shm_size, hc.resources.oom_kill_disable), (64 << 20, Some(false)));
        assert_eq!(hc.resources.pids_limit, None);
        let l = limits(&hc.resources).unwrap();
        assert_eq!((l.cpu_period, l.cpu_quota), (100_000, 150_000));
        hc.sysctls = Some([("kernel.shmmax".into(), "1".into())].into());
        verify_settings(&hc).unwrap();
        hc.sysctls = Some([("vm.swappiness".into(), "1".into())].into());
        assert_eq!(
            verify_settings(&hc).unwrap_err().to_string(),
            "sysctl \"vm.swappiness\" is not in a separate kernel namespace"
        );
    }
}
