//! Registry transfers: `POST /images/create?fromImage=` (pull) and
//! `POST /images/{name}/push` answered as Docker does: an error status when
//! they fail before anything is sent (a bad reference, an unknown manifest,
//! denied access, no such image), else a stream of JSON progress messages
//! that ends in an error message if they fail later.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use skiff_api::JsonMessage;
use tokio::sync::mpsc;

use super::{ApiError, ApiResult, St, Q};
use crate::images::pull::{PullError, PullOptions};
use crate::images::registry::{Credentials, Platform, Registries, RegistryError};
use crate::images::search::SearchFilters;
use crate::images::store::ImageError;

/// `X-Registry-Auth`: base64url JSON of Docker's `AuthConfig`.
#[derive(Deserialize, Default)]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "identitytoken")]
    identity_token: String,
}

pub fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let raw = headers.get("X-Registry-Auth")?.to_str().ok()?;
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(raw.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim()))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw.trim()))
        .ok()?;
    let a: AuthConfig = serde_json::from_slice(&bytes).ok()?;
    Some(Credentials {
        username: a.username,
        password: a.password,
        identity_token: a.identity_token,
    })
}

/// The agent's registry settings.
pub(super) fn registries(e: &St) -> Registries {
    Registries {
        insecure: e.cfg.insecure_registries.clone(),
        certs_dir: e.cfg.certs_dir.clone(),
        mirrors: e.cfg.registry_mirrors.clone(),
    }
}

/// `POST /auth`: check credentials against a registry, as `docker login`.
pub async fn login(e: St, Json(a): Json<LoginRequest>) -> ApiResult {
    let registry = a
        .serveraddress
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .trim_end_matches("/v2")
        .to_string();
    let registry = if registry.is_empty() || registry == "index.docker.io" {
        "docker.io".to_string()
    } else {
        registry
    };
    let creds = Credentials {
        username: a.username,
        password: a.password,
        identity_token: String::new(),
    };
    match crate::images::registry::login(&registry, &creds, &registries(&e)).await {
        Ok(()) => Ok(Json(serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""})).into_response()),
        Err(RegistryError::Unauthorized(m)) => Err(ApiError(StatusCode::UNAUTHORIZED, m)),
        Err(err) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())),
    }
}

/// `POST /auth`'s body: Docker's `AuthConfig`.
#[derive(Deserialize)]
pub struct LoginRequest {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    serveraddress: String,
}

