//! `skiff service …` against a controller: N copies of a container kept
//! running across the cluster.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::format::{capitalize, custom, table};
use super::util::{each, inspect_each, print_rows};
use super::{fail, CreateFlags, Exit};
use skiff_api::cluster::ServiceSpec;
use skiff_client::{Client, ServiceUpdate};

#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Create a new service
    #[command(disable_help_flag = true)]
    Create(Box<ServiceCreate>),
    /// List services
    #[command(alias = "list")]
    Ls {
        #[arg(short = 'q', long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// List the tasks of one or more services
    Ps {
        #[arg(short = 'q', long)]
        quiet: bool,
        #[arg(required = true)]
        services: Vec<String>,
    },
    /// Display detailed information on one or more services
    Inspect {
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(required = true)]
        services: Vec<String>,
    },
    /// Scale one or multiple replicated services (SERVICE=REPLICAS)
    Scale {
        #[arg(required = true)]
        pairs: Vec<String>,
    },
    /// Update a service
    Update(Box<ServiceUpdateArgs>),
    /// Remove one or more services
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        services: Vec<String>,
    },
}

/// How a rolling update proceeds.
#[derive(Args, Debug, Clone)]
pub struct RolloutFlags {
    /// Maximum number of tasks updated simultaneously
    #[arg(long = "update-parallelism")]
    pub parallelism: Option<u32>,
    /// Delay between updates (ns|us|ms|s|m|h)
    #[arg(long = "update-delay", value_parser = parse_delay)]
    pub delay: Option<u64>,
}

fn parse_delay(s: &str) -> Result<u64, String> {
    humantime::parse_duration(s)
        .map(|d| d.as_millis() as u64)
        .map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[derive(Args, Debug)]
pub struct ServiceUpdateArgs {
    /// Number of tasks
    #[arg(long)]
    pub replicas: Option<u32>,
    /// Service image tag
    #[arg(long)]
    pub image: Option<String>,
    /// Add or update an environment variable
    #[arg(long = "env-add")]
    pub env_add: Vec<String>,
    /// Remove an environment variable
    #[arg(long = "env-rm")]
    pub env_rm: Vec<String>,
    /// Service command args
    #[arg(long)]
    pub args: Option<String>,
    /// Force update even if no changes require it
    #[arg(long)]
    pub force: bool,
    /// Add a placement constraint (node.labels.zone==a)
    #[arg(long = "constraint-add")]
    pub constraint_add: Vec<String>,
    /// Remove a placement constraint
    #[arg(long = "constraint-rm")]
    pub constraint_rm: Vec<String>,
    /// Add a placement preference (spread=node.labels.zone)
    #[arg(long = "placement-pref-add")]
    pub placement_pref_add: Vec<String>,
    /// Remove a placement preference
    #[arg(long = "placement-pref-rm")]
    pub placement_pref_rm: Vec<String>,
    #[command(flatten)]
    pub rollout: RolloutFlags,
    pub service: String,
}

#[derive(Args, Debug)]
pub struct ServiceCreate {
    /// Number of tasks
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
    /// Add a placement preference (spread=node.labels.zone: tasks spread evenly over its values)
    #[arg(long = "placement-pref")]
    pub placement_pref: Vec<String>,
    #[command(flatten)]
    pub rollout: RolloutFlags,
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub async fn run(c: &Client, cmd: ServiceCmd) -> Exit {
    match cmd {
        ServiceCmd::Create(a) => create(c, *a).await,
        ServiceCmd::Ls { quiet, format } => ls(c, quiet, format).await,
        ServiceCmd::Ps { quiet, services } => ps(c, quiet, services).await,
        ServiceCmd::Inspect { format, services } => {
            let get = |s: String| async move { c.service_inspect_raw(&s).await };
            inspect_each(&services, get, format.as_deref()).await
        }
        ServiceCmd::Scale { pairs } => scale_each(c, pairs).await,
        ServiceCmd::Update(u) => update(c, *u).await,
        ServiceCmd::Rm { services } => each(&services, |s| async move { c.service_remove(&s).await }).await,
    }
}

/// `skiff service ls`.
async fn ls(c: &Client, quiet: bool, format: Option<String>) -> Exit {
    let list = match c.services_list().await {
        Ok(l) => l,
        Err(e) => return fail(&e, 1),
    };
    if quiet {
        list.iter().for_each(|s| println!("{}", &s.id[..12]));
        return Exit(0);
    }
    if let Some(fmt) = custom(format) {
        // Docker's placeholders (.Name .Mode .Replicas .Image) beside the
        // service's own fields.
        let values: Vec<Value> = list
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("Name".into(), s.spec.name.clone().into());
                    o.insert("Mode".into(), "replicated".into());
                    o.insert("Replicas".into(), format!("{}/{}", s.running, s.spec.replicas).into());
                    o.insert("Image".into(), s.spec.container.config.image.clone().into());
                }
                v
            })
            .collect();
        return print_rows(&values, &fmt, &[]);
    }
    let mut rows = vec![["ID", "NAME", "MODE", "REPLICAS", "IMAGE"].map(String::from).to_vec()];
    for s in &list {
        rows.push(vec![
            s.id[..12].to_string(),
            s.spec.name.clone(),
            "replicated".into(),
            format!("{}/{}", s.running, s.spec.replicas),
            s.spec.container.config.image.clone(),
        ]);
    }
    print!("{}", table(&rows));
    Exit(0)
}

