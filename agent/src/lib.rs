#![recursion_limit = "256"]
//! skiff-agent: the per-host engine. The data path reads top-down:
//! `api` (Docker Engine API over HTTP) → `build` (Dockerfile builds) → `engine` (containers, exec) →
//! `runtime` (OCI bundles, supervisors) / `storage` (images, layers,
//! overlay2) / `network` (bridges, macvlan, ports, DNS). A running
//! container's monitor, and the json-file log it writes, are the
//! `skiff-shim` crate (`agent/shim`). `cluster` holds the session to the
//! controller, which calls into `api`.

pub mod api;
pub mod build;
pub mod cluster;
pub mod config;
pub mod crashpoint;
pub mod engine;
pub mod idmap;
pub mod idmount;
pub mod ids;
pub mod images;
pub mod network;
pub mod runtime;
pub mod topdir;
pub mod trim;
pub mod volumes;
