//! `GET /distribution/{name}/json`: what a registry holds under a
//! reference, without pulling it, as Docker's `DistributionInspect`: the
//! descriptor of the manifest (or index) the reference names, and the
//! platforms it offers (an index's entries, or a manifest's config).

use oci_client::client::LayerDescriptor;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::pull::{PullError, PullOptions};
use super::registry::{self, RegistryError, Remote, MANIFEST_TYPES};

/// Docker's answer for `reference`, from the first endpoint that has it.
pub async fn inspect(reference: &str, opts: &PullOptions) -> Result<Value, PullError> {
    let remote = Remote::parse(reference)?;
    let auth = registry::auth(opts.credentials.as_ref());
    let mut failed = None;
    for ep in opts.registries.endpoints(&remote) {
        let client = registry::client(&ep, &opts.registries);
        let (raw, digest) = match client.pull_manifest_raw(&ep.oci(), &auth, MANIFEST_TYPES).await {
            Ok(m) => m,
            Err(e) => {
                failed = Some(registry::describe(e, &ep));
                continue;
            }
        };
        let v: Value = serde_json::from_slice(&raw).map_err(|e| RegistryError::Other(format!("manifest: {e}")))?;
        let media = v["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json");
        let platforms = match v["manifests"].as_array() {
            Some(entries) => entries.iter().map(|m| m["platform"].clone()).collect(),
            None => {
                let want = v["config"]["digest"].as_str().unwrap_or_default().to_string();
                let blob = LayerDescriptor {
                    digest: &want,
                    urls: &None,
                };
                let mut cfg = Vec::new();
                client
                    .pull_blob(&ep.oci(), &blob, &mut cfg)
                    .await
                    .map_err(|e| registry::describe(e, &ep))?;
                if format!("sha256:{}", hex::encode(Sha256::digest(&cfg))) != want {
                    return Err(PullError::Digest(want));
                }
                let c: Value = serde_json::from_slice(&cfg).unwrap_or_default();
                vec![platform_of(&c)]
            }
        };
        return Ok(json!({
            "Descriptor": {"mediaType": media, "digest": digest, "size": raw.len()},
            "Platforms": platforms,
        }));
    }
    Err(failed.unwrap_or(RegistryError::BadReference).into())
}

/// An image config's platform, with Docker's keys (empty ones left out).
fn platform_of(c: &Value) -> Value {
    let mut p = json!({"architecture": c["architecture"], "os": c["os"]});
    for (from, to) in [
        ("variant", "variant"),
        ("os.version", "os.version"),
        ("os.features", "os.features"),
    ] {
        if let Some(x) = c.get(from).filter(|x| !x.is_null() && x.as_str() != Some("")) {
            p[to] = x.clone();
        }
    }
    p
}
