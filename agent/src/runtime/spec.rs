//! Turn a container's configuration into an OCI runtime spec (Docker's
//! defaults: capabilities, mounts, masked and read-only paths), and resolve
//! what must be looked up inside the image (user names, the executable).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde_json::{json, Value};

pub use super::limits::Limits;

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

pub const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
pub const READONLY: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The agent's own bounding set, as a bit mask (everything if unreadable).
fn own_bounding_set() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

/// Every capability the kernel knows, with whether the agent holds it.
fn all_caps() -> Vec<(String, bool)> {
    let last: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    const NAMES: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let held = own_bounding_set();
    NAMES
        .iter()
        .take(last as usize + 1)
        .enumerate()
        .map(|(bit, n)| (format!("CAP_{n}"), held & (1 << bit) != 0))
        .collect()
}

/// Normalize "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" alike.
pub fn normalize_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set after `--cap-add`/`--cap-drop`, as Docker computes it.
pub fn capabilities(add: &[String], drop: &[String], privileged: bool) -> Result<Vec<String>, String> {
    let all = all_caps();
    for c in add.iter().chain(drop) {
        let n = normalize_cap(c);
        if n != "CAP_ALL" && n != "ALL" && !all.iter().any(|(k, _)| *k == n) {
            return Err(format!("invalid capability: {c}"));
        }
    }
    // `--privileged` and `--cap-add ALL` give what the agent holds, as
    // containerd's `WithAllCurrentCapabilities` does: a host (or an outer
    // container) whose bounding set lacks one, e.g. CAP_SYS_RESOURCE,
    // cannot hand it on.
    let known: Vec<String> = all.into_iter().filter(|(_, held)| *held).map(|(n, _)| n).collect();
    if privileged {
        return Ok(known);
    }
    let add: Vec<String> = add.iter().map(|c| normalize_cap(c)).collect();
    let drop: Vec<String> = drop.iter().map(|c| normalize_cap(c)).collect();
    let mut caps: Vec<String> = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drop.contains(c))
            .collect()
    };
    if add.iter().any(|c| c == "ALL") {
        caps = known.into_iter().filter(|c| !drop.contains(c)).collect();
    } else {
        for c in add {
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
    }
    Ok(caps)
}

/// The network namespace a container gets.
pub enum NetNs {
    /// A namespace file prepared by the agent.
    Path(PathBuf),
    /// Share the agent's (`--net host`).
    Host,
}

pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// A mount the container asked for (a bind, a volume, a tmpfs), in OCI
/// terms.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecMount {
    pub destination: String,
    /// `bind` or `tmpfs`.
    pub kind: &'static str,
    pub source: String,
    pub options: Vec<String>,
}

impl SpecMount {
    /// A recursive bind with its propagation (`rprivate` if none).
    pub fn bind(source: &Path, destination: &str, readonly: bool, propagation: &str) -> Self {
        let mut options = vec![
            "rbind".to_string(),
            if propagation.is_empty() {
                "rprivate"
            } else {
                propagation
            }
            .to_string(),
        ];
        if readonly {
            options.push("ro".into());
        }
        Self {
            destination: destination.to_string(),
            kind: "bind",
            source: source.display().to_string(),
            options,
        }
    }
}

/// Path components of a mount's destination: Docker mounts shallower
/// paths first, so `/data` never hides `/data/cache`.
fn depth(dest: &str) -> usize {
    dest.split('/').filter(|p| !p.is_empty() && *p != ".").count()
}

