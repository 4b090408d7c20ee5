//! Placement, as a pure function: the nodes as they are now, what a
//! container asks for, and the answer (a node, or why none fits). Spread
//! (the default) picks the node running the fewest tasks of the same
//! service, then the fewest containers (SwarmKit's order, so replicas go
//! to different nodes first even when placed in one pass); binpack
//! picks the fullest node that still fits. Reservations (`--cpus`,
//! `--memory`) must fit in what a node has left; constraints filter by
//! hostname, ID and labels, as Swarm's `--constraint` does. A host port
//! (`-p 8080:80`) is taken on a node while a container there publishes it.

use std::collections::{BTreeMap, BTreeSet};

mod views;
pub use views::{node_views, Placer};

/// One node as the scheduler sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeView {
    pub id: String,
    pub hostname: String,
    /// Labels set with `node update --label-add`.
    pub labels: BTreeMap<String, String>,
    /// Labels the agent reports (`skiff-agent --label`).
    pub engine_labels: BTreeMap<String, String>,
    /// Ready, and active (not drained or paused).
    pub schedulable: bool,
    pub nano_cpus: i64,
    pub memory: i64,
    pub reserved_nano_cpus: i64,
    pub reserved_memory: i64,
    pub containers: usize,
    /// Host ports its live containers publish ("8080/tcp").
    pub host_ports: BTreeSet<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    #[default]
    Spread,
    Binpack,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "spread" => Some(Strategy::Spread),
            "binpack" => Some(Strategy::Binpack),
            _ => None,
        }
    }
}

/// `node.hostname==h1`, `node.labels.zone!=b`, …
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    key: String,
    want: String,
    equal: bool,
}

impl Constraint {
    pub fn parse(s: &str) -> Result<Constraint, String> {
        let (key, want, equal) = if let Some((k, v)) = s.split_once("!=") {
            (k, v, false)
        } else if let Some((k, v)) = s.split_once("==") {
            (k, v, true)
        } else {
            return Err(format!("invalid constraint {s:?}: use key==value or key!=value"));
        };
        let key = key.trim();
        let known = matches!(key, "node.id" | "node.hostname")
            || ["node.labels.", "node.label.", "engine.labels."]
                .iter()
                .any(|p| key.strip_prefix(p).is_some_and(|k| !k.is_empty()));
        if !known {
            return Err(format!(
                "invalid constraint key {key:?}: use node.id, node.hostname, node.labels.KEY or engine.labels.KEY"
            ));
        }
        Ok(Constraint {
            key: key.to_string(),
            want: want.trim().to_string(),
            equal,
        })
    }

    fn holds(&self, n: &NodeView) -> bool {
        (attr(n, &self.key) == Some(self.want.as_str())) == self.equal
    }
}

/// A node's value for a constraint or preference key.
fn attr<'a>(n: &'a NodeView, key: &str) -> Option<&'a str> {
    match key {
        "node.id" => Some(n.id.as_str()),
        "node.hostname" => Some(n.hostname.as_str()),
        k => {
            if let Some(l) = k.strip_prefix("node.labels.").or_else(|| k.strip_prefix("node.label.")) {
                n.labels.get(l).map(String::as_str)
            } else {
                k.strip_prefix("engine.labels.")
                    .and_then(|l| n.engine_labels.get(l))
                    .map(String::as_str)
            }
        }
    }
}

/// `--placement-pref spread=node.labels.zone`: the label key whose values
/// a service's tasks are spread evenly over (Swarm's preference).
pub fn parse_preference(s: &str) -> Result<String, String> {
    let key = s.strip_prefix("spread=").map(str::trim).unwrap_or_default();
    let known = ["node.labels.", "engine.labels."]
        .iter()
        .any(|p| key.strip_prefix(p).is_some_and(|k| !k.is_empty()));
    if !known {
        return Err(format!(
            "invalid placement preference {s:?}: use spread=node.labels.KEY or spread=engine.labels.KEY"
        ));
    }
    Ok(key.to_string())
}

/// What a container asks of its node.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub constraints: Vec<Constraint>,
    pub nano_cpus: i64,
    pub memory: i64,
    pub strategy: Strategy,
    /// Host ports it publishes ("8080/tcp").
    pub host_ports: Vec<String>,
    /// For a service's task: how many tasks of that service each node
    /// (by ID) already holds, from the replicated state.
    pub siblings: BTreeMap<String, usize>,
    /// Keys (`node.labels.zone`) whose values the siblings are spread
    /// over evenly before anything else, in order; nodes without the key
    /// are one more group.
    pub spread_over: Vec<String>,
}

/// Why no node fits, as Swarm words it.
#[derive(Debug, PartialEq, Eq)]
pub struct NoFit(pub String);

impl std::fmt::Display for NoFit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Pick a node for `req`, or say why none fits.
pub fn place<'a>(nodes: &'a [NodeView], req: &Request) -> Result<&'a NodeView, NoFit> {
    pick(nodes, req).map(|i| &nodes[i])
}

