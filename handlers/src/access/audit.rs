//! The audit trail: one row per mutating admin API call on a route of the table (refused ones,
//! `403`, included; a call with no identity, `401`, is counted as a failed sign-in instead, and
//! a path the table lacks changes nothing and is not recorded). A row says who, how they signed
//! in, their role, the action (method and route pattern), the target (the path's names and ids),
//! the SHA-256 of the request body (never the body: it may carry a destination's secret), the
//! answer's status and the time. [`AuditQuery`] lists rows newest first, keyset-paged by id and
//! filtered by who, action and time; [`EXPIRE_SQL`] is retention's (rows past their
//! `expires_at`, set from `AUDIT_RETENTION_DAYS` when written).

use sha2::{Digest, Sha256};

use super::roles::Identity;
use super::routes::ApiRoute;
use crate::admin::{invalid, parse_time, FilterError, SqlArg, DEFAULT_PAGE, MAX_PAGE};

/// One audit row, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: i64,
    pub who: String,
    pub via: &'static str,
    pub role: &'static str,
    pub action: String,
    pub target: Option<String>,
    pub body_sha256: Option<String>,
    pub status: u16,
    pub expires_at: i64,
}

impl AuditEntry {
    /// The row for `identity`'s call of `route` at `path` with `body`, answered `status`.
    pub fn new(
        identity: &Identity,
        route: &ApiRoute,
        path: &[&str],
        body: Option<&[u8]>,
        status: u16,
        at: i64,
        keep_days: u64,
    ) -> AuditEntry {
        AuditEntry {
            at,
            who: identity.who.clone(),
            via: identity.via.name(),
            role: identity.role.name(),
            action: route.action(),
            target: route.target(path),
            body_sha256: body.and_then(body_digest),
            status,
            expires_at: at.saturating_add((keep_days as i64).saturating_mul(86_400_000)),
        }
    }
}

/// SHA-256 of a request body, hex; `None` for an empty body.
pub fn body_digest(body: &[u8]) -> Option<String> {
    (!body.is_empty()).then(|| hex::encode(Sha256::digest(body)))
}

/// Writes one row: `?1`..`?9` are `at, who, via, role, action, target, body_sha256, status,
/// expires_at`.
pub const INSERT_SQL: &str = "INSERT INTO admin_audit \
     (at, who, via, role, action, target, body_sha256, status, expires_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// The columns a listing reads.
pub const COLUMNS: &str = "id, at, who, via, role, action, target, body_sha256, status";

/// Most rows retention deletes per statement.
pub const EXPIRE_BATCH: i64 = 1_000;

/// Retention: rows whose `expires_at` is before `?1`, at most [`EXPIRE_BATCH`] a statement.
pub const EXPIRE_SQL: &str = "DELETE FROM admin_audit WHERE id IN \
     (SELECT id FROM admin_audit WHERE expires_at < ?1 ORDER BY id LIMIT 1000)";

