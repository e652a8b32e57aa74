//! The ground floor every setting is read through: [`table`] lists every setting (name, secret
//! or var, default, rule), [`parse`] holds the value parsers and [`ConfigError`], and [`Config`]
//! reads raw values through ONE lookup closure (`|name| -> Option<String>`, a var or secret by
//! name) that the shell builds from the Worker `Env`. Each feature reads its own typed settings
//! in an `impl Config` beside it (the ingest in `crate::ingest`, the consumer in
//! `crate::consumer`, the routes, sources, alerts, backfills, retention, admin tokens, log level
//! and downstream destinations in their own modules), importing this floor; nothing here imports
//! a feature. Errors name the setting, never its value, and are scoped to what they affect;
//! `crate::health` reports the same checks by name.

mod parse;
pub mod table;

pub use parse::{flag, number, secret_list, ConfigError};

/// A [`Config`] over fixed `(name, value)` pairs with a one-minute running lease, for tests.
#[cfg(test)]
pub(crate) fn config_of(
    pairs: &'static [(&'static str, &'static str)],
) -> Config<impl Fn(&str) -> Option<String>> {
    Config::new(
        move |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        },
        60_000,
    )
}

/// Typed settings read through one lookup. Blank values count as unset everywhere.
pub struct Config<L: Fn(&str) -> Option<String>> {
    /// The lookup itself, for settings named at run time (a source's own key setting).
    pub(crate) lookup: L,
    /// The running lease of a claimed step (ms): a downstream call must fit inside it.
    pub(crate) running_lease_ms: i64,
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    pub fn new(lookup: L, running_lease_ms: i64) -> Self {
        Config {
            lookup,
            running_lease_ms,
        }
    }

    /// The raw value of `name` (as set; `None` when unset).
    pub(crate) fn raw(&self, name: &str) -> Option<String> {
        debug_assert!(table::find(name).is_some(), "{name} is not in the table");
        (self.lookup)(name)
    }

    /// The value of `name` trimmed, `None` when unset or blank.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A numeric setting with its default from the table.
    pub(crate) fn number(&self, name: &'static str) -> Result<u64, ConfigError> {
        let default = table::default_of(name).parse().unwrap_or(0);
        number(name, self.raw(name).as_deref(), default)
    }
}
