//! Sealing the secrets D1 still holds as plaintext: an `http` destination written before
//! `SECRETS_KEY` was set (or while it was unset) keeps its signing secrets as given, and a
//! registry source row written by hand (or by an older build) may hold its secrets list
//! unsealed. Once the key is set, the cron sweeper seals them ([`RESEAL_PAGE`] rows of each
//! table a tick, by name): it reads the rows holding a plaintext secret
//! ([`unsealed_destinations_sql`], [`UNSEALED_SOURCES_SQL`]), seals them, opens the result
//! again and writes it only when it opens to exactly what was read ([`faithful`] for a
//! destination's config; the same text for a source's list), and only if the row still holds
//! what was read ([`RESEAL_DESTINATION_SQL`], [`RESEAL_SOURCE_SQL`]: compare-and-set, so an
//! admin edit in the meantime wins). A sealed row is never selected again, so a tick is
//! idempotent. The admin health counts what is left ([`count_plaintext_sql`]). Native tests
//! run the same text against the migrations.

use serde_json::Value;

use super::{parse, Stored};

/// Most rows of each table one sweeper tick seals.
pub const RESEAL_PAGE: i64 = 25;

/// The condition: destination row `config` holds a secret without the sealed prefix (`v1:`,
/// [`super::PREFIX`]). A config that is not JSON is never matched (it is reported where it is read).
const DESTINATION_HOLDS_PLAINTEXT: &str =
    "CASE WHEN json_valid(config) THEN EXISTS (SELECT 1 FROM \
     json_each(config, '$.secrets') AS s WHERE s.type = 'text' AND substr(s.value, 1, 3) <> 'v1:') \
     ELSE 0 END";

/// The condition: a registry source row's `secrets` is not sealed (it is one sealed value, the
/// JSON list inside).
const SOURCE_HOLDS_PLAINTEXT: &str = "substr(secrets, 1, 3) <> 'v1:'";

/// Up to ?1 destinations holding a plaintext secret, by name: `name, config, paused,
/// created_at, updated_at`.
pub fn unsealed_destinations_sql() -> String {
    format!(
        "SELECT name, config, paused, created_at, updated_at FROM destinations \
         WHERE {DESTINATION_HOLDS_PLAINTEXT} ORDER BY name LIMIT ?1"
    )
}

/// Up to ?1 registry sources whose secrets are plaintext, by name: `name, secrets`.
pub const UNSEALED_SOURCES_SQL: &str = "SELECT name, secrets FROM registry_sources \
     WHERE substr(secrets, 1, 3) <> 'v1:' ORDER BY name LIMIT ?1";

/// How many rows hold a plaintext secret: `destinations`, `sources`.
pub fn count_plaintext_sql() -> String {
    format!(
        "SELECT (SELECT COUNT(*) FROM destinations WHERE {DESTINATION_HOLDS_PLAINTEXT}) \
         AS destinations, (SELECT COUNT(*) FROM registry_sources WHERE \
         {SOURCE_HOLDS_PLAINTEXT}) AS sources"
    )
}

/// Destination ?1's config becomes ?2 only while it is still ?3 (what was read and sealed).
/// `updated_at` stays: the destination's settings did not change.
pub const RESEAL_DESTINATION_SQL: &str =
    "UPDATE destinations SET config = ?2 WHERE name = ?1 AND config = ?3";

/// Source ?1's secrets become ?2 only while they are still ?3 (fingerprints and `updated_at`
/// stay: the same secrets).
pub const RESEAL_SOURCE_SQL: &str =
    "UPDATE registry_sources SET secrets = ?2 WHERE name = ?1 AND secrets = ?3";

/// The plaintext secrets in a destination's config (what is left to seal).
pub fn plaintext_secrets(config: &Value) -> usize {
    config
        .get("secrets")
        .and_then(Value::as_array)
        .map_or(0, |secrets| {
            secrets
                .iter()
                .filter_map(Value::as_str)
                .filter(|text| matches!(parse(text), Ok(Stored::Plain(_))))
                .count()
        })
}

