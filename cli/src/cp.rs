//! `skiff cp`: files between a container and here (or a tar stream on
//! stdin/stdout with `-`), with Docker's rules for where things land:
//! into an existing directory under the source's name, onto an existing
//! file, or as a new file or directory named as the destination (the
//! archive's top entry renamed, as Docker's `PrepareArchiveCopy`), and
//! `dir/.` for a directory's content.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use skiff_client::{body_bytes, Client, ClientError};

use super::Exit;

#[derive(Args, Debug, Clone)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH, SRC_PATH or - (a tar stream on stdin)
    pub src: String,
    /// CONTAINER:DEST_PATH, DEST_PATH or - (a tar stream on stdout)
    pub dest: String,
}

/// Docker's `splitCpArg`: `/x`, `./x:y` and `x` are local, `c:/x` is in
/// container `c`.
fn split(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c), p),
        _ => (None, arg),
    }
}

/// What a copy's source or destination is.
#[derive(Debug, Default, Clone)]
struct Info {
    path: String,
    exists: bool,
    is_dir: bool,
    /// The name the top entry takes instead of the path's base (`-L`).
    rebase: Option<String>,
}

/// Docker's `SplitPathDirEntry`: the parent and the last element, `.`
/// kept for `dir/.`.
fn split_dir_entry(path: &str) -> (String, String) {
    let dot = path == "." || path.ends_with("/.");
    let p = Path::new(path);
    let clean: PathBuf = p.components().collect();
    let clean = if clean.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        clean
    };
    let (dir, base) = if dot {
        (clean.clone(), ".".to_string())
    } else {
        (
            clean
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/")),
            clean
                .file_name()
                .map(|b| b.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into()),
        )
    };
    let dir = if dir.as_os_str().is_empty() {
        ".".into()
    } else {
        dir.display().to_string()
    };
    (dir, base)
}

/// Docker's `PrepareArchiveCopy`: the directory to extract into, and the
/// (old, new) top entry names when the entry must be renamed.
fn prepare(src: &Info, dst: &Info) -> Result<(String, Option<(String, String)>), String> {
    let (dst_dir, dst_base) = split_dir_entry(&dst.path);
    let (_, src_base) = split_dir_entry(&src.path);
    let src_base = src.rebase.clone().unwrap_or(src_base);
    if dst.exists && dst.is_dir {
        return Ok((dst.path.clone(), None));
    }
    if dst.exists && src.is_dir {
        return Err("cannot copy directory".into());
    }
    if !dst.exists && !src.is_dir && (dst.path.ends_with('/') || dst.path.ends_with("/.")) {
        return Err("no such directory".into());
    }
    Ok((dst_dir, Some((src_base, dst_base))))
}

/// Rename the top entry of a tar stream (Docker's `RebaseArchiveEntries`).
fn rebase(tar: &[u8], old: &str, new: &str) -> std::io::Result<Vec<u8>> {
    let swap = |name: &str| -> String {
        // `dir/.`: every entry is under the directory, however it is spelt.
        if old == "." {
            let rest = name.trim_start_matches("./").trim_start_matches('.');
            return if rest.is_empty() {
                new.to_string()
            } else {
                format!("{new}/{rest}")
            };
        }
        if old != "/" && name != old && !name.starts_with(&format!("{old}/")) {
            return name.to_string();
        }
        name.replacen(old, new, 1)
    };
    let mut out = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(tar);
    for e in ar.entries()? {
        let mut e = e?;
        let mut h = e.header().clone();
        let name = swap(&String::from_utf8_lossy(&e.path_bytes()));
        let link = e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned());
        match (h.entry_type(), link) {
            (tar::EntryType::Link, Some(l)) => out.append_link(&mut h, &name, swap(&l))?,
            (tar::EntryType::Symlink, Some(l)) => out.append_link(&mut h, &name, l)?,
            _ => out.append_data(&mut h, &name, &mut e)?,
        }
    }
    out.into_inner()
}

