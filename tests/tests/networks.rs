//! Networks as a Docker user sees them: the default bridge, user networks
//! and their address management, connect/disconnect, host/none/container
//! modes, macvlan, published ports and the embedded DNS. Every "host" is a
//! network namespace the test made; no traffic leaves them.

use skiff_tests::Agent;

fn ip_of(a: &Agent, ctr: &str, net: &str) -> String {
    a.inspect(
        ctr,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    )
}

#[test]
fn default_bridge_addresses_in_order_with_nat_out() {
    let mut a = Agent::start();
    let peer = a.add_peer();
    a.skiff(&["run", "-d", "--name", "one", "busybox", "sleep", "300"]).ok();
    a.skiff(&["run", "-d", "--name", "two", "busybox", "sleep", "300"]).ok();
    let net = a.skiff(&["network", "inspect", "bridge"]).ok();
    let v: serde_json::Value = serde_json::from_str(&net.stdout).expect("json");
    let n = &v[0];
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Options"]["com.docker.network.bridge.name"], "skiff0");
    let subnet = n["IPAM"]["Config"][0]["Subnet"].as_str().expect("subnet").to_string();
    let gw = n["IPAM"]["Config"][0]["Gateway"].as_str().expect("gateway").to_string();
    let base = subnet
        .split('/')
        .next()
        .unwrap()
        .rsplit_once('.')
        .unwrap()
        .0
        .to_string();
    let base = base.rsplit_once('.').unwrap().0.to_string();
    let (ip1, ip2) = (ip_of(&a, "one", "bridge"), ip_of(&a, "two", "bridge"));
    assert_eq!(ip1, format!("{base}.0.2"), "first address of {subnet}");
    assert_eq!(ip2, format!("{base}.0.3"));
    // Docker's top-level fields for the default bridge, and its MAC rule.
    assert_eq!(a.inspect("one", "{{.NetworkSettings.IPAddress}}"), ip1);
    assert_eq!(a.inspect("one", "{{.NetworkSettings.Gateway}}"), gw);
    let mac = a.inspect("one", "{{.NetworkSettings.MacAddress}}");
    assert!(mac.starts_with("02:42:"), "{mac}");
    let containers = n["Containers"].as_object().expect("containers");
    assert_eq!(containers.len(), 2);
    assert!(containers
        .values()
        .any(|c| c["Name"] == "one" && c["IPv4Address"] == format!("{ip1}/16") && c["MacAddress"] == mac));
    // Inside: eth0 with the address, a default route through the bridge.
    let r = a.skiff(&["exec", "one", "ip", "route"]).ok();
    assert!(r.stdout.contains(&format!("default via {gw} dev eth0")), "{}", r.stdout);
    assert!(a
        .skiff(&["exec", "one", "cat", "/etc/hosts"])
        .ok()
        .stdout
        .contains(&ip1));
    a.skiff(&["exec", "one", "ping", "-c1", "-W2", &ip2]).ok();
    // Out through NAT: the peer has no route to the bridge's subnet, so
    // only a masqueraded packet gets an answer.
    let r = a.skiff(&["exec", "one", "ping", "-c1", "-W2", &peer.ip]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    // Stopped containers give their addresses back.
    a.skiff(&["rm", "-f", "one"]).ok();
    a.skiff(&["run", "-d", "--name", "three", "busybox", "sleep", "300"])
        .ok();
    assert_eq!(ip_of(&a, "three", "bridge"), ip1);
    a.finish();
}

#[test]
fn user_networks_validate_allocate_and_clean_up() {
    let a = Agent::start();
    let id = a
        .skiff(&[
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            "172.72.0.0/16",
            "--ip-range",
            "172.72.0.0/24",
            "--gateway",
            "172.72.0.1",
            "--label",
            "team=a",
            "mynet",
        ])
        .ok();
    assert_eq!(id.out().len(), 64);
    a.skiff(&["run", "-d", "--name", "a1", "--net", "mynet", "busybox", "sleep", "300"])
        .ok();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "a2",
        "--network",
        "mynet",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "a3",
        "--net",
        "mynet",
        "--ip",
        "172.72.9.9",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    assert_eq!(ip_of(&a, "a1", "mynet"), "172.72.0.2");
    assert_eq!(ip_of(&a, "a2", "mynet"), "172.72.0.3");
    assert_eq!(ip_of(&a, "a3", "mynet"), "172.72.9.9");
    assert_eq!(
        a.inspect("a1", "{{.NetworkSettings.IPAddress}}"),
        "",
        "top level is for the default bridge"
    );
    let r = a.skiff(&["run", "--rm", "--net", "mynet", "--ip", "172.72.9.9", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("Address already in use"), "{}", r.stderr);
    let r = a.skiff(&["run", "--rm", "--ip", "172.17.5.5", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("user defined networks only"), "{}", r.stderr);
    let r = a.skiff(&["run", "--rm", "--net", "nosuchnet", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("network nosuchnet not found"), "{}", r.stderr);

    // Bad definitions: each a clear error, nothing created.
    for (args, want) in [
        (vec!["--subnet", "172.72.5.0/24"], "overlaps"),
        (vec!["--subnet", "300.1.0.0/16"], "invalid CIDR address"),
        (
            vec!["--subnet", "10.1.0.0/16", "--ip-range", "10.2.0.0/24"],
            "not within subnet",
        ),
        (
            vec!["--subnet", "10.1.0.0/16", "--gateway", "10.2.0.1"],
            "no matching subnet for gateway",
        ),
        (vec!["--gateway", "10.2.0.1"], "without --subnet"),
    ] {
        let mut cmd = vec!["network", "create"];
        cmd.extend(args.iter().copied());
        cmd.push("bad");
        let r = a.skiff(&cmd);
        assert_eq!(r.code, 1, "{cmd:?}");
        assert!(r.stderr.contains(want), "{cmd:?}: {}", r.stderr);
    }
    let r = a.skiff(&["network", "create", "mynet"]);
    assert!(
        r.stderr.contains("network with name mynet already exists"),
        "{}",
        r.stderr
    );
    let r = a.skiff(&["network", "rm", "bridge"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("pre-defined network"), "{}", r.stderr);

    // Without --subnet, a free one that overlaps nothing.
    a.skiff(&["network", "create", "auto1"]).ok();
    a.skiff(&["network", "create", "auto2"]).ok();
    let subnets: Vec<String> = ["bridge", "mynet", "auto1", "auto2"]
        .iter()
        .map(|n| {
            a.skiff(&["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", n])
                .ok()
                .out()
                .to_string()
        })
        .collect();
    let mut uniq = subnets.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 4, "{subnets:?}");

    let ls = a.skiff(&["network", "ls"]).ok();
    let header = ls.stdout.lines().next().unwrap_or_default();
    for col in ["NETWORK ID", "NAME", "DRIVER", "SCOPE"] {
        assert!(header.contains(col), "{header}");
    }
    for n in ["bridge", "host", "none", "mynet", "auto1"] {
        assert!(ls.stdout.contains(n), "{}", ls.stdout);
    }
    let f = a.skiff(&["network", "ls", "-q", "--filter", "label=team=a"]).ok();
    assert_eq!(f.out(), &id.out()[..12]);

    // rm is refused while containers are attached.
    let r = a.skiff(&["network", "rm", "mynet"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("has active endpoints"), "{}", r.stderr);
    for c in ["a1", "a2", "a3"] {
        a.skiff(&["rm", "-f", c]).ok();
    }
    a.skiff(&["network", "rm", "mynet"]).ok();
    assert!(
        a.in_netns("ip", &["link", "show", &format!("br-{}", &id.out()[..12])], &[])
            .code
            != 0
    );
    let p = a.skiff(&["network", "prune", "-f"]).ok();
    assert!(p.stdout.contains("auto1") && p.stdout.contains("auto2"), "{}", p.stdout);
    assert_eq!(a.skiff(&["network", "ls", "-q"]).ok().stdout.lines().count(), 3);
    a.finish();
}

#[test]
fn internal_networks_have_no_way_out() {
    let mut a = Agent::start();
    let peer = a.add_peer();
    a.skiff(&["network", "create", "--internal", "--subnet", "10.97.0.0/24", "inside"])
        .ok();
    a.skiff(&[
        "run", "-d", "--name", "i1", "--net", "inside", "busybox", "sleep", "300",
    ])
    .ok();
    a.skiff(&[
        "run", "-d", "--name", "i2", "--net", "inside", "busybox", "sleep", "300",
    ])
    .ok();
    let r = a.skiff(&["exec", "i1", "ip", "route"]).ok();
    assert!(!r.stdout.contains("default"), "{}", r.stdout);
    assert_ne!(a.skiff(&["exec", "i1", "ping", "-c1", "-W1", &peer.ip]).code, 0);
    // Members still reach each other.
    a.skiff(&["exec", "i1", "ping", "-c1", "-W2", "i2"]).ok();
    a.finish();
}

#[test]
fn connect_and_disconnect_running_containers() {
    let a = Agent::start();
    a.skiff(&["network", "create", "--subnet", "10.61.0.0/24", "front"])
        .ok();
    a.skiff(&["network", "create", "--subnet", "10.62.0.0/24", "back"]).ok();
    a.skiff(&[
        "run", "-d", "--name", "app", "--net", "front", "busybox", "sleep", "300",
    ])
    .ok();
    a.skiff(&["run", "-d", "--name", "db", "--net", "back", "busybox", "sleep", "300"])
        .ok();
    let ifaces = |c: &str| a.skiff(&["exec", c, "ip", "-o", "-4", "addr"]).ok().stdout;
    assert!(!ifaces("app").contains("10.62.0."));
    // Separate networks are isolated from each other.
    let db_ip = ip_of(&a, "db", "back");
    assert_ne!(a.skiff(&["exec", "app", "ping", "-c1", "-W1", &db_ip]).code, 0);

    a.skiff(&[
        "network",
        "connect",
        "--alias",
        "api",
        "--ip",
        "10.62.0.50",
        "back",
        "app",
    ])
    .ok();
    assert!(
        ifaces("app").contains("eth1") && ifaces("app").contains("10.62.0.50"),
        "{}",
        ifaces("app")
    );
    a.skiff(&["exec", "app", "ping", "-c1", "-W2", "db"]).ok();
    let r = a.skiff(&["exec", "db", "nslookup", "api"]).ok();
    assert!(r.stdout.contains("10.62.0.50"), "{}", r.stdout);
    let r = a.skiff(&["network", "connect", "back", "app"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);

    a.skiff(&["network", "disconnect", "back", "app"]).ok();
    assert!(!ifaces("app").contains("10.62.0.50"), "{}", ifaces("app"));
    // Gone from the DNS at once.
    let r = a.skiff(&["exec", "db", "nslookup", "api"]);
    assert!(!r.stdout.contains("10.62.0.50"), "{}", r.stdout);
    assert!(!a.inspect("app", "{{json .NetworkSettings.Networks}}").contains("back"));
    // A stopped container is connected for its next start.
    a.skiff(&["stop", "-t", "1", "db"]).ok();
    a.skiff(&["network", "connect", "front", "db"]).ok();
    a.skiff(&["start", "db"]).ok();
    let r = a.skiff(&["exec", "db", "ip", "-o", "-4", "addr"]).ok();
    assert!(
        r.stdout.contains("10.61.0.") && r.stdout.contains("10.62.0."),
        "{}",
        r.stdout
    );
    // A container on the default bridge that joins a user network resolves
    // names through the embedded DNS from then on, as under Docker.
    a.skiff(&["run", "-d", "--name", "plain", "busybox", "sleep", "300"])
        .ok();
    let rc = || a.skiff(&["exec", "plain", "cat", "/etc/resolv.conf"]).ok().stdout;
    assert!(!rc().contains("127.0.0.11"), "{}", rc());
    a.skiff(&["network", "connect", "front", "plain"]).ok();
    assert!(rc().contains("nameserver 127.0.0.11"), "{}", rc());
    let r = a.skiff(&["exec", "plain", "nslookup", "app"]).ok();
    assert!(r.stdout.contains("10.61.0."), "{}", r.stdout);
    a.finish();
}

#[test]
fn host_none_and_container_network_modes() {
    let a = Agent::start();
    let r = a
        .skiff(&["run", "--rm", "--net", "none", "busybox", "ip", "-o", "link"])
        .ok();
    assert_eq!(r.stdout.lines().count(), 1, "only lo: {}", r.stdout);
    // --net host: the agent's namespace, where skiff0 lives.
    let r = a
        .skiff(&["run", "--rm", "--net", "host", "busybox", "ip", "-o", "link"])
        .ok();
    assert!(r.stdout.contains("skiff0"), "{}", r.stdout);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let r = a.skiff(&["run", "--rm", "--net", "host", "busybox", "hostname"]).ok();
    assert_eq!(r.out(), host.trim());
    // container:NAME shares the other's namespace: same address and MAC.
    a.skiff(&["run", "-d", "--name", "base", "busybox", "sleep", "300"])
        .ok();
    let base = a.skiff(&["exec", "base", "ip", "-o", "addr", "show", "eth0"]).ok();
    let shared = a
        .skiff(&[
            "run",
            "--rm",
            "--net",
            "container:base",
            "busybox",
            "ip",
            "-o",
            "addr",
            "show",
            "eth0",
        ])
        .ok();
    let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
    assert_eq!(first(&shared.stdout), first(&base.stdout));
    let r = a.skiff(&[
        "run",
        "--rm",
        "--net",
        "container:base",
        "-p",
        "80:80",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("conflicting options"), "{}", r.stderr);
    a.finish();
}

#[test]
fn macvlan_containers_sit_on_the_parent_segment() {
    let mut a = Agent::start();
    let peer = a.add_peer();
    a.skiff(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "10.200.0.0/24",
        "--ip-range",
        "10.200.0.128/25",
        "--gateway",
        "10.200.0.1",
        "-o",
        &format!("parent={}", peer.agent_if),
        "lan",
    ])
    .ok();
    a.skiff(&["run", "-d", "--name", "m1", "--net", "lan", "busybox", "sleep", "300"])
        .ok();
    let ip = ip_of(&a, "m1", "lan");
    // Docker hands out the ip-range in order from its first address.
    assert_eq!(ip, "10.200.0.128");
    a.skiff(&["exec", "m1", "ping", "-c1", "-W2", &peer.ip]).ok();
    // The other host reaches the container directly on the segment.
    let r = peer.run("busybox", &["ping", "-c1", "-W2", &ip]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = a.skiff(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "10.9.0.0/24",
        "-o",
        "parent=nope0",
        "x",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no such interface"), "{}", r.stderr);
    a.finish();
}

fn wget(a: &Agent, url: &str) -> skiff_tests::Run {
    // (The host's static busybox crashes on wget -T; timeout does it.)
    a.in_netns("timeout", &["3", "busybox", "wget", "-qO-", url], &[])
}

#[test]
fn published_ports_reach_the_container_and_go_away_with_it() {
    let mut a = Agent::start();
    let peer = a.add_peer();
    let web = "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www";
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "8080:80",
        "-p",
        "127.0.0.1:8081:80",
        "-p",
        "80",
        "-p",
        "5353:53/udp",
        "busybox",
        "sh",
        "-c",
        web,
    ])
    .ok();
    let id = a.inspect("web", "{{.Config.Hostname}}");
    let port = a.skiff(&["port", "web"]).ok();
    assert!(port.stdout.contains("80/tcp -> 0.0.0.0:8080"), "{}", port.stdout);
    assert!(port.stdout.contains("80/tcp -> 127.0.0.1:8081"), "{}", port.stdout);
    assert!(port.stdout.contains("53/udp -> 0.0.0.0:5353"), "{}", port.stdout);
    let random: String = port
        .stdout
        .lines()
        .find(|l| l.starts_with("80/tcp -> 0.0.0.0:") && !l.ends_with(":8080"))
        .and_then(|l| l.rsplit(':').next())
        .expect("random port")
        .to_string();
    assert!(random.parse::<u16>().unwrap() >= 49153, "{random}");
    assert_eq!(a.skiff(&["port", "web", "80/udp"]).code, 1);
    let ps = a.skiff(&["ps", "--format", "{{.Ports}}"]).ok();
    assert!(ps.stdout.contains("0.0.0.0:8080->80/tcp"), "{}", ps.stdout);
    assert!(ps.stdout.contains("127.0.0.1:8081->80/tcp"), "{}", ps.stdout);
    let want = format!("hello-{id}");
    a.eventually("httpd up", || wget(&a, "http://127.0.0.1:8080/").stdout.trim() == want);
    // From the host itself, on every local address.
    assert_eq!(wget(&a, "http://127.0.0.1:8081/").out(), want);
    assert_eq!(wget(&a, &format!("http://{}:8080/", peer.agent_ip)).out(), want);
    assert_eq!(wget(&a, &format!("http://127.0.0.1:{random}/")).out(), want);
    // From another host; the loopback-only port stays private.
    let r = peer.run(
        "timeout",
        &[
            "3",
            "busybox",
            "wget",
            "-qO-",
            &format!("http://{}:8080/", peer.agent_ip),
        ],
    );
    assert_eq!(r.out(), want, "{}", r.stderr);
    assert_ne!(
        peer.run(
            "timeout",
            &[
                "1",
                "busybox",
                "wget",
                "-qO-",
                &format!("http://{}:8081/", peer.agent_ip)
            ]
        )
        .code,
        0
    );
    // UDP: a reply from the container's namespace through the published
    // port (busybox has no UDP server; socat runs in the container's netns).
    let sandbox = a.inspect("web", "{{.NetworkSettings.SandboxKey}}");
    let mut server = std::process::Command::new("nsenter")
        .args([
            &format!("--net={sandbox}"),
            "socat",
            "UDP-LISTEN:53,fork",
            "SYSTEM:echo pong",
        ])
        .spawn()
        .expect("socat");
    a.eventually("udp answer", || {
        peer.run(
            "sh",
            &[
                "-c",
                &format!("echo ping | timeout 2 socat - UDP:{}:5353", peer.agent_ip),
            ],
        )
        .stdout
        .contains("pong")
    });
    let _ = server.kill();
    let _ = server.wait();
    // A taken port is refused at start, with Docker's words.
    let r = a.skiff(&[
        "run", "-d", "--name", "clash", "-p", "8080:80", "busybox", "sleep", "30",
    ]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr
            .contains("Bind for 0.0.0.0:8080 failed: port is already allocated"),
        "{}",
        r.stderr
    );
    // -P publishes every exposed port.
    a.skiff(&[
        "run", "-d", "--name", "all", "-P", "--expose", "9000", "--expose", "9001/udp", "busybox", "sleep", "300",
    ])
    .ok();
    // Each on all IPv4 and all IPv6 addresses, as Docker 20.10 shows them.
    let p = a.skiff(&["port", "all"]).ok();
    assert_eq!(p.stdout.lines().count(), 4, "{}", p.stdout);
    assert!(p.stdout.contains("9001/udp -> [::]:"), "{}", p.stdout);
    // Rules go exactly when the container stops.
    a.skiff(&["stop", "-t", "1", "web"]).ok();
    assert_ne!(wget(&a, "http://127.0.0.1:8080/").code, 0);
    let rules = a.in_netns("nft", &["list", "chain", "ip", "skiff", "ports"], &[]).ok();
    assert!(!rules.stdout.contains(":80"), "{}", rules.stdout);
    assert_eq!(a.inspect("web", "{{json .NetworkSettings.Ports}}"), "{}");
    a.skiff(&["start", "web"]).ok();
    a.eventually("httpd back", || {
        wget(&a, "http://127.0.0.1:8080/").stdout.trim() == want
    });
    a.finish();
}

/// The first address of each of `n` answers for `name`, asked from `from`.
fn first_answers(a: &Agent, from: &str, name: &str, n: usize) -> Vec<String> {
    let script = format!(
        "for i in $(seq {n}); do nslookup {name} | awk '/^Name:/{{f=1}} f && /^Address/{{print $2; exit}}'; done"
    );
    a.skiff(&["exec", from, "sh", "-c", &script])
        .ok()
        .stdout
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn embedded_dns_answers_names_and_aliases_round_robin() {
    let a = Agent::start();
    a.skiff(&["network", "create", "--subnet", "10.63.0.0/24", "app"]).ok();
    for i in 1..=3 {
        a.skiff(&[
            "run",
            "-d",
            "--name",
            &format!("web{i}"),
            "--net",
            "app",
            "--network-alias",
            "web",
            "busybox",
            "sleep",
            "300",
        ])
        .ok();
    }
    a.skiff(&[
        "run", "-d", "--name", "client", "--net", "app", "busybox", "sleep", "300",
    ])
    .ok();
    let rc = a.skiff(&["exec", "client", "cat", "/etc/resolv.conf"]).ok();
    assert!(rc.stdout.contains("nameserver 127.0.0.11"), "{}", rc.stdout);
    // Names, short IDs.
    let ip1 = ip_of(&a, "web1", "app");
    let r = a.skiff(&["exec", "client", "nslookup", "web1"]).ok();
    assert!(r.stdout.contains(&ip1), "{}", r.stdout);
    let short = a.inspect("web1", "{{.Id}}")[..12].to_string();
    let r = a.skiff(&["exec", "client", "nslookup", &short]).ok();
    assert!(r.stdout.contains(&ip1), "{}", r.stdout);
    // Round-robin: every answer starts with another address than the last.
    let firsts = first_answers(&a, "client", "web", 60);
    assert_eq!(firsts.len(), 60, "{firsts:?}");
    for w in firsts.windows(2) {
        assert_ne!(w[0], w[1], "{firsts:?}");
    }
    let mut seen = firsts.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3, "{seen:?}");
    // Over TCP, and reverse lookups, with a real resolver (dig).
    let sandbox = a.inspect("client", "{{.NetworkSettings.SandboxKey}}");
    let net = format!("--net={sandbox}");
    let r = a
        .in_netns("nsenter", &[&net, "dig", "+tcp", "+short", "@127.0.0.11", "web"], &[])
        .ok();
    assert_eq!(r.stdout.lines().count(), 3, "{}", r.stdout);
    let r = a
        .in_netns("nsenter", &[&net, "dig", "+short", "@127.0.0.11", "-x", &ip1], &[])
        .ok();
    assert_eq!(r.out(), "web1.app.");
    let r = a
        .in_netns("nsenter", &[&net, "dig", "+short", "@127.0.0.11", "web1.app"], &[])
        .ok();
    assert_eq!(r.out(), ip1);
    // Only running containers answer.
    a.skiff(&["stop", "-t", "1", "web3"]).ok();
    let r = a
        .in_netns("nsenter", &[&net, "dig", "+short", "@127.0.0.11", "web"], &[])
        .ok();
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    // Containers of other networks are not visible.
    a.skiff(&["run", "-d", "--name", "stranger", "busybox", "sleep", "300"])
        .ok();
    let r = a.in_netns("nsenter", &[&net, "dig", "+short", "@127.0.0.11", "stranger"], &[]);
    assert_eq!(r.out(), "");
    // Other names go to the upstream resolvers (--dns here: a stand-in
    // resolver on the agent's loopback).
    let mut upstream = std::process::Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", a.netns))
        .arg(skiff_tests::bin_dir().join("skiff-dnsbench"))
        .args(["serve", "127.0.0.1:53"])
        .spawn()
        .expect("upstream");
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "asker",
        "--net",
        "app",
        "--dns",
        "127.0.0.1",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    a.eventually("forwarded answer", || {
        a.skiff(&["exec", "asker", "nslookup", "elsewhere.example"])
            .stdout
            .contains("192.0.2.1")
    });
    let _ = upstream.kill();
    let _ = upstream.wait();
    // The default bridge has no embedded DNS (as Docker's).
    let rc = a.skiff(&["exec", "stranger", "cat", "/etc/resolv.conf"]).ok();
    assert!(!rc.stdout.contains("127.0.0.11"), "{}", rc.stdout);
    a.finish();
}

#[test]
fn large_dns_answers_are_truncated_over_udp_and_complete_over_tcp() {
    let a = Agent::start();
    a.skiff(&["network", "create", "--subnet", "10.65.0.0/24", "many"]).ok();
    for _ in 0..40 {
        a.skiff(&[
            "run",
            "-d",
            "--net",
            "many",
            "--net-alias",
            "crowd",
            "busybox",
            "sleep",
            "300",
        ])
        .ok();
    }
    a.skiff(&["run", "-d", "--name", "q", "--net", "many", "busybox", "sleep", "300"])
        .ok();
    let sandbox = a.inspect("q", "{{.NetworkSettings.SandboxKey}}");
    let net = format!("--net={sandbox}");
    // 40 A records do not fit 512 bytes: the UDP answer says so (tc) ...
    let r = a
        .in_netns(
            "nsenter",
            &[&net, "dig", "+notcp", "+ignore", "+noedns", "@127.0.0.11", "crowd"],
            &[],
        )
        .ok();
    assert!(r.stdout.contains(" tc"), "{}", r.stdout);
    // ... and dig's automatic retry over TCP gets them all.
    let r = a
        .in_netns(
            "nsenter",
            &[&net, "dig", "+noedns", "+short", "@127.0.0.11", "crowd"],
            &[],
        )
        .ok();
    assert_eq!(r.stdout.lines().count(), 40, "{}", r.stdout);
    a.finish();
}

#[test]
fn links_on_the_default_bridge() {
    let a = Agent::start();
    a.skiff(&["run", "-d", "--name", "db", "busybox", "sleep", "300"]).ok();
    let ip = a.inspect("db", "{{.NetworkSettings.IPAddress}}");
    let r = a
        .skiff(&[
            "run",
            "--rm",
            "--link",
            "db:database",
            "busybox",
            "sh",
            "-c",
            "grep database /etc/hosts; ping -c1 -W2 database",
        ])
        .ok();
    assert!(r.stdout.contains(&format!("{ip}\tdatabase")), "{}", r.stdout);
    let r = a.skiff(&["run", "--rm", "--link", "nosuch:x", "busybox", "true"]);
    assert_eq!(r.code, 125);
    a.finish();
}

#[test]
fn agent_restart_keeps_addresses_ports_and_dns() {
    let a0 = Agent::start();
    let mut a = a0;
    a.skiff(&["network", "create", "--subnet", "10.64.0.0/24", "keep"]).ok();
    let web = "mkdir -p /www && echo kept > /www/index.html && exec httpd -f -p 80 -h /www";
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "k1",
        "--net",
        "keep",
        "--net-alias",
        "svc",
        "-p",
        "8090:80",
        "busybox",
        "sh",
        "-c",
        web,
    ])
    .ok();
    a.skiff(&["run", "-d", "--name", "k2", "--net", "keep", "busybox", "sleep", "300"])
        .ok();
    a.eventually("httpd up", || wget(&a, "http://127.0.0.1:8090/").out() == "kept");
    a.kill9();
    a.launch();
    assert_eq!(wget(&a, "http://127.0.0.1:8090/").out(), "kept");
    let r = a.skiff(&["exec", "k2", "nslookup", "svc"]).ok();
    assert!(r.stdout.contains("10.64.0.2"), "{}", r.stdout);
    // No address is handed out twice after the restart.
    a.skiff(&["run", "-d", "--name", "k3", "--net", "keep", "busybox", "sleep", "300"])
        .ok();
    assert_eq!(ip_of(&a, "k3", "keep"), "10.64.0.4");
    let r = a.skiff(&["run", "-d", "-p", "8090:80", "busybox", "sleep", "30"]);
    assert!(r.stderr.contains("port is already allocated"), "{}", r.stderr);
    a.finish();
}
