//! Pulling from a real registry (Debian's docker-registry in the agent's
//! network namespace), as a Docker user sees it.

use skiff_tests::registry::{tar_of, Blob, Registry};
use skiff_tests::{busybox_tar, Agent};

fn busybox_layer() -> Blob {
    Blob::gzip(&std::fs::read(busybox_tar()).expect("busybox tar"))
}

#[test]
fn pull_runs_the_image_and_skips_layers_already_here() {
    let a = Agent::start_bare();
    let reg = Registry::start(&a);
    let base = busybox_layer();
    let hello = Blob::plain(&tar_of(&[("hello.txt", "pulled\n")]));
    let (digest, _) = reg.push("app", "v1", &[&base, &hello], "amd64");

    let r = a.skiff(&["pull", "127.0.0.1:5000/app:v1"]).ok();
    assert!(r.stdout.starts_with("v1: Pulling from app\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("{}: Pull complete", &base.digest()[7..19])),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("Digest: {digest}")), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("Status: Downloaded newer image for 127.0.0.1:5000/app:v1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("\n127.0.0.1:5000/app:v1\n"), "{}", r.stdout);
    let out = a
        .skiff(&["run", "--rm", "127.0.0.1:5000/app:v1", "cat", "/hello.txt"])
        .ok();
    assert_eq!(out.stdout, "pulled\n");
    assert_eq!(
        a.inspect("127.0.0.1:5000/app:v1", "{{json .RepoDigests}}"),
        format!("[\"127.0.0.1:5000/app@{digest}\"]")
    );
    assert_eq!(a.inspect("127.0.0.1:5000/app:v1", "{{.Architecture}}"), "amd64");

    // Again: nothing to fetch.
    let r = a.skiff(&["pull", "127.0.0.1:5000/app:v1"]).ok();
    assert!(r.stdout.contains("Already exists"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("Status: Image is up to date for 127.0.0.1:5000/app:v1"),
        "{}",
        r.stdout
    );

    // Another image on the same base: only the new layer is fetched.
    let other = Blob::gzip(&tar_of(&[("other.txt", "v2\n")]));
    reg.push("app", "v2", &[&base, &other], "amd64");
    let r = a.skiff(&["pull", "-q", "127.0.0.1:5000/app:v2"]).ok();
    assert_eq!(r.stdout, "127.0.0.1:5000/app:v2\n");
    let r = a.skiff(&["pull", "127.0.0.1:5000/app:v2"]).ok();
    assert_eq!(r.stdout.matches("Already exists").count(), 2, "{}", r.stdout);

    // By digest; removal untags the digest too.
    let by_digest = format!("127.0.0.1:5000/app@{digest}");
    a.skiff(&["pull", &by_digest]).ok();
    let rm = a.skiff(&["rmi", "127.0.0.1:5000/app:v1"]).ok();
    assert!(rm.stdout.contains(&format!("Untagged: {by_digest}")), "{}", rm.stdout);
    drop(reg);
    a.finish();
}

#[test]
fn run_pulls_a_missing_image_and_pull_errors_read_as_dockers() {
    let a = Agent::start_bare();
    let reg = Registry::start(&a);
    let base = busybox_layer();
    reg.push("tool", "latest", &[&base], "amd64");

    let never = a.skiff(&["run", "--rm", "--pull", "never", "127.0.0.1:5000/tool", "true"]);
    assert_eq!(never.code, 125, "{}", never.stderr);
    let r = a.skiff(&["run", "--rm", "127.0.0.1:5000/tool", "echo", "ran"]).ok();
    assert_eq!(r.stdout, "ran\n");
    assert!(
        r.stderr
            .starts_with("Unable to find image '127.0.0.1:5000/tool:latest' locally\n"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Status: Downloaded newer image"), "{}", r.stderr);

    let r = a.skiff(&["pull", "127.0.0.1:5000/nosuch"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("manifest for 127.0.0.1:5000/nosuch:latest not found: manifest unknown"),
        "{}",
        r.stderr
    );
    let r = a.skiff(&["run", "--rm", "127.0.0.1:5000/nosuch", "true"]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    let r = a.skiff(&["pull", "Bad/Name"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("invalid reference format"), "{}", r.stderr);
    drop(reg);
    a.finish();
}

#[test]
fn a_layer_that_does_not_match_its_digest_is_refused_and_not_stored() {
    let a = Agent::start_bare();
    let reg = Registry::start(&a);
    let layer = Blob::gzip(&tar_of(&[("x", "original\n")]));
    reg.push("bad", "latest", &[&layer], "amd64");
    // The registry now serves other bytes of the same length.
    let file = reg.blob_file(&layer.digest());
    let mut data = std::fs::read(&file).expect("blob");
    let n = data.len();
    data[n / 2] ^= 0xff;
    std::fs::write(&file, data).expect("corrupt");
    let r = a.skiff(&["pull", "127.0.0.1:5000/bad"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("filesystem layer verification failed for digest sha256:"),
        "{}",
        r.stderr
    );
    assert_eq!(a.skiff(&["images", "-q"]).ok().stdout, "");
    let layers = std::fs::read_dir(a.root.join("data/layers"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(layers, 0, "a layer record was stored");
    drop(reg);
    a.finish();
}

#[test]
fn the_platform_is_picked_from_a_manifest_list() {
    let a = Agent::start_bare();
    let reg = Registry::start(&a);
    let base = busybox_layer();
    let arm = Blob::gzip(&tar_of(&[("arch", "arm64\n")]));
    let (amd_d, amd_raw) = reg.push("multi", "amd64-only", &[&base], "amd64");
    let (arm_d, arm_raw) = reg.push("multi", "arm64-only", &[&base, &arm], "arm64");
    reg.push_index(
        "multi",
        "latest",
        &[(&amd_d, &amd_raw, "amd64"), (&arm_d, &arm_raw, "arm64")],
    );

    a.skiff(&["pull", "127.0.0.1:5000/multi"]).ok();
    assert_eq!(a.inspect("127.0.0.1:5000/multi", "{{.Architecture}}"), "amd64");
    a.skiff(&["pull", "--platform", "linux/arm64", "127.0.0.1:5000/multi"])
        .ok();
    assert_eq!(a.inspect("127.0.0.1:5000/multi", "{{.Architecture}}"), "arm64");
    let r = a.skiff(&["pull", "--platform", "linux/s390x", "127.0.0.1:5000/multi"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("no matching manifest for linux/s390x in the manifest list entries"),
        "{}",
        r.stderr
    );
    // The stock docker client pulls through the agent too.
    let d = a.docker(&["pull", "127.0.0.1:5000/multi:amd64-only"]);
    assert_eq!(d.code, 0, "{}{}", d.stdout, d.stderr);
    assert!(
        d.stdout
            .contains("Status: Downloaded newer image for 127.0.0.1:5000/multi:amd64-only"),
        "{}",
        d.stdout
    );
    drop(reg);
    a.finish();
}
