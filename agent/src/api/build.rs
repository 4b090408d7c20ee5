//! `POST /build` (Docker's classic builder API) and `POST /build/prune`.
//! The query is read as Docker's CLI writes it; the body (the context tar)
//! is unpacked as it streams in; the build's events go out as Docker's
//! `JSONMessage` lines: `stream` text (`Step 2/9 : RUN …`, ` ---> Using
//! cache`, the command's output, `Successfully built …`) and `aux` with
//! the image ID, or, with `skiffprogress=1`, one `BuildProgress` per event.

use std::collections::{BTreeMap, HashMap};

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use skiff_api::{BuildOptions, BuildProgress, BuildStatus, JsonMessage};
use tokio::sync::mpsc;

use super::{ApiError, ApiResult, St};
use crate::build::context;
use crate::build::secrets;
use crate::build::stages::{self, Inputs};
use crate::build::Event;

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "True" | "yes")
}

/// Docker's query for `/build` into `BuildOptions`.
pub fn options(pairs: &[(String, String)]) -> Result<BuildOptions, ApiError> {
    let mut o = BuildOptions {
        remove: true,
        ..Default::default()
    };
    let json_of = |k: &str, v: &str| -> Result<Value, ApiError> {
        if v.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(v).map_err(|e| ApiError::bad(format!("invalid {k}: {e}")))
    };
    for (k, v) in pairs {
        match k.as_str() {
            "t" => o.tags.push(v.clone()),
            "dockerfile" => o.dockerfile = v.clone(),
            "target" => o.target = v.clone(),
            "nocache" => o.no_cache = truthy(v),
            "pull" => o.pull = truthy(v) || (!v.is_empty() && v != "0" && v != "false"),
            "q" => o.quiet = truthy(v),
            "rm" => o.remove = truthy(v),
            "forcerm" => o.force_remove = truthy(v),
            "networkmode" => o.network_mode = v.clone(),
            "platform" => o.platform = v.clone(),
            "skiffprogress" => o.skiff_progress = truthy(v),
            "skiffcontext" => o.context_key = context_word(k, v)?,
            "skiffbase" => o.context_base = context_word(k, v)?,
            "extrahosts" => o
                .extra_hosts
                .extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string)),
            "buildargs" => {
                if let Value::Object(m) = json_of(k, v)? {
                    for (name, val) in m {
                        o.build_args.insert(name, val.as_str().map(str::to_string));
                    }
                }
            }
            "labels" => {
                if let Value::Object(m) = json_of(k, v)? {
                    for (name, val) in m {
                        o.labels.insert(name, val.as_str().unwrap_or_default().to_string());
                    }
                }
            }
            "cachefrom" => {
                if let Value::Array(a) = json_of(k, v)? {
                    o.cache_from
                        .extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)));
                }
            }
            "remote" if !v.is_empty() => {
                return Err(ApiError::bad(
                    "remote build contexts (git or URL) are not supported: send the context as the body",
                ))
            }
            _ => {}
        }
    }
    if o.network_mode.is_empty() || o.network_mode == "default" {
        o.network_mode = "bridge".into();
    }
    for t in &o.tags {
        crate::images::store::parse_reference(t).map_err(|_| {
            ApiError::bad(format!(
                "invalid reference format: repository name ({t}) must be lowercase"
            ))
        })?;
    }
    Ok(o)
}

/// One event as the classic stream's text, if it shows any.
fn classic_text(p: &BuildProgress) -> Option<String> {
    match p.status {
        BuildStatus::Started => Some(format!("Step {}/{} : {}\n", p.step, p.total, p.instruction)),
        BuildStatus::Cached => Some(" ---> Using cache\n".into()),
        BuildStatus::Log => p.log.clone(),
        BuildStatus::Done | BuildStatus::Failed => None,
        BuildStatus::Warning => p.log.as_ref().map(|l| format!("{l}\n")),
    }
}

fn line(v: &impl serde::Serialize) -> String {
    format!("{}\r\n", serde_json::to_string(v).unwrap_or_default())
}

/// A context key or token: up to 64 hex digits.
fn context_word(k: &str, v: &str) -> Result<String, ApiError> {
    match v.len() <= 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => Ok(v.to_string()),
        false => Err(ApiError::bad(format!("invalid {k}: up to 64 hex digits"))),
    }
}

/// `GET /build/context/{key}`: the manifest of the context the agent keeps
/// under `key` for skiff's CLI (an empty token when it keeps none).
pub async fn context_kept(e: St, Path(key): Path<String>) -> ApiResult<axum::Json<skiff_api::ContextManifest>> {
    let key = context_word("key", &key)?;
    let root = e.0.cfg.data_root.join("build");
    let kept = tokio::task::spawn_blocking(move || context::kept(&root, &key))
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
    Ok(axum::Json(kept))
}

