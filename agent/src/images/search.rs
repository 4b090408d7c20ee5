//! `docker search TERM` against an OCI distribution registry: the
//! registry's catalog (`/v2/_catalog`, which Debian's docker-registry and
//! most private registries serve; Docker's daemon asks the v1 search API
//! they lack), filtered by the term. Rows in Docker's `SearchResult`
//! shape; a catalog knows no descriptions, stars or official marks.

use std::collections::HashMap;

use serde::Serialize;

use super::registry::{self, Credentials, Registries, RegistryError, Remote};

/// Docker Hub, as search terms name it.
const HUB: &str = "docker.io";

/// One row of `GET /images/search`, as Docker's.
#[derive(Serialize, Debug, PartialEq)]
pub struct SearchResult {
    pub star_count: u64,
    pub is_official: bool,
    pub name: String,
    pub is_automated: bool,
    pub description: String,
}

/// What Docker's daemon filters search results by.
#[derive(Default, Debug)]
pub struct SearchFilters {
    pub automated: bool,
    pub official: bool,
    pub stars: u64,
}

impl SearchFilters {
    /// Docker's `filters` of `/images/search`, with its errors.
    pub fn parse(f: &HashMap<String, Vec<String>>) -> Result<Self, String> {
        let mut out = SearchFilters::default();
        for (k, vals) in f {
            let invalid = || format!("Invalid filter '{k}=[{}]'", vals.join(" "));
            match k.as_str() {
                "is-automated" | "is-official" => {
                    let on = match vals.as_slice() {
                        [v] if v == "true" => true,
                        [v] if v == "false" => false,
                        _ => return Err(invalid()),
                    };
                    if k == "is-automated" {
                        out.automated = on;
                    } else {
                        out.official = on;
                    }
                }
                "stars" => {
                    for v in vals {
                        let n: u64 = v.parse().map_err(|_| format!("Invalid filter 'stars={v}'"))?;
                        out.stars = out.stars.max(n);
                    }
                }
                other => return Err(format!("Invalid filter '{other}'")),
            }
        }
        Ok(out)
    }

    fn keeps(&self, r: &SearchResult) -> bool {
        (!self.automated || r.is_automated) && (!self.official || r.is_official) && r.star_count >= self.stars
    }
}

/// Docker's `splitReposSearchTerm`: a first part that looks like a host
/// names the registry; otherwise the term is for Docker Hub.
pub fn split_term(term: &str) -> (&str, &str) {
    match term.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => (host, rest),
        _ => (HUB, term),
    }
}

/// Search `term` in its registry's catalog: repositories whose name
/// contains the term's repository part (all of them for `host/`), at most
/// `limit`, named so they can be pulled as listed.
pub async fn search(
    term: &str,
    limit: usize,
    filters: &SearchFilters,
    creds: Option<&Credentials>,
    reg: &Registries,
) -> Result<Vec<SearchResult>, RegistryError> {
    let (host, what) = split_term(term);
    let remote = Remote::parse(&format!("{host}/skiff/search")).map_err(|_| RegistryError::BadReference)?;
    let client = registry::client(&remote, reg);
    let catalog = client
        .catalog(&remote.oci(), &registry::auth(creds), None, None)
        .await
        .map_err(|e| RegistryError::Other(format!("searching {host}: {e}")))?;
    let what = what.to_lowercase();
    Ok(catalog
        .repositories
        .into_iter()
        .filter(|r| r.to_lowercase().contains(&what))
        .map(|r| SearchResult {
            star_count: 0,
            is_official: false,
            name: if host == HUB {
                r.strip_prefix("library/").unwrap_or(&r).to_string()
            } else {
                format!("{host}/{r}")
            },
            is_automated: false,
            description: String::new(),
        })
        .filter(|r| filters.keeps(r))
        .take(limit)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_as_dockers() {
        assert_eq!(split_term("busybox"), ("docker.io", "busybox"));
        assert_eq!(split_term("team/app"), ("docker.io", "team/app"));
        assert_eq!(split_term("127.0.0.1:5000/app"), ("127.0.0.1:5000", "app"));
        assert_eq!(split_term("localhost/"), ("localhost", ""));
    }

    #[test]
    fn filters_read_as_dockers() {
        let f = |k: &str, v: &[&str]| HashMap::from([(k.to_string(), v.iter().map(|s| s.to_string()).collect())]);
        assert!(SearchFilters::parse(&f("is-official", &["true"])).unwrap().official);
        assert_eq!(SearchFilters::parse(&f("stars", &["3", "7"])).unwrap().stars, 7);
        assert_eq!(
            SearchFilters::parse(&f("is-automated", &["yes"])).unwrap_err(),
            "Invalid filter 'is-automated=[yes]'"
        );
        assert_eq!(
            SearchFilters::parse(&f("stars", &["x"])).unwrap_err(),
            "Invalid filter 'stars=x'"
        );
        assert_eq!(
            SearchFilters::parse(&f("name", &["x"])).unwrap_err(),
            "Invalid filter 'name'"
        );
    }
}
