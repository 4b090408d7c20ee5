//! Image references, `[domain[:port]/]path[:tag][@digest]`, checked
//! against the distribution project's reference grammar.
//!
//! Written out here rather than taken from `oci-spec`: its parser compiles
//! one Unicode-aware regular expression on first use and keeps it, with a
//! matching cache per thread, for the life of the process: about 10 MB of a
//! daemon that otherwise idles at 13. The grammar is small and fixed.

/// A parsed reference; `domain` is absent when the name has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub domain: Option<String>,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// Written back as parsed: `[domain/]path[:tag][@digest]`, which
/// [`parse`] reads to the same reference.
impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(d) = &self.domain {
            write!(f, "{d}/")?;
        }
        f.write_str(&self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The longest name (domain and path) the grammar allows.
const NAME_MAX: usize = 255;

fn alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn path_component(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !alnum_lower(b[0] as char) || !alnum_lower(b[b.len() - 1] as char) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if alnum_lower(c) {
            i += 1;
            continue;
        }
        // A separator run, between two alphanumerics.
        let start = i;
        while i < b.len() && !alnum_lower(b[i] as char) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]`: dot-separated `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`
/// labels, or a bracketed IPv6 address.
fn domain(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, after)) => {
                if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                    return false;
                }
                ("", after.strip_prefix(':'))
            }
            None => return false,
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    if s.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// `[\w][\w.-]{0,127}` (ASCII word characters).
fn tag(s: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = s.as_bytes();
    !b.is_empty() && b.len() <= 128 && word(b[0]) && b.iter().all(|c| word(*c) || *c == b'.' || *c == b'-')
}

/// `algorithm:encoded`: `[a-z0-9]+([+._-][a-z0-9]+)*` and at least 32 hex
/// digits (sha256: exactly 64, lower case).
fn digest(s: &str) -> bool {
    let Some((alg, enc)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg
            .split(['+', '.', '_', '-'])
            .all(|p| !p.is_empty() && p.chars().all(alnum_lower));
    let enc_ok = if alg == "sha256" {
        enc.len() == 64 && enc.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    } else {
        enc.len() >= 32 && enc.bytes().all(|c| c.is_ascii_hexdigit())
    };
    alg_ok && enc_ok
}

/// Parse a reference as Docker does. The first path element is a domain
/// when it has a `.` or a `:`, or is `localhost`, or has capitals.
pub fn parse(s: &str) -> Result<Reference, &'static str> {
    let (rest, dig) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if dig.is_some_and(|d| !digest(d)) {
        return Err("invalid digest");
    }
    let (name, tg) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (rest, None),
    };
    if tg.is_some_and(|t| !tag(t)) {
        return Err("invalid tag");
    }
    if name.is_empty() || name.len() > NAME_MAX {
        return Err("invalid name length");
    }
    let (dom, path) = match name.split_once('/') {
        Some((first, path))
            if first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), path)
        }
        _ => (None, name),
    };
    if dom.is_some_and(|d| !domain(d)) {
        return Err("invalid domain");
    }
    if !path.split('/').all(path_component) {
        return Err("invalid repository name");
    }
    Ok(Reference {
        domain: dom.map(str::to_string),
        path: path.to_string(),
        tag: tg.map(str::to_string),
        digest: dig.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_references() {
        let r = parse("busybox").unwrap();
        assert_eq!((r.domain, r.path.as_str(), r.tag), (None, "busybox", None));
        let r = parse("localhost:5000/team/app:v1").unwrap();
        assert_eq!(r.domain.as_deref(), Some("localhost:5000"));
        assert_eq!((r.path.as_str(), r.tag.as_deref()), ("team/app", Some("v1")));
        let r = parse("docker.io/library/nginx:1.25").unwrap();
        assert_eq!(
            (r.domain.as_deref(), r.path.as_str()),
            (Some("docker.io"), "library/nginx")
        );
        let r = parse("localhost/app").unwrap();
        assert_eq!(r.domain.as_deref(), Some("localhost"));
        let r = parse("team/app").unwrap();
        assert_eq!((r.domain, r.path.as_str()), (None, "team/app"));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("busybox:1@{d}")).unwrap();
        assert_eq!((r.tag.as_deref(), r.digest.as_deref()), (Some("1"), Some(d.as_str())));
        assert!(parse("[::1]:5000/app").is_ok());
        for ok in [
            "a__b",
            "a--b",
            "a.b_c",
            "a-b/c.d",
            "my-registry.example.com:443/x/y:1.0_rc-2",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn invalid_references() {
        for bad in [
            "",
            "bad::tag",
            "-bad",
            "a___b",
            "a..b",
            "UPPER",
            "app:",
            "app:-x",
            "app@sha256:abc",
            "app/",
            "/app",
            "host:port/app",
            "a:b:c",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&format!("{}:1", "a".repeat(256))).is_err());
        assert!(parse(&format!("a:{}", "t".repeat(129))).is_err());
    }

    #[test]
    fn display_writes_back_what_parses() {
        let d = format!("sha256:{}", "b".repeat(64));
        for s in [
            "busybox".to_string(),
            "localhost:5000/team/app:v1".into(),
            format!("[::1]:5000/app@{d}"),
            format!("Registry.example/x:1@{d}"),
        ] {
            assert_eq!(parse(&s).unwrap().to_string(), s);
        }
    }
}
