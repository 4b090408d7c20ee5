//! Images: `images`, `import`, `tag`, `rmi` (and `image …`).

use hyper::Method;
use serde_json::Value;

use super::format::{ago, size, table};
use super::{fail, Exit, ImportArgs, RmiArgs, TagArgs};
use skiff_api::ImageSummary;
use skiff_client::{enc, Body, Client};

/// "repo:tag" → (repo, tag), minding registry ports ("host:5000/x").
fn split_tag(r: &str) -> (String, String) {
    match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (r.to_string(), String::new()),
    }
}

/// `skiff images`: IDs (`-q`) or Docker's table, one row per tag.
pub async fn images(c: &Client, quiet: bool, no_trunc: bool, repository: Option<String>) -> Exit {
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

/// `skiff import FILE|- [REF]`: the tar (or stdin) as a one-layer image.
pub async fn import(c: &Client, a: ImportArgs) -> Exit {
    let ImportArgs {
        changes,
        message,
        file,
        reference,
    } = a;
    let data = if file == "-" {
        let mut v = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut v) {
            eprintln!("reading stdin: {e}");
            return Exit(1);
        }
        v
    } else {
        match std::fs::read(&file) {
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

pub async fn tag(c: &Client, a: TagArgs) -> Exit {
    let (repo, tag) = split_tag(&a.target);
    let path = format!("/images/{}/tag?repo={}&tag={}", a.source, enc(&repo), enc(&tag));
    match c.post(&path, Body::Empty).await {
        Ok(()) => Exit(0),
        Err(e) => fail(&e, 1),
    }
}

/// `skiff rmi`: what each removal untagged and deleted.
pub async fn rmi(c: &Client, a: RmiArgs) -> Exit {
    let mut code = 0;
    for i in &a.images {
        let q = if a.force { "?force=1" } else { "" };
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
