//! A container's place on its networks. The engine hands over a `Sandbox`
//! (what the container record says about its networks) and calls one
//! member per event: `plan` when it is created, `setup` when it starts,
//! `teardown` when it stops, `readopt` when the agent finds it running at
//! start, and `join`/`leave` for `network connect`/`disconnect` while it
//! runs. Addresses, interfaces, published ports and the embedded DNS are
//! this module's business alone.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use skiff_api::{ContainerInspect, EndpointSettings, HostConfig, NetworkSettings, NetworkingConfig, PortBinding};

use super::firewall::PortMap;
use super::{driver, ipam, ports, Endpoint, Net, NetError, Networks, Result};

/// The network a `NetworkMode` names (`default` is the default bridge).
pub fn primary_name(mode: &str) -> &str {
    match mode {
        "" | "default" => "bridge",
        m => m,
    }
}

/// What the network layer needs to know about one container.
pub struct Sandbox<'a> {
    pub id: &'a str,
    /// Its name, without the leading slash.
    pub name: &'a str,
    /// Its network namespace.
    pub netns: &'a Path,
    /// `HostConfig.NetworkMode`.
    pub mode: &'a str,
    /// `NetworkSettings.Networks`: as planned before a start, as running
    /// after.
    pub networks: &'a BTreeMap<String, EndpointSettings>,
    pub port_bindings: &'a BTreeMap<String, Vec<PortBinding>>,
    pub publish_all: bool,
    /// Ports the image or `--expose` exposes.
    pub exposed: Vec<String>,
    /// `--dns`: where the embedded DNS forwards what it does not know.
    pub dns: &'a [String],
}

impl<'a> Sandbox<'a> {
    pub fn new(ins: &'a ContainerInspect, netns: &'a Path) -> Self {
        let hc = &ins.host_config;
        let exposed = ins
            .config
            .exposed_ports
            .iter()
            .flat_map(|m| m.keys().cloned())
            .chain(hc.port_bindings.keys().cloned())
            .collect();
        Sandbox {
            id: &ins.id,
            name: ins.name.trim_start_matches('/'),
            netns,
            mode: &hc.network_mode,
            networks: &ins.network_settings.networks,
            port_bindings: &hc.port_bindings,
            publish_all: hc.publish_all_ports,
            exposed,
            dns: &hc.dns,
        }
    }

