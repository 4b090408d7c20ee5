//! Each way of asking for a mount, read with Docker's rules and error
//! texts: `-v` (`HostConfig.Binds`), `--mount` (`HostConfig.Mounts`),
//! `--tmpfs` (`HostConfig.Tmpfs`) and `--volumes-from`.

use super::plan::Planned;
use super::{tmpfs, Kind, MountPoint};
use crate::volumes::Spec;

const PROPAGATIONS: &[&str] = &["private", "rprivate", "slave", "rslave", "shared", "rshared"];

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

fn mount_config(kind: &str, msg: impl std::fmt::Display) -> String {
    format!("invalid mount config for type \"{kind}\": {msg}")
}

/// Go's `path.Clean`: no empty, `.` or `..` parts, no trailing slash.
pub fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Docker's mount modes: at most one of each kind (`ro|rw`, `z|Z`, a
/// propagation, `nocopy`, a consistency).
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let i = match o {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            o if PROPAGATIONS.contains(&o) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" | "default" => 4,
            _ => return false,
        };
        counts[i] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

fn has(mode: &str, opt: &str) -> bool {
    mode.split(',').any(|o| o == opt)
}

fn propagation(mode: &str) -> Option<&str> {
    mode.split(',').find(|o| PROPAGATIONS.contains(o))
}

/// A mount's target: given, not `/`, absolute.
fn check_target(target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err("field Target must not be empty".into());
    }
    if clean(target) == "/" {
        return Err("invalid specification: destination can't be '/'".into());
    }
    absolute(target)
}

fn absolute(p: &str) -> Result<(), String> {
    if p.starts_with('/') {
        Ok(())
    } else {
        Err(format!("invalid mount path: '{p}' mount path must be absolute"))
    }
}

/// A volume mount point, to be made (or found) by name; empty: anonymous.
fn volume(name: &str, target: &str, mode: &str, rw: bool) -> MountPoint {
    MountPoint {
        kind: Kind::Volume,
        name: name.to_string(),
        driver: crate::volumes::DRIVER.into(),
        destination: clean(target),
        // Docker's default mode for a local volume.
        mode: if mode.is_empty() { "z".into() } else { mode.to_string() },
        rw,
        anonymous: name.is_empty(),
        ..Default::default()
    }
}

/// `-v SRC:DST[:MODE]`, `-v NAME:DST[:MODE]` or `-v DST` (anonymous).
pub fn bind(raw: &str) -> Result<Planned, String> {
    if raw.matches(':').count() > 2 || raw.starts_with(':') || raw.is_empty() {
        return Err(invalid_spec(raw));
    }
    let arr: Vec<&str> = raw.splitn(3, ':').collect();
    let (source, target, mode) = match arr.as_slice() {
        [t] => ("", *t, ""),
        [_, m] if valid_mode(m) => return Err(invalid_spec(raw)),
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => return Err(invalid_spec(raw)),
    };
    if !valid_mode(mode) {
        return Err(format!("invalid mode: {mode}"));
    }
    let kind = if source.starts_with('/') {
        Kind::Bind
    } else {
        Kind::Volume
    };
    let wrap = |msg: String| format!("{}: {}", invalid_spec(raw), mount_config(kind.name(), msg));
    check_target(target).map_err(wrap)?;
    let rw = !has(mode, "ro");
    if kind == Kind::Bind {
        if has(mode, "nocopy") {
            return Err(wrap("field VolumeOptions must not be specified".into()));
        }
        let mount = MountPoint {
            kind,
            source: clean(source),
            destination: clean(target),
            mode: mode.to_string(),
            rw,
            propagation: propagation(mode).unwrap_or("rprivate").to_string(),
            ..Default::default()
        };
        return Ok(Planned::plain(mount));
    }
    if propagation(mode).is_some() {
        return Err(wrap("field BindOptions must not be specified".into()));
    }
    Ok(Planned {
        copy_data: !has(mode, "nocopy"),
        make: Some(Spec {
            name: source.to_string(),
            ..Default::default()
        }),
        mount: volume(source, target, mode, rw),
    })
}

