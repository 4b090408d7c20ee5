//! Where the API is served: unix sockets, and TCP with mutual TLS
//! (Docker's `--tlsverify`) or, if the operator insists, plain TCP. Every
//! connection ends up in `serve_conn`, whatever carries it, with the
//! [`Access`] its client certificate grants.

use std::os::fd::FromRawFd;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use hyper_util::rt::TokioIo;
use skiff_certs::cluster::{Identity, Role};
use skiff_certs::tls::{server_config, TlsFiles};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tower_service::Service;

use skiff_api::strip_version;
use skiff_common::http::ApiError;

use crate::cluster::Revoked;

/// What a connection may do. A certificate of the cluster's CA carries a
/// role (`skiff_certs::cluster`), and on an agent's TLS listener that role
/// counts as on the controller's: an agent's certificate is no client, a
/// read-only one changes nothing. A certificate without a cluster role
/// (`skiff certs client`, Docker's model) grants what the CA vouches for:
/// everything.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Access {
    Full,
    ReadOnly,
    Refused(&'static str),
}

impl Access {
    /// The access a verified client certificate (DER) grants.
    pub fn of_certificate(der: &[u8]) -> Access {
        match Identity::from_der(der).map(|w| w.role) {
            None | Some(Role::Admin) => Access::Full,
            Some(Role::Readonly) => Access::ReadOnly,
            Some(Role::Agent) => Access::Refused("an agent's certificate cannot be used as a client certificate"),
            Some(Role::Controller) => {
                Access::Refused("a controller's certificate cannot be used as a client certificate")
            }
        }
    }

    /// Why `req` is refused, if it is.
    fn refuses<B>(self, req: &hyper::Request<B>) -> Option<&'static str> {
        let reads = matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD)
            // A websocket attach is a GET that writes to the container.
            && !req.uri().path().ends_with("/attach/ws");
        match self {
            Access::Full => None,
            Access::ReadOnly if reads => None,
            Access::ReadOnly => Some("permission denied: this certificate is read-only"),
            Access::Refused(why) => Some(why),
        }
    }
}

/// Who is on a connection: what their certificate grants and, for a
/// cluster certificate, its ID, looked up in the revocation list on every
/// request (a connection may outlive the certificate's revocation).
#[derive(Clone)]
pub struct Caller {
    access: Access,
    cluster_id: Option<(String, Arc<Revoked>)>,
}

impl Caller {
    /// The unix socket's caller, and plain TCP's: the socket's permissions
    /// (or the operator's `--insecure-tcp`) decided.
    fn trusted() -> Caller {
        Caller {
            access: Access::Full,
            cluster_id: None,
        }
    }

    fn of_tls(peer: Option<&[u8]>, revoked: &Arc<Revoked>) -> Caller {
        let Some(der) = peer else {
            return Caller {
                access: Access::Refused("a client certificate is required"),
                cluster_id: None,
            };
        };
        Caller {
            access: Access::of_certificate(der),
            cluster_id: Identity::from_der(der).map(|w| (w.id, revoked.clone())),
        }
    }

    fn refuses<B>(&self, req: &hyper::Request<B>) -> Option<&'static str> {
        match &self.cluster_id {
            Some((id, list)) if list.contains(id) => Some("this certificate has been revoked"),
            _ => self.access.refuses(req),
        }
    }
}

