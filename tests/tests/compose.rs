//! `compose`: Debian's `docker-compose` (1.29, docker-py underneath)
//! against a real agent: a two-service project on its own networks with
//! named volumes, brought up, inspected, exec'd into and taken down.

use std::path::PathBuf;

use skiff_tests::{Agent, Run};

/// `db` answers `pong` on TCP 5000, notes it is ready on its volume and
/// reports healthy once it has; `web` waits for that, asks `db` by its
/// alias on the `back` network (the embedded DNS) and keeps what it got
/// on its own volume, which its httpd serves on a published port.
const COMPOSE_FILE: &str = r#"version: "3.7"
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo ready > /data/state; echo db ready as $$DB_NAME; exec nc -ll -p 5000 -e echo pong"]
    environment:
      DB_NAME: stock
    volumes:
      - dbdata:/data
    networks:
      back:
        aliases: [database]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/state"]
      interval: 1s
      timeout: 2s
      retries: 3
    mem_limit: 64m
    logging:
      driver: json-file
      options:
        max-size: 1m
  web:
    image: busybox
    depends_on:
      db:
        condition: service_healthy
    command: ["sh", "-c", "httpd -p 8080 -h /out; while true; do echo hi | nc -w 2 database 5000 > /out/got.new && mv /out/got.new /out/got; sleep 0.2; done"]
    ports:
      - "127.0.0.1:18080:8080"
    volumes:
      - webdata:/out
    networks: [back, default]
    cpus: 0.5
volumes:
  dbdata:
  webdata:
networks:
  back:
"#;

/// A compose project: its directory (holding `docker-compose.yml`) and name.
struct Project<'a> {
    agent: &'a Agent,
    dir: PathBuf,
    name: String,
}

impl<'a> Project<'a> {
    fn new(agent: &'a Agent, tag: &str) -> Self {
        let name = format!("skc{tag}{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("skiff-compose-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("docker-compose.yml"), COMPOSE_FILE).expect("write compose file");
        Self { agent, dir, name }
    }

