//! Docker's output shapes: padded tables, "5 seconds ago", sizes, and the
//! subset of Go templates that `--format` users rely on.

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

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.trim_start_matches('.').split('.').filter(|p| !p.is_empty()) {
        cur = cur.get(part)?;
    }
    Some(cur)
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    /// `)` and the field path right after it, as in `(index .A "k").B`.
    Close(String),
    Str(String),
    Word(String),
}

fn tokens(action: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = action.chars().peekable();
    while let Some(&c) = it.peek() {
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            '(' => {
                it.next();
                out.push(Tok::Open);
            }
            ')' => {
                it.next();
                let mut path = String::new();
                while let Some(&d) = it.peek() {
                    if d.is_whitespace() || d == ')' || d == '(' {
                        break;
                    }
                    path.push(d);
                    it.next();
                }
                out.push(Tok::Close(path));
            }
            '"' => {
                it.next();
                let mut s = String::new();
                loop {
                    match it.next() {
                        Some('"') => break,
                        Some('\\') => s.extend(it.next()),
                        Some(d) => s.push(d),
                        None => return Err("template: unterminated quoted string".into()),
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let mut w = String::new();
                while let Some(&d) = it.peek() {
                    if d.is_whitespace() || d == '(' || d == ')' {
                        break;
                    }
                    w.push(d);
                    it.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

/// One operand: `.Path`, `"string"`, or `( command )[.Path]`.
fn operand(toks: &[Tok], pos: &mut usize, v: &Value) -> Result<Value, String> {
    match toks.get(*pos) {
        Some(Tok::Word(w)) if w.starts_with('.') => {
            *pos += 1;
            Ok(lookup(v, w).cloned().unwrap_or(Value::Null))
        }
        Some(Tok::Str(s)) => {
            *pos += 1;
            Ok(Value::String(s.clone()))
        }
        Some(Tok::Word(w)) if w.parse::<u64>().is_ok() => {
            *pos += 1;
            Ok(Value::from(w.parse::<u64>().unwrap_or(0)))
        }
        Some(Tok::Open) => {
            *pos += 1;
            let inner = command(toks, pos, v)?;
            match toks.get(*pos) {
                Some(Tok::Close(path)) => {
                    *pos += 1;
                    Ok(if path.is_empty() {
                        inner
                    } else {
                        lookup(&inner, path).cloned().unwrap_or(Value::Null)
                    })
                }
                _ => Err("template: unclosed left paren".into()),
            }
        }
        Some(t) => Err(format!("template: unexpected {t:?}")),
        None => Err("template: missing value".into()),
    }
}

/// `func args…` or a single operand; stops at `)`.
fn command(toks: &[Tok], pos: &mut usize, v: &Value) -> Result<Value, String> {
    let func = match toks.get(*pos) {
        Some(Tok::Word(w)) if !w.starts_with('.') && w.parse::<u64>().is_err() => {
            *pos += 1;
            Some(w.clone())
        }
        _ => None,
    };
    let mut args = Vec::new();
    while *pos < toks.len() && !matches!(toks[*pos], Tok::Close(_)) {
        args.push(operand(toks, pos, v)?);
    }
    let one = || args.first().cloned().unwrap_or(Value::Null);
    Ok(match func.as_deref() {
        None if args.len() == 1 => one(),
        None => return Err("template: expected one value".into()),
        Some("json") => Value::String(serde_json::to_string(&one()).unwrap_or_default()),
        Some("lower") => Value::String(plain(&one()).to_lowercase()),
        Some("upper") => Value::String(plain(&one()).to_uppercase()),
        Some("len") => Value::from(match one() {
            Value::Array(a) => a.len(),
            Value::Object(m) => m.len(),
            Value::String(s) => s.len(),
            _ => 0,
        }),
        Some("index") => {
            let mut cur = one();
            for k in args.iter().skip(1) {
                cur = match (&cur, k) {
                    (Value::Object(m), Value::String(s)) => m.get(s).cloned().unwrap_or(Value::Null),
                    (Value::Array(a), Value::Number(n)) => a
                        .get(n.as_u64().unwrap_or(u64::MAX) as usize)
                        .cloned()
                        .unwrap_or(Value::Null),
                    _ => return Err("template: error calling index: cannot index".into()),
                };
            }
            cur
        }
        Some(f) => return Err(format!("template: function \"{f}\" not defined")),
    })
}

/// Render Docker's `--format` templates: `{{.Path.To.Field}}`,
/// `{{json .X}}`, `{{lower .X}}`, `{{upper .X}}`, `{{len .X}}`,
/// `{{index .Map "key"}}` and `{{(index .Map "key").Field}}`.
pub fn template(tpl: &str, v: &Value) -> Result<String, String> {
    let tpl = tpl.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = tpl.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or("template: unclosed action")? + start;
        let action = rest[start + 2..end].trim();
        let toks = tokens(action)?;
        let mut pos = 0;
        let val = command(&toks, &mut pos, v)?;
        if pos != toks.len() {
            return Err(format!("template: unexpected \")\" in {{{{{action}}}}}"));
        }
        out.push_str(&plain(&val));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Docker's `PORTS` column: `0.0.0.0:8080->80/tcp, 443/tcp`.
pub fn ports_text(ports: &[serde_json::Value]) -> String {
    let mut out: Vec<String> = Vec::new();
    for p in ports {
        let private = p["PrivatePort"].as_u64().unwrap_or(0);
        let proto = p["Type"].as_str().unwrap_or("tcp");
        let s = match p["PublicPort"].as_u64() {
            Some(public) if public > 0 => {
                format!("{}:{public}->{private}/{proto}", p["IP"].as_str().unwrap_or("0.0.0.0"))
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

    #[test]
    fn templates_and_sizes() {
        let v = serde_json::json!({"State": {"Status": "running", "ExitCode": 0}, "Name": "/web"});
        assert_eq!(template("{{.State.Status}} {{.Name}}", &v).unwrap(), "running /web");
        assert_eq!(
            template("{{json .State}}", &v).unwrap(),
            r#"{"ExitCode":0,"Status":"running"}"#
        );
        let n = serde_json::json!({"N": {"a-b": {"IP": "10.0.0.2"}}});
        assert_eq!(template(r#"{{(index .N "a-b").IP}}"#, &n).unwrap(), "10.0.0.2");
        assert!(template(r#"{{index .N "a-b" | x}}"#, &n).is_err());
        assert_eq!(template("{{len .N}}", &n).unwrap(), "1");
        let l = serde_json::json!({"C": [{"S": "10.1.0.0/16"}]});
        assert_eq!(template("{{(index .C 0).S}}", &l).unwrap(), "10.1.0.0/16");
        assert!(template("{{nosuch .N}}", &n).is_err());
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
