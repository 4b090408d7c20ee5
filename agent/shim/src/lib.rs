//! skiff's per-container monitor and what the agent shares with it: the
//! supervisor wire (`protocol`), the log drivers (`log`, json-file's format
//! shared with the agent's `logs`) and the relay loop (`monitor`). The `skiff-shim` binary is the monitor alone,
//! so each running container costs a small process, not a copy of the agent.

pub mod log;
pub mod monitor;
pub mod protocol;