    /// `docker-compose -p NAME ARGS` against the agent. Exec and run go
    /// through docker-py (`COMPOSE_INTERACTIVE_NO_CLI`), not the docker CLI.
    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[("COMPOSE_INTERACTIVE_NO_CLI", "1")])
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        std::process::Command::new("docker-compose")
            .current_dir(&self.dir)
            .env("DOCKER_HOST", self.agent.host())
            .envs(env.iter().copied())
            .args(["--ansi", "never", "-p", &self.name])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("docker-compose (Debian's, installed by deploy/setup.sh --with-docker-client)")
            .into()
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code,
            0,
            "docker-compose {args:?}: {r:?}\nagent log:\n{}",
            self.agent.log()
        );
        r
    }

    fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.name)
    }

    /// What `exec -T SERVICE CMD…` prints, with its exit code.
    fn exec(&self, service: &str, cmd: &[&str]) -> (i32, String) {
        let mut args = vec!["exec", "-T", service];
        args.extend_from_slice(cmd);
        let r = self.run(&args);
        (r.code, r.stdout.trim().to_string())
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn docker_compose_up_ps_logs_exec_down() {
    let a = Agent::start();
    let p = Project::new(&a, "u");
    let (db, web) = (p.container("db"), p.container("web"));

    p.ok(&["up", "-d"]);
    for (name, service) in [(&db, "db"), (&web, "web")] {
        assert_eq!(a.inspect(name, "{{.State.Status}}"), "running");
        let labels = a.inspect(
            name,
            r#"{{index .Config.Labels "com.docker.compose.project"}} {{index .Config.Labels "com.docker.compose.service"}}"#,
        );
        assert_eq!(labels, format!("{} {service}", p.name));
    }
    // What the compose file asked for, as Docker records it.
    let db_conf =
        "{{.HostConfig.Memory}} {{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}}";
    assert_eq!(a.inspect(&db, db_conf), "67108864 json-file 1m");
    assert_eq!(a.inspect(&web, "{{.HostConfig.NanoCpus}}"), "500000000");
    assert_eq!(p.exec("db", &["sh", "-c", "echo $DB_NAME"]), (0, "stock".into()));

    let ps = p.ok(&["ps"]);
    let line = |name: &str| {
        ps.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line(&db).contains("Up (healthy)"), "{ps:?}");
    assert!(line(&web).contains("127.0.0.1:18080->8080/tcp"), "{ps:?}");

    // web reaches db by its alias on the project's `back` network.
    let net = format!("{}_back", p.name);
    let db_ip = a.inspect(
        &db,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    let (code, look) = p.exec("web", &["nslookup", "database"]);
    assert!(
        code == 0 && !db_ip.is_empty() && look.contains(&db_ip),
        "{look} (db is {db_ip})"
    );
    a.eventually("web to fetch db's answer onto its volume", || {
        p.exec("web", &["cat", "/out/got"]).1 == "pong"
    });
    let served = a.in_netns("wget", &["-qO-", "http://127.0.0.1:18080/got"], &[]);
    assert_eq!(served.stdout.trim(), "pong", "{served:?}");
    assert_eq!(p.exec("db", &["cat", "/data/state"]), (0, "ready".into()));
    assert_eq!(p.exec("db", &["sh", "-c", "exit 3"]).0, 3);
    // And through the docker CLI, compose's default for exec.
    let via_cli = p.run_with(&["exec", "-T", "db", "sh", "-c", "echo via-cli; exit 4"], &[]);
    assert_eq!((via_cli.code, via_cli.stdout.trim()), (4, "via-cli"), "{via_cli:?}");

    let logs = p.ok(&["logs", "db"]);
    assert!(
        logs.stdout
            .lines()
            .any(|l| l.starts_with("db_1") && l.ends_with("db ready as stock")),
        "{logs:?}"
    );

    p.ok(&["down", "-v", "-t", "1"]);
    assert_eq!(a.skiff(&["ps", "-aq"]).ok().out(), "");
    let nets = a.skiff(&["network", "ls", "--format", "{{.Name}}"]).ok().stdout;
    assert!(!nets.contains(&p.name), "{nets}");
    let vols = a.skiff(&["volume", "ls", "-q"]).ok().stdout;
    assert!(!vols.contains(&p.name), "{vols}");
    drop(p);
    a.finish();
}

#[test]
fn docker_compose_volumes_outlive_down_and_services_restart_and_scale() {
    let a = Agent::start();
    let p = Project::new(&a, "d");
    p.ok(&["up", "-d"]);
    assert_eq!(p.exec("db", &["sh", "-c", "echo kept > /data/mark"]).0, 0);
    let first = a.inspect(&p.container("db"), "{{.Id}}");

    p.ok(&["down", "-t", "1"]);
    assert_eq!(a.skiff(&["ps", "-aq"]).ok().out(), "");
    p.ok(&["up", "-d"]);
    assert_ne!(a.inspect(&p.container("db"), "{{.Id}}"), first);
    assert_eq!(p.exec("db", &["cat", "/data/mark"]), (0, "kept".into()));

    let started = a.inspect(&p.container("web"), "{{.State.StartedAt}}");
    p.ok(&["restart", "-t", "1", "web"]);
    assert_ne!(a.inspect(&p.container("web"), "{{.State.StartedAt}}"), started);
    assert_eq!(a.inspect(&p.container("web"), "{{.State.Status}}"), "running");

    // Two web replicas would both want host port 18080: scale the one
    // without ports.
    p.ok(&["up", "-d", "--scale", "db=2", "--no-recreate"]);
    let second = format!("{}_db_2", p.name);
    assert_eq!(a.inspect(&second, "{{.State.Status}}"), "running");
    let (code, look) = p.exec("web", &["nslookup", "db"]);
    assert_eq!(code, 0, "{look}");
    assert_eq!(
        look.matches("Address: ").count(),
        2,
        "both db replicas answer to `db`: {look}"
    );

    p.ok(&["down", "-v", "-t", "1"]);
    assert_eq!(a.skiff(&["volume", "ls", "-q"]).ok().out(), "");
    drop(p);
    a.finish();
}
