//! A transform's operations on the payload, applied in order, each to what the one before it
//! left: `select` keeps only the values at its pointers, in the minimal structure that holds
//! them (objects and arrays as in the payload; an array keeps its elements' positions, earlier
//! positions not selected are `null`); `rename` moves a value from one pointer to another;
//! `set` puts a constant JSON value at a pointer (creating missing objects on the way);
//! `remove` deletes a pointer. A pointer that is not there is skipped, never an error, and a
//! write whose way is blocked (through a string, past an array's end) changes nothing.

use serde_json::{json, Map, Value};

use super::pointer::Pointer;
use super::{transform_error, FilterError};

/// Most pointers one `select` keeps.
pub const MAX_SELECT_PATHS: usize = 64;
/// Largest constant a `set` writes, as JSON text in bytes.
pub const MAX_SET_VALUE_BYTES: usize = 4_096;

/// One operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Select(Vec<Pointer>),
    Rename { from: Pointer, to: Pointer },
    Set { path: Pointer, value: Value },
    Remove(Pointer),
}

impl Op {
    /// `doc` after this operation.
    pub fn apply(&self, mut doc: Value) -> Value {
        match self {
            Op::Select(paths) => select(&doc, paths),
            Op::Rename { from, to } => {
                if let Some(value) = from.take(&mut doc) {
                    to.set(&mut doc, value);
                }
                doc
            }
            Op::Set { path, value } => {
                path.set(&mut doc, value.clone());
                doc
            }
            Op::Remove(path) => {
                path.take(&mut doc);
                doc
            }
        }
    }

    /// From `{"op": "select", "paths": [...]}`, `{"op": "rename", "from", "to"}`,
    /// `{"op": "set", "path", "value"}` or `{"op": "remove", "path"}`; errors name `field`
    /// (`transform.ops[2]`) and the member at fault.
    pub fn from_json(value: &Value, field: &str) -> Result<Op, FilterError> {
        let object = value
            .as_object()
            .ok_or_else(|| transform_error(field, "must be an object with an `op`"))?;
        let name = object.get("op").and_then(Value::as_str).unwrap_or_default();
        let (allowed, op): (&[&str], Op) = match name {
            "select" => (&["op", "paths"], Op::Select(paths(object, field)?)),
            "rename" => {
                let from = pointer_at(object, field, "from")?;
                let to = pointer_at(object, field, "to")?;
                (&["op", "from", "to"], Op::Rename { from, to })
            }
            "set" => {
                let path = pointer_at(object, field, "path")?;
                (
                    &["op", "path", "value"],
                    Op::Set {
                        path,
                        value: constant(object, field)?,
                    },
                )
            }
            "remove" => match pointer_at(object, field, "path")? {
                path if path.is_root() => {
                    return Err(transform_error(
                        &format!("{field}.path"),
                        "cannot remove the whole payload",
                    ))
                }
                path => (&["op", "path"], Op::Remove(path)),
            },
            _ => {
                return Err(transform_error(
                    &format!("{field}.op"),
                    "must be select, rename, set or remove",
                ))
            }
        };
        match object.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(extra) => Err(transform_error(
                &format!("{field}.{extra}"),
                &format!("is not a member of a {name} operation"),
            )),
            None => Ok(op),
        }
    }

    /// The operation as operators write it (what [`Op::from_json`] reads).
    pub fn to_json(&self) -> Value {
        match self {
            Op::Select(paths) => {
                json!({"op": "select", "paths": paths.iter().map(Pointer::as_str).collect::<Vec<_>>()})
            }
            Op::Rename { from, to } => {
                json!({"op": "rename", "from": from.as_str(), "to": to.as_str()})
            }
            Op::Set { path, value } => json!({"op": "set", "path": path.as_str(), "value": value}),
            Op::Remove(path) => json!({"op": "remove", "path": path.as_str()}),
        }
    }
}

/// The pointer in member `member` of an operation.
fn pointer_at(
    object: &Map<String, Value>,
    field: &str,
    member: &str,
) -> Result<Pointer, FilterError> {
    let field = format!("{field}.{member}");
    let text = object.get(member).and_then(Value::as_str).ok_or_else(|| {
        transform_error(
            &field,
            "must be a JSON Pointer string such as /data/object/id",
        )
    })?;
    Pointer::parse(text).map_err(|problem| transform_error(&field, problem))
}

