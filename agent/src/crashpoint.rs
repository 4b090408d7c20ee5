//! Named crash points for crash-safety tests: with `SKIFF_CRASH_AT=NAME`
//! in its environment the agent kills itself with SIGKILL when it reaches
//! the point NAME, exactly as a power cut or `kill -9` would. One read of
//! the environment per process; a no-op otherwise.

use std::sync::OnceLock;

pub fn at(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT.get_or_init(|| std::env::var("SKIFF_CRASH_AT").ok()).as_deref() == Some(name) {
        tracing::warn!("crash point {name}: killing the agent");
        // SAFETY: signalling our own process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