/// `POST /build`.
pub async fn build(
    e: St,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let opts = options(&pairs)?;
    let engine = e.0.clone();
    let root = engine.cfg.data_root.join("build");
    std::fs::create_dir_all(&root).map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
    crate::topdir::mark(&root);
    // Secrets first: a bad header fails before the context is read.
    let secrets = match headers.get(skiff_api::SECRETS_HEADER) {
        Some(v) => {
            let given = secrets::decode(v.to_str().unwrap_or("")).map_err(|err| ApiError::bad(err.to_string()))?;
            let root = root.clone();
            Some(
                tokio::task::spawn_blocking(move || secrets::write(&root, given))
                    .await
                    .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
                    .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?,
            )
        }
        None => None,
    };
    // The body streams into a blocking unpacker.
    let (reader, drained) = super::upload::start(body);
    let (key, base) = (opts.context_key.clone(), opts.context_base.clone());
    let unpacking = tokio::task::spawn_blocking(move || {
        let sync = context::Sync { key: &key, base: &base };
        context::unpack(reader, &root, sync)
    });
    let t0 = std::time::Instant::now();
    let ctx = unpacking.await;
    drained
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
    let ctx = ctx
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
        .map_err(|err| ApiError::bad(err.to_string()))?;
    tracing::debug!(
        after_body_ms = t0.elapsed().as_millis() as u64,
        "build context unpacked"
    );
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let registries = super::distribution::registries(&e);
    let skiff = opts.skiff_progress;
    let quiet = opts.quiet;
    let inputs = Inputs {
        context: ctx.dir.clone(),
        registries,
        secrets: secrets.as_ref().map(|s| s.files.clone()).unwrap_or_default(),
    };
    let task = tokio::spawn(async move {
        let r = stages::build(engine, opts, inputs, tx).await;
        drop(ctx);
        drop(secrets);
        r
    });
    let (out_tx, out_rx) = mpsc::channel::<Result<String, std::convert::Infallible>>(64);
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let text = match (&ev, skiff) {
                (Event::Progress(p), true) => Some(line(&json!({ "aux": p }))),
                (Event::Progress(p), false) if !quiet => classic_text(p).map(|s| line(&json!({ "stream": s }))),
                (Event::Classic(s), false) if !quiet => Some(line(&json!({ "stream": s }))),
                _ => None,
            };
            if let Some(t) = text {
                if out_tx.send(Ok(t)).await.is_err() {
                    // The client went away: the build runs to its end all the same.
                    continue;
                }
            }
        }
        let end = match task.await {
            Ok(Ok(id)) => {
                let mut s = String::new();
                if quiet && !skiff {
                    s.push_str(&line(&json!({ "stream": format!("{id}\n") })));
                }
                s + &line(&json!({ "aux": { "ID": id } }))
            }
            Ok(Err(err)) => line(&JsonMessage::failure(&err.to_string())),
            Err(err) => line(&JsonMessage::failure(&err.to_string())),
        };
        let _ = out_tx.send(Ok(end)).await;
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(out_rx));
    Ok(([("Content-Type", "application/json")], body).into_response())
}

/// `POST /build/prune[?all=1&filters={"until":["…"]}]`.
pub async fn prune(e: St, Query(q): Query<HashMap<String, String>>) -> ApiResult {
    let all = q.get("all").is_some_and(|v| truthy(v));
    let filters: BTreeMap<String, Value> = q
        .get("filters")
        .filter(|f| !f.is_empty())
        .map(|f| serde_json::from_str(f).map_err(|err| ApiError::bad(format!("invalid filters: {err}"))))
        .transpose()?
        .unwrap_or_default();
    let until = filters.get("until").and_then(|v| match v {
        Value::Array(a) => a.first().and_then(|x| x.as_str()).map(str::to_string),
        Value::Object(m) => m.keys().next().cloned(),
        _ => None,
    });
    let until = match until {
        Some(u) => {
            let nanos = skiff_api::events::parse_time(&u).map_err(ApiError::bad)?;
            let t = chrono::DateTime::from_timestamp_nanos(nanos);
            Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
        None => None,
    };
    let engine = e.0.clone();
    let (pruned, slots) = tokio::task::spawn_blocking(move || {
        let pruned = engine.images.prune_cache(all, until.as_deref())?;
        // The kept contexts go with `-a` only.
        let root = engine.cfg.data_root.join("build");
        let slots = if all {
            context::prune(&root).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        } else {
            0
        };
        Ok::<_, ApiError>((pruned, slots))
    })
    .await
    .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))??;
    Ok(axum::Json(json!({
        "CachesDeleted": pruned.removed,
        "SpaceReclaimed": pruned.freed + slots,
    }))
    .into_response())
}
