//! A Cloudflare Access JWT checked end to end: the core reads it and its claims
//! (`edgehooks_handlers::access::jwt`), this module finds its signing key and has WebCrypto
//! verify the RS256 signature. The team's keys (the JWKS at the certs URL) are fetched on first
//! use and kept for the isolate's life as imported `CryptoKey`s by key id; a token naming a key
//! id the cache lacks refetches them (Access rotates its keys), at most
//! `MAX_REFRESHES` times a minute, so made-up key ids cannot turn into a fetch per request.

use std::cell::RefCell;

use edgehooks_handlers::access::jwt::{
    self, parse, parse_jwks, refresh_allowed, AccessRefusal, REFRESH_WINDOW_MS,
};
use edgehooks_handlers::access::settings::AccessSettings;
use edgehooks_handlers::access::Identity;
use edgehooks_handlers::downstream::HttpRequestSpec;
use worker::wasm_bindgen::JsValue;

use crate::clock::now_ms;
use crate::downstream::call_reading;
use crate::log;
use crate::webcrypto::{describe_error, import_rs256_key, verify_rs256};

/// How long a fetch of the keys may take.
const FETCH_TIMEOUT_MS: u64 = 5_000;
/// Largest JWKS read.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// The keys of one certs URL, imported, and when they were fetched.
#[derive(Default)]
struct KeyCache {
    url: String,
    keys: Vec<(String, JsValue)>,
    fetched_at: Vec<i64>,
}

thread_local! {
    static CACHE: RefCell<KeyCache> = RefCell::new(KeyCache::default());
}

/// The identity of a `Cf-Access-Jwt-Assertion`, or why it is refused.
pub async fn identity(
    settings: &AccessSettings,
    assertion: &str,
) -> Result<Identity, AccessRefusal> {
    let token = parse(assertion)?;
    let key = match cached_key(&settings.certs_url, &token.kid) {
        Some(key) => key,
        None => {
            refresh(&settings.certs_url).await?;
            cached_key(&settings.certs_url, &token.kid).ok_or(AccessRefusal::UnknownKey)?
        }
    };
    match verify_rs256(&key, &token.signature, &token.signed).await {
        Ok(true) => jwt::identity(&token.claims, settings, now_ms() / 1000),
        Ok(false) => Err(AccessRefusal::BadSignature),
        Err(e) => {
            log::error("webcrypto_verify_failed", &describe_error(&e));
            Err(AccessRefusal::BadSignature)
        }
    }
}

fn cached_key(url: &str, kid: &str) -> Option<JsValue> {
    CACHE.with(|cache| {
        let cache = cache.borrow();
        (cache.url == url)
            .then(|| {
                cache
                    .keys
                    .iter()
                    .find(|(k, _)| k == kid)
                    .map(|(_, key)| key.clone())
            })
            .flatten()
    })
}

/// Fetch and import the keys at `url` (when the refresh budget allows), replacing the cache.
async fn refresh(url: &str) -> Result<(), AccessRefusal> {
    let now = now_ms();
    let allowed = CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.url != url {
            *cache = KeyCache {
                url: url.to_string(),
                ..KeyCache::default()
            };
        }
        cache.fetched_at.retain(|at| now - at < REFRESH_WINDOW_MS);
        let allowed = refresh_allowed(&cache.fetched_at, now);
        if allowed {
            cache.fetched_at.push(now);
        }
        allowed
    });
    if !allowed {
        return Err(AccessRefusal::UnknownKey);
    }
    let spec = HttpRequestSpec {
        method: "GET",
        url: url.to_string(),
        headers: vec![("Accept".into(), "application/json".into())],
        body: String::new(),
    };
    let answer = call_reading(&spec, FETCH_TIMEOUT_MS, MAX_JWKS_BYTES).await;
    let Some(listed) = answer
        .body
        .as_deref()
        .and_then(|b| parse_jwks(b.as_bytes()))
    else {
        let status = answer.status.map_or("none".to_string(), |s| s.to_string());
        let detail = answer.error.unwrap_or_default();
        log::error(
            "access_keys_unavailable",
            &format!("status {status}: {detail}"),
        );
        return Err(AccessRefusal::KeysUnavailable);
    };
    let mut keys = Vec::with_capacity(listed.len());
    for key in listed {
        match import_rs256_key(&key.n, &key.e).await {
            Ok(imported) => keys.push((key.kid, imported)),
            Err(e) => log::error("access_key_refused", &describe_error(&e)),
        }
    }
    CACHE.with(|cache| cache.borrow_mut().keys = keys);
    Ok(())
}
