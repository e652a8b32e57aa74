//! A connection's filter: which events it takes. Event types are matched against patterns in
//! which `*` stands for any run of characters (`invoice.*`, `orders/*`, `*`); an empty list takes
//! every type. Conditions test the event's payload at a JSON Pointer (RFC 6901: `/data/object/
//! livemode`, `~1` for `/`, `~0` for `~`): `equals` a JSON value, `in` a list of values,
//! `exists` (true or false), or `not` another condition. Every condition must hold. Filters are
//! written as JSON by operators, so parsing names the exact field that is wrong.

use serde_json::{Map, Value};

use crate::json_pointer;

/// The error code of a connection or destination field that does not validate.
pub const INVALID_FIELD: &str = "invalid_field";

/// An operator's filter (or connection, destination, transform) that cannot be used: `code` is
/// the stable error code ([`INVALID_FIELD`], or `invalid_transform` for a connection's
/// transform), `field` names the field (`types[2]`, `conditions[0].path`,
/// `transform.ops[1].path`), `problem` says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub code: &'static str,
    pub field: String,
    pub problem: String,
}

fn error(field: impl Into<String>, problem: impl Into<String>) -> FilterError {
    FilterError {
        code: INVALID_FIELD,
        field: field.into(),
        problem: problem.into(),
    }
}

/// Longest event-type pattern and deepest `not` nesting accepted.
const MAX_PATTERN_LEN: usize = 200;
const MAX_NOT_DEPTH: usize = 4;

/// An event-type pattern; `*` matches any run of characters, everything else itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypePattern(String);

impl TypePattern {
    pub fn parse(text: &str, field: &str) -> Result<TypePattern, FilterError> {
        if text.trim().is_empty() {
            return Err(error(field, "must not be blank"));
        }
        if text.len() > MAX_PATTERN_LEN || text.chars().any(char::is_control) {
            return Err(error(field, "must be a short event type pattern"));
        }
        Ok(TypePattern(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Glob match where `*` is the only special character.
    pub fn matches(&self, event_type: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = event_type.strip_prefix(first) else {
            return false;
        };
        let pieces: Vec<&str> = parts.collect();
        let Some((last, middle)) = pieces.split_last() else {
            return rest.is_empty(); // no `*`: the pattern is the whole type
        };
        for piece in middle {
            match rest.find(piece) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        rest.ends_with(last)
    }
}

/// A test on the payload at a JSON Pointer.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Equals { path: String, value: Value },
    In { path: String, values: Vec<Value> },
    Exists { path: String, exists: bool },
    Not(Box<Condition>),
}

impl Condition {
    pub fn holds(&self, payload: &Value) -> bool {
        match self {
            Condition::Equals { path, value } => payload.pointer(path) == Some(value),
            Condition::In { path, values } => payload
                .pointer(path)
                .is_some_and(|found| values.contains(found)),
            Condition::Exists { path, exists } => payload.pointer(path).is_some() == *exists,
            Condition::Not(inner) => !inner.holds(payload),
        }
    }

    /// One condition object: `{"path": P, "equals": V}`, `{"path": P, "in": [V…]}`,
    /// `{"path": P, "exists": bool}` or `{"not": {…}}`.
    pub fn from_json(value: &Value, field: &str) -> Result<Condition, FilterError> {
        Condition::parse(value, field, 0)
    }

    fn parse(value: &Value, field: &str, depth: usize) -> Result<Condition, FilterError> {
        let object = value
            .as_object()
            .ok_or_else(|| error(field, "must be an object"))?;
        if let Some(inner) = object.get("not") {
            only_keys(object, &["not"], field)?;
            if depth >= MAX_NOT_DEPTH {
                return Err(error(field, "nests `not` too deeply"));
            }
            let inner = Condition::parse(inner, &format!("{field}.not"), depth + 1)?;
            return Ok(Condition::Not(Box::new(inner)));
        }
        let path = pointer(object.get("path"), &format!("{field}.path"))?;
        if let Some(expected) = object.get("equals") {
            only_keys(object, &["path", "equals"], field)?;
            return Ok(Condition::Equals {
                path,
                value: expected.clone(),
            });
        }
        if let Some(listed) = object.get("in") {
            only_keys(object, &["path", "in"], field)?;
            let values = listed
                .as_array()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| error(format!("{field}.in"), "must be a non-empty array"))?;
            return Ok(Condition::In {
                path,
                values: values.clone(),
            });
        }
        if let Some(exists) = object.get("exists") {
            only_keys(object, &["path", "exists"], field)?;
            let exists = exists
                .as_bool()
                .ok_or_else(|| error(format!("{field}.exists"), "must be true or false"))?;
            return Ok(Condition::Exists { path, exists });
        }
        Err(error(
            field,
            "needs one of `equals`, `in`, `exists` or `not`",
        ))
    }

    pub fn to_json(&self) -> Value {
        match self {
            Condition::Equals { path, value } => {
                serde_json::json!({ "path": path, "equals": value })
            }
            Condition::In { path, values } => serde_json::json!({ "path": path, "in": values }),
            Condition::Exists { path, exists } => {
                serde_json::json!({ "path": path, "exists": exists })
            }
            Condition::Not(inner) => serde_json::json!({ "not": inner.to_json() }),
        }
    }
}

fn only_keys(
    object: &Map<String, Value>,
    allowed: &[&str],
    field: &str,
) -> Result<(), FilterError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(extra) => Err(error(format!("{field}.{extra}"), "is not allowed here")),
        None => Ok(()),
    }
}

