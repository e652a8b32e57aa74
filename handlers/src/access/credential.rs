//! Which credential an admin request presents, decided before anything is looked up: an
//! `Authorization: Bearer` token that is one of `ADMIN_TOKEN`'s entries (signed in at once, as
//! that entry), else one shaped like a named token (`ehk_…`: its row is looked up by public id),
//! else any other bearer value is refused; with no bearer token, a `Cf-Access-Jwt-Assertion`
//! (verified by the shell); with neither, refused as `missing_token`. `ADMIN_TOKEN` is the
//! switch of bearer sign-in: while it is unset every bearer token, named ones included, is
//! refused (`bearer_disabled`), so removing it after a compromise also shuts out the tokens
//! minted through the API. Access sign-in has its own settings and is not affected.

use super::roles::Identity;
use super::tokens::id_of;
use crate::auth::{bearer_token, check_token, Refusal};

/// What to check next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential<'a> {
    /// One of `ADMIN_TOKEN`'s entries: signed in.
    AdminToken(Identity),
    /// A named token: find the row of `id`, compare the hash of `token`.
    Named { id: &'a str, token: &'a str },
    /// A Cloudflare Access JWT to verify.
    AccessJwt(&'a str),
}

/// The credential of a request with these headers; a refusal's reason code otherwise.
pub fn credential<'a>(
    authorization: Option<&'a str>,
    access_jwt: Option<&'a str>,
    admin_tokens: &[String],
) -> Result<Credential<'a>, &'static str> {
    if let Some(token) = bearer_token(authorization) {
        if admin_tokens.is_empty() {
            return Err(Refusal::BearerDisabled.code());
        }
        return match check_token(token, admin_tokens) {
            Ok(index) => Ok(Credential::AdminToken(Identity::admin_token(index))),
            Err(refusal) => match id_of(token) {
                Some(id) => Ok(Credential::Named { id, token }),
                None => Err(refusal.code()),
            },
        };
    }
    match access_jwt.map(str::trim).filter(|jwt| !jwt.is_empty()) {
        Some(jwt) => Ok(Credential::AccessJwt(jwt)),
        None => Err(Refusal::MissingToken.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMED: &str = "ehk_0a0b0c0d0e0f_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn admin() -> Vec<String> {
        vec![
            "first-admin-token-000000000".into(),
            "second-admin-token-00000000".into(),
        ]
    }

    #[test]
    fn an_admin_token_entry_signs_in_by_position() {
        let c = credential(
            Some("Bearer second-admin-token-00000000"),
            Some("jwt"),
            &admin(),
        );
        assert_eq!(c, Ok(Credential::AdminToken(Identity::admin_token(1))));
    }

    #[test]
    fn a_named_token_is_looked_up_and_other_bearers_refused() {
        let header = format!("Bearer {NAMED}");
        let c = credential(Some(&header), None, &admin());
        assert_eq!(
            c,
            Ok(Credential::Named {
                id: "0a0b0c0d0e0f",
                token: NAMED
            })
        );
        let wrong = credential(Some("Bearer not-a-token"), Some("a.b.c"), &admin());
        assert_eq!(
            wrong,
            Err("token_mismatch"),
            "a bearer token wins over the Access header"
        );
    }

    #[test]
    fn with_admin_token_unset_every_bearer_is_refused_named_ones_too() {
        let named = format!("Bearer {NAMED}");
        for header in [named.as_str(), "Bearer first-admin-token-000000000"] {
            assert_eq!(
                credential(Some(header), None, &[]),
                Err("bearer_disabled"),
                "{header}"
            );
            assert_eq!(
                credential(Some(header), Some("a.b.c"), &[]),
                Err("bearer_disabled"),
                "a refused bearer does not fall back to the Access header"
            );
        }
        assert_eq!(
            credential(None, Some("a.b.c"), &[]),
            Ok(Credential::AccessJwt("a.b.c")),
            "Access sign-in is its own switch"
        );
    }

    #[test]
    fn without_a_bearer_the_access_header_or_nothing() {
        assert_eq!(
            credential(None, Some(" a.b.c "), &admin()),
            Ok(Credential::AccessJwt("a.b.c"))
        );
        assert_eq!(
            credential(Some("Basic x"), Some("a.b.c"), &admin()),
            Ok(Credential::AccessJwt("a.b.c"))
        );
        assert_eq!(credential(None, Some(" "), &admin()), Err("missing_token"));
        assert_eq!(credential(None, None, &[]), Err("missing_token"));
    }
}
