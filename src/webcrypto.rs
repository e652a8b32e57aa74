//! The runtime's WebCrypto (`crypto.subtle`) as the primitive for SendGrid's ECDSA P-256 /
//! SHA-256: the core says what to verify (`sendgrid::VerifyPlan`: message, `r || s` signature,
//! key SubjectPublicKeyInfo DER), this module runs it and reports the first key that verifies.
//! The runtime's native code is several times faster than `p256` compiled to wasm and keeps the
//! curve arithmetic out of the bundle. Imported keys are cached for the isolate's life (keyed
//! by their DER), so a request pays for `verify` only. [`random_bytes`] is `getRandomValues`
//! (ingest's delivery tokens, the admin API's named tokens). The admin API's Cloudflare Access
//! JWTs are RS256 (RSASSA-PKCS1-v1_5 / SHA-256): [`import_rs256_key`] imports a signing key from
//! its JWK modulus and exponent (the caller caches it by key id), [`verify_rs256`] checks one
//! signature. [`seal`] and [`open`] are AES-256-GCM under `SECRETS_KEY` for the secrets D1
//! keeps (the stored format and the key's parsing are the core's `sealed`).

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
    if secure_random(&mut out).is_err() {
        for byte in &mut out {
            *byte = (worker::js_sys::Math::random() * 256.0) as u8;
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
    let mut out = [0u8; NONCE_BYTES];
    secure_random(&mut out)?;
    Ok(out)
}

/// Fill `out` from `crypto.getRandomValues` (at most 65,536 bytes), for what must be
/// unguessable (a named API token); no fallback.
pub fn secure_random(out: &mut [u8]) -> Result<(), JsValue> {
    let array = Uint8Array::new_with_length(out.len() as u32);
    let crypto = Reflect::get(&worker::js_sys::global(), &JsValue::from_str("crypto"))?;
    let get: Function = Reflect::get(&crypto, &JsValue::from_str("getRandomValues"))?.dyn_into()?;
    get.call1(&crypto, &array)?;
    array.copy_to(out);
    Ok(())
}

/// An RS256 public key from its JWK `n` and `e` (base64url), for [`verify_rs256`].
pub async fn import_rs256_key(n: &str, e: &str) -> Result<JsValue, JsValue> {
    let subtle = subtle()?;
    let jwk = object(&[("kty", "RSA"), ("n", n), ("e", e), ("alg", "RS256")])?;
    let algorithm = rs256()?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let args = Array::of5(
        &JsValue::from_str("jwk"),
        &jwk,
        &algorithm,
        &JsValue::FALSE,
        &usages,
    );
    call(&subtle, "importKey", &args).await
}

/// Whether `signature` over `message` verifies with the RS256 `key`.
pub async fn verify_rs256(
    key: &JsValue,
    signature: &[u8],
    message: &[u8],
) -> Result<bool, JsValue> {
    let subtle = subtle()?;
    let args = Array::of4(
        &rs256()?,
        key,
        &Uint8Array::from(signature),
        &Uint8Array::from(message),
    );
    Ok(call(&subtle, "verify", &args).await?.as_bool() == Some(true))
}

fn rs256() -> Result<JsValue, JsValue> {
    object(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", "SHA-256")])
}

/// A JS error's message, for a log line.
pub fn describe_error(error: &JsValue) -> String {
    describe(error)
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
