//! Twilio (twilio.com/docs/usage/webhooks/webhooks-security): `X-Twilio-Signature`, the base64
//! HMAC under the account's auth token of the full URL Twilio requested (query included),
//! followed, for a form post (`application/x-www-form-urlencoded`), by every POST parameter
//! sorted by name, each name then its value appended (a repeated name: its distinct values
//! sorted). A JSON body is not in the signature: the URL carries `bodySHA256`, which must
//! equal the hex SHA-256 of the body. The HMAC is SHA-1 unless
//! `X-Twilio-Webhooks-Signature-Settings` names `algorithm=HMAC_SHA256`. As Twilio's SDK does,
//! the URL is tried as received and with its default port added or its port removed (the
//! runtime drops `:443`, which Twilio may have signed). Comparisons are constant time. No
//! timestamp is signed; rotating the auth token means configuring old and new. Dedupe key:
//! `I-Twilio-Idempotency-Token` (the same on Twilio's retries). Twilio sends no event type.
//! Any other body, not covered by the signature, is refused.
//! Names are sorted by their UTF-8 bytes (Twilio's SDK sorts UTF-16 units: the two differ
//! only between characters beyond U+FFFF and U+E000–U+FFFF, which no Twilio parameter name
//! contains).

use sha2::{Digest, Sha256};

use super::inputs::{optional, required};
use super::mac::{decode_signature, equal, hmac, matching_secret, Algorithm, Encoding};
use super::Verdict;
use crate::by_name::ByName;
use crate::inbound::request_url::{form_urlencoded_pairs, query_pairs};
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
pub const SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";
pub const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";
pub const BODY_HASH_PARAMETER: &str = "bodySHA256";

/// The HMAC's hash: SHA-1 unless the settings header names HMAC_SHA256.
fn algorithm(request: &InboundRequest<'_>) -> Result<Algorithm, VerifyError> {
    let named = request
        .header(SETTINGS_HEADER)
        .unwrap_or_default()
        .split(',')
        .filter_map(|part| part.split_once('='))
        .find(|(key, _)| key.trim() == "algorithm")
        .map(|(_, value)| value.trim().to_ascii_uppercase());
    match named.as_deref() {
        None | Some("") | Some("HMAC_SHA1") => Ok(Algorithm::Sha1),
        Some("HMAC_SHA256") => Ok(Algorithm::Sha256),
        Some(_) => Err(VerifyError::MalformedSignature),
    }
}

/// The URL as received, and with its port removed (when it has one) or the scheme's default
/// port added (when it has none).
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host_start = authority.rfind(']').unwrap_or(0);
    let port_at = authority
        .get(host_start..)
        .and_then(|after| after.find(':'))
        .map(|i| host_start + i);
    let other = match port_at {
        Some(colon) => authority.get(..colon).map(str::to_string),
        None => match scheme.to_ascii_lowercase().as_str() {
            "https" => Some(format!("{authority}:443")),
            "http" => Some(format!("{authority}:80")),
            _ => None,
        },
    };
    if let Some(authority) = other {
        variants.push(format!("{scheme}://{authority}{tail}"));
    }
    variants
}

/// The form parameters, each name then its distinct values, sorted, concatenated.
fn signed_parameters(body: &[u8]) -> String {
    let mut by_name: ByName<Vec<String>> = ByName::new();
    for (name, value) in form_urlencoded_pairs(&String::from_utf8_lossy(body)) {
        by_name.entry(&name).push(value);
    }
    let mut out = String::new();
    for (name, mut values) in by_name {
        values.sort();
        values.dedup();
        for value in values {
            out.push_str(&name);
            out.push_str(&value);
        }
    }
    out
}

fn is_form(request: &InboundRequest<'_>) -> bool {
    request.header("Content-Type").is_some_and(|t| {
        t.trim()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    })
}

/// `bodySHA256` from the URL, when present: it must be the hex SHA-256 of the body.
fn check_body_hash(request: &InboundRequest<'_>) -> Result<bool, VerifyError> {
    let Some((_, claimed)) = query_pairs(request.url)
        .into_iter()
        .find(|(name, _)| name == BODY_HASH_PARAMETER)
    else {
        return Ok(false);
    };
    let actual = hex::encode(Sha256::digest(request.body));
    if !equal(claimed.as_bytes(), actual.as_bytes()) {
        return Err(VerifyError::SignatureMismatch);
    }
    Ok(true)
}

/// What follows the URL in the signed text: the sorted form parameters of a form post, nothing
/// when the URL's `bodySHA256` covers the body (checked here) or there is no body.
fn parameters_of(request: &InboundRequest<'_>) -> Result<String, VerifyError> {
    if check_body_hash(request)? {
        Ok(String::new())
    } else if is_form(request) {
        Ok(signed_parameters(request.body))
    } else if request.body.is_empty() {
        Ok(String::new())
    } else {
        // Neither form parameters nor a body hash: the signature would not cover the body.
        Err(VerifyError::SignatureMismatch)
    }
}

/// What a verified delivery's signature covers, as its content key digests it: the URL as
/// received (the runtime's URL drops a default port, so one target has one spelling) and the
/// sorted form parameters, whatever their order or encoding in the body.
pub fn signed_content<'a>(request: &InboundRequest<'a>) -> (&'a str, String) {
    (request.url, parameters_of(request).unwrap_or_default())
}

pub fn verify(secrets: &[String], request: &InboundRequest<'_>) -> Result<Verdict, VerifyError> {
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let signature = decode_signature(value, "", Encoding::Base64)?;
    let algorithm = algorithm(request)?;
    let parameters = parameters_of(request)?;
    let key_index = url_variants(request.url)
        .iter()
        .find_map(|url| {
            let parts: [&[u8]; 2] = [url.as_bytes(), parameters.as_bytes()];
            matching_secret(secrets, std::slice::from_ref(&signature), |key| {
                hmac(algorithm, key, &parts)
            })
        })
        .ok_or(VerifyError::SignatureMismatch)?;
    Ok(Verdict::keyed(key_index).with(optional(request, &[IDEMPOTENCY_HEADER]), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_tried_with_and_without_their_port() {
        assert_eq!(
            url_variants("https://h.example/a?b=1"),
            ["https://h.example/a?b=1", "https://h.example:443/a?b=1"]
        );
        assert_eq!(
            url_variants("http://h.example:8080"),
            ["http://h.example:8080", "http://h.example"]
        );
        assert_eq!(
            url_variants("https://[::1]/x"),
            ["https://[::1]/x", "https://[::1]:443/x"]
        );
        assert_eq!(url_variants("not a url"), ["not a url"]);
    }

    #[test]
    fn parameters_are_sorted_by_name_with_distinct_sorted_values() {
        assert_eq!(signed_parameters(b"b=2&a=1&b=1&b=2"), "a1b1b2");
        assert_eq!(
            signed_parameters(b"To=%2B1800&Body=hi+there"),
            "Bodyhi thereTo+1800"
        );
        assert_eq!(signed_parameters(b""), "");
    }
}
