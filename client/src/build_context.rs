//! A build's context as Docker's CLI sends it: from a directory (a tar of
//! what `.dockerignore` lets through, walked in sorted order, owners 0:0,
//! modes and mtimes kept, symlinks as symlinks, hard links as links), from
//! stdin (a tar, compressed or not, sent as is, or a lone Dockerfile wrapped
//! into a one-file tar) or from a tar file. A Dockerfile outside the
//! context, or read from stdin (`-f -`), goes into the tar as
//! `.dockerfile.<random hex>`, which is then the `dockerfile=` to send, and
//! that name is appended to the sent `.dockerignore` (as Docker's
//! `AddDockerfileToBuildContext` does).
//!
//! The tar is written by a thread into a channel, a chunk at a time, so a
//! context of any size streams without being held in memory.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::context_sync::{self, Found, Sync};
use crate::dockerignore::{DockerIgnore, DockerIgnoreError};
use crate::Body;

/// Why a context could not be prepared (Docker's words).
#[derive(Debug, Error)]
pub enum ContextError {
    /// The context path is neither a directory nor an archive.
    #[error("unable to prepare context: path \"{0}\" not found")]
    NotFound(String),
    /// The Dockerfile cannot be found or read.
    #[error("unable to prepare context: {0}")]
    Prepare(String),
    /// `-` as both the context and the Dockerfile.
    #[error("invalid argument: can't use stdin for both build context and dockerfile")]
    StdinTwice,
    /// A malformed `.dockerignore`.
    #[error("error reading .dockerignore: {0}")]
    Ignore(#[from] DockerIgnoreError),
    /// Reading stdin or a file failed.
    #[error("{0}")]
    Io(String),
}

/// How many chunks may wait in the channel (each up to `CHUNK` bytes).
const QUEUE: usize = 16;
/// The size of the chunks the tar is cut into.
const CHUNK: usize = 256 * 1024;
/// Bytes enough to tell a tar header or a compressed stream.
const HEADER: usize = 512;

/// A context on its way: the tar's chunks, the Dockerfile's name in it,
/// and the thread producing them.
pub struct BuildContext {
    /// The tar (or compressed tar) a chunk at a time; an `Err` ends it.
    pub chunks: mpsc::Receiver<io::Result<Bytes>>,
    /// What to send as `dockerfile=` (empty: the daemon's default).
    pub dockerfile: String,
    /// The producer; its error says why the stream stopped early.
    pub producer: JoinHandle<io::Result<()>>,
    /// How many bytes have gone into the channel so far.
    pub sent: Arc<AtomicU64>,
    /// The body starts with a manifest, and the tar holds only what the
    /// agent does not keep (see `context_sync`).
    pub synced: bool,
}

impl BuildContext {
    /// The chunks as a request body (`application/x-tar`) and the producer.
    pub fn into_body(self) -> (Body, String, JoinHandle<io::Result<()>>) {
        (
            Body::Stream(self.chunks, "application/x-tar"),
            self.dockerfile,
            self.producer,
        )
    }
}

/// Prepare the context `context` (a directory, `-` for stdin, or a tar
/// file) with the Dockerfile `dockerfile` (`-f`: a path relative to the
/// working directory, `-` for stdin, or `None` for the context's own).
pub fn prepare(
    context: &str,
    dockerfile: Option<&str>,
    stdin: Box<dyn Read + Send>,
) -> Result<BuildContext, ContextError> {
    prepare_synced(context, dockerfile, stdin, None)
}

/// [`prepare`], sending of a directory context only what the agent does
/// not keep when `sync` says what it keeps.
pub fn prepare_synced(
    context: &str,
    dockerfile: Option<&str>,
    stdin: Box<dyn Read + Send>,
    sync: Option<Sync>,
) -> Result<BuildContext, ContextError> {
    let from_stdin = dockerfile == Some("-");
    if context == "-" {
        if from_stdin {
            return Err(ContextError::StdinTwice);
        }
        return from_reader(stdin, dockerfile.unwrap_or_default(), false, context);
    }
    let path = Path::new(context);
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => from_dir(path, dockerfile, stdin, sync),
        Ok(m) if m.is_file() && !from_stdin => {
            let file = fs::File::open(path).map_err(|e| ContextError::Io(format!("{context}: {e}")))?;
            from_reader(Box::new(file), dockerfile.unwrap_or_default(), true, context)
        }
        _ => Err(ContextError::NotFound(context.to_string())),
    }
}

