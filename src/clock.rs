//! The isolate's clock: milliseconds since the Unix epoch from JavaScript's `Date.now()`, one
//! call across the boundary (workers-rs' `Date::now()` constructs a `Date` object first). On
//! Workers the clock advances only across I/O, which is all a timestamp or a latency needs here.

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}
