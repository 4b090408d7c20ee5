//! The HTTP error both daemons answer with, as Docker sends it: a status
//! and `{"message": …}` (304 with no body), and the query helpers their
//! handlers share.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use skiff_api::ErrorResponse;

/// An error body and status, as Docker sends them.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

pub type ApiResult<T = Response> = Result<T, ApiError>;

/// A request's query parameters.
pub type Q = axum::extract::Query<HashMap<String, String>>;

impl ApiError {
    /// 400, for what the client sent wrong.
    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.0 == StatusCode::NOT_MODIFIED {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        let message = go_errno_words(self.1);
        (self.0, Json(ErrorResponse { message })).into_response()
    }
}

/// Rust words the errors of a full disk its own way ("No space left on
/// device (os error 28)"); Docker's users and their scripts know Go's.
fn go_errno_words(msg: String) -> String {
    const WORDS: [(&str, &str); 2] = [
        ("No space left on device (os error 28)", "no space left on device"),
        ("Disk quota exceeded (os error 122)", "disk quota exceeded"),
    ];
    WORDS.iter().fold(
        msg,
        |m, (rust, go)| if m.contains(rust) { m.replace(rust, go) } else { m },
    )
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

/// Docker's boolean query values: 1, true, True, yes.
pub fn qbool(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key)
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "True" | "yes"))
}
