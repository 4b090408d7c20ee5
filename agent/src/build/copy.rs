//! COPY and ADD: sources from the build context, another stage
//! (`--from=stage`) or an image (`--from=image`), or heredocs; their
//! content digest extends the step's key; on a miss the files are written
//! through an overlay mount of a fresh work layer on the stage's top layer,
//! and that layer's directory becomes the step's layer as it is
//! (`images::difftar`). ADD also unpacks local tar archives (plain or
//! gzip) at the destination.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::dockerfile::{Flag, Op, Src, Step};
use super::fetch;
use super::fsops::{self, Attrs};
use super::state::State;
use super::words::Lexer;
use super::{BuildError, Builder, Outcome};
use crate::engine::Engine;
use crate::idmap::IdMap;

/// A root filesystem mounted read-only-in-spirit for reading: an empty
/// layer on top of `chain`, removed when dropped.
pub struct RootView {
    engine: Arc<Engine>,
    id: String,
    pub path: PathBuf,
}

impl RootView {
    /// The tree of layer `chain`, as a build's (remapped, when the agent
    /// remaps) container sees it when `for_container`, else as stored.
    pub fn open(engine: &Arc<Engine>, chain: Option<&str>, for_container: bool) -> Result<Self, BuildError> {
        let layers = &engine.images.layers;
        let parent = chain.map(|c| layers.get(c)).transpose().map_err(BuildError::msg)?;
        let id = format!("{}-build", crate::ids::new_id());
        let remapped = for_container && !engine.cfg.idmap.is_identity();
        layers
            .driver
            .create_container(&id, parent.as_ref().map(|l| l.cache_id.as_str()), remapped)?;
        let path = match layers.driver.mount(&id) {
            Ok(p) => p,
            Err(e) => {
                let _ = layers.driver.remove(&id);
                return Err(e.into());
            }
        };
        Ok(RootView {
            engine: engine.clone(),
            id,
            path,
        })
    }
}

impl Drop for RootView {
    fn drop(&mut self) {
        let driver = &self.engine.images.layers.driver;
        let _ = driver.unmount(&self.id);
        if let Err(e) = driver.remove(&self.id) {
            tracing::warn!(layer = %self.id, "removing a build view: {e}");
        }
    }
}

/// The flags COPY and ADD take.
#[derive(Default)]
struct CopyFlags {
    from: Option<String>,
    chown: Option<String>,
    chmod: Option<u32>,
    link: bool,
    checksum: Option<String>,
}

fn copy_flags(flags: &[Flag], lex: &Lexer, st: &State) -> Result<CopyFlags, BuildError> {
    let mut out = CopyFlags::default();
    for f in flags {
        let raw = f.value.clone().unwrap_or_default();
        let v = lex.process_word(&raw, &|n| st.lookup(n)).map_err(BuildError::msg)?;
        match f.name.as_str() {
            "from" => out.from = Some(v),
            "chown" => out.chown = Some(v).filter(|s| !s.is_empty()),
            "chmod" => {
                out.chmod = Some(
                    u32::from_str_radix(&v, 8).map_err(|_| BuildError::msg(format!("invalid chmod parameter: {v}")))?,
                )
            }
            "link" => out.link = raw.is_empty() || raw == "true",
            "checksum" => out.checksum = Some(v).filter(|s| !s.is_empty()),
            "parents" | "exclude" | "keep-git-dir" => {}
            other => return Err(BuildError::msg(format!("unknown flag: {other}"))),
        }
    }
    Ok(out)
}

/// What one matched source is, ready to copy.
enum Item {
    /// A path on the host (in the context or a mounted root).
    Path { shown: String, host: PathBuf },
    /// A heredoc's content, as file `name`.
    Text { name: String, content: String },
    /// An ADD URL's download.
    Url { url: String, dl: fetch::Download },
}

