//! Networks on this host: the store of network definitions (Docker's
//! `NetworkResource` shape), address management, and the endpoints that put
//! containers on them. Drivers: `bridge` (a Linux bridge, a veth per
//! endpoint, NAT), `macvlan` (a child of a host interface), plus Docker's
//! predefined `host` and `none`. The engine sees one container's
//! networks through `sandbox.rs` alone (plan, setup, teardown, readopt,
//! join, leave); the members that reserve addresses, plumb interfaces and
//! publish ports are private to this module.
//!
//! Networks are persisted under `<data-root>/network/`. Addresses in use
//! and published ports are rebuilt from the records of running containers
//! when the agent starts, so they are never handed out twice.

pub mod bridge;
pub mod dns;
pub mod driver;
pub mod firewall;
pub mod ipam;
pub mod ipam6;
pub mod macvlan;
pub mod netlink;
mod pools;
pub mod ports;
mod proxy;
pub mod sandbox;
mod udp_relay;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use skiff_api::{EndpointSettings, Ipam, NetworkContainer, NetworkCreateRequest, NetworkResource};
use skiff_common::fsutil::{read_json, write_json_atomic};
use thiserror::Error;

use ipam::Pool;
use ipam6::Pool6;

pub const DEFAULT_BRIDGE: &str = "skiff0";

#[derive(Debug, Error)]
pub enum NetError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

type Result<T> = std::result::Result<T, NetError>;

/// A network's definition, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Net {
    pub id: String,
    pub name: String,
    /// `bridge`, `macvlan`, `host` or `null`.
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub pool: Option<Pool>,
    /// The bridge's name, or the macvlan parent.
    #[serde(default)]
    pub iface: String,
    /// `EnableIPv6`, with its pool (networks stored before IPv6 have
    /// neither).
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub pool6: Option<Pool6>,
}

impl Net {
    /// User-defined networks get the embedded DNS; Docker's default bridge
    /// does not.
    pub fn user_defined(&self) -> bool {
        !matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    /// Its driver; `None` for the predefined `host` and `none` networks,
    /// which carry no endpoints.
    pub fn driver(&self) -> Option<&'static dyn driver::Driver> {
        driver::get(&self.driver)
    }

    fn carries_endpoints(&self) -> bool {
        self.driver().is_some()
    }
}

/// A running container's place on a network (for inspect and DNS).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub container: String,
    pub name: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    /// Its IPv6 address, on networks with IPv6.
    pub ip6: Option<Ipv6Addr>,
    pub mac: [u8; 6],
    /// Names it answers to on this network: container name, short ID,
    /// aliases.
    pub dns_names: Vec<String>,
}

#[derive(Default)]
struct State {
    nets: BTreeMap<String, Net>,
    /// network ID → address → endpoint.
    endpoints: HashMap<String, BTreeMap<Ipv4Addr, Endpoint>>,
    /// container ID → its published ports.
    ports: BTreeMap<String, Vec<firewall::PortMap>>,
}

pub struct Networks {
    dir: PathBuf,
    state: Mutex<State>,
    nl: rtnetlink::Handle,
    /// Serializes firewall rewrites so the last one wins with all state.
    fw: Mutex<()>,
    /// Held from choosing host ports to recording them, so two starts
    /// cannot pick the same random port.
    ports_lock: Mutex<()>,
    /// Serializes network create and remove (name and subnet checks).
    admin: tokio::sync::Mutex<()>,
    dns: Arc<dns::Server>,
    /// Published ports on `[::1]`, which IPv6 DNAT cannot serve.
    proxies: proxy::Proxies,
}

