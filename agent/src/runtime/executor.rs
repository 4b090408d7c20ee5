//! The last step of a container's init inside its namespaces: find the
//! program and exec it. libcontainer's default executor does the same, but
//! it reports a missing program only as text, across a process boundary.
//! This one also writes why (`LaunchFailure`, one byte) to a pipe the
//! supervisor made, so the agent picks Docker's exit code (127: not found,
//! 126: not executable) from a type, not from an error's wording.
//!
//! It also loads the container's seccomp filter, for the init and for every
//! exec, as runc and Docker confine both: precompiled by the agent
//! (`seccomp::bpf`), so no process compiles it again (libcontainer would,
//! in each init, and it leaves execs unconfined: `adapt_spec_for_tenant`
//! drops `linux.seccomp`). Loading a filter needs CAP_SYS_ADMIN or
//! no_new_privs, so the agent gives the process the capabilities it lacks
//! for that (`lift`), and they are dropped from every set right after the
//! filter is in, before the program runs.

use std::os::fd::RawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use libcontainer::workload::{default, Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

use super::protocol::LaunchFailure;
use super::seccomp::bpf::Filter;

#[derive(Clone)]
pub struct CheckedExecutor {
    /// The write end of the supervisor's report pipe (close-on-exec, so
    /// the program never sees it).
    pub report: RawFd,
    /// The container's seccomp filter, loaded before the exec.
    pub seccomp: Option<Filter>,
    /// Capabilities given only so the filter can be loaded.
    pub lift: Vec<String>,
}

impl Executor for CheckedExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let Some(proc) = spec.process() else {
            return Err(ExecutorValidationError::ArgValidationError(
                "spec did not contain process".into(),
            ));
        };
        let Some(prog) = proc.args().as_ref().and_then(|a| a.first()) else {
            return Ok(());
        };
        let env = proc.env().clone().unwrap_or_default();
        let path_var = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("");
        match check(prog, path_var) {
            Ok(_) => Ok(()),
            Err((kind, msg)) => {
                // SAFETY: one write of one byte to a descriptor we were handed.
                unsafe { libc::write(self.report, [kind as u8].as_ptr().cast(), 1) };
                Err(ExecutorValidationError::ArgValidationError(msg))
            }
        }
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(filter) = &self.seccomp {
            confine(filter, &self.lift).map_err(ExecutorError::Other)?;
        }
        default_signals();
        default::get_executor().exec(spec)
    }
}

/// Every signal back to its default action. An ignored signal stays
/// ignored across exec, and the agent (Rust ignores SIGPIPE) and its
/// supervisor ignore some; a container's processes start with none
/// ignored, as under Docker, or `yes | head` never ends. The raw system
/// call, since glibc refuses the real-time signals it keeps for itself.
fn default_signals() {
    /// The kernel's `struct sigaction` (x86-64 and aarch64 layout).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: a valid sigaction for the default action, no old one
            // asked for, the kernel's 8-byte signal set.
            unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, &dfl, std::ptr::null_mut::<u8>(), 8) };
        }
    }
}

/// Load `filter`, then drop the `lift`ed capabilities: from the bounding
/// set first (that needs CAP_SETPCAP, possibly lifted itself), then from
/// the ambient, inheritable, effective and permitted sets.
fn confine(filter: &Filter, lift: &[String]) -> Result<(), String> {
    filter.load().map_err(|e| format!("loading the seccomp filter: {e}"))?;
    let lift: Vec<caps::Capability> = lift
        .iter()
        .map(|c| c.parse().map_err(|e| format!("capability {c}: {e}")))
        .collect::<Result<_, String>>()?;
    for c in &lift {
        caps::drop(None, caps::CapSet::Bounding, *c).map_err(|e| format!("dropping {c} from the bounding set: {e}"))?;
    }
    for set in [
        caps::CapSet::Ambient,
        caps::CapSet::Inheritable,
        caps::CapSet::Effective,
        caps::CapSet::Permitted,
    ] {
        for c in &lift {
            caps::drop(None, set, *c).map_err(|e| format!("dropping {c}: {e}"))?;
        }
    }
    Ok(())
}

/// Resolve `prog` as execvp would (a name with a slash as is, else along
/// `PATH`) and check that it can run; Docker's words when it cannot.
pub fn check(prog: &str, path_var: &str) -> Result<PathBuf, (LaunchFailure, String)> {
    let found = if prog.contains('/') {
        Some(PathBuf::from(prog)).filter(|p| p.exists())
    } else {
        path_var
            .split(':')
            .map(|d| Path::new(d).join(prog))
            .find(|p| p.is_file())
    };
    let Some(path) = found else {
        let what = if prog.contains('/') {
            "no such file or directory"
        } else {
            "executable file not found in $PATH"
        };
        return Err((LaunchFailure::NotFound, format!("exec: \"{prog}\": {what}")));
    };
    let meta = path
        .metadata()
        .map_err(|e| (LaunchFailure::NotExecutable, format!("exec: \"{prog}\": {e}")))?;
    if meta.is_dir() {
        return Err((
            LaunchFailure::NotExecutable,
            format!("exec: \"{prog}\": is a directory"),
        ));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err((
            LaunchFailure::NotExecutable,
            format!("exec: \"{prog}\": permission denied"),
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_classifies_programs() {
        assert_eq!(check("sh", "/nonexistent:/bin").unwrap(), PathBuf::from("/bin/sh"));
        assert_eq!(check("/bin/sh", "").unwrap(), PathBuf::from("/bin/sh"));
        assert_eq!(
            check("nosuch-program", "/bin:/usr/bin").unwrap_err().0,
            LaunchFailure::NotFound
        );
        assert_eq!(check("/nosuch/x", "/bin").unwrap_err().0, LaunchFailure::NotFound);
        assert_eq!(check("/etc", "").unwrap_err().0, LaunchFailure::NotExecutable);
        assert_eq!(check("/etc/passwd", "").unwrap_err().0, LaunchFailure::NotExecutable);
        let e = check("nosuch-program", "/bin").unwrap_err().1;
        assert_eq!(e, "exec: \"nosuch-program\": executable file not found in $PATH");
    }
}
