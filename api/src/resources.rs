//! Docker's `container.Resources` (the limits a container runs under,
//! flattened into `HostConfig` and into the body of
//! `POST /containers/{id}/update`), with the zero values Docker shows in
//! `inspect`: lists and pointers that were never given are `null`.

use serde::{Deserialize, Serialize};

use crate::de::null_as_default;

use crate::container::RestartPolicy;

/// `--blkio-weight-device /dev/sda:200`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// `--device-read-bps /dev/sda:1mb` and friends: a rate per second.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// `--device /dev/fuse[:/dev/fuse[:rwm]]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// `--ulimit nofile=1024:2048`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub hard: i64,
    pub soft: i64,
}

/// The limits of `run`/`create` and `update`, named and shaped as Docker's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Resources {
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu_shares: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub memory: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub nano_cpus: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cgroup_parent: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub blkio_weight: u16,
    #[serde(default)]
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    #[serde(default)]
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    #[serde(default)]
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(default, rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(default, rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu_period: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu_quota: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu_realtime_period: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu_realtime_runtime: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpuset_cpus: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpuset_mems: String,
    #[serde(default)]
    pub devices: Option<Vec<DeviceMapping>>,
    #[serde(default)]
    pub device_cgroup_rules: Option<Vec<String>>,
    #[serde(default)]
    pub device_requests: Option<Vec<serde_json::Value>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub kernel_memory: i64,
    #[serde(default, rename = "KernelMemoryTCP", deserialize_with = "null_as_default")]
    pub kernel_memory_tcp: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub memory_reservation: i64,
    /// Memory plus swap; -1 is unlimited swap.
    #[serde(default, deserialize_with = "null_as_default")]
    pub memory_swap: i64,
    #[serde(default)]
    pub memory_swappiness: Option<i64>,
    #[serde(default)]
    pub oom_kill_disable: Option<bool>,
    #[serde(default)]
    pub pids_limit: Option<i64>,
    #[serde(default)]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu_count: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu_percent: i64,
    #[serde(default, rename = "IOMaximumIOps", deserialize_with = "null_as_default")]
    pub io_maximum_iops: u64,
    #[serde(default, rename = "IOMaximumBandwidth", deserialize_with = "null_as_default")]
    pub io_maximum_bandwidth: u64,
}

/// Body of `POST /containers/{id}/update`: resources, and a new restart
/// policy when its name is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UpdateConfig {
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(rename = "RestartPolicy", default)]
    pub restart_policy: RestartPolicy,
}

/// Answer of `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateResponse {
    /// Null when there are none, as Docker.
    #[serde(default)]
    pub warnings: crate::Nil<Vec<String>>,
}

/// IPC-namespace sysctls a container may set (with `fs.mqueue.*`), as
/// Docker's validation lists them.
pub const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_values_are_dockers() {
        let v = serde_json::to_value(Resources::default()).unwrap();
        assert_eq!(v["Memory"], 0);
        assert!(v["PidsLimit"].is_null() && v["Ulimits"].is_null() && v["MemorySwappiness"].is_null());
        assert_eq!(v["CpusetCpus"], "");
        assert!(v.get("BlkioDeviceReadIOps").is_some() && v.get("KernelMemoryTCP").is_some());
        let u: UpdateConfig =
            serde_json::from_str(r#"{"Memory":33554432,"PidsLimit":20,"RestartPolicy":{"Name":"always"}}"#).unwrap();
        assert_eq!((u.resources.memory, u.resources.pids_limit), (32 << 20, Some(20)));
        assert_eq!(u.restart_policy.name, "always");
    }
}
