//! tmpfs mounts as Docker makes them: `--mount type=tmpfs,tmpfs-size=…,
//! tmpfs-mode=…` becomes mount data (`mode=1777,size=64m`), and every tmpfs
//! gets `noexec,nosuid,nodev` and private propagation unless its own
//! options say otherwise (the later of two conflicting options wins).

/// Flags that exclude each other share a group: the later one wins.
fn flag_group(opt: &str) -> Option<&'static str> {
    Some(match opt {
        "ro" | "rw" => "rdonly",
        "suid" | "nosuid" => "suid",
        "dev" | "nodev" => "dev",
        "exec" | "noexec" => "exec",
        "sync" | "async" => "sync",
        "dirsync" => "dirsync",
        "remount" => "remount",
        "mand" | "nomand" => "mand",
        "atime" | "noatime" => "atime",
        "diratime" | "nodiratime" => "diratime",
        "bind" => "bind",
        "rbind" => "rbind",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable" | "runbindable" => {
            "propagation"
        }
        _ => return None,
    })
}

/// The `key=value` options tmpfs takes.
const DATA_KEYS: &[&str] = &["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"];

/// Docker's merge of tmpfs options: duplicates dropped, the last of each
/// flag group and of each key kept, in their order.
pub fn merge(options: &[String]) -> Result<Vec<String>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for opt in options.iter().rev() {
        if opt == "defaults" || opt.is_empty() {
            continue;
        }
        let key = match flag_group(opt) {
            Some(g) => g.to_string(),
            None => match opt.split_once('=') {
                Some((k, _)) if DATA_KEYS.contains(&k) => format!("data:{k}"),
                Some((k, v)) => return Err(format!("Invalid tmpfs option [\"{k}\" \"{v}\"]")),
                None => return Err(format!("Invalid tmpfs option [\"{opt}\"]")),
            },
        };
        if seen.insert(key) {
            out.push(opt.clone());
        }
    }
    out.reverse();
    Ok(out)
}

/// The OCI options of a tmpfs with Docker's defaults and these options.
pub fn oci_options(data: &str) -> Result<Vec<String>, String> {
    let mut all: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"].map(String::from).to_vec();
    all.extend(data.split(',').filter(|s| !s.is_empty()).map(String::from));
    merge(&all)
}

/// `--mount type=tmpfs` options as mount data: `ro`, `mode=` (octal), and
/// the size with the largest unit that divides it.
pub fn data(size_bytes: i64, mode: i64, read_only: bool) -> String {
    let mut out = Vec::new();
    if read_only {
        out.push("ro".to_string());
    }
    if mode != 0 {
        out.push(format!("mode={mode:o}"));
    }
    if size_bytes != 0 {
        let (n, unit) = [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)]
            .into_iter()
            .find(|(_, d)| size_bytes % d == 0)
            .map(|(u, d)| (size_bytes / d, u))
            .unwrap_or((size_bytes, ""));
        out.push(format!("size={n}{unit}"));
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_merge_as_dockers() {
        assert_eq!(oci_options("").unwrap(), ["noexec", "nosuid", "nodev", "rprivate"]);
        assert_eq!(
            oci_options("size=1m,exec,size=2m").unwrap(),
            ["nosuid", "nodev", "rprivate", "exec", "size=2m"]
        );
        assert_eq!(oci_options("bogus").unwrap_err(), "Invalid tmpfs option [\"bogus\"]");
        assert!(oci_options("colour=red").is_err());
    }

    #[test]
    fn mount_options_become_tmpfs_data() {
        assert_eq!(data(64 << 20, 0o1777, false), "mode=1777,size=64m");
        assert_eq!(data(1 << 30, 0, true), "ro,size=1g");
        assert_eq!(data(1000, 0, false), "size=1000");
        assert_eq!(data(0, 0, false), "");
    }
}
