//! The cluster's gRPC protocol (`proto/cluster.proto`) and the mutual-TLS
//! channel agents dial the controller with.

use std::path::Path;
use std::sync::Arc;

/// The largest message either end of a session accepts: an API call's
/// whole request body rides in one (`ApiRequest.body`: a build context, an
/// image to load), and the controller reads bodies of up to 4 GiB. gRPC's
/// frame length is a u32; tonic's default of 4 MiB refused build contexts.
pub const MAX_MESSAGE: usize = (4 << 30) - 1;

#[allow(clippy::all)]
pub mod proto {
    tonic::include_proto!("skiff.cluster.v1");
}

/// A gRPC channel to the controller at `addr` over mutual TLS with the
/// certificates in `dir` (ca.pem, cert.pem, key.pem), read at each
/// connection so that a renewed certificate is used from then on.
pub fn channel(addr: &str, dir: &Path) -> std::io::Result<tonic::transport::Channel> {
    use skiff_certs::files;
    let dir = dir.to_path_buf();
    let load = move || -> std::io::Result<Arc<tokio_rustls::rustls::ClientConfig>> {
        let mut cfg = (*skiff_certs::tls::client_config(
            &dir.join(files::CA),
            Some((&dir.join(files::CLIENT_CERT), &dir.join(files::CLIENT_KEY))),
        )
        .map_err(|e| std::io::Error::other(format!("could not read cluster certificates: {e}")))?)
        .clone();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(cfg))
    };
    load()?;
    let addr = addr.to_string();
    let name = skiff_certs::tls::server_name(&addr)?;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| std::io::Error::other(format!("controller address {addr}: {e}")))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .http2_keep_alive_interval(std::time::Duration::from_secs(10))
        .keep_alive_timeout(std::time::Duration::from_secs(10));
    let connector = tower::service_fn(move |_: http::Uri| {
        let (cfg, addr, name) = (load(), addr.clone(), name.clone());
        async move {
            let cfg = cfg?;
            let tcp = tokio::net::TcpStream::connect(&addr).await?;
            tcp.set_nodelay(true)?;
            let tls = tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}
