//! Seccomp profiles in Docker's JSON format, resolved into the OCI
//! `linux.seccomp` form and compiled once per distinct profile (`bpf`);
//! each container process loads the compiled filter just before it runs
//! the user's program (`runtime::executor`).
//!
//! One loader for every profile: `default.json` beside this file is Docker's
//! default profile, carried over as data from moby's
//! `github.com/moby/profiles/seccomp` v0.2.3 (vendored in moby/moby;
//! Copyright The Moby Authors, Apache License 2.0), and it goes through the
//! same [`Profile::parse`] as a user's `--security-opt seccomp=PROFILE.json`.
//! [`Profile::resolve`] applies the profile's conditions (`includes` and
//! `excludes` by capability, architecture and minimum kernel) for one
//! container, as moby's `setupSeccomp` does.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Docker's default profile, as moby publishes it.
pub const DEFAULT_PROFILE: &str = include_str!("default.json");

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SeccompError {
    /// Docker's wording for a profile that does not decode.
    #[error("Decoding seccomp profile failed: {0}")]
    Decode(String),
    #[error("{0}")]
    Invalid(String),
}

/// A profile in Docker's format: the OCI fields plus `archMap` and
/// conditional rules.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    pub flags: Option<Vec<String>>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub syscalls: Option<Vec<Rule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// One rule: syscalls, an action, argument checks, and when it applies.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Old profiles name one syscall per rule.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub names: Option<Vec<String>>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<Arg>>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// A rule's condition.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    /// `"<kernel>.<major>"`, e.g. `"4.8"`.
    #[serde(default)]
    pub min_kernel: Option<String>,
}

const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];
const OPS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];
const ARCHES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];
const FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// What the conditions of a profile are checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// libseccomp's name of the architecture (`amd64`, `arm64`, `s390x`, …),
    /// as profiles write it in `arches`.
    pub arch: String,
    /// Kernel version and major revision (`6.18`).
    pub kernel: (u64, u64),
}

impl Host {
    /// This machine.
    pub fn current() -> &'static Host {
        static HOST: OnceLock<Host> = OnceLock::new();
        HOST.get_or_init(|| Host {
            arch: native_arch().to_string(),
            kernel: nix::sys::utsname::uname()
                .ok()
                .and_then(|u| parse_release(&u.release().to_string_lossy()))
                .unwrap_or((0, 0)),
        })
    }
}

/// Go's architecture as libseccomp names it (moby's `goToNative`).
fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "riscv64" => "riscv64",
        "loongarch64" => "loongarch64",
        "mips64" if cfg!(target_endian = "little") => "mipsel64",
        "mips64" => "mips64",
        other => other,
    }
}

/// The `SCMP_ARCH_…` of a libseccomp architecture name (moby's
/// `nativeToSeccomp`).
fn scmp_arch(native: &str) -> Option<&'static str> {
    Some(match native {
        "x86" => "SCMP_ARCH_X86",
        "amd64" => "SCMP_ARCH_X86_64",
        "arm" => "SCMP_ARCH_ARM",
        "arm64" => "SCMP_ARCH_AARCH64",
        "loongarch64" => "SCMP_ARCH_LOONGARCH64",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mipsel64" => "SCMP_ARCH_MIPSEL64",
        "ppc" => "SCMP_ARCH_PPC",
        "ppc64" => "SCMP_ARCH_PPC64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390" => "SCMP_ARCH_S390",
        "s390x" => "SCMP_ARCH_S390X",
        _ => return None,
    })
}

/// `"6.18.44-fc"` → (6, 18), as moby reads the kernel release.
fn parse_release(release: &str) -> Option<(u64, u64)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// A rule's `minKernel`: exactly `"<kernel>.<major>"`, not 0.0.
fn parse_min_kernel(v: &str) -> Result<(u64, u64), SeccompError> {
    let bad = || {
        SeccompError::Invalid(format!(
            "invalid kernel version: \"{v}\", expected \"<kernel>.<major>\""
        ))
    };
    let (k, m) = v.split_once('.').ok_or_else(bad)?;
    let k: u8 = k.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    if k == 0 && m == 0 {
        return Err(bad());
    }
    Ok((k.into(), m.into()))
}

fn check_one(what: &str, v: &str, known: &[&str]) -> Result<(), SeccompError> {
    if known.contains(&v) {
        Ok(())
    } else {
        Err(SeccompError::Invalid(format!("seccomp profile: unknown {what} {v:?}")))
    }
}

