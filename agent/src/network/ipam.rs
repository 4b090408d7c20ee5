//! Address management: validating a network's pool, picking a free subnet
//! for a new network, and handing out addresses in order.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

/// A network's IPv4 pool: addresses come from `range`, a part of `subnet`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub subnet: Ipv4Net,
    pub range: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// The pools Docker picks default subnets from: 172.17-31.0.0/16, then
/// 192.168.0-240.0/20.
pub fn default_candidates() -> impl Iterator<Item = Ipv4Net> {
    let a = (17..=31).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).unwrap());
    let b = (0..16).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).unwrap());
    a.chain(b)
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first candidate that overlaps neither another network nor a route of
/// the host.
pub fn pick_subnet(taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    default_candidates().find(|c| !taken.iter().any(|t| overlaps(c, t)))
}

fn parse_net(s: &str) -> Result<Ipv4Net, String> {
    let n: Ipv4Net = s.parse().map_err(|_| format!("invalid CIDR address: {s}"))?;
    if n.prefix_len() > 30 {
        return Err(format!("subnet {s} is too small: it leaves no address for containers"));
    }
    Ok(n)
}

/// Validate `--subnet --ip-range --gateway` (the subnet must be given).
pub fn pool(subnet: &str, ip_range: &str, gateway: &str) -> Result<Pool, String> {
    let given: Ipv4Net = subnet.parse().map_err(|_| format!("invalid CIDR address: {subnet}"))?;
    let subnet_net = parse_net(subnet)?;
    if given.network() != given.addr() {
        // Docker keeps the host bits out of a subnet.
        return Err(format!(
            "invalid subnet {subnet}: it has host bits set (did you mean {}?)",
            subnet_net.trunc()
        ));
    }
    let (range, gateway) = range_and_gateway(
        subnet_net,
        [subnet, ip_range, gateway],
        Ipv4Net::trunc,
        first_host(&subnet_net),
        |g| (*g == subnet_net.network() || *g == subnet_net.broadcast()).then_some("the network or broadcast address"),
    )?;
    Ok(Pool {
        subnet: subnet_net,
        range,
        gateway,
    })
}

/// `--ip-range` (the subnet when empty) and `--gateway` (`default` when
/// empty) checked against the subnet `net` (`given`: subnet, ip-range and
/// gateway as written); `reserved` says what a gateway may not be. For
/// both families.
pub(super) fn range_and_gateway<N, A>(
    net: N,
    given: [&str; 3],
    trunc: impl Fn(&N) -> N,
    default: A,
    reserved: impl Fn(&A) -> Option<&'static str>,
) -> Result<(N, A), String>
where
    N: FromStr + Copy + Into<IpNet>,
    A: FromStr + Copy + Into<IpAddr>,
{
    let whole: IpNet = net.into();
    let [subnet, ip_range, gateway] = given;
    let range = if ip_range.is_empty() {
        net
    } else {
        let r: N = ip_range
            .parse()
            .map_err(|_| format!("invalid CIDR address: {ip_range}"))?;
        if !whole.contains(&r.into()) {
            return Err(format!("ip-range {ip_range} is not within subnet {subnet}"));
        }
        trunc(&r)
    };
    if gateway.is_empty() {
        return Ok((range, default));
    }
    let g: A = gateway
        .parse()
        .map_err(|_| format!("invalid gateway address: {gateway}"))?;
    if !whole.contains(&g.into()) {
        return Err(format!("no matching subnet for gateway {gateway}"));
    }
    if let Some(what) = reserved(&g) {
        return Err(format!("gateway {gateway} is {what} of {subnet}"));
    }
    Ok((range, g))
}

/// Docker's default gateway: the first host address of the subnet.
pub fn first_host(n: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(n.network()) + 1)
}

/// Does `p` overlap any of `others`?
pub fn overlapping<'a>(p: &Ipv4Net, others: impl IntoIterator<Item = &'a Ipv4Net>) -> Option<Ipv4Net> {
    others.into_iter().find(|o| overlaps(p, o)).copied()
}

