//! `docker build`: a Dockerfile builder on the engine's own parts. The
//! context arrives as a tar stream and is unpacked (`context`); the
//! Dockerfile is parsed (`dockerfile`, over `parse-dockerfile`) into
//! stages; the stages the target needs are built, those that do not
//! depend on each other in parallel (`stages`); each step either changes
//! only the config (`state`), or makes a layer: RUN in a container (`run`),
//! COPY/ADD through an overlay work layer (`copy`, `fsops`). A layer step
//! is keyed by content (its parent's key, the instruction after expansion
//! with `words`, and the digest of the files it copies) and found again in
//! the build cache (`images::build_cache`). Progress goes out as
//! `BuildProgress` events; the API turns them into Docker's classic text
//! or passes them on to `skiff build`.

pub mod cache_from;
pub mod checks;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod fetch;
pub mod fsops;
pub mod kept;
pub mod run;
pub mod secrets;
pub mod stages;
pub mod state;
pub mod sums;
pub mod words;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use skiff_api::{BuildOptions, BuildProgress, BuildStatus};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::images::build_cache::CacheRecord;
use crate::images::layers::Layer;
use dockerfile::{Dockerfile, Step};
use state::State;

/// A build that failed; the message is what the client shows.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Msg(String),
    #[error("{message}")]
    Step { message: String, line: usize },
}

impl BuildError {
    pub fn msg(e: impl std::fmt::Display) -> Self {
        BuildError::Msg(e.to_string())
    }

    /// The error with the Dockerfile line it happened at.
    fn at(self, step: &Step) -> Self {
        match self {
            BuildError::Msg(m) => BuildError::Step {
                message: m,
                line: step.line,
            },
            e => e,
        }
    }
}

impl From<io::Error> for BuildError {
    fn from(e: io::Error) -> Self {
        BuildError::Msg(e.to_string())
    }
}

impl From<crate::engine::EngineError> for BuildError {
    fn from(e: crate::engine::EngineError) -> Self {
        BuildError::Msg(e.to_string())
    }
}

/// What a build reports.
#[derive(Debug, Clone)]
pub enum Event {
    Progress(BuildProgress),
    /// Text only the classic stream shows (` ---> Running in …`).
    Classic(String),
}

/// How a step ended.
pub enum Outcome {
    Cached,
    Built,
}

type StageResult = Option<Result<Arc<State>, String>>;

/// One build in progress.
pub struct Builder {
    pub engine: Arc<Engine>,
    pub opts: BuildOptions,
    /// The unpacked build context.
    pub context: PathBuf,
    /// Its files' digests, kept between builds.
    pub sums: Arc<sums::Sums>,
    pub df: Dockerfile,
    events: mpsc::UnboundedSender<Event>,
    /// Each stage's final state, once built.
    results: Vec<watch::Sender<StageResult>>,
    cancel: CancellationToken,
    /// `--build-arg`s given.
    pub build_args: BTreeMap<String, Option<String>>,
    /// ARGs before the first FROM, resolved.
    global_args: BTreeMap<String, Option<String>>,
    /// Build args some ARG consumed.
    used: Mutex<HashSet<String>>,
    /// Secret id → file (`RUN --mount=type=secret`).
    pub secrets: HashMap<String, PathBuf>,
    /// How FROM reaches registries.
    pub registries: crate::images::registry::Registries,
    /// The `--cache-from` images found locally.
    pub cache_from: Vec<cache_from::CacheSource>,
}

impl Builder {
    pub fn emit(&self, step: &Step, stage: &str, status: BuildStatus, log: Option<String>, seconds: Option<f64>) {
        let _ = self.events.send(Event::Progress(BuildProgress {
            step: step.number,
            total: self.df.total,
            stage: stage.to_string(),
            instruction: step.original.clone(),
            status,
            log,
            seconds,
        }));
    }

    pub fn emit_classic(&self, text: String) {
        let _ = self.events.send(Event::Classic(text));
    }

    fn warn(&self, text: String) {
        let _ = self.events.send(Event::Progress(BuildProgress {
            step: 0,
            total: self.df.total,
            stage: String::new(),
            instruction: String::new(),
            status: BuildStatus::Warning,
            log: Some(text),
            seconds: None,
        }));
    }

