//! `skiff system prune`: Docker's confirmation, then the prunes in
//! Docker's order (containers, networks, volumes with `--volumes`, images,
//! build cache), each printing what it deleted, then the space reclaimed.

use clap::Args;
use serde_json::Value;
use skiff_client::{Client, ClientError, Filters};

use super::{fail, format, util, Exit};

#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune volumes
    #[arg(long)]
    pub volumes: bool,
}

/// Docker's warning: what will go, and the filters when given.
fn confirmation(a: &SystemPruneArgs) -> String {
    let mut what = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if a.volumes {
        what.push("all volumes not used by at least one container");
    }
    what.push(if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    what.push(if a.all {
        "all build cache"
    } else {
        "all dangling build cache"
    });
    let mut out = String::from("WARNING! This will remove:\n");
    for w in what {
        out += &format!("  - {w}\n");
    }
    let mut filters = a.filter.clone();
    filters.sort();
    if !filters.is_empty() {
        out += "\n  Items to be pruned will be filtered with:\n";
        for f in filters {
            out += &format!("  - {f}\n");
        }
    }
    out + "\nAre you sure you want to continue? [y/N] "
}

/// The names a prune answered under `key`, as its `title`d list.
fn listed(v: &Value, key: &str, title: &str) -> Option<String> {
    // Build cache IDs are shown at BuildKit's length, as `builder prune`.
    let width = if key == "CachesDeleted" { 25 } else { usize::MAX };
    let items: Vec<&str> = v[key]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(|s| &s[..s.len().min(width)])
        .collect();
    (!items.is_empty()).then(|| format!("{title}\n{}\n", items.join("\n")))
}

/// `Deleted Images:` with Docker's `untagged:`/`deleted:` lines.
fn images_listed(v: &Value) -> Option<String> {
    let items = v["ImagesDeleted"].as_array().filter(|a| !a.is_empty())?;
    let mut out = String::from("Deleted Images:\n");
    for it in items {
        if let Some(u) = it["Untagged"].as_str() {
            out += &format!("untagged: {u}\n");
        }
        if let Some(d) = it["Deleted"].as_str() {
            out += &format!("deleted: {d}\n");
        }
    }
    Some(out)
}

pub async fn system_prune(c: &Client, a: SystemPruneArgs) -> Exit {
    let filters = util::filters(&a.filter);
    if a.volumes && filters.contains_key("until") {
        eprintln!("ERROR: The \"until\" filter is not supported with \"--volumes\"");
        return Exit(1);
    }
    if !a.force && !util::confirm(&confirmation(&a)) {
        return Exit(0);
    }
    match run(c, &a, &filters).await {
        Ok(reclaimed) => {
            println!("Total reclaimed space: {}", format::size(reclaimed));
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}

/// Each prune in turn, printing its list as it answers; the bytes freed.
async fn run(c: &Client, a: &SystemPruneArgs, filters: &Filters) -> Result<i64, ClientError> {
    let mut reclaimed = 0;
    let mut report = |v: &Value, list: Option<String>| {
        reclaimed += v["SpaceReclaimed"].as_i64().unwrap_or(0);
        if let Some(l) = list {
            println!("{l}");
        }
    };
    let v = c.containers_prune(filters).await?;
    report(&v, listed(&v, "ContainersDeleted", "Deleted Containers:"));
    let v = c.networks_prune(filters).await?;
    report(&v, listed(&v, "NetworksDeleted", "Deleted Networks:"));
    if a.volumes {
        let v = serde_json::to_value(c.volumes_prune(filters).await?).unwrap_or_default();
        report(&v, listed(&v, "VolumesDeleted", "Deleted Volumes:"));
    }
    let v = c.images_prune(a.all, filters).await?;
    report(&v, images_listed(&v));
    let until = filters.get("until").and_then(|u| u.first()).map(String::as_str);
    let v = c.build_prune(a.all, until).await?;
    report(&v, listed(&v, "CachesDeleted", "Deleted build cache objects:"));
    Ok(reclaimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_is_dockers() {
        let a = SystemPruneArgs {
            all: false,
            filter: vec![],
            force: false,
            volumes: false,
        };
        assert_eq!(
            confirmation(&a),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - all dangling build cache\n\nAre you sure you want to continue? [y/N] "
        );
        let a = SystemPruneArgs {
            all: true,
            filter: vec!["until=1h".into(), "label=a".into()],
            force: false,
            volumes: true,
        };
        assert_eq!(
            confirmation(&a),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all volumes not used by at least one container\n  - all images without at least one container associated to them\n  - all build cache\n\n  Items to be pruned will be filtered with:\n  - label=a\n  - until=1h\n\nAre you sure you want to continue? [y/N] "
        );
    }
}
