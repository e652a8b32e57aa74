//! KV dedupe hints: the fast path in front of D1's unique constraint (which keys a delivery reads
//! and writes is the core's `edgehooks_handlers::inbound::dedupe_hints`: one per event, or one for a whole
//! batch). A hint says "D1 already stores this", so a provider's retry is answered without a D1
//! write. Lookups use KV's bulk `get` (up to 100 keys per call); hints are written one `put` each
//! (KV has no bulk put in the Workers binding) after D1 has committed, only for what D1 found
//! stored already (repeats), at most [`MAX_HINT_PUTS`] per call (the backfill also caps a whole
//! invocation's, the core's `backfill::budget`) so that it stays inside the invocation's KV
//! operation and subrequest limits. Hints are advisory: a failed,
//! missing or unwritten hint counts as "unknown" and D1 stays the authority.

use worker::js_sys::{Array, Function, Map, Object, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::Env;

use crate::js_binding::{self, describe, resolved};
use crate::log;

const BINDING: &str = "IDEMPOTENCY";

/// KV's bulk `get` accepts at most this many keys per call (Workers KV `get` with an array of
/// keys); one bulk call counts as one KV operation and one subrequest.
const BULK_GET_LIMIT: usize = 100;

/// A Worker invocation may make at most 1,000 KV operations (KV platform limits, both plans),
/// within 1,000 subrequests on the paid plan (50 on the free plan). A webhook delivery writes
/// at most one hint, on a repeat (a batch has one for the whole delivery); a backfill page
/// writes one per listed event D1 had already, capped here so gets, puts, D1 batches and queue
/// sends together stay well inside those limits. Events beyond the cap get no hint: a retry of
/// them costs a D1 round trip, never a duplicate.
pub const MAX_HINT_PUTS: usize = 100;

/// Whether each key has a hint, in order. Any failure marks its keys unknown (`false`).
pub async fn known(env: &Env, keys: &[String]) -> Vec<bool> {
    let mut known = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(BULK_GET_LIMIT) {
        match bulk_get(env, chunk).await {
            Ok(found) => known.extend(found),
            Err(e) => {
                log::error("kv_hint_lookup_failed", &describe(&e, "KV bulk get failed"));
                known.extend(std::iter::repeat_n(false, chunk.len()));
            }
        }
    }
    known
}

/// One bulk `get`: `IDEMPOTENCY.get([k1, k2, ...])` resolves to a `Map` from key to value or
/// null. workers-rs has no wrapper for it, so it is called through the binding object.
async fn bulk_get(env: &Env, keys: &[String]) -> Result<Vec<bool>, JsValue> {
    let (kv, get) = js_binding::method(env, BINDING, "get")?;
    let array: Array = keys.iter().map(|k| JsValue::from_str(k)).collect();
    let values: Map = resolved(get.call1(&kv, &array)?).await?.dyn_into()?;
    Ok(keys
        .iter()
        .map(|k| {
            let value = values.get(&JsValue::from_str(k));
            !(value.is_null() || value.is_undefined())
        })
        .collect())
}

/// Write a hint for each key (best effort; a missing hint only costs a D1 round trip later).
pub async fn remember(env: &Env, keys: &[String], ttl_secs: u64) {
    let Ok((kv, put)) = js_binding::method(env, BINDING, "put") else {
        return;
    };
    let options = Object::new();
    let ttl = JsValue::from_f64(ttl_secs as f64);
    if Reflect::set(&options, &JsValue::from_str("expirationTtl"), &ttl).is_err() {
        return;
    }
    // Every put is started before any is awaited, so they run concurrently (as `join_all` ran
    // them, without its code in the wasm).
    let started: Vec<Result<JsValue, JsValue>> = keys
        .iter()
        .take(MAX_HINT_PUTS)
        .map(|key| put_hint(&kv, &put, key, &options))
        .collect();
    let mut failed = 0;
    for returned in started {
        let written = match returned {
            Ok(returned) => resolved(returned).await.is_ok(),
            Err(_) => false,
        };
        failed += usize::from(!written);
    }
    if failed > 0 {
        log::error(
            "kv_hint_failed",
            &format!("{failed} dedupe hints not written"),
        );
    }
}

/// Start `IDEMPOTENCY.put(key, "1", {expirationTtl})`: the promise it returned.
fn put_hint(kv: &JsValue, put: &Function, key: &str, options: &Object) -> Result<JsValue, JsValue> {
    put.call3(
        kv,
        &JsValue::from_str(key),
        &JsValue::from_str("1"),
        options,
    )
}
