//! Docker's logging drivers as a user meets them: `--log-driver` and
//! `--log-opt` checked at create (125 and Docker's texts), `local` and
//! `none` with `logs`, syslog into a real rsyslogd (UDP, TCP and a unix
//! datagram socket), gelf (UDP gzip and chunks, TCP) and fluentd (the
//! Forward protocol) into receivers decoded here, journald's native
//! protocol into a socket of the test's (`SKIFF_JOURNAL_SOCKET`), dual
//! logging (`logs` from the local cache), the start failing when the
//! destination is unreachable, and the daemon's defaults. All traffic
//! stays on the loopback of the test agent's network namespace.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use skiff_tests::rsyslog::Rsyslog;
use skiff_tests::{busybox_tar, Agent, Run};

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(r.out()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// Run `f` on a thread inside the agent's network namespace: sockets it
/// makes stay in that namespace (its loopback is the containers' view of
/// the agent's 127.0.0.1).
fn in_ns<T: Send + 'static>(a: &Agent, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{}", a.netns);
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).expect("netns file");
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("thread in the namespace")
}

/// Everything sent on the first connection that carries data. The agent
/// connects once at start to check the destination and closes that
/// connection empty; the container's monitor then connects for good.
fn first_data(l: TcpListener) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || loop {
        let (mut s, _) = l.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        if !got.is_empty() {
            return got;
        }
    })
}

/// `skiff` with whitespace-separated `words`, then `rest` as they are
/// (commands with spaces).
fn skiff_words(a: &Agent, words: &str, rest: &[&str]) -> Run {
    let mut args: Vec<&str> = words.split_whitespace().collect();
    args.extend_from_slice(rest);
    a.skiff(&args)
}

/// `n` GELF messages from `udp`, chunks joined, gzip undone.
fn recv_gelf(udp: &UdpSocket, n: usize) -> Vec<serde_json::Value> {
    let mut msgs = Vec::new();
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut buf = vec![0u8; 65536];
    while msgs.len() < n {
        let len = udp.recv(&mut buf).expect("a GELF datagram");
        let d = &buf[..len];
        let whole = if d[..2] == [0x1e, 0x0f] {
            let (seq, count) = (d[10] as usize, d[11] as usize);
            parts.resize(count, Vec::new());
            parts[seq] = d[12..].to_vec();
            if parts.iter().any(Vec::is_empty) {
                continue;
            }
            std::mem::take(&mut parts).concat()
        } else {
            d.to_vec()
        };
        let mut s = String::new();
        flate2::read::GzDecoder::new(&whole[..])
            .read_to_string(&mut s)
            .expect("gzip");
        msgs.push(serde_json::from_str(&s).unwrap());
    }
    msgs
}

fn short(a: &Agent, name: &str) -> String {
    a.inspect(name, "{{.Id}}")[..12].to_string()
}

#[test]
fn unknown_drivers_and_options_are_refused_at_create_with_125() {
    let a = Agent::start();
    let cases: &[(&[&str], &str)] = &[
        (&["--log-driver", "x"], "logger: no log driver named 'x' is registered"),
        (
            &["--log-driver", "syslog", "--log-opt", "foo=1"],
            "unknown log opt 'foo' for syslog log driver",
        ),
        (
            &["--log-opt", "foo=1"],
            "unknown log opt 'foo' for json-file log driver",
        ),
        (&["--log-driver", "gelf"], "gelf-address is a required parameter"),
        (
            &["--log-driver", "local", "--log-opt", "max-file=1"],
            "compression cannot be enabled when max file count is 1",
        ),
        (
            &["--log-driver", "syslog", "--log-opt", "syslog-format=x"],
            "Invalid syslog format",
        ),
        (
            &["--log-driver", "fluentd", "--log-opt", "mode=fast"],
            "logger: logging mode not supported: fast",
        ),
    ];
    for (flags, msg) in cases {
        for verb in ["create", "run"] {
            let args = [&[verb][..], flags, &["busybox", "true"]].concat();
            let r = a.skiff(&args);
            assert_eq!(r.code, 125, "{args:?}: {r:?}");
            assert!(
                r.stderr.contains(&format!("Error response from daemon: {msg}")),
                "{args:?}: {}",
                r.stderr
            );
        }
    }
    assert_eq!(a.skiff(&["ps", "-aq"]).ok().out(), "", "nothing created");
    a.finish();
}

