//! Reading one answer of `GET /admin/api/<version>/orders.json`: `{"orders": [order, …]}` (the
//! REST Admin API's Order objects) and its `Link` header. Each order becomes the event a
//! reconciliation stores: type `orders/updated`, the shop as account, `updated_at` as its time,
//! the order object's exact bytes in the answer as its payload, and its version key as both the
//! dedupe key and the version key ([`crate::inbound::providers::shopify_version`]), scoped to
//! the shop's source. An order without an `id` or a readable `updated_at` is counted as skipped,
//! never a panic; an answer that is not such an object is an error code.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{next_page_info, ShopAccess, RECONCILED_TOPIC};
use crate::inbound::providers::shopify_version::version_key;
use crate::inbound::providers::top_level_fields::{read_object, Field};
use crate::inbound::sources::scoped_key;
use crate::inbound::webhook::ParsedEvent;
use crate::time::rfc3339_to_unix_ms;

/// One page, read.
#[derive(Debug)]
pub struct OrdersPage {
    pub events: Vec<ParsedEvent>,
    /// Orders without an id or `updated_at`.
    pub skipped: usize,
    /// The next page's cursor; `None` on the last page.
    pub next_page_info: Option<String>,
}

impl OrdersPage {
    /// The newest `updated_at` on the page (Unix s).
    pub fn newest_updated(&self) -> Option<i64> {
        self.events
            .iter()
            .filter_map(|e| e.occurred_at_ms)
            .max()
            .map(|ms| ms.div_euclid(1000))
    }
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    orders: Vec<&'a RawValue>,
}

const ORDER_FIELDS: &[&str] = &["id", "updated_at"];

/// One listed order as the event a reconciliation stores; `None` without id or `updated_at`.
pub fn order_event(access: &ShopAccess, order: &str) -> Option<ParsedEvent> {
    let fields = read_object(order, ORDER_FIELDS).ok()?;
    let id = fields.get("id").and_then(|f| {
        f.as_u64()
            .map(|n| n.to_string())
            .or_else(|| f.non_empty_str())
    })?;
    let updated_at_ms = fields
        .get("updated_at")
        .and_then(Field::as_str)
        .and_then(rfc3339_to_unix_ms)?;
    let key = version_key(&access.shop, &id, updated_at_ms, RECONCILED_TOPIC)?;
    let scoped = scoped_key(access.source.as_deref(), &key);
    Some(ParsedEvent {
        dedupe_key: scoped.clone(),
        event_type: RECONCILED_TOPIC.into(),
        account: Some(access.shop.clone()),
        occurred_at_ms: Some(updated_at_ms),
        payload: order.to_string(),
        content_key: None,
        source: access.source.clone(),
        version_key: Some(scoped),
    })
}

/// Read a 2xx answer's body and `Link` header.
pub fn parse_orders_page(
    access: &ShopAccess,
    body: &str,
    link: Option<&str>,
) -> Result<OrdersPage, &'static str> {
    let answer: Answer = serde_json::from_str(body).map_err(|_| "shopify_malformed_page")?;
    let mut events = Vec::with_capacity(answer.orders.len());
    let mut skipped = 0;
    for order in answer.orders {
        match order_event(access, order.get()) {
            Some(event) => events.push(event),
            None => skipped += 1,
        }
    }
    Ok(OrdersPage {
        events,
        skipped,
        next_page_info: next_page_info(link)?,
    })
}
