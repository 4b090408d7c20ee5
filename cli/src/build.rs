//! `skiff build [OPTIONS] PATH | -`: Docker's classic `docker build`. The
//! context (a directory, stdin, or a tar file) streams to `POST /build`
//! while the answer is drawn by `build_view` (BuildKit-style plain lines, a
//! live terminal view, or the classic text); `-q` prints only the image ID.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Args;

use super::build_view::{Mode, View};
use super::Exit;
use skiff_api::{BuildOptions, CONTEXT_STALE};
use skiff_client::build::registry_config;
use skiff_client::build_context;
use skiff_client::context_sync::Sync;
use skiff_client::{BuildEvent, Client};

/// `skiff build`'s flags.
#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads it from stdin)
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// Set metadata for an image
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set type of progress output (auto, plain, tty)
    #[arg(long, default_value = "auto", value_parser = ["auto", "plain", "tty"])]
    pub progress: String,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=mysecret,env=VAR")
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// The context: a directory, a tar archive, or "-" (a tar or a Dockerfile on stdin)
    pub context: String,
}

/// `skiff build`.
pub async fn build(c: &Client, a: BuildArgs) -> Exit {
    for t in &a.tags {
        if let Err(e) = check_reference(t) {
            eprintln!("invalid argument \"{t}\" for \"-t, --tag\" flag: {e}\nSee 'skiff build --help'.");
            return Exit(125);
        }
    }
    if let Some(f) = &a.iidfile {
        if let Err(e) = std::fs::remove_file(f) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("Removing image ID file: {e}");
                return Exit(1);
            }
        }
    }
    let auths = registry_config(&super::auth::all_credentials());
    let secrets = match read_secrets(&a.secrets, |k| std::env::var_os(k)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Exit(1);
        }
    };
    // A directory context is sent incrementally when the agent keeps it.
    let sync = match sync_key(&a) {
        Some(key) => c.build_context_base(&key).await.map(|base| Sync { key, base }),
        None => None,
    };
    if let Some(exit) = send(c, &a, sync.clone(), &auths, &secrets).await {
        return exit;
    }
    // The kept context changed meanwhile (another build of it): whole.
    let whole = sync.map(|s| Sync {
        key: s.key,
        base: Default::default(),
    });
    send(c, &a, whole, &auths, &secrets)
        .await
        .unwrap_or_else(|| finish(&a, Outcome::default(), None, None))
}

/// The key an incremental context is kept under: a directory context
/// whose Dockerfile is not read from stdin.
fn sync_key(a: &BuildArgs) -> Option<String> {
    if a.context == "-" || a.file.as_deref() == Some("-") || !std::path::Path::new(&a.context).is_dir() {
        return None;
    }
    skiff_client::context_sync::key(&a.context, a.file.as_deref())
}

/// Prepare the context, send the build and follow it to its exit; `None`
/// when the agent refused an incremental context whose base went stale
/// (to send it whole).
async fn send(c: &Client, a: &BuildArgs, sync: Option<Sync>, auths: &str, secrets: &Option<String>) -> Option<Exit> {
    let stdin = Box::new(std::io::stdin());
    let ctx = match build_context::prepare_synced(&a.context, a.file.as_deref(), stdin, sync.clone()) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("{e}");
            return Some(Exit(1));
        }
    };
    let mut view = (!a.quiet).then(|| {
        View::new(
            mode(&a.progress),
            Box::new(std::io::stderr()),
            Box::new(std::io::stdout()),
            terminal_width(),
            Instant::now(),
        )
        .with_sent(ctx.sent.clone())
    });
    let synced = ctx.synced;
    let (body, dockerfile, producer) = ctx.into_body();
    let mut opts = options(a, |k| std::env::var(k).ok());
    opts.dockerfile = dockerfile;
    opts.skiff_progress = view.as_ref().is_some_and(View::wants_progress);
    if let (Some(s), true) = (&sync, synced) {
        opts.context_key = s.key.clone();
        opts.context_base = s.base.token.clone();
    }
    let mut stream = match c
        .image_build_with(&opts, body, auths.to_string(), secrets.clone())
        .await
    {
        Ok(stream) => stream,
        Err(e) if synced && !opts.context_base.is_empty() && e.to_string().contains(CONTEXT_STALE) => {
            let _ = producer.join();
            return None;
        }
        Err(e) => {
            let outcome = Outcome {
                error: Some(e.to_string()),
                ..Default::default()
            };
            return Some(finish(a, outcome, view.as_mut(), Some(producer)));
        }
    };
    let outcome = follow(&mut stream, view.as_mut()).await;
    Some(finish(a, outcome, view.as_mut(), Some(producer)))
}

