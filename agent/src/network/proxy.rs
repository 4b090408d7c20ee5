//! Published ports on the host's IPv6 loopback. The kernel does not route
//! a DNATed packet whose source is `::1` out of the host (IPv6 has no
//! `route_localnet`), so TCP and UDP ports that a container with IPv6
//! publishes on all addresses are served on `[::1]` by a small proxy in
//! the agent, as Docker's `docker-proxy` does (UDP in `udp_relay.rs`).
//! Other IPv6 addresses of the host go through nftables DNAT.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};
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
        for m in maps.iter().filter(|m| m.host_ip.is_none()) {
            let Some(ip6) = m.ctr_ip6 else { continue };
            let to = SocketAddr::new(ip6.into(), m.ctr_port);
            let served = match m.proto.as_str() {
                "udp" => udp_relay::bind(m.host_port).map(|s| tokio::spawn(udp_relay::serve(s, to))),
                _ => listen(m.host_port).map(|l| tokio::spawn(serve(l, to))),
            };
            match served {
                Ok(task) => handles.push(task.abort_handle()),
                Err(e) => tracing::warn!(
                    container = %&container[..container.len().min(12)],
                    "serving [::1]:{}/{}: {e}",
                    m.host_port,
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

fn listen(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let l = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, port))?;
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
