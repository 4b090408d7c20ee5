//! `save` and `load`: archives that move images between agents (and that
//! the stock docker client reads and writes), layers put back together
//! byte for byte, and hostile archives refused.

use std::process::Command;

use sha2::{Digest, Sha256};
use skiff_tests::registry::{tar_of, Blob, Registry};
use skiff_tests::{busybox_tar, Agent};

fn sh(cmd: &str) -> skiff_tests::Run {
    Command::new("sh").arg("-c").arg(cmd).output().expect("sh").into()
}

/// The entries of a tar file and their sha256 digests.
fn entries(path: &std::path::Path) -> Vec<(String, String)> {
    let mut ar = tar::Archive::new(std::fs::File::open(path).expect("archive"));
    let mut out = Vec::new();
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("read");
        out.push((name, format!("sha256:{}", hex::encode(Sha256::digest(&data)))));
    }
    out
}

#[test]
fn save_and_load_move_images_between_agents() {
    let a = Agent::start();
    let b = Agent::start_bare();
    let file = a.root.join("busybox.tar");
    a.skiff(&["save", "-o", file.to_str().unwrap(), "busybox"]).ok();
    let id = a.inspect("busybox", "{{.Id}}");
    let layer = a.inspect("busybox", "{{index .RootFS.Layers 0}}");
    let names = entries(&file);
    for want in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.iter().any(|(n, _)| n == want), "{want} missing: {names:?}");
    }
    let blob = format!("blobs/sha256/{}", layer.trim_start_matches("sha256:"));
    let (_, digest) = names.iter().find(|(n, _)| *n == blob).expect("layer blob");
    assert_eq!(*digest, layer, "the saved layer is not the layer's own tar");

    let r = b.skiff(&["load", "-i", file.to_str().unwrap()]).ok();
    assert_eq!(r.stdout, "Loaded image: busybox:latest\n");
    assert_eq!(b.inspect("busybox", "{{.Id}}"), id);
    assert_eq!(b.skiff(&["run", "--rm", "busybox", "echo", "hi"]).ok().stdout, "hi\n");

    // Through pipes, and by ID (no tag in the archive).
    b.skiff(&["rmi", "busybox"]).ok();
    let r = sh(&format!(
        "{} save {} | {} load",
        a.skiff_cmdline(),
        &id[7..19],
        b.skiff_cmdline()
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("Loaded image ID: {id}\n"));

    // The stock docker client, both ways.
    let f2 = a.root.join("docker-save.tar");
    let d = a.docker(&["save", "-o", f2.to_str().unwrap(), "busybox"]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    b.skiff(&["rmi", &id]).ok();
    let d = b.docker(&["load", "-i", f2.to_str().unwrap()]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert!(d.stdout.contains("Loaded image: busybox:latest"), "{}", d.stdout);
    a.finish();
    b.finish();
}

#[test]
fn pulled_images_save_and_load_with_their_layers_byte_for_byte() {
    let a = Agent::start_bare();
    let reg = Registry::start(&a);
    let base = Blob::gzip(&std::fs::read(busybox_tar()).expect("busybox"));
    let hello = Blob::gzip(&tar_of(&[("hello.txt", "pulled\n"), ("etc/motd", "hi\n")]));
    reg.push("app", "v1", &[&base, &hello], "amd64");
    a.skiff(&["pull", "-q", "127.0.0.1:5000/app:v1"]).ok();
    let file = a.root.join("app.tar");
    a.skiff(&["save", "-o", file.to_str().unwrap(), "127.0.0.1:5000/app:v1"])
        .ok();
    let names = entries(&file);
    for diff in [&base.diff_id, &hello.diff_id] {
        let blob = format!("blobs/sha256/{}", diff.trim_start_matches("sha256:"));
        assert!(names.iter().any(|(n, d)| *n == blob && d == diff), "{blob}: {names:?}");
    }
    drop(reg);
    let b = Agent::start_bare();
    let r = b.skiff(&["load", "-i", file.to_str().unwrap()]).ok();
    assert_eq!(r.stdout, "Loaded image: 127.0.0.1:5000/app:v1\n");
    let out = b
        .skiff(&["run", "--rm", "127.0.0.1:5000/app:v1", "cat", "/hello.txt"])
        .ok();
    assert_eq!(out.stdout, "pulled\n");
    a.finish();
    b.finish();
}

/// An archive with `manifest.json` and the given files.
fn archive(path: &std::path::Path, manifest: &serde_json::Value, files: &[(&str, Vec<u8>)]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("archive"));
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).expect("append");
    };
    for (n, d) in files {
        add(n, d);
    }
    add("manifest.json", &serde_json::to_vec(manifest).expect("json"));
    b.finish().expect("finish");
}

