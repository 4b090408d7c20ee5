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

/// What a supervisor runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Mode {
    /// The container's first process, from the OCI bundle.
    Init { bundle: PathBuf },
    /// An `exec` into the running container: an OCI process JSON.
    Exec { process: PathBuf },
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
}
