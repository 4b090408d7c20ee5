//! Disk full: the data root on a small filesystem (a size-limited tmpfs
//! the test mounts), filled to ENOSPC during an import, by a container's
//! own writes, and during logging. Errors are clear, running containers
//! keep running, no record or image is corrupted, and once space is freed
//! everything works again.

use std::path::{Path, PathBuf};

use skiff_tests::host;
use skiff_tests::{busybox_tar, Agent};

/// A tmpfs of `mib` MiB mounted for the test; unmounted when dropped.
struct SmallFs {
    path: PathBuf,
}

impl SmallFs {
    fn new(mib: u64) -> SmallFs {
        let path = PathBuf::from(format!("/tmp/skiff-df{}-{mib}", std::process::id()));
        std::fs::create_dir_all(&path).expect("mount point");
        let opts = format!("size={mib}m");
        nix::mount::mount(
            Some("tmpfs"),
            &path,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(opts.as_str()),
        )
        .expect("mounting a tmpfs");
        SmallFs { path }
    }

    /// Bytes still free.
    fn free(&self) -> u64 {
        let s = nix::sys::statvfs::statvfs(&self.path).expect("statvfs");
        s.blocks_available() * s.fragment_size()
    }

    /// Take all but `leave` bytes with a file; removing it frees them.
    fn fill(&self, leave: u64) -> PathBuf {
        let f = self.path.join(format!("filler{}", self.free()));
        let n = self.free().saturating_sub(leave);
        let file = std::fs::File::create(&f).expect("filler");
        use std::os::fd::AsRawFd;
        nix::fcntl::fallocate(file.as_raw_fd(), nix::fcntl::FallocateFlags::empty(), 0, n as i64).expect("fallocate");
        f
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// What skiff lists must still parse and agree after the disk was full.
fn intact(a: &Agent, names: &[&str]) {
    a.skiff(&["images"]).ok();
    a.skiff(&["image", "inspect", "busybox"]).ok();
    let ps = a.skiff(&["ps", "-a", "--format", "{{.Names}}"]).ok();
    for n in names {
        assert!(ps.stdout.lines().any(|l| l == *n), "{n} not listed: {}", ps.stdout);
        a.skiff(&["inspect", n]).ok();
    }
    let off = host::settled_disagreements(a);
    assert!(off.is_empty(), "{off:#?}");
}

fn layers(data: &Path) -> usize {
    std::fs::read_dir(data.join("overlay2")).map_or(0, |rd| rd.count())
}

#[test]
fn a_full_data_root_fails_clearly_keeps_containers_running_and_recovers() {
    let fs = SmallFs::new(48);
    let a = Agent::start_on(&fs.path);
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done",
    ])
    .ok();
    let pid = a.inspect("counter", "{{.State.Pid}}");
    let tar = busybox_tar();
    let tar = tar.to_str().expect("path");

    // An import into a full disk: a clear error, nothing half stored.
    let layers0 = layers(&fs.path);
    let filler = fs.fill(256 << 10);
    let r = a.skiff(&["import", tar, "other"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no space left on device"), "{}", r.stderr);
    assert_ne!(a.skiff(&["image", "inspect", "other"]).code, 0);
    assert_eq!(layers(&fs.path), layers0, "a half-imported layer stayed");
    let spooled = std::fs::read_dir(fs.path.join("tmp")).map_or(0, |rd| rd.count());
    assert_eq!(spooled, 0, "the upload's spool stayed, taking the space");
    // Logging into a full disk: the monitor reports the failed writes and
    // the container keeps running.
    let rest = fs.fill(0);
    let id = a.inspect("counter", "{{.Id}}");
    let shim_log = a.root.join("run/containers").join(&id).join("shim.log");
    a.eventually("a log write failed", || {
        std::fs::read_to_string(&shim_log).is_ok_and(|l| l.contains("No space left on device"))
    });
    let logged = a.skiff(&["logs", "counter"]).ok().stdout.lines().count();
    assert!(host::alive(&pid));
    a.skiff(&["exec", "counter", "true"]).ok();
    intact(&a, &["counter"]);

    // Space again: import, run and logs work, and the counter's log goes on.
    std::fs::remove_file(&filler).expect("free");
    std::fs::remove_file(&rest).expect("free");
    a.skiff(&["import", tar, "other"]).ok();
    a.skiff(&["run", "--rm", "other", "true"]).ok();
    a.eventually("the log grows again", || {
        a.skiff(&["logs", "counter"]).stdout.lines().count() > logged + 5
    });
    let logs = a.skiff(&["logs", "counter"]).ok().stdout;
    assert!(logs.lines().all(|l| l.starts_with("line ")), "a broken line in the log");

    // A container filling the disk itself: its write fails, it runs on.
    let w = a.skiff(&[
        "run",
        "-d",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1M; touch /done; sleep 300",
    ]);
    w.ok();
    // Its `dd` ends at ENOSPC (the marker is an empty file: no blocks).
    a.eventually("the writer's dd ended", || {
        a.skiff(&["exec", "writer", "test", "-e", "/done"]).code == 0
    });
    assert_eq!(fs.free(), 0, "the disk is full");
    let wpid = a.inspect("writer", "{{.State.Pid}}");
    assert!(host::alive(&wpid) && host::alive(&pid));
    intact(&a, &["counter", "writer"]);
    // Stopping on a full disk works; the exit is recorded.
    a.skiff(&["stop", "-t", "0", "counter"]).ok();
    assert!(!host::alive(&pid));
    assert_eq!(a.inspect("counter", "{{.State.Status}}"), "exited");
    a.skiff(&["exec", "writer", "rm", "/big"]).ok();
    a.skiff(&["stop", "-t", "0", "writer"]).ok();
    a.skiff(&["rm", "writer"]).ok();
    a.skiff(&["run", "--rm", "busybox", "echo", "ok"]).ok();
    a.finish();
    drop(fs);
}
