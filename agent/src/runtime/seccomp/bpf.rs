//! A resolved profile compiled once into the kernel's BPF, and kept.
//!
//! libseccomp turns Docker's default profile (about 350 syscalls, with
//! argument rules) into BPF in 15–25 ms on this machine; done in every
//! container's init, as libcontainer does, that was a third of `run --rm`.
//! Here the agent compiles each distinct resolved profile once, into
//! `<exec-root>/seccomp/<sha256 of the profile>.bpf`; a supervisor reads
//! the file before it starts the container and the container's last step
//! (`runtime::executor`) hands the program to `seccomp(2)` as is.
//!
//! The file is the filter flags (u32, little-endian) followed by the
//! program (`struct sock_filter` entries, 8 bytes each) as libseccomp
//! exports it.

use std::io::Write;
use std::path::{Path, PathBuf};

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

use super::cache::Resolved;
use super::{Profile, SeccompError};

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
const SECCOMP_FILTER_FLAG_LOG: u32 = 2;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 4;

fn invalid(what: impl std::fmt::Display) -> SeccompError {
    SeccompError::Invalid(format!("seccomp profile: {what}"))
}

/// The compiled filter of `resolved`, compiling it into `dir` the first
/// time.
pub fn compiled(dir: &Path, resolved: &Resolved) -> Result<PathBuf, SeccompError> {
    let path = dir.join(format!("{}.bpf", resolved.digest));
    if path.exists() {
        return Ok(path);
    }
    let profile: Profile =
        serde_json::from_value(resolved.profile.clone()).map_err(|e| SeccompError::Decode(e.to_string()))?;
    let (flags, ctx) = context(&profile)?;
    std::fs::create_dir_all(dir).map_err(invalid)?;
    // Written aside and renamed: a start racing this one never reads half.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(invalid)?;
    f.write_all(&flags.to_le_bytes()).map_err(invalid)?;
    ctx.export_bpf(&f).map_err(invalid)?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(invalid)?;
    Ok(path)
}

/// libseccomp's filter for `p`, as runc and libcontainer build it: errno
/// EPERM where a profile gives none, rules that repeat the default action
/// skipped, syscalls this libseccomp does not know skipped, and a rule that
/// checks one argument twice split into one rule per check.
fn context(p: &Profile) -> Result<(u32, ScmpFilterContext), SeccompError> {
    let action = |name: &str, errno: Option<u32>| {
        ScmpAction::from_str(name, Some(errno.map_or(libc::EPERM, |e| e as i32))).map_err(invalid)
    };
    if p.default_action == "SCMP_ACT_NOTIFY" || p.listener_path.is_some() {
        return Err(invalid("SCMP_ACT_NOTIFY and listenerPath are not supported"));
    }
    let default = action(&p.default_action, p.default_errno_ret)?;
    let mut ctx = ScmpFilterContext::new(default).map_err(invalid)?;
    ctx.set_ctl_nnp(false).map_err(invalid)?;
    for arch in p.architectures.iter().flatten() {
        ctx.add_arch(arch.parse::<ScmpArch>().map_err(invalid)?)
            .map_err(invalid)?;
    }
    let mut flags = 0;
    for f in p.flags.iter().flatten() {
        flags |= match f.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => SECCOMP_FILTER_FLAG_TSYNC,
            "SECCOMP_FILTER_FLAG_LOG" => SECCOMP_FILTER_FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            other => return Err(invalid(format!("unknown flag {other:?}"))),
        };
    }
    for rule in p.syscalls.iter().flatten() {
        if rule.action == "SCMP_ACT_NOTIFY" {
            return Err(invalid("SCMP_ACT_NOTIFY and listenerPath are not supported"));
        }
        let act = action(&rule.action, rule.errno_ret)?;
        if act == default {
            continue;
        }
        let mut checks = Vec::new();
        for a in rule.args.iter().flatten() {
            // OCI (and runc): for MASKED_EQ, `value` is the mask and
            // `valueTwo` the datum.
            let (op, datum) = match a.op.parse::<ScmpCompareOp>().map_err(invalid)? {
                ScmpCompareOp::MaskedEqual(_) => (ScmpCompareOp::MaskedEqual(a.value), a.value_two),
                op => (op, a.value),
            };
            checks.push(ScmpArgCompare::new(a.index, op, datum));
        }
        let mut seen = std::collections::HashSet::new();
        let split = !rule.args.iter().flatten().all(|a| seen.insert(a.index));
        for name in rule.names.iter().flatten().chain(rule.name.iter()) {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                tracing::debug!(syscall = %name, "seccomp: unknown to libseccomp, skipped");
                continue;
            };
            if checks.is_empty() {
                ctx.add_rule(act, sc).map_err(invalid)?;
            } else if split {
                for c in &checks {
                    ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                        .map_err(invalid)?;
                }
            } else {
                ctx.add_rule_conditional(act, sc, &checks).map_err(invalid)?;
            }
        }
    }
    Ok((flags, ctx))
}

/// A compiled filter, read by a supervisor before the container starts
/// (the file is not reachable from inside the container).
#[derive(Clone, Debug)]
pub struct Filter {
    flags: u32,
    program: Vec<libc::sock_filter>,
}

impl Filter {
    pub fn read(path: &Path) -> std::io::Result<Filter> {
        let bytes = std::fs::read(path)?;
        let bad = || std::io::Error::other(format!("{}: not a compiled seccomp filter", path.display()));
        let (head, body) = bytes.split_first_chunk::<4>().ok_or_else(bad)?;
        if body.is_empty() || body.len() % 8 != 0 {
            return Err(bad());
        }
        let program = body
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Ok(Filter {
            flags: u32::from_le_bytes(*head),
            program,
        })
    }

    /// Install the filter on the calling thread (needs no_new_privs or
    /// CAP_SYS_ADMIN). Allocates nothing.
    pub fn load(&self) -> std::io::Result<()> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `len` valid entries that outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                self.flags as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