/// A `select`'s pointers: 1 to [`MAX_SELECT_PATHS`].
fn paths(object: &Map<String, Value>, field: &str) -> Result<Vec<Pointer>, FilterError> {
    let list = object
        .get("paths")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty() && l.len() <= MAX_SELECT_PATHS)
        .ok_or_else(|| {
            transform_error(
                &format!("{field}.paths"),
                "must be an array of 1-64 JSON Pointers",
            )
        })?;
    list.iter()
        .enumerate()
        .map(|(i, value)| {
            let field = format!("{field}.paths[{i}]");
            let text = value
                .as_str()
                .ok_or_else(|| transform_error(&field, "must be a JSON Pointer string"))?;
            Pointer::parse(text).map_err(|problem| transform_error(&field, problem))
        })
        .collect()
}

/// A `set`'s constant: any JSON value (`null` included) of at most [`MAX_SET_VALUE_BYTES`].
fn constant(object: &Map<String, Value>, field: &str) -> Result<Value, FilterError> {
    let field = format!("{field}.value");
    let value = object
        .get("value")
        .ok_or_else(|| transform_error(&field, "is required (any JSON value)"))?;
    match value.to_string().len() <= MAX_SET_VALUE_BYTES {
        true => Ok(value.clone()),
        false => Err(transform_error(&field, "is larger than 4096 bytes of JSON")),
    }
}

