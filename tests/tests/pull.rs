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

    a.skiff(&["pull", "127.0.0.1:5000/nosuch"]).fails(
        1,
        "manifest for 127.0.0.1:5000/nosuch:latest not found: manifest unknown",
    );
    let r = a.skiff(&["run", "--rm", "127.0.0.1:5000/nosuch", "true"]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    a.skiff(&["pull", "Bad/Name"]).fails(1, "invalid reference format");
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
    a.skiff(&["pull", "127.0.0.1:5000/bad"])
        .fails(1, "filesystem layer verification failed for digest sha256:");
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
    a.skiff(&["pull", "--platform", "linux/s390x", "127.0.0.1:5000/multi"])
        .fails(1, "no matching manifest for linux/s390x in the manifest list entries");
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

#[test]
fn pull_all_tags_brings_every_tag_of_the_repository() {
    let a = Agent::start_bare();
    let reg = Registry::start(&a);
    let base = busybox_layer();
    let one = Blob::gzip(&tar_of(&[("which", "one\n")]));
    let two = Blob::gzip(&tar_of(&[("which", "two\n")]));
    reg.push("app", "one", &[&base, &one], "amd64");
    reg.push("app", "two", &[&base, &two], "amd64");

    let r = a.skiff(&["pull", "-a", "127.0.0.1:5000/app"]).ok();
    let one_at = r.stdout.find("one: Pulling from app\n").expect(&r.stdout);
    let two_at = r.stdout.find("two: Pulling from app\n").expect(&r.stdout);
    assert!(one_at < two_at, "{}", r.stdout);
    assert_eq!(r.stdout.matches("Digest: sha256:").count(), 2, "{}", r.stdout);
    assert_eq!(r.stdout.matches("Status: ").count(), 1, "{}", r.stdout);
    assert!(
        r.stdout
            .ends_with("Status: Downloaded newer image for 127.0.0.1:5000/app\n127.0.0.1:5000/app\n"),
        "{}",
        r.stdout
    );
    for (tag, want) in [("one", "one\n"), ("two", "two\n")] {
        let image = format!("127.0.0.1:5000/app:{tag}");
        let out = a.skiff(&["run", "--rm", &image, "cat", "/which"]).ok();
        assert_eq!(out.stdout, want);
    }
    // Nothing new the second time, and the stock docker client asks the
    // same way (no tag in the request).
    let d = a.docker(&["pull", "--all-tags", "127.0.0.1:5000/app"]);
    assert_eq!(d.code, 0, "{}{}", d.stdout, d.stderr);
    assert!(
        d.stdout
            .contains("Status: Image is up to date for 127.0.0.1:5000/app\n"),
        "{}",
        d.stdout
    );

    let r = a.skiff(&["pull", "-a", "127.0.0.1:5000/app:one"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (1, "tag can't be used with --all-tags/-a\n")
    );
    a.skiff(&["pull", "-a", "127.0.0.1:5000/nothere"]).fails(
        1,
        "pull access denied for 127.0.0.1:5000/nothere, repository does not exist or may require 'docker login'",
    );
    drop(reg);
    a.finish();
}

#[test]
fn zstd_layers_are_pulled_every_frame_of_them() {
    let a = Agent::start_bare();
    let reg = Registry::start(&a);
    let base = busybox_layer();
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    let files = [("zstd.txt", "squeezed\n"), ("big.txt", big.as_str())];
    let layer = Blob::zstd(&tar_of(&files), 3);
    assert_eq!(&layer.data[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    reg.push("zz", "latest", &[&base, &layer], "amd64");

    let r = a.skiff(&["pull", "127.0.0.1:5000/zz"]).ok();
    assert!(
        r.stdout.contains(&format!("{}: Pull complete", &layer.digest()[7..19])),
        "{}",
        r.stdout
    );
    let out = a
        .skiff(&[
            "run",
            "--rm",
            "127.0.0.1:5000/zz",
            "sh",
            "-c",
            "cat /zstd.txt; wc -l < /big.txt",
        ])
        .ok();
    assert_eq!(out.stdout, "squeezed\n20000\n");
    // Pushed again elsewhere, the layer goes as gzip (a schema 2
    // manifest names no zstd blob) and comes back the same image.
    a.skiff(&["tag", "127.0.0.1:5000/zz", "127.0.0.1:5000/again/zz"]).ok();
    a.skiff(&["push", "127.0.0.1:5000/again/zz"]).ok();
    let (_, manifest) = reg.curl(&[
        "-s",
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
        "http://127.0.0.1:5000/v2/again/zz/manifests/latest",
    ]);
    assert!(!manifest.contains("zstd"), "{manifest}");
    assert!(manifest.contains("diff.tar.gzip"), "{manifest}");
    drop(reg);
    a.finish();
}

#[test]
fn an_interrupted_download_resumes_and_stale_ones_are_collected() {
    let a = Agent::start_bare();
    let reg = Registry::start(&a);
    let layer = busybox_layer();
    reg.push("resume", "latest", &[&layer], "amd64");
    let hex = &layer.digest()[7..];
    let downloads = a.root.join("data/image/downloads");
    std::fs::create_dir_all(&downloads).expect("downloads dir");
    // What an agent killed half-way through the download left.
    let half = layer.data.len() / 2;
    std::fs::write(downloads.join(format!("{hex}.partial")), &layer.data[..half]).expect("partial");
    // Two days old and belonging to no pull: collected. Fresh: kept.
    let stale = downloads.join(format!("{}.partial", "e".repeat(64)));
    let fresh = downloads.join(format!("{}.partial", "f".repeat(64)));
    std::fs::write(&stale, b"old").expect("stale");
    std::fs::write(&fresh, b"new").expect("fresh");
    let touched = std::process::Command::new("touch")
        .args(["-d", "2 days ago"])
        .arg(&stale)
        .status()
        .expect("touch");
    assert!(touched.success());

    a.skiff(&["pull", "127.0.0.1:5000/resume"]).ok();
    let out = a.skiff(&["run", "--rm", "127.0.0.1:5000/resume", "echo", "whole"]).ok();
    assert_eq!(out.stdout, "whole\n");
    // The registry sent only the missing half, as a range.
    let log = reg.access_log();
    let gets: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("GET /v2/resume/blobs/sha256:{hex} ")))
        .collect();
    let rest = layer.data.len() - half;
    assert_eq!(gets.len(), 1, "{log}");
    assert!(gets[0].contains(&format!("\" 206 {rest} ")), "{}", gets[0]);
    assert!(!downloads.join(format!("{hex}.partial")).exists());
    assert!(!stale.exists(), "the stale partial download is still there");
    assert!(fresh.exists(), "a fresh partial download was removed");
    drop(reg);
    a.finish();
}

#[test]
fn docker_hub_pulls_go_to_the_registry_mirror() {
    let a = Agent::start_with(&["--registry-mirror", "http://127.0.0.1:5000"]);
    let reg = Registry::start(&a);
    let base = busybox_layer();
    let (digest, _) = reg.push("library/busybox", "latest", &[&base], "amd64");
    let tool = Blob::gzip(&tar_of(&[("tool", "from the mirror\n")]));
    reg.push("team/tool", "v1", &[&base, &tool], "amd64");

    let r = a.skiff(&["pull", "busybox"]).ok();
    assert!(
        r.stdout.contains("latest: Pulling from library/busybox\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .ends_with("Status: Downloaded newer image for busybox:latest\ndocker.io/library/busybox:latest\n"),
        "{}",
        r.stdout
    );
    assert_eq!(
        a.inspect("busybox", "{{json .RepoDigests}}"),
        format!("[\"busybox@{digest}\"]")
    );
    let out = a.skiff(&["run", "--rm", "docker.io/team/tool:v1", "cat", "/tool"]).ok();
    assert_eq!(out.stdout, "from the mirror\n");
    assert!(a
        .skiff(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok()
        .stdout
        .contains("team/tool:v1\n"));
    // Shown as Docker shows its mirrors.
    let d = a.docker(&["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
    assert_eq!(d.stdout.trim(), r#"["http://127.0.0.1:5000/"]"#, "{}", d.stderr);
    let d = a.docker(&["info"]);
    assert!(
        d.stdout.contains("Registry Mirrors:\n  http://127.0.0.1:5000/\n"),
        "{}",
        d.stdout
    );
    let info = a.skiff(&["info"]).ok().stdout;
    assert!(
        info.contains(" Insecure Registries:\n  127.0.0.0/8\n Registry Mirrors:\n  http://127.0.0.1:5000/\n"),
        "{info}"
    );
    drop(reg);
    a.finish();
}
