//! `run`, `create`, `start -a`, `attach` and `exec`: building the create
//! request from Docker's flags, and relaying a hijacked stream to the
//! terminal (raw mode, resize) or to stdout/stderr (demultiplexed).

use std::collections::BTreeMap;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{fail, CreateFlags, ExecFlags, Exit};
use skiff_api::{
    ContainerConfig, CreateRequest, EndpointIpamConfig, EndpointSettings, ExecConfig, ExecStart, HostConfig, LogConfig,
    NetworkingConfig, PortBinding, RestartPolicy,
};

use skiff_client::{Client, ClientError, CreateOptions};

/// Exit code of a failed start. The API answers a failed start with a
/// message only, so this is the docker CLI's own rule on its text.
pub fn start_error_code(e: &ClientError) -> i32 {
    let m = e.to_string();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        125
    }
}

fn env_list(f: &CreateFlags) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut add = |e: &str| {
        if e.contains('=') {
            out.push(e.to_string());
        } else if let Ok(v) = std::env::var(e) {
            out.push(format!("{e}={v}"));
        }
    };
    for file in &f.env_file {
        let text = std::fs::read_to_string(file).map_err(|e| format!("open {file}: {e}"))?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            add(line);
        }
    }
    for e in &f.env {
        add(e);
    }
    Ok(out)
}

pub fn restart_policy(s: &str) -> Result<RestartPolicy, String> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>()
                .map_err(|_| format!("invalid restart policy format: maximum retry count must be an integer: {c}"))?,
        ),
        None => (s, 0),
    };
    match name {
        "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
            name: name.into(),
            maximum_retry_count: count,
        }),
        _ => Err(format!("invalid restart policy format: unknown policy '{name}'")),
    }
}

pub fn create_request(f: &CreateFlags) -> Result<CreateRequest, String> {
    let labels: BTreeMap<String, String> = f
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect();
    let mut log_config = LogConfig {
        kind: f.log_driver.clone().unwrap_or_default(),
        config: BTreeMap::new(),
    };
    for o in &f.log_opts {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| format!("invalid key/value pair format in log options: {o}"))?;
        log_config.config.insert(k.into(), v.into());
    }
    for h in &f.add_host {
        if !h.contains(':') {
            return Err(format!(
                "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
            ));
        }
    }
    let (exposed, port_bindings) = publish_flags(&f.publish, &f.expose)?;
    let m = super::mounts::flags(&f.volumes, &f.mount)?;
    let mut endpoints = BTreeMap::new();
    if !f.network_alias.is_empty() || f.ip.is_some() || f.ip6.is_some() {
        let net = f.network.clone().unwrap_or_else(|| "default".into());
        endpoints.insert(
            net,
            EndpointSettings {
                aliases: (!f.network_alias.is_empty()).then(|| f.network_alias.clone()),
                ipam_config: (f.ip.is_some() || f.ip6.is_some()).then(|| EndpointIpamConfig {
                    ipv4_address: f.ip.clone().unwrap_or_default(),
                    ipv6_address: f.ip6.clone().unwrap_or_default(),
                }),
                ..Default::default()
            },
        );
    }
    let mut config = ContainerConfig {
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        hostname: f.hostname.clone().unwrap_or_default(),
        user: f.user.clone().unwrap_or_default(),
        attach_stdin: f.interactive && !f.detach,
        attach_stdout: !f.detach,
        attach_stderr: !f.detach,
        tty: f.tty,
        open_stdin: f.interactive,
        stdin_once: f.interactive && !f.detach,
        env: env_list(f)?.into(),
        cmd: f.command.clone().into(),
        image: f.image.clone(),
        working_dir: f.workdir.clone().unwrap_or_default(),
        entrypoint: f.entrypoint.clone().map(|e| vec![e].into()).unwrap_or_default(),
        labels: labels.into(),
        stop_signal: f.stop_signal.clone(),
        stop_timeout: f.stop_timeout,
        volumes: (!m.anonymous.is_empty()).then_some(m.anonymous),
        ..Default::default()
    };
    let mut host_config = HostConfig {
        binds: m.binds.into(),
        mounts: m.mounts,
        tmpfs: super::mounts::tmpfs_flags(&f.tmpfs),
        volumes_from: (!f.volumes_from.is_empty()).then(|| f.volumes_from.clone()),
        log_config,
        network_mode: f.network.clone().unwrap_or_default(),
        restart_policy: restart_policy(&f.restart)?,
        auto_remove: f.rm,
        cap_add: f.cap_add.clone().into(),
        cap_drop: f.cap_drop.clone().into(),
        dns: f.dns.clone().into(),
        dns_search: f.dns_search.clone().into(),
        extra_hosts: f.add_host.clone().into(),
        privileged: f.privileged,
        readonly_rootfs: f.read_only,
        init: f.init.then_some(true),
        port_bindings: port_bindings.into(),
        publish_all_ports: f.publish_all,
        links: f.link.clone().into(),
        security_opt: (!f.security_opt.is_empty())
            .then(|| security_opts(&f.security_opt))
            .transpose()?,
        storage_opt: storage_opts(&f.storage_opt)?,
        ..Default::default()
    };
    if let Some(mode) = f.userns.clone().filter(|m| !m.is_empty()) {
        if mode != "host" {
            return Err(format!(
                "invalid argument \"{mode}\" for \"--userns\" flag: --userns: invalid USER mode"
            ));
        }
        host_config.extra.insert("UsernsMode".into(), mode.into());
    }
    f.resources.apply(&mut host_config)?;
    f.health.apply(&mut config)?;
    Ok(CreateRequest {
        config,
        host_config,
        networking_config: (!endpoints.is_empty()).then_some(NetworkingConfig {
            endpoints_config: endpoints,
        }),
    })
}

