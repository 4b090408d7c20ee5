//! At agent start: re-adopt every container whose supervisor outlived the
//! previous agent process, record the exits of those that ended while it
//! was away, and start what the restart policies say.
//!
//! A start is known by its supervisor directory (`shim.json` under the
//! exec root), written before the supervisor exists, not by the record:
//! an agent killed between launching a supervisor and recording "running"
//! leaves a record that still says `created` (or `exited`) for a container
//! that runs. Such a start is finished here from its launch note, so a
//! container whose supervisor lives is never forgotten.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::container::Ctr;
use super::state::Status;
use super::Engine;
use crate::runtime::protocol::ExitRecord;
use crate::runtime::supervisor::{self, Connection, Event};
use skiff_api::NetworkSettings;
use skiff_common::fsutil::read_json;

/// The launch note, beside `shim.json`: what an adopting agent needs that
/// the record gets only once the start is recorded.
pub const LAUNCH_NOTE: &str = "launch.json";

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct LaunchNote {
    pub network_settings: NetworkSettings,
    pub ifaces: BTreeMap<String, String>,
}

type Found = Option<(Connection, mpsc::UnboundedReceiver<Event>, i32)>;

impl Engine {
    pub async fn recover(self: &Arc<Self>) {
        // Look for every launched container's supervisor at once: one that
        // is still creating its container must not hold up the rest.
        let mut looking = tokio::task::JoinSet::new();
        let records = self.load_records();
        self.collect_orphans();
        for c in records {
            let st = c.state();
            let run = self.run_dir(&c.id);
            if !(st.running || st.restarting || run.join("shim.json").exists()) {
                continue;
            }
            let socket = self.socket_path(&c.id);
            looking.spawn(async move {
                let found = supervisor::find(&run, &socket).await;
                (c, found)
            });
        }
        while let Some(Ok((c, found))) = looking.join_next().await {
            self.settle(&c, found).await;
        }
        // Volumes mounted for containers that ended while no agent was there.
        self.volumes.sweep();
        if let Err(e) = self.networks.sync_firewall() {
            tracing::warn!("{e:#}");
        }
        // Restart policies at daemon start: always, and unless-stopped when
        // the user had not stopped it.
        for c in self.all() {
            let rec = c.record().clone();
            let policy = rec.inspect.host_config.restart_policy.name.as_str();
            let st = Status::of(&rec.inspect.state);
            if rec.inspect.state.running || st == Status::Created {
                continue;
            }
            let go = policy == "always" || (policy == "unless-stopped" && !rec.manually_stopped);
            if go && st != Status::Restarting {
                let _op = c.op.lock().await;
                if let Err(e) = self.start_locked(&c).await {
                    tracing::warn!(container = %&c.id[..12], "restart at daemon start failed: {e}");
                }
            }
        }
    }

    /// One launched container: adopt it, record its exit, or (a start cut
    /// short whose supervisor never got going) undo the start.
    async fn settle(self: &Arc<Self>, c: &Arc<Ctr>, found: Found) {
        let st = c.state();
        let exit_file = self.containers_dir(&c.id).join("exit.json");
        match found {
            Some((conn, events, pid)) => {
                self.remove_stray_links(c).await;
                self.adopt(c, conn, events, pid)
            }
            None if st.running || st.restarting => {
                self.exited(c, read_json::<ExitRecord>(&exit_file).ok()).await;
            }
            None => match read_json::<ExitRecord>(&exit_file) {
                // It ran and ended while no agent was there.
                Ok(exit) => self.exited(c, Some(exit)).await,
                Err(_) => {
                    tracing::info!(container = %&c.id[..12], "undoing a start cut short");
                    self.teardown(&c.id);
                }
            },
        }
    }

    /// Interfaces in a running container's own namespace that its record
    /// does not name: a `network connect` cut short between plumbing the
    /// interface and recording it. Its address was never reserved in the
    /// record, so it goes (the connect can be repeated).
    async fn remove_stray_links(&self, c: &Ctr) {
        let (mode, netns, keep) = {
            let r = c.record();
            let ns = &r.inspect.network_settings;
            let keep: Vec<String> = r.ifaces.values().cloned().collect();
            (r.inspect.host_config.network_mode.clone(), ns.sandbox_key.clone(), keep)
        };
        let own = std::path::Path::new(&netns) == self.netns_path(&c.id);
        if mode == "host" || mode.starts_with("container:") || !own {
            return;
        }
        match crate::network::netlink::remove_strays(std::path::Path::new(&netns), keep).await {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(container = %&c.id[..12], ?gone, "removed interfaces no record names")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(container = %&c.id[..12], "checking the container's interfaces: {e:#}"),
        }
    }

    fn adopt(self: &Arc<Self>, c: &Arc<Ctr>, conn: Connection, events: mpsc::UnboundedReceiver<Event>, pid: i32) {
        if !c.state().running {
            // The start was cut short before it was recorded: record it now.
            let note = read_json::<LaunchNote>(&self.run_dir(&c.id).join(LAUNCH_NOTE)).ok();
            let recorded = c.update(&self.containers_dir(&c.id), |r| {
                Status::started(&mut r.inspect.state, pid);
                if let Some(n) = note {
                    r.inspect.network_settings = n.network_settings;
                    r.ifaces = n.ifaces;
                }
            });
            if let Err(e) = recorded {
                tracing::warn!(container = %&c.id[..12], "recording an adopted start: {e}");
            }
            self.emit_container(c, "start", &[]);
        }
        // The running container holds its root filesystem.
        if let Err(e) = self.images.mount(&c.id) {
            tracing::warn!(container = %&c.id[..12], "root filesystem: {e}");
        }
        *c.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
        self.readopt_networks(c);
        self.readopt_volumes(c);
        self.clone().monitor(c.clone(), events);
        // Probing resumes, from `starting` as in Docker.
        self.start_health(c);
        tracing::info!(container = %&c.id[..12], pid, "re-adopted running container");
    }
}
