//! `--storage-driver btrfs` on a data root on btrfs (a loop device the
//! test makes): a subvolume per layer, a snapshot per container, `diff`,
//! `commit` and `build` from snapshots, and `--storage-opt size=` enforced
//! by a qgroup limit. The loop device, its mount and image file go when
//! the test ends.

use std::path::{Path, PathBuf};
use std::process::Command;

use skiff_tests::{bin_dir, Agent, Run};

fn sh(cmd: &str) -> Run {
    Command::new("sh").arg("-c").arg(cmd).output().expect("sh").into()
}

struct BtrfsLoop {
    base: PathBuf,
    mnt: PathBuf,
    dev: String,
}

impl BtrfsLoop {
    fn make() -> Self {
        assert!(
            Path::new("/usr/sbin/mkfs.btrfs").exists() || Path::new("/sbin/mkfs.btrfs").exists(),
            "mkfs.btrfs is missing: run deploy/setup.sh (Debian's btrfs-progs)"
        );
        let base = std::env::temp_dir().join(format!("skiff-btrfs-{}", std::process::id()));
        let mnt = base.join("mnt");
        std::fs::create_dir_all(&mnt).expect("dir");
        let img = base.join("btrfs.img");
        sh(&format!("truncate -s 512M {}", img.display())).ok();
        let dev = sh(&format!("losetup -f --show {}", img.display()))
            .ok()
            .out()
            .to_string();
        let b = Self { base, mnt, dev };
        sh(&format!("mkfs.btrfs -q {}", b.dev)).ok();
        sh(&format!("mount {} {}", b.dev, b.mnt.display())).ok();
        b
    }

    /// The subvolume paths `btrfs subvolume list` shows.
    fn subvolumes(&self) -> Vec<String> {
        let out = sh(&format!("btrfs subvolume list {}", self.mnt.display())).ok().stdout;
        out.lines()
            .filter_map(|l| l.split(" path ").nth(1))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for BtrfsLoop {
    fn drop(&mut self) {
        let _ = sh(&format!("umount {}", self.mnt.display()));
        let _ = sh(&format!("losetup -d {}", self.dev));
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

#[test]
fn btrfs_driver_snapshots_layers_and_limits_them_with_qgroups() {
    let fs = BtrfsLoop::make();
    let a = Agent::start_on_with(&fs.mnt.join("data"), &["-s", "btrfs"]);
    assert_eq!(a.skiff(&["info", "--format", "{{.Driver}}"]).ok().out(), "btrfs");

    // The image's layer, its init layer and the container: subvolumes.
    a.skiff(&[
        "run",
        "--name",
        "c",
        "busybox",
        "sh",
        "-c",
        "echo hi > /f && rm /bin/ls",
    ])
    .ok();
    let id = a.inspect("c", "{{.Id}}");
    assert_eq!(a.inspect("c", "{{.GraphDriver.Name}}"), "btrfs");
    let subs = fs.subvolumes();
    assert!(
        subs.iter().any(|s| s == &format!("data/btrfs/subvolumes/{id}")),
        "{subs:?}"
    );
    assert!(subs.iter().any(|s| s.ends_with("-init")), "{subs:?}");

    // diff and commit read the snapshot against the image.
    let d = a.skiff(&["diff", "c"]).ok().stdout;
    for want in ["C /bin", "D /bin/ls", "A /f"] {
        assert!(d.lines().any(|l| l == want), "{want} missing from:\n{d}");
    }
    a.skiff(&["commit", "c", "made"]).ok();
    assert_eq!(a.skiff(&["run", "--rm", "made", "cat", "/f"]).ok().out(), "hi");
    assert_eq!(a.skiff(&["run", "--rm", "made", "test", "-e", "/bin/ls"]).code, 1);
    let saved = a.root.join("made.tar");
    a.skiff(&["save", "-o", saved.to_str().expect("path"), "made"]).ok();

    // A build's RUN and COPY steps become layers.
    let ctx = a.root.join("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo built > /built && rm /bin/cat\nCOPY f /f\n",
    )
    .expect("Dockerfile");
    std::fs::write(ctx.join("f"), "copied\n").expect("f");
    a.skiff(&["build", "-q", "-t", "built", ctx.to_str().expect("path")])
        .ok();
    let r = a.skiff(&[
        "run",
        "--rm",
        "built",
        "sh",
        "-c",
        "read x < /built; echo $x; test -e /bin/cat || echo gone",
    ]);
    assert_eq!(r.ok().stdout, "built\ngone\n");
    assert_eq!(a.inspect("built", "{{len .RootFS.Layers}}"), "3");

    // --storage-opt size= is a qgroup limit on the container's snapshot.
    let dd = "dd if=/dev/zero of=/big bs=1M count=40";
    let r = a.skiff(&["run", "--rm", "--storage-opt", "size=20m", "busybox", "sh", "-c", dd]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("Disk quota exceeded"), "{r:?}");
    a.skiff(&["run", "--rm", "busybox", "sh", "-c", dd]).ok();
    a.skiff(&["run", "--rm", "--storage-opt", "size=64m", "busybox", "sh", "-c", dd])
        .ok();

    // Removing the container deletes its subvolume.
    a.skiff(&["rm", "c"]).ok();
    assert!(!fs.subvolumes().iter().any(|s| s.ends_with(&id)));

    // The driver needs btrfs under the data root, as Docker's.
    let other = a.root.join("not-btrfs");
    let r: Run = Command::new("timeout")
        .arg("20")
        .arg("nsenter")
        .arg(format!("--net=/run/netns/{}", a.netns))
        .arg(bin_dir().join("skiff-agent"))
        .args(["-s", "btrfs", "--config-file", "/nonexistent"])
        .arg("--data-root")
        .arg(&other)
        .arg("--exec-root")
        .arg(a.root.join("other-run"))
        .arg("-H")
        .arg(format!("unix://{}", a.root.join("other.sock").display()))
        .output()
        .expect("agent")
        .into();
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("prerequisites for driver not satisfied (wrong filesystem?)"),
        "{}",
        r.stderr
    );
    a.finish();
    drop(fs);
}
