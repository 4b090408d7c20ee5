//! Resolved profiles kept in memory, one per distinct input (the profile's
//! source, the container's capabilities, the host), so a start with the
//! same settings as an earlier one does no JSON or profile work: it gets
//! the resolved profile and its digest (which names the compiled `.bpf`
//! file, see `bpf`) from here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Host, Profile, SeccompError};

/// How many resolved profiles are kept; past that the map starts again
/// (a host runs few distinct capability sets).
const KEEP: usize = 16;

/// A profile after [`Profile::resolve`] (OCI `linux.seccomp`) and the
/// sha256 of its JSON text, which names its compiled filter.
#[derive(Debug, PartialEq)]
pub struct Resolved {
    pub profile: Value,
    pub digest: String,
}

impl Resolved {
    pub fn new(profile: Value) -> Result<Resolved, SeccompError> {
        let text = serde_json::to_vec(&profile).map_err(|e| SeccompError::Invalid(e.to_string()))?;
        let digest = hex::encode(Sha256::digest(&text));
        Ok(Resolved { profile, digest })
    }
}

/// Where a profile comes from.
pub enum Source<'a> {
    /// Docker's default profile.
    Default,
    /// A user's profile, as `--security-opt seccomp=` gave its text.
    Custom(&'a str),
}

/// The cache key: the source (`None` for the default, else the sha256 of
/// the text), the capabilities sorted, the host.
type Key = (Option<[u8; 32]>, Vec<String>, String, (u64, u64));

static RESOLVED: Mutex<Option<HashMap<Key, Option<Arc<Resolved>>>>> = Mutex::new(None);

/// The profile of `source` resolved for a container with bounding set
/// `caps` on `host` (`None`: no filter), from the cache when the same
/// input was resolved before. Failures are not kept.
pub fn resolved(source: Source, caps: &[String], host: &Host) -> Result<Option<Arc<Resolved>>, SeccompError> {
    let mut sorted = caps.to_vec();
    sorted.sort();
    sorted.dedup();
    let id = match source {
        Source::Default => None,
        Source::Custom(body) => Some(Sha256::digest(body.as_bytes()).into()),
    };
    let key: Key = (id, sorted, host.arch.clone(), host.kernel);
    if let Some(hit) = RESOLVED.lock().unwrap().as_ref().and_then(|m| m.get(&key)) {
        return Ok(hit.clone());
    }
    let profile = match source {
        Source::Default => Profile::docker_default().resolve(caps, host)?,
        Source::Custom(body) => Profile::parse(body)?.resolve(caps, host)?,
    };
    let value = profile.map(Resolved::new).transpose()?.map(Arc::new);
    let mut map = RESOLVED.lock().unwrap();
    let map = map.get_or_insert_with(HashMap::new);
    if map.len() >= KEEP {
        map.clear();
    }
    Ok(map.entry(key).or_insert(value).clone())
}
