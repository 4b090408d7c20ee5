//! The embedded DNS: a resolver at 127.0.0.11:53 (UDP and TCP) inside the
//! namespace of every container on a user-defined network, as Docker has.
//! It answers container names, short IDs and aliases of the networks the
//! asking container is on, rotating multi-address answers on every query
//! (round-robin), and forwards other names to the host's resolvers.
//! Messages are parsed and built with hickory-proto.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::AbortHandle;

use super::Networks;

pub const ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

pub struct Server {
    /// container ID → its listener tasks.
    listeners: Mutex<HashMap<String, Vec<AbortHandle>>>,
    /// Round-robin position per name.
    turns: Mutex<HashMap<String, usize>>,
    upstreams: Vec<SocketAddr>,
}

/// The host's resolvers, from /etc/resolv.conf.
fn host_resolvers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    pub fn new() -> Self {
        Self {
            listeners: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
            upstreams: host_resolvers(),
        }
    }

    /// Listen inside the container's namespace until `stop`.
    pub fn start(
        self: &Arc<Self>,
        nets: Arc<Networks>,
        container: &str,
        netns: &Path,
        upstreams: Vec<SocketAddr>,
    ) -> Result<()> {
        let upstreams = Arc::new(if upstreams.is_empty() {
            self.upstreams.clone()
        } else {
            upstreams
        });
        self.stop(container);
        let ns = std::fs::File::open(netns).with_context(|| format!("opening {}", netns.display()))?;
        let (udp, tcp) = std::thread::spawn(move || -> Result<(std::net::UdpSocket, std::net::TcpListener)> {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).context("entering the namespace")?;
            let udp = std::net::UdpSocket::bind((ADDR, 53)).context("binding 127.0.0.11:53/udp")?;
            let tcp = std::net::TcpListener::bind((ADDR, 53)).context("binding 127.0.0.11:53/tcp")?;
            udp.set_nonblocking(true)?;
            tcp.set_nonblocking(true)?;
            Ok((udp, tcp))
        })
        .join()
        .map_err(|_| anyhow!("dns thread panicked"))??;
        let udp = tokio::net::UdpSocket::from_std(udp)?;
        let tcp = tokio::net::TcpListener::from_std(tcp)?;
        let id = container.to_string();
        let (me, n, ups) = (self.clone(), nets.clone(), upstreams.clone());
        let cid = id.clone();
        let u = tokio::spawn(async move {
            let udp = Arc::new(udp);
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, peer)) = udp.recv_from(&mut buf).await else {
                    break;
                };
                let req = buf[..len].to_vec();
                let (me, n, cid, udp, ups) = (me.clone(), n.clone(), cid.clone(), udp.clone(), ups.clone());
                tokio::spawn(async move {
                    if let Some(resp) = me.answer(&n, &cid, &req, true, &ups).await {
                        let _ = udp.send_to(&resp, peer).await;
                    }
                });
            }
        });
        let (me, n, ups) = (self.clone(), nets, upstreams);
        let cid = id.clone();
        let t = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else { break };
                let (me, n, cid, ups) = (me.clone(), n.clone(), cid.clone(), ups.clone());
                tokio::spawn(async move {
                    while let Ok(len) = s.read_u16().await {
                        let mut req = vec![0u8; len as usize];
                        if s.read_exact(&mut req).await.is_err() {
                            break;
                        }
                        let Some(resp) = me.answer(&n, &cid, &req, false, &ups).await else {
                            break;
                        };
                        let mut out = (resp.len() as u16).to_be_bytes().to_vec();
                        out.extend_from_slice(&resp);
                        if s.write_all(&out).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, vec![u.abort_handle(), t.abort_handle()]);
        Ok(())
    }

    pub fn stop(&self, container: &str) {
        if let Some(tasks) = self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(container)
        {
            for t in tasks {
                t.abort();
            }
        }
    }

    /// Rotate the list one step further on every query for the name.
    fn rotate<T: Ord>(&self, name: &str, mut ips: Vec<T>) -> Vec<T> {
        if ips.len() > 1 {
            ips.sort();
            let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
            let t = turns.entry(name.to_string()).or_insert(0);
            let n = *t % ips.len();
            *t = t.wrapping_add(1);
            ips.rotate_left(n);
        }
        ips
    }

    /// Build the reply to one request (None: not a DNS message).
    async fn answer(
        &self,
        nets: &Networks,
        container: &str,
        req: &[u8],
        udp: bool,
        upstreams: &[SocketAddr],
    ) -> Option<Vec<u8>> {
        let msg = Message::from_vec(req).ok()?;
        if msg.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut resp = Message::response(msg.metadata.id, msg.metadata.op_code);
        resp.metadata.recursion_desired = msg.metadata.recursion_desired;
        resp.metadata.recursion_available = true;
        resp.queries = msg.queries.clone();
        if msg.metadata.op_code != OpCode::Query || msg.queries.len() != 1 {
            resp.metadata.response_code = ResponseCode::NotImp;
            return resp.to_vec().ok();
        }
        let q = &msg.queries[0];
        let qname = q.name().to_ascii();
        let name = qname.trim_end_matches('.').to_ascii_lowercase();
        match q.query_type() {
            RecordType::A | RecordType::AAAA => {
                let ips = nets.lookup(container, &name);
                if !ips.is_empty() {
                    // A name of ours without addresses of the asked family
                    // answers NODATA, not a forward.
                    resp.metadata.authoritative = true;
                    let rdata: Vec<RData> = if q.query_type() == RecordType::A {
                        let v4 = ips.iter().filter_map(|ip| match ip {
                            IpAddr::V4(a) => Some(*a),
                            IpAddr::V6(_) => None,
                        });
                        self.rotate(&name, v4.collect())
                            .into_iter()
                            .map(|a| RData::A(A(a)))
                            .collect()
                    } else {
                        let v6 = ips.iter().filter_map(|ip| match ip {
                            IpAddr::V6(a) => Some(*a),
                            IpAddr::V4(_) => None,
                        });
                        let key = format!("{name}/aaaa");
                        self.rotate(&key, v6.collect())
                            .into_iter()
                            .map(|a| RData::AAAA(AAAA(a)))
                            .collect()
                    };
                    for r in rdata {
                        resp.answers.push(Record::from_rdata(q.name().clone(), 0, r));
                    }
                    return finish(resp, udp, msg.max_payload());
                }
            }
            RecordType::PTR => {
                if let Ok(n) = q.name().parse_arpa_name() {
                    if let Some(target) = nets.reverse(container, n.addr()) {
                        if let Ok(t) = Name::from_ascii(format!("{target}.")) {
                            resp.metadata.authoritative = true;
                            resp.answers
                                .push(Record::from_rdata(q.name().clone(), 0, RData::PTR(PTR(t))));
                            return finish(resp, udp, msg.max_payload());
                        }
                    }
                }
            }
            _ => {}
        }
        // Not ours: ask the host's resolvers.
        match forward(req, upstreams).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::debug!("dns: forwarding {name}: {e:#}");
                resp.metadata.response_code = ResponseCode::ServFail;
                resp.to_vec().ok()
            }
        }
    }
}

/// Ask the upstream resolvers, in order, from the agent's namespace.
async fn forward(req: &[u8], upstreams: &[SocketAddr]) -> Result<Vec<u8>> {
    {
        let mut last = anyhow!("no upstream resolvers in /etc/resolv.conf");
        for up in upstreams {
            let bind: SocketAddr = if up.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
            let s = tokio::net::UdpSocket::bind(bind).await?;
            s.connect(up).await?;
            s.send(req).await?;
            let mut buf = vec![0u8; 4096];
            match tokio::time::timeout(Duration::from_secs(2), s.recv(&mut buf)).await {
                Ok(Ok(n)) => return Ok(buf[..n].to_vec()),
                Ok(Err(e)) => last = anyhow!("{up}: {e}"),
                Err(_) => last = anyhow!("{up}: timed out"),
            }
        }
        Err(last)
    }
}

/// Encode, truncating for UDP when the answer does not fit: the client
/// then asks again over TCP.
fn finish(mut resp: Message, udp: bool, max: u16) -> Option<Vec<u8>> {
    let out = resp.to_vec().ok()?;
    if udp && out.len() > max as usize {
        resp.answers.clear();
        resp.metadata.truncation = true;
        return resp.to_vec().ok();
    }
    Some(out)
}
