//! syslog over `tcp+tls://` into a real rsyslogd with its gtls netstream
//! driver, which demands a client certificate from the test's CA: the
//! `syslog-tls-*` options, RFC 5425 octet counting for rfc5424, the
//! default format, `syslog-tls-skip-verify`, `logs` from the cache, and
//! Docker's "failed to initialize logging driver" for a server the CA did
//! not sign and for missing files. Traffic stays on the agent's loopback.

use std::path::Path;

use skiff_certs::issue::{self, Role, Validity};
use skiff_tests::rsyslog::Rsyslog;
use skiff_tests::{Agent, Run};

const PORT: u16 = 6514;

/// A CA, the server's certificate (127.0.0.1) and a client's, and a CA
/// that signed neither.
fn certs(dir: &Path) {
    let v = Validity::days(1);
    issue::create_ca(&dir.join("ca"), "syslog test CA", v).unwrap();
    let sans = ["127.0.0.1".to_string(), "localhost".to_string()];
    issue::issue(
        &dir.join("ca"),
        &dir.join("server"),
        "rsyslog",
        Role::Server { sans: &sans },
        v,
    )
    .unwrap();
    issue::issue(&dir.join("ca"), &dir.join("client"), "skiff", Role::Client, v).unwrap();
    issue::create_ca(&dir.join("other"), "another CA", v).unwrap();
}

fn rsyslog_tls(a: &Agent) -> Rsyslog {
    let inputs = format!(
        "global(DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"{{dir}}/ca/ca.pem\" \
         DefaultNetstreamDriverCertFile=\"{{dir}}/server/server-cert.pem\" \
         DefaultNetstreamDriverKeyFile=\"{{dir}}/server/server-key.pem\")\n\
         module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" \
         StreamDriver.AuthMode=\"x509/certvalid\")\n\
         input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{PORT}\")\n"
    );
    certs(&a.root.join("rsyslog-tls"));
    Rsyslog::start_with(a, "rsyslog-tls", &inputs)
}

fn run(a: &Agent, name: &str, opts: &[&str], cmd: &[&str]) -> Run {
    let mut args = vec!["run", "--name", name, "--log-driver", "syslog"];
    for o in opts {
        args.extend(["--log-opt", o]);
    }
    a.skiff(&[&args[..], &["busybox"], cmd].concat())
}

#[test]
fn syslog_over_tls_reaches_a_real_rsyslog_with_client_certificates() {
    let a = Agent::start();
    let rs = rsyslog_tls(&a);
    let d = rs.dir.display().to_string();
    let address = format!("syslog-address=tcp+tls://127.0.0.1:{PORT}");
    let ca = format!("syslog-tls-ca-cert={d}/ca/ca.pem");
    let cert = format!("syslog-tls-cert={d}/client/cert.pem");
    let key = format!("syslog-tls-key={d}/client/key.pem");
    let mutual = [address.as_str(), &ca, &cert, &key];

    let opts = [&mutual[..], &["syslog-format=rfc5424", "tag=tls-{{.Name}}"]].concat();
    run(
        &a,
        "t1",
        &opts,
        &["sh", "-c", "echo first over tls; echo second over tls"],
    )
    .ok();
    let got = rs.wait_for("second over tls");
    assert!(got.contains("tls-t1") && got.contains("first over tls"), "{got}");
    // Octet counting (RFC 5425): rsyslog took each frame as one message,
    // so no length or raw header shows in the text.
    for l in got.lines().filter(|l| l.contains("over tls")) {
        assert!(l.ends_with("first over tls") || l.ends_with("second over tls"), "{l}");
        assert!(!l.contains(" <") && !l.contains("- 1"), "{l}");
    }
    let r = a.skiff(&["logs", "t1"]).ok();
    assert_eq!(r.stdout, "first over tls\nsecond over tls\n");

    // Docker's default format, newline-framed.
    run(&a, "t2", &mutual, &["echo", "plain format over tls"]).ok();
    let got = rs.wait_for("plain format over tls");
    assert!(
        got.contains("t2") || got.contains(&a.inspect("t2", "{{.Id}}")[..12]),
        "{got}"
    );

    // skip-verify: no CA, the server's certificate is taken as it is.
    let skip = [address.as_str(), &cert, &key, "syslog-tls-skip-verify=true"];
    run(&a, "t3", &skip, &["echo", "unverified over tls"]).ok();
    rs.wait_for("unverified over tls");

    // A server the given CA did not sign: the start fails, nothing runs.
    let other = format!("syslog-tls-ca-cert={d}/other/ca.pem");
    let r = run(&a, "t4", &[address.as_str(), &other, &cert, &key], &["echo", "never"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(
        r.stderr
            .contains("failed to initialize logging driver: x509: certificate signed by unknown authority"),
        "{}",
        r.stderr
    );
    // Docker's CLI turns a start error that says "no such file or
    // directory" into 127.
    let r = run(
        &a,
        "t5",
        &[address.as_str(), &ca, &cert, "syslog-tls-key=/nope/key.pem"],
        &["true"],
    );
    assert_eq!(r.code, 127, "{r:?}");
    assert!(
        r.stderr
            .contains("failed to initialize logging driver: open /nope/key.pem: no such file or directory"),
        "{}",
        r.stderr
    );
    let got = rs.got();
    assert!(!got.contains("never"), "{got}");
    drop(rs);
    a.finish();
}
