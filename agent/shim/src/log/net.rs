//! Blocking sockets for the remote drivers (the monitor has no async
//! runtime), with errors worded as Go's `net.Dial` words them, since
//! Docker shows those to users ("dial tcp 127.0.0.1:24224: connect:
//! connection refused").

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

/// How long a remote driver may take to connect or to write one message
/// before it gives up (the monitor is single-threaded: a stuck write
/// would stall the container's output and its reaping).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// An io::Error as Go prints a syscall error: "connection refused".
pub fn go_text(e: &io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

fn resolve(net: &str, addr: &str) -> io::Result<SocketAddr> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    addr.to_socket_addrs()
        .map_err(|e| io::Error::other(format!("dial {net}: lookup {host}: {}", go_text(&e))))?
        .next()
        .ok_or_else(|| io::Error::other(format!("dial {net}: lookup {host}: no such host")))
}

pub fn dial_tcp(addr: &str) -> io::Result<TcpStream> {
    let sa = resolve("tcp", addr)?;
    let s = TcpStream::connect_timeout(&sa, TIMEOUT)
        .map_err(|e| io::Error::new(e.kind(), format!("dial tcp {sa}: connect: {}", go_text(&e))))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

pub fn dial_udp(addr: &str) -> io::Result<UdpSocket> {
    let sa = resolve("udp", addr)?;
    let local: SocketAddr = if sa.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    let s = UdpSocket::bind(local)?;
    s.connect(sa)
        .map_err(|e| io::Error::new(e.kind(), format!("dial udp {sa}: connect: {}", go_text(&e))))?;
    Ok(s)
}

pub fn dial_unix(path: &str) -> io::Result<UnixStream> {
    let s = UnixStream::connect(path)
        .map_err(|e| io::Error::new(e.kind(), format!("dial unix {path}: connect: {}", go_text(&e))))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    Ok(s)
}

pub fn dial_unixgram(path: &str) -> io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.connect(path)
        .map_err(|e| io::Error::new(e.kind(), format!("dial unixgram {path}: connect: {}", go_text(&e))))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    Ok(s)
}

/// One connected socket of any kind: streams take bytes, datagram sockets
/// one message per send.
pub enum Conn {
    Tcp(TcpStream),
    /// syslog's `tcp+tls`.
    Tls(Box<super::tls::TlsStream>),
    Udp(UdpSocket),
    Unix(UnixStream),
    Unixgram(UnixDatagram),
}

impl Conn {
    pub fn is_stream(&self) -> bool {
        matches!(self, Conn::Tcp(_) | Conn::Tls(_) | Conn::Unix(_))
    }

    /// Bound writes and reads (stream sockets; datagram sends do not block
    /// for long).
    pub fn set_timeouts(&self, write: Option<Duration>, read: Option<Duration>) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_write_timeout(write).and_then(|()| s.set_read_timeout(read)),
            Conn::Tls(s) => s
                .sock
                .set_write_timeout(write)
                .and_then(|()| s.sock.set_read_timeout(read)),
            Conn::Unix(s) => s.set_write_timeout(write).and_then(|()| s.set_read_timeout(read)),
            Conn::Udp(_) | Conn::Unixgram(_) => Ok(()),
        }
    }

    /// Read what a stream server answers.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
            Conn::Udp(s) => s.recv(buf),
            Conn::Unixgram(s) => s.recv(buf),
        }
    }

    /// Send one message (whole, or failing).
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.write_all(data),
            Conn::Tls(s) => s.write_all(data).and_then(|()| s.flush()),
            Conn::Unix(s) => s.write_all(data),
            Conn::Udp(s) => s.send(data).map(drop),
            Conn::Unixgram(s) => s.send(data).map(drop),
        }
    }
}

/// Send through `conn`, connecting first when there is none, for up to
/// `attempts` tries; before each retry sleep `wait(retry)` (1-based). A
/// failed send drops the connection so the next try dials again. The
/// last error is returned when every try failed.
pub fn send_with_retries<C>(
    conn: &mut Option<C>,
    attempts: u32,
    mut wait: impl FnMut(u32) -> Duration,
    mut connect: impl FnMut() -> io::Result<C>,
    mut send: impl FnMut(&mut C) -> io::Result<()>,
) -> io::Result<()> {
    let mut last = io::Error::other("no attempt");
    for i in 0..attempts.max(1) {
        if i > 0 {
            std::thread::sleep(wait(i));
        }
        if conn.is_none() {
            match connect() {
                Ok(c) => *conn = Some(c),
                Err(e) => {
                    last = e;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        match send(c) {
            Ok(()) => return Ok(()),
            Err(e) => {
                *conn = None;
                last = e;
            }
        }
    }
    Err(last)
}

/// Split `scheme://rest` (Go's url.Parse for the forms Docker takes).
pub fn split_url(address: &str) -> Option<(&str, &str)> {
    address.split_once("://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_wording() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = dial_tcp(&addr).unwrap_err().to_string();
        assert_eq!(e, format!("dial tcp {addr}: connect: connection refused"));
    }
}
