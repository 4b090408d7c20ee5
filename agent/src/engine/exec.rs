//! `exec`: extra processes in a running container, each under its own
//! supervisor (exec mode), kept in memory as Docker keeps exec instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use skiff_api::ExecConfig;
use tokio::sync::{mpsc, watch};

use super::{Engine, EngineError, Result};
use crate::runtime::protocol::{Mode, ShimConfig};
use crate::runtime::spec;
use crate::runtime::supervisor::{self, Connection, Event};

pub struct ExecInstance {
    pub id: String,
    pub container: String,
    pub config: ExecConfig,
    pub pid: Mutex<i64>,
    pub conn: Mutex<Option<Connection>>,
    /// None while running (or not started); Some(code) once ended.
    pub exit: watch::Sender<Option<i64>>,
    pub started: Mutex<bool>,
}

#[derive(Default)]
pub struct ExecStore {
    map: Mutex<HashMap<String, Arc<ExecInstance>>>,
}

impl ExecStore {
    pub fn get(&self, id: &str) -> Result<Arc<ExecInstance>> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }
    /// Forget an exec instance (a health probe's, once it ended).
    pub fn remove(&self, id: &str) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// Forget every exec instance of a removed container (as Docker's
    /// daemon does): kept, they would grow the agent with each container.
    pub fn remove_container(&self, cid: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, e| e.container != cid);
    }

    pub fn for_container(&self, cid: &str) -> Vec<String> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|e| e.container == cid)
            .map(|e| e.id.clone())
            .collect()
    }
}

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub fn exec_create(&self, key: &str, cfg: ExecConfig) -> Result<String> {
        let c = self.get(key)?;
        if !c.is_running() {
            return Err(EngineError::Conflict(format!("Container {} is not running", c.id)));
        }
        if c.state().paused {
            return Err(EngineError::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        if cfg.cmd.is_empty() {
            return Err(EngineError::BadRequest("No exec command specified".into()));
        }
        let id = crate::ids::new_id();
        let action = format!("exec_create: {}", cfg.cmd.join(" "));
        self.emit_container(&c, &action, &[("execID", id.clone())]);
        let (exit, _) = watch::channel(None);
        let inst = Arc::new(ExecInstance {
            id: id.clone(),
            container: c.id.clone(),
            config: cfg,
            pid: Mutex::new(0),
            conn: Mutex::new(None),
            exit,
            started: Mutex::new(false),
        });
        self.execs
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), inst);
        Ok(id)
    }

    /// Start an exec instance, in two steps as Docker does: everything that
    /// can fail with an API error (already run, not running, no such
    /// command or user) happens here, and the process is launched by
    /// `PreparedExec::launch` once the client's stream is ready for it.
    pub async fn exec_start(self: &Arc<Self>, id: &str) -> Result<PreparedExec> {
        let inst = self.execs.get(id)?;
        {
            let mut s = inst.started.lock().unwrap_or_else(|e| e.into_inner());
            if *s {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
            *s = true;
        }
        let c = self.get(&inst.container)?;
        let action = format!("exec_start: {}", inst.config.cmd.join(" "));
        self.emit_container(&c, &action, &[("execID", id.to_string())]);
        if !c.is_running() {
            return Err(EngineError::Conflict(format!("Container {} is not running", c.id)));
        }
        let rec = c.record().clone();
        let ins = &rec.inspect;
        let ec = &inst.config;
        let user_spec = if ec.user.is_empty() {
            ins.config.user.clone()
        } else {
            ec.user.clone()
        };
        let root = self.images.hold(&c.id)?;
        let rootfs = &root.path;
        let user = spec::resolve_user(rootfs, &user_spec).map_err(EngineError::BadRequest)?;
        let mut env = super::container::merge_env(&ins.config.env, &ec.env);
        super::container::with_default_path(&mut env);
        if ec.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        spec::find_executable(rootfs, &env, &ec.cmd[0]).map_err(|(code, m)| {
            let _ = inst.exit.send_replace(Some(code));
            EngineError::BadRequest(format!(
                "OCI runtime exec failed: exec failed: unable to start container process: {m}: unknown"
            ))
        })?;
        let hc = &ins.host_config;
        let mut caps = spec::capabilities(&hc.cap_add, &hc.cap_drop, hc.privileged || ec.privileged)
            .map_err(EngineError::BadRequest)?;
        let cwd = if !ec.working_dir.is_empty() {
            ec.working_dir.clone()
        } else if !ins.config.working_dir.is_empty() {
            ins.config.working_dir.clone()
        } else {
            "/".into()
        };
        // The container's no_new_privs and seccomp filter, as Docker gives
        // them to exec'd processes (the supervisor loads the filter; see
        // `runtime::executor` for the capabilities lifted to do it).
        let ctr_caps = spec::capabilities(&hc.cap_add, &hc.cap_drop, hc.privileged).map_err(EngineError::BadRequest)?;
        let conf = super::security::confinement(hc, &ctr_caps, self.cfg.no_new_privileges)?;
        let seccomp = conf.seccomp_load(&self.seccomp_dir(), &mut caps)?;
        let process = spec::process(&ec.cmd, &env, &cwd, &user, ec.tty, &caps, conf.no_new_privileges);
        let dir = self.run_dir(&c.id).join("exec").join(id);
        std::fs::create_dir_all(&dir)?;
        let process_path = dir.join("process.json");
        skiff_common::fsutil::write_json_volatile(&process_path, &process)?;
        let shim = ShimConfig {
            id: c.id.clone(),
            mode: Mode::Exec { process: process_path },
            runtime_root: self.runtime_root(),
            tty: ec.tty,
            stdin: ec.attach_stdin,
            log: None,
            exit_file: dir.join("exit.json"),
            socket: self.socket_path(&format!("x{id}")),
            seccomp,
        };
        Ok(PreparedExec {
            engine: self.clone(),
            inst,
            container: c,
            dir,
            shim,
        })
    }
}

