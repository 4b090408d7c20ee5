//! Hostile layers (issue 17): every way an untrusted archive enters the
//! agent — `load` (a docker-save archive whose top layer is hostile),
//! `import`, `cp` into a running container (`PUT /containers/{id}/archive`)
//! and a build context on stdin (with COPY through symlinks and ADD of a
//! hostile archive) — fed `..` names, absolute names, symlink and hard
//! link escapes, device nodes, sizes the data does not back, long names,
//! a deep tree and odd whiteouts (`skiff_tests::hostile`). Each command
//! fails with a clear error or succeeds harmlessly; nothing is written on
//! the host outside the agent's root (a canary directory the entries aim
//! at, `/etc/passwd`, and a search of the root filesystem for the
//! entries' marker); the agent keeps working and earlier images stay.

use sha2::{Digest, Sha256};
use skiff_tests::hostile::{cases, tar_of, Canary, Kind};
use skiff_tests::{busybox_tar, Agent, Run};

/// Cases every entry path must refuse (a name that climbs out).
const REFUSED: [&str; 4] = ["dotdot", "dotdot-inner", "hardlink-up", "huge-sparse"];

/// One line of the outcome table: `ok` or the error's first line.
fn outcome(path: &str, case: &str, r: &Run) -> String {
    let what = if r.code == 0 {
        "ok".to_string()
    } else {
        format!("refused: {}", r.stderr.lines().next().unwrap_or("").trim())
    };
    format!("{path:6} {case:28} {what}")
}

/// The agent still works: the image given is intact and runs.
fn still_works(a: &Agent, image: &str, id: &str) {
    assert_eq!(a.inspect(image, "{{.Id}}"), id, "{image} changed");
    let r = a.skiff(&["run", "--rm", image, "echo", "alive"]).ok();
    assert_eq!(r.out(), "alive");
    assert!(a.skiff(&["images"]).ok().stdout.contains("busybox"));
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A docker-save archive of one image: busybox's root filesystem as the
/// first layer, `top` over it.
fn save_archive(tag: &str, top: &[u8]) -> Vec<u8> {
    let base = std::fs::read(busybox_tar()).expect("busybox");
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&base), sha(top)]}}))
    .expect("config");
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": "config.json", "RepoTags": [tag], "Layers": ["base/layer.tar", "top/layer.tar"]}]))
    .expect("manifest");
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("base/layer.tar", &base[..]),
        ("top/layer.tar", top),
        ("config.json", &config),
        ("manifest.json", &manifest),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).expect("append");
    }
    b.into_inner().expect("archive")
}

/// After a case made an image: a container of it runs or fails cleanly,
/// and the image is removed again (its odd tree with it).
fn use_and_remove(a: &Agent, image: &str, table: &mut Vec<String>) {
    let r = a.skiff(&["run", "--rm", image, "ls", "/"]);
    table.push(outcome("  run", image, &r));
    let r = a.skiff(&["rmi", "-f", image]);
    assert_eq!(r.code, 0, "rmi {image}: {r:?}");
}

#[test]
fn hostile_layers_through_load_and_import() {
    let a = Agent::start();
    let busybox = a.inspect("busybox", "{{.Id}}");
    let canary = Canary::new("load");
    let mut table = Vec::new();
    for (case, entries) in cases(&canary) {
        let layer = tar_of(&entries);
        let tag = format!("load-{case}:1");
        let file = a.root.join("hostile.tar");
        std::fs::write(&file, save_archive(&tag, &layer)).expect("write");
        let r = a.skiff(&["load", "-i", file.to_str().unwrap()]);
        table.push(outcome("load", case, &r));
        canary.check(&format!("load {case}"), &a.root, false);
        if r.code == 0 {
            use_and_remove(&a, &tag, &mut table);
        }
        let r = a.skiff_stdin(&["import", "-", &format!("import-{case}")], &layer);
        table.push(outcome("import", case, &r));
        canary.check(&format!("import {case}"), &a.root, false);
        if REFUSED.contains(&case) {
            assert_ne!(r.code, 0, "import {case} was taken");
        }
        if r.code == 0 {
            use_and_remove(&a, &format!("import-{case}"), &mut table);
        }
    }
    println!("{}", table.join("\n"));
    for case in REFUSED {
        let line = table
            .iter()
            .find(|l| l.starts_with(&format!("load   {case} ")))
            .unwrap();
        assert!(line.contains("refused"), "{line}");
    }
    still_works(&a, "busybox", &busybox);
    canary.check("load and import", &a.root, true);
    a.finish();
}

