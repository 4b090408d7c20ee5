//! `skiff`: the command line client.

fn main() {
    std::process::exit(skiff_common::cli::main());
}
