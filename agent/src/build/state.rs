//! A stage's state between steps: the image config it would commit now,
//! its top layer, its content key, and its build arguments; and the steps
//! that only change the config (ENV, LABEL, ARG, WORKDIR's path, USER,
//! EXPOSE, VOLUME, STOPSIGNAL, SHELL, CMD, ENTRYPOINT, HEALTHCHECK,
//! ONBUILD, MAINTAINER): they make no container and no layer, only a
//! history entry marked `empty_layer`.

use std::collections::BTreeMap;

use serde_json::json;
use sha2::{Digest, Sha256};
use skiff_api::{HealthConfig, History, ImageConfigFile, Nil};

use super::dockerfile::{Cmd, Flag, Op};
use super::words::{self, Lexer};
use super::BuildError;

/// The shell Docker runs shell-form commands with.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Build arguments Docker allows without an `ARG` (not kept in history).
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Debug)]
pub struct State {
    /// The image the stage started from (empty for `scratch`).
    pub base: String,
    pub image: ImageConfigFile,
    /// Chain ID of the top layer.
    pub chain: Option<String>,
    /// Content key of everything so far (hex sha256).
    pub key: String,
    /// `ARG`s declared in the stage, with their values (None: unset).
    pub args: BTreeMap<String, Option<String>>,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
}

/// sha256 hex of `parts` joined by newlines.
pub fn hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

impl State {
    pub fn new(base: String, mut image: ImageConfigFile, chain: Option<String>) -> Self {
        let key = hash(&["from", &base, chain.as_deref().unwrap_or("scratch")]);
        // As Docker's FROM: the base's comment is not the build's, and the
        // environment gets the default PATH when the base sets none.
        image.comment = None;
        if !image.config.env.iter().any(|e| e.starts_with("PATH=")) {
            image.config.env.insert(0, DEFAULT_PATH.to_string());
        }
        State {
            base,
            image,
            chain,
            key,
            args: BTreeMap::new(),
            cmd_set: false,
        }
    }

    /// The value of `name` for expansion: the config's ENV, then ARGs.
    pub fn lookup(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        if let Some(v) = self.image.config.env.iter().rev().find_map(|e| e.strip_prefix(&prefix)) {
            return Some(v.to_string());
        }
        self.args.get(name).cloned().flatten()
    }

    /// Move the content key past a step described by `what`.
    pub fn advance(&mut self, what: &str) {
        self.key = hash(&[&self.key, what]);
    }