/// `skiff service ps`: each service's tasks.
async fn ps(c: &Client, quiet: bool, services: Vec<String>) -> Exit {
    let mut rows = vec![
        ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"]
            .map(String::from)
            .to_vec(),
    ];
    for s in &services {
        let tasks = match c.tasks_list(s).await {
            Ok(t) => t,
            Err(e) => return fail(&e, 1),
        };
        for t in tasks {
            let id: String = t.id.chars().take(12).collect();
            if quiet {
                if !id.is_empty() {
                    println!("{id}");
                }
                continue;
            }
            rows.push(vec![
                id,
                format!("{}.{}", t.service, t.slot),
                t.image,
                t.node,
                capitalize(&t.desired_state),
                capitalize(&t.state),
                if t.error.is_empty() {
                    String::new()
                } else {
                    format!("\"{}\"", t.error)
                },
            ]);
        }
    }
    if !quiet {
        print!("{}", table(&rows));
    }
    Exit(0)
}

/// `skiff service scale SERVICE=N…`.
async fn scale_each(c: &Client, pairs: Vec<String>) -> Exit {
    let mut code = 0;
    for p in &pairs {
        let Some((name, n)) = p.split_once('=').and_then(|(s, n)| Some((s, n.parse::<u32>().ok()?))) else {
            eprintln!("invalid scale specifier '{p}': expected SERVICE=REPLICAS");
            code = 1;
            continue;
        };
        match scale(c, name, n).await {
            Ok(()) => println!("{name} scaled to {n}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Exit(code)
}

/// `skiff service update`: what changes, and the rollout's pace.
async fn update(c: &Client, u: ServiceUpdateArgs) -> Exit {
    let update = ServiceUpdate {
        replicas: u.replicas,
        image: u.image,
        env_add: u.env_add,
        env_rm: u.env_rm,
        args: u
            .args
            .as_deref()
            .map(|a| a.split_whitespace().map(String::from).collect()),
        force: u.force,
        update_parallelism: u.rollout.parallelism,
        update_delay_ms: u.rollout.delay,
        constraint_add: u.constraint_add,
        constraint_rm: u.constraint_rm,
        placement_pref_add: u.placement_pref_add,
        placement_pref_rm: u.placement_pref_rm,
    };
    match c.service_update(&u.service, &update).await {
        Ok(()) => {
            println!("{}", u.service);
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}

async fn scale(c: &Client, service: &str, n: u32) -> Result<(), skiff_client::ClientError> {
    let update = ServiceUpdate {
        replicas: Some(n),
        ..Default::default()
    };
    c.service_update(service, &update).await
}

async fn create(c: &Client, a: ServiceCreate) -> Exit {
    let Some(name) = a.flags.name.clone() else {
        eprintln!("skiff: a service needs a --name");
        return Exit(1);
    };
    let container = match super::run::create_request(&a.flags) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skiff: {e}");
            return Exit(1);
        }
    };
    let spec = ServiceSpec {
        name,
        replicas: a.replicas,
        container,
        constraints: a.flags.constraint.clone(),
        placement: a.flags.placement.clone().unwrap_or_default(),
        placement_prefs: a.placement_pref.clone(),
        update_parallelism: a.rollout.parallelism.unwrap_or(1),
        update_delay_ms: a.rollout.delay.unwrap_or(0),
        force_update: 0,
    };
    match c.service_create(&spec).await {
        Ok(v) => {
            println!("{}", v["ID"].as_str().unwrap_or_default());
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}
