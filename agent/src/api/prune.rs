//! The filters container and network prunes take, as Docker reads them:
//! `until` (created no later than; a timestamp or a duration before now),
//! `label` (every one must match) and `label!` (skipped when every one
//! matches).

use std::collections::{BTreeMap, HashMap};

use super::ApiError;

pub struct PruneFilter {
    /// Nanoseconds since the epoch.
    until: Option<i64>,
    label: Vec<String>,
    not_label: Vec<String>,
}

impl PruneFilter {
    /// Read the `filters` query of a prune; keys other than these and
    /// `extra` (which the caller reads) are refused with Docker's message.
    pub fn parse(q: &HashMap<String, String>, extra: &[&str]) -> Result<Self, ApiError> {
        let mut filters = super::containers::parse_filters(q)?;
        let known = |k: &str| matches!(k, "until" | "label" | "label!") || extra.contains(&k);
        if let Some(k) = filters.keys().find(|k| !known(k)) {
            return Err(ApiError::bad(format!("invalid filter '{k}'")));
        }
        let until = match filters.remove("until").unwrap_or_default().as_slice() {
            [] => None,
            [one] => Some(skiff_api::events::parse_time(one).map_err(ApiError::bad)?),
            _ => return Err(ApiError::bad("more than one until filter specified")),
        };
        Ok(Self {
            until,
            label: filters.remove("label").unwrap_or_default(),
            not_label: filters.remove("label!").unwrap_or_default(),
        })
    }

    /// May something created at `created` (RFC 3339) with `labels` go?
    pub fn allows(&self, created: &str, labels: &BTreeMap<String, String>) -> bool {
        if let Some(until) = self.until {
            let at = chrono::DateTime::parse_from_rfc3339(created)
                .ok()
                .and_then(|t| t.timestamp_nanos_opt());
            if at.is_none_or(|at| at > until) {
                return false;
            }
        }
        let all = |wanted: &[String]| wanted.iter().all(|w| label_matches(w, labels));
        all(&self.label) && (self.not_label.is_empty() || !all(&self.not_label))
    }
}

/// `KEY` (present) or `KEY=VALUE`.
fn label_matches(wanted: &str, labels: &BTreeMap<String, String>) -> bool {
    match wanted.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(json: &str) -> Result<PruneFilter, ApiError> {
        PruneFilter::parse(&[("filters".to_string(), json.to_string())].into(), &["dangling"])
    }

    #[test]
    fn until_and_labels_as_docker_reads_them() {
        let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        let old = "2020-01-01T00:00:00Z";
        let now = chrono::Utc::now().to_rfc3339();
        let f = filter(r#"{"until":["1h"]}"#).expect("parse");
        assert!(f.allows(old, &labels) && !f.allows(&now, &labels));
        let f = filter(r#"{"label":{"a=1":true}}"#).expect("parse");
        assert!(f.allows(&now, &labels) && !f.allows(&now, &BTreeMap::new()));
        let f = filter(r#"{"label!":["a"]}"#).expect("parse");
        assert!(!f.allows(&now, &labels) && f.allows(&now, &BTreeMap::new()));
        assert!(filter(r#"{"dangling":["true"]}"#).is_ok());
        assert!(filter(r#"{"name":["x"]}"#).is_err_and(|e| e.1 == "invalid filter 'name'"));
        assert!(filter(r#"{"until":["soon"]}"#).is_err());
    }
}
