//! DNS load for `deploy/bench.sh`: N threads each send A queries for a
//! name over UDP, one at a time, for a number of seconds, and the tool
//! prints queries per second and latency percentiles. Run it inside a
//! container's network namespace against its embedded DNS (skiff's or
//! Docker's, both at 127.0.0.11:53).
//!   skiff-dnsbench SERVER:PORT NAME SECONDS THREADS
//! For the tests, it is also a stand-in upstream resolver that answers every
//! A query with 192.0.2.1 (TEST-NET-1):
//!   skiff-dnsbench serve ADDR:PORT

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

fn serve(addr: &str) -> anyhow::Result<()> {
    use hickory_proto::rr::{rdata::A, RData, Record};
    let sock = UdpSocket::bind(addr)?;
    let mut buf = [0u8; 1500];
    loop {
        let (n, peer) = sock.recv_from(&mut buf)?;
        let Ok(q) = Message::from_vec(&buf[..n]) else { continue };
        let mut r = Message::response(q.metadata.id, OpCode::Query);
        r.metadata.recursion_available = true;
        r.queries = q.queries.clone();
        for query in &q.queries {
            if query.query_type() == RecordType::A {
                r.answers.push(Record::from_rdata(
                    query.name().clone(),
                    60,
                    RData::A(A(std::net::Ipv4Addr::new(192, 0, 2, 1))),
                ));
            }
        }
        sock.send_to(&r.to_vec()?, peer)?;
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "serve" {
        return serve(&args[2]);
    }
    anyhow::ensure!(
        args.len() == 5,
        "usage: skiff-dnsbench SERVER:PORT NAME SECONDS THREADS"
    );
    let server: SocketAddr = args[1].parse()?;
    let name = Name::from_ascii(&args[2])?;
    let secs: u64 = args[3].parse()?;
    let threads: usize = args[4].parse()?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let name = name.clone();
            std::thread::spawn(move || -> anyhow::Result<(Vec<u32>, u64)> {
                let sock = UdpSocket::bind("0.0.0.0:0")?;
                sock.connect(server)?;
                sock.set_read_timeout(Some(Duration::from_secs(1)))?;
                let mut lat = Vec::new();
                let mut lost = 0;
                let mut buf = [0u8; 1500];
                let mut id = (t as u16).wrapping_mul(7919);
                while Instant::now() < deadline {
                    id = id.wrapping_add(1);
                    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
                    m.metadata.recursion_desired = true;
                    m.add_query(Query::query(name.clone(), RecordType::A));
                    let q = m.to_vec()?;
                    let t0 = Instant::now();
                    sock.send(&q)?;
                    loop {
                        match sock.recv(&mut buf) {
                            Ok(n) if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id => {
                                lat.push(t0.elapsed().as_micros() as u32);
                                break;
                            }
                            Ok(_) => continue,
                            Err(_) => {
                                lost += 1;
                                break;
                            }
                        }
                    }
                }
                Ok((lat, lost))
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut lost = 0;
    for w in workers {
        let (l, x) = w.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
        all.extend(l);
        lost += x;
    }
    anyhow::ensure!(!all.is_empty(), "no answers");
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{:.0} {} {} {}",
        all.len() as f64 / secs as f64,
        pct(0.50),
        pct(0.99),
        lost
    );
    Ok(())
}
