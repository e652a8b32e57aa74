//! Admin authentication: the `Authorization: Bearer <token>` header checked against
//! `ADMIN_TOKEN` in constant time. Both sides are hashed first so the comparison takes the same
//! time whatever the presented token's length or content.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// True when `authorization` is `Bearer <token>` and `<token>` equals `expected`. An empty
/// `expected` (no token configured) never matches: the admin API is then closed.
pub fn bearer_matches(authorization: Option<&str>, expected: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let presented = authorization
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .unwrap_or("");
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    bool::from(a.ct_eq(&b)) && !presented.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert!(bearer_matches(Some("Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(Some("bearer  s3cret "), "s3cret"));
        for bad in [
            None,
            Some(""),
            Some("s3cret"),
            Some("Basic s3cret"),
            Some("Bearer s3cre"),
            Some("Bearer s3cret2"),
            Some("Bearer "),
        ] {
            assert!(!bearer_matches(bad, "s3cret"), "{bad:?}");
        }
        assert!(!bearer_matches(Some("Bearer "), ""));
        assert!(!bearer_matches(Some("Bearer x"), ""));
    }
}
