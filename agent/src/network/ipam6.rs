//! IPv6 address management for networks created with `--ipv6`: the
//! network's v6 pool (subnet, range, gateway) and addresses handed out in
//! order, as Docker's default IPAM does on user networks. There is no
//! default IPv6 pool (Docker 20.10 has none unless the daemon is given
//! one), so an IPv6 network needs its subnet.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

/// A network's IPv6 pool: addresses come from `range`, a part of `subnet`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool6 {
    pub subnet: Ipv6Net,
    pub range: Ipv6Net,
    pub gateway: Ipv6Addr,
}

/// The error Docker 20.10 gives for `--ipv6` without an IPv6 subnet (its
/// daemon has no default IPv6 pool unless configured).
pub const NO_DEFAULT_POOL: &str = "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network: give the network an IPv6 subnet (--subnet fd00:1::/64)";

/// Is `s` written as an IPv6 subnet or address?
pub fn is_v6(s: &str) -> bool {
    s.contains(':')
}

fn overlaps(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first of `others` that `p` overlaps.
pub fn overlapping<'a>(p: &Ipv6Net, others: impl IntoIterator<Item = &'a Ipv6Net>) -> Option<Ipv6Net> {
    others.into_iter().find(|o| overlaps(p, o)).copied()
}

/// Validate an IPv6 `--subnet --ip-range --gateway`.
pub fn pool(subnet: &str, ip_range: &str, gateway: &str) -> Result<Pool6, String> {
    let given: Ipv6Net = subnet.parse().map_err(|_| format!("invalid CIDR address: {subnet}"))?;
    if given.prefix_len() > 126 {
        return Err(format!(
            "subnet {subnet} is too small: it leaves no address for containers"
        ));
    }
    let subnet_net = given.trunc();
    if given.addr() != subnet_net.network() {
        return Err(format!(
            "invalid subnet {subnet}: it has host bits set (did you mean {subnet_net}?)"
        ));
    }
    let (range, gateway) = super::ipam::range_and_gateway(
        subnet_net,
        [subnet, ip_range, gateway],
        Ipv6Net::trunc,
        first_host(&subnet_net),
        |g| (*g == subnet_net.network()).then_some("the subnet-router anycast address"),
    )?;
    Ok(Pool6 {
        subnet: subnet_net,
        range,
        gateway,
    })
}

/// Docker's default gateway: the first address after the subnet's own.
pub fn first_host(n: &Ipv6Net) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(n.network()) + 1)
}

/// The lowest free address of the pool's range, or `want` if it is free.
/// The subnet's own address (subnet-router anycast) and the gateway are
/// never given out.
pub fn allocate(pool: &Pool6, used: &BTreeSet<Ipv6Addr>, want: Option<Ipv6Addr>) -> Result<Ipv6Addr, String> {
    let reserved = |a: Ipv6Addr| a == pool.subnet.network() || a == pool.gateway;
    // At most `used.len() + 2` steps: every address skipped is taken.
    let range = u128::from(pool.range.network())..=u128::from(pool.range.broadcast());
    super::ipam::pick(
        want,
        |a| pool.subnet.contains(a),
        |a| !reserved(*a) && !used.contains(a),
        range.map(Ipv6Addr::from),
        || {
            format!(
                "no available IPv6 addresses on this network's address pools ({})",
                pool.range
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn pool_validation() {
        let p = pool("fd00:1::/64", "", "").unwrap();
        assert_eq!(p.gateway, a("fd00:1::1"));
        assert_eq!(p.range, p.subnet);
        let p = pool("fd00:1::/64", "fd00:1::100/120", "fd00:1::fe").unwrap();
        assert_eq!(p.range.to_string(), "fd00:1::100/120");
        assert_eq!(p.gateway, a("fd00:1::fe"));
        assert!(pool("fd00:zz::/64", "", "").unwrap_err().contains("invalid CIDR"));
        assert!(pool("fd00:1::5/64", "", "").unwrap_err().contains("host bits"));
        assert!(pool("fd00:1::/64", "fd00:2::/120", "")
            .unwrap_err()
            .contains("not within subnet"));
        assert!(pool("fd00:1::/64", "", "fd00:2::1")
            .unwrap_err()
            .contains("no matching subnet for gateway"));
        assert!(pool("fd00:1::/64", "", "fd00:1::").is_err());
        assert!(pool("fd00:1::/127", "", "").is_err());
        assert!(pool("fd00:1::/126", "", "").is_ok());
    }

    #[test]
    fn allocation_in_order_skipping_reserved() {
        let p = pool("fd00:1::/64", "", "").unwrap();
        let mut used = BTreeSet::new();
        let first = allocate(&p, &used, None).unwrap();
        assert_eq!(first, a("fd00:1::2"));
        used.insert(first);
        assert_eq!(allocate(&p, &used, None).unwrap(), a("fd00:1::3"));
        assert_eq!(allocate(&p, &used, Some(a("fd00:1::beef"))).unwrap(), a("fd00:1::beef"));
        assert!(allocate(&p, &used, Some(first)).unwrap_err().contains("already in use"));
        assert!(allocate(&p, &used, Some(a("fd00:1::1"))).is_err());
        assert!(allocate(&p, &used, Some(a("fd00:2::2")))
            .unwrap_err()
            .contains("does not belong"));
        // A gateway elsewhere frees ::1 for a container.
        let g = pool("fd00:1::/64", "", "fd00:1::ffff").unwrap();
        assert_eq!(allocate(&g, &BTreeSet::new(), None).unwrap(), a("fd00:1::1"));
        // A range starts where it says.
        let r = pool("fd00:1::/64", "fd00:1::100/126", "").unwrap();
        assert_eq!(allocate(&r, &BTreeSet::new(), None).unwrap(), a("fd00:1::100"));
        let full: BTreeSet<_> = (0x100..=0x103u128)
            .map(|i| Ipv6Addr::from(u128::from(a("fd00:1::")) + i))
            .collect();
        assert!(allocate(&r, &full, None).unwrap_err().contains("no available IPv6"));
    }

    #[test]
    fn overlaps_found() {
        let others: Vec<Ipv6Net> = vec!["fd00:1::/64".parse().unwrap()];
        assert!(overlapping(&"fd00:1::/48".parse().unwrap(), &others).is_some());
        assert!(overlapping(&"fd00:1:0:0:1::/80".parse().unwrap(), &others).is_some());
        assert!(overlapping(&"fd00:2::/64".parse().unwrap(), &others).is_none());
        assert!(is_v6("fd00::/64") && !is_v6("10.0.0.0/8"));
    }
}
