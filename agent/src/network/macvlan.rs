//! The `macvlan` driver (bridge mode): each endpoint is a macvlan child of
//! a host interface (`-o parent=IFACE`), made directly inside the
//! container's namespace, so containers appear on the parent's segment.

use std::collections::BTreeMap;
use std::path::Path;

use rtnetlink::Handle;

use super::driver::{Driver, Fut};
use super::{netlink, Net, NetError, Result};

pub struct Macvlan;

impl Driver for Macvlan {
    fn name(&self) -> &'static str {
        "macvlan"
    }

    fn validate<'a>(
        &'a self,
        nl: &'a Handle,
        _id: &'a str,
        options: &'a mut BTreeMap<String, String>,
    ) -> Fut<'a, Result<String>> {
        Box::pin(async move {
            let parent = options.get("parent").cloned().unwrap_or_default();
            if parent.is_empty() {
                return Err(NetError::Invalid(
                    "macvlan networks need a parent interface: -o parent=IFACE".into(),
                ));
            }
            if netlink::link_index(nl, &parent).await?.is_none() {
                return Err(NetError::Invalid(format!(
                    "-o parent={parent}: no such interface on this host"
                )));
            }
            if let Some(m) = options.get("macvlan_mode").filter(|m| *m != "bridge") {
                return Err(NetError::Invalid(format!(
                    "macvlan mode {m} is not supported (only bridge)"
                )));
            }
            Ok(parent)
        })
    }

    fn plumb<'a>(
        &'a self,
        nl: &'a Handle,
        net: &'a Net,
        netns: &'a Path,
        iface: &'a netlink::Iface<'a>,
    ) -> Fut<'a, Result<()>> {
        Box::pin(async move {
            let parent = netlink::link_index(nl, &net.iface)
                .await?
                .ok_or_else(|| NetError::Invalid(format!("macvlan parent {} is gone", net.iface)))?;
            Ok(netlink::add_endpoint(nl, netns, netlink::Kind::Macvlan { parent }, iface).await?)
        })
    }
}
