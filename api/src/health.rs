//! Health checks: Docker's `HealthConfig` (an image's `HEALTHCHECK`, or
//! `--health-*`), the `State.Health` a running container reports, and
//! Go's duration syntax, in which the flags are given and timeouts told.

use serde::{Deserialize, Serialize};

use crate::de::null_as_default;

/// `Config.Healthcheck`: durations in nanoseconds; zero means "the default"
/// (or "the image's", when merged).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` off, `["CMD", args…]`, `["CMD-SHELL", cmd]`.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "null_as_default")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "null_as_default")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "null_as_default")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "null_as_default")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// One probe's result, as `State.Health.Log` lists them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthcheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// `State.Health`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub log: Vec<HealthcheckResult>,
}

impl Health {
    /// How `ps` shows it after "Up …": `health: starting`, `healthy`, `unhealthy`.
    pub fn label(&self) -> String {
        if self.status == "starting" {
            "health: starting".into()
        } else {
            self.status.clone()
        }
    }
}

const UNITS: &[(&str, f64)] = &[
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("μs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

/// Go's `time.ParseDuration`: `1s`, `1m30s`, `500ms`, `1.5h`, `-2s`, `0`;
/// nanoseconds, or Go's error text.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..u];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration \"{s}\""));
        }
        let Some((_, mult)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!("time: unknown unit \"{unit}\" in duration \"{s}\""));
        };
        total += num * mult;
        rest = &rest[u..];
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

/// Go's `Duration.String`: `30s`, `1m30s`, `500ms`, `1.5s`, `0s`.
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    let frac = |v: u64, div: u64| {
        let whole = v / div;
        let rest = v % div;
        if rest == 0 {
            whole.to_string()
        } else {
            let digits = div.to_string().len() - 1;
            let f = format!("{rest:0digits$}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    };
    if u < 1_000_000 {
        return format!("{sign}{}µs", frac(u, 1_000));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", frac(u, 1_000_000));
    }
    let (h, rem) = (u / 3_600_000_000_000, u % 3_600_000_000_000);
    let (m, rem) = (rem / 60_000_000_000, rem % 60_000_000_000);
    let s = frac(rem, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, m) => format!("{sign}{m}m{s}s"),
        (h, m) => format!("{sign}{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_both_ways() {
        assert_eq!(parse_duration("1s").unwrap(), 1_000_000_000);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration("1.5h").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("-2s").unwrap(), -2_000_000_000);
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("x").is_err());
        for (ns, s) in [
            (30_000_000_000, "30s"),
            (90_000_000_000, "1m30s"),
            (500_000_000, "500ms"),
            (1_500_000_000, "1.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (0, "0s"),
        ] {
            assert_eq!(format_duration(ns), s);
        }
    }

    #[test]
    fn health_config_is_dockers_json() {
        let h: HealthConfig =
            serde_json::from_str(r#"{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Retries":2}"#).unwrap();
        assert_eq!((h.interval, h.retries, h.timeout), (1_000_000_000, 2, 0));
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Retries":2}"#
        );
    }
}
