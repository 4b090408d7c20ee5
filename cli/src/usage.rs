//! What containers use: `skiff stats` (live, per container; through a
//! controller every node's, with a NODE column) and `skiff system df`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::format::{ago, binary, custom, human, listing, node_table, table, trunc};
use super::util::print_rows;
use super::{fail, Exit};
use skiff_api::stats::Stats;
use skiff_api::{ContainerSummary, DiskUsage, Volume};
use skiff_client::{Client, Lines, ListOptions};

#[derive(Args, Debug, Clone)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format the output using a Go-style template, or json
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    /// Show docker disk usage
    Df {
        /// Show detailed information on space usage
        #[arg(short = 'v', long)]
        verbose: bool,
        /// Format the output using a Go-style template, or json
        #[arg(long)]
        format: Option<String>,
    },
    /// Display system-wide information
    Info {
        /// Format the output using the given Go template (json: the whole object)
        #[arg(short = 'f', long)]
        format: Option<String>,
    },
    /// Get real time events from the server
    Events(super::system::EventsArgs),
    /// Remove unused data
    Prune(super::prune::SystemPruneArgs),
}

/// One container's line: the latest sample, or why there is none.
#[derive(Default, Clone)]
struct Row {
    key: String,
    node: Option<String>,
    sample: Option<Stats>,
    error: Option<String>,
}

type Rows = Arc<Mutex<BTreeMap<String, Row>>>;

/// `skiff stats`: one stream per container, redrawn each second; with
/// `--no-stream`, one sample each and out.
pub async fn stats(c: &Client, a: StatsArgs) -> Exit {
    let rows: Rows = Default::default();
    let mut tasks: BTreeMap<String, tokio::task::JoinHandle<()>> = BTreeMap::new();
    let named = !a.containers.is_empty();
    loop {
        let targets: Vec<(String, Option<String>)> = if named {
            a.containers.iter().map(|n| (n.clone(), None)).collect()
        } else {
            let o = ListOptions {
                all: a.all,
                ..Default::default()
            };
            match c.containers_list(&o).await {
                Ok(list) => list.into_iter().map(|s| (s.id, s.node)).collect(),
                Err(e) => return fail(&e, 1),
            }
        };
        for (key, node) in &targets {
            if tasks.contains_key(key) {
                continue;
            }
            let row = Row {
                key: key.clone(),
                node: node.clone(),
                ..Default::default()
            };
            rows.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), row);
            let task = tokio::spawn(follow(c.clone(), key.clone(), !a.no_stream, rows.clone()));
            tasks.insert(key.clone(), task);
        }
        // Containers that went away (or stopped, without -a) leave the table.
        tasks.retain(|k, t| {
            let keep = targets.iter().any(|(x, _)| x == k);
            if !keep {
                t.abort();
                rows.lock().unwrap_or_else(|e| e.into_inner()).remove(k);
            }
            keep
        });
        if a.no_stream {
            for (_, t) in std::mem::take(&mut tasks) {
                let _ = t.await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let snapshot: Vec<Row> = rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        if named {
            if let Some(e) = snapshot.iter().find_map(|r| r.error.clone()) {
                eprintln!("{e}");
                return Exit(1);
            }
        }
        let out = match render(&snapshot, &a) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return Exit(1);
            }
        };
        if a.no_stream {
            print!("{out}");
            return Exit(0);
        }
        print!("\x1b[2J\x1b[H{out}");
        tokio::time::sleep(Duration::from_millis(750)).await;
    }
}

/// Keep one container's row current from its stats stream (or fill it
/// once).
async fn follow(c: Client, key: String, stream: bool, rows: Rows) {
    let set = |f: &dyn Fn(&mut Row)| {
        if let Some(r) = rows.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&key) {
            f(r);
        }
    };
    let resp = match c.container_stats(&key, stream).await {
        Ok(r) => r,
        Err(e) => return set(&|r| r.error = Some(e.to_string())),
    };
    if !stream {
        let data = skiff_client::body_bytes(resp).await;
        match serde_json::from_slice::<Stats>(&data) {
            Ok(s) => set(&|r| r.sample = Some(s.clone())),
            Err(e) => set(&|r| r.error = Some(format!("bad answer from daemon: {e}"))),
        }
        return;
    }
    let mut lines = Lines::new(resp);
    while let Some(line) = lines.next().await {
        if let Ok(s) = serde_json::from_slice::<Stats>(&line) {
            set(&|r| r.sample = Some(s.clone()));
        }
    }
}

