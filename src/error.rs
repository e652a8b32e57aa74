//! The shell's one error type and its single mapping to HTTP responses. Every failure a client
//! can see has a stable `error` code; internal detail is logged, never returned.

use edgehooks_handlers::inbound::webhook::{ParseError, VerifyError};
use serde_json::json;
use worker::Response;

#[derive(Debug)]
pub enum AppError {
    NotFound,
    /// The path exists but not for this method; `allow` is its `Allow` header (e.g. `POST`).
    MethodNotAllowed {
        allow: &'static str,
    },
    /// No secret configured for this provider: it never accepts unverified input.
    ProviderDisabled,
    /// `/webhooks/{provider}/{source}` names no source declared for the provider.
    SourceNotFound,
    PayloadTooLarge {
        limit: u64,
    },
    Verification(VerifyError),
    Unparsable(ParseError),
    /// Admin request without the right bearer token.
    Unauthorized,
    /// A signed-in admin caller whose role is lower than the route's: 403 `forbidden_role`.
    Forbidden {
        needed: &'static str,
        role: &'static str,
    },
    BadRequest {
        code: &'static str,
        detail: String,
    },
    /// An admin request's field is wrong: 400 `invalid_field`, naming the field.
    InvalidField {
        field: String,
        detail: String,
    },
    /// An admin request names something that does not exist (`unknown_connection`): 400 with
    /// its own code, naming the field.
    UnknownReference {
        code: &'static str,
        field: &'static str,
        detail: String,
    },
    /// The request conflicts with what is stored (a taken name, a destination in use): 409.
    Conflict {
        code: &'static str,
        detail: String,
    },
    /// A setting the request needs is invalid; `detail` names it without its value.
    Misconfigured {
        detail: String,
    },
    /// Storage is failing; the provider should retry.
    Unavailable,
    /// The Stripe backfill has no `STRIPE_API_KEY`.
    BackfillDisabled,
    /// A connection's transform does not validate: 400 `invalid_transform`, naming the
    /// operation or header (`transform.ops[2].path`, `transform.headers.content-length`).
    InvalidTransform {
        field: String,
        detail: String,
    },
    /// A registry source's scheme configuration is not usable: 400 `invalid_scheme_config`,
    /// naming the field (`scheme`, `config` or `config.<field>`).
    InvalidSchemeConfig {
        field: String,
        detail: String,
    },
    /// A registry source's credential-as-secret (`token`, `basic`, `gitlab`) is too short to
    /// resist guessing: 400 `weak_secret`, naming `secrets`.
    WeakSecret {
        field: String,
        detail: String,
    },
}

/// `Allow` of a path that only reads.
pub const ALLOW_GET: &str = "GET, HEAD";
/// `Allow` of a path that only takes a POST.
pub const ALLOW_POST: &str = "POST";

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            AppError::NotFound
            | AppError::ProviderDisabled
            | AppError::BackfillDisabled
            | AppError::SourceNotFound => 404,
            AppError::MethodNotAllowed { .. } => 405,
            AppError::PayloadTooLarge { .. } => 413,
            AppError::Verification(VerifyError::EmptyBody) => 400,
            AppError::Verification(_) | AppError::Unauthorized => 401,
            AppError::Forbidden { .. } => 403,
            AppError::Unparsable(_)
            | AppError::BadRequest { .. }
            | AppError::InvalidField { .. }
            | AppError::InvalidSchemeConfig { .. }
            | AppError::WeakSecret { .. }
            | AppError::InvalidTransform { .. }
            | AppError::UnknownReference { .. } => 400,
            AppError::Conflict { .. } => 409,
            AppError::Misconfigured { .. } | AppError::Unavailable => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed { .. } => "method_not_allowed",
            AppError::ProviderDisabled => "provider_disabled",
            AppError::SourceNotFound => "source_not_found",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::Verification(e) => e.code(),
            AppError::Unparsable(e) => e.code(),
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden { .. } => "forbidden_role",
            AppError::BadRequest { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::UnknownReference { code, .. } => code,
            AppError::InvalidField { .. } => "invalid_field",
            AppError::InvalidSchemeConfig { .. } => "invalid_scheme_config",
            AppError::WeakSecret { .. } => "weak_secret",
            AppError::InvalidTransform { .. } => "invalid_transform",
            AppError::Misconfigured { .. } => "misconfigured",
            AppError::Unavailable => "unavailable",
            AppError::BackfillDisabled => "backfill_disabled",
        }
    }

    pub fn to_response(&self) -> Response {
        let body = match self {
            AppError::PayloadTooLarge { limit } => json!({ "error": self.code(), "limit": limit }),
            AppError::Forbidden { needed, role } => {
                json!({ "error": self.code(), "needed": needed, "role": role })
            }
            AppError::Unparsable(e) => json!({ "error": self.code(), "detail": e.detail() }),
            AppError::InvalidField { field, detail }
            | AppError::InvalidSchemeConfig { field, detail }
            | AppError::WeakSecret { field, detail }
            | AppError::InvalidTransform { field, detail } => {
                json!({ "error": self.code(), "field": field, "detail": detail })
            }
            AppError::UnknownReference { field, detail, .. } => {
                json!({ "error": self.code(), "field": field, "detail": detail })
            }
            AppError::BadRequest { detail, .. }
            | AppError::Conflict { detail, .. }
            | AppError::Misconfigured { detail } => {
                json!({ "error": self.code(), "detail": detail })
            }
            _ => json!({ "error": self.code() }),
        };
        let mut response = json_response(&body, self.status());
        let headers = response.headers_mut();
        match self {
            AppError::Unavailable | AppError::Misconfigured { .. } => {
                let _ = headers.set("Retry-After", "30");
            }
            AppError::MethodNotAllowed { allow } => {
                let _ = headers.set("Allow", allow);
            }
            AppError::Unauthorized => {
                let _ = headers.set("WWW-Authenticate", "Bearer");
            }
            _ => {}
        }
        response
    }
}

/// An operator's connection or destination JSON that does not validate: 400 naming the field
/// (`invalid_transform` for a connection's transform, `invalid_field` otherwise).
impl From<edgehooks_handlers::connections::FilterError> for AppError {
    fn from(e: edgehooks_handlers::connections::FilterError) -> Self {
        match e.code {
            edgehooks_handlers::connections::transform::INVALID_TRANSFORM => {
                AppError::InvalidTransform {
                    field: e.field,
                    detail: e.problem,
                }
            }
            _ => AppError::InvalidField {
                field: e.field,
                detail: e.problem,
            },
        }
    }
}

/// A registry source's JSON that does not validate: 400 naming the field.
impl From<edgehooks_handlers::inbound::registry::SourceError> for AppError {
    fn from(e: edgehooks_handlers::inbound::registry::SourceError) -> Self {
        match e.code {
            "invalid_scheme_config" => AppError::InvalidSchemeConfig {
                field: e.field,
                detail: e.detail,
            },
            "weak_secret" => AppError::WeakSecret {
                field: e.field,
                detail: e.detail,
            },
            _ => AppError::InvalidField {
                field: e.field,
                detail: e.detail,
            },
        }
    }
}

impl From<worker::Error> for AppError {
    fn from(error: worker::Error) -> Self {
        crate::log::error("storage_error", &error.to_string());
        AppError::Unavailable
    }
}

/// A JSON response with the given status. Serialising a `serde_json::Value` cannot fail, and
/// building a response from bytes cannot either; the fallback keeps this total without panics.
pub fn json_response(body: &serde_json::Value, status: u16) -> Response {
    let bytes = body.to_string().into_bytes();
    let headers = worker::Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(bytes)
}
