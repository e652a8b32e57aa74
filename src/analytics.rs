//! Workers Analytics Engine: where the optional `METRICS` binding
//! (`[[analytics_engine_datasets]]` in wrangler.toml) is configured, one data point per webhook
//! request and per step outcome (the core's `metrics::analytics` lays them out). Writing a point
//! is fire-and-forget on the platform (no I/O awaited, nothing on a request's critical path); a
//! refused write is logged and never fails the request or the step. Without the binding
//! nothing is written. Each invocation picks the binding up from its `Env` ([`use_dataset_of`]),
//! so the points of a request never use another invocation's object.

use std::cell::RefCell;

use edgehooks_handlers::metrics::analytics::DataPoint;
use worker::{AnalyticsEngineDataPointBuilder, AnalyticsEngineDataset, Env};

use crate::log;

/// The binding's name.
pub const BINDING: &str = "METRICS";

thread_local! {
    static DATASET: RefCell<Option<AnalyticsEngineDataset>> = const { RefCell::new(None) };
}

/// Use this invocation's `METRICS` binding, if it has one.
pub fn use_dataset_of(env: &Env) {
    let dataset = env.analytics_engine(BINDING).ok();
    DATASET.with(|d| *d.borrow_mut() = dataset);
}

/// Write `point` to the dataset, when one is bound.
pub fn write(point: &DataPoint) {
    DATASET.with(|d| {
        let Some(dataset) = d.borrow().clone() else {
            return;
        };
        let written = AnalyticsEngineDataPointBuilder::new()
            .indexes([point.index.as_str()])
            .blobs(point.blobs.iter().map(String::as_str))
            .doubles(point.doubles)
            .write_to(&dataset);
        if let Err(e) = written {
            log::error("analytics_write_failed", &e.to_string());
        }
    });
}