#[test]
fn hostile_archives_through_cp_into_a_container() {
    let a = Agent::start();
    let busybox = a.inspect("busybox", "{{.Id}}");
    let canary = Canary::new("cp");
    a.skiff(&["run", "-d", "--name", "c", "busybox", "sleep", "1000"]).ok();
    a.skiff(&["exec", "c", "mkdir", "/dst"]).ok();
    // Links the container planted, aimed at the host's canary.
    let dir = canary.dir.display().to_string();
    a.skiff(&["exec", "c", "ln", "-s", &dir, "/dst/planted"]).ok();
    a.skiff(&["exec", "c", "ln", "-s", "../../../../../../..", "/dst/planted-up"])
        .ok();
    let mut all = cases(&canary);
    let m = canary.marker.clone();
    let file = |n: String| (n, Kind::File(b"x".to_vec()));
    all.push((
        "planted-links",
        vec![
            file(format!("planted/p-{m}")),
            file(format!("planted-up/{}/q-{m}", &dir[1..])),
        ],
    ));
    let mut table = Vec::new();
    for (case, entries) in all {
        let r = a.skiff_stdin(&["cp", "-", "c:/dst"], tar_of(&entries));
        table.push(outcome("cp", case, &r));
        canary.check(&format!("cp {case}"), &a.root, false);
        if REFUSED.contains(&case) {
            assert_ne!(r.code, 0, "cp {case} was taken: {r:?}");
        }
    }
    println!("{}", table.join("\n"));
    // The links were followed inside the container's root only.
    let r = a.skiff(&["exec", "c", "ls", &dir]).ok();
    assert!(r.stdout.contains(&format!("p-{m}")), "{r:?}");
    assert_eq!(a.skiff(&["exec", "c", "echo", "alive"]).ok().out(), "alive");
    still_works(&a, "busybox", &busybox);
    canary.check("cp", &a.root, true);
    a.finish();
}

/// Build from `context` (a tar, on stdin); the outcome line.
fn build(a: &Agent, tag: &str, context: &[(String, Kind)], table: &mut Vec<String>) -> Run {
    let r = a.skiff_stdin(&["build", "-q", "-t", tag, "-"], tar_of(context));
    table.push(outcome("build", tag, &r));
    r
}

fn dockerfile(text: &str) -> (String, Kind) {
    ("Dockerfile".into(), Kind::File(text.as_bytes().to_vec()))
}

#[test]
fn hostile_build_contexts() {
    let a = Agent::start();
    let busybox = a.inspect("busybox", "{{.Id}}");
    let canary = Canary::new("build");
    let mut table = Vec::new();
    for (case, entries) in cases(&canary) {
        let mut ctx = vec![dockerfile("FROM busybox\nCOPY . /ctx/\n")];
        ctx.extend(entries);
        let r = build(&a, case, &ctx, &mut table);
        canary.check(&format!("build {case}"), &a.root, false);
        if REFUSED.contains(&case) {
            assert_ne!(r.code, 0, "build {case} was taken: {r:?}");
        }
        if r.code == 0 {
            use_and_remove(&a, case, &mut table);
        }
    }
    // COPY through links of the context that lead out of it: resolved
    // inside the context, never to the host's files.
    let m = canary.marker.clone();
    let host_passwd = std::fs::read_to_string("/etc/passwd").expect("passwd");
    let links = [
        (format!("etc-{m}"), Kind::Symlink("/etc".into())),
        (format!("pw-{m}"), Kind::Symlink("/etc/passwd".into())),
        (format!("up-{m}"), Kind::Symlink("../../../../../../..".into())),
    ];
    for (i, src) in [
        format!("pw-{m}"),
        format!("etc-{m}/passwd"),
        format!("up-{m}/etc/passwd"),
    ]
    .iter()
    .enumerate()
    {
        let mut ctx = vec![dockerfile(&format!("FROM busybox\nCOPY {src} /x\n"))];
        ctx.extend(links.iter().cloned());
        let tag = format!("copy-link-{i}");
        if build(&a, &tag, &ctx, &mut table).code == 0 {
            let r = a.skiff(&["run", "--rm", &tag, "cat", "/x"]);
            assert_ne!(r.stdout, host_passwd, "COPY {src} copied the host's /etc/passwd");
            a.skiff(&["rmi", &tag]).ok();
        }
        canary.check(&format!("COPY {src}"), &a.root, false);
    }
    // ADD of a hostile archive from the context: unpacked inside the image.
    for (case, entries) in cases(&canary).into_iter().filter(|(c, _)| c.contains("symlink")) {
        let ctx = vec![
            dockerfile("FROM busybox\nADD evil.tar /dst/\n"),
            ("evil.tar".into(), Kind::File(tar_of(&entries))),
        ];
        let tag = format!("add-{case}");
        if build(&a, &tag, &ctx, &mut table).code == 0 {
            a.skiff(&["rmi", &tag]).ok();
        }
        canary.check(&format!("ADD {case}"), &a.root, false);
    }
    println!("{}", table.join("\n"));
    still_works(&a, "busybox", &busybox);
    canary.check("build", &a.root, true);
    a.finish();
}
