//! Deserializers for fields Docker's clients send as null or in two shapes.

use serde::Deserialize;

/// Docker accepts `null` where a list or map is expected (and sends it).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Entrypoint and Cmd may be a string (shell form) in requests.
pub fn string_or_vec<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum SV {
        S(String),
        V(Vec<String>),
    }
    Ok(match Option::<SV>::deserialize(d)? {
        None => Vec::new(),
        Some(SV::S(s)) => vec![s],
        Some(SV::V(v)) => v,
    })
}
