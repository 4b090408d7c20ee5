//! `skiff cp` and `/containers/{id}/archive`: files out of and into
//! running and stopped containers with Docker's rules for where they land,
//! tar streams on stdin/stdout, `-L` and `-a`, volumes, read-only roots,
//! hostile archives and container-made symlinks that must not lead out,
//! and the stock `docker cp` against the agent.

use std::path::{Path, PathBuf};

use skiff_tests::{Agent, Run};

fn local(a: &Agent, name: &str) -> PathBuf {
    let p = a.root.join("local").join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `curl` on the agent's socket: status line, headers and body.
fn curl(a: &Agent, args: &[&str]) -> Run {
    std::process::Command::new("curl")
        .args(["-s", "-i", "--unix-socket", s(&a.sock())])
        .args(args)
        .output()
        .unwrap()
        .into()
}

fn tar_names(data: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(data);
    ar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

const SETUP: &str = "mkdir -p /data/sub && echo hi > /data/a && echo deep > /data/sub/b && ln -s /etc/shadow /data/evil && ln -s a /data/lnk";

#[test]
fn copies_out_of_a_running_container_by_dockers_rules() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "c",
        "busybox",
        "sh",
        "-c",
        &format!("{SETUP}; exec sleep 1000"),
    ])
    .ok();
    a.eventually("setup", || a.skiff(&["exec", "c", "test", "-L", "/data/lnk"]).code == 0);
    // A file to a new name, and into an existing directory.
    let out = local(&a, "out");
    a.skiff(&["cp", "c:/data/a", s(&out)]).ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hi\n");
    let dir = local(&a, "dir");
    std::fs::create_dir_all(&dir).unwrap();
    a.skiff(&["cp", "c:/data", s(&dir)]).ok();
    assert_eq!(std::fs::read_to_string(dir.join("data/sub/b")).unwrap(), "deep\n");
    // Links are copied as links, never followed.
    assert_eq!(
        std::fs::read_link(dir.join("data/evil")).unwrap(),
        Path::new("/etc/shadow")
    );
    // `dir/.` copies the content; a missing destination takes the name.
    let content = local(&a, "content");
    a.skiff(&["cp", "c:/data/.", s(&content)]).ok();
    assert!(content.join("a").exists() && content.join("sub/b").exists());
    let renamed = local(&a, "renamed");
    a.skiff(&["cp", "c:/data/sub", s(&renamed)]).ok();
    assert_eq!(std::fs::read_to_string(renamed.join("b")).unwrap(), "deep\n");
    // -L follows the link itself and keeps its name.
    let lnk = local(&a, "lnkdir");
    std::fs::create_dir_all(&lnk).unwrap();
    a.skiff(&["cp", "-L", "c:/data/lnk", s(&lnk)]).ok();
    assert_eq!(std::fs::read_to_string(lnk.join("lnk")).unwrap(), "hi\n");
    assert!(!std::fs::symlink_metadata(lnk.join("lnk"))
        .unwrap()
        .file_type()
        .is_symlink());
    // `-` writes the tar stream.
    let r = std::process::Command::new(skiff_tests::bin_dir().join("skiff"))
        .args(["-H", &a.host(), "cp", "c:/data/sub", "-"])
        .output()
        .unwrap();
    assert_eq!(tar_names(&r.stdout), ["sub/", "sub/b"]);
    // Errors as Docker's client words them.
    let r = a.skiff(&["cp", "c:/nope", s(&out)]);
    assert_eq!((r.code, r.stderr.trim()), (1, "Error: No such container:path: c:/nope"));
    let r = a.skiff(&["cp", s(&out), s(&dir)]);
    assert_eq!(
        (r.code, r.stderr.trim()),
        (1, "must specify at least one container source")
    );
    let r = a.skiff(&["cp", "c:/data", s(&out)]);
    assert_eq!((r.code, r.stderr.trim()), (1, "cannot copy directory"));
    // The API's stat header: base64 JSON with Go's mode bits.
    let r = curl(&a, &["-I", "http://x/v1.41/containers/c/archive?path=/data/lnk"]);
    let header = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("x-docker-container-path-stat: "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    let out = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    out.stdin.as_ref().unwrap().write_all(header.trim().as_bytes()).unwrap();
    let stat: serde_json::Value = serde_json::from_slice(&out.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(
        (stat["name"].as_str(), stat["linkTarget"].as_str()),
        (Some("lnk"), Some("/data/a"))
    );
    assert_eq!(stat["mode"].as_u64().unwrap() & (1 << 27), 1 << 27);
    a.finish();
}

#[test]
fn copies_into_running_and_stopped_containers_and_volumes() {
    let a = Agent::start();
    a.skiff(&[
        "run", "-d", "--name", "c", "-v", "vol:/vol", "-u", "daemon", "busybox", "sleep", "1000",
    ])
    .ok();
    let file = local(&a, "f.txt");
    std::fs::write(&file, "payload\n").unwrap();
    let tree = local(&a, "tree");
    std::fs::create_dir_all(tree.join("inner")).unwrap();
    std::fs::write(tree.join("inner/x"), "x\n").unwrap();
    let cat = |path: &str| a.skiff(&["exec", "c", "cat", path]).ok().stdout;
    a.skiff(&["cp", s(&file), "c:/tmp/"]).ok();
    assert_eq!(cat("/tmp/f.txt"), "payload\n");
    a.skiff(&["cp", s(&file), "c:/tmp/renamed"]).ok();
    assert_eq!(cat("/tmp/renamed"), "payload\n");
    a.skiff(&["cp", s(&tree), "c:/newdir"]).ok();
    assert_eq!(cat("/newdir/inner/x"), "x\n");
    // Into a volume: the volume's own directory has it.
    a.skiff(&["cp", s(&file), "c:/vol/"]).ok();
    let vol = a.root.join("data/volumes/vol/_data/f.txt");
    assert_eq!(std::fs::read_to_string(vol).unwrap(), "payload\n");
    // -a: the container user's owner (daemon is 1:1 in busybox).
    a.skiff(&["cp", "-a", s(&file), "c:/tmp/owned"]).ok();
    assert_eq!(
        a.skiff(&["exec", "c", "stat", "-c", "%u:%g", "/tmp/owned"]).ok().out(),
        "1:1"
    );
    // A tar stream on stdin.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    b.append_data(&mut h, "streamed", &b"stream"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let r = std::process::Command::new(skiff_tests::bin_dir().join("skiff"))
        .args(["-H", &a.host(), "cp", "-", "c:/tmp"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            use std::io::Write;
            ch.stdin.take().unwrap().write_all(&tar)?;
            ch.wait()
        })
        .unwrap();
    assert!(r.success());
    assert_eq!(cat("/tmp/streamed"), "stream");
    let r = a.skiff(&["cp", s(&file), "c:/nope/deeper"]);
    assert_eq!((r.code, r.stderr.trim()), (1, "Error: No such container:path: c:/nope"));
    let r = a.skiff(&["cp", s(&file), "c:/nope/deeper/"]);
    assert_eq!((r.code, r.stderr.trim()), (1, "no such directory"));
    // Stopped: into its root filesystem, and out again after it ran.
    a.skiff(&["create", "--name", "s", "busybox", "cat", "/etc/motd"]).ok();
    let motd = local(&a, "motd");
    std::fs::write(&motd, "hello from cp\n").unwrap();
    a.skiff(&["cp", s(&motd), "s:/etc/motd"]).ok();
    assert_eq!(a.skiff(&["start", "-a", "s"]).ok().stdout, "hello from cp\n");
    let back = local(&a, "back");
    a.skiff(&["cp", "s:/etc/motd", s(&back)]).ok();
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "hello from cp\n");
    // A read-only root filesystem takes nothing (its volumes do).
    a.skiff(&[
        "create",
        "--name",
        "ro",
        "--read-only",
        "-v",
        "rovol:/v",
        "busybox",
        "true",
    ])
    .ok();
    let r = a.skiff(&["cp", s(&file), "ro:/tmp"]);
    assert_eq!(
        (r.code, r.stderr.trim()),
        (1, "Error response from daemon: container rootfs is marked read-only")
    );
    a.skiff(&["cp", s(&file), "ro:/v"]).ok();
    let ev = a.past_events(&["event=extract-to-dir"], "{{.Actor.Attributes.name}}");
    assert!(ev.stdout.lines().any(|l| l == "ro"), "{}", ev.stdout);
    a.finish();
}

