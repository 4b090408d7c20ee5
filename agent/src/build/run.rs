//! RUN: the command runs in a container of the engine's own runtime, made
//! from the stage's state (its config and layers, not a stored image), on
//! the default bridge unless `--network` says otherwise, with BuildKit's
//! `RUN --mount=type=cache|bind|tmpfs|secret`. Its output streams as the
//! step's log; when it exits 0 the container's upper directory becomes
//! the step's layer as it is (`images::difftar`), and the container goes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_api::{BuildStatus, ContainerConfig, CreateRequest, HostConfig, ImageConfigFile};

use super::copy::RootView;
use super::dockerfile::{Cmd, Flag, Step};
use super::fsops;
use super::state::{hash, State, PROXY_ARGS};
use super::words::Lexer;
use super::{BuildError, Builder, Outcome};
use crate::images::store::Image;

/// One `--mount` of a RUN.
#[derive(Debug, Default, Clone)]
struct MountSpec {
    kind: String,
    target: String,
    source: String,
    from: Option<String>,
    id: String,
    readonly: bool,
    required: bool,
    mode: Option<u32>,
    uid: u32,
    gid: u32,
    size: Option<String>,
}

fn parse_mount(v: &str) -> Result<MountSpec, BuildError> {
    let mut m = MountSpec {
        kind: "bind".into(),
        ..Default::default()
    };
    let mut rw = false;
    for kv in v.split(',') {
        let (k, val) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "type" => m.kind = val.into(),
            "target" | "dst" | "destination" => m.target = val.into(),
            "source" | "src" => m.source = val.into(),
            "from" => m.from = Some(val.into()),
            "id" => m.id = val.into(),
            "ro" | "readonly" => m.readonly = val != "false",
            "rw" | "readwrite" => rw = val != "false",
            "required" => m.required = val != "false",
            "mode" => m.mode = u32::from_str_radix(val, 8).ok(),
            "uid" => m.uid = val.parse().unwrap_or(0),
            "gid" => m.gid = val.parse().unwrap_or(0),
            "size" => m.size = Some(val.into()),
            "sharing" | "env" => {}
            _ => return Err(BuildError::msg(format!("unexpected key '{k}' in '{kv}'"))),
        }
    }
    if m.kind == "bind" && !rw {
        m.readonly = true;
    }
    if m.kind == "secret" && m.target.is_empty() {
        m.target = format!("/run/secrets/{}", if m.id.is_empty() { &m.source } else { &m.id });
    }
    if m.target.is_empty() {
        return Err(BuildError::msg(format!("mount {v}: target is required")));
    }
    if !matches!(m.kind.as_str(), "bind" | "cache" | "tmpfs" | "secret") {
        return Err(BuildError::msg(format!("unsupported mount type \"{}\"", m.kind)));
    }
    Ok(m)
}

/// What `--mount`s turn into for the container; views stay mounted while
/// it runs.
#[derive(Default)]
struct Mounts {
    binds: Vec<String>,
    tmpfs: BTreeMap<String, String>,
    views: Vec<RootView>,
    /// Copies of the context for writable binds, removed afterwards.
    scratch: Vec<Scratch>,
    /// Mount points the runtime makes: removed from the layer afterwards.
    targets: Vec<String>,
}

/// A copy of part of the context that one step may write to: the writes
/// are thrown away with it, as BuildKit does, and never reach the kept
/// context (whose files image layers may share). Its directory is locked
/// while it lives, so `builder prune` leaves it alone. Blocking.
struct Scratch {
    dir: PathBuf,
    _lock: fs::File,
}

impl Scratch {
    fn copy(from: &Path, build_root: &Path) -> Result<Scratch, BuildError> {
        let at = build_root.join(format!("rw-{}", crate::ids::new_id()));
        fs::create_dir(&at)?;
        let lock = fs::File::open(&at)?;
        lock.try_lock().map_err(BuildError::msg)?;
        let dir = Scratch { dir: at, _lock: lock };
        let copy = dir.dir.join("c");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg("--")
            .arg(from)
            .arg(&copy)
            .status()?;
        if !status.success() {
            return Err(BuildError::msg(format!(
                "copying {} for a writable bind: {status}",
                from.display()
            )));
        }
        Ok(dir)
    }

    fn path(&self) -> PathBuf {
        self.dir.join("c")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), "removing a writable bind's copy: {e}");
        }
    }
}

