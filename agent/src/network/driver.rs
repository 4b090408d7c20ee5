//! Network drivers, as netavark shapes them: one trait (validate, setup,
//! teardown, plumb an endpoint) with `bridge` and `macvlan` behind it. The
//! registry (`get`) is the only place that names them; Docker's predefined
//! `host` and `null` networks carry no endpoints and have no driver here.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use rtnetlink::Handle;

use super::{netlink, Net, Result};

/// A driver's work that talks to the kernel.
pub type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Docker's predefined networks' drivers, which carry no endpoints.
pub const HOST: &str = "host";
pub const NULL: &str = "null";

pub trait Driver: Send + Sync {
    /// Docker's name for it (`--driver`).
    fn name(&self) -> &'static str;

    /// Check a new network's options (`-o`) and choose its host interface
    /// (a bridge's name, a macvlan's parent); may fill options in.
    fn validate<'a>(
        &'a self,
        nl: &'a Handle,
        id: &'a str,
        options: &'a mut BTreeMap<String, String>,
    ) -> Fut<'a, Result<String>>;

    /// Make the network's host side, at create and at every agent start.
    fn setup<'a>(&'a self, _nl: &'a Handle, _net: &'a Net) -> Fut<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Undo `setup` when the network is removed.
    fn teardown<'a>(&'a self, _nl: &'a Handle, _net: &'a Net) -> Fut<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Create an endpoint's interface inside a container's namespace.
    fn plumb<'a>(
        &'a self,
        nl: &'a Handle,
        net: &'a Net,
        netns: &'a Path,
        iface: &'a netlink::Iface<'a>,
    ) -> Fut<'a, Result<()>>;

    /// Its traffic goes through skiff's firewall table (masquerade out,
    /// published ports, isolation between networks).
    fn firewalled(&self) -> bool {
        false
    }
}

static BRIDGE: super::bridge::Bridge = super::bridge::Bridge;
static MACVLAN: super::macvlan::Macvlan = super::macvlan::Macvlan;

/// The driver called `name`, if skiff has it.
pub fn get(name: &str) -> Option<&'static dyn Driver> {
    let all: [&'static dyn Driver; 2] = [&BRIDGE, &MACVLAN];
    all.into_iter().find(|d| d.name() == name)
}

/// The names of every driver, for error messages.
pub fn names() -> Vec<&'static str> {
    [&BRIDGE as &dyn Driver, &MACVLAN].iter().map(|d| d.name()).collect()
}

/// `--driver` when none is given.
pub const DEFAULT: &str = super::bridge::NAME;
