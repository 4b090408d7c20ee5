//! Containers: the lifecycle verbs (start, attach, stop, restart, kill,
//! rm, pause, unpause, rename, wait, prune) and what reads a container
//! (ps, top, logs, export). `run`, `create`'s request and `exec` are in
//! `run`.

use std::io::Write;

use http_body_util::BodyExt;
use serde_json::Value;

use super::format::{ago, custom, node_table, ports_text, table, trunc};
use super::run;
use super::util::{each_parallel, print_rows, prune as prune_with};
use super::{fail, CommitArgs, CreateFlags, Exit, LogsFlags, PsFlags, RmArgs, StopArgs};
use skiff_api::ContainerSummary;
use skiff_client::{Client, Filters, ListOptions, LogsOptions};

/// `skiff create`: print the new container's ID.
pub async fn create(c: &Client, f: CreateFlags) -> Exit {
    match run::create(c, &f).await {
        Ok(id) => {
            println!("{id}");
            Exit(0)
        }
        Err(e) => e,
    }
}

/// `skiff start [-a] [-i]`: attached, the first container's streams
/// until it exits; otherwise each name that started.
pub async fn start(c: &Client, attach: bool, interactive: bool, containers: Vec<String>) -> Exit {
    if attach || interactive {
        let id = &containers[0];
        let tty = match c.container_inspect(id).await {
            Ok(v) => v.config.tty,
            Err(e) => return fail(&e, 1),
        };
        return run::attach_start_wait(c, id, tty, interactive, false, true).await;
    }
    let failed = each_parallel(&containers, |n| async move { c.container_start(&n).await }).await;
    if failed.is_empty() {
        return Exit(0);
    }
    eprintln!("Error: failed to start containers: {}", failed.join(", "));
    Exit(1)
}

pub async fn attach(c: &Client, no_stdin: bool, container: String) -> Exit {
    let v = match c.container_inspect(&container).await {
        Ok(v) => v,
        Err(e) => return fail(&e, 1),
    };
    if !v.state.running {
        eprintln!("You cannot attach to a stopped container, start it first");
        return Exit(1);
    }
    let stdin = !no_stdin && v.config.open_stdin;
    run::attach_start_wait(c, &v.id, v.config.tty, stdin, false, false).await
}

/// A container verb on each name, in parallel: exit 1 if any failed.
async fn verb<F, Fut>(names: &[String], f: F) -> Exit
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), skiff_client::ClientError>>,
{
    Exit(i32::from(!each_parallel(names, f).await.is_empty()))
}

pub async fn stop(c: &Client, a: StopArgs) -> Exit {
    let t = a.time;
    verb(&a.containers, |n| async move { c.container_stop(&n, t).await }).await
}

pub async fn restart(c: &Client, time: Option<i64>, containers: Vec<String>) -> Exit {
    verb(&containers, |n| async move { c.container_restart(&n, time).await }).await
}

pub async fn kill(c: &Client, signal: Option<String>, containers: Vec<String>) -> Exit {
    let s = signal.as_deref();
    verb(&containers, |n| async move { c.container_kill(&n, s).await }).await
}

pub async fn pause(c: &Client, containers: Vec<String>) -> Exit {
    verb(&containers, |n| async move { c.container_pause(&n).await }).await
}

pub async fn unpause(c: &Client, containers: Vec<String>) -> Exit {
    verb(&containers, |n| async move { c.container_unpause(&n).await }).await
}

pub async fn rm(c: &Client, a: RmArgs) -> Exit {
    let (force, volumes) = (a.force, a.volumes);
    verb(&a.containers, |n| async move {
        c.container_remove(&n, force, volumes).await
    })
    .await
}

pub async fn rename(c: &Client, container: String, new_name: String) -> Exit {
    match c.container_rename(&container, &new_name).await {
        Ok(()) => Exit(0),
        Err(e) => fail(&e, 1),
    }
}

