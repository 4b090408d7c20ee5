//! `run`/`create` mount flags as Docker's CLI sends them: `-v` with a
//! source goes to `HostConfig.Binds` (a relative host path made absolute),
//! `-v /path` to `Config.Volumes`; `--mount` is parsed here into
//! `HostConfig.Mounts`; `--tmpfs PATH[:OPTS]` becomes `HostConfig.Tmpfs`.

use std::collections::BTreeMap;

use serde_json::Value;
use skiff_api::{BindOptions, Mount, TmpfsOptions, VolumeDriver, VolumeOptions};

/// What `-v` and `--mount` flags become in a create request.
pub struct MountFlags {
    /// `HostConfig.Binds`.
    pub binds: Vec<String>,
    /// `Config.Volumes`.
    pub anonymous: BTreeMap<String, Value>,
    /// `HostConfig.Mounts`.
    pub mounts: Vec<Mount>,
}

/// `-v` and `--mount` flags, or the first bad `--mount`'s error.
pub fn flags(volumes: &[String], mounts: &[String]) -> Result<MountFlags, String> {
    let (binds, anonymous) = volume_flags(volumes);
    let mounts = mounts
        .iter()
        .map(|m| mount_flag(m).map_err(|e| format!("invalid argument \"{m}\" for \"--mount\" flag: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MountFlags {
        binds,
        anonymous,
        mounts,
    })
}

/// `-v` specs: (binds, anonymous volume paths).
pub fn volume_flags(specs: &[String]) -> (Vec<String>, BTreeMap<String, Value>) {
    let mut binds = Vec::new();
    let mut anonymous = BTreeMap::new();
    for spec in specs {
        let Some((host, rest)) = spec.split_once(':') else {
            anonymous.insert(spec.clone(), serde_json::json!({}));
            continue;
        };
        let host = if host == "." || host.starts_with("./") || host.starts_with("../") || host == ".." {
            std::env::current_dir()
                .map(|d| clean(&d.join(host).display().to_string()))
                .unwrap_or_else(|_| host.to_string())
        } else {
            host.to_string()
        };
        binds.push(format!("{host}:{rest}"));
    }
    (binds, anonymous)
}

/// A path without `.`/`..` parts (for `-v ./dir:/x`).
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `--tmpfs PATH[:OPTIONS]` flags as Docker's `HostConfig.Tmpfs`.
pub fn tmpfs_flags(specs: &[String]) -> BTreeMap<String, String> {
    specs
        .iter()
        .map(|t| match t.split_once(':') {
            Some((p, o)) => (p.to_string(), o.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect()
}

/// CSV fields: commas separate, double quotes group (`volume-opt="o=a,b"`).
fn csv_fields(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(f) = out.last_mut() {
                    f.push('"');
                }
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => {
                if let Some(f) = out.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    out
}

fn key_value(map: &mut BTreeMap<String, String>, v: &str) {
    match v.split_once('=') {
        Some((k, v)) => map.insert(k.to_string(), v.to_string()),
        None => map.insert(v.to_string(), String::new()),
    };
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Ok(true),
        "0" | "f" | "false" => Ok(false),
        _ => Err(format!("invalid value for {key}: {v}")),
    }
}

/// The volume options of a `--mount`, made on first use.
fn volume(vol: &mut Option<VolumeOptions>) -> &mut VolumeOptions {
    vol.get_or_insert_with(|| VolumeOptions {
        driver_config: Some(VolumeDriver::default()),
        ..Default::default()
    })
}

/// One `--mount` value, read as Docker's CLI reads it (`type` defaults to
/// `volume`).
pub fn mount_flag(value: &str) -> Result<Mount, String> {
    let mut m = Mount {
        kind: "volume".into(),
        ..Default::default()
    };
    let mut vol: Option<VolumeOptions> = None;
    for field in csv_fields(value) {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => m.read_only = true,
                "volume-nocopy" => volume(&mut vol).no_copy = true,
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        match key.as_str() {
            "type" => m.kind = val.to_ascii_lowercase(),
            "source" | "src" => m.source = val.to_string(),
            "target" | "dst" | "destination" => m.target = val.to_string(),
            "readonly" | "ro" => m.read_only = parse_bool(&key, val)?,
            "consistency" => m.consistency = val.to_ascii_lowercase(),
            "bind-propagation" => {
                m.bind_options.get_or_insert_with(BindOptions::default).propagation = val.to_ascii_lowercase()
            }
            "bind-nonrecursive" => {
                m.bind_options.get_or_insert_with(BindOptions::default).non_recursive = parse_bool(&key, val)?
            }
            "volume-nocopy" => volume(&mut vol).no_copy = parse_bool(&key, val)?,
            "volume-label" => key_value(&mut volume(&mut vol).labels, val),
            "volume-driver" => {
                volume(&mut vol).driver_config.get_or_insert_with(Default::default).name = val.to_string()
            }
            "volume-opt" => key_value(
                &mut volume(&mut vol)
                    .driver_config
                    .get_or_insert_with(Default::default)
                    .options,
                val,
            ),
            "tmpfs-size" => {
                let n = crate::run::parse_bytes(val).map_err(|_| format!("invalid value for {key}: {val}"))?;
                m.tmpfs_options.get_or_insert_with(TmpfsOptions::default).size_bytes = n;
            }
            "tmpfs-mode" => {
                let n = u32::from_str_radix(val, 8).map_err(|_| format!("invalid value for {key}: {val}"))?;
                m.tmpfs_options.get_or_insert_with(TmpfsOptions::default).mode = n as i64;
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    m.volume_options = vol;
    if m.kind.is_empty() {
        return Err("type is required".into());
    }
    if m.target.is_empty() {
        return Err("target is required".into());
    }
    for (set, what) in [
        (m.volume_options.is_some() && m.kind != "volume", "volume-*"),
        (m.bind_options.is_some() && m.kind != "bind", "bind-*"),
        (m.tmpfs_options.is_some() && m.kind != "tmpfs", "tmpfs-*"),
    ] {
        if set {
            return Err(format!("cannot mix '{what}' options with mount type '{}'", m.kind));
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_v_splits_binds_from_anonymous_volumes() {
        let (binds, anon) = volume_flags(&["data:/d".into(), "/anon".into(), "/h:/c:ro".into()]);
        assert_eq!(binds, ["data:/d", "/h:/c:ro"]);
        assert_eq!(anon.keys().collect::<Vec<_>>(), ["/anon"]);
        let (binds, _) = volume_flags(&["./x:/y".into()]);
        assert!(binds[0].starts_with('/') && binds[0].ends_with("/x:/y"), "{binds:?}");
    }

    #[test]
    fn mount_flags_read_as_dockers_cli() {
        let m = mount_flag("type=volume,src=v,dst=/x,readonly,volume-nocopy").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.as_str(), m.target.as_str()),
            ("volume", "v", "/x")
        );
        assert!(m.read_only && m.volume_options.as_ref().unwrap().no_copy);
        let m = mount_flag("target=/x,\"volume-opt=o=size=1m,uid=1\",volume-opt=type=tmpfs").unwrap();
        let opts = m.volume_options.unwrap().driver_config.unwrap().options;
        assert_eq!(opts["o"], "size=1m,uid=1");
        assert_eq!(opts["type"], "tmpfs");
        let t = mount_flag("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1777").unwrap();
        let o = t.tmpfs_options.unwrap();
        assert_eq!((o.size_bytes, o.mode), (64 << 20, 0o1777));
        let b = mount_flag("type=bind,source=/s,target=/t,bind-propagation=rshared,ro=false").unwrap();
        assert_eq!(b.bind_options.unwrap().propagation, "rshared");
        assert!(!b.read_only);
        assert_eq!(mount_flag("type=volume,src=v").unwrap_err(), "target is required");
        assert_eq!(
            mount_flag("src").unwrap_err(),
            "invalid field 'src' must be a key=value pair"
        );
        assert_eq!(
            mount_flag("colour=red,dst=/x").unwrap_err(),
            "unexpected key 'colour' in 'colour=red'"
        );
        assert_eq!(
            mount_flag("type=bind,src=/a,dst=/b,volume-nocopy").unwrap_err(),
            "cannot mix 'volume-*' options with mount type 'bind'"
        );
        assert_eq!(
            mount_flag("type=tmpfs,dst=/t,tmpfs-mode=9").unwrap_err(),
            "invalid value for tmpfs-mode: 9"
        );
    }

    #[test]
    fn tmpfs_flags_map_paths_to_options() {
        let t = tmpfs_flags(&["/t:size=1m,mode=700".into(), "/u".into()]);
        assert_eq!((t["/t"].as_str(), t["/u"].as_str()), ("size=1m,mode=700", ""));
    }
}
