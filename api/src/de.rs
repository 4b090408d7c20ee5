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

/// A map whose values may be `null` (Go's `map[string]*T` with nil
/// entries): each null value is the default.
pub fn null_values_as_default<'de, D, T>(d: D) -> Result<std::collections::BTreeMap<String, T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    let m = Option::<std::collections::BTreeMap<String, Option<T>>>::deserialize(d)?.unwrap_or_default();
    Ok(m.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect())
}
