//! Shared by the provider vector tests: the fixture pieces every provider's vectors file uses
//! (bodies stored inline or as a recipe for the ~1 MB case, the expected outcome) and the
//! comparison of a verify result with it; `sign` builds signed deliveries for the properties.

pub mod sign;

use edgehooks_handlers::inbound::webhook::{Verified, VerifyError};
use serde::Deserialize;

/// A large body kept out of the fixture: `prefix + repeat × times + suffix`.
#[derive(Deserialize)]
pub struct Recipe {
    prefix: String,
    repeat: String,
    times: usize,
    suffix: String,
}

/// The body of case `name`: exactly one of `body` and `recipe` is set.
pub fn case_body(name: &str, body: &Option<String>, recipe: &Option<Recipe>) -> String {
    match (body, recipe) {
        (Some(body), None) => body.clone(),
        (None, Some(r)) => format!("{}{}{}", r.prefix, r.repeat.repeat(r.times), r.suffix),
        _ => panic!("{name}: exactly one of body and body_recipe"),
    }
}

/// `{"ok": key index}` or `{"err": "<VerifyError code>"}` (SendGrid's key cases reuse the
/// shape for a key count or the entry an error must name).
#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    Ok(usize),
    Err(String),
}

impl Expected {
    /// Whether a verify result is what the fixture expects.
    pub fn matches(&self, got: &Result<Verified, VerifyError>) -> bool {
        match (self, got) {
            (Expected::Ok(index), Ok(Verified { key_index })) => index == key_index,
            (Expected::Err(code), Err(e)) => code == e.code(),
            _ => false,
        }
    }
}

/// Fail with every failing case listed, not just the first.
pub fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failing vectors:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Run `check` on every case and fail once, listing each failing case by name.
#[allow(dead_code)] // not every provider's test file checks cases this way
pub fn check_all<C>(
    cases: &[C],
    name: impl Fn(&C) -> &str,
    check: impl Fn(&C) -> Result<(), String>,
) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| check(case).err().map(|e| format!("{}: {e}", name(case))))
        .collect();
    assert_no_failures(&failures);
}

/// `text` with the byte at `index % len` replaced by a different byte (lossily re-read as UTF-8).
#[allow(dead_code)] // used by the properties of the providers with text headers
pub fn change_byte(text: &str, index: usize, delta: u8) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let i = index % bytes.len();
    bytes[i] = bytes[i].wrapping_add(delta);
    String::from_utf8_lossy(&bytes).into_owned()
}
