//! `--change` for `import` (and later `commit`): Dockerfile instructions
//! that set an image's config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL,
//! EXPOSE, STOPSIGNAL, VOLUME).

use serde_json::json;
use skiff_api::ContainerConfig;

use super::store::ImageError;

/// Apply `--change` Dockerfile instructions to an imported image's config.
pub fn apply(changes: &[String]) -> Result<ContainerConfig, ImageError> {
    let mut cfg = ContainerConfig::default();
    apply_to(&mut cfg, changes)?;
    Ok(cfg)
}

/// Apply `--change` Dockerfile instructions to `cfg` (a committed
/// container's config).
pub fn apply_to(cfg: &mut ContainerConfig, changes: &[String]) -> Result<(), ImageError> {
    let list = |v: &str| -> Vec<String> {
        serde_json::from_str::<Vec<String>>(v).unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), v.to_string()])
    };
    for ch in changes {
        let (ins, arg) = ch.trim().split_once(char::is_whitespace).unwrap_or((ch.trim(), ""));
        let arg = arg.trim();
        match ins.to_ascii_uppercase().as_str() {
            "CMD" => cfg.cmd = list(arg).into(),
            "ENTRYPOINT" => cfg.entrypoint = list(arg).into(),
            "ENV" => {
                let kv = match arg.split_once('=') {
                    Some(_) => arg.to_string(),
                    None => arg.replacen(char::is_whitespace, "=", 1),
                };
                let key = kv.split('=').next().unwrap_or_default().to_string();
                cfg.env.retain(|e| e.split('=').next() != Some(key.as_str()));
                cfg.env.push(kv);
            }
            "WORKDIR" => cfg.working_dir = arg.into(),
            "USER" => cfg.user = arg.into(),
            "LABEL" => {
                if let Some((k, v)) = arg.split_once('=') {
                    cfg.labels
                        .insert(k.trim_matches('"').into(), v.trim_matches('"').into());
                }
            }
            "EXPOSE" => {
                let ports = cfg.exposed_ports.get_or_insert_with(Default::default);
                for p in arg.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    ports.insert(p, json!({}));
                }
            }
            "STOPSIGNAL" => cfg.stop_signal = Some(arg.into()),
            "VOLUME" => {
                let paths = serde_json::from_str::<Vec<String>>(arg)
                    .unwrap_or_else(|_| arg.split_whitespace().map(String::from).collect());
                let vols = cfg.volumes.get_or_insert_with(Default::default);
                for p in paths {
                    vols.insert(p, json!({}));
                }
            }
            other => return Err(ImageError::BadChange(format!("{other} is not a valid change command"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn changes_set_the_config_as_dockerfile_instructions_do() {
        let c = super::apply(&[
            "CMD [\"httpd\", \"-f\"]".into(),
            "ENTRYPOINT /init".into(),
            "ENV A=1".into(),
            "ENV B 2".into(),
            "WORKDIR /srv".into(),
            "EXPOSE 80 53/udp".into(),
            "LABEL k=\"v\"".into(),
            "VOLUME /data /cache".into(),
            "VOLUME [\"/logs\"]".into(),
        ])
        .unwrap();
        assert_eq!(*c.cmd, ["httpd", "-f"]);
        assert_eq!(*c.entrypoint, ["/bin/sh", "-c", "/init"]);
        assert_eq!(*c.env, ["A=1", "B=2"]);
        assert_eq!(c.working_dir, "/srv");
        assert_eq!(c.labels["k"], "v");
        let ports = c.exposed_ports.unwrap();
        assert!(ports.contains_key("80/tcp") && ports.contains_key("53/udp"));
        let vols = c.volumes.unwrap();
        assert_eq!(vols.keys().collect::<Vec<_>>(), ["/cache", "/data", "/logs"]);
        assert!(super::apply(&["RUN true".into()]).is_err());
    }
}
