//! `login`, `logout`, and the credentials pull and push send: Docker's
//! `config.json` format (`{"auths": {"host:port": {"auth": base64(user:pass)}}}`)
//! in `$DOCKER_CONFIG/config.json`, else `~/.skiff/config.json`. Docker
//! Hub's key is `https://index.docker.io/v1/`, as Docker writes it.

use std::io::Read;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{fail, Exit, LoginArgs};
use skiff_client::Client;

const HUB: &str = "https://index.docker.io/v1/";

fn config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".skiff").join("config.json")
}

fn read_config() -> Value {
    std::fs::read(config_path())
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_else(|| json!({}))
}

fn write_config(v: &Value) -> std::io::Result<()> {
    let path = config_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(v).unwrap_or_default())?;
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    std::fs::rename(tmp, path)
}

/// The key of a registry in `auths`.
fn key(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    match s {
        "" | "docker.io" | "index.docker.io" | "index.docker.io/v1" | "registry-1.docker.io" => HUB.to_string(),
        s => s.to_string(),
    }
}

/// The registry a reference names (`docker.io` when it names none).
fn registry_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first.to_string(),
        _ => "docker.io".to_string(),
    }
}

/// `X-Registry-Auth` for the registry of `reference`, from the stored
/// credentials (none if there are none).
pub fn header_for(reference: &str) -> Option<String> {
    let k = key(&registry_of(reference));
    let cfg = read_config();
    let auth = cfg["auths"][&k]["auth"].as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(auth).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    let body = json!({"username": user, "password": pass, "serveraddress": k});
    Some(base64::engine::general_purpose::URL_SAFE.encode(body.to_string()))
}

/// Every stored credential, keyed by registry, as Docker's CLI sends them
/// in `X-Registry-Config` for a build (`{}` when there is none).
pub fn all_credentials() -> Map<String, Value> {
    let cfg = read_config();
    let Some(auths) = cfg["auths"].as_object() else {
        return Map::new();
    };
    auths
        .iter()
        .filter_map(|(server, v)| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v["auth"].as_str()?)
                .ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (user, pass) = text.split_once(':')?;
            let entry = json!({"username": user, "password": pass, "serveraddress": server});
            Some((server.clone(), entry))
        })
        .collect()
}

/// `skiff login [-u USER] [-p PASS | --password-stdin] [SERVER]`.
pub async fn login(c: &Client, a: LoginArgs) -> Exit {
    let server = a.server.clone().unwrap_or_else(|| HUB.to_string());
    let Some(user) = a.username.clone().filter(|u| !u.is_empty()) else {
        eprintln!("Error: Cannot perform an interactive login from a non TTY device: pass --username");
        return Exit(1);
    };
    let password = if a.password_stdin {
        let mut p = String::new();
        if std::io::stdin().read_to_string(&mut p).is_err() {
            eprintln!("Error: reading the password from stdin");
            return Exit(1);
        }
        p.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = a.password.clone() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        eprintln!("Error: Cannot perform an interactive login from a non TTY device: pass --password-stdin");
        return Exit(1);
    };
    if let Err(e) = c.login(&user, &password, &server).await {
        return fail(&e, 1);
    }
    let mut cfg = read_config();
    if !cfg["auths"].is_object() {
        cfg["auths"] = Value::Object(Map::new());
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    cfg["auths"][key(&server)] = json!({"auth": auth});
    if let Err(e) = write_config(&cfg) {
        eprintln!("Error saving credentials: {e}");
        return Exit(1);
    }
    println!("Login Succeeded");
    Exit(0)
}

/// `skiff logout [SERVER]`.
pub fn logout(server: Option<String>) -> Exit {
    let k = key(server.as_deref().unwrap_or(HUB));
    let mut cfg = read_config();
    let had = cfg["auths"].as_object_mut().and_then(|m| m.remove(&k)).is_some();
    if !had {
        println!("Not logged in to {k}");
        return Exit(0);
    }
    println!("Removing login credentials for {k}");
    if let Err(e) = write_config(&cfg) {
        eprintln!("Error saving credentials: {e}");
        return Exit(1);
    }
    Exit(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn registries_are_keyed_as_docker_keys_them() {
        assert_eq!(super::key("docker.io"), super::HUB);
        assert_eq!(super::key("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(super::registry_of("busybox"), "docker.io");
        assert_eq!(super::registry_of("127.0.0.1:5000/app:v1"), "127.0.0.1:5000");
        assert_eq!(super::registry_of("team/app"), "docker.io");
    }
}
