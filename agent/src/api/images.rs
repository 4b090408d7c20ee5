//! Image endpoints: list, inspect, import (`/images/create?fromSrc=`), tag,
//! remove.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use skiff_api::{ContainerConfig, ImageSummary};

use super::{qbool, ApiError, ApiResult, St, Q};
use crate::images::service::{ImportOptions, Removed};
use crate::images::store::{parse_reference, Image, ImageError, NamedTag};

pub(super) fn created_unix(img: &Image) -> i64 {
    img.config
        .created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|d| d.timestamp())
        .unwrap_or(0)
}

pub async fn list(e: St, q: Q) -> ApiResult<Json<Vec<ImageSummary>>> {
    let filters = super::image_filters::ImageFilters::new(&e, super::containers::parse_filters(&q)?)?;
    let mut out = Vec::new();
    for id in e.images.ids() {
        let Ok(img) = e.images.load(&id) else { continue };
        let tags = e.images.tags_of(&img.id);
        if !filters.keep(&img, &tags) {
            continue;
        }
        let mut s = summary(&e, &img);
        filters.names(&mut s.repo_tags);
        filters.names(&mut s.repo_digests);
        out.push(s);
    }
    out.sort_by_key(|i| std::cmp::Reverse(i.created));
    Ok(Json(out))
}

/// An image's row: its size, and how many containers use it.
pub fn summary(e: &crate::engine::Engine, img: &Image) -> ImageSummary {
    let size = e.images.size(img) as i64;
    let containers = e.all().iter().filter(|c| c.record().inspect.image == img.id).count() as i64;
    ImageSummary {
        id: img.id.clone(),
        parent_id: String::new(),
        repo_tags: e.images.tags_of(&img.id),
        repo_digests: skiff_api::Nil::null_if_empty(e.images.digests_of(&img.id)),
        created: created_unix(img),
        size,
        shared_size: -1,
        virtual_size: size,
        labels: img.config.config.labels.clone(),
        containers,
        node: None,
    }
}

fn inspect_json(e: &crate::engine::Engine, img: &Image) -> Value {
    let size = e.images.size(img);
    let driver = &e.images.layers.driver;
    let data = img
        .top_layer()
        .and_then(|c| e.images.layers.get(&c).ok())
        .map(|l| {
            let mut m = driver.metadata(&l.cache_id);
            // As Docker's overlay2: the layer's merged and work paths too.
            if let Some(upper) = m
                .get("UpperDir")
                .and_then(|u| u.strip_suffix("/diff"))
                .map(String::from)
            {
                m.entry("MergedDir".into()).or_insert(format!("{upper}/merged"));
                m.entry("WorkDir".into()).or_insert(format!("{upper}/work"));
            }
            m.retain(|_, v| !v.is_empty());
            m
        })
        .unwrap_or_default();
    json!({
        "Id": img.id,
        "RepoTags": e.images.tags_of(&img.id),
        "RepoDigests": e.images.digests_of(&img.id),
        "Parent": "",
        "Comment": img.config.comment.clone().unwrap_or_default(),
        "Created": img.config.created.clone().unwrap_or_default(),
        "Container": "",
        "ContainerConfig": ContainerConfig::default(),
        "DockerVersion": "",
        "Author": img.config.author.clone().unwrap_or_default(),
        "Config": img.config.config,
        "Architecture": img.config.architecture,
        "Os": img.config.os,
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": {"Name": driver.kind().name(), "Data": data},
        "RootFS": {"Type": "layers", "Layers": img.config.rootfs.diff_ids},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    })
}