/// What the answer came to.
#[derive(Default)]
struct Outcome {
    image: Option<String>,
    error: Option<String>,
    /// The text of a quiet build, shown if it fails.
    quiet_text: String,
}

/// Read the answer to its end, drawing it (the live view redrawn every
/// 100 ms).
async fn follow(stream: &mut skiff_client::BuildStream, mut view: Option<&mut View>) -> Outcome {
    let mut out = Outcome::default();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            _ = tick.tick() => {
                if let Some(v) = view.as_deref_mut() {
                    v.tick(Instant::now());
                }
                continue;
            }
        };
        let Some(event) = event else { break };
        match &event {
            BuildEvent::Image(id) => out.image = Some(id.clone()),
            BuildEvent::Error(e) => {
                out.error = Some(e.clone());
                break;
            }
            BuildEvent::Stream(s) if view.is_none() => out.quiet_text.push_str(s),
            _ => {}
        }
        if let Some(v) = view.as_deref_mut() {
            v.event(&event, Instant::now());
        }
    }
    out
}

/// Print the end (the ID for `-q`, `--iidfile`) or the error; the exit code.
fn finish(
    a: &BuildArgs,
    out: Outcome,
    view: Option<&mut View>,
    producer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
) -> Exit {
    let now = Instant::now();
    let error = producer.and_then(context_error).or(out.error).or_else(|| {
        out.image
            .is_none()
            .then(|| "the build ended without an image ID".to_string())
    });
    if let Some(e) = error {
        if let Some(v) = view {
            v.finish(None, now);
        } else {
            eprint!("{}", out.quiet_text);
        }
        eprintln!("{e}");
        return Exit(1);
    }
    let id = out.image.unwrap_or_default();
    if let Some(v) = view {
        v.finish(Some((&id, &a.tags)), now);
    } else {
        println!("{id}");
    }
    if let Some(f) = &a.iidfile {
        if let Err(e) = std::fs::write(f, &id) {
            eprintln!("Failed to write image ID to file: {e}");
            return Exit(1);
        }
    }
    Exit(0)
}

/// Why packing the context failed, if it did (a daemon that stopped
/// reading is not the context's fault; a packer still running is not
/// waited for).
fn context_error(producer: std::thread::JoinHandle<std::io::Result<()>>) -> Option<String> {
    for _ in 0..20 {
        if producer.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if !producer.is_finished() {
        return None;
    }
    match producer.join() {
        Ok(Err(e)) if e.kind() != std::io::ErrorKind::BrokenPipe => Some(e.to_string()),
        _ => None,
    }
}

/// The view `--progress` asks for: `SKIFF_BUILD_PROGRESS=classic` wins;
/// `auto` is the live view on a terminal, plain lines otherwise.
fn mode(progress: &str) -> Mode {
    if std::env::var("SKIFF_BUILD_PROGRESS").is_ok_and(|v| v == "classic") {
        return Mode::Classic;
    }
    let terminal = |fd| nix::unistd::isatty(fd).unwrap_or(false);
    match progress {
        "plain" => Mode::Plain,
        "tty" => Mode::Tty,
        _ if terminal(1) && terminal(2) => Mode::Tty,
        _ => Mode::Plain,
    }
}

/// The columns of the terminal on stderr (80 if it is none).
fn terminal_width() -> usize {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct it is given.
    let ok = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    }
}

/// The query's options from the flags; `env` looks up `--build-arg KEY`
/// (Docker sends a key without a value as `null` when it is not set).
fn options(a: &BuildArgs, env: impl Fn(&str) -> Option<String>) -> BuildOptions {
    let build_args = a
        .build_args
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (kv.clone(), env(kv)),
        })
        .collect();
    let labels: BTreeMap<String, String> = a
        .labels
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    BuildOptions {
        tags: a.tags.clone(),
        dockerfile: String::new(),
        build_args,
        target: a.target.clone().unwrap_or_default(),
        no_cache: a.no_cache,
        pull: a.pull,
        cache_from: a.cache_from.clone(),
        labels,
        network_mode: a.network.clone(),
        extra_hosts: a.add_host.clone(),
        quiet: a.quiet,
        remove: a.rm,
        force_remove: a.force_rm,
        platform: a.platform.clone().unwrap_or_default(),
        ..Default::default()
    }
}

