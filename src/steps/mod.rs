//! The step ledger's shell: `dispatch` (sending step ids to the STEPS queue and marking them
//! enqueued), `consumer` (the queue consumer: a message batch's steps read together, run six at
//! a time) and `step` (one step's run: gate, call or local work, record).

pub mod calls;
pub mod consumer;
pub mod dispatch;
pub mod step;
