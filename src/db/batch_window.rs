//! One D1 round trip for the writes that a queue invocation's concurrent steps issue together.
//! A step's claim or attempt record is a D1 `batch` (one transaction) of its own statements;
//! when several steps of one message batch reach that point together (their preload answered at
//! once, their calls ended close together), [`BatchWindow::shared_batch`] sends all their
//! statements as ONE D1 batch and hands each step back the results of its own statements, in
//! order. The first caller leads: it lets every ready step run once so that they can join,
//! waits a few milliseconds more while other steps of the invocation are still working (their
//! calls in flight), then sends. The statements are conditional writes of one step each (a
//! claim refused or a record that no longer applies changes nothing and fails nothing), so
//! sharing a transaction changes no outcome; a D1 failure fails every step of the window, each
//! of which then retries as after its own failure. A window belongs to one invocation (workerd
//! does not let one request's I/O resolve another's promises).

use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::time::Duration;

use futures_channel::oneshot;
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1PreparedStatement, Delay, Error, Result};

use super::rows::{batch, Answer};

/// Statements waiting for the window's next send, with where their results go.
struct Waiting {
    statements: Vec<D1PreparedStatement>,
    reply: oneshot::Sender<std::result::Result<Vec<Answer>, String>>,
}

/// How long a window stays open for the steps still working (their calls in flight) once the
/// ready ones have joined: short against a downstream call, long enough for calls that end
/// close together to share their records.
const HOLD_FOR_OTHERS_MS: u64 = 3;

/// The shared D1 batch of one invocation.
pub struct BatchWindow<'a> {
    db: &'a D1Database,
    waiting: RefCell<Vec<Waiting>>,
    /// Steps of the invocation in progress (see [`BatchWindow::step`]).
    active: Cell<usize>,
}

/// A step in progress in a window's invocation; the window stops counting it when dropped.
pub struct ActiveStep<'w> {
    active: &'w Cell<usize>,
}

impl Drop for ActiveStep<'_> {
    fn drop(&mut self) {
        self.active.set(self.active.get().saturating_sub(1));
    }
}

impl<'a> BatchWindow<'a> {
    pub fn new(db: &'a D1Database) -> Self {
        BatchWindow {
            db,
            waiting: RefCell::new(Vec::new()),
            active: Cell::new(0),
        }
    }

    /// Count a step as in progress until the returned guard is dropped: while some step in
    /// progress has not joined a window, the window waits a moment for it.
    pub fn step(&self) -> ActiveStep<'_> {
        self.active.set(self.active.get() + 1);
        ActiveStep {
            active: &self.active,
        }
    }

    /// Run `statements` as one transaction, shared with whatever other statements of this
    /// invocation are issued in the same turn; the results are this caller's, in order.
    pub async fn shared_batch(&self, statements: Vec<D1PreparedStatement>) -> Result<Vec<Answer>> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        let leads = {
            let mut waiting = self.waiting.borrow_mut();
            waiting.push(Waiting { statements, reply });
            waiting.len() == 1
        };
        // The leader sends for everyone who joined, so it must not be cancelled between joining
        // and sending: steps run to completion under the consumer's `buffer_unordered`, and no
        // timeout or select wraps a D1 write.
        if leads {
            next_turn().await;
            if self.waiting.borrow().len() < self.active.get() {
                Delay::from(Duration::from_millis(HOLD_FOR_OTHERS_MS)).await;
            }
            self.send().await;
        }
        match answer.await {
            Ok(Ok(results)) => Ok(results),
            Ok(Err(detail)) => Err(Error::RustError(detail)),
            Err(_) => Err(Error::RustError("the shared D1 batch was dropped".into())),
        }
    }

    /// Send everything waiting as one D1 batch and give each caller its share.
    async fn send(&self) {
        let waiting = std::mem::take(&mut *self.waiting.borrow_mut());
        let sizes: Vec<usize> = waiting.iter().map(|w| w.statements.len()).collect();
        let (statements, replies): (Vec<_>, Vec<_>) =
            waiting.into_iter().map(|w| (w.statements, w.reply)).unzip();
        match batch(self.db, statements.into_iter().flatten().collect()).await {
            Ok(results) => {
                let mut results = results.into_iter();
                for (size, reply) in sizes.into_iter().zip(replies) {
                    let _ = reply.send(Ok(results.by_ref().take(size).collect()));
                }
            }
            Err(e) => {
                let detail = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(detail.clone()));
                }
            }
        }
    }
}

/// Everything else goes straight to the database (reads, single statements, and batches that
/// must stay a transaction of their own).
impl Deref for BatchWindow<'_> {
    type Target = D1Database;

    fn deref(&self) -> &D1Database {
        self.db
    }
}

/// Let every task that is ready run once before the window is sent.
async fn next_turn() {
    let _ = JsFuture::from(js_sys::Promise::resolve(&JsValue::NULL)).await;
}
