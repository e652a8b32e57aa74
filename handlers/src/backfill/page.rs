//! Reading one answer of Stripe's `GET /v1/events`: a list object `{"object": "list", "url":
//! "/v1/events", "has_more": bool, "data": [event, …]}` whose events come newest first. Each
//! event is parsed by the Stripe provider's own parser over its exact bytes in the answer, so a
//! backfilled event gets the same dedupe key, type, account and time as its webhook would. The
//! stored payload is the event object as the list serialises it: Stripe pretty-prints API
//! answers and a webhook body differently, so it is never byte-identical to the webhook's body
//! (and has no signature), only the same JSON object. The events are scoped to the source the
//! account's webhooks arrive at (`STRIPE_BACKFILL_SOURCE`), so they share its dedupe keys. A
//! malformed answer is an error code, never a panic.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::inbound::providers::stripe;
use crate::inbound::sources;
use crate::inbound::webhook::{InboundRequest, ParsedEvent};

/// One page, read.
#[derive(Debug)]
pub struct Page {
    pub events: Vec<ParsedEvent>,
    pub has_more: bool,
    /// Stripe's id of the page's last (oldest) event.
    last_id: Option<String>,
}

impl Page {
    /// The id of the page's last (oldest) event: where the next page starts after.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// The newest `created` on the page (Unix s).
    pub fn newest_created(&self) -> Option<i64> {
        self.events
            .iter()
            .filter_map(|e| e.occurred_at_ms)
            .max()
            .map(|ms| ms / 1000)
    }
}

/// Why an answer could not be used. The code is recorded in `backfill_runs.error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    /// Not JSON, or not a list object.
    NotAList,
    /// `data[index]` is not a Stripe event (no id or type, or not an object).
    BadEvent { index: usize, code: &'static str },
}

impl PageError {
    pub fn code(&self) -> String {
        match self {
            PageError::NotAList => "stripe_list_malformed".into(),
            PageError::BadEvent { index, code } => format!("stripe_event_malformed:{index}:{code}"),
        }
    }
}

#[derive(Deserialize)]
struct ListObject<'a> {
    object: &'a str,
    has_more: bool,
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
}

/// Read one list answer, its events in `source`'s dedupe scope (`None`: the default source).
pub fn parse_page(body: &str, source: Option<&str>) -> Result<Page, PageError> {
    let list: ListObject = serde_json::from_str(body).map_err(|_| PageError::NotAList)?;
    if list.object != "list" {
        return Err(PageError::NotAList);
    }
    let mut events = Vec::with_capacity(list.data.len());
    for (index, raw) in list.data.iter().enumerate() {
        let request = InboundRequest {
            method: "GET",
            url: "",
            headers: &[],
            body: raw.get().as_bytes(),
        };
        let parsed = stripe::parse(&request).map_err(|e| PageError::BadEvent {
            index,
            code: e.code(),
        })?;
        events.extend(parsed);
    }
    let last_id = events.last().map(|e| e.dedupe_key.clone());
    for event in &mut events {
        sources::scope_event(source, event);
    }
    Ok(Page {
        events,
        has_more: list.has_more,
        last_id,
    })
}
