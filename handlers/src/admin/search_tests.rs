//! Pointer translation, value typing and page decisions, then the search SQL on SQLite with every
//! migration: paged with a small scan bound, compared with serde_json's own pointer resolution
//! over the same rows.

use rusqlite::{params_from_iter, types::Value as Sql, Connection};
use serde_json::{json, Value};

use super::*;
use crate::admin::EventQuery;

#[test]
fn pointers_unescape_and_quote_every_key() {
    assert_eq!(
        pointer_tokens("/a~1b/c~0d/~01").unwrap(),
        ["a/b", "c~d", "~1"]
    );
    assert_eq!(pointer_tokens("/").unwrap(), [""]);
    assert_eq!(
        pointer_paths("/data/object/customer").unwrap(),
        [r#"$."data"."object"."customer""#]
    );
    assert_eq!(pointer_paths("/a~1b/it's").unwrap(), [r#"$."a/b"."it's""#]);
    assert_eq!(pointer_paths("/").unwrap(), [r#"$."""#]);
    // A token of digits: an array element or a member, whichever the document holds.
    assert_eq!(
        pointer_paths("/items/0/id").unwrap(),
        [r#"$."items"[0]."id""#, r#"$."items"."0"."id""#]
    );
    assert_eq!(pointer_paths("/a/1/2").unwrap().len(), 4);
    // Not indexes: a leading zero, `-`, a sign.
    for token in ["01", "-", "+1", "1a"] {
        assert_eq!(
            pointer_paths(&format!("/{token}")).unwrap().len(),
            1,
            "{token}"
        );
    }
}

#[test]
fn bad_pointers_are_refused_with_a_stable_code() {
    let long = format!("/{}", "a".repeat(MAX_POINTER_BYTES));
    for bad in [
        "", "a/b", "/a~", "/a~2", "/a\"b", "/a\\b", "/a\0b", "/0/1/2/3", &long,
    ] {
        let error = pointer_paths(bad).unwrap_err();
        assert_eq!(error.code, "invalid_pointer", "{bad:?}");
    }
}

#[test]
fn equals_is_typed_as_json_when_it_parses_as_a_scalar() {
    let parse = |t: &str| Expected::parse(t).unwrap();
    assert_eq!(parse("cus_123"), Expected::Text("cus_123".into()));
    assert_eq!(parse(r#""42""#), Expected::Text("42".into()));
    assert_eq!(parse(""), Expected::Text("".into()));
    assert_eq!(parse("42"), Expected::Number("42".into()));
    assert_eq!(parse("-1.5"), Expected::Number("-1.5".into()));
    assert_eq!(parse("true"), Expected::True);
    assert_eq!(parse("false"), Expected::False);
    assert_eq!(parse("null"), Expected::Null);
    for refused in ["{}", "[1]", r#"{"a":1}"#] {
        assert_eq!(Expected::parse(refused).unwrap_err().code, "invalid_search");
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_query_pairs_pointers_with_values_and_refuses_an_empty_needle() {
    let query = EventQuery::from_pairs(&pairs(&[
        ("provider", "stripe"),
        ("pointer", "/a"),
        ("equals", " x "),
        ("pointer", "/b"),
        ("equals", "1"),
        ("contains", " cus"),
    ]))
    .unwrap();
    assert_eq!(query.provider.as_deref(), Some("stripe"));
    assert_eq!(query.search.pointers.len(), 2);
    assert_eq!(
        query.search.pointers[0].expected,
        Expected::Text(" x ".into())
    );
    assert_eq!(
        query.search.contains.as_deref(),
        Some(" cus"),
        "not trimmed"
    );
    let refused = |list: &[(&str, &str)]| EventQuery::from_pairs(&pairs(list)).unwrap_err();
    assert_eq!(refused(&[("contains", "")]).code, "invalid_search");
    assert_eq!(refused(&[("pointer", "/a")]).code, "invalid_search");
    assert_eq!(refused(&[("equals", "1")]).code, "invalid_search");
    assert_eq!(
        refused(&[("pointer", "a"), ("equals", "1")]).code,
        "invalid_pointer"
    );
    let four: Vec<(&str, &str)> = (0..4)
        .flat_map(|_| [("pointer", "/a"), ("equals", "1")])
        .collect();
    assert_eq!(refused(&four).code, "invalid_search");
    assert!(EventQuery::from_pairs(&[]).unwrap().search.is_empty());
}

fn at(ms: i64, id: &str) -> Cursor {
    Cursor {
        received_at: ms,
        id: id.into(),
    }
}

#[test]
fn a_page_continues_after_its_last_hit_or_after_its_scan_bound() {
    let hits = [at(9, "c"), at(8, "b"), at(7, "a")];
    // More hits than the limit: keep the limit, continue after the last kept one.
    let page = SearchPage::of(&hits, Some(at(1, "z")), 2);
    assert_eq!(
        page,
        SearchPage {
            keep: 2,
            next: Some(at(8, "b")),
            scan_stopped: false
        }
    );
    // Fewer, and the scan bound was reached: continue after the bound.
    let page = SearchPage::of(&hits, Some(at(1, "z")), 5);
    assert_eq!(
        page,
        SearchPage {
            keep: 3,
            next: Some(at(1, "z")),
            scan_stopped: true
        }
    );
    // Fewer, and the filters ran out first: the end.
    let page = SearchPage::of(&hits, None, 5);
    assert_eq!(
        page,
        SearchPage {
            keep: 3,
            next: None,
            scan_stopped: false
        }
    );
    let page = SearchPage::of(&[], Some(at(1, "z")), 5);
    assert_eq!((page.keep, page.scan_stopped), (0, true));
}

#[test]
fn the_largest_search_binds_within_d1s_hundred_parameters() {
    let mut list = vec![
        ("provider", "stripe"),
        ("source", "eu"),
        ("type", "x"),
        ("status", "accepted"),
        ("step_status", "dead"),
        ("q", "x"),
        ("from", "1"),
        ("to", "2"),
        ("contains", "x"),
    ];
    let cursor = at(5, "evt").encode();
    list.push(("cursor", &cursor));
    for _ in 0..MAX_POINTERS {
        list.extend([("pointer", "/a/0/b/1/c/2"), ("equals", "text")]);
    }
    let query = EventQuery::from_pairs(&pairs(&list)).unwrap();
    let (conditions, args) = query.where_clause();
    for (sql, args) in search_sql((&conditions, &args), &query.search, "e.id", 200, 5000) {
        assert_eq!(sql.matches('?').count(), args.len());
        assert!(args.len() <= 100, "{} parameters", args.len());
    }
}

/// Payloads that exercise types, escapes, arrays against numeric keys, and rows no pointer can
/// match (not JSON, redacted).
fn payloads() -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    let customers = ["cus_1", "cus_2", "CUS_1", "cus_1 ", ""];
    for i in 0..60_i64 {
        let customer = customers[(i % 5) as usize];
        let value = match i % 6 {
            0 => {
                json!({"data": {"object": {"customer": customer, "amount": i % 4, "paid": i % 3 == 0}}})
            }
            1 => {
                json!({"data": {"object": {"customer": customer, "amount": (i % 4) as f64 + 0.5}}, "items": [{"id": format!("it_{}", i % 3)}, {"id": "x"}]})
            }
            2 => {
                json!({"items": {"0": {"id": format!("it_{}", i % 3)}}, "a/b": {"c~d": i % 2 == 0}})
            }
            3 => {
                json!({"data": {"object": {"customer": null, "amount": "2"}}, "note": "100% \"quoted\" _x_"})
            }
            4 => json!({"data": {"object": {"customer": {"id": customer}}}, "amount": 2}),
            _ => json!([{"id": "it_1"}, customer]),
        };
        out.push(Some(value.to_string()));
    }
    out.push(Some("not json {\"customer\":\"cus_1\"".into()));
    out.push(None);
    out
}

fn database_with(payloads: &[Option<String>]) -> Connection {
    let db = crate::steps::lifecycle::sql_tests::database();
    for (i, payload) in payloads.iter().enumerate() {
        let provider = if i % 3 == 0 { "shopify" } else { "stripe" };
        db.execute(
            "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, \
             payload_bytes) VALUES (?1, ?2, ?1, 'x', ?3, 'accepted', ?4, 0)",
            rusqlite::params![
                format!("evt_{i:03}"),
                provider,
                1_000 + i as i64 / 3,
                payload
            ],
        )
        .unwrap();
    }
    db
}

fn run(db: &Connection, sql: &str, args: Vec<SqlArg>) -> Vec<(i64, String)> {
    let values = args.into_iter().map(|a| match a {
        SqlArg::Text(t) => Sql::Text(t),
        SqlArg::Int(n) => Sql::Integer(n),
    });
    let mut statement = db.prepare(sql).unwrap();
    let rows = statement
        .query_map(params_from_iter(values), |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Every hit of `list`, following the cursor page by page; and how many pages stopped on the
/// scan bound.
fn search_all(
    db: &Connection,
    list: &[(&str, &str)],
    limit: i64,
    scan: i64,
) -> (Vec<String>, usize) {
    let mut found = Vec::new();
    let mut stopped = 0;
    let mut cursor: Option<String> = None;
    for _ in 0..500 {
        let mut with_cursor = list.to_vec();
        if let Some(c) = &cursor {
            with_cursor.push(("cursor", c));
        }
        let query = EventQuery::from_pairs(&pairs(&with_cursor)).unwrap();
        let (conditions, args) = query.where_clause();
        let [(hits, hit_args), (bound, bound_args)] = search_sql(
            (&conditions, &args),
            &query.search,
            "e.received_at, e.id",
            limit,
            scan,
        );
        let hits: Vec<Cursor> = run(db, &hits, hit_args)
            .into_iter()
            .map(|(ms, id)| at(ms, &id))
            .collect();
        let boundary = run(db, &bound, bound_args)
            .into_iter()
            .next()
            .map(|(ms, id)| at(ms, &id));
        let page = SearchPage::of(&hits, boundary, limit as usize);
        found.extend(hits[..page.keep].iter().map(|c| c.id.clone()));
        stopped += usize::from(page.scan_stopped);
        match page.next {
            Some(next) => cursor = Some(next.encode()),
            None => return (found, stopped),
        }
    }
    panic!("the search never ended");
}

/// serde_json's reading of the same condition.
fn oracle_matches(payload: Option<&str>, pointer: &str, equals: &str) -> bool {
    let Some(value) = payload.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        return false;
    };
    let Some(found) = value.pointer(pointer) else {
        return false;
    };
    match (Expected::parse(equals).unwrap(), found) {
        (Expected::Text(s), Value::String(f)) => s == *f,
        (Expected::Number(n), Value::Number(f)) => n.parse::<f64>().ok() == f.as_f64(),
        (Expected::True, Value::Bool(true)) | (Expected::False, Value::Bool(false)) => true,
        (Expected::Null, Value::Null) => true,
        _ => false,
    }
}

#[test]
fn paged_searches_on_sqlite_find_exactly_what_serde_json_finds() {
    let payloads = payloads();
    let db = database_with(&payloads);
    let conditions = [
        ("/data/object/customer", "cus_1"),
        ("/data/object/customer", "\"cus_1 \""),
        ("/data/object/customer", "\"\""),
        ("/data/object/customer", "null"),
        ("/data/object/customer/id", "cus_2"),
        ("/data/object/amount", "2"),
        ("/data/object/amount", "\"2\""),
        ("/data/object/amount", "1.5"),
        ("/data/object/amount", "0"),
        ("/data/object/paid", "true"),
        ("/data/object/paid", "false"),
        ("/items/0/id", "it_1"),
        ("/items/1/id", "x"),
        ("/0/id", "it_1"),
        ("/1", "cus_2"),
        ("/a~1b/c~0d", "true"),
        ("/amount", "2"),
        ("/missing", "null"),
    ];
    let mut total_stopped = 0;
    for (pointer, equals) in conditions {
        for (limit, scan) in [(3, 7), (50, 5000), (1, 1)] {
            for provider in [None, Some("stripe")] {
                let mut list = vec![("pointer", pointer), ("equals", equals)];
                list.extend(provider.map(|p| ("provider", p)));
                let (found, stopped) = search_all(&db, &list, limit, scan);
                total_stopped += stopped;
                let expected: Vec<String> = (0..payloads.len())
                    .rev()
                    .filter(|&i| provider.is_none_or(|p| (i % 3 == 0) == (p == "shopify")))
                    .filter(|&i| oracle_matches(payloads[i].as_deref(), pointer, equals))
                    .map(|i| format!("evt_{i:03}"))
                    .collect();
                assert_eq!(
                    found, expected,
                    "{pointer} = {equals} ({limit}, {scan}, {provider:?})"
                );
            }
        }
    }
    assert!(
        total_stopped > 100,
        "small scans stopped early: {total_stopped}"
    );
}

#[test]
fn substrings_are_literal_and_case_sensitive_and_combine_with_pointers() {
    let payloads = payloads();
    let db = database_with(&payloads);
    for needle in ["100%", "_x_", "\\\"quoted", "cus_1", "CUS", "%", "cus_1\""] {
        let (found, _) = search_all(&db, &[("contains", needle)], 4, 9);
        let expected: Vec<String> = (0..payloads.len())
            .rev()
            .filter(|&i| payloads[i].as_deref().is_some_and(|p| p.contains(needle)))
            .map(|i| format!("evt_{i:03}"))
            .collect();
        assert!(!expected.is_empty(), "{needle}");
        assert_eq!(found, expected, "{needle}");
    }
    let both = [
        ("contains", "it_1"),
        ("pointer", "/data/object/customer"),
        ("equals", "cus_2"),
    ];
    let (found, _) = search_all(&db, &both, 2, 5);
    let expected: Vec<String> = (0..payloads.len())
        .rev()
        .filter(|&i| payloads[i].as_deref().is_some_and(|p| p.contains("it_1")))
        .filter(|&i| oracle_matches(payloads[i].as_deref(), "/data/object/customer", "cus_2"))
        .map(|i| format!("evt_{i:03}"))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(found, expected);
}

#[test]
fn the_hits_are_read_in_scan_order_without_sorting_the_whole_scan() {
    let db = database_with(&payloads());
    let query =
        EventQuery::from_pairs(&pairs(&[("contains", "cus"), ("provider", "stripe")])).unwrap();
    let (conditions, args) = query.where_clause();
    let [(hits, hit_args), _] = search_sql((&conditions, &args), &query.search, "e.id", 5, 100);
    let values = hit_args.into_iter().map(|a| match a {
        SqlArg::Text(t) => Sql::Text(t),
        SqlArg::Int(n) => Sql::Integer(n),
    });
    let mut statement = db.prepare(&format!("EXPLAIN QUERY PLAN {hits}")).unwrap();
    let plan: Vec<(i64, String)> = statement
        .query_map(params_from_iter(values), |r| Ok((r.get(1)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        plan.iter().any(|(_, line)| line.starts_with("CO-ROUTINE")),
        "{plan:?}"
    );
    // A sort inside the scan (ids, by the filters' index) is allowed; none after it.
    assert!(
        !plan
            .iter()
            .any(|(parent, line)| *parent == 0 && line.starts_with("USE TEMP B-TREE")),
        "no sort after the scan: {plan:?}"
    );
}

#[test]
fn a_key_holding_nul_is_refused_before_sqlite_sees_the_path() {
    // SQLite reads a JSON path as C text: a NUL ends it, and the statement fails.
    let db = database_with(&[]);
    let payload = json!({"a\u{0}b": 1}).to_string();
    let failed = db.query_row(
        "SELECT json_extract(?1, ?2)",
        rusqlite::params![payload, "$.\"a\u{0}b\""],
        |r| r.get::<_, Option<i64>>(0),
    );
    assert!(failed.is_err(), "{failed:?}");
    let refused = EventQuery::from_pairs(&pairs(&[("pointer", "/a\u{0}b"), ("equals", "1")]));
    assert_eq!(refused.unwrap_err().code, "invalid_pointer");
}
