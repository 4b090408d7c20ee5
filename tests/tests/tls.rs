//! Remote control over TCP with mutual TLS (Docker's --tlsverify model):
//! every acceptance and every rejection against a real agent.

use std::path::{Path, PathBuf};

use skiff_certs::issue::{create_ca, issue, Role, Validity};
use skiff_tests::{bin_dir, docker_bin, Agent};

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(tag: &str) -> Self {
        let dir = PathBuf::from(format!("/tmp/skiff-pki-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let skiff = |args: &[&str]| {
            let ok = std::process::Command::new(bin_dir().join("skiff"))
                .args(args)
                .status()
                .unwrap()
                .success();
            assert!(ok, "skiff {args:?}");
        };
        let d = |s: &str| dir.join(s).display().to_string();
        skiff(&["certs", "ca", "--out", &d("ca")]);
        // The server is "localhost" only: 127.0.0.1 is not in its names.
        skiff(&[
            "certs",
            "server",
            "--ca",
            &d("ca"),
            "--out",
            &d("srv"),
            "--san",
            "localhost",
        ]);
        skiff(&["certs", "client", "--ca", &d("ca"), "--out", &d("cli"), "--cn", "alice"]);
        // A client from another CA, and expired and not-yet-valid clients of ours.
        create_ca(&dir.join("other-ca"), "other", Validity::days(1)).unwrap();
        issue(
            &dir.join("other-ca"),
            &dir.join("other"),
            "mallory",
            Role::Client,
            Validity::days(1),
        )
        .unwrap();
        let now = time::OffsetDateTime::now_utc();
        let past = Validity {
            not_before: now - time::Duration::days(10),
            not_after: now - time::Duration::days(1),
        };
        issue(&dir.join("ca"), &dir.join("expired"), "old", Role::Client, past).unwrap();
        let future = Validity {
            not_before: now + time::Duration::days(1),
            not_after: now + time::Duration::days(10),
        };
        issue(&dir.join("ca"), &dir.join("future"), "early", Role::Client, future).unwrap();
        Self { dir }
    }

    fn p(&self, s: &str) -> String {
        self.dir.join(s).display().to_string()
    }

    /// An agent serving with these certificates, busybox imported.
    fn agent(&self) -> Agent {
        let flags = self.server_flags();
        let a = Agent::start_with(&flags.iter().map(String::as_str).collect::<Vec<_>>());
        a.skiff(&["import", skiff_tests::busybox_tar().to_str().unwrap(), "busybox"])
            .ok();
        a
    }

    fn server_flags(&self) -> Vec<String> {
        [
            "-H",
            "tcp://127.0.0.1:2376",
            "--tlsverify",
            "--tlscacert",
            &self.p("srv/ca.pem"),
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            "--tlscert".into(),
            self.p("srv/server-cert.pem"),
            "--tlskey".into(),
            self.p("srv/server-key.pem"),
        ])
        .collect()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client_args<'a>(host: &'a str, dir: &'a Path) -> Vec<String> {
    vec![
        "-H".into(),
        host.into(),
        "--tlsverify".into(),
        "--tlscacert".into(),
        dir.join("ca.pem").display().to_string(),
        "--tlscert".into(),
        dir.join("cert.pem").display().to_string(),
        "--tlskey".into(),
        dir.join("key.pem").display().to_string(),
    ]
}

