//! `skiff-agent --userns-remap default|USER[:GROUP]`, as Docker's: the
//! subordinate ranges of the user (and group) in `/etc/subuid` and
//! `/etc/subgid` become every container's ID map; `default` is the
//! `dockremap` user, created with a free 65536-ID range when absent. The
//! agent's state moves under `<data-root>/UID.GID/` (UID and GID being
//! the host IDs of containers' root), which that root may enter.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use nix::unistd::{Gid, Group, Uid, User};

use crate::idmap::{next_free, parse_subid, IdMap};

const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";
/// Docker's name for the user `default` stands for.
pub const DEFAULT_USER: &str = "dockremap";
const RANGE: u32 = 65536;

/// What `--userns-remap` resolved to.
#[derive(Clone, Debug)]
pub struct Remap {
    /// `user:group`, as `info` shows it.
    pub name: String,
    pub map: IdMap,
}

/// Resolve `--userns-remap` (`default`, `USER`, `USER:GROUP`, names or
/// numeric IDs) to its ID map, creating `dockremap` for `default`.
pub fn resolve(spec: &str) -> Result<Remap> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user_part.is_empty() || group_part == Some("") {
        bail!("invalid --userns-remap {spec:?}: use default, USER or USER:GROUP");
    }
    if user_part == "default" {
        ensure_dockremap()?;
    }
    let user_name = if user_part == "default" {
        DEFAULT_USER
    } else {
        user_part
    };
    let user = lookup_user(user_name)?;
    let group_name = group_part.unwrap_or(&user.name);
    let group = lookup_group(group_name)?;
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let uids = parse_subid(&read(SUBUID), &user.name, Some(user.uid.as_raw()));
    if uids.is_empty() {
        bail!(
            "Can't create ID mappings: no subuid ranges found for user {:?} in {SUBUID}",
            user.name
        );
    }
    let gids = parse_subid(&read(SUBGID), &group.name, Some(group.gid.as_raw()));
    if gids.is_empty() {
        bail!(
            "Can't create ID mappings: no subgid ranges found for group {:?} in {SUBGID}",
            group.name
        );
    }
    Ok(Remap {
        name: format!("{}:{}", user.name, group.name),
        map: IdMap::from_ranges(&uids, &gids),
    })
}

fn lookup_user(name: &str) -> Result<User> {
    let found = match name.parse::<u32>() {
        Ok(n) => User::from_uid(Uid::from_raw(n)),
        Err(_) => User::from_name(name),
    };
    found
        .with_context(|| format!("looking up user {name}"))?
        .with_context(|| format!("Can't create ID mappings: user {name:?} does not exist"))
}

fn lookup_group(name: &str) -> Result<Group> {
    let found = match name.parse::<u32>() {
        Ok(n) => Group::from_gid(Gid::from_raw(n)),
        Err(_) => Group::from_name(name),
    };
    found
        .with_context(|| format!("looking up group {name}"))?
        .with_context(|| format!("Can't create ID mappings: group {name:?} does not exist"))
}

/// Make the `dockremap` system user and give it a free range in both
/// subordinate-ID files, unless it has them already.
fn ensure_dockremap() -> Result<()> {
    if User::from_name(DEFAULT_USER).ok().flatten().is_none() {
        let out = Command::new("useradd")
            .args([
                "--system",
                "--shell",
                "/bin/false",
                "--no-create-home",
                "--user-group",
                DEFAULT_USER,
            ])
            .output()
            .context("running useradd")?;
        if !out.status.success() {
            bail!(
                "creating the {DEFAULT_USER} user: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        tracing::info!("created the {DEFAULT_USER} user for --userns-remap default");
    }
    let (u, g) = (
        fs::read_to_string(SUBUID).unwrap_or_default(),
        fs::read_to_string(SUBGID).unwrap_or_default(),
    );
    let has = |t: &str| !parse_subid(t, DEFAULT_USER, None).is_empty();
    if has(&u) && has(&g) {
        return Ok(());
    }
    let start = next_free(&[&u, &g], RANGE);
    for (path, text) in [(SUBUID, &u), (SUBGID, &g)] {
        if !has(text) {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .with_context(|| format!("opening {path}"))?;
            writeln!(f, "{DEFAULT_USER}:{start}:{RANGE}").with_context(|| format!("writing {path}"))?;
            tracing::info!("gave {DEFAULT_USER} IDs {start}-{} in {path}", start + RANGE - 1);
        }
    }
    Ok(())
}

/// Docker's remapped root: `root` itself stays the host root's but lets
/// the remapped group through (0710); `root/UID.GID` belongs to the
/// container root. Every directory above must let others through (x),
/// or containers could not reach their root filesystems.
pub fn prepare_root(root: &Path, map: &IdMap) -> Result<PathBuf> {
    let (uid, gid) = map.root();
    fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    std::os::unix::fs::chown(root, Some(0), Some(gid)).with_context(|| format!("chown {}", root.display()))?;
    fs::set_permissions(root, fs::Permissions::from_mode(0o710))?;
    let sub = root.join(format!("{uid}.{gid}"));
    fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
    std::os::unix::fs::chown(&sub, Some(uid), Some(gid)).with_context(|| format!("chown {}", sub.display()))?;
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o710))?;
    let mut dir = root.parent();
    while let Some(d) = dir.filter(|d| d.as_os_str().len() > 1) {
        let mode = fs::metadata(d).map(|m| m.permissions().mode()).unwrap_or(0);
        if mode & 0o001 == 0 {
            bail!(
                "a subdirectory in your graphroot path ({}) restricts access to the remapped root uid/gid; \
                 please fix by allowing 'o+x' permissions on existing directories",
                sub.display()
            );
        }
        dir = d.parent();
    }
    Ok(sub)
}

/// Let the remapped root through `dir` (the exec root): its netns, bundle
/// and shared files must be reachable from inside containers' namespaces.
pub fn open_exec_root(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mode = fs::metadata(dir)?.permissions().mode() & 0o7777;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o111))
}
