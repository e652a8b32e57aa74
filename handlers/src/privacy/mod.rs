//! Privacy requests' rules that are SQL: what forgetting a person removes and what an export
//! collects, in bounded pages. [`forget_contact`] carries out a HubSpot
//! `contact.privacyDeletion`, [`shopify_redact`] a Shopify `customers/redact` or `shop/redact`,
//! [`shopify_export`] a `customers/data_request` (the statements the shell runs, in order, and the
//! progress they keep, in `privacy_progress`); native tests run the same text against the
//! migrations in SQLite. The shell holds none of this SQL: `src/db/privacy.rs` only binds and
//! runs it.

pub mod forget_contact;
#[cfg(test)]
mod forget_contact_tests;
pub mod shopify_export;
#[cfg(test)]
mod shopify_export_tests;
pub mod shopify_redact;
#[cfg(test)]
mod shopify_redact_tests;

/// Where a paged request stands after a run: the last statement of its pass answers one row
/// with `done` (0 or 1), which this reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Every page is done.
    Done,
    /// Pages remain: run the step again.
    More,
}

impl Progress {
    /// From the `done` column of the last statement's row (no row: nothing was started, which
    /// cannot follow the first statement; treated as more to do).
    pub fn from_done(done: Option<i64>) -> Progress {
        match done {
            Some(d) if d != 0 => Progress::Done,
            _ => Progress::More,
        }
    }
}

/// A value bound to a statement's numbered parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    Int(i64),
    Null,
}

impl Arg {
    /// Text, or NULL when absent.
    pub fn opt(text: Option<&str>) -> Arg {
        text.map_or(Arg::Null, |t| Arg::Text(t.to_string()))
    }

    /// As SQLite binds it (the native tests).
    #[cfg(test)]
    fn sql_value(&self) -> rusqlite::types::Value {
        match self {
            Arg::Text(t) => rusqlite::types::Value::Text(t.clone()),
            Arg::Int(n) => rusqlite::types::Value::Integer(*n),
            Arg::Null => rusqlite::types::Value::Null,
        }
    }
}

/// One SQL statement with its arguments (`?1`, `?2`… in order: exactly as many as it uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Statement {
    fn new(sql: String, args: &[&Arg]) -> Statement {
        Statement {
            sql,
            args: args.iter().map(|a| (*a).clone()).collect(),
        }
    }

    /// Every pass's last statement: one row with `done` for request `id`
    /// ([`Progress::from_done`]).
    fn done(id: &Arg) -> Statement {
        Statement::new(
            "SELECT done_at IS NOT NULL AS done FROM privacy_progress WHERE event_id = ?1".into(),
            &[id],
        )
    }
}

/// A page size as bound: at least 1.
fn page_arg(page: u64) -> Arg {
    Arg::Int(i64::try_from(page.max(1)).unwrap_or(i64::MAX))
}

/// `column` cut to its error code (`http_500: <excerpt>` -> `http_500`).
pub fn code_only(column: &str) -> String {
    format!(
        "CASE WHEN instr({column}, ':') > 0 THEN substr({column}, 1, instr({column}, ':') - 1) \
         ELSE {column} END"
    )
}

/// An email address as edgehooks keys it ([`crate::downstream::normalized_email`]: trimmed,
/// ASCII letters lowercased, which is all SQLite's `lower()` does), in SQL.
pub fn normalized_email_sql(expr: &str) -> String {
    format!("lower(trim({expr}, ' ' || char(9, 10, 11, 12, 13)))")
}