#[test]
fn hostile_archives_are_refused_and_change_nothing() {
    let a = Agent::start_bare();
    let dir = a.root.join("hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let config = |diff: &str| {
        serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
            "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff]}}))
        .unwrap()
    };
    // A layer path that leaves the archive.
    let f = dir.join("escape.tar");
    archive(
        &f,
        &serde_json::json!([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["../../../etc/passwd"]}]),
        &[("c.json", config("sha256:00"))],
    );
    let r = a.skiff(&["load", "-i", f.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("the archive has no file \"../../../etc/passwd\""),
        "{}",
        r.stderr
    );
    // A layer whose entries climb out of the root.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "x", &b"owned"[..]).unwrap();
    let mut evil = b.into_inner().unwrap();
    // Rename the entry to ../../evil in place (the builder refuses to).
    evil[..10].copy_from_slice(b"../../evil");
    let mut hdr = tar::Header::from_byte_slice(&evil[..512]).clone();
    hdr.set_cksum();
    evil[..512].copy_from_slice(hdr.as_bytes());
    let diff = format!("sha256:{}", hex::encode(Sha256::digest(&evil)));
    let f = dir.join("climb.tar");
    archive(
        &f,
        &serde_json::json!([{"Config": "c.json", "RepoTags": ["x:2"], "Layers": ["l.tar"]}]),
        &[("c.json", config(&diff)), ("l.tar", evil)],
    );
    let r = a.skiff(&["load", "-i", f.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unsafe path"), "{}", r.stderr);
    // A layer that is not what the config says.
    let f = dir.join("mismatch.tar");
    archive(
        &f,
        &serde_json::json!([{"Config": "c.json", "RepoTags": ["x:3"], "Layers": ["l.tar"]}]),
        &[
            (
                "c.json",
                config("sha256:1111111111111111111111111111111111111111111111111111111111111111"),
            ),
            ("l.tar", tar_of(&[("f", "x")])),
        ],
    );
    let r = a.skiff(&["load", "-i", f.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("does not match the diff ID"), "{}", r.stderr);
    // Not an archive at all.
    std::fs::write(dir.join("junk"), b"not a tar").unwrap();
    assert_eq!(a.skiff(&["load", "-i", dir.join("junk").to_str().unwrap()]).code, 1);

    assert_eq!(a.skiff(&["images", "-q"]).ok().stdout, "");
    let layers = std::fs::read_dir(a.root.join("data/layers"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(layers, 0, "a layer was kept");
    assert!(!a.root.join("evil").exists() && !a.root.join("data/evil").exists());
    a.finish();
}

#[test]
fn compressed_archives_load_as_dockers() {
    let a = Agent::start();
    let id = a.inspect("busybox", "{{.Id}}");
    let file = a.root.join("busybox.tar");
    a.skiff(&["save", "-o", file.to_str().unwrap(), "busybox"]).ok();
    let plain = std::fs::read(&file).expect("archive");
    let gz = a.root.join("busybox.tar.gz");
    let r = sh(&format!("gzip -c {} > {}", file.display(), gz.display()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let zst = a.root.join("busybox.tar.zst");
    std::fs::write(&zst, zstd::encode_all(&plain[..], 3).expect("zstd")).expect("write");
    for f in [&gz, &zst] {
        a.skiff(&["rmi", "busybox"]).ok();
        let r = a.skiff(&["load", "-i", f.to_str().unwrap()]).ok();
        assert_eq!(r.stdout, "Loaded image: busybox:latest\n");
        assert_eq!(a.inspect("busybox", "{{.Id}}"), id);
    }
    // Nothing of the decompressed copies is left behind.
    let tmp: Vec<_> = std::fs::read_dir(a.root.join("data/tmp"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "{tmp:?}");
    a.finish();
}
