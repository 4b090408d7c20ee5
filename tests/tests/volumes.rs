//! Volumes as a Docker user sees them: named and anonymous volumes, copy-up
//! from the image, `--mount`, `--tmpfs`, `--volumes-from`, the local
//! driver's options, `volume create|ls|inspect|rm|prune`, and the stock
//! `docker` client against the agent.

use skiff_tests::{Agent, Run};

/// The names `volume ls -q` prints (with the given flags).
fn names(a: &Agent, extra: &[&str]) -> Vec<String> {
    let r = a.skiff(&[&["volume", "ls", "-q"], extra].concat()).ok();
    r.stdout.lines().map(String::from).collect()
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(r.out()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// Is `path` (on the host) a mount point?
fn mounted(path: &std::path::Path) -> bool {
    let want = path.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

#[test]
fn named_volume_data_is_shared_and_survives_an_agent_restart() {
    let mut a = Agent::start();
    a.skiff(&["run", "--rm", "-v", "data:/d", "busybox", "sh", "-c", "echo hi > /d/f"])
        .ok();
    let ls = a.skiff(&["volume", "ls"]).ok();
    assert_eq!(ls.stdout, "DRIVER    VOLUME NAME\nlocal     data\n");
    let r = a
        .skiff(&["run", "--rm", "-v", "data:/d:ro", "busybox", "cat", "/d/f"])
        .ok();
    assert_eq!(r.stdout, "hi\n");
    a.kill9();
    a.launch();
    let r = a
        .skiff(&["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f"])
        .ok();
    assert_eq!(r.stdout, "hi\n");
    let v = json(&a.skiff(&["volume", "inspect", "data"]).ok());
    let v = &v[0];
    let mountpoint = a.root.join("data/volumes/data/_data");
    assert_eq!(v["Mountpoint"], mountpoint.display().to_string());
    assert_eq!(
        (v["Name"].as_str(), v["Driver"].as_str(), v["Scope"].as_str()),
        (Some("data"), Some("local"), Some("local"))
    );
    assert!(v["Labels"].is_null() && v["Options"].is_null(), "{v}");
    assert!(chrono_like(v["CreatedAt"].as_str().unwrap()), "{v}");
    assert_eq!(std::fs::read_to_string(mountpoint.join("f")).unwrap(), "hi\n");
    // `inspect` finds volumes too; `--type volume` only volumes.
    assert_eq!(a.inspect("data", "{{.Driver}} {{.Scope}}"), "local local");
    let r = a.skiff(&["inspect", "--type", "volume", "busybox"]);
    assert_eq!((r.code, r.stderr.trim()), (1, "Error: No such volume: busybox"));
    let ev = a.past_events(&["type=volume"], "{{.Action}} {{.Actor.ID}}");
    let actions: Vec<&str> = ev.stdout.lines().collect();
    assert_eq!(
        actions[..3],
        ["create data", "mount data", "unmount data"],
        "{}",
        ev.stdout
    );
    a.finish();
}

/// RFC 3339 with seconds, as Docker shows `CreatedAt`.
fn chrono_like(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T' && !s.contains('.')
}

/// An image whose `/data` (a `VOLUME`) holds a file owned by 1000 with mode
/// 0640, a directory with mode 0750 and a symlink.
fn image_with_data(a: &Agent) {
    let dir = a.root.join("imgroot");
    std::fs::create_dir_all(&dir).unwrap();
    let sh = |cmd: &str| {
        let r: Run = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .unwrap()
            .into();
        r.ok();
    };
    sh(&format!(
        "tar -xf {bb} -C {d} && mkdir -p {d}/data/sub && echo content > {d}/data/f && ln -s f {d}/data/link && \
         chown -R 1000:1000 {d}/data && chmod 0640 {d}/data/f && chmod 0750 {d}/data/sub && \
         tar -C {d} -cf {d}.tar .",
        bb = skiff_tests::busybox_tar().display(),
        d = dir.display()
    ));
    let tar = format!("{}.tar", dir.display());
    a.skiff(&["import", "-c", "VOLUME /data", &tar, "vimg"]).ok();
}

#[test]
fn new_volumes_get_the_image_content_at_their_path() {
    let a = Agent::start();
    image_with_data(&a);
    let show = "stat -c '%n %u %a' /data/f /data/sub && readlink /data/link && cat /data/f";
    let want = "/data/f 1000 640\n/data/sub 1000 750\nf\ncontent\n";
    // The image's VOLUME: an anonymous volume, filled from the image.
    let r = a.skiff(&["run", "--name", "anon", "vimg", "sh", "-c", show]).ok();
    assert_eq!(r.stdout, want);
    let m = json(&a.skiff(&["inspect", "-f", "{{json .Mounts}}", "anon"]).ok());
    assert_eq!(m.as_array().unwrap().len(), 1, "{m}");
    let name = m[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(m[0]["Type"], "volume");
    assert_eq!(m[0]["Mode"], "");
    assert_eq!(m[0]["Destination"], "/data");
    // A new named volume there: the same content, owners and modes.
    let r = a
        .skiff(&["run", "--rm", "-v", "named:/data", "vimg", "sh", "-c", show])
        .ok();
    assert_eq!(r.stdout, want);
    let host = a.root.join("data/volumes/named/_data");
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "content\n");
    // A volume with content keeps its own.
    a.skiff(&[
        "run",
        "--rm",
        "-v",
        "named:/data",
        "vimg",
        "sh",
        "-c",
        "rm /data/f && echo mine > /data/mine",
    ])
    .ok();
    let r = a
        .skiff(&["run", "--rm", "-v", "named:/data", "vimg", "ls", "/data"])
        .ok();
    assert_eq!(r.stdout, "link\nmine\nsub\n");
    // nocopy: the new volume stays empty.
    let r = a
        .skiff(&["run", "--rm", "-v", "bare:/data:nocopy", "vimg", "ls", "-A", "/data"])
        .ok();
    assert_eq!(r.stdout, "");
    let r = a
        .skiff(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=bare2,dst=/data,volume-nocopy",
            "vimg",
            "ls",
            "-A",
            "/data",
        ])
        .ok();
    assert_eq!(r.stdout, "");
    // Busybox's own /etc, copied into a volume mounted over it.
    let r = a
        .skiff(&["run", "--rm", "-v", "etc:/etc", "busybox", "cat", "/etc/passwd"])
        .ok();
    assert!(r.stdout.starts_with("root:"), "{}", r.stdout);
    a.finish();
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_rm_but_named_ones_stay() {
    let a = Agent::start();
    a.skiff(&["create", "--name", "a1", "-v", "/anon", "busybox", "true"])
        .ok();
    let anon1 = a.inspect("a1", "{{(index .Mounts 0).Name}}");
    assert_eq!(names(&a, &[]), std::slice::from_ref(&anon1));
    a.skiff(&["rm", "a1"]).ok();
    assert_eq!(names(&a, &[]), std::slice::from_ref(&anon1), "rm without -v keeps it");
    a.skiff(&[
        "create", "--name", "a2", "-v", "/anon", "-v", "keep:/k", "busybox", "true",
    ])
    .ok();
    let anon2 = a.inspect(
        "a2",
        "{{range .Mounts}}{{if eq .Destination \"/anon\"}}{{.Name}}{{end}}{{end}}",
    );
    let m = json(&a.skiff(&["inspect", "-f", "{{json .Mounts}}", "a2"]).ok());
    let keep = m.as_array().unwrap().iter().find(|m| m["Name"] == "keep").unwrap();
    let source = a.root.join("data/volumes/keep/_data").display().to_string();
    assert_eq!(
        keep,
        &serde_json::json!({"Type": "volume", "Name": "keep", "Source": source, "Destination": "/k",
            "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""})
    );
    a.skiff(&["rm", "-v", "a2"]).ok();
    let mut left = names(&a, &[]);
    left.sort();
    let mut want = vec![anon1.clone(), "keep".to_string()];
    want.sort();
    assert_eq!(left, want, "rm -v removes {anon2} only");
    // --rm: the anonymous volume goes when the container does, named ones stay.
    a.skiff(&[
        "run",
        "--rm",
        "-v",
        "/scratch",
        "-v",
        "keep:/k",
        "busybox",
        "sh",
        "-c",
        "echo x > /scratch/f",
    ])
    .ok();
    let mut left = names(&a, &[]);
    left.sort();
    assert_eq!(left, want);
    a.finish();
}

#[test]
fn in_use_volumes_are_not_removed() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "--rm",
        "-v",
        "busy:/d",
        "busybox",
        "sh",
        "-c",
        "echo keep > /d/f",
    ])
    .ok();
    let id = a
        .skiff(&["create", "-v", "busy:/d", "busybox", "true"])
        .ok()
        .out()
        .to_string();
    let want = format!("Error response from daemon: remove busy: volume is in use - [{id}]");
    for args in [&["volume", "rm", "busy"][..], &["volume", "rm", "-f", "busy"]] {
        let r = a.skiff(args);
        assert_eq!((r.code, r.stderr.trim()), (1, want.as_str()), "{args:?}");
    }
    // The API answers 409.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = skiff_client::Client::new(a.sock());
    let e = rt.block_on(c.volume_remove("busy", false)).unwrap_err();
    assert_eq!(e.status(), Some(hyper::StatusCode::CONFLICT));
    assert_eq!(
        std::fs::read_to_string(a.root.join("data/volumes/busy/_data/f")).unwrap(),
        "keep\n"
    );
    a.skiff(&["rm", &id]).ok();
    assert_eq!(a.skiff(&["volume", "rm", "busy"]).ok().out(), "busy");
    let r = a.skiff(&["volume", "rm", "busy"]);
    assert_eq!((r.code, r.stderr.trim()), (1, "Error: No such volume: busy"));
    let e = rt.block_on(c.volume_inspect_raw("busy")).unwrap_err();
    assert_eq!(e.to_string(), "Error response from daemon: get busy: no such volume");
    assert_eq!(a.skiff(&["volume", "rm", "-f", "busy"]).ok().out(), "busy");
    a.finish();
}

#[test]
fn tmpfs_mounts_have_their_size_and_options() {
    let a = Agent::start();
    let r = a.skiff(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=1m",
        "busybox",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts; dd if=/dev/zero of=/t/f bs=1k count=2048",
    ]);
    assert_ne!(r.code, 0, "a write beyond the size fails: {r:?}");
    assert!(
        r.stdout
            .contains("tmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    a.skiff(&[
        "create",
        "--name",
        "mt",
        "--tmpfs",
        "/hidden",
        "--mount",
        "type=tmpfs,dst=/m,tmpfs-size=2m,tmpfs-mode=1770",
        "busybox",
        "sh",
        "-c",
        "grep ' /m ' /proc/mounts; stat -c %a /m",
    ])
    .ok();
    let r = a.skiff(&["start", "-a", "mt"]).ok();
    assert!(
        r.stdout
            .contains("tmpfs /m tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k,mode=1770"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("1770\n"), "{}", r.stdout);
    // --mount tmpfs is in Mounts; --tmpfs only in HostConfig, as Docker shows them.
    let m = json(&a.skiff(&["inspect", "-f", "{{json .Mounts}}", "mt"]).ok());
    assert_eq!(
        m,
        serde_json::json!([{"Type": "tmpfs", "Source": "", "Destination": "/m", "Mode": "", "RW": true, "Propagation": ""}])
    );
    assert_eq!(a.inspect("mt", "{{json .HostConfig.Tmpfs}}"), r#"{"/hidden":""}"#);
    a.finish();
}

#[test]
fn mount_flag_volumes_and_binds_honour_readonly() {
    let a = Agent::start();
    let r = a.skiff(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=v1,dst=/x,readonly",
        "busybox",
        "touch",
        "/x/f",
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    a.skiff(&[
        "create",
        "--name",
        "ro",
        "--mount",
        "type=volume,source=v1,target=/x,ro",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(
        a.inspect("ro", "{{range .Mounts}}{{.Name}} {{.RW}} {{.Mode}}{{end}}"),
        "v1 false z"
    );
    let host = a.root.join("bindsrc");
    std::fs::create_dir_all(&host).unwrap();
    let spec = format!("type=bind,src={},dst=/b", host.display());
    a.skiff(&["run", "--rm", "--mount", &spec, "busybox", "sh", "-c", "echo b > /b/f"])
        .ok();
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "b\n");
    let r = a.skiff(&[
        "run",
        "--rm",
        "--mount",
        &format!("{spec},readonly"),
        "busybox",
        "touch",
        "/b/g",
    ]);
    assert_ne!(r.code, 0);
    assert!(!host.join("g").exists());
    a.finish();
}

#[test]
fn volumes_from_shares_another_containers_mounts() {
    let a = Agent::start();
    a.skiff(&[
        "create",
        "--name",
        "src",
        "-v",
        "shared:/s",
        "-v",
        "/anon",
        "busybox",
        "true",
    ])
    .ok();
    a.skiff(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo x > /s/f && echo y > /anon/g",
    ])
    .ok();
    let r = a.skiff(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "sh",
        "-c",
        "cat /s/f /anon/g; touch /s/h",
    ]);
    assert_ne!(r.code, 0);
    assert_eq!(r.stdout, "x\ny\n");
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    // The source's anonymous volume is its own: rm -v of a borrower keeps it.
    a.skiff(&[
        "create",
        "--name",
        "borrower",
        "--volumes-from",
        "src",
        "busybox",
        "true",
    ])
    .ok();
    a.skiff(&["rm", "-v", "borrower"]).ok();
    assert_eq!(names(&a, &[]).len(), 2);
    a.skiff(&["rm", "-v", "src"]).ok();
    assert_eq!(names(&a, &[]), ["shared"]);
    a.finish();
}

#[test]
fn ls_filters_prune_and_disk_usage() {
    let a = Agent::start();
    a.skiff(&["volume", "create", "--label", "tier=web", "unused1"]).ok();
    assert_eq!(
        a.skiff(&["volume", "create", "--name", "unused2"]).ok().out(),
        "unused2"
    );
    a.skiff(&["create", "--name", "user", "-v", "used:/u", "busybox", "true"])
        .ok();
    assert_eq!(names(&a, &[]), ["unused1", "unused2", "used"]);
    assert_eq!(names(&a, &["--filter", "dangling=true"]), ["unused1", "unused2"]);
    assert_eq!(names(&a, &["--filter", "dangling=false"]), ["used"]);
    assert_eq!(names(&a, &["--filter", "label=tier=web"]), ["unused1"]);
    assert_eq!(names(&a, &["--filter", "name=unused"]), ["unused1", "unused2"]);
    let r = a.skiff(&["volume", "ls", "--filter", "colour=red"]);
    assert_eq!(
        (r.code, r.stderr.trim()),
        (1, "Error response from daemon: Invalid filter 'colour'")
    );
    let r = a
        .skiff(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}}:{{.Labels}}",
            "--filter",
            "label=tier",
        ])
        .ok();
    assert_eq!(r.stdout, "unused1:tier=web\n");
    let v = json(&a.skiff(&["volume", "inspect", "unused1"]).ok());
    assert_eq!(v[0]["Labels"], serde_json::json!({"tier": "web"}));
    assert_eq!(v[0]["Options"], serde_json::json!({}));
    std::fs::write(a.root.join("data/volumes/unused2/_data/blob"), vec![0u8; 3000]).unwrap();
    let df = a.skiff(&["system", "df"]).ok();
    let row = df
        .stdout
        .lines()
        .find(|l| l.starts_with("Local Volumes"))
        .unwrap()
        .to_string();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["Local", "Volumes", "3", "1", "3kB", "3kB", "(100%)"]
    );
    let r = a.skiff(&["volume", "prune", "-f", "--filter", "label=tier=web"]).ok();
    assert_eq!(r.stdout, "Deleted Volumes:\nunused1\n\nTotal reclaimed space: 0B\n");
    let r = a.skiff(&["volume", "prune", "-f"]).ok();
    assert_eq!(r.stdout, "Deleted Volumes:\nunused2\n\nTotal reclaimed space: 3kB\n");
    assert_eq!(names(&a, &[]), ["used"]);
    let r = a.skiff(&["volume", "prune", "-f"]).ok();
    assert_eq!(r.stdout, "Total reclaimed space: 0B\n");
    let r = a.skiff(&["volume", "create", "--name", "x1", "x2"]);
    assert_eq!(r.code, 1);
    a.finish();
}

