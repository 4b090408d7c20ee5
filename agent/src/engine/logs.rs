//! A container's log settings as the engine handles them: the daemon's
//! defaults merged in and checked at create, what the monitor is handed
//! at start (the driver, its options, the container's identity and the
//! attributes `labels`/`env` name), and where `logs` reads. The drivers
//! themselves live in the monitor (`skiff_shim::log`).

use std::collections::BTreeMap;
use std::path::Path;

use skiff_api::{ContainerInspect, LogConfig};
use skiff_shim::log::{read, Info, LogError, LogTarget};

use super::{Ctr, Engine, EngineError, Result};

impl Engine {
    /// The daemon's default log driver and options merged into a
    /// container's, as Docker's `mergeAndVerifyLogConfig`: the default
    /// driver when none is named, the default options when the driver is
    /// the default one, the cache options always; then checked.
    pub(super) fn merge_log_config(&self, lc: &mut LogConfig) -> Result<()> {
        if lc.kind.is_empty() {
            lc.kind = self.cfg.log_driver.clone();
        }
        for (k, v) in &self.cfg.log_opts {
            if lc.kind == self.cfg.log_driver || k.starts_with("cache-") {
                lc.config.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let bad = |e: String| EngineError::BadRequest(e);
        skiff_shim::log::opts::validate(&lc.kind, &lc.config).map_err(|e| bad(e.to_string()))?;
        extra_attributes(&lc.config, &BTreeMap::new(), &[]).map_err(bad)?;
        Ok(())
    }

    /// Where `logs` reads this container, or Docker's "configured logging
    /// driver does not support reading".
    pub fn log_source(&self, c: &Ctr) -> std::result::Result<read::Source, LogError> {
        let lc = c.record().inspect.host_config.log_config.clone();
        read::source(&lc.kind, &lc.config, &self.containers_dir(&c.id), &c.id)
    }
}

/// What the container's monitor needs to run its log driver; `None` for
/// the `none` driver.
pub(super) fn log_target(ins: &ContainerInspect, dir: &Path) -> std::result::Result<Option<LogTarget>, String> {
    let lc = &ins.host_config.log_config;
    if lc.kind == "none" {
        return Ok(None);
    }
    let command = std::iter::once(ins.path.as_str())
        .chain(ins.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Some(LogTarget {
        driver: if lc.kind.is_empty() {
            "json-file".into()
        } else {
            lc.kind.clone()
        },
        opts: lc.config.clone(),
        dir: dir.to_path_buf(),
        info: Info {
            id: ins.id.clone(),
            name: ins.name.trim_start_matches('/').to_string(),
            image_id: ins.image.clone(),
            image_name: ins.config.image.clone(),
            command,
            created: ins.created.clone(),
            attrs: extra_attributes(&lc.config, &ins.config.labels, &ins.config.env)?,
        },
    }))
}

/// Docker's `Info.ExtraAttributes`: the labels named by `labels` or
/// matching `labels-regex`, the environment variables named by `env` or
/// matching `env-regex`. Computed here, where the regex engine already
/// is, so the monitor carries none.
pub fn extra_attributes(
    opts: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    env: &[String],
) -> std::result::Result<BTreeMap<String, String>, String> {
    let env: BTreeMap<&str, &str> = env.iter().filter_map(|e| e.split_once('=')).collect();
    let mut out = BTreeMap::new();
    let opt = |k: &str| opts.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let regex = |k: &str| -> std::result::Result<Option<regex::Regex>, String> {
        opt(k)
            .map(|r| regex::Regex::new(r).map_err(|e| e.to_string()))
            .transpose()
    };
    for name in opt("labels").map(|l| l.split(',')).into_iter().flatten() {
        if let Some(v) = labels.get(name) {
            out.insert(name.to_string(), v.clone());
        }
    }
    if let Some(re) = regex("labels-regex")? {
        out.extend(
            labels
                .iter()
                .filter(|(k, _)| re.is_match(k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    for name in opt("env").map(|l| l.split(',')).into_iter().flatten() {
        if let Some(v) = env.get(name) {
            out.insert(name.to_string(), v.to_string());
        }
    }
    if let Some(re) = regex("env-regex")? {
        out.extend(
            env.iter()
                .filter(|(k, _)| re.is_match(k))
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn attributes_as_docker_picks_them() {
        let labels = o(&[("app", "web"), ("tier", "front"), ("other", "x")]);
        let env = vec!["REGION=eu".to_string(), "SECRET=s".to_string(), "RACK=3".to_string()];
        let got = extra_attributes(
            &o(&[
                ("labels", "app,missing"),
                ("labels-regex", "^ti"),
                ("env", "REGION"),
                ("env-regex", "^RA"),
            ]),
            &labels,
            &env,
        )
        .unwrap();
        assert_eq!(
            got,
            o(&[("app", "web"), ("tier", "front"), ("REGION", "eu"), ("RACK", "3")])
        );
        assert!(extra_attributes(&o(&[("env-regex", "(")]), &labels, &env).is_err());
    }
}