fn status_of(e: &PullError) -> StatusCode {
    match e {
        PullError::Registry(RegistryError::BadReference) => StatusCode::BAD_REQUEST,
        PullError::Registry(RegistryError::NotFound(_) | RegistryError::Denied(_) | RegistryError::NoRepository(_)) => {
            StatusCode::NOT_FOUND
        }
        PullError::Registry(RegistryError::Unauthorized(_)) => StatusCode::UNAUTHORIZED,
        PullError::Registry(RegistryError::NoPlatform(_) | RegistryError::Unsupported(_)) => StatusCode::BAD_REQUEST,
        PullError::Image(ImageError::NotFound(_)) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub async fn pull(e: St, from: &str, q: &Q, headers: &HeaderMap) -> ApiResult {
    let tag = q.get("tag").map(String::as_str).unwrap_or_default();
    let reference = match tag {
        "" => from.to_string(),
        t if t.contains(':') => format!("{from}@{t}"),
        t => format!("{from}:{t}"),
    };
    let platform = match q.get("platform").filter(|p| !p.is_empty()) {
        Some(p) => Some(Platform::parse(p).map_err(|err| ApiError(StatusCode::BAD_REQUEST, err.to_string()))?),
        None => None,
    };
    let opts = PullOptions {
        platform,
        credentials: credentials(headers),
        registries: registries(&e),
    };
    // No tag anywhere: every tag of the repository (`pull --all-tags`).
    let all = tag.is_empty() && crate::images::registry::name_only(from);
    let engine = e.0.clone();
    progress(move |tx| async move {
        let p = if all {
            engine.images.pull_all(&reference, &opts, &tx).await?
        } else {
            engine.images.pull(&reference, &opts, &tx).await?
        };
        engine.emit(
            "image",
            "pull",
            &p.reference,
            [("name".to_string(), p.reference.clone())].into(),
        );
        Ok(())
    })
    .await
}

/// `GET /distribution/{name}/json`: the registry's descriptor and
/// platforms for a reference, as Docker's (errors with pull's statuses).
pub async fn inspect(e: St, axum::extract::Path(rest): axum::extract::Path<String>, headers: HeaderMap) -> ApiResult {
    let Some(name) = rest.strip_suffix("/json") else {
        return Ok(super::page_not_found().await);
    };
    let opts = PullOptions {
        platform: None,
        credentials: credentials(&headers),
        registries: registries(&e),
    };
    match crate::images::distribution::inspect(name, &opts).await {
        Ok(v) => Ok(Json(v).into_response()),
        // Docker passes the registry's own words on.
        Err(PullError::Registry(RegistryError::NotFound(_))) => Err(ApiError(
            StatusCode::NOT_FOUND,
            "manifest unknown: manifest unknown".into(),
        )),
        Err(err) => Err(ApiError(status_of(&err), err.to_string())),
    }
}

/// `POST /images/{name}/push[?tag=]`.
pub async fn push(e: St, name: &str, q: &Q, headers: &HeaderMap) -> ApiResult {
    let reference = match q.get("tag").map(String::as_str).unwrap_or_default() {
        "" => name.to_string(),
        t => format!("{name}:{t}"),
    };
    let opts = PullOptions {
        platform: None,
        credentials: credentials(headers),
        registries: registries(&e),
    };
    // No tag anywhere: every local tag of the repository (`push --all-tags`).
    let all = !reference.contains('@') && crate::images::registry::name_only(&reference);
    let engine = e.0.clone();
    progress(move |tx| async move {
        if all {
            engine.images.push_all(&reference, &opts, &tx).await?;
        } else {
            engine.images.push(&reference, &opts, &tx).await?;
        }
        engine.emit(
            "image",
            "push",
            &reference,
            [("name".to_string(), reference.clone())].into(),
        );
        Ok(())
    })
    .await
}

/// Run a transfer that reports on a channel; answer with its failure's
/// status if it fails before its first message, else with the stream.
async fn progress<F, Fut>(job: F) -> ApiResult
where
    F: FnOnce(mpsc::UnboundedSender<JsonMessage>) -> Fut,
    Fut: std::future::Future<Output = Result<(), PullError>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<JsonMessage>();
    let fut = job(tx);
    let task = tokio::spawn(async move { fut.await.map_err(|err| (status_of(&err), err.to_string())) });
    // Nothing sent yet: a failure is the answer's status.
    let Some(first) = rx.recv().await else {
        return match task.await {
            Ok(Err((code, msg))) => Err(ApiError(code, msg)),
            Ok(Ok(())) => Ok(StatusCode::OK.into_response()),
            Err(err) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())),
        };
    };
    let (out_tx, out_rx) = mpsc::channel::<Result<String, std::convert::Infallible>>(64);
    tokio::spawn(async move {
        let line = |m: &JsonMessage| format!("{}\r\n", serde_json::to_string(m).unwrap_or_default());
        let _ = out_tx.send(Ok(line(&first))).await;
        while let Some(m) = rx.recv().await {
            if out_tx.send(Ok(line(&m))).await.is_err() {
                return;
            }
        }
        if let Ok(Err((_, msg))) = task.await {
            let _ = out_tx.send(Ok(line(&JsonMessage::failure(&msg)))).await;
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(out_rx));
    Ok(([("Content-Type", "application/json")], body).into_response())
}

/// `GET /images/search?term=&limit=&filters=`: Docker's rows, from the
/// registry's catalog (`images::search`).
pub async fn search(e: St, q: Q, headers: HeaderMap) -> ApiResult {
    let term = q.get("term").cloned().unwrap_or_default();
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        None => 25,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError(StatusCode::BAD_REQUEST, format!("invalid limit: {l}")))?,
    };
    if !(1..=100).contains(&limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("limit {limit} is outside the range of [1, 100]"),
        ));
    }
    let filters = super::containers::parse_filters(&q)?;
    let filters = SearchFilters::parse(&filters).map_err(|m| ApiError(StatusCode::BAD_REQUEST, m))?;
    let found = crate::images::search::search(
        &term,
        limit as usize,
        &filters,
        credentials(&headers).as_ref(),
        &registries(&e),
    )
    .await
    .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
    Ok(Json(found).into_response())
}
