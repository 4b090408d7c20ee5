//! Importing, listing, tagging and removing images; hostile archives.

use skiff_tests::{busybox_tar, Agent};

#[test]
fn import_list_tag_and_remove_images() {
    let a = Agent::start_bare();
    let tar = busybox_tar();
    let id = a.skiff(&["import", tar.to_str().unwrap(), "bb:1"]).ok();
    assert!(id.out().starts_with("sha256:"));
    a.skiff(&["tag", "bb:1", "localhost:5000/team/bb:v2"]).ok();
    let images = a.skiff(&["images"]).ok();
    let header: Vec<&str> = images
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        "{}",
        images.stdout
    );
    assert!(
        images.stdout.contains("localhost:5000/team/bb   v2"),
        "{}",
        images.stdout
    );
    let layers = a.skiff(&["inspect", "-f", "{{json .RootFS.Layers}}", "bb:1"]).ok();
    assert!(layers.out().starts_with("[\"sha256:"), "{}", layers.stdout);
    // The image is kept as OCI JSON: a manifest naming the config (the
    // image ID) and the layer's tar (its diff ID) with their sizes. (Docker
    // 20.10's inspect shows no descriptor of it; the file is read here.)
    let hex = id.out().trim_start_matches("sha256:").to_string();
    let raw = std::fs::read(a.root.join("data/image/manifests").join(&hex)).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(manifest["config"]["digest"], id.out());
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    assert_eq!(layers.out(), format!("[{}]", layer["digest"]));
    assert_eq!(layer["size"], std::fs::metadata(&tar).unwrap().len(), "the tar's size");
    a.skiff(&["run", "--name", "user", "bb:1", "true"]).ok();
    // The last tag of an image a container uses is kept without -f.
    a.skiff(&["rmi", "localhost:5000/team/bb:v2"]).ok();
    let r = a.skiff(&["rmi", "bb:1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("container"), "{}", r.stderr);
    a.skiff(&["rm", "user"]).ok();
    let r = a.skiff(&["rmi", "bb:1"]).ok();
    assert!(
        r.stdout.contains("Untagged: bb:1") && r.stdout.contains("Deleted: sha256:"),
        "{}",
        r.stdout
    );
    assert_eq!(a.skiff(&["images", "-q"]).out(), "");
    // Nothing of the image stays in the graph driver: its layer, the init
    // layer its containers shared, their short links.
    let entries = |dir: &str| -> Vec<String> {
        std::fs::read_dir(a.root.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(entries("data/overlay2"), ["l"]);
    assert!(entries("data/overlay2/l").is_empty());
    a.finish();
}

#[test]
fn hostile_archives_are_refused_and_nothing_escapes() {
    let a = Agent::start();
    let dir = a.root.join("evil");
    std::fs::create_dir_all(&dir).unwrap();
    // A symlink pointing out of the root, then a file written through it.
    let out = a.root.join("outside");
    std::fs::create_dir_all(&out).unwrap();
    let tar_path = dir.join("evil.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_link_name(&out).unwrap();
    b.append_data(&mut h, "link", std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    b.append_data(&mut h, "link/pwned", &b"owned"[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    let r = a.skiff(&["import", tar_path.to_str().unwrap(), "evil"]);
    assert_ne!(r.code, 0);
    assert!(!out.join("pwned").exists(), "an archive wrote outside its root");
    // What was stored before is intact.
    assert_eq!(a.skiff(&["run", "--rm", "busybox", "echo", "ok"]).ok().out(), "ok");
    assert!(!a.skiff(&["images"]).stdout.contains("evil"));
    a.finish();
}

#[test]
fn export_and_prune() {
    let a = Agent::start();
    a.skiff(&["run", "--name", "maker", "busybox", "sh", "-c", "echo made > /made.txt"])
        .ok();
    let out = a.root.join("export.tar");
    a.skiff(&["export", "-o", out.to_str().unwrap(), "maker"]).ok();
    let mut ar = tar::Archive::new(std::fs::File::open(&out).unwrap());
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.trim_start_matches("./") == "made.txt"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.trim_start_matches("./") == "bin/busybox"));
    a.skiff(&["run", "-d", "--name", "keeper", "busybox", "sleep", "300"])
        .ok();
    let r = a.skiff(&["container", "prune", "-f"]).ok();
    assert!(r.stdout.contains("Deleted Containers:"), "{}", r.stdout);
    let left = a.skiff(&["ps", "-a", "--format", "{{.Names}}"]).ok();
    assert_eq!(left.out(), "keeper");
    a.finish();
}

#[test]
fn vfs_storage_driver_runs_containers() {
    let a = Agent::start_with(&["--storage-driver", "vfs"]);
    a.skiff(&["import", busybox_tar().to_str().unwrap(), "busybox"]).ok();
    let info = a.skiff(&["info"]).ok();
    assert!(info.stdout.contains("Storage Driver: vfs"), "{}", info.stdout);
    a.skiff(&[
        "run",
        "--name",
        "w",
        "busybox",
        "sh",
        "-c",
        "echo data > /file; rm -f /bin/ls",
    ])
    .ok();
    assert_eq!(a.inspect("w", "{{.GraphDriver.Name}}"), "vfs");
    // Each container's layer is its own copy: the image is untouched.
    assert_eq!(
        a.skiff(&["run", "--rm", "busybox", "ls", "/bin/ls"]).ok().out(),
        "/bin/ls"
    );
    a.skiff(&["start", "-a", "w"]).ok();
    // diff and commit compare the container's copy with the image's.
    let d = a.skiff(&["diff", "w"]).ok().stdout;
    assert!(
        d.lines().any(|l| l == "A /file") && d.lines().any(|l| l == "D /bin/ls"),
        "{d}"
    );
    a.skiff(&["commit", "w", "w:img"]).ok();
    assert_eq!(a.skiff(&["run", "--rm", "w:img", "cat", "/file"]).ok().out(), "data");
    assert_eq!(a.skiff(&["run", "--rm", "w:img", "test", "-e", "/bin/ls"]).code, 1);
    a.finish();
}