/// `GET audit`'s filters: `who`, `action` (exact), `since`/`until` (Unix ms or RFC 3339,
/// `since` inclusive, `until` exclusive), `limit` (1 to 200, default 50) and `cursor` (the
/// `next_cursor` of the page before: rows with a smaller id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub who: Option<String>,
    pub action: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl AuditQuery {
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<AuditQuery, FilterError> {
        let mut query = AuditQuery {
            limit: DEFAULT_PAGE,
            ..AuditQuery::default()
        };
        for (key, value) in pairs {
            let time = || parse_time(value).ok_or_else(|| invalid(format!("{key} must be a time")));
            match key.as_str() {
                "who" => query.who = Some(value.clone()),
                "action" => query.action = Some(value.clone()),
                "since" => query.since = Some(time()?),
                "until" => query.until = Some(time()?),
                "cursor" => {
                    let id = value.parse::<i64>().ok().filter(|id| *id > 0);
                    query.before_id = Some(id.ok_or_else(|| invalid("cursor is not valid"))?);
                }
                "limit" => {
                    let limit = value
                        .parse::<i64>()
                        .ok()
                        .filter(|n| (1..=MAX_PAGE).contains(n));
                    query.limit =
                        limit.ok_or_else(|| invalid(format!("limit must be 1 to {MAX_PAGE}")))?;
                }
                _ => return Err(invalid(format!("unknown parameter {key}"))),
            }
        }
        Ok(query)
    }

    /// The page's SQL and arguments: one row more than the limit, to know whether there is a
    /// next page.
    pub fn sql(&self) -> (String, Vec<SqlArg>) {
        let mut clauses: Vec<String> = Vec::new();
        let mut args = Vec::new();
        let filters = [
            ("who = ", self.who.clone().map(SqlArg::Text)),
            ("action = ", self.action.clone().map(SqlArg::Text)),
            ("at >= ", self.since.map(SqlArg::Int)),
            ("at < ", self.until.map(SqlArg::Int)),
            ("id < ", self.before_id.map(SqlArg::Int)),
        ];
        for (test, arg) in filters {
            if let Some(arg) = arg {
                args.push(arg);
                clauses.push(format!("{test}?{}", args.len()));
            }
        }
        let filter = match clauses.is_empty() {
            true => String::new(),
            false => format!("WHERE {} ", clauses.join(" AND ")),
        };
        args.push(SqlArg::Int(self.limit + 1));
        let sql = format!(
            "SELECT {COLUMNS} FROM admin_audit {filter}ORDER BY id DESC LIMIT ?{}",
            args.len()
        );
        (sql, args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::routes::find;
    use crate::access::Role;
    use crate::steps::lifecycle::sql_tests::database;
    use rusqlite::{params, params_from_iter, Connection};

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write(db: &Connection, e: &AuditEntry) {
        db.execute(
            INSERT_SQL,
            params![
                e.at,
                e.who,
                e.via,
                e.role,
                e.action,
                e.target,
                e.body_sha256,
                e.status,
                e.expires_at
            ],
        )
        .expect("insert");
    }

    fn page(db: &Connection, query: &AuditQuery) -> Vec<(i64, String, String)> {
        let (sql, args) = query.sql();
        let values: Vec<rusqlite::types::Value> = args
            .into_iter()
            .map(|a| match a {
                SqlArg::Text(t) => t.into(),
                SqlArg::Int(n) => n.into(),
            })
            .collect();
        let mut statement = db.prepare(&sql).expect(&sql);
        let rows = statement
            .query_map(params_from_iter(values), |r| {
                Ok((r.get(0)?, r.get(2)?, r.get(5)?))
            })
            .expect("runs");
        rows.map(|r| r.expect("row")).collect()
    }

    fn entry(who: &str, method: &str, path: &[&str], at: i64) -> AuditEntry {
        let identity = Identity {
            who: who.into(),
            via: crate::access::Via::ApiToken,
            role: Role::Admin,
        };
        let route = find(method, path).expect("a route");
        AuditEntry::new(
            &identity,
            route,
            path,
            Some(b"{\"secret\":\"x\"}"),
            200,
            at,
            1,
        )
    }

    #[test]
    fn an_entry_holds_a_digest_not_the_body() {
        let e = entry("token:ci", "PATCH", &["destinations", "crm"], 5);
        assert_eq!(e.action, "PATCH destinations/{name}");
        assert_eq!(e.target.as_deref(), Some("crm"));
        assert_eq!(e.body_sha256.as_deref().map(str::len), Some(64));
        assert!(!format!("{e:?}").contains("secret"));
        assert_eq!(e.expires_at, 5 + 86_400_000);
        assert_eq!(body_digest(b""), None);
    }

    #[test]
    fn listing_filters_and_pages_newest_first() {
        let db = database();
        write(&db, &entry("token:a", "POST", &["redrive"], 10));
        write(&db, &entry("token:b", "POST", &["redrive"], 20));
        write(&db, &entry("token:a", "DELETE", &["connections", "c"], 30));
        write(&db, &entry("token:a", "POST", &["redrive"], 40));
        let all = page(&db, &AuditQuery::from_pairs(&[]).unwrap());
        assert_eq!(
            all.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![4, 3, 2, 1]
        );
        let q = AuditQuery::from_pairs(&pairs(&[("who", "token:a"), ("action", "POST redrive")]))
            .unwrap();
        assert_eq!(
            page(&db, &q).iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![4, 1]
        );
        let q = AuditQuery::from_pairs(&pairs(&[("since", "20"), ("until", "40")])).unwrap();
        assert_eq!(
            page(&db, &q).iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![3, 2]
        );
        let q = AuditQuery::from_pairs(&pairs(&[("limit", "1"), ("cursor", "3")])).unwrap();
        assert_eq!(
            page(&db, &q).iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![2, 1],
            "limit + 1"
        );
    }

    #[test]
    fn bad_filters_are_refused() {
        for bad in [
            ("limit", "0"),
            ("limit", "201"),
            ("cursor", "x"),
            ("since", "yesterday"),
            ("nope", "1"),
        ] {
            let error = AuditQuery::from_pairs(&pairs(&[bad])).unwrap_err();
            assert_eq!(error.code, "invalid_filter", "{bad:?}");
        }
    }

    #[test]
    fn expired_rows_go() {
        let db = database();
        write(&db, &entry("a", "POST", &["redrive"], 0));
        write(&db, &entry("b", "POST", &["redrive"], 2 * 86_400_000));
        let gone = db
            .execute(EXPIRE_SQL, params![86_400_000 + 1])
            .expect("expire");
        assert_eq!(gone, 1);
        assert_eq!(page(&db, &AuditQuery::from_pairs(&[]).unwrap())[0].1, "b");
    }
}
