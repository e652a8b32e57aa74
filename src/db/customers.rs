//! SQL for the Stripe customers edgehooks knows (`stripe_customers`, migration 0005): the
//! person behind a customer id, as events taught it at ingest or a step's lookup answered. An
//! older source never overwrites a newer one (`as_of`: the event's own time, or the lookup's).

use edgehooks_handlers::downstream::KnownCustomer;
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{query, FromRow, Row};
use super::{num, opt_text, statement};

/// Where a stored customer came from: a lookup, or the type of the event that carried it.
pub const LOOKUP_SOURCE: &str = "lookup";

/// The stored customer with this id.
pub async fn known_customer(db: &D1Database, id: &str) -> Result<Option<KnownCustomer>> {
    let sql = "SELECT id, email, name, phone, deleted FROM stripe_customers WHERE id = ?1";
    query(&statement(db, sql, &[id.into()])?)
        .await?
        .read_first()
}

impl FromRow for KnownCustomer {
    fn from_row(row: &Row) -> Self {
        KnownCustomer {
            id: row.text("id"),
            email: row.opt_text("email"),
            name: row.opt_text("name"),
            phone: row.opt_text("phone"),
            deleted: row.flag("deleted"),
        }
    }
}

/// Remember `customer` as `source` said it at `as_of_ms`, unless something newer is stored. A
/// name or phone the source does not give keeps the stored one.
pub fn save_customer(
    db: &D1Database,
    customer: &KnownCustomer,
    source: &str,
    as_of_ms: i64,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO stripe_customers (id, email, name, phone, deleted, source, as_of, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (id) DO UPDATE SET email = excluded.email, \
         name = COALESCE(excluded.name, stripe_customers.name), \
         phone = COALESCE(excluded.phone, stripe_customers.phone), \
         deleted = excluded.deleted, source = excluded.source, as_of = excluded.as_of, \
         updated_at = excluded.updated_at \
         WHERE excluded.as_of >= stripe_customers.as_of",
        &[
            customer.id.as_str().into(),
            opt_text(customer.email.as_deref()),
            opt_text(customer.name.as_deref()),
            opt_text(customer.phone.as_deref()),
            num(i64::from(customer.deleted)),
            source.into(),
            num(as_of_ms),
            num(now_ms),
        ],
    )
}