/// A tar (any compression) sent as it is, or, from stdin, a Dockerfile
/// wrapped into a one-file tar.
fn from_reader(
    mut input: Box<dyn Read + Send>,
    dockerfile: &str,
    archive_only: bool,
    shown: &str,
) -> Result<BuildContext, ContextError> {
    let head = read_up_to(&mut input, HEADER)
        .map_err(|e| ContextError::Io(format!("failed to peek context header from STDIN: {e}")))?;
    if is_archive(&head) {
        let dockerfile = dockerfile.to_string();
        return Ok(spawn(dockerfile, move |out| {
            out.write_all(&head)?;
            io::copy(&mut input, out)?;
            Ok(())
        }));
    }
    if archive_only {
        return Err(ContextError::NotFound(shown.to_string()));
    }
    let mut text = head;
    input
        .read_to_end(&mut text)
        .map_err(|e| ContextError::Io(format!("reading the Dockerfile from stdin: {e}")))?;
    Ok(spawn("Dockerfile".to_string(), move |out| {
        let mut tar = tar::Builder::new(out);
        append_bytes(&mut tar, "Dockerfile", &text, 0o644)?;
        tar.finish()
    }))
}

/// Read until `n` bytes or the end.
fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Whether these first bytes start an archive: gzip, bzip2, xz or zstd
/// magic, or a tar header with a good checksum (moby's `IsArchive`).
pub fn is_archive(head: &[u8]) -> bool {
    const MAGIC: [&[u8]; 4] = [
        &[0x1f, 0x8b, 0x08],
        b"BZh",
        &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    if MAGIC.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    if head.len() < HEADER || head[..HEADER].iter().all(|b| *b == 0) {
        return false;
    }
    let field = String::from_utf8_lossy(&head[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8) else {
        return false;
    };
    let sum: u32 = head[..HEADER]
        .iter()
        .enumerate()
        .map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) })
        .sum();
    sum == want
}

/// Where the Dockerfile comes from, once resolved against the context.
enum Dockerfile {
    /// Inside the context, at this relative path.
    Inside(String),
    /// Outside it or from stdin: its text, to add under a random name.
    Added { name: String, text: Vec<u8> },
}

/// The context directory `dir`, with its Dockerfile and ignore file.
fn from_dir(
    dir: &Path,
    dockerfile: Option<&str>,
    stdin: Box<dyn Read + Send>,
    sync: Option<Sync>,
) -> Result<BuildContext, ContextError> {
    let root = fs::canonicalize(dir).map_err(|_| ContextError::NotFound(dir.display().to_string()))?;
    let (df, ignore_file) = resolve_dockerfile(&root, dockerfile, stdin)?;
    let ignore_file = ignore_file
        .filter(|p| p.is_file())
        .unwrap_or_else(|| root.join(".dockerignore"));
    let mut ignore = match fs::read(&ignore_file) {
        Ok(text) => DockerIgnore::parse(&String::from_utf8_lossy(&text))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(e) => return Err(ContextError::Io(format!("error reading .dockerignore: {e}"))),
    };
    ignore.keep(".dockerignore");
    let name = match &df {
        Dockerfile::Inside(rel) => {
            ignore.keep(rel);
            rel.clone()
        }
        Dockerfile::Added { name, .. } => name.clone(),
    };
    let mut found = Vec::new();
    collect(&root, "", &ignore, &mut found).map_err(|e| ContextError::Io(e.to_string()))?;
    let added = match &df {
        Dockerfile::Added { name, .. } => Some(name.clone()),
        Dockerfile::Inside(_) => None,
    };
    // Only a context whose every name is UTF-8 is listed in a manifest.
    let sync = sync.filter(|_| found.iter().all(|f| context_sync::listed(&f.name).is_some()));
    let kept = sync.as_ref().map(Sync::kept).unwrap_or_default();
    let mut manifest = Vec::with_capacity(found.len() + 2);
    let mut send = Vec::with_capacity(found.len());
    let now = context_sync::now();
    for f in &found {
        let name = context_sync::listed(&f.name).unwrap_or_default();
        let extra = match (&added, name == ".dockerignore") {
            (Some(a), true) => format!("+{a}"),
            _ => String::new(),
        };
        let sig = context_sync::signature(&f.meta, &extra, now);
        send.push(sync.is_none() || !context_sync::unchanged(&kept, &name, &sig));
        manifest.push((name, sig));
    }
    context_sync::send_parents(&found, &mut send);
    if let Some(a) = &added {
        if !found.iter().any(|f| f.name == Path::new(".dockerignore")) {
            manifest.push((".dockerignore".into(), format!("added:{a}")));
        }
        manifest.push((a.clone(), "added".into()));
    }
    let synced = sync.is_some();
    let mut ctx = spawn(name, move |out| {
        if synced {
            context_sync::write_manifest(out, manifest)?;
        }
        let mut w = Walker {
            tar: tar::Builder::new(out),
            links: HashMap::new(),
            added,
            wrote_ignore: false,
        };
        for (f, send) in found.iter().zip(send) {
            w.emit(f, send)?;
        }
        if let Dockerfile::Added { name, text } = df {
            if !w.wrote_ignore {
                append_bytes(&mut w.tar, ".dockerignore", format!("\n{name}\n").as_bytes(), 0o600)?;
            }
            append_bytes(&mut w.tar, &name, &text, 0o600)?;
        }
        w.tar.finish()
    });
    ctx.synced = synced;
    Ok(ctx)
}

