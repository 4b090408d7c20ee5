//! `skiff-agent`: the daemon, and (`skiff-agent shim DIR`) the per-container
//! supervisor it re-executes itself as, which creates the container and
//! then becomes the small `skiff-shim` monitor.

use anyhow::Result;
use clap::Parser;
use skiff_agent::config::{Config, Flags};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // The supervisor stays single-threaded: no tokio runtime.
    if args.get(1).map(String::as_str) == Some("shim") {
        let dir = args.get(2).map(std::path::PathBuf::from).unwrap_or_default();
        std::process::exit(skiff_agent::runtime::shim::main(&dir));
    }
    let cfg = Config::resolve(Flags::parse())?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "skiff_agent={0},skiff_common={0},warn",
            cfg.log_level
        )))
        .with_writer(std::io::stderr)
        .init();
    // The registry client's TLS uses the process's default provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(skiff_agent::api::serve(cfg))
}
