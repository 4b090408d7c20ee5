//! All the mounts of one create, put together in Docker's order:
//! `--volumes-from` first, then `-v`, then `--mount`, then `--tmpfs`; a
//! later one replaces an earlier one at the same path, except that two
//! of `-v`/`--mount`/`--tmpfs` at one path are an error. Last, an
//! anonymous volume for each `VOLUME` of the image (and each `-v /path`
//! Docker's CLI sends the same way) where nothing else is mounted.

use skiff_api::HostConfig;

use super::{parse, Kind, MountPoint};
use crate::engine::{EngineError, Result};
use crate::volumes::Spec;

/// A mount point as planned at create.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    pub mount: MountPoint,
    /// Fill the volume with the image's content at the destination if it
    /// is empty (not `nocopy`).
    pub copy_data: bool,
    /// A volume to make, or find by name. `None` for a volume of another
    /// container (`--volumes-from`): it must exist.
    pub make: Option<Spec>,
}

impl Planned {
    /// A mount that needs nothing made.
    pub fn plain(mount: MountPoint) -> Self {
        Self {
            mount,
            ..Default::default()
        }
    }
}

fn duplicate(dest: &str) -> EngineError {
    EngineError::BadRequest(format!("Duplicate mount point: {dest}"))
}

/// Put `p` in, replacing what was at its destination.
fn put(out: &mut Vec<Planned>, p: Planned) {
    match out.iter_mut().find(|o| o.mount.destination == p.mount.destination) {
        Some(slot) => *slot = p,
        None => out.push(p),
    }
}

/// The mount points of a create. `volumes` are the `Config.Volumes`
/// paths; `mounts_of` gives another container's mount points
/// (`--volumes-from`).
pub fn plan(
    hc: &HostConfig,
    volumes: &[String],
    mounts_of: &dyn Fn(&str) -> Result<Vec<MountPoint>>,
) -> Result<Vec<Planned>> {
    let bad = EngineError::BadRequest;
    let mut out: Vec<Planned> = Vec::new();
    for spec in hc.volumes_from.iter().flatten() {
        let (ctr, ro) = parse::volumes_from(spec).map_err(bad)?;
        for m in mounts_of(&ctr)?.into_iter().filter(|m| !m.unlisted) {
            let mount = MountPoint {
                rw: m.rw && !ro,
                mode: String::new(),
                ..m
            };
            put(&mut out, Planned::plain(mount));
        }
    }
    let tmpfs: Vec<String> = hc.tmpfs.keys().map(|k| parse::clean(k)).collect();
    let mut taken: Vec<String> = Vec::new();
    for b in &hc.binds {
        let p = parse::bind(b).map_err(bad)?;
        let dest = p.mount.destination.clone();
        if taken.contains(&dest) || tmpfs.contains(&dest) {
            return Err(duplicate(&dest));
        }
        taken.push(dest);
        put(&mut out, p);
    }
    for m in &hc.mounts {
        let p = parse::mount(m).map_err(bad)?;
        if taken.contains(&p.mount.destination) || tmpfs.contains(&p.mount.destination) {
            return Err(duplicate(&m.target));
        }
        taken.push(p.mount.destination.clone());
        put(&mut out, p);
    }
    for (dest, opts) in &hc.tmpfs {
        put(&mut out, parse::tmpfs(dest, opts).map_err(bad)?);
    }
    for v in volumes {
        let dest = parse::clean(v);
        if !dest.starts_with('/') {
            return Err(bad(format!("invalid mount path: '{v}' mount path must be absolute")));
        }
        if out.iter().any(|p| p.mount.destination == dest) {
            continue;
        }
        out.push(Planned {
            mount: MountPoint {
                kind: Kind::Volume,
                driver: crate::volumes::DRIVER.into(),
                destination: dest,
                rw: true,
                anonymous: true,
                ..Default::default()
            },
            copy_data: true,
            make: Some(Spec::default()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(binds: &[&str]) -> HostConfig {
        HostConfig {
            binds: binds.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn none(c: &str) -> Result<Vec<MountPoint>> {
        Err(EngineError::NotFound(format!("No such container: {c}")))
    }

    #[test]
    fn duplicates_are_refused_and_image_volumes_fill_the_gaps() {
        let e = plan(&hc(&["a1:/data", "/srv:/data/"]), &[], &none).unwrap_err();
        assert_eq!(e.to_string(), "Duplicate mount point: /data");
        let mut h = hc(&["/srv:/t"]);
        h.tmpfs.insert("/t".into(), String::new());
        assert_eq!(
            plan(&h, &[], &none).unwrap_err().to_string(),
            "Duplicate mount point: /t"
        );
        let p = plan(&hc(&["data:/data"]), &["/data".into(), "/cache/".into()], &none).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].mount.name, "data");
        let anon = &p[1].mount;
        assert!(anon.anonymous && anon.name.is_empty() && anon.mode.is_empty() && p[1].copy_data);
        assert_eq!(anon.destination, "/cache");
        assert!(plan(&hc(&[]), &["rel".into()], &none).is_err());
    }

    #[test]
    fn volumes_from_copies_mounts_and_later_specs_win() {
        let theirs = |c: &str| -> Result<Vec<MountPoint>> {
            assert_eq!(c, "db");
            Ok(vec![
                MountPoint {
                    kind: Kind::Volume,
                    name: "dbdata".into(),
                    destination: "/var/db".into(),
                    mode: "z".into(),
                    rw: true,
                    ..Default::default()
                },
                MountPoint {
                    kind: Kind::Bind,
                    source: "/srv/logs".into(),
                    destination: "/logs".into(),
                    rw: true,
                    ..Default::default()
                },
                MountPoint {
                    kind: Kind::Tmpfs,
                    destination: "/scratch".into(),
                    unlisted: true,
                    ..Default::default()
                },
            ])
        };
        let mut h = hc(&["/elsewhere:/logs"]);
        h.volumes_from = Some(vec!["db:ro".into()]);
        let p = plan(&h, &["/var/db".into()], &theirs).unwrap();
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!((p[0].mount.name.as_str(), p[0].mount.rw), ("dbdata", false));
        assert!(p[0].make.is_none() && p[0].mount.mode.is_empty());
        assert_eq!(p[1].mount.source, "/elsewhere");
        let mut h = hc(&[]);
        h.volumes_from = Some(vec!["ghost".into()]);
        assert_eq!(
            plan(&h, &[], &none).unwrap_err().to_string(),
            "No such container: ghost"
        );
    }
}