/// `--storage-opt KEY=VALUE`s, as Docker's CLI reads them.
fn storage_opts(opts: &[String]) -> Result<Option<BTreeMap<String, String>>, String> {
    if opts.is_empty() {
        return Ok(None);
    }
    opts.iter()
        .map(|o| {
            o.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| "invalid storage option".to_string())
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// `--security-opt`, as Docker's CLI prepares it: `KEY=VALUE` (or the old
/// `KEY:VALUE`), and a seccomp profile's file read and sent as compact JSON.
pub fn security_opts(opts: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(opts.len());
    for opt in opts {
        let kv = opt.split_once('=').or_else(|| opt.split_once(':'));
        let Some((key, value)) = kv else {
            if opt != "no-new-privileges" {
                return Err(format!("Invalid --security-opt: {opt:?}"));
            }
            out.push(opt.clone());
            continue;
        };
        if key != "seccomp" || value == "unconfined" {
            out.push(opt.clone());
            continue;
        }
        let text = std::fs::read_to_string(value).map_err(|e| {
            let why = e.to_string();
            let why = why.split(" (os error").next().unwrap_or_default().to_lowercase();
            format!("opening seccomp profile ({value}) failed: open {value}: {why}")
        })?;
        serde_json::from_str::<serde::de::IgnoredAny>(&text)
            .map_err(|e| format!("compacting json for seccomp profile ({value}) failed: {e}"))?;
        out.push(format!("seccomp={}", compact_json(&text)));
    }
    Ok(out)
}

/// Go's `json.Compact` of valid JSON: whitespace outside strings removed,
/// everything else (key order included) kept.
fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// A `-p` address as Docker 20.10's CLI reads it (go-connections: Go's
/// `SplitHostPort(ip + ":")`, then `ParseIP`): IPv6 only in brackets.
fn host_ip_of(raw: &str) -> Result<String, String> {
    let split_err = |why: &str| format!("Invalid ip address {raw}: address {raw}:: {why}");
    let ip = match raw.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| split_err("missing ']' in address"))?,
        None if raw.contains(':') => return Err(split_err("too many colons in address")),
        None => raw,
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("Invalid ip address: {ip}"));
    }
    Ok(ip.to_string())
}

