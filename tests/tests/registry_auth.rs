//! Registries that ask for credentials (htpasswd) and registries over
//! HTTPS trusted through `certs.d`: `login`/`logout` with Docker's
//! config.json, and pull/push sending the stored credentials.

use std::process::Command;

use skiff_tests::registry::{Blob, Options, Registry};
use skiff_tests::{bin_dir, busybox_tar, Agent, Run};

/// `skiff …` with `DOCKER_CONFIG` set (and stdin).
fn skiff_cfg(a: &Agent, cfg: &std::path::Path, args: &[&str], stdin: &str) -> Run {
    let mut c = Command::new(bin_dir().join("skiff"));
    c.env("DOCKER_CONFIG", cfg).arg("-H").arg(a.host()).args(args);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("skiff");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), stdin.as_bytes()).expect("stdin");
    child.wait_with_output().expect("skiff").into()
}

/// `skiff login -u USER --password-stdin` to the test registry.
fn login(a: &Agent, cfg: &std::path::Path, user: &str, password: &str) -> Run {
    skiff_cfg(
        a,
        cfg,
        &["login", "-u", user, "--password-stdin", "127.0.0.1:5000"],
        password,
    )
}

#[test]
fn login_stores_credentials_and_pull_and_push_use_them() {
    let a = Agent::start();
    let reg = Registry::start_with(
        &a,
        Options {
            user: Some(("alice".into(), "s3cret".into())),
            ..Default::default()
        },
    );
    let cfg = a.root.join("client-config");
    a.skiff(&["tag", "busybox", "127.0.0.1:5000/private/box"]).ok();
    let r = skiff_cfg(&a, &cfg, &["push", "127.0.0.1:5000/private/box"], "");
    assert_eq!(r.code, 1, "{}", r.stdout);

    login(&a, &cfg, "alice", "wrong\n").fails(1, "401 Unauthorized");
    let r = login(&a, &cfg, "alice", "s3cret\n");
    assert_eq!((r.code, r.stdout.as_str()), (0, "Login Succeeded\n"), "{}", r.stderr);
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.join("config.json")).expect("config.json")).expect("json");
    assert_eq!(stored["auths"]["127.0.0.1:5000"]["auth"], "YWxpY2U6czNjcmV0"); // alice:s3cret

    let r = skiff_cfg(&a, &cfg, &["push", "127.0.0.1:5000/private/box"], "");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    a.skiff(&["rmi", "127.0.0.1:5000/private/box"]).ok();
    let r = skiff_cfg(&a, &cfg, &["pull", "127.0.0.1:5000/private/box"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        a.skiff(&["run", "--rm", "127.0.0.1:5000/private/box", "echo", "ok"])
            .ok()
            .stdout,
        "ok\n"
    );

    // The stock docker client logs in through the agent's /auth.
    let dcfg = a.root.join("docker-config");
    let d = Command::new(skiff_tests::docker_bin())
        .env("DOCKER_HOST", a.host())
        .args([
            "--config",
            dcfg.to_str().unwrap(),
            "login",
            "-u",
            "alice",
            "-p",
            "s3cret",
            "127.0.0.1:5000",
        ])
        .output()
        .expect("docker");
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));

    let r = skiff_cfg(&a, &cfg, &["logout", "127.0.0.1:5000"], "");
    assert_eq!(r.stdout, "Removing login credentials for 127.0.0.1:5000\n");
    a.skiff(&["rmi", "127.0.0.1:5000/private/box"]).ok();
    skiff_cfg(&a, &cfg, &["pull", "127.0.0.1:5000/private/box"], "").fails(1, "may require 'docker login'");
    drop(reg);
    a.finish();
}