/// A local path as a copy source: symlinks before the last element
/// resolved (and that one too with `-L`, keeping its name).
fn local_source(path: &str, follow: bool) -> Result<Info, String> {
    let p = Path::new(path);
    let resolved = if follow {
        std::fs::canonicalize(p).map_err(|e| format!("lstat {path}: {}", msg(&e)))?
    } else {
        p.to_path_buf()
    };
    let m = std::fs::symlink_metadata(&resolved).map_err(|e| format!("lstat {path}: {}", msg(&e)))?;
    let mut shown = resolved.display().to_string();
    if path.ends_with("/.") {
        shown.push_str("/.");
    }
    Ok(Info {
        path: shown,
        exists: true,
        is_dir: m.is_dir(),
        rebase: follow.then(|| split_dir_entry(path).1),
    })
}

/// An io::Error without Rust's "(os error N)".
fn msg(e: &std::io::Error) -> String {
    let s = e.to_string();
    s.split(" (os error").next().unwrap_or(&s).to_lowercase()
}

/// The tar of a local source, its top entry named as the source (or its
/// rebase name; `.` means the directory's content).
fn local_tar(src: &Info) -> std::io::Result<Vec<u8>> {
    let (_, base) = split_dir_entry(&src.path);
    let name = src.rebase.clone().unwrap_or(base.clone());
    let path = Path::new(src.path.trim_end_matches("/."));
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    if !src.is_dir {
        b.append_path_with_name(path, &name)?;
    } else if name == "." {
        let mut children: Vec<_> = std::fs::read_dir(path)?.flatten().map(|e| e.path()).collect();
        children.sort();
        for c in children {
            let n = Path::new(".").join(c.file_name().unwrap_or_default());
            if c.symlink_metadata()?.is_dir() {
                b.append_dir_all(&n, &c)?;
            } else {
                b.append_path_with_name(&c, &n)?;
            }
        }
    } else {
        b.append_dir_all(&name, path)?;
    }
    b.into_inner()
}

/// Docker's `CopyInfoDestinationPath`: a local destination, its symlinks
/// followed; a missing one needs its parent directory.
fn local_dest(path: &str) -> Result<Info, String> {
    let mut p = PathBuf::from(path);
    for _ in 0..10 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let t = std::fs::read_link(&p).map_err(|e| msg(&e))?;
                p = if t.is_absolute() {
                    t
                } else {
                    p.parent().unwrap_or(Path::new("/")).join(t)
                };
            }
            Ok(m) => {
                return Ok(Info {
                    path: p.display().to_string(),
                    exists: true,
                    is_dir: m.is_dir(),
                    rebase: None,
                })
            }
            Err(_) => {
                let shown = p.display().to_string();
                let (parent, _) = split_dir_entry(&shown);
                let pm = std::fs::metadata(&parent).map_err(|e| format!("stat {parent}: {}", msg(&e)))?;
                if !pm.is_dir() {
                    return Err("not a directory".into());
                }
                return Ok(Info {
                    path: shown,
                    ..Default::default()
                });
            }
        }
    }
    Err(format!("too many symlinks in {path}"))
}

/// The message Docker's client gives a 404 on a container path.
fn no_such(e: ClientError, ctr: &str, path: &str) -> String {
    if e.status() == Some(hyper::StatusCode::NOT_FOUND) {
        format!("Error: No such container:path: {ctr}:{path}")
    } else {
        e.to_string()
    }
}

async fn from_container(c: &Client, a: &CpArgs, ctr: &str, src: &str, dst: &str) -> Result<(), String> {
    let mut path = src.to_string();
    let mut rebase_name = None;
    if a.follow_link {
        if let Ok(st) = c.container_stat_path(ctr, src).await {
            if st.is_symlink() {
                let t = &st.link_target;
                path = if t.starts_with('/') {
                    t.clone()
                } else {
                    Path::new(&split_dir_entry(src).0).join(t).display().to_string()
                };
                rebase_name = Some(split_dir_entry(src).1);
            }
        }
    }
    let (stat, resp) = c
        .container_archive(ctr, &path)
        .await
        .map_err(|e| no_such(e, ctr, src))?;
    let data = body_bytes(resp).await;
    if dst == "-" {
        let mut out = std::io::stdout().lock();
        return out.write_all(&data).and_then(|_| out.flush()).map_err(|e| msg(&e));
    }
    let mut data = data.to_vec();
    let src_info = Info {
        path: path.clone(),
        exists: true,
        is_dir: stat.is_dir(),
        rebase: None,
    };
    if let Some(r) = &rebase_name {
        let (_, base) = split_dir_entry(&path);
        data = rebase(&data, &base, r).map_err(|e| msg(&e))?;
    }
    let src_info = Info {
        rebase: rebase_name,
        ..src_info
    };
    let dst_info = local_dest(dst)?;
    let (dir, names) = prepare(&src_info, &dst_info)?;
    if let Some((old, new)) = names {
        data = rebase(&data, &old, &new).map_err(|e| msg(&e))?;
    }
    let mut ar = tar::Archive::new(&data[..]);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    ar.unpack(&dir).map_err(|e| msg(&e))
}