impl Networks {
    /// Load the stored networks (no kernel changes yet: see `init`).
    pub fn open(data_root: &Path) -> anyhow::Result<Self> {
        let dir = data_root.join("network");
        std::fs::create_dir_all(&dir)?;
        let mut nets = BTreeMap::new();
        for e in std::fs::read_dir(&dir)?.flatten() {
            if e.path().extension().is_some_and(|x| x == "json") {
                match read_json::<Net>(&e.path()) {
                    Ok(n) => {
                        nets.insert(n.id.clone(), n);
                    }
                    Err(err) => tracing::warn!("skipping network {}: {err}", e.path().display()),
                }
            }
        }
        Ok(Self {
            dir,
            state: Mutex::new(State {
                nets,
                ..Default::default()
            }),
            nl: netlink::connect()?,
            fw: Mutex::new(()),
            ports_lock: Mutex::new(()),
            admin: tokio::sync::Mutex::new(()),
            dns: Arc::new(dns::Server::new()),
            proxies: proxy::Proxies::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, n: &Net) -> anyhow::Result<()> {
        Ok(write_json_atomic(&self.dir.join(format!("{}.json", n.id)), n)?)
    }

    /// Create Docker's predefined networks if missing, bring every bridge
    /// up and install the firewall table.
    pub async fn init(&self, bip: Option<&str>) -> anyhow::Result<()> {
        let have: Vec<String> = self.lock().nets.values().map(|n| n.name.clone()).collect();
        for (name, driver) in [("host", driver::HOST), ("none", driver::NULL)] {
            if !have.iter().any(|n| n == name) {
                let n = Net {
                    id: crate::ids::new_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: crate::ids::now(),
                    internal: false,
                    attachable: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    pool: None,
                    iface: String::new(),
                    enable_ipv6: false,
                    pool6: None,
                };
                self.save(&n)?;
                self.lock().nets.insert(n.id.clone(), n);
            }
        }
        if !have.iter().any(|n| n == "bridge") {
            let pool = match bip {
                Some(b) => {
                    let gw: Ipv4Net = b
                        .parse()
                        .map_err(|_| anyhow::anyhow!("--bip: invalid CIDR address: {b}"))?;
                    ipam::pool(&gw.trunc().to_string(), "", &gw.addr().to_string()).map_err(anyhow::Error::msg)?
                }
                None => {
                    let taken = self.taken_subnets().await;
                    let s = ipam::pick_subnet(&taken)
                        .ok_or_else(|| anyhow::anyhow!("no free subnet for the default bridge; set --bip"))?;
                    ipam::pool(&s.to_string(), "", "").map_err(anyhow::Error::msg)?
                }
            };
            let mut options = BTreeMap::new();
            for (k, v) in [
                ("com.docker.network.bridge.default_bridge", "true"),
                ("com.docker.network.bridge.enable_icc", "true"),
                ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                ("com.docker.network.bridge.name", DEFAULT_BRIDGE),
                ("com.docker.network.driver.mtu", "1500"),
            ] {
                options.insert(k.to_string(), v.to_string());
            }
            let n = Net {
                id: crate::ids::new_id(),
                name: "bridge".into(),
                driver: bridge::NAME.into(),
                created: crate::ids::now(),
                internal: false,
                attachable: false,
                labels: BTreeMap::new(),
                options,
                pool: Some(pool),
                iface: DEFAULT_BRIDGE.into(),
                enable_ipv6: false,
                pool6: None,
            };
            self.save(&n)?;
            self.lock().nets.insert(n.id.clone(), n);
        }
        // Forwarding between the bridges and the outside, and DNAT of
        // published ports reached through 127.0.0.1.
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1\n")
            .map_err(|e| anyhow::anyhow!("enabling IPv4 forwarding: {e}"))?;
        let nets: Vec<Net> = self.lock().nets.values().cloned().collect();
        if nets.iter().any(|n| n.enable_ipv6) {
            enable_v6_forwarding()?;
        }
        for n in &nets {
            if let Some(d) = n.driver() {
                d.setup(&self.nl, n)
                    .await
                    .map_err(|e| anyhow::anyhow!("network {}: {e}", n.name))?;
            }
        }
        self.sync_firewall()?;
        Ok(())
    }

    /// Subnets already used by networks or routed by the host.
    async fn taken_subnets(&self) -> Vec<Ipv4Net> {
        let mut taken: Vec<Ipv4Net> = self
            .lock()
            .nets
            .values()
            .filter_map(|n| n.pool.as_ref().map(|p| p.subnet))
            .collect();
        match netlink::routes_v4(&self.nl).await {
            Ok(r) => taken.extend(r.into_iter().filter(|n| !n.addr().is_loopback())),
            Err(e) => tracing::warn!("{e:#}"),
        }
        taken
    }

    /// Find by full ID, name, or unique ID prefix.
    pub fn get(&self, key: &str) -> Result<Net> {
        let st = self.lock();
        if let Some(n) = st.nets.get(key) {
            return Ok(n.clone());
        }
        if let Some(n) = st.nets.values().find(|n| n.name == key) {
            return Ok(n.clone());
        }
        let hits: Vec<&Net> = st
            .nets
            .values()
            .filter(|n| !key.is_empty() && n.id.starts_with(key))
            .collect();
        match hits.len() {
            1 => Ok(hits[0].clone()),
            0 => Err(NetError::NotFound(key.to_string())),
            _ => Err(NetError::Invalid(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                hits.len()
            ))),
        }
    }

    pub fn list(&self) -> Vec<NetworkResource> {
        let ids: Vec<String> = self.lock().nets.keys().cloned().collect();
        ids.iter().filter_map(|id| self.resource(id)).collect()
    }

    pub fn resource(&self, id: &str) -> Option<NetworkResource> {
        let st = self.lock();
        let n = st.nets.get(id)?;
        let config = pools::shown(n.pool.as_ref(), n.pool6.as_ref());
        let containers = st
            .endpoints
            .get(id)
            .map(|eps| {
                eps.values()
                    .map(|e| {
                        (
                            e.container.clone(),
                            NetworkContainer {
                                name: e.name.clone(),
                                endpoint_id: e.endpoint_id.clone(),
                                mac_address: ipam::mac_string(&e.mac),
                                ipv4_address: format!(
                                    "{}/{}",
                                    e.ip,
                                    n.pool.as_ref().map(|p| p.subnet.prefix_len()).unwrap_or(32)
                                ),
                                ipv6_address: match (e.ip6, &n.pool6) {
                                    (Some(a), Some(p)) => format!("{a}/{}", p.subnet.prefix_len()),
                                    _ => String::new(),
                                },
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(NetworkResource {
            name: n.name.clone(),
            id: n.id.clone(),
            created: n.created.clone(),
            scope: "local".into(),
            driver: n.driver.clone(),
            enable_ipv6: n.enable_ipv6,
            ipam: Ipam {
                driver: "default".into(),
                options: None,
                config,
            },
            internal: n.internal,
            attachable: n.attachable,
            ingress: false,
            containers,
            options: n.options.clone(),
            labels: n.labels.clone(),
            ..Default::default()
        })
    }

    /// `POST /networks/create`.
    pub async fn create(&self, req: &NetworkCreateRequest) -> Result<String> {
        let _admin = self.admin.lock().await;
        let name = req.name.trim();
        if name.is_empty() || !skiff_api::valid_name(name) {
            return Err(NetError::Invalid(format!(
                "invalid network name \"{name}\", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if matches!(name, "bridge" | "host" | "none" | "default") && self.get(name).is_ok() || name == "default" {
            return Err(NetError::Forbidden(format!(
                "{name} is a pre-defined network and cannot be created"
            )));
        }
        if self.lock().nets.values().any(|n| n.name == name) {
            return Err(NetError::Conflict(format!("network with name {name} already exists")));
        }
        let driver_name = if req.driver.is_empty() {
            driver::DEFAULT
        } else {
            req.driver.as_str()
        };
        let Some(driver) = driver::get(driver_name) else {
            return Err(NetError::Invalid(format!(
                "plugin \"{driver_name}\" not found: skiff has the {} network drivers",
                driver::names().join(" and ")
            )));
        };
        let taken = self.taken_subnets().await;
        let (others, others6) = {
            let st = self.lock();
            let v4: Vec<Ipv4Net> = st
                .nets
                .values()
                .filter_map(|n| n.pool.as_ref().map(|p| p.subnet))
                .collect();
            let v6: Vec<Ipv6Net> = st
                .nets
                .values()
                .filter_map(|n| n.pool6.as_ref().map(|p| p.subnet))
                .collect();
            (v4, v6)
        };
        let (pool, pool6) = pools::choose(req, &taken, &others, &others6)?;
        let id = crate::ids::new_id();
        let mut options = req.options.clone();
        let iface = driver.validate(&self.nl, &id, &mut options).await?;
        let n = Net {
            id: id.clone(),
            name: name.to_string(),
            driver: driver.name().into(),
            created: crate::ids::now(),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone(),
            options,
            pool: Some(pool),
            iface,
            enable_ipv6: pool6.is_some(),
            pool6,
        };
        if n.enable_ipv6 {
            enable_v6_forwarding()?;
        }
        driver.setup(&self.nl, &n).await?;
        self.save(&n)?;
        self.lock().nets.insert(id.clone(), n);
        self.sync_firewall()?;
        tracing::info!(network = name, "network created");
        Ok(id)
    }

    /// `DELETE /networks/{id}`: refused while containers are attached.
    pub async fn remove(&self, key: &str, attached: &[String]) -> Result<()> {
        let _admin = self.admin.lock().await;
        let n = self.get(key)?;
        if !n.user_defined() {
            return Err(NetError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        if !attached.is_empty() {
            return Err(NetError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints ({})",
                n.name,
                n.id,
                attached.join(", ")
            )));
        }
        {
            // A container still starting holds endpoints before its record
            // says running: check and take the network out in one step.
            let mut st = self.lock();
            if let Some(eps) = st.endpoints.get(&n.id).filter(|e| !e.is_empty()) {
                let names: Vec<String> = eps.values().map(|e| e.name.clone()).collect();
                return Err(NetError::Forbidden(format!(
                    "error while removing network: network {} id {} has active endpoints ({})",
                    n.name,
                    n.id,
                    names.join(", ")
                )));
            }
            st.nets.remove(&n.id);
            st.endpoints.remove(&n.id);
        }
        let _ = std::fs::remove_file(self.dir.join(format!("{}.json", n.id)));
        if let Some(d) = n.driver() {
            d.teardown(&self.nl, &n).await?;
        }
        self.sync_firewall()?;
        tracing::info!(network = %n.name, "network removed");
        Ok(())
    }

    /// Rewrite the firewall table from the current networks and ports.
    pub fn sync_firewall(&self) -> anyhow::Result<()> {
        let _g = self.fw.lock().unwrap_or_else(|e| e.into_inner());
        let (nets, ports) = {
            let st = self.lock();
            let nets: Vec<firewall::BridgeNet> = st
                .nets
                .values()
                .filter(|n| n.driver().is_some_and(|d| d.firewalled()))
                .filter_map(|n| {
                    n.pool.as_ref().map(|p| firewall::BridgeNet {
                        bridge: n.iface.clone(),
                        subnet: p.subnet,
                        subnet6: n.pool6.as_ref().map(|p| p.subnet),
                        internal: n.internal,
                    })
                })
                .collect();
            let ports: Vec<firewall::PortMap> = st.ports.values().flatten().cloned().collect();
            (nets, ports)
        };
        firewall::apply(&nets, &ports)
    }

    /// Reserve an address for a container on `net` (a fixed one if the
    /// endpoint asks for it).
    fn reserve(&self, net: &Net, ep: &Endpoint, want: Option<Ipv4Addr>, want6: Option<Ipv6Addr>) -> Result<Endpoint> {
        if !net.carries_endpoints() {
            return Err(NetError::Invalid(format!(
                "network {} has no addresses to give",
                net.name
            )));
        }
        let pool = net
            .pool
            .as_ref()
            .ok_or_else(|| NetError::Invalid(format!("network {} has no pool", net.name)))?;
        if (want.is_some() || want6.is_some()) && !net.user_defined() {
            return Err(NetError::Invalid(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        let mut st = self.lock();
        let eps = st.endpoints.entry(net.id.clone()).or_default();
        let used: BTreeSet<Ipv4Addr> = eps.keys().copied().collect();
        let ip = ipam::allocate(pool, &used, want).map_err(NetError::Invalid)?;
        let ip6 = match (&net.pool6, want6) {
            (Some(p6), _) => {
                let used6: BTreeSet<Ipv6Addr> = eps.values().filter_map(|e| e.ip6).collect();
                Some(ipam6::allocate(p6, &used6, want6).map_err(NetError::Invalid)?)
            }
            (None, Some(a)) => {
                return Err(NetError::Invalid(format!(
                    "invalid address {a}: it does not belong to any of this network's subnets"
                )))
            }
            (None, None) => None,
        };
        let mut ep = ep.clone();
        ep.ip = ip;
        ep.ip6 = ip6;
        ep.mac = ipam::mac_for(ip);
        eps.insert(ip, ep.clone());
        Ok(ep)
    }

    /// Record an endpoint that already exists (a running container found
    /// at agent start).
    fn adopt(&self, net_id: &str, ep: Endpoint) {
        self.lock()
            .endpoints
            .entry(net_id.to_string())
            .or_default()
            .insert(ep.ip, ep);
    }

    /// Create the endpoint's interface inside the container's namespace.
    async fn plumb(&self, net: &Net, netns: &Path, ifname: &str, ep: &Endpoint, default_route: bool) -> Result<()> {
        let pool = net
            .pool
            .as_ref()
            .ok_or_else(|| NetError::Invalid(format!("network {} has no pool", net.name)))?;
        let way_out = default_route && !net.internal;
        let pool6 = net.pool6.as_ref();
        let iface = netlink::Iface {
            name: ifname,
            mac: ipam::mac_for(ep.ip),
            addr: ep.ip,
            prefix: pool.subnet.prefix_len(),
            gateway: way_out.then_some(pool.gateway),
            addr6: ep.ip6.zip(pool6.map(|p| p.subnet.prefix_len())),
            gateway6: pool6.filter(|_| way_out).map(|p| p.gateway),
        };
        let driver = net
            .driver()
            .ok_or_else(|| NetError::Invalid(format!("network {} has no addresses to give", net.name)))?;
        driver.plumb(&self.nl, net, netns, &iface).await
    }

    /// Take the endpoint's interface out of a running container.
    async fn unplumb(&self, netns: &Path, ifname: &str) -> Result<()> {
        netlink::remove_endpoint(netns, ifname).await.map_err(NetError::Other)
    }

    /// Give back a container's address on one network.
    fn release(&self, net_id: &str, container: &str) {
        if let Some(eps) = self.lock().endpoints.get_mut(net_id) {
            eps.retain(|_, e| e.container != container);
        }
    }

    /// Give back everything a container holds: addresses and ports.
    /// Returns whether the firewall changed.
    fn release_all(&self, container: &str) -> bool {
        self.proxies.stop(container);
        let mut st = self.lock();
        for eps in st.endpoints.values_mut() {
            eps.retain(|_, e| e.container != container);
        }
        st.ports.remove(container).is_some()
    }

    /// Endpoints of the networks `container` is on whose names match
    /// `name` (for the DNS), per network.
    pub fn lookup(&self, container: &str, name: &str) -> Vec<IpAddr> {
        let st = self.lock();
        let mut out = Vec::new();
        for (id, eps) in &st.endpoints {
            let Some(n) = st.nets.get(id) else { continue };
            if !n.user_defined() || !eps.values().any(|e| e.container == container) {
                continue;
            }
            // `web` or `web.<network>` (what PTR answers name).
            let short = name
                .strip_suffix(&n.name.to_ascii_lowercase())
                .and_then(|s| s.strip_suffix('.'))
                .unwrap_or(name);
            for e in eps.values() {
                if e.dns_names.iter().any(|d| d.eq_ignore_ascii_case(short)) {
                    for ip in std::iter::once(IpAddr::V4(e.ip)).chain(e.ip6.map(IpAddr::V6)) {
                        if !out.contains(&ip) {
                            out.push(ip);
                        }
                    }
                }
            }
        }
        out
    }

    /// The container name for an address on the asker's networks (PTR).
    pub fn reverse(&self, container: &str, ip: IpAddr) -> Option<String> {
        let st = self.lock();
        for (id, eps) in &st.endpoints {
            let Some(n) = st.nets.get(id) else { continue };
            if !n.user_defined() || !eps.values().any(|e| e.container == container) {
                continue;
            }
            let hit = match ip {
                IpAddr::V4(v4) => eps.get(&v4),
                IpAddr::V6(v6) => eps.values().find(|e| e.ip6 == Some(v6)),
            };
            if let Some(e) = hit {
                return Some(format!("{}.{}", e.name, n.name));
            }
        }
        None
    }

    /// Check and record a container's published ports; the caller then
    /// syncs the firewall.
    fn publish(&self, container: &str, maps: Vec<firewall::PortMap>) -> Result<()> {
        let mut st = self.lock();
        for m in &maps {
            for (other, theirs) in &st.ports {
                if other == container {
                    continue;
                }
                if theirs.iter().any(|t| ports::clash(t, m)) {
                    return Err(NetError::Conflict(ports::in_use(m)));
                }
            }
        }
        if maps.is_empty() {
            st.ports.remove(container);
        } else {
            st.ports.insert(container.to_string(), maps.clone());
        }
        drop(st);
        self.proxies.start(container, &maps);
        Ok(())
    }

    /// Drop a container's published ports that point at `ip` (it left
    /// that network). Returns whether any did.
    fn unpublish_ip(&self, container: &str, ip: Ipv4Addr) -> bool {
        let mut st = self.lock();
        let Some(maps) = st.ports.get_mut(container) else {
            return false;
        };
        let before = maps.len();
        maps.retain(|m| m.ctr_ip != ip);
        let changed = maps.len() != before;
        let left = maps.clone();
        if maps.is_empty() {
            st.ports.remove(container);
        }
        drop(st);
        if changed {
            self.proxies.start(container, &left);
        }
        changed
    }

    /// Host ports taken by containers (for picking random ones).
    fn ports_in_use(&self) -> Vec<firewall::PortMap> {
        self.lock().ports.values().flatten().cloned().collect()
    }

    /// Endpoint settings for inspect, from a network and an address.
    fn settings(&self, net: &Net, ep: &Endpoint, requested: &EndpointSettings) -> EndpointSettings {
        let pool = net.pool.as_ref();
        EndpointSettings {
            ipam_config: requested.ipam_config.clone(),
            links: requested.links.clone(),
            aliases: requested.aliases.clone(),
            network_id: net.id.clone(),
            endpoint_id: ep.endpoint_id.clone(),
            gateway: pool.map(|p| p.gateway.to_string()).unwrap_or_default(),
            ip_address: ep.ip.to_string(),
            ip_prefix_len: pool.map(|p| p.subnet.prefix_len()).unwrap_or(0),
            global_ipv6_address: ep.ip6.map(|a| a.to_string()).unwrap_or_default(),
            global_ipv6_prefix_len: ep
                .ip6
                .and(net.pool6.as_ref())
                .map(|p| p.subnet.prefix_len())
                .unwrap_or(0),
            ipv6_gateway: net
                .pool6
                .as_ref()
                .filter(|_| ep.ip6.is_some())
                .map(|p| p.gateway.to_string())
                .unwrap_or_default(),
            mac_address: ipam::mac_string(&ipam::mac_for(ep.ip)),
            driver_opts: requested.driver_opts.clone(),
        }
    }
}

/// IPv6 forwarding in the agent's namespace, for networks with IPv6 (as
/// Docker turns it on; like Docker, it is left on).
fn enable_v6_forwarding() -> anyhow::Result<()> {
    std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1\n")
        .map_err(|e| anyhow::anyhow!("enabling IPv6 forwarding: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_stored_before_ipv6_load_as_ipv4_only() {
        let old = r#"{"id":"abc","name":"app","driver":"bridge","created":"2026-01-01T00:00:00Z",
            "pool":{"subnet":"172.72.0.0/16","range":"172.72.0.0/16","gateway":"172.72.0.1"},"iface":"br-abc"}"#;
        let n: Net = serde_json::from_str(old).unwrap();
        assert!(!n.enable_ipv6);
        assert!(n.pool6.is_none());
        let back: Net = serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
        assert_eq!(back.pool, n.pool);
    }
}
