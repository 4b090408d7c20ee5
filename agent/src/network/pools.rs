//! A new network's address pools from its create request: the IPAM
//! `Config` entries (at most one IPv4 and, with `EnableIPv6`, one IPv6, as
//! the docker CLI sends them), an automatic IPv4 subnet when none is
//! given, and Docker's errors for bad or overlapping subnets.

use ipnet::{Ipv4Net, Ipv6Net};
use skiff_api::{IpamPool, NetworkCreateRequest};

use super::ipam::{self, Pool};
use super::ipam6::{self, Pool6};
use super::{NetError, Result};

/// What the create request's IPAM config asks for, split by family.
struct Wanted {
    v4: IpamPool,
    v6: Option<IpamPool>,
}

fn split(req: &NetworkCreateRequest) -> Result<Wanted> {
    let pools = req.ipam.as_ref().map(|i| i.config.clone()).unwrap_or_default();
    let (v6, v4): (Vec<IpamPool>, Vec<IpamPool>) = pools.into_iter().partition(|p| {
        let key = [&p.subnet, &p.ip_range, &p.gateway]
            .into_iter()
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_default();
        ipam6::is_v6(&key)
    });
    if v4.len() > 1 || v6.len() > 1 {
        return Err(NetError::Invalid(
            "only one IPv4 and one IPv6 subnet per network are supported".into(),
        ));
    }
    if !v6.is_empty() && !req.enable_ipv6 {
        return Err(NetError::Invalid(format!(
            "IPv6 subnet {} given without --ipv6 (EnableIPv6)",
            v6[0].subnet
        )));
    }
    Ok(Wanted {
        v4: v4.into_iter().next().unwrap_or_default(),
        v6: v6.into_iter().next(),
    })
}

fn overlap_error(subnet: impl std::fmt::Display, other: impl std::fmt::Display) -> NetError {
    NetError::Forbidden(format!(
        "Pool overlaps with other one on this address space ({subnet} overlaps {other})"
    ))
}

/// The pools of a new network. `taken` are subnets of other networks and
/// of the host's routes (for an automatic subnet), `others` and `others6`
/// those of other networks alone (a given subnet may be one the host
/// routes: macvlan onto the host's own segment).
pub fn choose(
    req: &NetworkCreateRequest,
    taken: &[Ipv4Net],
    others: &[Ipv4Net],
    others6: &[Ipv6Net],
) -> Result<(Pool, Option<Pool6>)> {
    let w = split(req)?;
    let given = w.v4;
    let pool = if given.subnet.is_empty() {
        if !given.ip_range.is_empty() || !given.gateway.is_empty() {
            return Err(NetError::Invalid("--ip-range and --gateway need --subnet".into()));
        }
        let s = ipam::pick_subnet(taken)
            .ok_or_else(|| NetError::Forbidden("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into()))?;
        ipam::pool(&s.to_string(), "", "").map_err(NetError::Invalid)?
    } else {
        let p = ipam::pool(&given.subnet, &given.ip_range, &given.gateway).map_err(NetError::Invalid)?;
        if let Some(o) = ipam::overlapping(&p.subnet, others) {
            return Err(overlap_error(p.subnet, o));
        }
        p
    };
    if !req.enable_ipv6 {
        return Ok((pool, None));
    }
    let v6 = w.v6.unwrap_or_default();
    if v6.subnet.is_empty() {
        if !v6.ip_range.is_empty() || !v6.gateway.is_empty() {
            return Err(NetError::Invalid("--ip-range and --gateway need --subnet".into()));
        }
        return Err(NetError::Forbidden(ipam6::NO_DEFAULT_POOL.into()));
    }
    let p6 = ipam6::pool(&v6.subnet, &v6.ip_range, &v6.gateway).map_err(NetError::Invalid)?;
    if let Some(o) = ipam6::overlapping(&p6.subnet, others6) {
        return Err(overlap_error(p6.subnet, o));
    }
    Ok((pool, Some(p6)))
}

/// The IPAM `Config` entries inspect shows: IPv4 first, then IPv6.
pub fn shown(pool: Option<&Pool>, pool6: Option<&Pool6>) -> Vec<IpamPool> {
    let v4 = pool.map(|p| entry(p.subnet, p.range, p.gateway));
    let v6 = pool6.map(|p| entry(p.subnet, p.range, p.gateway));
    v4.into_iter().chain(v6).collect()
}

/// One `Config` entry: the range only where it is not the whole subnet.
fn entry<N: PartialEq + std::fmt::Display>(subnet: N, range: N, gateway: impl std::fmt::Display) -> IpamPool {
    IpamPool {
        ip_range: if range == subnet {
            String::new()
        } else {
            range.to_string()
        },
        subnet: subnet.to_string(),
        gateway: gateway.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::Ipam;

    fn req(v6: bool, cfg: &[(&str, &str)]) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: "n".into(),
            enable_ipv6: v6,
            ipam: Some(Ipam {
                driver: "default".into(),
                options: None,
                config: cfg
                    .iter()
                    .map(|(s, g)| IpamPool {
                        subnet: s.to_string(),
                        ip_range: String::new(),
                        gateway: g.to_string(),
                    })
                    .collect(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn v4_and_v6_entries_in_any_order() {
        let r = req(true, &[("fd00:1::/64", "fd00:1::fe"), ("172.80.0.0/16", "")]);
        let (p, p6) = choose(&r, &[], &[], &[]).unwrap();
        assert_eq!(p.subnet.to_string(), "172.80.0.0/16");
        let p6 = p6.unwrap();
        assert_eq!(p6.gateway.to_string(), "fd00:1::fe");
        let shown = shown(Some(&p), Some(&p6));
        assert_eq!(shown[1].subnet, "fd00:1::/64");
    }

    #[test]
    fn automatic_v4_pool_and_errors() {
        let (p, p6) = choose(&req(true, &[("fd00:1::/64", "")]), &[], &[], &[]).unwrap();
        assert_eq!(p.subnet.to_string(), "172.17.0.0/16");
        assert!(p6.is_some());
        let no_subnet = choose(&req(true, &[]), &[], &[], &[]).unwrap_err().to_string();
        assert!(no_subnet.contains("IPv6 address pool"), "{no_subnet}");
        let without_flag = choose(&req(false, &[("fd00:1::/64", "")]), &[], &[], &[]).unwrap_err();
        assert!(without_flag.to_string().contains("--ipv6"));
        let taken6: Vec<Ipv6Net> = vec!["fd00:1::/48".parse().unwrap()];
        let e = choose(&req(true, &[("fd00:1::/64", "")]), &[], &[], &taken6).unwrap_err();
        assert!(e.to_string().contains("Pool overlaps"), "{e}");
        let two = choose(&req(true, &[("fd00:1::/64", ""), ("fd00:2::/64", "")]), &[], &[], &[]);
        assert!(two.is_err());
        // Without --ipv6 nothing changes.
        let (_, none) = choose(&req(false, &[("10.5.0.0/16", "")]), &[], &[], &[]).unwrap();
        assert!(none.is_none());
    }
}
