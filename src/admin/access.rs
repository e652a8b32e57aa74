//! Who is calling the admin API. The core says which credential the request presents
//! (`access::credential`): an `ADMIN_TOKEN` entry (the bootstrap admin, constant-time, no D1
//! read); a named token (`ehk_…`), whose row is read on every request (no cache: a revoked token
//! is refused on the very next request) and whose hash is compared in constant time; or, with
//! no bearer token, a `Cf-Access-Jwt-Assertion` when Cloudflare Access is configured. With
//! `ADMIN_TOKEN` unset no bearer token is taken, named ones included (`bearer_disabled`). A
//! refused sign-in is logged at `warn` (the reason and path, never what was presented) and
//! counted under `admin` with the verification failures, so the dashboard and the
//! signature-failure alert see it. While `ADMIN_TOKEN` (or, for a JWT, an `ACCESS_*` setting) is
//! misconfigured nothing is accepted: `503 misconfigured`.

use edgehooks_handlers::access::credential::{credential, Credential};
use edgehooks_handlers::access::jwt::AccessRefusal;
use edgehooks_handlers::access::tokens::matches;
use edgehooks_handlers::access::{Identity, Role};
use worker::{D1Database, Env, Request};

use super::access_keys;
use crate::clock::now_ms;
use crate::config::config;
use crate::db;
use crate::error::AppError;
use crate::log;
use crate::tally::{metrics, rejections};

/// The Access header Cloudflare adds to a request it let through.
const ACCESS_HEADER: &str = "Cf-Access-Jwt-Assertion";

/// The caller's identity, or `401` (counted and logged with its reason and `path`, the path
/// asked for: the admin API's or `/metrics`).
pub async fn authenticate(
    req: &Request,
    env: &Env,
    db: &D1Database,
    path: &str,
) -> Result<Identity, AppError> {
    let admin_tokens = config(env).admin_tokens()?;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let (authorization, assertion) = (header("Authorization"), header(ACCESS_HEADER));
    let signed_in = match credential(
        authorization.as_deref(),
        assertion.as_deref(),
        &admin_tokens,
    ) {
        Ok(Credential::AdminToken(identity)) => Ok(identity),
        Ok(Credential::Named { id, token }) => named_token(db, id, token).await?,
        Ok(Credential::AccessJwt(jwt)) => match config(env).access()? {
            Some(settings) => access_keys::identity(&settings, jwt)
                .await
                .map_err(AccessRefusal::code),
            None => Err("access_disabled"),
        },
        Err(reason) => Err(reason),
    };
    signed_in.map_err(|reason| refused(reason, path))
}

/// The named token with public id `id`, if `presented` is it; the reason code otherwise
/// (`api_token_mismatch`: no such token, revoked, or not its secret). A failing D1 read is
/// `503` (the caller may retry), not a refusal.
async fn named_token(
    db: &D1Database,
    id: &str,
    presented: &str,
) -> Result<Result<Identity, &'static str>, AppError> {
    let row = db::access::token_by_id(db, id).await?;
    let found = row
        .filter(|row| matches(presented, &row.token_hash))
        .and_then(|row| Role::from_name(&row.role).map(|role| (row.name, role)));
    let Some((name, role)) = found else {
        return Ok(Err("api_token_mismatch"));
    };
    // Last use is bookkeeping: a failing write does not refuse the call.
    if let Err(e) = db::access::mark_used(db, &name, now_ms()).await {
        log::error("storage_error", &e.to_string());
    }
    Ok(Ok(Identity::api_token(&name, role)))
}

/// Count and log a refused sign-in; `401`.
fn refused(reason: &'static str, path: &str) -> AppError {
    rejections::count_admin(reason);
    metrics::count_admin_refusal(reason);
    let path = log::caller_text(path);
    log::warn(
        "admin_unauthorized",
        serde_json::json!({ "reason": reason, "path": path }),
    );
    AppError::Unauthorized
}

/// A signed-in caller whose role is too low: logged (who, role, needed, path), `403`.
pub fn forbidden(identity: &Identity, needed: Role, path: &[&str]) -> AppError {
    log::warn(
        "admin_forbidden",
        serde_json::json!({
            "who": identity.who, "role": identity.role.name(), "needed": needed.name(),
            "path": logged_path(path),
        }),
    );
    AppError::Forbidden {
        needed: needed.name(),
        role: identity.role.name(),
    }
}

fn logged_path(path: &[&str]) -> String {
    log::caller_text(&format!("/admin/api/{}", path.join("/")))
}
