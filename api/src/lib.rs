//! Docker Engine API v1.41 types, shaped as Docker serializes them, so the
//! stock `docker` CLI and SDKs understand the agent and `skiff` understands
//! Docker. Fields skiff does not act on yet are kept (`extra`) so a request
//! round-trips into `inspect` unchanged. One module per family; the types
//! are re-exported here, as Docker's `api/types` does.

mod archive;
mod build;
mod container;
mod de;
mod exec;
mod health;
mod image;
mod names;
mod network;
mod nil;
mod resources;
mod system;
mod volume;

pub mod cluster;
pub mod events;
pub mod stats;
pub mod stream;

pub use archive::*;
pub use build::*;
pub use container::*;
pub use de::*;
pub use exec::*;
pub use health::*;
pub use image::*;
pub use names::*;
pub use network::*;
pub use nil::*;
pub use resources::*;
pub use system::*;
pub use volume::*;
