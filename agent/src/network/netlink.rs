//! Links, addresses and routes through rtnetlink: the bridge on the host,
//! a veth or macvlan per container endpoint created straight inside the
//! container's namespace, and that interface's address and default route.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, MacVlanMode};
use rtnetlink::{Handle, LinkBridge, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

/// The errno of a netlink error (positive), if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

/// A netlink connection to the agent's own network namespace.
pub fn connect() -> Result<Handle> {
    let (conn, handle, _) = rtnetlink::new_connection().context("opening a netlink socket")?;
    tokio::spawn(conn);
    Ok(handle)
}

pub async fn link_index(h: &Handle, name: &str) -> Result<Option<u32>> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(l)) => Ok(Some(l.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(anyhow!("looking up link {name}: {e}")),
    }
}

/// Create the bridge if it is missing, give it the gateway addresses (the
/// IPv6 one without duplicate address detection, so it answers at once)
/// and bring it up. Returns its index.
pub async fn ensure_bridge(
    h: &Handle,
    name: &str,
    gateway: Option<(Ipv4Addr, u8)>,
    gateway6: Option<(Ipv6Addr, u8)>,
) -> Result<u32> {
    let index = match link_index(h, name).await? {
        Some(i) => i,
        None => {
            match h.link().add(LinkBridge::new(name).build()).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(anyhow!("creating bridge {name}: {e}")),
            }
            link_index(h, name)
                .await?
                .ok_or_else(|| anyhow!("bridge {name} vanished after creation"))?
        }
    };
    if let Some((gw, prefix)) = gateway {
        h.address()
            .add(index, gw.into(), prefix)
            .replace()
            .execute()
            .await
            .map_err(|e| anyhow!("adding {gw}/{prefix} to {name}: {e}"))?;
    }
    if let Some((gw, prefix)) = gateway6 {
        add_v6(h, index, gw, prefix, true)
            .await
            .with_context(|| format!("on bridge {name}"))?;
    }
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| anyhow!("bringing {name} up: {e}"))?;
    Ok(index)
}

/// Add an IPv6 address with `nodad`: usable at once, no tentative period.
async fn add_v6(h: &Handle, index: u32, addr: Ipv6Addr, prefix: u8, replace: bool) -> Result<()> {
    use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
    let mut req = h.address().add(index, addr.into(), prefix);
    if replace {
        req = req.replace();
    }
    let msg = req.message_mut();
    msg.header.flags = AddressHeaderFlags::Nodad;
    msg.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
    req.execute().await.map_err(|e| anyhow!("adding {addr}/{prefix}: {e}"))
}

pub async fn delete_link(h: &Handle, name: &str) -> Result<()> {
    if let Some(i) = link_index(h, name).await? {
        match h.link().del(i).execute().await {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(libc::ENODEV) => {}
            Err(e) => return Err(anyhow!("deleting link {name}: {e}")),
        }
    }
    Ok(())
}

/// What an endpoint's interface looks like inside the container.
pub struct Iface<'a> {
    pub name: &'a str,
    pub mac: [u8; 6],
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// Default route through this address, if the network has a way out.
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 address and prefix, on networks with IPv6.
    pub addr6: Option<(Ipv6Addr, u8)>,
    /// IPv6 default route through this address.
    pub gateway6: Option<Ipv6Addr>,
}

/// How an endpoint's interface is made on the host side.
pub enum Kind<'a> {
    /// A veth pair: `host_name` joins the bridge, the peer goes inside.
    Veth { host_name: &'a str, bridge: u32 },
    /// A macvlan child of `parent` (bridge mode).
    Macvlan { parent: u32 },
}

/// Create the interface directly inside the namespace at `netns`, then
/// configure it there.
pub async fn add_endpoint(h: &Handle, netns: &Path, kind: Kind<'_>, iface: &Iface<'_>) -> Result<()> {
    let ns = std::fs::File::open(netns).with_context(|| format!("opening {}", netns.display()))?;
    let fd = ns.as_raw_fd();
    let msg = match kind {
        Kind::Veth { host_name, bridge } => {
            let peer = LinkMessageBuilder::<LinkUnspec>::default()
                .name(iface.name.to_string())
                .address(iface.mac.to_vec())
                .setns_by_fd(fd)
                .build();
            LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(host_name.to_string())
                .controller(bridge)
                .up()
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .build()
        }
        Kind::Macvlan { parent } => LinkMacVlan::new(iface.name, parent, MacVlanMode::Bridge)
            .address(iface.mac.to_vec())
            .setns_by_fd(fd)
            .build(),
    };
    h.link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| anyhow!("creating interface {}: {e}", iface.name))?;
    configure_inside(netns, iface).await
}

/// Remove an endpoint's interface from inside the namespace (the veth's
/// host side goes with it).
pub async fn remove_endpoint(netns: &Path, name: &str) -> Result<()> {
    let name = name.to_string();
    in_netns(netns, move |h| async move { delete_link(&h, &name).await }).await
}

