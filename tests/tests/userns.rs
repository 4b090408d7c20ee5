//! `skiff-agent --userns-remap default`: a container's root is an
//! unprivileged ID on the host, for the container, its execs and what it
//! writes; images, volumes and archives read as the container sees them.

use std::os::unix::fs::MetadataExt;

use skiff_tests::{busybox_tar, Agent};

/// `/etc/passwd`, `/etc/group`, their shadows, `/etc/subuid`, `/etc/subgid`
/// (and the tools' `-` backups) as they were: the agent adds `dockremap` and its ranges, the test takes them
/// out again (unless the machine had them before).
struct HostIds {
    files: Vec<(String, Option<Vec<u8>>)>,
}

impl HostIds {
    fn keep() -> Self {
        let files = ["passwd", "group", "shadow", "gshadow", "subuid", "subgid"]
            .into_iter()
            .flat_map(|f| [format!("/etc/{f}"), format!("/etc/{f}-")])
            .map(|f| {
                let data = std::fs::read(&f).ok();
                (f, data)
            })
            .collect();
        Self { files }
    }
}

impl Drop for HostIds {
    fn drop(&mut self) {
        for (f, data) in &self.files {
            match data {
                Some(d) => {
                    let _ = std::fs::write(f, d);
                }
                None => {
                    let _ = std::fs::remove_file(f);
                }
            }
        }
    }
}

/// The first host ID of dockremap's range in `/etc/subuid`.
fn remap_start() -> u32 {
    let text = std::fs::read_to_string("/etc/subuid").expect("/etc/subuid");
    text.lines()
        .find_map(|l| l.strip_prefix("dockremap:"))
        .and_then(|r| r.split(':').next())
        .and_then(|s| s.parse().ok())
        .expect("a dockremap range")
}

/// The real (host) UID of process `pid`.
fn host_uid(pid: &str) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .expect("Uid line")
}

/// The owners in a tar stream: (name, uid, gid).
fn owners(tar: &[u8]) -> Vec<(String, u64, u64)> {
    let mut ar = tar::Archive::new(tar);
    ar.entries()
        .expect("tar")
        .map(|e| {
            let e = e.expect("entry");
            let h = e.header();
            (
                e.path().expect("path").display().to_string(),
                h.uid().expect("uid"),
                h.gid().expect("gid"),
            )
        })
        .collect()
}

/// The host owner of `/bin/busybox` in the store's image layer.
fn layer_owner(store: &std::path::Path) -> u32 {
    std::fs::read_dir(store.join("overlay2"))
        .expect("overlay2")
        .flatten()
        .find_map(|e| std::fs::metadata(e.path().join("diff/bin/busybox")).ok())
        .expect("the busybox layer")
        .uid()
}

/// Once with ID-mapped lower layers (the default where the kernel maps
/// mounts, as this one does), once with chowned layers (the fallback,
/// forced for a new store by `SKIFF_USERNS_IDMAP=0`). One test: both
/// agents share `dockremap`'s entries in `/etc`.
#[test]
fn remapped_root_is_an_unprivileged_host_id() {
    let _ids = HostIds::keep();
    for mapped in [true, false] {
        let mut a = Agent::start_with(&["--userns-remap", "default"]);
        if !mapped {
            a.kill9();
            let start = remap_start();
            let marker = a.data.join(format!("{start}.{start}/overlay2/.idmapped"));
            std::fs::remove_file(&marker).expect("a new store maps its layers at mount");
            a.launch_env(&[("SKIFF_USERNS_IDMAP", "0")]);
        }
        remapped(&a, mapped);
        a.finish();
    }
}

