//! One sample of `GET /containers/{id}/stats`, in Docker's JSON shape, and
//! the numbers `docker stats` derives from it (CPU %, memory without the
//! page cache, network and block totals).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

fn zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub read: String,
    pub preread: String,
    pub pids_stats: PidsStats,
    pub blkio_stats: BlkioStats,
    #[serde(default)]
    pub num_procs: u32,
    #[serde(default)]
    pub storage_stats: serde_json::Value,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PidsStats {
    #[serde(default, skip_serializing_if = "zero")]
    pub current: u64,
    #[serde(default, skip_serializing_if = "zero")]
    pub limit: u64,
}

/// Docker sends `null` for the lists a cgroup version does not have.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
    pub io_serviced_recursive: Option<Vec<BlkioEntry>>,
    pub io_queue_recursive: Option<Vec<BlkioEntry>>,
    pub io_service_time_recursive: Option<Vec<BlkioEntry>>,
    pub io_wait_time_recursive: Option<Vec<BlkioEntry>>,
    pub io_merged_recursive: Option<Vec<BlkioEntry>>,
    pub io_time_recursive: Option<Vec<BlkioEntry>>,
    pub sectors_recursive: Option<Vec<BlkioEntry>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    #[serde(default, skip_serializing_if = "zero")]
    pub system_cpu_usage: u64,
    #[serde(default)]
    pub online_cpus: u32,
    pub throttling_data: Throttling,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CpuUsage {
    pub total_usage: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_usage: Vec<u64>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoryStats {
    #[serde(default, skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "zero")]
    pub max_usage: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "zero")]
    pub failcnt: u64,
    #[serde(default, skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

impl Stats {
    /// CPU use since the previous sample, as a share of one CPU × 100
    /// (so 4 busy CPUs make 400 %), as `docker stats` computes it.
    pub fn cpu_percent(&self) -> f64 {
        let cpu = self.cpu_stats.cpu_usage.total_usage as f64 - self.precpu_stats.cpu_usage.total_usage as f64;
        let sys = self.cpu_stats.system_cpu_usage as f64 - self.precpu_stats.system_cpu_usage as f64;
        let cpus = match self.cpu_stats.online_cpus {
            0 => self.cpu_stats.cpu_usage.percpu_usage.len().max(1) as f64,
            n => n as f64,
        };
        if sys > 0.0 && cpu > 0.0 && self.precpu_stats.system_cpu_usage > 0 {
            cpu / sys * cpus * 100.0
        } else {
            0.0
        }
    }

    /// Memory in use without the inactive page cache (cgroup v1 names it
    /// `total_inactive_file`, v2 `inactive_file`).
    pub fn mem_usage(&self) -> u64 {
        let m = &self.memory_stats;
        let cache = m
            .stats
            .get("total_inactive_file")
            .or_else(|| m.stats.get("inactive_file"))
            .copied()
            .unwrap_or(0);
        if cache < m.usage {
            m.usage - cache
        } else {
            m.usage
        }
    }

    pub fn mem_percent(&self) -> f64 {
        match self.memory_stats.limit {
            0 => 0.0,
            l => self.mem_usage() as f64 / l as f64 * 100.0,
        }
    }

    /// Bytes received and sent on every interface.
    pub fn net_io(&self) -> (u64, u64) {
        self.networks
            .iter()
            .flatten()
            .fold((0, 0), |(rx, tx), (_, n)| (rx + n.rx_bytes, tx + n.tx_bytes))
    }

    /// Bytes read and written on every block device.
    pub fn block_io(&self) -> (u64, u64) {
        let mut rw = (0, 0);
        for e in self.blkio_stats.io_service_bytes_recursive.iter().flatten() {
            match e.op.to_ascii_lowercase().as_str() {
                "read" => rw.0 += e.value,
                "write" => rw.1 += e.value,
                _ => {}
            }
        }
        rw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_scales_by_online_cpus() {
        let mut s = Stats::default();
        s.precpu_stats.cpu_usage.total_usage = 1_000;
        s.precpu_stats.system_cpu_usage = 10_000;
        s.cpu_stats.cpu_usage.total_usage = 2_000;
        s.cpu_stats.system_cpu_usage = 14_000;
        s.cpu_stats.online_cpus = 2;
        assert!((s.cpu_percent() - 50.0).abs() < 1e-9);
        s.precpu_stats.system_cpu_usage = 0;
        assert_eq!(s.cpu_percent(), 0.0);
    }

    #[test]
    fn memory_leaves_out_inactive_cache() {
        let mut s = Stats::default();
        s.memory_stats.usage = 10 << 20;
        s.memory_stats.limit = 100 << 20;
        s.memory_stats.stats.insert("total_inactive_file".into(), 4 << 20);
        assert_eq!(s.mem_usage(), 6 << 20);
        assert!((s.mem_percent() - 6.0).abs() < 1e-9);
    }

    #[test]
    fn block_io_reads_both_cgroup_spellings() {
        let mut s = Stats::default();
        s.blkio_stats.io_service_bytes_recursive = Some(vec![
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 5,
            },
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "write".into(),
                value: 7,
            },
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Total".into(),
                value: 12,
            },
        ]);
        assert_eq!(s.block_io(), (5, 7));
    }
}
