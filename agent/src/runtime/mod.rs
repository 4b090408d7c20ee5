//! Running containers: OCI bundles (`spec`), network namespaces (`netns`),
//! and the per-container supervisor process (`shim`) with the agent's side
//! of it (`supervisor`) and the wire between them (`protocol`); seccomp
//! profiles in Docker's format (`seccomp`).

/// The runtime's name in `info` and `inspect`: Docker's clients expect
/// `runc`, and libcontainer (youki) is a runc-compatible OCI runtime.
pub const RUNTIME_NAME: &str = "runc";

pub mod cgroup_warmup;
pub mod cgroups;
pub mod executor;
pub mod limits;
pub mod netns;
pub mod protocol;
pub mod seccomp;
pub mod shim;
pub mod spec;
pub mod supervisor;
pub mod sysinfo;
pub mod userns;
