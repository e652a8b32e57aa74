//! Small JSON documents the worker stores itself (a list of strings, of counts, of name and
//! status pairs), read through `serde_json::Value` instead of a typed `Deserialize`: every typed
//! target compiles its own copy of serde_json's sequence and string readers into the wasm, while
//! `Value` is read everywhere already (BENCHMARKS.md, issue 25). Each reader is all or nothing,
//! as the typed one was: text that is not JSON, not an array, or an array with one element of
//! another shape reads as `None`.

use serde_json::Value;

/// The elements of an array, each read by `element`; `None` when any element is not one.
fn array_of<T>(text: &str, element: fn(&Value) -> Option<T>) -> Option<Vec<T>> {
    let value: Value = serde_json::from_str(text).ok()?;
    value.as_array()?.iter().map(element).collect()
}

/// An array of strings (`Vec<String>`).
pub fn strings(text: &str) -> Option<Vec<String>> {
    array_of(text, |v| v.as_str().map(str::to_string))
}

/// An array of non-negative integers (`Vec<u64>`: no floats, no negatives).
pub fn counts(text: &str) -> Option<Vec<u64>> {
    array_of(text, Value::as_u64)
}

/// An array of two-string arrays (`Vec<(String, String)>`).
pub fn string_pairs(text: &str) -> Option<Vec<(String, String)>> {
    array_of(text, |v| match v.as_array()?.as_slice() {
        [a, b] => Some((a.as_str()?.to_string(), b.as_str()?.to_string())),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each reader agrees with the typed `Deserialize` it replaced, on good and bad input.
    #[test]
    fn each_reader_matches_the_typed_one() {
        let texts = [
            r#"["a","b\"c"]"#,
            "[]",
            r#"["a",1]"#,
            "[1,2,18446744073709551615]",
            "[1,-2]",
            "[1.0]",
            "[1.5,2]",
            r#"[["a","b"],["c","d"]]"#,
            r#"[["a","b","c"]]"#,
            r#"[["a"]]"#,
            r#"[["a",1]]"#,
            r#"{"a":"b"}"#,
            "null",
            "[1] x",
            "not json",
            "",
        ];
        for text in texts {
            assert_eq!(strings(text), serde_json::from_str(text).ok(), "{text}");
            assert_eq!(counts(text), serde_json::from_str(text).ok(), "{text}");
            assert_eq!(
                string_pairs(text),
                serde_json::from_str(text).ok(),
                "{text}"
            );
        }
    }
}