/// One `--mount` (`HostConfig.Mounts` entry).
pub fn mount(m: &skiff_api::Mount) -> Result<Planned, String> {
    let kind = m.kind.as_str();
    let err = |msg: String| mount_config(kind, msg);
    check_target(&m.target).map_err(err)?;
    match kind {
        "bind" => {
            if m.source.is_empty() {
                return Err(err("field Source must not be empty".into()));
            }
            let prop = m
                .bind_options
                .as_ref()
                .map(|b| b.propagation.as_str())
                .unwrap_or_default();
            if !prop.is_empty() && !PROPAGATIONS.contains(&prop) {
                return Err(err(format!("invalid propagation mode: {prop}")));
            }
            if m.volume_options.is_some() {
                return Err(err("field VolumeOptions must not be specified".into()));
            }
            absolute(&m.source).map_err(err)?;
            if std::fs::symlink_metadata(&m.source).is_err() {
                return Err(err(format!("bind source path does not exist: {}", m.source)));
            }
            Ok(Planned::plain(MountPoint {
                kind: Kind::Bind,
                source: clean(&m.source),
                destination: clean(&m.target),
                rw: !m.read_only,
                propagation: if prop.is_empty() {
                    "rprivate".into()
                } else {
                    prop.to_string()
                },
                must_exist: true,
                ..Default::default()
            }))
        }
        "volume" => {
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified".into()));
            }
            if m.source.is_empty() && m.read_only {
                return Err(err("must not set ReadOnly mode when using anonymous volumes".into()));
            }
            let vo = m.volume_options.clone().unwrap_or_default();
            let driver = vo.driver_config.clone().unwrap_or_default();
            Ok(Planned {
                copy_data: !vo.no_copy,
                make: Some(Spec {
                    name: m.source.clone(),
                    driver: driver.name,
                    labels: (!vo.labels.is_empty()).then_some(vo.labels),
                    options: (!driver.options.is_empty()).then_some(driver.options),
                }),
                mount: volume(&m.source, &m.target, "", !m.read_only),
            })
        }
        "tmpfs" => {
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified".into()));
            }
            if !m.source.is_empty() {
                return Err(err("field Source must not be specified".into()));
            }
            let o = m.tmpfs_options.clone().unwrap_or_default();
            let data = tmpfs::data(o.size_bytes, o.mode, m.read_only);
            tmpfs::oci_options(&data).map_err(err)?;
            Ok(Planned::plain(MountPoint {
                kind: Kind::Tmpfs,
                destination: clean(&m.target),
                rw: !m.read_only,
                tmpfs: data,
                ..Default::default()
            }))
        }
        _ => Err(err("mount type unknown".into())),
    }
}

/// One `--tmpfs PATH[:OPTIONS]` (`HostConfig.Tmpfs` entry).
pub fn tmpfs(target: &str, options: &str) -> Result<Planned, String> {
    if clean(target) == "/" {
        return Err("invalid specification: destination can't be '/'".into());
    }
    absolute(target)?;
    tmpfs::oci_options(options)?;
    Ok(Planned::plain(MountPoint {
        kind: Kind::Tmpfs,
        destination: clean(target),
        rw: !has(options, "ro"),
        tmpfs: options.to_string(),
        unlisted: true,
        ..Default::default()
    }))
}

