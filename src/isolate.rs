//! Facts about the isolate this wasm instance lives in, for admin stats and for tests that must
//! prove an isolate was never reset: when it started, how many fetches it has served, and the
//! size of its wasm linear memory. A reset isolate starts a new wasm instance, so the start time
//! changes and the counter begins again at 1.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use serde_json::{json, Value};
use worker::Date;

static STARTED_AT_MS: OnceLock<u64> = OnceLock::new();
static FETCHES: AtomicU64 = AtomicU64::new(0);

/// Count one fetch (called first thing in every fetch, so the start time is the first request's).
pub fn fetch_started() {
    STARTED_AT_MS.get_or_init(|| Date::now().as_millis());
    FETCHES.fetch_add(1, Ordering::Relaxed);
}

/// `{"started_at_ms", "fetches", "wasm_memory_bytes"}` for this isolate.
pub fn stats() -> Value {
    json!({
        "started_at_ms": STARTED_AT_MS.get().copied(),
        "fetches": FETCHES.load(Ordering::Relaxed),
        "wasm_memory_bytes": wasm_memory_bytes(),
    })
}

/// Size of the wasm linear memory. It only ever grows, so it is the high-water mark of what the
/// Rust side has needed at once since the isolate started.
fn wasm_memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) * 65536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}
