//! `--storage-opt size=` as Docker's overlay2 gives it: on a data root on
//! xfs mounted with project quotas (an xfs loop device the test makes), a
//! container's writable layer holds no more than the size (writes past it
//! fail with "No space left on device"), and elsewhere the option is
//! refused with Docker's message, nothing created (also on xfs mounted
//! without `pquota`). Kernels built without XFS quota support
//! (`CONFIG_XFS_QUOTA`, as this machine's 6.18) cannot mount `pquota`: the
//! enforcement half then says so and proves only the refusal. The loop
//! device, its mount and image file go when the test ends.

use std::path::{Path, PathBuf};
use std::process::Command;

use skiff_tests::{Agent, Run};

const UNSUPPORTED: &str = "--storage-opt is supported only for overlay over xfs with 'pquota' mount option";

fn sh(cmd: &str) -> Run {
    Command::new("sh").arg("-c").arg(cmd).output().expect("sh").into()
}

/// An xfs filesystem on a loop device, mounted with `pquota` if the
/// kernel can (`quotas`).
struct XfsLoop {
    base: PathBuf,
    mnt: PathBuf,
    dev: String,
    quotas: bool,
}

impl XfsLoop {
    fn make(pquota: bool) -> Self {
        assert!(
            Path::new("/usr/sbin/mkfs.xfs").exists() || Path::new("/sbin/mkfs.xfs").exists(),
            "mkfs.xfs is missing: run deploy/setup.sh (Debian's xfsprogs)"
        );
        let base = std::env::temp_dir().join(format!("skiff-xfs-{}-{pquota}", std::process::id()));
        let mnt = base.join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let img = base.join("xfs.img");
        // mkfs.xfs wants at least 300 MiB.
        sh(&format!("truncate -s 320M {}", img.display())).ok();
        let dev = sh(&format!("losetup -f --show {}", img.display()))
            .ok()
            .out()
            .to_string();
        let mut x = Self {
            base,
            mnt,
            dev,
            quotas: false,
        };
        sh(&format!("mkfs.xfs -q {}", x.dev)).ok();
        x.quotas = pquota && sh(&format!("mount -o pquota {} {}", x.dev, x.mnt.display())).code == 0;
        if !x.quotas {
            sh(&format!("mount {} {}", x.dev, x.mnt.display())).ok();
        }
        x
    }
}

impl Drop for XfsLoop {
    fn drop(&mut self) {
        let _ = sh(&format!("umount {}", self.mnt.display()));
        let _ = sh(&format!("losetup -d {}", self.dev));
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

#[test]
fn storage_opt_size_limits_the_writable_layer_on_xfs_with_project_quotas() {
    let xfs = XfsLoop::make(true);
    let a = Agent::start_on(&xfs.mnt.join("data"));
    if !xfs.quotas {
        eprintln!("this kernel cannot mount xfs with pquota (no CONFIG_XFS_QUOTA): only the refusal is proven");
        let r = a.skiff(&["run", "--storage-opt", "size=20m", "busybox", "true"]);
        assert_eq!(r.code, 125, "{r:?}");
        assert!(r.stderr.contains(UNSUPPORTED), "{}", r.stderr);
        a.finish();
        return;
    }
    let dd = "dd if=/dev/zero of=/big bs=1M count=40";
    let r = a.skiff(&[
        "run",
        "--name",
        "small",
        "--storage-opt",
        "size=20m",
        "busybox",
        "sh",
        "-c",
        dd,
    ]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("No space left on device"), "{r:?}");
    assert_eq!(
        a.inspect("small", "{{json .HostConfig.StorageOpt}}"),
        r#"{"size":"20m"}"#
    );
    // What it could write stopped at the limit.
    let r = a.skiff(&["start", "-a", "small"]).stderr;
    assert!(r.contains("No space left on device"), "{r}");
    // Without the option the same write fits.
    a.skiff(&["run", "--rm", "busybox", "sh", "-c", dd]).ok();
    // A larger limit lets it through.
    a.skiff(&["run", "--rm", "--storage-opt", "size=64m", "busybox", "sh", "-c", dd])
        .ok();
    let r = a.skiff(&["run", "--storage-opt", "foo=1", "busybox", "true"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(r.stderr.contains("Unknown option foo"), "{}", r.stderr);
    a.finish();
    drop(xfs);
}

#[test]
fn storage_opt_is_refused_on_xfs_without_pquota() {
    let xfs = XfsLoop::make(false);
    let a = Agent::start_on(&xfs.mnt.join("data"));
    let r = a.skiff(&["run", "--storage-opt", "size=20m", "busybox", "true"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(
        r.stderr.contains(&format!("Error response from daemon: {UNSUPPORTED}")),
        "{}",
        r.stderr
    );
    // The driver made nothing of its quota machinery there.
    assert!(!xfs.mnt.join("data/overlay2/backingFsBlockDev").exists());
    a.skiff(&["run", "--rm", "busybox", "true"]).ok();
    a.finish();
    drop(xfs);
}

#[test]
fn storage_opt_is_refused_with_dockers_message_off_xfs() {
    let a = Agent::start();
    for verb in ["create", "run"] {
        let r = a.skiff(&[verb, "--storage-opt", "size=10m", "busybox", "true"]);
        assert_eq!(r.code, 125, "{r:?}");
        assert!(
            r.stderr.contains(&format!("Error response from daemon: {UNSUPPORTED}")),
            "{}",
            r.stderr
        );
    }
    let r = a.skiff(&["run", "--storage-opt", "size", "busybox", "true"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(r.stderr.contains("invalid storage option"), "{}", r.stderr);
    assert_eq!(a.skiff(&["ps", "-aq"]).ok().out(), "", "nothing created");
    a.finish();
}
