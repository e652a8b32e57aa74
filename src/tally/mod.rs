//! The isolate's in-memory tallies: `metrics` (dashboard minute buckets) and `rejections`
//! (verification failures and refused admin sign-ins), counted without I/O and flushed to D1.

pub mod metrics;
pub mod rejections;
