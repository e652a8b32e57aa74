//! A connection's transform: what an `http` destination receives instead of the provider's
//! payload verbatim. An ordered list of operations on the payload by JSON Pointer
//! ([`ops::Op`]: select, rename, set, remove) and headers with constant or templated values
//! ([`headers::HeaderRule`]), validated when an operator saves the connection (bounded: at most
//! [`MAX_OPS`] operations, [`headers::MAX_HEADERS`] headers, [`MAX_TRANSFORM_BYTES`] of JSON;
//! errors are `invalid_transform` naming the operation or header). Applying one is pure: the
//! shell signs exactly the bytes [`Transform::apply`] returns. Which connection's transform a
//! step uses when it is sent is [`resolve`]'s.

pub mod headers;
pub mod ops;
pub mod pointer;
pub mod preview;
pub mod sql;

use serde_json::{json, Map, Value};

use super::filter::FilterError;
use super::plan::EventFacts;
use super::Connection;
pub use headers::{EventFields, HeaderRule};
pub use ops::Op;

/// The error code of a transform that does not validate.
pub const INVALID_TRANSFORM: &str = "invalid_transform";
/// Most operations in a transform.
pub const MAX_OPS: usize = 32;
/// Largest transform, as JSON text in bytes, both as sent and as stored ([`Transform::to_json`]).
pub const MAX_TRANSFORM_BYTES: usize = 16_384;

/// `400 invalid_transform` naming `field` (`transform.ops[2].path`, `transform.headers.x-id`).
pub(crate) fn transform_error(field: &str, problem: &str) -> FilterError {
    FilterError {
        code: INVALID_TRANSFORM,
        field: field.to_string(),
        problem: problem.to_string(),
    }
}

/// Operations and headers; never empty (an empty transform is no transform).
#[derive(Debug, Clone, PartialEq)]
pub struct Transform {
    pub ops: Vec<Op>,
    pub headers: Vec<HeaderRule>,
}

/// Why a transform could not be applied to a stored payload (the step ends `dead` with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformFailed {
    /// The stored payload is not JSON, so no pointer can read it.
    PayloadNotJson,
}

impl TransformFailed {
    pub fn code(self) -> &'static str {
        match self {
            TransformFailed::PayloadNotJson => "transform_payload_not_json",
        }
    }
}

/// A transform's result: the body to send (and sign) and the headers it adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformed {
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Transform {
    /// A connection's `transform` member: absent, `null` or empty is none;
    /// `{"ops": [...], "headers": {"name": "template", ...}}` otherwise.
    pub fn from_json(value: Option<&Value>) -> Result<Option<Transform>, FilterError> {
        let object = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(object)) => object,
            Some(_) => {
                return Err(transform_error(
                    "transform",
                    "must be an object with `ops` and/or `headers`",
                ))
            }
        };
        if let Some(extra) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "ops" | "headers"))
        {
            return Err(transform_error(
                &format!("transform.{extra}"),
                "is not a member of a transform (ops, headers)",
            ));
        }
        if Value::Object(object.clone()).to_string().len() > MAX_TRANSFORM_BYTES {
            return Err(too_large());
        }
        let transform = Transform {
            ops: ops_of(object.get("ops"))?,
            headers: headers_of(object.get("headers"))?,
        };
        if transform.to_json().to_string().len() > MAX_TRANSFORM_BYTES {
            return Err(too_large());
        }
        Ok(Some(transform).filter(|t| !t.ops.is_empty() || !t.headers.is_empty()))
    }

    /// The transform as operators write it (what [`Transform::from_json`] reads).
    pub fn to_json(&self) -> Value {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|h| (h.name().to_string(), json!(h.template())))
            .collect();
        json!({"ops": self.ops.iter().map(Op::to_json).collect::<Vec<_>>(), "headers": headers})
    }

    /// The body and added headers for `event` whose stored payload is `payload`: the
    /// operations in order on the parsed payload, serialized as compact JSON (object keys in
    /// alphabetical order); the headers rendered from the payload as it arrived.
    pub fn apply(
        &self,
        event: &EventFields<'_>,
        payload: &str,
    ) -> Result<Transformed, TransformFailed> {
        let original: Value =
            serde_json::from_str(payload).map_err(|_| TransformFailed::PayloadNotJson)?;
        let headers = self
            .headers
            .iter()
            .map(|h| (h.name().to_string(), h.render(event, &original)))
            .collect();
        let body = self
            .ops
            .iter()
            .fold(original.clone(), |doc, op| op.apply(doc));
        Ok(Transformed {
            body: body.to_string(),
            headers,
        })
    }
}

