//! `/containers/{id}/archive`: the path stat Docker sends (base64 JSON in
//! the `X-Docker-Container-Path-Stat` header), with Go's `os.FileMode`
//! bits for the type.

use serde::{Deserialize, Serialize};

/// The header `HEAD`/`GET /containers/{id}/archive` answer with.
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHAR: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;

/// Docker's `ContainerPathStat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerPathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode`: permission bits and type flags.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl ContainerPathStat {
    pub fn is_dir(&self) -> bool {
        self.mode & GO_DIR != 0
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & GO_SYMLINK != 0
    }

    /// A regular file (no type bit set).
    pub fn is_regular(&self) -> bool {
        self.mode & (GO_DIR | GO_SYMLINK | GO_DEVICE | GO_PIPE | GO_SOCKET | GO_CHAR) == 0
    }
}

/// A Unix `st_mode` as Go's `os.FileMode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match st_mode & 0o170000 {
        0o040000 => GO_DIR,
        0o120000 => GO_SYMLINK,
        0o060000 => GO_DEVICE,
        0o020000 => GO_DEVICE | GO_CHAR,
        0o010000 => GO_PIPE,
        0o140000 => GO_SOCKET,
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        m |= GO_SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= GO_SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= GO_STICKY;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_as_go_sees_them() {
        let dir = ContainerPathStat {
            mode: go_file_mode(0o040755),
            ..Default::default()
        };
        assert!(dir.is_dir() && !dir.is_regular());
        assert_eq!(dir.mode, 2147484141);
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert!(ContainerPathStat {
            mode: go_file_mode(0o120777),
            ..Default::default()
        }
        .is_symlink());
        let v = serde_json::to_value(ContainerPathStat::default()).unwrap();
        assert!(v.get("linkTarget").is_some());
    }
}