#[test]
fn local_driver_rotates_compressed_files_and_logs_reads_them_none_cannot_be_read() {
    let a = Agent::start();
    let script = "for i in $(seq 1 300); do echo line $i; done; echo err >&2";
    a.skiff(&[
        "run",
        "--name",
        "loc",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        script,
    ])
    .ok();
    let id = a.inspect("loc", "{{.Id}}");
    let dir = a.root.join(format!("data/containers/{id}/local-logs"));
    assert!(dir.join("container.log.1.gz").exists() && dir.join("container.log.2.gz").exists());
    assert!(!dir.join("container.log.3.gz").exists());
    let r = a.skiff(&["logs", "loc"]).ok();
    assert!(r.stdout.ends_with("line 299\nline 300\n"), "{}", r.stdout);
    assert_eq!(r.stderr, "err\n");
    assert!(r.stdout.lines().count() < 300, "rotated away");
    let r = a.skiff(&["logs", "--tail", "2", "-t", "loc"]).ok();
    assert!(r.stdout.lines().last().unwrap().ends_with("Z line 300"), "{}", r.stdout);
    let lc = json(
        &a.skiff(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", "loc"])
            .ok(),
    );
    assert_eq!(lc["Type"], "local");
    assert_eq!(lc["Config"]["max-size"], "2k");
    assert_eq!(a.inspect("loc", "{{.LogPath}}"), "");
    // The dual-logging cache takes the local driver's options as cache-*.
    let flags = "run --name cached --log-driver gelf --log-opt gelf-address=udp://127.0.0.1:9 \
                 --log-opt cache-max-size=1k --log-opt cache-max-file=2 --log-opt cache-compress=false busybox";
    skiff_words(
        &a,
        flags,
        &["sh", "-c", "for i in $(seq 1 100); do echo cached $i; done"],
    )
    .ok();
    let cdir = a
        .root
        .join(format!("data/containers/{}", a.inspect("cached", "{{.Id}}")));
    assert!(cdir.join("container-cached.log.1").exists() && !cdir.join("container-cached.log.2").exists());
    let r = a.skiff(&["logs", "cached"]).ok();
    let listing: Vec<String> = std::fs::read_dir(&cdir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            format!("{} {}", e.file_name().to_string_lossy(), e.metadata().unwrap().len())
        })
        .collect();
    assert!(
        r.stdout.ends_with("cached 100\n") && !r.stdout.contains("cached 1\n"),
        "{listing:?} {:?}",
        r.stdout
    );
    // `logs -f` follows the local format while the container runs.
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "fol",
        "--log-driver",
        "local",
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 1; echo b",
    ])
    .ok();
    let r = a.skiff(&["logs", "-f", "fol"]).ok();
    assert_eq!(r.stdout, "a\nb\n");

    a.skiff(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hi",
    ])
    .ok();
    let r = a.skiff(&["logs", "quiet"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        "Error response from daemon: configured logging driver does not support reading"
    );
    a.finish();
}

