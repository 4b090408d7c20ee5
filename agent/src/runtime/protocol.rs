//! What the agent tells a container's supervisor (`ShimConfig`, written as
//! `shim.json`), and the wire to the monitor it becomes, which the
//! `skiff-shim` crate defines.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use skiff_shim::protocol::*;

/// The supervisor's liveness lock, in its directory beside `shim.json`:
/// the agent takes it before the supervisor exists and hands it over as
/// descriptor `LOCK_FD`, which the supervisor and the monitor it becomes
/// keep for life. Held means a supervisor lives, even before its socket
/// is bound (`supervisor::alive`).
pub const LOCK_FILE: &str = "supervisor.lock";
pub const LOCK_FD: std::os::fd::RawFd = 4;

/// Why a supervisor could not start a process, as far as the exit code
/// a user sees depends on it: reported by the container's init as one
/// byte (`executor.rs`), then by the supervisor on its ready line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LaunchFailure {
    Other = 0,
    /// The program does not exist (Docker: 127).
    NotFound = 1,
    /// It exists but cannot run: a directory, no execute bit (126).
    NotExecutable = 2,
}

impl LaunchFailure {
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => LaunchFailure::NotFound,
            2 => LaunchFailure::NotExecutable,
            _ => LaunchFailure::Other,
        }
    }

    /// The exit code `docker run` gives for it.
    pub fn exit_code(self) -> i64 {
        match self {
            LaunchFailure::NotFound => 127,
            LaunchFailure::NotExecutable => 126,
            LaunchFailure::Other => 125,
        }
    }
}

/// A failed start as the supervisor reported it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LaunchError {
    pub kind: LaunchFailure,
    pub message: String,
}

/// What a supervisor runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Mode {
    /// The container's first process, from the OCI bundle.
    Init { bundle: PathBuf },
    /// An `exec` into the running container: an OCI process JSON.
    Exec { process: PathBuf },
}

/// A seccomp filter for the process a supervisor starts: compiled by the
/// agent (`seccomp::bpf`), loaded by the process's last step
/// (`runtime::executor`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeccompLoad {
    pub filter: PathBuf,
    /// Capabilities the process has only to load the filter, dropped right
    /// after.
    pub lift: Vec<String>,
}

/// Everything a supervisor needs, written by the agent as `shim.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    /// The runtime's container ID.
    pub id: String,
    pub mode: Mode,
    /// libcontainer's state root.
    pub runtime_root: PathBuf,
    pub tty: bool,
    pub stdin: bool,
    /// json-file log, for the container's own output (not for exec).
    pub log: Option<LogTarget>,
    /// Where the exit status is recorded; outlives the agent.
    pub exit_file: PathBuf,
    pub socket: PathBuf,
    #[serde(default)]
    pub seccomp: Option<SeccompLoad>,
}
