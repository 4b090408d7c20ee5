//! A container's networks: planned at create (`NetworkMode`,
//! `NetworkingConfig`, ports, links), plumbed at start, released at exit,
//! changed while running by `network connect`/`disconnect`, and re-adopted
//! when the agent restarts.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_api::{EndpointSettings, HostConfig, NetworkSettings, NetworkingConfig};

use super::{Ctr, Engine, EngineError, Result};
use crate::network::{driver, firewall::PortMap, ports, Endpoint, Net};

/// What the files of a started container need to know about its networks.
#[derive(Default)]
pub struct Attached {
    /// The primary address (for `/etc/hosts`).
    pub ip: Option<Ipv4Addr>,
    /// `--link` entries for `/etc/hosts`: address, alias, name, short ID.
    pub links: Vec<(Ipv4Addr, String, String, String)>,
    /// On a user-defined network: resolv.conf points at the embedded DNS.
    pub embedded_dns: bool,
}

/// The network a `NetworkMode` names (`default` is the default bridge).
pub fn primary_name(mode: &str) -> &str {
    match mode {
        "" | "default" => "bridge",
        m => m,
    }
}

/// Clear what only a running container has (addresses, ports, sandbox).
pub fn clear_runtime(ns: &mut NetworkSettings) {
    let keep = std::mem::take(&mut ns.networks);
    *ns = NetworkSettings::default();
    ns.networks = keep
        .into_iter()
        .map(|(k, e)| {
            (
                k,
                EndpointSettings {
                    ipam_config: e.ipam_config,
                    links: e.links,
                    aliases: e.aliases,
                    network_id: e.network_id,
                    driver_opts: e.driver_opts,
                    ..Default::default()
                },
            )
        })
        .collect();
}

fn endpoint_id() -> String {
    crate::ids::new_id()
}

