//! Named API tokens: `ehk_<id>_<secret>`, where `<id>` (12 hex characters, random, public)
//! finds the stored row and `<secret>` (24 random bytes, base64url: 32 characters) is what makes
//! it unguessable. Only the SHA-256 of the whole token is stored; a presented token is hashed
//! and compared with the stored hash in constant time. The token is shown once, when it is
//! minted. Names are short slugs, so they can sit in paths and in the audit trail.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::roles::Role;

/// Every named token starts with this, so one is recognisable in a script or a leak scanner.
pub const PREFIX: &str = "ehk_";
/// Random bytes of a token's public id (12 hex characters).
pub const ID_BYTES: usize = 6;
/// Random bytes of a token's secret (32 base64url characters).
pub const SECRET_BYTES: usize = 24;
/// Longest token name.
pub const MAX_NAME_CHARS: usize = 64;

/// A freshly minted token: shown once, then only its id and hash are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub token: String,
    pub id: String,
    /// SHA-256 of `token`, hex.
    pub hash: String,
}

/// Mint a token from random bytes (the shell's `crypto.getRandomValues`).
pub fn mint(id: [u8; ID_BYTES], secret: [u8; SECRET_BYTES]) -> Minted {
    let id = hex::encode(id);
    let token = format!("{PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
    Minted {
        hash: hash_hex(&token),
        id,
        token,
    }
}

/// SHA-256 of a token, hex.
pub fn hash_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The public id of a presented bearer token shaped like a named token; `None` for any other
/// value (then it is not looked up).
pub fn id_of(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == ID_BYTES * 2 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = secret.len() == 32
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(id)
}

/// Whether `presented` is the token whose stored hash is `stored_hash` (hex), in constant time
/// over the hashes.
pub fn matches(presented: &str, stored_hash: &str) -> bool {
    let presented = hash_hex(presented);
    presented.len() == stored_hash.len()
        && bool::from(presented.as_bytes().ct_eq(stored_hash.as_bytes()))
}

/// A `POST tokens` request: `{"name", "role"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
}

impl NewToken {
    /// Validate the request body; an error is `(field, problem)`.
    pub fn from_json(body: &Value) -> Result<NewToken, (&'static str, String)> {
        let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
        check_name(name).map_err(|problem| ("name", problem))?;
        let role = body
            .get("role")
            .and_then(Value::as_str)
            .and_then(Role::from_name)
            .ok_or(("role", "must be viewer, operator or admin".to_string()))?;
        Ok(NewToken {
            name: name.to_string(),
            role,
        })
    }
}

/// A token name: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), String> {
    let good_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    let good_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if good_chars && good_start && name.len() <= MAX_NAME_CHARS {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_NAME_CHARS} of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_minted_token_is_recognised_and_matches_only_its_hash() {
        let minted = mint([1, 2, 3, 4, 5, 6], [7; SECRET_BYTES]);
        assert!(
            minted.token.starts_with("ehk_010203040506_"),
            "{}",
            minted.token
        );
        assert!(minted.token.len() >= 32 + PREFIX.len());
        assert_eq!(id_of(&minted.token), Some("010203040506"));
        assert!(matches(&minted.token, &minted.hash));
        let other = mint([1, 2, 3, 4, 5, 6], [8; SECRET_BYTES]);
        assert!(
            !matches(&other.token, &minted.hash),
            "same id, other secret"
        );
        assert!(!matches(&minted.token, "abc"));
        assert!(
            !minted.hash.contains(&minted.token[17..]),
            "the hash holds no secret"
        );
    }

    #[test]
    fn other_values_are_not_named_tokens() {
        for value in [
            "",
            "ehk_",
            "ehk_0102030405_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "ehk_01020304050g_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "ehk_010203040506_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "ehk_010203040506_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=A",
            "an-admin-token-of-enough-length",
        ] {
            assert_eq!(id_of(value), None, "{value}");
        }
    }

    #[test]
    fn requests_are_validated() {
        let ok = NewToken::from_json(&json!({"name": "ci-deploy.1", "role": "operator"}));
        assert_eq!(
            ok,
            Ok(NewToken {
                name: "ci-deploy.1".into(),
                role: Role::Operator
            })
        );
        for (body, field) in [
            (json!({"role": "viewer"}), "name"),
            (json!({"name": "Bad Name", "role": "viewer"}), "name"),
            (json!({"name": "-x", "role": "viewer"}), "name"),
            (json!({"name": "a".repeat(65), "role": "viewer"}), "name"),
            (json!({"name": "ok", "role": "root"}), "role"),
            (json!({"name": "ok"}), "role"),
        ] {
            assert_eq!(NewToken::from_json(&body).unwrap_err().0, field, "{body}");
        }
    }
}
