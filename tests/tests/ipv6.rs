//! IPv6 on user bridge networks, as Docker 20.10 has it: `--ipv6` with an
//! IPv6 subnet, addresses in order (or `--ip6`), inspect fields, AAAA
//! answers from the embedded DNS, published ports over IPv6, isolation,
//! and clean removal. Every "host" is a network namespace the test made.

use skiff_tests::Agent;

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("json")
}

fn net_field(a: &Agent, ctr: &str, net: &str, field: &str) -> String {
    a.inspect(
        ctr,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").{field}}}}}"),
    )
}

fn bridge_of(a: &Agent, net: &str) -> String {
    let id = a.skiff(&["network", "inspect", "-f", "{{.Id}}", net]).ok();
    format!("br-{}", &id.out()[..12])
}

fn sleeper(a: &Agent, name: &str, net: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name, "--net", net];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "300"]);
    a.skiff(&args).ok();
}

/// A busybox httpd on `[::]:80` serving `text` at `/`.
fn web6(a: &Agent, name: &str, net: &str, extra: &[&str], text: &str) {
    let web = format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p [::]:80 -h /www");
    let mut args = vec!["run", "-d", "--name", name, "--net", net];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &web]);
    a.skiff(&args).ok();
}

#[test]
fn ipv6_network_addresses_inspect_dns_and_cleanup() {
    let a = Agent::start();
    a.skiff(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:1::/64",
        "--subnet",
        "172.80.0.0/16",
        "v6net",
    ])
    .ok();
    let n = json(&a.skiff(&["network", "inspect", "v6net"]).ok().stdout);
    let n = &n[0];
    assert_eq!(n["EnableIPv6"], true);
    let cfg = n["IPAM"]["Config"].as_array().expect("config");
    assert_eq!(cfg.len(), 2, "{cfg:?}");
    assert_eq!(cfg[0]["Subnet"], "172.80.0.0/16");
    assert_eq!(cfg[1]["Subnet"], "fd00:1::/64");
    assert_eq!(cfg[1]["Gateway"], "fd00:1::1");
    let br = bridge_of(&a, "v6net");
    let addrs = a.in_netns("ip", &["-6", "addr", "show", "dev", &br], &[]).ok();
    assert!(addrs.stdout.contains("fd00:1::1/64"), "{}", addrs.stdout);

    sleeper(&a, "one", "v6net", &[]);
    web6(&a, "two", "v6net", &["--network-alias", "svc"], "v6-hello");
    sleeper(&a, "fixed", "v6net", &["--ip6", "fd00:1::99"]);
    assert_eq!(net_field(&a, "one", "v6net", "GlobalIPv6Address"), "fd00:1::2");
    assert_eq!(net_field(&a, "one", "v6net", "GlobalIPv6PrefixLen"), "64");
    assert_eq!(net_field(&a, "one", "v6net", "IPv6Gateway"), "fd00:1::1");
    assert_eq!(net_field(&a, "one", "v6net", "IPAddress"), "172.80.0.2");
    assert_eq!(net_field(&a, "two", "v6net", "GlobalIPv6Address"), "fd00:1::3");
    assert_eq!(net_field(&a, "fixed", "v6net", "GlobalIPv6Address"), "fd00:1::99");
    assert_eq!(net_field(&a, "fixed", "v6net", "IPAMConfig.IPv6Address"), "fd00:1::99");
    let n = json(&a.skiff(&["network", "inspect", "v6net"]).ok().stdout);
    let containers = n[0]["Containers"].as_object().expect("containers");
    assert!(
        containers
            .values()
            .any(|c| c["Name"] == "one" && c["IPv6Address"] == "fd00:1::2/64"),
        "{containers:?}"
    );

    // Inside: the address is usable at once (no DAD), a default route
    // through the bridge.
    let r = a.skiff(&["exec", "one", "ip", "-6", "addr", "show", "eth0"]).ok();
    assert!(r.stdout.contains("fd00:1::2/64"), "{}", r.stdout);
    assert!(!r.stdout.contains("tentative"), "{}", r.stdout);
    let hosts = a.skiff(&["exec", "one", "cat", "/etc/hosts"]).ok();
    assert!(hosts.stdout.contains("fd00:1::2\t"), "{}", hosts.stdout);
    let r = a.skiff(&["exec", "one", "ip", "-6", "route"]).ok();
    assert!(r.stdout.contains("default via fd00:1::1 dev eth0"), "{}", r.stdout);

    // By name over IPv6: AAAA from the embedded DNS, ping6, wget.
    let r = a.skiff(&["exec", "one", "nslookup", "-type=AAAA", "two"]).ok();
    assert!(r.stdout.contains("fd00:1::3"), "{}", r.stdout);
    let r = a.skiff(&["exec", "one", "nslookup", "-type=AAAA", "svc"]).ok();
    assert!(r.stdout.contains("fd00:1::3"), "{}", r.stdout);
    // PTR for an IPv6 address names the container on its network.
    let r = a.skiff(&["exec", "one", "nslookup", "fd00:1::3"]).ok();
    assert!(r.stdout.contains("two.v6net"), "{}", r.stdout);
    // A queries are unchanged.
    let r = a.skiff(&["exec", "one", "nslookup", "-type=A", "two"]).ok();
    assert!(r.stdout.contains("172.80.0.3"), "{}", r.stdout);
    assert!(!r.stdout.contains("fd00:1::3"), "{}", r.stdout);
    a.skiff(&["exec", "one", "ping", "-6", "-c1", "-W2", "two"]).ok();
    a.skiff(&["exec", "one", "ping6", "-c1", "-W2", "fixed"]).ok();
    a.eventually("httpd over IPv6", || {
        // (busybox wget crashes with -T here.)
        a.skiff(&["exec", "one", "timeout", "3", "wget", "-qO-", "http://[fd00:1::3]/"])
            .stdout
            .trim()
            == "v6-hello"
    });

    // An IPv6 network with no IPv4 subnet still gets an IPv4 pool.
    a.skiff(&["network", "create", "--ipv6", "--subnet", "fd00:2::/64", "v6only"])
        .ok();
    let n = json(&a.skiff(&["network", "inspect", "v6only"]).ok().stdout);
    let cfg = n[0]["IPAM"]["Config"].as_array().expect("config");
    assert_eq!(cfg.len(), 2, "{cfg:?}");
    assert!(!cfg[0]["Subnet"].as_str().unwrap().contains(':'), "{cfg:?}");
    assert_eq!(cfg[1]["Subnet"], "fd00:2::/64");
    // The default bridge stays IPv4-only.
    let b = json(&a.skiff(&["network", "inspect", "bridge"]).ok().stdout);
    assert_eq!(b[0]["EnableIPv6"], false);
    assert_eq!(b[0]["IPAM"]["Config"].as_array().unwrap().len(), 1);

    // Removal takes every trace of IPv6 with it.
    for c in ["one", "two", "fixed"] {
        a.skiff(&["rm", "-f", c]).ok();
    }
    a.skiff(&["network", "rm", "v6net", "v6only"]).ok();
    let routes = a.in_netns("ip", &["-6", "route"], &[]).ok();
    assert!(!routes.stdout.contains("fd00:"), "{}", routes.stdout);
    let addrs = a.in_netns("ip", &["-6", "addr"], &[]).ok();
    assert!(!addrs.stdout.contains("fd00:"), "{}", addrs.stdout);
    let rules = a.in_netns("nft", &["list", "ruleset"], &[]).ok();
    assert!(!rules.stdout.contains("fd00:"), "{}", rules.stdout);
    assert!(!rules.stdout.contains("table ip6 skiff"), "{}", rules.stdout);
    assert!(rules.stdout.contains("table ip skiff"), "{}", rules.stdout);
    a.finish();
}