/// Remove every interface inside the namespace but `lo` and those in
/// `keep` (a connect cut short by a crash left one the record does not
/// name, holding an address nobody reserved). Returns what went.
pub async fn remove_strays(netns: &Path, keep: Vec<String>) -> Result<Vec<String>> {
    in_netns(netns, move |h| async move { remove_all_but(&h, &keep).await }).await
}

/// Delete every interface but `lo` and those in `keep`; returns what went.
async fn remove_all_but(h: &Handle, keep: &[String]) -> Result<Vec<String>> {
    use rtnetlink::packet_route::link::LinkAttribute;
    let mut names = Vec::new();
    let mut links = h.link().get().execute();
    while let Some(l) = links.try_next().await.map_err(|e| anyhow!("listing links: {e}"))? {
        for a in &l.attributes {
            if let LinkAttribute::IfName(n) = a {
                names.push(n.clone());
            }
        }
    }
    let strays: Vec<String> = names.into_iter().filter(|n| n != "lo" && !keep.contains(n)).collect();
    for n in &strays {
        delete_link(h, n).await?;
    }
    Ok(strays)
}

async fn configure_inside(netns: &Path, iface: &Iface<'_>) -> Result<()> {
    let (name, addr, prefix, gw) = (iface.name.to_string(), iface.addr, iface.prefix, iface.gateway);
    let (addr6, gw6) = (iface.addr6, iface.gateway6);
    in_netns(netns, move |h| async move {
        let index = link_index(&h, &name)
            .await?
            .ok_or_else(|| anyhow!("{name} did not appear in the container's namespace"))?;
        if let Some((a6, p6)) = addr6 {
            // No duplicate address detection: the address is ours and
            // must work before the container's first packet.
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/accept_dad"), "0\n");
            add_v6(&h, index, a6, p6, false)
                .await
                .with_context(|| format!("on {name}"))?;
        }
        h.address()
            .add(index, addr.into(), prefix)
            .execute()
            .await
            .map_err(|e| anyhow!("adding {addr}/{prefix} to {name}: {e}"))?;
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| anyhow!("bringing {name} up: {e}"))?;
        if let Some(gw) = gw {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(index)
                .build();
            match h.route().add(route).execute().await {
                Ok(()) => {}
                // Another network already gave the default route.
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(anyhow!("adding default route via {gw}: {e}")),
            }
        }
        if let Some(gw6) = gw6 {
            let route = RouteMessageBuilder::<Ipv6Addr>::new()
                .gateway(gw6)
                .output_interface(index)
                .build();
            match h.route().add(route).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(anyhow!("adding IPv6 default route via {gw6}: {e}")),
            }
        }
        Ok(())
    })
    .await
}

/// Delete every interface but `lo` inside the namespace at `netns`, now
/// and from synchronous code (a stopping container's teardown): a veth's
/// host end goes with it at once, instead of whenever the kernel gets to
/// destroying the namespace.
pub fn clear_blocking(netns: &Path) -> Result<()> {
    let ns = std::fs::File::open(netns).with_context(|| format!("opening {}", netns.display()))?;
    on_thread_in(ns, |h| async move { remove_all_but(&h, &[]).await.map(drop) })
}

/// Run `f` with a netlink connection inside the namespace at `netns`. The
/// socket is opened by a thread that entered the namespace, so it stays
/// bound to it; the agent's other threads never move.
async fn in_netns<F, Fut, T>(netns: &Path, f: F) -> Result<T>
where
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T>>,
    T: Send + 'static,
{
    let ns = std::fs::File::open(netns).with_context(|| format!("opening {}", netns.display()))?;
    tokio::task::spawn_blocking(move || on_thread_in(ns, f)).await?
}

/// `f` on a new thread that entered the namespace `ns`, with a netlink
/// connection opened there; the caller waits.
fn on_thread_in<F, Fut, T>(ns: std::fs::File, f: F) -> Result<T>
where
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T>>,
    T: Send + 'static,
{
    std::thread::spawn(move || -> Result<T> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).context("entering the namespace")?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
        rt.block_on(async move {
            let (conn, h, _) = rtnetlink::new_connection().context("opening a netlink socket")?;
            tokio::spawn(conn);
            f(h).await
        })
    })
    .join()
    .map_err(|_| anyhow!("netlink thread panicked"))?
}

/// The IPv4 routes of the agent's namespace, so new subnets avoid them.
pub async fn routes_v4(h: &Handle) -> Result<Vec<ipnet::Ipv4Net>> {
    use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
    let mut out = Vec::new();
    let mut s = h.route().get(RouteMessageBuilder::<Ipv4Addr>::new().build()).execute();
    while let Some(r) = s.try_next().await.map_err(|e| anyhow!("listing routes: {e}"))? {
        let len = r.header.destination_prefix_length;
        if len == 0 {
            continue;
        }
        for a in &r.attributes {
            if let RouteAttribute::Destination(RouteAddress::Inet(d)) = a {
                if let Ok(n) = ipnet::Ipv4Net::new(*d, len) {
                    out.push(n);
                }
            }
        }
    }
    Ok(out)
}
