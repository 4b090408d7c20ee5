//! Lists and maps as Go keeps them: Docker shows a list that was never set
//! (a nil slice) as `null` and one set empty as `[]`, and clients see the
//! difference. `Nil<C>` reads and writes as the plain collection; only an
//! empty one remembers whether it was given.

use std::collections::{BTreeMap, HashMap};
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Collections that can be empty.
pub trait Collection: Default {
    fn is_empty_collection(&self) -> bool;
}

impl<T> Collection for Vec<T> {
    fn is_empty_collection(&self) -> bool {
        self.is_empty()
    }
}

impl<K, V> Collection for BTreeMap<K, V> {
    fn is_empty_collection(&self) -> bool {
        self.is_empty()
    }
}

impl<K, V> Collection for HashMap<K, V> {
    fn is_empty_collection(&self) -> bool {
        self.is_empty()
    }
}

/// A collection serialised as `null` when it is empty and was never given
/// (deserialised from `null` or absent, or made by `Default`), and as
/// itself otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nil<C> {
    given: bool,
    value: C,
}

impl<C: Collection> Nil<C> {
    /// `null` when empty (Go's slice appended to from nil), else itself.
    pub fn null_if_empty(value: C) -> Self {
        Nil { given: false, value }
    }

    /// Whether it shows as `null`.
    pub fn is_null(&self) -> bool {
        !self.given && self.value.is_empty_collection()
    }

    pub fn into_inner(self) -> C {
        self.value
    }
}

impl<C> Deref for Nil<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.value
    }
}

impl<C> DerefMut for Nil<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.value
    }
}

/// A collection made by code counts as given.
impl<C> From<C> for Nil<C> {
    fn from(value: C) -> Self {
        Nil { given: true, value }
    }
}

impl<T> From<Nil<Vec<T>>> for Vec<T> {
    fn from(n: Nil<Vec<T>>) -> Self {
        n.value
    }
}

impl<K, V> From<Nil<BTreeMap<K, V>>> for BTreeMap<K, V> {
    fn from(n: Nil<BTreeMap<K, V>>) -> Self {
        n.value
    }
}

impl<'a, C> IntoIterator for &'a Nil<C>
where
    &'a C: IntoIterator,
{
    type Item = <&'a C as IntoIterator>::Item;
    type IntoIter = <&'a C as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.value.into_iter()
    }
}

impl<C: IntoIterator> IntoIterator for Nil<C> {
    type Item = C::Item;
    type IntoIter = C::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.value.into_iter()
    }
}

impl<A, C: FromIterator<A>> FromIterator<A> for Nil<C> {
    fn from_iter<I: IntoIterator<Item = A>>(iter: I) -> Self {
        Nil {
            given: true,
            value: C::from_iter(iter),
        }
    }
}

impl<C: Collection + Serialize> Serialize for Nil<C> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_null() {
            s.serialize_none()
        } else {
            self.value.serialize(s)
        }
    }
}

impl<'de, C: Collection + Deserialize<'de>> Deserialize<'de> for Nil<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<C>::deserialize(d)? {
            Some(value) => Nil { given: true, value },
            None => Nil::default(),
        })
    }
}

/// Entrypoint and Cmd: a string (shell form) or a list, or null.
pub fn nil_string_or_vec<'de, D>(d: D) -> Result<Nil<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum SV {
        S(String),
        V(Vec<String>),
    }
    Ok(match Option::<SV>::deserialize(d)? {
        None => Nil::default(),
        Some(SV::S(s)) => vec![s].into(),
        Some(SV::V(v)) => v.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Default)]
    struct T {
        #[serde(default)]
        a: Nil<Vec<String>>,
    }

    #[test]
    fn null_absent_and_empty_round_trip_as_docker_shows_them() {
        for (input, output) in [
            ("{}", r#"{"a":null}"#),
            (r#"{"a":null}"#, r#"{"a":null}"#),
            (r#"{"a":[]}"#, r#"{"a":[]}"#),
        ] {
            let t: T = serde_json::from_str(input).expect("parse");
            assert_eq!(serde_json::to_string(&t).expect("json"), output, "{input}");
        }
        let mut t = T::default();
        t.a.push("x".into());
        assert_eq!(serde_json::to_string(&t).expect("json"), r#"{"a":["x"]}"#);
        t.a.clear();
        assert_eq!(serde_json::to_string(&t).expect("json"), r#"{"a":null}"#);
    }
}