    fn upstreams(&self) -> Vec<SocketAddr> {
        self.dns
            .iter()
            .filter_map(|d| d.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
            .collect()
    }

    fn endpoint(&self, requested: &EndpointSettings) -> Endpoint {
        let mut dns_names = vec![self.name.to_string(), self.id[..12].to_string()];
        dns_names.extend(requested.aliases.clone().unwrap_or_default());
        Endpoint {
            container: self.id.to_string(),
            name: self.name.to_string(),
            endpoint_id: if requested.endpoint_id.is_empty() {
                crate::ids::new_id()
            } else {
                requested.endpoint_id.clone()
            },
            ip: Ipv4Addr::UNSPECIFIED,
            ip6: None,
            mac: [0; 6],
            dns_names,
        }
    }
}

/// What a started container got: the `NetworkSettings` inspect shows, its
/// interfaces, and what its `/etc/hosts` and `resolv.conf` need.
#[derive(Default)]
pub struct Joined {
    pub settings: NetworkSettings,
    /// Network ID → interface name in the container.
    pub ifaces: BTreeMap<String, String>,
    /// The primary network's name and the container's address on it.
    pub primary: Option<(String, Ipv4Addr)>,
    /// Its IPv6 address there, on a network with IPv6.
    pub primary6: Option<Ipv6Addr>,
    /// On a user-defined network: resolv.conf points at the embedded DNS.
    pub embedded_dns: bool,
}

fn bad(msg: &str) -> NetError {
    NetError::Invalid(msg.to_string())
}

impl Networks {
    /// Check a create request's networks (`NetworkMode`,
    /// `NetworkingConfig`, published ports) and return the container's
    /// `NetworkSettings.Networks`. Ports published in host mode are
    /// dropped with a warning, as Docker does.
    pub fn plan(
        &self,
        hc: &mut HostConfig,
        nc: Option<&NetworkingConfig>,
        warnings: &mut Vec<String>,
    ) -> Result<BTreeMap<String, EndpointSettings>> {
        for k in hc.port_bindings.keys() {
            ports::parse_key(k).map_err(NetError::Invalid)?;
        }
        let publishes = !hc.port_bindings.is_empty() || hc.publish_all_ports;
        let eps = nc.map(|n| n.endpoints_config.clone()).unwrap_or_default();
        let primary = self.get(primary_name(&hc.network_mode))?;
        match primary.driver.as_str() {
            driver::HOST if publishes => {
                warnings.push("Published ports are discarded when using host network mode".into());
                hc.port_bindings.clear();
                hc.publish_all_ports = false;
            }
            driver::NULL if publishes => {
                return Err(bad(
                    "conflicting options: port publishing and the container type network mode",
                ))
            }
            _ => {}
        }
        let mut keys: Vec<String> = eps.keys().cloned().collect();
        if !keys
            .iter()
            .any(|k| self.get(primary_name(k)).is_ok_and(|n| n.id == primary.id))
        {
            keys.insert(0, primary.name.clone());
        }
        let mut out = BTreeMap::new();
        for key in keys {
            let net = self.get(primary_name(&key))?;
            let mut ep = eps.get(&key).cloned().unwrap_or_default();
            check_endpoint(&net, &ep)?;
            ep.network_id = net.id.clone();
            out.insert(net.name.clone(), ep);
        }
        Ok(out)
    }

    /// Plumb every network of a container into its fresh namespace,
    /// publish its ports and start its DNS. On error, `teardown` gives
    /// back whatever was taken.
    pub async fn setup(self: &Arc<Self>, sb: &Sandbox<'_>) -> Result<Joined> {
        let primary = self.get(primary_name(sb.mode))?;
        let mut joined = Joined::default();
        if primary.driver().is_none() {
            return Ok(joined);
        }
        // The primary network first (eth0, default route), the others by name.
        let mut order: Vec<(&String, &EndpointSettings)> = sb.networks.iter().collect();
        order.sort_by_key(|(name, _)| **name != primary.name);
        let mut settings = BTreeMap::new();
        let mut primary_ep: Option<(Net, Endpoint)> = None;
        for (i, (name, requested)) in order.into_iter().enumerate() {
            let net = self.get(&requested.network_id).or_else(|_| self.get(name))?;
            let ifname = format!("eth{i}");
            let (ep, s) = self.plumb_one(sb, &net, requested, &ifname, i == 0).await?;
            joined.embedded_dns |= net.user_defined();
            joined.ifaces.insert(net.id.clone(), ifname);
            settings.insert(net.name.clone(), s);
            if i == 0 {
                primary_ep = Some((net, ep));
            }
        }
        let mut ns = NetworkSettings {
            sandbox_id: crate::ids::new_id(),
            sandbox_key: sb.netns.display().to_string(),
            networks: settings,
            ..Default::default()
        };
        if let Some((net, ep)) = primary_ep {
            if net.name == "bridge" {
                // Docker fills the top-level fields for the default bridge.
                let s = &ns.networks["bridge"];
                ns.endpoint_id = s.endpoint_id.clone();
                ns.gateway = s.gateway.clone();
                ns.ip_address = s.ip_address.clone();
                ns.ip_prefix_len = s.ip_prefix_len;
                ns.mac_address = s.mac_address.clone();
            }
            if net.driver().is_some_and(|d| d.firewalled()) {
                ns.ports = self.publish_ports(sb, &ep)?;
            }
            joined.primary = Some((net.name, ep.ip));
            joined.primary6 = ep.ip6;
        }
        joined.settings = ns;
        if joined.embedded_dns {
            self.dns.start(self.clone(), sb.id, sb.netns, sb.upstreams())?;
        }
        Ok(joined)
    }

