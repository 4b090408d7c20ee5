//! Pushing to a real registry (Debian's docker-registry in the agent's
//! network namespace), and pulling back what was pushed.

use skiff_tests::registry::{tar_of, Blob, Registry};
use skiff_tests::{busybox_tar, Agent};

#[test]
fn push_uploads_once_and_pull_brings_back_the_same_image() {
    let a = Agent::start();
    let reg = Registry::start(&a);
    let id = a.inspect("busybox", "{{.Id}}");
    let layer = a.inspect("busybox", "{{index .RootFS.Layers 0}}");
    let short = &layer[7..19];
    a.skiff(&["tag", "busybox", "127.0.0.1:5000/team/box:v1"]).ok();
    let r = a.skiff(&["push", "127.0.0.1:5000/team/box:v1"]).ok();
    assert!(
        r.stdout
            .starts_with("The push refers to repository [127.0.0.1:5000/team/box]\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("{short}: Pushed")), "{}", r.stdout);
    let last = r.stdout.lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("v1: digest: sha256:") && last.contains(" size: "),
        "{}",
        r.stdout
    );
    let digest = last.split_whitespace().nth(2).unwrap_or_default().to_string();
    let (code, _) = reg.curl(&["-sf", "http://127.0.0.1:5000/v2/team/box/manifests/v1"]);
    assert_eq!(code, 0, "the registry has no manifest");

    // Again: nothing to upload; another repository mounts the blob.
    let r = a.skiff(&["push", "127.0.0.1:5000/team/box:v1"]).ok();
    assert!(
        r.stdout.contains(&format!("{short}: Layer already exists")),
        "{}",
        r.stdout
    );
    a.skiff(&["tag", "busybox", "127.0.0.1:5000/other/box"]).ok();
    let r = a.skiff(&["push", "127.0.0.1:5000/other/box"]).ok();
    assert!(r.stdout.starts_with("Using default tag: latest\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("{short}: Mounted from team/box")),
        "{}",
        r.stdout
    );

    // Gone here, then pulled back: the same image, and it runs.
    a.skiff(&[
        "rmi",
        "busybox",
        "127.0.0.1:5000/team/box:v1",
        "127.0.0.1:5000/other/box",
    ])
    .ok();
    assert_eq!(a.skiff(&["images", "-q"]).ok().stdout, "");
    let r = a.skiff(&["pull", "127.0.0.1:5000/team/box:v1"]).ok();
    assert!(r.stdout.contains(&format!("Digest: {digest}")), "{}", r.stdout);
    assert_eq!(a.inspect("127.0.0.1:5000/team/box:v1", "{{.Id}}"), id);
    let out = a
        .skiff(&["run", "--rm", "127.0.0.1:5000/team/box:v1", "echo", "back"])
        .ok();
    assert_eq!(out.stdout, "back\n");

    a.skiff(&["push", "127.0.0.1:5000/nosuch:v1"])
        .fails(1, "An image does not exist locally with the tag: 127.0.0.1:5000/nosuch");
    drop(reg);
    a.finish();
}

#[test]
fn pulled_layers_are_mounted_not_uploaded_and_docker_push_works() {
    let a = Agent::start_bare();
    let reg = Registry::start(&a);
    let base = Blob::gzip(&std::fs::read(busybox_tar()).expect("busybox"));
    let top = Blob::plain(&tar_of(&[("app.txt", "app\n")]));
    reg.push("app", "v1", &[&base, &top], "amd64");
    a.skiff(&["pull", "-q", "127.0.0.1:5000/app:v1"]).ok();
    a.skiff(&["tag", "127.0.0.1:5000/app:v1", "127.0.0.1:5000/copy:v1"])
        .ok();
    let r = a.skiff(&["push", "127.0.0.1:5000/copy:v1"]).ok();
    assert_eq!(r.stdout.matches("Mounted from app").count(), 2, "{}", r.stdout);

    a.skiff(&["tag", "127.0.0.1:5000/app:v1", "127.0.0.1:5000/bydocker:v1"])
        .ok();
    let d = a.docker(&["push", "127.0.0.1:5000/bydocker:v1"]);
    assert_eq!(d.code, 0, "{}{}", d.stdout, d.stderr);
    assert!(d.stdout.contains("v1: digest: sha256:"), "{}", d.stdout);
    drop(reg);
    a.finish();
}

#[test]
fn push_all_tags_sends_every_local_tag_of_the_repository() {
    let a = Agent::start();
    let reg = Registry::start(&a);
    a.skiff(&["tag", "busybox", "127.0.0.1:5000/multi:a"]).ok();
    a.skiff(&["tag", "busybox", "127.0.0.1:5000/multi:b"]).ok();
    a.skiff(&["tag", "busybox", "127.0.0.1:5000/elsewhere:c"]).ok();

    let r = a.skiff(&["push", "--all-tags", "127.0.0.1:5000/multi"]).ok();
    assert!(!r.stdout.contains("Using default tag"), "{}", r.stdout);
    assert_eq!(
        r.stdout.matches("The push refers to repository").count(),
        1,
        "{}",
        r.stdout
    );
    let a_at = r.stdout.find("\na: digest: sha256:").expect(&r.stdout);
    let b_at = r.stdout.find("\nb: digest: sha256:").expect(&r.stdout);
    assert!(a_at < b_at, "{}", r.stdout);
    assert!(r.stdout.contains(": Layer already exists"), "{}", r.stdout);
    let (_, tags) = reg.curl(&["-s", "http://127.0.0.1:5000/v2/multi/tags/list"]);
    let tags: serde_json::Value = serde_json::from_str(&tags).expect(&tags);
    let mut tags: Vec<&str> = tags["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    tags.sort();
    assert_eq!(tags, ["a", "b"]);

    let q = a.skiff(&["push", "-a", "-q", "127.0.0.1:5000/multi"]).ok();
    assert_eq!(q.stdout, "127.0.0.1:5000/multi\n");
    let r = a.skiff(&["push", "-a", "127.0.0.1:5000/multi:a"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (1, "tag can't be used with --all-tags/-a\n")
    );
    a.skiff(&["push", "-a", "127.0.0.1:5000/none"])
        .fails(1, "An image does not exist locally with the tag: 127.0.0.1:5000/none");
    // The stock docker client asks the same way.
    a.skiff(&["tag", "busybox", "127.0.0.1:5000/multi:d"]).ok();
    let d = a.docker(&["push", "--all-tags", "127.0.0.1:5000/multi"]);
    assert_eq!(d.code, 0, "{}{}", d.stdout, d.stderr);
    assert!(d.stdout.contains("d: digest: sha256:"), "{}", d.stdout);
    drop(reg);
    a.finish();
}

#[test]
fn search_lists_the_registry_catalog_as_docker_search() {
    let a = Agent::start_bare();
    let reg = Registry::start(&a);
    let layer = Blob::gzip(&tar_of(&[("f", "x\n")]));
    for repo in ["team/tool", "tools/other", "app"] {
        reg.push(repo, "latest", &[&layer], "amd64");
    }
    let r = a.skiff(&["search", "127.0.0.1:5000/tool"]).ok();
    assert_eq!(
        r.stdout,
        "NAME                         DESCRIPTION   STARS     OFFICIAL   AUTOMATED\n\
         127.0.0.1:5000/team/tool                   0\n\
         127.0.0.1:5000/tools/other                 0\n"
    );
    let d = a.docker(&["search", "127.0.0.1:5000/tool"]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    let trimmed: String = d.stdout.lines().map(|l| format!("{}\n", l.trim_end())).collect();
    assert_eq!(trimmed, r.stdout);

    let all = a.skiff(&["search", "--format", "{{.Name}}", "127.0.0.1:5000/"]).ok();
    assert_eq!(
        all.stdout,
        "127.0.0.1:5000/app\n127.0.0.1:5000/team/tool\n127.0.0.1:5000/tools/other\n"
    );
    let one = a
        .skiff(&["search", "--limit", "1", "--format", "{{.Name}}", "127.0.0.1:5000/"])
        .ok();
    assert_eq!(one.stdout, "127.0.0.1:5000/app\n");
    let starred = a
        .skiff(&["search", "-f", "stars=1", "--format", "{{.Name}}", "127.0.0.1:5000/"])
        .ok();
    assert_eq!(starred.stdout, "");
    let bad = a.skiff(&["search", "-f", "is-official=yes", "127.0.0.1:5000/app"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("Invalid filter 'is-official=[yes]'"),
        "{}",
        bad.stderr
    );
    let bad = a.skiff(&["search", "--limit", "0", "127.0.0.1:5000/app"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("limit 0 is outside the range of [1, 100]"),
        "{}",
        bad.stderr
    );
    drop(reg);
    a.finish();
}

/// A pushed layer is one gzip stream that stores what does not compress
/// (random data here) and compresses the rest: GNU gzip reads it whole,
/// random data is not made larger, text is made smaller, and the image
/// pulled back holds the same bytes.
#[test]
fn pushed_layers_store_random_data_and_compress_the_rest() {
    let a = Agent::start();
    let reg = Registry::start(&a);
    let make = "head -c 3000000 /dev/urandom > /random && seq 1 400000 > /text && \
                head -c 700000 /dev/urandom > /more && md5sum /random /text /more > /sums";
    a.skiff(&["run", "--name", "maker", "busybox", "sh", "-c", make]).ok();
    a.skiff(&["commit", "maker", "127.0.0.1:5000/mixed:v1"]).ok();
    let sums = a
        .skiff(&["run", "--rm", "127.0.0.1:5000/mixed:v1", "cat", "/sums"])
        .ok()
        .stdout;
    a.skiff(&["push", "127.0.0.1:5000/mixed:v1"]).ok();

    let (code, manifest) = reg.curl(&[
        "-sf",
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
        "http://127.0.0.1:5000/v2/mixed/manifests/v1",
    ]);
    assert_eq!(code, 0, "no manifest: {manifest}");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("manifest JSON");
    let top = &manifest["layers"][1];
    let blob = reg.blob_file(top["digest"].as_str().unwrap_or_default());
    assert_eq!(
        std::fs::metadata(&blob).map(|m| m.len()).ok(),
        top["size"].as_u64(),
        "{top}"
    );
    let gz = std::process::Command::new("gzip")
        .args(["-dc"])
        .stdin(std::fs::File::open(&blob).expect("blob"))
        .output()
        .expect("gzip");
    assert!(gz.status.success(), "GNU gzip: {}", String::from_utf8_lossy(&gz.stderr));
    // The tar holds 3.7 MB of random data and 2.5 MB of text.
    let (tar, size) = (gz.stdout.len() as u64, top["size"].as_u64().unwrap_or(0));
    assert!(tar > 6_000_000, "tar of {tar} bytes");
    assert!(size > 3_700_000, "random data cannot shrink: {size}");
    assert!(size < 3_700_000 + 1_500_000, "text is compressed: {size} of {tar}");

    a.skiff(&["rm", "maker"]).ok();
    a.skiff(&["rmi", "127.0.0.1:5000/mixed:v1"]).ok();
    a.skiff(&["pull", "-q", "127.0.0.1:5000/mixed:v1"]).ok();
    let back = a
        .skiff(&[
            "run",
            "--rm",
            "127.0.0.1:5000/mixed:v1",
            "md5sum",
            "/random",
            "/text",
            "/more",
        ])
        .ok()
        .stdout;
    assert_eq!(back, sums);
    drop(reg);
    a.finish();
}

/// A registry whose disk fills mid-upload: the push fails with the
/// layer named and Docker's exit code, nothing is committed half, and the
/// same push succeeds once there is room.
#[test]
fn a_registry_out_of_space_fails_the_push_and_a_retry_succeeds() {
    let a = Agent::start();
    let reg = Registry::start(&a);
    let storage = a.root.join("registry/storage");
    nix::mount::mount(
        Some("tmpfs"),
        &storage,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .expect("a small tmpfs under the registry");
    let make = "head -c 4000000 /dev/urandom > /random";
    a.skiff(&["run", "--name", "maker", "busybox", "sh", "-c", make]).ok();
    a.skiff(&["commit", "maker", "127.0.0.1:5000/full:v1"]).ok();
    let r = a.skiff(&["push", "127.0.0.1:5000/full:v1"]).fails(1, "pushing");
    let (code, _) = reg.curl(&["-sf", "http://127.0.0.1:5000/v2/full/manifests/v1"]);
    let _ = nix::mount::umount2(&storage, nix::mount::MntFlags::MNT_DETACH);
    assert!(!r.stdout.contains("v1: digest:"), "{}", r.stdout);
    assert_ne!(code, 0, "a manifest was committed after a failed push");

    let r = a.skiff(&["push", "127.0.0.1:5000/full:v1"]).ok();
    assert!(r.stdout.contains("v1: digest: sha256:"), "{}", r.stdout);
    a.skiff(&["rm", "maker"]).ok();
    drop(reg);
    a.finish();
}
