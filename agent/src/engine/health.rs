//! Health checks, as Docker's daemon runs them: the image's `HEALTHCHECK`
//! merged with `--health-*` at create; for a running container a task
//! that waits an interval, runs the probe as an exec in the container
//! (`engine/exec.rs`), and records the result in `State.Health` (status,
//! failing streak, the last five probes), with a `health_status: …`
//! event on every change. The task starts with each start (and when a
//! restarted agent adopts a running container) and ends with the process.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use skiff_api::{format_duration, ContainerConfig, ExecConfig, Health, HealthConfig, HealthcheckResult};

use super::{Ctr, Engine, EngineError, Result};
use crate::runtime::supervisor::Event;

const DEFAULT_INTERVAL: i64 = 30_000_000_000;
const DEFAULT_TIMEOUT: i64 = 30_000_000_000;
const DEFAULT_RETRIES: i64 = 3;
/// Probes kept in `State.Health.Log`.
const MAX_LOG: usize = 5;
/// Bytes of a probe's output kept (Docker's limit).
const MAX_OUTPUT: usize = 4096;

/// A container's health check, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub cmd: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    /// Nanoseconds after the start during which failures do not count.
    pub start_period: i64,
    pub retries: i64,
}

/// Docker's merge of the request's health check with the image's: the
/// request's fields win where set.
pub fn merge(user: Option<HealthConfig>, image: Option<&HealthConfig>) -> Option<HealthConfig> {
    let Some(img) = image else { return user };
    let Some(mut u) = user else {
        return Some(img.clone());
    };
    if u.test.is_empty() {
        u.test = img.test.clone();
    }
    for (mine, theirs) in [
        (&mut u.interval, img.interval),
        (&mut u.timeout, img.timeout),
        (&mut u.start_period, img.start_period),
        (&mut u.retries, img.retries),
    ] {
        if *mine == 0 {
            *mine = theirs;
        }
    }
    Some(u)
}

/// Docker's checks on a health check at create.
pub fn validate(h: Option<&HealthConfig>) -> Result<()> {
    let Some(h) = h else { return Ok(()) };
    let min = 1_000_000; // 1ms
    let check = |v: i64, what: &str| {
        if v != 0 && v < min {
            return Err(EngineError::BadRequest(format!(
                "{what} in Healthcheck cannot be less than 1ms"
            )));
        }
        Ok(())
    };
    check(h.interval, "Interval")?;
    check(h.timeout, "Timeout")?;
    if h.retries < 0 {
        return Err(EngineError::BadRequest(
            "Retries in Healthcheck cannot be negative".into(),
        ));
    }
    check(h.start_period, "StartPeriod")
}

/// The probe a container's config asks for (`NONE`, empty or unknown
/// tests: none).
pub fn probe_of(cfg: &ContainerConfig) -> Option<Probe> {
    let h = cfg.healthcheck.as_ref()?;
    let cmd = match h.test.first().map(String::as_str) {
        Some("CMD") => h.test[1..].to_vec(),
        Some("CMD-SHELL") => {
            let mut sh = cfg
                .shell
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            sh.push(h.test[1..].join(" "));
            sh
        }
        _ => return None,
    };
    if cmd.is_empty() {
        return None;
    }
    let or = |v: i64, d: i64| Duration::from_nanos(if v > 0 { v } else { d } as u64);
    Some(Probe {
        cmd,
        interval: or(h.interval, DEFAULT_INTERVAL),
        timeout: or(h.timeout, DEFAULT_TIMEOUT),
        start_period: h.start_period.max(0),
        retries: if h.retries > 0 { h.retries } else { DEFAULT_RETRIES },
    })
}

/// Fold one result into the health state, as Docker's
/// `handleProbeResult`: success makes it healthy; failures count once the
/// start period is over (or once it was healthy), and `retries` of them
/// in a row make it unhealthy.
pub fn record(h: &mut Health, result: HealthcheckResult, probe: &Probe, started_at: &str) {
    let ok = result.exit_code == 0;
    let since_start = match (parse(&result.start), parse(started_at)) {
        (Some(a), Some(b)) => (a - b).num_nanoseconds().unwrap_or(i64::MAX),
        _ => i64::MAX,
    };
    h.log.push(result);
    if h.log.len() > MAX_LOG {
        let extra = h.log.len() - MAX_LOG;
        h.log.drain(..extra);
    }
    if ok {
        h.failing_streak = 0;
        h.status = "healthy".into();
        return;
    }
    if h.status == "starting" && since_start < probe.start_period {
        return;
    }
    h.failing_streak += 1;
    if h.failing_streak >= probe.retries {
        h.status = "unhealthy".into();
    }
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t).ok().map(|d| d.with_timezone(&Utc))
}

/// Output kept as Docker keeps it: the first 4 KiB, then "...".
fn limited(mut out: Vec<u8>, truncated: bool) -> String {
    let cut = truncated || out.len() > MAX_OUTPUT;
    out.truncate(MAX_OUTPUT);
    let mut s = String::from_utf8_lossy(&out).into_owned();
    if cut {
        s.push_str("...");
    }
    s
}