pub struct SpecInput<'a> {
    pub rootfs: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    pub hostname: String,
    pub tty: bool,
    pub readonly: bool,
    pub privileged: bool,
    pub caps: Vec<String>,
    pub cgroups_path: String,
    pub net: NetNs,
    /// The user namespace to join (`--userns-remap`), made with the
    /// network namespace it owns.
    pub userns: Option<PathBuf>,
    /// (source on the host, destination, read-only): the engine's files.
    pub binds: Vec<(PathBuf, String, bool)>,
    /// What the container asked for (binds, volumes, tmpfs).
    pub mounts: Vec<SpecMount>,
    pub cgroup_v2: bool,
    /// The host's cgroup v1 hierarchies (`cgroups::v1_hierarchies`).
    pub cgroup_v1: Vec<String>,
    /// Memory, CPU, pids and block I/O limits.
    pub limits: Limits,
    /// `--device`s, each also allowed in the device cgroup.
    pub devices: Vec<Device>,
    /// `--ulimit`s (`RLIMIT_NOFILE` defaults to the agent's hard limit).
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adj: i64,
    pub sysctls: BTreeMap<String, String>,
    /// `/dev/shm`'s size in bytes (`--shm-size`).
    pub shm_size: i64,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--security-opt apparmor=PROFILE` (hosts with AppArmor only).
    pub apparmor: Option<String>,
}

/// A host device given to the container (`--device`).
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Where it appears inside the container.
    pub path: String,
    /// `c` or `b`.
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Cgroup permissions: some of `rwm`.
    pub access: String,
}

/// A process resource limit (`--ulimit nofile=1024:2048`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rlimit {
    /// `RLIMIT_NOFILE`, …
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

/// The device cgroup rules: Docker's defaults (or everything when
/// privileged), then the `--device`s.
fn device_rules(i: &SpecInput) -> Value {
    let mut rules = if i.privileged {
        vec![json!({"allow": true, "access": "rwm"})]
    } else {
        let mut r = vec![json!({"allow": false, "access": "rwm"})];
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 1),
            (5, 2),
            (10, 200),
        ] {
            r.push(json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm"}));
        }
        r.push(json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}));
        r
    };
    for d in &i.devices {
        rules.push(
            json!({"allow": true, "type": d.kind.to_string(), "major": d.major, "minor": d.minor, "access": d.access}),
        );
    }
    Value::Array(rules)
}

/// `linux.resources`: the device rules and the limits.
fn resources(i: &SpecInput) -> Value {
    let mut r = i.limits.oci();
    r.insert("devices".into(), device_rules(i));
    Value::Object(r)
}

fn rlimit_nofile() -> Value {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    // Containers get the agent's hard limit as both limits, the most the
    // kernel lets us give without CAP_SYS_RESOURCE in the parent namespace.
    json!({"type": "RLIMIT_NOFILE", "hard": r.rlim_max, "soft": r.rlim_max})
}

/// The OCI process object shared by init and exec.
pub fn process(
    args: &[String],
    env: &[String],
    cwd: &str,
    user: &User,
    tty: bool,
    caps: &[String],
    nnp: bool,
) -> Value {
    let mut p = json!({
        "terminal": tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": args,
        "env": env,
        "cwd": if cwd.is_empty() { "/" } else { cwd },
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [rlimit_nofile()],
    });
    // Only ever `true` or absent, as runc writes it.
    if nnp {
        p["noNewPrivileges"] = json!(true);
    }
    p
}

pub fn build(i: &SpecInput) -> Value {
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if i.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", shm_size(i.shm_size)]}),
    ];
    // The container's own cgroups at /sys/fs/cgroup, read-only unless
    // privileged, as Docker's. On v1 libcontainer builds a tmpfs with a bind
    // per hierarchy and ignores "ro"; the read-only paths below cover it.
    let cgroup_mode = if i.privileged { "rw" } else { "ro" };
    mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", cgroup_mode]}));
    // The engine's files and the user's mounts, shallowest first (stable:
    // equal depths keep their order); a user mount replaces a default one
    // at the same path.
    let mut user: Vec<SpecMount> = i
        .binds
        .iter()
        .map(|(src, dst, ro)| SpecMount::bind(src, dst, *ro, ""))
        .chain(i.mounts.iter().cloned())
        .collect();
    user.sort_by_key(|m| depth(&m.destination));
    mounts.retain(|d| !user.iter().any(|u| d["destination"] == u.destination.as_str()));
    for m in &user {
        mounts.push(json!({"destination": m.destination, "type": m.kind, "source": m.source, "options": m.options}));
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if i.cgroup_v2 {
        namespaces.push(json!({"type": "cgroup"}));
    }
    if let Some(p) = &i.userns {
        namespaces.push(json!({"type": "user", "path": p}));
    }
    if let NetNs::Path(p) = &i.net {
        namespaces.push(json!({"type": "network", "path": p}));
    }
    let (masked, readonly): (Vec<&str>, Vec<String>) = if i.privileged {
        (vec![], vec![])
    } else {
        let v1 = (!i.cgroup_v2 && !i.cgroup_v1.is_empty()).then(|| "/sys/fs/cgroup".to_string());
        let hierarchies = i.cgroup_v1.iter().map(|h| format!("/sys/fs/cgroup/{h}"));
        let cgroups = v1.into_iter().chain(hierarchies.filter(|_| !i.cgroup_v2));
        (
            MASKED.to_vec(),
            READONLY.iter().map(|p| p.to_string()).chain(cgroups).collect(),
        )
    };
    let mut proc = process(&i.args, &i.env, &i.cwd, &i.user, i.tty, &i.caps, i.no_new_privileges);
    if !i.rlimits.is_empty() {
        let mut rl: Vec<Value> = i
            .rlimits
            .iter()
            .map(|r| json!({"type": r.kind, "hard": r.hard, "soft": r.soft}))
            .collect();
        if !i.rlimits.iter().any(|r| r.kind == "RLIMIT_NOFILE") {
            rl.push(rlimit_nofile());
        }
        proc["rlimits"] = Value::Array(rl);
    }
    if i.oom_score_adj != 0 {
        proc["oomScoreAdj"] = json!(i.oom_score_adj);
    }
    if let Some(p) = &i.apparmor {
        proc["apparmorProfile"] = json!(p);
    }
    let devices: Vec<Value> = i
        .devices
        .iter()
        .map(|d| {
            json!({"path": d.path, "type": d.kind.to_string(), "major": d.major, "minor": d.minor,
                   "fileMode": d.file_mode, "uid": d.uid, "gid": d.gid})
        })
        .collect();
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": proc,
        "root": {"path": i.rootfs, "readonly": i.readonly},
        "hostname": i.hostname,
        "mounts": mounts,
        "linux": {
            "cgroupsPath": i.cgroups_path,
            "namespaces": namespaces,
            "resources": resources(i),
            "devices": devices,
            "sysctl": i.sysctls,
            "maskedPaths": masked,
            "readonlyPaths": readonly,
        }
    });
    spec
}

/// The `/dev/shm` size option: `--shm-size` in bytes, 64 MiB by default.
fn shm_size(bytes: i64) -> String {
    if bytes > 0 {
        format!("size={bytes}")
    } else {
        "size=65536k".into()
    }
}

/// Check the spec parses as OCI and write `config.json`.
pub fn write_bundle(dir: &Path, spec: &Value) -> std::io::Result<()> {
    let parsed: oci_spec::runtime::Spec = serde_json::from_value(spec.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("OCI spec: {e}")))?;
    skiff_common::fsutil::write_json_volatile(&dir.join("config.json"), &parsed)
}

fn lookup(file: &Path, name: &str, col: usize) -> Option<Vec<String>> {
    fs::read_to_string(file)
        .ok()?
        .lines()
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .find(|f| f.len() > col && (f[0] == name || f[2] == name))
}

/// Resolve `-u name|uid[:group|gid]` against the image's /etc/passwd and
/// /etc/group, as Docker does.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<User, String> {
    if spec.is_empty() {
        return Ok(User {
            uid: 0,
            gid: 0,
            additional_gids: groups_of(rootfs, "root", 0),
        });
    }
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = lookup(&rootfs.join("etc/passwd"), u, 3);
    let (uid, mut gid, uname) = match (&passwd, u.parse::<u32>()) {
        (Some(p), _) => (p[2].parse().unwrap_or(0), p[3].parse().unwrap_or(0), p[0].clone()),
        (None, Ok(n)) => (n, 0, String::new()),
        (None, Err(_)) => return Err(format!("unable to find user {u}: no matching entries in passwd file")),
    };
    if let Some(g) = g {
        gid = match (lookup(&rootfs.join("etc/group"), g, 2), g.parse::<u32>()) {
            (Some(gr), _) => gr[2].parse().unwrap_or(0),
            (None, Ok(n)) => n,
            (None, Err(_)) => return Err(format!("unable to find group {g}: no matching entries in group file")),
        };
    }
    let additional_gids = if uname.is_empty() {
        Vec::new()
    } else {
        groups_of(rootfs, &uname, gid)
    };
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

/// `--group-add` entries (names or IDs) as group IDs, names looked up in
/// the image's /etc/group.
pub fn resolve_groups(rootfs: &Path, groups: &[String]) -> Result<Vec<u32>, String> {
    groups
        .iter()
        .map(|g| match (lookup(&rootfs.join("etc/group"), g, 2), g.parse::<u32>()) {
            (Some(gr), _) => Ok(gr[2].parse().unwrap_or(0)),
            (None, Ok(n)) => Ok(n),
            (None, Err(_)) => Err(format!("Unable to find group {g}: no matching entries in group file")),
        })
        .collect()
}

fn groups_of(rootfs: &Path, user: &str, primary: u32) -> Vec<u32> {
    let Ok(s) = fs::read_to_string(rootfs.join("etc/group")) else {
        return Vec::new();
    };
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[3].split(',').any(|m| m == user))
                .then(|| f[2].parse::<u32>().ok())
                .flatten()
        })
        .filter(|g| *g != primary)
        .collect()
}

/// Resolve `path` inside `rootfs`, following symlinks without leaving it.
pub fn resolve_in_root(rootfs: &Path, path: &Path) -> Option<PathBuf> {
    let mut cur = PathBuf::from("/");
    let mut todo: Vec<std::ffi::OsString> = path.iter().rev().map(OsStr::to_os_string).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.to_str() {
            Some("/") | Some(".") => continue,
            Some("..") => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let next = cur.join(&c);
        let host = rootfs.join(next.strip_prefix("/").ok()?);
        match fs::read_link(&host) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                todo.extend(target.iter().rev().map(OsStr::to_os_string));
            }
            Err(_) => cur = next,
        }
    }
    Some(rootfs.join(cur.strip_prefix("/").ok()?))
}

/// What Docker reports when a command cannot run: 127 not found, 126 not
/// executable.
pub fn find_executable(rootfs: &Path, env: &[String], cmd: &str) -> Result<(), (i64, String)> {
    let check = |p: &Path| -> Option<Result<(), (i64, String)>> {
        let host = resolve_in_root(rootfs, p)?;
        let meta = fs::metadata(&host).ok()?;
        if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
            return Some(Err((126, format!("exec: \"{cmd}\": permission denied"))));
        }
        Some(Ok(()))
    };
    if cmd.contains('/') {
        return check(Path::new(cmd))
            .unwrap_or_else(|| Err((127, format!("exec: \"{cmd}\": stat {cmd}: no such file or directory"))));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut denied = None;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        match check(&Path::new(dir).join(cmd)) {
            Some(Ok(())) => return Ok(()),
            Some(Err(e)) => denied = Some(e),
            None => {}
        }
    }
    Err(denied.unwrap_or((127, format!("exec: \"{cmd}\": executable file not found in $PATH"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_docker_rules() {
        let c = capabilities(&["net_admin".into()], &["CHOWN".into()], false).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        assert!(capabilities(&["bogus".into()], &[], false).is_err());
        assert!(capabilities(&[], &["ALL".into()], false).unwrap().is_empty());
    }

    #[test]
    fn spec_is_valid_oci() {
        let s = build(&SpecInput {
            rootfs: Path::new("/tmp/r"),
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: User {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
            },
            hostname: "abc".into(),
            tty: false,
            readonly: false,
            privileged: false,
            caps: DEFAULT_CAPS.iter().map(|s| s.to_string()).collect(),
            cgroups_path: "/skiff/x".into(),
            net: NetNs::Host,
            userns: None,
            binds: vec![(PathBuf::from("/h/hosts"), "/etc/hosts".into(), false)],
            mounts: vec![
                SpecMount::bind(Path::new("/v/cache"), "/data/cache", true, ""),
                SpecMount {
                    destination: "/dev/shm".into(),
                    kind: "tmpfs",
                    source: "tmpfs".into(),
                    options: vec!["size=1m".into()],
                },
                SpecMount::bind(Path::new("/v/data"), "/data", false, "rshared"),
            ],
            cgroup_v2: false,
            cgroup_v1: vec!["cpu".into(), "memory".into()],
            limits: Limits {
                memory: 64 << 20,
                cpu_quota: 50_000,
                cpu_period: 100_000,
                ..Default::default()
            },
            devices: vec![Device {
                path: "/dev/fuse".into(),
                kind: 'c',
                major: 10,
                minor: 229,
                file_mode: 0o666,
                uid: 0,
                gid: 0,
                access: "rwm".into(),
            }],
            rlimits: vec![Rlimit {
                kind: "RLIMIT_NPROC".into(),
                hard: 100,
                soft: 50,
            }],
            oom_score_adj: 200,
            sysctls: [("net.ipv4.ip_forward".to_string(), "1".to_string())].into(),
            shm_size: 1 << 20,
            no_new_privileges: true,
            apparmor: None,
        });
        assert_eq!(s["process"]["noNewPrivileges"], true);
        // The filter is loaded from its compiled form, not by libcontainer.
        assert!(s["linux"]["seccomp"].is_null());
        assert_eq!(s["process"]["rlimits"].as_array().unwrap().len(), 2);
        assert_eq!(s["process"]["oomScoreAdj"], 200);
        assert_eq!(s["linux"]["devices"][0]["major"], 10);
        assert_eq!(
            s["linux"]["resources"]["devices"].as_array().unwrap().last().unwrap()["minor"],
            229
        );
        assert_eq!(s["linux"]["sysctl"]["net.ipv4.ip_forward"], "1");
        assert_eq!(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(s["linux"]["resources"]["cpu"]["quota"], 50_000);
        let ro = s["linux"]["readonlyPaths"].as_array().unwrap();
        assert!(ro.contains(&json!("/sys/fs/cgroup")) && ro.contains(&json!("/sys/fs/cgroup/memory")));
        // Shallow paths first; the user's /dev/shm replaces the default one.
        let dests: Vec<&str> = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["destination"].as_str())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/dev/mqueue",
                "/sys/fs/cgroup",
                "/data",
                "/etc/hosts",
                "/data/cache",
                "/dev/shm"
            ]
        );
        assert_eq!(s["mounts"][6]["options"], json!(["rbind", "rshared"]));
        assert_eq!(s["mounts"][8]["options"], json!(["rbind", "rprivate", "ro"]));
        let _: oci_spec::runtime::Spec = serde_json::from_value(s).unwrap();
    }
}
