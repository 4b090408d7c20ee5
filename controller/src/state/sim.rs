//! A stepped, seeded simulation of several controllers' raft drivers (the
//! real `Driver`, with its disk under /dev/shm) over a network that drops,
//! duplicates, delays and reorders messages and cuts nodes off. Each round
//! ticks the nodes, delivers what the network lets through and collects
//! what the drivers send; the checks are raft's guarantees as a user
//! relies on them:
//! - at most one leader per term;
//! - a node's commit index never goes back, and committed entries are the
//!   same on every node (never lost, never reordered);
//! - every change a proposer saw acknowledged is in every node's state
//!   once the network heals, also across a leader's crash and restart.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use raft::prelude::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use skiff_certs::cluster::Role;
use tokio::sync::oneshot;

use super::driver::{Driver, Input};
use super::{Command, Proposal, StoreError};

struct Sim {
    ids: Vec<u64>,
    nodes: HashMap<u64, Driver>,
    dirs: HashMap<u64, PathBuf>,
    rng: StdRng,
    queue: Vec<Message>,
    /// Nodes cut off from everyone.
    cut: HashSet<u64>,
    faults: bool,
    leaders: HashMap<u64, u64>,
    commits: HashMap<u64, u64>,
    waiting: Vec<(String, oneshot::Receiver<Result<(), StoreError>>)>,
    acked: Vec<String>,
    proposed: u64,
}