impl Builder {
    async fn prepare_mounts(self: &Arc<Self>, specs: &[MountSpec], step: &Step) -> Result<Mounts, BuildError> {
        let mut out = Mounts::default();
        for m in specs {
            out.targets.push(m.target.clone());
            let ro = if m.readonly { ":ro" } else { "" };
            match m.kind.as_str() {
                "tmpfs" => {
                    let opts = m.size.as_ref().map(|s| format!("size={s}")).unwrap_or_default();
                    out.tmpfs.insert(m.target.clone(), opts);
                }
                "cache" => {
                    let id = if m.id.is_empty() { &m.target } else { &m.id };
                    let dir = self.engine.cfg.data_root.join("buildcache/mounts").join(hash(&[id]));
                    if !dir.exists() {
                        fs::create_dir_all(&dir)?;
                        use std::os::unix::fs::PermissionsExt;
                        fs::set_permissions(&dir, fs::Permissions::from_mode(m.mode.unwrap_or(0o755)))?;
                        self.engine.cfg.idmap.chown(&dir, m.uid, m.gid)?;
                    }
                    out.binds.push(format!("{}:{}{ro}", dir.display(), m.target));
                }
                "secret" => {
                    let id = if m.id.is_empty() { &m.source } else { &m.id };
                    match self.secrets.get(id) {
                        Some(path) => out.binds.push(format!("{}:{}:ro", path.display(), m.target)),
                        None if m.required => {
                            return Err(BuildError::msg(format!("secret {id}: not found")));
                        }
                        None => {}
                    }
                }
                _ => {
                    let root: PathBuf = match &m.from {
                        Some(name) => {
                            let src = self.source_stage(name, step).await?;
                            let view = RootView::open(&self.engine, src.chain.as_deref(), true)?;
                            let p = view.path.clone();
                            out.views.push(view);
                            p
                        }
                        None => self.context.clone(),
                    };
                    let mut host = fsops::resolve_in(&root, &m.source, false)?;
                    if !host.exists() {
                        return Err(BuildError::msg(format!("bind mount source {}: not found", m.source)));
                    }
                    if m.from.is_none() && !m.readonly {
                        let build_root = self.context.parent().unwrap_or(&self.context);
                        let build_root = build_root.to_path_buf();
                        let from = host.clone();
                        let copy = tokio::task::spawn_blocking(move || Scratch::copy(&from, &build_root))
                            .await
                            .map_err(BuildError::msg)??;
                        host = copy.path();
                        out.scratch.push(copy);
                    }
                    out.binds.push(format!("{}:{}{ro}", host.display(), m.target));
                }
            }
        }
        Ok(out)
    }