/// The values of `doc` at `paths` in the minimal structure holding them (see the module docs).
fn select(doc: &Value, paths: &[Pointer]) -> Value {
    let mut kept = match doc {
        Value::Object(_) => Value::Object(Map::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        _ => Value::Null,
    };
    for path in paths {
        if let Some(value) = path.get(doc) {
            keep(&mut kept, doc, path.tokens(), value.clone());
        }
    }
    kept
}

/// Write `value` into `kept` at `tokens`, shaping each level like `source`'s (the value is
/// known to be there, so every level exists in `source`).
fn keep(kept: &mut Value, source: &Value, tokens: &[String], value: Value) {
    let Some((token, rest)) = tokens.split_first() else {
        *kept = value;
        return;
    };
    match source {
        Value::Object(map) => {
            if !kept.is_object() {
                *kept = Value::Object(Map::new());
            }
            let (Some(next), Value::Object(out)) = (map.get(token), kept) else {
                return;
            };
            let slot = out.entry(token.clone()).or_insert(Value::Null);
            keep(slot, next, rest, value);
        }
        Value::Array(items) => {
            let Some(i) = super::pointer::index(token, items.len()) else {
                return;
            };
            if !kept.is_array() {
                *kept = Value::Array(Vec::new());
            }
            let (Some(next), Value::Array(out)) = (items.get(i), kept) else {
                return;
            };
            if out.len() <= i {
                out.resize(i + 1, Value::Null);
            }
            if let Some(slot) = out.get_mut(i) {
                keep(slot, next, rest, value);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(value: Value) -> Op {
        Op::from_json(&value, "transform.ops[0]").unwrap()
    }

    fn invoice() -> Value {
        json!({
            "id": "evt_1", "type": "invoice.paid",
            "data": {"object": {"id": "in_1", "amount": 500, "customer": {"email": "a@b.example", "name": "A"},
                     "lines": [{"id": "l0", "qty": 1}, {"id": "l1", "qty": 2}, {"id": "l2", "qty": 3}]}}
        })
    }

    #[test]
    fn select_keeps_the_minimal_structure() {
        let kept = op(
            json!({"op": "select", "paths": ["/id", "/data/object/customer/email", "/missing/x"]}),
        )
        .apply(invoice());
        assert_eq!(
            kept,
            json!({"id": "evt_1", "data": {"object": {"customer": {"email": "a@b.example"}}}})
        );
    }

    #[test]
    fn select_keeps_array_positions_padding_with_null() {
        let kept = op(json!({"op": "select", "paths": ["/data/object/lines/2/id", "/data/object/lines/0", "/data/object/lines/7"]}))
            .apply(invoice());
        assert_eq!(
            kept,
            json!({"data": {"object": {"lines": [{"id": "l0", "qty": 1}, null, {"id": "l2"}]}}})
        );
    }

    #[test]
    fn select_of_a_parent_and_its_child_keeps_the_parent_whole() {
        let both = op(json!({"op": "select", "paths": ["/data/object/customer/name", "/data/object/customer"]}))
            .apply(invoice());
        assert_eq!(
            both,
            json!({"data": {"object": {"customer": {"email": "a@b.example", "name": "A"}}}})
        );
        let root = op(json!({"op": "select", "paths": [""]})).apply(invoice());
        assert_eq!(root, invoice());
        let none = op(json!({"op": "select", "paths": ["/nothing"]})).apply(invoice());
        assert_eq!(none, json!({}));
    }

    #[test]
    fn rename_moves_and_skips_what_is_missing() {
        let moved = op(json!({"op": "rename", "from": "/data/object/id", "to": "/invoice_id"}))
            .apply(invoice());
        assert_eq!(moved["invoice_id"], "in_1");
        assert_eq!(moved.pointer("/data/object/id"), None);
        let same = op(json!({"op": "rename", "from": "/nope", "to": "/x"})).apply(invoice());
        assert_eq!(same, invoice());
        let wrapped =
            op(json!({"op": "rename", "from": "", "to": "/event"})).apply(json!({"a": 1}));
        assert_eq!(wrapped, json!({"event": {"a": 1}}));
        let unwrapped =
            op(json!({"op": "rename", "from": "/data/object/customer", "to": ""})).apply(invoice());
        assert_eq!(unwrapped, json!({"email": "a@b.example", "name": "A"}));
    }

    #[test]
    fn set_and_remove() {
        let set = op(
            json!({"op": "set", "path": "/meta/source", "value": {"via": "edgehooks", "n": [1]}}),
        )
        .apply(invoice());
        assert_eq!(
            set["meta"],
            json!({"source": {"via": "edgehooks", "n": [1]}})
        );
        let null = op(json!({"op": "set", "path": "/id", "value": null})).apply(invoice());
        assert_eq!(null["id"], Value::Null);
        let removed = op(json!({"op": "remove", "path": "/data/object/lines/1"})).apply(invoice());
        assert_eq!(
            removed.pointer("/data/object/lines/1/id"),
            Some(&json!("l2"))
        );
        let missing = op(json!({"op": "remove", "path": "/data/nope/x"})).apply(invoice());
        assert_eq!(missing, invoice());
    }

    #[test]
    fn a_read_back_operation_is_the_same() {
        for value in [
            json!({"op": "select", "paths": ["/a~1b", ""]}),
            json!({"op": "rename", "from": "/a", "to": "/b"}),
            json!({"op": "set", "path": "/a", "value": [1, {"x": null}]}),
            json!({"op": "remove", "path": "/a/0"}),
        ] {
            assert_eq!(op(value.clone()).to_json(), value);
        }
    }

    #[test]
    fn invalid_operations_name_the_member() {
        let field = |value: Value| Op::from_json(&value, "transform.ops[3]").unwrap_err();
        let cases = [
            (json!("select"), "transform.ops[3]"),
            (json!({"op": "patch"}), "transform.ops[3].op"),
            (json!({"paths": ["/a"]}), "transform.ops[3].op"),
            (
                json!({"op": "select", "paths": []}),
                "transform.ops[3].paths",
            ),
            (
                json!({"op": "select", "paths": ["/a", "b"]}),
                "transform.ops[3].paths[1]",
            ),
            (
                json!({"op": "select", "paths": [1]}),
                "transform.ops[3].paths[0]",
            ),
            (json!({"op": "rename", "from": "/a"}), "transform.ops[3].to"),
            (
                json!({"op": "rename", "from": "/~2", "to": "/b"}),
                "transform.ops[3].from",
            ),
            (json!({"op": "set", "path": "/a"}), "transform.ops[3].value"),
            (
                json!({"op": "set", "path": "/a", "value": "x".repeat(MAX_SET_VALUE_BYTES)}),
                "transform.ops[3].value",
            ),
            (json!({"op": "remove", "path": ""}), "transform.ops[3].path"),
            (
                json!({"op": "remove", "path": "/a", "value": 1}),
                "transform.ops[3].value",
            ),
        ];
        for (value, want) in cases {
            let error = field(value.clone());
            assert_eq!(
                (error.code, error.field.as_str()),
                ("invalid_transform", want),
                "{value}"
            );
        }
        let paths: Vec<String> = (0..=MAX_SELECT_PATHS).map(|i| format!("/{i}")).collect();
        assert_eq!(
            field(json!({"op": "select", "paths": paths})).field,
            "transform.ops[3].paths"
        );
    }
}