#[test]
fn local_driver_options_mount_a_tmpfs_or_a_bind_while_in_use() {
    let mut a = Agent::start();
    a.skiff(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=8m",
        "tv",
    ])
    .ok();
    let data = a.root.join("data/volumes/tv/_data");
    let r = a
        .skiff(&["run", "--rm", "-v", "tv:/t", "busybox", "grep", " /t ", "/proc/mounts"])
        .ok();
    assert!(
        r.stdout.starts_with("tmpfs /t tmpfs ") && r.stdout.contains("size=8192k"),
        "{}",
        r.stdout
    );
    assert!(!mounted(&data), "unmounted when no container uses it");
    a.skiff(&[
        "run", "-d", "--name", "holder", "-v", "tv:/t", "busybox", "sleep", "300",
    ])
    .ok();
    assert!(mounted(&data));
    // An agent restart finds the holder again: the mount stays until it stops.
    a.kill9();
    a.launch();
    assert!(mounted(&data));
    a.skiff(&["run", "--rm", "-v", "tv:/t", "busybox", "true"]).ok();
    assert!(mounted(&data), "the running holder still uses it");
    a.skiff(&["stop", "-t", "0", "holder"]).ok();
    assert!(!mounted(&data));
    let v = json(&a.skiff(&["volume", "inspect", "tv"]).ok());
    assert_eq!(
        v[0]["Options"],
        serde_json::json!({"type": "tmpfs", "device": "tmpfs", "o": "size=8m"})
    );
    // type=none,o=bind: the host directory is the volume's content.
    let src = a.root.join("bindsrc");
    std::fs::create_dir_all(&src).unwrap();
    let dev = format!("device={}", src.display());
    a.skiff(&["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", &dev, "bv"])
        .ok();
    a.skiff(&[
        "run",
        "--rm",
        "-v",
        "bv:/b",
        "busybox",
        "sh",
        "-c",
        "echo via-volume > /b/f",
    ])
    .ok();
    assert_eq!(std::fs::read_to_string(src.join("f")).unwrap(), "via-volume\n");
    let r = a.skiff(&["volume", "create", "-o", "colour=red", "bad"]);
    assert_eq!(
        (r.code, r.stderr.trim()),
        (1, "Error response from daemon: create bad: invalid option: \"colour\"")
    );
    a.finish();
}

