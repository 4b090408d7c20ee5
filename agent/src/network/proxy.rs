//! Published ports the agent serves itself, as Docker's `docker-proxy`
//! does. The kernel does not route a DNATed packet whose source is `::1`
//! out of the host (IPv6 has no `route_localnet`), so TCP and UDP ports
//! that a container with IPv6 publishes on all addresses, or on `[::1]`,
//! are served on `[::1]` by a small proxy in the agent (UDP in
//! `udp_relay.rs`); so are ports published on an IPv6 address of the host
//! by a container without IPv6 (nftables cannot DNAT IPv6 to IPv4). Other
//! IPv6 addresses of the host go through nftables DNAT.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;

use tokio::task::AbortHandle;

use super::firewall::PortMap;
use super::udp_relay;

#[derive(Default)]
pub struct Proxies {
    /// container ID → its listeners.
    tasks: Mutex<HashMap<String, Vec<AbortHandle>>>,
}

impl Proxies {
    /// Serve `maps` of one container on `[::1]` (replacing what it had).
    /// A port that cannot be bound there is logged and left to DNAT.
    pub fn start(&self, container: &str, maps: &[PortMap]) {
        self.stop(container);
        let mut handles = Vec::new();
        for m in maps {
            let Some((at, to)) = proxied(m) else { continue };
            let served = match m.proto.as_str() {
                "udp" => udp_relay::bind(at).map(|s| tokio::spawn(udp_relay::serve(s, to))),
                _ => listen(at).map(|l| tokio::spawn(serve(l, to))),
            };
            match served {
                Ok(task) => handles.push(task.abort_handle()),
                Err(e) => tracing::warn!(
                    container = %&container[..container.len().min(12)],
                    "serving {at}/{}: {e}",
                    m.proto
                ),
            }
        }
        if !handles.is_empty() {
            self.tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(container.to_string(), handles);
        }
    }

    /// Stop serving a container's ports (connections in flight finish).
    pub fn stop(&self, container: &str) {
        let gone = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).remove(container);
        for t in gone.into_iter().flatten() {
            t.abort();
        }
    }
}

/// Where the agent serves a mapping itself, and where to: see above.
fn proxied(m: &PortMap) -> Option<(SocketAddr, SocketAddr)> {
    let to6 = m.ctr_ip6.map(|ip| SocketAddr::new(ip.into(), m.ctr_port));
    let to4 = SocketAddr::new(m.ctr_ip.into(), m.ctr_port);
    let at = |ip: Ipv6Addr| SocketAddr::new(ip.into(), m.host_port);
    match m.host_ip {
        None => to6.map(|to| (at(Ipv6Addr::LOCALHOST), to)),
        Some(IpAddr::V6(ip)) if ip.is_loopback() => Some((at(ip), to6.unwrap_or(to4))),
        Some(IpAddr::V6(ip)) if to6.is_none() => Some((at(ip), to4)),
        Some(_) => None,
    }
}

fn listen(at: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let l = std::net::TcpListener::bind(at)?;
    l.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(l)
}

async fn serve(l: tokio::net::TcpListener, to: SocketAddr) {
    loop {
        let Ok((mut client, _)) = l.accept().await else {
            break;
        };
        tokio::spawn(async move {
            match tokio::net::TcpStream::connect(to).await {
                Ok(mut upstream) => {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                Err(e) => tracing::debug!("proxy to {to}: {e}"),
            }
        });
    }
}
