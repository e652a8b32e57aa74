//! Read the few top-level fields of a JSON object that parsing an event needs (an id, a type,
//! a timestamp...) in one pass, without building the rest of the document. Every other value is
//! parsed and validated but not kept, so a 256 KB Stripe event costs its payload copy
//! and a handful of small strings instead of a DOM many times its size. The semantics match
//! reading the same keys from a `serde_json::Value` (property-tested against it): invalid JSON,
//! out-of-range numbers and trailing garbage are errors, the same nesting limit applies, a repeated key keeps its last value, and numbers
//! keep `Value`'s integer rules (`as_i64`, `as_u64`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::inbound::webhook::ParseError;

/// A wanted top-level value, as far as event parsing cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field<'a> {
    /// A string; borrowed from the body unless it contained escapes.
    Str(Cow<'a, str>),
    /// An integer that fits `i64`.
    Int(i64),
    /// A non-negative integer above `i64::MAX`.
    BigUint(u64),
    /// Anything else: a float, a boolean, null, an array or an object (its content is skipped).
    Other,
}

impl Field<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Like `Value::as_i64`: integers within `i64`, never floats.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Field::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// Like `Value::as_u64`: non-negative integers, never floats.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Field::Int(v) => u64::try_from(*v).ok(),
            Field::BigUint(v) => Some(*v),
            _ => None,
        }
    }

    /// A non-empty string, owned.
    pub fn non_empty_str(&self) -> Option<String> {
        self.as_str().filter(|s| !s.is_empty()).map(str::to_string)
    }
}

/// The wanted fields found in one JSON object.
#[derive(Debug)]
pub struct Fields<'a> {
    wanted: &'static [&'static str],
    values: Vec<Option<Field<'a>>>,
}

impl<'a> Fields<'a> {
    /// The value of `name` (which must be one of the wanted names), if the object had it.
    pub fn get(&self, name: &str) -> Option<&Field<'a>> {
        let index = self.wanted.iter().position(|w| *w == name)?;
        self.values.get(index)?.as_ref()
    }
}

/// Why `read_object` found no object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// Not JSON (or trailing characters, or nested too deeply).
    InvalidJson,
    /// Valid JSON, but not an object.
    NotAnObject,
}

/// Read the `wanted` top-level fields of the JSON object `text`.
pub fn read_object<'a>(
    text: &'a str,
    wanted: &'static [&'static str],
) -> Result<Fields<'a>, ReadError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let object = ObjectSeed { wanted }
        .deserialize(&mut deserializer)
        .map_err(|_| ReadError::InvalidJson)?;
    deserializer.end().map_err(|_| ReadError::InvalidJson)?;
    object.ok_or(ReadError::NotAnObject)
}

/// `read_object` for an event body or batch element: not JSON is `InvalidJson`, JSON of another
/// shape is `UnexpectedShape(shape)`.
pub fn read_event<'a>(
    text: &'a str,
    wanted: &'static [&'static str],
    shape: &'static str,
) -> Result<Fields<'a>, ParseError> {
    read_object(text, wanted).map_err(|e| match e {
        ReadError::InvalidJson => ParseError::InvalidJson,
        ReadError::NotAnObject => ParseError::UnexpectedShape(shape),
    })
}

