//! What every command family shares: one request per name, `inspect`
//! and its printing, `… prune` with its confirmation.

use std::io::Write;

use hyper::Method;
use serde_json::Value;

use super::format::{listing, Format};
use super::{fail, Exit};
use skiff_client::{enc, Body, Client, ClientError};

/// Run `f` for each name; print the name on success, the error otherwise.
pub(super) async fn each<F, Fut>(names: &[String], f: F) -> Exit
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
    map: fn(ClientError) -> ClientError,
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
    map: fn(ClientError) -> ClientError,
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

fn confirm(prompt: &str) -> bool {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut s = String::new();
    let _ = std::io::stdin().read_line(&mut s);
    matches!(s.trim(), "y" | "Y" | "yes")
}

/// `skiff inspect [--type]`: each name as a container, an image or a
/// network (the first that answers, within `kind`).
pub(super) async fn inspect(c: &Client, names: Vec<String>, format: Option<String>, kind: Option<&str>) -> Exit {
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
