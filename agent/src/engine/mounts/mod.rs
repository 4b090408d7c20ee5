//! The mounts a container asks for, parsed once at create into typed mount
//! points kept in its record: binds (`-v /host:/path`, `--mount
//! type=bind`), volumes (`-v name:/path`, `-v /path`, `--mount
//! type=volume`, the image's `VOLUME`s, `--volumes-from`) and tmpfs
//! (`--tmpfs`, `--mount type=tmpfs`). `parse` reads each spec with
//! Docker's rules and errors, `plan` puts them together as Docker does
//! (precedence, duplicates); start turns them into OCI mounts and
//! `inspect` shows them as Docker's `Mounts`.

pub mod parse;
pub mod plan;
pub mod tmpfs;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use plan::{plan, Planned};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Bind,
    Volume,
    Tmpfs,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bind => "bind",
            Kind::Volume => "volume",
            Kind::Tmpfs => "tmpfs",
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One mount point of a container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct MountPoint {
    pub kind: Kind,
    /// Host path: the bind's source, or the volume's content directory.
    pub source: String,
    /// Absolute path in the container.
    pub destination: String,
    /// The options as given (`ro`, `rw,z`, …), for `inspect`.
    pub mode: String,
    pub rw: bool,
    /// The volume's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The volume's driver.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// A bind's propagation (`rprivate` when none was given).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    /// A volume made for this container alone (`-v /path`, the image's
    /// `VOLUME`, `--mount` without a source): `rm -v` and `--rm` remove it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub anonymous: bool,
    /// A tmpfs's options (`size=64m,mode=1777`), as Docker's tmpfs data.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tmpfs: String,
    /// `--tmpfs`: Docker keeps these in `HostConfig.Tmpfs`, not in `Mounts`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unlisted: bool,
    /// `--mount type=bind`: the host path must exist (`-v` makes it).
    #[serde(default, skip_serializing_if = "is_false")]
    pub must_exist: bool,
}

impl MountPoint {
    /// As Docker's `inspect` shows it under `Mounts`.
    pub fn inspect(&self) -> Value {
        match self.kind {
            Kind::Bind => json!({
                "Type": "bind",
                "Source": self.source,
                "Destination": self.destination,
                "Mode": self.mode,
                "RW": self.rw,
                "Propagation": if self.propagation.is_empty() { "rprivate" } else { &self.propagation },
            }),
            Kind::Volume => json!({
                "Type": "volume",
                "Name": self.name,
                "Source": self.source,
                "Destination": self.destination,
                "Driver": self.driver,
                "Mode": self.mode,
                "RW": self.rw,
                "Propagation": "",
            }),
            Kind::Tmpfs => json!({
                "Type": "tmpfs",
                "Source": "",
                "Destination": self.destination,
                "Mode": self.mode,
                "RW": self.rw,
                "Propagation": "",
            }),
        }
    }
}

/// A container's `Mounts` as `inspect` and `ps` show them.
pub fn listed(mounts: &[MountPoint]) -> Vec<Value> {
    mounts.iter().filter(|m| !m.unlisted).map(MountPoint::inspect).collect()
}

/// The binds of a record made before typed mounts (only host paths were
/// taken then).
pub fn legacy_binds(hc: &skiff_api::HostConfig) -> Vec<MountPoint> {
    hc.binds
        .iter()
        .filter_map(|b| parse::bind(b).ok())
        .map(|p| p.mount)
        .filter(|m| m.kind == Kind::Bind)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_show_as_dockers() {
        let bind = parse::bind("/srv/data:/data:ro,z").unwrap().mount;
        let v = bind.inspect();
        assert_eq!(
            (v["Mode"].as_str(), v["Propagation"].as_str()),
            (Some("ro,z"), Some("rprivate"))
        );
        assert!(v.get("Name").is_none() && v.get("Driver").is_none());
        let vol = MountPoint {
            kind: Kind::Volume,
            name: "data".into(),
            driver: "local".into(),
            source: "/var/lib/skiff/volumes/data/_data".into(),
            destination: "/d".into(),
            mode: "z".into(),
            rw: true,
            ..Default::default()
        };
        let v = vol.inspect();
        assert_eq!(
            (v["Type"].as_str(), v["Name"].as_str(), v["Driver"].as_str()),
            (Some("volume"), Some("data"), Some("local"))
        );
        assert_eq!(v["Propagation"], "");
        let hidden = MountPoint {
            kind: Kind::Tmpfs,
            unlisted: true,
            ..Default::default()
        };
        assert_eq!(listed(&[vol, hidden]).len(), 1);
        // Records written before volumes read back as binds.
        let old: MountPoint =
            serde_json::from_str(r#"{"kind":"bind","source":"/a","destination":"/b","mode":"","rw":true}"#).unwrap();
        assert_eq!(old.kind, Kind::Bind);
    }
}
