//! A container's cgroup limits once resolved (device paths turned into
//! numbers, `--cpus` into a CFS quota): as the OCI spec's
//! `linux.resources` that libcontainer applies at start, and as the file
//! writes `update` makes on a running container's cgroup, for v1 and v2
//! alike (the same conversions runc makes: v1 memory+swap becomes v2's
//! swap alone, shares become a weight).

use serde_json::{json, Map, Value};

/// A block device and a value (a weight, or a rate per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevValue {
    pub major: u64,
    pub minor: u64,
    pub value: u64,
}

/// Limits in cgroup terms. Zero, `None` and empty mean "not set" (at
/// start) or "unchanged" (at update).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Bytes; -1 unlimited.
    pub memory: i64,
    /// Memory plus swap (v1's meaning), bytes; -1 unlimited.
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub memory_swappiness: Option<u64>,
    pub oom_kill_disable: Option<bool>,
    pub cpu_shares: u64,
    pub cpu_period: u64,
    /// Microseconds per period; -1 unlimited.
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// -1 unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: u16,
    pub blkio_weight_device: Vec<DevValue>,
    pub read_bps: Vec<DevValue>,
    pub write_bps: Vec<DevValue>,
    pub read_iops: Vec<DevValue>,
    pub write_iops: Vec<DevValue>,
}

/// One write to a cgroup file: the v1 controller it belongs to (ignored
/// on v2, where every file is in the one directory), the file, the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
}

fn w(controller: &'static str, file: &'static str, value: impl ToString) -> Write {
    Write {
        controller,
        file,
        value: value.to_string(),
    }
}

/// v1 shares (2..262144, default 1024) as a v2 weight (1..10000, default
/// 100), by the formula runc and crun share.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144) as f64;
    let l = s.log2();
    let exp = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    (10f64.powf(exp).ceil() as u64).clamp(1, 10_000)
}

