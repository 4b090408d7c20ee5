//! Tests of `build_context`: packing real directories and stdin.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{is_archive, prepare, BuildContext, ContextError};

/// A fresh directory under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("skiff-ctx-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An entry of a tar read back: name, type, mode, uid, link target, text.
#[derive(Debug)]
struct Entry {
    name: String,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    link: Option<String>,
    text: String,
}

fn collect(mut ctx: BuildContext) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = ctx.chunks.blocking_recv() {
        out.extend_from_slice(&chunk.unwrap());
    }
    ctx.producer.join().unwrap().unwrap();
    assert_eq!(ctx.sent.load(std::sync::atomic::Ordering::Relaxed), out.len() as u64);
    out
}

fn entries(tar_bytes: &[u8]) -> Vec<Entry> {
    let mut a = tar::Archive::new(tar_bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut text = String::new();
            e.read_to_string(&mut text).unwrap();
            let h = e.header();
            Entry {
                name: e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string(),
                kind: h.entry_type(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                link: e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()),
                text,
            }
        })
        .collect()
}

fn names(e: &[Entry]) -> Vec<&str> {
    e.iter().map(|e| e.name.as_str()).collect()
}

fn no_stdin() -> Box<dyn Read + Send> {
    Box::new(std::io::empty())
}

fn pack(dir: &Path, dockerfile: Option<&str>) -> (String, Vec<Entry>) {
    let ctx = prepare(dir.to_str().unwrap(), dockerfile, no_stdin()).unwrap();
    let name = ctx.dockerfile.clone();
    (name, entries(&collect(ctx)))
}

#[test]
fn a_directory_is_packed_sorted_without_what_is_ignored() {
    let t = TempDir::new("dir");
    t.write("Dockerfile", "FROM busybox\n");
    t.write(
        ".dockerignore",
        "# build output\nbuild\n*.log\n!keep.log\nDockerfile\n.dockerignore\n",
    );
    t.write("src/main.rs", "fn main() {}\n");
    t.write("src/b.txt", "b");
    t.write("build/out.bin", "x");
    t.write("a.log", "no");
    t.write("keep.log", "yes");
    fs::set_permissions(t.0.join("src/main.rs"), fs::Permissions::from_mode(0o751)).unwrap();
    std::os::unix::fs::symlink("src/main.rs", t.0.join("link")).unwrap();
    fs::hard_link(t.0.join("keep.log"), t.0.join("zz-hard")).unwrap();
    let (dockerfile, e) = pack(&t.0, None);
    assert_eq!(dockerfile, "Dockerfile");
    assert_eq!(
        names(&e),
        [
            ".dockerignore",
            "Dockerfile",
            "keep.log",
            "link",
            "src",
            "src/b.txt",
            "src/main.rs",
            "zz-hard"
        ]
    );
    let by = |n: &str| e.iter().find(|x| x.name == n).unwrap();
    assert_eq!(by("src/main.rs").mode, 0o751);
    assert_eq!(by("src/main.rs").text, "fn main() {}\n");
    assert_eq!(by("src").kind, tar::EntryType::Directory);
    assert_eq!(by("link").kind, tar::EntryType::Symlink);
    assert_eq!(by("link").link.as_deref(), Some("src/main.rs"));
    assert_eq!(by("zz-hard").kind, tar::EntryType::Link);
    assert_eq!(by("zz-hard").link.as_deref(), Some("keep.log"));
    assert!(e.iter().all(|x| x.uid == 0));
}

#[test]
fn exceptions_reach_into_excluded_directories() {
    let t = TempDir::new("except");
    t.write("Dockerfile", "FROM busybox\n");
    t.write(".dockerignore", "vendor\n!vendor/keep/me.txt\nnode_modules\n");
    t.write("vendor/keep/me.txt", "kept");
    t.write("vendor/keep/other.txt", "gone");
    t.write("vendor/drop.txt", "gone");
    t.write("node_modules/x/y.js", "gone");
    let (_, e) = pack(&t.0, None);
    assert_eq!(names(&e), [".dockerignore", "Dockerfile", "vendor/keep/me.txt"]);
}

#[test]
fn a_dockerfile_ignore_file_beside_the_dockerfile_wins() {
    let t = TempDir::new("dfignore");
    t.write("ci/app.Dockerfile", "FROM busybox\n");
    t.write("ci/app.Dockerfile.dockerignore", "*.txt\n");
    t.write(".dockerignore", "*.md\n");
    t.write("a.txt", "x");
    t.write("b.md", "y");
    let df = t.0.join("ci/app.Dockerfile");
    let (name, e) = pack(&t.0, Some(df.to_str().unwrap()));
    assert_eq!(name, "ci/app.Dockerfile");
    assert_eq!(
        names(&e),
        [
            ".dockerignore",
            "b.md",
            "ci",
            "ci/app.Dockerfile",
            "ci/app.Dockerfile.dockerignore"
        ]
    );
}

