//! Where each `skiff` command goes: one line per command, to the function
//! of its family (`container`, `image`, `network`, `volume`, `cluster`,
//! `service`, `usage`, `system`, and `run` for the streaming ones).

use super::usage::SystemCmd;
use super::{
    auth, build, cluster, container, history, image, image_ls, network, prune, search, service, system, usage, util,
    verbs, volume, Cmd, ContainerCmd, Exit, ImageCmd, InspectArgs,
};
use skiff_client::Client;

pub async fn dispatch(c: &Client, cmd: Cmd) -> Exit {
    match cmd {
        Cmd::Container { cmd } => container_cmd(c, cmd).await,
        Cmd::Image { cmd } => image_cmd(c, cmd).await,
        Cmd::Verb(v) => verbs::dispatch(c, v).await,
        Cmd::Ps(f) => container::ps(c, f).await,
        Cmd::Inspect { format, kind, names } => util::inspect(c, names, format, kind.as_deref()).await,
        Cmd::Images(a) => image_ls::images(c, a).await,
        Cmd::History(a) => history::history(c, a).await,
        Cmd::Search(a) => search::search(c, a).await,
        Cmd::Build(a) => build::build(c, *a).await,
        Cmd::Builder { cmd } => build::builder(c, cmd).await,
        Cmd::Pull(a) => image::pull(c, a).await,
        Cmd::Push(a) => image::push(c, a).await,
        Cmd::Login(a) => auth::login(c, a).await,
        Cmd::Logout { server } => auth::logout(server),
        Cmd::Save(a) => image::save(c, a).await,
        Cmd::Load(a) => image::load(c, a).await,
        Cmd::Import(a) => image::import(c, a).await,
        Cmd::Tag(a) => image::tag(c, a).await,
        Cmd::Rmi(a) => image::rmi(c, a).await,
        Cmd::Network { cmd } => network::run(c, cmd).await,
        Cmd::Volume { cmd } => volume::run(c, cmd).await,
        Cmd::Cluster { cmd } => cluster::cluster(c, cmd).await,
        Cmd::Node { cmd } => cluster::node(c, cmd).await,
        Cmd::Service { cmd } => service::run(c, cmd).await,
        Cmd::Version => system::version(c).await,
        Cmd::Info { format }
        | Cmd::System {
            cmd: SystemCmd::Info { format },
        } => system::info(c, format.as_deref()).await,
        Cmd::System {
            cmd: SystemCmd::Df { verbose, format },
        } => usage::df(c, verbose, format).await,
        Cmd::System {
            cmd: SystemCmd::Prune(a),
        } => prune::system_prune(c, a).await,
        Cmd::Events(a)
        | Cmd::System {
            cmd: SystemCmd::Events(a),
        } => system::events(c, a.since, a.until, a.filter, a.format).await,
        Cmd::Certs { .. } | Cmd::Completion { .. } | Cmd::Man { .. } => unreachable!("handled before connecting"),
    }
}

/// `skiff container …`: the same functions as the top-level verbs.
async fn container_cmd(c: &Client, cmd: ContainerCmd) -> Exit {
    match cmd {
        ContainerCmd::Ls(f) => container::ps(c, f).await,
        ContainerCmd::Inspect(InspectArgs { format, names }) => {
            util::inspect(c, names, format, Some("container")).await
        }
        ContainerCmd::Prune { force, filter } => container::prune(c, force, &filter).await,
        ContainerCmd::Verb(v) => verbs::dispatch(c, v).await,
    }
}

/// `skiff image …`.
async fn image_cmd(c: &Client, cmd: ImageCmd) -> Exit {
    match cmd {
        ImageCmd::Ls(a) => image_ls::images(c, a).await,
        ImageCmd::History(a) => history::history(c, a).await,
        ImageCmd::Build(a) => build::build(c, *a).await,
        ImageCmd::Pull(a) => image::pull(c, a).await,
        ImageCmd::Push(a) => image::push(c, a).await,
        ImageCmd::Prune { all, force, filter } => image::prune(c, all, force, &filter).await,
        ImageCmd::Save(a) => image::save(c, a).await,
        ImageCmd::Load(a) => image::load(c, a).await,
        ImageCmd::Import(a) => image::import(c, a).await,
        ImageCmd::Inspect(InspectArgs { format, names }) => util::inspect(c, names, format, Some("image")).await,
        ImageCmd::Rm(a) => image::rmi(c, a).await,
        ImageCmd::Tag(a) => image::tag(c, a).await,
    }
}
