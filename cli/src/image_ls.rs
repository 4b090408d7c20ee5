//! `skiff images` / `skiff image ls`: Docker's table (one row per
//! repository and tag, digests under `--digests`), `-q`, `--filter` and
//! `--format`.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::json;

use super::format::{ago, custom, size, table};
use super::util::print_rows;
use super::{fail, Exit};
use skiff_api::ImageSummary;
use skiff_client::{Client, Filters};

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided (dangling, reference, label, before, since)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print images using a Go template
    #[arg(long)]
    pub format: Option<String>,
    pub repository: Option<String>,
}

const COLUMNS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

/// An image's rows as Docker lists them: (repository, tag, digest).
fn repo_rows(i: &ImageSummary) -> Vec<(String, String, String)> {
    let mut repos: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for d in &i.repo_digests {
        if let Some((repo, dg)) = d.rsplit_once('@') {
            repos.entry(repo.to_string()).or_default().1.push(dg.to_string());
        }
    }
    for t in &i.repo_tags {
        let (repo, tag) = match t.rsplit_once(':') {
            Some((r, tag)) if !tag.contains('/') => (r, tag),
            _ => (t.as_str(), ""),
        };
        repos.entry(repo.to_string()).or_default().0.push(tag.to_string());
    }
    let none = || "<none>".to_string();
    let mut rows = Vec::new();
    for (repo, (tags, digests)) in repos {
        let tags = if tags.is_empty() { vec![none()] } else { tags };
        for tag in tags {
            if digests.is_empty() {
                rows.push((repo.clone(), tag.clone(), none()));
            }
            for d in &digests {
                rows.push((repo.clone(), tag.clone(), d.clone()));
            }
        }
    }
    if rows.is_empty() {
        rows.push((none(), none(), none()));
    }
    rows
}

fn filters(a: &ImagesArgs) -> Result<Filters, Exit> {
    let mut f = Filters::new();
    for kv in &a.filter {
        let Some((k, v)) = kv.split_once('=') else {
            eprintln!(
                "invalid argument \"{kv}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"
            );
            return Err(Exit(125));
        };
        f.entry(k.to_string()).or_default().push(v.to_string());
    }
    if let Some(r) = &a.repository {
        f.entry("reference".into()).or_default().push(r.clone());
    }
    Ok(f)
}

pub async fn images(c: &Client, a: ImagesArgs) -> Exit {
    let f = match filters(&a) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let list = match c.images_list_filtered(&f).await {
        Ok(l) => l,
        Err(e) => return fail(&e, 1),
    };
    let short = |id: &str| {
        if a.no_trunc {
            id.to_string()
        } else {
            id.trim_start_matches("sha256:")[..12].to_string()
        }
    };
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for i in list.iter().filter(|i| seen.insert(i.id.clone())) {
            println!("{}", short(&i.id));
        }
        return Exit(0);
    }
    let mut values = Vec::new();
    for i in &list {
        for (repo, tag, digest) in repo_rows(i) {
            values.push(json!({
                "ID": short(&i.id),
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": ago(i.created),
                "CreatedAt": chrono::DateTime::from_timestamp(i.created, 0).map(|d| d.to_string()).unwrap_or_default(),
                "Size": size(i.size),
                "VirtualSize": size(i.virtual_size),
                "SharedSize": if i.shared_size < 0 { "N/A".to_string() } else { size(i.shared_size) },
                "UniqueSize": if i.shared_size < 0 { "N/A".to_string() } else { size(i.size - i.shared_size) },
                "Containers": if i.containers < 0 { "N/A".to_string() } else { i.containers.to_string() },
            }));
        }
    }
    if let Some(fmt) = custom(a.format) {
        return print_rows(&values, &fmt, COLUMNS);
    }
    let mut head = vec!["REPOSITORY", "TAG"];
    if a.digests {
        head.push("DIGEST");
    }
    head.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let mut rows = vec![head.into_iter().map(String::from).collect::<Vec<_>>()];
    for v in &values {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let mut row = vec![s("Repository"), s("Tag")];
        if a.digests {
            row.push(s("Digest"));
        }
        row.extend([s("ID"), s("CreatedSince"), s("Size")]);
        rows.push(row);
    }
    print!("{}", table(&rows));
    Exit(0)
}
