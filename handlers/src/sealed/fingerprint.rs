//! A secret's fingerprint: the short name the admin API shows instead of a secret (a registry
//! source's secrets, an http destination's signing keys) and a source rotation's `remove` names
//! it by. It is keyed: the first 12 hex digits of HMAC-SHA256 under a key derived from
//! `SECRETS_KEY`, so neither a viewer nor a reader of D1 can test guesses offline (for `token`,
//! `basic` and `gitlab` the secret is the credential itself); without the key there is none to
//! show, and none is shown. A source keeps its fingerprints in its row (its views open no
//! secret), each marked keyed ([`to_stored`]: `k1:<print>`); a row written before keyed
//! fingerprints holds the secrets' plain SHA-256 prefixes unmarked. [`read_stored`] shows none
//! of those, and the cron sweeper re-keys such rows from their secrets ([`unkeyed_sources_sql`],
//! [`REKEY_SOURCE_SQL`]: a page a tick, each page after the last, written only while the row
//! still holds what was read, so an admin edit in the meantime wins). Native tests run the same SQL against the migrations.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

/// What the fingerprint key is derived for (the sealing key is used for nothing else by HMAC).
/// The text predates destinations' use of it: changing it would change every stored print.
const DERIVATION_LABEL: &[u8] = b"edgehooks registry secret fingerprint v1";

/// The mark of a keyed fingerprint in a stored list (never shown).
pub const STORED_PREFIX: &str = "k1:";

/// Most rows one sweeper tick re-keys.
pub const REKEY_PAGE: i64 = 25;

/// The fingerprint of `secret` (a source's secret as given, a destination's key bytes) under
/// `secrets_key` (`SECRETS_KEY`'s 32 bytes).
pub fn fingerprint(secrets_key: &[u8; 32], secret: &[u8]) -> String {
    let derived = mac(secrets_key, DERIVATION_LABEL);
    hex::encode(mac(&derived, secret).get(..6).unwrap_or_default())
}

/// The fingerprints of `secrets`, in order; none without a key.
pub fn fingerprints<S: AsRef<[u8]>>(secrets_key: Option<&[u8; 32]>, secrets: &[S]) -> Vec<String> {
    match secrets_key {
        Some(key) => secrets
            .iter()
            .map(|s| fingerprint(key, s.as_ref()))
            .collect(),
        None => Vec::new(),
    }
}

/// The stored form of a source's fingerprints: a JSON list, each marked keyed.
pub fn to_stored(prints: &[String]) -> String {
    let marked: Vec<String> = prints
        .iter()
        .map(|p| format!("{STORED_PREFIX}{p}"))
        .collect();
    json!(marked).to_string()
}

/// What a source's view shows of its stored fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// How many secrets.
    pub count: usize,
    /// Their keyed fingerprints; empty while the row holds the unkeyed form (until the sweeper
    /// re-keys it).
    pub prints: Vec<String>,
}

/// Read a stored list: every entry marked keyed shows its print; a list with an unmarked entry
/// (the unkeyed form) or none at all shows no print, and text that is not a list of strings
/// shows nothing. What the re-key pass selects ([`unkeyed_sources_sql`]) is exactly what shows
/// no print here.
pub fn read_stored(text: &str) -> Shown {
    let stored = crate::json_lists::strings(text).unwrap_or_default();
    let keyed: Option<Vec<String>> = stored
        .iter()
        .map(|s| s.strip_prefix(STORED_PREFIX).map(str::to_string))
        .collect();
    Shown {
        count: stored.len(),
        prints: keyed.unwrap_or_default(),
    }
}

/// The condition: a registry source row's `fingerprints` is not a non-empty list of keyed
/// prints ([`STORED_PREFIX`]).
const HOLDS_UNKEYED: &str = "CASE WHEN json_valid(fingerprints) AND json_type(fingerprints) = \
     'array' THEN json_array_length(fingerprints) = 0 OR EXISTS (SELECT 1 FROM \
     json_each(fingerprints) AS p WHERE p.type <> 'text' OR substr(p.value, 1, 3) <> 'k1:') \
     ELSE 1 END";

