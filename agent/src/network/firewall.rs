//! The firewall: one nftables table of skiff's own (`ip skiff`), rebuilt
//! whole and swapped in one transaction whenever networks or published
//! ports change. No other table is read or touched. Built with the
//! `nftables` crate (typed JSON for `nft -j`, as netavark does).

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;

use anyhow::{anyhow, Result};
use ipnet::Ipv4Net;
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
    pub internal: bool,
}

/// One published port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortMap {
    pub proto: String,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub ctr_ip: Ipv4Addr,
    pub ctr_port: u16,
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

fn net(n: &Ipv4Net) -> Expression<'static> {
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

fn chain(name: &str, hook: Option<(NfChainType, NfHook, i32)>) -> NfListObject<'static> {
    let mut c = Chain {
        family: NfFamily::IP,
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

fn rule(chain: &str, expr: Vec<Statement<'static>>) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: Cow::Borrowed(TABLE),
        chain: Cow::Owned(chain.into()),
        expr: Cow::Owned(expr),
        ..Default::default()
    })
}

fn table() -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: NfFamily::IP,
        name: Cow::Borrowed(TABLE),
        ..Default::default()
    })
}

/// The whole table for these networks and ports, replacing the old one
/// atomically (add, delete, add again: `nft` applies a file as one
/// transaction).
pub fn ruleset(nets: &[BridgeNet], ports: &[PortMap]) -> Nftables<'static> {
    let mut b = Batch::new();
    b.add(table());
    b.delete(table());
    b.add(table());
    b.add(chain("prerouting", Some((NfChainType::NAT, NfHook::Prerouting, -100))));
    b.add(chain("output", Some((NfChainType::NAT, NfHook::Output, -100))));
    b.add(chain("postrouting", Some((NfChainType::NAT, NfHook::Postrouting, 100))));
    b.add(chain("forward", Some((NfChainType::Filter, NfHook::Forward, 0))));
    b.add(chain("ports", None));
    b.add(rule(
        "prerouting",
        vec![
            local_daddr(),
            Statement::Jump(nftables::stmt::JumpTarget {
                target: Cow::Borrowed("ports"),
            }),
        ],
    ));
    b.add(rule(
        "output",
        vec![
            local_daddr(),
            Statement::Jump(nftables::stmt::JumpTarget {
                target: Cow::Borrowed("ports"),
            }),
        ],
    ));
    for p in ports {
        let mut e = Vec::new();
        if let Some(ip) = p.host_ip {
            e.push(is(field("ip", "daddr"), s(ip.to_string())));
        }
        e.push(is(field(&p.proto, "dport"), Expression::Number(p.host_port as u32)));
        e.push(Statement::DNAT(Some(NAT {
            addr: Some(s(p.ctr_ip.to_string())),
            family: Some(nftables::stmt::NATFamily::IP),
            port: Some(Expression::Number(p.ctr_port as u32)),
            flags: None,
        })));
        b.add(rule("ports", e));
    }
    for n in nets {
        let br = || s(n.bridge.clone());
        if n.internal {
            // No way in or out but between the network's own containers.
            b.add(rule(
                "forward",
                vec![
                    is(meta(MetaKey::Iifname), br()),
                    not(meta(MetaKey::Oifname), br()),
                    Statement::Drop(None),
                ],
            ));
            b.add(rule(
                "forward",
                vec![
                    is(meta(MetaKey::Oifname), br()),
                    not(meta(MetaKey::Iifname), br()),
                    Statement::Drop(None),
                ],
            ));
            continue;
        }
        // Outgoing NAT.
        b.add(rule(
            "postrouting",
            vec![
                is(field("ip", "saddr"), net(&n.subnet)),
                not(meta(MetaKey::Oifname), br()),
                Statement::Masquerade(None),
            ],
        ));
        // Published ports reached through the host's loopback or by a
        // container of the same network (hairpin) need a source the
        // container can answer; other clients keep their address.
        for src in [Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8).expect("prefix"), n.subnet] {
            b.add(rule(
                "postrouting",
                vec![
                    is(meta(MetaKey::Oifname), br()),
                    is(field("ip", "saddr"), net(&src)),
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
        // Networks are isolated from each other, as Docker's are.
        for o in nets.iter().filter(|o| o.bridge != n.bridge) {
            b.add(rule(
                "forward",
                vec![
                    is(meta(MetaKey::Iifname), br()),
                    is(meta(MetaKey::Oifname), s(o.bridge.clone())),
                    Statement::Drop(None),
                ],
            ));
        }
    }
    b.to_nftables()
}

/// Swap the table in.
pub fn apply(nets: &[BridgeNet], ports: &[PortMap]) -> Result<()> {
    nftables::helper::apply_ruleset(&ruleset(nets, ports))
        .map_err(|e| anyhow!("updating the nftables table {TABLE}: {e}"))
}

/// Drop skiff's table (nothing else).
pub fn remove() -> Result<()> {
    let mut b = Batch::new();
    b.add(table());
    b.delete(table());
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
                internal: false,
            },
            BridgeNet {
                bridge: "br-1".into(),
                subnet: "172.18.0.0/16".parse().unwrap(),
                internal: true,
            },
        ];
        let ports = vec![PortMap {
            proto: "tcp".into(),
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 8080,
            ctr_ip: "172.17.0.2".parse().unwrap(),
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
    }
}