fn remapped(a: &Agent, mapped: bool) {
    a.skiff(&["import", busybox_tar().to_str().expect("path"), "busybox"])
        .ok();
    let start = remap_start();
    let map = format!("0 {start} 65536");
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");

    // `info` says so, and the state lives under data/UID.GID.
    let info = a.skiff(&["info"]).ok().stdout;
    assert!(info.contains("\n  userns\n"), "{info}");
    let root = a.data.join(format!("{start}.{start}"));
    assert_eq!(
        a.skiff(&["info", "--format", "{{.DockerRootDir}}"]).ok().out(),
        root.display().to_string()
    );
    // Image layers keep the image's owners when they are mapped at mount,
    // and hold the range's IDs when chowned.
    let layer_root = if mapped { 0 } else { start };
    assert_eq!(layer_owner(&root), layer_root);

    // The container's processes, its execs among them, are the range's
    // first ID on the host, and root inside.
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "c",
        "-v",
        "vol:/data",
        "busybox",
        "sh",
        "-c",
        "echo hi > /data/f && rm /bin/ls && touch /etc/made && exec sleep 300",
    ])
    .ok();
    let pid = a.inspect("c", "{{.State.Pid}}");
    assert_eq!(host_uid(&pid), start);
    assert_eq!(
        squash(a.skiff(&["exec", "c", "cat", "/proc/self/uid_map"]).ok().out()),
        map
    );
    assert_eq!(a.skiff(&["exec", "c", "id", "-u"]).ok().out(), "0");
    let exec = a.skiff(&["exec", "c", "sh", "-c", "cat /proc/self/status"]).ok().stdout;
    assert!(exec.contains("Uid:\t0\t0\t0\t0"), "{exec}");
    // Wait for the command's writes (the exec above ran after `sh` began).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while a.skiff(&["exec", "c", "test", "-e", "/etc/made"]).code != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never wrote /etc/made"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // What it writes belongs to the range on the host: a volume's file.
    let f = root.join("volumes/vol/_data/f");
    let m = std::fs::metadata(&f).expect("the volume's file");
    assert_eq!((m.uid(), m.gid()), (start, start));

    // A host file owned by the host's root is not its to change.
    let host_dir = a.root.join("hostdir");
    std::fs::create_dir_all(&host_dir).expect("dir");
    std::fs::write(host_dir.join("f"), "host\n").expect("file");
    let bind = format!("{}:/h", host_dir.display());
    let r = a.skiff(&["run", "--rm", "-v", &bind, "busybox", "sh", "-c", "echo x >> /h/f"]);
    assert_ne!(r.code, 0, "root in the container wrote a host root file");
    assert_eq!(std::fs::read_to_string(host_dir.join("f")).expect("file"), "host\n");
    // A bind source the agent makes is the container root's, as Docker's.
    let made = a.root.join("made-by-bind");
    let bind = format!("{}:/m", made.display());
    a.skiff(&["run", "--rm", "-v", &bind, "busybox", "touch", "/m/ok"]).ok();
    assert_eq!(std::fs::metadata(made.join("ok")).expect("written").uid(), start);

    // Archives carry the container's view of owners: cp out, cp in, export.
    let out = a.skiff(&["cp", "c:/etc/passwd", "-"]).ok();
    assert_eq!(owners(out.stdout.as_bytes())[0].1, 0);
    let local = a.root.join("in.txt");
    std::fs::write(&local, "in\n").expect("file");
    a.skiff(&["cp", local.to_str().expect("path"), "c:/in.txt"]).ok();
    assert_eq!(
        a.skiff(&["exec", "c", "stat", "-c", "%u:%g", "/in.txt"]).ok().out(),
        "0:0"
    );
    let exported = a.root.join("c.tar");
    a.skiff(&["export", "-o", exported.to_str().expect("path"), "c"]).ok();
    let listed = owners(&std::fs::read(&exported).expect("export"));
    assert!(listed.iter().any(|(n, u, _)| n == "etc/made" && *u == 0), "{listed:?}");
    assert!(listed.iter().all(|(_, u, g)| *u < 65536 && *g < 65536), "{listed:?}");

    // A commit (with a deletion) is an image whose layer holds the
    // container's owners; it saves, loads back and runs.
    a.skiff(&["commit", "c", "made"]).ok();
    let saved = a.root.join("made.tar");
    a.skiff(&["save", "-o", saved.to_str().expect("path"), "made"]).ok();
    a.skiff(&["rmi", "made"]).ok();
    a.skiff(&["load", "-i", saved.to_str().expect("path")]).ok();
    let r = a.skiff(&[
        "run",
        "--rm",
        "made",
        "sh",
        "-c",
        "stat -c %u /etc/made /in.txt; test -e /bin/ls || echo gone",
    ]);
    assert_eq!(squash(r.ok().out()), "0 0 gone");

    // A build's RUN and COPY layers hold the container's owners and modes
    // (a set-user-ID bit kept through the re-owning).
    let ctx = a.root.join("ctx");
    std::fs::create_dir_all(&ctx).expect("context");
    std::fs::write(ctx.join("x"), "x\n").expect("file");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox AS base\nRUN mkdir /w && chown 1234:5 /w && touch /w/f && chmod 4755 /w/f && ln /w/f /w/g\n\
         COPY --chown=1234:6 x /x\nWORKDIR /made\n\
         FROM base\nRUN --mount=type=bind,from=base,source=/w,target=/m stat -c %u:%g /m /m/f > /seen\n",
    )
    .expect("Dockerfile");
    a.skiff(&["build", "-q", "-t", "built", ctx.to_str().expect("path")])
        .ok();
    let r = a.skiff(&[
        "run", "--rm", "built", "stat", "-c", "%u:%g %a", "/w", "/w/f", "/w/g", "/x", "/made",
    ]);
    assert_eq!(squash(r.ok().out()), "1234:5 755 0:0 4755 0:0 4755 1234:6 644 0:0 755");
    // A stage bind-mounted into a RUN shows its owners as they are.
    let r = a.skiff(&["run", "--rm", "built", "cat", "/seen"]);
    assert_eq!(squash(r.ok().out()), "1234:5 0:0");

    // A container that joins c's network joins its user namespace too;
    // `--userns host` opts out.
    let r = a.skiff(&[
        "run",
        "--rm",
        "--network",
        "container:c",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(squash(r.ok().out()), map);
    let on_host = |cmd: &[&str]| {
        let mut args = vec!["run", "--rm", "--userns", "host", "busybox"];
        args.extend_from_slice(cmd);
        a.skiff(&args).ok().out().to_string()
    };
    assert_eq!(squash(&on_host(&["cat", "/proc/self/uid_map"])), "0 0 4294967295");
    // Its archives show the image's owners either way.
    a.skiff(&[
        "run", "-d", "--name", "h", "--userns", "host", "busybox", "sleep", "300",
    ])
    .ok();
    let out = a.skiff(&["cp", "h:/etc/passwd", "-"]).ok();
    assert_eq!(owners(out.stdout.as_bytes())[0].1, 0);
    a.skiff(&["rm", "-f", "h"]).ok();
    // Mapped layers read as the image's owners to such a container too.
    assert_eq!(on_host(&["stat", "-c", "%u", "/bin/busybox"]), layer_root.to_string());

    // What a user namespace cannot share with the host is refused, as Docker.
    a.skiff(&["run", "--rm", "--network", "host", "busybox", "true"]).fails(
        125,
        "cannot share the host's network namespace when user namespaces are enabled",
    );
    a.skiff(&["run", "--rm", "--privileged", "busybox", "true"])
        .fails(125, "privileged mode is incompatible with user namespaces");
    a.skiff(&["run", "--rm", "--userns", "other", "busybox", "true"])
        .fails(125, "invalid USER mode");

    a.skiff(&["rm", "-f", "c"]).ok();
}
