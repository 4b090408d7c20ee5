//! The wire between the agent and a container's supervisor: frames of
//! `[kind u8][len u32 BE][payload]` over the supervisor's unix socket.

use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::PathBuf;

/// Supervisor → agent: output of the process.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// Supervisor → agent: the process exited; payload is the i32 exit code.
pub const EXIT: u8 = 3;
/// Supervisor → agent: the process runs; payload is its i32 host PID.
pub const STARTED: u8 = 4;
/// Agent → supervisor.
pub const STDIN: u8 = 0;
pub const STDIN_CLOSE: u8 = 5;
/// Payload: rows u16 BE, cols u16 BE.
pub const RESIZE: u8 = 6;
/// Payload: signal number i32 BE.
pub const SIGNAL: u8 = 7;

pub fn write_frame<W: Write>(w: &mut W, kind: u8, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(5 + payload.len());
    buf.push(kind);
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf)
}

/// Parse complete frames from the front of `buf`, leaving a partial one.
pub fn take_frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while buf.len() - pos >= 5 {
        let len = u32::from_be_bytes([buf[pos + 1], buf[pos + 2], buf[pos + 3], buf[pos + 4]]) as usize;
        if buf.len() - pos - 5 < len {
            break;
        }
        out.push((buf[pos], buf[pos + 5..pos + 5 + len].to_vec()));
        pos += 5 + len;
    }
    buf.drain(..pos);
    out
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogTarget {
    pub path: PathBuf,
    pub rotation: crate::logs::jsonfile::Rotation,
}

/// The record a supervisor leaves when its process ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitRecord {
    pub code: i32,
    pub finished_at: String,
    #[serde(default)]
    pub oom_killed: bool,
}
