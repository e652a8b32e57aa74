//! Secrets sealed at rest: the stored form of a secret D1 keeps (a registry source's secrets,
//! an http destination's signing secrets), AES-256-GCM under `SECRETS_KEY` (base64 of 32
//! bytes, a Worker secret). This file owns the pure parts: the key's parsing
//! ([`Config::secrets_key`]), the text format `v1:<base64 of the 12-byte nonce then the
//! ciphertext and its tag>`, the associated data that binds a sealed value to the row it
//! belongs to (a sealed value copied to another row does not open), and how a legacy
//! plaintext value is told apart (it lacks the prefix). The cipher itself runs in the shell's
//! WebCrypto (`src/webcrypto.rs`), the runtime's native AES-GCM. The same key also keys the
//! fingerprints the admin API shows instead of secrets ([`fingerprint`]).

pub mod fingerprint;
pub mod reseal;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::settings::table::SECRETS_KEY;
use crate::settings::{Config, ConfigError};

/// The prefix of every sealed value (the format's version).
pub const PREFIX: &str = "v1:";
/// AES-GCM's nonce length, in bytes.
pub const NONCE_BYTES: usize = 12;
/// AES-GCM's tag length, in bytes (the shortest valid ciphertext).
pub const TAG_BYTES: usize = 16;

/// A sealed value's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: [u8; NONCE_BYTES],
    /// The ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

/// What a stored value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Sealed(Sealed),
    /// Written before sealing existed (or without a key): kept as it was.
    Plain(String),
}

/// Why a value with the sealed prefix cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl Sealed {
    /// The stored text.
    pub fn to_text(&self) -> String {
        let mut bytes = self.nonce.to_vec();
        bytes.extend_from_slice(&self.ciphertext);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }
}

/// Read a stored value: sealed (with the prefix, well formed), plain (no prefix), or
/// malformed (the prefix without a valid body).
pub fn parse(text: &str) -> Result<Stored, Malformed> {
    let Some(body) = text.strip_prefix(PREFIX) else {
        return Ok(Stored::Plain(text.to_string()));
    };
    let bytes = STANDARD.decode(body).map_err(|_| Malformed)?;
    if bytes.len() < NONCE_BYTES + TAG_BYTES {
        return Err(Malformed);
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| Malformed)?;
    Ok(Stored::Sealed(Sealed {
        nonce,
        ciphertext: ciphertext.to_vec(),
    }))
}

/// The associated data of a sealed value: what it belongs to (`source:github-main`,
/// `destination:crm`), so it opens only there.
pub fn context(kind: &str, name: &str) -> Vec<u8> {
    format!("edgehooks:{kind}:{name}").into_bytes()
}

/// Parse `SECRETS_KEY`: base64 (standard, padded) of exactly 32 bytes.
pub fn parse_key(raw: Option<&str>) -> Result<Option<[u8; 32]>, ConfigError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let invalid = || ConfigError {
        setting: SECRETS_KEY,
        detail: "must be the base64 of 32 random bytes (openssl rand -base64 32)".into(),
    };
    let bytes = STANDARD.decode(text).map_err(|_| invalid())?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| invalid())?;
    Ok(Some(key))
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// `SECRETS_KEY`: `None` when unset (sources cannot be created; destination secrets are
    /// stored as given and shown with no fingerprint).
    pub fn secrets_key(&self) -> Result<Option<[u8; 32]>, ConfigError> {
        parse_key(self.raw(SECRETS_KEY).as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_round_trip_and_plain_ones_are_told_apart() {
        let sealed = Sealed {
            nonce: [7; NONCE_BYTES],
            ciphertext: vec![1; 20],
        };
        let text = sealed.to_text();
        assert!(text.starts_with("v1:"));
        assert_eq!(parse(&text), Ok(Stored::Sealed(sealed)));
        assert_eq!(
            parse("whsec_abc"),
            Ok(Stored::Plain("whsec_abc".to_string()))
        );
        for bad in ["v1:", "v1:!!", "v1:AAAA"] {
            assert_eq!(parse(bad), Err(Malformed), "{bad}");
        }
    }

    #[test]
    fn the_key_is_base64_of_32_bytes() {
        assert_eq!(parse_key(None), Ok(None));
        assert_eq!(parse_key(Some("  ")), Ok(None));
        let key = STANDARD.encode([9u8; 32]);
        assert_eq!(parse_key(Some(&key)), Ok(Some([9; 32])));
        for bad in [
            "short",
            &STANDARD.encode([1u8; 16]),
            &STANDARD.encode([1u8; 33]),
        ] {
            let error = parse_key(Some(bad)).unwrap_err();
            assert_eq!(error.setting, "SECRETS_KEY");
            assert!(!error.detail.contains(bad));
        }
    }

    #[test]
    fn the_context_names_the_row() {
        assert_ne!(context("source", "a"), context("source", "b"));
        assert_ne!(context("source", "a"), context("destination", "a"));
    }
}