/// Serve HTTP/1.1 (with upgrades for attach and exec) on one connection.
pub async fn serve_conn<I>(io: I, app: Router, caller: Caller, debug: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let mut app = app.clone();
        let version = super::versions::requested(req.uri().path());
        if let Some((_, v)) = &version {
            req.extensions_mut().insert(super::versions::PathVersion(*v));
        }
        if let Some(u) = strip_version(req.uri()) {
            *req.uri_mut() = u;
        }
        if debug {
            tracing::debug!(method = %req.method(), uri = %req.uri(), "API request");
        }
        let refused = caller.refuses(&req);
        async move {
            if let Some(why) = refused {
                tracing::warn!(method = %req.method(), uri = %req.uri(), "refused: {why}");
                // Read what was sent first: closing on unread data resets
                // the connection, and the client would never see why.
                let _ = axum::body::to_bytes(axum::body::Body::new(req.into_body()), 1 << 20).await;
                return Ok(ApiError(StatusCode::FORBIDDEN, why.into()).into_response());
            }
            use super::versions::{finish, refusal, Stage};
            let v = version.as_ref().map(|(_, v)| *v);
            if let Some(err) = version.as_ref().and_then(|(t, v)| refusal(t, *v)) {
                return Ok(finish(err.into_response(), v, Stage::Refused).await);
            }
            let Ok(resp) = app.call(req).await;
            if debug {
                tracing::debug!(status = %resp.status(), "API response");
            }
            Ok::<_, std::convert::Infallible>(finish(resp, v, Stage::Served).await)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades()
        .await;
}

pub fn unix(path: &std::path::Path, app: Router, debug: bool) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Bind under a temporary name and rename once listening, so the socket
    // never exists without accepting (clients that wait for the file would
    // otherwise be refused in between).
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = std::path::PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let l = tokio::net::UnixListener::bind(&tmp).with_context(|| format!("listening on {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o660))?;
    std::fs::rename(&tmp, path).with_context(|| format!("placing socket {}", path.display()))?;
    tracing::info!("API listening on unix://{}", path.display());
    serve_unix(l, app, debug);
    Ok(())
}

fn serve_unix(l: tokio::net::UnixListener, app: Router, debug: bool) {
    tokio::spawn(async move {
        loop {
            if let Ok((stream, _)) = l.accept().await {
                tokio::spawn(serve_conn(stream, app.clone(), Caller::trusted(), debug));
            }
        }
    });
}

/// The server's TLS settings, replaced in place on SIGHUP.
pub struct TlsState {
    files: TlsFiles,
    revoked: Arc<Revoked>,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl TlsState {
    pub fn load(files: TlsFiles, revoked: Arc<Revoked>) -> Result<Arc<Self>> {
        let cfg = server_config(&files, revoked.admission()).context("loading TLS certificates")?;
        Ok(Arc::new(Self {
            files,
            revoked,
            current: RwLock::new(cfg),
        }))
    }

    /// Re-read the certificate files; on error keep serving the old ones.
    pub fn reload(&self) {
        match server_config(&self.files, self.revoked.admission()) {
            Ok(cfg) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = cfg;
                tracing::info!("TLS certificates reloaded");
            }
            Err(e) => tracing::error!("TLS reload failed, keeping the previous certificates: {e}"),
        }
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// What Go's TLS server answers to plain HTTP, so `curl http://` users see why.
const HTTP_ON_TLS: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

pub async fn tcp(addr: &str, tls: Option<Arc<TlsState>>, app: Router, debug: bool) -> Result<()> {
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on tcp://{addr}"))?;
    serve_tcp(l, addr, tls, app, debug);
    Ok(())
}

fn serve_tcp(l: tokio::net::TcpListener, addr: &str, tls: Option<Arc<TlsState>>, app: Router, debug: bool) {
    match &tls {
        Some(_) => tracing::info!("API listening on tcp://{addr} (TLS, client certificates required)"),
        None => tracing::warn!(
            "API listening on tcp://{addr} WITHOUT TLS (--insecure-tcp): anyone who can reach it has root on this host"
        ),
    }
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, peer)) = l.accept().await else {
                continue;
            };
            let app = app.clone();
            let Some(tls) = tls.clone() else {
                tokio::spawn(serve_conn(stream, app, Caller::trusted(), debug));
                continue;
            };
            tokio::spawn(async move {
                // A TLS connection starts with a handshake record (0x16).
                let mut first = [0u8; 1];
                if matches!(stream.peek(&mut first).await, Ok(1)) && first[0] != 0x16 {
                    tracing::warn!(%peer, "plain HTTP on the TLS port refused");
                    let _ = stream.write_all(HTTP_ON_TLS).await;
                    let _ = stream.shutdown().await;
                    return;
                }
                match tls.acceptor().accept(stream).await {
                    Ok(s) => {
                        let peer = s.get_ref().1.peer_certificates().and_then(|c| c.first());
                        let caller = Caller::of_tls(peer.map(|c| c.as_ref()), &tls.revoked);
                        serve_conn(s, app, caller, debug).await
                    }
                    Err(e) => tracing::warn!(%peer, "TLS handshake failed: {e}"),
                }
            });
        }
    });
}

/// `-H fd://` (every socket systemd passed) or `-H fd://N` (that one):
/// serve sockets handed over by socket activation (`LISTEN_PID`,
/// `LISTEN_FDS`, descriptors from 3), unix or TCP; TCP ones with TLS as
/// `-H tcp://` would be.
pub fn activated(which: Option<i32>, tls: Option<Arc<TlsState>>, app: Router, debug: bool) -> Result<()> {
    let fds = activation_fds()?;
    let chosen: Vec<i32> = match which {
        None => fds,
        Some(n) if fds.contains(&n) => vec![n],
        Some(n) => anyhow::bail!("too few sockets passed by systemd: fd://{n} was not among them ({fds:?})"),
    };
    for fd in chosen {
        // SAFETY: systemd handed this descriptor to us; nothing else owns it.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // Not for the supervisors and containers this agent starts.
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
        let addr = nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(fd)
            .with_context(|| format!("fd://{fd} is not a socket"))?;
        if addr.as_unix_addr().is_some() {
            let l = std::os::unix::net::UnixListener::from(owned);
            l.set_nonblocking(true)?;
            tracing::info!("API listening on fd://{fd} (unix socket from systemd)");
            serve_unix(tokio::net::UnixListener::from_std(l)?, app.clone(), debug);
        } else {
            let l = std::net::TcpListener::from(owned);
            if tls.is_none() {
                anyhow::bail!(
                    "refusing to serve the TCP socket fd://{fd} without --tlsverify: anyone who can connect would be root on this host"
                );
            }
            l.set_nonblocking(true)?;
            let name = format!("fd://{fd} ({})", l.local_addr()?);
            serve_tcp(
                tokio::net::TcpListener::from_std(l)?,
                &name,
                tls.clone(),
                app.clone(),
                debug,
            );
        }
    }
    Ok(())
}

/// The descriptors systemd passed to this process, as sd_listen_fds(3).
fn activation_fds() -> Result<Vec<i32>> {
    let none =
        || anyhow::anyhow!("no sockets found via socket activation: make sure the service was started by systemd");
    let pid: u32 = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse().ok())
        .ok_or_else(none)?;
    if pid != std::process::id() {
        return Err(none());
    }
    let n: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|p| p.parse().ok())
        .ok_or_else(none)?;
    if n < 1 {
        return Err(none());
    }
    Ok((3..3 + n).collect())
}