/// Up to ?1 registry sources whose fingerprints are not keyed, by name, from after ?2 (where
/// [`next_rekey_start`] says the previous page ended; `''` for the start): `name, secrets,
/// fingerprints`. A row the pass cannot re-key (its secrets cannot be opened, or it has none)
/// stays selected, so the pages walk on past it instead of reading it first every tick: it
/// never holds back the rows after it.
pub fn unkeyed_sources_sql() -> String {
    format!(
        "SELECT name, secrets, fingerprints FROM registry_sources WHERE name > ?2 \
         AND {HOLDS_UNKEYED} ORDER BY name LIMIT ?1"
    )
}

/// Where the re-key pass's next page starts after a page that read `names` with room for
/// `limit`: after its last name when it was full, else (the end was reached) from the start.
pub fn next_rekey_start(names: &[&str], limit: i64) -> String {
    let full = i64::try_from(names.len()).is_ok_and(|n| n >= limit);
    match names.last() {
        Some(last) if full => (*last).to_string(),
        _ => String::new(),
    }
}

/// Source ?1's fingerprints become ?2 only while its secrets are still ?3 and its
/// fingerprints ?4 (what was read). `updated_at` stays: the same secrets.
pub const REKEY_SOURCE_SQL: &str = "UPDATE registry_sources SET fingerprints = ?2 \
     WHERE name = ?1 AND secrets = ?3 AND fingerprints = ?4";

