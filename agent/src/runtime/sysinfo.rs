//! What this host's cgroups can really limit, found the way Docker's
//! `sysinfo` finds it: on v1 the files each controller's mount offers, on
//! v2 the controllers the root enables. `/info` reports it, and `create`
//! and `update` discard (with Docker's warnings) what it cannot do.

use std::collections::BTreeSet;
use std::path::Path;

/// The limits the host supports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SysInfo {
    pub cgroup_v2: bool,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub memory_reservation: bool,
    pub memory_swappiness: bool,
    pub oom_kill_disable: bool,
    /// `kmem.limit_in_bytes`: deprecated by the kernel, a no-op from 6.1.
    pub kernel_memory: bool,
    pub kernel_memory_tcp: bool,
    pub cpu_shares: bool,
    pub cpu_cfs: bool,
    pub cpuset: bool,
    pub pids_limit: bool,
    pub blkio_weight: bool,
    pub blkio_weight_device: bool,
    pub blkio_read_bps: bool,
    pub blkio_write_bps: bool,
    pub blkio_read_iops: bool,
    pub blkio_write_iops: bool,
    /// The CPUs and memory nodes containers may use (`0-1`, `0`).
    pub cpus: String,
    pub mems: String,
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default().trim().to_string()
}

/// The running kernel's major and minor version.
fn kernel_version() -> (u32, u32) {
    let rel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut it = rel.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

impl SysInfo {
    /// The host's, under `/sys/fs/cgroup`.
    pub fn detect(v2: bool) -> Self {
        Self::probe(Path::new("/sys/fs/cgroup"), v2, kernel_version())
    }

    /// What the cgroup tree at `root` offers (v1: one directory per
    /// controller; v2: the unified tree).
    pub fn probe(root: &Path, v2: bool, kernel: (u32, u32)) -> Self {
        if v2 {
            return Self::probe_v2(root);
        }
        let ctrl = |names: &[&str]| names.iter().map(|n| root.join(n)).find(|p| p.is_dir());
        let has = |names: &[&str], file: &str| ctrl(names).is_some_and(|d| d.join(file).exists());
        let mem = ["memory"];
        let cpu = ["cpu", "cpu,cpuacct", "cpuacct,cpu"];
        let blkio = ["blkio"];
        let cpuset = ctrl(&["cpuset"]);
        Self {
            cgroup_v2: false,
            memory_limit: ctrl(&mem).is_some(),
            swap_limit: has(&mem, "memory.memsw.limit_in_bytes"),
            memory_reservation: has(&mem, "memory.soft_limit_in_bytes"),
            memory_swappiness: has(&mem, "memory.swappiness"),
            oom_kill_disable: has(&mem, "memory.oom_control"),
            kernel_memory: has(&mem, "memory.kmem.limit_in_bytes") && kernel < (6, 1),
            kernel_memory_tcp: has(&mem, "memory.kmem.tcp.limit_in_bytes"),
            cpu_shares: has(&cpu, "cpu.shares"),
            cpu_cfs: has(&cpu, "cpu.cfs_quota_us") && has(&cpu, "cpu.cfs_period_us"),
            cpuset: cpuset.is_some(),
            pids_limit: ctrl(&["pids"]).is_some(),
            blkio_weight: has(&blkio, "blkio.weight") || has(&blkio, "blkio.bfq.weight"),
            blkio_weight_device: has(&blkio, "blkio.weight_device") || has(&blkio, "blkio.bfq.weight_device"),
            blkio_read_bps: has(&blkio, "blkio.throttle.read_bps_device"),
            blkio_write_bps: has(&blkio, "blkio.throttle.write_bps_device"),
            blkio_read_iops: has(&blkio, "blkio.throttle.read_iops_device"),
            blkio_write_iops: has(&blkio, "blkio.throttle.write_iops_device"),
            cpus: cpuset
                .as_ref()
                .map(|d| read_trim(&d.join("cpuset.cpus")))
                .unwrap_or_default(),
            mems: cpuset
                .as_ref()
                .map(|d| read_trim(&d.join("cpuset.mems")))
                .unwrap_or_default(),
        }
    }

    fn probe_v2(root: &Path) -> Self {
        let ctrls: BTreeSet<String> = read_trim(&root.join("cgroup.controllers"))
            .split_whitespace()
            .map(String::from)
            .collect();
        let on = |c: &str| ctrls.contains(c);
        // Swap accounting shows as memory.swap.max in every non-root group.
        let swap = on("memory")
            && std::fs::read_dir(root)
                .map(|rd| rd.flatten().any(|e| e.path().join("memory.swap.max").exists()))
                .unwrap_or(false);
        let io = on("io");
        Self {
            cgroup_v2: true,
            memory_limit: on("memory"),
            swap_limit: swap,
            memory_reservation: on("memory"),
            cpu_shares: on("cpu"),
            cpu_cfs: on("cpu"),
            cpuset: on("cpuset"),
            pids_limit: on("pids"),
            blkio_weight: io,
            blkio_weight_device: io,
            blkio_read_bps: io,
            blkio_write_bps: io,
            blkio_read_iops: io,
            blkio_write_iops: io,
            cpus: if on("cpuset") {
                read_trim(&root.join("cpuset.cpus.effective"))
            } else {
                String::new()
            },
            mems: if on("cpuset") {
                read_trim(&root.join("cpuset.mems.effective"))
            } else {
                String::new()
            },
            ..Default::default()
        }
    }

    /// Docker's `info` warnings for what is missing.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let mut miss = |ok: bool, what: &str| {
            if !ok {
                w.push(format!("WARNING: No {what} support"));
            }
        };
        miss(self.memory_limit, "memory limit");
        miss(self.swap_limit, "swap limit");
        if !self.cgroup_v2 {
            miss(self.kernel_memory_tcp, "kernel memory TCP limit");
            miss(self.oom_kill_disable, "oom kill disable");
        }
        miss(self.cpu_cfs, "cpu cfs quota");
        miss(self.cpu_cfs, "cpu cfs period");
        miss(self.cpu_shares, "cpu shares");
        miss(self.cpuset, "cpuset");
        if self.cgroup_v2 {
            miss(self.blkio_weight, "io.weight");
            miss(self.blkio_weight_device, "io.weight (per device)");
            miss(self.blkio_read_bps, "io.max (rbps)");
            miss(self.blkio_write_bps, "io.max (wbps)");
            miss(self.blkio_read_iops, "io.max (riops)");
            miss(self.blkio_write_iops, "io.max (wiops)");
        } else {
            // Docker lists no blkio weight warning on cgroup v1.
            miss(self.blkio_read_bps, "blkio throttle.read_bps_device");
            miss(self.blkio_write_bps, "blkio throttle.write_bps_device");
            miss(self.blkio_read_iops, "blkio throttle.read_iops_device");
            miss(self.blkio_write_iops, "blkio throttle.write_iops_device");
        }
        w
    }
}

