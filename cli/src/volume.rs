//! `skiff volume …`: create, ls, inspect, rm, prune, with Docker's flags,
//! output and exit codes.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use hyper::StatusCode;
use serde_json::{json, Value};

use super::format::{custom, size, table};
use super::util::{inspect_each, print_rows, prune};
use super::{fail, Exit};
use skiff_api::{Volume, VolumeCreateRequest};
use skiff_client::{Client, ClientError};

#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only display volume names
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Provide filter values (e.g. 'dangling=true')
        #[arg(short = 'f', long = "filter")]
        filter: Vec<String>,
        /// Pretty-print volumes using a Go template
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on one or more volumes
    Inspect {
        /// Format the output using the given Go template
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm {
        /// Force the removal of one or more volumes
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove all unused local volumes
    Prune {
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
        /// Provide filter values (e.g. 'label=<label>')
        #[arg(long)]
        filter: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long)]
    pub name: Option<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    pub volume: Option<String>,
}

pub async fn run(c: &Client, cmd: VolumeCmd) -> Exit {
    match cmd {
        VolumeCmd::Create(a) => create(c, a).await,
        VolumeCmd::Ls { quiet, filter, format } => ls(c, quiet, &filter, format).await,
        VolumeCmd::Inspect { format, volumes } => {
            let get = |n: String| async move { c.volume_inspect_raw(&n).await.map_err(|e| not_found(e, &n)) };
            inspect_each(&volumes, get, format.as_deref()).await
        }
        VolumeCmd::Rm { force, volumes } => rm(c, force, &volumes).await,
        VolumeCmd::Prune { force, filter } => prune_unused(c, force, &filter).await,
    }
}

/// Docker's CLI words a 404 about a volume its own way.
fn not_found(e: ClientError, name: &str) -> ClientError {
    match e.status() {
        Some(StatusCode::NOT_FOUND) => ClientError::Other(format!("Error: No such volume: {name}")),
        _ => e,
    }
}

fn kv(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// `skiff volume create`: the volume's name.
async fn create(c: &Client, a: CreateArgs) -> Exit {
    if a.volume.is_some() && a.name.is_some() {
        eprintln!("Conflicting options: either specify --name or provide positional arg, not both");
        return Exit(1);
    }
    let req = VolumeCreateRequest {
        name: a.volume.or(a.name).unwrap_or_default(),
        driver: a.driver,
        driver_opts: Some(kv(&a.opt)),
        labels: Some(kv(&a.label)),
    };
    match c.volume_create(&req).await {
        Ok(v) => {
            println!("{}", v.name);
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}

/// Go's natural order (`sortorder.NaturalLess`): digit runs compare as
/// numbers.
fn natural(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    while let (Some(&p), Some(&q)) = (x.first(), y.first()) {
        if p.is_ascii_digit() && q.is_ascii_digit() {
            let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
            let (i, j) = (run(x), run(y));
            let (n, m) = (
                std::str::from_utf8(&x[..i]).unwrap_or("0").trim_start_matches('0'),
                std::str::from_utf8(&y[..j]).unwrap_or("0").trim_start_matches('0'),
            );
            match n.len().cmp(&m.len()).then(n.cmp(m)) {
                Ordering::Equal => {}
                o => return o,
            }
            (x, y) = (&x[i..], &y[j..]);
        } else {
            match p.cmp(&q) {
                Ordering::Equal => (x, y) = (&x[1..], &y[1..]),
                o => return o,
            }
        }
    }
    x.len().cmp(&y.len())
}

/// `volume ls --format 'table …'`: Docker's column names.
const COLUMNS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("CreatedAt", "CREATED AT"),
];

/// The template fields of a volume, as Docker's formatter names them.
fn fields(v: &Volume) -> Value {
    let labels: Vec<String> = v.labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    let (links, sz) = match &v.usage_data {
        Some(u) => (u.ref_count.to_string(), size(u.size)),
        None => ("N/A".to_string(), "N/A".to_string()),
    };
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Scope": v.scope,
        "Mountpoint": v.mountpoint,
        "Labels": labels.join(","),
        "Links": links,
        "Size": sz,
        "CreatedAt": v.created_at,
    })
}

/// `skiff volume ls`: names (`-q`), template lines (`--format`) or the table.
async fn ls(c: &Client, quiet: bool, filter: &[String], format: Option<String>) -> Exit {
    let mut vols = match c.volumes_list(&super::util::filters(filter)).await {
        Ok(r) => r.volumes,
        Err(e) => return fail(&e, 1),
    };
    vols.sort_by(|a, b| natural(&a.name, &b.name));
    if quiet {
        for v in &vols {
            println!("{}", v.name);
        }
        return Exit(0);
    }
    if let Some(fmt) = custom(format) {
        let rows: Vec<Value> = vols.iter().map(fields).collect();
        return print_rows(&rows, &fmt, COLUMNS);
    }
    let mut rows = vec![vec!["DRIVER".to_string(), "VOLUME NAME".to_string()]];
    rows.extend(vols.iter().map(|v| vec![v.driver.clone(), v.name.clone()]));
    print!("{}", table(&rows));
    Exit(0)
}

/// `skiff volume rm`: each name removed, then every error (Docker's order).
async fn rm(c: &Client, force: bool, names: &[String]) -> Exit {
    let mut errors = Vec::new();
    for n in names {
        match c.volume_remove(n, force).await {
            Ok(()) => println!("{n}"),
            Err(e) => errors.push(not_found(e, n).to_string()),
        }
    }
    if errors.is_empty() {
        return Exit(0);
    }
    eprintln!("{}", errors.join("\n"));
    Exit(1)
}

async fn prune_unused(c: &Client, force: bool, filter: &[String]) -> Exit {
    let warning = "WARNING! This will remove all local volumes not used by at least one container.";
    let f = super::util::filters(filter);
    let request = async {
        let r = c.volumes_prune(&f).await?;
        Ok(serde_json::to_value(r).unwrap_or_default())
    };
    match prune(request, "VolumesDeleted", "Deleted Volumes:", warning, force).await {
        Ok(Some(v)) => super::util::print_reclaimed(&v, "VolumesDeleted"),
        Ok(None) => Exit(0),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::natural;
    use std::cmp::Ordering;

    #[test]
    fn names_sort_naturally() {
        assert_eq!(natural("vol2", "vol10"), Ordering::Less);
        assert_eq!(natural("a", "b"), Ordering::Less);
        assert_eq!(natural("vol10", "vol10"), Ordering::Equal);
        assert_eq!(natural("v", "v1"), Ordering::Less);
        let mut v = vec!["b10", "b2", "a", "b1"];
        v.sort_by(|a, b| natural(a, b));
        assert_eq!(v, ["a", "b1", "b2", "b10"]);
    }
}