#[test]
fn hostile_archives_and_links_stay_inside_the_container() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "c",
        "busybox",
        "sh",
        "-c",
        "ln -s / /up && ln -s ../../../../ /dots && exec sleep 1000",
    ])
    .ok();
    a.eventually("links", || a.skiff(&["exec", "c", "test", "-L", "/dots"]).code == 0);
    let marker = format!("skiff-cp-escape-{}", std::process::id());
    let file = local(&a, &marker);
    std::fs::write(&file, "x").unwrap();
    // Through container-made links that point at / and far above it.
    a.skiff(&["cp", s(&file), "c:/up/"]).ok();
    a.skiff(&["cp", s(&file), "c:/dots/tmp/"]).ok();
    assert!(!Path::new("/").join(&marker).exists() && !Path::new("/tmp").join(&marker).exists());
    assert_eq!(a.skiff(&["exec", "c", "cat", &format!("/{marker}")]).ok().stdout, "x");
    assert_eq!(
        a.skiff(&["exec", "c", "cat", &format!("/tmp/{marker}")]).ok().stdout,
        "x"
    );
    // An archive with `..`, and one that plants a link and writes through it.
    let raw = |entries: &[(&str, tar::EntryType, Option<&str>)]| {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(if *kind == tar::EntryType::Regular { 1 } else { 0 });
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            let data: &[u8] = if *kind == tar::EntryType::Regular { b"x" } else { b"" };
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    };
    let evil = local(&a, "evil.tar");
    std::fs::write(
        &evil,
        raw(&[(&format!("../../{marker}2"), tar::EntryType::Regular, None)]),
    )
    .unwrap();
    let r = curl(
        &a,
        &[
            "-X",
            "PUT",
            "--data-binary",
            &format!("@{}", s(&evil)),
            "http://x/v1.41/containers/c/archive?path=/tmp",
        ],
    );
    assert!(r.stdout.starts_with("HTTP/1.1 400"), "{}", r.stdout);
    std::fs::write(
        &evil,
        raw(&[
            ("hop", tar::EntryType::Symlink, Some("/")),
            (&format!("hop/{marker}3"), tar::EntryType::Regular, None),
        ]),
    )
    .unwrap();
    let r = curl(
        &a,
        &[
            "-X",
            "PUT",
            "--data-binary",
            &format!("@{}", s(&evil)),
            "http://x/v1.41/containers/c/archive?path=/tmp",
        ],
    );
    assert!(r.stdout.starts_with("HTTP/1.1 200"), "{}", r.stdout);
    assert!(!Path::new("/").join(format!("{marker}3")).exists());
    assert_eq!(a.skiff(&["exec", "c", "cat", &format!("/{marker}3")]).ok().stdout, "x");
    // Reading through a link to / reads the container's root, not ours.
    let out = local(&a, "hostname");
    a.skiff(&["cp", "c:/up/etc/hostname", s(&out)]).ok();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim(),
        a.inspect("c", "{{.Config.Hostname}}")
    );
    a.finish();
}