fn dev_list(devs: &[DevValue], key: &str) -> Value {
    Value::Array(
        devs.iter()
            .map(|d| json!({"major": d.major, "minor": d.minor, key: d.value}))
            .collect(),
    )
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

impl Limits {
    /// `linux.resources` without `devices` (the caller adds the device
    /// rules), in the OCI spec's field names.
    pub fn oci(&self) -> Map<String, Value> {
        let mut r = Map::new();
        let mut mem = Map::new();
        let put = |m: &mut Map<String, Value>, k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        if self.memory != 0 {
            put(&mut mem, "limit", json!(self.memory));
        }
        if self.memory_swap != 0 {
            put(&mut mem, "swap", json!(self.memory_swap));
        }
        if self.memory_reservation != 0 {
            put(&mut mem, "reservation", json!(self.memory_reservation));
        }
        if let Some(s) = self.memory_swappiness {
            put(&mut mem, "swappiness", json!(s));
        }
        if let Some(d) = self.oom_kill_disable {
            put(&mut mem, "disableOOMKiller", json!(d));
        }
        if !mem.is_empty() {
            r.insert("memory".into(), Value::Object(mem));
        }
        let mut cpu = Map::new();
        if self.cpu_shares != 0 {
            put(&mut cpu, "shares", json!(self.cpu_shares));
        }
        if self.cpu_period != 0 {
            put(&mut cpu, "period", json!(self.cpu_period));
        }
        if self.cpu_quota != 0 {
            put(&mut cpu, "quota", json!(self.cpu_quota));
        }
        if !self.cpuset_cpus.is_empty() {
            put(&mut cpu, "cpus", json!(self.cpuset_cpus));
        }
        if !self.cpuset_mems.is_empty() {
            put(&mut cpu, "mems", json!(self.cpuset_mems));
        }
        if !cpu.is_empty() {
            r.insert("cpu".into(), Value::Object(cpu));
        }
        if let Some(p) = self.pids_limit {
            r.insert("pids".into(), json!({ "limit": p }));
        }
        let mut io = Map::new();
        if self.blkio_weight != 0 {
            put(&mut io, "weight", json!(self.blkio_weight));
        }
        for (key, devs, field) in [
            ("weightDevice", &self.blkio_weight_device, "weight"),
            ("throttleReadBpsDevice", &self.read_bps, "rate"),
            ("throttleWriteBpsDevice", &self.write_bps, "rate"),
            ("throttleReadIOPSDevice", &self.read_iops, "rate"),
            ("throttleWriteIOPSDevice", &self.write_iops, "rate"),
        ] {
            if !devs.is_empty() {
                put(&mut io, key, dev_list(devs, field));
            }
        }
        if !io.is_empty() {
            r.insert("blockIO".into(), Value::Object(io));
        }
        r
    }

    /// The writes that put these limits on a live cgroup. `current_memory`
    /// is the v1 memory limit in force: when swap grows past it, the
    /// memory+swap limit goes first, so the kernel never sees memory above
    /// memory+swap.
    pub fn writes(&self, v2: bool, current_memory: i64) -> Vec<Write> {
        if v2 {
            self.writes_v2()
        } else {
            self.writes_v1(current_memory)
        }
    }

    fn writes_v1(&self, current_memory: i64) -> Vec<Write> {
        let mut out = Vec::new();
        let mem = (self.memory != 0).then(|| w("memory", "memory.limit_in_bytes", self.memory));
        let swap = (self.memory_swap != 0).then(|| w("memory", "memory.memsw.limit_in_bytes", self.memory_swap));
        let swap_first = self.memory_swap == -1 || (self.memory_swap > 0 && current_memory < self.memory_swap);
        if swap_first {
            out.extend(swap.into_iter().chain(mem));
        } else {
            out.extend(mem.into_iter().chain(swap));
        }
        if self.memory_reservation != 0 {
            out.push(w("memory", "memory.soft_limit_in_bytes", self.memory_reservation));
        }
        if let Some(s) = self.memory_swappiness {
            out.push(w("memory", "memory.swappiness", s));
        }
        if let Some(d) = self.oom_kill_disable {
            out.push(w("memory", "memory.oom_control", u8::from(d)));
        }
        if self.cpu_shares != 0 {
            out.push(w("cpu", "cpu.shares", self.cpu_shares));
        }
        if self.cpu_period != 0 {
            out.push(w("cpu", "cpu.cfs_period_us", self.cpu_period));
        }
        if self.cpu_quota != 0 {
            out.push(w("cpu", "cpu.cfs_quota_us", self.cpu_quota));
        }
        if !self.cpuset_cpus.is_empty() {
            out.push(w("cpuset", "cpuset.cpus", &self.cpuset_cpus));
        }
        if !self.cpuset_mems.is_empty() {
            out.push(w("cpuset", "cpuset.mems", &self.cpuset_mems));
        }
        if let Some(p) = self.pids_limit {
            out.push(w("pids", "pids.max", max_or(p)));
        }
        if self.blkio_weight != 0 {
            out.push(w("blkio", "blkio.weight", self.blkio_weight));
        }
        for (file, devs) in [
            ("blkio.weight_device", &self.blkio_weight_device),
            ("blkio.throttle.read_bps_device", &self.read_bps),
            ("blkio.throttle.write_bps_device", &self.write_bps),
            ("blkio.throttle.read_iops_device", &self.read_iops),
            ("blkio.throttle.write_iops_device", &self.write_iops),
        ] {
            for d in devs {
                out.push(w("blkio", file, format!("{}:{} {}", d.major, d.minor, d.value)));
            }
        }
        out
    }

    fn writes_v2(&self) -> Vec<Write> {
        let mut out = Vec::new();
        if self.memory != 0 {
            out.push(w("", "memory.max", max_or(self.memory)));
        }
        // v2 limits swap alone: memory+swap less memory.
        if self.memory_swap == -1 {
            out.push(w("", "memory.swap.max", "max"));
        } else if self.memory_swap > 0 && self.memory > 0 {
            out.push(w("", "memory.swap.max", (self.memory_swap - self.memory).max(0)));
        }
        if self.memory_reservation != 0 {
            out.push(w("", "memory.low", max_or(self.memory_reservation)));
        }
        if self.cpu_shares != 0 {
            out.push(w("", "cpu.weight", shares_to_weight(self.cpu_shares)));
        }
        if self.cpu_period != 0 || self.cpu_quota != 0 {
            let period = if self.cpu_period == 0 { 100_000 } else { self.cpu_period };
            let quota = if self.cpu_quota > 0 {
                self.cpu_quota.to_string()
            } else {
                "max".into()
            };
            out.push(w("", "cpu.max", format!("{quota} {period}")));
        }
        if !self.cpuset_cpus.is_empty() {
            out.push(w("", "cpuset.cpus", &self.cpuset_cpus));
        }
        if !self.cpuset_mems.is_empty() {
            out.push(w("", "cpuset.mems", &self.cpuset_mems));
        }
        if let Some(p) = self.pids_limit {
            out.push(w("", "pids.max", max_or(p)));
        }
        if self.blkio_weight != 0 {
            out.push(w("", "io.weight", format!("default {}", self.blkio_weight)));
        }
        for d in &self.blkio_weight_device {
            out.push(w("", "io.weight", format!("{}:{} {}", d.major, d.minor, d.value)));
        }
        for (key, devs) in [
            ("rbps", &self.read_bps),
            ("wbps", &self.write_bps),
            ("riops", &self.read_iops),
            ("wiops", &self.write_iops),
        ] {
            for d in devs {
                out.push(w("", "io.max", format!("{}:{} {key}={}", d.major, d.minor, d.value)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Limits {
        Limits {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            memory_reservation: 32 << 20,
            cpu_shares: 512,
            cpu_period: 100_000,
            cpu_quota: 50_000,
            cpuset_cpus: "0".into(),
            pids_limit: Some(20),
            read_bps: vec![DevValue {
                major: 8,
                minor: 0,
                value: 1 << 20,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn oci_resources_use_the_spec_names() {
        let r = Value::Object(sample().oci());
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["memory"]["swap"], 128 << 20);
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(r["pids"]["limit"], 20);
        assert_eq!(r["blockIO"]["throttleReadBpsDevice"][0]["rate"], 1 << 20);
        let spec: oci_spec::runtime::LinuxResources = serde_json::from_value(r).unwrap();
        assert_eq!(spec.memory().as_ref().unwrap().swap(), Some(128 << 20));
        assert!(Limits::default().oci().is_empty());
    }

    #[test]
    fn v1_writes_raise_swap_before_memory() {
        let ws = sample().writes(false, 16 << 20);
        let files: Vec<&str> = ws.iter().map(|w| w.file).collect();
        assert_eq!(&files[..2], ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]);
        // Lowering both: memory first.
        let ws = sample().writes(false, i64::MAX);
        assert_eq!(ws[0].file, "memory.limit_in_bytes");
        let pids = ws.iter().find(|w| w.file == "pids.max").unwrap();
        assert_eq!((pids.controller, pids.value.as_str()), ("pids", "20"));
        let bps = ws.iter().find(|w| w.file == "blkio.throttle.read_bps_device").unwrap();
        assert_eq!(bps.value, "8:0 1048576");
    }

    #[test]
    fn v2_writes_convert_swap_shares_and_quota() {
        let ws = sample().writes(true, 0);
        let get = |f: &str| ws.iter().find(|w| w.file == f).map(|w| w.value.clone()).unwrap();
        assert_eq!(get("memory.max"), (64u64 << 20).to_string());
        assert_eq!(get("memory.swap.max"), (64u64 << 20).to_string());
        assert_eq!(get("memory.low"), (32u64 << 20).to_string());
        assert_eq!(get("cpu.max"), "50000 100000");
        assert_eq!(get("cpu.weight"), "59");
        assert_eq!(get("io.max"), "8:0 rbps=1048576");
        let unlimited = Limits {
            pids_limit: Some(-1),
            memory_swap: -1,
            ..Default::default()
        };
        let ws = unlimited.writes(true, 0);
        assert!(ws.iter().all(|w| w.value == "max"), "{ws:?}");
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}
