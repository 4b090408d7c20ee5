//! A build from start to end: read the Dockerfile, resolve the global
//! ARGs (with BuildKit's automatic platform args), pick the stages the
//! target needs, build each in its own task (a stage waits only for the
//! stages it names: independent stages overlap), then store the target's
//! state as an image and tag it. The first failure cancels the rest; every
//! task is waited for, so no step container outlives the build.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use skiff_api::{BuildOptions, ImageConfigFile, JsonMessage};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::dockerfile::{self, Op, Stage, Step};
use super::state::{State, PROXY_ARGS};
use super::words::Lexer;
use super::{BuildError, Builder, Event, Outcome};
use crate::engine::Engine;
use crate::images::pull::PullOptions;
use crate::images::registry::Registries;
use crate::images::store::parse_reference;

/// BuildKit's automatic platform arguments (this builder makes
/// linux/amd64 images on linux/amd64).
const PLATFORM_ARGS: [(&str, &str); 8] = [
    ("TARGETPLATFORM", "linux/amd64"),
    ("TARGETOS", "linux"),
    ("TARGETARCH", "amd64"),
    ("TARGETVARIANT", ""),
    ("BUILDPLATFORM", "linux/amd64"),
    ("BUILDOS", "linux"),
    ("BUILDARCH", "amd64"),
    ("BUILDVARIANT", ""),
];

/// What a build needs besides its options.
pub struct Inputs {
    pub context: PathBuf,
    pub registries: Registries,
    pub secrets: HashMap<String, PathBuf>,
}

/// Build the image `opts` describe from the unpacked context; its ID.
pub async fn build(
    engine: Arc<Engine>,
    opts: BuildOptions,
    inputs: Inputs,
    events: mpsc::UnboundedSender<Event>,
) -> Result<String, BuildError> {
    if !opts.platform.is_empty() && opts.platform != "linux/amd64" && opts.platform != "linux" {
        return Err(BuildError::msg(format!(
            "this builder makes linux/amd64 images; --platform {} is not supported",
            opts.platform
        )));
    }
    let name = if opts.dockerfile.is_empty() {
        "Dockerfile"
    } else {
        opts.dockerfile.as_str()
    };
    let path = super::fsops::resolve_in(&inputs.context, name, false)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|_| BuildError::msg(format!("Cannot locate specified Dockerfile: {name}")))?;
    let df = dockerfile::parse(&text).map_err(BuildError::msg)?;
    drop_ignored_build_files(&inputs.context, name)?;
    let target = match opts.target.as_str() {
        "" => df
            .stages
            .len()
            .checked_sub(1)
            .ok_or_else(|| BuildError::msg("no build stage in current context"))?,
        t => df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(t.to_lowercase().as_str()))
            .ok_or_else(|| BuildError::msg(format!("failed to reach build target {t} in Dockerfile")))?,
    };
    let needed = needed_stages(&df, target);
    let build_args = opts.build_args.clone();
    let cache_from = super::cache_from::sources(&engine, &opts.cache_from);
    let mut builder = Builder {
        results: df.stages.iter().map(|_| watch::channel(None).0).collect(),
        engine,
        sums: Arc::new(super::sums::Sums::load(&inputs.context)),
        context: inputs.context,
        events,
        cancel: CancellationToken::new(),
        global_args: BTreeMap::new(),
        used: Mutex::new(HashSet::new()),
        secrets: inputs.secrets,
        build_args,
        registries: inputs.registries,
        cache_from,
        df,
        opts,
    };
    builder.global_args = builder.resolve_global_args()?;
    let builder = Arc::new(builder);
    if let Some(syntax) = &builder.df.syntax {
        builder.warn(format!(
            "# syntax={syntax}: the frontend is not fetched; skiff's builder reads this Dockerfile itself"
        ));
    }
    let checks = super::checks::parse(builder.df.check.as_deref().unwrap_or("")).map_err(BuildError::msg)?;
    let failed = super::checks::warnings(&builder.df, &checks);
    if checks.error && !failed.is_empty() {
        return Err(BuildError::msg(format!("lint violation found: {}", failed.join("; "))));
    }
    for w in failed {
        builder.warn(w);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for idx in needed {
        let b = builder.clone();
        tasks.spawn(async move {
            let r = b.clone().run_stage(idx).await;
            if r.is_err() {
                b.cancel.cancel();
            }
            let shown = r.as_ref().map(|s| s.clone()).map_err(|e| e.to_string());
            b.results[idx].send_replace(Some(shown));
            r.map(|_| ())
        });
    }
    let mut first_err = None;
    while let Some(done) = tasks.join_next().await {
        let r = done.map_err(BuildError::msg).and_then(|r| r);
        if let Err(e) = r {
            if first_err.is_none() || !matches!(&e, BuildError::Msg(m) if m == "build canceled") {
                first_err.get_or_insert(e);
            }
        }
    }
    builder.sums.save();
    if let Some(e) = first_err {
        return Err(e);
    }
    let st = builder.wait_stage(target).await?;
    builder.finish(&st)
}