/// The Dockerfile of a directory context (Docker's `GetContextFromLocalDir`:
/// `-f` is relative to the working directory; `Dockerfile`, else
/// `dockerfile`, in the context by default), and the `FILE.dockerignore`
/// that would go with a named one.
fn resolve_dockerfile(
    root: &Path,
    given: Option<&str>,
    mut stdin: Box<dyn Read + Send>,
) -> Result<(Dockerfile, Option<PathBuf>), ContextError> {
    let prepare = |m: String| ContextError::Prepare(m);
    let path = match given {
        Some("-") => {
            let mut text = Vec::new();
            stdin
                .read_to_end(&mut text)
                .map_err(|e| ContextError::Io(format!("reading the Dockerfile from stdin: {e}")))?;
            return Ok((
                Dockerfile::Added {
                    name: random_name(),
                    text,
                },
                None,
            ));
        }
        Some(p) if !p.is_empty() => std::path::absolute(p).map_err(|e| prepare(e.to_string()))?,
        _ => {
            let default = root.join("Dockerfile");
            let alt = root.join("dockerfile");
            if fs::symlink_metadata(&default).is_err() && fs::symlink_metadata(&alt).is_ok() {
                alt
            } else {
                default
            }
        }
    };
    let real = fs::canonicalize(&path).map_err(|e| {
        prepare(format!(
            "unable to evaluate symlinks in Dockerfile path: lstat {}: {}",
            path.display(),
            go_error(&e)
        ))
    })?;
    if real.is_dir() {
        return Err(prepare(format!(
            "Cannot locate specified Dockerfile: {}",
            path.display()
        )));
    }
    let ignore = given.map(|_| {
        let mut p = path.clone().into_os_string();
        p.push(".dockerignore");
        PathBuf::from(p)
    });
    match real.strip_prefix(root) {
        Ok(rel) => Ok((Dockerfile::Inside(rel.to_string_lossy().into_owned()), ignore)),
        Err(_) => {
            let text = fs::read(&real).map_err(|e| prepare(format!("unable to open Dockerfile: {e}")))?;
            Ok((
                Dockerfile::Added {
                    name: random_name(),
                    text,
                },
                ignore,
            ))
        }
    }
}

/// An I/O error as Go words it (`no such file or directory`).
fn go_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// `.dockerfile.` and 20 random hex digits.
fn random_name() -> String {
    let mut bytes = [0u8; 10];
    let random = fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes.copy_from_slice(&(nanos ^ u128::from(std::process::id())).to_le_bytes()[..10]);
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(".dockerfile.{hex}")
}

/// A file of these bytes, owned by 0:0, modified now.
fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8], mode: u32) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    );
    tar.append_data(&mut h, name, data)
}

/// Run `produce` on a thread, its output cut into chunks on a channel; an
/// error goes down the channel too, so the request fails.
fn spawn<F>(dockerfile: String, produce: F) -> BuildContext
where
    F: FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
{
    let (tx, chunks) = mpsc::channel(QUEUE);
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let producer = std::thread::spawn(move || {
        let mut out = BufWriter::with_capacity(CHUNK, Sender(tx.clone(), counter));
        let result = produce(&mut out).and_then(|()| out.flush());
        if let Err(e) = &result {
            let _ = tx.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
        }
        result
    });
    BuildContext {
        chunks,
        dockerfile,
        producer,
        sent,
        synced: false,
    }
}

