//! A container's cgroup, on cgroup v1 (one directory per controller, as on
//! this machine's hybrid layout) and v2 (one directory): its processes,
//! killing and removing it, freezing, and the figures `stats` reports
//! (CPU, memory, pids, block I/O) in Docker's shape. libcontainer creates
//! it from the OCI spec; the engine reads and tends it through here.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use skiff_api::stats::{BlkioEntry, BlkioStats, CpuStats, MemoryStats, PidsStats};

use super::limits::Limits;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The directories of the host's cgroup v1 hierarchies under
/// `/sys/fs/cgroup` (`cpu`, `memory`, `systemd`, …), from the mount table;
/// none on a pure v2 host. A container's spec marks each read-only.
pub fn v1_hierarchies() -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    v1_hierarchies_in(&table)
}

fn v1_hierarchies_in(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split_whitespace().next()? == "cgroup").then_some(())?;
            let point = left.split_whitespace().nth(4)?;
            let name = point.strip_prefix("/sys/fs/cgroup/")?;
            (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
        })
        .collect()
}

/// The host's memory in bytes (`MemTotal`).
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat).
fn read_keyed(p: &Path) -> BTreeMap<String, u64> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |t| t.max(1) as u64)
}

/// The host's CPU time in nanoseconds (all CPUs, idle included) and the
/// number of online CPUs, from `/proc/stat`.
fn system_cpu() -> (u64, u32) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ns_per_tick = 1_000_000_000 / clock_ticks();
    let total = stat
        .lines()
        .next()
        .filter(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
        })
        .unwrap_or(0);
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    (total * ns_per_tick, cpus as u32)
}

/// One container's cgroup: its directories, its processes, freezing, and
/// where each kind of figure lives.
pub struct Cgroup {
    /// The cgroup filesystem (`/sys/fs/cgroup`; a directory in tests).
    root: PathBuf,
    v2: bool,
    rel: String,
}

impl Cgroup {
    /// The cgroup at `rel` (`/PARENT/ID`, as the OCI spec's cgroupsPath).
    pub fn new(v2: bool, rel: String) -> Self {
        Self::at(Path::new(CGROUP_ROOT), v2, rel)
    }

    /// The same under another cgroup filesystem root.
    pub fn at(root: &Path, v2: bool, rel: String) -> Self {
        Self {
            root: root.to_path_buf(),
            v2,
            rel,
        }
    }

