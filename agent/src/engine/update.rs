//! `POST /containers/{id}/update`: new limits (and restart policy) for a
//! container. The record takes them, so `inspect` and every later start
//! use them; a running container's cgroup takes them at once through
//! `runtime::cgroups` (v1 and v2 alike). Docker's rules decide what may
//! change and with which message.

use skiff_api::{HostConfig, Resources, RestartPolicy, UpdateConfig};

use super::limits::{self, sysinfo};
use super::{Engine, EngineError, Result};
use crate::runtime::limits::Limits;

/// The host config after an update, by Docker's `UpdateContainer`: only
/// what was given changes; CPU quota set one way (`--cpus`) cannot be
/// changed the other (`--cpu-quota`).
pub fn merge(
    current: &HostConfig,
    asked: &Resources,
    policy: &RestartPolicy,
) -> std::result::Result<HostConfig, String> {
    let mut hc = current.clone();
    let cur = &current.resources;
    if asked.nano_cpus > 0 && cur.cpu_period > 0 {
        return Err("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set".into());
    }
    if asked.nano_cpus > 0 && cur.cpu_quota > 0 {
        return Err("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set".into());
    }
    if asked.cpu_period > 0 && cur.nano_cpus > 0 {
        return Err("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set".into());
    }
    if asked.cpu_quota > 0 && cur.nano_cpus > 0 {
        return Err("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set".into());
    }
    let r = &mut hc.resources;
    if asked.blkio_weight != 0 {
        r.blkio_weight = asked.blkio_weight;
    }
    if asked.cpu_shares != 0 {
        r.cpu_shares = asked.cpu_shares;
    }
    if asked.nano_cpus != 0 {
        r.nano_cpus = asked.nano_cpus;
    }
    if asked.cpu_period != 0 {
        r.cpu_period = asked.cpu_period;
    }
    if asked.cpu_quota != 0 {
        r.cpu_quota = asked.cpu_quota;
    }
    if !asked.cpuset_cpus.is_empty() {
        r.cpuset_cpus = asked.cpuset_cpus.clone();
    }
    if !asked.cpuset_mems.is_empty() {
        r.cpuset_mems = asked.cpuset_mems.clone();
    }
    if asked.memory != 0 {
        if asked.memory > cur.memory_swap && asked.memory_swap == 0 {
            return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into());
        }
        r.memory = asked.memory;
    }
    if asked.memory_swap != 0 {
        r.memory_swap = asked.memory_swap;
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err("Minimum memoryswap limit should be larger than memory limit, see usage".into());
    }
    if asked.memory_reservation != 0 {
        r.memory_reservation = asked.memory_reservation;
    }
    if asked.kernel_memory != 0 {
        r.kernel_memory = asked.kernel_memory;
    }
    if let Some(p) = asked.pids_limit {
        // 0 and -1 both lift the limit.
        r.pids_limit = (p > 0).then_some(p);
    }
    if !policy.name.is_empty() {
        if current.auto_remove && policy.name != "no" {
            return Err("Restart policy cannot be updated because AutoRemove is enabled for the container".into());
        }
        hc.restart_policy = policy.clone();
    }
    Ok(hc)
}

/// What a running container's cgroup must be told: the groups of limits
/// the update touched, at their merged values (memory and swap together,
/// period and quota together, as v2 writes them as one).
pub fn delta(merged: &Resources, asked: &Resources) -> std::result::Result<Limits, String> {
    let full = limits::limits(merged)?;
    let mut d = Limits::default();
    if asked.memory != 0 || asked.memory_swap != 0 {
        d.memory = full.memory;
        d.memory_swap = full.memory_swap;
    }
    if asked.memory_reservation != 0 {
        d.memory_reservation = full.memory_reservation;
    }
    if asked.cpu_shares != 0 {
        d.cpu_shares = full.cpu_shares;
    }
    if asked.nano_cpus != 0 || asked.cpu_period != 0 || asked.cpu_quota != 0 {
        d.cpu_period = full.cpu_period;
        d.cpu_quota = if full.cpu_quota == 0 { -1 } else { full.cpu_quota };
    }
    if !asked.cpuset_cpus.is_empty() {
        d.cpuset_cpus = full.cpuset_cpus;
    }
    if !asked.cpuset_mems.is_empty() {
        d.cpuset_mems = full.cpuset_mems;
    }
    if asked.pids_limit.is_some() {
        d.pids_limit = Some(full.pids_limit.unwrap_or(-1));
    }
    if asked.blkio_weight != 0 {
        d.blkio_weight = full.blkio_weight;
    }
    Ok(d)
}