type PortMaps = (BTreeMap<String, serde_json::Value>, BTreeMap<String, Vec<PortBinding>>);

/// `-p [ip:][hostPort:]containerPort[/proto]` and `--expose`, as Docker's CLI
/// turns them into `ExposedPorts` and `PortBindings`.
pub fn publish_flags(publish: &[String], expose: &[String]) -> Result<PortMaps, String> {
    let mut exposed = BTreeMap::new();
    let mut bindings: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
    let port_ok = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    for e in expose {
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (a, z) = port.split_once('-').unwrap_or((port, port));
        if !port_ok(a) || !port_ok(z) {
            return Err(format!(
                "invalid argument \"{e}\" for \"--expose\" flag: invalid range format for --expose"
            ));
        }
        for p in a.parse::<u16>().unwrap_or(0)..=z.parse::<u16>().unwrap_or(0) {
            exposed.insert(format!("{p}/{proto}"), serde_json::json!({}));
        }
    }
    for spec in publish {
        let bad = || format!("invalid argument \"{spec}\" for \"-p, --publish\" flag: invalid published port format");
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, p)) if matches!(p, "tcp" | "udp") => (r, p),
            Some(_) => {
                return Err(format!(
                    "invalid argument \"{spec}\" for \"-p, --publish\" flag: invalid proto"
                ))
            }
            None => (spec.as_str(), "tcp"),
        };
        // Docker's split: the last two fields are ports, what comes
        // before is the address (IPv6 in brackets, or bare).
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [c] => (String::new(), "", *c),
            [h, c] => (String::new(), *h, *c),
            [i @ .., h, c] => (i.join(":"), *h, *c),
            [] => return Err(bad()),
        };
        if !port_ok(ctr) || (!host.is_empty() && !host.split('-').all(port_ok)) {
            return Err(bad());
        }
        let ip = host_ip_of(&ip)?;
        let key = format!("{ctr}/{proto}");
        exposed.insert(key.clone(), serde_json::json!({}));
        bindings.entry(key).or_default().push(PortBinding {
            host_ip: ip,
            host_port: host.to_string(),
        });
    }
    Ok((exposed, bindings))
}

pub async fn create(c: &Client, f: &CreateFlags) -> Result<String, Exit> {
    let req = create_request(f).map_err(|e| {
        eprintln!("skiff: {e}.\nSee 'skiff run --help'.");
        Exit(125)
    })?;
    let o = CreateOptions {
        name: f.name.clone(),
        constraints: f.constraint.clone(),
        placement: f.placement.clone(),
    };
    if f.pull == "always" {
        pull_for_run(c, f).await?;
    }
    let mut pulled = f.pull == "always";
    loop {
        match c.container_create(&req, &o).await {
            Ok(r) => {
                for w in &r.warnings {
                    eprintln!("WARNING: {w}");
                }
                return Ok(r.id);
            }
            Err(e) if e.status() == Some(hyper::StatusCode::NOT_FOUND) && e.to_string().contains("No such image") => {
                let (name, tag) = skiff_client::images::split_reference(&f.image);
                let sep = if tag.starts_with("sha256:") { '@' } else { ':' };
                eprintln!("Unable to find image '{name}{sep}{tag}' locally");
                if pulled || f.pull == "never" {
                    return Err(fail(&e, 125));
                }
                pull_for_run(c, f).await?;
                pulled = true;
            }
            Err(e) => return Err(fail(&e, 125)),
        }
    }
}

/// `run`/`create` of an image that is not here: pull it, progress on
/// stderr, as Docker's CLI does.
async fn pull_for_run(c: &Client, f: &CreateFlags) -> Result<(), Exit> {
    super::image::pull_image(c, &f.image, f.platform.as_deref(), false, true)
        .await
        .map_err(|e| {
            eprintln!("skiff: {e}.\nSee 'skiff run --help'.");
            Exit(125)
        })
}