/// An exec whose process is ready to launch.
pub struct PreparedExec {
    engine: Arc<Engine>,
    pub inst: Arc<ExecInstance>,
    container: Arc<super::Ctr>,
    dir: std::path::PathBuf,
    shim: ShimConfig,
}

impl PreparedExec {
    /// Launch the process; returns its output events.
    pub async fn launch(self) -> Result<mpsc::UnboundedReceiver<Event>> {
        let PreparedExec {
            engine,
            inst,
            container: c,
            dir,
            shim,
        } = self;
        let pid = supervisor::launch(&dir, &shim).await.map_err(|e| {
            let _ = inst.exit.send_replace(Some(126));
            EngineError::Internal(format!("OCI runtime exec failed: {e:#}: unknown"))
        })?;
        *inst.pid.lock().unwrap_or_else(|e| e.into_inner()) = pid as i64;
        let (conn, events) = Connection::connect(&shim.socket).await?;
        let socket = shim.socket.clone();
        *inst.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
        // Forward events, noting the exit code for `exec inspect`.
        let (tx, rx) = mpsc::unbounded_channel();
        let inst2 = inst.clone();
        let journal = engine.events.clone();
        let mut events = events;
        tokio::spawn(async move {
            let mut code = None;
            while let Some(ev) = events.recv().await {
                if let Event::Exited(c) = ev {
                    code = Some(c as i64);
                }
                let _ = tx.send(ev);
            }
            let code = code.or_else(|| {
                skiff_common::fsutil::read_json::<crate::runtime::protocol::ExitRecord>(&dir.join("exit.json"))
                    .ok()
                    .map(|r| r.code as i64)
            });
            let code = code.unwrap_or(255);
            let _ = inst2.exit.send_replace(Some(code));
            let attrs = super::container_attrs(&c, &[("execID", inst2.id.clone()), ("exitCode", code.to_string())]);
            journal.push(skiff_api::events::Event::new("container", "exec_die", &c.id, attrs));
            *inst2.conn.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let _ = std::fs::remove_dir_all(&dir);
            // The monitor removes its socket as it ends; one killed with
            // SIGKILL cannot.
            let _ = std::fs::remove_file(&socket);
        });
        Ok(rx)
    }
}
