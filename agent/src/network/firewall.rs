//! The firewall: nftables tables of skiff's own (`ip skiff`, and `ip6
//! skiff` while a network has IPv6), rebuilt whole and swapped in one
//! transaction whenever networks or published ports change. No other table
//! is read or touched. Built with the `nftables` crate (typed JSON for `nft
//! -j`, as netavark does).

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{anyhow, Result};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nftables::batch::Batch;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, CT,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Match, Operator, Statement, NAT};
use nftables::types::{NfChainType, NfFamily, NfHook};

pub const TABLE: &str = "skiff";

/// A bridge network as the firewall sees it.
#[derive(Clone, Debug)]
pub struct BridgeNet {
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// Its IPv6 subnet, on networks with IPv6.
    pub subnet6: Option<Ipv6Net>,
    pub internal: bool,
}

/// One published port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortMap {
    pub proto: String,
    /// The host address it is published on; `None` for all of them.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub ctr_ip: Ipv4Addr,
    /// Also DNAT IPv6 to this address (a port published on all the host's
    /// addresses or an IPv6 one, by a container with IPv6).
    pub ctr_ip6: Option<Ipv6Addr>,
    pub ctr_port: u16,
}

/// The address family of one of skiff's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    fn nf(self) -> NfFamily {
        match self {
            Fam::V4 => NfFamily::IP,
            Fam::V6 => NfFamily::IP6,
        }
    }

    /// The payload protocol of addresses (`ip saddr`, `ip6 saddr`).
    fn proto(self) -> &'static str {
        match self {
            Fam::V4 => "ip",
            Fam::V6 => "ip6",
        }
    }

    fn nat(self) -> nftables::stmt::NATFamily {
        match self {
            Fam::V4 => nftables::stmt::NATFamily::IP,
            Fam::V6 => nftables::stmt::NATFamily::IP6,
        }
    }
}

fn s(v: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(v.into()))
}

fn field(proto: &str, f: &str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: Cow::Owned(proto.into()),
        field: Cow::Owned(f.into()),
    })))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn net(n: &IpNet) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(n.network().to_string())),
        len: n.prefix_len() as u32,
    }))
}

fn is(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

fn not(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::NEQ,
    })
}

fn local_daddr() -> Statement<'static> {
    is(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags: HashSet::from([FibFlag::Daddr]),
        })),
        s("local"),
    )
}

fn chain(f: Fam, name: &str, hook: Option<(NfChainType, NfHook, i32)>) -> NfListObject<'static> {
    let mut c = Chain {
        family: f.nf(),
        table: Cow::Borrowed(TABLE),
        name: Cow::Owned(name.into()),
        ..Default::default()
    };
    if let Some((t, h, p)) = hook {
        c._type = Some(t);
        c.hook = Some(h);
        c.prio = Some(p);
    }
    NfListObject::Chain(c)
}

fn rule(f: Fam, chain: &str, expr: Vec<Statement<'static>>) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: f.nf(),
        table: Cow::Borrowed(TABLE),
        chain: Cow::Owned(chain.into()),
        expr: Cow::Owned(expr),
        ..Default::default()
    })
}

fn table(f: Fam) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: f.nf(),
        name: Cow::Borrowed(TABLE),
        ..Default::default()
    })
}

/// The whole tables for these networks and ports, replacing the old ones
/// atomically (add, delete, add again: `nft` applies a file as one
/// transaction). The `ip6` table exists while a network has IPv6.
pub fn ruleset(nets: &[BridgeNet], ports: &[PortMap]) -> Nftables<'static> {
    let mut b = Batch::new();
    family_rules(&mut b, Fam::V4, nets, ports);
    b.add(table(Fam::V6));
    b.delete(table(Fam::V6));
    if nets.iter().any(|n| n.subnet6.is_some()) {
        family_rules(&mut b, Fam::V6, nets, ports);
    }
    b.to_nftables()
}