#[test]
fn verified_clients_are_served_and_everything_else_is_refused() {
    let pki = Pki::new("main");
    let a = pki.agent();
    let skiff = bin_dir().join("skiff").display().to_string();
    let host = "tcp://localhost:2376";
    let run = |args: Vec<String>, env: &[(&str, &str)]| {
        a.in_netns(&skiff, &args.iter().map(String::as_str).collect::<Vec<_>>(), env)
    };
    let with = |dir: &str, rest: &[&str]| {
        let mut v = client_args(host, &pki.dir.join(dir));
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    // Accepted: flags, and Docker's environment variables.
    let r = run(with("cli", &["run", "--rm", "busybox", "echo", "over tls"]), &[]).ok();
    assert_eq!(r.out(), "over tls");
    let cert_path = pki.p("cli");
    let r = run(
        vec!["ps".into(), "-a".into()],
        &[
            ("DOCKER_HOST", host),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", &cert_path),
        ],
    )
    .ok();
    assert!(r.stdout.starts_with("CONTAINER ID"), "{}", r.stdout);
    let r = run(
        vec!["ps".into()],
        &[
            ("SKIFF_HOST", host),
            ("SKIFF_TLS_VERIFY", "1"),
            ("SKIFF_CERT_PATH", &cert_path),
        ],
    )
    .ok();
    assert!(r.stdout.starts_with("CONTAINER ID"));
    // The stock Docker client with the same directory.
    let docker = docker_bin().display().to_string();
    let r = a
        .in_netns(
            &docker,
            &[
                "--tlsverify",
                "-H",
                host,
                "run",
                "--rm",
                "busybox",
                "echo",
                "docker tls",
            ],
            &[("DOCKER_CERT_PATH", &cert_path)],
        )
        .ok();
    assert_eq!(r.out(), "docker tls");

    // Refused: a client certificate from another CA, expired, not yet valid.
    for (dir, why) in [
        ("other", "another CA"),
        ("expired", "expired"),
        ("future", "not yet valid"),
    ] {
        let r = run(with(dir, &["ps"]), &[]);
        assert_ne!(r.code, 0, "{why} client was accepted");
        assert!(
            r.stderr.contains("error during connect") || r.stderr.contains("TLS"),
            "{why}: {}",
            r.stderr
        );
    }
    // Refused: no client certificate at all.
    let r = a.in_netns(
        "curl",
        &["-sS", "--cacert", &pki.p("cli/ca.pem"), "https://localhost:2376/_ping"],
        &[],
    );
    assert_ne!(r.code, 0, "no client cert was accepted: {}", r.stdout);
    // Refused: the server's certificate does not name 127.0.0.1.
    let mut args = client_args("tcp://127.0.0.1:2376", &pki.dir.join("cli"));
    args.push("ps".into());
    let r = run(args, &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("not valid for name"), "{}", r.stderr);
    // Plain HTTP on the TLS port gets Docker's answer.
    let r = a.in_netns("curl", &["-s", "http://127.0.0.1:2376/_ping"], &[]);
    assert!(
        r.stdout.contains("Client sent an HTTP request to an HTTPS server"),
        "{}",
        r.stdout
    );
    // Each refusal left a line in the agent's log.
    let log = a.log();
    assert!(log.contains("peer sent no certificates"), "{log}");
    assert!(log.contains("plain HTTP on the TLS port refused"), "{log}");
    assert!(log.matches("TLS handshake failed").count() >= 4, "{log}");
    a.finish();
}

#[test]
fn sighup_reloads_certificates_without_touching_containers() {
    let pki = Pki::new("hup");
    let a = pki.agent();
    a.skiff(&["run", "-d", "--name", "keep", "busybox", "sleep", "300"])
        .ok();
    let skiff = bin_dir().join("skiff").display().to_string();
    let host = "tcp://localhost:2376";
    let ps = |dir: &str| {
        let mut args = client_args(host, &pki.dir.join(dir));
        args.push("ps".into());
        a.in_netns(&skiff, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
    };
    ps("cli").ok();
    // Rotate to a new CA: new server certificate and CA file, then SIGHUP.
    let d = |s: &str| pki.dir.join(s);
    create_ca(&d("ca2"), "rotated", Validity::days(1)).unwrap();
    issue(
        &d("ca2"),
        &d("srv"),
        "localhost",
        Role::Server {
            sans: &["localhost".into()],
        },
        Validity::days(1),
    )
    .unwrap();
    issue(&d("ca2"), &d("cli2"), "bob", Role::Client, Validity::days(1)).unwrap();
    std::fs::copy(d("ca2/ca.pem"), d("srv/ca.pem")).unwrap();
    let agent_pid = a.agent_pid();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(agent_pid), nix::sys::signal::Signal::SIGHUP).unwrap();
    a.eventually("reload", || a.log().contains("TLS certificates reloaded"));
    ps("cli2").ok();
    assert_ne!(ps("cli").code, 0, "the old CA's client is still accepted");
    assert_eq!(a.inspect("keep", "{{.State.Status}}"), "running");
    a.finish();
}

#[test]
fn tcp_without_tls_needs_an_explicit_insecure_flag() {
    let r: skiff_tests::Run = std::process::Command::new(bin_dir().join("skiff-agent"))
        .args([
            "-H",
            "tcp://127.0.0.1:0",
            "--data-root",
            "/tmp/skiff-never",
            "--config-file",
            "/nonexistent",
        ])
        .output()
        .unwrap()
        .into();
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("refusing to serve tcp:// without --tlsverify"),
        "{}",
        r.stderr
    );
    assert!(!Path::new("/tmp/skiff-never").exists());
    let a = Agent::start_with(&["-H", "tcp://127.0.0.1:2375", "--insecure-tcp"]);
    // The unix socket (what start waits for) comes up before the TCP one.
    a.eventually("the insecure-TCP warning", || a.log().contains("WITHOUT TLS"));
    let skiff = bin_dir().join("skiff").display().to_string();
    let r = a.in_netns(&skiff, &["-H", "tcp://127.0.0.1:2375", "version"], &[]).ok();
    assert!(r.stdout.contains("API version:      1.41"), "{}", r.stdout);
    a.finish();
}

