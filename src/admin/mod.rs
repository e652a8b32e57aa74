//! Admin page and API (being written): `/admin` and `/admin/api/*`.

use worker::{Env, Request, Response};

use crate::error::AppError;

pub fn page(_req: &Request, _env: &Env) -> Result<Response, AppError> {
    Err(AppError::NotFound)
}

pub async fn api(_req: Request, _env: &Env, _path: &[&str]) -> Result<Response, AppError> {
    Err(AppError::NotFound)
}
