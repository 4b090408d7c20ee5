//! Published ports: turning a container's `PortBindings` (and
//! `PublishAllPorts` over its exposed ports) into DNAT mappings, picking
//! random host ports, and refusing ports that are taken.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};

use skiff_api::PortBinding;

use super::firewall::PortMap;

/// Docker's port key: `80/tcp`, `53/udp`, or `80` (tcp).
pub fn parse_key(key: &str) -> Result<(u16, String), String> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if proto != "tcp" && proto != "udp" {
        return Err(format!("invalid proto: {proto}"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("invalid containerPort: {port}"))?;
    Ok((port, proto))
}

/// Two mappings want the same host socket.
pub fn clash(a: &PortMap, b: &PortMap) -> bool {
    a.proto == b.proto
        && a.host_port == b.host_port
        && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
}

/// Docker's words (the address as Go prints it: IPv6 bare).
pub fn in_use(m: &PortMap) -> String {
    format!(
        "Bind for {}:{} failed: port is already allocated",
        m.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        m.host_port
    )
}

/// One mapping; IPv6 goes to the container's IPv6 address only for ports
/// published on all host addresses or on an IPv6 one.
pub fn mapping(proto: &str, host: (Option<IpAddr>, u16), ctr: (Ipv4Addr, Option<Ipv6Addr>), ctr_port: u16) -> PortMap {
    PortMap {
        proto: proto.to_string(),
        host_ip: host.0,
        host_port: host.1,
        ctr_ip: ctr.0,
        ctr_ip6: ctr.1.filter(|_| !matches!(host.0, Some(IpAddr::V4(_)))),
        ctr_port,
    }
}

/// Is the host socket free of other programs? (Docker's proxy would fail
/// to bind it; DNAT would silently shadow it.) An address the host does
/// not have is refused in the words of Docker's proxy.
fn host_free(proto: &str, ip: Option<IpAddr>, port: u16) -> Result<bool, String> {
    let addr = (ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), port);
    let bound = match proto {
        "udp" => UdpSocket::bind(addr).map(drop),
        _ => TcpListener::bind(addr).map(drop),
    };
    match bound {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
            let (fam, host) = match addr.0 {
                IpAddr::V4(a) => ("4", a.to_string()),
                IpAddr::V6(a) => ("6", format!("[{a}]")),
            };
            Err(format!(
                "Error starting userland proxy: listen {proto}{fam} {host}:{port}: bind: cannot assign requested address"
            ))
        }
        Err(_) => Ok(false),
    }
}

/// A binding's `HostIp`: `None` for all addresses (`""`, `0.0.0.0`, `::`).
fn host_ip_of(s: &str) -> Result<Option<IpAddr>, String> {
    match s {
        "" => Ok(None),
        s => {
            let ip: IpAddr = s.parse().map_err(|_| format!("invalid IP address: {s}"))?;
            Ok(Some(ip).filter(|ip| !ip.is_unspecified()))
        }
    }
}

/// `NetworkSettings.Ports`: each exposed port and its host bindings.
pub type Shown = BTreeMap<String, Option<Vec<PortBinding>>>;

