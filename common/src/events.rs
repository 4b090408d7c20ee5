//! The event journal: the latest events in memory and on disk (bounded),
//! streamed to `/events` readers. Agents journal what they do; the
//! controller journals what its agents report, each tagged with its node.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use skiff_api::events::{Event, Filters};
use tokio::sync::broadcast;

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