impl Builder {
    /// Run a COPY or ADD step on `st`.
    pub(super) async fn copy_step(
        self: &Arc<Self>,
        st: &mut State,
        step: &Step,
        lex: &Lexer,
    ) -> Result<Outcome, BuildError> {
        let Op::Copy { add, flags, srcs, dest } = &step.op else {
            return Err(BuildError::msg("not a COPY or ADD step"));
        };
        let add = *add;
        let cf = copy_flags(flags, lex, st)?;
        let word = if add { "ADD" } else { "COPY" };
        let dest = lex.process_word(dest, &|n| st.lookup(n)).map_err(BuildError::msg)?;
        let (dest_abs, dest_is_dir) = fsops::dest_path(&st.image.config.working_dir, &dest);
        // Where sources come from.
        let from_state = match &cf.from {
            Some(name) => Some(self.source_stage(name, step).await?),
            None => None,
        };
        let view = match &from_state {
            Some(s) => Some(RootView::open(&self.engine, s.chain.as_deref(), false)?),
            None => None,
        };
        let root: &Path = view.as_ref().map_or(self.context.as_path(), |v| v.path.as_path());
        let mut items = Vec::new();
        for s in srcs {
            match s {
                Src::Heredoc { name, content, expand } => {
                    let content = if *expand {
                        lex.process_word(content, &|n| st.lookup(n))
                            .unwrap_or_else(|_| content.clone())
                    } else {
                        content.clone()
                    };
                    items.push(Item::Text {
                        name: name.clone(),
                        content,
                    });
                }
                Src::Path(p) => {
                    let p = lex.process_word(p, &|n| st.lookup(n)).map_err(BuildError::msg)?;
                    if fetch::is_url(&p) {
                        if !add {
                            return Err(BuildError::msg(format!(
                                "COPY failed: source can't be a URL for COPY: {p}"
                            )));
                        }
                        if dest_is_dir && fetch::url_file_name(&p).is_none() {
                            return Err(BuildError::msg(format!("cannot determine filename for source {p}")));
                        }
                        let scratch = self.context.parent().unwrap_or(&self.context);
                        let dl = fetch::download(&p, scratch, cf.checksum.as_deref()).await?;
                        items.push(Item::Url { url: p, dl });
                        continue;
                    }
                    if cf.checksum.is_some() {
                        return Err(BuildError::msg(format!(
                            "checksum can't be specified for non-HTTP(S) sources: {p}"
                        )));
                    }
                    let matched = fsops::expand_source(root, &p)?;
                    if matched.is_empty() {
                        return Err(BuildError::msg(format!(
                            "{word} failed: no source files were specified"
                        )));
                    }
                    for m in matched {
                        let host = fsops::resolve_in(root, &m, false)?;
                        if fs::symlink_metadata(&host).is_err() {
                            return Err(BuildError::msg(format!(
                                "{word} failed: file not found in build context or excluded by .dockerignore: stat {m}: file does not exist"
                            )));
                        }
                        items.push(Item::Path { shown: m, host });
                    }
                }
            }
        }
        if items.len() > 1 && !dest_is_dir {
            return Err(BuildError::msg(format!(
                "When using {word} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        // The step's key: its text, flags and the sources' digest.
        let items_for_digest = std::mem::take(&mut items);
        let sums = self.sums.clone();
        let (digest, items) = tokio::task::spawn_blocking(move || -> io::Result<(String, Vec<Item>)> {
            let mut h = Sha256::new();
            for it in &items_for_digest {
                match it {
                    Item::Path { shown, host } => fsops::digest_into(&mut h, shown, host, &sums)?,
                    Item::Text { name, content } => h.update(format!("{name}\0{content}\n").as_bytes()),
                    Item::Url { url, dl } => {
                        h.update(format!("url\0{url}\0{}\0{:?}\n", dl.digest, dl.mtime).as_bytes())
                    }
                }
            }
            Ok((hex::encode(h.finalize()), items_for_digest))
        })
        .await
        .map_err(BuildError::msg)??;
        let from_key = from_state.as_ref().map(|s| s.key.clone()).unwrap_or_default();
        let descr = format!(
            "{word} from={from_key} chown={:?} chmod={:?} dest={dest_abs} dir={dest_is_dir} src={digest}",
            cf.chown, cf.chmod
        );
        let kind = if items.len() > 1 { "multi" } else { "file" };
        let created_by = format!("/bin/sh -c #(nop) {word} {kind}:{} in {dest} ", &digest[..16]);
        let chown = cf.chown.clone();
        let chmod = cf.chmod;
        // The layer holds its image's owners, or host IDs where layers are
        // chowned (`--userns-remap` without ID-mapped mounts).
        let ids = self.engine.images.layers.driver.layer_ids().clone();
        // Context files may be hard-linked into the layer when nothing
        // re-owns them.
        let linkable = cf.from.is_none()
            && chown.is_none()
            && chmod.is_none()
            && ids.is_identity()
            && items.iter().all(|i| matches!(i, Item::Path { .. }));
        let job = move |rootfs: &Path, direct: &Path| -> io::Result<()> {
            // The source view stays mounted until the files are copied.
            let _view = view;
            let (uid, gid) = match &chown {
                Some(spec) => fsops::lookup_owner(rootfs, spec).map_err(io::Error::other)?,
                None => (0, 0),
            };
            let (uid, gid) = ids.to_host(uid, gid).map_err(io::Error::other)?;
            let attrs = Attrs {
                uid,
                gid,
                mode: chmod,
                link: false,
            };
            let direct = linkable.then_some(direct);
            write_items(rootfs, direct, &items, &dest_abs, dest_is_dir, add, attrs, &ids)
        };
        self.layer_step(st, &descr, created_by, job).await
    }
}

/// Write the sources into `rootfs` at `dest`; a directory copied into a
/// directory this step makes goes straight into `direct` (the layer's own
/// tree) when given, its files hard-linked where they can be.
#[allow(clippy::too_many_arguments)]
fn write_items(
    rootfs: &Path,
    direct: Option<&Path>,
    items: &[Item],
    dest: &str,
    dest_is_dir: bool,
    add: bool,
    attrs: Attrs,
    ids: &IdMap,
) -> io::Result<()> {
    let parent = Path::new(dest)
        .parent()
        .map_or("/".to_string(), |p| p.display().to_string());
    for it in items {
        match it {
            Item::Text { name, content } => {
                let target = if dest_is_dir {
                    fsops::make_dirs(rootfs, dest, attrs)?.join(name)
                } else {
                    fsops::make_dirs(rootfs, &parent, attrs)?;
                    fsops::resolve_in(rootfs, dest, false)?
                };
                // A new file, never one written over in place.
                let _ = fs::remove_file(&target);
                fs::write(&target, content)?;
                std::os::unix::fs::lchown(&target, Some(attrs.uid), Some(attrs.gid))?;
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&target, fs::Permissions::from_mode(attrs.mode.unwrap_or(0o644)))?;
            }
            Item::Url { dl, .. } => write_download(rootfs, dl, dest, dest_is_dir, &parent, attrs)?,
            Item::Path { host, .. } => {
                let meta = fs::metadata(host)?;
                if add && meta.is_file() && is_archive(host) {
                    let dir = fsops::make_dirs(rootfs, dest, attrs)?;
                    unpack(host, &dir, ids)?;
                    continue;
                }
                if meta.is_dir() {
                    let new = fsops::resolve_in(rootfs, dest, false).is_ok_and(|p| fs::symlink_metadata(p).is_err());
                    let target = fsops::make_dirs(rootfs, dest, attrs)?;
                    // Made by this step, so in the upper directory alone.
                    let own = direct
                        .filter(|_| new)
                        .and_then(|d| target.strip_prefix(rootfs).ok().map(|r| d.join(r)))
                        .filter(|p| p.is_dir());
                    let (target, attrs) = match own {
                        Some(p) => (p, Attrs { link: true, ..attrs }),
                        None => (target, attrs),
                    };
                    for e in fs::read_dir(host)? {
                        let e = e?;
                        fsops::copy_tree(&e.path(), &target.join(e.file_name()), attrs)?;
                    }
                    continue;
                }
                let existing_dir = fsops::resolve_in(rootfs, dest, false)
                    .map(|p| p.is_dir())
                    .unwrap_or(false);
                let target = if dest_is_dir || existing_dir {
                    let name = host.file_name().unwrap_or_default();
                    fsops::make_dirs(rootfs, dest, attrs)?.join(name)
                } else {
                    fsops::make_dirs(rootfs, &parent, attrs)?;
                    fsops::resolve_in(rootfs, dest, false)?
                };
                // A top-level symlink source is followed (its target copied).
                let src = fs::canonicalize(host).unwrap_or_else(|_| host.clone());
                fsops::copy_tree(&src, &target, attrs)?;
            }
        }
    }
    Ok(())
}

/// An ADD URL's file: at `dest`, or named by the URL inside it; mode
/// 0600 unless `--chmod`, mtime from `Last-Modified`. Never unpacked.
fn write_download(
    rootfs: &Path,
    dl: &fetch::Download,
    dest: &str,
    dest_is_dir: bool,
    parent: &str,
    attrs: Attrs,
) -> io::Result<()> {
    let existing_dir = fsops::resolve_in(rootfs, dest, false)
        .map(|p| p.is_dir())
        .unwrap_or(false);
    let target = if dest_is_dir || existing_dir {
        if dl.name.is_empty() {
            return Err(io::Error::other(format!(
                "cannot determine filename for source in {dest}"
            )));
        }
        fsops::make_dirs(rootfs, dest, attrs)?.join(&dl.name)
    } else {
        fsops::make_dirs(rootfs, parent, attrs)?;
        fsops::resolve_in(rootfs, dest, false)?
    };
    let _ = fs::remove_file(&target);
    fs::copy(&dl.file, &target)?;
    std::os::unix::fs::lchown(&target, Some(attrs.uid), Some(attrs.gid))?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&target, fs::Permissions::from_mode(attrs.mode.unwrap_or(0o600)))?;
    if let Some(secs) = dl.mtime {
        let t = nix::sys::time::TimeSpec::new(secs, 0);
        nix::sys::stat::utimensat(None, &target, &t, &t, nix::sys::stat::UtimensatFlags::NoFollowSymlink)
            .map_err(io::Error::from)?;
    }
    Ok(())
}

/// A tar (plain or gzip) ADD unpacks instead of copying.
fn is_archive(path: &Path) -> bool {
    let Ok(mut f) = fs::File::open(path) else { return false };
    let mut head = vec![0u8; 512];
    let n = f.read(&mut head).unwrap_or(0);
    if n >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        return true;
    }
    n == 512 && &head[257..262] == b"ustar"
}

fn unpack(archive: &Path, dir: &Path, ids: &IdMap) -> io::Result<()> {
    let f = io::BufReader::new(fs::File::open(archive)?);
    let mut magic = [0u8; 2];
    let reader: Box<dyn Read> = {
        let mut f2 = fs::File::open(archive)?;
        let gz = f2.read(&mut magic)? == 2 && magic == [0x1f, 0x8b];
        if gz {
            Box::new(flate2::read::GzDecoder::new(f))
        } else {
            Box::new(f)
        }
    };
    crate::images::extract::extract_layer(reader, dir, crate::images::extract::Whiteouts::Literal, None, ids)
        .map(|_| ())
        .map_err(io::Error::other)
}
