//! Raft's durable storage on disk, in `<data>/raft/`: `log` (entries,
//! appended and fsynced before anything is acknowledged), `hardstate`
//! (term, vote, commit) and `snapshot` (the applied state at an index,
//! after which the log is cut). A torn last record (crash mid-append) is
//! dropped at load: it was never acknowledged.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use protobuf::Message;
use raft::prelude::{Entry, HardState, Snapshot};

use skiff_common::fsutil::write_atomic_mode;

pub struct Disk {
    dir: PathBuf,
    log: File,
    /// (index, byte offset) of every entry in `log`, in order.
    offsets: Vec<(u64, u64)>,
}

/// What was on disk at start.
pub struct Loaded {
    pub snapshot: Option<Snapshot>,
    pub hard_state: Option<HardState>,
    pub entries: Vec<Entry>,
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
}

impl Disk {
    pub fn open(dir: &Path) -> io::Result<(Disk, Loaded)> {
        fs::create_dir_all(dir)?;
        let snapshot = read_opt(&dir.join("snapshot"))?
            .map(|b| Snapshot::parse_from_bytes(&b).map_err(|e| corrupt(&dir.join("snapshot"), e)))
            .transpose()?;
        let hard_state = read_opt(&dir.join("hardstate"))?
            .map(|b| HardState::parse_from_bytes(&b).map_err(|e| corrupt(&dir.join("hardstate"), e)))
            .transpose()?;
        let path = dir.join("log");
        let mut log = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let mut data = Vec::new();
        log.read_to_end(&mut data)?;
        let after = snapshot.as_ref().map_or(0, |s| s.get_metadata().index);
        let (mut entries, mut offsets, mut pos) = (Vec::new(), Vec::new(), 0usize);
        while pos + 4 <= data.len() {
            let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap_or_default()) as usize;
            let Some(body) = data.get(pos + 4..pos + 4 + len) else {
                break;
            };
            let Ok(e) = Entry::parse_from_bytes(body) else {
                break;
            };
            if e.index > after {
                // A later record for the same index replaces the earlier
                // one and everything after it (a truncated conflict).
                while offsets.last().is_some_and(|(i, _)| *i >= e.index) {
                    offsets.pop();
                    entries.pop();
                }
                offsets.push((e.index, pos as u64));
                entries.push(e);
            }
            pos += 4 + len;
        }
        if pos < data.len() {
            tracing::warn!(
                bytes = data.len() - pos,
                "dropping a torn record at the end of the raft log"
            );
            log.set_len(pos as u64)?;
        }
        log.seek(SeekFrom::End(0))?;
        let disk = Disk {
            dir: dir.to_path_buf(),
            log,
            offsets,
        };
        Ok((
            disk,
            Loaded {
                snapshot,
                hard_state,
                entries,
            },
        ))
    }

    /// Append entries (replacing any from the first one's index on) and fsync.
    pub fn append(&mut self, entries: &[Entry]) -> io::Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        if let Some(k) = self.offsets.iter().position(|(i, _)| *i >= first.index) {
            let cut = self.offsets[k].1;
            self.log.set_len(cut)?;
            self.offsets.truncate(k);
        }
        let pos = self.log.seek(SeekFrom::End(0))?;
        let mut buf = Vec::new();
        for e in entries {
            let body = e.write_to_bytes().map_err(io::Error::other)?;
            self.offsets.push((e.index, pos + buf.len() as u64));
            buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buf.extend_from_slice(&body);
        }
        self.log.write_all(&buf)?;
        self.log.sync_data()
    }

    pub fn set_hard_state(&self, hs: &HardState) -> io::Result<()> {
        write_atomic_mode(
            &self.dir.join("hardstate"),
            &hs.write_to_bytes().map_err(io::Error::other)?,
            0o600,
        )
    }

    /// Keep `snap` and drop the log up to its index: the snapshot is
    /// written first, so a crash in between leaves entries that load skips.
    pub fn compact(&mut self, snap: &Snapshot, rest: &[Entry]) -> io::Result<()> {
        write_atomic_mode(
            &self.dir.join("snapshot"),
            &snap.write_to_bytes().map_err(io::Error::other)?,
            0o600,
        )?;
        let tmp = self.dir.join("log.new");
        let mut offsets = Vec::new();
        {
            let mut f = File::create(&tmp)?;
            let mut pos = 0u64;
            for e in rest {
                let body = e.write_to_bytes().map_err(io::Error::other)?;
                f.write_all(&(body.len() as u32).to_le_bytes())?;
                f.write_all(&body)?;
                offsets.push((e.index, pos));
                pos += 4 + body.len() as u64;
            }
            f.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join("log"))?;
        File::open(&self.dir)?.sync_all()?;
        self.log = OpenOptions::new().read(true).append(true).open(self.dir.join("log"))?;
        self.offsets = offsets;
        Ok(())
    }
}

fn read_opt(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64, data: &str) -> Entry {
        Entry {
            index,
            term,
            data: data.as_bytes().to_vec().into(),
            ..Default::default()
        }
    }

    #[test]
    fn entries_survive_reopen_conflicts_replace_and_torn_tails_drop() {
        let dir = std::env::temp_dir().join(format!("skiff-raft-disk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        {
            let (mut d, loaded) = Disk::open(&dir).unwrap();
            assert!(loaded.entries.is_empty() && loaded.snapshot.is_none());
            d.append(&[entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")])
                .unwrap();
            d.append(&[entry(3, 2, "c2"), entry(4, 2, "d")]).unwrap();
        }
        // A torn record at the end.
        OpenOptions::new()
            .append(true)
            .open(dir.join("log"))
            .unwrap()
            .write_all(&[50, 0, 0, 0, 1, 2])
            .unwrap();
        let (mut d, loaded) = Disk::open(&dir).unwrap();
        let got: Vec<_> = loaded.entries.iter().map(|e| (e.index, e.term)).collect();
        assert_eq!(got, vec![(1, 1), (2, 1), (3, 2), (4, 2)]);
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 3;
        snap.mut_metadata().term = 2;
        d.compact(&snap, &loaded.entries[3..]).unwrap();
        d.append(&[entry(5, 2, "e")]).unwrap();
        drop(d);
        let (_, loaded) = Disk::open(&dir).unwrap();
        assert_eq!(loaded.snapshot.unwrap().get_metadata().index, 3);
        let got: Vec<_> = loaded.entries.iter().map(|e| e.index).collect();
        assert_eq!(got, vec![4, 5]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
