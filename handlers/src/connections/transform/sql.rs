//! The SQL that brings a step of an `http` destination the connections its transform is chosen
//! from ([`super::resolve`]), in the same read as the destination and its line: the
//! destination's connections as one JSON array (through the `connections_target` index; `[]`
//! when none targets it any more). Each element is the connection's admin JSON plus
//! `created_at`, so the stored order is restored here. A stored connection that no longer
//! validates is set aside, not an error for the whole list ([`DestinationConnections`]).

use serde_json::Value;

use super::DestinationConnections;
use crate::connections::Connection;

/// The SQL expression of destination `name_sql`'s connections (see the module docs).
pub fn destination_connections(name_sql: &str) -> String {
    format!(
        "(SELECT json_group_array(json_object(\
         'name', name, 'source', CASE WHEN source IS NULL THEN provider \
         ELSE provider || ':' || source END, 'account', account, 'types', json(types), \
         'conditions', json(conditions), 'destination', target, \
         'enabled', json(CASE enabled WHEN 0 THEN 'false' ELSE 'true' END), \
         'transform', json(transform), 'created_at', created_at)) \
         FROM connections WHERE target = {name_sql})"
    )
}

/// The connections of [`destination_connections`]'s answer in stored order (`created_at`,
/// `name`); `None` when it was `NULL`. A stored connection that no longer validates is set
/// aside in `unreadable` (the shell logs it); `Err` only when the answer is not a JSON array.
pub fn read_destination_connections(
    text: Option<&str>,
) -> Result<Option<DestinationConnections>, String> {
    let Some(text) = text else { return Ok(None) };
    let list: Vec<Value> = serde_json::from_str(text).map_err(|_| "connections".to_string())?;
    let mut read = DestinationConnections::default();
    let mut readable = Vec::new();
    for value in &list {
        let created_at = value.get("created_at").and_then(Value::as_i64).unwrap_or(0);
        match Connection::from_json(value) {
            Ok(connection) => readable.push((created_at, connection)),
            Err(e) => {
                let name = value.get("name").and_then(Value::as_str).unwrap_or("?");
                read.unreadable.push(format!("{name} ({})", e.field));
            }
        }
    }
    readable.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.name.cmp(&y.name)));
    read.readable = readable.into_iter().map(|(_, c)| c).collect();
    Ok(Some(read))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::lifecycle::sql_tests::database;
    use rusqlite::{params, Connection as Db};

    fn connection(db: &Db, name: &str, created_at: i64, target: &str, transform: Option<&str>) {
        db.execute(
            "INSERT INTO connections (name, provider, source, account, types, conditions, target, \
             enabled, created_at, updated_at, transform) \
             VALUES (?1, 'stripe', 'eu', 'acct_1', '[\"invoice.*\"]', \
             '[{\"path\":\"/livemode\",\"equals\":true}]', ?3, 0, ?2, ?2, ?4)",
            params![name, created_at, target, transform],
        )
        .unwrap();
    }

    fn read_all(db: &Db, destination: &str) -> Option<DestinationConnections> {
        let text: Option<String> = db
            .query_row(
                &format!("SELECT {} AS c", destination_connections("?1")),
                params![destination],
                |r| r.get("c"),
            )
            .unwrap();
        read_destination_connections(text.as_deref()).unwrap()
    }

    fn read(db: &Db, destination: &str) -> Option<Vec<Connection>> {
        let read = read_all(db, destination)?;
        assert_eq!(read.unreadable, Vec::<String>::new());
        Some(read.readable)
    }

    #[test]
    fn a_destination_no_connection_targets_reads_an_empty_list() {
        let db = database();
        connection(&db, "plain", 1, "svc", None);
        assert_eq!(read(&db, "svc").map(|c| c.len()), Some(1));
        assert_eq!(read(&db, "other"), Some(Vec::new()));
    }

    #[test]
    fn connections_read_back_whole_and_in_stored_order() {
        let db = database();
        let transform = r#"{"ops":[{"op":"remove","path":"/a"}],"headers":{"x-a":"{{event.id}}"}}"#;
        connection(&db, "later", 5, "svc", Some(transform));
        connection(&db, "b-first", 1, "svc", None);
        connection(&db, "a-first", 1, "svc", None);
        connection(&db, "elsewhere", 0, "other", Some(transform));
        let read = read(&db, "svc").unwrap();
        let names: Vec<&str> = read.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a-first", "b-first", "later"]);
        let later = read.last().unwrap();
        assert_eq!(
            later.to_json()["transform"],
            serde_json::from_str::<Value>(transform).unwrap()
        );
        assert_eq!(later.source.label(), "stripe:eu");
        assert_eq!(later.source.account.as_deref(), Some("acct_1"));
        assert_eq!(later.filter.conditions.len(), 1);
        assert!(!later.enabled);
    }

    #[test]
    fn a_stored_connection_that_no_longer_validates_is_set_aside_not_fatal() {
        let db = database();
        connection(&db, "valid", 2, "svc", None);
        connection(&db, "bad-transform", 1, "svc", Some(r#"{"ops":[1]}"#));
        db.execute(
            "INSERT INTO connections (name, provider, types, conditions, target, enabled, \
             created_at, updated_at) VALUES (?1, 'stripe', '[]', '[]', 'svc', 1, 0, 0)",
            params!["stripe-to-".to_string() + &"d".repeat(60)],
        )
        .unwrap();
        let read = read_all(&db, "svc").unwrap();
        let names: Vec<&str> = read.readable.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["valid"]);
        let mut unreadable = read.unreadable.clone();
        unreadable.sort();
        assert_eq!(
            unreadable,
            [
                "bad-transform (transform.ops[0])".to_string(),
                format!("stripe-to-{} (name)", "d".repeat(60)),
            ]
        );
        assert!(read_destination_connections(Some("not json")).is_err());
    }
}
