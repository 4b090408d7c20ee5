//! What a container uses, read from its cgroup (`runtime::cgroups`) and its
//! network namespace's `/proc/<pid>/net/dev`, in the shape of Docker's
//! stats.

use std::collections::BTreeMap;

use skiff_api::stats::{NetworkStats, Stats};

use super::{Ctr, Engine};

/// Every interface but loopback, from a namespace's `/proc/net/dev`.
fn net_dev(text: &str) -> BTreeMap<String, NetworkStats> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            let v: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            if name == "lo" || v.len() < 12 {
                return None;
            }
            Some((
                name.to_string(),
                NetworkStats {
                    rx_bytes: v[0],
                    rx_packets: v[1],
                    rx_errors: v[2],
                    rx_dropped: v[3],
                    tx_bytes: v[8],
                    tx_packets: v[9],
                    tx_errors: v[10],
                    tx_dropped: v[11],
                },
            ))
        })
        .collect()
}

impl Engine {
    /// One sample of what the container uses now; a container that is not
    /// running has only zeros, as in Docker.
    pub fn sample(&self, c: &Ctr) -> Stats {
        let mut s = Stats {
            id: c.id.clone(),
            name: format!("/{}", c.name()),
            read: "0001-01-01T00:00:00Z".into(),
            preread: "0001-01-01T00:00:00Z".into(),
            storage_stats: serde_json::json!({}),
            ..Default::default()
        };
        if !c.is_running() {
            return s;
        }
        s.read = crate::ids::now();
        let cg = self.cgroup(&c.id);
        s.cpu_stats = cg.cpu();
        s.memory_stats = cg.memory();
        s.pids_stats = cg.pids();
        s.blkio_stats = cg.blkio();
        let host_net = c.record().inspect.host_config.network_mode == "host";
        if !host_net {
            if let Some(pid) = self.pids(c).first() {
                let nets = net_dev(&std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default());
                s.networks = (!nets.is_empty()).then_some(nets);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_skips_loopback_and_headers() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  eth0:    1500      10    1    2    0     0          0         0      700       5    3    4    0     0       0          0\n";
        let n = net_dev(text);
        assert_eq!(n.len(), 1);
        let e = &n["eth0"];
        assert_eq!((e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped), (1500, 10, 1, 2));
        assert_eq!((e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped), (700, 5, 3, 4));
    }
}
