//! `skiff history` / `skiff image history`: Docker's table (IMAGE,
//! CREATED, CREATED BY, SIZE, COMMENT), `--no-trunc`, `-q`, `-H` and
//! `--format`, from `GET /images/{name}/history`.

use std::ffi::OsString;

use clap::{ArgAction, Args};
use serde_json::{json, Value};

use super::format::{ago, custom, human, table, trunc};
use super::util::print_rows;
use super::{fail, Exit};
use skiff_client::Client;

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format (also -H after
    /// `history`, see `human_flag`)
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Pretty-print images using a Go template
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

const COLUMNS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// Docker's `history -H` is `--human`, while skiff's global `-H` is the
/// host (as Docker's): after the `history` command word, `-H` and
/// `-H=VALUE` become `--human[=VALUE]` before clap sees them.
pub fn human_flag(args: Vec<OsString>) -> Vec<OsString> {
    // Global options that take a value, so their value is not a command word.
    const VALUED: &[&str] = &["-H", "--host", "--tlscacert", "--tlscert", "--tlskey", "--node"];
    let text = |i: usize| args[i].to_str().unwrap_or("");
    let (mut words, mut at, mut i) = (0, None, 1);
    while i < args.len() && at.is_none() {
        let a = text(i);
        if VALUED.contains(&a) {
            i += 1;
        } else if !a.starts_with('-') {
            words += 1;
            match (words, a) {
                (1, "history") | (2, "history") => at = Some(i),
                (1, "image") => {}
                _ => break,
            }
        }
        i += 1;
    }
    let Some(at) = at else { return args };
    args.into_iter()
        .enumerate()
        .map(|(i, a)| match a.to_str() {
            Some("-H") if i > at => OsString::from("--human"),
            Some(t) if i > at && t.starts_with("-H=") => OsString::from(format!("--human={}", &t[3..])),
            _ => a,
        })
        .collect()
}

/// Docker's `stringid.TruncateID`: no algorithm, 12 characters.
fn short_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, h)| h);
    id.chars().take(12).collect()
}

/// One step as Docker's history formatter shows it.
fn row(h: &Value, a: &HistoryArgs) -> Value {
    let id = h["Id"].as_str().unwrap_or_default();
    let created = h["Created"].as_i64().unwrap_or_default();
    let created_at = chrono::DateTime::from_timestamp(created, 0)
        .map(|d| {
            d.with_timezone(&chrono::Local)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_default();
    let by = h["CreatedBy"].as_str().unwrap_or_default().replace('\t', " ");
    let size = h["Size"].as_i64().unwrap_or_default();
    json!({
        "ID": if a.no_trunc { id.to_string() } else { short_id(id) },
        "CreatedSince": if a.human { ago(created) } else { created_at.clone() },
        "CreatedAt": created_at,
        "CreatedBy": if a.no_trunc { by } else { trunc(&by, 45) },
        "Size": if a.human { human(size as f64, 3) } else { size.to_string() },
        "Comment": h["Comment"].as_str().unwrap_or_default(),
    })
}

pub async fn history(c: &Client, a: HistoryArgs) -> Exit {
    let steps: Vec<Value> = match c.image_history(&a.image).await {
        Ok(s) => s,
        Err(e) => return fail(&e, 1),
    };
    let rows: Vec<Value> = steps.iter().map(|h| row(h, &a)).collect();
    if a.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or_default());
        }
        return Exit(0);
    }
    if let Some(fmt) = custom(a.format.clone()) {
        return print_rows(&rows, &fmt, COLUMNS);
    }
    // Docker's non-human table shows CreatedAt under its own name.
    let created = if a.human { "CREATED" } else { "CREATED AT" };
    let mut out = vec![["IMAGE", created, "CREATED BY", "SIZE", "COMMENT"]
        .map(String::from)
        .to_vec()];
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
        out.push(vec![
            s("ID"),
            s("CreatedSince"),
            s("CreatedBy"),
            s("Size"),
            s("Comment"),
        ]);
    }
    print!("{}", table(&out));
    Exit(0)
}

#[cfg(test)]
mod tests {
    use super::human_flag;

    fn v(s: &str) -> Vec<std::ffi::OsString> {
        s.split(' ').map(Into::into).collect()
    }

    #[test]
    fn dash_h_after_history_is_human() {
        for (args, want) in [
            (
                "skiff -H unix:///s history -H=false img",
                "skiff -H unix:///s history --human=false img",
            ),
            ("skiff image history -H img", "skiff image history --human img"),
            ("skiff -H unix:///s ps -H x", "skiff -H unix:///s ps -H x"),
            ("skiff run busybox history -H", "skiff run busybox history -H"),
        ] {
            assert_eq!(human_flag(v(args)), v(want), "{args}");
        }
    }
}