    /// Choose host ports for a starting container, record them and
    /// rewrite the firewall; returns the `Ports` inspect shows.
    fn publish_ports(&self, sb: &Sandbox<'_>, ep: &Endpoint) -> Result<ports::Shown> {
        let failed = |e: String| {
            NetError::Other(anyhow::anyhow!(
                "driver failed programming external connectivity on endpoint {} ({}): {e}",
                sb.name,
                sb.id
            ))
        };
        let _ports = self.ports_lock.lock().unwrap_or_else(|e| e.into_inner());
        let ctr = (ep.ip, ep.ip6);
        let (maps, shown) =
            ports::resolve(sb.port_bindings, sb.publish_all, &sb.exposed, ctr, &self.ports_in_use()).map_err(failed)?;
        if !maps.is_empty() {
            self.publish(sb.id, maps).map_err(|e| failed(e.to_string()))?;
            self.sync_firewall()?;
        }
        Ok(shown)
    }

    /// Give back a stopped container's addresses, ports and DNS.
    pub fn teardown(&self, container: &str) {
        self.dns.stop(container);
        if self.release_all(container) {
            if let Err(e) = self.sync_firewall() {
                tracing::warn!(container = %&container[..12], "{e:#}");
            }
        }
    }

    /// A running container found at agent start: take its addresses, its
    /// published ports (`shown`, as inspect shows them) and its DNS back.
    pub fn readopt(self: &Arc<Self>, sb: &Sandbox<'_>, shown: &ports::Shown) {
        let mut dns = false;
        let mut primary_ip: Option<(Ipv4Addr, Option<Ipv6Addr>)> = None;
        let primary = self.get(primary_name(sb.mode)).ok();
        for (name, s) in sb.networks {
            let Ok(ip) = s.ip_address.parse::<Ipv4Addr>() else {
                continue;
            };
            let Ok(net) = self.get(&s.network_id).or_else(|_| self.get(name)) else {
                continue;
            };
            let mut ep = sb.endpoint(s);
            ep.ip = ip;
            ep.ip6 = s.global_ipv6_address.parse().ok();
            ep.mac = ipam::mac_for(ip);
            if primary.as_ref().is_some_and(|p| p.id == net.id) {
                primary_ip = Some((ip, ep.ip6));
            }
            self.adopt(&net.id, ep);
            dns |= net.user_defined();
        }
        if let Some(ctr) = primary_ip {
            let maps = published(shown, ctr);
            if let Err(e) = self.publish(sb.id, maps) {
                tracing::warn!(container = %&sb.id[..12], "re-publishing ports: {e}");
            }
        }
        if dns {
            if let Err(e) = self.dns.start(self.clone(), sb.id, sb.netns, sb.upstreams()) {
                tracing::warn!(container = %&sb.id[..12], "restarting the embedded DNS: {e:#}");
            }
        }
    }

    /// Put a running container on one more network (`network connect`).
    /// `ifaces` are its interfaces now; returns the new interface's name
    /// and the endpoint's settings.
    pub async fn join(
        self: &Arc<Self>,
        sb: &Sandbox<'_>,
        net: &Net,
        requested: &EndpointSettings,
        ifaces: &BTreeMap<String, String>,
    ) -> Result<(String, EndpointSettings)> {
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !ifaces.values().any(|u| u == n))
            .unwrap_or_default();
        let (_, s) = self.plumb_one(sb, net, requested, &ifname, false).await?;
        // Its DNS may not be listening yet (first user network).
        if net.user_defined() && !self.on_user_network(sb, None) {
            self.dns.start(self.clone(), sb.id, sb.netns, sb.upstreams())?;
        }
        Ok((ifname, s))
    }