/// A JSON Pointer ([`json_pointer`]): empty (the whole payload) or `/`-separated tokens with
/// valid `~` escapes.
fn pointer(value: Option<&Value>, field: &str) -> Result<String, FilterError> {
    let text = value.and_then(Value::as_str).ok_or_else(|| {
        error(
            field,
            "must be a JSON Pointer string such as /data/object/id",
        )
    })?;
    json_pointer::tokens(text).map_err(|e| error(field, e.problem()))?;
    Ok(text.to_string())
}

/// Event-type patterns plus payload conditions; see the module docs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub types: Vec<TypePattern>,
    pub conditions: Vec<Condition>,
}

impl Filter {
    /// From the `types` (array of strings) and `conditions` (array of condition objects) of an
    /// operator's JSON; either may be absent or null.
    pub fn from_json(
        types: Option<&Value>,
        conditions: Option<&Value>,
    ) -> Result<Filter, FilterError> {
        let types = list(types, "types")?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let field = format!("types[{i}]");
                let text = v
                    .as_str()
                    .ok_or_else(|| error(&field, "must be a string"))?;
                TypePattern::parse(text, &field)
            })
            .collect::<Result<_, _>>()?;
        let conditions = list(conditions, "conditions")?
            .iter()
            .enumerate()
            .map(|(i, v)| Condition::from_json(v, &format!("conditions[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(Filter { types, conditions })
    }

    /// True when the event type matches a pattern (or there are none), before any payload is
    /// read: a cheap first test.
    pub fn takes_type(&self, event_type: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|p| p.matches(event_type))
    }

    /// True when there are conditions, so the payload must be parsed to decide.
    pub fn reads_payload(&self) -> bool {
        !self.conditions.is_empty()
    }

    /// The whole decision for one event.
    pub fn matches(&self, event_type: &str, payload: &Value) -> bool {
        self.takes_type(event_type) && self.conditions.iter().all(|c| c.holds(payload))
    }
}