/// Resolve bindings into mappings to the container's addresses (IPv4, and
/// IPv6 on networks with it: ports published on all host addresses are
/// reachable over both), and the `Ports` map inspect shows (exposed but
/// unpublished ports as `null`).
pub fn resolve(
    bindings: &BTreeMap<String, Vec<PortBinding>>,
    publish_all: bool,
    exposed: &[String],
    (ctr_ip, ctr_ip6): (Ipv4Addr, Option<Ipv6Addr>),
    taken: &[PortMap],
) -> Result<(Vec<PortMap>, Shown), String> {
    let mut wanted: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
    for (k, v) in bindings {
        let (port, proto) = parse_key(k)?;
        wanted
            .entry(format!("{port}/{proto}"))
            .or_default()
            .extend(v.iter().cloned());
    }
    let mut shown: Shown = BTreeMap::new();
    for k in exposed {
        let (port, proto) = parse_key(k)?;
        let key = format!("{port}/{proto}");
        if publish_all && !wanted.contains_key(&key) {
            wanted.insert(key.clone(), vec![PortBinding::default()]);
        }
        shown.insert(key, None);
    }
    let mut maps: Vec<PortMap> = Vec::new();
    for (key, binds) in &wanted {
        let (ctr_port, proto) = parse_key(key)?;
        let mut out = Vec::new();
        for b in binds {
            let host_ip = host_ip_of(&b.host_ip)?;
            let candidates: Vec<u16> = match b.host_port.as_str() {
                "" | "0" => (49153..=65535).collect(),
                p => match p.split_once('-') {
                    Some((a, z)) => {
                        let a: u16 = a.parse().map_err(|_| format!("invalid hostPort: {p}"))?;
                        let z: u16 = z.parse().map_err(|_| format!("invalid hostPort: {p}"))?;
                        (a..=z).collect()
                    }
                    None => vec![p
                        .parse()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| format!("invalid hostPort: {p}"))?],
                },
            };
            let single = candidates.len() == 1;
            let mut chosen = None;
            for hp in candidates {
                let m = mapping(&proto, (host_ip, hp), (ctr_ip, ctr_ip6), ctr_port);
                let busy = taken.iter().chain(maps.iter()).any(|t| clash(t, &m)) || !host_free(&proto, host_ip, hp)?;
                if !busy {
                    chosen = Some(m);
                    break;
                }
                if single {
                    return Err(in_use(&m));
                }
            }
            let m = chosen.ok_or_else(|| format!("no free host port for {key}"))?;
            // `::` stays as given (all addresses, as Docker shows it).
            let shown_ip = match host_ip {
                Some(ip) => ip.to_string(),
                None if b.host_ip == "::" => b.host_ip.clone(),
                None => Ipv4Addr::UNSPECIFIED.to_string(),
            };
            // All addresses: Docker 20.10 shows the port on `::` too (it
            // is served over both families; `[::1]` by the proxy).
            let both = host_ip.is_none() && b.host_ip != "::";
            out.push(PortBinding {
                host_ip: shown_ip,
                host_port: m.host_port.to_string(),
            });
            if both {
                out.push(PortBinding {
                    host_ip: "::".into(),
                    host_port: m.host_port.to_string(),
                });
            }
            maps.push(m);
        }
        shown.insert(key.clone(), Some(out));
    }
    Ok((maps, shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn resolves_fixed_random_and_all() {
        let ip: Ipv4Addr = "172.17.0.2".parse().unwrap();
        let mut bindings = BTreeMap::new();
        bindings.insert("80/tcp".to_string(), vec![b("", "38080")]);
        bindings.insert("53/udp".to_string(), vec![b("127.0.0.1", "")]);
        let exposed = vec!["80/tcp".to_string(), "443/tcp".to_string(), "9000".to_string()];
        let (maps, shown) = resolve(&bindings, false, &exposed, (ip, None), &[]).unwrap();
        assert_eq!(maps.len(), 2);
        assert!(maps
            .iter()
            .any(|m| m.host_port == 38080 && m.ctr_port == 80 && m.host_ip.is_none()));
        assert!(maps.iter().any(|m| m.proto == "udp" && m.host_port >= 49153));
        assert_eq!(shown["443/tcp"], None);
        // All addresses: shown on both families, as Docker 20.10.
        assert_eq!(shown["80/tcp"], Some(vec![b("0.0.0.0", "38080"), b("::", "38080")]));
        let (maps, _) = resolve(&BTreeMap::new(), true, &exposed, (ip, None), &[]).unwrap();
        assert_eq!(maps.len(), 3);
    }

    #[test]
    fn conflicts_are_refused() {
        let ip: Ipv4Addr = "172.17.0.2".parse().unwrap();
        let mut bindings = BTreeMap::new();
        bindings.insert("80/tcp".to_string(), vec![b("", "38081")]);
        let (taken, _) = resolve(&bindings, false, &[], (ip, None), &[]).unwrap();
        let err = resolve(&bindings, false, &[], ("172.17.0.3".parse().unwrap(), None), &taken).unwrap_err();
        assert_eq!(err, "Bind for 0.0.0.0:38081 failed: port is already allocated");
        // Another protocol, or another host address, is fine.
        let mut udp = BTreeMap::new();
        udp.insert("80/udp".to_string(), vec![b("", "38081")]);
        assert!(resolve(&udp, false, &[], (ip, None), &taken).is_ok());
        assert!(parse_key("80/sctp").is_err());
        assert!(parse_key("x/tcp").is_err());
    }

    #[test]
    fn ipv6_host_addresses() {
        let ip: Ipv4Addr = "172.18.0.2".parse().unwrap();
        let ip6: Ipv6Addr = "fd00:e::2".parse().unwrap();
        let mut bindings = BTreeMap::new();
        let wanted = vec![b("::1", "38090"), b("127.0.0.1", "38091"), b("::", "38092")];
        bindings.insert("80/tcp".to_string(), wanted.clone());
        let (maps, shown) = resolve(&bindings, false, &[], (ip, Some(ip6)), &[]).unwrap();
        assert_eq!(maps[0].host_ip, Some("::1".parse().unwrap()));
        assert_eq!(maps[0].ctr_ip6, Some(ip6));
        assert_eq!(maps[1].ctr_ip6, None, "an IPv4 address is not published over IPv6");
        assert_eq!((maps[2].host_ip, maps[2].ctr_ip6), (None, Some(ip6)));
        assert_eq!(shown["80/tcp"], Some(wanted));
        let mut gone = BTreeMap::new();
        gone.insert("80/tcp".to_string(), vec![b("fd00:ff::9", "38093")]);
        let err = resolve(&gone, false, &[], (ip, Some(ip6)), &[]).unwrap_err();
        assert_eq!(
            err,
            "Error starting userland proxy: listen tcp6 [fd00:ff::9]:38093: bind: cannot assign requested address"
        );
        let taken = vec![mapping("tcp", (Some("::1".parse().unwrap()), 38094), (ip, None), 80)];
        let mut again = BTreeMap::new();
        again.insert("80/tcp".to_string(), vec![b("::1", "38094")]);
        let err = resolve(&again, false, &[], (ip, None), &taken).unwrap_err();
        assert_eq!(err, "Bind for ::1:38094 failed: port is already allocated");
    }
}
