//! Starting, stopping, exits, restart policies, removal, and re-adopting
//! containers whose supervisors outlived an earlier agent process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::container::{Ctr, Record};
use super::recover::{LaunchNote, LAUNCH_NOTE};
use super::state::Status;
use super::{Engine, EngineError, Result};
use crate::ids::now;
use crate::runtime::cgroups::Cgroup;
use crate::runtime::protocol::{ExitRecord, LaunchError, LaunchFailure, Mode, ShimConfig};
use crate::runtime::spec::{self, NetNs, SpecInput};
use crate::runtime::supervisor::{self, Connection, Event};
use skiff_common::fsutil::{self, read_json};

/// Signal names and numbers as `docker kill -s` and `--stop-signal` take them.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let sig: nix::sys::signal::Signal = format!("SIG{name}")
        .parse()
        .map_err(|_| EngineError::BadRequest(format!("Invalid signal: {s}")))?;
    Ok(sig as i32)
}

/// `/etc/hosts` as Docker writes it: localhost, `--add-host`, links, and
/// the container's own address and hostname.
fn hosts_file(extra: &[String], att: &super::networking::Attached, hostname: &str) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for h in extra {
        if let Some((name, ip)) = h.split_once(':') {
            s.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    for (ip, alias, name, short) in &att.links {
        s.push_str(&format!("{ip}\t{alias} {short} {name}\n"));
    }
    if let Some(ip) = att.ip {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    if let Some(ip6) = att.ip6 {
        s.push_str(&format!("{ip6}\t{hostname}\n"));
    }
    s
}

/// resolv.conf for a container on a user-defined network: the embedded
/// DNS, the host's search domains, `ndots:0` (as Docker writes it).
pub(super) fn embedded_resolv_conf(search: &[String]) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = format!("nameserver {}\n", crate::network::dns::ADDR);
    if search.is_empty() {
        for line in host.lines().filter(|l| l.trim_start().starts_with("search")) {
            out.push_str(line.trim());
            out.push('\n');
        }
    } else {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    out.push_str("options ndots:0\n");
    out
}

/// The host's resolv.conf without loopback resolvers, which a container
/// cannot reach; Docker falls back to public resolvers when none are left.
fn resolv_conf(dns: &[String], search: &[String]) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" || !dns.is_empty() {
                continue;
            }
            servers += 1;
        } else if t.starts_with("search") && !search.is_empty() {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
        servers += 1;
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

impl Engine {
    pub(super) fn netns_path(&self, id: &str) -> std::path::PathBuf {
        self.cfg.exec_root.join("netns").join(id)
    }

    pub(super) fn cgroups_path(&self, id: &str) -> String {
        format!("/{}/{id}", self.cfg.cgroup_parent.trim_matches('/'))
    }

    /// The container's cgroup.
    pub(super) fn cgroup(&self, id: &str) -> Cgroup {
        Cgroup::new(self.cgroup_v2, self.cgroups_path(id))
    }

    /// `POST /containers/{id}/start`.
    pub async fn start(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        if c.is_running() {
            return Err(EngineError::NotModified);
        }
        let dir = self.containers_dir(&c.id);
        c.update(&dir, |r| {
            r.manually_stopped = false;
            super::container::fill_paths(&mut r.inspect, &dir);
        })?;
        self.start_locked(&c).await?;
        Ok(())
    }

    /// Start with the container's operation lock held; every start (API,
    /// restart policy, daemon start) reports its network connects and
    /// `start`, as Docker does.
    pub(super) async fn start_locked(self: &Arc<Self>, c: &Arc<Ctr>) -> Result<()> {
        match self.launch(c).await {
            Ok(()) => {
                self.emit_networks(c, "connect");
                self.emit_container(c, "start", &[]);
                self.start_health(c);
                Ok(())
            }
            Err((code, msg)) => {
                self.teardown(&c.id);
                let dir = self.containers_dir(&c.id);
                c.update(&dir, |r| {
                    let s = &mut r.inspect.state;
                    s.exit_code = code;
                    s.error = msg.clone();
                    if Status::of(s) != Status::Created {
                        Status::Exited.apply(s);
                    }
                })?;
                // As Docker: an auto-remove container that cannot start is removed.
                if c.record().inspect.host_config.auto_remove {
                    c.exits.send_modify(|e| e.last_code = code);
                    let _ = self.remove_now(c, true, true).await;
                }
                Err(if code == 125 {
                    EngineError::Internal(msg)
                } else {
                    EngineError::BadRequest(msg)
                })
            }
        }
    }

    /// Prepare the root filesystem, namespace and bundle, and run the
    /// container under a new supervisor. Errors carry Docker's exit code.
    async fn launch(self: &Arc<Self>, c: &Arc<Ctr>) -> std::result::Result<(), (i64, String)> {
        let internal = |e: &dyn std::fmt::Display| (125i64, e.to_string());
        let t0 = Instant::now();
        self.warmer.keep_open(crate::runtime::cgroup_warmup::HOLD);
        let step = |what: &str| tracing::debug!(container = %&c.id[..12], ms = t0.elapsed().as_secs_f64() * 1000.0, "start: {what}");
        let rec = c.record().clone();
        let ins = &rec.inspect;
        let id = c.id.clone();
        let dir = self.containers_dir(&id);
        // The log driver's destination is checked before anything is set
        // up, so an unreachable one fails the start as Docker's does.
        let log = super::logs::log_target(ins, &dir)
            .map_err(|e| internal(&format!("failed to initialize logging driver: {e}")))?;
        if let Some(t) = log.clone().filter(|t| skiff_shim::log::opts::is_remote(&t.driver)) {
            tokio::task::spawn_blocking(move || skiff_shim::log::open(&t, true).map(drop))
                .await
                .map_err(|e| internal(&e))?
                .map_err(|e| internal(&format!("failed to initialize logging driver: {e}")))?;
        }
        let run = self.run_dir(&id);
        std::fs::create_dir_all(&run).map_err(|e| internal(&e))?;
        let rootfs = self.images.mount(&id).map_err(|e| internal(&e))?;
        let hc = &ins.host_config;
        let cfg = &ins.config;
        step("rootfs mounted");

        let runtime_err = |msg: String| (125i64, format!("OCI runtime create failed: {msg}: unknown"));
        spec::find_executable(&rootfs, &cfg.env, &ins.path).map_err(|(code, m)| {
            (
                code,
                format!(
                    "OCI runtime create failed: runc create failed: unable to start container process: {m}: unknown"
                ),
            )
        })?;
        let mut user = spec::resolve_user(&rootfs, &cfg.user).map_err(runtime_err)?;
        let groups = hc.group_add.as_deref().unwrap_or_default();
        user.additional_gids
            .extend(spec::resolve_groups(&rootfs, groups).map_err(runtime_err)?);
        if !cfg.working_dir.is_empty() {
            let wd = rootfs.join(cfg.working_dir.trim_start_matches('/'));
            if !wd.exists() {
                std::fs::create_dir_all(&wd).map_err(|e| internal(&e))?;
                let _ = self.container_ids(&id).chown(&wd, user.uid, user.gid);
            }
        }
        // The network namespace: the host's, another container's, or a new
        // one with this container's endpoints plumbed in.
        let mode = hc.network_mode.as_str();
        let mut att = super::networking::Attached::default();
        let mut shared_files: Option<std::path::PathBuf> = None;
        let mut hostname = cfg.hostname.clone();
        let mut userns = None;
        let net = if mode == "host" {
            hostname = nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default();
            NetNs::Host
        } else if let Some(other) = mode.strip_prefix("container:") {
            let o = self.get(other).map_err(|e| internal(&e))?;
            let oi = o.inspect();
            if !oi.state.running {
                return Err((125, format!("cannot join network of a non running container: {other}")));
            }
            hostname = oi.config.hostname.clone();
            shared_files = Some(self.containers_dir(&o.id));
            userns = self.shared_userns(hc, &o.id).map_err(|e| internal(&e))?;
            if oi.host_config.network_mode == "host" {
                NetNs::Host
            } else {
                NetNs::Path(self.netns_path(&o.id))
            }
        } else {
            let p = self.netns_path(&id);
            if !crate::images::driver::is_mountpoint(&p) {
                userns = self
                    .new_netns(&id, hc, &p)
                    .map_err(|e| internal(&format!("creating network namespace: {e}")))?;
            }
            att = self.attach_networks(c, &p).await.map_err(|e| internal(&e))?;
            NetNs::Path(p)
        };
        step("network ready");
        let write = |name: &str, data: String| std::fs::write(dir.join(name), data).map_err(|e| internal(&e));
        match (&net, &shared_files) {
            (_, Some(from)) => {
                for f in ["hosts", "resolv.conf"] {
                    std::fs::copy(from.join(f), dir.join(f)).map_err(|e| internal(&e))?;
                }
            }
            (NetNs::Host, None) => {
                write("hosts", std::fs::read_to_string("/etc/hosts").unwrap_or_default())?;
                write("resolv.conf", resolv_conf(&hc.dns, &hc.dns_search))?;
            }
            _ => {
                write("hosts", hosts_file(&hc.extra_hosts, &att, &hostname))?;
                let rc = if att.embedded_dns {
                    embedded_resolv_conf(&hc.dns_search)
                } else {
                    resolv_conf(&hc.dns, &hc.dns_search)
                };
                write("resolv.conf", rc)?;
            }
        }
        write("hostname", format!("{hostname}\n"))?;
        let mut binds = vec![
            (dir.join("resolv.conf"), "/etc/resolv.conf".to_string(), false),
            (dir.join("hostname"), "/etc/hostname".to_string(), false),
            (dir.join("hosts"), "/etc/hosts".to_string(), false),
        ];
        let files: Vec<_> = binds.iter().map(|b| b.0.clone()).collect();
        self.own_files(&files).map_err(|e| internal(&e))?;
        let mounts = self.mount_points(c, &rec.mounts).map_err(|e| (125, e))?;
        step("files and namespace ready");
        let mut caps = spec::capabilities(&hc.cap_add, &hc.cap_drop, hc.privileged).map_err(|e| (125, e))?;
        let conf =
            super::security::confinement(hc, &caps, self.cfg.no_new_privileges).map_err(|e| (125, e.to_string()))?;
        let seccomp = conf
            .seccomp_load(&self.seccomp_dir(), &mut caps)
            .map_err(|e| (125, e.to_string()))?;
        let mut env: Vec<String> = cfg.env.to_vec();
        super::container::with_default_path(&mut env);
        if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
            env.push(format!("HOSTNAME={hostname}"));
        }
        if cfg.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        let mut args = Vec::new();
        if hc.init == Some(true) {
            // As Docker: a static init, bind-mounted read-only, runs as PID 1
            // and forwards signals to the command and reaps zombies.
            let init = self
                .cfg
                .init_path
                .clone()
                .ok_or((125, "--init: no init binary configured".to_string()))?;
            binds.push((init, "/sbin/docker-init".into(), true));
            args.extend(["/sbin/docker-init".to_string(), "--".to_string()]);
        }
        args.push(ins.path.clone());
        args.extend(ins.args.iter().cloned());
        let spec = spec::build(&SpecInput {
            rootfs: &rootfs,
            args,
            env,
            cwd: if cfg.working_dir.is_empty() {
                "/".into()
            } else {
                cfg.working_dir.clone()
            },
            user,
            hostname,
            tty: cfg.tty,
            readonly: hc.readonly_rootfs,
            privileged: hc.privileged,
            caps,
            cgroups_path: self.cgroups_path(&id),
            net,
            userns,
            binds,
            mounts,
            cgroup_v2: self.cgroup_v2,
            cgroup_v1: crate::runtime::cgroups::v1_hierarchies(),
            limits: super::limits::limits(&hc.resources).map_err(runtime_err)?,
            devices: super::limits::devices(hc).map_err(runtime_err)?,
            rlimits: super::limits::rlimits(hc).map_err(runtime_err)?,
            oom_score_adj: hc.oom_score_adj,
            sysctls: super::limits::sysctls(hc),
            shm_size: hc.shm_size,
            no_new_privileges: conf.no_new_privileges,
            apparmor: conf.apparmor,
        });
        spec::write_bundle(&run, &spec).map_err(|e| internal(&e))?;
        let exit_file = dir.join("exit.json");
        let _ = std::fs::remove_file(&exit_file);
        // A stale runtime state from a crash would block the new create.
        let _ = std::fs::remove_dir_all(self.runtime_root().join(&id));
        let shim = ShimConfig {
            id: id.clone(),
            mode: Mode::Init { bundle: run.clone() },
            runtime_root: self.runtime_root(),
            tty: cfg.tty,
            stdin: cfg.open_stdin,
            log,
            exit_file,
            socket: self.socket_path(&id),
            seccomp,
        };
        // What a restarted agent needs to adopt this start should it die
        // before recording it: the endpoints attached above.
        let note = {
            let r = c.record();
            LaunchNote {
                network_settings: r.inspect.network_settings.clone(),
                ifaces: r.ifaces.clone(),
            }
        };
        fsutil::write_json_volatile(&run.join(LAUNCH_NOTE), &note).map_err(|e| internal(&e))?;
        step("bundle written");
        let pid = supervisor::launch(&run, &shim).await.map_err(|e| {
            let kind = e.downcast_ref::<LaunchError>().map_or(LaunchFailure::Other, |l| l.kind);
            (kind.exit_code(), format!("OCI runtime create failed: {e:#}: unknown"))
        })?;
        step("supervisor reported");
        // libcontainer never applies the spec's disableOOMKiller.
        if hc.resources.oom_kill_disable == Some(true) {
            let off = spec::Limits {
                oom_kill_disable: Some(true),
                ..Default::default()
            };
            if let Err(e) = self.cgroup(&id).apply(&off) {
                tracing::warn!(container = %&id[..12], "--oom-kill-disable: {e}");
            }
        }
        crate::crashpoint::at("supervisor-reported");
        // Running from now on; the monitor (started after this, so an early
        // exit cannot be overwritten) records the exit.
        c.update(&dir, |r| Status::started(&mut r.inspect.state, pid))
            .map_err(|e| internal(&e))?;
        step("recorded running");
        let events = match Connection::connect(&shim.socket).await {
            Ok((conn, events)) => {
                *c.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
                events
            }
            Err(e) => {
                // Gone already: the monitor finds its exit record.
                tracing::warn!(container = %&id[..12], "supervisor not reachable after start: {e:#}");
                mpsc::unbounded_channel().1
            }
        };
        step("connected");
        self.clone().monitor(c.clone(), events);
        tracing::info!(container = %&id[..12], pid, "started");
        Ok(())
    }

    /// Follow a supervisor's events until its process ends.
    pub(super) fn monitor(self: Arc<Self>, c: Arc<Ctr>, mut events: mpsc::UnboundedReceiver<Event>) {
        tokio::spawn(async move {
            let mut code: Option<i32> = None;
            while let Some(ev) = events.recv().await {
                match ev {
                    Event::Output(s, data) => {
                        let _ = c.output.send((s, data));
                    }
                    Event::Started(_) => {}
                    Event::Exited(x) => {
                        code = Some(x);
                        break;
                    }
                }
            }
            let exit_file = self.containers_dir(&c.id).join("exit.json");
            let record: Option<ExitRecord> = match code {
                Some(code) => Some(ExitRecord {
                    code,
                    finished_at: now(),
                    oom_killed: false,
                }),
                None => {
                    // The connection dropped: the supervisor is gone and
                    // has (or has not) left its record.
                    let mut r = None;
                    for _ in 0..20 {
                        if let Ok(x) = read_json::<ExitRecord>(&exit_file) {
                            r = Some(x);
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    r
                }
            };
            self.exited(&c, record).await;
        });
    }

    /// Undo what `launch` set up on the host (mounts, volumes, namespace,
    /// bundle, and the supervisor's socket, which a supervisor killed with
    /// SIGKILL leaves behind).
    pub(super) fn teardown(&self, id: &str) {
        self.detach_networks(id);
        self.cgroup(id).kill_and_remove();
        let _ = std::fs::remove_file(self.socket_path(id));
        let _ = self.images.unmount(id);
        self.unmount_volumes(id);
        let netns = self.netns_path(id);
        if netns.exists() {
            if let Err(e) = crate::network::netlink::clear_blocking(&netns) {
                tracing::debug!(container = %&id[..12.min(id.len())], "removing interfaces: {e:#}");
            }
        }
        crate::runtime::netns::remove(&netns);
        crate::runtime::netns::remove(&self.userns_path(id));
        let _ = self.exec_trash.remove(&self.run_dir(id));
        let _ = self.exec_trash.remove(&self.runtime_root().join(id));
    }

    /// Record an exit, clean up, and apply the restart policy.
    pub(super) async fn exited(self: &Arc<Self>, c: &Arc<Ctr>, record: Option<ExitRecord>) {
        *c.conn.lock().unwrap_or_else(|e| e.into_inner()) = None;
        c.stop_health();
        // The kernel's OOM kill count goes with the cgroup: read it first.
        let oom = record.as_ref().is_some_and(|r| r.oom_killed) || self.cgroup(&c.id).oom_kills() > 0;
        self.teardown(&c.id);
        crate::crashpoint::at("exit-torn-down");
        let dir = self.containers_dir(&c.id);
        let (code, finished, err) = match &record {
            Some(r) => (r.code as i64, r.finished_at.clone(), String::new()),
            None => (
                255,
                now(),
                "container supervisor disappeared (host reboot or supervisor killed)".to_string(),
            ),
        };
        let started_at = c.state().started_at;
        let auto_remove = c.record().inspect.host_config.auto_remove;
        let exited = |r: &mut Record| {
            let s = &mut r.inspect.state;
            Status::Exited.apply(s);
            s.pid = 0;
            s.exit_code = code;
            s.finished_at = finished.clone();
            s.error = err;
            s.oom_killed = oom;
        };
        if auto_remove {
            c.update_unsaved(exited);
        } else {
            let _ = c.update(&dir, exited);
        }
        tracing::info!(container = %&c.id[..12], code, oom, "exited");
        if oom {
            self.emit_container(c, "oom", &[]);
        }
        self.emit_container(c, "die", &[("exitCode", code.to_string())]);
        self.emit_networks(c, "disconnect");
        c.exits.send_modify(|e| {
            e.count += 1;
            e.last_code = code;
        });
        let rec = c.record().clone();
        let hc = &rec.inspect.host_config;
        if hc.auto_remove {
            let _ = self.remove_now(c, true, true).await;
            return;
        }
        let policy = hc.restart_policy.name.as_str();
        let retries = rec.inspect.restart_count;
        let restart = !rec.manually_stopped
            && match policy {
                "always" | "unless-stopped" => true,
                "on-failure" => {
                    code != 0
                        && (hc.restart_policy.maximum_retry_count == 0
                            || retries < hc.restart_policy.maximum_retry_count)
                }
                _ => false,
            };
        if !restart {
            return;
        }
        // Docker's back-off: 100 ms doubling, reset after 10 s of running.
        let ran = chrono::DateTime::parse_from_rfc3339(&started_at)
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(0);
        let delay = if ran >= 10 {
            100
        } else {
            (100u64 << retries.clamp(0, 10) as u64).min(60_000)
        };
        let _ = c.update(&dir, |r| {
            r.inspect.restart_count += 1;
            Status::Restarting.apply(&mut r.inspect.state);
        });
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let _op = c.op.lock().await;
            if c.record().manually_stopped || c.is_running() || c.exits.borrow().removed {
                let _ = c.update(&engine.containers_dir(&c.id), |r| {
                    if Status::of(&r.inspect.state) == Status::Restarting {
                        Status::Exited.apply(&mut r.inspect.state);
                    }
                });
                return;
            }
            if let Err(e) = engine.start_locked(&c).await {
                tracing::warn!(container = %&c.id[..12], "restart failed: {e}");
            }
        });
    }

    /// Record that the user stopped the container. A full disk must not
    /// keep a container from stopping: the flag holds in memory (the
    /// record changes before it is written) and the next write carries it.
    fn mark_stopped(&self, c: &Ctr) {
        if let Err(e) = c.update(&self.containers_dir(&c.id), |r| r.manually_stopped = true) {
            tracing::warn!(container = %&c.id[..12], "recording the stop: {e}");
        }
    }

    /// Send a signal through the container's supervisor.
    pub async fn signal(&self, c: &Ctr, sig: i32) -> Result<()> {
        let conn = c
            .connection()
            .ok_or_else(|| EngineError::Conflict(format!("Container {} is not running", c.id)))?;
        conn.signal(sig).await.map_err(EngineError::from)
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, key: &str, signal: Option<&str>) -> Result<()> {
        let c = self.get(key)?;
        let sig = parse_signal(signal.unwrap_or("KILL"))?;
        if !c.is_running() {
            return Err(EngineError::Conflict(format!("Container {} is not running", c.id)));
        }
        if sig == libc::SIGKILL || sig == libc::SIGTERM {
            self.mark_stopped(&c);
        }
        self.signal(&c, sig).await?;
        self.emit_container(&c, "kill", &[("signal", sig.to_string())]);
        Ok(())
    }

    /// Wait until the container's exit count passes `seen`, up to `limit`.
    async fn wait_exit(c: &Ctr, seen: u64, limit: Duration) -> bool {
        let mut rx = c.exits.subscribe();
        let done = tokio::time::timeout(limit, rx.wait_for(|e| e.count > seen || e.removed))
            .await
            .is_ok();
        done
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the timeout.
    pub async fn stop(&self, key: &str, timeout: Option<i64>) -> Result<()> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        self.stop_locked(&c, timeout).await?;
        self.emit_container(&c, "stop", &[]);
        Ok(())
    }

    async fn stop_locked(&self, c: &Ctr, timeout: Option<i64>) -> Result<()> {
        let rec = c.record().clone();
        if !rec.inspect.state.running {
            if rec.inspect.state.restarting {
                c.update(&self.containers_dir(&c.id), |r| {
                    r.manually_stopped = true;
                })?;
                return Ok(());
            }
            return Err(EngineError::NotModified);
        }
        self.mark_stopped(c);
        if rec.inspect.state.paused {
            let _ = self.freeze(c, false);
        }
        let seen = c.exits.borrow().count;
        let sig = parse_signal(rec.inspect.config.stop_signal.as_deref().unwrap_or("SIGTERM")).unwrap_or(libc::SIGTERM);
        let t = timeout.or(rec.inspect.config.stop_timeout).unwrap_or(10);
        let _ = self.signal(c, sig).await;
        crate::crashpoint::at("stop-signalled");
        if t >= 0 && Self::wait_exit(c, seen, Duration::from_secs(t as u64)).await {
            return Ok(());
        }
        let _ = self.signal(c, libc::SIGKILL).await;
        if !Self::wait_exit(c, seen, Duration::from_secs(30)).await {
            return Err(EngineError::Internal(format!(
                "container {} did not stop after SIGKILL",
                c.id
            )));
        }
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart(self: &Arc<Self>, key: &str, timeout: Option<i64>) -> Result<()> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        match self.stop_locked(&c, timeout).await {
            Ok(()) | Err(EngineError::NotModified) => {}
            Err(e) => return Err(e),
        }
        c.update(&self.containers_dir(&c.id), |r| r.manually_stopped = false)?;
        self.start_locked(&c).await?;
        self.emit_container(&c, "restart", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/wait`: the exit code, by Docker's conditions.
    pub async fn wait(&self, key: &str, condition: &str) -> Result<i64> {
        let c = match self.get(key) {
            Ok(c) => c,
            // Removed before we looked: that is what "removed" waits for.
            Err(_) if condition == "removed" => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut rx = c.exits.subscribe();
        let start = rx.borrow().clone();
        match condition {
            "removed" => {
                let _ = rx.wait_for(|e| e.removed).await;
            }
            "next-exit" => {
                let _ = rx.wait_for(|e| e.count > start.count || e.removed).await;
            }
            _ => {
                if c.is_running() || c.state().restarting {
                    let _ = rx.wait_for(|e| e.count > start.count || e.removed).await;
                } else {
                    return Ok(c.state().exit_code);
                }
            }
        }
        let code = rx.borrow().last_code;
        Ok(code)
    }

    /// `DELETE /containers/{id}[?force=1][&v=1]`: with `volumes`, its
    /// anonymous volumes go too.
    pub async fn remove(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(key)?;
        // Not while a start, stop or restart is under way: a start half
        // done would be removed under its running container.
        let _op = c.op.lock().await;
        self.remove_now(&c, force, volumes).await?;
        self.emit_container(&c, "destroy", &[]);
        Ok(())
    }

    async fn remove_now(&self, c: &Arc<Ctr>, force: bool, volumes: bool) -> Result<()> {
        let st = c.state();
        if st.running {
            if !force {
                let what = if st.paused { "paused" } else { "running" };
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a {what} container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            let seen = c.exits.borrow().count;
            self.mark_stopped(c);
            if st.paused {
                let _ = self.freeze(c, false);
            }
            let _ = self.signal(c, libc::SIGKILL).await;
            Self::wait_exit(c, seen, Duration::from_secs(30)).await;
        }
        if c.exits.borrow().removed {
            return Ok(());
        }
        c.update_unsaved(|r| r.manually_stopped = true);
        self.teardown(&c.id);
        let mounts = c.record().mounts.clone();
        self.release_volumes(&c.id, &mounts, volumes);
        crate::crashpoint::at("rm-torn-down");
        self.images.release(&c.id)?;
        crate::crashpoint::at("rm-layer-released");
        self.images.layers.driver.trash.remove(&self.containers_dir(&c.id))?;
        self.forget(&c.id);
        self.execs.remove_container(&c.id);
        c.exits.send_modify(|e| e.removed = true);
        Ok(())
    }

    /// Freeze or thaw the container's cgroup.
    pub fn freeze(&self, c: &Ctr, frozen: bool) -> Result<()> {
        self.cgroup(&c.id)
            .freeze(frozen)
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    pub fn pause(&self, key: &str, pause: bool) -> Result<()> {
        let c = self.get(key)?;
        let st = c.state();
        if !st.running {
            return Err(EngineError::Conflict(format!("Container {} is not running", c.id)));
        }
        if st.paused == pause {
            return Err(EngineError::Conflict(if pause {
                format!("Container {} is already paused", c.id)
            } else {
                format!("Container {} is not paused", c.id)
            }));
        }
        self.freeze(&c, pause)?;
        c.update(&self.containers_dir(&c.id), |r| {
            let to = if pause { Status::Paused } else { Status::Running };
            to.apply(&mut r.inspect.state);
        })?;
        self.emit_container(&c, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// PIDs of the container's processes.
    pub fn pids(&self, c: &Ctr) -> Vec<i32> {
        self.cgroup(&c.id).procs()
    }

    /// `POST /containers/prune`: remove every stopped container.
    pub async fn prune(&self, allowed: impl Fn(&Ctr) -> bool) -> Vec<String> {
        let mut gone = Vec::new();
        for c in self.all() {
            let _op = c.op.lock().await;
            if !c.is_running()
                && !c.state().restarting
                && allowed(&c)
                && self.remove_now(&c, false, false).await.is_ok()
            {
                gone.push(c.id.clone());
            }
        }
        gone
    }
}