#[test]
fn the_docker_client_copies_both_ways() {
    let a = Agent::start();
    a.docker(&[
        "run",
        "-d",
        "--name",
        "d",
        "busybox",
        "sh",
        "-c",
        &format!("{SETUP}; exec sleep 1000"),
    ])
    .ok();
    a.eventually("setup", || a.skiff(&["exec", "d", "test", "-L", "/data/lnk"]).code == 0);
    let dir = local(&a, "dk");
    std::fs::create_dir_all(&dir).unwrap();
    a.docker(&["cp", "d:/data", s(&dir)]).ok();
    assert_eq!(std::fs::read_to_string(dir.join("data/sub/b")).unwrap(), "deep\n");
    assert_eq!(
        std::fs::read_link(dir.join("data/evil")).unwrap(),
        Path::new("/etc/shadow")
    );
    a.docker(&["cp", "-L", "d:/data/lnk", s(&dir.join("followed"))]).ok();
    assert_eq!(std::fs::read_to_string(dir.join("followed")).unwrap(), "hi\n");
    std::fs::write(dir.join("up.txt"), "up\n").unwrap();
    a.docker(&["cp", s(&dir.join("up.txt")), "d:/tmp/"]).ok();
    a.docker(&["cp", s(&dir.join("data")), "d:/copied"]).ok();
    assert_eq!(
        a.skiff(&["exec", "d", "cat", "/tmp/up.txt", "/copied/sub/b"])
            .ok()
            .stdout,
        "up\ndeep\n"
    );
    let r = a.docker(&["cp", "d:/nope", s(&dir)]);
    assert_eq!((r.code, r.stderr.trim()), (1, "Error: No such container:path: d:/nope"));
    a.finish();
}