/// Over [`MAX_TRANSFORM_BYTES`] as sent, or as stored ([`Transform::to_json`] writes both
/// members, so the stored form may be longer than what was sent, and must still read back).
fn too_large() -> FilterError {
    transform_error(
        "transform",
        "is larger than 16384 bytes of JSON (as stored)",
    )
}

fn ops_of(value: Option<&Value>) -> Result<Vec<Op>, FilterError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) if list.len() <= MAX_OPS => list,
        Some(_) => {
            return Err(transform_error(
                "transform.ops",
                "must be an array of at most 32 operations",
            ))
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, op)| Op::from_json(op, &format!("transform.ops[{i}]")))
        .collect()
}

fn headers_of(value: Option<&Value>) -> Result<Vec<HeaderRule>, FilterError> {
    let map = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(map)) if map.len() <= headers::MAX_HEADERS => map,
        Some(_) => {
            return Err(transform_error(
                "transform.headers",
                "must be an object of at most 16 header names to value templates",
            ))
        }
    };
    let mut rules = map
        .iter()
        .map(|(name, value)| HeaderRule::parse(name, value))
        .collect::<Result<Vec<_>, _>>()?;
    rules.sort_by(|a, b| a.name().cmp(b.name()));
    for (i, rule) in rules.iter().enumerate() {
        if rules.iter().take(i).any(|r| r.name() == rule.name()) {
            return Err(transform_error(
                &format!("transform.headers.{}", rule.name()),
                "is given twice (names are case-insensitive)",
            ));
        }
    }
    Ok(rules)
}

/// Which transform a step of an `http` destination is sent with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    /// The stored payload verbatim: the connection that takes the event has no transform.
    Verbatim,
    Transform(&'a Transform),
    /// No connection to the destination takes the event any more (deleted, or its source or
    /// filter changed since the step was planned): the step ends `dead` rather than send a
    /// payload no connection asks for, possibly without the transform that shaped it.
    NoConnection,
}

/// The code a step ends `dead` with when [`Resolved::NoConnection`].
pub const NO_CONNECTION: &str = "connection_missing";
/// The code a step ends `dead` with when no readable connection takes its event and one of
/// its destination's stored connections no longer validates (it may be the step's own).
pub const CONNECTION_INVALID: &str = "connection_invalid";

/// A destination's connections as a step of it reads them: those that validate, in stored
/// order, and the stored ones that no longer do (`name (field)`), which are skipped so that one
/// bad row does not stop the steps of the others, as routing skips it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DestinationConnections {
    pub readable: Vec<Connection>,
    pub unreadable: Vec<String>,
}

impl DestinationConnections {
    /// Every connection readable (none skipped).
    pub fn all(readable: Vec<Connection>) -> DestinationConnections {
        DestinationConnections {
            readable,
            unreadable: Vec::new(),
        }
    }
}

/// The transform a step of an `http` destination uses when it is sent: that of the first
/// connection to the destination (in stored order) that takes the event now, the same rule
/// that planned it; a switched-off connection still shapes the steps it planned, so one is
/// looked for among them when no enabled connection takes the event. `connections` are the
/// destination's; `None` (not read) is the payload verbatim.
pub fn resolve<'a>(connections: Option<&'a [Connection]>, event: &EventFacts<'_>) -> Resolved<'a> {
    let Some(connections) = connections else {
        return Resolved::Verbatim;
    };
    let payload = serde_json::from_str(event.payload).unwrap_or(Value::Null);
    let taking = |enabled: bool| {
        connections
            .iter()
            .find(|c| c.enabled == enabled && c.would_take(event, &payload))
    };
    match taking(true).or_else(|| taking(false)) {
        Some(connection) => match &connection.transform {
            Some(transform) => Resolved::Transform(transform),
            None => Resolved::Verbatim,
        },
        None => Resolved::NoConnection,
    }
}

#[cfg(test)]
mod tests;
