//! Docker's events: the message, its filters, and a journal that keeps the
//! latest ones in memory and on disk (bounded) and streams them to
//! `/events` readers. Agents journal what they do; the controller journals
//! what its agents report, each event tagged with its node.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

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

/// The latest events, in memory and in `<dir>/events.jsonl` (rotated once
/// at `ROTATE_BYTES`, so the disk holds at most twice that). Each event gets
/// an arrival number: readers pick up where they left off by it, not by
/// time, because a controller receives nodes' events out of time order.
pub struct Journal {
    ring: Arc<Mutex<Ring>>,
    file: Mutex<Option<std::fs::File>>,
    path: PathBuf,
    cap: usize,
    tx: broadcast::Sender<(u64, Event)>,
}

#[derive(Default)]
struct Ring {
    events: VecDeque<(u64, Event)>,
    next: u64,
}

impl Ring {
    fn push(&mut self, e: Event, cap: usize) -> u64 {
        self.next += 1;
        self.events.push_back((self.next, e));
        if self.events.len() > cap {
            self.events.pop_front();
        }
        self.next
    }
}

const ROTATE_BYTES: u64 = 8 << 20;

impl Journal {
    /// Open the journal in `dir`, keeping the last `cap` events.
    pub fn open(dir: &Path, cap: usize) -> std::io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("events.jsonl");
        let mut ring = Ring::default();
        for p in [path.with_extension("jsonl.1"), path.clone()] {
            let Ok(f) = std::fs::File::open(&p) else { continue };
            for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
                if let Ok(e) = serde_json::from_str::<Event>(&line) {
                    ring.push(e, cap);
                }
            }
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        let (tx, _) = broadcast::channel(4096);
        Ok(Journal {
            ring: Arc::new(Mutex::new(ring)),
            file: Mutex::new(Some(file)),
            path,
            cap,
            tx,
        })
    }

    /// Record an event and hand it to every reader.
    pub fn push(&self, e: Event) {
        if let Ok(line) = serde_json::to_string(&e) {
            let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(file) = f.as_mut() {
                let _ = writeln!(file, "{line}");
                if file.metadata().map(|m| m.len()).unwrap_or(0) > ROTATE_BYTES {
                    let _ = std::fs::rename(&self.path, self.path.with_extension("jsonl.1"));
                    *f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)
                        .ok();
                }
            }
        }
        // Numbered and sent under the ring's lock, so readers see one order.
        let mut r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let seq = r.push(e.clone(), self.cap);
        let _ = self.tx.send((seq, e));
    }

    /// The arrival number of the newest event.
    pub fn last_seq(&self) -> u64 {
        self.ring.lock().unwrap_or_else(|p| p.into_inner()).next
    }

    /// Events that arrived after number `after`, with their numbers.
    pub fn after_seq(&self, after: u64) -> Vec<(u64, Event)> {
        let r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        r.events.iter().filter(|(n, _)| *n > after).cloned().collect()
    }

    /// Live events as they are pushed (`Lagged`: read `since` to catch up).
    pub fn subscribe(&self) -> broadcast::Receiver<(u64, Event)> {
        self.tx.subscribe()
    }

    /// What `/events` streams: past events from `since` (if given), then
    /// live ones, until `until` (if given); one JSON object per line.
    pub fn stream(
        &self,
        filters: Filters,
        since: Option<i64>,
        until: Option<i64>,
    ) -> tokio::sync::mpsc::Receiver<Bytes> {
        let (out, rx) = tokio::sync::mpsc::channel(256);
        let (mut live, past, mut last) = {
            // Under the lock: nothing is pushed between the past and the live feed.
            let r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            let past: Vec<Event> = match since {
                Some(s) => r
                    .events
                    .iter()
                    .filter(|(_, e)| e.time_nano > s)
                    .map(|(_, e)| e.clone())
                    .collect(),
                None => Vec::new(),
            };
            (self.tx.subscribe(), past, r.next)
        };
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let end = until.map(|u| tokio::time::Instant::now() + std::time::Duration::from_nanos((u - now).max(0) as u64));
        let ring = self.ring.clone();
        tokio::spawn(async move {
            let wanted = |e: &Event| filters.matches(e) && until.is_none_or(|u| e.time_nano <= u);
            let line = |e: &Event| {
                let mut l = serde_json::to_vec(e).unwrap_or_default();
                l.push(b'\n');
                Bytes::from(l)
            };
            for e in past.iter().filter(|e| wanted(e)) {
                if out.send(line(e)).await.is_err() {
                    return;
                }
            }
            if until.is_some_and(|u| u <= now) {
                return;
            }
            loop {
                let next = match end {
                    Some(t) => match tokio::time::timeout_at(t, live.recv()).await {
                        Ok(x) => x,
                        Err(_) => return,
                    },
                    None => live.recv().await,
                };
                let batch = match next {
                    Ok(x) => vec![x],
                    // Fell behind the live feed: catch up from the ring.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let r = ring.lock().unwrap_or_else(|p| p.into_inner());
                        r.events.iter().filter(|(n, _)| *n > last).cloned().collect()
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                for (n, e) in batch {
                    if n <= last {
                        continue;
                    }
                    last = n;
                    if wanted(&e) && out.send(line(&e)).await.is_err() {
                        return;
                    }
                }
            }
        });
        rx
    }
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

    #[test]
    fn the_journal_survives_reopening_and_stays_bounded() {
        let dir = std::env::temp_dir().join(format!("skiff-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let j = Journal::open(&dir, 3).unwrap();
            for i in 0..5 {
                j.push(ev("container", "start", &format!("c{i}"), "x"));
            }
            assert_eq!(j.after_seq(0).len(), 3);
        }
        let j = Journal::open(&dir, 3).unwrap();
        let ids: Vec<String> = j.after_seq(0).into_iter().map(|(_, e)| e.actor.id).collect();
        assert_eq!(ids, ["c2", "c3", "c4"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
