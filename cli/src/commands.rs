//! Every `skiff` command other than the streaming ones in `run`.

use std::io::Write;

use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;

use super::format::{ago, capitalize, node_table, ports_text, size, table, template, trunc};
use super::run;
use super::{
    fail, Cmd, ContainerCmd, Exit, ImageCmd, ImportArgs, InspectArgs, LogsFlags, PsFlags, RmArgs, RmiArgs, StopArgs,
    TagArgs,
};
use skiff_api::{ContainerSummary, ImageSummary, WaitResponse};
use skiff_client::{enc, Body, Client, ClientError};

/// Run `f` for each name; print the name on success, the error otherwise.
async fn each<F, Fut>(names: &[String], f: F) -> Exit
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), ClientError>>,
{
    let mut code = 0;
    for n in names {
        match f(n.clone()).await {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Exit(code)
}

pub async fn dispatch(c: &Client, cmd: Cmd) -> Exit {
    match cmd {
        Cmd::Run(f)
        | Cmd::Container {
            cmd: ContainerCmd::Run(f),
        } => run::run(c, &f).await,
        Cmd::Create(f)
        | Cmd::Container {
            cmd: ContainerCmd::Create(f),
        } => match run::create(c, &f).await {
            Ok(id) => {
                println!("{id}");
                Exit(0)
            }
            Err(e) => e,
        },
        Cmd::Start {
            attach,
            interactive,
            containers,
        } => {
            if attach || interactive {
                let id = &containers[0];
                let tty = match c.get::<Value>(&format!("/containers/{}/json", enc(id))).await {
                    Ok(v) => v["Config"]["Tty"].as_bool().unwrap_or(false),
                    Err(e) => return fail(&e, 1),
                };
                return run::attach_start_wait(c, &enc(id), tty, interactive, false, true).await;
            }
            let mut code = 0;
            for n in &containers {
                match c.post(&format!("/containers/{}/start", enc(n)), Body::Empty).await {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("{e}");
                        eprintln!("Error: failed to start containers: {n}");
                        code = 1;
                    }
                }
            }
            Exit(code)
        }
        Cmd::Attach { no_stdin, container } => {
            let v = match c.get::<Value>(&format!("/containers/{}/json", enc(&container))).await {
                Ok(v) => v,
                Err(e) => return fail(&e, 1),
            };
            if v["State"]["Running"] != serde_json::json!(true) {
                eprintln!("You cannot attach to a stopped container, start it first");
                return Exit(1);
            }
            let tty = v["Config"]["Tty"].as_bool().unwrap_or(false);
            let stdin = !no_stdin && v["Config"]["OpenStdin"].as_bool().unwrap_or(false);
            let id = v["Id"].as_str().unwrap_or_default().to_string();
            run::attach_start_wait(c, &id, tty, stdin, false, false).await
        }
        Cmd::Stop(StopArgs { time, containers })
        | Cmd::Container {
            cmd: ContainerCmd::Stop(StopArgs { time, containers }),
        } => {
            let t = time.map(|t| format!("?t={t}")).unwrap_or_default();
            each(&containers, |n| {
                let t = t.clone();
                async move { c.post(&format!("/containers/{}/stop{t}", enc(&n)), Body::Empty).await }
            })
            .await
        }
        Cmd::Restart { time, containers } => {
            let t = time.map(|t| format!("?t={t}")).unwrap_or_default();
            each(&containers, |n| {
                let t = t.clone();
                async move {
                    c.post(&format!("/containers/{}/restart{t}", enc(&n)), Body::Empty)
                        .await
                }
            })
            .await
        }
        Cmd::Kill { signal, containers } => {
            let s = signal.map(|s| format!("?signal={}", enc(&s))).unwrap_or_default();
            each(&containers, |n| {
                let s = s.clone();
                async move { c.post(&format!("/containers/{}/kill{s}", enc(&n)), Body::Empty).await }
            })
            .await
        }
        Cmd::Rm(RmArgs { force, containers, .. })
        | Cmd::Container {
            cmd: ContainerCmd::Rm(RmArgs { force, containers, .. }),
        } => {
            let q = if force { "?force=1" } else { "" };
            each(&containers, |n| async move {
                c.send(Method::DELETE, &format!("/containers/{}{q}", enc(&n)), Body::Empty)
                    .await
                    .map(|_| ())
            })
            .await
        }
        Cmd::Pause { containers } => {
            each(&containers, |n| async move {
                c.post(&format!("/containers/{}/pause", enc(&n)), Body::Empty).await
            })
            .await
        }
        Cmd::Unpause { containers } => {
            each(&containers, |n| async move {
                c.post(&format!("/containers/{}/unpause", enc(&n)), Body::Empty).await
            })
            .await
        }
        Cmd::Rename { container, new_name } => {
            match c
                .post(
                    &format!("/containers/{}/rename?name={}", enc(&container), enc(&new_name)),
                    Body::Empty,
                )
                .await
            {
                Ok(()) => Exit(0),
                Err(e) => fail(&e, 1),
            }
        }
        Cmd::Ps(f)
        | Cmd::Container {
            cmd: ContainerCmd::Ls(f),
        } => ps(c, f).await,
        Cmd::Inspect { format, kind, names } => inspect(c, names, format, kind.as_deref()).await,
        Cmd::Container {
            cmd: ContainerCmd::Inspect(InspectArgs { format, names }),
        } => inspect(c, names, format, Some("container")).await,
        Cmd::Image {
            cmd: ImageCmd::Inspect(InspectArgs { format, names }),
        } => inspect(c, names, format, Some("image")).await,
        Cmd::Wait { containers } => {
            let mut code = 0;
            for n in &containers {
                match c
                    .json::<WaitResponse>(Method::POST, &format!("/containers/{}/wait", enc(n)), Body::Empty)
                    .await
                {
                    Ok(w) => println!("{}", w.status_code),
                    Err(e) => {
                        eprintln!("{e}");
                        code = 1;
                    }
                }
            }
            Exit(code)
        }
        Cmd::Logs(f)
        | Cmd::Container {
            cmd: ContainerCmd::Logs(f),
        } => logs(c, f).await,
        Cmd::Exec(f)
        | Cmd::Container {
            cmd: ContainerCmd::Exec(f),
        } => run::exec(c, &f).await,
        Cmd::Top { container, ps_args } => {
            let q = if ps_args.is_empty() {
                String::new()
            } else {
                format!("?ps_args={}", enc(&ps_args.join(" ")))
            };
            match c.get::<Value>(&format!("/containers/{}/top{q}", enc(&container))).await {
                Ok(v) => {
                    let mut rows = vec![v["Titles"]
                        .as_array()
                        .map(|a| a.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect())
                        .unwrap_or_default()];
                    for p in v["Processes"].as_array().into_iter().flatten() {
                        rows.push(
                            p.as_array()
                                .map(|a| a.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect())
                                .unwrap_or_default(),
                        );
                    }
                    print!("{}", table(&rows));
                    Exit(0)
                }
                Err(e) => fail(&e, 1),
            }
        }
        Cmd::Export { output, container } => export(c, &container, output).await,
        Cmd::Container {
            cmd: ContainerCmd::Prune { force },
        } => {
            let warning = "WARNING! This will remove all stopped containers.";
            match prune(
                c,
                "/containers/prune",
                "ContainersDeleted",
                "Deleted Containers:",
                warning,
                force,
            )
            .await
            {
                Ok(Some(v)) => {
                    if v["ContainersDeleted"].as_array().is_some_and(|a| !a.is_empty()) {
                        println!();
                    }
                    println!(
                        "Total reclaimed space: {}",
                        size(v["SpaceReclaimed"].as_i64().unwrap_or(0))
                    );
                    Exit(0)
                }
                Ok(None) => Exit(0),
                Err(e) => e,
            }
        }
        Cmd::Images {
            all: _,
            quiet,
            no_trunc,
            repository,
        } => images(c, quiet, no_trunc, repository).await,
        Cmd::Image {
            cmd: ImageCmd::Ls { quiet },
        } => images(c, quiet, false, None).await,
        Cmd::Import(ImportArgs {
            changes,
            message,
            file,
            reference,
        })
        | Cmd::Image {
            cmd:
                ImageCmd::Import(ImportArgs {
                    changes,
                    message,
                    file,
                    reference,
                }),
        } => import(c, &file, reference, changes, message).await,
        Cmd::Tag(TagArgs { source, target })
        | Cmd::Image {
            cmd: ImageCmd::Tag(TagArgs { source, target }),
        } => {
            let (repo, tag) = split_tag(&target);
            match c
                .post(
                    &format!("/images/{source}/tag?repo={}&tag={}", enc(&repo), enc(&tag)),
                    Body::Empty,
                )
                .await
            {
                Ok(()) => Exit(0),
                Err(e) => fail(&e, 1),
            }
        }
        Cmd::Rmi(RmiArgs { force, images })
        | Cmd::Image {
            cmd: ImageCmd::Rm(RmiArgs { force, images }),
        } => {
            let mut code = 0;
            for i in &images {
                let q = if force { "?force=1" } else { "" };
                match c
                    .json::<Vec<Value>>(Method::DELETE, &format!("/images/{i}{q}"), Body::Empty)
                    .await
                {
                    Ok(items) => {
                        for it in items {
                            if let Some(u) = it["Untagged"].as_str() {
                                println!("Untagged: {u}");
                            }
                            if let Some(d) = it["Deleted"].as_str() {
                                println!("Deleted: {d}");
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        code = 1;
                    }
                }
            }
            Exit(code)
        }
        Cmd::Certs { .. } => unreachable!("handled before connecting"),
        Cmd::Network { cmd } => super::network::run(c, cmd).await,
        Cmd::Cluster { cmd } => super::cluster::cluster(c, cmd).await,
        Cmd::Node { cmd } => super::cluster::node(c, cmd).await,
        Cmd::Service { cmd } => super::service::run(c, cmd).await,
        Cmd::Port { container, port } => super::network::port(c, &container, port).await,
        Cmd::Version => version(c).await,
        Cmd::Info
        | Cmd::System {
            cmd: super::usage::SystemCmd::Info,
        } => info(c).await,
        Cmd::Stats(a)
        | Cmd::Container {
            cmd: ContainerCmd::Stats(a),
        } => super::usage::stats(c, a).await,
        Cmd::System {
            cmd: super::usage::SystemCmd::Df { verbose, format },
        } => super::usage::df(c, verbose, format).await,
        Cmd::Events {
            since,
            until,
            filter,
            format,
        } => events(c, since, until, filter, format).await,
    }
}

/// A `… prune` command: confirm unless `force`, POST, list what went
/// under `title`. Returns the daemon's answer (None: not confirmed).
pub(super) async fn prune(
    c: &Client,
    path: &str,
    key: &str,
    title: &str,
    warning: &str,
    force: bool,
) -> Result<Option<Value>, Exit> {
    if !force && !confirm(&format!("{warning}\nAre you sure you want to continue? [y/N] ")) {
        return Ok(None);
    }
    let v = c
        .json::<Value>(Method::POST, path, Body::Empty)
        .await
        .map_err(|e| fail(&e, 1))?;
    let gone: Vec<&str> = v[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str())
        .collect();
    if !gone.is_empty() {
        println!("{title}");
        for g in gone {
            println!("{g}");
        }
    }
    Ok(Some(v))
}

/// `inspect` of several objects: GET each path, then print as
/// `print_values` does; `map` rewords errors (e.g. "not a controller").
pub(super) async fn inspect_each(
    c: &Client,
    paths: impl Iterator<Item = String>,
    format: Option<&str>,
    map: fn(skiff_client::ClientError) -> skiff_client::ClientError,
) -> Exit {
    let mut out = Vec::new();
    let mut code = 0;
    for p in paths {
        match c.get::<Value>(&p).await.map_err(map) {
            Ok(v) => out.push(v),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    print_values(&out, format, code)
}

/// One request per named object (`rm`, `update`, …): print each name that
/// succeeded, each error, and exit 1 if any failed.
pub(super) async fn each_named(
    c: &Client,
    calls: Vec<(String, Method, String, Body)>,
    map: fn(skiff_client::ClientError) -> skiff_client::ClientError,
) -> Exit {
    let mut code = 0;
    for (name, method, path, body) in calls {
        match c.send(method, &path, body).await.map_err(map) {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Exit(code)
}

/// Print inspect results: a JSON array, or one template line each.
pub(super) fn print_values(out: &[Value], format: Option<&str>, code: i32) -> Exit {
    match format {
        Some(fmt) => {
            for v in out {
                match template(fmt, v) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("{e}");
                        return Exit(1);
                    }
                }
            }
        }
        None => {
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            let _ = serde::Serialize::serialize(&out, &mut ser);
            println!("{}", String::from_utf8_lossy(&buf));
        }
    }
    Exit(code)
}

fn confirm(prompt: &str) -> bool {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut s = String::new();
    let _ = std::io::stdin().read_line(&mut s);
    matches!(s.trim(), "y" | "Y" | "yes")
}

/// "repo:tag" → (repo, tag), minding registry ports ("host:5000/x").
fn split_tag(r: &str) -> (String, String) {
    match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (r.to_string(), String::new()),
    }
}

async fn ps(c: &Client, f: PsFlags) -> Exit {
    let mut filters: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for fl in &f.filter {
        match fl.split_once('=') {
            Some((k, v)) => filters.entry(k.to_string()).or_default().push(v.to_string()),
            None => {
                eprintln!(
                    "invalid argument \"{fl}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"
                );
                return Exit(125);
            }
        }
    }
    let mut q = format!("?all={}", u8::from(f.all));
    let limit = if f.latest { Some(1) } else { f.last };
    if let Some(n) = limit {
        q.push_str(&format!("&limit={n}"));
    }
    if !filters.is_empty() {
        q.push_str(&format!(
            "&filters={}",
            enc(&serde_json::to_string(&filters).unwrap_or_default())
        ));
    }
    let list: Vec<ContainerSummary> = match c.get(&format!("/containers/json{q}")).await {
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
    if let Some(fmt) = &f.format {
        for s in &list {
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
            let out = if fmt == "json" {
                Ok(v.to_string())
            } else {
                template(fmt, &v)
            };
            match out {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("{e}");
                    return Exit(1);
                }
            }
        }
        return Exit(0);
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

async fn inspect(c: &Client, names: Vec<String>, format: Option<String>, kind: Option<&str>) -> Exit {
    let mut out = Vec::new();
    let mut code = 0;
    for n in &names {
        let mut found = None;
        if kind != Some("image") {
            if let Ok(v) = c.get::<Value>(&format!("/containers/{}/json", enc(n))).await {
                found = Some(v);
            }
        }
        if found.is_none() && kind != Some("container") && kind != Some("network") {
            if let Ok(v) = c.get::<Value>(&format!("/images/{n}/json")).await {
                found = Some(v);
            }
        }
        if found.is_none() && matches!(kind, None | Some("network")) {
            if let Ok(v) = c.get::<Value>(&format!("/networks/{}", enc(n))).await {
                found = Some(v);
            }
        }
        match found {
            Some(v) => out.push(v),
            None => {
                match kind {
                    Some("container") => eprintln!("Error: No such container: {n}"),
                    Some("image") => eprintln!("Error: No such image: {n}"),
                    _ => eprintln!("Error: No such object: {n}"),
                }
                code = 1;
            }
        }
    }
    print_values(&out, format.as_deref(), code)
}

async fn logs(c: &Client, f: LogsFlags) -> Exit {
    let mut q = format!(
        "?stdout=1&stderr=1&follow={}&timestamps={}",
        u8::from(f.follow),
        u8::from(f.timestamps)
    );
    if f.tail != "all" {
        q.push_str(&format!("&tail={}", enc(&f.tail)));
    }
    for (k, v) in [("since", &f.since), ("until", &f.until)] {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={}", enc(&to_unix(v))));
        }
    }
    let tty = match c.get::<Value>(&format!("/containers/{}/json", enc(&f.container))).await {
        Ok(v) => v["Config"]["Tty"].as_bool().unwrap_or(false),
        Err(e) => return fail(&e, 1),
    };
    let resp = match c
        .send(
            Method::GET,
            &format!("/containers/{}/logs{q}", enc(&f.container)),
            Body::Empty,
        )
        .await
    {
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

async fn export(c: &Client, container: &str, output: Option<String>) -> Exit {
    if output.is_none() && nix::unistd::isatty(1).unwrap_or(false) {
        eprintln!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        return Exit(1);
    }
    let resp = match c
        .send(
            Method::GET,
            &format!("/containers/{}/export", enc(container)),
            Body::Empty,
        )
        .await
    {
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

async fn images(c: &Client, quiet: bool, no_trunc: bool, repository: Option<String>) -> Exit {
    let q = match &repository {
        Some(r) => format!("?filters={}", enc(&serde_json::json!({"reference": [r]}).to_string())),
        None => String::new(),
    };
    let list: Vec<ImageSummary> = match c.get(&format!("/images/json{q}")).await {
        Ok(l) => l,
        Err(e) => return fail(&e, 1),
    };
    let short = |id: &str| {
        if no_trunc {
            id.to_string()
        } else {
            id.trim_start_matches("sha256:")[..12].to_string()
        }
    };
    if quiet {
        for i in &list {
            println!("{}", short(&i.id));
        }
        return Exit(0);
    }
    let mut rows = vec![["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
        .map(String::from)
        .to_vec()];
    for i in &list {
        let tags = if i.repo_tags.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            i.repo_tags.clone()
        };
        for t in tags {
            let (repo, tag) = split_tag(&t);
            rows.push(vec![repo, tag, short(&i.id), ago(i.created), size(i.size)]);
        }
    }
    print!("{}", table(&rows));
    Exit(0)
}

async fn import(
    c: &Client,
    file: &str,
    reference: Option<String>,
    changes: Vec<String>,
    message: Option<String>,
) -> Exit {
    let data = if file == "-" {
        let mut v = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut v) {
            eprintln!("reading stdin: {e}");
            return Exit(1);
        }
        v
    } else {
        match std::fs::read(file) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("open {file}: {e}");
                return Exit(1);
            }
        }
    };
    let mut q = String::from("?fromSrc=-");
    if let Some(r) = &reference {
        let (repo, tag) = split_tag(r);
        q.push_str(&format!("&repo={}&tag={}", enc(&repo), enc(&tag)));
    }
    if !changes.is_empty() {
        q.push_str(&format!(
            "&changes={}",
            enc(&serde_json::to_string(&changes).unwrap_or_default())
        ));
    }
    if let Some(m) = &message {
        q.push_str(&format!("&message={}", enc(m)));
    }
    match c
        .send(
            Method::POST,
            &format!("/images/create{q}"),
            Body::Raw(data, "application/x-tar"),
        )
        .await
    {
        Ok(resp) => {
            let body = skiff_client::body_bytes(resp).await;
            for line in String::from_utf8_lossy(&body).lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line) {
                    if let Some(s) = v["status"].as_str() {
                        println!("{s}");
                    }
                    if let Some(e) = v["error"].as_str() {
                        eprintln!("{e}");
                        return Exit(1);
                    }
                }
            }
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}

async fn version(c: &Client) -> Exit {
    println!(
        "Client:\n Version:           {}\n API version:       {}\n OS/Arch:           linux/{}",
        env!("CARGO_PKG_VERSION"),
        skiff_api::API_VERSION,
        std::env::consts::ARCH
    );
    match c.get::<Value>("/version").await {
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

async fn info(c: &Client) -> Exit {
    let v = match c.get::<Value>("/info").await {
        Ok(v) => v,
        Err(e) => return fail(&e, 1),
    };
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
                super::format::binary(n.description.resources.memory_bytes as f64)
            );
        }
    }
    line("Kernel Version", s("KernelVersion"));
    line("Operating System", s("OperatingSystem"));
    line("OSType", s("OSType"));
    line("Architecture", s("Architecture"));
    line("CPUs", s("NCPU"));
    line(
        "Total Memory",
        super::format::binary(v["MemTotal"].as_f64().unwrap_or(0.0)),
    );
    line("Name", s("Name"));
    line("ID", s("ID"));
    line("Docker Root Dir", s("DockerRootDir"));
    line("Debug Mode", s("Debug"));
    Exit(0)
}

/// `skiff events`: Docker's text lines, or one template/JSON line each.
async fn events(
    c: &Client,
    since: Option<String>,
    until: Option<String>,
    filter: Vec<String>,
    format: Option<String>,
) -> Exit {
    let mut q = Vec::new();
    for (k, v) in [("since", since), ("until", until)] {
        let Some(v) = v else { continue };
        match skiff_api::events::parse_time(&v) {
            Ok(n) => q.push(format!(
                "{k}={}.{:09}",
                n.div_euclid(1_000_000_000),
                n.rem_euclid(1_000_000_000)
            )),
            Err(e) => {
                eprintln!("{e}");
                return Exit(125);
            }
        }
    }
    let mut filters: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in &filter {
        let Some((k, v)) = f.split_once('=') else {
            eprintln!("invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)");
            return Exit(125);
        };
        filters.entry(k.to_string()).or_default().push(v.to_string());
    }
    if !filters.is_empty() {
        q.push(format!(
            "filters={}",
            enc(&serde_json::to_string(&filters).unwrap_or_default())
        ));
    }
    let path = if q.is_empty() {
        "/events".to_string()
    } else {
        format!("/events?{}", q.join("&"))
    };
    let mut lines = match c.send(Method::GET, &path, Body::Empty).await {
        Ok(r) => skiff_client::Lines::new(r),
        Err(e) => return fail(&e, 1),
    };
    while let Some(line) = lines.next().await {
        let Ok(ev) = serde_json::from_slice::<skiff_api::events::Event>(&line) else {
            continue;
        };
        let out = match format.as_deref() {
            None => ev.line(),
            Some("json") => String::from_utf8_lossy(&line).trim().to_string(),
            Some(fmt) => match template(fmt, &serde_json::to_value(&ev).unwrap_or_default()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return Exit(1);
                }
            },
        };
        println!("{out}");
    }
    Exit(0)
}
