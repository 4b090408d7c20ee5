//! Images: `images`, `pull`, `save`, `load`, `import`, `tag`, `rmi` (and
//! `image …`).

use serde_json::Value;

use super::format::size;
use super::{fail, Exit, ImportArgs, LoadArgs, PullArgs, PushArgs, RmiArgs, SaveArgs, TagArgs};
use skiff_api::JsonMessage;
use skiff_client::{Client, ImportOptions};

/// "repo:tag" → (repo, tag), minding registry ports ("host:5000/x").
fn split_tag(r: &str) -> (String, String) {
    match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (r.to_string(), String::new()),
    }
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
    let o = ImportOptions {
        target: reference.as_deref().map(split_tag),
        changes,
        message,
    };
    match c.image_import(data, &o).await {
        Ok(body) => {
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

/// Pull `reference`, printing Docker's progress lines (`id: status`) to
/// stdout or, for `run`/`create`, to stderr. Errors are returned as the
/// daemon worded them.
pub async fn pull_image(
    c: &Client,
    reference: &str,
    platform: Option<&str>,
    quiet: bool,
    to_stderr: bool,
) -> Result<(), String> {
    let auth = super::auth::header_for(reference);
    let lines = c
        .image_pull(reference, platform, auth.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    show_progress(lines, quiet, to_stderr).await
}

/// Docker's progress lines (`id: status`) of a pull, to stdout or stderr;
/// the daemon's error if the stream ends in one.
async fn show_progress(mut lines: skiff_client::Lines, quiet: bool, to_stderr: bool) -> Result<(), String> {
    while let Some(line) = lines.next().await {
        let Ok(m) = serde_json::from_slice::<JsonMessage>(&line) else {
            continue;
        };
        if let Some(e) = m.error_detail {
            return Err(e.message);
        }
        if quiet || m.status.is_empty() {
            continue;
        }
        let text = if m.id.is_empty() {
            m.status
        } else {
            format!("{}: {}", m.id, m.status)
        };
        if to_stderr {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }
    Ok(())
}

/// `skiff push [-q] NAME[:TAG]`: Docker's progress lines, then the digest.
pub async fn push(c: &Client, a: PushArgs) -> Exit {
    let tagged = is_tagged(&a.name);
    if a.all_tags && tagged {
        eprintln!("tag can't be used with --all-tags/-a");
        return Exit(1);
    }
    if !tagged && !a.all_tags && !a.quiet {
        println!("Using default tag: latest");
    }
    let auth = super::auth::header_for(&a.name);
    let pushed = if a.all_tags {
        c.image_push_all(&a.name, auth.as_deref()).await
    } else {
        c.image_push(&a.name, auth.as_deref()).await
    };
    let mut lines = match pushed {
        Ok(l) => l,
        Err(e) => return fail(&e, 1),
    };
    while let Some(line) = lines.next().await {
        let Ok(m) = serde_json::from_slice::<JsonMessage>(&line) else {
            continue;
        };
        if let Some(e) = m.error_detail {
            eprintln!("{}", e.message);
            return Exit(1);
        }
        if a.quiet || m.status.is_empty() {
            continue;
        }
        if m.id.is_empty() {
            println!("{}", m.status);
        } else {
            println!("{}: {}", m.id, m.status);
        }
    }
    if a.quiet {
        println!("{}", shown_name(&a.name, a.all_tags));
    }
    Exit(0)
}

/// Whether a reference names a tag or a digest (`reg:5000/app` does not).
fn is_tagged(name: &str) -> bool {
    name.contains('@') || name.rsplit('/').next().unwrap_or_default().contains(':')
}

/// The reference as Docker's client prints it at the end: fully
/// qualified, without the default tag for `--all-tags`.
fn shown_name(name: &str, all_tags: bool) -> String {
    let q = skiff_api::qualified_reference(name);
    match q.strip_suffix(":latest") {
        Some(repo) if all_tags => repo.to_string(),
        _ => q,
    }
}

/// `skiff pull [-q] [--platform P] NAME[:TAG|@DIGEST]`.
pub async fn pull(c: &Client, a: PullArgs) -> Exit {
    let tagged = is_tagged(&a.name);
    if a.all_tags && tagged {
        eprintln!("tag can't be used with --all-tags/-a");
        return Exit(1);
    }
    let pulled = if a.all_tags {
        let auth = super::auth::header_for(&a.name);
        match c.image_pull_all(&a.name, a.platform.as_deref(), auth.as_deref()).await {
            Ok(lines) => show_progress(lines, a.quiet, false).await,
            Err(e) => Err(e.to_string()),
        }
    } else {
        pull_image(c, &a.name, a.platform.as_deref(), a.quiet, false).await
    };
    match pulled {
        Ok(()) => {
            println!("{}", shown_name(&a.name, a.all_tags));
            Exit(0)
        }
        Err(e) => {
            eprintln!("{e}");
            Exit(1)
        }
    }
}

/// `skiff save [-o FILE] IMAGE…`: the archive to a file or stdout (never
/// to a terminal).
pub async fn save(c: &Client, a: SaveArgs) -> Exit {
    use http_body_util::BodyExt;
    use std::io::Write;
    if a.output.is_none() && nix::unistd::isatty(1).unwrap_or(false) {
        eprintln!("Cowardly refusing to save to a terminal. Use the -o flag or redirect");
        return Exit(1);
    }
    let resp = match c.image_save(&a.images).await {
        Ok(r) => r,
        Err(e) => return fail(&e, 1),
    };
    let (tmp, mut out): (Option<String>, Box<dyn Write>) = match &a.output {
        Some(path) => {
            let tmp = format!("{path}.skiff-tmp");
            match std::fs::File::create(&tmp) {
                Ok(f) => (Some(tmp), Box::new(std::io::BufWriter::new(f))),
                Err(e) => {
                    eprintln!("failed to save image: {path}: {e}");
                    return Exit(1);
                }
            }
        }
        None => (None, Box::new(std::io::stdout().lock())),
    };
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let written = match frame {
            Ok(f) => f.into_data().map_or(Ok(()), |d| out.write_all(&d)),
            Err(e) => Err(std::io::Error::other(e)),
        };
        if let Err(e) = written {
            eprintln!("failed to save image: {e}");
            if let Some(t) = &tmp {
                let _ = std::fs::remove_file(t);
            }
            return Exit(1);
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("failed to save image: {e}");
        return Exit(1);
    }
    drop(out);
    if let (Some(t), Some(path)) = (&tmp, &a.output) {
        if let Err(e) = std::fs::rename(t, path) {
            eprintln!("failed to save image: {path}: {e}");
            return Exit(1);
        }
    }
    Exit(0)
}

/// `skiff load [-i FILE] [-q]`: images from an archive (stdin by default).
pub async fn load(c: &Client, a: LoadArgs) -> Exit {
    let data = match &a.input {
        Some(p) => std::fs::read(p).map_err(|e| format!("open {p}: {e}")),
        None => {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
                .map(|_| v)
                .map_err(|e| format!("reading stdin: {e}"))
        }
    };
    let data = match data {
        Ok(d) if d.is_empty() => {
            eprintln!("requested load from stdin, but stdin is empty");
            return Exit(1);
        }
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return Exit(1);
        }
    };
    match c.image_load(data, a.quiet).await {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            Exit(0)
        }
        Err(e) => fail(&e, 1),
    }
}

/// `skiff image prune [-a] [-f] [--filter label=…]`.
pub async fn prune(c: &Client, all: bool, force: bool, filter: &[String]) -> Exit {
    let warning = if all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !force && !super::util::confirm(&format!("{warning}\nAre you sure you want to continue? [y/N] ")) {
        return Exit(0);
    }
    let v = match c.images_prune(all, &super::util::filters(filter)).await {
        Ok(v) => v,
        Err(e) => return fail(&e, 1),
    };
    let items = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted Images:");
        for it in &items {
            if let Some(u) = it["Untagged"].as_str() {
                println!("untagged: {u}");
            }
            if let Some(d) = it["Deleted"].as_str() {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        size(v["SpaceReclaimed"].as_i64().unwrap_or(0))
    );
    Exit(0)
}

pub async fn tag(c: &Client, a: TagArgs) -> Exit {
    let (repo, tag) = split_tag(&a.target);
    match c.image_tag(&a.source, &repo, &tag).await {
        Ok(()) => Exit(0),
        Err(e) => fail(&e, 1),
    }
}

/// `skiff rmi`: what each removal untagged and deleted.
pub async fn rmi(c: &Client, a: RmiArgs) -> Exit {
    let mut code = 0;
    for i in &a.images {
        match c.image_remove(i, a.force).await {
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
