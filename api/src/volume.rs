//! Volumes: `/volumes` (list, create, inspect, remove, prune) and the
//! mounts of a container's `HostConfig.Mounts` (`--mount`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::null_as_default;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A volume as `GET /volumes/{name}` shows it. Docker leaves `Labels` and
/// `Options` null for a volume made without them (`-v name:/path`), and
/// `{}` for one made by `volume create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub mountpoint: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub scope: String,
    /// `system df` only: the containers that use it and its size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsage>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsage {
    /// Containers (running or not) that reference it.
    pub ref_count: i64,
    /// Bytes under its mount point (-1: not computed).
    pub size: i64,
}

/// Body of `POST /volumes/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeCreateRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub driver: String,
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeListResponse {
    #[serde(default, deserialize_with = "null_as_default")]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// `POST /volumes/prune`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumePruneResponse {
    #[serde(default)]
    pub volumes_deleted: Option<Vec<String>>,
    #[serde(default)]
    pub space_reclaimed: u64,
}

/// One entry of `HostConfig.Mounts` (Docker's `mount.Mount`): what
/// `--mount type=…,source=…,target=…` becomes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Mount {
    #[serde(rename = "Type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct BindOptions {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub non_recursive: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeOptions {
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_copy: bool,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriver>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeDriver {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TmpfsOptions {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    /// Permission bits (Docker's CLI reads `tmpfs-mode` as octal).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mode: i64,
}

/// Docker's rule for volume names (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), with
/// its error text, as the local driver words it.
pub fn check_volume_name(name: &str) -> Result<(), String> {
    if name.len() == 1 {
        return Err("volume name is too short, names should be at least two alphanumeric characters".into());
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(format!(
            "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_follow_dockers_rule() {
        for ok in ["data", "a1", "my_vol.2-x", "0abc"] {
            assert!(check_volume_name(ok).is_ok(), "{ok}");
        }
        assert!(check_volume_name("a").unwrap_err().contains("too short"));
        for bad in ["-ab", "_ab", "a b", "a/b", "ab$", "é1"] {
            assert!(
                check_volume_name(bad)
                    .unwrap_err()
                    .contains("includes invalid characters"),
                "{bad}"
            );
        }
    }

    #[test]
    fn volumes_serialize_as_dockers() {
        let v = Volume {
            driver: "local".into(),
            name: "x".into(),
            scope: "local".into(),
            ..Default::default()
        };
        let j = serde_json::to_value(&v).unwrap();
        assert!(j["Labels"].is_null() && j["Options"].is_null());
        assert!(j.get("UsageData").is_none() && j.get("CreatedAt").is_none());
        let m: Mount = serde_json::from_str(
            r#"{"Type":"volume","Source":"v","Target":"/x","ReadOnly":true,"VolumeOptions":{"NoCopy":true,"Labels":null}}"#,
        )
        .unwrap();
        assert!(m.read_only && m.volume_options.unwrap().no_copy);
    }
}