/// `--secret` values read: the `X-Skiff-Build-Secrets` header value, if
/// any. `id=NAME,src=FILE` (or `source=`), `id=NAME,env=VAR`, with an
/// optional `type=file|env`, as buildx parses them.
fn read_secrets(specs: &[String], env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<Option<String>, String> {
    if specs.is_empty() {
        return Ok(None);
    }
    let mut all = BTreeMap::new();
    for spec in specs {
        let (mut id, mut src, mut var, mut kind) = (None, None, None, None);
        for field in spec.split(',') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
            match k.trim().to_lowercase().as_str() {
                "type" if v == "file" || v == "env" => kind = Some(v.to_string()),
                "type" => return Err(format!("unsupported secret type {v:?}")),
                "id" => id = Some(v.to_string()),
                "source" | "src" => src = Some(v.to_string()),
                "env" => var = Some(v.to_string()),
                _ => return Err(format!("unexpected key '{k}' in '{field}'")),
            }
        }
        let id = id
            .or_else(|| src.clone())
            .ok_or_else(|| format!("secret {spec:?}: no id"))?;
        if kind.as_deref() == Some("env") && var.is_none() {
            var = src.take().or_else(|| Some(id.clone()));
        }
        let content = match (src, var) {
            (Some(path), _) => {
                std::fs::read(&path).map_err(|e| format!("failed to read secret {id} from {path}: {e}"))?
            }
            (None, Some(v)) => env(&v)
                .ok_or_else(|| format!("secret {id}: environment variable {v} is not set"))?
                .into_encoded_bytes(),
            (None, None) => match env(&id) {
                Some(val) => val.into_encoded_bytes(),
                None => std::fs::read(&id).map_err(|e| format!("failed to read secret {id}: {e}"))?,
            },
        };
        all.insert(id, content);
    }
    let header = skiff_client::build::secrets_header(&all);
    if header.len() > skiff_api::SECRETS_HEADER_MAX {
        return Err("build secrets are too large: at most about 190 KiB in all".into());
    }
    Ok(Some(header))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, the grammar's path component.
fn path_component(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut rest = s;
    loop {
        let n = rest.find(|c: char| !alnum(c)).unwrap_or(rest.len());
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
        if rest.is_empty() {
            return true;
        }
        let sep = rest.find(alnum).unwrap_or(rest.len());
        let (s, after) = rest.split_at(sep);
        if !(s == "." || s == "_" || s == "__" || s.bytes().all(|b| b == b'-')) {
            return false;
        }
        rest = after;
    }
}

/// `host[:port]`: dot-separated `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`.
fn domain(s: &str) -> bool {
    let (host, port) = s.split_once(':').unwrap_or((s, "1"));
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && host.split('.').all(label)
}

/// Docker's check of a `-t` value (`reference.ParseNormalizedNamed`).
fn check_reference(r: &str) -> Result<(), String> {
    const FORMAT: &str = "invalid reference format";
    let is_hex64 = r.len() == 64 && r.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if is_hex64 {
        return Err(format!(
            "invalid repository name ({r}), cannot specify 64-byte hexadecimal strings"
        ));
    }
    let (rest, digest) = r.split_once('@').map_or((r, None), |(n, d)| (n, Some(d)));
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (rest, None),
    };
    let (dom, path) = match name.split_once('/') {
        Some((d, p)) if d.contains(['.', ':']) || d == "localhost" || d.to_lowercase() != d => (Some(d), p),
        _ => (None, name),
    };
    let shown = if dom.is_none() && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    if path.to_lowercase() != path {
        return Err(format!("{FORMAT}: repository name ({shown}) must be lowercase"));
    }
    let tag_ok = tag.is_none_or(|t| {
        let mut c = t.chars();
        c.next().is_some_and(|f| f.is_ascii_alphanumeric() || f == '_')
            && t.len() <= 128
            && c.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    });
    let digest_ok = digest.is_none_or(|d| {
        d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && alg
                    .split(['+', '.', '_', '-'])
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
                && hex.len() >= 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
        })
    });
    let name_ok = dom.is_none_or(domain) && path.split('/').all(path_component) && name.len() <= 255;
    if name_ok && tag_ok && digest_ok {
        Ok(())
    } else {
        Err(FORMAT.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::{check_reference, options, BuildArgs};
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        a: BuildArgs,
    }

    fn parse(args: &[&str]) -> BuildArgs {
        Cmd::try_parse_from(std::iter::once("build").chain(args.iter().copied()))
            .unwrap()
            .a
    }

    #[test]
    fn tags_are_checked_as_docker_checks_them() {
        for ok in [
            "app",
            "app:v1.2",
            "team/app:latest",
            "localhost:5000/a/b:c",
            "registry.example.com/x",
            "a__b/c-d.e_f",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(check_reference(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "app:",
            ":v1",
            "a//b",
            "-app",
            "app:-x",
            "a b",
            "app@sha256:12",
            "a..b",
        ] {
            assert_eq!(check_reference(bad), Err("invalid reference format".into()), "{bad}");
        }
        assert_eq!(
            check_reference("Foo"),
            Err("invalid reference format: repository name (library/Foo) must be lowercase".into())
        );
        assert_eq!(
            check_reference("team/Foo:v1"),
            Err("invalid reference format: repository name (team/Foo) must be lowercase".into())
        );
    }

    #[test]
    fn flags_become_dockers_options() {
        let a = parse(&[
            "-t",
            "a:1",
            "--tag",
            "b",
            "--build-arg",
            "X=1",
            "--build-arg",
            "FROM_ENV",
            "--build-arg",
            "UNSET",
            "--label",
            "k=v",
            "--label",
            "bare",
            "--rm=false",
            "--force-rm",
            "--add-host",
            "h:1.2.3.4",
            "--cache-from",
            "c",
            "--progress",
            "plain",
            "-q",
            ".",
        ]);
        let env = |k: &str| (k == "FROM_ENV").then(|| "from env".to_string());
        let o = options(&a, env);
        assert_eq!(o.tags, ["a:1", "b"]);
        assert_eq!(o.build_args["X"].as_deref(), Some("1"));
        assert_eq!(o.build_args["FROM_ENV"].as_deref(), Some("from env"));
        assert_eq!(o.build_args["UNSET"], None);
        assert_eq!(o.labels["k"], "v");
        assert_eq!(o.labels["bare"], "");
        assert!(!o.remove && o.force_remove && o.quiet);
        assert_eq!(o.network_mode, "default");
        assert_eq!(o.extra_hosts, ["h:1.2.3.4"]);
        assert_eq!(a.context, ".");
        let a = parse(&["-f", "-", "--rm", "ctx"]);
        assert!(a.rm);
        assert_eq!(a.file.as_deref(), Some("-"));
        assert!(parse(&["ctx"]).rm);
    }
}

/// `skiff builder …`.
#[derive(clap::Subcommand, Debug)]
pub enum BuilderCmd {
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Remove build cache
    Prune {
        /// Remove all unused build cache, not just what no image uses
        #[arg(short = 'a', long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
        /// Provide filter values (e.g. 'until=24h')
        #[arg(long)]
        filter: Vec<String>,
    },
}

pub async fn builder(c: &Client, cmd: BuilderCmd) -> Exit {
    match cmd {
        BuilderCmd::Build(a) => build(c, *a).await,
        BuilderCmd::Prune { all, force, filter } => prune(c, all, force, &filter).await,
    }
}

async fn prune(c: &Client, all: bool, force: bool, filter: &[String]) -> Exit {
    let warning = if all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !force && !super::util::confirm(&format!("{warning} Are you sure you want to continue? [y/N] ")) {
        return Exit(0);
    }
    let mut until = None;
    for f in filter {
        match f.split_once('=') {
            Some(("until", v)) => until = Some(v.to_string()),
            _ => {
                eprintln!("invalid filter '{f}'");
                return Exit(1);
            }
        }
    }
    let v = match c.build_prune(all, until.as_deref()).await {
        Ok(v) => v,
        Err(e) => return super::fail(&e, 1),
    };
    let items = v["CachesDeleted"].as_array().cloned().unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted build cache objects:");
        for it in items.iter().filter_map(|i| i.as_str()) {
            println!("{}", &it[..it.len().min(25)]);
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        super::format::size(v["SpaceReclaimed"].as_i64().unwrap_or(0))
    );
    Exit(0)
}
