//! The event journal: the latest events in memory and on disk (bounded),
//! streamed to `/events` readers. Agents journal what they do; the
//! controller journals what its agents report, each tagged with its node.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use skiff_api::events::{Event, Filters};
use tokio::sync::broadcast;

/// The events journal: every event in `<dir>/events.jsonl` (rotated once
/// at `ROTATE_BYTES`, so the disk holds at most twice that), the latest
/// `cap` of them in memory too. Readers who want to go further back
/// (`--since` an older time, a cluster session resuming after a long
/// disconnection, a reader that fell behind) read the files: a journal
/// that kept its whole history in memory grew the agent by ~9 KiB a
/// container. Each event gets an arrival number, written with it: readers
/// pick up where they left off by it, not by time, because a controller
/// receives nodes' events out of time order.
pub struct Journal {
    ring: Arc<Mutex<Ring>>,
    path: PathBuf,
    cap: usize,
    tx: broadcast::Sender<(u64, Event)>,
}

#[derive(Default)]
struct Ring {
    events: VecDeque<(u64, Event)>,
    next: u64,
    file: Option<std::fs::File>,
}

impl Ring {
    fn keep(&mut self, n: u64, e: Event, cap: usize) {
        self.next = n;
        self.events.push_back((n, e));
        while self.events.len() > cap {
            self.events.pop_front();
        }
    }

    /// Whether the events after number `after` are all in memory.
    fn covers_seq(&self, after: u64) -> bool {
        self.events.front().is_none_or(|(n, _)| *n <= after + 1)
    }
}

/// One line of the files: the event and its arrival number (0 in lines
/// written before numbers were kept).
#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(default)]
    seq: u64,
    #[serde(flatten)]
    event: Event,
}

const ROTATE_BYTES: u64 = 8 << 20;

