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
use crate::network::sandbox::{primary_name, Sandbox};

/// What the files of a started container need to know about its networks.
#[derive(Default)]
pub struct Attached {
    /// The primary address (for `/etc/hosts`).
    pub ip: Option<Ipv4Addr>,
    /// Its IPv6 address there, if the network has IPv6.
    pub ip6: Option<std::net::Ipv6Addr>,
    /// `--link` entries for `/etc/hosts`: address, alias, name, short ID.
    pub links: Vec<(Ipv4Addr, String, String, String)>,
    /// On a user-defined network: resolv.conf points at the embedded DNS.
    pub embedded_dns: bool,
}

/// Clear what only a running container has (addresses, ports). The
/// sandbox's ID and key stay, as Docker shows them after an exit.
pub fn clear_runtime(ns: &mut NetworkSettings) {
    let keep = std::mem::take(&mut ns.networks);
    let (sandbox_id, sandbox_key) = (std::mem::take(&mut ns.sandbox_id), std::mem::take(&mut ns.sandbox_key));
    *ns = NetworkSettings {
        sandbox_id,
        sandbox_key,
        ..Default::default()
    };
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

/// `--link NAME[:ALIAS]`: the linked container's name and the alias.
fn link_parts(l: &str) -> (&str, &str) {
    let (name, alias) = l.split_once(':').unwrap_or((l, l));
    (name.trim_start_matches('/'), alias.rsplit('/').next().unwrap_or(alias))
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
        if let Some(other) = hc.network_mode.strip_prefix("container:") {
            self.get(other)?;
            if !hc.port_bindings.is_empty() || hc.publish_all_ports {
                return Err(EngineError::BadRequest(
                    "conflicting options: port publishing and the container type network mode".into(),
                ));
            }
            return Ok(BTreeMap::new());
        }
        let mut links = Vec::new();
        for l in &hc.links {
            let (name, alias) = link_parts(l);
            self.get(name)
                .map_err(|_| EngineError::BadRequest(format!("could not get container for {name}")))?;
            links.push(format!("{name}:{alias}"));
        }
        let out = self.networks.plan(hc, nc, warnings)?;
        if !links.is_empty() {
            hc.links = links.into();
        }
        Ok(out)
    }

    /// Put a starting container on its networks (one `setup`), record
    /// what it got, and resolve its `--link`s. On error the caller's
    /// teardown releases whatever was taken.
    pub(super) async fn attach_networks(self: &Arc<Self>, c: &Arc<Ctr>, netns: &Path) -> Result<Attached> {
        let rec = c.record().clone();
        let joined = self.networks.setup(&Sandbox::new(&rec.inspect, netns)).await?;
        let mut att = Attached {
            ip: joined.primary.as_ref().map(|(_, ip)| *ip),
            ip6: joined.primary6,
            links: Vec::new(),
            embedded_dns: joined.embedded_dns,
        };
        if let Some((net, _)) = &joined.primary {
            for l in &rec.inspect.host_config.links {
                att.links.push(self.resolve_link(&rec.inspect.name, net, l)?);
            }
        }
        let mut r = c.record();
        r.inspect.network_settings = joined.settings;
        r.ifaces = joined.ifaces;
        Ok(att)
    }

    /// A `--link` of a starting container: the linked container's address
    /// on `net`, the alias, its name and short ID.
    fn resolve_link(&self, me: &str, net: &str, l: &str) -> Result<(Ipv4Addr, String, String, String)> {
        let (name, alias) = link_parts(l);
        let other = self.get(name)?;
        let oi = other.inspect();
        let their = oi.network_settings.networks.get(net).map(|e| e.ip_address.clone());
        let Some(ip) = their.filter(|_| oi.state.running).and_then(|s| s.parse().ok()) else {
            return Err(EngineError::BadRequest(format!(
                "Cannot link to a non running container: /{name} AS {me}/{alias}"
            )));
        };
        Ok((ip, alias.to_string(), name.to_string(), other.id[..12].to_string()))
    }

    /// Give back a stopped container's addresses, ports and DNS.
    pub(super) fn detach_networks(&self, id: &str) {
        self.networks.teardown(id);
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
        let netns = PathBuf::from(&ns.sandbox_key);
        self.networks.readopt(&Sandbox::new(&rec.inspect, &netns), &ns.ports);
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
        // As Docker: a second connect of a stopped container replaces its
        // endpoint settings; of a running one it is refused.
        if rec.inspect.state.running
            && rec
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
            let sb = Sandbox::new(&rec.inspect, &netns);
            let had_dns = rec
                .inspect
                .network_settings
                .networks
                .values()
                .any(|e| self.networks.get(&e.network_id).is_ok_and(|n| n.user_defined()));
            let (ifname, s) = self.networks.join(&sb, &net, &requested, &rec.ifaces).await?;
            crate::crashpoint::at("connect-plumbed");
            c.update(&self.containers_dir(&c.id), |r| {
                r.inspect.network_settings.networks.insert(net.name.clone(), s);
                r.ifaces.insert(net.id.clone(), ifname.clone());
            })?;
            // Its first user-defined network: names resolve through the
            // embedded DNS from now on, as Docker switches resolv.conf
            // (written in place: the container has the file bind-mounted).
            if net.user_defined() && !had_dns {
                let rc = super::lifecycle::embedded_resolv_conf(&rec.inspect.host_config.dns_search);
                if let Err(e) = std::fs::write(&rec.inspect.resolv_conf_path, rc) {
                    tracing::warn!(container = %&c.id[..12], "switching resolv.conf to the embedded DNS: {e}");
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
        if let Some(ifname) = rec.ifaces.get(&net.id).filter(|_| rec.inspect.state.running) {
            let netns = PathBuf::from(&rec.inspect.network_settings.sandbox_key);
            let sb = Sandbox::new(&rec.inspect, &netns);
            self.networks.leave(&sb, &net, &name, ifname).await?;
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
