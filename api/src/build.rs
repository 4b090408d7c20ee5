//! `POST /build`: the query Docker's CLI sends, and the progress events of
//! skiff's own build view. The classic answer is a stream of
//! `JsonMessage`s (`stream` text such as `Step 2/9 : RUN …`, then
//! `aux: {"ID": …}`); a client that adds `skiffprogress=1` to the query
//! gets one `BuildProgress` per event instead, inside `aux`, so it can draw
//! steps that run side by side (independent stages build in parallel).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a build step is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatus {
    /// The step began.
    Started,
    /// The step's result was found in the cache.
    Cached,
    /// Output of the step's command (`log` holds it).
    Log,
    /// The step finished (`seconds` says how long it took).
    Done,
    /// The step failed (`log` holds the message).
    Failed,
    /// A warning about the build (`log` holds it; `step` is 0 when it
    /// concerns no step).
    Warning,
}

/// One event of a build, in `aux` when the query has `skiffprogress=1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildProgress {
    /// 1-based over the whole Dockerfile, as Docker's `Step N/M`.
    pub step: usize,
    pub total: usize,
    /// The stage's name (`AS name`), or its index.
    pub stage: String,
    /// The instruction as Docker prints it (`RUN echo hi`).
    pub instruction: String,
    pub status: BuildStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// The end of a successful build: `aux: {"ID": "sha256:…"}`, as Docker's
/// `types.BuildResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildResult {
    #[serde(rename = "ID")]
    pub id: String,
}

/// The header `skiff build --secret` sends its secrets in (there is no
/// BuildKit session to ask the client for them): standard base64 of a JSON
/// object mapping each secret's id to the standard base64 of its content.
/// The agent writes each to a 0400 file in a private directory that lives
/// as long as the build, for `RUN --mount=type=secret`; it never logs the
/// header, and refuses one longer than [`SECRETS_HEADER_MAX`].
pub const SECRETS_HEADER: &str = "X-Skiff-Build-Secrets";

/// The longest [`SECRETS_HEADER`] value accepted (under hyper's header
/// buffer): about 190 KiB of secret content in all.
pub const SECRETS_HEADER_MAX: usize = 256 * 1024;

/// The query of `POST /build` that skiff acts on (Docker's names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildOptions {
    /// `-t`, repeatable.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Path of the Dockerfile inside the context (`Dockerfile` if empty).
    #[serde(default)]
    pub dockerfile: String,
    #[serde(default)]
    pub build_args: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub no_cache: bool,
    #[serde(default)]
    pub pull: bool,
    #[serde(default)]
    pub cache_from: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `--network`; the default bridge when empty.
    #[serde(default)]
    pub network_mode: String,
    /// `--add-host`, `host:ip`.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// `-q`: only the image ID at the end.
    #[serde(default)]
    pub quiet: bool,
    /// Remove the step containers after a successful build (default true).
    #[serde(default = "yes")]
    pub remove: bool,
    /// Remove them even after a failure.
    #[serde(default)]
    pub force_remove: bool,
    #[serde(default)]
    pub platform: String,
    /// `skiffprogress=1`: `BuildProgress` events instead of text.
    #[serde(default)]
    pub skiff_progress: bool,
    /// `skiffcontext=KEY`: the body starts with a [`ContextManifest`]
    /// framed by [`CONTEXT_MAGIC`], and the agent keeps the context under
    /// this key for the next build.
    #[serde(default)]
    pub context_key: String,
    /// `skiffbase=TOKEN`: the tar after the manifest holds only what
    /// changed since the context the agent keeps under `context_key` at
    /// this token (empty: the whole context).
    #[serde(default)]
    pub context_base: String,
}

/// Incremental build contexts (skiff's CLI with skiff's agent; Docker's
/// clients never ask for them). `GET /build/context/{key}` answers the
/// manifest the agent keeps for a client's context; the client walks its
/// directory, compares each entry's signature with it, and sends
/// `CONTEXT_MAGIC`, the manifest's length (8 bytes, little-endian), the
/// new manifest (JSON), then a tar of only the entries whose signature
/// changed. What the new manifest does not list is removed.
pub const CONTEXT_MAGIC: &[u8; 8] = b"SKIFFCTX";

/// Part of the agent's answer (400) when `skiffbase` names a state of the
/// kept context that is gone: the client sends the context whole.
pub const CONTEXT_STALE: &str = "the kept build context changed";

/// The longest manifest the agent reads (about a million entries).
pub const CONTEXT_MANIFEST_MAX: u64 = 256 * 1024 * 1024;

/// Every entry of a context, as its client saw it: its path inside the
/// context (as named in the tar) and a signature of its metadata that the
/// client alone interprets (any change to the entry changes it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextManifest {
    /// Which state of the kept context this is (empty: none kept).
    #[serde(rename = "Token", default)]
    pub token: String,
    #[serde(rename = "Entries", default)]
    pub entries: Vec<(String, String)>,
}

fn yes() -> bool {
    true
}
