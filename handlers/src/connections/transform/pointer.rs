//! JSON Pointers (RFC 6901, parsed by [`json_pointer`]) as a transform reads and writes them.
//! An array is indexed by a decimal without leading zeros; `-` is the position past its end
//! (only a write uses it: it appends). Reading or removing what is not there is
//! `None`, never an error: a transform meets payloads of every shape.

use serde_json::{Map, Value};

use crate::json_pointer::{self, PointerError};

/// Longest pointer a transform accepts, in bytes.
pub const MAX_POINTER_LEN: usize = 256;

/// A parsed pointer, with its text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    text: String,
    tokens: Vec<String>,
}

impl Pointer {
    /// Parse `text` (see [`json_pointer`]); `Err` says what is wrong with it.
    pub fn parse(text: &str) -> Result<Pointer, &'static str> {
        if text.len() > MAX_POINTER_LEN {
            return Err("is longer than 256 bytes");
        }
        let tokens = json_pointer::tokens(text).map_err(PointerError::problem)?;
        Ok(Pointer {
            text: text.to_string(),
            tokens,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The whole document (`""`).
    pub fn is_root(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The value at this pointer, if there is one.
    pub fn get<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        self.tokens
            .iter()
            .try_fold(doc, |at, token| child(at, token))
    }

    /// Remove and return the value at this pointer (an array's later elements move up). The
    /// whole document taken leaves `null` behind.
    pub fn take(&self, doc: &mut Value) -> Option<Value> {
        let Some((last, parents)) = self.tokens.split_last() else {
            return Some(std::mem::take(doc));
        };
        let parent = parents
            .iter()
            .try_fold(doc, |at, token| child_mut(at, token))?;
        match parent {
            Value::Object(map) => map.remove(last),
            Value::Array(items) => {
                let at = index(last, items.len())?;
                Some(items.remove(at))
            }
            _ => None,
        }
    }

    /// Put `value` at this pointer: a missing or `null` parent becomes an object; an array
    /// element is replaced, or appended at `-` (or its length). False, and the document
    /// untouched, when the way is blocked (a scalar parent, an array index past the end).
    pub fn set(&self, doc: &mut Value, value: Value) -> bool {
        let Some((last, parents)) = self.tokens.split_last() else {
            *doc = value;
            return true;
        };
        if !self.reachable(doc) {
            return false;
        }
        let Some(parent) = parents
            .iter()
            .try_fold(doc, |at, token| child_or_object(at, token))
        else {
            return false;
        };
        place(parent, last, value)
    }

    /// Whether [`Pointer::set`] can make its way to the parent without changing anything
    /// first: every existing step is an object (or `null`), or an array with that index.
    fn reachable(&self, doc: &Value) -> bool {
        let mut at = Some(doc);
        for token in self.tokens.iter().take(self.tokens.len().saturating_sub(1)) {
            match at {
                None | Some(Value::Null) => return true,
                Some(Value::Object(map)) => at = map.get(token),
                Some(Value::Array(items)) => match index(token, items.len()) {
                    Some(i) => at = items.get(i),
                    None => return false,
                },
                Some(_) => return false,
            }
        }
        matches!(
            at,
            None | Some(Value::Null | Value::Object(_) | Value::Array(_))
        )
    }

    /// The tokens, unescaped.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }
}

/// An array index token below `len`.
pub fn index(token: &str, len: usize) -> Option<usize> {
    json_pointer::array_index(token).filter(|i| *i < len)
}

fn child<'a>(at: &'a Value, token: &str) -> Option<&'a Value> {
    match at {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(index(token, items.len())?),
        _ => None,
    }
}

fn child_mut<'a>(at: &'a mut Value, token: &str) -> Option<&'a mut Value> {
    match at {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => {
            let i = index(token, items.len())?;
            items.get_mut(i)
        }
        _ => None,
    }
}

/// The child at `token`, made an empty object when it is missing or `null` (and `at` itself
/// made an object when it is `null`).
fn child_or_object<'a>(at: &'a mut Value, token: &str) -> Option<&'a mut Value> {
    if at.is_null() {
        *at = Value::Object(Map::new());
    }
    let next = match at {
        Value::Object(map) => map.entry(token.to_string()).or_insert(Value::Null),
        Value::Array(items) => {
            let i = index(token, items.len())?;
            items.get_mut(i)?
        }
        _ => return None,
    };
    if next.is_null() {
        *next = Value::Object(Map::new());
    }
    Some(next)
}