/// As Docker's daemon: when `.dockerignore` excludes the Dockerfile or
/// itself, they were sent only to be read; COPY never sees them.
fn drop_ignored_build_files(context: &std::path::Path, dockerfile: &str) -> Result<(), BuildError> {
    let Ok(text) = std::fs::read_to_string(context.join(".dockerignore")) else {
        return Ok(());
    };
    let ignore = skiff_client::dockerignore::DockerIgnore::parse(&text).map_err(BuildError::msg)?;
    for f in [dockerfile, ".dockerignore"] {
        if ignore.excluded(f) {
            let p = super::fsops::resolve_in(context, f, true)?;
            if std::fs::remove_file(p).is_ok() {
                super::context::forget(context, f)?;
            }
        }
    }
    Ok(())
}

/// The target and every stage it needs, in order.
fn needed_stages(df: &dockerfile::Dockerfile, target: usize) -> Vec<usize> {
    let mut need = vec![false; df.stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut need[i], true) {
            continue;
        }
        todo.extend(dockerfile::dependencies(df, &df.stages[i]));
    }
    (0..df.stages.len()).filter(|i| need[*i]).collect()
}

fn default_image() -> ImageConfigFile {
    ImageConfigFile {
        architecture: "amd64".into(),
        os: "linux".into(),
        rootfs: skiff_api::RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        },
        ..Default::default()
    }
}

impl Builder {
    fn resolve_global_args(&self) -> Result<BTreeMap<String, Option<String>>, BuildError> {
        let lex = Lexer::new(self.df.escape);
        let mut args: BTreeMap<String, Option<String>> = PLATFORM_ARGS
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect();
        for step in &self.df.global_args {
            let Op::Arg(raw) = &step.op else { continue };
            for (k, default) in
                super::words::parse_args(raw, self.df.escape).map_err(|e| BuildError::msg(e).at(step))?
            {
                let default = default
                    .map(|d| lex.process_word(&d, &|n| args.get(n).cloned().flatten()))
                    .transpose()
                    .map_err(|e| BuildError::msg(e).at(step))?;
                let value = match self.build_args.get(&k) {
                    Some(Some(v)) => Some(v.clone()),
                    _ => default,
                };
                self.note_used(std::iter::once(&k));
                args.insert(k, value);
            }
        }
        Ok(args)
    }

    /// An image's state for FROM or `--from`: local, or pulled when
    /// missing (or always with `--pull`).
    pub(super) async fn image_state(&self, name: &str) -> Result<State, BuildError> {
        let images = &self.engine.images;
        let local = images.resolve(name).ok();
        let img = match local {
            Some(img) if !self.opts.pull => img,
            _ => {
                parse_reference(name).map_err(|e| BuildError::msg(format!("invalid reference format: {name}: {e}")))?;
                let opts = PullOptions {
                    platform: None,
                    credentials: None,
                    registries: self.registries.clone(),
                };
                let (tx, mut rx) = mpsc::unbounded_channel::<JsonMessage>();
                let events = self.events.clone();
                let relay = tokio::spawn(async move {
                    while let Some(m) = rx.recv().await {
                        if m.progress_detail.is_none() && !m.status.is_empty() {
                            let line = if m.id.is_empty() {
                                format!("{}\n", m.status)
                            } else {
                                format!("{}: {}\n", m.id, m.status)
                            };
                            let _ = events.send(Event::Classic(line));
                        }
                    }
                });
                let pulled = images.pull(name, &opts, &tx).await;
                drop(tx);
                let _ = relay.await;
                match pulled {
                    Ok(p) => images.load(&p.id).map_err(BuildError::msg)?,
                    Err(e) => match images.resolve(name) {
                        Ok(img) if self.opts.pull => img,
                        _ => return Err(BuildError::msg(e)),
                    },
                }
            }
        };
        let chain = img.top_layer();
        let mut cfg = img.config.clone();
        if cfg.rootfs.kind.is_empty() {
            cfg.rootfs.kind = "layers".into();
        }
        Ok(State::new(img.id.clone(), cfg, chain))
    }

