//! Reading D1 rows without serde. A row comes back as a JavaScript object; [`Row`] reads one
//! column at a time through a handful of non-generic accessors (`text`, `opt_text`, `int`,
//! `opt_int`, `flag`), and each row type implements [`FromRow`] by hand in a few lines, so a new
//! row type costs a few calls instead of a serde deserializer instantiated for it (the wasm's
//! per-type cost, see BENCHMARKS.md "Lever 1"). [`query`] runs a statement for its rows, [`run`]
//! for what it changed, and [`batch`] runs a transaction, each keeping D1's answers as they came
//! ([`Rows`], [`Answer`]: no serde for the answer's `meta` either). The accessors never fail on
//! their own (so a row type's `from_row` has no error branch per column): a column that is
//! missing (the query does not select it), holds another type, or is SQL `NULL` where the
//! accessor is not an `opt_` one reads as a default and marks the row bad, and [`Rows`] then
//! returns an error naming the first bad column instead of the value, so a value read from a bad
//! row never escapes; nothing here panics. Integers follow `edgehooks_handlers::sql_number`
//! (exact, in the safe range, else bad).

use std::cell::Cell;

use edgehooks_handlers::sql_number;
use js_sys::{Array, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::types::{D1Database as D1DatabaseSys, D1Result as D1ResultSys};
use worker::{D1Database, D1PreparedStatement, Error, Result};

const TEXT: &str = "text";
const INTEGER: &str = "an integer";

/// The first column of a row that could not be read as its row type needed.
#[derive(Debug, Clone, Copy)]
struct BadColumn {
    column: &'static str,
    expected: &'static str,
}

/// A row type read column by column from a [`Row`]; whether every column was good is the
/// row's to tell (see the module doc), not `from_row`'s.
pub trait FromRow {
    fn from_row(row: &Row) -> Self;
}

/// One result row: the object D1 returned, keyed by column name (or `AS` alias), and the first
/// column read from it that was bad.
pub struct Row {
    object: JsValue,
    bad: Cell<Option<BadColumn>>,
}

impl Row {
    fn new(object: JsValue) -> Row {
        Row {
            object,
            bad: Cell::new(None),
        }
    }

    /// Mark the row bad (the first bad column is the one reported).
    fn bad(&self, column: &'static str, expected: &'static str) {
        if self.bad.get().is_none() {
            self.bad.set(Some(BadColumn { column, expected }));
        }
    }

    /// Everything read from the row so far was good; else the first bad column as an error.
    fn check(&self) -> Result<()> {
        match self.bad.get() {
            None => Ok(()),
            Some(BadColumn { column, expected }) => Err(Error::RustError(format!(
                "D1 row: column `{column}` is missing or not {expected}"
            ))),
        }
    }

    /// The column's value, `None` for SQL `NULL`. D1 gives every selected column (`null` for
    /// `NULL`), so a column the row does not have marks it bad: the query does not select it.
    fn value(&self, column: &'static str, expected: &'static str) -> Option<JsValue> {
        let value = Reflect::get(&self.object, &JsValue::from_str(column)).unwrap_or_default();
        if value.is_undefined() {
            self.bad(column, expected);
            return None;
        }
        (!value.is_null()).then_some(value)
    }

    /// A TEXT column that must not be `NULL` (else bad, read as "").
    pub fn text(&self, column: &'static str) -> String {
        self.opt_text(column).unwrap_or_else(|| {
            self.bad(column, TEXT);
            String::new()
        })
    }

    /// A TEXT column; `NULL` is `None`.
    pub fn opt_text(&self, column: &'static str) -> Option<String> {
        let text = self.value(column, TEXT)?.as_string();
        if text.is_none() {
            self.bad(column, TEXT);
        }
        text
    }

    /// An INTEGER column that must not be `NULL` (else bad, read as 0).
    pub fn int(&self, column: &'static str) -> i64 {
        self.opt_int(column).unwrap_or_else(|| {
            self.bad(column, INTEGER);
            0
        })
    }

    /// An INTEGER column; `NULL` is `None`. A number that is not an exact integer in the safe
    /// range is bad.
    pub fn opt_int(&self, column: &'static str) -> Option<i64> {
        let int = self
            .value(column, INTEGER)?
            .as_f64()
            .and_then(sql_number::integer);
        if int.is_none() {
            self.bad(column, INTEGER);
        }
        int
    }

    /// A 0/1 INTEGER column: true for anything but 0.
    pub fn flag(&self, column: &'static str) -> bool {
        self.int(column) != 0
    }
}

/// The rows of one statement's answer, in order.
pub struct Rows(Array);

impl Rows {
    fn row(&self, index: u32) -> Row {
        Row::new(self.0.get(index))
    }

    /// Give `take` each of the first `limit` rows, stopping with the error of the first bad one
    /// (what `take` built from it is then dropped by the caller with the error). Not generic,
    /// so each row type adds only its `from_row` and a small closure.
    fn each(&self, limit: u32, take: &mut dyn FnMut(&Row)) -> Result<()> {
        for index in 0..self.0.length().min(limit) {
            let row = self.row(index);
            take(&row);
            row.check()?;
        }
        Ok(())
    }

    /// Every row as a `T`; the first bad row's error otherwise.
    pub fn read<T: FromRow>(&self) -> Result<Vec<T>> {
        let mut all = Vec::with_capacity(self.0.length() as usize);
        self.each(u32::MAX, &mut |row| all.push(T::from_row(row)))?;
        Ok(all)
    }

    /// One TEXT column (not `NULL`) of every row.
    pub fn texts(&self, column: &'static str) -> Result<Vec<String>> {
        let mut all = Vec::with_capacity(self.0.length() as usize);
        self.each(u32::MAX, &mut |row| all.push(row.text(column)))?;
        Ok(all)
    }

    /// The first row as a `T`, `None` when there is none.
    pub fn read_first<T: FromRow>(&self) -> Result<Option<T>> {
        let mut first = None;
        self.each(1, &mut |row| first = Some(T::from_row(row)))?;
        Ok(first)
    }
}

/// One statement's answer ([`run`], or one of a [`batch`]): its rows and how many rows it changed.
pub struct Answer(D1ResultSys);

impl Answer {
    /// Its rows (none for a write without `RETURNING`).
    pub fn rows(&self) -> Result<Rows> {
        Ok(Rows(self.0.results()?.unwrap_or_default()))
    }

    /// Rows changed (0 when D1 reports no count).
    pub fn changes(&self) -> usize {
        self.meta_number("changes")
            .and_then(sql_number::count)
            .unwrap_or(0)
    }

    /// The database's size in bytes after the statement (`meta.size_after`; 64-bit: a
    /// database passes 4 GiB); `None` when D1 does not report it.
    pub fn size_after(&self) -> Option<u64> {
        self.meta_number("size_after")
            .and_then(sql_number::integer)
            .and_then(|n| u64::try_from(n).ok())
    }

    /// A number of the answer's `meta`.
    fn meta_number(&self, field: &str) -> Option<f64> {
        self.0
            .meta()
            .ok()
            .and_then(|meta| Reflect::get(&meta, &JsValue::from_str(field)).ok())
            .and_then(|n| n.as_f64())
    }
}

/// Run `statement` for what it changes (see [`Answer::changes`]).
pub async fn run(statement: &D1PreparedStatement) -> Result<Answer> {
    let answer = JsFuture::from(statement.inner().run()?).await?;
    Ok(Answer(answer.unchecked_into()))
}

/// Run `statement` and keep its rows.
pub async fn query(statement: &D1PreparedStatement) -> Result<Rows> {
    query_answer(statement).await?.rows()
}

/// Run `statement` for its whole answer: rows and `meta`.
pub async fn query_answer(statement: &D1PreparedStatement) -> Result<Answer> {
    let answer = JsFuture::from(statement.inner().all()?).await?;
    Ok(Answer(answer.unchecked_into()))
}

/// Run `statements` as one D1 batch (one transaction); the answers are in the same order.
pub async fn batch(db: &D1Database, statements: Vec<D1PreparedStatement>) -> Result<Vec<Answer>> {
    let list: Array = statements.iter().map(|s| s.inner().clone()).collect();
    let db: &D1DatabaseSys = db.as_ref().unchecked_ref();
    let answers = JsFuture::from(db.batch(list)?).await?;
    let answers: Array = answers.dyn_into()?;
    Ok(answers.iter().map(|a| Answer(a.unchecked_into())).collect())
}
