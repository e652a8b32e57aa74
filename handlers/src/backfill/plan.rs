//! The list requests of a backfill run: which event types it asks for (the Stripe types the
//! routes plan steps for and enabled Stripe connections take, in chunks of at most [`MAX_TYPES_PER_REQUEST`] because that is what
//! Stripe's `types[]` accepts), where a run stands ([`Cursor`]: a chunk and the id to list
//! after), and the URL of each page.

use crate::connections::Connection;
use crate::inbound::webhook::Provider;
use crate::steps::routes::RouteTable;

/// Stripe's `types[]` takes at most 20 names per request.
pub const MAX_TYPES_PER_REQUEST: usize = 20;
/// Stripe's largest page.
pub const PAGE_LIMIT: u32 = 100;

/// The Stripe event types the routes plan steps for, sorted and without repeats, in chunks of
/// at most [`MAX_TYPES_PER_REQUEST`]. Empty when no route takes a Stripe event: nothing to list.
pub fn type_chunks(routes: &RouteTable) -> Vec<Vec<String>> {
    chunked(
        routes
            .rows()
            .filter(|(provider, _, steps)| *provider == Provider::Stripe && !steps.is_empty())
            .map(|(_, event_type, _)| event_type.to_string())
            .collect(),
    )
}

/// `types` sorted, without repeats, in chunks of at most [`MAX_TYPES_PER_REQUEST`].
fn chunked(mut types: Vec<String>) -> Vec<Vec<String>> {
    types.sort();
    types.dedup();
    types
        .chunks(MAX_TYPES_PER_REQUEST)
        .map(<[String]>::to_vec)
        .collect()
}

/// The listings a backfill makes when connections are in force as well: the routes' types plus
/// the exact types enabled Stripe connections take. A Stripe connection that takes every type,
/// or names one with a `*` (Stripe's `types[]` takes exact names only), needs every event: then
/// one listing with no type filter (a single empty chunk).
pub fn listing_chunks(routes: &RouteTable, connections: &[Connection]) -> Vec<Vec<String>> {
    let stripe: Vec<&Connection> = connections
        .iter()
        .filter(|c| c.enabled && c.source.provider == Provider::Stripe)
        .collect();
    let takes_any_type = |c: &&Connection| {
        c.filter.types.is_empty() || c.filter.types.iter().any(|t| t.as_str().contains('*'))
    };
    if stripe.iter().any(takes_any_type) {
        return vec![Vec::new()];
    }
    let mut types: Vec<String> = type_chunks(routes).concat();
    types.extend(
        stripe
            .iter()
            .flat_map(|c| c.filter.types.iter().map(|t| t.as_str().to_string())),
    );
    chunked(types)
}

/// Where a run stands: the type chunk it lists and, within it, the last event id already
/// processed (`starting_after`; `None` at the chunk's first page), and the page size it asks
/// for when smaller than the listing's largest (`page_limit`: the Shopify reconciliation
/// halves it after a page too large to read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub chunk: usize,
    pub starting_after: Option<String>,
    pub page_limit: Option<u32>,
}

impl Cursor {
    /// `<chunk>:<id>` (or `<chunk>:` at a chunk's start), then `:<page limit>` when there is
    /// one: what admins pass back as `cursor`.
    pub fn encode(&self) -> String {
        let at = format!(
            "{}:{}",
            self.chunk,
            self.starting_after.as_deref().unwrap_or("")
        );
        match self.page_limit {
            Some(limit) => format!("{at}:{limit}"),
            None => at,
        }
    }

    /// The inverse of [`Cursor::encode`]; `None` for anything else. An id is Stripe's
    /// `evt_…`: letters, digits and underscores only; the Shopify reconciliation keeps a
    /// `page_info` here, which may also hold `-` and be longer.
    pub fn decode(text: &str) -> Option<Cursor> {
        let (chunk, rest) = text.split_once(':')?;
        let chunk = chunk.parse().ok()?;
        let (id, page_limit) = match rest.split_once(':') {
            Some((id, limit)) => (id, Some(limit.parse().ok().filter(|l| *l > 0)?)),
            None => (rest, None),
        };
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if !id.bytes().all(allowed) || id.len() > 1024 {
            return None;
        }
        Some(Cursor {
            chunk,
            starting_after: (!id.is_empty()).then(|| id.to_string()),
            page_limit,
        })
    }

    /// After a page: the next page of the same chunk, the next chunk, or `None` when the run
    /// has listed everything.
    pub fn after_page(
        &self,
        has_more: bool,
        last_id: Option<&str>,
        chunks: usize,
    ) -> Option<Cursor> {
        match (has_more, last_id) {
            (true, Some(id)) => Some(Cursor {
                chunk: self.chunk,
                starting_after: Some(id.to_string()),
                page_limit: self.page_limit,
            }),
            _ if self.chunk + 1 < chunks => Some(Cursor {
                chunk: self.chunk + 1,
                starting_after: None,
                page_limit: self.page_limit,
            }),
            _ => None,
        }
    }
}

/// The URL of one page: `{base}/v1/events?created[gte]=…&limit=100&types[]=…[&starting_after=…]`
/// (brackets percent-encoded, as Stripe's own libraries send them).
pub fn page_url(base: &str, since: i64, types: &[String], cursor: &Cursor) -> String {
    let mut url = format!(
        "{}/v1/events?created%5Bgte%5D={since}&limit={PAGE_LIMIT}",
        base.trim_end_matches('/')
    );
    for event_type in types {
        url.push_str("&types%5B%5D=");
        url.push_str(&encode_component(event_type));
    }
    if let Some(id) = &cursor.starting_after {
        url.push_str("&starting_after=");
        url.push_str(&encode_component(id));
    }
    url
}

/// Percent-encode everything but unreserved characters (RFC 3986).
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