fn validate_policy(p: &RestartPolicy) -> Result<()> {
    match p.name.as_str() {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => Ok(()),
        other => Err(EngineError::BadRequest(format!("invalid restart policy '{other}'"))),
    }
}

impl Engine {
    /// `POST /containers/{id}/update`: Docker's warnings, or its error.
    pub async fn update(&self, key: &str, upd: UpdateConfig) -> Result<Vec<String>> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        validate_policy(&upd.restart_policy)?;
        let mut asked = upd.resources.clone();
        let warnings = limits::verify_resources(&mut asked, sysinfo(self.cgroup_v2), true)?;
        let cannot = |m: String| EngineError::BadRequest(format!("Cannot update container {}: {m}", c.id));
        let current = c.record().inspect.host_config.clone();
        let merged = merge(&current, &asked, &upd.restart_policy).map_err(cannot)?;
        let st = c.state();
        if st.running && !st.restarting {
            let d = delta(&merged.resources, &asked).map_err(cannot)?;
            self.cgroup(&c.id)
                .apply(&d)
                .map_err(|e| EngineError::Internal(format!("Cannot update container {}: {e}", c.id)))?;
        }
        c.update(&self.containers_dir(&c.id), |r| r.inspect.host_config = merged)?;
        self.emit_container(&c, "update", &[]);
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(memory: i64) -> HostConfig {
        let mut hc = HostConfig::default();
        hc.resources.memory = memory;
        limits::adapt(&mut hc);
        hc
    }

    #[test]
    fn memory_above_swap_needs_swap_too() {
        let hc = running(16 << 20);
        let asked = Resources {
            memory: 64 << 20,
            ..Default::default()
        };
        let e = merge(&hc, &asked, &RestartPolicy::default()).unwrap_err();
        assert!(
            e.starts_with("Memory limit should be smaller than already set memoryswap"),
            "{e}"
        );
        let asked = Resources {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            ..Default::default()
        };
        let m = merge(&hc, &asked, &RestartPolicy::default()).unwrap();
        assert_eq!((m.resources.memory, m.resources.memory_swap), (64 << 20, 128 << 20));
        let d = delta(&m.resources, &asked).unwrap();
        assert_eq!((d.memory, d.memory_swap, d.pids_limit), (64 << 20, 128 << 20, None));
    }

    #[test]
    fn cpu_quota_one_way_only() {
        let mut hc = running(0);
        hc.resources.nano_cpus = 500_000_000;
        let asked = Resources {
            cpu_quota: 20_000,
            ..Default::default()
        };
        let e = merge(&hc, &asked, &RestartPolicy::default()).unwrap_err();
        assert_eq!(
            e,
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        );
        let asked = Resources {
            nano_cpus: 1_000_000_000,
            pids_limit: Some(0),
            ..Default::default()
        };
        let m = merge(&hc, &asked, &RestartPolicy::default()).unwrap();
        let d = delta(&m.resources, &asked).unwrap();
        assert_eq!((d.cpu_period, d.cpu_quota, d.pids_limit), (100_000, 100_000, Some(-1)));
        assert_eq!(m.resources.pids_limit, None);
    }

    #[test]
    fn restart_policy_and_auto_remove() {
        let mut hc = running(0);
        hc.auto_remove = true;
        let p = RestartPolicy {
            name: "always".into(),
            maximum_retry_count: 0,
        };
        assert!(merge(&hc, &Resources::default(), &p)
            .unwrap_err()
            .starts_with("Restart policy cannot be updated"));
        hc.auto_remove = false;
        assert_eq!(
            merge(&hc, &Resources::default(), &p).unwrap().restart_policy.name,
            "always"
        );
    }
}