#[test]
fn bad_mount_specs_exit_125_with_dockers_messages() {
    let a = Agent::start();
    let cases: &[(&[&str], &str)] = &[
        (&["-v", "data:/d", "-v", "/srv:/d"], "Duplicate mount point: /d"),
        (&["-v", "a:/d"], "create a: volume name is too short, names should be at least two alphanumeric characters"),
        (&["-v", "bad$:/d"], "create bad$: \"bad$\" includes invalid characters for a local volume name"),
        (&["-v", "data:/d:bogus"], "invalid mode: bogus"),
        (&["-v", "data:rel"], "invalid volume specification: 'data:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"),
        (&["--mount", "type=volume,src=v"], "invalid argument \"type=volume,src=v\" for \"--mount\" flag: target is required"),
        (&["--mount", "type=bind,src=/no/such/dir,dst=/x"], "invalid mount config for type \"bind\": bind source path does not exist: /no/such/dir"),
        (&["--mount", "type=volume,dst=/x,readonly"], "must not set ReadOnly mode when using anonymous volumes"),
        (&["--tmpfs", "/t:bogus"], "Invalid tmpfs option [\"bogus\"]"),
        (&["--volumes-from", "ghost"], "No such container: ghost"),
    ];
    for (flags, want) in cases {
        let r = a.skiff(&[&["run", "--rm"], *flags, &["busybox", "true"]].concat());
        assert_eq!(r.code, 125, "{flags:?}: {r:?}");
        assert!(r.stderr.contains(want), "{flags:?}: {}", r.stderr);
    }
    assert!(names(&a, &[]).is_empty(), "failed creates leave no volume");
    assert_eq!(a.skiff(&["ps", "-aq"]).ok().out(), "");
    a.finish();
}