impl Engine {
    /// Begin probing a container that just started (or was adopted): its
    /// health is `starting` again with no failures, the log kept.
    pub(super) fn start_health(self: &Arc<Self>, c: &Arc<Ctr>) {
        c.stop_health();
        let Some(probe) = probe_of(&c.record().inspect.config) else {
            return;
        };
        let _ = c.update(&self.containers_dir(&c.id), |r| {
            let h = r.inspect.state.health.get_or_insert_with(Health::default);
            h.status = "starting".into();
            h.failing_streak = 0;
        });
        let engine = self.clone();
        let ctr = c.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(probe.interval).await;
                if !ctr.is_running() {
                    return;
                }
                let result = engine.run_probe(&ctr, &probe).await;
                if !ctr.is_running() {
                    return;
                }
                engine.health_result(&ctr, result, &probe);
            }
        });
        *c.health.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
    }

    fn health_result(&self, c: &Ctr, result: HealthcheckResult, probe: &Probe) {
        let mut change = None;
        let saved = c.update(&self.containers_dir(&c.id), |r| {
            let started = r.inspect.state.started_at.clone();
            let h = r.inspect.state.health.get_or_insert_with(Health::default);
            let before = h.status.clone();
            record(h, result, probe, &started);
            if h.status != before {
                change = Some(h.status.clone());
            }
        });
        if let Err(e) = saved {
            tracing::warn!(container = %&c.id[..12], "recording a health check: {e}");
        }
        if let Some(status) = change {
            self.emit_container(c, &format!("health_status: {status}"), &[]);
        }
    }

    /// Run the probe once as an exec; a failure to run it, or a timeout
    /// (the process is killed), is a failed probe with exit code -1.
    async fn run_probe(self: &Arc<Self>, c: &Ctr, probe: &Probe) -> HealthcheckResult {
        let start = crate::ids::now();
        let cfg = ExecConfig {
            attach_stdout: true,
            attach_stderr: true,
            cmd: probe.cmd.clone(),
            ..Default::default()
        };
        let mut exec_id = None;
        let outcome = async {
            let id = self.exec_create(&c.id, cfg)?;
            exec_id = Some(id.clone());
            let prepared = self.exec_start(&id).await?;
            let inst = prepared.inst.clone();
            let events = prepared.launch().await?;
            match tokio::time::timeout(probe.timeout, collect(events)).await {
                Ok(r) => Ok(r),
                Err(_) => {
                    let conn = inst.conn.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    if let Some(conn) = conn {
                        let _ = conn.signal(libc::SIGKILL).await;
                    }
                    Ok((
                        -1,
                        format!(
                            "Health check exceeded timeout ({})",
                            format_duration(probe.timeout.as_nanos() as i64)
                        ),
                    ))
                }
            }
        }
        .await;
        if let Some(id) = exec_id {
            self.execs.remove(&id);
        }
        let (exit_code, output) = outcome.unwrap_or_else(|e: EngineError| (-1, e.to_string()));
        HealthcheckResult {
            start,
            end: crate::ids::now(),
            exit_code,
            output,
        }
    }
}

/// A probe's exit code and its output (stdout and stderr together).
async fn collect(mut events: tokio::sync::mpsc::UnboundedReceiver<Event>) -> (i64, String) {
    let (mut out, mut truncated, mut code) = (Vec::new(), false, -1);
    while let Some(ev) = events.recv().await {
        match ev {
            Event::Output(_, data) => {
                let room = (MAX_OUTPUT + 1).saturating_sub(out.len());
                truncated |= data.len() > room;
                out.extend_from_slice(&data[..data.len().min(room)]);
            }
            Event::Exited(c) => code = c as i64,
            Event::Started(_) => {}
        }
    }
    (code, limited(out, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        Probe {
            cmd: vec!["true".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            start_period: 10_000_000_000,
            retries: 2,
        }
    }

    fn res(at: &str, code: i64) -> HealthcheckResult {
        HealthcheckResult {
            start: at.into(),
            end: at.into(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn streaks_start_period_and_log_length() {
        let started = "2024-01-01T00:00:00Z";
        let mut h = Health {
            status: "starting".into(),
            ..Default::default()
        };
        // Inside the start period, failures do not count.
        record(&mut h, res("2024-01-01T00:00:05Z", 1), &probe(), started);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        record(&mut h, res("2024-01-01T00:00:11Z", 1), &probe(), started);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 1));
        record(&mut h, res("2024-01-01T00:00:12Z", 1), &probe(), started);
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        record(&mut h, res("2024-01-01T00:00:13Z", 0), &probe(), started);
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        for i in 0..4 {
            record(&mut h, res(&format!("2024-01-01T00:00:2{i}Z"), 0), &probe(), started);
        }
        assert_eq!(h.log.len(), 5);
        assert_eq!(h.log[0].start, "2024-01-01T00:00:13Z");
    }

    #[test]
    fn probes_from_config_and_image() {
        let image = HealthConfig {
            test: vec!["CMD-SHELL".into(), "wget -q localhost".into()],
            interval: 5_000_000_000,
            retries: 4,
            ..Default::default()
        };
        let user = HealthConfig {
            interval: 1_000_000_000,
            ..Default::default()
        };
        let cfg = ContainerConfig {
            healthcheck: merge(Some(user), Some(&image)),
            ..Default::default()
        };
        let p = probe_of(&cfg).unwrap();
        assert_eq!(p.cmd, ["/bin/sh", "-c", "wget -q localhost"]);
        assert_eq!(
            (p.interval, p.timeout, p.retries),
            (Duration::from_secs(1), Duration::from_secs(30), 4)
        );
        let none = ContainerConfig {
            healthcheck: merge(
                Some(HealthConfig {
                    test: vec!["NONE".into()],
                    ..Default::default()
                }),
                Some(&image),
            ),
            ..Default::default()
        };
        assert!(probe_of(&none).is_none());
        assert!(validate(Some(&HealthConfig {
            interval: 10,
            ..Default::default()
        }))
        .unwrap_err()
        .to_string()
        .contains("Interval in Healthcheck cannot be less than 1ms"));
        assert_eq!(limited(vec![b'a'; 5000], false).len(), 4099);
    }
}
