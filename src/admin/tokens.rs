//! Named API tokens (admin only): `POST tokens {"name", "role"}` mints one and answers `201`
//! with the token, the only time it is shown; `GET tokens` lists them (name, role, created,
//! by whom, last used; never the token nor its hash); `DELETE tokens/{name}` revokes one, seen
//! on the very next request (sign-in reads the row each time). The rules are the core's
//! `edgehooks_handlers::access::tokens`; `GET whoami` answers the caller's own identity.

use edgehooks_handlers::access::tokens::{mint, NewToken, ID_BYTES, SECRET_BYTES};
use edgehooks_handlers::access::Identity;
use serde_json::{json, Value};
use worker::D1Database;

use super::http::{answer, invalid, name_taken, ok, Answer};
use crate::clock::now_ms;
use crate::db;
use crate::error::AppError;
use crate::webcrypto::secure_random;

/// `POST tokens`.
pub async fn create(db: &D1Database, caller: &Identity, body: &Value) -> Result<Answer, AppError> {
    let request = NewToken::from_json(body).map_err(|(field, problem)| invalid(field, problem))?;
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    if secure_random(&mut id)
        .and(secure_random(&mut secret))
        .is_err()
    {
        crate::log::error("random_unavailable", "crypto.getRandomValues failed");
        return Err(AppError::Unavailable);
    }
    let minted = mint(id, secret);
    let now = now_ms();
    let role = request.role.name();
    let created = db::access::create_token(
        db,
        &request.name,
        &minted.id,
        &minted.hash,
        role,
        &caller.who,
        now,
    )
    .await?;
    if !created {
        return Err(name_taken("token", &request.name));
    }
    Ok(answer(
        201,
        json!({
            "name": request.name, "role": role, "token": minted.token, "created_at": now,
            "note": "shown once: store it now",
        }),
    ))
}

/// `GET tokens`.
pub async fn list(db: &D1Database) -> Result<Answer, AppError> {
    let rows = db::access::list_tokens(db).await?;
    let tokens: Vec<Value> = rows
        .into_iter()
        .map(|t| {
            json!({
                "name": t.name, "role": t.role, "created_at": t.created_at,
                "created_by": t.created_by, "last_used_at": t.last_used_at,
            })
        })
        .collect();
    Ok(ok(json!({ "tokens": tokens })))
}

/// `DELETE tokens/{name}`.
pub async fn delete(db: &D1Database, name: &str) -> Result<Answer, AppError> {
    match db::access::delete_token(db, name).await? {
        true => Ok(ok(json!({ "name": name, "deleted": true }))),
        false => Err(AppError::NotFound),
    }
}

/// `GET whoami`: the caller as the audit trail names them, and their role.
pub fn whoami(caller: &Identity) -> Answer {
    ok(json!({ "who": caller.who, "via": caller.via.name(), "role": caller.role.name() }))
}