impl Sim {
    fn new(n: u64, seed: u64) -> Sim {
        let ids: Vec<u64> = (1..=n).collect();
        let mut sim = Sim {
            ids: ids.clone(),
            nodes: HashMap::new(),
            dirs: HashMap::new(),
            rng: StdRng::seed_from_u64(seed),
            queue: Vec::new(),
            cut: HashSet::new(),
            faults: true,
            leaders: HashMap::new(),
            commits: HashMap::new(),
            waiting: Vec::new(),
            acked: Vec::new(),
            proposed: 0,
        };
        for id in ids {
            let dir = PathBuf::from(format!("/dev/shm/skiff-sim-{}-{seed}-{id}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            sim.dirs.insert(id, dir);
            sim.start(id);
        }
        sim
    }

    fn start(&mut self, id: u64) {
        let d = Driver::open(&self.dirs[&id], id, &self.ids).expect("open driver");
        self.nodes.insert(id, d);
    }

    /// SIGKILL: the driver and its unsent messages are gone, the disk stays.
    fn kill(&mut self, id: u64) {
        self.nodes.remove(&id);
        self.queue.retain(|m| m.from != id && m.to != id);
    }

    fn leader(&self) -> Option<u64> {
        self.nodes.iter().find(|(_, d)| d.is_leader()).map(|(id, _)| *id)
    }

    /// Propose one change at the leader, or at any live node (a follower
    /// forwards it).
    fn propose(&mut self) {
        self.proposed += 1;
        let name = format!("client-{}", self.proposed);
        let live: Vec<u64> = self.nodes.keys().copied().collect();
        let at = self.leader().unwrap_or_else(|| live[self.rng.gen_range(0..live.len())]);
        let (done, rx) = oneshot::channel();
        let cmd = Command::AddClient {
            id: name.clone(),
            role: Role::Readonly,
            name: name.clone(),
            at: "t".into(),
        };
        self.nodes.get_mut(&at).unwrap().propose(Proposal { cmd, done });
        self.waiting.push((name, rx));
    }

    fn round(&mut self) {
        for d in self.nodes.values_mut() {
            d.tick();
        }
        let mut msgs = std::mem::take(&mut self.queue);
        if self.faults {
            // Reorder, and hold some back for a later round (delay).
            for i in (1..msgs.len()).rev() {
                let j = self.rng.gen_range(0..=i);
                msgs.swap(i, j);
            }
        }
        for m in msgs {
            if self.cut.contains(&m.from) || self.cut.contains(&m.to) {
                continue;
            }
            let copies = if !self.faults {
                1
            } else {
                match self.rng.gen_range(0..100) {
                    0..=9 => 0,   // dropped
                    10..=14 => 2, // duplicated
                    15..=24 => {
                        self.queue.push(m); // delayed
                        continue;
                    }
                    _ => 1,
                }
            };
            for _ in 0..copies {
                if let Some(d) = self.nodes.get_mut(&m.to) {
                    d.input(Input::Step(m.clone()));
                }
            }
        }
        let mut ids: Vec<u64> = self.nodes.keys().copied().collect();
        ids.sort();
        for id in ids {
            let out = self.nodes.get_mut(&id).unwrap().on_ready().expect("storage");
            self.queue.extend(out);
        }
        self.check();
    }

    fn check(&mut self) {
        for (id, d) in &self.nodes {
            if d.is_leader() {
                let first = *self.leaders.entry(d.term()).or_insert(*id);
                assert_eq!(first, *id, "two leaders in term {}", d.term());
            }
            let last = self.commits.entry(*id).or_insert(0);
            assert!(d.commit_index() >= *last, "node {id}'s commit index went back");
            *last = d.commit_index();
        }
        let mut still = Vec::new();
        for (name, mut rx) in std::mem::take(&mut self.waiting) {
            match rx.try_recv() {
                Ok(Ok(())) => self.acked.push(name),
                Ok(Err(_)) | Err(oneshot::error::TryRecvError::Closed) => {}
                Err(oneshot::error::TryRecvError::Empty) => still.push((name, rx)),
            }
        }
        self.waiting = still;
    }

    /// Heal everything and run until every live node has the same commit.
    fn settle(&mut self) {
        self.faults = false;
        self.cut.clear();
        for _ in 0..300 {
            self.round();
        }
        let commits: HashSet<u64> = self.nodes.values().map(|d| d.commit_index()).collect();
        assert_eq!(commits.len(), 1, "nodes did not converge: {commits:?}");
    }

    /// Same committed log everywhere; every acknowledged change applied
    /// everywhere.
    fn verify(&self) {
        let first = self.nodes.values().next().unwrap();
        let commit = first.commit_index();
        let log = first.committed_entries(1, commit).unwrap();
        for (id, d) in &self.nodes {
            let other = d.committed_entries(1, commit).unwrap();
            assert_eq!(log.len(), other.len(), "node {id}");
            for (a, b) in log.iter().zip(&other) {
                assert_eq!((a.index, a.term, &a.data), (b.index, b.term, &b.data), "node {id}");
            }
            let state = d.state();
            let state = state.read().unwrap();
            for name in &self.acked {
                assert!(state.clients.contains_key(name), "node {id} lost acknowledged {name}");
            }
        }
        assert!(!self.acked.is_empty(), "nothing was ever acknowledged");
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.nodes.clear();
        for dir in self.dirs.values() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn replicas_agree_through_drops_duplicates_reordering_and_partitions() {
    for seed in 0..8 {
        let mut sim = Sim::new(3, seed);
        for round in 0..600u32 {
            if round % 4 == 0 {
                sim.propose();
            }
            if round % 90 == 45 {
                let victim = sim.ids[sim.rng.gen_range(0..sim.ids.len())];
                sim.cut.insert(victim);
            }
            if round % 90 == 0 {
                sim.cut.clear();
            }
            sim.round();
        }
        sim.settle();
        sim.verify();
    }
}

#[test]
fn a_killed_leader_is_replaced_and_nothing_acknowledged_is_lost() {
    for seed in 100..104 {
        let mut sim = Sim::new(5, seed);
        for _ in 0..100 {
            sim.propose();
            sim.round();
        }
        sim.settle();
        // Kill the leader and another node: three of five still decide.
        let old = sim.leader().expect("a leader");
        let term = sim.nodes[&old].term();
        sim.kill(old);
        let other = *sim.nodes.keys().next().unwrap();
        sim.kill(other);
        let mut elected = None;
        for round in 0..200 {
            sim.round();
            if let Some(l) = sim.leader().filter(|_| sim.nodes.values().all(|d| d.term() > term)) {
                elected = Some(round);
                let _ = l;
                break;
            }
        }
        // Election timeout is 10-20 ticks: a new leader within a few of them.
        assert!(elected.is_some_and(|r| r < 80), "no new leader: {elected:?}");
        for _ in 0..100 {
            sim.propose();
            sim.round();
        }
        // The dead come back from their disks and catch up.
        sim.start(old);
        sim.start(other);
        sim.settle();
        sim.verify();
        assert_eq!(sim.nodes.len(), 5);
    }
}
