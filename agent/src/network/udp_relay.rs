//! The UDP half of the `[::1]` proxy (see `proxy.rs`), as `docker-proxy`
//! relays UDP: each client address gets a flow of its own, a socket
//! connected to the container's port, so replies find their way back; a
//! flow ends after 90 s without a reply (docker-proxy's
//! `UDPConnTrackTimeout`). Flows live in the relay's task and end with it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinSet;

/// How long a flow waits for a reply before it is forgotten.
const IDLE: Duration = Duration::from_secs(90);
/// The largest UDP payload over IPv4 (docker-proxy's `UDPBufSize`).
const MAX_DATAGRAM: usize = 65507;

type Flows = Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>;

pub fn bind(at: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = std::net::UdpSocket::bind(at)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s)
}

/// Relay datagrams between clients of `front` and `to` until aborted.
pub async fn serve(front: UdpSocket, to: SocketAddr) {
    let front = Arc::new(front);
    let flows: Flows = Arc::default();
    // Dropped (and so aborted) with this task.
    let mut replies = JoinSet::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, client) = match front.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                tracing::debug!("udp relay → {to}: {e}");
                continue;
            }
        };
        while replies.try_join_next().is_some() {}
        let known = flows.lock().unwrap_or_else(|e| e.into_inner()).get(&client).cloned();
        let up = match known {
            Some(up) => up,
            None => match open_flow(to).await {
                Ok(up) => {
                    flows
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(client, up.clone());
                    replies.spawn(reply_loop(up.clone(), front.clone(), client, flows.clone()));
                    up
                }
                Err(e) => {
                    tracing::debug!("udp relay to {to}: {e}");
                    continue;
                }
            },
        };
        if let Err(e) = up.send(&buf[..n]).await {
            tracing::debug!("udp relay to {to}: {e}");
        }
    }
}

async fn open_flow(to: SocketAddr) -> std::io::Result<Arc<UdpSocket>> {
    let any: IpAddr = match to {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let up = UdpSocket::bind((any, 0)).await?;
    up.connect(to).await?;
    Ok(Arc::new(up))
}

/// The container's replies to one client, until the flow is idle.
async fn reply_loop(up: Arc<UdpSocket>, front: Arc<UdpSocket>, client: SocketAddr, flows: Flows) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut deadline = tokio::time::Instant::now() + IDLE;
    loop {
        let n = match tokio::time::timeout_at(deadline, up.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            // Nothing listened when a datagram was sent: keep waiting,
            // as docker-proxy does, until the flow times out.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Ok(Err(_)) | Err(_) => break,
        };
        if front.send_to(&buf[..n], client).await.is_err() {
            break;
        }
        deadline = tokio::time::Instant::now() + IDLE;
    }
    flows.lock().unwrap_or_else(|e| e.into_inner()).remove(&client);
}