fn jump(target: &'static str) -> Statement<'static> {
    Statement::Jump(nftables::stmt::JumpTarget {
        target: Cow::Borrowed(target),
    })
}

/// One family's table: DNAT of published ports, masquerade out of each
/// non-internal bridge, isolation between bridges and of internal ones.
fn family_rules(b: &mut Batch<'static>, f: Fam, nets: &[BridgeNet], ports: &[PortMap]) {
    if f == Fam::V4 {
        b.add(table(f));
        b.delete(table(f));
    }
    b.add(table(f));
    b.add(chain(
        f,
        "prerouting",
        Some((NfChainType::NAT, NfHook::Prerouting, -100)),
    ));
    b.add(chain(f, "output", Some((NfChainType::NAT, NfHook::Output, -100))));
    b.add(chain(
        f,
        "postrouting",
        Some((NfChainType::NAT, NfHook::Postrouting, 100)),
    ));
    b.add(chain(f, "forward", Some((NfChainType::Filter, NfHook::Forward, 0))));
    b.add(chain(f, "ports", None));
    b.add(rule(f, "prerouting", vec![local_daddr(), jump("ports")]));
    let mut out = vec![local_daddr(), jump("ports")];
    if f == Fam::V6 {
        // ::1 cannot be DNATed out of the host: the agent's proxy serves it.
        out.insert(0, not(field("ip6", "daddr"), s("::1")));
    }
    b.add(rule(f, "output", out));
    for p in ports {
        let mut e = Vec::new();
        let to = match (f, p.host_ip) {
            (Fam::V4, Some(IpAddr::V6(_))) | (Fam::V6, Some(IpAddr::V4(_))) => continue,
            (Fam::V4, _) => p.ctr_ip.to_string(),
            // A container without IPv6 is reached by the agent's proxy.
            (Fam::V6, _) => match p.ctr_ip6 {
                Some(ip6) => ip6.to_string(),
                None => continue,
            },
        };
        if let Some(ip) = p.host_ip {
            let fam = if f == Fam::V4 { "ip" } else { "ip6" };
            e.push(is(field(fam, "daddr"), s(ip.to_string())));
        }
        e.push(is(field(&p.proto, "dport"), Expression::Number(p.host_port as u32)));
        e.push(Statement::DNAT(Some(NAT {
            addr: Some(s(to)),
            family: Some(f.nat()),
            port: Some(Expression::Number(p.ctr_port as u32)),
            flags: None,
        })));
        b.add(rule(f, "ports", e));
    }
    for n in nets {
        bridge_rules(b, f, n, nets);
    }
}

/// One bridge's rules in one family's table.
fn bridge_rules(b: &mut Batch<'static>, f: Fam, n: &BridgeNet, nets: &[BridgeNet]) {
    let br = || s(n.bridge.clone());
    if n.internal {
        // No way in or out but between the network's own containers.
        b.add(rule(
            f,
            "forward",
            vec![
                is(meta(MetaKey::Iifname), br()),
                not(meta(MetaKey::Oifname), br()),
                Statement::Drop(None),
            ],
        ));
        b.add(rule(
            f,
            "forward",
            vec![
                is(meta(MetaKey::Oifname), br()),
                not(meta(MetaKey::Iifname), br()),
                Statement::Drop(None),
            ],
        ));
        return;
    }
    let subnet = match f {
        Fam::V4 => Some(IpNet::V4(n.subnet)),
        Fam::V6 => n.subnet6.map(IpNet::V6),
    };
    if let Some(subnet) = subnet {
        // Outgoing NAT.
        b.add(rule(
            f,
            "postrouting",
            vec![
                is(field(f.proto(), "saddr"), net(&subnet)),
                not(meta(MetaKey::Oifname), br()),
                Statement::Masquerade(None),
            ],
        ));
        // Published ports reached through the host's loopback (IPv4) or
        // by a container of the same network (hairpin) need a source the
        // container can answer; other clients keep their address.
        let mut srcs = vec![subnet];
        if f == Fam::V4 {
            srcs.insert(
                0,
                IpNet::V4(Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8).expect("prefix")),
            );
        }
        for src in srcs {
            b.add(rule(
                f,
                "postrouting",
                vec![
                    is(meta(MetaKey::Oifname), br()),
                    is(field(f.proto(), "saddr"), net(&src)),
                    Statement::Match(Match {
                        left: Expression::Named(NamedExpression::CT(CT {
                            key: Cow::Borrowed("status"),
                            family: None,
                            dir: None,
                        })),
                        right: s("dnat"),
                        op: Operator::IN,
                    }),
                    Statement::Masquerade(None),
                ],
            ));
        }
    }
    // Networks are isolated from each other, as Docker's are.
    for o in nets.iter().filter(|o| o.bridge != n.bridge) {
        b.add(rule(
            f,
            "forward",
            vec![
                is(meta(MetaKey::Iifname), br()),
                is(meta(MetaKey::Oifname), s(o.bridge.clone())),
                Statement::Drop(None),
            ],
        ));
    }
}

