//! [`ByName`]: values by a string key, kept sorted by key, serialized as a JSON object. The small
//! maps and sets edgehooks builds (the dashboard's series per provider and outcome, the alert
//! settings per provider, the settings an isolate has read, a batch's steps by id, the dedupe
//! keys seen in one webhook batch, the isolate caches of opened secrets and registry sources)
//! are this rather than `BTreeMap`s or `HashMap`s: in the wasm every map key/value type brings
//! its own copy of the tree's or the hash table's code (about 2 KiB of the gzip bundle each,
//! BENCHMARKS.md, issue 25), while a sorted `Vec` behind a binary search is a few hundred bytes.
//! These maps hold at most a few hundred keys.

use serde::{Serialize, Serializer};

/// Values by name, sorted by name, each name once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByName<V>(Vec<(String, V)>);

impl<V> Default for ByName<V> {
    fn default() -> Self {
        ByName(Vec::new())
    }
}

impl<V> ByName<V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(held, _)| held.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&V> {
        let at = self.position(name).ok()?;
        self.0.get(at).map(|(_, value)| value)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut V> {
        let at = self.position(name).ok()?;
        self.0.get_mut(at).map(|(_, value)| value)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Set `name` to `value`; what it held before, if anything (`None`: the name is new).
    pub fn insert(&mut self, name: String, value: V) -> Option<V> {
        match self.position(&name) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (name, value));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<V> {
        let at = self.position(name).ok()?;
        Some(self.0.remove(at).1)
    }

    /// The value of `name`, inserted as `V::default()` if new (`BTreeMap`'s
    /// `entry(name).or_default()`).
    pub fn entry(&mut self, name: &str) -> &mut V
    where
        V: Default,
    {
        let at = match self.position(name) {
            Ok(at) => at,
            Err(at) => {
                self.0.insert(at, (name.to_string(), V::default()));
                at
            }
        };
        &mut self.0[at].1
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Name and value, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(name, value)| (name, value))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, value)| value)
    }

    /// Forget every name.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Keep only the names whose value `keep` accepts (order kept).
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.0.retain(|(_, value)| keep(value));
    }
}

/// Later pairs replace earlier ones of the same name (as collecting into a `BTreeMap`).
impl<V> FromIterator<(String, V)> for ByName<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(pairs: I) -> Self {
        let mut map = ByName::new();
        for (name, value) in pairs {
            map.insert(name, value);
        }
        map
    }
}

/// Name and value, in name order.
impl<V> IntoIterator for ByName<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Panics when `name` is missing, as `BTreeMap`'s index does (tests read results this way).
impl<V> std::ops::Index<&str> for ByName<V> {
    type Output = V;

    fn index(&self, name: &str) -> &V {
        match self.get(name) {
            Some(value) => value,
            None => panic!("no entry named {name}"),
        }
    }
}

/// A JSON object, keys in name order (what a `BTreeMap<String, V>` serializes to).
impl<V: Serialize> Serialize for ByName<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_as_a_btreemap_of_the_same_pairs() {
        let pairs = [("b", 2), ("a", 1), ("c", 3), ("a", 4), ("b", 5)];
        let ours: ByName<i32> = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let theirs: BTreeMap<String, i32> =
            pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let ours_pairs: Vec<(&String, &i32)> = ours.iter().collect();
        assert_eq!(ours_pairs, theirs.iter().collect::<Vec<_>>());
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&theirs).unwrap()
        );
        assert_eq!(ours.get("a"), Some(&4));
        assert_eq!(ours.get("z"), None);
        assert_eq!(ours["c"], 3);
        assert_eq!(ours.len(), 3);
    }

    #[test]
    fn entry_inserts_a_default_in_name_order() {
        let mut counts: ByName<u32> = ByName::new();
        for name in ["m", "a", "z", "m"] {
            *counts.entry(name) += 1;
        }
        let names: Vec<&str> = counts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "m", "z"]);
        assert_eq!(counts["m"], 2);
        for value in counts.values_mut() {
            *value *= 10;
        }
        assert_eq!(counts.get_mut("z").copied(), Some(10));
    }

    #[test]
    fn insert_says_whether_the_name_was_new_and_remove_takes_it() {
        let mut seen: ByName<u8> = ByName::new();
        assert_eq!(seen.insert("k".into(), 1), None);
        assert_eq!(seen.insert("k".into(), 2), Some(1));
        assert!(seen.contains("k") && !seen.contains("j"));
        assert_eq!(seen.remove("k"), Some(2));
        assert_eq!(seen.remove("k"), None);
        assert!(seen.is_empty());
    }

    #[test]
    fn retain_keeps_the_accepted_names_in_order_and_clear_forgets_all() {
        let mut cache: ByName<i64> = [("c", 3), ("a", 1), ("b", 2), ("d", 4)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        cache.retain(|v| v % 2 == 0);
        assert_eq!(
            cache.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["b", "d"]
        );
        assert_eq!(cache.get("d"), Some(&4));
        assert_eq!(cache.get("a"), None);
        cache.clear();
        assert!(cache.is_empty());
    }
}
