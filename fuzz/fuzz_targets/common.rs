//! Shared by the fuzz targets: a fuzzer-shaped delivery (arbitrary headers, URL and body), and
//! the check every target makes: verify never panics, and whatever verifies also parses
//! without panicking. Half the inputs are re-signed correctly so parsing is reached often.

use arbitrary::Arbitrary;
use edgehooks_handlers::inbound::webhook::{Clock, InboundRequest};

pub const NOW: i64 = 1_700_000_000;

#[derive(Debug, Arbitrary)]
pub struct Delivery {
    /// Sign the body correctly (so parse is exercised) instead of using the fuzzed headers only.
    pub sign: bool,
    pub timestamp_skew: i16,
    pub url_suffix: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn clock(&self) -> Clock {
        Clock {
            now_unix: NOW,
            tolerance_secs: 300,
        }
    }

    pub fn url(&self) -> String {
        format!("https://hooks.example.com/webhooks/x{}", self.url_suffix)
    }

    pub fn request<'a>(
        &'a self,
        url: &'a str,
        headers: &'a [(String, String)],
    ) -> InboundRequest<'a> {
        InboundRequest {
            method: "POST",
            url,
            headers,
            body: &self.body,
        }
    }
}
