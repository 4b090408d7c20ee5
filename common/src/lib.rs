//! What skiff's agent, controller and CLI share: the Docker Engine API
//! types, crash-safe state files, the API client, and the `skiff` CLI.

pub mod api;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod events;
pub mod fsutil;
pub mod metrics;
pub mod stats;