/// A cpuset list (`0-3,5`) as numbers; Docker's parser refuses empty
/// parts, reversed ranges and anything but digits.
pub fn parse_list(s: &str) -> Result<BTreeSet<u32>, String> {
    let mut out = BTreeSet::new();
    if s.is_empty() {
        return Ok(out);
    }
    let bad = || format!("invalid format: {s}");
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let num = |x: &str| {
            if x.is_empty() || !x.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            x.parse::<u32>().map_err(|_| bad())
        };
        let (a, b) = (num(a)?, num(b)?);
        if b < a || b - a > 65_536 {
            return Err(bad());
        }
        out.extend(a..=b);
    }
    Ok(out)
}

/// Whether every CPU or node in `requested` is in `available`.
pub fn subset_of(requested: &str, available: &str) -> Result<bool, String> {
    let req = parse_list(requested)?;
    let avail = parse_list(available).unwrap_or_default();
    Ok(req.is_subset(&avail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!(
            "skiff-sysinfo-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn v1_files_decide_what_is_claimed() {
        let t = tmp();
        for (dir, files) in [
            (
                "memory",
                &[
                    "memory.memsw.limit_in_bytes",
                    "memory.oom_control",
                    "memory.kmem.limit_in_bytes",
                ][..],
            ),
            ("cpu", &["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"][..]),
            ("cpuset", &["cpuset.cpus", "cpuset.mems"][..]),
            ("blkio", &["blkio.throttle.read_bps_device"][..]),
        ] {
            std::fs::create_dir_all(t.join(dir)).unwrap();
            for f in files {
                std::fs::write(t.join(dir).join(f), "0-1\n").unwrap();
            }
        }
        let s = SysInfo::probe(&t, false, (6, 18));
        assert!(s.memory_limit && s.swap_limit && s.oom_kill_disable && s.cpu_cfs && s.cpu_shares);
        assert!(!s.kernel_memory && !s.memory_swappiness && !s.pids_limit && !s.blkio_weight);
        assert!(s.blkio_read_bps && !s.blkio_write_bps);
        assert_eq!(s.cpus, "0-1");
        assert!(SysInfo::probe(&t, false, (5, 10)).kernel_memory);
        let w = s.warnings();
        assert!(w.contains(&"WARNING: No blkio throttle.write_bps_device support".to_string()));
        assert!(!w.iter().any(|l| l.contains("weight")), "{w:?}");
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn v2_controllers_decide_what_is_claimed() {
        let t = tmp();
        std::fs::write(t.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        std::fs::write(t.join("cpuset.cpus.effective"), "0-3\n").unwrap();
        std::fs::create_dir_all(t.join("system.slice")).unwrap();
        std::fs::write(t.join("system.slice/memory.swap.max"), "max\n").unwrap();
        let s = SysInfo::probe(&t, true, (6, 18));
        assert!(s.memory_limit && s.swap_limit && s.cpu_cfs && s.pids_limit && s.blkio_weight);
        assert!(!s.oom_kill_disable && !s.memory_swappiness && !s.kernel_memory);
        assert_eq!(s.cpus, "0-3");
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn cpuset_lists() {
        assert_eq!(
            parse_list("0-2,5").unwrap().into_iter().collect::<Vec<_>>(),
            [0, 1, 2, 5]
        );
        assert!(parse_list("1-").is_err() && parse_list("a").is_err() && parse_list("3-1").is_err());
        assert!(subset_of("1", "0-1").unwrap());
        assert!(!subset_of("0,2", "0-1").unwrap());
    }
}