/// Whether a sealed config may replace the one read: it holds no plaintext secret and it
/// opens to exactly what was read (every secret, its order, every other field).
pub fn faithful(read: &Value, sealed: &Value, opened: &Value) -> bool {
    plaintext_secrets(sealed) == 0 && opened == read
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::lifecycle::sql_tests::database; // up: test: the migrations in SQLite
    use rusqlite::{params, Connection};
    use serde_json::json;

    const SEALED: &str = "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn add(db: &Connection, name: &str, config: &str) {
        db.execute(
            "INSERT INTO destinations (name, type, url, config, timeout_ms, paused, created_at, \
             updated_at) VALUES (?1, 'http', 'https://x.test', ?2, 10000, 0, 5, 5)",
            params![name, config],
        )
        .expect("insert");
    }

    fn unsealed(db: &Connection, limit: i64) -> Vec<String> {
        let mut statement = db.prepare(&unsealed_destinations_sql()).expect("prepares");
        let rows = statement
            .query_map(params![limit], |r| r.get::<_, String>(0))
            .expect("runs");
        rows.map(|r| r.expect("row")).collect()
    }

    fn count(db: &Connection) -> i64 {
        counts(db).0
    }

    /// (destinations, sources) holding plaintext.
    fn counts(db: &Connection) -> (i64, i64) {
        db.query_row(&count_plaintext_sql(), [], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("counts")
    }

    #[test]
    fn only_rows_holding_a_plaintext_secret_are_selected_by_name_and_bounded() {
        let db = database();
        add(&db, "c-plain", r#"{"secrets":["whsec_abc"]}"#);
        add(
            &db,
            "a-mixed",
            &json!({ "secrets": [SEALED, "whsec_old"] }).to_string(),
        );
        add(&db, "b-sealed", &json!({ "secrets": [SEALED] }).to_string());
        add(&db, "d-none", r#"{"url":"https://x.test"}"#);
        add(&db, "e-broken", "not json");
        assert_eq!(unsealed(&db, 10), ["a-mixed", "c-plain"]);
        assert_eq!(unsealed(&db, 1), ["a-mixed"]);
        assert_eq!(count(&db), 2);
    }

    #[test]
    fn the_reseal_writes_only_over_the_config_it_read_and_keeps_updated_at() {
        let db = database();
        let read = r#"{"secrets":["whsec_abc"]}"#;
        add(&db, "svc", read);
        let sealed = json!({ "secrets": [SEALED] }).to_string();
        // An edit landed in between: the reseal does nothing.
        let changed = db
            .execute(
                RESEAL_DESTINATION_SQL,
                params!["svc", sealed, "{\"other\":1}"],
            )
            .expect("runs");
        assert_eq!(changed, 0);
        assert_eq!(
            db.execute(RESEAL_DESTINATION_SQL, params!["svc", sealed, read])
                .expect("runs"),
            1
        );
        let (config, updated): (String, i64) = db
            .query_row(
                "SELECT config, updated_at FROM destinations WHERE name = 'svc'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("row");
        assert_eq!((config, updated), (sealed, 5));
        assert!(
            unsealed(&db, 10).is_empty(),
            "a sealed row is not selected again"
        );
        assert_eq!(count(&db), 0);
    }

    #[test]
    fn a_sealed_config_replaces_the_read_one_only_when_it_opens_to_it() {
        let read = json!({ "url": "https://x.test", "secrets": ["whsec_a", "whsec_b"] });
        let sealed = json!({ "url": "https://x.test", "secrets": [SEALED, SEALED] });
        assert_eq!(plaintext_secrets(&read), 2);
        assert_eq!(plaintext_secrets(&sealed), 0);
        assert!(faithful(&read, &sealed, &read));
        let swapped = json!({ "url": "https://x.test", "secrets": ["whsec_b", "whsec_a"] });
        assert!(!faithful(&read, &sealed, &swapped), "order kept");
        let lost = json!({ "url": "https://x.test", "secrets": ["whsec_a"] });
        assert!(!faithful(&read, &sealed, &lost), "no secret lost");
        let half = json!({ "url": "https://x.test", "secrets": [SEALED, "whsec_b"] });
        assert!(!faithful(&read, &half, &read), "every secret sealed");
    }

    fn add_source(db: &Connection, name: &str, secrets: &str) {
        db.execute(
            "INSERT INTO registry_sources (name, scheme, spec, secrets, fingerprints, enabled, \
             created_at, updated_at) VALUES (?1, 'token', '{}', ?2, '[]', 1, 5, 5)",
            params![name, secrets],
        )
        .expect("insert");
    }

    fn unsealed_sources(db: &Connection) -> Vec<String> {
        let mut statement = db.prepare(UNSEALED_SOURCES_SQL).expect("prepares");
        let rows = statement
            .query_map(params![10], |r| r.get::<_, String>(0))
            .expect("runs");
        rows.map(|r| r.expect("row")).collect()
    }

    #[test]
    fn a_source_with_plaintext_secrets_is_selected_counted_and_sealed_once() {
        let db = database();
        add_source(&db, "b-plain", r#"["tok-1","tok-2"]"#);
        add_source(&db, "a-sealed", SEALED);
        add(&db, "dest", r#"{"secrets":["whsec_abc"]}"#);
        assert_eq!(unsealed_sources(&db), ["b-plain"]);
        assert_eq!(counts(&db), (1, 1));
        let stale = db
            .execute(RESEAL_SOURCE_SQL, params!["b-plain", SEALED, "[\"other\"]"])
            .expect("runs");
        assert_eq!(
            stale, 0,
            "a row changed since it was read is left to the edit"
        );
        let sealed = db
            .execute(
                RESEAL_SOURCE_SQL,
                params!["b-plain", SEALED, r#"["tok-1","tok-2"]"#],
            )
            .expect("runs");
        assert_eq!(sealed, 1);
        assert!(unsealed_sources(&db).is_empty());
        assert_eq!(counts(&db), (1, 0));
        assert!(SEALED.starts_with(crate::sealed::PREFIX));
    }
}
