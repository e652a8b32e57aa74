//! The downstream calls of one queue invocation: every step of a message batch runs at once, and
//! its calls share two things here. [`Slots`]: at most six calls in flight (a Worker invocation
//! keeps at most six connections open, and a seventh call would wait for one while its timeout
//! ran). [`upserts::UpsertWindow`]: HubSpot contact upserts of the steps that are claimed and
//! cleared together go out as batch upserts (the core's `downstream::hubspot_batch`), each step
//! keeping its own claim, attempt record and outcome. Like the D1 `BatchWindow`, the calls of one
//! invocation never mix with another's.

pub mod upserts;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use futures_channel::oneshot;

/// Downstream calls in flight at once, per invocation.
const CONNECTIONS: usize = 6;

/// The invocation's downstream calls: connection slots and the HubSpot upsert window.
pub struct Calls {
    pub slots: Slots,
    pub upserts: upserts::UpsertWindow,
}

impl Calls {
    pub fn new() -> Self {
        Calls {
            slots: Slots::new(CONNECTIONS),
            upserts: upserts::UpsertWindow::default(),
        }
    }
}

impl Default for Calls {
    fn default() -> Self {
        Self::new()
    }
}

/// A counting semaphore for calls in flight: [`Slots::take`] waits for a free slot, first come
/// first served; the [`Slot`] frees it when dropped.
pub struct Slots {
    free: Cell<usize>,
    waiting: RefCell<VecDeque<oneshot::Sender<()>>>,
}

/// A call's slot, freed (or handed to the next waiter) when dropped.
pub struct Slot<'s> {
    slots: &'s Slots,
}

impl Slots {
    fn new(count: usize) -> Self {
        Slots {
            free: Cell::new(count),
            waiting: RefCell::new(VecDeque::new()),
        }
    }

    /// A slot, once one is free.
    pub async fn take(&self) -> Slot<'_> {
        if self.free.get() > 0 {
            self.free.set(self.free.get() - 1);
            return Slot { slots: self };
        }
        let (handed, arrives) = oneshot::channel();
        self.waiting.borrow_mut().push_back(handed);
        // A dropped sender only happens when the slots themselves go: go on either way.
        let _ = arrives.await;
        Slot { slots: self }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        // Hand the slot to the first waiter still waiting, else free it.
        loop {
            let next = self.slots.waiting.borrow_mut().pop_front();
            match next {
                Some(waiter) => {
                    if waiter.send(()).is_ok() {
                        return;
                    }
                }
                None => {
                    self.slots.free.set(self.slots.free.get() + 1);
                    return;
                }
            }
        }
    }
}
