use super::*;
use crate::runtime::spec::DEFAULT_CAPS;

fn amd64() -> Host {
    Host {
        arch: "amd64".into(),
        kernel: (6, 18),
    }
}

fn default_caps() -> Vec<String> {
    DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
}

/// Every (name, rule) of a resolved profile.
fn rules(v: &Value) -> Vec<(String, Value)> {
    v["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |n| (n.as_str().unwrap().to_string(), r.clone()))
        })
        .collect()
}

fn allowed_plain(v: &Value, name: &str) -> bool {
    rules(v)
        .iter()
        .any(|(n, r)| n == name && r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
}

#[test]
fn the_default_profile_is_dockers() {
    let p = Profile::docker_default();
    let v = p.resolve(&default_caps(), &amd64()).unwrap().unwrap();
    assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(v["defaultErrnoRet"], 1);
    assert_eq!(
        v["architectures"],
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    );
    for ok in ["read", "mkdirat", "execve", "arch_prctl", "modify_ldt", "ptrace"] {
        assert!(allowed_plain(&v, ok), "{ok} should be allowed");
    }
    // Capability-conditioned: not without the capability.
    for blocked in [
        "mount",
        "unshare",
        "setns",
        "keyctl",
        "add_key",
        "init_module",
        "reboot",
        "bpf",
        "umount2",
    ] {
        assert!(!allowed_plain(&v, blocked), "{blocked} should not be allowed");
    }
    // Other architectures' rules are left out.
    assert!(!allowed_plain(&v, "s390_runtime_instr"));
    assert!(!allowed_plain(&v, "riscv_flush_icache"));
    // clone only without namespace flags; clone3 answers ENOSYS so libc
    // falls back to clone.
    let clone: Vec<_> = rules(&v).into_iter().filter(|(n, _)| n == "clone").collect();
    assert_eq!(clone.len(), 1);
    assert_eq!(
        clone[0].1["args"],
        json!([{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])
    );
    let clone3: Vec<_> = rules(&v).into_iter().filter(|(n, _)| n == "clone3").collect();
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0].1["action"], "SCMP_ACT_ERRNO");
    assert_eq!(clone3[0].1["errnoRet"], 38);
    // personality only with Docker's values.
    let pers: Vec<u64> = rules(&v)
        .into_iter()
        .filter(|(n, _)| n == "personality")
        .map(|(_, r)| r["args"][0]["value"].as_u64().unwrap())
        .collect();
    assert_eq!(pers, [0, 8, 131072, 131080, 4294967295]);
    // The result is a valid OCI section.
    let _: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(v).unwrap();
}

#[test]
fn capabilities_open_their_syscalls() {
    let mut caps = default_caps();
    caps.push("CAP_SYS_ADMIN".into());
    let v = Profile::docker_default().resolve(&caps, &amd64()).unwrap().unwrap();
    for ok in ["mount", "unshare", "setns", "clone", "clone3"] {
        assert!(allowed_plain(&v, ok), "{ok} with CAP_SYS_ADMIN");
    }
    // The masked clone and the ENOSYS clone3 rules are excluded by it.
    assert!(!rules(&v)
        .iter()
        .any(|(n, r)| n == "clone3" && r["action"] == "SCMP_ACT_ERRNO"));
    assert!(!rules(&v).iter().any(|(n, r)| n == "clone" && r.get("args").is_some()));
}

#[test]
fn kernel_and_arch_conditions() {
    let old = Host {
        arch: "amd64".into(),
        kernel: (4, 4),
    };
    let v = Profile::docker_default()
        .resolve(&default_caps(), &old)
        .unwrap()
        .unwrap();
    assert!(!allowed_plain(&v, "ptrace"), "ptrace needs 4.8 without CAP_SYS_PTRACE");
    let s390 = Host {
        arch: "s390x".into(),
        kernel: (6, 1),
    };
    let v = Profile::docker_default()
        .resolve(&default_caps(), &s390)
        .unwrap()
        .unwrap();
    assert!(allowed_plain(&v, "s390_runtime_instr"));
    assert!(!allowed_plain(&v, "arch_prctl"));
    let clone = rules(&v).into_iter().find(|(n, _)| n == "clone").unwrap().1;
    assert_eq!(
        clone["args"][0]["index"], 1,
        "s390 orders clone's arguments differently"
    );
    assert_eq!(v["architectures"], json!(["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]));
}

#[test]
fn user_profiles_parse_as_docker_does() {
    let p = Profile::parse(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"name":"mkdirat","action":"SCMP_ACT_ERRNO"},
                        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    )
    .unwrap();
    let v = p.resolve(&default_caps(), &amd64()).unwrap().unwrap();
    assert_eq!(v["architectures"], json!(["SCMP_ARCH_X86_64"]));
    assert_eq!(v["syscalls"][0]["names"], json!(["mkdirat"]));
    assert_eq!(v["syscalls"][1]["errnoRet"], 13);
    // Nothing to filter: no filter at all, as Docker.
    assert_eq!(Profile::parse("{}").unwrap().resolve(&[], &amd64()).unwrap(), None);
}

#[test]
fn bad_profiles_are_refused_with_clear_messages() {
    let err = |s: &str| Profile::parse(s).unwrap_err().to_string();
    assert!(err("{\"defaultAction\": 5}").starts_with("Decoding seccomp profile failed: invalid type"));
    assert!(err("[]").starts_with("Decoding seccomp profile failed"));
    assert_eq!(
        err(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#),
        "seccomp profile: unknown action \"SCMP_ACT_NOPE\""
    );
    assert!(err(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"LIKE"}]}]}"#)
        .contains("unknown operator \"LIKE\""));
    assert!(err(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#)
        .starts_with("both 'architectures' and 'archMap'"));
    assert!(err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#
    )
    .starts_with("both 'name' and 'names'"));
    assert!(err(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"4"}}]}"#)
        .starts_with("invalid kernel version: \"4\""));
}

#[test]
fn kernel_releases_read_as_moby() {
    assert_eq!(parse_release("6.18.44-fc-v1147"), Some((6, 18)));
    assert_eq!(parse_release("3.12-1-amd64"), Some((3, 12)));
    assert_eq!(parse_min_kernel("4.8"), Ok((4, 8)));
    assert!(parse_min_kernel("0.0").is_err());
    assert!(parse_min_kernel("4.8.1").is_err());
}

#[test]
fn a_profile_is_compiled_once_and_read_back() {
    let dir = std::env::temp_dir().join(format!("skiff-bpf-test-{}", std::process::id()));
    let v = Profile::docker_default()
        .resolve(&default_caps(), &amd64())
        .unwrap()
        .unwrap();
    let v = cache::Resolved::new(v).unwrap();
    let path = bpf::compiled(&dir, &v).unwrap();
    let first = std::fs::metadata(&path).unwrap().modified().unwrap();
    // The same profile reuses the file; another one gets its own.
    assert_eq!(bpf::compiled(&dir, &v).unwrap(), path);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), first);
    let other = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 7, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"},
    ]});
    let other = cache::Resolved::new(other).unwrap();
    assert_ne!(bpf::compiled(&dir, &other).unwrap(), path);
    bpf::Filter::read(&path).unwrap();
    std::fs::write(dir.join("junk.bpf"), b"abc").unwrap();
    assert!(bpf::Filter::read(&dir.join("junk.bpf")).is_err());
    let notify = json!({"defaultAction": "SCMP_ACT_NOTIFY"});
    assert!(bpf::compiled(&dir, &cache::Resolved::new(notify).unwrap()).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
