//! `--health-*` and `--no-healthcheck` of `run`/`create`, into the
//! create request's `Healthcheck` as Docker's CLI builds it.

use clap::Args;
use skiff_api::{parse_duration, ContainerConfig, HealthConfig};

#[derive(Args, Debug, Clone, Default)]
pub struct HealthFlags {
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", allow_hyphen_values = true)]
    pub interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", allow_hyphen_values = true)]
    pub timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", allow_hyphen_values = true)]
    pub start_period: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", allow_negative_numbers = true)]
    pub retries: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub none: bool,
}

impl HealthFlags {
    /// Set the config's health check (left alone when no flag is given,
    /// so the image's applies).
    pub fn apply(&self, cfg: &mut ContainerConfig) -> Result<(), String> {
        let dur = |v: &Option<String>, flag: &str| -> Result<i64, String> {
            let Some(s) = v else { return Ok(0) };
            let ns = parse_duration(s).map_err(|e| format!("invalid argument \"{s}\" for \"{flag}\" flag: {e}"))?;
            if ns < 0 {
                return Err(format!("{flag} cannot be negative"));
            }
            Ok(ns)
        };
        let interval = dur(&self.interval, "--health-interval")?;
        let timeout = dur(&self.timeout, "--health-timeout")?;
        let start_period = dur(&self.start_period, "--health-start-period")?;
        let retries = self.retries.unwrap_or(0);
        let any = self.cmd.as_deref().is_some_and(|c| !c.is_empty())
            || interval != 0
            || timeout != 0
            || start_period != 0
            || retries != 0;
        if self.none {
            if any {
                return Err("--no-healthcheck conflicts with --health-* options".into());
            }
            cfg.healthcheck = Some(HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            });
            return Ok(());
        }
        if !any {
            return Ok(());
        }
        if retries < 0 {
            return Err("--health-retries cannot be negative".into());
        }
        cfg.healthcheck = Some(HealthConfig {
            test: match self.cmd.as_deref() {
                Some(c) if !c.is_empty() => vec!["CMD-SHELL".into(), c.into()],
                _ => Vec::new(),
            },
            interval,
            timeout,
            start_period,
            retries,
        });
        Ok(())
    }
}