/// `stats --format 'table …'`: Docker's column names.
const STATS_COLUMNS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
    ("Node", "NODE"),
];

/// `system df --format 'table …'`: Docker's column names.
const DF_COLUMNS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

/// The template fields of a row, as Docker names them.
fn fields(r: &Row, no_trunc: bool) -> Value {
    let s = r.sample.clone().unwrap_or_default();
    let id = if s.id.is_empty() { r.key.clone() } else { s.id.clone() };
    let short = if no_trunc {
        id.clone()
    } else {
        id.chars().take(12).collect()
    };
    let (rx, tx) = s.net_io();
    let (rd, wr) = s.block_io();
    json!({
        "Container": r.key,
        "ID": short,
        "Name": s.name.trim_start_matches('/'),
        "CPUPerc": format!("{:.2}%", s.cpu_percent()),
        "MemUsage": format!("{} / {}", binary(s.mem_usage() as f64), binary(s.memory_stats.limit as f64)),
        "MemPerc": format!("{:.2}%", s.mem_percent()),
        "NetIO": format!("{} / {}", human(rx as f64, 3), human(tx as f64, 3)),
        "BlockIO": format!("{} / {}", human(rd as f64, 3), human(wr as f64, 3)),
        "PIDs": s.pids_stats.current.to_string(),
        "Node": r.node.clone().unwrap_or_default(),
    })
}

fn render(rows: &[Row], a: &StatsArgs) -> Result<String, String> {
    let ready: Vec<&Row> = rows.iter().filter(|r| r.sample.is_some()).collect();
    if let Some(fmt) = custom(a.format.clone()) {
        let values: Vec<Value> = ready.iter().map(|r| fields(r, a.no_trunc)).collect();
        return listing(&fmt, &values, STATS_COLUMNS);
    }
    let head = [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ];
    let cells = [
        "ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs",
    ];
    let table_rows = ready
        .into_iter()
        .map(|r| {
            let v = fields(r, a.no_trunc);
            let row = cells
                .iter()
                .map(|k| v[k].as_str().unwrap_or_default().to_string())
                .collect();
            (row, r.node.clone())
        })
        .collect();
    Ok(node_table(&head, table_rows))
}

/// The volumes of a `system df` answer.
fn volumes(du: &DiskUsage) -> Vec<Volume> {
    du.volumes
        .iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect()
}

/// How many containers use a volume.
fn links(v: &Volume) -> i64 {
    v.usage_data.as_ref().map_or(0, |u| u.ref_count)
}

/// A volume's size (0 when not known).
fn vol_bytes(v: &Volume) -> i64 {
    v.usage_data.as_ref().map_or(0, |u| u.size.max(0))
}