#[test]
fn a_dockerfile_outside_the_context_is_added_under_a_random_name() {
    let t = TempDir::new("outside");
    t.write("ctx/file", "data");
    t.write("elsewhere/Dockerfile", "FROM scratch\n");
    let df = t.0.join("elsewhere/Dockerfile");
    let (name, e) = pack(&t.0.join("ctx"), Some(df.to_str().unwrap()));
    assert!(name.starts_with(".dockerfile."), "{name}");
    assert_eq!(name.len(), ".dockerfile.".len() + 20);
    // A missing .dockerignore is added at the end, as Docker's CLI does.
    assert_eq!(names(&e), ["file", ".dockerignore", name.as_str()]);
    assert_eq!(e[1].text, format!("\n{name}\n"));
    assert_eq!(e[2].text, "FROM scratch\n");
}

#[test]
fn a_dockerfile_from_stdin_goes_beside_the_context_dockerignore() {
    let t = TempDir::new("stdinfile");
    t.write(".dockerignore", "secret");
    t.write("secret", "s");
    let stdin: Box<dyn Read + Send> = Box::new(&b"FROM busybox\nRUN true\n"[..]);
    let ctx = prepare(t.0.to_str().unwrap(), Some("-"), stdin).unwrap();
    let name = ctx.dockerfile.clone();
    let e = entries(&collect(ctx));
    assert_eq!(names(&e), [".dockerignore", name.as_str()]);
    assert_eq!(e[0].text, format!("secret\n{name}\n"));
    assert_eq!(e[1].text, "FROM busybox\nRUN true\n");
}

#[test]
fn stdin_is_a_tar_sent_as_is_or_a_dockerfile_wrapped() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    b.append_data(&mut h, "Dockerfile", &b"abc"[..]).unwrap();
    let tar_bytes = b.into_inner().unwrap();
    assert!(is_archive(&tar_bytes));
    let ctx = prepare(
        "-",
        Some("sub/Dockerfile"),
        Box::new(std::io::Cursor::new(tar_bytes.clone())),
    )
    .unwrap();
    assert_eq!(ctx.dockerfile, "sub/Dockerfile");
    assert_eq!(collect(ctx), tar_bytes);

    static GZ: [u8; 7] = [0x1f, 0x8b, 0x08, 0, 1, 2, 3];
    let gz = GZ;
    let ctx = prepare("-", None, Box::new(&GZ[..])).unwrap();
    assert_eq!(ctx.dockerfile, "");
    assert_eq!(collect(ctx), gz);

    let ctx = prepare("-", None, Box::new(&b"FROM busybox\n"[..])).unwrap();
    assert_eq!(ctx.dockerfile, "Dockerfile");
    let e = entries(&collect(ctx));
    assert_eq!(names(&e), ["Dockerfile"]);
    assert_eq!(e[0].text, "FROM busybox\n");
}

#[test]
fn a_tar_file_is_a_context_and_other_paths_are_not() {
    let t = TempDir::new("tarfile");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    b.append_data(&mut h, "x", std::io::empty()).unwrap();
    let bytes = b.into_inner().unwrap();
    fs::write(t.0.join("ctx.tar"), &bytes).unwrap();
    t.write("notes.txt", "not an archive");
    let ctx = prepare(t.0.join("ctx.tar").to_str().unwrap(), None, no_stdin()).unwrap();
    assert_eq!(collect(ctx), bytes);
    let err = |p: &str, f: Option<&str>| prepare(p, f, no_stdin()).err().unwrap().to_string();
    let notes = t.0.join("notes.txt");
    let notes = notes.to_str().unwrap();
    assert_eq!(
        err(notes, None),
        format!("unable to prepare context: path \"{notes}\" not found")
    );
    assert_eq!(
        err("/no/such/dir", None),
        "unable to prepare context: path \"/no/such/dir\" not found"
    );
    assert!(matches!(
        prepare("-", Some("-"), no_stdin()),
        Err(ContextError::StdinTwice)
    ));
    let missing = err(t.0.to_str().unwrap(), None);
    assert!(
        missing.starts_with("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat "),
        "{missing}"
    );
    assert!(missing.ends_with("/Dockerfile: no such file or directory"), "{missing}");
}

#[test]
fn archives_are_told_from_text() {
    assert!(is_archive(b"BZh91AY"));
    assert!(is_archive(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1]));
    assert!(is_archive(&[0x28, 0xb5, 0x2f, 0xfd]));
    assert!(!is_archive(b"FROM busybox\n"));
    assert!(!is_archive(&[0u8; 1024]));
    assert!(!is_archive(&[b'a'; 512]));
}