#[test]
fn docker_client_manages_volumes() {
    let a = Agent::start();
    assert_eq!(a.docker(&["volume", "create", "dv"]).ok().out(), "dv");
    let ls = a.docker(&["volume", "ls"]).ok();
    assert!(ls.stdout.contains("local     dv"), "{}", ls.stdout);
    a.docker(&["run", "--rm", "-v", "dv:/x", "busybox", "sh", "-c", "echo y > /x/f"])
        .ok();
    assert_eq!(
        a.docker(&["run", "--rm", "-v", "dv:/x", "busybox", "cat", "/x/f"])
            .ok()
            .stdout,
        "y\n"
    );
    let insp = a
        .docker(&["volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}}", "dv"])
        .ok();
    assert_eq!(insp.out(), "dv local local");
    // The Docker CLI sends `-v /path` as Config.Volumes; --rm removes it.
    a.docker(&["run", "--rm", "-v", "/anon", "busybox", "true"]).ok();
    a.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,dst=/t",
        "--tmpfs",
        "/u",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(a.docker(&["volume", "ls", "-q"]).ok().out(), "dv");
    let id = a
        .docker(&["create", "-v", "dv:/x", "busybox", "true"])
        .ok()
        .out()
        .to_string();
    let r = a.docker(&["volume", "rm", "dv"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("volume is in use"), "{}", r.stderr);
    a.docker(&["rm", &id]).ok();
    a.docker(&["volume", "rm", "dv"]).ok();
    a.docker(&["volume", "create", "gone"]).ok();
    let r = a.docker(&["volume", "prune", "-f"]).ok();
    assert!(r.stdout.contains("gone"), "{}", r.stdout);
    assert_eq!(a.docker(&["volume", "ls", "-q"]).ok().out(), "");
    a.finish();
}
