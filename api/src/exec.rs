//! Exec instances.

use serde::{Deserialize, Serialize};

use crate::de::null_as_default;

/// `POST /exec/{id}/start` body and `POST /containers/{id}/exec` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub attach_stdin: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attach_stdout: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attach_stderr: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub detach_keys: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tty: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cmd: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub privileged: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub working_dir: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStart {
    #[serde(default, deserialize_with = "null_as_default")]
    pub detach: bool,
    /// How the output is framed (raw with a TTY, multiplexed without);
    /// absent: as the exec was created.
    #[serde(default)]
    pub tty: Option<bool>,
}