    /// ARGs with values, as `K=V`, for RUN's environment (those ENV does
    /// not already set).
    pub fn arg_env(&self) -> Vec<String> {
        self.args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .filter(|(k, _)| !self.image.config.env.iter().any(|e| e.starts_with(&format!("{k}="))))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    pub fn history(&mut self, created_by: String, empty: bool) {
        self.image.history.push(History {
            created: Some(crate::ids::now()),
            created_by: Some(created_by),
            comment: None,
            empty_layer: empty.then_some(true),
        });
    }

    pub fn shell(&self) -> Vec<String> {
        match &self.image.config.shell {
            Some(s) if !s.is_empty() => s.clone(),
            _ => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A command's argv: exec form as is, shell form through `SHELL`.
    pub fn argv(&self, cmd: &Cmd) -> Vec<String> {
        match cmd {
            Cmd::Exec(v) => v.clone(),
            Cmd::Shell(s) => {
                let mut v = self.shell();
                v.push(s.clone());
                v
            }
        }
    }

    fn expand(&self, lex: &Lexer, word: &str) -> Result<String, BuildError> {
        lex.process_word(word, &|n| self.lookup(n)).map_err(BuildError::msg)
    }

    fn set_env(&mut self, key: &str, value: &str) {
        let prefix = format!("{key}=");
        self.image.config.env.retain(|e| !e.starts_with(&prefix));
        self.image.config.env.push(format!("{key}={value}"));
    }

    /// Apply a config-only step; returns its history text.
    pub fn apply(
        &mut self,
        op: &Op,
        lex: &Lexer,
        build_args: &BTreeMap<String, Option<String>>,
    ) -> Result<String, BuildError> {
        let escape = lex.escape();
        let cfg_text = |body: String| format!("/bin/sh -c #(nop)  {body}");
        let text = match op {
            Op::Env(raw) => {
                // Every pair sees the environment from before the instruction.
                let mut pairs = Vec::new();
                for (k, v) in words::parse_name_vals(raw, escape, "ENV").map_err(BuildError::msg)? {
                    pairs.push((self.expand(lex, &k)?, self.expand(lex, &v)?));
                }
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    shown.push(format!("{k}={v}"));
                    self.set_env(&k, &v);
                }
                cfg_text(format!("ENV {}", shown.join(" ")))
            }
            Op::Label(raw) => {
                let mut shown = Vec::new();
                for (k, v) in words::parse_name_vals(raw, escape, "LABEL").map_err(BuildError::msg)? {
                    let (k, v) = (self.expand(lex, &k)?, self.expand(lex, &v)?);
                    shown.push(format!("{k}={v}"));
                    self.image.config.labels.insert(k, v);
                }
                cfg_text(format!("LABEL {}", shown.join(" ")))
            }
            Op::Arg(raw) => {
                let mut shown = Vec::new();
                for (k, default) in words::parse_args(raw, escape).map_err(BuildError::msg)? {
                    let default = default.map(|d| self.expand(lex, &d)).transpose()?;
                    let value = match build_args.get(&k) {
                        Some(Some(v)) => Some(v.clone()),
                        _ => default,
                    };
                    shown.push(match &value {
                        Some(v) => format!("{k}={v}"),
                        None => k.clone(),
                    });
                    self.args.insert(k, value);
                }
                cfg_text(format!("ARG {}", shown.join(" ")))
            }
            Op::Workdir(raw) => {
                let path = self.expand(lex, raw)?;
                self.image.config.working_dir = workdir(&self.image.config.working_dir, &path);
                cfg_text(format!("WORKDIR {}", self.image.config.working_dir))
            }
            Op::User(raw) => {
                self.image.config.user = self.expand(lex, raw)?;
                cfg_text(format!("USER {}", self.image.config.user))
            }
            Op::Expose(list) => {
                let mut shown = Vec::new();
                for w in list {
                    for p in lex.process_words(w, &|n| self.lookup(n)).map_err(BuildError::msg)? {
                        let p = port_spec(&p)?;
                        shown.push(p.clone());
                        self.image
                            .config
                            .exposed_ports
                            .get_or_insert_with(Default::default)
                            .insert(p, json!({}));
                    }
                }
                cfg_text(format!("EXPOSE {}", shown.join(" ")))
            }
            Op::Volume(list) => {
                let mut shown = Vec::new();
                for w in list {
                    let v = self.expand(lex, w)?;
                    if v.trim().is_empty() {
                        return Err(BuildError::msg("VOLUME specified can not be an empty string"));
                    }
                    shown.push(v.clone());
                    self.image
                        .config
                        .volumes
                        .get_or_insert_with(Default::default)
                        .insert(v, json!({}));
                }
                cfg_text(format!("VOLUME [{}]", shown.join(" ")))
            }
            Op::Stopsignal(raw) => {
                let sig = self.expand(lex, raw)?;
                self.image.config.stop_signal = Some(sig.clone());
                cfg_text(format!("STOPSIGNAL {sig}"))
            }
            Op::Shell(list) => {
                self.image.config.shell = Some(list.clone());
                cfg_text(format!(
                    "SHELL [{}]",
                    list.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(" ")
                ))
            }
            Op::Cmd(cmd) => {
                self.image.config.cmd = self.argv(cmd).into();
                self.cmd_set = true;
                cfg_text(format!("CMD {}", shown_argv(&self.image.config.cmd)))
            }
            Op::Entrypoint(cmd) => {
                self.image.config.entrypoint = self.argv(cmd).into();
                if !self.cmd_set {
                    self.image.config.cmd = Nil::default();
                }
                cfg_text(format!("ENTRYPOINT {}", shown_argv(&self.image.config.entrypoint)))
            }
            Op::Healthcheck { flags, cmd } => {
                self.image.config.healthcheck = Some(healthcheck(flags, cmd.as_ref())?);
                cfg_text(format!("HEALTHCHECK {}", if cmd.is_some() { "&{...}" } else { "NONE" }))
            }
            Op::Onbuild(trigger) => {
                let upper = trigger
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                if matches!(upper.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(BuildError::msg(format!("{upper} isn't allowed as an ONBUILD trigger")));
                }
                self.image
                    .config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(trigger.clone());
                cfg_text(format!("ONBUILD {trigger}"))
            }
            Op::Maintainer(name) => {
                self.image.author = Some(self.expand(lex, name)?);
                cfg_text(format!("MAINTAINER {name}"))
            }
            other => return Err(BuildError::msg(format!("not a config step: {other:?}"))),
        };
        Ok(text)
    }
}

/// Docker's `[\"a\" \"b\"]` rendering of an argv in history.
fn shown_argv(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(" ")
    )
}

/// WORKDIR `path` from `current`: absolute as is, relative joined; cleaned.
pub fn workdir(current: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", if current.is_empty() { "/" } else { current })
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `EXPOSE 80`, `80/udp`, `8000-8001/tcp` as Docker keys them.
fn port_spec(p: &str) -> Result<String, BuildError> {
    let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let valid_port = |s: &str| s.parse::<u16>().is_ok();
    let ok = match port.split_once('-') {
        Some((a, b)) => valid_port(a) && valid_port(b),
        None => valid_port(port),
    };
    if !ok || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(BuildError::msg(format!("invalid containerPort: {port}")));
    }
    Ok(format!("{port}/{proto}"))
}

/// Go's `time.ParseDuration` for the HEALTHCHECK flags, in nanoseconds.
fn duration(flag: &str, v: &str) -> Result<i64, BuildError> {
    let bad = || BuildError::msg(format!("time: invalid duration \"{v}\" for --{flag}"));
    let mut total = 0f64;
    let mut rest = v;
    if rest == "0" {
        return Ok(0);
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let num: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += num * scale;
        rest = &rest[u..];
    }
    Ok(total as i64)
}

fn healthcheck(flags: &[Flag], cmd: Option<&Cmd>) -> Result<HealthConfig, BuildError> {
    let Some(cmd) = cmd else {
        return Ok(HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        });
    };
    let mut h = HealthConfig {
        test: match cmd {
            Cmd::Exec(v) => std::iter::once("CMD".to_string()).chain(v.iter().cloned()).collect(),
            Cmd::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
        },
        ..Default::default()
    };
    for f in flags {
        let v = f.value.clone().unwrap_or_default();
        match f.name.as_str() {
            "interval" => h.interval = duration("interval", &v)?,
            "timeout" => h.timeout = duration("timeout", &v)?,
            "start-period" => h.start_period = duration("start-period", &v)?,
            "start-interval" => {}
            "retries" => {
                h.retries = v
                    .parse()
                    .map_err(|_| BuildError::msg(format!("strconv.ParseInt: parsing \"{v}\": invalid syntax")))?
            }
            other => return Err(BuildError::msg(format!("unknown flag: {other}"))),
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdirs_join_and_clean() {
        assert_eq!(workdir("", "app"), "/app");
        assert_eq!(workdir("/a", "b/../c"), "/a/c");
        assert_eq!(workdir("/a", "/x/"), "/x");
    }

    #[test]
    fn ports_and_durations() {
        assert_eq!(port_spec("80").unwrap(), "80/tcp");
        assert_eq!(port_spec("53/UDP").unwrap(), "53/udp");
        assert!(port_spec("x").is_err());
        assert_eq!(duration("interval", "1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration("interval", "500ms").unwrap(), 500_000_000);
        assert!(duration("interval", "5").is_err());
    }
}
