//! The gRPC side: one long-lived `Session` stream per agent. The agent
//! registers, then heartbeats and reports its containers; the controller
//! welcomes it and sends Docker API calls down the same stream.

use std::pin::Pin;
use std::sync::Arc;

use skiff_api::cluster::{NodeDescription, Platform, Resources};
use skiff_certs::cluster::Role;
use skiff_common::cluster::proto::cluster_server::Cluster;
use skiff_common::cluster::proto::{agent_message, controller_message, AgentMessage, ControllerMessage, Register};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::server::{Ctx, Peer};
use crate::state::Command;

pub struct ClusterService {
    pub ctx: Arc<Ctx>,
}

type Outbound = Pin<Box<dyn Stream<Item = Result<ControllerMessage, Status>> + Send>>;

fn describe(r: &Register) -> NodeDescription {
    NodeDescription {
        hostname: r.hostname.clone(),
        platform: Platform {
            architecture: r.architecture.clone(),
            os: r.os.clone(),
        },
        resources: Resources {
            nano_cpus: i64::from(r.cpus) * 1_000_000_000,
            memory_bytes: r.memory_bytes as i64,
        },
        engine: skiff_api::cluster::Engine {
            engine_version: r.engine_version.clone(),
            labels: r.labels.clone().into_iter().collect(),
        },
        addresses: r.addresses.clone(),
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    type SessionStream = Outbound;

    async fn session(&self, req: Request<Streaming<AgentMessage>>) -> Result<Response<Outbound>, Status> {
        let peer = req.extensions().get::<Peer>().and_then(|p| p.0.clone());
        let node = match peer {
            Some(who) if who.role == Role::Agent => who.id,
            Some(_) => {
                return Err(Status::permission_denied(
                    "only an agent certificate may open a session",
                ))
            }
            None => return Err(Status::unauthenticated("a node certificate is required")),
        };
        let mut inbound = req.into_inner();
        let first = inbound.message().await?;
        let Some(AgentMessage {
            body: Some(agent_message::Body::Register(reg)),
        }) = first
        else {
            return Err(Status::invalid_argument("the first message must be a Register"));
        };
        let ctx = self.ctx.clone();
        let description = describe(&reg);
        let known = ctx.store.read().nodes.get(&node).map(|n| n.description.clone());
        match known {
            None => return Err(Status::permission_denied(format!("node {node} is not a member"))),
            Some(d) if d != description => ctx
                .store
                .propose(Command::Describe {
                    id: node.clone(),
                    description,
                    at: crate::server::now(),
                })
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?,
            Some(_) => {}
        }
        let (tx, rx) = mpsc::channel(256);
        let generation = ctx.fleet.connect(&node, tx.clone());
        tracing::info!(node = %node, hostname = %reg.hostname, "agent connected");
        let welcome = ControllerMessage {
            body: Some(controller_message::Body::Welcome(
                skiff_common::cluster::proto::Welcome {
                    node_id: node.clone(),
                    heartbeat_period_ms: ctx.fleet.pace.period().as_millis() as u32,
                },
            )),
        };
        let _ = tx.send(welcome).await;
        let revoked = ctx.store.read().revoked.iter().cloned().collect();
        let _ = tx.send(crate::fleet::revoked_message(revoked)).await;
        let hostname = reg.hostname.clone();
        tokio::spawn(async move {
            loop {
                let msg = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(node = %node, "session ended: {e}");
                        break;
                    }
                };
                if !ctx.store.is_leader() {
                    // Sessions belong with the leader; the agent comes back
                    // through any controller and is forwarded there.
                    break;
                }
                match msg.body {
                    Some(agent_message::Body::Heartbeat(_)) => {
                        ctx.fleet.beats.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        ctx.fleet.heartbeat(&node, generation)
                    }
                    Some(agent_message::Body::Containers(list)) => {
                        ctx.fleet.beats.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        ctx.fleet.set_containers(&node, generation, list.containers)
                    }
                    Some(agent_message::Body::Response(r)) => ctx.fleet.answer(&node, r).await,
                    Some(agent_message::Body::Event(e)) => {
                        ctx.fleet.touch(&node, generation);
                        match serde_json::from_slice::<skiff_api::events::Event>(&e.json) {
                            Ok(mut ev) => {
                                ev.node = Some(skiff_api::events::EventNode {
                                    name: hostname.clone(),
                                    id: node.clone(),
                                });
                                ctx.events.push(ev);
                            }
                            Err(err) => tracing::debug!(node = %node, "unreadable event: {err}"),
                        }
                    }
                    Some(agent_message::Body::Register(_)) | None => {}
                }
            }
            ctx.fleet.disconnect(&node, generation);
            tracing::info!(node = %node, "agent disconnected");
        });
        let out = ReceiverStream::new(rx).map(Ok);
        Ok(Response::new(Box::pin(out)))
    }
}