/// Swap the table in.
pub fn apply(nets: &[BridgeNet], ports: &[PortMap]) -> Result<()> {
    nftables::helper::apply_ruleset(&ruleset(nets, ports))
        .map_err(|e| anyhow!("updating the nftables table {TABLE}: {e}"))
}

/// Drop skiff's table (nothing else).
pub fn remove() -> Result<()> {
    let mut b = Batch::new();
    for f in [Fam::V4, Fam::V6] {
        b.add(table(f));
        b.delete(table(f));
    }
    nftables::helper::apply_ruleset(&b.to_nftables()).map_err(|e| anyhow!("removing the nftables table {TABLE}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_shape() {
        let nets = vec![
            BridgeNet {
                bridge: "skiff0".into(),
                subnet: "172.17.0.0/16".parse().unwrap(),
                subnet6: None,
                internal: false,
            },
            BridgeNet {
                bridge: "br-1".into(),
                subnet: "172.18.0.0/16".parse().unwrap(),
                subnet6: None,
                internal: true,
            },
        ];
        let ports = vec![PortMap {
            proto: "tcp".into(),
            host_ip: Some(Ipv4Addr::LOCALHOST.into()),
            host_port: 8080,
            ctr_ip: "172.17.0.2".parse().unwrap(),
            ctr_ip6: None,
            ctr_port: 80,
        }];
        let j = serde_json::to_string(&ruleset(&nets, &ports)).unwrap();
        assert!(
            j.contains(r#""dnat":{"addr":"172.17.0.2","family":"ip","port":80}"#),
            "{j}"
        );
        assert!(j.contains(r#""masquerade""#));
        assert!(j.contains(r#""delete":{"table""#));
        assert!(j.contains(r#""drop""#));
        // No IPv6 network: the ip6 table is only deleted.
        assert!(j.contains(r#""delete":{"table":{"family":"ip6""#), "{j}");
        assert!(!j.contains(r#""chain":{"family":"ip6""#), "{j}");
    }

    #[test]
    fn ipv6_table_for_ipv6_networks() {
        let nets = vec![
            BridgeNet {
                bridge: "br-6".into(),
                subnet: "172.19.0.0/16".parse().unwrap(),
                subnet6: Some("fd00:1::/64".parse().unwrap()),
                internal: false,
            },
            BridgeNet {
                bridge: "br-4".into(),
                subnet: "172.20.0.0/16".parse().unwrap(),
                subnet6: None,
                internal: false,
            },
        ];
        let ports = vec![PortMap {
            proto: "tcp".into(),
            host_ip: None,
            host_port: 8080,
            ctr_ip: "172.19.0.2".parse().unwrap(),
            ctr_ip6: Some("fd00:1::2".parse().unwrap()),
            ctr_port: 80,
        }];
        let j = serde_json::to_string(&ruleset(&nets, &ports)).unwrap();
        assert!(j.contains(r#""chain":{"family":"ip6""#), "{j}");
        assert!(
            j.contains(r#""dnat":{"addr":"fd00:1::2","family":"ip6","port":80}"#),
            "{j}"
        );
        assert!(j.contains(r#""prefix":{"addr":"fd00:1::","len":64}"#), "{j}");
        // Published on one IPv6 address: matched in ip6 only.
        let one = PortMap {
            host_ip: Some("fd00:ff::2".parse().unwrap()),
            ..ports[0].clone()
        };
        let j = serde_json::to_string(&ruleset(&nets, &[one])).unwrap();
        assert_eq!(j.matches(r#""right":"fd00:ff::2""#).count(), 1, "{j}");
        assert!(!j.contains(r#""dnat":{"addr":"172.19.0.2""#), "{j}");
    }
}
