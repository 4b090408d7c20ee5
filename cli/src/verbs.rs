//! The container verbs: top-level (`skiff stop`) and under `skiff
//! container` alike, as in the docker CLI.

use clap::Subcommand;

use super::{
    container, cp, limits, network, run, usage, CommitArgs, CreateFlags, ExecFlags, Exit, LogsFlags, RmArgs, StopArgs,
};
use skiff_client::Client;

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(CreateFlags),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateFlags),
    /// Start one or more stopped containers
    Start {
        #[arg(short = 'a', long)]
        attach: bool,
        #[arg(short = 'i', long)]
        interactive: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Attach local standard input, output, and error streams to a running container
    Attach {
        #[arg(long = "no-stdin")]
        no_stdin: bool,
        container: String,
    },
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart {
        #[arg(short = 't', long = "time")]
        time: Option<i64>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Kill one or more running containers
    Kill {
        #[arg(short = 's', long = "signal")]
        signal: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove one or more containers
    Rm(RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Fetch the logs of a container
    Logs(LogsFlags),
    /// Execute a command in a running container
    Exec(ExecFlags),
    /// Display the running processes of a container
    Top {
        container: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Rename a container
    Rename { container: String, new_name: String },
    /// Update configuration of one or more containers
    Update(limits::UpdateArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Pause all processes within one or more containers
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Unpause all processes within one or more containers
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Inspect changes to files or directories on a container's filesystem
    Diff { container: String },
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export {
        #[arg(short = 'o', long)]
        output: Option<String>,
        container: String,
    },
    /// List port mappings or a specific mapping for the container
    Port {
        container: String,
        /// PRIVATE_PORT[/PROTO]
        port: Option<String>,
    },
    /// Display a live stream of container(s) resource usage statistics
    Stats(usage::StatsArgs),
}

pub async fn dispatch(c: &Client, v: Verb) -> Exit {
    match v {
        Verb::Run(f) => run::run(c, &f).await,
        Verb::Create(f) => container::create(c, f).await,
        Verb::Start {
            attach,
            interactive,
            containers,
        } => container::start(c, attach, interactive, containers).await,
        Verb::Attach { no_stdin, container } => container::attach(c, no_stdin, container).await,
        Verb::Stop(a) => container::stop(c, a).await,
        Verb::Restart { time, containers } => container::restart(c, time, containers).await,
        Verb::Kill { signal, containers } => container::kill(c, signal, containers).await,
        Verb::Rm(a) => container::rm(c, a).await,
        Verb::Pause { containers } => container::pause(c, containers).await,
        Verb::Unpause { containers } => container::unpause(c, containers).await,
        Verb::Rename { container, new_name } => container::rename(c, container, new_name).await,
        Verb::Update(a) => limits::update(c, a).await,
        Verb::Cp(a) => cp::cp(c, a).await,
        Verb::Wait { containers } => container::wait(c, containers).await,
        Verb::Logs(f) => container::logs(c, f).await,
        Verb::Exec(f) => run::exec(c, &f).await,
        Verb::Top { container, ps_args } => container::top(c, container, ps_args).await,
        Verb::Export { output, container } => container::export(c, &container, output).await,
        Verb::Diff { container } => container::diff(c, &container).await,
        Verb::Commit(a) => container::commit(c, a).await,
        Verb::Port { container, port } => network::port(c, &container, port).await,
        Verb::Stats(a) => usage::stats(c, a).await,
    }
}
