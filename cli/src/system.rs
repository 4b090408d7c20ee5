//! The daemon itself: `version`, `info`, `events`.

use clap::Args;
use serde_json::Value;

use super::format::{binary, capitalize, Format};
use super::{fail, Exit};
use skiff_client::{Client, EventsOptions};

/// `skiff version`: the client's, then the server's.
pub async fn version(c: &Client) -> Exit {
    println!(
        "Client:\n Version:           {}\n API version:       {}\n OS/Arch:           linux/{}",
        env!("CARGO_PKG_VERSION"),
        skiff_api::API_VERSION,
        std::env::consts::ARCH
    );
    match c.version().await {
        Ok(v) => {
            println!(
                "\nServer: skiff\n Engine:\n  Version:          {}\n  API version:      {} (minimum version {})\n  OS/Arch:          {}/{}\n  Kernel:           {}",
                v["Version"].as_str().unwrap_or(""),
                v["ApiVersion"].as_str().unwrap_or(""),
                v["MinAPIVersion"].as_str().unwrap_or(""),
                v["Os"].as_str().unwrap_or(""),
                v["Arch"].as_str().unwrap_or(""),
                v["KernelVersion"].as_str().unwrap_or("")
            );
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}

/// `skiff info [--format T]` (and `system info`).
pub async fn info(c: &Client, format: Option<&str>) -> Exit {
    let v = match c.info().await {
        Ok(v) => v,
        Err(e) => return fail(&e, 1),
    };
    if let Some(f) = format {
        let out = match f {
            "json" => Ok(v.to_string()),
            f => Format::parse(f).and_then(|t| t.render(&v)),
        };
        return match out {
            Ok(line) => {
                println!("{line}");
                Exit(0)
            }
            Err(e) => {
                eprintln!("template: {e}");
                Exit(1)
            }
        };
    }
    let s = |k: &str| match &v[k] {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    // A controller leaves out what only a host has: skip empty lines.
    let line = |label: &str, value: String| {
        if !value.is_empty() {
            println!(" {label}: {value}");
        }
    };
    println!("Server:");
    println!(
        " Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}",
        s("Containers"),
        s("ContainersRunning"),
        s("ContainersPaused"),
        s("ContainersStopped")
    );
    line("Images", s("Images"));
    line("Server Version", s("ServerVersion"));
    line("Storage Driver", s("Driver"));
    line("Logging Driver", s("LoggingDriver"));
    line("Cgroup Driver", s("CgroupDriver"));
    line("Cgroup Version", s("CgroupVersion"));
    line("Default Runtime", s("DefaultRuntime"));
    line("Live Restore Enabled", s("LiveRestoreEnabled"));
    if v["Swarm"]["LocalNodeState"] == "active" {
        let sw = &v["Swarm"];
        println!(" Cluster: active");
        println!("  Cluster ID: {}", sw["Cluster"]["ID"].as_str().unwrap_or(""));
        println!("  Controllers: {}", sw["Managers"]);
        println!("  Nodes: {} ({} ready)", sw["Nodes"], sw["NodesReady"]);
        let nodes: Vec<skiff_api::cluster::Node> = serde_json::from_value(v["Nodes"].clone()).unwrap_or_default();
        for n in nodes {
            println!(
                "   {}: {}, {}, {} containers, {} CPUs, {}",
                n.description.hostname,
                capitalize(&n.status.state),
                capitalize(&n.spec.availability),
                n.containers,
                n.description.resources.nano_cpus / 1_000_000_000,
                binary(n.description.resources.memory_bytes as f64)
            );
        }
    }
    security_options(&v["SecurityOptions"]);
    line("Kernel Version", s("KernelVersion"));
    line("Operating System", s("OperatingSystem"));
    line("OSType", s("OSType"));
    line("Architecture", s("Architecture"));
    line("CPUs", s("NCPU"));
    line("Total Memory", binary(v["MemTotal"].as_f64().unwrap_or(0.0)));
    line("Name", s("Name"));
    line("ID", s("ID"));
    line("Docker Root Dir", s("DockerRootDir"));
    line("Debug Mode", s("Debug"));
    registries(&v["RegistryConfig"]);
    // As Docker's CLI: what the host cannot do, on stderr.
    for w in v["Warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        eprintln!("{w}");
    }
    Exit(0)
}

/// Docker's "Insecure Registries:" (insecure hosts, then CIDRs) and
/// "Registry Mirrors:" sections of `info`.
fn registries(r: &Value) {
    let mut insecure: Vec<String> = r["IndexConfigs"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, c)| c["Secure"] == false)
        .map(|(name, _)| name.clone())
        .collect();
    insecure.extend(
        r["InsecureRegistryCIDRs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(String::from)),
    );
    let mirrors: Vec<&str> = r["Mirrors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (title, list) in [
        (
            "Insecure Registries",
            insecure.iter().map(String::as_str).collect::<Vec<_>>(),
        ),
        ("Registry Mirrors", mirrors),
    ] {
        if !list.is_empty() {
            println!(" {title}:");
            for i in list {
                println!("  {i}");
            }
        }
    }
}

/// `info`'s security options as Docker's CLI prints them: each option's
/// name, and its profile when it has one (`name=seccomp,profile=default`).
fn security_options(opts: &Value) {
    let Some(opts) = opts.as_array().filter(|o| !o.is_empty()) else {
        return;
    };
    println!(" Security Options:");
    for o in opts.iter().filter_map(Value::as_str) {
        for kv in o.split(',') {
            match kv.split_once('=') {
                Some(("name", n)) => println!("  {n}"),
                Some(("profile", p)) => println!("   Profile: {p}"),
                _ => {}
            }
        }
    }
}

/// `skiff events`: Docker's text lines, or one template/JSON line each.
/// `skiff events` and `skiff system events`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show all events created since timestamp (Unix, RFC 3339, or a duration like 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided (type, event, container, image, network, label, node)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format the output using a Go-style template, or json
    #[arg(long)]
    pub format: Option<String>,
}

pub async fn events(
    c: &Client,
    since: Option<String>,
    until: Option<String>,
    filter: Vec<String>,
    format: Option<String>,
) -> Exit {
    let mut o = EventsOptions::default();
    for (at, v) in [(&mut o.since, since), (&mut o.until, until)] {
        let Some(v) = v else { continue };
        match skiff_api::events::parse_time(&v) {
            Ok(n) => *at = Some(n),
            Err(e) => {
                eprintln!("{e}");
                return Exit(125);
            }
        }
    }
    for f in &filter {
        let Some((k, v)) = f.split_once('=') else {
            eprintln!("invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)");
            return Exit(125);
        };
        o.filters.entry(k.to_string()).or_default().push(v.to_string());
    }
    let template = match format.as_deref() {
        None | Some("json") => None,
        Some(f) => match Format::parse(f) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("{e}");
                return Exit(1);
            }
        },
    };
    let mut lines = match c.events(&o).await {
        Ok(l) => l,
        Err(e) => return fail(&e, 1),
    };
    while let Some(line) = lines.next().await {
        let Ok(ev) = serde_json::from_slice::<skiff_api::events::Event>(&line) else {
            continue;
        };
        let out = match (&template, format.as_deref()) {
            (Some(t), _) => match t.render(&serde_json::to_value(&ev).unwrap_or_default()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return Exit(1);
                }
            },
            (None, Some(_)) => String::from_utf8_lossy(&line).trim().to_string(),
            (None, None) => ev.line(),
        };
        println!("{out}");
    }
    Exit(0)
}