    /// Run a RUN step on `st`.
    pub(super) async fn run_step(
        self: &Arc<Self>,
        st: &mut State,
        step: &Step,
        stage: &str,
        flags: &[Flag],
        cmd: &Cmd,
        lex: &Lexer,
    ) -> Result<Outcome, BuildError> {
        let mut specs = Vec::new();
        let mut network = self.opts.network_mode.clone();
        for f in flags {
            let v = lex
                .process_word(f.value.as_deref().unwrap_or_default(), &|n| st.lookup(n))
                .map_err(BuildError::msg)?;
            match f.name.as_str() {
                "mount" => specs.push(parse_mount(&v)?),
                "network" => {
                    network = match v.as_str() {
                        "default" => self.opts.network_mode.clone(),
                        "none" | "host" => v,
                        _ => return Err(BuildError::msg(format!("unsupported network mode \"{v}\""))),
                    }
                }
                "security" if v == "sandbox" => {}
                "security" => {
                    return Err(BuildError::msg(
                        "RUN --security=insecure is not allowed by this builder",
                    ))
                }
                other => return Err(BuildError::msg(format!("unknown flag: {other}"))),
            }
        }
        let argv = st.argv(cmd);
        let args = st.arg_env();
        self.note_used(st.args.keys());
        let proxies: Vec<String> = PROXY_ARGS
            .iter()
            .filter_map(|k| self.build_args.get(*k).cloned().flatten().map(|v| format!("{k}={v}")))
            .collect();
        let descr = format!("RUN {argv:?} args={args:?} mounts={specs:?} network={network}");
        let created_by = match args.len() {
            0 => argv.join(" "),
            n => format!("|{n} {} {}", args.join(" "), argv.join(" ")),
        };
        st.advance(&descr);
        if let Some(done) = self.cached(st, &created_by) {
            return Ok(done);
        }
        let mounts = self.prepare_mounts(&specs, step).await?;
        let mut env = st.image.config.env.clone();
        env.extend(args);
        env.extend(proxies);
        let config = ContainerConfig {
            image: st.base.clone(),
            cmd: argv.into(),
            env,
            user: st.image.config.user.clone(),
            working_dir: st.image.config.working_dir.clone(),
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        };
        let host_config = HostConfig {
            network_mode: network,
            extra_hosts: self.opts.extra_hosts.clone().into(),
            binds: mounts.binds.clone().into(),
            tmpfs: mounts.tmpfs.clone(),
            ..Default::default()
        };
        let image = Image {
            id: st.base.clone(),
            config: ImageConfigFile {
                config: ContainerConfig {
                    entrypoint: Default::default(),
                    cmd: Default::default(),
                    healthcheck: None,
                    ..st.image.config.clone()
                },
                ..st.image.clone()
            },
            raw: Vec::new(),
        };
        let req = CreateRequest {
            config,
            host_config,
            networking_config: None,
        };
        let (id, _) = self.engine.create_from(None, req, image)?;
        self.emit_classic(format!(" ---> Running in {}\n", &id[..12]));
        let result = self.run_container(&id, step, stage).await;
        drop(mounts.views);
        let scratch = mounts.scratch;
        let _ = tokio::task::spawn_blocking(move || drop(scratch)).await;
        let layer = match result {
            Ok(()) => {
                let layers = &self.engine.images.layers;
                let upper = layers.driver.diff_dir(&id);
                let overlay = layers.driver.kind() == crate::images::driver::DriverKind::Overlay2;
                if overlay {
                    strip_mount_points(&upper, &mounts.targets);
                }
                let parent = st.chain.clone();
                let engine = self.engine.clone();
                let ctr = id.clone();
                let empty = overlay && fs::read_dir(&upper).map(|mut d| d.next().is_none()).unwrap_or(true);
                if empty {
                    Ok(None)
                } else {
                    tokio::task::spawn_blocking(move || {
                        let layers = &engine.images.layers;
                        if overlay {
                            let owners = layers.driver.owners(&ctr).clone();
                            layers.adopt_dir(parent.as_deref(), &upper, &owners).map(Some)
                        } else {
                            layers.adopt_container(parent.as_deref(), &ctr, false)
                        }
                    })
                    .await
                    .map_err(BuildError::msg)
                    .and_then(|r| r.map_err(BuildError::msg))
                }
            }
            Err(e) => Err(e),
        };
        // As Docker's classic builder: a failed step's container stays for
        // inspection unless `--force-rm`.
        let remove = if layer.is_ok() {
            self.opts.remove
        } else {
            self.opts.force_remove
        };
        if remove {
            if let Err(e) = self.engine.remove(&id, true, true).await {
                tracing::warn!(container = %&id[..12], "removing a build container: {e}");
            }
            self.emit_classic(format!("Removing intermediate container {}\n", &id[..12]));
        }
        self.record_layer(st, layer?, created_by);
        Ok(Outcome::Built)
    }

    /// Start container `id`, stream its output as the step's log, and wait
    /// for it; a non-zero exit is Docker's error.
    async fn run_container(self: &Arc<Self>, id: &str, step: &Step, stage: &str) -> Result<(), BuildError> {
        let c = self.engine.get(id)?;
        let mut out = c.output.subscribe();
        let mut exits = c.exits.subscribe();
        self.engine.start(id).await?;
        let code = loop {
            tokio::select! {
                m = out.recv() => match m {
                    Ok((_, data)) => self.log(step, stage, &data),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => {}
                },
                changed = exits.changed() => {
                    if changed.is_err() || exits.borrow().count > 0 {
                        break exits.borrow().last_code;
                    }
                }
                _ = self.cancel.cancelled() => {
                    let _ = self.engine.kill(id, None).await;
                    return Err(BuildError::msg("build canceled"));
                }
            }
        };
        while let Ok((_, data)) = out.try_recv() {
            self.log(step, stage, &data);
        }
        if code != 0 {
            let shown = {
                let r = c.record();
                std::iter::once(r.inspect.path.clone())
                    .chain(r.inspect.args.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            return Err(BuildError::msg(format!(
                "The command '{shown}' returned a non-zero code: {code}"
            )));
        }
        Ok(())
    }

    fn log(&self, step: &Step, stage: &str, data: &[u8]) {
        let text = String::from_utf8_lossy(data).to_string();
        self.emit(step, stage, BuildStatus::Log, Some(text), None);
    }
}

/// Empty directories the runtime made only to mount on, out of the layer.
fn strip_mount_points(upper: &std::path::Path, targets: &[String]) {
    for t in targets {
        let p = upper.join(t.trim_start_matches('/'));
        if fs::read_dir(&p).map(|mut d| d.next().is_none()).unwrap_or(false) {
            let _ = fs::remove_dir(&p);
        } else if fs::metadata(&p).map(|m| m.is_file() && m.len() == 0).unwrap_or(false) {
            let _ = fs::remove_file(&p);
        }
    }
}
