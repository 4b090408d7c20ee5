//! `skiff-shim --pid … --fds … --socket … --exit-file … [--log …]`: the
//! monitor a container's supervisor execs once the container runs (see
//! `skiff_shim::monitor`). Not meant to be started by hand.

fn main() {
    let args = match skiff_shim::protocol::MonitorArgs::parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("skiff-shim: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: the supervisor that exec'd us handed these descriptors over
    // and holds no other reference to them.
    if let Err(e) = unsafe { skiff_shim::monitor::run_inherited(&args) } {
        eprintln!("skiff-shim: {e}");
        std::process::exit(1);
    }
}
