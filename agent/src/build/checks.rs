//! The `# check=` directive and the one BuildKit check this builder runs:
//! `FromAsCasing` (`FROM … as name` with the keywords cased differently).
//! `skip=all` or `skip=Name,…` turns checks off; `error=true` makes a
//! failed check fail the build, as BuildKit does.

use super::dockerfile::{Dockerfile, Op};

/// What `# check=` asks for.
#[derive(Debug, Default, PartialEq)]
pub struct CheckConfig {
    pub skip_all: bool,
    pub skip: Vec<String>,
    pub error: bool,
}

/// Parse a `# check=` value: `;`-separated `skip=…` and `error=…`.
pub fn parse(value: &str) -> Result<CheckConfig, String> {
    let mut c = CheckConfig::default();
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("invalid check directive: {part}"))?;
        match k.trim().to_lowercase().as_str() {
            "skip" if v.trim().eq_ignore_ascii_case("all") => c.skip_all = true,
            "skip" => c.skip = v.split(',').map(|s| s.trim().to_string()).collect(),
            "error" => {
                c.error = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid check directive: error={v}"))?
            }
            _ => return Err(format!("invalid check directive: {part}")),
        }
    }
    Ok(c)
}

/// The warnings the checks `c` leaves on gives for `df`.
pub fn warnings(df: &Dockerfile, c: &CheckConfig) -> Vec<String> {
    if c.skip_all || c.skip.iter().any(|s| s == "FromAsCasing") {
        return Vec::new();
    }
    df.stages
        .iter()
        .filter(|s| matches!(s.from.op, Op::From { .. }))
        .filter_map(|s| {
            let words: Vec<&str> = s.from.original.split_whitespace().collect();
            let from = *words.first()?;
            let as_kw = words
                .iter()
                .skip(2)
                .rev()
                .nth(1)
                .filter(|w| w.eq_ignore_ascii_case("as"))?;
            let upper = |w: &str| w.chars().all(|c| !c.is_ascii_lowercase());
            let lower = |w: &str| w.chars().all(|c| !c.is_ascii_uppercase());
            let matched = (upper(from) && upper(as_kw)) || (lower(from) && lower(as_kw));
            (!matched).then(|| {
                format!(
                    "FromAsCasing: '{as_kw}' and '{from}' keywords' casing do not match (line {})",
                    s.from.line
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directive_parses() {
        assert!(parse("skip=all").unwrap().skip_all);
        let c = parse("skip=FromAsCasing,Other;error=true").unwrap();
        assert_eq!(c.skip, ["FromAsCasing", "Other"]);
        assert!(c.error);
        assert!(parse("error=maybe").is_err());
        assert!(parse("nonsense").is_err());
    }
}
