//! `skiff cluster …` (tokens, login) and `skiff node …`, against a
//! controller.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::format::{capitalize, custom, size, table};
use super::util::{each, inspect_each, print_rows, print_values};
use super::{fail, Exit};
use skiff_api::cluster::NodeUpdate;
use skiff_client::{Client, ClientError};

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Print (or rotate) the token that joins an agent, an admin or a read-only client
    JoinToken {
        /// agent, controller, admin or readonly
        role: String,
        /// Only display the token
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Make a new token; the old one stops working
        #[arg(long)]
        rotate: bool,
    },
    /// Get a client certificate with an admin or read-only token
    Login {
        token: String,
        /// The controller, HOST[:PORT]
        controller: String,
        /// Where to write ca.pem, cert.pem and key.pem (default: $SKIFF_CERT_PATH or ~/.skiff)
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Display the cluster's ID, settings and (for admins) join tokens
    Inspect,
    /// Renew this client's certificate before it expires (the key stays)
    Renew,
    /// List the controllers: leader, reachability, raft term, commit index and lag
    Controllers {
        #[command(subcommand)]
        cmd: Option<ControllersCmd>,
        /// Only display raft IDs
        #[arg(short = 'q', long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// List the admin and read-only client certificates the cluster issued
    Clients {
        #[command(subcommand)]
        cmd: Option<ClientsCmd>,
        /// Only display IDs
        #[arg(short = 'q', long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientsCmd {
    /// Revoke client certificates: controllers and agents refuse them from now on
    #[command(alias = "remove", alias = "revoke")]
    Rm {
        /// Client IDs (or unique prefixes)
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ControllersCmd {
    /// Remove a controller (refused if the rest could not keep a quorum)
    #[command(alias = "remove")]
    Rm {
        /// Remove it even if the controllers left could not form a quorum
        #[arg(short = 'f', long)]
        force: bool,
        /// Raft ID or certificate ID (prefix)
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// List nodes in the cluster
    #[command(alias = "list")]
    Ls {
        #[arg(short = 'q', long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on one or more nodes
    Inspect {
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Update a node
    Update(NodeUpdateArgs),
    /// Stop placing work on nodes and move their service tasks elsewhere
    Drain {
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Let nodes take work again
    Activate {
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Remove one or more nodes from the cluster (their certificates stop working)
    #[command(alias = "remove")]
    Rm {
        /// Remove a node even if it is up
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        nodes: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct NodeUpdateArgs {
    /// Availability of the node ("active", "pause", "drain")
    #[arg(long)]
    pub availability: Option<String>,
    /// Add or update a node label (key=value)
    #[arg(long = "label-add")]
    pub label_add: Vec<String>,
    /// Remove a node label if exists
    #[arg(long = "label-rm")]
    pub label_rm: Vec<String>,
    /// (not `node`: that is the global `--node`)
    #[arg(value_name = "NODE")]
    pub target: String,
}

/// The controller's `host:port` as the CLI was pointed at it.
fn controller_addr(c: &Client) -> String {
    c.shown().trim_start_matches("tcp://").to_string()
}

/// A request the controller does not know, or that an agent answers as
/// Docker outside a swarm: the CLI is talking to an agent.
fn not_a_controller(e: ClientError) -> ClientError {
    match e {
        ClientError::Api { status, message }
            if (status == hyper::StatusCode::NOT_FOUND && message.starts_with("page not found"))
                || (status == hyper::StatusCode::SERVICE_UNAVAILABLE
                    && message.starts_with("This node is not a swarm manager")) =>
        {
            ClientError::Other(
                "this is not a skiff controller: point -H (SKIFF_HOST) at the controller, e.g. tcp://HOST:7443".into(),
            )
        }
        e => e,
    }
}

pub async fn cluster(c: &Client, cmd: ClusterCmd) -> Exit {
    match cmd {
        ClusterCmd::JoinToken { role, quiet, rotate } => {
            let Some(role) = skiff_certs::cluster::Role::parse(&role) else {
                eprintln!("unknown role {role:?}: use agent, controller, admin or readonly");
                return Exit(1);
            };
            let got = if rotate {
                c.cluster_rotate(role).await
            } else {
                c.cluster_inspect().await
            };
            let info = match got.map_err(not_a_controller) {
                Ok(i) => i,
                Err(e) => return fail(&e, 1),
            };
            let t = &info.join_tokens;
            let token = match role {
                skiff_certs::cluster::Role::Agent => &t.agent,
                skiff_certs::cluster::Role::Admin => &t.admin,
                skiff_certs::cluster::Role::Readonly => &t.readonly,
                skiff_certs::cluster::Role::Controller => &t.controller,
            };
            if token.is_empty() {
                eprintln!("permission denied: only an admin certificate can see join tokens");
                return Exit(1);
            }
            if quiet {
                println!("{token}");
            } else {
                if rotate {
                    println!("Successfully rotated {role} join token.\n");
                }
                match role {
                    skiff_certs::cluster::Role::Agent => {
                        println!("To add an agent to this cluster, run the following command on its host:\n");
                        println!("    skiff-agent --join {token} --controller {}\n", controller_addr(c));
                    }
                    skiff_certs::cluster::Role::Controller => {
                        println!("To add a controller to this cluster, run the following command on its host:\n");
                        println!(
                            "    skiff-controller join --token {token} --peer {} --listen ADDR:7443 --data DIR\n",
                            controller_addr(c)
                        );
                    }
                    _ => {
                        println!("To get a {role} client certificate for this cluster, run:\n");
                        println!("    skiff cluster login {token} {}\n", controller_addr(c));
                    }
                }
            }
            Exit(0)
        }
        ClusterCmd::Login { token, controller, out } => login(&token, &controller, out).await,
        ClusterCmd::Renew => match skiff_client::cluster::renew_with(c).await.map_err(not_a_controller) {
            Ok(due) => {
                let cert = c.identity().map(|(cert, _)| cert.to_path_buf()).unwrap_or_default();
                let (_, until) = std::fs::read_to_string(&cert)
                    .ok()
                    .and_then(|p| skiff_certs::cluster::validity_of(&p).ok())
                    .unwrap_or_default();
                let show = |t: i64| {
                    chrono::DateTime::from_timestamp(t, 0)
                        .map(|d| d.to_rfc3339())
                        .unwrap_or_default()
                };
                println!(
                    "Certificate {} renewed: valid until {}; renew it again after {}.",
                    cert.display(),
                    show(until),
                    show(
                        due.duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs() as i64)
                    )
                );
                Exit(0)
            }
            Err(e) => fail(&e, 1),
        },
        ClusterCmd::Controllers { cmd, quiet, format } => controllers(c, cmd, quiet, format).await,
        ClusterCmd::Clients { cmd, quiet, format } => clients(c, cmd, quiet, format).await,
        ClusterCmd::Inspect => match c.cluster_inspect_raw().await.map_err(not_a_controller) {
            Ok(v) => print_values(&[v], None, 0),
            Err(e) => fail(&e, 1),
        },
    }
}

async fn clients(c: &Client, cmd: Option<ClientsCmd>, quiet: bool, format: Option<String>) -> Exit {
    if let Some(ClientsCmd::Rm { ids }) = cmd {
        return each(&ids, |id| async move {
            c.client_remove(&id).await.map_err(not_a_controller)
        })
        .await;
    }
    match c.clients_list().await.map_err(not_a_controller) {
        Ok(list) => show_list(
            &list,
            Shown {
                quiet,
                format,
                head: &["ID", "NAME", "ROLE", "CREATED"],
            },
            |s| s.id.clone(),
            |s| vec![s.id.clone(), s.name.clone(), s.role.clone(), s.created_at.clone()],
        ),
        Err(e) => fail(&e, 1),
    }
}

async fn controllers(c: &Client, cmd: Option<ControllersCmd>, quiet: bool, format: Option<String>) -> Exit {
    if let Some(ControllersCmd::Rm { force, id }) = cmd {
        return match c.controller_remove(&id, force).await.map_err(not_a_controller) {
            Ok(()) => {
                println!("{id}");
                Exit(0)
            }
            Err(e) => fail(&e, 1),
        };
    }
    let head = &[
        "ID",
        "CERTIFICATE ID",
        "ADDRESS",
        "MANAGER STATUS",
        "MEMBERSHIP",
        "TERM",
        "COMMIT",
        "LAG",
    ];
    match c.controllers_list().await.map_err(not_a_controller) {
        Ok(list) => show_list(
            &list,
            Shown { quiet, format, head },
            |s| s.raft_id.to_string(),
            |s| {
                vec![
                    s.raft_id.to_string(),
                    s.id.clone(),
                    s.addr.clone(),
                    s.manager_status.clone(),
                    s.membership.clone(),
                    s.term.to_string(),
                    s.commit.to_string(),
                    s.lag.to_string(),
                ]
            },
        ),
        Err(e) => fail(&e, 1),
    }
}

/// How a list is shown: `-q` (keys only), `--format`, or a table.
struct Shown<'a> {
    quiet: bool,
    format: Option<String>,
    head: &'a [&'a str],
}

fn show_list<T: serde::Serialize>(
    list: &[T],
    how: Shown<'_>,
    key: impl Fn(&T) -> String,
    row: impl Fn(&T) -> Vec<String>,
) -> Exit {
    if how.quiet {
        for s in list {
            println!("{}", key(s));
        }
        return Exit(0);
    }
    if let Some(fmt) = custom(how.format) {
        let values: Vec<Value> = list
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            .collect();
        return print_rows(&values, &fmt, &[]);
    }
    let mut rows = vec![how.head.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    rows.extend(list.iter().map(row));
    print!("{}", table(&rows));
    Exit(0)
}

async fn login(token: &str, controller: &str, out: Option<std::path::PathBuf>) -> Exit {
    let addr = if controller
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        controller.trim_start_matches("tcp://").to_string()
    } else {
        format!(
            "{}:{}",
            controller.trim_start_matches("tcp://"),
            skiff_api::cluster::DEFAULT_PORT
        )
    };
    let dir = cert_dir(out);
    let name = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "client".into());
    match skiff_client::cluster::join(&addr, token, &name, true, &dir).await {
        Ok(r) => {
            println!("Logged in to {addr} as {} ({}).", r.id, r.role);
            println!("Certificates written to {}; use them with:\n", dir.display());
            println!(
                "    export SKIFF_HOST=tcp://{addr} SKIFF_TLS_VERIFY=1 SKIFF_CERT_PATH={}",
                dir.display()
            );
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}

/// Where client certificates are: `given`, $SKIFF_CERT_PATH or ~/.skiff.
fn cert_dir(given: Option<std::path::PathBuf>) -> std::path::PathBuf {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    given
        .or_else(|| env("SKIFF_CERT_PATH").map(Into::into))
        .unwrap_or_else(|| std::path::PathBuf::from(env("HOME").unwrap_or_else(|| "/root".into())).join(".skiff"))
}

fn age(ms: Option<u64>) -> String {
    match ms {
        Some(ms) if ms < 1000 => "just now".into(),
        Some(ms) => format!("{} ago", skiff_api::human_duration((ms / 1000) as i64)),
        None => "-".into(),
    }
}

fn cpus(nano: i64) -> String {
    let v = nano as f64 / 1e9;
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub async fn node(c: &Client, cmd: NodeCmd) -> Exit {
    match cmd {
        NodeCmd::Ls { quiet, format } => {
            let mut nodes = match c.nodes_list().await.map_err(not_a_controller) {
                Ok(n) => n,
                Err(e) => return fail(&e, 1),
            };
            nodes.sort_by(|a, b| a.description.hostname.cmp(&b.description.hostname));
            if quiet {
                for n in &nodes {
                    println!("{}", n.id);
                }
                return Exit(0);
            }
            if let Some(fmt) = custom(format) {
                let values: Vec<Value> = nodes
                    .iter()
                    .map(|n| serde_json::to_value(n).unwrap_or_default())
                    .collect();
                return print_rows(&values, &fmt, &[]);
            }
            let mut rows = vec![[
                "ID",
                "HOSTNAME",
                "STATUS",
                "AVAILABILITY",
                "CPU",
                "MEMORY",
                "CONTAINERS",
                "HEARTBEAT",
                "ENGINE VERSION",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()];
            for n in &nodes {
                let total = &n.description.resources;
                rows.push(vec![
                    n.id.clone(),
                    n.description.hostname.clone(),
                    capitalize(&n.status.state),
                    capitalize(&n.spec.availability),
                    format!("{}/{}", cpus(n.reserved.nano_cpus), cpus(total.nano_cpus)),
                    format!("{}/{}", size(n.reserved.memory_bytes), size(total.memory_bytes)),
                    n.containers.to_string(),
                    age(n.heartbeat_age_ms),
                    n.description.engine.engine_version.clone(),
                ]);
            }
            print!("{}", table(&rows));
            Exit(0)
        }
        NodeCmd::Inspect { format, nodes } => {
            let get = |n: String| async move { c.node_inspect_raw(&n).await.map_err(not_a_controller) };
            inspect_each(&nodes, get, format.as_deref()).await
        }
        NodeCmd::Update(a) => {
            let mut upd = NodeUpdate {
                availability: a.availability,
                labels_rm: a.label_rm,
                ..Default::default()
            };
            for l in &a.label_add {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                upd.labels_add.insert(k.to_string(), v.to_string());
            }
            update(c, &[a.target], &upd).await
        }
        NodeCmd::Drain { nodes } => update(c, &nodes, &availability("drain")).await,
        NodeCmd::Activate { nodes } => update(c, &nodes, &availability("active")).await,
        NodeCmd::Rm { force, nodes } => {
            let remove = |n: String| async move { c.node_remove(&n, force).await.map_err(not_a_controller) };
            each(&nodes, remove).await
        }
    }
}

fn availability(a: &str) -> NodeUpdate {
    NodeUpdate {
        availability: Some(a.into()),
        ..Default::default()
    }
}

async fn update(c: &Client, nodes: &[String], upd: &NodeUpdate) -> Exit {
    let update = |n: String| async move { c.node_update(&n, upd).await.map_err(not_a_controller) };
    each(nodes, update).await
}
