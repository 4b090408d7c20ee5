//! What every command family shares: one request per name, `inspect`
//! and its printing, `… prune` with its confirmation.

use std::future::Future;
use std::io::Write;

use serde_json::Value;

use super::format::{listing, Format};
use super::{fail, Exit};
use skiff_client::{Client, ClientError, Filters};

/// Run `f` for each name; print the name on success, the error otherwise.
pub(super) async fn each<F, Fut>(names: &[String], f: F) -> Exit
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), ClientError>>,
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

/// How many requests the container verbs have in flight at once (the
/// docker CLI's limit).
const PARALLEL: usize = 50;

/// `each`, as the docker CLI's container verbs do it: the requests in
/// parallel, the results printed in argument order. Returns the names
/// that failed (their errors already printed).
pub(super) async fn each_parallel<F, Fut>(names: &[String], f: F) -> Vec<String>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), ClientError>>,
{
    use futures_util::StreamExt;
    let mut results = futures_util::stream::iter(names.iter().map(|n| {
        let fut = f(n.clone());
        async move { (n, fut.await) }
    }))
    .buffered(PARALLEL);
    let mut failed = Vec::new();
    while let Some((n, r)) = results.next().await {
        match r {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(n.clone());
            }
        }
    }
    failed
}

/// A `… prune` command: confirm unless `force`, send `request` (the
/// client's prune call), list what went under `title`. Returns the
/// daemon's answer (None: not confirmed; the request is never sent).
pub(super) async fn prune(
    request: impl Future<Output = Result<Value, ClientError>>,
    key: &str,
    title: &str,
    warning: &str,
    force: bool,
) -> Result<Option<Value>, Exit> {
    if !force && !confirm(&format!("{warning}\nAre you sure you want to continue? [y/N] ")) {
        return Ok(None);
    }
    let v = request.await.map_err(|e| fail(&e, 1))?;
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

/// The end of a prune that frees space: a blank line after the list (if
/// anything went), then Docker's total.
pub(super) fn print_reclaimed(v: &Value, key: &str) -> Exit {
    if v[key].as_array().is_some_and(|a| !a.is_empty()) {
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        super::format::size(v["SpaceReclaimed"].as_i64().unwrap_or(0))
    );
    Exit(0)
}

/// `inspect` of several objects: `get` each name (errors already reworded,
/// e.g. "not a controller"), then print as `print_values` does.
pub(super) async fn inspect_each<F, Fut>(names: &[String], get: F, format: Option<&str>) -> Exit
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Value, ClientError>>,
{
    let mut out = Vec::new();
    let mut code = 0;
    for n in names {
        match get(n.clone()).await {
            Ok(v) => out.push(v),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    print_values(&out, format, code)
}

/// Print inspect results: a JSON array, or one template line each.
pub(super) fn print_values(out: &[Value], format: Option<&str>, code: i32) -> Exit {
    match format {
        Some(fmt) => {
            let fmt = match Format::parse(fmt) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("{e}");
                    return Exit(1);
                }
            };
            for v in out {
                match fmt.render(v) {
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

/// Print a listing's `--format` (see `format::listing`); a template that
/// fails prints nothing but the error.
pub(super) fn print_rows(rows: &[Value], format: &str, names: &[(&str, &str)]) -> Exit {
    match listing(format, rows, names) {
        Ok(s) => {
            print!("{s}");
            Exit(0)
        }
        Err(e) => {
            eprintln!("{e}");
            Exit(1)
        }
    }
}

/// `--filter key=value` flags as the API's filters (a bare `key` has an
/// empty value).
pub(super) fn filters(list: &[String]) -> Filters {
    let mut f = Filters::new();
    for item in list {
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        f.entry(k.to_string()).or_default().push(v.to_string());
    }
    f
}

pub(super) fn confirm(prompt: &str) -> bool {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut s = String::new();
    let _ = std::io::stdin().read_line(&mut s);
    matches!(s.trim(), "y" | "Y" | "yes")
}

/// `skiff inspect [--type]`: each name as a container, an image, a volume
/// or a network (the first that answers, within `kind`).
pub(super) async fn inspect(c: &Client, names: Vec<String>, format: Option<String>, kind: Option<&str>) -> Exit {
    if let Some(k) = kind.filter(|k| !["container", "image", "volume", "network"].contains(k)) {
        eprintln!("\"{k}\" is not a valid value for --type");
        return Exit(1);
    }
    let mut out = Vec::new();
    let mut code = 0;
    let tries = |k: &str| kind.is_none_or(|t| t == k);
    for n in &names {
        let mut found = None;
        if tries("container") {
            found = c.container_inspect_raw(n).await.ok();
        }
        if found.is_none() && tries("image") {
            found = c.image_inspect_raw(n).await.ok();
        }
        if found.is_none() && tries("volume") {
            found = c.volume_inspect_raw(n).await.ok();
        }
        if found.is_none() && tries("network") {
            found = c.network_inspect_raw(n).await.ok();
        }
        match found {
            Some(v) => out.push(v),
            None => {
                match kind {
                    Some("container") => eprintln!("Error: No such container: {n}"),
                    Some("image") => eprintln!("Error: No such image: {n}"),
                    Some("volume") => eprintln!("Error: No such volume: {n}"),
                    Some("network") => eprintln!("Error: No such network: {n}"),
                    _ => eprintln!("Error: No such object: {n}"),
                }
                code = 1;
            }
        }
    }
    print_values(&out, format.as_deref(), code)
}
