//! Calling a binding's own JavaScript methods from Rust, for the calls where workers-rs' typed
//! wrappers cost more than the call: they serialise every argument through `serde_wasm_bindgen`
//! and check each binding's class by name. Used for KV's bulk `get` and `put` (`hints`) and
//! for Queues' `sendBatch` (`dispatch`). A missing binding or method is an `Err` the caller
//! logs, never a panic.

use worker::js_sys::{Function, Promise, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

/// The binding named `binding` and its method `method`.
pub fn method(env: &Env, binding: &str, method: &str) -> Result<(JsValue, Function), JsValue> {
    let object = Reflect::get(env, &JsValue::from_str(binding))?;
    if object.is_undefined() {
        return Err(JsValue::from_str(&format!("no {binding} binding")));
    }
    let method: Function = Reflect::get(&object, &JsValue::from_str(method))?.dyn_into()?;
    Ok((object, method))
}

/// Await what a binding method returned (a promise), as its resolved value.
pub async fn resolved(returned: JsValue) -> Result<JsValue, JsValue> {
    let promise: Promise = returned.dyn_into()?;
    JsFuture::from(promise).await
}

/// A JS error's message, for a log line (never a stored value).
pub fn describe(error: &JsValue, fallback: &str) -> String {
    error
        .dyn_ref::<worker::js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| fallback.to_string())
}