impl Profile {
    /// Docker's default profile (parsed once).
    pub fn docker_default() -> &'static Profile {
        static DEFAULT: OnceLock<Profile> = OnceLock::new();
        DEFAULT.get_or_init(|| Profile::parse(DEFAULT_PROFILE).expect("the embedded default seccomp profile parses"))
    }

    /// Decode and check a profile in Docker's JSON format.
    pub fn parse(body: &str) -> Result<Profile, SeccompError> {
        let decode = |e: serde_json::Error| SeccompError::Decode(e.to_string());
        let v: Value = serde_json::from_str(body).map_err(decode)?;
        if !v.is_object() {
            return Err(SeccompError::Decode("a profile is a JSON object".into()));
        }
        let p: Profile = serde_json::from_value(v).map_err(decode)?;
        p.check()?;
        Ok(p)
    }

    /// What moby's `setupSeccomp` and runc refuse, refused before any
    /// container is made.
    fn check(&self) -> Result<(), SeccompError> {
        if !self.default_action.is_empty() {
            check_one("action", &self.default_action, ACTIONS)?;
        }
        if self.architectures.as_ref().is_some_and(|a| !a.is_empty())
            && self.arch_map.as_ref().is_some_and(|a| !a.is_empty())
        {
            return Err(SeccompError::Invalid(
                "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".into(),
            ));
        }
        let maps = self.arch_map.iter().flatten();
        let arches = self.architectures.iter().flatten().chain(
            maps.clone()
                .flat_map(|m| std::iter::once(&m.architecture).chain(m.sub_architectures.iter().flatten())),
        );
        for a in arches {
            check_one("architecture", a, ARCHES)?;
        }
        for f in self.flags.iter().flatten() {
            check_one("flag", f, FLAGS)?;
        }
        for r in self.syscalls.iter().flatten() {
            if r.name.as_deref().is_some_and(|n| !n.is_empty()) && r.names.as_ref().is_some_and(|n| !n.is_empty()) {
                return Err(SeccompError::Invalid(
                    "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'".into(),
                ));
            }
            check_one("action", &r.action, ACTIONS)?;
            for a in r.args.iter().flatten() {
                check_one("operator", &a.op, OPS)?;
                if a.index > 5 {
                    return Err(SeccompError::Invalid(format!(
                        "seccomp profile: argument index {} out of range (0-5)",
                        a.index
                    )));
                }
            }
            for f in r.includes.iter().chain(&r.excludes) {
                if let Some(k) = &f.min_kernel {
                    parse_min_kernel(k)?;
                }
            }
        }
        Ok(())
    }

    /// The OCI `linux.seccomp` for a container whose bounding set is
    /// `caps` on `host`; `None` when the profile has neither a default
    /// action nor rules (Docker takes that as no filter).
    pub fn resolve(&self, caps: &[String], host: &Host) -> Result<Option<Value>, SeccompError> {
        let rules = self.syscalls.as_deref().unwrap_or_default();
        if self.default_action.is_empty() && rules.is_empty() {
            return Ok(None);
        }
        let mut out = Map::new();
        out.insert("defaultAction".into(), json!(self.default_action));
        if let Some(e) = self.default_errno_ret {
            out.insert("defaultErrnoRet".into(), json!(e));
        }
        let mut arches: Vec<String> = self.architectures.clone().unwrap_or_default();
        if let Some(native) = scmp_arch(&host.arch) {
            if let Some(m) = self.arch_map.iter().flatten().find(|m| m.architecture == native) {
                arches.push(m.architecture.clone());
                arches.extend(m.sub_architectures.iter().flatten().cloned());
            }
        }
        if !arches.is_empty() {
            out.insert("architectures".into(), json!(arches));
        }
        for (key, v) in [
            ("listenerPath", &self.listener_path),
            ("listenerMetadata", &self.listener_metadata),
        ] {
            if let Some(v) = v {
                out.insert(key.into(), json!(v));
            }
        }
        if let Some(f) = &self.flags {
            out.insert("flags".into(), json!(f));
        }
        let mut syscalls = Vec::new();
        for r in rules {
            if r.applies(caps, host)? {
                syscalls.push(r.oci());
            }
        }
        out.insert("syscalls".into(), Value::Array(syscalls));
        Ok(Some(Value::Object(out)))
    }
}

impl Rule {
    /// moby's conditions: any excluded capability, architecture or kernel
    /// drops the rule; every included one must hold.
    fn applies(&self, caps: &[String], host: &Host) -> Result<bool, SeccompError> {
        let at_least = |v: &str| -> Result<bool, SeccompError> { Ok(host.kernel >= parse_min_kernel(v)?) };
        if let Some(ex) = &self.excludes {
            if ex.arches.iter().flatten().any(|a| *a == host.arch) || ex.caps.iter().flatten().any(|c| caps.contains(c))
            {
                return Ok(false);
            }
            if let Some(k) = &ex.min_kernel {
                if at_least(k)? {
                    return Ok(false);
                }
            }
        }
        if let Some(inc) = &self.includes {
            if inc
                .arches
                .as_ref()
                .is_some_and(|a| !a.is_empty() && !a.contains(&host.arch))
            {
                return Ok(false);
            }
            if inc.caps.iter().flatten().any(|c| !caps.contains(c)) {
                return Ok(false);
            }
            if let Some(k) = &inc.min_kernel {
                if !at_least(k)? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The rule as an OCI `LinuxSyscall`.
    fn oci(&self) -> Value {
        let names: Vec<&String> = match (&self.name, &self.names) {
            (Some(n), _) if !n.is_empty() => vec![n],
            (_, Some(ns)) => ns.iter().collect(),
            _ => Vec::new(),
        };
        let mut s = json!({"names": names, "action": self.action});
        if let Some(e) = self.errno_ret {
            s["errnoRet"] = json!(e);
        }
        if let Some(args) = &self.args {
            s["args"] = args
                .iter()
                .map(|a| json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}))
                .collect();
        }
        s
    }
}

pub mod bpf;
pub mod cache;
#[cfg(test)]
mod tests;
