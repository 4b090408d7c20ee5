//! Revoking a client certificate: the controller and every agent's own
//! TLS listener (its CA the cluster's) refuse it from then on, across an
//! agent restart, while other certificates keep working.

use std::path::{Path, PathBuf};
use std::process::Command;

use skiff_tests::cluster::Cluster;
use skiff_tests::{bin_dir, Run};

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(format!("/tmp/skiff-revoke-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The CLI straight at host h1's TLS listener with the certificates in `certs`.
fn on_agent(c: &Cluster, certs: &Path, args: &[&str]) -> Run {
    Command::new(bin_dir().join("skiff"))
        .env("SKIFF_HOST", format!("tcp://{}.11:2376", c.net))
        .env("SKIFF_TLS_VERIFY", "1")
        .env("SKIFF_CERT_PATH", certs)
        .env_remove("SKIFF_NODE")
        .args(args)
        .output()
        .expect("skiff")
        .into()
}

fn login(c: &Cluster, role: &str, dir: &Path) -> String {
    let r = c.login(role, dir);
    // "Logged in to ADDR as ID (ROLE)."
    r.stdout
        .split_whitespace()
        .skip_while(|w| *w != "as")
        .nth(1)
        .expect("the login names the client's ID")
        .to_string()
}

#[test]
fn a_revoked_client_certificate_is_refused_by_the_controller_and_by_agents() {
    let c = Cluster::up_with(1, &[("SKIFF_CLUSTER_AGENT_TLS", "1")]);
    let eve = tmp("eve");
    let ro = tmp("ro");
    let eve_id = login(&c, "admin", &eve);
    let ro_id = login(&c, "readonly", &ro);

    // Before: both reach the controller and the agent, each as its role.
    c.skiff_with(&eve, &["node", "ls"]).ok();
    on_agent(&c, &eve, &["volume", "create", "eve-vol"]).ok();
    on_agent(&c, &eve, &["volume", "rm", "eve-vol"]).ok();
    on_agent(&c, &ro, &["ps"]).ok();
    let r = on_agent(&c, &ro, &["volume", "create", "nope"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);

    // The list shows who holds a certificate.
    let list = c.skiff(&["cluster", "clients"]).ok().stdout;
    assert!(list.contains(&eve_id) && list.contains(&ro_id), "{list}");
    assert!(list.contains("admin") && list.contains("readonly"), "{list}");
    let r = c.skiff_with(&ro, &["cluster", "clients", "rm", &eve_id]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    let r = c.skiff(&["cluster", "clients", "rm", "no-such-client"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("client no-such-client not found"), "{}", r.stderr);

    // Connections eve opens now stay open (kept-alive clients): they too
    // must be refused once the certificate is revoked.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let held = |host: String| {
        let tls = skiff_client::TlsOptions::in_dir(&eve);
        let client = skiff_client::Client::from_host(&host, Some(tls)).unwrap();
        rt.block_on(client.version()).unwrap();
        client
    };
    let held_agent = held(format!("tcp://{}.11:2376", c.net));
    let held_controller = held(format!("tcp://{}", c.controller()));

    // Revoke eve: refused by the controller at once, by the agent as soon
    // as the list reaches it through its session.
    assert_eq!(c.skiff(&["cluster", "clients", "rm", &eve_id]).ok().out(), eve_id);
    assert!(!c.skiff(&["cluster", "clients", "-q"]).ok().stdout.contains(&eve_id));
    let r = c.skiff_with(&eve, &["node", "ls"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    c.eventually(10, "the agent to refuse the revoked certificate", || {
        on_agent(&c, &eve, &["ps"]).code != 0
    });
    let r = on_agent(&c, &eve, &["ps"]);
    assert!(r.stderr.to_lowercase().contains("revoked"), "{}", r.stderr);
    let log = std::fs::read_to_string(c.dir.join("h1/agent.log")).unwrap();
    assert!(log.contains("TLS handshake failed") && log.contains("Revoked"), "{log}");
    for client in [&held_agent, &held_controller] {
        let e = rt.block_on(client.version()).unwrap_err().to_string();
        assert!(e.contains("revoked"), "{e}");
    }
    // Refused on the open connection, not at a new handshake.
    let log = std::fs::read_to_string(c.dir.join("h1/agent.log")).unwrap();
    assert!(log.contains("refused: this certificate has been revoked"), "{log}");
    let log = std::fs::read_to_string(c.dir.join("controller.log")).unwrap();
    assert!(log.contains("request with a revoked certificate refused"), "{log}");
    let kept = std::fs::read_to_string(c.agent_data(1).join("cluster/revoked")).unwrap();
    assert!(kept.contains(&eve_id), "{kept}");

    // Everyone else is untouched: the read-only client, the admin.
    on_agent(&c, &ro, &["ps"]).ok();
    on_agent(&c, &c.admin_certs(), &["ps"]).ok();
    c.skiff_with(&ro, &["node", "ls"]).ok();

    // An agent restarted with the controllers unreachable still refuses it:
    // the list is kept on disk.
    c.script(&["stop-controller"]).ok();
    c.script(&["stop-agent", "1"]).ok();
    c.script(&["start-agent", "1"]).ok();
    let r = on_agent(&c, &eve, &["ps"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.to_lowercase().contains("revoked"), "{}", r.stderr);
    on_agent(&c, &c.admin_certs(), &["ps"]).ok();
    c.script(&["start-controller"]).ok();
    c.eventually(20, "h1 back", || {
        c.skiff(&["node", "inspect", "-f", "{{.Status.State}}", "h1"]).out() == "ready"
    });

    for d in [eve, ro] {
        let _ = std::fs::remove_dir_all(d);
    }
    c.finish();
}