#[test]
fn a_registry_over_https_is_trusted_through_certs_d() {
    let pki = std::env::temp_dir().join(format!("skiff-pki-{}", std::process::id()));
    let certs_d = pki.join("certs.d");
    let skiff = bin_dir().join("skiff");
    let run = |args: &[&str]| {
        let o = Command::new(&skiff).args(args).output().expect("skiff certs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (ca, srv) = (pki.join("ca"), pki.join("srv"));
    run(&["certs", "ca", "--out", ca.to_str().unwrap()]);
    run(&[
        "certs",
        "server",
        "--ca",
        ca.to_str().unwrap(),
        "--out",
        srv.to_str().unwrap(),
        "--san",
        "127.0.0.1",
    ]);
    std::fs::create_dir_all(certs_d.join("127.0.0.1:5443")).unwrap();
    std::fs::copy(ca.join("ca.pem"), certs_d.join("127.0.0.1:5443/ca.crt")).unwrap();

    let a = Agent::start_with(&["--certs-dir", certs_d.to_str().unwrap()]);
    let reg = Registry::start_with(
        &a,
        Options {
            tls: Some((srv.join("server-cert.pem"), srv.join("server-key.pem"))),
            ..Default::default()
        },
    );
    let base = Blob::gzip(&std::fs::read(busybox_tar()).expect("busybox"));
    reg.push("secure", "v1", &[&base], "amd64");
    let r = a.skiff(&["pull", "127.0.0.1:5443/secure:v1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        a.skiff(&["run", "--rm", "127.0.0.1:5443/secure:v1", "echo", "tls"])
            .ok()
            .stdout,
        "tls\n"
    );

    // Without the CA, a loopback registry is spoken to in plain HTTP,
    // which a TLS port refuses.
    std::fs::remove_dir_all(&certs_d).unwrap();
    a.skiff(&["rmi", "127.0.0.1:5443/secure:v1"]).ok();
    assert_eq!(a.skiff(&["pull", "127.0.0.1:5443/secure:v1"]).code, 1);
    drop(reg);

    // A registry that requires a client certificate gets the one in
    // certs.d (NAME.cert with NAME.key, as Docker's layout).
    let cli = pki.join("client");
    run(&[
        "certs",
        "client",
        "--ca",
        ca.to_str().unwrap(),
        "--out",
        cli.to_str().unwrap(),
        "--cn",
        "puller",
    ]);
    let (cert, key) = (cli.join("cert.pem"), cli.join("key.pem"));
    let reg = Registry::start_with(
        &a,
        Options {
            tls: Some((srv.join("server-cert.pem"), srv.join("server-key.pem"))),
            client_ca: Some((ca.join("ca.pem"), cert.clone(), key.clone())),
            ..Default::default()
        },
    );
    reg.push("mutual", "v1", &[&base], "amd64");
    let dir = certs_d.join("127.0.0.1:5443");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(ca.join("ca.pem"), dir.join("ca.crt")).unwrap();
    // The CA alone: the registry refuses the handshake.
    assert_eq!(a.skiff(&["pull", "127.0.0.1:5443/mutual:v1"]).code, 1);
    // A certificate without its key: Docker's message in the agent's log.
    std::fs::copy(&cert, dir.join("client.cert")).unwrap();
    assert_eq!(a.skiff(&["pull", "127.0.0.1:5443/mutual:v1"]).code, 1);
    assert!(a.log().contains("missing key"), "{}", a.log());
    std::fs::copy(&key, dir.join("client.key")).unwrap();
    a.skiff(&["pull", "127.0.0.1:5443/mutual:v1"]).ok();
    a.skiff(&["tag", "127.0.0.1:5443/mutual:v1", "127.0.0.1:5443/mutual:v2"])
        .ok();
    a.skiff(&["push", "127.0.0.1:5443/mutual:v2"]).ok();
    drop(reg);
    a.finish();
    std::fs::remove_dir_all(&pki).unwrap();
}

#[test]
fn the_bearer_token_flow_pulls_and_pushes() {
    let a = Agent::start();
    let issuer = skiff_tests::token::TokenIssuer::start(&a, &a.root.join("token"), ("bob", "t0ken"));
    let reg = Registry::start_with(
        &a,
        Options {
            auth: Some(issuer.registry_auth()),
            ..Default::default()
        },
    );
    let cfg = a.root.join("client-config");
    a.skiff(&["tag", "busybox", "127.0.0.1:5000/team/box:v1"]).ok();
    // Anonymous: a token that grants nothing.
    let r = skiff_cfg(&a, &cfg, &["push", "127.0.0.1:5000/team/box:v1"], "");
    assert_eq!(r.code, 1, "{}", r.stdout);
    let r = login(&a, &cfg, "bob", "nope\n");
    assert_eq!(r.code, 1, "{}", r.stdout);
    let r = login(&a, &cfg, "bob", "t0ken\n");
    assert_eq!((r.code, r.stdout.as_str()), (0, "Login Succeeded\n"), "{}", r.stderr);

    let r = skiff_cfg(&a, &cfg, &["push", "127.0.0.1:5000/team/box:v1"], "");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("v1: digest: sha256:"), "{}", r.stdout);
    a.skiff(&["rmi", "127.0.0.1:5000/team/box:v1"]).ok();
    let r = skiff_cfg(&a, &cfg, &["pull", "127.0.0.1:5000/team/box:v1"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = a
        .skiff(&["run", "--rm", "127.0.0.1:5000/team/box:v1", "echo", "token"])
        .ok();
    assert_eq!(out.stdout, "token\n");
    // Without the stored credentials the pull is refused as Docker words it.
    a.skiff(&["rmi", "127.0.0.1:5000/team/box:v1"]).ok();
    a.skiff(&["pull", "127.0.0.1:5000/team/box:v1"])
        .fails(1, "pull access denied for 127.0.0.1:5000/team/box");
    let asked = issuer.requests.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
    assert!(asked.contains("bob repository:team/box:pull,push"), "{asked}");
    assert!(asked.contains("bob repository:team/box:pull"), "{asked}");
    drop(reg);
    drop(issuer);
    a.finish();
}
