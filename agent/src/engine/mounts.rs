//! The mounts a container asks for, parsed once at create from `-v`
//! (`HostConfig.Binds`) into typed mount points kept in its record: start
//! turns them into OCI bind mounts and `inspect` shows them as Docker's
//! `Mounts`. `--mount`, `--tmpfs`, `--volumes-from` and named volumes plug
//! in here.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use skiff_api::HostConfig;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Bind,
}

/// One mount point of a container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct MountPoint {
    pub kind: Kind,
    /// Host path (bind).
    pub source: String,
    /// Absolute path in the container.
    pub destination: String,
    /// The options as given (`ro`, `rw,z`, …), for `inspect`.
    pub mode: String,
    pub rw: bool,
}

impl MountPoint {
    /// `-v SRC:DST[:OPTS]` with an absolute host path.
    pub fn parse_bind(spec: &str) -> Result<MountPoint, String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let bad = || format!("invalid volume specification: '{spec}'");
        if parts.len() < 2 || parts.len() > 3 || !parts[0].starts_with('/') || !parts[1].starts_with('/') {
            return Err(bad());
        }
        let mode = parts.get(2).copied().unwrap_or_default();
        Ok(MountPoint {
            kind: Kind::Bind,
            source: parts[0].to_string(),
            destination: parts[1].to_string(),
            mode: mode.to_string(),
            rw: !mode.split(',').any(|o| o == "ro"),
        })
    }

    /// As Docker's `inspect` shows it under `Mounts`.
    pub fn inspect(&self) -> Value {
        json!({
            "Type": "bind",
            "Source": self.source,
            "Destination": self.destination,
            "Mode": self.mode,
            "RW": self.rw,
            "Propagation": "rprivate",
        })
    }
}

/// Every mount point a create asks for, or the first bad one's error.
pub fn from_host_config(hc: &HostConfig) -> Result<Vec<MountPoint>, String> {
    hc.binds.iter().map(|b| MountPoint::parse_bind(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_as_docker_reads_them() {
        let m = MountPoint::parse_bind("/srv/data:/data:ro,z").unwrap();
        assert_eq!(
            (m.source.as_str(), m.destination.as_str(), m.rw),
            ("/srv/data", "/data", false)
        );
        assert_eq!(m.inspect()["Mode"], "ro,z");
        assert!(MountPoint::parse_bind("/a:/b").unwrap().rw);
        for bad in ["/a", "a:/b", "/a:b", "/a:/b:ro:x", "name:/data"] {
            assert_eq!(
                MountPoint::parse_bind(bad),
                Err(format!("invalid volume specification: '{bad}'"))
            );
        }
    }
}
