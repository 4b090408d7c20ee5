//! Log drivers' names and options, checked as Docker's
//! `logger.ValidateLogOpts` and each driver's `ValidateLogOpt` check them
//! (with their texts), and what the drivers share: the container's
//! identity (`Info`), the `tag` template and option parsing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::LogError;

/// Every driver skiff has, as `/info` lists them under `Plugins.Log`
/// (Docker leaves `none` out of that list; it is always accepted).
pub const DRIVERS: &[&str] = &["fluentd", "gelf", "journald", "json-file", "local", "syslog"];

/// Options every driver takes: attributes (`labels`, `env`) and `tag`.
const COMMON: &[&str] = &["labels", "labels-regex", "env", "env-regex", "tag"];

/// Options Docker handles before the driver sees them: the delivery mode
/// and the dual-logging cache (`cache-` + the local driver's options).
const BUILTIN: &[&str] = &[
    "mode",
    "max-buffer-size",
    "cache-disabled",
    "cache-max-size",
    "cache-max-file",
    "cache-compress",
];

/// What a driver knows of its container (Docker's `logger.Info`, the
/// fields the drivers here use).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// The full 64-hex ID.
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    /// `sha256:…`.
    pub image_id: String,
    /// As the user gave it (`busybox`).
    pub image_name: String,
    /// The command line, space-joined.
    pub command: String,
    /// RFC 3339.
    pub created: String,
    /// The labels and environment variables the `labels`, `labels-regex`,
    /// `env` and `env-regex` options pick (Docker's `ExtraAttributes`,
    /// computed by the agent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

impl Info {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// The `tag` option's template, expanded (Docker's default `{{.ID}}`).
    /// Supported: `{{.ID}} {{.FullID}} {{.Name}} {{.ImageID}}
    /// {{.ImageFullID}} {{.ImageName}} {{.Command}} {{.Hostname}}
    /// {{.DaemonName}}`, with any text around them.
    pub fn tag(&self, opts: &BTreeMap<String, String>) -> Result<String, LogError> {
        let tmpl = opts.get("tag").map(String::as_str).filter(|t| !t.is_empty());
        expand_tag(tmpl.unwrap_or("{{.ID}}"), self)
    }
}