/// Put the local terminal in raw mode for the life of the guard.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enable(on: bool) -> Self {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        if !on || !nix::unistd::isatty(0).unwrap_or(false) {
            return Self(None);
        }
        let stdin = std::io::stdin();
        let Ok(orig) = tcgetattr(&stdin) else { return Self(None) };
        let mut raw = orig.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        Self(Some(orig))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}

fn term_size() -> Option<(u16, u16)> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills a winsize we own.
    let rc = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// What has a remote pty to resize.
enum Pty {
    Container(String),
    Exec(String),
}

/// Keep the remote pty's size in step with ours (now and on SIGWINCH).
fn follow_resize(c: &Client, pty: Pty) {
    let c = c.clone();
    tokio::spawn(async move {
        let Ok(mut winch) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) else {
            return;
        };
        loop {
            if let Some((h, w)) = term_size() {
                let _ = match &pty {
                    Pty::Container(id) => c.container_resize(id, h, w).await,
                    Pty::Exec(id) => c.exec_resize(id, h, w).await,
                };
            }
            if winch.recv().await.is_none() {
                return;
            }
        }
    });
}

/// Relay a hijacked stream until the daemon closes it.
pub async fn relay<S>(io: S, tty: bool, stdin: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    if stdin {
        tokio::spawn(async move {
            let mut input = tokio::io::stdin();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match input.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if wr.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = wr.shutdown().await;
        });
    }
    let mut out = tokio::io::stdout();
    let mut err = tokio::io::stderr();
    if tty {
        let _ = tokio::io::copy(&mut rd, &mut out).await;
        let _ = out.flush().await;
        return;
    }
    let mut head = [0u8; 8];
    loop {
        if rd.read_exact(&mut head).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let mut data = vec![0u8; len];
        if rd.read_exact(&mut data).await.is_err() {
            break;
        }
        let w: &mut (dyn tokio::io::AsyncWrite + Unpin + Send) = if head[0] == 2 { &mut err } else { &mut out };
        let _ = w.write_all(&data).await;
        let _ = w.flush().await;
    }
}

/// `run`: create, attach, start, wait; exit with the container's code.
pub async fn run(c: &Client, f: &CreateFlags) -> Exit {
    let id = match create(c, f).await {
        Ok(id) => id,
        Err(e) => return e,
    };
    if f.detach {
        if let Err(e) = c.container_start(&id).await {
            let code = start_error_code(&e);
            return fail(&e, code);
        }
        println!("{id}");
        return Exit(0);
    }
    attach_start_wait(c, &id, f.tty, f.interactive, f.rm, true).await
}

/// Attach to `id`, optionally start it, and wait for it to exit.
pub async fn attach_start_wait(c: &Client, id: &str, tty: bool, stdin: bool, removed: bool, start: bool) -> Exit {
    let io = match c.container_attach(id, stdin).await {
        Ok(io) => io,
        Err(e) => return fail(&e, 125),
    };
    let cond = if removed { "removed" } else { "next-exit" };
    let wc = c.clone();
    let wid = id.to_string();
    let waiter = tokio::spawn(async move { wc.container_wait(&wid, Some(cond)).await });
    if start {
        if let Err(e) = c.container_start(id).await {
            waiter.abort();
            let code = start_error_code(&e);
            return fail(&e, code);
        }
    }
    let _raw = RawMode::enable(tty && stdin);
    if tty {
        follow_resize(c, Pty::Container(id.to_string()));
    }
    // Without a tty, Ctrl-C goes to the container (Docker's --sig-proxy).
    if !tty {
        let kc = c.clone();
        let kid = id.to_string();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                let _ = kc.container_kill(&kid, Some("SIGINT")).await;
            }
        });
    }
    relay(io, tty, stdin).await;
    drop(_raw);
    match waiter.await {
        Ok(Ok(w)) => Exit(w.status_code as i32),
        Ok(Err(e)) => fail(&e, 125),
        Err(_) => Exit(125),
    }
}