impl Journal {
    /// Open the journal in `dir`, keeping the last `cap` events in memory.
    pub fn open(dir: &Path, cap: usize) -> std::io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("events.jsonl");
        let mut ring = Ring::default();
        for line in read_lines(files(&path)) {
            let n = if line.seq > ring.next { line.seq } else { ring.next + 1 };
            ring.keep(n, line.event, cap);
        }
        ring.file = Some(std::fs::OpenOptions::new().create(true).append(true).open(&path)?);
        let (tx, _) = broadcast::channel(4096);
        Ok(Journal {
            ring: Arc::new(Mutex::new(ring)),
            path,
            cap,
            tx,
        })
    }

    /// Record an event and hand it to every reader.
    pub fn push(&self, e: Event) {
        // Numbered, written and sent under the lock, so readers see one
        // order and the files hold every event numbered so far.
        let mut r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let seq = r.next + 1;
        let line = Line { seq, event: e };
        if let (Ok(text), Some(file)) = (serde_json::to_string(&line), r.file.as_mut()) {
            let _ = writeln!(file, "{text}");
            if file.metadata().map(|m| m.len()).unwrap_or(0) > ROTATE_BYTES {
                let _ = std::fs::rename(&self.path, self.path.with_extension("jsonl.1"));
                r.file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .ok();
            }
        }
        r.keep(seq, line.event.clone(), self.cap);
        let _ = self.tx.send((seq, line.event));
    }

    /// The arrival number of the newest event.
    pub fn last_seq(&self) -> u64 {
        self.ring.lock().unwrap_or_else(|p| p.into_inner()).next
    }

    /// How many events are held in memory.
    pub fn in_memory(&self) -> usize {
        self.ring.lock().unwrap_or_else(|p| p.into_inner()).events.len()
    }

    /// Events that arrived after number `after`, with their numbers (from
    /// memory, or from the files when memory does not go back so far).
    pub fn after_seq(&self, after: u64) -> Vec<(u64, Event)> {
        catch_up(&self.ring, &self.path, after)
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
        let (mut live, mut last, memory, opened) = {
            // Under the lock: nothing is pushed between the past and the live feed.
            let r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            let (memory, opened) = match since {
                // Older than what memory holds: the files, read below.
                Some(s) if r.events.len() >= self.cap && r.events.front().is_some_and(|(_, e)| e.time_nano > s) => {
                    (Vec::new(), Some(files(&self.path)))
                }
                Some(s) => (
                    r.events.iter().filter(|(_, e)| e.time_nano > s).cloned().collect(),
                    None,
                ),
                None => (Vec::new(), None),
            };
            (self.tx.subscribe(), r.next, memory, opened)
        };
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let end = until.map(|u| tokio::time::Instant::now() + std::time::Duration::from_nanos((u - now).max(0) as u64));
        let (ring, path) = (self.ring.clone(), self.path.clone());
        tokio::spawn(async move {
            let wanted = |e: &Event| filters.matches(e) && until.is_none_or(|u| e.time_nano <= u);
            let line = |e: &Event| {
                let mut l = serde_json::to_vec(e).unwrap_or_default();
                l.push(b'\n');
                Bytes::from(l)
            };
            let past = match opened {
                Some(files) => {
                    let (upto, since) = (last, since.unwrap_or(0));
                    tokio::task::spawn_blocking(move || {
                        read_lines(files)
                            .filter(|l| l.seq <= upto && l.event.time_nano > since)
                            .map(|l| (l.seq, l.event))
                            .collect()
                    })
                    .await
                    .unwrap_or_default()
                }
                None => memory,
            };
            for (_, e) in past.iter().filter(|(_, e)| wanted(e)) {
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
                    // Fell behind the live feed: catch up from memory or the files.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let (ring, path, after) = (ring.clone(), path.clone(), last);
                        tokio::task::spawn_blocking(move || catch_up(&ring, &path, after))
                            .await
                            .unwrap_or_default()
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

/// The journal's files, oldest first, opened now (a rotation later does
/// not change what they hold up to now).
fn files(path: &Path) -> Vec<std::fs::File> {
    [path.with_extension("jsonl.1"), path.to_path_buf()]
        .iter()
        .filter_map(|p| std::fs::File::open(p).ok())
        .collect()
}

fn read_lines(files: Vec<std::fs::File>) -> impl Iterator<Item = Line> {
    files
        .into_iter()
        .flat_map(|f| std::io::BufReader::new(f).lines().map_while(Result::ok))
        .filter_map(|l| serde_json::from_str::<Line>(&l).ok())
}

/// Events after number `after`: from memory when it goes back so far,
/// else from the files (up to the newest number at the time of the call).
fn catch_up(ring: &Mutex<Ring>, path: &Path, after: u64) -> Vec<(u64, Event)> {
    let (opened, upto) = {
        let r = ring.lock().unwrap_or_else(|p| p.into_inner());
        if r.covers_seq(after) {
            return r.events.iter().filter(|(n, _)| *n > after).cloned().collect();
        }
        (files(path), r.next)
    };
    read_lines(opened)
        .filter(|l| l.seq > after && l.seq <= upto)
        .map(|l| (l.seq, l.event))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, id: &str, name: &str) -> Event {
        Event::new(kind, action, id, [("name".to_string(), name.to_string())].into())
    }

    #[test]
    fn the_journal_survives_reopening_and_keeps_only_the_latest_in_memory() {
        let dir = std::env::temp_dir().join(format!("skiff-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ids = |v: Vec<(u64, Event)>| {
            v.into_iter()
                .map(|(n, e)| format!("{n}:{}", e.actor.id))
                .collect::<Vec<_>>()
        };
        {
            let j = Journal::open(&dir, 3).unwrap();
            for i in 0..5 {
                j.push(ev("container", "start", &format!("c{i}"), "x"));
            }
            assert_eq!(j.in_memory(), 3);
            // From memory, and from the files where memory does not reach.
            assert_eq!(ids(j.after_seq(3)), ["4:c3", "5:c4"]);
            assert_eq!(ids(j.after_seq(0)), ["1:c0", "2:c1", "3:c2", "4:c3", "5:c4"]);
        }
        let j = Journal::open(&dir, 3).unwrap();
        assert_eq!((j.in_memory(), j.last_seq()), (3, 5));
        assert_eq!(ids(j.after_seq(1)), ["2:c1", "3:c2", "4:c3", "5:c4"]);
        j.push(ev("container", "stop", "c5", "x"));
        assert_eq!(ids(j.after_seq(4)), ["5:c4", "6:c5"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