    /// Its directories: one per mounted v1 controller, or the v2 one.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let rel = self.rel.trim_start_matches('/');
        if self.v2 {
            return vec![self.root.join(rel)];
        }
        std::fs::read_dir(&self.root)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path().join(rel))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Kill whatever is left in it and remove it, so a failed start or a
    /// lost supervisor strands no process.
    pub fn kill_and_remove(&self) {
        for dir in self.dirs() {
            for _ in 0..50 {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill(2) has no memory arguments.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// The PIDs of its processes.
    pub fn procs(&self) -> Vec<i32> {
        std::fs::read_to_string(self.dir(&["pids"]).join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Freeze or thaw it (v1: the freezer waits until FROZEN).
    pub fn freeze(&self, frozen: bool) -> io::Result<()> {
        let (file, value) = if self.v2 {
            (self.dir(&[]).join("cgroup.freeze"), if frozen { "1" } else { "0" })
        } else {
            (
                self.dir(&["freezer"]).join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            )
        };
        std::fs::write(&file, value).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        if frozen && !self.v2 {
            while std::fs::read_to_string(&file)
                .map(|s| s.trim() != "FROZEN")
                .unwrap_or(false)
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
                let _ = std::fs::write(&file, value);
            }
        }
        Ok(())
    }

    /// Put limits on the live cgroup, one file at a time in the order
    /// given; the first refusal stops it (with the file and the kernel's
    /// reason).
    pub fn apply(&self, limits: &Limits) -> io::Result<()> {
        let current = if self.v2 {
            0
        } else {
            read_u64(&self.dir(&["memory"]).join("memory.limit_in_bytes"))
                .map_or(i64::MAX, |v| v.min(i64::MAX as u64) as i64)
        };
        for w in limits.writes(self.v2, current) {
            let dir = if self.v2 {
                self.dir(&[])
            } else {
                self.dir(v1_names(w.controller))
            };
            let file = dir.join(w.file);
            std::fs::write(&file, &w.value)
                .map_err(|e| io::Error::new(e.kind(), format!("writing {} to {}: {e}", w.value, file.display())))?;
        }
        Ok(())
    }

    /// How many times the kernel's OOM killer killed a process of this
    /// cgroup (v2 `memory.events`, v1 `memory.oom_control`'s `oom_kill`;
    /// kernels before 4.13 only say `under_oom`). Read it before the
    /// cgroup is removed.
    pub fn oom_kills(&self) -> u64 {
        let dir = self.dir(&["memory"]);
        if self.v2 {
            return read_keyed(&dir.join("memory.events"))
                .get("oom_kill")
                .copied()
                .unwrap_or(0);
        }
        let ctl = read_keyed(&dir.join("memory.oom_control"));
        ctl.get("oom_kill")
            .copied()
            .unwrap_or_else(|| ctl.get("under_oom").copied().unwrap_or(0))
    }

    /// The directory of a v1 controller (any of the names it may be
    /// mounted under), or the v2 directory.
    fn dir(&self, controllers: &[&str]) -> PathBuf {
        let rel = self.rel.trim_start_matches('/');
        if self.v2 {
            return self.root.join(rel);
        }
        controllers
            .iter()
            .map(|c| self.root.join(c).join(rel))
            .find(|p| p.is_dir())
            .unwrap_or_else(|| self.root.join(controllers[0]).join(rel))
    }

    pub fn cpu(&self) -> CpuStats {
        let mut s = CpuStats::default();
        let (system, cpus) = system_cpu();
        s.system_cpu_usage = system;
        s.online_cpus = cpus;
        let u = &mut s.cpu_usage;
        if self.v2 {
            let st = read_keyed(&self.dir(&[]).join("cpu.stat"));
            let us = |k: &str| st.get(k).copied().unwrap_or(0) * 1000;
            u.total_usage = us("usage_usec");
            u.usage_in_usermode = us("user_usec");
            u.usage_in_kernelmode = us("system_usec");
            s.throttling_data.periods = st.get("nr_periods").copied().unwrap_or(0);
            s.throttling_data.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
            s.throttling_data.throttled_time = us("throttled_usec");
            return s;
        }
        let acct = self.dir(&["cpuacct", "cpu,cpuacct", "cpuacct,cpu"]);
        u.total_usage = read_u64(&acct.join("cpuacct.usage")).unwrap_or(0);
        u.percpu_usage = std::fs::read_to_string(acct.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let ticks = read_keyed(&acct.join("cpuacct.stat"));
        let ns = 1_000_000_000 / clock_ticks();
        u.usage_in_usermode = ticks.get("user").copied().unwrap_or(0) * ns;
        u.usage_in_kernelmode = ticks.get("system").copied().unwrap_or(0) * ns;
        let st = read_keyed(&self.dir(&["cpu", "cpu,cpuacct", "cpuacct,cpu"]).join("cpu.stat"));
        s.throttling_data.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.throttling_data.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.throttling_data.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
        s
    }

    /// Memory; with no limit of its own the host's memory is the limit,
    /// as Docker reports it.
    pub fn memory(&self) -> MemoryStats {
        let dir = self.dir(&["memory"]);
        let (usage, limit, max_usage, failcnt) = if self.v2 {
            (
                read_u64(&dir.join("memory.current")),
                read_u64(&dir.join("memory.max")),
                None,
                None,
            )
        } else {
            (
                read_u64(&dir.join("memory.usage_in_bytes")),
                read_u64(&dir.join("memory.limit_in_bytes")),
                read_u64(&dir.join("memory.max_usage_in_bytes")),
                read_u64(&dir.join("memory.failcnt")),
            )
        };
        let host = host_memory();
        let mut stats = read_keyed(&dir.join("memory.stat"));
        if !self.v2 {
            stats.retain(|k, _| V1_MEMORY_KEYS.contains(&k.trim_start_matches("total_")));
        }
        MemoryStats {
            usage: usage.unwrap_or(0),
            max_usage: max_usage.unwrap_or(0),
            stats,
            failcnt: failcnt.unwrap_or(0),
            limit: limit.filter(|l| *l < host).unwrap_or(host),
        }
    }

    pub fn pids(&self) -> PidsStats {
        let dir = self.dir(&["pids"]);
        PidsStats {
            current: read_u64(&dir.join("pids.current")).unwrap_or(0),
            limit: read_u64(&dir.join("pids.max")).unwrap_or(0),
        }
    }

    pub fn blkio(&self) -> BlkioStats {
        if self.v2 {
            return io_stat(&std::fs::read_to_string(self.dir(&[]).join("io.stat")).unwrap_or_default());
        }
        let dir = self.dir(&["blkio"]);
        let read = |f: &str| {
            let text = std::fs::read_to_string(dir.join(format!("{f}_recursive")))
                .or_else(|_| std::fs::read_to_string(dir.join(f)))
                .unwrap_or_default();
            Some(blkio_v1(&text))
        };
        // As Docker on v1: every list, empty where the kernel keeps no
        // such file (the CFQ ones went with CFQ).
        BlkioStats {
            io_service_bytes_recursive: read("blkio.throttle.io_service_bytes"),
            io_serviced_recursive: read("blkio.throttle.io_serviced"),
            io_queue_recursive: read("blkio.io_queued"),
            io_service_time_recursive: read("blkio.io_service_time"),
            io_wait_time_recursive: read("blkio.io_wait_time"),
            io_merged_recursive: read("blkio.io_merged"),
            io_time_recursive: read("blkio.time"),
            sectors_recursive: read("blkio.sectors"),
        }
    }
}

/// The memory.stat keys Docker reports on cgroup v1 (each also as
/// `total_…`, and the two hierarchical limits).
const V1_MEMORY_KEYS: &[&str] = &[
    "cache",
    "rss",
    "rss_huge",
    "mapped_file",
    "dirty",
    "writeback",
    "pgpgin",
    "pgpgout",
    "pgfault",
    "pgmajfault",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
];

/// The names a v1 controller may be mounted under.
fn v1_names(controller: &str) -> &'static [&'static str] {
    match controller {
        "cpu" => &["cpu", "cpu,cpuacct", "cpuacct,cpu"],
        "memory" => &["memory"],
        "cpuset" => &["cpuset"],
        "pids" => &["pids"],
        "blkio" => &["blkio"],
        _ => &["unknown"],
    }
}

/// v1 blkio lines: `8:0 Read 4096`; the `Total` lines are left out.
fn blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (maj, min) = f.next()?.split_once(':')?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: f.next()?.to_string(),
                value: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 …`, as Docker maps
/// it (lower-case ops).
fn io_stat(text: &str) -> BlkioStats {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else { continue };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "read"),
                "wbytes" => (&mut bytes, "write"),
                "rios" => (&mut ios, "read"),
                "wios" => (&mut ios, "write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    BlkioStats {
        io_service_bytes_recursive: Some(bytes),
        io_serviced_recursive: Some(ios),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_hierarchies_come_from_the_mount_table() {
        let t = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:9 - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        assert_eq!(v1_hierarchies_in(t), ["cpu,cpuacct", "systemd"]);
        assert!(v1_hierarchies_in("30 1 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n").is_empty());
    }

    fn tmp() -> PathBuf {
        let p = std::env::temp_dir().join(format!("skiff-cg-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn seed(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (f, v) in files {
            std::fs::write(dir.join(f), v).unwrap();
        }
    }

    fn limits() -> Limits {
        Limits {
            memory: 32 << 20,
            memory_swap: 64 << 20,
            cpu_period: 100_000,
            cpu_quota: 50_000,
            pids_limit: Some(20),
            ..Default::default()
        }
    }

    #[test]
    fn apply_on_the_v1_layout() {
        let root = tmp();
        let rel = "skiff/abc";
        seed(
            &root.join("memory").join(rel),
            &[
                ("memory.limit_in_bytes", "16777216\n"),
                ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            ],
        );
        seed(&root.join("cpu,cpuacct").join(rel), &[]);
        seed(&root.join("pids").join(rel), &[]);
        let cg = Cgroup::at(&root, false, format!("/{rel}"));
        cg.apply(&limits()).unwrap();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(
            read("memory/skiff/abc/memory.limit_in_bytes"),
            (32u64 << 20).to_string()
        );
        assert_eq!(
            read("memory/skiff/abc/memory.memsw.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        assert_eq!(read("cpu,cpuacct/skiff/abc/cpu.cfs_quota_us"), "50000");
        assert_eq!(read("pids/skiff/abc/pids.max"), "20");
        assert_eq!(cg.oom_kills(), 2);
        // A controller that is not there: the error names the file.
        let err = cg
            .apply(&Limits {
                blkio_weight: 500,
                ..Default::default()
            })
            .unwrap_err();
        assert!(err.to_string().contains("blkio.weight"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn apply_on_the_v2_layout() {
        let root = tmp();
        let rel = "skiff/abc";
        seed(
            &root.join(rel),
            &[("memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n")],
        );
        let cg = Cgroup::at(&root, true, format!("/{rel}"));
        cg.apply(&limits()).unwrap();
        let read = |f: &str| std::fs::read_to_string(root.join(rel).join(f)).unwrap();
        assert_eq!(read("memory.max"), (32u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), (32u64 << 20).to_string());
        assert_eq!(read("cpu.max"), "50000 100000");
        assert_eq!(read("pids.max"), "20");
        assert_eq!(cg.oom_kills(), 1);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn blkio_lines_of_both_versions() {
        let v1 = blkio_v1("8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n");
        assert_eq!(v1.len(), 3);
        assert_eq!((v1[1].op.as_str(), v1[1].value), ("Write", 8192));
        let v2 = io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        let b = v2.io_service_bytes_recursive.unwrap();
        assert_eq!((b[0].op.as_str(), b[0].value, b[1].value), ("read", 10, 20));
        assert_eq!(v2.io_serviced_recursive.unwrap()[1].value, 2);
    }
}
