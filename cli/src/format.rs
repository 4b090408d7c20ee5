//! Docker's output shapes: padded tables, "5 seconds ago", sizes, and
//! `--format`: Go templates with Docker's functions and `table` prefix.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{Template, Value as T};
use serde_json::Value;

/// Columns padded like Go's tabwriter with Docker's settings: 3 spaces
/// of padding, cells at least 10 wide.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let cell = (widths[i] + 3).max(10);
                line.push_str(&" ".repeat(cell - c.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A table whose rows may each be on a node (listed through a controller):
/// a NODE column comes last when any row is.
pub fn node_table(head: &[&str], rows: Vec<(Vec<String>, Option<String>)>) -> String {
    let fleet = rows.iter().any(|(_, n)| n.is_some());
    let mut out: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
    if fleet {
        out[0].push("NODE".into());
    }
    for (mut row, node) in rows {
        if fleet {
            row.push(node.unwrap_or_default());
        }
        out.push(row);
    }
    table(&out)
}

pub fn ago(unix: i64) -> String {
    let secs = chrono::Utc::now().timestamp() - unix;
    format!("{} ago", skiff_api::human_duration(secs))
}

/// Go's `%.{prec}g` for the numbers sizes are made of (no exponent):
/// `prec` significant digits, trailing zeros dropped.
fn sig(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let int_digits = (v.abs().log10().floor() as i64 + 1).max(1) as usize;
    let decimals = prec.saturating_sub(int_digits);
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A size in `base` steps with these unit names, `prec` digits.
fn scaled(bytes: f64, base: f64, units: &[&str], prec: usize) -> String {
    let mut v = bytes;
    let mut i = 0;
    while v >= base && i < units.len() - 1 {
        v /= base;
        i += 1;
    }
    format!("{}{}", sig(v, prec), units[i])
}

/// Docker's human sizes: decimal units, `prec` significant digits
/// (`units.HumanSizeWithPrecision`).
pub fn human(bytes: f64, prec: usize) -> String {
    scaled(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"], prec)
}

/// Image and container sizes as `docker images` prints them.
pub fn size(bytes: i64) -> String {
    human(bytes as f64, 3)
}

/// Docker's binary sizes (`units.BytesSize`): 1.367MiB.
pub fn binary(bytes: f64) -> String {
    scaled(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4)
}

/// "ready" → "Ready", as Docker prints states.
pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// serde_json → the template's values: objects become (sorted) maps, as Go
/// prints and ranges over them; integers stay integers.
fn to_tmpl(v: &Value) -> T {
    match v {
        Value::Null => T::Nil,
        Value::Bool(b) => T::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => T::Int(i),
            (None, Some(u)) => T::Uint(u),
            _ => T::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => T::String(s.as_str().into()),
        Value::Array(a) => T::List(a.iter().map(to_tmpl).collect()),
        Value::Object(m) => T::Map(Arc::new(
            m.iter().map(|(k, v)| (Arc::from(k.as_str()), to_tmpl(v))).collect(),
        )),
    }
}

/// The way back, for `json`: what came from JSON goes out as it came.
fn to_json(v: &T) -> Value {
    match v {
        T::Bool(b) => Value::Bool(*b),
        T::Int(i) => Value::from(*i),
        T::Uint(u) => Value::from(*u),
        T::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        T::String(s) => Value::String(s.to_string()),
        T::List(l) => Value::Array(l.iter().map(to_json).collect()),
        T::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
        _ => Value::Null,
    }
}

/// A value as text, as an action prints it.
fn text(v: &T) -> String {
    match v {
        T::Nil => "<no value>".into(),
        T::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn arg<'a>(args: &'a [T], i: usize, func: &str, want: usize) -> gotmpl::Result<&'a T> {
    if args.len() != want {
        return Err(gotmpl::TemplateError::ArgCount {
            name: func.into(),
            expected: want,
            got: args.len(),
        });
    }
    Ok(&args[i])
}

fn int_arg(args: &[T], i: usize, func: &str, want: usize) -> gotmpl::Result<usize> {
    let v = arg(args, i, func, want)?;
    v.as_int()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| gotmpl::TemplateError::Exec(format!("{func}: expected a count, got {}", text(v))))
}

fn string(s: impl Into<Arc<str>>) -> gotmpl::Result<T> {
    Ok(T::String(s.into()))
}

/// Go's `strings.Title`: each letter after a separator upper-cased.
fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let sep = !(prev.is_alphanumeric() || prev == '_');
            prev = c;
            if sep {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// Go's `strings.Split`: an empty separator splits into characters.
fn split(s: &str, sep: &str) -> T {
    let parts: Vec<T> = if sep.is_empty() {
        s.chars().map(|c| T::String(c.to_string().into())).collect()
    } else {
        s.split(sep).map(|p| T::String(p.into())).collect()
    };
    T::List(parts.into())
}

/// The functions Docker's `--format` adds to Go's (`json`, `join`,
/// `split`, `lower`, `upper`, `title`, `truncate`, `pad`).
fn docker_funcs(t: Template) -> Template {
    t.func("json", |a| string(to_json(arg(a, 0, "json", 1)?).to_string()))
        .func("join", |a| match arg(a, 0, "join", 2)? {
            T::List(l) => string(l.iter().map(text).collect::<Vec<_>>().join(&text(&a[1]))),
            other => Err(gotmpl::TemplateError::Exec(format!(
                "join: expected a list, got {}",
                other.type_name()
            ))),
        })
        .func("split", |a| Ok(split(&text(arg(a, 0, "split", 2)?), &text(&a[1]))))
        .func("lower", |a| string(text(arg(a, 0, "lower", 1)?).to_lowercase()))
        .func("upper", |a| string(text(arg(a, 0, "upper", 1)?).to_uppercase()))
        .func("title", |a| string(title(&text(arg(a, 0, "title", 1)?))))
        .func("truncate", |a| {
            let n = int_arg(a, 1, "truncate", 2)?;
            string(text(&a[0]).chars().take(n).collect::<String>())
        })
        .func("pad", |a| {
            let (before, after) = (int_arg(a, 1, "pad", 3)?, int_arg(a, 2, "pad", 3)?);
            string(format!("{}{}{}", " ".repeat(before), text(&a[0]), " ".repeat(after)))
        })
}

/// For a `table` header, as Docker's: the same template run over the
/// column names, with the text functions leaving their argument as it is.
fn header_funcs(mut t: Template) -> Template {
    for name in ["json", "join", "split", "lower", "upper", "title", "truncate"] {
        t = t.func(name, |a| Ok(a.first().cloned().unwrap_or(T::Nil)));
    }
    t
}

/// "RunningFor" → "RUNNING FOR": a header for a field no table names.
fn header_of(field: &str) -> String {
    let mut out = String::new();
    let mut prev = ' ';
    for c in field.chars() {
        if c.is_uppercase() && (prev.is_lowercase() || prev.is_ascii_digit()) {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
        prev = c;
    }
    out
}

/// Every key of every row, objects merged: what a header can name.
fn merge_shape(into: &mut Value, v: &Value) {
    match (into, v) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge_shape(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot @ Value::Null, v) => *slot = v.clone(),
        _ => {}
    }
}

/// The value a header row is rendered from: each field its column name
/// (`names` first, then one made from the field's name); nested objects
/// keep their shape, so `{{.Status.State}}` heads its column "STATE".
fn header_value(shape: &Value, names: &[(&str, &str)]) -> T {
    fn nested(key: &str, v: &Value) -> T {
        match v {
            Value::Object(m) => T::Map(Arc::new(
                m.iter().map(|(k, v)| (Arc::from(k.as_str()), nested(k, v))).collect(),
            )),
            _ => T::String(header_of(key).into()),
        }
    }
    let mut map: BTreeMap<Arc<str>, T> = BTreeMap::new();
    if let Value::Object(m) = shape {
        for (k, v) in m {
            map.insert(Arc::from(k.as_str()), nested(k, v));
        }
    }
    for (field, name) in names {
        map.insert(Arc::from(*field), T::String((*name).into()));
    }
    T::Map(Arc::new(map))
}

/// A parsed `--format`: Go's text/template (the `gotmpl` crate) with
/// Docker's functions; `table …` lays the rows out under a header row.
pub struct Format {
    body: Template,
    /// Set for `table …`: the same template with the header functions.
    header: Option<Template>,
}

impl Format {
    pub fn parse(src: &str) -> Result<Format, String> {
        // As Docker: `\t` and `\n` typed in the shell are a tab and a newline.
        let src = src.replace("\\t", "\t").replace("\\n", "\n");
        let (table, body) = match src.strip_prefix("table") {
            Some(rest) => (true, rest.trim_matches(' ')),
            None => (false, src.as_str()),
        };
        let parse = |t: Template| t.parse(body).map_err(|e| format!("template parsing error: {e}"));
        Ok(Format {
            body: parse(docker_funcs(Template::new("")))?,
            header: if table {
                Some(parse(header_funcs(Template::new("")))?)
            } else {
                None
            },
        })
    }

    fn run(t: &Template, v: &T) -> Result<String, String> {
        t.execute_to_string(v).map_err(|e| match e.to_string() {
            s if s.starts_with("template:") => s,
            s => format!("template: {s}"),
        })
    }

    /// One value through the template (`inspect -f`, an event).
    pub fn render(&self, v: &Value) -> Result<String, String> {
        Self::run(&self.body, &to_tmpl(v))
    }

    /// A listing: a line per row, or for `table …` a header row (from
    /// `names`, field → column name) and the rows, aligned as `table` does.
    pub fn rows(&self, rows: &[Value], names: &[(&str, &str)]) -> Result<String, String> {
        let Some(header) = &self.header else {
            return rows.iter().map(|v| Ok(self.render(v)? + "\n")).collect();
        };
        let mut shape = Value::Null;
        for r in rows {
            merge_shape(&mut shape, r);
        }
        let mut text = Self::run(header, &header_value(&shape, names))?;
        for r in rows {
            text.push('\n');
            text.push_str(&self.render(r)?);
        }
        let cells: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split('\t').map(String::from).collect())
            .collect();
        Ok(table(&cells))
    }
}

/// `--format` that asks for the default output (`table` alone) is none.
pub fn custom(format: Option<String>) -> Option<String> {
    format.filter(|f| f.trim() != "table")
}

/// A listing's `--format`: `json` (each row a JSON object on a line), a
/// line per row, or `table …` (`names`: field → column name).
pub fn listing(format: &str, rows: &[Value], names: &[(&str, &str)]) -> Result<String, String> {
    if format == "json" {
        return Ok(rows.iter().map(|v| format!("{v}\n")).collect());
    }
    Format::parse(format)?.rows(rows, names)
}

/// Go's `net.JoinHostPort`, as Docker's CLI shows a host address and
/// port: IPv6 in brackets (`[::1]:8080`).
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Docker's `PORTS` column: `0.0.0.0:8080->80/tcp, 443/tcp`.
pub fn ports_text(ports: &[serde_json::Value]) -> String {
    let mut out: Vec<String> = Vec::new();
    for p in ports {
        let private = p["PrivatePort"].as_u64().unwrap_or(0);
        let proto = p["Type"].as_str().unwrap_or("tcp");
        let s = match p["PublicPort"].as_u64() {
            Some(public) if public > 0 => {
                let host = join_host_port(p["IP"].as_str().unwrap_or("0.0.0.0"), &public.to_string());
                format!("{host}->{private}/{proto}")
            }
            _ => format!("{private}/{proto}"),
        };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(tpl: &str, v: &Value) -> Result<String, String> {
        Format::parse(tpl)?.render(v)
    }

    /// An inspect answer with what the integration tests' templates read.
    fn container() -> Value {
        json!({
            "Id": "0123456789abcdef", "Name": "/web", "RestartCount": 2, "LogPath": "/l/web.log", "ExecIDs": null,
            "State": {"Status": "running", "Running": true, "Paused": false, "ExitCode": 0, "Pid": 42},
            "Config": {"Hostname": "web", "Env": ["A=1", "PATH=/bin"], "Labels": {"k": "v", "com.x": "y"}, "Tty": false},
            "HostConfig": {"Memory": 536870912, "NanoCpus": 1500000000u64, "RestartPolicy": {"Name": "no"}},
            "NetworkSettings": {"IPAddress": "172.17.0.2", "Gateway": "172.17.0.1", "SandboxKey": "/run/netns/x",
                "Ports": {}, "Networks": {"a-b": {"IPAddress": "10.0.0.2"}, "bridge": {"IPAddress": "172.17.0.2"}}},
        })
    }

    #[test]
    fn the_integration_tests_templates() {
        let v = container();
        let cases = [
            ("{{.State.Status}} {{.Config.Hostname}}", "running web"),
            ("{{.State.Status}} {{.State.ExitCode}}", "running 0"),
            ("{{.State.Running}}", "true"),
            ("{{.State.Status}} {{.State.Paused}}", "running false"),
            ("{{.Name}}", "/web"),
            ("{{.RestartCount}} {{.State.Status}}", "2 running"),
            ("{{.LogPath}}", "/l/web.log"),
            (
                "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
                "536870912 1500000000",
            ),
            ("{{.Config.Env}}", "[A=1 PATH=/bin]"),
            ("{{.State.Status}} {{.HostConfig.RestartPolicy.Name}}", "running no"),
            ("{{.State.Pid}}", "42"),
            ("{{.NetworkSettings.IPAddress}}", "172.17.0.2"),
            ("{{.NetworkSettings.Gateway}}", "172.17.0.1"),
            ("{{.NetworkSettings.SandboxKey}}", "/run/netns/x"),
            (r#"{{(index .NetworkSettings.Networks "a-b").IPAddress}}"#, "10.0.0.2"),
            (
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                "10.0.0.2 172.17.0.2 ",
            ),
            ("{{json .NetworkSettings.Ports}}", "{}"),
            ("{{.Id}}", "0123456789abcdef"),
            // What is missing or null prints as Go prints a missing map key.
            (
                "{{.ExecIDs}} {{.Nope}} {{.Nope.Deeper}} {{.ExecIDs.X}}",
                "<no value> <no value> <no value> <no value>",
            ),
        ];
        for (tpl, want) in cases {
            assert_eq!(template(tpl, &v).unwrap(), want, "{tpl}");
        }
        let node = json!({"ID": "n1", "Containers": 3, "Spec": {"Labels": {"zone": "a"}, "Availability": "drain"},
            "Status": {"State": "ready"}, "Description": {"Hostname": "h1", "Addresses": ["10.0.0.1:7443"],
            "Engine": {"Labels": {"host": "h1"}}, "Resources": {"NanoCPUs": 2000000000}}});
        let cases = [
            ("{{index .Description.Addresses 0}}", "10.0.0.1:7443"),
            ("{{.Description.Engine.Labels.host}}", "h1"),
            ("{{.Description.Resources.NanoCPUs}}", "2000000000"),
            ("{{.Status.State}}", "ready"),
            ("{{.Spec.Labels}}", "map[zone:a]"),
            (
                "{{.Spec.Labels.zone}} {{.Spec.Availability}} {{.Containers}}",
                "a drain 3",
            ),
            ("{{.Description.Hostname}} {{.Status.State}}", "h1 ready"),
        ];
        for (tpl, want) in cases {
            assert_eq!(template(tpl, &node).unwrap(), want, "{tpl}");
        }
        let event = json!({"Type": "container", "Action": "start", "Actor": {"Attributes": {"name": "ev1"}},
            "node": {"Name": "h1"}});
        assert_eq!(
            template("{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", &event).unwrap(),
            "container start ev1"
        );
        assert_eq!(
            template("{{.node.Name}} {{.Actor.Attributes.name}}", &event).unwrap(),
            "h1 ev1"
        );
        let image = json!({"RootFS": {"Layers": ["sha256:1", "sha256:2"]}, "GraphDriver": {"Name": "vfs"},
            "Descriptor": {"size": 12, "mediaType": "m"}});
        assert_eq!(
            template("{{json .RootFS.Layers}}", &image).unwrap(),
            r#"["sha256:1","sha256:2"]"#
        );
        assert_eq!(
            template("{{json .Descriptor}}", &image).unwrap(),
            r#"{"mediaType":"m","size":12}"#
        );
        assert_eq!(template("{{.GraphDriver.Name}}", &image).unwrap(), "vfs");
        let net = json!({"IPAM": {"Config": [{"Subnet": "10.1.0.0/16"}]}});
        assert_eq!(
            template("{{(index .IPAM.Config 0).Subnet}}", &net).unwrap(),
            "10.1.0.0/16"
        );
        let row = json!({"Name": "web", "Node": "h1", "PIDs": "3", "CPUPerc": "0.00%"});
        assert_eq!(template("{{.Name}} {{.Node}} {{.PIDs}}", &row).unwrap(), "web h1 3");
        assert_eq!(template("{{.Name}}|{{.CPUPerc}}", &row).unwrap(), "web|0.00%");
    }

    #[test]
    fn go_template_actions_and_docker_functions() {
        let v = container();
        assert_eq!(template("{{.State.Status}}", &v).unwrap(), "running");
        assert_eq!(
            template("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &v).unwrap(),
            "10.0.0.2172.17.0.2"
        );
        assert_eq!(
            template(
                "{{range $k, $n := .NetworkSettings.Networks}}{{$k}}={{$n.IPAddress}};{{end}}",
                &v
            )
            .unwrap(),
            "a-b=10.0.0.2;bridge=172.17.0.2;"
        );
        assert_eq!(
            template("{{json .Config}}", &v).unwrap(),
            serde_json::to_string(&v["Config"]).unwrap()
        );
        assert_eq!(template("{{json .ExecIDs}}", &v).unwrap(), "null");
        assert_eq!(template(r#"{{index .Config.Labels "k"}}"#, &v).unwrap(), "v");
        assert_eq!(
            template(r#"{{index .Config.Labels "none"}}"#, &v).unwrap(),
            "<no value>"
        );
        assert_eq!(template("{{len .Config.Env}}", &v).unwrap(), "2");
        assert_eq!(template(r#"{{join .Config.Env ","}}"#, &v).unwrap(), "A=1,PATH=/bin");
        assert_eq!(template(r#"{{split .LogPath "/"}}"#, &v).unwrap(), "[ l web.log]");
        assert_eq!(template(r#"{{index (split .Name "w") 1}}"#, &v).unwrap(), "eb");
        assert_eq!(
            template("{{lower .State.Running}} {{upper .Name}}", &v).unwrap(),
            "true /WEB"
        );
        assert_eq!(
            template(r#"{{title "hello wide-world"}}"#, &v).unwrap(),
            "Hello Wide-World"
        );
        assert_eq!(
            template(r#"{{truncate .Id 4}}|{{pad "x" 1 2}}|"#, &v).unwrap(),
            "0123| x  |"
        );
        assert_eq!(
            template(r#"{{if .State.Running}}up{{else}}down{{end}}"#, &v).unwrap(),
            "up"
        );
        assert_eq!(
            template(r#"{{printf "%s:%d" .Name .State.Pid}}"#, &v).unwrap(),
            "/web:42"
        );
        assert_eq!(
            template("{{.Name}}\\t{{.Id}}\\n", &v).unwrap(),
            "/web\t0123456789abcdef\n"
        );
        // Errors: Go's parse errors (as Docker prints them) and run-time ones.
        let e = template("{{.X", &v).unwrap_err();
        assert!(e.starts_with("template parsing error: template: "), "{e}");
        // gotmpl finds an unknown function when it runs, not when it parses.
        let e = template("{{nosuch .X}}", &v).unwrap_err();
        assert!(e.starts_with("template") && e.contains("nosuch"), "{e}");
        assert!(template(r#"{{index .N "a-b" | x}}"#, &v).is_err());
        assert!(template(r#"{{join .Name ","}}"#, &v)
            .unwrap_err()
            .starts_with("template: "));
        assert!(template("{{index .Config.Env 5}}", &v).is_err());
    }

    #[test]
    fn tables_and_listings() {
        let rows = [
            json!({"Names": "web", "Status": "Up 2 minutes", "Ports": "", "RunningFor": "1 hour"}),
            json!({"Names": "database", "Status": "Exited (0)", "Ports": "80/tcp", "RunningFor": "2 days"}),
        ];
        let ps = [("Names", "NAMES"), ("Status", "STATUS"), ("RunningFor", "CREATED")];
        let f = Format::parse("table {{.Names}}\\t{{.Status}}").unwrap();
        assert_eq!(
            f.rows(&rows, &ps).unwrap(),
            "NAMES      STATUS\nweb        Up 2 minutes\ndatabase   Exited (0)\n"
        );
        // The header is the template over the column names: functions
        // leave them as they are; a field no table names is named after it.
        let f = Format::parse("table {{lower .Names}}\t{{.RunningFor}}\t{{json .Ports}}").unwrap();
        assert_eq!(
            f.rows(&rows, &ps[..1]).unwrap(),
            "NAMES      RUNNING FOR   PORTS\nweb        1 hour        \"\"\ndatabase   2 days        \"80/tcp\"\n"
        );
        // Nested fields head their column with the last name.
        let nodes = [json!({"Description": {"Hostname": "h1"}, "Status": {"State": "ready"}})];
        let f = Format::parse("table {{.Description.Hostname}}\t{{.Status.State}}").unwrap();
        assert_eq!(f.rows(&nodes, &[]).unwrap(), "HOSTNAME   STATE\nh1         ready\n");
        // No rows: the header alone.
        assert_eq!(f.rows(&[], &[]).unwrap().lines().count(), 1);
        let f = Format::parse("{{.Names}}").unwrap();
        assert_eq!(f.rows(&rows, &ps).unwrap(), "web\ndatabase\n");
        assert_eq!(listing("json", &rows[..1], &ps).unwrap(), format!("{}\n", rows[0]));
        assert_eq!(custom(Some("table".into())), None);
        assert_eq!(custom(Some("{{.ID}}".into())).as_deref(), Some("{{.ID}}"));
        assert_eq!(header_of("CPUPerc"), "CPUPERC");
        assert_eq!(header_of("RunningFor"), "RUNNING FOR");
    }

    #[test]
    fn sizes_and_tables() {
        assert_eq!(size(1_234_567), "1.23MB");
        assert_eq!(size(999), "999B");
        assert_eq!(human(1024.0, 3), "1.02kB");
        assert_eq!(binary(1_433_600.0), "1.367MiB");
        assert_eq!(binary(512.0), "512B");
        assert_eq!(binary(0.0), "0B");
        assert_eq!(binary(25.0 * 1024.0 * 1024.0 * 1024.0), "25GiB");
        assert_eq!(
            table(&[vec!["A".into(), "B".into()], vec!["long".into(), "x".into()]]),
            "A         B\nlong      x\n"
        );
        let wide = "twelve chars";
        assert_eq!(table(&[vec![wide.into(), "B".into()]]), "twelve chars   B\n");
    }
}