/// `io::Write` into the channel, a chunk per write, counted.
struct Sender(mpsc::Sender<io::Result<Bytes>>, Arc<AtomicU64>);

impl Write for Sender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.blocking_send(Ok(Bytes::copy_from_slice(buf))).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the daemon stopped reading the build context",
            )
        })?;
        self.1.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Everything under `dir` (`rel` inside the context) that `ignore` lets
/// through, sorted by name, into `out`.
fn collect(dir: &Path, rel: &str, ignore: &DockerIgnore, out: &mut Vec<Found>) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(|e| checking(dir, &e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .map_err(|e| checking(dir, &e))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let path = dir.join(&name);
        let child = if rel.is_empty() {
            name.to_string_lossy().into_owned()
        } else {
            format!("{rel}/{}", name.to_string_lossy())
        };
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(checking(&path, &e)),
        };
        let excluded = ignore.excluded(&child);
        let is_dir = meta.is_dir();
        if is_dir && excluded && ignore.skip_dir(&child) {
            continue;
        }
        let found = Found {
            path: path.clone(),
            name: Path::new(rel).join(&name),
            meta,
        };
        // Sockets, devices and fifos are never sent (Docker's CLI skips them).
        let kind = found.meta.file_type();
        if !excluded && (is_dir || kind.is_file() || kind.is_symlink()) {
            out.push(found);
        }
        if is_dir {
            collect(&path, &child, ignore, out)?;
        }
    }
    Ok(())
}

/// The tar of a context directory's entries.
struct Walker<W: Write> {
    tar: tar::Builder<W>,
    /// Files with more than one link already named: (dev, inode) → name.
    links: HashMap<(u64, u64), PathBuf>,
    /// The name the Dockerfile is added under, to list in `.dockerignore`.
    added: Option<String>,
    wrote_ignore: bool,
}

impl<W: Write> Walker<W> {
    /// One entry into the tar, or, when the agent keeps it (`!send`), only
    /// into the hard links seen.
    fn emit(&mut self, f: &Found, send: bool) -> io::Result<()> {
        if !send {
            if f.meta.is_file() && f.meta.nlink() > 1 {
                self.links
                    .entry((f.meta.dev(), f.meta.ino()))
                    .or_insert_with(|| f.name.clone());
            }
            return Ok(());
        }
        if f.meta.is_dir() {
            let mut h = header(&f.meta);
            return self.tar.append_data(&mut h, &f.name, io::empty());
        }
        self.entry(&f.path, &f.name, &f.meta)
    }

    /// One file, symlink or hard link; other kinds (sockets, devices,
    /// fifos) are left out.
    fn entry(&mut self, path: &Path, name: &Path, meta: &fs::Metadata) -> io::Result<()> {
        let ft = meta.file_type();
        let mut h = header(meta);
        if ft.is_symlink() {
            let target = fs::read_link(path).map_err(|e| checking(path, &e))?;
            return self.tar.append_link(&mut h, name, target);
        }
        if !ft.is_file() {
            return Ok(());
        }
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                let first = first.clone();
                return self.tar.append_link(&mut h, name, first);
            }
            self.links.insert(key, name.to_path_buf());
        }
        if name == Path::new(".dockerignore") {
            if let Some(added) = &self.added {
                self.wrote_ignore = true;
                let mut text = fs::read(path).map_err(|e| checking(path, &e))?;
                text.extend_from_slice(format!("\n{added}\n").as_bytes());
                h.set_size(text.len() as u64);
                return self.tar.append_data(&mut h, name, &text[..]);
            }
        }
        let file = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(checking(path, &e)),
        };
        // Exactly the size in the header, even if the file changes meanwhile.
        let len = meta.len();
        self.tar
            .append_data(&mut h, name, file.take(len).chain(io::repeat(0)).take(len))
    }
}

/// A header from a file's metadata: mode bits, mtime, size, type; owned
/// by 0:0 as Docker's CLI sends it.
fn header(meta: &fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(0);
    h.set_gid(0);
    if !meta.is_file() {
        h.set_size(0);
    }
    h
}

/// Docker's `error checking context` for a file it cannot read.
fn checking(path: &Path, e: &io::Error) -> io::Error {
    let what = match e.kind() {
        io::ErrorKind::PermissionDenied => format!("no permission to read from '{}'", path.display()),
        _ => format!("can't stat '{}'", path.display()),
    };
    io::Error::new(e.kind(), format!("error checking context: '{what}'."))
}

#[cfg(test)]
#[path = "build_context_tests.rs"]
mod tests;
