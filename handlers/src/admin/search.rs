//! Search over stored payloads for `GET /admin/api/events`: JSON Pointer equality
//! (`pointer`/`equals` pairs) and a substring of the raw payload (`contains`), combined with the
//! list's other filters and its keyset cursor. A pointer (RFC 6901) becomes SQLite JSON paths
//! with every key quoted (a token of digits may name an array element or a member, so it yields
//! both paths); the value is typed as JSON when it parses as a JSON scalar (`42`, `true`,
//! `null`, `"42"`) and is a string otherwise. A page examines at most `SEARCH_SCAN_ROWS` rows
//! of what the other filters select, newest first ([`search_sql`]); [`SearchPage`] decides
//! which hits it answers and where the next page resumes. A payload that is redacted, purged or
//! not JSON matches no pointer.

use serde_json::Value;

use super::{Cursor, FilterError, SqlArg};
use crate::json_pointer::{self, PointerError};
use crate::settings::{table, Config, ConfigError};

/// Pointer conditions one search may combine.
pub const MAX_POINTERS: usize = 3;
/// Tokens of digits one pointer may hold (each doubles the paths tried: array index or key).
pub const MAX_NUMERIC_TOKENS: usize = 3;
/// Longest pointer, and longest `contains` needle, in bytes.
pub const MAX_POINTER_BYTES: usize = 512;
pub const MAX_NEEDLE_BYTES: usize = 256;

fn bad_pointer(detail: impl Into<String>) -> FilterError {
    FilterError {
        code: "invalid_pointer",
        detail: detail.into(),
    }
}

fn bad_search(detail: impl Into<String>) -> FilterError {
    FilterError {
        code: "invalid_search",
        detail: detail.into(),
    }
}

/// The reference tokens of an RFC 6901 pointer, unescaped ([`json_pointer::tokens`]); the
/// whole document (`""`) is not searched.
pub fn pointer_tokens(pointer: &str) -> Result<Vec<String>, FilterError> {
    if pointer.len() > MAX_POINTER_BYTES {
        return Err(bad_pointer(format!(
            "pointer is longer than {MAX_POINTER_BYTES} bytes"
        )));
    }
    match json_pointer::tokens(pointer) {
        Ok(tokens) if !tokens.is_empty() => Ok(tokens),
        Err(PointerError::BadEscape) => Err(bad_pointer(
            "pointer has a `~` that is not `~0` or `~1` (RFC 6901)",
        )),
        _ => Err(bad_pointer("pointer must start with '/' (RFC 6901)")),
    }
}

/// An RFC 6901 array index of at most 9 digits (SQLite's `[N]`).
fn array_index(token: &str) -> Option<usize> {
    json_pointer::array_index(token).filter(|i| *i < 1_000_000_000)
}

/// The SQLite JSON paths a pointer may resolve to: every key quoted (`$."a"."b/c"`), and a token
/// of digits both as an array element (`[0]`) and as a member (`."0"`). A document resolves at
/// most one of them (a value is an array or an object, never both). SQLite's quoted keys have
/// no escape, so a key holding `"` or `\` cannot be searched; nor one holding NUL (SQLite
/// reads a path as C text, so the statement would fail on `bad JSON path`).
pub fn pointer_paths(pointer: &str) -> Result<Vec<String>, FilterError> {
    let tokens = pointer_tokens(pointer)?;
    if tokens.iter().filter(|t| array_index(t).is_some()).count() > MAX_NUMERIC_TOKENS {
        return Err(bad_pointer(format!(
            "pointer may hold at most {MAX_NUMERIC_TOKENS} tokens of digits"
        )));
    }
    let mut paths = vec![String::from("$")];
    for token in &tokens {
        if token.contains(['"', '\\', '\0']) {
            return Err(bad_pointer(
                "a key holding '\"', '\\' or NUL cannot be searched (SQLite JSON paths)",
            ));
        }
        let key = format!(".\"{token}\"");
        paths = match array_index(token) {
            Some(index) => paths
                .iter()
                .flat_map(|p| [format!("{p}[{index}]"), format!("{p}{key}")])
                .collect(),
            None => paths.into_iter().map(|p| p + &key).collect(),
        };
    }
    Ok(paths)
}

