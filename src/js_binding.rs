//! Calling a binding's own JavaScript methods from Rust, for the calls where workers-rs' typed
//! wrappers cost more than the call: they serialise every argument through `serde_wasm_bindgen`
//! and check each binding's class by name. Used for KV's bulk `get` and `put` (`hints`) and
//! for Queues' `sendBatch` (`dispatch`). A missing binding or method is an `Err` the caller
//! logs, never a panic. Also the one way a whole request or response body is read
//! ([`whole_body`]).

use worker::js_sys::{Function, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, Env};

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

/// A body's `arrayBuffer()` (of a request or a response) copied into wasm memory once; `None`
/// when it cannot be read.
pub async fn whole_body(array_buffer: Result<Promise, JsValue>) -> Option<Vec<u8>> {
    let buffer = JsFuture::from(array_buffer.ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// A JS error's message, for a log line (never a stored value).
pub fn describe(error: &JsValue, fallback: &str) -> String {
    error
        .dyn_ref::<worker::js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| fallback.to_string())
}

/// The `DB` binding, checked by what it can do (a `prepare` method) rather than by workers-rs'
/// `env.d1`, which compares the binding's class name twice on every call (two strings copied
/// out of JS). Anything else bound as `DB` is an `Err`, as with `env.d1`.
pub fn d1(env: &Env) -> worker::Result<D1Database> {
    let binding = Reflect::get(env, &JsValue::from_str("DB"))?;
    let prepare = Reflect::get(&binding, &JsValue::from_str("prepare")).unwrap_or_default();
    if binding.is_undefined() || !prepare.is_function() {
        return Err("Binding `DB` is not a D1 database.".into());
    }
    Ok(binding.unchecked_into())
}