fn expand_tag(tmpl: &str, info: &Info) -> Result<String, LogError> {
    let mut out = String::new();
    let mut rest = tmpl;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find("}}")
            .ok_or_else(|| LogError::Invalid("template: log-tag:1: unclosed action".into()))?;
        let field = rest[at + 2..at + end].trim();
        let image_hex = info.image_id.trim_start_matches("sha256:");
        let v = match field {
            ".ID" => info.short_id().to_string(),
            ".FullID" => info.id.clone(),
            ".Name" => info.name.clone(),
            ".ImageID" => image_hex[..image_hex.len().min(12)].to_string(),
            ".ImageFullID" => info.image_id.clone(),
            ".ImageName" => info.image_name.clone(),
            ".Command" => info.command.clone(),
            ".Hostname" => hostname(),
            ".DaemonName" => "docker".into(),
            other => {
                return Err(LogError::Invalid(format!(
                    "template: log-tag:1:{}: executing \"log-tag\" at <{other}>: can't evaluate field {} in type *logger.Info",
                    at + 3,
                    other.trim_start_matches('.')
                )))
            }
        };
        out.push_str(&v);
        rest = &rest[at + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// This host's name (the kernel's), as syslog and gelf report it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Check a container's (or the daemon's default) log driver and options
/// as Docker does at create: nothing is created when this fails.
pub fn validate(driver: &str, opts: &BTreeMap<String, String>) -> Result<(), LogError> {
    if driver == "none" {
        return Ok(());
    }
    let inv = |m: String| Err(LogError::Invalid(m));
    let mode = opts.get("mode").map(String::as_str).unwrap_or("");
    if !matches!(mode, "" | "blocking" | "non-blocking") {
        return inv(format!("logger: logging mode not supported: {mode}"));
    }
    if let Some(s) = opts.get("max-buffer-size") {
        if mode != "non-blocking" {
            return inv("logger: max-buffer-size option is only supported with 'mode=non-blocking'".into());
        }
        if parse_size(s).is_none() {
            return inv(format!("error parsing option max-buffer-size: invalid size: '{s}'"));
        }
    }
    if let Some(v) = opts.get("cache-disabled").filter(|v| !v.is_empty()) {
        if parse_bool(v).is_none() {
            return inv(format!("invalid value for option cache-disabled: {v}"));
        }
    }
    if !DRIVERS.contains(&driver) {
        return inv(format!("logger: no log driver named '{driver}' is registered"));
    }
    let own = driver_opts(opts);
    let keys = |allowed: &[&str], unknown: &dyn Fn(&str) -> String| -> Result<(), LogError> {
        match own
            .keys()
            .find(|k| !allowed.contains(&k.as_str()) && !COMMON.contains(&k.as_str()))
        {
            Some(k) => Err(LogError::Invalid(unknown(k))),
            None => Ok(()),
        }
    };
    let quoted = |d: &'static str| move |k: &str| format!("unknown log opt '{k}' for {d} log driver");
    match driver {
        "json-file" => {
            keys(&["max-file", "max-size", "compress"], &quoted("json-file"))?;
            super::jsonfile::Rotation::from_opts(&own).map_err(LogError::Invalid)?;
        }
        "local" => {
            keys(&["max-file", "max-size", "compress"], &|k| {
                format!("unknown log opt '{k}' for log driver local")
            })?;
            super::local::Config::from_opts(&own)?;
        }
        "syslog" => {
            let syslog_keys = [
                "syslog-address",
                "syslog-facility",
                "syslog-tls-ca-cert",
                "syslog-tls-cert",
                "syslog-tls-key",
                "syslog-tls-skip-verify",
                "syslog-format",
            ];
            keys(&syslog_keys, &quoted("syslog"))?;
            super::syslog::Config::from_opts(&own)?;
        }
        "journald" => keys(&[], &quoted("journald"))?,
        "gelf" => super::gelf::Config::from_opts(&own).map(drop)?,
        "fluentd" => {
            let fluent_keys = [
                "fluentd-address",
                "fluentd-async",
                "fluentd-async-connect",
                "fluentd-async-reconnect-interval",
                "fluentd-buffer-limit",
                "fluentd-max-retries",
                "fluentd-request-ack",
                "fluentd-retry-wait",
                "fluentd-sub-second-precision",
                "fluentd-write-timeout",
                "fluentd-read-timeout",
            ];
            keys(&fluent_keys, &quoted("fluentd"))?;
            super::fluentd::Config::from_opts(&own)?;
        }
        _ => {}
    }
    // The tag template must expand.
    Info::default().tag(&own).map(drop)
}

/// Whether a driver sends lines away (and so has a destination to check
/// before a start), rather than writing files.
pub fn is_remote(driver: &str) -> bool {
    matches!(driver, "syslog" | "journald" | "gelf" | "fluentd")
}

/// A driver's own options: all but the delivery mode's and the cache's.
pub fn driver_opts(opts: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    opts.iter()
        .filter(|(k, _)| !BUILTIN.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Docker's sizes ("10m", "1g", "512k", "100").
pub fn parse_size(s: &str) -> Option<u64> {
    super::jsonfile::parse_size(s)
}

/// Go's `time.ParseDuration` for the units these options use ("1s",
/// "500ms", "1m30s").
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

/// The options of the dual-logging cache, as the local driver's
/// (`cache-max-size` → `max-size`, …).
pub fn cache_opts(opts: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    opts.iter()
        .filter_map(|(k, v)| {
            let k = k.strip_prefix("cache-")?;
            (k != "disabled").then(|| (k.to_string(), v.clone()))
        })
        .collect()
}

/// Whether a driver keeps a local cache beside it for `logs` (Docker
/// 20.10's dual logging): every driver that cannot be read back, unless
/// `cache-disabled` is true. skiff cannot read the journal back, so
/// journald gets the cache too.
pub fn uses_cache(driver: &str, opts: &BTreeMap<String, String>) -> bool {
    let readable = matches!(driver, "json-file" | "local" | "none");
    let disabled = opts.get("cache-disabled").filter(|v| !v.is_empty());
    !readable && disabled.is_none_or(|v| parse_bool(v) == Some(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn tags() {
        let info = Info {
            id: "0123456789abcdef".repeat(4),
            name: "web".into(),
            image_name: "busybox".into(),
            ..Default::default()
        };
        assert_eq!(info.tag(&o(&[])).unwrap(), "0123456789ab");
        let t = info.tag(&o(&[("tag", "{{.Name}}/{{.ID}} {{ .ImageName }}")])).unwrap();
        assert_eq!(t, "web/0123456789ab busybox");
        assert!(info.tag(&o(&[("tag", "{{.Nope}}")])).is_err());
    }

    #[test]
    fn validation_texts() {
        let e = |d: &str, p: &[(&str, &str)]| validate(d, &o(p)).unwrap_err().to_string();
        assert_eq!(e("x", &[]), "logger: no log driver named 'x' is registered");
        assert_eq!(e("syslog", &[("y", "1")]), "unknown log opt 'y' for syslog log driver");
        assert_eq!(
            e("json-file", &[("y", "1")]),
            "unknown log opt 'y' for json-file log driver"
        );
        assert_eq!(e("gelf", &[]), "gelf-address is a required parameter");
        assert_eq!(
            e("local", &[("max-file", "1")]),
            "compression cannot be enabled when max file count is 1"
        );
        validate("none", &o(&[("anything", "1")])).unwrap();
        validate(
            "syslog",
            &o(&[("syslog-address", "udp://127.0.0.1:5514"), ("tag", "{{.Name}}")]),
        )
        .unwrap();
        validate(
            "fluentd",
            &o(&[("fluentd-retry-wait", "500ms"), ("cache-disabled", "true")]),
        )
        .unwrap();
    }

    #[test]
    fn durations_and_cache() {
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("x"), None);
        assert!(uses_cache("gelf", &o(&[])));
        assert!(!uses_cache("gelf", &o(&[("cache-disabled", "true")])));
        assert!(!uses_cache("local", &o(&[])));
        assert_eq!(
            cache_opts(&o(&[("cache-max-file", "2"), ("cache-disabled", "false")])),
            o(&[("max-file", "2")])
        );
    }
}
