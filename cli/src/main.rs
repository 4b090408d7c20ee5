//! The `skiff` command line: Docker's commands, flags, output and exit codes.

mod auth;
mod build;
mod build_view;
mod cluster;
mod commands;
mod container;
mod cp;
mod docs;
mod format;
mod health;
mod history;
mod image;
mod image_ls;
mod limits;
mod mounts;
mod network;
mod prune;
mod run;
mod search;
mod service;
mod system;
mod usage;
mod util;
mod verbs;
mod volume;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use skiff_client::{Client, ClientError};

#[derive(Parser, Debug)]
#[command(
    name = "skiff",
    version,
    about = "A Docker-compatible container engine with a cluster on top",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path)
    #[arg(short = 'H', long = "host", global = true, env = "SKIFF_HOST")]
    pub host: Option<String>,
    /// Enable debug output
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
    /// Use TLS and verify the remote (also SKIFF_TLS_VERIFY / DOCKER_TLS_VERIFY)
    #[arg(long, global = true)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA (default: $SKIFF_CERT_PATH/ca.pem)
    #[arg(long, global = true)]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file (default: $SKIFF_CERT_PATH/cert.pem)
    #[arg(long, global = true)]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file (default: $SKIFF_CERT_PATH/key.pem)
    #[arg(long, global = true)]
    pub tlskey: Option<PathBuf>,
    /// Through a controller: run the command on this node (ID or hostname)
    #[arg(long, global = true, env = "SKIFF_NODE")]
    pub node: Option<String>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CreateFlags {
    /// Run in the background and print the container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Restart policy: no, always, on-failure[:max-retries], unless-stopped
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Set metadata on a container
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Memory, CPU, block I/O, pids and device limits
    #[command(flatten)]
    pub resources: limits::ResourceFlags,
    /// Health check
    #[command(flatten)]
    pub health: health::HealthFlags,
    /// Through a controller: place only on nodes that match (node.hostname==h1, node.labels.zone!=b)
    #[arg(long)]
    pub constraint: Vec<String>,
    /// Through a controller: spread (default: the node with the fewest containers) or binpack
    #[arg(long)]
    pub placement: Option<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// User namespace to use: host opts out of the agent's --userns-remap
    #[arg(long)]
    pub userns: Option<String>,
    /// Security Options (seccomp=unconfined|PROFILE.json, no-new-privileges, apparmor=…, label=…)
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Storage driver options for the container (size=…)
    #[arg(long = "storage-opt")]
    pub storage_opt: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Bind mount a volume (/host:/container[:ro], name:/container[:ro], /container)
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=…,target=…,readonly)
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (/path[:options])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s) (container[:ro|rw])
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Connect a container to a network (bridge, host, none, container:NAME, or a network's name)
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Add a network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    pub ip6: Option<String>,
    /// Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Add link to another container (name[:alias])
    #[arg(long)]
    pub link: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opts: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing", value_parser = ["always", "missing", "never"])]
    pub pull: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// The image to run
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    #[command(flatten)]
    Verb(verbs::Verb),
    /// List containers
    #[command(alias = "ls")]
    Ps(PsFlags),
    /// Return low-level information on objects
    Inspect {
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List images
    Images(image_ls::ImagesArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Search a registry for images
    Search(search::SearchArgs),
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout { server: Option<String> },
    /// Upload an image to a registry
    Push(PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Manage builds
    Builder {
        #[command(subcommand)]
        cmd: build::BuilderCmd,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        cmd: network::NetworkCmd,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        cmd: volume::VolumeCmd,
    },
    /// Manage the cluster: join tokens, client login
    Cluster {
        #[command(subcommand)]
        cmd: cluster::ClusterCmd,
    },
    /// Manage services: N copies of a container kept running across the cluster
    Service {
        #[command(subcommand)]
        cmd: service::ServiceCmd,
    },
    /// Manage the cluster's nodes
    Node {
        #[command(subcommand)]
        cmd: cluster::NodeCmd,
    },
    /// Create a CA and the server and client certificates it signs
    Certs {
        #[command(subcommand)]
        cmd: CertsCmd,
    },
    /// Get real time events from the server (through a controller: from every node)
    Events(system::EventsArgs),
    /// Manage skiff: disk usage, information
    System {
        #[command(subcommand)]
        cmd: usage::SystemCmd,
    },
    /// Show the skiff version information
    Version,
    /// Display system-wide information
    Info {
        /// Format the output using the given Go template (json: the whole object)
        #[arg(short = 'f', long)]
        format: Option<String>,
    },
    /// Generate the autocompletion script for the specified shell
    Completion {
        /// The shell: bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Write skiff's man pages (skiff.1, skiff-run.1, …) into DIR
    #[command(hide = true)]
    Man { dir: PathBuf },
}

#[derive(Args, Debug, Clone)]
pub struct PsFlags {
    #[arg(short = 'a', long)]
    pub all: bool,
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(short = 'n', long = "last")]
    pub last: Option<i64>,
    #[arg(short = 'l', long)]
    pub latest: bool,
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct LogsFlags {
    #[arg(short = 'f', long)]
    pub follow: bool,
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub until: Option<String>,
    #[arg(short = 't', long)]
    pub timestamps: bool,
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

#[derive(Args, Debug, Clone)]
pub struct ExecFlags {
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(short = 't', long)]
    pub tty: bool,
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum ContainerCmd {
    /// Remove all stopped containers
    Prune {
        #[arg(short = 'f', long)]
        force: bool,
        /// Provide filter values (e.g. 'until=<timestamp>')
        #[arg(long)]
        filter: Vec<String>,
    },
    /// List containers
    #[command(alias = "ps", alias = "list")]
    Ls(PsFlags),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    #[command(flatten)]
    Verb(verbs::Verb),
}

#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// List images
    #[command(alias = "list")]
    Ls(image_ls::ImagesArgs),
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Remove unused images
    Prune {
        /// Remove all unused images, not just dangling ones
        #[arg(short = 'a', long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
        /// Provide filter values (e.g. 'label=<key>=<value>')
        #[arg(long)]
        filter: Vec<String>,
    },
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
}

#[derive(Subcommand, Debug)]
pub enum CertsCmd {
    /// Create a certificate authority: ca.pem and ca-key.pem
    Ca {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "skiff CA")]
        cn: String,
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// Issue a server certificate: server-cert.pem, server-key.pem (and ca.pem)
    Server {
        /// Directory of the CA
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// DNS name or IP address the server is reached at (repeat)
        #[arg(long = "san", required = true)]
        sans: Vec<String>,
        #[arg(long)]
        cn: Option<String>,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Issue a client certificate: cert.pem, key.pem (and ca.pem)
    Client {
        /// Directory of the CA
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        cn: String,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
}

#[derive(Args, Debug, Clone)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time")]
    pub time: Option<i64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// Format the output using a Go-style template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    pub file: String,
    pub reference: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub name: String,
}

#[derive(Args, Debug, Clone)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    pub server: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct PushArgs {
    /// Push all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub name: String,
}

#[derive(Args, Debug, Clone)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    pub reference: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Args, Debug, Clone)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// How a command ended: Docker's exit codes (125 for errors of `run`).
pub struct Exit(pub i32);

/// Print an error as Docker does and pick the exit code.
pub fn fail(e: &ClientError, code: i32) -> Exit {
    eprintln!("{e}");
    Exit(code)
}

fn main() {
    std::process::exit(run_cli());
}

fn run_cli() -> i32 {
    let cli = match Cli::try_parse_from(history::human_flag(std::env::args_os().collect())) {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 125,
            };
            let _ = e.print();
            return code;
        }
    };
    // What needs no daemon.
    match &cli.cmd {
        Cmd::Certs { cmd } => return certs(cmd),
        Cmd::Completion { shell } => return docs::print_completion(*shell),
        Cmd::Man { dir } => return docs::write_man_pages(dir),
        _ => {}
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let host = cli
        .host
        .clone()
        .or_else(|| env("DOCKER_HOST"))
        .unwrap_or_else(|| "unix:///run/skiff/agent.sock".into());
    let verify = cli.tlsverify || env("SKIFF_TLS_VERIFY").or_else(|| env("DOCKER_TLS_VERIFY")).is_some();
    let tls = verify.then(|| {
        let dir = env("SKIFF_CERT_PATH")
            .or_else(|| env("DOCKER_CERT_PATH"))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env("HOME").unwrap_or_else(|| "/root".into())).join(".skiff"));
        skiff_client::TlsOptions {
            ca: cli
                .tlscacert
                .clone()
                .unwrap_or_else(|| dir.join(skiff_certs::files::CA)),
            cert: cli
                .tlscert
                .clone()
                .unwrap_or_else(|| dir.join(skiff_certs::files::CLIENT_CERT)),
            key: cli
                .tlskey
                .clone()
                .unwrap_or_else(|| dir.join(skiff_certs::files::CLIENT_KEY)),
        }
    });
    let client = match Client::from_host(&host, tls) {
        Ok(c) => c.with_node(cli.node.clone()),
        Err(e) => return fail(&e, 125).0,
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("skiff: {e}");
            return 125;
        }
    };
    let code = rt.block_on(commands::dispatch(&client, cli.cmd)).0;
    // Don't wait for a blocked stdin reader thread.
    rt.shutdown_background();
    code
}

/// `skiff certs …`: no daemon involved.
fn certs(cmd: &CertsCmd) -> i32 {
    use skiff_certs::issue::{create_ca, issue, Role, Validity};
    let (result, out) = match cmd {
        CertsCmd::Ca { out, cn, days } => (create_ca(out, cn, Validity::days(*days)), out),
        CertsCmd::Server {
            ca,
            out,
            sans,
            cn,
            days,
        } => {
            let cn = cn.clone().unwrap_or_else(|| sans[0].clone());
            (issue(ca, out, &cn, Role::Server { sans }, Validity::days(*days)), out)
        }
        CertsCmd::Client { ca, out, cn, days } => (issue(ca, out, cn, Role::Client, Validity::days(*days)), out),
    };
    match result {
        Ok(()) => {
            println!("{}", out.display());
            0
        }
        Err(e) => {
            eprintln!("skiff certs: {e}");
            1
        }
    }
}