#[test]
fn ipv6_through_the_docker_client() {
    let a = Agent::start();
    a.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:3::/64",
        "--subnet",
        "172.81.0.0/16",
        "--gateway",
        "fd00:3::fe",
        "v6d",
    ])
    .ok();
    let n = json(&a.docker(&["network", "inspect", "v6d"]).ok().stdout);
    assert_eq!(n[0]["EnableIPv6"], true);
    let cfg = n[0]["IPAM"]["Config"].as_array().expect("config");
    assert!(
        cfg.iter()
            .any(|c| c["Subnet"] == "fd00:3::/64" && c["Gateway"] == "fd00:3::fe"),
        "{cfg:?}"
    );
    a.docker(&[
        "run",
        "-d",
        "--name",
        "d1",
        "--network",
        "v6d",
        "--ip6",
        "fd00:3::10",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    a.docker(&[
        "run",
        "-d",
        "--name",
        "d2",
        "--network",
        "v6d",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let ins = json(&a.docker(&["inspect", "d1"]).ok().stdout);
    let ep = &ins[0]["NetworkSettings"]["Networks"]["v6d"];
    assert_eq!(ep["GlobalIPv6Address"], "fd00:3::10");
    assert_eq!(ep["GlobalIPv6PrefixLen"], 64);
    assert_eq!(ep["IPv6Gateway"], "fd00:3::fe");
    assert_eq!(ep["IPAMConfig"]["IPv6Address"], "fd00:3::10");
    // The gateway given is not the first address: that goes to d2.
    assert_eq!(net_field(&a, "d2", "v6d", "GlobalIPv6Address"), "fd00:3::1");
    a.docker(&["exec", "d2", "ping", "-6", "-c1", "-W2", "d1"]).ok();
    // network connect --ip6.
    a.docker(&["network", "create", "--ipv6", "--subnet", "fd00:4::/64", "v6e"])
        .ok();
    a.docker(&["network", "connect", "--ip6", "fd00:4::44", "v6e", "d2"])
        .ok();
    assert_eq!(net_field(&a, "d2", "v6e", "GlobalIPv6Address"), "fd00:4::44");
    let r = a.skiff(&["exec", "d2", "ip", "-6", "addr"]).ok();
    assert!(r.stdout.contains("fd00:4::44/64"), "{}", r.stdout);
    a.finish();
}

#[test]
fn ipv6_errors_are_dockers() {
    let a = Agent::start();
    let r = a.skiff(&["network", "create", "--ipv6", "--subnet", "fd00:zz::/64", "bad"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("invalid CIDR address: fd00:zz::/64"), "{}", r.stderr);
    let r = a.skiff(&["network", "create", "--ipv6", "--subnet", "fd00:1::5/64", "bad"]);
    assert!(r.stderr.contains("host bits"), "{}", r.stderr);
    let r = a.skiff(&["network", "create", "--ipv6", "nosubnet"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("IPv6 address pool"), "{}", r.stderr);
    a.skiff(&["network", "create", "--ipv6", "--subnet", "fd00:1::/64", "first"])
        .ok();
    let r = a.skiff(&["network", "create", "--ipv6", "--subnet", "fd00:1::/48", "second"]);
    assert!(
        r.stderr.contains("Pool overlaps with other one on this address space"),
        "{}",
        r.stderr
    );
    let r = a.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:1:0:0:8000::/65",
        "third",
    ]);
    assert!(r.stderr.contains("Pool overlaps"), "{}", r.stderr);
    let r = a.skiff(&["network", "create", "--subnet", "fd00:9::/64", "noflag"]);
    assert!(r.stderr.contains("--ipv6"), "{}", r.stderr);
    // Fixed addresses must be in the network's IPv6 subnet.
    let r = a.skiff(&[
        "run",
        "-d",
        "--net",
        "first",
        "--ip6",
        "fd00:7::5",
        "busybox",
        "sleep",
        "30",
    ]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no configured subnet or ip-range contain the IP address fd00:7::5"),
        "{}",
        r.stderr
    );
    let r = a.skiff(&["run", "-d", "--ip6", "fd00:7::5", "busybox", "sleep", "30"]);
    assert!(r.stderr.contains("user defined networks only"), "{}", r.stderr);
    a.skiff(&["network", "create", "--subnet", "10.98.0.0/24", "plain4"])
        .ok();
    let r = a.skiff(&[
        "run",
        "-d",
        "--net",
        "plain4",
        "--ip6",
        "fd00:1::5",
        "busybox",
        "sleep",
        "30",
    ]);
    assert_ne!(r.code, 0);
    // The gateway and addresses in use are refused.
    let r = a.skiff(&[
        "run",
        "-d",
        "--net",
        "first",
        "--ip6",
        "fd00:1::1",
        "busybox",
        "sleep",
        "30",
    ]);
    assert!(r.stderr.contains("Address already in use"), "{}", r.stderr);
    // Networks without IPv6 carry no IPv6 addresses.
    sleeper(&a, "p4", "plain4", &[]);
    assert_eq!(net_field(&a, "p4", "plain4", "GlobalIPv6Address"), "");
    a.finish();
}

fn curl(a: &Agent, url: &str) -> skiff_tests::Run {
    a.in_netns("curl", &["-sg", "--max-time", "3", url], &[])
}

#[test]
fn ipv6_published_ports_nat_and_isolation() {
    let mut a = Agent::start();
    let peer = a.add_peer();
    // The peer link gets IPv6 too; the peer has no route to the
    // networks' subnets, so only masqueraded packets get answers.
    a.in_netns(
        "ip",
        &["addr", "add", "fd00:200::1/64", "dev", &peer.agent_if, "nodad"],
        &[],
    )
    .ok();
    peer.run("ip", &["addr", "add", "fd00:200::2/64", "dev", "eth0", "nodad"])
        .ok();
    a.skiff(&["network", "create", "--ipv6", "--subnet", "fd00:a::/64", "front"])
        .ok();
    a.skiff(&["network", "create", "--ipv6", "--subnet", "fd00:b::/64", "back"])
        .ok();
    a.skiff(&[
        "network",
        "create",
        "--ipv6",
        "--internal",
        "--subnet",
        "fd00:c::/64",
        "inside",
    ])
    .ok();
    web6(&a, "web", "front", &["-p", "8080:80"], "hello6");
    sleeper(&a, "other", "back", &[]);
    sleeper(&a, "in1", "inside", &[]);
    sleeper(&a, "in2", "inside", &[]);

    // Published on every host address: IPv4 as before, IPv6 too.
    a.eventually("port over IPv4", || {
        curl(&a, "http://127.0.0.1:8080/").stdout.trim() == "hello6"
    });
    assert_eq!(curl(&a, "http://[fd00:200::1]:8080/").out(), "hello6");
    // [::1] through the agent's proxy (IPv6 cannot DNAT from loopback).
    assert_eq!(curl(&a, "http://[::1]:8080/").out(), "hello6");
    let r = peer.run("curl", &["-sg", "--max-time", "3", "http://[fd00:200::1]:8080/"]);
    assert_eq!(r.stdout.trim(), "hello6", "{}", r.stderr);
    let r = peer.run("curl", &["-sg", "--max-time", "3", "http://10.200.0.1:8080/"]);
    assert_eq!(r.stdout.trim(), "hello6", "{}", r.stderr);

    // Out through NAT over IPv6.
    a.skiff(&["exec", "web", "ping", "-6", "-c1", "-W2", "fd00:200::2"])
        .ok();
    // Networks are isolated from each other over IPv6 as over IPv4.
    a.skiff(&["exec", "other", "ping", "-6", "-c1", "-W2", "fd00:b::1"])
        .ok();
    assert_ne!(
        a.skiff(&["exec", "other", "ping", "-6", "-c1", "-W1", "fd00:a::2"])
            .code,
        0
    );
    // Internal: no way out, members reach each other.
    let r = a.skiff(&["exec", "in1", "ip", "-6", "route"]).ok();
    assert!(!r.stdout.contains("default"), "{}", r.stdout);
    assert_ne!(
        a.skiff(&["exec", "in1", "ping", "-6", "-c1", "-W1", "fd00:200::2"])
            .code,
        0
    );
    assert_ne!(
        a.skiff(&["exec", "in1", "ping", "-6", "-c1", "-W1", "fd00:a::2"]).code,
        0
    );
    a.skiff(&["exec", "in1", "ping", "-6", "-c1", "-W2", "in2"]).ok();
    let table = a.in_netns("nft", &["list", "table", "ip6", "skiff"], &[]).ok();
    let inside = bridge_of(&a, "inside");
    assert!(
        table
            .stdout
            .contains(&format!("iifname \"{inside}\" oifname != \"{inside}\" drop")),
        "{}",
        table.stdout
    );

    // The rules go with the container.
    a.skiff(&["rm", "-f", "web"]).ok();
    assert_ne!(curl(&a, "http://[fd00:200::1]:8080/").code, 0);
    assert_ne!(curl(&a, "http://[::1]:8080/").code, 0);
    let table = a.in_netns("nft", &["list", "table", "ip6", "skiff"], &[]).ok();
    assert!(!table.stdout.contains("dport 8080"), "{}", table.stdout);
    a.finish();
}

#[test]
fn ipv6_agent_restart_keeps_addresses_ports_and_dns() {
    let mut a = Agent::start();
    a.skiff(&["network", "create", "--ipv6", "--subnet", "fd00:6::/64", "keep6"])
        .ok();
    web6(&a, "k1", "keep6", &["-p", "8090:80"], "kept6");
    sleeper(&a, "k2", "keep6", &[]);
    a.in_netns("ip", &["addr", "add", "fd00:ff::1/128", "dev", "lo"], &[])
        .ok();
    a.eventually("port over IPv6", || {
        curl(&a, "http://[fd00:ff::1]:8090/").stdout.trim() == "kept6"
    });
    a.kill9();
    a.launch();
    assert_eq!(curl(&a, "http://[fd00:ff::1]:8090/").out(), "kept6");
    assert_eq!(curl(&a, "http://[::1]:8090/").out(), "kept6");
    let r = a.skiff(&["exec", "k2", "nslookup", "-type=AAAA", "k1"]).ok();
    assert!(r.stdout.contains("fd00:6::2"), "{}", r.stdout);
    // No IPv6 address is handed out twice after the restart.
    sleeper(&a, "k3", "keep6", &[]);
    assert_eq!(net_field(&a, "k3", "keep6", "GlobalIPv6Address"), "fd00:6::4");
    a.finish();
}

/// A UDP echo on `[::]:53` in a container's network namespace (IPv6
/// only: the embedded DNS holds 127.0.0.11:53): busybox has no UDP server
/// applet, so python3 from the host enters the namespace. Killed when
/// dropped, so a failing test leaves no process behind.
struct UdpEcho(std::process::Child);

impl UdpEcho {
    fn start(a: &Agent, ctr: &str) -> Self {
        let pid = a.inspect(ctr, "{{.State.Pid}}");
        let echo = "import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,1)\ns.bind(('::',53))\nwhile True:\n d,c=s.recvfrom(65535)\n s.sendto(b'echo:'+d,c)\n";
        let child = std::process::Command::new("nsenter")
            .arg(format!("--net=/proc/{}/ns/net", pid.trim()))
            .args(["python3", "-c", echo])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("udp echo");
        UdpEcho(child)
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Each message from a socket of its own (a flow each) to `[::1]:port`
/// in the agent's namespace: the replies, space-separated.
fn udp_ask(a: &Agent, port: &str, msgs: &[&str]) -> String {
    let ask = "import socket,sys\nout=[]\nfor m in sys.argv[2:]:\n c=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n c.settimeout(2)\n c.sendto(m.encode(),('::1',int(sys.argv[1])))\n out.append(c.recv(100).decode())\nprint(' '.join(out))\n";
    let mut args = vec!["-c", ask, port];
    args.extend_from_slice(msgs);
    a.in_netns("python3", &args, &[]).stdout.trim().to_string()
}

fn udp_listeners(a: &Agent) -> String {
    a.in_netns("ss", &["-Hlun"], &[]).stdout
}

#[test]
fn ipv6_udp_ports_are_relayed_on_loopback() {
    let mut a = Agent::start();
    a.skiff(&["network", "create", "--ipv6", "--subnet", "fd00:d::/64", "udp6"])
        .ok();
    sleeper(&a, "u1", "udp6", &["-p", "5353:53/udp"]);
    let echo = UdpEcho::start(&a, "u1");
    a.eventually("a UDP reply on [::1]", || udp_ask(&a, "5353", &["hi"]) == "echo:hi");
    // One flow per client address, each answered on its own.
    assert_eq!(udp_ask(&a, "5353", &["a", "b", "c"]), "echo:a echo:b echo:c");
    assert!(udp_listeners(&a).contains("[::1]:5353"));
    // Stopped: the relay goes with the port.
    a.skiff(&["stop", "-t", "1", "u1"]).ok();
    drop(echo);
    assert!(!udp_listeners(&a).contains(":5353"), "{}", udp_listeners(&a));
    // Started again and the agent restarted: served again.
    a.skiff(&["start", "u1"]).ok();
    a.kill9();
    a.launch();
    let echo = UdpEcho::start(&a, "u1");
    a.eventually("a UDP reply after restart", || {
        udp_ask(&a, "5353", &["again"]) == "echo:again"
    });
    a.skiff(&["rm", "-f", "u1"]).ok();
    drop(echo);
    assert!(!udp_listeners(&a).contains(":5353"), "{}", udp_listeners(&a));
    a.finish();
}

/// `-p [v6addr]:HOST:CTR`, as Docker 20.10 parses, applies and shows it:
/// served on that address only (nftables DNAT, or the agent's proxy on
/// `[::1]` and for a container without IPv6), in inspect as given, and
/// `port` printing `[::1]:8080`.
#[test]
fn ipv6_ports_published_on_one_host_address() {
    let a = Agent::start();
    a.in_netns("ip", &["addr", "add", "fd00:ff::2/128", "dev", "lo"], &[])
        .ok();
    a.skiff(&["network", "create", "--ipv6", "--subnet", "fd00:e::/64", "hostip6"])
        .ok();
    let p = [
        "-p",
        "[::1]:8092:80",
        "-p",
        "[fd00:ff::2]:8093:80",
        "-p",
        "127.0.0.1:8094:80",
    ];
    web6(&a, "h1", "hostip6", &p, "one6");
    a.eventually("[::1]:8092", || curl(&a, "http://[::1]:8092/").stdout.trim() == "one6");
    assert_eq!(curl(&a, "http://[fd00:ff::2]:8093/").out(), "one6");
    assert_eq!(curl(&a, "http://127.0.0.1:8094/").out(), "one6");
    for url in [
        "http://[fd00:ff::2]:8092/",
        "http://[::1]:8093/",
        "http://127.0.0.1:8092/",
        "http://[::1]:8094/",
    ] {
        assert_eq!(curl(&a, url).stdout.trim(), "", "{url}");
    }
    let want = r#"{"80/tcp":[{"HostIp":"::1","HostPort":"8092"},{"HostIp":"fd00:ff::2","HostPort":"8093"},{"HostIp":"127.0.0.1","HostPort":"8094"}]}"#;
    assert_eq!(a.inspect("h1", "{{json .HostConfig.PortBindings}}"), want);
    assert_eq!(a.inspect("h1", "{{json .NetworkSettings.Ports}}"), want);
    let lines = "80/tcp -> 127.0.0.1:8094\n80/tcp -> [::1]:8092\n80/tcp -> [fd00:ff::2]:8093";
    assert_eq!(a.skiff(&["port", "h1"]).ok().stdout.trim(), lines);
    // The stock 20.10 client prints the same bindings its own way (Go's
    // `%s:%s`, in inspect's order; later clients bracket and sort as skiff).
    let stock = "80/tcp -> ::1:8092\n80/tcp -> fd00:ff::2:8093\n80/tcp -> 127.0.0.1:8094";
    assert_eq!(a.docker(&["port", "h1"]).ok().stdout.trim(), stock);
    let r = a.skiff(&["port", "h1", "80"]).ok();
    assert_eq!(r.stdout.trim(), "127.0.0.1:8094\n[::1]:8092\n[fd00:ff::2]:8093");
    let ps = a.skiff(&["ps", "--format", "{{.Ports}}"]).ok();
    assert!(ps.stdout.contains("[::1]:8092->80/tcp"), "{}", ps.stdout);
    let ps = a.docker(&["ps", "--format", "{{.Ports}}"]).ok();
    assert!(ps.stdout.contains("::1:8092->80/tcp"), "{}", ps.stdout);
    let table = a.in_netns("nft", &["list", "table", "ip6", "skiff"], &[]).ok();
    assert!(
        table
            .stdout
            .contains("ip6 daddr fd00:ff::2 tcp dport 8093 dnat to [fd00:e::2]:80"),
        "{}",
        table.stdout
    );
    // Through the stock client (the API's HostIp `::1`); a container
    // without IPv6 is reached through the proxy. Bare IPv6 is refused by
    // both CLIs in go-connections' words.
    let bare = "Invalid ip address ::1: address ::1:: too many colons in address";
    a.docker(&["create", "-p", "::1:8096:80", "busybox"]).fails(125, bare);
    a.skiff(&["create", "-p", "::1:8096:80", "busybox"]).fails(125, bare);
    a.docker(&[
        "run",
        "-d",
        "--name",
        "h2",
        "--network",
        "hostip6",
        "-p",
        "[::1]:8096:80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "[::]:80",
    ])
    .ok();
    a.docker(&[
        "run",
        "-d",
        "--name",
        "h3",
        "-p",
        "[::1]:8097:80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
    ])
    .ok();
    assert_eq!(
        a.inspect("h3", "{{json .HostConfig.PortBindings}}"),
        r#"{"80/tcp":[{"HostIp":"::1","HostPort":"8097"}]}"#
    );
    for url in ["http://[::1]:8096/", "http://[::1]:8097/"] {
        a.eventually(url, || curl(&a, url).code == 0);
    }
    // An address the host does not have: Docker's proxy's words.
    let r = a.docker(&[
        "run",
        "-d",
        "--name",
        "h4",
        "-p",
        "[fd00:ff::9]:8098:80",
        "busybox",
        "sleep",
        "30",
    ]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "Error starting userland proxy: listen tcp6 [fd00:ff::9]:8098: bind: cannot assign requested address"
        ),
        "{}",
        r.stderr
    );
    a.skiff(&["rm", "-f", "h1", "h2", "h3", "h4"]).ok();
    let left = a.in_netns("ss", &["-Hltn"], &[]).stdout;
    assert!(!left.contains(":809"), "{left}");
    a.finish();
}