    fn note_used<'a>(&self, names: impl Iterator<Item = &'a String>) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.extend(names.cloned());
    }

    /// A step whose key `st.key` is in the cache: take its layer.
    fn cached(&self, st: &mut State, created_by: &str) -> Option<Outcome> {
        if self.opts.no_cache {
            return None;
        }
        let layers = &self.engine.images.layers;
        if let Some(rec) = self.engine.images.cached_step(&st.key) {
            // A step that changed nothing is cached without a layer.
            if rec.chain.is_empty() {
                st.history(created_by.to_string(), true);
                return Some(Outcome::Cached);
            }
            if let Ok(layer) = layers.get(&rec.chain) {
                self.apply_layer(st, &layer);
                st.history(created_by.to_string(), false);
                return Some(Outcome::Cached);
            }
        }
        // A `--cache-from` image whose history matches.
        let layer = self.cache_from.iter().find_map(|src| {
            let diff_id = src.layer_for(st, created_by)?;
            layers
                .get(&crate::images::layers::chain_id(st.chain.as_deref(), diff_id))
                .ok()
        })?;
        self.record_layer(st, Some(layer), created_by.to_string());
        Some(Outcome::Cached)
    }

    fn apply_layer(&self, st: &mut State, layer: &Layer) {
        st.image.rootfs.diff_ids.push(layer.diff_id.clone());
        st.chain = Some(layer.chain_id.clone());
    }

    /// A step made `layer` (None: it changed nothing): note it in the state
    /// and the cache.
    fn record_layer(&self, st: &mut State, layer: Option<Layer>, created_by: String) {
        match &layer {
            Some(l) => {
                self.apply_layer(st, l);
                st.history(created_by.clone(), false);
            }
            None => st.history(created_by.clone(), true),
        }
        let now = crate::ids::now();
        let rec = CacheRecord {
            key: st.key.clone(),
            // Empty: the step changed nothing.
            chain: layer.as_ref().map(|l| l.chain_id.clone()).unwrap_or_default(),
            description: created_by,
            created: now.clone(),
            last_used: now,
            size: layer.as_ref().map_or(0, |l| l.size),
        };
        if let Err(e) = self.engine.images.cache.put(&rec) {
            tracing::warn!("build cache: {e}");
        }
    }

    /// A layer step: `descr` extends the key; on a miss `job` writes the
    /// changes through an overlay mount of a work layer on the stage's top
    /// (its first argument), or straight into the layer's own tree (its
    /// second: where nothing below is in the way).
    pub(super) async fn layer_step<F>(
        &self,
        st: &mut State,
        descr: &str,
        created_by: String,
        job: F,
    ) -> Result<Outcome, BuildError>
    where
        F: FnOnce(&Path, &Path) -> io::Result<()> + Send + 'static,
    {
        st.advance(descr);
        if let Some(done) = self.cached(st, &created_by) {
            return Ok(done);
        }
        let engine = self.engine.clone();
        let parent = st.chain.clone();
        let made = tokio::task::spawn_blocking(move || -> Result<Layer, BuildError> {
            let layers = &engine.images.layers;
            let parent_cache = parent
                .as_deref()
                .map(|c| layers.get(c))
                .transpose()
                .map_err(BuildError::msg)?
                .map(|l| l.cache_id);
            let work = crate::ids::new_id();
            layers.driver.create(&work, parent_cache.as_deref())?;
            let direct = layers.driver.diff_dir(&work);
            let written = layers.driver.hold(&work).and_then(|held| job(&held.path, &direct));
            if let Err(e) = written {
                let _ = layers.driver.remove(&work);
                return Err(e.into());
            }
            layers.adopt(parent.as_deref(), &work).map_err(BuildError::msg)
        })
        .await
        .map_err(BuildError::msg)??;
        self.record_layer(st, Some(made), created_by);
        Ok(Outcome::Built)
    }

    /// The final state of stage `name` (by name or index) for `--from`: an
    /// earlier stage, else an image.
    pub(super) async fn source_stage(self: &Arc<Self>, name: &str, step: &Step) -> Result<Arc<State>, BuildError> {
        let lower = name.to_lowercase();
        let found = self
            .df
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()) || s.index.to_string() == name);
        if let Some(s) = found {
            if s.from.number >= step.number {
                return Err(BuildError::msg(format!(
                    "circular dependency detected on stage: {name}"
                )));
            }
            return self.wait_stage(s.index).await;
        }
        let st = self.image_state(name).await?;
        Ok(Arc::new(st))
    }

    async fn wait_stage(&self, index: usize) -> Result<Arc<State>, BuildError> {
        let mut rx = self.results[index].subscribe();
        let got = rx
            .wait_for(|r| r.is_some())
            .await
            .map_err(|_| BuildError::msg("build canceled"))?
            .clone();
        match got {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(BuildError::msg(e)),
            None => Err(BuildError::msg("build canceled")),
        }
    }

    /// Time a step and report how it ended.
    async fn timed<F>(&self, step: &Step, stage: &str, fut: F) -> Result<(), BuildError>
    where
        F: std::future::Future<Output = Result<Outcome, BuildError>>,
    {
        if self.cancel.is_cancelled() {
            return Err(BuildError::msg("build canceled"));
        }
        let t0 = Instant::now();
        self.emit(step, stage, BuildStatus::Started, None, None);
        match fut.await {
            Ok(Outcome::Cached) => {
                tracing::debug!(
                    step = step.number,
                    ms = t0.elapsed().as_millis() as u64,
                    "build step cached"
                );
                self.emit(step, stage, BuildStatus::Cached, None, None);
                Ok(())
            }
            Ok(Outcome::Built) => {
                tracing::debug!(
                    step = step.number,
                    ms = t0.elapsed().as_millis() as u64,
                    "build step done"
                );
                self.emit(step, stage, BuildStatus::Done, None, Some(t0.elapsed().as_secs_f64()));
                Ok(())
            }
            Err(e) => {
                self.emit(step, stage, BuildStatus::Failed, Some(e.to_string()), None);
                Err(e.at(step))
            }
        }
    }
}