/// A reference as Docker names it in errors: `:latest` when it has no tag
/// or digest (IDs as given).
fn with_latest(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') || name.starts_with("sha256:") {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// `GET /images/{name}/json` and `/history`; names may contain slashes.
pub async fn get_dispatch(e: St, Path(rest): Path<String>) -> ApiResult {
    if let Some(name) = rest.strip_suffix("/json") {
        // Docker's inspect wraps the store's not-found in its own words.
        let img = e.images.resolve(name).map_err(|err| match ApiError::from(err) {
            ApiError(StatusCode::NOT_FOUND, _) => ApiError(
                StatusCode::NOT_FOUND,
                format!("no such image: {name}: No such image: {}", with_latest(name)),
            ),
            other => other,
        })?;
        return Ok(Json(inspect_json(&e, &img)).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return super::image_archive::save(e, vec![name.to_string()]);
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let img = e.images.resolve(name)?;
        return Ok(Json(history_json(&e, &img)).into_response());
    }
    Err(ApiError(StatusCode::NOT_FOUND, "page not found".to_string()))
}

/// `POST /images/{name}/tag?repo=&tag=` and `/images/{name}/push`.
pub async fn post_dispatch(e: St, Path(rest): Path<String>, q: Q, headers: HeaderMap) -> ApiResult {
    if let Some(name) = rest.strip_suffix("/push") {
        return super::distribution::push(e, name, &q, &headers).await;
    }
    let Some(name) = rest.strip_suffix("/tag") else {
        return Err(ApiError(StatusCode::NOT_FOUND, "page not found".to_string()));
    };
    let img = e.images.resolve(name)?;
    let repo = q.get("repo").cloned().unwrap_or_default();
    let tag = q.get("tag").cloned().unwrap_or_default();
    let full = if tag.is_empty() { repo } else { format!("{repo}:{tag}") };
    let t = parse_reference(&full)?;
    e.images.tag(&img.id, &t)?;
    e.emit("image", "tag", &img.id, [("name".to_string(), t.to_string())].into());
    Ok(StatusCode::CREATED.into_response())
}

/// `POST /images/create`: pull (`fromImage=`) or import (`fromSrc=-`, the
/// body is the tarball).
pub async fn create(e: St, q: Q, headers: HeaderMap, body: Body) -> ApiResult {
    if let Some(from) = q.get("fromImage") {
        return super::distribution::pull(e, from, &q, &headers).await;
    }
    if q.get("fromSrc").map(String::as_str) != Some("-") {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "only fromSrc=- (the request body) is supported for import".into(),
        ));
    }
    let repo = q.get("repo").cloned().unwrap_or_default();
    let tag_param = q.get("tag").cloned().unwrap_or_default();
    let tag: Option<NamedTag> = if repo.is_empty() {
        None
    } else {
        let full = if tag_param.is_empty() {
            repo
        } else {
            format!("{repo}:{tag_param}")
        };
        Some(parse_reference(&full)?)
    };
    let changes: Vec<String> = match q.get("changes") {
        Some(c) if c.trim_start().starts_with('[') => serde_json::from_str(c).unwrap_or_default(),
        Some(c) if !c.is_empty() => vec![c.clone()],
        _ => Vec::new(),
    };
    let created = match q.get("created") {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|err| ApiError(StatusCode::BAD_REQUEST, format!("invalid created time {t:?}: {err}")))?
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        ),
        None => None,
    };
    let opts = ImportOptions {
        changes,
        message: q.get("message").cloned().filter(|m| !m.is_empty()),
        tag,
        created,
    };
    // Collect the archive on disk (it may be large), then extract it.
    let tmpdir = e.cfg.data_root.join("tmp");
    std::fs::create_dir_all(&tmpdir).map_err(internal)?;
    let tmp = tmpdir.join(format!("import-{}", crate::ids::new_id()));
    // Removed however the import ends (a full disk mid-upload included).
    let _spool = Spool(tmp.clone());
    super::upload::spool(body, &tmp).await?;
    let engine = e.0.clone();
    let tmp2 = tmp.clone();
    let result = tokio::task::spawn_blocking(move || engine.images.import_archive(&tmp2, opts))
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
    let id = result.map_err(|err| match err {
        ImageError::BadChange(m) => ApiError(StatusCode::BAD_REQUEST, m),
        err => ApiError(StatusCode::BAD_REQUEST, format!("importing image: {err}")),
    })?;
    e.emit("image", "import", &id, Default::default());
    Ok((
        [("Content-Type", "application/json")],
        format!("{}\n", json!({"status": id})),
    )
        .into_response())
}

/// A spooled upload, removed when dropped.
struct Spool(std::path::PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn internal(e: std::io::Error) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// `POST /images/prune[?filters={"dangling":["false"],"label":[…],"until":[…]}]`.
pub async fn prune(e: St, q: Q) -> ApiResult<Json<Value>> {
    let filters = super::containers::parse_filters(&q)?;
    let all = filters
        .get("dangling")
        .is_some_and(|v| v.iter().any(|x| x == "false" || x == "0"));
    let f = super::prune::PruneFilter::parse(&q, &["dangling"])?;
    let allowed = move |img: &crate::images::store::Image| {
        f.allows(
            img.config.created.as_deref().unwrap_or_default(),
            &img.config.config.labels,
        )
    };
    let engine = e.0.clone();
    let (out, freed) = tokio::task::spawn_blocking(move || engine.images.prune(all, &allowed, &*engine))
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))??;
    e.emit(
        "image",
        "prune",
        "",
        [("reclaimed".to_string(), freed.to_string())].into(),
    );
    Ok(Json(
        json!({"ImagesDeleted": skiff_api::Nil::null_if_empty(out), "SpaceReclaimed": freed}),
    ))
}

/// `DELETE /images/{name}`: untag, and delete what no tag or container holds.
pub async fn remove(e: St, Path(name): Path<String>, q: Q) -> ApiResult<Response> {
    let (id, out) = e.images.remove(&name, qbool(&q, "force"), &*e.0)?;
    for item in &out {
        if let Removed::Untagged(t) = item {
            e.emit("image", "untag", &id, [("name".to_string(), t.clone())].into());
        }
    }
    if out.contains(&Removed::Deleted(id.clone())) {
        e.emit("image", "delete", &id, [("name".to_string(), name.clone())].into());
    }
    Ok(Json(out).into_response())
}

/// `GET /images/{name}/history` as Docker's daemon answers it: newest
/// first; each step that made a layer carries that layer's size; the
/// newest step names the image and its tags, the others `<missing>`
/// (skiff keeps no parent chain of local images).
fn history_json(e: &St, img: &Image) -> Vec<Value> {
    let chains = img.chain_ids();
    let mut layer = 0;
    let mut out: Vec<Value> = Vec::new();
    for h in &img.config.history {
        let mut size = 0;
        if !h.empty_layer.unwrap_or(false) {
            if let Some(c) = chains.get(layer) {
                size = e.images.layers.get(c).map(|l| l.size).unwrap_or(0);
            }
            layer += 1;
        }
        // Go's zero time when a step has no date, as Docker shows it.
        let created = h
            .created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map_or(-62_135_596_800, |d| d.timestamp());
        out.push(
            json!({"Id": "<missing>", "Created": created, "CreatedBy": h.created_by.clone().unwrap_or_default(),
                        "Tags": null, "Size": size, "Comment": h.comment.clone().unwrap_or_default()}),
        );
    }
    out.reverse();
    if let Some(top) = out.first_mut() {
        let tags = e.images.tags_of(&img.id);
        top["Id"] = json!(img.id);
        top["Tags"] = if tags.is_empty() { Value::Null } else { json!(tags) };
    }
    out
}
