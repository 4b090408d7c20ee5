//! `skiff network …` and `skiff port`.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::format::{custom, table};
use super::util::{each, inspect_each, print_rows, prune};
use super::{fail, Exit};
use skiff_api::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamPool, NetworkConnectRequest, NetworkCreateRequest, NetworkResource,
};
use skiff_client::{Client, Filters};

#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls {
        #[arg(short = 'q', long)]
        quiet: bool,
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        #[arg(short = 'f', long = "filter")]
        filter: Vec<String>,
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on one or more networks
    Inspect {
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove all unused networks
    Prune {
        #[arg(short = 'f', long)]
        force: bool,
        /// Provide filter values (e.g. 'until=<timestamp>')
        #[arg(long)]
        filter: Vec<String>,
    },
    /// Connect a container to a network
    Connect {
        /// Add network-scoped alias for the container
        #[arg(long)]
        alias: Vec<String>,
        /// IPv4 address (e.g., 172.30.100.104)
        #[arg(long)]
        ip: Option<String>,
        /// IPv6 address (e.g., 2001:db8::33)
        #[arg(long)]
        ip6: Option<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        #[arg(short = 'f', long)]
        force: bool,
        network: String,
        container: String,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the Network (bridge, macvlan)
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment (one IPv4,
    /// one IPv6)
    #[arg(long)]
    pub subnet: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Enable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    pub name: String,
}

fn kv(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

pub async fn run(c: &Client, cmd: NetworkCmd) -> Exit {
    match cmd {
        NetworkCmd::Create(a) => create(c, a).await,
        NetworkCmd::Ls {
            quiet,
            no_trunc,
            filter,
            format,
        } => ls(c, quiet, no_trunc, filter, format).await,
        NetworkCmd::Inspect { format, networks } => {
            let get = |n: String| async move { c.network_inspect_raw(&n).await };
            inspect_each(&networks, get, format.as_deref()).await
        }
        NetworkCmd::Rm { networks } => each(&networks, |n| async move { c.network_remove(&n).await }).await,
        NetworkCmd::Prune { force, filter } => prune_unused(c, force, &filter).await,
        NetworkCmd::Connect {
            alias,
            ip,
            ip6,
            network,
            container,
        } => connect(c, alias, (ip, ip6), network, container).await,
        NetworkCmd::Disconnect {
            force,
            network,
            container,
        } => disconnect(c, force, network, container).await,
    }
}

/// The only subnet of `ip`'s family: a range or gateway outside it goes
/// to it anyway, for the agent to refuse with the subnet named.
fn same_family(pools: &[(ipnet::IpNet, IpamPool)], ip: std::net::IpAddr) -> Option<usize> {
    let same: Vec<usize> = (0..pools.len())
        .filter(|i| pools[*i].0.addr().is_ipv4() == ip.is_ipv4())
        .collect();
    (same.len() == 1).then(|| same[0])
}

/// The IPAM pools from --subnet, --ip-range and --gateway, as the docker
/// CLI pairs them: each range and gateway goes with the subnet holding it.
fn consolidate_ipam(a: &CreateArgs) -> Result<Vec<IpamPool>, String> {
    if a.subnet.is_empty() && (!a.ip_range.is_empty() || !a.gateway.is_empty()) {
        return Err("cannot create a network with --ip-range or --gateway without --subnet".into());
    }
    let mut pools: Vec<(ipnet::IpNet, IpamPool)> = Vec::new();
    for s in &a.subnet {
        let n: ipnet::IpNet = s.parse().map_err(|_| format!("invalid CIDR address: {s}"))?;
        if pools
            .iter()
            .any(|(o, _)| o.contains(&n.network()) || n.contains(&o.network()))
        {
            return Err("multiple overlapping subnet configuration is not supported".into());
        }
        pools.push((
            n,
            IpamPool {
                subnet: s.clone(),
                ..Default::default()
            },
        ));
    }
    for r in &a.ip_range {
        let rn: ipnet::IpNet = r.parse().map_err(|_| format!("invalid CIDR address: {r}"))?;
        let i = pools
            .iter()
            .position(|(n, _)| n.contains(&rn))
            .or_else(|| same_family(&pools, rn.addr()))
            .ok_or_else(|| format!("no matching subnet for range {r}"))?;
        let p = &mut pools[i].1;
        if !p.ip_range.is_empty() {
            return Err(format!(
                "cannot configure multiple ranges ({r}, {}) on the same subnet",
                p.ip_range
            ));
        }
        p.ip_range = r.clone();
    }
    for g in &a.gateway {
        let ip: std::net::IpAddr = g.parse().map_err(|_| format!("invalid gateway address: {g}"))?;
        let i = pools
            .iter()
            .position(|(n, _)| n.contains(&ip))
            .or_else(|| same_family(&pools, ip))
            .ok_or_else(|| format!("no matching subnet for gateway {g}"))?;
        let p = &mut pools[i].1;
        if !p.gateway.is_empty() {
            return Err(format!(
                "cannot configure multiple gateways ({g}, {}) for the same subnet",
                p.gateway
            ));
        }
        p.gateway = g.clone();
    }
    Ok(pools.into_iter().map(|(_, p)| p).collect())
}

/// `skiff network create`: the IPAM pools from --subnet, --ip-range, --gateway.
async fn create(c: &Client, a: CreateArgs) -> Exit {
    let config = match consolidate_ipam(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return Exit(1);
        }
    };
    let req = NetworkCreateRequest {
        name: a.name.clone(),
        check_duplicate: true,
        driver: a.driver.clone(),
        internal: a.internal,
        attachable: a.attachable,
        enable_ipv6: a.ipv6,
        ipam: Some(Ipam {
            driver: "default".into(),
            options: None,
            config,
        }),
        options: kv(&a.opt),
        labels: kv(&a.label),
    };
    match c.network_create(&req).await {
        Ok(id) => {
            println!("{id}");
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}

/// `network ls --format 'table …'`: Docker's column names.
const NETWORK_COLUMNS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("Created", "CREATED AT"),
];

/// `skiff network ls`: IDs (`-q`), template lines (`--format`) or the table.
async fn ls(c: &Client, quiet: bool, no_trunc: bool, filter: Vec<String>, format: Option<String>) -> Exit {
    let mut filters = Filters::new();
    for f in &filter {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        filters.entry(k.to_string()).or_default().push(v.to_string());
    }
    let mut nets = match c.networks_list(&filters).await {
        Ok(v) => v,
        Err(e) => return fail(&e, 1),
    };
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    let id = |n: &NetworkResource| {
        if no_trunc {
            n.id.clone()
        } else {
            n.id[..12.min(n.id.len())].to_string()
        }
    };
    if let Some(fmt) = custom(format) {
        let values: Vec<Value> = nets
            .iter()
            .map(|n| {
                let mut v = serde_json::to_value(n).unwrap_or_default();
                v["ID"] = json!(id(n));
                v
            })
            .collect();
        return print_rows(&values, &fmt, NETWORK_COLUMNS);
    }
    if quiet {
        for n in &nets {
            println!("{}", id(n));
        }
        return Exit(0);
    }
    let mut rows = vec![vec![
        "NETWORK ID".into(),
        "NAME".into(),
        "DRIVER".into(),
        "SCOPE".into(),
    ]];
    for n in &nets {
        rows.push(vec![id(n), n.name.clone(), n.driver.clone(), n.scope.clone()]);
    }
    print!("{}", table(&rows));
    Exit(0)
}

async fn prune_unused(c: &Client, force: bool, filter: &[String]) -> Exit {
    let warning = "WARNING! This will remove all custom networks not used by at least one container.";
    let filters = super::util::filters(filter);
    match prune(
        c.networks_prune(&filters),
        "NetworksDeleted",
        "Deleted Networks:",
        warning,
        force,
    )
    .await
    {
        Ok(_) => Exit(0),
        Err(e) => e,
    }
}

async fn connect(
    c: &Client,
    alias: Vec<String>,
    (ip, ip6): (Option<String>, Option<String>),
    network: String,
    container: String,
) -> Exit {
    let ep = EndpointSettings {
        aliases: (!alias.is_empty()).then_some(alias),
        ipam_config: (ip.is_some() || ip6.is_some()).then(|| EndpointIpamConfig {
            ipv4_address: ip.unwrap_or_default(),
            ipv6_address: ip6.unwrap_or_default(),
        }),
        ..Default::default()
    };
    let req = NetworkConnectRequest {
        container,
        endpoint_config: Some(ep),
        force: false,
    };
    match c.network_connect(&network, &req).await {
        Ok(()) => Exit(0),
        Err(e) => fail(&e, 1),
    }
}

async fn disconnect(c: &Client, force: bool, network: String, container: String) -> Exit {
    let req = NetworkConnectRequest {
        container,
        endpoint_config: None,
        force,
    };
    match c.network_disconnect(&network, &req).await {
        Ok(()) => Exit(0),
        Err(e) => fail(&e, 1),
    }
}

/// `skiff port CTR [PORT[/PROTO]]`.
pub async fn port(c: &Client, container: &str, port: Option<String>) -> Exit {
    let ins = match c.container_inspect(container).await {
        Ok(v) => v,
        Err(e) => return fail(&e, 1),
    };
    let want = port.map(|p| if p.contains('/') { p } else { format!("{p}/tcp") });
    // As Docker's CLI prints them: `[::1]:8080` for IPv6, lines sorted.
    let mut lines = Vec::new();
    for (key, binds) in &ins.network_settings.ports {
        if want.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for b in binds.iter().flatten() {
            let host = if b.host_ip.is_empty() { "0.0.0.0" } else { &b.host_ip };
            let addr = crate::format::join_host_port(host, &b.host_port);
            lines.push(if want.is_some() {
                addr
            } else {
                format!("{key} -> {addr}")
            });
        }
    }
    lines.sort();
    for l in &lines {
        println!("{l}");
    }
    if let (Some(w), true) = (want, lines.is_empty()) {
        eprintln!("Error: No public port '{w}' published for {container}");
        return Exit(1);
    }
    Exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(subnet: &[&str], range: &[&str], gateway: &[&str]) -> CreateArgs {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        CreateArgs {
            driver: "bridge".into(),
            subnet: v(subnet),
            ip_range: v(range),
            gateway: v(gateway),
            ipv6: true,
            internal: false,
            attachable: false,
            label: vec![],
            opt: vec![],
            name: "n".into(),
        }
    }

    #[test]
    fn gateways_and_ranges_go_with_their_subnet() {
        let a = args(
            &["fd00:1::/64", "172.80.0.0/16"],
            &["172.80.1.0/24"],
            &["172.80.0.1", "fd00:1::fe"],
        );
        let p = consolidate_ipam(&a).unwrap();
        assert_eq!(p[0].subnet, "fd00:1::/64");
        assert_eq!(p[0].gateway, "fd00:1::fe");
        assert_eq!(p[1].gateway, "172.80.0.1");
        assert_eq!(p[1].ip_range, "172.80.1.0/24");
        // A gateway outside the only subnet of its family goes to it, for
        // the agent to refuse by name; with none of its family, here.
        let p = consolidate_ipam(&args(&["10.1.0.0/16"], &[], &["10.2.0.1"])).unwrap();
        assert_eq!(p[0].gateway, "10.2.0.1");
        let e = consolidate_ipam(&args(&["10.1.0.0/16"], &[], &["fd00::1"])).unwrap_err();
        assert!(e.contains("no matching subnet for gateway"), "{e}");
        assert!(consolidate_ipam(&args(&[], &[], &["10.0.0.1"])).is_err());
        assert!(consolidate_ipam(&args(&["10.1.0.0/16", "10.1.2.0/24"], &[], &[])).is_err());
    }
}
