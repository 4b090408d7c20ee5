//! `GET /containers/json?filters=`, read as Docker's daemon reads them
//! (`daemon/list.go`): every key must match, any of its values may
//! (`label`: all of them). Names that refer to other objects (`before`,
//! `since`, `ancestor`) are resolved once per request.

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;

use super::ApiError;
use crate::engine::{Ctr, Engine};

/// The label the controller puts on a service task's container
/// (`controller::orchestrator::TASK_LABEL`): what `is-task` asks about.
const TASK_LABEL: &str = "skiff.task.id";

pub struct ListFilter {
    raw: HashMap<String, Vec<String>>,
    /// Created times (nanoseconds) of the `before`/`since` containers.
    before: Option<i64>,
    since: Option<i64>,
    /// Image IDs of `ancestor` images and of the images built on them.
    ancestors: HashSet<String>,
    /// `publish`/`expose` as `port/proto`.
    publish: HashSet<String>,
    expose: HashSet<String>,
    is_task: Option<bool>,
}

fn invalid(key: &str, vals: &[String]) -> ApiError {
    ApiError::bad(format!("invalid filter '{key}=[{}]'", vals.join(" ")))
}

fn created_nanos(created: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(created)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

impl ListFilter {
    pub fn parse(e: &Engine, raw: HashMap<String, Vec<String>>) -> Result<Self, ApiError> {
        let mut f = Self {
            before: None,
            since: None,
            ancestors: HashSet::new(),
            publish: HashSet::new(),
            expose: HashSet::new(),
            is_task: None,
            raw: HashMap::new(),
        };
        for (k, vals) in &raw {
            match k.as_str() {
                "status" | "name" | "id" | "label" | "exited" | "volume" | "network" => {}
                "health" => {
                    if let Some(v) = vals
                        .iter()
                        .find(|v| !matches!(v.as_str(), "starting" | "healthy" | "unhealthy" | "none"))
                    {
                        return Err(ApiError::bad(format!("Unrecognised filter value for health: {v}")));
                    }
                }
                "before" | "since" => {
                    let mut at = None;
                    for v in vals {
                        let c = e.get(v)?;
                        at = Some(created_nanos(&c.record().inspect.created));
                    }
                    *(if k == "before" { &mut f.before } else { &mut f.since }) = at;
                }
                "ancestor" => f.ancestors = ancestors(e, vals),
                "publish" => f.publish = ports(k, vals)?,
                "expose" => f.expose = ports(k, vals)?,
                "is-task" => match vals.as_slice() {
                    [v] if v == "true" => f.is_task = Some(true),
                    [v] if v == "false" => f.is_task = Some(false),
                    _ => return Err(invalid(k, vals)),
                },
                other => return Err(ApiError(StatusCode::BAD_REQUEST, format!("invalid filter '{other}'"))),
            }
        }
        f.raw = raw;
        Ok(f)
    }

    /// Whether `status` is asked about (stopped containers are then listed
    /// without `all`).
    pub fn has(&self, key: &str) -> bool {
        self.raw.contains_key(key)
    }

    pub fn matches(&self, c: &Ctr) -> bool {
        self.raw.iter().all(|(k, vals)| self.key_matches(c, k, vals))
    }

    fn key_matches(&self, c: &Ctr, key: &str, vals: &[String]) -> bool {
        let r = c.record();
        let ins = &r.inspect;
        match key {
            "status" => vals.contains(&ins.state.status),
            "name" => vals
                .iter()
                .any(|v| ins.name.trim_start_matches('/').contains(v.trim_start_matches('/'))),
            "id" => vals.iter().any(|v| ins.id.starts_with(v)),
            "label" => vals.iter().all(|v| match v.split_once('=') {
                Some((lk, lv)) => ins.config.labels.get(lk).is_some_and(|x| x == lv),
                None => ins.config.labels.contains_key(v),
            }),
            "exited" => vals
                .iter()
                .any(|v| ins.state.status == "exited" && v.parse::<i64>().ok() == Some(ins.state.exit_code)),
            "ancestor" => self.ancestors.contains(&ins.image),
            "volume" => vals
                .iter()
                .any(|v| r.mounts.iter().any(|m| &m.name == v || &m.destination == v)),
            "network" => vals.iter().any(|v| {
                ins.network_settings
                    .networks
                    .iter()
                    .any(|(name, ep)| name == v || (!ep.network_id.is_empty() && ep.network_id.starts_with(v.as_str())))
            }),
            "health" => {
                let have = ins.state.health.as_ref().map_or("none", |h| h.status.as_str());
                vals.iter().any(|v| v == have)
            }
            "before" => self.before.is_some_and(|b| created_nanos(&ins.created) < b),
            "since" => self.since.is_some_and(|s| created_nanos(&ins.created) > s),
            "publish" | "expose" => {
                let ports = super::containers::port_list(&ins.network_settings.ports);
                let (want, side) = if key == "publish" {
                    (&self.publish, "PublicPort")
                } else {
                    (&self.expose, "PrivatePort")
                };
                ports.iter().any(|p| {
                    let port = p[side].as_u64().unwrap_or(0);
                    port != 0 && want.contains(&format!("{port}/{}", p["Type"].as_str().unwrap_or("tcp")))
                })
            }
            "is-task" => self.is_task == Some(ins.config.labels.contains_key(TASK_LABEL)),
            _ => false,
        }
    }
}

/// The images `vals` name (unknown ones are skipped, as Docker does) and
/// every image built on one of them (its layers start with theirs).
fn ancestors(e: &Engine, vals: &[String]) -> HashSet<String> {
    let roots: Vec<Vec<String>> = vals
        .iter()
        .filter_map(|v| e.images.resolve(v).ok())
        .map(|img| img.chain_ids())
        .collect();
    if roots.is_empty() {
        return HashSet::new();
    }
    e.images
        .ids()
        .iter()
        .filter_map(|id| e.images.load(id).ok())
        .filter(|img| {
            let chain = img.chain_ids();
            roots.iter().any(|root| chain.starts_with(root))
        })
        .map(|img| img.id)
        .collect()
}

/// `port[/proto]` or `start-end[/proto]` (tcp by default), each port of it.
fn ports(key: &str, vals: &[String]) -> Result<HashSet<String>, ApiError> {
    let mut out = HashSet::new();
    for v in vals {
        if v.contains(':') {
            return Err(ApiError::bad(format!("filter for '{key}' should not contain ':': {v}")));
        }
        let (range, proto) = v.split_once('/').unwrap_or((v, "tcp"));
        let bad = || {
            ApiError::bad(format!(
                "error while looking up for {key} {v}: invalid port range: {range}"
            ))
        };
        let (start, end) = range.split_once('-').unwrap_or((range, range));
        let (start, end): (u16, u16) = (start.parse().map_err(|_| bad())?, end.parse().map_err(|_| bad())?);
        if end < start {
            return Err(bad());
        }
        out.extend((start..=end).map(|p| format!("{p}/{proto}")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::ports;

    #[test]
    fn ports_and_ranges_as_docker_reads_them() {
        let p = ports("publish", &["80".into(), "8000-8002/udp".into()]).expect("parse");
        let mut v: Vec<_> = p.into_iter().collect();
        v.sort();
        assert_eq!(v, ["80/tcp", "8000/udp", "8001/udp", "8002/udp"]);
        assert!(
            ports("expose", &["1:2".into()]).is_err_and(|e| e.1 == "filter for 'expose' should not contain ':': 1:2")
        );
        assert!(ports("expose", &["x".into()]).is_err());
    }
}
