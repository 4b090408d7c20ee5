//! `skiff search TERM`: Docker's table (NAME, DESCRIPTION, STARS,
//! OFFICIAL, AUTOMATED), `--limit`, `--filter`, `--format`, `--no-trunc`,
//! from `GET /images/search` (a registry's catalog, see the agent).

use clap::Args;
use serde_json::{json, Value};

use super::format::{custom, table, trunc};
use super::util::{filters, print_rows};
use super::{fail, Exit};
use skiff_client::Client;

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Filter output based on conditions provided (stars, is-official, is-automated)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: i64,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    pub term: String,
}

const COLUMNS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
    ("IsAutomated", "AUTOMATED"),
];

/// One result as Docker's search formatter shows it.
fn row(r: &Value, no_trunc: bool) -> Value {
    let desc = r["description"].as_str().unwrap_or_default().replace(['\n', '\r'], " ");
    let ok = |k: &str| if r[k].as_bool().unwrap_or(false) { "[OK]" } else { "" };
    json!({
        "Name": r["name"].as_str().unwrap_or_default(),
        "Description": if no_trunc { desc } else { trunc(&desc, 45) },
        "StarCount": r["star_count"].as_u64().unwrap_or(0).to_string(),
        "IsOfficial": ok("is_official"),
        "IsAutomated": ok("is_automated"),
    })
}

pub async fn search(c: &Client, a: SearchArgs) -> Exit {
    let auth = super::auth::header_for(&a.term);
    let found = match c
        .images_search(&a.term, Some(a.limit), &filters(&a.filter), auth.as_deref())
        .await
    {
        Ok(f) => f,
        Err(e) => return fail(&e, 1),
    };
    let rows: Vec<Value> = found.iter().map(|r| row(r, a.no_trunc)).collect();
    if let Some(fmt) = custom(a.format) {
        return print_rows(&rows, &fmt, COLUMNS);
    }
    let mut out = vec![COLUMNS.iter().map(|(_, h)| h.to_string()).collect::<Vec<_>>()];
    for r in &rows {
        out.push(
            COLUMNS
                .iter()
                .map(|(k, _)| r[*k].as_str().unwrap_or_default().to_string())
                .collect(),
        );
    }
    print!("{}", table(&out));
    Exit(0)
}
