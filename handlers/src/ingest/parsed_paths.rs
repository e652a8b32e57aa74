//! [`ParsedPaths`]: which ingest paths' parsed configuration an isolate keeps, and how many. The
//! shell parses a path's keys and routes once per isolate (settings are fixed for its life), but
//! the path comes from the caller's URL: a name that is not declared is never kept (a stream
//! to `/webhooks/stripe/a1`, `/a2`, … must not grow the isolate's memory), and at most
//! [`MAX_PARSED_PATHS`] are kept whatever the parse answered (a broken `WEBHOOK_SOURCES` is an
//! error for every name). Past the limit a path is parsed again on each request, which costs
//! CPU, never a wrong answer.

use crate::by_name::ByName;
use crate::inbound::sources::DEFAULT_SOURCE;
use crate::inbound::webhook::Provider;

/// Most ingest paths an isolate keeps parsed: far more than the sources anyone declares.
pub const MAX_PARSED_PATHS: usize = 64;

/// A path's parse: its configuration, not declared (`None`), or the error that makes it unusable.
pub type Parsed<V, E> = Result<Option<V>, E>;

/// The parsed configuration of the ingest paths an isolate has served, by path.
#[derive(Debug)]
pub struct ParsedPaths<V, E>(ByName<Parsed<V, E>>);

impl<V, E> Default for ParsedPaths<V, E> {
    fn default() -> Self {
        ParsedPaths(ByName::new())
    }
}

impl<V: Clone, E: Clone> ParsedPaths<V, E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// What `provider`'s `source` (`None`: its default path) parsed to, if kept.
    pub fn get(&self, provider: Provider, source: Option<&str>) -> Option<Parsed<V, E>> {
        self.0.get(&key(provider, source)).cloned()
    }

    /// Keep `parsed` for the path unless it names nothing declared or the limit is reached.
    pub fn remember(&mut self, provider: Provider, source: Option<&str>, parsed: &Parsed<V, E>) {
        if matches!(parsed, Ok(None)) || self.0.len() >= MAX_PARSED_PATHS {
            return;
        }
        self.0.insert(key(provider, source), parsed.clone());
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `stripe/eu`, `stripe/default` (source names never hold `/`, and `default` is reserved).
fn key(provider: Provider, source: Option<&str>) -> String {
    format!("{}/{}", provider.slug(), source.unwrap_or(DEFAULT_SOURCE))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Paths = ParsedPaths<&'static str, &'static str>;

    #[test]
    fn an_undeclared_name_is_not_kept() {
        let mut paths = Paths::new();
        paths.remember(Provider::Stripe, Some("a1"), &Ok(None));
        assert!(paths.is_empty());
        assert_eq!(paths.get(Provider::Stripe, Some("a1")), None);
    }

    #[test]
    fn unknown_names_past_the_limit_keep_at_most_the_limit_and_a_declared_path_is_found() {
        let mut paths = Paths::new();
        paths.remember(Provider::Stripe, Some("eu"), &Ok(Some("eu keys")));
        for n in 0..MAX_PARSED_PATHS + 10 {
            let name = format!("a{n}");
            paths.remember(Provider::Stripe, Some(&name), &Ok(None));
            // A broken base configuration is an error for every name: bounded all the same.
            paths.remember(Provider::Shopify, Some(&name), &Err("bad WEBHOOK_SOURCES"));
        }
        assert!(paths.len() <= MAX_PARSED_PATHS, "{} kept", paths.len());
        assert_eq!(
            paths.get(Provider::Stripe, Some("eu")),
            Some(Ok(Some("eu keys")))
        );
        assert_eq!(paths.get(Provider::Stripe, Some("a3")), None);
    }

    #[test]
    fn paths_are_told_apart_by_provider_and_source() {
        let mut paths = Paths::new();
        paths.remember(Provider::Stripe, None, &Ok(Some("stripe")));
        paths.remember(Provider::Shopify, None, &Err("broken"));
        paths.remember(Provider::Stripe, Some("eu"), &Ok(Some("stripe eu")));
        assert_eq!(paths.get(Provider::Stripe, None), Some(Ok(Some("stripe"))));
        assert_eq!(paths.get(Provider::Shopify, None), Some(Err("broken")));
        assert_eq!(
            paths.get(Provider::Stripe, Some("eu")),
            Some(Ok(Some("stripe eu")))
        );
        assert_eq!(paths.get(Provider::Shopify, Some("eu")), None);
    }
}