/// What `equals` compares with, typed as documented in the module comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Text(String),
    /// The number's JSON text (SQLite reads it: `json_extract(?, '$')`).
    Number(String),
    True,
    False,
    Null,
}

impl Expected {
    pub fn parse(text: &str) -> Result<Expected, FilterError> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::String(s)) => Ok(Expected::Text(s)),
            Ok(Value::Number(n)) => Ok(Expected::Number(n.to_string())),
            Ok(Value::Bool(true)) => Ok(Expected::True),
            Ok(Value::Bool(false)) => Ok(Expected::False),
            Ok(Value::Null) => Ok(Expected::Null),
            Ok(_) => Err(bad_search(
                "equals must be a string, number, boolean or null, not an object or array",
            )),
            Err(_) => Ok(Expected::Text(text.to_string())),
        }
    }

    /// The condition at one path (`?` for the path, repeated, then the value), over `e.payload`.
    fn condition(&self, path: &str, args: &mut Vec<SqlArg>) -> String {
        let at = "json_type(e.payload, ?)";
        args.push(SqlArg::Text(path.to_string()));
        let type_is = |name: &str| format!("{at} = '{name}'");
        let (sql, value) = match self {
            Expected::True => return type_is("true"),
            Expected::False => return type_is("false"),
            Expected::Null => return type_is("null"),
            Expected::Text(s) => (
                format!("({} AND json_extract(e.payload, ?) = ?)", type_is("text")),
                s,
            ),
            Expected::Number(n) => (
                format!(
                    "({at} IN ('integer', 'real') AND json_extract(e.payload, ?) = \
                     json_extract(?, '$'))"
                ),
                n,
            ),
        };
        args.push(SqlArg::Text(path.to_string()));
        args.push(SqlArg::Text(value.clone()));
        sql
    }
}

/// One `pointer`/`equals` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerCondition {
    pub pointer: String,
    pub paths: Vec<String>,
    pub expected: Expected,
}

impl PointerCondition {
    pub fn new(pointer: &str, equals: &str) -> Result<PointerCondition, FilterError> {
        Ok(PointerCondition {
            pointer: pointer.to_string(),
            paths: pointer_paths(pointer)?,
            expected: Expected::parse(equals)?,
        })
    }
}

/// The search part of an event query: empty when nothing is searched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub pointers: Vec<PointerCondition>,
    /// Case-sensitive substring of the stored payload text.
    pub contains: Option<String>,
}

impl Search {
    /// From the query's `pointer`, `equals` (paired in order) and `contains` values.
    pub fn from_parts(
        pointers: &[&str],
        equals: &[&str],
        contains: Option<&str>,
    ) -> Result<Search, FilterError> {
        if pointers.len() != equals.len() {
            return Err(bad_search(
                "each pointer needs one equals, paired in order (pointer=/a&equals=1)",
            ));
        }
        if pointers.len() > MAX_POINTERS {
            return Err(bad_search(format!(
                "at most {MAX_POINTERS} pointer conditions"
            )));
        }
        let pointers = pointers
            .iter()
            .zip(equals)
            .map(|(p, e)| PointerCondition::new(p, e))
            .collect::<Result<Vec<_>, _>>()?;
        let contains = match contains {
            Some("") => return Err(bad_search("contains must not be empty")),
            Some(n) if n.len() > MAX_NEEDLE_BYTES => {
                return Err(bad_search(format!(
                    "contains is longer than {MAX_NEEDLE_BYTES} bytes"
                )))
            }
            other => other.map(str::to_string),
        };
        Ok(Search { pointers, contains })
    }

    pub fn is_empty(&self) -> bool {
        self.pointers.is_empty() && self.contains.is_none()
    }

