//! The keyed digests every signing scheme is built from: HMAC with SHA-1, SHA-256 or SHA-512
//! over a message given in parts, the decoding of a received signature (hex or base64), and
//! the search for the configured secret (several while one is being rotated) whose MAC equals a
//! received signature. Every comparison is constant time (`subtle`); secrets compared as
//! plain values (tokens, Basic credentials) are compared through their SHA-256 digests, so the
//! time taken does not depend on where, or whether in length, they differ.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The hash under an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The configuration name: `sha1`, `sha256`, `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }

    pub fn from_name(name: &str) -> Option<Encoding> {
        [Encoding::Hex, Encoding::Base64]
            .into_iter()
            .find(|e| e.name() == name)
    }

    /// The signature bytes, or `None` when the text is not in this encoding (hex in either
    /// case; base64 standard alphabet, padded).
    pub fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => hex::decode(text).ok(),
            Encoding::Base64 => STANDARD.decode(text).ok(),
        }
    }

    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => STANDARD.encode(bytes),
        }
    }
}

/// The signature bytes of a header value written as `prefix` then `encoding`: a value without
/// the prefix or not in the encoding is `malformed_signature`.
pub fn decode_signature(
    value: &str,
    prefix: &str,
    encoding: Encoding,
) -> Result<Vec<u8>, crate::inbound::webhook::VerifyError> {
    value
        .trim()
        .strip_prefix(prefix)
        .and_then(|text| encoding.decode(text))
        .ok_or(crate::inbound::webhook::VerifyError::MalformedSignature)
}

/// Index of the secret whose HMAC of `parts` is the signature in header value `value`
/// (`prefix` then `encoding`).
pub fn verify_signature(
    secrets: &[String],
    value: &str,
    prefix: &str,
    encoding: Encoding,
    algorithm: Algorithm,
    parts: &[&[u8]],
) -> Result<usize, crate::inbound::webhook::VerifyError> {
    let signature = decode_signature(value, prefix, encoding)?;
    matching_secret(secrets, &[signature], |key| hmac(algorithm, key, parts))
        .ok_or(crate::inbound::webhook::VerifyError::SignatureMismatch)
}

/// HMAC of the concatenation of `parts` under `key`.
pub fn hmac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match algorithm {
        Algorithm::Sha1 => mac_with::<Hmac<Sha1>>(key, parts),
        Algorithm::Sha256 => mac_with::<Hmac<Sha256>>(key, parts),
        Algorithm::Sha512 => hmac_sha512(key, parts),
    }
}

fn mac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this never takes the error branch.
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// HMAC-SHA-512 through `hmac-sha512` (a small loop), not `sha2`: sha2 is compiled at opt-level 3
/// for SHA-256's speed, which unrolls its SHA-512 too; this scheme is not on a hot path.
fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = hmac_sha512::HMAC::new(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().to_vec()
}

/// Constant-time equality of two byte strings (unequal lengths are unequal; the length of a
/// MAC is public).
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Constant-time equality of two secrets of any lengths, through their SHA-256 digests.
pub fn equal_secret(given: &[u8], secret: &[u8]) -> bool {
    equal(&Sha256::digest(given), &Sha256::digest(secret))
}

/// Index of the secret equal to `given` (a token or credentials sent as they are), every
/// secret compared.
pub fn matching_token(secrets: &[String], given: &[u8]) -> Option<usize> {
    let mut found = None;
    for (index, secret) in secrets.iter().enumerate() {
        if equal_secret(given, secret.as_bytes()) && found.is_none() {
            found = Some(index);
        }
    }
    found
}

/// Index of the first secret whose MAC (as `mac_of` computes it) equals one of `candidates`.
/// Every secret and candidate is compared, whatever matches first.
pub fn matching_secret(
    secrets: &[String],
    candidates: &[Vec<u8>],
    mac_of: impl Fn(&[u8]) -> Vec<u8>,
) -> Option<usize> {
    let mut found = None;
    for (index, secret) in secrets.iter().enumerate() {
        let expected = mac_of(secret.as_bytes());
        let matched = candidates
            .iter()
            .fold(false, |any, c| any | equal(c, &expected));
        if matched && found.is_none() {
            found = Some(index);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 2202 and RFC 4231 test case 2: key "Jefe", "what do ya want for nothing?".
    #[test]
    fn hmac_matches_the_rfc_test_vectors() {
        let message: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
        assert_eq!(
            hex::encode(hmac(Algorithm::Sha1, b"Jefe", message)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(hmac(Algorithm::Sha256, b"Jefe", message)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hex::encode(hmac(Algorithm::Sha512, b"Jefe", message))
            .starts_with("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"));
    }

    // RFC 4231 test case 6: a key longer than SHA-512's block is hashed first; the message is
    // given in three parts.
    #[test]
    fn hmac_sha512_hashes_a_key_longer_than_its_block() {
        let key = [0xaa_u8; 131];
        let message: &[&[u8]] = &[
            b"Test Using Larger Than ",
            b"Block-Size Key - ",
            b"Hash Key First",
        ];
        assert_eq!(
            hex::encode(hmac(Algorithm::Sha512, &key, message)),
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352\
             6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"
        );
    }

    #[test]
    fn the_matching_secret_is_reported_by_index() {
        let secrets = ["old".to_string(), "new".to_string()];
        let mac_of = |key: &[u8]| hmac(Algorithm::Sha256, key, &[b"body"]);
        let signed_new = vec![mac_of(b"new")];
        assert_eq!(matching_secret(&secrets, &signed_new, mac_of), Some(1));
        assert_eq!(matching_secret(&secrets, &[vec![0; 32]], mac_of), None);
        assert_eq!(matching_secret(&[], &signed_new, mac_of), None);
    }

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(equal_secret(b"token", b"token"));
        assert!(!equal_secret(b"token", b"token "));
        assert!(!equal_secret(b"", b"token"));
    }
}