/// `skiff system df [-v]`: through a controller, the fleet's sums.
pub async fn df(c: &Client, verbose: bool, format: Option<String>) -> Exit {
    let du = match c.system_df().await {
        Ok(d) => d,
        Err(e) => return fail(&e, 1),
    };
    let pct = |part: i64, total: i64| {
        if total > 0 {
            format!("{} ({}%)", human(part as f64, 4), part * 100 / total)
        } else {
            human(part as f64, 4)
        }
    };
    let images_active = du.images.iter().filter(|i| i.containers > 0).count();
    let used: i64 = du
        .images
        .iter()
        .filter(|i| i.containers > 0 && i.shared_size >= 0)
        .map(|i| i.size - i.shared_size)
        .sum();
    let rw = |s: &ContainerSummary| s.size_rw.unwrap_or(0);
    // Docker's "active": running, paused or restarting.
    let active = |s: &&ContainerSummary| matches!(s.state.as_str(), "running" | "paused" | "restarting");
    let ctr_size: i64 = du.containers.iter().map(rw).sum();
    let ctr_free: i64 = du.containers.iter().filter(|s| !active(s)).map(rw).sum();
    let vols = volumes(&du);
    let vol_size: i64 = vols.iter().map(vol_bytes).sum();
    let vol_free: i64 = vols.iter().filter(|v| links(v) == 0).map(vol_bytes).sum();
    let cache_bytes = |b: &&Value| b["Size"].as_i64().unwrap_or(0);
    let cache_size: i64 = du.build_cache.iter().map(|b| cache_bytes(&b)).sum();
    // As Docker's CLI: what neither a build nor an image holds.
    let cache_free: i64 = du
        .build_cache
        .iter()
        .filter(|b| b["InUse"] != true && b["Shared"] != true)
        .map(|b| cache_bytes(&b))
        .sum();
    let summary = [
        (
            "Images",
            du.images.len(),
            images_active,
            du.layers_size,
            pct((du.layers_size - used).max(0), du.layers_size),
        ),
        (
            "Containers",
            du.containers.len(),
            du.containers.iter().filter(active).count(),
            ctr_size,
            pct(ctr_free, ctr_size),
        ),
        (
            "Local Volumes",
            vols.len(),
            vols.iter().filter(|v| links(v) > 0).count(),
            vol_size,
            pct(vol_free, vol_size),
        ),
        (
            "Build Cache",
            du.build_cache.len(),
            du.build_cache.iter().filter(|b| b["InUse"] == true).count(),
            cache_size,
            human(cache_free as f64, 4),
        ),
    ];
    if let Some(fmt) = custom(format) {
        let rows: Vec<Value> = summary
            .iter()
            .map(|(kind, total, active, size, reclaim)| {
                json!({"Type": kind, "TotalCount": total.to_string(), "Active": active.to_string(),
                    "Size": human(*size as f64, 4), "Reclaimable": reclaim})
            })
            .collect();
        return print_rows(&rows, &fmt, DF_COLUMNS);
    }
    if !verbose {
        let mut rows = vec![["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            .map(String::from)
            .to_vec()];
        for (kind, total, active, size, reclaim) in summary {
            rows.push(vec![
                kind.into(),
                total.to_string(),
                active.to_string(),
                human(size as f64, 4),
                reclaim,
            ]);
        }
        print!("{}", table(&rows));
        return Exit(0);
    }
    print_verbose(&du);
    Exit(0)
}

/// `system df -v`: every image, every container, every volume, and the
/// empty build cache table.
fn print_verbose(du: &DiskUsage) {
    let rw = |s: &ContainerSummary| s.size_rw.unwrap_or(0);
    println!("Images space usage:\n");
    let mut rows = Vec::new();
    for i in &du.images {
        let id = i.id.trim_start_matches("sha256:").chars().take(12).collect::<String>();
        let tags = if i.repo_tags.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            i.repo_tags.clone()
        };
        for t in tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t.as_str(), ""));
            let row = vec![
                repo.into(),
                tag.into(),
                id.clone(),
                ago(i.created),
                human(i.size as f64, 4),
                human(i.shared_size.max(0) as f64, 4),
                human((i.size - i.shared_size.max(0)) as f64, 4),
                i.containers.to_string(),
            ];
            rows.push((row, i.node.clone()));
        }
    }
    let head = [
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ];
    print!("{}", node_table(&head, rows));
    println!("\nContainers space usage:\n");
    let rows = du
        .containers
        .iter()
        .map(|s| {
            let row = vec![
                s.id.chars().take(12).collect(),
                s.image.clone(),
                format!("\"{}\"", trunc(&s.command, 20)),
                s.mounts.iter().filter(|m| m["Type"] == "volume").count().to_string(),
                human(rw(s) as f64, 4),
                ago(s.created),
                s.status.clone(),
                s.names_text(),
            ];
            (row, s.node.clone())
        })
        .collect();
    let head = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "LOCAL VOLUMES",
        "SIZE",
        "CREATED",
        "STATUS",
        "NAMES",
    ];
    print!("{}", node_table(&head, rows));
    println!("\nLocal Volumes space usage:\n");
    let rows = volumes(du)
        .iter()
        .map(|v| {
            let row = vec![v.name.clone(), links(v).to_string(), human(vol_bytes(v) as f64, 4)];
            (row, None)
        })
        .collect();
    print!("{}", node_table(&["VOLUME NAME", "LINKS", "SIZE"], rows));
    let total: i64 = du.build_cache.iter().map(|b| b["Size"].as_i64().unwrap_or(0)).sum();
    println!("\nBuild cache usage: {}\n", human(total as f64, 4));
    let mut rows = vec![[
        "CACHE ID",
        "CACHE TYPE",
        "SIZE",
        "CREATED",
        "LAST USED",
        "USAGE",
        "SHARED",
    ]
    .map(String::from)
    .to_vec()];
    let unix = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(0, |t| t.timestamp())
    };
    for b in &du.build_cache {
        rows.push(vec![
            b["ID"].as_str().unwrap_or_default().to_string(),
            b["Type"].as_str().unwrap_or_default().to_string(),
            human(b["Size"].as_f64().unwrap_or(0.0), 4),
            ago(unix(&b["CreatedAt"])),
            ago(unix(&b["LastUsedAt"])),
            b["UsageCount"].to_string(),
            if b["Shared"] == true { "true" } else { "false" }.to_string(),
        ]);
    }
    print!("{}", table(&rows));
}