    /// The condition over `e.payload` (`1 = 1` when empty) and its arguments. Pointer
    /// conditions are read only from valid JSON (`CASE` evaluates lazily: `json_type` on text
    /// that is not JSON would fail the statement); `instr` takes the needle literally.
    pub fn condition(&self) -> (String, Vec<SqlArg>) {
        let mut parts = Vec::new();
        let mut args = Vec::new();
        if let Some(needle) = &self.contains {
            parts.push("instr(e.payload, ?) > 0".to_string());
            args.push(SqlArg::Text(needle.clone()));
        }
        if !self.pointers.is_empty() {
            let all: Vec<String> = self
                .pointers
                .iter()
                .map(|c| {
                    let any: Vec<String> = c
                        .paths
                        .iter()
                        .map(|p| c.expected.condition(p, &mut args))
                        .collect();
                    format!("({})", any.join(" OR "))
                })
                .collect();
            parts.push(format!(
                "(CASE WHEN json_valid(e.payload) THEN {} ELSE 0 END)",
                all.join(" AND ")
            ));
        }
        match parts.is_empty() {
            true => ("1 = 1".into(), args),
            false => (parts.join(" AND "), args),
        }
    }
}

/// The two statements of a search page, run in one batch (one transaction): the hits among at
/// most `scan` rows the filters select past the cursor (at most `limit + 1`, newest first),
/// and the boundary (the `scan`-th such row, if there is one). The scan is a co-routine read in
/// its order with no sort after it, so the hits come newest first and no row past the
/// `limit + 1`-th hit is examined. `filters` is the list's `WHERE` over `events e` with its arguments; `columns`
/// the summary columns over `e`.
pub fn search_sql(
    filters: (&str, &[SqlArg]),
    search: &Search,
    columns: &str,
    limit: i64,
    scan: i64,
) -> [(String, Vec<SqlArg>); 2] {
    let (conditions, filter_args) = filters;
    let (matches, search_args) = search.condition();
    let order = "ORDER BY e.received_at DESC, e.id DESC";
    // The scan holds rowids only (a sort, if the filters need one, never carries payloads);
    // `CROSS JOIN` keeps it the outer loop, so the hits come in its order.
    let hits = format!(
        "SELECT {columns} FROM (SELECT e.rowid AS scanned FROM events e WHERE {conditions} \
         {order} LIMIT ?) AS c CROSS JOIN events e ON e.rowid = c.scanned \
         WHERE {matches} LIMIT ?"
    );
    let mut hit_args = filter_args.to_vec();
    hit_args.push(SqlArg::Int(scan));
    hit_args.extend(search_args);
    hit_args.push(SqlArg::Int(limit + 1));
    let boundary = format!(
        "SELECT e.received_at, e.id FROM events e WHERE {conditions} {order} LIMIT 1 OFFSET ?"
    );
    let mut boundary_args = filter_args.to_vec();
    boundary_args.push(SqlArg::Int(scan - 1));
    [(hits, hit_args), (boundary, boundary_args)]
}

/// What one search page answers: how many hits it keeps, the cursor to continue from, and
/// whether the page ended on the scan bound (fewer than `limit` hits does not mean the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    pub keep: usize,
    pub next: Option<Cursor>,
    pub scan_stopped: bool,
}

impl SearchPage {
    /// `hits` are the positions of the hits fetched (at most `limit + 1`, in order), `boundary`
    /// the last row the scan bound allows, if the filters select that many.
    pub fn of(hits: &[Cursor], boundary: Option<Cursor>, limit: usize) -> SearchPage {
        match (hits.len() > limit, boundary) {
            (true, _) => SearchPage {
                keep: limit,
                next: limit.checked_sub(1).and_then(|i| hits.get(i)).cloned(),
                scan_stopped: false,
            },
            (false, Some(boundary)) => SearchPage {
                keep: hits.len(),
                next: Some(boundary),
                scan_stopped: true,
            },
            (false, None) => SearchPage {
                keep: hits.len(),
                next: None,
                scan_stopped: false,
            },
        }
    }
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// `SEARCH_SCAN_ROWS` (at least 1): rows one search page examines at most.
    pub fn search_scan_rows(&self) -> Result<i64, ConfigError> {
        let rows = self.number(table::SEARCH_SCAN_ROWS)?.max(1);
        Ok(i64::try_from(rows).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