    /// Take a running container off one network (`network disconnect`):
    /// `name` is the network's key in its settings, `ifname` its interface.
    pub async fn leave(&self, sb: &Sandbox<'_>, net: &Net, name: &str, ifname: &str) -> Result<()> {
        // The interface first: its address is free only once gone.
        self.unplumb(sb.netns, ifname).await?;
        self.release(&net.id, sb.id);
        let ip = sb
            .networks
            .get(name)
            .and_then(|e| e.ip_address.parse::<Ipv4Addr>().ok());
        if ip.is_some_and(|ip| self.unpublish_ip(sb.id, ip)) {
            self.sync_firewall()?;
        }
        if !self.on_user_network(sb, Some(name)) {
            self.dns.stop(sb.id);
        }
        Ok(())
    }

    /// Whether the container is on a user-defined network (other than
    /// the one named `except`).
    fn on_user_network(&self, sb: &Sandbox<'_>, except: Option<&str>) -> bool {
        sb.networks
            .iter()
            .any(|(k, e)| Some(k.as_str()) != except && self.get(&e.network_id).is_ok_and(|n| n.user_defined()))
    }

    /// Reserve an address on one network and create the interface.
    async fn plumb_one(
        &self,
        sb: &Sandbox<'_>,
        net: &Net,
        requested: &EndpointSettings,
        ifname: &str,
        default_route: bool,
    ) -> Result<(Endpoint, EndpointSettings)> {
        let (want, want6) = fixed_addresses(requested)?;
        let ep = self.reserve(net, &sb.endpoint(requested), want, want6)?;
        if let Err(e) = self.plumb(net, sb.netns, ifname, &ep, default_route).await {
            self.release(&net.id, sb.id);
            return Err(e);
        }
        let s = self.settings(net, &ep, requested);
        Ok((ep, s))
    }
}

/// An endpoint's `IPAMConfig`: its fixed IPv4 and IPv6 addresses.
fn fixed_addresses(ep: &EndpointSettings) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>)> {
    let Some(c) = ep.ipam_config.as_ref() else {
        return Ok((None, None));
    };
    let v4 = Some(c.ipv4_address.as_str())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| NetError::Invalid(format!("invalid IPv4 address: {s}")))
        })
        .transpose()?;
    let v6 = Some(c.ipv6_address.as_str())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Ipv6Addr>()
                .map_err(|_| NetError::Invalid(format!("invalid IPv6 address: {s}")))
        })
        .transpose()?;
    Ok((v4, v6))
}

/// A create request's endpoint on one network: fixed addresses and
/// aliases only on user-defined networks, and inside the subnet.
fn check_endpoint(net: &Net, ep: &EndpointSettings) -> Result<()> {
    let (fixed, fixed6) = fixed_addresses(ep)?;
    if !net.user_defined() {
        if fixed.is_some() || fixed6.is_some() {
            return Err(bad(
                "user specified IP address is supported on user defined networks only",
            ));
        }
        if ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(bad(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
    }
    if let Some(ip) = fixed {
        if net.pool.as_ref().is_some_and(|p| !p.subnet.contains(&ip)) {
            return Err(NetError::Invalid(format!(
                "no configured subnet or ip-range contain the IP address {ip}"
            )));
        }
    }
    if let Some(ip) = fixed6 {
        if !net.pool6.as_ref().is_some_and(|p| p.subnet.contains(&ip)) {
            return Err(NetError::Invalid(format!(
                "no configured subnet or ip-range contain the IP address {ip}"
            )));
        }
    }
    Ok(())
}

/// The port mappings behind a running container's `Ports`.
fn published(shown: &ports::Shown, (ip, ip6): (Ipv4Addr, Option<Ipv6Addr>)) -> Vec<PortMap> {
    let mut maps = Vec::new();
    for (key, binds) in shown {
        let Ok((ctr_port, proto)) = ports::parse_key(key) else {
            continue;
        };
        for b in binds.iter().flatten() {
            let Ok(host_port) = b.host_port.parse() else { continue };
            let host_ip = b
                .host_ip
                .parse()
                .ok()
                .filter(|a: &std::net::IpAddr| !a.is_unspecified());
            maps.push(ports::mapping(&proto, (host_ip, host_port), (ip, ip6), ctr_port));
        }
    }
    maps
}
