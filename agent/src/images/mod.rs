//! Images and the root filesystems made from them: save and load
//! (`archive`), diff and commit of containers' layers (`commit`, a layer made
//! straight from an overlay directory by `difftar`), the image service
//! (`service`: import, removal, containers' root filesystems; later push,
//! save, load, commit), pulls from and pushes to registries (`pull`, `push`, over `registry`:
//! client, credentials, mirrors, manifest and platform choice; `search`: a
//! registry's catalog as `docker search` rows), the image store (`store`: configs,
//! manifests, tags), content-addressed layers (`layers`) extracted safely
//! (`extract`, recording a `tarsplit` to put their tars back together) into a graph driver (`driver`: overlay2 or vfs), references
//! (`reference`) and the trash removed trees go to.

pub mod archive;
pub mod btrfs;
pub mod build_cache;
pub mod changes;
pub mod chunks;
pub mod commit;
pub mod difftar;
pub mod distribution;
pub mod driver;
pub mod extract;
pub mod filedata;
pub mod gzip;
pub mod idmapped;
pub mod layers;
pub mod pull;
pub mod push;
pub mod quota;
pub mod reference;
pub mod registry;
pub mod search;
pub mod service;
pub mod store;
pub mod tarsplit;
pub mod trash;
pub mod treediff;