/// `--volumes-from CONTAINER[:ro|rw]`: the container, and whether its
/// mounts come read-only.
pub fn volumes_from(spec: &str) -> Result<(String, bool), String> {
    if spec.is_empty() {
        return Err("volumes-from specification cannot be an empty string".into());
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, "rw"));
    if !valid_mode(mode) || propagation(mode).is_some() || has(mode, "nocopy") {
        return Err(format!("invalid mode: {mode}"));
    }
    Ok((id.to_string(), has(mode, "ro")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::{BindOptions, Mount, TmpfsOptions, VolumeOptions};

    #[test]
    fn paths_clean_as_go_does() {
        for (i, o) in [
            ("/a//b/", "/a/b"),
            ("/a/./b/../c", "/a/c"),
            ("/..", "/"),
            ("a/../..", ".."),
            ("", "."),
        ] {
            assert_eq!(clean(i), o, "{i}");
        }
    }

    #[test]
    fn dash_v_reads_binds_volumes_and_anonymous_volumes() {
        let b = bind("/srv/data:/data:ro,z").unwrap();
        assert_eq!(
            (b.mount.kind, b.mount.rw, b.mount.mode.as_str()),
            (Kind::Bind, false, "ro,z")
        );
        assert!(b.make.is_none());
        assert_eq!(bind("/a:/b:rshared").unwrap().mount.propagation, "rshared");
        let v = bind("data:/d").unwrap();
        assert_eq!(
            (v.mount.kind, v.mount.name.as_str(), v.mount.mode.as_str()),
            (Kind::Volume, "data", "z")
        );
        assert!(v.copy_data && !v.mount.anonymous && v.mount.rw);
        let v = bind("data:/d/:ro,nocopy").unwrap();
        assert_eq!(
            (v.mount.destination.as_str(), v.mount.rw, v.copy_data),
            ("/d", false, false)
        );
        let a = bind("/anon").unwrap();
        assert!(a.mount.anonymous && a.mount.name.is_empty());
        for bad in ["/a:/b:ro:x", ":/b", "/foo:rw", ""] {
            assert_eq!(bind(bad).unwrap_err(), format!("invalid volume specification: '{bad}'"));
        }
        assert_eq!(bind("/a:/b:bogus").unwrap_err(), "invalid mode: bogus");
        assert_eq!(bind("/a:/b:ro,rw").unwrap_err(), "invalid mode: ro,rw");
        assert_eq!(
            bind("data:rel").unwrap_err(),
            "invalid volume specification: 'data:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"
        );
        assert_eq!(
            bind("/a:/").unwrap_err(),
            "invalid volume specification: '/a:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
        );
        assert!(bind("/a:/b:nocopy")
            .unwrap_err()
            .ends_with("field VolumeOptions must not be specified"));
        assert!(bind("v1:/b:shared")
            .unwrap_err()
            .ends_with("field BindOptions must not be specified"));
    }

    #[test]
    fn dash_dash_mount_reads_each_type() {
        let m = |kind: &str, src: &str, dst: &str| Mount {
            kind: kind.into(),
            source: src.into(),
            target: dst.into(),
            ..Default::default()
        };
        let v = mount(&Mount {
            read_only: true,
            volume_options: Some(VolumeOptions {
                no_copy: true,
                ..Default::default()
            }),
            ..m("volume", "v1", "/x")
        })
        .unwrap();
        assert_eq!((v.mount.rw, v.copy_data, v.mount.mode.as_str()), (false, false, "z"));
        assert_eq!(
            mount(&Mount {
                read_only: true,
                ..m("volume", "", "/x")
            })
            .unwrap_err(),
            "invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes"
        );
        let b = mount(&m("bind", "/tmp", "/t")).unwrap();
        assert_eq!((b.mount.propagation.as_str(), b.mount.must_exist), ("rprivate", true));
        assert_eq!(
            mount(&m("bind", "/no/such/dir", "/t")).unwrap_err(),
            "invalid mount config for type \"bind\": bind source path does not exist: /no/such/dir"
        );
        let bo = Mount {
            bind_options: Some(BindOptions {
                propagation: "sideways".into(),
                ..Default::default()
            }),
            ..m("bind", "/tmp", "/t")
        };
        assert!(mount(&bo).unwrap_err().ends_with("invalid propagation mode: sideways"));
        let t = mount(&Mount {
            tmpfs_options: Some(TmpfsOptions {
                size_bytes: 1 << 20,
                mode: 0o700,
            }),
            ..m("tmpfs", "", "/t")
        })
        .unwrap();
        assert_eq!(
            (t.mount.kind, t.mount.tmpfs.as_str()),
            (Kind::Tmpfs, "mode=700,size=1m")
        );
        assert!(!t.mount.unlisted);
        assert!(mount(&m("tmpfs", "x", "/t"))
            .unwrap_err()
            .ends_with("field Source must not be specified"));
        assert_eq!(
            mount(&m("volume", "v", "")).unwrap_err(),
            "invalid mount config for type \"volume\": field Target must not be empty"
        );
        assert_eq!(
            mount(&m("floppy", "v", "/x")).unwrap_err(),
            "invalid mount config for type \"floppy\": mount type unknown"
        );
    }

    #[test]
    fn tmpfs_and_volumes_from_specs() {
        let t = tmpfs("/t", "size=1m").unwrap();
        assert!(t.mount.unlisted && t.mount.rw);
        assert!(tmpfs("t", "").is_err() && tmpfs("/", "").is_err() && tmpfs("/t", "bogus").is_err());
        assert_eq!(volumes_from("data").unwrap(), ("data".to_string(), false));
        assert_eq!(volumes_from("data:ro").unwrap(), ("data".to_string(), true));
        assert_eq!(volumes_from("data:rshared").unwrap_err(), "invalid mode: rshared");
        assert!(volumes_from("").is_err());
    }
}
