//! skiff's per-container monitor and what the agent shares with it: the
//! supervisor wire (`protocol`), the json-file log format (`jsonfile`) and
//! the relay loop (`monitor`). The `skiff-shim` binary is the monitor alone,
//! so each running container costs a small process, not a copy of the agent.

pub mod jsonfile;
pub mod monitor;
pub mod protocol;