/// Sign a client certificate with a cluster role (as the controller signs
/// its members') with the test CA, into `dir` as a client directory.
fn role_client(pki: &Pki, dir: &str, role: skiff_certs::cluster::Role) {
    use skiff_certs::{cluster, files};
    let ca = |f: &str| std::fs::read_to_string(pki.dir.join("ca").join(f)).unwrap();
    let (key, csr) = cluster::new_key_and_csr(dir).unwrap();
    let who = cluster::Identity {
        id: format!("{dir}-id"),
        role,
        cluster: "test-cluster".into(),
    };
    let cert = cluster::sign_request(&ca(files::CA), &ca(files::CA_KEY), &csr, &who, Validity::days(1)).unwrap();
    let out = pki.dir.join(dir);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(files::CLIENT_CERT), cert).unwrap();
    std::fs::write(out.join(files::CLIENT_KEY), key).unwrap();
    std::fs::write(out.join(files::CA), ca(files::CA)).unwrap();
}

#[test]
fn a_cluster_certificate_does_what_its_role_allows() {
    use skiff_certs::cluster::Role as ClusterRole;
    let pki = Pki::new("roles");
    role_client(&pki, "admin", ClusterRole::Admin);
    role_client(&pki, "readonly", ClusterRole::Readonly);
    role_client(&pki, "agent", ClusterRole::Agent);
    let a = pki.agent();
    a.skiff(&["run", "-d", "--name", "keep", "busybox", "sleep", "300"])
        .ok();
    let skiff = bin_dir().join("skiff").display().to_string();
    let docker = docker_bin().display().to_string();
    let run = |bin: &str, dir: &str, rest: &[&str]| {
        let mut args = client_args("tcp://localhost:2376", &pki.dir.join(dir));
        args.extend(rest.iter().map(|s| s.to_string()));
        a.in_netns(bin, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
    };
    // An admin changes anything.
    assert_eq!(
        run(&skiff, "admin", &["run", "--rm", "busybox", "echo", "hi"])
            .ok()
            .out(),
        "hi"
    );
    // Read-only: reads are served, every change is refused with a reason.
    for bin in [&skiff, &docker] {
        let r = run(bin, "readonly", &["ps"]).ok();
        assert!(r.stdout.contains("keep"), "{}", r.stdout);
        assert_eq!(
            run(bin, "readonly", &["inspect", "-f", "{{.State.Status}}", "keep"])
                .ok()
                .out(),
            "running"
        );
        let r = run(bin, "readonly", &["stop", "keep"]);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains("permission denied: this certificate is read-only"),
            "{}",
            r.stderr
        );
        let r = run(bin, "readonly", &["run", "--rm", "busybox", "true"]);
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    }
    // An agent's certificate is no client at all.
    for bin in [&skiff, &docker] {
        let r = run(bin, "agent", &["ps"]);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr
                .contains("an agent's certificate cannot be used as a client certificate"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(a.inspect("keep", "{{.State.Status}}"), "running");
    a.finish();
}