impl Engine {
    /// Validate a create request's networking and return the container's
    /// `NetworkSettings.Networks`.
    pub(super) fn plan_networks(
        &self,
        hc: &mut HostConfig,
        nc: Option<&NetworkingConfig>,
        warnings: &mut Vec<String>,
    ) -> Result<BTreeMap<String, EndpointSettings>> {
        if hc.network_mode.is_empty() {
            hc.network_mode = "default".into();
        }
        let mode = hc.network_mode.clone();
        for k in hc.port_bindings.keys() {
            ports::parse_key(k).map_err(EngineError::BadRequest)?;
        }
        let publishes = !hc.port_bindings.is_empty() || hc.publish_all_ports;
        let mut out = BTreeMap::new();
        if let Some(other) = mode.strip_prefix("container:") {
            self.get(other)?;
            if publishes {
                return Err(EngineError::BadRequest(
                    "conflicting options: port publishing and the container type network mode".into(),
                ));
            }
            return Ok(out);
        }
        let eps = nc.map(|n| n.endpoints_config.clone()).unwrap_or_default();
        let primary = self.networks.get(primary_name(&mode))?;
        match primary.driver.as_str() {
            driver::HOST if publishes => {
                warnings.push("Published ports are discarded when using host network mode".into());
                hc.port_bindings.clear();
                hc.publish_all_ports = false;
            }
            driver::NULL if publishes => {
                return Err(EngineError::BadRequest(
                    "conflicting options: port publishing and the container type network mode".into(),
                ))
            }
            _ => {}
        }
        let mut links = Vec::new();
        for l in &hc.links {
            let (name, alias) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
            let name = name.trim_start_matches('/');
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            self.get(name)
                .map_err(|_| EngineError::BadRequest(format!("could not get container for {name}")))?;
            links.push(format!("{name}:{alias}"));
        }
        let mut keys: Vec<String> = eps.keys().cloned().collect();
        if !keys
            .iter()
            .any(|k| self.networks.get(primary_name(k)).is_ok_and(|n| n.id == primary.id))
        {
            keys.insert(0, primary.name.clone());
        }
        for key in keys {
            let net = self.networks.get(primary_name(&key))?;
            let mut ep = eps.get(&key).cloned().unwrap_or_default();
            if !net.user_defined() {
                if ep.ipam_config.as_ref().is_some_and(|c| !c.ipv4_address.is_empty()) {
                    return Err(EngineError::BadRequest(
                        "user specified IP address is supported on user defined networks only".into(),
                    ));
                }
                if ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
                    return Err(EngineError::BadRequest(
                        "network-scoped alias is supported only for containers in user defined networks".into(),
                    ));
                }
            }
            if let Some(ip) = ep
                .ipam_config
                .as_ref()
                .map(|c| c.ipv4_address.clone())
                .filter(|s| !s.is_empty())
            {
                let ip: Ipv4Addr = ip
                    .parse()
                    .map_err(|_| EngineError::BadRequest(format!("invalid IPv4 address: {ip}")))?;
                if let Some(p) = &net.pool {
                    if !p.subnet.contains(&ip) {
                        return Err(EngineError::BadRequest(format!(
                            "no configured subnet or ip-range contain the IP address {ip}"
                        )));
                    }
                }
            }
            ep.network_id = net.id.clone();
            out.insert(net.name.clone(), ep);
        }
        if !links.is_empty() {
            hc.links = links;
        }
        Ok(out)
    }

    /// Plumb every network of a container into its fresh namespace,
    /// publish its ports and start its DNS. On error the caller's teardown
    /// releases whatever was taken.
    pub(super) async fn attach_networks(self: &Arc<Self>, c: &Arc<Ctr>, netns: &Path) -> Result<Attached> {
        let rec = c.record().clone();
        let ins = &rec.inspect;
        let hc = &ins.host_config;
        let primary = self.networks.get(primary_name(&hc.network_mode))?;
        let mut att = Attached::default();
        if primary.driver().is_none() {
            return Ok(att);
        }
        // The primary network first (eth0, default route), the others by name.
        let mut order: Vec<(String, EndpointSettings)> = ins.network_settings.networks.clone().into_iter().collect();
        order.sort_by_key(|(name, _)| *name != primary.name);
        let mut settings = BTreeMap::new();
        let mut ifaces = BTreeMap::new();
        let mut primary_ep: Option<(Net, Ipv4Addr)> = None;
        for (i, (name, requested)) in order.iter().enumerate() {
            let net = self
                .networks
                .get(&requested.network_id)
                .or_else(|_| self.networks.get(name))?;
            let ifname = format!("eth{i}");
            let (ip, s) = self.plumb_one(c, &net, requested, netns, &ifname, i == 0).await?;
            if i == 0 {
                primary_ep = Some((net.clone(), ip));
            }
            att.embedded_dns |= net.user_defined();
            ifaces.insert(net.id.clone(), ifname);
            settings.insert(net.name.clone(), s);
        }
        let mut ns = NetworkSettings {
            sandbox_id: endpoint_id(),
            sandbox_key: netns.display().to_string(),
            networks: settings,
            ..Default::default()
        };
        if let Some((net, ip)) = &primary_ep {
            att.ip = Some(*ip);
            if net.name == "bridge" {
                // Docker fills the top-level fields for the default bridge.
                let s = &ns.networks["bridge"];
                ns.endpoint_id = s.endpoint_id.clone();
                ns.gateway = s.gateway.clone();
                ns.ip_address = s.ip_address.clone();
                ns.ip_prefix_len = s.ip_prefix_len;
                ns.mac_address = s.mac_address.clone();
            }
            let exposed: Vec<String> = ins
                .config
                .exposed_ports
                .clone()
                .unwrap_or_default()
                .into_keys()
                .collect();
            let exposed: Vec<String> = exposed.into_iter().chain(hc.port_bindings.keys().cloned()).collect();
            if net.driver().is_some_and(|d| d.firewalled()) {
                let _ports = self.networks.ports_lock.lock().unwrap_or_else(|e| e.into_inner());
                let (maps, shown) = ports::resolve(
                    &hc.port_bindings,
                    hc.publish_all_ports,
                    &exposed,
                    *ip,
                    &self.networks.ports_in_use(),
                )
                .map_err(|e| self.port_error(c, e))?;
                if !maps.is_empty() {
                    self.networks
                        .publish(&c.id, maps)
                        .map_err(|e| self.port_error(c, e.to_string()))?;
                    self.networks.sync_firewall()?;
                }
                ns.ports = shown;
            }
            for l in &hc.links {
                let (name, alias) = l.split_once(':').unwrap_or((l, l));
                let name = name.trim_start_matches('/');
                let alias = alias.rsplit('/').next().unwrap_or(alias).to_string();
                let other = self.get(name)?;
                let oi = other.inspect();
                let their = oi
                    .network_settings
                    .networks
                    .get(&net.name)
                    .map(|e| e.ip_address.clone());
                let Some(their_ip) = their.filter(|_| oi.state.running).and_then(|s| s.parse().ok()) else {
                    return Err(EngineError::BadRequest(format!(
                        "Cannot link to a non running container: /{name} AS {}/{alias}",
                        ins.name
                    )));
                };
                att.links
                    .push((their_ip, alias, name.to_string(), other.id[..12].to_string()));
            }
        }
        {
            let mut r = c.record();
            r.inspect.network_settings = ns;
            r.ifaces = ifaces;
        }
        if att.embedded_dns {
            let ups = upstreams(&hc.dns);
            self.networks.dns.start(self.networks.clone(), &c.id, netns, ups)?;
        }
        Ok(att)
    }

    fn port_error(&self, c: &Ctr, e: String) -> EngineError {
        EngineError::Internal(format!(
            "driver failed programming external connectivity on endpoint {} ({}): {e}",
            c.name(),
            c.id
        ))
    }

    /// Reserve an address on one network and create the interface.
    async fn plumb_one(
        &self,
        c: &Ctr,
        net: &Net,
        requested: &EndpointSettings,
        netns: &Path,
        ifname: &str,
        default_route: bool,
    ) -> Result<(Ipv4Addr, EndpointSettings)> {
        let want = requested
            .ipam_config
            .as_ref()
            .map(|c| c.ipv4_address.clone())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<Ipv4Addr>())
            .transpose()
            .map_err(|e| EngineError::BadRequest(format!("invalid IPv4 address: {e}")))?;
        let mut ep = self.endpoint_for(c, requested);
        let ip = self.networks.reserve(net, &ep, want)?;
        ep.ip = ip;
        if let Err(e) = self.networks.plumb(net, netns, ifname, ip, default_route).await {
            self.networks.release(&net.id, &c.id);
            return Err(e.into());
        }
        let s = self.networks.settings(net, &ep, requested);
        Ok((ip, s))
    }

    fn endpoint_for(&self, c: &Ctr, requested: &EndpointSettings) -> Endpoint {
        let name = c.name();
        let mut dns_names = vec![name.clone(), c.id[..12].to_string()];
        dns_names.extend(requested.aliases.clone().unwrap_or_default());
        Endpoint {
            container: c.id.clone(),
            name,
            endpoint_id: if requested.endpoint_id.is_empty() {
                endpoint_id()
            } else {
                requested.endpoint_id.clone()
            },
            ip: Ipv4Addr::UNSPECIFIED,
            mac: [0; 6],
            dns_names,
        }
    }

    /// Give back a stopped container's addresses, ports and DNS.
    pub(super) fn detach_networks(&self, id: &str) {
        self.networks.dns.stop(id);
        if self.networks.release_all(id) {
            if let Err(e) = self.networks.sync_firewall() {
                tracing::warn!(container = %&id[..12], "{e:#}");
            }
        }
        if let Ok(c) = self.get(id) {
            let mut r = c.record();
            clear_runtime(&mut r.inspect.network_settings);
            r.ifaces.clear();
        }
    }

    /// A running container found at agent start: take its addresses,
    /// ports and DNS back.
    pub(super) fn readopt_networks(self: &Arc<Self>, c: &Arc<Ctr>) {
        let rec = c.record().clone();
        let ns = &rec.inspect.network_settings;
        let mut dns = false;
        let mut primary_ip = None;
        let primary = self
            .networks
            .get(primary_name(&rec.inspect.host_config.network_mode))
            .ok();
        for (name, s) in &ns.networks {
            let Ok(ip) = s.ip_address.parse::<Ipv4Addr>() else {
                continue;
            };
            let Ok(net) = self.networks.get(&s.network_id).or_else(|_| self.networks.get(name)) else {
                continue;
            };
            let mut ep = self.endpoint_for(c, s);
            ep.ip = ip;
            ep.mac = crate::network::ipam::mac_for(ip);
            self.networks.adopt(&net.id, ep);
            dns |= net.user_defined();
            if primary.as_ref().is_some_and(|p| p.id == net.id) {
                primary_ip = Some(ip);
            }
        }
        if let Some(ip) = primary_ip {
            let mut maps = Vec::new();
            for (key, binds) in &ns.ports {
                let Ok((ctr_port, proto)) = ports::parse_key(key) else {
                    continue;
                };
                for b in binds.iter().flatten() {
                    let Ok(host_port) = b.host_port.parse() else { continue };
                    maps.push(PortMap {
                        proto: proto.clone(),
                        host_ip: b.host_ip.parse().ok().filter(|a: &Ipv4Addr| !a.is_unspecified()),
                        host_port,
                        ctr_ip: ip,
                        ctr_port,
                    });
                }
            }
            if let Err(e) = self.networks.publish(&c.id, maps) {
                tracing::warn!(container = %&c.id[..12], "re-publishing ports: {e}");
            }
        }
        if dns {
            let p = PathBuf::from(&ns.sandbox_key);
            if let Err(e) = self.networks.dns.start(
                self.networks.clone(),
                &c.id,
                &p,
                upstreams(&rec.inspect.host_config.dns),
            ) {
                tracing::warn!(container = %&c.id[..12], "restarting the embedded DNS: {e:#}");
            }
        }
    }

    /// `POST /networks/{id}/connect`.
    pub async fn connect(self: &Arc<Self>, net_key: &str, ctr_key: &str, cfg: EndpointSettings) -> Result<()> {
        let net = self.networks.get(net_key)?;
        let c = self.get(ctr_key)?;
        let _op = c.op.lock().await;
        if !net.user_defined() && net.name != "bridge" {
            return Err(EngineError::BadRequest(
                "container cannot be disconnected from host network or connected to host network".into(),
            ));
        }
        let rec = c.record().clone();
        let mode = rec.inspect.host_config.network_mode.clone();
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            return Err(EngineError::BadRequest(
                "container sharing network namespace with another container or host cannot be connected to any other network"
                    .into(),
            ));
        }
        if rec
            .inspect
            .network_settings
            .networks
            .values()
            .any(|e| e.network_id == net.id)
        {
            return Err(EngineError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.name(),
                net.name
            )));
        }
        if !net.user_defined() && cfg.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(EngineError::BadRequest(
                "network-scoped alias is supported only for containers in user defined networks".into(),
            ));
        }
        let mut requested = cfg;
        requested.network_id = net.id.clone();
        if rec.inspect.state.running {
            let netns = PathBuf::from(&rec.inspect.network_settings.sandbox_key);
            let used: Vec<&String> = rec.ifaces.values().collect();
            let ifname = (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !used.contains(&n))
                .unwrap_or_default();
            let (_, s) = self.plumb_one(&c, &net, &requested, &netns, &ifname, false).await?;
            c.update(&self.containers_dir(&c.id), |r| {
                r.inspect.network_settings.networks.insert(net.name.clone(), s);
                r.ifaces.insert(net.id.clone(), ifname.clone());
            })?;
            if net.user_defined() {
                // Its DNS may not be listening yet (first user network).
                let has_dns = rec
                    .inspect
                    .network_settings
                    .networks
                    .values()
                    .any(|e| self.networks.get(&e.network_id).is_ok_and(|n| n.user_defined()));
                if !has_dns {
                    self.networks.dns.start(
                        self.networks.clone(),
                        &c.id,
                        &netns,
                        upstreams(&rec.inspect.host_config.dns),
                    )?;
                }
            }
        } else {
            c.update(&self.containers_dir(&c.id), |r| {
                r.inspect.network_settings.networks.insert(net.name.clone(), requested);
            })?;
        }
        tracing::info!(container = %&c.id[..12], network = %net.name, "connected");
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect(self: &Arc<Self>, net_key: &str, ctr_key: &str, _force: bool) -> Result<()> {
        let net = self.networks.get(net_key)?;
        let c = self.get(ctr_key)?;
        let _op = c.op.lock().await;
        let rec = c.record().clone();
        let Some(name) = rec
            .inspect
            .network_settings
            .networks
            .iter()
            .find(|(_, e)| e.network_id == net.id)
            .map(|(k, _)| k.clone())
        else {
            return Err(EngineError::BadRequest(format!(
                "container {} is not connected to network {}",
                c.id, net.name
            )));
        };
        let primary = self
            .networks
            .get(primary_name(&rec.inspect.host_config.network_mode))
            .ok();
        let was_primary = primary.is_some_and(|p| p.id == net.id);
        if rec.inspect.state.running {
            if let Some(ifname) = rec.ifaces.get(&net.id) {
                let netns = PathBuf::from(&rec.inspect.network_settings.sandbox_key);
                // The interface first: its address is free only once gone.
                self.networks.unplumb(&netns, ifname).await?;
                self.networks.release(&net.id, &c.id);
                let ip = rec.inspect.network_settings.networks[&name]
                    .ip_address
                    .parse::<Ipv4Addr>()
                    .ok();
                if ip.is_some_and(|ip| self.networks.unpublish_ip(&c.id, ip)) {
                    self.networks.sync_firewall()?;
                }
                let user_left = rec
                    .inspect
                    .network_settings
                    .networks
                    .iter()
                    .any(|(k, e)| *k != name && self.networks.get(&e.network_id).is_ok_and(|n| n.user_defined()));
                if !user_left {
                    self.networks.dns.stop(&c.id);
                }
            }
        }
        c.update(&self.containers_dir(&c.id), |r| {
            r.inspect.network_settings.networks.remove(&name);
            r.ifaces.remove(&net.id);
            if was_primary {
                r.inspect.network_settings.ports.clear();
            }
            if name == "bridge" {
                let n = &mut r.inspect.network_settings;
                n.ip_address.clear();
                n.gateway.clear();
                n.mac_address.clear();
                n.endpoint_id.clear();
                n.ip_prefix_len = 0;
            }
        })?;
        tracing::info!(container = %&c.id[..12], network = %net.name, "disconnected");
        Ok(())
    }

    /// Names of containers on a network (running or not), for `network rm`.
    pub fn containers_on(&self, net_id: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|c| {
                let r = c.record();
                r.inspect.state.running
                    && r.inspect
                        .network_settings
                        .networks
                        .values()
                        .any(|e| e.network_id == net_id)
            })
            .map(|c| c.name())
            .collect()
    }
}

/// The resolvers the embedded DNS forwards to: `--dns` if given, else the
/// host's.
fn upstreams(dns: &[String]) -> Vec<std::net::SocketAddr> {
    dns.iter()
        .filter_map(|d| d.parse::<std::net::IpAddr>().ok())
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .collect()
}
