//! `--security-opt` and `--privileged`: Docker's parsing of
//! `HostConfig.SecurityOpt` (its `parseSecurityOpt`), checked at create so
//! bad input creates nothing, and resolved at start into the no_new_privs
//! bit of the container's OCI spec and its compiled seccomp filter.

use std::path::Path;
use std::sync::Arc;

use skiff_api::HostConfig;

use super::{EngineError, Result};
use crate::runtime::protocol::SeccompLoad;
use crate::runtime::seccomp::cache::{self, Resolved, Source};
use crate::runtime::seccomp::{bpf, Host, Profile};

/// Which seccomp profile a container runs under.
#[derive(Debug, Clone, PartialEq)]
pub enum Seccomp {
    /// Docker's default profile.
    Default,
    /// `seccomp=unconfined`.
    Unconfined,
    /// `seccomp=<profile JSON>` (the CLI sends the file's content).
    Custom(String),
}

/// What a container's security options say.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityOpts {
    pub seccomp: Seccomp,
    /// `no-new-privileges[=BOOL]`; `None`: the agent's default.
    pub no_new_privileges: Option<bool>,
    /// `apparmor=PROFILE`.
    pub apparmor: Option<String>,
}

/// Parse `HostConfig.SecurityOpt` as Docker 20.10 does, with its messages.
/// `label=…` and `disable` are accepted and have no effect: there is no
/// SELinux here, and Docker ignores them on such hosts too.
pub fn parse(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts {
        seccomp: Seccomp::Default,
        no_new_privileges: None,
        apparmor: None,
    };
    for opt in opts {
        if opt == "no-new-privileges" {
            out.no_new_privileges = Some(true);
            continue;
        }
        if opt == "disable" {
            continue;
        }
        let Some((key, value)) = opt.split_once('=').or_else(|| opt.split_once(':')) else {
            return Err(EngineError::BadRequest(format!("invalid --security-opt 1: {opt:?}")));
        };
        match key {
            "label" => {}
            "apparmor" => out.apparmor = Some(value.to_string()),
            "seccomp" if value == "unconfined" => out.seccomp = Seccomp::Unconfined,
            "seccomp" => out.seccomp = Seccomp::Custom(value.to_string()),
            "no-new-privileges" => {
                let b = parse_bool(value)
                    .ok_or_else(|| EngineError::BadRequest(format!("invalid --security-opt 2: {opt:?}")))?;
                out.no_new_privileges = Some(b);
            }
            _ => return Err(EngineError::BadRequest(format!("invalid --security-opt 2: {opt:?}"))),
        }
    }
    Ok(out)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Whether the host runs AppArmor.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

/// The create-time check: options parse, a custom profile decodes, and an
/// AppArmor profile is only asked of a host that has AppArmor.
pub fn verify(hc: &HostConfig) -> Result<()> {
    let o = parse(hc.security_opt.as_deref().unwrap_or_default())?;
    if let Seccomp::Custom(body) = &o.seccomp {
        if !hc.privileged {
            Profile::parse(body).map_err(|e| EngineError::BadRequest(e.to_string()))?;
        }
    }
    match o.apparmor.as_deref() {
        None | Some("unconfined") => {}
        Some(p) if !apparmor_enabled() => {
            return Err(EngineError::BadRequest(format!(
                "--security-opt apparmor={p}: AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled), so the profile cannot be applied; remove the option or use apparmor=unconfined"
            )))
        }
        Some(_) => {}
    }
    Ok(())
}

/// How a container's processes are confined.
pub struct Confinement {
    /// The resolved profile (OCI `linux.seccomp`, shared through
    /// `seccomp::cache`); `None` when unconfined or privileged.
    pub seccomp: Option<Arc<Resolved>>,
    pub no_new_privileges: bool,
    /// `process.apparmorProfile`, on hosts with AppArmor.
    pub apparmor: Option<String>,
}

impl Confinement {
    /// The compiled filter (cached in `dir`) for a process with `caps`, and
    /// the capabilities it is lent to load it without no_new_privs; those
    /// are added to `caps` (see `runtime::executor`).
    pub fn seccomp_load(&self, dir: &Path, caps: &mut Vec<String>) -> Result<Option<SeccompLoad>> {
        let Some(profile) = &self.seccomp else {
            return Ok(None);
        };
        let filter = bpf::compiled(dir, profile).map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let mut lift = Vec::new();
        if !self.no_new_privileges {
            for c in ["CAP_SYS_ADMIN", "CAP_SETPCAP"] {
                if !caps.iter().any(|have| have == c) {
                    caps.push(c.to_string());
                    lift.push(c.to_string());
                }
            }
        }
        Ok(Some(SeccompLoad { filter, lift }))
    }
}

/// Resolve a container's options for a start: `caps` is its bounding set
/// (the profile's capability conditions are checked against it) and
/// `nnp_default` the agent's `--no-new-privileges`.
pub fn confinement(hc: &HostConfig, caps: &[String], nnp_default: bool) -> Result<Confinement> {
    let o = parse(hc.security_opt.as_deref().unwrap_or_default())?;
    let seccomp = match (&o.seccomp, hc.privileged) {
        // As Docker: --privileged lifts the filter whatever the options say.
        (_, true) | (Seccomp::Unconfined, _) => Ok(None),
        (Seccomp::Default, _) => cache::resolved(Source::Default, caps, Host::current()),
        (Seccomp::Custom(body), _) => cache::resolved(Source::Custom(body), caps, Host::current()),
    }
    .map_err(|e| EngineError::BadRequest(e.to_string()))?;
    let apparmor = o.apparmor.filter(|p| p != "unconfined" && apparmor_enabled());
    Ok(Confinement {
        seccomp,
        no_new_privileges: o.no_new_privileges.unwrap_or(nnp_default),
        apparmor,
    })
}

/// `info`'s `SecurityOptions`, as Docker 20.10 lists them.
pub fn info_options(cgroup_v2: bool, nnp_default: bool, userns: bool) -> Vec<String> {
    let mut out = Vec::new();
    if apparmor_enabled() {
        out.push("name=apparmor".to_string());
    }
    out.push("name=seccomp,profile=default".to_string());
    if userns {
        out.push("name=userns".to_string());
    }
    if cgroup_v2 {
        out.push("name=cgroupns".to_string());
    }
    if nnp_default {
        out.push("name=no-new-privileges".to_string());
    }
    out
}

/// The HostConfig fields Docker fills in at create when the request left
/// them out, so `inspect` shows them as Docker does: namespaces modes,
/// the runtime, and (unless privileged) the masked and read-only paths
/// the container really gets.
pub fn fill_defaults(hc: &mut HostConfig, cgroup_v2: bool) {
    use serde_json::{json, Value};
    let paths = |list: &[&str]| -> Value {
        if hc.privileged {
            Value::Null
        } else {
            json!(list)
        }
    };
    let defaults = [
        ("ContainerIDFile", json!("")),
        ("VolumeDriver", json!("")),
        ("ConsoleSize", json!([0, 0])),
        ("CgroupnsMode", json!(if cgroup_v2 { "private" } else { "host" })),
        ("IpcMode", json!("private")),
        ("Cgroup", json!("")),
        ("PidMode", json!("")),
        ("UTSMode", json!("")),
        ("UsernsMode", json!("")),
        ("Isolation", json!("")),
        ("MaskedPaths", paths(crate::runtime::spec::MASKED)),
        ("ReadonlyPaths", paths(crate::runtime::spec::READONLY)),
    ];
    for (k, v) in defaults {
        hc.extra.entry(k).or_insert(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &[&str]) -> Result<SecurityOpts> {
        parse(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_parse_as_dockers() {
        let o = opts(&["no-new-privileges", "label=type:svirt_apache_t", "seccomp=unconfined"]).unwrap();
        assert_eq!(o.no_new_privileges, Some(true));
        assert_eq!(o.seccomp, Seccomp::Unconfined);
        let o = opts(&[
            "no-new-privileges=false",
            "seccomp:{}",
            "apparmor=unconfined",
            "disable",
        ])
        .unwrap();
        assert_eq!(o.no_new_privileges, Some(false));
        assert_eq!(o.seccomp, Seccomp::Custom("{}".into()));
        assert_eq!(o.apparmor.as_deref(), Some("unconfined"));
        let msg = |o: &[&str]| opts(o).unwrap_err().to_string();
        assert_eq!(msg(&["bogus"]), "invalid --security-opt 1: \"bogus\"");
        assert_eq!(msg(&["foo=bar"]), "invalid --security-opt 2: \"foo=bar\"");
        assert_eq!(
            msg(&["no-new-privileges=maybe"]),
            "invalid --security-opt 2: \"no-new-privileges=maybe\""
        );
    }

    #[test]
    fn privileged_and_unconfined_lift_the_filter() {
        let caps: Vec<String> = vec!["CAP_CHOWN".into()];
        let mut hc = HostConfig::default();
        let c = confinement(&hc, &caps, false).unwrap();
        assert_eq!(c.seccomp.unwrap().profile["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(!c.no_new_privileges);
        assert!(confinement(&hc, &caps, true).unwrap().no_new_privileges);
        hc.privileged = true;
        assert!(confinement(&hc, &caps, false).unwrap().seccomp.is_none());
        hc.privileged = false;
        hc.security_opt = Some(vec!["seccomp=unconfined".into(), "no-new-privileges=false".into()]);
        let c = confinement(&hc, &caps, true).unwrap();
        assert!(c.seccomp.is_none());
        assert!(!c.no_new_privileges);
    }

    #[test]
    fn bad_profiles_and_apparmor_are_refused_at_create() {
        let hc = HostConfig {
            security_opt: Some(vec!["seccomp={\"defaultAction\":\"SCMP_ACT_NOPE\"}".into()]),
            ..Default::default()
        };
        assert!(verify(&hc).unwrap_err().to_string().contains("unknown action"));
        let hc = HostConfig {
            security_opt: Some(vec!["apparmor=docker-default".into()]),
            ..Default::default()
        };
        assert_eq!(verify(&hc).is_err(), !apparmor_enabled());
    }

    #[test]
    fn the_resolved_profile_is_kept_per_capability_set() {
        let caps: Vec<String> = vec!["CAP_KILL".into(), "CAP_SYS_PTRACE".into()];
        let hc = HostConfig::default();
        let first = confinement(&hc, &caps, false).unwrap().seccomp.unwrap();
        // The same set, in another order: the very same resolution.
        let again: Vec<String> = caps.iter().rev().cloned().collect();
        let second = confinement(&hc, &again, false).unwrap().seccomp.unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        // CAP_SYS_PTRACE allows ptrace and friends: another profile.
        let fewer: Vec<String> = vec!["CAP_KILL".into()];
        let other = confinement(&hc, &fewer, false).unwrap().seccomp.unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        assert_ne!(first.digest, other.digest);
    }
}