/// Put `value` under `token` of `parent` (see [`Pointer::set`]).
fn place(parent: &mut Value, token: &str, value: Value) -> bool {
    if parent.is_null() {
        *parent = Value::Object(Map::new());
    }
    match parent {
        Value::Object(map) => {
            map.insert(token.to_string(), value);
            true
        }
        Value::Array(items) if token == "-" || token == items.len().to_string() => {
            items.push(value);
            true
        }
        Value::Array(items) => match index(token, items.len()).and_then(|i| items.get_mut(i)) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> Pointer {
        Pointer::parse(text).unwrap()
    }

    #[test]
    fn the_rfc_6901_examples_read_what_the_rfc_says() {
        let doc = json!({
            "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4,
            "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8
        });
        let cases = [
            ("", doc.clone()),
            ("/foo", json!(["bar", "baz"])),
            ("/foo/0", json!("bar")),
            ("/", json!(0)),
            ("/a~1b", json!(1)),
            ("/c%d", json!(2)),
            ("/e^f", json!(3)),
            ("/g|h", json!(4)),
            ("/i\\j", json!(5)),
            ("/k\"l", json!(6)),
            ("/ ", json!(7)),
            ("/m~0n", json!(8)),
        ];
        for (text, want) in cases {
            assert_eq!(at(text).get(&doc), Some(&want), "{text}");
        }
    }

    #[test]
    fn escapes_unescape_tilde_one_before_tilde_zero() {
        // `~01` is `~1` unescaped once: the key "~1", not "/".
        let doc = json!({"~1": "tilde-one", "/": "slash"});
        assert_eq!(at("/~01").get(&doc), Some(&json!("tilde-one")));
        assert_eq!(at("/~1").get(&doc), Some(&json!("slash")));
        assert_eq!(at("/~01").tokens(), ["~1"]);
    }

    #[test]
    fn bad_pointers_are_refused() {
        for bad in ["a", "data/x", "/~2", "/a~", "/~"] {
            assert!(Pointer::parse(bad).is_err(), "{bad}");
        }
        assert!(Pointer::parse(&format!("/{}", "a".repeat(MAX_POINTER_LEN))).is_err());
    }

    #[test]
    fn array_indices_are_canonical_decimals_within_the_array() {
        let doc = json!({"a": [10, 11, 12]});
        assert_eq!(at("/a/2").get(&doc), Some(&json!(12)));
        for missing in ["/a/3", "/a/01", "/a/-", "/a/-1", "/a/x", "/a/1e0", "/a/"] {
            assert_eq!(at(missing).get(&doc), None, "{missing}");
        }
        assert_eq!(at("/a/0/deeper").get(&doc), None, "through a number");
    }

    #[test]
    fn take_removes_from_objects_and_arrays() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "l": [1, 2, 3]});
        assert_eq!(at("/a/b").take(&mut doc), Some(json!(1)));
        assert_eq!(at("/l/0").take(&mut doc), Some(json!(1)));
        assert_eq!(at("/l/5").take(&mut doc), None);
        assert_eq!(at("/nope/x").take(&mut doc), None);
        assert_eq!(doc, json!({"a": {"c": 2}, "l": [2, 3]}));
        assert_eq!(
            at("").take(&mut doc),
            Some(json!({"a": {"c": 2}, "l": [2, 3]}))
        );
        assert_eq!(doc, Value::Null);
    }

    #[test]
    fn set_creates_objects_replaces_and_appends() {
        let mut doc = json!({"l": [1], "s": "text", "n": null});
        assert!(at("/new/deep/x").set(&mut doc, json!(1)));
        assert!(at("/n/y").set(&mut doc, json!(2)));
        assert!(at("/l/0").set(&mut doc, json!("zero")));
        assert!(at("/l/-").set(&mut doc, json!("end")));
        assert!(at("/l/2").set(&mut doc, json!("len")));
        assert_eq!(
            doc,
            json!({"l": ["zero", "end", "len"], "s": "text", "n": {"y": 2}, "new": {"deep": {"x": 1}}})
        );
        let before = doc.clone();
        assert!(!at("/s/x").set(&mut doc, json!(0)), "a string parent");
        assert!(!at("/l/9").set(&mut doc, json!(0)), "past the end");
        assert!(
            !at("/l/9/x").set(&mut doc, json!(0)),
            "through a missing index"
        );
        assert!(
            !at("/s/x/y").set(&mut doc, json!(0)),
            "nothing made on the way"
        );
        assert_eq!(doc, before);
        assert!(at("").set(&mut doc, json!([1])));
        assert_eq!(doc, json!([1]));
    }
}