async fn to_container(c: &Client, a: &CpArgs, src: &str, ctr: &str, dst: &str) -> Result<(), String> {
    let mut dst_path = dst.to_string();
    let mut st = c.container_stat_path(ctr, dst).await;
    if let Ok(s) = &st {
        if s.is_symlink() {
            let t = &s.link_target;
            dst_path = if t.starts_with('/') {
                t.clone()
            } else {
                Path::new(&split_dir_entry(dst).0).join(t).display().to_string()
            };
            st = c.container_stat_path(ctr, &dst_path).await;
        }
    }
    if let Ok(s) = &st {
        if !s.is_dir() && !s.is_regular() {
            return Err(format!(
                "destination \"{ctr}:{dst}\" must be a directory or a regular file"
            ));
        }
    }
    let dst_info = Info {
        path: dst_path.clone(),
        exists: st.is_ok(),
        is_dir: st.as_ref().is_ok_and(|s| s.is_dir()),
        rebase: None,
    };
    let (dir, content) = if src == "-" {
        if !dst_info.is_dir {
            return Err(format!("destination \"{ctr}:{dst}\" must be a directory"));
        }
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(|e| msg(&e))?;
        (dst_path, buf)
    } else {
        let src_info = local_source(src, a.follow_link)?;
        let tar = local_tar(&src_info).map_err(|e| msg(&e))?;
        let (dir, names) = prepare(&src_info, &dst_info)?;
        let tar = match names {
            Some((old, new)) => rebase(&tar, &old, &new).map_err(|e| msg(&e))?,
            None => tar,
        };
        (dir, tar)
    };
    c.container_extract(ctr, &dir, content, a.archive)
        .await
        .map_err(|e| no_such(e, ctr, &dir))
}

/// `skiff cp`.
pub async fn cp(c: &Client, a: CpArgs) -> Exit {
    let result = match (split(&a.src), split(&a.dest)) {
        ((None, _), (None, _)) => Err("must specify at least one container source".to_string()),
        ((Some(_), _), (Some(_), _)) => Err("copying between containers is not supported".to_string()),
        ((Some(ctr), src), (None, dst)) => from_container(c, &a, ctr, src, dst).await,
        ((None, src), (Some(ctr), dst)) => to_container(c, &a, src, ctr, dst).await,
    };
    match result {
        Ok(()) => Exit(0),
        Err(e) => {
            eprintln!("{e}");
            Exit(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_path_rules() {
        assert_eq!(split("c1:/etc/hosts"), (Some("c1"), "/etc/hosts"));
        assert_eq!(split("./a:b"), (None, "./a:b"));
        assert_eq!(split("/x:y"), (None, "/x:y"));
        assert_eq!(split_dir_entry("/etc/hosts"), ("/etc".into(), "hosts".into()));
        assert_eq!(split_dir_entry("dir/."), ("dir".into(), ".".into()));
        assert_eq!(split_dir_entry("file"), (".".into(), "file".into()));
        let dir = Info {
            path: "/src/d".into(),
            exists: true,
            is_dir: true,
            rebase: None,
        };
        let new = Info {
            path: "/dst/new".into(),
            ..Default::default()
        };
        assert_eq!(
            prepare(&dir, &new).unwrap(),
            ("/dst".into(), Some(("d".into(), "new".into())))
        );
        let file = Info {
            path: "/dst/f".into(),
            exists: true,
            ..Default::default()
        };
        assert_eq!(prepare(&dir, &file).unwrap_err(), "cannot copy directory");
    }
}