/// The lowest free address of the pool's range, or `want` if it is free.
/// The network and broadcast addresses and the gateway are never given out.
pub fn allocate(pool: &Pool, used: &BTreeSet<Ipv4Addr>, want: Option<Ipv4Addr>) -> Result<Ipv4Addr, String> {
    let reserved = |a: Ipv4Addr| a == pool.subnet.network() || a == pool.subnet.broadcast() || a == pool.gateway;
    let range = u32::from(pool.range.network())..=u32::from(pool.range.broadcast());
    pick(
        want,
        |a| pool.subnet.contains(a),
        |a| !reserved(*a) && !used.contains(a),
        range.map(Ipv4Addr::from),
        || {
            format!(
                "no available IPv4 addresses on this network's address pools ({})",
                pool.range
            )
        },
    )
}

/// `want` if it is in the subnet and free, else the first free address of
/// `range` (`exhausted` words the error when there is none); for both
/// families.
pub(super) fn pick<A: Copy + std::fmt::Display>(
    want: Option<A>,
    in_subnet: impl Fn(&A) -> bool,
    free: impl Fn(&A) -> bool,
    mut range: impl Iterator<Item = A>,
    exhausted: impl FnOnce() -> String,
) -> Result<A, String> {
    match want {
        Some(a) if !in_subnet(&a) => Err(format!(
            "invalid address {a}: it does not belong to any of this network's subnets"
        )),
        Some(a) if !free(&a) => Err(format!("Address already in use: {a}")),
        Some(a) => Ok(a),
        None => range.find(free).ok_or_else(exhausted),
    }
}

/// Docker's MAC for an address: 02:42 followed by the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_validation() {
        let p = pool("172.72.0.0/16", "172.72.0.0/24", "172.72.0.1").unwrap();
        assert_eq!(p.range.to_string(), "172.72.0.0/24");
        assert_eq!(pool("10.1.0.0/16", "", "").unwrap().gateway, Ipv4Addr::new(10, 1, 0, 1));
        assert!(pool("300.1.0.0/16", "", "").unwrap_err().contains("invalid CIDR"));
        assert!(pool("10.1.0.0/16", "10.2.0.0/24", "")
            .unwrap_err()
            .contains("not within subnet"));
        assert!(pool("10.1.0.0/16", "", "10.2.0.1")
            .unwrap_err()
            .contains("no matching subnet for gateway"));
        assert!(pool("10.1.0.5/16", "", "").unwrap_err().contains("host bits"));
        assert!(pool("10.1.0.0/31", "", "").is_err());
    }

    #[test]
    fn allocation_in_order_skipping_reserved() {
        let p = pool("172.72.0.0/16", "172.72.0.0/24", "172.72.0.1").unwrap();
        let mut used = BTreeSet::new();
        let a = allocate(&p, &used, None).unwrap();
        assert_eq!(a, Ipv4Addr::new(172, 72, 0, 2));
        used.insert(a);
        assert_eq!(allocate(&p, &used, None).unwrap(), Ipv4Addr::new(172, 72, 0, 3));
        // A fixed address outside the range but inside the subnet is fine.
        assert_eq!(
            allocate(&p, &used, Some(Ipv4Addr::new(172, 72, 5, 5))).unwrap(),
            Ipv4Addr::new(172, 72, 5, 5)
        );
        assert!(allocate(&p, &used, Some(a)).unwrap_err().contains("already in use"));
        assert!(allocate(&p, &used, Some(Ipv4Addr::new(172, 72, 0, 1))).is_err());
        assert!(allocate(&p, &used, Some(Ipv4Addr::new(10, 0, 0, 1))).is_err());
        let tiny = pool("10.9.0.0/30", "", "").unwrap();
        let used: BTreeSet<_> = [Ipv4Addr::new(10, 9, 0, 2)].into();
        assert!(allocate(&tiny, &used, None).unwrap_err().contains("no available"));
    }

    #[test]
    fn subnets_do_not_overlap() {
        let taken = vec!["172.17.0.0/16".parse().unwrap(), "172.18.5.0/24".parse().unwrap()];
        assert_eq!(pick_subnet(&taken).unwrap().to_string(), "172.19.0.0/16");
        let all: Vec<Ipv4Net> = vec!["172.16.0.0/12".parse().unwrap()];
        assert_eq!(pick_subnet(&all).unwrap().to_string(), "192.168.0.0/20");
        assert!(overlapping(&"172.17.3.0/24".parse().unwrap(), &taken).is_some());
    }

    #[test]
    fn mac_from_address() {
        assert_eq!(mac_string(&mac_for(Ipv4Addr::new(172, 17, 0, 2))), "02:42:ac:11:00:02");
    }
}
