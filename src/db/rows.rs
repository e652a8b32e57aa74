//! Reading D1 rows without serde. A row comes back as a JavaScript object; [`Row`] reads one
//! column at a time through a handful of non-generic accessors (`text`, `opt_text`, `int`,
//! `opt_int`, `flag`), and each row type implements [`FromRow`] by hand in a few lines, so a new
//! row type costs a few calls instead of a serde deserializer instantiated for it (the wasm's
//! per-type cost, see BENCHMARKS.md "Lever 1"). [`query`] runs a statement for its rows, [`run`]
//! for what it changed, and [`batch`] runs a transaction, each keeping D1's answers as they came
//! ([`Rows`], [`Answer`]: no serde for the answer's `meta` either). A column that is missing (the
//! query does not select it) or holds another type is an error naming the column, never a panic;
//! SQL `NULL` is `None` for the `opt_` accessors and an error for the others; integers follow
//! `edgehooks_handlers::sql_number` (exact, in the safe range, else an error).

use edgehooks_handlers::sql_number;
use js_sys::{Array, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::types::{D1Database as D1DatabaseSys, D1Result as D1ResultSys};
use worker::{D1Database, D1PreparedStatement, Error, Result};

/// A column a row type needed that was missing or held the wrong type.
#[derive(Debug)]
pub struct ColumnError {
    column: &'static str,
    expected: &'static str,
}

impl ColumnError {
    fn into_error(self) -> Error {
        Error::RustError(format!(
            "D1 row: column `{}` is missing or not {}",
            self.column, self.expected
        ))
    }
}

/// What reading one column gives.
pub type Column<T> = std::result::Result<T, ColumnError>;

/// A row type read column by column from a [`Row`].
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Column<Self>;
}

/// One result row: the object D1 returned, keyed by column name (or `AS` alias).
pub struct Row(JsValue);

impl Row {
    /// The column's value, `None` for SQL `NULL`. D1 gives every selected column (`null` for
    /// `NULL`), so a column the row does not have is an error: the query does not select it.
    fn value(&self, column: &'static str, expected: &'static str) -> Column<Option<JsValue>> {
        let value = Reflect::get(&self.0, &JsValue::from_str(column)).unwrap_or_default();
        if value.is_undefined() {
            return Err(ColumnError { column, expected });
        }
        Ok((!value.is_null()).then_some(value))
    }

    /// A TEXT column that must not be `NULL`.
    pub fn text(&self, column: &'static str) -> Column<String> {
        self.opt_text(column)?.ok_or(ColumnError {
            column,
            expected: "text",
        })
    }

    /// A TEXT column; `NULL` is `None`.
    pub fn opt_text(&self, column: &'static str) -> Column<Option<String>> {
        let expected = "text";
        match self.value(column, expected)? {
            None => Ok(None),
            Some(value) => value
                .as_string()
                .map(Some)
                .ok_or(ColumnError { column, expected }),
        }
    }

    /// An INTEGER column that must not be `NULL`.
    pub fn int(&self, column: &'static str) -> Column<i64> {
        self.opt_int(column)?.ok_or(ColumnError {
            column,
            expected: "an integer",
        })
    }

    /// An INTEGER column; `NULL` is `None`. A number that is not an exact integer in the safe
    /// range is an error.
    pub fn opt_int(&self, column: &'static str) -> Column<Option<i64>> {
        let expected = "an integer";
        match self.value(column, expected)? {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .and_then(sql_number::integer)
                .map(Some)
                .ok_or(ColumnError { column, expected }),
        }
    }

    /// A 0/1 INTEGER column: true for anything but 0.
    pub fn flag(&self, column: &'static str) -> Column<bool> {
        Ok(self.int(column)? != 0)
    }
}

/// The rows of one statement's answer, in order.
pub struct Rows(Array);

impl Rows {
    fn row(&self, index: u32) -> Row {
        Row(self.0.get(index))
    }

    /// Whether the statement returned no row.
    pub fn is_empty(&self) -> bool {
        self.0.length() == 0
    }

    /// Every row as a `T`; the first bad row's error otherwise.
    pub fn read<T: FromRow>(&self) -> Result<Vec<T>> {
        (0..self.0.length())
            .map(|i| T::from_row(&self.row(i)).map_err(ColumnError::into_error))
            .collect()
    }

    /// One TEXT column (not `NULL`) of every row.
    pub fn texts(&self, column: &'static str) -> Result<Vec<String>> {
        (0..self.0.length())
            .map(|i| self.row(i).text(column).map_err(ColumnError::into_error))
            .collect()
    }

    /// The first row as a `T`, `None` when there is none.
    pub fn read_first<T: FromRow>(&self) -> Result<Option<T>> {
        if self.is_empty() {
            return Ok(None);
        }
        T::from_row(&self.row(0))
            .map(Some)
            .map_err(ColumnError::into_error)
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
        self.0
            .meta()
            .ok()
            .and_then(|meta| Reflect::get(&meta, &JsValue::from_str("changes")).ok())
            .and_then(|n| n.as_f64())
            .and_then(sql_number::count)
            .unwrap_or(0)
    }
}

/// Run `statement` for what it changes (see [`Answer::changes`]).
pub async fn run(statement: &D1PreparedStatement) -> Result<Answer> {
    let answer = JsFuture::from(statement.inner().run()?).await?;
    Ok(Answer(answer.unchecked_into()))
}

/// Run `statement` and keep its rows.
pub async fn query(statement: &D1PreparedStatement) -> Result<Rows> {
    let answer = JsFuture::from(statement.inner().all()?).await?;
    Answer(answer.unchecked_into()).rows()
}

/// Run `statements` as one D1 batch (one transaction); the answers are in the same order.
pub async fn batch(db: &D1Database, statements: Vec<D1PreparedStatement>) -> Result<Vec<Answer>> {
    let list: Array = statements.iter().map(|s| s.inner().clone()).collect();
    let db: &D1DatabaseSys = db.as_ref().unchecked_ref();
    let answers = JsFuture::from(db.batch(list)?).await?;
    let answers: Array = answers.dyn_into()?;
    Ok(answers.iter().map(|a| Answer(a.unchecked_into())).collect())
}