/// `skiff wait`: each container's exit code, once it stops.
pub async fn wait(c: &Client, containers: Vec<String>) -> Exit {
    let mut code = 0;
    for n in &containers {
        match c.container_wait(n, None).await {
            Ok(w) => println!("{}", w.status_code),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Exit(code)
}

/// `skiff top`: the daemon's `ps` table.
pub async fn top(c: &Client, container: String, ps_args: Vec<String>) -> Exit {
    let ps_args = (!ps_args.is_empty()).then(|| ps_args.join(" "));
    let v = match c.container_top(&container, ps_args.as_deref()).await {
        Ok(v) => v,
        Err(e) => return fail(&e, 1),
    };
    let strings = |row: &Value| -> Vec<String> {
        row.as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    };
    let mut rows = vec![strings(&v["Titles"])];
    rows.extend(v["Processes"].as_array().into_iter().flatten().map(strings));
    print!("{}", table(&rows));
    Exit(0)
}

/// `skiff container prune`.
pub async fn prune(c: &Client, force: bool, filter: &[String]) -> Exit {
    let warning = "WARNING! This will remove all stopped containers.";
    let deleted = "Deleted Containers:";
    let filters = super::util::filters(filter);
    match prune_with(
        c.containers_prune(&filters),
        "ContainersDeleted",
        deleted,
        warning,
        force,
    )
    .await
    {
        Ok(Some(v)) => super::util::print_reclaimed(&v, "ContainersDeleted"),
        Ok(None) => Exit(0),
        Err(e) => e,
    }
}

/// `ps`'s query: all, limit and filters (`--filter k=v`, repeated).
fn ps_query(f: &PsFlags) -> Result<ListOptions, Exit> {
    let mut filters = Filters::new();
    for fl in &f.filter {
        match fl.split_once('=') {
            Some((k, v)) => filters.entry(k.to_string()).or_default().push(v.to_string()),
            None => {
                eprintln!(
                    "invalid argument \"{fl}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"
                );
                return Err(Exit(125));
            }
        }
    }
    Ok(ListOptions {
        all: f.all,
        limit: if f.latest { Some(1) } else { f.last },
        filters,
    })
}

/// `ps --format 'table …'`: Docker's column names.
const PS_COLUMNS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("Node", "NODE"),
];

/// A `ps` row's template fields, as Docker names them.
fn ps_fields(s: &ContainerSummary) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    v["ID"] = Value::String(s.id[..12].to_string());
    v["Names"] = Value::String(s.names_text());
    v["Command"] = Value::String(format!("\"{}\"", s.command));
    v["Ports"] = Value::String(ports_text(&s.ports));
    v["Networks"] = Value::String(
        s.network_settings["Networks"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
    );
    v["RunningFor"] = Value::String(ago(s.created).trim_end_matches(" ago").to_string());
    v["CreatedAt"] = Value::String(
        chrono::DateTime::from_timestamp(s.created, 0)
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    v
}

/// `skiff ps`: IDs (`-q`), one template line per container (`--format`),
/// or Docker's table (through a controller with a NODE column).
pub async fn ps(c: &Client, f: PsFlags) -> Exit {
    let q = match ps_query(&f) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let list = match c.containers_list(&q).await {
        Ok(l) => l,
        Err(e) => return fail(&e, 1),
    };
    if f.quiet {
        for s in &list {
            println!(
                "{}",
                if f.no_trunc {
                    s.id.clone()
                } else {
                    s.id[..12].to_string()
                }
            );
        }
        return Exit(0);
    }
    if let Some(fmt) = custom(f.format) {
        let rows: Vec<Value> = list.iter().map(ps_fields).collect();
        return print_rows(&rows, &fmt, PS_COLUMNS);
    }
    // Through a controller, each row says which node it is on.
    let rows = list
        .iter()
        .map(|s| {
            let (id, cmd) = if f.no_trunc {
                (s.id.clone(), s.command.clone())
            } else {
                (s.id[..12].to_string(), trunc(&s.command, 20))
            };
            let row = vec![
                id,
                s.image.clone(),
                format!("\"{cmd}\""),
                ago(s.created),
                s.status.clone(),
                ports_text(&s.ports),
                s.names_text(),
            ];
            (row, s.node.clone())
        })
        .collect();
    let head = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    print!("{}", node_table(&head, rows));
    Exit(0)
}

/// `skiff logs`: the log stream, demultiplexed unless the container has a TTY.
pub async fn logs(c: &Client, f: LogsFlags) -> Exit {
    let o = LogsOptions {
        follow: f.follow,
        timestamps: f.timestamps,
        tail: (f.tail != "all").then(|| f.tail.clone()),
        since: f.since.as_deref().map(to_unix),
        until: f.until.as_deref().map(to_unix),
        details: f.details,
    };
    let tty = match c.container_inspect(&f.container).await {
        Ok(v) => v.config.tty,
        Err(e) => return fail(&e, 1),
    };
    let resp = match c.container_logs(&f.container, &o).await {
        Ok(r) => r,
        Err(e) => return fail(&e, 1),
    };
    let body = http_body_util::BodyStream::new(resp.into_body());
    let reader = tokio_util_reader(body);
    run::relay(Duplex(reader), tty, false).await;
    Exit(0)
}

/// Docker's --since/--until: RFC 3339, unix seconds, or a duration ("10m").
fn to_unix(v: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let (num, unit) = v.split_at(v.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let mult = match unit {
        "s" => Some(1),
        "m" => Some(60),
        "h" => Some(3600),
        _ => None,
    };
    match (num.parse::<i64>(), mult) {
        (Ok(n), Some(m)) => (now - n * m).to_string(),
        _ => v.to_string(),
    }
}

/// Adapt a body stream to AsyncRead.
fn tokio_util_reader(
    body: http_body_util::BodyStream<hyper::body::Incoming>,
) -> impl tokio::io::AsyncRead + Send + Unpin + 'static {
    use futures_util::TryStreamExt;
    let s = body
        .map_ok(|f| f.into_data().unwrap_or_default())
        .map_err(std::io::Error::other);
    tokio_util::io::StreamReader::new(s)
}

/// A read-only stream with a write half that discards (for `relay`).
struct Duplex<R>(R);

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Duplex<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<R: Unpin> tokio::io::AsyncWrite for Duplex<R> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        b: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// `skiff export`: the root filesystem as a tar, to `-o FILE` or a non-terminal stdout.
/// `skiff diff CTR`: `C /path`, `A /path`, `D /path`.
pub async fn diff(c: &Client, container: &str) -> Exit {
    match c.container_changes(container).await {
        Ok(list) => {
            for ch in list {
                let kind = match ch["Kind"].as_u64() {
                    Some(0) => 'C',
                    Some(1) => 'A',
                    _ => 'D',
                };
                println!("{kind} {}", ch["Path"].as_str().unwrap_or_default());
            }
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}

/// `skiff commit [-a] [-c]… [-m] [-p] CTR [REPO[:TAG]]`: the new image's ID.
pub async fn commit(c: &Client, a: CommitArgs) -> Exit {
    let o = skiff_client::CommitOptions {
        container: a.container,
        reference: a.reference,
        comment: a.message,
        author: a.author,
        pause: a.pause,
        changes: a.changes,
    };
    match c.container_commit(&o).await {
        Ok(id) => {
            println!("{id}");
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}

pub async fn export(c: &Client, container: &str, output: Option<String>) -> Exit {
    if output.is_none() && nix::unistd::isatty(1).unwrap_or(false) {
        eprintln!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        return Exit(1);
    }
    let resp = match c.container_export(container).await {
        Ok(r) => r,
        Err(e) => return fail(&e, 1),
    };
    let mut out: Box<dyn Write> = match &output {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("failed to save to {p}: {e}");
                return Exit(1);
            }
        },
        None => Box::new(std::io::stdout()),
    };
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    if out.write_all(d).is_err() {
                        return Exit(1);
                    }
                }
            }
            Err(e) => {
                eprintln!("export: {e}");
                return Exit(1);
            }
        }
    }
    Exit(0)
}
