//! `skiff-controller`: the cluster controller. Its work (join, scheduling,
//! fleet events) is issue 5; for now it only answers --version/--help.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "skiff-controller",
    version,
    about = "skiff cluster controller (not yet implemented: see issue 5)"
)]
struct Flags {}

fn main() -> anyhow::Result<()> {
    let _ = Flags::parse();
    anyhow::bail!("skiff-controller is not implemented yet")
}
