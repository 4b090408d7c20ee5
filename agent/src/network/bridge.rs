//! The `bridge` driver: a Linux bridge per network (`skiff0` for the
//! default one, `br-<id12>` for user networks) holding the gateway
//! address, a veth pair per endpoint with its peer made directly inside
//! the container's namespace, and skiff's firewall for NAT and isolation.

use std::collections::BTreeMap;
use std::path::Path;

use rtnetlink::Handle;

use super::driver::{Driver, Fut};
use super::{netlink, Net, NetError, Result};

pub const NAME: &str = "bridge";
const NAME_OPTION: &str = "com.docker.network.bridge.name";

pub struct Bridge;

fn pool(net: &Net) -> Result<&super::ipam::Pool> {
    net.pool
        .as_ref()
        .ok_or_else(|| NetError::Invalid(format!("bridge network {} has no pool", net.name)))
}

/// The bridge's IPv6 gateway address, on networks with IPv6.
fn gateway6(net: &Net) -> Option<(std::net::Ipv6Addr, u8)> {
    net.pool6.as_ref().map(|p| (p.gateway, p.subnet.prefix_len()))
}

impl Driver for Bridge {
    fn name(&self) -> &'static str {
        NAME
    }

    fn validate<'a>(
        &'a self,
        _nl: &'a Handle,
        id: &'a str,
        options: &'a mut BTreeMap<String, String>,
    ) -> Fut<'a, Result<String>> {
        Box::pin(async move {
            let b = options
                .get(NAME_OPTION)
                .cloned()
                .unwrap_or_else(|| format!("br-{}", &id[..12]));
            if b.len() > 15 {
                return Err(NetError::Invalid(format!(
                    "bridge name {b} is longer than 15 characters"
                )));
            }
            Ok(b)
        })
    }

    fn setup<'a>(&'a self, nl: &'a Handle, net: &'a Net) -> Fut<'a, Result<()>> {
        Box::pin(async move {
            let p = pool(net)?;
            netlink::ensure_bridge(nl, &net.iface, Some((p.gateway, p.subnet.prefix_len())), gateway6(net)).await?;
            // DNAT of published ports reached through 127.0.0.1.
            let _ = std::fs::write(format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.iface), "1\n");
            Ok(())
        })
    }

    fn teardown<'a>(&'a self, nl: &'a Handle, net: &'a Net) -> Fut<'a, Result<()>> {
        Box::pin(async move { Ok(netlink::delete_link(nl, &net.iface).await?) })
    }

    fn plumb<'a>(
        &'a self,
        nl: &'a Handle,
        net: &'a Net,
        netns: &'a Path,
        iface: &'a netlink::Iface<'a>,
    ) -> Fut<'a, Result<()>> {
        Box::pin(async move {
            let p = pool(net)?;
            let bridge = match netlink::link_index(nl, &net.iface).await? {
                Some(i) => i,
                // Gone (deleted by hand): make it again.
                None => {
                    let gw = Some((p.gateway, p.subnet.prefix_len()));
                    netlink::ensure_bridge(nl, &net.iface, gw, gateway6(net)).await?
                }
            };
            let host_name = format!("veth{}", &crate::ids::new_id()[..7]);
            let kind = netlink::Kind::Veth {
                host_name: &host_name,
                bridge,
            };
            Ok(netlink::add_endpoint(nl, netns, kind, iface).await?)
        })
    }

    fn firewalled(&self) -> bool {
        true
    }
}
