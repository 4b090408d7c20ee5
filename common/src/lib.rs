//! What skiff's two daemons share: the cluster's gRPC protocol and the
//! mutual-TLS channel agents dial (`cluster`), the event journal
//! (`events`), the HTTP error both answer with (`http`), Prometheus text
//! (`metrics`), and crash-safe files
//! (`fsutil`, its own small crate so the per-container monitor can use it
//! without the rest).

pub mod cluster;
pub mod events;
pub mod http;
pub mod metrics;

pub use skiff_fsutil as fsutil;
