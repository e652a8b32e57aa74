//! Admin authentication: the `Authorization: Bearer <token>` header checked against every token
//! of `ADMIN_TOKEN` (a comma-separated list, so a token rotates: add the new one, move clients,
//! remove the old), each compared in constant time. Both sides are hashed first so a comparison
//! takes the same time whatever the presented token's length or content, and every configured
//! token is compared (no early exit), so the answer's timing does not say which one matched.
//! Each configured token must be at least [`MIN_TOKEN_CHARS`] long (the config's
//! [`admin_tokens`](crate::settings::Config::admin_tokens) names a shorter one). A refusal says
//! why by a stable reason code (counted and logged by the shell, never with the token).

use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::settings::table::ADMIN_TOKEN;
use crate::settings::{secret_list, Config, ConfigError};

/// The name failed sign-ins are counted under, beside the providers, in the rejection tally
/// and the dashboard's metrics (so the dashboard and the signature-failure alert see them).
pub const COUNTED_AS: &str = "admin";

/// Fewest characters an `ADMIN_TOKEN` entry may have: 24 random characters (e.g. `openssl rand
/// -hex 16` or more) cannot be guessed online, a short word can.
pub const MIN_TOKEN_CHARS: usize = 24;

/// Why an admin request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer <token>` header (or another scheme, or an empty token).
    MissingToken,
    /// A bearer token that is none of the configured ones.
    TokenMismatch,
    /// A bearer token while `ADMIN_TOKEN` is unset: bearer sign-in (named tokens included) is
    /// off.
    BearerDisabled,
}

impl Refusal {
    /// The reason code, as counted in the rejection tally (under `admin`) and logged.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::MissingToken => "missing_token",
            Refusal::TokenMismatch => "token_mismatch",
            Refusal::BearerDisabled => "bearer_disabled",
        }
    }
}

/// The bearer token of an `Authorization` header value, if it is one.
pub fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Accept `authorization` when it is `Bearer <token>` and `<token>` is one of `tokens`: the
/// index of the entry it matched (who signed in, for the audit trail; never the value). No
/// configured token (the admin API is closed) matches nothing.
pub fn check_bearer(authorization: Option<&str>, tokens: &[String]) -> Result<usize, Refusal> {
    let presented = bearer_token(authorization).ok_or(Refusal::MissingToken)?;
    check_token(presented, tokens)
}

/// [`check_bearer`] for a token already taken out of its header.
pub fn check_token(presented: &str, tokens: &[String]) -> Result<usize, Refusal> {
    let presented = Sha256::digest(presented.as_bytes());
    let (matched, index) =
        tokens
            .iter()
            .enumerate()
            .fold((Choice::from(0), 0u64), |(matched, index), (n, token)| {
                let this = presented.ct_eq(&Sha256::digest(token.as_bytes()));
                let index = u64::conditional_select(&index, &(n as u64), this & !matched);
                (matched | this, index)
            });
    match bool::from(matched) {
        true => Ok(index as usize),
        false => Err(Refusal::TokenMismatch),
    }
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// The admin bearer tokens (`ADMIN_TOKEN`, comma-separated so a token rotates); empty when
    /// unset (then nothing is authorized). An empty entry, or one shorter than
    /// [`MIN_TOKEN_CHARS`], is an error naming its position: the admin API is
    /// refused (`503 misconfigured`) until it is fixed.
    pub fn admin_tokens(&self) -> Result<Vec<String>, ConfigError> {
        let tokens = secret_list(ADMIN_TOKEN, self.raw(ADMIN_TOKEN).as_deref())?;
        let min = MIN_TOKEN_CHARS;
        match tokens.iter().position(|t| t.chars().count() < min) {
            Some(index) => Err(ConfigError {
                setting: ADMIN_TOKEN,
                detail: format!("entry {index} is shorter than {min} characters"),
            }),
            None => Ok(tokens),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn bearer_tokens() {
        let one = tokens(&["s3cret"]);
        assert_eq!(check_bearer(Some("Bearer s3cret"), &one), Ok(0));
        assert_eq!(check_bearer(Some("bearer  s3cret "), &one), Ok(0));
        for missing in [
            None,
            Some(""),
            Some("s3cret"),
            Some("Basic s3cret"),
            Some("Bearer "),
        ] {
            let refused = check_bearer(missing, &one);
            assert_eq!(refused, Err(Refusal::MissingToken), "{missing:?}");
        }
        for wrong in [
            Some("Basic s3cret x"),
            Some("Bearer s3cre"),
            Some("Bearer s3cret2"),
        ] {
            let refused = check_bearer(wrong, &one);
            assert!(refused.is_err(), "{wrong:?}");
        }
        assert_eq!(
            check_bearer(Some("Bearer s3cre"), &one),
            Err(Refusal::TokenMismatch)
        );
        assert_eq!(
            check_bearer(Some("Bearer x"), &[]),
            Err(Refusal::TokenMismatch),
            "no token configured: closed"
        );
    }

    #[test]
    fn every_token_of_a_rotation_list_is_accepted() {
        let list = tokens(&["old-token", "new-token"]);
        assert_eq!(check_bearer(Some("Bearer old-token"), &list), Ok(0));
        assert_eq!(
            check_bearer(Some("Bearer new-token"), &list),
            Ok(1),
            "its index"
        );
        assert_eq!(
            check_bearer(Some("Bearer old-token,new-token"), &list),
            Err(Refusal::TokenMismatch),
            "the list itself is no token"
        );
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(Refusal::MissingToken.code(), "missing_token");
        assert_eq!(Refusal::TokenMismatch.code(), "token_mismatch");
        assert_eq!(Refusal::BearerDisabled.code(), "bearer_disabled");
    }
}
