//! Docker's output shapes: padded tables, "5 seconds ago", sizes, and the
//! subset of Go templates that `--format` users rely on.

use serde_json::Value;

/// Columns padded like Go's tabwriter with Docker's settings (3 spaces).
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
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn ago(unix: i64) -> String {
    let secs = chrono::Utc::now().timestamp() - unix;
    format!("{} ago", crate::api::human_duration(secs))
}

/// Docker's human sizes: decimal units, three significant digits (`%.3g`).
pub fn size(bytes: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[i])
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

/// Render `{{.Path.To.Field}}`, `{{json .X}}`, `{{upper .X}}`-free Go-ish templates.
pub fn template(tpl: &str, v: &Value) -> Result<String, String> {
    let tpl = tpl.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = tpl.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or("template: unclosed action")? + start;
        let action = rest[start + 2..end].trim();
        let (func, arg) = match action.split_once(char::is_whitespace) {
            Some((f, a)) if !f.starts_with('.') => (Some(f), a.trim()),
            _ => (None, action),
        };
        if !arg.starts_with('.') {
            return Err(format!("template: unsupported action {{{{{action}}}}}"));
        }
        let val = lookup(v, arg).cloned().unwrap_or(Value::Null);
        out.push_str(&match func {
            Some("json") => serde_json::to_string(&val).unwrap_or_default(),
            Some("lower") => plain(&val).to_lowercase(),
            Some("upper") => plain(&val).to_uppercase(),
            None => plain(&val),
            Some(f) => return Err(format!("template: function \"{f}\" not defined")),
        });
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
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
        assert_eq!(size(1_234_567), "1.23MB");
        assert_eq!(size(999), "999B");
        assert_eq!(
            table(&[vec!["A".into(), "B".into()], vec!["long".into(), "x".into()]]),
            "A      B\nlong   x\n"
        );
    }
}
