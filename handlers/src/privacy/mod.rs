//! Privacy requests' rules that are SQL: what forgetting a person removes, in bounded pages.
//! [`forget_contact`] carries out a HubSpot `contact.privacyDeletion` (the statements the shell
//! runs, in order, and the progress they keep); native tests run the same text against the
//! migrations in SQLite. The Shopify requests' statements are still the shell's
//! (`src/db/privacy.rs`).

pub mod forget_contact;
#[cfg(test)]
mod forget_contact_tests;

/// A value bound to a statement's numbered parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    Int(i64),
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