#[test]
fn syslog_reaches_a_real_rsyslog_over_udp_tcp_and_unixgram_and_logs_reads_the_cache() {
    let a = Agent::start();
    let rs = Rsyslog::start(&a, 5514, 5515);
    a.skiff(&[
        "run",
        "--name",
        "sl",
        "--log-driver",
        "syslog",
        "--log-opt",
        "syslog-address=udp://127.0.0.1:5514",
        "--log-opt",
        "tag={{.Name}}/{{.ID}}",
        "--log-opt",
        "syslog-facility=local3",
        "busybox",
        "sh",
        "-c",
        "echo hello over udp; echo oops >&2",
    ])
    .ok();
    let got = rs.wait_for("hello over udp");
    let tag = format!("sl/{}", short(&a, "sl"));
    assert!(got.contains(&format!("{tag}[")), "the tag: {got}");
    rs.wait_for("oops");
    // Dual logging: `logs` from the local cache.
    let r = a.skiff(&["logs", "sl"]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("hello over udp\n", "oops\n"));

    a.skiff(&[
        "run",
        "--name",
        "st",
        "--log-driver",
        "syslog",
        "--log-opt",
        "syslog-address=tcp://127.0.0.1:5515",
        "--log-opt",
        "syslog-format=rfc5424",
        "--log-opt",
        "tag=tcp-{{.ImageName}}",
        "busybox",
        "sh",
        "-c",
        "echo first over tcp; echo second over tcp",
    ])
    .ok();
    let got = rs.wait_for("second over tcp");
    assert!(got.contains("tcp-busybox") && got.contains("first over tcp"), "{got}");

    let addr = format!("syslog-address=unixgram://{}", rs.sock.display());
    a.skiff(&[
        "run",
        "--name",
        "su",
        "--log-driver",
        "syslog",
        "--log-opt",
        &addr,
        "--log-opt",
        "syslog-format=rfc5424micro",
        "--log-opt",
        "cache-disabled=true",
        "busybox",
        "echo",
        "over a unix socket",
    ])
    .ok();
    rs.wait_for("over a unix socket");
    let r = a.skiff(&["logs", "su"]);
    assert_eq!(r.code, 1, "cache disabled: {r:?}");

    // An unreachable TCP address fails the start, nothing runs.
    let r = a.skiff(&[
        "run",
        "--log-driver",
        "syslog",
        "--log-opt",
        "syslog-address=tcp://127.0.0.1:1",
        "busybox",
        "echo",
        "x",
    ]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(
        r.stderr
            .contains("failed to initialize logging driver: dial tcp 127.0.0.1:1: connect: connection refused"),
        "{}",
        r.stderr
    );
    drop(rs);
    a.finish();
}

#[test]
fn gelf_over_udp_gzip_chunked_and_over_tcp() {
    let a = Agent::start();
    let udp = in_ns(&a, || UdpSocket::bind("127.0.0.1:0").unwrap());
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let addr = format!("gelf-address=udp://{}", udp.local_addr().unwrap());
    // 2000 random-ish bytes stay over one chunk even gzipped.
    let script = "echo short line; head -c 1500 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo";
    let flags = format!(
        "run --name g --label app=web -e REGION=eu --log-opt labels=app --log-opt env-regex=^REG \
         --log-driver gelf --log-opt {addr} busybox"
    );
    skiff_words(&a, &flags, &["sh", "-c", script]).ok();
    let msgs = recv_gelf(&udp, 2);
    let id = a.inspect("g", "{{.Id}}");
    assert_eq!(msgs[0]["short_message"], "short line");
    assert_eq!(msgs[0]["version"], "1.1");
    assert_eq!(msgs[0]["level"], 6);
    assert_eq!(msgs[0]["_container_id"], id.as_str());
    assert_eq!(msgs[0]["_container_name"], "g");
    assert_eq!(msgs[0]["_image_name"], "busybox");
    assert_eq!(msgs[0]["_tag"], &id[..12]);
    assert_eq!(
        (msgs[0]["_app"].as_str(), msgs[0]["_REGION"].as_str()),
        (Some("web"), Some("eu"))
    );
    assert_eq!(
        msgs[1]["short_message"].as_str().unwrap().len(),
        3000,
        "the chunked one"
    );
    assert_eq!(a.skiff(&["logs", "g"]).ok().stdout.lines().next(), Some("short line"));

    let tcp = in_ns(&a, || TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = format!("gelf-address=tcp://{}", tcp.local_addr().unwrap());
    let reader = first_data(tcp);
    a.skiff(&[
        "run",
        "--name",
        "gt",
        "--log-driver",
        "gelf",
        "--log-opt",
        &addr,
        "busybox",
        "sh",
        "-c",
        "echo a; echo b >&2",
    ])
    .ok();
    a.skiff(&["rm", "gt"]).ok();
    let got = reader.join().unwrap();
    let msgs: Vec<serde_json::Value> = got
        .split(|b| *b == 0)
        .filter(|m| !m.is_empty())
        .map(|m| serde_json::from_slice(m).unwrap())
        .collect();
    assert_eq!(msgs.len(), 2, "{}", String::from_utf8_lossy(&got));
    assert_eq!(
        (msgs[1]["short_message"].as_str(), msgs[1]["level"].as_i64()),
        (Some("b"), Some(3))
    );
    a.finish();
}

/// Just enough msgpack for a Forward message.
#[derive(Debug, PartialEq)]
enum Mp {
    Str(String),
    Int(u64),
    Time(u32, u32),
    Arr(Vec<Mp>),
    Map(Vec<(Mp, Mp)>),
}

fn mp(d: &[u8], p: &mut usize) -> Mp {
    let b = d[*p];
    *p += 1;
    let mut take = |n: usize| {
        let s = &d[*p..*p + n];
        *p += n;
        s.iter().fold(0u64, |acc, x| acc << 8 | u64::from(*x))
    };
    let str_of = |len: usize, p: &mut usize| {
        let s = String::from_utf8_lossy(&d[*p..*p + len]).into_owned();
        *p += len;
        Mp::Str(s)
    };
    match b {
        0xa0..=0xbf => str_of((b & 0x1f) as usize, p),
        0xd9 => {
            let n = take(1) as usize;
            str_of(n, p)
        }
        0xda => {
            let n = take(2) as usize;
            str_of(n, p)
        }
        0xce => Mp::Int(take(4)),
        0xd7 => {
            let _ext = take(1);
            let (s, n) = (take(4), take(4));
            Mp::Time(s as u32, n as u32)
        }
        0x90..=0x9f => Mp::Arr((0..b & 0xf).map(|_| mp(d, p)).collect()),
        0x80..=0x8f => Mp::Map((0..b & 0xf).map(|_| (mp(d, p), mp(d, p))).collect()),
        other => panic!("unexpected msgpack byte {other:#x}"),
    }
}

fn field<'a>(m: &'a Mp, key: &str) -> &'a str {
    let Mp::Map(kv) = m else { panic!("not a map: {m:?}") };
    kv.iter()
        .find_map(|(k, v)| match (k, v) {
            (Mp::Str(k), Mp::Str(v)) if k == key => Some(v.as_str()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {key} in {m:?}"))
}

#[test]
fn fluentd_forward_messages_carry_the_tag_time_record_and_attributes() {
    let a = Agent::start();
    let l = in_ns(&a, || TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = format!("fluentd-address={}", l.local_addr().unwrap());
    let reader = first_data(l);
    a.skiff(&[
        "run",
        "--name",
        "fl",
        "--label",
        "app=web",
        "-e",
        "REGION=eu",
        "--log-opt",
        "labels=app",
        "--log-opt",
        "env-regex=^REG",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &addr,
        "--log-opt",
        "tag=docker.{{.Name}}",
        "--log-opt",
        "fluentd-sub-second-precision=true",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2",
    ])
    .ok();
    let r = a.skiff(&["logs", "fl"]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("one\n", "two\n"));
    a.skiff(&["rm", "fl"]).ok();
    let got = reader.join().unwrap();
    let mut p = 0;
    let mut msgs = Vec::new();
    while p < got.len() {
        msgs.push(mp(&got, &mut p));
    }
    assert_eq!(msgs.len(), 2);
    let Mp::Arr(first) = &msgs[0] else {
        panic!("{:?}", msgs[0])
    };
    assert_eq!(first[0], Mp::Str("docker.fl".into()));
    assert!(matches!(first[1], Mp::Time(s, _) if s > 1_600_000_000));
    assert_eq!(field(&first[2], "log"), "one");
    assert_eq!(field(&first[2], "source"), "stdout");
    assert_eq!(field(&first[2], "container_name"), "/fl");
    assert_eq!((field(&first[2], "app"), field(&first[2], "REGION")), ("web", "eu"));
    let Mp::Arr(second) = &msgs[1] else { panic!() };
    assert_eq!(field(&second[2], "source"), "stderr");

    a.finish();
}

#[test]
fn fluentd_unreachable_fails_the_start_unless_async_which_waits_for_the_server() {
    let a = Agent::start();
    // Nobody listens on the default address: Docker's start error, 125.
    let r = a.skiff(&["run", "--name", "nf", "--log-driver", "fluentd", "busybox", "echo", "x"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(
        r.stderr.contains(
            "Error response from daemon: failed to initialize logging driver: dial tcp 127.0.0.1:24224: connect: connection refused"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(a.inspect("nf", "{{.State.Status}}"), "created");
    // fluentd-async starts without the server; logs reads the cache.
    let r = a
        .skiff(&[
            "run",
            "--log-driver",
            "fluentd",
            "--log-opt",
            "fluentd-async=true",
            "--name",
            "fa",
            "busybox",
            "echo",
            "kept",
        ])
        .ok();
    assert_eq!(r.stdout, "kept\n");
    assert_eq!(a.skiff(&["logs", "fa"]).ok().stdout, "kept\n");
    // In async mode lines wait for a server that comes up later.
    let port = in_ns(&a, || {
        TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    });
    let addr = format!("fluentd-address=127.0.0.1:{port}");
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "late",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &addr,
        "--log-opt",
        "fluentd-async=true",
        "--log-opt",
        "fluentd-async-reconnect-interval=200ms",
        "busybox",
        "sh",
        "-c",
        "echo early; sleep 3",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(500));
    let l = in_ns(&a, move || TcpListener::bind(("127.0.0.1", port)).unwrap());
    let got = first_data(l).join().unwrap();
    let Mp::Arr(msg) = mp(&got, &mut 0) else {
        panic!("{got:?}")
    };
    assert_eq!(field(&msg[2], "log"), "early");
    a.finish();
}

#[test]
fn non_blocking_mode_never_holds_the_container_up_when_the_server_stops_reading() {
    let a = Agent::start();
    // A server that accepts and never reads: its socket buffers fill.
    let l = in_ns(&a, || TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = format!("fluentd-address={}", l.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        l.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until && conns.len() < 2 {
            if let Ok((s, _)) = l.accept() {
                conns.push(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        conns
    });
    // 40000 lines of 250 bytes: 10 MB, more than loopback buffers hold.
    let script = "i=0; line=$(head -c 120 /dev/zero | od -An -tx1 | tr -d ' \\n' | head -c 240); \
                  while [ $i -lt 40000 ]; do echo \"$i $line\"; i=$((i+1)); done";
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "nb",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &addr,
        "--log-opt",
        "mode=non-blocking",
        "--log-opt",
        "max-buffer-size=64k",
        "busybox",
        "sh",
        "-c",
        script,
    ])
    .ok();
    // In blocking mode this takes minutes (each stuck write times out).
    a.eventually("the container to finish", || {
        a.inspect("nb", "{{.State.Status}}") == "exited"
    });
    // The cache beside the stalled driver has every line.
    let r = a.skiff(&["logs", "--tail", "1", "nb"]).ok();
    assert!(
        r.stdout.starts_with("39999 "),
        "{}",
        &r.stdout[..r.stdout.len().min(80)]
    );
    a.skiff(&["rm", "nb"]).ok();
    drop(held.join().unwrap());
    a.finish();
}

#[test]
fn journald_native_protocol_into_a_test_socket_and_a_clear_error_without_journald() {
    let mut a = Agent::start();
    if !Path::new("/run/systemd/journal/socket").exists() {
        let r = a.skiff(&["run", "--log-driver", "journald", "busybox", "true"]);
        assert_eq!(r.code, 125, "{r:?}");
        assert!(
            r.stderr
                .contains("failed to initialize logging driver: journald is not enabled on this host"),
            "{}",
            r.stderr
        );
    }
    let sock = a.root.join("journal.sock");
    let rx = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    a.kill9();
    a.launch_env(&[("SKIFF_JOURNAL_SOCKET", sock.to_str().unwrap())]);
    a.skiff(&[
        "run",
        "--name",
        "jd",
        "--label",
        "app=web",
        "-e",
        "REGION=eu",
        "--log-opt",
        "labels=app",
        "--log-opt",
        "env-regex=^REG",
        "--log-driver",
        "journald",
        "--log-opt",
        "tag={{.Name}}",
        "busybox",
        "sh",
        "-c",
        "echo to the journal; echo bad >&2",
    ])
    .ok();
    let id = a.inspect("jd", "{{.Id}}");
    let mut buf = vec![0u8; 65536];
    let mut entries = Vec::new();
    for _ in 0..2 {
        let n = rx.recv(&mut buf).expect("a journal datagram");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let fields: std::collections::BTreeMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        entries.push(fields);
    }
    entries.sort_by_key(|f| f["PRIORITY"].clone());
    let (err, out) = (&entries[0], &entries[1]);
    assert_eq!(out["MESSAGE"], "to the journal");
    assert_eq!(out["PRIORITY"], "6");
    assert_eq!(err["MESSAGE"], "bad");
    assert_eq!(err["PRIORITY"], "3");
    assert_eq!(out["CONTAINER_ID"], id[..12]);
    assert_eq!(out["CONTAINER_ID_FULL"], id);
    assert_eq!(out["CONTAINER_NAME"], "jd");
    assert_eq!(out["CONTAINER_TAG"], "jd");
    assert_eq!(out["SYSLOG_IDENTIFIER"], "jd");
    assert_eq!(out["IMAGE_NAME"], "busybox");
    assert_eq!((out["APP"].as_str(), out["REGION"].as_str()), ("web", "eu"));
    assert_eq!(a.skiff(&["logs", "jd"]).ok().stdout, "to the journal\n");
    a.finish();
}

#[test]
fn the_daemons_default_driver_and_options_apply_and_info_lists_the_drivers() {
    let a = Agent::start_with(&[
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=5m",
        "--log-opt",
        "cache-disabled=true",
    ]);
    a.skiff(&["import", busybox_tar().to_str().unwrap(), "busybox"]).ok();
    let out = Command::new("curl")
        .args(["-sf", "--unix-socket", a.sock().to_str().unwrap(), "http://skiff/info"])
        .output()
        .expect("curl");
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("/info as JSON");
    assert!(a.skiff(&["info"]).ok().stdout.contains("Logging Driver: local"));
    assert_eq!(info["LoggingDriver"], "local");
    let drivers: Vec<&str> = info["Plugins"]["Log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(drivers, ["fluentd", "gelf", "journald", "json-file", "local", "syslog"]);
    a.skiff(&["run", "--name", "d", "busybox", "echo", "defaults"]).ok();
    let lc = json(&a.skiff(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", "d"]).ok());
    assert_eq!(lc["Type"], "local");
    assert_eq!(lc["Config"]["max-size"], "5m");
    assert_eq!(a.skiff(&["logs", "d"]).ok().stdout, "defaults\n");
    // Another driver keeps its own options, but the cache options apply.
    a.skiff(&["create", "--name", "o", "--log-driver", "json-file", "busybox", "true"])
        .ok();
    let lc = json(&a.skiff(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", "o"]).ok());
    assert_eq!(lc["Config"], serde_json::json!({"cache-disabled": "true"}));
    a.finish();
}