    /// The state a stage starts from.
    async fn from_state(self: &Arc<Self>, stage: &Stage, lex: &Lexer) -> Result<State, BuildError> {
        let Op::From { image, platform } = &stage.from.op else {
            return Err(BuildError::msg("a stage must begin with FROM"));
        };
        let globals = &self.global_args;
        // The global ARGs include BuildKit's platform ones.
        let lookup = |n: &str| globals.get(n).cloned().flatten();
        let name = lex.process_word(image, &lookup).map_err(BuildError::msg)?;
        if let Some(p) = platform {
            let p = lex.process_word(p, &lookup).map_err(BuildError::msg)?;
            if !matches!(p.as_str(), "linux/amd64" | "linux" | "linux/x86_64" | "linux/amd64/v1") {
                return Err(BuildError::msg(format!(
                    "FROM --platform={p}: this builder makes linux/amd64 images only"
                )));
            }
        }
        if name.is_empty() {
            return Err(BuildError::msg("base name (${...}) should not be blank"));
        }
        let lower = name.to_lowercase();
        if let Some(s) = self.df.stages[..stage.index]
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            let prev = self.wait_stage(s.index).await?;
            let mut st = (*prev).clone();
            st.args.clear();
            st.cmd_set = false;
            return Ok(st);
        }
        if self.df.stages[stage.index..]
            .iter()
            .any(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Err(BuildError::msg(format!(
                "circular dependency detected on stage: {name}"
            )));
        }
        if lower == "scratch" {
            return Ok(State::new(String::new(), default_image(), None));
        }
        self.image_state(&name).await
    }

    /// Build stage `idx`: its FROM, its base image's ONBUILD triggers, then
    /// its steps.
    async fn run_stage(self: Arc<Self>, idx: usize) -> Result<Arc<State>, BuildError> {
        let stage = self.df.stages[idx].clone();
        let label = stage.label();
        let lex = Lexer::new(self.df.escape);
        let mut slot = None;
        self.timed(&stage.from, &label, async {
            slot = Some(self.from_state(&stage, &lex).await?);
            Ok(Outcome::Built)
        })
        .await?;
        let mut st = slot.ok_or_else(|| BuildError::msg("FROM failed"))?;
        let triggers = st.image.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            self.emit_classic(format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ));
        }
        for t in triggers {
            let mut step =
                dockerfile::parse_trigger(&t, self.df.escape).map_err(|e| BuildError::msg(e).at(&stage.from))?;
            step.number = stage.from.number;
            step.line = stage.from.line;
            self.step(&mut st, &step, &label, &lex).await?;
        }
        for step in &stage.steps {
            self.step(&mut st, step, &label, &lex).await?;
        }
        Ok(Arc::new(st))
    }

    async fn step(self: &Arc<Self>, st: &mut State, step: &Step, stage: &str, lex: &Lexer) -> Result<(), BuildError> {
        let build_args = self.build_args.clone();
        let fut = async {
            match &step.op {
                Op::Run { flags, cmd } => self.run_step(st, step, stage, flags, cmd, lex).await,
                Op::Copy { .. } => self.copy_step(st, step, lex).await,
                Op::From { .. } => Err(BuildError::msg("FROM inside a stage")),
                op => {
                    let mut args = build_args;
                    // A stage's ARG without a value takes the global one.
                    for (k, v) in &self.global_args {
                        if !matches!(args.get(k), Some(Some(_))) {
                            args.insert(k.clone(), v.clone());
                        }
                    }
                    let text = st.apply(op, lex, &args)?;
                    if let Op::Arg(_) = op {
                        self.note_used(st.args.keys());
                    }
                    st.advance(&text);
                    st.history(text, true);
                    if let Op::Workdir(_) = op {
                        return self.make_workdir(st).await;
                    }
                    Ok(Outcome::Built)
                }
            }
        };
        self.timed(step, stage, fut).await
    }

    /// WORKDIR makes its directory when no layer has it (a layer with
    /// only that directory, as BuildKit).
    async fn make_workdir(&self, st: &mut State) -> Result<Outcome, BuildError> {
        let dir = st.image.config.working_dir.clone();
        if dir == "/" || self.has_dir(st.chain.as_deref(), &dir) {
            return Ok(Outcome::Built);
        }
        st.image.history.pop();
        let created_by = format!("WORKDIR {dir}");
        let descr = format!("mkdir {dir}");
        // Root's, in the layers' IDs (host IDs where layers are chowned).
        let (uid, gid) = self.engine.images.layers.driver.layer_ids().root();
        let attrs = super::fsops::Attrs {
            uid,
            gid,
            ..Default::default()
        };
        let job = move |rootfs: &std::path::Path, _: &std::path::Path| {
            super::fsops::make_dirs(rootfs, &dir, attrs).map(|_| ())
        };
        self.layer_step(st, &descr, created_by, job).await
    }

    /// Does some layer of `chain` have directory `dir` (no whiteout above)?
    fn has_dir(&self, chain: Option<&str>, dir: &str) -> bool {
        let layers = &self.engine.images.layers;
        let rel = dir.trim_start_matches('/');
        let mut next = chain.map(str::to_string);
        while let Some(c) = next {
            let Ok(l) = layers.get(&c) else { return false };
            let p = layers.driver.diff_dir(&l.cache_id).join(rel);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => return true,
                Ok(_) => return false,
                Err(_) => {}
            }
            next = l.parent;
        }
        false
    }

    /// Store the target's state as an image; tag it; report.
    fn finish(&self, st: &State) -> Result<String, BuildError> {
        let mut img = st.image.clone();
        img.created = Some(crate::ids::now());
        img.config.labels.extend(self.opts.labels.clone());
        img.config.image = st.base.clone();
        if img.architecture.is_empty() {
            img.architecture = "amd64".into();
        }
        if img.os.is_empty() {
            img.os = "linux".into();
        }
        let images = &self.engine.images;
        // A build that ends where an earlier one did gives the same image.
        let labels = serde_json::to_string(&self.opts.labels).unwrap_or_default();
        let final_key = super::state::hash(&[&st.key, &labels, "image"]);
        let earlier = (!self.opts.no_cache)
            .then(|| images.cache.image(&final_key))
            .flatten()
            .filter(|id| images.load(id).is_ok());
        let id = match earlier {
            Some(id) => id,
            None => {
                let raw = serde_json::to_vec(&img).map_err(BuildError::msg)?;
                let id = images.add_config(&raw).map_err(BuildError::msg)?;
                if let Err(e) = images.cache.put_image(&final_key, &id) {
                    tracing::warn!("build cache: {e}");
                }
                id
            }
        };
        let unused: Vec<String> = {
            let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            self.build_args
                .keys()
                .filter(|k| !used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
                .cloned()
                .collect()
        };
        if !unused.is_empty() {
            self.warn(format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ));
        }
        self.emit_classic(format!(
            "Successfully built {}\n",
            &id.trim_start_matches("sha256:")[..12]
        ));
        for t in &self.opts.tags {
            let nt = parse_reference(t).map_err(BuildError::msg)?;
            images.tag(&id, &nt).map_err(BuildError::msg)?;
            self.engine
                .emit("image", "tag", &id, [("name".to_string(), nt.to_string())].into());
            self.emit_classic(format!("Successfully tagged {nt}\n"));
        }
        Ok(id)
    }
}