/// Deserializes any JSON value: `Some(fields)` for an object, `None` (skipped) for the rest.
struct ObjectSeed {
    wanted: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Option<Fields<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed {
    type Value = Option<Fields<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![None; self.wanted.len()];
        while let Some(index) = map.next_key_seed(KeyIndex(self.wanted))? {
            match index.and_then(|i| values.get_mut(i)) {
                // A repeated key keeps its last value, as `Value` does.
                Some(slot) => *slot = Some(map.next_value::<Field<'de>>()?),
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Some(Fields {
            wanted: self.wanted,
            values,
        }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A key's position among the wanted names (compared, never copied).
struct KeyIndex(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeyIndex {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIndex {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|w| *w == key))
    }
}

impl<'de> de::Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Field::BigUint(v), Field::Int))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(Field::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map)?;
        Ok(Field::Other)
    }
}

/// A value that is parsed (and so validated exactly as `Value` would be: number ranges, string
/// escapes, the nesting limit) but not kept. Unlike `serde::de::IgnoredAny`, which serde_json
/// skips without checking numbers or depth, this goes through `deserialize_any`.
struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Skip, A::Error> {
        skip_seq(seq)?;
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Skip, A::Error> {
        skip_map(map)?;
        Ok(Skip)
    }
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<Skip>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<Skip, Skip>()?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const WANTED: &[&str] = &["id", "type", "created", "n"];

    /// What reading `name` from a `Value` gives, in the same shape.
    fn via_value(value: &Value, name: &str) -> Option<(Option<String>, Option<i64>, Option<u64>)> {
        let v = value.as_object()?.get(name)?;
        Some((v.as_str().map(str::to_string), v.as_i64(), v.as_u64()))
    }

    fn via_fields(
        fields: &Fields,
        name: &str,
    ) -> Option<(Option<String>, Option<i64>, Option<u64>)> {
        let f = fields.get(name)?;
        Some((f.as_str().map(str::to_string), f.as_i64(), f.as_u64()))
    }

    /// `read_object` agrees with `serde_json::Value` on validity, shape and every wanted field.
    fn agrees(text: &str) {
        let value = serde_json::from_str::<Value>(text);
        match (read_object(text, WANTED), value) {
            (Ok(fields), Ok(value)) => {
                assert!(value.is_object(), "{text}");
                for name in WANTED {
                    assert_eq!(
                        via_fields(&fields, name),
                        via_value(&value, name),
                        "{name} in {text}"
                    );
                }
            }
            (Err(ReadError::NotAnObject), Ok(value)) => assert!(!value.is_object(), "{text}"),
            (Err(ReadError::InvalidJson), Err(_)) => {}
            (ours, theirs) => panic!("{text}: fields {ours:?}, Value {theirs:?}"),
        }
    }

    #[test]
    fn reads_wanted_fields_and_skips_the_rest() {
        let text = r#"{"data":{"object":{"id":"nested"}},"id":"evt_1","type":"a\"b","created":1700000000,"extra":[1,2,{"x":null}]}"#;
        let fields = read_object(text, WANTED).unwrap();
        assert_eq!(fields.get("id").and_then(Field::as_str), Some("evt_1"));
        assert_eq!(fields.get("type").and_then(Field::as_str), Some("a\"b"));
        assert_eq!(
            fields.get("created").and_then(Field::as_i64),
            Some(1_700_000_000)
        );
        assert_eq!(fields.get("n"), None);
        assert!(matches!(
            fields.get("id"),
            Some(Field::Str(Cow::Borrowed(_)))
        ));
    }

    #[test]
    fn matches_value_on_edge_cases() {
        for text in [
            r#"{"id":"a","id":"b"}"#,
            r#"{"id":1,"created":-5,"n":18446744073709551615}"#,
            r#"{"created":1.0,"n":9223372036854775808}"#,
            r#"{"created":1e3,"type":null,"id":true}"#,
            r#"{"i\u0064":"escaped key","type":"\u00e9"}"#,
            r#"[{"id":"in an array"}]"#,
            r#""just a string""#,
            "42",
            "null",
            "{}",
            r#"{"id":"x"} trailing"#,
            r#"{"id":"x",}"#,
            "",
            "   ",
            r#"{"id":"x"}   "#,
        ] {
            agrees(text);
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        agrees(&deep);
        let deep_field = format!(r#"{{"id":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        agrees(&deep_field);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            "[a-z\"\\\\é\u{1F600}]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("id".to_string()),
                            Just("type".to_string()),
                            Just("created".to_string()),
                            "[a-z]{1,3}"
                        ],
                        inner
                    ),
                    0..5
                )
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_value_on_any_json(value in json_value()) {
            agrees(&value.to_string());
        }

        #[test]
        fn agrees_with_value_on_any_text(text in ".{0,40}") {
            agrees(&text);
        }

        #[test]
        fn agrees_with_value_on_mangled_json(value in json_value(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = value.to_string().into_bytes();
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                agrees(text);
            }
        }
    }
}
