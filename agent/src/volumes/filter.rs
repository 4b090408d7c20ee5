//! `GET /volumes?filters=` and `POST /volumes/prune?filters=`, read as
//! Docker reads them: every key must match; any value of `name` or
//! `driver` may, every value of `label` must.

use std::collections::{BTreeMap, HashMap};

use super::{Meta, DRIVER};

pub type Filters = HashMap<String, Vec<String>>;

fn invalid(key: &str) -> String {
    format!("Invalid filter '{key}'")
}

/// `label=KEY` or `label=KEY=VALUE`, each of them.
fn labels_match(wanted: &[String], labels: Option<&BTreeMap<String, String>>) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.and_then(|l| l.get(k)).is_some_and(|x| x == v),
        None => labels.is_some_and(|l| l.contains_key(w)),
    })
}

/// `dangling=true|1|false|0`.
fn dangling(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("Invalid filter 'dangling={value}'")),
    }
}

/// The filters `volume ls` takes: `dangling`, `name`, `driver`, `label`.
pub fn check_list(f: &Filters) -> Result<(), String> {
    for (k, vals) in f {
        match k.as_str() {
            "name" | "driver" | "label" => {}
            "dangling" => {
                for v in vals {
                    dangling(v)?;
                }
            }
            _ => return Err(invalid(k)),
        }
    }
    Ok(())
}

/// Does a volume (with `refs` containers using it) pass `volume ls` filters?
pub fn list_matches(f: &Filters, m: &Meta, refs: usize) -> bool {
    f.iter().all(|(k, vals)| match k.as_str() {
        "dangling" => vals.iter().all(|v| dangling(v).is_ok_and(|d| d == (refs == 0))),
        "name" => vals.iter().any(|v| m.name.contains(v.as_str())),
        "driver" => vals.iter().any(|v| v == DRIVER),
        "label" => labels_match(vals, m.labels.as_ref()),
        _ => false,
    })
}

/// The filters `volume prune` takes (API 1.41): `label`, `label!`.
pub fn check_prune(f: &Filters) -> Result<(), String> {
    match f.keys().find(|k| !matches!(k.as_str(), "label" | "label!")) {
        Some(k) => Err(invalid(k)),
        None => Ok(()),
    }
}

/// Does an unused volume pass `volume prune` filters?
pub fn prune_matches(f: &Filters, m: &Meta) -> bool {
    let labels = m.labels.as_ref();
    let with = f.get("label").is_none_or(|w| labels_match(w, labels));
    let without = f.get("label!").is_none_or(|w| !labels_match(w, labels));
    with && without
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kv: &[(&str, &str)]) -> Filters {
        let mut out = Filters::new();
        for (k, v) in kv {
            out.entry(k.to_string()).or_default().push(v.to_string());
        }
        out
    }

    #[test]
    fn list_and_prune_filters_read_as_dockers() {
        let m = Meta {
            name: "webdata".into(),
            labels: Some([("env".to_string(), "prod".to_string())].into()),
            ..Default::default()
        };
        assert!(list_matches(&f(&[("dangling", "true")]), &m, 0));
        assert!(!list_matches(&f(&[("dangling", "true")]), &m, 1));
        assert!(list_matches(&f(&[("dangling", "0")]), &m, 2));
        assert!(list_matches(&f(&[("name", "data"), ("name", "zzz")]), &m, 0));
        assert!(list_matches(&f(&[("label", "env"), ("label", "env=prod")]), &m, 0));
        assert!(!list_matches(&f(&[("label", "env"), ("label", "tier")]), &m, 0));
        assert!(list_matches(&f(&[("driver", "local")]), &m, 0));
        assert_eq!(
            check_list(&f(&[("colour", "red")])),
            Err("Invalid filter 'colour'".into())
        );
        assert!(check_list(&f(&[("dangling", "maybe")])).is_err());
        assert!(prune_matches(&f(&[("label", "env=prod")]), &m));
        assert!(!prune_matches(&f(&[("label!", "env")]), &m));
        assert!(prune_matches(&f(&[("label!", "tier")]), &m));
        assert_eq!(check_prune(&f(&[("all", "true")])), Err("Invalid filter 'all'".into()));
    }
}