/// Count what a container placed on `n` takes there.
pub fn take(n: &mut NodeView, req: &Request) {
    n.containers += 1;
    n.reserved_nano_cpus += req.nano_cpus;
    n.reserved_memory += req.memory;
    n.host_ports.extend(req.host_ports.iter().cloned());
}

/// The index of the node `place` picks. Every feasible node is scored:
/// with the views kept between placements (`views`), a pass over 1,000
/// nodes costs tens of microseconds, so sampling (Nomad's way) would buy
/// little and lose exact spread.
pub fn pick(nodes: &[NodeView], req: &Request) -> Result<usize, NoFit> {
    let (mut down, mut unmet, mut cpu, mut mem, mut ports) = (0, 0, 0, 0, 0);
    let mut fits: Vec<usize> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if !n.schedulable {
            down += 1;
        } else if !req.constraints.iter().all(|c| c.holds(n)) {
            unmet += 1;
        } else if req.nano_cpus > 0 && n.nano_cpus - n.reserved_nano_cpus < req.nano_cpus {
            cpu += 1;
        } else if req.memory > 0 && n.memory - n.reserved_memory < req.memory {
            mem += 1;
        } else if req.host_ports.iter().any(|p| n.host_ports.contains(p)) {
            ports += 1;
        } else {
            fits.push(i);
        }
    }
    let free = |n: &NodeView| {
        // Free share of the scarcer resource, in parts per million.
        let share = |total: i64, used: i64| {
            if total <= 0 {
                0
            } else {
                (total - used).max(0) as i128 * 1_000_000 / total as i128
            }
        };
        share(n.nano_cpus, n.reserved_nano_cpus).min(share(n.memory, n.reserved_memory))
    };
    let siblings = |n: &NodeView| req.siblings.get(&n.id).copied().unwrap_or(0);
    // Siblings per value of each preference key, over every node.
    let groups: Vec<BTreeMap<&str, usize>> = req
        .spread_over
        .iter()
        .map(|key| {
            let mut g = BTreeMap::new();
            for n in nodes {
                *g.entry(attr(n, key).unwrap_or_default()).or_default() += siblings(n);
            }
            g
        })
        .collect();
    let preferred = |n: &NodeView| -> Vec<usize> {
        req.spread_over
            .iter()
            .zip(&groups)
            .map(|(key, g)| g[attr(n, key).unwrap_or_default()])
            .collect()
    };
    let best = match req.strategy {
        Strategy::Spread => fits.into_iter().min_by(|&a, &b| {
            let (a, b) = (&nodes[a], &nodes[b]);
            (preferred(a), siblings(a), a.containers, -free(a), &a.id).cmp(&(
                preferred(b),
                siblings(b),
                b.containers,
                -free(b),
                &b.id,
            ))
        }),
        Strategy::Binpack => fits.into_iter().min_by(|&a, &b| {
            let (a, b) = (&nodes[a], &nodes[b]);
            (preferred(a), free(a), std::cmp::Reverse(a.containers), &a.id).cmp(&(
                preferred(b),
                free(b),
                std::cmp::Reverse(b.containers),
                &b.id,
            ))
        }),
    };
    best.ok_or_else(|| {
        if nodes.is_empty() {
            return NoFit("no suitable node (the cluster has no nodes)".into());
        }
        let mut why = Vec::new();
        let mut count = |k: usize, what: &str| {
            if k > 0 {
                why.push(format!("{what} on {k} node{}", if k == 1 { "" } else { "s" }));
            }
        };
        count(down, "down, drained or paused");
        count(unmet, "scheduling constraints not satisfied");
        count(cpu, "insufficient CPU");
        count(mem, "insufficient memory");
        count(ports, "host port already in use");
        NoFit(format!("no suitable node ({})", why.join("; ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, containers: usize) -> NodeView {
        NodeView {
            id: id.into(),
            hostname: id.replace('n', "h"),
            schedulable: true,
            nano_cpus: 2_000_000_000,
            memory: 4 << 30,
            containers,
            ..Default::default()
        }
    }

    fn req(constraints: &[&str]) -> Request {
        Request {
            constraints: constraints.iter().map(|c| Constraint::parse(c).unwrap()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn spread_picks_the_emptiest_node_and_binpack_the_fullest_that_fits() {
        let mut nodes = vec![node("n1", 3), node("n2", 1), node("n3", 2)];
        assert_eq!(place(&nodes, &req(&[])).unwrap().id, "n2");
        nodes[0].reserved_memory = 3 << 30;
        let mut r = req(&[]);
        r.strategy = Strategy::Binpack;
        assert_eq!(place(&nodes, &r).unwrap().id, "n1");
        // Binpack still needs room.
        r.memory = 2 << 30;
        assert_eq!(place(&nodes, &r).unwrap().id, "n3");
    }

    #[test]
    fn spread_puts_a_services_replicas_on_different_nodes_first() {
        // n1 is the emptiest, but already holds one of the service's tasks.
        let nodes = vec![node("n1", 1), node("n2", 4), node("n3", 2)];
        let mut r = req(&[]);
        r.siblings.insert("n1".into(), 1);
        assert_eq!(place(&nodes, &r).unwrap().id, "n3");
        r.siblings.insert("n3".into(), 1);
        assert_eq!(place(&nodes, &r).unwrap().id, "n2");
        // Once every node holds one, the emptiest wins again.
        r.siblings.insert("n2".into(), 1);
        assert_eq!(place(&nodes, &r).unwrap().id, "n1");
    }

    #[test]
    fn a_placement_preference_spreads_a_services_tasks_over_a_labels_values() {
        // Zone a has three nodes, zone b one, and one node has no zone.
        let mut nodes: Vec<NodeView> = (1..=5).map(|i| node(&format!("n{i}"), 0)).collect();
        for (i, z) in ["a", "a", "a", "b"].iter().enumerate() {
            nodes[i].labels.insert("zone".into(), z.to_string());
        }
        let mut r = req(&[]);
        r.spread_over = vec![parse_preference("spread=node.labels.zone").unwrap()];
        let mut zones = Vec::new();
        for _ in 0..6 {
            let i = pick(&nodes, &r).unwrap();
            take(&mut nodes[i], &r);
            *r.siblings.entry(nodes[i].id.clone()).or_default() += 1;
            zones.push(nodes[i].labels.get("zone").cloned().unwrap_or_default());
        }
        // Two per group: zone a, zone b and the unlabelled node alike.
        for z in ["a", "b", ""] {
            assert_eq!(zones.iter().filter(|x| *x == z).count(), 2, "{zones:?}");
        }
        assert!(parse_preference("spread=rack").is_err());
        assert!(parse_preference("binpack=node.labels.zone").is_err());
    }

    #[test]
    fn constraints_filter_by_hostname_id_and_labels() {
        let mut nodes = vec![node("n1", 0), node("n2", 5), node("n3", 9)];
        nodes[1].labels.insert("zone".into(), "a".into());
        nodes[2].engine_labels.insert("disk".into(), "ssd".into());
        assert_eq!(place(&nodes, &req(&["node.labels.zone==a"])).unwrap().id, "n2");
        assert_eq!(place(&nodes, &req(&["node.label.zone==a"])).unwrap().id, "n2");
        assert_eq!(place(&nodes, &req(&["engine.labels.disk==ssd"])).unwrap().id, "n3");
        assert_eq!(place(&nodes, &req(&["node.hostname!=h1"])).unwrap().id, "n2");
        assert_eq!(place(&nodes, &req(&["node.id==n3"])).unwrap().id, "n3");
        assert_eq!(
            place(&nodes, &req(&["node.labels.zone==b"])),
            Err(NoFit(
                "no suitable node (scheduling constraints not satisfied on 3 nodes)".into()
            ))
        );
        assert!(Constraint::parse("zone=a").is_err());
        assert!(Constraint::parse("rack==1").is_err());
    }

    #[test]
    fn reservations_must_fit_and_unfit_nodes_are_named_by_reason() {
        let mut nodes = vec![node("n1", 0), node("n2", 0), node("n3", 0)];
        nodes[0].schedulable = false;
        nodes[1].reserved_nano_cpus = 1_500_000_000;
        let mut r = req(&[]);
        r.nano_cpus = 1_000_000_000;
        r.memory = 1 << 30;
        assert_eq!(place(&nodes, &r).unwrap().id, "n3");
        r.memory = 8 << 30;
        assert_eq!(
            place(&nodes, &r),
            Err(NoFit(
                "no suitable node (down, drained or paused on 1 node; insufficient CPU on 1 node; insufficient memory on 1 node)"
                    .into()
            ))
        );
        assert_eq!(
            place(&[], &r),
            Err(NoFit("no suitable node (the cluster has no nodes)".into()))
        );
    }

    #[test]
    fn a_published_host_port_is_taken_on_its_node() {
        let mut nodes = vec![node("n1", 0), node("n2", 1)];
        nodes[0].host_ports.insert("8080/tcp".into());
        let mut r = req(&[]);
        r.host_ports = vec!["8080/tcp".into()];
        assert_eq!(
            place(&nodes, &r).unwrap().id,
            "n2",
            "n1 has fewer containers but the port"
        );
        r.host_ports = vec!["8080/udp".into()];
        assert_eq!(place(&nodes, &r).unwrap().id, "n1", "another protocol is another port");
        nodes[1].host_ports.insert("8080/tcp".into());
        r.host_ports = vec!["8080/tcp".into()];
        assert_eq!(
            place(&nodes, &r),
            Err(NoFit("no suitable node (host port already in use on 2 nodes)".into()))
        );
        let mut bindings = BTreeMap::new();
        let bind = |p: &str| skiff_api::PortBinding {
            host_ip: String::new(),
            host_port: p.into(),
        };
        bindings.insert("80/tcp".to_string(), vec![bind("8080"), bind("")]);
        bindings.insert("53/udp".to_string(), vec![bind("5353")]);
        assert_eq!(skiff_api::host_ports(&bindings), ["5353/udp", "8080/tcp"]);
    }
}