fn list<'a>(value: Option<&'a Value>, field: &str) -> Result<&'a [Value], FilterError> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(error(field, "must be an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pattern(text: &str) -> TypePattern {
        TypePattern::parse(text, "types[0]").unwrap()
    }

    #[test]
    fn type_patterns_glob_with_star_only() {
        let cases = [
            ("invoice.*", "invoice.paid", true),
            ("invoice.*", "invoice.payment_failed", true),
            ("invoice.*", "invoiceitem.created", false),
            ("invoice.*", "invoice", false),
            ("*", "anything/at.all", true),
            ("orders/create", "orders/create", true),
            ("orders/create", "orders/created", false),
            ("customer.*.deleted", "customer.subscription.deleted", true),
            ("customer.*.deleted", "customer.subscription.updated", false),
            ("*.deleted", "customer.deleted", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("**", "", true),
        ];
        for (p, t, expected) in cases {
            assert_eq!(pattern(p).matches(t), expected, "{p} vs {t}");
        }
    }

    #[test]
    fn conditions_read_the_payload_by_pointer() {
        let payload = json!({"data": {"object": {"livemode": true, "currency": "eur", "a/b": 1}}});
        let parse = |v: Value| Condition::from_json(&v, "conditions[0]").unwrap();
        assert!(parse(json!({"path": "/data/object/livemode", "equals": true})).holds(&payload));
        assert!(!parse(json!({"path": "/data/object/livemode", "equals": "true"})).holds(&payload));
        assert!(
            parse(json!({"path": "/data/object/currency", "in": ["usd", "eur"]})).holds(&payload)
        );
        assert!(!parse(json!({"path": "/data/object/missing", "in": [null]})).holds(&payload));
        assert!(parse(json!({"path": "/data/object/a~1b", "exists": true})).holds(&payload));
        assert!(parse(json!({"path": "/data/object/nope", "exists": false})).holds(&payload));
        assert!(
            parse(json!({"not": {"path": "/data/object/livemode", "equals": false}}))
                .holds(&payload)
        );
    }

    #[test]
    fn bad_filters_name_the_field() {
        let cases = [
            (json!(["ok", 3]), json!(null), "types[1]"),
            (json!([" "]), json!(null), "types[0]"),
            (json!("invoice.*"), json!(null), "types"),
            (
                json!(null),
                json!([{"path": "data", "equals": 1}]),
                "conditions[0].path",
            ),
            (
                json!(null),
                json!([{"path": "/a~2", "equals": 1}]),
                "conditions[0].path",
            ),
            (json!(null), json!([{"path": "/a"}]), "conditions[0]"),
            (
                json!(null),
                json!([{"path": "/a", "in": []}]),
                "conditions[0].in",
            ),
            (
                json!(null),
                json!([{"path": "/a", "exists": "yes"}]),
                "conditions[0].exists",
            ),
            (
                json!(null),
                json!([{"path": "/a", "equals": 1, "in": [1]}]),
                "conditions[0].in",
            ),
            (
                json!(null),
                json!([{"not": {"path": 1, "equals": 1}}]),
                "conditions[0].not.path",
            ),
        ];
        for (types, conditions, field) in cases {
            let err = Filter::from_json(Some(&types), Some(&conditions)).unwrap_err();
            assert_eq!(err.field, field, "{types} {conditions}: {}", err.problem);
        }
        let deep =
            json!([{"not": {"not": {"not": {"not": {"not": {"path": "", "exists": true}}}}}}]);
        assert!(Filter::from_json(None, Some(&deep)).is_err());
    }

    #[test]
    fn a_filter_needs_a_type_match_and_every_condition() {
        let filter = Filter::from_json(
            Some(&json!(["invoice.*", "checkout.session.completed"])),
            Some(&json!([{"path": "/livemode", "equals": true}])),
        )
        .unwrap();
        assert!(filter.reads_payload());
        assert!(filter.matches("invoice.paid", &json!({"livemode": true})));
        assert!(!filter.matches("invoice.paid", &json!({"livemode": false})));
        assert!(!filter.matches("charge.refunded", &json!({"livemode": true})));
        let everything = Filter::from_json(None, None).unwrap();
        assert!(everything.matches("any.type", &json!(null)));
        assert!(!everything.reads_payload());
    }

    #[test]
    fn conditions_round_trip_through_json() {
        let text = json!([{"not": {"path": "/x", "in": [1, "a"]}}, {"path": "", "exists": true}]);
        let filter = Filter::from_json(None, Some(&text)).unwrap();
        let back: Vec<Value> = filter.conditions.iter().map(Condition::to_json).collect();
        assert_eq!(Value::Array(back), text);
    }
}