fn mac(key: &[u8], message: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes a key of any length.
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::lifecycle::sql_tests::database; // up: test: the migrations in SQLite
    use rusqlite::{params, Connection};
    use sha2::Digest;

    const KEY: [u8; 32] = [42; 32];

    /// The form rows written before keyed fingerprints hold: the secret's plain SHA-256 prefix.
    fn unkeyed(secret: &str) -> String {
        hex::encode(&Sha256::digest(secret.as_bytes())[..6])
    }

    #[test]
    fn a_fingerprint_is_keyed_short_and_stable() {
        let print = fingerprint(&KEY, b"token-weak");
        assert_eq!(print.len(), 12);
        assert!(print.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(print, fingerprint(&KEY, b"token-weak"));
        // Without the key, a guess cannot be checked: the unkeyed digest is not it, and another
        // key gives another print.
        assert_ne!(print, unkeyed("token-weak"));
        assert_ne!(print, fingerprint(&[7; 32], b"token-weak"));
        assert_ne!(print, fingerprint(&KEY, b"token-weal"));
        // HMAC-SHA256(HMAC-SHA256(key, label), secret), its first 6 bytes: the e2e tests
        // compute the same in Node.
        let derived = mac(&KEY, DERIVATION_LABEL);
        assert_eq!(print, hex::encode(&mac(&derived, b"token-weak")[..6]));
    }

    #[test]
    fn without_a_key_there_is_no_fingerprint() {
        let secrets = ["a", "b"];
        assert_eq!(
            fingerprints(Some(&KEY), &secrets),
            [fingerprint(&KEY, b"a"), fingerprint(&KEY, b"b")]
        );
        assert!(fingerprints(None, &secrets).is_empty());
    }

    #[test]
    fn stored_prints_show_only_in_the_keyed_form() {
        let prints = fingerprints(Some(&KEY), &["a", "b"]);
        let stored = to_stored(&prints);
        assert!(stored.contains("\"k1:"));
        assert_eq!(read_stored(&stored), Shown { count: 2, prints });
        // A row written before: its count, never its unkeyed prints, not even one among keyed.
        let legacy = json!([unkeyed("a"), unkeyed("b")]).to_string();
        let nothing = |count| Shown {
            count,
            prints: vec![],
        };
        assert_eq!(read_stored(&legacy), nothing(2));
        let mixed = json!([format!("k1:{}", fingerprint(&KEY, b"a")), unkeyed("b")]);
        assert_eq!(read_stored(&mixed.to_string()), nothing(2));
        for broken in ["", "not json", "{}", "[1]", "[]"] {
            assert_eq!(read_stored(broken), nothing(0), "{broken}");
        }
    }

    fn add(db: &Connection, name: &str, secrets: &str, prints: &str) {
        db.execute(
            "INSERT INTO registry_sources (name, scheme, spec, secrets, fingerprints, enabled, \
             created_at, updated_at) VALUES (?1, 'token', '{}', ?2, ?3, 1, 5, 5)",
            params![name, secrets, prints],
        )
        .expect("insert");
    }

    fn unkeyed_rows(db: &Connection, limit: i64) -> Vec<String> {
        unkeyed_page(db, limit, "")
    }

    fn unkeyed_page(db: &Connection, limit: i64, start: &str) -> Vec<String> {
        let mut statement = db.prepare(&unkeyed_sources_sql()).expect("prepares");
        let rows = statement
            .query_map(params![limit, start], |r| r.get::<_, String>(0))
            .expect("runs");
        rows.map(|r| r.expect("row")).collect()
    }

    /// Rows the pass can never re-key (say their secrets were sealed under a key since lost)
    /// stay selected: the pages walk past them to the rows after, then start again.
    #[test]
    fn rows_that_cannot_be_rekeyed_do_not_hold_back_the_rest() {
        let db = database();
        let old = json!([unkeyed("tok")]).to_string();
        for name in ["a-lost", "b-lost", "c", "d", "e"] {
            add(&db, name, "v1:sealed", &old);
        }
        let mut start = String::new();
        let mut pages = Vec::new();
        for _ in 0..4 {
            let page = unkeyed_page(&db, 2, &start);
            let names: Vec<&str> = page.iter().map(String::as_str).collect();
            start = next_rekey_start(&names, 2);
            pages.push(page);
        }
        assert_eq!(
            pages,
            [
                vec!["a-lost", "b-lost"],
                vec!["c", "d"],
                vec!["e"],
                vec!["a-lost", "b-lost"]
            ]
        );
    }

    #[test]
    fn the_next_page_starts_after_a_full_one_and_from_the_start_after_the_end() {
        assert_eq!(next_rekey_start(&["a", "b"], 2), "b");
        assert_eq!(next_rekey_start(&["a"], 2), "");
        assert_eq!(next_rekey_start(&[], 2), "");
        assert_eq!(next_rekey_start(&["a", "b"], 0), "b");
    }

    #[test]
    fn the_pass_selects_exactly_the_rows_that_show_no_print_by_name_and_bounded() {
        let db = database();
        let keyed = to_stored(&fingerprints(Some(&KEY), &["a"]));
        let cases = [
            ("a-keyed", keyed.clone()),
            ("b-unkeyed", json!([unkeyed("a")]).to_string()),
            (
                "c-mixed",
                json!([format!("k1:{}", fingerprint(&KEY, b"a")), unkeyed("b")]).to_string(),
            ),
            ("d-empty", "[]".to_string()),
            ("e-object", json!({"p": "k1:abc"}).to_string()),
            ("f-number", "[1]".to_string()),
            ("g-not-json", "nope".to_string()),
        ];
        for (name, prints) in &cases {
            add(&db, name, "v1:sealed", prints);
        }
        let selected = unkeyed_rows(&db, 10);
        for (name, prints) in &cases {
            let shows_prints = !read_stored(prints).prints.is_empty();
            assert_eq!(
                !selected.contains(&name.to_string()),
                shows_prints,
                "{name}"
            );
        }
        assert_eq!(selected.len(), cases.len() - 1);
        assert_eq!(unkeyed_rows(&db, 2), ["b-unkeyed", "c-mixed"]);
    }

    #[test]
    fn the_rekey_writes_only_over_the_row_it_read_and_keeps_updated_at() {
        let db = database();
        let old = json!([unkeyed("tok")]).to_string();
        add(&db, "src", "v1:read", &old);
        let keyed = to_stored(&fingerprints(Some(&KEY), &["tok"]));
        let rekey = |secrets: &str, prints: &str| {
            db.execute(REKEY_SOURCE_SQL, params!["src", keyed, secrets, prints])
                .expect("runs")
        };
        // An edit in between wrote other secrets, or other prints: the pass leaves it.
        assert_eq!(rekey("v1:other", &old), 0);
        assert_eq!(rekey("v1:read", "[\"k1:000000000000\"]"), 0);
        assert_eq!(rekey("v1:read", &old), 1);
        let (prints, updated): (String, i64) = db
            .query_row(
                "SELECT fingerprints, updated_at FROM registry_sources WHERE name = 'src'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("row");
        assert_eq!((prints, updated), (keyed, 5));
        assert!(
            unkeyed_rows(&db, 10).is_empty(),
            "a re-keyed row is not selected again"
        );
    }
}
