//! Docker's events: the message `/events` sends, its filters, and the
//! `since`/`until` times.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One event, as Docker's `/events` sends it.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Event {
    /// Docker's legacy fields, set for container events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    #[serde(default)]
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    /// Through a controller: the node the event happened on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<EventNode>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct EventNode {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "ID")]
    pub id: String,
}

impl Event {
    /// A new event now.
    pub fn new(kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Event {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let container = kind == "container";
        Event {
            status: container.then(|| action.to_string()),
            id: container.then(|| id.to_string()),
            from: container.then(|| attributes.get("image").cloned()).flatten(),
            kind: kind.into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
            node: None,
        }
    }

    /// Docker's text line: `TIME TYPE ACTION ID (k=v, …)`.
    pub fn line(&self) -> String {
        let t =
            chrono::DateTime::from_timestamp_nanos(self.time_nano).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut attrs: Vec<String> = Vec::new();
        if let Some(n) = &self.node {
            attrs.push(format!("node={}", n.name));
        }
        attrs.extend(self.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")));
        format!(
            "{t} {} {} {} ({})",
            self.kind,
            self.action,
            self.actor.id,
            attrs.join(", ")
        )
    }
}

/// `filters={"type":["container"],"event":["start"],…}` (Docker's JSON),
/// all keys must match, any value of a key may.
#[derive(Debug, Clone, Default)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    pub fn parse(json: Option<&str>) -> Result<Filters, String> {
        let Some(j) = json.filter(|j| !j.is_empty()) else {
            return Ok(Filters::default());
        };
        // Docker accepts {"k":["v"]} and the older {"k":{"v":true}}.
        let v: serde_json::Value = serde_json::from_str(j).map_err(|e| format!("invalid filters: {e}"))?;
        let mut out = BTreeMap::new();
        for (k, vals) in v.as_object().ok_or("invalid filters: not an object")? {
            let list: Vec<String> = match vals {
                serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
                serde_json::Value::Object(o) => o.keys().cloned().collect(),
                _ => return Err(format!("invalid filter value for {k}")),
            };
            let known = [
                "type",
                "event",
                "container",
                "image",
                "network",
                "volume",
                "label",
                "node",
                "scope",
            ];
            if !known.contains(&k.as_str()) {
                return Err(format!("invalid filter '{k}'"));
            }
            out.insert(k.clone(), list);
        }
        Ok(Filters(out))
    }

    pub fn matches(&self, e: &Event) -> bool {
        let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str);
        self.0.iter().all(|(k, vals)| {
            vals.iter().any(|v| match k.as_str() {
                "type" => &e.kind == v,
                "event" => &e.action == v || e.action.split(':').next() == Some(v),
                "container" => e.kind == "container" && (e.actor.id.starts_with(v.as_str()) || attr("name") == Some(v)),
                "image" => {
                    attr("image") == Some(v) || (e.kind == "image" && (&e.actor.id == v || attr("name") == Some(v)))
                }
                "network" => e.kind == "network" && (e.actor.id.starts_with(v.as_str()) || attr("name") == Some(v)),
                "volume" => e.kind == "volume" && &e.actor.id == v,
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => attr(lk) == Some(lv),
                    None => attr(v).is_some(),
                },
                "node" => e.node.as_ref().is_some_and(|n| &n.name == v || &n.id == v),
                "scope" => &e.scope == v,
                _ => false,
            })
        })
    }
}

/// `--since`/`--until`: Unix seconds (with fractions), RFC 3339, or a
/// duration before now (`10m`, `1h30m`). Nanoseconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid time {s:?}: use a Unix timestamp, RFC 3339, or a duration like 10m");
    if let Ok(f) = s.parse::<f64>() {
        return Ok((f * 1e9) as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt().ok_or_else(bad);
    }
    let ago = humantime::parse_duration(s).map_err(|_| bad())?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    Ok(now - ago.as_nanos() as i64)
}

/// The `/events` query: `filters`, `since`, `until`.
pub fn parse_query(
    q: &std::collections::HashMap<String, String>,
) -> Result<(Filters, Option<i64>, Option<i64>), String> {
    let filters = Filters::parse(q.get("filters").map(String::as_str))?;
    let time = |k: &str| q.get(k).filter(|v| !v.is_empty()).map(|v| parse_time(v)).transpose();
    Ok((filters, time("since")?, time("until")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, id: &str, name: &str) -> Event {
        Event::new(kind, action, id, [("name".to_string(), name.to_string())].into())
    }

    #[test]
    fn filters_match_like_dockers() {
        let f = Filters::parse(Some(r#"{"type":["container"],"event":["start","die"]}"#)).unwrap();
        assert!(f.matches(&ev("container", "start", "abc", "web")));
        assert!(!f.matches(&ev("container", "stop", "abc", "web")));
        assert!(!f.matches(&ev("network", "start", "abc", "web")));
        let f = Filters::parse(Some(r#"{"container":{"web":true}}"#)).unwrap();
        assert!(f.matches(&ev("container", "create", "abc", "web")));
        let mut e = ev("container", "create", "abc", "web");
        e.node = Some(EventNode {
            name: "h1".into(),
            id: "n1".into(),
        });
        assert!(Filters::parse(Some(r#"{"node":["h1"]}"#)).unwrap().matches(&e));
        assert!(!Filters::parse(Some(r#"{"node":["h2"]}"#)).unwrap().matches(&e));
        assert!(Filters::parse(Some(r#"{"colour":["red"]}"#)).is_err());
        assert!(e.line().contains("container create abc (node=h1, name=web)"));
    }

    #[test]
    fn times_are_unix_rfc3339_or_durations() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(parse_time("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000_000_000_000);
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        let ago = parse_time("1h30m").unwrap();
        assert!((now - ago - 5_400_000_000_000).abs() < 5_000_000_000);
        assert!(parse_time("yesterday").is_err());
    }
}
