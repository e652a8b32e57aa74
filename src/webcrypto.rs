//! The runtime's WebCrypto (`crypto.subtle`) as the primitive for SendGrid's ECDSA P-256 /
//! SHA-256: the core says what to verify (`sendgrid::VerifyPlan`: message, `r || s` signature,
//! key SubjectPublicKeyInfo DER), this module runs it and reports the first key that verifies.
//! The runtime's native code is several times faster than `p256` compiled to wasm and keeps the
//! curve arithmetic out of the bundle. Imported keys are cached for the isolate's life (keyed
//! by their DER), so a request pays for `verify` only. [`random_bytes`] is `getRandomValues`
//! (ingest's delivery tokens). [`seal`] and [`open`] are AES-256-GCM under `SECRETS_KEY` for the
//! secrets D1 keeps (the stored format and the key's parsing are the core's `sealed`).

use std::cell::RefCell;

use edgehooks_handlers::inbound::providers::sendgrid::{PublicKey, VerifyPlan};
use edgehooks_handlers::sealed::{self, Sealed, Stored, NONCE_BYTES};
use worker::js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

use crate::log;

thread_local! {
    /// `CryptoKey`s imported so far, by SubjectPublicKeyInfo DER.
    static KEYS: RefCell<Vec<(Vec<u8>, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// The index of the first of `keys` that `plan`'s signature verifies with. A key the runtime
/// refuses to import (a point off the curve) or a failing call counts as not verifying, and is
/// logged.
pub async fn first_verifying_key(plan: &VerifyPlan, keys: &[PublicKey]) -> Option<usize> {
    let subtle = match subtle() {
        Ok(subtle) => subtle,
        Err(e) => {
            log::error("webcrypto_unavailable", &describe(&e));
            return None;
        }
    };
    let message = Uint8Array::from(plan.message.as_slice());
    let signature = Uint8Array::from(plan.signature.as_slice());
    for (index, key) in keys.iter().enumerate() {
        match verify_one(&subtle, key.spki_der(), &signature, &message).await {
            Ok(true) => return Some(index),
            Ok(false) => {}
            Err(e) => log::error("webcrypto_verify_failed", &describe(&e)),
        }
    }
    None
}

async fn verify_one(
    subtle: &JsValue,
    spki: &[u8],
    signature: &Uint8Array,
    message: &Uint8Array,
) -> Result<bool, JsValue> {
    let key = imported_key(subtle, spki).await?;
    let algorithm = object(&[("name", "ECDSA"), ("hash", "SHA-256")])?;
    let args = Array::of4(&algorithm, &key, signature, message);
    let verdict = call(subtle, "verify", &args).await?;
    Ok(verdict.as_bool() == Some(true))
}

async fn imported_key(subtle: &JsValue, spki: &[u8]) -> Result<JsValue, JsValue> {
    let cached = KEYS.with(|keys| {
        keys.borrow()
            .iter()
            .find(|(der, _)| der == spki)
            .map(|(_, key)| key.clone())
    });
    if let Some(key) = cached {
        return Ok(key);
    }
    let algorithm = object(&[("name", "ECDSA"), ("namedCurve", "P-256")])?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let args = Array::of5(
        &JsValue::from_str("spki"),
        &Uint8Array::from(spki),
        &algorithm,
        &JsValue::FALSE,
        &usages,
    );
    let key = call(subtle, "importKey", &args).await?;
    KEYS.with(|keys| keys.borrow_mut().push((spki.to_vec(), key.clone())));
    Ok(key)
}

/// 16 bytes from `crypto.getRandomValues`; should the runtime refuse (it does not), from
/// `Math.random`, which is still unique enough for a token that only has to differ from a
/// concurrent delivery's.
pub fn random_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    let array = Uint8Array::new_with_length(16);
    let filled =
        Reflect::get(&worker::js_sys::global(), &JsValue::from_str("crypto")).and_then(|crypto| {
            let get: Function =
                Reflect::get(&crypto, &JsValue::from_str("getRandomValues"))?.dyn_into()?;
            get.call1(&crypto, &array)
        });
    match filled {
        Ok(_) => array.copy_to(&mut out),
        Err(_) => {
            for byte in &mut out {
                *byte = (worker::js_sys::Math::random() * 256.0) as u8;
            }
        }
    }
    out
}

thread_local! {
    /// The AES-GCM `CryptoKey` of `SECRETS_KEY`, imported once per isolate (keyed by its bytes).
    static SEALING_KEY: RefCell<Option<([u8; 32], JsValue)>> = const { RefCell::new(None) };
}

/// Seal `plaintext` under `key`, bound to `context` (the core's `sealed::context`): the stored
/// text `v1:…`. `Err` is a description for the log (never the plaintext).
pub async fn seal(key: &[u8; 32], context: &[u8], plaintext: &[u8]) -> Result<String, String> {
    let nonce = nonce().map_err(|e| describe(&e))?;
    let ciphertext = aes_gcm(key, "encrypt", &nonce, context, plaintext)
        .await
        .map_err(|e| describe(&e))?;
    Ok(Sealed { nonce, ciphertext }.to_text())
}

/// Open a stored value sealed by [`seal`] with the same `key` and `context`. A value without
/// the prefix (legacy plaintext) is returned as it is; a malformed or tampered one, or one
/// sealed under another key or for another row, is an `Err`.
pub async fn open(key: Option<&[u8; 32]>, context: &[u8], text: &str) -> Result<Vec<u8>, String> {
    let sealed = match sealed::parse(text) {
        Ok(Stored::Plain(plain)) => return Ok(plain.into_bytes()),
        Ok(Stored::Sealed(sealed)) => sealed,
        Err(_) => return Err("malformed sealed value".into()),
    };
    let key = key.ok_or_else(|| "SECRETS_KEY is not set".to_string())?;
    aes_gcm(key, "decrypt", &sealed.nonce, context, &sealed.ciphertext)
        .await
        .map_err(|_| "a sealed value did not open (another key, row or a tampered value)".into())
}

async fn aes_gcm(
    key: &[u8; 32],
    method: &str,
    nonce: &[u8],
    context: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, JsValue> {
    let subtle = subtle()?;
    let crypto_key = sealing_key(&subtle, key).await?;
    let algorithm = object(&[("name", "AES-GCM")])?;
    Reflect::set(&algorithm, &"iv".into(), &Uint8Array::from(nonce))?;
    Reflect::set(
        &algorithm,
        &"additionalData".into(),
        &Uint8Array::from(context),
    )?;
    let args = Array::of3(&algorithm, &crypto_key, &Uint8Array::from(data));
    let out = call(&subtle, method, &args).await?;
    Ok(Uint8Array::new(&out).to_vec())
}

async fn sealing_key(subtle: &JsValue, key: &[u8; 32]) -> Result<JsValue, JsValue> {
    let cached = SEALING_KEY.with(|cached| {
        cached
            .borrow()
            .as_ref()
            .filter(|(bytes, _)| bytes == key)
            .map(|(_, imported)| imported.clone())
    });
    if let Some(imported) = cached {
        return Ok(imported);
    }
    let algorithm = object(&[("name", "AES-GCM")])?;
    let usages = Array::of2(&JsValue::from_str("encrypt"), &JsValue::from_str("decrypt"));
    let args = Array::of5(
        &JsValue::from_str("raw"),
        &Uint8Array::from(key.as_slice()),
        &algorithm,
        &JsValue::FALSE,
        &usages,
    );
    let imported = call(subtle, "importKey", &args).await?;
    SEALING_KEY.with(|cached| *cached.borrow_mut() = Some((*key, imported.clone())));
    Ok(imported)
}

/// A fresh AES-GCM nonce from `crypto.getRandomValues` (no fallback: a nonce must be random).
fn nonce() -> Result<[u8; NONCE_BYTES], JsValue> {
    let array = Uint8Array::new_with_length(NONCE_BYTES as u32);
    let crypto = Reflect::get(&worker::js_sys::global(), &JsValue::from_str("crypto"))?;
    let get: Function = Reflect::get(&crypto, &JsValue::from_str("getRandomValues"))?.dyn_into()?;
    get.call1(&crypto, &array)?;
    let mut out = [0u8; NONCE_BYTES];
    array.copy_to(&mut out);
    Ok(out)
}

fn subtle() -> Result<JsValue, JsValue> {
    let crypto = Reflect::get(&worker::js_sys::global(), &JsValue::from_str("crypto"))?;
    Reflect::get(&crypto, &JsValue::from_str("subtle"))
}

/// `subtle[method](...args)`, awaited.
async fn call(subtle: &JsValue, method: &str, args: &Array) -> Result<JsValue, JsValue> {
    let function: Function = Reflect::get(subtle, &JsValue::from_str(method))?.dyn_into()?;
    let promise: Promise = function.apply(subtle, args)?.dyn_into()?;
    JsFuture::from(promise).await
}

fn object(fields: &[(&str, &str)]) -> Result<JsValue, JsValue> {
    let object = Object::new();
    for (name, value) in fields {
        Reflect::set(&object, &JsValue::from_str(name), &JsValue::from_str(value))?;
    }
    Ok(object.into())
}

fn describe(error: &JsValue) -> String {
    error
        .as_string()
        .or_else(|| {
            Reflect::get(error, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "unknown error".into())
}