/// `exec`.
pub async fn exec(c: &Client, f: &ExecFlags) -> Exit {
    let config = ExecConfig {
        attach_stdin: f.interactive && !f.detach,
        attach_stdout: !f.detach,
        attach_stderr: !f.detach,
        tty: f.tty,
        env: f.env.clone(),
        cmd: f.command.clone(),
        working_dir: f.workdir.clone().unwrap_or_default(),
        user: f.user.clone().unwrap_or_default(),
        privileged: f.privileged,
        ..Default::default()
    };
    let id = match c.exec_create(&f.container, &config).await {
        Ok(id) => id,
        Err(e) => return fail(&e, 1),
    };
    let start = ExecStart {
        detach: f.detach,
        tty: Some(f.tty),
    };
    let exec_err = |e: &ClientError| {
        let m = e.to_string();
        if m.contains("executable file not found") || m.contains("no such file") || m.contains("permission denied") {
            126
        } else {
            1
        }
    };
    if f.detach {
        return match c.exec_start(&id, &start).await {
            Ok(()) => Exit(0),
            Err(e) => {
                let code = exec_err(&e);
                fail(&e, code)
            }
        };
    }
    let io = match c.exec_attach(&id, &start).await {
        Ok(io) => io,
        Err(e) => {
            let code = exec_err(&e);
            return fail(&e, code);
        }
    };
    let _raw = RawMode::enable(f.tty && f.interactive);
    if f.tty {
        follow_resize(c, Pty::Exec(id.clone()));
    }
    relay(io, f.tty, f.interactive).await;
    drop(_raw);
    for _ in 0..100 {
        match c.exec_inspect(&id).await {
            Ok(v) if v["Running"] == json!(false) && !v["ExitCode"].is_null() => {
                return Exit(v["ExitCode"].as_i64().unwrap_or(0) as i32);
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            Err(e) => return fail(&e, 1),
        }
    }
    Exit(0)
}

/// Docker's sizes: bytes, or a number with b, k, m or g (binary units).
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let mult: i64 = match &t[i..] {
                "b" => 1,
                "k" | "kb" => 1 << 10,
                "m" | "mb" => 1 << 20,
                "g" | "gb" => 1 << 30,
                _ => return Err(format!("invalid size: '{s}'")),
            };
            (&t[..i], mult)
        }
        None => (t.as_str(), 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid size: '{s}'"))?;
    if n < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    Ok((n * mult as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_ip(spec: &str) -> Result<String, String> {
        let (_, b) = publish_flags(&[spec.to_string()], &[])?;
        Ok(b.values().next().expect("binding")[0].host_ip.clone())
    }

    /// Docker 20.10's CLI: IPv6 only in brackets, in its words.
    #[test]
    fn publish_on_ipv6_addresses() {
        assert_eq!(host_ip("[::1]:8080:80").unwrap(), "::1");
        assert_eq!(host_ip("[fd00::1]::53/udp").unwrap(), "fd00::1");
        assert_eq!(host_ip("127.0.0.1:8080:80").unwrap(), "127.0.0.1");
        assert_eq!(
            host_ip("::1:8080:80").unwrap_err(),
            "Invalid ip address ::1: address ::1:: too many colons in address"
        );
        assert_eq!(
            host_ip("[::1:80:80").unwrap_err(),
            "Invalid ip address [::1: address [::1:: missing ']' in address"
        );
        assert_eq!(host_ip("[zz]:80:80").unwrap_err(), "Invalid ip address: zz");
        assert_eq!(host_ip("1.2.3:80:80").unwrap_err(), "Invalid ip address: 1.2.3");
    }
}
